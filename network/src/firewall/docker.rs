//! Living beside dockerd: accept rules for berth's bridges in docker's
//! `DOCKER-USER` chain.
//!
//! dockerd with its firewall on sets the policy of iptables' `FORWARD`
//! chain to `DROP`. With Debian's iptables (the nf_tables backend) that is
//! the base chain `FORWARD` of the table `ip filter`, and a packet dropped
//! in any base chain at a hook is dropped whatever berth's own table said:
//! every container's forwarded traffic (outbound, published ports from
//! other hosts, bridged traffic once docker loaded `br_netfilter`) dies
//! there. docker's `FORWARD` jumps to `DOCKER-USER` first, the chain docker
//! keeps for its users' rules; berth puts two accept rules per bridge there:
//!
//! ```text
//! -A DOCKER-USER -i BRIDGE -m comment --comment berth -j ACCEPT
//! -A DOCKER-USER -o BRIDGE -m comment --comment berth -j ACCEPT
//! ```
//!
//! An accept ends only the evaluation of docker's table: berth's own
//! `forward` chain still drops what berth must (isolation between berth's
//! networks, `--internal`), and docker's rules for its own bridges are not
//! touched (berth adds and deletes only these rules, in this chain only,
//! and never changes a policy). berth's containers get what docker gives
//! its own (`-i docker0 ! -o docker0 -j ACCEPT`): a way out.
//!
//! # How
//!
//! Through the `iptables` binary (`iptables-restore --noflush`, one
//! transaction), not through netlink: a chain of a table that iptables-nft
//! manages must hold only rules iptables-nft wrote, or every later
//! `iptables` run on that table (dockerd's own) fails with "table `filter'
//! is incompatible, use 'nft' tool" — writing native nft rules there would
//! break docker.
//!
//! # When
//!
//! Whether the chain exists is one netlink `GETCHAIN` (no process): the
//! iptables binary runs only on hosts where `DOCKER-USER` exists, at
//! network create, `berth network restore` and container create (which
//! costs one `iptables -S DOCKER-USER` on such hosts, to notice a dockerd
//! started after the network was made), and at network removal. A dockerd
//! started later is noticed by the next container create on the network or
//! by `berth network restore` (`contrib/` has a drop-in that runs it after
//! docker.service starts). On the legacy backend the netlink lookup cannot
//! see the chain: nothing is done there.

use std::path::Path;

use super::{nfnl, nft, Error, Result};
use crate::model::NetworkDef;

/// docker's chain for its users' rules.
pub const CHAIN: &str = "DOCKER-USER";
/// The comment on berth's rules.
const COMMENT: &str = "berth";

const NFPROTO_IPV4: u8 = libc::NFPROTO_IPV4 as u8;
const NFPROTO_IPV6: u8 = libc::NFPROTO_IPV6 as u8;

/// iptables or ip6tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn nfproto(self) -> u8 {
        match self {
            Family::V4 => NFPROTO_IPV4,
            Family::V6 => NFPROTO_IPV6,
        }
    }

    fn table(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }

    /// (the lister, the restorer)
    fn binaries(self) -> Result<(&'static str, &'static str)> {
        let pick = |names: [&'static str; 2]| {
            names
                .into_iter()
                .find(|p| Path::new(p).exists())
                .ok_or(Error::IptablesMissing)
        };
        Ok(match self {
            Family::V4 => (
                pick(["/usr/sbin/iptables", "/sbin/iptables"])?,
                pick(["/usr/sbin/iptables-restore", "/sbin/iptables-restore"])?,
            ),
            Family::V6 => (
                pick(["/usr/sbin/ip6tables", "/sbin/ip6tables"])?,
                pick(["/usr/sbin/ip6tables-restore", "/sbin/ip6tables-restore"])?,
            ),
        })
    }
}

/// The families whose `DOCKER-USER` should hold `def`'s rules.
fn families(def: &NetworkDef) -> Vec<Family> {
    let mut out = vec![Family::V4];
    if def.subnet6.is_some() {
        out.push(Family::V6);
    }
    out
}

/// berth's rules for `bridge`, as `iptables -S` prints them (without the
/// leading `-A DOCKER-USER `).
pub fn rules(bridge: &str) -> [String; 2] {
    [
        format!("-i {bridge} -m comment --comment {COMMENT} -j ACCEPT"),
        format!("-o {bridge} -m comment --comment {COMMENT} -j ACCEPT"),
    ]
}

