//! Mount entries of type `cgroup`: the container's view of its cgroups.
//!
//! Pure v2 host: one cgroup2 file system at the destination. v1 and hybrid
//! hosts: a tmpfs at the destination with one directory per hierarchy, named
//! as on the host. In a new cgroup namespace each hierarchy is freshly mounted
//! (the namespace makes the container's cgroup its root); without one, the
//! container's own cgroup directory of each hierarchy is bind-mounted.

use crate::mounts::{
    create_in_root, fd_path, remount_bind, MountContext, MountError, MountOptions,
};
use nix::mount::MsFlags;
use std::path::{Path, PathBuf};

/// One cgroup hierarchy mounted on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    /// `None` for cgroup2; the v1 controllers (or `name=...`) otherwise.
    pub controllers: Option<Vec<String>>,
}

/// Parses /proc/self/mountinfo for cgroup file systems, each hierarchy
/// once: where it is mounted again (the host's /sys bind-mounted into the
/// rootfs brings its cgroup mounts along) the first mount point counts.
pub fn parse_hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    let mut found: Vec<Hierarchy> = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mountpoint = match pre.split(' ').nth(4) {
            Some(m) => PathBuf::from(unescape(m)),
            None => continue,
        };
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        let super_opts = post.nth(1).unwrap_or("");
        let hierarchy = match fstype {
            "cgroup2" => Hierarchy {
                mountpoint,
                controllers: None,
            },
            "cgroup" => {
                let controllers = super_opts
                    .split(',')
                    .filter(|o| {
                        !matches!(
                            *o,
                            "rw" | "ro"
                                | "xattr"
                                | "clone_children"
                                | "noprefix"
                                | "cpuset_v2_mode"
                        ) && (!o.contains('=') || o.starts_with("name="))
                    })
                    .map(str::to_owned)
                    .collect();
                Hierarchy {
                    mountpoint,
                    controllers: Some(controllers),
                }
            }
            _ => continue,
        };
        if !found.iter().any(|h| h.controllers == hierarchy.controllers) {
            found.push(hierarchy);
        }
    }
    found
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = u8::from_str_radix(&s[i + 1..i + 4], 8).unwrap_or(b'?');
            out.push(v as char);
            i += 4;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

/// The path of this process's cgroup in a hierarchy, from /proc/self/cgroup.
fn own_cgroup(proc_cgroup: &str, hierarchy: &Hierarchy) -> Option<PathBuf> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match &hierarchy.controllers {
            None => controllers.is_empty(),
            Some(wanted) => {
                let have: Vec<&str> = controllers.split(',').collect();
                !controllers.is_empty() && wanted.iter().all(|w| have.contains(&w.as_str()))
            }
        };
        matches.then(|| PathBuf::from(path))
    })
}

fn err<'a>(
    destination: &'a Path,
    what: &'static str,
) -> impl FnOnce(nix::Error) -> MountError + 'a {
    move |source| MountError::Mount {
        destination: destination.to_owned(),
        what,
        source,
    }
}

fn io_err<'a>(destination: &'a Path) -> impl FnOnce(std::io::Error) -> MountError + 'a {
    move |source| MountError::Resolve {
        destination: destination.to_owned(),
        path: destination.to_owned(),
        source,
    }
}

