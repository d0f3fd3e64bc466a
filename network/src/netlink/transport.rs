//! The socket and its exchanges: one request ([`Netlink::execute`]) or a
//! batch of them in one `sendmsg` ([`Netlink::batch`]), the acks and data
//! replies matched to their requests by sequence number.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::reply::{ext_ack_message, split_message, Reply};
use super::wire::{align4, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN};
use super::{Error, Request, Result};

const RECV_BUF: usize = 64 * 1024;
/// Requests sent before reading their replies (see [`Netlink::batch_results`]).
const MAX_IN_FLIGHT: usize = 32;

/// The rtnetlink socket of one network namespace.
pub struct Netlink {
    sock: Socket,
    seq: u32,
    rx: Vec<u8>,
}

impl fmt::Debug for Netlink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Netlink").field("seq", &self.seq).finish()
    }
}

impl Netlink {
    /// Opens a `NETLINK_ROUTE` socket (CLOEXEC) in the calling thread's netns.
    pub fn open() -> Result<Self> {
        let sock = Socket::new(NETLINK_ROUTE).map_err(Error::Open)?;
        // Short error replies (no echo of the request) with the kernel's
        // explanation attached; both exist since Linux 4.12.
        sock.set_cap_ack(true).map_err(Error::Open)?;
        sock.set_ext_ack(true).map_err(Error::Open)?;
        // Sequence numbers start somewhere that is unlikely to match replies
        // meant for another socket user of the same port.
        let seq = std::process::id().wrapping_mul(2654435761);
        Ok(Self {
            sock,
            seq,
            rx: vec![0; RECV_BUF],
        })
    }

    /// Opens a socket bound to the network namespace `netns` (an fd of
    /// `/proc/PID/ns/net`) without moving the caller: the calling thread
    /// enters `netns` just long enough to create the socket, then returns to
    /// its own. A socket keeps the netns it was created in, so the parent
    /// can do a container's `initialize` work from outside.
    pub fn open_in_netns(netns: BorrowedFd<'_>) -> Result<Self> {
        use nix::sched::{setns, CloneFlags};
        let own =
            std::fs::File::open("/proc/thread-self/ns/net").map_err(|source| Error::Netns {
                op: "opening /proc/thread-self/ns/net".to_owned(),
                source,
            })?;
        setns(netns, CloneFlags::CLONE_NEWNET).map_err(|e| Error::Netns {
            op: "entering the container's netns".to_owned(),
            source: e.into(),
        })?;
        let nl = Self::open();
        setns(own.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| Error::Netns {
            op: "returning to the caller's netns".to_owned(),
            source: e.into(),
        })?;
        nl
    }

    /// Sends one request and waits for its ack; returns the data messages
    /// the kernel sent before the ack (one `RTM_NEWLINK` for a get).
    pub fn execute(&mut self, req: Request) -> Result<Vec<Reply>> {
        let mut r = self.batch_results(std::slice::from_ref(&req))?;
        r.pop().unwrap_or_else(|| Ok(Vec::new()))
    }

    /// Sends the requests in one `sendmsg` and reads every ack. Returns the
    /// first error in request order.
    pub fn batch(&mut self, reqs: &[Request]) -> Result<Vec<Vec<Reply>>> {
        self.batch_results(reqs)?.into_iter().collect()
    }

    /// Like [`Netlink::batch`], but one result per request; the outer error
    /// is a socket failure.
    fn batch_results(&mut self, reqs: &[Request]) -> Result<Vec<Result<Vec<Reply>>>> {
        // Replies queue in the socket's receive buffer until read; a flight
        // of many lookups (1-2 KiB each) would overflow it (ENOBUFS, replies
        // lost), so long batches go out in flights of MAX_IN_FLIGHT.
        let mut results = Vec::with_capacity(reqs.len());
        for flight in reqs.chunks(MAX_IN_FLIGHT) {
            results.extend(self.flight(flight)?);
        }
        Ok(results)
    }

