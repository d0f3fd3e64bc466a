//! Networks and the endpoints of containers on them: the bookkeeping that
//! ties the store, IPAM, the strategies, the bridge and the firewall together.
//!
//! - `berth network create|ls|inspect|rm` → [`Networks::create_network`],
//!   [`Networks::list`], [`Networks::inspect`], [`Networks::remove`].
//! - Container create → [`Networks::prepare`] (one store transaction:
//!   addresses, endpoints, ports) → [`ContainerNetwork::create`] in the parent
//!   → [`ContainerNetwork::initialize`] in the init.
//! - Container delete → [`Networks::release`].
//! - `berth network connect|disconnect` of a running container →
//!   [`Networks::connect`], [`Networks::disconnect`] (in `connect.rs`),
//!   whose allocation is `allocate_endpoint`, as `prepare`'s is per network.
//!
//! An allocation whose owner (the container's state directory) no longer
//! exists is a leak — berth was killed, or a reboot cleared the runtime root —
//! and is reclaimed when it is in the way: when a subnet is full, when a host
//! port is taken, when the same container id comes again, and on inspect/rm.
//! Not while its veth's host end is still there, though: then the container
//! lives on (its state directory was removed behind berth's back) and keeps
//! its addresses and ports.

use crate::hostsfile;
use crate::listeners::{self, Listeners};
use crate::model::{
    format_mac, mac_from_ipv4, Driver, Endpoint, Ipv4Net, Ipv6Net, NetworkDef, PortMapping,
    Protocol,
};
use crate::names::{self, NamesRequest};
use crate::netlink::{Netlink, NetnsRef};
use crate::request::{self, NetworkRequest, PublishRequest};
use crate::store::{EndpointRow, Store, Tx};
use crate::{bridge, firewall, forwarding, host, ipam, strategy, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// The network made on first use when a container asks for `default`.
pub const DEFAULT_NETWORK: &str = "default";
/// Where subnets are taken from when none is given: /24s of this range
/// that overlap neither another berth network nor a host route.
pub const DEFAULT_POOL: &str = "10.213.0.0/16";
/// The most containers on one bridge network ([`bridge::MAX_PORTS`]).
pub const MAX_BRIDGE_PORTS: u32 = bridge::MAX_PORTS;
/// The longest container id that is an endpoint's name by default (a
/// longer one leaves the endpoint without a name unless `name=` gives one).
pub const DEFAULT_NAME_MAX: usize = 64;
/// The container's copy of its first network's hosts file, in its state
/// directory, when it has `--add-host` entries.
const HOSTS_COPY: &str = "hosts";

/// `berth network create` options.
#[derive(Debug, Clone, Default)]
pub struct NetworkCreate {
    pub name: String,
    pub driver: Option<String>,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub bridge: Option<String>,
    pub parent: Option<String>,
    pub mode: Option<String>,
    pub mtu: Option<u32>,
    pub subnet6: Option<String>,
    pub gateway6: Option<String>,
    pub internal: bool,
    pub no_masquerade: bool,
    pub labels: Vec<String>,
}

/// Handle on the persistent network state.
pub struct Networks {
    pub(crate) store: RefCell<Store>,
    /// Where the store and the networks' hosts files are.
    state_dir: PathBuf,
}

/// A container's endpoints and published ports, decided before the init is
/// cloned, so that the child's copy of it is the plan the parent executes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerNetwork {
    pub endpoints: Vec<Endpoint>,
    /// Published ports, with the name of the network they are reached on.
    pub ports: Vec<(String, PortMapping)>,
    /// The definitions of the networks the endpoints are on.
    pub networks: Vec<NetworkDef>,
    /// The container's /etc/hosts, /etc/resolv.conf and /etc/hostname
    /// (`names.rs`); none for a CNI attachment.
    #[serde(default)]
    pub files: Option<names::ContainerFiles>,
}

impl Networks {
    pub fn open(state_dir: &Path) -> Result<Self> {
        Ok(Self {
            store: RefCell::new(Store::open(state_dir)?),
            state_dir: state_dir.to_owned(),
        })
    }

    // ---- networks ----

