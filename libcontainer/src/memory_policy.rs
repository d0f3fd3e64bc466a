//! `linux.memoryPolicy`: the NUMA memory policy of the container's process
//! (set_mempolicy(2)), its mode, flags and node list (`"0-3,7"`).

use oci_spec::runtime::{Linux, LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

#[derive(Debug, thiserror::Error)]
pub enum MemoryPolicyError {
    #[error("linux.memoryPolicy.{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("linux.memoryPolicy: set_mempolicy({mode}, nodes {nodes:?}): {source}")]
    Set {
        mode: MemoryPolicyModeType,
        nodes: String,
        #[source]
        source: std::io::Error,
    },
}

fn invalid(field: &'static str, reason: impl Into<String>) -> MemoryPolicyError {
    MemoryPolicyError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// The kernel's MAX_NUMNODES at its largest (CONFIG_NODES_SHIFT 10).
const MAX_NODES: usize = 1024;

/// The kernel's MPOL_* number of a mode.
fn mode_number(mode: MemoryPolicyModeType) -> i32 {
    match mode {
        MemoryPolicyModeType::MpolDefault => 0,
        MemoryPolicyModeType::MpolPreferred => 1,
        MemoryPolicyModeType::MpolBind => 2,
        MemoryPolicyModeType::MpolInterleave => 3,
        MemoryPolicyModeType::MpolLocal => 4,
        MemoryPolicyModeType::MpolPreferredMany => 5,
        MemoryPolicyModeType::MpolWeightedInterleave => 6,
    }
}

/// The modes berth sets, by their runtime-spec names (for `berth features`).
pub fn known_modes() -> Vec<String> {
    use MemoryPolicyModeType::*;
    [
        MpolDefault,
        MpolBind,
        MpolInterleave,
        MpolWeightedInterleave,
        MpolPreferred,
        MpolPreferredMany,
        MpolLocal,
    ]
    .iter()
    .map(|m| m.to_string())
    .collect()
}

/// The flags berth sets, by their runtime-spec names (for `berth features`).
pub fn known_flags() -> Vec<String> {
    use MemoryPolicyFlagType::*;
    [MpolFNumaBalancing, MpolFRelativeNodes, MpolFStaticNodes]
        .iter()
        .map(|f| f.to_string())
        .collect()
}

fn flag_bit(flag: MemoryPolicyFlagType) -> i32 {
    match flag {
        MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
        MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
        MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
    }
}

/// Parses a node list (`"0-3,7"`, as cpuset.mems) into a node mask of
/// words; an empty list gives an empty mask.
pub fn parse_nodes(list: &str) -> Result<Vec<libc::c_ulong>, MemoryPolicyError> {
    const BITS: usize = libc::c_ulong::BITS as usize;
    let mut mask: Vec<libc::c_ulong> = Vec::new();
    let list = list.trim();
    if list.is_empty() {
        return Ok(mask);
    }
    let node = |s: &str| -> Result<usize, MemoryPolicyError> {
        let n: usize = s
            .trim()
            .parse()
            .map_err(|_| invalid("nodes", format!("{list:?}: {s:?} is not a node number")))?;
        if n >= MAX_NODES {
            return Err(invalid(
                "nodes",
                format!("{list:?}: node {n} is beyond the kernel's {MAX_NODES} nodes"),
            ));
        }
        Ok(n)
    };
    for part in list.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (node(a)?, node(b)?),
            None => (node(part)?, node(part)?),
        };
        if first > last {
            return Err(invalid(
                "nodes",
                format!("{list:?}: range {part:?} runs backwards"),
            ));
        }
        for n in first..=last {
            if mask.len() <= n / BITS {
                mask.resize(n / BITS + 1, 0);
            }
            mask[n / BITS] |= 1 << (n % BITS);
        }
    }
    Ok(mask)
}

