//! Names inside networked containers, end to end: the /etc/hosts,
//! /etc/resolv.conf and /etc/hostname berth gives a container it attached
//! to a network, `--dns`, `--dns-search`, `--add-host` and their
//! annotations, and containers of one network finding each other by name
//! through /etc/hosts (no DNS daemon), checked from inside busybox
//! containers.
//!
//! Networks 10.213.20.0/24 to 10.213.29.0/24 (and fd00:213:20::/64), one per
//! test, removed when the test ends (also when it fails). A container that
//! looks up a name that is not in its /etc/hosts asks DNS next: those get
//! `--dns GATEWAY`, the host, where nothing answers, so that no query
//! leaves the host. Run with `--test-threads=2`.

use serde_json::{json, Value};
use spec_tests::net::{ipv4_of, link_exists, net_bundle, runtime, TestNet};
use spec_tests::{parse_mountinfo, unique_name, Bundle, Output, Runtime};

/// A container made with `create` + `start` with `flags`; its bundle must
/// outlive it.
#[track_caller]
#[must_use]
fn started(rt: &Runtime, args: &[&str], id: &str, flags: &[&str]) -> Bundle {
    let bundle = net_bundle(args);
    rt.create(&bundle, id, flags).ok();
    rt.start(id).ok();
    bundle
}

/// Runs `script` in a fresh container in the foreground with `flags`.
fn run_with(rt: &Runtime, bundle: &Bundle, flags: &[&str], script: &str) -> Output {
    let mut bundle_args = bundle.config.clone();
    bundle_args["process"]["args"] = json!(["sh", "-c", script]);
    let text = serde_json::to_string_pretty(&bundle_args).unwrap();
    std::fs::write(bundle.config_path(), text).unwrap();
    let id = unique_name("names");
    let mut args = vec!["run", "--bundle", bundle.path().to_str().unwrap()];
    args.extend(flags);
    args.push(&id);
    rt.exec(&args)
}

/// A fresh container on `net` runs `script`; its output.
fn run_on(rt: &Runtime, net: &TestNet, extra: &[&str], script: &str) -> Output {
    let bundle = net_bundle(&["true"]);
    let mut flags = vec!["--network", net.name.as_str()];
    flags.extend(extra);
    run_with(rt, &bundle, &flags, script)
}

/// The (address, names) entries of a hosts file's text, as libc reads them.
fn entries(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut w = l.split_whitespace().map(str::to_owned);
            (w.next().unwrap_or_default(), w.collect())
        })
        .collect()
}

/// The addresses that `name` has in a hosts file's text.
fn addresses_of(text: &str, name: &str) -> Vec<String> {
    entries(text)
        .into_iter()
        .filter(|(_, names)| names.iter().any(|n| n == name))
        .map(|(a, _)| a)
        .collect()
}

/// The text between `start` and `end` markers of a container's output.
fn section<'a>(out: &'a str, start: &str, end: &str) -> &'a str {
    let from = out
        .find(start)
        .map(|i| i + start.len())
        .unwrap_or_else(|| panic!("no {start} in {out}"));
    let to = out[from..].find(end).map_or(out.len(), |i| from + i);
    &out[from..to]
}

/// The host's resolv.conf as the container must get it, by docker's rule
/// (written here independently of berth's code): the loopback nameservers
/// and, for a container without IPv6, the IPv6 ones dropped; search and
/// options kept.
fn host_resolv_conf_filtered() -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    // systemd-resolved's stub alone: its upstream list is the host's.
    let servers: Vec<&str> = host
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .map(str::trim)
        .collect();
    if servers == ["127.0.0.53"] {
        if let Ok(upstream) = std::fs::read_to_string("/run/systemd/resolve/resolv.conf") {
            host = upstream;
        }
    }
    let (mut ns, mut search, mut options) = (Vec::new(), Vec::new(), Vec::new());
    for line in host.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["nameserver", ip, ..] => {
                let keep = match ip.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V4(v4)) => !v4.is_loopback(),
                    _ => false,
                };
                if keep {
                    ns.push(ip.to_string());
                }
            }
            ["search" | "domain", rest @ ..] => {
                search = rest.iter().map(|s| s.to_string()).collect();
            }
            ["options", ..] => options.push(line.trim().to_owned()),
            _ => {}
        }
    }
    (ns, search, options)
}

