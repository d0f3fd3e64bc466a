//! berth's network layer.
//!
//! The container runtime (`libcontainer`) calls this crate at three points of
//! the create path, and once on delete:
//!
//! 1. [`Networks::prepare`] in the parent, before the init is cloned: resolves
//!    the requested networks, allocates addresses and records the endpoints
//!    (write-ahead) so that a crash at any later point can be undone.
//! 2. [`ContainerNetwork::create`] in the parent, once init has its network
//!    namespace: host-side work (veth pair created with its peer directly in
//!    init's netns, bridge attach, firewall elements).
//! 3. [`ContainerNetwork::initialize`] inside the container's netns, before
//!    the user process runs: loopback up, addresses, routes.
//! 4. [`Networks::release`] on delete (and `delete --force`, and after a
//!    crash): undoes everything recorded for the container. Idempotent.
//!
//! A netns without any requested network still gets [`initialize_loopback`].

pub mod ipam;
pub mod firewall;
pub mod model;
pub mod netlink;
pub mod strategy;
pub mod bridge;
pub mod request;
pub mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Default directory for persistent network state.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/berth";

/// Annotation listing networks to attach: comma-separated `NAME[:k=v,...]`.
pub const ANNOTATION_NETWORK: &str = "berth.network";
/// Annotation listing ports to publish: comma-separated port specs.
pub const ANNOTATION_PUBLISH: &str = "berth.publish";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Netlink(#[from] netlink::Error),
    #[error("sysctl {}: {source}", .path.display())]
    Sysctl {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("endpoint on network {network}: {reason}")]
    Endpoint { network: String, reason: String },
    #[error(
        "bridge {bridge} is full: the kernel allows at most {max_ports} ports per bridge; \
         spread containers over several networks"
    )]
    BridgeFull { bridge: String, max_ports: usize },
    #[error("device {device} exists and is not a bridge (it is a {kind}); berth leaves it alone")]
    NotABridge { device: String, kind: String },
    #[error(transparent)]
    Firewall(#[from] firewall::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// What a container asked for: from `--network`/`--publish` and annotations.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ContainerNetworkRequest {
    /// Raw `--network` values, in order.
    pub networks: Vec<String>,
    /// Raw `--publish` values, in order.
    pub publish: Vec<String>,
}

impl ContainerNetworkRequest {
    /// Adds the requests found in the `berth.network` / `berth.publish` annotations.
    pub fn add_annotations(&mut self, annotations: &HashMap<String, String>) -> Result<()> {
        let _ = annotations;
        todo!()
    }

    /// Parses every entry; an error names the malformed one.
    pub fn validate(&self) -> Result<()> {
        todo!()
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty() && self.publish.is_empty()
    }
}

/// Handle on the persistent network state.
pub struct Networks {
    #[allow(dead_code)]
    state_dir: PathBuf,
}

impl Networks {
    pub fn open(state_dir: &Path) -> Result<Self> {
        Ok(Self {
            state_dir: state_dir.to_owned(),
        })
    }

    /// Parent, before clone: allocate and record. Nothing is made on the host yet.
    pub fn prepare(
        &self,
        container_id: &str,
        request: &ContainerNetworkRequest,
    ) -> Result<ContainerNetwork> {
        let _ = (container_id, request);
        todo!()
    }

    /// Undo everything recorded for `container_id`. Unknown ids are not an error.
    pub fn release(&self, container_id: &str) -> Result<()> {
        let _ = container_id;
        todo!()
    }
}

/// A container's planned endpoints, complete before the init is cloned, so
/// that the child's copy of it is the same plan the parent executes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ContainerNetwork {}

impl ContainerNetwork {
    /// Parent side, init's netns exists. Undoes its own partial work on error.
    pub fn create(&self, init_pid: i32) -> Result<()> {
        let _ = init_pid;
        todo!()
    }

    /// Inside the container's netns, before exec.
    pub fn initialize(&self) -> Result<()> {
        todo!()
    }

    /// What to show in `berth state` (interfaces, addresses, MACs, ports).
    pub fn summary(&self) -> serde_json::Value {
        todo!()
    }
}

/// Brings `lo` up in the current network namespace.
pub fn initialize_loopback() -> Result<()> {
    // SIOCSIFFLAGS on any socket of the netns: the cheapest way to do it.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::Invalid(format!(
            "loopback: socket: {}",
            std::io::Error::last_os_error()
        )));
    }
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    let r = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) };
    let r = if r == 0 {
        unsafe {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            libc::ioctl(fd, libc::SIOCSIFFLAGS, &req)
        }
    } else {
        r
    };
    let err = std::io::Error::last_os_error();
    unsafe { libc::close(fd) };
    if r != 0 {
        return Err(Error::Invalid(format!("loopback: bringing lo up: {err}")));
    }
    Ok(())
}
