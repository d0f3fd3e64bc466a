//! cgroups: limits in effect on the host's real hierarchies (v1, v2 or
//! hybrid), `update`, `pause`/`resume`, `ps`, `events`, `kill --all`, and
//! no cgroup directory left behind.
//!
//! Each container gets an absolute one-level `linux.cgroupsPath` (`/NAME`,
//! unique per test), so its directories are known in advance; a guard
//! removes whatever a failing test leaves.

use serde_json::{json, Value};
use spec_tests::cgroups_util::{self as cg, CgroupCleanup};
use spec_tests::{unique_name, wait_until, Bundle, Runtime};
use std::time::Duration;

const MIB: i64 = 1024 * 1024;

/// A busybox bundle running `script` in cgroup `/NAME`, with `resources`
/// merged into the default ones (which deny every device but the defaults).
fn bundle(script: &str, name: &str, resources: Value) -> Bundle {
    let mut b = Bundle::sh(script);
    b.config["linux"]["cgroupsPath"] = json!(format!("/{name}"));
    let res = &mut b.config["linux"]["resources"];
    if !res.is_object() {
        *res = json!({});
    }
    for (k, v) in resources.as_object().expect("resources is an object") {
        res[k] = v.clone();
    }
    b
}

fn path(name: &str) -> String {
    format!("/{name}")
}

/// The memory limit in bytes as the host shows it (v1 or v2 file).
fn memory_limit(name: &str) -> String {
    if cg::is_v2("memory") {
        cg::read("memory", &path(name), "memory.max")
    } else {
        cg::read("memory", &path(name), "memory.limit_in_bytes")
    }
}

/// The CFS quota in µs as the host shows it.
fn cpu_quota(name: &str) -> String {
    if cg::is_v2("cpu") {
        let max = cg::read("cpu", &path(name), "cpu.max");
        max.split_whitespace().next().unwrap_or("").to_owned()
    } else {
        cg::read("cpu", &path(name), "cpu.cfs_quota_us")
    }
}

fn pids_max(name: &str) -> String {
    cg::read("pids", &path(name), "pids.max")
}

#[track_caller]
fn assert_no_cgroup(name: &str) {
    let left = cg::existing_dirs(&path(name));
    assert!(left.is_empty(), "cgroup directories left behind: {left:?}");
}

/// Starts a container and returns its init pid.
#[track_caller]
fn create_and_start(rt: &Runtime, b: &Bundle, id: &str) -> i64 {
    rt.create(b, id, &[]).ok();
    rt.start(id).ok();
    rt.state(id)["pid"].as_i64().expect("state has a pid")
}

#[test]
fn memory_limit_oom_kills_a_hog() {
    let name = unique_name("berth-cg-oom");
    // Declared first, dropped last: after the runtime deleted its containers.
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    // 32 MiB of memory and no swap beyond it; dd's 64 MiB buffer cannot fit,
    // an 8 MiB one can.
    let b = bundle(
        "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo big=$?; \
         dd if=/dev/zero of=/dev/null bs=8M count=1 2>/dev/null; echo small=$?",
        &name,
        json!({"memory": {"limit": 32 * MIB, "swap": 32 * MIB}}),
    );
    let out = rt.run(&b, &name).ok();
    assert!(
        out.stdout.contains("big=137"),
        "the hog was not OOM-killed: {out}"
    );
    assert!(out.stdout.contains("small=0"), "{out}");
    assert_no_cgroup(&name);
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    let name = unique_name("berth-cg-pids");
    // Declared first, dropped last: after the runtime deleted its containers.
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    let script = "i=0; while [ $i -lt 30 ]; do sleep 30 & i=$((i+1)); done; echo all-started";
    let b = bundle(script, &name, json!({"pids": {"limit": 8}}));
    let out = rt.run(&b, &name);
    assert!(
        !out.stdout.contains("all-started"),
        "30 forks under pids.max 8: {out}"
    );
    assert!(out.stderr.contains("can't fork"), "{out}");
    assert_no_cgroup(&name);

    // The same loop without the limit completes.
    let name2 = unique_name("berth-cg-pids");
    let _guard2 = CgroupCleanup(path(&name2));
    let b = bundle(script, &name2, json!({}));
    let out = rt.run(&b, &name2).ok();
    assert!(out.stdout.contains("all-started"), "{out}");
}

