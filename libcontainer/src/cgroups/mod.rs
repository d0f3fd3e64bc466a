//! Control groups: v1, v2 and hybrid hosts.
//!
//! A [`CgroupManager`] is computed from the spec at create time (no file system
//! change), serialised into the container's state, and reloaded by later
//! commands (`kill --all`, `pause`, `update`, `delete`, ...).
//!
//! Where things are:
//! - host layout (`/proc/self/mountinfo`) and `linux.cgroupsPath`: [`layout`]
//! - making directories, freezer: [`v1`], [`v2`]
//! - `linux.resources`, one module per controller: [`resources`]; v2 device
//!   rules as eBPF: [`devices_bpf`]
//! - usage statistics and OOM notifications for `events`: [`stats`], [`oom`]
//!
//! On a hybrid host every controller is used where it is mounted: a v1
//! hierarchy when one holds it, otherwise the v2 hierarchy.

pub mod devices_bpf;
pub mod files;
pub mod layout;
pub mod oom;
pub mod resources;
pub mod stats;
#[cfg(test)]
mod test_util;
pub mod v1;
pub mod v2;

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cgroup: writing {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no cgroup hierarchy is mounted (nothing of type cgroup or cgroup2 in /proc/self/mountinfo)")]
    NoHierarchy,
    #[error("linux.resources.{field}: {reason}")]
    Resource { field: String, reason: String },
    /// The failed write is in the message, not in `source()`: its own
    /// message already carries its cause, and error chains printed with
    /// `{:#}` would repeat it.
    #[error("linux.resources.{field}: {cause}")]
    ResourceWrite {
        field: String,
        cause: Box<CgroupError>,
    },
    #[error("cgroup freezer {path}: {reason}")]
    Freezer { path: PathBuf, reason: String },
    #[error("cgroup {path}: waited {after:?} for {what}")]
    Timeout {
        path: PathBuf,
        what: String,
        after: Duration,
    },
    #[error("cgroup {path} still has processes {pids:?}")]
    Busy { path: PathBuf, pids: Vec<i32> },
    #[error(
        "linux.cgroupsPath {0:?} names the root of the cgroup hierarchy, not a cgroup of its own"
    )]
    BadPath(PathBuf),
    #[error("container's cgroup is not empty: {0} process(es) found")]
    NotEmpty(usize),
    #[error("container's cgroup unexpectedly frozen")]
    Frozen,
    #[error("container {0} has no cgroup recorded in its state")]
    NoCgroup(String),
    #[error("cgroup {path}: removing: {source}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl CgroupError {
    /// A failed write, with the field of the spec it was for.
    pub(crate) fn for_field(field: impl Into<String>) -> impl FnOnce(CgroupError) -> Self {
        let field = field.into();
        move |cause| CgroupError::ResourceWrite {
            field,
            cause: Box::new(cause),
        }
    }

    pub(crate) fn resource(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CgroupError::Resource {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl CgroupError {
    /// True when the host refused berth access to a cgroup file (an
    /// unprivileged user without a delegated cgroup).
    pub fn is_permission(&self) -> bool {
        let io = match self {
            CgroupError::Io { source, .. } | CgroupError::Write { source, .. } => source,
            _ => return false,
        };
        io.kind() == std::io::ErrorKind::PermissionDenied
            || matches!(io.raw_os_error(), Some(libc::EPERM | libc::EROFS))
    }
}

/// True when `resources` asks for anything a cgroup controller enforces
/// (device rules aside, which an unprivileged user cannot set anyway).
pub fn needs_controllers(resources: &LinuxResources) -> bool {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(resources) else {
        return true;
    };
    fields.iter().any(|(name, value)| {
        name != "devices"
            && match value {
                serde_json::Value::Null => false,
                serde_json::Value::Array(a) => !a.is_empty(),
                serde_json::Value::Object(o) => o.values().any(|v| !v.is_null()),
                _ => true,
            }
    })
}

/// The container's directory in one v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Dir {
    pub controllers: Vec<String>,
    pub mount_point: PathBuf,
    pub dir: PathBuf,
}

/// The container's directory in the v2 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2Dir {
    pub mount_point: PathBuf,
    pub dir: PathBuf,
}

