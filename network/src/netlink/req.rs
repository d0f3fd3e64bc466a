//! Request builders: each returns one [`Request`] and does no I/O, so the
//! messages are unit tested below without a socket.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::BorrowedFd;

use netlink_packet_core::{
    DefaultNla, Emitable, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLA_F_NESTED, NLM_F_ACK,
    NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{
    InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoVeth, IpVlanMode, LinkAttribute,
    LinkExtentMask, LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Error, NetnsRef, Result, IFNAME_MAX};

const IFLA_PROTINFO: u16 = 12;
const IFLA_BRPORT_MODE: u16 = 4;

/// One request: a message, its flags, and what to call it in errors.
#[derive(Debug, Clone)]
pub struct Request {
    pub op: String,
    pub message: RouteNetlinkMessage,
    /// Flags besides `NLM_F_REQUEST | NLM_F_ACK`, which are always set.
    pub flags: u16,
}

impl Request {
    pub(super) fn new(op: String, message: RouteNetlinkMessage, flags: u16) -> Self {
        Self { op, message, flags }
    }

    pub(super) fn serialize_into(&self, seq: u32, out: &mut Vec<u8>) {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | self.flags;
        header.sequence_number = seq;
        let mut msg =
            NetlinkMessage::new(header, NetlinkPayload::InnerMessage(self.message.clone()));
        msg.finalize();
        let start = out.len();
        out.resize(start + msg.buffer_len(), 0);
        msg.serialize(&mut out[start..]);
    }
}

/// A link's mode for macvlan sub-interfaces.
pub fn macvlan_mode(name: &str) -> Option<MacVlanMode> {
    Some(match name {
        "private" => MacVlanMode::Private,
        "vepa" => MacVlanMode::Vepa,
        "bridge" => MacVlanMode::Bridge,
        "passthru" | "passthrough" => MacVlanMode::Passthrough,
        "source" => MacVlanMode::Source,
        _ => return None,
    })
}

/// A link's mode for ipvlan sub-interfaces.
pub fn ipvlan_mode(name: &str) -> Option<IpVlanMode> {
    Some(match name {
        "l2" => IpVlanMode::L2,
        "l3" => IpVlanMode::L3,
        "l3s" => IpVlanMode::L3S,
        _ => return None,
    })
}

fn check_ifname(op: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > IFNAME_MAX
        || name.contains(['/', '\0'])
        || name.contains(char::is_whitespace)
    {
        return Err(Error::Invalid {
            op: op.to_owned(),
            reason: format!(
                "interface name {name:?} must be 1 to {IFNAME_MAX} bytes without '/' or spaces"
            ),
        });
    }
    Ok(())
}

fn link_message(index: u32) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m
}

fn link_info(kind: InfoKind, data: Option<InfoData>) -> LinkAttribute {
    let mut info = vec![LinkInfo::Kind(kind)];
    if let Some(d) = data {
        info.push(LinkInfo::Data(d));
    }
    LinkAttribute::LinkInfo(info)
}

/// `RTM_GETLINK` for one device by name (not a dump).
pub fn get_link(name: &str) -> Result<Request> {
    let op = format!("looking up link {name}");
    check_ifname(&op, name)?;
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    m.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    Ok(Request::new(op, RouteNetlinkMessage::GetLink(m), 0))
}

