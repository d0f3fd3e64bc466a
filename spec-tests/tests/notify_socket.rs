//! NOTIFY_SOCKET (sd_notify) proxied as runc does: berth run with
//! NOTIFY_SOCKET set gives the container /run/notify/notify.sock, and
//! `start` passes the container's READY=1 on to the caller's socket with
//! MAINPID and a BARRIER=1, returning once the caller has acknowledged it.

use serde_json::json;
use spec_tests::{unique_name, wait_timeout, Bundle, Runtime};
use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::Duration;

/// A bundle whose process can run the test's sd_notify client at
/// /sd_notify (a host binary: the host's libraries are mounted too).
fn notify_bundle(script: &str) -> Bundle {
    let mut bundle = Bundle::sh(script);
    let ro_bind = |src: &str, dst: &str| json!({"destination": dst, "type": "bind", "source": src, "options": ["rbind", "ro"]});
    bundle.add_mount(ro_bind(env!("CARGO_BIN_EXE_sd_notify"), "/sd_notify"));
    for dir in ["/lib/x86_64-linux-gnu", "/lib64"] {
        bundle.add_mount(ro_bind(dir, dir));
    }
    bundle
}

/// The caller's socket: what systemd (or podman) would listen on.
fn host_socket(rt: &Runtime) -> (UnixDatagram, String) {
    let path = rt.work_dir().join("host-notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    (socket, path.display().to_string())
}

fn recv(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("a message on the host socket");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn ready_is_passed_on_with_mainpid_and_a_barrier() {
    let rt = Runtime::berth();
    let (host, host_path) = host_socket(&rt);
    // The container checks what it was given, then notifies.
    let bundle = notify_bundle(
        "[ \"$NOTIFY_SOCKET\" = /run/notify/notify.sock ] || exit 3; \
         grep -q ' /run/notify ro,' /proc/self/mountinfo || exit 4; \
         /sd_notify STATUS=starting; /sd_notify READY=1 STATUS=up; exec sleep 60",
    );
    bundle.save();
    let id = unique_name("notify");
    let mut create = rt.command(&["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
    create.env("NOTIFY_SOCKET", &host_path);
    rt.exec_command(create).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();

    let mut start = rt.command(&["start", &id]);
    start
        .env("NOTIFY_SOCKET", &host_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = start.spawn().unwrap();
    // STATUS=starting is not passed on: READY's line is the first message.
    assert_eq!(recv(&host), "READY=1\n");
    assert_eq!(recv(&host), format!("MAINPID={pid}\n"));
    // Receiving it without taking the pipe closes it: the acknowledgement.
    assert_eq!(recv(&host), "BARRIER=1");
    let status = wait_timeout(&mut child, Duration::from_secs(30)).expect("start returns");
    assert!(status.success(), "start failed");
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    rt.delete_force(&id).ok();
}

#[test]
fn start_returns_when_the_container_ends_without_ready() {
    let rt = Runtime::berth();
    let (host, host_path) = host_socket(&rt);
    let bundle = Bundle::new(&["true"]);
    let id = unique_name("notify");
    let mut create = rt.command(&["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
    create.env("NOTIFY_SOCKET", &host_path);
    rt.exec_command(create).ok();
    let mut start = rt.command(&["start", &id]);
    start.env("NOTIFY_SOCKET", &host_path);
    rt.exec_command(start).ok();
    host.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    assert!(host.recv(&mut buf).is_err(), "a message without READY");
    rt.delete(&id).ok();
}

#[test]
fn without_notify_socket_nothing_is_added() {
    let rt = Runtime::berth();
    let bundle =
        Bundle::sh("echo \"[$NOTIFY_SOCKET]\"; grep -c ' /run/notify ' /proc/self/mountinfo; true");
    let mut run = rt.command(&[
        "run",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &unique_name("notify"),
    ]);
    run.env_remove("NOTIFY_SOCKET");
    let out = rt.exec_command(run).ok();
    assert_eq!(out.stdout, "[]\n0\n", "{out}");
}

/// In the foreground `run` stays the main process, as with runc.
#[test]
fn run_in_the_foreground_is_the_main_pid() {
    let rt = Runtime::berth();
    let (host, host_path) = host_socket(&rt);
    let bundle = notify_bundle("/sd_notify READY=1");
    bundle.save();
    let mut run = rt.command(&[
        "run",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &unique_name("notify"),
    ]);
    run.env("NOTIFY_SOCKET", &host_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = run.spawn().unwrap();
    assert_eq!(recv(&host), "READY=1\n");
    assert_eq!(recv(&host), format!("MAINPID={}\n", child.id()));
    assert_eq!(recv(&host), "BARRIER=1");
    let status = wait_timeout(&mut child, Duration::from_secs(30)).expect("run returns");
    assert!(status.success(), "run failed");
}
