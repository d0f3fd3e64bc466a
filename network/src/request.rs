//! What a container asks for, as text: `--network NAME[:ip=A.B.C.D,mac=M,ifname=eth0]`,
//! `--publish [[hostIP:][hostPort[-range]]:]containerPort[-range][/tcp|udp]`, and
//! the same through the `berth.network` / `berth.publish` annotations.
//! Parsing only: nothing here looks at the host or the store.

use crate::model::{PortMapping, Protocol};
use crate::{Error, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One `--network` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRequest {
    pub name: String,
    pub ip: Option<Ipv4Addr>,
    pub mac: Option<[u8; 6]>,
    pub ifname: Option<String>,
}

/// One `--publish` entry: a host port range mapped onto a container port range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRequest {
    pub host_ip: Option<IpAddr>,
    /// Inclusive host port range; `None` (`-p 80`, `-p HOSTIP::80`): free
    /// host ports of the kernel's ephemeral range are chosen, as docker does.
    pub host_ports: Option<(u16, u16)>,
    /// Inclusive container port range: the same length as `host_ports`, or
    /// a single port, in which case one free host port of the range is used.
    pub container_ports: (u16, u16),
    pub protocol: Protocol,
}

impl PublishRequest {
    /// The mappings when host and container ranges pair up one to one;
    /// `None` when host ports are to be chosen (from the host range, or
    /// from the kernel's ephemeral range when no host port was given).
    pub fn pairwise(&self) -> Option<Vec<PortMapping>> {
        let (h0, h1) = self.host_ports?;
        let (c0, c1) = self.container_ports;
        if h1 - h0 != c1 - c0 {
            return None;
        }
        Some(
            (0..=(h1 - h0))
                .map(|i| PortMapping {
                    host_ip: self.host_ip,
                    host_port: h0 + i,
                    container_port: c0 + i,
                    protocol: self.protocol,
                })
                .collect(),
        )
    }
}

/// Splits an annotation value into entries: a comma starts a new entry unless
/// the text after it is a `key=value` option of the previous one.
pub fn split_network_annotation(value: &str) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let is_option = match (token.find('='), token.find(':')) {
            (Some(eq), Some(colon)) => eq < colon,
            (Some(_), None) => true,
            _ => false,
        };
        match entries.last_mut() {
            Some(last) if is_option => {
                last.push(',');
                last.push_str(token);
            }
            _ => entries.push(token.to_string()),
        }
    }
    entries
}

pub fn parse_network(text: &str) -> Result<NetworkRequest> {
    let bad = |why: &str| Error::Invalid(format!("--network {text:?}: {why}"));
    let (name, options) = match text.split_once(':') {
        Some((n, o)) => (n, Some(o)),
        None => (text, None),
    };
    if !valid_network_name(name) {
        return Err(bad(
            "a network name is 1-64 characters of [A-Za-z0-9_.-], starting with a letter or digit",
        ));
    }
    let mut req = NetworkRequest {
        name: name.to_string(),
        ip: None,
        mac: None,
        ifname: None,
    };
    for option in options.into_iter().flat_map(|o| o.split(',')) {
        let (key, value) = option
            .split_once('=')
            .ok_or_else(|| bad(&format!("option {option:?} is not key=value")))?;
        match key {
            "ip" => {
                req.ip = Some(
                    value
                        .parse()
                        .map_err(|_| bad(&format!("ip {value:?} is not an IPv4 address")))?,
                )
            }
            "mac" => req.mac = Some(parse_mac(value).map_err(|e| bad(&e))?),
            "ifname" => {
                if !valid_ifname(value) {
                    return Err(bad(&format!(
                        "ifname {value:?}: 1-15 bytes, no '/', ':' or whitespace"
                    )));
                }
                req.ifname = Some(value.to_string())
            }
            _ => {
                return Err(bad(&format!(
                    "unknown option {key:?} (known: ip, mac, ifname)"
                )))
            }
        }
    }
    Ok(req)
}

/// `berth network connect NAME [--ip ADDR]`.
pub fn connect_request(name: &str, ip: Option<&str>) -> Result<NetworkRequest> {
    if !valid_network_name(name) {
        return Err(Error::Invalid(format!(
            "network name {name:?}: 1-64 characters of [A-Za-z0-9_.-], starting with a letter or digit"
        )));
    }
    let ip = ip
        .map(|ip| {
            ip.parse::<Ipv4Addr>()
                .map_err(|_| Error::Invalid(format!("--ip {ip:?} is not an IPv4 address")))
        })
        .transpose()?;
    Ok(NetworkRequest {
        name: name.to_string(),
        ip,
        mac: None,
        ifname: None,
    })
}

