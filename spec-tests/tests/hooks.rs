//! Lifecycle hooks: each kind runs where the runtime-spec says, with the
//! state JSON on stdin; failures are handled as the spec says.

use serde_json::{json, Value};
use spec_tests::{unique_name, wait_until, write_script, Bundle, Runtime};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// A bundle whose hooks record, per kind, their stdin, mount namespace,
/// arguments and environment in `out`, and append their kind to `out/order`.
/// `fail` names the kind that exits 3 (with a message on stderr).
struct HookBundle {
    bundle: Bundle,
    out: PathBuf,
}

const HOST_KINDS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "poststart",
    "poststop",
];

/// A container process for [`hook_bundle`] that appends "process" to the
/// order file.
const RECORD_PROCESS: &[&str] = &["sh", "-c", "echo process >> /hook-out/order"];

fn hook_bundle(args: &[&str], fail: Option<&str>) -> HookBundle {
    let mut bundle = Bundle::new(args);
    let out = bundle.file("hook-out");
    std::fs::create_dir(&out).unwrap();
    let script = write_script(
        &bundle.file("hook.sh"),
        &format!(
            "kind=$1\nout={out}\ncat > $out/$kind.json\nreadlink /proc/self/ns/mnt > $out/$kind.mnt\n\
             echo \"$2|$HOOKVAR\" > $out/$kind.args\necho $kind >> $out/order\n\
             if [ \"$kind\" = \"{fail}\" ]; then echo \"$kind says no\" >&2; exit 3; fi\n",
            out = out.display(),
            fail = fail.unwrap_or("-"),
        ),
    );
    let mut hooks = serde_json::Map::new();
    for kind in HOST_KINDS {
        hooks.insert(
            kind.to_string(),
            json!([{
                "path": script,
                "args": ["hook.sh", kind, "extra-arg"],
                "env": ["PATH=/usr/bin:/bin", "HOOKVAR=from-env"],
            }]),
        );
    }
    // startContainer runs in the container, after pivot_root: its path is
    // the container's /bin/sh, and it writes through a bind mount.
    let fail_start = if fail == Some("startContainer") {
        "echo startContainer says no >&2; exit 3"
    } else {
        "true"
    };
    hooks.insert(
        "startContainer".into(),
        json!([{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!(
                "cat > /hook-out/startContainer.json; readlink /proc/self/ns/mnt > /hook-out/startContainer.mnt; \
                 echo startContainer >> /hook-out/order; {fail_start}")],
        }]),
    );
    bundle.config["hooks"] = Value::Object(hooks);
    bundle.add_mount(json!({"destination": "/hook-out", "type": "bind", "source": out, "options": ["rbind", "rw"]}));
    HookBundle { bundle, out }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn state_of(out: &Path, kind: &str) -> Value {
    let text = read(&out.join(format!("{kind}.json")));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{kind} got no state JSON ({e}): {text:?}"))
}

fn order(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("order"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The `ns` namespace (mnt, pid, ...) of process `pid` ("self": this test),
/// as its /proc link reads.
fn namespace(pid: impl std::fmt::Display, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap()
        .display()
        .to_string()
}

/// Processes whose command line mentions `word` (the container id: a
/// leftover init is still a `berth create ... ID` clone before its exec).
fn processes_mentioning(word: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(word))
                .unwrap_or(false)
        })
        .collect()
}

/// Checks that the failed create of `id` left nothing behind: no container
/// in the root and no process mentioning `id`; `what` says which create.
#[track_caller]
fn nothing_left(rt: &Runtime, id: &str, what: impl std::fmt::Display) {
    assert!(rt.leftovers().is_empty(), "{what}: {:?}", rt.leftovers());
    assert!(
        processes_mentioning(id).is_empty(),
        "{what}: init left running after a failed create"
    );
}

