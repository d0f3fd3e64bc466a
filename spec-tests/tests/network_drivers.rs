//! berth's network drivers and network options, end to end: macvlan and
//! ipvlan networks, `--internal`, `--mtu`, UDP publishing, port ranges and
//! `--label` with `network ls --filter` (what `network.rs` does not cover).
//!
//! Subnets 10.213.40-59.0/24 and host ports 24000-24999 belong to this file
//! and `network_host.rs`/`network_docker.rs`; the shared network state dir
//! and its host-wide lock (`spec_tests::net::state_dir`) keep them from
//! running beside another network test process. ipvlan needs a kernel with
//! the module: where it is missing the test says so and passes (hack/test.sh
//! runs it again in the VM, whose kernel has it).

#[path = "common/hosts.rs"]
mod hosts;

use hosts::{Dummy, Net, Outside};
use serde_json::{json, Value};
use spec_tests::net::{add_www, berth_net, ipv4_of, net_bundle, runtime, wait_http, TestNet};
use spec_tests::{unique_name, wait_until, Bundle, Runtime, TestDir};
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// `create` + `start`, both required to succeed.
#[track_caller]
fn started(rt: &Runtime, bundle: &Bundle, id: &str, flags: &[&str]) {
    rt.create(bundle, id, flags).ok();
    rt.start(id).ok();
}

/// Runs `script` in a fresh container in the foreground; its output.
fn run_sh(rt: &Runtime, script: &str, flags: &[&str]) -> spec_tests::Output {
    let bundle = net_bundle(&["sh", "-c", script]);
    bundle.save();
    let id = unique_name("drv");
    let mut args = vec!["run", "--bundle", bundle.path().to_str().unwrap()];
    args.extend(flags);
    args.push(&id);
    rt.exec(&args)
}

// ---- macvlan, ipvlan ----

/// Whether the kernel makes a link of `kind` on `parent` (ipvlan is often
/// not built); `Err` says why not.
fn kernel_has(kind: &str, parent: &str) -> Result<(), String> {
    let probe = format!("bp{}", std::process::id() % 100_000);
    let out = Command::new("ip")
        .args(["link", "add", &probe, "link", parent, "type", kind])
        .output()
        .expect("run ip link add");
    if out.status.success() {
        let _ = Command::new("ip").args(["link", "del", &probe]).status();
        return Ok(());
    }
    Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
}

/// Two containers on a `driver` network over a dummy parent: the interface
/// inside is of that kind and mode, with the network's address, and the
/// containers reach each other; nothing of it is on the host's side.
fn two_containers_on(driver: &str, mode: &str, octet: u8) {
    let parent = Dummy::new(octet);
    if let Err(why) = kernel_has(driver, &parent.name) {
        eprintln!("SKIPPED: this kernel has no {driver} ({why}); hack/test.sh runs this test in the VM, whose kernel has it");
        return;
    }
    let subnet = format!("10.213.{octet}.0/24");
    let (net, out) = Net::create(
        &format!("nd-{driver}"),
        &[
            "--driver",
            driver,
            "--parent",
            &parent.name,
            "--mode",
            mode,
            "--subnet",
            &subnet,
        ],
    );
    assert!(out.success(), "{out}");
    let rt = runtime();
    let c1 = unique_name(driver);
    started(
        &rt,
        &net_bundle(&["sleep", "1000"]),
        &c1,
        &["--network", &net.name],
    );
    let ip1 = ipv4_of(&rt, &c1);
    assert!(ip1.starts_with(&format!("10.213.{octet}.")), "{ip1}");
    let iface = rt.state(&c1)["network"]["interfaces"][0].clone();
    assert_eq!(iface["hostIfname"], Value::Null, "{iface:#}");

    // The kind, as the host's ip(8) shows it in the container's netns
    // (busybox's ip has no -d).
    let pid = rt.state(&c1)["pid"].to_string();
    let link = Command::new("nsenter")
        .args(["-t", &pid, "-n", "ip", "-d", "link", "show", "eth0"])
        .output()
        .expect("run nsenter");
    let link = String::from_utf8_lossy(&link.stdout);
    let words: Vec<&str> = link.split_whitespace().collect();
    assert!(
        words.windows(3).any(|w| w == [driver, "mode", mode]),
        "not {driver} mode {mode}: {link}"
    );

    let out = run_sh(
        &rt,
        &format!("ip -4 addr show eth0; ping -c1 -W2 {ip1} && echo PEER-OK"),
        &["--network", &net.name],
    );
    assert!(out.success(), "{out}");
    assert!(
        out.stdout.contains(&format!("inet 10.213.{octet}.")),
        "{out}"
    );
    assert!(out.stdout.contains("PEER-OK"), "{out}");

    let inspect = net.berth(&["network", "inspect", &net.name]).ok();
    let v: Value = serde_json::from_str(&inspect.stdout).expect("inspect JSON");
    assert_eq!(v[0]["driver"], json!(driver), "{v:#}");
    assert_eq!(v[0]["parent"], json!(parent.name), "{v:#}");
    rt.delete_force(&c1).ok();
}

