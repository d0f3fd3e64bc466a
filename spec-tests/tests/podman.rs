//! podman (through conmon) drives berth: `podman --runtime berth run`, with
//! a private storage root, run root, temporary directory and containers.conf
//! (berth listed in runtime_supports_json, ulimits under this machine's hard
//! limits).
//!
//! Every test runs with podman's own defaults, its seccomp profile
//! (/usr/share/containers/seccomp.json) included.
//!
//! `BERTH_TEST_RUNTIME=/usr/sbin/runc` runs the same tests with runc.

use spec_tests::callers::{self, runtime_under_test};
use spec_tests::{berth_binary, make_busybox_rootfs, unique_name, wait_until, TestDir};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// The containers.conf the tests give podman (README: "Using berth with
/// docker, podman, containerd and Kubernetes").
fn containers_conf(runtime: &Path) -> String {
    format!(
        r#"[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "berth"
runtime_supports_json = ["crun", "runc", "berth"]

[engine.runtimes]
berth = ["{}"]
"#,
        runtime.display()
    )
}

#[test]
fn readme_shows_the_containers_conf() {
    spec_tests::callers::assert_readme_shows(&containers_conf(Path::new(
        spec_tests::callers::README_BERTH,
    )));
}

struct Podman {
    dir: TestDir,
}

impl Podman {
    fn new() -> Self {
        Self::with_conf(|_| String::new())
    }

