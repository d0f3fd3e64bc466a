//! Signal names and numbers as `kill` accepts them (runc's forms).

use nix::sys::signal::Signal;
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
#[error("unknown signal {0:?}")]
pub struct UnknownSignal(pub String);

/// Parses `9`, `KILL`, `SIGKILL`, `kill`, `RTMIN+3`.
pub fn parse(text: &str) -> Result<i32, UnknownSignal> {
    if let Ok(n) = text.parse::<i32>() {
        return if (1..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(UnknownSignal(text.to_owned()))
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.strip_prefix('+')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| UnknownSignal(text.to_owned()))?
        };
        return libc::SIGRTMIN()
            .checked_add(off)
            .filter(|n| off >= 0 && *n <= libc::SIGRTMAX())
            .ok_or_else(|| UnknownSignal(text.to_owned()));
    }
    Signal::from_str(&format!("SIG{name}"))
        .map(|s| s as i32)
        .map_err(|_| UnknownSignal(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse("9").unwrap(), 9);
        assert_eq!(parse("KILL").unwrap(), 9);
        assert_eq!(parse("SIGTERM").unwrap(), 15);
        assert_eq!(parse("term").unwrap(), 15);
        assert_eq!(parse("RTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        assert!(parse("NOPE").is_err());
        assert!(parse("0").is_err());
        assert!(parse("99").is_err());
        assert!(parse("RTMIN+2147483647").is_err());
        assert!(parse("RTMIN+-40").is_err());
        assert!(parse("RTMIN+99999999999").is_err());
    }
}
