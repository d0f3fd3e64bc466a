//! The network layer's persistent state: one SQLite database (WAL mode, busy
//! timeout) under the state directory, shared by every berth process.
//!
//! Every read-modify-write runs in one `BEGIN IMMEDIATE` transaction, so 50
//! concurrent `berth create` processes serialise on the database's write lock
//! and each sees the others' allocations; a crash mid-transaction leaves the
//! database as it was before it. Every lookup on the create path goes through
//! a primary key or an index: nothing lists all containers or all ports.
//!
//! Tables:
//! - `networks`: definitions (JSON), with the unique index and bridge name.
//! - `ipam`: allocation bitmap words per network (missing word = all clear).
//! - `endpoints`: one row per (container, network): the host offset, the
//!   owner (the container's state directory, to detect leaked allocations)
//!   and the endpoint (JSON); since version 2 its name (unique on its
//!   network), its slot in the network's hosts file and the container's copy
//!   of that file (`hostsfile.rs`).
//! - `ports`: published host ports, keyed for conflict lookup.
//! - `name_slots` (version 2): the hosts file slots in use, a bitmap per
//!   network as `ipam`'s.
//!
//! The schema's version is SQLite's `user_version`: a new database gets the
//! first schema and every migration after it, an older one the migrations
//! it lacks, in one transaction; a newer one is refused.

use crate::ipam;
use crate::model::{Endpoint, NetworkDef, PortMapping};
use crate::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SCHEMA_VERSION: i32 = 2;

