use crate::GlobalOptions;

#[derive(clap::Args, Debug)]
pub struct StateArgs {
    /// Container id
    pub id: String,
}

pub fn run(g: &GlobalOptions, args: StateArgs) -> anyhow::Result<()> {
    let (state, status) = libcontainer::container::load(&g.root, &args.id)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&libcontainer::container::view(&state, status))?
    );
    Ok(())
}
