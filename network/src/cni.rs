//! berth's network layer as a CNI plugin (`berth-cni`, CNI spec 1.1).
//!
//! The CNI config's `name` is a berth network: one made with `berth network
//! create`, or made by the first ADD from the config's inline keys
//! (`subnet`, `gateway`, `bridge`, `mtu`, `ipv6Subnet`, `internal`). A pod
//! attached here and a container of `berth run --network NAME` share one
//! bridge, one IPAM and one firewall table: ADD is [`Networks::prepare`] +
//! [`ContainerNetwork::create_in`] + [`ContainerNetwork::initialize_with`],
//! DEL is [`Networks::release`], as for berth's own containers.
//!
//! An attachment is recorded in the store as the container
//! `cni:CONTAINERID:IFNAME` owned by the netns path: once that path is gone,
//! a leftover attachment is reclaimed like any leaked one.
//!
//! Every failure is a spec error object on stdout with one of the spec's
//! codes, or [`BERTH_REFUSED`] when berth's network layer refused the
//! request (a taken host port, a full subnet).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::model::{format_mac, Endpoint, Ipv4Net, PortMapping, Protocol};
use crate::netlink::{Netlink, NetnsRef};
use crate::networks::{ContainerNetwork, NetworkCreate, Networks};
use crate::request::{NetworkRequest, PublishRequest};
use crate::{firewall, ANNOTATION_NETWORK, ANNOTATION_PUBLISH};
use netlink_packet_route::AddressFamily;

/// The `runtimeConfig` keys this plugin takes (its capabilities).
pub const CAPABILITIES: [&str; 4] = [
    "portMappings",
    "ips",
    "mac",
    "io.kubernetes.cri.pod-annotations",
];

/// The versions this plugin speaks, oldest first.
pub const SUPPORTED_VERSIONS: [&str; 3] = ["0.4.0", "1.0.0", "1.1.0"];
/// The version of a reply to a request that names none (VERSION).
pub const LATEST: &str = "1.1.0";

/// The spec's error codes.
pub mod code {
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    pub const UNSUPPORTED_FIELD: u32 = 2;
    pub const UNKNOWN_CONTAINER: u32 = 3;
    pub const INVALID_ENVIRONMENT: u32 = 4;
    pub const IO_FAILURE: u32 = 5;
    pub const DECODE: u32 = 6;
    pub const INVALID_CONFIG: u32 = 7;
    pub const TRY_AGAIN: u32 = 11;
    pub const NOT_AVAILABLE: u32 = 50;
}
/// berth's network layer refused the request (a host port taken or listened
/// on, no free address, an address asked for that is in use...): the message
/// says which and what to change.
pub const BERTH_REFUSED: u32 = 100;

/// A spec error: `{"cniVersion", "code", "msg", "details"}` on stdout.
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

impl CniError {
    fn new(code: u32, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// berth's error, classified: a store or kernel failure is an I/O
    /// failure, a refusal of the request is berth's own code.
    fn from_network(e: crate::Error) -> Self {
        use crate::Error as E;
        let code = match &e {
            E::Netlink(_)
            | E::Sysctl { .. }
            | E::Firewall(_)
            | E::Random(_)
            | E::Listeners(_)
            | E::Store { .. }
            | E::StoreRecord(_)
            | E::Json { .. }
            | E::Corrupt { .. }
            | E::Io { .. } => code::IO_FAILURE,
            _ => BERTH_REFUSED,
        };
        Self {
            code,
            msg: e.to_string(),
            details: std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_default(),
        }
    }

    pub fn to_json(&self, version: &str) -> Value {
        json!({
            "cniVersion": version,
            "code": self.code,
            "msg": self.msg,
            "details": self.details,
        })
    }
}

type Result<T> = std::result::Result<T, CniError>;

/// The command and its `CNI_*` parameters.
#[derive(Debug, Clone)]
pub struct Env {
    pub command: String,
    pub container_id: Option<String>,
    pub netns: Option<PathBuf>,
    pub ifname: Option<String>,
}

impl Env {
    /// From the process environment.
    pub fn from_process() -> Result<Env> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Ok(Env {
            command: var("CNI_COMMAND").ok_or_else(|| {
                CniError::new(code::INVALID_ENVIRONMENT, "CNI_COMMAND is not set")
            })?,
            container_id: var("CNI_CONTAINERID"),
            netns: var("CNI_NETNS").map(PathBuf::from),
            ifname: var("CNI_IFNAME"),
        })
    }

