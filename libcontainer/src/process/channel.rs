//! The parent/init synchronisation channel.
//!
//! A `SOCK_SEQPACKET` socketpair carries one JSON message per packet. The
//! legal order of the create protocol is written down here, once:
//!
//! ```text
//!   init                                   parent (berth create)
//!   ---- clone ----------------------------------------------------
//!   joins namespaces given by path
//!   InitMsg::NamespacesJoined  ───────▶
//!                                          id maps, cgroup, network create,
//!                                          prestart + createRuntime hooks
//!                              ◀───────    ParentMsg::Proceed
//!   network initialize, rootfs, mounts,
//!   devices, createContainer hooks,
//!   pivot_root, process attributes,
//!   seccomp filter
//!  [InitMsg::SeccompListener   ───────▶    (with SCMP_ACT_NOTIFY rules)
//!                                          pidfd_getfd, send it to the
//!                                          agent at listenerPath]
//!   InitMsg::Ready             ───────▶
//!                                          state file, pid file; exit
//!   waits on exec.fifo for `start`
//! ```
//!
//! Either side may instead send an error ([`InitMsg::Failed`]) or hang up;
//! the other side then aborts. Receiving a message out of order is an error.
//!
//! In the exec protocol (`berth exec` and the process it clones) the
//! process's end is close-on-exec, so its execve is the hang-up:
//!
//! ```text
//!   process                                parent (berth exec)
//!   ---- clone (in init's pid ns and the container's cgroup) --------
//!   joins init's other namespaces,
//!   process attributes, seccomp filter
//!  [ExecMsg::SeccompListener   ───────▶    (with SCMP_ACT_NOTIFY rules)
//!                                          pidfd_getfd, send it to the
//!                              ◀───────    agent; ExecParentMsg::ListenerTaken]
//!   execve
//!   ── execve closes its end ─────────▶   hang-up: the process runs
//!   or ExecMsg::Failed         ───────▶   the error; reaps the process
//! ```

use super::trampoline::Status;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use serde::{Deserialize, Serialize};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// Messages from the container's init to the parent, in protocol order.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum InitMsg {
    NamespacesJoined,
    /// The seccomp notification listener is init's fd with this number.
    SeccompListener(i32),
    Ready,
    /// Init could not set the container up; it exits after sending this.
    Failed(String),
}

/// Messages from an exec'd process, before its execve, to `berth exec`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ExecMsg {
    /// The seccomp notification listener is the process's fd with this
    /// number; the process waits for [`ExecParentMsg::ListenerTaken`].
    SeccompListener(i32),
    /// The process could not be set up or exec'd; it exits after sending this.
    Failed(String),
    /// The exec trampoline could not exec the program: the errno. The
    /// trampoline writes this packet itself (see [`Channel::exec_status`]).
    ExecErrno(i32),
}

/// Messages from `berth exec` to the process it cloned.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ExecParentMsg {
    /// The agent has the listener: the process may exec (closing its copy).
    ListenerTaken,
}

/// What `berth exec` learns while waiting for the process's exec.
#[derive(Debug, PartialEq, Eq)]
pub enum ExecEvent {
    /// The process runs.
    Running,
    /// The process's seccomp listener is its fd with this number.
    SeccompListener(i32),
}

