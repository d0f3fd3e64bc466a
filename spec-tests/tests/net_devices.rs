//! `linux.netDevices`: a veth end made on the host (10.213.18x.0/24,
//! fd00:213:18x::/64) is moved into the container, renamed, with its
//! addresses, and traffic flows to its peer on the host. When the
//! container goes, its network namespace takes the veth pair with it.

use serde_json::json;
use spec_tests::net::{link_exists, net_bundle};
use spec_tests::{unique_name, wait_until, Bundle, Runtime};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A veth pair on the host: `inner` (to be moved) has .2 of the subnet
/// (and .9/32 of host scope),
/// `outer` stays with .1 and is up. Deleted on drop if still there.
struct Veth {
    inner: String,
    outer: String,
}

/// Runs `ip` with the words of `command`.
fn ip(command: &str) {
    let out = Command::new("ip")
        .args(command.split_whitespace())
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Veth {
    fn new(octet: u8) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let tag = format!("bd{}x{n}", std::process::id() % 100_000);
        let veth = Self {
            inner: format!("{tag}i"),
            outer: format!("{tag}o"),
        };
        let (inner, outer) = (&veth.inner, &veth.outer);
        ip(&format!("link add {inner} type veth peer name {outer}"));
        ip(&format!("addr add 10.213.{octet}.2/24 dev {inner}"));
        ip(&format!(
            "addr add fd00:213:{octet}::2/64 dev {inner} nodad"
        ));
        // Not of global scope: not carried over (as runc).
        ip(&format!(
            "addr add 10.213.{octet}.9/32 dev {inner} scope host"
        ));
        ip(&format!("addr add 10.213.{octet}.1/24 dev {outer}"));
        ip(&format!("link set {outer} up"));
        veth
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for name in [&self.outer, &self.inner] {
            let _ = Command::new("ip")
                .args(["link", "del", name])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

#[test]
fn host_device_moves_in_renamed_with_its_addresses() {
    let rt = Runtime::berth();
    let veth = Veth::new(181);
    let script = "cat /sys/class/net/net0/operstate; ip -o addr show dev net0; \
                  ping -c1 -W5 10.213.181.1 >/dev/null && echo ping-ok";
    let mut bundle = net_bundle(&["sh", "-c", script]);
    bundle.config["linux"]["netDevices"] = json!({ veth.inner.as_str(): {"name": "net0"} });
    let id = unique_name("netdev");
    rt.create(&bundle, &id, &[]).ok();
    assert!(
        !link_exists(&veth.inner),
        "{} is still on the host",
        veth.inner
    );
    rt.start(&id).ok();
    assert!(rt.wait_status(&id, "stopped", Duration::from_secs(20)));
    let (out, err) = rt.container_output(&id);
    assert!(out.starts_with("up\n"), "{out}{err}");
    assert!(out.contains("inet 10.213.181.2/24"), "{out}{err}");
    assert!(out.contains("inet6 fd00:213:181::2/64"), "{out}{err}");
    assert!(out.contains("ping-ok"), "{out}{err}");
    assert!(!out.contains("10.213.181.9"), "{out}{err}");
    rt.delete(&id).ok();
    // The namespace is gone, and the veth pair with it.
    assert!(
        wait_until(Duration::from_secs(10), || !link_exists(&veth.outer)),
        "{} outlived the container",
        veth.outer
    );
}

#[test]
fn without_a_name_the_device_keeps_its_own() {
    let rt = Runtime::berth();
    let veth = Veth::new(182);
    let mut bundle = Bundle::sh(&format!("ip -o addr show dev {}", veth.inner));
    bundle.config["linux"]["netDevices"] = json!({ veth.inner.as_str(): {} });
    let out = rt.run(&bundle, &unique_name("netdev")).ok();
    assert!(out.stdout.contains("inet 10.213.182.2/24"), "{out}");
}

#[test]
fn refusals_name_the_field() {
    let rt = Runtime::berth();
    let veth = Veth::new(183);
    let inner = veth.inner.as_str();
    let cases: Vec<(serde_json::Value, bool, &[&str])> = vec![
        // (netDevices, keep the network namespace, words)
        (
            json!({ inner: {} }),
            false,
            &["linux.netDevices", "new network namespace"],
        ),
        (
            json!({"nosuchdev0": {}}),
            true,
            &["linux.netDevices", "nosuchdev0", "no such network device"],
        ),
        (
            json!({ inner: {"name": "eth%d"} }),
            true,
            &["linux.netDevices", "templates"],
        ),
        (
            json!({ inner: {"name": "a/b"} }),
            true,
            &["linux.netDevices", "a/b"],
        ),
        (
            json!({ inner: {"name": "x"}, "lo": {"name": "x"} }),
            true,
            &["linux.netDevices", "two devices"],
        ),
    ];
    for (devices, keep_netns, words) in cases {
        let mut bundle = Bundle::new(&["true"]);
        if !keep_netns {
            bundle.remove_namespace("network");
        }
        bundle.config["linux"]["netDevices"] = devices;
        rt.create(&bundle, &unique_name("netdev"), &[])
            .fails_with(words);
        assert!(rt.leftovers().is_empty(), "{:?}", rt.leftovers());
    }
    // Nothing was moved by the refused creates.
    assert!(link_exists(&veth.inner));
}
