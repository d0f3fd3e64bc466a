//! Resource usage of a container's cgroup, in runc's `events --stats`
//! shape (`types.Stats` of runc: field names and units are the same, v2
//! values converted to v1 meanings as runc does).

use super::{files, CgroupError, CgroupManager, Target};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    pub intel_rdt: IntelRdt,
    pub network_interfaces: Vec<NetworkInterface>,
}

#[derive(Debug, Default, Serialize)]
pub struct IntelRdt {}

#[derive(Debug, Default, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

#[derive(Debug, Default, Serialize)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Default, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct NetworkInterface {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// A number from a file; `max` (unlimited) is u64::MAX as in runc; a
/// missing file is 0.
fn num(dir: &Path, file: &str) -> Result<u64, CgroupError> {
    match files::read(dir, file) {
        Ok(s) => Ok(parse_num(s.trim())),
        Err(CgroupError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

fn parse_num(s: &str) -> u64 {
    if s == "max" {
        u64::MAX
    } else {
        s.parse().unwrap_or(0)
    }
}

/// A flat-keyed file as a map; missing file → empty.
fn keyed(dir: &Path, file: &str) -> Result<BTreeMap<String, u64>, CgroupError> {
    match files::read(dir, file) {
        Ok(s) => Ok(files::flat_keyed(&s)
            .map(|(k, v)| (k.to_owned(), parse_num(v.trim())))
            .collect()),
        Err(CgroupError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(BTreeMap::new())
        }
        Err(e) => Err(e),
    }
}

fn list(dir: &Path, file: &str) -> Result<Vec<u64>, CgroupError> {
    match files::read(dir, file) {
        Ok(s) => Ok(s.split_whitespace().map(parse_num).collect()),
        Err(CgroupError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

/// A cpu list such as `0-3,7` as the numbers it names.
pub fn parse_cpu_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(n) = part.parse() {
                    out.push(n);
                }
            }
        }
    }
    out
}

/// USER_HZ, the unit of cpuacct.stat.
const CLOCK_TICKS: u64 = 100;

impl CgroupManager {
    /// Every statistic the host's controllers offer. `pid` (init) is used
    /// for the network interfaces of the container's network namespace.
    pub fn stats(&self, pid: Option<i32>) -> Result<Stats, CgroupError> {
        let mut s = Stats::default();
        self.cpu_stats(&mut s)?;
        self.cpuset_stats(&mut s)?;
        self.memory_stats(&mut s)?;
        if let Some(t) = self.target("pids") {
            s.pids.current = num(t.dir(), "pids.current")?;
            let limit = num(t.dir(), "pids.max")?;
            s.pids.limit = if limit == u64::MAX { 0 } else { limit };
        }
        self.blkio_stats(&mut s)?;
        self.hugetlb_stats(&mut s)?;
        if let Some(pid) = pid {
            let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
            s.network_interfaces = parse_net_dev(&text);
        }
        Ok(s)
    }

    fn cpu_stats(&self, s: &mut Stats) -> Result<(), CgroupError> {
        if let Some(dir) = self.v1_dir("cpuacct") {
            s.cpu.usage.total = num(dir, "cpuacct.usage")?;
            s.cpu.usage.percpu = list(dir, "cpuacct.usage_percpu")?;
            s.cpu.usage.percpu_kernel = list(dir, "cpuacct.usage_percpu_sys")?;
            s.cpu.usage.percpu_user = list(dir, "cpuacct.usage_percpu_user")?;
            let stat = keyed(dir, "cpuacct.stat")?;
            let ns = |k: &str| stat.get(k).copied().unwrap_or(0) * (1_000_000_000 / CLOCK_TICKS);
            s.cpu.usage.user = ns("user");
            s.cpu.usage.kernel = ns("system");
        }
        match self.target("cpu") {
            Some(Target::V1(dir)) => {
                let stat = keyed(dir, "cpu.stat")?;
                let get = |k: &str| stat.get(k).copied().unwrap_or(0);
                s.cpu.throttling = Throttling {
                    periods: get("nr_periods"),
                    throttled_periods: get("nr_throttled"),
                    throttled_time: get("throttled_time"),
                };
            }
            _ => {
                // cpu.stat exists in every v2 cgroup, with or without the
                // cpu controller (then without the throttling keys).
                if let Some(d) = self
                    .v2
                    .as_ref()
                    .filter(|_| self.v1_dir("cpuacct").is_none())
                {
                    let stat = keyed(&d.dir, "cpu.stat")?;
                    let get = |k: &str| stat.get(k).copied().unwrap_or(0);
                    s.cpu.usage.total = get("usage_usec") * 1000;
                    s.cpu.usage.user = get("user_usec") * 1000;
                    s.cpu.usage.kernel = get("system_usec") * 1000;
                    s.cpu.throttling = Throttling {
                        periods: get("nr_periods"),
                        throttled_periods: get("nr_throttled"),
                        throttled_time: get("throttled_usec") * 1000,
                    };
                }
            }
        }
        Ok(())
    }

    fn cpuset_stats(&self, s: &mut Stats) -> Result<(), CgroupError> {
        match self.target("cpuset") {
            Some(Target::V1(dir)) => {
                let c = &mut s.cpuset;
                c.cpus = parse_cpu_list(&files::read(dir, "cpuset.cpus").unwrap_or_default());
                c.mems = parse_cpu_list(&files::read(dir, "cpuset.mems").unwrap_or_default());
                c.cpu_exclusive = num(dir, "cpuset.cpu_exclusive")?;
                c.mem_hardwall = num(dir, "cpuset.mem_hardwall")?;
                c.mem_exclusive = num(dir, "cpuset.mem_exclusive")?;
                c.memory_migrate = num(dir, "cpuset.memory_migrate")?;
                c.memory_spread_page = num(dir, "cpuset.memory_spread_page")?;
                c.memory_spread_slab = num(dir, "cpuset.memory_spread_slab")?;
                c.memory_pressure = num(dir, "cpuset.memory_pressure")?;
                c.sched_load_balance = num(dir, "cpuset.sched_load_balance")?;
                c.sched_relax_domain_level = files::read(dir, "cpuset.sched_relax_domain_level")
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
            }
            Some(Target::V2(dir)) => {
                let read = |f| files::read(dir, f).unwrap_or_default();
                s.cpuset.cpus = parse_cpu_list(&read("cpuset.cpus.effective"));
                s.cpuset.mems = parse_cpu_list(&read("cpuset.mems.effective"));
            }
            None => {}
        }
        Ok(())
    }

    fn memory_stats(&self, s: &mut Stats) -> Result<(), CgroupError> {
        let m = &mut s.memory;
        match self.target("memory") {
            Some(Target::V1(dir)) => {
                let entry = |prefix: &str| -> Result<MemoryEntry, CgroupError> {
                    Ok(MemoryEntry {
                        limit: num(dir, &format!("{prefix}limit_in_bytes"))?,
                        usage: num(dir, &format!("{prefix}usage_in_bytes"))?,
                        max: num(dir, &format!("{prefix}max_usage_in_bytes"))?,
                        failcnt: num(dir, &format!("{prefix}failcnt"))?,
                    })
                };
                m.usage = entry("memory.")?;
                m.swap = entry("memory.memsw.")?;
                m.kernel = entry("memory.kmem.")?;
                m.kernel_tcp = entry("memory.kmem.tcp.")?;
                m.raw = keyed(dir, "memory.stat")?;
                m.cache = m.raw.get("total_cache").copied().unwrap_or(0);
            }
            Some(Target::V2(dir)) => {
                let events = keyed(dir, "memory.events")?;
                m.usage = MemoryEntry {
                    limit: num(dir, "memory.max")?,
                    usage: num(dir, "memory.current")?,
                    max: num(dir, "memory.peak")?,
                    failcnt: events.get("max").copied().unwrap_or(0),
                };
                // v1 reports swap as memory+swap: so does runc on v2.
                let swap_limit = num(dir, "memory.swap.max")?;
                m.swap = MemoryEntry {
                    limit: if swap_limit == u64::MAX || m.usage.limit == u64::MAX {
                        u64::MAX
                    } else {
                        swap_limit + m.usage.limit
                    },
                    usage: num(dir, "memory.swap.current")? + m.usage.usage,
                    max: 0,
                    failcnt: keyed(dir, "memory.swap.events")?
                        .get("max")
                        .copied()
                        .unwrap_or(0),
                };
                m.raw = keyed(dir, "memory.stat")?;
                m.cache = m.raw.get("file").copied().unwrap_or(0);
            }
            None => {}
        }
        Ok(())
    }

    fn blkio_stats(&self, s: &mut Stats) -> Result<(), CgroupError> {
        let b = &mut s.blkio;
        if let Some(dir) = self.v1_dir("blkio") {
            b.io_service_bytes_recursive = parse_blkio_v1(&files::read(
                dir,
                "blkio.throttle.io_service_bytes_recursive",
            )?);
            b.io_serviced_recursive =
                parse_blkio_v1(&files::read(dir, "blkio.throttle.io_serviced_recursive")?);
        } else if let Some(Target::V2(dir)) = self.target("io") {
            let (bytes, ios) = parse_io_stat(&files::read(dir, "io.stat")?);
            b.io_service_bytes_recursive = bytes;
            b.io_serviced_recursive = ios;
        }
        Ok(())
    }

    fn hugetlb_stats(&self, s: &mut Stats) -> Result<(), CgroupError> {
        let Some(t) = self.target("hugetlb") else {
            return Ok(());
        };
        for size in hugepage_sizes() {
            let h = match t {
                Target::V1(dir) => Hugetlb {
                    usage: num(dir, &format!("hugetlb.{size}.usage_in_bytes"))?,
                    max: num(dir, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
                    failcnt: num(dir, &format!("hugetlb.{size}.failcnt"))?,
                },
                Target::V2(dir) => Hugetlb {
                    usage: num(dir, &format!("hugetlb.{size}.current"))?,
                    max: 0,
                    failcnt: keyed(dir, &format!("hugetlb.{size}.events"))?
                        .get("max")
                        .copied()
                        .unwrap_or(0),
                },
            };
            s.hugetlb.insert(size, h);
        }
        Ok(())
    }
}

/// The host's huge page sizes in the cgroup files' spelling (2MB, 1GB).
pub fn hugepage_sizes() -> Vec<String> {
    let mut out: Vec<(u64, String)> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some((kb, page_size_name(kb)))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, n)| n).collect()
}

pub fn page_size_name(kb: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    let mut v = kb;
    let mut u = 0;
    while v >= 1024 && v & 1023 == 0 && u < UNITS.len() - 1 {
        v /= 1024;
        u += 1;
    }
    format!("{v}{}", UNITS[u])
}

/// `8:0 Read 1234` lines (the `Total` line is left out, as runc).
pub fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, op, value) = (f.next()?, f.next()?, f.next()?);
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_owned(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// v2 `io.stat` (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...`) as v1's
/// service bytes and serviced entries (Read/Write), as runc converts it.
pub fn parse_io_stat(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let value = v.parse().unwrap_or(0);
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    (bytes, ios)
}

/// `/proc/PID/net/dev`, without the loopback device.
pub fn parse_net_dev(text: &str) -> Vec<NetworkInterface> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            if name == "lo" {
                return None;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            if v.len() < 12 {
                return None;
            }
            Some(NetworkInterface {
                name: name.to_owned(),
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(parse_cpu_list("0-2,5\n"), [0, 1, 2, 5]);
        assert_eq!(page_size_name(2048), "2MB");
        assert_eq!(page_size_name(1048576), "1GB");
        assert_eq!(page_size_name(64), "64KB");
        let v1 = parse_blkio_v1("8:0 Read 10\n8:0 Write 20\nTotal 30\n");
        assert_eq!(v1.len(), 2);
        assert_eq!(v1[1].op, "Write");
        let (b, i) = parse_io_stat("8:0 rbytes=5 wbytes=6 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(
            (b[0].value, b[1].value, i[0].value, i[1].value),
            (5, 6, 1, 2)
        );
        let net = parse_net_dev(
            "Inter-|   Receive\n face |bytes\n    lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n  eth0: 100 2 0 0 0 0 0 0 200 3 0 1 0 0 0 0\n",
        );
        assert_eq!(net.len(), 1);
        assert_eq!(
            (net[0].rx_bytes, net[0].tx_bytes, net[0].tx_dropped),
            (100, 200, 1)
        );
    }
}
