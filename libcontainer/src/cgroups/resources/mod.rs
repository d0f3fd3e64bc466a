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

pub mod blkio;
pub mod cpu;
pub mod devices;
pub mod hugetlb;
pub mod memory;
pub mod network;
pub mod pids;
pub mod rdma;
pub mod unified;

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
    if let Some(b) = r.block_io() {
        blkio::apply(mgr, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        hugetlb::apply(mgr, h)?;
    }
    if let Some(n) = r.network() {
        network::apply(mgr, n)?;
    }
    if let Some(m) = r.rdma() {
        rdma::apply(mgr, m)?;
    }
    if let Some(u) = r.unified() {
        unified::apply(mgr, u)?;
    }
    Ok(())
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
    files::write(dir, file, value).map_err(CgroupError::for_field(field))
}
