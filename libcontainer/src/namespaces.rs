//! `linux.namespaces`: which namespaces the init is cloned into, and which
//! it joins by path.
//!
//! New namespaces come from the clone flags (one clone). Joined ones are
//! entered with setns: pid and time by the parent before the clone (they only
//! apply to children), the rest by init right after it.

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::fs::File;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("namespace {typ} at {path}: {source}")]
    Open {
        typ: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("joining the {typ} namespace at {path}: {source}")]
    Join {
        typ: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("time namespace offsets: {0}")]
    TimeOffsets(#[source] std::io::Error),
    #[error("unshare of new namespaces: {0}")]
    Unshare(#[source] nix::Error),
    #[error("joining the {types} namespaces of process {pid}: {source}")]
    JoinProcess {
        types: String,
        pid: i32,
        #[source]
        source: nix::Error,
    },
}

fn name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

pub(crate) fn flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(0x80),
    }
}

/// A namespace to join, opened in the parent before the clone.
pub struct Join {
    pub typ: LinuxNamespaceType,
    pub path: PathBuf,
    pub file: File,
}

impl Join {
    pub fn enter(&self) -> Result<(), NamespaceError> {
        nix::sched::setns(&self.file, flag(self.typ)).map_err(|source| NamespaceError::Join {
            typ: name(self.typ),
            path: self.path.clone(),
            source,
        })
    }
}

/// The namespace plan of a container.
pub struct Namespaces {
    /// New namespaces to clone init into. A new cgroup namespace is not here:
    /// init unshares it once it is in its cgroup, so that the cgroup is its root.
    pub clone_flags: CloneFlags,
    /// New namespaces init makes with unshare once it has joined the user
    /// namespace given by path: made there, they belong to that user
    /// namespace (cloned, they would belong to the host's).
    pub init_unshare: CloneFlags,
    pub new_cgroup: bool,
    /// Entered by the parent before the clone (pid, time).
    pub parent_joins: Vec<Join>,
    /// Entered by init after the clone; user first.
    pub init_joins: Vec<Join>,
}

impl Namespaces {
    pub fn from_spec(spec: &Spec) -> Result<Self, NamespaceError> {
        let mut plan = Namespaces {
            clone_flags: CloneFlags::empty(),
            init_unshare: CloneFlags::empty(),
            new_cgroup: false,
            parent_joins: Vec::new(),
            init_joins: Vec::new(),
        };
        let list = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_deref())
            .unwrap_or(&[]);
        for ns in list {
            let typ = ns.typ();
            match ns.path() {
                None if typ == LinuxNamespaceType::Cgroup => plan.new_cgroup = true,
                None => plan.clone_flags |= flag(typ),
                Some(path) => {
                    let file = File::open(path).map_err(|source| NamespaceError::Open {
                        typ: name(typ),
                        path: path.clone(),
                        source,
                    })?;
                    let join = Join {
                        typ,
                        path: path.clone(),
                        file,
                    };
                    if matches!(typ, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
                        plan.parent_joins.push(join);
                    } else if typ == LinuxNamespaceType::User {
                        plan.init_joins.insert(0, join);
                    } else {
                        plan.init_joins.push(join);
                    }
                }
            }
        }
        if plan.joins(LinuxNamespaceType::User) {
            plan.init_unshare = std::mem::replace(&mut plan.clone_flags, CloneFlags::empty());
        }
        Ok(plan)
    }

    pub fn has_new(&self, typ: LinuxNamespaceType) -> bool {
        if typ == LinuxNamespaceType::Cgroup {
            return self.new_cgroup;
        }
        (self.clone_flags | self.init_unshare).contains(flag(typ))
    }

    /// Init's side: joins the namespaces given by path (user first), then
    /// makes the new ones that must belong to a joined user namespace.
    pub fn enter_in_init(&self) -> Result<(), NamespaceError> {
        for join in &self.init_joins {
            join.enter()?;
        }
        if !self.init_unshare.is_empty() {
            nix::sched::unshare(self.init_unshare).map_err(NamespaceError::Unshare)?;
        }
        Ok(())
    }

    pub fn joins(&self, typ: LinuxNamespaceType) -> bool {
        self.parent_joins
            .iter()
            .chain(&self.init_joins)
            .any(|j| j.typ == typ)
    }
}

