//! `linux.seccomp`, seen from inside the container: rule actions and their
//! errnos, argument conditions, sub-architectures filtered by their own
//! syscall numbers, a notification agent answering for the container, and
//! podman's default profile.

use serde_json::{json, Value};
use spec_tests::{unique_name, Bundle, ConsoleSocket, Runtime};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn with_profile(script: &str, profile: Value) -> Bundle {
    let mut bundle = Bundle::sh(script);
    bundle.config["linux"]["seccomp"] = profile;
    bundle
}

fn run(bundle: &Bundle) -> spec_tests::Output {
    Runtime::berth().run(bundle, &unique_name("seccomp"))
}

#[test]
fn errno_rules_return_their_errno_and_eperm_by_default() {
    let bundle = with_profile(
        "mkdir /tmp/a; rmdir /nonexistent; grep Seccomp: /proc/self/status",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV},
                {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}
            ]
        }),
    );
    let out = run(&bundle).ok();
    assert!(out.stderr.contains("Invalid cross-device link"), "{out}");
    // Without the filter: "No such file or directory".
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
    assert!(out.stdout.contains("Seccomp:\t2"), "{out}");
}

#[test]
fn argument_conditions_select_calls() {
    // personality(PER_LINUX32) is refused, personality(PER_LINUX) is not;
    // kill(1, 0) is refused (both arguments must match), kill(other, 0) is not.
    let bundle = with_profile(
        "linux64 true && echo linux64-ok; linux32 true || echo linux32-refused; \
         kill -0 1 || echo kill1-refused; sleep 5 & kill -0 $! && echo killother-ok; kill $!",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV,
                 "args": [{"index": 0, "value": 0xffff, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                          {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}
            ]
        }),
    );
    let out = run(&bundle).ok();
    for word in [
        "linux64-ok",
        "linux32-refused",
        "kill1-refused",
        "killother-ok",
    ] {
        assert!(out.stdout.contains(word), "{word}: {out}");
    }
    assert!(out.stderr.contains("Invalid cross-device link"), "{out}");
}

#[test]
fn kill_and_trace_actions() {
    for (action, expect) in [
        ("SCMP_ACT_KILL", "status=159"),
        ("SCMP_ACT_KILL_PROCESS", "status=159"),
        ("SCMP_ACT_KILL_THREAD", "status=159"),
        ("SCMP_ACT_TRAP", "status=159"),
        // No tracer: the call fails with ENOSYS.
        ("SCMP_ACT_TRACE", "Function not implemented"),
    ] {
        let bundle = with_profile(
            "(mkdir /tmp/k 2>&1); echo status=$?",
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": action}]
            }),
        );
        let out = run(&bundle).ok();
        assert!(out.stdout.contains(expect), "{action}: {out}");
    }
}

/// A static program (no libc) that makes one syscall and exits with its
/// errno (0 on success): `X86` by `int $0x80` with i386 numbers, `X32`
/// with an x32 number (0x40000000 | nr), `X86_64` plainly.
#[derive(Clone, Copy)]
enum Abi {
    X86,
    X32,
    X86_64,
}