pub fn parse_publish(text: &str) -> Result<PublishRequest> {
    let bad = |why: &str| Error::Invalid(format!("--publish {text:?}: {why}"));
    let (spec, protocol) = match text.rsplit_once('/') {
        Some((s, "tcp")) => (s, Protocol::Tcp),
        Some((s, "udp")) => (s, Protocol::Udp),
        Some((_, p)) => return Err(bad(&format!("protocol {p:?} is not tcp or udp"))),
        None => (text, Protocol::Tcp),
    };
    const FORMS: &str = "expected [[hostIP:][hostPort[-range]]:]containerPort[-range][/tcp|udp]";
    // hostIP, possibly a bracketed IPv6, then the host ports (empty: chosen)
    // and the container ports.
    let (host_ip, host, container) = if let Some(stripped) = spec.strip_prefix('[') {
        let (ip, rest) = stripped
            .split_once("]:")
            .ok_or_else(|| bad("a bracketed IPv6 host address is written [ADDR]:[PORT]:PORT"))?;
        let (host, container) = rest.split_once(':').ok_or_else(|| bad(FORMS))?;
        (Some(ip), host, container)
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts[..] {
            [container] => (None, "", container),
            [host, container] => (None, host, container),
            [ip, host, container] => (Some(ip), host, container),
            _ => return Err(bad(FORMS)),
        }
    };
    let host_ip = host_ip
        .map(|ip| {
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| bad(&format!("{ip:?} is not an IP address")))?;
            check_host_ip(ip).map_err(|e| bad(&e))?;
            Ok::<_, Error>(ip)
        })
        .transpose()?;
    let host_ports = match host {
        "" => None,
        host => Some(parse_port_range(host).map_err(|e| bad(&e))?),
    };
    let container_ports = parse_port_range(container).map_err(|e| bad(&e))?;
    let container_len = container_ports.1 - container_ports.0;
    if let Some((h0, h1)) = host_ports {
        if container_len != 0 && container_len != h1 - h0 {
            return Err(bad(
                "the host and container port ranges must have the same length",
            ));
        }
    }
    Ok(PublishRequest {
        host_ip: host_ip.filter(|ip| !ip.is_unspecified()),
        host_ports,
        container_ports,
        protocol,
    })
}

/// Refuses a host address a port cannot be published on: IPv6 loopback.
/// IPv4's 127.0.0.1 works because the bridges have `route_localnet`; IPv6
/// has no such switch, and the kernel drops a packet for `::1` that comes
/// in on any device but `lo`: the container's answers, turned back into
/// replies to `::1` by the NAT, arrive from the bridge and are dropped
/// (its SYN-ACK never reaches the socket).
pub fn check_host_ip(ip: IpAddr) -> std::result::Result<(), String> {
    if ip == IpAddr::V6(Ipv6Addr::LOCALHOST) {
        return Err(
            "ports cannot be published on ::1: Linux drops packets for ::1 that arrive from \
             any device but lo (IPv6 has no route_localnet), so the container's replies would \
             never reach the client; publish on 127.0.0.1, on every address, or on another \
             host address"
                .into(),
        );
    }
    Ok(())
}

fn parse_port_range(text: &str) -> std::result::Result<(u16, u16), String> {
    let port = |p: &str| match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{p:?} is not a port number (1-65535)")),
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if a > b {
                return Err(format!("port range {text:?} is reversed"));
            }
            Ok((a, b))
        }
        None => {
            let p = port(text)?;
            Ok((p, p))
        }
    }
}

pub fn parse_mac(text: &str) -> std::result::Result<[u8; 6], String> {
    let parts: Vec<&str> = text.split(':').collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return Err(format!("mac {text:?} is not six ':'-separated hex bytes"));
    }
    for (byte, part) in mac.iter_mut().zip(&parts) {
        if part.len() != 2 {
            return Err(format!("mac {text:?} is not six ':'-separated hex bytes"));
        }
        *byte = u8::from_str_radix(part, 16)
            .map_err(|_| format!("mac {text:?} is not six ':'-separated hex bytes"))?;
    }
    if mac[0] & 1 == 1 {
        return Err(format!("mac {text:?} is a multicast address"));
    }
    if mac == [0; 6] {
        return Err(format!("mac {text:?} is all zeros"));
    }
    Ok(mac)
}

