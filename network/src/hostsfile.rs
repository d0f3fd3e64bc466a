//! The hosts file of a berth network: `names/NETWORK.hosts` in the state
//! directory, bind-mounted read-only as `/etc/hosts` by every container of
//! the network, so that every container resolves every other by name with
//! plain libc.
//!
//! A header of [`HEADER_LINES`] lines (localhost and the IPv6 well-known
//! names), then one slot per endpoint: [`LINE`]-byte lines, space padded and
//! newline terminated, one for the IPv4 address and, on a network with
//! IPv6, one for the IPv6 address, each naming the endpoint's name, its
//! aliases and (on the container's first network) its hostname.
//!
//! A bind mount pins the inode: the file is never replaced, only written in
//! place, under an exclusive flock held by writers only. A line is written
//! while its first byte is `#` (a comment for any reader, whatever it sees
//! of the rest: the newline never moves) and then made live by writing its
//! first byte, a one-byte write that no reader can see half done; removing
//! a line writes `#` first. An attach or detach is then a few `pwrite`s at
//! the slot's offset, whatever the number of endpoints. Slots are the lowest
//! free (the store's `name_slots` bitmap), so the file stays as long as the
//! most endpoints the network had at once.
//!
//! `--add-host` entries belong to one container: such a container gets a
//! copy of the network's file with its entries in the header (`hosts` in
//! its state directory), registered in the store; every attach and detach
//! on the network writes the copies too, under the network file's lock.

use crate::model::{Endpoint, NetworkDef};
use crate::names::{invalid, AddHost, Error, HostAddress, MAX_ADD_HOSTS};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, Error>;

/// Bytes of one line of a hosts file, its newline included.
pub const LINE: usize = 128;
/// Lines of the header (4 KiB: slots never straddle a page).
pub const HEADER_LINES: usize = 32;
const HEADER: u64 = (LINE * HEADER_LINES) as u64;
/// The fixed lines of the header; the rest is for `--add-host` entries.
const FIXED_HEADER: &[&str] = &[
    "127.0.0.1 localhost",
    "::1 localhost ip6-localhost ip6-loopback",
    "fe00::0 ip6-localnet",
    "ff00::0 ip6-mcastprefix",
    "ff02::1 ip6-allnodes",
    "ff02::2 ip6-allrouters",
];
// The fixed lines, the comment naming the file and a container's
// `--add-host` entries fit the header.
const _: () = assert!(FIXED_HEADER.len() + 1 + MAX_ADD_HOSTS <= HEADER_LINES);

/// One line of a hosts file: `text`, space padded, newline terminated.
fn padded(text: &str) -> Option<[u8; LINE]> {
    if text.len() > LINE - 1 || text.contains('\n') {
        return None;
    }
    let mut line = [b' '; LINE];
    line[..text.len()].copy_from_slice(text.as_bytes());
    line[LINE - 1] = b'\n';
    Some(line)
}

/// A line no reader takes for an entry.
fn blank() -> [u8; LINE] {
    padded("#").expect("fits")
}

/// The lines of an endpoint's slot: its IPv4 address and, on a network with
/// IPv6, its IPv6 address, with its name, aliases and `hostname`.
pub fn endpoint_lines(ep: &Endpoint, hostname: Option<&str>) -> Result<Vec<[u8; LINE]>> {
    let mut names: Vec<&str> = Vec::new();
    for n in std::iter::once(ep.name.as_str())
        .chain(ep.aliases.iter().map(String::as_str))
        .chain(hostname)
    {
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    }
    let names = names.join(" ");
    let mut addresses = vec![IpAddr::V4(ep.ipv4)];
    addresses.extend(ep.ipv6.map(IpAddr::V6));
    addresses
        .into_iter()
        .map(|a| {
            let text = format!("{a} {names}");
            padded(&text).ok_or_else(|| Error::LineTooLong {
                network: ep.network.clone(),
                text,
                max: LINE - 1,
            })
        })
        .collect()
}

