//! Operations on an existing container: state, start, kill, delete, list,
//! and waiting for a foreground container (`run`).

use crate::state::{self, ContainerState, StateDir, Status};
use crate::sys;
use crate::Error;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// The runtime-spec version berth implements.
pub const OCI_VERSION: &str = "1.2.0";

/// The status of a recorded container, from the kernel's view of its init.
pub fn status(dir_path: &Path, state: &ContainerState) -> Status {
    if state.pid <= 0 || !init_alive(state) {
        return Status::Stopped;
    }
    // Frozen first, as runc: a created container can be paused too.
    if state
        .cgroup
        .as_ref()
        .is_some_and(|c| c.is_frozen().unwrap_or(false))
    {
        return Status::Paused;
    }
    if dir_path.join(state::EXEC_FIFO).exists() {
        return Status::Created;
    }
    Status::Running
}

/// Init is alive when its pid still names the process we started (same
/// start time) and that process has not exited (a zombie has).
fn init_alive(state: &ContainerState) -> bool {
    sys::proc_stat(state.pid)
        .is_ok_and(|s| s.start_time == state.pid_start_time && s.state != 'Z' && s.state != 'X')
}

/// runc's `state` output: the OCI state plus rootfs, created and owner.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateView<'a> {
    pub oci_version: &'static str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub annotations: &'a std::collections::HashMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<serde_json::Value>,
}

pub fn view(state: &ContainerState, status: Status) -> StateView<'_> {
    StateView {
        oci_version: OCI_VERSION,
        id: &state.id,
        pid: if status == Status::Stopped {
            0
        } else {
            state.pid
        },
        status,
        bundle: &state.bundle,
        rootfs: &state.rootfs,
        created: &state.created,
        owner: &state.owner,
        annotations: &state.annotations,
        network: state.network.as_ref().map(|n| n.summary()),
    }
}

/// The OCI state JSON that hooks get on stdin.
pub fn oci_state_json(state: &ContainerState, status: Status) -> String {
    let v = serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": state.id,
        "status": status,
        "pid": state.pid,
        "bundle": state.bundle,
        "annotations": state.annotations,
    });
    v.to_string()
}

/// Reads a container's state without taking its lock (for `state`, `list`).
pub fn load(root: &Path, id: &str) -> Result<(ContainerState, Status), Error> {
    state::validate_id(id)?;
    let dir = root.join(id);
    let st = state::read(&dir, id)?;
    let status = status(&dir, &st);
    Ok((st, status))
}