pub fn valid_network_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_entries() {
        let r = parse_network("front:ip=10.213.0.5,mac=02:00:00:00:00:01,ifname=eth1").unwrap();
        assert_eq!(r.name, "front");
        assert_eq!(r.ip, Some(Ipv4Addr::new(10, 213, 0, 5)));
        assert_eq!(r.mac, Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(r.ifname.as_deref(), Some("eth1"));
        assert_eq!(parse_network("back").unwrap().ip, None);
        for bad in [
            "",
            "a b",
            "x:ip=300.1.1.1",
            "x:mac=01:00:00:00:00:01",
            "x:mac=zz",
            "x:color=red",
            "x:ifname=waytoolonginterface",
            "x:ip",
        ] {
            assert!(parse_network(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn connect_requests() {
        let r = connect_request("web", Some("10.213.30.7")).unwrap();
        assert_eq!(
            (r.name.as_str(), r.ip, r.mac, r.ifname),
            ("web", Some(Ipv4Addr::new(10, 213, 30, 7)), None, None)
        );
        assert_eq!(connect_request("web", None).unwrap().ip, None);
        for (name, ip) in [
            ("", None),
            ("-x", None),
            ("a:ip=10.213.30.7", None),
            ("web", Some("fd00:213:30::7")),
            ("web", Some("10.213.30")),
        ] {
            assert!(connect_request(name, ip).is_err(), "{name} {ip:?} accepted");
        }
    }

    #[test]
    fn annotation_split() {
        assert_eq!(
            split_network_annotation("a:ip=10.213.0.9,mac=02:42:0a:d5:00:09, b ,c:ifname=e2"),
            vec!["a:ip=10.213.0.9,mac=02:42:0a:d5:00:09", "b", "c:ifname=e2"]
        );
        assert!(split_network_annotation(" , ").is_empty());
    }

    #[test]
    fn publish_specs() {
        let p = parse_publish("8080:80").unwrap();
        assert_eq!(
            (p.host_ip, p.host_ports, p.container_ports),
            (None, Some((8080, 8080)), (80, 80))
        );
        assert_eq!(p.protocol, Protocol::Tcp);
        let p = parse_publish("127.0.0.1:5000-5002:6000-6002/udp").unwrap();
        assert_eq!(p.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(p.protocol, Protocol::Udp);
        let m = p.pairwise().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!((m[2].host_port, m[2].container_port), (5002, 6002));
        let p = parse_publish("[fd00:213::1]:8080:80").unwrap();
        assert_eq!(p.host_ip, Some("fd00:213::1".parse().unwrap()));
        let p = parse_publish("0.0.0.0:9000-9009:80").unwrap();
        assert_eq!(p.host_ip, None);
        assert!(p.pairwise().is_none());
        for bad in [
            "0:80",
            "70000:80",
            "1:2:3:4",
            "x:80:80",
            "90-80:80",
            "8000-8001:80-82",
            "80:80/sctp",
            "[::1:80:80",
            "[fd00:213::1]:80",
            "1.2.3.4:80",
            "::80",
            "80:",
            "/udp",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn publish_without_a_host_port() {
        for (text, host_ip, container_ports, protocol) in [
            ("80", None, (80, 80), Protocol::Tcp),
            ("53/udp", None, (53, 53), Protocol::Udp),
            (":80", None, (80, 80), Protocol::Tcp),
            ("8000-8002", None, (8000, 8002), Protocol::Tcp),
            ("127.0.0.1::80", Some("127.0.0.1"), (80, 80), Protocol::Tcp),
            ("0.0.0.0::80", None, (80, 80), Protocol::Tcp),
            (
                "[fd00:213::1]::80/udp",
                Some("fd00:213::1"),
                (80, 80),
                Protocol::Udp,
            ),
        ] {
            let p = parse_publish(text).unwrap();
            let host_ip: Option<IpAddr> = host_ip.map(|ip| ip.parse().unwrap());
            assert_eq!(
                (p.host_ip, p.host_ports, p.container_ports, p.protocol),
                (host_ip, None, container_ports, protocol),
                "{text}"
            );
            assert!(p.pairwise().is_none(), "{text}");
        }
    }

    #[test]
    fn publish_on_ipv6_loopback_is_refused_with_the_reason() {
        for text in ["[::1]:8080:80", "[::1]::80", "[::1]:8080-8081:80-81/udp"] {
            let e = parse_publish(text).unwrap_err().to_string();
            assert!(
                e.contains("::1") && e.contains("route_localnet"),
                "{text}: {e}"
            );
        }
        // 127.0.0.1 and other IPv6 addresses are fine.
        parse_publish("127.0.0.1::80").unwrap();
        parse_publish("[fd00:213::1]:8080:80").unwrap();
    }
}