fn syscall_program(dir: &Path, name: &str, abi: Abi, nr: i64) -> PathBuf {
    let call = match abi {
        Abi::X86 => format!(
            r#"long ret; __asm__ volatile ("int $0x80" : "=a"(ret) : "a"({nr}L), "b"(path), "c"(0755) : "memory");
               long code = ret < 0 ? -ret : 0;
               __asm__ volatile ("int $0x80" : : "a"(1), "b"(code));"#
        ),
        Abi::X32 | Abi::X86_64 => {
            let nr = if matches!(abi, Abi::X32) {
                0x4000_0000 | nr
            } else {
                nr
            };
            format!(
                r#"long ret; __asm__ volatile ("syscall" : "=a"(ret) : "a"({nr}L), "D"(path), "S"(0755) : "rcx", "r11", "memory");
                   long code = ret < 0 ? -ret : 0;
                   __asm__ volatile ("syscall" : : "a"(60L), "D"(code) : "rcx", "r11");"#
            )
        }
    };
    let src = dir.join(format!("{name}.c"));
    std::fs::write(
        &src,
        format!(
            "static const char path[] = \"/tmp/abi\";\nvoid _start(void) {{ {call} for(;;); }}\n"
        ),
    )
    .unwrap();
    let out = dir.join(name);
    let mut cc = Command::new("gcc");
    if matches!(abi, Abi::X86) {
        cc.arg("-m32");
    }
    let status = cc
        .args(["-nostdlib", "-static", "-fno-pie", "-no-pie", "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run gcc (build-essential)");
    assert!(status.success(), "gcc could not build {name}");
    out
}

fn copy_into(bundle: &Bundle, programs: &[&PathBuf]) {
    for p in programs {
        std::fs::copy(p, bundle.rootfs().join(p.file_name().unwrap())).unwrap();
    }
}

#[test]
fn sub_architectures_are_filtered_by_their_own_numbers() {
    let rt = Runtime::berth();
    // mkdir: 39 on i386, 83 in the x32 table.
    let x86 = syscall_program(rt.work_dir(), "abi-x86", Abi::X86, 39);
    let x32 = syscall_program(rt.work_dir(), "abi-x32", Abi::X32, 83);
    let profile = |arches: Value| {
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": arches,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV}]
        })
    };
    let script = "/abi-x86; echo x86=$?; /abi-x32; echo x32=$?";
    let listed = with_profile(
        script,
        profile(json!([
            "SCMP_ARCH_X86_64",
            "SCMP_ARCH_X86",
            "SCMP_ARCH_X32"
        ])),
    );
    let native_only = with_profile(script, profile(json!(["SCMP_ARCH_X86_64"])));
    for bundle in [&listed, &native_only] {
        copy_into(bundle, &[&x86, &x32]);
    }
    // Listed: each ABI's mkdir matches the rule (EXDEV = 18); unlisted:
    // the process is killed for its architecture (SIGSYS: 128 + 31).
    let out = rt.run(&listed, &unique_name("abi")).ok();
    assert!(
        out.stdout.contains("x86=18") && out.stdout.contains("x32=18"),
        "{out}"
    );
    let out = rt.run(&native_only, &unique_name("abi")).ok();
    assert!(
        out.stdout.contains("x86=159") && out.stdout.contains("x32=159"),
        "{out}"
    );
}

/// podman's default profile (as podman converts it for this machine), with
/// podman's noNewPrivileges=false: ordinary work runs, a capability-gated
/// syscall fails with the profile's EPERM, and one the profile does not
/// list (add_key) with its defaultErrnoRet, ENOSYS (EFAULT without it).
#[test]
fn podmans_default_profile() {
    let rt = Runtime::berth();
    let convert = spec_tests::workspace_dir().join("hack/seccomp-oci.py");
    let out = Command::new("python3")
        .arg(&convert)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let profile: Value = serde_json::from_slice(&out.stdout).unwrap();
    let add_key = syscall_program(rt.work_dir(), "add-key", Abi::X86_64, 248);
    let mut bundle = with_profile(
        "ls / >/dev/null && echo ls-ok; /add-key; echo add_key=$?; \
         grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
        profile,
    );
    copy_into(&bundle, &[&add_key]);
    bundle.config["process"]["noNewPrivileges"] = json!(false);
    let out = rt.run(&bundle, &unique_name("podman-profile")).ok();
    assert!(out.stdout.contains("ls-ok"), "{out}");
    assert!(out.stdout.contains("add_key=38"), "{out}");
    assert!(out.stdout.contains("Seccomp:\t2"), "{out}");
    assert!(out.stdout.contains("NoNewPrivs:\t0"), "{out}");
}

