//! `process.user`: uid, gid, additional gids, umask.

use oci_spec::runtime::User;

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },
    #[error("process.user.additionalGids: cannot set any additional groups in a user namespace whose setgroups is denied (a rootless container)")]
    GroupsDenied,
}

fn err(what: impl Into<String>) -> impl FnOnce(nix::Error) -> CredentialsError {
    let what = what.into();
    move |source| CredentialsError::Sys { what, source }
}

/// Switches to the container user, keeping capabilities across the switch
/// (they are then set from the spec).
pub fn switch_user(user: &User, in_user_ns: bool, keep_caps: bool) -> Result<(), CredentialsError> {
    use nix::unistd::{Gid, Uid};
    if keep_caps {
        nix::sys::prctl::set_keepcaps(true).map_err(err("PR_SET_KEEPCAPS"))?;
    }
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // setgroups is denied in a user namespace whose setgroups file says
    // deny (a rootless container's): the groups stay as they are, and
    // asking for more is an error, as with runc.
    let setgroups_allowed = !in_user_ns
        || std::fs::read_to_string("/proc/self/setgroups")
            .map(|s| s.trim() == "allow")
            .unwrap_or(false);
    if setgroups_allowed {
        nix::unistd::setgroups(&groups).map_err(err("setgroups"))?;
    } else if !groups.is_empty() {
        return Err(CredentialsError::GroupsDenied);
    }
    let gid = Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).map_err(err(format!("setresgid({})", user.gid())))?;
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).map_err(err(format!("setresuid({})", user.uid())))?;
    if keep_caps {
        nix::sys::prctl::set_keepcaps(false).map_err(err("PR_SET_KEEPCAPS"))?;
    }
    Ok(())
}

/// The umask for the process: the spec's, or 0022 as runc.
pub fn apply_umask(user: &User) {
    let mask = user.umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        mask as libc::mode_t,
    ));
}
