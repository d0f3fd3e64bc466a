//! `exec`: another process in a running (or created) container, checked
//! from inside it: output and exit status, env, cwd, user, capabilities,
//! rlimits, seccomp, terminal, detach with a pid file; and the refusals,
//! with runc's messages and exit code 255.

use serde_json::json;
use spec_tests::{
    read_until_closed, status_field, unique_name, wait_until, Bundle, ConsoleSocket, Output,
    Runtime,
};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// A running container whose init sleeps; returns its id.
fn running(rt: &Runtime, bundle: &Bundle) -> String {
    let id = unique_name("exec");
    rt.create(bundle, &id, &[]).ok();
    rt.start(&id).ok();
    id
}

fn sleeper() -> Bundle {
    Bundle::new(&["sleep", "1000"])
}

/// `exec ARGS...` (flags and the id included).
fn exec(rt: &Runtime, args: &[&str]) -> Output {
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    rt.exec(&all)
}

/// Panics unless exec failed as runc's does: exit 255, `exec failed:` and
/// every one of `words` on stderr.
#[track_caller]
fn exec_fails(out: Output, words: &[&str]) {
    assert_eq!(out.code, 255, "{out}");
    assert!(out.stderr.contains("exec failed: "), "{out}");
    for w in words {
        assert!(
            out.stderr.contains(w),
            "stderr does not mention {w:?}: {out}"
        );
    }
}

/// The pids of the container's processes (`ps --format json`).
fn ps(rt: &Runtime, id: &str) -> Vec<i64> {
    let out = rt.exec(&["ps", "--format", "json", id]).ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn output_exit_status_env_cwd_and_user() {
    let rt = Runtime::berth();
    let mut bundle = sleeper();
    bundle.config["process"]["env"] = json!(["PATH=/bin:/usr/bin", "FROM_CONFIG=1"]);
    let id = running(&rt, &bundle);

    assert_eq!(exec(&rt, &[&id, "echo", "hello"]).ok().stdout, "hello\n");
    exec(&rt, &[&id, "sh", "-c", "exit 7"]).code_is(7);
    exec(&rt, &[&id, "sh", "-c", "kill -9 $$"]).code_is(137);

    let out = exec(&rt, &["-e", "EXTRA=two words", &id, "env"]).ok();
    let mut env: Vec<&str> = out.stdout.lines().collect();
    env.sort();
    assert_eq!(
        env,
        [
            "EXTRA=two words",
            "FROM_CONFIG=1",
            "HOME=/root",
            "PATH=/bin:/usr/bin"
        ]
    );

    assert_eq!(exec(&rt, &[&id, "pwd"]).ok().stdout, "/\n");
    assert_eq!(
        exec(&rt, &["--cwd", "/tmp", &id, "pwd"]).ok().stdout,
        "/tmp\n"
    );

    let out = exec(&rt, &["-u", "1000:100", "-g", "5", "-g", "7", &id, "id"]).ok();
    assert_eq!(out.stdout, "uid=1000 gid=100 groups=5(tty),7\n");
    let out = exec(&rt, &["--user", "33", &id, "id", "-u"]).ok();
    assert_eq!(out.stdout, "33\n");
}

#[test]
fn capabilities_no_new_privs_and_rlimits() {
    let rt = Runtime::berth();
    let mut bundle = sleeper();
    bundle.config["process"]["rlimits"] =
        json!([{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}]);
    let id = running(&rt, &bundle);
    let status = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend([id.as_str(), "cat", "/proc/self/status"]);
        exec(&rt, &all).ok().stdout
    };
    let init = status(&[]);
    // The container's capabilities (berth spec's default: AUDIT_WRITE,
    // KILL, NET_BIND_SERVICE), as init's.
    assert_eq!(status_field(&init, "CapBnd"), Some("0000000020000420"));
    assert_eq!(status_field(&init, "CapEff"), Some("0000000020000420"));
    assert_eq!(status_field(&init, "NoNewPrivs"), Some("1"));
    // --cap adds to bounding, effective, permitted (and ambient, where
    // the kernel lets it: not without inheritable).
    let more = status(&["--cap", "CAP_NET_ADMIN"]);
    assert_eq!(status_field(&more, "CapBnd"), Some("0000000020001420"));
    assert_eq!(status_field(&more, "CapEff"), Some("0000000020001420"));
    assert_eq!(status_field(&more, "CapInh"), Some("0000000000000000"));

    let out = exec(&rt, &[&id, "sh", "-c", "ulimit -Sn; ulimit -Hn"]).ok();
    assert_eq!(out.stdout, "321\n654\n");
}

