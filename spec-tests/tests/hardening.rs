//! Runtime escapes closed (issue 17): each test builds the hostile bundle or
//! image and checks that berth refuses it or that the container cannot
//! reach what it should not.

use serde_json::json;
use spec_tests::cgroups_util as cg;
use spec_tests::{unique_name, Bundle, Runtime};
use std::os::unix::fs::symlink;

/// An image symlink that sends a mount destination into /proc is judged
/// where it lands: a tmpfs over /proc/sys would undo readonlyPaths.
#[test]
fn a_mount_reaching_proc_through_a_symlink_is_refused() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    symlink("/proc/sys", bundle.rootfs().join("evil")).unwrap();
    bundle.add_mount(json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}));
    rt.run(&bundle, &unique_name("procsym"))
        .fails_with(&["\"/proc/sys\" cannot be mounted because it is inside /proc"]);
}

/// Only procfs on /proc; no second procfs below it (it would show what
/// maskedPaths hides).
#[test]
fn proc_takes_only_procfs_and_nothing_procfs_below_it() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.add_mount(json!({"destination": "/proc/fs", "type": "proc", "source": "proc"}));
    rt.run(&bundle, &unique_name("procfs"))
        .fails_with(&["\"/proc/fs\" cannot be mounted because it is inside /proc"]);

    let mut bundle = Bundle::new(&["true"]);
    bundle.add_mount(json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}));
    rt.run(&bundle, &unique_name("procfs"))
        .fails_with(&["\"/proc\" cannot be mounted because it is not of type proc"]);

    // A bind of a procfs file onto an lxcfs-style entry is procfs too.
    let mut bundle = Bundle::new(&["true"]);
    bundle.add_mount(json!({"destination": "/proc/uptime", "type": "bind",
        "source": "/proc/self/status", "options": ["bind"]}));
    rt.run(&bundle, &unique_name("procfs"))
        .fails_with(&["\"/proc/uptime\" cannot be mounted because it is inside /proc"]);

    // What runc allows still works: the host's /proc bound on /proc, and a
    // regular file over an lxcfs-style entry.
    let mut bundle = Bundle::sh("cat /proc/uptime");
    std::fs::write(bundle.file("uptime"), "42.00 42.00\n").unwrap();
    let uptime = bundle.file("uptime");
    bundle.add_mount(json!({"destination": "/proc/uptime", "type": "bind",
        "source": uptime, "options": ["bind"]}));
    let out = rt.run(&bundle, &unique_name("procfs")).ok();
    assert_eq!(out.stdout.trim(), "42.00 42.00");
}

/// Without a /proc mount, /proc is the image's: a sysctl or oomScoreAdj
/// must not be written into whatever files the image put there.
#[test]
fn procfs_writes_go_only_to_a_verified_procfs() {
    let rt = Runtime::berth();
    let without_proc = |bundle: &mut Bundle| {
        let mounts = bundle.config["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| m["type"] != "proc");
        let linux = &mut bundle.config["linux"];
        linux["maskedPaths"] = json!([]);
        linux["readonlyPaths"] = json!([]);
    };
    let mut bundle = Bundle::new(&["true"]);
    without_proc(&mut bundle);
    let fake = bundle.rootfs().join("proc/sys/kernel");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("domainname"), "").unwrap();
    bundle.config["linux"]["sysctl"] = json!({"kernel.domainname": "pwned"});
    rt.run(&bundle, &unique_name("sysctl"))
        .fails_with(&["linux.sysctl", "not the root of a procfs"]);
    assert_eq!(
        std::fs::read_to_string(fake.join("domainname")).unwrap(),
        "",
        "the image's file was written"
    );

    let mut bundle = Bundle::new(&["true"]);
    without_proc(&mut bundle);
    let fake = bundle.rootfs().join("proc/self");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("oom_score_adj"), "").unwrap();
    bundle.config["process"]["oomScoreAdj"] = json!(500);
    // The parent writes oomScoreAdj through the host's procfs (init is not
    // dumpable): the container's /proc plays no part.
    rt.run(&bundle, &unique_name("oom")).ok();
    assert_eq!(
        std::fs::read_to_string(fake.join("oom_score_adj")).unwrap(),
        ""
    );

    // With a real /proc both are written.
    let mut bundle = Bundle::sh("cat /proc/sys/kernel/domainname /proc/self/oom_score_adj");
    bundle.config["linux"]["sysctl"] = json!({"kernel.domainname": "berth.test"});
    bundle.config["process"]["oomScoreAdj"] = json!(321);
    let out = rt.run(&bundle, &unique_name("procw")).ok();
    assert_eq!(out.stdout, "berth.test\n321\n");
}

