//! `pause` and `resume`: freezing and thawing every process of a container
//! (v1 freezer or v2 `cgroup.freeze`, see [`crate::cgroups`]).

use crate::cgroups::{CgroupError, CgroupManager};
use crate::container::status;
use crate::state::{ContainerState, StateDir, Status};
use crate::Error;
use std::path::Path;

pub(crate) fn cgroup_of(state: &ContainerState) -> Result<&CgroupManager, Error> {
    state
        .cgroup
        .as_ref()
        .ok_or_else(|| CgroupError::NoCgroup(state.id.clone()).into())
}

/// Freezes a running (or created) container, as runc.
pub fn pause(root: &Path, id: &str) -> Result<(), Error> {
    let dir = StateDir::open(root, id)?;
    let state = dir.load()?;
    match status(&dir.path, &state) {
        Status::Running | Status::Created => Ok(cgroup_of(&state)?.freeze()?),
        Status::Stopped => Err(Error::NotRunning(id.to_owned())),
        st => Err(Error::WrongStatus {
            id: id.to_owned(),
            op: "pause",
            status: st,
        }),
    }
}

/// Thaws a paused container.
pub fn resume(root: &Path, id: &str) -> Result<(), Error> {
    let dir = StateDir::open(root, id)?;
    let state = dir.load()?;
    match status(&dir.path, &state) {
        Status::Paused => Ok(cgroup_of(&state)?.thaw()?),
        st => Err(Error::WrongStatus {
            id: id.to_owned(),
            op: "resume",
            status: st,
        }),
    }
}
