//! The nftables text berth's firewall sends: the fixed table (created once
//! per host), a network's elements, and a container's port elements.
//!
//! Everything here is a pure function of the model types, so it is tested
//! without a kernel. The same element lists are encoded for netlink by
//! [`super::nfnl`].

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Error, Result};
use crate::model::{Endpoint, Ipv4Net, Ipv6Net, NetworkDef, PortMapping, Protocol};

/// Family of berth's table. `inet` covers IPv4 and IPv6 with one ruleset.
pub const FAMILY: &str = "inet";
/// Name of berth's only table.
pub const TABLE: &str = "berth";

/// Set of every berth bridge (isolation, localhost masquerade); also the
/// registry of networks: the table is removed only when it is empty.
pub const SET_BRIDGES: &str = "bridges";
/// Bridges of `internal` networks.
pub const SET_INTERNAL: &str = "internal";
/// `"br" . "br"` for every bridge: traffic that stays within one bridge.
pub const SET_SAME: &str = "same";
/// `"br" . subnet` (IPv4): a bridge and the subnet that lives behind it.
pub const SET_OWN4: &str = "own4";
/// `"br" . subnet` (IPv6).
pub const SET_OWN6: &str = "own6";
/// Subnets masqueraded when they leave their bridge (IPv4).
pub const SET_MASQ4: &str = "masq4";
/// Subnets masqueraded when they leave their bridge (IPv6).
pub const SET_MASQ6: &str = "masq6";

/// The four DNAT maps, one per (family, any-or-specific host address). Each
/// maps a key of the packet to the container's address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DnatMap {
    /// `meta l4proto . th dport` -> IPv4 `address . port`, every host address.
    Any4,
    /// `ip daddr . meta l4proto . th dport` -> IPv4 `address . port`.
    Host4,
    /// `meta l4proto . th dport` -> IPv6 `address . port`, every host address.
    Any6,
    /// `ip6 daddr . meta l4proto . th dport` -> IPv6 `address . port`.
    Host6,
}

impl DnatMap {
    pub const ALL: [DnatMap; 4] = [DnatMap::Any4, DnatMap::Host4, DnatMap::Any6, DnatMap::Host6];

    pub fn name(self) -> &'static str {
        match self {
            DnatMap::Any4 => "dnat4_any",
            DnatMap::Host4 => "dnat4_host",
            DnatMap::Any6 => "dnat6_any",
            DnatMap::Host6 => "dnat6_host",
        }
    }
}

/// One element of a DNAT map: which host address/port/protocol goes to which
/// container address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortElement {
    pub map: DnatMap,
    /// `None` for the `*_any` maps.
    pub host_ip: Option<IpAddr>,
    pub protocol: Protocol,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
}

impl PortElement {
    /// The key part in nft syntax, e.g. `tcp . 8080` or `127.0.0.1 . tcp . 8080`.
    pub fn key_text(&self) -> String {
        match self.host_ip {
            Some(ip) => format!("{ip} . {} . {}", self.protocol.name(), self.host_port),
            None => format!("{} . {}", self.protocol.name(), self.host_port),
        }
    }

    /// The whole element in nft syntax: `key : container_ip . port`.
    pub fn text(&self) -> String {
        format!(
            "{} : {} . {}",
            self.key_text(),
            self.container_ip,
            self.container_port
        )
    }
}

