//! The kernel's network state as read back through rtnetlink: links, addresses, routes and rules,
//! each parsed into the fields metalroute compares, and each keeping the message it came from so
//! that a checkpoint can put it back exactly.

use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    BridgeStpState, InfoBridge, InfoData, InfoKind, InfoVlan, InfoVrf, LinkAttribute, LinkFlags,
    LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteProtocol, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage};
use netlink_packet_route::AddressFamily;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The routing protocol number metalroute tags its routes and rules with (`rtm_protocol`,
/// `FRA_PROTOCOL`). 233 is unused by iproute2's `rt_protos`, by FRR (186–199, where 196 is
/// FRR's `static`), BIRD (12), Calico (80) and NetworkManager (boot/static/ra/dhcp).
/// `/etc/iproute2/rt_protos.d/metalroute.conf` can name it: `233 metalroute`.
pub const METALROUTE_PROTOCOL: u8 = 233;

/// Metric of the `unreachable default` route installed in every VRF table, as the kernel's VRF
/// documentation recommends, so that lookups never fall through to the next table.
pub const VRF_UNREACHABLE_METRIC: u32 = 4_278_198_272;

/// A link (network interface).
#[derive(Debug, Clone, PartialEq)]
pub struct KLink {
    /// ifindex.
    pub index: u32,
    /// Name.
    pub name: String,
    /// `IFLA_INFO_KIND` (`None` for devices without one, e.g. physical NICs and loopback).
    pub kind: Option<String>,
    /// VRF table, for VRFs.
    pub vrf_table: Option<u32>,
    /// VLAN id, for VLANs.
    pub vlan_id: Option<u16>,
    /// `IFLA_LINK`: the VLAN's parent or the veth's peer (ifindex, maybe in another namespace).
    pub link: Option<u32>,
    /// Bridge STP on/off, for bridges.
    pub stp: Option<bool>,
    /// The controller (VRF or bridge) this link is a port of.
    pub master: Option<u32>,
    /// MTU.
    pub mtu: u32,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Loopback device.
    pub loopback: bool,
    /// Hardware address.
    pub mac: Option<Vec<u8>>,
}

/// An interface address.
#[derive(Debug, Clone, PartialEq)]
pub struct KAddress {
    /// ifindex of the interface.
    pub index: u32,
    /// The address with its prefix length (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6).
    pub addr: IpNet,
    /// Flags (permanent, tentative, ...).
    pub flags: AddressFlags,
    /// The message as dumped.
    pub msg: AddressMessage,
}

impl KAddress {
    /// Whether this is an IPv6 link-local address (managed by the kernel, never by nmstate).
    pub fn is_link_local(&self) -> bool {
        match self.addr.addr() {
            IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
            IpAddr::V4(_) => false,
        }
    }
}

/// One next hop of a route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KNextHop {
    /// Gateway.
    pub gateway: Option<IpAddr>,
    /// Output interface.
    pub oif: Option<u32>,
    /// Weight (rtnh_hops + 1) — 1 for single-path routes.
    pub weight: u16,
}

/// A route.
#[derive(Debug, Clone, PartialEq)]
pub struct KRoute {
    /// Table id (RTA_TABLE, falling back to the header's).
    pub table: u32,
    /// Destination prefix.
    pub dst: IpNet,
    /// TOS.
    pub tos: u8,
    /// Metric (RTA_PRIORITY, 0 when absent).
    pub metric: u32,
    /// rtm_protocol.
    pub protocol: u8,
    /// rtm_type.
    pub kind: RouteType,
    /// Next hops (one for single-path routes, none for blackhole/unreachable/... routes that
    /// have no gateway; IPv6 ones carry `dev lo`).
    pub hops: Vec<KNextHop>,
    /// RTA_PREFSRC.
    pub prefsrc: Option<IpAddr>,
    /// The message as dumped.
    pub msg: RouteMessage,
}

impl KRoute {
    /// Whether metalroute installed this route.
    pub fn is_ours(&self) -> bool {
        self.protocol == METALROUTE_PROTOCOL
    }

    /// Whether this route goes through interface `index`.
    pub fn uses_link(&self, index: u32) -> bool {
        self.hops.iter().any(|h| h.oif == Some(index))
    }
}

