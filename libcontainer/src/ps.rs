//! `ps`: the processes of a container, as pids or as `ps(1)` output
//! restricted to them.

use crate::container::load;
use crate::pause::cgroup_of;
use crate::Error;
use std::path::Path;

/// Every pid in the container's cgroup, sorted.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>, Error> {
    let (state, _) = load(root, id)?;
    let mut pids = cgroup_of(&state)?.pids()?;
    pids.sort_unstable();
    Ok(pids)
}

#[derive(Debug, thiserror::Error)]
#[error("ps output has no PID column in its header {0:?}")]
pub struct NoPidColumn(pub String);

/// Keeps the header of `ps` output and the lines whose PID column names one
/// of `pids` (runc's filtering of `ps -ef`).
pub fn filter_ps_output(output: &str, pids: &[i32]) -> Result<String, NoPidColumn> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or("");
    let column = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or_else(|| NoPidColumn(header.to_owned()))?;
    let mut out = String::from(header);
    out.push('\n');
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_pid_column() {
        let ps = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 init\nroot 42 1 0 10:00 ? 00:00:00 sleep 100\n";
        let out = filter_ps_output(ps, &[42]).unwrap();
        assert_eq!(
            out,
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:00 ? 00:00:00 sleep 100\n"
        );
        assert!(filter_ps_output("USER COMMAND\n", &[1]).is_err());
    }
}
