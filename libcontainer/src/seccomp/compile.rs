//! From a runtime-spec profile to a BPF program, through libseccomp, with
//! runc's rules for what each part of the profile means.

use super::SeccompError;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator, LinuxSyscall,
};
use std::io::{Read, Seek};

/// What the profile's names mean to berth, as `berth features` lists them.
pub(super) const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];
pub(super) const OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];
pub(super) const FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// Every architecture of the runtime-spec with its libseccomp token, `None`
/// where this build's libseccomp (2.5) has none.
const ARCHS: &[(Arch, &str, Option<ScmpArch>)] = &[
    (
        Arch::ScmpArchNative,
        "SCMP_ARCH_NATIVE",
        Some(ScmpArch::Native),
    ),
    (Arch::ScmpArchX86, "SCMP_ARCH_X86", Some(ScmpArch::X86)),
    (
        Arch::ScmpArchX86_64,
        "SCMP_ARCH_X86_64",
        Some(ScmpArch::X8664),
    ),
    (Arch::ScmpArchX32, "SCMP_ARCH_X32", Some(ScmpArch::X32)),
    (Arch::ScmpArchArm, "SCMP_ARCH_ARM", Some(ScmpArch::Arm)),
    (
        Arch::ScmpArchAarch64,
        "SCMP_ARCH_AARCH64",
        Some(ScmpArch::Aarch64),
    ),
    (Arch::ScmpArchMips, "SCMP_ARCH_MIPS", Some(ScmpArch::Mips)),
    (
        Arch::ScmpArchMips64,
        "SCMP_ARCH_MIPS64",
        Some(ScmpArch::Mips64),
    ),
    (
        Arch::ScmpArchMips64n32,
        "SCMP_ARCH_MIPS64N32",
        Some(ScmpArch::Mips64N32),
    ),
    (
        Arch::ScmpArchMipsel,
        "SCMP_ARCH_MIPSEL",
        Some(ScmpArch::Mipsel),
    ),
    (
        Arch::ScmpArchMipsel64,
        "SCMP_ARCH_MIPSEL64",
        Some(ScmpArch::Mipsel64),
    ),
    (
        Arch::ScmpArchMipsel64n32,
        "SCMP_ARCH_MIPSEL64N32",
        Some(ScmpArch::Mipsel64N32),
    ),
    (Arch::ScmpArchPpc, "SCMP_ARCH_PPC", Some(ScmpArch::Ppc)),
    (
        Arch::ScmpArchPpc64,
        "SCMP_ARCH_PPC64",
        Some(ScmpArch::Ppc64),
    ),
    (
        Arch::ScmpArchPpc64le,
        "SCMP_ARCH_PPC64LE",
        Some(ScmpArch::Ppc64Le),
    ),
    (Arch::ScmpArchS390, "SCMP_ARCH_S390", Some(ScmpArch::S390)),
    (
        Arch::ScmpArchS390x,
        "SCMP_ARCH_S390X",
        Some(ScmpArch::S390X),
    ),
    (
        Arch::ScmpArchParisc,
        "SCMP_ARCH_PARISC",
        Some(ScmpArch::Parisc),
    ),
    (
        Arch::ScmpArchParisc64,
        "SCMP_ARCH_PARISC64",
        Some(ScmpArch::Parisc64),
    ),
    (
        Arch::ScmpArchRiscv64,
        "SCMP_ARCH_RISCV64",
        Some(ScmpArch::Riscv64),
    ),
    (Arch::ScmpArchLoongarch64, "SCMP_ARCH_LOONGARCH64", None),
    (Arch::ScmpArchM68k, "SCMP_ARCH_M68K", None),
    (Arch::ScmpArchSh, "SCMP_ARCH_SH", None),
    (Arch::ScmpArchSheb, "SCMP_ARCH_SHEB", None),
];

/// The architecture names this build can filter.
pub(super) fn supported_archs() -> Vec<&'static str> {
    ARCHS
        .iter()
        .filter(|(a, _, s)| s.is_some() && *a != Arch::ScmpArchNative)
        .map(|(_, name, _)| *name)
        .collect()
}

/// A syscall takes at most six arguments.
const MAX_ARGS: usize = 6;