/// Whether docker's chain exists in `family`'s `filter` table.
fn chain_exists(family: Family) -> Result<bool> {
    nfnl::chain_exists(family.nfproto(), "filter", CHAIN).map_err(|source| Error::Netlink {
        what: "looking up docker's DOCKER-USER chain",
        source,
    })
}

/// Makes sure `DOCKER-USER` accepts the traffic of `def`'s bridge, where
/// the chain exists. Idempotent; nothing runs on hosts without it.
pub fn allow(def: &NetworkDef) -> Result<()> {
    let Some(bridge) = def.bridge.as_deref() else {
        return Ok(());
    };
    super::rules::check_ifname(bridge)?;
    for family in families(def) {
        if !chain_exists(family)? {
            continue;
        }
        let present = listed(family)?;
        let missing: Vec<String> = rules(bridge)
            .into_iter()
            .filter(|r| !present.contains(r))
            .collect();
        if !missing.is_empty() {
            // -I: before docker's `-j RETURN` at the chain's end.
            let lines: Vec<String> = missing.iter().map(|r| format!("-I {CHAIN} {r}")).collect();
            restore(family, "add berth's rules to DOCKER-USER", &lines)?;
        }
    }
    Ok(())
}

/// Deletes berth's rules for `def`'s bridge from `DOCKER-USER`, where they
/// are. Other rules are left alone.
pub fn revoke(def: &NetworkDef) -> Result<()> {
    let Some(bridge) = def.bridge.as_deref() else {
        return Ok(());
    };
    super::rules::check_ifname(bridge)?;
    // IPv6 too whatever the network: rules an earlier definition left.
    for family in [Family::V4, Family::V6] {
        if !chain_exists(family)? {
            continue;
        }
        let present = listed(family)?;
        let lines: Vec<String> = rules(bridge)
            .into_iter()
            .filter(|r| present.contains(r))
            .map(|r| format!("-D {CHAIN} {r}"))
            .collect();
        if !lines.is_empty() {
            restore(family, "delete berth's rules from DOCKER-USER", &lines)?;
        }
    }
    Ok(())
}

/// The rules of `DOCKER-USER` as `iptables -S` prints them, without
/// `-A DOCKER-USER `.
fn listed(family: Family) -> Result<Vec<String>> {
    let (iptables, _) = family.binaries()?;
    let out = run(iptables, &["-w", "-S", CHAIN], None, "list DOCKER-USER")?;
    Ok(parse_listing(&out))
}

fn parse_listing(text: &str) -> Vec<String> {
    let prefix = format!("-A {CHAIN} ");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_owned)
        .collect()
}

/// `iptables-restore --noflush` of `lines` in the filter table: one
/// transaction.
fn restore(family: Family, what: &'static str, lines: &[String]) -> Result<()> {
    let (_, restorer) = family.binaries()?;
    let script = restore_script(lines);
    run(restorer, &["-w", "--noflush"], Some(&script), what)?;
    tracing::info!(
        table = family.table(),
        ?lines,
        "firewall: DOCKER-USER updated"
    );
    Ok(())
}

/// Runs `path ARGS` with `stdin`; its stdout, or an error naming `what`
/// with its stderr.
fn run(
    path: &'static str,
    args: &[&str],
    stdin: Option<&str>,
    what: &'static str,
) -> Result<String> {
    let out = nft::spawn(path, args, stdin)?;
    if !out.status.success() {
        return Err(Error::Iptables {
            what,
            status: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn restore_script(lines: &[String]) -> String {
    let mut s = String::from("*filter\n");
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str("COMMIT\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_its_rules_in_a_listing() {
        // As iptables-nft 1.8.9 prints DOCKER-USER with berth's rules in it.
        let text = "-N DOCKER-USER\n\
                    -A DOCKER-USER -i bt1 -m comment --comment berth -j ACCEPT\n\
                    -A DOCKER-USER -o bt1 -m comment --comment berth -j ACCEPT\n\
                    -A DOCKER-USER -j RETURN\n";
        let listed = parse_listing(text);
        assert_eq!(listed.len(), 3);
        for r in rules("bt1") {
            assert!(listed.contains(&r), "{r}");
        }
        assert!(!listed.contains(&rules("bt2")[0]));
    }

    #[test]
    fn restore_script_is_one_filter_transaction() {
        let s = restore_script(&["-I DOCKER-USER -i b -j ACCEPT".into()]);
        assert_eq!(s, "*filter\n-I DOCKER-USER -i b -j ACCEPT\nCOMMIT\n");
    }
}
