//! User namespaces: `linux.uidMappings`/`gidMappings` (checked here, written
//! by the parent into init's namespace), what an unprivileged caller may ask
//! for, and user namespaces with given mappings for id-mapped mounts.

use crate::sys::{self, Forked};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("clone3 of a helper process holding a user namespace: {0}")]
    Clone(#[source] std::io::Error),
}

/// The kernel takes at most this many lines in one uid_map or gid_map.
const MAX_MAP_LINES: usize = 340;
/// ... written in one write(2) of less than a page.
const MAX_MAP_BYTES: usize = 4095;

/// The text of a uid_map or gid_map file for `maps`.
pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Checks one list of mappings as the kernel will: not empty, at most 340
/// ranges, each non-empty and inside the 32-bit id space, no two ranges
/// overlapping on either side. The error is the reason, for a message
/// naming the field.
pub fn check_mappings(maps: &[LinuxIdMapping]) -> Result<(), String> {
    if maps.is_empty() {
        return Err("is empty".into());
    }
    if maps.len() > MAX_MAP_LINES {
        return Err(format!(
            "has {} ranges; the kernel takes at most {MAX_MAP_LINES}",
            maps.len()
        ));
    }
    let end = |start: u32, size: u32| u64::from(start) + u64::from(size);
    for (i, m) in maps.iter().enumerate() {
        if m.size() == 0 {
            return Err(format!("[{i}]: size is 0"));
        }
        if end(m.container_id(), m.size()) > 1 << 32 || end(m.host_id(), m.size()) > 1 << 32 {
            return Err(format!("[{i}]: the range ends beyond id 4294967295"));
        }
        for (j, other) in maps.iter().enumerate().take(i) {
            let overlaps = |a: u32, b: u32| {
                u64::from(a) < end(b, other.size()) && u64::from(b) < end(a, m.size())
            };
            if overlaps(m.container_id(), other.container_id()) {
                return Err(format!("[{i}] and [{j}]: container ranges overlap"));
            }
            if overlaps(m.host_id(), other.host_id()) {
                return Err(format!("[{i}] and [{j}]: host ranges overlap"));
            }
        }
    }
    if map_text(maps).len() > MAX_MAP_BYTES {
        return Err(format!(
            "is longer than the {MAX_MAP_BYTES} bytes the kernel takes in one write"
        ));
    }
    Ok(())
}

/// The host id that `id` of the namespace maps to, if it is mapped.
pub fn host_id(maps: &[LinuxIdMapping], id: u32) -> Option<u32> {
    maps.iter().find_map(|m| {
        let offset = id.checked_sub(m.container_id())?;
        (offset < m.size()).then(|| m.host_id() + offset)
    })
}

/// Two mapping lists that describe the same namespace.
pub fn same_mappings(a: &[LinuxIdMapping], b: &[LinuxIdMapping]) -> bool {
    let key = |m: &LinuxIdMapping| (m.container_id(), m.host_id(), m.size());
    let mut a: Vec<_> = a.iter().map(key).collect();
    let mut b: Vec<_> = b.iter().map(key).collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// True when berth runs without root on the host (runc's "rootless EUID").
pub fn unprivileged() -> bool {
    !nix::unistd::geteuid().is_root()
}

/// True when this process is in a user namespace other than the host's.
pub fn running_in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
        .unwrap_or(false)
}

/// What an unprivileged caller can map without a setuid helper (berth does
/// not use newuidmap/newgidmap): its own uid and gid, one id each. `uid` and
/// `gid` are the caller's effective ids.
pub fn check_unprivileged_mappings(
    uid_maps: &[LinuxIdMapping],
    gid_maps: &[LinuxIdMapping],
    uid: u32,
    gid: u32,
) -> Result<(), String> {
    for (field, maps, own, what) in [
        ("linux.uidMappings", uid_maps, uid, "uid"),
        ("linux.gidMappings", gid_maps, gid, "gid"),
    ] {
        if !matches!(maps, [m] if m.host_id() == own && m.size() == 1) {
            return Err(format!(
                "{field}: run by an unprivileged user, berth can map only the caller's own {what} \
                 ({own}) as one range of size 1 (it does not use newuidmap/newgidmap)"
            ));
        }
    }
    Ok(())
}

