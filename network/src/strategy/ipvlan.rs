//! Driver `ipvlan`: like macvlan (created directly in init's netns as a
//! sub-interface of `ep.parent`), but the device shares the parent's MAC, so
//! `ep.mac` is not applied. Mode: `ep.mode` (l2, l3, l3s), default l2.

use super::{
    endpoint_error, initialize_container_side, parent_of, validate_sub_interface, NetworkStrategy,
};
use crate::model::{Driver, Endpoint};
use crate::netlink::{ipvlan_mode, Netlink, NetnsRef};
use crate::Result;

pub struct Ipvlan;

pub const DEFAULT_MODE: &str = "l2";

impl NetworkStrategy for Ipvlan {
    fn validate(&self, ep: &Endpoint) -> Result<()> {
        validate_sub_interface(Driver::Ipvlan, ep)
    }

    fn create(&self, nl: &mut Netlink, ep: &Endpoint, netns: NetnsRef<'_>) -> Result<()> {
        let parent = parent_of(ep)?;
        let name = ep.mode.as_deref().unwrap_or(DEFAULT_MODE);
        let mode = ipvlan_mode(name).ok_or_else(|| {
            endpoint_error(ep, format!("unknown ipvlan mode {name:?} (l2, l3, l3s)"))
        })?;
        nl.create_ipvlan(&ep.temp_ifname, parent, mode, ep.mtu, Some(netns))?;
        Ok(())
    }

    fn initialize(&self, nl: &mut Netlink, ep: &Endpoint) -> Result<()> {
        initialize_container_side(nl, ep, false)
    }
}
