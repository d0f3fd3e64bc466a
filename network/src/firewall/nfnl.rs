//! Port elements sent to nf_tables directly over a `NETLINK_NETFILTER`
//! socket: one batch (`NFNL_MSG_BATCH_BEGIN`, `NFT_MSG_NEWSETELEM` /
//! `NFT_MSG_DELSETELEM` per map, `NFNL_MSG_BATCH_END`) is one transaction,
//! and no process is spawned per container.
//!
//! # Expiring instead of deleting
//!
//! A deleted element is freed by nf_tables' destroy work after an RCU grace
//! period, and closing a `NETLINK_NETFILTER` socket waits for that work
//! (`nft_rcv_nl_event` flushes it): a process that deletes an element and
//! exits pays the grace period, 8-10 ms here, at exit. So a container's
//! elements are not deleted but expired: the DNAT maps have `flags
//! timeout`, elements are added without a timeout (they never expire), and
//! detaching updates them with an expiration of 0 (kernels since 6.10
//! update an element's timeout in place). The kernel counts in jiffies: the
//! element expires at the next tick (4 ms at HZ=250). An expired element no
//! longer matches any packet, is not listed, does not stop the same key from
//! being added again, and is freed by the set's garbage collection off the
//! command's path. Whether the kernel took the update is checked with a
//! `GETSETELEM` per element (gone, or carrying a timeout); where it did not
//! (an older kernel, a table made without `flags timeout`), the elements
//! are deleted as before. A container publishing a host port within that
//! tick finds the old element still there: [`Found::Expiring`] tells it
//! apart from a port that is taken, and [`replace`] destroys it in the same
//! transaction as the new element is added.
//!
//! Only what berth needs is encoded here: element lists of the four DNAT
//! maps (plain hash maps with concatenated keys and data) and a table
//! lookup. Constants are those of `linux/netfilter/nfnetlink.h` and
//! `linux/netfilter/nf_tables.h`; the netlink framing (`linux/netlink.h`
//! constants, the attribute walker) is `crate::netlink::wire`'s.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::Mutex;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

use super::rules::{PortElement, TABLE};
use crate::netlink::wire::{
    align4, attributes, NLA_F_NESTED, NLA_HDRLEN, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_ACK,
    NLM_F_CREATE, NLM_F_REQUEST,
};

// linux/netfilter/nfnetlink.h
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNETLINK_V0: u8 = 0;

// linux/netfilter.h
const NFPROTO_UNSPEC: u8 = 0;
const NFPROTO_INET: u8 = 1;

// linux/netfilter/nf_tables.h: enum nf_tables_msg_types
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFT_MSG_DESTROYSETELEM: u16 = 30;
// enum nft_table_attributes
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
// enum nft_set_elem_list_attributes
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
// enum nft_list_attributes
const NFTA_LIST_ELEM: u16 = 1;
// enum nft_set_elem_attributes
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
const NFTA_SET_ELEM_EXPIRATION: u16 = 5;
// enum nft_data_attributes
const NFTA_DATA_VALUE: u16 = 1;

/// Each part of a concatenated key or value takes whole 32-bit registers.
fn push_reg(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes);
    out.resize(out.len() + (4 - bytes.len() % 4) % 4, 0);
}

fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => push_reg(out, &a.octets()),
        IpAddr::V6(a) => push_reg(out, &a.octets()),
    }
}

/// The key as the kernel stores it: `[host ip .] l4proto . port`, each part
/// padded to 32 bits, the port in network byte order.
pub fn key_bytes(el: &PortElement) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    if let Some(ip) = el.host_ip {
        push_ip(&mut out, ip);
    }
    let proto = match el.protocol {
        crate::model::Protocol::Tcp => libc::IPPROTO_TCP,
        crate::model::Protocol::Udp => libc::IPPROTO_UDP,
    };
    push_reg(&mut out, &[proto as u8]);
    push_reg(&mut out, &el.host_port.to_be_bytes());
    out
}

