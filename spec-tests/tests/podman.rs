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
use spec_tests::{make_busybox_rootfs, unique_name, wait_until, TestDir};
use std::path::{Path, PathBuf};
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
        Self::with_runtime_and_conf(|_| runtime_under_test(), extra)
    }

    /// With the runtime `runtime` returns for the test's directory, and more
    /// of containers.conf as [`Self::with_conf`].
    fn with_runtime_and_conf(
        runtime: impl FnOnce(&Path) -> PathBuf,
        extra: impl FnOnce(&Path) -> String,
    ) -> Self {
        callers::require("/usr/bin/podman", "podman");
        let dir = TestDir::new("podman");
        std::fs::write(
            dir.path().join("containers.conf"),
            containers_conf(&runtime(dir.path())) + &extra(dir.path()),
        )
        .unwrap();
        *live_podmans() += 1;
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

/// How many [`Podman`]s of this test process are alive. podman's cgroupfs
/// manager parents its containers' cgroups in `libpod_parent`: the last one
/// dropped removes it, holding this lock so that no test makes a container
/// (a cgroup not yet holding its process) in it meanwhile.
fn live_podmans() -> std::sync::MutexGuard<'static, usize> {
    static LIVE: std::sync::Mutex<usize> = std::sync::Mutex::new(0);
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self
            .cmd(&["rm", "--all", "--force", "--time", "0"])
            .output();
        // conmon runs `podman container cleanup` when a container exits,
        // after `rm` returns: it would make the test's directory again.
        let dir = self.dir.path().display().to_string();
        callers::settled(|| callers::processes_mentioning(&dir));
        let mut live = live_podmans();
        *live -= 1;
        if *live == 0 {
            spec_tests::remove_cgroup_tree("libpod_parent");
        }
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
    let name = podman.run_trapping_term("exit 0");
    let ready = wait_until(WAIT, || {
        podman
            .run(&["ps", "--format", "{{.Names}}"])
            .1
            .contains(&name)
    });
    assert!(ready, "{:?}", podman.run(&["ps", "-a"]));
    let (code, _, err) = podman.run(&["stop", "--time", "10", &name]);
    assert_eq!(code, 0, "{err}");
    let (_, status, _) = podman.run(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
    assert_eq!(status.trim(), "0", "TERM did not reach the trap");
    let (code, _, err) = podman.run(&["rm", &name]);
    assert_eq!(code, 0, "{err}");
}

impl Podman {
    /// `podman run -d` of a shell that runs `action` on TERM and loops;
    /// returns the container's name once the trap is set.
    fn run_trapping_term(&self, action: &str) -> String {
        let name = self.run_detached(&[
            "sh",
            "-c",
            &format!("trap '{action}' TERM; touch /tmp/trap-set; while :; do sleep 0.1; done"),
        ]);
        // The script touches its marker once the trap is set; podman mounts
        // the container's root under its storage, so look there.
        let (_, mount, _) = self.run(&["mount", &name]);
        let marker = Path::new(mount.trim()).join("tmp/trap-set");
        assert!(
            wait_until(WAIT, || marker.exists()),
            "the script did not start"
        );
        name
    }

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

/// The containers.conf section for podman's CNI backend with the plugins
/// in `plugins` and the network configs in `confs`.
fn cni_backend(plugins: &Path, confs: &Path) -> String {
    format!(
        "\n[network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"{}\"]\n\
         network_config_dir = \"{}\"\n",
        plugins.display(),
        confs.display()
    )
}

/// podman's CNI backend with a conflist naming berth-cni: `podman run
/// --network NAME -p` gets its address from berth's IPAM on berth's bridge
/// (the network made by the first ADD), answers on the published port from
/// the host, and `podman rm` (DEL) releases the address and the port.
#[test]
fn podman_cni_backend_with_berth_cni() {
    let plugin = callers::CniNetwork::plugin();
    let pid = std::process::id();
    let net = callers::CniNetwork::new(
        "bcpod",
        std::env::temp_dir().join(format!("berth-podman-cni-{pid}")),
        format!("bcp{}", pid % 100_000),
        "10.213.179.0/24",
    );
    let podman = Podman::with_conf(|dir| {
        let (bin, confs) = (dir.join("cni-bin"), dir.join("cni-net.d"));
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&confs).unwrap();
        std::os::unix::fs::symlink(&plugin, bin.join("berth-cni")).unwrap();
        let conflist = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": net.name,
            "plugins": [net.plugin_config(serde_json::json!({"portMappings": true}))],
        });
        std::fs::write(confs.join("50-berth.conflist"), conflist.to_string()).unwrap();
        cni_backend(&bin, &confs)
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
    let v = net.inspect("running");
    assert_eq!(v["bridge"], serde_json::json!(net.bridge), "{v:#}");
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
    let v = net.inspect("removed");
    assert_eq!(v["addressesInUse"], 0, "{v:#}");
    assert_eq!(v["ports"], serde_json::json!([]), "{v:#}");
}

impl Podman {
    /// Runs podman and asserts that it exits 0; returns its stdout.
    #[track_caller]
    fn run_ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "podman {args:?}: {out} {err}");
        out
    }

    /// `podman inspect --format {{FIELD}} NAME`, trimmed.
    #[track_caller]
    fn inspect(&self, name: &str, field: &str) -> String {
        self.run_ok(&["inspect", "--format", &format!("{{{{{field}}}}}"), name])
            .trim()
            .to_owned()
    }

    /// Waits until `podman inspect` shows `.State.Status` `status`.
    #[track_caller]
    fn wait_status(&self, name: &str, status: &str) {
        let reached = wait_until(WAIT, || self.inspect(name, ".State.Status") == status);
        assert!(reached, "{name}: {}", self.inspect(name, ".State.Status"));
    }

    /// `podman exec NAME sh -c SCRIPT`, which must exit 0; its stdout.
    #[track_caller]
    fn exec_sh(&self, name: &str, script: &str) -> String {
        self.run_ok(&["exec", name, "sh", "-c", script])
    }
}

