//! Lifecycle hooks: run with the container state on stdin, `timeout` honoured.

use crate::process::trampoline::{Prepared, Status, Trampoline};
use oci_spec::runtime::Hook;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook {path}: {source}")]
    Spawn {
        kind: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{kind} hook {path} failed: {status}{stderr}")]
    Failed {
        kind: &'static str,
        path: PathBuf,
        status: String,
        stderr: String,
    },
    #[error("{kind} hook {path} timed out after {timeout}s")]
    TimedOut {
        kind: &'static str,
        path: PathBuf,
        timeout: i64,
    },
}

/// Runs `hooks` in order; the first failure stops the run.
pub fn run(kind: &'static str, hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    run_all(kind, hooks, state_json, None)
}

/// Runs hooks whose program is the container's (startContainer), as init
/// runs the container's process: through the exec trampoline, so that a
/// hook resolving to `/proc/self/exe` never runs the host's berth.
pub fn run_in_container(
    kind: &'static str,
    hooks: &[Hook],
    state_json: &[u8],
    trampoline: &Trampoline,
) -> Result<(), HookError> {
    run_all(kind, hooks, state_json, Some(trampoline))
}

fn run_all(
    kind: &'static str,
    hooks: &[Hook],
    state_json: &[u8],
    trampoline: Option<&Trampoline>,
) -> Result<(), HookError> {
    for hook in hooks {
        run_one(kind, hook, state_json, trampoline)?;
    }
    Ok(())
}

fn run_one(
    kind: &'static str,
    hook: &Hook,
    state_json: &[u8],
    trampoline: Option<&Trampoline>,
) -> Result<(), HookError> {
    let path = hook.path().clone();
    let spawn_err = |source| HookError::Spawn {
        kind,
        path: path.clone(),
        source,
    };
    let args = hook.args().as_deref().unwrap_or(&[]);
    let mut cmd = Command::new(&path);
    if let Some(argv0) = args.first() {
        cmd.arg0(argv0);
    }
    cmd.args(args.iter().skip(1))
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for entry in hook.env().iter().flatten() {
        if let Some((k, v)) = entry.split_once('=') {
            cmd.env(k, v);
        }
    }
    if let Some(trampoline) = trampoline {
        let prepared = through_trampoline(trampoline, hook, &path).map_err(spawn_err)?;
        // SAFETY: the closure only makes syscalls (everything was built
        // above); it runs in the forked child, after std set up stdio.
        unsafe { cmd.pre_exec(move || Err(prepared.exec())) };
    }
    if let Some(timeout) = hook.timeout().filter(|t| *t <= 0) {
        return Err(HookError::Failed {
            kind,
            path,
            status: format!("timeout must be positive, got {timeout}"),
            stderr: String::new(),
        });
    }
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let Some(stdin) = child.stdin.take() {
        write_state(stdin, state_json);
    }
    if let Some(timeout) = hook.timeout() {
        let pidfd = crate::sys::pidfd_open(child.id() as i32).map_err(spawn_err)?;
        let mut fds = [nix::poll::PollFd::new(
            pidfd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = nix::poll::PollTimeout::try_from((timeout as u64).saturating_mul(1000))
            .unwrap_or(nix::poll::PollTimeout::MAX);
        let ready = loop {
            match nix::poll::poll(&mut fds, ms) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.map_err(|e| spawn_err(e.into()))?,
            }
        };
        if ready == 0 {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::TimedOut {
                kind,
                path,
                timeout,
            });
        }
    }
    let output = child.wait_with_output().map_err(spawn_err)?;
    if !output.status.success() {
        let status = match (output.status.code(), output.status.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (_, Some(sig)) => format!("killed by signal {sig}"),
            _ => "unknown status".into(),
        };
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        let stderr = if stderr.is_empty() {
            stderr
        } else {
            format!(": {stderr}")
        };
        return Err(HookError::Failed {
            kind,
            path,
            status,
            stderr,
        });
    }
    Ok(())
}

/// Gives the hook the state on its stdin. A hook may exit without reading
/// it: EPIPE is no failure, and the SIGPIPE that comes with it must not kill
/// init, whose SIGPIPE has the default action. SIGPIPE is blocked for the
/// write and one it raised is taken off the pending set before it is
/// unblocked.
fn write_state(mut stdin: std::process::ChildStdin, state_json: &[u8]) {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
    let mut pipe = SigSet::empty();
    pipe.add(Signal::SIGPIPE);
    let mut old = SigSet::empty();
    let blocked = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&pipe), Some(&mut old)).is_ok();
    let was_pending = crate::sys::signal_pending(Signal::SIGPIPE);
    let _ = stdin.write_all(state_json);
    drop(stdin);
    if blocked && !old.contains(Signal::SIGPIPE) {
        if !was_pending && crate::sys::signal_pending(Signal::SIGPIPE) {
            // Pending, so this returns at once.
            let _ = pipe.wait();
        }
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
}

/// The hook's exec through the trampoline: the same path, argv and
/// environment as the Command's; a failed exec is reported on the hook's
/// stderr, which the failure message shows.
fn through_trampoline(
    trampoline: &Trampoline,
    hook: &Hook,
    path: &std::path::Path,
) -> std::io::Result<Prepared> {
    use std::os::unix::ffi::OsStrExt;
    let cstr = |b: &[u8]| {
        CString::new(b).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let argv: Vec<CString> = match hook.args().as_deref() {
        Some(args) if !args.is_empty() => args
            .iter()
            .map(|a| cstr(a.as_bytes()))
            .collect::<Result<_, _>>()?,
        _ => vec![cstr(path.as_os_str().as_bytes())?],
    };
    let env: Vec<CString> = hook
        .env()
        .iter()
        .flatten()
        .filter(|e| e.contains('='))
        .map(|e| cstr(e.as_bytes()))
        .collect::<Result<_, _>>()?;
    let prefix = cstr(format!("exec {}: errno ", path.display()).as_bytes())?;
    let status = Status {
        fd: 2,
        prefix: &prefix,
        suffix: c"\n",
    };
    Ok(Prepared::new(
        trampoline,
        &status,
        &cstr(path.as_os_str().as_bytes())?,
        &argv,
        &env,
    ))
}
