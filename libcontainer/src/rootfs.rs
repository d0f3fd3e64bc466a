//! The container's root file system: propagation, the rootfs mount, the
//! `mounts` list, the network layer's files, /dev, pivot_root, and the finishing touches after it
//! (masked and read-only paths, read-only root).

use crate::devices::{self, DeviceNode};
use crate::mounts::{self, MountContext};
use nix::mount::MsFlags;
use oci_spec::runtime::Spec;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("rootfs {path}: {what}: {source}")]
    Sys {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("rootfs {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Mount(#[from] mounts::MountError),
    #[error(transparent)]
    Device(#[from] devices::DeviceError),
    #[error(transparent)]
    Mask(#[from] crate::masked_paths::MaskError),
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    #[error("process.cwd {path}: {source}")]
    Cwd {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Maps `linux.rootfsPropagation` to mount flags.
pub fn propagation_flags(mode: &str) -> Option<MsFlags> {
    Some(match mode {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

fn sys_err<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(nix::Error) -> RootfsError + 'a {
    move |source| RootfsError::Sys {
        path: path.to_owned(),
        what,
        source,
    }
}

/// Everything rootfs preparation needs from the create path.
pub struct RootfsSetup<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub new_cgroup_ns: bool,
    pub in_user_ns: bool,
    pub console_socket: Option<&'a OwnedFd>,
    /// The id-mapped copies of `mounts` sources made by the parent, by
    /// index (empty when there are none).
    pub idmapped_mounts: &'a [Option<OwnedFd>],
    /// Files of the network layer mounted after `mounts` ([`crate::network_files`]).
    pub network_files: &'a [crate::network_files::NetworkFile],
    /// True when init joined a mount namespace by path.
    pub joined_mount_ns: bool,
    /// The container's cgroup; None for a rootless container without one.
    pub cgroup: Option<&'a crate::cgroups::CgroupManager>,
}

/// The state of the rootfs between preparation and pivot_root.
pub struct PreparedRootfs {
    /// The pty slave when the container has a terminal.
    pub console: Option<OwnedFd>,
}

/// Runs in init, in its new mount namespace, before pivot_root.
pub fn prepare(setup: &RootfsSetup) -> Result<PreparedRootfs, RootfsError> {
    let spec = setup.spec;
    let rootfs = setup.rootfs;
    // Nothing mounted in here may propagate back to the host.
    let private = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .is_some_and(|p| p.ends_with("private"));
    let base = if private {
        MsFlags::MS_PRIVATE
    } else {
        MsFlags::MS_SLAVE
    };
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        base | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys_err(Path::new("/"), "make / slave"))?;
    nix::mount::mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys_err(rootfs, "bind onto itself"))?;
    let root = nix::fcntl::open(
        rootfs,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| RootfsError::Open {
        path: rootfs.to_owned(),
        source: e.into(),
    })?;

    // berth itself in a user namespace (in a container) has the same limits.
    let in_user_ns = setup.in_user_ns || crate::userns::running_in_user_namespace();
    let ctx = MountContext {
        root: root.as_fd(),
        bundle: setup.bundle,
        new_cgroup_ns: setup.new_cgroup_ns,
        mount_label: spec
            .linux()
            .as_ref()
            .and_then(|l| l.mount_label().as_deref()),
        in_user_ns,
        joined_mount_ns: setup.joined_mount_ns,
        cgroup: setup.cgroup,
    };
    let spec_mounts = spec.mounts().as_deref().unwrap_or(&[]);
    for (i, mount) in spec_mounts.iter().enumerate() {
        let detached = setup.idmapped_mounts.get(i).and_then(Option::as_ref);
        mounts::mount_entry(&ctx, mount, detached.map(|fd| fd.as_fd()))?;
    }
    crate::network_files::mount(root.as_fd(), setup.network_files)?;

    let dev_is_bind = spec_mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || mounts::MountOptions::parse(m.options().as_deref().unwrap_or(&[])).is_bind())
    });
    if !dev_is_bind {
        let mut nodes = devices::default_devices();
        for dev in spec
            .linux()
            .as_ref()
            .and_then(|l| l.devices().as_ref())
            .into_iter()
            .flatten()
        {
            let node = DeviceNode::try_from(dev)?;
            nodes.retain(|n| n.path != node.path);
            nodes.push(node);
        }
        devices::create_devices(root.as_fd(), &nodes, in_user_ns)?;
        let has_pts = spec_mounts
            .iter()
            .any(|m| m.destination() == Path::new("/dev/pts"));
        devices::create_symlinks(root.as_fd(), has_pts)?;
    }

    let console = match setup.console_socket {
        Some(socket) => {
            let size = spec.process().as_ref().and_then(crate::console::size_of);
            Some(crate::console::create(root.as_fd(), socket.as_fd(), size)?)
        }
        None => None,
    };

    if let Some(process) = spec.process() {
        mounts::create_in_root(root.as_fd(), process.cwd(), false).map_err(|source| {
            RootfsError::Cwd {
                path: process.cwd().clone(),
                source,
            }
        })?;
    }
    Ok(PreparedRootfs { console })
}

/// Makes the rootfs `/`: pivot_root, or with `no_pivot` a move mount and chroot.
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<(), RootfsError> {
    nix::unistd::chdir(rootfs).map_err(sys_err(rootfs, "chdir"))?;
    if no_pivot {
        nix::mount::mount(
            Some(rootfs),
            "/",
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .map_err(sys_err(rootfs, "move to /"))?;
        nix::unistd::chroot(".").map_err(sys_err(rootfs, "chroot"))?;
    } else {
        // pivot_root(".", ".") stacks the old root on top of the new one;
        // detaching it leaves only the container's root.
        nix::unistd::pivot_root(".", ".").map_err(sys_err(rootfs, "pivot_root"))?;
        nix::mount::mount(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(sys_err(rootfs, "make old root slave"))?;
        nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)
            .map_err(sys_err(rootfs, "detach old root"))?;
    }
    nix::unistd::chdir("/").map_err(sys_err(rootfs, "chdir /"))?;
    Ok(())
}

/// After pivot_root: masked paths, read-only paths, read-only root and the
/// requested root propagation.
pub fn finish(spec: &Spec) -> Result<(), RootfsError> {
    let linux = spec.linux().as_ref();
    crate::masked_paths::make_readonly(
        linux
            .and_then(|l| l.readonly_paths().as_deref())
            .unwrap_or(&[]),
    )?;
    crate::masked_paths::mask(
        linux
            .and_then(|l| l.masked_paths().as_deref())
            .unwrap_or(&[]),
        linux.and_then(|l| l.mount_label().as_deref()),
    )?;
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        mounts::remount_bind(Path::new("/"), MsFlags::MS_RDONLY, Path::new("/"))?;
    }
    if let Some(flags) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flags)
    {
        nix::mount::mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .map_err(sys_err(Path::new("/"), "root propagation"))?;
    }
    Ok(())
}