/// The data: `container ip . container port`.
pub fn data_bytes(el: &PortElement) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    push_ip(&mut out, el.container_ip);
    push_reg(&mut out, &el.container_port.to_be_bytes());
    out
}

/// Builds netlink messages and their attributes in one buffer.
#[derive(Default)]
pub struct Batch {
    buf: Vec<u8>,
    /// Sequence numbers of the messages that ask for an ack.
    acked: Vec<u32>,
    seq: u32,
}

impl Batch {
    fn new(seq: u32) -> Self {
        Batch {
            buf: Vec::with_capacity(4096),
            acked: Vec::new(),
            seq,
        }
    }

    fn begin_msg(&mut self, ty: u16, flags: u16, family: u8, res_id: u16) -> usize {
        let start = self.buf.len();
        self.seq = self.seq.wrapping_add(1);
        if flags & NLM_F_ACK != 0 {
            self.acked.push(self.seq);
        }
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by end_msg
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&self.seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
                                                         // struct nfgenmsg
        self.buf.push(family);
        self.buf.push(NFNETLINK_V0);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        start
    }

    fn end_msg(&mut self, start: usize) {
        let len = (self.buf.len() - start) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    fn attr(&mut self, ty: u16, payload: &[u8]) {
        let len = (NLA_HDRLEN + payload.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
    }

    fn attr_str(&mut self, ty: u16, s: &str) {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.attr(ty, &v);
    }

    fn nest_begin(&mut self, ty: u16) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        start
    }

    fn nest_end(&mut self, start: usize) {
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn pad(&mut self) {
        self.buf.resize(align4(self.buf.len()), 0);
    }

    fn batch_marker(&mut self, ty: u16) {
        let m = self.begin_msg(ty, NLM_F_REQUEST, NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES);
        self.end_msg(m);
    }

    /// One `NEWSETELEM`, `GETSETELEM`, `DELSETELEM` or `DESTROYSETELEM`
    /// message for the elements of one map. `NEWSETELEM` with `expire` sets
    /// each element's timeout to 1 ms (the kernel rounds it up to a jiffy)
    /// and asks for an expiration (0 is taken as the timeout): it expires
    /// at the next tick. `GETSETELEM` and `DESTROYSETELEM` carry keys only.
    fn set_elems(&mut self, msg: u16, map: &str, elements: &[&PortElement], expire: bool) {
        let flags = match msg {
            NFT_MSG_NEWSETELEM => NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK,
            _ => NLM_F_REQUEST | NLM_F_ACK,
        };
        let m = self.begin_msg(NFNL_SUBSYS_NFTABLES << 8 | msg, flags, NFPROTO_INET, 0);
        self.attr_str(NFTA_SET_ELEM_LIST_TABLE, TABLE);
        self.attr_str(NFTA_SET_ELEM_LIST_SET, map);
        let list = self.nest_begin(NFTA_SET_ELEM_LIST_ELEMENTS);
        for el in elements {
            let e = self.nest_begin(NFTA_LIST_ELEM);
            let k = self.nest_begin(NFTA_SET_ELEM_KEY);
            self.attr(NFTA_DATA_VALUE, &key_bytes(el));
            self.nest_end(k);
            if msg == NFT_MSG_NEWSETELEM || msg == NFT_MSG_DELSETELEM {
                let d = self.nest_begin(NFTA_SET_ELEM_DATA);
                self.attr(NFTA_DATA_VALUE, &data_bytes(el));
                self.nest_end(d);
            }
            if expire {
                // Milliseconds, big endian (NLA_U64).
                self.attr(NFTA_SET_ELEM_TIMEOUT, &1u64.to_be_bytes());
                self.attr(NFTA_SET_ELEM_EXPIRATION, &0u64.to_be_bytes());
            }
            self.nest_end(e);
        }
        self.nest_end(list);
        self.end_msg(m);
    }

    /// The elements grouped by map, [`MAX_ELEMENTS_PER_MSG`] per message
    /// (the element list is one attribute, whose length is 16 bits): for
    /// each group, one message of each type in `msgs`, in that order.
    fn per_map(&mut self, msgs: &[u16], elements: &[PortElement], expire: bool) {
        for map in super::rules::DnatMap::ALL {
            let of_map: Vec<&PortElement> = elements.iter().filter(|e| e.map == map).collect();
            for chunk in of_map.chunks(MAX_ELEMENTS_PER_MSG) {
                for &msg in msgs {
                    self.set_elems(msg, map.name(), chunk, expire && msg == NFT_MSG_NEWSETELEM);
                }
            }
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// What a batch does with the elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `NEWSETELEM` without `NLM_F_EXCL`: adding an element that is there
    /// with the same data is not an error; with other data it is (EEXIST).
    Add,
    /// `NEWSETELEM` with an expiration of 0: expires them (see the module's
    /// documentation), succeeds when they are already gone, and fails
    /// (EEXIST) without expiring anything if a key now maps to other data.
    Expire,
    /// `NEWSETELEM` then `DELSETELEM` of the same elements: deletes them,
    /// with the same answers as `Expire`.
    Remove,
}

/// Elements per message: at most 64 bytes each (an IPv6 key and data with
/// their attribute headers), so the list stays far below the 64 KiB an
/// attribute can hold.
const MAX_ELEMENTS_PER_MSG: usize = 512;

/// The whole batch for `elements`, grouped by map: one message per map,
/// operation and 512 elements.
pub fn build(op: Op, elements: &[PortElement], seq: u32) -> Batch {
    let msgs: &[u16] = match op {
        Op::Add | Op::Expire => &[NFT_MSG_NEWSETELEM],
        Op::Remove => &[NFT_MSG_NEWSETELEM, NFT_MSG_DELSETELEM],
    };
    let mut b = Batch::new(seq);
    b.batch_marker(NFNL_MSG_BATCH_BEGIN);
    b.per_map(msgs, elements, op == Op::Expire);
    b.batch_marker(NFNL_MSG_BATCH_END);
    b
}

/// One transaction destroying the elements of `stale` (by key; no error
/// for one that is gone) and adding `elements`.
fn build_replace(stale: &[PortElement], elements: &[PortElement], seq: u32) -> Batch {
    let mut b = Batch::new(seq);
    b.batch_marker(NFNL_MSG_BATCH_BEGIN);
    b.per_map(&[NFT_MSG_DESTROYSETELEM], stale, false);
    b.per_map(&[NFT_MSG_NEWSETELEM], elements, false);
    b.batch_marker(NFNL_MSG_BATCH_END);
    b
}

/// One `GETSETELEM` request per element (not a batch: reads, answered one
/// by one, ENOENT for an element that is not there or has expired).
fn get_elements(elements: &[PortElement], seq: u32) -> Batch {
    let mut b = Batch::new(seq);
    for el in elements {
        b.set_elems(NFT_MSG_GETSETELEM, el.map.name(), &[el], false);
    }
    b
}

/// A `GETTABLE` request for berth's table (not a batch: a read).
/// One `GET*` request (`msg`) of the nf_tables object named by `attrs`,
/// with an ack: ENOENT when it does not exist.
fn get_object(seq: u32, msg: u16, family: u8, attrs: &[(u16, &str)]) -> Batch {
    let mut b = Batch::new(seq);
    let m = b.begin_msg(
        NFNL_SUBSYS_NFTABLES << 8 | msg,
        NLM_F_REQUEST | NLM_F_ACK,
        family,
        0,
    );
    for (ty, s) in attrs {
        b.attr_str(*ty, s);
    }
    b.end_msg(m);
    b
}

/// The process's nfnetlink socket, opened on first use and kept open.
///
/// Releasing a bound `NETLINK_NETFILTER` socket makes nf_tables flush its
/// destroy work (`nft_rcv_nl_event`), and that work, scheduled by every
/// commit, waits for an RCU grace period: closing right after a transaction
/// took 10-15 ms here (measured per `detach` when each call had its own
/// socket; `nft` pays it at every exit). Kept open, the socket is closed
/// when the process exits, once whatever else it did after the last
/// transaction has overlapped the grace period.
static SOCKET: Mutex<Option<Socket>> = Mutex::new(None);

fn open_socket() -> io::Result<Socket> {
    let mut sock = Socket::new(NETLINK_NETFILTER)?;
    sock.bind_auto()?;
    // Errors echo only the header of the failed request, not all of it.
    sock.set_cap_ack(true)?;
    // The kernel answers while handling the send; the timeout only guards
    // against waiting forever for an answer that will not come.
    let tv = nix::sys::time::TimeVal::new(5, 0);
    nix::sys::socket::setsockopt(
        &sock.as_fd(),
        nix::sys::socket::sockopt::ReceiveTimeout,
        &tv,
    )
    .map_err(io::Error::from)?;
    Ok(sock)
}

/// Sends `batch` and waits for the answer to each message that asked for
/// one. Returns the first error the kernel reported.
fn transact(batch: &Batch) -> io::Result<()> {
    match answers(batch)?.acks.iter().find(|a| a.1 != 0) {
        Some(&(_, errno)) => Err(io::Error::from_raw_os_error(errno)),
        None => Ok(()),
    }
}

/// What the kernel answered to a batch or to requests.
#[derive(Debug, Default, PartialEq)]
struct Answers {
    /// `(sequence number, errno)` of each ack (errno 0) or error.
    acks: Vec<(u32, i32)>,
    /// `(sequence number, has a timeout)` of each element a `GETSETELEM`
    /// returned.
    elements: Vec<(u32, bool)>,
}

/// Sends `batch` and returns what the kernel answered.
fn answers(batch: &Batch) -> io::Result<Answers> {
    let mut slot = SOCKET.lock().unwrap_or_else(|e| e.into_inner());
    let sock = match slot.take() {
        Some(s) => s,
        None => open_socket()?,
    };
    let (answers, drained) = exchange(&sock, batch)?;
    // A socket with answers left unread is not reused: they would be taken
    // for the next batch's.
    if drained {
        *slot = Some(sock);
    }
    Ok(answers)
}

/// nfnetlink answers every message of a batch that carries `NLM_F_ACK`
/// (an ack, or its error) once the whole batch is handled; a failure of the
/// batch itself (out of memory, a failed commit) is an error naming the
/// `BATCH_BEGIN` message, after which nothing else need come. Returns the
/// answers and whether every expected one was read.
fn exchange(sock: &Socket, batch: &Batch) -> io::Result<(Answers, bool)> {
    // A batch is one datagram, which must fit the socket's send buffer
    // (about 200 KiB by default: some 4,000 published ports).
    let need = batch.bytes().len() + 4096;
    if need > 128 * 1024 {
        nix::sys::socket::setsockopt(&sock.as_fd(), nix::sys::socket::sockopt::SndBufForce, &need)
            .map_err(io::Error::from)?;
    }
    sock.send_to(batch.bytes(), &SocketAddr::new(0, 0), 0)?;
    let mut pending: Vec<u32> = batch.acked.clone();
    let mut all = Answers::default();
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    while !pending.is_empty() {
        buf.clear();
        sock.recv(&mut buf, 0)?;
        let got = parse_answers(&buf);
        all.elements.extend(got.elements);
        for (seq, errno) in got.acks {
            all.acks.push((seq, errno));
            match pending.iter().position(|s| *s == seq) {
                Some(i) => {
                    pending.swap_remove(i);
                }
                None if errno != 0 => return Ok((all, false)),
                None => {}
            }
        }
    }
    Ok((all, true))
}

/// Whether each element of a `NEWSETELEM` message body (after its
/// nfgenmsg) has a timeout.
fn elements_with_timeout(body: &[u8]) -> Vec<bool> {
    attributes(body)
        .filter(|(ty, _)| *ty == NFTA_SET_ELEM_LIST_ELEMENTS)
        .flat_map(|(_, list)| attributes(list))
        .filter(|(ty, _)| *ty == NFTA_LIST_ELEM)
        .map(|(_, el)| attributes(el).any(|(ty, _)| ty == NFTA_SET_ELEM_TIMEOUT))
        .collect()
}

/// The acks, errors and returned elements in a datagram. Other messages
/// (the table a GETTABLE returns) are skipped.
fn parse_answers(buf: &[u8]) -> Answers {
    let u32_at = |o: usize| u32::from_ne_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
    let mut out = Answers::default();
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let len = u32_at(off) as usize;
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            break;
        }
        let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        let seq = u32_at(off + 8);
        if ty == NLMSG_ERROR && len >= NLMSG_HDRLEN + 4 {
            let err = u32_at(off + NLMSG_HDRLEN) as i32;
            out.acks.push((seq, -err));
        } else if ty == NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM && len >= NLMSG_HDRLEN + 4 {
            let body = &buf[off + NLMSG_HDRLEN + 4..off + len];
            out.elements
                .extend(elements_with_timeout(body).into_iter().map(|t| (seq, t)));
        }
        off += align4(len);
    }
    out
}

fn seq_base() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(1)
}

/// Applies `op` to `elements` in one transaction.
pub fn apply(op: Op, elements: &[PortElement]) -> io::Result<()> {
    transact(&build(op, elements, seq_base()))
}

/// Expires `elements` in one transaction ([`Op::Expire`]) and checks that
/// the kernel took it: each is gone or [`Found::Expiring`]. `Ok(false)`:
/// some are still [`Found::Live`] (the kernel cannot update an element's
/// timeout, or the map has no `flags timeout`); the caller deletes them.
pub fn expire(elements: &[PortElement]) -> io::Result<bool> {
    match apply(Op::Expire, elements) {
        Ok(()) => {}
        // A map made without `flags timeout` refuses the timeout.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP)) => {
            return Ok(false)
        }
        Err(e) => return Err(e),
    }
    Ok(lookup(elements)?.iter().all(|f| *f != Found::Live))
}

