//! create / start / state / kill / delete / run / list, as runc does them.

use serde_json::{json, Value};
use spec_tests::{unique_name, wait_until, Bundle, Runtime};
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn pid_alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start())
                .unwrap_or("");
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

/// A bundle whose process writes to a host directory shared at /shared, so
/// that the test sees when (and whether) it ran.
fn shared_bundle(script: &str) -> (Bundle, std::path::PathBuf) {
    let mut bundle = Bundle::sh(script);
    let shared = bundle.file("shared");
    std::fs::create_dir(&shared).unwrap();
    bundle.add_mount(json!({
        "destination": "/shared", "type": "bind", "source": shared, "options": ["rbind", "rw"]
    }));
    (bundle, shared)
}

/// `create` and `start` of `id`, both expected to succeed.
#[track_caller]
fn create_and_start(rt: &Runtime, bundle: &Bundle, id: &str) {
    rt.create(bundle, id, &[]).ok();
    rt.start(id).ok();
}

/// Sends KILL to `id` and waits until it is stopped.
#[track_caller]
fn kill_until_stopped(rt: &Runtime, id: &str) {
    rt.kill(id, "KILL").ok();
    assert!(
        rt.wait_status(id, "stopped", WAIT),
        "{id} not stopped after KILL"
    );
}

/// Waits until the stdout of the container `id` (made by [`Runtime::create`])
/// contains `text`.
fn wait_for_stdout(rt: &Runtime, id: &str, text: &str) -> bool {
    wait_until(WAIT, || rt.container_output(id).0.contains(text))
}

/// Starts `berth SUBCOMMAND --bundle BUNDLE ID` in the background: the
/// bundle saved first (as [`Runtime::run`] does), stdin from /dev/null,
/// stdout and stderr going to `stdout` and `stderr`.
fn spawn_with_bundle(
    rt: &Runtime,
    subcommand: &str,
    bundle: &Bundle,
    id: &str,
    stdout: impl Into<Stdio>,
    stderr: impl Into<Stdio>,
) -> Child {
    bundle.save();
    let mut cmd = rt.command(&[subcommand, "--bundle", bundle.path().to_str().unwrap(), id]);
    cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    cmd.spawn().unwrap()
}

/// Waits (at most WAIT) for a `berth run` started by [`spawn_with_bundle`];
/// when it has not returned by then, kills it and fails with "run did not
/// return after `after`".
#[track_caller]
fn wait_for_run(child: &mut Child, after: &str) -> ExitStatus {
    match spec_tests::wait_timeout(child, WAIT) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            panic!("run did not return after {after}")
        }
    }
}

/// Makes the bundle's only hook one of kind `kind`: slow-hook.sh, running
/// `script`.
fn set_slow_hook(bundle: &mut Bundle, kind: &str, script: &str) {
    let hook = spec_tests::write_script(&bundle.file("slow-hook.sh"), script);
    bundle.config["hooks"] = json!({ kind: [{"path": hook}] });
}

/// Starts `berth create` of `bundle` in the background, waits until its
/// hook has made `marker`, and kills the create command (SIGKILL) there.
#[track_caller]
fn kill_create_once_the_hook_ran(rt: &Runtime, bundle: &Bundle, id: &str, marker: &Path) {
    let mut child = spawn_with_bundle(rt, "create", bundle, id, Stdio::null(), Stdio::null());
    assert!(wait_until(WAIT, || marker.exists()), "the hook did not run");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn create_start_state_stopped_delete() {
    let rt = Runtime::berth();
    let (bundle, shared) = shared_bundle(
        "echo started > /shared/ran; echo to-stdout; echo to-stderr >&2; exec sleep 100",
    );
    let id = unique_name("life");
    let pid_file = rt.work_dir().join("init.pid");
    rt.create(&bundle, &id, &["--pid-file", pid_file.to_str().unwrap()])
        .ok();

    let state = rt.state(&id);
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["id"], id.as_str());
    assert_eq!(
        state["ociVersion"].as_str().map(|v| v.starts_with("1.")),
        Some(true)
    );
    assert_eq!(
        Path::new(state["bundle"].as_str().unwrap()),
        std::fs::canonicalize(bundle.path()).unwrap()
    );
    let pid = state["pid"].as_i64().unwrap();
    assert!(pid > 0, "{state}");
    assert!(pid_alive(pid), "init {pid} is not alive after create");
    // The pid file is written (whole) before create returns.
    let written = std::fs::read_to_string(&pid_file).unwrap();
    assert_eq!(written.trim(), pid.to_string());
    // The process has not run yet: it waits for start.
    std::thread::sleep(Duration::from_millis(100));
    assert!(!shared.join("ran").exists(), "the process ran before start");

    rt.start(&id).ok();
    assert!(
        wait_until(WAIT, || shared.join("ran").exists()),
        "the process did not run after start"
    );
    assert_eq!(rt.state(&id)["status"], "running");
    assert_eq!(rt.state(&id)["pid"].as_i64(), Some(pid));
    // The stdio that create got is the container's.
    assert!(wait_until(WAIT, || {
        let (out, err) = rt.container_output(&id);
        out.contains("to-stdout") && err.contains("to-stderr")
    }));

    kill_until_stopped(&rt, &id);
    assert!(!pid_alive(pid));
    let state = rt.state(&id);
    assert_eq!(
        state["pid"], 0,
        "a stopped container reports pid 0: {state}"
    );

    rt.delete(&id).ok();
    rt.exec(&["state", &id]).fails_with(&["does not exist"]);
    assert!(rt.leftovers().is_empty(), "{:?}", rt.leftovers());
}

