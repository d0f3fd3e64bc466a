//! berth's network layer, end to end: real bridges, veths and nft elements
//! made by the real binary, checked from inside busybox containers and
//! from the host.
//!
//! Every test uses its own network (10.213.OCTET.0/24, fd00:213:0:OCTET::/64,
//! bridge `bt<pid>xOCTET`, host ports 18OCTET..) in one state dir shared by
//! this test process, and removes its containers and network also when it
//! fails. Traffic only flows between the host and the containers the tests
//! make. Run with `--test-threads=2`.

use serde_json::{json, Value};
use spec_tests::net::{
    add_www, children_of, interface, ipv4_of, link_exists, must_within, net_bundle, runtime,
    wait_http, HostSnapshot, TestNet,
};
use spec_tests::{unique_name, wait_until, Bundle, Runtime};
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// A container made with `create` + `start` whose process is `args`.
#[track_caller]
fn started(rt: &Runtime, bundle: &Bundle, id: &str, flags: &[&str]) {
    rt.create(bundle, id, flags).ok();
    rt.start(id).ok();
}

/// Runs `script` in a fresh container on `net` in the foreground; its output.
fn run_on(rt: &Runtime, net: &TestNet, script: &str, extra: &[&str]) -> spec_tests::Output {
    let bundle = net_bundle(&["sh", "-c", script]);
    bundle.save();
    let id = unique_name("nrun");
    let mut args = vec![
        "run",
        "--bundle",
        bundle.path().to_str().unwrap(),
        "--network",
        &net.name,
    ];
    args.extend(extra);
    args.push(&id);
    rt.exec(&args)
}

// ---- a) same network ----

#[test]
fn container_pings_its_gateway_and_a_neighbour() {
    let net = TestNet::create(101, false, &[]);
    let rt = runtime();
    let b1 = net_bundle(&["sleep", "1000"]);
    let c1 = unique_name("ping-a");
    started(&rt, &b1, &c1, &["--network", &net.name]);
    let ip1 = ipv4_of(&rt, &c1);
    let iface = interface(&rt, &c1);
    assert_eq!(iface["gateway"], json!(net.gateway()), "{iface:#}");
    assert!(ip1.starts_with("10.213.101."), "{iface:#}");
    assert_eq!(iface["ifname"], json!("eth0"));

    let out = run_on(
        &rt,
        &net,
        &format!(
            "ip -o -4 addr show eth0; ip route; ping -c1 -W2 {gw} && echo GW-OK; ping -c1 -W2 {ip1} && echo PEER-OK",
            gw = net.gateway()
        ),
        &[],
    );
    assert!(out.success(), "{out}");
    assert!(out.stdout.contains("inet 10.213.101."), "{out}");
    assert!(
        out.stdout
            .contains(&format!("default via {} dev eth0", net.gateway())),
        "{out}"
    );
    assert!(out.stdout.contains("GW-OK"), "gateway unreachable: {out}");
    assert!(
        out.stdout.contains("PEER-OK"),
        "neighbour unreachable: {out}"
    );
    // The host reaches the container too.
    let ping = std::process::Command::new("ping")
        .args(["-c1", "-W2", &ip1])
        .stdout(Stdio::null())
        .status();
    if let Ok(status) = ping {
        assert!(status.success(), "the host cannot ping {ip1}");
    }
}

// ---- b) isolation ----

#[test]
fn networks_are_isolated_from_each_other() {
    let net_a = TestNet::create(102, false, &[]);
    let net_b = TestNet::create(103, false, &[]);
    let rt = runtime();
    let b1 = net_bundle(&["httpd", "-f", "-p", "80", "-h", "/www"]);
    add_www(&b1, "page-102\n");
    let c1 = unique_name("iso-a");
    started(&rt, &b1, &c1, &["--network", &net_a.name]);
    let ip1 = ipv4_of(&rt, &c1);
    let get = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip1} 80");

    // Control: on its own network a container reaches it by ping and TCP.
    let out = run_on(
        &rt,
        &net_a,
        &format!(
            "ping -c1 -W2 {ip1} && echo SAME-PING-OK; {get} | grep -q page-102 && echo SAME-TCP-OK"
        ),
        &[],
    );
    assert!(out.stdout.contains("SAME-PING-OK"), "{out}");
    assert!(out.stdout.contains("SAME-TCP-OK"), "{out}");

    // On network b the container has a working network, but reaches
    // nothing on network a.
    let out = run_on(
        &rt,
        &net_b,
        &format!(
            "ping -c1 -W2 {gw} && echo OWN-GW-OK; \
             if ping -c2 -W1 {ip1}; then echo PEER-REACHED; else echo PEER-BLOCKED; fi; \
             if {get} | grep -q page-102; then echo TCP-REACHED; else echo TCP-BLOCKED; fi",
            gw = net_b.gateway()
        ),
        &[],
    );
    assert!(out.success(), "{out}");
    assert!(out.stdout.contains("OWN-GW-OK"), "{out}");
    assert!(
        out.stdout.contains("PEER-BLOCKED"),
        "a container on another network pinged {ip1}: {out}"
    );
    assert!(
        out.stdout.contains("TCP-BLOCKED"),
        "a container on another network reached {ip1}:80: {out}"
    );
}

// ---- c) published ports ----

