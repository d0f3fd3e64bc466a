//! `process.terminal` with `--console-socket`: the pty master comes over
//! the socket with SCM_RIGHTS; the container has the slave as its stdio
//! and controlling terminal.

use serde_json::json;
use spec_tests::{read_until_closed, unique_name, Bundle, ConsoleSocket, Output, Runtime};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn terminal_bundle(script: &str) -> Bundle {
    let mut bundle = Bundle::sh(script);
    bundle.config["process"]["terminal"] = json!(true);
    bundle
}

fn is_pty_master(fd: &OwnedFd) -> bool {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one c_uint; it fails on anything but a pty master.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGPTN, &mut n) == 0 }
}

/// A console socket listening in the runtime's work dir.
fn console_socket(rt: &Runtime) -> ConsoleSocket {
    ConsoleSocket::bind(&rt.work_dir().join("console.sock"))
}

/// `create --console-socket SOCKET` of `bundle` as `id`.
fn create_with_console_socket(
    rt: &Runtime,
    bundle: &Bundle,
    id: &str,
    socket: &ConsoleSocket,
) -> Output {
    rt.create(
        bundle,
        id,
        &["--console-socket", socket.path().to_str().unwrap()],
    )
}

/// What the container wrote to its terminal until the last slave closed,
/// with the terminal's carriage returns taken out.
fn read_terminal(master: &OwnedFd) -> String {
    read_until_closed(master, WAIT).replace('\r', "")
}

#[test]
fn console_socket_gets_the_pty_master() {
    let rt = Runtime::berth();
    let bundle = terminal_bundle(
        "tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo STDIO-IS-TTY; \
         echo > /dev/tty && echo HAS-CTTY; stat -c '%t:%T' /dev/console; \
         ls -l /proc/self/fd/0 | sed 's/.*-> //'",
    );
    let socket = console_socket(&rt);
    let id = unique_name("tty");
    create_with_console_socket(&rt, &bundle, &id, &socket).ok();
    let (master, _name) = socket.receive_fd(WAIT);
    assert!(
        is_pty_master(&master),
        "the fd received is not a pty master"
    );
    rt.start(&id).ok();
    let out = read_terminal(&master);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.first().is_some_and(|l| l.starts_with("/dev/pts/")),
        "{out:?}"
    );
    assert!(lines.contains(&"STDIO-IS-TTY"), "{out:?}");
    assert!(
        lines.contains(&"HAS-CTTY"),
        "no controlling terminal: {out:?}"
    );
    // /dev/console is the pty (major 136 = pts).
    assert!(
        lines.contains(&"88:0") || lines.iter().any(|l| l.starts_with("88:")),
        "{out:?}"
    );
    assert!(rt.wait_status(&id, "stopped", WAIT));
    rt.delete(&id).ok();
}

#[test]
fn console_size_is_applied() {
    let rt = Runtime::berth();
    let mut bundle = terminal_bundle("stty size");
    bundle.config["process"]["consoleSize"] = json!({"height": 37, "width": 123});
    let socket = console_socket(&rt);
    let id = unique_name("ttysize");
    create_with_console_socket(&rt, &bundle, &id, &socket).ok();
    let (master, _) = socket.receive_fd(WAIT);
    rt.start(&id).ok();
    let out = read_terminal(&master);
    assert_eq!(out.trim(), "37 123");
    rt.delete_force(&id).ok();
}

#[test]
fn input_goes_through_the_terminal() {
    let rt = Runtime::berth();
    let bundle = terminal_bundle("read line; echo \"got:$line\"");
    let socket = console_socket(&rt);
    let id = unique_name("ttyin");
    create_with_console_socket(&rt, &bundle, &id, &socket).ok();
    let (master, _) = socket.receive_fd(WAIT);
    rt.start(&id).ok();
    let input = b"hello pty\n";
    // SAFETY: writing a live buffer to an fd we own.
    let n = unsafe { libc::write(master.as_raw_fd(), input.as_ptr().cast(), input.len()) };
    assert_eq!(n, input.len() as isize);
    let out = read_terminal(&master);
    assert!(out.contains("got:hello pty"), "{out:?}");
    rt.delete_force(&id).ok();
}

#[test]
fn run_with_a_console_socket() {
    let rt = Runtime::berth();
    let bundle = terminal_bundle("tty");
    bundle.save();
    let socket = console_socket(&rt);
    let id = unique_name("ttyrun");
    let mut cmd = rt.command(&[
        "run",
        "--console-socket",
        socket.path().to_str().unwrap(),
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let (master, _) = socket.receive_fd(WAIT);
    let out = read_until_closed(&master, WAIT);
    let status = spec_tests::wait_timeout(&mut child, WAIT).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("run with a terminal did not return")
    });
    assert_eq!(status.code(), Some(0));
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
}

#[test]
fn terminal_without_console_socket_is_refused() {
    let rt = Runtime::berth();
    let bundle = terminal_bundle("true");
    let id = unique_name("notty");
    rt.create(&bundle, &id, &[]).fails_with(&["console-socket"]);
    assert!(rt.leftovers().is_empty());
}

#[test]
fn console_socket_without_terminal_is_refused() {
    let rt = Runtime::berth();
    let bundle = Bundle::new(&["true"]);
    let socket = console_socket(&rt);
    let id = unique_name("notty");
    create_with_console_socket(&rt, &bundle, &id, &socket).fails_with(&["terminal"]);
    assert!(rt.leftovers().is_empty());
}

#[test]
fn unreachable_console_socket_is_an_error_naming_it() {
    let rt = Runtime::berth();
    let bundle = terminal_bundle("true");
    let id = unique_name("nosock");
    let path = rt.work_dir().join("nobody-listens.sock");
    rt.create(&bundle, &id, &["--console-socket", path.to_str().unwrap()])
        .fails_with(&["nobody-listens.sock"]);
    assert!(rt.leftovers().is_empty());
}

#[test]
fn without_terminal_stdio_is_what_create_got() {
    let rt = Runtime::berth();
    let bundle =
        Bundle::sh("[ -t 0 ] && echo tty || echo notty; ls -l /proc/self/fd/0 | sed 's/.*-> //'");
    let out = rt.run(&bundle, &unique_name("notty")).ok();
    assert_eq!(out.stdout, "notty\n/dev/null\n");
}