#[test]
fn limits_are_visible_and_update_changes_them() {
    let name = unique_name("berth-cg-upd");
    // Declared first, dropped last: after the runtime deleted its containers.
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    let b = bundle(
        "sleep 100",
        &name,
        json!({
            "memory": {"limit": 64 * MIB},
            "cpu": {"quota": 50000, "period": 100000, "shares": 512},
            "pids": {"limit": 20}
        }),
    );
    create_and_start(&rt, &b, &name);
    assert_eq!(memory_limit(&name), (64 * MIB).to_string());
    assert_eq!(cpu_quota(&name), "50000");
    assert_eq!(pids_max(&name), "20");
    if cg::is_v2("cpu") {
        // runc's conversion: 1 + (512 - 2) * 9999 / 262142 = 20
        assert_eq!(cg::read("cpu", &path(&name), "cpu.weight"), "20");
    } else {
        assert_eq!(cg::read("cpu", &path(&name), "cpu.shares"), "512");
    }

    // runc's flags.
    rt.exec(&[
        "update",
        "--memory",
        "128m",
        "--cpu-quota",
        "25000",
        "--pids-limit",
        "40",
        &name,
    ])
    .ok();
    assert_eq!(memory_limit(&name), (128 * MIB).to_string());
    assert_eq!(cpu_quota(&name), "25000");
    assert_eq!(pids_max(&name), "40");

    // containerd's and podman's way: a LinuxResources JSON file.
    let file = rt.work_dir().join("resources.json");
    std::fs::write(
        &file,
        json!({"memory": {"limit": 96 * MIB}, "pids": {"limit": 30}}).to_string(),
    )
    .unwrap();
    rt.exec(&[
        "update".as_ref(),
        "--resources".as_ref(),
        file.as_os_str(),
        name.as_ref(),
    ])
    .ok();
    assert_eq!(memory_limit(&name), (96 * MIB).to_string());
    assert_eq!(pids_max(&name), "30");

    // containerd's shim: `update --resources -` with the JSON on stdin.
    let mut cmd = rt.command(&["update", "--resources", "-", &name]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn update");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(
                json!({"cpu": {"quota": 30000, "period": 100000}})
                    .to_string()
                    .as_bytes(),
            )
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cpu_quota(&name), "30000");

    // A failing update (memory is written before the impossible cpuset)
    // leaves every old limit.
    rt.exec(&[
        "update",
        "--memory",
        "200m",
        "--pids-limit",
        "50",
        "--cpuset-cpus",
        "4000",
        &name,
    ])
    .fails_with(&["cpu.cpus"]);
    assert_eq!(memory_limit(&name), (96 * MIB).to_string());
    assert_eq!(pids_max(&name), "30");

    // Flags berth does not implement are refused, not ignored.
    rt.exec(&["update", "--l3-cache-schema", "L3:0=f", &name])
        .fails_with(&["l3-cache-schema"]);

    rt.delete_force(&name).ok();
    assert_no_cgroup(&name);
}

#[test]
fn memory_update_keeps_swap_disabled() {
    let name = unique_name("berth-cg-swap");
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    let b = bundle(
        "sleep 100",
        &name,
        json!({"memory": {"limit": 32 * MIB, "swap": 32 * MIB}}),
    );
    create_and_start(&rt, &b, &name);
    rt.exec(&["update", "--memory", "64m", &name]).ok();
    assert_eq!(memory_limit(&name), (64 * MIB).to_string());
    if cg::is_v2("memory") {
        assert_eq!(cg::read("memory", &path(&name), "memory.swap.max"), "0");
    } else if cg::controller_dir("memory", &path(&name))
        .join("memory.memsw.limit_in_bytes")
        .exists()
    {
        let memsw = cg::read("memory", &path(&name), "memory.memsw.limit_in_bytes");
        assert_eq!(memsw, (64 * MIB).to_string());
    }
    rt.exec(&["update", "--memory", "16m", &name]).ok();
    assert_eq!(memory_limit(&name), (16 * MIB).to_string());
    rt.delete_force(&name).ok();
    assert_no_cgroup(&name);
}

