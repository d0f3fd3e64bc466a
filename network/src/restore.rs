//! `berth network restore`: the host side of every network of a state
//! directory made again from the store, and what `berth network ls` checks
//! of it.
//!
//! The store is the truth; bridges, addresses, berth's nftables table and
//! the forwarding sysctls are derived from it, and the host loses them on a
//! reboot, an `nft flush ruleset`, a firewalld reload. [`Networks::restore`]
//! does for every network what a network's first use after a reboot does
//! (`Networks::set_up_host`: bridge, addresses, sysctls, forwarding, the
//! network's firewall elements, docker's `DOCKER-USER` rules), then:
//!
//! 1. reclaims the endpoints of containers that are gone — their state
//!    directory is gone, or the network was last set up in another boot
//!    (a container does not outlive its boot) — unless the host end of their
//!    veth still exists (the container lives);
//! 2. makes berth's fixed table whole ([`firewall::repair_table`]: every
//!    chain flushed and filled again in one transaction, elements kept);
//! 3. publishes the ports of every remaining container again
//!    ([`firewall::attach`], which adding what is there already leaves as
//!    it is).
//!
//! It is idempotent, and a network that fails does not stop the others:
//! the report names it and the command fails at the end.
//!
//! A container created between a reboot and the restore, on a macvlan or
//! ipvlan network nothing used since the reboot, could be taken for one of
//! the previous boot (those drivers leave no device on the host to tell
//! by): run the restore at boot, before containers start (the unit in
//! `contrib/` does).

use crate::firewall;
use crate::model::{NetworkDef, PortMapping};
use crate::netlink::Netlink;
use crate::networks::{host_end_present, ports_on, Networks};
use crate::store::EndpointRow;
use crate::{host, Result};
use serde::Serialize;

/// What [`Networks::restore`] did.
#[derive(Debug, Default, Serialize)]
pub struct Restored {
    /// The networks whose host side was made again.
    pub networks: Vec<String>,
    /// The containers whose endpoints were reclaimed: `(network, id)`.
    pub reclaimed: Vec<(String, String)>,
    /// How many published ports of living containers were put back.
    pub ports: usize,
    /// The networks that failed, with the reason.
    pub failed: Vec<(String, String)>,
}

impl Networks {
    /// Restores the host side of every network of this store; see the
    /// module docs.
    pub fn restore(&self) -> Result<Restored> {
        let mut report = Restored::default();
        let boot = host::boot_id();
        let mut nl = Netlink::open()?;
        let defs = self.list()?;
        let mut bridged = false;
        for def in &defs {
            match self.restore_one(&mut nl, def, &boot, &mut report) {
                Ok(()) => {
                    report.networks.push(def.name.clone());
                    bridged |= def.driver.has_bridge();
                }
                Err(e) => report.failed.push((def.name.clone(), e.to_string())),
            }
        }
        // A table that cannot be repaired is one failure among the others:
        // the networks restored and the containers reclaimed are still told.
        if bridged {
            if let Err(e) = firewall::repair_table() {
                report.failed.push(("firewall table".into(), e.to_string()));
            }
        }
        let restored: Vec<&NetworkDef> = defs
            .iter()
            .filter(|d| d.driver.has_bridge() && report.networks.contains(&d.name))
            .collect();
        for def in restored {
            if let Err(e) = self.republish(def, &mut report) {
                report.failed.push((def.name.clone(), e.to_string()));
            }
        }
        Ok(report)
    }

    fn restore_one(
        &self,
        nl: &mut Netlink,
        def: &NetworkDef,
        boot: &str,
        report: &mut Restored,
    ) -> Result<()> {
        let recorded = self.store.borrow_mut().read(|tx| tx.boot_id(&def.name))?;
        let previous_boot = !same_boot(&recorded, boot);
        let before = self.containers_on(&def.name)?;
        self.reclaim_on(&def.name, previous_boot)?;
        let after = self.containers_on(&def.name)?;
        report.reclaimed.extend(
            before
                .into_iter()
                .filter(|id| !after.contains(id))
                .map(|id| (def.name.clone(), id)),
        );
        self.set_up_host(nl, def)
    }

