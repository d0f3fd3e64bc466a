//! Networks of a running container and how ports are published, end to
//! end: `berth network connect|disconnect`, a container on two networks
//! (the first one's gateway is the default route, its ports answer there),
//! host ports chosen for `-p 80` and `-p HOSTIP::80`, a port range taken in
//! part, `::1`, UDP.
//!
//! Each test makes its own networks (10.213.30.0/24 to 10.213.39.0/24,
//! fd00:213:30::/64, bridges `bc<pid>x<octet>`) in its runtime's own network
//! state dir, and host ports of 23000-23999 when it names them; [`Net`]
//! removes a network (`network rm --force`: its containers' endpoints, its
//! bridge, its firewall elements) when dropped, also when the test fails,
//! and the runtime then deletes its containers. Traffic flows only between
//! the host and these containers. Ports chosen by berth come from the
//! kernel's ephemeral range, as docker's do.

use serde_json::{json, Value};
use spec_tests::net::{add_www, container_ids, link_exists, must_within, net_bundle, wait_http};
use spec_tests::{unique_name, Bundle, Output, Runtime};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
/// How long a port that must not answer is tried.
const SHORT: Duration = Duration::from_millis(500);

/// A network of one test in the runtime's state dir, removed when dropped.
struct Net<'a> {
    rt: &'a Runtime,
    name: String,
    octet: u8,
}

impl<'a> Net<'a> {
    /// `network create` of 10.213.OCTET.0/24 (OCTET in 30..=39), with
    /// fd00:213:30::/64 when `ipv6`.
    #[track_caller]
    fn create(rt: &'a Runtime, octet: u8, ipv6: bool) -> Self {
        assert!(
            (30..=39).contains(&octet),
            "octet {octet} is not this suite's"
        );
        let net = Self {
            rt,
            name: format!("nc-{}-{octet}", std::process::id()),
            octet,
        };
        let subnet = format!("10.213.{octet}.0/24");
        let bridge = format!("bc{}x{octet}", std::process::id() % 10000);
        let mut args = vec![
            "network", "create", &net.name, "--subnet", &subnet, "--bridge", &bridge,
        ];
        if ipv6 {
            args.extend(["--ipv6-subnet", "fd00:213:30::/64"]);
        }
        // Made before the create, so that a create that fails half-way
        // is removed too.
        rt.exec(&args).ok();
        net
    }

    fn ip(&self, host: u8) -> String {
        format!("10.213.{}.{host}", self.octet)
    }

    fn gateway(&self) -> String {
        self.ip(1)
    }

