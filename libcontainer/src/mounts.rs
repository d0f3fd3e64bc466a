//! `mounts`: option parsing and mounting one entry inside the rootfs.
//!
//! Destinations are resolved with `openat2(RESOLVE_IN_ROOT)` from an fd on the
//! rootfs, so a symlink in the image can never send a mount outside of it;
//! the mount itself targets `/proc/self/fd/N` of the resolved directory.

use crate::sys;
use nix::mount::MsFlags;
use oci_spec::runtime::Mount;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mount {destination}: resolving {path} in the rootfs: {source}")]
    Resolve {
        destination: PathBuf,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mount {destination} ({what}): {source}")]
    Mount {
        destination: PathBuf,
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("mount {destination} ({what}): {source}")]
    Io {
        destination: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("mount {destination}: the host's cgroups: {source}")]
    Cgroups {
        destination: PathBuf,
        #[source]
        source: crate::cgroups::CgroupError,
    },
    #[error("mount {destination}: source {source_path}: {source}")]
    Source {
        destination: PathBuf,
        source_path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mount {destination}: mount_setattr(AT_RECURSIVE, set {set:#x}, clear {clear:#x}): {source}")]
    Recursive {
        destination: PathBuf,
        set: u64,
        clear: u64,
        #[source]
        source: std::io::Error,
    },
    /// runc's behaviour: a host without SELinux refuses the `context=` option.
    #[error("mount {destination} with linux.mountLabel (context={label:?}): {source}")]
    Labelled {
        destination: PathBuf,
        label: String,
        #[source]
        source: nix::Error,
    },
    #[error("mount {destination}: {reason}")]
    Refused {
        destination: PathBuf,
        reason: String,
    },
}

/// The parsed `options` of one mount entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for mount(2) (for bind mounts: the ones applied by the remount).
    pub flags: MsFlags,
    /// Flags to clear (an explicit `rw`, `suid`, ...).
    pub clear: MsFlags,
    /// Propagation flags applied after the mount (MS_SHARED, MS_SLAVE|MS_REC, ...).
    pub propagation: MsFlags,
    /// File-system specific options, comma-joined (`mode=755,size=65536k`).
    pub data: String,
    /// `MOUNT_ATTR_*` set on the mount and every mount below it (`rro`, ...).
    pub recursive_set: u64,
    /// `MOUNT_ATTR_*` cleared on the mount and every mount below it (`rrw`, ...).
    pub recursive_clear: u64,
}

impl Default for MountOptions {
    fn default() -> Self {
        Self {
            flags: MsFlags::empty(),
            clear: MsFlags::empty(),
            propagation: MsFlags::empty(),
            data: String::new(),
            recursive_set: 0,
            recursive_clear: 0,
        }
    }
}

const FLAG_OPTIONS: &[(&str, bool, MsFlags)] = &[
    ("async", true, MsFlags::MS_SYNCHRONOUS),
    ("atime", true, MsFlags::MS_NOATIME),
    ("bind", false, MsFlags::MS_BIND),
    ("defaults", false, MsFlags::empty()),
    ("dev", true, MsFlags::MS_NODEV),
    ("diratime", true, MsFlags::MS_NODIRATIME),
    ("dirsync", false, MsFlags::MS_DIRSYNC),
    ("exec", true, MsFlags::MS_NOEXEC),
    ("iversion", false, MsFlags::MS_I_VERSION),
    ("lazytime", false, MsFlags::MS_LAZYTIME),
    ("loud", true, MsFlags::MS_SILENT),
    ("mand", false, MsFlags::MS_MANDLOCK),
    ("noatime", false, MsFlags::MS_NOATIME),
    ("nodev", false, MsFlags::MS_NODEV),
    ("nodiratime", false, MsFlags::MS_NODIRATIME),
    ("noexec", false, MsFlags::MS_NOEXEC),
    ("noiversion", true, MsFlags::MS_I_VERSION),
    ("nolazytime", true, MsFlags::MS_LAZYTIME),
    ("nomand", true, MsFlags::MS_MANDLOCK),
    ("norelatime", true, MsFlags::MS_RELATIME),
    ("nostrictatime", true, MsFlags::MS_STRICTATIME),
    ("nosuid", false, MsFlags::MS_NOSUID),
    (
        "nosymfollow",
        false,
        MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW),
    ),
    ("rbind", false, MsFlags::MS_BIND.union(MsFlags::MS_REC)),
    ("relatime", false, MsFlags::MS_RELATIME),
    ("remount", false, MsFlags::MS_REMOUNT),
    ("ro", false, MsFlags::MS_RDONLY),
    ("rw", true, MsFlags::MS_RDONLY),
    ("silent", false, MsFlags::MS_SILENT),
    ("strictatime", false, MsFlags::MS_STRICTATIME),
    ("suid", true, MsFlags::MS_NOSUID),
    ("sync", false, MsFlags::MS_SYNCHRONOUS),
    (
        "symfollow",
        true,
        MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW),
    ),
];

