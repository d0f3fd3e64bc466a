use crate::GlobalOptions;

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// Kill a running container first (and succeed for an unknown id)
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Container id
    pub id: String,
}

pub fn run(g: &GlobalOptions, args: DeleteArgs) -> anyhow::Result<()> {
    Ok(libcontainer::container::delete(
        &g.root, &args.id, args.force,
    )?)
}
