//! berth's containers beside a running dockerd with its firewall on
//! (Debian's docker.io: iptables-nft, so docker's rules are the nftables
//! tables `ip filter` and `ip nat`, and its `FORWARD` policy `DROP` drops
//! berth's forwarded traffic unless berth's rules in `DOCKER-USER` accept
//! it); and docker's own containers keep working beside berth's.
//!
//! One test, alone in its binary: dockerd changes host-wide firewall state.
//! [`HostFirewall`] saves every nftables table (but berth's own, which the
//! test's networks leave as they found it) and the sysctls dockerd changes
//! before dockerd starts, puts them back when dropped (also when the test
//! fails), and checks that `nft list ruleset` shows every table as before.
//!
//! dockerd has its own --data-root, --exec-root, --pidfile, socket and
//! cgroup parent, and its default bridge is one the test makes
//! (10.213.59.0/24). berth's networks: 10.213.57.0/24, made before dockerd
//! starts, and 10.213.58.0/24, made after; "the world" is a namespace on
//! 10.213.56.0/24 ([`hosts::Outside`]). Host ports 24056-24058.

#[path = "common/hosts.rs"]
mod hosts;

use hosts::{must, Outside};
use spec_tests::callers;
use spec_tests::dockerd::{self, Dockerd};
use spec_tests::net::{add_www, net_bundle, runtime, wait_http, TestNet};
use spec_tests::{unique_name, wait_until, Bundle, Runtime, TestDir};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

const IMAGE: &str = "localhost/berth-busybox";
const DOCKER_OCTET: u8 = 59;

/// The sysctls dockerd may change (forwarding, br_netfilter's calls).
const SYSCTLS: [&str; 3] = [
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/net/bridge/bridge-nf-call-iptables",
    "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
];

/// Every nftables table but berth's, in the order `nft list ruleset`
/// shows them (their creation order): `(family, name)` and its text.
type Tables = Vec<((String, String), String)>;

fn tables() -> Tables {
    let out = must("nft", &["list", "tables"]);
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "table").then_some(())?;
            Some((w.next()?.to_owned(), w.next()?.to_owned()))
        })
        .filter(|(family, name)| !(family == "inet" && name == "berth"))
        .map(|(family, name)| {
            let text = must("nft", &["list", "table", &family, &name]);
            ((family, name), text)
        })
        .collect()
}

