//! Host forwarding (`net.ipv4.ip_forward`, `net.ipv6.conf.all.forwarding`):
//! one switch per host, shared by every berth bridge network of every state
//! directory. The first network turns it on; when the last one is gone (berth's
//! firewall table with it), the values found before are put back.
//!
//! Those values are kept host-wide, next to the firewall lock, in
//! `/run/berth/forwarding.json` with the boot id (a reboot resets the
//! sysctls, so a record of another boot is dropped). Each key keeps the value
//! it had before berth first changed it: an IPv6 network made after an IPv4
//! one adds the IPv6 key.
//!
//! [`Guard`] serialises "turn on + add the network to the firewall" against
//! "remove the network from the firewall + put back", so that a network made
//! while the last other one is removed never loses its forwarding.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;
use serde::{Deserialize, Serialize};

use crate::bridge::{self, PreviousSysctls};
use crate::{host, Error, Result};

/// Where the record and its lock live (with the firewall's lock).
pub const DIR: &str = "/run/berth";

/// The values forwarding had before berth changed it, in this boot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub boot_id: String,
    pub before: PreviousSysctls,
}

impl Record {
    /// Adds the keys of `changed` not yet recorded: the first value found
    /// is the one to put back.
    pub fn merge(&mut self, changed: PreviousSysctls) {
        for (key, value) in changed.values {
            if !self.before.values.iter().any(|(k, _)| *k == key) {
                self.before.values.push((key, value));
            }
        }
    }
}

/// Holds the forwarding lock of a directory; the record is read and written
/// through it.
pub struct Guard {
    dir: PathBuf,
    _lock: Flock<File>,
}

impl Guard {
    /// Takes the lock in `dir` (normally [`DIR`]).
    pub fn lock(dir: &Path) -> Result<Guard> {
        let lock = host::lock_file(&dir.join("forwarding.lock")).map_err(|source| Error::Io {
            what: format!("forwarding lock in {}", dir.display()),
            source,
        })?;
        Ok(Guard {
            dir: dir.to_owned(),
            _lock: lock,
        })
    }

    fn path(&self) -> PathBuf {
        self.dir.join("forwarding.json")
    }

    /// The record of this boot, or an empty one.
    pub fn load(&self, boot_id: &str) -> Result<Record> {
        let path = self.path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(Error::Io {
                    what: path.display().to_string(),
                    source,
                })
            }
        };
        let record: Record = if text.is_empty() {
            Record::default()
        } else {
            serde_json::from_str(&text).map_err(|source| Error::Json {
                path: path.clone(),
                source,
            })?
        };
        // The keys become /proc/sys paths and the values are written there
        // as root: only what `enable_forwarding` records is taken.
        for (key, value) in &record.before.values {
            check_entry(key, value).map_err(|reason| Error::Corrupt {
                path: path.clone(),
                reason: format!("{key:?} = {value:?}: {reason}; remove the file to forget it"),
            })?;
        }
        Ok(if record.boot_id == boot_id {
            record
        } else {
            Record {
                boot_id: boot_id.to_owned(),
                before: PreviousSysctls::default(),
            }
        })
    }

    /// Writes the record (atomically), or removes it when it is empty.
    pub fn save(&self, record: &Record) -> Result<()> {
        let path = self.path();
        let err = |source| Error::Io {
            what: path.display().to_string(),
            source,
        };
        if record.before.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(err(e)),
                _ => Ok(()),
            };
        }
        let json = serde_json::to_string(record).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        let tmp = self.dir.join("forwarding.json.tmp");
        std::fs::write(&tmp, json).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)
    }

    /// Turns forwarding on (IPv6 too with `ipv6`) and records what it was.
    pub fn enable(&self, ipv6: bool) -> Result<()> {
        let boot_id = host::boot_id();
        let mut record = self.load(&boot_id)?;
        let changed = bridge::enable_forwarding(ipv6)?;
        if changed.is_empty() {
            return Ok(());
        }
        record.merge(changed.clone());
        if let Err(e) = self.save(&record) {
            // Unrecorded, the change could never be put back.
            if let Err(undo) = bridge::restore(&changed) {
                tracing::warn!(error = %undo, "restoring forwarding after a failure");
            }
            return Err(e);
        }
        Ok(())
    }

    /// Puts back the recorded values and forgets them: the host has no
    /// berth bridge network left.
    pub fn restore(&self) -> Result<()> {
        let record = self.load(&host::boot_id())?;
        bridge::restore(&record.before)?;
        self.save(&Record {
            boot_id: record.boot_id,
            before: PreviousSysctls::default(),
        })
    }
}

