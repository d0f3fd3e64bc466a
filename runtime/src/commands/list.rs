use crate::GlobalOptions;
use libcontainer::container;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Output format
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    pub format: ListFormat,
    /// Print only the ids
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub fn run(g: &GlobalOptions, args: ListArgs) -> anyhow::Result<()> {
    let containers = container::list(&g.root)?;
    if args.quiet {
        for (state, _) in &containers {
            println!("{}", state.id);
        }
        return Ok(());
    }
    match args.format {
        ListFormat::Json => {
            let views: Vec<_> = containers
                .iter()
                .map(|(s, st)| container::view(s, *st))
                .collect();
            // runc prints `null` for no containers.
            if views.is_empty() {
                println!("null");
            } else {
                println!("{}", serde_json::to_string(&views)?);
            }
        }
        ListFormat::Table => {
            let mut rows = vec![[
                "ID".to_string(),
                "PID".into(),
                "STATUS".into(),
                "BUNDLE".into(),
                "CREATED".into(),
                "OWNER".into(),
            ]];
            for (s, st) in &containers {
                let pid = if *st == libcontainer::Status::Stopped {
                    0
                } else {
                    s.pid
                };
                rows.push([
                    s.id.clone(),
                    pid.to_string(),
                    st.to_string(),
                    s.bundle.display().to_string(),
                    s.created.clone(),
                    s.owner.clone(),
                ]);
            }
            print!("{}", table(&rows));
        }
    }
    Ok(())
}

/// Columns padded as runc pads them (tabwriter: minimum width 12, padding 3).
fn table(rows: &[[String; 6]]) -> String {
    let mut widths = [0usize; 6];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}", width = (widths[i] + 3).max(12)));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
