//! `linux.resources.hugepageLimits`: v1 `hugetlb.<size>.limit_in_bytes`,
//! v2 `hugetlb.<size>.max` (and `.rsvd.max` where the kernel has it, so
//! that reservations are limited too, as runc).

use super::{need, set};
use crate::cgroups::{files, CgroupError, CgroupManager, Target};
use oci_spec::runtime::LinuxHugepageLimit;

pub fn apply(mgr: &CgroupManager, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    if limits.is_empty() {
        return Ok(());
    }
    let target = need(mgr, "hugetlb", "hugepageLimits")?;
    for (i, l) in limits.iter().enumerate() {
        let field = format!("hugepageLimits[{i}]");
        let size = l.page_size();
        if size.is_empty() || size.contains('/') || size.contains('.') {
            return Err(CgroupError::resource(
                field,
                format!("pageSize {size:?} is not a size like 2MB"),
            ));
        }
        match target {
            Target::V1(dir) => set(
                dir,
                &format!("hugetlb.{size}.limit_in_bytes"),
                &l.limit().to_string(),
                &field,
            )?,
            Target::V2(dir) => {
                let value = super::memory::v2_bytes(l.limit());
                set(dir, &format!("hugetlb.{size}.max"), &value, &field)?;
                let rsvd = format!("hugetlb.{size}.rsvd.max");
                if files::exists(dir, &rsvd) {
                    set(dir, &rsvd, &value, &field)?;
                }
            }
        }
    }
    Ok(())
}