/// A new bridge, down, with the given MTU (0: kernel default) and MAC
/// (`None`: random, and then the bridge takes its lowest port's MAC as
/// ports come and go; a set MAC stays).
pub fn new_bridge(name: &str, mtu: u32, mac: Option<[u8; 6]>) -> Result<Request> {
    let op = format!("creating bridge {name}");
    check_ifname(&op, name)?;
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    if mtu != 0 {
        m.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(mac) = mac {
        m.attributes.push(LinkAttribute::Address(mac.to_vec()));
    }
    m.attributes.push(link_info(InfoKind::Bridge, None));
    Ok(Request::new(
        op,
        RouteNetlinkMessage::NewLink(m),
        NLM_F_CREATE | NLM_F_EXCL,
    ))
}

/// A veth pair: `host` stays in this netns; `peer` is created directly in
/// `peer_netns` (no later move), with `peer_mac`
/// and `mtu` already set. Both ends are down.
pub fn new_veth(
    host: &str,
    peer: &str,
    peer_netns: NetnsRef<'_>,
    peer_mac: Option<[u8; 6]>,
    mtu: u32,
) -> Result<Request> {
    let op = format!("creating veth {host} (peer {peer} in {peer_netns})");
    check_ifname(&op, host)?;
    check_ifname(&op, peer)?;
    let netns = peer_netns.attribute(&op)?;
    let mut p = LinkMessage::default();
    p.attributes.push(LinkAttribute::IfName(peer.to_owned()));
    if let Some(mac) = peer_mac {
        p.attributes.push(LinkAttribute::Address(mac.to_vec()));
    }
    if mtu != 0 {
        p.attributes.push(LinkAttribute::Mtu(mtu));
    }
    p.attributes.push(netns);
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(host.to_owned()));
    if mtu != 0 {
        m.attributes.push(LinkAttribute::Mtu(mtu));
    }
    m.attributes.push(link_info(
        InfoKind::Veth,
        Some(InfoData::Veth(InfoVeth::Peer(p))),
    ));
    Ok(Request::new(
        op,
        RouteNetlinkMessage::NewLink(m),
        NLM_F_CREATE | NLM_F_EXCL,
    ))
}

/// A sub-interface of `parent_index` (`IFLA_LINK`) named `name`, created
/// directly in `netns` (`None`: this netns).
pub fn new_macvlan(
    name: &str,
    parent_index: u32,
    mode: MacVlanMode,
    mac: Option<[u8; 6]>,
    mtu: u32,
    netns: Option<NetnsRef<'_>>,
) -> Result<Request> {
    let op = format!("creating macvlan {name} on parent #{parent_index}");
    let data = InfoData::MacVlan(vec![InfoMacVlan::Mode(mode)]);
    sub_interface(
        op,
        name,
        parent_index,
        InfoKind::MacVlan,
        data,
        mac,
        mtu,
        netns,
    )
}

/// Like [`new_macvlan`]; ipvlan devices share the parent's MAC.
pub fn new_ipvlan(
    name: &str,
    parent_index: u32,
    mode: IpVlanMode,
    mtu: u32,
    netns: Option<NetnsRef<'_>>,
) -> Result<Request> {
    let op = format!("creating ipvlan {name} on parent #{parent_index}");
    let data = InfoData::IpVlan(vec![InfoIpVlan::Mode(mode)]);
    sub_interface(
        op,
        name,
        parent_index,
        InfoKind::IpVlan,
        data,
        None,
        mtu,
        netns,
    )
}

