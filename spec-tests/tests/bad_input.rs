//! Bad input: exit 1, an error that names the problem, and nothing left
//! behind (in --root, or as a process).

use serde_json::json;
use spec_tests::{unique_name, Bundle, Output, Runtime};
use std::path::Path;

/// A change to config.json.
type Edit = Box<dyn Fn(&mut serde_json::Value)>;

/// `create --bundle DIR ID` with the bundle as it is on disk: unlike
/// [`Runtime::create`], nothing is saved to config.json first.
fn create_as_is(rt: &Runtime, dir: &Path, id: &str) -> Output {
    rt.exec(&["create", "--bundle", dir.to_str().unwrap(), id])
}

/// Checks that the failed create `out` left nothing in the root.
#[track_caller]
fn left_nothing(rt: &Runtime, out: Output) -> Output {
    assert!(
        rt.leftovers().is_empty(),
        "left {:?} after: {out}",
        rt.leftovers()
    );
    out
}

/// Creates `id` from `bundle` expecting a failure mentioning `words`, and
/// checks that nothing is left.
#[track_caller]
fn refused(rt: &Runtime, bundle: &Bundle, words: &[&str]) -> Output {
    let id = unique_name("bad");
    left_nothing(rt, rt.create(bundle, &id, &[]).fails_with(words))
}

/// Like [`refused`], with config.json written as `text` verbatim.
#[track_caller]
fn refused_text(rt: &Runtime, text: &str, words: &[&str]) -> Output {
    let bundle = Bundle::new(&["true"]);
    let id = unique_name("bad");
    std::fs::write(bundle.config_path(), text).unwrap();
    left_nothing(rt, create_as_is(rt, bundle.path(), &id).fails_with(words))
}

#[test]
fn missing_bundle() {
    let rt = Runtime::berth();
    let missing = rt.work_dir().join("no-such-bundle");
    create_as_is(&rt, &missing, "x1").fails_with(&["no-such-bundle"]);
    assert!(rt.leftovers().is_empty());
    rt.exec(&["run", "--bundle", missing.to_str().unwrap(), "x2"])
        .fails_with(&["no-such-bundle"]);
    assert!(rt.leftovers().is_empty());
}

#[test]
fn missing_and_unreadable_config() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["true"]);
    std::fs::remove_file(bundle.config_path()).unwrap();
    create_as_is(&rt, bundle.path(), "x").fails_with(&["config.json"]);
    std::fs::create_dir(bundle.config_path()).unwrap();
    create_as_is(&rt, bundle.path(), "x").fails_with(&["config.json"]);
    assert!(rt.leftovers().is_empty());
}

#[test]
fn malformed_json() {
    let rt = Runtime::berth();
    refused_text(
        &rt,
        "{\"ociVersion\": \"1.0.0\", \"process\": ",
        &["config.json"],
    );
    refused_text(&rt, "not json at all", &["config.json"]);
    refused_text(&rt, "", &["config.json"]);
    let out = refused_text(
        &rt,
        "{\"ociVersion\": \"1.0.0\",\n \"root\": {\"path\": \"rootfs\"},,\n}",
        &["config.json"],
    );
    assert!(
        out.stderr.contains("line 2"),
        "the error does not say where: {out}"
    );
}

#[test]
fn wrong_types_name_the_field() {
    let rt = Runtime::berth();
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|c| c["process"]["args"] = json!("sh -c true")),
            "process.args",
        ),
        (
            Box::new(|c| c["process"]["user"]["uid"] = json!("root")),
            "process.user.uid",
        ),
        (
            Box::new(|c| c["process"]["terminal"] = json!("yes")),
            "process.terminal",
        ),
        (Box::new(|c| c["root"] = json!("rootfs")), "root"),
        (
            Box::new(|c| {
                c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "nosuchns"}])
            }),
            "linux.namespaces[1].type",
        ),
        (
            Box::new(|c| {
                c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}])
            }),
            "process.rlimits[0].type",
        ),
        (
            Box::new(|c| c["mounts"] = json!({"destination": "/x"})),
            "mounts",
        ),
        (
            Box::new(|c| {
                c["linux"]["devices"] =
                    json!([{"path": "/dev/x", "type": "c", "major": "one", "minor": 1}])
            }),
            "linux.devices[0].major",
        ),
        (
            Box::new(|c| {
                c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_NONE", "priority": 0})
            }),
            "process.ioPriority.class",
        ),
        (
            Box::new(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_SOMETIMES"})),
            "process.scheduler.policy",
        ),
        (
            Box::new(
                |c| c["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RECLAIM", "SCHED_RESET_ON_FORK"]}),
            ),
            "process.scheduler.flags[1]",
        ),
        (
            Box::new(|c| c["linux"]["personality"] = json!({"domain": "LINUX64"})),
            "linux.personality.domain",
        ),
        (
            Box::new(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_SOMEWHERE"})),
            "linux.memoryPolicy.mode",
        ),
        (
            Box::new(|c| {
                c["linux"]["memoryPolicy"] =
                    json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NOPE"]})
            }),
            "linux.memoryPolicy.flags[0]",
        ),
    ];
    for (edit, field) in cases {
        let mut bundle = Bundle::new(&["true"]);
        edit(&mut bundle.config);
        let out = refused(&rt, &bundle, &["config.json", field]);
        assert!(
            out.stderr.contains("invalid type")
                || out.stderr.contains("unknown variant")
                || out.stderr.contains("expected"),
            "{out}"
        );
    }
}