/// The DNAT map elements for `ports` of the endpoint `ep`.
///
/// A mapping without `host_ip` is published on every IPv4 host address and,
/// when the endpoint has an IPv6 address, on every IPv6 host address.
/// `0.0.0.0` and `::` mean every address of that family only. A specific
/// IPv6 host address needs an endpoint with an IPv6 address.
pub fn port_elements(
    def: &NetworkDef,
    ep: &Endpoint,
    ports: &[PortMapping],
) -> Result<Vec<PortElement>> {
    let mut out = Vec::with_capacity(ports.len() * 2);
    let v6 = match (def.subnet6, ep.ipv6) {
        (Some(_), Some(ip)) => Some(ip),
        _ => None,
    };
    for p in ports {
        let el = |map, host_ip, container_ip| PortElement {
            map,
            host_ip,
            protocol: p.protocol,
            host_port: p.host_port,
            container_ip,
            container_port: p.container_port,
        };
        match p.host_ip {
            None => {
                out.push(el(DnatMap::Any4, None, IpAddr::V4(ep.ipv4)));
                if let Some(ip6) = v6 {
                    out.push(el(DnatMap::Any6, None, IpAddr::V6(ip6)));
                }
            }
            Some(IpAddr::V4(h)) if h.is_unspecified() => {
                out.push(el(DnatMap::Any4, None, IpAddr::V4(ep.ipv4)));
            }
            Some(IpAddr::V4(h)) => {
                out.push(el(DnatMap::Host4, Some(IpAddr::V4(h)), IpAddr::V4(ep.ipv4)));
            }
            Some(IpAddr::V6(h)) => {
                let ip6 = v6.ok_or_else(|| Error::NoIpv6 {
                    network: def.name.clone(),
                    host_ip: IpAddr::V6(h),
                    host_port: p.host_port,
                })?;
                if h.is_unspecified() {
                    out.push(el(DnatMap::Any6, None, IpAddr::V6(ip6)));
                } else {
                    out.push(el(DnatMap::Host6, Some(IpAddr::V6(h)), IpAddr::V6(ip6)));
                }
            }
        }
    }
    Ok(out)
}

/// Checks that `name` is an interface name nft can take between quotes.
pub fn check_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidIfname(name.to_owned()))
    }
}

/// The network address of `net` (host bits cleared), as nft wants it.
pub fn net4(net: Ipv4Net) -> Ipv4Net {
    let prefix = net.prefix.min(32);
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    Ipv4Net {
        addr: Ipv4Addr::from(u32::from(net.addr) & mask),
        prefix,
    }
}

/// The network address of `net` (host bits cleared), as nft wants it.
pub fn net6(net: Ipv6Net) -> Ipv6Net {
    let prefix = net.prefix.min(128);
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    Ipv6Net {
        addr: Ipv6Addr::from(u128::from(net.addr) & mask),
        prefix,
    }
}

/// The fixed table: sets, maps and chains, created once per host. Every
/// per-network and per-container fact is an element of one of its sets.
///
/// `create table` (NLM_F_EXCL) makes the transaction fail instead of adding
/// the rules a second time if another process created the table meanwhile.
pub fn table_script() -> String {
    let mut s = format!(
        "create table {FAMILY} {TABLE}\ntable {FAMILY} {TABLE} {{\n\tcomment \"berth container networks; managed by berth, do not edit\"\n{}",
        sets()
    );
    for chain in CHAINS {
        let _ = writeln!(s, "\tchain {} {{", chain.name);
        if let Some(hook) = chain.hook {
            let _ = writeln!(s, "\t\t{hook}");
        }
        for rule in chain.rules {
            let _ = writeln!(s, "\t\t{rule}");
        }
        s.push_str("\t}\n");
    }
    s.push_str("}\n");
    s.push_str(&input_script());
    s
}

/// The fixed table made whole again in one transaction, keeping every
/// element: sets, maps and chains that are missing are added (an `add` of
/// one that exists changes nothing), every chain is flushed and gets its
/// rules again. What `berth network restore` applies to a table that
/// someone emptied (`nft flush table`), or whose chains or sets were
/// deleted one by one. No packet sees a chain half made: the kernel
/// commits the transaction at once.
pub fn repair_script() -> String {
    let mut s = format!(
        "add table {FAMILY} {TABLE}\ntable {FAMILY} {TABLE} {{\n{}",
        sets()
    );
    for chain in CHAINS {
        match chain.hook {
            Some(hook) => {
                let _ = writeln!(s, "\tchain {} {{ {hook} }}", chain.name);
            }
            None => {
                let _ = writeln!(s, "\tchain {} {{ }}", chain.name);
            }
        }
    }
    s.push_str("}\n");
    for chain in CHAINS {
        let _ = writeln!(s, "flush chain {FAMILY} {TABLE} {}", chain.name);
        for rule in chain.rules {
            let _ = writeln!(s, "add rule {FAMILY} {TABLE} {} {rule}", chain.name);
        }
    }
    s.push_str(&input_script());
    s
}