#[test]
fn start_twice_and_start_of_stopped_fail() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["sleep", "100"]);
    let id = unique_name("start2");
    create_and_start(&rt, &bundle, &id);
    rt.start(&id).fails_with(&[&id]);
    kill_until_stopped(&rt, &id);
    rt.start(&id).fails_with(&["stopped"]);
    rt.start("no-such-container")
        .fails_with(&["does not exist"]);
    rt.delete(&id).ok();
}

/// The sequence that once hung: every command must return.
#[test]
fn command_sequence_never_blocks() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["sleep", "100"]);
    let id = unique_name("seq");
    create_and_start(&rt, &bundle, &id);
    assert!(!rt.start(&id).success());
    let list = rt.exec(&["list"]).ok();
    assert!(list.stdout.contains(&id));
    rt.delete(&id).fails_with(&["running"]);
    kill_until_stopped(&rt, &id);
    rt.delete(&id).ok();
}

#[test]
fn kill_accepts_names_and_numbers() {
    let rt = Runtime::berth();
    // sh as pid 1 only gets the signals it has handlers for.
    let bundle = Bundle::sh(
        "trap 'echo got-USR1' USR1; trap 'echo got-USR2' USR2; trap 'echo got-HUP' HUP; \
         trap 'echo got-TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done",
    );
    let id = unique_name("kill");
    create_and_start(&rt, &bundle, &id);
    assert!(wait_for_stdout(&rt, &id, "ready"));
    for (signal, expect) in [
        ("USR1", "got-USR1"),
        ("SIGUSR2", "got-USR2"),
        ("1", "got-HUP"),
    ] {
        rt.kill(&id, signal).ok();
        assert!(
            wait_for_stdout(&rt, &id, expect),
            "kill {signal}: the container did not get it: {:?}",
            rt.container_output(&id)
        );
    }
    rt.kill(&id, "NOSUCHSIG").fails_with(&["NOSUCHSIG"]);
    rt.kill(&id, "0").fails_with(&["signal"]);
    // The default signal is TERM.
    rt.exec(&["kill", &id]).ok();
    assert!(wait_for_stdout(&rt, &id, "got-TERM"));
    assert!(rt.wait_status(&id, "stopped", WAIT));
    rt.kill(&id, "KILL").fails_with(&["container not running"]);
    // --all on a stopped container is no error (runc's answer, which
    // containerd's CRI plugin relies on to stop a pod).
    rt.exec(&["kill", "--all", &id, "KILL"]).ok();
    rt.delete(&id).ok();
}

#[test]
fn kill_all_reaches_every_process() {
    let rt = Runtime::berth();
    let bundle = Bundle::sh("sleep 100 & sleep 100 & wait");
    let id = unique_name("killall");
    create_and_start(&rt, &bundle, &id);
    rt.exec(&["kill", "--all", &id, "KILL"]).ok();
    assert!(rt.wait_status(&id, "stopped", WAIT));
    rt.delete(&id).ok();
}

#[test]
fn delete_refuses_running_and_created_needs_no_force() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["sleep", "100"]);
    let running = unique_name("delrun");
    create_and_start(&rt, &bundle, &running);
    let pid = rt.state(&running)["pid"].as_i64().unwrap();
    rt.delete(&running).fails_with(&["running"]);
    assert!(pid_alive(pid), "a refused delete killed the container");
    rt.delete_force(&running).ok();
    assert!(!pid_alive(pid), "delete --force left init {pid} alive");
    rt.exec(&["state", &running])
        .fails_with(&["does not exist"]);

    // A created container is deleted (its init killed) without --force, as runc.
    let created = unique_name("delcreated");
    rt.create(&bundle, &created, &[]).ok();
    let pid = rt.state(&created)["pid"].as_i64().unwrap();
    rt.delete(&created).ok();
    assert!(!pid_alive(pid));
    assert!(rt.leftovers().is_empty(), "{:?}", rt.leftovers());
}

