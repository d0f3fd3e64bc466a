//! `exec`: one more process in a running (or created) container, set up as
//! securely as init.
//!
//! The parent's steps, top-down:
//!  1. the fds to preserve are there; the container's state (read under its
//!     lock): it must be running or created (or paused, when asked), init
//!     is opened by pidfd;
//!  2. the process: process.json, or the container's `process` recorded at
//!     create with the command line's changes, validated; the container's
//!     seccomp profile, compiled (a cache hit: create compiled it);
//!  3. `execCPUAffinity.initial` for berth itself; berth joins the
//!     container's v1 cgroups and init's pid and time namespaces (both only
//!     matter for the child it is about to make);
//!  4. one clone3, into the container's v2 cgroup: the process's side is
//!     [`crate::process::exec`]; berth leaves the v1 cgroups again;
//!  5. the process's exec (or its error; a seccomp notification listener
//!     goes to the agent on the way); the pid file, atomically;
//!  6. `--detach` returns; otherwise berth waits for the process,
//!     forwarding signals, and returns its exit status.
//!
//! The process is berth's child, so a shim or conmon (child subreapers)
//! reaps it once a detached `berth exec` has exited.

mod cgroup;
mod process;

pub use process::{CommandLine, ProcessSource};

use crate::cpu_affinity::ExecAffinity;
use crate::namespaces;
use crate::process::channel;
use crate::process::exec::ExecArgs;
use crate::process::trampoline::Trampoline;
use crate::state::{StateDir, Status};
use crate::sys::{self, Forked};
use crate::Error;
use nix::sched::CloneFlags;
use oci_spec::runtime::LinuxNamespaceType;
use std::os::fd::AsFd;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot exec in a stopped container")]
    Stopped,
    #[error("cannot exec in a paused container (use --ignore-paused to override)")]
    Paused,
    #[error("process args cannot be empty")]
    NoArgs,
    #[error("container {0} has no exec defaults in its state (it was created by a berth without exec): delete and create it again")]
    NoDefaults(String),
    #[error("{origin}: {field}: {reason}")]
    Process {
        origin: String,
        field: String,
        reason: String,
    },
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    Lsm(#[from] crate::lsm::LsmError),
    #[error(transparent)]
    Affinity(#[from] crate::cpu_affinity::AffinityError),
    #[error("--tty is given but process.terminal is not true in {0}")]
    TtyContradicts(PathBuf),
    #[error(
        "the process has a terminal (--tty or process.terminal): --console-socket is required"
    )]
    NoConsoleSocket,
    #[error(
        "cannot use console socket if berth will not allocate a tty (no --tty or process.terminal)"
    )]
    ConsoleWithoutTty,
    #[error("--user {value:?}: parsing {part:?} as int for {what} failed: {source}")]
    User {
        value: String,
        part: String,
        what: &'static str,
        #[source]
        source: std::num::ParseIntError,
    },
    #[error("additional-gids must be a positive number {0}")]
    NegativeGid(i64),
    #[error("--cap {0}: unknown capability")]
    UnknownCapability(String),
    #[error("invalid --cgroup argument: {arg} ({reason})")]
    CgroupArg { arg: String, reason: String },
    #[error("--preserve-fds {count}: fd {fd} is not open")]
    PreserveFds { count: u32, fd: i32 },
}

/// What `berth exec` was asked.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub root: PathBuf,
    pub id: String,
    pub process: ProcessSource,
    /// `--tty`: with process.json, it must agree with process.terminal.
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    /// `--cgroup` arguments.
    pub cgroup: Vec<String>,
    pub ignore_paused: bool,
}

