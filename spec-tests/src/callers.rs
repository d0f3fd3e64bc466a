//! Helpers for the suites in which a real caller drives the runtime
//! (`tests/containerd.rs`, `podman.rs`, `docker.rs`, `cri.rs`): which runtime
//! binary they hand to the caller, a host-wide lock for daemons that cannot
//! run twice at once, and the checks that a stopped daemon left nothing
//! behind.

use crate::{berth_binary, wait_until};
use std::fs;
use std::path::{Path, PathBuf};
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
