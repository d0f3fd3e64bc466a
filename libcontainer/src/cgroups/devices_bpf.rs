//! cgroup v2 device control: the rule list becomes an eBPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE`, attached to the container's cgroup.
//!
//! 1. [`Emulated::from_rules`] replays the rules with v1's semantics (a
//!    default verdict plus exceptions; an `a` rule resets both), so that v1
//!    and v2 containers see the same devices for the same spec.
//! 2. [`program`] turns that into instructions: each exception is a block
//!    that compares type, major, minor and access and returns the opposite of
//!    the default; the program ends by returning the default.
//! 3. [`install`] loads it (`BPF_PROG_LOAD`) and attaches it with
//!    `BPF_F_ALLOW_MULTI`. An update replaces the previous program in one
//!    step with `BPF_F_REPLACE`, so there is no moment without a filter.

use super::resources::devices::Rule;
use super::CgroupError;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

/// The v1 device-cgroup state a rule list leaves behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emulated {
    pub default_allow: bool,
    /// Exceptions to the default; all have the opposite verdict.
    pub exceptions: Vec<Rule>,
}

impl Emulated {
    /// Replays `rules` on a fresh cgroup (which allows everything).
    pub fn from_rules(rules: &[Rule]) -> Emulated {
        let mut s = Emulated {
            default_allow: true,
            exceptions: Vec::new(),
        };
        for r in rules {
            if r.is_all() {
                s.default_allow = r.allow;
                s.exceptions.clear();
                continue;
            }
            let same = |e: &Rule| e.typ == r.typ && e.major == r.major && e.minor == r.minor;
            if r.allow == s.default_allow {
                // Takes access away from a matching exception, as the kernel.
                for e in s.exceptions.iter_mut().filter(|e| same(e)) {
                    e.access.retain(|c| !r.access.contains(c));
                }
                s.exceptions.retain(|e| !e.access.is_empty());
            } else if let Some(e) = s.exceptions.iter_mut().find(|e| same(e)) {
                for c in r.access.chars() {
                    if !e.access.contains(c) {
                        e.access.push(c);
                    }
                }
            } else {
                s.exceptions.push(Rule {
                    allow: r.allow,
                    ..r.clone()
                });
            }
        }
        s
    }
}

/// One eBPF instruction, as `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high nibble.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const MOV64_X: u8 = 0xbf; // dst = src
const MOV64_K: u8 = 0xb7; // dst = imm
const AND64_K: u8 = 0x57; // dst &= imm
const RSH64_K: u8 = 0x77; // dst >>= imm
const JNE_K: u8 = 0x55; // if dst != imm goto pc + off
const JEQ_K: u8 = 0x15; // if dst == imm goto pc + off
const EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
// access_type = (access << 16) | type.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |b, c| {
        b | match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        }
    })
}

fn imm(n: u32, what: &str) -> Result<i32, CgroupError> {
    i32::try_from(n).map_err(|_| {
        CgroupError::resource(
            "devices",
            format!("{what} {n} is too large for a device rule"),
        )
    })
}

/// The program for an emulated state. Registers: r2 type, r3 access,
/// r4 major, r5 minor, r6 scratch; r0 the verdict (1 allow, 0 deny).
pub fn program(state: &Emulated) -> Result<Vec<Insn>, CgroupError> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(MOV64_X, 3, 2, 0, 0),
        insn(AND64_K, 2, 0, 0, 0xffff),
        insn(RSH64_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    let verdict = i32::from(!state.default_allow);
    for e in &state.exceptions {
        // Each test jumps to the end of this block when it fails.
        let mut tests: Vec<(u8, u8, i32)> = Vec::new();
        match e.typ {
            'b' => tests.push((JNE_K, 2, DEV_BLOCK)),
            'c' => tests.push((JNE_K, 2, DEV_CHAR)),
            _ => {}
        }
        if let Some(m) = e.major {
            tests.push((JNE_K, 4, imm(m, "major")?));
        }
        if let Some(m) = e.minor {
            tests.push((JNE_K, 5, imm(m, "minor")?));
        }
        let acc = access_bits(&e.access);
        // Whitelist: every requested bit must be in the exception.
        // Blacklist: any requested bit in the exception denies.
        let (mask, fail) = if state.default_allow {
            (acc, JEQ_K)
        } else {
            (!acc & 0x7, JNE_K)
        };
        // tests + (mov, and, test) + (mov r0, exit)
        let len = tests.len() + 3 + 2;
        for (i, (code, reg, value)) in tests.iter().enumerate() {
            let off = (len - i - 1) as i16;
            p.push(insn(*code, *reg, 0, off, *value));
        }
        let at = tests.len();
        p.push(insn(MOV64_X, 6, 3, 0, 0));
        p.push(insn(AND64_K, 6, 0, 0, mask));
        p.push(insn(fail, 6, 0, (len - at - 3) as i16, 0));
        p.push(insn(MOV64_K, 0, 0, 0, verdict));
        p.push(insn(EXIT, 0, 0, 0, 0));
    }
    p.push(insn(MOV64_K, 0, 0, 0, i32::from(state.default_allow)));
    p.push(insn(EXIT, 0, 0, 0, 0));
    Ok(p)
}