#[test]
fn every_hook_runs_where_and_when_the_spec_says() {
    let rt = Runtime::berth();
    let hb = hook_bundle(
        &[
            "sh",
            "-c",
            "echo process >> /hook-out/order; exec sleep 100",
        ],
        None,
    );
    let out = &hb.out;
    let id = unique_name("hooks");
    rt.create(&hb.bundle, &id, &[]).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let container_mnt = namespace(pid, "mnt");
    assert_ne!(container_mnt, namespace("self", "mnt"));
    assert_eq!(order(out), ["prestart", "createRuntime", "createContainer"]);

    rt.start(&id).ok();
    assert!(
        wait_until(WAIT, || order(out).len() >= 5),
        "{:?}",
        order(out)
    );
    let o = order(out);
    assert_eq!(o[3], "startContainer", "{o:?}");
    assert!(
        o[4..].contains(&"poststart".to_string()) || o.len() >= 5,
        "{o:?}"
    );
    assert!(wait_until(WAIT, || order(out).contains(&"process".to_string())));
    rt.delete_force(&id).ok();
    let o = order(out);
    assert_eq!(o.last().map(String::as_str), Some("poststop"), "{o:?}");
    for kind in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert_eq!(
            o.iter().filter(|k| *k == kind).count(),
            1,
            "{kind} ran other than once: {o:?}"
        );
    }

    // Where: runtime namespace or container namespace.
    for kind in ["prestart", "createRuntime", "poststart", "poststop"] {
        assert_eq!(
            read(&out.join(format!("{kind}.mnt"))).trim(),
            namespace("self", "mnt"),
            "{kind} ran outside the runtime's mount namespace"
        );
    }
    for kind in ["createContainer", "startContainer"] {
        assert_eq!(
            read(&out.join(format!("{kind}.mnt"))).trim(),
            container_mnt,
            "{kind} ran outside the container's mount namespace"
        );
    }

    // What: the state on stdin.
    let bundle_dir = std::fs::canonicalize(hb.bundle.path()).unwrap();
    for (kind, status) in [
        ("prestart", "creating"),
        ("createRuntime", "creating"),
        ("createContainer", "creating"),
        ("startContainer", "created"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ] {
        let st = state_of(out, kind);
        assert_eq!(st["id"], id.as_str(), "{kind}: {st}");
        assert_eq!(st["status"], status, "{kind}: {st}");
        assert_eq!(
            Path::new(st["bundle"].as_str().unwrap_or("")),
            bundle_dir,
            "{kind}: {st}"
        );
        assert!(st["ociVersion"].is_string(), "{kind}: {st}");
        if kind != "poststop" {
            assert_eq!(st["pid"].as_i64(), Some(pid), "{kind}: {st}");
        }
    }
    // args (args[0] is argv[0]) and env are the hook's own.
    for kind in HOST_KINDS {
        assert_eq!(
            read(&out.join(format!("{kind}.args"))).trim(),
            "extra-arg|from-env",
            "{kind}"
        );
    }
}

#[test]
fn failing_prestart_aborts_create_and_cleans_up() {
    let rt = Runtime::berth();
    let hb = hook_bundle(RECORD_PROCESS, Some("prestart"));
    let id = unique_name("prefail");
    let out = rt.create(&hb.bundle, &id, &[]);
    let out = out.fails_with(&["prestart", "prestart says no"]);
    nothing_left(&rt, &id, &out);
    let o = order(&hb.out);
    assert_eq!(o.first().map(String::as_str), Some("prestart"));
    assert!(!o.contains(&"createContainer".to_string()), "{o:?}");
    assert!(!o.contains(&"process".to_string()), "{o:?}");
    // The lifecycle goes on at "destroy": poststop runs (as runc).
    assert_eq!(o.last().map(String::as_str), Some("poststop"), "{o:?}");
    // The id is free again.
    let hb2 = hook_bundle(&["true"], None);
    rt.create(&hb2.bundle, &id, &[]).ok();
    rt.delete(&id).ok();
}

#[test]
fn failing_create_runtime_and_create_container_abort() {
    for kind in ["createRuntime", "createContainer"] {
        let rt = Runtime::berth();
        let hb = hook_bundle(&["true"], Some(kind));
        let id = unique_name("hookfail");
        rt.create(&hb.bundle, &id, &[])
            .fails_with(&[kind, "says no"]);
        nothing_left(&rt, &id, kind);
    }
}

#[test]
fn failing_start_container_hook_stops_the_container() {
    let rt = Runtime::berth();
    let hb = hook_bundle(RECORD_PROCESS, Some("startContainer"));
    let id = unique_name("startfail");
    rt.create(&hb.bundle, &id, &[]).ok();
    // The spec: generate an error, stop the container.
    rt.start(&id).fails_with(&["startContainer"]);
    assert!(rt.wait_status(&id, "stopped", WAIT));
    assert!(
        rt.container_output(&id)
            .1
            .contains("startContainer says no"),
        "{:?}",
        rt.container_output(&id)
    );
    assert!(
        !order(&hb.out).contains(&"process".to_string()),
        "the process ran after its startContainer hook failed"
    );
    rt.delete(&id).ok();
}

