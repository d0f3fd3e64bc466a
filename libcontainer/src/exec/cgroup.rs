//! The cgroup an exec'd process starts in: the container's, or the existing
//! sub-cgroups named with `--cgroup` (runc's `[<controller>[,...]:]<path>`).
//!
//! The process is in it before it is in the container's pid namespace: on
//! cgroup v2 it is cloned into it (`CLONE_INTO_CGROUP`); v1 hierarchies
//! cannot do that, so berth's exec parent joins them itself before the
//! clone and leaves them again right after it ([`Joined`]).

use super::ExecError;
use crate::cgroups::{files, layout, CgroupError, CgroupManager};
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

/// The directories the process starts in, per hierarchy.
pub struct Placement {
    v1: Vec<PathBuf>,
    v2: Option<PathBuf>,
}

/// `--cgroup` arguments as runc reads them: one path alone (for every
/// hierarchy), or any number of `controller[,controller]:path`.
fn parse(args: &[String]) -> Result<BTreeMap<String, PathBuf>, ExecError> {
    let mut paths = BTreeMap::new();
    for arg in args {
        let invalid = |why: &str| ExecError::CgroupArg {
            arg: arg.clone(),
            reason: why.to_owned(),
        };
        let parts: Vec<&str> = arg.splitn(3, ':').collect();
        let (controllers, path) = match parts.as_slice() {
            [path] if args.len() == 1 => (vec![""], *path),
            [_] => return Err(invalid("missing <controller>: prefix")),
            [controllers, path] => (controllers.split(',').collect(), *path),
            _ => return Err(invalid("more than one ':'")),
        };
        // Relative to the container's cgroup, as runc joins it.
        let path = Path::new(path.trim_start_matches('/'));
        if path.as_os_str().is_empty()
            || path
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(invalid(
                "the path must name a sub-cgroup of the container's cgroup",
            ));
        }
        for c in controllers {
            paths.insert(c.to_owned(), path.to_owned());
        }
    }
    Ok(paths)
}

impl Placement {
    pub fn new(cgroup: &CgroupManager, args: &[String]) -> Result<Self, ExecError> {
        let subs = parse(args)?;
        let everywhere = subs.get("");
        let mut used: Vec<&str> = Vec::new();
        let mut v1 = Vec::new();
        for d in &cgroup.v1 {
            let mine: Vec<&PathBuf> = d
                .controllers
                .iter()
                .filter_map(|c| subs.get_key_value(c.as_str()))
                .map(|(c, p)| {
                    used.push(c);
                    p
                })
                .collect();
            let dir = match (everywhere, mine.as_slice()) {
                (Some(sub), _) => d.dir.join(sub),
                (None, []) => d.dir.clone(),
                (None, [sub, rest @ ..]) => {
                    if rest.iter().any(|r| r != sub) {
                        return Err(ExecError::CgroupArg {
                            arg: d.controllers.join(","),
                            reason: "controllers of one hierarchy are given different paths".into(),
                        });
                    }
                    d.dir.join(sub)
                }
            };
            v1.push(dir);
        }
        if let Some(c) = subs
            .keys()
            .find(|c| !c.is_empty() && !used.contains(&c.as_str()))
        {
            return Err(ExecError::CgroupArg {
                arg: format!("{c}:{}", subs[c].display()),
                reason: format!(
                    "the container has no cgroup v1 hierarchy with controller {c} (on cgroup v2, give the sub-cgroup alone)"
                ),
            });
        }
        let v2 = cgroup.v2.as_ref().map(|d| match everywhere {
            Some(sub) => d.dir.join(sub),
            None => d.dir.clone(),
        });
        Ok(Self { v1, v2 })
    }

    /// The v2 directory, opened for `clone3(CLONE_INTO_CGROUP)`.
    pub fn v2_fd(&self) -> Result<Option<OwnedFd>, CgroupError> {
        self.v2
            .as_ref()
            .map(|dir| {
                std::fs::File::open(dir)
                    .map(OwnedFd::from)
                    .map_err(|source| CgroupError::Io {
                        path: dir.clone(),
                        source,
                    })
            })
            .transpose()
    }

    /// berth joins the v1 hierarchies (and, with `v2_too`, the v2 one: for
    /// kernels without `CLONE_INTO_CGROUP`) so that its child is born in
    /// them; they are left again when the value is dropped.
    pub fn join(&self, v2_too: bool) -> Result<Joined, CgroupError> {
        let mut joined = Joined { back: Vec::new() };
        let layout = layout::host()?;
        let own = layout::OwnCgroups::read()?;
        let v2 = self.v2.iter().filter(|_| v2_too);
        for dir in self.v1.iter().chain(v2) {
            let back = own_dir(layout, &own, dir);
            files::write(dir, "cgroup.procs", "0")?;
            joined.back.extend(back);
        }
        Ok(joined)
    }
}

/// berth's own cgroup in the hierarchy that holds `dir`.
fn own_dir(layout: &layout::Layout, own: &layout::OwnCgroups, dir: &Path) -> Option<PathBuf> {
    if let Some(m) = layout.v1.iter().find(|m| dir.starts_with(&m.mount_point)) {
        let path = m.controllers.iter().find_map(|c| own.v1.get(c))?;
        return Some(layout::in_mount(&m.mount_point, &m.root, path));
    }
    let m = layout.v2.as_ref()?;
    Some(layout::in_mount(&m.mount_point, &m.root, own.v2.as_ref()?))
}

/// berth's exec parent in the container's cgroups; dropping it moves berth
/// back to its own.
pub struct Joined {
    back: Vec<PathBuf>,
}

impl Drop for Joined {
    fn drop(&mut self) {
        for dir in &self.back {
            if let Err(e) = files::write(dir, "cgroup.procs", "0") {
                tracing::warn!("leaving the container's cgroup: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cgroup_arguments_as_runc_reads_them() {
        let p = parse(&args(&["sub"])).unwrap();
        assert_eq!(p[""], Path::new("sub"));
        let p = parse(&args(&["cpu,cpuacct:a/b", "memory:/m"])).unwrap();
        assert_eq!(p["cpuacct"], Path::new("a/b"));
        assert_eq!(p["memory"], Path::new("m"));
        for bad in [&["a:b:c"][..], &["x", "memory:m"], &["../up"], &["memory:"]] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