/// Lines per slot on a network: one per address family.
pub fn slot_lines(def: &NetworkDef) -> usize {
    1 + usize::from(def.subnet6.is_some())
}

/// The header of a hosts file: the fixed lines, a comment, then `extra`
/// (a copy's `--add-host` entries).
fn header(network: &str, extra: &[String]) -> Result<Vec<u8>> {
    let comment = format!("# berth network {network}: written in place by berth; do not edit");
    let mut out = Vec::with_capacity(HEADER as usize);
    for text in FIXED_HEADER
        .iter()
        .copied()
        .chain(std::iter::once(comment.as_str()))
        .chain(extra.iter().map(String::as_str))
    {
        let line = padded(text).ok_or_else(|| invalid("--add-host", text, "too long"))?;
        out.extend_from_slice(&line);
    }
    if out.len() > HEADER as usize {
        return Err(Error::TooManyHosts { count: extra.len() });
    }
    while out.len() < HEADER as usize {
        out.extend_from_slice(&blank());
    }
    Ok(out)
}

/// The `--add-host` entries as hosts lines, `host-gateway` being `gateway`.
pub fn add_host_lines(add_hosts: &[AddHost], gateway: Ipv4Addr) -> Vec<String> {
    add_hosts
        .iter()
        .map(|h| {
            let ip = match h.address {
                HostAddress::Ip(ip) => ip,
                HostAddress::HostGateway => IpAddr::V4(gateway),
            };
            format!("{ip} {}", h.name)
        })
        .collect()
}

/// The hosts file of `network` in the state directory `state_dir`.
pub fn hosts_path(state_dir: &Path, network: &str) -> PathBuf {
    state_dir.join("names").join(format!("{network}.hosts"))
}

/// A hosts file open for writing; for a network's own file, under its
/// exclusive flock (released on drop), which every writer of the network's
/// file and of its copies takes.
pub struct HostsFile {
    file: File,
    path: PathBuf,
    slot_lines: usize,
    _lock: Option<nix::fcntl::Flock<File>>,
}

