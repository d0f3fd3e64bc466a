//! User namespaces, seen from inside the container: multi-range id maps,
//! id-mapped mounts, devices and /sys with berth's default config, a user
//! namespace joined by path, and a rootless run by an unprivileged user.

use serde_json::{json, Value};
use spec_tests::{berth_binary, run_command, unique_name, Bundle, Output, Runtime, TestDir};
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `script` in the bundle's container; its stdout.
fn inside(rt: &Runtime, bundle: &mut Bundle, script: &str) -> String {
    bundle.set_args(&["sh", "-c", script]);
    rt.run(bundle, &unique_name("userns")).ok().stdout
}

/// berth's default config with a new user namespace and these maps.
fn with_user_namespace(bundle: &mut Bundle, uid_maps: Value, gid_maps: Value) {
    bundle.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    bundle.config["linux"]["uidMappings"] = uid_maps;
    bundle.config["linux"]["gidMappings"] = gid_maps;
}

/// The usual map: container ids 0..65536 are host ids 200000...
fn standard_maps(bundle: &mut Bundle) {
    with_user_namespace(
        bundle,
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]),
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]),
    );
}

/// The lines of a /proc/PID/{uid,gid}_map as (inside, outside, count).
fn map_lines(text: &str) -> Vec<[u64; 3]> {
    text.lines()
        .map(|l| {
            let v: Vec<u64> = l.split_whitespace().map(|w| w.parse().unwrap()).collect();
            [v[0], v[1], v[2]]
        })
        .collect()
}

#[test]
fn multi_range_maps_are_seen_inside() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    with_user_namespace(
        &mut bundle,
        json!([
            {"containerID": 0, "hostID": 200000, "size": 1000},
            {"containerID": 1000, "hostID": 1000, "size": 1},
            {"containerID": 1001, "hostID": 201001, "size": 64535}
        ]),
        json!([
            {"containerID": 0, "hostID": 300000, "size": 5},
            {"containerID": 5, "hostID": 5, "size": 1},
            {"containerID": 6, "hostID": 300006, "size": 65530}
        ]),
    );
    let out = inside(
        &rt,
        &mut bundle,
        "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; \
         cat /proc/self/setgroups; id -u; id -g",
    );
    let parts: Vec<&str> = out.split("--\n").collect();
    assert_eq!(parts.len(), 3, "{out}");
    assert_eq!(
        map_lines(parts[0]),
        [[0, 200000, 1000], [1000, 1000, 1], [1001, 201001, 64535]],
        "{out}"
    );
    assert_eq!(
        map_lines(parts[1]),
        [[0, 300000, 5], [5, 5, 1], [6, 300006, 65530]],
        "{out}"
    );
    // Written by a privileged parent: setgroups stays allowed.
    let rest: Vec<&str> = parts[2].split_whitespace().collect();
    assert_eq!(rest, ["allow", "0", "0"], "{out}");
}

/// Devices are bind-mounted from the host (mknod is not allowed in a user
/// namespace) and work; /sys is readable, freshly mounted with a network
/// namespace of the container's own, bound from the host's without one.
#[test]
fn devices_and_sys_in_a_user_namespace() {
    let rt = Runtime::berth();
    for own_netns in [true, false] {
        let mut bundle = Bundle::new(&["true"]);
        standard_maps(&mut bundle);
        if !own_netns {
            bundle.remove_namespace("network");
        }
        let out = inside(
            &rt,
            &mut bundle,
            "echo data > /dev/null && echo null ok; head -c 4 /dev/zero | wc -c; \
             head -c 4 /dev/urandom | wc -c; stat -c '%t:%T' /dev/null /dev/zero /dev/full; \
             ls /sys/kernel >/dev/null && echo sys ok; \
             awk '$5 == \"/sys\" {for (i = 7; i <= NF; i++) if ($i == \"-\") print $(i+1), $6}' \
               /proc/self/mountinfo | cut -d, -f1; \
             ls /sys/fs/cgroup | grep -c .",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..8],
            ["null ok", "4", "4", "1:3", "1:5", "1:7", "sys ok", "sysfs ro"],
            "netns {own_netns}: {out}"
        );
        assert!(
            lines[8].parse::<u32>().unwrap() > 0,
            "no cgroup hierarchies: {out}"
        );
    }
}

