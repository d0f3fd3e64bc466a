//! The operations berth does one at a time: each builds its request,
//! sends it and reads what the reply says. Steps that go together are
//! batched by their callers from [`super::req`] instead.

use std::io;
use std::net::IpAddr;
use std::os::fd::BorrowedFd;

use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressScope,
};
use netlink_packet_route::link::{IpVlanMode, MacVlanMode};
use netlink_packet_route::route::{RouteAttribute, RouteHeader, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::reply::{link_details, route_ip};
use super::{
    req, AddressDetails, Error, LinkDetails, Netlink, NetnsRef, Reply, Result, RouteDetails,
};

impl Netlink {
    /// Index of the device called `name`, or `None` if there is none.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>> {
        match self.execute(req::get_link(name)?) {
            Ok(replies) => Ok(replies.iter().find_map(Reply::link_index)),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Index of the device called `name`; an error naming it if absent.
    pub fn require_link(&mut self, name: &str) -> Result<u32> {
        self.link_index(name)?.ok_or_else(|| Error::Request {
            op: format!("looking up link {name}"),
            ext_ack: None,
            source: io::Error::from_raw_os_error(libc::ENODEV),
        })
    }

    /// Details of the device called `name`, or `None`.
    pub fn link(&mut self, name: &str) -> Result<Option<LinkDetails>> {
        let op = format!("looking up link {name}");
        let replies = match self.execute(req::get_link(name)?) {
            Ok(r) => r,
            Err(e) if e.errno() == Some(libc::ENODEV) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(reply) = replies.first() else {
            return Ok(None);
        };
        match reply.parse() {
            Ok(RouteNetlinkMessage::NewLink(m)) => Ok(Some(link_details(&m))),
            Ok(other) => Err(Error::Protocol {
                op,
                reason: format!("unexpected reply {other:?}"),
            }),
            Err(reason) => Err(Error::Protocol { op, reason }),
        }
    }

    /// Creates a bridge (down).
    pub fn create_bridge(&mut self, name: &str, mtu: u32, mac: Option<[u8; 6]>) -> Result<()> {
        self.execute(req::new_bridge(name, mtu, mac)?).map(drop)
    }

    /// Creates a veth pair with the peer directly in `peer_netns`.
    pub fn create_veth(
        &mut self,
        host: &str,
        peer: &str,
        peer_netns: NetnsRef<'_>,
        peer_mac: Option<[u8; 6]>,
        mtu: u32,
    ) -> Result<()> {
        self.execute(req::new_veth(host, peer, peer_netns, peer_mac, mtu)?)
            .map(drop)
    }

    /// Creates a macvlan sub-interface of `parent` in `netns`.
    pub fn create_macvlan(
        &mut self,
        name: &str,
        parent: &str,
        mode: MacVlanMode,
        mac: Option<[u8; 6]>,
        mtu: u32,
        netns: Option<NetnsRef<'_>>,
    ) -> Result<()> {
        let parent_index = self.require_link(parent)?;
        self.execute(req::new_macvlan(name, parent_index, mode, mac, mtu, netns)?)
            .map(drop)
    }

    /// Creates an ipvlan sub-interface of `parent` in `netns`.
    pub fn create_ipvlan(
        &mut self,
        name: &str,
        parent: &str,
        mode: IpVlanMode,
        mtu: u32,
        netns: Option<NetnsRef<'_>>,
    ) -> Result<()> {
        let parent_index = self.require_link(parent)?;
        self.execute(req::new_ipvlan(name, parent_index, mode, mtu, netns)?)
            .map(drop)
    }

    /// Applies several changes to one link in one message.
    pub fn set_link(&mut self, index: u32, what: &str, change: &req::LinkChange) -> Result<()> {
        self.execute(req::set_link(index, what, change)?).map(drop)
    }

    pub fn set_up(&mut self, index: u32, what: &str, up: bool) -> Result<()> {
        self.set_link(
            index,
            what,
            &req::LinkChange {
                up: Some(up),
                ..Default::default()
            },
        )
    }

    pub fn delete_link(&mut self, index: u32, what: &str) -> Result<()> {
        self.execute(req::del_link(index, what)).map(drop)
    }

    /// Deletes the device called `name`; `Ok(false)` if there was none.
    pub fn delete_link_by_name(&mut self, name: &str) -> Result<bool> {
        match self.execute(req::del_link_by_name(name)?) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub fn move_link(
        &mut self,
        index: u32,
        what: &str,
        netns: BorrowedFd<'_>,
        name: Option<&str>,
    ) -> Result<()> {
        self.execute(req::move_link(index, what, netns, name)?)
            .map(drop)
    }

    pub fn add_address(
        &mut self,
        index: u32,
        what: &str,
        addr: IpAddr,
        prefix: u8,
        nodad: bool,
    ) -> Result<()> {
        self.execute(req::add_address(index, what, addr, prefix, nodad)?)
            .map(drop)
    }

    /// Every address of the netns (inspection only: a dump).
    pub fn addresses(&mut self) -> Result<Vec<AddressDetails>> {
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            for reply in self.execute(req::dump_addresses(family))? {
                if let Ok(RouteNetlinkMessage::NewAddress(m)) = reply.parse() {
                    let addr = m.attributes.iter().find_map(|a| match a {
                        AddressAttribute::Address(ip) => Some(*ip),
                        _ => None,
                    });
                    // IFA_FLAGS holds all 32 bits; the header the low 8.
                    let permanent = m
                        .attributes
                        .iter()
                        .find_map(|a| match a {
                            AddressAttribute::Flags(f) => Some(f.contains(AddressFlags::Permanent)),
                            _ => None,
                        })
                        .unwrap_or(m.header.flags.contains(AddressHeaderFlags::Permanent));
                    if let Some(addr) = addr {
                        out.push(AddressDetails {
                            index: m.header.index,
                            addr,
                            prefix: m.header.prefix_len,
                            permanent,
                            global: m.header.scope == AddressScope::Universe,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// The main table's routes of a family (inspection only: a dump; the
    /// CNI plugin's CHECK looks for the default route with it). The overlap
    /// check of `network create` reads `/proc` instead ([`crate::host`]).
    pub fn routes(&mut self, family: AddressFamily) -> Result<Vec<RouteDetails>> {
        let mut out = Vec::new();
        for reply in self.execute(req::dump_routes(family))? {
            let Ok(RouteNetlinkMessage::NewRoute(m)) = reply.parse() else {
                continue;
            };
            if m.header.table != RouteHeader::RT_TABLE_MAIN || m.header.kind != RouteType::Unicast {
                continue;
            }
            let mut r = RouteDetails {
                destination: None,
                prefix: m.header.destination_prefix_length,
                gateway: None,
                oif: None,
            };
            for a in &m.attributes {
                match a {
                    RouteAttribute::Destination(d) => r.destination = route_ip(d),
                    RouteAttribute::Gateway(g) => r.gateway = route_ip(g),
                    RouteAttribute::Oif(i) => r.oif = Some(*i),
                    _ => {}
                }
            }
            out.push(r);
        }
        Ok(out)
    }
}
