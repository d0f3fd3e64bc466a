//! `berth network connect|disconnect`: a berth network joins or leaves a
//! container that is running (or created, or paused: its init holds the
//! network namespace), as `docker network connect|disconnect` do. The
//! network layer does the work ([`network::connect`]); this module finds
//! the container's netns, holds its lock and records the change in its
//! state, which `berth state` shows.

use crate::container::status;
use crate::state::{StateDir, Status};
use crate::Error;
use network::model::Endpoint;
use network::request::NetworkRequest;
use network::Networks;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Connects container `id` of `root` to the network `request` names, in
/// the network state directory `state_dir`. Returns the new endpoint.
pub fn connect(
    root: &Path,
    id: &str,
    state_dir: &Path,
    request: &NetworkRequest,
) -> Result<Endpoint, Error> {
    with_netns(
        root,
        id,
        state_dir,
        "connect",
        |networks, owner, netns, plan| networks.connect(id, owner, netns, plan, request),
    )
}

/// Disconnects container `id` of `root` from `network`. Returns the
/// endpoint that went.
pub fn disconnect(
    root: &Path,
    id: &str,
    state_dir: &Path,
    network: &str,
) -> Result<Endpoint, Error> {
    with_netns(
        root,
        id,
        state_dir,
        "disconnect",
        |networks, owner, netns, plan| networks.disconnect(id, owner, netns, plan, network),
    )
}

/// Why a container's networks cannot be changed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot {op} container {id}: it was created without berth's networks, so its network namespace is not berth's to change (create it with --network or the berth.network annotation)")]
    NotBerths { op: &'static str, id: String },
    #[error("cannot {op} container {id}: its networks are in the network state directory {} (--state-dir {} was given)", .recorded.display(), .given.display())]
    OtherStateDir {
        op: &'static str,
        id: String,
        recorded: PathBuf,
        given: PathBuf,
    },
}

/// Runs `change` on container `id`'s network under its lock, with its
/// netns open, and saves the state it leaves. Refuses a stopped container
/// and one whose network is not berth's.
fn with_netns(
    root: &Path,
    id: &str,
    state_dir: &Path,
    op: &'static str,
    change: impl FnOnce(
        &Networks,
        &Path,
        std::os::fd::BorrowedFd<'_>,
        &mut network::ContainerNetwork,
    ) -> network::Result<Endpoint>,
) -> Result<Endpoint, Error> {
    let dir = StateDir::open(root, id)?;
    let mut state = dir.load()?;
    if status(&dir.path, &state) == Status::Stopped {
        return Err(Error::NotRunning(id.to_owned()));
    }
    let netns = open_netns(&dir.path, &state)?;
    let (Some(recorded), Some(plan)) = (&state.network_state_dir, &mut state.network) else {
        return Err(ConnectError::NotBerths {
            op,
            id: id.to_owned(),
        }
        .into());
    };
    let (recorded, given) = (
        crate::create::absolute(recorded),
        crate::create::absolute(state_dir),
    );
    if recorded != given {
        return Err(ConnectError::OtherStateDir {
            op,
            id: id.to_owned(),
            recorded,
            given,
        }
        .into());
    }
    let owner = crate::create::absolute(&dir.path);
    let ep = change(&Networks::open(&recorded)?, &owner, netns.as_fd(), plan)?;
    dir.save(&state)?;
    Ok(ep)
}

/// The network namespace of the container's init, opened while a pidfd
/// proves that the pid still names that init (not a process that reused it).
fn open_netns(dir: &Path, state: &crate::state::ContainerState) -> Result<File, Error> {
    let pidfd = crate::sys::pidfd_open(state.pid).map_err(|source| Error::Io {
        path: format!("pidfd_open({})", state.pid).into(),
        source,
    })?;
    // The pidfd pins the pid: if the start time still matches, it is init.
    if status(dir, state) == Status::Stopped {
        return Err(Error::NotRunning(state.id.clone()));
    }
    let path = PathBuf::from(format!("/proc/{}/ns/net", state.pid));
    let netns = File::open(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    // Alive after the open, so the file is init's netns.
    crate::sys::pidfd_send_signal(pidfd.as_fd(), 0).map_err(|source| Error::Io {
        path: format!("pidfd_send_signal({}, 0)", state.pid).into(),
        source,
    })?;
    Ok(netns)
}
