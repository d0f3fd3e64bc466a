//! berth's firewall: NAT, forwarding, isolation and published ports in
//! nftables, in berth's own table `inet berth`. Other tables (docker,
//! podman, firewalld) are never read or touched, but for berth's own accept
//! rules in docker's `DOCKER-USER` chain ([`docker`]).
//!
//! # Design: fixed rules, changing elements
//!
//! Every rule is created once per host, with the table, and never changes
//! afterwards. A network is a handful of elements in the table's sets, and a
//! container is the elements of its published ports in the DNAT maps. So
//! attaching a container is one transaction adding elements, detaching one
//! deleting them; no rule is listed, searched or rewritten per container or
//! per network, and the cost does not grow with the number of containers,
//! ports or networks on the host (each lookup is a hash or pipapo lookup).
//!
//! ```text
//! table inet berth
//!   map dnat4_any   proto . port             : ctr ip . ctr port   (every host address)
//!   map dnat4_host  host ip . proto . port   : ctr ip . ctr port   (one host address)
//!   map dnat6_any, dnat6_host                (the same for IPv6)
//!                   (the four with flags timeout: a detached container's
//!                   elements are expired, not deleted; see [`nfnl`])
//!   set bridges     every berth bridge
//!   set internal    bridges of --internal networks
//!   set same        "br" . "br"              (traffic staying within a bridge)
//!   set own4, own6  "br" . subnet            (a bridge and its subnet)
//!   set masq4, masq6 subnet                  (masqueraded when leaving its bridge)
//!
//!   chain publish      DNAT through the four maps (host-specific maps first)
//!   chain prerouting   nat/dstnat:  fib daddr type local -> publish
//!   chain output       nat/-100:    the same for locally generated traffic
//!                                   (127.0.0.1 too; not ::1, which cannot
//!                                   leave the host)
//!   chain postrouting  nat/srcnat:  masquerade hairpin traffic (DNATed back
//!                                   into the bridge it came from), 127.0.0.0/8
//!                                   sources entering a bridge, and each
//!                                   masq4/masq6 subnet leaving its bridge
//!   chain input        filter:      drop 127.0.0.0/8 arriving from a bridge
//!                                   unless berth DNATed it (route_localnet
//!                                   is on for ports published on 127.0.0.1)
//!   chain forward      filter:      established/related and same-bridge
//!                                   accepted; internal bridges neither send
//!                                   nor receive anything else; DNATed
//!                                   (published) traffic accepted; bridge to
//!                                   other berth bridge dropped (isolation)
//! ```
//!
//! Published ports from 127.0.0.1 need `net.ipv4.conf.<bridge>.route_localnet=1`
//! (the bridge module sets it), and hairpin needs the bridge port's hairpin
//! mode. Ports published on an `internal` network answer only from the host
//! itself: forwarding into it is dropped.
//!
//! # Living with other firewalls
//!
//! Each nftables table sees every packet, and an `accept` only ends the
//! evaluation of the table it is in. berth's chains have policy `accept`
//! and drop only what berth must (isolation, internal networks), so they
//! never get in another table's way; but a drop in another table (the
//! iptables `FORWARD` policy docker sets to `DROP`, a firewalld zone
//! without forwarding) still drops berth's forwarded traffic. Such hosts
//! need that firewall told about berth's bridges: for docker berth does it
//! itself, with accept rules in `DOCKER-USER` ([`docker`]); for firewalld,
//! put the bridges in a trusted zone.
//!
//! # Coming back after a flush or a reboot
//!
//! Everything in the table derives from the store: `berth network restore`
//! ([`crate::restore`]) makes the table again ([`ensure_network`] per
//! network, then [`repair_table`] for the fixed rules) and publishes the
//! ports of every living container again ([`attach`]).
//!
//! # API
//!
//! - [`ensure_network`]: idempotent; creates the table on first use, then
//!   adds the network's elements. Serialised with [`remove_network`] by a
//!   lock file.
//! - [`remove_network`]: deletes the network's elements and any port
//!   elements still pointing into its subnets; with `last`, also the table,
//!   but only when no other network is left in it (and then says so: the
//!   caller puts host forwarding back).
//! - [`attach`]: one transaction adding the port elements. A host port
//!   already published for another container fails with
//!   [`Error::PortTaken`] and changes nothing. If berth's table is missing
//!   (after a reboot or `nft flush ruleset`), it ensures the network first.
//! - [`detach`]: one transaction deleting them; idempotent. It never
//!   removes a host port that now belongs to another container.
//! - [`repair_table`]: the fixed rules again, elements kept.
//! - [`table_state`]: what `berth network ls` checks.
//!
//! # Mechanism
//!
//! The rare changes (the table, a network's elements, which include
//! interval sets) are one `nft -f -` run each, with the script built in
//! memory ([`rules`]) and a fixed argv ([`nft`]). The per-container changes
//! are one nfnetlink batch each, sent on a `NETLINK_NETFILTER` socket
//! ([`nfnl`]): no process is spawned when a container starts or stops. A
//! detach expires the elements instead of deleting them (deleting would
//! make berth's exit wait for an RCU grace period: see [`nfnl`]), in one
//! `NEWSETELEM` batch, so elements already gone are not an error, and a key
//! that now maps to another container makes the batch fail (EEXIST)
//! instead of expiring it.
//!
//! Networks whose driver has no bridge (macvlan, ipvlan) have no firewall
//! state: [`ensure_network`] and [`detach`] do nothing for them and
//! [`attach`] refuses published ports.

