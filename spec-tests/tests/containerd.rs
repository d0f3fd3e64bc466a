//! containerd's shim (io.containerd.runc.v2) drives berth as it drives runc:
//! `ctr run --runc-binary berth` on a busybox rootfs. A private containerd
//! (its own config, root, state and socket) is started for the test and
//! stopped after it.
//!
//! `BERTH_TEST_RUNTIME=/usr/sbin/runc` runs the same tests with runc.

#[path = "common/grpc.rs"]
mod grpc;

use spec_tests::callers::{self, runtime_under_test};
use spec_tests::{make_busybox_rootfs, unique_name, wait_until, TestDir};
use std::ffi::{OsStr, OsString};
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

    fn ctr<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
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
    fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> (i32, String, String) {
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
        self.run(&run_args(
            &[flag],
            &runtime_under_test(),
            rootfs,
            id,
            &["sh", "-c", script],
        ))
    }

    /// What the runtime's root for our namespace holds: empty once every
    /// container is deleted.
    fn runtime_root_entries(&self) -> Vec<std::ffi::OsString> {
        std::fs::read_dir(self.runtime_root())
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default()
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

/// The arguments of `ctr run FLAGS --env PATH=... --runc-binary RUNTIME
/// --rootfs ROOTFS ID COMMAND...`.
fn run_args(
    flags: &[&str],
    runtime: &Path,
    rootfs: &Path,
    id: &str,
    command: &[&str],
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["run".into()];
    args.extend(flags.iter().map(OsString::from));
    args.extend(["--env".into(), PATH_ENV.into(), "--runc-binary".into()]);
    args.push(runtime.into());
    args.push("--rootfs".into());
    args.push(rootfs.into());
    args.push(id.into());
    args.extend(command.iter().map(OsString::from));
    args
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
    let left = ctd.runtime_root_entries();
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

impl Containerd {
    /// The pids `ctr task ps ID` lists (the shim asks the runtime's `ps
    /// --format json`).
    #[track_caller]
    fn task_pids(&self, id: &str) -> Vec<u32> {
        let (code, out, err) = self.run(&["task", "ps", id]);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    }

    /// The runtime's own `state` of `id`, in the shim's root.
    fn runtime_status(&self, id: &str) -> String {
        let out = Command::new(runtime_under_test())
            .arg("--root")
            .arg(self.runtime_root())
            .args(["state", id])
            .output()
            .unwrap();
        let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        state["status"].as_str().unwrap_or("").to_owned()
    }

    /// Kills, deletes the task and the container `id` (all must succeed).
    #[track_caller]
    fn remove(&self, id: &str) {
        let _ = self.run(&["task", "kill", "-s", "KILL", id]);
        self.wait_task_status("STOPPED");
        self.run_ok(&["task", "rm", id]);
        self.run_ok(&["container", "rm", id]);
        assert!(!self.runtime_root().join(id).exists());
    }
}

/// The command line of `pid` on the host, as one string.
fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .unwrap_or_default()
}

/// `ctr task ps` (the runtime's `ps`), `ctr task pause` and `resume` (the
/// runtime's `pause`/`resume`, seen in `ctr task ls`, in the runtime's state
/// and in the processes' freezer state), then `kill --all -s KILL` (the
/// runtime's `kill --all ID 9`) kills every process, and once more on the
/// stopped task succeeds (runc exits 0 there; the CRI plugin's StopContainer
/// depends on it).
#[test]
fn ctr_task_ps_pause_resume_and_kill_all() {
    let ctd = Containerd::start();
    let (_rootfs_dir, rootfs) = rootfs();
    let id = unique_name("ctrp");
    let (code, out, err) = ctd.run_sh(
        "-d",
        &rootfs,
        &id,
        "sleep 1001 & sleep 1002 & touch /started; wait",
    );
    assert_eq!(code, 0, "{out} {err}\n{}", ctd.log());
    ctd.wait_task_status("RUNNING");
    assert!(wait_until(WAIT, || rootfs.join("started").exists()));
    let pids = ctd.task_pids(&id);
    let mut lines: Vec<String> = pids.iter().map(|&p| cmdline(p)).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "sh -c sleep 1001 & sleep 1002 & touch /started; wait ",
            "sleep 1001 ",
            "sleep 1002 "
        ],
        "ctr task ps: {pids:?}"
    );

    ctd.run_ok(&["task", "pause", &id]);
    ctd.wait_task_status("PAUSED");
    assert_eq!(ctd.runtime_status(&id), "paused");
    ctd.run_ok(&["task", "resume", &id]);
    ctd.wait_task_status("RUNNING");
    assert_eq!(ctd.runtime_status(&id), "running");

    ctd.run_ok(&["task", "kill", "--all", "-s", "KILL", &id]);
    ctd.wait_task_status("STOPPED");
    let gone = wait_until(WAIT, || {
        pids.iter()
            .all(|p| !Path::new(&format!("/proc/{p}")).exists())
    });
    assert!(gone, "kill --all left some of {pids:?}");
    let (code, out, err) = ctd.run(&["task", "kill", "--all", "-s", "KILL", &id]);
    assert_eq!(code, 0, "kill --all of a stopped task: {out} {err}");
    ctd.run_ok(&["task", "rm", &id]);
    ctd.run_ok(&["container", "rm", &id]);
}

