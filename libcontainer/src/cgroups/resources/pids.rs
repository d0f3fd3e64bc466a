//! `linux.resources.pids` → `pids.max` (same file on v1 and v2).

use super::{need, set};
use crate::cgroups::{CgroupError, CgroupManager};
use oci_spec::runtime::LinuxPids;

/// runc's meaning: a positive limit is the limit, a negative one is
/// unlimited, 0 leaves the current value.
pub fn max_value(limit: i64) -> Option<String> {
    match limit {
        0 => None,
        l if l < 0 => Some("max".into()),
        l => Some(l.to_string()),
    }
}

pub fn apply(mgr: &CgroupManager, p: &LinuxPids) -> Result<(), CgroupError> {
    let Some(value) = max_value(p.limit()) else {
        return Ok(());
    };
    let field = "pids.limit";
    let t = need(mgr, "pids", field)?;
    set(t.dir(), "pids.max", &value, field)
}
