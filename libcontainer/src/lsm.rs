//! Linux security modules: `process.apparmorProfile`,
//! `process.selinuxLabel` and `linux.mountLabel` (and exec's `--apparmor`
//! and `--process-label`), as runc applies them.
//!
//! - The AppArmor profile and the SELinux label take effect at the exec of
//!   the process: init writes them to `/proc/thread-self/attr/.../exec`.
//!   runc writes the profile whether AppArmor is enabled or not (a host
//!   without it refuses the write: `create` fails); berth does the same.
//! - A SELinux label on a host where SELinux is disabled is refused when
//!   the config is validated, with runc's reason.
//! - The mount label goes into the data of every file system mounted for
//!   the container (not proc, sysfs, mqueue or cgroup) as
//!   `context="LABEL"`, as runc does; a host without SELinux refuses such
//!   a mount.

use oci_spec::runtime::Process;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    #[error("process.apparmorProfile {profile:?}: apparmor failed to apply profile: write {path}: {source} (is AppArmor enabled on this host?)")]
    AppArmor {
        profile: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("selinux label is specified in config, but selinux is disabled or not supported")]
    SelinuxDisabled,
    #[error("process.selinuxLabel {label:?}: can't set process label: write {path}: {source}")]
    SeLinux {
        label: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// True when SELinux is enabled on this host (its file system is mounted).
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// Validation (create's config, exec's process): a SELinux process label
/// needs SELinux (runc's check and message).
pub fn check(process: &Process) -> Result<(), LsmError> {
    if non_empty(process.selinux_label()).is_some() && !selinux_enabled() {
        return Err(LsmError::SelinuxDisabled);
    }
    Ok(())
}

/// `data` of a mount with the container's mount label added.
pub fn with_mount_label(data: &str, label: Option<&str>) -> String {
    match label.filter(|l| !l.is_empty()) {
        None => data.to_owned(),
        Some(label) if data.is_empty() => format!("context=\"{label}\""),
        Some(label) => format!("{data},context=\"{label}\""),
    }
}

/// Writes `value` to this thread's `attr/<sub>` in /proc.
fn write_attr(sub: &str, value: &str) -> Result<(), (PathBuf, std::io::Error)> {
    let path = PathBuf::from(format!("/proc/thread-self/attr/{sub}"));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, value.as_bytes()))
        .map_err(|e| (path, e))
}

/// Sets the AppArmor profile and SELinux label the process gets at exec.
pub fn apply(process: &Process) -> Result<(), LsmError> {
    if let Some(profile) = non_empty(process.apparmor_profile()) {
        // The per-LSM directory of kernels that stack LSMs, else the old one.
        let sub = if Path::new("/proc/thread-self/attr/apparmor/exec").exists() {
            "apparmor/exec"
        } else {
            "exec"
        };
        write_attr(sub, &format!("exec {profile}")).map_err(|(path, source)| {
            LsmError::AppArmor {
                profile: profile.to_owned(),
                path,
                source,
            }
        })?;
    }
    if let Some(label) = non_empty(process.selinux_label()) {
        write_attr("exec", label).map_err(|(path, source)| LsmError::SeLinux {
            label: label.to_owned(),
            path,
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_label_goes_into_the_data() {
        assert_eq!(with_mount_label("mode=755", None), "mode=755");
        assert_eq!(with_mount_label("mode=755", Some("")), "mode=755");
        assert_eq!(
            with_mount_label("mode=755", Some("system_u:object_r:container_file_t:s0")),
            "mode=755,context=\"system_u:object_r:container_file_t:s0\""
        );
        assert_eq!(with_mount_label("", Some("x")), "context=\"x\"");
    }
}