pub mod docker;
pub mod nfnl;
pub mod nft;
pub mod rules;

use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;

use crate::model::{Endpoint, NetworkDef, PortMapping};
use nft::Failure;
use rules::{DnatMap, PortElement, FAMILY, SET_BRIDGES, TABLE};

/// Lock file serialising table creation and removal between berth processes.
pub const LOCK_PATH: &str = "/run/berth/firewall.lock";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("firewall: nft not found (looked in /usr/sbin, /sbin, /usr/bin); install nftables")]
    NftMissing,
    #[error("firewall: running {path}: {source}")]
    Spawn {
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("firewall: nft failed to {what} (exit {status}): {stderr}")]
    Nft {
        what: &'static str,
        failure: Failure,
        status: i32,
        stderr: String,
    },
    #[error(
        "firewall: network {network}: host port already published for another container: {ports}"
    )]
    PortTaken { network: String, ports: String },
    #[error("firewall: network {network}: {host_ip} port {host_port} is IPv6 but the container has no IPv6 address")]
    NoIpv6 {
        network: String,
        host_ip: IpAddr,
        host_port: u16,
    },
    #[error("firewall: network {network} (driver {driver}) has no bridge: ports cannot be published on it")]
    NoBridge {
        network: String,
        driver: &'static str,
    },
    #[error("firewall: invalid interface name {0:?} (1-15 characters of [A-Za-z0-9._-])")]
    InvalidIfname(String),
    #[error("firewall: lock {path}: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("firewall: netlink: {what}: {source}")]
    Netlink {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("firewall: iptables not found (looked in /usr/sbin, /sbin): docker's DOCKER-USER chain exists, and berth adds its rules there with iptables")]
    IptablesMissing,
    #[error("firewall: iptables failed to {what} (exit {status}): {stderr}")]
    Iptables {
        what: &'static str,
        status: i32,
        stderr: String,
    },
    #[error("firewall: unexpected output of nft -j {what}: {detail}")]
    Output { what: &'static str, detail: String },
}

pub type Result<T> = std::result::Result<T, Error>;

/// Creates berth's table if it is missing and adds the network's elements.
/// Idempotent.
pub fn ensure_network(def: &NetworkDef) -> Result<()> {
    let elements = rules::network_elements(def)?;
    if elements.is_empty() {
        return Ok(());
    }
    let _lock = lock()?;
    let add = rules::add_script(elements);
    if table_exists()? {
        // The input chain too: a table made by an older berth lacks it.
        let script = format!("{}{add}", rules::input_script());
        return nft::apply("add a network's elements", &script);
    }
    let script = format!("{}{add}", rules::table_script());
    match nft::apply("create berth's table", &script) {
        // Created meanwhile by a process that does not take our lock.
        Err(Error::Nft {
            failure: Failure::Exists,
            ..
        }) if table_exists()? => nft::apply("add a network's elements", &add),
        r => r,
    }
}

/// Makes berth's fixed table whole again, keeping every element
/// ([`rules::repair_script`]): one `nft` transaction. Creates nothing when
/// the table is missing (returns `false`): [`ensure_network`] makes it.
pub fn repair_table() -> Result<bool> {
    let _lock = lock()?;
    if !table_exists()? {
        return Ok(false);
    }
    nft::apply("repair berth's table", &rules::repair_script())?;
    Ok(true)
}