/// Without a network namespace of its own, /sys is the host's sysfs (the
/// same device number), read-only also below (the host's mounts under /sys).
#[test]
fn sys_without_a_network_namespace_is_the_hosts() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    standard_maps(&mut bundle);
    bundle.remove_namespace("network");
    bundle.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/sys/fs/cgroup");
    let out = inside(
        &rt,
        &mut bundle,
        "stat -c %d /sys/kernel; awk '$5 ~ \"^/sys/.\" {print $6}' /proc/self/mountinfo | \
         cut -d, -f1 | sort -u",
    );
    let host_dev = std::fs::metadata("/sys/kernel").unwrap().dev();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], host_dev.to_string(), "{out}");
    assert_eq!(lines[1..], ["ro"], "{out}");
}

/// A host mount at `path`, unmounted when dropped.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(path: &Path) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount tmpfs on {}", path.display());
        Self(path.to_owned())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Id-mapped mounts: the mount's own mappings, or the container's with
/// `idmap`; `ridmap` maps the mounts below the source too, `idmap` does not.
#[test]
fn idmapped_mounts_show_mapped_owners() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    standard_maps(&mut bundle);
    let src = bundle.file("shared");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f1000"), "").unwrap();
    std::fs::write(src.join("froot"), "").unwrap();
    chown(src.join("f1000"), Some(1000), Some(1000)).unwrap();
    let sub = HostMount::tmpfs(&src.join("sub"));
    std::fs::write(sub.0.join("g1000"), "").unwrap();
    chown(sub.0.join("g1000"), Some(1000), Some(1000)).unwrap();
    // The rootfs belongs to host root, nobody in the namespace: the mount
    // points must exist already.
    for dir in ["own", "idmap", "ridmap", "plain"] {
        std::fs::create_dir(bundle.rootfs().join(dir)).unwrap();
    }
    let mount = |dest: &str, options: Value| json!({"destination": dest, "type": "bind", "source": src, "options": options});
    // Host uid 1000 is container uid 5 (gid 7) on /own.
    let mut own = mount("/own", json!(["bind"]));
    own["uidMappings"] = json!([{"containerID": 1000, "hostID": 200005, "size": 1}]);
    own["gidMappings"] = json!([{"containerID": 1000, "hostID": 200007, "size": 1}]);
    bundle.add_mount(own);
    bundle.add_mount(mount("/idmap", json!(["rbind", "idmap", "ro"])));
    bundle.add_mount(mount("/ridmap", json!(["rbind", "ridmap"])));
    bundle.add_mount(mount("/plain", json!(["rbind"])));
    let out = inside(
        &rt,
        &mut bundle,
        "for d in own idmap ridmap plain; do \
           echo $d $(stat -c '%u:%g' /$d/f1000 /$d/froot /$d/sub/g1000 2>/dev/null); \
         done; \
         awk '$5 ~ \"^/(own|idmap|ridmap|plain)$\" {print $5, $6}' /proc/self/mountinfo | sort",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            // /own maps only host uid 1000; its submount is not mapped.
            "own 5:7 65534:65534",
            "idmap 1000:1000 0:0 65534:65534",
            "ridmap 1000:1000 0:0 1000:1000",
            "plain 65534:65534 65534:65534 65534:65534",
            "/idmap ro,relatime,idmapped",
            "/own rw,relatime,idmapped",
            "/plain rw,relatime",
            "/ridmap rw,relatime,idmapped",
        ],
        "{out}"
    );
}

