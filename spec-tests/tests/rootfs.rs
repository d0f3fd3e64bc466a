//! The root file system: root, mounts, /dev, masked and read-only paths,
//! as /proc/self/mountinfo and stat show them inside the container.

use serde_json::json;
use spec_tests::{parse_mountinfo, unique_name, Bundle, MountInfo, Runtime};

#[track_caller]
fn inside(rt: &Runtime, bundle: &mut Bundle, script: &str) -> String {
    bundle.set_args(&["sh", "-c", script]);
    rt.run(bundle, &unique_name("fs")).ok().stdout
}

fn mounts_of(rt: &Runtime, bundle: &mut Bundle) -> Vec<MountInfo> {
    parse_mountinfo(&inside(rt, bundle, "cat /proc/self/mountinfo"))
}

#[track_caller]
fn find<'a>(mounts: &'a [MountInfo], point: &str) -> &'a MountInfo {
    // The last one mounted at a point is the one in effect.
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == point)
        .unwrap_or_else(|| panic!("nothing mounted at {point}: {mounts:#?}"))
}

#[test]
fn default_mounts_have_their_types_and_options() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    let mounts = mounts_of(&rt, &mut bundle);
    assert_eq!(mounts[0].mount_point, "/", "the rootfs is the first mount");
    let proc_ = find(&mounts, "/proc");
    assert_eq!(proc_.fs_type, "proc");
    let dev = find(&mounts, "/dev");
    assert_eq!(dev.fs_type, "tmpfs");
    assert!(
        dev.has_option("nosuid") && dev.has_option("mode=755") && dev.has_option("size=65536k"),
        "{dev:?}"
    );
    let pts = find(&mounts, "/dev/pts");
    assert_eq!(pts.fs_type, "devpts");
    assert!(
        pts.has_option("noexec") && pts.has_option("gid=5") && pts.has_option("ptmxmode=666"),
        "{pts:?}"
    );
    let shm = find(&mounts, "/dev/shm");
    assert_eq!(shm.fs_type, "tmpfs");
    // tmpfs shows mode= only when it is not the default 1777.
    for o in ["nosuid", "nodev", "noexec", "size=65536k"] {
        assert!(shm.has_option(o), "/dev/shm without {o}: {shm:?}");
    }
    assert_eq!(find(&mounts, "/dev/mqueue").fs_type, "mqueue");
    let sys = find(&mounts, "/sys");
    assert_eq!(sys.fs_type, "sysfs");
    assert!(sys.has_option("ro"), "{sys:?}");
    let cg = mounts
        .iter()
        .filter(|m| m.mount_point.starts_with("/sys/fs/cgroup"))
        .collect::<Vec<_>>();
    assert!(!cg.is_empty(), "no cgroup mount: {mounts:#?}");
    for m in &mounts {
        if m.mount_point.starts_with("/sys/fs/cgroup/") {
            assert!(m.has_option("ro"), "cgroup mount writable: {m:?}");
        }
    }
}

#[test]
fn root_readonly_and_writable() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["root"]["readonly"] = json!(true);
    let mounts = mounts_of(&rt, &mut bundle);
    assert!(find(&mounts, "/").has_option("ro"));
    bundle.set_args(&["touch", "/file"]);
    let out = rt.run(&bundle, &unique_name("ro"));
    assert_ne!(out.code, 0, "wrote to a read-only root: {out}");
    assert!(out.stderr.contains("Read-only"), "{out}");

    bundle.config["root"]["readonly"] = json!(false);
    assert_eq!(inside(&rt, &mut bundle, "touch /file && echo ok"), "ok\n");
    assert!(bundle.rootfs().join("file").exists());
}

#[test]
fn relative_root_path_is_relative_to_the_bundle() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["cat", "/marker"]);
    std::fs::rename(bundle.rootfs(), bundle.path().join("other-root")).unwrap();
    std::fs::write(bundle.path().join("other-root/marker"), "here\n").unwrap();
    bundle.config["root"]["path"] = json!("other-root");
    assert_eq!(
        rt.run(&bundle, &unique_name("rootpath")).ok().stdout,
        "here\n"
    );
    bundle.config["root"]["path"] = json!(bundle.path().join("other-root"));
    assert_eq!(
        rt.run(&bundle, &unique_name("rootpath")).ok().stdout,
        "here\n"
    );
}

#[test]
fn masked_paths() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["linux"]["maskedPaths"] = json!([
        "/proc/version",
        "/sys/firmware",
        "/proc/does-not-exist",
        "/etc/secret"
    ]);
    std::fs::write(bundle.rootfs().join("etc/secret"), "password").unwrap();
    let out = inside(
        &rt,
        &mut bundle,
        "echo version=$(wc -c < /proc/version); echo firmware=$(ls -A /sys/firmware | wc -l); \
         echo secret=$(cat /etc/secret); touch /sys/firmware/x 2>/dev/null && echo wrote || echo ro",
    );
    assert_eq!(out, "version=0\nfirmware=0\nsecret=\nro\n", "{out}");
    let mounts = mounts_of(&rt, &mut bundle);
    let fw = find(&mounts, "/sys/firmware");
    assert_eq!(fw.fs_type, "tmpfs");
    assert!(fw.has_option("ro"));
}

