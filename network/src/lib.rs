//! berth's network layer.
//!
//! The container runtime (`libcontainer`) calls this crate at three points of
//! the create path, and once on delete:
//!
//! 1. [`Networks::prepare`] in the parent, before the init is cloned: resolves
//!    the requested networks, allocates addresses and records the endpoints
//!    (write-ahead) so that a crash at any later point can be undone; writes
//!    the endpoints' names into their networks' hosts files and the
//!    container's resolv.conf and hostname ([`names`]), which init mounts.
//! 2. [`ContainerNetwork::create`] in the parent, once init has its network
//!    namespace: host-side work (veth pair created with its peer directly in
//!    init's netns, bridge attach, firewall elements).
//! 3. [`ContainerNetwork::initialize`] inside the container's netns, before
//!    the user process runs: loopback up, addresses, routes.
//! 4. [`Networks::release`] on delete (and `delete --force`, and after a
//!    crash): undoes everything recorded for the container. Idempotent.
//!
//! A netns without any requested network still gets [`initialize_loopback`]
//! (the `loopback` strategy of [`strategy`]).
//!
//! A running container joins and leaves networks through
//! [`Networks::connect`] and [`Networks::disconnect`] ([`connect`]).

pub mod bridge;
pub mod cni;
pub mod connect;
pub mod filter;
pub mod firewall;
pub mod forwarding;
pub mod host;
pub mod hostsfile;
pub mod ipam;
pub mod listeners;
pub mod model;
pub mod names;
pub mod netlink;
pub mod networks;
pub mod request;
pub mod restore;
pub mod store;
pub mod strategy;

use std::collections::HashMap;

/// Default directory for persistent network state.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/berth";

/// Annotation listing networks to attach: comma-separated `NAME[:k=v,...]`.
pub const ANNOTATION_NETWORK: &str = "berth.network";
/// Annotation listing ports to publish: comma-separated port specs.
pub const ANNOTATION_PUBLISH: &str = "berth.publish";
/// Annotation listing nameservers for the container's resolv.conf
/// (`--dns`): comma-separated addresses.
pub const ANNOTATION_DNS: &str = "berth.dns";
/// Annotation listing search domains (`--dns-search`): comma-separated.
pub const ANNOTATION_DNS_SEARCH: &str = "berth.dns-search";
/// Annotation listing the container's own hosts entries (`--add-host`):
/// comma-separated `NAME:IP`.
pub const ANNOTATION_ADD_HOST: &str = "berth.add-host";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is refused: malformed user input (a flag, an annotation,
    /// a CNI configuration) or one that conflicts with what exists. The
    /// message names the input and what to change.
    #[error("{0}")]
    Invalid(String),
    /// The network state database failed.
    #[error("network state {}: {source}", .path.display())]
    Store {
        path: std::path::PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A record of the network state database does not parse.
    #[error("network state: malformed record: {0}")]
    StoreRecord(#[source] serde_json::Error),
    /// A JSON file of the network layer does not parse or serialise.
    #[error("{}: {source}", .path.display())]
    Json {
        path: std::path::PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A file of the network layer holds a value berth refuses to use.
    #[error("{}: {reason}", .path.display())]
    Corrupt {
        path: std::path::PathBuf,
        reason: String,
    },
    /// A file, lock or socket operation failed; `what` names it (and its path).
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
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
    #[error(transparent)]
    Names(#[from] names::Error),
    #[error(transparent)]
    Listeners(#[from] listeners::Error),
    #[error(
        "host port {port} is in use on the host: {holder} listens on {address}; \
         publish another host port"
    )]
    PortInUse {
        port: String,
        address: String,
        holder: String,
    },
    #[error("getrandom: {0}")]
    Random(#[source] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// What a container asked for: from `--network`/`--publish`/`--dns`/
/// `--dns-search`/`--add-host` and annotations.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ContainerNetworkRequest {
    /// Raw `--network` values, in order.
    pub networks: Vec<String>,
    /// Raw `--publish` values, in order.
    pub publish: Vec<String>,
    /// Raw `--dns` values: the nameservers of the container's resolv.conf.
    #[serde(default)]
    pub dns: Vec<String>,
    /// Raw `--dns-search` values: its search domains.
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// Raw `--add-host NAME:IP` values: entries of its own /etc/hosts.
    #[serde(default)]
    pub add_hosts: Vec<String>,
    /// The config's hostname: an alias of the container's endpoint on its
    /// first network, and its /etc/hostname.
    #[serde(default)]
    pub hostname: Option<String>,
}

/// The comma-separated entries of an annotation's value.
fn annotation_list(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

impl ContainerNetworkRequest {
    /// Adds the requests found in the `berth.network`, `berth.publish`,
    /// `berth.dns`, `berth.dns-search` and `berth.add-host` annotations.
    pub fn add_annotations(&mut self, annotations: &HashMap<String, String>) -> Result<()> {
        if let Some(value) = annotations.get(ANNOTATION_NETWORK) {
            self.networks
                .extend(request::split_network_annotation(value));
        }
        for (key, list) in [
            (ANNOTATION_PUBLISH, &mut self.publish),
            (ANNOTATION_DNS, &mut self.dns),
            (ANNOTATION_DNS_SEARCH, &mut self.dns_search),
            (ANNOTATION_ADD_HOST, &mut self.add_hosts),
        ] {
            if let Some(value) = annotations.get(key) {
                list.extend(annotation_list(value));
            }
        }
        Ok(())
    }

    /// Parses every entry; an error names the malformed one.
    pub fn validate(&self) -> Result<()> {
        for n in &self.networks {
            request::parse_network(n)?;
        }
        for p in &self.publish {
            request::parse_publish(p)?;
        }
        if self.is_empty() {
            if self.asks_for_names() {
                return Err(names::Error::WithoutNetwork.into());
            }
            return Ok(());
        }
        self.names()?;
        Ok(())
    }

    /// Whether `--dns`, `--dns-search` or `--add-host` were given.
    pub fn asks_for_names(&self) -> bool {
        !(self.dns.is_empty() && self.dns_search.is_empty() && self.add_hosts.is_empty())
    }

    /// The name files' part of the request, parsed.
    pub fn names(&self) -> Result<names::NamesRequest> {
        Ok(names::NamesRequest::parse(
            self.hostname.as_deref(),
            &self.dns,
            &self.dns_search,
            &self.add_hosts,
        )?)
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty() && self.publish.is_empty()
    }
}

pub use networks::{ContainerNetwork, NetworkCreate, Networks};

/// Sets up the current network namespace when it gets no network: `lo` up
/// (the `loopback` strategy, see [`strategy::initialize_netns`]).
pub fn initialize_loopback() -> Result<()> {
    strategy::initialize_netns(&mut netlink::Netlink::open()?)
}