#[test]
fn delete_of_unknown_ids() {
    let rt = Runtime::berth();
    rt.delete_force("never-existed").code_is(0);
    rt.delete("never-existed").fails_with(&["does not exist"]);
    rt.exec(&["kill", "never-existed", "KILL"])
        .fails_with(&["does not exist"]);
    rt.exec(&["state", "never-existed"])
        .fails_with(&["does not exist"]);
}

#[test]
fn run_returns_the_exit_code_and_deletes() {
    let rt = Runtime::berth();
    let bundle = Bundle::sh("echo hello from busybox; exit 42");
    let out = rt.run(&bundle, &unique_name("run"));
    assert_eq!(out.code, 42, "{out}");
    assert!(out.stdout.contains("hello from busybox"), "{out}");
    assert!(rt.leftovers().is_empty(), "run left {:?}", rt.leftovers());

    let bundle = Bundle::new(&["true"]);
    rt.run(&bundle, &unique_name("run")).code_is(0);
    let bundle = Bundle::new(&["false"]);
    rt.run(&bundle, &unique_name("run")).code_is(1);
}

#[test]
fn run_keep_leaves_a_stopped_container() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["true"]);
    bundle.save();
    let id = unique_name("keep");
    rt.exec(&[
        "run",
        "--keep",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ])
    .code_is(0);
    assert_eq!(rt.state(&id)["status"], "stopped");
    rt.delete(&id).ok();
}

#[test]
fn run_killed_container_exits_128_plus_signal() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["sleep", "100"]);
    let id = unique_name("runkill");
    let mut child = spawn_with_bundle(&rt, "run", &bundle, &id, Stdio::null(), Stdio::null());
    assert!(rt.wait_status(&id, "running", WAIT), "run did not start it");
    rt.kill(&id, "KILL").ok();
    let status = wait_for_run(&mut child, "its container was killed");
    assert_eq!(status.code(), Some(128 + 9));
    assert!(rt.leftovers().is_empty());
}

#[test]
fn run_forwards_signals_to_the_container() {
    let rt = Runtime::berth();
    let bundle = Bundle::sh("trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done");
    let id = unique_name("runfwd");
    let out = rt.work_dir().join("runfwd.out");
    let stdout = std::fs::File::create(&out).unwrap();
    let mut child = spawn_with_bundle(&rt, "run", &bundle, &id, stdout, Stdio::null());
    // Once "ready" is out, the trap is set.
    assert!(
        wait_until(WAIT, || std::fs::read_to_string(&out)
            .unwrap_or_default()
            .contains("ready")),
        "the container did not start"
    );
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_for_run(&mut child, "SIGTERM");
    assert_eq!(status.code(), Some(7), "SIGTERM was not forwarded");
}

/// A container that exits before `run` starts waiting must not be lost
/// (youki hangs on ~2% of /bin/true runs that way).
#[test]
fn run_never_loses_a_fast_exit() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["true"]);
    for i in 0..25 {
        let out = rt.run(&bundle, &unique_name("fast"));
        assert_eq!(out.code, 0, "run {i}: {out}");
    }
    assert!(rt.leftovers().is_empty());
}

