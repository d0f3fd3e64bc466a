//! A bridge network's host side: the bridge device with the gateway
//! addresses, and the sysctls the network needs.
//!
//! [`ensure_bridge`] is idempotent (safe to run on every use, and by several
//! berth processes at once). Forwarding is host-wide: [`enable_forwarding`]
//! returns what it changed, as a serialisable [`PreviousSysctls`] that
//! [`crate::forwarding`] records (`/run/berth/forwarding.json`), so that
//! [`restore`] can put it back when the host's last bridge network goes.
//! The per-bridge `route_localnet` needs no restore: it goes with the bridge.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::model::{mac_from_ipv4, NetworkDef};
use crate::netlink::{req, Netlink};
use crate::{Error, Result};

/// The kernel numbers bridge ports 1..1023 (BR_MAX_PORTS in
/// net/bridge/br_private.h is 1024, port 0 is never used); enslaving one
/// more fails with EXFULL.
pub const MAX_PORTS: u32 = 1023;

/// Makes sure `def`'s bridge exists, has the MTU, the gateway address(es)
/// with the subnet prefix, `route_localnet` (so DNAT of 127.0.0.1 works),
/// and is up. Cost when it already exists: two round trips and one sysctl.
pub fn ensure_bridge(nl: &mut Netlink, def: &NetworkDef) -> Result<()> {
    let name = def.bridge.as_deref().ok_or_else(|| Error::Endpoint {
        network: def.name.clone(),
        reason: "a bridge network without a bridge device name".to_owned(),
    })?;
    let index = match nl.link(name)? {
        Some(l) if l.kind.as_deref() == Some("bridge") => l.index,
        Some(l) => return Err(not_a_bridge(name, &l)),
        None => {
            // A fixed MAC (from the gateway address, never a container's):
            // otherwise the bridge takes its lowest port's MAC, which changes
            // as containers come and go and churns neighbours' ARP caches.
            let mac = mac_from_ipv4(def.gateway);
            match nl.create_bridge(name, def.mtu, Some(mac)) {
                Ok(()) => {}
                // Another berth made it between our lookup and create.
                Err(e) if e.is_exists() => {}
                Err(e) => return Err(e.into()),
            }
            match nl.link(name)? {
                Some(l) if l.kind.as_deref() == Some("bridge") => l.index,
                Some(l) => return Err(not_a_bridge(name, &l)),
                None => nl.require_link(name)?,
            }
        }
    };
    let mut reqs = vec![req::set_link(
        index,
        name,
        &req::LinkChange {
            mtu: (def.mtu != 0).then_some(def.mtu),
            up: Some(true),
            ..Default::default()
        },
    )?];
    reqs.push(req::add_address(
        index,
        name,
        IpAddr::V4(def.gateway),
        def.subnet.prefix,
        false,
    )?);
    if let (Some(gw6), Some(net6)) = (def.gateway6, def.subnet6) {
        reqs.push(req::add_address(
            index,
            name,
            IpAddr::V6(gw6),
            net6.prefix,
            true,
        )?);
    }
    nl.batch(&reqs)?;
    write_sysctl(&format!("net/ipv4/conf/{name}/route_localnet"), "1")?;
    Ok(())
}

/// Deletes the bridge `name` (its ports are released, its addresses and
/// routes go with it). A missing bridge is not an error; a device of that
/// name that is not a bridge is refused, not deleted.
pub fn remove_bridge(nl: &mut Netlink, name: &str) -> Result<()> {
    match nl.link(name)? {
        None => Ok(()),
        Some(l) if l.kind.as_deref() == Some("bridge") => match nl.delete_link(l.index, name) {
            Err(e) if !e.is_not_found() => Err(e.into()),
            _ => Ok(()),
        },
        Some(l) => Err(not_a_bridge(name, &l)),
    }
}

fn not_a_bridge(name: &str, l: &crate::netlink::LinkDetails) -> Error {
    Error::NotABridge {
        device: name.to_owned(),
        kind: l
            .kind
            .clone()
            .unwrap_or_else(|| "device without a kind".to_owned()),
    }
}

/// Host sysctls that [`enable_forwarding`] changed, with their values before.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PreviousSysctls {
    /// (key under /proc/sys, e.g. `net/ipv4/ip_forward`; previous value)
    pub values: Vec<(String, String)>,
}

impl PreviousSysctls {
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

const IPV4_FORWARD: &str = "net/ipv4/ip_forward";
const IPV6_FORWARD: &str = "net/ipv6/conf/all/forwarding";
/// Every key [`enable_forwarding`] may change, so every key a record of its
/// changes may name.
pub const FORWARDING_KEYS: [&str; 2] = [IPV4_FORWARD, IPV6_FORWARD];

/// Sets `net.ipv4.ip_forward=1` and, with `ipv6`, `net.ipv6.conf.all.forwarding=1`.
/// Returns the values it changed (those already 1 are not recorded).
pub fn enable_forwarding(ipv6: bool) -> Result<PreviousSysctls> {
    let mut prev = PreviousSysctls::default();
    let keys: &[&str] = if ipv6 {
        &[IPV4_FORWARD, IPV6_FORWARD]
    } else {
        &[IPV4_FORWARD]
    };
    for key in keys {
        match set_sysctl(key, "1") {
            Ok(Some(old)) => prev.values.push(((*key).to_owned(), old)),
            Ok(None) => {}
            Err(e) => {
                // Leave the host as it was.
                if let Err(undo) = restore(&prev) {
                    tracing::warn!(error = %undo, "restoring sysctls after a failure");
                }
                return Err(e);
            }
        }
    }
    Ok(prev)
}

/// Puts back what [`enable_forwarding`] changed, in reverse order.
pub fn restore(prev: &PreviousSysctls) -> Result<()> {
    let mut first_err = None;
    for (key, value) in prev.values.iter().rev() {
        if let Err(e) = write_sysctl(key, value) {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

fn sysctl_path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/").trim_start_matches('/'))
}

/// Reads a sysctl (`net/ipv4/ip_forward` or `net.ipv4.ip_forward`; an
/// interface name with a dot must use the `/` form).
pub fn read_sysctl(key: &str) -> Result<String> {
    let path = if key.contains('/') {
        PathBuf::from("/proc/sys").join(key)
    } else {
        sysctl_path(key)
    };
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| Error::Sysctl { path, source })
}

/// Sets a sysctl if it differs; returns the old value if it changed it.
pub fn set_sysctl(key: &str, value: &str) -> Result<Option<String>> {
    let old = read_sysctl(key)?;
    if old == value {
        return Ok(None);
    }
    write_sysctl(key, value)?;
    Ok(Some(old))
}

fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = if key.contains('/') {
        PathBuf::from("/proc/sys").join(key)
    } else {
        sysctl_path(key)
    };
    std::fs::write(&path, value).map_err(|source| Error::Sysctl { path, source })
}
