//! `process.ioPriority`, `process.scheduler`, `linux.personality`,
//! `linux.memoryPolicy`, seen from inside the container (/proc/self/stat,
//! numa_maps, personality, busybox `ionice` and `uname`); the security
//! labels and Intel RDT as this host (no AppArmor, SELinux or resctrl)
//! makes them behave: as runc 1.1 does.

use serde_json::{json, Value};
use spec_tests::{unique_name, Bundle, Output, Runtime};

/// Runs `args` in a container whose config has `edit` applied.
fn run_with(rt: &Runtime, args: &[&str], edit: impl FnOnce(&mut Value)) -> Output {
    let mut bundle = Bundle::new(args);
    edit(&mut bundle.config);
    rt.run(&bundle, &unique_name("attr"))
}

/// Field `n` (1-based, as proc(5) numbers them) of a /proc/PID/stat line.
fn stat_field(stat: &str, n: usize) -> i64 {
    let rest = stat.rsplit_once(')').expect("stat has a comm").1;
    rest.split_whitespace()
        .nth(n - 3)
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("field {n} of {stat:?}"))
}

const NICE: usize = 19;
const RT_PRIORITY: usize = 40;
const POLICY: usize = 41;

#[test]
fn io_priority_is_the_process_class_and_level() {
    let rt = Runtime::berth();
    for (class, priority, shown) in [
        ("IOPRIO_CLASS_BE", 6, "best-effort: prio 6"),
        ("IOPRIO_CLASS_RT", 2, "realtime: prio 2"),
        ("IOPRIO_CLASS_IDLE", 0, "idle"),
    ] {
        let out = run_with(&rt, &["ionice"], |c| {
            c["process"]["ioPriority"] = json!({"class": class, "priority": priority})
        })
        .ok();
        assert_eq!(out.stdout.trim(), shown, "{class}: {out}");
    }
    // Without the field the process keeps the default.
    let out = run_with(&rt, &["ionice"], |_| {}).ok();
    assert_eq!(out.stdout.trim(), "none: prio 0", "{out}");
}

#[test]
fn scheduler_policy_nice_and_priority() {
    let rt = Runtime::berth();
    let cases = [
        (json!({"policy": "SCHED_BATCH", "nice": 7}), 3, 7, 0),
        (json!({"policy": "SCHED_IDLE"}), 5, 0, 0),
        (json!({"policy": "SCHED_OTHER", "nice": -5}), 0, -5, 0),
        (json!({"policy": "SCHED_FIFO", "priority": 10}), 1, 0, 10),
        (json!({"policy": "SCHED_RR", "priority": 3}), 2, 0, 3),
    ];
    for (scheduler, policy, nice, rt_priority) in cases {
        let out = run_with(&rt, &["cat", "/proc/self/stat"], |c| {
            c["process"]["scheduler"] = scheduler.clone();
            // With cgroup v1 realtime group scheduling the container's
            // cgroup needs a realtime budget for SCHED_FIFO and SCHED_RR.
            c["linux"]["resources"]["cpu"]["realtimeRuntime"] = json!(10000);
            c["linux"]["resources"]["cpu"]["realtimePeriod"] = json!(1000000);
        })
        .ok();
        assert_eq!(
            stat_field(&out.stdout, POLICY),
            policy,
            "{scheduler}: {out}"
        );
        assert_eq!(stat_field(&out.stdout, NICE), nice, "{scheduler}: {out}");
        assert_eq!(
            stat_field(&out.stdout, RT_PRIORITY),
            rt_priority,
            "{scheduler}: {out}"
        );
    }
}

/// SCHED_DEADLINE's parameters, as chrt(1) on the host reads them from
/// the container's init (set before `create` returns).
#[test]
fn scheduler_deadline() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["process"]["scheduler"] = json!({"policy": "SCHED_DEADLINE",
        "runtime": 1_000_000, "deadline": 10_000_000, "period": 20_000_000});
    let id = unique_name("dl");
    rt.create(&bundle, &id, &[]).ok();
    let pid = rt.state(&id)["pid"].to_string();
    let out = rt.exec_command({
        let mut cmd = std::process::Command::new("chrt");
        cmd.args(["-p", &pid]);
        cmd
    });
    rt.delete_force(&id).ok();
    let out = out.ok();
    assert!(out.stdout.contains("SCHED_DEADLINE"), "{out}");
    assert!(out.stdout.contains("1000000/10000000/20000000"), "{out}");
}

