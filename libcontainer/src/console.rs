//! `process.terminal` with `--console-socket`: the pty is made inside the
//! container's devpts, its master sent to the socket with SCM_RIGHTS, and its
//! slave becomes the container's stdio and controlling terminal.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("console socket {path}: {source}")]
    Connect {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("console: {what}: {source}")]
    Pty {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn pty_err(what: &'static str) -> impl FnOnce(nix::Error) -> ConsoleError {
    move |e| ConsoleError::Pty {
        what,
        source: e.into(),
    }
}

/// Connects to the console socket (in the parent, before the clone).
pub fn connect(path: &Path) -> Result<OwnedFd, ConsoleError> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let err = |source| ConsoleError::Connect {
        path: path.to_owned(),
        source,
    };
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(err)?;
    let addr = UnixAddr::new(path).map_err(err)?;
    connect(fd.as_raw_fd(), &addr).map_err(err)?;
    Ok(fd)
}

/// `process.consoleSize` as (rows, columns), saturated to what a pty takes.
pub fn size_of(process: &oci_spec::runtime::Process) -> Option<(u16, u16)> {
    process.console_size().map(|b| {
        (
            u16::try_from(b.height()).unwrap_or(u16::MAX),
            u16::try_from(b.width()).unwrap_or(u16::MAX),
        )
    })
}

/// Init's console: a pty from [`open_pty`] that is also bind-mounted over
/// `/dev/console`, as runc and the spec's console section do it.
pub fn create(
    root: BorrowedFd,
    socket: BorrowedFd,
    size: Option<(u16, u16)>,
) -> Result<OwnedFd, ConsoleError> {
    let slave = open_pty(root, socket, size)?;
    if let Ok(target) = crate::mounts::create_in_root(root, Path::new("/dev/console"), true) {
        let _ = nix::mount::mount(
            Some(&PathBuf::from(format!(
                "/proc/self/fd/{}",
                slave.as_raw_fd()
            ))),
            &crate::mounts::fd_path(&target),
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        );
    }
    Ok(slave)
}

/// Opens a pty in the devpts instance mounted at `<root>/dev/pts`, gives it
/// `size` (`process.consoleSize`: rows, columns), sends its master over
/// `socket` and returns the slave. `exec` uses this alone: an exec'd
/// process's terminal is not the container's console.
pub fn open_pty(
    root: BorrowedFd,
    socket: BorrowedFd,
    size: Option<(u16, u16)>,
) -> Result<OwnedFd, ConsoleError> {
    let ptmx = crate::sys::openat2_in_root(
        root,
        Path::new("/dev/pts/ptmx"),
        libc::O_RDWR | libc::O_NOCTTY,
        0,
    )
    .map_err(|source| ConsoleError::Pty {
        what: "open /dev/pts/ptmx",
        source,
    })?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one c_int; ptmx is a pty master.
    if unsafe { libc::ioctl(ptmx.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(ConsoleError::Pty {
            what: "unlockpt",
            source: std::io::Error::last_os_error(),
        });
    }
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize; ptmx is a pty master.
        if unsafe { libc::ioctl(ptmx.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(ConsoleError::Pty {
                what: "process.consoleSize (TIOCSWINSZ)",
                source: std::io::Error::last_os_error(),
            });
        }
    }
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one c_uint into n.
    if unsafe { libc::ioctl(ptmx.as_raw_fd(), libc::TIOCGPTN, &mut n) } < 0 {
        return Err(ConsoleError::Pty {
            what: "TIOCGPTN",
            source: std::io::Error::last_os_error(),
        });
    }
    let slave = peer_of(&ptmx)?;
    let fds = [ptmx.as_raw_fd()];
    let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
    let name = format!("/dev/pts/{n}");
    nix::sys::socket::sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(name.as_bytes())],
        &cmsg,
        nix::sys::socket::MsgFlags::empty(),
        None,
    )
    .map_err(pty_err("send pty master"))?;
    Ok(slave)
}

/// The slave of the pty master `ptmx`, from the master itself
/// (TIOCGPTPEER): never `/dev/pts/N` looked up again, which a mount in the
/// container could have replaced.
fn peer_of(ptmx: &OwnedFd) -> Result<OwnedFd, ConsoleError> {
    // SAFETY: TIOCGPTPEER takes open flags as its integer argument and
    // returns a new fd.
    let fd = unsafe {
        libc::ioctl(
            ptmx.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(ConsoleError::Pty {
            what: "TIOCGPTPEER",
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Makes `slave` the controlling terminal and fds 0-2 (init is a session leader).
pub fn become_stdio(slave: &OwnedFd) -> Result<(), ConsoleError> {
    // SAFETY: TIOCSCTTY takes an int argument; slave is a valid tty fd.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(ConsoleError::Pty {
            what: "TIOCSCTTY",
            source: std::io::Error::last_os_error(),
        });
    }
    nix::unistd::dup2_stdin(slave.as_fd()).map_err(pty_err("dup2"))?;
    nix::unistd::dup2_stdout(slave.as_fd()).map_err(pty_err("dup2"))?;
    nix::unistd::dup2_stderr(slave.as_fd()).map_err(pty_err("dup2"))?;
    Ok(())
}
