//! Network strategies: how a container gets its interface on a network.
//!
//! One module per strategy and one registry ([`registered`], by [`Kind`]):
//! `loopback` (`lo` up in every new netns), `veth` (driver `bridge`),
//! `macvlan` and `ipvlan`. A network's driver names its strategy
//! ([`strategy`]). Each strategy has the steps of the create path (runc's
//! old `networkStrategy`, with teardown added):
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
//! undo on failure. What every new netns gets whatever its endpoints (`lo`
//! up: the `loopback` strategy's [`NetworkStrategy::netns_requests`]) is sent
//! by [`initialize_netns`] when the container has no network, and at the head
//! of each driver's `initialize` batch otherwise.
//!
//! [`validate`] checks an endpoint without touching the host (names, bridge or
//! parent, mode), so that bad input is refused before anything is created;
//! [`validate_mode`] does the mode part for `network create`.
//!
//! Where the rest of the network layer uses it:
//!
//! ```text
//! network create, reboot:   bridge::ensure_bridge (bridge networks, from
//!                           Networks::make_host_objects; not per container)
//! parent, init has a netns: let mut nl = Netlink::open()?;          // host netns
//!                           strategy::create_and_attach(&mut nl, ep, netns)?
//!                           // validate, create, attach; on error the
//!                           // endpoints already made are torn down
//! container side, either    in the init before exec: Netlink::open()?, or
//!                           from outside (CNI): Netlink::open_in_netns(netns fd)?
//!                           strategy(ep.driver).initialize(&mut inside, ep)?
//!                           // lo up at the head of each batch
//! netns without networks:   strategy::initialize_netns(&mut Netlink::open()?)?
//! network rm --force, CNI DEL, a failed create:
//!                           strategy(ep.driver).teardown(&mut nl, ep)?
//! ```
//!
//! Container delete does not tear down: the devices die with the netns.
//!
//! Teardown is one failed `RTM_DELLINK` (~25 µs) once the netns is gone;
//! while anything holds the netns (a process, an open `/proc/PID/ns/net`
//! fd, a socket opened in it) the pair is still there and deleting it costs
//! ~30 ms of kernel RCU waits, so drop such handles before tearing down.

pub mod ipvlan;
pub mod loopback;
pub mod macvlan;
pub mod veth;

use crate::model::{Driver, Endpoint};
use crate::netlink::{req, Netlink, NetnsRef, Request};
use crate::{Error, Result};

pub trait NetworkStrategy: Sync {
    /// Driver-specific checks of an endpoint, without any system call.
    fn validate(&self, ep: &Endpoint) -> Result<()>;
    /// Host side, in the parent, once the container's netns exists. Undoes its own partial work on error.
    fn create(&self, nl: &mut Netlink, ep: &Endpoint, netns: NetnsRef<'_>) -> Result<()>;
    /// Host-side membership: bridge master, MTU, hairpin, link up.
    /// Default: nothing (the strategy has no device on the host side).
    fn attach(&self, _nl: &mut Netlink, _ep: &Endpoint) -> Result<()> {
        Ok(())
    }
    /// Leaves the bridge and takes the host end down. A missing device is
    /// not an error. Default: nothing.
    fn detach(&self, _nl: &mut Netlink, _ep: &Endpoint) -> Result<()> {
        Ok(())
    }
    /// Requests that set up the container's netns itself, whatever its
    /// endpoints, sent first (see [`initialize_netns`]). Default: none.
    fn netns_requests(&self) -> Result<Vec<Request>> {
        Ok(Vec::new())
    }
    /// Inside the container's netns, before exec: rename temp_ifname → ifname, MAC, MTU, addresses, up, default routes (of the endpoint that carries them).
    fn initialize(&self, nl: &mut Netlink, ep: &Endpoint) -> Result<()>;
    /// The endpoint's device on the host side, if the strategy makes one
    /// (a veth's host end): while it exists, the container's netns does.
    /// Default: none.
    fn host_end<'a>(&self, _ep: &'a Endpoint) -> Option<&'a str> {
        None
    }
    /// Undo `create` from the host. Idempotent: a missing device is not an
    /// error. Default: nothing (a device made in init's netns dies with it).
    fn teardown(&self, _nl: &mut Netlink, _ep: &Endpoint) -> Result<()> {
        Ok(())
    }
}

