//! `process.scheduler`: the scheduling policy with its nice value,
//! priority, flags and deadline parameters, set with sched_setattr(2)
//! before the capabilities are dropped (realtime policies and a negative
//! nice value need CAP_SYS_NICE).

use crate::sys::SchedAttr;
use oci_spec::runtime::{LinuxSchedulerFlag, LinuxSchedulerPolicy, Process, Scheduler};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("process.scheduler.{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("process.scheduler: sched_setattr({policy}): {source}{}", realtime_hint(*policy, source))]
    Set {
        policy: LinuxSchedulerPolicy,
        #[source]
        source: std::io::Error,
    },
}

/// Why a realtime policy is usually refused.
fn realtime_hint(policy: LinuxSchedulerPolicy, err: &std::io::Error) -> &'static str {
    match policy {
        LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
            if err.raw_os_error() == Some(libc::EPERM) =>
        {
            " (with cgroup v1 realtime group scheduling the container's cgroup needs linux.resources.cpu.realtimeRuntime)"
        }
        _ => "",
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> SchedulerError {
    SchedulerError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// The runtime-spec's name of each flag, its spelling in oci-spec 0.10's
/// serde (two differ: `SCHED_RESET_ON_FORK`, `SCHED_FLAG_D_L_OVERRUN`),
/// and the kernel's SCHED_FLAG_* bit.
const FLAGS: &[(&str, &str, LinuxSchedulerFlag, u64)] = &[
    (
        "SCHED_FLAG_RESET_ON_FORK",
        "SCHED_RESET_ON_FORK",
        LinuxSchedulerFlag::SchedResetOnFork,
        0x01,
    ),
    (
        "SCHED_FLAG_RECLAIM",
        "SCHED_FLAG_RECLAIM",
        LinuxSchedulerFlag::SchedFlagReclaim,
        0x02,
    ),
    (
        "SCHED_FLAG_DL_OVERRUN",
        "SCHED_FLAG_D_L_OVERRUN",
        LinuxSchedulerFlag::SchedFlagDLOverrun,
        0x04,
    ),
    (
        "SCHED_FLAG_KEEP_POLICY",
        "SCHED_FLAG_KEEP_POLICY",
        LinuxSchedulerFlag::SchedFlagKeepPolicy,
        0x08,
    ),
    (
        "SCHED_FLAG_KEEP_PARAMS",
        "SCHED_FLAG_KEEP_PARAMS",
        LinuxSchedulerFlag::SchedFlagKeepParams,
        0x10,
    ),
    (
        "SCHED_FLAG_UTIL_CLAMP_MIN",
        "SCHED_FLAG_UTIL_CLAMP_MIN",
        LinuxSchedulerFlag::SchedFlagUtilClampMin,
        0x20,
    ),
    (
        "SCHED_FLAG_UTIL_CLAMP_MAX",
        "SCHED_FLAG_UTIL_CLAMP_MAX",
        LinuxSchedulerFlag::SchedFlagUtilClampMax,
        0x40,
    ),
];

/// Rewrites the runtime-spec's names in `scheduler.flags` of the process
/// object at the JSON pointer `process_at` of a document (`/process` in a
/// config.json, the top of exec's process.json) to the spelling oci-spec
/// parses, refusing any other name (also oci-spec's own misspellings) with
/// the field it is in.
pub fn translate_flag_names(
    document: &mut serde_json::Value,
    process_at: &str,
) -> Result<(), (String, serde_json::Error)> {
    let Some(flags) = document
        .pointer_mut(&format!("{process_at}/scheduler/flags"))
        .and_then(|f| f.as_array_mut())
    else {
        return Ok(());
    };
    let field_prefix: String = process_at
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| format!("{p}."))
        .collect();
    for (i, flag) in flags.iter_mut().enumerate() {
        let Some(name) = flag.as_str() else {
            continue; // the typed parse names the wrong type
        };
        let Some((_, serde_name, ..)) = FLAGS.iter().find(|(spec_name, ..)| *spec_name == name)
        else {
            let known: Vec<&str> = FLAGS.iter().map(|(spec_name, ..)| *spec_name).collect();
            let reason = format!(
                "unknown variant `{name}`, expected one of {}",
                known.join(", ")
            );
            return Err((
                format!("{field_prefix}scheduler.flags[{i}]"),
                serde::de::Error::custom(reason),
            ));
        };
        *flag = serde_json::Value::from(*serde_name);
    }
    Ok(())
}

/// The kernel's SCHED_* number of a policy.
fn policy_number(policy: LinuxSchedulerPolicy) -> u32 {
    match policy {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    }
}

/// The smallest runtime the kernel takes for SCHED_DEADLINE (2^DL_SCALE ns).
const MIN_DEADLINE_RUNTIME: u64 = 1 << 10;

/// Validation, with runc's rules (nice in -20..19, a priority only for
/// the realtime policies, runtime/deadline/period only for
/// SCHED_DEADLINE) and the kernel's (realtime priorities 1-99, runtime <=
/// deadline <= period), so that a bad value fails `create` before
/// anything is made.
pub fn check(s: &Scheduler) -> Result<(), SchedulerError> {
    use LinuxSchedulerPolicy::*;
    let policy = *s.policy();
    if policy == SchedIso {
        return Err(invalid("policy", "SCHED_ISO is not implemented by Linux"));
    }
    if let Some(nice) = *s.nice() {
        if !(-20..=19).contains(&nice) {
            return Err(invalid("nice", format!("{nice} is out of range (-20..19)")));
        }
    }
    let priority = (*s.priority()).unwrap_or(0);
    match policy {
        SchedFifo | SchedRr if !(1..=99).contains(&priority) => {
            return Err(invalid(
                "priority",
                format!("{policy} needs a priority in 1..99, got {priority}"),
            ));
        }
        SchedFifo | SchedRr => {}
        _ if priority != 0 => {
            return Err(invalid(
                "priority",
                "can only be given for SCHED_FIFO or SCHED_RR",
            ));
        }
        _ => {}
    }
    let (runtime, deadline, period) = (
        (*s.runtime()).unwrap_or(0),
        (*s.deadline()).unwrap_or(0),
        (*s.period()).unwrap_or(0),
    );
    if policy != SchedDeadline {
        if runtime != 0 || deadline != 0 || period != 0 {
            return Err(invalid(
                "runtime",
                "runtime, deadline and period can only be given for SCHED_DEADLINE",
            ));
        }
        return Ok(());
    }
    if runtime < MIN_DEADLINE_RUNTIME {
        return Err(invalid(
            "runtime",
            format!("{runtime} ns is below the kernel's minimum of {MIN_DEADLINE_RUNTIME} ns"),
        ));
    }
    if deadline < runtime {
        return Err(invalid(
            "deadline",
            format!("{deadline} ns is shorter than the runtime ({runtime} ns)"),
        ));
    }
    if period != 0 && period < deadline {
        return Err(invalid(
            "period",
            format!("{period} ns is shorter than the deadline ({deadline} ns)"),
        ));
    }
    Ok(())
}

/// The sched_attr for a validated scheduler.
fn attr(s: &Scheduler) -> SchedAttr {
    let flags = s
        .flags()
        .iter()
        .flatten()
        .filter_map(|f| FLAGS.iter().find(|(.., variant, _)| variant == f))
        .fold(0, |bits, (.., bit)| bits | bit);
    SchedAttr {
        policy: policy_number(*s.policy()),
        flags,
        nice: (*s.nice()).unwrap_or(0),
        priority: (*s.priority()).unwrap_or(0) as u32,
        runtime: (*s.runtime()).unwrap_or(0),
        deadline: (*s.deadline()).unwrap_or(0),
        period: (*s.period()).unwrap_or(0),
        ..Default::default()
    }
}

/// Sets `process.scheduler`, if any, on the calling process.
pub fn apply(process: &Process) -> Result<(), SchedulerError> {
    let Some(s) = process.scheduler() else {
        return Ok(());
    };
    check(s)?;
    crate::sys::sched_setattr(&attr(s)).map_err(|source| SchedulerError::Set {
        policy: (*s.policy()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sched(v: serde_json::Value) -> Scheduler {
        let mut config = json!({"process": {"scheduler": v}});
        translate_flag_names(&mut config, "/process").unwrap();
        serde_json::from_value(config["process"]["scheduler"].take()).unwrap()
    }

    #[test]
    fn runtime_spec_flag_names_are_parsed() {
        let s = sched(json!({"policy": "SCHED_BATCH", "nice": 5,
            "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_UTIL_CLAMP_MAX"]}));
        let a = attr(&s);
        assert_eq!((a.policy, a.nice, a.flags), (3, 5, 0x01 | 0x04 | 0x40));
        for bad in ["SCHED_RESET_ON_FORK", "SCHED_FLAG_D_L_OVERRUN", "NOPE"] {
            let mut config = json!({"process": {"scheduler": {"policy": "SCHED_OTHER",
                "flags": ["SCHED_FLAG_RECLAIM", bad]}}});
            let (field, err) = translate_flag_names(&mut config, "/process").unwrap_err();
            assert_eq!(field, "process.scheduler.flags[1]");
            assert!(err.to_string().contains(bad), "{err}");
        }
        // exec's process.json: the process object is the document.
        let mut process = json!({"scheduler": {"policy": "SCHED_OTHER",
            "flags": ["SCHED_FLAG_RESET_ON_FORK", "NOPE"]}});
        let (field, _) = translate_flag_names(&mut process, "").unwrap_err();
        assert_eq!(field, "scheduler.flags[1]");
        let mut process = json!({"scheduler": {"policy": "SCHED_OTHER",
            "flags": ["SCHED_FLAG_RESET_ON_FORK"]}});
        translate_flag_names(&mut process, "").unwrap();
        assert_eq!(process["scheduler"]["flags"][0], "SCHED_RESET_ON_FORK");
    }

    #[test]
    fn values_are_checked() {
        let ok = [
            json!({"policy": "SCHED_OTHER", "nice": -20}),
            json!({"policy": "SCHED_FIFO", "priority": 99}),
            json!({"policy": "SCHED_DEADLINE", "runtime": 1024, "deadline": 2048, "period": 4096}),
            json!({"policy": "SCHED_DEADLINE", "runtime": 1024, "deadline": 1024}),
        ];
        for v in ok {
            check(&sched(v.clone())).unwrap_or_else(|e| panic!("{v}: {e}"));
        }
        let bad = [
            (json!({"policy": "SCHED_OTHER", "nice": 20}), "nice"),
            (json!({"policy": "SCHED_FIFO"}), "priority"),
            (json!({"policy": "SCHED_RR", "priority": 100}), "priority"),
            (json!({"policy": "SCHED_BATCH", "priority": 1}), "priority"),
            (json!({"policy": "SCHED_OTHER", "period": 10}), "runtime"),
            (
                json!({"policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 20}),
                "runtime",
            ),
            (
                json!({"policy": "SCHED_DEADLINE", "runtime": 2048, "deadline": 1024}),
                "deadline",
            ),
            (
                json!({"policy": "SCHED_DEADLINE", "runtime": 1024, "deadline": 4096, "period": 2048}),
                "period",
            ),
            (json!({"policy": "SCHED_ISO"}), "policy"),
        ];
        for (v, field) in bad {
            let err = check(&sched(v.clone())).unwrap_err().to_string();
            assert!(
                err.contains(&format!("process.scheduler.{field}")),
                "{v}: {err}"
            );
        }
    }
}
