//! Driver `macvlan`: a sub-interface of `ep.parent` created directly in
//! init's netns (`IFLA_LINK` = parent, `IFLA_NET_NS_PID` = init) as
//! `ep.temp_ifname`, with its own MAC. Nothing of it lives on the host, so
//! attach, detach and teardown have nothing to do: the device dies with the
//! netns. Mode: `ep.mode` (bridge, private, vepa, passthru, source), default
//! bridge.

use super::{
    endpoint_error, initialize_container_side, parent_of, validate_sub_interface, NetworkStrategy,
};
use crate::model::{Driver, Endpoint};
use crate::netlink::{macvlan_mode, Netlink, NetnsRef};
use crate::Result;

pub struct Macvlan;

pub const DEFAULT_MODE: &str = "bridge";

impl NetworkStrategy for Macvlan {
    fn validate(&self, ep: &Endpoint) -> Result<()> {
        validate_sub_interface(Driver::Macvlan, ep)
    }

    fn create(&self, nl: &mut Netlink, ep: &Endpoint, netns: NetnsRef<'_>) -> Result<()> {
        let parent = parent_of(ep)?;
        let name = ep.mode.as_deref().unwrap_or(DEFAULT_MODE);
        let mode = macvlan_mode(name).ok_or_else(|| {
            endpoint_error(
                ep,
                format!("unknown macvlan mode {name:?} (bridge, private, vepa, passthru, source)"),
            )
        })?;
        nl.create_macvlan(
            &ep.temp_ifname,
            parent,
            mode,
            Some(ep.mac),
            ep.mtu,
            Some(netns),
        )?;
        Ok(())
    }

    fn initialize(&self, nl: &mut Netlink, ep: &Endpoint) -> Result<()> {
        initialize_container_side(nl, ep, true)
    }
}
