//! `berth`: runc's command line over libcontainer and berth's network layer.
//! Argument parsing and output only; the work happens in the libraries.

mod commands;
mod logging;
mod state_root;

use clap::{Parser, Subcommand};
use logging::{LogFormat, Logger};
use std::path::PathBuf;
use std::sync::Arc;

/// An OCI container runtime with its own network layer.
#[derive(Parser, Debug)]
#[command(name = "berth", version, about, disable_help_subcommand = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

/// runc's global flags (they come before the subcommand).
#[derive(clap::Args, Debug, Clone)]
pub struct GlobalOptions {
    /// Root directory for the state of containers (default /run/berth, or
    /// $XDG_RUNTIME_DIR/berth for an unprivileged user)
    #[arg(long, global = false, default_value_os_t = state_root::default_root(), value_name = "DIR")]
    pub root: PathBuf,
    /// Log file (default: stderr)
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Log format
    #[arg(long, value_enum, default_value = "text", value_name = "FORMAT")]
    pub log_format: LogFormat,
    /// Log debug messages too
    #[arg(long)]
    pub debug: bool,
    /// Manage cgroups through systemd (not supported yet: refused)
    #[arg(long)]
    pub systemd_cgroup: bool,
    /// Directory of berth's network state (networks, addresses, endpoints)
    #[arg(long, default_value = network::DEFAULT_STATE_DIR, value_name = "DIR")]
    pub state_dir: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container from a bundle; it waits for `start`
    Create(commands::create::CreateArgs),
    /// Run the process of a created container
    Start(commands::start::StartArgs),
    /// Print the state of a container as JSON
    State(commands::state::StateArgs),
    /// Send a signal to a container's init (or to all its processes)
    Kill(commands::kill::KillArgs),
    /// Delete a container and everything it had
    Delete(commands::delete::DeleteArgs),
    /// Create and start a container, and wait for it
    Run(commands::run::RunArgs),
    /// List containers
    List(commands::list::ListArgs),
    /// Manage berth's networks (bridges, addresses, firewall)
    Network(commands::network::NetworkArgs),
    /// Write a default config.json
    Spec(commands::spec::SpecArgs),
    /// Print what this runtime implements, as runtime-spec features JSON
    Features,
    /// Freeze every process of a container
    Pause(commands::pause::PauseArgs),
    /// Thaw a paused container
    Resume(commands::resume::ResumeArgs),
    /// List the processes of a container
    Ps(commands::ps::PsArgs),
    /// Resource statistics and OOM events of a container, as JSON
    Events(commands::events::EventsArgs),
    /// Change the resource limits of a running container
    Update(Box<commands::update::UpdateArgs>),
    /// Run another process in a running (or created) container
    Exec(Box<commands::exec::ExecArgs>),
}

fn main() {
    // Usage errors exit 1, as runc's do (clap's own code is 2).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let logger = match Logger::new(
        cli.global.log.as_deref(),
        cli.global.log_format,
        cli.global.debug,
    ) {
        Ok(l) => Arc::new(l),
        Err(e) => {
            eprintln!("berth: opening log file: {e}");
            std::process::exit(1);
        }
    };
    let _ = tracing::subscriber::set_global_default(logger.clone());
    // exec's failures exit 255 with runc's prefix: its own exit code is
    // the process's.
    let is_exec = matches!(cli.command, Command::Exec(_));
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) if is_exec => {
            logger.fatal(&format!("exec failed: {}", error_message(&e)));
            255
        }
        Err(e) => {
            logger.fatal(&error_message(&e));
            1
        }
    };
    std::process::exit(code);
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let g = &cli.global;
    if g.systemd_cgroup {
        if !std::path::Path::new("/run/systemd/system").exists() {
            anyhow::bail!(
                "--systemd-cgroup: systemd is not running on this host (no /run/systemd/system); run without it and berth manages the cgroups directly"
            );
        }
        anyhow::bail!(
            "--systemd-cgroup: berth has no systemd cgroup driver yet; run without it and berth manages the cgroups directly"
        );
    }
    state_root::prepare(&g.root)
        .map_err(|e| anyhow::anyhow!("state root {}: {e}", g.root.display()))?;
    match cli.command {
        Command::Create(args) => commands::create::run(g, args).map(|()| 0),
        Command::Start(args) => commands::start::run(g, args).map(|()| 0),
        Command::State(args) => commands::state::run(g, args).map(|()| 0),
        Command::Kill(args) => commands::kill::run(g, args).map(|()| 0),
        Command::Delete(args) => commands::delete::run(g, args).map(|()| 0),
        Command::Run(args) => commands::run::run(g, args),
        Command::List(args) => commands::list::run(g, args).map(|()| 0),
        Command::Network(args) => commands::network::run(g, args).map(|()| 0),
        Command::Spec(args) => commands::spec::run(args).map(|()| 0),
        Command::Features => commands::features::run().map(|()| 0),
        Command::Pause(args) => commands::pause::run(g, args).map(|()| 0),
        Command::Resume(args) => commands::resume::run(g, args).map(|()| 0),
        Command::Ps(args) => commands::ps::run(g, args).map(|()| 0),
        Command::Events(args) => commands::events::run(g, args).map(|()| 0),
        Command::Update(args) => commands::update::run(g, *args).map(|()| 0),
        Command::Exec(args) => commands::exec::run(g, *args),
    }
}

/// The error and its causes, each cause once: most of berth's errors already
/// show their cause in their own message (`{path}: {source}`).
fn error_message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg
}