impl HostsFile {
    fn err(&self, what: &'static str) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: self.path.clone(),
            what,
            source,
        }
    }

    /// Opens (making it with its header if needed) and locks `def`'s file.
    pub fn lock(state_dir: &Path, def: &NetworkDef) -> Result<Self> {
        let path = hosts_path(state_dir, &def.name);
        let io = |what| {
            let path = path.clone();
            move |source| Error::Io { path, what, source }
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io("mkdir"))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io("open"))?;
        let lock_fd = file.try_clone().map_err(io("dup"))?;
        let lock = nix::fcntl::Flock::lock(lock_fd, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| io("flock")(e.into()))?;
        let hosts = HostsFile {
            file,
            path,
            slot_lines: slot_lines(def),
            _lock: Some(lock),
        };
        if hosts.len()? == 0 {
            hosts
                .file
                .write_all_at(&header(&def.name, &[])?, 0)
                .map_err(hosts.err("write the header"))?;
        }
        Ok(hosts)
    }

    /// The file at `path` (a container's copy), to be written while the
    /// network's file is locked; `None` if it is gone (its container went
    /// away without berth).
    fn open_copy(path: &Path, slot_lines: usize) -> Result<Option<Self>> {
        match OpenOptions::new()
            .write(true)
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(file) => Ok(Some(HostsFile {
                file,
                path: path.to_owned(),
                slot_lines,
                _lock: None,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io {
                path: path.to_owned(),
                what: "open",
                source,
            }),
        }
    }

    fn len(&self) -> Result<u64> {
        Ok(self.file.metadata().map_err(self.err("stat"))?.len())
    }

    fn offset(&self, slot: u32, line: usize) -> u64 {
        HEADER + ((slot as usize * self.slot_lines + line) * LINE) as u64
    }

    /// Makes `slot`'s lines live with `lines` (at most the slot's lines).
    pub fn add(&self, slot: u32, lines: &[[u8; LINE]]) -> Result<()> {
        let end = self.offset(slot + 1, 0);
        let len = self.len()?;
        if len < end {
            // Blank lines up to the slot's end: readers see comments there.
            let from = len.max(HEADER);
            let blanks: Vec<u8> = (0..(end - from) / LINE as u64)
                .flat_map(|_| blank())
                .collect();
            self.file
                .write_all_at(&blanks, from)
                .map_err(self.err("extend"))?;
        }
        for (i, line) in lines.iter().take(self.slot_lines).enumerate() {
            let at = self.offset(slot, i);
            let w = |bytes: &[u8], at| self.file.write_all_at(bytes, at);
            w(b"#", at)
                .and_then(|()| w(&line[1..], at + 1))
                .and_then(|()| w(&line[..1], at))
                .map_err(self.err("write a line"))?;
        }
        Ok(())
    }

    /// Takes `slot`'s lines out: `#` first, then the rest blanked.
    pub fn remove(&self, slot: u32) -> Result<()> {
        if self.len()? < self.offset(slot + 1, 0) {
            return Ok(());
        }
        let line = blank();
        for i in 0..self.slot_lines {
            let at = self.offset(slot, i);
            self.file
                .write_all_at(b"#", at)
                .and_then(|()| self.file.write_all_at(&line[1..], at + 1))
                .map_err(self.err("blank a line"))?;
        }
        Ok(())
    }

    /// A copy of this file at `path` whose header holds `extra` lines.
    pub fn copy_to(&self, path: &Path, network: &str, extra: &[String]) -> Result<()> {
        let mut text = Vec::new();
        (&self.file)
            .read_to_end(&mut text)
            .map_err(self.err("read"))?;
        let header = header(network, extra)?;
        let body = text.get(HEADER as usize..).unwrap_or(&[]);
        let werr = |what| {
            move |source| Error::File {
                path: path.to_owned(),
                what,
                source,
            }
        };
        let copy = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path)
            .map_err(werr("create"))?;
        copy.write_all_at(&header, 0)
            .and_then(|()| copy.write_all_at(body, HEADER))
            .map_err(werr("write"))
    }
}

/// Writes `slot`'s lines into the network's file (locked) and into the
/// copies `copies` (those that still exist).
pub fn add_everywhere(
    file: &HostsFile,
    copies: &[PathBuf],
    slot: u32,
    lines: &[[u8; LINE]],
) -> Result<()> {
    file.add(slot, lines)?;
    for path in copies {
        if let Some(copy) = HostsFile::open_copy(path, file.slot_lines)? {
            copy.add(slot, lines)?;
        }
    }
    Ok(())
}

