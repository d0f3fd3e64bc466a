//! Address management: subnet arithmetic and the allocation bitmap.
//!
//! A network's IPv4 subnet is a bitmap of host offsets kept in the store as
//! 64-bit words (only the words that are not all zero are stored). The
//! network address, the gateway and the broadcast address are reserved by
//! setting their bits when the network is made. An allocation starts at the
//! word after the previous one (the next-free hint) and takes the first clear
//! bit, so a run of allocations costs O(1) each; a release clears one bit.
//! A container's IPv6 address, when the network has an IPv6 subnet, is the
//! same host offset within it, so it needs no bitmap of its own.

use crate::model::{Ipv4Net, Ipv6Net};
use crate::{Error, Result};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The smallest subnet that leaves room for a container: network, gateway,
/// one host, broadcast.
pub const MAX_PREFIX4: u8 = 30;
/// The largest subnet berth manages (65,536 addresses, a 8 KiB bitmap).
pub const MIN_PREFIX4: u8 = 16;

pub const WORD_BITS: u32 = 64;

impl Ipv4Net {
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::Invalid(format!("subnet {text:?}: {why}"));
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| bad("expected A.B.C.D/PREFIX"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = match prefix.parse() {
            Ok(p) if p <= 32 => p,
            _ => return Err(bad("the prefix length is 0-32")),
        };
        let net = Ipv4Net { addr, prefix };
        if net.network() != addr {
            return Err(bad(&format!(
                "host bits are set (the network is {}/{prefix})",
                net.network()
            )));
        }
        Ok(net)
    }

    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// Number of addresses, network and broadcast included.
    pub fn size(self) -> u32 {
        1u32.checked_shl(32 - self.prefix as u32).unwrap_or(0)
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    pub fn overlaps(self, other: Ipv4Net) -> bool {
        let prefix = self.prefix.min(other.prefix);
        let a = Ipv4Net {
            addr: self.addr,
            prefix,
        };
        let b = Ipv4Net {
            addr: other.addr,
            prefix,
        };
        a.network() == b.network()
    }

    /// The address at host offset `offset`.
    pub fn nth(self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) + offset)
    }

    /// The host offset of `ip`, if it is in the subnet.
    pub fn offset_of(self, ip: Ipv4Addr) -> Option<u32> {
        self.contains(ip)
            .then(|| u32::from(ip) - u32::from(self.network()))
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Ipv6Net {
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::Invalid(format!("IPv6 subnet {text:?}: {why}"));
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| bad("expected ADDR/PREFIX"))?;
        let addr: Ipv6Addr = addr.parse().map_err(|_| bad("not an IPv6 address"))?;
        let prefix: u8 = match prefix.parse() {
            Ok(p) if p <= 128 => p,
            _ => return Err(bad("the prefix length is 0-128")),
        };
        let net = Ipv6Net { addr, prefix };
        if net.network() != addr {
            return Err(bad(&format!(
                "host bits are set (the network is {}/{prefix})",
                net.network()
            )));
        }
        Ok(net)
    }

    fn mask(self) -> u128 {
        if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - self.prefix)
        }
    }

    pub fn network(self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) & self.mask())
    }

    pub fn contains(self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & self.mask() == u128::from(self.network())
    }

    pub fn overlaps(self, other: Ipv6Net) -> bool {
        let prefix = self.prefix.min(other.prefix);
        let a = Ipv6Net {
            addr: self.addr,
            prefix,
        };
        let b = Ipv6Net {
            addr: other.addr,
            prefix,
        };
        a.network() == b.network()
    }

    pub fn nth(self, offset: u32) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.network()) + offset as u128)
    }

    /// Whether every host offset of `v4` has a place in this subnet.
    pub fn holds_offsets_of(self, v4: Ipv4Net) -> bool {
        (128 - self.prefix as u32) >= (32 - v4.prefix as u32)
    }
}

impl std::fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Checks that a subnet is one berth can allocate from.
pub fn check_subnet_size(net: Ipv4Net) -> Result<()> {
    if net.prefix > MAX_PREFIX4 {
        return Err(Error::Invalid(format!(
            "subnet {net} is too small: it needs room for the network, gateway, broadcast and a container (/{MAX_PREFIX4} at most)"
        )));
    }
    if net.prefix < MIN_PREFIX4 {
        return Err(Error::Invalid(format!(
            "subnet {net} is too large: berth manages subnets of /{MIN_PREFIX4} to /{MAX_PREFIX4}"
        )));
    }
    Ok(())
}

