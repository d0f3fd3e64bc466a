//! A dockerd of a test's own (Debian's docker.io 20.10), for the tests that
//! run berth under docker (`tests/docker.rs`) and beside it
//! (`tests/network_docker.rs`): its own --data-root, --exec-root, --pidfile,
//! socket, cgroup parent and vfs storage, and docker's default bridge on a
//! bridge the test makes (10.213.OCTET.0/24). Stopped by pid when dropped,
//! with its containers; what docker leaves by design (its key, /run/docker,
//! the bridge, empty cgroup parents) is removed.

use crate::{callers, unique_name, wait_until, TestDir};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(60);
pub const DOCKERD: &str = "/usr/sbin/dockerd";
pub const DOCKER: &str = "/usr/bin/docker";
/// docker tests take it: one dockerd at a time on the host.
pub const HOST_LOCK: &str = "/run/berth-docker-tests.lock";

/// How a test's dockerd runs.
pub struct Options {
    /// The third octet of its bridge's subnet, 10.213.OCTET.0/24.
    pub octet: u8,
    /// docker's firewall and forwarding (`--iptables --ip-forward
    /// --ip-masq`), or none of them (`-p` then goes through docker-proxy).
    pub firewall: bool,
    /// A daemon.json, passed with `--config-file`.
    pub daemon_json: Option<String>,
    /// The host lock ([`HOST_LOCK`]) when the daemon is to hold it until it
    /// is dropped; a test that needs it longer holds it itself.
    pub hold: Option<std::fs::File>,
}

pub struct Dockerd {
    child: Option<Child>,
    dir: TestDir,
    pub bridge: String,
    pub cgroup_parent: String,
    /// Host-wide state docker makes on its first start, removed after.
    made_key: bool,
    made_run_docker: bool,
    _hold: Option<std::fs::File>,
}

impl Dockerd {
    pub fn start(opts: Options) -> Self {
        callers::require(DOCKERD, "docker.io");
        callers::require(DOCKER, "docker.io");
        let octet = opts.octet;
        let routed = Command::new("ip")
            .args(["route", "show", &format!("10.213.{octet}.0/24")])
            .output()
            .expect("run ip route");
        assert!(
            routed.stdout.is_empty(),
            "10.213.{octet}.0/24 is already routed (a bridge left by someone else?): {}",
            String::from_utf8_lossy(&routed.stdout)
        );
        let dir = TestDir::new("docker");
        let d = dir.path().to_owned();
        // A non-default bridge name: docker uses the bridge but does not make it.
        let bridge = format!("bdk{}x{octet}", std::process::id() % 1000);
        callers::ip(&["link", "add", &bridge, "type", "bridge"]);
        let mut dockerd = Self {
            child: None,
            bridge,
            cgroup_parent: format!("/{}", unique_name("berth-docker")),
            made_key: !Path::new("/etc/docker/key.json").exists(),
            made_run_docker: !Path::new("/run/docker").exists(),
            dir,
            _hold: opts.hold,
        };
        callers::ip(&[
            "addr",
            "add",
            &format!("10.213.{octet}.1/24"),
            "dev",
            &dockerd.bridge,
        ]);
        let mut cmd = Command::new(DOCKERD);
        if let Some(json) = &opts.daemon_json {
            std::fs::write(d.join("daemon.json"), json).expect("write daemon.json");
            cmd.arg("--config-file").arg(d.join("daemon.json"));
        }
        let firewall = if opts.firewall { "true" } else { "false" };
        let log = std::fs::File::create(d.join("dockerd.log")).expect("create dockerd.log");
        cmd.arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .args(["--storage-driver", "vfs", "--bridge", &dockerd.bridge])
            .arg(format!("--iptables={firewall}"))
            .arg(format!("--ip-forward={firewall}"))
            .arg(format!("--ip-masq={firewall}"))
            .args(["--cgroup-parent", &dockerd.cgroup_parent])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dockerd.log"))
            .stderr(log);
        dockerd.child = Some(cmd.spawn().expect("start dockerd"));
        let up = wait_until(WAIT, || {
            dockerd
                .docker(&["version", "--format", "{{.Server.Version}}"])
                .output()
                .is_ok_and(|o| o.status.success())
        });
        assert!(up, "dockerd did not come up: {}", dockerd.log());
        dockerd
    }

    /// Its directory (data-root, exec-root, socket, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// A `docker` command talking to this daemon.
    pub fn docker(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new(DOCKER);
        cmd.env("DOCKER_CONFIG", d.join("client"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs docker, returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        callers::outcome(self.docker(args))
    }

    /// Runs docker, asserts that it exits 0, returns its stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "docker {args:?}: {out} {err}");
        out
    }

    /// Imports the busybox rootfs as `image` (no registry).
    pub fn import_busybox(&self, image: &str) {
        let tar = self.dir.path().join("busybox.tar");
        callers::busybox_rootfs_tar(self.dir.path(), &tar);
        self.ok(&["import", tar.to_str().expect("UTF-8 path"), image]);
    }

    /// Stops dockerd by pid and waits for it.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        callers::stop_by_pid(self.child.take()?, WAIT)
    }

    /// Removes what dockerd leaves by design (the data-root's own bind
    /// mount, the bridge the test made, empty cgroup parents, its key).
    pub fn clean_up(&mut self) {
        callers::remove_daemon_remains(self.dir.path(), &self.bridge, &self.cgroup_parent);
        if self.made_key {
            let _ = std::fs::remove_file("/etc/docker/key.json");
            self.made_key = false;
        }
        if self.made_run_docker {
            let _ = std::fs::remove_dir_all("/run/docker");
            self.made_run_docker = false;
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Its containers, then the daemon (which stops any left), then what
        // docker leaves by design.
        if self.child.is_some() {
            if let Ok(out) = self.docker(&["ps", "-aq"]).output() {
                for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = self.docker(&["rm", "-f", id]).output();
                }
            }
            self.stop();
        }
        self.clean_up();
    }
}