/// `MOUNT_ATTR_*` of mount_setattr(2). The atime modes are values of the
/// `ATIME` field, not bits (relatime is 0).
mod attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    pub const ATIME: u64 = 0x70;
    pub const RELATIME: u64 = 0x0;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
    pub const NOSYMFOLLOW: u64 = 0x200000;
}

/// What a recursive option (runtime-spec `rro`, ... as runc names them)
/// does to the mount tree.
#[derive(Clone, Copy)]
enum Recursive {
    Set(u64),
    Clear(u64),
    /// An atime mode for every mount of the tree.
    Atime(u64),
    /// No atime change asked (`rnorelatime`): as mount(2)'s `norelatime`
    /// and runc, it leaves each mount's atime mode as it is.
    KeepAtime,
}

const RECURSIVE_OPTIONS: &[(&str, Recursive)] = &[
    ("rro", Recursive::Set(attr::RDONLY)),
    ("rrw", Recursive::Clear(attr::RDONLY)),
    ("rnosuid", Recursive::Set(attr::NOSUID)),
    ("rsuid", Recursive::Clear(attr::NOSUID)),
    ("rnodev", Recursive::Set(attr::NODEV)),
    ("rdev", Recursive::Clear(attr::NODEV)),
    ("rnoexec", Recursive::Set(attr::NOEXEC)),
    ("rexec", Recursive::Clear(attr::NOEXEC)),
    ("rnodiratime", Recursive::Set(attr::NODIRATIME)),
    ("rdiratime", Recursive::Clear(attr::NODIRATIME)),
    ("rnosymfollow", Recursive::Set(attr::NOSYMFOLLOW)),
    ("rsymfollow", Recursive::Clear(attr::NOSYMFOLLOW)),
    ("rnoatime", Recursive::Atime(attr::NOATIME)),
    ("rstrictatime", Recursive::Atime(attr::STRICTATIME)),
    ("rrelatime", Recursive::Atime(attr::RELATIME)),
    // Leaving noatime or strictatime gives the kernel's default, relatime,
    // as mount(2)'s `atime` and `nostrictatime` do (mount_setattr takes an
    // atime change only as a whole mode).
    ("ratime", Recursive::Atime(attr::RELATIME)),
    ("rnostrictatime", Recursive::Atime(attr::RELATIME)),
    ("rnorelatime", Recursive::KeepAtime),
];

const PROPAGATION_OPTIONS: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

/// Options that name a feature berth does not implement yet.
const UNSUPPORTED_OPTIONS: &[&str] = &["tmpcopyup"];

/// Options that ask for an id-mapped mount (done by [`crate::idmapped_mounts`]
/// before init mounts the entry).
const IDMAP_OPTIONS: &[&str] = &["idmap", "ridmap"];

/// Every mount option berth implements, sorted (for `berth features`).
pub fn known_options() -> Vec<&'static str> {
    let mut names: Vec<&str> = FLAG_OPTIONS
        .iter()
        .map(|(name, ..)| *name)
        .chain(PROPAGATION_OPTIONS.iter().map(|(name, _)| *name))
        .chain(RECURSIVE_OPTIONS.iter().map(|(name, _)| *name))
        .chain(IDMAP_OPTIONS.iter().copied())
        .collect();
    names.sort_unstable();
    names
}

impl MountOptions {
    /// Refuses an option berth would otherwise have to ignore.
    pub fn check(option: &str) -> Result<(), String> {
        if UNSUPPORTED_OPTIONS.contains(&option) {
            return Err(format!(
                "mount option {option:?} is not supported by berth yet"
            ));
        }
        Ok(())
    }