/// A bundle whose /dev is bound from a directory of the bundle holding
/// `null` as the test makes it (`make_null`), with the default maskedPaths.
fn bundle_with_own_dev(make_null: impl FnOnce(&std::path::Path)) -> Bundle {
    let mut bundle = Bundle::new(&["true"]);
    let dev = bundle.file("dev");
    std::fs::create_dir(&dev).unwrap();
    make_null(&dev);
    let mounts = bundle.config["mounts"].as_array_mut().unwrap();
    let entry = mounts
        .iter_mut()
        .find(|m| m["destination"] == "/dev")
        .unwrap();
    *entry = json!({"destination": "/dev", "type": "bind", "source": dev,
        "options": ["rbind", "nosuid"]});
    bundle
}

fn mknod_null(path: &std::path::Path) {
    let status = std::process::Command::new("mknod")
        .args(["-m", "666"])
        .arg(path)
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(status.success(), "mknod {}", path.display());
}

/// maskedPaths are masked with the image's /dev/null only when it is the
/// null device itself: not a regular file, not a symlink (which could be
/// swapped between the check and the mount), and the mount is made from
/// the fd that was checked.
#[test]
fn masking_uses_only_a_verified_dev_null() {
    let rt = Runtime::berth();
    let bundle = bundle_with_own_dev(|dev| std::fs::write(dev.join("null"), "").unwrap());
    rt.run(&bundle, &unique_name("null"))
        .fails_with(&["/dev/null in the container is not the null device"]);

    let bundle = bundle_with_own_dev(|dev| {
        mknod_null(&dev.join("real-null"));
        symlink("real-null", dev.join("null")).unwrap();
    });
    rt.run(&bundle, &unique_name("null"))
        .fails_with(&["/dev/null in the container is not the null device"]);

    // The real device masks, and what is masked reads empty.
    let mut bundle = bundle_with_own_dev(|dev| mknod_null(&dev.join("null")));
    bundle.set_args(&[
        "sh",
        "-c",
        "wc -c < /proc/timer_list; stat -c %t:%T /proc/timer_list",
    ]);
    let out = rt.run(&bundle, &unique_name("null")).ok();
    assert_eq!(out.stdout, "0\n1:3\n");
}

/// A bundle whose cgroupsPath is `/NAME`.
fn in_cgroup(args: &[&str], name: &str) -> Bundle {
    let mut bundle = Bundle::new(args);
    bundle.config["linux"]["cgroupsPath"] = json!(format!("/{name}"));
    bundle
}

/// A cgroupsPath that another container holds is refused (runc 1.2's
/// rule and message), and the failed create leaves that container and its
/// cgroup alone.
#[test]
fn a_cgroup_holding_processes_is_refused_and_left_alone() {
    let rt = Runtime::berth();
    let name = unique_name("cgown");
    let _cleanup = cg::CgroupCleanup(format!("/{name}"));
    let first = unique_name("cgown");
    rt.create(&in_cgroup(&["true"], &name), &first, &[]).ok();
    let pid = rt.state(&first)["pid"].as_i64().unwrap();
    let dirs = cg::existing_dirs(&format!("/{name}"));

    let second = unique_name("cgown");
    let out = rt.create(&in_cgroup(&["true"], &name), &second, &[]);
    if out.success() {
        rt.delete_force(&second);
    }
    out.fails_with(&["container's cgroup is not empty: 1 process(es) found"]);
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the first container's init was killed"
    );
    assert_eq!(rt.status(&first).as_deref(), Some("created"));
    assert_eq!(cg::existing_dirs(&format!("/{name}")), dirs);
    rt.delete_force(&first).ok();
}