pub fn mount_cgroups(
    ctx: &MountContext,
    destination: &Path,
    options: &MountOptions,
) -> Result<(), MountError> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(io_err(destination))?;
    let proc_cgroup = std::fs::read_to_string("/proc/self/cgroup").map_err(io_err(destination))?;
    let hierarchies = parse_hierarchies(&mountinfo);
    let flags = options.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    let pure_v2 = hierarchies.len() == 1 && hierarchies[0].controllers.is_none();

    let target = create_in_root(ctx.root, destination, false).map_err(io_err(destination))?;
    if !pure_v2 {
        let data = crate::lsm::with_mount_label("mode=755", ctx.mount_label);
        nix::mount::mount(
            Some("tmpfs"),
            &fd_path(&target),
            Some("tmpfs"),
            (flags - MsFlags::MS_RDONLY)
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            Some(data.as_str()),
        )
        .map_err(err(destination, "cgroup tmpfs"))?;
    }
    for hierarchy in &hierarchies {
        let (dest, fstype, data) = if pure_v2 {
            (destination.to_owned(), "cgroup2", String::new())
        } else {
            let Some(name) = hierarchy.mountpoint.file_name() else {
                continue;
            };
            match &hierarchy.controllers {
                None => (destination.join(name), "cgroup2", String::new()),
                Some(c) => (destination.join(name), "cgroup", c.join(",")),
            }
        };
        let dir = create_in_root(ctx.root, &dest, false).map_err(io_err(&dest))?;
        if ctx.new_cgroup_ns {
            let data = (!data.is_empty()).then_some(data.as_str());
            let mount = |dir: &std::os::fd::OwnedFd| {
                nix::mount::mount(
                    Some("cgroup"),
                    &fd_path(dir),
                    Some(fstype),
                    flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    data,
                )
            };
            match mount(&dir) {
                // The destination is the root of a mount of this very
                // hierarchy (the host's, come with /sys bound from the host
                // in a user namespace), which the kernel will not stack on
                // itself: a tmpfs in between.
                Err(nix::errno::Errno::EBUSY) if pure_v2 => {
                    nix::mount::mount(
                        Some("tmpfs"),
                        &fd_path(&dir),
                        Some("tmpfs"),
                        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                        Some("mode=755"),
                    )
                    .map_err(err(&dest, "tmpfs under cgroup2"))?;
                    let dir = crate::sys::openat2_in_root(ctx.root, &dest, libc::O_PATH, 0)
                        .map_err(io_err(&dest))?;
                    mount(&dir).map_err(err(&dest, "cgroup"))?;
                }
                other => other.map_err(err(&dest, "cgroup"))?,
            }
        } else {
            let own = own_cgroup(&proc_cgroup, hierarchy).unwrap_or_else(|| PathBuf::from("/"));
            let source = hierarchy
                .mountpoint
                .join(own.strip_prefix("/").unwrap_or(&own));
            nix::mount::mount(
                Some(&source),
                &fd_path(&dir),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(err(&dest, "cgroup bind"))?;
            let mounted = crate::sys::openat2_in_root(ctx.root, &dest, libc::O_PATH, 0)
                .map_err(io_err(&dest))?;
            remount_bind(
                &fd_path(&mounted),
                flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                &dest,
            )?;
        }
    }
    if !pure_v2 && flags.contains(MsFlags::MS_RDONLY) {
        let mounted = crate::sys::openat2_in_root(ctx.root, destination, libc::O_PATH, 0)
            .map_err(io_err(destination))?;
        nix::mount::mount(
            None::<&str>,
            &fd_path(&mounted),
            None::<&str>,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            Some("mode=755"),
        )
        .map_err(err(destination, "cgroup tmpfs read-only"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_hierarchies_are_found() {
        let h = parse_hierarchies(HYBRID);
        assert_eq!(h.len(), 3);
        assert_eq!(
            h[0],
            Hierarchy {
                mountpoint: "/sys/fs/cgroup/cpu".into(),
                controllers: Some(vec!["cpu".into()])
            }
        );
        assert_eq!(h[1].controllers, Some(vec!["name=systemd".into()]));
        assert_eq!(h[2].controllers, None);
    }

    #[test]
    fn a_hierarchy_mounted_twice_counts_once() {
        let twice = format!(
            "{HYBRID}90 80 0:29 / /b/rootfs/sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
             91 80 0:38 / /b/rootfs/sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        );
        assert_eq!(parse_hierarchies(&twice), parse_hierarchies(HYBRID));
    }

    #[test]
    fn own_cgroup_matches_controllers() {
        let proc_cgroup = "3:cpu:/berth/a\n1:name=systemd:/sys\n0::/unified/x\n";
        let h = parse_hierarchies(HYBRID);
        assert_eq!(own_cgroup(proc_cgroup, &h[0]), Some("/berth/a".into()));
        assert_eq!(own_cgroup(proc_cgroup, &h[2]), Some("/unified/x".into()));
    }

    #[test]
    fn mountinfo_octal_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