/// Checks what can be checked without libseccomp: every refusal names the
/// field it is about.
pub fn validate(profile: &LinuxSeccomp) -> Result<(), SeccompError> {
    use LinuxSeccompAction::*;
    let default = profile.default_action();
    if default == ScmpActNotify {
        // Every syscall, the one that sends the listener to berth included,
        // would wait for an agent that cannot have the listener yet.
        return Err(SeccompError::invalid(
            "defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    check_errno_ret("defaultErrnoRet", default, profile.default_errno_ret())?;
    for arch in profile.architectures().iter().flatten() {
        scmp_arch(*arch)?;
    }
    let mut notify = false;
    for (i, rule) in profile.syscalls().iter().flatten().enumerate() {
        let field = |f: &str| format!("syscalls[{i}].{f}");
        check_errno_ret(&field("errnoRet"), rule.action(), rule.errno_ret())?;
        for (j, arg) in rule.args().iter().flatten().enumerate() {
            if arg.index() >= MAX_ARGS {
                return Err(SeccompError::invalid(
                    field(&format!("args[{j}].index")),
                    format!("{} is not an argument index (0 to 5)", arg.index()),
                ));
            }
        }
        if rule.names().iter().any(|n| n.is_empty()) {
            return Err(SeccompError::invalid(
                field("names"),
                "an empty string is not a syscall name",
            ));
        }
        if rule.action() == ScmpActNotify {
            notify = true;
            // init sends the listener to berth with write(2) after the
            // filter is loaded (as runc does): notifying write would hang.
            if rule.names().iter().any(|n| n == "write") {
                return Err(SeccompError::invalid(
                    field("names"),
                    "SCMP_ACT_NOTIFY cannot be used for the write syscall",
                ));
            }
        }
    }
    let has_path = profile
        .listener_path()
        .as_ref()
        .is_some_and(|p| !p.as_os_str().is_empty());
    let wait_killable = profile.flags().iter().flatten().any(|f| {
        *f == oci_spec::runtime::LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv
    });
    if wait_killable && !notify {
        return Err(SeccompError::invalid(
            "flags",
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs SCMP_ACT_NOTIFY rules",
        ));
    }
    if notify && !has_path {
        return Err(SeccompError::invalid(
            "listenerPath",
            "SCMP_ACT_NOTIFY rules need a listenerPath to send the notify fd to",
        ));
    }
    Ok(())
}

fn check_errno_ret(
    field: &str,
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
) -> Result<(), SeccompError> {
    let Some(errno) = errno_ret else {
        return Ok(());
    };
    if !matches!(
        action,
        LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace
    ) {
        return Err(SeccompError::invalid(
            field,
            format!(
                "{action} does not return an errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)"
            ),
        ));
    }
    if errno > u16::MAX as u32 {
        return Err(SeccompError::invalid(
            field,
            format!("{errno} is out of range (0 to 65535)"),
        ));
    }
    Ok(())
}

fn scmp_arch(arch: Arch) -> Result<ScmpArch, SeccompError> {
    match ARCHS.iter().find(|(a, _, _)| *a == arch) {
        Some((_, _, Some(scmp))) => Ok(*scmp),
        Some((_, name, None)) => Err(SeccompError::invalid(
            "architectures",
            format!("{name} is not supported by this build's libseccomp"),
        )),
        None => Err(SeccompError::invalid(
            "architectures",
            format!("{arch:?} is not known to berth"),
        )),
    }
}

/// An action with its errno, EPERM when the profile gives none (runc's
/// default for ERRNO and TRACE). KILL is KILL_THREAD, as in libseccomp.
fn action(action: LinuxSeccompAction, errno_ret: Option<u32>) -> ScmpAction {
    let errno = errno_ret.map_or(libc::EPERM, |e| e as i32);
    match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno as u16),
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    }
}

fn condition(arg: &LinuxSeccompArg) -> ScmpArgCompare {
    let value_two = arg.value_two().unwrap_or(0);
    let (op, datum) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        // `value` is the mask, `valueTwo` what the masked argument must equal.
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            (ScmpCompareOp::MaskedEqual(arg.value()), value_two)
        }
    };
    ScmpArgCompare::new(arg.index() as u32, op, datum)
}

fn library(
    what: impl Into<String>,
) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
    let what = what.into();
    move |source| SeccompError::Library { what, source }
}

/// Compiles a validated profile into BPF (an array of `struct sock_filter`).
pub(super) fn to_bpf(profile: &LinuxSeccomp) -> Result<Vec<u8>, SeccompError> {
    let default = action(profile.default_action(), profile.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).map_err(library("creating a filter"))?;
    for arch in profile.architectures().iter().flatten() {
        ctx.add_arch(scmp_arch(*arch)?)
            .map_err(library(format!("adding architecture {arch:?}")))?;
    }
    let rules = profile.syscalls().as_deref().unwrap_or(&[]);
    // A binary tree of syscall numbers instead of a linear list, for
    // profiles long enough to profit (runc's threshold).
    if rules.iter().map(|r| r.names().len()).sum::<usize>() > 32 {
        if let Err(e) = ctx.set_ctl_optimize(2) {
            tracing::debug!("seccomp: no binary-tree optimisation: {e}");
        }
    }
    for rule in rules {
        add_rule(&mut ctx, rule, default)?;
    }
    export(&ctx)
}

