use crate::GlobalOptions;

#[derive(clap::Args, Debug)]
pub struct StartArgs {
    /// Container id
    pub id: String,
}

pub fn run(g: &GlobalOptions, args: StartArgs) -> anyhow::Result<()> {
    Ok(libcontainer::container::start(&g.root, &args.id)?)
}