#[test]
fn device_rules_deny_what_they_do_not_allow() {
    let rt = Runtime::berth();
    // /dev/kmsg (c 1:11) is not among the default devices; the container
    // gets the node, and the cgroup decides what it may do with it.
    // (/dev/null itself is always re-allowed: as runc, the default devices
    // are appended after the spec's rules.)
    let script = "echo berth-cgroup-device-test > /dev/kmsg && echo kmsg-write-ok; \
                  echo x > /dev/null && echo null-ok";
    let with_rule = |access: &str| {
        let name = unique_name("berth-cg-dev");
        let mut b = bundle(
            script,
            &name,
            json!({"devices": [
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 11, "access": access}
            ]}),
        );
        b.config["linux"]["devices"] = json!([{
            "path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 438, "uid": 0, "gid": 0
        }]);
        (name, b)
    };

    let (name, b) = with_rule("r");
    let _guard = CgroupCleanup(path(&name));
    let out = rt.run(&b, &name);
    assert!(
        !out.stdout.contains("kmsg-write-ok"),
        "write allowed: {out}"
    );
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
    assert!(out.stdout.contains("null-ok"), "{out}");
    assert_no_cgroup(&name);

    let (name, b) = with_rule("rw");
    let _guard = CgroupCleanup(path(&name));
    let out = rt.run(&b, &name).ok();
    assert!(out.stdout.contains("kmsg-write-ok"), "{out}");
    assert!(out.stdout.contains("null-ok"), "{out}");
    assert_no_cgroup(&name);
}

#[test]
fn device_rules_change_with_update() {
    let name = unique_name("berth-cg-devupd");
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    let rules = |access: &str| {
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": access}
        ])
    };
    let mut b = bundle(
        "echo x > /dev/kmsg 2>/dev/null || echo denied-before; \
         while [ ! -e /tmp/go ]; do sleep 0.05; done; \
         echo berth-cgroup-device-update-test > /dev/kmsg && echo allowed-after; \
         echo x > /dev/null && echo null-ok",
        &name,
        json!({"devices": rules("r")}),
    );
    b.config["linux"]["devices"] = json!([{
        "path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 438, "uid": 0, "gid": 0
    }]);
    create_and_start(&rt, &b, &name);
    assert!(wait_until(Duration::from_secs(10), || rt
        .container_output(&name)
        .0
        .contains("denied-before")));
    let file = rt.work_dir().join("devices.json");
    std::fs::write(&file, json!({"devices": rules("rw")}).to_string()).unwrap();
    rt.exec(&[
        "update".as_ref(),
        "-r".as_ref(),
        file.as_os_str(),
        name.as_ref(),
    ])
    .ok();
    std::fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    assert!(rt.wait_status(&name, "stopped", Duration::from_secs(10)));
    let (out, err) = rt.container_output(&name);
    assert!(out.contains("allowed-after"), "{out}{err}");
    assert!(out.contains("null-ok"), "{out}{err}");
    rt.delete(&name).ok();
    assert_no_cgroup(&name);
}

