//! Helpers for the suites in which a real caller drives the runtime
//! (`tests/containerd.rs`, `podman.rs`, `docker.rs`, `cri.rs`): which runtime
//! binary they hand to the caller, a host-wide lock for daemons that cannot
//! run twice at once, and the checks that a stopped daemon left nothing
//! behind.

use crate::{berth_binary, wait_until};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

/// The runtime the caller suites configure their callers with:
/// `$BERTH_TEST_RUNTIME` (e.g. `/usr/sbin/runc`: the same suites pass with
/// runc, so they test the callers and not berth's own assumptions), else
/// the berth under test.
pub fn runtime_under_test() -> PathBuf {
    match std::env::var_os("BERTH_TEST_RUNTIME") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_absolute() && path.exists(),
                "BERTH_TEST_RUNTIME={} is not an existing absolute path",
                path.display()
            );
            path
        }
        None => berth_binary(),
    }
}

/// Panics naming the package when `binary` is missing: the caller suites
/// never skip (hack/setup.sh installs them).
#[track_caller]
pub fn require(binary: &str, package: &str) {
    assert!(
        Path::new(binary).exists(),
        "{binary} is missing: install Debian's {package} (hack/setup.sh does)"
    );
}

/// Takes the host-wide lock `path` (flock), waiting up to 15 minutes for
/// another holder; held until the returned file is dropped.
pub fn lock_host(path: &str) -> fs::File {
    use std::os::fd::AsRawFd;
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {path}: {e}"));
    let locked = wait_until(Duration::from_secs(900), || {
        // SAFETY: flock on an fd this function owns.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
    });
    assert!(locked, "another test process held {path} for 15 minutes");
    file
}

/// Processes whose command line contains `needle`: "pid: cmdline" each.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let pid = e.file_name().into_string().ok()?;
            if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
                return None;
            }
            let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            cmdline
                .contains(needle)
                .then(|| format!("{pid}: {}", cmdline.trim_end()))
        })
        .collect()
}

/// Mount points of this mount namespace at or below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    crate::parse_mountinfo(&text)
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| Path::new(p).starts_with(dir))
        .collect()
}

/// Unmounts (lazily) every mount at or below `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let mut points = mounts_under(dir);
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let Ok(c) = std::ffi::CString::new(p) else {
            continue;
        };
        // SAFETY: a NUL-terminated path; MNT_DETACH has no other argument.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// The cgroups below `rel` (relative to each hierarchy's root) in every
/// mounted hierarchy: what a caller's containers left under its parent.
pub fn cgroups_below(rel: &str) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found = Vec::new();
    for m in crate::parse_mountinfo(&text) {
        if m.fs_type == "cgroup" || m.fs_type == "cgroup2" {
            let top = Path::new(&m.mount_point).join(rel.trim_start_matches('/'));
            collect_dirs(&top, &mut found);
        }
    }
    found
}

fn collect_dirs(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            found.push(e.path());
            collect_dirs(&e.path(), found);
        }
    }
}

/// Lines of `iptables-save` and `nft list ruleset` that contain one of
/// `needles`.
pub fn firewall_lines_mentioning(needles: &[&str]) -> Vec<String> {
    let mut lines = Vec::new();
    for (prog, args) in [
        ("iptables-save", &[][..]),
        ("nft", &["list", "ruleset"][..]),
    ] {
        let out = std::process::Command::new(prog)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {prog}: {e}"));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if needles.iter().any(|n| line.contains(n)) {
                lines.push(format!("{prog}: {}", line.trim()));
            }
        }
    }
    lines
}

/// Writes a tar of the busybox rootfs made by [`crate::make_busybox_rootfs`]
/// to `tar`, for `docker import`/`podman import`.
pub fn busybox_rootfs_tar(work: &Path, tar: &Path) {
    let rootfs = work.join("image-rootfs");
    crate::make_busybox_rootfs(&rootfs);
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(tar)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(status.success(), "tar of {} failed", rootfs.display());
    let _ = fs::remove_dir_all(&rootfs);
}

/// Where the README's configuration snippets install berth.
pub const README_BERTH: &str = "/usr/local/bin/berth";

