//! Builds the rtnetlink messages for planned operations: interface names are resolved to
//! indexes against the kernel state the operation was planned with, routes and rules get
//! metalroute's protocol number.

use crate::error::{Error, Result};
use crate::kernel::{our_protocol, KernelState};
use crate::netlink::Write;
use crate::plan::{LinkSpec, Op, WantRoute};
use metalroute_crds::nmstate::{Family, RouteRule, RuleAction};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    BridgeStpState, InfoBridge, InfoData, InfoKind, InfoVeth, InfoVlan, InfoVrf, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteNextHop, RouteProtocol,
    RouteScope, RouteType as KRouteType,
};
use netlink_packet_route::rule::{RuleAction as KRuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::IpAddr;

fn af(ip: &IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn index(cur: &KernelState, name: &str, what: &str) -> Result<u32> {
    cur.link(name)
        .map(|l| l.index)
        .ok_or_else(|| Error::Conflict {
            path: what.to_string(),
            reason: format!("interface {name} does not exist"),
        })
}

/// The message for a wanted route (protocol metalroute).
pub fn route(w: &WantRoute, cur: &KernelState) -> Result<RouteMessage> {
    let mut m = RouteMessage::default();
    let family = af(&w.dst.addr());
    m.header.address_family = family;
    m.header.destination_prefix_length = w.dst.prefix_len();
    m.header.table = if w.table < 256 {
        w.table as u8
    } else {
        RouteHeader::RT_TABLE_UNSPEC
    };
    m.header.protocol = our_protocol();
    m.header.kind = w.kind;
    let gateway_less = w.hops.iter().all(|h| h.0.is_none());
    m.header.scope =
        if w.kind == KRouteType::Unicast && gateway_less && family == AddressFamily::Inet {
            RouteScope::Link
        } else {
            RouteScope::Universe
        };
    if w.dst.prefix_len() > 0 {
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(
                w.dst.addr(),
            )));
    }
    m.attributes.push(RouteAttribute::Table(w.table));
    m.attributes.push(RouteAttribute::Priority(w.metric));
    if let Some(src) = w.prefsrc {
        m.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::from(src)));
    }
    let what = format!("route {w}");
    match w.hops.as_slice() {
        [] => {}
        [(gw, dev, _)] => {
            if let Some(gw) = gw {
                m.attributes
                    .push(RouteAttribute::Gateway(RouteAddress::from(*gw)));
            }
            if let Some(dev) = dev {
                m.attributes
                    .push(RouteAttribute::Oif(index(cur, dev, &what)?));
            }
        }
        hops => {
            let mut nhs = Vec::new();
            for (gw, dev, weight) in hops {
                let mut nh = RouteNextHop::default();
                nh.hops = u8::try_from(weight.saturating_sub(1)).unwrap_or(u8::MAX);
                if let Some(dev) = dev {
                    nh.interface_index = index(cur, dev, &what)?;
                }
                if let Some(gw) = gw {
                    nh.attributes
                        .push(RouteAttribute::Gateway(RouteAddress::from(*gw)));
                }
                nhs.push(nh);
            }
            m.attributes.push(RouteAttribute::MultiPath(nhs));
        }
    }
    Ok(m)
}

/// The message for a wanted rule (protocol metalroute).
pub fn rule(r: &RouteRule) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = match r.family {
        Family::Ipv4 => AddressFamily::Inet,
        Family::Ipv6 => AddressFamily::Inet6,
    };
    m.header.action = match r.action {
        None => KRuleAction::ToTable,
        Some(RuleAction::Blackhole) => KRuleAction::Blackhole,
        Some(RuleAction::Unreachable) => KRuleAction::Unreachable,
        Some(RuleAction::Prohibit) => KRuleAction::Prohibit,
    };
    if let Some(t) = r.table {
        let t = t.get();
        m.header.table = if t < 256 { t as u8 } else { 0 };
        m.attributes.push(RuleAttribute::Table(t));
    }
    if let Some(p) = r.priority {
        m.attributes.push(RuleAttribute::Priority(p));
    }
    if let Some(n) = r.ip_from {
        m.header.src_len = n.prefix_len();
        m.attributes.push(RuleAttribute::Source(n.addr()));
    }
    if let Some(n) = r.ip_to {
        m.header.dst_len = n.prefix_len();
        m.attributes.push(RuleAttribute::Destination(n.addr()));
    }
    if let Some(i) = &r.iif {
        m.attributes.push(RuleAttribute::Iifname(i.to_string()));
    }
    if let Some(v) = r.fwmark {
        m.attributes.push(RuleAttribute::FwMark(v));
    }
    if let Some(v) = r.fwmask {
        m.attributes.push(RuleAttribute::FwMask(v));
    }
    m.attributes.push(RuleAttribute::Protocol(our_protocol()));
    m
}

fn link_msg(index: u32) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m
}