/// Messages from the parent to init, in protocol order.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ParentMsg {
    /// Carries init's pid as the host sees it, which init cannot know, for
    /// the state that createContainer/startContainer hooks get on stdin.
    /// (Init has the rest of the state: annotations can be larger than a
    /// packet, so the state itself is never sent.)
    ///
    /// With `cgroup_pending`, the parent is still moving init into its
    /// cgroup (a v1 migration waits for an RCU grace period) while init
    /// mounts the rootfs: init waits for [`ParentMsg::CgroupJoined`] before
    /// anything that must run inside the cgroup.
    Proceed { pid: i32, cgroup_pending: bool },
    /// Init is in its cgroup, with `linux.resources` applied.
    CgroupJoined,
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("sync channel: {0}")]
    Io(#[from] io::Error),
    #[error("sync channel: the other side hung up while {0:?} was expected")]
    HungUp(&'static str),
    #[error("sync channel: malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("sync channel: expected {expected}, got {got}")]
    OutOfOrder { expected: &'static str, got: String },
    #[error("container init failed: {0}")]
    InitFailed(String),
    #[error("sync channel: a message of {0} bytes is longer than a packet")]
    TooLong(usize),
    #[error("unable to start container process: {0}")]
    ExecFailed(String),
}

/// One end of the channel.
pub struct Channel {
    fd: OwnedFd,
}

/// Creates the pair: (parent end, init end). Both are close-on-exec.
pub fn pair() -> Result<(Channel, Channel), ChannelError> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// One message, one packet. Sent with write(2), not send(2): init may
    /// send under a seccomp filter, and write is the one syscall a profile
    /// may not hand to a notification agent (runc's rule), so the listener
    /// always reaches the parent.
    fn send<T: Serialize>(&self, msg: &T) -> Result<(), ChannelError> {
        let buf = serde_json::to_vec(msg)?;
        nix::unistd::write(&self.fd, &buf).map_err(io::Error::from)?;
        Ok(())
    }

    fn recv<T: for<'de> Deserialize<'de>>(
        &self,
        expected: &'static str,
    ) -> Result<T, ChannelError> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = loop {
            // MSG_TRUNC: the packet's real length, so a longer one is an
            // error, not JSON cut short.
            match nix::sys::socket::recv(
                self.fd.as_raw_fd(),
                &mut buf,
                nix::sys::socket::MsgFlags::MSG_TRUNC,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.map_err(io::Error::from)?,
            }
        };
        if n == 0 {
            return Err(ChannelError::HungUp(expected));
        }
        if n > buf.len() {
            return Err(ChannelError::TooLong(n));
        }
        Ok(serde_json::from_slice(&buf[..n])?)
    }

    // --- init side ---

    pub fn send_to_parent(&self, msg: InitMsg) -> Result<(), ChannelError> {
        self.send(&msg)
    }

    /// Waits for the parent's go-ahead; returns the pid it carries.
    /// Init's pid as the host sees it, and whether the cgroup join is
    /// still to come ([`Channel::wait_for_cgroup`]).
    pub fn wait_for_proceed(&self) -> Result<(i32, bool), ChannelError> {
        match self.recv("Proceed")? {
            ParentMsg::Proceed {
                pid,
                cgroup_pending,
            } => Ok((pid, cgroup_pending)),
            other => Err(ChannelError::OutOfOrder {
                expected: "Proceed",
                got: format!("{other:?}"),
            }),
        }
    }

    /// Waits until the parent has put init into its cgroup.
    pub fn wait_for_cgroup(&self) -> Result<(), ChannelError> {
        match self.recv("CgroupJoined")? {
            ParentMsg::CgroupJoined => Ok(()),
            other => Err(ChannelError::OutOfOrder {
                expected: "CgroupJoined",
                got: format!("{other:?}"),
            }),
        }
    }

    // --- exec'd process side ---

    pub fn send_exec_failure(&self, msg: String) -> Result<(), ChannelError> {
        self.send(&ExecMsg::Failed(msg))
    }

    /// Where the exec trampoline reports a failed exec of the program: this
    /// end, as an [`ExecMsg::ExecErrno`] packet.
    pub fn exec_status(&self) -> Status<'static> {
        Status {
            fd: self.fd.as_raw_fd(),
            prefix: c"{\"ExecErrno\":",
            suffix: c"}",
        }
    }

    /// Sends the listener's fd number and waits until the parent took it.
    pub fn send_exec_listener(&self, fd: i32) -> Result<(), ChannelError> {
        self.send(&ExecMsg::SeccompListener(fd))?;
        let ExecParentMsg::ListenerTaken = self.recv("ListenerTaken")?;
        Ok(())
    }

    // --- parent side ---

    /// Waits until the exec'd process runs (its end hangs up at execve),
    /// sends its seccomp listener, or reports why it could not run.
    pub fn wait_for_exec(&self) -> Result<ExecEvent, ChannelError> {
        match self.recv::<ExecMsg>("the exec") {
            Err(ChannelError::HungUp(_)) => Ok(ExecEvent::Running),
            Err(e) => Err(e),
            Ok(ExecMsg::SeccompListener(fd)) => Ok(ExecEvent::SeccompListener(fd)),
            Ok(ExecMsg::Failed(msg)) => Err(ChannelError::ExecFailed(msg)),
            Ok(ExecMsg::ExecErrno(errno)) => Err(ChannelError::ExecFailed(format!(
                "exec: {}",
                nix::errno::Errno::from_raw(errno)
            ))),
        }
    }

    pub fn send_listener_taken(&self) -> Result<(), ChannelError> {
        self.send(&ExecParentMsg::ListenerTaken)
    }

    pub fn send_to_init(&self, msg: ParentMsg) -> Result<(), ChannelError> {
        self.send(&msg)
    }

    /// Waits for the next step of init; a `Failed` message becomes an error.
    pub fn wait_for_init(&self, expected: InitMsg) -> Result<(), ChannelError> {
        let name = match expected {
            InitMsg::NamespacesJoined => "NamespacesJoined",
            InitMsg::SeccompListener(_) => "SeccompListener",
            InitMsg::Ready => "Ready",
            InitMsg::Failed(_) => "Failed",
        };
        match self.recv::<InitMsg>(name)? {
            InitMsg::Failed(msg) => Err(ChannelError::InitFailed(msg)),
            got if got == expected => Ok(()),
            got => Err(ChannelError::OutOfOrder {
                expected: name,
                got: format!("{got:?}"),
            }),
        }
    }

    /// After `Proceed`: `Some(fd)` when init sends its seccomp listener
    /// (the caller hands it on, then waits for `Ready`), `None` on `Ready`.
    pub fn wait_for_listener_or_ready(&self) -> Result<Option<i32>, ChannelError> {
        match self.recv::<InitMsg>("SeccompListener or Ready")? {
            InitMsg::SeccompListener(fd) => Ok(Some(fd)),
            InitMsg::Ready => Ok(None),
            InitMsg::Failed(msg) => Err(ChannelError::InitFailed(msg)),
            got => Err(ChannelError::OutOfOrder {
                expected: "SeccompListener or Ready",
                got: format!("{got:?}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_round_trip_and_order() {
        let (parent, init) = pair().unwrap();
        init.send_to_parent(InitMsg::NamespacesJoined).unwrap();
        parent.wait_for_init(InitMsg::NamespacesJoined).unwrap();
        parent
            .send_to_init(ParentMsg::Proceed {
                pid: 42,
                cgroup_pending: true,
            })
            .unwrap();
        assert_eq!(init.wait_for_proceed().unwrap(), (42, true));
        // Out of order: Proceed where the cgroup join was expected.
        parent
            .send_to_init(ParentMsg::Proceed {
                pid: 42,
                cgroup_pending: true,
            })
            .unwrap();
        assert!(matches!(
            init.wait_for_cgroup(),
            Err(ChannelError::OutOfOrder { .. })
        ));
        parent.send_to_init(ParentMsg::CgroupJoined).unwrap();
        init.wait_for_cgroup().unwrap();
        init.send_to_parent(InitMsg::SeccompListener(7)).unwrap();
        assert_eq!(parent.wait_for_listener_or_ready().unwrap(), Some(7));
        init.send_to_parent(InitMsg::Ready).unwrap();
        parent.wait_for_init(InitMsg::Ready).unwrap();
        init.send_to_parent(InitMsg::Ready).unwrap();
        assert_eq!(parent.wait_for_listener_or_ready().unwrap(), None);
    }

    #[test]
    fn out_of_order_and_failure_are_errors() {
        let (parent, init) = pair().unwrap();
        init.send_to_parent(InitMsg::Ready).unwrap();
        assert!(matches!(
            parent.wait_for_init(InitMsg::NamespacesJoined),
            Err(ChannelError::OutOfOrder { .. })
        ));
        init.send_to_parent(InitMsg::Failed("mount /proc: EPERM".into()))
            .unwrap();
        match parent.wait_for_init(InitMsg::Ready) {
            Err(ChannelError::InitFailed(m)) => assert!(m.contains("/proc")),
            other => panic!("{other:?}"),
        }
        drop(init);
        assert!(matches!(
            parent.wait_for_init(InitMsg::Ready),
            Err(ChannelError::HungUp(_))
        ));
    }

    #[test]
    fn exec_hang_up_is_success_and_failure_is_reported() {
        let (parent, process) = pair().unwrap();
        process
            .send_exec_failure("exec: \"nosuch\"".into())
            .unwrap();
        match parent.wait_for_exec() {
            Err(ChannelError::ExecFailed(m)) => assert!(m.contains("nosuch")),
            other => panic!("{other:?}"),
        }
        drop(process);
        assert_eq!(parent.wait_for_exec().unwrap(), ExecEvent::Running);
    }
}