fn nameservers(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .map(|s| s.trim().to_owned())
        .collect()
}

// ---- the files ----

#[test]
fn hosts_resolv_conf_and_hostname_of_a_networked_container() {
    let net = TestNet::create(20, false, &[]);
    let rt = runtime();
    let mut bundle = net_bundle(&["true"]);
    bundle.config["hostname"] = json!("web20");
    bundle.save();
    let gw = net.gateway();
    let out = run_with(
        &rt,
        &bundle,
        &[
            "--network",
            &format!("{}:name=web,alias=front", net.name),
            "--dns",
            &gw,
            "--dns",
            "10.213.20.254",
            "--dns-search",
            "corp.example",
            "--add-host",
            "printer.lan:10.213.20.200",
            "--add-host",
            "hostside:host-gateway",
        ],
        "echo ==HOSTS; cat /etc/hosts; echo ==RESOLV; cat /etc/resolv.conf; \
         echo ==HOSTNAME; cat /etc/hostname; echo ==UNAME; hostname; echo ==IP; \
         ip -o -4 addr show eth0; echo ==SELF; hostname -i; echo ==MOUNTS; \
         cat /proc/self/mountinfo; echo ==WRITE; \
         if echo x >> /etc/hosts; then echo HOSTS-WRITABLE; else echo HOSTS-READONLY; fi; echo ==END",
    );
    assert!(out.success(), "{out}");
    let hosts = section(&out.stdout, "==HOSTS\n", "==RESOLV");
    assert_eq!(
        addresses_of(hosts, "localhost"),
        ["127.0.0.1", "::1"],
        "{hosts}"
    );
    let ip = section(&out.stdout, "==IP\n", "==SELF");
    let own = ip
        .split_whitespace()
        .find_map(|w| w.strip_suffix("/24"))
        .unwrap_or_else(|| panic!("no address: {out}"));
    // Its own line: the name, the alias and the hostname.
    for name in ["web", "front", "web20"] {
        assert_eq!(addresses_of(hosts, name), [own], "{name}: {hosts}");
    }
    assert_eq!(
        addresses_of(hosts, "printer.lan"),
        ["10.213.20.200"],
        "{hosts}"
    );
    assert_eq!(addresses_of(hosts, "hostside"), [gw.as_str()], "{hosts}");
    // Fixed-width lines: every line is 127 characters and its newline.
    assert!(hosts.lines().all(|l| l.len() == 127), "{hosts}");
    let resolv = section(&out.stdout, "==RESOLV\n", "==HOSTNAME");
    assert_eq!(
        nameservers(resolv),
        [gw.as_str(), "10.213.20.254"],
        "{resolv}"
    );
    assert!(resolv.contains("search corp.example\n"), "{resolv}");
    assert_eq!(section(&out.stdout, "==HOSTNAME\n", "==UNAME"), "web20\n");
    assert_eq!(section(&out.stdout, "==UNAME\n", "==IP"), "web20\n");
    // libc resolves the hostname through the file.
    assert_eq!(section(&out.stdout, "==SELF\n", "==MOUNTS").trim(), own);
    let mounts = parse_mountinfo(section(&out.stdout, "==MOUNTS\n", "==WRITE"));
    for dest in ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"] {
        assert!(
            mounts.iter().any(|m| m.mount_point == dest),
            "{dest} is not mounted: {out}"
        );
    }
    let hosts_mount = mounts
        .iter()
        .find(|m| m.mount_point == "/etc/hosts")
        .unwrap();
    assert!(hosts_mount.has_option("ro"), "{out}");
    assert!(out.stdout.contains("HOSTS-READONLY"), "{out}");
}

