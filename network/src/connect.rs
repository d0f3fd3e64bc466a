//! Networks of a running container: `berth network connect NET ID [--ip]`
//! and `berth network disconnect NET ID`, as docker's.
//!
//! The container's netns exists and its process runs, so the work is the
//! create path's for one endpoint, done from outside:
//!
//! | step | connect | disconnect |
//! |---|---|---|
//! | store | one transaction: address, interface name, endpoint row | one transaction: the row, its address and the host ports published on that network; the default route's new holder |
//! | firewall | nothing (ports are published on the first network, at create) | one transaction expiring the ports published on that network |
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

use crate::model::Endpoint;
use crate::netlink::{req, Netlink, NetnsRef};
use crate::networks::{
    allocate_endpoint, ports_on, unknown_network, ContainerNetwork, EndpointNames, Networks,
};
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
            let own = EndpointNames::default();
            allocate_endpoint(tx, container_id, owner, req, &existing, own)
        })?;
        let made = self
            .refresh_after_reboot(std::slice::from_ref(&def))
            .and_then(|()| bring_up(&ep, netns))
            .and_then(|()| {
                // Its names, for the containers of the network; if they
                // cannot be written, the interface goes again.
                let rows = self
                    .store
                    .borrow_mut()
                    .read(|tx| tx.endpoints_of(container_id));
                let named = rows.and_then(|rows| {
                    match rows.into_iter().find(|r| r.network == ep.network) {
                        Some(row) => self.publish_names(&def, &row, None, &[]).inspect_err(|_| {
                            let _ = self.withdraw_names(&def, &row);
                        }),
                        None => Ok(()),
                    }
                });
                if named.is_err() {
                    if let Err(undo) = take_down(&ep, &[], netns) {
                        tracing::warn!(network = %ep.network, error = %undo, "undoing a failed connect");
                    }
                }
                named
            });
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
    /// after a failure, or after `network rm --force` took the network away
    /// from under the container, finishes the work.
    pub fn disconnect(
        &self,
        container_id: &str,
        owner: &Path,
        netns: BorrowedFd<'_>,
        plan: &mut ContainerNetwork,
        network: &str,
    ) -> Result<Endpoint> {
        let (row, ports, def) = self.store.borrow_mut().read(|tx| {
            let row = own_rows(tx, container_id, owner)?
                .into_iter()
                .find(|r| r.network == network);
            let ports = ports_on(&tx.ports_of(container_id)?, network);
            Ok((row, ports, tx.network(network)?))
        })?;
        if let (Some(row), Some(def)) = (&row, &def) {
            self.withdraw_names(def, row)?;
        }
        let ep = match (row, plan.endpoints.iter().find(|e| e.network == network)) {
            (Some(row), _) => row.endpoint,
            // Released in the store but still in the container's state
            // (`network rm --force`, or a disconnect that stopped before
            // the state was saved): the device and the state are left.
            (None, Some(ep)) => ep.clone(),
            (None, None) if def.is_none() => return Err(unknown_network(network)),
            (None, None) => return Err(not_connected(container_id, network)),
        };
        if let Some(def) = def.as_ref().filter(|d| d.driver.has_bridge()) {
            firewall::detach(def, &ep, &ports)?;
        }
        plan.endpoints.retain(|e| e.network != network);
        let heirs = hand_over_default_routes(&ep, &mut plan.endpoints);
        take_down(&ep, &heirs, netns)?;
        self.store.borrow_mut().write(|tx| {
            tx.delete_endpoint(container_id, network)?;
            for heir in &heirs {
                tx.update_endpoint(container_id, heir)?;
            }
            Ok(())
        })?;
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

/// Hands the default routes `leaving` had to the first endpoints of
/// `remaining` (in the container's order) with a gateway of that family.
/// Returns the endpoints that took one, as they are now.
fn hand_over_default_routes(leaving: &Endpoint, remaining: &mut [Endpoint]) -> Vec<Endpoint> {
    let mut heirs: Vec<usize> = Vec::new();
    if leaving.routes_default4() {
        if let Some(i) = remaining.iter().position(|e| !e.gateway4.is_unspecified()) {
            remaining[i].default_route4 = true;
            heirs.push(i);
        }
    }
    if leaving.routes_default6() {
        if let Some(i) = remaining.iter().position(|e| e.gateway6.is_some()) {
            remaining[i].default_route6 = true;
            if !heirs.contains(&i) {
                heirs.push(i);
            }
        }
    }
    heirs.into_iter().map(|i| remaining[i].clone()).collect()
}

/// The device of `ep`, made with its peer inside `netns` and attached on
/// the host, then its addresses and routes set inside (a connected network
/// publishes no ports: no firewall elements). On error, what was made is removed.
fn bring_up(ep: &Endpoint, netns: BorrowedFd<'_>) -> Result<()> {
    let mut nl = Netlink::open()?;
    strategy::create_and_attach(&mut nl, ep, NetnsRef::Fd(netns))?;
    // No firewall elements: a connected network publishes no ports.
    let inside = Netlink::open_in_netns(netns)
        .map_err(Error::from)
        .and_then(|mut inside| strategy::strategy(ep.driver).initialize(&mut inside, ep));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{mac_from_ipv4, Driver, PortMapping};
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// An endpoint on network `name` (10.213.`x`.0/24, and fd00:213:`x`::/64
    /// with `v6`), with the default routes `d4`, `d6`.
    fn ep(name: &str, x: u8, v6: bool, d4: bool, d6: bool) -> Endpoint {
        let ip = Ipv4Addr::new(10, 213, x, 2);
        let v6addr = |host| Ipv6Addr::new(0xfd00, 0x213, x.into(), 0, 0, 0, 0, host);
        Endpoint {
            network: name.into(),
            driver: Driver::Bridge,
            ifname: format!("eth{x}"),
            host_ifname: format!("bv{x}"),
            temp_ifname: format!("eth{x}"),
            mac: mac_from_ipv4(ip),
            mtu: 1500,
            ipv4: ip,
            prefix4: 24,
            gateway4: Ipv4Addr::new(10, 213, x, 1),
            ipv6: v6.then(|| v6addr(2)),
            prefix6: 64,
            gateway6: v6.then(|| v6addr(1)),
            bridge: Some(format!("br{x}")),
            parent: None,
            mode: None,
            default_route4: d4,
            default_route6: d6,
            name: String::new(),
            aliases: Vec::new(),
        }
    }

    fn routes(eps: &[Endpoint]) -> Vec<(bool, bool)> {
        eps.iter()
            .map(|e| (e.routes_default4(), e.routes_default6()))
            .collect()
    }

    #[test]
    fn the_next_network_takes_the_default_routes() {
        // a (IPv4, both defaults) leaves b (IPv4) and c (IPv4 + IPv6).
        let leaving = ep("a", 30, true, true, true);
        let mut rest = vec![
            ep("b", 31, false, false, false),
            ep("c", 32, true, false, false),
        ];
        let heirs = hand_over_default_routes(&leaving, &mut rest);
        assert_eq!(routes(&rest), [(true, false), (false, true)]);
        assert_eq!(
            heirs.iter().map(|e| e.network.as_str()).collect::<Vec<_>>(),
            ["b", "c"]
        );
        // One endpoint taking both routes is named once.
        let mut rest = vec![ep("c", 32, true, false, false)];
        let heirs = hand_over_default_routes(&leaving, &mut rest);
        assert_eq!(routes(&rest), [(true, true)]);
        assert_eq!(heirs.len(), 1);
    }

    #[test]
    fn endpoints_are_allocated_and_released_one_network_at_a_time() {
        use crate::model::Protocol;
        use crate::store::tests::{def, tempdir};
        use crate::store::Store;
        let dir = tempdir();
        let owner = Path::new("/run/berth/c1");
        let mut store = Store::open(&dir).unwrap();
        let (a, mut b) = (def("a", "10.213.30.0/24"), def("b", "10.213.31.0/24"));
        b.index = 1;
        store
            .write(|tx| {
                tx.insert_network(&a, "boot")?;
                tx.insert_network(&b, "boot")
            })
            .unwrap();
        let request = |name: &str| crate::request::connect_request(name, None, &[]).unwrap();
        let allocate = |store: &mut Store, name: &str, existing: &[Endpoint]| {
            store
                .write_with(|tx| {
                    let own = EndpointNames::default();
                    allocate_endpoint(tx, "c1", owner, &request(name), existing, own)
                })
                .map(|(ep, _)| ep)
        };
        // The first network has the default routes, the next one not.
        let first = allocate(&mut store, "a", &[]).unwrap();
        let second = allocate(&mut store, "b", std::slice::from_ref(&first)).unwrap();
        assert_eq!(
            [
                (&first.ifname, first.default_route4),
                (&second.ifname, second.default_route4)
            ],
            [(&"eth0".to_string(), true), (&"eth1".to_string(), false)]
        );
        assert_eq!(second.ipv4, Ipv4Addr::new(10, 213, 31, 2));
        let port = |host_port| PortMapping {
            host_ip: None,
            host_port,
            container_port: 80,
            protocol: Protocol::Tcp,
        };
        store
            .write(|tx| {
                tx.insert_port("c1", "a", &port(23001))?;
                tx.insert_port("c1", "b", &port(23002))
            })
            .unwrap();
        // Leaving b releases its address and its port only.
        let mut heir = first.clone();
        heir.default_route6 = false;
        let row = store
            .write(|tx| {
                let row = tx.delete_endpoint("c1", "b")?;
                tx.update_endpoint("c1", &heir)?;
                Ok(row)
            })
            .unwrap();
        assert_eq!(row.map(|r| r.endpoint), Some(second));
        store
            .read(|tx| {
                let rows = tx.endpoints_of("c1")?;
                assert_eq!(rows.len(), 1);
                assert_eq!(rows[0].endpoint, heir);
                assert_eq!(tx.ports_of("c1")?, [("a".to_string(), port(23001))]);
                assert_eq!(tx.port_holder(&port(23002))?, None);
                // a: one address besides the reserved ones; b: none.
                assert!(tx.allocated_bits("b")? < tx.allocated_bits("a")?);
                assert_eq!(tx.delete_endpoint("c1", "b")?.map(|r| r.network), None);
                Ok(())
            })
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_endpoint_without_default_routes_hands_over_nothing() {
        let leaving = ep("b", 31, false, false, false);
        let mut rest = vec![ep("a", 30, false, true, false)];
        assert!(hand_over_default_routes(&leaving, &mut rest).is_empty());
        assert_eq!(routes(&rest), [(true, false)]);
        // Nobody left to take them.
        let leaving = ep("a", 30, true, true, true);
        assert!(hand_over_default_routes(&leaving, &mut []).is_empty());
    }
}
