//! The host's own listening sockets, so that a published port never hides
//! one: berth's DNAT takes a port before any socket sees the packet, and a
//! host daemon (sshd on 22) would silently stop being reachable.
//!
//! [`Listeners::dump`] asks the kernel through `NETLINK_SOCK_DIAG` (one
//! `SOCK_DIAG_BY_FAMILY` dump per family and protocol asked for, on one
//! socket): listening TCP sockets and bound, unconnected UDP sockets of the
//! caller's network namespace. The create path makes one such dump, however
//! many ports it publishes, and only when it publishes any. Naming the
//! process that holds a socket (a scan of `/proc/*/fd`) happens only on the
//! error path.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr};

use crate::model::{PortMapping, Protocol};
use crate::netlink::wire::{align4, NLMSG_HDRLEN};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sock_diag: {op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("sock_diag: malformed reply: {0}")]
    Malformed(&'static str),
}

/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `TCP_LISTEN` and `TCP_CLOSE` (the state of a bound, unconnected UDP socket).
const TCP_LISTEN: u32 = 10;
const TCP_CLOSE: u32 = 7;
/// `INET_DIAG_SKV6ONLY` (linux/inet_diag.h): an IPv6 socket's IPV6_V6ONLY.
const INET_DIAG_SKV6ONLY: u16 = 11;
/// `struct inet_diag_req_v2`.
const REQ_LEN: usize = 56;
/// `struct inet_diag_msg`.
const MSG_LEN: usize = 72;

/// One socket that takes packets for a local address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub protocol: Protocol,
    /// The bound address; unspecified for a wildcard socket.
    pub addr: IpAddr,
    pub port: u16,
    /// An IPv6 socket that takes no IPv4 traffic (IPV6_V6ONLY).
    pub v6only: bool,
    /// The socket's inode, to find its process.
    pub inode: u32,
}

impl Listener {
    /// Whether a packet for `m`'s host side would have reached this socket
    /// had berth not DNATed it.
    pub fn hidden_by(&self, m: &PortMapping) -> bool {
        if self.protocol != m.protocol || self.port != m.host_port {
            return false;
        }
        // Every host address, 127.0.0.1 included (the output chain).
        let Some(want) = m.host_ip else {
            return true;
        };
        match (want, self.addr) {
            (IpAddr::V4(w), IpAddr::V4(a)) => w.is_unspecified() || a.is_unspecified() || w == a,
            (IpAddr::V4(w), IpAddr::V6(a)) => {
                // A dual-stack IPv6 socket takes IPv4 as ::ffff:a.b.c.d.
                !self.v6only
                    && (a.is_unspecified() || w.is_unspecified() || a.to_ipv4_mapped() == Some(w))
            }
            (IpAddr::V6(w), IpAddr::V6(a)) => w.is_unspecified() || a.is_unspecified() || w == a,
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }

    /// `0.0.0.0:22/tcp`, `[::1]:53/udp`.
    pub fn address(&self) -> String {
        match self.addr {
            IpAddr::V6(a) => format!("[{a}]:{}/{}", self.port, self.protocol.name()),
            IpAddr::V4(a) => format!("{a}:{}/{}", self.port, self.protocol.name()),
        }
    }

    /// What holds the socket: `sshd (pid 812)`, or `None` when no process
    /// of this pid namespace has it open (or /proc cannot be read).
    pub fn process(&self) -> Option<String> {
        let target = format!("socket:[{}]", self.inode);
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
                continue;
            };
            let holds = fds.flatten().any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|link| link.as_os_str() == &*target)
            });
            if holds {
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                return Some(format!("{} (pid {pid})", comm.trim()));
            }
        }
        None
    }
}

/// The listening sockets of the protocols asked for.
#[derive(Debug, Default)]
pub struct Listeners(pub Vec<Listener>);

