//! `linux.maskedPaths` and `linux.readonlyPaths`, applied after pivot_root.

use crate::sys;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    #[error("masking {path}: {source}")]
    Mask {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("masking {path}: {what}: {source}")]
    MaskIo {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("making {path} read-only: {source}")]
    Readonly {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("/dev/null in the container is not the null device (char 1:3, not a symlink); refusing to mask with it")]
    BadDevNull,
}

/// Opens the container's /dev/null once, without following a symlink, and
/// checks that what is open is the null device (char 1:3). Masking mounts
/// from this fd: the path is never looked up again.
fn open_dev_null() -> Result<OwnedFd, MaskError> {
    let io_err = |what| {
        move |e: nix::Error| MaskError::MaskIo {
            path: "/dev/null".into(),
            what,
            source: e.into(),
        }
    };
    let fd = nix::fcntl::open(
        "/dev/null",
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("open"))?;
    let st = nix::sys::stat::fstat(&fd).map_err(io_err("fstat"))?;
    let is_chr = (st.st_mode & libc::S_IFMT) == libc::S_IFCHR;
    if !is_chr || nix::sys::stat::major(st.st_rdev) != 1 || nix::sys::stat::minor(st.st_rdev) != 3 {
        return Err(MaskError::BadDevNull);
    }
    Ok(fd)
}

/// Files get the verified /dev/null bind-mounted over them, directories an
/// empty read-only tmpfs (labelled with `mount_label`). Paths that do not
/// exist are skipped.
pub fn mask(paths: &[String], mount_label: Option<&str>) -> Result<(), MaskError> {
    if paths.is_empty() {
        return Ok(());
    }
    let dev_null = open_dev_null()?;
    for path in paths {
        let path = Path::new(path);
        // The object masked is the one open here: stat and mount see the same.
        let target = match nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()) {
            Ok(fd) => fd,
            Err(_) => continue,
        };
        let io_err = |what| {
            move |source| MaskError::MaskIo {
                path: path.to_owned(),
                what,
                source,
            }
        };
        let st = nix::sys::stat::fstat(&target).map_err(|e| io_err("fstat")(e.into()))?;
        if (st.st_mode & libc::S_IFMT) == libc::S_IFDIR {
            let data = crate::lsm::with_mount_label("", mount_label);
            nix::mount::mount(
                Some("tmpfs"),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                (!data.is_empty()).then_some(data.as_str()),
            )
            .map_err(|source| MaskError::Mask {
                path: path.to_owned(),
                source,
            })?;
        } else {
            let null = sys::open_tree(
                Some(dev_null.as_fd()),
                Path::new(""),
                sys::OPEN_TREE_CLONE | libc::AT_EMPTY_PATH as u32,
            )
            .map_err(io_err("open_tree of /dev/null"))?;
            sys::move_mount(null.as_fd(), target.as_fd()).map_err(io_err("move_mount"))?;
        }
    }
    Ok(())
}

/// Bind-mounts each path onto itself and remounts it read-only.
pub fn make_readonly(paths: &[String]) -> Result<(), MaskError> {
    for path in paths {
        let path = Path::new(path);
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        let err = |source| MaskError::Readonly {
            path: path.to_owned(),
            source,
        };
        nix::mount::mount(
            Some(path),
            path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(err)?;
        crate::mounts::remount_bind(path, MsFlags::MS_RDONLY | MsFlags::MS_REC, path).map_err(
            |e| match e {
                crate::mounts::MountError::Mount { source, .. } => err(source),
                _ => err(nix::Error::EINVAL),
            },
        )?;
    }
    Ok(())
}
