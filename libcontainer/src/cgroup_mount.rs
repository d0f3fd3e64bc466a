//! Mount entries of type `cgroup`: the container's view of its cgroups.
//!
//! Pure v2 host: one cgroup2 file system at the destination. v1 and hybrid
//! hosts: a tmpfs at the destination with one directory per hierarchy, named
//! as on the host. In a new cgroup namespace each hierarchy is freshly mounted
//! (the namespace makes the container's cgroup its root); without one, the
//! container's own cgroup directory of each hierarchy is bind-mounted.
//!
//! The hierarchies are the host's layout as the parent read it before the
//! clone (`cgroups::layout::host`, already in init's memory), and the
//! directories are the container cgroup's: init reads neither mountinfo nor
//! /proc/self/cgroup, unless it joined a mount namespace of its own.

use crate::cgroups::layout::{self, Layout, OwnCgroups};
use crate::cgroups::CgroupManager;
use crate::mounts::{
    create_in_root, fd_path, remount_bind, MountContext, MountError, MountOptions,
};
use nix::mount::MsFlags;
use std::path::{Path, PathBuf};

/// One hierarchy as the container sees it.
#[derive(Debug, PartialEq, Eq)]
struct View {
    /// The directory under the destination (the name of the host's mount
    /// point); None for the one cgroup2 of a pure v2 host, mounted on the
    /// destination itself.
    name: Option<PathBuf>,
    fstype: &'static str,
    /// The mount data: the v1 hierarchy's controllers, or none.
    data: Option<String>,
    /// The container's cgroup in this hierarchy, as a host path.
    source: PathBuf,
}

/// The hierarchies of `layout` with the container's directory in each: the
/// cgroup manager's, or for a container without a cgroup of its own
/// (rootless), the cgroup `own` (init's) has there.
fn views(layout: &Layout, cgroup: Option<&CgroupManager>, own: &OwnCgroups) -> Vec<View> {
    let pure_v2 = layout.v1.is_empty();
    let mut views = Vec::new();
    for m in &layout.v1 {
        let source = cgroup
            .and_then(|c| c.v1.iter().find(|d| d.controllers == m.controllers))
            .map(|d| d.dir.clone())
            .unwrap_or_else(|| {
                let path = m.controllers.iter().find_map(|c| own.v1.get(c));
                layout::in_mount(&m.mount_point, &m.root, path.map_or(Path::new("/"), |p| p))
            });
        let Some(name) = m.mount_point.file_name() else {
            continue;
        };
        views.push(View {
            name: Some(name.into()),
            fstype: "cgroup",
            data: Some(m.controllers.join(",")),
            source,
        });
    }
    if let Some(m) = &layout.v2 {
        let source = cgroup
            .and_then(|c| c.v2.as_ref())
            .map(|d| d.dir.clone())
            .unwrap_or_else(|| {
                let path = own.v2.as_deref().unwrap_or(Path::new("/"));
                layout::in_mount(&m.mount_point, &m.root, path)
            });
        let name = if pure_v2 {
            None
        } else {
            match m.mount_point.file_name() {
                Some(name) => Some(name.into()),
                None => return views,
            }
        };
        views.push(View {
            name,
            fstype: "cgroup2",
            data: None,
            source,
        });
    }
    views
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
    let cgroups_err = |source| MountError::Cgroups {
        destination: destination.to_owned(),
        source,
    };
    let joined;
    let layout = if ctx.joined_mount_ns {
        joined = layout::read().map_err(cgroups_err)?;
        &joined
    } else {
        layout::host().map_err(cgroups_err)?
    };
    // Init's own cgroups matter only without a cgroup of the container's.
    let own = match ctx.cgroup {
        Some(_) => OwnCgroups::default(),
        None => OwnCgroups::read().map_err(cgroups_err)?,
    };
    let views = views(layout, ctx.cgroup, &own);
    let flags = options.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    let pure_v2 = layout.v1.is_empty();

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
    for view in &views {
        let dest = match &view.name {
            Some(name) => destination.join(name),
            None => destination.to_owned(),
        };
        let dir = create_in_root(ctx.root, &dest, false).map_err(io_err(&dest))?;
        if ctx.new_cgroup_ns {
            let mount = |dir: &std::os::fd::OwnedFd| {
                nix::mount::mount(
                    Some("cgroup"),
                    &fd_path(dir),
                    Some(view.fstype),
                    flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    view.data.as_deref(),
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
            nix::mount::mount(
                Some(&view.source),
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
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    fn names(views: &[View]) -> Vec<(Option<&str>, &str, Option<&str>, &str)> {
        views
            .iter()
            .map(|v| {
                (
                    v.name.as_deref().and_then(Path::to_str),
                    v.fstype,
                    v.data.as_deref(),
                    v.source.to_str().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn hybrid_views_bind_the_containers_cgroup() {
        let layout = Layout::from_mountinfo(HYBRID);
        let own = OwnCgroups::parse("2:cpu,cpuacct:/user\n1:name=systemd:/user\n0::/user\n");
        let manager = CgroupManager::from_layout(&layout, &own, Path::new("/berth/c1"));
        assert_eq!(
            names(&views(&layout, Some(&manager), &OwnCgroups::default())),
            [
                (
                    Some("cpu,cpuacct"),
                    "cgroup",
                    Some("cpu,cpuacct"),
                    "/sys/fs/cgroup/cpu,cpuacct/berth/c1"
                ),
                (
                    Some("systemd"),
                    "cgroup",
                    Some("name=systemd"),
                    "/sys/fs/cgroup/systemd/berth/c1"
                ),
                (
                    Some("unified"),
                    "cgroup2",
                    None,
                    "/sys/fs/cgroup/unified/berth/c1"
                ),
            ]
        );
    }

    #[test]
    fn without_a_cgroup_init_binds_its_own() {
        let layout = Layout::from_mountinfo(HYBRID);
        let own = OwnCgroups::parse("2:cpu,cpuacct:/user/a\n1:name=systemd:/\n0::/user/b\n");
        let sources: Vec<_> = views(&layout, None, &own)
            .into_iter()
            .map(|v| v.source)
            .collect();
        assert_eq!(
            sources,
            [
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/user/a"),
                "/sys/fs/cgroup/systemd".into(),
                "/sys/fs/cgroup/unified/user/b".into(),
            ]
        );
    }

    #[test]
    fn pure_v2_is_mounted_on_the_destination() {
        let layout = Layout::from_mountinfo(
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        );
        let own = OwnCgroups::parse("0::/user.slice/x\n");
        let manager = CgroupManager::from_layout(&layout, &own, Path::new("c1"));
        assert_eq!(
            names(&views(&layout, Some(&manager), &OwnCgroups::default())),
            [(None, "cgroup2", None, "/sys/fs/cgroup/user.slice/c1")]
        );
    }
}
