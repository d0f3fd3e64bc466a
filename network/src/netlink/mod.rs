//! A small synchronous rtnetlink client for the current network namespace.
//!
//! One `NETLINK_ROUTE` socket (close-on-exec), opened in whatever netns the
//! calling thread is in when [`Netlink::open`] runs; it keeps talking to that
//! netns even if the thread later moves. No async runtime, no threads.
//!
//! Requests are built as plain [`Request`] values (pure functions, unit
//! tested) and sent with [`Netlink::execute`] or [`Netlink::batch`]:
//! a batch is one `sendmsg` carrying several netlink messages, each with its
//! own sequence number and `NLM_F_ACK`, followed by one read loop that
//! collects every ack. The kernel processes the messages of a batch in
//! order and does *not* stop at the first failure, so a batch is used only
//! for steps whose later members are harmless (they fail too) when an
//! earlier one fails; the first error, in request order, is reported.
//!
//! Errors carry the operation and interface ("creating veth bv1/tmp1") and
//! the kernel's errno, plus the extended-ack message when the kernel gives
//! one.
//!
//! The parts:
//! - [`req`]: the request builders, one [`Request`] each, no I/O;
//! - `transport`: the socket, [`Netlink::execute`] and [`Netlink::batch`]
//!   (sending, reading acks and data replies by sequence number);
//! - `reply`: reply framing (messages, extended acks) and what the replies
//!   say ([`Reply`], [`LinkDetails`], [`AddressDetails`], [`RouteDetails`]);
//! - `ops`: one [`Netlink`] method per operation berth does on its own
//!   (look a link up, create a bridge, list addresses...), each a request
//!   sent and its reply read;
//! - `wire`: the constants and attribute walker that the nf_tables framing
//!   of [`crate::firewall::nfnl`] shares.

mod ops;
mod reply;
pub mod req;
mod transport;
pub(crate) mod wire;

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_route::link::LinkAttribute;

pub use reply::{AddressDetails, LinkDetails, Reply, RouteDetails};
pub use req::{ipvlan_mode, macvlan_mode, Request};
pub use transport::Netlink;

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// A failed netlink operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("netlink: opening a NETLINK_ROUTE socket: {0}")]
    Open(#[source] io::Error),
    #[error("netlink: {op}: {source}{}", ExtAck(.ext_ack))]
    Request {
        /// What was being done, naming the interface.
        op: String,
        /// The kernel's extended-ack message, if any.
        ext_ack: Option<String>,
        #[source]
        source: io::Error,
    },
    #[error("netlink: {op}: {reason}")]
    Protocol { op: String, reason: String },
    #[error("netlink: {op}: {source}")]
    Netns {
        op: String,
        #[source]
        source: io::Error,
    },
    #[error("netlink: {op}: invalid argument: {reason}")]
    Invalid { op: String, reason: String },
}

struct ExtAck<'a>(&'a Option<String>);

impl fmt::Display for ExtAck<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(m) => write!(f, " ({m})"),
            None => Ok(()),
        }
    }
}

impl Error {
    /// The kernel's errno for a failed request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Request { source, .. } | Error::Open(source) => source.raw_os_error(),
            _ => None,
        }
    }

    /// The device (or the address, route) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc::ENODEV) | Some(libc::ENOENT) | Some(libc::ESRCH) | Some(libc::EADDRNOTAVAIL)
        )
    }

    /// The device (or address, route) already exists.
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The network namespace a new device (or a veth's peer) is made in.
#[derive(Debug, Clone, Copy)]
pub enum NetnsRef<'a> {
    /// The netns of a process: berth's init.
    Pid(i32),
    /// An open netns file (`/proc/PID/ns/net`, `/var/run/netns/NAME`): a
    /// CNI sandbox, which has no process of its own.
    Fd(BorrowedFd<'a>),
}

impl NetnsRef<'_> {
    /// The `IFLA_NET_NS_PID` / `IFLA_NET_NS_FD` attribute.
    fn attribute(self, op: &str) -> Result<LinkAttribute> {
        match self {
            NetnsRef::Pid(pid) => u32::try_from(pid)
                .map(LinkAttribute::NetNsPid)
                .map_err(|_| Error::Invalid {
                    op: op.to_owned(),
                    reason: format!("bad pid {pid}"),
                }),
            NetnsRef::Fd(fd) => Ok(LinkAttribute::NetNsFd(fd.as_raw_fd())),
        }
    }
}

impl std::fmt::Display for NetnsRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetnsRef::Pid(pid) => write!(f, "the netns of pid {pid}"),
            NetnsRef::Fd(fd) => write!(f, "the netns of fd {}", fd.as_raw_fd()),
        }
    }
}