/// The host's firewall and forwarding as they were; put back on drop.
struct HostFirewall {
    tables: Tables,
    /// iptables-save / ip6tables-save: where `nft -f` cannot read a saved
    /// table back (rules with xt matches).
    saves: [(String, &'static str); 2],
    sysctls: Vec<(&'static str, String)>,
}

impl HostFirewall {
    fn save() -> Self {
        let save = |cmd: &str| {
            let out = Command::new(cmd).output().expect("run iptables-save");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        HostFirewall {
            tables: tables(),
            saves: [
                (save("iptables-save"), "iptables-restore"),
                (save("ip6tables-save"), "ip6tables-restore"),
            ],
            sysctls: SYSCTLS
                .iter()
                .filter_map(|p| Some((*p, std::fs::read_to_string(p).ok()?)))
                .collect(),
        }
    }

    /// Puts the tables back as they were, in their order: every table that
    /// is new is deleted, and from the first saved table that changed on,
    /// the saved tables are deleted and made again in order. Returns what
    /// still differs.
    fn restore(&self) -> Vec<String> {
        let saved: Vec<&(String, String)> = self.tables.iter().map(|(k, _)| k).collect();
        for (key, _) in tables() {
            if !saved.contains(&&key) {
                delete_table(&key);
            }
        }
        let now = tables();
        let first_changed = self
            .tables
            .iter()
            .enumerate()
            .position(|(i, t)| now.get(i) != Some(t))
            .unwrap_or(self.tables.len());
        for (key, _) in &self.tables[first_changed..] {
            delete_table(key);
        }
        for ((family, name), text) in &self.tables[first_changed..] {
            if !nft_load(text) {
                // A table nft cannot print back: iptables' own save.
                let (save, restore) = if family == "ip6" {
                    &self.saves[1]
                } else {
                    &self.saves[0]
                };
                if let Some(section) = save_section(save, name) {
                    let _ = pipe_to(restore, &["--noflush"], &section);
                }
            }
        }
        for (path, value) in &self.sysctls {
            let _ = std::fs::write(path, value);
        }
        let after = tables();
        if after == self.tables {
            return Vec::new();
        }
        vec![format!("before: {:#?}\nafter: {after:#?}", self.tables)]
    }
}

fn delete_table((family, name): &(String, String)) {
    let _ = Command::new("nft")
        .args(["delete", "table", family, name])
        .status();
}

impl Drop for HostFirewall {
    fn drop(&mut self) {
        let differ = self.restore();
        if differ.is_empty() {
            return;
        }
        let msg = format!("the host's nftables tables differ from before the test: {differ:?}");
        if std::thread::panicking() {
            eprintln!("spec-tests: {msg}");
        } else {
            panic!("{msg}");
        }
    }
}

fn nft_load(text: &str) -> bool {
    pipe_to("nft", &["-f", "-"], text)
}

fn pipe_to(cmd: &str, args: &[&str], input: &str) -> bool {
    let Ok(mut child) = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    child.wait().is_ok_and(|s| s.success())
}

/// The `*name` ... `COMMIT` section of an iptables-save dump.
fn save_section(save: &str, name: &str) -> Option<String> {
    let start = save.find(&format!("*{name}\n"))?;
    let end = start + save[start..].find("COMMIT\n")? + "COMMIT\n".len();
    Some(save[start..end].to_owned())
}

/// `iptables -S CHAIN` (or of the whole filter table): it must work, or
/// berth made docker's table unreadable for iptables.
#[track_caller]
fn iptables_s(args: &[&str]) -> String {
    must("iptables", &[&["-w", "-S"], args].concat())
}

/// A berth container serving `page`, publishing `host_port`.
/// The bundle goes with the returned value: keep it while the container runs.
fn web(rt: &Runtime, net: &TestNet, page: &str, host_port: u16) -> (String, Bundle) {
    let b = net_bundle(&["httpd", "-f", "-p", "80", "-h", "/www"]);
    add_www(&b, page);
    let id = unique_name("dweb");
    let publish = format!("{host_port}:80");
    rt.create(&b, &id, &["--network", &net.name, "-p", &publish])
        .ok();
    rt.start(&id).ok();
    (id, b)
}

/// Forwarded traffic both ways for the running container `id` on `net`:
/// it fetches the outside page (`berth exec`, which makes nothing on the
/// network), and the outside fetches its published port.
fn both_ways(
    rt: &Runtime,
    outside: &Outside,
    id: &str,
    port: u16,
    page: &str,
) -> Result<(), String> {
    // busybox nc (the static busybox's wget crashes here).
    let get = format!(
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {} 8080",
        outside.ip
    );
    let out = rt.exec(&["exec", id, "sh", "-c", &get]);
    if !out.stdout.contains("outside-page") {
        return Err(format!("out of {id}: {out}"));
    }
    match outside.get(&format!("{}:{port}", outside.host_ip), 3) {
        Ok(p) if p.contains(page) => Ok(()),
        other => Err(format!("into {id} from outside: {other:?}")),
    }
}

#[test]
fn berth_containers_work_beside_dockerd_with_its_firewall_on() {
    let _docker_lock = callers::lock_host(dockerd::HOST_LOCK);
    // Dropped last: after dockerd and berth's networks are gone.
    let firewall = HostFirewall::save();
    let rt = runtime();
    let mut outside = Outside::new(56);
    outside.serve_http(8080, "outside-page\n");
    let early = TestNet::create(57, false, &[]);
    let (c_early, _b1) = web(&rt, &early, "early-page\n", 24057);
    // Control: without dockerd, both ways work.
    both_ways(&rt, &outside, &c_early, 24057, "early-page").expect("before dockerd");

    let dockerd = Dockerd::start(dockerd::Options {
        octet: DOCKER_OCTET,
        firewall: true,
        daemon_json: None,
        hold: None,
    });
    // dockerd sets the policy to DROP when it turns forwarding on itself,
    // as on a host where it starts first; here berth's networks had it on
    // already: the test does what dockerd does there.
    if !iptables_s(&["FORWARD"]).contains("-P FORWARD DROP") {
        must("iptables", &["-w", "-P", "FORWARD", "DROP"]);
    }
    let policy = iptables_s(&["FORWARD"]);
    assert!(
        policy.contains("-A FORWARD -j DOCKER-USER"),
        "dockerd's firewall is not on: {policy}"
    );
    // The network made before dockerd: its traffic is dropped by docker's
    // policy (what the rules are for) until berth notices dockerd.
    assert!(
        both_ways(&rt, &outside, &c_early, 24057, "early-page").is_err(),
        "dockerd's FORWARD policy did not drop berth's traffic: the test shows nothing"
    );
    early.berth(&["network", "restore"]).ok();
    both_ways(&rt, &outside, &c_early, 24057, "early-page").expect("after restore");

    // A network made while dockerd runs works at once.
    let late = TestNet::create(58, false, &[]);
    let (c_late, _b2) = web(&rt, &late, "late-page\n", 24058);
    both_ways(&rt, &outside, &c_late, 24058, "late-page").expect("network made beside dockerd");

    // Rules lost (docker restarted, say): the next container create on the
    // network puts them back.
    for dir in ["-i", "-o"] {
        must(
            "iptables",
            &[
                "-w",
                "-D",
                "DOCKER-USER",
                dir,
                &late.bridge,
                "-m",
                "comment",
                "--comment",
                "berth",
                "-j",
                "ACCEPT",
            ],
        );
    }
    assert!(both_ways(&rt, &outside, &c_late, 24058, "late-page").is_err());
    let (c_next, _b3) = web(&rt, &late, "late-page\n", 24056);
    both_ways(&rt, &outside, &c_late, 24058, "late-page").expect("after a container create");
    rt.delete_force(&c_next).ok();

    // berth's rules are in DOCKER-USER, before docker's RETURN; docker's
    // table is still iptables', with its chains.
    let user = iptables_s(&["DOCKER-USER"]);
    let lines: Vec<&str> = user.lines().collect();
    for br in [&early.bridge, &late.bridge] {
        for dir in ["-i", "-o"] {
            let rule = format!("-A DOCKER-USER {dir} {br} -m comment --comment berth -j ACCEPT");
            assert!(lines.contains(&rule.as_str()), "{rule} not in {user}");
        }
    }
    assert_eq!(lines.last(), Some(&"-A DOCKER-USER -j RETURN"), "{user}");
    let filter = iptables_s(&[]);
    for chain in [
        "-N DOCKER",
        "-N DOCKER-ISOLATION-STAGE-1",
        "-A FORWARD -j DOCKER-USER",
    ] {
        assert!(filter.contains(chain), "{chain} not in {filter}");
    }
    must("iptables", &["-w", "-t", "nat", "-S"]);

    // docker's own container, published, answers from outside.
    let work = TestDir::new("dockerimg");
    dockerd.import_busybox(IMAGE);
    std::fs::create_dir_all(work.path().join("www")).expect("mkdir www");
    std::fs::write(work.path().join("www/index.html"), "docker-page\n").expect("page");
    let www = format!("{}:/www:ro", work.path().join("www").display());
    dockerd.ok(&[
        "run", "-d", "--name", "dweb", "-p", "24056:80", "-v", &www, IMAGE, "httpd", "-f", "-p",
        "80", "-h", "/www",
    ]);
    let url = format!("{}:24056", outside.host_ip);
    let mut got = Err(String::new());
    wait_until(Duration::from_secs(20), || {
        got = outside.get(&url, 3);
        got.is_ok()
    });
    assert!(
        got.as_deref().is_ok_and(|p| p.contains("docker-page")),
        "docker's published container from outside: {got:?}\n{}",
        dockerd.log()
    );
    // berth's published port from the host, too.
    assert!(wait_http("127.0.0.1:24058", "late-page", Duration::from_secs(10)).is_ok());

    // Removing a network removes its rules, and only them.
    for id in [&c_early, &c_late] {
        rt.delete_force(id).ok();
    }
    let (early_bridge, late_bridge) = (early.bridge.clone(), late.bridge.clone());
    drop(early);
    let user = iptables_s(&["DOCKER-USER"]);
    assert!(!user.contains(&format!(" {early_bridge} ")), "{user}");
    assert!(user.contains(&format!(" {late_bridge} ")), "{user}");
    drop(late);
    let user = iptables_s(&["DOCKER-USER"]);
    assert!(!user.contains("--comment berth"), "{user}");
    assert!(user.contains("-A DOCKER-USER -j RETURN"), "{user}");

    drop(dockerd);
    drop(outside);
    let differ = firewall.restore();
    assert!(
        differ.is_empty(),
        "tables differ after restoring: {differ:?}"
    );
}
