//! Netlink framing shared by the rtnetlink client (this module) and the
//! nf_tables batches of [`crate::firewall::nfnl`]: the constants of
//! `linux/netlink.h` both use, and the walker over a buffer of attributes.

// linux/netlink.h: message types and flags.
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
/// In an error reply: the request is not echoed past its header.
pub(crate) const NLM_F_CAPPED: u16 = 0x100;
/// In an error reply: extended-ack attributes follow.
pub(crate) const NLM_F_ACK_TLVS: u16 = 0x200;
/// `enum nlmsgerr_attrs`: the kernel's explanation of an error.
pub(crate) const NLMSGERR_ATTR_MSG: u16 = 1;
/// Length of `struct nlmsghdr`.
pub(crate) const NLMSG_HDRLEN: usize = 16;
/// Length of `struct nlattr`.
pub(crate) const NLA_HDRLEN: usize = 4;
/// Attribute type flag: the payload is itself attributes.
pub(crate) const NLA_F_NESTED: u16 = 0x8000;
/// Attribute type flag: the payload is in network byte order.
const NLA_F_NET_BYTEORDER: u16 = 0x4000;

/// `n` rounded up to netlink's 4-byte alignment (`NLMSG_ALIGN`, `NLA_ALIGN`).
pub(crate) fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The attributes in `buf`: `(type without flags, payload)`, up to the end
/// of `buf` or the first malformed attribute.
pub(crate) fn attributes(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut off = 0;
    std::iter::from_fn(move || {
        if off + NLA_HDRLEN > buf.len() {
            return None;
        }
        let len = u16::from_ne_bytes([buf[off], buf[off + 1]]) as usize;
        let ty = u16::from_ne_bytes([buf[off + 2], buf[off + 3]])
            & !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);
        if len < NLA_HDRLEN || off + len > buf.len() {
            return None;
        }
        let payload = &buf[off + NLA_HDRLEN..off + len];
        off += align4(len);
        Some((ty, payload))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_walked_with_padding_and_flags_dropped() {
        let mut buf = Vec::new();
        for (ty, payload) in [(1u16, &b"abc"[..]), (2 | NLA_F_NESTED, &b"defgh"[..])] {
            buf.extend_from_slice(&((NLA_HDRLEN + payload.len()) as u16).to_ne_bytes());
            buf.extend_from_slice(&ty.to_ne_bytes());
            buf.extend_from_slice(payload);
            buf.resize(align4(buf.len()), 0);
        }
        let found: Vec<(u16, &[u8])> = attributes(&buf).collect();
        assert_eq!(found, [(1, &b"abc"[..]), (2, &b"defgh"[..])]);
        // A length past the end stops the walk instead of reading beyond it.
        buf[0] = 200;
        assert_eq!(attributes(&buf).count(), 0);
    }
}
