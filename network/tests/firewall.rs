//! The firewall against the real kernel: berth's table, its elements, and
//! packets through them between the host and network namespaces these tests
//! make (subnets 10.213.241-253.0/24 and fd00:213:f1-fd::/64 only).
//!
//! Needs root (CI is root). Every test removes what it made, also when it
//! fails, and checks that `nft list ruleset` is as it found it. The tests of
//! this file run one at a time: each compares the whole ruleset.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use network::firewall::nfnl::{self, Found};
use network::firewall::{self, rules, Error};
use network::model::{Driver, Endpoint, Ipv4Net, Ipv6Net, NetworkDef, PortMapping, Protocol};
use network::networks::{NetworkCreate, Networks};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> Option<MutexGuard<'static, ()>> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return None;
    }
    Some(SERIAL.lock().unwrap_or_else(|e| e.into_inner()))
}

fn tag() -> u32 {
    std::process::id() % 100_000
}

fn run(argv: &[&str]) -> String {
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ruleset() -> String {
    run(&["nft", "list", "ruleset"])
}

fn berth_table_exists() -> bool {
    Command::new("nft")
        .args(["list", "set", "inet", "berth", "bridges"])
        .output()
        .unwrap()
        .status
        .success()
}

/// The elements of one set or map of berth's table, as nft prints them in JSON.
fn elements(kind: &str, name: &str) -> Vec<serde_json::Value> {
    let out = Command::new("nft")
        .args(["-j", "list", kind, "inet", "berth", name])
        .output()
        .unwrap();
    if !out.status.success() {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| o.get(kind))
        .and_then(|s| s.get("elem"))
        .and_then(|e| e.as_array().cloned())
        .unwrap_or_default()
}

/// Map elements rendered as `k1 . k2 : d1 . d2`, with ` (expiring)` after
/// one a detach expired that has not reached the kernel's next tick.
fn map_entries(name: &str) -> Vec<String> {
    let part = |v: &serde_json::Value| {
        v["concat"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| match x {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" . ")
    };
    elements("map", name)
        .iter()
        .map(|e| match e[0].get("elem") {
            Some(elem) => format!("{} : {} (expiring)", part(&elem["val"]), part(&e[1])),
            None => format!("{} : {}", part(&e[0]), part(&e[1])),
        })
        .collect()
}

fn set_entries(name: &str) -> Vec<String> {
    elements("set", name)
        .iter()
        .map(|e| match e {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn def(name: &str, bridge: &str, octet: u8, v6: bool, internal: bool) -> NetworkDef {
    NetworkDef {
        name: name.into(),
        driver: Driver::Bridge,
        bridge: Some(bridge.into()),
        parent: None,
        mode: None,
        subnet: Ipv4Net {
            addr: Ipv4Addr::new(10, 213, octet, 0),
            prefix: 24,
        },
        gateway: Ipv4Addr::new(10, 213, octet, 1),
        subnet6: v6.then(|| Ipv6Net {
            addr: Ipv6Addr::new(0xfd00, 0x213, octet.into(), 0, 0, 0, 0, 0),
            prefix: 64,
        }),
        gateway6: v6.then(|| Ipv6Addr::new(0xfd00, 0x213, octet.into(), 0, 0, 0, 0, 1)),
        mtu: 1500,
        internal,
        masquerade: true,
        labels: Default::default(),
        index: 900 + u32::from(octet),
    }
}

fn endpoint(def: &NetworkDef, host: u8) -> Endpoint {
    let o = def.subnet.addr.octets();
    let ipv4 = Ipv4Addr::new(o[0], o[1], o[2], host);
    Endpoint {
        network: def.name.clone(),
        driver: Driver::Bridge,
        ifname: "eth0".into(),
        host_ifname: format!("vfw{}{host}", tag()),
        temp_ifname: format!("tfw{}{host}", tag()),
        mac: network::model::mac_from_ipv4(ipv4),
        mtu: 1500,
        ipv4,
        prefix4: 24,
        gateway4: def.gateway,
        ipv6: def.subnet6.map(|s| {
            let mut seg = s.addr.segments();
            seg[7] = host.into();
            Ipv6Addr::from(seg)
        }),
        prefix6: 64,
        gateway6: def.gateway6,
        bridge: def.bridge.clone(),
        parent: None,
        mode: None,
        default_route4: true,
        default_route6: true,
    }
}

fn port(host_ip: Option<&str>, host_port: u16, container_port: u16, p: Protocol) -> PortMapping {
    PortMapping {
        host_ip: host_ip.map(|s| s.parse().unwrap()),
        host_port,
        container_port,
        protocol: p,
    }
}

/// Removes the networks' firewall state on drop and checks the ruleset is
/// what it was before (when berth's table was not there before: otherwise
/// another user of the host owns it and only our elements are checked).
struct Fixture {
    defs: Vec<NetworkDef>,
    before: String,
    table_before: bool,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            defs: Vec::new(),
            before: ruleset(),
            table_before: berth_table_exists(),
        }
    }

    fn network(&mut self, def: NetworkDef) -> NetworkDef {
        self.defs.push(def.clone());
        firewall::ensure_network(&def).unwrap();
        def
    }

    fn cleanup(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        for d in self.defs.drain(..) {
            if let Err(e) = firewall::remove_network(&d, true) {
                errors.push(e.to_string());
            }
        }
        errors
    }

    /// Cleans up and checks that nothing is left.
    fn finish(mut self) {
        let names: Vec<String> = self.defs.iter().filter_map(|d| d.bridge.clone()).collect();
        let errors = self.cleanup();
        assert!(errors.is_empty(), "{errors:?}");
        if self.table_before {
            let left = set_entries("bridges");
            for n in names {
                assert!(!left.contains(&n), "{n} still in bridges: {left:?}");
            }
        } else {
            assert_eq!(ruleset(), self.before, "the ruleset changed");
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let errors = self.cleanup();
        if !errors.is_empty() {
            eprintln!("cleanup: {errors:?}");
        }
    }
}

/// `firewall::detach`, then waits (at most a second) for the kernel's next
/// tick, at which the elements it expired stop matching and vanish from
/// listings; the checks that follow a detach are about that state.
fn detach(d: &NetworkDef, ep: &Endpoint, ports: &[PortMapping]) {
    firewall::detach(d, ep, ports).unwrap();
    let elements: Vec<_> = ports
        .iter()
        .filter_map(|p| rules::port_elements(d, ep, std::slice::from_ref(p)).ok())
        .flatten()
        .collect();
    let deadline = Instant::now() + Duration::from_secs(1);
    while nfnl::lookup(&elements).unwrap().contains(&Found::Expiring) {
        assert!(Instant::now() < deadline, "still expiring after 1 s");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn network_and_port_elements_round_trip() {
    let Some(_g) = serial() else { return };
    let mut fx = Fixture::new();
    let br = format!("bfw{}a", tag());
    let d = fx.network(def("fw-a", &br, 241, true, false));
    // ensure_network is idempotent.
    firewall::ensure_network(&d).unwrap();

    assert!(set_entries("bridges").contains(&br));
    assert!(
        set_entries("masq4")
            .iter()
            .any(|e| e.contains("10.213.241.0")),
        "{:?}",
        set_entries("masq4")
    );
    assert!(!set_entries("internal").contains(&br));

    let ep = endpoint(&d, 2);
    let ports = [
        port(None, 42101, 80, Protocol::Tcp),
        port(None, 42102, 53, Protocol::Udp),
        port(Some("127.0.0.1"), 42103, 81, Protocol::Tcp),
        port(Some("fd00:213:f1::1"), 42104, 82, Protocol::Tcp),
    ];
    firewall::attach(&d, &ep, &ports).unwrap();
    // Attaching the same again is not an error.
    firewall::attach(&d, &ep, &ports).unwrap();

    let any4 = map_entries("dnat4_any");
    assert!(
        any4.contains(&"tcp . 42101 : 10.213.241.2 . 80".into()),
        "{any4:?}"
    );
    assert!(
        any4.contains(&"udp . 42102 : 10.213.241.2 . 53".into()),
        "{any4:?}"
    );
    let host4 = map_entries("dnat4_host");
    assert!(
        host4.contains(&"127.0.0.1 . tcp . 42103 : 10.213.241.2 . 81".into()),
        "{host4:?}"
    );
    let any6 = map_entries("dnat6_any");
    assert!(
        any6.contains(&"tcp . 42101 : fd00:213:f1::2 . 80".into()),
        "{any6:?}"
    );
    let host6 = map_entries("dnat6_host");
    assert!(
        host6.contains(&"fd00:213:f1::1 . tcp . 42104 : fd00:213:f1::2 . 82".into()),
        "{host6:?}"
    );

    detach(&d, &ep, &ports);
    // Idempotent: nothing left to delete is not an error.
    detach(&d, &ep, &ports);
    for m in ["dnat4_any", "dnat4_host", "dnat6_any", "dnat6_host"] {
        let left = map_entries(m);
        assert!(
            !left
                .iter()
                .any(|e| e.contains("10.213.241.") || e.contains("fd00:213:f1:")),
            "{m}: {left:?}"
        );
    }
    fx.finish();
}

#[test]
fn taken_host_port_is_refused_and_survives_a_stale_detach() {
    let Some(_g) = serial() else { return };
    let mut fx = Fixture::new();
    let d = fx.network(def("fw-b", &format!("bfw{}b", tag()), 242, false, false));
    let (ep1, ep2) = (endpoint(&d, 2), endpoint(&d, 3));
    let p = [port(None, 42201, 80, Protocol::Tcp)];
    firewall::attach(&d, &ep1, &p).unwrap();
    let err =
        firewall::attach(&d, &ep2, &[port(None, 42202, 80, Protocol::Tcp), p[0]]).unwrap_err();
    assert!(matches!(err, Error::PortTaken { .. }), "{err}");
    assert!(
        err.to_string()
            .ends_with("42201/tcp (to 10.213.242.2 port 80)"),
        "{err}"
    );
    // The failed attach changed nothing: not even its other port.
    let any4 = map_entries("dnat4_any");
    assert!(
        any4.contains(&"tcp . 42201 : 10.213.242.2 . 80".into()),
        "{any4:?}"
    );
    assert!(
        !any4.iter().any(|e| e.starts_with("tcp . 42202 ")),
        "{any4:?}"
    );

    // A detach naming a port that belongs to another container leaves it.
    detach(&d, &ep2, &[port(None, 42203, 80, Protocol::Tcp), p[0]]);
    assert!(map_entries("dnat4_any").contains(&"tcp . 42201 : 10.213.242.2 . 80".into()));
    detach(&d, &ep1, &p);
    assert!(!map_entries("dnat4_any")
        .iter()
        .any(|e| e.contains("10.213.242.")));
    fx.finish();
}

#[test]
fn detached_port_expires_and_is_published_again_at_once() {
    let Some(_g) = serial() else { return };
    let mut fx = Fixture::new();
    let d = fx.network(def("fw-e", &format!("bfw{}e", tag()), 253, true, false));
    let (ep1, ep2) = (endpoint(&d, 2), endpoint(&d, 3));
    let p = [
        port(None, 42901, 80, Protocol::Tcp),
        port(Some("127.0.0.1"), 42902, 80, Protocol::Udp),
    ];
    let elements = rules::port_elements(&d, &ep1, &p).unwrap();
    assert_eq!(elements.len(), 3, "any4, any6 and 127.0.0.1: {elements:?}");
    firewall::attach(&d, &ep1, &p).unwrap();
    assert_eq!(nfnl::lookup(&elements).unwrap(), [Found::Live; 3]);
    firewall::detach(&d, &ep1, &p).unwrap();
    // Expired (this kernel updates timeouts), not deleted: listed as
    // expiring until the kernel's next tick, gone after it.
    let found = nfnl::lookup(&elements).unwrap();
    assert!(found.iter().all(|f| *f != Found::Live), "{found:?}");
    let any4 = map_entries("dnat4_any");
    assert!(
        any4.iter()
            .filter(|e| e.contains("10.213.253."))
            .all(|e| e.ends_with(" (expiring)")),
        "{any4:?}"
    );
    // Another container takes the same host ports right away (within the
    // tick, the expiring elements are replaced in the same transaction).
    firewall::attach(&d, &ep2, &p).unwrap();
    assert!(map_entries("dnat4_any").contains(&"tcp . 42901 : 10.213.253.3 . 80".into()));
    assert!(
        map_entries("dnat4_host").contains(&"127.0.0.1 . udp . 42902 : 10.213.253.3 . 80".into())
    );
    // ep1's stale detach leaves ep2's ports alone.
    firewall::detach(&d, &ep1, &p).unwrap();
    let again = rules::port_elements(&d, &ep2, &p).unwrap();
    assert_eq!(nfnl::lookup(&again).unwrap(), [Found::Live; 3]);
    detach(&d, &ep2, &p);
    fx.finish();
}

#[test]
fn internal_network_and_v6_only_mapping() {
    let Some(_g) = serial() else { return };
    let mut fx = Fixture::new();
    let br = format!("bfw{}c", tag());
    let d = fx.network(def("fw-c", &br, 243, false, true));
    assert!(set_entries("internal").contains(&br));
    assert!(!set_entries("masq4")
        .iter()
        .any(|e| e.contains("10.213.243.")));
    let ep = endpoint(&d, 2);
    let err = firewall::attach(
        &d,
        &ep,
        &[port(Some("fd00:213:f3::1"), 42301, 80, Protocol::Tcp)],
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoIpv6 {
                host_port: 42301,
                ..
            }
        ),
        "{err}"
    );
    // Detaching what could never be attached is fine.
    firewall::detach(
        &d,
        &ep,
        &[port(Some("fd00:213:f3::1"), 42301, 80, Protocol::Tcp)],
    )
    .unwrap();
    fx.finish();
}

#[test]
fn removing_a_network_removes_ports_left_behind() {
    let Some(_g) = serial() else { return };
    let mut fx = Fixture::new();
    let d = fx.network(def("fw-d", &format!("bfw{}d", tag()), 246, true, false));
    let ep = endpoint(&d, 7);
    firewall::attach(&d, &ep, &[port(None, 42401, 80, Protocol::Tcp)]).unwrap();
    firewall::remove_network(&d, false).unwrap();
    assert!(!set_entries("bridges").contains(&d.bridge.clone().unwrap()));
    for m in ["dnat4_any", "dnat6_any"] {
        assert!(!map_entries(m).iter().any(|e| e.contains("42401")), "{m}");
    }
    fx.finish();
}

#[test]
fn non_bridge_networks_have_no_firewall_state() {
    let Some(_g) = serial() else { return };
    let fx = Fixture::new();
    let mut d = def("fw-m", "unused", 247, false, false);
    d.driver = Driver::Macvlan;
    d.bridge = None;
    firewall::ensure_network(&d).unwrap();
    let ep = endpoint(&d, 2);
    firewall::attach(&d, &ep, &[]).unwrap();
    let err = firewall::attach(&d, &ep, &[port(None, 42501, 80, Protocol::Tcp)]).unwrap_err();
    assert!(matches!(err, Error::NoBridge { .. }), "{err}");
    detach(&d, &ep, &[port(None, 42501, 80, Protocol::Tcp)]);
    firewall::remove_network(&d, true).unwrap();
    fx.finish();
}

/// Host forwarding is one switch for every berth network of every state
/// directory: on with the first, back to what it was with the last.
#[test]
fn forwarding_follows_the_hosts_berth_networks_across_state_dirs() {
    let Some(_g) = serial() else { return };
    if berth_table_exists() {
        // Other berth networks on this host keep forwarding on, and own
        // what is recorded of it: not this test's to change.
        eprintln!("skipped: this host has berth networks of its own");
        return;
    }
    let fx = Fixture::new();
    let _v4 = Sysctl::set("net/ipv4/ip_forward", "0");
    let _v6 = Sysctl::set("net/ipv6/conf/all/forwarding", "0");
    let fwd = |key: &str| std::fs::read_to_string(format!("/proc/sys/{key}")).unwrap();
    let v4 = || fwd("net/ipv4/ip_forward").trim().to_owned();
    let v6 = || fwd("net/ipv6/conf/all/forwarding").trim().to_owned();
    let dirs: Vec<std::path::PathBuf> = ['1', '2']
        .iter()
        .map(|c| std::env::temp_dir().join(format!("berth-fwd-{}-{c}", std::process::id())))
        .collect();
    let (one, two) = (
        Networks::open(&dirs[0]).unwrap(),
        Networks::open(&dirs[1]).unwrap(),
    );
    let t = tag();
    let net = |name: &str, octet: u8, v6: bool| NetworkCreate {
        name: name.into(),
        subnet: Some(format!("10.213.{octet}.0/24")),
        bridge: Some(format!("bfw{t}{}", &name[name.len() - 1..])),
        subnet6: v6.then(|| format!("fd00:213:{octet:x}::/64")),
        ..Default::default()
    };
    one.create_network(&net("fw-v4", 254, false)).unwrap();
    assert_eq!((v4(), v6()), ("1".into(), "0".into()), "IPv4 only");
    two.create_network(&net("fw-v6", 255, true)).unwrap();
    assert_eq!((v4(), v6()), ("1".into(), "1".into()), "and IPv6");
    one.remove("fw-v4", true).unwrap();
    assert_eq!(
        (v4(), v6()),
        ("1".into(), "1".into()),
        "the other dir's network is left"
    );
    two.remove("fw-v6", true).unwrap();
    assert_eq!((v4(), v6()), ("0".into(), "0".into()), "the last one went");
    assert!(!std::path::Path::new("/run/berth/forwarding.json").exists());
    for d in &dirs {
        std::fs::remove_dir_all(d).unwrap();
    }
    fx.finish();
}

// ---------------------------------------------------------------------------
// Packets: a bridge with a veth into a netns, a TCP server in the netns.

/// A bridge, a netns and a veth pair between them, made with `ip` (test
/// set-up only) and removed on drop.
struct Wire {
    bridge: Option<String>,
    netns: String,
    veth: String,
}

impl Wire {
    /// A netns and a veth pair whose peer (the returned name) is in it;
    /// removed on drop of the returned wire.
    fn pair(bridge: Option<String>, suffix: char) -> (Wire, String) {
        let t = tag();
        let w = Wire {
            bridge,
            netns: format!("berth-fw-{t}{suffix}"),
            veth: format!("vfw{t}{suffix}"),
        };
        let peer = format!("pfw{t}{suffix}");
        let (ns, veth) = (&w.netns, &w.veth);
        ip_cmd(None, &format!("netns add {ns}"));
        ip_cmd(
            None,
            &format!("link add {veth} type veth peer name {peer} netns {ns}"),
        );
        (w, peer)
    }

    fn new(d: &NetworkDef, suffix: char) -> Wire {
        let (w, peer) = Wire::pair(d.bridge.clone(), suffix);
        let (gw, ip) = (d.gateway, endpoint(d, 2).ipv4);
        let (br, ns, veth) = (w.bridge.as_deref().unwrap(), w.netns.as_str(), &w.veth);
        ip_cmd(None, &format!("link add {br} type bridge"));
        ip_cmd(None, &format!("addr add {gw}/24 dev {br}"));
        ip_cmd(None, &format!("link set {veth} master {br}"));
        ip_cmd(
            None,
            &format!("link set {veth} type bridge_slave hairpin on"),
        );
        ip_cmd(None, &format!("link set {veth} up"));
        ip_cmd(None, &format!("link set {br} up"));
        ip_cmd(Some(ns), &format!("addr add {ip}/24 dev {peer}"));
        ip_cmd(Some(ns), &format!("link set {peer} up"));
        ip_cmd(Some(ns), "link set lo up");
        ip_cmd(Some(ns), &format!("route add default via {gw}"));
        if let (Some(g6), Some(ep6)) = (d.gateway6, endpoint(d, 2).ipv6) {
            ip_cmd(None, &format!("-6 addr add {g6}/64 dev {br} nodad"));
            ip_cmd(Some(ns), &format!("-6 addr add {ep6}/64 dev {peer} nodad"));
            ip_cmd(Some(ns), &format!("-6 route add default via {g6}"));
        }
        // What the bridge module sets on berth's bridges: 127.0.0.1 may be
        // routed to the bridge, and packets from it may be forwarded (per
        // device: the host's global forwarding setting is left alone).
        for (key, val) in [("route_localnet", "1"), ("forwarding", "1")] {
            std::fs::write(format!("/proc/sys/net/ipv4/conf/{br}/{key}"), val).unwrap();
        }
        w
    }

    /// "Outside": a netns behind a routed veth (no bridge), 10.213.250.0/30
    /// and fd00:213:fa::/64, the host at .1 (::1) and the netns at .2 (::2),
    /// its default route via the host.
    fn outside(suffix: char) -> Wire {
        let (w, peer) = Wire::pair(None, suffix);
        let (ns, veth) = (w.netns.as_str(), &w.veth);
        ip_cmd(None, &format!("addr add 10.213.250.1/30 dev {veth}"));
        ip_cmd(
            None,
            &format!("-6 addr add fd00:213:fa::1/64 dev {veth} nodad"),
        );
        ip_cmd(None, &format!("link set {veth} up"));
        ip_cmd(Some(ns), &format!("addr add 10.213.250.2/30 dev {peer}"));
        ip_cmd(
            Some(ns),
            &format!("-6 addr add fd00:213:fa::2/64 dev {peer} nodad"),
        );
        ip_cmd(Some(ns), &format!("link set {peer} up"));
        ip_cmd(Some(ns), "link set lo up");
        ip_cmd(Some(ns), "route add default via 10.213.250.1");
        std::fs::write(format!("/proc/sys/net/ipv4/conf/{veth}/forwarding"), "1").unwrap();
        w
    }

    /// Runs `f` on a thread inside the netns.
    fn inside<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.netns);
        thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap();
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
    }

    /// A TCP server on port 80 of the netns (dual stack) answering each
    /// connection with the address it came from; stops on drop.
    fn server(&self) -> Server {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = self.inside(move || {
            let l = TcpListener::bind("[::]:80").unwrap();
            l.set_nonblocking(true).unwrap();
            let u = UdpSocket::bind("[::]:80").unwrap();
            u.set_nonblocking(true).unwrap();
            tx.send(()).unwrap();
            let unmap = |ip: IpAddr| match ip {
                IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .map(IpAddr::V4)
                    .unwrap_or(IpAddr::V6(v6)),
                v4 => v4,
            };
            let deadline = Instant::now() + Duration::from_secs(120);
            while !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                let mut idle = true;
                if let Ok((mut c, peer)) = l.accept() {
                    let _ = c.write_all(format!("{}\n", unmap(peer.ip())).as_bytes());
                    idle = false;
                }
                let mut buf = [0u8; 64];
                if let Ok((_, peer)) = u.recv_from(&mut buf) {
                    let _ = u.send_to(unmap(peer.ip()).to_string().as_bytes(), peer);
                    idle = false;
                }
                if idle {
                    thread::sleep(Duration::from_millis(5));
                }
            }
        });
        rx.recv().unwrap();
        Server {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
        if let Some(br) = &self.bridge {
            let _ = Command::new("ip").args(["link", "del", br]).output();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
    }
}

struct Server {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// `ip [-n NETNS] ARGS` (test set-up only), ARGS split at spaces.
fn ip_cmd(netns: Option<&str>, args: &str) {
    let mut argv = vec!["ip"];
    if let Some(ns) = netns {
        argv.extend(["-n", ns]);
    }
    argv.extend(args.split_whitespace());
    run(&argv);
}

/// A sysctl set for the time of a test and put back on drop.
struct Sysctl {
    path: String,
    before: String,
}

impl Sysctl {
    fn set(key: &str, value: &str) -> Sysctl {
        let path = format!("/proc/sys/{key}");
        let before = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, value).unwrap();
        Sysctl { path, before }
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.path, self.before.trim());
    }
}

/// Connects and reads the server's line: `Ok(peer as the server saw it)`.
fn ask(to: SocketAddr) -> std::io::Result<String> {
    let mut c = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut s = String::new();
    c.read_to_string(&mut s)?;
    Ok(s.trim().to_owned())
}

/// Sends a datagram and reads the server's answer: the peer it saw.
fn ask_udp(to: SocketAddr) -> std::io::Result<String> {
    let u = UdpSocket::bind(if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
    u.set_read_timeout(Some(Duration::from_secs(2)))?;
    u.send_to(b"?", to)?;
    let mut buf = [0u8; 64];
    let (n, _) = u.recv_from(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn published_ports_hairpin_and_isolation_carry_packets() {
    let Some(_g) = serial() else { return };
    let before_links = run(&["ip", "-br", "link"]);
    {
        let mut fx = Fixture::new();
        let da = def("fw-pa", &format!("bfw{}p", tag()), 244, true, false);
        let db = def("fw-pb", &format!("bfw{}q", tag()), 245, false, false);
        let wa = Wire::new(&da, 'p');
        let wb = Wire::new(&db, 'q');
        let da = fx.network(da);
        let db = fx.network(db);
        let _sa = wa.server();
        let _sb = wb.server();
        let (ea, eb) = (endpoint(&da, 2), endpoint(&db, 2));

        let pa = [
            port(None, 42601, 80, Protocol::Tcp),
            port(Some("127.0.0.1"), 42602, 80, Protocol::Tcp),
            port(None, 42603, 80, Protocol::Udp),
        ];
        let pb = [port(None, 42611, 80, Protocol::Tcp)];
        // Nothing published yet: nothing listens on the host there.
        assert!(ask(sa("127.0.0.1:42601")).is_err());
        firewall::attach(&da, &ea, &pa).unwrap();
        firewall::attach(&db, &eb, &pb).unwrap();

        // From the host, through 127.0.0.1 (masqueraded to the gateway) and
        // through the gateway address, IPv4 and IPv6.
        assert_eq!(ask(sa("127.0.0.1:42601")).unwrap(), "10.213.244.1");
        assert_eq!(ask(sa("10.213.244.1:42601")).unwrap(), "10.213.244.1");
        assert_eq!(ask(sa("[fd00:213:f4::1]:42601")).unwrap(), "fd00:213:f4::1");
        // UDP too, and only where published.
        assert_eq!(ask_udp(sa("127.0.0.1:42603")).unwrap(), "10.213.244.1");
        assert_eq!(
            ask_udp(sa("[fd00:213:f4::1]:42603")).unwrap(),
            "fd00:213:f4::1"
        );
        assert!(ask_udp(sa("127.0.0.1:42601")).is_err());
        // host_ip restricts the mapping to that address.
        assert_eq!(ask(sa("127.0.0.1:42602")).unwrap(), "10.213.244.1");
        assert!(ask(sa("10.213.244.1:42602")).is_err());

        // Hairpin: the container reaches its own published port through
        // the host, masqueraded so that the answer comes back the same way.
        let hairpin = wa.inside(|| ask(sa("10.213.244.1:42601"))).join().unwrap();
        assert_eq!(hairpin.unwrap(), "10.213.244.1");
        // IPv6 forwards only with the host-wide switch, which berth turns
        // on for a network with an IPv6 subnet (here: for the moment).
        let hairpin6 = {
            let _fwd = Sysctl::set("net/ipv6/conf/all/forwarding", "1");
            wa.inside(|| ask(sa("[fd00:213:f4::1]:42601")))
                .join()
                .unwrap()
        };
        assert_eq!(hairpin6.unwrap(), "fd00:213:f4::1");

        // Isolation: network A cannot reach network B's container directly,
        // but can reach a port B published on the host.
        let direct = wa.inside(|| ask(sa("10.213.245.2:80"))).join().unwrap();
        assert!(direct.is_err(), "isolation: {direct:?}");
        let published = wa.inside(|| ask(sa("10.213.244.1:42611"))).join().unwrap();
        assert_eq!(published.unwrap(), "10.213.245.1");

        detach(&da, &ea, &pa);
        detach(&db, &eb, &pb);
        assert!(ask(sa("127.0.0.1:42601")).is_err());
        assert!(ask(sa("10.213.244.1:42601")).is_err());
        fx.finish();
    }
    assert_eq!(run(&["ip", "-br", "link"]), before_links);
}

// ---------------------------------------------------------------------------
// Scale (issue 11): not a timed test; run with
//   cargo test -p network --test firewall -- --ignored --nocapture scale

fn cpu_time() -> Duration {
    let r = |who| {
        let u = nix::sys::resource::getrusage(who).unwrap();
        let t = |tv: nix::sys::time::TimeVal| {
            Duration::new(tv.tv_sec() as u64, tv.tv_usec() as u32 * 1000)
        };
        t(u.user_time()) + t(u.system_time())
    };
    r(nix::sys::resource::UsageWho::RUSAGE_SELF) + r(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
}

/// Median wall time and mean CPU time of `f` over `n` runs.
fn measure(n: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut walls = Vec::with_capacity(n);
    let cpu0 = cpu_time();
    for _ in 0..n {
        let t = Instant::now();
        f();
        walls.push(t.elapsed());
    }
    let cpu = (cpu_time() - cpu0) / n as u32;
    walls.sort();
    (walls[n / 2], cpu)
}

fn nft_script(script: &str) {
    let mut c = Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(c.wait().unwrap().success());
}

#[test]
#[ignore = "benchmark: fills berth's maps with 32,000 elements"]
fn scale_attach_detach_cost_does_not_grow_with_elements() {
    let Some(_g) = serial() else { return };
    let mut fx = Fixture::new();
    let mut d = def("fw-scale", &format!("bfw{}s", tag()), 232, false, false);
    d.subnet.prefix = 22;
    let d = fx.network(d);
    let ep_at = |i: u32| {
        let mut ep = endpoint(&d, 2);
        let n = u32::from(d.subnet.addr) + 2 + i;
        ep.ipv4 = Ipv4Addr::from(n);
        ep
    };
    let ports = |i: u32| -> Vec<PortMapping> {
        (0..32)
            .map(|j| {
                port(
                    None,
                    (10_000 + 32 * i + j) as u16,
                    80 + j as u16,
                    Protocol::Tcp,
                )
            })
            .collect()
    };
    let probe_ep = ep_at(1000);
    let probe = ports(1000); // host ports 42000..42031
    let els = network::firewall::rules::port_elements(&d, &probe_ep, &probe).unwrap();
    let texts = network::firewall::rules::port_texts(&els);
    let add = network::firewall::rules::add_script(texts.clone());
    let del = network::firewall::rules::delete_script(texts);

    let report = |label: &str| {
        let (w, c) = measure(31, || {
            firewall::attach(&d, &probe_ep, &probe).unwrap();
            firewall::detach(&d, &probe_ep, &probe).unwrap();
        });
        let (nw, nc) = measure(31, || {
            nft_script(&add);
            nft_script(&del);
        });
        println!(
            "{label}: attach+detach of 32 ports: netlink wall {w:?} cpu {c:?}; nft -f wall {nw:?} cpu {nc:?}"
        );
    };
    report("0 elements");

    let t = Instant::now();
    for i in 0..1000 {
        firewall::attach(&d, &ep_at(i), &ports(i)).unwrap();
    }
    println!("fill 1000 x 32 ports: {:?}", t.elapsed());
    assert_eq!(map_entries("dnat4_any").len(), 32_000);
    report("32,000 elements");

    let t = Instant::now();
    for i in 0..1000 {
        firewall::detach(&d, &ep_at(i), &ports(i)).unwrap();
    }
    println!("empty 1000 x 32 ports: {:?}", t.elapsed());
    assert!(map_entries("dnat4_any").is_empty());
    fx.finish();
}

#[test]
fn outbound_masquerade_no_masquerade_and_internal() {
    let Some(_g) = serial() else { return };
    let before_links = run(&["ip", "-br", "link"]);
    {
        let mut fx = Fixture::new();
        let dm = def("fw-om", &format!("bfw{}m", tag()), 248, true, false);
        let mut dr = def("fw-or", &format!("bfw{}r", tag()), 247, false, false);
        dr.masquerade = false;
        let di = def("fw-oi", &format!("bfw{}i", tag()), 249, false, true);
        let (wm, wr, wi) = (
            Wire::new(&dm, 'm'),
            Wire::new(&dr, 'r'),
            Wire::new(&di, 'i'),
        );
        let out = Wire::outside('x');
        let dm = fx.network(dm);
        fx.network(dr);
        let di = fx.network(di);
        let _servers = [out.server(), wm.server(), wr.server(), wi.server()];
        let to = sa("10.213.250.2:80");

        // Leaving through another interface, the subnet is masqueraded.
        let seen = wm.inside(move || ask(to)).join().unwrap();
        assert_eq!(seen.unwrap(), "10.213.250.1");
        // IPv6 too (forwarded only with the host-wide switch on, as berth
        // turns it on for an IPv6 network).
        let seen = {
            let _fwd = Sysctl::set("net/ipv6/conf/all/forwarding", "1");
            wm.inside(|| ask(sa("[fd00:213:fa::2]:80"))).join().unwrap()
        };
        assert_eq!(seen.unwrap(), "fd00:213:fa::1");
        // Without masquerade the container's own address goes out.
        let seen = wr.inside(move || ask(to)).join().unwrap();
        assert_eq!(seen.unwrap(), "10.213.247.2");
        // An internal network has no way out.
        let seen = wi.inside(move || ask(to)).join().unwrap();
        assert!(seen.is_err(), "internal network reached outside: {seen:?}");
        // Nor a way in: the outside cannot reach its container directly,
        // while it can reach the routed network's.
        let seen = out.inside(|| ask(sa("10.213.247.2:80"))).join().unwrap();
        assert_eq!(seen.unwrap(), "10.213.250.2");
        let seen = out.inside(|| ask(sa("10.213.249.2:80"))).join().unwrap();
        assert!(seen.is_err(), "reached into an internal network: {seen:?}");

        // Published ports from another host (prerouting): the client's own
        // address reaches the container. Not into an internal network.
        let (pm, pi) = (
            [port(None, 42801, 80, Protocol::Tcp)],
            [port(None, 42802, 80, Protocol::Tcp)],
        );
        firewall::attach(&dm, &endpoint(&dm, 2), &pm).unwrap();
        firewall::attach(&di, &endpoint(&di, 2), &pi).unwrap();
        let seen = out.inside(|| ask(sa("10.213.250.1:42801"))).join().unwrap();
        assert_eq!(seen.unwrap(), "10.213.250.2");
        let seen = out.inside(|| ask(sa("10.213.250.1:42802"))).join().unwrap();
        assert!(
            seen.is_err(),
            "published into an internal network: {seen:?}"
        );
        // From the host itself, the internal network's port answers.
        assert_eq!(ask(sa("127.0.0.1:42802")).unwrap(), "10.213.249.1");
        detach(&dm, &endpoint(&dm, 2), &pm);
        detach(&di, &endpoint(&di, 2), &pi);
        fx.finish();
    }
    assert_eq!(run(&["ip", "-br", "link"]), before_links);
}

/// Deletes berth's whole table, as a reboot or `nft flush ruleset` would,
/// if no network but `bridge` is in it. Under berth's firewall lock, so that
/// no berth process adds a network meanwhile. `false`: other networks use
/// the table, and it was left alone.
fn delete_table_if_only(bridge: &str) -> bool {
    let _lock = network::host::lock_file(std::path::Path::new(firewall::LOCK_PATH)).unwrap();
    if set_entries("bridges") != [bridge.to_string()] {
        return false;
    }
    run(&["nft", "delete", "table", "inet", "berth"]);
    true
}

#[test]
fn attach_recreates_a_flushed_table() {
    let Some(_g) = serial() else { return };
    let mut fx = Fixture::new();
    let br = format!("bfw{}f", tag());
    let d = fx.network(def("fw-f", &br, 251, false, false));
    if !delete_table_if_only(&br) {
        eprintln!("skipped: other networks use berth's table on this host");
        return;
    }
    let ep = endpoint(&d, 2);
    let p = [port(None, 42701, 80, Protocol::Tcp)];
    firewall::attach(&d, &ep, &p).unwrap();
    assert!(set_entries("bridges").contains(&br));
    assert!(map_entries("dnat4_any").contains(&"tcp . 42701 : 10.213.251.2 . 80".into()));
    detach(&d, &ep, &p);
    // And with the table gone, detach has nothing to do.
    if delete_table_if_only(&br) {
        firewall::detach(&d, &ep, &p).unwrap();
    }
    fx.finish();
}

#[test]
fn thousands_of_ports_in_one_transaction() {
    let Some(_g) = serial() else { return };
    let mut fx = Fixture::new();
    let d = fx.network(def("fw-t", &format!("bfw{}t", tag()), 252, true, false));
    let ep = endpoint(&d, 2);
    // 5,000 ports, IPv4 and IPv6: 10,000 elements, a batch of some 600 KiB.
    let ports: Vec<PortMapping> = (55_000..60_000)
        .map(|p| port(None, p, 80, Protocol::Udp))
        .collect();
    firewall::attach(&d, &ep, &ports).unwrap();
    let mine = |m: &str| {
        map_entries(m)
            .iter()
            .filter(|e| e.contains("10.213.252.") || e.contains("fd00:213:fc:"))
            .count()
    };
    assert_eq!(mine("dnat4_any"), 5_000);
    assert_eq!(mine("dnat6_any"), 5_000);
    detach(&d, &ep, &ports);
    assert_eq!(mine("dnat4_any") + mine("dnat6_any"), 0);
    fx.finish();
}