/// Where a container's cgroup lives on this host, per hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupManager {
    pub v1: Vec<V1Dir>,
    pub v2: Option<V2Dir>,
    /// The directories of [`CgroupManager::dirs`] that berth made (set by
    /// [`CgroupManager::create`]): only these are removed. None in a state
    /// written before berth recorded it: every directory is then removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Vec<PathBuf>>,
}

/// Where a controller's files are for this container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl Target<'_> {
    pub fn dir(&self) -> &Path {
        match self {
            Target::V1(d) | Target::V2(d) => d,
        }
    }
}

/// How long `destroy` waits for the last processes to leave.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

impl CgroupManager {
    /// `cgroups_path` is `linux.cgroupsPath` (absolute, relative, or None for
    /// the default). As runc: absent means the container id, relative to
    /// berth's own cgroup (on v2, to its parent).
    pub fn new(cgroups_path: Option<&Path>, container_id: &str) -> Result<Self, CgroupError> {
        let layout = layout::host()?;
        let own = layout::OwnCgroups::read()?;
        let inner = match cgroups_path {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from(container_id),
        };
        // The container's cgroup is removed, and what is left in it killed,
        // on delete: it must not be a hierarchy's root.
        let cleaned = layout::clean(&inner);
        if cleaned.as_os_str().is_empty() || cleaned == Path::new("/") {
            return Err(CgroupError::BadPath(inner));
        }
        Ok(Self::from_layout(layout, &own, &inner))
    }

    /// The manager for `inner` on a given layout (pure: no file system access).
    pub fn from_layout(layout: &layout::Layout, own: &layout::OwnCgroups, inner: &Path) -> Self {
        let (v1_dirs, v2_dir) = layout::container_dirs(layout, own, inner);
        let v1 = layout
            .v1
            .iter()
            .filter_map(|m| {
                let dir = v1_dirs.get(m.controllers.first()?)?;
                Some(V1Dir {
                    controllers: m.controllers.clone(),
                    mount_point: m.mount_point.clone(),
                    dir: dir.clone(),
                })
            })
            .collect();
        let v2 = match (&layout.v2, v2_dir) {
            (Some(m), Some(dir)) => Some(V2Dir {
                mount_point: m.mount_point.clone(),
                dir,
            }),
            _ => None,
        };
        CgroupManager {
            v1,
            v2,
            created: None,
        }
    }