#[test]
fn invalid_values_name_the_field() {
    let rt = Runtime::berth();
    let cases: Vec<(Edit, &[&str])> = vec![
        (
            Box::new(|c| c["ociVersion"] = json!("2.0.0")),
            &["ociVersion"],
        ),
        (
            Box::new(|c| c["process"]["args"] = json!([])),
            &["process.args"],
        ),
        (
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("process");
            }),
            &["process"],
        ),
        (
            Box::new(|c| c["process"]["cwd"] = json!("relative/dir")),
            &["process.cwd"],
        ),
        (
            Box::new(|c| c["process"]["env"] = json!(["NOEQUALSSIGN"])),
            &["process.env", "NOEQUALSSIGN"],
        ),
        (
            Box::new(|c| c["root"]["path"] = json!("no-such-rootfs")),
            &["no-such-rootfs"],
        ),
        (
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("root");
            }),
            &["root"],
        ),
        (
            Box::new(|c| {
                c["mounts"] =
                    json!([{"destination": "relative", "type": "tmpfs", "source": "tmpfs"}])
            }),
            &["mounts[0].destination"],
        ),
        (
            Box::new(
                |c| c["mounts"] = json!([{"destination": "/x", "type": "bind", "source": "/no/such/source", "options": ["bind"]}]),
            ),
            &["/no/such/source"],
        ),
        (
            Box::new(
                |c| c["mounts"] = json!([{"destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}]),
            ),
            &["tmpcopyup"],
        ),
        (
            Box::new(|c| c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "mount"}])),
            &["linux.namespaces"],
        ),
        (
            Box::new(|c| c["linux"]["namespaces"] = json!([{"type": "pid"}])),
            &["mount namespace"],
        ),
        (
            Box::new(|c| {
                c["linux"]["namespaces"] =
                    json!([{"type": "mount"}, {"type": "uts", "path": "/no/such/ns"}])
            }),
            &["/no/such/ns"],
        ),
        (
            Box::new(|c| c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "user"}])),
            &["uidMappings"],
        ),
        (
            Box::new(|c| {
                c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}])
            }),
            &["uidMappings"],
        ),
        (
            Box::new(|c| {
                c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "user"}]);
                c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
            }),
            &["linux.gidMappings", "needs uid and gid mappings"],
        ),
        (
            Box::new(|c| {
                c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "user"}]);
                c["linux"]["uidMappings"] = json!([
                    {"containerID": 0, "hostID": 100000, "size": 10},
                    {"containerID": 5, "hostID": 200000, "size": 10}
                ]);
                c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
            }),
            &["linux.uidMappings", "container ranges overlap"],
        ),
        (
            Box::new(|c| {
                c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "user"}]);
                c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 0}]);
                c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
            }),
            &["linux.uidMappings", "size is 0"],
        ),
        (
            Box::new(|c| {
                c["mounts"] = json!([{"destination": "/x", "type": "tmpfs", "source": "tmpfs",
                    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                    "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}])
            }),
            &["mounts[0]", "only supported for bind mounts"],
        ),
        (
            Box::new(|c| {
                c["mounts"] = json!([{"destination": "/x", "type": "bind", "source": "/tmp",
                    "options": ["rbind"],
                    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}])
            }),
            &["mounts[0]", "both uidMappings and gidMappings"],
        ),
        (
            Box::new(|c| {
                c["mounts"] = json!([{"destination": "/x", "type": "bind", "source": "/tmp",
                    "options": ["rbind", "idmap"]}])
            }),
            &["mounts[0]", "user namespace"],
        ),
        (
            Box::new(|c| {
                c["linux"]["namespaces"] =
                    json!([{"type": "mount"}, {"type": "user", "path": "/proc/self/ns/user"}]);
                c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
                c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
            }),
            &[
                "linux.uidMappings/gidMappings",
                "/proc/self/ns/user",
                "differ",
            ],
        ),
        (
            Box::new(|c| c["linux"]["rootfsPropagation"] = json!("sideways")),
            &["rootfsPropagation"],
        ),
        (
            Box::new(|c| {
                c["linux"]["devices"] =
                    json!([{"path": "/etc/dev", "type": "c", "major": 1, "minor": 3}])
            }),
            &["linux.devices", "/etc/dev"],
        ),
        (
            Box::new(|c| {
                c["linux"]["devices"] =
                    json!([{"path": "/dev/../etc/passwd", "type": "c", "major": 1, "minor": 3}])
            }),
            &["linux.devices", "/dev/../etc/passwd"],
        ),
        (
            Box::new(|c| c["linux"]["sysctl"] = json!({"kernel.panic": "1"})),
            &["kernel.panic"],
        ),
        (
            Box::new(|c| c["process"]["capabilities"]["effective"] = json!(["CAP_NOPE"])),
            &["CAP_NOPE"],
        ),
        (
            Box::new(|c| c["hooks"] = json!({"prestart": [{"path": "relative/hook"}]})),
            &["hooks.prestart[0].path"],
        ),
        (
            Box::new(|c| {
                c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 8})
            }),
            &["process.ioPriority.priority", "8"],
        ),
        (
            Box::new(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "nice": 20})),
            &["process.scheduler.nice", "20"],
        ),
        (
            Box::new(|c| {
                c["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 0})
            }),
            &["process.scheduler.priority"],
        ),
        (
            Box::new(|c| {
                c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "priority": 5})
            }),
            &["process.scheduler.priority", "SCHED_FIFO or SCHED_RR"],
        ),
        (
            Box::new(|c| {
                c["process"]["scheduler"] =
                    json!({"policy": "SCHED_DEADLINE", "runtime": 4096, "deadline": 2048})
            }),
            &["process.scheduler.deadline"],
        ),
        (
            Box::new(|c| {
                c["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "period": 10})
            }),
            &["process.scheduler.runtime", "SCHED_DEADLINE"],
        ),
        (
            Box::new(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_ISO"})),
            &["process.scheduler.policy", "SCHED_ISO"],
        ),
        (
            Box::new(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0-x"})),
            &["linux.memoryPolicy.nodes", "0-x"],
        ),
        (
            Box::new(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_INTERLEAVE"})),
            &["linux.memoryPolicy.nodes", "at least one node"],
        ),
        (
            Box::new(|c| c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_LOCAL", "nodes": "0"})),
            &["linux.memoryPolicy.nodes", "takes no nodes"],
        ),
        (
            Box::new(|c| {
                c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0",
                    "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]})
            }),
            &["linux.memoryPolicy.flags"],
        ),
        (
            Box::new(|c| c["hooks"] = json!({"poststop": [{"path": "/bin/true", "timeout": 0}]})),
            &["hooks.poststop[0].timeout"],
        ),
        (
            Box::new(
                |c| c["hooks"] = json!({"createRuntime": [{"path": "/bin/true"}, {"path": "/bin/true", "env": ["NOVALUE"]}]}),
            ),
            &["hooks.createRuntime[1].env", "NOVALUE"],
        ),
    ];
    for (edit, words) in cases {
        let mut bundle = Bundle::new(&["true"]);
        // The default hostname needs the uts namespace some cases remove.
        bundle.config["hostname"] = json!(null);
        edit(&mut bundle.config);
        refused(&rt, &bundle, words);
    }
}

/// A field berth does not implement is refused, never ignored.
#[test]
fn unsupported_fields_are_refused() {
    let rt = Runtime::berth();
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|c| c["process"]["user"]["username"] = json!("someone")),
            "username",
        ),
        (
            Box::new(|c| c["linux"]["intelRdt"] = json!({"closID": "x"})),
            "intelRdt",
        ),
        (
            Box::new(|c| c["linux"]["personality"] = json!({"domain": "LINUX32", "flags": ["X"]})),
            "linux.personality.flags",
        ),
        (
            Box::new(|c| c["windows"] = json!({"layerFolders": []})),
            "windows",
        ),
        (
            Box::new(|c| {
                c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "uts"}, {"type": "pid"},
                    {"type": "user", "path": "/proc/self/ns/user"}])
            }),
            "a new pid namespace together with a user namespace joined by path",
        ),
    ];
    for (edit, field) in cases {
        let mut bundle = Bundle::new(&["true"]);
        edit(&mut bundle.config);
        refused(&rt, &bundle, &[field]);
    }
}

