//! Replies: the framing of what the kernel sends back (messages, the
//! extended ack of an error) and what a reply says about a link, an address
//! or a route.

use std::net::IpAddr;

use netlink_packet_core::{NetlinkBuffer, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::RouteAddress;
use netlink_packet_route::RouteNetlinkMessage;

use super::wire::{
    align4, attributes, NLMSGERR_ATTR_MSG, NLMSG_HDRLEN, NLM_F_ACK_TLVS, NLM_F_CAPPED,
};
use super::{Error, Result};

/// A message the kernel sent in answer to a request: its type and the bytes
/// after the netlink header.
#[derive(Debug, Clone)]
pub struct Reply {
    pub message_type: u16,
    pub payload: Vec<u8>,
}

impl Reply {
    /// The interface index of an `RTM_NEWLINK` reply (`ifi_index`).
    pub fn link_index(&self) -> Option<u32> {
        let b = self.payload.get(4..8)?;
        Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn parse(&self) -> std::result::Result<RouteNetlinkMessage, String> {
        let mut bytes = Vec::with_capacity(NLMSG_HDRLEN + self.payload.len());
        bytes.extend_from_slice(&((NLMSG_HDRLEN + self.payload.len()) as u32).to_ne_bytes());
        bytes.extend_from_slice(&self.message_type.to_ne_bytes());
        bytes.extend_from_slice(&[0; 10]);
        bytes.extend_from_slice(&self.payload);
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes)
            .map_err(|e| e.to_string())?;
        match msg.payload {
            NetlinkPayload::InnerMessage(m) => Ok(m),
            other => Err(format!("unexpected payload {other:?}")),
        }
    }
}

/// What [`Netlink::link`](super::Netlink::link) tells about a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkDetails {
    pub index: u32,
    pub name: String,
    pub mac: Option<[u8; 6]>,
    pub mtu: u32,
    pub up: bool,
    pub master: Option<u32>,
    /// `IFLA_INFO_KIND` ("bridge", "veth", ...), if the device has one.
    pub kind: Option<String>,
}

/// One address as [`Netlink::addresses`](super::Netlink::addresses) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressDetails {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix: u8,
    /// Set by a user (`IFA_F_PERMANENT`), not made by the kernel (IPv6
    /// link-local, autoconfiguration).
    pub permanent: bool,
    /// Of global scope (`RT_SCOPE_UNIVERSE`): not host or link-local.
    pub global: bool,
}

/// One route as [`Netlink::routes`](super::Netlink::routes) reports it (main table only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDetails {
    /// `None` for a default route.
    pub destination: Option<IpAddr>,
    pub prefix: u8,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
}

pub(super) fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

pub(super) fn link_details(m: &LinkMessage) -> LinkDetails {
    let mut d = LinkDetails {
        index: m.header.index,
        name: String::new(),
        mac: None,
        mtu: 0,
        up: m.header.flags.contains(LinkFlags::Up),
        master: None,
        kind: None,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => d.name = n.clone(),
            LinkAttribute::Address(mac) if mac.len() == 6 => {
                let mut b = [0; 6];
                b.copy_from_slice(mac);
                d.mac = Some(b);
            }
            LinkAttribute::Mtu(mtu) => d.mtu = *mtu,
            LinkAttribute::Controller(i) => d.master = Some(*i),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        d.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    d
}

/// Splits the first netlink message of `buf`: (length, type, flags, seq, payload).
pub(super) fn split_message<'a>(
    buf: &'a [u8],
    op: &str,
) -> Result<(usize, u16, u16, u32, &'a [u8])> {
    let nb = NetlinkBuffer::new_checked(buf).map_err(|e| Error::Protocol {
        op: op.to_owned(),
        reason: format!("malformed reply: {e}"),
    })?;
    let len = nb.length() as usize;
    Ok((
        len,
        nb.message_type(),
        nb.flags(),
        nb.sequence_number(),
        &buf[NLMSG_HDRLEN..len],
    ))
}

/// The `NLMSGERR_ATTR_MSG` of an error reply, if the kernel attached one.
pub(super) fn ext_ack_message(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    // payload: error code (4), the request's header (16) and, unless capped,
    // the rest of the request; then the TLVs.
    let orig = payload.get(4..4 + NLMSG_HDRLEN)?;
    let orig_len = u32::from_ne_bytes([orig[0], orig[1], orig[2], orig[3]]) as usize;
    let tlvs = 4 + if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        align4(orig_len)
    };
    let (_, msg) = attributes(payload.get(tlvs..)?).find(|(ty, _)| *ty == NLMSGERR_ATTR_MSG)?;
    let msg = msg.split(|b| *b == 0).next().unwrap_or(msg);
    Some(String::from_utf8_lossy(msg).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;
    use std::io;

    #[test]
    fn extended_ack_message_is_extracted() {
        let mut payload = Vec::new();
        payload.extend_from_slice(&(-17i32).to_ne_bytes());
        let mut orig = vec![0u8; NLMSG_HDRLEN];
        orig[0..4].copy_from_slice(&40u32.to_ne_bytes()); // the request was 40 bytes
        payload.extend_from_slice(&orig);
        let text = b"File exists here\0";
        payload.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(text);
        payload.resize(align4(payload.len()), 0);
        let capped = NLM_F_CAPPED | NLM_F_ACK_TLVS;
        assert_eq!(
            ext_ack_message(capped, &payload).as_deref(),
            Some("File exists here")
        );
        assert_eq!(
            ext_ack_message(NLM_F_CAPPED, &payload),
            None,
            "no TLVs flagged"
        );
        // Not capped: the TLVs follow the whole echoed request, which this
        // payload does not have, so nothing is found (and nothing panics).
        assert_eq!(ext_ack_message(NLM_F_ACK_TLVS, &payload), None);

        let e = Error::Request {
            op: "creating bridge bt1".into(),
            ext_ack: Some("boom".into()),
            source: io::Error::from_raw_os_error(libc::EEXIST),
        };
        assert!(e.is_exists());
        assert!(!e.is_not_found());
        let s = e.to_string();
        assert!(
            s.starts_with("netlink: creating bridge bt1: File exists") && s.ends_with("(boom)"),
            "{s}"
        );
    }

    #[test]
    fn reply_link_index_reads_ifi_index() {
        let mut m = LinkMessage::default();
        m.header.index = 77;
        let mut bytes = vec![0; m.buffer_len()];
        m.emit(&mut bytes);
        let reply = Reply {
            message_type: libc::RTM_NEWLINK,
            payload: bytes,
        };
        assert_eq!(reply.link_index(), Some(77));
        assert!(
            matches!(reply.parse(), Ok(RouteNetlinkMessage::NewLink(p)) if p.header.index == 77)
        );
    }
}