    pub fn parse(options: &[String]) -> Self {
        let mut parsed = Self::default();
        let mut data = Vec::new();
        for option in options {
            if let Some((_, clear, flag)) = FLAG_OPTIONS.iter().find(|(name, ..)| name == option) {
                if *clear {
                    parsed.flags.remove(*flag);
                    parsed.clear.insert(*flag);
                } else {
                    parsed.flags.insert(*flag);
                    parsed.clear.remove(*flag);
                }
            } else if let Some((_, flag)) =
                PROPAGATION_OPTIONS.iter().find(|(name, _)| name == option)
            {
                parsed.propagation = *flag;
            } else if let Some((_, change)) =
                RECURSIVE_OPTIONS.iter().find(|(name, _)| name == option)
            {
                parsed.add_recursive(*change);
            } else if IDMAP_OPTIONS.contains(&option.as_str()) {
                // Done by idmapped_mounts before init mounts the entry.
            } else {
                data.push(option.as_str());
            }
        }
        parsed.data = data.join(",");
        parsed
    }

    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// Later options win over earlier ones, as for the mount(2) flags.
    fn add_recursive(&mut self, change: Recursive) {
        match change {
            Recursive::Set(bit) => {
                self.recursive_set |= bit;
                self.recursive_clear &= !bit;
            }
            Recursive::Clear(bit) => {
                self.recursive_clear |= bit;
                self.recursive_set &= !bit;
            }
            // mount_setattr(2) takes a new atime mode only with the whole
            // field in attr_clr.
            Recursive::Atime(mode) => {
                self.recursive_set = (self.recursive_set & !attr::ATIME) | mode;
                self.recursive_clear |= attr::ATIME;
            }
            Recursive::KeepAtime => {}
        }
    }

    fn has_recursive(&self) -> bool {
        self.recursive_set != 0 || self.recursive_clear != 0
    }
}

/// An `O_PATH` fd on what is mounted at `destination` now. An fd taken
/// before the mount still names the directory under it.
pub(crate) fn open_mounted(root: BorrowedFd, destination: &Path) -> Result<OwnedFd, MountError> {
    sys::openat2_in_root(root, destination, libc::O_PATH, 0).map_err(|source| MountError::Resolve {
        destination: destination.to_owned(),
        path: destination.to_owned(),
        source,
    })
}

