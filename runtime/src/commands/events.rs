use crate::GlobalOptions;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// Print the container's resource statistics once and exit
    #[arg(long)]
    pub stats: bool,
    /// How often to print statistics (Go duration: 5s, 500ms, 1m30s)
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Container id
    pub id: String,
}

pub fn run(g: &GlobalOptions, args: EventsArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    Ok(libcontainer::events::events(
        &g.root,
        &args.id,
        args.stats,
        args.interval,
        &mut out,
    )?)
}

/// A Go duration (`1h2m3.5s`, `300ms`, `10us`), as runc's `--interval`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?} (examples: 5s, 500ms, 1m30s)");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    // Go's durations are int64 nanoseconds: about 292 years at most.
    const MAX_SECS: f64 = i64::MAX as f64 / 1e9;
    if total.is_nan() || total > MAX_SECS {
        return Err(bad());
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("2562047h").is_ok());
        assert!(parse_duration("2562048h").is_err());
        assert!(parse_duration("99999999999999999999999999999h").is_err());
    }
}