    /// Every directory of the container's cgroup, one per hierarchy.
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.v1
            .iter()
            .map(|d| d.dir.as_path())
            .chain(self.v2.iter().map(|d| d.dir.as_path()))
    }

    /// The v1 directory of `controller`, when a v1 hierarchy holds it.
    pub fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| d.dir.as_path())
    }

    /// Where `controller` is: its v1 hierarchy if one holds it, otherwise the
    /// v2 directory if the controller is enabled there.
    pub fn target(&self, controller: &str) -> Option<Target<'_>> {
        if let Some(dir) = self.v1_dir(controller) {
            return Some(Target::V1(dir));
        }
        let v2 = self.v2.as_ref()?;
        v2::controllers(&v2.dir)
            .iter()
            .any(|c| c == controller)
            .then_some(Target::V2(&v2.dir))
    }

    /// The directory whose process list is the container's: the freezer's
    /// (so that pids are stable while frozen), else v2, else any.
    fn procs_dir(&self) -> Option<&Path> {
        self.v1_dir("freezer")
            .or(self.v2.as_ref().map(|d| d.dir.as_path()))
            .or(self.v1.first().map(|d| d.dir.as_path()))
    }

    /// Creates the directories, recording which ones berth made. Called by
    /// the parent before init exists. As runc 1.2, an existing cgroup is
    /// taken only when it holds no process and is not frozen: it is not
    /// another container's, nor a service's (`/system.slice`). On an error
    /// what this call made is removed again.
    pub fn create(&mut self) -> Result<(), CgroupError> {
        let mut made = Vec::new();
        let result = self.make_dirs(&mut made).and_then(|()| {
            if made.len() == self.dirs().count() {
                Ok(())
            } else {
                self.check_unused()
            }
        });
        self.created = Some(made);
        if let Err(e) = result {
            let _ = self.remove_made();
            return Err(e);
        }
        Ok(())
    }

    fn make_dirs(&self, made: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
        for d in &self.v1 {
            let is_cpuset = d.controllers.iter().any(|c| c == "cpuset");
            if v1::create(&d.dir, &d.mount_point, is_cpuset)? {
                made.push(d.dir.clone());
            }
        }
        if let Some(d) = &self.v2 {
            if v2::create(&d.dir, &d.mount_point)? {
                made.push(d.dir.clone());
            }
        }
        Ok(())
    }

    /// runc's checks on a cgroup that existed before the container.
    fn check_unused(&self) -> Result<(), CgroupError> {
        let mut pids = Vec::new();
        let mut seen: Vec<&Path> = Vec::new();
        for dir in self.dirs() {
            if !seen.contains(&dir) {
                seen.push(dir);
                collect_procs(dir, &mut pids)?;
            }
        }
        // The same processes are listed in every hierarchy.
        pids.sort_unstable();
        pids.dedup();
        if !pids.is_empty() {
            return Err(CgroupError::NotEmpty(pids.len()));
        }
        if self.is_frozen()? {
            return Err(CgroupError::Frozen);
        }
        Ok(())
    }

    /// The container's v2 directory opened for `clone3(CLONE_INTO_CGROUP)`
    /// (after [`CgroupManager::create`]), so that init starts inside it;
    /// None without a v2 hierarchy. v1 hierarchies still need
    /// [`CgroupManager::add_task`], which is harmless for v2 then.
    pub fn clone_into_fd(&self) -> Result<Option<std::os::fd::OwnedFd>, CgroupError> {
        let Some(d) = &self.v2 else {
            return Ok(None);
        };
        let dir = std::fs::File::open(&d.dir).map_err(|source| CgroupError::Io {
            path: d.dir.clone(),
            source,
        })?;
        Ok(Some(dir.into()))
    }

    /// Moves `pid` into the cgroup (every hierarchy).
    pub fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in self.dirs() {
            files::write(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Applies `linux.resources`. Errors name the key the host cannot apply.
    pub fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        resources::apply(self, resources)
    }

    /// `update`: applies `resources` to a live container; if any part fails,
    /// the limits it already changed are put back to their old values.
    pub fn update(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        let mut keys: Vec<String> = resources
            .unified()
            .iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        keys.sort();
        let snapshot = self.snapshot(&keys);
        match resources::apply(self, resources) {
            Ok(()) => Ok(()),
            Err(e) => {
                restore(&snapshot);
                Err(e)
            }
        }
    }

    /// The current value of every single-valued limit file update may touch.
    fn snapshot(&self, unified_keys: &[String]) -> Vec<(PathBuf, String)> {
        const V1: &[&str] = &[
            "memory.memsw.limit_in_bytes",
            "memory.limit_in_bytes",
            "memory.soft_limit_in_bytes",
            "memory.swappiness",
            "memory.kmem.tcp.limit_in_bytes",
            "cpu.shares",
            "cpu.cfs_period_us",
            "cpu.cfs_quota_us",
            "cpu.cfs_burst_us",
            "cpu.rt_period_us",
            "cpu.rt_runtime_us",
            "cpu.idle",
            "cpuset.cpus",
            "cpuset.mems",
            "pids.max",
            "blkio.weight",
            "blkio.bfq.weight",
            "blkio.leaf_weight",
            "net_cls.classid",
        ];
        const V2: &[&str] = &[
            "memory.swap.max",
            "memory.max",
            "memory.low",
            "cpu.weight",
            "cpu.max",
            "cpu.max.burst",
            "cpu.idle",
            "cpuset.cpus",
            "cpuset.mems",
            "pids.max",
            "io.weight",
            "io.bfq.weight",
        ];
        let mut out = Vec::new();
        let mut take = |dir: &Path, file: &str| {
            if let Ok(v) = files::read(dir, file) {
                out.push((dir.join(file), v.trim().to_owned()));
            }
        };
        for d in &self.v1 {
            for f in V1 {
                take(&d.dir, f);
            }
        }
        if let Some(d) = &self.v2 {
            for f in V2
                .iter()
                .copied()
                .chain(unified_keys.iter().map(String::as_str))
            {
                take(&d.dir, f);
            }
        }
        out
    }

    /// Pids of every process in the cgroup, including the sub-cgroups the
    /// container made (with a cgroup namespace and a writable cgroupfs).
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut out = Vec::new();
        if let Some(dir) = self.procs_dir() {
            collect_procs(dir, &mut out)?;
        }
        Ok(out)
    }

    pub fn freeze(&self) -> Result<(), CgroupError> {
        match self.freezer() {
            Some(Target::V1(dir)) => v1::freeze(dir),
            Some(Target::V2(dir)) => v2::freeze(dir),
            None => Err(CgroupError::Freezer {
                path: PathBuf::from("/sys/fs/cgroup"),
                reason: "no freezer: neither a v1 freezer hierarchy nor cgroup v2 is mounted"
                    .into(),
            }),
        }
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self.freezer() {
            Some(Target::V1(dir)) => v1::thaw(dir),
            Some(Target::V2(dir)) => v2::thaw(dir),
            None => Ok(()),
        }
    }

    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        match self.freezer() {
            Some(Target::V1(dir)) => v1::is_frozen(dir),
            Some(Target::V2(dir)) => v2::is_frozen(dir),
            None => Ok(false),
        }
    }

    /// The v1 freezer, else v2's `cgroup.freeze` (every non-root v2 cgroup
    /// has it).
    fn freezer(&self) -> Option<Target<'_>> {
        if let Some(dir) = self.v1_dir("freezer") {
            return Some(Target::V1(dir));
        }
        self.v2
            .as_ref()
            .filter(|d| files::exists(&d.dir, "cgroup.freeze"))
            .map(|d| Target::V2(&d.dir))
    }

    /// Signals every process of the container. SIGKILL goes through v2's
    /// `cgroup.kill` when the kernel has it (no pid races at all); otherwise
    /// the cgroup is frozen so that no process can fork or exit while each
    /// is signalled, then thawed again (a paused container stays paused,
    /// except for SIGKILL, which frozen tasks only act on once thawed).
    pub fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        if signal == libc::SIGKILL {
            if let Some(d) = self.v2.as_ref().filter(|d| v2::has_kill(&d.dir)) {
                v2::kill(&d.dir)?;
                // On a hybrid host the v1 freezer may hold them: frozen tasks
                // act on SIGKILL only once thawed.
                if let Some(dir) = self.v1_dir("freezer") {
                    if v1::is_frozen(dir)? {
                        v1::thaw(dir)?;
                    }
                }
                return Ok(());
            }
        }
        let have_freezer = self.freezer().is_some();
        let was_frozen = have_freezer && self.is_frozen()?;
        if have_freezer && !was_frozen {
            self.freeze()?;
        }
        let result = self.signal_each(signal);
        if have_freezer && (!was_frozen || signal == libc::SIGKILL) {
            self.thaw()?;
        }
        result
    }

    fn signal_each(&self, signal: i32) -> Result<(), CgroupError> {
        let sig = nix::sys::signal::Signal::try_from(signal).map_err(|e| CgroupError::Io {
            path: PathBuf::from(format!("signal {signal}")),
            source: e.into(),
        })?;
        for pid in self.pids()? {
            match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => {
                    return Err(CgroupError::Io {
                        path: PathBuf::from(format!("/proc/{pid}")),
                        source: e.into(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Removes the directories berth made (after every process is gone),
    /// with the sub-cgroups the container made in them; a directory that
    /// existed before the container is left. A directory already gone is fine.
    ///
    /// Processes still in it (left by a container without its own pid
    /// namespace once init exited) are killed first, as runc does: the
    /// cgroup held none when the container was made, so they are its own.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let populated = match &self.v2 {
            Some(d) => files::read(&d.dir, "cgroup.events")
                .map(|t| files::flat_keyed(&t).any(|(k, v)| k == "populated" && v.trim() == "1"))
                .unwrap_or(false),
            None => false,
        };
        let left = self.pids()?;
        if populated || !left.is_empty() {
            self.kill_all(libc::SIGKILL)?;
            match &self.v2 {
                Some(d) => v2::wait_unpopulated(&d.dir, DRAIN_TIMEOUT)?,
                None => wait_exit(&left, DRAIN_TIMEOUT)?,
            }
        }
        self.remove_made()
    }

    /// Removes the directories berth made, with what is below them.
    fn remove_made(&self) -> Result<(), CgroupError> {
        let mut first_error = None;
        let mut done: Vec<&Path> = Vec::new();
        for dir in self.dirs() {
            let made = self
                .created
                .as_ref()
                .is_none_or(|c| c.iter().any(|m| m == dir));
            if done.contains(&dir) || !made {
                continue;
            }
            done.push(dir);
            if let Err(e) = remove_tree(dir) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn collect_procs(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    out.extend(files::procs(dir)?);
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Io {
                path: dir.to_owned(),
                source,
            })
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_procs(&entry.path(), out)?;
        }
    }
    Ok(())
}

/// Waits, on their pidfds, until every one of `pids` has exited (a task
/// leaves its cgroups before its pidfd reports the exit).
fn wait_exit(pids: &[i32], timeout: Duration) -> Result<(), CgroupError> {
    let mut fds = Vec::new();
    for &pid in pids {
        match crate::sys::pidfd_open(pid) {
            Ok(fd) => fds.push((pid, fd)),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(source) => {
                return Err(CgroupError::Io {
                    path: PathBuf::from(format!("/proc/{pid}")),
                    source,
                })
            }
        }
    }
    let deadline = std::time::Instant::now() + timeout;
    while !fds.is_empty() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(CgroupError::Busy {
                path: PathBuf::from("cgroup.procs"),
                pids: fds.iter().map(|(p, _)| *p).collect(),
            });
        }
        let mut polls: Vec<nix::poll::PollFd> = fds
            .iter()
            .map(|(_, fd)| nix::poll::PollFd::new(fd.as_fd(), nix::poll::PollFlags::POLLIN))
            .collect();
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        match nix::poll::poll(&mut polls, nix::poll::PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                return Err(CgroupError::Io {
                    path: PathBuf::from("pidfd"),
                    source: e.into(),
                })
            }
        }
        let exited: Vec<bool> = polls.iter().map(|p| p.any().unwrap_or(false)).collect();
        drop(polls);
        let mut i = 0;
        fds.retain(|_| {
            let keep = !exited[i];
            i += 1;
            keep
        });
    }
    Ok(())
}

