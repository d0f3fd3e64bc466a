//! `process.capabilities`: the five capability sets.

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

#[derive(Debug, thiserror::Error)]
pub enum CapabilityError {
    #[error("capability {0} is not known to this build of berth")]
    Unknown(String),
    #[error("setting the {set} capability set: {source}")]
    Set {
        set: &'static str,
        #[source]
        source: caps::errors::CapsError,
    },
}

fn convert(set: &Option<Capabilities>) -> Result<CapsHashSet, CapabilityError> {
    let mut out = CapsHashSet::new();
    for cap in set.iter().flatten() {
        let name = format!("CAP_{cap}");
        out.insert(
            name.parse::<Capability>()
                .map_err(|_| CapabilityError::Unknown(name))?,
        );
    }
    Ok(out)
}

/// The five sets, converted and checked before anything is changed.
pub struct CapabilitySets {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    inheritable: CapsHashSet,
    permitted: CapsHashSet,
    ambient: CapsHashSet,
}

impl CapabilitySets {
    pub fn from_spec(caps: &LinuxCapabilities) -> Result<Self, CapabilityError> {
        Ok(Self {
            bounding: convert(caps.bounding())?,
            effective: convert(caps.effective())?,
            inheritable: convert(caps.inheritable())?,
            permitted: convert(caps.permitted())?,
            ambient: convert(caps.ambient())?,
        })
    }

    /// Drops every capability outside the bounding set. Needs CAP_SETPCAP,
    /// so it runs before the user switch.
    pub fn apply_bounding(&self) -> Result<(), CapabilityError> {
        for cap in caps::all() {
            if !self.bounding.contains(&cap)
                && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false)
            {
                caps::drop(None, CapSet::Bounding, cap).map_err(|source| CapabilityError::Set {
                    set: "bounding",
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Sets permitted, inheritable, effective, then ambient (after the user switch).
    pub fn apply(&self) -> Result<(), CapabilityError> {
        let set = |which, caps: &CapsHashSet, name| {
            caps::set(None, which, caps)
                .map_err(|source| CapabilityError::Set { set: name, source })
        };
        // Effective must stay a subset of permitted at every step.
        set(
            CapSet::Effective,
            &self
                .effective
                .intersection(&self.permitted)
                .copied()
                .collect(),
            "effective",
        )?;
        set(CapSet::Permitted, &self.permitted, "permitted")?;
        set(CapSet::Inheritable, &self.inheritable, "inheritable")?;
        set(CapSet::Effective, &self.effective, "effective")?;
        caps::clear(None, CapSet::Ambient).map_err(|source| CapabilityError::Set {
            set: "ambient",
            source,
        })?;
        // The kernel only allows an ambient capability that is both
        // permitted and inheritable; like runc, others are skipped with a warning.
        for cap in &self.ambient {
            if !(self.permitted.contains(cap) && self.inheritable.contains(cap)) {
                tracing::debug!(
                    "ambient capability {cap} is not both permitted and inheritable; not raised"
                );
                continue;
            }
            caps::raise(None, CapSet::Ambient, *cap).map_err(|source| CapabilityError::Set {
                set: "ambient",
                source,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_names_convert() {
        let spec: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_KILL","CAP_NET_BIND_SERVICE"],"effective":["CAP_KILL"]}"#,
        )
        .unwrap();
        let sets = CapabilitySets::from_spec(&spec).unwrap();
        assert!(sets.bounding.contains(&Capability::CAP_NET_BIND_SERVICE));
        assert_eq!(sets.effective.len(), 1);
        assert!(sets.permitted.is_empty());
    }
}