#[test]
fn detached_run_and_state() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["sleep", "100"]);
    bundle.save();
    let id = unique_name("detach");
    // Detached, the container keeps the command's stdio: files, not pipes.
    let out = rt.exec(&[
        "run",
        "-d",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    out.ok();
    assert_eq!(rt.state(&id)["status"], "running");
    rt.delete_force(&id).ok();
}

#[test]
fn list_table_json_and_quiet() {
    let rt = Runtime::berth();
    assert_eq!(
        rt.exec(&["list", "--format", "json"]).ok().stdout.trim(),
        "null"
    );
    let header = rt.exec(&["list"]).ok().stdout;
    for col in ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] {
        assert!(header.contains(col), "{header}");
    }

    let bundle = Bundle::new(&["sleep", "100"]);
    let a = unique_name("lista");
    let b = unique_name("listb");
    rt.create(&bundle, &a, &[]).ok();
    rt.create(&bundle, &b, &[]).ok();
    rt.start(&b).ok();

    let table = rt.exec(&["list"]).ok().stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID "));
    let row_a = lines.iter().find(|l| l.starts_with(&a)).expect("row a");
    let row_b = lines.iter().find(|l| l.starts_with(&b)).expect("row b");
    assert!(
        row_a.split_whitespace().nth(2) == Some("created"),
        "{row_a}"
    );
    assert!(
        row_b.split_whitespace().nth(2) == Some("running"),
        "{row_b}"
    );

    let json: Value =
        serde_json::from_str(&rt.exec(&["list", "--format", "json"]).ok().stdout).unwrap();
    let entries = json.as_array().expect("a JSON array");
    assert_eq!(entries.len(), 2);
    for e in entries {
        for key in [
            "id", "pid", "status", "bundle", "rootfs", "created", "owner",
        ] {
            assert!(e.get(key).is_some(), "list entry without {key}: {e}");
        }
    }
    let quiet = rt.exec(&["list", "-q"]).ok().stdout;
    let mut ids: Vec<&str> = quiet.lines().collect();
    ids.sort();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(ids, want);
    rt.delete_force(&a).ok();
    rt.delete_force(&b).ok();
}

/// berth's state JSON has runc's fields and values for the same bundle.
#[test]
fn state_matches_runc() {
    let Some(runc) = Runtime::runc() else {
        eprintln!("runc is not installed: skipped");
        return;
    };
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["sleep", "100"]);
    // Different ids: the default cgroup path is made of the id, and the two
    // runtimes must not share a cgroup.
    let (rid, id) = (unique_name("cmpr"), unique_name("cmpb"));
    runc.create(&bundle, &rid, &[]).ok();
    rt.create(&bundle, &id, &[]).ok();
    let theirs = runc.state(&rid);
    let ours = rt.state(&id);
    for key in [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
    ] {
        assert!(
            theirs.get(key).is_some() && ours.get(key).is_some(),
            "{key}: runc {theirs} berth {ours}"
        );
    }
    assert_eq!(ours["id"], id.as_str());
    for key in ["status", "bundle", "rootfs", "owner"] {
        assert_eq!(ours[key], theirs[key], "{key}");
    }
    runc.start(&rid).ok();
    rt.start(&id).ok();
    assert_eq!(rt.state(&id)["status"], runc.state(&rid)["status"]);
    runc.kill(&rid, "KILL").ok();
    rt.kill(&id, "KILL").ok();
    assert!(runc.wait_status(&rid, "stopped", WAIT));
    assert!(rt.wait_status(&id, "stopped", WAIT));
    assert_eq!(rt.state(&id)["pid"], runc.state(&rid)["pid"]);
    runc.delete(&rid).ok();
    rt.delete(&id).ok();
}

#[test]
fn log_file_gets_json_error_lines() {
    let rt = Runtime::berth();
    let log = rt.work_dir().join("log.json");
    let out = rt.exec(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "no-such-container",
    ]);
    // Global flags come before the subcommand: they are accepted after --root too.
    assert_eq!(out.code, 1, "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(
        last["msg"].as_str().unwrap().contains("does not exist"),
        "{last}"
    );
    assert!(last["time"].is_string());

    // conmon's --flag=value form.
    let out = rt.exec(&[
        &format!("--log={}", log.display()),
        "--log-format=json",
        "state",
        "no-such-container",
    ]);
    assert_eq!(out.code, 1, "{out}");
}

#[test]
fn version_and_help() {
    let rt = Runtime::berth();
    rt.exec(&["--version"]).ok();
    for cmd in [
        "create", "start", "state", "kill", "delete", "run", "list", "spec", "features",
    ] {
        let out = rt.exec(&[cmd, "--help"]).ok();
        assert!(!out.stdout.is_empty(), "{cmd} --help printed nothing");
    }
}

#[test]
fn features_lists_what_is_implemented() {
    let rt = Runtime::berth();
    let out = rt.exec(&["features"]).ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(v["ociVersionMax"].as_str().unwrap().starts_with("1."));
    let hooks: Vec<&str> = v["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h.as_str())
        .collect();
    for h in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(hooks.contains(&h), "{h}");
    }
    assert!(v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .contains(&json!("mount")));
    let options = v["mountOptions"].as_array().unwrap();
    for o in ["rro", "rnosymfollow", "rnorelatime", "nosymfollow", "rbind"] {
        assert!(options.contains(&json!(o)), "mountOptions without {o}: {v}");
    }
    assert!(!options.contains(&json!("tmpcopyup")), "{v}");
    let modes = v["linux"]["memoryPolicy"]["modes"].as_array().unwrap();
    assert!(modes.contains(&json!("MPOL_BIND")), "{v}");
    assert_eq!(v["linux"]["apparmor"]["enabled"], true, "{v}");
    assert_eq!(v["linux"]["netDevices"]["enabled"], true, "{v}");
}

