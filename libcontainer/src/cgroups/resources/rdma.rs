//! `linux.resources.rdma` → `rdma.max` (same format on v1 and v2).

use super::{need, set};
use crate::cgroups::{CgroupError, CgroupManager};
use oci_spec::runtime::LinuxRdma;
use std::collections::HashMap;

pub fn line(device: &str, r: &LinuxRdma) -> Option<String> {
    let mut parts = vec![device.to_string()];
    if let Some(h) = r.hca_handles() {
        parts.push(format!("hca_handle={h}"));
    }
    if let Some(o) = r.hca_objects() {
        parts.push(format!("hca_object={o}"));
    }
    (parts.len() > 1).then(|| parts.join(" "))
}

pub fn apply(mgr: &CgroupManager, rdma: &HashMap<String, LinuxRdma>) -> Result<(), CgroupError> {
    if rdma.is_empty() {
        return Ok(());
    }
    let t = need(mgr, "rdma", "rdma")?;
    for (device, r) in rdma {
        if let Some(l) = line(device, r) {
            set(t.dir(), "rdma.max", &l, &format!("rdma.{device}"))?;
        }
    }
    Ok(())
}
