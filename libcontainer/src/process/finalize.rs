//! The last steps before a container process runs, shared by init (after
//! its rootfs is ready) and `exec` (after it joined init's namespaces): the
//! process attributes of `process` in config.json or process.json, in the
//! order they must happen, then the exec itself.
//!
//! [`apply`], in order:
//!  1. (not dumpable since the clone, see [`forbid_dumping`]);
//!  2. `rlimits` (before capabilities are dropped);
//!  3. AppArmor profile and SELinux label for the exec ([`crate::lsm`]);
//!  4. a new session (`setsid`); the terminal, if any, as stdio and
//!     controlling terminal;
//!  5. capabilities: the bounding set; `noNewPrivileges`; the seccomp
//!     filter when there is no `noNewPrivileges` (loading needs
//!     CAP_SYS_ADMIN then); the user switch (uid, gid, additional gids)
//!     keeping capabilities across it; the other four sets; the umask;
//!  6. the cwd, checked to be inside the container's root;
//!  7. the program found in the process's PATH, env with HOME;
//!  8. every fd above stdio and the preserved ones close-on-exec;
//!  9. with `noNewPrivileges`, the seccomp filter, as late as possible, so
//!     that a profile has to allow as few of berth's own syscalls as possible.
//!
//! Then [`execve`], through the exec trampoline ([`super::trampoline`]).

use super::trampoline::{Prepared, Status, Trampoline};
use oci_spec::runtime::Process;
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What [`apply`] needs besides the process.
pub struct Attributes<'a> {
    pub process: &'a Process,
    /// The process is in a user namespace (new or joined): setgroups may be denied.
    pub in_user_ns: bool,
    /// The pty slave that becomes stdio and the controlling terminal.
    pub console: Option<&'a OwnedFd>,
    /// `--preserve-fds`: fds 3..3+N stay open across exec.
    pub preserve_fds: u32,
    /// Socket activation (init only): LISTEN_FDS more fds after the
    /// preserved ones, announced in the environment with LISTEN_PID=1.
    pub listen_fds: Option<u32>,
    /// `linux.seccomp`, compiled by the parent.
    pub seccomp: Option<&'a crate::seccomp::Program>,
}

/// The resolved program and its environment, ready for execve.
pub struct Exec {
    path: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
    /// The seccomp notification listener, open until execve closes it.
    seccomp_listener: Option<OwnedFd>,
    /// An SELinux label takes effect at the next exec: that must be the
    /// program's (see [`super::trampoline`]).
    direct: bool,
}

impl Exec {
    /// The fd number of the seccomp notification listener, when the
    /// profile asked for one: the parent takes it with pidfd_getfd.
    pub fn seccomp_listener(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.seccomp_listener.as_ref().map(|fd| fd.as_raw_fd())
    }

    /// The program's path, as exec'd.
    pub fn path(&self) -> &std::ffi::CStr {
        &self.path
    }
}

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Sets the process's attributes (see the module doc for the order) and
/// resolves what to exec. Errors are messages for the user.
pub fn apply(attrs: &Attributes) -> Result<Exec, String> {
    let process = attrs.process;
    let rlimits = process.rlimits().as_deref().unwrap_or(&[]);
    crate::rlimits::check(rlimits).map_err(|e| e.to_string())?;
    crate::rlimits::apply(rlimits).map_err(|e| e.to_string())?;
    crate::lsm::apply(process).map_err(|e| e.to_string())?;

    nix::unistd::setsid().map_err(err("setsid"))?;
    if let Some(console) = attrs.console {
        crate::console::become_stdio(console).map_err(|e| e.to_string())?;
    }

    let caps = process
        .capabilities()
        .as_ref()
        .map(crate::capabilities::CapabilitySets::from_spec)
        .transpose()
        .map_err(|e| e.to_string())?;
    if let Some(caps) = &caps {
        caps.apply_bounding().map_err(|e| e.to_string())?;
    }
    let no_new_privs = process.no_new_privileges().unwrap_or(false);
    if no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(err("process.noNewPrivileges"))?;
    }
    // While CAP_SYS_NICE is still held (a real-time policy needs it).
    crate::scheduler::apply(process).map_err(|e| e.to_string())?;
    crate::io_priority::apply(process).map_err(|e| e.to_string())?;
    let mut seccomp_listener = None;
    if !no_new_privs {
        seccomp_listener = load_seccomp(attrs.seccomp)?;
    }
    // Without process.capabilities the process keeps what the user switch
    // leaves it, as with runc.
    crate::credentials::switch_user(process.user(), attrs.in_user_ns, caps.is_some())
        .map_err(|e| e.to_string())?;
    if let Some(caps) = &caps {
        caps.apply().map_err(|e| e.to_string())?;
    }
    crate::credentials::apply_umask(process.user());

    change_cwd(process.cwd())?;
    let mut exec = resolve_exec(process, attrs.listen_fds)?;
    close_fds(attrs.preserve_fds + attrs.listen_fds.unwrap_or(0))?;
    if no_new_privs {
        seccomp_listener = load_seccomp(attrs.seccomp)?;
    }
    exec.seccomp_listener = seccomp_listener;
    exec.direct = process
        .selinux_label()
        .as_deref()
        .is_some_and(|l| !l.is_empty());
    Ok(exec)
}

