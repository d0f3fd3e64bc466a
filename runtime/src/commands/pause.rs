use crate::GlobalOptions;

#[derive(clap::Args, Debug)]
pub struct PauseArgs {
    /// Container id
    pub id: String,
}

pub fn run(g: &GlobalOptions, args: PauseArgs) -> anyhow::Result<()> {
    Ok(libcontainer::pause::pause(&g.root, &args.id)?)
}