#[test]
fn no_new_privs_flag() {
    let rt = Runtime::berth();
    let mut bundle = sleeper();
    bundle.config["process"]["noNewPrivileges"] = json!(false);
    let id = running(&rt, &bundle);
    let nnp = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend([id.as_str(), "grep", "NoNewPrivs", "/proc/self/status"]);
        exec(&rt, &all).ok().stdout
    };
    assert_eq!(nnp(&[]), "NoNewPrivs:\t0\n");
    assert_eq!(nnp(&["--no-new-privs"]), "NoNewPrivs:\t1\n");
}

#[test]
fn process_json_and_its_errors() {
    let rt = Runtime::berth();
    let bundle = sleeper();
    let id = running(&rt, &bundle);
    let file = rt.work_dir().join("process.json");
    let with = |process: serde_json::Value| {
        std::fs::write(&file, process.to_string()).unwrap();
        exec(&rt, &["--process", file.to_str().unwrap(), &id])
    };
    let out = with(json!({
        "args": ["sh", "-c", "id; pwd; echo $A; ulimit -n"],
        "cwd": "/tmp", "env": ["PATH=/bin", "A=from-json"],
        "user": {"uid": 7, "gid": 8, "additionalGids": [9]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 99, "hard": 99}]
    }))
    .ok();
    assert_eq!(out.stdout, "uid=7 gid=8 groups=9\n/tmp\nfrom-json\n99\n");

    // A missing binary, a bad cwd, bad JSON: errors naming them; nothing
    // is left in the container.
    exec_fails(
        with(
            json!({"args": ["no-such-binary"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}),
        ),
        &[
            "unable to start container process",
            "\"no-such-binary\"",
            "not found",
        ],
    );
    exec_fails(
        with(
            json!({"args": ["true"], "cwd": "/no/such/dir", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}),
        ),
        &["/no/such/dir"],
    );
    exec_fails(
        with(json!({"args": ["true"], "cwd": "relative", "user": {"uid": 0, "gid": 0}})),
        &["process.cwd", "not absolute"],
    );
    std::fs::write(&file, "{\"args\": [\"true\"],,}").unwrap();
    exec_fails(
        exec(&rt, &["--process", file.to_str().unwrap(), &id]),
        &[file.to_str().unwrap()],
    );
    exec_fails(
        exec(&rt, &["--process", "/no/such/process.json", &id]),
        &["/no/such/process.json"],
    );
    assert_eq!(ps(&rt, &id).len(), 1, "a failed exec left a process");
}

#[test]
fn errors_go_to_the_json_log() {
    let rt = Runtime::berth();
    let bundle = sleeper();
    let id = running(&rt, &bundle);
    let log = rt.work_dir().join("log.json");
    let out = rt.exec(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "exec",
        &id,
        "no-such-binary",
    ]);
    assert_eq!(out.code, 255, "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    let msg = last["msg"].as_str().unwrap();
    assert!(
        msg.starts_with("exec failed: ") && msg.contains("no-such-binary"),
        "{msg}"
    );
}

#[test]
fn seccomp_filter_of_the_container() {
    let rt = Runtime::berth();
    let mut bundle = sleeper();
    bundle.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    let id = running(&rt, &bundle);
    let out = exec(
        &rt,
        &[
            &id,
            "sh",
            "-c",
            "grep Seccomp /proc/self/status; mkdir /tmp/d && echo made",
        ],
    );
    assert_eq!(status_field(&out.stdout, "Seccomp"), Some("2"), "{out}");
    assert_eq!(
        status_field(&out.stdout, "Seccomp_filters"),
        Some("1"),
        "{out}"
    );
    assert!(!out.stdout.contains("made"), "{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
    // Without a profile there is no filter.
    let plain_bundle = sleeper();
    let plain = running(&rt, &plain_bundle);
    let out = exec(&rt, &[&plain, "grep", "Seccomp:", "/proc/self/status"]).ok();
    assert_eq!(status_field(&out.stdout, "Seccomp"), Some("0"), "{out}");
}

#[test]
fn terminal_through_the_console_socket() {
    let rt = Runtime::berth();
    let bundle = sleeper();
    let id = running(&rt, &bundle);
    let socket = ConsoleSocket::bind(&rt.work_dir().join("exec-console.sock"));
    let path = socket.path().to_str().unwrap().to_owned();
    exec(
        &rt,
        &[
            "-d",
            "-t",
            "--console-socket",
            &path,
            &id,
            "sh",
            "-c",
            "tty; [ -t 0 ] && [ -t 1 ] && echo STDIO-IS-TTY; echo > /dev/tty && echo HAS-CTTY",
        ],
    )
    .ok();
    let (master, name) = socket.receive_fd(WAIT);
    let out = read_until_closed(&master, WAIT).replace('\r', "");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("/dev/pts/"), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&name), lines[0]);
    assert!(
        lines.contains(&"STDIO-IS-TTY") && lines.contains(&"HAS-CTTY"),
        "{out:?}"
    );

    exec_fails(exec(&rt, &["-t", &id, "true"]), &["--console-socket"]);
    exec_fails(
        exec(&rt, &["--console-socket", &path, &id, "true"]),
        &["cannot use console socket"],
    );
}

