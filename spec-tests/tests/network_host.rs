//! What happens to hosts, and `berth network restore`: berth's firewall
//! table made to disappear (as `nft flush ruleset` does to it) or emptied
//! (`nft flush table`), a bridge deleted, and a simulated reboot (the
//! containers' processes gone, bridges and table gone, the boot id the
//! store recorded no longer this boot's).
//!
//! The tests remove berth's table, which every network of the host shares:
//! they run one at a time (`HOST`), the shared network state dir's
//! host-wide lock keeps other network test processes out meanwhile, and
//! the table is changed only while it holds no other network, under
//! berth's firewall lock. The host's other tables are never touched. Subnets 10.213.53-55.0/24, host
//! ports 24053-24055.

use serde_json::{json, Value};
use spec_tests::net::{add_www, link_exists, net_bundle, runtime, state_dir, wait_http, TestNet};
use spec_tests::{callers, unique_name, wait_until, Bundle, Runtime};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// Held by each test: they change host-wide state.
static HOST: Mutex<()> = Mutex::new(());

fn host_lock() -> std::sync::MutexGuard<'static, ()> {
    HOST.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `nft ARGS` on berth's table as a flush or a reboot would, once the
/// table holds no network but `mine` (other state dirs' networks, of tests
/// that do not share this process's lock, are waited for, up to 5 minutes),
/// under berth's firewall lock, so that no berth process adds a network
/// meanwhile.
#[track_caller]
fn nft_on_berths_table(mine: &[&TestNet], args: &[&str]) {
    let ours: Vec<String> = mine.iter().map(|n| format!("\"{}\"", n.bridge)).collect();
    let alone = wait_until(Duration::from_secs(300), || {
        let lock = callers::lock_host("/run/berth/firewall.lock");
        let out = Command::new("nft")
            .args(["list", "set", "inet", "berth", "bridges"])
            .output()
            .expect("run nft");
        let text = String::from_utf8_lossy(&out.stdout);
        let others = text
            .split(['{', '}', ',', '\n'])
            .map(str::trim)
            .filter(|w| w.starts_with('"'))
            .any(|w| !ours.iter().any(|o| o == w));
        if others {
            return false;
        }
        let out = Command::new("nft").args(args).output().expect("run nft");
        assert!(
            out.status.success(),
            "nft {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        drop(lock);
        true
    });
    assert!(
        alone,
        "berth's table held other networks for 5 minutes: cannot run nft {args:?} on it"
    );
}

/// A busybox httpd container serving `page`, publishing `publish`.
#[track_caller]
/// The bundle goes with the returned value: keep it while the container runs.
fn web(rt: &Runtime, net: &TestNet, page: &str, publish: &str) -> (String, Bundle) {
    let b = net_bundle(&["httpd", "-f", "-p", "80", "-h", "/www"]);
    add_www(&b, page);
    let id = unique_name("web");
    rt.create(&b, &id, &["--network", &net.name, "-p", publish])
        .ok();
    rt.start(&id).ok();
    (id, b)
}

/// `network ls`: the notes it printed on stderr about `name`.
fn ls_notes(net: &TestNet) -> String {
    let out = net.berth(&["network", "ls"]).ok();
    out.stderr
        .lines()
        .filter(|l| l.starts_with(&format!("network {}:", net.name)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails fast once the port stops answering (not the 10 s of wait_http).
fn answers(addr: &str, marker: &str) -> bool {
    wait_http(addr, marker, Duration::from_millis(300)).is_ok()
}

/// The table deleted, then emptied, then a bridge deleted: each time `ls`
/// says what is missing, the published port stops answering, and
/// `network restore` brings everything back (the port answers again, the
/// bridge has its gateway address, `ls` has nothing to say).
#[test]
fn restore_puts_back_the_table_its_rules_and_bridges() {
    let _host = host_lock();
    let busy = TestNet::create(53, false, &[]);
    let idle = TestNet::create(54, false, &[]);
    let rt = runtime();
    let (id, _b) = web(&rt, &busy, "restored-page\n", "24053:80");
    let addr = "127.0.0.1:24053";
    let got = wait_http(addr, "restored-page", WAIT);
    assert!(got.is_ok(), "before: {got:?}");
    assert_eq!(ls_notes(&busy), "");

    // As `nft flush ruleset` leaves berth: no table.
    nft_on_berths_table(&[&busy, &idle], &["delete", "table", "inet", "berth"]);
    assert!(
        !answers(addr, "restored-page"),
        "answered without berth's table"
    );
    // Another berth process of the host (another state dir) may have made
    // the table again since, without this network's elements.
    let notes = ls_notes(&busy);
    assert!(
        notes.contains("missing on the host: firewall table")
            || notes.contains("missing on the host: firewall elements"),
        "{notes}"
    );
    let out = busy.berth(&["network", "restore"]).ok();
    assert!(
        out.stdout.lines().any(|l| l == busy.name) && out.stdout.lines().any(|l| l == idle.name),
        "{out}"
    );
    let got = wait_http(addr, "restored-page", WAIT);
    assert!(got.is_ok(), "after restoring the table: {got:?}");
    assert_eq!(ls_notes(&busy), "");
    assert_eq!(ls_notes(&idle), "");

    // The table there but its chains empty, its elements kept.
    nft_on_berths_table(&[&busy, &idle], &["flush", "table", "inet", "berth"]);
    assert!(
        !answers(addr, "restored-page"),
        "answered without berth's rules"
    );
    let notes = ls_notes(&busy);
    assert!(
        notes.contains(
            "firewall rules (chains publish, prerouting, output, postrouting, forward, input)"
        ),
        "{notes}"
    );
    busy.berth(&["network", "restore"]).ok();
    let got = wait_http(addr, "restored-page", WAIT);
    assert!(got.is_ok(), "after restoring the rules: {got:?}");
    assert_eq!(ls_notes(&busy), "");

    // The published port's elements deleted: ls names the container.
    nft_on_berths_table(
        &[&busy, &idle],
        &["flush", "map", "inet", "berth", "dnat4_any"],
    );
    let notes = ls_notes(&busy);
    assert!(
        notes.contains(&format!("published ports of {id}")),
        "{notes}"
    );
    busy.berth(&["network", "restore"]).ok();
    assert!(answers(addr, "restored-page") || wait_http(addr, "restored-page", WAIT).is_ok());

    // A bridge gone.
    let out = Command::new("ip")
        .args(["link", "del", &idle.bridge])
        .status()
        .expect("ip link del");
    assert!(out.success());
    let notes = ls_notes(&idle);
    assert!(
        notes.contains(&format!("bridge {}", idle.bridge)),
        "{notes}"
    );
    idle.berth(&["network", "restore"]).ok();
    assert!(link_exists(&idle.bridge));
    let addrs = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", &idle.bridge])
        .output()
        .expect("ip addr");
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    assert!(addrs.contains(&format!("{}/24", idle.gateway())), "{addrs}");
    assert_eq!(ls_notes(&idle), "");

    // Restoring what is whole changes nothing and says nothing.
    let before = busy.snapshot();
    let out = busy.berth(&["network", "restore"]).ok();
    assert!(!out.stderr.contains("reclaimed"), "{out}");
    assert_eq!(busy.snapshot(), before);
    rt.delete_force(&id).ok();
    busy.assert_ipam_empty();
}

/// A reboot, simulated: the containers' processes killed (one of them with
/// its state directory gone too, as /run is after a boot; the other kept,
/// as a --root on disk would be), the bridge and berth's table deleted, and
/// the boot id the store recorded for the network made another boot's
/// (through the network crate's own store API: berth reads the boot id from
/// /proc/sys/kernel/random/boot_id, which a test cannot change).
/// `network restore` reclaims both containers' endpoints and ports at
/// once, makes the bridge and table again, and the host port is free for
/// a new container, which answers on it.
#[test]
fn restore_after_a_simulated_reboot() {
    let _host = host_lock();
    let net = TestNet::create(55, false, &[]);
    let rt = runtime();
    let (gone, _b1) = web(&rt, &net, "before-reboot\n", "24055:80");
    let kept_bundle = net_bundle(&["sleep", "1000"]);
    let kept = unique_name("kept");
    rt.create(&kept_bundle, &kept, &["--network", &net.name])
        .ok();
    rt.start(&kept).ok();
    assert!(wait_http("127.0.0.1:24055", "before-reboot", WAIT).is_ok());
    assert_eq!(net.containers().len(), 2);

    // "Power off".
    for id in [&gone, &kept] {
        rt.kill(id, "KILL").ok();
        assert!(rt.wait_status(id, "stopped", WAIT), "{id} did not stop");
    }
    std::fs::remove_dir_all(rt.root().join(&gone)).expect("remove a state dir");
    let _ = Command::new("ip")
        .args(["link", "del", &net.bridge])
        .status();
    nft_on_berths_table(&[&net], &["delete", "table", "inet", "berth"]);
    let mut store = network::store::Store::open(state_dir()).expect("open the store");
    store
        .write(|tx| tx.set_boot_id(&net.name, "00000000-0000-0000-0000-000000000000/2"))
        .expect("record another boot");
    drop(store);
    let notes = ls_notes(&net);
    assert!(
        notes.contains(&format!("bridge {}", net.bridge))
            && (notes.contains("firewall table") || notes.contains("firewall elements")),
        "{notes}"
    );

    let out = net.berth(&["network", "restore"]).ok();
    for id in [&gone, &kept] {
        assert!(
            out.stderr.contains(&format!(
                "network {}: reclaimed the endpoint of container {id}",
                net.name
            )),
            "{id}: {out}"
        );
    }
    assert!(link_exists(&net.bridge), "no bridge after restore");
    let v: Value = net.inspect();
    assert_eq!(v["containers"], json!([]), "{v:#}");
    assert_eq!(v["ports"], json!([]), "{v:#}");
    assert_eq!(ls_notes(&net), "");
    let forwarding = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    assert_eq!(forwarding.trim(), "1");

    // The host port is free again, and published.
    let (after, _b2) = web(&rt, &net, "after-reboot\n", "24055:80");
    let got = wait_http("127.0.0.1:24055", "after-reboot", WAIT);
    assert!(got.is_ok(), "{got:?}");
    for id in [&gone, &kept, &after] {
        let _ = rt.delete_force(id);
    }
    net.assert_ipam_empty();
}