    #[track_caller]
    fn inspect(&self) -> Value {
        let out = self.rt.exec(&["network", "inspect", &self.name]).ok();
        let v: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("network inspect is not JSON ({e}): {out}"));
        v[0].clone()
    }

    /// The ids `network inspect` shows on this network.
    #[track_caller]
    fn containers(&self) -> Vec<String> {
        container_ids(&self.inspect())
    }

    /// The ports `network inspect` shows, as `ID HOST->CONTAINER`.
    #[track_caller]
    fn ports(&self) -> Vec<String> {
        self.inspect()["ports"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        format!(
                            "{} {}",
                            p["id"].as_str().unwrap_or(""),
                            p["port"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Net<'_> {
    fn drop(&mut self) {
        let out = self.rt.exec(&["network", "rm", "--force", &self.name]);
        if !out.success() && !out.stderr.contains("does not exist") {
            let msg = format!("removing network {} failed: {out}", self.name);
            if std::thread::panicking() {
                eprintln!("spec-tests: {msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

/// A runtime with a network state dir of its own (`Runtime::berth`'s).
fn runtime() -> Runtime {
    Runtime::berth()
}

/// A busybox bundle serving `page` with httpd on port 80.
fn web_bundle(page: &str) -> Bundle {
    let b = net_bundle(&["httpd", "-f", "-p", "80", "-h", "/www"]);
    add_www(&b, &format!("{page}\n"));
    b
}

/// `create` + `start`, both required to succeed.
#[track_caller]
fn started(rt: &Runtime, bundle: &Bundle, id: &str, flags: &[&str]) {
    rt.create(bundle, id, flags).ok();
    rt.start(id).ok();
}

/// `berth exec ID sh -c SCRIPT`, required to succeed: its stdout.
#[track_caller]
fn inside(rt: &Runtime, id: &str, script: &str) -> String {
    rt.exec(&["exec", id, "sh", "-c", script]).ok().stdout
}

/// The interfaces `berth state` shows.
#[track_caller]
fn interfaces(rt: &Runtime, id: &str) -> Vec<Value> {
    rt.state(id)["network"]["interfaces"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The ports `berth state` shows (`0.0.0.0:8080->80/tcp`).
#[track_caller]
fn state_ports(rt: &Runtime, id: &str) -> Vec<String> {
    rt.state(id)["network"]["ports"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The host port of a port as `state` shows it: `127.0.0.1:N->80/tcp` → N.
#[track_caller]
fn host_port(shown: &str) -> u16 {
    let (host, _) = shown.split_once("->").unwrap_or_else(|| panic!("{shown}"));
    let port = host.rsplit_once(':').map(|(_, p)| p).unwrap_or_default();
    port.parse().unwrap_or_else(|e| panic!("{shown}: {e}"))
}

/// The kernel's ephemeral port range.
fn ephemeral_range() -> (u16, u16) {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let mut words = text.split_whitespace().map(|w| w.parse::<u16>().unwrap());
    (words.next().unwrap(), words.next().unwrap())
}

#[track_caller]
fn must_answer(addr: &str, page: &str) {
    if let Err(e) = wait_http(addr, page, WAIT) {
        panic!("GET http://{addr}/: {e}");
    }
}

#[track_caller]
fn must_not_answer(addr: &str, page: &str) {
    let got = wait_http(addr, page, SHORT);
    assert!(got.is_err(), "http://{addr}/ answered: {got:?}");
}

// ---- connect / disconnect ----

#[test]
fn connect_then_disconnect_a_running_container() {
    let rt = runtime();
    let a = Net::create(&rt, 30, false);
    let b = Net::create(&rt, 31, false);
    let bundle = web_bundle("page-conn");
    let id = unique_name("conn");
    started(&rt, &bundle, &id, &["--network", &a.name]);
    let ip_b = b.ip(5);

    let out = rt
        .exec(&["network", "connect", "--ip", &ip_b, &b.name, &id])
        .ok();
    let iface: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("connect does not print JSON ({e}): {out}"));
    assert_eq!(iface["network"], json!(b.name), "{iface:#}");
    assert_eq!(iface["ifname"], json!("eth1"), "{iface:#}");
    assert_eq!(iface["ipv4"], json!(format!("{ip_b}/24")), "{iface:#}");
    assert_eq!(iface["gateway"], json!(b.gateway()), "{iface:#}");
    assert_eq!(iface["defaultRoute"], json!(false), "{iface:#}");
    let host_end = iface["hostIfname"].as_str().unwrap_or_default().to_owned();
    assert!(link_exists(&host_end), "no host end {host_end}: {iface:#}");

    // Inside: the interface with its address and route; the default route
    // stays on the first network.
    let seen = inside(&rt, &id, "ip -o -4 addr show; ip route");
    let address = format!("inet {ip_b}/24");
    assert!(
        seen.lines()
            .any(|l| l.contains(" eth1 ") && l.contains(&address)),
        "{seen}"
    );
    assert!(seen.contains("10.213.31.0/24 dev eth1"), "{seen}");
    assert!(
        seen.contains(&format!("default via {} dev eth0", a.gateway())),
        "{seen}"
    );
    assert!(!seen.contains("default via 10.213.31.1"), "{seen}");
    // The host reaches it on the new network.
    must_answer(&format!("{ip_b}:80"), "page-conn");
    // State and inspect follow.
    let ifaces = interfaces(&rt, &id);
    assert_eq!(ifaces.len(), 2, "{ifaces:#?}");
    assert_eq!(ifaces[1], iface, "{ifaces:#?}");
    assert_eq!(b.containers(), std::slice::from_ref(&id));
    assert_eq!(b.inspect()["addressesInUse"], json!(1));

    rt.exec(&["network", "disconnect", &b.name, &id]).ok();
    let seen = inside(&rt, &id, "ip -o link; ip route");
    assert!(!seen.contains("eth1"), "{seen}");
    assert!(
        seen.contains(&format!("default via {} dev eth0", a.gateway())),
        "{seen}"
    );
    must_not_answer(&format!("{ip_b}:80"), "page-conn");
    must_within(WAIT, "the veth's host end stayed", || {
        !link_exists(&host_end)
    });
    let ifaces = interfaces(&rt, &id);
    assert_eq!(ifaces.len(), 1, "{ifaces:#?}");
    assert_eq!(ifaces[0]["network"], json!(a.name));
    let v = b.inspect();
    assert_eq!(v["containers"], json!([]), "{v:#}");
    assert_eq!(v["addressesInUse"], json!(0), "{v:#}");
    // The first network is untouched.
    must_answer(&format!("{}:80", a.ip(2)), "page-conn");

    // Connected again (the next free address), then deleted: nothing stays.
    rt.exec(&["network", "connect", &b.name, &id]).ok();
    must_answer(&format!("{}:80", b.ip(2)), "page-conn");
    rt.delete_force(&id).ok();
    for net in [&a, &b] {
        let v = net.inspect();
        assert_eq!(v["containers"], json!([]), "{v:#}");
        assert_eq!(v["addressesInUse"], json!(0), "{v:#}");
    }

    // A network removed from under a connected container (`network rm
    // --force`): a disconnect takes it out of the container's state.
    let id = unique_name("conn");
    started(&rt, &bundle, &id, &["--network", &a.name]);
    rt.exec(&["network", "connect", &b.name, &id]).ok();
    rt.exec(&["network", "rm", "--force", &b.name]).ok();
    assert_eq!(interfaces(&rt, &id).len(), 2);
    rt.exec(&["network", "disconnect", &b.name, &id]).ok();
    assert_eq!(interfaces(&rt, &id).len(), 1);
    let seen = inside(&rt, &id, "ip -o link");
    assert!(!seen.contains("eth1"), "{seen}");
    rt.exec(&["network", "disconnect", &b.name, &id])
        .fails_with(&[&b.name, "does not exist"]);
}

#[test]
fn connect_and_disconnect_refusals_change_nothing() {
    let rt = runtime();
    let a = Net::create(&rt, 32, false);
    let b = Net::create(&rt, 33, false);
    let bundle = net_bundle(&["sleep", "1000"]);
    let id = unique_name("cref");
    started(&rt, &bundle, &id, &["--network", &a.name]);
    let missing = format!("nc-{}-none", std::process::id());

    let connect = |args: &[&str]| -> Output {
        let mut all = vec!["network", "connect"];
        all.extend(args);
        rt.exec(&all)
    };
    let disconnect = |net: &str, id: &str| rt.exec(&["network", "disconnect", net, id]);
    connect(&[&missing, &id]).fails_with(&[&missing, "does not exist"]);
    connect(&[&a.name, &id]).fails_with(&["already connected", &a.name]);
    connect(&[&b.name, "no-such-container"]).fails_with(&["no-such-container", "does not exist"]);
    connect(&["--ip", "10.213.32.9", &b.name, &id]).fails_with(&["10.213.32.9", "not in"]);
    connect(&["--ip", "10.213.33.1", &b.name, &id]).fails_with(&["10.213.33.1", "reserved"]);
    connect(&["--ip", "fd00:213:30::9", &b.name, &id]).fails_with(&["not an IPv4 address"]);
    disconnect(&b.name, &id).fails_with(&["not connected", &b.name]);
    disconnect(&missing, &id).fails_with(&[&missing, "does not exist"]);

    // A container made without berth's networks.
    let plain = unique_name("cplain");
    started(&rt, &bundle, &plain, &[]);
    connect(&[&b.name, &plain]).fails_with(&["without berth's networks"]);

    // A stopped container has no network namespace to change.
    rt.kill(&id, "KILL").ok();
    assert!(rt.wait_status(&id, "stopped", WAIT), "{id} did not stop");
    connect(&[&b.name, &id]).fails_with(&["container not running", &id]);
    disconnect(&a.name, &id).fails_with(&["container not running", &id]);

    let v = b.inspect();
    assert_eq!(v["containers"], json!([]), "{v:#}");
    assert_eq!(v["addressesInUse"], json!(0), "{v:#}");
    assert_eq!(a.containers(), std::slice::from_ref(&id));
    assert_eq!(interfaces(&rt, &id).len(), 1);
}

// ---- two networks ----

#[test]
fn two_networks_default_route_and_ports_on_the_first() {
    let rt = runtime();
    let a = Net::create(&rt, 34, false);
    let b = Net::create(&rt, 35, false);
    let bundle = web_bundle("page-two");
    let id = unique_name("two");
    started(
        &rt,
        &bundle,
        &id,
        &["--network", &a.name, "--network", &b.name, "-p", "23930:80"],
    );
    let seen = inside(&rt, &id, "ip route");
    assert!(
        seen.contains(&format!("default via {} dev eth0", a.gateway())),
        "{seen}"
    );
    assert!(
        !seen.contains(&format!("default via {}", b.gateway())),
        "{seen}"
    );
    assert!(seen.contains("10.213.35.0/24 dev eth1"), "{seen}");
    let ifaces = interfaces(&rt, &id);
    assert_eq!(
        ifaces
            .iter()
            .map(|i| i["defaultRoute"].clone())
            .collect::<Vec<_>>(),
        [json!(true), json!(false)],
        "{ifaces:#?}"
    );
    // Both addresses answer from the host, and the published port on the
    // first network.
    must_answer(&format!("{}:80", a.ip(2)), "page-two");
    must_answer(&format!("{}:80", b.ip(2)), "page-two");
    must_answer("127.0.0.1:23930", "page-two");
    must_answer(&format!("{}:23930", a.gateway()), "page-two");
    assert_eq!(a.ports(), [format!("{id} 0.0.0.0:23930->80/tcp")]);
    assert_eq!(b.ports(), Vec::<String>::new());

    // The first network leaves: its port goes, the default route moves
    // to the next network's gateway.
    rt.exec(&["network", "disconnect", &a.name, &id]).ok();
    let seen = inside(&rt, &id, "ip route");
    assert!(
        seen.contains(&format!("default via {} dev eth1", b.gateway())),
        "{seen}"
    );
    must_not_answer("127.0.0.1:23930", "page-two");
    assert_eq!(state_ports(&rt, &id), Vec::<String>::new());
    assert_eq!(a.ports(), Vec::<String>::new());
    assert_eq!(interfaces(&rt, &id)[0]["defaultRoute"], json!(true));
    must_answer(&format!("{}:80", b.ip(2)), "page-two");
}

// ---- publishing ----

#[test]
fn ports_without_a_host_port_get_a_free_one_tcp_and_udp() {
    let rt = runtime();
    let a = Net::create(&rt, 36, false);
    let bundle = web_bundle("page-auto");
    let id = unique_name("auto");
    started(
        &rt,
        &bundle,
        &id,
        &["--network", &a.name, "-p", "80", "-p", "127.0.0.1::80"],
    );
    let ports = state_ports(&rt, &id);
    assert_eq!(ports.len(), 2, "{ports:?}");
    assert!(
        ports[0].starts_with("0.0.0.0:") && ports[0].ends_with("->80/tcp"),
        "{ports:?}"
    );
    assert!(
        ports[1].starts_with("127.0.0.1:") && ports[1].ends_with("->80/tcp"),
        "{ports:?}"
    );
    let (any, local) = (host_port(&ports[0]), host_port(&ports[1]));
    let (first, last) = ephemeral_range();
    for p in [any, local] {
        assert!((first..=last).contains(&p), "{p} is not in {first}-{last}");
    }
    assert_ne!(any, local);
    let mut shown = a.ports();
    shown.sort();
    let mut expected: Vec<String> = ports.iter().map(|p| format!("{id} {p}")).collect();
    expected.sort();
    assert_eq!(shown, expected);

    must_answer(&format!("127.0.0.1:{any}"), "page-auto");
    must_answer(&format!("{}:{any}", a.gateway()), "page-auto");
    must_answer(&format!("127.0.0.1:{local}"), "page-auto");
    rt.delete_force(&id).ok();
    must_not_answer(&format!("127.0.0.1:{any}"), "page-auto");
    assert_eq!(a.ports(), Vec::<String>::new());

    // UDP, a port given and one chosen.
    let bundle = udp_echo_bundle("53");
    let id = unique_name("udp");
    started(
        &rt,
        &bundle,
        &id,
        &["--network", &a.name, "-p", "23960:53/udp", "-p", "53/udp"],
    );
    let ports = state_ports(&rt, &id);
    assert_eq!(ports.len(), 2, "{ports:?}");
    assert_eq!(ports[0], "0.0.0.0:23960->53/udp");
    assert!(ports[1].ends_with("->53/udp"), "{ports:?}");
    let chosen = host_port(&ports[1]);
    assert!(
        (first..=last).contains(&chosen),
        "{chosen} is not in {first}-{last}"
    );
    for port in [23960, chosen] {
        let addr = format!("127.0.0.1:{port}");
        if let Err(e) = udp_echoed(&addr, WAIT) {
            panic!("no echo through {addr}/udp: {e}");
        }
    }
    rt.delete_force(&id).ok();
    let after = udp_echoed("127.0.0.1:23960", SHORT);
    assert!(after.is_err(), "an echo after delete");
}

#[test]
fn a_range_taken_in_part_is_refused_whole_naming_the_port() {
    let rt = runtime();
    let a = Net::create(&rt, 37, false);
    let sleeper = net_bundle(&["sleep", "1000"]);
    let holder = unique_name("hold");
    started(
        &rt,
        &sleeper,
        &holder,
        &["--network", &a.name, "-p", "23941:80"],
    );

    // Taken by another container.
    let id = unique_name("range");
    rt.create(
        &sleeper,
        &id,
        &["--network", &a.name, "-p", "23940-23942:80-82"],
    )
    .fails_with(&["23941", "already published", &holder]);
    assert_eq!(a.ports(), [format!("{holder} 0.0.0.0:23941->80/tcp")]);
    assert_eq!(a.containers(), std::slice::from_ref(&holder));

    // Listened on by the host.
    let listener = std::net::TcpListener::bind("0.0.0.0:23945").expect("listen on 23945");
    rt.create(
        &sleeper,
        &id,
        &["--network", &a.name, "-p", "23944-23946:80-82"],
    )
    .fails_with(&["23945", "in use on the host"]);
    drop(listener);
    assert_eq!(a.ports(), [format!("{holder} 0.0.0.0:23941->80/tcp")]);
    assert_eq!(a.containers(), std::slice::from_ref(&holder));
    assert_eq!(rt.leftovers(), std::slice::from_ref(&holder));

    // A host range for one container port takes the first free port.
    let id = unique_name("range");
    started(
        &rt,
        &sleeper,
        &id,
        &["--network", &a.name, "-p", "127.0.0.1:23941-23943:80"],
    );
    assert_eq!(state_ports(&rt, &id), ["127.0.0.1:23942->80/tcp"]);
}

#[test]
fn ipv6_loopback_is_refused_and_ipv6_publishing_and_connect_work() {
    let rt = runtime();
    let a = Net::create(&rt, 38, true);
    let bundle = web_bundle("page-v6");
    for spec in ["[::1]:23950:80", "[::1]::80"] {
        rt.create(
            &bundle,
            &unique_name("v6lo"),
            &["--network", &a.name, "-p", spec],
        )
        .fails_with(&["::1", "route_localnet"]);
    }
    assert_eq!(a.containers(), Vec::<String>::new());
    // On the host's IPv6 address on the bridge, a chosen port answers.
    let id = unique_name("v6");
    started(
        &rt,
        &bundle,
        &id,
        &["--network", &a.name, "-p", "[fd00:213:30::1]::80"],
    );
    let ports = state_ports(&rt, &id);
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert!(ports[0].starts_with("[fd00:213:30::1]:"), "{ports:?}");
    let port = host_port(&ports[0]);
    must_answer(&format!("[fd00:213:30::1]:{port}"), "page-v6");

    // Connected to a container on an IPv4-only network, the IPv6 network
    // gives it its address and the IPv6 default route (none had one); the
    // IPv4 default route stays on the first network.
    let v4 = Net::create(&rt, 39, false);
    let id = unique_name("v6conn");
    started(&rt, &bundle, &id, &["--network", &v4.name]);
    let out = rt.exec(&["network", "connect", &a.name, &id]).ok();
    let iface: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("connect does not print JSON ({e}): {out}"));
    let ip6 = iface["ipv6"].as_str().unwrap_or_default().to_owned();
    assert!(ip6.starts_with("fd00:213:30::"), "{iface:#}");
    assert_eq!(iface["defaultRoute"], json!(false), "{iface:#}");
    assert_eq!(iface["ipv6DefaultRoute"], json!(true), "{iface:#}");
    let seen = inside(
        &rt,
        &id,
        "ip -o -6 addr show dev eth1; ip -6 route; ip route",
    );
    assert!(seen.contains(&format!("inet6 {ip6}")), "{seen}");
    assert!(
        seen.contains("default via fd00:213:30::1 dev eth1"),
        "{seen}"
    );
    assert!(
        seen.contains(&format!("default via {} dev eth0", v4.gateway())),
        "{seen}"
    );
    let ip6 = ip6.split('/').next().unwrap_or_default();
    must_answer(&format!("[{ip6}]:80"), "page-v6");
    rt.exec(&["network", "disconnect", &a.name, &id]).ok();
    must_not_answer(&format!("[{ip6}]:80"), "page-v6");
    let seen = inside(&rt, &id, "ip -6 route");
    assert!(!seen.contains("default"), "{seen}");
}

/// A bundle running the test's UDP echo server on `port` (busybox's nc
/// has no UDP; a host binary, with the host's libraries mounted).
fn udp_echo_bundle(port: &str) -> Bundle {
    let mut bundle = net_bundle(&["/udp_echo", port]);
    let ro_bind = |src: &str, dst: &str| json!({"destination": dst, "type": "bind", "source": src, "options": ["rbind", "ro"]});
    bundle.add_mount(ro_bind(env!("CARGO_BIN_EXE_udp_echo"), "/udp_echo"));
    for dir in ["/lib/x86_64-linux-gnu", "/lib64"] {
        bundle.add_mount(ro_bind(dir, dir));
    }
    bundle
}

/// Whether a datagram to `addr` is echoed within `timeout`; the last
/// answer or error.
fn udp_echoed(addr: &str, timeout: Duration) -> Result<(), String> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    let mut last = String::from("nothing sent");
    let echoed = spec_tests::wait_until(timeout, || {
        let _ = sock.send_to(b"hello-udp", addr);
        let mut buf = [0u8; 64];
        last = match sock.recv_from(&mut buf) {
            Ok((n, _)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) => e.to_string(),
        };
        last == "echo:hello-udp"
    });
    if echoed {
        Ok(())
    } else {
        Err(last)
    }
}
