//! `linux.resources.memory`.
//!
//! | field              | v1                                  | v2                      |
//! |--------------------|-------------------------------------|-------------------------|
//! | limit              | memory.limit_in_bytes               | memory.max              |
//! | swap (mem+swap)    | memory.memsw.limit_in_bytes         | memory.swap.max = swap − limit |
//! | reservation        | memory.soft_limit_in_bytes          | memory.low              |
//! | swappiness         | memory.swappiness                   | error (no v2 knob)      |
//! | disableOOMKiller   | memory.oom_control                  | error (no v2 knob)      |
//! | kernel, kernelTCP  | memory.kmem[.tcp].limit_in_bytes    | error                   |
//! | useHierarchy       | memory.use_hierarchy                | always on: false is an error |
//! | checkBeforeUpdate  | —                                   | memory.current ≤ new limit |

use super::{need, set};
use crate::cgroups::{files, CgroupError, CgroupManager, Target};
use oci_spec::runtime::LinuxMemory;
use std::path::Path;

pub fn apply(mgr: &CgroupManager, m: &LinuxMemory) -> Result<(), CgroupError> {
    let any = m.limit().is_some()
        || m.reservation().is_some()
        || m.swap().is_some()
        || m.kernel().is_some()
        || m.kernel_tcp().is_some()
        || swappiness(m).is_some()
        || m.disable_oom_killer().is_some()
        || m.use_hierarchy().is_some();
    if !any {
        return Ok(());
    }
    match need(mgr, "memory", "memory")? {
        Target::V1(dir) => apply_v1(dir, m),
        Target::V2(dir) => apply_v2(dir, m),
    }
}

/// `swappiness`, where -1 (as docker sends "unset", u64::MAX once read
/// as unsigned) means unset, as runc reads it.
fn swappiness(m: &LinuxMemory) -> Option<u64> {
    m.swappiness().filter(|s| *s != u64::MAX)
}

/// A v1 byte limit: -1 is unlimited.
fn v1_bytes(v: i64) -> String {
    v.to_string()
}

fn swap_disabled(dir: &Path) -> Result<bool, CgroupError> {
    if !files::exists(dir, "memory.memsw.limit_in_bytes") {
        return Ok(false);
    }
    let memsw = files::read(dir, "memory.memsw.limit_in_bytes")?;
    let limit = files::read(dir, "memory.limit_in_bytes")?;
    // Unlimited reads as a huge number (PAGE_COUNTER_MAX pages): then both
    // are unlimited, which is not "swap disabled".
    let limited = limit.trim().parse::<u64>().is_ok_and(|l| l < 1 << 62);
    Ok(limited && memsw.trim() == limit.trim())
}

fn apply_v1(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    if let Some(h) = m.use_hierarchy() {
        set(
            dir,
            "memory.use_hierarchy",
            if h { "1" } else { "0" },
            "memory.useHierarchy",
        )?;
    }
    // A container whose memory+swap equals its memory has swap disabled:
    // a new memory limit alone keeps it disabled (otherwise raising memory
    // above memsw would fail, and lowering it would grant swap).
    let swap = match (m.limit(), m.swap()) {
        (Some(limit), None) if swap_disabled(dir)? => Some(limit),
        (_, swap) => swap,
    };
    match (m.limit(), swap) {
        (None, None) => {}
        (Some(limit), None) => set(
            dir,
            "memory.limit_in_bytes",
            &v1_bytes(limit),
            "memory.limit",
        )?,
        (limit, Some(swap)) => {
            if !files::exists(dir, "memory.memsw.limit_in_bytes") {
                return Err(CgroupError::resource(
                    "memory.swap",
                    "memory.memsw.limit_in_bytes does not exist (swap accounting is off in this kernel)",
                ));
            }
            // memsw must stay ≥ limit at every step: raise memsw first when
            // it grows, lower the limit first when it shrinks (as runc).
            let current_memsw: i64 = files::read(dir, "memory.memsw.limit_in_bytes")?
                .trim()
                .parse()
                .unwrap_or(i64::MAX);
            let swap_grows = swap == -1 || swap > current_memsw;
            if swap_grows {
                set(
                    dir,
                    "memory.memsw.limit_in_bytes",
                    &v1_bytes(swap),
                    "memory.swap",
                )?;
            }
            if let Some(limit) = limit {
                set(
                    dir,
                    "memory.limit_in_bytes",
                    &v1_bytes(limit),
                    "memory.limit",
                )?;
            }
            if !swap_grows {
                set(
                    dir,
                    "memory.memsw.limit_in_bytes",
                    &v1_bytes(swap),
                    "memory.swap",
                )?;
            }
        }
    }
    if let Some(r) = m.reservation() {
        set(
            dir,
            "memory.soft_limit_in_bytes",
            &v1_bytes(r),
            "memory.reservation",
        )?;
    }
    if let Some(k) = m.kernel() {
        set(
            dir,
            "memory.kmem.limit_in_bytes",
            &v1_bytes(k),
            "memory.kernel",
        )?;
    }
    if let Some(k) = m.kernel_tcp() {
        set(
            dir,
            "memory.kmem.tcp.limit_in_bytes",
            &v1_bytes(k),
            "memory.kernelTCP",
        )?;
    }
    if let Some(s) = swappiness(m) {
        if s > 100 {
            return Err(CgroupError::resource(
                "memory.swappiness",
                format!("{s} is out of range 0-100"),
            ));
        }
        set(
            dir,
            "memory.swappiness",
            &s.to_string(),
            "memory.swappiness",
        )?;
    }
    if let Some(d) = m.disable_oom_killer() {
        set(
            dir,
            "memory.oom_control",
            if d { "1" } else { "0" },
            "memory.disableOOMKiller",
        )?;
    }
    Ok(())
}

