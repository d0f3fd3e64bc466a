//! The host's cgroup layout (pure v1, pure v2 or hybrid), read once from
//! `/proc/self/mountinfo`, and where a container's cgroup goes in each
//! hierarchy (`linux.cgroupsPath` resolved as runc resolves it).

use super::CgroupError;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

/// The v1 controllers berth knows, plus runc's named `name=systemd`
/// hierarchy, which it also joins.
pub const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "name=systemd",
];

/// One mounted v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Mount {
    /// The controllers mounted together here (e.g. `cpu`, `cpuacct`).
    pub controllers: Vec<String>,
    pub mount_point: PathBuf,
    /// The cgroup that the mount shows as its root (`/` unless bind-mounted).
    pub root: PathBuf,
}

/// The mounted v2 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Mount {
    pub mount_point: PathBuf,
    pub root: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    V1,
    V2,
    Hybrid,
}

/// Every cgroup hierarchy mounted on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub v1: Vec<V1Mount>,
    pub v2: Option<V2Mount>,
}

impl Layout {
    pub fn kind(&self) -> Option<Kind> {
        match (self.v1.is_empty(), self.v2.is_some()) {
            (true, true) => Some(Kind::V2),
            (false, false) => Some(Kind::V1),
            (false, true) => Some(Kind::Hybrid),
            (true, false) => None,
        }
    }

    /// Parses the text of `/proc/self/mountinfo`.
    pub fn from_mountinfo(text: &str) -> Layout {
        let mut layout = Layout {
            v1: Vec::new(),
            v2: None,
        };
        for line in text.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let fields: Vec<&str> = left.split(' ').collect();
            let mut rest = right.split(' ');
            let (Some(fstype), Some(_source), Some(super_opts)) =
                (rest.next(), rest.next(), rest.next())
            else {
                continue;
            };
            if fields.len() < 5 {
                continue;
            }
            let root = PathBuf::from(unescape(fields[3]));
            let mount_point = PathBuf::from(unescape(fields[4]));
            // mountinfo lists mounts in the order they were made: a mount
            // on a path hides every earlier mount at or below it (a tmpfs
            // over the hybrid `unified` mount, say).
            layout
                .v1
                .retain(|m| !m.mount_point.starts_with(&mount_point));
            if layout
                .v2
                .as_ref()
                .is_some_and(|m| m.mount_point.starts_with(&mount_point))
            {
                layout.v2 = None;
            }
            match fstype {
                "cgroup2" if layout.v2.is_none() => {
                    layout.v2 = Some(V2Mount { mount_point, root });
                }
                "cgroup" => {
                    let controllers: Vec<String> = super_opts
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o))
                        .map(str::to_owned)
                        .collect();
                    if controllers.is_empty() {
                        continue;
                    }
                    // A hierarchy mounted twice: the first mount serves.
                    if layout
                        .v1
                        .iter()
                        .any(|m| m.controllers.iter().any(|c| controllers.contains(c)))
                    {
                        continue;
                    }
                    layout.v1.push(V1Mount {
                        controllers,
                        mount_point,
                        root,
                    });
                }
                _ => {}
            }
        }
        layout
    }
}