/// `validate` of a sub-interface driver (macvlan, ipvlan): a parent with a
/// valid name and a mode the driver knows.
fn validate_sub_interface(driver: Driver, ep: &Endpoint) -> Result<()> {
    let parent = parent_of(ep)?;
    check_name(ep, "parent", parent)?;
    validate_mode(driver, ep.mode.as_deref()).map_err(|reason| endpoint_error(ep, reason))
}

/// What a strategy is registered under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Loopback,
    Veth,
    Macvlan,
    Ipvlan,
}

impl Kind {
    /// Every registered strategy, in the order their
    /// [`NetworkStrategy::netns_requests`] are sent.
    pub const ALL: [Kind; 4] = [Kind::Loopback, Kind::Veth, Kind::Macvlan, Kind::Ipvlan];

    /// The strategy that gives a network of `driver` its interfaces.
    pub fn of(driver: Driver) -> Kind {
        match driver {
            Driver::Bridge => Kind::Veth,
            Driver::Macvlan => Kind::Macvlan,
            Driver::Ipvlan => Kind::Ipvlan,
        }
    }
}

/// The registry: the strategy registered under `kind`.
pub fn registered(kind: Kind) -> &'static dyn NetworkStrategy {
    match kind {
        Kind::Loopback => &loopback::Loopback,
        Kind::Veth => &veth::Veth,
        Kind::Macvlan => &macvlan::Macvlan,
        Kind::Ipvlan => &ipvlan::Ipvlan,
    }
}

/// The strategy of a driver.
pub fn strategy(driver: Driver) -> &'static dyn NetworkStrategy {
    registered(Kind::of(driver))
}

/// Every registered strategy's [`NetworkStrategy::netns_requests`].
fn netns_requests() -> Result<Vec<Request>> {
    let mut reqs = Vec::new();
    for kind in Kind::ALL {
        reqs.extend(registered(kind).netns_requests()?);
    }
    Ok(reqs)
}

/// Sets up a new netns that gets no endpoint (`lo` up), in one batch.
pub fn initialize_netns(nl: &mut Netlink) -> Result<()> {
    nl.batch(&netns_requests()?)?;
    Ok(())
}

/// Checks an endpoint before anything is made: interface names (1 to 15
/// bytes, no '/' or spaces), prefixes, and what its driver needs.
pub fn validate(ep: &Endpoint) -> Result<()> {
    for (what, name) in [("ifname", &ep.ifname), ("temp_ifname", &ep.temp_ifname)] {
        check_name(ep, what, name)?;
    }
    if ep.prefix4 > 32 || (ep.ipv6.is_some() && ep.prefix6 > 128) {
        return Err(endpoint_error(ep, "address prefix out of range"));
    }
    if ep.ipv6.is_none() && ep.gateway6.is_some() {
        return Err(endpoint_error(
            ep,
            "an IPv6 gateway without an IPv6 address",
        ));
    }
    strategy(ep.driver).validate(ep)
}

/// Checks a driver's mode name (`None`: the driver's default).
pub fn validate_mode(driver: Driver, mode: Option<&str>) -> std::result::Result<(), String> {
    let Some(mode) = mode else { return Ok(()) };
    let known = match driver {
        Driver::Bridge => return Err(format!("driver bridge takes no mode (got {mode:?})")),
        Driver::Macvlan => crate::netlink::macvlan_mode(mode).is_some(),
        Driver::Ipvlan => crate::netlink::ipvlan_mode(mode).is_some(),
    };
    if known {
        Ok(())
    } else {
        Err(match driver {
            Driver::Macvlan => {
                format!("unknown macvlan mode {mode:?} (bridge, private, vepa, passthru, source)")
            }
            _ => format!("unknown ipvlan mode {mode:?} (l2, l3, l3s)"),
        })
    }
}

/// The parent device of a macvlan/ipvlan endpoint.
pub(crate) fn parent_of(ep: &Endpoint) -> Result<&str> {
    ep.parent.as_deref().ok_or_else(|| {
        endpoint_error(
            ep,
            format!("a {} endpoint without a parent device", ep.driver.name()),
        )
    })
}

