//! Reading and writing cgroup interface files, with the path in every error.

use super::CgroupError;
use std::io::Write;
use std::path::Path;

/// Writes `value` to `dir/file` in one write(2), as the kernel expects.
pub fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|source| CgroupError::Io {
            path: path.clone(),
            source,
        })?;
    f.write_all(value.as_bytes())
        .map_err(|source| CgroupError::Write {
            path,
            value: value.to_owned(),
            source,
        })
}

pub fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|source| CgroupError::Io { path, source })
}

pub fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// The pids listed in `dir/cgroup.procs`; none when the directory is gone.
pub fn procs(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    match read(dir, "cgroup.procs") {
        Ok(text) => Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect()),
        Err(CgroupError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

/// A flat-keyed file (`key value` per line, as cgroup.events, memory.stat).
pub fn flat_keyed(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|l| l.split_once(' '))
}

/// Makes `dir` and its missing parents; returns the directories this call
/// made (not one that appeared meanwhile), outermost first.
pub fn mkdir_all(dir: &Path) -> Result<Vec<std::path::PathBuf>, CgroupError> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.exists() {
            break;
        }
        missing.push(d.to_owned());
        cur = d.parent();
    }
    missing.reverse();
    let mut made = Vec::with_capacity(missing.len());
    for d in missing {
        match std::fs::create_dir(&d) {
            Ok(()) => made.push(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(CgroupError::Io { path: d, source }),
        }
    }
    Ok(made)
}
