//! `/dev` inside the container: the default devices, `linux.devices`, and
//! the standard symlinks.

use crate::mounts::create_in_root;
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("device {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("device {path}: type {typ:?} cannot be created")]
    BadType { path: PathBuf, typ: &'static str },
}

/// A device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices every container gets (runtime-spec "Default Devices").
pub fn default_devices() -> Vec<DeviceNode> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| DeviceNode {
        path: Path::new("/dev").join(name),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

impl TryFrom<&LinuxDevice> for DeviceNode {
    type Error = DeviceError;

    fn try_from(dev: &LinuxDevice) -> Result<Self, DeviceError> {
        let kind = match dev.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(DeviceError::BadType {
                    path: dev.path().clone(),
                    typ: "a",
                })
            }
        };
        Ok(Self {
            path: dev.path().clone(),
            kind,
            major: dev.major() as u64,
            minor: dev.minor() as u64,
            mode: dev.file_mode().unwrap_or(0o666) & 0o7777,
            uid: dev.uid().unwrap_or(0),
            gid: dev.gid().unwrap_or(0),
        })
    }
}

/// Creates `nodes` under the rootfs, replacing nothing that exists.
/// In a user namespace mknod is not allowed: the host's node is bind-mounted instead.
pub fn create_devices(
    root: BorrowedFd,
    nodes: &[DeviceNode],
    bind_from_host: bool,
) -> Result<(), DeviceError> {
    for node in nodes {
        create_device(root, node, bind_from_host).map_err(|source| DeviceError::Create {
            path: node.path.clone(),
            source,
        })?;
    }
    Ok(())
}

fn create_device(root: BorrowedFd, node: &DeviceNode, bind_from_host: bool) -> std::io::Result<()> {
    let parent = node.path.parent().unwrap_or(Path::new("/"));
    let name = node
        .path
        .file_name()
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let dir = create_in_root(root, parent, false)?;
    // An O_PATH fd cannot be used with mknodat: reopen the directory.
    let dir = crate::sys::openat2_in_root(root, parent, libc::O_DIRECTORY | libc::O_RDONLY, 0)
        .or_else(|_| Ok::<_, std::io::Error>(dir))?;
    if bind_from_host {
        let target = create_in_root(root, &node.path, true)?;
        nix::mount::mount(
            Some(&node.path),
            &crate::mounts::fd_path(&target),
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )?;
        return Ok(());
    }
    match nix::unistd::unlinkat(dir.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    let dev = nix::sys::stat::makedev(node.major, node.minor);
    nix::sys::stat::mknodat(
        dir.as_fd(),
        name,
        node.kind,
        Mode::from_bits_truncate(node.mode),
        dev,
    )?;
    nix::unistd::fchownat(
        dir.as_fd(),
        name,
        Some(node.uid.into()),
        Some(node.gid.into()),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    Ok(())
}

/// /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr, /dev/ptmx → pts/ptmx, and
/// /dev/core → /proc/kcore when there is one.
pub fn create_symlinks(root: BorrowedFd, ptmx: bool) -> Result<(), DeviceError> {
    let dev = crate::sys::openat2_in_root(
        root,
        Path::new("/dev"),
        libc::O_DIRECTORY | libc::O_RDONLY,
        0,
    )
    .map_err(|source| DeviceError::Create {
        path: "/dev".into(),
        source,
    })?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if ptmx {
        links.push(("pts/ptmx", "ptmx"));
    }
    // As runc: /dev/core where the kernel has a /proc/kcore.
    if std::path::Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        if name == "ptmx" {
            let _ =
                nix::unistd::unlinkat(dev.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
        match nix::unistd::symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => {
                return Err(DeviceError::Create {
                    path: Path::new("/dev").join(name),
                    source: e.into(),
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_specs() {
        let names: Vec<_> = default_devices()
            .iter()
            .map(|d| d.path.display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty"
            ]
        );
    }

    #[test]
    fn linux_device_converts() {
        let dev: LinuxDevice = serde_json::from_str(
            r#"{"path":"/dev/fuse","type":"c","major":10,"minor":229,"fileMode":8630,"uid":5}"#,
        )
        .unwrap();
        let node = DeviceNode::try_from(&dev).unwrap();
        assert_eq!(
            (node.major, node.minor, node.mode, node.uid, node.gid),
            (10, 229, 0o666, 5, 0)
        );
        assert_eq!(node.kind, SFlag::S_IFCHR);
    }
}
