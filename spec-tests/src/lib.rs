//! Helpers for the conformance tests: they run the real `berth` binary (or
//! runc, to compare) on real bundles made from Debian's busybox-static, and
//! look from inside the container at what it got.
//!
//! - [`Bundle`]: a bundle in a fresh temporary directory: `rootfs/` with
//!   `/bin/busybox` and its applet links, `config.json` from `berth spec`,
//!   edited as a [`serde_json::Value`] and saved before every create/run.
//! - [`Runtime`]: a runtime binary with a `--root` (and network state dir)
//!   of its own, so tests running in parallel never see each other's
//!   containers. Every command runs with a timeout, its stdout and stderr
//!   going to files (never to pipes that a detached container could keep
//!   open). Dropping it runs `delete --force` on every container left in its
//!   root and removes its directories: nothing is left, also when a test fails.
//!
//! The binary is `$BERTH`, else `target/x86_64-unknown-linux-gnu/release/berth` of this workspace.
//! The tests need root (namespaces, mounts, cgroups).

pub mod callers;
pub mod cgroups_util;
pub mod dockerd;
pub mod net;

use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long one runtime command may take before the test fails
/// (`BERTH_TEST_TIMEOUT`, seconds).
pub fn command_timeout() -> Duration {
    let secs = std::env::var("BERTH_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// The workspace's top directory.
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("spec-tests is inside the workspace")
        .to_owned()
}

/// The berth binary under test: `$BERTH` (a relative path is taken from the
/// workspace's top directory: the tests run in `spec-tests/`), else
/// `target/x86_64-unknown-linux-gnu/release/berth`.
pub fn berth_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("BERTH") {
        return workspace_dir().join(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target"));
    let path = target.join("x86_64-unknown-linux-gnu/release/berth");
    assert!(
        path.exists(),
        "{} does not exist: run `cargo build --release` first, or set BERTH",
        path.display()
    );
    path
}

/// runc, for comparisons (`$RUNC`, else the one on PATH).
pub fn runc_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("RUNC") {
        return Some(PathBuf::from(path));
    }
    ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A name no other test (in this or another test process) uses: for
/// container ids, which also name cgroups on the host.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos & 0xffff)
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the spec-tests run containers and need root (euid is {euid})"
    );
}

/// A directory removed (recursively) when dropped.
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    pub fn new(prefix: &str) -> Self {
        let base = std::env::temp_dir().join("berth-spec-tests");
        fs::create_dir_all(&base).expect("create the tests' temporary directory");
        let path = base.join(unique_name(prefix));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("spec-tests: removing {}: {e}", self.path.display());
            }
        }
    }
}

/// The static busybox the tests use: `$BUSYBOX`, else /bin/busybox
/// (Debian's busybox-static); panics when it is missing.
pub fn busybox() -> PathBuf {
    let busybox = std::env::var_os("BUSYBOX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/bin/busybox"));
    assert!(
        busybox.exists(),
        "{} is missing: apt-get install busybox-static",
        busybox.display()
    );
    busybox
}

/// Makes `rootfs` a busybox root: /bin/busybox (static), a symlink per
/// applet where busybox would install it, a minimal /etc.
pub fn make_busybox_rootfs(rootfs: &Path) {
    let busybox = busybox();
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "var",
        "run",
    ] {
        fs::create_dir_all(rootfs.join(dir)).expect("mkdir in rootfs");
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod");
    fs::copy(&busybox, rootfs.join("bin/busybox")).expect("copy busybox");
    let list = Command::new(&busybox)
        .arg("--list-full")
        .output()
        .expect("busybox --list-full");
    assert!(list.status.success(), "busybox --list-full failed");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim().trim_start_matches('/');
        if applet.is_empty() || applet.ends_with("/busybox") || applet == "busybox" {
            continue;
        }
        let link = rootfs.join(applet);
        if link.symlink_metadata().is_ok() {
            continue;
        }
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).expect("mkdir applet dir");
        }
        std::os::unix::fs::symlink("/bin/busybox", &link).expect("applet symlink");
    }
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("write passwd");
    fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n",
    )
    .expect("write group");
}

/// An OCI bundle in its own temporary directory.
pub struct Bundle {
    dir: TestDir,
    /// config.json, written by [`Bundle::save`] (the runtime helpers save
    /// it before every create and run).
    pub config: Value,
}