/// Applies the recursive options of `options` to the mount at `destination`
/// (under `root`) and every mount below it.
fn apply_recursive(
    root: BorrowedFd,
    destination: &Path,
    options: &MountOptions,
) -> Result<(), MountError> {
    if !options.has_recursive() {
        return Ok(());
    }
    let mounted = open_mounted(root, destination)?;
    sys::mount_setattr(
        Some(mounted.as_fd()),
        Path::new(""),
        (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as u32,
        options.recursive_set,
        options.recursive_clear,
        0,
        None,
    )
    .map_err(|source| MountError::Recursive {
        destination: destination.to_owned(),
        set: options.recursive_set,
        clear: options.recursive_clear,
        source,
    })
}

/// Resolves `path` (absolute, as seen from inside the container) under
/// `root`, creating missing directories — or, with `file`, a missing final
/// file. Returns an `O_PATH` fd on the result.
pub fn create_in_root(root: BorrowedFd, path: &Path, file: bool) -> std::io::Result<OwnedFd> {
    let mut prefix = PathBuf::from("/");
    let mut parent = sys::openat2_in_root(root, &prefix, libc::O_PATH | libc::O_DIRECTORY, 0)?;
    let components: Vec<_> = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    for (i, component) in components.iter().enumerate() {
        let last = i + 1 == components.len();
        prefix.push(component);
        match sys::openat2_in_root(root, &prefix, libc::O_PATH, 0) {
            Ok(fd) => parent = fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                if last && file {
                    let fd = nix::fcntl::openat(
                        parent.as_fd(),
                        component.as_os_str(),
                        nix::fcntl::OFlag::O_CREAT
                            | nix::fcntl::OFlag::O_WRONLY
                            | nix::fcntl::OFlag::O_NOFOLLOW
                            | nix::fcntl::OFlag::O_CLOEXEC,
                        nix::sys::stat::Mode::from_bits_truncate(0o644),
                    )?;
                    drop(fd);
                } else {
                    match nix::sys::stat::mkdirat(
                        parent.as_fd(),
                        component.as_os_str(),
                        nix::sys::stat::Mode::from_bits_truncate(0o755),
                    ) {
                        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                parent = sys::openat2_in_root(root, &prefix, libc::O_PATH, 0)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(parent)
}

/// The path through which mount(2) reaches the object behind an fd.
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn mount_err<'a>(
    destination: &'a Path,
    what: &'static str,
) -> impl FnOnce(nix::Error) -> MountError + 'a {
    move |source| MountError::Mount {
        destination: destination.to_owned(),
        what,
        source,
    }
}

/// Paths under /proc that may be mounted over (lxcfs-style), as runc allows.
const PROC_MOUNT_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// What is about to be mounted, for [`check_proc_destination`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mounting {
    /// A new procfs (`type: proc`).
    NewProc,
    /// A bind mount whose source is on procfs.
    ProcBind,
    /// Anything else.
    Other,
}

/// runc's rule for destinations (resolved in the rootfs) at or below
/// /proc: only a procfs on /proc itself, and below it only the lxcfs
/// files, never with a procfs (a second procfs would escape maskedPaths).
fn check_proc_destination(destination: &Path, mounting: Mounting) -> Result<(), String> {
    if !destination.starts_with("/proc") {
        return Ok(());
    }
    if destination == Path::new("/proc") {
        return match mounting {
            Mounting::NewProc | Mounting::ProcBind => Ok(()),
            Mounting::Other => Err(format!(
                "{destination:?} cannot be mounted because it is not of type proc"
            )),
        };
    }
    let lxcfs = PROC_MOUNT_ALLOWED
        .iter()
        .any(|p| destination == Path::new(p));
    if lxcfs && mounting == Mounting::Other {
        return Ok(());
    }
    Err(format!(
        "{destination:?} cannot be mounted because it is inside /proc"
    ))
}

/// The path, as seen from inside the rootfs `root`, of what `fd` names.
fn path_in_root(root: BorrowedFd, fd: BorrowedFd) -> std::io::Result<PathBuf> {
    let link = |fd: BorrowedFd| std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    let (root_path, path) = (link(root)?, link(fd)?);
    if root_path == Path::new("/") {
        return Ok(path);
    }
    path.strip_prefix(&root_path)
        .map(|rest| Path::new("/").join(rest))
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EXDEV))
}

/// What mounting needs to know besides the entry itself.
pub struct MountContext<'a> {
    /// The rootfs, open as an `O_PATH` directory after it was bind-mounted onto itself.
    pub root: BorrowedFd<'a>,
    /// Relative bind sources are relative to the bundle.
    pub bundle: &'a Path,
    /// True when init is in a cgroup namespace of its own.
    pub new_cgroup_ns: bool,
    /// `linux.mountLabel`, added to the data of the file systems mounted.
    pub mount_label: Option<&'a str>,
    /// True when init is in a user namespace (sysfs may then have to be
    /// bind-mounted from the host).
    pub in_user_ns: bool,
    /// True when init joined a mount namespace by path, where the host's
    /// cgroup mounts may be elsewhere.
    pub joined_mount_ns: bool,
    /// The container's cgroup; None for a rootless container without one.
    pub cgroup: Option<&'a crate::cgroups::CgroupManager>,
}