/// Runs `program` on one access, as the kernel would (for tests and for
/// checking a generated program without loading it).
pub fn evaluate(program: &[Insn], typ: char, major: u32, minor: u32, access: &str) -> i64 {
    let t = match typ {
        'b' => DEV_BLOCK,
        _ => DEV_CHAR,
    } as u64;
    let ctx = [
        ((access_bits(access) as u64) << 16) | t,
        major as u64,
        minor as u64,
    ];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = program[pc];
        let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
        let k = i.imm as i64 as u64;
        pc += 1;
        match i.code {
            LDX_MEM_W => r[dst] = ctx[(i.off / 4) as usize] & 0xffff_ffff,
            MOV64_X => r[dst] = r[src],
            MOV64_K => r[dst] = k,
            AND64_K => r[dst] &= k,
            RSH64_K => r[dst] >>= k,
            JNE_K if r[dst] != k => pc += i.off as usize,
            JEQ_K if r[dst] == k => pc += i.off as usize,
            JNE_K | JEQ_K => {}
            EXIT => return r[0] as i64,
            other => panic!("opcode {other:#x} not generated"),
        }
    }
}

// The bpf(2) interface: commands, types and the parts of `union bpf_attr`
// each command reads.
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_F_REPLACE: u32 = 4;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(2) with one of the attribute structs above.
///
/// SAFETY (for callers): `attr` must be the layout the kernel expects for
/// `cmd`, and every pointer inside it valid for the call.
unsafe fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: attr points to a live, initialised struct of the size passed;
    // the caller guarantees its layout matches `cmd`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn bpf_err(what: &str, path: &Path, e: std::io::Error) -> CgroupError {
    CgroupError::Io {
        path: path.to_owned(),
        source: std::io::Error::new(e.kind(), format!("{what}: {e}")),
    }
}

/// Loads a device program; the verifier's log is in the error.
pub fn load(program: &[Insn]) -> Result<OwnedFd, CgroupError> {
    let license = b"Apache\0";
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: program.len() as u32,
        insns: program.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        ..Default::default()
    };
    attr.prog_name[..5].copy_from_slice(b"berth");
    // SAFETY: the attr is BPF_PROG_LOAD's layout; insns, license and log
    // outlive the call.
    match unsafe { bpf(BPF_PROG_LOAD, &mut attr) } {
        // SAFETY: the kernel returned a new fd that nothing else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]).trim().to_string();
            Err(CgroupError::resource(
                "devices",
                format!("loading the eBPF device program: {e}: {text}"),
            ))
        }
    }
}

/// Ids of the device programs attached to a cgroup.
fn query(cgroup: BorrowedFd, path: &Path) -> Result<Vec<u32>, CgroupError> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    // SAFETY: BPF_PROG_QUERY's layout; ids has room for prog_cnt entries.
    unsafe { bpf(BPF_PROG_QUERY, &mut attr) }.map_err(|e| bpf_err("BPF_PROG_QUERY", path, e))?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

fn prog_fd(id: u32, path: &Path) -> Result<OwnedFd, CgroupError> {
    let mut attr = GetFdAttr {
        prog_id: id,
        ..Default::default()
    };
    // SAFETY: BPF_PROG_GET_FD_BY_ID's layout, no pointers.
    let fd = unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) }
        .map_err(|e| bpf_err("BPF_PROG_GET_FD_BY_ID", path, e))?;
    // SAFETY: a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attaches `prog` to the cgroup at `dir`, replacing what berth attached