/// Asserts that README.md shows `snippet` word for word: the configs in the
/// README are the ones the caller suites run with.
#[track_caller]
pub fn assert_readme_shows(snippet: &str) {
    let path = crate::workspace_dir().join("README.md");
    let readme = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        readme.contains(snippet),
        "README.md does not show the config the tests use:\n{snippet}"
    );
}

/// Runs a caller's command: (exit code, stdout, stderr).
pub fn outcome(mut cmd: Command) -> (i32, String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run {:?}: {e}", cmd.get_program()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ip ARGS`, which must succeed.
#[track_caller]
pub fn ip(args: &[&str]) {
    let (code, _, err) = outcome({
        let mut cmd = Command::new("ip");
        cmd.args(args);
        cmd
    });
    assert_eq!(code, 0, "ip {args:?}: {err}");
}

/// Stops a daemon the test started by its pid (SIGTERM, as systemd does)
/// and waits up to `timeout` for it; SIGKILL and None after that.
pub fn stop_by_pid(mut child: Child, timeout: Duration) -> Option<ExitStatus> {
    // SAFETY: kill(2) on the pid of a child the caller spawned and has not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    wait_for_child(&mut child, timeout)
}

/// Waits up to `timeout` for `child` to exit; SIGKILL and None after that.
pub fn wait_for_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let mut status = None;
    wait_until(timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}

/// What a stopped daemon left of what it made: processes whose command line
/// names its directory `dir`, mounts under `dir`, links on `bridge`, cgroups
/// below `cgroup_parent`, firewall lines naming the bridge or `needles`.
pub fn leftovers(dir: &Path, bridge: &str, cgroup_parent: &str, needles: &[&str]) -> Vec<String> {
    let mut left = processes_mentioning(&dir.display().to_string());
    left.extend(mounts_under(dir).into_iter().map(|m| format!("mount {m}")));
    left.extend(
        crate::net::ip_links()
            .into_iter()
            .filter(|(_, master)| master.as_deref() == Some(bridge))
            .map(|(name, _)| format!("link {name} on {bridge}")),
    );
    left.extend(
        cgroups_below(cgroup_parent)
            .into_iter()
            .map(|c| format!("cgroup {}", c.display())),
    );
    let mut firewall = vec![bridge];
    firewall.extend_from_slice(needles);
    left.extend(firewall_lines_mentioning(&firewall));
    left
}

/// `leftovers()` once it is empty, or after 10 s (a shim exits just after
/// the daemon that reaped its task).
pub fn settled(mut leftovers: impl FnMut() -> Vec<String>) -> Vec<String> {
    let mut left = leftovers();
    let _ = wait_until(Duration::from_secs(10), || {
        left = leftovers();
        left.is_empty()
    });
    left
}

/// What the exec tests run (with `-e FROM_EXEC=yes`, no terminal) and what
/// it must print under a caller's seccomp profile; it exits 4.
pub const EXEC_PROBE: &str =
    "echo $FROM_EXEC; grep Seccomp: /proc/self/status; [ -t 1 ] || echo no-tty; exit 4";
pub const EXEC_PROBE_OUTPUT: &str = "yes\nSeccomp:\t2\nno-tty\n";

/// A shell line that prints the memory limit of the container's cgroup
/// from inside: v1's memory.limit_in_bytes (this machine) or v2's
/// memory.max.
pub const MEMORY_LIMIT: &str = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null \
                                || cat /sys/fs/cgroup/memory.max";

/// Runs a caller's command `line` in a terminal of its own (script(1)),
/// asserts that it exits `code` and that the container's `tty` printed a
/// pty; returns what it printed.
#[track_caller]
pub fn in_terminal(line: &str, code: i32) -> String {
    let out = crate::run_in_terminal(line).expect("script(1) is missing: install util-linux");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(code), "{line}: {stdout}");
    assert!(stdout.contains("/dev/pts/"), "{line}: {stdout:?}");
    stdout
}

/// Removes what a caller's daemon leaves by design once stopped: mounts
/// under its directory `dir`, the `bridge` the test made for it, the empty
/// cgroups under `cgroup_parent`.
pub fn remove_daemon_remains(dir: &Path, bridge: &str, cgroup_parent: &str) {
    unmount_under(dir);
    let _ = Command::new("ip")
        .args(["link", "del", bridge])
        .stderr(std::process::Stdio::null())
        .status();
    crate::remove_cgroup_tree(cgroup_parent);
}

