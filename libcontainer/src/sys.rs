//! Thin wrappers around the syscalls that neither libc's nor nix's safe API
//! covers. Every `unsafe` block of the crate's syscall layer lives here.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cstring(path: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Result of [`clone3`] as seen by each side.
pub enum Forked {
    Parent { pid: i32, pidfd: OwnedFd },
    Child,
}

/// `clone3` in fork style (no new stack, no shared memory): the child gets a
/// copy of the caller's memory and returns `Forked::Child`. `flags` carries
/// the CLONE_NEW* namespace flags; a pidfd of the child is always returned.
/// With `cgroup`, the child starts inside that cgroup v2 directory.
///
/// The caller must be single-threaded: the child runs on a copy of this
/// thread only, so no lock held by another thread can be left locked.
pub fn clone3(flags: u64, cgroup: Option<BorrowedFd>) -> io::Result<Forked> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= 0x200000000; // CLONE_INTO_CGROUP
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: args is a valid clone_args of the size passed; without CLONE_VM
    // and with stack 0 the child continues on a private copy of this stack,
    // exactly as after fork(2).
    let ret = check(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    })?;
    if ret == 0 {
        Ok(Forked::Child)
    } else {
        // SAFETY: the kernel stored a fresh pidfd that nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        Ok(Forked::Parent {
            pid: ret as i32,
            pidfd,
        })
    }
}

/// A pidfd for an existing process (not necessarily our child).
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sends `signal` to the process behind `pidfd` (never to a reused pid).
pub fn pidfd_send_signal(pidfd: BorrowedFd, signal: i32) -> io::Result<()> {
    // SAFETY: a null siginfo is allowed and means "as kill(2)".
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })?;
    Ok(())
}

/// A duplicate of fd `target_fd` of the process behind `pidfd`
/// (pidfd_getfd(2); needs ptrace access to it). The copy is close-on-exec.
pub fn pidfd_getfd(pidfd: BorrowedFd, target_fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd =
        check(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target_fd, 0) })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// An anonymous, close-on-exec memory file.
pub fn memfd(name: &str) -> io::Result<OwnedFd> {
    let name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: name is NUL-terminated; the kernel only reads it.
    let fd =
        check(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) } as libc::c_long)?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Loads a seccomp BPF program into the calling process
/// (SECCOMP_SET_MODE_FILTER with `flags`). Returns the notification
/// listener when `flags` has SECCOMP_FILTER_FLAG_NEW_LISTENER.
pub fn seccomp_set_mode_filter(
    filter: &[libc::sock_filter],
    flags: u32,
) -> io::Result<Option<OwnedFd>> {
    const SECCOMP_SET_MODE_FILTER: libc::c_long = 1;
    const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 1 << 3;
    let len =
        u16::try_from(filter.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let prog = libc::sock_fprog {
        len,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: prog points to `len` instructions that live across the call;
    // the kernel copies the program and does not write through the pointer.
    let ret = check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_long,
            &prog as *const libc::sock_fprog,
        )
    })?;
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the kernel returns a new fd that nothing else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as RawFd) }))
    } else {
        Ok(None)
    }
}

/// Whether `signal` is pending for the calling thread or the process.
pub fn signal_pending(signal: nix::sys::signal::Signal) -> bool {
    // SAFETY: sigset_t is plain data; sigpending fills it, sigismember reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut set) == 0 && libc::sigismember(&set, signal as libc::c_int) == 1
    }
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(2): opens `path` relative to `dirfd` with the `RESOLVE_*` rules
/// in `resolve`. The fd is always close-on-exec.
pub fn openat2(
    dirfd: BorrowedFd,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let path = cstring(path)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    // SAFETY: path is NUL-terminated and how is a valid open_how of the size passed.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Opens `path` as if `root` were `/`: symlinks, `..` and absolute links
/// cannot leave `root`.
pub fn openat2_in_root(
    root: BorrowedFd,
    path: &Path,
    flags: i32,
    mode: u32,
) -> io::Result<OwnedFd> {
    openat2(
        root,
        path,
        flags,
        mode,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )
}

pub const OPEN_TREE_CLONE: u32 = 1;
pub const AT_RECURSIVE: u32 = 0x8000;
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// `open_tree(dirfd, path, flags)`: with [`OPEN_TREE_CLONE`] a detached copy
/// of the mount at `path` (and, with [`AT_RECURSIVE`], the mounts below
/// it). The fd is always close-on-exec.
pub fn open_tree(dirfd: Option<BorrowedFd>, path: &Path, flags: u32) -> io::Result<OwnedFd> {
    let path = cstring(path)?;
    let dirfd = dirfd.map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd());
    // SAFETY: path is NUL-terminated; the other arguments are integers.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            dirfd,
            path.as_ptr(),
            flags | OPEN_TREE_CLOEXEC,
        )
    })?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2): changes the mount at `path` (relative to `dirfd`, the
/// working directory when `None`) — and with [`AT_RECURSIVE`] in `flags`
/// every mount below it — setting `attr_set` and clearing `attr_clr`
/// (`MOUNT_ATTR_*`), with an optional propagation type (`MS_SHARED`, ...;
/// 0 leaves it) and, for [`MOUNT_ATTR_IDMAP`], the user namespace to map by.
pub fn mount_setattr(
    dirfd: Option<BorrowedFd>,
    path: &Path,
    flags: u32,
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: Option<BorrowedFd>,
) -> io::Result<()> {
    let path = cstring(path)?;
    let attr = MountAttr {
        attr_set,
        attr_clr,
        propagation,
        userns_fd: userns_fd.map_or(0, |fd| fd.as_raw_fd() as u64),
    };
    // SAFETY: path is NUL-terminated and attr is a valid mount_attr of the
    // size passed; the kernel only reads both.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd.map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd()),
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(())
}

/// ioprio_set(IOPRIO_WHO_PROCESS, 0, ...): the calling thread's I/O
/// scheduling class and level (inherited across fork and exec).
pub fn ioprio_set(class: u32, level: u32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    const IOPRIO_CLASS_SHIFT: u32 = 13;
    let value = (class << IOPRIO_CLASS_SHIFT) | level;
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) })?;
    Ok(())
}