/// Whether `key = value` is an entry berth could have recorded: a
/// forwarding key and a value of one or two digits.
fn check_entry(key: &str, value: &str) -> std::result::Result<(), &'static str> {
    if !bridge::FORWARDING_KEYS.contains(&key) {
        return Err("not a forwarding sysctl berth changes");
    }
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a forwarding value");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prev(values: &[(&str, &str)]) -> PreviousSysctls {
        PreviousSysctls {
            values: values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn merge_keeps_the_first_value_of_each_key() {
        let mut r = Record::default();
        r.merge(prev(&[("net/ipv4/ip_forward", "0")]));
        // Already on when the IPv6 network came: only the IPv6 key is new.
        r.merge(prev(&[
            ("net/ipv4/ip_forward", "1"),
            ("net/ipv6/conf/all/forwarding", "0"),
        ]));
        assert_eq!(
            r.before,
            prev(&[
                ("net/ipv4/ip_forward", "0"),
                ("net/ipv6/conf/all/forwarding", "0")
            ])
        );
    }

    #[test]
    fn a_record_naming_other_sysctls_is_refused() {
        let dir = std::env::temp_dir().join(format!("berth-fwd-bad-{}", std::process::id()));
        let g = Guard::lock(&dir).unwrap();
        for (key, value) in [
            ("kernel/core_pattern", "|/tmp/x"),
            ("net/ipv4/../../kernel/core_pattern", "1"),
            ("../../../etc/passwd", "0"),
            ("net.ipv4.ip_forward", "0"),
            ("net/ipv4/ip_forward", "|/tmp/x"),
            ("net/ipv4/ip_forward", ""),
        ] {
            let text = serde_json::json!({
                "boot_id": "b1",
                "before": { "values": [[key, value]] },
            });
            std::fs::write(dir.join("forwarding.json"), text.to_string()).unwrap();
            let err = g.load("b1").expect_err(key);
            assert!(err.to_string().contains("forwarding.json"), "{err}");
        }
        std::fs::write(
            dir.join("forwarding.json"),
            r#"{"boot_id":"b1","before":{"values":[["net/ipv6/conf/all/forwarding","0"]]}}"#,
        )
        .unwrap();
        assert_eq!(
            g.load("b1").unwrap().before,
            prev(&[("net/ipv6/conf/all/forwarding", "0")])
        );
        drop(g);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn record_round_trips_and_another_boot_is_dropped() {
        let dir = std::env::temp_dir().join(format!("berth-fwd-{}", std::process::id()));
        let g = Guard::lock(&dir).unwrap();
        assert_eq!(g.load("b1").unwrap().before, PreviousSysctls::default());
        let r = Record {
            boot_id: "b1".into(),
            before: prev(&[("net/ipv4/ip_forward", "0")]),
        };
        g.save(&r).unwrap();
        assert_eq!(g.load("b1").unwrap(), r);
        let other = g.load("b2").unwrap();
        assert_eq!(other.boot_id, "b2");
        assert!(other.before.is_empty());
        // An empty record is no file.
        g.save(&Record::default()).unwrap();
        assert!(!dir.join("forwarding.json").exists());
        drop(g);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