/// What berth refuses when run by an unprivileged user (`uid`, `gid` its
/// effective ids), as runc does: no container without a user namespace,
/// no mappings beyond the caller's own ids, no additional groups (setgroups
/// is denied), no id-mapped mounts, no `uid=` or `gid=` mount option naming
/// an id that is not mapped.
pub fn check_rootless(spec: &Spec, uid: u32, gid: u32) -> Result<(), String> {
    let linux = spec.linux().as_ref();
    let user_ns = crate::spec::namespace(spec, LinuxNamespaceType::User)
        .ok_or("linux.namespaces: a rootless container requires a user namespace")?;
    let uid_maps = linux
        .and_then(|l| l.uid_mappings().as_deref())
        .unwrap_or(&[]);
    let gid_maps = linux
        .and_then(|l| l.gid_mappings().as_deref())
        .unwrap_or(&[]);
    if user_ns.path().is_none() {
        check_unprivileged_mappings(uid_maps, gid_maps, uid, gid)?;
    }
    if spec
        .process()
        .as_ref()
        .and_then(|p| p.user().additional_gids().as_ref())
        .is_some_and(|g| !g.is_empty())
    {
        return Err(
            "process.user.additionalGids: cannot set any additional groups in a rootless container"
                .into(),
        );
    }
    for (i, mount) in spec.mounts().iter().flatten().enumerate() {
        if crate::idmapped_mounts::requested(mount).is_some() {
            return Err(format!(
                "mounts[{i}]: id-mapped mounts are not supported for rootless containers"
            ));
        }
        for option in mount.options().iter().flatten() {
            for (prefix, maps) in [("uid=", uid_maps), ("gid=", gid_maps)] {
                let Some(id) = option.strip_prefix(prefix) else {
                    continue;
                };
                // With a joined namespace its maps are not known here: the
                // kernel judges.
                let mapped = user_ns.path().is_some()
                    || id.parse().ok().and_then(|id| host_id(maps, id)).is_some();
                if !mapped {
                    return Err(format!(
                        "mounts[{i}].options: cannot specify {option} for a rootless container: \
                         {} {id} is not mapped",
                        &prefix[..3]
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Writes the maps of the user namespace of `pid`, which must have none yet:
/// uid_map, then `setgroups` `deny` when asked (the kernel requires it before
/// an unprivileged writer's gid_map), then gid_map.
pub fn write_id_maps(
    pid: i32,
    uid_maps: &[LinuxIdMapping],
    gid_maps: &[LinuxIdMapping],
    deny_setgroups: bool,
) -> Result<(), UsernsError> {
    let write = |file: &str, text: &str| {
        let path = PathBuf::from(format!("/proc/{pid}/{file}"));
        // One write(2): the kernel takes a map only whole, in one write.
        std::fs::write(&path, text).map_err(|source| UsernsError::Write { path, source })
    };
    write("uid_map", &map_text(uid_maps))?;
    if deny_setgroups {
        write("setgroups", "deny")?;
    }
    write("gid_map", &map_text(gid_maps))
}

/// A new user namespace with the given mappings, held by the returned fd
/// (for `MOUNT_ATTR_IDMAP`). A short-lived child is cloned into a new user
/// namespace, its maps are written, its namespace opened, and it is killed.
pub fn new_with_mappings(
    uid_maps: &[LinuxIdMapping],
    gid_maps: &[LinuxIdMapping],
) -> Result<OwnedFd, UsernsError> {
    let helper = match sys::clone3(libc::CLONE_NEWUSER as u64, None).map_err(UsernsError::Clone)? {
        Forked::Child => hold_namespace(),
        Forked::Parent { pid, pidfd } => Helper { pid, pidfd },
    };
    let pid = helper.pid;
    write_id_maps(pid, uid_maps, gid_maps, false)?;
    let path = PathBuf::from(format!("/proc/{pid}/ns/user"));
    std::fs::File::open(&path)
        .map(OwnedFd::from)
        .map_err(|source| UsernsError::Open { path, source })
}

/// A helper child that holds a user namespace, killed and reaped on drop.
struct Helper {
    pid: i32,
    pidfd: OwnedFd,
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = sys::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None);
    }
}

/// The uid_map and gid_map (as the host sees them) of the user namespace
/// at `path`: this process's own, or read from a short-lived child that
/// joins it.
pub fn mappings_of(path: &Path) -> Result<(String, String), UsernsError> {
    use std::os::unix::fs::MetadataExt;
    let open_err = |source| UsernsError::Open {
        path: path.to_owned(),
        source,
    };
    let ns = std::fs::File::open(path).map_err(open_err)?;
    let id = |m: std::fs::Metadata| (m.dev(), m.ino());
    let own = std::fs::metadata("/proc/self/ns/user").map(id);
    let read = |pid: &str, file: &str| {
        let path = PathBuf::from(format!("/proc/{pid}/{file}"));
        std::fs::read_to_string(&path).map_err(|source| UsernsError::Open { path, source })
    };
    if ns.metadata().map(id).ok() == own.ok() {
        return Ok((read("self", "uid_map")?, read("self", "gid_map")?));
    }
    let (status_read, status_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| open_err(e.into()))?;
    let helper = match sys::clone3(0, None).map_err(UsernsError::Clone)? {
        Forked::Child => {
            drop(status_read);
            // 0 once joined, else the errno.
            let status = match nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWUSER) {
                Ok(()) => 0,
                Err(e) => e as i32,
            };
            let _ = nix::unistd::write(&status_write, &status.to_ne_bytes());
            if status == 0 {
                hold_namespace();
            }
            // SAFETY: _exit skips the destructors of the parent's copy.
            unsafe { libc::_exit(1) }
        }
        Forked::Parent { pid, pidfd } => Helper { pid, pidfd },
    };
    drop(status_write);
    let mut status = [0u8; 4];
    match nix::unistd::read(&status_read, &mut status) {
        Ok(4) if i32::from_ne_bytes(status) == 0 => {
            let pid = helper.pid.to_string();
            Ok((read(&pid, "uid_map")?, read(&pid, "gid_map")?))
        }
        Ok(4) => Err(open_err(std::io::Error::from_raw_os_error(
            i32::from_ne_bytes(status),
        ))),
        _ => Err(open_err(std::io::Error::from_raw_os_error(libc::ECHILD))),
    }
}

/// True when the text of a uid_map or gid_map file lists exactly `maps`.
pub fn map_file_is(text: &str, maps: &[LinuxIdMapping]) -> bool {
    let mut have: Vec<Vec<u32>> = text
        .lines()
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .collect();
    let mut want: Vec<Vec<u32>> = maps
        .iter()
        .map(|m| vec![m.container_id(), m.host_id(), m.size()])
        .collect();
    have.sort_unstable();
    want.sort_unstable();
    have == want
}

/// The helper child of [`new_with_mappings`]: waits to be killed, and dies
/// with its parent.
fn hold_namespace() -> ! {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    loop {
        // SAFETY: pause only waits for a signal.
        unsafe { libc::pause() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps(list: &[(u32, u32, u32)]) -> Vec<LinuxIdMapping> {
        list.iter()
            .map(|&(c, h, s)| {
                serde_json::from_value(
                    serde_json::json!({"containerID": c, "hostID": h, "size": s}),
                )
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn mappings_are_checked_as_the_kernel_does() {
        let ok = maps(&[(0, 100000, 1000), (1000, 1000, 1), (1001, 101001, 64535)]);
        assert_eq!(check_mappings(&ok), Ok(()));
        assert_eq!(map_text(&ok[..2]), "0 100000 1000\n1000 1000 1\n");
        assert!(check_mappings(&[]).unwrap_err().contains("empty"));
        assert!(check_mappings(&maps(&[(0, 1, 0)]))
            .unwrap_err()
            .contains("size is 0"));
        assert!(check_mappings(&maps(&[(0, 100, 10), (5, 1000, 10)]))
            .unwrap_err()
            .contains("container ranges overlap"));
        assert!(check_mappings(&maps(&[(0, 100, 10), (50, 105, 10)]))
            .unwrap_err()
            .contains("host ranges overlap"));
        assert!(check_mappings(&maps(&[(u32::MAX, 0, 2)]))
            .unwrap_err()
            .contains("beyond"));
        let many: Vec<_> = (0..341).map(|i| (i, 1000 + i, 1)).collect();
        assert!(check_mappings(&maps(&many)).unwrap_err().contains("340"));
    }

    #[test]
    fn host_ids_and_sameness() {
        let m = maps(&[(0, 100000, 1000), (1000, 1000, 1)]);
        assert_eq!(host_id(&m, 0), Some(100000));
        assert_eq!(host_id(&m, 999), Some(100999));
        assert_eq!(host_id(&m, 1000), Some(1000));
        assert_eq!(host_id(&m, 1001), None);
        let swapped = maps(&[(1000, 1000, 1), (0, 100000, 1000)]);
        assert!(same_mappings(&m, &swapped));
        assert!(!same_mappings(&m, &m[..1]));
    }

    #[test]
    fn map_files_compare_as_sets() {
        let m = maps(&[(0, 100000, 1000), (1000, 1000, 1)]);
        let text = "      1000       1000          1\n         0     100000       1000\n";
        assert!(map_file_is(text, &m));
        assert!(!map_file_is(text, &m[..1]));
    }

    #[test]
    fn unprivileged_callers_map_only_themselves() {
        let own = maps(&[(0, 1000, 1)]);
        assert!(check_unprivileged_mappings(&own, &own, 1000, 1000).is_ok());
        let err = check_unprivileged_mappings(&maps(&[(0, 1001, 1)]), &own, 1000, 1000);
        assert!(err.unwrap_err().contains("linux.uidMappings"));
        let err = check_unprivileged_mappings(&own, &maps(&[(0, 1000, 2)]), 1000, 1000);
        assert!(err.unwrap_err().contains("linux.gidMappings"));
    }
}