/// `podman pause` and `unpause` (the runtime's `pause`/`resume`): the
/// container's state in podman and in the runtime, and exec refused while
/// it is paused.
#[test]
fn podman_pause_and_unpause() {
    let podman = Podman::new();
    let name = podman.run_detached(&["sleep", "1000"]);
    podman.wait_status(&name, "running");
    podman.run_ok(&["pause", &name]);
    podman.wait_status(&name, "paused");
    let (code, _, err) = podman.run(&["exec", &name, "true"]);
    assert_ne!(code, 0, "exec in a paused container");
    assert!(
        err.contains("can only create exec sessions on running"),
        "{err}"
    );
    podman.run_ok(&["unpause", &name]);
    podman.wait_status(&name, "running");
    assert_eq!(podman.exec_sh(&name, "echo awake"), "awake\n");
    podman.run_ok(&["rm", "--force", "--time", "0", &name]);
}

/// `podman kill --signal TERM` reaches the container's trap (its exit code
/// is the trap's), `podman kill` (KILL) ends a container: exit code 137.
#[test]
fn podman_kill_term_and_kill() {
    let podman = Podman::new();
    let trapping = podman.run_trapping_term("exit 7");
    podman.run_ok(&["kill", "--signal", "TERM", &trapping]);
    podman.wait_status(&trapping, "exited");
    assert_eq!(podman.inspect(&trapping, ".State.ExitCode"), "7");

    let sleeping = podman.run_detached(&["sleep", "1000"]);
    podman.wait_status(&sleeping, "running");
    podman.run_ok(&["kill", &sleeping]);
    podman.wait_status(&sleeping, "exited");
    assert_eq!(podman.inspect(&sleeping, ".State.ExitCode"), "137");
    podman.run_ok(&["rm", &trapping, &sleeping]);
}

/// `podman update --memory` (the runtime's `update --resources FILE`): the
/// new limit is the container's cgroup's, read from inside.
#[test]
fn podman_update_memory() {
    let podman = Podman::new();
    let name = unique_name("pu");
    podman.run_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--memory",
        "64m",
        "localhost/berth-busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(podman.exec_sh(&name, callers::MEMORY_LIMIT), "67108864\n");
    podman.run_ok(&["update", "--memory", "96m", &name]);
    assert_eq!(podman.exec_sh(&name, callers::MEMORY_LIMIT), "100663296\n");
    podman.run_ok(&["rm", "--force", "--time", "0", &name]);
}