/// before: with one previous program in a single BPF_F_REPLACE step; with
/// several, the new one is attached first and the old ones detached after.
pub fn attach(dir: &Path, prog: &OwnedFd) -> Result<(), CgroupError> {
    let cgroup = std::fs::File::open(dir).map_err(|source| CgroupError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let cg = std::os::fd::AsFd::as_fd(&cgroup);
    let old: Vec<OwnedFd> = query(cg, dir)?
        .into_iter()
        .map(|id| prog_fd(id, dir))
        .collect::<Result<_, _>>()?;
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    if let [only] = old.as_slice() {
        attr.attach_flags |= BPF_F_REPLACE;
        attr.replace_bpf_fd = only.as_raw_fd() as u32;
    }
    // SAFETY: BPF_PROG_ATTACH's layout, fds valid for the call.
    unsafe { bpf(BPF_PROG_ATTACH, &mut attr) }.map_err(|e| bpf_err("BPF_PROG_ATTACH", dir, e))?;
    if old.len() > 1 {
        for o in &old {
            let mut attr = AttachAttr {
                target_fd: cgroup.as_raw_fd() as u32,
                attach_bpf_fd: o.as_raw_fd() as u32,
                attach_type: BPF_CGROUP_DEVICE,
                ..Default::default()
            };
            // SAFETY: BPF_PROG_DETACH's layout, fds valid for the call.
            unsafe { bpf(BPF_PROG_DETACH, &mut attr) }
                .map_err(|e| bpf_err("BPF_PROG_DETACH", dir, e))?;
        }
    }
    Ok(())
}

/// The whole v2 path: rules → program → loaded → attached to `dir`.
pub fn install(dir: &Path, rules: &[Rule]) -> Result<(), CgroupError> {
    let prog = program(&Emulated::from_rules(rules))?;
    let fd = load(&prog)?;
    attach(dir, &fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::test_util::ScratchV2;

    fn rule(allow: bool, typ: char, major: Option<u32>, minor: Option<u32>, acc: &str) -> Rule {
        Rule {
            allow,
            typ,
            major,
            minor,
            access: acc.into(),
        }
    }

    #[test]
    fn emulation_follows_v1() {
        let rules = [
            rule(true, 'c', Some(1), Some(3), "rw"),
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', Some(1), Some(3), "r"),
            rule(true, 'c', Some(1), Some(3), "w"),
            rule(true, 'c', Some(136), None, "rwm"),
            rule(false, 'c', Some(136), None, "m"),
        ];
        let s = Emulated::from_rules(&rules);
        assert!(!s.default_allow);
        assert_eq!(s.exceptions.len(), 2);
        assert_eq!(s.exceptions[0].access, "rw");
        assert_eq!(s.exceptions[1].access, "rw");
    }

    #[test]
    fn whitelist_program_decides_like_the_rules() {
        let spec: Vec<oci_spec::runtime::LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":11,"access":"r"}]"#,
        )
        .unwrap();
        let rules = super::super::resources::devices::rules(&spec).unwrap();
        let p = program(&Emulated::from_rules(&rules)).unwrap();
        assert_eq!(evaluate(&p, 'c', 1, 3, "rw"), 1); // /dev/null
        assert_eq!(evaluate(&p, 'c', 1, 11, "r"), 1); // kmsg read
        assert_eq!(evaluate(&p, 'c', 1, 11, "w"), 0); // kmsg write
        assert_eq!(evaluate(&p, 'c', 1, 11, "rw"), 0);
        assert_eq!(evaluate(&p, 'b', 8, 0, "r"), 0);
        assert_eq!(evaluate(&p, 'b', 8, 0, "m"), 1); // b *:* m
        assert_eq!(evaluate(&p, 'c', 136, 7, "rw"), 1); // pts
    }

    #[test]
    fn blacklist_program() {
        let rules = [rule(false, 'c', Some(1), Some(3), "w")];
        let p = program(&Emulated::from_rules(&rules)).unwrap();
        assert_eq!(evaluate(&p, 'c', 1, 3, "r"), 1);
        assert_eq!(evaluate(&p, 'c', 1, 3, "w"), 0);
        assert_eq!(evaluate(&p, 'c', 1, 3, "rw"), 0);
        assert_eq!(evaluate(&p, 'c', 1, 5, "w"), 1);
        assert_eq!(evaluate(&p, 'b', 1, 3, "w"), 1);
    }

    #[test]
    fn program_loads_attaches_and_is_replaced_in_one_step() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let Some(cg) = ScratchV2::new("bpf") else {
            eprintln!("skipped: no writable cgroup v2 hierarchy");
            return;
        };
        let deny_all = rule(false, 'a', None, None, "rwm");
        let mut rules = vec![deny_all.clone()];
        rules.extend(crate::cgroups::resources::devices::rules(&[]).unwrap());
        install(&cg.0, &rules).unwrap();
        assert!(cg.run("echo x > /dev/null"));
        assert!(!cg.run("{ exec 3</dev/kmsg; } 2>/dev/null"));
        let dir = std::fs::File::open(&cg.0).unwrap();
        let before = query(std::os::fd::AsFd::as_fd(&dir), &cg.0).unwrap();
        assert_eq!(before.len(), 1);

        rules.push(rule(true, 'c', Some(1), Some(11), "r"));
        install(&cg.0, &rules).unwrap();
        let after = query(std::os::fd::AsFd::as_fd(&dir), &cg.0).unwrap();
        assert_eq!(after.len(), 1);
        assert_ne!(after, before);
        assert!(cg.run("{ exec 3</dev/kmsg; } 2>/dev/null"));
        assert!(!cg.run("{ exec 3>/dev/kmsg; } 2>/dev/null"));
    }
}