#[test]
fn published_port_answers_from_the_host_and_hairpin() {
    let net = TestNet::create(104, false, &[]);
    let rt = runtime();
    let port = "18104";
    let gw = net.gateway();
    // httpd in the background; then the container asks for its own
    // published port through the gateway address (hairpin) until it gets
    // the page, writes what it got into /www/hairpin, and stays.
    let mut b = net_bundle(&[
        "sh",
        "-c",
        &format!(
            "httpd -p 80 -h /www; i=0; while [ $i -lt 100 ]; do \
             printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {gw} {port} > /tmp/h 2>&1; \
             if grep -q page-104 /tmp/h; then cp /tmp/h /www/hairpin; break; fi; \
             i=$((i+1)); sleep 0.1; done; touch /www/done; sleep 1000"
        ),
    ]);
    add_www(&b, "page-104\n");
    // The loop writes into the rootfs (berth spec makes it read-only).
    b.config["root"]["readonly"] = json!(false);
    let id = unique_name("pub");
    started(
        &rt,
        &b,
        &id,
        &["--network", &net.name, "-p", &format!("{port}:80")],
    );
    let st = rt.state(&id);
    assert_eq!(
        st["network"]["ports"],
        json!([format!("0.0.0.0:{port}->80/tcp")]),
        "{st:#}"
    );
    for addr in [format!("{gw}:{port}"), format!("127.0.0.1:{port}")] {
        let got = wait_http(&addr, "page-104", WAIT);
        let answer = got.unwrap_or_else(|e| panic!("GET http://{addr}/: {e}"));
        assert!(answer.starts_with("HTTP/1."), "{answer}");
    }
    let www = b.rootfs().join("www");
    must_within(WAIT, "the container's hairpin loop did not end", || {
        www.join("done").exists()
    });
    let hairpin = std::fs::read_to_string(www.join("hairpin")).unwrap_or_default();
    assert!(
        hairpin.contains("page-104"),
        "hairpin: the container did not get its own published port through {gw}:{port}"
    );
    // The port is the container's: after delete nothing answers.
    rt.delete_force(&id).ok();
    let after = wait_http(
        &format!("127.0.0.1:{port}"),
        "page-104",
        Duration::from_millis(300),
    );
    assert!(after.is_err(), "still published after delete: {after:?}");
    net.assert_ipam_empty();
}

// ---- d) IPv6 ----

#[test]
fn ipv6_on_a_ula_subnet() {
    let net = TestNet::create(105, true, &[]);
    let rt = runtime();
    let port = "18105";
    let b = net_bundle(&["httpd", "-f", "-p", "80", "-h", "/www"]);
    add_www(&b, "page-105\n");
    let id = unique_name("v6");
    started(
        &rt,
        &b,
        &id,
        &["--network", &net.name, "-p", &format!("{port}:80")],
    );
    let iface = interface(&rt, &id);
    let ip6 = net.ip6(2);
    assert_eq!(iface["ipv6"], json!(format!("{ip6}/64")), "{iface:#}");
    assert_eq!(iface["ipv6Gateway"], json!(net.gateway6()), "{iface:#}");

    let out = run_on(
        &rt,
        &net,
        &format!(
            "ip -o -6 addr show eth0; ip -6 route; ping6 -c1 -W2 {gw6} && echo GW6-OK; \
             ping6 -c1 -W2 {ip6} && echo PEER6-OK",
            gw6 = net.gateway6()
        ),
        &[],
    );
    assert!(out.success(), "{out}");
    assert!(
        out.stdout.contains(&net.ip6(3)),
        "second container's address: {out}"
    );
    assert!(
        out.stdout
            .contains(&format!("default via {}", net.gateway6())),
        "{out}"
    );
    assert!(out.stdout.contains("GW6-OK"), "{out}");
    assert!(out.stdout.contains("PEER6-OK"), "{out}");
    // From the host: the container's address, and the published port on
    // the gateway's IPv6 address.
    let direct = wait_http(&format!("[{ip6}]:80"), "page-105", WAIT);
    assert!(direct.is_ok(), "GET http://[{ip6}]:80/: {direct:?}");
    let published = wait_http(&format!("[{}]:{port}", net.gateway6()), "page-105", WAIT);
    assert!(
        published.is_ok(),
        "GET http://[{}]:{port}/ (published over IPv6): {published:?}",
        net.gateway6()
    );
}

// ---- e) 50 parallel creates ----