/// The `State:` letter of a process.
fn proc_state(pid: i64) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    spec_tests::status_field(&text, "State")
        .unwrap_or("")
        .to_owned()
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let name = unique_name("berth-cg-pause");
    // Declared first, dropped last: after the runtime deleted its containers.
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    let b = bundle(
        "while true; do echo tick; sleep 0.05; done",
        &name,
        json!({}),
    );
    let pid = create_and_start(&rt, &b, &name);
    let ticks = || rt.container_output(&name).0.lines().count();
    assert!(wait_until(Duration::from_secs(10), || ticks() > 2));

    rt.exec(&["pause", &name]).ok();
    assert_eq!(rt.status(&name).as_deref(), Some("paused"));
    let list = rt.exec(&["list", "--format", "json"]).ok();
    assert!(list.stdout.contains("\"paused\""), "{list}");
    if cg::is_v2("freezer") {
        let events = cg::read("freezer", &path(&name), "cgroup.events");
        assert!(events.lines().any(|l| l == "frozen 1"), "{events}");
    } else {
        assert_eq!(cg::read("freezer", &path(&name), "freezer.state"), "FROZEN");
        // A task frozen by the v1 freezer sleeps uninterruptibly.
        assert!(proc_state(pid).starts_with('D'), "{}", proc_state(pid));
    }
    let frozen_at = ticks();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(ticks(), frozen_at, "the container ran while paused");
    // Paused is not deletable without --force, nor pausable twice.
    rt.delete(&name).fails_with(&["paused"]);
    rt.exec(&["pause", &name]).fails_with(&["paused"]);

    rt.exec(&["resume", &name]).ok();
    assert_eq!(rt.status(&name).as_deref(), Some("running"));
    assert!(wait_until(Duration::from_secs(10), || ticks() > frozen_at + 2));
    rt.exec(&["resume", &name]).fails_with(&["running"]);

    // SIGKILL to a paused container's init kills it (thawed for it, as runc).
    rt.exec(&["pause", &name]).ok();
    rt.kill(&name, "KILL").ok();
    assert!(rt.wait_status(&name, "stopped", Duration::from_secs(10)));
    rt.delete(&name).ok();
    assert_no_cgroup(&name);

    // delete --force of a paused container thaws it so that it can die.
    let b = bundle("sleep 100", &name, json!({}));
    create_and_start(&rt, &b, &name);
    rt.exec(&["pause", &name]).ok();
    rt.delete_force(&name).ok();
    assert_no_cgroup(&name);
}

#[test]
fn a_created_container_can_be_paused_and_resumed() {
    let name = unique_name("berth-cg-pausec");
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    let b = bundle("echo started", &name, json!({}));
    rt.create(&b, &name, &[]).ok();
    rt.exec(&["pause", &name]).ok();
    assert_eq!(rt.status(&name).as_deref(), Some("paused"));
    rt.start(&name).fails_with(&["paused"]);
    rt.exec(&["resume", &name]).ok();
    assert_eq!(rt.status(&name).as_deref(), Some("created"));
    rt.start(&name).ok();
    assert!(rt.wait_status(&name, "stopped", Duration::from_secs(10)));
    assert!(rt.container_output(&name).0.contains("started"));
    rt.delete(&name).ok();
    assert_no_cgroup(&name);
}

#[test]
fn events_stats_report_usage() {
    let name = unique_name("berth-cg-stats");
    // Declared first, dropped last: after the runtime deleted its containers.
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    let b = bundle("sleep 100", &name, json!({"pids": {"limit": 50}}));
    create_and_start(&rt, &b, &name);
    let out = rt.exec(&["events", "--stats", &name]).ok();
    let ev: Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], name.as_str());
    let data = &ev["data"];
    assert!(
        data["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{out}"
    );
    assert!(data["pids"]["current"].as_u64().unwrap_or(0) >= 1, "{out}");
    assert_eq!(data["pids"]["limit"], 50);
    assert!(
        data["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0,
        "{out}"
    );
    rt.delete_force(&name).ok();
    assert_no_cgroup(&name);
}

#[test]
fn events_stream_reports_oom_kills_and_ends_with_the_container() {
    let name = unique_name("berth-cg-oomev");
    // Declared first, dropped last: after the runtime deleted its containers.
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    let b = bundle(
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; \
         dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 1",
        &name,
        json!({"memory": {"limit": 32 * MIB, "swap": 32 * MIB}}),
    );
    rt.create(&b, &name, &[]).ok();
    rt.start(&name).ok();
    let mut cmd = rt.command(&["events", "--interval", "300ms", &name]);
    let out_path = rt.work_dir().join("events.out");
    cmd.stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::process::Stdio::inherit());
    let mut child = cmd.spawn().expect("spawn events");
    // The hog starts once events is watching (its first stats line is out).
    let watching = wait_until(Duration::from_secs(30), || {
        std::fs::read_to_string(&out_path).is_ok_and(|t| t.contains('\n'))
    });
    std::fs::write(b.rootfs().join("tmp/go"), "").unwrap();
    assert!(watching, "events printed nothing");
    let status = spec_tests::wait_timeout(&mut child, Duration::from_secs(60));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("events did not end when the container exited");
    }
    let text = std::fs::read_to_string(&out_path).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "oom" && e["id"] == name.as_str()),
        "{text}"
    );
    assert!(events.iter().any(|e| e["type"] == "stats"), "{text}");
    rt.delete(&name).ok();
    assert_no_cgroup(&name);
}

