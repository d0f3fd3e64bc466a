//! `linux.resources.cpu`.
//!
//! | field                | v1                              | v2                          |
//! |----------------------|---------------------------------|-----------------------------|
//! | shares               | cpu.shares                      | cpu.weight (converted)      |
//! | quota, period        | cpu.cfs_quota_us, cpu.cfs_period_us | cpu.max "quota period"  |
//! | burst                | cpu.cfs_burst_us                | cpu.max.burst               |
//! | realtimeRuntime/Period | cpu.rt_runtime_us, cpu.rt_period_us | error (no v2 knob)    |
//! | idle                 | cpu.idle                        | cpu.idle                    |
//! | cpus, mems           | cpuset.cpus, cpuset.mems (cpuset controller)                  |

use super::{need, set};
use crate::cgroups::{files, CgroupError, CgroupManager, Target};
use oci_spec::runtime::LinuxCpu;
use std::path::Path;

/// runc's documented conversion of v1 shares (2..262144) to v2 weight
/// (1..10000): `1 + ((shares - 2) * 9999) / 262142`; 0 means unset.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let shares = shares.clamp(2, 262144);
    1 + ((shares - 2) * 9999) / 262142
}

pub fn apply(mgr: &CgroupManager, c: &LinuxCpu) -> Result<(), CgroupError> {
    let cpu_fields = c.shares().is_some()
        || c.quota().is_some()
        || c.period().is_some()
        || c.burst().is_some()
        || c.realtime_runtime().is_some()
        || c.realtime_period().is_some()
        || c.idle().is_some();
    if cpu_fields {
        match need(mgr, "cpu", "cpu")? {
            Target::V1(dir) => apply_v1(dir, c)?,
            Target::V2(dir) => apply_v2(dir, c)?,
        }
    }
    let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.is_empty());
    if cpus.is_some() || mems.is_some() {
        let t = need(mgr, "cpuset", "cpu.cpus")?;
        if let Some(cpus) = cpus {
            set(t.dir(), "cpuset.cpus", cpus, "cpu.cpus")?;
        }
        if let Some(mems) = mems {
            set(t.dir(), "cpuset.mems", mems, "cpu.mems")?;
        }
    }
    Ok(())
}

fn apply_v1(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        set(dir, "cpu.shares", &s.to_string(), "cpu.shares")?;
        // The kernel clamps: report a value it did not take.
        let got = files::read(dir, "cpu.shares")?;
        if got.trim() != s.to_string() {
            return Err(CgroupError::resource(
                "cpu.shares",
                format!("the kernel set {} instead of {s}", got.trim()),
            ));
        }
    }
    let period = c.period().filter(|p| *p != 0);
    let quota = c.quota().filter(|q| *q != 0);
    match (period, quota) {
        (Some(p), Some(q)) => {
            // The kernel refuses a period that makes the current quota
            // invalid (EINVAL): then the quota goes first.
            if set(dir, "cpu.cfs_period_us", &p.to_string(), "cpu.period").is_err() {
                set(dir, "cpu.cfs_quota_us", &q.to_string(), "cpu.quota")?;
                set(dir, "cpu.cfs_period_us", &p.to_string(), "cpu.period")?;
            } else {
                set(dir, "cpu.cfs_quota_us", &q.to_string(), "cpu.quota")?;
            }
        }
        (Some(p), None) => set(dir, "cpu.cfs_period_us", &p.to_string(), "cpu.period")?,
        (None, Some(q)) => set(dir, "cpu.cfs_quota_us", &q.to_string(), "cpu.quota")?,
        (None, None) => {}
    }
    if let Some(b) = c.burst() {
        set(dir, "cpu.cfs_burst_us", &b.to_string(), "cpu.burst")?;
    }
    // rt_period before rt_runtime: the runtime must fit in the period.
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        set(
            dir,
            "cpu.rt_period_us",
            &p.to_string(),
            "cpu.realtimePeriod",
        )?;
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        set(
            dir,
            "cpu.rt_runtime_us",
            &r.to_string(),
            "cpu.realtimeRuntime",
        )?;
    }
    if let Some(i) = c.idle() {
        set(dir, "cpu.idle", &i.to_string(), "cpu.idle")?;
    }
    Ok(())
}

/// `cpu.max`'s value: quota (`max` when negative or absent) and period;
/// None when neither is set.
pub fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let quota = quota.filter(|q| *q != 0);
    let period = period.filter(|p| *p != 0);
    if quota.is_none() && period.is_none() {
        return None;
    }
    let q = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".to_string(),
    };
    Some(match period {
        Some(p) => format!("{q} {p}"),
        None => q,
    })
}

fn apply_v2(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if c.realtime_runtime().is_some_and(|r| r != 0) || c.realtime_period().is_some_and(|p| p != 0) {
        return Err(CgroupError::resource(
            "cpu.realtimeRuntime",
            "cgroup v2 has no real-time CPU bandwidth",
        ));
    }
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        set(
            dir,
            "cpu.weight",
            &shares_to_weight(s).to_string(),
            "cpu.shares",
        )?;
    }
    if let Some(i) = c.idle() {
        set(dir, "cpu.idle", &i.to_string(), "cpu.idle")?;
    }
    // With only a period, the current quota is kept.
    let value = match (
        c.quota().filter(|q| *q != 0),
        c.period().filter(|p| *p != 0),
    ) {
        (None, Some(p)) => {
            let current = files::read(dir, "cpu.max")?;
            let q = current
                .split_whitespace()
                .next()
                .unwrap_or("max")
                .to_owned();
            Some(format!("{q} {p}"))
        }
        (q, p) => cpu_max(q, p),
    };
    if let Some(v) = value {
        set(dir, "cpu.max", &v, "cpu.quota")?;
    }
    if let Some(b) = c.burst() {
        set(dir, "cpu.max.burst", &b.to_string(), "cpu.burst")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_conversion_matches_runc() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
    }

    #[test]
    fn cpu_max_values() {
        assert_eq!(cpu_max(Some(50000), Some(100000)).unwrap(), "50000 100000");
        assert_eq!(cpu_max(Some(-1), None).unwrap(), "max");
        assert_eq!(cpu_max(None, None), None);
    }
}