/// Writes back a snapshot. Limits depend on each other (memory+swap ≥
/// memory, quota within period), so what fails is tried once more after
/// the rest is back.
fn restore(snapshot: &[(PathBuf, String)]) {
    let write = |path: &Path, value: &str| std::fs::write(path, value).is_ok();
    let failed: Vec<_> = snapshot
        .iter()
        .filter(|(p, v)| !v.is_empty() && !write(p, v))
        .collect();
    for (p, v) in failed {
        if !write(p, v) {
            tracing::warn!("could not restore {} to {v:?}", p.display());
        }
    }
}

/// Removes a cgroup directory and its sub-cgroups, deepest first. rmdir can
/// fail with EBUSY for a moment after the last process left (the kernel is
/// still releasing it): only then, with no process listed, it is retried a
/// few times.
fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Io {
                path: dir.to_owned(),
                source,
            })
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&entry.path())?;
        }
    }
    const RETRIES: u32 = 10;
    let mut attempt = 0;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                let pids = files::procs(dir)?;
                if !pids.is_empty() {
                    return Err(CgroupError::Busy {
                        path: dir.to_owned(),
                        pids,
                    });
                }
                attempt += 1;
                if attempt > RETRIES {
                    return Err(CgroupError::Remove {
                        path: dir.to_owned(),
                        source: e,
                    });
                }
                std::thread::sleep(Duration::from_millis(5 * u64::from(attempt)));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_owned(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::needs_controllers;

    #[test]
    fn limits_need_controllers_device_rules_do_not() {
        let r = |v: serde_json::Value| serde_json::from_value(v).unwrap();
        assert!(!needs_controllers(&r(serde_json::json!({}))));
        assert!(!needs_controllers(&r(
            serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]})
        )));
        assert!(needs_controllers(&r(
            serde_json::json!({"pids": {"limit": 10}})
        )));
        assert!(needs_controllers(&r(
            serde_json::json!({"memory": {"limit": 1048576}})
        )));
    }
}
