//! Facts about the host read from /proc: its routes (so a new network does
//! not overlap them) and its boot id (so host objects lost in a reboot are
//! made again on first use).

use crate::model::{Ipv4Net, Ipv6Net};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// The host's IPv4 routes other than the default route, as (device, subnet).
pub fn ipv4_routes() -> Vec<(String, Ipv4Net)> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    parse_ipv4_routes(&text)
}

fn parse_ipv4_routes(text: &str) -> Vec<(String, Ipv4Net)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The kernel prints the network-order word as a host integer.
            let addr = Ipv4Addr::from(dest.to_le_bytes());
            let prefix = mask.count_ones() as u8;
            (prefix > 0).then(|| (f[0].to_string(), Ipv4Net { addr, prefix }))
        })
        .collect()
}

/// The host's IPv6 routes other than the default, link-local and multicast ones.
pub fn ipv6_routes() -> Vec<(String, Ipv6Net)> {
    let text = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    parse_ipv6_routes(&text)
}

fn parse_ipv6_routes(text: &str) -> Vec<(String, Ipv6Net)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let addr = Ipv6Addr::from(u128::from_str_radix(f.first()?, 16).ok()?);
            let prefix = u8::from_str_radix(f.get(1)?, 16).ok()?;
            let dev = f.get(9)?.to_string();
            let seg0 = addr.segments()[0];
            let skip = prefix == 0 || (seg0 & 0xffc0) == 0xfe80 || (seg0 & 0xff00) == 0xff00;
            (!skip).then_some((dev, Ipv6Net { addr, prefix }))
        })
        .collect()
}

/// Where the kernel's ephemeral port range is (IPv6 uses the IPv4 value).
pub const EPHEMERAL_PORTS: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), where
/// host ports published without a number are taken from, as docker does.
pub fn ephemeral_ports() -> crate::Result<(u16, u16)> {
    let text = std::fs::read_to_string(EPHEMERAL_PORTS).map_err(|source| crate::Error::Sysctl {
        path: EPHEMERAL_PORTS.into(),
        source,
    })?;
    parse_port_range(&text).ok_or_else(|| crate::Error::Corrupt {
        path: EPHEMERAL_PORTS.into(),
        reason: format!("expected two ports, low then high, found {:?}", text.trim()),
    })
}

fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let mut words = text.split_whitespace().map(str::parse::<u16>);
    match (words.next(), words.next(), words.next()) {
        (Some(Ok(lo)), Some(Ok(hi)), None) if 0 < lo && lo <= hi => Some((lo, hi)),
        _ => None,
    }
}

/// This boot's id.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// An exclusive `flock` on `path` (created, with its directory, if
/// missing), held until the returned value drops: how berth processes
/// serialise changes to shared host state.
pub fn lock_file(path: &Path) -> std::io::Result<Flock<File>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| std::io::Error::from_raw_os_error(errno as i32))
}

/// `N` random bytes from the kernel. Interrupted calls are retried; any
/// other failure (no getrandom, say) is an error, never a busy loop.
pub fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut buf = [0u8; N];
    let mut filled = 0;
    while filled < N {
        // SAFETY: the pointer and length describe the unfilled part of buf.
        let r = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), N - filled, 0) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        } else {
            filled += r as usize;
        }
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ephemeral_range() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some((32768, 60999)));
        for bad in ["", "32768", "60999 32768", "0 10", "1 2 3", "a b"] {
            assert_eq!(parse_port_range(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_proc_routes() {
        let v4 =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let routes = parse_ipv4_routes(v4);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].1, Ipv4Net::parse("192.0.2.0/24").unwrap());
        let v6 = "fd000213000000000000000000000000 30 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 br0\n\
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n";
        let routes = parse_ipv6_routes(v6);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].1, Ipv6Net::parse("fd00:213::/48").unwrap());
        assert_eq!(routes[0].0, "br0");
    }
}
