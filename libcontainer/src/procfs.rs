//! Writes into procfs (`linux.sysctl`, `process.oomScoreAdj`) through a
//! verified handle, never through a path that a mount in the container
//! could redirect (the CVE-2025-52881 class).
//!
//! [`Procfs::open`] opens `/proc` once and checks that it is the root of a
//! procfs (`fstatfs` says `PROC_SUPER_MAGIC`, inode 1). Files below it are
//! opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` (one
//! `O_NOFOLLOW` component at a time on kernels without openat2), and the
//! file opened is checked to be on procfs too before anything is written.

use nix::sys::statfs::FsType;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ProcfsError {
    #[error("open /proc: {source}")]
    OpenRoot {
        #[source]
        source: std::io::Error,
    },
    #[error("/proc is not the root of a procfs (filesystem {fs_type:?}, inode {ino})")]
    NotProcRoot { fs_type: FsType, ino: u64 },
    #[error("/proc/{path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("/proc/{path} is not on procfs (filesystem {fs_type:?}): refusing to write it")]
    NotProc { path: PathBuf, fs_type: FsType },
    #[error("/proc/{path}: write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The inode of every procfs root.
const PROC_ROOT_INO: u64 = 1;

/// An fd on the root of a procfs, checked to be one.
pub struct Procfs(OwnedFd);

fn fs_type(fd: impl AsFd) -> std::io::Result<FsType> {
    Ok(nix::sys::statfs::fstatfs(fd)?.filesystem_type())
}

fn is_proc(fs_type: FsType) -> bool {
    fs_type == nix::sys::statfs::PROC_SUPER_MAGIC
}

impl Procfs {
    /// Opens the `/proc` the calling process sees and verifies it.
    pub fn open() -> Result<Self, ProcfsError> {
        let fd = nix::fcntl::open(
            "/proc",
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| ProcfsError::OpenRoot { source: e.into() })?;
        let fs_type = fs_type(&fd).map_err(|source| ProcfsError::OpenRoot { source })?;
        let ino = nix::sys::stat::fstat(&fd)
            .map_err(|e| ProcfsError::OpenRoot { source: e.into() })?
            .st_ino;
        if !is_proc(fs_type) || ino != PROC_ROOT_INO {
            return Err(ProcfsError::NotProcRoot { fs_type, ino });
        }
        Ok(Self(fd))
    }

    /// Opens `path` (relative to /proc, no `..`, no symlink on the way)
    /// with `flags`, and checks the result is a procfs file.
    pub fn open_file(&self, path: &Path, flags: i32) -> Result<OwnedFd, ProcfsError> {
        let open_err = |source| ProcfsError::Open {
            path: path.to_owned(),
            source,
        };
        let fd = match crate::sys::openat2(
            self.0.as_fd(),
            path,
            flags,
            0,
            crate::sys::RESOLVE_BENEATH | crate::sys::RESOLVE_NO_SYMLINKS,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                self.open_nofollow(path, flags).map_err(open_err)?
            }
            other => other.map_err(open_err)?,
        };
        let fs_type = fs_type(&fd).map_err(open_err)?;
        if !is_proc(fs_type) {
            return Err(ProcfsError::NotProc {
                path: path.to_owned(),
                fs_type,
            });
        }
        Ok(fd)
    }

    /// Without openat2: one `O_NOFOLLOW` component at a time.
    fn open_nofollow(&self, path: &Path, flags: i32) -> std::io::Result<OwnedFd> {
        use nix::fcntl::OFlag;
        let names: Vec<_> = path
            .components()
            .map(|c| match c {
                Component::Normal(name) => Ok(name),
                _ => Err(std::io::Error::from_raw_os_error(libc::EXDEV)),
            })
            .collect::<Result<_, _>>()?;
        let (last, dirs) = names
            .split_last()
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENOENT))?;
        let mut dir: Option<OwnedFd> = None;
        for name in dirs {
            let at = dir.as_ref().map_or(self.0.as_fd(), |d| d.as_fd());
            dir = Some(nix::fcntl::openat(
                at,
                *name,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )?);
        }
        let at = dir.as_ref().map_or(self.0.as_fd(), |d| d.as_fd());
        Ok(nix::fcntl::openat(
            at,
            *last,
            OFlag::from_bits_retain(flags) | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?)
    }

    /// Writes `value` into the procfs file `path` (relative to /proc).
    pub fn write(&self, path: &Path, value: &[u8]) -> Result<(), ProcfsError> {
        let fd = self.open_file(path, libc::O_WRONLY)?;
        std::fs::File::from(fd)
            .write_all(value)
            .map_err(|source| ProcfsError::Write {
                path: path.to_owned(),
                source,
            })
    }

    /// Writes `value` into the calling thread's `file` (`/proc/thread-self/<file>`,
    /// reached through the thread's id as this procfs names it, not the symlink).
    pub fn write_self(&self, file: &str, value: &[u8]) -> Result<(), ProcfsError> {
        let link = nix::fcntl::readlinkat(self.0.as_fd(), "thread-self").map_err(|e| {
            ProcfsError::Open {
                path: "thread-self".into(),
                source: e.into(),
            }
        })?;
        self.write(&PathBuf::from(link).join(file), value)
    }
}

/// `process.oomScoreAdj` into `/proc/<pid>/oom_score_adj` (the calling
/// thread's for `None`). Written by the host's root: once a process is not
/// dumpable, its /proc files belong to the host's root, which a process in
/// a user namespace is not.
pub fn write_oom_score_adj(pid: Option<i32>, adj: i32) -> Result<(), ProcfsError> {
    let proc = Procfs::open()?;
    let value = adj.to_string();
    match pid {
        Some(pid) => proc.write(Path::new(&format!("{pid}/oom_score_adj")), value.as_bytes()),
        None => proc.write_self("oom_score_adj", value.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_through_the_verified_handle_and_refuses_symlinks() {
        let proc = Procfs::open().unwrap();
        let fd = proc
            .open_file(Path::new("sys/kernel/ostype"), libc::O_RDONLY)
            .unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text).unwrap();
        assert_eq!(text.trim(), "Linux");
        // /proc/self is a symlink, `..` leaves the root: both refused.
        assert!(proc
            .open_file(Path::new("self/status"), libc::O_RDONLY)
            .is_err());
        assert!(proc
            .open_file(Path::new("../proc/version"), libc::O_RDONLY)
            .is_err());
        assert!(proc
            .open_nofollow(Path::new("self/status"), libc::O_RDONLY)
            .is_err());
        assert!(proc
            .open_nofollow(Path::new("sys/kernel/ostype"), libc::O_RDONLY)
            .is_ok());
    }
}