/// A policy routing rule.
#[derive(Debug, Clone, PartialEq)]
pub struct KRule {
    /// IPv4 or IPv6.
    pub family: AddressFamily,
    /// FRA_PRIORITY (0 when absent).
    pub priority: u32,
    /// Table (FRA_TABLE, falling back to the header's).
    pub table: u32,
    /// Action.
    pub action: RuleAction,
    /// FRA_SRC with its length.
    pub src: Option<IpNet>,
    /// FRA_DST with its length.
    pub dst: Option<IpNet>,
    /// FRA_IIFNAME.
    pub iif: Option<String>,
    /// FRA_OIFNAME.
    pub oif: Option<String>,
    /// FRA_FWMARK.
    pub fwmark: Option<u32>,
    /// FRA_FWMASK.
    pub fwmask: Option<u32>,
    /// FRA_PROTOCOL.
    pub protocol: u8,
    /// FRA_L3MDEV.
    pub l3mdev: bool,
    /// Whether the rule has selectors metalroute does not model (tos, invert, uid range, ports,
    /// ip proto, suppressors, goto).
    pub other_selectors: bool,
    /// The message as dumped.
    pub msg: RuleMessage,
}

impl KRule {
    /// Whether metalroute installed this rule.
    pub fn is_ours(&self) -> bool {
        self.protocol == METALROUTE_PROTOCOL
    }

    /// Whether the kernel created this rule itself: the l3mdev rule (`FRA_L3MDEV`, priority
    /// 1000) it adds when the first VRF of a network namespace is created and never adds again.
    /// metalroute never owns, deletes or re-adds such a rule (deleting it would leave every
    /// later VRF of the namespace without routing); the nmstate subset cannot ask for an l3mdev
    /// rule, so one tagged with metalroute's protocol was not made by the kernel.
    pub fn is_kernel_created(&self) -> bool {
        self.l3mdev && !self.is_ours()
    }
}