/// Version 1: networks, IPAM, endpoints, ports.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS networks(
    name TEXT PRIMARY KEY,
    idx INTEGER NOT NULL UNIQUE,
    bridge TEXT UNIQUE,
    def TEXT NOT NULL,
    hint INTEGER NOT NULL DEFAULT 0,
    boot_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS ipam(
    network TEXT NOT NULL,
    word INTEGER NOT NULL,
    bits INTEGER NOT NULL,
    PRIMARY KEY(network, word)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS endpoints(
    container TEXT NOT NULL,
    network TEXT NOT NULL,
    offset INTEGER NOT NULL,
    owner TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    PRIMARY KEY(container, network)
);
CREATE INDEX IF NOT EXISTS endpoints_by_network ON endpoints(network, offset);
CREATE TABLE IF NOT EXISTS ports(
    protocol TEXT NOT NULL,
    host_port INTEGER NOT NULL,
    host_ip TEXT NOT NULL,
    container TEXT NOT NULL,
    network TEXT NOT NULL,
    mapping TEXT NOT NULL,
    PRIMARY KEY(protocol, host_port, host_ip)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ports_by_container ON ports(container);
";

/// The migrations after version 1, in order: `MIGRATIONS[i]` makes version
/// `i + 2`. Endpoints recorded before version 2 have no name and no slot.
const MIGRATIONS: &[&str] = &["
ALTER TABLE endpoints ADD COLUMN name TEXT;
ALTER TABLE endpoints ADD COLUMN slot INTEGER;
ALTER TABLE endpoints ADD COLUMN hosts_copy TEXT;
CREATE UNIQUE INDEX endpoints_by_name ON endpoints(network, name) WHERE name IS NOT NULL;
CREATE INDEX endpoints_with_hosts_copy ON endpoints(network) WHERE hosts_copy IS NOT NULL;
CREATE TABLE name_slots(
    network TEXT NOT NULL,
    word INTEGER NOT NULL,
    bits INTEGER NOT NULL,
    PRIMARY KEY(network, word)
) WITHOUT ROWID;
"];

/// The WAL size past which a commit empties it into the database: each
/// berth process reads the whole WAL when it opens the store, and each
/// checkpoint costs an fsync.
const WAL_CHECKPOINT_BYTES: u64 = 256 * 1024;

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// A row of `endpoints`.
#[derive(Debug, Clone)]
pub struct EndpointRow {
    pub container: String,
    pub network: String,
    pub offset: u32,
    pub owner: PathBuf,
    pub endpoint: Endpoint,
    /// The endpoint's slot in its network's hosts file (none before v2).
    pub slot: Option<u32>,
    /// The container's copy of the network's hosts file, which attaches and
    /// detaches on the network write too.
    pub hosts_copy: Option<PathBuf>,
}

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::Store {
        path: path.to_owned(),
        source,
    }
}

fn json_err(e: serde_json::Error) -> Error {
    Error::StoreRecord(e)
}

impl Store {
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            what: format!("network state directory {}", dir.display()),
            source,
        })?;
        let path = dir.join("network.db");
        let conn = Connection::open(&path).map_err(db_err(&path))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(db_err(&path))?;
        // Every berth process is the store's only connection for a few
        // milliseconds, and the first connection to open the database
        // rebuilds the WAL index by reading the whole WAL (SQLite empties the
        // -shm file then). Checkpointing at each close (SQLite's default)
        // costs two fsyncs per command; SQLite's automatic checkpoint never
        // restarts the WAL when every process is a first connection, so the
        // WAL would grow for ever and every command would read all of it.
        // So: no checkpoint on close and none automatic; after a commit that
        // leaves the WAL over WAL_CHECKPOINT_BYTES, one TRUNCATE checkpoint
        // empties it (see `Store::write_with`).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .map_err(db_err(&path))?;
        let version: i32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db_err(&path))?;
        if version != SCHEMA_VERSION {
            // Two berth processes opening a fresh database at once would both
            // hold a shared lock and ask for the exclusive one that turning
            // WAL on needs: SQLite answers SQLITE_BUSY at once, without the
            // busy handler (waiting could deadlock). One initialiser at a
            // time, and the version is read again under the lock.
            let _init = init_lock(dir)?;
            let version: i32 = conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(db_err(&path))?;
            if version > SCHEMA_VERSION {
                return Err(Error::Corrupt {
                    path: path.clone(),
                    reason: format!(
                        "schema version {version} is a newer berth's (this one knows {SCHEMA_VERSION})"
                    ),
                });
            }
            if version != SCHEMA_VERSION {
                if version == 0 {
                    // WAL is a property of the file: set once, with the schema.
                    conn.execute_batch("PRAGMA journal_mode=WAL;")
                        .map_err(db_err(&path))?;
                }
                conn.execute_batch(&migration_sql(version))
                    .map_err(db_err(&path))?;
            }
        }
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF; PRAGMA wal_autocheckpoint=0;",
        )
        .map_err(db_err(&path))?;
        Ok(Store { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one write transaction: committed if it returns Ok.
    pub fn write<T>(&mut self, f: impl FnOnce(&Tx) -> Result<T>) -> Result<T> {
        self.write_with(f)
    }

    /// [`Store::write`] for callers with their own error type: an `Err`
    /// rolls the transaction back.
    pub fn write_with<T, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err(&path))?;
        let value = f(&Tx {
            tx: &tx,
            path: &path,
        })?;
        tx.commit().map_err(db_err(&path))?;
        self.checkpoint_if_long();
        Ok(value)
    }

    /// Empties the WAL into the database when it has grown past
    /// [`WAL_CHECKPOINT_BYTES`]. The transaction is already committed: a
    /// checkpoint that cannot run now (another process is reading) is left
    /// to a later commit.
    fn checkpoint_if_long(&self) {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let long = std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_CHECKPOINT_BYTES);
        if !long {
            return;
        }
        let r = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        match r {
            Ok(0) => {}
            Ok(_) => tracing::debug!("network state: WAL checkpoint deferred: the store is busy"),
            Err(e) => tracing::warn!("network state {}: WAL checkpoint: {e}", self.path.display()),
        }
    }

    /// Runs `f` on a consistent snapshot.
    pub fn read<T>(&mut self, f: impl FnOnce(&Tx) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(db_err(&path))?;
        f(&Tx {
            tx: &tx,
            path: &path,
        })
    }
}

/// The transaction that takes a database of `version` (0: new) to
/// [`SCHEMA_VERSION`].
fn migration_sql(version: i32) -> String {
    let mut sql = String::from("BEGIN IMMEDIATE;");
    if version == 0 {
        sql.push_str(SCHEMA);
    }
    for migration in &MIGRATIONS[(version.max(1) - 1) as usize..] {
        sql.push_str(migration);
    }
    sql + &format!("PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
}

/// An exclusive flock on `DIR/network.db.init`, held while the database's
/// schema is made.
fn init_lock(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let path = dir.join("network.db.init");
    crate::host::lock_file(&path).map_err(|source| Error::Io {
        what: format!("network state {}", path.display()),
        source,
    })
}

/// The tables that are bitmaps of 64-bit words per network.
#[derive(Clone, Copy)]
enum Bitmap {
    /// Addresses in use (offsets in the subnet).
    Ipam,
    /// Hosts file slots in use.
    Slots,
}

impl Bitmap {
    fn name(self) -> &'static str {
        match self {
            Bitmap::Ipam => "ipam",
            Bitmap::Slots => "name_slots",
        }
    }
}

