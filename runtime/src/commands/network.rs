//! `berth network create|ls|inspect|rm|connect|disconnect|restore`:
//! berth's bridge (and macvlan/ipvlan) networks, the networks of a running
//! container, and their host side after a reboot or a firewall flush.

use crate::GlobalOptions;
use network::filter::Filters;
use network::{NetworkCreate, Networks};
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct NetworkArgs {
    #[command(subcommand)]
    pub command: NetworkCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network (its bridge, addresses and firewall rules)
    Create(Box<CreateArgs>),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show networks as JSON: definition, addresses in use, containers, ports
    Inspect(InspectArgs),
    /// Remove networks (refused while containers are attached, unless --force)
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Connect a running container to a network; prints the new interface (JSON)
    Connect(ConnectArgs),
    /// Disconnect a running container from a network (its interface and the
    /// ports published on that network go)
    Disconnect(DisconnectArgs),
    /// Make the host side of every network again (bridges, addresses,
    /// firewall, forwarding, published ports) and reclaim the endpoints of
    /// containers that are gone: after a reboot or a firewall flush
    Restore,
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Driver: bridge, macvlan or ipvlan
    #[arg(long, short = 'd', default_value = "bridge")]
    pub driver: String,
    /// IPv4 subnet (CIDR); default: a free /24 of 10.213.0.0/16
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 gateway (default: the subnet's first address)
    #[arg(long)]
    pub gateway: Option<String>,
    /// Bridge device name (default: berthN)
    #[arg(long)]
    pub bridge: Option<String>,
    /// Parent device (macvlan, ipvlan)
    #[arg(long)]
    pub parent: Option<String>,
    /// macvlan mode (bridge, private, vepa, passthru) or ipvlan mode (l2, l3, l3s)
    #[arg(long)]
    pub mode: Option<String>,
    /// MTU of the bridge and the containers' interfaces
    #[arg(long)]
    pub mtu: Option<u32>,
    /// IPv6 subnet (CIDR)
    #[arg(long = "ipv6-subnet")]
    pub ipv6_subnet: Option<String>,
    /// IPv6 gateway (default: the IPv6 subnet's first address)
    #[arg(long = "ipv6-gateway")]
    pub ipv6_gateway: Option<String>,
    /// No route out of the network
    #[arg(long)]
    pub internal: bool,
    /// Do not masquerade outbound traffic
    #[arg(long)]
    pub no_masquerade: bool,
    /// Label k=v (repeatable)
    #[arg(long)]
    pub label: Vec<String>,
    /// Network name
    pub name: String,
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Output format
    #[arg(long, short = 'f', default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Names only
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Only networks matching KEY=VALUE: name=TEXT, driver=DRIVER,
    /// label=KEY[=VALUE] (repeatable)
    #[arg(long)]
    pub filter: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Detach and release the containers still attached
    #[arg(long, short = 'f')]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct ConnectArgs {
    /// IPv4 address on the network (default: the next free one)
    #[arg(long)]
    pub ip: Option<String>,
    /// Another name of the container on the network, besides its id (repeatable)
    #[arg(long)]
    pub alias: Vec<String>,
    /// Network name
    pub network: String,
    /// Container id
    pub id: String,
}

#[derive(clap::Args, Debug)]
pub struct DisconnectArgs {
    /// Network name
    pub network: String,
    /// Container id
    pub id: String,
}

/// What of each network's host side is missing, or `None` for all when it
/// could not be checked (without CAP_NET_ADMIN nftables cannot be read):
/// `ls` then says so and lists the networks all the same.
fn missing_on_host(
    networks: &Networks,
    defs: &[network::model::NetworkDef],
) -> anyhow::Result<Vec<Option<Vec<String>>>> {
    match networks.missing_on_host(defs) {
        Ok(m) => Ok(m.into_iter().map(Some).collect()),
        Err(e) => {
            writeln!(
                std::io::stderr().lock(),
                "berth: the networks' host side was not checked: {e}"
            )?;
            Ok(vec![None; defs.len()])
        }
    }
}

pub fn run(g: &GlobalOptions, args: NetworkArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    // Connect and disconnect open the store the container recorded.
    let networks = || Networks::open(&g.state_dir);
    match args.command {
        NetworkCommand::Create(a) => {
            let a = *a;
            let def = networks()?.create_network(&NetworkCreate {
                name: a.name,
                driver: Some(a.driver),
                subnet: a.subnet,
                gateway: a.gateway,
                bridge: a.bridge,
                parent: a.parent,
                mode: a.mode,
                mtu: a.mtu,
                subnet6: a.ipv6_subnet,
                gateway6: a.ipv6_gateway,
                internal: a.internal,
                no_masquerade: a.no_masquerade,
                labels: a.label,
            })?;
            writeln!(out, "{}", def.name)?;
        }
        NetworkCommand::Ls(a) => {
            let networks = networks()?;
            let filters = Filters::parse(&a.filter)?;
            let mut defs = networks.list()?;
            defs.retain(|d| filters.matches(d));
            if a.quiet {
                for d in &defs {
                    writeln!(out, "{}", d.name)?;
                }
            } else {
                let missing = missing_on_host(&networks, &defs)?;
                if a.format == "json" {
                    let list: Vec<_> = defs
                        .iter()
                        .zip(&missing)
                        .map(|(d, missing)| {
                            serde_json::json!({
                                "name": d.name,
                                "driver": d.driver.name(),
                                "bridge": d.bridge,
                                "parent": d.parent,
                                "subnet": d.subnet.to_string(),
                                "gateway": d.gateway.to_string(),
                                "ipv6Subnet": d.subnet6.map(|s| s.to_string()),
                                "internal": d.internal,
                                "labels": d.labels,
                                "missing": missing,
                            })
                        })
                        .collect();
                    writeln!(out, "{}", serde_json::to_string(&list)?)?;
                } else {
                    writeln!(
                        out,
                        "{:<20} {:<8} {:<16} {:<18} {:<16} IPV6 SUBNET",
                        "NAME", "DRIVER", "DEVICE", "SUBNET", "GATEWAY"
                    )?;
                    for d in &defs {
                        let device = d.bridge.as_deref().or(d.parent.as_deref()).unwrap_or("");
                        writeln!(
                            out,
                            "{:<20} {:<8} {:<16} {:<18} {:<16} {}",
                            d.name,
                            d.driver.name(),
                            device,
                            d.subnet.to_string(),
                            d.gateway.to_string(),
                            d.subnet6.map(|s| s.to_string()).unwrap_or_default()
                        )?;
                    }
                    // The table's columns stay as they were (scripts parse
                    // them): what is missing on the host is a note on stderr.
                    let mut err = std::io::stderr().lock();
                    for (d, missing) in defs.iter().zip(&missing) {
                        if let Some(m) = missing.as_ref().filter(|m| !m.is_empty()) {
                            writeln!(
                                err,
                                "network {}: missing on the host: {} (run `berth network restore`)",
                                d.name,
                                m.join(", ")
                            )?;
                        }
                    }
                }
            }
        }
        NetworkCommand::Restore => {
            let report = networks()?.restore()?;
            for name in &report.networks {
                writeln!(out, "{name}")?;
            }
            let mut err = std::io::stderr().lock();
            writeln!(
                err,
                "restored {} network(s), {} published port(s) of running containers",
                report.networks.len(),
                report.ports
            )?;
            for (net, id) in &report.reclaimed {
                writeln!(
                    err,
                    "network {net}: reclaimed the endpoint of container {id}, which is gone"
                )?;
            }
            if !report.failed.is_empty() {
                let failed: Vec<String> = report
                    .failed
                    .iter()
                    .map(|(n, e)| format!("network {n}: {e}"))
                    .collect();
                anyhow::bail!(
                    "restore failed for {} network(s): {}",
                    failed.len(),
                    failed.join("; ")
                );
            }
        }
        NetworkCommand::Inspect(a) => {
            let networks = networks()?;
            let list = a
                .names
                .iter()
                .map(|n| networks.inspect(n))
                .collect::<Result<Vec<_>, _>>()?;
            writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        }
        NetworkCommand::Rm(a) => {
            let networks = networks()?;
            for name in &a.names {
                networks.remove(name, a.force)?;
                writeln!(out, "{name}")?;
            }
        }
        NetworkCommand::Connect(a) => {
            let request = network::request::connect_request(&a.network, a.ip.as_deref(), &a.alias)?;
            let ep =
                libcontainer::network_connect::connect(&g.root, &a.id, &g.state_dir, &request)?;
            writeln!(
                out,
                "{}",
                serde_json::to_string(&network::networks::interface_summary(&ep))?
            )?;
        }
        NetworkCommand::Disconnect(a) => {
            libcontainer::network_connect::disconnect(&g.root, &a.id, &g.state_dir, &a.network)?;
        }
    }
    Ok(())
}
