//! `linux.sysctl`: namespaced kernel parameters, written from inside the
//! container's namespaces.

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[error("sysctl {key}: {source}")]
pub struct SysctlError {
    key: String,
    #[source]
    source: std::io::Error,
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

pub fn path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/"))
}

pub fn apply(sysctl: &std::collections::HashMap<String, String>) -> Result<(), SysctlError> {
    for (key, value) in sysctl {
        std::fs::write(path(key), value).map_err(|source| SysctlError {
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
            std::path::PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
    }
}