/// Links, addresses, routes and rules of one network namespace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KernelState {
    /// Links, in dump (ifindex) order.
    pub links: Vec<KLink>,
    /// Addresses, in dump order (which is the kernel's per-interface order).
    pub addresses: Vec<KAddress>,
    /// Routes of every table.
    pub routes: Vec<KRoute>,
    /// Rules, IPv4 then IPv6, in priority order.
    pub rules: Vec<KRule>,
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn unspecified(family: AddressFamily) -> Option<IpAddr> {
    match family {
        AddressFamily::Inet => Some(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
        AddressFamily::Inet6 => Some(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
        _ => None,
    }
}

impl KLink {
    /// Parses a link message.
    pub fn from_message(m: &LinkMessage) -> Option<KLink> {
        let mut link = KLink {
            index: m.header.index,
            name: String::new(),
            kind: None,
            vrf_table: None,
            vlan_id: None,
            link: None,
            stp: None,
            master: None,
            mtu: 0,
            up: m.header.flags.contains(LinkFlags::Up),
            loopback: m.header.flags.contains(LinkFlags::Loopback),
            mac: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Mtu(v) => link.mtu = *v,
                LinkAttribute::Controller(v) => link.master = Some(*v),
                LinkAttribute::Link(v) => link.link = Some(*v),
                LinkAttribute::Address(v) => link.mac = Some(v.clone()),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        match info {
                            LinkInfo::Kind(k) => link.kind = Some(kind_name(k)),
                            LinkInfo::Data(InfoData::Vrf(v)) => {
                                for x in v {
                                    if let InfoVrf::TableId(t) = x {
                                        link.vrf_table = Some(*t);
                                    }
                                }
                            }
                            LinkInfo::Data(InfoData::Vlan(v)) => {
                                for x in v {
                                    if let InfoVlan::Id(id) = x {
                                        link.vlan_id = Some(*id);
                                    }
                                }
                            }
                            LinkInfo::Data(InfoData::Bridge(v)) => {
                                for x in v {
                                    if let InfoBridge::StpState(s) = x {
                                        link.stp = Some(!matches!(s, BridgeStpState::Disabled));
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if link.name.is_empty() {
            None
        } else {
            Some(link)
        }
    }
}

/// The `IFLA_INFO_KIND` string of a kind.
pub fn kind_name(k: &InfoKind) -> String {
    match k {
        InfoKind::Other(s) => s.clone(),
        other => other.to_string(),
    }
}

impl KAddress {
    /// Parses an address message.
    pub fn from_message(m: &AddressMessage) -> Option<KAddress> {
        let mut local = None;
        let mut address = None;
        let mut flags = AddressFlags::from_bits_retain(u32::from(m.header.flags.bits()));
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                AddressAttribute::Flags(f) => flags = *f,
                _ => {}
            }
        }
        let ip = local.or(address)?;
        let addr = IpNet::new(ip, m.header.prefix_len).ok()?;
        Some(KAddress {
            index: m.header.index,
            addr,
            flags,
            msg: m.clone(),
        })
    }
}

impl KRoute {
    /// Parses a route message (IPv4/IPv6 only).
    pub fn from_message(m: &RouteMessage) -> Option<KRoute> {
        let family = m.header.address_family;
        let mut dst_ip = None;
        let mut table = u32::from(m.header.table);
        let mut metric = 0;
        let mut gateway = None;
        let mut oif = None;
        let mut prefsrc = None;
        let mut multipath = None;
        for a in &m.attributes {
            match a {
                RouteAttribute::Destination(d) => dst_ip = route_addr(d),
                RouteAttribute::Table(t) => table = *t,
                RouteAttribute::Priority(p) => metric = *p,
                RouteAttribute::Gateway(g) => gateway = route_addr(g),
                RouteAttribute::Oif(i) => oif = Some(*i),
                RouteAttribute::PrefSource(s) => prefsrc = route_addr(s),
                RouteAttribute::MultiPath(hops) => multipath = Some(hops.clone()),
                _ => {}
            }
        }
        let dst_ip = dst_ip.or_else(|| unspecified(family))?;
        let dst = IpNet::new(dst_ip, m.header.destination_prefix_length).ok()?;
        let hops = match multipath {
            Some(nhs) => nhs
                .iter()
                .map(|nh| KNextHop {
                    gateway: nh.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(g) => route_addr(g),
                        _ => None,
                    }),
                    oif: Some(nh.interface_index),
                    weight: u16::from(nh.hops) + 1,
                })
                .collect(),
            None if gateway.is_some() || oif.is_some() => vec![KNextHop {
                gateway,
                oif,
                weight: 1,
            }],
            None => Vec::new(),
        };
        Some(KRoute {
            table,
            dst,
            tos: m.header.tos,
            metric,
            protocol: u8::from(m.header.protocol),
            kind: m.header.kind,
            hops,
            prefsrc,
            msg: m.clone(),
        })
    }
}

impl KRule {
    /// Parses a rule message.
    pub fn from_message(m: &RuleMessage) -> KRule {
        let mut r = KRule {
            family: m.header.family,
            priority: 0,
            table: u32::from(m.header.table),
            action: m.header.action,
            src: None,
            dst: None,
            iif: None,
            oif: None,
            fwmark: None,
            fwmask: None,
            protocol: 0,
            l3mdev: false,
            other_selectors: m.header.tos != 0 || m.header.flags.contains(RuleFlags::Invert),
            msg: m.clone(),
        };
        for a in &m.attributes {
            match a {
                RuleAttribute::Priority(p) => r.priority = *p,
                RuleAttribute::Table(t) => r.table = *t,
                RuleAttribute::Source(ip) => r.src = IpNet::new(*ip, m.header.src_len).ok(),
                RuleAttribute::Destination(ip) => r.dst = IpNet::new(*ip, m.header.dst_len).ok(),
                RuleAttribute::Iifname(n) => r.iif = Some(n.clone()),
                RuleAttribute::Oifname(n) => r.oif = Some(n.clone()),
                RuleAttribute::FwMark(v) => r.fwmark = Some(*v),
                RuleAttribute::FwMask(v) => r.fwmask = Some(*v),
                RuleAttribute::Protocol(p) => r.protocol = u8::from(*p),
                RuleAttribute::L3MDev(b) => r.l3mdev = *b,
                // The kernel reports -1 for "no suppressor".
                RuleAttribute::SuppressIfGroup(v) | RuleAttribute::SuppressPrefixLen(v)
                    if *v != u32::MAX =>
                {
                    r.other_selectors = true
                }
                RuleAttribute::Goto(_)
                | RuleAttribute::UidRange(_)
                | RuleAttribute::IpProtocol(_)
                | RuleAttribute::SourcePortRange(_)
                | RuleAttribute::DestinationPortRange(_)
                | RuleAttribute::TunId(_) => r.other_selectors = true,
                _ => {}
            }
        }
        // The kernel reports fwmark 0 / mask 0 for rules without a mark.
        if r.fwmark == Some(0) && matches!(r.fwmask, None | Some(0)) {
            r.fwmark = None;
            r.fwmask = None;
        }
        r
    }
}

impl KernelState {
    /// Builds the state from dumped messages.
    pub fn from_messages(
        links: Vec<LinkMessage>,
        addresses: Vec<AddressMessage>,
        routes: Vec<RouteMessage>,
        rules: Vec<RuleMessage>,
    ) -> KernelState {
        KernelState {
            links: links.iter().filter_map(KLink::from_message).collect(),
            addresses: addresses
                .iter()
                .filter_map(KAddress::from_message)
                .collect(),
            routes: routes.iter().filter_map(KRoute::from_message).collect(),
            rules: rules.iter().map(KRule::from_message).collect(),
        }
    }

    /// The link called `name`.
    pub fn link(&self, name: &str) -> Option<&KLink> {
        self.links.iter().find(|l| l.name == name)
    }

    /// The link with ifindex `index`.
    pub fn link_by_index(&self, index: u32) -> Option<&KLink> {
        self.links.iter().find(|l| l.index == index)
    }

    /// The name of ifindex `index` (or `#index` when unknown).
    pub fn name_of(&self, index: u32) -> String {
        self.link_by_index(index)
            .map_or_else(|| format!("#{index}"), |l| l.name.clone())
    }

    /// ifindex by name.
    pub fn index_map(&self) -> BTreeMap<String, u32> {
        self.links
            .iter()
            .map(|l| (l.name.clone(), l.index))
            .collect()
    }

    /// Addresses of interface `index`, in kernel order.
    pub fn addresses_of(&self, index: u32) -> impl Iterator<Item = &KAddress> {
        self.addresses.iter().filter(move |a| a.index == index)
    }

    /// Ports of controller `index`.
    pub fn ports_of(&self, index: u32) -> impl Iterator<Item = &KLink> {
        self.links.iter().filter(move |l| l.master == Some(index))
    }
}

/// A route message reduced to what identifies it for comparison and re-adding: header flags
/// other than `onlink` dropped, cache info and expiry dropped.
pub fn normalize_route(m: &RouteMessage) -> RouteMessage {
    let mut n = m.clone();
    n.header.flags &= RouteFlags::Onlink;
    n.attributes.retain(|a| {
        !matches!(
            a,
            RouteAttribute::CacheInfo(_)
                | RouteAttribute::Expires(_)
                | RouteAttribute::MulticastExpires(_)
        )
    });
    for a in &mut n.attributes {
        if let RouteAttribute::MultiPath(hops) = a {
            for h in hops {
                h.flags &= netlink_packet_route::route::RouteNextHopFlags::Onlink;
            }
        }
    }
    n
}

/// A rule message reduced for comparison and re-adding (header flags except `invert` dropped).
pub fn normalize_rule(m: &RuleMessage) -> RuleMessage {
    let mut n = m.clone();
    n.header.flags &= RuleFlags::Invert;
    n
}

/// An address message reduced for comparison and re-adding: cache info and kernel-managed flags
/// dropped.
pub fn normalize_address(m: &AddressMessage) -> AddressMessage {
    let mut n = m.clone();
    n.attributes
        .retain(|a| !matches!(a, AddressAttribute::CacheInfo(_)));
    let keep = AddressFlags::Nodad
        | AddressFlags::Noprefixroute
        | AddressFlags::Homeaddress
        | AddressFlags::Managetempaddr
        | AddressFlags::Mcautojoin;
    for a in &mut n.attributes {
        if let AddressAttribute::Flags(f) = a {
            *f &= keep;
        }
    }
    n.header.flags = netlink_packet_route::address::AddressHeaderFlags::from_bits_retain(
        (keep.bits() & u32::from(n.header.flags.bits())) as u8,
    );
    n
}

/// The protocol number as [`RouteProtocol`].
pub fn our_protocol() -> RouteProtocol {
    RouteProtocol::from(METALROUTE_PROTOCOL)
}

/// Whether a route is one the kernel generated for an address or a link (local/broadcast/prefix
/// routes, IPv6 link-local and multicast routes).
pub fn is_kernel_generated(r: &KRoute) -> bool {
    r.protocol == u8::from(RouteProtocol::Kernel)
}