/// A config whose user namespace is joined by path: the new namespaces
/// are made inside it, so the container's root can bring up its network.
#[test]
fn joined_user_namespace_owns_the_new_namespaces() {
    let rt = Runtime::berth();
    let holder = UsernsHolder::new("0 200000 65536\n");
    let mut bundle = Bundle::new(&["true"]);
    // The host's pid namespace is not the user namespace's: no /proc mount.
    bundle.remove_namespace("pid");
    bundle.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/proc");
    bundle.config["linux"]["maskedPaths"] = json!([]);
    bundle.config["linux"]["readonlyPaths"] = json!([]);
    bundle.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user", "path": holder.ns_path()}));
    let out = inside(
        &rt,
        &mut bundle,
        "id -u; cat /sys/class/net/lo/operstate; hostname",
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "unknown", "berth"],
        "{out}"
    );
    // Mappings given too (containerd and CRI-O do) must be the namespace's.
    let same = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    bundle.config["linux"]["uidMappings"] = same.clone();
    bundle.config["linux"]["gidMappings"] = same;
    assert_eq!(inside(&rt, &mut bundle, "id -u").trim(), "0");
    bundle.config["linux"]["gidMappings"] =
        json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    bundle.save();
    rt.exec(&[
        "run",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &unique_name("differ"),
    ])
    .fails_with(&["linux.uidMappings/gidMappings", "differ"]);
}

/// A process in a user namespace of its own, with `maps` as its uid and
/// gid maps; killed when dropped.
struct UsernsHolder(std::process::Child);

impl UsernsHolder {
    fn new(maps: &str) -> Self {
        let child = Command::new("unshare")
            .args(["--user", "sleep", "600"])
            .spawn()
            .unwrap();
        let holder = Self(child);
        let pid = holder.0.id();
        // unshare has made the namespace once its ns link differs from ours.
        let own = std::fs::read_link("/proc/self/ns/user").unwrap();
        assert!(spec_tests::wait_until(
            std::time::Duration::from_secs(5),
            || std::fs::read_link(format!("/proc/{pid}/ns/user")).is_ok_and(|l| l != own)
                && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "sleep")
        ));
        for file in ["uid_map", "gid_map"] {
            std::fs::write(format!("/proc/{pid}/{file}"), maps).unwrap();
        }
        holder
    }

    fn ns_path(&self) -> String {
        format!("/proc/{}/ns/user", self.0.id())
    }
}

impl Drop for UsernsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The unprivileged user the rootless tests run berth as.
const NOBODY: u32 = 65534;

/// A bundle made by and belonging to uid 65534 (`berth spec --rootless`),
/// an XDG_RUNTIME_DIR of its own, and berth run as that user without
/// --root. Containers left in its state root are deleted when dropped.
struct Rootless {
    work: TestDir,
    config: Value,
}