#[test]
fn duplicate_id() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["sleep", "100"]);
    let id = unique_name("dup");
    rt.create(&bundle, &id, &[]).ok();
    let pid = rt.state(&id)["pid"].clone();
    rt.create(&bundle, &id, &[])
        .fails_with(&[&id, "already exists"]);
    rt.exec(&["run", "--bundle", bundle.path().to_str().unwrap(), &id])
        .fails_with(&["already exists"]);
    // The first one is untouched.
    let state = rt.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["pid"], pid);
    rt.delete(&id).ok();
    assert!(rt.leftovers().is_empty());
}

#[test]
fn invalid_ids() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["true"]);
    let long = "x".repeat(1025);
    for id in [
        "a/b",
        "../escape",
        "..",
        ".",
        ".hidden",
        "with space",
        "",
        long.as_str(),
        "semi;colon",
    ] {
        let out = create_as_is(&rt, bundle.path(), id);
        assert_eq!(out.code, 1, "id {id:?}: {out}");
        assert!(
            out.stderr.contains("invalid container id")
                || (id.is_empty() && !out.stderr.is_empty()),
            "id {id:?}: {out}"
        );
        for cmd in ["state", "start", "delete"] {
            let out = rt.exec(&[cmd, id]);
            assert_eq!(out.code, 1, "{cmd} {id:?}: {out}");
        }
        // Not even the escaping path was touched.
        assert!(!rt.root().parent().unwrap().join("escape").exists());
    }
    assert!(rt.leftovers().is_empty(), "{:?}", rt.leftovers());
}