/// Mounts one entry of `mounts` under the rootfs. `detached` is the entry's
/// id-mapped copy of its source, made by the parent (`idmapped_mounts`).
pub fn mount_entry(
    ctx: &MountContext,
    mount: &Mount,
    detached: Option<BorrowedFd>,
) -> Result<(), MountError> {
    let (root, bundle) = (ctx.root, ctx.bundle);
    let destination = mount.destination();
    let typ = mount.typ().as_deref().unwrap_or("");
    let options = MountOptions::parse(mount.options().as_deref().unwrap_or(&[]));
    let bind = options.is_bind() || typ == "bind";
    let source = mount.source().clone().unwrap_or_default();

    let source = if bind && source.is_relative() {
        bundle.join(&source)
    } else {
        source
    };
    let mounting = if bind {
        let on_proc = match detached {
            Some(tree) => nix::sys::statfs::fstatfs(tree),
            None => nix::sys::statfs::statfs(&source),
        }
        .map_err(|e| MountError::Source {
            destination: destination.to_owned(),
            source_path: source.clone(),
            source: e.into(),
        })?
        .filesystem_type()
            == nix::sys::statfs::PROC_SUPER_MAGIC;
        if on_proc {
            Mounting::ProcBind
        } else {
            Mounting::Other
        }
    } else if typ == "proc" {
        Mounting::NewProc
    } else {
        Mounting::Other
    };
    let refused = |reason| MountError::Refused {
        destination: destination.to_owned(),
        reason,
    };
    // As written first (nothing is created under /proc), then as resolved
    // through the image's symlinks.
    check_proc_destination(destination, mounting).map_err(refused)?;
    if typ == "cgroup" || typ == "cgroup2" {
        crate::cgroup_mount::mount_cgroups(ctx, destination, &options)?;
        return apply_recursive(root, destination, &options);
    }
    let is_file = bind
        && std::fs::metadata(&source)
            .map_err(|e| MountError::Source {
                destination: destination.to_owned(),
                source_path: source.clone(),
                source: e,
            })?
            .is_file();
    let target = create_in_root(root, destination, is_file).map_err(|e| MountError::Resolve {
        destination: destination.to_owned(),
        path: destination.to_owned(),
        source: e,
    })?;
    let resolved = path_in_root(root, target.as_fd()).map_err(|e| MountError::Resolve {
        destination: destination.to_owned(),
        path: destination.to_owned(),
        source: e,
    })?;
    check_proc_destination(&resolved, mounting).map_err(refused)?;
    let target_path = fd_path(&target);

    if bind {
        match detached {
            Some(tree) => sys::move_mount(tree, target.as_fd()).map_err(|e| MountError::Io {
                destination: destination.to_owned(),
                what: "move_mount of the id-mapped mount",
                source: e,
            })?,
            None => nix::mount::mount(
                Some(&source),
                &target_path,
                None::<&str>,
                MsFlags::MS_BIND | (options.flags & MsFlags::MS_REC),
                None::<&str>,
            )
            .map_err(mount_err(destination, "bind"))?,
        }
        let extra = options.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            // The fd still names the directory under the new mount: reopen
            // to reach the mount itself.
            let mounted = open_mounted(root, destination)?;
            remount_bind(&fd_path(&mounted), extra, destination)?;
        }
    } else {
        let source = if source.as_os_str().is_empty() {
            PathBuf::from(typ)
        } else {
            source
        };
        // runc labels every file system it mounts but these.
        let label = ctx
            .mount_label
            .filter(|l| !l.is_empty() && !matches!(typ, "proc" | "sysfs" | "mqueue"));
        let data = crate::lsm::with_mount_label(&options.data, label);
        let data = (!data.is_empty()).then_some(data.as_str());
        let flags = options.flags - MsFlags::MS_REMOUNT;
        match nix::mount::mount(Some(&source), &target_path, Some(typ), flags, data) {
            // A user namespace may mount sysfs only in a network namespace
            // it owns; otherwise the host's /sys is bind-mounted, as crun
            // and runc do.
            Err(nix::errno::Errno::EPERM) if typ == "sysfs" && ctx.in_user_ns => {
                tracing::debug!(
                    "mount {}: sysfs refused in this user namespace; bind-mounting /sys",
                    destination.display()
                );
                bind_host_sys(root, destination, &target_path, flags)?;
            }
            Err(source) => {
                return Err(match label {
                    Some(label) => MountError::Labelled {
                        destination: destination.to_owned(),
                        label: label.to_owned(),
                        source,
                    },
                    None => mount_err(destination, "mount")(source),
                })
            }
            Ok(()) => {}
        }
    }
    if !options.propagation.is_empty() {
        let mounted = open_mounted(root, destination)?;
        nix::mount::mount(
            None::<&str>,
            &fd_path(&mounted),
            None::<&str>,
            options.propagation,
            None::<&str>,
        )
        .map_err(mount_err(destination, "propagation"))?;
    }
    apply_recursive(root, destination, &options)
}