#[test]
fn ps_lists_the_container_processes() {
    let name = unique_name("berth-cg-ps");
    // Declared first, dropped last: after the runtime deleted its containers.
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    let b = bundle("sleep 101 & sleep 102", &name, json!({}));
    let pid = create_and_start(&rt, &b, &name);
    assert!(wait_until(Duration::from_secs(10), || {
        let out = rt.exec(&["ps", "--format", "json", &name]);
        serde_json::from_str::<Vec<i64>>(&out.stdout).is_ok_and(|p| p.len() == 2)
    }));
    let out = rt.exec(&["ps", "--format", "json", &name]).ok();
    let pids: Vec<i64> = serde_json::from_str(&out.stdout).unwrap();
    assert!(pids.contains(&pid), "{out}");
    let table = rt.exec(&["ps", &name]).ok();
    let mut lines = table.stdout.lines();
    assert!(lines.next().unwrap_or("").contains("PID"), "{table}");
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest.len(), 2, "{table}");
    assert!(rest.iter().any(|l| l.contains("sleep 101")), "{table}");
    assert!(rest.iter().any(|l| l.contains("sleep 102")), "{table}");
    let custom = rt.exec(&["ps", &name, "--", "-o", "pid,comm"]).ok();
    assert!(custom.stdout.lines().count() == 3, "{custom}");
    rt.delete_force(&name).ok();
    assert_no_cgroup(&name);
}

#[test]
fn kill_all_signals_every_process() {
    let name = unique_name("berth-cg-killall");
    // Declared first, dropped last: after the runtime deleted its containers.
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    // init (pid 1 of its namespace, no TERM handler) is not killed by TERM;
    // its children are.
    let b = bundle(
        "sleep 200 & sleep 201 & wait; wait; sleep 300; echo end",
        &name,
        json!({}),
    );
    create_and_start(&rt, &b, &name);
    let count = || {
        serde_json::from_str::<Vec<i64>>(&rt.exec(&["ps", "-f", "json", &name]).stdout)
            .map(|p| p.len())
            .unwrap_or(0)
    };
    assert!(wait_until(Duration::from_secs(10), || count() == 3));
    rt.exec(&["kill", "--all", &name, "TERM"]).ok();
    // The two sleeps die; init (TERM ignored) goes on to `sleep 300`.
    assert!(wait_until(Duration::from_secs(10), || count() == 2));
    assert_eq!(rt.status(&name).as_deref(), Some("running"));
    rt.exec(&["kill", "--all", &name, "KILL"]).ok();
    assert!(rt.wait_status(&name, "stopped", Duration::from_secs(10)));
    rt.delete(&name).ok();
    assert_no_cgroup(&name);
}

#[test]
fn delete_kills_what_init_left_without_a_pid_namespace() {
    let name = unique_name("berth-cg-orphan");
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    let mut b = bundle("sleep 150 & echo started", &name, json!({}));
    b.remove_namespace("pid");
    rt.create(&b, &name, &[]).ok();
    rt.start(&name).ok();
    assert!(rt.wait_status(&name, "stopped", Duration::from_secs(10)));
    let procs = cg::read("pids", &path(&name), "cgroup.procs");
    let orphan: i64 = procs
        .lines()
        .next()
        .expect("the sleep is still in the cgroup")
        .parse()
        .unwrap();
    rt.delete(&name).ok();
    assert_no_cgroup(&name);
    assert!(
        wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(format!("/proc/{orphan}/cmdline"))
                .map(|c| !c.starts_with("sleep"))
                .unwrap_or(true)
        }),
        "the orphan {orphan} survived delete"
    );
}

