//! `berth-cni` as a container runtime calls it: the binary, the `CNI_*`
//! environment and the config on stdin, against network namespaces this
//! test makes (`ip netns add`, removed on drop) and a berth network state
//! directory of its own. Needs root.
//!
//! Each test has its own network (10.213.OCTET.0/24 with OCTET in 160-179,
//! bridge `bc<pid>x<octet>`, host ports 1816x); a guard DELs what the test
//! ADDed, removes the network and deletes the namespaces, also when the test
//! fails. Traffic flows only between the host and those namespaces.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use network::Networks;
use serde_json::{json, Value};

const PLUGIN: &str = env!("CARGO_BIN_EXE_berth-cni");

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

/// The network state dir of one test (its guard removes it).
fn state_dir(octet: u8) -> PathBuf {
    let dir = PathBuf::from(format!(
        "/run/berth-cnitests-{}-{octet}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("state dir");
    dir
}

/// A named network namespace, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("bcni-{}-{tag}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip netns add");
        assert!(ok.success(), "ip netns add {name}");
        Netns { name }
    }

    fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// The plugin's `command` for the attachment `id`/eth0 in this netns.
    fn call(&self, command: &str, config: &Value, id: &str) -> Reply {
        call(command, config, Some(id), Some(&self.path()), Some("eth0"))
    }

    /// Runs `args` inside; its output.
    fn exec(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("ip netns exec")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// One test's network and the attachments it made; all undone on drop.
struct Net {
    name: String,
    octet: u8,
    bridge: String,
    state_dir: PathBuf,
    adds: std::cell::RefCell<Vec<(String, String)>>,
}

impl Net {
    fn new(octet: u8) -> Net {
        Net {
            name: format!("cni-{}-{octet}", std::process::id()),
            octet,
            bridge: format!("bc{}x{octet}", std::process::id() % 1000),
            state_dir: state_dir(octet),
            adds: Default::default(),
        }
    }

    fn gateway(&self) -> String {
        format!("10.213.{}.1", self.octet)
    }

    /// The config with the inline network keys.
    fn config(&self) -> Value {
        json!({
            "cniVersion": "1.1.0",
            "name": self.name,
            "type": "berth-cni",
            "stateDir": self.state_dir,
            "subnet": format!("10.213.{}.0/24", self.octet),
            "bridge": self.bridge,
        })
    }

    fn networks(&self) -> Networks {
        Networks::open(&self.state_dir).expect("open the store")
    }

    /// The attachments the store holds on this network.
    fn attachments(&self) -> Vec<String> {
        let mut v = self
            .networks()
            .containers_on(&self.name)
            .expect("containers_on");
        v.sort();
        v
    }

    /// ADD, remembered for the guard's DEL.
    fn add(&self, config: &Value, id: &str, ns: &Netns) -> Reply {
        self.adds.borrow_mut().push((id.to_owned(), ns.path()));
        call("ADD", config, Some(id), Some(&ns.path()), Some("eth0"))
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let config = self.config();
        for (id, ns) in self.adds.borrow().iter() {
            let _ = call("DEL", &config, Some(id), Some(ns), Some("eth0"));
        }
        if let Ok(nets) = Networks::open(&self.state_dir) {
            let _ = nets.remove(&self.name, true);
        }
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

#[derive(Debug)]
struct Reply {
    ok: bool,
    json: Value,
    stdout: String,
}

impl Reply {
    #[track_caller]
    fn code(&self) -> u64 {
        assert!(!self.ok, "expected an error: {}", self.stdout);
        self.json["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("no code: {}", self.stdout))
    }
}

/// Runs the plugin with `command`, the `CNI_*` values given and `config`
/// on stdin.
fn call(
    command: &str,
    config: &Value,
    id: Option<&str>,
    netns: Option<&str>,
    ifname: Option<&str>,
) -> Reply {
    call_raw(command, config.to_string().as_bytes(), id, netns, ifname)
}

fn call_raw(
    command: &str,
    stdin: &[u8],
    id: Option<&str>,
    netns: Option<&str>,
    ifname: Option<&str>,
) -> Reply {
    let mut cmd = Command::new(PLUGIN);
    cmd.env_clear()
        .env("CNI_COMMAND", command)
        .env("CNI_PATH", "/opt/cni/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in [
        ("CNI_CONTAINERID", id),
        ("CNI_NETNS", netns),
        ("CNI_IFNAME", ifname),
    ] {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let mut child = cmd.spawn().expect("spawn berth-cni");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write the config");
    let out = child.wait_with_output().expect("wait berth-cni");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = if stdout.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout:?}"))
    };
    Reply {
        ok: out.status.success(),
        json,
        stdout,
    }
}

fn address_of(result: &Value) -> String {
    let a = result["ips"][0]["address"]
        .as_str()
        .expect("ips[0].address");
    a.split('/').next().unwrap_or_default().to_owned()
}

/// A busybox httpd serving `body` inside `ns`, killed on drop.
struct Httpd {
    child: std::process::Child,
    _dir: PathBuf,
}

impl Httpd {
    fn start(ns: &Netns, body: &str) -> Httpd {
        let dir = std::env::temp_dir().join(format!("bcni-www-{}-{}", std::process::id(), ns.name));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), body).unwrap();
        let child = Command::new("ip")
            .args([
                "netns", "exec", &ns.name, "busybox", "httpd", "-f", "-p", "80", "-h",
            ])
            .arg(&dir)
            .spawn()
            .expect("busybox httpd");
        Httpd { child, _dir: dir }
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

/// GET / from `addr` (from the host), retried until `marker` is in the
/// answer or `timeout` passes.
fn wait_http(addr: &str, marker: &str, timeout: Duration) -> Result<String, String> {
    use std::io::Read;
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < timeout {
        match std::net::TcpStream::connect_timeout(
            &addr.parse().expect("socket address"),
            Duration::from_millis(500),
        ) {
            Ok(mut s) => {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
                let mut text = String::new();
                let _ = s.read_to_string(&mut text);
                if text.contains(marker) {
                    return Ok(text);
                }
                last = text;
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(last)
}

fn output_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn version_and_status() {
    require_root!();
    let v = call_raw("VERSION", br#"{"cniVersion":"1.0.0"}"#, None, None, None);
    assert!(v.ok, "{v:?}");
    assert_eq!(v.json["cniVersion"], "1.0.0");
    assert_eq!(
        v.json["supportedVersions"],
        json!(["0.4.0", "1.0.0", "1.1.0"])
    );

    let net = Net::new(160);
    // No such network and nothing to make it from: cannot serve ADDs.
    let mut bare = net.config();
    bare.as_object_mut().unwrap().remove("subnet");
    bare.as_object_mut().unwrap().remove("bridge");
    let s = call("STATUS", &bare, None, None, None);
    assert_eq!(s.code(), 50, "{s:?}");
    assert!(s.json["msg"].as_str().unwrap().contains(&net.name), "{s:?}");
    // Made on the first ADD: available.
    let s = call("STATUS", &net.config(), None, None, None);
    assert!(s.ok, "{s:?}");
    // A full subnet (a /29 has five addresses for attachments): not
    // available.
    let ns = Netns::new("st");
    let mut tiny = net.config();
    tiny["subnet"] = json!("10.213.160.0/29");
    let r = net.add(&tiny, "st1", &ns);
    assert!(r.ok, "{r:?}");
    let mut left = Vec::new();
    for i in 0..5 {
        let ns = Netns::new(&format!("st{i}x"));
        let r = net.add(&tiny, &format!("stx{i}"), &ns);
        left.push(ns);
        if !r.ok {
            assert_eq!(r.code(), 100, "{r:?}");
            assert!(
                r.json["msg"].as_str().unwrap().contains("no free address"),
                "{r:?}"
            );
            break;
        }
    }
    let s = call("STATUS", &tiny, None, None, None);
    assert_eq!(s.code(), 50, "{s:?}");
}

/// ADD into two namespaces, the result, the interface inside, ping and TCP
/// to the gateway and the neighbour, a published port from the host, CHECK
/// before and after a manual change, DEL twice.
#[test]
fn add_check_del() {
    require_root!();
    let net = Net::new(161);
    let a = Netns::new("a");
    let b = Netns::new("b");
    let mut config_b = net.config();
    config_b["runtimeConfig"] = json!({
        "portMappings": [{"hostPort": 18161, "containerPort": 80, "protocol": "tcp"}]
    });
    let ra = net.add(&net.config(), "ctr-a", &a);
    assert!(ra.ok, "{ra:?}");
    let rb = net.add(&config_b, "ctr-b", &b);
    assert!(rb.ok, "{rb:?}");

    // The result.
    let r = &ra.json;
    assert_eq!(r["cniVersion"], "1.1.0", "{r:#}");
    let ip_a = address_of(r);
    let ip_b = address_of(&rb.json);
    assert!(ip_a.starts_with("10.213.161."), "{r:#}");
    assert_ne!(ip_a, ip_b);
    assert_eq!(r["ips"][0]["gateway"], json!(net.gateway()), "{r:#}");
    assert!(
        r["ips"][0].get("version").is_none(),
        "1.x has no version: {r:#}"
    );
    let iface = r["ips"][0]["interface"].as_u64().unwrap() as usize;
    assert_eq!(r["interfaces"][iface]["name"], "eth0", "{r:#}");
    assert_eq!(r["interfaces"][iface]["sandbox"], json!(a.path()), "{r:#}");
    assert!(r["interfaces"][iface]["mac"].is_string(), "{r:#}");
    assert_eq!(
        r["routes"],
        json!([{"dst": "0.0.0.0/0", "gw": net.gateway()}]),
        "{r:#}"
    );
    assert_eq!(net.attachments(), vec!["cni:ctr-a:eth0", "cni:ctr-b:eth0"]);

    // The interface inside.
    let addr = a.exec(&["ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(
        output_text(&addr).contains(&format!("inet {ip_a}/24")),
        "{}",
        output_text(&addr)
    );
    let route = a.exec(&["ip", "route"]);
    assert!(
        output_text(&route).contains(&format!("default via {} dev eth0", net.gateway())),
        "{}",
        output_text(&route)
    );
    // Ping the gateway and the neighbour; TCP to the neighbour and to the
    // port published on the host.
    for to in [net.gateway(), ip_b.clone()] {
        let p = a.exec(&["busybox", "ping", "-c1", "-W2", &to]);
        assert!(p.status.success(), "ping {to}: {}", output_text(&p));
    }
    let _httpd = Httpd::start(&b, "page-161\n");
    let got = wait_http(&format!("{ip_b}:80"), "page-161", Duration::from_secs(10));
    assert!(got.is_ok(), "the host to the neighbour: {got:?}");
    let from_a = a.exec(&["busybox", "wget", "-q", "-O-", &format!("http://{ip_b}/")]);
    assert!(
        output_text(&from_a).contains("page-161"),
        "{}",
        output_text(&from_a)
    );
    for addr in [
        "127.0.0.1:18161".to_owned(),
        format!("{}:18161", net.gateway()),
    ] {
        let got = wait_http(&addr, "page-161", Duration::from_secs(10));
        assert!(got.is_ok(), "published {addr}: {got:?}");
    }

    // CHECK against prevResult: fine, then not after a manual change.
    let mut check_b = config_b.clone();
    check_b["prevResult"] = rb.json.clone();
    let c = b.call("CHECK", &check_b, "ctr-b");
    assert!(c.ok, "{c:?}");
    let flush = b.exec(&["ip", "addr", "flush", "dev", "eth0"]);
    assert!(flush.status.success());
    let c = b.call("CHECK", &check_b, "ctr-b");
    assert!(c.code() >= 100, "{c:?}");
    assert!(c.json["msg"].as_str().unwrap().contains(&ip_b), "{c:?}");
    // A prevResult that is not this attachment's.
    let mut wrong = config_b.clone();
    wrong["prevResult"] = ra.json.clone();
    let c = a.call("CHECK", &wrong, "ctr-a");
    assert!(c.ok, "{c:?}");
    let c = b.call("CHECK", &wrong, "ctr-b");
    assert!(!c.ok, "{c:?}");

    // DEL twice, and DEL of what was never added.
    let host_end = rb.json["interfaces"][0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        let d = b.call("DEL", &config_b, "ctr-b");
        assert!(d.ok && d.stdout.trim().is_empty(), "{d:?}");
    }
    let d = call("DEL", &net.config(), Some("never"), None, Some("eth0"));
    assert!(d.ok, "{d:?}");
    assert_eq!(net.attachments(), vec!["cni:ctr-a:eth0"]);
    let link = Command::new("ip")
        .args(["link", "show", &host_end])
        .output()
        .unwrap();
    assert!(
        !link.status.success(),
        "the host end {host_end} is still there"
    );
    let gone = wait_http("127.0.0.1:18161", "page-161", Duration::from_millis(300));
    assert!(gone.is_err(), "still published after DEL: {gone:?}");
    let inside = b.exec(&["ip", "link", "show", "eth0"]);
    assert!(!inside.status.success(), "eth0 is still in the netns");
}

/// A 0.4.0 config gets a 0.4.0 result (`version` in each IP).
#[test]
fn old_version_result() {
    require_root!();
    let net = Net::new(162);
    let ns = Netns::new("old");
    let mut config = net.config();
    config["cniVersion"] = json!("0.4.0");
    config["runtimeConfig"] = json!({"ips": ["10.213.162.77/24"], "mac": "02:42:0a:d5:a2:4d"});
    let r = net.add(&config, "old", &ns);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.json["cniVersion"], "0.4.0");
    assert_eq!(r.json["ips"][0]["version"], "4");
    assert_eq!(r.json["ips"][0]["address"], "10.213.162.77/24");
    let link = ns.exec(&["ip", "link", "show", "eth0"]);
    assert!(
        output_text(&link).contains("02:42:0a:d5:a2:4d"),
        "{}",
        output_text(&link)
    );
}

/// GC removes every attachment of the network but the valid ones.
#[test]
fn gc_keeps_only_valid_attachments() {
    require_root!();
    let net = Net::new(163);
    let nss: Vec<Netns> = (0..3).map(|i| Netns::new(&format!("gc{i}"))).collect();
    for (i, ns) in nss.iter().enumerate() {
        let r = net.add(&net.config(), &format!("gc{i}"), ns);
        assert!(r.ok, "{r:?}");
    }
    let mut config = net.config();
    config["cni.dev/valid-attachments"] = json!([{"containerID": "gc1", "ifname": "eth0"}]);
    let g = call("GC", &config, None, None, None);
    assert!(g.ok, "{g:?}");
    assert_eq!(net.attachments(), vec!["cni:gc1:eth0"]);
    assert!(!nss[0]
        .exec(&["ip", "link", "show", "eth0"])
        .status
        .success());
    assert!(nss[1]
        .exec(&["ip", "link", "show", "eth0"])
        .status
        .success());
}

/// Each bad field, command and parameter with the spec's error code, and
/// nothing allocated by any of them.
#[test]
fn bad_input_gets_the_specs_error_codes() {
    require_root!();
    let net = Net::new(164);
    let ns = Netns::new("bad");
    // The network exists (made by a good ADD, then DELeted).
    assert!(net.add(&net.config(), "good", &ns).ok);
    assert!(ns.call("DEL", &net.config(), "good").ok);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = net.config();
        f(&mut c);
        c
    };
    let cases: Vec<(&str, Value, u64)> = vec![
        ("cniVersion", with(&|c| c["cniVersion"] = json!("0.3.1")), 1),
        ("unknown field", with(&|c| c["color"] = json!("blue")), 2),
        (
            "ipam",
            with(&|c| c["ipam"] = json!({"type": "host-local"})),
            2,
        ),
        (
            "capability",
            with(&|c| c["capabilities"] = json!({"bandwidth": true})),
            2,
        ),
        (
            "args",
            with(&|c| c["args"] = json!({"cni": {"ips": ["10.213.164.9"]}})),
            2,
        ),
        (
            "runtimeConfig field",
            with(&|c| c["runtimeConfig"] = json!({"bandwidth": {}})),
            2,
        ),
        ("subnet type", with(&|c| c["subnet"] = json!(24)), 6),
        ("mtu type", with(&|c| c["mtu"] = json!("big")), 6),
        ("type", with(&|c| c["type"] = json!("bridge")), 7),
        ("name", with(&|c| c["name"] = json!("no spaces allowed")), 7),
        (
            "subnet differs",
            with(&|c| c["subnet"] = json!("10.213.165.0/24")),
            7,
        ),
        ("mtu differs", with(&|c| c["mtu"] = json!(1400)), 7),
        (
            "internal differs",
            with(&|c| c["internal"] = json!(true)),
            7,
        ),
        (
            "protocol",
            with(
                &|c| c["runtimeConfig"] = json!({"portMappings": [{"hostPort": 18164, "containerPort": 80, "protocol": "sctp"}]}),
            ),
            7,
        ),
        (
            "hostIP",
            with(
                &|c| c["runtimeConfig"] = json!({"portMappings": [{"hostPort": 18164, "containerPort": 80, "hostIP": "nowhere"}]}),
            ),
            7,
        ),
        (
            "ips",
            with(&|c| c["runtimeConfig"] = json!({"ips": ["not-an-ip"]})),
            7,
        ),
        (
            "ips outside",
            with(&|c| c["runtimeConfig"] = json!({"ips": ["10.213.99.5/24"]})),
            100,
        ),
        (
            "mac",
            with(&|c| c["runtimeConfig"] = json!({"mac": "zz:zz"})),
            7,
        ),
        (
            "berth.network",
            with(&|c| {
                c["runtimeConfig"] =
                    json!({"io.kubernetes.cri.pod-annotations": {"berth.network": "other"}})
            }),
            7,
        ),
    ];
    for (what, config, code) in &cases {
        let r = call("ADD", config, Some("bad"), Some(&ns.path()), Some("eth0"));
        assert_eq!(r.code(), *code, "{what}: {r:?}");
        assert!(
            !r.json["msg"].as_str().unwrap_or("").is_empty(),
            "{what}: {r:?}"
        );
    }
    let r = call_raw(
        "ADD",
        b"{not json",
        Some("bad"),
        Some(&ns.path()),
        Some("eth0"),
    );
    assert_eq!(r.code(), 6, "{r:?}");
    let c = net.config();
    let r = call("ADD", &c, Some("bad"), Some(&ns.path()), None);
    assert_eq!(r.code(), 4, "no CNI_IFNAME: {r:?}");
    let r = call("ADD", &c, Some("bad"), None, Some("eth0"));
    assert_eq!(r.code(), 4, "no CNI_NETNS: {r:?}");
    let r = call("ADD", &c, Some("bad/../x"), Some(&ns.path()), Some("eth0"));
    assert_eq!(r.code(), 4, "bad CNI_CONTAINERID: {r:?}");
    let r = ns.call("FROB", &c, "bad");
    assert_eq!(r.code(), 4, "bad CNI_COMMAND: {r:?}");
    let r = call(
        "ADD",
        &c,
        Some("bad"),
        Some("/var/run/netns/bcni-none"),
        Some("eth0"),
    );
    assert_eq!(r.code(), 3, "no such netns: {r:?}");
    let r = ns.call("CHECK", &c, "bad");
    assert_eq!(r.code(), 7, "CHECK without prevResult: {r:?}");
    // A host port a host socket listens on.
    let listener = std::net::TcpListener::bind("0.0.0.0:18164").expect("bind 18164");
    let taken = with(&|c| {
        c["runtimeConfig"] = json!({"portMappings": [{"hostPort": 18164, "containerPort": 80}]})
    });
    let r = ns.call("ADD", &taken, "bad");
    assert_eq!(r.code(), 100, "{r:?}");
    assert!(r.json["msg"].as_str().unwrap().contains("18164"), "{r:?}");
    drop(listener);
    assert!(net.attachments().is_empty(), "{:?}", net.attachments());
    assert!(!ns.exec(&["ip", "link", "show", "eth0"]).status.success());
}

/// 50 ADDs at once on one network get 50 distinct addresses.
#[test]
fn fifty_parallel_adds_get_distinct_addresses() {
    require_root!();
    let net = Net::new(165);
    // Made by the first ADD; the 50 then race on the store only.
    let first = Netns::new("p-first");
    assert!(net.add(&net.config(), "p-first", &first).ok);
    let nss: Vec<Netns> = (0..50).map(|i| Netns::new(&format!("p{i}"))).collect();
    let config = net.config();
    let children: Vec<_> = nss
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            net.adds.borrow_mut().push((format!("p{i}"), ns.path()));
            let mut cmd = Command::new(PLUGIN);
            cmd.env_clear()
                .env("CNI_COMMAND", "ADD")
                .env("CNI_CONTAINERID", format!("p{i}"))
                .env("CNI_NETNS", ns.path())
                .env("CNI_IFNAME", "eth0")
                .env("CNI_PATH", "/opt/cni/bin")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped());
            let mut child = cmd.spawn().expect("spawn");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(config.to_string().as_bytes())
                .unwrap();
            child
        })
        .collect();
    let mut addresses = std::collections::BTreeSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        addresses.insert(address_of(&v));
    }
    assert_eq!(addresses.len(), 50, "{addresses:?}");
    assert_eq!(net.attachments().len(), 51);
}
