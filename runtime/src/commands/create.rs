use crate::GlobalOptions;
use libcontainer::CreateOptions;
use std::path::PathBuf;

/// Flags shared by `create` and `run`.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Path to the bundle (config.json and rootfs)
    #[arg(long, short = 'b', default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// File to write the container init's pid to
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket to which the pty master is sent (process.terminal)
    #[arg(long, value_name = "SOCKET")]
    pub console_socket: Option<PathBuf>,
    /// Use chroot (after a move mount) instead of pivot_root
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not give the container a session keyring of its own
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N more fds (from 3 on) to the container
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Attach to a berth network: NAME[:ip=A.B.C.D,mac=M,ifname=eth0,name=N,alias=A...]
    /// (repeatable). Containers on a network resolve each other by name
    /// (default: the container id) and aliases through /etc/hosts
    #[arg(long = "network", value_name = "NETWORK")]
    pub networks: Vec<String>,
    /// Publish a port: [hostIP:]hostPort[-range]:containerPort[/tcp|udp] (repeatable)
    #[arg(long, short = 'p', value_name = "SPEC")]
    pub publish: Vec<String>,
    /// Nameserver of the container's /etc/resolv.conf instead of the host's (repeatable; with --network)
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,
    /// Search domain of the container's /etc/resolv.conf instead of the host's; "." for none (repeatable; with --network)
    #[arg(long, value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// An entry of the container's own /etc/hosts: NAME:IP, IP may be host-gateway (repeatable; with --network)
    #[arg(long, value_name = "NAME:IP")]
    pub add_host: Vec<String>,
    /// Container id
    pub id: String,
}

impl CreateArgs {
    pub fn options(self, g: &GlobalOptions) -> CreateOptions {
        CreateOptions {
            root: g.root.clone(),
            id: self.id,
            bundle: self.bundle,
            pid_file: self.pid_file,
            console_socket: self.console_socket,
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            network: network::ContainerNetworkRequest {
                networks: self.networks,
                publish: self.publish,
                dns: self.dns,
                dns_search: self.dns_search,
                add_hosts: self.add_host,
                hostname: None,
            },
            network_state_dir: g.state_dir.clone(),
        }
    }
}

pub fn run(g: &GlobalOptions, args: CreateArgs) -> anyhow::Result<()> {
    libcontainer::create::create(&args.options(g))?;
    Ok(())
}