    fn container_id(&self) -> Result<&str> {
        let id = self.container_id.as_deref().ok_or_else(|| {
            CniError::new(code::INVALID_ENVIRONMENT, "CNI_CONTAINERID is not set")
        })?;
        // The spec's rule: alphanumerics, then also '_', '.', '-'.
        let ok = id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !ok {
            return Err(CniError::new(
                code::INVALID_ENVIRONMENT,
                format!("CNI_CONTAINERID {id:?}: letters, digits, '_', '.' and '-', starting with a letter or digit"),
            ));
        }
        Ok(id)
    }

    fn ifname(&self) -> Result<&str> {
        let name = self
            .ifname
            .as_deref()
            .ok_or_else(|| CniError::new(code::INVALID_ENVIRONMENT, "CNI_IFNAME is not set"))?;
        if !crate::request::valid_ifname(name) {
            return Err(CniError::new(
                code::INVALID_ENVIRONMENT,
                format!("CNI_IFNAME {name:?}: 1-15 bytes, no '/', ':' or whitespace"),
            ));
        }
        Ok(name)
    }

    fn netns(&self) -> Result<&Path> {
        self.netns
            .as_deref()
            .ok_or_else(|| CniError::new(code::INVALID_ENVIRONMENT, "CNI_NETNS is not set"))
    }

    /// The store key of this attachment.
    fn key(&self) -> Result<String> {
        Ok(attachment_key(self.container_id()?, self.ifname()?))
    }
}

fn attachment_key(container_id: &str, ifname: &str) -> String {
    format!("cni:{container_id}:{ifname}")
}

/// `portMappings` of `runtimeConfig`, as the portmap plugin takes them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortMap {
    pub host_port: u16,
    pub container_port: u16,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default, rename = "hostIP")]
    pub host_ip: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default, rename = "portMappings")]
    pub port_mappings: Vec<PortMap>,
    #[serde(default)]
    pub ips: Vec<String>,
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(default, rename = "io.kubernetes.cri.pod-annotations")]
    pub pod_annotations: BTreeMap<String, String>,
}

/// The network configuration on stdin.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    pub cni_version: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// berth's network state directory (default /var/lib/berth).
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    #[serde(default)]
    pub subnet: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub bridge: Option<String>,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub ipv6_subnet: Option<String>,
    #[serde(default)]
    pub internal: Option<bool>,
    /// Passed through to the result.
    #[serde(default)]
    pub dns: Option<Value>,
    /// What the runtime is to put in `runtimeConfig`: only [`CAPABILITIES`].
    #[serde(default)]
    pub capabilities: Option<BTreeMap<String, bool>>,
    #[serde(default)]
    pub runtime_config: RuntimeConfig,
    #[serde(default)]
    pub prev_result: Option<Value>,
    #[serde(default, rename = "cni.dev/valid-attachments")]
    pub valid_attachments: Option<Vec<Attachment>>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

/// Parses the config: a field of the wrong shape is code 6 (decode), an
/// unknown field code 2, an unsupported version code 1.
pub fn parse_config(text: &[u8]) -> Result<Config> {
    let v: Value = serde_json::from_slice(text).map_err(|e| {
        CniError::new(
            code::DECODE,
            format!("the network configuration is not JSON: {e}"),
        )
    })?;
    let Some(obj) = v.as_object() else {
        return Err(CniError::new(
            code::DECODE,
            "the network configuration is not a JSON object",
        ));
    };
    if obj.contains_key("ipam") {
        return Err(CniError::new(
            code::UNSUPPORTED_FIELD,
            "field ipam: berth-cni allocates addresses itself (berth's IPAM); give subnet/gateway instead",
        ));
    }
    let version = obj.get("cniVersion").and_then(Value::as_str).unwrap_or("");
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(CniError::new(
            code::INCOMPATIBLE_VERSION,
            format!(
                "cniVersion {version:?} is not supported (supported: {})",
                SUPPORTED_VERSIONS.join(", ")
            ),
        ));
    }
    let config: Config = serde_json::from_value(v).map_err(|e| {
        let text = e.to_string();
        let code = if text.starts_with("unknown field") {
            code::UNSUPPORTED_FIELD
        } else {
            code::DECODE
        };
        CniError::new(code, format!("the network configuration: {text}"))
    })?;
    for (name, _) in config.capabilities.iter().flatten() {
        if !CAPABILITIES.contains(&name.as_str()) {
            return Err(CniError::new(
                code::UNSUPPORTED_FIELD,
                format!(
                    "capabilities.{name}: berth-cni implements {}",
                    CAPABILITIES.join(", ")
                ),
            ));
        }
    }
    if config.kind != "berth-cni" {
        return Err(CniError::new(
            code::INVALID_CONFIG,
            format!("type {:?}: this plugin is berth-cni", config.kind),
        ));
    }
    if !crate::request::valid_network_name(&config.name) {
        return Err(CniError::new(
            code::INVALID_CONFIG,
            format!(
                "name {:?}: a berth network name, 1-64 characters of [A-Za-z0-9_.-] starting with a letter or digit",
                config.name
            ),
        ));
    }
    Ok(config)
}