impl Bundle {
    /// A busybox bundle whose process runs `args`; the config is
    /// `berth spec`'s default (no terminal).
    pub fn new(args: &[&str]) -> Self {
        require_root();
        let dir = TestDir::new("bundle");
        make_busybox_rootfs(&dir.path().join("rootfs"));
        let out = Command::new(berth_binary())
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .output()
            .expect("run berth spec");
        assert!(
            out.status.success(),
            "berth spec failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = fs::read_to_string(dir.path().join("config.json")).expect("read config.json");
        let mut config: Value = serde_json::from_str(&text).expect("berth spec writes JSON");
        config["process"]["args"] = json!(args);
        let bundle = Self { dir, config };
        bundle.save();
        bundle
    }

    /// A bundle running `sh -c SCRIPT`.
    pub fn sh(script: &str) -> Self {
        Self::new(&["sh", "-c", script])
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    /// Writes `config` to config.json.
    pub fn save(&self) {
        let text = serde_json::to_string_pretty(&self.config).expect("serialise config");
        fs::write(self.config_path(), text).expect("write config.json");
    }

    pub fn set_args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    /// Appends to `process.env`.
    pub fn add_env(&mut self, entry: &str) -> &mut Self {
        let env = &mut self.config["process"]["env"];
        if !env.is_array() {
            *env = json!([]);
        }
        env.as_array_mut().expect("array").push(json!(entry));
        self
    }

    /// Appends an entry to `mounts`.
    pub fn add_mount(&mut self, mount: Value) -> &mut Self {
        let mounts = &mut self.config["mounts"];
        if !mounts.is_array() {
            *mounts = json!([]);
        }
        mounts.as_array_mut().expect("array").push(mount);
        self
    }

    /// Removes the namespace of type `typ` from `linux.namespaces`.
    pub fn remove_namespace(&mut self, typ: &str) -> &mut Self {
        if let Some(list) = self.config["linux"]["namespaces"].as_array_mut() {
            list.retain(|ns| ns["type"] != typ);
        }
        self
    }

    /// A path in the bundle's directory, outside the rootfs (for files a
    /// test shares with the container through a bind mount, or hooks).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// What a runtime command did.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit code; -1 when killed by a signal or timed out.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub command: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == 0 && !self.timed_out
    }

    /// Panics with the command and its output unless it exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(self.success(), "command failed: {self}");
        self
    }

    /// Panics unless the command exited with `code`.
    #[track_caller]
    pub fn code_is(self, code: i32) -> Self {
        assert!(
            self.code == code && !self.timed_out,
            "expected exit code {code}: {self}"
        );
        self
    }

    /// Panics unless it failed with exit code 1 and an error on stderr
    /// that contains every one of `words` (case-insensitive).
    #[track_caller]
    pub fn fails_with(self, words: &[&str]) -> Self {
        assert!(
            self.code == 1 && !self.timed_out,
            "expected exit code 1: {self}"
        );
        let err = self.stderr.to_lowercase();
        for w in words {
            assert!(
                err.contains(&w.to_lowercase()),
                "stderr does not mention {w:?}: {self}"
            );
        }
        self
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {}{}\n--- stdout\n{}--- stderr\n{}",
            self.command,
            self.code,
            if self.timed_out { " (timed out)" } else { "" },
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `cmd` with stdin from /dev/null and stdout/stderr into files under
/// `io_dir`, waiting at most `timeout` (then the process is killed).
pub fn run_command(mut cmd: Command, io_dir: &Path, timeout: Duration) -> Output {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let out_path = io_dir.join(format!("cmd-{n}.out"));
    let err_path = io_dir.join(format!("cmd-{n}.err"));
    let command = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("create stdout file"))
        .stderr(fs::File::create(&err_path).expect("create stderr file"));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {command}: {e}"));
    let status = wait_timeout(&mut child, timeout);
    let timed_out = status.is_none();
    if timed_out {
        let _ = child.kill();
        let _ = child.wait();
    }
    let read = |p: &Path| {
        let text = String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
        let _ = fs::remove_file(p);
        text
    };
    Output {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: read(&out_path),
        stderr: read(&err_path),
        timed_out,
        command,
    }
}

/// Waits for `child` for at most `timeout`.
pub fn wait_timeout(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("waiting for a child: {e}"),
        }
    }
}

/// Polls `cond` until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A runtime binary (berth, or runc to compare with) with a state root of
/// its own. Dropping it deletes (with --force) every container left in
/// that root and removes the root.
pub struct Runtime {
    binary: PathBuf,
    work: TestDir,
    timeout: Duration,
    /// Global flags put before every subcommand (after --root).
    pub global_args: Vec<String>,
}

