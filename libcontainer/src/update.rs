//! `update`: new resource limits for a live container. Either every part
//! applies or the old limits are put back (see [`crate::cgroups::CgroupManager::update`]).

use crate::container::status;
use crate::pause::cgroup_of;
use crate::state::{StateDir, Status};
use crate::Error;
use oci_spec::runtime::LinuxResources;
use std::path::Path;

pub fn update(root: &Path, id: &str, resources: &LinuxResources) -> Result<(), Error> {
    let dir = StateDir::open(root, id)?;
    let state = dir.load()?;
    if status(&dir.path, &state) == Status::Stopped {
        return Err(Error::NotRunning(id.to_owned()));
    }
    Ok(cgroup_of(&state)?.update(resources)?)
}