/// The interfaces of the network namespace a shell is in.
const LINKS: &str =
    "cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' | sort | tr '\\n' ' '; echo";

/// `--network none`: a namespace of its own with only lo; `--network
/// host`: the host's namespace.
#[test]
fn podman_network_none_and_host() {
    let podman = Podman::new();
    let script = format!("readlink /proc/self/ns/net; {LINKS}");
    let (code, out, err) = podman.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/berth-busybox",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(code, 0, "{err}");
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let host_ns = host_ns.to_str().unwrap();
    let (ns, links) = out.split_once('\n').unwrap_or_default();
    assert_ne!(ns, host_ns, "--network none shares the host's namespace");
    assert_eq!(links, "lo \n", "--network none");

    let (code, out, err) = podman.run(&[
        "run",
        "--rm",
        "--network",
        "host",
        "localhost/berth-busybox",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(code, 0, "{err}");
    let (ns, links) = out.split_once('\n').unwrap_or_default();
    assert_eq!(ns, host_ns, "--network host");
    assert!(links.contains("eth0 "), "--network host: {links}");
}

/// A network podman made (`podman network create`), removed with its
/// bridge and its CNI address store when dropped; with them what CNI's
/// plugins made for the first network of the host and never remove (the
/// firewall plugin's CNI-FORWARD and CNI-ADMIN chains, /var/lib/cni), when
/// the test's network was that first one.
struct PodmanNetwork<'a> {
    podman: &'a Podman,
    name: String,
    bridge: String,
    made_cni_chains: bool,
}

/// The chains CNI's firewall plugin adds to iptables' filter table, and the
/// rule that jumps to the first from FORWARD.
const CNI_CHAINS: [&str; 2] = ["CNI-FORWARD", "CNI-ADMIN"];
const CNI_FORWARD_JUMP: [&str; 6] = [
    "FORWARD",
    "-m",
    "comment",
    "--comment",
    "CNI firewall plugin rules",
    "-j",
];

/// `iptables ARGS`; whether it succeeded.
fn iptables(args: &[&str]) -> bool {
    Command::new("iptables")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl<'a> PodmanNetwork<'a> {
    /// podman 4.3 names the bridge itself (the first free `cni-podmanN`).
    #[track_caller]
    fn create(podman: &'a Podman, subnet: &str) -> Self {
        let mut net = Self {
            podman,
            name: unique_name("pnet"),
            bridge: String::new(),
            made_cni_chains: !iptables(&["-S", CNI_CHAINS[0]]),
        };
        podman.run_ok(&["network", "create", "--subnet", subnet, &net.name]);
        net.bridge = podman
            .run_ok(&[
                "network",
                "inspect",
                "--format",
                "{{.NetworkInterface}}",
                &net.name,
            ])
            .trim()
            .to_owned();
        assert!(net.bridge.starts_with("cni-podman"), "{:?}", net.bridge);
        net
    }
}

impl Drop for PodmanNetwork<'_> {
    fn drop(&mut self) {
        let _ = self
            .podman
            .cmd(&["network", "rm", "--force", &self.name])
            .output();
        if !self.bridge.is_empty() {
            let _ = Command::new("ip")
                .args(["link", "del", &self.bridge])
                .stderr(Stdio::null())
                .status();
        }
        let cni = Path::new("/var/lib/cni");
        let _ = std::fs::remove_dir_all(cni.join("networks").join(&self.name));
        // Each only when empty: another test's CNI network may be using them.
        for dir in [cni.join("networks"), cni.join("results"), cni.to_owned()] {
            let _ = std::fs::remove_dir(dir);
        }
        if self.made_cni_chains {
            let mut jump = vec!["-D"];
            jump.extend(CNI_FORWARD_JUMP);
            jump.push(CNI_CHAINS[0]);
            iptables(&jump);
            for chain in CNI_CHAINS {
                iptables(&["-F", chain]);
                iptables(&["-X", chain]);
            }
        }
    }
}

/// podman's CNI backend with its own network (Debian's bridge and
/// host-local plugins; the machine has no netavark): CNI made the network
/// namespace, podman hands it to the runtime by path, and the runtime
/// leaves it alone — the container is in that namespace, with lo and the
/// one eth0 CNI gave it, and the host reaches its listener over the bridge.
#[test]
fn podman_own_cni_network() {
    let podman = Podman::with_conf(|dir| {
        let confs = dir.join("cni-net.d");
        std::fs::create_dir_all(&confs).unwrap();
        cni_backend(Path::new("/usr/lib/cni"), &confs)
    });
    let net = PodmanNetwork::create(&podman, "10.213.191.0/24");
    let name = unique_name("pown");
    podman.run_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        &net.name,
        "localhost/berth-busybox",
        "sh",
        "-c",
        "while :; do echo hello-191 | nc -l -p 8191; done",
    ]);
    let ip = podman.inspect(
        &name,
        &format!(
            "(index .NetworkSettings.Networks \"{}\").IPAddress",
            net.name
        ),
    );
    assert!(ip.starts_with("10.213.191."), "{ip:?}");
    let sandbox = podman.inspect(&name, ".NetworkSettings.SandboxKey");
    let inode = std::fs::metadata(&sandbox)
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap_or_else(|e| panic!("{sandbox}: {e}"));
    let inside = podman.exec_sh(
        &name,
        &format!("readlink /proc/self/ns/net; {LINKS}; ip -4 -o addr show eth0"),
    );
    let mut lines = inside.lines();
    assert_eq!(
        lines.next(),
        Some(format!("net:[{inode}]").as_str()),
        "{inside}"
    );
    assert_eq!(lines.next(), Some("eth0 lo "), "{inside}");
    let addrs = lines.next().unwrap_or_default();
    assert!(addrs.contains(&format!("inet {ip}/24")), "{inside}");
    let got = callers::nc_from_host(&ip, 8191, WAIT);
    assert_eq!(
        got.as_deref(),
        Ok("hello-191\n"),
        "the host over CNI's bridge"
    );
    podman.run_ok(&["rm", "--force", "--time", "0", &name]);
    let bridge = net.bridge.clone();
    let mut needles = vec!["10.213.191.", &bridge];
    if net.made_cni_chains {
        needles.push("CNI-");
    }
    drop(net);
    let mut left = callers::firewall_lines_mentioning(&needles);
    left.extend(
        spec_tests::net::ip_links()
            .into_iter()
            .filter(|(link, master)| *link == bridge || master.as_deref() == Some(&bridge))
            .map(|(link, _)| format!("link {link}")),
    );
    assert_eq!(left, Vec::<String>::new(), "left by podman's network");
}