/// The pid and time namespaces this process's children are made in, saved
/// before the parent enters the container's (they only apply to children)
/// and put back after the clone, so that hooks and any later child of berth
/// are in the runtime's namespaces again.
pub struct ChildNamespaces {
    saved: Vec<(LinuxNamespaceType, PathBuf, File)>,
}

impl ChildNamespaces {
    pub fn save(pid: bool, time: bool) -> Result<Self, NamespaceError> {
        let mut saved = Vec::new();
        for (typ, wanted, path) in [
            (
                LinuxNamespaceType::Pid,
                pid,
                "/proc/self/ns/pid_for_children",
            ),
            (
                LinuxNamespaceType::Time,
                time,
                "/proc/self/ns/time_for_children",
            ),
        ] {
            if wanted {
                let file = File::open(path).map_err(|source| NamespaceError::Open {
                    typ: name(typ),
                    path: path.into(),
                    source,
                })?;
                saved.push((typ, PathBuf::from(path), file));
            }
        }
        Ok(Self { saved })
    }

    pub fn restore(self) -> Result<(), NamespaceError> {
        for (typ, path, file) in self.saved {
            nix::sched::setns(&file, flag(typ)).map_err(|source| NamespaceError::Join {
                typ: name(typ),
                path,
                source,
            })?;
        }
        Ok(())
    }
}

/// The namespace types, as /proc/PID/ns names them, with their flags.
const PROC_NS: &[(&str, CloneFlags)] = &[
    // The user namespace first: the others are then joined with the
    // capabilities it gives.
    ("user", CloneFlags::CLONE_NEWUSER),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("time", CloneFlags::from_bits_retain(0x80)),
];

/// Joins the namespaces `flags` of the process behind `pidfd` (pid `pid`):
/// with one setns on the pidfd (Linux 5.8+; the kernel orders them, user
/// first), else through its /proc/PID/ns files, opened while the pidfd
/// shows the process alive, so that a reused pid is never joined. Pid and
/// time namespaces apply to the caller's children.
pub fn enter_process(
    pidfd: &std::os::fd::OwnedFd,
    pid: i32,
    flags: CloneFlags,
) -> Result<(), NamespaceError> {
    if flags.is_empty() {
        return Ok(());
    }
    let err = |source| NamespaceError::JoinProcess {
        types: PROC_NS
            .iter()
            .filter(|(_, f)| flags.contains(*f))
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(","),
        pid,
        source,
    };
    match nix::sched::setns(pidfd, flags) {
        Err(nix::errno::Errno::EINVAL) => {}
        other => return other.map_err(err),
    }
    let mut files = Vec::new();
    for (name, f) in PROC_NS.iter().filter(|(_, f)| flags.contains(*f)) {
        let path = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
        let file = File::open(&path).map_err(|source| NamespaceError::Open {
            typ: name,
            path,
            source,
        })?;
        files.push((*f, file));
    }
    // Alive now, so the files above were its own.
    crate::sys::pidfd_send_signal(std::os::fd::AsFd::as_fd(pidfd), 0).map_err(|e| {
        err(nix::errno::Errno::from_raw(
            e.raw_os_error().unwrap_or(libc::ESRCH),
        ))
    })?;
    for (f, file) in files {
        nix::sched::setns(&file, f).map_err(err)?;
    }
    Ok(())
}

/// Gives the parent's future children a new time namespace with the spec's
/// clock offsets. The offsets can only be written before any process is in
/// the namespace, so it is made here, in the parent, and init is cloned into it.
pub fn prepare_time_namespace(
    offsets: &std::collections::HashMap<String, oci_spec::runtime::LinuxTimeOffset>,
) -> Result<(), NamespaceError> {
    nix::sched::unshare(flag(LinuxNamespaceType::Time)).map_err(NamespaceError::Unshare)?;
    let mut text = String::new();
    for (clock, offset) in offsets {
        text.push_str(&format!(
            "{clock} {} {}\n",
            offset.secs().unwrap_or(0),
            offset.nanosecs().unwrap_or(0)
        ));
    }
    if !text.is_empty() {
        std::fs::write("/proc/self/timens_offsets", text).map_err(NamespaceError::TimeOffsets)?;
    }
    Ok(())
}