/// How many rules berth puts in each chain of its table (`input` too).
pub fn rule_counts() -> Vec<(&'static str, usize)> {
    let mut out: Vec<(&'static str, usize)> =
        CHAINS.iter().map(|c| (c.name, c.rules.len())).collect();
    let input = input_script()
        .lines()
        .filter(|l| l.starts_with("add rule "))
        .count();
    out.push(("input", input));
    out
}

/// The sets and maps of the table, as lines of a `table { }` block.
fn sets() -> String {
    format!(
        r#"	map {dnat4_any} {{ type inet_proto . inet_service : ipv4_addr . inet_service; flags timeout; }}
	map {dnat4_host} {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; flags timeout; }}
	map {dnat6_any} {{ type inet_proto . inet_service : ipv6_addr . inet_service; flags timeout; }}
	map {dnat6_host} {{ type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; flags timeout; }}
	set {SET_BRIDGES} {{ type ifname; }}
	set {SET_INTERNAL} {{ type ifname; }}
	set {SET_SAME} {{ type ifname . ifname; }}
	set {SET_OWN4} {{ type ifname . ipv4_addr; flags interval; }}
	set {SET_OWN6} {{ type ifname . ipv6_addr; flags interval; }}
	set {SET_MASQ4} {{ type ipv4_addr; flags interval; }}
	set {SET_MASQ6} {{ type ipv6_addr; flags interval; }}
"#,
        dnat4_any = DnatMap::Any4.name(),
        dnat4_host = DnatMap::Host4.name(),
        dnat6_any = DnatMap::Any6.name(),
        dnat6_host = DnatMap::Host6.name(),
    )
}

/// A chain of the fixed table (but `input`, see [`input_script`]): its
/// hook (none for a chain only jumped to) and its rules.
struct Chain {
    name: &'static str,
    hook: Option<&'static str>,
    rules: &'static [&'static str],
}

/// The chains of the fixed table. The set and map names in the rules are
/// the constants above (a test checks that every `@name` is declared).
const CHAINS: &[Chain] = &[
    Chain {
        name: "publish",
        hook: None,
        rules: &[
            "meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @dnat4_host",
            "meta nfproto ipv4 dnat ip to meta l4proto . th dport map @dnat4_any",
            "meta nfproto ipv6 dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6_host",
            "meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @dnat6_any",
        ],
    },
    Chain {
        name: "prerouting",
        hook: Some("type nat hook prerouting priority dstnat; policy accept;"),
        rules: &["fib daddr type local jump publish"],
    },
    Chain {
        name: "output",
        hook: Some("type nat hook output priority -100; policy accept;"),
        rules: &["ip6 daddr ::1 return", "fib daddr type local jump publish"],
    },
    Chain {
        name: "postrouting",
        hook: Some("type nat hook postrouting priority srcnat; policy accept;"),
        rules: &[
            "ct status dnat oifname . ip saddr @own4 masquerade",
            "ct status dnat oifname . ip6 saddr @own6 masquerade",
            "oifname @bridges ip saddr 127.0.0.0/8 masquerade",
            "oifname . ip saddr @own4 return",
            "oifname . ip6 saddr @own6 return",
            "ip saddr @masq4 masquerade",
            "ip6 saddr @masq6 masquerade",
        ],
    },
    Chain {
        name: "forward",
        hook: Some("type filter hook forward priority filter; policy accept;"),
        rules: &[
            "ct state established,related accept",
            "iifname . oifname @same accept",
            "iifname @internal drop",
            "oifname @internal drop",
            "ct status dnat accept",
            "iifname @bridges oifname @bridges drop",
        ],
    },
];

