//! The container's init, from the clone to the exec of `process.args`.
//!
//! Runs in the cloned child of `berth create`, single-threaded, on a copy of
//! the parent's memory (so the parsed spec is simply here). Each step is
//! named below in the order it happens; an error before `Ready` is reported
//! to the parent over the channel, after it on the container's stderr.

use super::channel::{Channel, InitMsg};
use super::finalize::Exec;
use super::trampoline::{Status, Trampoline};
use crate::namespaces::Namespaces;
use crate::rootfs::{self, RootfsSetup};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Everything init needs, prepared by the parent before the clone.
pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub namespaces: &'a Namespaces,
    pub channel: Channel,
    pub exec_fifo: &'a OwnedFd,
    /// What the process (and startContainer hooks) are exec'd through.
    pub trampoline: &'a Trampoline,
    pub console_socket: Option<&'a OwnedFd>,
    pub network: Option<&'a network::ContainerNetwork>,
    pub preserve_fds: u32,
    pub listen_fds: Option<u32>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// berth runs as an unprivileged user (it writes init's id maps).
    pub rootless: bool,
    /// Detached id-mapped mounts, by index in `mounts` (see `idmapped_mounts`).
    pub idmapped_mounts: &'a [Option<OwnedFd>],
    /// `linux.seccomp`, compiled by the parent.
    pub seccomp: Option<&'a crate::seccomp::Program>,
    /// The container's state as the parent had it at the clone (no pid yet):
    /// what hooks run by init get on stdin.
    pub state: &'a crate::state::ContainerState,
}

/// Runs init; never returns.
pub fn run(args: InitArgs) -> ! {
    match setup(&args) {
        Ok(ready) => {
            if args.channel.send_to_parent(InitMsg::Ready).is_err() {
                // berth died while init set up: nobody will start or
                // delete this container; do not wait for `start`.
                report_late("berth create went away before the container was ready");
                // SAFETY: as below.
                unsafe { libc::_exit(1) }
            }
            let err = wait_and_exec(&args, ready);
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

/// What init execs once started, and the state startContainer hooks get.
struct Ready {
    exec: Exec,
    hook_state: String,
}

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn setup(args: &InitArgs) -> Result<Ready, String> {
    let spec = args.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or("config.json: process is missing")?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or("config.json: linux is missing")?;
    let ns = args.namespaces;

    // Not dumpable from the clone on: the host's berth is /proc/<init>/exe.
    // A rootless parent must still write the id maps (the files of a
    // process that is not dumpable are the host root's): then from Proceed.
    if !args.rootless {
        super::finalize::forbid_dumping()?;
    }
    super::finalize::reset_signals();
    ns.enter_in_init().map_err(|e| e.to_string())?;
    args.channel
        .send_to_parent(InitMsg::NamespacesJoined)
        .map_err(|e| e.to_string())?;
    let (pid, cgroup_pending) = args.channel.wait_for_proceed().map_err(|e| e.to_string())?;
    if args.rootless {
        super::finalize::forbid_dumping()?;
    }
    let mut state = args.state.clone();
    state.pid = pid;
    let hook_state = crate::container::oci_state_json(&state, crate::state::Status::Creating);
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
        super::finalize::join_session_keyring()?;
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
        joined_mount_ns: ns
            .init_joins
            .iter()
            .any(|j| j.typ == oci_spec::runtime::LinuxNamespaceType::Mount),
        cgroup: args.state.cgroup.as_ref(),
    })
    .map_err(|e| e.to_string())?;
    // From here on init runs hooks and then the container's process: both
    // inside the cgroup.
    if cgroup_pending {
        args.channel.wait_for_cgroup().map_err(|e| e.to_string())?;
    }
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
    let sysctl = linux.sysctl().as_ref().filter(|s| !s.is_empty());
    let proc = super::finalize::open_procfs(sysctl.is_some())?;
    if let (Some(sysctl), Some(proc)) = (sysctl, &proc) {
        crate::sysctl::apply(proc, sysctl).map_err(|e| e.to_string())?;
    }
    rootfs::finish(spec).map_err(|e| e.to_string())?;

    drop(proc);
    // The container's own (not an exec'd process's): its personality and
    // memory policy, which the process inherits across execve.
    crate::memory_policy::apply(linux).map_err(|e| e.to_string())?;
    crate::personality::apply(linux).map_err(|e| e.to_string())?;
    let exec = super::finalize::apply(&super::finalize::Attributes {
        process,
        in_user_ns,
        console: prepared.console.as_ref(),
        preserve_fds: args.preserve_fds,
        listen_fds: args.listen_fds,
        seccomp: args.seccomp,
    })?;
    drop(prepared);
    // A notification listener goes to the parent, which takes it with
    // pidfd_getfd and hands it to the agent; it stays open here until the
    // exec closes it.
    if let Some(fd) = exec.seccomp_listener() {
        args.channel
            .send_to_parent(InitMsg::SeccompListener(fd))
            .map_err(|e| e.to_string())?;
    }
    // startContainer hooks run once `start` was asked: the container is
    // "created" then (as runc reports it to them).
    Ok(Ready {
        exec,
        hook_state: crate::container::oci_state_json(&state, crate::state::Status::Created),
    })
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

/// Blocks until `berth start` writes to the exec fifo, runs the
/// startContainer hooks, and execs the process.
fn wait_and_exec(args: &InitArgs, ready: Ready) -> String {
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
        let state = ready.hook_state.as_bytes();
        if let Err(e) =
            crate::hooks::run_in_container("startContainer", hooks, state, args.trampoline)
        {
            return e.to_string();
        }
    }
    // A failed exec is `E` and its errno in the fifo, for `start`.
    let status = Status {
        fd: args.exec_fifo.as_raw_fd(),
        prefix: crate::state::EXEC_FAILED_PREFIX,
        suffix: c"",
    };
    super::finalize::execve(&ready.exec, args.trampoline, &status)
}
