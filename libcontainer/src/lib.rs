//! Turns an OCI bundle (config.json + rootfs) into a running container.
//!
//! Where each part of the runtime-spec is handled:
//! - config.json loading and validation: [`spec`]
//! - the create path, top-down: [`create`]; init's side: [`process::init`]
//! - the parent/init protocol: [`process::channel`]
//! - namespaces: [`namespaces`]; user namespace maps, rootless: [`userns`];
//!   id-mapped mounts: [`idmapped_mounts`]; rootfs and pivot_root: [`rootfs`];
//!   `mounts`: [`mounts`], [`cgroup_mount`]; devices: [`devices`];
//!   masked and read-only paths: [`masked_paths`]; console: [`console`]
//! - process: [`capabilities`], [`credentials`], [`rlimits`], [`sysctl`],
//!   [`seccomp`]; writes into procfs through a verified handle: [`procfs`]
//! - hooks: [`hooks`]; cgroups: [`cgroups`]
//! - state, start, kill, delete, list: [`state`], [`container`]; run: [`run`]
//! - networks of a running container (`berth network connect|disconnect`):
//!   [`network_connect`]
//! - exec: [`exec`] (the parent), [`process::exec`] (the process's side);
//!   what init and exec'd processes share last: [`process::finalize`];
//!   `execCPUAffinity`: [`cpu_affinity`]; AppArmor and SELinux: [`lsm`]

pub mod capabilities;
pub mod cgroup_mount;
pub mod cgroups;
pub mod console;
pub mod container;
pub mod cpu_affinity;
pub mod create;
pub mod credentials;
pub mod devices;
pub mod events;
pub mod exec;
pub mod hooks;
pub mod idmapped_mounts;
pub mod io_priority;
pub mod json_path;
pub mod lsm;
pub mod masked_paths;
pub mod memory_policy;
pub mod mounts;
pub mod namespaces;
pub mod net_devices;
pub mod network_connect;
pub mod notify_socket;
pub mod passwd;
pub mod pause;
pub mod personality;
pub mod process;
pub mod procfs;
pub mod ps;
pub mod rlimits;
pub mod rootfs;
pub mod run;
pub mod scheduler;
pub mod seccomp;
pub mod signal;
pub mod spec;
pub mod state;
pub mod sys;
pub mod sysctl;
pub mod time;
pub mod update;
pub mod userns;

use std::path::{Path, PathBuf};

pub use create::{CreateOptions, Created};
pub use state::Status;

/// Every error of the library, by the module it comes from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error("config.json: {0}")]
    Config(String),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error(transparent)]
    Namespace(#[from] namespaces::NamespaceError),
    #[error(transparent)]
    Channel(#[from] process::channel::ChannelError),
    #[error(transparent)]
    Cgroup(#[from] cgroups::CgroupError),
    #[error(transparent)]
    Network(#[from] network::Error),
    #[error(transparent)]
    NetDevice(#[from] net_devices::NetDeviceError),
    #[error(transparent)]
    Connect(#[from] network_connect::ConnectError),
    #[error(transparent)]
    Notify(#[from] notify_socket::NotifyError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error(transparent)]
    Console(#[from] console::ConsoleError),
    #[error(transparent)]
    Userns(#[from] userns::UsernsError),
    #[error(transparent)]
    Idmap(#[from] idmapped_mounts::IdmapError),
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
    #[error(transparent)]
    Exec(#[from] exec::ExecError),
    #[error("process.oomScoreAdj: {0}")]
    OomScoreAdj(#[source] procfs::ProcfsError),
    #[error("{what} {path}: {source}")]
    Sys {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("networks were requested, but berth's network layer needs root (it makes bridges, veths and firewall rules on the host): run berth as root, or without berth.network/--network")]
    RootlessNetwork,
    #[error("rootless container without access to its cgroup ({why}): {source}")]
    RootlessCgroup {
        why: &'static str,
        #[source]
        source: cgroups::CgroupError,
    },
    /// runc's words: containerd's shim recognises a kill of a stopped
    /// container by `container not running` in the message.
    #[error("container not running: {0}")]
    NotRunning(String),
    #[error("container {0} could not run its process: a startContainer hook or the exec failed (the container's stderr has init's message)")]
    ExecFailed(String),
    #[error("container {id} could not run its process: exec: {source}")]
    ExecOfProcess {
        id: String,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("cannot {op} container {id}: it is {status}")]
    WrongStatus {
        id: String,
        op: &'static str,
        status: Status,
    },
}

impl Error {
    pub(crate) fn sys(what: &'static str, path: &Path, source: nix::Error) -> Self {
        Error::Sys {
            what,
            path: path.to_owned(),
            source,
        }
    }
}
