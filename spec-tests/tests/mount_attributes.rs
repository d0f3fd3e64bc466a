//! Recursive mount attributes (`rro`, `rnosuid`, ... applied with
//! mount_setattr(AT_RECURSIVE)) and `nosymfollow`, as /proc/self/mountinfo
//! shows them inside the container. Each recursive option is checked on a
//! mount that sits *below* the bind-mounted directory, so recursion is
//! what is seen.

use serde_json::json;
use spec_tests::{parse_mountinfo, unique_name, Bundle, MountInfo, Runtime, TestDir};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A host directory with a tmpfs mounted at `sub/` inside it, mounted with
/// `options`; unmounted (lazily) when dropped, also when the test fails.
struct HostTree {
    dir: TestDir,
    sub: PathBuf,
}

impl HostTree {
    fn new(options: &str) -> Self {
        let dir = TestDir::new("tree");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "berth-test"])
            .arg(&sub)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount -o {options}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir, sub }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for HostTree {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.sub).status();
    }
}

/// The mountinfo lines of `/mnt` and `/mnt/sub` in a container that
/// bind-mounts `tree` at `/mnt` with `options`.
fn mounted(rt: &Runtime, tree: &HostTree, options: &[&str]) -> (MountInfo, MountInfo) {
    let mut bundle = Bundle::new(&["cat", "/proc/self/mountinfo"]);
    bundle.add_mount(json!({
        "destination": "/mnt",
        "type": "bind",
        "source": tree.path(),
        "options": options,
    }));
    let out = rt.run(&bundle, &unique_name("rattr")).ok();
    let mounts = parse_mountinfo(&out.stdout);
    let find = |point: &str| {
        mounts
            .iter()
            .rev()
            .find(|m| m.mount_point == point)
            .cloned()
            .unwrap_or_else(|| panic!("nothing at {point} with {options:?}: {mounts:#?}"))
    };
    (find("/mnt"), find("/mnt/sub"))
}

/// Which of the atime words mountinfo shows for a mount (strictatime shows none).
fn atime(m: &MountInfo) -> &'static str {
    ["noatime", "relatime"]
        .into_iter()
        .find(|o| m.options.iter().any(|x| x == o))
        .unwrap_or("strictatime")
}

#[test]
fn recursive_attributes_reach_submounts() {
    let rt = Runtime::berth();
    let plain = HostTree::new("rw");
    // Every attribute the clearing options take away.
    let flagged = HostTree::new("ro,nosuid,nodev,noexec,noatime,nodiratime,nosymfollow");
    let strict = HostTree::new("strictatime");

    // (option, tree, mountinfo word that must be there, word that must not)
    let cases: &[(&str, &HostTree, Option<&str>, Option<&str>)] = &[
        ("rro", &plain, Some("ro"), Some("rw")),
        ("rrw", &flagged, Some("rw"), Some("ro")),
        ("rnosuid", &plain, Some("nosuid"), None),
        ("rsuid", &flagged, None, Some("nosuid")),
        ("rnodev", &plain, Some("nodev"), None),
        ("rdev", &flagged, None, Some("nodev")),
        ("rnoexec", &plain, Some("noexec"), None),
        ("rexec", &flagged, None, Some("noexec")),
        ("rnodiratime", &plain, Some("nodiratime"), None),
        ("rdiratime", &flagged, None, Some("nodiratime")),
        ("rnosymfollow", &plain, Some("nosymfollow"), None),
        ("rsymfollow", &flagged, None, Some("nosymfollow")),
    ];
    for (option, tree, present, absent) in cases {
        let (_, sub) = mounted(&rt, tree, &["rbind", option]);
        if let Some(word) = present {
            assert!(
                sub.has_option(word),
                "{option}: /mnt/sub without {word}: {sub:?}"
            );
        }
        if let Some(word) = absent {
            assert!(
                !sub.options.iter().any(|o| o == word),
                "{option}: /mnt/sub still {word}: {sub:?}"
            );
        }
    }

    // The atime mode, a value rather than a flag.
    let atime_cases: &[(&str, &HostTree, &str)] = &[
        ("rnoatime", &plain, "noatime"),
        ("rstrictatime", &plain, "strictatime"),
        ("rrelatime", &flagged, "relatime"),
        ("ratime", &flagged, "relatime"),
        ("rnostrictatime", &strict, "relatime"),
        // Asks for no relatime: every mount keeps its own mode.
        ("rnorelatime", &flagged, "noatime"),
        ("rnorelatime", &strict, "strictatime"),
    ];
    for (option, tree, want) in atime_cases {
        let (_, sub) = mounted(&rt, tree, &["rbind", option]);
        assert_eq!(atime(&sub), *want, "{option}: {sub:?}");
    }

    // Without the option the submount keeps the host's attributes: the
    // checks above see the options' work, not the trees'.
    let (_, sub) = mounted(&rt, &plain, &["rbind"]);
    for word in [
        "nosuid",
        "nodev",
        "noexec",
        "nodiratime",
        "nosymfollow",
        "noatime",
    ] {
        assert!(!sub.options.iter().any(|o| o == word), "{sub:?}");
    }
    assert!(sub.has_option("rw"), "{sub:?}");
}

