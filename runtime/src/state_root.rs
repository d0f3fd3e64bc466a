//! Where container state lives when `--root` is not given, as runc decides
//! it: `$XDG_RUNTIME_DIR/berth` for an unprivileged user (or a non-root
//! user's root in a user namespace), `/run/berth` otherwise.

use std::path::PathBuf;

const SYSTEM_ROOT: &str = "/run/berth";

/// runc's `shouldHonorXDGRuntimeDir`.
fn xdg_runtime_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty())?;
    if !nix::unistd::geteuid().is_root() {
        return Some(dir.into());
    }
    // Root of the host keeps /run/berth even with XDG_RUNTIME_DIR set
    // (/run/user/0); root in a user namespace uses it unless USER is root.
    let honoured = libcontainer::userns::running_in_user_namespace()
        && std::env::var("USER").map_or(true, |u| u != "root");
    honoured.then(|| dir.into())
}

/// The default `--root`.
pub fn default_root() -> PathBuf {
    xdg_runtime_dir().map_or_else(|| PathBuf::from(SYSTEM_ROOT), |d| d.join("berth"))
}

/// A state root under XDG_RUNTIME_DIR is made private and sticky, so that
/// the session manager's clean-up does not prune it (the XDG basedir spec;
/// runc does the same).
pub fn prepare(root: &std::path::Path) -> std::io::Result<()> {
    if xdg_runtime_dir().is_none_or(|d| d.join("berth") != root) {
        return Ok(());
    }
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o1700))
}