/// What `berth network ls` sees of berth's table.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TableState {
    /// The bridges registered in it (the networks whose elements are there).
    pub bridges: Vec<String>,
    /// The fixed chains that lack rules berth puts in them (someone ran
    /// `nft flush table`, or deleted a chain or rule).
    pub incomplete: Vec<&'static str>,
}

/// Berth's table as `berth network ls` checks it, or `None` when it is
/// missing: one `nft -j list table` (the elements come with it).
pub fn table_state() -> Result<Option<TableState>> {
    const WHAT: &str = "list berth's table";
    let out = match nft::json(WHAT, &["list", "table", FAMILY, TABLE]) {
        Ok(out) => out,
        Err(Error::Nft {
            failure: Failure::Missing,
            ..
        }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| Error::Output {
        what: WHAT,
        detail: e.to_string(),
    })?;
    Ok(Some(parse_table_state(&v)))
}

/// [`TableState`] of an `nft -j list table inet berth` answer.
fn parse_table_state(v: &serde_json::Value) -> TableState {
    let items: &[serde_json::Value] = v
        .get("nftables")
        .and_then(|a| a.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let bridges = items
        .iter()
        .filter_map(|o| o.get("set"))
        .filter(|s| s.get("name").and_then(|n| n.as_str()) == Some(SET_BRIDGES))
        .filter_map(|s| s.get("elem")?.as_array())
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect();
    let rules_in = |chain: &str| {
        items
            .iter()
            .filter_map(|o| o.get("rule"))
            .filter(|r| r.get("chain").and_then(|c| c.as_str()) == Some(chain))
            .count()
    };
    let incomplete = rules::rule_counts()
        .into_iter()
        .filter(|(chain, n)| rules_in(chain) < *n)
        .map(|(chain, _)| chain)
        .collect();
    TableState {
        bridges,
        incomplete,
    }
}

/// Removes the network's elements, and the port elements still pointing
/// into its subnets. With `last`, also removes berth's table if no network
/// is left in it. Returns whether the host has no berth bridge network left
/// (berth's table is gone).
pub fn remove_network(def: &NetworkDef, last: bool) -> Result<bool> {
    let _lock = lock()?;
    if !table_exists()? {
        // Nothing to remove; the networks this store still has need
        // forwarding all the same.
        return Ok(last);
    }
    let mut elements = rules::network_elements(def)?;
    elements.extend(stale_port_elements(def)?);
    if !elements.is_empty() {
        nft::apply(
            "delete a network's elements",
            &rules::delete_script(elements),
        )?;
    }
    if !last {
        return Ok(false);
    }
    let left = bridges()?;
    if !left.is_empty() {
        // Networks of another berth state directory (tests, a second
        // --state-dir) share the table.
        tracing::info!(
            network = %def.name,
            ?left,
            "firewall: keeping berth's table: other networks still use it"
        );
        return Ok(false);
    }
    nft::apply(
        "delete berth's table",
        &format!("delete table {FAMILY} {TABLE}\n"),
    )?;
    Ok(true)
}

/// Publishes `ports` of the endpoint: one transaction adding DNAT map
/// elements. Adding elements that are already there is not an error.
pub fn attach(def: &NetworkDef, ep: &Endpoint, ports: &[PortMapping]) -> Result<()> {
    let elements = rules::port_elements(def, ep, ports)?;
    if elements.is_empty() {
        return Ok(());
    }
    if def.bridge.is_none() {
        return Err(Error::NoBridge {
            network: def.name.clone(),
            driver: def.driver.name(),
        });
    }
    let mut result = nfnl::apply(nfnl::Op::Add, &elements);
    if matches!(&result, Err(e) if e.raw_os_error() == Some(libc::ENOENT)) && !table_exists()? {
        // berth's table is gone (a reboot, `nft flush ruleset`): the
        // network's state is derived from its definition, so make it again.
        tracing::info!(network = %def.name, "firewall: berth's table is missing; recreating it");
        ensure_network(def)?;
        result = nfnl::apply(nfnl::Op::Add, &elements);
    }
    if matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EEXIST)) {
        result = replace_expiring(&elements);
    }
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Err(Error::PortTaken {
            network: def.name.clone(),
            ports: taken(&elements),
        }),
        Err(source) => Err(Error::Netlink {
            what: "publishing a container's ports",
            source,
        }),
    }
}

