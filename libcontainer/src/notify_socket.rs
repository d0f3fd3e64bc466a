//! `NOTIFY_SOCKET` (sd_notify), proxied as runc does it. When berth runs
//! with NOTIFY_SOCKET set (systemd, podman's `--sdnotify=container`):
//!
//! - `create` bind-mounts the directory `notify/` of the container's state
//!   directory read-only at /run/notify and sets
//!   `NOTIFY_SOCKET=/run/notify/notify.sock` in the process's environment;
//! - `start` (and `run`) listens on `notify/notify.sock` before the process
//!   runs, and waits until the container sends a datagram with a line
//!   `READY=...` (or ends): it passes that line on to the caller's socket,
//!   then `MAINPID=`, then `BARRIER=1` with a pipe, whose closing by the
//!   caller acknowledges everything.

use nix::poll::{PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::{MountBuilder, Spec};
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// The caller's socket is named by this variable of berth's environment.
pub const ENV: &str = "NOTIFY_SOCKET";
const DIR: &str = "notify";
const SOCKET: &str = "notify.sock";
const DIR_IN_CONTAINER: &str = "/run/notify";
/// How long the caller may take to acknowledge (runc's figure).
const BARRIER_TIMEOUT_MS: u16 = 30_000;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET: {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("NOTIFY_SOCKET: {what}: {source}")]
    Sys {
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("NOTIFY_SOCKET {path}: the caller did not acknowledge BARRIER=1 within 30 s")]
    Barrier { path: PathBuf },
}

/// The caller's notify socket, when there is one.
pub fn host_socket() -> Option<PathBuf> {
    std::env::var_os(ENV)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
}

/// `create`: the mount of the socket's directory (in the state directory
/// `state_dir`, absolute) and the environment entry, when berth has a
/// NOTIFY_SOCKET.
pub fn add_to_spec(spec: &mut Spec, state_dir: &Path) {
    if host_socket().is_none() {
        return;
    }
    let mount = MountBuilder::default()
        .destination(DIR_IN_CONTAINER)
        .source(state_dir.join(DIR))
        .typ("bind")
        .options(
            ["bind", "nosuid", "noexec", "nodev", "ro"]
                .map(String::from)
                .to_vec(),
        )
        .build()
        .expect("every field of the mount is set");
    spec.mounts_mut().get_or_insert_with(Vec::new).push(mount);
    if let Some(process) = spec.process_mut() {
        process
            .env_mut()
            .get_or_insert_with(Vec::new)
            .push(format!("{ENV}={DIR_IN_CONTAINER}/{SOCKET}"));
    }
}

/// `create`: makes the socket's directory in the state directory, before
/// init mounts it.
pub fn make_dir(state_dir: &Path) -> Result<(), NotifyError> {
    if host_socket().is_none() {
        return Ok(());
    }
    let dir = state_dir.join(DIR);
    std::fs::create_dir(&dir).map_err(|source| NotifyError::Io {
        what: "mkdir",
        path: dir,
        source,
    })
}

/// The socket the container's process notifies, listening.
pub struct Listener {
    socket: UnixDatagram,
    host: PathBuf,
}

impl Listener {
    /// `start`: listens in the container's state directory, before the
    /// process runs; `None` without a NOTIFY_SOCKET.
    pub fn bind(state_dir: &Path) -> Result<Option<Self>, NotifyError> {
        let Some(host) = host_socket() else {
            return Ok(None);
        };
        let path = state_dir.join(DIR).join(SOCKET);
        let io = |what| {
            let path = path.clone();
            move |source| NotifyError::Io { what, path, source }
        };
        // A socket left by an earlier start that failed.
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).map_err(io("bind"))?;
        // Any user of the container may notify.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .map_err(io("chmod"))?;
        Ok(Some(Self { socket, host }))
    }

    /// Waits for the container's `READY=` (or for the process behind
    /// `pidfd` to end), and passes it on to the caller with `main_pid`.
    pub fn forward_ready(&self, pidfd: BorrowedFd, main_pid: i32) -> Result<(), NotifyError> {
        let mut buf = vec![0u8; 4096];
        loop {
            let mut fds = [
                PollFd::new(self.socket.as_fd(), PollFlags::POLLIN),
                PollFd::new(pidfd, PollFlags::POLLIN),
            ];
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(source) => {
                    return Err(NotifyError::Sys {
                        what: "poll",
                        source,
                    })
                }
                Ok(_) => {}
            }
            let readable = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            if readable(&fds[0]) {
                let n = self
                    .socket
                    .recv(&mut buf)
                    .map_err(|source| NotifyError::Io {
                        what: "recv",
                        path: PathBuf::from(DIR_IN_CONTAINER).join(SOCKET),
                        source,
                    })?;
                let ready = buf[..n]
                    .split(|b| *b == b'\n')
                    .find(|line| line.starts_with(b"READY="));
                if let Some(line) = ready {
                    return self.notify_host(line, main_pid);
                }
            } else if readable(&fds[1]) {
                return Ok(()); // the container ended without READY
            }
        }
    }

    fn notify_host(&self, ready: &[u8], main_pid: i32) -> Result<(), NotifyError> {
        let io = |what| {
            let path = self.host.clone();
            move |source| NotifyError::Io { what, path, source }
        };
        let client = UnixDatagram::unbound().map_err(io("socket"))?;
        connect(&client, &self.host).map_err(io("connect"))?;
        client.send(&[ready, b"\n"].concat()).map_err(io("send"))?;
        client
            .send(format!("MAINPID={main_pid}\n").as_bytes())
            .map_err(io("send"))?;
        // BARRIER=1 with the write end of a pipe: the caller closes it once
        // it has handled everything sent before.
        let (read_end, write_end) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|source| {
                NotifyError::Sys {
                    what: "pipe",
                    source,
                }
            })?;
        let fds = [write_end.as_raw_fd()];
        nix::sys::socket::sendmsg::<()>(
            client.as_raw_fd(),
            &[IoSlice::new(b"BARRIER=1")],
            &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
            nix::sys::socket::MsgFlags::empty(),
            None,
        )
        .map_err(|source| NotifyError::Sys {
            what: "sendmsg BARRIER=1",
            source,
        })?;
        drop(write_end);
        let mut fds = [PollFd::new(read_end.as_fd(), PollFlags::POLLIN)];
        loop {
            match nix::poll::poll(&mut fds, PollTimeout::from(BARRIER_TIMEOUT_MS)) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(source) => {
                    return Err(NotifyError::Sys {
                        what: "poll",
                        source,
                    })
                }
                Ok(0) => {
                    return Err(NotifyError::Barrier {
                        path: self.host.clone(),
                    })
                }
                Ok(_) => return Ok(()),
            }
        }
    }
}

/// Connects to a path, or with a leading '@' to an abstract socket name.
fn connect(client: &UnixDatagram, host: &Path) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    match host.as_os_str().as_bytes().strip_prefix(b"@") {
        Some(name) => {
            client.connect_addr(&std::os::unix::net::SocketAddr::from_abstract_name(name)?)
        }
        None => client.connect(host),
    }
}
