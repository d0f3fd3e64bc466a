use crate::GlobalOptions;

#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    /// Container id
    pub id: String,
}

pub fn run(g: &GlobalOptions, args: ResumeArgs) -> anyhow::Result<()> {
    Ok(libcontainer::pause::resume(&g.root, &args.id)?)
}