/// Whether the suites run berth (false under `$BERTH_TEST_RUNTIME`, e.g.
/// runc, which has no berth networks).
pub fn runtime_is_berth() -> bool {
    std::env::var_os("BERTH_TEST_RUNTIME").is_none()
}

/// Writes `dir/berth` that runs the berth under test with `--state-dir
/// state_dir` and the caller's arguments; returns its path. A caller names
/// a binary only, without arguments: this is how a test points the berth
/// that containerd or podman runs at the network state of the test's
/// [`crate::net::TestNet`].
pub fn berth_with_state_dir(dir: &Path, state_dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("berth");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec {} --state-dir {} \"$@\"\n",
            berth_binary().display(),
            state_dir.display()
        ),
    )
    .unwrap_or_else(|e| panic!("write {}: {e}", script.display()));
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", script.display()));
    script
}

/// What the tests' busybox's `nc IP PORT` on the host reads from a container's listener
/// within `timeout`: the first non-empty answer (the container may still
/// be starting), else the last error.
pub fn nc_from_host(ip: &str, port: u16, timeout: Duration) -> Result<String, String> {
    let mut last = Err("never tried".to_owned());
    wait_until(timeout, || {
        let (code, out, err) = outcome({
            let mut cmd = Command::new(crate::busybox());
            cmd.args(["nc", "-w", "2", ip, &port.to_string()])
                .stdin(std::process::Stdio::null());
            cmd
        });
        last = if !out.is_empty() {
            Ok(out)
        } else {
            Err(format!("busybox nc {ip} {port}: exit {code}: {err}"))
        };
        last.is_ok()
    });
    last
}

/// The berth network a caller's CNI config names with `type: berth-cni`,
/// in a state dir of the test's own: the first ADD makes it (bridge,
/// IPAM, firewall elements) from the config's inline keys. Dropping it
/// runs `network rm --force` and deletes the bridge, also when the test
/// failed before or after the network existed.
pub struct CniNetwork {
    pub state_dir: PathBuf,
    pub name: String,
    pub bridge: String,
    /// The /24 the config gives the network.
    pub subnet: String,
}

impl CniNetwork {
    /// A network named after `tag` and this process, its bridge `bridge`,
    /// its store under `state_dir`.
    pub fn new(tag: &str, state_dir: PathBuf, bridge: String, subnet: &str) -> Self {
        Self {
            state_dir,
            name: format!("{tag}{}", std::process::id()),
            bridge,
            subnet: subnet.to_owned(),
        }
    }

    /// The `berth-cni` built next to the berth under test.
    pub fn plugin() -> PathBuf {
        let plugin = berth_binary().with_file_name("berth-cni");
        assert!(
            plugin.exists(),
            "{} is missing: cargo build --release -p network --bin berth-cni",
            plugin.display()
        );
        plugin
    }

    /// The plugin entry of a conflist: this network from berth-cni, with
    /// `capabilities`.
    pub fn plugin_config(&self, capabilities: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "type": "berth-cni",
            "stateDir": self.state_dir,
            "subnet": self.subnet,
            "bridge": self.bridge,
            "capabilities": capabilities,
        })
    }

    fn berth(&self, args: &[&str]) -> std::process::Output {
        Command::new(berth_binary())
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", berth_binary().display()))
    }

    /// `network inspect` of the network, after `what` (for the message).
    /// It must print nothing on stderr: inspect reclaims the addresses of
    /// attachments whose netns is gone and says so there, which would hide
    /// a DEL that released nothing.
    #[track_caller]
    pub fn inspect(&self, what: &str) -> serde_json::Value {
        let out = self.berth(&["network", "inspect", &self.name]);
        let err = String::from_utf8_lossy(&out.stderr);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{what}: network inspect: {e}: {err}"));
        assert!(err.is_empty(), "{what}: network inspect: {err}");
        if v.is_array() {
            v[0].clone()
        } else {
            v
        }
    }

    /// `network rm --force`; its stderr when it failed.
    pub fn remove(&self) -> Result<(), String> {
        let out = self.berth(&["network", "rm", "--force", &self.name]);
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for CniNetwork {
    fn drop(&mut self) {
        let _ = self.remove();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = fs::remove_dir_all(&self.state_dir);
    }
}
