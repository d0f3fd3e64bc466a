//! `linux.resources`, one module per controller. Each module applies its
//! part on v1 or v2, wherever this host holds the controller; a field the
//! host cannot apply is an error naming it.
//!
//! | spec field            | module       |
//! |-----------------------|--------------|
//! | `devices`             | [`devices`] (v2: [`super::devices_bpf`]) |
//! | `memory`              | [`memory`]   |
//! | `cpu`                 | [`cpu`]      |
//! | `pids`                | [`pids`]     |
//! | `blockIO`             | [`blkio`]    |
//! | `hugepageLimits`      | [`hugetlb`]  |
//! | `network`             | [`network`]  |
//! | `rdma`                | [`rdma`]     |
//! | `unified`             | [`unified`]  |

pub mod cpu;
pub mod devices;
pub mod memory;
pub mod pids;

use super::{files, CgroupError, CgroupManager, Target};
use oci_spec::runtime::LinuxResources;
use std::path::Path;

/// Applies every part of `r` that is set.
pub fn apply(mgr: &CgroupManager, r: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(rules) = r.devices() {
        devices::apply(mgr, rules)?;
    }
    if let Some(m) = r.memory() {
        memory::apply(mgr, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu::apply(mgr, c)?;
    }
    if let Some(p) = r.pids() {
        pids::apply(mgr, p)?;
    }
    if r.block_io().is_some() {
        return Err(not_yet("blockIO"));
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        return Err(not_yet("hugepageLimits"));
    }
    if r.network().is_some() {
        return Err(not_yet("network"));
    }
    if r.rdma().as_ref().is_some_and(|h| !h.is_empty()) {
        return Err(not_yet("rdma"));
    }
    if r.unified().as_ref().is_some_and(|h| !h.is_empty()) {
        return Err(not_yet("unified"));
    }
    Ok(())
}

fn not_yet(field: &str) -> CgroupError {
    CgroupError::resource(field, "not supported by berth yet")
}

/// The controller's directory, or an error naming the field that needs it.
pub(crate) fn need<'a>(
    mgr: &'a CgroupManager,
    controller: &str,
    field: &str,
) -> Result<Target<'a>, CgroupError> {
    mgr.target(controller).ok_or_else(|| {
        CgroupError::resource(
            field,
            format!(
                "the {controller} controller is neither mounted as cgroup v1 nor enabled for this container's cgroup v2 directory"
            ),
        )
    })
}

/// Writes one interface file for `field`; a file the kernel does not have
/// is an error naming the field.
pub(crate) fn set(dir: &Path, file: &str, value: &str, field: &str) -> Result<(), CgroupError> {
    if !files::exists(dir, file) {
        return Err(CgroupError::resource(
            field,
            format!("{} does not exist on this kernel", dir.join(file).display()),
        ));
    }
    files::write(dir, file, value).map_err(|e| CgroupError::resource(field, e.to_string()))
}
