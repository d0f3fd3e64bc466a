//! Handing the notification listener to the seccomp agent at `listenerPath`.
//!
//! As the runtime-spec says (and runc and crun do): one message on a
//! connection to the unix socket, carrying the container process state as
//! its payload and the listener fd (SCM_RIGHTS), named `seccompFd` in `fds`.

use super::{Listener, SeccompError};
use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The runtime-spec's "container process state".
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ProcessState<'a> {
    oci_version: &'static str,
    fds: [&'static str; 1],
    pid: i32,
    metadata: &'a str,
    state: serde_json::Value,
}

/// Sends `fd` with the state of the process `pid` (`state_json` is the
/// container's OCI state) to the agent listening at `listener.path`.
pub fn send_listener(
    listener: &Listener,
    fd: BorrowedFd,
    pid: i32,
    state_json: &str,
) -> Result<(), SeccompError> {
    let what = || format!("sending the notify fd to {}", listener.path.display());
    let io = |e: nix::Error| SeccompError::Io {
        what: what(),
        source: e.into(),
    };
    let payload = serde_json::to_vec(&ProcessState {
        oci_version: crate::container::OCI_VERSION,
        fds: ["seccompFd"],
        pid,
        metadata: &listener.metadata,
        state: serde_json::from_str(state_json).unwrap_or(serde_json::Value::Null),
    })
    .map_err(|e| SeccompError::Io {
        what: what(),
        source: e.into(),
    })?;
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io)?;
    let addr = UnixAddr::new(&listener.path).map_err(io)?;
    connect(sock.as_raw_fd(), &addr).map_err(io)?;
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(&payload)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(io)?;
    Ok(())
}

/// Takes a process's listener (its fd number `fd`) with pidfd_getfd and
/// sends it to the profile's agent with the state of the process `pid`.
pub fn hand_over(
    program: &super::Program,
    pidfd: BorrowedFd,
    fd: i32,
    pid: i32,
    state_json: &str,
) -> Result<(), SeccompError> {
    let listener = program.listener().ok_or_else(|| {
        SeccompError::invalid(
            "linux.seccomp",
            "a process sent a listener the profile does not ask for",
        )
    })?;
    let fd = crate::sys::pidfd_getfd(pidfd, fd).map_err(|source| SeccompError::Io {
        what: "pidfd_getfd (the seccomp listener)".into(),
        source,
    })?;
    use std::os::fd::AsFd;
    send_listener(listener, fd.as_fd(), pid, state_json)
}
