//! The data every part of the network layer shares: a network's definition,
//! a container's endpoint on it, and a published port. Plain data with
//! serde, so the same values go into the store, the container's state and
//! the init's copy of the plan.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 subnet: network address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// An IPv6 subnet: network address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ipv6Net {
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

/// The driver of a network: which strategy gives its containers an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A veth pair whose host end joins the network's bridge.
    Bridge,
    /// A macvlan sub-interface of `parent`.
    Macvlan,
    /// An ipvlan sub-interface of `parent`.
    Ipvlan,
}

/// What differs between drivers, besides their strategy (see
/// [`crate::strategy::Kind::of`]): each is an exhaustive match, so a new
/// driver is made to answer every question.
impl Driver {
    /// Every driver, in the order `network create` lists them.
    pub const ALL: [Driver; 3] = [Driver::Bridge, Driver::Macvlan, Driver::Ipvlan];

    pub fn name(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Macvlan => "macvlan",
            Driver::Ipvlan => "ipvlan",
        }
    }

    /// The driver called `name` (`network create --driver`).
    pub fn from_name(name: &str) -> Option<Driver> {
        Driver::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Whether the driver's networks are a bridge that berth makes on the
    /// host: the bridge with the gateway's addresses, forwarding, berth's
    /// firewall rules (NAT, isolation), and per container a veth host end on
    /// the bridge and its published ports' firewall elements. The other
    /// drivers' containers sit on a parent device the host already has,
    /// outside berth's firewall: nothing of theirs is made on the host, and
    /// they are reached directly, not through published ports.
    pub fn has_bridge(self) -> bool {
        match self {
            Driver::Bridge => true,
            Driver::Macvlan | Driver::Ipvlan => false,
        }
    }

    /// Whether the driver's containers hang off a parent device
    /// (`network create --parent`, `--mode`).
    pub fn needs_parent(self) -> bool {
        match self {
            Driver::Bridge => false,
            Driver::Macvlan | Driver::Ipvlan => true,
        }
    }

    /// The most containers a network of this driver takes, if it has a
    /// limit: a kernel bridge's ports.
    pub fn max_endpoints(self) -> Option<u32> {
        match self {
            Driver::Bridge => Some(crate::bridge::MAX_PORTS),
            Driver::Macvlan | Driver::Ipvlan => None,
        }
    }
}

/// A network as `berth network create` defined it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDef {
    pub name: String,
    pub driver: Driver,
    /// Bridge device (driver `bridge`), e.g. `berth0`.
    pub bridge: Option<String>,
    /// Parent device (drivers `macvlan`, `ipvlan`).
    pub parent: Option<String>,
    /// macvlan mode (bridge, private, vepa, passthru) or ipvlan mode (l2, l3, l3s).
    pub mode: Option<String>,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub subnet6: Option<Ipv6Net>,
    pub gateway6: Option<Ipv6Addr>,
    pub mtu: u32,
    /// No route out: no masquerade and no forwarding beyond the bridge.
    pub internal: bool,
    /// Outbound traffic is masqueraded unless this is false.
    pub masquerade: bool,
    pub labels: BTreeMap<String, String>,
    /// A small number unique among berth's networks, used for firewall
    /// set names and the isolation mark.
    pub index: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One published port: `host_ip:host_port -> container_ip:container_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// `None`: every host address (and 127.0.0.1).
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

/// One container's interface on one network: everything needed to create,
/// initialise and tear it down, decided before the init is cloned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network: String,
    pub driver: Driver,
    /// Interface name inside the container (default `eth0`, `eth1`, ...).
    pub ifname: String,
    /// Host-side name: the veth host end (e.g. `bv<hash>`), unused for
    /// macvlan/ipvlan. At most 15 bytes.
    pub host_ifname: String,
    /// Temporary name of the container-side device until `initialize`
    /// renames it to `ifname` (unique on the host: at most 15 bytes).
    pub temp_ifname: String,
    pub mac: [u8; 6],
    pub mtu: u32,
    pub ipv4: Ipv4Addr,
    pub prefix4: u8,
    pub gateway4: Ipv4Addr,
    pub ipv6: Option<Ipv6Addr>,
    pub prefix6: u8,
    pub gateway6: Option<Ipv6Addr>,
    /// Bridge to attach to (driver `bridge`).
    pub bridge: Option<String>,
    /// Parent device (macvlan, ipvlan).
    pub parent: Option<String>,
    pub mode: Option<String>,
    /// Whether the container's IPv4 default route goes through this
    /// endpoint's gateway: the first network's (docker's rule). Endpoints
    /// recorded before this field each had one.
    #[serde(default = "yes")]
    pub default_route4: bool,
    /// The same for IPv6: the first network with an IPv6 gateway.
    #[serde(default = "yes")]
    pub default_route6: bool,
}

fn yes() -> bool {
    true
}

impl Endpoint {
    /// Whether the container's IPv4 default route goes through this endpoint.
    pub fn routes_default4(&self) -> bool {
        self.default_route4 && !self.gateway4.is_unspecified()
    }

    /// Whether the container's IPv6 default route goes through this endpoint.
    pub fn routes_default6(&self) -> bool {
        self.default_route6 && self.gateway6.is_some()
    }
}

/// The MAC docker derives from an IPv4 address: 02:42 followed by the address.
pub fn mac_from_ipv4(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drivers_are_found_by_their_name() {
        for d in Driver::ALL {
            assert_eq!(Driver::from_name(d.name()), Some(d));
            // A driver either makes a bridge or hangs off a parent.
            assert_ne!(d.has_bridge(), d.needs_parent(), "{d:?}");
            assert_eq!(d.max_endpoints().is_some(), d.has_bridge(), "{d:?}");
        }
        assert_eq!(Driver::from_name("overlay"), None);
    }
}