/// The first block device of the host (major:minor), for I/O throttles.
fn a_block_device() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/partitions").ok()?;
    text.lines().skip(2).find_map(|l| {
        let mut f = l.split_whitespace();
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

#[test]
fn less_common_resources_reach_their_files() {
    let name = unique_name("berth-cg-misc");
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    let mut res = json!({
        "memory": {"reservation": 16 * MIB},
        "cpu": {"cpus": "0", "mems": "0"},
    });
    let dev = a_block_device();
    if let Some((major, minor)) = dev {
        res["blockIO"] =
            json!({"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}]});
    }
    let hugetlb = std::path::Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists()
        && cg::has_controller("hugetlb");
    if hugetlb {
        res["hugepageLimits"] = json!([{"pageSize": "2MB", "limit": 4 * MIB}]);
    }
    // The unified map writes v2 files by name: pids.max where pids is v2,
    // else (hybrid) a hugetlb file of the v2 hierarchy.
    let unified_key = if cg::is_v2("pids") {
        Some(("pids", "pids.max", "77"))
    } else if hugetlb && cg::is_v2("hugetlb") {
        Some(("hugetlb", "hugetlb.2MB.max", "2097152"))
    } else {
        None
    };
    if let Some((_, key, value)) = unified_key {
        res["unified"] = json!({ key: value });
    }
    let b = bundle("sleep 100", &name, res);
    create_and_start(&rt, &b, &name);
    let p = path(&name);
    if cg::is_v2("memory") {
        assert_eq!(cg::read("memory", &p, "memory.low"), (16 * MIB).to_string());
    } else {
        assert_eq!(
            cg::read("memory", &p, "memory.soft_limit_in_bytes"),
            (16 * MIB).to_string()
        );
    }
    assert_eq!(cg::read("cpuset", &p, "cpuset.cpus"), "0");
    if let Some((major, minor)) = dev {
        if cg::is_v2("blkio") {
            let max = cg::read("io", &p, "io.max");
            assert!(
                max.contains(&format!("{major}:{minor} rbps=1048576")),
                "{max}"
            );
        } else {
            let v = cg::read("blkio", &p, "blkio.throttle.read_bps_device");
            assert!(v.contains(&format!("{major}:{minor} 1048576")), "{v}");
        }
    }
    if let Some((controller, key, value)) = unified_key {
        assert_eq!(cg::read(controller, &p, key), value);
    } else if hugetlb {
        let file = if cg::is_v2("hugetlb") {
            "hugetlb.2MB.max"
        } else {
            "hugetlb.2MB.limit_in_bytes"
        };
        assert_eq!(cg::read("hugetlb", &p, file), (4 * MIB).to_string());
    }
    rt.delete_force(&name).ok();
    assert_no_cgroup(&name);
}

#[test]
fn sub_cgroups_made_inside_are_listed_killed_and_removed() {
    let name = unique_name("berth-cg-nested");
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    // A writable cgroupfs in a cgroup namespace: the container makes `sub`
    // (in the freezer's hierarchy, whose processes ps lists) and moves a
    // process into it.
    let mut b = bundle(
        "F=/sys/fs/cgroup; [ -d $F/freezer ] && F=$F/freezer; mkdir $F/sub && \
         sh -c \"echo \\$\\$ > $F/sub/cgroup.procs; exec sleep 101\" & sleep 102",
        &name,
        json!({}),
    );
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["type"] == "cgroup" {
            m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
        }
    }
    create_and_start(&rt, &b, &name);
    let pids = || {
        serde_json::from_str::<Vec<i64>>(&rt.exec(&["ps", "-f", "json", &name]).stdout)
            .map(|p| p.len())
            .unwrap_or(0)
    };
    assert!(wait_until(Duration::from_secs(10), || pids() == 2));
    assert!(cg::controller_dir("freezer", &path(&name))
        .join("sub")
        .is_dir());
    rt.exec(&["kill", "--all", &name, "KILL"]).ok();
    assert!(rt.wait_status(&name, "stopped", Duration::from_secs(10)));
    rt.delete(&name).ok();
    assert_no_cgroup(&name);
}

#[test]
fn a_cgroup_namespace_shows_the_container_cgroup_as_root() {
    let name = unique_name("berth-cg-ns");
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    let b = bundle("cat /proc/self/cgroup", &name, json!({}));
    let out = rt.run(&b, &name).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(!lines.is_empty(), "{out}");
    for l in &lines {
        assert!(l.ends_with(":/"), "not the namespace root: {l}\n{out}");
    }

    // Without a cgroup namespace the host's path shows.
    let name2 = unique_name("berth-cg-nons");
    let _guard2 = CgroupCleanup(path(&name2));
    let mut b = bundle("cat /proc/self/cgroup", &name2, json!({}));
    b.remove_namespace("cgroup");
    let out = rt.run(&b, &name2).ok();
    assert!(
        out.stdout
            .lines()
            .all(|l| l.ends_with(&format!(":/{name2}"))),
        "{out}"
    );
    assert_no_cgroup(&name);
    assert_no_cgroup(&name2);
}

#[test]
fn default_cgroup_path_is_made_and_removed() {
    let rt = Runtime::berth();
    let id = unique_name("berth-cg-default");
    let mut b = Bundle::sh("sleep 100");
    if let Some(linux) = b.config["linux"].as_object_mut() {
        linux.remove("cgroupsPath");
    }
    let pid = create_and_start(&rt, &b, &id);
    let dirs = cg::dirs_of_pid(pid);
    assert!(!dirs.is_empty());
    // As runc: the container id, below berth's own cgroup.
    for d in &dirs {
        assert!(
            d.ends_with(&id),
            "{} is not named after the container",
            d.display()
        );
        assert!(d.exists());
    }
    rt.delete_force(&id).ok();
    for d in &dirs {
        assert!(!d.exists(), "{} was left behind", d.display());
    }
}

#[test]
fn unsupported_resource_is_refused_by_name() {
    let name = unique_name("berth-cg-refuse");
    // Declared first, dropped last: after the runtime deleted its containers.
    let _guard = CgroupCleanup(path(&name));
    let rt = Runtime::berth();
    // net_cls exists only as a v1 controller; this host (hybrid with no
    // net_cls mount, or pure v2) cannot apply a class id.
    let has_net_cls = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - cgroup ") && l.contains("net_cls"));
    if has_net_cls {
        eprintln!("skipped: this host mounts net_cls");
        return;
    }
    let b = bundle("true", &name, json!({"network": {"classID": 42}}));
    rt.create(&b, &name, &[]).fails_with(&["network.classID"]);
    assert!(rt.leftovers().is_empty(), "{:?}", rt.leftovers());
    assert_no_cgroup(&name);
}

#[test]
fn the_hierarchy_root_is_not_a_container_cgroup() {
    let rt = Runtime::berth();
    for p in ["/", "/..", "."] {
        let mut b = Bundle::sh("true");
        b.config["linux"]["cgroupsPath"] = json!(p);
        let id = unique_name("berth-cg-root");
        rt.create(&b, &id, &[]).fails_with(&["cgroupsPath"]);
    }
    assert!(rt.leftovers().is_empty(), "{:?}", rt.leftovers());
}

/// On a hybrid host, the `unified` cgroup2 mount hidden by another file
/// system (or unmounted) in berth's mount namespace: berth sees a v1 host
/// and still runs containers with their limits.
#[test]
fn a_hidden_unified_mount_is_not_a_cgroup_hierarchy() {
    let unified = "/sys/fs/cgroup/unified";
    let is_cgroup2 = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(&format!(" {unified} ")) && l.contains(" - cgroup2 "));
    if !is_cgroup2 {
        eprintln!("no hybrid {unified} mount here: nothing to hide");
        return;
    }
    let rt = Runtime::berth();
    for hide in [
        format!("mount -t tmpfs none {unified}"),
        format!("umount {unified}"),
    ] {
        let name = unique_name("hidden-unified");
        let _cleanup = CgroupCleanup(path(&name));
        let b = bundle("echo ran", &name, json!({"pids": {"limit": 20}}));
        b.save();
        let berth = rt.command(&["run", "--bundle"]);
        let line = format!(
            "{hide} && exec {} {} {}",
            std::iter::once(berth.get_program())
                .chain(berth.get_args())
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            b.path().display(),
            name
        );
        let mut cmd = std::process::Command::new("unshare");
        cmd.args(["-m", "sh", "-c", &line]);
        let out = rt.exec_command(cmd).ok();
        assert!(out.stdout.contains("ran"), "{hide}: {out}");
    }
}