/// Runs the process; returns the exit code `berth exec` should exit with
/// (0 once a detached process runs).
pub fn exec(opts: &ExecOptions) -> Result<i32, Error> {
    // 1. The container. Its lock is held only to read the state: a paused
    //    container may keep a process (and berth) frozen for long.
    check_preserved_fds(opts.preserve_fds)?;
    let (state, status, defaults) = {
        let dir = StateDir::open(&opts.root, &opts.id)?;
        let state = dir.load()?;
        let status = match crate::container::status(&dir.path, &state) {
            Status::Stopped | Status::Creating => return Err(ExecError::Stopped.into()),
            Status::Paused if !opts.ignore_paused => return Err(ExecError::Paused.into()),
            status => status,
        };
        let defaults = state
            .exec_defaults(&dir.path)?
            .ok_or_else(|| ExecError::NoDefaults(state.id.clone()))?;
        (state, status, defaults)
    };
    let defaults = &defaults;
    let init = crate::container::init_pidfd(&state)?.ok_or(ExecError::Stopped)?;
    let cgroup = crate::pause::cgroup_of(&state)?;

    // 2. The process.
    let process = process::build(&opts.process, defaults, opts.tty)?;
    match (process.terminal().unwrap_or(false), &opts.console_socket) {
        (true, None) => return Err(ExecError::NoConsoleSocket.into()),
        (false, Some(_)) => return Err(ExecError::ConsoleWithoutTty.into()),
        _ => {}
    }
    // The container's filter, from the cache create filled.
    let seccomp = defaults
        .seccomp
        .as_ref()
        .map(|profile| crate::seccomp::Program::compile(profile, Some(&opts.root)))
        .transpose()?;
    let placement = cgroup::Placement::new(cgroup, &opts.cgroup)?;
    let affinity = ExecAffinity::plan(&process, cgroup).map_err(ExecError::from)?;
    let console_socket = opts
        .console_socket
        .as_deref()
        .map(crate::console::connect)
        .transpose()?;
    let trampoline = Trampoline::new().map_err(|source| Error::Io {
        path: "the exec trampoline".into(),
        source,
    })?;
    let (parent_end, child_end) = channel::pair()?;
    let mask = if opts.detach {
        nix::sys::signal::SigSet::empty()
    } else {
        crate::run::block_forwarded()?
    };

    // 3. Where the child is born.
    let mut for_children = CloneFlags::empty();
    let mut join = CloneFlags::empty();
    for &typ in &defaults.namespaces {
        match typ {
            LinuxNamespaceType::Pid | LinuxNamespaceType::Time => {
                for_children |= namespaces::flag(typ)
            }
            _ => join |= namespaces::flag(typ),
        }
    }
    affinity.enter_initial().map_err(ExecError::from)?;
    let into = placement.v2_fd()?;
    let mut joined = placement.join(false)?;
    namespaces::enter_process(&init, state.pid, for_children)?;

    // 4. One clone.
    let forked = match sys::clone3(0, into.as_ref().map(|f| f.as_fd())) {
        // A kernel before 5.7: berth joins the v2 cgroup too.
        Err(e) if into.is_some() => {
            tracing::debug!("clone3 into the cgroup: {e}; joining it first");
            drop(joined);
            joined = placement.join(true)?;
            sys::clone3(0, None)
        }
        other => other,
    };
    let (pid, pidfd) = match forked.map_err(|source| Error::Io {
        path: "clone3".into(),
        source,
    })? {
        Forked::Child => {
            drop(parent_end);
            crate::process::exec::run(ExecArgs {
                process: &process,
                init: &init,
                init_pid: state.pid,
                join,
                channel: child_end,
                console_socket: console_socket.as_ref(),
                preserve_fds: opts.preserve_fds,
                affinity: &affinity,
                new_keyring: !defaults.no_new_keyring,
                seccomp: seccomp.as_ref(),
                trampoline: &trampoline,
            })
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(joined);
    drop(child_end);
    drop(console_socket);
    drop(trampoline);

    // 5. Running, or why not. A process that failed is reaped here, so
    //    nothing is left in the container's cgroup.
    let state_json = crate::container::oci_state_json(&state, status);
    if let Err(e) = wait_for_exec(&parent_end, seccomp.as_ref(), &pidfd, pid, &state_json) {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        return Err(e);
    }
    if let Some(pid_file) = &opts.pid_file {
        crate::state::write_atomic(
            &crate::create::absolute(pid_file),
            pid.to_string().as_bytes(),
            crate::state::PID_FILE,
        )?;
    }

    // 6.
    if opts.detach {
        return Ok(0);
    }
    crate::run::wait_forwarding(pid, &pidfd, &mask)
}

/// Waits until the process runs; a seccomp notification listener it sends
/// on the way goes to the profile's agent with the container's state.
fn wait_for_exec(
    channel: &channel::Channel,
    seccomp: Option<&crate::seccomp::Program>,
    pidfd: &std::os::fd::OwnedFd,
    pid: i32,
    state_json: &str,
) -> Result<(), Error> {
    loop {
        match channel.wait_for_exec()? {
            channel::ExecEvent::Running => return Ok(()),
            channel::ExecEvent::SeccompListener(fd) => {
                let program = seccomp.ok_or_else(|| {
                    Error::Config(
                        "an exec'd process sent a seccomp listener without a profile".into(),
                    )
                })?;
                crate::seccomp::notify::hand_over(program, pidfd.as_fd(), fd, pid, state_json)?;
                channel.send_listener_taken()?;
            }
        }
    }
}

/// The fds to preserve must be open before berth opens any of its own:
/// otherwise one of berth's could take such a number and reach the process.
fn check_preserved_fds(count: u32) -> Result<(), ExecError> {
    for fd in 3..3 + count as i32 {
        if !sys::fd_is_open(fd) {
            return Err(ExecError::PreserveFds { count, fd });
        }
    }
    Ok(())
}