/// Runs one command: the JSON to print on success (nothing for DEL and GC).
pub fn run(env: &Env, stdin: &[u8]) -> Result<Option<Value>> {
    if env.command == "VERSION" {
        return Ok(Some(version(stdin)));
    }
    let config = parse_config(stdin)?;
    match env.command.as_str() {
        "ADD" => add(env, &config).map(Some),
        "DEL" => del(env, &config).map(|()| None),
        "CHECK" => check(env, &config).map(|()| None),
        "STATUS" => status(&config).map(|()| None),
        "GC" => gc(&config).map(|()| None),
        other => Err(CniError::new(
            code::INVALID_ENVIRONMENT,
            format!("CNI_COMMAND {other:?}: one of ADD, DEL, CHECK, STATUS, GC, VERSION"),
        )),
    }
}

/// The version a reply should carry: the request's, or [`LATEST`].
pub fn reply_version(stdin: &[u8]) -> String {
    serde_json::from_slice::<Value>(stdin)
        .ok()
        .and_then(|v| v.get("cniVersion")?.as_str().map(str::to_owned))
        .filter(|v| SUPPORTED_VERSIONS.contains(&v.as_str()))
        .unwrap_or_else(|| LATEST.to_owned())
}

fn version(stdin: &[u8]) -> Value {
    json!({
        "cniVersion": reply_version(stdin),
        "supportedVersions": SUPPORTED_VERSIONS,
    })
}

fn open_store(config: &Config) -> Result<Networks> {
    let dir = config
        .state_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::DEFAULT_STATE_DIR));
    Networks::open(&dir).map_err(|e| CniError {
        code: code::IO_FAILURE,
        msg: format!("berth's network store in {}: {e}", dir.display()),
        details: String::new(),
    })
}

/// The inline network keys as `berth network create` options, when any
/// is given.
fn inline_network(config: &Config) -> Option<NetworkCreate> {
    let any = config.subnet.is_some()
        || config.gateway.is_some()
        || config.bridge.is_some()
        || config.mtu.is_some()
        || config.ipv6_subnet.is_some()
        || config.internal.is_some();
    any.then(|| NetworkCreate {
        name: config.name.clone(),
        subnet: config.subnet.clone(),
        gateway: config.gateway.clone(),
        bridge: config.bridge.clone(),
        mtu: config.mtu,
        subnet6: config.ipv6_subnet.clone(),
        internal: config.internal.unwrap_or(false),
        ..Default::default()
    })
}

/// The network of the config: the existing one (whose definition must
/// agree with the inline keys given), or one made from the inline keys.
fn ensure_network(nets: &Networks, config: &Config) -> Result<crate::model::NetworkDef> {
    let existing = nets.find(&config.name).map_err(CniError::from_network)?;
    let def = match (existing, inline_network(config)) {
        (Some(def), inline) => {
            if let Some(inline) = inline {
                check_agrees(&def, &inline)?;
            }
            def
        }
        (None, None) => {
            return Err(CniError::new(
                code::INVALID_CONFIG,
                format!(
                    "network {0} does not exist: make it with `berth network create {0}`, or give subnet (and optionally gateway, bridge, mtu, ipv6Subnet, internal) in the config",
                    config.name
                ),
            ))
        }
        (None, Some(inline)) => match nets.create_network(&inline) {
            Ok(def) => def,
            Err(e) => match nets.find(&config.name).map_err(CniError::from_network)? {
                // Made by a concurrent ADD: its bridge and firewall elements
                // may not be there yet; making them is idempotent.
                Some(def) => {
                    check_agrees(&def, &inline)?;
                    nets.ensure_host_objects(&def)
                        .map_err(CniError::from_network)?;
                    def
                }
                None => {
                    let mut err = CniError::from_network(e);
                    if err.code == BERTH_REFUSED {
                        err.code = code::INVALID_CONFIG;
                    }
                    return Err(err);
                }
            },
        },
    };
    if !def.driver.has_bridge() {
        return Err(CniError::new(
            code::INVALID_CONFIG,
            format!(
                "network {} has driver {}: berth-cni attaches to bridge networks",
                def.name,
                def.driver.name()
            ),
        ));
    }
    Ok(def)
}

