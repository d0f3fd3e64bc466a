//! `process` and the process-related `linux` fields, checked from inside
//! the container with busybox and /proc.

use serde_json::json;
use spec_tests::{cap_number, caps_in_mask, status_field, unique_name, Bundle, Output, Runtime};
use std::process::Command;

/// Runs `script` in a container made from `bundle` (its args replaced) and
/// returns stdout; panics unless it exits 0.
#[track_caller]
fn inside(rt: &Runtime, bundle: &mut Bundle, script: &str) -> String {
    bundle.set_args(&["sh", "-c", script]);
    rt.run(bundle, &unique_name("proc")).ok().stdout
}

#[test]
fn args_are_passed_verbatim() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&[
        "sh",
        "-c",
        "for a in \"$@\"; do echo \"[$a]\"; done",
        "argv0",
        "one",
        "two words",
        "",
        "*",
    ]);
    let out = rt.run(&bundle, &unique_name("args")).ok();
    assert_eq!(out.stdout, "[one]\n[two words]\n[]\n[*]\n");
}

#[test]
fn env_is_exactly_the_spec_plus_home() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["env"]);
    bundle.config["process"]["env"] = json!(["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY="]);
    let out = rt.run(&bundle, &unique_name("env")).ok();
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort();
    // HOME comes from the container's /etc/passwd when the spec has none.
    assert_eq!(
        lines,
        ["EMPTY=", "FOO=bar baz", "HOME=/root", "PATH=/bin:/usr/bin"]
    );

    bundle.add_env("HOME=/elsewhere");
    let out = rt.run(&bundle, &unique_name("env")).ok();
    assert!(out.stdout.lines().any(|l| l == "HOME=/elsewhere"), "{out}");
}

#[test]
fn executable_is_found_in_the_specs_path() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["whoami"]);
    bundle.config["process"]["env"] = json!(["PATH=/usr/bin"]);
    assert_eq!(rt.run(&bundle, &unique_name("path")).ok().stdout, "root\n");
    bundle.set_args(&["no-such-program"]);
    rt.run(&bundle, &unique_name("path"))
        .fails_with(&["no-such-program"]);
}

#[test]
fn cwd_is_created_and_used() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["pwd"]);
    bundle.config["process"]["cwd"] = json!("/work/dir/deep");
    assert_eq!(
        rt.run(&bundle, &unique_name("cwd")).ok().stdout,
        "/work/dir/deep\n"
    );
    assert!(bundle.rootfs().join("work/dir/deep").is_dir());
}

#[test]
fn cwd_through_a_symlink_stays_in_the_rootfs() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["pwd"]);
    let outside = rt.work_dir().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, bundle.rootfs().join("escape")).unwrap();
    bundle.config["process"]["cwd"] = json!("/escape/sub");
    let out = rt.run(&bundle, &unique_name("cwdlink"));
    // Either refused or created inside the rootfs, never on the host.
    assert!(
        !outside.join("sub").exists(),
        "cwd creation followed a symlink out of the rootfs: {out}"
    );
}

#[test]
fn user_uid_gid_and_additional_gids() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["process"]["user"] =
        json!({"uid": 1000, "gid": 1001, "additionalGids": [5, 2000]});
    let out = inside(
        &rt,
        &mut bundle,
        "grep -E '^(Uid|Gid|Groups):' /proc/self/status; id -u; id -g",
    );
    assert_eq!(
        status_field(&out, "Uid"),
        Some("1000\t1000\t1000\t1000"),
        "{out}"
    );
    assert_eq!(
        status_field(&out, "Gid"),
        Some("1001\t1001\t1001\t1001"),
        "{out}"
    );
    let mut groups: Vec<&str> = status_field(&out, "Groups")
        .unwrap()
        .split_whitespace()
        .collect();
    groups.sort();
    assert_eq!(groups, ["2000", "5"], "{out}");
    assert!(out.ends_with("1000\n1001\n"), "{out}");
}

#[test]
fn umask_default_and_given() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["root"]["readonly"] = json!(false);
    assert_eq!(inside(&rt, &mut bundle, "umask"), "0022\n");
    bundle.config["process"]["user"]["umask"] = json!(0o077);
    assert_eq!(inside(&rt, &mut bundle, "umask"), "0077\n");
    let out = inside(&rt, &mut bundle, "cd /tmp && touch f && stat -c %a f");
    assert_eq!(out, "600\n");
}

