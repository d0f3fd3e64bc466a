//! Strategy `loopback`: `lo` up in a new network namespace. Every netns
//! berth creates gets it, with or without networks, so it has no endpoint
//! and nothing on the host: its work is [`NetworkStrategy::netns_requests`],
//! which [`super::initialize_netns`] sends alone and every driver's
//! `initialize` puts at the head of its batch. `lo`'s index is the same in
//! every netns (`LOOPBACK_IFINDEX`), so bringing it up needs no lookup.

use super::NetworkStrategy;
use crate::model::Endpoint;
use crate::netlink::{req, Netlink, NetnsRef, Request};
use crate::Result;

/// `lo`'s interface index in every network namespace.
pub const LOOPBACK_IFINDEX: u32 = 1;

pub struct Loopback;

impl NetworkStrategy for Loopback {
    /// `lo` is not made from an endpoint: any endpoint is fine.
    fn validate(&self, _ep: &Endpoint) -> Result<()> {
        Ok(())
    }

    /// `lo` exists in every netns: nothing to make.
    fn create(&self, _nl: &mut Netlink, _ep: &Endpoint, _netns: NetnsRef<'_>) -> Result<()> {
        Ok(())
    }

    fn netns_requests(&self) -> Result<Vec<Request>> {
        Ok(vec![req::set_link(
            LOOPBACK_IFINDEX,
            "lo",
            &req::LinkChange {
                up: Some(true),
                ..Default::default()
            },
        )?])
    }

    /// `lo` up, whatever the endpoint.
    fn initialize(&self, nl: &mut Netlink, _ep: &Endpoint) -> Result<()> {
        nl.batch(&self.netns_requests()?)?;
        Ok(())
    }
}
