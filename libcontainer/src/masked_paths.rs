//! `linux.maskedPaths` and `linux.readonlyPaths`, applied after pivot_root.

use nix::mount::MsFlags;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    #[error("masking {path}: {source}")]
    Mask {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("making {path} read-only: {source}")]
    Readonly {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("/dev/null in the container is not the null device; refusing to mask with it")]
    BadDevNull,
}

/// Checks that /dev/null is the real null device (char 1:3) before using it.
fn verify_dev_null() -> Result<(), MaskError> {
    let st = nix::sys::stat::stat("/dev/null").map_err(|source| MaskError::Mask {
        path: "/dev/null".into(),
        source,
    })?;
    let is_chr = (st.st_mode & libc::S_IFMT) == libc::S_IFCHR;
    if !is_chr || nix::sys::stat::major(st.st_rdev) != 1 || nix::sys::stat::minor(st.st_rdev) != 3 {
        return Err(MaskError::BadDevNull);
    }
    Ok(())
}

/// Files get /dev/null bind-mounted over them, directories an empty
/// read-only tmpfs (labelled with `mount_label`). Paths that do not exist
/// are skipped.
pub fn mask(paths: &[String], mount_label: Option<&str>) -> Result<(), MaskError> {
    if paths.is_empty() {
        return Ok(());
    }
    verify_dev_null()?;
    for path in paths {
        let path = Path::new(path);
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(_) => continue,
        };
        let result = if meta.is_dir() {
            let data = crate::lsm::with_mount_label("", mount_label);
            nix::mount::mount(
                Some("tmpfs"),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                (!data.is_empty()).then_some(data.as_str()),
            )
        } else {
            nix::mount::mount(
                Some("/dev/null"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        result.map_err(|source| MaskError::Mask {
            path: path.to_owned(),
            source,
        })?;
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
