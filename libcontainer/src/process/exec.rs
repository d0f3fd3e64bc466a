//! An exec'd process, from the clone to its execve.
//!
//! Cloned by `berth exec` (see [`crate::exec`]) already inside the
//! container's cgroup and init's pid (and time) namespace, on a copy of the
//! parent's memory. Its steps, in order:
//!  1. default signal handling; not dumpable; `oomScoreAdj` (while still
//!     the host's root: /proc/self is not writable from inside a user
//!     namespace once the process is not dumpable);
//!  2. `execCPUAffinity.final`, now that it is in the cgroup;
//!  3. init's other namespaces (user first) through init's pidfd;
//!  4. a session keyring of its own, unless the container was made with
//!     `--no-new-keyring`; the pty sent to the console socket;
//!  5. the steps it shares with init ([`super::finalize`]); a seccomp
//!     notification listener goes to the parent, which hands it to the
//!     agent; execve, through the exec trampoline ([`super::trampoline`]).
//!
//! An error is sent to the parent over the channel; the parent prints it.

use super::channel::Channel;
use super::finalize;
use super::trampoline::Trampoline;
use crate::cpu_affinity::ExecAffinity;
use nix::sched::CloneFlags;
use oci_spec::runtime::Process;
use std::os::fd::{AsFd, OwnedFd};

/// Everything the process needs, prepared by the parent before the clone.
pub struct ExecArgs<'a> {
    pub process: &'a Process,
    /// init's pidfd and pid.
    pub init: &'a OwnedFd,
    pub init_pid: i32,
    /// init's namespaces to join (not pid and time: the parent's clone put
    /// the process in those).
    pub join: CloneFlags,
    pub channel: Channel,
    pub console_socket: Option<&'a OwnedFd>,
    pub preserve_fds: u32,
    pub affinity: &'a ExecAffinity,
    pub new_keyring: bool,
    /// The container's `linux.seccomp`, compiled by the parent.
    pub seccomp: Option<&'a crate::seccomp::Program>,
    /// What the process is exec'd through.
    pub trampoline: &'a Trampoline,
}

/// Runs the process; never returns.
pub fn run(args: ExecArgs) -> ! {
    let err = match setup(&args) {
        // A failed exec of the program is an ExecMsg::ExecErrno packet.
        Ok(exec) => finalize::execve(&exec, args.trampoline, &args.channel.exec_status()),
        Err(e) => e,
    };
    // If even this fails, the parent sees the hang-up and the exit status.
    let _ = args.channel.send_exec_failure(err);
    // SAFETY: _exit skips destructors and atexit handlers that belong to
    // the parent's copy of this process.
    unsafe { libc::_exit(1) }
}

fn setup(args: &ExecArgs) -> Result<finalize::Exec, String> {
    let process = args.process;
    finalize::reset_signals();
    finalize::forbid_dumping()?;
    finalize::set_oom_score_adj(process)?;
    args.affinity.enter_final().map_err(|e| e.to_string())?;
    crate::namespaces::enter_process(args.init, args.init_pid, args.join)
        .map_err(|e| e.to_string())?;
    if args.new_keyring {
        finalize::join_session_keyring()?;
    }
    let console = match args.console_socket {
        Some(socket) => {
            // setns into the mount namespace put the root at the container's.
            let root = nix::fcntl::open(
                "/",
                nix::fcntl::OFlag::O_PATH
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| format!("open /: {e}"))?;
            let size = crate::console::size_of(process);
            Some(
                crate::console::open_pty(root.as_fd(), socket.as_fd(), size)
                    .map_err(|e| e.to_string())?,
            )
        }
        None => None,
    };
    let exec = finalize::apply(&finalize::Attributes {
        process,
        in_user_ns: args.join.contains(CloneFlags::CLONE_NEWUSER),
        console: console.as_ref(),
        preserve_fds: args.preserve_fds,
        listen_fds: None,
        seccomp: args.seccomp,
    })?;
    // A notification listener goes to the agent (through the parent)
    // before the execve closes it here.
    if let Some(fd) = exec.seccomp_listener() {
        args.channel
            .send_exec_listener(fd)
            .map_err(|e| e.to_string())?;
    }
    Ok(exec)
}
