//! `process.execCPUAffinity`: the CPUs an exec'd process runs on. Not for
//! init (the runtime-spec says so): a config.json's value is the default for
//! every `exec` into the container, a process.json's replaces it.
//!
//! `initial` is where berth's exec parent runs before the process joins the
//! container's cgroup; `final` is set by the process once it is in the
//! cgroup. Without `final` (but with `initial`), the process gets the
//! container's own CPUs back: its cpuset's effective CPUs, or every online
//! CPU without a cpuset controller.

use crate::cgroups::CgroupManager;
use oci_spec::runtime::Process;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AffinityError {
    #[error("process.execCPUAffinity.{field} {list:?}: {reason}")]
    Invalid {
        field: &'static str,
        list: String,
        reason: String,
    },
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("sched_setaffinity to CPUs {list:?} ({what}): {source}")]
    Set {
        list: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// A set of CPUs with the list it was read from (for messages).
#[derive(Clone)]
pub struct CpuSet {
    set: libc::cpu_set_t,
    list: String,
}

impl CpuSet {
    /// Parses `0-3,7` (checked for its form when the spec was read).
    fn parse(field: &'static str, list: &str) -> Result<Self, AffinityError> {
        let invalid = |reason: String| AffinityError::Invalid {
            field,
            list: list.to_owned(),
            reason,
        };
        let cpus = crate::cgroups::stats::parse_cpu_list(list);
        if cpus.is_empty() {
            return Err(invalid("names no CPU".into()));
        }
        // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
        for cpu in cpus {
            if usize::from(cpu) >= max {
                return Err(invalid(format!(
                    "CPU {cpu} is beyond the {max} a set holds"
                )));
            }
            // SAFETY: cpu is below the set's size, checked above.
            unsafe { libc::CPU_SET(usize::from(cpu), &mut set) };
        }
        Ok(Self {
            set,
            list: list.to_owned(),
        })
    }

    /// Makes this set the calling thread's (the whole process: berth is
    /// single-threaded).
    fn enter(&self, what: &'static str) -> Result<(), AffinityError> {
        // SAFETY: a valid cpu_set_t of the size passed; pid 0 is this thread.
        if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&self.set), &self.set) } != 0 {
            return Err(AffinityError::Set {
                list: self.list.clone(),
                what,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }
}

/// What an exec does about CPU affinity; nothing when the process has no
/// `execCPUAffinity`.
pub struct ExecAffinity {
    initial: Option<CpuSet>,
    after: Option<CpuSet>,
}

impl ExecAffinity {
    /// Reads the sets (and, for a reset, the container's CPUs) before anything starts.
    pub fn plan(process: &Process, cgroup: &CgroupManager) -> Result<Self, AffinityError> {
        let Some(aff) = process.exec_cpu_affinity() else {
            return Ok(Self {
                initial: None,
                after: None,
            });
        };
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        let initial = non_empty(aff.initial())
            .map(|l| CpuSet::parse("initial", &l))
            .transpose()?;
        let after = match non_empty(aff.cpu_affinity_final()) {
            Some(l) => Some(CpuSet::parse("final", &l)?),
            None if initial.is_some() => Some(container_cpus(cgroup)?),
            None => None,
        };
        Ok(Self { initial, after })
    }

    /// In berth's exec parent, before it or its child joins the cgroup.
    pub fn enter_initial(&self) -> Result<(), AffinityError> {
        match &self.initial {
            Some(set) => set.enter("execCPUAffinity.initial"),
            None => Ok(()),
        }
    }

    /// In the process, once it is in the container's cgroup.
    pub fn enter_final(&self) -> Result<(), AffinityError> {
        match &self.after {
            Some(set) => set.enter("execCPUAffinity.final"),
            None => Ok(()),
        }
    }
}

/// The container's CPUs: its cpuset's effective CPUs (v1, else v2), else
/// every online CPU.
fn container_cpus(cgroup: &CgroupManager) -> Result<CpuSet, AffinityError> {
    let path = match cgroup.target("cpuset") {
        Some(crate::cgroups::Target::V1(dir)) => dir.join("cpuset.effective_cpus"),
        Some(crate::cgroups::Target::V2(dir)) => dir.join("cpuset.cpus.effective"),
        None => PathBuf::from("/sys/devices/system/cpu/online"),
    };
    let text = std::fs::read_to_string(&path).map_err(|source| AffinityError::Read {
        path: path.clone(),
        source,
    })?;
    CpuSet::parse("final", text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_bad_ones_are_named() {
        let set = CpuSet::parse("initial", "0-2,5").unwrap();
        // SAFETY: every index is below the set's size.
        let has = |cpu| unsafe { libc::CPU_ISSET(cpu, &set.set) };
        assert!(has(0) && has(1) && has(2) && has(5) && !has(3));
        let e = CpuSet::parse("final", "3-1").err().unwrap().to_string();
        assert!(
            e.contains("execCPUAffinity.final") && e.contains("no CPU"),
            "{e}"
        );
        assert!(CpuSet::parse("final", "5000").is_err());
    }
}
