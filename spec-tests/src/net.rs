//! Helpers for the network tests (`tests/network.rs`).
//!
//! Bridges, sysctls and the `inet berth` nft table are host-global, so every
//! network test of one test process shares one network state dir
//! ([`state_dir`], under /run, removed when the process exits) and each test
//! uses a network of its own: a unique name, a unique `--bridge` and a /24
//! of 10.213.0.0/16 chosen by the test (its "octet"), with a /64 of
//! fd00:213::/48 of the same number for IPv6.
//!
//! [`TestNet`] makes such a network and removes it (`network rm --force`)
//! when dropped, also when the test fails. [`HostSnapshot`] is what the host
//! shows of one test's network: the links on its bridge and the nft
//! elements that mention its bridge or subnets, so that a test can check
//! that what it made is gone without looking at what parallel tests make.

use crate::{berth_binary, run_command, wait_until, Bundle, Output, Runtime, TestDir};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The network state dir shared by the network tests of this process.
///
/// The tests' subnets, bridges and ports are fixed per test, so two test
/// processes (two people running the suite) would collide: the first call
/// takes a host-wide lock (/run/berth-nettests.lock) that the process holds
/// until it exits, and waits up to 15 minutes for another holder.
pub fn state_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    static LOCK: OnceLock<std::fs::File> = OnceLock::new();
    DIR.get_or_init(|| {
        LOCK.get_or_init(|| crate::callers::lock_host("/run/berth-nettests.lock"));
        let dir = PathBuf::from(format!("/run/berth-nettests-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        extern "C" fn remove_state_dir() {
            let dir = PathBuf::from(format!("/run/berth-nettests-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(dir);
        }
        // SAFETY: registers a plain function without captured state; the
        // test harness leaves through exit(), which runs it.
        unsafe { libc::atexit(remove_state_dir) };
        dir
    })
}

/// A berth runtime (own `--root`) using the shared network state dir.
pub fn runtime() -> Runtime {
    let mut rt = Runtime::berth();
    rt.global_args = vec!["--state-dir".into(), state_dir().display().to_string()];
    rt
}

/// Runs `berth --state-dir SHARED ARGS...` (network commands need no root).
pub fn berth_net(io: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(berth_binary());
    cmd.arg("--state-dir").arg(state_dir()).args(args);
    run_command(cmd, io, crate::command_timeout())
}

/// A network of one test, removed with `network rm --force` when dropped.
pub struct TestNet {
    pub name: String,
    pub bridge: String,
    /// The third octet: the subnet is 10.213.OCTET.0/24.
    pub octet: u8,
    pub ipv6: bool,
    io: TestDir,
    removed: bool,
}

impl TestNet {
    /// The name, bridge and subnets a network with this octet gets.
    pub fn planned(octet: u8, ipv6: bool) -> Self {
        let pid = std::process::id();
        Self {
            name: format!("nt-{pid}-{octet}"),
            bridge: format!("bt{}x{octet}", pid % 1000),
            octet,
            ipv6,
            io: TestDir::new("net"),
            removed: true,
        }
    }

    /// `network create` of a /24 (and with `ipv6` a /64), with `extra` flags.
    #[track_caller]
    pub fn create(octet: u8, ipv6: bool, extra: &[&str]) -> Self {
        let mut net = Self::planned(octet, ipv6);
        let subnet = net.subnet();
        let mut args = vec![
            "network",
            "create",
            &net.name,
            "--subnet",
            &subnet,
            "--bridge",
            &net.bridge,
        ];
        let subnet6 = net.subnet6();
        if ipv6 {
            args.extend(["--ipv6-subnet", &subnet6]);
        }
        args.extend(extra);
        // Removed on drop also when the create failed: a create that timed
        // out may have made the bridge (the name is this process's only).
        net.removed = false;
        let out = berth_net(net.io.path(), &args);
        assert!(out.success(), "network create failed: {out}");
        net
    }

    pub fn subnet(&self) -> String {
        format!("10.213.{}.0/24", self.octet)
    }

    pub fn subnet6(&self) -> String {
        format!("fd00:213:0:{}::/64", self.octet)
    }

    /// 10.213.OCTET.HOST
    pub fn ip(&self, host: u8) -> String {
        format!("10.213.{}.{host}", self.octet)
    }

    /// fd00:213:0:OCTET::HOST (HOST in hex, as the offset)
    pub fn ip6(&self, host: u8) -> String {
        format!("fd00:213:0:{}::{host:x}", self.octet)
    }

    pub fn gateway(&self) -> String {
        self.ip(1)
    }

    pub fn gateway6(&self) -> String {
        self.ip6(1)
    }

    /// Runs a berth network command with the shared state dir.
    pub fn berth(&self, args: &[&str]) -> Output {
        berth_net(self.io.path(), args)
    }

    /// `network inspect NAME`, the network's object.
    #[track_caller]
    pub fn inspect(&self) -> Value {
        let out = self.berth(&["network", "inspect", &self.name]).ok();
        let v: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("network inspect is not JSON ({e}): {out}"));
        v[0].clone()
    }

    /// Ids of the containers `network inspect` shows.
    #[track_caller]
    pub fn containers(&self) -> Vec<String> {
        container_ids(&self.inspect())
    }

    /// Panics unless `network inspect` shows no container, no address in
    /// use and no port.
    #[track_caller]
    pub fn assert_ipam_empty(&self) {
        let v = self.inspect();
        assert_eq!(v["containers"], json!([]), "containers left: {v:#}");
        assert_eq!(v["addressesInUse"], json!(0), "addresses left: {v:#}");
        assert_eq!(v["ports"], json!([]), "ports left: {v:#}");
    }

    /// `network rm [--force] NAME`; a successful one disarms the guard.
    pub fn rm(&mut self, force: bool) -> Output {
        let mut args = vec!["network", "rm"];
        if force {
            args.push("--force");
        }
        args.push(&self.name);
        let out = berth_net(self.io.path(), &args);
        if out.success() {
            self.removed = true;
        }
        out
    }

    /// What the host shows of this network now.
    pub fn snapshot(&self) -> HostSnapshot {
        let mut markers = vec![
            format!("\"{}\"", self.bridge),
            format!("10.213.{}.", self.octet),
        ];
        if self.ipv6 {
            markers.push(format!("fd00:213:0:{}:", self.octet));
        }
        HostSnapshot::take(&self.bridge, &markers)
    }

    /// [`TestNet::snapshot`] once it equals `expected`, or the last one
    /// taken within 10 s: after a delete, the host ends of veths go with
    /// the netns (asynchronously), and published ports are expired
    /// elements until the kernel's next tick.
    pub fn snapshot_settled(&self, expected: &HostSnapshot) -> HostSnapshot {
        let mut now = self.snapshot();
        wait_until(Duration::from_secs(10), || {
            now = self.snapshot();
            now == *expected
        });
        now
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let mut out = self.rm(true);
        for _ in 0..2 {
            if out.success() || out.stderr.contains("does not exist") {
                return;
            }
            out = self.rm(true);
        }
        if out.success() || out.stderr.contains("does not exist") {
            return;
        }
        let msg = format!("removing network {} failed: {out}", self.name);
        if std::thread::panicking() {
            eprintln!("spec-tests: {msg}");
        } else {
            // A network left on the host is a failure of the test.
            panic!("{msg}");
        }
    }
}

/// The ids of the containers in a network's `network inspect` object.
pub fn container_ids(network: &Value) -> Vec<String> {
    network["containers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// One test's view of the host: the links named like its bridge or
/// enslaved to it (as `name master`, without flags that change with
/// carrier), and the fragments of `nft list ruleset` (elements, rules)
/// that mention one of its markers, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSnapshot {
    pub links: Vec<String>,
    pub nft: Vec<String>,
}

impl HostSnapshot {
    pub fn take(bridge: &str, markers: &[String]) -> Self {
        let mut links: Vec<String> = ip_links()
            .into_iter()
            .filter(|(name, master)| name == bridge || master.as_deref() == Some(bridge))
            .map(|(name, master)| format!("{name} master {}", master.unwrap_or_default()))
            .collect();
        links.sort();
        let ruleset = nft_ruleset();
        let mut nft: Vec<String> = ruleset
            .split(['\n', ',', '{', '}'])
            .map(str::trim)
            .filter(|f| markers.iter().any(|m| f.contains(m.as_str())))
            .map(str::to_owned)
            .collect();
        nft.sort();
        Self { links, nft }
    }
}

/// `ip -o link`: (name, master) of every link.
pub fn ip_links() -> Vec<(String, Option<String>)> {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .expect("run ip -o link");
    assert!(out.status.success(), "ip -o link failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ": ");
            parts.next()?;
            let name = parts.next()?.split('@').next()?.to_owned();
            let rest = parts.next().unwrap_or("");
            let words: Vec<&str> = rest.split_whitespace().collect();
            let master = words
                .windows(2)
                .find(|w| w[0] == "master")
                .map(|w| w[1].to_owned());
            Some((name, master))
        })
        .collect()
}

/// Whether a link of that name exists on the host.
pub fn link_exists(name: &str) -> bool {
    ip_links().iter().any(|(n, _)| n == name)
}

/// `nft list ruleset` (empty when nft fails).
pub fn nft_ruleset() -> String {
    let out = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .expect("run nft list ruleset");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A busybox bundle whose process may use ping: CAP_NET_RAW in the
/// bounding, effective and permitted sets.
pub fn net_bundle(args: &[&str]) -> Bundle {
    let mut b = Bundle::new(args);
    add_capability(&mut b, "CAP_NET_RAW");
    b
}

pub fn add_capability(b: &mut Bundle, cap: &str) {
    for set in ["bounding", "effective", "permitted"] {
        let list = &mut b.config["process"]["capabilities"][set];
        if !list.is_array() {
            *list = json!([]);
        }
        let list = list.as_array_mut().expect("array");
        if !list.iter().any(|c| c == cap) {
            list.push(json!(cap));
        }
    }
    b.save();
}

/// Puts `body` at /www/index.html of the bundle's rootfs (for busybox
/// httpd `-h /www`).
pub fn add_www(b: &Bundle, body: &str) {
    let www = b.rootfs().join("www");
    std::fs::create_dir_all(&www).expect("mkdir www");
    std::fs::write(www.join("index.html"), body).expect("write index.html");
}

/// The first interface of a container as `berth state` shows it.
#[track_caller]
pub fn interface(rt: &Runtime, id: &str) -> Value {
    let st = rt.state(id);
    let iface = st["network"]["interfaces"][0].clone();
    assert!(iface.is_object(), "state of {id} has no interface: {st:#}");
    iface
}

/// The IPv4 address (without prefix) of a container's first interface.
#[track_caller]
pub fn ipv4_of(rt: &Runtime, id: &str) -> String {
    let iface = interface(rt, id);
    let ip = iface["ipv4"].as_str().unwrap_or_default();
    ip.split('/').next().unwrap_or_default().to_owned()
}

/// One HTTP/1.0 GET of `/` at `addr`: the whole answer.
pub fn http_get(addr: SocketAddr, timeout: Duration) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: berth-test\r\n\r\n")?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    Ok(answer)
}

/// Polls `http_get(addr)` until the answer contains `marker` or `timeout`
/// passes; the last answer or error.
pub fn wait_http(addr: &str, marker: &str, timeout: Duration) -> Result<String, String> {
    let addr: SocketAddr = addr.parse().unwrap_or_else(|e| panic!("{addr}: {e}"));
    let mut last = Err("never tried".to_owned());
    wait_until(timeout, || {
        last = match http_get(addr, Duration::from_secs(2)) {
            Ok(a) if a.contains(marker) => Ok(a),
            Ok(a) => Err(format!("answer without {marker:?}: {a:?}")),
            Err(e) => Err(e.to_string()),
        };
        last.is_ok()
    });
    last
}

/// Processes whose parent is `ppid`: (pid, comm).
pub fn children_of(ppid: i32) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_owned();
        let ppid_here = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<i32>().ok());
        if ppid_here == Some(ppid) {
            out.push((pid, comm));
        }
    }
    out
}

/// Waits until `cond` holds, polling every 10 ms; panics with `what`.
#[track_caller]
pub fn must_within(timeout: Duration, what: &str, cond: impl FnMut() -> bool) {
    let start = Instant::now();
    assert!(
        wait_until(timeout, cond),
        "{what} (waited {:?})",
        start.elapsed()
    );
}
