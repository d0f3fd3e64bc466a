//! Finding a container's cgroup files on the host, whatever its layout
//! (v1, v2, or hybrid: each controller where it is mounted), for the
//! cgroup tests. Containers in those tests use an absolute one-level
//! `linux.cgroupsPath` (`/NAME`), so the directory is known in advance and
//! nothing is left behind once it is removed.

use crate::parse_mountinfo;
use std::path::{Path, PathBuf};

/// Every cgroup hierarchy of the host: (mount point, v1 controllers or
/// None for cgroup2).
fn hierarchies() -> Vec<(PathBuf, Option<Vec<String>>)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    parse_mountinfo(&text)
        .into_iter()
        .filter_map(|m| match m.fs_type.as_str() {
            "cgroup2" => Some((PathBuf::from(&m.mount_point), None)),
            "cgroup" => Some((PathBuf::from(&m.mount_point), Some(m.super_options.clone()))),
            _ => None,
        })
        .collect()
}

/// The cgroup v2 mount point, if any (`/sys/fs/cgroup` on pure v2 hosts,
/// `/sys/fs/cgroup/unified` on hybrid ones).
pub fn v2_mount() -> Option<PathBuf> {
    hierarchies()
        .into_iter()
        .find(|(_, c)| c.is_none())
        .map(|(p, _)| p)
}

/// True when `/sys/fs/cgroup` itself is cgroup2 (no v1 hierarchy).
pub fn is_pure_v2() -> bool {
    hierarchies().iter().all(|(_, c)| c.is_none())
}

/// The directory of cgroup `path` (absolute, e.g. `/berth-x`) in the
/// hierarchy that holds `controller`: its v1 mount, else the v2 mount.
pub fn controller_dir(controller: &str, path: &str) -> PathBuf {
    let rel = path.trim_start_matches('/');
    let all = hierarchies();
    if let Some((mount, _)) = all.iter().find(|(_, c)| {
        c.as_ref()
            .is_some_and(|c| c.iter().any(|o| o == controller))
    }) {
        return mount.join(rel);
    }
    let mount = all
        .iter()
        .find(|(_, c)| c.is_none())
        .map(|(m, _)| m.clone())
        .unwrap_or_else(|| panic!("no hierarchy holds the {controller} controller"));
    mount.join(rel)
}

/// Whether `controller` is served by cgroup v2 on this host.
pub fn is_v2(controller: &str) -> bool {
    !hierarchies().iter().any(|(_, c)| {
        c.as_ref()
            .is_some_and(|c| c.iter().any(|o| o == controller))
    })
}

/// Reads `file` of the container's cgroup `path` for `controller`, trimmed.
#[track_caller]
pub fn read(controller: &str, path: &str, file: &str) -> String {
    let p = controller_dir(controller, path).join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_owned()
}

/// The directories of cgroup `path` that exist, in every hierarchy.
pub fn existing_dirs(path: &str) -> Vec<PathBuf> {
    let rel = path.trim_start_matches('/');
    hierarchies()
        .into_iter()
        .map(|(m, _)| m.join(rel))
        .filter(|d| d.exists())
        .collect()
}

/// The cgroup directories of a running process (from /proc/PID/cgroup),
/// one per hierarchy.
pub fn dirs_of_pid(pid: i64) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let all = hierarchies();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let rel = Path::new(path.trim_start_matches('/'));
        let mount = if ctrls.is_empty() {
            all.iter().find(|(_, c)| c.is_none())
        } else {
            let first = ctrls.split(',').next().unwrap_or("");
            all.iter()
                .find(|(_, c)| c.as_ref().is_some_and(|c| c.iter().any(|o| o == first)))
        };
        if let Some((m, _)) = mount {
            out.push(m.join(rel));
        }
    }
    out
}

/// Removes what a failed test may have left of cgroup `path` (deepest
/// first; a directory with processes stays, and is reported).
pub struct CgroupCleanup(pub String);

impl Drop for CgroupCleanup {
    fn drop(&mut self) {
        for dir in existing_dirs(&self.0) {
            if let Err(e) = std::fs::remove_dir(&dir) {
                eprintln!("spec-tests: removing {}: {e}", dir.display());
            }
        }
    }
}

/// Whether the host offers `controller`: a v1 hierarchy, or the root of
/// the v2 hierarchy lists it.
pub fn has_controller(controller: &str) -> bool {
    if !is_v2(controller) {
        return true;
    }
    v2_mount()
        .and_then(|m| std::fs::read_to_string(m.join("cgroup.controllers")).ok())
        .is_some_and(|c| c.split_whitespace().any(|c| c == controller))
}