    fn flight(&mut self, reqs: &[Request]) -> Result<Vec<Result<Vec<Reply>>>> {
        if reqs.is_empty() {
            return Ok(Vec::new());
        }
        let first = self.seq.wrapping_add(1);
        let mut out = Vec::new();
        for (i, r) in reqs.iter().enumerate() {
            r.serialize_into(first.wrapping_add(i as u32), &mut out);
        }
        self.seq = first.wrapping_add(reqs.len() as u32 - 1);
        self.send(&out, &reqs[0].op)?;

        let mut results: Vec<Option<Result<Vec<Reply>>>> = (0..reqs.len()).map(|_| None).collect();
        let mut data: Vec<Vec<Reply>> = vec![Vec::new(); reqs.len()];
        let mut pending = reqs.len();
        while pending > 0 {
            let op = reqs[results.iter().position(Option::is_none).unwrap_or(0)]
                .op
                .as_str();
            let n = self.recv(op)?;
            let mut off = 0;
            while off + NLMSG_HDRLEN <= n {
                let (len, ty, flags, seq, payload) = split_message(&self.rx[off..n], op)?;
                off += align4(len);
                let i = seq.wrapping_sub(first) as usize;
                if i >= reqs.len() || results[i].is_some() {
                    continue; // a late reply to an earlier request
                }
                match ty {
                    NLMSG_ERROR => {
                        let code = payload
                            .get(0..4)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                        let res = match code {
                            Some(0) => Ok(std::mem::take(&mut data[i])),
                            Some(c) => Err(Error::Request {
                                op: reqs[i].op.clone(),
                                ext_ack: ext_ack_message(flags, payload),
                                source: io::Error::from_raw_os_error(-c),
                            }),
                            None => Err(Error::Protocol {
                                op: reqs[i].op.clone(),
                                reason: "truncated error message".to_owned(),
                            }),
                        };
                        results[i] = Some(res);
                        pending -= 1;
                    }
                    NLMSG_DONE => {
                        results[i] = Some(Ok(std::mem::take(&mut data[i])));
                        pending -= 1;
                    }
                    _ => {
                        // A dump's parts (NLM_F_MULTI) end with NLMSG_DONE.
                        data[i].push(Reply {
                            message_type: ty,
                            payload: payload.to_vec(),
                        });
                    }
                }
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Ok(Vec::new())))
            .collect())
    }

    fn send(&mut self, buf: &[u8], op: &str) -> Result<()> {
        let kernel = SocketAddr::new(0, 0);
        loop {
            match self.sock.send_to(buf, &kernel, 0) {
                Ok(n) if n == buf.len() => return Ok(()),
                Ok(n) => {
                    return Err(Error::Protocol {
                        op: op.to_owned(),
                        reason: format!("short send: {n} of {} bytes", buf.len()),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(socket_error(op, e)),
            }
        }
    }

    fn recv(&mut self, op: &str) -> Result<usize> {
        loop {
            let mut buf = &mut self.rx[..];
            match self.sock.recv_from(&mut buf, libc::MSG_TRUNC) {
                Ok((n, _)) if n > self.rx.len() => {
                    return Err(Error::Protocol {
                        op: op.to_owned(),
                        reason: format!("reply of {n} bytes truncated to {}", self.rx.len()),
                    })
                }
                // Only the kernel (port 0) answers; anything else is dropped.
                Ok((_, from)) if from.port_number() != 0 => continue,
                Ok((n, _)) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(socket_error(op, e)),
            }
        }
    }
}

/// A failed `send` or `recv` on the socket, during `op`.
fn socket_error(op: &str, source: io::Error) -> Error {
    Error::Request {
        op: op.to_owned(),
        ext_ack: None,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::req;

    #[test]
    fn batch_messages_are_concatenated_with_their_own_sequence_numbers() {
        let reqs = [req::get_link("a").unwrap(), req::del_link(3, "b")];
        let mut out = Vec::new();
        for (i, r) in reqs.iter().enumerate() {
            r.serialize_into(100 + i as u32, &mut out);
        }
        let (len, ty, _, seq, _) = split_message(&out, "t").unwrap();
        assert_eq!((ty, seq), (libc::RTM_GETLINK, 100));
        let (len2, ty2, _, seq2, _) = split_message(&out[align4(len)..], "t").unwrap();
        assert_eq!((ty2, seq2), (libc::RTM_DELLINK, 101));
        assert_eq!(align4(len) + len2, out.len());
    }
}