/// A cgroup that existed (empty) before the container is used and left in
/// place by delete; a frozen one is refused.
#[test]
fn an_existing_cgroup_is_not_removed_and_a_frozen_one_is_refused() {
    let rt = Runtime::berth();
    let name = unique_name("cgpre");
    let _cleanup = cg::CgroupCleanup(format!("/{name}"));
    let dir = cg::controller_dir("pids", &format!("/{name}"));
    std::fs::create_dir(&dir).unwrap();
    rt.run(&in_cgroup(&["true"], &name), &unique_name("cgpre"))
        .ok();
    assert!(dir.exists(), "delete removed a cgroup berth did not make");
    // What berth made in the other hierarchies is gone.
    assert_eq!(cg::existing_dirs(&format!("/{name}")), vec![dir.clone()]);

    let name = unique_name("cgfrz");
    let _cleanup = cg::CgroupCleanup(format!("/{name}"));
    let freezer = cg::controller_dir("freezer", &format!("/{name}"));
    std::fs::create_dir(&freezer).unwrap();
    if cg::is_v2("freezer") {
        std::fs::write(freezer.join("cgroup.freeze"), "1").unwrap();
    } else {
        std::fs::write(freezer.join("freezer.state"), "FROZEN").unwrap();
    }
    rt.create(&in_cgroup(&["true"], &name), &unique_name("cgfrz"), &[])
        .fails_with(&["container's cgroup unexpectedly frozen"]);
    assert_eq!(
        cg::existing_dirs(&format!("/{name}")),
        vec![freezer.clone()]
    );
    if cg::is_v2("freezer") {
        std::fs::write(freezer.join("cgroup.freeze"), "0").unwrap();
    } else {
        std::fs::write(freezer.join("freezer.state"), "THAWED").unwrap();
    }
}

/// The state as runc keeps it, whatever the caller's umask: the root berth
/// makes 0700, the container's directory 0711, state.json 0600, the exec
/// fifo 0622, and no temporary file left beside them.
#[test]
fn state_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let rt = Runtime::berth();
    let root = rt.root();
    std::fs::remove_dir(&root).unwrap();
    let bundle = Bundle::new(&["true"]);
    bundle.save();
    let id = unique_name("umask");
    let mut cmd = rt.command(&["create", "--bundle"]);
    cmd.arg(bundle.path()).arg(&id);
    // SAFETY: umask(2) is async-signal-safe and cannot fail.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    rt.exec_command(cmd).ok();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let dir = root.join(&id);
    assert_eq!(mode(&root), 0o700, "--root");
    assert_eq!(mode(&dir), 0o711, "the container's directory");
    assert_eq!(mode(&dir.join("state.json")), 0o600, "state.json");
    assert_eq!(mode(&dir.join("exec.fifo")), 0o622, "exec.fifo");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["exec.fifo", "state.json"]);
    rt.delete_force(&id).ok();
}