impl Runtime {
    /// The berth binary under test.
    pub fn berth() -> Self {
        require_root();
        let rt = Self::with_binary(berth_binary());
        let state_dir = rt.work.path().join("netstate");
        fs::create_dir_all(&state_dir).expect("mkdir netstate");
        let mut rt = rt;
        rt.global_args = vec!["--state-dir".into(), state_dir.display().to_string()];
        rt
    }

    /// runc, when installed.
    pub fn runc() -> Option<Self> {
        require_root();
        runc_binary().map(Self::with_binary)
    }

    pub fn with_binary(binary: PathBuf) -> Self {
        let work = TestDir::new("runtime");
        for sub in ["root", "io"] {
            fs::create_dir_all(work.path().join(sub)).expect("mkdir in runtime work dir");
        }
        Self {
            binary,
            work,
            timeout: command_timeout(),
            global_args: Vec::new(),
        }
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The `--root` of this runtime.
    pub fn root(&self) -> PathBuf {
        self.work.path().join("root")
    }

    /// A directory for files of the test (kept until the runtime is dropped).
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    /// `BINARY --root ROOT [global args] ARGS...`, not started.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root").arg(self.root());
        cmd.args(&self.global_args);
        cmd.args(args);
        cmd
    }

    /// Runs a runtime command to completion (with the timeout).
    pub fn exec<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        run_command(
            self.command(args),
            &self.work.path().join("io"),
            self.timeout,
        )
    }

    /// Runs any command with this runtime's timeout and file-backed stdio.
    pub fn exec_command(&self, cmd: Command) -> Output {
        run_command(cmd, &self.work.path().join("io"), self.timeout)
    }

    /// `run --bundle B ID` in the foreground: the container's output is the
    /// command's output.
    pub fn run(&self, bundle: &Bundle, id: &str) -> Output {
        bundle.save();
        self.exec(&[
            "run".as_ref(),
            "--bundle".as_ref(),
            bundle.path().as_os_str(),
            id.as_ref(),
        ])
    }

    /// `create --bundle B ID [extra...]`. The container's stdout and stderr
    /// are files read by [`Runtime::container_output`].
    pub fn create(&self, bundle: &Bundle, id: &str, extra: &[&str]) -> Output {
        bundle.save();
        let mut cmd = self.command(&["create"]);
        cmd.arg("--bundle").arg(bundle.path()).args(extra).arg(id);
        let (out, err) = self.container_io_paths(id);
        cmd.stdin(Stdio::null())
            .stdout(fs::File::create(&out).expect("create container stdout file"))
            .stderr(fs::File::create(&err).expect("create container stderr file"));
        let command = format!("{cmd:?}");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {command}: {e}"));
        let status = wait_timeout(&mut child, self.timeout);
        let timed_out = status.is_none();
        if timed_out {
            let _ = child.kill();
            let _ = child.wait();
        }
        // berth's own messages are in the same files as the container's
        // (there is no container output before start).
        Output {
            code: status.and_then(|s| s.code()).unwrap_or(-1),
            stdout: fs::read_to_string(&out).unwrap_or_default(),
            stderr: fs::read_to_string(&err).unwrap_or_default(),
            timed_out,
            command,
        }
    }

    fn container_io_paths(&self, id: &str) -> (PathBuf, PathBuf) {
        let io = self.work.path().join("io");
        (
            io.join(format!("{id}.stdout")),
            io.join(format!("{id}.stderr")),
        )
    }

    /// What a container made by [`Runtime::create`] wrote so far: (stdout, stderr).
    pub fn container_output(&self, id: &str) -> (String, String) {
        let (out, err) = self.container_io_paths(id);
        (
            fs::read_to_string(out).unwrap_or_default(),
            fs::read_to_string(err).unwrap_or_default(),
        )
    }

    pub fn start(&self, id: &str) -> Output {
        self.exec(&["start", id])
    }

    pub fn kill(&self, id: &str, signal: &str) -> Output {
        self.exec(&["kill", id, signal])
    }

    pub fn delete(&self, id: &str) -> Output {
        self.exec(&["delete", id])
    }

    pub fn delete_force(&self, id: &str) -> Output {
        self.exec(&["delete", "--force", id])
    }

    /// `state ID` parsed; panics when the command fails.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.exec(&["state", id]).ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON ({e}): {out}"))
    }

    /// The `status` field of `state ID`, or None when the command fails.
    pub fn status(&self, id: &str) -> Option<String> {
        let out = self.exec(&["state", id]);
        if !out.success() {
            return None;
        }
        let v: Value = serde_json::from_str(&out.stdout).ok()?;
        v["status"].as_str().map(str::to_owned)
    }

    /// Waits until `state ID` reports `status`.
    pub fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.status(id).as_deref() == Some(status))
    }

    /// The directories in the root: containers the runtime still knows
    /// (a container id never starts with a dot: `.seccomp` is a cache).
    pub fn leftovers(&self) -> Vec<String> {
        let mut ids: Vec<String> = fs::read_dir(self.root())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|name| !name.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for id in self.leftovers() {
            let out = self.exec(&["delete", "--force", &id]);
            if !out.success() {
                eprintln!("spec-tests: cleanup of {id} failed: {out}");
            }
        }
    }
}