/// After an add failed with EEXIST, tries once more, in one transaction
/// that also destroys the keys still held by elements a detach expired
/// ([`nfnl::Found::Expiring`]: in their last tick). The retry fails with
/// EEXIST again only if a host port is taken by a live container; it also
/// covers an element that reached its tick between the add and the lookup.
fn replace_expiring(elements: &[PortElement]) -> std::io::Result<()> {
    let found = nfnl::lookup(elements)?;
    let stale: Vec<PortElement> = elements
        .iter()
        .zip(&found)
        .filter(|(_, f)| **f == nfnl::Found::Expiring)
        .map(|(e, _)| *e)
        .collect();
    nfnl::replace(&stale, elements)
}

/// The host sides (`8080/tcp`) of `ports` that berth's DNAT maps do not
/// hold for the endpoint: one batch of element lookups (the CNI CHECK).
pub fn missing_ports(
    def: &NetworkDef,
    ep: &Endpoint,
    ports: &[PortMapping],
) -> Result<Vec<String>> {
    let elements = rules::port_elements(def, ep, ports)?;
    if elements.is_empty() {
        return Ok(Vec::new());
    }
    let found = nfnl::lookup(&elements).map_err(|source| Error::Netlink {
        what: "looking up published ports",
        source,
    })?;
    Ok(elements
        .iter()
        .zip(found)
        .filter(|(_, f)| *f != nfnl::Found::Live)
        .map(|(e, _)| host_side(e))
        .collect())
}

/// Unpublishes `ports` of the endpoint: one transaction deleting their DNAT
/// map elements. Elements already gone are not an error, and an element
/// whose host port now maps to another container is left alone.
pub fn detach(def: &NetworkDef, ep: &Endpoint, ports: &[PortMapping]) -> Result<()> {
    if def.bridge.is_none() {
        return Ok(());
    }
    // A mapping that attach would have refused was never published.
    let elements: Vec<PortElement> = ports
        .iter()
        .filter_map(|p| rules::port_elements(def, ep, std::slice::from_ref(p)).ok())
        .flatten()
        .collect();
    if elements.is_empty() {
        return Ok(());
    }
    if delete_ports(&elements)? {
        return Ok(());
    }
    // Some host port was published again for another container since: take
    // the elements one by one and leave those.
    for el in &elements {
        if !delete_ports(std::slice::from_ref(el))? {
            tracing::debug!(element = %el.text(), "firewall: host port now belongs to another container");
        }
    }
    Ok(())
}

/// Unpublishes the elements in one transaction: expires them where the
/// kernel can ([`nfnl::expire`]), deletes them where it cannot. `Ok(false)`:
/// nothing was changed because a key now maps to another container.
fn delete_ports(elements: &[PortElement]) -> Result<bool> {
    let result = match nfnl::expire(elements) {
        Ok(true) => Ok(()),
        Ok(false) => nfnl::apply(nfnl::Op::Remove, elements),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
        // berth's table is gone: nothing is published.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && !table_exists()? => Ok(true),
        Err(source) => Err(Error::Netlink {
            what: "unpublishing a container's ports",
            source,
        }),
    }
}

/// `[host ip:]port/proto` of an element.
fn host_side(e: &PortElement) -> String {
    match e.host_ip {
        Some(IpAddr::V6(ip)) => format!("[{ip}]:{}/{}", e.host_port, e.protocol.name()),
        Some(ip) => format!("{ip}:{}/{}", e.host_port, e.protocol.name()),
        None => format!("{}/{}", e.host_port, e.protocol.name()),
    }
}

/// Which of `elements` clash with an element already in berth's maps, and
/// where those send the port. Only on the error path: one `nft get element`
/// per element.
fn taken(elements: &[PortElement]) -> String {
    let mut out: Vec<String> = Vec::new();
    for e in elements {
        let key = format!("{{ {} }}", e.key_text());
        let Ok(text) = nft::output(
            "look up a published port",
            &["get", "element", FAMILY, TABLE, e.map.name(), &key],
        ) else {
            continue; // not there: not the clash
        };
        let Some(data) = element_data(&text) else {
            continue;
        };
        let ours = format!("{} . {}", e.container_ip, e.container_port);
        if data != ours {
            let to = data.replace(" . ", " port ");
            let item = format!("{} (to {to})", host_side(e));
            if !out.contains(&item) {
                out.push(item);
            }
        }
    }
    if out.is_empty() {
        // Freed again meanwhile: name what was asked for.
        let mut v: Vec<String> = elements.iter().map(host_side).collect();
        v.dedup();
        return format!("one of {}", v.join(", "));
    }
    out.join(", ")
}