    /// With more of containers.conf: `extra` gets the test's directory and
    /// returns sections to append.
    fn with_conf(extra: impl FnOnce(&Path) -> String) -> Self {
        callers::require("/usr/bin/podman", "podman");
        let dir = TestDir::new("podman");
        std::fs::write(
            dir.path().join("containers.conf"),
            containers_conf(&runtime_under_test()) + &extra(dir.path()),
        )
        .unwrap();
        let podman = Self { dir };
        let rootfs = podman.dir.path().join("rootfs");
        make_busybox_rootfs(&rootfs);
        // Import the busybox rootfs as an image.
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = podman
            .cmd(&["import", "-", "localhost/berth-busybox"])
            .stdin(tar.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(tar.wait().unwrap().success(), "tar of the rootfs failed");
        assert!(
            out.status.success(),
            "podman import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        podman
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new("/usr/bin/podman");
        cmd.env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("run"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs podman, returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        callers::outcome(self.cmd(args))
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self
            .cmd(&["rm", "--all", "--force", "--time", "0"])
            .output();
        // podman's cgroupfs manager parents its cgroups here; the last
        // test to finish removes it.
        spec_tests::remove_cgroup_tree("libpod_parent");
    }
}

#[test]
fn podman_run_through_conmon() {
    let podman = Podman::new();
    let (code, out, err) = podman.run(&[
        "run",
        "--rm",
        "localhost/berth-busybox",
        "sh",
        "-c",
        "echo hello from berth under podman; id -u; exit 6",
    ]);
    assert_eq!(code, 6, "stdout {out:?} stderr {err:?}");
    assert_eq!(out, "hello from berth under podman\n0\n");
    let (_, all, _) = podman.run(&["ps", "-a", "-q"]);
    assert!(all.trim().is_empty(), "--rm left {all:?}");
}

#[test]
fn podman_detached_stop_and_rm() {
    let podman = Podman::new();
    let name = podman.run_detached(&[
        "sh",
        "-c",
        "trap 'exit 0' TERM; touch /tmp/trap-set; while :; do sleep 0.1; done",
    ]);
    let ready = wait_until(WAIT, || {
        podman
            .run(&["ps", "--format", "{{.Names}}"])
            .1
            .contains(&name)
    });
    assert!(ready, "{:?}", podman.run(&["ps", "-a"]));
    // The script touches its marker once the trap is set; podman mounts the
    // container's root under its storage, so look there.
    let (_, mount, _) = podman.run(&["mount", &name]);
    let marker = Path::new(mount.trim()).join("tmp/trap-set");
    assert!(
        wait_until(WAIT, || marker.exists()),
        "the script did not start"
    );
    let (code, _, err) = podman.run(&["stop", "--time", "10", &name]);
    assert_eq!(code, 0, "{err}");
    let (_, status, _) = podman.run(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
    assert_eq!(status.trim(), "0", "TERM did not reach the trap");
    let (code, _, err) = podman.run(&["rm", &name]);
    assert_eq!(code, 0, "{err}");
}

impl Podman {
    /// `podman run -d` of the busybox image running `command`; returns the
    /// container's name.
    fn run_detached(&self, command: &[&str]) -> String {
        let name = unique_name("pd");
        let mut args = vec!["run", "-d", "--name", &name, "localhost/berth-busybox"];
        args.extend_from_slice(command);
        let (code, _, err) = self.run(&args);
        assert_eq!(code, 0, "{err}");
        name
    }

    /// `podman ARGS` as one shell line, for [`spec_tests::run_in_terminal`].
    fn line(&self, args: &str) -> String {
        let d = self.dir.path();
        format!(
            "CONTAINERS_CONF={conf} /usr/bin/podman --root {root} --runroot {run} --tmpdir {tmp} \
             --storage-driver vfs {args}",
            conf = d.join("containers.conf").display(),
            root = d.join("storage").display(),
            run = d.join("run").display(),
            tmp = d.join("tmp").display(),
        )
    }
}

#[test]
fn podman_with_a_terminal() {
    let podman = Podman::new();
    let line = podman.line("run --rm -t localhost/berth-busybox sh -c 'tty; exit 2'");
    callers::in_terminal(&line, 2);
}

/// `podman exec` (conmon calls `berth exec --process F --detach --pid-file P`),
/// with and without a terminal, under podman's seccomp profile.
#[test]
fn podman_exec_with_and_without_a_terminal() {
    let podman = Podman::new();
    let name = podman.run_detached(&["sleep", "1000"]);
    let (code, out, err) = podman.run(&[
        "exec",
        "-e",
        "FROM_EXEC=yes",
        &name,
        "sh",
        "-c",
        callers::EXEC_PROBE,
    ]);
    assert_eq!(code, 4, "{out} {err}");
    assert_eq!(out, callers::EXEC_PROBE_OUTPUT, "{err}");
    let line = podman.line(&format!("exec -t {name} sh -c 'tty; exit 5'"));
    callers::in_terminal(&line, 5);
    let (code, _, err) = podman.run(&["rm", "--force", "--time", "0", &name]);
    assert_eq!(code, 0, "{err}");
}

/// podman's default seccomp profile is loaded into the container (one
/// filter; podman does not set no_new_privs by default).
#[test]
fn podman_default_seccomp_profile_applies() {
    let podman = Podman::new();
    let (code, out, err) = podman.run(&[
        "run",
        "--rm",
        "localhost/berth-busybox",
        "grep",
        "-E",
        "^(Seccomp|Seccomp_filters|NoNewPrivs):",
        "/proc/self/status",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("Seccomp_filters:\t1"), "{out}");
    assert!(out.contains("NoNewPrivs:\t0"), "{out}");
}

/// A container the runtime cannot start (its binary is missing): the
/// runtime's message reaches the podman user through conmon.
#[test]
fn podman_shows_the_runtimes_refusal() {
    let podman = Podman::new();
    let (code, _, err) = podman.run(&["run", "--rm", "localhost/berth-busybox", "/no/such/binary"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("/no/such/binary") && err.contains("no such file or directory"),
        "{err}"
    );
}

/// Removes a berth network of a state dir when dropped.
struct RemoveNetwork {
    state_dir: std::path::PathBuf,
    name: String,
}

impl Drop for RemoveNetwork {
    fn drop(&mut self) {
        let _ = Command::new(berth_binary())
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(["network", "rm", "--force", &self.name])
            .output();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// podman's CNI backend with a conflist naming berth-cni: `podman run
/// --network NAME -p` gets its address from berth's IPAM on berth's bridge
/// (the network made by the first ADD), answers on the published port from
/// the host, and `podman rm` (DEL) releases the address and the port.
#[test]
fn podman_cni_backend_with_berth_cni() {
    let plugin = berth_binary().with_file_name("berth-cni");
    assert!(
        plugin.exists(),
        "{} is missing: cargo build --release -p network --bin berth-cni",
        plugin.display()
    );
    let pid = std::process::id();
    let net = RemoveNetwork {
        state_dir: std::env::temp_dir().join(format!("berth-podman-cni-{pid}")),
        name: format!("bcpod{pid}"),
    };
    let bridge = format!("bcp{}", pid % 100_000);
    let podman = Podman::with_conf(|dir| {
        let (bin, confs) = (dir.join("cni-bin"), dir.join("cni-net.d"));
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&confs).unwrap();
        std::os::unix::fs::symlink(&plugin, bin.join("berth-cni")).unwrap();
        let conflist = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": net.name,
            "plugins": [{
                "type": "berth-cni",
                "stateDir": net.state_dir,
                "subnet": "10.213.179.0/24",
                "bridge": bridge,
                "capabilities": {"portMappings": true},
            }],
        });
        std::fs::write(confs.join("50-berth.conflist"), conflist.to_string()).unwrap();
        format!(
            "\n[network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"{}\"]\n\
             network_config_dir = \"{}\"\n",
            bin.display(),
            confs.display()
        )
    });
    let name = unique_name("pcni");
    let (code, _, err) = podman.run(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        &net.name,
        "-p",
        "18179:80",
        "localhost/berth-busybox",
        "sh",
        "-c",
        "mkdir -p /tmp/www && echo page-179 > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www",
    ]);
    assert_eq!(code, 0, "{err}");
    let got = spec_tests::net::wait_http("127.0.0.1:18179", "page-179", WAIT);
    assert!(got.is_ok(), "the published port from the host: {got:?}");
    let (_, ip, _) = podman.run(&[
        "inspect",
        &name,
        "--format",
        &format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
            net.name
        ),
    ]);
    let ip = ip.trim().to_owned();
    assert!(ip.starts_with("10.213.179."), "{ip:?}");
    let inspect = |what: &str| -> serde_json::Value {
        let out = Command::new(berth_binary())
            .arg("--state-dir")
            .arg(&net.state_dir)
            .args(["network", "inspect", &net.name])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{what}: network inspect: {e}"));
        if v.is_array() {
            v[0].clone()
        } else {
            v
        }
    };
    let v = inspect("running");
    assert_eq!(v["bridge"], serde_json::json!(bridge), "{v:#}");
    assert_eq!(
        v["containers"][0]["ipv4"],
        serde_json::json!(format!("{ip}/24")),
        "{v:#}"
    );
    assert!(
        v["containers"][0]["id"]
            .as_str()
            .unwrap_or("")
            .starts_with("cni:"),
        "{v:#}"
    );
    let (code, _, err) = podman.run(&["rm", "--force", "--time", "0", &name]);
    assert_eq!(code, 0, "{err}");
    let v = inspect("removed");
    assert_eq!(v["addressesInUse"], 0, "{v:#}");
    assert_eq!(v["ports"], serde_json::json!([]), "{v:#}");
}