/// What a key of a DNAT map holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Nothing, or an element that has expired.
    Gone,
    /// An element with a timeout: one that a detach expired, until the
    /// next tick.
    Expiring,
    /// An element without a timeout: a published port.
    Live,
}

/// Requests per datagram in [`lookup`]: the answers to them must fit the
/// socket's receive buffer (212 KiB by default), and the kernel sends each
/// element found in a buffer of its own (some 5 KiB of it).
const GETS_PER_SEND: usize = 32;

/// Looks up the key of each element: one `GETSETELEM` per element, sent
/// `GETS_PER_SEND` at a time.
pub fn lookup(elements: &[PortElement]) -> io::Result<Vec<Found>> {
    let mut out = Vec::with_capacity(elements.len());
    for chunk in elements.chunks(GETS_PER_SEND) {
        let batch = get_elements(chunk, seq_base());
        let got = answers(&batch)?;
        for seq in &batch.acked {
            let errno = got
                .acks
                .iter()
                .find(|a| a.0 == *seq)
                .map_or(libc::EIO, |a| a.1);
            out.push(match errno {
                0 => match got.elements.iter().find(|e| e.0 == *seq) {
                    Some((_, true)) => Found::Expiring,
                    _ => Found::Live,
                },
                libc::ENOENT => Found::Gone,
                e => return Err(io::Error::from_raw_os_error(e)),
            });
        }
    }
    Ok(out)
}

