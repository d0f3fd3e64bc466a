use crate::GlobalOptions;

#[derive(clap::Args, Debug)]
pub struct KillArgs {
    /// Signal every process in the container, not only init
    #[arg(long, short = 'a')]
    pub all: bool,
    /// Container id
    pub id: String,
    /// Signal name (TERM, SIGTERM) or number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

pub fn run(g: &GlobalOptions, args: KillArgs) -> anyhow::Result<()> {
    let signal = libcontainer::signal::parse(&args.signal)?;
    Ok(libcontainer::container::kill(
        &g.root, &args.id, signal, args.all,
    )?)
}