#[test]
fn readonly_paths() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["root"]["readonly"] = json!(false);
    std::fs::create_dir_all(bundle.rootfs().join("data/sub")).unwrap();
    bundle.config["linux"]["readonlyPaths"] = json!(["/proc/sys", "/data", "/nonexistent"]);
    let out = inside(
        &rt,
        &mut bundle,
        "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo sys-rw || echo sys-ro; \
         touch /data/sub/x 2>/dev/null && echo data-rw || echo data-ro; \
         touch /other && echo root-rw",
    );
    assert_eq!(out, "sys-ro\ndata-ro\nroot-rw\n");
    let mounts = mounts_of(&rt, &mut bundle);
    assert!(find(&mounts, "/proc/sys").has_option("ro"));
    assert!(find(&mounts, "/data").has_option("ro"));
}

#[test]
fn default_devices_with_their_numbers() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    let out = inside(
        &rt,
        &mut bundle,
        "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done",
    );
    let want = [
        ("null", "1:3"),
        ("zero", "1:5"),
        ("full", "1:7"),
        ("random", "1:8"),
        ("urandom", "1:9"),
        ("tty", "5:0"),
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), want.len(), "{out}");
    for (line, (name, numbers)) in lines.iter().zip(want) {
        assert_eq!(
            *line,
            format!("/dev/{name} character special file {numbers} 666"),
            "{out}"
        );
    }
    assert_eq!(
        inside(&rt, &mut bundle, "head -c 4 /dev/zero | wc -c"),
        "4\n"
    );
}

#[test]
fn dev_links() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    let out = inside(
        &rt,
        &mut bundle,
        "for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l); done; echo hi | cat /dev/stdin",
    );
    assert_eq!(
        out,
        "fd /proc/self/fd\nstdin /proc/self/fd/0\nstdout /proc/self/fd/1\nstderr /proc/self/fd/2\nptmx pts/ptmx\nhi\n"
    );
}

#[test]
fn linux_devices_are_created() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["linux"]["devices"] = json!([
        {"path": "/dev/my-zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640, "uid": 1, "gid": 5},
        {"path": "/dev/sub/dir/my-null", "type": "c", "major": 1, "minor": 3},
        {"path": "/dev/my-fifo", "type": "p"},
    ]);
    let out = inside(
        &rt,
        &mut bundle,
        "stat -c '%n %F %t:%T %a %u:%g' /dev/my-zero /dev/sub/dir/my-null; stat -c '%n %F' /dev/my-fifo",
    );
    assert_eq!(
        out,
        "/dev/my-zero character special file 1:5 640 1:5\n\
         /dev/sub/dir/my-null character special file 1:3 666 0:0\n\
         /dev/my-fifo fifo\n"
    );
}

#[test]
fn tmpfs_mount_options() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.add_mount(json!({
        "destination": "/scratch/deep", "type": "tmpfs", "source": "tmpfs",
        "options": ["size=1m", "mode=700", "noexec", "nosuid", "nodev", "uid=1", "gid=5"]
    }));
    let mounts = mounts_of(&rt, &mut bundle);
    let m = find(&mounts, "/scratch/deep");
    assert_eq!(m.fs_type, "tmpfs");
    for o in [
        "size=1024k",
        "mode=700",
        "noexec",
        "nosuid",
        "nodev",
        "uid=1",
        "gid=5",
        "rw",
    ] {
        assert!(m.has_option(o), "tmpfs without {o}: {m:?}");
    }
    let out = inside(&rt, &mut bundle, "stat -c '%a %u %g' /scratch/deep");
    assert_eq!(out, "700 1 5\n");
}

#[test]
fn bind_mounts_ro_and_rw() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    let ro = bundle.file("ro-src");
    let rw = bundle.file("rw-src");
    std::fs::create_dir(&ro).unwrap();
    std::fs::create_dir(&rw).unwrap();
    std::fs::write(ro.join("in"), "from the host\n").unwrap();
    let single = bundle.file("single-file");
    std::fs::write(&single, "one file\n").unwrap();
    bundle.add_mount(json!({"destination": "/mnt/ro", "type": "bind", "source": ro, "options": ["rbind", "ro", "nosuid"]}));
    bundle.add_mount(
        json!({"destination": "/mnt/rw", "type": "none", "source": rw, "options": ["bind"]}),
    );
    // A file onto a file that does not exist yet; a relative source is relative to the bundle.
    bundle.add_mount(json!({"destination": "/etc/one", "type": "bind", "source": "single-file", "options": ["bind", "ro"]}));
    let out = inside(
        &rt,
        &mut bundle,
        "cat /mnt/ro/in; touch /mnt/ro/x 2>/dev/null && echo ro-writable || echo ro-refused; \
         echo written > /mnt/rw/out && echo rw-ok; cat /etc/one",
    );
    assert_eq!(out, "from the host\nro-refused\nrw-ok\none file\n");
    assert_eq!(
        std::fs::read_to_string(rw.join("out")).unwrap(),
        "written\n"
    );
    assert!(!ro.join("x").exists());
    let mounts = mounts_of(&rt, &mut bundle);
    let m = find(&mounts, "/mnt/ro");
    assert!(m.has_option("ro") && m.has_option("nosuid"), "{m:?}");
    assert!(find(&mounts, "/mnt/rw").has_option("rw"));
    assert!(find(&mounts, "/etc/one").has_option("ro"));
}