#[test]
fn macvlan_network_connects_its_containers() {
    two_containers_on("macvlan", "bridge", 43);
}

#[test]
fn ipvlan_network_connects_its_containers() {
    two_containers_on("ipvlan", "l2", 42);
}

// ---- --internal ----

/// An `--internal` network has no way out: its container reaches nothing
/// beyond the host (a namespace standing for the world), where a container
/// of an ordinary network does; its published port answers from the host,
/// but not from that outside namespace, where the ordinary network's does.
#[test]
fn internal_network_has_no_way_out_and_publishes_to_the_host_only() {
    let internal = TestNet::create(44, false, &["--internal"]);
    let open = TestNet::create(45, false, &[]);
    let mut outside = Outside::new(46);
    outside.serve_http(8080, "outside-page\n");
    let rt = runtime();
    // busybox nc (the static busybox's wget crashes here).
    let fetch = format!(
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {} 8080 | grep -q outside-page && echo OUT-OK",
        outside.ip
    );

    let out = run_sh(&rt, &fetch, &["--network", &open.name]);
    assert!(
        out.stdout.contains("OUT-OK"),
        "control: an ordinary network's container reaches the outside: {out}"
    );
    let out = run_sh(&rt, &fetch, &["--network", &internal.name]);
    assert!(
        !out.stdout.contains("OUT-OK"),
        "a container of an --internal network reached the outside: {out}"
    );

    let www = |page: &str| {
        let b = net_bundle(&["httpd", "-f", "-p", "80", "-h", "/www"]);
        add_www(&b, page);
        b
    };
    let (bi, bo) = (www("internal-page\n"), www("open-page\n"));
    let (ci, co) = (unique_name("int"), unique_name("open"));
    started(
        &rt,
        &bi,
        &ci,
        &["--network", &internal.name, "-p", "24044:80"],
    );
    started(&rt, &bo, &co, &["--network", &open.name, "-p", "24045:80"]);
    let from_host = wait_http("127.0.0.1:24044", "internal-page", WAIT);
    assert!(from_host.is_ok(), "from the host: {from_host:?}");
    let gw = format!("{}:24044", internal.gateway());
    let from_host = wait_http(&gw, "internal-page", WAIT);
    assert!(from_host.is_ok(), "from the host at {gw}: {from_host:?}");

    let open_url = format!("{}:24045", outside.host_ip);
    let got = outside.get(&open_url, 3);
    assert!(
        got.as_deref().is_ok_and(|p| p.contains("open-page")),
        "control: the ordinary network's port from outside: {got:?}"
    );
    let internal_url = format!("{}:24044", outside.host_ip);
    let got = outside.get(&internal_url, 3);
    assert!(
        got.is_err(),
        "the --internal network's port answered from outside the host: {got:?}"
    );
    rt.delete_force(&ci).ok();
    rt.delete_force(&co).ok();
}

// ---- --mtu ----

#[test]
fn mtu_is_the_containers_interface_mtu() {
    let net = TestNet::create(47, false, &["--mtu", "1400"]);
    let rt = runtime();
    let out = run_sh(
        &rt,
        "cat /sys/class/net/eth0/mtu",
        &["--network", &net.name],
    );
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout.trim(), "1400", "{out}");
    assert_eq!(net.inspect()["mtu"], json!(1400));
    // The control: without --mtu, 1500.
    let plain = TestNet::create(48, false, &[]);
    let out = run_sh(
        &rt,
        "cat /sys/class/net/eth0/mtu",
        &["--network", &plain.name],
    );
    assert_eq!(out.stdout.trim(), "1500", "{out}");
}

// ---- publishing ----

/// A bundle running the test's UDP echo server (a static binary of this
/// crate, bound into the container) on `port`.
fn udp_echo_bundle(port: u16) -> Bundle {
    let mut b = Bundle::new(&["/udp_echo", &port.to_string()]);
    b.add_mount(json!({
        "destination": "/udp_echo",
        "type": "bind",
        "source": env!("CARGO_BIN_EXE_udp_echo"),
        "options": ["rbind", "ro"],
    }));
    b
}

/// One datagram to `addr` and its answer, tried until `WAIT` passes.
fn udp_exchange(addr: &str, message: &str) -> Result<String, String> {
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    let mut last = Err("never tried".to_owned());
    wait_until(WAIT, || {
        let mut buf = [0u8; 2048];
        last = socket
            .send_to(message.as_bytes(), addr)
            .and_then(|_| socket.recv(&mut buf))
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
            .map_err(|e| e.to_string());
        last.is_ok()
    });
    last
}