impl Listeners {
    /// Dumps the listening sockets of `protocols` (IPv4 and IPv6 each).
    pub fn dump(protocols: &[Protocol]) -> Result<Listeners, Error> {
        let mut out = Vec::new();
        if protocols.is_empty() {
            return Ok(Listeners(out));
        }
        let sock = Socket::new(NETLINK_SOCK_DIAG).map_err(|source| Error::Io {
            op: "socket(NETLINK_SOCK_DIAG)",
            source,
        })?;
        let mut buf = vec![0u8; 32 * 1024];
        for (seq, (protocol, family)) in protocols
            .iter()
            .flat_map(|p| [(*p, libc::AF_INET as u8), (*p, libc::AF_INET6 as u8)])
            .enumerate()
        {
            let seq = seq as u32 + 1;
            sock.send_to(&request(protocol, family, seq), &SocketAddr::new(0, 0), 0)
                .map_err(|source| Error::Io {
                    op: "send SOCK_DIAG_BY_FAMILY",
                    source,
                })?;
            'dump: loop {
                let n = loop {
                    match sock.recv_from(&mut &mut buf[..], 0) {
                        Ok((n, _)) => break n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(source) => {
                            return Err(Error::Io {
                                op: "recv SOCK_DIAG_BY_FAMILY",
                                source,
                            })
                        }
                    }
                };
                let mut rest = &buf[..n.min(buf.len())];
                while rest.len() >= NLMSG_HDRLEN {
                    let len = u32_at(rest, 0) as usize;
                    let kind = u16::from_ne_bytes([rest[4], rest[5]]);
                    if len < NLMSG_HDRLEN || len > rest.len() {
                        return Err(Error::Malformed("message length"));
                    }
                    let body = &rest[NLMSG_HDRLEN..len];
                    match kind as i32 {
                        libc::NLMSG_DONE => break 'dump,
                        libc::NLMSG_ERROR => {
                            let errno = body
                                .get(..4)
                                .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                                .ok_or(Error::Malformed("error message"))?;
                            // A kernel without UDP diag (CONFIG_INET_UDP_DIAG
                            // off) has no UDP sockets to show.
                            if errno == -libc::ENOENT && protocol == Protocol::Udp {
                                break 'dump;
                            }
                            return Err(Error::Io {
                                op: "SOCK_DIAG_BY_FAMILY dump",
                                source: std::io::Error::from_raw_os_error(-errno),
                            });
                        }
                        _ if kind == SOCK_DIAG_BY_FAMILY => {
                            out.push(parse(protocol, body)?);
                        }
                        _ => {}
                    }
                    rest = rest.get(align4(len)..).unwrap_or(&[]);
                }
            }
        }
        Ok(Listeners(out))
    }

    /// The first socket that `m` would hide.
    pub fn hidden_by(&self, m: &PortMapping) -> Option<&Listener> {
        self.0.iter().find(|l| l.hidden_by(m))
    }
}