impl Layout {
    /// Keeps only the hierarchies whose mount point really is a cgroup
    /// file system now (statfs): what a path or mountinfo says is not
    /// trusted alone.
    fn keep_cgroup_filesystems(&mut self) {
        const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
        const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
        let fs_type = |p: &Path| {
            nix::sys::statfs::statfs(p)
                .ok()
                .map(|s| s.filesystem_type().0)
        };
        self.v1
            .retain(|m| fs_type(&m.mount_point) == Some(CGROUP_SUPER_MAGIC));
        if self
            .v2
            .as_ref()
            .is_some_and(|m| fs_type(&m.mount_point) != Some(CGROUP2_SUPER_MAGIC))
        {
            self.v2 = None;
        }
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let oct = &bytes[i + 1..i + 4];
            if oct.iter().all(|b| (b'0'..=b'7').contains(b)) {
                out.push(oct.iter().fold(0u8, |v, b| v.wrapping_mul(8) + (b - b'0')));
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The host's layout, read from `/proc/self/mountinfo` once per process
/// (and so, when read before the clone, already known to init).
pub fn host() -> Result<&'static Layout, CgroupError> {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    if let Some(l) = LAYOUT.get() {
        return Ok(l);
    }
    let layout = read()?;
    Ok(LAYOUT.get_or_init(|| layout))
}

/// The layout of this process's mount namespace, read now.
pub fn read() -> Result<Layout, CgroupError> {
    let path = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(path).map_err(|source| CgroupError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut layout = Layout::from_mountinfo(&text);
    layout.keep_cgroup_filesystems();
    if layout.kind().is_none() {
        return Err(CgroupError::NoHierarchy);
    }
    Ok(layout)
}

/// berth's own cgroups, from the text of `/proc/self/cgroup`: the v1 path per
/// controller and the v2 path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnCgroups {
    pub v1: BTreeMap<String, PathBuf>,
    pub v2: Option<PathBuf>,
}

impl OwnCgroups {
    pub fn parse(text: &str) -> OwnCgroups {
        let mut own = OwnCgroups::default();
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if id == "0" && controllers.is_empty() {
                own.v2 = Some(PathBuf::from(path));
            } else {
                for c in controllers.split(',') {
                    own.v1.insert(c.to_owned(), PathBuf::from(path));
                }
            }
        }
        own
    }

    pub fn read() -> Result<OwnCgroups, CgroupError> {
        let path = Path::new("/proc/self/cgroup");
        let text = std::fs::read_to_string(path).map_err(|source| CgroupError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(OwnCgroups::parse(&text))
    }
}

/// Cleans a cgroups path lexically as runc does: `..` never climbs above the
/// root, `.` and repeated slashes vanish. Keeps it absolute or relative.
pub fn clean(path: &Path) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    let mut out = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    };
    for p in parts {
        out.push(p);
    }
    out
}

/// `dir` of a cgroup `cgroup` (as /proc/self/cgroup names it) in a hierarchy
/// mounted at `mount_point` showing `root` as its root.
pub(crate) fn in_mount(mount_point: &Path, root: &Path, cgroup: &Path) -> PathBuf {
    let rel = cgroup.strip_prefix(root).unwrap_or(cgroup);
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    mount_point.join(rel)
}