#[test]
fn udp_port_is_published() {
    let net = TestNet::create(49, false, &[]);
    let rt = runtime();
    let id = unique_name("udp");
    started(
        &rt,
        &udp_echo_bundle(5353),
        &id,
        &["--network", &net.name, "-p", "24049:5353/udp"],
    );
    assert_eq!(
        rt.state(&id)["network"]["ports"],
        json!(["0.0.0.0:24049->5353/udp"])
    );
    for addr in [
        "127.0.0.1:24049".to_owned(),
        format!("{}:24049", net.gateway()),
    ] {
        let got = udp_exchange(&addr, "hello");
        assert_eq!(got.as_deref(), Ok("echo:hello"), "UDP to {addr}");
    }
    // TCP on the same port is not published.
    let tcp = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:24049".parse().unwrap(),
        Duration::from_secs(1),
    );
    assert!(tcp.is_err(), "TCP 24049 answered");
    rt.delete_force(&id).ok();
    net.assert_ipam_empty();
}

/// `-p 24050-24052:80-82` publishes each host port to its container port.
#[test]
fn port_range_publishes_each_port() {
    let net = TestNet::create(50, false, &[]);
    let rt = runtime();
    let b = net_bundle(&[
        "sh",
        "-c",
        "for p in 80 81 82; do httpd -p $p -h /w$p; done; exec sleep 1000",
    ]);
    for p in [80, 81, 82] {
        let dir = b.rootfs().join(format!("w{p}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("index.html"), format!("page-{p}\n")).expect("write page");
    }
    let id = unique_name("range");
    started(
        &rt,
        &b,
        &id,
        &["--network", &net.name, "-p", "24050-24052:80-82"],
    );
    assert_eq!(
        rt.state(&id)["network"]["ports"],
        json!([
            "0.0.0.0:24050->80/tcp",
            "0.0.0.0:24051->81/tcp",
            "0.0.0.0:24052->82/tcp"
        ])
    );
    for (host, ctr) in [(24050, 80), (24051, 81), (24052, 82)] {
        let got = wait_http(&format!("127.0.0.1:{host}"), &format!("page-{ctr}"), WAIT);
        assert!(got.is_ok(), "{host}->{ctr}: {got:?}");
    }
    let ports: Vec<Value> = net.inspect()["ports"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(ports.len(), 3, "{ports:?}");
    rt.delete_force(&id).ok();
    net.assert_ipam_empty();
}

// ---- --label, ls --filter ----

#[test]
fn labels_filter_network_ls() {
    let front = TestNet::create(51, false, &["--label", "tier=front", "--label", "team=a"]);
    let back = TestNet::create(52, false, &["--label", "tier=back"]);
    let io = TestDir::new("ls");
    let ls = |filters: &[&str]| -> Vec<String> {
        let mut args = vec!["network", "ls", "-q"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        let out = berth_net(io.path(), &args).ok();
        let mut names: Vec<String> = out
            .stdout
            .lines()
            .filter(|n| *n == front.name || *n == back.name)
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    };
    let (f, b) = (front.name.clone(), back.name.clone());
    let mut both = vec![f.clone(), b.clone()];
    both.sort();
    assert_eq!(ls(&[]), both);
    assert_eq!(ls(&["label=tier"]), both);
    assert_eq!(ls(&["label=tier=front"]), vec![f.clone()]);
    assert_eq!(ls(&["label=tier=back"]), vec![b.clone()]);
    assert_eq!(ls(&["label=team"]), vec![f.clone()]);
    assert_eq!(
        ls(&["label=tier=front", "label=team=b"]),
        Vec::<String>::new()
    );
    assert_eq!(ls(&["label=tier", &format!("name={b}")]), vec![b.clone()]);

    // The table and JSON forms filter alike; JSON shows the labels.
    let out = berth_net(
        io.path(),
        &["network", "ls", "--filter", "label=tier=front"],
    )
    .ok();
    assert!(out.stdout.starts_with("NAME "), "{out}");
    assert!(out.stdout.contains(&f) && !out.stdout.contains(&b), "{out}");
    let out = berth_net(
        io.path(),
        &[
            "network",
            "ls",
            "--format",
            "json",
            "--filter",
            "label=team=a",
        ],
    )
    .ok();
    let v: Value = serde_json::from_str(&out.stdout).expect("ls JSON");
    let mine: Vec<&Value> = v
        .as_array()
        .expect("array")
        .iter()
        .filter(|n| n["name"] == json!(f) || n["name"] == json!(b))
        .collect();
    assert_eq!(mine.len(), 1, "{v:#}");
    assert_eq!(mine[0]["labels"], json!({"team": "a", "tier": "front"}));
    assert_eq!(mine[0]["missing"], json!([]), "{v:#}");

    berth_net(io.path(), &["network", "ls", "--filter", "colour=red"])
        .fails_with(&["unknown filter", "colour"]);
}
