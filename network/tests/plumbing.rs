//! Host plumbing against the real kernel: bridges, veth pairs with the peer
//! created in another netns, macvlan/ipvlan on a dummy parent, addresses,
//! routes, sysctls. Needs root (CI is root).
//!
//! Each test makes its own network namespaces (a `sleep` child that
//! unshared CLONE_NEWNET), its own devices with unique names (`bt…`, `bv…`,
//! `bd…`) and subnets inside 10.213.0.0/16 and fd00:213::/48 not routed on
//! the host yet; a guard deletes every device it made, also on failure.
//! Work "inside" a netns runs on a fresh thread that `setns`es into it
//! (network namespaces are per thread), so nothing here forks.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use network::bridge::{self, ensure_bridge, remove_bridge};
use network::model::{mac_from_ipv4, Driver, Endpoint, Ipv4Net, Ipv6Net, NetworkDef};
use network::netlink::{req, Netlink, NetnsRef::Pid};
use network::strategy::{self, create_and_attach, strategy};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("urandom");
    u32::from_ne_bytes(b)
}

/// A short random suffix for device names: `prefix` + 6 hex digits.
fn unique_name(prefix: &str) -> String {
    format!("{prefix}{:06x}", random_u32() & 0xff_ffff)
}

/// Picks a /24 in 10.213.0.0/16 that no route on the host covers yet, and
/// claims it for this process (tests of this file run in parallel).
fn free_subnet_octet(nl: &mut Netlink) -> u8 {
    static CLAIMED: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    let routes = nl
        .routes(netlink_packet_route::AddressFamily::Inet)
        .expect("route dump");
    let mut claimed = CLAIMED.lock().unwrap();
    for _ in 0..1000 {
        let x = (random_u32() % 200 + 40) as u8;
        let base = Ipv4Addr::new(10, 213, x, 0);
        let used = routes.iter().any(|r| match r.destination {
            Some(IpAddr::V4(d)) => {
                let p = r.prefix.min(24);
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                (u32::from(d) & mask) == (u32::from(base) & mask) && p > 0
            }
            _ => false,
        });
        if !used && !claimed.contains(&x) {
            claimed.push(x);
            return x;
        }
    }
    panic!("no free /24 in 10.213.0.0/16");
}

/// Deletes, on drop, every device it was told about (host netns).
struct Cleanup {
    links: Vec<String>,
}

impl Cleanup {
    fn new() -> Self {
        Self { links: Vec::new() }
    }
    fn add(&mut self, name: &str) {
        self.links.push(name.to_owned());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(mut nl) = Netlink::open() {
            for name in self.links.iter().rev() {
                if let Err(e) = nl.delete_link_by_name(name) {
                    eprintln!("cleanup: {name}: {e}");
                }
            }
        }
    }
}

/// A process sitting in a new network namespace; killed on drop (which
/// destroys the netns and everything in it).
struct NetnsChild {
    child: Child,
}