/// An inline key that contradicts the existing network is refused: the
/// config would describe another network than the one pods get.
fn check_agrees(def: &crate::model::NetworkDef, inline: &NetworkCreate) -> Result<()> {
    let mut differs = Vec::new();
    if let Some(s) = &inline.subnet {
        if Ipv4Net::parse(s).ok().map(crate::firewall::rules::net4)
            != Some(crate::firewall::rules::net4(def.subnet))
        {
            differs.push(format!("subnet {s} (the network has {})", def.subnet));
        }
    }
    if let Some(g) = &inline.gateway {
        if g.parse::<Ipv4Addr>().ok() != Some(def.gateway) {
            differs.push(format!("gateway {g} (the network has {})", def.gateway));
        }
    }
    if let Some(b) = &inline.bridge {
        if def.bridge.as_deref() != Some(b.as_str()) {
            differs.push(format!("bridge {b} (the network has {:?})", def.bridge));
        }
    }
    if let Some(m) = inline.mtu {
        if m != def.mtu {
            differs.push(format!("mtu {m} (the network has {})", def.mtu));
        }
    }
    if let Some(s) = &inline.subnet6 {
        let want = crate::model::Ipv6Net::parse(s)
            .ok()
            .map(crate::firewall::rules::net6);
        if want != def.subnet6.map(crate::firewall::rules::net6) {
            differs.push(format!(
                "ipv6Subnet {s} (the network has {:?})",
                def.subnet6.map(|s| s.to_string())
            ));
        }
    }
    if inline.internal != def.internal {
        differs.push(format!(
            "internal {} (the network has {})",
            inline.internal, def.internal
        ));
    }
    if differs.is_empty() {
        return Ok(());
    }
    Err(CniError::new(
        code::INVALID_CONFIG,
        format!(
            "network {} exists and differs from the config: {}",
            def.name,
            differs.join(", ")
        ),
    ))
}

/// The network request of `runtimeConfig` (`ips`, `mac`) and CNI_IFNAME.
fn network_request(config: &Config, ifname: &str) -> Result<NetworkRequest> {
    let rc = &config.runtime_config;
    let mut ip = None;
    for text in &rc.ips {
        let addr = text.split_once('/').map_or(text.as_str(), |(a, _)| a);
        match addr.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) if ip.is_none() => ip = Some(a),
            Ok(IpAddr::V4(_)) => {
                return Err(CniError::new(
                    code::INVALID_CONFIG,
                    "runtimeConfig.ips: at most one IPv4 address per attachment",
                ))
            }
            Ok(IpAddr::V6(_)) => {
                return Err(CniError::new(
                    code::INVALID_CONFIG,
                    format!("runtimeConfig.ips {text}: the IPv6 address follows the IPv4 one's host number on berth networks; give the IPv4 address only"),
                ))
            }
            Err(_) => {
                return Err(CniError::new(
                    code::INVALID_CONFIG,
                    format!("runtimeConfig.ips {text:?} is not an IP address"),
                ))
            }
        }
    }
    let mac = rc
        .mac
        .as_deref()
        .map(|m| {
            crate::request::parse_mac(m)
                .map_err(|e| CniError::new(code::INVALID_CONFIG, format!("runtimeConfig.mac: {e}")))
        })
        .transpose()?;
    Ok(NetworkRequest {
        name: config.name.clone(),
        ip,
        mac,
        ifname: Some(ifname.to_owned()),
    })
}