/// The `input` chain, (re)made whole in one transaction: a packet for
/// 127.0.0.0/8 that came in through a berth bridge is dropped unless berth's
/// DNAT sent it there (CVE-2020-8558, kube-proxy's rule). Bridges have
/// `route_localnet=1` so that ports published on 127.0.0.1 work; without
/// this rule a neighbour routing or crafting packets to 127.0.0.1 (any
/// container with CAP_NET_RAW can) would reach the host's loopback services.
/// The replies of a DNATed connection carry `ct status dnat` and pass.
///
/// Part of [`table_script`], and applied again by every network create on a
/// table an older berth made without it (the flush makes it idempotent).
pub fn input_script() -> String {
    format!(
        "add chain {FAMILY} {TABLE} input {{ type filter hook input priority filter; policy accept; }}
flush chain {FAMILY} {TABLE} input
add rule {FAMILY} {TABLE} input iifname @{SET_BRIDGES} ip daddr 127.0.0.0/8 ct status & dnat == 0 drop
"
    )
}

/// The per-network elements: `(set, element)` in nft syntax.
pub fn network_elements(def: &NetworkDef) -> Result<Vec<(&'static str, String)>> {
    let Some(bridge) = def.bridge.as_deref() else {
        return Ok(Vec::new());
    };
    check_ifname(bridge)?;
    let q = format!("\"{bridge}\"");
    let s4 = net4(def.subnet);
    let s4 = format!("{}/{}", s4.addr, s4.prefix);
    let s6 = def.subnet6.map(|s| {
        let s = net6(s);
        format!("{}/{}", s.addr, s.prefix)
    });
    let mut out = vec![
        (SET_BRIDGES, q.clone()),
        (SET_SAME, format!("{q} . {q}")),
        (SET_OWN4, format!("{q} . {s4}")),
    ];
    if let Some(s6) = &s6 {
        out.push((SET_OWN6, format!("{q} . {s6}")));
    }
    if def.internal {
        out.push((SET_INTERNAL, q));
    } else if def.masquerade {
        out.push((SET_MASQ4, s4));
        if let Some(s6) = s6 {
            out.push((SET_MASQ6, s6));
        }
    }
    Ok(out)
}

/// `add element` for every element: one transaction, idempotent.
pub fn add_script<'a>(elements: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let mut s = String::new();
    for (set, el) in elements {
        let _ = writeln!(s, "add element {FAMILY} {TABLE} {set} {{ {el} }}");
    }
    s
}

/// Deletes every element in one transaction, also those already gone: each
/// `delete` follows an `add` of the same element, so a missing element is
/// not an error. An element whose key now maps to *other* data (a host port
/// published by another container since) makes the `add` fail with EEXIST
/// and the whole transaction abort: the other container's mapping is never
/// removed.
pub fn delete_script<'a>(elements: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let mut s = String::new();
    for (set, el) in elements {
        let _ = writeln!(s, "add element {FAMILY} {TABLE} {set} {{ {el} }}");
        let _ = writeln!(s, "delete element {FAMILY} {TABLE} {set} {{ {el} }}");
    }
    s
}