/// A v2 byte limit: -1 (or any negative) is `max`.
pub fn v2_bytes(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// runc's conversion of the v1 mem+swap total to v2's swap-only value:
/// swap −1 is unlimited; with a limit, swap.max = swap − limit; swap 0 with
/// no limit means "no swap setting".
pub fn v2_swap(limit: Option<i64>, swap: i64) -> Result<Option<String>, CgroupError> {
    if swap == -1 {
        return Ok(Some("max".into()));
    }
    match limit {
        None | Some(-1) if swap == 0 => Ok(None),
        None | Some(-1) => Err(CgroupError::resource(
            "memory.swap",
            "on cgroup v2 a swap limit needs a memory limit (swap is memory+swap)",
        )),
        Some(limit) if swap < limit => Err(CgroupError::resource(
            "memory.swap",
            format!("{swap} is lower than memory.limit {limit} (it counts memory+swap)"),
        )),
        Some(limit) => Ok(Some((swap - limit).to_string())),
    }
}

fn apply_v2(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    if m.use_hierarchy() == Some(false) {
        return Err(CgroupError::resource(
            "memory.useHierarchy",
            "cgroup v2 is always hierarchical",
        ));
    }
    for (v, field) in [
        (m.kernel(), "memory.kernel"),
        (m.kernel_tcp(), "memory.kernelTCP"),
    ] {
        if v.is_some() {
            return Err(CgroupError::resource(
                field,
                "cgroup v2 has no kernel memory limit",
            ));
        }
    }
    if swappiness(m).is_some() {
        return Err(CgroupError::resource(
            "memory.swappiness",
            "cgroup v2 has no per-cgroup swappiness",
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(CgroupError::resource(
            "memory.disableOOMKiller",
            "cgroup v2 cannot disable the OOM killer",
        ));
    }
    if let (Some(true), Some(limit)) = (m.check_before_update(), m.limit()) {
        let current: i64 = files::read(dir, "memory.current")?
            .trim()
            .parse()
            .unwrap_or(0);
        if limit >= 0 && current > limit {
            return Err(CgroupError::resource(
                "memory.limit",
                format!("{limit} is below the current usage {current} (checkBeforeUpdate)"),
            ));
        }
    }
    let swap = match m.swap() {
        Some(s) => v2_swap(m.limit(), s)?,
        None => None,
    };
    if let Some(swap) = &swap {
        if !files::exists(dir, "memory.swap.max") {
            return Err(CgroupError::resource(
                "memory.swap",
                "memory.swap.max does not exist (swap accounting is off in this kernel)",
            ));
        }
        // Swap first: lowering memory.max with swap.max 0 could reclaim
        // into a swap that is about to be allowed.
        set(dir, "memory.swap.max", swap, "memory.swap")?;
    }
    if let Some(limit) = m.limit() {
        set(dir, "memory.max", &v2_bytes(limit), "memory.limit")?;
    }
    if let Some(r) = m.reservation() {
        set(dir, "memory.low", &v2_bytes(r), "memory.reservation")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_conversion() {
        assert_eq!(v2_swap(Some(100), 300).unwrap().as_deref(), Some("200"));
        assert_eq!(v2_swap(Some(100), -1).unwrap().as_deref(), Some("max"));
        assert_eq!(v2_swap(None, 0).unwrap(), None);
        assert!(v2_swap(None, 300).is_err());
        assert!(v2_swap(Some(300), 100).is_err());
        assert_eq!(v2_bytes(-1), "max");
    }
}