#[test]
fn mount_destination_symlink_cannot_escape_the_rootfs() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    let host_dir = rt.work_dir().join("host-target");
    std::fs::create_dir(&host_dir).unwrap();
    // An image with a link pointing at a host path, and one climbing out.
    std::os::unix::fs::symlink(&host_dir, bundle.rootfs().join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", bundle.rootfs().join("up-link")).unwrap();
    bundle.add_mount(json!({"destination": "/abs-link/m1", "type": "tmpfs", "source": "tmpfs"}));
    bundle.add_mount(json!({"destination": "/up-link/m2", "type": "tmpfs", "source": "tmpfs"}));
    let out = rt.run(&bundle, &unique_name("escape"));
    assert!(
        !host_dir.join("m1").exists(),
        "a mount point was made on the host: {out}"
    );
    assert!(
        !std::path::Path::new("/m2").exists(),
        "a mount point was made in the host's /: {out}"
    );
}

#[test]
fn mounts_over_proc_are_refused() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.add_mount(json!({"destination": "/proc/self", "type": "tmpfs", "source": "tmpfs"}));
    rt.run(&bundle, &unique_name("overproc"))
        .fails_with(&["/proc/self"]);
    assert!(rt.leftovers().is_empty());
}

#[test]
fn nothing_leaks_to_the_host_mount_table() {
    let rt = Runtime::berth();
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut bundle = Bundle::new(&["true"]);
    bundle.add_mount(json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs"}));
    rt.run(&bundle, &unique_name("leak")).ok();
    let after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let path = bundle.rootfs().display().to_string();
    assert!(
        !after.contains(&path),
        "the host sees a mount under the rootfs:\n{}",
        after
            .lines()
            .filter(|l| l.contains(&path))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Other tests mount and unmount concurrently: only our rootfs is checked.
    let _ = before;
}

#[test]
fn no_pivot_works_too() {
    let rt = Runtime::berth();
    let bundle = Bundle::sh("cat /proc/self/mountinfo | head -1; ls /");
    bundle.save();
    let out = rt
        .exec(&[
            "run",
            "--no-pivot",
            "--bundle",
            bundle.path().to_str().unwrap(),
            &unique_name("nopivot"),
        ])
        .ok();
    assert!(out.stdout.contains("bin"), "{out}");
}

#[test]
fn rootfs_propagation_private() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["linux"]["rootfsPropagation"] = json!("private");
    let mounts = mounts_of(&rt, &mut bundle);
    let root = find(&mounts, "/");
    assert!(
        !root
            .optional
            .iter()
            .any(|o| o.starts_with("shared:") || o.starts_with("master:")),
        "/ is not private: {root:?}"
    );
    bundle.config["linux"]["rootfsPropagation"] = json!("sideways");
    rt.run(&bundle, &unique_name("prop"))
        .fails_with(&["rootfsPropagation"]);
}

/// The same bundle under runc and berth: the same mounts (type and
/// per-mount options, cgroup mounts aside) and the same /dev.
#[test]
fn same_mounts_and_dev_as_runc() {
    let Some(runc) = Runtime::runc() else {
        eprintln!("runc is not installed: skipped");
        return;
    };
    let rt = Runtime::berth();
    let bundle = Bundle::sh(
        "cat /proc/self/mountinfo; echo ---; stat -c '%n %F %a %t:%T %u:%g' /dev/* /dev/pts/ptmx; readlink /dev/ptmx; readlink /dev/fd",
    );
    let view = |out: &str| {
        let (mounts, dev) = out.split_once("---\n").expect("separator");
        let mut mounts: Vec<String> = parse_mountinfo(mounts)
            .into_iter()
            .filter(|m| !m.mount_point.starts_with("/sys/fs/cgroup"))
            .map(|m| format!("{} {} {}", m.mount_point, m.fs_type, m.options.join(",")))
            .collect();
        mounts.sort();
        (mounts, dev.to_owned())
    };
    let ours = view(&rt.run(&bundle, &unique_name("cmp")).ok().stdout);
    let theirs = view(&runc.run(&bundle, &unique_name("cmp")).ok().stdout);
    assert_eq!(ours.0, theirs.0, "mounts: berth vs runc");
    assert_eq!(ours.1, theirs.1, "/dev: berth vs runc");
}