/// Where the container's cgroup goes in each hierarchy.
///
/// - absolute `inner`: under each hierarchy's mount point;
/// - relative `inner` on v1: under berth's own cgroup of that hierarchy;
/// - relative `inner` on v2: under the *parent* of berth's own cgroup (as
///   runc: berth's own cgroup has processes, so its children could not
///   get controllers enabled).
///
/// Returns the v1 directory per controller and the v2 directory.
pub fn container_dirs(
    layout: &Layout,
    own: &OwnCgroups,
    inner: &Path,
) -> (BTreeMap<String, PathBuf>, Option<PathBuf>) {
    let inner = clean(inner);
    let mut v1 = BTreeMap::new();
    for m in &layout.v1 {
        let dir = if inner.is_absolute() {
            m.mount_point
                .join(inner.strip_prefix("/").unwrap_or(&inner))
        } else {
            let own_path = m
                .controllers
                .iter()
                .find_map(|c| own.v1.get(c))
                .cloned()
                .unwrap_or_else(|| PathBuf::from("/"));
            in_mount(&m.mount_point, &m.root, &own_path).join(&inner)
        };
        for c in &m.controllers {
            v1.insert(c.clone(), dir.clone());
        }
    }
    let v2 = layout.v2.as_ref().map(|m| {
        if inner.is_absolute() {
            m.mount_point
                .join(inner.strip_prefix("/").unwrap_or(&inner))
        } else {
            let own_path = own.v2.clone().unwrap_or_else(|| PathBuf::from("/"));
            let parent = own_path.parent().unwrap_or(Path::new("/")).to_owned();
            in_mount(&m.mount_point, &m.root, &parent).join(&inner)
        }
    });
    (v1, v2)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 / /sys/fs/cgroup/net_cls,net_prio rw,relatime shared:5 - cgroup cgroup rw,net_cls,net_prio
43 31 0:40 / /mnt/odd\\040dir rw - cgroup cgroup rw,clone_children,cpuset
";

    #[test]
    fn parses_hybrid_mountinfo() {
        let l = Layout::from_mountinfo(HYBRID);
        assert_eq!(l.kind(), Some(Kind::Hybrid));
        assert_eq!(
            l.v2,
            Some(V2Mount {
                mount_point: "/sys/fs/cgroup/unified".into(),
                root: "/".into()
            })
        );
        let names: Vec<_> = l.v1.iter().map(|m| m.controllers.join(",")).collect();
        assert_eq!(
            names,
            [
                "cpu",
                "cpuacct",
                "memory",
                "name=systemd",
                "net_cls,net_prio",
                "cpuset"
            ]
        );
        assert_eq!(l.v1[5].mount_point, Path::new("/mnt/odd dir"));
    }

    #[test]
    fn a_later_mount_hides_the_hierarchies_below_it() {
        let over_unified =
            format!("{HYBRID}50 41 0:50 / /sys/fs/cgroup/unified rw - tmpfs tmpfs rw\n");
        let l = Layout::from_mountinfo(&over_unified);
        assert_eq!(l.kind(), Some(Kind::V1));
        assert_eq!(l.v1.len(), 6);
        let over_all = format!("{HYBRID}50 23 0:50 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n");
        let l = Layout::from_mountinfo(&over_all);
        assert_eq!(l.v1.len(), 1, "only /mnt/odd dir is outside");
        assert!(l.v2.is_none());
    }

    #[test]
    fn parses_pure_v2_and_v1() {
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(Layout::from_mountinfo(v2).kind(), Some(Kind::V2));
        let v1 = "32 31 0:29 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        assert_eq!(Layout::from_mountinfo(v1).kind(), Some(Kind::V1));
        assert_eq!(Layout::from_mountinfo("").kind(), None);
    }

    #[test]
    fn cleans_like_runc() {
        assert_eq!(clean(Path::new("/a/../../b/./c//")), Path::new("/b/c"));
        assert_eq!(clean(Path::new("../../x")), Path::new("x"));
        assert_eq!(clean(Path::new("a/b/..")), Path::new("a"));
    }

    #[test]
    fn container_dirs_absolute_and_relative() {
        let l = Layout::from_mountinfo(HYBRID);
        let own = OwnCgroups::parse(
            "4:memory:/process_api/xyz\n1:cpu:/\n9:name=systemd:/user/s\n0::/user.slice/s.scope\n",
        );
        let (v1, v2) = container_dirs(&l, &own, Path::new("/berth/c1"));
        assert_eq!(v1["memory"], Path::new("/sys/fs/cgroup/memory/berth/c1"));
        assert_eq!(v2.unwrap(), Path::new("/sys/fs/cgroup/unified/berth/c1"));
        let (v1, v2) = container_dirs(&l, &own, Path::new("c1"));
        assert_eq!(
            v1["memory"],
            Path::new("/sys/fs/cgroup/memory/process_api/xyz/c1")
        );
        assert_eq!(v1["cpu"], Path::new("/sys/fs/cgroup/cpu/c1"));
        assert_eq!(
            v1["name=systemd"],
            Path::new("/sys/fs/cgroup/systemd/user/s/c1")
        );
        assert_eq!(v1["net_prio"], v1["net_cls"]);
        assert_eq!(
            v2.unwrap(),
            Path::new("/sys/fs/cgroup/unified/user.slice/c1")
        );
    }

    #[test]
    fn own_cgroup_under_a_bind_mounted_root() {
        let l = Layout::from_mountinfo(
            "30 23 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        );
        let own = OwnCgroups::parse("0::/docker/abc/sub/me\n");
        let (_, v2) = container_dirs(&l, &own, Path::new("c"));
        assert_eq!(v2.unwrap(), Path::new("/sys/fs/cgroup/sub/c"));
    }
}