/// The notification listener reaches the agent at listenerPath with the
/// container's state, and the agent answers the container's calls; with and
/// without noNewPrivileges (the filter is loaded at two different points).
#[test]
fn notify_agent_answers_for_the_container() {
    for no_new_privs in [true, false] {
        let rt = Runtime::berth();
        let socket = rt.work_dir().join("agent.sock");
        let agent = ConsoleSocket::bind(&socket);
        let id = unique_name("notify");
        let mut bundle = with_profile(
            "mkdir /tmp/n; echo mkdir=$?; echo done",
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": socket,
                "listenerMetadata": "berth-test-metadata",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
            }),
        );
        bundle.config["process"]["noNewPrivileges"] = json!(no_new_privs);
        let agent = std::thread::spawn(move || {
            let (fd, payload) = agent.receive_fd(Duration::from_secs(30));
            let answered = spec_tests::answer_seccomp_notifications(&fd, Duration::from_secs(30));
            (payload, answered)
        });
        let out = rt.run(&bundle, &id).ok();
        let (payload, answered) = agent.join().unwrap();
        let state: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
        assert_eq!(state["metadata"], "berth-test-metadata", "{state}");
        assert_eq!(state["state"]["id"], id.as_str(), "{state}");
        assert!(state["pid"].as_i64().unwrap() > 0, "{state}");
        assert!(answered >= 1, "the agent saw no mkdir");
        // The agent's answer (ENOMEDIUM) is what mkdir got.
        assert!(out.stderr.contains("No medium found"), "{out}");
        assert!(
            out.stdout.contains("mkdir=1") && out.stdout.contains("done"),
            "{out}"
        );
    }
}

#[test]
fn refusals_name_the_field() {
    let rt = Runtime::berth();
    let cases: Vec<(Value, &[&str])> = vec![
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
            &["linux.seccomp.listenerPath"],
        ),
        (
            json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}),
            &["linux.seccomp.defaultAction", "SCMP_ACT_NOTIFY"],
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_LOG", "errnoRet": 1}]}),
            &["linux.seccomp.syscalls[0].errnoRet"],
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                   "args": [{"index": 7, "value": 0, "op": "SCMP_CMP_EQ"}]}]}),
            &["linux.seccomp.syscalls[0].args[0].index"],
        ),
        (
            json!({"defaultAction": "SCMP_ACT_SOMETHING"}),
            &["linux.seccomp.defaultAction", "SCMP_ACT_SOMETHING"],
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                   "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_SOMETIMES"}]}]}),
            &["linux.seccomp.syscalls[0].args[0].op"],
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}),
            &["linux.seccomp.architectures[0]"],
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}),
            &["linux.seccomp.flags[0]"],
        ),
    ];
    for (profile, words) in cases {
        let bundle = with_profile("true", profile);
        let id = unique_name("refused");
        rt.create(&bundle, &id, &[]).fails_with(words);
        assert!(rt.leftovers().is_empty(), "{:?}", rt.leftovers());
    }
}

/// A profile that is compiled once is taken from the state root's cache
/// the next time, and gives the same filter.
#[test]
fn compiled_profiles_are_cached_in_the_state_root() {
    let rt = Runtime::berth();
    let bundle = with_profile(
        "mkdir /tmp/c",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV}]
        }),
    );
    for _ in 0..2 {
        let out = rt.run(&bundle, &unique_name("cache"));
        assert!(out.stderr.contains("Invalid cross-device link"), "{out}");
    }
    let entries = std::fs::read_dir(rt.root().join(".seccomp"))
        .unwrap()
        .count();
    assert_eq!(entries, 1);
}

/// berth execs the container's program through its exec trampoline (see
/// hardening.rs), with `execveat` of a sealed memfd; a profile that refuses
/// `execveat` still runs the container, through `execve` of the memfd's
/// /proc/self/fd link, in the container and in `exec`.
#[test]
fn a_profile_refusing_execveat_still_runs_the_process() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ERRNO"}]
    });
    let rt = Runtime::berth();
    let bundle = with_profile("echo ran", profile.clone());
    let out = rt.run(&bundle, &unique_name("seccomp")).ok();
    assert_eq!(out.stdout, "ran\n");

    let mut bundle = with_profile("", profile);
    bundle.set_args(&["sleep", "100"]);
    let id = unique_name("seccomp");
    rt.create(&bundle, &id, &[]).ok();
    rt.start(&id).ok();
    let out = rt.exec(&["exec", &id, "echo", "exec ran"]).ok();
    assert_eq!(out.stdout, "exec ran\n");
    rt.delete_force(&id).ok();
}
