use crate::GlobalOptions;
use libcontainer::exec::{CommandLine, ExecOptions, ProcessSource};
use std::path::PathBuf;

/// runc's `exec` flags. With `--process`, the process comes from the file
/// alone: the flags that would change it are refused with it.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Unix socket to which the pty master is sent (with --tty)
    #[arg(long, value_name = "SOCKET")]
    pub console_socket: Option<PathBuf>,
    /// Working directory in the container
    #[arg(long, value_name = "DIR", conflicts_with = "process")]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (repeatable)
    #[arg(
        long,
        short = 'e',
        value_name = "KEY=VALUE",
        conflicts_with = "process"
    )]
    pub env: Vec<String>,
    /// Allocate a pseudo-terminal (its master goes to --console-socket)
    #[arg(long, short = 't')]
    pub tty: bool,
    /// UID (format: <uid>[:<gid>])
    #[arg(
        long,
        short = 'u',
        value_name = "UID[:GID]",
        conflicts_with = "process"
    )]
    pub user: Option<String>,
    /// Additional gids (repeatable)
    #[arg(
        long,
        short = 'g',
        value_name = "GID",
        allow_negative_numbers = true,
        conflicts_with = "process"
    )]
    pub additional_gids: Vec<i64>,
    /// Path to a process.json (a runtime-spec process object)
    #[arg(long, short = 'p', value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Return once the process runs instead of waiting for it
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// File to write the process's pid to
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label for the process (refused where SELinux is off)
    #[arg(long, value_name = "LABEL", conflicts_with = "process")]
    pub process_label: Option<String>,
    /// AppArmor profile for the process (fails where AppArmor is off)
    #[arg(long, value_name = "PROFILE", conflicts_with = "process")]
    pub apparmor: Option<String>,
    /// Set no_new_privs for the process
    #[arg(long, conflicts_with = "process")]
    pub no_new_privs: bool,
    /// Add a capability to the bounding, effective, permitted and ambient sets (repeatable)
    #[arg(long, short = 'c', value_name = "CAP", conflicts_with = "process")]
    pub cap: Vec<String>,
    /// Pass N more fds (from 3 on) to the process
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Run in an existing sub-cgroup: [<controller>[,...]:]<path> (repeatable)
    #[arg(long, value_name = "CGROUP")]
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container
    #[arg(long)]
    pub ignore_paused: bool,
    /// Container id
    pub id: String,
    /// The command and its arguments (not with --process)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        conflicts_with = "process"
    )]
    pub command: Vec<String>,
}

/// Returns the process's exit code (128+signal when it was killed), 0 with
/// --detach.
pub fn run(g: &GlobalOptions, args: ExecArgs) -> anyhow::Result<i32> {
    let process = match args.process {
        Some(file) => ProcessSource::File(file),
        None => ProcessSource::CommandLine(CommandLine {
            args: args.command,
            cwd: args.cwd,
            env: args.env,
            user: args.user,
            additional_gids: args.additional_gids,
            tty: args.tty,
            no_new_privs: args.no_new_privs,
            caps: args.cap,
            apparmor: args.apparmor,
            process_label: args.process_label,
        }),
    };
    let opts = ExecOptions {
        root: g.root.clone(),
        id: args.id,
        process,
        tty: args.tty,
        console_socket: args.console_socket,
        detach: args.detach,
        pid_file: args.pid_file,
        preserve_fds: args.preserve_fds,
        cgroup: args.cgroup,
        ignore_paused: args.ignore_paused,
    };
    Ok(libcontainer::exec::exec(&opts)?)
}