/// Offsets that are never handed out: network, gateway, broadcast.
pub fn reserved_offsets(net: Ipv4Net, gateway: Ipv4Addr) -> [u32; 3] {
    [0, net.offset_of(gateway).unwrap_or(0), net.size() - 1]
}

/// Number of bitmap words for a subnet.
pub fn words(net: Ipv4Net) -> u32 {
    net.size().div_ceil(WORD_BITS)
}

/// (word index, bit mask) of a host offset.
pub fn locate(offset: u32) -> (u32, u64) {
    (offset / WORD_BITS, 1u64 << (offset % WORD_BITS))
}

/// The first clear bit of `bits` that is a valid offset (< `size`).
pub fn first_free(word: u32, bits: u64, size: u32) -> Option<u32> {
    let free = !bits;
    if free == 0 {
        return None;
    }
    let offset = word * WORD_BITS + free.trailing_zeros();
    (offset < size).then_some(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_arithmetic() {
        let n = Ipv4Net::parse("10.213.4.0/22").unwrap();
        assert_eq!(n.size(), 1024);
        assert!(n.contains("10.213.7.255".parse().unwrap()));
        assert!(!n.contains("10.213.8.0".parse().unwrap()));
        assert_eq!(n.nth(257), "10.213.5.1".parse::<Ipv4Addr>().unwrap());
        assert_eq!(n.offset_of("10.213.5.1".parse().unwrap()), Some(257));
        assert!(n.overlaps(Ipv4Net::parse("10.213.6.0/24").unwrap()));
        assert!(n.overlaps(Ipv4Net::parse("10.0.0.0/8").unwrap()));
        assert!(!n.overlaps(Ipv4Net::parse("10.213.8.0/24").unwrap()));
        assert!(Ipv4Net::parse("10.213.4.1/22").is_err());
        assert!(Ipv4Net::parse("10.213.4.0/33").is_err());
        assert!(Ipv4Net::parse("10.213.4.0").is_err());
        assert!(check_subnet_size(Ipv4Net::parse("10.213.4.0/31").unwrap()).is_err());
        assert!(check_subnet_size(Ipv4Net::parse("10.0.0.0/8").unwrap()).is_err());
        assert!(check_subnet_size(n).is_ok());
        assert_eq!(words(n), 16);
        assert_eq!(words(Ipv4Net::parse("10.213.0.0/30").unwrap()), 1);
    }

    #[test]
    fn v6_arithmetic() {
        let n = Ipv6Net::parse("fd00:213:0:1::/64").unwrap();
        assert_eq!(n.nth(5), "fd00:213:0:1::5".parse::<Ipv6Addr>().unwrap());
        assert!(n.contains("fd00:213:0:1::ffff".parse().unwrap()));
        assert!(n.overlaps(Ipv6Net::parse("fd00:213::/48").unwrap()));
        assert!(!n.overlaps(Ipv6Net::parse("fd00:213:0:2::/64").unwrap()));
        assert!(n.holds_offsets_of(Ipv4Net::parse("10.213.0.0/16").unwrap()));
        assert!(!Ipv6Net::parse("fd00:213::/120")
            .unwrap()
            .holds_offsets_of(Ipv4Net::parse("10.213.0.0/22").unwrap()));
        assert!(Ipv6Net::parse("fd00:213::1/64").is_err());
    }

    #[test]
    fn bitmap_words() {
        assert_eq!(locate(0), (0, 1));
        assert_eq!(locate(65), (1, 2));
        assert_eq!(first_free(0, 0b0111, 64), Some(3));
        assert_eq!(first_free(1, u64::MAX, 128), None);
        assert_eq!(first_free(0, 0b1111, 4), None);
        let n = Ipv4Net::parse("10.213.0.0/24").unwrap();
        assert_eq!(
            reserved_offsets(n, "10.213.0.1".parse().unwrap()),
            [0, 1, 255]
        );
    }
}