/// Takes `slot`'s lines out of the network's file (locked) and `copies`.
pub fn remove_everywhere(file: &HostsFile, copies: &[PathBuf], slot: u32) -> Result<()> {
    file.remove(slot)?;
    for path in copies {
        if let Some(copy) = HostsFile::open_copy(path, file.slot_lines)? {
            copy.remove(slot)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Ipv6Net;
    use crate::names::parse_add_host;
    use std::os::unix::fs::MetadataExt;

    fn def(v6: bool) -> NetworkDef {
        NetworkDef {
            subnet6: v6.then(|| Ipv6Net::parse("fd00:213:20::/64").unwrap()),
            ..crate::model::test_network("n", "10.213.20.0/24")
        }
    }

    fn endpoint(host: u8, name: &str, aliases: &[&str], v6: bool) -> Endpoint {
        crate::model::test_endpoint(host, name, aliases, v6)
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-names-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// What glibc reads: (address, names) of the non-comment lines.
    fn entries(text: &str) -> Vec<(String, Vec<String>)> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let mut w = l.split_whitespace().map(str::to_owned);
                (w.next().unwrap(), w.collect())
            })
            .collect()
    }

    #[test]
    fn lines_are_fixed_width_and_name_everything_once() {
        let ep = endpoint(5, "db", &["data", "db"], true);
        let lines = endpoint_lines(&ep, Some("dbhost")).unwrap();
        assert_eq!(lines.len(), 2);
        let text = std::str::from_utf8(&lines[0]).unwrap();
        assert_eq!(text.len(), LINE);
        assert!(text.ends_with(" \n"));
        assert_eq!(text.trim_end(), "10.213.20.5 db data dbhost");
        assert_eq!(
            std::str::from_utf8(&lines[1]).unwrap().trim_end(),
            "fd00:213:20::5 db data dbhost"
        );
        let long = endpoint(5, &"x".repeat(120), &[], false);
        assert!(matches!(
            endpoint_lines(&long, None),
            Err(Error::LineTooLong { .. })
        ));
    }

    #[test]
    fn slot_file_adds_and_removes_in_place() {
        let dir = tempdir("slots");
        let d = def(true);
        let file = HostsFile::lock(&dir, &d).unwrap();
        let path = hosts_path(&dir, "n");
        let ino = std::fs::metadata(&path).unwrap().ino();
        let a = endpoint(2, "a", &[], true);
        let b = endpoint(3, "b", &["bee"], true);
        file.add(0, &endpoint_lines(&a, Some("ahost")).unwrap())
            .unwrap();
        file.add(3, &endpoint_lines(&b, None).unwrap()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len() as u64, HEADER + 8 * LINE as u64);
        assert!(text.lines().all(|l| l.len() == LINE - 1));
        let e = entries(&text);
        assert_eq!(e[0], ("127.0.0.1".into(), vec!["localhost".into()]));
        let names: Vec<_> = e[FIXED_HEADER.len()..].to_vec();
        assert_eq!(
            names,
            vec![
                ("10.213.20.2".into(), vec!["a".into(), "ahost".into()]),
                ("fd00:213:20::2".into(), vec!["a".into(), "ahost".into()]),
                ("10.213.20.3".into(), vec!["b".into(), "bee".into()]),
                ("fd00:213:20::3".into(), vec!["b".into(), "bee".into()]),
            ]
        );
        file.remove(0).unwrap();
        // A removed slot that is past the end is nothing to do.
        file.remove(40).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let e = entries(&text);
        assert_eq!(e.len(), FIXED_HEADER.len() + 2);
        assert!(!text.contains("ahost"), "the removed line is blanked");
        // In place: the same inode (a bind mount of it sees the change).
        drop(file);
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn copies_follow_the_network_file_with_their_own_header() {
        let dir = tempdir("copies");
        let d = def(false);
        let file = HostsFile::lock(&dir, &d).unwrap();
        let a = endpoint(2, "a", &[], false);
        add_everywhere(&file, &[], 0, &endpoint_lines(&a, None).unwrap()).unwrap();
        let copy = dir.join("copy");
        let extra = add_host_lines(
            &[
                parse_add_host("db.local:10.213.20.77").unwrap(),
                parse_add_host("gw:host-gateway").unwrap(),
            ],
            d.gateway,
        );
        file.copy_to(&copy, "n", &extra).unwrap();
        let gone = dir.join("gone").join("hosts");
        let b = endpoint(3, "b", &[], false);
        add_everywhere(
            &file,
            &[copy.clone(), gone],
            1,
            &endpoint_lines(&b, None).unwrap(),
        )
        .unwrap();
        let text = std::fs::read_to_string(&copy).unwrap();
        let e = entries(&text);
        assert!(e.contains(&("10.213.20.77".into(), vec!["db.local".into()])));
        assert!(e.contains(&("10.213.20.1".into(), vec!["gw".into()])));
        assert!(e.contains(&("10.213.20.2".into(), vec!["a".into()])));
        assert!(e.contains(&("10.213.20.3".into(), vec!["b".into()])));
        remove_everywhere(&file, std::slice::from_ref(&copy), 0).unwrap();
        let e = entries(&std::fs::read_to_string(&copy).unwrap());
        assert!(!e.iter().any(|(_, n)| n == &["a"]));
        // The network's own file never has a copy's entries.
        let own = std::fs::read_to_string(hosts_path(&dir, "n")).unwrap();
        assert!(!own.contains("db.local"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// 1,000 endpoints come and go on one file: every attach is the same
    /// few writes at its slot, the file never holds a torn or foreign line.
    #[test]
    fn a_thousand_slots() {
        let dir = tempdir("thousand");
        let d = def(false);
        let file = HostsFile::lock(&dir, &d).unwrap();
        let start = std::time::Instant::now();
        for i in 0..1000u32 {
            let mut ep = endpoint(0, &format!("c{i}"), &[], false);
            ep.ipv4 = d.subnet.nth(i + 2);
            file.add(i, &endpoint_lines(&ep, None).unwrap()).unwrap();
        }
        let fill = start.elapsed();
        // Churn at the far end of a full file costs what it cost at first.
        let start = std::time::Instant::now();
        for i in (0..1000u32).step_by(10) {
            file.remove(i).unwrap();
            let mut ep = endpoint(0, &format!("again{i}"), &[], false);
            ep.ipv4 = d.subnet.nth(i + 2);
            file.add(i, &endpoint_lines(&ep, None).unwrap()).unwrap();
        }
        let churn = start.elapsed();
        eprintln!(
            "1000 attaches: {:?} ({:?} each); 100 detach+attach on a full file: {:?} each",
            fill,
            fill / 1000,
            churn / 100
        );
        let text = std::fs::read_to_string(hosts_path(&dir, "n")).unwrap();
        assert_eq!(text.len() as u64, HEADER + 1000 * LINE as u64);
        let e = entries(&text);
        assert_eq!(e.len(), FIXED_HEADER.len() + 1000);
        assert!(e.iter().any(|(_, n)| n == &["again990"]));
        assert!(!e.iter().any(|(_, n)| n == &["c990"]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Readers take no lock: while a writer churns slots, every line a
    /// reader sees is a comment or a whole entry, never a mix of two.
    #[test]
    fn readers_never_see_a_torn_line() {
        let dir = tempdir("torn");
        let d = def(false);
        let path = hosts_path(&dir, "n");
        drop(HostsFile::lock(&dir, &d).unwrap());
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (path, done) = (path.clone(), done.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for line in text.lines().skip(HEADER_LINES) {
                        assert_eq!(line.len(), LINE - 1, "{line:?}");
                        if line.starts_with('#') {
                            continue;
                        }
                        // 10.213.20.(slot+2) s(slot)-(generation), padded.
                        let mut w = line.split_whitespace();
                        let ip: Ipv4Addr = w.next().unwrap().parse().unwrap();
                        let name = w.next().unwrap();
                        let slot = name[1..].split('-').next().unwrap();
                        let slot: u8 = slot.parse().unwrap();
                        assert_eq!(ip.octets()[3], slot + 2, "{line:?}");
                        assert_eq!(w.next(), None, "{line:?}");
                    }
                    reads += 1;
                }
                reads
            })
        };
        let file = HostsFile::lock(&dir, &d).unwrap();
        for generation in 0..400u32 {
            for slot in 0..40u8 {
                let name = format!("s{slot}-{}", "g".repeat((generation % 90) as usize));
                let ep = endpoint(slot + 2, &name, &[], false);
                file.remove(slot.into()).unwrap();
                file.add(slot.into(), &endpoint_lines(&ep, None).unwrap())
                    .unwrap();
            }
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let reads = reader.join().unwrap();
        assert!(reads > 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