/// Validation, as runc does it: MPOL_DEFAULT and MPOL_LOCAL take no nodes,
/// the other modes but MPOL_PREFERRED (where none means "local") need at
/// least one; MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each
/// other.
pub fn check(policy: &LinuxMemoryPolicy) -> Result<(), MemoryPolicyError> {
    use MemoryPolicyModeType::*;
    let nodes = parse_nodes(policy.nodes().as_deref().unwrap_or(""))?;
    let any = nodes.iter().any(|w| *w != 0);
    let mode = policy.mode();
    match mode {
        MpolDefault | MpolLocal if any => {
            return Err(invalid("nodes", format!("{mode} takes no nodes")));
        }
        MpolBind | MpolInterleave | MpolPreferredMany | MpolWeightedInterleave if !any => {
            return Err(invalid("nodes", format!("{mode} needs at least one node")));
        }
        _ => {}
    }
    let flags = policy.flags().as_deref().unwrap_or(&[]);
    if flags.contains(&MemoryPolicyFlagType::MpolFStaticNodes)
        && flags.contains(&MemoryPolicyFlagType::MpolFRelativeNodes)
    {
        return Err(invalid(
            "flags",
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
        ));
    }
    Ok(())
}

/// Sets `linux.memoryPolicy`, if any, on the calling process.
pub fn apply(linux: &Linux) -> Result<(), MemoryPolicyError> {
    let Some(policy) = linux.memory_policy() else {
        return Ok(());
    };
    check(policy)?;
    let list = policy.nodes().as_deref().unwrap_or("");
    let nodes = parse_nodes(list)?;
    let mode = policy
        .flags()
        .iter()
        .flatten()
        .fold(mode_number(policy.mode()), |m, f| m | flag_bit(*f));
    crate::sys::set_mempolicy(mode, &nodes).map_err(|source| MemoryPolicyError::Set {
        mode: policy.mode(),
        nodes: list.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lists() {
        assert_eq!(parse_nodes("").unwrap(), Vec::<libc::c_ulong>::new());
        assert_eq!(parse_nodes("0").unwrap(), vec![1]);
        assert_eq!(parse_nodes("0-2,5").unwrap(), vec![0b100111]);
        assert_eq!(parse_nodes(" 1 , 3-3 ").unwrap(), vec![0b1010]);
        assert_eq!(parse_nodes("64").unwrap(), vec![0, 1]);
        assert_eq!(parse_nodes("1023").unwrap().len(), 16);
        for bad in [
            "x",
            "1-",
            "-1",
            "3-1",
            "0,,1",
            "1024",
            "0-99999999999999999999",
        ] {
            let err = parse_nodes(bad).unwrap_err().to_string();
            assert!(err.contains("linux.memoryPolicy.nodes"), "{bad}: {err}");
        }
    }

    #[test]
    fn modes_and_nodes_agree() {
        let policy =
            |v: serde_json::Value| -> LinuxMemoryPolicy { serde_json::from_value(v).unwrap() };
        use serde_json::json;
        for ok in [
            json!({"mode": "MPOL_DEFAULT"}),
            json!({"mode": "MPOL_LOCAL"}),
            json!({"mode": "MPOL_PREFERRED"}),
            json!({"mode": "MPOL_PREFERRED", "nodes": "0"}),
            json!({"mode": "MPOL_BIND", "nodes": "0-1", "flags": ["MPOL_F_STATIC_NODES"]}),
        ] {
            check(&policy(ok.clone())).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, field) in [
            (json!({"mode": "MPOL_DEFAULT", "nodes": "0"}), "nodes"),
            (json!({"mode": "MPOL_BIND"}), "nodes"),
            (json!({"mode": "MPOL_INTERLEAVE", "nodes": ""}), "nodes"),
            (
                json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
                "flags",
            ),
        ] {
            let err = check(&policy(bad.clone())).unwrap_err().to_string();
            assert!(
                err.contains(&format!("linux.memoryPolicy.{field}")),
                "{bad}: {err}"
            );
        }
        assert_eq!(mode_number(MemoryPolicyModeType::MpolWeightedInterleave), 6);
        assert!(known_modes().contains(&"MPOL_PREFERRED_MANY".to_string()));
        assert!(known_flags().contains(&"MPOL_F_STATIC_NODES".to_string()));
    }
}