/// `(map name, element text)` pairs for the port elements.
pub fn port_texts(elements: &[PortElement]) -> Vec<(&'static str, String)> {
    elements.iter().map(|e| (e.map.name(), e.text())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Driver;
    use std::collections::BTreeMap;

    fn def(internal: bool, v6: bool) -> NetworkDef {
        NetworkDef {
            name: "n1".into(),
            driver: Driver::Bridge,
            bridge: Some("bt1".into()),
            parent: None,
            mode: None,
            subnet: Ipv4Net {
                addr: "10.213.7.9".parse().unwrap(),
                prefix: 24,
            },
            gateway: "10.213.7.1".parse().unwrap(),
            subnet6: v6.then(|| Ipv6Net {
                addr: "fd00:213:7::5".parse().unwrap(),
                prefix: 64,
            }),
            gateway6: v6.then(|| "fd00:213:7::1".parse().unwrap()),
            mtu: 1500,
            internal,
            masquerade: true,
            labels: BTreeMap::new(),
            index: 7,
        }
    }

    fn ep(v6: bool) -> Endpoint {
        Endpoint {
            network: "n1".into(),
            driver: Driver::Bridge,
            ifname: "eth0".into(),
            host_ifname: "bv1".into(),
            temp_ifname: "bt1".into(),
            mac: [2, 0x42, 10, 213, 7, 2],
            mtu: 1500,
            ipv4: "10.213.7.2".parse().unwrap(),
            prefix4: 24,
            gateway4: "10.213.7.1".parse().unwrap(),
            ipv6: v6.then(|| "fd00:213:7::2".parse().unwrap()),
            prefix6: 64,
            gateway6: None,
            bridge: Some("bt1".into()),
            parent: None,
            mode: None,
            name: String::new(),
            aliases: Vec::new(),
            default_route4: true,
            default_route6: true,
        }
    }

    fn pm(host_ip: Option<&str>, hp: u16, cp: u16, protocol: Protocol) -> PortMapping {
        PortMapping {
            host_ip: host_ip.map(|s| s.parse().unwrap()),
            host_port: hp,
            container_port: cp,
            protocol,
        }
    }

    #[test]
    fn network_elements_masquerading_dual_stack() {
        let els = network_elements(&def(false, true)).unwrap();
        let want: Vec<(&str, String)> = vec![
            ("bridges", "\"bt1\"".into()),
            ("same", "\"bt1\" . \"bt1\"".into()),
            ("own4", "\"bt1\" . 10.213.7.0/24".into()),
            ("own6", "\"bt1\" . fd00:213:7::/64".into()),
            ("masq4", "10.213.7.0/24".into()),
            ("masq6", "fd00:213:7::/64".into()),
        ];
        assert_eq!(els, want);
    }

    #[test]
    fn network_elements_internal_has_no_masquerade() {
        let els = network_elements(&def(true, false)).unwrap();
        let sets: Vec<&str> = els.iter().map(|(s, _)| *s).collect();
        assert_eq!(sets, ["bridges", "same", "own4", "internal"]);
    }

    #[test]
    fn network_elements_no_masquerade() {
        let mut d = def(false, false);
        d.masquerade = false;
        let sets: Vec<&str> = network_elements(&d)
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(sets, ["bridges", "same", "own4"]);
    }

    #[test]
    fn bad_bridge_names_are_refused() {
        for bad in ["", "a\"b", "toolongname12345", "a b", "x;y"] {
            let mut d = def(false, false);
            d.bridge = Some(bad.into());
            assert!(
                matches!(network_elements(&d), Err(Error::InvalidIfname(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn non_bridge_network_has_no_elements() {
        let mut d = def(false, false);
        d.driver = Driver::Macvlan;
        d.bridge = None;
        assert!(network_elements(&d).unwrap().is_empty());
    }

    #[test]
    fn port_elements_any_address_dual_stack() {
        let els = port_elements(
            &def(false, true),
            &ep(true),
            &[pm(None, 8080, 80, Protocol::Tcp)],
        )
        .unwrap();
        let t = port_texts(&els);
        assert_eq!(
            t,
            vec![
                ("dnat4_any", "tcp . 8080 : 10.213.7.2 . 80".to_string()),
                ("dnat6_any", "tcp . 8080 : fd00:213:7::2 . 80".to_string()),
            ]
        );
    }

    #[test]
    fn port_elements_specific_addresses() {
        let els = port_elements(
            &def(false, true),
            &ep(true),
            &[
                pm(Some("127.0.0.1"), 53, 5353, Protocol::Udp),
                pm(Some("0.0.0.0"), 81, 80, Protocol::Tcp),
                pm(Some("fd00:213:ff::1"), 82, 80, Protocol::Tcp),
                pm(Some("::"), 83, 80, Protocol::Udp),
            ],
        )
        .unwrap();
        assert_eq!(
            port_texts(&els),
            vec![
                (
                    "dnat4_host",
                    "127.0.0.1 . udp . 53 : 10.213.7.2 . 5353".into()
                ),
                ("dnat4_any", "tcp . 81 : 10.213.7.2 . 80".into()),
                (
                    "dnat6_host",
                    "fd00:213:ff::1 . tcp . 82 : fd00:213:7::2 . 80".into()
                ),
                ("dnat6_any", "udp . 83 : fd00:213:7::2 . 80".into()),
            ]
        );
    }

    #[test]
    fn port_elements_v4_only_endpoint() {
        let els = port_elements(
            &def(false, false),
            &ep(false),
            &[pm(None, 8080, 80, Protocol::Tcp)],
        )
        .unwrap();
        assert_eq!(els.len(), 1);
        assert_eq!(els[0].map, DnatMap::Any4);
        let err = port_elements(
            &def(false, false),
            &ep(false),
            &[pm(Some("fd00::1"), 8080, 80, Protocol::Tcp)],
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::NoIpv6 {
                    host_port: 8080,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn scripts() {
        let els = vec![("dnat4_any", "tcp . 1 : 10.213.7.2 . 2".to_string())];
        assert_eq!(
            add_script(els.clone()),
            "add element inet berth dnat4_any { tcp . 1 : 10.213.7.2 . 2 }\n"
        );
        assert_eq!(
            delete_script(els),
            "add element inet berth dnat4_any { tcp . 1 : 10.213.7.2 . 2 }\n\
             delete element inet berth dnat4_any { tcp . 1 : 10.213.7.2 . 2 }\n"
        );
    }

    #[test]
    fn repair_script_refills_every_chain_and_keeps_elements() {
        let s = repair_script();
        assert!(s.starts_with("add table inet berth\n"), "{s}");
        // Nothing that would fail on a table that exists, nothing that
        // deletes elements.
        assert!(!s.contains("create ") && !s.contains("delete "), "{s}");
        for c in CHAINS {
            let flush = format!("flush chain inet berth {}\n", c.name);
            let at = s.find(&flush).unwrap_or_else(|| panic!("{flush}"));
            for r in c.rules {
                let add = format!("add rule inet berth {} {r}\n", c.name);
                assert!(s[at..].contains(&add), "{add}");
            }
        }
        assert!(s.contains("flush chain inet berth input\n"));
    }

    #[test]
    fn every_set_a_rule_names_is_declared() {
        let declared = sets();
        for c in CHAINS {
            for r in c.rules {
                for word in r.split_whitespace() {
                    if let Some(name) = word.strip_prefix('@') {
                        let map = format!("map {name} {{");
                        let set = format!("set {name} {{");
                        assert!(
                            declared.contains(&map) || declared.contains(&set),
                            "{name} in {r:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn table_script_names_every_set_it_uses() {
        let s = table_script();
        assert!(s.starts_with("create table inet berth\n"));
        for m in DnatMap::ALL {
            assert!(s.contains(&format!("map {} {{", m.name())));
            assert!(s.contains(&format!("map @{}", m.name())));
        }
        for set in [
            SET_BRIDGES,
            SET_INTERNAL,
            SET_SAME,
            SET_OWN4,
            SET_OWN6,
            SET_MASQ4,
            SET_MASQ6,
        ] {
            assert!(s.contains(&format!("set {set} {{")), "{set}");
            assert!(s.contains(&format!("@{set}")), "{set}");
        }
    }

    #[test]
    fn subnets_are_normalised() {
        let n = net4(Ipv4Net {
            addr: "10.213.7.9".parse().unwrap(),
            prefix: 22,
        });
        assert_eq!(n.addr, "10.213.4.0".parse::<Ipv4Addr>().unwrap());
        let n = net6(Ipv6Net {
            addr: "fd00:213:7::5".parse().unwrap(),
            prefix: 48,
        });
        assert_eq!(n.addr, "fd00:213:7::".parse::<Ipv6Addr>().unwrap());
    }
}