    pub fn create_network(&self, opts: &NetworkCreate) -> Result<NetworkDef> {
        if !request::valid_network_name(&opts.name) {
            return Err(Error::Invalid(format!(
                "network name {:?}: 1-64 characters of [A-Za-z0-9_.-], starting with a letter or digit",
                opts.name
            )));
        }
        let name = opts.driver.as_deref().unwrap_or(Driver::Bridge.name());
        let driver = Driver::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = Driver::ALL.iter().map(|d| d.name()).collect();
            Error::Invalid(format!(
                "unknown network driver {name:?} (known: {})",
                known.join(", ")
            ))
        })?;
        check_driver_options(driver, opts)?;
        let subnet = opts.subnet.as_deref().map(Ipv4Net::parse).transpose()?;
        if let Some(subnet) = subnet {
            ipam::check_subnet_size(subnet)?;
        }
        let subnet6 = opts.subnet6.as_deref().map(Ipv6Net::parse).transpose()?;
        let mtu = opts.mtu.unwrap_or(1500);
        if !(68..=65535).contains(&mtu) {
            return Err(Error::Invalid(format!("--mtu {mtu}: 68-65535")));
        }
        let mut labels = BTreeMap::new();
        for label in &opts.labels {
            let (k, v) = label.split_once('=').unwrap_or((label, ""));
            if k.is_empty() {
                return Err(Error::Invalid(format!("--label {label:?}: expected k=v")));
            }
            labels.insert(k.to_string(), v.to_string());
        }
        if let Some(bridge) = &opts.bridge {
            if !request::valid_ifname(bridge) {
                return Err(Error::Invalid(format!(
                    "--bridge {bridge:?}: 1-15 bytes, no '/', ':' or whitespace"
                )));
            }
        }
        let routes4 = host::ipv4_routes();
        let routes6 = host::ipv6_routes();
        let mut nl = Netlink::open()?;
        if let Some(parent) = &opts.parent {
            if nl.link_index(parent)?.is_none() {
                return Err(Error::Invalid(format!(
                    "--parent {parent}: no such interface"
                )));
            }
        }

        // Decide and record in one transaction: name, bridge, subnet and
        // index are unique among berth's networks.
        let def = self.store.borrow_mut().write(|tx| {
            if tx.network(&opts.name)?.is_some() {
                return Err(Error::Invalid(format!(
                    "network {} already exists",
                    opts.name
                )));
            }
            let others = tx.networks()?;
            let index = tx.free_index()?;
            let subnet = match subnet {
                Some(s) => s,
                None => pick_subnet(&others, &routes4)?,
            };
            for other in &others {
                if other.subnet.overlaps(subnet) {
                    return Err(Error::Invalid(format!(
                        "subnet {subnet} overlaps network {} ({})",
                        other.name, other.subnet
                    )));
                }
                if let (Some(a), Some(b)) = (subnet6, other.subnet6) {
                    if a.overlaps(b) {
                        return Err(Error::Invalid(format!(
                            "IPv6 subnet {a} overlaps network {} ({b})",
                            other.name
                        )));
                    }
                }
            }
            if let Some((dev, route)) = routes4.iter().find(|(_, r)| r.overlaps(subnet)) {
                return Err(Error::Invalid(format!(
                    "subnet {subnet} overlaps the host's route to {route} on {dev}"
                )));
            }
            if let Some(s6) = subnet6 {
                if let Some((dev, route)) = routes6.iter().find(|(_, r)| r.overlaps(s6)) {
                    return Err(Error::Invalid(format!(
                        "IPv6 subnet {s6} overlaps the host's route to {route} on {dev}"
                    )));
                }
                if !s6.holds_offsets_of(subnet) {
                    return Err(Error::Invalid(format!(
                        "IPv6 subnet {s6} is smaller than the IPv4 subnet {subnet}: a container's IPv6 address uses its IPv4 host number"
                    )));
                }
            }
            let gateway = match &opts.gateway {
                Some(g) => {
                    let g: Ipv4Addr = g.parse().map_err(|_| {
                        Error::Invalid(format!("--gateway {g:?} is not an IPv4 address"))
                    })?;
                    match subnet.offset_of(g) {
                        Some(o) if o != 0 && o != subnet.size() - 1 => g,
                        _ => {
                            return Err(Error::Invalid(format!(
                                "--gateway {g} is not a host address of {subnet}"
                            )))
                        }
                    }
                }
                None => subnet.nth(1),
            };
            let gateway6 = match (subnet6, &opts.gateway6) {
                (None, Some(_)) => {
                    return Err(Error::Invalid(
                        "--ipv6-gateway needs --ipv6-subnet".into(),
                    ))
                }
                (None, None) => None,
                (Some(s6), None) => Some(s6.nth(1)),
                (Some(s6), Some(g)) => {
                    let g: Ipv6Addr = g.parse().map_err(|_| {
                        Error::Invalid(format!("--ipv6-gateway {g:?} is not an IPv6 address"))
                    })?;
                    if !s6.contains(g) {
                        return Err(Error::Invalid(format!("--ipv6-gateway {g} is not in {s6}")));
                    }
                    Some(g)
                }
            };
            let bridge = if driver.has_bridge() {
                Some(bridge_name(tx, &mut nl, opts.bridge.as_deref(), index)?)
            } else {
                None
            };
            let def = NetworkDef {
                name: opts.name.clone(),
                driver,
                bridge,
                parent: opts.parent.clone(),
                mode: opts.mode.clone(),
                subnet,
                gateway,
                subnet6,
                gateway6,
                mtu,
                internal: opts.internal,
                masquerade: !opts.no_masquerade && !opts.internal,
                labels,
                index,
            };
            tx.insert_network(&def, &host_setup_id())?;
            Ok(def)
        })?;
        if let Err(e) = self.make_host_objects(&mut nl, &def) {
            let _ = self.remove_host_objects(&mut nl, &def);
            let _ = self
                .store
                .borrow_mut()
                .write(|tx| tx.delete_network(&def.name));
            return Err(e);
        }
        Ok(def)
    }

    /// Bridge, addresses, sysctls and firewall rules of a network. Idempotent.
    fn make_host_objects(&self, nl: &mut Netlink, def: &NetworkDef) -> Result<()> {
        if !def.driver.has_bridge() {
            return Ok(());
        }
        bridge::ensure_bridge(nl, def)?;
        let fwd = forwarding::Guard::lock(Path::new(forwarding::DIR))?;
        fwd.enable(def.subnet6.is_some())?;
        firewall::ensure_network(def)?;
        firewall::docker::allow(def)?;
        Ok(())
    }

    fn remove_host_objects(&self, nl: &mut Netlink, def: &NetworkDef) -> Result<()> {
        if !def.driver.has_bridge() {
            return Ok(());
        }
        let last = self.store.borrow_mut().read(|tx| {
            let networks = tx.networks()?;
            Ok(networks
                .iter()
                .all(|n| n.name == def.name || !n.driver.has_bridge()))
        })?;
        let fwd = forwarding::Guard::lock(Path::new(forwarding::DIR))?;
        let none_left = firewall::remove_network(def, last)?;
        // docker's rules failing to go (no iptables binary, say) must not
        // keep the bridge: its error comes after the rest of the teardown.
        let revoked = firewall::docker::revoke(def);
        if let Some(name) = &def.bridge {
            bridge::remove_bridge(nl, name)?;
        }
        // The host's last berth bridge network, of any state directory.
        if none_left {
            fwd.restore()?;
        }
        Ok(revoked?)
    }

    pub fn list(&self) -> Result<Vec<NetworkDef>> {
        self.store.borrow_mut().read(|tx| tx.networks())
    }

    /// The network `name`, if there is one.
    pub fn find(&self, name: &str) -> Result<Option<NetworkDef>> {
        self.store.borrow_mut().read(|tx| tx.network(name))
    }

    /// Makes `def`'s bridge, sysctls and firewall elements if they are
    /// missing (another process made the network and may not have got
    /// there yet). Idempotent.
    pub fn ensure_host_objects(&self, def: &NetworkDef) -> Result<()> {
        self.make_host_objects(&mut Netlink::open()?, def)
    }

    /// The ids of the containers with an endpoint on `network`.
    pub fn containers_on(&self, network: &str) -> Result<Vec<String>> {
        let rows = self
            .store
            .borrow_mut()
            .read(|tx| tx.endpoints_on(network))?;
        Ok(rows.into_iter().map(|r| r.container).collect())
    }

    /// The endpoints recorded for `container_id`.
    pub fn endpoints_of(&self, container_id: &str) -> Result<Vec<Endpoint>> {
        let rows = self
            .store
            .borrow_mut()
            .read(|tx| tx.endpoints_of(container_id))?;
        Ok(rows.into_iter().map(|r| r.endpoint).collect())
    }

    /// The host ports published for `container_id`, with their network.
    pub fn ports_of(&self, container_id: &str) -> Result<Vec<(String, PortMapping)>> {
        self.store.borrow_mut().read(|tx| tx.ports_of(container_id))
    }

    /// How many addresses of `def`'s subnet are free.
    pub fn free_addresses(&self, def: &NetworkDef) -> Result<u32> {
        let used = self
            .store
            .borrow_mut()
            .read(|tx| tx.allocated_bits(&def.name))?;
        let reserved = reserved_count(def);
        let used = used.max(reserved) - reserved;
        Ok((def.subnet.size().saturating_sub(3)).saturating_sub(used))
    }

    pub fn get(&self, name: &str) -> Result<NetworkDef> {
        self.store
            .borrow_mut()
            .read(|tx| tx.network(name))?
            .ok_or_else(|| unknown_network(name))
    }

    /// JSON: the definition, allocated addresses with their containers, ports.
    pub fn inspect(&self, name: &str) -> Result<serde_json::Value> {
        let def = self.get(name)?;
        self.reclaim_on(name, false)?;
        let (endpoints, used, ports) = self.store.borrow_mut().read(|tx| {
            let rows = tx.endpoints_on(name)?;
            let mut ports = Vec::new();
            for row in &rows {
                for (net, m) in tx.ports_of(&row.container)? {
                    if net == name {
                        ports.push((row.container.clone(), m));
                    }
                }
            }
            Ok((rows, tx.allocated_bits(name)?, ports))
        })?;
        let containers: Vec<_> = endpoints
            .iter()
            .map(|r| {
                let ep = &r.endpoint;
                json!({
                    "id": r.container,
                    "name": (!ep.name.is_empty()).then_some(&ep.name),
                    "aliases": ep.aliases,
                    "ifname": ep.ifname,
                    "hostIfname": ep.host_ifname,
                    "mac": format_mac(&ep.mac),
                    "ipv4": format!("{}/{}", ep.ipv4, ep.prefix4),
                    "ipv6": ep.ipv6.map(|a| format!("{a}/{}", ep.prefix6)),
                })
            })
            .collect();
        let ports: Vec<_> = ports
            .iter()
            .map(|(id, m)| json!({"id": id, "port": format_port(m)}))
            .collect();
        Ok(json!({
            "name": def.name,
            "driver": def.driver.name(),
            "bridge": def.bridge,
            "parent": def.parent,
            "mode": def.mode,
            "subnet": def.subnet.to_string(),
            "gateway": def.gateway.to_string(),
            "ipv6Subnet": def.subnet6.map(|s| s.to_string()),
            "ipv6Gateway": def.gateway6.map(|g| g.to_string()),
            "mtu": def.mtu,
            "internal": def.internal,
            "masquerade": def.masquerade,
            "labels": def.labels,
            "addressesInUse": used.saturating_sub(reserved_count(&def)),
            "containers": containers,
            "ports": ports,
        }))
    }

    /// Removes a network; refused while containers are attached unless `force`.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let def = self.get(name)?;
        self.reclaim_on(name, false)?;
        let (attached, ports) = self.store.borrow_mut().read(|tx| {
            let rows = tx.endpoints_on(name)?;
            let mut ports = Vec::new();
            for row in &rows {
                ports.push(tx.ports_of(&row.container)?);
            }
            Ok((rows, ports))
        })?;
        let mut nl = Netlink::open()?;
        if !attached.is_empty() {
            if !force {
                let ids: Vec<&str> = attached.iter().map(|r| r.container.as_str()).collect();
                return Err(Error::Invalid(format!(
                    "network {name} has {} attached container(s) ({}): delete them first or use --force",
                    ids.len(),
                    ids.join(", ")
                )));
            }
            // Running containers are taken off this network only: their
            // endpoints on other networks keep their addresses. Their netns
            // lives on, and with it the veth: its host end is removed here.
            // The store rows of this network go with it below.
            for (row, ports) in attached.iter().zip(&ports) {
                if def.driver.has_bridge() {
                    firewall::detach(&def, &row.endpoint, &ports_on(ports, name))?;
                }
                strategy::strategy(row.endpoint.driver).teardown(&mut nl, &row.endpoint)?;
            }
        }
        self.remove_host_objects(&mut nl, &def)?;
        self.store
            .borrow_mut()
            .write(|tx| tx.delete_network(name))?;
        // Containers that still bind it keep their inode.
        let hosts = hostsfile::hosts_path(&self.state_dir, name);
        match std::fs::remove_file(&hosts) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!("network {name}: removing {}: {e}", hosts.display())
            }
            _ => {}
        }
        Ok(())
    }

    /// Releases allocations on `network` whose container is gone: its
    /// state directory is, or (`previous_boot`: the network was last set up
    /// in another boot) it lived in a boot that ended.
    pub(crate) fn reclaim_on(&self, network: &str, previous_boot: bool) -> Result<usize> {
        let orphans: Vec<EndpointRow> = self.store.borrow_mut().read(|tx| {
            Ok(tx
                .endpoints_on(network)?
                .into_iter()
                .filter(|r| previous_boot || !r.owner.exists())
                .collect())
        })?;
        let mut nl = None;
        let mut dead = Vec::new();
        for row in orphans {
            if !host_end_present(&row, &mut nl)? {
                dead.push(row.container);
            }
        }
        for id in &dead {
            tracing::info!(
                "network {network}: reclaiming the addresses of vanished container {id}"
            );
            self.release(id)?;
        }
        Ok(dead.len())
    }

    // ---- containers ----

    /// Parent, before clone: resolves the requests, allocates addresses and
    /// host ports and records the endpoints, in one transaction. Nothing is
    /// made on the host except, on first use, the networks themselves.
    /// `owner` is the container's state directory.
    pub fn prepare(
        &self,
        container_id: &str,
        owner: &Path,
        req: &crate::ContainerNetworkRequest,
    ) -> Result<ContainerNetwork> {
        let nets: Vec<NetworkRequest> = req
            .networks
            .iter()
            .map(|n| request::parse_network(n))
            .collect::<Result<_>>()?;
        let publish: Vec<PublishRequest> = req
            .publish
            .iter()
            .map(|p| request::parse_publish(p))
            .collect::<Result<_>>()?;
        let names = req.names()?;
        let mut plan = self.prepare_parsed(container_id, owner, nets, &publish, &names)?;
        let hosts = match names.add_hosts.is_empty() {
            true => hostsfile::hosts_path(&self.state_dir, &plan.endpoints[0].network),
            false => owner.join(HOSTS_COPY),
        };
        let ipv6 = plan.endpoints.iter().any(|e| e.ipv6.is_some());
        plan.files = Some(names::write_container_files(owner, hosts, &names, ipv6)?);
        Ok(plan)
    }

    /// [`Networks::prepare`] of requests already parsed (the CNI plugin's),
    /// with the endpoints' lines written in their networks' hosts files.
    pub fn prepare_parsed(
        &self,
        container_id: &str,
        owner: &Path,
        nets: Vec<NetworkRequest>,
        publish: &[PublishRequest],
        names: &NamesRequest,
    ) -> Result<ContainerNetwork> {
        let nets = if nets.is_empty() {
            // Publishing without naming a network means the default one.
            vec![NetworkRequest {
                name: DEFAULT_NETWORK.into(),
                ip: None,
                mac: None,
                ifname: None,
                endpoint_name: None,
                aliases: Vec::new(),
            }]
        } else {
            nets
        };
        if nets.iter().any(|n| n.name == DEFAULT_NETWORK) {
            self.ensure_default()?;
        }
        // A container id seen again: what its predecessor left is a leak,
        // unless that container still lives (in another root, or with its
        // state directory removed behind berth's back).
        let previous = self
            .store
            .borrow_mut()
            .read(|tx| tx.endpoints_of(container_id))?;
        if !previous.is_empty() {
            let mut nl = None;
            for row in &previous {
                if (row.owner != owner && row.owner.exists()) || host_end_present(row, &mut nl)? {
                    return Err(Error::Invalid(format!(
                        "container id {container_id} already has an endpoint on network {}, held by a container that is still there ({})",
                        row.network,
                        row.owner.display()
                    )));
                }
            }
            self.release(container_id)?;
        }

        // The host's listening sockets, once for every port asked for.
        let mut protocols: Vec<Protocol> = publish.iter().map(|p| p.protocol).collect();
        protocols.sort_by_key(|p| p.name());
        protocols.dedup();
        let listening = Listeners::dump(&protocols)?;

        let plan = self.write_reclaiming(|tx| {
            plan_endpoints(tx, container_id, owner, &nets, publish, names, &listening)
        })?;
        if let Err(e) = self
            .write_names(container_id, &plan, names)
            .and_then(|()| self.refresh_after_reboot(&plan.networks))
        {
            if let Err(undo) = self.release(container_id) {
                tracing::warn!("undoing the endpoints of {container_id}: {undo}");
            }
            return Err(e);
        }
        Ok(plan)
    }

    /// Writes the lines of `container_id`'s endpoints into their networks'
    /// hosts files and the copies of them, and makes the container's own
    /// copy (with its `--add-host` entries) of its first network's file.
    fn write_names(
        &self,
        container_id: &str,
        plan: &ContainerNetwork,
        names: &NamesRequest,
    ) -> Result<()> {
        let rows = self
            .store
            .borrow_mut()
            .read(|tx| tx.endpoints_of(container_id))?;
        for (i, ep) in plan.endpoints.iter().enumerate() {
            let (Some(row), Some(def)) = (
                rows.iter().find(|r| r.network == ep.network),
                plan.networks.iter().find(|d| d.name == ep.network),
            ) else {
                continue;
            };
            // The first network's file is the one the container sees: it
            // exists (locking makes it) even when this endpoint has no line.
            if row.slot.is_none() && i != 0 {
                continue;
            }
            // The hostname names the container's address on its first
            // network: the file it sees.
            let hostname = names.hostname.as_deref().filter(|_| i == 0);
            self.publish_names(def, row, hostname, &names.add_hosts)?;
        }
        Ok(())
    }

    /// Makes `row`'s endpoint resolvable on its network `def`: its lines
    /// (with `hostname` as one more name) in the network's hosts file and in
    /// every container's copy of it, and the container's own copy (with its
    /// `add_hosts`) if `row` has one. What `prepare` does for each endpoint
    /// once the allocation is committed, and what `connect` does.
    pub fn publish_names(
        &self,
        def: &NetworkDef,
        row: &EndpointRow,
        hostname: Option<&str>,
        add_hosts: &[names::AddHost],
    ) -> Result<()> {
        let (file, copies) = self.lock_hosts(def, row)?;
        if let Some(slot) = row.slot {
            let lines = hostsfile::endpoint_lines(&row.endpoint, hostname)?;
            hostsfile::add_everywhere(&file, &copies, slot, &lines)?;
        }
        if let Some(copy) = &row.hosts_copy {
            let extra = hostsfile::add_host_lines(add_hosts, row.endpoint.gateway4);
            file.copy_to(copy, &def.name, &extra)?;
        }
        Ok(())
    }

    /// Takes `row`'s endpoint's lines out of its network's hosts file and
    /// of the containers' copies of it. What `release` does for each
    /// endpoint, and what `disconnect` does, before the row goes (with its
    /// slot: `Tx::delete_endpoint`).
    pub fn withdraw_names(&self, def: &NetworkDef, row: &EndpointRow) -> Result<()> {
        let Some(slot) = row.slot else {
            return Ok(());
        };
        let (file, copies) = self.lock_hosts(def, row)?;
        hostsfile::remove_everywhere(&file, &copies, slot)?;
        Ok(())
    }

    /// `def`'s hosts file, locked, and the containers' copies of it other
    /// than `row`'s own. Under the lock, a copy registered since this read
    /// is made after the caller's writes, and so has them.
    fn lock_hosts(
        &self,
        def: &NetworkDef,
        row: &EndpointRow,
    ) -> Result<(hostsfile::HostsFile, Vec<PathBuf>)> {
        let file = hostsfile::HostsFile::lock(&self.state_dir, def)?;
        let mut copies = self
            .store
            .borrow_mut()
            .read(|tx| tx.hosts_copies_on(&def.name))?;
        copies.retain(|c| Some(c) != row.hosts_copy.as_ref());
        Ok((file, copies))
    }

    /// One allocation transaction; on a full subnet or a taken host port,
    /// the leaks on that network are reclaimed and the transaction is run
    /// once more.
    pub(crate) fn write_reclaiming<T>(
        &self,
        mut f: impl FnMut(&Tx) -> std::result::Result<T, Conflict>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            let result = self.store.borrow_mut().write_with(&mut f);
            match result {
                Ok(value) => return Ok(value),
                Err(Conflict::Other(e)) => return Err(e),
                Err(Conflict::Full(network, e)) | Err(Conflict::Port(network, e)) => {
                    attempt += 1;
                    if attempt > 1 || self.reclaim_on(&network, false)? == 0 {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// After a reboot the store still has the networks but the host lost
    /// their bridges and rules: make them again, once per boot, and once
    /// more when berth's host setup changed ([`host_setup_id`]).
    pub(crate) fn refresh_after_reboot(&self, defs: &[NetworkDef]) -> Result<()> {
        let boot = host_setup_id();
        for def in defs {
            let stale = self
                .store
                .borrow_mut()
                .read(|tx| Ok(tx.boot_id(&def.name)? != boot))?;
            if stale {
                self.set_up_host(&mut Netlink::open()?, def)?;
            }
        }
        Ok(())
    }

    /// Makes `def`'s host objects ([`Networks::make_host_objects`]) and
    /// records this boot and setup generation for it: what a network's
    /// first use after a reboot does, and `berth network restore`.
    pub(crate) fn set_up_host(&self, nl: &mut Netlink, def: &NetworkDef) -> Result<()> {
        self.make_host_objects(nl, def)?;
        self.store
            .borrow_mut()
            .write(|tx| tx.set_boot_id(&def.name, &host_setup_id()))
    }

    fn ensure_default(&self) -> Result<()> {
        if self
            .store
            .borrow_mut()
            .read(|tx| tx.network(DEFAULT_NETWORK))?
            .is_some()
        {
            return Ok(());
        }
        match self.create_network(&NetworkCreate {
            name: DEFAULT_NETWORK.into(),
            ..Default::default()
        }) {
            Ok(_) => Ok(()),
            // Made meanwhile by a concurrent berth.
            Err(_) if self.get(DEFAULT_NETWORK).is_ok() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// [`Networks::release`], when what is recorded for `container_id` is
    /// `owner`'s (the state directory given to [`Networks::prepare`]): a
    /// create refused because another root's container has the id, or the
    /// delete of a container that never got its network, must not release
    /// that other container's addresses and ports. Returns whether it
    /// released anything.
    pub fn release_owned(&self, container_id: &str, owner: &Path) -> Result<bool> {
        let rows = self
            .store
            .borrow_mut()
            .read(|tx| tx.endpoints_of(container_id))?;
        if rows.is_empty() || rows.iter().any(|r| r.owner != owner) {
            return Ok(false);
        }
        self.release(container_id)?;
        Ok(true)
    }

    /// Undoes everything recorded for `container_id`: firewall elements,
    /// host devices still present, addresses, ports. Unknown ids are fine.
    pub fn release(&self, container_id: &str) -> Result<()> {
        let (rows, ports, defs) = self.store.borrow_mut().read(|tx| {
            let rows = tx.endpoints_of(container_id)?;
            let ports = tx.ports_of(container_id)?;
            let mut defs = Vec::new();
            for row in &rows {
                defs.push(tx.network(&row.network)?);
            }
            Ok((rows, ports, defs))
        })?;
        if rows.is_empty() && ports.is_empty() {
            return Ok(());
        }
        // The devices are not deleted here: they go with the container's
        // netns, which the kernel frees once its last process is gone
        // (deleting a veth ourselves would wait ~15-30 ms for the kernel
        // while the netns is being torn down anyway).
        for (row, def) in rows.iter().zip(&defs) {
            let ep = &row.endpoint;
            if let Some(def) = def {
                if def.driver.has_bridge() {
                    let mine = ports_on(&ports, &def.name);
                    firewall::detach(def, ep, &mine)?;
                }
                self.withdraw_names(def, row)?;
            }
        }
        self.store
            .borrow_mut()
            .write(|tx| tx.delete_container(container_id))
    }
}

/// What the store records of the host a network was last set up on: the
/// boot id and the generation of berth's host setup. A network recorded
/// with another value is set up again (idempotently) on its next use: after
/// a reboot, and after an upgrade that changed the setup — generation 2 put
/// the `input` chain into a firewall table an older berth had made.
pub(crate) fn host_setup_id() -> String {
    const GENERATION: u32 = 2;
    format!("{}/{GENERATION}", host::boot_id())
}

/// Whether the endpoint's device on the host side (a veth's host end)
/// still exists: its container's netns, and so the container, is alive,
/// whatever became of its state directory. Endpoints without such a device
/// (macvlan, ipvlan) have nothing on the host to tell by: `false`.
pub(crate) fn host_end_present(row: &EndpointRow, nl: &mut Option<Netlink>) -> Result<bool> {
    let ep = &row.endpoint;
    let Some(host_end) = strategy::strategy(ep.driver).host_end(ep) else {
        return Ok(false);
    };
    let nl = match nl {
        Some(nl) => nl,
        None => nl.insert(Netlink::open()?),
    };
    Ok(nl.link_index(host_end)?.is_some())
}

#[derive(Debug)]
pub(crate) enum Conflict {
    Full(String, Error),
    Port(String, Error),
    Other(Error),
}

impl From<Error> for Conflict {
    fn from(e: Error) -> Self {
        Conflict::Other(e)
    }
}

/// The allocation transaction of `prepare`.
fn plan_endpoints(
    tx: &Tx,
    container_id: &str,
    owner: &Path,
    nets: &[NetworkRequest],
    publish: &[PublishRequest],
    names: &NamesRequest,
    listening: &Listeners,
) -> std::result::Result<ContainerNetwork, Conflict> {
    // `prepare` released a dead predecessor's rows and refused a live one's;
    // a create of the same id that committed since (another root) wins.
    if let Some(row) = tx.endpoints_of(container_id)?.first() {
        return Err(Error::Invalid(format!(
            "container id {container_id} already has an endpoint on network {}, held by {}",
            row.network,
            row.owner.display()
        ))
        .into());
    }
    let mut endpoints = Vec::new();
    let mut defs: Vec<NetworkDef> = Vec::new();
    for req in nets {
        if defs.iter().any(|d| d.name == req.name) {
            return Err(Error::Invalid(format!("network {} is requested twice", req.name)).into());
        }
        // The hostname names the address the container resolves it to: on
        // its first network, whose file (or its own copy, with its
        // `--add-host` entries) it sees.
        let first = endpoints.is_empty();
        let own = EndpointNames {
            hostname: names.hostname.as_deref().filter(|_| first),
            hosts_copy: (first && !names.add_hosts.is_empty()).then(|| owner.join(HOSTS_COPY)),
        };
        let (ep, def) = allocate_endpoint(tx, container_id, owner, req, &endpoints, own)?;
        endpoints.push(ep);
        defs.push(def);
    }

    // Ports are published on the first network.
    let mut ports = Vec::new();
    if !publish.is_empty() {
        let def = &defs[0];
        if !def.driver.has_bridge() {
            return Err(Error::Invalid(format!(
                "ports cannot be published on network {} (driver {}): its containers are reachable directly",
                def.name,
                def.driver.name()
            ))
            .into());
        }
        for p in publish {
            let mappings = match p.pairwise() {
                Some(m) => m,
                None => pick_host_ports(tx, p, &ports, listening)
                    .map_err(|e| Conflict::Port(def.name.clone(), e))?,
            };
            for m in mappings {
                if let Some(l) = listening.hidden_by(&m) {
                    return Err(port_in_use(&m, l).into());
                }
                // Before the store lookup, which would find this request's
                // own earlier mapping and name this container as the holder.
                if ports
                    .iter()
                    .any(|(_, q): &(String, PortMapping)| same_host_port(q, &m))
                {
                    return Err(Error::Invalid(format!(
                        "host port {} is published twice",
                        format_host_port(&m)
                    ))
                    .into());
                }
                if let Some(holder) = tx.port_holder(&m)? {
                    let e = Error::Invalid(format!(
                        "host port {} is already published by container {holder}",
                        format_host_port(&m)
                    ));
                    return Err(Conflict::Port(def.name.clone(), e));
                }
                tx.insert_port(container_id, &def.name, &m)?;
                ports.push((def.name.clone(), m));
            }
        }
    }
    Ok(ContainerNetwork {
        endpoints,
        ports,
        networks: defs,
        files: None,
    })
}

/// Allocates and records `container_id`'s endpoint on the network `req`
/// names, beside its endpoints `existing`: an address (the one asked for,
/// or the next free one), an interface name (the one asked for, or
/// `eth<number of existing endpoints>`, or the next free `ethN`), and the
/// default routes when no existing endpoint has them (docker's rule: the
/// first network's gateway). The step `prepare` runs per network and
/// `connect` runs once.
pub(crate) fn allocate_endpoint(
    tx: &Tx,
    container_id: &str,
    owner: &Path,
    req: &NetworkRequest,
    existing: &[Endpoint],
    own: EndpointNames,
) -> std::result::Result<(Endpoint, NetworkDef), Conflict> {
    let def = tx
        .network(&req.name)?
        .ok_or_else(|| unknown_network(&req.name))?;
    if let Some(max) = def.driver.max_endpoints() {
        if tx.endpoint_count(&def.name)? >= max {
            return Err(Error::Invalid(format!(
                "network {} has {max} containers, the most a kernel bridge takes: put more containers on another network",
                def.name
            ))
            .into());
        }
    }
    let ifname = match &req.ifname {
        Some(name) => name.clone(),
        None => (existing.len()..)
            .map(|n| format!("eth{n}"))
            .find(|name| !existing.iter().any(|e| &e.ifname == name))
            .unwrap_or_default(),
    };
    if existing.iter().any(|e| e.ifname == ifname) {
        return Err(Error::Invalid(format!("interface name {ifname} is used twice")).into());
    }
    let offset = match req.ip {
        Some(ip) => {
            let offset = def.subnet.offset_of(ip).ok_or_else(|| {
                Error::Invalid(format!("ip {ip} is not in {} ({})", def.subnet, def.name))
            })?;
            if ipam::reserved_offsets(def.subnet, def.gateway).contains(&offset) {
                return Err(Error::Invalid(format!(
                    "ip {ip} is reserved on {} (network, gateway or broadcast address)",
                    def.name
                ))
                .into());
            }
            if !tx.take_offset(&def.name, offset)? {
                let e = Error::Invalid(format!("ip {ip} is already in use on {}", def.name));
                return Err(Conflict::Full(def.name.clone(), e));
            }
            offset
        }
        None => match tx.allocate(&def)? {
            Some(o) => o,
            None => {
                let e = Error::Invalid(format!(
                    "network {} ({}) has no free address",
                    def.name, def.subnet
                ));
                return Err(Conflict::Full(def.name.clone(), e));
            }
        },
    };
    let ipv4 = def.subnet.nth(offset);
    let suffix: [u8; 5] = host::random_bytes().map_err(Error::Random)?;
    let ep = Endpoint {
        network: def.name.clone(),
        driver: def.driver,
        ifname: ifname.clone(),
        host_ifname: format!(
            "bv{}",
            suffix
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ),
        // Created directly in the container's netns: no clash possible.
        temp_ifname: ifname,
        mac: req.mac.unwrap_or_else(|| mac_from_ipv4(ipv4)),
        mtu: def.mtu,
        ipv4,
        prefix4: def.subnet.prefix,
        gateway4: def.gateway,
        ipv6: def.subnet6.map(|s| s.nth(offset)),
        prefix6: def.subnet6.map(|s| s.prefix).unwrap_or(0),
        gateway6: def.gateway6,
        bridge: def.bridge.clone(),
        parent: def.parent.clone(),
        mode: def.mode.clone(),
        default_route4: !existing.iter().any(Endpoint::routes_default4),
        default_route6: !existing.iter().any(Endpoint::routes_default6),
        name: endpoint_name(container_id, req),
        aliases: req.aliases.clone(),
    };
    let slot = reserve_name(tx, &ep, own.hostname)?;
    tx.insert_endpoint(&EndpointRow {
        container: container_id.to_string(),
        network: def.name.clone(),
        offset,
        owner: owner.to_path_buf(),
        endpoint: ep.clone(),
        slot,
        hosts_copy: own.hosts_copy,
    })?;
    Ok((ep, def))
}

/// What an endpoint's container adds to its names: its hostname and its
/// own copy of the hosts file, on its first network only.
#[derive(Debug, Default)]
pub(crate) struct EndpointNames<'a> {
    pub hostname: Option<&'a str>,
    pub hosts_copy: Option<PathBuf>,
}

/// An endpoint's name: `name=`, else the container id when it is a name a
/// hosts line can hold (a CNI attachment's key, `cni:ID:IF`, is not).
fn endpoint_name(container_id: &str, req: &NetworkRequest) -> String {
    match &req.endpoint_name {
        Some(name) => name.clone(),
        None if names::valid_name(container_id) && container_id.len() <= DEFAULT_NAME_MAX => {
            container_id.to_string()
        }
        None => String::new(),
    }
}

/// In the allocation transaction: refuses `ep`'s name if another endpoint
/// of its network has it (a conflict that reclaiming a vanished container
/// may solve) and its names (with `hostname`) if they do not fit a hosts
/// line; takes a hosts file slot when it has a name to resolve.
fn reserve_name(
    tx: &Tx,
    ep: &Endpoint,
    hostname: Option<&str>,
) -> std::result::Result<Option<u32>, Conflict> {
    if !ep.name.is_empty() {
        if let Some(holder) = tx.endpoint_named(&ep.network, &ep.name)? {
            let e = Error::Invalid(format!(
                "name {} is already taken on network {} by container {holder}",
                ep.name, ep.network
            ));
            return Err(Conflict::Full(ep.network.clone(), e));
        }
    }
    hostsfile::endpoint_lines(ep, hostname).map_err(Error::from)?;
    let named = !ep.name.is_empty() || !ep.aliases.is_empty() || hostname.is_some();
    Ok(named.then(|| tx.take_slot(&ep.network)).transpose()?)
}

/// Whether two mappings take the same host port (as `Tx::port_holder` sees
/// it: the same protocol and port, on the same address or on every address).
fn same_host_port(a: &PortMapping, b: &PortMapping) -> bool {
    a.protocol == b.protocol
        && a.host_port == b.host_port
        && (a.host_ip == b.host_ip || a.host_ip.is_none() || b.host_ip.is_none())
}

/// The refusal of a host port that a host socket listens on.
fn port_in_use(m: &PortMapping, l: &listeners::Listener) -> Error {
    Error::PortInUse {
        port: format_host_port(m),
        address: l.address(),
        holder: l
            .process()
            .unwrap_or_else(|| format!("a socket (inode {}) of no process berth can see", l.inode)),
    }
}

/// Host ports for a request that does not pair host and container ports
/// one to one: for `hostRange:containerPort`, one port of the range (the
/// first free one); without host ports (`80`, `HOSTIP::80-81`), one port of
/// the kernel's ephemeral range for each container port, from a random
/// point of it on, so that the first probe is almost always free however
/// many ports the host has published. A port is free when no container
/// publishes it (the store, and `chosen`: this request's ports so far) and
/// no host socket listens on it.
fn pick_host_ports(
    tx: &Tx,
    p: &PublishRequest,
    chosen: &[(String, PortMapping)],
    listening: &Listeners,
) -> Result<Vec<PortMapping>> {
    let (first, last) = match p.host_ports {
        Some(range) => range,
        None => host::ephemeral_ports()?,
    };
    let size = u32::from(last - first) + 1;
    let start = match p.host_ports {
        Some(_) => 0,
        None => u32::from_ne_bytes(host::random_bytes().map_err(Error::Random)?) % size,
    };
    let mut out: Vec<PortMapping> = Vec::new();
    for container_port in p.container_ports.0..=p.container_ports.1 {
        let mut found = None;
        for k in 0..size {
            let m = PortMapping {
                host_ip: p.host_ip,
                host_port: first + ((start + k) % size) as u16,
                container_port,
                protocol: p.protocol,
            };
            let mine = chosen
                .iter()
                .map(|(_, q)| q)
                .chain(&out)
                .any(|q| same_host_port(q, &m));
            if !mine && tx.port_holder(&m)?.is_none() && listening.hidden_by(&m).is_none() {
                found = Some(m);
                break;
            }
        }
        out.push(found.ok_or_else(|| {
            Error::Invalid(format!(
                "every host port of {first}-{last}/{}{} is already published or in use on the host",
                p.protocol.name(),
                if p.host_ports.is_none() {
                    format!(" (the kernel's ephemeral range, {})", host::EPHEMERAL_PORTS)
                } else {
                    String::new()
                }
            ))
        })?);
    }
    Ok(out)
}

/// The bridge device of a new bridge network: `--bridge` if given, else
/// `berthN` from the network's index on; refused if another network of this
/// state dir or a device of the host has it.
fn bridge_name(tx: &Tx, nl: &mut Netlink, given: Option<&str>, index: u32) -> Result<String> {
    let name = match given {
        Some(name) => name.to_owned(),
        // berthN from the network's index on: the first name that no
        // network of this state dir and no device of the host (another
        // state dir's bridge) has. Nobody can "choose another --bridge"
        // for `default`.
        None => {
            let mut found = None;
            for n in index..index + 1000 {
                let name = format!("berth{n}");
                if tx.network_by_bridge(&name)?.is_none() && nl.link_index(&name)?.is_none() {
                    found = Some(name);
                    break;
                }
            }
            found.ok_or_else(|| {
                Error::Invalid(format!(
                    "no free bridge name berth{index}..berth{}: give --bridge",
                    index + 999
                ))
            })?
        }
    };
    if let Some(owner) = tx.network_by_bridge(&name)? {
        return Err(Error::Invalid(format!(
            "bridge {name} is already used by network {owner}"
        )));
    }
    if nl.link_index(&name)?.is_some() {
        return Err(Error::Invalid(format!(
            "interface {name} already exists on the host: choose another --bridge"
        )));
    }
    Ok(name)
}

fn check_driver_options(driver: Driver, opts: &NetworkCreate) -> Result<()> {
    if !driver.needs_parent() {
        if opts.parent.is_some() || opts.mode.is_some() {
            return Err(Error::Invalid(
                "--parent and --mode are for the macvlan and ipvlan drivers".into(),
            ));
        }
        return Ok(());
    }
    if opts.parent.is_none() {
        return Err(Error::Invalid(format!(
            "driver {} needs --parent IFNAME",
            driver.name()
        )));
    }
    if opts.bridge.is_some() && !driver.has_bridge() {
        return Err(Error::Invalid("--bridge is for the bridge driver".into()));
    }
    if opts.subnet.is_none() {
        return Err(Error::Invalid(format!(
            "driver {} needs --subnet (the parent's network)",
            driver.name()
        )));
    }
    strategy::validate_mode(driver, opts.mode.as_deref())
        .map_err(|reason| Error::Invalid(format!("--mode: {reason}")))
}

/// A /24 of the default pool that overlaps nothing.
fn pick_subnet(others: &[NetworkDef], routes: &[(String, Ipv4Net)]) -> Result<Ipv4Net> {
    let pool = Ipv4Net::parse(DEFAULT_POOL)?;
    (0..pool.size() / 256)
        .map(|i| Ipv4Net {
            addr: pool.nth(i * 256),
            prefix: 24,
        })
        .find(|c| {
            !others.iter().any(|o| o.subnet.overlaps(*c))
                && !routes.iter().any(|(_, r)| r.overlaps(*c))
        })
        .ok_or_else(|| Error::Invalid(format!("no free /24 left in {DEFAULT_POOL}: give --subnet")))
}

fn reserved_count(def: &NetworkDef) -> u32 {
    let size = def.subnet.size();
    3 + ipam::WORD_BITS.saturating_sub(size)
}

pub(crate) fn ports_on(ports: &[(String, PortMapping)], network: &str) -> Vec<PortMapping> {
    ports
        .iter()
        .filter(|(n, _)| n == network)
        .map(|(_, m)| *m)
        .collect()
}

pub(crate) fn unknown_network(name: &str) -> Error {
    Error::Invalid(format!(
        "network {name} does not exist (make it with `berth network create {name} --subnet CIDR`)"
    ))
}

fn format_host_port(m: &PortMapping) -> String {
    match m.host_ip {
        Some(IpAddr::V6(ip)) => format!("[{ip}]:{}/{}", m.host_port, m.protocol.name()),
        Some(ip) => format!("{ip}:{}/{}", m.host_port, m.protocol.name()),
        None => format!("{}/{}", m.host_port, m.protocol.name()),
    }
}

/// `0.0.0.0:8080->80/tcp`, as docker shows it.
pub fn format_port(m: &PortMapping) -> String {
    let ip = match m.host_ip {
        Some(IpAddr::V6(ip)) => format!("[{ip}]"),
        Some(ip) => ip.to_string(),
        None => "0.0.0.0".into(),
    };
    format!(
        "{ip}:{}->{}/{}",
        m.host_port,
        m.container_port,
        m.protocol.name()
    )
}

impl ContainerNetwork {
    fn def(&self, name: &str) -> Option<&NetworkDef> {
        self.networks.iter().find(|d| d.name == name)
    }

    /// Parent side, init's netns exists: devices, bridge membership, firewall
    /// elements. Undoes its own partial work on error.
    pub fn create(&self, init_pid: i32) -> Result<()> {
        self.create_in(NetnsRef::Pid(init_pid))
    }

    /// [`ContainerNetwork::create`] for the netns `netns`.
    pub fn create_in(&self, netns: NetnsRef<'_>) -> Result<()> {
        let mut nl = Netlink::open()?;
        let mut done: Vec<&Endpoint> = Vec::new();
        let result = (|| {
            for ep in &self.endpoints {
                strategy::create_and_attach(&mut nl, ep, netns)?;
                done.push(ep);
                if let Some(def) = self.def(&ep.network).filter(|d| d.driver.has_bridge()) {
                    firewall::attach(def, ep, &ports_on(&self.ports, &def.name))?;
                    // A dockerd started after the network was made.
                    firewall::docker::allow(def)?;
                }
            }
            Ok(())
        })();
        if result.is_err() {
            for ep in done {
                if let Some(def) = self.def(&ep.network).filter(|d| d.driver.has_bridge()) {
                    let _ = firewall::detach(def, ep, &ports_on(&self.ports, &def.name));
                }
                let _ = strategy::strategy(ep.driver).teardown(&mut nl, ep);
            }
        }
        result
    }

    /// Inside the container's netns, before exec: names, addresses, routes.
    pub fn initialize(&self) -> Result<()> {
        self.initialize_with(&mut Netlink::open()?)
    }

    /// [`ContainerNetwork::initialize`] through a socket of the container's
    /// netns ([`Netlink::open_in_netns`]), from outside it.
    pub fn initialize_with(&self, nl: &mut Netlink) -> Result<()> {
        for ep in &self.endpoints {
            strategy::strategy(ep.driver).initialize(nl, ep)?;
        }
        Ok(())
    }

    /// What `berth state` shows.
    pub fn summary(&self) -> serde_json::Value {
        let interfaces: Vec<_> = self.endpoints.iter().map(interface_summary).collect();
        let ports: Vec<_> = self.ports.iter().map(|(_, m)| format_port(m)).collect();
        json!({ "interfaces": interfaces, "ports": ports })
    }
}

/// One interface of [`ContainerNetwork::summary`]; what `berth network
/// connect` prints.
pub fn interface_summary(ep: &Endpoint) -> serde_json::Value {
    json!({
        "network": ep.network,
        "name": (!ep.name.is_empty()).then_some(&ep.name),
        "aliases": ep.aliases,
        "ifname": ep.ifname,
        "hostIfname": strategy::strategy(ep.driver).host_end(ep),
        "mac": format_mac(&ep.mac),
        "ipv4": format!("{}/{}", ep.ipv4, ep.prefix4),
        "gateway": ep.gateway4.to_string(),
        "ipv6": ep.ipv6.map(|a| format!("{a}/{}", ep.prefix6)),
        "ipv6Gateway": ep.gateway6.map(|g| g.to_string()),
        "defaultRoute": ep.routes_default4(),
        "ipv6DefaultRoute": ep.routes_default6(),
    })
}
