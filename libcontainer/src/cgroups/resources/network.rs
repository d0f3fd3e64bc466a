//! `linux.resources.network`: v1 only (`net_cls.classid`,
//! `net_prio.ifpriomap`); cgroup v2 has no such controllers.

use super::set;
use crate::cgroups::{CgroupError, CgroupManager};
use oci_spec::runtime::LinuxNetwork;

pub fn apply(mgr: &CgroupManager, n: &LinuxNetwork) -> Result<(), CgroupError> {
    if let Some(id) = n.class_id() {
        let dir = mgr.v1_dir("net_cls").ok_or_else(|| {
            CgroupError::resource(
                "network.classID",
                "the net_cls v1 controller is not mounted",
            )
        })?;
        set(dir, "net_cls.classid", &id.to_string(), "network.classID")?;
    }
    let priorities = n.priorities().as_deref().unwrap_or(&[]);
    if !priorities.is_empty() {
        let dir = mgr.v1_dir("net_prio").ok_or_else(|| {
            CgroupError::resource(
                "network.priorities",
                "the net_prio v1 controller is not mounted",
            )
        })?;
        for p in priorities {
            let line = format!("{} {}", p.name(), p.priority());
            set(dir, "net_prio.ifpriomap", &line, "network.priorities")?;
        }
    }
    Ok(())
}