#[test]
fn fifty_parallel_creates_get_distinct_addresses() {
    const N: usize = 50;
    let net = TestNet::create(106, true, &[]);
    let rt = runtime();
    let bundle = Bundle::new(&["sleep", "1000"]);
    let path = bundle.path().to_str().unwrap().to_owned();
    let ids: Vec<String> = (0..N).map(|i| unique_name(&format!("par{i}"))).collect();
    let outs: Vec<spec_tests::Output> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .iter()
            .map(|id| {
                let (rt, path, name) = (&rt, &path, &net.name);
                s.spawn(move || {
                    rt.exec(&["create", "--bundle", path, "--network", name, id.as_str()])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let failed: Vec<_> = outs.iter().filter(|o| !o.success()).collect();
    assert!(
        failed.is_empty(),
        "{} creates failed, e.g. {}",
        failed.len(),
        failed[0]
    );
    let mut v4 = BTreeSet::new();
    let mut v6 = BTreeSet::new();
    let mut macs = BTreeSet::new();
    let mut host_ifs = BTreeSet::new();
    for id in &ids {
        let iface = interface(&rt, id);
        let ip = iface["ipv4"].as_str().unwrap().to_owned();
        assert!(
            ip.starts_with("10.213.106.") && ip.ends_with("/24"),
            "{iface:#}"
        );
        v4.insert(ip);
        v6.insert(iface["ipv6"].as_str().unwrap().to_owned());
        macs.insert(iface["mac"].as_str().unwrap().to_owned());
        host_ifs.insert(iface["hostIfname"].as_str().unwrap().to_owned());
    }
    assert_eq!(v4.len(), N, "duplicate IPv4 addresses: {v4:?}");
    assert_eq!(v6.len(), N, "duplicate IPv6 addresses: {v6:?}");
    assert_eq!(macs.len(), N, "duplicate MACs: {macs:?}");
    assert_eq!(host_ifs.len(), N);
    for h in &host_ifs {
        assert!(link_exists(h), "host end {h} missing");
    }
    let v = net.inspect();
    assert_eq!(v["addressesInUse"], json!(N), "{v:#}");
    let listed: BTreeSet<String> = net.containers().into_iter().collect();
    assert_eq!(listed, ids.iter().cloned().collect::<BTreeSet<_>>());

    std::thread::scope(|s| {
        for id in &ids {
            let rt = &rt;
            s.spawn(move || rt.delete_force(id).ok());
        }
    });
    net.assert_ipam_empty();
    for h in &host_ifs {
        must_within(WAIT, &format!("host end {h} still there"), || {
            !link_exists(h)
        });
    }
    assert!(rt.leftovers().is_empty(), "{:?}", rt.leftovers());
}

// ---- f) kill -9 in the middle of create ----

#[test]
fn kill_9_during_create_then_delete_force_leaves_nothing() {
    let net = TestNet::create(107, true, &[]);
    let rt = runtime();
    let before = net.snapshot();
    net.assert_ipam_empty();

    let mut b = Bundle::new(&["sleep", "1000"]);
    b.config["hooks"] = json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"]}]});
    b.save();
    let id = unique_name("kill9");
    let mut cmd = rt.command(&["create"]);
    cmd.arg("--bundle")
        .arg(b.path())
        .args(["--network", &net.name, "-p", "18107:80", &id]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn berth create");
    let berth_pid = child.id() as i32;
    // The hook (a `sleep` child of berth) runs after the network is made;
    // the container's init is the other child of berth.
    let mut hook = None;
    let found = wait_until(WAIT, || {
        hook = children_of(berth_pid)
            .into_iter()
            .find(|(_, comm)| comm == "sleep")
            .map(|(pid, _)| pid);
        hook.is_some()
    });
    let init = children_of(berth_pid)
        .into_iter()
        .find(|(_, comm)| comm != "sleep")
        .map(|(pid, _)| pid);
    // Processes this test caused; killed when the test ends, whatever
    // berth does with them.
    let _hook_guard = KillOnDrop(hook);
    let _init_guard = KillOnDrop(init);
    if !found {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the prestart hook never ran");
    }
    // What create made by now: the endpoint and port (write-ahead), the
    // veth on the bridge, the DNAT element.
    let during = net.snapshot();
    let inspect = net.inspect();
    child.kill().expect("kill -9 berth");
    let _ = child.wait();
    drop(_hook_guard);

    let host_if = inspect["containers"][0]["hostIfname"]
        .as_str()
        .unwrap_or_else(|| panic!("no endpoint recorded during create: {inspect:#}"))
        .to_owned();
    assert_eq!(inspect["addressesInUse"], json!(1), "{inspect:#}");
    assert!(
        during.links.iter().any(|l| l.starts_with(&host_if)),
        "veth {host_if} not on the bridge during create: {during:?}"
    );
    assert!(
        during.nft.iter().any(|e| e.contains("18107")),
        "no DNAT element during create: {during:?}"
    );

    let deleted = rt.delete_force(&id);
    // The network is checked first: it is released even when another part
    // of the delete fails.
    net.assert_ipam_empty();
    must_within(WAIT, "host end still there", || !link_exists(&host_if));
    let after = net.snapshot_settled(&before);
    assert_eq!(after, before, "the host differs from before the create");
    assert!(deleted.success(), "delete --force after kill -9: {deleted}");
    assert!(rt.leftovers().is_empty(), "{:?}", rt.leftovers());
    if let Some(pid) = init {
        must_within(WAIT, "the container's init survived delete --force", || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z") || s.contains(") X"))
                .unwrap_or(true)
        });
    }
}

/// SIGKILL to a process the test caused, when dropped.
struct KillOnDrop(Option<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            // SAFETY: kill(2) has no memory effects.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

// ---- g) bad input ----

/// What a refused create must leave as it was.
struct Unchanged<'a> {
    net: &'a TestNet,
    rt: &'a Runtime,
    before: HostSnapshot,
    in_use: Value,
}

impl<'a> Unchanged<'a> {
    fn new(net: &'a TestNet, rt: &'a Runtime) -> Self {
        Self {
            net,
            rt,
            before: net.snapshot(),
            in_use: net.inspect()["addressesInUse"].clone(),
        }
    }

    #[track_caller]
    fn check(&self, what: &str, id: &str) {
        assert!(
            !self.rt.leftovers().contains(&id.to_owned()),
            "{what}: container {id} left behind"
        );
        assert_eq!(
            self.net.inspect()["addressesInUse"],
            self.in_use,
            "{what}: an address was left allocated"
        );
        assert!(
            !self.net.containers().contains(&id.to_owned()),
            "{what}: endpoint left"
        );
        assert_eq!(self.net.snapshot(), self.before, "{what}: the host changed");
    }
}

#[test]
fn bad_input_is_refused_and_nothing_is_created() {
    let net = TestNet::create(108, false, &[]);
    let rt = runtime();
    let mut b = Bundle::new(&["sleep", "1000"]);
    let port_taker = unique_name("taker");
    rt.create(&b, &port_taker, &["--network", &net.name, "-p", "18108:80"])
        .ok();
    let taker_pid = rt.state(&port_taker)["pid"].as_i64().unwrap();
    let taker_ip = ipv4_of(&rt, &port_taker);
    let guard = Unchanged::new(&net, &rt);

    let unknown = format!("nosuch-{}", std::process::id());
    let cases: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        (
            "unknown network",
            vec!["--network".into(), unknown.clone()],
            vec![unknown.as_str(), "does not exist"],
        ),
        (
            "malformed port spec",
            vec![
                "--network".into(),
                net.name.clone(),
                "-p".into(),
                "80:".into(),
            ],
            vec!["publish", "80:"],
        ),
        (
            "port out of range",
            vec![
                "--network".into(),
                net.name.clone(),
                "-p".into(),
                "70000:80".into(),
            ],
            vec!["70000"],
        ),
        (
            "bad protocol",
            vec![
                "--network".into(),
                net.name.clone(),
                "-p".into(),
                "18118:80/sctp".into(),
            ],
            vec!["sctp"],
        ),
        (
            "malformed MAC",
            vec![
                "--network".into(),
                format!("{}:mac=02:zz:00:00:00:01", net.name),
            ],
            vec!["mac"],
        ),
        (
            "multicast MAC",
            vec![
                "--network".into(),
                format!("{}:mac=01:00:5e:00:00:01", net.name),
            ],
            vec!["mac", "multicast"],
        ),
        (
            "malformed ip",
            vec![
                "--network".into(),
                format!("{}:ip=10.213.108.300", net.name),
            ],
            vec!["ip", "10.213.108.300"],
        ),
        (
            "ip outside the subnet",
            vec!["--network".into(), format!("{}:ip=10.213.99.5", net.name)],
            vec!["10.213.99.5", "not in"],
        ),
        (
            "gateway as ip",
            vec![
                "--network".into(),
                format!("{}:ip={}", net.name, net.gateway()),
            ],
            vec!["reserved"],
        ),
        (
            "taken host port",
            vec![
                "--network".into(),
                net.name.clone(),
                "-p".into(),
                "18108:8080".into(),
            ],
            vec!["18108", port_taker.as_str()],
        ),
        (
            "unknown option",
            vec!["--network".into(), format!("{}:colour=red", net.name)],
            vec!["colour"],
        ),
        (
            "ip of another container",
            vec!["--network".into(), format!("{}:ip={taker_ip}", net.name)],
            vec![taker_ip.as_str(), "in use"],
        ),
        (
            "network twice",
            vec![
                "--network".into(),
                net.name.clone(),
                "--network".into(),
                net.name.clone(),
            ],
            vec!["twice"],
        ),
        (
            "host port twice",
            vec![
                "--network".into(),
                net.name.clone(),
                "-p".into(),
                "18138:80".into(),
                "-p".into(),
                "18138:81".into(),
            ],
            vec!["18138", "twice"],
        ),
        (
            // Refused by the firewall, after the veth was made.
            "IPv6 host address on a network without IPv6",
            vec![
                "--network".into(),
                net.name.clone(),
                "-p".into(),
                "[fd00:213:0:108::1]:18139:80".into(),
            ],
            vec!["ipv6"],
        ),
        (
            "bad ifname",
            vec![
                "--network".into(),
                format!("{}:ifname=way-too-long-ifname", net.name),
            ],
            vec!["ifname"],
        ),
    ];
    for (what, flags, words) in &cases {
        let id = unique_name("bad");
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        rt.create(&b, &id, &flags).fails_with(words);
        guard.check(what, &id);
    }

    // A network namespace joined by path together with a network request.
    let ns = format!("/proc/{taker_pid}/ns/net");
    for entry in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if entry["type"] == "network" {
            entry["path"] = json!(ns);
        }
    }
    let id = unique_name("bad-ns");
    rt.create(&b, &id, &["--network", &net.name])
        .fails_with(&["network namespace"]);
    guard.check("netns by path + --network", &id);
    // ... and through the annotation.
    b.config["annotations"] = json!({"berth.network": net.name});
    let id = unique_name("bad-ns-ann");
    rt.create(&b, &id, &[]).fails_with(&["network namespace"]);
    guard.check("netns by path + annotation", &id);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .for_each(|e| {
            e.as_object_mut().unwrap().remove("path");
        });
    // Malformed annotations.
    for (ann, words) in [
        (json!({"berth.publish": "80:"}), vec!["publish", "80:"]),
        (
            json!({"berth.network": format!("{}:mac=nope", net.name)}),
            vec!["mac"],
        ),
    ] {
        b.config["annotations"] = ann.clone();
        let id = unique_name("bad-ann");
        rt.create(&b, &id, &["--network", &net.name])
            .fails_with(&words);
        guard.check(&format!("annotation {ann}"), &id);
    }

    // Networks that cannot be made: nothing appears.
    let io = spec_tests::TestDir::new("badnet");
    let bad_bridge = format!("bt{}y108", std::process::id() % 1000);
    let bad_name = format!("ntbad-{}", std::process::id());
    let creates: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        (
            "malformed CIDR",
            vec!["--subnet", "10.213.128.0/33"],
            vec!["subnet", "10.213.128.0/33"],
        ),
        (
            "not a CIDR",
            vec!["--subnet", "banana"],
            vec!["subnet", "banana"],
        ),
        (
            "host bits set",
            vec!["--subnet", "10.213.128.1/24"],
            vec!["subnet", "host bits"],
        ),
        (
            "subnet too small",
            vec!["--subnet", "10.213.128.0/31"],
            vec!["too small"],
        ),
        (
            "overlapping subnet",
            vec!["--subnet", "10.213.108.128/25"],
            vec!["overlaps"],
        ),
        (
            "malformed IPv6 CIDR",
            vec![
                "--subnet",
                "10.213.128.0/24",
                "--ipv6-subnet",
                "fd00:213:0:128::/129",
            ],
            vec!["ipv6", "129"],
        ),
        (
            "gateway outside",
            vec!["--subnet", "10.213.128.0/24", "--gateway", "10.213.129.1"],
            vec!["gateway"],
        ),
        (
            "bridge name too long",
            vec![
                "--subnet",
                "10.213.128.0/24",
                "--bridge",
                "waytoolongbridgename",
            ],
            vec!["bridge"],
        ),
        (
            "bridge of another network",
            vec![
                "--subnet",
                "10.213.128.0/24",
                "--bridge",
                net.bridge.as_str(),
            ],
            vec![net.bridge.as_str()],
        ),
    ];
    for (what, flags, words) in &creates {
        let mut args = vec!["network", "create", &bad_name];
        if !flags.contains(&"--bridge") {
            args.extend(["--bridge", &bad_bridge]);
        }
        args.extend(flags.iter());
        spec_tests::net::berth_net(io.path(), &args).fails_with(words);
        assert!(
            !link_exists(&bad_bridge),
            "{what}: bridge {bad_bridge} made"
        );
        let ls = spec_tests::net::berth_net(io.path(), &["network", "ls", "-q"]).ok();
        assert!(
            !ls.stdout.lines().any(|l| l == bad_name),
            "{what}: network recorded"
        );
    }
    spec_tests::net::berth_net(
        io.path(),
        &[
            "network",
            "create",
            &net.name,
            "--subnet",
            "10.213.128.0/24",
        ],
    )
    .fails_with(&["already exists"]);
    guard.check("network create refusals", "none");
    assert!(!link_exists(&bad_bridge));
}