/// `runtimeConfig.portMappings` (and a `berth.publish` pod annotation) as
/// berth's publish requests.
fn publish_requests(config: &Config) -> Result<Vec<PublishRequest>> {
    let rc = &config.runtime_config;
    if rc.pod_annotations.contains_key(ANNOTATION_NETWORK) {
        return Err(CniError::new(
            code::INVALID_CONFIG,
            format!(
                "pod annotation {ANNOTATION_NETWORK}: a pod's network is the CNI config's name"
            ),
        ));
    }
    let mut out = Vec::new();
    for p in &rc.port_mappings {
        let protocol = match p
            .protocol
            .as_deref()
            .unwrap_or("tcp")
            .to_ascii_lowercase()
            .as_str()
        {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            other => {
                return Err(CniError::new(
                    code::INVALID_CONFIG,
                    format!("runtimeConfig.portMappings: protocol {other:?} (tcp or udp)"),
                ))
            }
        };
        if p.host_port == 0 || p.container_port == 0 {
            return Err(CniError::new(
                code::INVALID_CONFIG,
                format!(
                    "runtimeConfig.portMappings: port 0 ({} -> {})",
                    p.host_port, p.container_port
                ),
            ));
        }
        let host_ip = match p.host_ip.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => {
                let ip = s.parse::<IpAddr>().map_err(|_| {
                    CniError::new(
                        code::INVALID_CONFIG,
                        format!("runtimeConfig.portMappings: hostIP {s:?} is not an IP address"),
                    )
                })?;
                crate::request::check_host_ip(ip).map_err(|e| {
                    CniError::new(
                        code::INVALID_CONFIG,
                        format!("runtimeConfig.portMappings: hostIP {s}: {e}"),
                    )
                })?;
                Some(ip)
            }
        };
        out.push(PublishRequest {
            host_ip,
            host_ports: Some((p.host_port, p.host_port)),
            container_ports: (p.container_port, p.container_port),
            protocol,
        });
    }
    if let Some(value) = rc.pod_annotations.get(ANNOTATION_PUBLISH) {
        for spec in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            out.push(crate::request::parse_publish(spec).map_err(|e| {
                CniError::new(
                    code::INVALID_CONFIG,
                    format!("pod annotation {ANNOTATION_PUBLISH}: {e}"),
                )
            })?);
        }
    }
    Ok(out)
}

fn open_netns(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            code::UNKNOWN_CONTAINER
        } else {
            code::IO_FAILURE
        };
        CniError::new(code, format!("CNI_NETNS {}: {e}", path.display()))
    })
}

fn add(env: &Env, config: &Config) -> Result<Value> {
    let key = env.key()?;
    let ifname = env.ifname()?;
    let netns_path = env.netns()?;
    let netns = open_netns(netns_path)?;
    let nets = open_store(config)?;
    let req = network_request(config, ifname)?;
    let publish = publish_requests(config)?;
    ensure_network(&nets, config)?;
    let plan = nets
        .prepare_parsed(&key, netns_path, vec![req], &publish)
        .map_err(CniError::from_network)?;
    let made = plan.create_in(NetnsRef::Fd(netns.as_fd())).and_then(|()| {
        let mut nl = Netlink::open_in_netns(netns.as_fd())?;
        plan.initialize_with(&mut nl)
    });
    if let Err(e) = made {
        if let Err(undo) = nets.release(&key) {
            tracing::warn!(error = %undo, "releasing a failed ADD");
        }
        return Err(CniError::from_network(e));
    }
    Ok(result(config, &plan, netns_path))
}

/// The ADD result, in the config's version.
fn result(config: &Config, plan: &ContainerNetwork, netns: &Path) -> Value {
    let old = config.cni_version == "0.4.0";
    let mut interfaces = Vec::new();
    let mut ips = Vec::new();
    let mut routes = Vec::new();
    for ep in &plan.endpoints {
        interfaces.push(json!({ "name": ep.host_ifname }));
        interfaces.push(json!({
            "name": ep.ifname,
            "mac": format_mac(&ep.mac),
            "sandbox": netns.display().to_string(),
        }));
        let index = interfaces.len() - 1;
        let mut ip = json!({
            "address": format!("{}/{}", ep.ipv4, ep.prefix4),
            "gateway": ep.gateway4.to_string(),
            "interface": index,
        });
        if old {
            ip["version"] = json!("4");
        }
        ips.push(ip);
        routes.push(json!({ "dst": "0.0.0.0/0", "gw": ep.gateway4.to_string() }));
        if let Some(v6) = ep.ipv6 {
            let mut ip = json!({
                "address": format!("{v6}/{}", ep.prefix6),
                "interface": index,
            });
            if let Some(gw6) = ep.gateway6 {
                ip["gateway"] = json!(gw6.to_string());
                routes.push(json!({ "dst": "::/0", "gw": gw6.to_string() }));
            }
            if old {
                ip["version"] = json!("6");
            }
            ips.push(ip);
        }
    }
    json!({
        "cniVersion": config.cni_version,
        "interfaces": interfaces,
        "ips": ips,
        "routes": routes,
        "dns": config.dns.clone().unwrap_or_else(|| json!({})),
    })
}

