use crate::GlobalOptions;
use anyhow::Context;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PsFormat {
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// Output format: table (ps output of the container's processes) or json (their pids)
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    pub format: PsFormat,
    /// Container id
    pub id: String,
    /// Options for ps(1) (default -ef); not allowed with --format json
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(g: &GlobalOptions, args: PsArgs) -> anyhow::Result<()> {
    let pids = libcontainer::ps::pids(&g.root, &args.id)?;
    match args.format {
        PsFormat::Json => {
            if !args.ps_args.is_empty() {
                anyhow::bail!("ps options cannot be used with --format json");
            }
            println!("{}", serde_json::to_string(&pids)?);
        }
        PsFormat::Table => {
            let ps_args = if args.ps_args.is_empty() {
                vec!["-ef".to_string()]
            } else {
                args.ps_args
            };
            let out = std::process::Command::new("ps")
                .args(&ps_args)
                .output()
                .context("running ps")?;
            if !out.status.success() {
                anyhow::bail!(
                    "ps {}: {}{}",
                    ps_args.join(" "),
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            print!("{}", libcontainer::ps::filter_ps_output(&text, &pids)?);
        }
    }
    Ok(())
}
