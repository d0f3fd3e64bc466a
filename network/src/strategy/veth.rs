//! Driver `bridge`: a veth pair whose host end (`ep.host_ifname`) joins the
//! network's bridge and whose peer is created directly in init's netns as
//! `ep.temp_ifname` (with its MAC and MTU already set), then renamed to
//! `ep.ifname` inside the container by `initialize`.
//!
//! Costs: `create` one round trip; `attach` two (lookups batched, then the
//! changes batched); `initialize` two; `teardown` one.

use super::{check_name, endpoint_error, initialize_container_side, NetworkStrategy};
use crate::model::Endpoint;
use crate::netlink::{req, Netlink, NetnsRef};
use crate::{Error, Result};

/// The most ports a kernel bridge takes ([`crate::bridge::MAX_PORTS`]).
pub const BRIDGE_MAX_PORTS: usize = crate::bridge::MAX_PORTS as usize;

pub struct Veth;

fn bridge_of(ep: &Endpoint) -> Result<&str> {
    ep.bridge
        .as_deref()
        .ok_or_else(|| endpoint_error(ep, "a bridge endpoint without a bridge device"))
}

impl NetworkStrategy for Veth {
    fn validate(&self, ep: &Endpoint) -> Result<()> {
        check_name(ep, "host_ifname", &ep.host_ifname)?;
        // `ep.mode` means nothing to a veth and is ignored.
        check_name(ep, "bridge", bridge_of(ep)?)
    }

    fn create(&self, nl: &mut Netlink, ep: &Endpoint, netns: NetnsRef<'_>) -> Result<()> {
        self.validate(ep)?;
        // One RTM_NEWLINK makes both ends; it either fully happens or not at
        // all, so there is nothing of ours to undo on failure (an EEXIST
        // device is someone else's and is left alone).
        nl.create_veth(
            &ep.host_ifname,
            &ep.temp_ifname,
            netns,
            Some(ep.mac),
            ep.mtu,
        )?;
        Ok(())
    }

    fn attach(&self, nl: &mut Netlink, ep: &Endpoint) -> Result<()> {
        let bridge = bridge_of(ep)?;
        let found = nl.batch(&[req::get_link(bridge)?, req::get_link(&ep.host_ifname)?])?;
        let bridge_index = found[0].iter().find_map(|r| r.link_index());
        let host_index = found[1].iter().find_map(|r| r.link_index());
        let (Some(bridge_index), Some(host_index)) = (bridge_index, host_index) else {
            return Err(endpoint_error(
                ep,
                format!("bridge {bridge} or veth {} vanished", ep.host_ifname),
            ));
        };
        let change = req::LinkChange {
            mtu: (ep.mtu != 0).then_some(ep.mtu),
            up: Some(true),
            master: Some(bridge_index),
            ..Default::default()
        };
        let reqs = [
            req::set_link(host_index, &ep.host_ifname, &change)?,
            req::set_hairpin(host_index, &ep.host_ifname, true),
        ];
        match nl.batch(&reqs) {
            Ok(_) => Ok(()),
            Err(e) if e.errno() == Some(libc::EXFULL) => Err(Error::BridgeFull {
                bridge: bridge.to_owned(),
                max_ports: BRIDGE_MAX_PORTS,
            }),
            Err(e) => Err(e.into()),
        }
    }

    fn detach(&self, nl: &mut Netlink, ep: &Endpoint) -> Result<()> {
        let Some(index) = nl.link_index(&ep.host_ifname)? else {
            return Ok(());
        };
        let change = req::LinkChange {
            up: Some(false),
            master: Some(0),
            ..Default::default()
        };
        match nl.set_link(index, &ep.host_ifname, &change) {
            Err(e) if !e.is_not_found() => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn initialize(&self, nl: &mut Netlink, ep: &Endpoint) -> Result<()> {
        initialize_container_side(nl, ep, true)
    }

    fn host_end<'a>(&self, ep: &'a Endpoint) -> Option<&'a str> {
        Some(&ep.host_ifname)
            .filter(|n| !n.is_empty())
            .map(String::as_str)
    }

    fn teardown(&self, nl: &mut Netlink, ep: &Endpoint) -> Result<()> {
        // Normally the pair died with the netns and this is one failed
        // RTM_DELLINK; the kernel destroys a netns asynchronously, so right
        // after the init exits the host end may still be there: deleting it
        // here (which takes the peer too) makes `delete` leave nothing behind.
        nl.delete_link_by_name(&ep.host_ifname)?;
        Ok(())
    }
}