#[test]
fn no_new_privileges() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["process"]["noNewPrivileges"] = json!(true);
    let out = inside(&rt, &mut bundle, "cat /proc/self/status");
    assert_eq!(status_field(&out, "NoNewPrivs"), Some("1"));
    bundle.config["process"]["noNewPrivileges"] = json!(false);
    let out = inside(&rt, &mut bundle, "cat /proc/self/status");
    assert_eq!(status_field(&out, "NoNewPrivs"), Some("0"));
}

#[test]
fn rlimits_are_set() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
        {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
    ]);
    let out = inside(
        &rt,
        &mut bundle,
        "ulimit -n; ulimit -Hn; ulimit -u; cat /proc/self/limits",
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("512"));
    assert_eq!(lines.next(), Some("1000"));
    assert_eq!(lines.next(), Some("300"));
    let limit = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .map(|l| {
                l[name.len()..]
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    assert_eq!(limit("Max open files"), "512 1000");
    assert_eq!(limit("Max processes"), "300 400");
    assert_eq!(limit("Max core file size"), "0 0");
}

#[test]
fn duplicate_rlimit_is_refused() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
        {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100},
    ]);
    rt.run(&bundle, &unique_name("rlim"))
        .fails_with(&["RLIMIT_NOFILE"]);
    assert!(rt.leftovers().is_empty());
}

fn mask_of(names: &[&str]) -> Vec<u32> {
    let mut v: Vec<u32> = names.iter().map(|n| cap_number(n)).collect();
    v.sort();
    v
}

/// The capabilities in the `key` line (CapBnd, CapEff...) of a
/// /proc/PID/status text; panics, showing the text, when it has none.
#[track_caller]
fn caps_in_status(status: &str, key: &str) -> Vec<u32> {
    caps_in_mask(status_field(status, key).unwrap_or_else(|| panic!("{key}: {status}")))
}

#[test]
fn capabilities_all_five_sets() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    // A non-root user: after exec, permitted and effective are exactly the
    // ambient set (root would get the bounding set back from exec).
    bundle.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    bundle.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_SETUID"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
        "effective": ["CAP_KILL", "CAP_CHOWN"],
        "inheritable": ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    });
    bundle.config["process"]["noNewPrivileges"] = json!(false);
    // Read by a shell builtin: the status of the process berth exec'd.
    let out = inside(
        &rt,
        &mut bundle,
        "while read -r l; do echo \"$l\"; done < /proc/self/status",
    );
    let set = |key| caps_in_status(&out, key);
    let bounding = mask_of(&[
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_CHOWN",
        "CAP_SETUID",
    ]);
    assert_eq!(set("CapBnd"), bounding);
    assert_eq!(
        set("CapInh"),
        mask_of(&["CAP_NET_BIND_SERVICE", "CAP_KILL"])
    );
    assert_eq!(set("CapAmb"), mask_of(&["CAP_NET_BIND_SERVICE"]));
    assert_eq!(set("CapPrm"), mask_of(&["CAP_NET_BIND_SERVICE"]));
    assert_eq!(set("CapEff"), mask_of(&["CAP_NET_BIND_SERVICE"]));

    // Root: the bounding set limits what exec gives back.
    bundle.config["process"]["user"] = json!({"uid": 0, "gid": 0});
    let out = inside(&rt, &mut bundle, "cat /proc/self/status");
    let set = |key| caps_in_status(&out, key);
    assert_eq!(set("CapBnd"), bounding);
    assert_eq!(set("CapPrm"), bounding);
    assert_eq!(set("CapEff"), bounding);
}

#[test]
fn capabilities_match_runc() {
    let Some(runc) = Runtime::runc() else {
        eprintln!("runc is not installed: skipped");
        return;
    };
    let rt = Runtime::berth();
    let script = "while read -r l; do case $l in Cap*|NoNewPrivs*|Uid*|Gid*|Groups*) echo \"$l\";; esac; done < /proc/self/status";
    for (uid, caps) in [
        (0, json!(null)),
        (
            0,
            json!({"bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL", "CAP_CHOWN"]}),
        ),
        (
            1000,
            json!({"bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"], "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"], "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"], "inheritable": ["CAP_NET_BIND_SERVICE"], "ambient": ["CAP_NET_BIND_SERVICE"]}),
        ),
    ] {
        let mut bundle = Bundle::sh(script);
        bundle.config["process"]["user"] = json!({"uid": uid, "gid": uid, "additionalGids": [7]});
        if caps.is_null() {
            // The default spec's three capabilities.
        } else {
            bundle.config["process"]["capabilities"] = caps.clone();
        }
        let ours = rt.run(&bundle, &unique_name("capcmp")).ok().stdout;
        let theirs = runc.run(&bundle, &unique_name("capcmp")).ok().stdout;
        assert_eq!(ours, theirs, "uid {uid} caps {caps}: berth vs runc");
    }
}