#[test]
fn unknown_flags_and_arguments_are_errors() {
    let rt = Runtime::berth();
    let out = rt.exec(&["create", "--no-such-flag", "x"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("--no-such-flag"), "{out}");
    let out = rt.exec(&["--no-such-global", "list"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("--no-such-global"), "{out}");
    let out = rt.exec(&["--systemd-cgroup", "list"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("systemd"), "{out}");
    let out = rt.exec(&["start"]);
    assert_eq!(out.code, 1, "a missing id is accepted: {out}");
    let out = rt.exec(&["run", "--detach", "--keep", "x"]);
    assert_eq!(out.code, 1, "{out}");
}

#[test]
fn errors_go_to_the_json_log() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["process"]["cwd"] = json!("relative");
    bundle.save();
    let log = rt.work_dir().join("log.json");
    let out = rt.exec(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        bundle.path().to_str().unwrap(),
        "x",
    ]);
    assert_eq!(out.code, 1, "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(
        last["msg"].as_str().unwrap().contains("process.cwd"),
        "{last}"
    );
    assert!(rt.leftovers().is_empty());
}

/// Failing in init (after the clone) leaves nothing either.
#[test]
fn failure_inside_init_cleans_up() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.add_mount(json!({"destination": "/mnt", "type": "nosuchfs", "source": "none"}));
    refused(&rt, &bundle, &["/mnt"]);
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["process"]["user"] = json!({"uid": 0, "gid": 0});
    bundle.config["process"]["oomScoreAdj"] = json!(5000);
    refused(&rt, &bundle, &["oomScoreAdj"]);
}

/// A pid file that cannot be written fails create, and undoes it.
#[test]
fn unwritable_pid_file_undoes_the_container() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["sleep", "100"]);
    let id = unique_name("pidfile");
    let pid_file = rt.work_dir().join("no-such-dir/init.pid");
    rt.create(&bundle, &id, &["--pid-file", pid_file.to_str().unwrap()])
        .fails_with(&["no-such-dir/init.pid"]);
    assert!(rt.leftovers().is_empty(), "{:?}", rt.leftovers());
}