/// Every container under `root`, with its status. Containers still being
/// created (no state file yet) are skipped.
pub fn list(root: &Path) -> Result<Vec<(ContainerState, Status)>, Error> {
    let mut out = Vec::new();
    for id in state::list_ids(root)? {
        match load(root, &id) {
            Ok(entry) if entry.0.pid > 0 => out.push(entry),
            Ok(_) | Err(Error::State(state::StateError::NotFound(_))) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// `start`: lets the waiting init exec the process, then runs poststart hooks.
/// `start`; with a NOTIFY_SOCKET it returns once the container said
/// READY (or ended), as runc's `start` does.
pub fn start(root: &Path, id: &str) -> Result<(), Error> {
    let dir = StateDir::open(root, id)?;
    let state = dir.load()?;
    let Some(notify) = crate::notify_socket::Listener::bind(&dir.path)? else {
        return start_locked(&dir, &state);
    };
    // Taken while init waits for this start, so it names init for sure.
    let pidfd = sys::pidfd_open(state.pid).map_err(|source| Error::Io {
        path: format!("pidfd_open({})", state.pid).into(),
        source,
    })?;
    start_locked(&dir, &state)?;
    drop(dir); // other commands may act on the container meanwhile
    Ok(notify.forward_ready(pidfd.as_fd(), state.pid)?)
}

pub(crate) fn start_locked(dir: &StateDir, state: &ContainerState) -> Result<(), Error> {
    match status(&dir.path, state) {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::WrongStatus {
                id: state.id.clone(),
                op: "start",
                status: Status::Stopped,
            })
        }
        other => {
            return Err(Error::WrongStatus {
                id: state.id.clone(),
                op: "start",
                status: other,
            })
        }
    }
    let fifo = dir.fifo_path();
    let flags = OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    // The read end first: a fifo reports hang-up to a reader only once a
    // writer that opened after it has come and gone, so that our own write
    // end makes init's copy (closed by its exec) the one we wait for.
    let reader = nix::fcntl::open(&fifo, OFlag::O_RDONLY | flags, Mode::empty())
        .map_err(|e| Error::sys("open", &fifo, e))?;
    let writer = nix::fcntl::open(&fifo, OFlag::O_WRONLY | flags, Mode::empty())
        .map_err(|e| Error::sys("open", &fifo, e))?;
    nix::unistd::write(&writer, &[0]).map_err(|e| Error::sys("write", &fifo, e))?;
    drop(writer);
    std::fs::remove_file(&fifo).map_err(|e| Error::Io {
        path: fifo.clone(),
        source: e,
    })?;
    wait_for_exec(&reader, &fifo, &state.id)?;
    if let Some(hooks) = state.hooks.as_ref().and_then(|h| h.poststart().as_deref()) {
        let json = oci_state_json(state, Status::Running);
        if let Err(e) = crate::hooks::run("poststart", hooks, json.as_bytes()) {
            tracing::warn!("{e}");
        }
    }
    Ok(())
}

/// Waits until init has run the process: its copy of the exec fifo is
/// close-on-exec, so the read end hangs up when init execs (or dies). What is
/// left in the fifo tells which: nothing when the process runs;
/// [`state::EXEC_FAILED`] when init could not run it (a startContainer hook
/// or the exec failed); that and an errno when the exec trampoline could
/// not exec the process; our own byte when init died before reading it.
fn wait_for_exec(reader: &OwnedFd, fifo: &Path, id: &str) -> Result<(), Error> {
    use nix::poll::{PollFd, PollFlags, PollTimeout};
    // No events asked for: poll then sleeps until hang-up (always reported),
    // however long our byte stays readable.
    loop {
        let mut fds = [PollFd::new(reader.as_fd(), PollFlags::empty())];
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll", fifo, e)),
            Ok(_) => {}
        }
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        if revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            break;
        }
    }
    let mut buf = [0u8; 16];
    match nix::unistd::read(reader, &mut buf) {
        Ok(0) | Err(nix::errno::Errno::EAGAIN) => Ok(()),
        Ok(n) => {
            let left = &buf[..n];
            let prefix = state::EXEC_FAILED_PREFIX.to_bytes();
            if let Some(errno) = crate::process::trampoline::parse_errno(left, prefix) {
                Err(Error::ExecOfProcess {
                    id: id.to_owned(),
                    source: errno,
                })
            } else if left == [state::EXEC_FAILED] {
                Err(Error::ExecFailed(id.to_owned()))
            } else {
                Err(Error::NotRunning(id.to_owned()))
            }
        }
        Err(e) => Err(Error::sys("read", fifo, e)),
    }
}

/// `kill`: signals init, or with `all` every process of the container.
pub fn kill(root: &Path, id: &str, signal: i32, all: bool) -> Result<(), Error> {
    let dir = StateDir::open(root, id)?;
    let state = dir.load()?;
    let st = status(&dir.path, &state);
    if st == Status::Stopped {
        // As runc: with --all, whatever is still in the container's cgroup
        // after init died is signalled, and a stopped container is no
        // error (containerd's CRI plugin stops pods this way).
        return match (all, &state.cgroup) {
            (true, Some(cgroup)) if cgroup.dirs().any(|d| d.exists()) => {
                Ok(cgroup.kill_all(signal)?)
            }
            (true, _) => Ok(()),
            (false, _) => Err(Error::NotRunning(id.to_owned())),
        };
    }
    if all {
        if let Some(cgroup) = &state.cgroup {
            cgroup.kill_all(signal)?;
            return Ok(());
        }
    }
    signal_init(&state, signal)?;
    // A frozen task acts on SIGKILL only once thawed (v1 freezer): as runc,
    // a paused container is thawed for SIGKILL only.
    if st == Status::Paused && signal == libc::SIGKILL {
        if let Some(cgroup) = &state.cgroup {
            cgroup.thaw()?;
        }
    }
    Ok(())
}