// ---- h) annotations ----

#[test]
fn annotations_do_what_the_flags_do() {
    let net = TestNet::create(109, false, &[]);
    let rt = runtime();
    let port = "18109";
    let mut b = net_bundle(&["httpd", "-f", "-p", "80", "-h", "/www"]);
    add_www(&b, "page-109\n");
    b.config["annotations"] = json!({
        "berth.network": format!("{}:ip={},mac=02:00:00:00:01:09", net.name, net.ip(77)),
        "berth.publish": format!("{port}:80, 127.0.0.1:18119:80"),
    });
    let id = unique_name("ann");
    started(&rt, &b, &id, &[]);
    let st = rt.state(&id);
    let iface = &st["network"]["interfaces"][0];
    assert_eq!(iface["network"], json!(net.name), "{st:#}");
    assert_eq!(iface["ipv4"], json!(format!("{}/24", net.ip(77))), "{st:#}");
    assert_eq!(iface["mac"], json!("02:00:00:00:01:09"), "{st:#}");
    let ports: BTreeSet<String> = st["network"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ports,
        [
            format!("0.0.0.0:{port}->80/tcp"),
            "127.0.0.1:18119->80/tcp".to_owned()
        ]
        .into_iter()
        .collect()
    );
    for addr in [
        format!("127.0.0.1:{port}"),
        format!("{}:{port}", net.gateway()),
        "127.0.0.1:18119".to_owned(),
    ] {
        let got = wait_http(&addr, "page-109", WAIT);
        assert!(got.is_ok(), "GET http://{addr}/: {got:?}");
    }
    // Published on 127.0.0.1 only: not on the gateway address.
    let other = wait_http(
        &format!("{}:18119", net.gateway()),
        "page-109",
        Duration::from_millis(300),
    );
    assert!(other.is_err(), "127.0.0.1:18119 answers on the gateway too");
    let inside = run_on(
        &rt,
        &net,
        &format!("ip -o link show eth0; ping -c1 -W2 {}", net.ip(77)),
        &[],
    );
    assert!(inside.success(), "{inside}");
    rt.delete_force(&id).ok();
    net.assert_ipam_empty();
}

