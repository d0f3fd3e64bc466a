use crate::GlobalOptions;

#[derive(clap::Args, Debug)]
pub struct StateArgs {
    /// Container id
    pub id: String,
}

pub fn run(g: &GlobalOptions, args: StateArgs) -> anyhow::Result<()> {
    let (state, status) = libcontainer::container::load(&g.root, &args.id)?;
    let mut view = libcontainer::container::view(&state, status);
    // runc fills `owner` in `list` only; its `state` prints it empty.
    view.owner = "";
    println!("{}", serde_json::to_string_pretty(&view)?);
    Ok(())
}