pub(crate) fn check_name(ep: &Endpoint, what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= crate::netlink::IFNAME_MAX
        && !name.contains(['/', '\0', ':'])
        && !name.contains(char::is_whitespace)
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(endpoint_error(
            ep,
            format!(
                "{what} {name:?} is not a valid interface name (1 to {} bytes, no '/', ':' or spaces)",
                crate::netlink::IFNAME_MAX
            ),
        ))
    }
}

/// `create` then `attach`; if `attach` fails, `teardown` undoes `create`.
pub fn create_and_attach(nl: &mut Netlink, ep: &Endpoint, netns: NetnsRef<'_>) -> Result<()> {
    validate(ep)?;
    let s = strategy(ep.driver);
    s.create(nl, ep, netns)?;
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
/// the addresses and the default routes (when the endpoint carries them:
/// [`Endpoint::default_route4`]).
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
    let mut reqs: Vec<Request> = netns_requests()?;
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
    if ep.routes_default4() {
        reqs.push(req::add_default_route(ep.gateway4.into(), index, what));
    }
    if let Some(gw6) = ep.gateway6.filter(|_| ep.routes_default6()) {
        reqs.push(req::add_default_route(gw6.into(), index, what));
    }
    nl.batch(&reqs)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::mac_from_ipv4;
    use std::net::Ipv4Addr;

    fn ep(driver: Driver) -> Endpoint {
        let ip = Ipv4Addr::new(10, 213, 1, 2);
        Endpoint {
            network: "n".into(),
            driver,
            ifname: "eth0".into(),
            host_ifname: "bv0123456789ab".into(),
            temp_ifname: "bx0123456789ab".into(),
            mac: mac_from_ipv4(ip),
            mtu: 1500,
            ipv4: ip,
            prefix4: 24,
            gateway4: Ipv4Addr::new(10, 213, 1, 1),
            ipv6: None,
            prefix6: 0,
            gateway6: None,
            bridge: (driver == Driver::Bridge).then(|| "berth0".into()),
            parent: (driver != Driver::Bridge).then(|| "eth1".into()),
            mode: None,
            default_route4: true,
            default_route6: true,
        }
    }

    #[test]
    fn valid_endpoints_pass() {
        for d in [Driver::Bridge, Driver::Macvlan, Driver::Ipvlan] {
            validate(&ep(d)).unwrap();
        }
    }

    #[test]
    fn bad_endpoints_are_refused_with_the_reason() {
        let mut e = ep(Driver::Bridge);
        e.host_ifname = "bv0123456789abcd".into();
        assert!(validate(&e)
            .unwrap_err()
            .to_string()
            .contains("host_ifname"));
        let mut e = ep(Driver::Bridge);
        e.ifname = "eth 0".into();
        assert!(validate(&e).unwrap_err().to_string().contains("ifname"));
        let mut e = ep(Driver::Bridge);
        e.bridge = None;
        assert!(validate(&e).unwrap_err().to_string().contains("bridge"));
        let mut e = ep(Driver::Macvlan);
        e.parent = None;
        assert!(validate(&e).unwrap_err().to_string().contains("parent"));
        let mut e = ep(Driver::Macvlan);
        e.mode = Some("l2".into());
        assert!(validate(&e)
            .unwrap_err()
            .to_string()
            .contains("macvlan mode"));
        let mut e = ep(Driver::Ipvlan);
        e.mode = Some("l3s".into());
        validate(&e).unwrap();
        e.prefix4 = 33;
        assert!(validate(&e).is_err());
    }

    #[test]
    fn every_netns_gets_lo_up_from_the_loopback_strategy() {
        let reqs = netns_requests().unwrap();
        let ops: Vec<&str> = reqs.iter().map(|r| r.op.as_str()).collect();
        assert_eq!(ops, ["setting up on lo"]);
        assert_eq!(
            registered(Kind::Loopback).netns_requests().unwrap().len(),
            1
        );
        for d in [Driver::Bridge, Driver::Macvlan, Driver::Ipvlan] {
            assert_ne!(Kind::of(d), Kind::Loopback);
            assert!(strategy(d).netns_requests().unwrap().is_empty());
        }
    }

    #[test]
    fn modes() {
        assert!(validate_mode(Driver::Macvlan, Some("vepa")).is_ok());
        assert!(validate_mode(Driver::Ipvlan, None).is_ok());
        assert!(validate_mode(Driver::Ipvlan, Some("vepa")).is_err());
        assert!(validate_mode(Driver::Bridge, Some("l2")).is_err());
    }
}
