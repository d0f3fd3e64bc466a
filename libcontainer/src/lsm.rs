//! `process.apparmorProfile` and `process.selinuxLabel` for a process about
//! to exec (exec's `--apparmor` and `--process-label`), as runc does them:
//! the label is written to the process's `attr/exec`, which the kernel
//! applies at the next execve. With the LSM off the write fails and the
//! process does not run; an SELinux label is refused up front when SELinux
//! is off ([`check`]), with runc's message.

use oci_spec::runtime::Process;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    #[error("apparmor failed to apply profile {profile:?}: write {path}: {source} (is AppArmor enabled on this host?)")]
    AppArmor {
        profile: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("selinux label is specified in config, but selinux is disabled or not supported")]
    SelinuxDisabled,
    #[error("selinux failed to set the exec label {label:?}: write {path}: {source}")]
    Selinux {
        label: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// Refuses what cannot be applied before anything is started: an SELinux
/// label on a host without SELinux.
pub fn check(process: &Process) -> Result<(), LsmError> {
    if non_empty(process.selinux_label()).is_some() && !selinux_enabled() {
        return Err(LsmError::SelinuxDisabled);
    }
    Ok(())
}

/// SELinux is on when its file system is mounted, as go-selinux decides.
fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Writes the profile and label to this thread's `attr/exec` (in the
/// process, just before the capability drop).
pub fn apply(process: &Process) -> Result<(), LsmError> {
    if let Some(profile) = non_empty(process.apparmor_profile()) {
        // AppArmor's own directory on kernels with LSM stacking, else the
        // shared file.
        let own = Path::new("/proc/thread-self/attr/apparmor/exec");
        let path = if own.exists() {
            own.to_owned()
        } else {
            PathBuf::from("/proc/thread-self/attr/exec")
        };
        std::fs::write(&path, format!("exec {profile}")).map_err(|source| LsmError::AppArmor {
            profile: profile.to_owned(),
            path,
            source,
        })?;
    }
    if let Some(label) = non_empty(process.selinux_label()) {
        let path = PathBuf::from("/proc/thread-self/attr/exec");
        std::fs::write(&path, label).map_err(|source| LsmError::Selinux {
            label: label.to_owned(),
            path,
            source,
        })?;
    }
    Ok(())
}