#[test]
fn resolv_conf_is_the_hosts_without_loopback_nameservers() {
    let net = TestNet::create(21, false, &[]);
    let rt = runtime();
    let out = run_on(&rt, &net, &[], "cat /etc/resolv.conf");
    assert!(out.success(), "{out}");
    let (ns, search, options) = host_resolv_conf_filtered();
    assert_eq!(nameservers(&out.stdout), ns, "{out}");
    assert!(
        !out.stdout.contains("nameserver 127.") && !out.stdout.contains("nameserver ::1"),
        "{out}"
    );
    // Never a public resolver berth made up.
    for public in ["8.8.8.8", "8.8.4.4", "1.1.1.1"] {
        let from_host = std::fs::read_to_string("/etc/resolv.conf")
            .unwrap_or_default()
            .contains(public);
        assert!(from_host || !out.stdout.contains(public), "{out}");
    }
    if !search.is_empty() {
        assert!(
            out.stdout
                .contains(&format!("search {}\n", search.join(" "))),
            "{out}"
        );
    }
    for o in options {
        assert!(out.stdout.contains(&o), "{o}: {out}");
    }
}

// ---- names on a network ----

#[test]
fn containers_resolve_each_other_by_name_and_alias_until_deleted() {
    let net = TestNet::create(22, false, &[]);
    let rt = runtime();
    let gw = net.gateway();
    let db = unique_name("db");
    let _db = started(
        &rt,
        &["sleep", "1000"],
        &db,
        &["--network", &format!("{}:name=db,alias=store", net.name)],
    );
    let db_ip = ipv4_of(&rt, &db);
    // Unnamed: its id is its name.
    let anon = unique_name("anon");
    let _anon = started(&rt, &["sleep", "1000"], &anon, &["--network", &net.name]);
    let anon_ip = ipv4_of(&rt, &anon);

    let script = format!(
        "for n in db store {anon}; do ping -c1 -W1 $n 2>&1 | head -1; done; \
         ping -c1 -W2 db >/dev/null && echo PING-DB-OK"
    );
    let out = run_on(&rt, &net, &["--dns", &gw], &script);
    assert!(out.stdout.contains(&format!("PING db ({db_ip})")), "{out}");
    assert!(
        out.stdout.contains(&format!("PING store ({db_ip})")),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!("PING {anon} ({anon_ip})")),
        "{out}"
    );
    assert!(out.stdout.contains("PING-DB-OK"), "{out}");

    // A container already running sees the ones that come after it.
    let late = unique_name("late");
    let _late = started(
        &rt,
        &["sleep", "1000"],
        &late,
        &["--network", &format!("{}:name=late", net.name)],
    );
    let late_ip = ipv4_of(&rt, &late);
    let seen = rt.exec(&["exec", &db, "sh", "-c", "ping -c1 -W1 late 2>&1 | head -1"]);
    assert!(
        seen.stdout.contains(&format!("PING late ({late_ip})")),
        "{seen}"
    );

    // network inspect shows the names.
    let v = net.inspect();
    let c = v["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == json!(db))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(c["name"], json!("db"), "{v:#}");
    assert_eq!(c["aliases"], json!(["store"]), "{v:#}");
    // And so does the container's state.
    let iface = rt.state(&db)["network"]["interfaces"][0].clone();
    assert_eq!(iface["name"], json!("db"), "{iface:#}");
    assert_eq!(iface["aliases"], json!(["store"]), "{iface:#}");

    // A name is one endpoint's on a network.
    let taken = net_bundle(&["true"]);
    let dup = unique_name("dup");
    rt.create(
        &taken,
        &dup,
        &["--network", &format!("{}:name=db", net.name)],
    )
    .fails_with(&["name db", "already taken", &db]);

    // Deleted, its names are gone at once, for running containers too.
    rt.delete_force(&db).ok();
    let out = run_on(
        &rt,
        &net,
        &["--dns", &gw],
        "ping -c1 -W1 db 2>&1 | head -1; ping -c1 -W1 store 2>&1 | head -1",
    );
    assert!(!out.stdout.contains(&db_ip), "{out}");
    assert!(out.stdout.contains("bad address 'db'"), "{out}");
    assert!(out.stdout.contains("bad address 'store'"), "{out}");
    let gone = rt.exec(&["exec", &late, "cat", "/etc/hosts"]).ok();
    assert!(addresses_of(&gone.stdout, "db").is_empty(), "{gone}");
    assert_eq!(
        addresses_of(&gone.stdout, &anon),
        [anon_ip.as_str()],
        "{gone}"
    );

    // A name held by a container that vanished (killed, its state directory
    // gone) is reclaimed by the next container that asks for it.
    let ghost = unique_name("ghost");
    let _ghost = started(
        &rt,
        &["sleep", "1000"],
        &ghost,
        &["--network", &format!("{}:name=ghost", net.name)],
    );
    let st = rt.state(&ghost);
    let host_end = st["network"]["interfaces"][0]["hostIfname"]
        .as_str()
        .unwrap_or_else(|| panic!("{st:#}"))
        .to_owned();
    let pid = st["pid"].as_i64().unwrap_or_else(|| panic!("{st:#}")) as i32;
    // SAFETY: a plain kill(2) of the container's init, which this test made.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    std::fs::remove_dir_all(rt.root().join(&ghost)).unwrap();
    assert!(
        spec_tests::wait_until(std::time::Duration::from_secs(10), || !link_exists(
            &host_end
        )),
        "the vanished container's veth stays"
    );
    let heir = unique_name("heir");
    let _heir = started(
        &rt,
        &["sleep", "1000"],
        &heir,
        &["--network", &format!("{}:name=ghost", net.name)],
    );
    let heir_ip = ipv4_of(&rt, &heir);
    let hosts = rt.exec(&["exec", &late, "cat", "/etc/hosts"]).ok();
    assert_eq!(
        addresses_of(&hosts.stdout, "ghost"),
        [heir_ip.as_str()],
        "{hosts}"
    );
}

#[test]
fn a_container_with_its_own_entries_still_sees_the_network() {
    let net = TestNet::create(23, false, &[]);
    let rt = runtime();
    let own = unique_name("own");
    let _own = started(
        &rt,
        &["sleep", "1000"],
        &own,
        &[
            "--network",
            &net.name,
            "--add-host",
            "only-mine:10.213.23.250",
        ],
    );
    let peer = unique_name("peer");
    let _peer = started(
        &rt,
        &["sleep", "1000"],
        &peer,
        &["--network", &format!("{}:name=peer", net.name)],
    );
    let peer_ip = ipv4_of(&rt, &peer);
    let hosts = rt.exec(&["exec", &own, "cat", "/etc/hosts"]).ok();
    assert_eq!(
        addresses_of(&hosts.stdout, "peer"),
        [peer_ip.as_str()],
        "{hosts}"
    );
    assert_eq!(
        addresses_of(&hosts.stdout, "only-mine"),
        ["10.213.23.250"],
        "{hosts}"
    );
    // Its entries are its own.
    let other = rt.exec(&["exec", &peer, "cat", "/etc/hosts"]).ok();
    assert!(
        addresses_of(&other.stdout, "only-mine").is_empty(),
        "{other}"
    );
    rt.delete_force(&peer).ok();
    let hosts = rt.exec(&["exec", &own, "cat", "/etc/hosts"]).ok();
    assert!(addresses_of(&hosts.stdout, "peer").is_empty(), "{hosts}");
}

#[test]
fn ipv6_networks_have_a_line_per_address() {
    let net = TestNet::create(24, false, &["--ipv6-subnet", "fd00:213:20::/64"]);
    let rt = runtime();
    let bundle = net_bundle(&["true"]);
    let out = run_with(
        &rt,
        &bundle,
        &["--network", &format!("{}:name=six", net.name)],
        "cat /etc/hosts; ip -o addr show eth0",
    );
    assert!(out.success(), "{out}");
    let six = addresses_of(&out.stdout, "six");
    assert_eq!(six.len(), 2, "{out}");
    assert!(six[0].starts_with("10.213.24."), "{out}");
    assert!(six[1].starts_with("fd00:213:20::"), "{out}");
}

// ---- annotations ----

#[test]
fn annotations_ask_for_the_same_as_the_flags() {
    let net = TestNet::create(25, false, &[]);
    let rt = runtime();
    let gw = net.gateway();
    let mut bundle = net_bundle(&["true"]);
    bundle.config["annotations"] = json!({
        "berth.network": format!("{}:name=annotated,alias=also", net.name),
        "berth.dns": format!("{gw}, 10.213.25.254"),
        "berth.dns-search": "a.example,b.example",
        "berth.add-host": "x1:10.213.25.201,x2:10.213.25.202",
    });
    bundle.save();
    let out = run_with(&rt, &bundle, &[], "cat /etc/hosts /etc/resolv.conf");
    assert!(out.success(), "{out}");
    assert_eq!(addresses_of(&out.stdout, "also").len(), 1, "{out}");
    assert_eq!(
        addresses_of(&out.stdout, "annotated"),
        addresses_of(&out.stdout, "also")
    );
    assert_eq!(addresses_of(&out.stdout, "x2"), ["10.213.25.202"], "{out}");
    assert_eq!(
        nameservers(&out.stdout),
        [gw.as_str(), "10.213.25.254"],
        "{out}"
    );
    assert!(out.stdout.contains("search a.example b.example\n"), "{out}");
}

// ---- what berth leaves alone ----

#[test]
fn a_config_that_mounts_its_own_hosts_keeps_it() {
    let net = TestNet::create(26, false, &[]);
    let rt = runtime();
    let mut bundle = net_bundle(&["true"]);
    let own = bundle.file("my-hosts");
    std::fs::write(&own, "10.213.26.77 mine\n").unwrap();
    bundle.add_mount(json!({
        "destination": "/etc/hosts",
        "type": "bind",
        "source": own,
        "options": ["bind", "ro"],
    }));
    bundle.save();
    let out = run_with(
        &rt,
        &bundle,
        &["--network", &net.name],
        "echo ==HOSTS; cat /etc/hosts; echo ==MOUNTS; cat /proc/self/mountinfo",
    );
    assert!(out.success(), "{out}");
    assert_eq!(
        section(&out.stdout, "==HOSTS\n", "==MOUNTS"),
        "10.213.26.77 mine\n"
    );
    let mounts = parse_mountinfo(section(&out.stdout, "==MOUNTS\n", "\u{0}"));
    assert_eq!(
        mounts
            .iter()
            .filter(|m| m.mount_point == "/etc/hosts")
            .count(),
        1,
        "{out}"
    );
    // berth's resolv.conf is still there.
    assert!(
        mounts.iter().any(|m| m.mount_point == "/etc/resolv.conf"),
        "{out}"
    );
    // Entries of its own would have nowhere to go.
    let refused = run_with(
        &rt,
        &bundle,
        &["--network", &net.name, "--add-host", "a:10.213.26.5"],
        "true",
    );
    refused.fails_with(&["/etc/hosts", "--add-host"]);
}

#[test]
fn no_files_without_a_network() {
    let rt = Runtime::berth();
    let bundle = Bundle::sh("cat /proc/self/mountinfo");
    let out = rt.run(&bundle, &unique_name("nonet")).ok();
    let mounts = parse_mountinfo(&out.stdout);
    for dest in ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"] {
        assert!(
            !mounts.iter().any(|m| m.mount_point == dest),
            "{dest} mounted without a network: {out}"
        );
    }
    // The options are refused rather than ignored.
    let id = unique_name("nonet");
    let args = [
        "run",
        "--bundle",
        bundle.path().to_str().unwrap(),
        "--dns",
        "10.213.27.1",
        &id,
    ];
    rt.exec(&args).fails_with(&["--dns", "--network"]);
}

