use super::create::CreateArgs;
use crate::GlobalOptions;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Return once the container runs instead of waiting for it
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

/// Returns the container's exit code (128+signal when it was killed).
pub fn run(g: &GlobalOptions, args: RunArgs) -> anyhow::Result<i32> {
    if args.detach && args.keep {
        anyhow::bail!("--keep makes no sense with --detach: a detached container is kept anyway");
    }
    let opts = libcontainer::run::RunOptions {
        create: args.create.options(g),
        detach: args.detach,
        keep: args.keep,
    };
    Ok(libcontainer::run::run(&opts)?)
}