/// `podman run --annotation berth.network=NET:ip=...` (with podman's own
/// `--network none`, the runtime makes the namespace): berth attaches the
/// container to its network and the host reaches its listener over the
/// bridge. podman runs berth through a script that adds the test
/// network's `--state-dir`.
#[test]
fn podman_container_on_a_berth_network() {
    if !callers::runtime_is_berth() {
        // berth.network is berth's own annotation: runc has no networks.
        return;
    }
    let net = spec_tests::net::TestNet::create(192, false, &[]);
    let podman = Podman::with_runtime_and_conf(
        |dir| callers::berth_with_state_dir(dir, spec_tests::net::state_dir()),
        |_| String::new(),
    );
    let name = unique_name("pbn");
    let ip = net.ip(5);
    podman.run_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--annotation",
        &format!("berth.network={}:ip={ip}", net.name),
        "localhost/berth-busybox",
        "sh",
        "-c",
        "while :; do echo hello-192 | nc -l -p 8192; done",
    ]);
    let got = callers::nc_from_host(&ip, 8192, WAIT);
    assert_eq!(
        got.as_deref(),
        Ok("hello-192\n"),
        "the host over berth's bridge"
    );
    assert_eq!(net.containers().len(), 1, "{:#}", net.inspect());
    podman.run_ok(&["rm", "--force", "--time", "0", &name]);
    net.assert_ipam_empty();
}
