//! `linux.resources.blockIO`.
//!
//! | field                      | v1                                   | v2                         |
//! |----------------------------|--------------------------------------|----------------------------|
//! | weight                     | blkio.weight, else blkio.bfq.weight  | io.bfq.weight, else io.weight (converted) |
//! | leafWeight                 | blkio.leaf_weight                    | error (no v2 knob)         |
//! | weightDevice               | blkio[.bfq].weight_device            | io.bfq.weight (BFQ only)   |
//! | weightDevice leafWeight    | blkio.leaf_weight_device             | error                      |
//! | throttle{Read,Write}{Bps,IOPS}Device | blkio.throttle.*_device    | io.max rbps/wbps/riops/wiops |
//!
//! As runc, on kernels without `blkio.weight` (no CFQ) the BFQ files are used,
//! and a weight or leaf weight of 0 means "not set" (docker writes
//! `"weight": 0` into every config.json; the kernel refuses 0).

use super::{need, set};
use crate::cgroups::{files, CgroupError, CgroupManager, Target};
use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};
use std::path::Path;

/// runc's conversion of a blkio weight (10..1000) to io.weight (1..10000).
pub fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// A weight as runc reads it: 0 is the same as absent.
fn weight(w: Option<u16>) -> Option<u16> {
    w.filter(|&w| w != 0)
}

fn is_set(b: &LinuxBlockIo) -> bool {
    let non_empty = |v: &Option<Vec<_>>| v.as_ref().is_some_and(|v: &Vec<_>| !v.is_empty());
    weight(b.weight()).is_some()
        || weight(b.leaf_weight()).is_some()
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || non_empty(b.throttle_read_bps_device())
        || non_empty(b.throttle_write_bps_device())
        || non_empty(b.throttle_read_iops_device())
        || non_empty(b.throttle_write_iops_device())
}

fn list(o: &Option<Vec<LinuxThrottleDevice>>) -> &[LinuxThrottleDevice] {
    o.as_deref().unwrap_or(&[])
}

fn throttles(
    b: &LinuxBlockIo,
) -> [(
    &'static str,
    &'static str,
    &'static str,
    &[LinuxThrottleDevice],
); 4] {
    [
        (
            "blockIO.throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            "rbps",
            list(b.throttle_read_bps_device()),
        ),
        (
            "blockIO.throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            "wbps",
            list(b.throttle_write_bps_device()),
        ),
        (
            "blockIO.throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            "riops",
            list(b.throttle_read_iops_device()),
        ),
        (
            "blockIO.throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            "wiops",
            list(b.throttle_write_iops_device()),
        ),
    ]
}

pub fn apply(mgr: &CgroupManager, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    if !is_set(b) {
        return Ok(());
    }
    // v1 calls the controller blkio, v2 io.
    let target = match mgr.target("blkio") {
        Some(t) => t,
        None => need(mgr, "io", "blockIO")?,
    };
    match target {
        Target::V1(dir) => apply_v1(dir, b),
        Target::V2(dir) => apply_v2(dir, b),
    }
}

fn apply_v1(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let (weight_file, weight_device_file) = if files::exists(dir, "blkio.weight") {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    if let Some(w) = weight(b.weight()) {
        set(dir, weight_file, &w.to_string(), "blockIO.weight")?;
    }
    if let Some(w) = weight(b.leaf_weight()) {
        set(
            dir,
            "blkio.leaf_weight",
            &w.to_string(),
            "blockIO.leafWeight",
        )?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = weight(d.weight()) {
            let line = format!("{}:{} {w}", d.major(), d.minor());
            set(dir, weight_device_file, &line, "blockIO.weightDevice")?;
        }
        if let Some(w) = weight(d.leaf_weight()) {
            let line = format!("{}:{} {w}", d.major(), d.minor());
            set(
                dir,
                "blkio.leaf_weight_device",
                &line,
                "blockIO.weightDevice.leafWeight",
            )?;
        }
    }
    for (field, file, _, devices) in throttles(b) {
        for d in devices {
            let line = format!("{}:{} {}", d.major(), d.minor(), d.rate());
            set(dir, file, &line, field)?;
        }
    }
    Ok(())
}

fn apply_v2(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    if weight(b.leaf_weight()).is_some()
        || b.weight_device()
            .iter()
            .flatten()
            .any(|d| weight(d.leaf_weight()).is_some())
    {
        return Err(CgroupError::resource(
            "blockIO.leafWeight",
            "cgroup v2 has no leaf weight",
        ));
    }
    let bfq = files::exists(dir, "io.bfq.weight");
    if let Some(w) = weight(b.weight()) {
        if bfq {
            set(dir, "io.bfq.weight", &w.to_string(), "blockIO.weight")?;
        } else {
            let v = blkio_to_io_weight(w);
            set(dir, "io.weight", &v.to_string(), "blockIO.weight")?;
        }
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = weight(d.weight()) {
            if !bfq {
                return Err(CgroupError::resource(
                    "blockIO.weightDevice",
                    "per-device weights on cgroup v2 need the BFQ I/O scheduler (io.bfq.weight)",
                ));
            }
            let line = format!("{}:{} {w}", d.major(), d.minor());
            set(dir, "io.bfq.weight", &line, "blockIO.weightDevice")?;
        }
    }
    for (field, _, key, devices) in throttles(b) {
        for d in devices {
            let line = format!("{}:{} {key}={}", d.major(), d.minor(), d.rate());
            set(dir, "io.max", &line, field)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_weight_conversion_matches_runc() {
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10000);
        assert_eq!(blkio_to_io_weight(500), 1 + 490 * 9999 / 990);
        assert_eq!(blkio_to_io_weight(0), 0);
    }
}