/// `struct sched_attr` of sched_setattr(2), with the utilization clamps
/// (SCHED_ATTR_SIZE_VER1).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    pub util_min: u32,
    pub util_max: u32,
}

/// sched_setattr(2) on the calling thread; `attr.size` is filled in here.
pub fn sched_setattr(attr: &SchedAttr) -> io::Result<()> {
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        ..*attr
    };
    // SAFETY: attr is a valid sched_attr whose size field says its size;
    // the kernel only reads it.
    check(unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) })?;
    Ok(())
}

/// set_mempolicy(2): the calling thread's NUMA policy, `mode` with its
/// `MPOL_F_*` flags, over the nodes whose bits are set in `nodemask`.
pub fn set_mempolicy(mode: i32, nodemask: &[libc::c_ulong]) -> io::Result<()> {
    let (mask, maxnode) = if nodemask.is_empty() {
        (std::ptr::null(), 0)
    } else {
        // The kernel reads one bit fewer than maxnode says.
        (
            nodemask.as_ptr(),
            (nodemask.len() * libc::c_ulong::BITS as usize + 1) as libc::c_ulong,
        )
    };
    // SAFETY: mask points to nodemask.len() words (or is null with
    // maxnode 0), which covers maxnode - 1 bits; the kernel only reads them.
    check(unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, mask, maxnode) })?;
    Ok(())
}

/// personality(2): sets the execution domain of the calling process.
pub fn set_personality(persona: libc::c_ulong) -> io::Result<()> {
    // SAFETY: plain call with an integer argument.
    check(unsafe { libc::personality(persona) } as libc::c_long)?;
    Ok(())
}

/// `move_mount`: attaches the detached mount `from` (an [`open_tree`] fd)
/// onto the directory or file that `to` refers to.
pub fn move_mount(from: BorrowedFd, to: BorrowedFd) -> io::Result<()> {
    // SAFETY: two fds and empty NUL-terminated paths; the kernel only reads them.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })?;
    Ok(())
}

/// Marks every fd from `first` upwards close-on-exec.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) })?;
    Ok(())
}

/// Clears close-on-exec on `fd` so that it survives exec.
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an integer fd; a bad fd only yields EBADF.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } as libc::c_long)?;
    Ok(())
}

/// Whether `fd` is an open file descriptor of this process.
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on an integer fd only reads its flags; a closed fd
    // yields EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// What berth reads of /proc/PID/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// The state letter (R, S, D, Z, T, ...).
    pub state: char,
    /// Field 22, in clock ticks since boot: with the pid it names one
    /// process for the life of the system.
    pub start_time: u64,
}

/// Reads /proc/PID/stat once.
pub fn proc_stat(pid: i32) -> io::Result<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_proc_stat(&stat).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
}

fn parse_proc_stat(stat: &str) -> Option<ProcStat> {
    // The command name may hold spaces and parentheses: fields start after
    // the last ')', with the state (field 3); the start time is field 22.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_self_is_stable() {
        let pid = std::process::id() as i32;
        let a = proc_stat(pid).unwrap().start_time;
        let b = proc_stat(pid).unwrap().start_time;
        assert_eq!(a, b);
        assert!(a > 0);
        // The pid is the main thread's, which waits while tests run: this
        // thread's own entry is the one that is running.
        let tid = nix::unistd::gettid().as_raw();
        assert_eq!(proc_stat(tid).unwrap().state, 'R');
    }
}
