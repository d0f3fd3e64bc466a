//! `run`: create, start, and (in the foreground) wait for the container,
//! forwarding signals to it; then delete it unless asked to keep it. The
//! waiting and forwarding is `exec`'s too.
//!
//! berth is init's parent here, so init's exit status is always collected
//! with waitpid: a container that exits before berth starts waiting leaves
//! a zombie and a pending SIGCHLD, never a lost exit.

use crate::create::{create, CreateOptions};
use crate::state::StateDir;
use crate::Error;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::AsFd;

/// Signals `run` and `exec` pass on to the process instead of acting on them.
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
    Signal::SIGPIPE,
    Signal::SIGALRM,
];

pub struct RunOptions {
    pub create: CreateOptions,
    pub detach: bool,
    pub keep: bool,
}

/// Returns the exit code `berth run` should exit with.
pub fn run(opts: &RunOptions) -> Result<i32, Error> {
    let mask = if opts.detach {
        SigSet::empty()
    } else {
        block_forwarded()?
    };
    let created = create(&opts.create)?;
    let root = &opts.create.root;
    let started = crate::notify_socket::Listener::bind(&created.dir.path)
        .map_err(Error::from)
        .and_then(|notify| {
            crate::container::start_locked(&created.dir, &created.state).map(|()| notify)
        });
    let notify = match started {
        Ok(notify) => notify,
        Err(e) => {
            let _ = crate::container::destroy_after_kill(created.dir, &created.state);
            return Err(e);
        }
    };
    let crate::create::Created { dir, state, pidfd } = created;
    drop(dir); // other berth commands may act on the container while it runs
    if let Some(notify) = notify {
        // As runc: the main process is the container's init when
        // detached, else `run` itself; a failure here is only logged.
        let main_pid = if opts.detach {
            state.pid
        } else {
            std::process::id() as i32
        };
        if let Err(e) = notify.forward_ready(pidfd.as_fd(), main_pid) {
            tracing::warn!("{e}");
        }
    }
    if opts.detach {
        return Ok(0);
    }
    let code = wait_forwarding(state.pid, &pidfd, &mask)?;
    if !opts.keep {
        match StateDir::open(root, &state.id) {
            // Still ours (not deleted and made again under the same id meanwhile).
            Ok(dir) if dir.load().is_ok_and(|s| same_init(&s, &state)) => {
                crate::container::destroy(dir, &state)?
            }
            Ok(_) => {}
            // Deleted by another command (`delete --force`) while it ran.
            Err(crate::state::StateError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(code)
}

fn same_init(a: &crate::state::ContainerState, b: &crate::state::ContainerState) -> bool {
    a.pid == b.pid && a.pid_start_time == b.pid_start_time
}

/// Blocks SIGCHLD and the signals to forward, and returns that mask. Done
/// before the clone so that nothing is lost; the child unblocks everything
/// for itself before it runs user code.
pub(crate) fn block_forwarded() -> Result<SigSet, Error> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    for sig in FORWARDED {
        mask.add(*sig);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .map_err(|e| Error::sys("sigprocmask", std::path::Path::new("run"), e))?;
    Ok(mask)
}

/// Waits for our child `pid`, passing the signals in `mask` (blocked by
/// [`block_forwarded`]) on to it; returns its exit code, 128+signal when it
/// was killed.
pub(crate) fn wait_forwarding(
    pid: i32,
    pidfd: &std::os::fd::OwnedFd,
    mask: &SigSet,
) -> Result<i32, Error> {
    let sfd =
        SignalFd::new(mask).map_err(|e| Error::sys("signalfd", std::path::Path::new("run"), e))?;
    loop {
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(Error::sys(
                    "waitpid",
                    std::path::Path::new(&pid.to_string()),
                    e,
                ))
            }
        }
        let info = match sfd.read_signal() {
            Ok(Some(info)) => info,
            Ok(None) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("signalfd read", std::path::Path::new("run"), e)),
        };
        let sig = info.ssi_signo as i32;
        if sig != libc::SIGCHLD {
            let _ = crate::sys::pidfd_send_signal(pidfd.as_fd(), sig);
        }
    }
}
