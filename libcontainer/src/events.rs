//! `events`: runc's JSON event stream. `--stats` prints one stats event;
//! otherwise a stats event every interval and an `oom` event on each OOM
//! kill, until the container's init exits. The loop sleeps in poll(2) on
//! init's pidfd and the OOM notifier; the timeout is the next stats tick.

use crate::cgroups::oom::OomWatch;
use crate::cgroups::stats::Stats;
use crate::container::load;
use crate::pause::cgroup_of;
use crate::state::Status;
use crate::Error;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// One event, as runc's `types.Event`.
#[derive(serde::Serialize)]
pub struct Event<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a Stats>,
}

fn emit(out: &mut dyn Write, event: &Event) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: "stdout".into(),
        source,
    };
    serde_json::to_writer(&mut *out, event).map_err(|e| io(e.into()))?;
    out.write_all(b"\n").map_err(io)?;
    out.flush().map_err(io)
}

pub fn events(
    root: &Path,
    id: &str,
    stats_once: bool,
    interval: Duration,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let (state, status) = load(root, id)?;
    if status == Status::Stopped {
        return Err(Error::NotRunning(id.to_owned()));
    }
    let cgroup = cgroup_of(&state)?;
    let stats_event = |out: &mut dyn Write| -> Result<(), Error> {
        let stats = cgroup.stats(Some(state.pid))?;
        emit(
            out,
            &Event {
                kind: "stats",
                id,
                data: Some(&stats),
            },
        )
    };
    if stats_once {
        return stats_event(out);
    }
    if interval.is_zero() {
        return Err(Error::Config(
            "events: --interval must be greater than 0".into(),
        ));
    }
    let pidfd = crate::sys::pidfd_open(state.pid).map_err(|e| {
        if e.raw_os_error() == Some(libc::ESRCH) {
            Error::NotRunning(id.to_owned())
        } else {
            Error::Io {
                path: format!("/proc/{}", state.pid).into(),
                source: e,
            }
        }
    })?;
    let mut oom = OomWatch::new(cgroup)?;
    // An interval past the end of time (a `--interval 290y`) means stats never come.
    let mut next = Instant::now().checked_add(interval);
    loop {
        let mut fds = vec![nix::poll::PollFd::new(
            pidfd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        if let Some(w) = &oom {
            let (fd, flags) = w.poll_fd();
            fds.push(nix::poll::PollFd::new(fd, flags));
        }
        let ms = next.map_or(u16::MAX, |next| {
            let left = next.saturating_duration_since(Instant::now());
            u16::try_from(left.as_millis()).unwrap_or(u16::MAX)
        });
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::sys("poll", Path::new(id), e)),
        }
        let init_exited = fds[0].any().unwrap_or(false);
        let oom_ready = fds.get(1).and_then(|f| f.any()).unwrap_or(false);
        drop(fds);
        if oom_ready {
            if let Some(w) = &mut oom {
                if w.take()? > 0 {
                    emit(
                        out,
                        &Event {
                            kind: "oom",
                            id,
                            data: None,
                        },
                    )?;
                }
            }
        }
        if init_exited {
            return Ok(());
        }
        if let Some(due) = next.filter(|due| Instant::now() >= *due) {
            stats_event(out)?;
            next = due.checked_add(interval);
        }
    }
}