#[test]
fn detach_pid_file_ps_kill_all_and_delete() {
    let rt = Runtime::berth();
    // Without a pid namespace of its own, init's death does not take the
    // exec'd process with it: only kill --all or delete --force can.
    let mut bundle = sleeper();
    bundle.remove_namespace("pid");
    let id = running(&rt, &bundle);
    let pid_file = rt.work_dir().join("exec.pid");
    let pid = detached_sleep(&rt, &id, &pid_file, "--detach");
    let pids = ps(&rt, &id);
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert!(pids.contains(&pid), "{pids:?} lacks {pid}");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, b"sleep\0999\0");
    // Nothing of berth's is open in it.
    let fds: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .collect();
    assert_eq!(fds.len(), 3, "{fds:?}");

    rt.exec(&["kill", "--all", &id, "KILL"]).ok();
    assert!(
        wait_until(WAIT, || exited(pid)),
        "kill --all did not reach the exec'd process"
    );
    rt.delete_force(&id).ok();

    // delete --force alone reaches an exec'd process too.
    let id = running(&rt, &bundle);
    let pid = detached_sleep(&rt, &id, &pid_file, "-d");
    rt.delete_force(&id).ok();
    assert!(
        wait_until(WAIT, || exited(pid)),
        "delete --force did not reach the exec'd process"
    );
}

#[test]
fn into_a_created_container() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["true"]);
    let id = unique_name("exec");
    rt.create(&bundle, &id, &[]).ok();
    let out = exec(
        &rt,
        &[
            &id,
            "sh",
            "-c",
            "echo in-created; cat /proc/1/cmdline | tr '\\0' ' '",
        ],
    )
    .ok();
    assert!(out.stdout.starts_with("in-created\n"), "{out}");
    assert_eq!(rt.status(&id).as_deref(), Some("created"));
}

#[test]
fn stopped_and_paused_containers_are_refused() {
    let rt = Runtime::berth();
    let bundle = sleeper();
    let id = running(&rt, &bundle);
    rt.exec(&["pause", &id]).ok();
    exec_fails(
        exec(&rt, &[&id, "true"]),
        &["cannot exec in a paused container (use --ignore-paused to override)"],
    );
    // --ignore-paused: the process runs once the container is resumed.
    let mut cmd = rt.command(&["exec", "--ignore-paused", &id, "echo", "after-resume"]);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    rt.exec(&["resume", &id]).ok();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "after-resume\n");

    rt.kill(&id, "KILL").ok();
    assert!(rt.wait_status(&id, "stopped", WAIT));
    exec_fails(
        exec(&rt, &[&id, "true"]),
        &["cannot exec in a stopped container"],
    );
    exec_fails(
        exec(&rt, &["no-such-container", "true"]),
        &["does not exist"],
    );
}