    /// The port elements of every container left on `def`. A container
    /// whose ports cannot be published (a host port another container took
    /// meanwhile) is a failure in the report; the others go on.
    fn republish(&self, def: &NetworkDef, report: &mut Restored) -> Result<()> {
        let rows = self.endpoints_with_ports(&def.name)?;
        for (row, ports) in rows {
            let mine = ports_on(&ports, &def.name);
            match firewall::attach(def, &row.endpoint, &mine) {
                Ok(()) => report.ports += mine.len(),
                Err(e) => report.failed.push((
                    def.name.clone(),
                    format!("container {}: {e}", row.container),
                )),
            }
        }
        Ok(())
    }

    /// What of each of `defs`' host side is missing (see
    /// `missing_host_objects`): what `berth network ls` notes.
    pub fn missing_on_host(&self, defs: &[NetworkDef]) -> Result<Vec<Vec<String>>> {
        let mut nl = Netlink::open()?;
        let mut table = None;
        defs.iter()
            .map(|d| self.missing_host_objects(d, &mut nl, &mut table))
            .collect()
    }

    /// What of `def`'s host side is missing: `bridge NAME`, `parent NAME`,
    /// `firewall table`, `firewall rules (chains ...)`, `firewall elements`,
    /// `published ports of ID`. Empty when all is there. One netlink lookup
    /// per device, one `nft` run for the table (`table` keeps it between
    /// calls), one batch of element lookups per container with published
    /// ports.
    fn missing_host_objects(
        &self,
        def: &NetworkDef,
        nl: &mut Netlink,
        table: &mut Option<Option<firewall::TableState>>,
    ) -> Result<Vec<String>> {
        let mut missing = Vec::new();
        if let Some(parent) = &def.parent {
            if nl.link_index(parent)?.is_none() {
                missing.push(format!("parent {parent}"));
            }
        }
        let Some(bridge) = &def.bridge else {
            return Ok(missing);
        };
        if nl.link_index(bridge)?.is_none() {
            missing.push(format!("bridge {bridge}"));
        }
        let state = match table {
            Some(t) => t,
            None => table.insert(firewall::table_state()?),
        };
        let Some(state) = state else {
            missing.push("firewall table".into());
            return Ok(missing);
        };
        if !state.incomplete.is_empty() {
            missing.push(format!(
                "firewall rules (chains {})",
                state.incomplete.join(", ")
            ));
        }
        if !state.bridges.contains(bridge) {
            missing.push("firewall elements".into());
        }
        let rows = self.endpoints_with_ports(&def.name)?;
        let mut probe = None;
        for (row, ports) in rows {
            let mine = ports_on(&ports, &def.name);
            // A container that is gone has nothing to miss.
            if mine.is_empty() || !(row.owner.exists() || host_end_present(&row, &mut probe)?) {
                continue;
            }
            if !firewall::missing_ports(def, &row.endpoint, &mine)?.is_empty() {
                missing.push(format!("published ports of {}", row.container));
            }
        }
        Ok(missing)
    }
}

/// An endpoint and its container's published ports, with their network.
type EndpointWithPorts = (EndpointRow, Vec<(String, PortMapping)>);

impl Networks {
    /// The endpoints on `network`, each with its container's ports.
    fn endpoints_with_ports(&self, network: &str) -> Result<Vec<EndpointWithPorts>> {
        self.store.borrow_mut().read(|tx| {
            let rows = tx.endpoints_on(network)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let ports = tx.ports_of(&row.container)?;
                out.push((row, ports));
            }
            Ok(out)
        })
    }
}

/// Whether the setup id recorded for a network (`BOOT_ID/GENERATION`, see
/// `networks::host_setup_id`) names this boot.
fn same_boot(recorded: &str, boot: &str) -> bool {
    recorded.split('/').next() == Some(boot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_a_previous_boot() {
        assert!(same_boot("b1/2", "b1"));
        assert!(
            same_boot("b1/1", "b1"),
            "an older generation is this boot's"
        );
        assert!(!same_boot("b0/2", "b1"));
        assert!(!same_boot("", "b1"), "a network never set up");
    }
}
