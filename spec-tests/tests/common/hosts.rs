//! What the network tests put around berth's networks, all made by the test
//! and removed when dropped (also when the test fails):
//!
//! - [`Outside`]: a network namespace joined to the host by a veth pair on a
//!   /24 of its own (10.213.OCTET.1 on the host, .2 inside, its default
//!   route through the host): "the world beyond the host", so that a test
//!   makes forwarded traffic (out of a container, into a published port
//!   from elsewhere) without sending anything off the machine.
//! - [`Dummy`]: a dummy link (or a veth pair), the parent of macvlan and
//!   ipvlan networks.
//! - [`Net`]: a network made with arbitrary `network create` flags (the
//!   macvlan and ipvlan ones, which take no `--bridge`), removed with
//!   `network rm --force`.
#![allow(dead_code)]

use spec_tests::net::berth_net;
use spec_tests::{wait_until, Output, TestDir};
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Runs a command; panics with its output unless it succeeds.
#[track_caller]
pub fn must(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct Outside {
    pub ns: String,
    pub host_if: String,
    /// The host's address on the link (10.213.OCTET.1).
    pub host_ip: String,
    /// The namespace's address (10.213.OCTET.2).
    pub ip: String,
    server: Option<Child>,
    www: TestDir,
}

impl Outside {
    #[track_caller]
    pub fn new(octet: u8) -> Self {
        let pid = std::process::id();
        let o = Outside {
            ns: format!("berth-out-{pid}-{octet}"),
            host_if: format!("bo{}x{octet}", pid % 1000),
            host_ip: format!("10.213.{octet}.1"),
            ip: format!("10.213.{octet}.2"),
            server: None,
            www: TestDir::new("outside"),
        };
        must("ip", &["netns", "add", &o.ns]);
        let peer = "eth0";
        must(
            "ip",
            &[
                "link", "add", &o.host_if, "type", "veth", "peer", "name", peer, "netns", &o.ns,
            ],
        );
        must(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/24", o.host_ip),
                "dev",
                &o.host_if,
            ],
        );
        must("ip", &["link", "set", &o.host_if, "up"]);
        for args in [
            vec!["link", "set", "lo", "up"],
            vec!["addr", "add", &format!("{}/24", o.ip), "dev", peer],
            vec!["link", "set", peer, "up"],
            vec!["route", "add", "default", "via", &o.host_ip],
        ] {
            let mut a = vec!["netns", "exec", &o.ns, "ip"];
            a.extend(args);
            must("ip", &a);
        }
        o
    }

    /// Serves `body` over HTTP on `port` inside the namespace (busybox httpd).
    pub fn serve_http(&mut self, port: u16, body: &str) {
        std::fs::write(self.www.path().join("index.html"), body).expect("write index.html");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "busybox", "httpd", "-f"])
            .args(["-p", &port.to_string(), "-h"])
            .arg(self.www.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start busybox httpd in the outside netns");
        self.server = Some(child);
        // Up once the namespace itself gets the page.
        let addr = format!("127.0.0.1:{port}");
        assert!(
            wait_until(Duration::from_secs(10), || self.get(&addr, 1).is_ok()),
            "httpd in {} did not come up",
            self.ns
        );
    }

    /// An HTTP/1.0 GET of `/` at `addr` (`IP:PORT`) from inside the
    /// namespace (busybox nc: the host's static busybox wget crashes): the
    /// answer, or why there is none.
    pub fn get(&self, addr: &str, timeout_s: u32) -> Result<String, String> {
        let (ip, port) = addr.rsplit_once(':').ok_or(format!("{addr}: no port"))?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "busybox", "nc"])
            .args(["-w", &timeout_s.to_string(), ip, port])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(b"GET / HTTP/1.0\r\n\r\n");
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let answer = String::from_utf8_lossy(&out.stdout).into_owned();
        if answer.starts_with("HTTP/1.") {
            Ok(answer)
        } else {
            Err(format!(
                "no answer: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The veth goes with the namespace.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .stderr(Stdio::null())
            .status();
    }
}

pub struct Dummy {
    pub name: String,
}

impl Dummy {
    /// A dummy link, up; on kernels built without dummy (this CI host's),
    /// one end of a veth pair whose two ends stay on the host.
    #[track_caller]
    pub fn new(octet: u8) -> Self {
        let d = Dummy {
            name: format!("bd{}x{octet}", std::process::id() % 1000),
        };
        let dummy = Command::new("ip")
            .args(["link", "add", &d.name, "type", "dummy"])
            .output()
            .expect("run ip link add");
        if !dummy.status.success() {
            let peer = format!("{}p", d.name);
            must(
                "ip",
                &[
                    "link", "add", &d.name, "type", "veth", "peer", "name", &peer,
                ],
            );
            must("ip", &["link", "set", &peer, "up"]);
        }
        must("ip", &["link", "set", &d.name, "up"]);
        d
    }
}

impl Drop for Dummy {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .status();
    }
}

pub struct Net {
    pub name: String,
    io: TestDir,
}

impl Net {
    /// `network create NAME FLAGS...`; the guard removes it also when the
    /// create failed halfway.
    pub fn create(tag: &str, flags: &[&str]) -> (Self, Output) {
        let net = Net {
            name: format!("{tag}-{}", std::process::id()),
            io: TestDir::new("net"),
        };
        let mut args = vec!["network", "create", &net.name];
        args.extend(flags);
        let out = berth_net(net.io.path(), &args);
        (net, out)
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        berth_net(self.io.path(), args)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let out = self.berth(&["network", "rm", "--force", &self.name]);
        if !out.success() && !out.stderr.contains("does not exist") {
            eprintln!("spec-tests: removing network {} failed: {out}", self.name);
        }
    }
}