/// `ctr task kill -s TERM` reaches the container's init only (its trap runs
/// and it keeps going), `-s KILL` ends it: the attached `ctr run` exits with
/// the task's status, 137.
#[test]
fn ctr_task_kill_term_then_kill() {
    let ctd = Containerd::start();
    let (_rootfs_dir, rootfs) = rootfs();
    let id = unique_name("ctrk");
    let mut attached = ctd
        .ctr(&run_args(
            &["--rm"],
            &runtime_under_test(),
            &rootfs,
            &id,
            &[
                "sh",
                "-c",
                "trap 'touch /got-term' TERM; touch /trap-set; while :; do sleep 0.1; done",
            ],
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run ctr");
    assert!(
        wait_until(WAIT, || rootfs.join("trap-set").exists()),
        "the script did not start: {}",
        ctd.log()
    );
    ctd.run_ok(&["task", "kill", "-s", "TERM", &id]);
    assert!(
        wait_until(WAIT, || rootfs.join("got-term").exists()),
        "TERM did not reach the trap"
    );
    assert_eq!(ctd.runtime_status(&id), "running");
    ctd.run_ok(&["task", "kill", "-s", "KILL", &id]);
    let status = callers::wait_for_child(&mut attached, WAIT);
    assert_eq!(status.and_then(|s| s.code()), Some(137), "ctr run's exit");
}

/// A container whose binary is missing: ctr fails and shows the runtime's
/// message, and nothing is left in the runtime's root.
#[test]
fn ctr_shows_the_runtimes_error() {
    let ctd = Containerd::start();
    let (_rootfs_dir, rootfs) = rootfs();
    let id = unique_name("ctrf");
    let (code, out, err) = ctd.run(&run_args(
        &["--rm"],
        &runtime_under_test(),
        &rootfs,
        &id,
        &["/no/such/binary"],
    ));
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("/no/such/binary") && err.contains("no such file or directory"),
        "{err}"
    );
    let left = ctd.runtime_root_entries();
    assert!(left.is_empty(), "left in the runtime's root: {left:?}");
}

/// `ctr run --annotation berth.network=NET:ip=...`: berth attaches the
/// container (in the network namespace the shim asked it to make) to a
/// berth network, and the host reaches its listener over the bridge. The
/// shim runs berth through a script that adds the test network's
/// `--state-dir`.
#[test]
fn ctr_container_on_a_berth_network() {
    if !callers::runtime_is_berth() {
        // berth.network is berth's own annotation: runc has no networks.
        return;
    }
    let net = spec_tests::net::TestNet::create(190, false, &[]);
    let ctd = Containerd::start();
    let (_rootfs_dir, rootfs) = rootfs();
    let berth = callers::berth_with_state_dir(ctd.dir.path(), spec_tests::net::state_dir());
    let id = unique_name("ctrn");
    let ip = net.ip(5);
    let annotation = format!("berth.network={}:ip={ip}", net.name);
    let (code, out, err) = ctd.run(&run_args(
        &["-d", "--annotation", &annotation],
        &berth,
        &rootfs,
        &id,
        &[
            "sh",
            "-c",
            "while :; do echo hello-190 | nc -l -p 8190; done",
        ],
    ));
    assert_eq!(code, 0, "{out} {err}\n{}", ctd.log());
    ctd.wait_task_status("RUNNING");
    assert_eq!(
        net.containers(),
        std::slice::from_ref(&id),
        "{:#}",
        net.inspect()
    );
    let got = callers::nc_from_host(&ip, 8190, WAIT);
    assert_eq!(
        got.as_deref(),
        Ok("hello-190\n"),
        "the host over the bridge"
    );
    ctd.remove(&id);
    net.assert_ipam_empty();
}

/// A resource update through the shim (the runtime's `update --resources -
/// ID`): containerd's `Tasks.Update` with a memory limit, read from inside
/// before and after. ctr 1.6 has no `task update`, so the test calls the
/// API as containerd's Go client does (the LinuxResources as JSON in an
/// Any of containerd's type URL).
#[test]
fn task_update_through_the_shim() {
    let ctd = Containerd::start();
    let (_rootfs_dir, rootfs) = rootfs();
    let id = unique_name("ctru");
    let (code, out, err) = ctd.run(&run_args(
        &[
            "-d",
            "--memory-limit",
            "67108864",
            // ctr's default spec mounts no cgroupfs; this is runc spec's.
            "--mount",
            "type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro:nosuid:noexec:nodev",
        ],
        &runtime_under_test(),
        &rootfs,
        &id,
        &["sleep", "1000"],
    ));
    assert_eq!(code, 0, "{out} {err}\n{}", ctd.log());
    ctd.wait_task_status("RUNNING");
    let limit = |exec_id: &str| {
        let (code, out, err) = ctd.run(&[
            "task",
            "exec",
            "--exec-id",
            exec_id,
            &id,
            "sh",
            "-c",
            callers::MEMORY_LIMIT,
        ]);
        assert_eq!(code, 0, "{err}");
        out
    };
    assert_eq!(limit("m1"), "67108864\n");
    let tasks = grpc::Grpc::new(
        ctd.socket(),
        "containerd.services.tasks.v1.Tasks",
        &[("containerd-namespace", &ctd.namespace)],
    );
    let resources = serde_json::json!({"memory": {"limit": 100_663_296}}).to_string();
    let any = grpc::Msg::default()
        .str(
            1,
            "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
        )
        .bytes(2, resources.as_bytes());
    tasks.ok("Update", grpc::Msg::default().str(1, &id).msg(2, any));
    assert_eq!(limit("m2"), "100663296\n");
    ctd.remove(&id);
}
