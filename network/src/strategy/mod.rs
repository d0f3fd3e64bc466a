//! Network strategies: how a container gets its interface on a network.
//!
//! One module per driver and one registry ([`strategy`]): adding a driver is
//! adding a module and a match arm. Each strategy has the steps of the create
//! path (runc's old `networkStrategy`, with teardown added):
//!
//! | step         | where                                   | what                                  |
//! |--------------|-----------------------------------------|---------------------------------------|
//! | `create`     | parent, host netns, init has its netns  | make the device(s); the container end is created directly in init's netns |
//! | `attach`     | parent, host netns                      | bridge master, MTU, hairpin, link up  |
//! | `initialize` | inside the container's netns, pre-exec  | rename, MAC, MTU, addresses, up, default routes |
//! | `detach`     | host netns                              | leave the bridge, link down           |
//! | `teardown`   | host netns, on delete / after a crash   | undo `create`; a missing device is fine |
//!
//! Every method takes the [`Netlink`] socket of the netns it must work in:
//! the caller opens one in the host netns for `create`/`attach`/`detach`/
//! `teardown`, and one inside the container (after `setns`/in the init) for
//! `initialize`. [`create_and_attach`] is the host-side sequence with its
//! undo on failure. `lo` is not a driver: [`loopback::initialize`] brings it up.

pub mod ipvlan;
pub mod loopback;
pub mod macvlan;
pub mod veth;

use crate::model::{Driver, Endpoint};
use crate::netlink::{req, Netlink, Request};
use crate::{Error, Result};

pub trait NetworkStrategy: Sync {
    /// Host side, in the parent, once init (pid) has its netns. Undoes its own partial work on error.
    fn create(&self, nl: &mut Netlink, ep: &Endpoint, init_pid: i32) -> Result<()>;
    /// Host-side membership: bridge master, MTU, hairpin, link up.
    fn attach(&self, nl: &mut Netlink, ep: &Endpoint) -> Result<()>;
    /// Leaves the bridge and takes the host end down. A missing device is not an error.
    fn detach(&self, nl: &mut Netlink, ep: &Endpoint) -> Result<()>;
    /// Inside the container's netns, before exec: rename temp_ifname → ifname, MAC, MTU, addresses, up, default routes.
    fn initialize(&self, nl: &mut Netlink, ep: &Endpoint) -> Result<()>;
    /// Undo `create` from the host. Idempotent: a missing device is not an error.
    fn teardown(&self, nl: &mut Netlink, ep: &Endpoint) -> Result<()>;
}

/// The strategy of a driver.
pub fn strategy(driver: Driver) -> &'static dyn NetworkStrategy {
    match driver {
        Driver::Bridge => &veth::Veth,
        Driver::Macvlan => &macvlan::Macvlan,
        Driver::Ipvlan => &ipvlan::Ipvlan,
    }
}

/// `create` then `attach`; if `attach` fails, `teardown` undoes `create`.
pub fn create_and_attach(nl: &mut Netlink, ep: &Endpoint, init_pid: i32) -> Result<()> {
    let s = strategy(ep.driver);
    s.create(nl, ep, init_pid)?;
    if let Err(e) = s.attach(nl, ep) {
        if let Err(undo) = s.teardown(nl, ep) {
            tracing::warn!(network = %ep.network, error = %undo, "undoing a failed attach");
        }
        return Err(e);
    }
    Ok(())
}

pub(crate) fn endpoint_error(ep: &Endpoint, reason: impl Into<String>) -> Error {
    Error::Endpoint {
        network: ep.network.clone(),
        reason: reason.into(),
    }
}

/// The container side of `initialize`, shared by every driver: one lookup of
/// the temporary name, then one batch with `lo` up, rename + MAC + MTU + up,
/// the addresses and the default routes.
pub(crate) fn initialize_container_side(
    nl: &mut Netlink,
    ep: &Endpoint,
    set_mac: bool,
) -> Result<()> {
    // Idempotent: a second run finds the device already renamed (and up),
    // and then changes neither its name nor its MAC — some kernels refuse
    // both on a device that is up, even to the same value.
    let (index, fresh) = match nl.link_index(&ep.temp_ifname)? {
        Some(i) => (i, true),
        None => {
            let i = nl.link_index(&ep.ifname)?.ok_or_else(|| {
                endpoint_error(
                    ep,
                    format!(
                        "neither {} nor {} exists in the container's netns",
                        ep.temp_ifname, ep.ifname
                    ),
                )
            })?;
            (i, false)
        }
    };
    let what = &ep.ifname;
    let mut reqs: Vec<Request> = vec![loopback::up_request()?];
    reqs.push(req::set_link(
        index,
        &format!("{} (was {})", ep.ifname, ep.temp_ifname),
        &req::LinkChange {
            mac: (fresh && set_mac).then_some(ep.mac),
            mtu: (ep.mtu != 0).then_some(ep.mtu),
            name: fresh.then(|| ep.ifname.clone()),
            up: Some(true),
            master: None,
        },
    )?);
    reqs.push(req::add_address(
        index,
        what,
        ep.ipv4.into(),
        ep.prefix4,
        false,
    )?);
    if let Some(v6) = ep.ipv6 {
        reqs.push(req::add_address(index, what, v6.into(), ep.prefix6, true)?);
    }
    if !ep.gateway4.is_unspecified() {
        reqs.push(req::add_default_route(ep.gateway4.into(), index, what));
    }
    if let Some(gw6) = ep.gateway6 {
        reqs.push(req::add_default_route(gw6.into(), index, what));
    }
    nl.batch(&reqs)?;
    Ok(())
}
