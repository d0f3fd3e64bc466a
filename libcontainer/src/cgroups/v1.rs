//! cgroup v1 hierarchies: making a container's directory (cpuset needs its
//! cpus and mems filled in) and the v1 freezer.

use super::{files, CgroupError};
use std::path::Path;
use std::time::{Duration, Instant};

/// Makes `dir` in a v1 hierarchy mounted at `mount_point`. In the cpuset
/// hierarchy a new cgroup starts with empty `cpuset.cpus`/`cpuset.mems` and
/// refuses tasks: each level gets its parent's values, top-down.
/// Returns whether this call made `dir` itself.
pub fn create(dir: &Path, mount_point: &Path, is_cpuset: bool) -> Result<bool, CgroupError> {
    let made = files::mkdir_all(dir)?.last().is_some_and(|d| d == dir);
    if !is_cpuset {
        return Ok(made);
    }
    let Ok(rel) = dir.strip_prefix(mount_point) else {
        return Ok(made);
    };
    let mut cur = mount_point.to_owned();
    for part in rel.components() {
        let parent = cur.clone();
        cur.push(part);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if files::read(&cur, file)?.trim().is_empty() {
                let value = files::read(&parent, file)?;
                files::write(&cur, file, value.trim())?;
            }
        }
    }
    Ok(made)
}

const FREEZER_STATE: &str = "freezer.state";
/// How long a v1 freeze may take before berth gives up (and thaws).
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// Freezes through `freezer.state`. The v1 freezer has no completion event:
/// the state is re-read until it says FROZEN, with a short back-off, bounded.
/// A freeze stuck in FREEZING is retried by thawing and freezing again, as
/// runc does (a task in an uninterruptible sleep can hold it up).
pub fn freeze(dir: &Path) -> Result<(), CgroupError> {
    let start = Instant::now();
    let mut attempt: u32 = 0;
    loop {
        if attempt % 50 == 49 {
            files::write(dir, FREEZER_STATE, "THAWED")?;
        }
        files::write(dir, FREEZER_STATE, "FROZEN")?;
        let state = files::read(dir, FREEZER_STATE)?;
        match state.trim() {
            "FROZEN" => return Ok(()),
            "FREEZING" => {}
            other => {
                return Err(CgroupError::Freezer {
                    path: dir.join(FREEZER_STATE),
                    reason: format!("unexpected state {other:?} after writing FROZEN"),
                })
            }
        }
        if start.elapsed() > FREEZE_TIMEOUT {
            let _ = files::write(dir, FREEZER_STATE, "THAWED");
            return Err(CgroupError::Freezer {
                path: dir.join(FREEZER_STATE),
                reason: format!("still FREEZING after {FREEZE_TIMEOUT:?}"),
            });
        }
        attempt += 1;
        std::thread::sleep(Duration::from_micros(100 * u64::from(attempt.min(100))));
    }
}

pub fn thaw(dir: &Path) -> Result<(), CgroupError> {
    files::write(dir, FREEZER_STATE, "THAWED")
}

pub fn is_frozen(dir: &Path) -> Result<bool, CgroupError> {
    match files::read(dir, FREEZER_STATE) {
        Ok(s) => Ok(s.trim() == "FROZEN"),
        Err(CgroupError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