#[test]
fn refusals_of_the_command_line() {
    let rt = Runtime::berth();
    let bundle = sleeper();
    let id = running(&rt, &bundle);
    exec_fails(exec(&rt, &[&id]), &["process args cannot be empty"]);
    exec_fails(
        exec(&rt, &["-u", "1000:x", &id, "id"]),
        &["parsing \"x\" as int for gid"],
    );
    exec_fails(
        exec(&rt, &["-g", "-1", &id, "id"]),
        &["additional-gids must be a positive number -1"],
    );
    exec_fails(exec(&rt, &["--cap", "CAP_NOPE", &id, "id"]), &["CAP_NOPE"]);
    // This host has neither LSM: what runc 1.1 does then.
    exec_fails(
        exec(&rt, &["--apparmor", "p", &id, "true"]),
        &["apparmor failed to apply profile"],
    );
    exec_fails(
        exec(&rt, &["--process-label", "l", &id, "true"]),
        &["selinux label is specified in config, but selinux is disabled or not supported"],
    );
    exec_fails(
        exec(&rt, &["--cgroup", "a:b:c", &id, "true"]),
        &["invalid --cgroup argument"],
    );
    exec_fails(
        exec(&rt, &["--cgroup", "no-such-sub", &id, "true"]),
        &["no-such-sub"],
    );
    exec_fails(
        exec(&rt, &["--preserve-fds", "2", &id, "true"]),
        &["--preserve-fds 2"],
    );
    // --process takes the whole process from the file: no flag changes it.
    let out = exec(&rt, &["--process", "/x.json", "--cwd", "/", &id]);
    assert_ne!(out.code, 0, "{out}");
    assert_eq!(ps(&rt, &id).len(), 1);
}

#[test]
fn preserved_fds_reach_the_process() {
    let rt = Runtime::berth();
    let bundle = sleeper();
    let id = running(&rt, &bundle);
    let file = rt.work_dir().join("passed");
    std::fs::write(&file, "through fd 3\n").unwrap();
    let mut cmd = rt.command(&[
        "exec",
        "--preserve-fds",
        "1",
        &id,
        "sh",
        "-c",
        "cat <&3; ls /proc/self/fd",
    ]);
    let f = std::fs::File::open(&file).unwrap();
    // SAFETY: dup2 onto fd 3 in the child before exec; f stays open meanwhile.
    unsafe {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let raw = f.as_raw_fd();
        cmd.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it either way.
            if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = rt.exec_command(cmd).ok();
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("through fd 3"));
    // 0-2, 3, and ls's own directory fd.
    let fds: Vec<&str> = lines.collect();
    assert_eq!(fds.len(), 5, "{fds:?}");
}

