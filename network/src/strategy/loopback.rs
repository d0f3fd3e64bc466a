//! `lo` up in a new network namespace. Not a driver: every netns berth
//! creates gets it, with or without networks. Its index is the same in every
//! netns (`LOOPBACK_IFINDEX`), so bringing it up needs no lookup and can ride
//! in the same batch as the rest of the container's setup.

use crate::netlink::{req, Netlink, Request};
use crate::Result;

/// `lo`'s interface index in every network namespace.
pub const LOOPBACK_IFINDEX: u32 = 1;

/// The request that brings `lo` up, for batching.
pub fn up_request() -> Result<Request> {
    Ok(req::set_link(
        LOOPBACK_IFINDEX,
        "lo",
        &req::LinkChange {
            up: Some(true),
            ..Default::default()
        },
    )?)
}

/// Brings `lo` up in `nl`'s netns.
pub fn initialize(nl: &mut Netlink) -> Result<()> {
    nl.execute(up_request()?)?;
    Ok(())
}