/// The host's /sys, recursively, at `target_path` with the entry's `flags`.
fn bind_host_sys(
    root: BorrowedFd,
    destination: &Path,
    target_path: &Path,
    flags: MsFlags,
) -> Result<(), MountError> {
    nix::mount::mount(
        Some("/sys"),
        target_path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(mount_err(destination, "bind /sys"))?;
    let mounted = open_mounted(root, destination)?;
    remount_bind(&fd_path(&mounted), flags - MsFlags::MS_REC, destination)?;
    if flags.contains(MsFlags::MS_RDONLY) {
        // The remount made only the top read-only; the host's mounts under
        // /sys must be too.
        const MOUNT_ATTR_RDONLY: u64 = 0x1;
        sys::mount_setattr(
            Some(mounted.as_fd()),
            Path::new(""),
            libc::AT_EMPTY_PATH as u32 | sys::AT_RECURSIVE,
            MOUNT_ATTR_RDONLY,
            0,
            0,
            None,
        )
        .map_err(|e| MountError::Io {
            destination: destination.to_owned(),
            what: "read-only /sys bind",
            source: e,
        })?;
    }
    Ok(())
}

/// Remounts a bind mount with `flags`, keeping the flags the kernel locked
/// on it (nosuid, nodev, noexec, atime flags inherited from the source).
pub fn remount_bind(target: &Path, flags: MsFlags, destination: &Path) -> Result<(), MountError> {
    let locked = nix::sys::statvfs::statvfs(target)
        .map(|st| locked_flags(st.flags()))
        .unwrap_or(MsFlags::empty());
    nix::mount::mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | locked,
        None::<&str>,
    )
    .map_err(mount_err(destination, "remount"))
}

fn locked_flags(st: nix::sys::statvfs::FsFlags) -> MsFlags {
    use nix::sys::statvfs::FsFlags;
    let mut flags = MsFlags::empty();
    for (from, to) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if st.contains(from) {
            flags |= to;
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: &[&str]) -> MountOptions {
        MountOptions::parse(&options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_data_and_propagation_are_separated() {
        let o = parse(&["nosuid", "strictatime", "mode=755", "size=65536k", "rslave"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert_eq!(o.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert!(!o.is_bind());
    }

    #[test]
    fn later_options_win_and_rbind_is_recursive() {
        let o = parse(&["rbind", "ro", "rw"]);
        assert!(o.is_bind());
        assert!(o.flags.contains(MsFlags::MS_REC));
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.clear.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn recursive_options_set_and_clear_attributes() {
        let o = parse(&["rbind", "rro", "rnosuid", "rdev", "rnoatime"]);
        assert_eq!(o.recursive_set, attr::RDONLY | attr::NOSUID | attr::NOATIME);
        assert_eq!(o.recursive_clear, attr::NODEV | attr::ATIME);
        assert!(o.data.is_empty());
        // The last word wins; an atime change always names the whole field.
        let o = parse(&["rro", "rrw", "rstrictatime", "rrelatime"]);
        assert_eq!(o.recursive_set, attr::RELATIME);
        assert_eq!(o.recursive_clear, attr::RDONLY | attr::ATIME);
        let o = parse(&["rnoatime", "rnorelatime"]);
        assert_eq!(o.recursive_set, attr::NOATIME);
        assert!(!parse(&["rnorelatime"]).has_recursive());
        let o = parse(&["nosymfollow"]);
        assert_eq!(o.flags.bits(), libc::MS_NOSYMFOLLOW);
        assert_eq!(parse(&["nosymfollow", "symfollow"]).flags, MsFlags::empty());
    }

    #[test]
    fn proc_destinations_follow_runc() {
        let check = |d: &str, m| check_proc_destination(Path::new(d), m);
        assert!(check("/proc", Mounting::NewProc).is_ok());
        assert!(check("/proc", Mounting::ProcBind).is_ok());
        assert!(check("/proc", Mounting::Other)
            .unwrap_err()
            .contains("not of type proc"));
        assert!(check("/proc/cpuinfo", Mounting::Other).is_ok());
        assert!(check("/proc/cpuinfo", Mounting::ProcBind).is_err());
        assert!(check("/proc/sys", Mounting::NewProc)
            .unwrap_err()
            .contains("inside /proc"));
        assert!(check("/proc/sys", Mounting::Other).is_err());
        assert!(check("/procfoo", Mounting::Other).is_ok());
        assert!(check("/tmp", Mounting::NewProc).is_ok());
    }

    #[test]
    fn unsupported_options_are_refused() {
        assert!(MountOptions::check("tmpcopyup").is_err());
        assert!(MountOptions::check("rro").is_ok());
        assert!(MountOptions::check("nosuid").is_ok());
        assert!(MountOptions::check("mode=755").is_ok());
    }
}