/// Adds one profile rule for each of its names.
fn add_rule(
    ctx: &mut ScmpFilterContext,
    rule: &LinuxSyscall,
    default: ScmpAction,
) -> Result<(), SeccompError> {
    let act = action(rule.action(), rule.errno_ret());
    if act == default {
        // libseccomp refuses a rule that does what the default does.
        return Ok(());
    }
    let args = rule.args().as_deref().unwrap_or(&[]);
    let conditions: Vec<ScmpArgCompare> = args.iter().map(condition).collect();
    // Conditions on different arguments are ANDed in one rule. libseccomp
    // cannot AND two conditions on one argument: then, as runc does, each
    // condition is a rule of its own (ORed).
    let mut seen = [0u8; MAX_ARGS];
    for arg in args {
        seen[arg.index()] += 1;
    }
    let split = seen.iter().any(|&n| n > 1);
    for name in rule.names() {
        // A name this kernel or libseccomp does not know is skipped, as runc
        // does: profiles list syscalls of newer kernels.
        let Ok(nr) = ScmpSyscall::from_name(name) else {
            tracing::debug!("seccomp: unknown syscall {name:?} ignored");
            continue;
        };
        let what = || format!("adding the rule for {name}");
        if conditions.is_empty() {
            ctx.add_rule(act, nr).map_err(library(what()))?;
        } else if split {
            for c in &conditions {
                ctx.add_rule_conditional(act, nr, std::slice::from_ref(c))
                    .map_err(library(what()))?;
            }
        } else {
            ctx.add_rule_conditional(act, nr, &conditions)
                .map_err(library(what()))?;
        }
    }
    Ok(())
}

/// The program libseccomp generates, read back from a memfd.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>, SeccompError> {
    let memfd =
        crate::sys::memfd("berth-seccomp").map_err(|e| SeccompError::io("memfd_create")(e))?;
    ctx.export_bpf(&memfd)
        .map_err(library("exporting the program"))?;
    let mut file = std::fs::File::from(memfd);
    let mut bpf = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bpf))
        .map_err(SeccompError::io("reading the exported program"))?;
    Ok(bpf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    fn refusal(json: &str) -> String {
        validate(&profile(json)).unwrap_err().to_string()
    }

    #[test]
    fn refusals_name_the_field() {
        let e = refusal(r#"{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/x"}"#);
        assert!(e.contains("linux.seccomp.defaultAction"), "{e}");
        let e = refusal(r#"{"defaultAction":"SCMP_ACT_ALLOW","defaultErrnoRet":5}"#);
        assert!(e.contains("linux.seccomp.defaultErrnoRet"), "{e}");
        let e = refusal(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_KILL","errnoRet":1}]}"#,
        );
        assert!(e.contains("syscalls[0].errnoRet"), "{e}");
        let e = refusal(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        assert!(e.contains("syscalls[0].args[0].index"), "{e}");
        let e = refusal(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        assert!(e.contains("linux.seccomp.listenerPath"), "{e}");
        let e = refusal(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x","syscalls":[{"names":["write"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        assert!(e.contains("write syscall"), "{e}");
        let e = refusal(r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_SH"]}"#);
        assert!(
            e.contains("linux.seccomp.architectures") && e.contains("SCMP_ARCH_SH"),
            "{e}"
        );
    }

    #[test]
    fn compiles_multi_arch_profiles_and_skips_unknown_names() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,
                "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
                "syscalls":[
                  {"names":["read","write","no_such_syscall_berth"],"action":"SCMP_ACT_ALLOW"},
                  {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]},
                  {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
                  {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]},
                  {"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":22,"args":[{"index":0,"value":16,"op":"SCMP_CMP_EQ"},{"index":2,"value":9,"op":"SCMP_CMP_EQ"}]},
                  {"names":["kill"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":0,"op":"SCMP_CMP_NE"},{"index":1,"value":9,"op":"SCMP_CMP_NE"}]}
                ]}"#,
        );
        validate(&p).unwrap();
        let bpf = to_bpf(&p).unwrap();
        assert_eq!(bpf.len() % 8, 0);
        // Three architectures are checked: more than one arch test.
        assert!(bpf.len() / 8 > 20, "{} instructions", bpf.len() / 8);
    }

    #[test]
    fn features_lists_what_this_build_filters() {
        let archs = supported_archs();
        assert!(archs.contains(&"SCMP_ARCH_X86_64") && archs.contains(&"SCMP_ARCH_X32"));
        assert!(!archs.contains(&"SCMP_ARCH_SH") && !archs.contains(&"SCMP_ARCH_NATIVE"));
    }
}