fn new_link(
    name: &str,
    spec: &LinkSpec,
    mac: &Option<Vec<u8>>,
    cur: &KernelState,
) -> Result<LinkMessage> {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    if let Some(mac) = mac {
        m.attributes.push(LinkAttribute::Address(mac.clone()));
    }
    let (kind, data) = match spec {
        LinkSpec::Vrf { table } => (
            InfoKind::Vrf,
            Some(InfoData::Vrf(vec![InfoVrf::TableId(*table)])),
        ),
        LinkSpec::Veth { peer } => {
            let mut p = LinkMessage::default();
            p.attributes.push(LinkAttribute::IfName(peer.clone()));
            (InfoKind::Veth, Some(InfoData::Veth(InfoVeth::Peer(p))))
        }
        LinkSpec::Dummy => (InfoKind::Dummy, None),
        LinkSpec::Bridge { stp } => (
            InfoKind::Bridge,
            stp.map(|on| {
                InfoData::Bridge(vec![InfoBridge::StpState(if on {
                    BridgeStpState::KernelStp
                } else {
                    BridgeStpState::Disabled
                })])
            }),
        ),
        LinkSpec::Vlan { base, id } => {
            m.attributes.push(LinkAttribute::Link(index(
                cur,
                base,
                &format!("vlan {name}"),
            )?));
            (
                InfoKind::Vlan,
                Some(InfoData::Vlan(vec![InfoVlan::Id(*id)])),
            )
        }
    };
    let mut info = vec![LinkInfo::Kind(kind)];
    if let Some(d) = data {
        info.push(LinkInfo::Data(d));
    }
    m.attributes.push(LinkAttribute::LinkInfo(info));
    Ok(m)
}

/// An address message for `addr` on interface `index`.
pub fn address(index: u32, addr: ipnet::IpNet) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = af(&addr.addr());
    m.header.prefix_len = addr.prefix_len();
    m.header.index = index;
    if addr.addr().is_ipv4() {
        m.attributes.push(AddressAttribute::Local(addr.addr()));
    }
    m.attributes.push(AddressAttribute::Address(addr.addr()));
    m
}

/// The write request for an operation, resolving names against `cur`. Sysctl operations are
/// not netlink writes and return `None`.
pub fn write_for(op: &Op, cur: &KernelState) -> Result<Option<Write>> {
    let what = op.to_string();
    let w = match op {
        Op::CreateLink {
            name,
            spec,
            mac,
            index,
        } => {
            let mut m = new_link(name, spec, mac, cur)?;
            if let Some((idx, peer_idx)) = index {
                m.header.index = *idx;
                if let Some(peer_idx) = peer_idx {
                    for a in &mut m.attributes {
                        if let LinkAttribute::LinkInfo(infos) = a {
                            for i in infos {
                                if let LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))) = i {
                                    p.header.index = *peer_idx;
                                }
                            }
                        }
                    }
                }
            }
            Write::create(RouteNetlinkMessage::NewLink(m), what)
        }
        Op::DeleteLink { name } => Write::plain(
            RouteNetlinkMessage::DelLink(link_msg(index(cur, name, &what)?)),
            what,
        ),
        Op::SetMaster { name, master } => {
            let mut m = link_msg(index(cur, name, &what)?);
            let ctrl = match master {
                Some(c) => index(cur, c, &what)?,
                None => 0,
            };
            m.attributes.push(LinkAttribute::Controller(ctrl));
            Write::plain(RouteNetlinkMessage::SetLink(m), what)
        }
        Op::SetMtu { name, mtu } => {
            let mut m = link_msg(index(cur, name, &what)?);
            m.attributes.push(LinkAttribute::Mtu(*mtu));
            Write::plain(RouteNetlinkMessage::SetLink(m), what)
        }
        Op::SetUp { name, up } => {
            let mut m = link_msg(index(cur, name, &what)?);
            m.header.change_mask = LinkFlags::Up;
            if *up {
                m.header.flags = LinkFlags::Up;
            }
            Write::plain(RouteNetlinkMessage::SetLink(m), what)
        }
        Op::SetMac { name, mac } => {
            let mut m = link_msg(index(cur, name, &what)?);
            m.attributes.push(LinkAttribute::Address(mac.clone()));
            Write::plain(RouteNetlinkMessage::SetLink(m), what)
        }
        Op::SetStp { name, on } => {
            let mut m = link_msg(index(cur, name, &what)?);
            m.attributes.push(LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Bridge),
                LinkInfo::Data(InfoData::Bridge(vec![InfoBridge::StpState(if *on {
                    BridgeStpState::KernelStp
                } else {
                    BridgeStpState::Disabled
                })])),
            ]));
            Write::plain(RouteNetlinkMessage::NewLink(m), what)
        }
        Op::AddAddress { name, addr, msg } => {
            let idx = index(cur, name, &what)?;
            let m = match msg {
                Some(m) => {
                    let mut m = m.clone();
                    m.header.index = idx;
                    m
                }
                None => address(idx, *addr),
            };
            Write::create(RouteNetlinkMessage::NewAddress(m), what)
        }
        Op::DelAddress { name, addr } => Write::plain(
            RouteNetlinkMessage::DelAddress(address(index(cur, name, &what)?, *addr)),
            what,
        ),
        Op::AddRoute { msg, .. } => Write::create(RouteNetlinkMessage::NewRoute(msg.clone()), what),
        Op::DelRoute { msg, .. } => Write::plain(RouteNetlinkMessage::DelRoute(msg.clone()), what),
        Op::AddRule { msg, .. } => Write::create(RouteNetlinkMessage::NewRule(msg.clone()), what),
        Op::DelRule { msg, .. } => Write::plain(RouteNetlinkMessage::DelRule(msg.clone()), what),
        Op::SetSysctl { .. } => return Ok(None),
    };
    Ok(Some(w))
}

/// Whether a route message was installed by metalroute.
pub fn is_our_route(m: &RouteMessage) -> bool {
    m.header.protocol == our_protocol()
}

/// Protocol of a message (for logs).
pub fn protocol_of(m: &RouteMessage) -> RouteProtocol {
    m.header.protocol
}
