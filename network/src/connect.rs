//! Networks of a running container: `berth network connect NET ID [--ip]`
//! and `berth network disconnect NET ID`, as docker's.
//!
//! The container's netns exists and its process runs, so the work is the
//! create path's for one endpoint, done from outside:
//!
//! | step | connect | disconnect |
//! |---|---|---|
//! | store | one transaction: address, interface name, endpoint row | one transaction: the row, its address and the host ports published on that network; the default route's new holder |
//! | firewall | the endpoint's published ports (none: ports are published on the first network, at create) | one transaction expiring the ports published on that network |
//! | devices | veth made with its peer inside the netns, host end on the bridge (the strategy's `create` + `attach`) | the device deleted inside the netns |
//! | inside | addresses and routes through a netlink socket opened in the netns (the strategy's `initialize`) | the default routes moved to the next network's gateway when the one leaving had them |
//!
//! The first network's gateway keeps the default route (docker's rule): a
//! connected network gets it only when the container has none; when the
//! network that has it is disconnected, the next one in the container's
//! order takes it.
//!
//! [`Networks::connect`] and [`Networks::disconnect`] are the one place
//! where an endpoint joins or leaves a running container: what else must
//! follow an endpoint (names, hosts files) is added there.

use crate::model::{Driver, Endpoint, NetworkDef, PortMapping};
use crate::netlink::{req, Netlink, NetnsRef};
use crate::networks::{allocate_endpoint, unknown_network, ContainerNetwork, Networks};
use crate::request::NetworkRequest;
use crate::store::{EndpointRow, Tx};
use crate::{firewall, strategy, Error, Result};
use std::os::fd::BorrowedFd;
use std::path::Path;

impl Networks {
    /// Connects container `container_id` (state directory `owner`, network
    /// namespace `netns`) to the network `req` names, and records the new
    /// endpoint in `plan`, the container's network as its state has it.
    /// Undoes its own work on error.
    pub fn connect(
        &self,
        container_id: &str,
        owner: &Path,
        netns: BorrowedFd<'_>,
        plan: &mut ContainerNetwork,
        req: &NetworkRequest,
    ) -> Result<Endpoint> {
        let (ep, def) = self.write_reclaiming(|tx| {
            let rows = own_rows(tx, container_id, owner)?;
            if rows.iter().any(|r| r.network == req.name) {
                return Err(already_connected(container_id, &req.name).into());
            }
            let existing: Vec<Endpoint> = rows.into_iter().map(|r| r.endpoint).collect();
            allocate_endpoint(tx, container_id, owner, req, &existing)
        })?;
        let made = self
            .refresh_after_reboot(std::slice::from_ref(&def))
            .and_then(|()| bring_up(&def, &ep, netns));
        if let Err(e) = made {
            if let Err(undo) = self
                .store
                .borrow_mut()
                .write(|tx| tx.delete_endpoint(container_id, &ep.network))
            {
                tracing::warn!(network = %ep.network, error = %undo, "releasing a failed connect");
            }
            return Err(e);
        }
        plan.endpoints.push(ep.clone());
        if !plan.networks.iter().any(|d| d.name == def.name) {
            plan.networks.push(def);
        }
        Ok(ep)
    }