// ---- i) network rm ----

#[test]
fn network_rm_refuses_while_attached_and_force_cleans_up() {
    let planned = TestNet::planned(110, true);
    let before = planned.snapshot();
    assert!(!link_exists(&planned.bridge));
    let mut net = TestNet::create(110, true, &[]);
    let rt = runtime();
    let made = net.snapshot();
    assert!(
        made.links.iter().any(|l| l.starts_with(&net.bridge)),
        "{made:?}"
    );
    assert!(
        made.nft.iter().any(|e| e.contains(&net.bridge)),
        "no nft element for the bridge: {made:?}"
    );
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique_name("rm");
    started(&rt, &b, &id, &["--network", &net.name, "-p", "18110:80"]);
    let host_if = interface(&rt, &id)["hostIfname"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(link_exists(&host_if));

    net.rm(false).fails_with(&[net.name.as_str(), id.as_str()]);
    assert!(link_exists(&net.bridge), "bridge removed by a refused rm");
    assert_eq!(net.containers(), vec![id.clone()]);

    net.rm(true).ok();
    assert!(!link_exists(&net.bridge), "bridge left after rm --force");
    must_within(WAIT, "host end left after rm --force", || {
        !link_exists(&host_if)
    });
    let ls = net.berth(&["network", "ls", "-q"]).ok();
    assert!(!ls.stdout.lines().any(|l| l == net.name), "{ls}");
    // The container is still there (its network is gone); delete works.
    rt.delete_force(&id).ok();
    assert!(rt.leftovers().is_empty());
    let after = net.snapshot_settled(&before);
    assert_eq!(after, before, "the host differs from before the network");
    assert!(
        !spec_tests::net::nft_ruleset().contains("18110"),
        "the published port is still in nft"
    );
}

// ---- delete leaves nothing ----

#[test]
fn delete_leaves_the_host_as_before() {
    let net = TestNet::create(111, true, &[]);
    let rt = runtime();
    let before = net.snapshot();
    let b = Bundle::new(&["sleep", "1000"]);
    let ids: Vec<String> = (0..3).map(|i| unique_name(&format!("del{i}"))).collect();
    for (i, id) in ids.iter().enumerate() {
        let p = format!("1811{}:80", i + 1);
        started(&rt, &b, id, &["--network", &net.name, "-p", &p]);
    }
    let during = net.snapshot();
    assert_eq!(during.links.len(), before.links.len() + 3, "{during:?}");
    assert!(during.nft.len() > before.nft.len(), "{during:?}");
    for id in &ids {
        rt.kill(id, "KILL").ok();
    }
    for id in &ids {
        must_within(WAIT, "not stopped", || {
            rt.status(id).as_deref() == Some("stopped")
        });
        rt.delete(id).ok();
    }
    net.assert_ipam_empty();
    let after = net.snapshot_settled(&before);
    assert_eq!(after, before);
}

// ---- network rm --force of one of a container's networks ----

#[test]
fn network_rm_force_releases_only_that_network() {
    let mut net_a = TestNet::create(112, false, &[]);
    let net_b = TestNet::create(113, false, &[]);
    let rt = runtime();
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique_name("two");
    started(
        &rt,
        &b,
        &id,
        &[
            "--network",
            &net_a.name,
            "--network",
            &net_b.name,
            "-p",
            "18112:80",
        ],
    );
    let st = rt.state(&id);
    let ifaces = st["network"]["interfaces"].as_array().unwrap().clone();
    assert_eq!(ifaces.len(), 2, "{st:#}");
    let host_a = ifaces[0]["hostIfname"].as_str().unwrap().to_owned();
    let ip_b = ifaces[1]["ipv4"].as_str().unwrap().to_owned();

    net_a.rm(true).ok();
    must_within(WAIT, "host end on the removed network left", || {
        !link_exists(&host_a)
    });
    // The container keeps its address on the other network.
    let v = net_b.inspect();
    assert_eq!(net_b.containers(), vec![id.clone()], "{v:#}");
    assert_eq!(v["addressesInUse"], json!(1), "{v:#}");
    let other = unique_name("two-b");
    rt.create(&b, &other, &["--network", &net_b.name]).ok();
    let ip_other = interface(&rt, &other)["ipv4"].as_str().unwrap().to_owned();
    assert_ne!(
        ip_other, ip_b,
        "an address still in use was handed out again"
    );
    rt.delete_force(&other).ok();
    rt.delete_force(&id).ok();
    net_b.assert_ipam_empty();
}

// ---- a live container whose state directory vanished ----

/// Leaks are reclaimed when they are in the way, but a container whose
/// state directory was removed behind berth's back is not a leak while it
/// runs (its veth's host end is still on the bridge): it keeps its
/// published port. Once it is gone, the port is free again.
#[test]
fn live_container_without_its_state_dir_keeps_its_port() {
    let net = TestNet::create(114, false, &[]);
    let rt = runtime();
    let b = Bundle::new(&["sleep", "1000"]);
    let a = unique_name("hid-a");
    let out = rt.create(&b, &a, &["--network", &net.name, "-p", "18115:80"]);
    assert!(out.success(), "{out}");
    let dir = rt.root().join(&a);
    let hidden = rt.root().join(format!(".{a}.hidden"));
    std::fs::rename(&dir, &hidden).unwrap();
    let b_id = unique_name("hid-b");
    let taken = rt.create(&b, &b_id, &["--network", &net.name, "-p", "18115:80"]);
    std::fs::rename(&hidden, &dir).unwrap();
    assert!(
        !taken.success(),
        "the port of a live container was reclaimed: {taken}"
    );
    assert!(taken.stderr.contains("18115"), "{taken}");
    assert_eq!(net.containers(), vec![a.clone()]);

    rt.delete_force(&a).ok();
    let again = rt.create(&b, &b_id, &["--network", &net.name, "-p", "18115:80"]);
    assert!(again.success(), "{again}");
    rt.delete_force(&b_id).ok();
    net.assert_ipam_empty();
}

// ---- the default network ----

/// `-p` without `--network` means the network `default`, made on first use
/// with a bridge berthN. In a state dir of its own (as every test's
/// runtime has) N starts at 0, while the host may already have a `berth0`
/// of another state dir: the default network must still be made.
#[test]
fn default_network_is_made_when_berth0_belongs_to_someone_else() {
    // Serialised with other network test processes (the lock of the
    // shared state dir), but a private state dir: the default network is
    // made here, not in the shared one (Runtime::berth's own netstate).
    spec_tests::net::state_dir();
    let rt = Runtime::berth();
    let state_dir = rt.global_args[1].clone();
    let io = spec_tests::TestDir::new("dflt");
    let mut dummy = None;
    if !link_exists("berth0") {
        // Stand-in for another state dir's bridge, removed at the end.
        let ok = std::process::Command::new("ip")
            .args(["link", "add", "berth0", "type", "bridge"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip link add berth0 type bridge");
        dummy = Some(DeleteLink("berth0"));
    }
    let net_cmd = |args: &[&str]| {
        let mut cmd = std::process::Command::new(spec_tests::berth_binary());
        cmd.args(["--state-dir", &state_dir]).args(args);
        spec_tests::run_command(cmd, io.path(), WAIT)
    };
    let b = Bundle::new(&["sleep", "1000"]);
    let id = unique_name("dflt");
    let out = rt.create(&b, &id, &["-p", "18114:80"]);
    let v = net_cmd(&["network", "inspect", "default"]);
    let bridge = serde_json::from_str::<Value>(&v.stdout)
        .ok()
        .and_then(|v| v[0]["bridge"].as_str().map(str::to_owned));
    // Removed also when the create failed.
    let _cleanup = RemoveNetwork(&net_cmd);
    assert!(out.success(), "create with the default network: {out}");
    let bridge = bridge.unwrap_or_else(|| panic!("network inspect default: {v}"));
    assert_ne!(bridge, "berth0", "took over another state dir's berth0");
    let iface = interface(&rt, &id);
    assert_eq!(iface["network"], json!("default"), "{iface:#}");
    rt.delete_force(&id).ok();
    drop(dummy);
}

struct DeleteLink(&'static str);

impl Drop for DeleteLink {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", self.0])
            .status();
    }
}

struct RemoveNetwork<'a, F: Fn(&[&str]) -> spec_tests::Output>(&'a F);

impl<F: Fn(&[&str]) -> spec_tests::Output> Drop for RemoveNetwork<'_, F> {
    fn drop(&mut self) {
        (self.0)(&["network", "rm", "--force", "default"]);
    }
}

// ---- hardening ----

/// Runs `f` on a thread that has entered the network namespace of `pid`
/// (the test process itself stays where it is).
fn in_netns_of<T: Send + 'static>(pid: i64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .unwrap_or_else(|e| panic!("open /proc/{pid}/ns/net: {e}"));
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        // SAFETY: setns on an fd this closure owns; it changes only the
        // calling thread, which runs nothing but `f` and then ends.
        let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("the thread in the container's netns panicked")
}