#[test]
fn an_endpoint_without_a_name_or_hostname_still_gets_the_files() {
    let net = TestNet::create(27, false, &[]);
    let rt = runtime();
    let mut bundle = net_bundle(&["true"]);
    bundle.config.as_object_mut().unwrap().remove("hostname");
    bundle.save();
    // Longer than a default name may be.
    let id = format!("{}-{}", unique_name("long"), "x".repeat(64));
    let script = "echo ==HOSTS; cat /etc/hosts; echo ==MOUNTS; cat /proc/self/mountinfo";
    let mut config = bundle.config.clone();
    config["process"]["args"] = json!(["sh", "-c", script]);
    std::fs::write(bundle.config_path(), config.to_string()).unwrap();
    let out = rt
        .exec(&[
            "run",
            "--bundle",
            bundle.path().to_str().unwrap(),
            "--network",
            &net.name,
            &id,
        ])
        .ok();
    let hosts = section(&out.stdout, "==HOSTS\n", "==MOUNTS");
    assert_eq!(
        addresses_of(hosts, "localhost"),
        ["127.0.0.1", "::1"],
        "{out}"
    );
    assert!(!hosts.contains("10.213.27."), "{out}");
    let mounts = parse_mountinfo(section(&out.stdout, "==MOUNTS\n", "\u{0}"));
    assert!(
        mounts.iter().any(|m| m.mount_point == "/etc/hosts"),
        "{out}"
    );
    assert!(
        !mounts.iter().any(|m| m.mount_point == "/etc/hostname"),
        "{out}"
    );
}