/// An image whose entrypoint, exec'd program or startContainer hook is a
/// `#!/proc/self/exe --root` script (CVE-2019-5736): the kernel resolves
/// the interpreter in the exec'ing process, so a process still running the
/// host's berth would run it inside the container (here: `berth --root
/// /evil spec`, which writes config.json into the container's cwd), where
/// the container could open it and rewrite it. The image carries the host's
/// dynamic loader and libc, as the original exploit needed. berth execs
/// every container program through its sealed trampoline: the script finds
/// that instead, which exits at once; the host's binary is unchanged.
#[test]
fn the_host_binary_is_never_run_or_opened_by_the_container() {
    let rt = Runtime::berth();
    let hash_before = std::fs::read(rt.binary()).unwrap();
    let image = |bundle: &mut Bundle| {
        let rootfs = bundle.rootfs();
        for lib in [
            "/lib64/ld-linux-x86-64.so.2",
            "/lib/x86_64-linux-gnu/libc.so.6",
        ] {
            let to = rootfs.join(lib.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(lib, &to).unwrap();
        }
        executable(&rootfs.join("evil"), b"#!/proc/self/exe --root\n");
        bundle.config["root"]["readonly"] = json!(false);
        bundle.config["process"]["cwd"] = json!("/");
    };
    let written = |bundle: &Bundle| bundle.rootfs().join("config.json").exists();

    // The entrypoint, directly and through the script.
    for args in [
        &["/proc/self/exe", "--root", "/x", "spec"][..],
        &["/evil", "spec"],
    ] {
        let mut bundle = Bundle::new(args);
        image(&mut bundle);
        let out = rt.run(&bundle, &unique_name("exe"));
        assert!(!out.success(), "{args:?}: {out:?}");
        assert!(
            !written(&bundle),
            "{args:?}: the host's berth ran in the container"
        );
    }

    // A startContainer hook (its program is the container's).
    let mut bundle = Bundle::new(&["true"]);
    image(&mut bundle);
    bundle.config["hooks"] =
        json!({"startContainer": [{"path": "/evil", "args": ["/evil", "spec"]}]});
    let out = rt.run(&bundle, &unique_name("exe"));
    assert!(!out.success(), "{out:?}");
    assert!(
        !written(&bundle),
        "startContainer hook: the host's berth ran in the container"
    );

    // An exec'd process; and while init waits for `start`, its exe (the
    // host's berth) can be neither read, written, exec'd nor its environ read.
    let mut bundle = Bundle::new(&["sleep", "100"]);
    image(&mut bundle);
    let id = unique_name("exe");
    rt.create(&bundle, &id, &[]).ok();
    let out = rt.exec(&["exec", &id, "/evil", "spec"]);
    assert!(!out.success(), "{out:?}");
    assert!(
        !written(&bundle),
        "exec: the host's berth ran in the container"
    );
    let probe = "cat /proc/1/environ && echo ENVIRON; head -c1 /proc/1/exe && echo READ; \
                 echo x >> /proc/1/exe && echo WRITTEN; /proc/1/exe --version; true";
    let out = rt.exec(&["exec", &id, "sh", "-c", probe]).ok();
    for word in ["ENVIRON", "READ", "WRITTEN", "berth"] {
        assert!(!out.stdout.contains(word), "{word}: {out:?}");
    }
    rt.delete_force(&id).ok();
    assert!(
        std::fs::read(rt.binary()).unwrap() == hash_before,
        "the host's berth binary changed"
    );
}

/// The trampoline reports a failed exec of the program (here a file with
/// execute permission that is no executable) with its errno, to `start`
/// and to `exec`.
#[test]
fn a_failed_exec_through_the_trampoline_is_reported() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["/garbage"]);
    executable(&bundle.rootfs().join("garbage"), b"garbage\0");
    rt.run(&bundle, &unique_name("enoexec"))
        .fails_with(&["could not run its process: exec: ENOEXEC: Exec format error"]);

    let bundle = Bundle::new(&["sleep", "100"]);
    executable(&bundle.rootfs().join("garbage"), b"garbage\0");
    let id = unique_name("enoexec");
    rt.create(&bundle, &id, &[]).ok();
    rt.start(&id).ok();
    let out = rt.exec(&["exec", &id, "/garbage"]).code_is(255);
    assert!(
        out.stderr
            .contains("unable to start container process: exec: ENOEXEC: Exec format error"),
        "{out:?}"
    );
    rt.delete_force(&id).ok();
}

fn executable(path: &std::path::Path, content: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