    /// Disconnects container `container_id` (state directory `owner`,
    /// network namespace `netns`) from `network`: its published ports on
    /// that network stop, its interface goes, its address is released, and
    /// `plan` follows. Returns the endpoint that went. Running it again
    /// after a failure finishes the work.
    pub fn disconnect(
        &self,
        container_id: &str,
        owner: &Path,
        netns: BorrowedFd<'_>,
        plan: &mut ContainerNetwork,
        network: &str,
    ) -> Result<Endpoint> {
        let (row, ports, def) = self.store.borrow_mut().read(|tx| {
            let rows = own_rows(tx, container_id, owner)?;
            let Some(row) = rows.into_iter().find(|r| r.network == network) else {
                return Err(match tx.network(network)? {
                    None => unknown_network(network),
                    Some(_) => not_connected(container_id, network),
                });
            };
            let ports: Vec<PortMapping> = tx
                .ports_of(container_id)?
                .into_iter()
                .filter(|(n, _)| n == network)
                .map(|(_, m)| m)
                .collect();
            Ok((row, ports, tx.network(network)?))
        })?;
        let ep = row.endpoint;
        if let Some(def) = def.as_ref().filter(|d| d.driver == Driver::Bridge) {
            firewall::detach(def, &ep, &ports)?;
        }
        // The endpoints that take over the default routes, in the
        // container's order.
        let remaining: Vec<&Endpoint> = plan
            .endpoints
            .iter()
            .filter(|e| e.network != network)
            .collect();
        let heir4 = remaining
            .iter()
            .find(|e| !e.gateway4.is_unspecified())
            .filter(|_| ep.routes_default4())
            .map(|e| e.network.clone());
        let heir6 = remaining
            .iter()
            .find(|e| e.gateway6.is_some())
            .filter(|_| ep.routes_default6())
            .map(|e| e.network.clone());
        for e in plan.endpoints.iter_mut() {
            e.default_route4 |= heir4.as_deref() == Some(&e.network);
            e.default_route6 |= heir6.as_deref() == Some(&e.network);
        }
        let heirs: Vec<Endpoint> = plan
            .endpoints
            .iter()
            .filter(|e| {
                [&heir4, &heir6]
                    .iter()
                    .any(|h| h.as_deref() == Some(&e.network))
            })
            .cloned()
            .collect();
        take_down(&ep, &heirs, netns)?;
        self.store.borrow_mut().write(|tx| {
            tx.delete_endpoint(container_id, network)?;
            for heir in &heirs {
                tx.update_endpoint(container_id, heir)?;
            }
            Ok(())
        })?;
        plan.endpoints.retain(|e| e.network != network);
        plan.networks.retain(|d| d.name != network);
        plan.ports.retain(|(n, _)| n != network);
        Ok(ep)
    }
}

/// The endpoint rows of `container_id`, refused when another container
/// (another root's, with the same id) holds them.
fn own_rows(tx: &Tx, container_id: &str, owner: &Path) -> Result<Vec<EndpointRow>> {
    let rows = tx.endpoints_of(container_id)?;
    if let Some(row) = rows.iter().find(|r| r.owner != owner) {
        return Err(Error::Invalid(format!(
            "container id {container_id}: its endpoint on network {} is held by another container ({})",
            row.network,
            row.owner.display()
        )));
    }
    Ok(rows)
}

fn already_connected(container_id: &str, network: &str) -> Error {
    Error::Invalid(format!(
        "container {container_id} is already connected to network {network}"
    ))
}

fn not_connected(container_id: &str, network: &str) -> Error {
    Error::Invalid(format!(
        "container {container_id} is not connected to network {network}"
    ))
}

/// The device of `ep`, made with its peer inside `netns` and attached on
/// the host, its firewall elements, then its addresses and routes set
/// inside. On error, what was made is removed.
fn bring_up(def: &NetworkDef, ep: &Endpoint, netns: BorrowedFd<'_>) -> Result<()> {
    let mut nl = Netlink::open()?;
    strategy::create_and_attach(&mut nl, ep, NetnsRef::Fd(netns))?;
    let inside = (|| {
        if def.driver == Driver::Bridge {
            firewall::attach(def, ep, &[])?;
        }
        let mut inside = Netlink::open_in_netns(netns)?;
        strategy::strategy(ep.driver).initialize(&mut inside, ep)
    })();
    if let Err(e) = inside {
        if let Err(undo) = take_down(ep, &[], netns) {
            tracing::warn!(network = %ep.network, error = %undo, "undoing a failed connect");
        }
        return Err(e);
    }
    Ok(())
}

/// Inside `netns`, in one batch: deletes `ep`'s device (its veth peer on
/// the host goes with it) and adds the default routes `heirs` now carry.
/// A device already gone is fine.
fn take_down(ep: &Endpoint, heirs: &[Endpoint], netns: BorrowedFd<'_>) -> Result<()> {
    let mut nl = Netlink::open_in_netns(netns)?;
    let mut reqs = Vec::new();
    for name in [&ep.ifname, &ep.temp_ifname] {
        if let Some(index) = nl.link_index(name)? {
            reqs.push(req::del_link(index, name));
            break;
        }
    }
    for heir in heirs {
        let index = nl
            .link_index(&heir.ifname)?
            .ok_or_else(|| Error::Endpoint {
                network: heir.network.clone(),
                reason: format!(
                    "{} is not in the container's netns: no default route through it",
                    heir.ifname
                ),
            })?;
        if heir.routes_default4() {
            reqs.push(req::add_default_route(
                heir.gateway4.into(),
                index,
                &heir.ifname,
            ));
        }
        if let Some(gw6) = heir.gateway6.filter(|_| heir.routes_default6()) {
            reqs.push(req::add_default_route(gw6.into(), index, &heir.ifname));
        }
    }
    nl.batch(&reqs)?;
    Ok(())
}