#[test]
fn unknown_capability_is_refused() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["process"]["capabilities"]["bounding"] = json!(["CAP_KILL", "CAP_MAKE_COFFEE"]);
    rt.run(&bundle, &unique_name("cap"))
        .fails_with(&["CAP_MAKE_COFFEE"]);
    assert!(rt.leftovers().is_empty());
}

#[test]
fn oom_score_adj() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["process"]["oomScoreAdj"] = json!(345);
    assert_eq!(
        inside(&rt, &mut bundle, "cat /proc/self/oom_score_adj"),
        "345\n"
    );
}

#[test]
fn hostname_and_domainname() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["hostname"] = json!("box-1");
    bundle.config["domainname"] = json!("example.test");
    let out = inside(
        &rt,
        &mut bundle,
        "hostname; cat /proc/sys/kernel/domainname",
    );
    assert_eq!(out, "box-1\nexample.test\n");
    // The host's are untouched.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(host.trim(), "box-1");
}

#[test]
fn hostname_without_uts_namespace_is_refused() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.remove_namespace("uts");
    bundle.config["hostname"] = json!("nope");
    rt.run(&bundle, &unique_name("uts"))
        .fails_with(&["hostname", "uts"]);
}

#[test]
fn namespaced_sysctls_are_applied() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["linux"]["sysctl"] = json!({
        "net.ipv4.ip_forward": "1",
        "kernel.msgmax": "4096",
        "net.ipv4.ping_group_range": "0 0",
    });
    let out = inside(
        &rt,
        &mut bundle,
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax /proc/sys/net/ipv4/ping_group_range",
    );
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words, ["1", "4096", "0", "0"], "{out}");
}

#[test]
fn host_wide_sysctl_is_refused() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["linux"]["sysctl"] = json!({"vm.swappiness": "10"});
    rt.run(&bundle, &unique_name("sysctl"))
        .fails_with(&["vm.swappiness"]);
    assert!(rt.leftovers().is_empty());
}

#[test]
fn namespaces_are_new_and_separate() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    let out = inside(
        &rt,
        &mut bundle,
        "for n in pid net ipc uts mnt cgroup; do echo $n $(readlink /proc/self/ns/$n); done; echo pid1 $$",
    );
    for line in out.lines().filter(|l| !l.starts_with("pid1")) {
        let (name, link) = line.split_once(' ').unwrap();
        let host = std::fs::read_link(format!("/proc/self/ns/{name}")).unwrap();
        assert_ne!(
            link,
            host.to_str().unwrap(),
            "the container shares the host's {name} namespace"
        );
    }
    assert!(
        out.contains("pid1 1\n"),
        "the process is not pid 1 in its namespace: {out}"
    );
}

#[test]
fn joining_a_namespace_by_path() {
    let rt = Runtime::berth();
    // A running container's uts namespace, joined by a second one.
    let mut first = Bundle::new(&["sleep", "100"]);
    first.config["hostname"] = json!("shared-uts");
    let id = unique_name("nsowner");
    rt.create(&first, &id, &[]).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();

    let mut second = Bundle::new(&["hostname"]);
    for ns in second.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "uts" {
            ns["path"] = json!(format!("/proc/{pid}/ns/uts"));
        }
    }
    second.config["hostname"] = json!(null);
    let out = rt.run(&second, &unique_name("nsjoin")).ok();
    assert_eq!(out.stdout, "shared-uts\n");
    rt.delete_force(&id).ok();
}

/// Runs `cmd` (a berth command, not yet started) with its fd 3 open across
/// exec on a new file `name` in the runtime's work dir: an fd handed down
/// by whoever called berth.
fn exec_with_fd_3(rt: &Runtime, mut cmd: Command, name: &str) -> Output {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let path = rt.work_dir().join(name);
    std::fs::write(&path, "x").unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let raw = file.as_raw_fd();
    // SAFETY: dup2/fcntl in the child before exec onto fd 3; `file` (and so
    // `raw`) stays open in the parent until the command has run.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec: clear it instead.
            let r = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = rt.exec_command(cmd);
    drop(file);
    out
}

