//! Running the `nft` binary: one process, a fixed argv, the script on stdin.
//! Never through a shell.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Error, Result};

const CANDIDATES: [&str; 3] = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"];

fn binary() -> Result<&'static str> {
    CANDIDATES
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or(Error::NftMissing)
}

/// How an `nft` run failed, as far as the caller needs to tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// EEXIST: an element with the same key and other data, or `create` of
    /// something that exists.
    Exists,
    /// ENOENT: the table, set or element does not exist.
    Missing,
    Other,
}

/// Classifies `nft`'s stderr by the kernel error it reports.
pub fn classify(stderr: &str) -> Failure {
    if stderr.contains("File exists") {
        Failure::Exists
    } else if stderr.contains("No such file or directory") {
        Failure::Missing
    } else {
        Failure::Other
    }
}

/// Runs `nft -f -` with `script` as one transaction.
pub fn apply(what: &'static str, script: &str) -> Result<()> {
    run(what, &["-f", "-"], Some(script)).map(|_| ())
}

/// Runs `nft ARGS` and returns its stdout.
pub fn output(what: &'static str, args: &[&str]) -> Result<String> {
    run(what, args, None)
}

/// Runs `nft -j ARGS` and returns its stdout.
pub fn json(what: &'static str, args: &[&str]) -> Result<String> {
    let mut argv = Vec::with_capacity(args.len() + 1);
    argv.push("-j");
    argv.extend_from_slice(args);
    run(what, &argv, None)
}

fn run(what: &'static str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let out = spawn(binary()?, args, stdin)?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let failure = classify(&stderr);
    // nft repeats the failing line with a marker line under it: keep the
    // message readable when the line is long.
    if stderr.len() > 4096 {
        let mut cut = 4096;
        while !stderr.is_char_boundary(cut) {
            cut -= 1;
        }
        stderr.truncate(cut);
        stderr.push_str(" [...]");
    }
    Err(Error::Nft {
        what,
        failure,
        status: out.status.code().unwrap_or(-1),
        stderr,
    })
}

/// Runs `path ARGS` (a fixed argv, never a shell, in the C locale) with
/// `stdin` written to it and its stdin then closed; its output, whatever
/// its exit status. Also how [`super::docker`] runs iptables.
pub(super) fn spawn(
    path: &'static str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<std::process::Output> {
    let mut child = Command::new(path)
        .args(args)
        // classify() matches nft's English messages: no translation.
        .env("LC_ALL", "C")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn { path, source })?;
    if let Some(script) = stdin {
        // Dropping the handle after the write closes the child's stdin.
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(script.as_bytes())
                .map_err(|source| Error::Spawn { path, source })?;
        }
    }
    child
        .wait_with_output()
        .map_err(|source| Error::Spawn { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_kernel_errors() {
        assert_eq!(
            classify("/dev/stdin:1:37-46: Error: Could not process rule: File exists"),
            Failure::Exists
        );
        assert_eq!(
            classify("Error: No such file or directory\nlist set inet berth bridges"),
            Failure::Missing
        );
        assert_eq!(classify("Error: syntax error"), Failure::Other);
    }
}