/// The runtime-spec's flag names (which oci-spec misspells) are taken,
/// and SCHED_FLAG_RESET_ON_FORK does what it says: the shell keeps its
/// negative nice value, its child starts again from 0.
#[test]
fn scheduler_reset_on_fork() {
    let rt = Runtime::berth();
    // The second cat is forked (sh would exec a last command in its place).
    let script = "cat /proc/$$/stat; cat /proc/self/stat; true";
    let run = |flags: Value| {
        run_with(&rt, &["sh", "-c", script], |c| {
            c["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "nice": -5, "flags": flags})
        })
        .ok()
    };
    let out = run(json!(["SCHED_FLAG_RESET_ON_FORK"]));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(stat_field(lines[0], NICE), -5, "{out}");
    assert_eq!(stat_field(lines[1], NICE), 0, "{out}");
    let out = run(json!([]));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(stat_field(lines[1], NICE), -5, "without the flag: {out}");
}

#[test]
fn personality_linux32() {
    let rt = Runtime::berth();
    let script = "uname -m; cat /proc/self/personality";
    let out = run_with(&rt, &["sh", "-c", script], |c| {
        c["linux"]["personality"] = json!({"domain": "LINUX32"})
    })
    .ok();
    assert_eq!(out.stdout, "i686\n00000008\n", "{out}");
    let out = run_with(&rt, &["sh", "-c", script], |c| {
        c["linux"]["personality"] = json!({"domain": "LINUX", "flags": []})
    })
    .ok();
    assert_eq!(out.stdout, "x86_64\n00000000\n", "{out}");
}

#[test]
fn memory_policy_in_numa_maps() {
    let rt = Runtime::berth();
    // This host has one NUMA node, 0.
    for (policy, shown) in [
        (json!({"mode": "MPOL_BIND", "nodes": "0"}), "bind:0"),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
            "interleave:0",
        ),
        (json!({"mode": "MPOL_PREFERRED", "nodes": "0"}), "prefer:0"),
        (
            json!({"mode": "MPOL_PREFERRED_MANY", "nodes": "0"}),
            "prefer (many):0",
        ),
        (json!({"mode": "MPOL_LOCAL"}), "local"),
        (json!({"mode": "MPOL_DEFAULT"}), "default"),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            "bind=static:0",
        ),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]}),
            "interleave=relative:0",
        ),
    ] {
        let out = run_with(&rt, &["head", "-n1", "/proc/self/numa_maps"], |c| {
            c["linux"]["memoryPolicy"] = policy.clone()
        })
        .ok();
        // "ADDRESS POLICY ...": the policy follows the first space.
        let shown_policy = out.stdout.split_once(' ').map_or("", |(_, rest)| rest);
        assert!(shown_policy.starts_with(shown), "{policy}: {out}");
    }
    // A node this host does not have is refused by the kernel, at create.
    let out = run_with(&rt, &["true"], |c| {
        c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "5"})
    });
    out.fails_with(&["linux.memoryPolicy", "set_mempolicy"]);
}

/// The same config through runc, when it is installed: it must fail too.
fn runc_fails(edit: impl Fn(&mut Value)) {
    let Some(runc) = Runtime::runc() else {
        return;
    };
    let out = run_with(&runc, &["true"], edit);
    assert_ne!(out.code, 0, "runc accepted it: {out}");
}

/// This host has no AppArmor: like runc, berth writes the profile for
/// the exec and the kernel refuses it.
#[test]
fn apparmor_profile_without_apparmor_fails_as_with_runc() {
    let rt = Runtime::berth();
    let edit = |c: &mut Value| c["process"]["apparmorProfile"] = json!("docker-default");
    let out = run_with(&rt, &["true"], edit);
    out.fails_with(&[
        "process.apparmorProfile",
        "docker-default",
        "attr/exec",
        "invalid argument",
    ]);
    assert!(rt.leftovers().is_empty(), "{:?}", rt.leftovers());
    runc_fails(edit);
    // An empty profile is no profile.
    run_with(&rt, &["true"], |c| {
        c["process"]["apparmorProfile"] = json!("")
    })
    .ok();
}

/// SELinux is disabled here: a process label is refused (runc's check and
/// words); a mount label goes into the mounts' data, which the kernel
/// refuses, as with runc.
#[test]
fn selinux_labels_without_selinux_fail_as_with_runc() {
    let rt = Runtime::berth();
    let label =
        |c: &mut Value| c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    run_with(&rt, &["true"], label).fails_with(&[
        "process.selinuxLabel",
        "selinux is disabled or not supported",
    ]);
    runc_fails(label);
    let mount_label =
        |c: &mut Value| c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
    run_with(&rt, &["true"], mount_label).fails_with(&[
        "mountLabel",
        "context=",
        "container_file_t",
        "invalid argument",
    ]);
    assert!(rt.leftovers().is_empty(), "{:?}", rt.leftovers());
    runc_fails(mount_label);
    run_with(&rt, &["true"], |c| {
        c["process"]["selinuxLabel"] = json!("");
        c["linux"]["mountLabel"] = json!("");
    })
    .ok();
}

#[test]
fn intel_rdt_without_resctrl_is_refused_with_the_reason() {
    let rt = Runtime::berth();
    let resctrl = std::fs::read_to_string("/proc/filesystems")
        .unwrap()
        .contains("resctrl");
    let out = run_with(&rt, &["true"], |c| {
        c["linux"]["intelRdt"] = json!({"closID": "berth-test", "l3CacheSchema": "L3:0=f"})
    });
    if resctrl {
        out.fails_with(&["linux.intelRdt", "not supported by berth yet"]);
    } else {
        out.fails_with(&["linux.intelRdt", "resctrl", "not supported or enabled"]);
    }
}