#[test]
fn recursive_read_only_covers_the_whole_tree() {
    let rt = Runtime::berth();
    let tree = HostTree::new("rw");
    let (top, sub) = mounted(&rt, &tree, &["rbind", "rro", "rnoexec"]);
    for m in [&top, &sub] {
        assert!(m.has_option("ro") && m.has_option("noexec"), "{m:?}");
    }
    // Plain `ro` on an rbind makes only the top read-only.
    let (top, sub) = mounted(&rt, &tree, &["rbind", "ro"]);
    assert!(top.has_option("ro"), "{top:?}");
    assert!(sub.has_option("rw"), "{sub:?}");
    let mut bundle = Bundle::new(&["sh", "-c", "touch /mnt/sub/f && echo wrote"]);
    bundle.add_mount(json!({
        "destination": "/mnt",
        "type": "bind",
        "source": tree.path(),
        "options": ["rbind", "rro"],
    }));
    let out = rt.run(&bundle, &unique_name("rro"));
    assert_ne!(out.code, 0, "wrote below an rro mount: {out}");
    assert!(out.stderr.contains("Read-only"), "{out}");
}

#[test]
fn nosymfollow_and_symfollow() {
    let rt = Runtime::berth();
    let tree = HostTree::new("nosymfollow");
    let (top, sub) = mounted(&rt, &tree, &["rbind", "nosymfollow"]);
    assert!(top.has_option("nosymfollow"), "{top:?}");
    // Not recursive: the submount keeps its own (here: nosymfollow too).
    assert!(sub.has_option("nosymfollow"), "{sub:?}");
    let plain = HostTree::new("rw");
    let (top, sub) = mounted(&rt, &plain, &["rbind", "nosymfollow"]);
    assert!(top.has_option("nosymfollow"), "{top:?}");
    assert!(!sub.has_option("nosymfollow"), "{sub:?}");
    let (top, _) = mounted(&rt, &plain, &["rbind", "nosymfollow", "symfollow"]);
    assert!(!top.has_option("nosymfollow"), "{top:?}");
    // A symlink on a nosymfollow mount is not followed.
    std::os::unix::fs::symlink("/etc/passwd", plain.path().join("link")).unwrap();
    let mut bundle = Bundle::new(&["cat", "/mnt/link"]);
    bundle.add_mount(json!({
        "destination": "/mnt",
        "type": "bind",
        "source": plain.path(),
        "options": ["rbind", "nosymfollow"],
    }));
    let out = rt.run(&bundle, &unique_name("nosym"));
    assert_ne!(
        out.code, 0,
        "followed a symlink on a nosymfollow mount: {out}"
    );
}