/// The numbers in a list of fds such as `ls /proc/self/fd | tr '\n' ' '`
/// prints.
fn fd_numbers(list: &str) -> Vec<u32> {
    list.split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

#[test]
fn preserve_fds_and_others_closed() {
    let rt = Runtime::berth();
    let bundle = Bundle::sh("ls /proc/self/fd | sort -n | tr '\\n' ' '");
    bundle.save();
    let cmd = rt.command(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &unique_name("fds"),
    ]);
    let out = exec_with_fd_3(&rt, cmd, "extra").ok();
    // ls's own directory fd shows too; nothing above it but the kept fd 3.
    let fds = fd_numbers(&out.stdout);
    assert!(fds.starts_with(&[0, 1, 2, 3]), "{out}");
    assert!(fds.len() <= 5, "fds leaked into the container: {out}");
}

/// Adds a new namespace of type `typ` to the bundle's `linux.namespaces`.
fn add_namespace(bundle: &mut Bundle, typ: &str) {
    bundle.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": typ }));
}

#[test]
fn user_namespace_maps_ids() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    add_namespace(&mut bundle, "user");
    bundle.config["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    bundle.config["linux"]["gidMappings"] =
        json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    let shared = bundle.file("shared");
    std::fs::create_dir(&shared).unwrap();
    // Writable by the container's root, which is host uid 200000.
    std::os::unix::fs::chown(&shared, Some(200000), Some(300000)).unwrap();
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    bundle.add_mount(
        json!({"destination": "/shared", "type": "bind", "source": shared, "options": ["rbind"]}),
    );
    // The rootfs belongs to host root, which is nobody in the namespace:
    // the mount point must exist already.
    std::fs::create_dir(bundle.rootfs().join("shared")).unwrap();
    bundle.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let out = inside(
        &rt,
        &mut bundle,
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; stat -c '%u:%g' /bin/busybox; \
         touch /shared/made-inside",
    );
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        words,
        [
            "0",
            "200000",
            "65536",
            "0",
            "300000",
            "65536",
            "1000",
            "1000",
            "65534:65534"
        ],
        "{out}"
    );
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(shared.join("made-inside")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (201000, 301000));
}

#[test]
fn time_namespace_offsets() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    add_namespace(&mut bundle, "time");
    bundle.config["linux"]["timeOffsets"] =
        json!({"boottime": {"secs": 864000, "nanosecs": 0}, "monotonic": {"secs": 3600}});
    let out = inside(
        &rt,
        &mut bundle,
        "cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime",
    );
    let host_uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(lines.contains(&vec!["monotonic", "3600", "0"]), "{out}");
    assert!(lines.contains(&vec!["boottime", "864000", "0"]), "{out}");
    let uptime: f64 = lines.last().unwrap()[0].parse().unwrap();
    assert!(
        uptime >= host_uptime + 864000.0 - 5.0,
        "uptime {uptime} host {host_uptime}"
    );
}

/// Socket activation (systemd's LISTEN_FDS) reaches the container only
/// when LISTEN_PID names berth itself, as runc: otherwise fd 3 is not a
/// socket meant for it.
#[test]
fn listen_fds_are_passed_through() {
    let rt = Runtime::berth();
    let bundle =
        Bundle::sh("echo $LISTEN_FDS $LISTEN_PID; ls /proc/self/fd | sort -n | tr '\\n' ' '");
    bundle.save();
    for for_berth in [true, false] {
        let berth = rt.command(&[
            "run",
            "--bundle",
            bundle.path().to_str().unwrap(),
            &unique_name("listen"),
        ]);
        let argv: Vec<String> = std::iter::once(berth.get_program())
            .chain(berth.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        // The shell execs berth: $$ is berth's pid.
        let pid = if for_berth { "$$" } else { "1" };
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &format!("LISTEN_PID={pid} exec \"$@\""), "sh"]);
        cmd.args(&argv);
        cmd.env("LISTEN_FDS", "1");
        let out = exec_with_fd_3(&rt, cmd, "socket-standin").ok();
        let mut lines = out.stdout.lines();
        let fds = |line: Option<&str>| fd_numbers(line.unwrap_or(""));
        // ls's own directory fd is the last one listed.
        if for_berth {
            assert_eq!(lines.next(), Some("1 1"), "{out}");
            assert_eq!(fds(lines.next()), [0, 1, 2, 3, 4], "{out}");
        } else {
            assert_eq!(lines.next(), Some(""), "{out}");
            assert_eq!(fds(lines.next()), [0, 1, 2, 3], "{out}");
        }
    }
}