/// A pidfd of the container's init, opened before its start time is
/// checked: it then names init for good, never a process that reused the
/// pid. None when init is gone.
pub(crate) fn init_pidfd(state: &ContainerState) -> Result<Option<OwnedFd>, Error> {
    let pidfd = match sys::pidfd_open(state.pid) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
        Err(e) => {
            return Err(Error::Io {
                path: format!("/proc/{}", state.pid).into(),
                source: e,
            })
        }
    };
    Ok(init_alive(state).then_some(pidfd))
}

/// Signals init through its pidfd, so a reused pid is never signalled.
fn signal_init(state: &ContainerState, signal: i32) -> Result<(), Error> {
    let pidfd = init_pidfd(state)?.ok_or_else(|| Error::NotRunning(state.id.clone()))?;
    sys::pidfd_send_signal(pidfd.as_fd(), signal).map_err(|e| {
        // It exited since the check above (e.g. killed by kill --all).
        if e.raw_os_error() == Some(libc::ESRCH) {
            Error::NotRunning(state.id.clone())
        } else {
            Error::Io {
                path: format!("/proc/{}", state.pid).into(),
                source: e,
            }
        }
    })
}

/// Waits for init to exit (not only for our own child: through its pidfd).
fn wait_exit(state: &ContainerState) -> Result<(), Error> {
    let Some(pidfd) = init_pidfd(state)? else {
        return Ok(());
    };
    let mut fds = [nix::poll::PollFd::new(
        pidfd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    loop {
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll pidfd of", Path::new(&state.id), e)),
            Ok(_) => return Ok(()),
        }
    }
}

/// `delete`: a stopped or created container is removed; a running or paused
/// one only with `force` (killed first).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), Error> {
    let dir = match StateDir::open(root, id) {
        Ok(dir) => dir,
        Err(state::StateError::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let state = match dir.load() {
        Ok(s) => s,
        // No state file: a create that died before writing it. Nothing ran.
        Err(state::StateError::NotFound(_)) => {
            dir.remove()?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let st = status(&dir.path, &state);
    match st {
        Status::Stopped => {}
        Status::Created | Status::Creating => kill_and_wait(&state)?,
        Status::Running | Status::Paused if force => kill_and_wait(&state)?,
        Status::Running | Status::Paused => {
            return Err(Error::WrongStatus {
                id: id.to_owned(),
                op: "delete",
                status: st,
            })
        }
    }
    destroy(dir, &state)
}

fn kill_and_wait(state: &ContainerState) -> Result<(), Error> {
    if let Some(cgroup) = &state.cgroup {
        cgroup.kill_all(libc::SIGKILL)?;
    }
    match signal_init(state, libc::SIGKILL) {
        Ok(()) | Err(Error::NotRunning(_)) => {}
        Err(e) => return Err(e),
    }
    wait_exit(state)
}

/// Removes everything the container had: cgroup, network, state; runs the
/// poststop hooks (their failures are warnings).
pub(crate) fn destroy(dir: StateDir, state: &ContainerState) -> Result<(), Error> {
    let mut first_error = None;
    // The network first: its published ports expire at the kernel's next
    // tick after the firewall transaction (see network::firewall::nfnl),
    // which the rest of the teardown then overlaps.
    if let Some(net_dir) = &state.network_state_dir {
        // Only what this container recorded: the id may be another root's
        // container's too, on the same state dir.
        let owner = crate::create::absolute(&dir.path);
        if let Err(e) =
            network::Networks::open(net_dir).and_then(|n| n.release_owned(&state.id, &owner))
        {
            first_error.get_or_insert(Error::from(e));
        }
    }
    if let Some(cgroup) = &state.cgroup {
        if let Err(e) = cgroup.destroy() {
            first_error.get_or_insert(Error::from(e));
        }
    }
    if let Some(hooks) = state.hooks.as_ref().and_then(|h| h.poststop().as_deref()) {
        let json = oci_state_json(state, Status::Stopped);
        if let Err(e) = crate::hooks::run("poststop", hooks, json.as_bytes()) {
            tracing::warn!("{e}");
        }
    }
    match first_error {
        // Keep the state so that `delete` can be retried.
        Some(e) => Err(e),
        None => Ok(dir.remove()?),
    }
}

/// Kills a container that berth itself just made and removes it.
pub(crate) fn destroy_after_kill(dir: StateDir, state: &ContainerState) -> Result<(), Error> {
    kill_and_wait(state)?;
    destroy(dir, state)
}
