//! `linux.personality`: the execution domain (personality(2)), set just
//! before the process is executed, as runc does.

use oci_spec::runtime::{Linux, LinuxPersonality, LinuxPersonalityDomain};

#[derive(Debug, thiserror::Error)]
pub enum PersonalityError {
    /// The runtime-spec defines no flags yet ("Currently no flag values
    /// are supported"); runc ignores them with a warning, berth refuses.
    #[error(
        "linux.personality.flags: {0:?}: no personality flags are defined by the runtime-spec"
    )]
    Flags(Vec<String>),
    #[error("linux.personality: personality({domain}): {source}")]
    Set {
        domain: LinuxPersonalityDomain,
        #[source]
        source: std::io::Error,
    },
}

/// The kernel's PER_* value of a domain.
fn persona(domain: LinuxPersonalityDomain) -> libc::c_ulong {
    match domain {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    }
}

/// Validation: no flags (an unknown domain is refused when config.json is parsed).
pub fn check(personality: &LinuxPersonality) -> Result<(), PersonalityError> {
    match personality.flags() {
        Some(flags) if !flags.is_empty() => Err(PersonalityError::Flags(flags.clone())),
        _ => Ok(()),
    }
}

/// Sets `linux.personality`, if any, on the calling process.
pub fn apply(linux: &Linux) -> Result<(), PersonalityError> {
    let Some(personality) = linux.personality() else {
        return Ok(());
    };
    check(personality)?;
    let domain = personality.domain();
    crate::sys::set_personality(persona(domain))
        .map_err(|source| PersonalityError::Set { domain, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_refused() {
        let p: LinuxPersonality =
            serde_json::from_str(r#"{"domain": "LINUX32", "flags": ["SHORT_INODE"]}"#).unwrap();
        let err = check(&p).unwrap_err().to_string();
        assert!(
            err.contains("linux.personality.flags") && err.contains("SHORT_INODE"),
            "{err}"
        );
        let p: LinuxPersonality = serde_json::from_str(r#"{"domain": "LINUX32"}"#).unwrap();
        assert!(check(&p).is_ok());
        assert_eq!(persona(p.domain()), 8);
    }
}