/// The data of the one element `nft get element` printed:
/// `elements = { tcp . 8080 : 10.213.1.9 . 80 }` gives `10.213.1.9 . 80`.
fn element_data(text: &str) -> Option<String> {
    let start = text.find("elements = {")? + "elements = {".len();
    let body = &text[start..];
    let body = &body[..body.find('}')?];
    let (_, data) = body.split_once(" : ")?;
    Some(data.trim().to_owned())
}

/// Takes the firewall lock, released when the returned value drops.
fn lock() -> Result<Flock<File>> {
    let path = Path::new(LOCK_PATH);
    crate::host::lock_file(path).map_err(|source| Error::Lock {
        path: path.to_owned(),
        source,
    })
}

/// Whether berth's table exists: one netlink GETTABLE (`nft list tables`
/// would fetch every element of every set).
fn table_exists() -> Result<bool> {
    nfnl::table_exists().map_err(|source| Error::Netlink {
        what: "looking up berth's table",
        source,
    })
}

/// The bridges registered in berth's table.
fn bridges() -> Result<Vec<String>> {
    const WHAT: &str = "list set inet berth bridges";
    let out = nft::json(WHAT, &["list", "set", FAMILY, TABLE, SET_BRIDGES])?;
    let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| Error::Output {
        what: WHAT,
        detail: e.to_string(),
    })?;
    Ok(set_body(&v, "set")
        .and_then(|s| s.get("elem"))
        .and_then(|e| e.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

/// The `{"set": {...}}` (or `"map"`) object of an `nft -j list` answer.
fn set_body<'a>(v: &'a serde_json::Value, kind: &str) -> Option<&'a serde_json::Value> {
    v.get("nftables")?
        .as_array()?
        .iter()
        .find_map(|o| o.get(kind))
}

/// Port elements of the DNAT maps whose target lies in `def`'s subnets:
/// left behind by containers never detached. Lists the maps, which is done
/// only here, once per network removal.
fn stale_port_elements(def: &NetworkDef) -> Result<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    if def.bridge.is_none() {
        return Ok(out);
    }
    for map in DnatMap::ALL {
        let v6 = matches!(map, DnatMap::Any6 | DnatMap::Host6);
        if v6 && def.subnet6.is_none() {
            continue;
        }
        const WHAT: &str = "list a DNAT map";
        let text = nft::json(WHAT, &["list", "map", FAMILY, TABLE, map.name()])?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Output {
            what: WHAT,
            detail: e.to_string(),
        })?;
        let elems = set_body(&v, "map")
            .and_then(|m| m.get("elem"))
            .and_then(|e| e.as_array());
        for pair in elems.into_iter().flatten() {
            let Some((key, data, expiring)) = map_element(pair) else {
                return Err(Error::Output {
                    what: WHAT,
                    detail: pair.to_string(),
                });
            };
            // An expiring element (detached) is gone at the next tick:
            // deleting it could fail with ENOENT.
            if !expiring && in_network(def, &data) {
                out.push((
                    map.name(),
                    format!("{} : {}", key.join(" . "), data.join(" . ")),
                ));
            }
        }
    }
    Ok(out)
}