/// A container on two networks sees its first network's file; the
/// containers of each network resolve it there by its name on that network
/// (network/README.md, "What a container sees").
#[test]
fn a_container_on_two_networks_sees_its_first() {
    let first = TestNet::create(28, false, &[]);
    let second = TestNet::create(29, false, &[]);
    let rt = runtime();
    let peer1 = unique_name("peer1");
    let _p1 = started(
        &rt,
        &["sleep", "1000"],
        &peer1,
        &["--network", &format!("{}:name=peer1", first.name)],
    );
    let peer2 = unique_name("peer2");
    let _p2 = started(
        &rt,
        &["sleep", "1000"],
        &peer2,
        &["--network", &format!("{}:name=peer2", second.name)],
    );
    let dual = unique_name("dual");
    let _d = started(
        &rt,
        &["sleep", "1000"],
        &dual,
        &[
            "--network",
            &format!("{}:name=dual1", first.name),
            "--network",
            &format!("{}:name=dual2", second.name),
        ],
    );
    let st = rt.state(&dual);
    let ip_on = |i: usize| {
        st["network"]["interfaces"][i]["ipv4"]
            .as_str()
            .and_then(|a| a.split('/').next())
            .unwrap_or_else(|| panic!("no interface {i}: {st:#}"))
            .to_owned()
    };
    let (dual_ip1, dual_ip2) = (ip_on(0), ip_on(1));
    let own = rt.exec(&["exec", &dual, "cat", "/etc/hosts"]).ok();
    assert_eq!(addresses_of(&own.stdout, "peer1").len(), 1, "{own}");
    assert!(addresses_of(&own.stdout, "peer2").is_empty(), "{own}");
    assert_eq!(
        addresses_of(&own.stdout, "dual1"),
        [dual_ip1.as_str()],
        "{own}"
    );
    // Each network's containers find it by its name there.
    let from1 = rt.exec(&["exec", &peer1, "cat", "/etc/hosts"]).ok();
    assert_eq!(
        addresses_of(&from1.stdout, "dual1"),
        [dual_ip1.as_str()],
        "{from1}"
    );
    let from2 = rt
        .exec(&[
            "exec",
            &peer2,
            "sh",
            "-c",
            "ping -c1 -W1 dual2 2>&1 | head -1",
        ])
        .ok();
    assert!(
        from2.stdout.contains(&format!("PING dual2 ({dual_ip2})")),
        "{from2}"
    );
}

