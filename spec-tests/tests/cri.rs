//! A Kubernetes node without kubelet: the test speaks CRI (gRPC,
//! `runtime.v1`) to a containerd it starts with its CRI plugin on, the
//! runtime under test as the RuntimeClass handler `berth` (a
//! `runtimes.berth` entry of type io.containerd.runc.v2 whose BinaryName is
//! the runtime), pod networks from a CNI plugin (`Cni`: Debian's bridge +
//! host-local on 10.213.220.0/24, on a bridge the test makes, or berth's
//! own `berth-cni` on 10.213.221.0/24), and the pause and busybox images
//! built locally with umoci and imported with `ctr -n k8s.io images
//! import`.
//!
//! One pod goes through kubelet's calls: RunPodSandbox, PodSandboxStatus,
//! CreateContainer + StartContainer of three containers (an httpd, a
//! shell, one that exits at once), ExecSync, ContainerStatus,
//! ContainerStats, UpdateContainerResources, StopContainer (also of the
//! one whose process has already exited: containerd then calls `kill --all
//! ID 9`), RemoveContainer, StopPodSandbox, RemovePodSandbox; the pod's IP
//! is reached from the host. Then containerd is stopped by pid and nothing
//! may be left: no process of its own, no mount under its directories, no
//! link on the bridge, no cgroup under the pod's parent, no address held
//! by host-local or by berth's IPAM, no firewall rule naming the bridge or
//! subnet (with berth-cni: once the test has removed the network).
//!
//! The client is a few lines of protobuf and HTTP/2 (`common/grpc.rs`):
//! the fields below carry the numbers of CRI's api.proto (k8s.io/cri-api,
//! runtime/v1).
//!
//! `BERTH_TEST_RUNTIME=/usr/sbin/runc` runs the same test with runc.

use spec_tests::callers::{self, runtime_under_test};
use spec_tests::{unique_name, wait_until, TestDir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);
const PAUSE_IMAGE: &str = "localhost/berth:pause";
const BUSYBOX_IMAGE: &str = "localhost/berth:busybox";

/// The containerd config the test uses (README: "Using berth with
/// Kubernetes"): the CRI plugin with the runtime under test as handler
/// `berth`, CNI plugins from `cni_bin`. `restrict_oom_score_adj`: this
/// machine gives root no CAP_SYS_RESOURCE, so the pause container's -998
/// cannot be set; containerd then keeps every score at or above its own.
fn containerd_config(dir: &Path, runtime: &Path, cni_bin: &Path) -> String {
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"

[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "berth"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth.options]
      BinaryName = "{runtime}"
      Root = "{d}/runtime-root"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{d}/net.d"
"#,
        d = dir.display(),
        runtime = runtime.display(),
        cni_bin = cni_bin.display(),
    )
}

/// The CNI network of the pods: Debian's bridge and host-local plugins on a
/// bridge the test makes and addresses (isGateway false: the plugin then
/// leaves the host's forwarding alone; ipMasq false: no firewall rule).
fn cni_config(bridge: &str, data_dir: &Path) -> String {
    format!(
        r#"{{
  "cniVersion": "0.4.0",
  "name": "berth-pods",
  "plugins": [
    {{
      "type": "bridge",
      "bridge": "{bridge}",
      "isGateway": false,
      "ipMasq": false,
      "ipam": {{
        "type": "host-local",
        "dataDir": "{data}",
        "ranges": [[{{ "subnet": "10.213.{octet}.0/24", "rangeStart": "10.213.{octet}.10" }}]]
      }}
    }}
  ]
}}
"#,
        data = data_dir.display(),
        octet = Cni::Debian.octet(),
    )
}

/// The CNI plugins the node's pods get their network from.
#[derive(Clone, Copy)]
enum Cni {
    /// Debian's bridge and host-local (`cni_config`).
    Debian,
    /// berth's `berth-cni`: a berth network of the test's own state dir,
    /// made by the first ADD from the conflist's inline keys.
    Berth,
}

impl Cni {
    /// The third octet of the pod network, 10.213.OCTET.0/24.
    fn octet(self) -> u8 {
        match self {
            Cni::Debian => 220,
            Cni::Berth => 221,
        }
    }