#[test]
fn foreground_exec_forwards_signals() {
    let rt = Runtime::berth();
    let bundle = sleeper();
    let id = running(&rt, &bundle);
    let mut child = rt
        .command(&[
            "exec",
            &id,
            "sh",
            "-c",
            "trap 'exit 3' TERM; while :; do sleep 0.1; done",
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // init, sh, and a sleep of its loop: the trap is set.
    assert!(wait_until(WAIT, || ps(&rt, &id).len() >= 3));
    let pid = nix_pid(child.id());
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = spec_tests::wait_timeout(&mut child, WAIT).expect("exec did not exit");
    assert_eq!(status.code(), Some(3));
}

fn nix_pid(pid: u32) -> libc::pid_t {
    libc::pid_t::try_from(pid).unwrap()
}

#[test]
fn exec_cpu_affinity() {
    let rt = Runtime::berth();
    let bundle = sleeper();
    let id = running(&rt, &bundle);
    let file = rt.work_dir().join("process.json");
    let allowed = |affinity: serde_json::Value| {
        std::fs::write(
            &file,
            json!({"args": ["grep", "Cpus_allowed_list", "/proc/self/status"], "cwd": "/",
                   "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0},
                   "execCPUAffinity": affinity})
            .to_string(),
        )
        .unwrap();
        let out = exec(&rt, &["--process", file.to_str().unwrap(), &id]).ok();
        status_field(&out.stdout, "Cpus_allowed_list")
            .unwrap()
            .to_owned()
    };
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    assert_eq!(allowed(json!({"final": "0"})), "0");
    // initial alone: the container's CPUs once in its cgroup.
    assert_eq!(allowed(json!({"initial": "0"})), online.trim());
}

#[test]
fn into_existing_sub_cgroups() {
    let rt = Runtime::berth();
    let bundle = sleeper();
    let id = running(&rt, &bundle);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    // delete --force (when the runtime is dropped) removes them with the container.
    for dir in spec_tests::cgroups_util::dirs_of_pid(pid) {
        let sub = dir.join("sub");
        std::fs::create_dir(&sub).unwrap();
        // A v1 cpuset takes no process before it has CPUs and memory nodes.
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if sub.join(file).exists() && !dir.join("cgroup.controllers").exists() {
                std::fs::write(sub.join(file), std::fs::read(dir.join(file)).unwrap()).unwrap();
            }
        }
    }
    // The container's cgroup namespace has its cgroup as the root.
    let out = exec(&rt, &["--cgroup", "sub", &id, "cat", "/proc/self/cgroup"]).ok();
    assert!(out.stdout.lines().all(|l| l.ends_with(":/sub")), "{out}");
    if !spec_tests::cgroups_util::is_pure_v2() {
        // cgroup v1: per controller.
        let out = exec(
            &rt,
            &["--cgroup", "memory:sub", &id, "cat", "/proc/self/cgroup"],
        )
        .ok();
        for line in out.stdout.lines() {
            let want = if line.contains(":memory:") {
                ":/sub"
            } else {
                ":/"
            };
            assert!(line.ends_with(want), "{line}: {out}");
        }
    }
}

#[test]
fn exec_cpu_affinity_of_the_config_is_for_exec_only() {
    let rt = Runtime::berth();
    let mut bundle = sleeper();
    bundle.config["process"]["execCPUAffinity"] = json!({"final": "0"});
    let id = running(&rt, &bundle);
    let allowed = |pid: &str| {
        let path = format!("/proc/{pid}/status");
        let out = exec(&rt, &[&id, "grep", "Cpus_allowed_list", &path]).ok();
        status_field(&out.stdout, "Cpus_allowed_list")
            .unwrap()
            .to_owned()
    };
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    assert_eq!(allowed("self"), "0");
    assert_eq!(allowed("1"), online.trim(), "init got execCPUAffinity");
}

/// Until its execve a container process is berth: not dumpable, so nothing
/// in the container can open its /proc files (`exe` is the host's binary).
/// Seen through init, which runs startContainer hooks in the container after
/// the steps it shares with exec'd processes.
#[test]
fn processes_are_not_dumpable_before_execve() {
    let rt = Runtime::berth();
    let mut bundle = Bundle::new(&["true"]);
    bundle.config["root"]["readonly"] = json!(false);
    bundle.config["hooks"] = json!({"startContainer": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", "if readlink /proc/1/exe; then echo EXE-REACHABLE; else echo EXE-DENIED; fi > /exe.txt; \\
                cat /proc/1/environ > /dev/null 2>&1 || echo ENVIRON-DENIED >> /exe.txt"]
    }]});
    rt.run(&bundle, &unique_name("dump")).ok();
    let out = std::fs::read_to_string(bundle.rootfs().join("exe.txt")).unwrap();
    assert_eq!(out, "EXE-DENIED\nENVIRON-DENIED\n");
}

/// A profile with SCMP_ACT_NOTIFY: the exec'd process's listener reaches the
/// agent at listenerPath (after init's, sent at create) with the container's
/// state and the process's pid, and the agent answers its calls.
#[test]
fn seccomp_notify_listener_of_an_exec() {
    let rt = Runtime::berth();
    let socket = rt.work_dir().join("agent.sock");
    let agent = ConsoleSocket::bind(&socket);
    let mut bundle = sleeper();
    bundle.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": socket,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let agent = std::thread::spawn(move || {
        let (_init_listener, _) = agent.receive_fd(WAIT);
        let (fd, payload) = agent.receive_fd(WAIT);
        let answered = spec_tests::answer_seccomp_notifications(&fd, WAIT);
        (payload, answered)
    });
    let id = running(&rt, &bundle);
    let pid_file = rt.work_dir().join("exec.pid");
    let out = exec(
        &rt,
        &[
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
            "sh",
            "-c",
            "mkdir /tmp/n; echo mkdir=$?",
        ],
    );
    rt.delete_force(&id).ok();
    let (payload, answered) = agent.join().unwrap();
    let state: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["state"]["id"], id.as_str(), "{state}");
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(state["pid"].as_i64(), Some(pid), "{state}");
    assert!(answered >= 1, "the agent saw no mkdir: {out}");
    assert!(out.stderr.contains("No medium found"), "{out}");
    assert_eq!(out.stdout, "mkdir=1\n", "{out}");
}

/// `exec DETACH --pid-file PID_FILE ID sleep 999`; the exec'd pid.
fn detached_sleep(rt: &Runtime, id: &str, pid_file: &Path, detach: &str) -> i64 {
    exec(
        rt,
        &[
            detach,
            "--pid-file",
            pid_file.to_str().unwrap(),
            id,
            "sleep",
            "999",
        ],
    )
    .ok();
    std::fs::read_to_string(pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The process `pid` is gone or a zombie.
fn exited(pid: i64) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))
}