/// `berth network connect --alias`: a container connected to a second
/// network is found there by its id and its alias, and no longer once it is
/// disconnected.
#[test]
fn a_connected_container_is_found_by_id_and_alias_until_disconnected() {
    let first = TestNet::create(61, false, &[]);
    let second = TestNet::create(62, false, &[]);
    let rt = runtime();
    let web = unique_name("web");
    let _web = started(&rt, &["sleep", "1000"], &web, &["--network", &first.name]);
    let peer = unique_name("peer");
    let _peer = started(&rt, &["sleep", "1000"], &peer, &["--network", &second.name]);
    rt.exec(&["network", "connect", "--alias", "front", &second.name, &web])
        .ok();
    let web_ip = second.ip(3);
    let lookup = format!("for n in front {web}; do ping -c1 -W1 $n 2>&1 | head -1; done");
    let seen = rt.exec(&["exec", &peer, "sh", "-c", &lookup]).ok();
    for name in ["front", web.as_str()] {
        assert!(
            seen.stdout.contains(&format!("PING {name} ({web_ip})")),
            "{name}: {seen}"
        );
    }

    rt.exec(&["network", "disconnect", &second.name, &web]).ok();
    let hosts = rt.exec(&["exec", &peer, "cat", "/etc/hosts"]).ok();
    for name in ["front", web.as_str()] {
        assert!(
            addresses_of(&hosts.stdout, name).is_empty(),
            "{name}: {hosts}"
        );
    }
    rt.exec(&["network", "connect", "--alias", "a b", &second.name, &web])
        .fails_with(&["--alias \"a b\""]);
}