/// CVE-2020-8558: berth's bridges have `route_localnet=1` (for ports
/// published on 127.0.0.1), so a container that routes 127.0.0.0/8 to its
/// gateway (CAP_NET_ADMIN, or crafted frames with CAP_NET_RAW) would reach
/// the host's loopback services. They must receive nothing; a control
/// socket on the gateway address proves the datagrams did leave the
/// container, and a port published on 127.0.0.1 still answers the host.
#[test]
fn host_loopback_is_unreachable_from_a_container() {
    use std::net::UdpSocket;
    let net = TestNet::create(140, false, &[]);
    let rt = runtime();
    let b = net_bundle(&["httpd", "-f", "-p", "80", "-h", "/www"]);
    add_www(&b, "page-140\n");
    let id = unique_name("lonet");
    started(
        &rt,
        &b,
        &id,
        &["--network", &net.name, "-p", "127.0.0.1:18140:80"],
    );
    let got = wait_http("127.0.0.1:18140", "page-140", WAIT);
    assert!(got.is_ok(), "the port published on 127.0.0.1: {got:?}");

    let gw = net.gateway();
    let on_lo2 = UdpSocket::bind("127.0.0.2:18141").expect("bind 127.0.0.2:18141");
    let on_lo1 = UdpSocket::bind("127.0.0.1:18142").expect("bind 127.0.0.1:18142");
    let on_gw = UdpSocket::bind(format!("{gw}:18143")).expect("bind the gateway address");
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    // What a container with CAP_NET_ADMIN may do in its own netns: its
    // loopback addresses gone (and with them the local routes), 127.0.0.0/8
    // via the gateway, route_localnet on its side.
    let setup = std::process::Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "sh", "-c"])
        .arg(format!(
            "ip addr flush dev lo && ip route add 127.0.0.0/8 via {gw} dev eth0 && \
             sysctl -qw net.ipv4.conf.eth0.route_localnet=1 && \
             sysctl -qw net.ipv4.conf.all.route_localnet=1"
        ))
        .output()
        .expect("nsenter");
    assert!(setup.status.success(), "{setup:?}");
    let to_gw = format!("{gw}:18143");
    let errors = in_netns_of(pid, move || {
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind in the container's netns");
        let mut errors = Vec::new();
        for _ in 0..10 {
            for to in ["127.0.0.2:18141", "127.0.0.1:18142", to_gw.as_str()] {
                if let Err(e) = s.send_to(b"from-the-container", to) {
                    errors.push(format!("{to}: {e}"));
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        errors
    });
    assert!(errors.is_empty(), "sending: {errors:?}");
    let mut buf = [0u8; 64];
    on_gw.set_read_timeout(Some(WAIT)).unwrap();
    let control = on_gw.recv_from(&mut buf);
    assert!(
        control.is_ok(),
        "control: nothing reached the gateway address: {control:?}"
    );
    for (sock, name) in [(&on_lo2, "127.0.0.2:18141"), (&on_lo1, "127.0.0.1:18142")] {
        sock.set_nonblocking(true).unwrap();
        let got = sock.recv_from(&mut buf);
        assert!(
            got.is_err(),
            "the host's {name} received a datagram from the container: {got:?}"
        );
    }
    // Published on 127.0.0.1 still answers after all that.
    let got = wait_http("127.0.0.1:18140", "page-140", WAIT);
    assert!(got.is_ok(), "the port published on 127.0.0.1: {got:?}");
    rt.delete_force(&id).ok();
}

/// A host port a host socket listens on (TCP) or is bound to (UDP) is
/// refused, naming the port and the process; nothing is left allocated.
/// Another host address than the listener's is fine, and a range skips the
/// port.
#[test]
fn published_port_does_not_hide_a_host_listener() {
    let net = TestNet::create(141, false, &[]);
    let rt = runtime();
    let b = Bundle::new(&["sleep", "1000"]);
    let tcp = std::net::TcpListener::bind("0.0.0.0:18144").expect("bind 0.0.0.0:18144");
    let udp = std::net::UdpSocket::bind("127.0.0.1:18145").expect("bind 127.0.0.1:18145");
    let me = format!("(pid {})", std::process::id());
    let guard = Unchanged::new(&net, &rt);
    for (spec, port) in [
        ("18144:80", "18144/tcp"),
        ("10.213.141.1:18144:80", "18144/tcp"),
        ("18145:53/udp", "18145/udp"),
        ("127.0.0.1:18145:53/udp", "18145/udp"),
    ] {
        let id = unique_name("lsn");
        let out = rt.create(&b, &id, &["--network", &net.name, "-p", spec]);
        assert!(!out.success(), "-p {spec} hid a host socket: {out}");
        assert!(out.stderr.contains(port), "-p {spec}: {out}");
        assert!(
            out.stderr.contains(&me),
            "-p {spec}: no process named: {out}"
        );
        guard.check(&format!("-p {spec}"), &id);
    }
    // The UDP socket is on 127.0.0.1 only: the gateway address is free.
    let id = unique_name("lsn");
    let out = rt.create(
        &b,
        &id,
        &["--network", &net.name, "-p", "10.213.141.1:18145:53/udp"],
    );
    assert!(out.success(), "{out}");
    rt.delete_force(&id).ok();
    // A range takes the next port.
    let id = unique_name("lsn");
    let out = rt.create(&b, &id, &["--network", &net.name, "-p", "18144-18145:80"]);
    assert!(out.success(), "{out}");
    let ports = rt.state(&id)["network"]["ports"].clone();
    assert_eq!(ports, json!(["0.0.0.0:18145->80/tcp"]), "{out}");
    rt.delete_force(&id).ok();
    drop((tcp, udp));
    net.assert_ipam_empty();
}

/// Two `--root`s share one `--state-dir`: a create in the second root that
/// reuses the id of a live container of the first is refused, and its
/// rollback leaves the first container's address, endpoint and published
/// port alone.
#[test]
fn refused_create_of_a_live_id_leaves_the_other_root_alone() {
    let net = TestNet::create(142, false, &[]);
    let first = runtime();
    let second = runtime();
    let mut b = net_bundle(&["httpd", "-f", "-p", "80", "-h", "/www"]);
    add_www(&b, "page-142\n");
    let id = unique_name("twin");
    started(&first, &b, &id, &["--network", &net.name, "-p", "18147:80"]);
    let ip = ipv4_of(&first, &id);
    let before = net.inspect();
    let got = wait_http("127.0.0.1:18147", "page-142", WAIT);
    assert!(got.is_ok(), "{got:?}");

    // A cgroup of its own: the same id would name the first container's
    // cgroup, which is refused (not empty) before the network is reached.
    b.config["linux"]["cgroupsPath"] = json!(format!("/{}", unique_name("twin-cg")));
    let out = second.create(&b, &id, &["--network", &net.name, "-p", "18148:80"]);
    assert!(!out.success(), "a live id was created again: {out}");
    assert!(out.stderr.contains("still there"), "{out}");

    assert_eq!(net.containers(), vec![id.clone()], "the endpoint went");
    assert_eq!(net.inspect(), before, "the network's allocations changed");
    assert_eq!(ipv4_of(&first, &id), ip);
    let got = wait_http("127.0.0.1:18147", "page-142", WAIT);
    assert!(got.is_ok(), "the first container's port went: {got:?}");
    first.delete_force(&id).ok();
    net.assert_ipam_empty();
}