/// Reads a `Key:\tvalue` line of a /proc/PID/status-like text.
pub fn status_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

/// The capability numbers set in a hexadecimal mask (as in /proc/self/status).
pub fn caps_in_mask(hex: &str) -> Vec<u32> {
    let mask = u64::from_str_radix(hex.trim(), 16).unwrap_or_else(|e| panic!("{hex:?}: {e}"));
    (0..64).filter(|b| mask & (1u64 << b) != 0).collect()
}

/// Capability numbers by name, as the kernel numbers them.
pub fn cap_number(name: &str) -> u32 {
    const NAMES: &[&str] = &[
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("unknown capability {name}")) as u32
}

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone)]
pub struct MountInfo {
    pub mount_point: String,
    /// Per-mount options (ro, nosuid, ...).
    pub options: Vec<String>,
    /// Optional fields (shared:N, master:N).
    pub optional: Vec<String>,
    pub fs_type: String,
    pub source: String,
    /// Per-superblock options (size=..., mode=...).
    pub super_options: Vec<String>,
}

impl MountInfo {
    pub fn has_option(&self, opt: &str) -> bool {
        self.options.iter().any(|o| o == opt) || self.super_options.iter().any(|o| o == opt)
    }
}

/// Parses /proc/self/mountinfo text.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 6 || r.len() < 3 {
                return None;
            }
            Some(MountInfo {
                mount_point: unescape_octal(l[4]),
                options: l[5].split(',').map(str::to_owned).collect(),
                optional: l[6..].iter().map(|s| s.to_string()).collect(),
                fs_type: r[0].to_owned(),
                source: unescape_octal(r[1]),
                super_options: r[2].split(',').map(str::to_owned).collect(),
            })
        })
        .collect()
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A unix socket listener for `--console-socket`: the runtime sends the
/// pty master over it with SCM_RIGHTS.
pub struct ConsoleSocket {
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Listens at `path`.
    pub fn bind(path: &Path) -> Self {
        let listener = std::os::unix::net::UnixListener::bind(path)
            .unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        Self {
            listener,
            path: path.to_owned(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts one connection and receives one fd from it (waiting at
    /// most `timeout`), with the message bytes that came with it.
    pub fn receive_fd(&self, timeout: Duration) -> (std::os::fd::OwnedFd, Vec<u8>) {
        use std::os::fd::{AsRawFd, FromRawFd};
        self.listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "nothing connected to the console socket"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept on the console socket: {e}"),
            }
        };
        stream
            .set_read_timeout(Some(timeout))
            .expect("read timeout");
        let mut data = [0u8; 4096];
        // Room for one fd's control message.
        let mut control = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: msghdr is plain data; zeroed is a valid empty header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        // SAFETY: msg points at live buffers of the sizes given.
        let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        assert!(
            n >= 0,
            "recvmsg on the console socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: msg was filled by recvmsg; CMSG_FIRSTHDR handles an empty control.
        let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        assert!(!cmsg.is_null(), "no control message: no fd was sent");
        // SAFETY: cmsg points into `control`, checked non-null above.
        let (level, typ) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
        assert!(
            level == libc::SOL_SOCKET && typ == libc::SCM_RIGHTS,
            "control message is not SCM_RIGHTS"
        );
        // SAFETY: an SCM_RIGHTS message carries at least one int after the header.
        let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::c_int) };
        // SAFETY: the kernel installed this fd for us; nothing else owns it.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        (fd, data[..n as usize].to_vec())
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Reads from `fd` until EOF/EIO (a pty master after the last slave closed)
/// or `timeout`.
pub fn read_until_closed(fd: &std::os::fd::OwnedFd, timeout: Duration) -> String {
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32) };
        if r == 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        // SAFETY: buf is a live buffer of the size given.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs a shell command line under script(1), which gives it a terminal of
/// its own (for `ctr -t`, `podman -t`); None when script(1) is missing.
pub fn run_in_terminal(line: &str) -> Option<std::process::Output> {
    if !Path::new("/usr/bin/script").exists() {
        eprintln!("script(1) is not installed: skipped");
        return None;
    }
    let out = Command::new("/usr/bin/script")
        .args(["-qec", line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run script(1)");
    Some(out)
}

/// x86_64 syscall numbers the test agent looks for.
const SYS_MKDIR: i32 = 83;
const SYS_MKDIRAT: i32 = 258;

#[repr(C)]
#[derive(Default)]
struct SeccompData {
    nr: i32,
    arch: u32,
    instruction_pointer: u64,
    args: [u64; 6],
}

#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}

#[repr(C)]
#[derive(Default)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const NOTIF_RECV: libc::c_ulong = 0xc050_2100; // _IOWR('!', 0, struct seccomp_notif)
const NOTIF_SEND: libc::c_ulong = 0xc018_2101; // _IOWR('!', 1, struct seccomp_notif_resp)
const USER_NOTIF_FLAG_CONTINUE: u32 = 1;

/// A seccomp agent for the tests: answers every notification on the
/// listener `fd` until the filtered processes are gone:
/// mkdir fails with ENOMEDIUM, anything else continues. Returns how many
/// mkdirs it answered.
pub fn answer_seccomp_notifications(fd: &std::os::fd::OwnedFd, timeout: Duration) -> usize {
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + timeout;
    let mut answered = 0;
    while Instant::now() < deadline {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 100) };
        if n <= 0 {
            continue;
        }
        if pfd.revents & libc::POLLHUP != 0 {
            break;
        }
        let mut req = Notif::default();
        // SAFETY: req is a seccomp_notif-sized buffer the kernel fills.
        if unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV, &mut req) } < 0 {
            continue;
        }
        let mkdir = matches!(req.data.nr, SYS_MKDIR | SYS_MKDIRAT);
        let resp = NotifResp {
            id: req.id,
            val: 0,
            error: if mkdir { -libc::ENOMEDIUM } else { 0 },
            flags: if mkdir { 0 } else { USER_NOTIF_FLAG_CONTINUE },
        };
        // SAFETY: resp is a valid seccomp_notif_resp.
        if unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_SEND, &resp) } == 0 && mkdir {
            answered += 1;
        }
    }
    answered
}

