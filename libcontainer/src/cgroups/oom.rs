//! OOM notifications for `events`: v1 registers an eventfd on
//! `memory.oom_control` through `cgroup.event_control`; v2 watches
//! `memory.events` (kernfs signals changes with POLLPRI) and counts
//! `oom_kill`.

use super::{files, CgroupError, CgroupManager, Target};
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub enum OomWatch {
    V1 {
        eventfd: EventFd,
        /// Kept open: the registration lasts as long as this fd.
        _oom_control: std::fs::File,
    },
    V2 {
        events: std::fs::File,
        path: PathBuf,
        seen: u64,
    },
}

impl OomWatch {
    /// A watch on the container's memory controller; None when the host
    /// has no memory controller for it.
    pub fn new(mgr: &CgroupManager) -> Result<Option<OomWatch>, CgroupError> {
        match mgr.target("memory") {
            Some(Target::V1(dir)) => Self::v1(dir).map(Some),
            Some(Target::V2(dir)) => {
                let path = dir.join("memory.events");
                let events = std::fs::File::open(&path).map_err(|source| CgroupError::Io {
                    path: path.clone(),
                    source,
                })?;
                let mut w = OomWatch::V2 {
                    events,
                    path,
                    seen: 0,
                };
                w.take()?;
                Ok(Some(w))
            }
            None => Ok(None),
        }
    }

    fn v1(dir: &Path) -> Result<OomWatch, CgroupError> {
        let path = dir.join("memory.oom_control");
        let oom_control = std::fs::File::open(&path).map_err(|source| CgroupError::Io {
            path: path.clone(),
            source,
        })?;
        let eventfd =
            EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).map_err(|e| {
                CgroupError::Io {
                    path: path.clone(),
                    source: e.into(),
                }
            })?;
        let line = format!(
            "{} {}",
            eventfd.as_fd().as_raw_fd(),
            oom_control.as_raw_fd()
        );
        files::write(dir, "cgroup.event_control", &line)?;
        Ok(OomWatch::V1 {
            eventfd,
            _oom_control: oom_control,
        })
    }

    /// The fd to poll, and the poll flag that means "look again".
    pub fn poll_fd(&self) -> (BorrowedFd<'_>, nix::poll::PollFlags) {
        match self {
            OomWatch::V1 { eventfd, .. } => (eventfd.as_fd(), nix::poll::PollFlags::POLLIN),
            OomWatch::V2 { events, .. } => (events.as_fd(), nix::poll::PollFlags::POLLPRI),
        }
    }

    /// How many OOM kills happened since the last call.
    pub fn take(&mut self) -> Result<u64, CgroupError> {
        match self {
            OomWatch::V1 { eventfd, .. } => match eventfd.read() {
                Ok(n) => Ok(n),
                Err(nix::errno::Errno::EAGAIN) => Ok(0),
                Err(e) => Err(CgroupError::Io {
                    path: "eventfd".into(),
                    source: e.into(),
                }),
            },
            OomWatch::V2 { events, path, seen } => {
                let mut buf = [0u8; 512];
                let n = events
                    .read_at(&mut buf, 0)
                    .map_err(|source| CgroupError::Io {
                        path: path.clone(),
                        source,
                    })?;
                let text = String::from_utf8_lossy(&buf[..n]);
                let count = files::flat_keyed(&text)
                    .find(|(k, _)| *k == "oom_kill")
                    .and_then(|(_, v)| v.trim().parse::<u64>().ok())
                    .unwrap_or(0);
                let new = count.saturating_sub(*seen);
                *seen = count;
                Ok(new)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::test_util::ScratchV2;
    use crate::cgroups::V2Dir;

    #[test]
    fn v2_watch_counts_an_oom_kill() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let Some(cg) = ScratchV2::new("oom") else {
            eprintln!("skipped: no writable cgroup v2 hierarchy");
            return;
        };
        if !files::exists(&cg.0, "memory.max") {
            eprintln!("skipped: memory is not a v2 controller here");
            return;
        }
        files::write(&cg.0, "memory.max", "16777216").unwrap();
        if files::exists(&cg.0, "memory.swap.max") {
            files::write(&cg.0, "memory.swap.max", "0").unwrap();
        }
        let mgr = CgroupManager {
            v1: Vec::new(),
            v2: Some(V2Dir {
                mount_point: cg.0.parent().unwrap().to_owned(),
                dir: cg.0.clone(),
            }),
            created: None,
        };
        let mut watch = OomWatch::new(&mgr).unwrap().expect("a memory controller");
        assert_eq!(watch.take().unwrap(), 0);
        assert!(!cg.run("dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null"));
        let (fd, flags) = watch.poll_fd();
        let mut fds = [nix::poll::PollFd::new(fd, flags)];
        nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16)).unwrap();
        assert_eq!(watch.take().unwrap(), 1);
    }
}