impl NetnsChild {
    fn spawn() -> Self {
        let mut cmd = Command::new("sleep");
        cmd.arg("1000000")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // SAFETY: unshare is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(std::io::Error::from)
            });
        }
        let child = cmd.spawn().expect("spawning sleep in a new netns");
        let me = Self { child };
        // pre_exec ran before exec; by the time /proc/PID/exe is sleep, the
        // netns is the new one. Wait for that.
        for _ in 0..500 {
            let host = std::fs::read_link("/proc/self/ns/net").unwrap();
            if let Ok(ns) = std::fs::read_link(format!("/proc/{}/ns/net", me.pid())) {
                if ns != host {
                    return me;
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("child never entered its netns");
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Runs `f` on a thread inside this netns.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let ns = File::open(format!("/proc/{}/ns/net", self.pid())).expect("netns fd");
        std::thread::spawn(move || {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("thread in netns panicked")
    }
}

impl Drop for NetnsChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bridge_def(name: &str, bridge: &str, x: u8, ipv6: bool) -> NetworkDef {
    NetworkDef {
        name: name.to_owned(),
        driver: Driver::Bridge,
        bridge: Some(bridge.to_owned()),
        parent: None,
        mode: None,
        subnet: Ipv4Net {
            addr: Ipv4Addr::new(10, 213, x, 0),
            prefix: 24,
        },
        gateway: Ipv4Addr::new(10, 213, x, 1),
        subnet6: ipv6.then(|| Ipv6Net {
            addr: v6(x, 0),
            prefix: 64,
        }),
        gateway6: ipv6.then(|| v6(x, 1)),
        mtu: 1400,
        internal: false,
        masquerade: true,
        labels: Default::default(),
        index: 0,
    }
}

fn v6(x: u8, host: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x213, u16::from(x), 0, 0, 0, 0, host)
}

fn endpoint(def: &NetworkDef, host: u8, ifname: &str) -> Endpoint {
    let ip = Ipv4Addr::new(10, 213, def.subnet.addr.octets()[2], host);
    Endpoint {
        network: def.name.clone(),
        driver: def.driver,
        ifname: ifname.to_owned(),
        host_ifname: unique_name("bv"),
        temp_ifname: unique_name("bx"),
        mac: mac_from_ipv4(ip),
        mtu: def.mtu,
        ipv4: ip,
        prefix4: def.subnet.prefix,
        gateway4: def.gateway,
        ipv6: def
            .subnet6
            .map(|_| v6(def.subnet.addr.octets()[2], u16::from(host))),
        prefix6: 64,
        gateway6: def.gateway6,
        bridge: def.bridge.clone(),
        parent: def.parent.clone(),
        mode: def.mode.clone(),
        default_route4: true,
        default_route6: true,
    }
}

fn read_sys(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Listens on `addr` inside `ns` and answers one connection with "ok".
fn serve_once(ns: &NetnsChild, addr: SocketAddr) -> std::thread::JoinHandle<()> {
    let f = File::open(format!("/proc/{}/ns/net", ns.pid())).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let l = TcpListener::bind(addr).expect("bind in netns");
        tx.send(()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        s.write_all(b"ok").unwrap();
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("listener ready");
    h
}

fn fetch(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Serves one connection on `target` inside `server` and returns what a
/// client read from it: a client on the host, or inside `client` if given.
fn serve_and_fetch(server: &NetnsChild, client: Option<&NetnsChild>, target: SocketAddr) -> String {
    let listener = serve_once(server, target);
    let got = match client {
        Some(c) => c.run(move || fetch(target)),
        None => fetch(target),
    };
    listener.join().unwrap();
    got
}

/// What a bridge test starts from: a netlink handle on the host, a guard,
/// a fresh bridge name (`bt…`, already in the guard) and the network `name`
/// on that bridge, with a free /24 (and fd00:213:x::/64 with `ipv6`). The
/// bridge is not created yet. Keep the guard bound until the test ends
/// (`_guard`, not `_`): dropping it deletes what it holds.
fn bridge_network(name: &str, ipv6: bool) -> (Netlink, Cleanup, String, NetworkDef) {
    let mut nl = Netlink::open().unwrap();
    let mut guard = Cleanup::new();
    let x = free_subnet_octet(&mut nl);
    let br = unique_name("bt");
    guard.add(&br);
    let def = bridge_def(name, &br, x, ipv6);
    (nl, guard, br, def)
}

/// [`bridge_network`] with the bridge made by `ensure_bridge`.
fn bridge_network_ensured(name: &str, ipv6: bool) -> (Netlink, Cleanup, String, NetworkDef) {
    let (mut nl, guard, br, def) = bridge_network(name, ipv6);
    ensure_bridge(&mut nl, &def).unwrap();
    (nl, guard, br, def)
}

#[test]
fn veth_on_a_bridge_end_to_end() {
    require_root!();
    let (mut nl, mut guard, br, def) = bridge_network("plumbing-veth", true);
    let x = def.subnet.addr.octets()[2]; // 10.213.x.0/24, fd00:213:x::/64

    ensure_bridge(&mut nl, &def).unwrap();
    ensure_bridge(&mut nl, &def).expect("ensure_bridge is idempotent");
    let b = nl.link(&br).unwrap().expect("bridge exists");
    assert_eq!(b.kind.as_deref(), Some("bridge"));
    assert!(b.up);
    assert_eq!(b.mtu, 1400);
    assert_eq!(b.mac, Some(mac_from_ipv4(def.gateway)));
    let addrs: Vec<_> = nl
        .addresses()
        .unwrap()
        .into_iter()
        .filter(|a| a.index == b.index)
        .collect();
    assert!(
        addrs
            .iter()
            .any(|a| a.addr == IpAddr::V4(def.gateway) && a.prefix == 24),
        "{addrs:?}"
    );
    assert!(
        addrs
            .iter()
            .any(|a| a.addr == IpAddr::V6(v6(x, 1)) && a.prefix == 64),
        "{addrs:?}"
    );
    assert_eq!(
        read_sys(&format!("/proc/sys/net/ipv4/conf/{br}/route_localnet")),
        "1"
    );

    let child = NetnsChild::spawn();
    let ep = endpoint(&def, 2, "eth0");
    guard.add(&ep.host_ifname);
    create_and_attach(&mut nl, &ep, Pid(child.pid())).unwrap();

    let host = nl.link(&ep.host_ifname).unwrap().expect("host end");
    assert_eq!(host.kind.as_deref(), Some("veth"));
    assert_eq!(host.master, Some(b.index));
    assert!(host.up);
    assert_eq!(host.mtu, 1400);
    assert_eq!(
        read_sys(&format!(
            "/sys/class/net/{}/brport/hairpin_mode",
            ep.host_ifname
        )),
        "1"
    );
    assert!(
        nl.link(&ep.temp_ifname).unwrap().is_none(),
        "peer must not be on the host"
    );

    let ep2 = ep.clone();
    let inside = child.run(move || {
        let mut nl = Netlink::open().unwrap();
        assert!(
            nl.link(&ep2.temp_ifname).unwrap().is_some(),
            "peer created in the netns"
        );
        strategy(Driver::Bridge).initialize(&mut nl, &ep2).unwrap();
        strategy(Driver::Bridge)
            .initialize(&mut nl, &ep2)
            .expect("initialize is idempotent");
        let eth0 = nl.link("eth0").unwrap().expect("eth0");
        let lo = nl.link("lo").unwrap().expect("lo");
        let addrs = nl.addresses().unwrap();
        let r4 = nl
            .routes(netlink_packet_route::AddressFamily::Inet)
            .unwrap();
        let r6 = nl
            .routes(netlink_packet_route::AddressFamily::Inet6)
            .unwrap();
        (eth0, lo, addrs, r4, r6, nl.link(&ep2.temp_ifname).unwrap())
    });
    let (eth0, lo, addrs, r4, r6, temp) = inside;
    assert!(temp.is_none(), "renamed");
    assert!(lo.up);
    assert!(eth0.up);
    assert_eq!(eth0.mac, Some(ep.mac));
    assert_eq!(eth0.mtu, 1400);
    assert!(addrs
        .iter()
        .any(|a| a.index == eth0.index && a.addr == IpAddr::V4(ep.ipv4) && a.prefix == 24));
    assert!(addrs
        .iter()
        .any(|a| a.index == eth0.index && a.addr == IpAddr::V6(v6(x, 2)) && a.prefix == 64));
    assert!(
        r4.iter().any(|r| r.destination.is_none()
            && r.gateway == Some(IpAddr::V4(def.gateway))
            && r.oif == Some(eth0.index)),
        "{r4:?}"
    );
    assert!(
        r6.iter().any(|r| r.destination.is_none()
            && r.gateway == Some(IpAddr::V6(v6(x, 1)))
            && r.oif == Some(eth0.index)),
        "{r6:?}"
    );

    // The host reaches the container through the bridge, over v4 and v6.
    let target = SocketAddr::new(IpAddr::V4(ep.ipv4), 8080);
    assert_eq!(serve_and_fetch(&child, None, target), "ok");
    let target = SocketAddr::new(IpAddr::V6(v6(x, 2)), 8080);
    assert_eq!(serve_and_fetch(&child, None, target), "ok");

    // Detach takes the host end out of the bridge and down; attach puts it back.
    let s = strategy(Driver::Bridge);
    s.detach(&mut nl, &ep).unwrap();
    let host = nl.link(&ep.host_ifname).unwrap().unwrap();
    assert_eq!(host.master, None);
    assert!(!host.up);
    s.attach(&mut nl, &ep).unwrap();
    assert_eq!(
        nl.link(&ep.host_ifname).unwrap().unwrap().master,
        Some(b.index)
    );

    // Teardown with the netns alive deletes both ends; a second one is a no-op.
    s.teardown(&mut nl, &ep).unwrap();
    assert!(nl.link(&ep.host_ifname).unwrap().is_none());
    s.teardown(&mut nl, &ep).expect("teardown is idempotent");
    let gone = child.run(|| Netlink::open().unwrap().link("eth0").unwrap());
    assert!(gone.is_none(), "the peer went with the host end");

    remove_bridge(&mut nl, &br).unwrap();
    assert!(nl.link(&br).unwrap().is_none());
    remove_bridge(&mut nl, &br).expect("removing a missing bridge is fine");
}

#[test]
fn two_containers_talk_through_the_bridge_and_teardown_after_netns_death() {
    require_root!();
    let (mut nl, mut guard, br, def) = bridge_network_ensured("plumbing-two", false);

    let (a, b) = (NetnsChild::spawn(), NetnsChild::spawn());
    let (ea, eb) = (endpoint(&def, 10, "eth0"), endpoint(&def, 11, "eth1"));
    guard.add(&ea.host_ifname);
    guard.add(&eb.host_ifname);
    for (c, e) in [(&a, &ea), (&b, &eb)] {
        create_and_attach(&mut nl, e, Pid(c.pid())).unwrap();
        let e = e.clone();
        c.run(move || {
            strategy(Driver::Bridge)
                .initialize(&mut Netlink::open().unwrap(), &e)
                .unwrap()
        });
    }
    let target = SocketAddr::new(IpAddr::V4(ea.ipv4), 9090);
    assert_eq!(serve_and_fetch(&a, Some(&b), target), "ok");
    // b's interface is eth1 and its default route goes through it.
    let gw = def.gateway;
    let r = b.run(move || {
        let mut nl = Netlink::open().unwrap();
        let idx = nl.link("eth1").unwrap().unwrap().index;
        nl.routes(netlink_packet_route::AddressFamily::Inet)
            .unwrap()
            .into_iter()
            .any(|r| {
                r.destination.is_none() && r.gateway == Some(IpAddr::V4(gw)) && r.oif == Some(idx)
            })
    });
    assert!(r);

    // The netns dies with its last process: the pair goes too (the kernel
    // does it asynchronously); teardown is fine either way.
    drop(a);
    strategy(Driver::Bridge).teardown(&mut nl, &ea).unwrap();
    assert!(nl.link(&ea.host_ifname).unwrap().is_none());
    strategy(Driver::Bridge).teardown(&mut nl, &ea).unwrap();
    strategy(Driver::Bridge).teardown(&mut nl, &eb).unwrap();
    remove_bridge(&mut nl, &br).unwrap();
}

#[test]
fn create_refuses_an_existing_name_and_leaves_it_alone() {
    require_root!();
    let (mut nl, mut guard, br, def) = bridge_network_ensured("plumbing-exists", false);
    let child = NetnsChild::spawn();
    let mut ep = endpoint(&def, 3, "eth0");
    ep.host_ifname = br.clone(); // taken: the bridge itself
    let err = strategy(Driver::Bridge)
        .create(&mut nl, &ep, Pid(child.pid()))
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&br) && msg.contains("exists"), "{msg}");
    assert!(
        nl.link(&br).unwrap().is_some(),
        "the existing device is not ours to delete"
    );
    assert!(child
        .run(|| Netlink::open().unwrap().link_index("eth0").unwrap())
        .is_none());

    // Attach to a bridge that does not exist: create_and_attach undoes create.
    let mut ep = endpoint(&def, 4, "eth0");
    guard.add(&ep.host_ifname);
    ep.bridge = Some(unique_name("bn"));
    let err = create_and_attach(&mut nl, &ep, Pid(child.pid())).unwrap_err();
    assert!(
        err.to_string().contains("vanished") || err.to_string().contains("No such device"),
        "{err}"
    );
    assert!(nl.link(&ep.host_ifname).unwrap().is_none(), "create undone");
    remove_bridge(&mut nl, &br).unwrap();
}

/// A parent device for macvlan/ipvlan: a dummy; on kernels built without
/// dummy (CONFIG_DUMMY unset, as on some CI VMs), one end of a veth pair
/// whose two ends stay on the host. Up, with carrier.
fn make_parent(nl: &mut Netlink, guard: &mut Cleanup) -> String {
    let parent = unique_name("bd");
    match nl.execute(req::new_dummy(&parent).unwrap()) {
        Ok(_) => guard.add(&parent),
        Err(e) if e.errno() == Some(libc::EOPNOTSUPP) => {
            let peer = format!("{parent}p");
            let mut nl2 = Netlink::open().unwrap();
            // The "peer netns" is our own: the pair stays on the host.
            nl2.create_veth(&parent, &peer, Pid(std::process::id() as i32), None, 0)
                .unwrap();
            guard.add(&parent);
            let pidx = nl.require_link(&peer).unwrap();
            nl.set_up(pidx, &peer, true).unwrap();
        }
        Err(e) => panic!("{e}"),
    }
    let pidx = nl.require_link(&parent).unwrap();
    nl.set_up(pidx, &parent, true).unwrap();
    parent
}

/// Whether the kernel has `kind` (ipvlan is often not built in).
fn kernel_has(nl: &mut Netlink, parent: &str, driver: Driver) -> bool {
    let child = NetnsChild::spawn();
    let name = unique_name("bk");
    let r = match driver {
        Driver::Ipvlan => nl.create_ipvlan(
            &name,
            parent,
            network::netlink::ipvlan_mode("l2").unwrap(),
            0,
            Some(Pid(child.pid())),
        ),
        _ => return true,
    };
    match r {
        Ok(()) => true,
        Err(e) if e.errno() == Some(libc::EOPNOTSUPP) => false,
        Err(e) => panic!("{e}"),
    }
}

/// macvlan or ipvlan: two netns on one dummy parent reach each other.
fn sub_interface_pair(driver: Driver, mode: &str) {
    let mut nl = Netlink::open().unwrap();
    let mut guard = Cleanup::new();
    let x = free_subnet_octet(&mut nl);
    let parent = make_parent(&mut nl, &mut guard);
    if !kernel_has(&mut nl, &parent, driver) {
        eprintln!("skipped: this kernel has no {} support", driver.name());
        return;
    }
    let mut def = bridge_def("plumbing-sub", "unused", x, true);
    def.driver = driver;
    def.bridge = None;
    def.parent = Some(parent.clone());
    def.mode = Some(mode.to_owned());
    def.mtu = 1500;
    let parent_mac = nl.link(&parent).unwrap().unwrap().mac.unwrap();

    let (a, b) = (NetnsChild::spawn(), NetnsChild::spawn());
    let (ea, eb) = (endpoint(&def, 20, "eth0"), endpoint(&def, 21, "eth0"));
    for (c, e) in [(&a, &ea), (&b, &eb)] {
        create_and_attach(&mut nl, e, Pid(c.pid())).unwrap();
        assert!(
            nl.link(&e.temp_ifname).unwrap().is_none(),
            "created in the netns, not on the host"
        );
        let want_mac = if driver == Driver::Ipvlan {
            parent_mac
        } else {
            e.mac
        };
        let e = e.clone();
        let l = c.run(move || {
            let mut nl = Netlink::open().unwrap();
            strategy(e.driver).initialize(&mut nl, &e).unwrap();
            let l = nl.link("eth0").unwrap().expect("eth0");
            let addrs = nl.addresses().unwrap();
            assert!(
                addrs
                    .iter()
                    .any(|a| a.index == l.index && a.addr == IpAddr::V4(e.ipv4)),
                "{addrs:?}"
            );
            l
        });
        assert_eq!(l.kind.as_deref(), Some(driver.name()));
        assert!(l.up);
        assert_eq!(l.mac, Some(want_mac));
    }
    let target = SocketAddr::new(IpAddr::V4(ea.ipv4), 7070);
    assert_eq!(serve_and_fetch(&a, Some(&b), target), "ok");
    for e in [&ea, &eb] {
        strategy(driver).teardown(&mut nl, e).unwrap();
    }
}

#[test]
fn macvlan_in_bridge_mode_on_a_dummy_parent() {
    require_root!();
    sub_interface_pair(Driver::Macvlan, "bridge");
}

#[test]
fn ipvlan_l2_on_a_dummy_parent() {
    require_root!();
    sub_interface_pair(Driver::Ipvlan, "l2");
}

#[test]
fn sub_interface_errors_name_the_problem() {
    require_root!();
    let mut nl = Netlink::open().unwrap();
    let child = NetnsChild::spawn();
    let mut def = bridge_def("plumbing-bad", "unused", 1, false);
    def.driver = Driver::Macvlan;
    def.parent = Some(unique_name("bn"));
    let ep = endpoint(&def, 5, "eth0");
    let err = strategy(Driver::Macvlan)
        .create(&mut nl, &ep, Pid(child.pid()))
        .unwrap_err()
        .to_string();
    assert!(err.contains(def.parent.as_deref().unwrap()), "{err}");
    let mut ep = ep;
    ep.mode = Some("sideways".to_owned());
    let err = strategy(Driver::Macvlan)
        .create(&mut nl, &ep, Pid(child.pid()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("sideways"), "{err}");
    ep.parent = None;
    assert!(strategy(Driver::Ipvlan)
        .create(&mut nl, &ep, Pid(child.pid()))
        .is_err());
}

#[test]
fn loopback_comes_up() {
    require_root!();
    let child = NetnsChild::spawn();
    let up = child.run(|| {
        let mut nl = Netlink::open().unwrap();
        assert!(!nl.link("lo").unwrap().unwrap().up);
        strategy::initialize_netns(&mut nl).unwrap();
        nl.link("lo").unwrap().unwrap().up
    });
    assert!(up);
}

#[test]
fn sysctls_are_set_and_restored() {
    require_root!();
    let (mut nl, _guard, br, _) = bridge_network_ensured("plumbing-sysctl", false);

    // A per-bridge key: set, read back, restore.
    let key = format!("net/ipv4/conf/{br}/forwarding");
    let before = bridge::read_sysctl(&key).unwrap();
    let flipped = if before == "1" { "0" } else { "1" };
    let old = bridge::set_sysctl(&key, flipped).unwrap();
    assert_eq!(old.as_deref(), Some(before.as_str()));
    assert_eq!(
        bridge::set_sysctl(&key, flipped).unwrap(),
        None,
        "no change, nothing recorded"
    );
    bridge::restore(&bridge::PreviousSysctls {
        values: vec![(key.clone(), before.clone())],
    })
    .unwrap();
    assert_eq!(bridge::read_sysctl(&key).unwrap(), before);

    // Host forwarding: on, then back to what it was.
    let v4 = bridge::read_sysctl("net.ipv4.ip_forward").unwrap();
    let prev = bridge::enable_forwarding(false).unwrap();
    assert_eq!(bridge::read_sysctl("net.ipv4.ip_forward").unwrap(), "1");
    assert_eq!(prev.is_empty(), v4 == "1");
    let json = serde_json::to_string(&prev).unwrap();
    let prev: bridge::PreviousSysctls = serde_json::from_str(&json).unwrap();
    bridge::restore(&prev).unwrap();
    assert_eq!(bridge::read_sysctl("net.ipv4.ip_forward").unwrap(), v4);
    remove_bridge(&mut nl, &br).unwrap();
}

#[test]
fn initialize_from_the_parent_through_a_socket_opened_in_the_netns() {
    require_root!();
    let (mut nl, mut guard, br, def) = bridge_network_ensured("plumbing-parent", false);
    let child = NetnsChild::spawn();
    let ep = endpoint(&def, 7, "eth0");
    guard.add(&ep.host_ifname);
    create_and_attach(&mut nl, &ep, Pid(child.pid())).unwrap();

    let before = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let ns = File::open(format!("/proc/{}/ns/net", child.pid())).unwrap();
    let mut inside = Netlink::open_in_netns(ns.as_fd()).unwrap();
    assert_eq!(
        std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
        before,
        "caller did not move"
    );
    strategy(Driver::Bridge)
        .initialize(&mut inside, &ep)
        .unwrap();
    assert!(inside.link("eth0").unwrap().unwrap().up);
    let host_eth0 = nl.link("eth0").unwrap();
    assert!(
        host_eth0.is_none_or(|l| l.mac != Some(ep.mac)),
        "the host's eth0 is untouched"
    );

    let target = SocketAddr::new(IpAddr::V4(ep.ipv4), 8081);
    assert_eq!(serve_and_fetch(&child, None, target), "ok");
    strategy(Driver::Bridge).teardown(&mut nl, &ep).unwrap();
    remove_bridge(&mut nl, &br).unwrap();
}

/// Issue 11: the kernel's bridge has 1023 usable port numbers; attaching
/// one more container is refused with an error that names the limit.
#[test]
fn a_full_bridge_refuses_one_more_port_naming_the_limit() {
    require_root!();
    use network::strategy::veth::BRIDGE_MAX_PORTS;
    let (mut nl, mut guard, br, def) = bridge_network_ensured("plumbing-full", false);
    let bridge_index = nl.require_link(&br).unwrap();

    // Fillers: veth pairs whose peers sit in one throwaway netns, so that
    // killing it removes them all in one kernel batch.
    let fillers = NetnsChild::spawn();
    let prefix = unique_name("bf");
    let names: Vec<String> = (0..BRIDGE_MAX_PORTS)
        .map(|i| format!("{prefix}{i:04}"))
        .collect();
    for chunk in names.chunks(128) {
        let reqs: Vec<_> = chunk
            .iter()
            .map(|n| req::new_veth(n, &format!("p{n}"), Pid(fillers.pid()), None, 0).unwrap())
            .collect();
        nl.batch(&reqs).unwrap();
        let lookups: Vec<_> = chunk.iter().map(|n| req::get_link(n).unwrap()).collect();
        let found = nl.batch(&lookups).unwrap();
        let enslave: Vec<_> = found
            .iter()
            .zip(chunk)
            .map(|(r, n)| {
                let idx = r.iter().find_map(|r| r.link_index()).unwrap();
                let change = req::LinkChange {
                    master: Some(bridge_index),
                    ..Default::default()
                };
                req::set_link(idx, n, &change).unwrap()
            })
            .collect();
        nl.batch(&enslave).unwrap();
    }
    let ports = std::fs::read_dir(format!("/sys/class/net/{br}/brif"))
        .unwrap()
        .count();
    assert_eq!(ports, BRIDGE_MAX_PORTS);

    let child = NetnsChild::spawn();
    let ep = endpoint(&def, 2, "eth0");
    guard.add(&ep.host_ifname);
    let err = create_and_attach(&mut nl, &ep, Pid(child.pid())).unwrap_err();
    assert!(matches!(err, network::Error::BridgeFull { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&br) && msg.contains("1023"), "{msg}");
    assert!(nl.link(&ep.host_ifname).unwrap().is_none(), "create undone");

    // Removing the bridge first releases the ports in one go.
    remove_bridge(&mut nl, &br).unwrap();
}

/// Not a timed test: prints what each step costs, for the benchmark notes.
/// `cargo test -p network --test plumbing step_costs -- --ignored --nocapture`
#[test]
#[ignore]
fn step_costs() {
    require_root!();
    use std::time::Instant;
    let (mut nl, mut guard, br, def) = bridge_network("plumbing-costs", true);
    let t = Instant::now();
    ensure_bridge(&mut nl, &def).unwrap();
    eprintln!("ensure_bridge (new): {:?}", t.elapsed());
    let t = Instant::now();
    ensure_bridge(&mut nl, &def).unwrap();
    eprintln!("ensure_bridge (exists): {:?}", t.elapsed());

    let (mut create, mut init, mut teardown_live, mut teardown_dead) =
        (vec![], vec![], vec![], vec![]);
    for i in 0..30u8 {
        let child = NetnsChild::spawn();
        let ep = endpoint(&def, 100 + i, "eth0");
        guard.add(&ep.host_ifname);
        let t = Instant::now();
        create_and_attach(&mut nl, &ep, Pid(child.pid())).unwrap();
        create.push(t.elapsed());
        let ns = File::open(format!("/proc/{}/ns/net", child.pid())).unwrap();
        let t = Instant::now();
        let mut inside = Netlink::open_in_netns(ns.as_fd()).unwrap();
        strategy(Driver::Bridge)
            .initialize(&mut inside, &ep)
            .unwrap();
        init.push(t.elapsed());
        if i % 2 == 0 {
            let t = Instant::now();
            strategy(Driver::Bridge).teardown(&mut nl, &ep).unwrap();
            teardown_live.push(t.elapsed());
        } else {
            // Nothing may hold the netns (an nsfs fd or a socket in it keeps
            // it alive); then the kernel destroys it and the pair with it.
            drop(inside);
            drop(ns);
            drop(child);
            std::thread::sleep(Duration::from_millis(200));
            let t = Instant::now();
            strategy(Driver::Bridge).teardown(&mut nl, &ep).unwrap();
            teardown_dead.push(t.elapsed());
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    eprintln!(
        "create+attach (veth, peer in netns, bridge, hairpin): median {:?}",
        median(&mut create)
    );
    eprintln!(
        "initialize (open_in_netns + rename, MAC, MTU, v4+v6, routes, lo): median {:?}",
        median(&mut init)
    );
    eprintln!(
        "teardown, netns alive (deletes the pair): median {:?}",
        median(&mut teardown_live)
    );
    eprintln!(
        "teardown, netns gone (nothing left): median {:?}",
        median(&mut teardown_dead)
    );
    remove_bridge(&mut nl, &br).unwrap();
}

#[test]
fn a_device_that_is_not_a_bridge_is_never_taken_over() {
    require_root!();
    let (mut nl, _guard, name, def) = bridge_network("plumbing-notbridge", false);
    // A veth pair on the host, named like the network's bridge would be.
    nl.create_veth(
        &name,
        &format!("{name}p"),
        Pid(std::process::id() as i32),
        None,
        0,
    )
    .unwrap();
    let err = ensure_bridge(&mut nl, &def).unwrap_err();
    assert!(matches!(err, network::Error::NotABridge { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&name) && err.to_string().contains("veth"),
        "{err}"
    );
    let err = remove_bridge(&mut nl, &name).unwrap_err();
    assert!(matches!(err, network::Error::NotABridge { .. }), "{err:?}");
    let l = nl.link(&name).unwrap().expect("still there");
    assert!(!l.up, "untouched");
    let addrs = nl.addresses().unwrap();
    assert!(
        !addrs.iter().any(|a| a.index == l.index && a.addr.is_ipv4()),
        "no address added"
    );
}