#[test]
fn poststart_and_poststop_failures_are_warnings() {
    let rt = Runtime::berth();
    let hb = hook_bundle(&["sleep", "100"], Some("poststart"));
    let id = unique_name("postfail");
    rt.create(&hb.bundle, &id, &[]).ok();
    let start = rt.start(&id).ok();
    assert!(start.stderr.contains("poststart"), "no warning: {start}");
    assert_eq!(rt.state(&id)["status"], "running");
    rt.delete_force(&id).ok();

    let hb = hook_bundle(&["true"], Some("poststop"));
    let id = unique_name("postfail");
    rt.create(&hb.bundle, &id, &[]).ok();
    rt.start(&id).ok();
    assert!(rt.wait_status(&id, "stopped", WAIT));
    let del = rt.delete(&id).ok();
    assert!(del.stderr.contains("poststop"), "no warning: {del}");
    assert!(rt.leftovers().is_empty());
}

#[test]
fn hook_timeout_is_honoured() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    let slow = write_script(&bundle.file("slow.sh"), "exec sleep 30");
    bundle.config["hooks"] = json!({"prestart": [{"path": slow, "timeout": 1}]});
    let id = unique_name("timeout");
    let t0 = Instant::now();
    rt.create(&bundle, &id, &[])
        .fails_with(&["prestart", "timed out"]);
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t0.elapsed()
    );
    nothing_left(&rt, &id, "hook timeout");
}

#[test]
fn missing_hook_binary_is_an_error_naming_it() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["hooks"] = json!({"createRuntime": [{"path": "/no/such/hook"}]});
    rt.run(&bundle, &unique_name("nohook"))
        .fails_with(&["/no/such/hook"]);
    assert!(rt.leftovers().is_empty());
}

#[test]
fn run_runs_poststop_after_the_process() {
    let rt = Runtime::berth();
    let hb = hook_bundle(RECORD_PROCESS, None);
    rt.run(&hb.bundle, &unique_name("runhooks")).ok();
    let o = order(&hb.out);
    assert_eq!(o.first().map(String::as_str), Some("prestart"), "{o:?}");
    assert_eq!(o.last().map(String::as_str), Some("poststop"), "{o:?}");
    assert!(o.contains(&"process".to_string()));
}

/// Joined pid and time namespaces are entered by berth for its child, init:
/// the hooks berth runs afterwards must still be in the runtime's.
#[test]
fn runtime_hooks_stay_in_the_runtime_pid_and_time_namespaces() {
    let rt = Runtime::berth();
    // A container whose pid namespace the second one joins.
    let owner = Bundle::new(&["sleep", "100"]);
    let owner_id = unique_name("pidowner");
    rt.create(&owner, &owner_id, &[]).ok();
    let owner_pid = rt.state(&owner_id)["pid"].as_i64().unwrap();

    let mut bundle = Bundle::new(&["true"]);
    let out = bundle.file("ns-out");
    std::fs::create_dir(&out).unwrap();
    let script = write_script(
        &bundle.file("ns.sh"),
        &format!(
            "readlink /proc/self/ns/pid /proc/self/ns/time > {}/$1",
            out.display()
        ),
    );
    for ns in bundle.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "pid" {
            ns["path"] = json!(format!("/proc/{owner_pid}/ns/pid"));
        }
    }
    bundle.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    bundle.config["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 100}});
    let hook = |kind: &str| json!([{"path": script, "args": ["ns.sh", kind]}]);
    bundle.config["hooks"] = json!({
        "prestart": hook("prestart"),
        "poststart": hook("poststart"),
        "poststop": hook("poststop"),
    });
    rt.run(&bundle, &unique_name("nsjoin")).ok();
    let host = format!(
        "{}\n{}\n",
        namespace("self", "pid"),
        namespace("self", "time")
    );
    for kind in ["prestart", "poststart", "poststop"] {
        assert_eq!(
            read(&out.join(kind)),
            host,
            "{kind} ran in the container's namespaces"
        );
    }
    rt.delete_force(&owner_id).ok();
}

/// A hook that exits without reading its stdin (here a state larger than a
/// pipe holds, so the write meets a closed pipe) is not a failure, and does
/// not kill init: createContainer and startContainer hooks run in init,
/// which the SIGPIPE would kill where it is not a pid namespace's init.
#[test]
fn a_hook_that_does_not_read_its_stdin_is_no_failure() {
    let rt = Runtime::berth();
    for own_pid_ns in [true, false] {
        let mut bundle = Bundle::sh("echo the process ran");
        if !own_pid_ns {
            bundle.remove_namespace("pid");
        }
        bundle.config["annotations"] = json!({"big": "x".repeat(256 * 1024)});
        let hook = json!([{"path": "/bin/true"}]);
        bundle.config["hooks"] = json!({"createContainer": hook, "startContainer": hook});
        let out = rt.run(&bundle, &unique_name("nostdin")).ok();
        assert!(out.stdout.contains("the process ran"), "{out}");
    }
}