/// Adds `elements` in one transaction that first destroys the keys of
/// `stale` (elements a detach expired that have not reached their tick).
pub fn replace(stale: &[PortElement], elements: &[PortElement]) -> io::Result<()> {
    transact(&build_replace(stale, elements, seq_base()))
}

/// Whether berth's table exists.
pub fn table_exists() -> io::Result<bool> {
    match transact(&get_object(
        seq_base(),
        NFT_MSG_GETTABLE,
        NFPROTO_INET,
        &[(NFTA_TABLE_NAME, TABLE)],
    )) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether the chain `chain` of the table `family` `table` exists: one
/// `GETCHAIN`, no listing. `family` is an `NFPROTO_*` value.
pub fn chain_exists(family: u8, table: &str, chain: &str) -> io::Result<bool> {
    match transact(&get_object(
        seq_base(),
        NFT_MSG_GETCHAIN,
        family,
        &[(NFTA_CHAIN_TABLE, table), (NFTA_CHAIN_NAME, chain)],
    )) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::rules::DnatMap;
    use crate::model::Protocol;

    fn el(
        map: DnatMap,
        host: Option<&str>,
        proto: Protocol,
        hp: u16,
        ip: &str,
        cp: u16,
    ) -> PortElement {
        PortElement {
            map,
            host_ip: host.map(|h| h.parse().unwrap()),
            protocol: proto,
            host_port: hp,
            container_ip: ip.parse().unwrap(),
            container_port: cp,
        }
    }

    /// The words `nft --debug=netlink` prints for the same elements
    /// (little-endian u32s of the kernel's bytes).
    fn words(b: &[u8]) -> Vec<String> {
        b.chunks(4)
            .map(|c| format!("{:08x}", u32::from_le_bytes(c.try_into().unwrap())))
            .collect()
    }

    #[test]
    fn encodes_keys_and_data_as_nft_does() {
        // add element ... dnat4_any { tcp . 10002 : 10.213.1.3 . 8080 }
        let e = el(
            DnatMap::Any4,
            None,
            Protocol::Tcp,
            10002,
            "10.213.1.3",
            8080,
        );
        assert_eq!(words(&key_bytes(&e)), ["00000006", "00001227"]);
        assert_eq!(words(&data_bytes(&e)), ["0301d50a", "0000901f"]);
        // dnat4_host { 127.0.0.1 . tcp . 10001 : 10.213.1.2 . 81 }
        let e = el(
            DnatMap::Host4,
            Some("127.0.0.1"),
            Protocol::Tcp,
            10001,
            "10.213.1.2",
            81,
        );
        assert_eq!(words(&key_bytes(&e)), ["0100007f", "00000006", "00001127"]);
        assert_eq!(words(&data_bytes(&e)), ["0201d50a", "00005100"]);
        // dnat6_host { fd00:213::1 . udp . 80 : fd00:213::2 . 8080 }
        let e = el(
            DnatMap::Host6,
            Some("fd00:213::1"),
            Protocol::Udp,
            80,
            "fd00:213::2",
            8080,
        );
        assert_eq!(
            words(&key_bytes(&e)),
            ["130200fd", "00000000", "00000000", "01000000", "00000011", "00005000"]
        );
        assert_eq!(
            words(&data_bytes(&e)),
            ["130200fd", "00000000", "00000000", "02000000", "0000901f"]
        );
    }

    /// Splits a buffer into (type, flags, seq, payload) messages, checking
    /// lengths and alignment.
    fn messages(buf: &[u8]) -> Vec<(u16, u16, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut off = 0;
        while off < buf.len() {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            assert_eq!(len % 4, 0, "messages are 4-byte aligned");
            let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            let flags = u16::from_ne_bytes(buf[off + 6..off + 8].try_into().unwrap());
            let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
            out.push((ty, flags, seq, buf[off + 16..off + len].to_vec()));
            off += len;
        }
        assert_eq!(off, buf.len());
        out
    }

    /// Top-level attributes after the nfgenmsg: (type, payload).
    fn attrs(p: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        let mut off = 0;
        while off < p.len() {
            let len = u16::from_ne_bytes(p[off..off + 2].try_into().unwrap()) as usize;
            let ty = u16::from_ne_bytes(p[off + 2..off + 4].try_into().unwrap());
            out.push((ty, p[off + 4..off + len].to_vec()));
            off += align4(len);
        }
        assert_eq!(off, p.len());
        out
    }

    #[test]
    fn remove_batch_is_add_then_delete_per_map_between_markers() {
        let els = [
            el(DnatMap::Any4, None, Protocol::Tcp, 1, "10.213.0.2", 80),
            el(DnatMap::Any6, None, Protocol::Tcp, 1, "fd00:213::2", 80),
            el(DnatMap::Any4, None, Protocol::Udp, 2, "10.213.0.2", 53),
        ];
        let b = build(Op::Remove, &els, 100);
        let msgs = messages(b.bytes());
        let types: Vec<u16> = msgs.iter().map(|m| m.0).collect();
        assert_eq!(types, [0x10, 0x0a0c, 0x0a0e, 0x0a0c, 0x0a0e, 0x11]);
        let seqs: Vec<u32> = msgs.iter().map(|m| m.2).collect();
        assert_eq!(seqs, [101, 102, 103, 104, 105, 106]);
        // Acks are asked for the element messages only.
        assert_eq!(b.acked, [102, 103, 104, 105]);
        // Batch markers: AF_UNSPEC, res_id = NFNL_SUBSYS_NFTABLES (big endian).
        assert_eq!(msgs[0].3, [0, 0, 0, 10]);
        assert_eq!(msgs[0].1, NLM_F_REQUEST);
        assert_eq!(msgs[1].1, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK);
        assert_eq!(msgs[2].1, NLM_F_REQUEST | NLM_F_ACK);

        let (fam, body) = msgs[1].3.split_at(4);
        assert_eq!(fam, [NFPROTO_INET, 0, 0, 0]);
        let a = attrs(body);
        assert_eq!(a[0], (NFTA_SET_ELEM_LIST_TABLE, b"berth\0".to_vec()));
        assert_eq!(a[1], (NFTA_SET_ELEM_LIST_SET, b"dnat4_any\0".to_vec()));
        assert_eq!(a[2].0, NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED);
        let list = attrs(&a[2].1);
        assert_eq!(list.len(), 2, "both IPv4 elements in one message");
        let first = attrs(&list[0].1);
        assert_eq!(first[0].0, NFTA_SET_ELEM_KEY | NLA_F_NESTED);
        assert_eq!(attrs(&first[0].1), [(NFTA_DATA_VALUE, key_bytes(&els[0]))]);
        assert_eq!(first[1].0, NFTA_SET_ELEM_DATA | NLA_F_NESTED);
        assert_eq!(attrs(&first[1].1), [(NFTA_DATA_VALUE, data_bytes(&els[0]))]);
    }

    #[test]
    fn long_element_lists_are_split() {
        let els: Vec<PortElement> = (0..1100)
            .map(|i| {
                el(
                    DnatMap::Host6,
                    Some("fd00:213::1"),
                    Protocol::Udp,
                    i,
                    "fd00:213::2",
                    80,
                )
            })
            .collect();
        let msgs = messages(build(Op::Remove, &els, 0).bytes());
        let types: Vec<u16> = msgs.iter().map(|m| m.0).collect();
        assert_eq!(
            types,
            [0x10, 0x0a0c, 0x0a0e, 0x0a0c, 0x0a0e, 0x0a0c, 0x0a0e, 0x11]
        );
        let counts: Vec<usize> = msgs[1..7]
            .iter()
            .map(|m| attrs(&attrs(&m.3[4..])[2].1).len())
            .collect();
        assert_eq!(counts, [512, 512, 512, 512, 76, 76]);
    }

    #[test]
    fn expire_batch_updates_timeout_and_expiration() {
        let els = [el(DnatMap::Any4, None, Protocol::Tcp, 1, "10.213.0.2", 80)];
        let msgs = messages(build(Op::Expire, &els, 0).bytes());
        let types: Vec<u16> = msgs.iter().map(|m| m.0).collect();
        assert_eq!(types, [0x10, 0x0a0c, 0x11]);
        assert_eq!(msgs[1].1, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK);
        let list = attrs(&attrs(&msgs[1].3[4..])[2].1);
        let elem: Vec<u16> = attrs(&list[0].1).iter().map(|a| a.0).collect();
        assert_eq!(
            elem,
            [
                NFTA_SET_ELEM_KEY | NLA_F_NESTED,
                NFTA_SET_ELEM_DATA | NLA_F_NESTED,
                NFTA_SET_ELEM_TIMEOUT,
                NFTA_SET_ELEM_EXPIRATION
            ]
        );
        assert_eq!(attrs(&list[0].1)[2].1, 1u64.to_be_bytes());
        assert_eq!(attrs(&list[0].1)[3].1, 0u64.to_be_bytes());
    }

    #[test]
    fn gets_are_one_message_per_element_with_keys_only() {
        let els = [
            el(DnatMap::Any4, None, Protocol::Tcp, 1, "10.213.0.2", 80),
            el(DnatMap::Any6, None, Protocol::Tcp, 1, "fd00:213::2", 80),
        ];
        let b = get_elements(&els, 0);
        let msgs = messages(b.bytes());
        let types: Vec<u16> = msgs.iter().map(|m| m.0).collect();
        assert_eq!(types, [0x0a0d, 0x0a0d]);
        assert_eq!(b.acked, [1, 2]);
        let a = attrs(&msgs[1].3[4..]);
        assert_eq!(a[1], (NFTA_SET_ELEM_LIST_SET, b"dnat6_any\0".to_vec()));
        let list = attrs(&a[2].1);
        let elem = attrs(&list[0].1);
        assert_eq!(elem.len(), 1, "a key and nothing else");
        assert_eq!(elem[0].0, NFTA_SET_ELEM_KEY | NLA_F_NESTED);
        assert_eq!(attrs(&elem[0].1), [(NFTA_DATA_VALUE, key_bytes(&els[1]))]);
    }

    #[test]
    fn add_batch_has_no_deletes() {
        let els = [el(
            DnatMap::Host4,
            Some("127.0.0.1"),
            Protocol::Tcp,
            1,
            "10.213.0.2",
            80,
        )];
        let types: Vec<u16> = messages(build(Op::Add, &els, 0).bytes())
            .iter()
            .map(|m| m.0)
            .collect();
        assert_eq!(types, [0x10, 0x0a0c, 0x11]);
    }

    #[test]
    fn parses_acks_and_errors() {
        let mut buf = Vec::new();
        for (seq, err) in [(7u32, 0i32), (8, -libc::EEXIST)] {
            buf.extend_from_slice(&36u32.to_ne_bytes());
            buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            buf.extend_from_slice(&0u16.to_ne_bytes());
            buf.extend_from_slice(&seq.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(&err.to_ne_bytes());
            buf.extend_from_slice(&[0; 16]);
        }
        assert_eq!(parse_answers(&buf).acks, [(7, 0), (8, libc::EEXIST)]);
        assert!(parse_answers(&buf[..20]).acks.is_empty());
    }

    /// The answer 6.18 gave to a GETSETELEM of `tcp . 18222` in dnat4_any
    /// after a detach expired it (timeout 4 ms, expiring in 4 ms), and the
    /// same element as a live one (no timeout, no expiration).
    #[test]
    fn tells_expiring_elements_from_live_ones() {
        let elem: &[u8] = b"\x3c\x00\x01\x00\x10\x00\x01\x00\x0c\x00\x01\x00\x06\x00\x00\x00\x47\x2e\x00\x00\x10\x00\x02\x00\x0c\x00\x01\x00\x0a\xd5\xca\x02\x00\x50\x00\x00\x0c\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x04\x0c\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x04";
        let message = |list: &[u8]| {
            let mut b = Batch::new(41);
            let m = b.begin_msg(NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM, 0, 1, 0);
            b.attr_str(NFTA_SET_ELEM_LIST_TABLE, TABLE);
            b.attr_str(NFTA_SET_ELEM_LIST_SET, "dnat4_any");
            b.attr(NFTA_SET_ELEM_LIST_ELEMENTS, list);
            b.end_msg(m);
            b.buf
        };
        let got = parse_answers(&message(elem));
        assert_eq!(got.elements, [(42, true)]);
        assert!(got.acks.is_empty());
        // Without the timeout and expiration attributes (24 bytes).
        let mut live = elem[..elem.len() - 24].to_vec();
        live[0] -= 24;
        assert_eq!(parse_answers(&message(&live)).elements, [(42, false)]);
    }
}
