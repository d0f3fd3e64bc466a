//! `linux.sysctl`: namespaced kernel parameters, written from inside the
//! container's namespaces through the verified procfs handle of
//! [`crate::procfs`].

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[error("sysctl {key}: {source}")]
pub struct SysctlError {
    key: String,
    #[source]
    source: crate::procfs::ProcfsError,
}

/// A key is allowed only when it belongs to a namespace the container has
/// its own of (as runc's validator).
pub fn check_key(key: &str, spec: &Spec) -> Result<(), String> {
    let has = |t| crate::spec::namespace(spec, t).is_some();
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        return if has(LinuxNamespaceType::Ipc) {
            Ok(())
        } else {
            Err("needs an ipc namespace".into())
        };
    }
    if key.starts_with("net.") {
        return if has(LinuxNamespaceType::Network) {
            Ok(())
        } else {
            Err("needs a network namespace".into())
        };
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        return if has(LinuxNamespaceType::Uts) {
            Ok(())
        } else {
            Err("needs a uts namespace".into())
        };
    }
    Err("is not a namespaced sysctl".into())
}

/// The key's file, relative to /proc.
pub fn path(key: &str) -> PathBuf {
    PathBuf::from("sys").join(key.replace('.', "/"))
}

pub fn apply(
    proc: &crate::procfs::Procfs,
    sysctl: &std::collections::HashMap<String, String>,
) -> Result<(), SysctlError> {
    for (key, value) in sysctl {
        proc.write(&path(key), value.as_bytes())
            .map_err(|source| SysctlError {
                key: key.clone(),
                source,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_to_path() {
        assert_eq!(
            super::path("net.ipv4.ip_forward"),
            std::path::PathBuf::from("sys/net/ipv4/ip_forward")
        );
    }
}