/// An `nlmsghdr` with an `inet_diag_req_v2` for every socket of `family`
/// and `protocol` in the states that take new packets.
fn request(protocol: Protocol, family: u8, seq: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(NLMSG_HDRLEN + REQ_LEN);
    b.extend_from_slice(&((NLMSG_HDRLEN + REQ_LEN) as u32).to_ne_bytes());
    b.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    let (proto, state) = match protocol {
        Protocol::Tcp => (libc::IPPROTO_TCP as u8, TCP_LISTEN),
        Protocol::Udp => (libc::IPPROTO_UDP as u8, TCP_CLOSE),
    };
    b.extend_from_slice(&[family, proto, 0, 0]);
    b.extend_from_slice(&(1u32 << state).to_ne_bytes());
    // The socket id: all zero, no filter.
    b.resize(NLMSG_HDRLEN + REQ_LEN, 0);
    b
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// An `inet_diag_msg` and its attributes.
fn parse(protocol: Protocol, body: &[u8]) -> Result<Listener, Error> {
    if body.len() < MSG_LEN {
        return Err(Error::Malformed("inet_diag_msg"));
    }
    let port = u16::from_be_bytes([body[4], body[5]]);
    let src = &body[8..24];
    let addr = if body[0] as i32 == libc::AF_INET6 {
        let mut a = [0u8; 16];
        a.copy_from_slice(src);
        IpAddr::V6(Ipv6Addr::from(a))
    } else {
        IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3]))
    };
    let inode = u32_at(body, 68);
    let mut v6only = false;
    let mut attrs = &body[MSG_LEN..];
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]);
        if len < 4 || len > attrs.len() {
            return Err(Error::Malformed("attribute length"));
        }
        if kind == INET_DIAG_SKV6ONLY && len > 4 {
            v6only = attrs[4] != 0;
        }
        attrs = attrs.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(Listener {
        protocol,
        addr,
        port,
        v6only,
        inode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(addr: &str, v6only: bool) -> Listener {
        Listener {
            protocol: Protocol::Tcp,
            addr: addr.parse().unwrap(),
            port: 22,
            v6only,
            inode: 1,
        }
    }

    fn m(host_ip: Option<&str>) -> PortMapping {
        PortMapping {
            host_ip: host_ip.map(|s| s.parse().unwrap()),
            host_port: 22,
            container_port: 80,
            protocol: Protocol::Tcp,
        }
    }

    #[test]
    fn which_publish_hides_which_listener() {
        // Every address: any listener of the port.
        assert!(l("127.0.0.1", false).hidden_by(&m(None)));
        assert!(l("::1", true).hidden_by(&m(None)));
        // One address: that one or the wildcard.
        assert!(l("0.0.0.0", false).hidden_by(&m(Some("10.213.0.1"))));
        assert!(l("10.213.0.1", false).hidden_by(&m(Some("10.213.0.1"))));
        assert!(!l("10.213.0.2", false).hidden_by(&m(Some("10.213.0.1"))));
        assert!(l("10.213.0.2", false).hidden_by(&m(Some("0.0.0.0"))));
        // Dual-stack IPv6 sockets take IPv4; V6ONLY ones do not.
        assert!(l("::", false).hidden_by(&m(Some("127.0.0.1"))));
        assert!(!l("::", true).hidden_by(&m(Some("127.0.0.1"))));
        assert!(l("::ffff:127.0.0.1", false).hidden_by(&m(Some("127.0.0.1"))));
        assert!(l("::", true).hidden_by(&m(Some("fd00:213::1"))));
        assert!(!l("0.0.0.0", false).hidden_by(&m(Some("fd00:213::1"))));
        // Another port or protocol: never.
        let mut other = m(None);
        other.host_port = 23;
        assert!(!l("0.0.0.0", false).hidden_by(&other));
        other = m(None);
        other.protocol = Protocol::Udp;
        assert!(!l("0.0.0.0", false).hidden_by(&other));
    }

    #[test]
    fn dump_finds_a_listener_of_this_process() {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let tport = tcp.local_addr().unwrap().port();
        let uport = udp.local_addr().unwrap().port();
        let all = Listeners::dump(&[Protocol::Tcp, Protocol::Udp]).unwrap();
        let t = all
            .0
            .iter()
            .find(|l| l.protocol == Protocol::Tcp && l.port == tport)
            .expect("the TCP listener");
        assert_eq!(t.addr, "127.0.0.1".parse::<IpAddr>().unwrap());
        let u = all
            .0
            .iter()
            .find(|l| l.protocol == Protocol::Udp && l.port == uport)
            .expect("the UDP socket");
        assert_eq!(u.addr, "::1".parse::<IpAddr>().unwrap());
        let me = format!("(pid {})", std::process::id());
        assert!(
            t.process().is_some_and(|p| p.ends_with(&me)),
            "{:?}",
            t.process()
        );
    }
}
