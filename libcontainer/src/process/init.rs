//! The container's init, from the clone to the exec of `process.args`.
//!
//! Runs in the cloned child of `berth create`, single-threaded, on a copy of
//! the parent's memory (so the parsed spec is simply here). Each step is
//! named below in the order it happens; an error before `Ready` is reported
//! to the parent over the channel, after it on the container's stderr.

use super::channel::{Channel, InitMsg};
use crate::namespaces::Namespaces;
use crate::rootfs::{self, RootfsSetup};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Everything init needs, prepared by the parent before the clone.
pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub namespaces: &'a Namespaces,
    pub channel: Channel,
    pub exec_fifo: &'a OwnedFd,
    pub console_socket: Option<&'a OwnedFd>,
    pub network: Option<&'a network::ContainerNetwork>,
    pub preserve_fds: u32,
    pub listen_fds: Option<u32>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// Detached id-mapped mounts, by index in `mounts` (see `idmapped_mounts`).
    pub idmapped_mounts: &'a [Option<OwnedFd>],
    /// `linux.seccomp`, compiled by the parent.
    pub seccomp: Option<&'a crate::seccomp::Program>,
}

/// Runs init; never returns.
pub fn run(args: InitArgs) -> ! {
    match setup(&args) {
        Ok(exec) => {
            if args.channel.send_to_parent(InitMsg::Ready).is_err() {
                // berth died while init set up: nobody will start or
                // delete this container; do not wait for `start`.
                report_late("berth create went away before the container was ready");
                // SAFETY: as below.
                unsafe { libc::_exit(1) }
            }
            let err = wait_and_exec(&args, exec);
            // Tells `start`, which waits for the exec, that it failed.
            let _ = nix::unistd::write(args.exec_fifo, &[crate::state::EXEC_FAILED]);
            report_late(&err);
        }
        Err(err) => {
            if args
                .channel
                .send_to_parent(InitMsg::Failed(err.clone()))
                .is_err()
            {
                report_late(&err);
            }
        }
    }
    // SAFETY: _exit skips destructors and atexit handlers that belong to
    // the parent's copy of this process.
    unsafe { libc::_exit(1) }
}

fn report_late(err: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "berth init: {err}");
}

/// The resolved program and its environment, ready for execve.
struct Exec {
    path: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
    hook_state: String,
    /// The seccomp notification listener, open until execve closes it.
    seccomp_listener: Option<OwnedFd>,
}

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn setup(args: &InitArgs) -> Result<Exec, String> {
    let spec = args.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or("config.json: process is missing")?;
    let ns = args.namespaces;

    reset_signals();
    ns.enter_in_init().map_err(|e| e.to_string())?;
    args.channel
        .send_to_parent(InitMsg::NamespacesJoined)
        .map_err(|e| e.to_string())?;
    let hook_state = args.channel.wait_for_proceed().map_err(|e| e.to_string())?;
    let in_user_ns = ns.has_new(LinuxNamespaceType::User) || ns.joins(LinuxNamespaceType::User);
    if in_user_ns {
        become_namespace_root()?;
    }

    // The parent has put init into its cgroup: a new cgroup namespace now
    // has the container's cgroup as its root.
    if ns.new_cgroup {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(err("new cgroup namespace"))?;
    }
    if !args.no_new_keyring {
        join_session_keyring()?;
    }
    if ns.has_new(LinuxNamespaceType::Network) {
        // A planned network brings `lo` up in its own netlink batch.
        match args.network {
            Some(net) => net.initialize().map_err(err("network"))?,
            None => network::initialize_loopback().map_err(err("loopback"))?,
        }
    }

    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let prepared = rootfs::prepare(&RootfsSetup {
        spec,
        rootfs: args.rootfs,
        bundle: args.bundle,
        new_cgroup_ns: ns.new_cgroup,
        in_user_ns,
        console_socket: args.console_socket,
        idmapped_mounts: args.idmapped_mounts,
    })
    .map_err(|e| e.to_string())?;
    if let Some(hooks) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().as_deref())
    {
        crate::hooks::run("createContainer", hooks, hook_state.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    rootfs::pivot(args.rootfs, args.no_pivot).map_err(|e| e.to_string())?;

    if let Some(hostname) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(hostname).map_err(err("sethostname"))?;
    }
    if let Some(domainname) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        // SAFETY: the pointer and length describe a live byte slice.
        if unsafe { libc::setdomainname(domainname.as_ptr().cast(), domainname.len()) } != 0 {
            return Err(format!(
                "setdomainname: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    if let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        crate::sysctl::apply(sysctl).map_err(|e| e.to_string())?;
    }
    rootfs::finish(spec).map_err(|e| e.to_string())?;

    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(err("process.oomScoreAdj"))?;
    }
    let rlimits = process.rlimits().as_deref().unwrap_or(&[]);
    crate::rlimits::check(rlimits).map_err(|e| e.to_string())?;
    crate::rlimits::apply(rlimits).map_err(|e| e.to_string())?;

    nix::unistd::setsid().map_err(err("setsid"))?;
    if let Some(console) = &prepared.console {
        crate::console::become_stdio(console).map_err(|e| e.to_string())?;
    }
    drop(prepared);

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
    // Without no_new_privs loading a filter needs CAP_SYS_ADMIN: before
    // the user switch. With it, as late as possible (below), so that the
    // profile has to allow as few of berth's own syscalls as possible.
    let mut seccomp_listener = None;
    if !no_new_privs {
        seccomp_listener = load_seccomp(args)?;
    }
    // Without process.capabilities the process keeps what the user switch
    // leaves it, as with runc.
    crate::credentials::switch_user(process.user(), in_user_ns, caps.is_some())
        .map_err(|e| e.to_string())?;
    if let Some(caps) = &caps {
        caps.apply().map_err(|e| e.to_string())?;
    }
    crate::credentials::apply_umask(process.user());

    change_cwd(process.cwd())?;
    // startContainer hooks run once `start` was asked: the container is
    // "created" then (as runc reports it to them).
    let mut exec = resolve_exec(
        process,
        args.listen_fds,
        with_status(&hook_state, "created"),
    )?;
    close_fds(args.preserve_fds + args.listen_fds.unwrap_or(0))?;
    if no_new_privs {
        seccomp_listener = load_seccomp(args)?;
    }
    exec.seccomp_listener = seccomp_listener;
    Ok(exec)
}

/// Loads `linux.seccomp`'s filter; a notification listener goes to the
/// parent (which takes it with pidfd_getfd and hands it to the agent) and
/// stays open here until the exec closes it.
fn load_seccomp(args: &InitArgs) -> Result<Option<OwnedFd>, String> {
    let Some(program) = args.seccomp else {
        return Ok(None);
    };
    let listener = program.load().map_err(|e| e.to_string())?;
    if let Some(fd) = &listener {
        args.channel
            .send_to_parent(InitMsg::SeccompListener(fd.as_raw_fd()))
            .map_err(|e| e.to_string())?;
    }
    Ok(listener)
}

/// In a user namespace, init's host ids map to nothing (the overflow id):
/// it could not create a file or a mount point. The namespace's maps are
/// written by now; init takes its root ids, keeping its capabilities there.
fn become_namespace_root() -> Result<(), String> {
    use nix::unistd::{Gid, Uid};
    let gid = Gid::from_raw(0);
    nix::unistd::setresgid(gid, gid, gid).map_err(err(
        "setresgid(0) in the user namespace (is container gid 0 mapped?)",
    ))?;
    let uid = Uid::from_raw(0);
    nix::unistd::setresuid(uid, uid, uid).map_err(err(
        "setresuid(0) in the user namespace (is container uid 0 mapped?)",
    ))?;
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

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn resolve_exec(
    process: &oci_spec::runtime::Process,
    listen_fds: Option<u32>,
    hook_state: String,
) -> Result<Exec, String> {
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
    let path_var = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let path = find_executable(program, path_var)
        .ok_or_else(|| format!("exec: {program:?}: executable file not found in $PATH"))?;
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
        hook_state,
        seccomp_listener: None,
    })
}