#[allow(clippy::too_many_arguments)]
fn sub_interface(
    op: String,
    name: &str,
    parent_index: u32,
    kind: InfoKind,
    data: InfoData,
    mac: Option<[u8; 6]>,
    mtu: u32,
    netns: Option<NetnsRef<'_>>,
) -> Result<Request> {
    check_ifname(&op, name)?;
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    m.attributes.push(LinkAttribute::Link(parent_index));
    if let Some(mac) = mac {
        m.attributes.push(LinkAttribute::Address(mac.to_vec()));
    }
    if mtu != 0 {
        m.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(netns) = netns {
        m.attributes.push(netns.attribute(&op)?);
    }
    m.attributes.push(link_info(kind, Some(data)));
    Ok(Request::new(
        op,
        RouteNetlinkMessage::NewLink(m),
        NLM_F_CREATE | NLM_F_EXCL,
    ))
}

/// A dummy device (tests use one as a macvlan/ipvlan parent).
pub fn new_dummy(name: &str) -> Result<Request> {
    let op = format!("creating dummy {name}");
    check_ifname(&op, name)?;
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    m.attributes.push(link_info(InfoKind::Dummy, None));
    Ok(Request::new(
        op,
        RouteNetlinkMessage::NewLink(m),
        NLM_F_CREATE | NLM_F_EXCL,
    ))
}

/// Several changes to one link in one `RTM_SETLINK`. The kernel applies
/// them in this order: MAC, MTU, name, up/down, master — so a rename of a
/// down device and bringing it up can go in one message.
#[derive(Debug, Clone, Default)]
pub struct LinkChange {
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
    pub name: Option<String>,
    pub up: Option<bool>,
    /// Bridge index to enslave to; `Some(0)` releases from the master.
    pub master: Option<u32>,
}

/// `RTM_SETLINK` on `index` (called `what` in errors).
pub fn set_link(index: u32, what: &str, change: &LinkChange) -> Result<Request> {
    let mut parts = Vec::new();
    let mut m = link_message(index);
    if let Some(mac) = change.mac {
        parts.push(format!("MAC {}", crate::model::format_mac(&mac)));
        m.attributes.push(LinkAttribute::Address(mac.to_vec()));
    }
    if let Some(mtu) = change.mtu {
        parts.push(format!("MTU {mtu}"));
        m.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(name) = &change.name {
        parts.push(format!("name {name}"));
        check_ifname(&format!("renaming {what}"), name)?;
        m.attributes.push(LinkAttribute::IfName(name.clone()));
    }
    if let Some(up) = change.up {
        parts.push(if up { "up" } else { "down" }.to_owned());
        m.header.change_mask = LinkFlags::Up;
        if up {
            m.header.flags = LinkFlags::Up;
        }
    }
    if let Some(master) = change.master {
        parts.push(format!("master #{master}"));
        m.attributes.push(LinkAttribute::Controller(master));
    }
    let op = format!("setting {} on {what}", parts.join(", "));
    if index == 0 {
        return Err(Error::Invalid {
            op,
            reason: "no interface index".to_owned(),
        });
    }
    Ok(Request::new(op, RouteNetlinkMessage::SetLink(m), 0))
}

/// Hairpin mode of a bridge port: `RTM_SETLINK`, family `AF_BRIDGE`,
/// nested `IFLA_PROTINFO { IFLA_BRPORT_MODE }`.
pub fn set_hairpin(index: u32, what: &str, on: bool) -> Request {
    let mut m = link_message(index);
    m.header.interface_family = AddressFamily::Bridge;
    let inner = DefaultNla::new(IFLA_BRPORT_MODE, vec![u8::from(on)]);
    let mut value = vec![0; inner.buffer_len()];
    inner.emit(&mut value);
    m.attributes
        .push(LinkAttribute::ProtoInfoUnknown(DefaultNla::new(
            IFLA_PROTINFO | NLA_F_NESTED,
            value,
        )));
    let op = format!(
        "setting hairpin {} on bridge port {what}",
        if on { "on" } else { "off" }
    );
    Request::new(op, RouteNetlinkMessage::SetLink(m), 0)
}

/// Moves link `index` into the network namespace `netns` (an fd of
/// `/proc/PID/ns/net`), renamed to `name` there if given (a name
/// ending in `%d` lets the kernel number it). The kernel takes the
/// device down and drops its addresses on the way.
pub fn move_link(
    index: u32,
    what: &str,
    netns: BorrowedFd<'_>,
    name: Option<&str>,
) -> Result<Request> {
    use std::os::fd::AsRawFd;
    let mut op = format!("moving {what} into the container's network namespace");
    let mut m = link_message(index);
    m.attributes.push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
    if let Some(name) = name {
        op.push_str(&format!(" as {name}"));
        check_ifname(&op, name)?;
        m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    }
    Ok(Request::new(op, RouteNetlinkMessage::SetLink(m), 0))
}

/// `RTM_DELLINK` by index.
pub fn del_link(index: u32, what: &str) -> Request {
    Request::new(
        format!("deleting link {what}"),
        RouteNetlinkMessage::DelLink(link_message(index)),
        0,
    )
}

/// `RTM_DELLINK` by name: no lookup first.
pub fn del_link_by_name(name: &str) -> Result<Request> {
    let op = format!("deleting link {name}");
    check_ifname(&op, name)?;
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    Ok(Request::new(op, RouteNetlinkMessage::DelLink(m), 0))
}

/// `RTM_NEWADDR`, replacing an identical address if present (idempotent).
/// `nodad` skips IPv6 duplicate address detection, so the address is
/// usable at once (containers, and the bridge's own gateway address).
pub fn add_address(
    index: u32,
    what: &str,
    addr: IpAddr,
    prefix: u8,
    nodad: bool,
) -> Result<Request> {
    let op = format!("adding address {addr}/{prefix} to {what}");
    let mut m = AddressMessage::default();
    m.header.index = index;
    m.header.prefix_len = prefix;
    m.header.scope = AddressScope::Universe;
    match addr {
        IpAddr::V4(v4) => {
            if prefix > 32 {
                return Err(Error::Invalid {
                    op,
                    reason: "prefix longer than 32".to_owned(),
                });
            }
            m.header.family = AddressFamily::Inet;
            m.attributes.push(AddressAttribute::Local(addr));
            m.attributes.push(AddressAttribute::Address(addr));
            if prefix < 31 {
                let host_mask = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
                let brd = Ipv4Addr::from(u32::from(v4) | host_mask);
                m.attributes.push(AddressAttribute::Broadcast(brd));
            }
        }
        IpAddr::V6(_) => {
            if prefix > 128 {
                return Err(Error::Invalid {
                    op,
                    reason: "prefix longer than 128".to_owned(),
                });
            }
            m.header.family = AddressFamily::Inet6;
            m.attributes.push(AddressAttribute::Address(addr));
            if nodad {
                m.header.flags = AddressHeaderFlags::Nodad;
                m.attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
        }
    }
    Ok(Request::new(
        op,
        RouteNetlinkMessage::NewAddress(m),
        NLM_F_CREATE | NLM_F_REPLACE,
    ))
}

/// Default route (main table) via `gateway` out of `oif`; replaces an
/// existing default route of this netns (idempotent).
pub fn add_default_route(gateway: IpAddr, oif: u32, what: &str) -> Request {
    let mut m = RouteMessage::default();
    m.header = route_header(gateway);
    m.attributes
        .push(RouteAttribute::Gateway(RouteAddress::from(gateway)));
    m.attributes.push(RouteAttribute::Oif(oif));
    Request::new(
        format!("adding default route via {gateway} dev {what}"),
        RouteNetlinkMessage::NewRoute(m),
        NLM_F_CREATE | NLM_F_REPLACE,
    )
}

fn route_header(family_of: IpAddr) -> RouteHeader {
    RouteHeader {
        address_family: match family_of {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        },
        table: RouteHeader::RT_TABLE_MAIN,
        protocol: RouteProtocol::Boot,
        scope: RouteScope::Universe,
        kind: RouteType::Unicast,
        ..Default::default()
    }
}

/// Dump of every address of a family (for inspection, not the create path).
pub fn dump_addresses(family: AddressFamily) -> Request {
    let mut m = AddressMessage::default();
    m.header.family = family;
    Request::new(
        "listing addresses".to_owned(),
        RouteNetlinkMessage::GetAddress(m),
        NLM_F_DUMP,
    )
}

/// Dump of the routes of a family (for inspection, not the create path).
pub fn dump_routes(family: AddressFamily) -> Request {
    let mut m = RouteMessage::default();
    m.header.address_family = family;
    Request::new(
        "listing routes".to_owned(),
        RouteNetlinkMessage::GetRoute(m),
        NLM_F_DUMP,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::req;
    use crate::netlink::wire::NLMSG_HDRLEN;

    /// Serialises `r` as the socket would and parses it back.
    fn roundtrip(r: &Request) -> (NetlinkHeader, RouteNetlinkMessage, Vec<u8>) {
        let mut bytes = Vec::new();
        r.serialize_into(42, &mut bytes);
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).unwrap();
        assert_eq!(msg.header.length as usize, bytes.len());
        assert_eq!(msg.header.sequence_number, 42);
        match msg.payload {
            NetlinkPayload::InnerMessage(m) => (msg.header, m, bytes),
            other => panic!("{other:?}"),
        }
    }

    fn kind_and_data(attrs: &[LinkAttribute]) -> (Option<InfoKind>, Option<InfoData>) {
        let mut out = (None, None);
        for a in attrs {
            if let LinkAttribute::LinkInfo(infos) = a {
                for i in infos {
                    match i {
                        LinkInfo::Kind(k) => out.0 = Some(k.clone()),
                        LinkInfo::Data(d) => out.1 = Some(d.clone()),
                        _ => {}
                    }
                }
            }
        }
        out
    }

    #[test]
    fn bridge_with_mtu_and_mac() {
        let mac = [2, 0x42, 10, 213, 1, 1];
        let r = req::new_bridge("bt1", 1400, Some(mac)).unwrap();
        let (h, RouteNetlinkMessage::NewLink(m), _) = roundtrip(&r) else {
            panic!()
        };
        assert_eq!(
            h.flags,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        );
        assert!(m.attributes.contains(&LinkAttribute::Mtu(1400)));
        assert!(m.attributes.contains(&LinkAttribute::Address(mac.to_vec())));
        assert_eq!(kind_and_data(&m.attributes), (Some(InfoKind::Bridge), None));
        let (_, RouteNetlinkMessage::NewLink(m), _) =
            roundtrip(&req::new_bridge("bt1", 0, None).unwrap())
        else {
            panic!()
        };
        assert_eq!(m.attributes.len(), 2, "name and kind only");
    }

    #[test]
    fn get_link_asks_for_one_device_not_a_dump() {
        let (h, m, _) = roundtrip(&req::get_link("eth0").unwrap());
        assert_eq!(h.flags, NLM_F_REQUEST | NLM_F_ACK);
        let RouteNetlinkMessage::GetLink(m) = m else {
            panic!()
        };
        assert_eq!(m.header.index, 0);
        assert!(m.attributes.contains(&LinkAttribute::IfName("eth0".into())));
    }

    #[test]
    fn veth_peer_is_created_in_the_target_netns() {
        let mac = [2, 0x42, 10, 213, 1, 2];
        let r = req::new_veth("bvhost", "bxpeer", NetnsRef::Pid(1234), Some(mac), 1400).unwrap();
        assert!(r.op.contains("bvhost") && r.op.contains("bxpeer"));
        let (h, m, _) = roundtrip(&r);
        assert_eq!(
            h.flags,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        );
        let RouteNetlinkMessage::NewLink(m) = m else {
            panic!()
        };
        assert!(m
            .attributes
            .contains(&LinkAttribute::IfName("bvhost".into())));
        assert!(m.attributes.contains(&LinkAttribute::Mtu(1400)));
        assert!(
            !m.attributes
                .iter()
                .any(|a| matches!(a, LinkAttribute::NetNsPid(_))),
            "the host end stays here"
        );
        let (kind, data) = kind_and_data(&m.attributes);
        assert_eq!(kind, Some(InfoKind::Veth));
        let Some(InfoData::Veth(InfoVeth::Peer(peer))) = data else {
            panic!("{data:?}")
        };
        assert!(peer
            .attributes
            .contains(&LinkAttribute::IfName("bxpeer".into())));
        assert!(peer.attributes.contains(&LinkAttribute::NetNsPid(1234)));
        assert!(peer
            .attributes
            .contains(&LinkAttribute::Address(mac.to_vec())));
        assert!(peer.attributes.contains(&LinkAttribute::Mtu(1400)));
    }

    #[test]
    fn sub_interfaces_name_their_parent_and_netns() {
        let r = req::new_macvlan(
            "bxm",
            7,
            MacVlanMode::Bridge,
            None,
            0,
            Some(NetnsRef::Pid(99)),
        )
        .unwrap();
        let (_, RouteNetlinkMessage::NewLink(m), _) = roundtrip(&r) else {
            panic!()
        };
        assert!(m.attributes.contains(&LinkAttribute::Link(7)));
        assert!(m.attributes.contains(&LinkAttribute::NetNsPid(99)));
        assert!(!m
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::Mtu(_))));
        let (kind, data) = kind_and_data(&m.attributes);
        assert_eq!(kind, Some(InfoKind::MacVlan));
        assert_eq!(
            data,
            Some(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                MacVlanMode::Bridge
            )]))
        );

        let r = req::new_ipvlan("bxi", 7, IpVlanMode::L3, 9000, None).unwrap();
        let (_, RouteNetlinkMessage::NewLink(m), _) = roundtrip(&r) else {
            panic!()
        };
        assert!(!m
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::NetNsPid(_))));
        assert!(m.attributes.contains(&LinkAttribute::Mtu(9000)));
        let (kind, data) = kind_and_data(&m.attributes);
        assert_eq!(kind, Some(InfoKind::IpVlan));
        assert_eq!(
            data,
            Some(InfoData::IpVlan(vec![InfoIpVlan::Mode(IpVlanMode::L3)]))
        );

        assert_eq!(macvlan_mode("passthru"), Some(MacVlanMode::Passthrough));
        assert_eq!(macvlan_mode("l2"), None);
        assert_eq!(ipvlan_mode("l3s"), Some(IpVlanMode::L3S));
        assert_eq!(ipvlan_mode("bridge"), None);
    }

    #[test]
    fn set_link_sets_only_what_it_is_given() {
        let up = req::LinkChange {
            name: Some("eth0".into()),
            mac: Some([2, 0, 0, 0, 0, 1]),
            up: Some(true),
            ..Default::default()
        };
        let r = req::set_link(5, "bx1", &up).unwrap();
        assert!(r.op.contains("name eth0") && r.op.contains("bx1") && r.op.contains("up"));
        let (h, RouteNetlinkMessage::SetLink(m), _) = roundtrip(&r) else {
            panic!()
        };
        assert_eq!(h.flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(m.header.index, 5);
        assert_eq!(m.header.flags, LinkFlags::Up);
        assert_eq!(m.header.change_mask, LinkFlags::Up);
        assert!(m.attributes.contains(&LinkAttribute::IfName("eth0".into())));
        assert_eq!(m.attributes.len(), 2);

        let down = req::LinkChange {
            up: Some(false),
            master: Some(0),
            ..Default::default()
        };
        let (_, RouteNetlinkMessage::SetLink(m), _) =
            roundtrip(&req::set_link(5, "x", &down).unwrap())
        else {
            panic!()
        };
        assert_eq!(m.header.flags, LinkFlags::empty());
        assert_eq!(m.header.change_mask, LinkFlags::Up);
        assert_eq!(m.attributes, vec![LinkAttribute::Controller(0)]);

        let mtu = req::LinkChange {
            mtu: Some(1280),
            ..Default::default()
        };
        let (_, RouteNetlinkMessage::SetLink(m), _) =
            roundtrip(&req::set_link(5, "x", &mtu).unwrap())
        else {
            panic!()
        };
        assert_eq!(m.header.change_mask, LinkFlags::empty(), "flags untouched");
        assert_eq!(m.attributes, vec![LinkAttribute::Mtu(1280)]);

        assert!(req::set_link(0, "x", &mtu).is_err(), "needs an index");
    }

    #[test]
    fn hairpin_is_a_nested_protinfo_for_af_bridge() {
        let (_, _, bytes) = roundtrip(&req::set_hairpin(9, "bv1", true));
        let ifinfo = &bytes[NLMSG_HDRLEN..NLMSG_HDRLEN + 16];
        assert_eq!(ifinfo[0], libc::AF_BRIDGE as u8);
        assert_eq!(u32::from_ne_bytes(ifinfo[4..8].try_into().unwrap()), 9);
        let attr = &bytes[NLMSG_HDRLEN + 16..];
        // IFLA_PROTINFO|NLA_F_NESTED { IFLA_BRPORT_MODE: u8 1 }
        assert_eq!(u16::from_ne_bytes([attr[0], attr[1]]), 4 + 8);
        assert_eq!(
            u16::from_ne_bytes([attr[2], attr[3]]),
            IFLA_PROTINFO | NLA_F_NESTED
        );
        assert_eq!(u16::from_ne_bytes([attr[4], attr[5]]), 5);
        assert_eq!(u16::from_ne_bytes([attr[6], attr[7]]), IFLA_BRPORT_MODE);
        assert_eq!(attr[8], 1);
        assert_eq!(bytes.len(), NLMSG_HDRLEN + 16 + 12);
        let (_, _, off) = roundtrip(&req::set_hairpin(9, "bv1", false));
        assert_eq!(off[NLMSG_HDRLEN + 16 + 8], 0);
    }

    #[test]
    fn addresses_v4_with_broadcast_v6_without_dad() {
        let r = req::add_address(3, "eth0", "10.213.1.2".parse().unwrap(), 24, false).unwrap();
        let (h, RouteNetlinkMessage::NewAddress(m), _) = roundtrip(&r) else {
            panic!()
        };
        assert_eq!(
            h.flags,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
        );
        assert_eq!((m.header.index, m.header.prefix_len), (3, 24));
        assert_eq!(m.header.family, AddressFamily::Inet);
        assert!(m
            .attributes
            .contains(&AddressAttribute::Local("10.213.1.2".parse().unwrap())));
        assert!(m.attributes.contains(&AddressAttribute::Broadcast(
            "10.213.1.255".parse().unwrap()
        )));

        let r = req::add_address(3, "eth0", "10.213.1.2".parse().unwrap(), 31, false).unwrap();
        let (_, RouteNetlinkMessage::NewAddress(m), _) = roundtrip(&r) else {
            panic!()
        };
        assert!(!m
            .attributes
            .iter()
            .any(|a| matches!(a, AddressAttribute::Broadcast(_))));

        let r = req::add_address(3, "eth0", "fd00:213::2".parse().unwrap(), 64, true).unwrap();
        let (_, RouteNetlinkMessage::NewAddress(m), _) = roundtrip(&r) else {
            panic!()
        };
        assert_eq!(m.header.family, AddressFamily::Inet6);
        assert_eq!(m.header.flags, AddressHeaderFlags::Nodad);
        assert!(m
            .attributes
            .contains(&AddressAttribute::Flags(AddressFlags::Nodad)));

        assert!(req::add_address(3, "eth0", "10.0.0.1".parse().unwrap(), 33, false).is_err());
        assert!(req::add_address(3, "eth0", "::1".parse().unwrap(), 129, false).is_err());
    }

    #[test]
    fn default_routes_go_to_the_main_table() {
        for gw in ["10.213.1.1", "fd00:213::1"] {
            let gw: IpAddr = gw.parse().unwrap();
            let (h, RouteNetlinkMessage::NewRoute(m), _) =
                roundtrip(&req::add_default_route(gw, 4, "eth0"))
            else {
                panic!()
            };
            assert_eq!(
                h.flags,
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
            );
            assert_eq!(m.header.table, RouteHeader::RT_TABLE_MAIN);
            assert_eq!(m.header.destination_prefix_length, 0);
            assert_eq!(m.header.kind, RouteType::Unicast);
            assert_eq!(
                m.header.address_family,
                if gw.is_ipv4() {
                    AddressFamily::Inet
                } else {
                    AddressFamily::Inet6
                }
            );
            assert!(m
                .attributes
                .contains(&RouteAttribute::Gateway(RouteAddress::from(gw))));
            assert!(m.attributes.contains(&RouteAttribute::Oif(4)));
        }
    }

    #[test]
    fn interface_names_are_checked_before_sending() {
        assert!(req::get_link("a23456789012345").is_ok());
        for bad in ["", "a234567890123456", "a/b", "a b"] {
            let e = req::get_link(bad).unwrap_err();
            assert!(matches!(e, Error::Invalid { .. }), "{bad:?}: {e}");
        }
        assert!(req::new_veth("ok", "ok2", NetnsRef::Pid(-1), None, 0).is_err());
    }
}