/// Releases the attachment `key` and deletes its veth if it outlived the
/// netns. Unknown keys are fine.
fn release(nets: &Networks, key: &str) -> Result<()> {
    let endpoints = nets.endpoints_of(key).map_err(CniError::from_network)?;
    nets.release(key).map_err(CniError::from_network)?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let mut nl = Netlink::open().map_err(|e| CniError::from_network(e.into()))?;
    for ep in &endpoints {
        crate::strategy::strategy(ep.driver)
            .teardown(&mut nl, ep)
            .map_err(CniError::from_network)?;
    }
    Ok(())
}

fn del(env: &Env, config: &Config) -> Result<()> {
    let key = env.key()?;
    let nets = open_store(config)?;
    release(&nets, &key)
}

fn gc(config: &Config) -> Result<()> {
    let nets = open_store(config)?;
    let valid: BTreeSet<String> = config
        .valid_attachments
        .iter()
        .flatten()
        .map(|a| attachment_key(&a.container_id, &a.ifname))
        .collect();
    let Some(_) = nets.find(&config.name).map_err(CniError::from_network)? else {
        return Ok(());
    };
    for key in nets
        .containers_on(&config.name)
        .map_err(CniError::from_network)?
    {
        if key.starts_with("cni:") && !valid.contains(&key) {
            release(&nets, &key)?;
        }
    }
    Ok(())
}

fn status(config: &Config) -> Result<()> {
    let nets = open_store(config).map_err(|e| CniError::new(code::NOT_AVAILABLE, e.msg))?;
    let Some(def) = nets
        .find(&config.name)
        .map_err(|e| CniError::new(code::NOT_AVAILABLE, e.to_string()))?
    else {
        if inline_network(config).is_some() {
            return Ok(()); // made by the first ADD
        }
        return Err(CniError::new(
            code::NOT_AVAILABLE,
            format!(
                "network {} does not exist and the config has no subnet to make it",
                config.name
            ),
        ));
    };
    let free = nets
        .free_addresses(&def)
        .map_err(|e| CniError::new(code::NOT_AVAILABLE, e.to_string()))?;
    if free == 0 {
        return Err(CniError::new(
            code::NOT_AVAILABLE,
            format!("network {} ({}) has no free address", def.name, def.subnet),
        ));
    }
    Ok(())
}