#[test]
fn spec_writes_a_config_and_refuses_to_overwrite() {
    let rt = Runtime::berth();
    let dir = rt.work_dir().join("specdir");
    std::fs::create_dir(&dir).unwrap();
    rt.exec(&["spec", "--bundle", dir.to_str().unwrap()]).ok();
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(v["root"]["path"], "rootfs");
    assert!(v["process"]["args"].is_array());
    rt.exec(&["spec", "--bundle", dir.to_str().unwrap()])
        .fails_with(&["exists"]);
    let dir2 = rt.work_dir().join("specdir2");
    std::fs::create_dir(&dir2).unwrap();
    rt.exec(&["spec", "--rootless", "--bundle", dir2.to_str().unwrap()])
        .ok();
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir2.join("config.json")).unwrap()).unwrap();
    assert!(v["linux"]["uidMappings"].is_array());
}

/// `delete --force` from elsewhere while `run` waits: run reports the kill
/// and does not fail on the container being gone.
#[test]
fn run_survives_a_concurrent_delete() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["sleep", "100"]);
    let id = unique_name("rundel");
    let err_path = rt.work_dir().join("rundel.err");
    let stderr = std::fs::File::create(&err_path).unwrap();
    let mut child = spawn_with_bundle(&rt, "run", &bundle, &id, Stdio::null(), stderr);
    assert!(rt.wait_status(&id, "running", WAIT));
    rt.delete_force(&id).ok();
    let status = wait_for_run(&mut child, "its container was deleted");
    assert_eq!(
        status.code(),
        Some(128 + 9),
        "{}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    assert!(rt.leftovers().is_empty());
}

/// `create` killed while init waits for it (here: in a prestart hook): init
/// sees the hang-up and ends, and `delete --force` removes what is left.
#[test]
fn create_killed_midway_leaves_no_process() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    let marker = bundle.file("hook.pid");
    let script = format!("echo $$ > {}; exec sleep 30", marker.display());
    set_slow_hook(&mut bundle, "prestart", &script);
    let id = unique_name("killcreate");
    kill_create_once_the_hook_ran(&rt, &bundle, &id, &marker);
    let written_pid = || {
        std::fs::read_to_string(&marker)
            .ok()?
            .trim()
            .parse::<i32>()
            .ok()
    };
    wait_until(WAIT, || written_pid().is_some());
    let hook_pid = written_pid().expect("the hook did not write its pid");
    // SAFETY: kill(2) on the orphaned hook, a process this test made.
    unsafe { libc::kill(hook_pid, libc::SIGKILL) };

    let mentioning_id = || -> Vec<i32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(&id))
                    .unwrap_or(false)
                    && pid_alive(*pid as i64)
            })
            .collect()
    };
    let ended = wait_until(WAIT, || mentioning_id().is_empty());
    let stuck = mentioning_id();
    for pid in &stuck {
        // SAFETY: kill(2) on the stuck init of this test's container.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    if !stuck.is_empty() {
        wait_until(WAIT, || mentioning_id().is_empty());
    }
    rt.delete_force(&id).ok();
    assert!(
        ended,
        "init {stuck:?} was still waiting for a parent that died"
    );
    assert!(rt.leftovers().is_empty(), "{:?}", rt.leftovers());
}

/// `create` killed while init runs a createContainer hook: `delete --force`
/// finds init (recorded before it was told to proceed) and kills it.
#[test]
fn delete_force_after_create_was_killed_in_init() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    let marker = bundle.file("hook-ran");
    let script = format!("touch {}; sleep 3", marker.display());
    set_slow_hook(&mut bundle, "createContainer", &script);
    let id = unique_name("killinit");
    kill_create_once_the_hook_ran(&rt, &bundle, &id, &marker);
    let pid = rt.state(&id)["pid"].as_i64().unwrap_or(0);
    assert!(pid > 0, "the state does not name init");
    rt.delete_force(&id).ok();
    let gone = !pid_alive(pid);
    if !gone {
        // SAFETY: kill(2) on this test's container init.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    assert!(gone, "delete --force left init {pid} alive");
    assert!(rt.leftovers().is_empty(), "{:?}", rt.leftovers());
}