impl Rootless {
    fn new() -> Self {
        let work = TestDir::new("rootless");
        for d in ["xdg", "io", "bundle"] {
            std::fs::create_dir(work.path().join(d)).unwrap();
        }
        std::fs::set_permissions(
            work.path().join("xdg"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        spec_tests::make_busybox_rootfs(&work.path().join("bundle/rootfs"));
        let ok = Command::new("chown")
            .args(["-R", &format!("{NOBODY}:{NOBODY}")])
            .arg(work.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "chown -R {}", work.path().display());
        let mut rootless = Self {
            work,
            config: Value::Null,
        };
        let bundle = rootless.bundle();
        rootless
            .berth(&["spec", "--rootless", "--bundle", bundle.to_str().unwrap()])
            .ok();
        let text = std::fs::read_to_string(bundle.join("config.json")).unwrap();
        rootless.config = serde_json::from_str(&text).unwrap();
        rootless
    }

    fn bundle(&self) -> PathBuf {
        self.work.path().join("bundle")
    }

    fn xdg(&self) -> PathBuf {
        self.work.path().join("xdg")
    }

    fn state_root(&self) -> PathBuf {
        self.xdg().join("berth")
    }

    /// `berth ARGS` as uid/gid 65534 (setpriv).
    fn berth(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("setpriv");
        let id = NOBODY.to_string();
        cmd.args(["--reuid", &id, "--regid", &id, "--clear-groups"])
            .arg(berth_binary())
            .args(args)
            .env("XDG_RUNTIME_DIR", self.xdg());
        run_command(
            cmd,
            &self.work.path().join("io"),
            spec_tests::command_timeout(),
        )
    }

    /// Saves the config and runs it as `berth run`.
    fn run(&self, id: &str) -> Output {
        let path = self.bundle().join("config.json");
        std::fs::write(&path, self.config.to_string()).unwrap();
        chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
        let bundle = self.bundle();
        self.berth(&["run", "--bundle", bundle.to_str().unwrap(), id])
    }

    fn containers_left(&self) -> Vec<String> {
        std::fs::read_dir(self.state_root())
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Rootless {
    fn drop(&mut self) {
        for id in self.containers_left() {
            let _ = Command::new(berth_binary())
                .arg("--root")
                .arg(self.state_root())
                .args(["delete", "--force", &id])
                .output();
        }
    }
}

/// berth run by an unprivileged user with `berth spec --rootless`: state in
/// $XDG_RUNTIME_DIR/berth, no cgroup of its own, the caller mapped to root.
/// A network request is refused with the reason.
#[test]
fn rootless_run_by_an_unprivileged_user() {
    let mut rl = Rootless::new();
    assert_eq!(
        rl.config["linux"]["uidMappings"],
        json!([{"containerID": 0, "hostID": NOBODY, "size": 1}])
    );
    // berth makes the state root (0700, sticky) for any command, as runc.
    rl.berth(&["list", "--quiet"]).ok();
    let mode = std::fs::metadata(rl.state_root())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o1700, "state root mode {mode:o}");
    // The container sees the state root through a bind mount: its own state
    // is there while it runs.
    std::fs::create_dir(rl.bundle().join("rootfs/run/state")).unwrap();
    let state_mount = json!({
        "destination": "/run/state", "type": "bind", "source": rl.state_root(), "options": ["bind"]
    });
    rl.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(state_mount);
    rl.config["process"]["args"] = json!([
        "sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; \
         echo x > /dev/null && ls /sys/kernel > /dev/null && echo ok; ls /run/state"
    ]);
    let id = unique_name("rootless");
    let out = rl.run(&id).ok();
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(
        words,
        [
            "0",
            "65534",
            "1",
            "0",
            "65534",
            "1",
            "deny",
            "0",
            "ok",
            id.as_str()
        ],
        "{out}"
    );
    // `run` deleted it again.
    assert!(rl.containers_left().is_empty());

    rl.config["annotations"] = json!({"berth.network": "somenet"});
    rl.run(&unique_name("rlnet"))
        .fails_with(&["network layer needs root"]);
    assert!(rl.containers_left().is_empty());
}

/// A change to config.json.
type Edit = Box<dyn Fn(&mut Value)>;

/// What an unprivileged user cannot have, refused before anything is made.
#[test]
fn rootless_refusals() {
    let mut rl = Rootless::new();
    let base = rl.config.clone();
    let cases: Vec<(Edit, &[&str])> = vec![
        (
            Box::new(|c| {
                c["linux"]["uidMappings"] = json!([
                    {"containerID": 0, "hostID": NOBODY, "size": 1},
                    {"containerID": 1, "hostID": 100000, "size": 1000}
                ])
            }),
            &["linux.uidMappings", "only the caller's own uid (65534)"],
        ),
        (
            Box::new(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|ns| ns["type"] != "user");
                c["linux"].as_object_mut().unwrap().remove("uidMappings");
                c["linux"].as_object_mut().unwrap().remove("gidMappings");
            }),
            &["requires a user namespace"],
        ),
        (
            Box::new(|c| {
                c["mounts"].as_array_mut().unwrap().push(json!({
                    "destination": "/mnt", "type": "bind", "source": "/tmp", "options": ["rbind", "idmap"]
                }))
            }),
            &["mounts[7]", "not supported for rootless containers"],
        ),
        (
            Box::new(|c| c["process"]["user"]["additionalGids"] = json!([0])),
            &["additionalGids", "rootless"],
        ),
        (
            Box::new(|c| {
                c["mounts"][1]["options"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("gid=5"))
            }),
            &["mounts[1].options", "gid=5", "not mapped"],
        ),
    ];
    for (edit, words) in cases {
        rl.config = base.clone();
        edit(&mut rl.config);
        rl.run(&unique_name("rlbad")).fails_with(words);
        assert!(rl.containers_left().is_empty());
    }
}

#[test]
fn features_list_idmapped_mounts() {
    let rt = Runtime::berth();
    let v: Value = serde_json::from_str(&rt.exec(&["features"]).ok().stdout).unwrap();
    assert_eq!(v["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    let options = v["mountOptions"].as_array().unwrap();
    assert!(options.contains(&json!("idmap")) && options.contains(&json!("ridmap")));
}