fn check(env: &Env, config: &Config) -> Result<()> {
    let key = env.key()?;
    let ifname = env.ifname()?;
    let netns = open_netns(env.netns()?)?;
    let prev = config.prev_result.as_ref().ok_or_else(|| {
        CniError::new(code::INVALID_CONFIG, "CHECK needs prevResult in the config")
    })?;
    let nets = open_store(config)?;
    let def = ensure_known(&nets, config)?;
    let endpoints = nets.endpoints_of(&key).map_err(CniError::from_network)?;
    let ep = endpoints.first().ok_or_else(|| {
        CniError::new(
            code::UNKNOWN_CONTAINER,
            format!(
                "no attachment {ifname} of container {} on network {}",
                env.container_id.as_deref().unwrap_or(""),
                config.name
            ),
        )
    })?;
    let fail = |what: String| Err(CniError::new(BERTH_REFUSED, format!("CHECK: {what}")));

    // prevResult names what berth recorded.
    let want_addrs = ep_addresses(ep);
    let prev_addrs: BTreeSet<String> = prev
        .get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|ip| ip.get("address")?.as_str().map(str::to_owned))
        .collect();
    for a in &want_addrs {
        if !prev_addrs.contains(a) {
            return fail(format!(
                "prevResult lacks the address {a} of the attachment"
            ));
        }
    }
    let prev_has_iface = prev
        .get("interfaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|i| i.get("name").and_then(Value::as_str) == Some(ifname));
    if !prev_has_iface {
        return fail(format!("prevResult has no interface {ifname}"));
    }

    // The interface inside: up, with the addresses and default routes.
    let mut nl =
        Netlink::open_in_netns(netns.as_fd()).map_err(|e| CniError::from_network(e.into()))?;
    let link = nl
        .link(ifname)
        .map_err(|e| CniError::from_network(e.into()))?;
    let Some(link) = link else {
        return fail(format!("no interface {ifname} in the netns"));
    };
    if !link.up {
        return fail(format!("{ifname} is down"));
    }
    if link.mac != Some(ep.mac) {
        return fail(format!(
            "{ifname} has another MAC than {}",
            format_mac(&ep.mac)
        ));
    }
    let have: BTreeSet<String> = nl
        .addresses()
        .map_err(|e| CniError::from_network(e.into()))?
        .into_iter()
        .filter(|a| a.index == link.index)
        .map(|a| format!("{}/{}", a.addr, a.prefix))
        .collect();
    for a in &want_addrs {
        if !have.contains(a) {
            return fail(format!("{ifname} lacks the address {a}"));
        }
    }
    let mut gateways = vec![IpAddr::V4(ep.gateway4)];
    if ep.ipv6.is_some() {
        gateways.extend(ep.gateway6.map(IpAddr::V6));
    }
    for gw in gateways {
        let family = if gw.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        let routes = nl
            .routes(family)
            .map_err(|e| CniError::from_network(e.into()))?;
        if !routes
            .iter()
            .any(|r| r.prefix == 0 && r.gateway == Some(gw) && r.oif == Some(link.index))
        {
            return fail(format!("no default route via {gw} on {ifname}"));
        }
    }

    // The host end on the bridge, and the published ports.
    let mut host = Netlink::open().map_err(|e| CniError::from_network(e.into()))?;
    let bridge = def.bridge.as_deref().unwrap_or_default();
    let bridge_index = host
        .link_index(bridge)
        .map_err(|e| CniError::from_network(e.into()))?;
    let veth = host
        .link(&ep.host_ifname)
        .map_err(|e| CniError::from_network(e.into()))?;
    match veth {
        Some(v) if v.master.is_some() && v.master == bridge_index && v.up => {}
        _ => {
            return fail(format!(
                "the host end {} is not up on bridge {bridge}",
                ep.host_ifname
            ))
        }
    }
    let ports: Vec<PortMapping> = nets
        .ports_of(&key)
        .map_err(CniError::from_network)?
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    let missing =
        firewall::missing_ports(&def, ep, &ports).map_err(|e| CniError::from_network(e.into()))?;
    if let Some(m) = missing.first() {
        return fail(format!("the published port {m} is not in berth's firewall"));
    }
    Ok(())
}

/// The network CHECK and DEL look at: it must exist.
fn ensure_known(nets: &Networks, config: &Config) -> Result<crate::model::NetworkDef> {
    nets.find(&config.name)
        .map_err(CniError::from_network)?
        .ok_or_else(|| {
            CniError::new(
                code::INVALID_CONFIG,
                format!("network {} does not exist", config.name),
            )
        })
}

fn ep_addresses(ep: &Endpoint) -> Vec<String> {
    let mut v = vec![format!("{}/{}", ep.ipv4, ep.prefix4)];
    if let Some(a) = ep.ipv6 {
        v.push(format!("{a}/{}", ep.prefix6));
    }
    v
}

/// The plugin's `main`: reads stdin and the environment, prints the result
/// or the error, and returns the exit status.
pub fn main() -> i32 {
    let mut stdin = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
        let err = CniError::new(code::IO_FAILURE, format!("reading stdin: {e}"));
        println!("{}", err.to_json(LATEST));
        return 1;
    }
    let version = reply_version(&stdin);
    let outcome = Env::from_process().and_then(|env| run(&env, &stdin));
    match outcome {
        Ok(Some(v)) => {
            println!("{v}");
            0
        }
        Ok(None) => 0,
        Err(e) => {
            println!("{}", e.to_json(&version));
            1
        }
    }
}
