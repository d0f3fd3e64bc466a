//! containerd's shim (io.containerd.runc.v2) drives berth as it drives runc:
//! `ctr run --runc-binary berth` on a busybox rootfs. A private containerd
//! (its own config, root, state and socket) is started for the test and
//! stopped after it.
//!
//! `BERTH_TEST_RUNTIME=/usr/sbin/runc` runs the same tests with runc.

use spec_tests::callers::{self, runtime_under_test};
use spec_tests::{make_busybox_rootfs, unique_name, wait_until, TestDir};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
/// `ctr run --rootfs` has no image config to take an environment from, and
/// the runtime finds `sh` only on the container's own PATH (runc's rule).
const PATH_ENV: &str = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
/// containerd's socket, in its directory.
const SOCKET: &str = "c.sock";

struct Containerd {
    child: Child,
    dir: TestDir,
    namespace: String,
}

impl Containerd {
    fn start() -> Self {
        callers::require("/usr/bin/containerd", "containerd");
        callers::require("/usr/bin/ctr", "containerd");
        let dir = TestDir::new("containerd");
        let d = dir.path();
        let config = d.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n\
                 [debug]\n  address = \"\"\n",
                root = d.join("root").display(),
                state = d.join("state").display(),
                sock = d.join(SOCKET).display(),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let child = Command::new("/usr/bin/containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let ctd = Self {
            child,
            dir,
            namespace: unique_name("berthtest"),
        };
        let up = wait_until(WAIT, || {
            ctd.ctr(&["version"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
        assert!(up, "containerd did not come up: {}", ctd.log());
        ctd
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join(SOCKET)
    }

    fn ctr(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("/usr/bin/ctr");
        cmd.arg("--address")
            .arg(self.socket())
            .arg("--namespace")
            .arg(&self.namespace)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs ctr, returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        callers::outcome(self.ctr(args))
    }

    /// Runs ctr and asserts that it exits 0 (its stderr in the message).
    #[track_caller]
    fn run_ok(&self, args: &[&str]) {
        let (code, _, err) = self.run(args);
        assert_eq!(code, 0, "{err}");
    }

    /// `ctr run FLAG --runc-binary berth --rootfs ROOTFS ID sh -c SCRIPT`:
    /// the shim runs the script with berth. Returns what [`Self::run`] does.
    fn run_sh(&self, flag: &str, rootfs: &Path, id: &str, script: &str) -> (i32, String, String) {
        self.run(&[
            "run",
            flag,
            "--env",
            PATH_ENV,
            "--runc-binary",
            runtime_under_test().to_str().unwrap(),
            "--rootfs",
            rootfs.to_str().unwrap(),
            id,
            "sh",
            "-c",
            script,
        ])
    }

    /// Waits until `ctr task ls` shows `status`; fails showing the listing.
    #[track_caller]
    fn wait_task_status(&self, status: &str) {
        let reached = wait_until(WAIT, || self.run(&["task", "ls"]).1.contains(status));
        assert!(reached, "{}", self.run(&["task", "ls"]).1);
    }

    /// The shim's runc root for our namespace: the runtime's state lives there.
    fn runtime_root(&self) -> PathBuf {
        PathBuf::from("/run/containerd/runc").join(&self.namespace)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Whatever a failed test left: tasks, containers, then the daemon.
        if let Ok(ids) = std::fs::read_dir(self.runtime_root()) {
            for id in ids.filter_map(|e| e.ok()?.file_name().into_string().ok()) {
                let _ = self.ctr(&["task", "kill", "-s", "KILL", &id]).output();
                std::thread::sleep(Duration::from_millis(200));
                let _ = self.ctr(&["task", "rm", "-f", &id]).output();
                let _ = self.ctr(&["container", "rm", &id]).output();
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(self.runtime_root());
        // The shim's cgroupsPath is /<namespace>/<id>: the parent stays.
        spec_tests::remove_cgroup_tree(&self.namespace);
    }
}

/// A busybox rootfs: the directory that holds it (removed when dropped)
/// and the rootfs's path.
fn rootfs() -> (TestDir, PathBuf) {
    let dir = TestDir::new("ctd-rootfs");
    let rootfs = dir.path().join("rootfs");
    make_busybox_rootfs(&rootfs);
    (dir, rootfs)
}

#[test]
fn ctr_run_through_the_shim() {
    let ctd = Containerd::start();
    let (_rootfs_dir, rootfs) = rootfs();
    let id = unique_name("ctr");
    let (code, out, err) = ctd.run_sh(
        "--rm",
        &rootfs,
        &id,
        "echo hello from berth under containerd; echo to-stderr >&2; exit 3",
    );
    assert_eq!(code, 3, "stdout {out:?} stderr {err:?}\n{}", ctd.log());
    assert_eq!(out, "hello from berth under containerd\n");
    assert!(err.contains("to-stderr"), "{err:?}");
    // --rm: the shim deleted it through berth.
    let left: Vec<_> = std::fs::read_dir(ctd.runtime_root())
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in berth's root: {left:?}");
}

#[test]
fn ctr_detached_task_kill_and_delete() {
    let ctd = Containerd::start();
    let (_rootfs_dir, rootfs) = rootfs();
    let id = unique_name("ctrd");
    let (code, out, err) = ctd.run_sh(
        "-d",
        &rootfs,
        &id,
        "trap 'exit 0' TERM; touch /trap-set; while :; do sleep 0.1; done",
    );
    assert_eq!(code, 0, "{out} {err}\n{}", ctd.log());
    ctd.wait_task_status("RUNNING");
    // The runtime's own view of it, in the shim's root.
    let state = Command::new(runtime_under_test())
        .arg("--root")
        .arg(ctd.runtime_root())
        .args(["state", &id])
        .output()
        .unwrap();
    let state: serde_json::Value = serde_json::from_slice(&state.stdout).unwrap();
    assert_eq!(state["status"], "running");
    assert!(
        wait_until(WAIT, || rootfs.join("trap-set").exists()),
        "the container's script did not start"
    );
    ctd.run_ok(&["task", "kill", &id]);
    ctd.wait_task_status("STOPPED");
    ctd.run_ok(&["task", "rm", &id]);
    ctd.run_ok(&["container", "rm", &id]);
    assert!(!ctd.runtime_root().join(&id).exists());
}

impl Containerd {
    /// `ctr ARGS` as one shell line, for [`spec_tests::run_in_terminal`].
    fn line(&self, args: &str) -> String {
        format!(
            "/usr/bin/ctr --address {} --namespace {} {args}",
            self.socket().display(),
            self.namespace,
        )
    }
}

#[test]
fn ctr_run_with_a_terminal() {
    let ctd = Containerd::start();
    let (_rootfs_dir, rootfs) = rootfs();
    let id = unique_name("ctrt");
    // ctr -t needs a terminal of its own: script(1) gives it one.
    let line = ctd.line(&format!(
        "run --rm -t --env {PATH_ENV} --runc-binary {} --rootfs {} {id} sh -c 'tty; exit 5'",
        runtime_under_test().display(),
        rootfs.display(),
    ));
    callers::in_terminal(&line, 5);
}

/// `ctr task exec` (the shim calls `berth exec --process F --detach
/// --pid-file P [--console-socket S]`), with and without a terminal.
#[test]
fn ctr_task_exec_with_and_without_a_terminal() {
    let ctd = Containerd::start();
    let (_rootfs_dir, rootfs) = rootfs();
    let id = unique_name("ctre");
    let (code, out, err) = ctd.run_sh("-d", &rootfs, &id, "sleep 1000");
    assert_eq!(code, 0, "{out} {err}\n{}", ctd.log());
    ctd.wait_task_status("RUNNING");
    let (code, out, err) = ctd.run(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "sh",
        "-c",
        "echo in-exec; [ -t 1 ] || echo no-tty; exit 6",
    ]);
    assert_eq!(code, 6, "{out} {err}\n{}", ctd.log());
    assert_eq!(out, "in-exec\nno-tty\n", "{err}");
    let line = ctd.line(&format!(
        "task exec -t --exec-id e2 {id} sh -c 'tty; exit 7'"
    ));
    callers::in_terminal(&line, 7);
    // A missing binary: the runtime's message reaches the ctr user.
    let (code, _, err) = ctd.run(&["task", "exec", "--exec-id", "e3", &id, "no-such-binary"]);
    assert_ne!(code, 0);
    assert!(err.contains("no-such-binary"), "{err}");
    ctd.run_ok(&["task", "kill", "-s", "KILL", &id]);
    ctd.wait_task_status("STOPPED");
    ctd.run_ok(&["task", "rm", &id]);
    ctd.run_ok(&["container", "rm", &id]);
}
