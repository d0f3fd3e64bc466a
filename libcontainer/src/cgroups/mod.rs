//! Control groups: v1, v2 and hybrid hosts.
//!
//! A [`CgroupManager`] is computed from the spec at create time (no file system
//! change), serialised into the container's state, and reloaded by later
//! commands (`kill --all`, `pause`, `update`, `delete`, ...).

use oci_spec::runtime::LinuxResources;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where a container's cgroup lives on this host, per hierarchy.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CgroupManager {}

impl CgroupManager {
    /// `cgroups_path` is `linux.cgroupsPath` (absolute, relative, or None for the default).
    pub fn new(
        cgroups_path: Option<&std::path::Path>,
        container_id: &str,
    ) -> Result<Self, CgroupError> {
        let _ = (cgroups_path, container_id);
        todo!()
    }
    /// Creates the directories. Called by the parent before init runs user code.
    pub fn create(&self) -> Result<(), CgroupError> {
        todo!()
    }
    /// Moves `pid` into the cgroup (every hierarchy).
    pub fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        let _ = pid;
        todo!()
    }
    /// Applies `linux.resources`. Errors name the key the host cannot apply.
    pub fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        let _ = resources;
        todo!()
    }
    /// Pids of every process in the cgroup.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        todo!()
    }
    pub fn freeze(&self) -> Result<(), CgroupError> {
        todo!()
    }
    pub fn thaw(&self) -> Result<(), CgroupError> {
        todo!()
    }
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        todo!()
    }
    pub fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        let _ = signal;
        todo!()
    }
    /// Removes the directories (after every process is gone).
    pub fn destroy(&self) -> Result<(), CgroupError> {
        todo!()
    }
}
