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

/// Messages from the parent to init, in protocol order.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ParentMsg {
    /// Carries the state JSON that createContainer/startContainer hooks get
    /// on stdin (init cannot know its pid as the host sees it).
    Proceed { hook_state: String },
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
            match nix::sys::socket::recv(
                self.fd.as_raw_fd(),
                &mut buf,
                nix::sys::socket::MsgFlags::empty(),
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.map_err(io::Error::from)?,
            }
        };
        if n == 0 {
            return Err(ChannelError::HungUp(expected));
        }
        Ok(serde_json::from_slice(&buf[..n])?)
    }

    // --- init side ---

    pub fn send_to_parent(&self, msg: InitMsg) -> Result<(), ChannelError> {
        self.send(&msg)
    }

    /// Waits for the parent's go-ahead; returns the hook state it carries.
    pub fn wait_for_proceed(&self) -> Result<String, ChannelError> {
        let ParentMsg::Proceed { hook_state } = self.recv("Proceed")?;
        Ok(hook_state)
    }

    // --- parent side ---

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
                hook_state: "{}".into(),
            })
            .unwrap();
        assert_eq!(init.wait_for_proceed().unwrap(), "{}");
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
}