/// Writes an executable shell script (for hooks) and returns its path.
pub fn write_script(path: &Path, body: &str) -> PathBuf {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod script");
    path.to_owned()
}

/// Removes the cgroup directory `rel` (relative to each hierarchy's root)
/// and its sub-cgroups, in every mounted hierarchy, where they are empty:
/// for tests whose callers (containerd, podman) make parent cgroups that
/// outlive the containers. A cgroup still in use stays.
pub fn remove_cgroup_tree(rel: &str) {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split_whitespace().next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        if let Some(mount_point) = left.split_whitespace().nth(4) {
            rmdir_tree(&Path::new(mount_point).join(rel.trim_start_matches('/')));
        }
    }
}

fn rmdir_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_tree(&entry.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_parses() {
        let text =
            "36 35 98:0 /mnt1 /mnt\\040x rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                    22 1 0:5 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, "/mnt x");
        assert_eq!(m[0].optional, ["master:1"]);
        assert_eq!(m[0].fs_type, "ext3");
        assert!(m[1].has_option("nosuid"));
        assert!(m[1].has_option("size=65536k"));
    }

    #[test]
    fn caps_mask() {
        assert_eq!(caps_in_mask("00000000a80425fb").len(), 14);
        assert_eq!(caps_in_mask("0000000000000020"), [5]);
        assert_eq!(cap_number("CAP_KILL"), 5);
        assert_eq!(cap_number("CAP_NET_BIND_SERVICE"), 10);
    }

    #[test]
    fn status_fields() {
        let s = "Name:\tsh\nNoNewPrivs:\t1\nCapEff:\t0000000000000020\n";
        assert_eq!(status_field(s, "NoNewPrivs"), Some("1"));
        assert_eq!(status_field(s, "CapEff"), Some("0000000000000020"));
    }
}