/// The operations, all inside a transaction.
pub struct Tx<'a> {
    tx: &'a Transaction<'a>,
    path: &'a Path,
}

impl Tx<'_> {
    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        db_err(self.path)
    }

    // ---- networks ----

    pub fn network(&self, name: &str) -> Result<Option<NetworkDef>> {
        let def: Option<String> = self
            .tx
            .query_row("SELECT def FROM networks WHERE name=?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.err())?;
        def.map(|d| serde_json::from_str(&d).map_err(json_err))
            .transpose()
    }

    pub fn networks(&self) -> Result<Vec<NetworkDef>> {
        let mut stmt = self
            .tx
            .prepare("SELECT def FROM networks ORDER BY name")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.err())?;
        rows.map(|r| {
            r.map_err(self.err())
                .and_then(|d| serde_json::from_str(&d).map_err(json_err))
        })
        .collect()
    }

    pub fn network_by_bridge(&self, bridge: &str) -> Result<Option<String>> {
        self.tx
            .query_row("SELECT name FROM networks WHERE bridge=?1", [bridge], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.err())
    }

    /// The smallest index no network uses.
    pub fn free_index(&self) -> Result<u32> {
        let mut stmt = self
            .tx
            .prepare("SELECT idx FROM networks ORDER BY idx")
            .map_err(self.err())?;
        let used = stmt
            .query_map([], |r| r.get::<_, u32>(0))
            .map_err(self.err())?;
        let mut next = 0;
        for idx in used {
            let idx = idx.map_err(self.err())?;
            if idx != next {
                break;
            }
            next += 1;
        }
        Ok(next)
    }

    /// Records a new network, its bitmap with the reserved offsets set.
    pub fn insert_network(&self, def: &NetworkDef, boot_id: &str) -> Result<()> {
        let json = serde_json::to_string(def).map_err(json_err)?;
        self.tx
            .execute(
                "INSERT INTO networks(name, idx, bridge, def, boot_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![def.name, def.index, def.bridge, json, boot_id],
            )
            .map_err(self.err())?;
        let size = def.subnet.size();
        for offset in ipam::reserved_offsets(def.subnet, def.gateway) {
            self.set_bit(&def.name, offset, true)?;
        }
        // Bits past the end of a subnet smaller than a word.
        if size < ipam::WORD_BITS {
            for offset in size..ipam::WORD_BITS {
                self.set_bit(&def.name, offset, true)?;
            }
        }
        Ok(())
    }

    pub fn delete_network(&self, name: &str) -> Result<()> {
        for sql in [
            "DELETE FROM ports WHERE network=?1",
            "DELETE FROM endpoints WHERE network=?1",
            "DELETE FROM ipam WHERE network=?1",
            "DELETE FROM name_slots WHERE network=?1",
            "DELETE FROM networks WHERE name=?1",
        ] {
            self.tx.execute(sql, [name]).map_err(self.err())?;
        }
        Ok(())
    }

    /// The boot id recorded when the network's host objects were last made.
    pub fn boot_id(&self, name: &str) -> Result<String> {
        self.tx
            .query_row("SELECT boot_id FROM networks WHERE name=?1", [name], |r| {
                r.get(0)
            })
            .map_err(self.err())
    }

    pub fn set_boot_id(&self, name: &str, boot_id: &str) -> Result<()> {
        self.tx
            .execute(
                "UPDATE networks SET boot_id=?2 WHERE name=?1",
                params![name, boot_id],
            )
            .map_err(self.err())?;
        Ok(())
    }

    // ---- IPAM ----

    fn word(&self, network: &str, word: u32) -> Result<u64> {
        self.bitmap_word(Bitmap::Ipam, network, word)
    }

    fn set_word(&self, network: &str, word: u32, bits: u64) -> Result<()> {
        self.set_bitmap_word(Bitmap::Ipam, network, word, bits)
    }

    /// A word of one of the bitmaps (a missing row is all clear).
    fn bitmap_word(&self, table: Bitmap, network: &str, word: u32) -> Result<u64> {
        let bits: Option<i64> = self
            .tx
            .query_row(
                &format!(
                    "SELECT bits FROM {} WHERE network=?1 AND word=?2",
                    table.name()
                ),
                params![network, word],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        Ok(bits.unwrap_or(0) as u64)
    }

    /// Writes a word of one of the bitmaps; an all-clear word is no row.
    fn set_bitmap_word(&self, table: Bitmap, network: &str, word: u32, bits: u64) -> Result<()> {
        let table = table.name();
        if bits == 0 {
            self.tx
                .execute(
                    &format!("DELETE FROM {table} WHERE network=?1 AND word=?2"),
                    params![network, word],
                )
                .map_err(self.err())?;
        } else {
            self.tx
                .execute(
                    &format!(
                        "INSERT INTO {table}(network, word, bits) VALUES (?1, ?2, ?3)
                         ON CONFLICT(network, word) DO UPDATE SET bits=excluded.bits"
                    ),
                    params![network, word, bits as i64],
                )
                .map_err(self.err())?;
        }
        Ok(())
    }

    fn set_bit(&self, network: &str, offset: u32, on: bool) -> Result<()> {
        let (word, mask) = ipam::locate(offset);
        let bits = self.word(network, word)?;
        self.set_word(network, word, if on { bits | mask } else { bits & !mask })
    }

    /// Takes `offset` if it is free; false if it is taken or reserved.
    pub fn take_offset(&self, network: &str, offset: u32) -> Result<bool> {
        let (word, mask) = ipam::locate(offset);
        let bits = self.word(network, word)?;
        if bits & mask != 0 {
            return Ok(false);
        }
        self.set_word(network, word, bits | mask)?;
        Ok(true)
    }

    /// Takes the first free offset from the next-free hint on, wrapping
    /// around once; None when the subnet is full.
    pub fn allocate(&self, def: &NetworkDef) -> Result<Option<u32>> {
        let words = ipam::words(def.subnet);
        let size = def.subnet.size();
        let hint: u32 = self
            .tx
            .query_row(
                "SELECT hint FROM networks WHERE name=?1",
                [&def.name],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        for i in 0..words {
            let word = (hint % words + i) % words;
            let bits = self.word(&def.name, word)?;
            if let Some(offset) = ipam::first_free(word, bits, size) {
                let (_, mask) = ipam::locate(offset);
                self.set_word(&def.name, word, bits | mask)?;
                self.tx
                    .execute(
                        "UPDATE networks SET hint=?2 WHERE name=?1",
                        params![def.name, word],
                    )
                    .map_err(self.err())?;
                return Ok(Some(offset));
            }
        }
        Ok(None)
    }

    pub fn release_offset(&self, network: &str, offset: u32) -> Result<()> {
        self.set_bit(network, offset, false)
    }

    /// Number of set bits (allocations plus the reserved ones).
    pub fn allocated_bits(&self, network: &str) -> Result<u32> {
        let mut stmt = self
            .tx
            .prepare("SELECT bits FROM ipam WHERE network=?1")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([network], |r| r.get::<_, i64>(0))
            .map_err(self.err())?;
        let mut n = 0;
        for bits in rows {
            n += (bits.map_err(self.err())? as u64).count_ones();
        }
        Ok(n)
    }

    // ---- endpoints ----

    pub fn insert_endpoint(&self, row: &EndpointRow) -> Result<()> {
        let json = serde_json::to_string(&row.endpoint).map_err(json_err)?;
        self.tx
            .execute(
                "INSERT INTO endpoints(container, network, offset, owner, endpoint, name, slot, hosts_copy)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    row.container,
                    row.network,
                    row.offset,
                    row.owner.to_string_lossy(),
                    json,
                    Some(&row.endpoint.name).filter(|n| !n.is_empty()),
                    row.slot,
                    row.hosts_copy.as_ref().map(|p| p.to_string_lossy()),
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    fn endpoint_rows(&self, sql: &str, key: &str) -> Result<Vec<EndpointRow>> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(self.err())?;
        let rows = stmt
            .query_map([key], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<u32>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(self.err())?;
        rows.map(|r| {
            let (container, network, offset, owner, endpoint, slot, hosts_copy) =
                r.map_err(self.err())?;
            Ok(EndpointRow {
                container,
                network,
                offset,
                owner: owner.into(),
                endpoint: serde_json::from_str(&endpoint).map_err(json_err)?,
                slot,
                hosts_copy: hosts_copy.map(PathBuf::from),
            })
        })
        .collect()
    }

    pub fn endpoints_of(&self, container: &str) -> Result<Vec<EndpointRow>> {
        self.endpoint_rows(
            "SELECT container, network, offset, owner, endpoint, slot, hosts_copy FROM endpoints WHERE container=?1",
            container,
        )
    }

    pub fn endpoints_on(&self, network: &str) -> Result<Vec<EndpointRow>> {
        self.endpoint_rows(
            "SELECT container, network, offset, owner, endpoint, slot, hosts_copy FROM endpoints WHERE network=?1 ORDER BY offset",
            network,
        )
    }

    pub fn endpoint_count(&self, network: &str) -> Result<u32> {
        self.tx
            .query_row(
                "SELECT COUNT(*) FROM endpoints WHERE network=?1",
                [network],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// The container whose endpoint on `network` is named `name`, if any
    /// (an index lookup).
    pub fn endpoint_named(&self, network: &str, name: &str) -> Result<Option<String>> {
        self.tx
            .query_row(
                "SELECT container FROM endpoints WHERE network=?1 AND name=?2",
                params![network, name],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    /// The containers' copies of `network`'s hosts file (an index lookup:
    /// only the endpoints that have one).
    pub fn hosts_copies_on(&self, network: &str) -> Result<Vec<PathBuf>> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT hosts_copy FROM endpoints WHERE network=?1 AND hosts_copy IS NOT NULL",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([network], |r| r.get::<_, String>(0))
            .map_err(self.err())?;
        rows.map(|r| r.map(PathBuf::from).map_err(self.err()))
            .collect()
    }

    /// Takes the lowest free slot of `network`'s hosts file: the file stays
    /// as long as the most endpoints the network had at once. Reads one
    /// bitmap word per 64 slots in use.
    pub fn take_slot(&self, network: &str) -> Result<u32> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT word, bits FROM name_slots WHERE network=?1 ORDER BY word")
            .map_err(self.err())?;
        let words = stmt
            .query_map([network], |r| {
                Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(self.err())?;
        let mut word = 0;
        let mut bits = 0u64;
        for w in words {
            let (w, b) = w.map_err(self.err())?;
            if w != word {
                break; // a missing word: all free
            }
            if b as u64 != u64::MAX {
                bits = b as u64;
                break;
            }
            word += 1;
        }
        let bit = (!bits).trailing_zeros();
        self.set_bitmap_word(Bitmap::Slots, network, word, bits | (1 << bit))?;
        Ok(word * ipam::WORD_BITS + bit)
    }

    pub fn release_slot(&self, network: &str, slot: u32) -> Result<()> {
        let (word, mask) = ipam::locate(slot);
        let bits = self.bitmap_word(Bitmap::Slots, network, word)?;
        self.set_bitmap_word(Bitmap::Slots, network, word, bits & !mask)
    }

    pub fn delete_container(&self, container: &str) -> Result<()> {
        for row in self.endpoints_of(container)? {
            self.release_offset(&row.network, row.offset)?;
            if let Some(slot) = row.slot {
                self.release_slot(&row.network, slot)?;
            }
        }
        for sql in [
            "DELETE FROM endpoints WHERE container=?1",
            "DELETE FROM ports WHERE container=?1",
        ] {
            self.tx.execute(sql, [container]).map_err(self.err())?;
        }
        Ok(())
    }

    /// Releases `container`'s endpoint on `network`: its address, its row
    /// and the host ports it published on that network. Returns the row.
    pub fn delete_endpoint(&self, container: &str, network: &str) -> Result<Option<EndpointRow>> {
        let Some(row) = self
            .endpoints_of(container)?
            .into_iter()
            .find(|r| r.network == network)
        else {
            return Ok(None);
        };
        self.release_offset(network, row.offset)?;
        if let Some(slot) = row.slot {
            self.release_slot(network, slot)?;
        }
        for sql in [
            "DELETE FROM endpoints WHERE container=?1 AND network=?2",
            "DELETE FROM ports WHERE container=?1 AND network=?2",
        ] {
            self.tx
                .execute(sql, params![container, network])
                .map_err(self.err())?;
        }
        Ok(Some(row))
    }

    /// Rewrites the recorded endpoint of `container` on `ep.network`.
    pub fn update_endpoint(&self, container: &str, ep: &Endpoint) -> Result<()> {
        let json = serde_json::to_string(ep).map_err(json_err)?;
        self.tx
            .execute(
                "UPDATE endpoints SET endpoint=?3 WHERE container=?1 AND network=?2",
                params![container, ep.network, json],
            )
            .map_err(self.err())?;
        Ok(())
    }

    // ---- ports ----

    /// The container holding a host port that conflicts with `m`, if any:
    /// the same protocol and port, on the same address or where either side
    /// is "every address". An index lookup, not a scan.
    pub fn port_holder(&self, m: &PortMapping) -> Result<Option<String>> {
        let ip = m.host_ip.map(|i| i.to_string()).unwrap_or_default();
        self.tx
            .query_row(
                "SELECT container FROM ports WHERE protocol=?1 AND host_port=?2
                 AND (host_ip=?3 OR host_ip='' OR ?3='') LIMIT 1",
                params![m.protocol.name(), m.host_port, ip],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    pub fn insert_port(&self, container: &str, network: &str, m: &PortMapping) -> Result<()> {
        let ip = m.host_ip.map(|i| i.to_string()).unwrap_or_default();
        let json = serde_json::to_string(m).map_err(json_err)?;
        self.tx
            .execute(
                "INSERT INTO ports(protocol, host_port, host_ip, container, network, mapping) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![m.protocol.name(), m.host_port, ip, container, network, json],
            )
            .map_err(self.err())?;
        Ok(())
    }

    pub fn ports_of(&self, container: &str) -> Result<Vec<(String, PortMapping)>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT network, mapping FROM ports WHERE container=?1")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([container], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(self.err())?;
        rows.map(|r| {
            let (network, mapping) = r.map_err(self.err())?;
            Ok((network, serde_json::from_str(&mapping).map_err(json_err)?))
        })
        .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Protocol;

    pub(crate) fn def(name: &str, subnet: &str) -> NetworkDef {
        crate::model::test_network(name, subnet)
    }

    pub(crate) fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "berth-store-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn allocation_fills_and_releases() {
        let dir = tempdir();
        let mut store = Store::open(&dir).unwrap();
        let d = def("n", "10.213.0.0/29");
        store.write(|tx| tx.insert_network(&d, "b")).unwrap();
        let got: Vec<u32> = store
            .write(|tx| {
                let mut v = Vec::new();
                while let Some(o) = tx.allocate(&d)? {
                    v.push(o);
                }
                Ok(v)
            })
            .unwrap();
        assert_eq!(got, vec![2, 3, 4, 5, 6]);
        store.write(|tx| tx.release_offset("n", 4)).unwrap();
        assert_eq!(store.write(|tx| tx.allocate(&d)).unwrap(), Some(4));
        assert!(!store.write(|tx| tx.take_offset("n", 1)).unwrap());
        assert_eq!(store.read(|tx| tx.allocated_bits("n")).unwrap(), 64);
        store.write(|tx| tx.delete_network("n")).unwrap();
        assert_eq!(store.read(|tx| tx.allocated_bits("n")).unwrap(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn port_conflicts_by_lookup() {
        let dir = tempdir();
        let mut store = Store::open(&dir).unwrap();
        let any = PortMapping {
            host_ip: None,
            host_port: 8080,
            container_port: 80,
            protocol: Protocol::Tcp,
        };
        let local = PortMapping {
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: 9090,
            ..any
        };
        store
            .write(|tx| {
                tx.insert_port("c1", "n", &any)?;
                tx.insert_port("c1", "n", &local)
            })
            .unwrap();
        store
            .read(|tx| {
                assert_eq!(tx.port_holder(&any)?.as_deref(), Some("c1"));
                let udp = PortMapping {
                    protocol: Protocol::Udp,
                    ..any
                };
                assert_eq!(tx.port_holder(&udp)?, None);
                let other_ip = PortMapping {
                    host_ip: Some("10.213.0.1".parse().unwrap()),
                    ..local
                };
                assert_eq!(tx.port_holder(&other_ip)?, None);
                let any_9090 = PortMapping {
                    host_ip: None,
                    ..local
                };
                assert_eq!(tx.port_holder(&any_9090)?.as_deref(), Some("c1"));
                assert_eq!(tx.ports_of("c1")?.len(), 2);
                Ok(())
            })
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn slots_are_the_lowest_free() {
        let dir = tempdir();
        let mut store = Store::open(&dir).unwrap();
        let taken: Vec<u32> = store
            .write(|tx| (0..130).map(|_| tx.take_slot("n")).collect())
            .unwrap();
        assert_eq!(taken, (0..130).collect::<Vec<_>>());
        store
            .write(|tx| {
                tx.release_slot("n", 5)?;
                tx.release_slot("n", 70)
            })
            .unwrap();
        assert_eq!(store.write(|tx| tx.take_slot("n")).unwrap(), 5);
        assert_eq!(store.write(|tx| tx.take_slot("n")).unwrap(), 70);
        assert_eq!(store.write(|tx| tx.take_slot("n")).unwrap(), 130);
        assert_eq!(store.write(|tx| tx.take_slot("other")).unwrap(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A store made by a berth of schema version 1, with an endpoint of a
    /// running container, opens as version 2 with that endpoint unnamed.
    #[test]
    fn a_version_1_store_is_migrated() {
        let dir = tempdir();
        std::fs::create_dir_all(&dir).unwrap();
        let ep = crate::model::test_endpoint(2, "", &[], false);
        // The JSON as version 1 wrote it: without name and aliases.
        let mut json = serde_json::to_value(&ep).unwrap();
        json.as_object_mut().unwrap().remove("name");
        json.as_object_mut().unwrap().remove("aliases");
        {
            let conn = Connection::open(dir.join("network.db")).unwrap();
            conn.execute_batch(&format!(
                "PRAGMA journal_mode=WAL; BEGIN; {SCHEMA} PRAGMA user_version=1; COMMIT;"
            ))
            .unwrap();
            conn.execute(
                "INSERT INTO endpoints(container, network, offset, owner, endpoint) VALUES ('c1', 'n', 2, '/run/x/c1', ?1)",
                [json.to_string()],
            )
            .unwrap();
        }
        let mut store = Store::open(&dir).unwrap();
        let rows = store.read(|tx| tx.endpoints_of("c1")).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].slot, None);
        assert_eq!(rows[0].endpoint, ep);
        let version: i32 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        // Names are unique per network from now on.
        let row = |c: &str, slot| EndpointRow {
            container: c.into(),
            network: "n".into(),
            offset: 3,
            owner: "/run/x".into(),
            endpoint: Endpoint {
                name: "db".into(),
                ..ep.clone()
            },
            slot: Some(slot),
            hosts_copy: None,
        };
        store.write(|tx| tx.insert_endpoint(&row("c2", 0))).unwrap();
        assert!(store.write(|tx| tx.insert_endpoint(&row("c3", 1))).is_err());
        assert_eq!(
            store
                .read(|tx| tx.endpoint_named("n", "db"))
                .unwrap()
                .as_deref(),
            Some("c2")
        );
        drop(store);
        // A newer berth's store is refused, not misread.
        Connection::open(dir.join("network.db"))
            .unwrap()
            .execute_batch("PRAGMA user_version=99;")
            .unwrap();
        assert!(Store::open(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wal_stays_bounded_across_connections() {
        // Each berth process opens the store, commits and closes: the WAL
        // must not grow with the number of processes that ever did.
        let dir = tempdir();
        let d = def("n", "10.213.0.0/24");
        Store::open(&dir)
            .unwrap()
            .write(|tx| tx.insert_network(&d, "b"))
            .unwrap();
        let wal = dir.join("network.db-wal");
        for i in 0..400u32 {
            let mut store = Store::open(&dir).unwrap();
            let offset = store.write(|tx| tx.allocate(&d)).unwrap().unwrap();
            store.write(|tx| tx.release_offset("n", offset)).unwrap();
            drop(store);
            let len = std::fs::metadata(&wal).map_or(0, |m| m.len());
            // One commit past the limit at most (a few pages of 4 KiB).
            assert!(
                len <= WAL_CHECKPOINT_BYTES + 64 * 1024,
                "after {i} connections the WAL is {len} bytes"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