/// Loads the seccomp filter; returns its notification listener, if any.
fn load_seccomp(program: Option<&crate::seccomp::Program>) -> Result<Option<OwnedFd>, String> {
    match program {
        Some(program) => program.load().map_err(|e| e.to_string()),
        None => Ok(None),
    }
}

/// Runs the process through `trampoline`, which reports a failed exec of
/// the program on `status`; returns only with the reason it could not
/// start the trampoline (or the program, when exec'd directly).
pub fn execve(exec: &Exec, trampoline: &Trampoline, status: &Status) -> String {
    if exec.direct {
        return match nix::unistd::execve(&exec.path, &exec.argv, &exec.env) {
            Err(e) => format!("exec {:?}: {e}", exec.path),
            Ok(never) => match never {},
        };
    }
    let e = Prepared::new(trampoline, status, &exec.path, &exec.argv, &exec.env).exec();
    format!("exec {:?}: {e}", exec.path)
}

/// Not dumpable: no process in the container can ptrace this one or open
/// its `/proc/<pid>/` files (`exe` is the host's berth until execve, which
/// makes the process dumpable again). init and an exec'd process call it
/// first thing after the clone.
pub fn forbid_dumping() -> Result<(), String> {
    nix::sys::prctl::set_dumpable(false).map_err(err("PR_SET_DUMPABLE"))
}

/// `process.oomScoreAdj` of an exec'd process, when given (otherwise it is
/// left as inherited), while it is still the host's root.
pub fn set_oom_score_adj(process: &Process) -> Result<(), String> {
    match process.oom_score_adj() {
        Some(adj) => {
            crate::procfs::write_oom_score_adj(None, adj).map_err(err("process.oomScoreAdj"))
        }
        None => Ok(()),
    }
}

/// The verified procfs handle for `linux.sysctl`, opened only when there
/// is one: a container without a /proc mount needs none.
pub fn open_procfs(needed: bool) -> Result<Option<crate::procfs::Procfs>, String> {
    needed
        .then(crate::procfs::Procfs::open)
        .transpose()
        .map_err(err("procfs for linux.sysctl"))
}

/// Unblocks every signal and restores default dispositions: a container
/// process must not inherit berth's signal handling.
pub fn reset_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&SigSet::empty()),
        None,
    );
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if !matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            // SAFETY: installing SIG_DFL is always sound.
            let _ = unsafe { sigaction(sig, &default) };
        }
    }
}

/// A fresh session keyring, so the container does not share the host's.
/// Kernels without keyrings (ENOSYS) are fine.
pub fn join_session_keyring() -> Result<(), String> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: a NUL-terminated name; the kernel only reads it.
    if unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            c"_ses.berth".as_ptr(),
        )
    } < 0
    {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOSYS) {
            return Err(format!("joining a new session keyring: {e}"));
        }
    }
    Ok(())
}

/// The working directory must be inside the container's root: a cwd that
/// resolves through a leaked fd to the host shows as "(unreachable)".
fn change_cwd(cwd: &Path) -> Result<(), String> {
    nix::unistd::chdir(cwd).map_err(|e| format!("process.cwd {}: {e}", cwd.display()))?;
    let now = nix::unistd::getcwd().map_err(err("getcwd"))?;
    if !now.is_absolute() || now.as_os_str().as_bytes().starts_with(b"(unreachable)") {
        return Err(format!(
            "process.cwd {} is outside the container",
            cwd.display()
        ));
    }
    Ok(())
}

