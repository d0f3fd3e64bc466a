//! The cgroup v2 hierarchy: making a container's directory with its
//! controllers enabled, `cgroup.freeze`, `cgroup.kill`, and waiting on
//! `cgroup.events` (kernfs signals a change with POLLPRI).

use super::{files, CgroupError};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Makes `dir` under `mount_point` and enables, in every ancestor from the
/// mount point down to `dir`'s parent, each controller that ancestor offers.
/// A controller that cannot be enabled (an ancestor with processes of its
/// own, a controller bound elsewhere) is left out; applying a resource that
/// needs it then fails with an error naming the resource. Returns whether
/// this call made `dir` itself.
pub fn create(dir: &Path, mount_point: &Path) -> Result<bool, CgroupError> {
    let made = files::mkdir_all(dir)?.last().is_some_and(|d| d == dir);
    let Ok(rel) = dir.strip_prefix(mount_point) else {
        return Ok(made);
    };
    let mut cur = mount_point.to_owned();
    for part in rel.components() {
        enable_controllers(&cur)?;
        cur.push(part);
    }
    Ok(made)
}

fn enable_controllers(dir: &Path) -> Result<(), CgroupError> {
    let available = files::read(dir, "cgroup.controllers")?;
    let enabled = files::read(dir, "cgroup.subtree_control")?;
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    let missing: Vec<&str> = available
        .split_whitespace()
        .filter(|c| !enabled.contains(c))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let all: String = missing
        .iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ");
    if files::write(dir, "cgroup.subtree_control", &all).is_ok() {
        return Ok(());
    }
    for c in missing {
        if let Err(e) = files::write(dir, "cgroup.subtree_control", &format!("+{c}")) {
            tracing::debug!("not enabling {c}: {e}");
        }
    }
    Ok(())
}

/// The controllers available in `dir` (enabled by its parent).
pub fn controllers(dir: &Path) -> Vec<String> {
    files::read(dir, "cgroup.controllers")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

pub fn freeze(dir: &Path) -> Result<(), CgroupError> {
    files::write(dir, "cgroup.freeze", "1")?;
    wait_events(dir, "frozen", "1", FREEZE_TIMEOUT)
}

pub fn thaw(dir: &Path) -> Result<(), CgroupError> {
    files::write(dir, "cgroup.freeze", "0")?;
    wait_events(dir, "frozen", "0", FREEZE_TIMEOUT)
}

pub fn is_frozen(dir: &Path) -> Result<bool, CgroupError> {
    match files::read(dir, "cgroup.freeze") {
        Ok(s) => Ok(s.trim() == "1"),
        Err(CgroupError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Whether `dir` has `cgroup.kill` (Linux 5.14+).
pub fn has_kill(dir: &Path) -> bool {
    files::exists(dir, "cgroup.kill")
}

pub fn kill(dir: &Path) -> Result<(), CgroupError> {
    files::write(dir, "cgroup.kill", "1")
}

/// Waits until no process is left in `dir` or below (`populated 0`).
pub fn wait_unpopulated(dir: &Path, timeout: Duration) -> Result<(), CgroupError> {
    if !files::exists(dir, "cgroup.events") {
        return Ok(());
    }
    wait_events(dir, "populated", "0", timeout)
}

/// Waits until `key` reads `want` in `dir/cgroup.events`: the file is
/// re-read each time the kernel signals a change on it.
fn wait_events(dir: &Path, key: &str, want: &str, timeout: Duration) -> Result<(), CgroupError> {
    let path: PathBuf = dir.join("cgroup.events");
    let io = |source| CgroupError::Io {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::open(&path).map_err(io)?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 512];
    loop {
        let n = file.read_at(&mut buf, 0).map_err(io)?;
        let text = String::from_utf8_lossy(&buf[..n]);
        if files::flat_keyed(&text).any(|(k, v)| k == key && v.trim() == want) {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(CgroupError::Timeout {
                path,
                what: format!("{key} {want}"),
                after: timeout,
            });
        }
        let mut fds = [nix::poll::PollFd::new(
            file.as_fd(),
            nix::poll::PollFlags::POLLPRI,
        )];
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(io(std::io::Error::from(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::test_util::ScratchV2;

    fn proc_state(pid: u32) -> String {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("State:"))
            .unwrap()
            .to_owned()
    }

    #[test]
    fn freeze_thaw_and_kill_through_cgroup_files() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let Some(cg) = ScratchV2::new("freeze") else {
            eprintln!("skipped: no writable cgroup v2 hierarchy");
            return;
        };
        let mut child = cg.spawn("exec sleep 100");
        freeze(&cg.0).unwrap();
        assert!(is_frozen(&cg.0).unwrap());
        assert_eq!(files::procs(&cg.0).unwrap(), [child.id() as i32]);
        thaw(&cg.0).unwrap();
        assert!(!is_frozen(&cg.0).unwrap());
        assert!(!proc_state(child.id()).contains("stopped"));
        if has_kill(&cg.0) {
            kill(&cg.0).unwrap();
        } else {
            child.kill().unwrap();
        }
        child.wait().unwrap();
        wait_unpopulated(&cg.0, Duration::from_secs(5)).unwrap();
        assert!(files::procs(&cg.0).unwrap().is_empty());
    }
}

#[cfg(test)]
mod clone_into_tests {
    use crate::cgroups::test_util::ScratchV2;
    use crate::cgroups::{CgroupManager, V2Dir};
    use crate::sys::{self, Forked};
    use std::os::fd::AsFd;

    #[test]
    fn clone_into_cgroup_starts_the_child_inside() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let Some(cg) = ScratchV2::new("clone-into") else {
            eprintln!("skipped: no writable cgroup v2 hierarchy");
            return;
        };
        let mgr = CgroupManager {
            v1: Vec::new(),
            v2: Some(V2Dir {
                mount_point: cg.0.parent().unwrap().to_owned(),
                dir: cg.0.clone(),
            }),
            created: None,
        };
        let fd = mgr.clone_into_fd().unwrap().unwrap();
        match sys::clone3(0, Some(fd.as_fd())).unwrap() {
            Forked::Child => {
                // SAFETY: pause and _exit are async-signal-safe; nothing
                // else runs in the child.
                unsafe {
                    libc::pause();
                    libc::_exit(0)
                }
            }
            Forked::Parent { pid, pidfd } => {
                let procs = crate::cgroups::files::procs(&cg.0).unwrap();
                sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL).unwrap();
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                assert_eq!(procs, [pid]);
            }
        }
    }
}