    /// The pod network's addresses: `10.213.OCTET.`.
    fn prefix(self) -> String {
        format!("10.213.{}.", self.octet())
    }
}

/// Where Debian's containernetworking-plugins are.
const DEBIAN_CNI_BIN: &str = "/usr/lib/cni";

/// The directory of the README's node: its containerd's own root, state,
/// socket, runtime root and CNI config.
const README_NODE: &str = "/var/lib/berth-node";

#[test]
fn readme_shows_the_containerd_and_cni_configs() {
    let dir = Path::new(README_NODE);
    callers::assert_readme_shows(&containerd_config(
        dir,
        Path::new(callers::README_BERTH),
        Path::new(DEBIAN_CNI_BIN),
    ));
    callers::assert_readme_shows(&cni_config("cni-berth0", &dir.join("cni-ipam")));
}

#[path = "common/grpc.rs"]
mod grpc;
use grpc::{int_at, string_at, Grpc, Msg};

// ---- the node ----

struct Node {
    child: Option<Child>,
    cni: Cni,
    /// With `Cni::Berth`: the network, removed when dropped (before `dir`,
    /// which holds its state dir).
    berth_network: Option<callers::CniNetwork>,
    dir: TestDir,
    bridge: String,
    cgroup_parent: String,
    cri: Grpc,
    _lock: std::fs::File,
}