/// `[{"concat": [k1, k2]}, {"concat": [ip, port]}]` as text parts, and
/// whether the element is expiring: its key is then
/// `{"elem": {"val": {"concat": ...}, "timeout": .., "expires": ..}}`.
fn map_element(pair: &serde_json::Value) -> Option<(Vec<String>, Vec<String>, bool)> {
    let parts = |v: &serde_json::Value| -> Option<Vec<String>> {
        v.get("concat")?
            .as_array()?
            .iter()
            .map(|x| match x {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect()
    };
    let pair = pair.as_array()?;
    if pair.len() != 2 {
        return None;
    }
    match pair[0].get("elem") {
        Some(elem) => Some((parts(elem.get("val")?)?, parts(&pair[1])?, true)),
        None => Some((parts(&pair[0])?, parts(&pair[1])?, false)),
    }
}

fn in_network(def: &NetworkDef, data: &[String]) -> bool {
    match data.first().and_then(|s| s.parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(ip)) => {
            let net = rules::net4(def.subnet);
            rules::net4(crate::model::Ipv4Net {
                addr: ip,
                prefix: net.prefix,
            }) == net
        }
        Some(IpAddr::V6(ip)) => def.subnet6.is_some_and(|s| {
            let net = rules::net6(s);
            rules::net6(crate::model::Ipv6Net {
                addr: ip,
                prefix: net.prefix,
            }) == net
        }),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_map_elements() {
        let v: serde_json::Value = serde_json::from_str(
            r#"[{"concat": ["fd00:213::1", "tcp", 80]}, {"concat": ["fd00:213::2", 8080]}]"#,
        )
        .unwrap();
        let (k, d, expiring) = map_element(&v).unwrap();
        assert_eq!(k, ["fd00:213::1", "tcp", "80"]);
        assert_eq!(d, ["fd00:213::2", "8080"]);
        assert!(!expiring);
        assert!(map_element(&serde_json::json!([1, 2, 3])).is_none());
        // As nft -j prints an element a detach expired.
        let v: serde_json::Value = serde_json::from_str(
            r#"[{"elem": {"val": {"concat": ["tcp", 3]}, "timeout": 4, "expires": 2}}, {"concat": ["10.213.9.2", 80]}]"#,
        )
        .unwrap();
        let (k, d, expiring) = map_element(&v).unwrap();
        assert_eq!(
            (k, d),
            (
                vec!["tcp".into(), "3".into()],
                vec!["10.213.9.2".into(), "80".into()]
            )
        );
        assert!(expiring);
    }

    #[test]
    fn tells_a_table_emptied_of_its_rules() {
        // As nft 1.0.6 prints berth's table after `nft flush chain inet
        // berth forward` (other chains and rules left out).
        let v: serde_json::Value = serde_json::from_str(
            r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
                {"table": {"family": "inet", "name": "berth", "handle": 1}},
                {"set": {"family": "inet", "name": "bridges", "table": "berth", "type": "ifname", "handle": 3, "elem": ["b1", "b2"]}},
                {"set": {"family": "inet", "name": "internal", "table": "berth", "type": "ifname", "handle": 4, "elem": ["b3"]}},
                {"chain": {"family": "inet", "table": "berth", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
                {"rule": {"family": "inet", "table": "berth", "chain": "prerouting", "handle": 5, "expr": []}}]}"#,
        )
        .unwrap();
        let state = parse_table_state(&v);
        assert_eq!(state.bridges, ["b1", "b2"]);
        assert!(state.incomplete.contains(&"forward"), "{state:?}");
        assert!(!state.incomplete.contains(&"prerouting"), "{state:?}");
        let empty = parse_table_state(&serde_json::json!({"nftables": []}));
        assert!(empty.bridges.is_empty());
        assert_eq!(empty.incomplete.len(), rules::rule_counts().len());
    }

    #[test]
    fn names_host_sides() {
        let el = |host_ip: Option<&str>, p| PortElement {
            map: DnatMap::Any4,
            host_ip: host_ip.map(|s| s.parse().unwrap()),
            protocol: crate::model::Protocol::Tcp,
            host_port: p,
            container_ip: "10.213.0.2".parse().unwrap(),
            container_port: 80,
        };
        assert_eq!(host_side(&el(None, 1)), "1/tcp");
        assert_eq!(host_side(&el(Some("::1"), 2)), "[::1]:2/tcp");
        assert_eq!(host_side(&el(Some("127.0.0.1"), 3)), "127.0.0.1:3/tcp");
    }

    #[test]
    fn reads_the_data_of_a_got_element() {
        let text = "table inet berth {\n\tmap dnat4_any {\n\t\ttype inet_proto . inet_service : ipv4_addr . inet_service\n\t\telements = { tcp . 8080 : 10.213.1.9 . 80 }\n\t}\n}\n";
        assert_eq!(element_data(text).as_deref(), Some("10.213.1.9 . 80"));
        assert_eq!(element_data("table inet berth {}"), None);
    }
}