fn resolve_exec(process: &Process, listen_fds: Option<u32>) -> Result<Exec, String> {
    let args = process.args().as_deref().unwrap_or(&[]);
    let program = args.first().ok_or("process.args is empty")?;
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if let Some(n) = listen_fds {
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={n}"));
        env.push("LISTEN_PID=1".into());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_of(process.user().uid())));
    }
    // No PATH in process.env: no directory to search, as runc (whose
    // LookPath reads the container's environment).
    let path_var = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    let path = find_executable(program, path_var)?;
    let cstr = |s: &[u8]| {
        CString::new(s).map_err(|_| format!("{:?} contains a NUL byte", String::from_utf8_lossy(s)))
    };
    Ok(Exec {
        path: cstr(path.as_os_str().as_bytes())?,
        argv: args
            .iter()
            .map(|a| cstr(a.as_bytes()))
            .collect::<Result<_, _>>()?,
        env: env
            .iter()
            .map(|e| cstr(e.as_bytes()))
            .collect::<Result<_, _>>()?,
        seccomp_listener: None,
        direct: false,
    })
}

/// Where `program` is, as runc's init finds it before `create` returns (Go's
/// `exec.LookPath`, whose messages callers match: docker makes "no such file
/// or directory" and "executable file not found" exit 127, "permission
/// denied" 126): `program` itself if it has a slash and is an executable
/// file, else the first executable match in `path_var` (none when it is
/// empty, as Go's `filepath.SplitList("")`).
fn find_executable(program: &str, path_var: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |m: &std::fs::Metadata| m.is_file() && m.permissions().mode() & 0o111 != 0;
    if program.contains('/') {
        return match std::fs::metadata(program) {
            Ok(m) if is_exec(&m) => Ok(PathBuf::from(program)),
            Ok(_) => Err(format!("exec: {program:?}: permission denied")),
            Err(e) => Err(format!(
                "exec: {program:?}: stat {program}: {}",
                go_error_text(&e)
            )),
        };
    }
    path_var
        .split(':')
        .filter(|_| !path_var.is_empty())
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(program))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| is_exec(&m)))
        .ok_or_else(|| format!("exec: {program:?}: executable file not found in $PATH"))
}

/// An errno's text as Go prints it (strerror in lower case: "no such file or
/// directory"), the words callers of runc match.
fn go_error_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_lowercase(),
        None => e.to_string(),
    }
}

/// The user's home from the container's /etc/passwd, "/" when unknown.
fn home_of(uid: u32) -> String {
    crate::passwd::home(Path::new("/etc/passwd"), uid).unwrap_or_else(|| "/".into())
}

/// Every fd above stdio and the preserved ones is closed on exec.
fn close_fds(preserved: u32) -> Result<(), String> {
    for fd in 3..3 + preserved {
        crate::sys::clear_cloexec(fd as i32)
            .map_err(|e| format!("--preserve-fds: fd {fd}: {e}"))?;
    }
    crate::sys::cloexec_from(3 + preserved).map_err(err("close_range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_lookup() {
        assert_eq!(
            find_executable("sh", "/nonexistent:/bin"),
            Ok(PathBuf::from("/bin/sh"))
        );
        assert_eq!(find_executable("/bin/sh", ""), Ok(PathBuf::from("/bin/sh")));
        // runc's (Go's) words, which docker turns into exit 127 and 126.
        assert_eq!(
            find_executable("/x/y", ""),
            Err("exec: \"/x/y\": stat /x/y: no such file or directory".into())
        );
        assert_eq!(
            find_executable("/etc/passwd", ""),
            Err("exec: \"/etc/passwd\": permission denied".into())
        );
        assert_eq!(
            find_executable("sh", ""),
            Err("exec: \"sh\": executable file not found in $PATH".into())
        );
        assert_eq!(
            find_executable("no-such-program-berth", "/bin:/usr/bin"),
            Err("exec: \"no-such-program-berth\": executable file not found in $PATH".into())
        );
    }
}