/// The state JSON `state_json` with its `status` replaced.
fn with_status(state_json: &str, status: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(state_json) {
        Ok(mut v) => {
            v["status"] = status.into();
            v.to_string()
        }
        Err(_) => state_json.to_owned(),
    }
}

/// `program` itself if it has a slash, else the first executable match in `path_var`.
fn find_executable(program: &str, path_var: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    path_var
        .split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(program))
        .find(|p| is_exec(p))
}

/// The user's home from the container's /etc/passwd, "/" when unknown.
fn home_of(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_owned())
        })
        .next()
        .unwrap_or_else(|| "/".into())
}

/// Every fd above stdio and the preserved ones is closed on exec.
fn close_fds(preserved: u32) -> Result<(), String> {
    for fd in 3..3 + preserved {
        crate::sys::clear_cloexec(fd as i32)
            .map_err(|e| format!("--preserve-fds: fd {fd}: {e}"))?;
    }
    crate::sys::cloexec_from(3 + preserved).map_err(err("close_range"))
}

/// Blocks until `berth start` writes to the exec fifo, runs the
/// startContainer hooks, and execs the process.
fn wait_and_exec(args: &InitArgs, exec: Exec) -> String {
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(args.exec_fifo, &mut byte) {
            Ok(1) => break,
            Ok(_) => return "exec fifo closed without a start".into(),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return format!("reading the exec fifo: {e}"),
        }
    }
    if let Some(hooks) = args
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_deref())
    {
        if let Err(e) = crate::hooks::run("startContainer", hooks, exec.hook_state.as_bytes()) {
            return e.to_string();
        }
    }
    match nix::unistd::execve(&exec.path, &exec.argv, &exec.env) {
        Err(e) => format!("exec {:?}: {e}", exec.path),
        Ok(never) => match never {},
    }
}

/// Unblocks every signal and restores default dispositions: init must not
/// inherit the parent's signal handling.
fn reset_signals() {
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
fn join_session_keyring() -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_lookup() {
        assert_eq!(
            find_executable("sh", "/nonexistent:/bin"),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(find_executable("/x/y", ""), Some(PathBuf::from("/x/y")));
        assert_eq!(
            find_executable("no-such-program-berth", "/bin:/usr/bin"),
            None
        );
    }
}