impl Node {
    fn start(cni: Cni) -> Self {
        for (binary, package) in [
            ("/usr/bin/containerd", "containerd"),
            ("/usr/bin/ctr", "containerd"),
            ("/usr/bin/umoci", "umoci"),
            ("/usr/lib/cni/bridge", "containernetworking-plugins"),
            ("/usr/lib/cni/host-local", "containernetworking-plugins"),
            ("/usr/lib/cni/loopback", "containernetworking-plugins"),
        ] {
            callers::require(binary, package);
        }
        let lock = callers::lock_host("/run/berth-cri-tests.lock");
        let dir = TestDir::new("cri");
        let d = dir.path().to_owned();
        let pid = std::process::id() % 1_000_000;
        let bridge = match cni {
            Cni::Debian => format!("bcri{pid}"),
            Cni::Berth => format!("bcnet{pid}"),
        };
        let mut node = Self {
            child: None,
            cni,
            berth_network: None,
            cri: Grpc::new(d.join("containerd.sock"), "runtime.v1.RuntimeService", &[]),
            dir,
            bridge,
            cgroup_parent: format!("/{}", unique_name("berth-cri")),
            _lock: lock,
        };
        std::fs::create_dir_all(d.join("net.d")).unwrap();
        let (conflist, cni_bin) = match cni {
            Cni::Debian => {
                node.make_bridge();
                let conflist = cni_config(&node.bridge, &d.join("cni-ipam"));
                (conflist, Path::new(DEBIAN_CNI_BIN).to_owned())
            }
            Cni::Berth => node.berth_cni(),
        };
        std::fs::write(d.join("net.d/10-berth-pods.conflist"), conflist).unwrap();
        std::fs::write(
            d.join("config.toml"),
            containerd_config(&d, &runtime_under_test(), &cni_bin),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let child = Command::new("/usr/bin/containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        node.child = Some(child);
        let up = wait_until(WAIT, || {
            node.cri
                .call("Version", Msg::default().str(1, "v1"))
                .is_ok()
        });
        assert!(up, "containerd's CRI did not come up: {}", node.log());
        node.import_images();
        node
    }

    /// Debian's bridge plugin's bridge, made and addressed by the test.
    fn make_bridge(&self) {
        callers::ip(&["link", "add", &self.bridge, "type", "bridge"]);
        let gateway = format!("{}1/24", self.cni.prefix());
        callers::ip(&["addr", "add", &gateway, "dev", &self.bridge]);
        callers::ip(&["link", "set", &self.bridge, "up"]);
    }

    /// The conflist naming berth-cni and the CNI bin dir holding it (and
    /// the loopback plugin, which containerd runs for every pod's `lo`).
    fn berth_cni(&mut self) -> (String, PathBuf) {
        let d = self.dir.path();
        let bin = d.join("cni-bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(callers::CniNetwork::plugin(), bin.join("berth-cni")).unwrap();
        std::os::unix::fs::symlink(
            Path::new(DEBIAN_CNI_BIN).join("loopback"),
            bin.join("loopback"),
        )
        .unwrap();
        let net = callers::CniNetwork::new(
            "bcripods",
            d.join("berth-state"),
            self.bridge.clone(),
            &format!("{}0/24", self.cni.prefix()),
        );
        let conflist = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": net.name,
            "plugins": [net.plugin_config(serde_json::json!({}))],
        });
        self.berth_network = Some(net);
        (conflist.to_string(), bin)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// The busybox image (command sh) and the pause image (the same rootfs
    /// sleeping), made with umoci and imported into the k8s.io namespace.
    fn import_images(&self) {
        let d = self.dir.path();
        let layout = d.join("image");
        let layout_s = layout.to_str().unwrap();
        let bundle = d.join("image-bundle");
        let umoci = |args: &[&str]| {
            let out = Command::new("/usr/bin/umoci")
                .args(args)
                .output()
                .expect("run umoci");
            assert!(
                out.status.success(),
                "umoci {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let busybox = format!("{layout_s}:busybox");
        umoci(&["init", "--layout", layout_s]);
        umoci(&["new", "--image", &busybox]);
        umoci(&["unpack", "--image", &busybox, bundle.to_str().unwrap()]);
        spec_tests::make_busybox_rootfs(&bundle.join("rootfs"));
        umoci(&["repack", "--image", &busybox, bundle.to_str().unwrap()]);
        umoci(&["config", "--image", &busybox, "--config.cmd", "sh"]);
        umoci(&[
            "config",
            "--image",
            &busybox,
            "--tag",
            "pause",
            "--config.entrypoint",
            "/bin/sleep",
            "--config.cmd",
            "2147483647",
        ]);
        let _ = std::fs::remove_dir_all(&bundle);
        let tar = d.join("images.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .expect("run tar");
        assert!(status.success(), "tar of the image layout failed");
        let out = Command::new("/usr/bin/ctr")
            .arg("--address")
            .arg(d.join("containerd.sock"))
            .args([
                "-n",
                "k8s.io",
                "images",
                "import",
                "--base-name",
                "localhost/berth",
            ])
            .arg(&tar)
            .output()
            .expect("run ctr images import");
        assert!(
            out.status.success(),
            "ctr images import: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops containerd by pid and waits for it.
    fn stop(&mut self) -> bool {
        match self.child.take() {
            Some(child) => callers::stop_by_pid(child, WAIT).is_some(),
            None => true,
        }
    }

    /// What the stopped node left: processes, mounts, links on the bridge,
    /// cgroups, addresses held by host-local, firewall rules; with
    /// berth-cni, once the test removed the network, its bridge.
    fn leftovers(&self) -> Vec<String> {
        let d = self.dir.path();
        let subnet = self.cni.prefix();
        let mut left = callers::leftovers(d, &self.bridge, &self.cgroup_parent, &[&subnet]);
        let held = d.join("cni-ipam/berth-pods");
        if let Ok(rd) = std::fs::read_dir(&held) {
            left.extend(
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("10.213."))
                    .map(|n| format!("host-local still holds {n}")),
            );
        }
        if self.berth_network.is_some() {
            left.extend(
                spec_tests::net::ip_links()
                    .into_iter()
                    .filter(|(name, _)| *name == self.bridge)
                    .map(|(name, _)| format!("berth's bridge {name}")),
            );
        }
        left
    }

    fn clean_up(&mut self) {
        // berth's network first: its `rm` also takes its firewall elements.
        if let Some(net) = &self.berth_network {
            let _ = net.remove();
        }
        callers::remove_daemon_remains(self.dir.path(), &self.bridge, &self.cgroup_parent);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
        // Containers a failed test left: the runtime's own root.
        let root = self.dir.path().join("runtime-root");
        for ns in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            for id in std::fs::read_dir(ns.path()).into_iter().flatten().flatten() {
                let _ = Command::new(runtime_under_test())
                    .arg("--root")
                    .arg(ns.path())
                    .args(["delete", "--force"])
                    .arg(id.file_name())
                    .output();
            }
        }
        for p in callers::processes_mentioning(&self.dir.path().display().to_string()) {
            if let Some(pid) = p.split(':').next().and_then(|s| s.parse::<i32>().ok()) {
                // SAFETY: kill(2) of a shim this test's containerd started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        self.clean_up();
    }
}

// ---- CRI messages ----

fn pod_config(name: &str, log_dir: &Path, cgroup_parent: &str) -> Msg {
    let metadata = Msg::default()
        .str(1, name)
        .str(2, &format!("uid-{name}"))
        .str(3, "default");
    Msg::default()
        .msg(1, metadata)
        .str(2, "berth-pod")
        .str(3, log_dir.to_str().unwrap())
        .msg(8, Msg::default().str(1, cgroup_parent))
}

fn container_config(name: &str, command: &[&str]) -> Msg {
    Msg::default()
        .msg(1, Msg::default().str(1, name))
        .msg(2, Msg::default().str(1, BUSYBOX_IMAGE))
        .strs(3, command)
        .str(11, &format!("{name}.log"))
}

/// CRI's ContainerState: CREATED 0, RUNNING 1, EXITED 2, UNKNOWN 3.
const RUNNING: u64 = 1;
const EXITED: u64 = 2;

impl Node {
    fn create_and_start(&self, pod: &str, config: &Msg, name: &str, command: &[&str]) -> String {
        let answer = self.cri.ok(
            "CreateContainer",
            Msg::default()
                .str(1, pod)
                .msg(2, container_config(name, command))
                .msg(3, config.clone()),
        );
        let id = string_at(&answer, &[1]);
        assert!(!id.is_empty(), "CreateContainer gave no id");
        self.cri.ok("StartContainer", Msg::default().str(1, &id));
        id
    }

    /// ContainerStatus: (state, exit code).
    fn status(&self, id: &str) -> (u64, u64) {
        let answer = self.cri.ok("ContainerStatus", Msg::default().str(1, id));
        (int_at(&answer, &[1], 3), int_at(&answer, &[1], 7))
    }

    /// ExecSync: (exit code, stdout, stderr).
    fn exec_sync(&self, id: &str, cmd: &[&str]) -> (u64, String, String) {
        let answer = self.cri.ok(
            "ExecSync",
            Msg::default().str(1, id).strs(2, cmd).int(3, 30),
        );
        (
            int_at(&answer, &[], 3),
            string_at(&answer, &[1]),
            string_at(&answer, &[2]),
        )
    }
}

#[test]
fn cri_pod_lifecycle_on_a_kubernetes_node() {
    pod_lifecycle(Cni::Debian);
}

/// The same pod on a berth network: berth-cni gives the pod its address
/// from berth's IPAM and takes it back on StopPodSandbox, whatever the
/// runtime; the test then removes the network, and the node's leftovers
/// include berth's firewall elements of the network and its bridge.
#[test]
fn cri_pod_lifecycle_with_berth_cni() {
    pod_lifecycle(Cni::Berth);
}

/// kubelet's calls on one pod (the module's doc), its network from `cni`.
fn pod_lifecycle(cni: Cni) {
    let mut node = Node::start(cni);
    let logs = node.dir.path().join("pod-logs");
    std::fs::create_dir_all(&logs).unwrap();
    let config = pod_config(&unique_name("pod"), &logs, &node.cgroup_parent);

    // RunPodSandbox with the handler a RuntimeClass names.
    let answer = node.cri.ok(
        "RunPodSandbox",
        Msg::default().msg(1, config.clone()).str(2, "berth"),
    );
    let pod = string_at(&answer, &[1]);
    assert!(!pod.is_empty(), "RunPodSandbox gave no id");
    let status = node.cri.ok("PodSandboxStatus", Msg::default().str(1, &pod));
    let pod_ip = string_at(&status, &[1, 5, 1]);
    assert!(
        pod_ip.starts_with(&cni.prefix()),
        "the pod's IP {pod_ip:?} is not from CNI's range\n{}",
        node.log()
    );
    assert_eq!(string_at(&status, &[1, 9]), "berth", "runtime_handler");
    if let Some(net) = &node.berth_network {
        let v = net.inspect("RunPodSandbox");
        assert_eq!(v["bridge"], serde_json::json!(net.bridge), "{v:#}");
        assert_eq!(v["addressesInUse"], 1, "{v:#}");
        assert_eq!(
            v["containers"][0]["ipv4"],
            serde_json::json!(format!("{pod_ip}/24")),
            "{v:#}"
        );
        let id = v["containers"][0]["id"].as_str().unwrap_or("");
        assert!(id.starts_with("cni:"), "{v:#}");
    }

    // Two long-running containers in the pod: they share its netns.
    let web = node.create_and_start(
        &pod,
        &config,
        "web",
        &[
            "sh",
            "-c",
            "echo served-by-the-pod > /tmp/index.html; exec httpd -f -p 8080 -h /tmp",
        ],
    );
    let shell = node.create_and_start(
        &pod,
        &config,
        "shell",
        &[
            "sh",
            "-c",
            "trap 'exit 0' TERM; while :; do sleep 0.1; done",
        ],
    );
    assert_eq!(node.status(&web).0, RUNNING);
    assert_eq!(node.status(&shell).0, RUNNING);

    // The pod's IP from the host.
    spec_tests::net::wait_http(
        &format!("{pod_ip}:8080"),
        "served-by-the-pod",
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("{pod_ip}:8080 from the host: {e}"));

    // ExecSync: in the shell container, the web one is on localhost.
    let (code, out, err) = node.exec_sync(
        &shell,
        &[
            "sh",
            "-c",
            "wget -q -O - http://127.0.0.1:8080/; hostname; exit 3",
        ],
    );
    assert_eq!(code, 3, "{out} {err}");
    assert_eq!(out, "served-by-the-pod\nberth-pod\n", "{err}");

    // ContainerStats: the shim reads the container's cgroup.
    let stats = node.cri.ok("ContainerStats", Msg::default().str(1, &web));
    let working_set = int_at(&stats, &[1, 3, 2], 1);
    let cpu = int_at(&stats, &[1, 2, 2], 1);
    assert!(working_set > 0, "memory working set {working_set}");
    assert!(cpu > 0, "cpu usage {cpu}");

    // UpdateContainerResources: the shim's `update --resources -`.
    let resources = Msg::default()
        .int(3, 512)
        .int(4, 64 << 20)
        .int(10, 64 << 20);
    node.cri.ok(
        "UpdateContainerResources",
        Msg::default().str(1, &shell).msg(2, resources),
    );
    let (code, out, err) = node.exec_sync(
        &shell,
        &[
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares \
             2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.weight",
        ],
    );
    assert_eq!(code, 0, "{out} {err}");
    let expected = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "67108864\n20\n"
    } else {
        "67108864\n512\n"
    };
    assert_eq!(out, expected, "{err}");

    // A container whose process has already exited: StopContainer makes
    // containerd call `kill --all ID 9` on a stopped container.
    let done = node.create_and_start(&pod, &config, "done", &["true"]);
    assert!(
        wait_until(WAIT, || node.status(&done).0 == EXITED),
        "the container running `true` did not exit"
    );
    for id in [&shell, &web, &done] {
        let started = Instant::now();
        // httpd, pid 1 of its container, has no TERM handler: KILL after 2 s.
        node.cri
            .ok("StopContainer", Msg::default().str(1, id).int(2, 2));
        assert!(
            started.elapsed() < Duration::from_secs(7),
            "StopContainer took {:?}",
            started.elapsed()
        );
        assert_eq!(node.status(id).0, EXITED);
    }
    assert_eq!(node.status(&shell).1, 0, "TERM did not reach the trap");
    for id in [&shell, &web, &done] {
        node.cri.ok("RemoveContainer", Msg::default().str(1, id));
    }
    node.cri.ok("StopPodSandbox", Msg::default().str(1, &pod));
    node.cri.ok("RemovePodSandbox", Msg::default().str(1, &pod));
    if let Some(net) = &node.berth_network {
        let v = net.inspect("RemovePodSandbox");
        assert_eq!(v["addressesInUse"], 0, "{v:#}");
        assert_eq!(v["containers"], serde_json::json!([]), "{v:#}");
    }

    // The node, stopped: nothing of the pod or of containerd is left.
    assert!(node.stop(), "containerd did not stop: {}", node.log());
    if let Some(net) = &node.berth_network {
        net.remove()
            .unwrap_or_else(|e| panic!("network rm {}: {e}", net.name));
    }
    let left = callers::settled(|| node.leftovers());
    node.clean_up();
    assert!(left.is_empty(), "left behind: {left:#?}");
}
