//! Pure planning: given the desired state and the kernel state read back, which operations bring
//! the kernel to the desired state. One function per stage (links, link settings, addresses,
//! routes, rules, sysctls); the applier runs them in that order and reads the kernel again
//! between stages that wrote something. An empty plan for every stage means "converged", which
//! is how re-applying makes no writes at all.

use crate::error::{Error, Result};
use crate::kernel::{KLink, KRoute, KRule, KernelState, VRF_UNREACHABLE_METRIC};
use crate::owned::OwnedRecord;
use ipnet::IpNet;
use metalroute_crds::nmstate::{
    DesiredState, Family, Interface, InterfaceKind, InterfaceState, Route, RouteRule, RouteTableId,
    RouteType, RuleAction, SysctlKey,
};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::route::{RouteMessage, RouteType as KRouteType};
use netlink_packet_route::rule::{RuleAction as KRuleAction, RuleMessage};
use netlink_packet_route::AddressFamily;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

/// What kind of link to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkSpec {
    /// A VRF bound to a table.
    Vrf {
        /// Table id.
        table: u32,
    },
    /// A veth pair.
    Veth {
        /// The peer's name.
        peer: String,
    },
    /// A dummy device.
    Dummy,
    /// A Linux bridge.
    Bridge {
        /// STP on/off (kernel default: off).
        stp: Option<bool>,
    },
    /// An 802.1q VLAN.
    Vlan {
        /// Parent interface name.
        base: String,
        /// VLAN id.
        id: u16,
    },
}

impl LinkSpec {
    /// The `IFLA_INFO_KIND` string.
    pub fn kind(&self) -> &'static str {
        match self {
            LinkSpec::Vrf { .. } => "vrf",
            LinkSpec::Veth { .. } => "veth",
            LinkSpec::Dummy => "dummy",
            LinkSpec::Bridge { .. } => "bridge",
            LinkSpec::Vlan { .. } => "vlan",
        }
    }
}

/// One change to the kernel.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Create a link.
    CreateLink {
        /// Name.
        name: String,
        /// Kind and parameters.
        spec: LinkSpec,
        /// Hardware address to give it (restoring a deleted link).
        mac: Option<Vec<u8>>,
        /// ifindex to ask for, and for a veth the peer's (restoring a deleted link).
        index: Option<(u32, Option<u32>)>,
    },
    /// Delete a link.
    DeleteLink {
        /// Name.
        name: String,
    },
    /// Make a link a port of a controller, or release it.
    SetMaster {
        /// Port.
        name: String,
        /// Controller (`None`: release).
        master: Option<String>,
    },
    /// Set the MTU.
    SetMtu {
        /// Link.
        name: String,
        /// New MTU.
        mtu: u32,
    },
    /// Set administrative state.
    SetUp {
        /// Link.
        name: String,
        /// Up or down.
        up: bool,
    },
    /// Set the hardware address (restoring a recreated link).
    SetMac {
        /// Link.
        name: String,
        /// The address.
        mac: Vec<u8>,
    },
    /// Set a bridge's STP on or off.
    SetStp {
        /// Bridge.
        name: String,
        /// On or off.
        on: bool,
    },
    /// Add an address (from a message when restoring, else built from `addr`).
    AddAddress {
        /// Interface.
        name: String,
        /// Address and prefix length.
        addr: IpNet,
        /// The exact message to send (restores), with the interface index to be filled in.
        msg: Option<AddressMessage>,
    },
    /// Delete an address.
    DelAddress {
        /// Interface.
        name: String,
        /// Address and prefix length.
        addr: IpNet,
    },
    /// Add a route.
    AddRoute {
        /// Human description.
        desc: String,
        /// The message (interface indexes already resolved).
        msg: RouteMessage,
    },
    /// Delete a route.
    DelRoute {
        /// Human description.
        desc: String,
        /// The message as dumped.
        msg: RouteMessage,
    },
    /// Add a rule.
    AddRule {
        /// Human description.
        desc: String,
        /// The message.
        msg: RuleMessage,
    },
    /// Delete a rule.
    DelRule {
        /// Human description.
        desc: String,
        /// The message as dumped.
        msg: RuleMessage,
    },
    /// Write a sysctl.
    SetSysctl {
        /// Which.
        key: SysctlKey,
        /// Value to write.
        value: String,
    },
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::CreateLink { name, spec, .. } => match spec {
                LinkSpec::Vrf { table } => write!(f, "create vrf {name} table {table}"),
                LinkSpec::Veth { peer } => write!(f, "create veth {name} peer {peer}"),
                LinkSpec::Vlan { base, id } => write!(f, "create vlan {name} on {base} id {id}"),
                other => write!(f, "create {} {name}", other.kind()),
            },
            Op::DeleteLink { name } => write!(f, "delete link {name}"),
            Op::SetMaster {
                name,
                master: Some(m),
            } => write!(f, "set {name} master {m}"),
            Op::SetMaster { name, master: None } => write!(f, "set {name} nomaster"),
            Op::SetMtu { name, mtu } => write!(f, "set {name} mtu {mtu}"),
            Op::SetUp { name, up } => {
                write!(f, "set {name} {}", if *up { "up" } else { "down" })
            }
            Op::SetMac { name, mac } => write!(
                f,
                "set {name} address {}",
                mac.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            ),
            Op::SetStp { name, on } => write!(f, "set bridge {name} stp {}", u8::from(*on)),
            Op::AddAddress { name, addr, .. } => write!(f, "add address {addr} dev {name}"),
            Op::DelAddress { name, addr } => write!(f, "delete address {addr} dev {name}"),
            Op::AddRoute { desc, .. } => write!(f, "add route {desc}"),
            Op::DelRoute { desc, .. } => write!(f, "delete route {desc}"),
            Op::AddRule { desc, .. } => write!(f, "add rule {desc}"),
            Op::DelRule { desc, .. } => write!(f, "delete rule {desc}"),
            Op::SetSysctl { key, value } => write!(f, "sysctl {key} = {value}"),
        }
    }
}

/// Path of interface `i` in the desired state.
fn ipath(i: usize) -> String {
    format!("interfaces[{i}]")
}

fn conflict(path: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Conflict {
        path: path.into(),
        reason: reason.into(),
    }
}

/// The kernel `IFLA_INFO_KIND` a desired type may match (`None`: no kind, e.g. a NIC).
pub(crate) fn kind_matches(kind: &InterfaceKind, link: &KLink) -> bool {
    let k = link.kind.as_deref();
    match kind {
        InterfaceKind::Unknown => true,
        InterfaceKind::Ethernet => !link.loopback && matches!(k, None | Some("veth")),
        InterfaceKind::Veth { .. } => k == Some("veth"),
        InterfaceKind::Dummy => k == Some("dummy"),
        InterfaceKind::LinuxBridge { .. } => k == Some("bridge"),
        InterfaceKind::Vlan { .. } => k == Some("vlan"),
        InterfaceKind::Vrf { .. } => k == Some("vrf"),
    }
}

/// Names of veth peers the desired state implies (kept even when not listed).
fn veth_peers(desired: &DesiredState) -> BTreeSet<String> {
    desired
        .interfaces
        .iter()
        .filter(|i| i.state != InterfaceState::Absent)
        .filter_map(|i| match &i.kind {
            InterfaceKind::Veth { peer: Some(p) } => Some(p.to_string()),
            _ => None,
        })
        .collect()
}

fn spec_of(iface: &Interface, i: usize) -> Result<Option<LinkSpec>> {
    Ok(match &iface.kind {
        InterfaceKind::Unknown => None,
        InterfaceKind::Ethernet => None,
        InterfaceKind::Veth { peer } => match peer {
            Some(p) => Some(LinkSpec::Veth {
                peer: p.to_string(),
            }),
            None => {
                return Err(conflict(
                    format!("{}.veth.peer", ipath(i)),
                    format!(
                        "veth {} does not exist; a peer name is needed to create it",
                        iface.name
                    ),
                ))
            }
        },
        InterfaceKind::Dummy => Some(LinkSpec::Dummy),
        InterfaceKind::LinuxBridge { stp, .. } => Some(LinkSpec::Bridge { stp: *stp }),
        InterfaceKind::Vlan { base_iface, id } => Some(LinkSpec::Vlan {
            base: base_iface.to_string(),
            id: id.get(),
        }),
        InterfaceKind::Vrf { table, .. } => Some(LinkSpec::Vrf { table: table.get() }),
    })
}

/// Stage 1: create missing links, delete absent and no-longer-desired links metalroute owns.
pub fn plan_links(
    desired: &DesiredState,
    cur: &KernelState,
    owned: &OwnedRecord,
) -> Result<Vec<Op>> {
    let mut deletes = Vec::new();
    let mut creates = Vec::new();
    let mut vlan_creates = Vec::new();
    let mut deleted: BTreeSet<String> = BTreeSet::new();
    for (i, iface) in desired.interfaces.iter().enumerate() {
        let name = iface.name.as_str();
        let link = cur.link(name);
        if iface.state == InterfaceState::Absent {
            if let Some(link) = link {
                if !owned.owns(name) {
                    return Err(conflict(
                        format!("{}.state", ipath(i)),
                        format!("refusing to delete {name}: metalroute did not create it"),
                    ));
                }
                if !kind_matches(&iface.kind, link) {
                    return Err(conflict(
                        format!("{}.type", ipath(i)),
                        format!(
                            "{name} is of kind {}, not {}",
                            link.kind.as_deref().unwrap_or("device"),
                            iface.kind.type_name().unwrap_or("?")
                        ),
                    ));
                }
                deletes.push(Op::DeleteLink {
                    name: name.to_string(),
                });
                deleted.insert(name.to_string());
            }
            continue;
        }
        match link {
            Some(link) => {
                if !kind_matches(&iface.kind, link) {
                    return Err(conflict(
                        format!("{}.type", ipath(i)),
                        format!(
                            "{name} exists as {}, not {}",
                            link.kind.as_deref().unwrap_or("a device without kind"),
                            iface.kind.type_name().unwrap_or("?")
                        ),
                    ));
                }
                let differs = match &iface.kind {
                    InterfaceKind::Vrf { table, .. } => {
                        (link.vrf_table != Some(table.get())).then(|| {
                            (
                                format!("{}.vrf.route-table-id", ipath(i)),
                                format!(
                                    "VRF {name} uses table {}, not {table}",
                                    link.vrf_table.unwrap_or(0)
                                ),
                            )
                        })
                    }
                    InterfaceKind::Vlan { base_iface, id } => {
                        let base_ok = link
                            .link
                            .map(|b| cur.name_of(b) == base_iface.as_str())
                            .unwrap_or(false);
                        (link.vlan_id != Some(id.get()) || !base_ok).then(|| {
                            (
                                format!("{}.vlan", ipath(i)),
                                format!(
                                    "VLAN {name} is id {} on {}, not id {} on {base_iface}",
                                    link.vlan_id.unwrap_or(0),
                                    link.link.map(|b| cur.name_of(b)).unwrap_or_default(),
                                    id.get()
                                ),
                            )
                        })
                    }
                    _ => None,
                };
                if let Some((path, reason)) = differs {
                    if !owned.owns(name) {
                        return Err(conflict(
                            path,
                            format!(
                                "{reason}; metalroute did not create it and will not change it"
                            ),
                        ));
                    }
                    deletes.push(Op::DeleteLink {
                        name: name.to_string(),
                    });
                    deleted.insert(name.to_string());
                    if let Some(spec) = spec_of(iface, i)? {
                        let op = Op::CreateLink {
                            name: name.to_string(),
                            spec,
                            mac: None,
                            index: None,
                        };
                        if matches!(iface.kind, InterfaceKind::Vlan { .. }) {
                            vlan_creates.push(op);
                        } else {
                            creates.push(op);
                        }
                    }
                }
            }
            None => match &iface.kind {
                InterfaceKind::Unknown | InterfaceKind::Ethernet => {
                    return Err(conflict(
                        format!("{}.name", ipath(i)),
                        format!(
                            "interface {name} does not exist{}",
                            if matches!(iface.kind, InterfaceKind::Ethernet) {
                                " (ethernet interfaces are never created)"
                            } else {
                                " and has no type to create it"
                            }
                        ),
                    ))
                }
                _ => {
                    let spec = spec_of(iface, i)?;
                    if let Some(LinkSpec::Veth { peer }) = &spec {
                        if cur.link(peer).is_some() {
                            return Err(conflict(
                                format!("{}.veth.peer", ipath(i)),
                                format!(
                                    "cannot create veth {name}: its peer {peer} already exists"
                                ),
                            ));
                        }
                        // The pair may be listed from both ends: create it once.
                        if creates.iter().any(|o| {
                            matches!(o, Op::CreateLink { name: n, spec: LinkSpec::Veth { peer: p }, .. }
                                if n == peer && p == name)
                        }) {
                            continue;
                        }
                    }
                    if let Some(spec) = spec {
                        let op = Op::CreateLink {
                            name: name.to_string(),
                            spec,
                            mac: None,
                            index: None,
                        };
                        if matches!(iface.kind, InterfaceKind::Vlan { .. }) {
                            vlan_creates.push(op);
                        } else {
                            creates.push(op);
                        }
                    }
                }
            },
        }
    }
    // Level-triggered: links metalroute created that the state no longer mentions go away.
    let peers = veth_peers(desired);
    for name in owned.links() {
        if desired.interface(name).is_some() || peers.contains(name) || deleted.contains(name) {
            continue;
        }
        let Some(link) = cur.link(name) else { continue };
        // A veth whose peer is still wanted stays (deleting one end deletes both).
        if link.kind.as_deref() == Some("veth")
            && link
                .link
                .and_then(|p| cur.link_by_index(p))
                .is_some_and(|p| desired.interface(&p.name).is_some() && !deleted.contains(&p.name))
        {
            continue;
        }
        deletes.push(Op::DeleteLink {
            name: name.to_string(),
        });
        deleted.insert(name.to_string());
    }
    // Deleting one end of a veth removes the other: do not delete twice.
    let mut seen_pairs = BTreeSet::new();
    deletes.retain(|op| {
        let Op::DeleteLink { name } = op else {
            return true;
        };
        if let Some(l) = cur.link(name) {
            if l.kind.as_deref() == Some("veth") {
                if let Some(p) = l.link.and_then(|p| cur.link_by_index(p)) {
                    if seen_pairs.contains(&p.name) {
                        return false;
                    }
                }
            }
        }
        seen_pairs.insert(name.clone());
        true
    });
    let mut ops = deletes;
    ops.extend(creates);
    ops.extend(vlan_creates);
    Ok(ops)
}

/// Stage 2: ports into their controllers, STP, MTU and administrative state.
pub fn plan_link_settings(desired: &DesiredState, cur: &KernelState) -> Result<Vec<Op>> {
    let mut masters = Vec::new();
    let mut rest = Vec::new();
    let mut ups = Vec::new();
    for (i, iface) in desired.interfaces.iter().enumerate() {
        if iface.state == InterfaceState::Absent {
            continue;
        }
        let name = iface.name.as_str();
        let Some(link) = cur.link(name) else {
            return Err(conflict(
                format!("{}.name", ipath(i)),
                format!("interface {name} does not exist"),
            ));
        };
        if let Some(ports) = iface.kind.ports() {
            let sec = if matches!(iface.kind, InterfaceKind::Vrf { .. }) {
                "vrf.port"
            } else {
                "bridge.port"
            };
            for (j, port) in ports.iter().enumerate() {
                let Some(p) = cur.link(port.as_str()) else {
                    return Err(conflict(
                        format!("{}.{sec}[{j}]", ipath(i)),
                        format!("port {port} of {name} does not exist"),
                    ));
                };
                if p.master != Some(link.index) {
                    masters.push(Op::SetMaster {
                        name: port.to_string(),
                        master: Some(name.to_string()),
                    });
                }
            }
            for p in cur.ports_of(link.index) {
                if !ports.iter().any(|n| n.as_str() == p.name) {
                    masters.push(Op::SetMaster {
                        name: p.name.clone(),
                        master: None,
                    });
                }
            }
        }
        if let InterfaceKind::LinuxBridge { stp: Some(on), .. } = iface.kind {
            if link.stp != Some(on) {
                rest.push(Op::SetStp {
                    name: name.to_string(),
                    on,
                });
            }
        }
        if let Some(mtu) = iface.mtu {
            if link.mtu != mtu {
                rest.push(Op::SetMtu {
                    name: name.to_string(),
                    mtu,
                });
            }
        }
        let up = iface.state == InterfaceState::Up;
        if link.up != up {
            ups.push(Op::SetUp {
                name: name.to_string(),
                up,
            });
        }
        // A veth created for this state brings its unlisted peer up with it.
        if let InterfaceKind::Veth { peer: Some(peer) } = &iface.kind {
            if up && desired.interface(peer.as_str()).is_none() {
                if let Some(pl) = cur.link(peer.as_str()) {
                    if !pl.up {
                        ups.push(Op::SetUp {
                            name: peer.to_string(),
                            up: true,
                        });
                    }
                }
            }
        }
    }
    let mut ops = masters;
    ops.extend(rest);
    ops.extend(ups);
    Ok(ops)
}

/// Stage 3: addresses. A given `address` list is the complete list for that family (IPv6
/// link-local addresses excepted); `enabled: false` means no address of the family.
pub fn plan_addresses(desired: &DesiredState, cur: &KernelState) -> Result<Vec<Op>> {
    let mut dels = Vec::new();
    let mut adds = Vec::new();
    for (i, iface) in desired.interfaces.iter().enumerate() {
        if iface.state == InterfaceState::Absent {
            continue;
        }
        let name = iface.name.as_str();
        let Some(link) = cur.link(name) else {
            return Err(conflict(
                format!("{}.name", ipath(i)),
                format!("interface {name} does not exist"),
            ));
        };
        for (fam, cfg) in [(Family::Ipv4, &iface.ipv4), (Family::Ipv6, &iface.ipv6)] {
            let Some(cfg) = cfg else { continue };
            let want: Vec<IpNet> = if cfg.enabled == Some(false) {
                Vec::new()
            } else if let Some(list) = &cfg.addresses {
                list.iter().map(|a| a.0).collect()
            } else {
                continue;
            };
            let have: Vec<IpNet> = cur
                .addresses_of(link.index)
                .filter(|a| !a.is_link_local() && Family::of_net(&a.addr) == fam)
                .map(|a| a.addr)
                .collect();
            // Secondaries before primaries, so deleting a primary never takes others with it.
            for a in have.iter().rev() {
                if !want.contains(a) {
                    dels.push(Op::DelAddress {
                        name: name.to_string(),
                        addr: *a,
                    });
                }
            }
            for a in &want {
                if !have.contains(a) {
                    adds.push(Op::AddAddress {
                        name: name.to_string(),
                        addr: *a,
                        msg: None,
                    });
                }
            }
        }
    }
    dels.extend(adds);
    Ok(dels)
}

/// A route as metalroute wants it in the kernel (one per multipath group).
#[derive(Debug, Clone, PartialEq)]
pub struct WantRoute {
    /// Index of the first `routes.config` entry of the group (`None` for derived routes).
    pub source: Option<usize>,
    /// Table.
    pub table: u32,
    /// Destination.
    pub dst: IpNet,
    /// Metric as the kernel stores it.
    pub metric: u32,
    /// Route type.
    pub kind: KRouteType,
    /// Next hops: (gateway, interface name, weight).
    pub hops: Vec<(Option<IpAddr>, Option<String>, u16)>,
    /// Preferred source.
    pub prefsrc: Option<IpAddr>,
}

impl fmt::Display for WantRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            KRouteType::Unicast => write!(f, "{}", self.dst)?,
            other => write!(f, "{} {}", route_type_name(other), self.dst)?,
        }
        for (gw, dev, w) in &self.hops {
            if self.hops.len() > 1 {
                write!(f, " nexthop")?;
            }
            if let Some(gw) = gw {
                write!(f, " via {gw}")?;
            }
            if let Some(dev) = dev {
                write!(f, " dev {dev}")?;
            }
            if self.hops.len() > 1 {
                write!(f, " weight {w}")?;
            }
        }
        if let Some(s) = self.prefsrc {
            write!(f, " src {s}")?;
        }
        write!(f, " table {} metric {}", self.table, self.metric)
    }
}

/// `ip route` name of a route type.
pub fn route_type_name(t: KRouteType) -> &'static str {
    match t {
        KRouteType::Unicast => "unicast",
        KRouteType::Local => "local",
        KRouteType::Broadcast => "broadcast",
        KRouteType::Anycast => "anycast",
        KRouteType::Multicast => "multicast",
        KRouteType::BlackHole => "blackhole",
        KRouteType::Unreachable => "unreachable",
        KRouteType::Prohibit => "prohibit",
        KRouteType::Throw => "throw",
        _ => "other",
    }
}

fn kroute_type(t: Option<RouteType>) -> KRouteType {
    match t {
        None => KRouteType::Unicast,
        Some(RouteType::Blackhole) => KRouteType::BlackHole,
        Some(RouteType::Unreachable) => KRouteType::Unreachable,
        Some(RouteType::Prohibit) => KRouteType::Prohibit,
    }
}

/// The routes the state wants, grouped into multipath routes, plus the `unreachable default`
/// of every VRF table (unless an absent entry removes it).
pub fn wanted_routes(desired: &DesiredState) -> Vec<WantRoute> {
    let mut out: Vec<WantRoute> = Vec::new();
    for (i, r) in desired.routes.iter().enumerate() {
        let kind = kroute_type(r.route_type);
        let hop = (
            r.next_hop_address,
            r.next_hop_interface.as_ref().map(|n| n.to_string()),
            r.weight.unwrap_or(1),
        );
        if let Some(w) = out.iter_mut().find(|w| {
            w.table == r.table.get()
                && w.dst == r.destination
                && w.metric == r.effective_metric()
                && kind == KRouteType::Unicast
                && w.kind == KRouteType::Unicast
        }) {
            w.hops.push(hop);
            continue;
        }
        out.push(WantRoute {
            source: Some(i),
            table: r.table.get(),
            dst: r.destination,
            metric: r.effective_metric(),
            kind,
            hops: if kind == KRouteType::Unicast {
                vec![hop]
            } else {
                Vec::new()
            },
            prefsrc: r.source,
        });
    }
    for iface in &desired.interfaces {
        let InterfaceKind::Vrf { table, .. } = iface.kind else {
            continue;
        };
        if iface.state == InterfaceState::Absent {
            continue;
        }
        for dst in ["0.0.0.0/0", "::/0"] {
            let Ok(dst) = dst.parse::<IpNet>() else {
                continue;
            };
            let derived = Route {
                destination: dst,
                next_hop_interface: None,
                next_hop_address: None,
                metric: Some(VRF_UNREACHABLE_METRIC),
                table,
                weight: None,
                route_type: Some(RouteType::Unreachable),
                source: None,
            };
            if desired
                .absent_routes
                .iter()
                .any(|s| crate::selectors::route_selector_matches_desired(s, &derived))
            {
                continue;
            }
            if out.iter().any(|w| {
                w.table == table.get() && w.dst == dst && w.metric == VRF_UNREACHABLE_METRIC
            }) {
                continue;
            }
            out.push(WantRoute {
                source: None,
                table: table.get(),
                dst,
                metric: VRF_UNREACHABLE_METRIC,
                kind: KRouteType::Unreachable,
                hops: Vec::new(),
                prefsrc: None,
            });
        }
    }
    out
}

/// Whether kernel route `k` is exactly the wanted route `w`.
pub fn route_matches(w: &WantRoute, k: &KRoute, cur: &KernelState) -> bool {
    if k.table != w.table
        || k.dst != w.dst
        || k.metric != w.metric
        || k.kind != w.kind
        || k.tos != 0
        || k.prefsrc != w.prefsrc
    {
        return false;
    }
    if w.kind != KRouteType::Unicast {
        return true;
    }
    if k.hops.len() != w.hops.len() {
        return false;
    }
    let have: Vec<(Option<IpAddr>, Option<String>, u16)> = k
        .hops
        .iter()
        .map(|h| (h.gateway, h.oif.map(|i| cur.name_of(i)), h.weight))
        .collect();
    // Each wanted hop takes a distinct kernel hop; a wanted hop without interface matches
    // whatever interface the kernel resolved.
    let mut used = vec![false; have.len()];
    w.hops.iter().all(|(gw, dev, weight)| {
        let found = have.iter().enumerate().position(|(j, h)| {
            !used[j] && h.0 == *gw && h.2 == *weight && (dev.is_none() || h.1 == *dev)
        });
        match found {
            Some(j) => {
                used[j] = true;
                true
            }
            None => false,
        }
    })
}

/// Whether two routes occupy the same kernel slot (so that one cannot be added beside the other).
fn same_slot(w: &WantRoute, k: &KRoute) -> bool {
    k.table == w.table && k.dst == w.dst && k.metric == w.metric && k.tos == 0
}

/// Builds the netlink message for a wanted route.
pub fn route_message(w: &WantRoute, cur: &KernelState) -> Result<RouteMessage> {
    crate::msg::route(w, cur)
}

/// Stage 4: routes. Owned routes the state does not want are deleted, missing ones added;
/// routes of other owners are never touched (a conflicting one is an error).
pub fn plan_routes(desired: &DesiredState, cur: &KernelState) -> Result<(Vec<Op>, Vec<String>)> {
    let wants = wanted_routes(desired);
    let mut warnings = Vec::new();
    let mut dels = Vec::new();
    let mut adds = Vec::new();
    for k in cur.routes.iter().filter(|k| k.is_ours()) {
        if !wants.iter().any(|w| route_matches(w, k, cur)) {
            dels.push(Op::DelRoute {
                desc: describe_kroute(k, cur),
                msg: k.msg.clone(),
            });
        }
    }
    for w in &wants {
        if cur.routes.iter().any(|k| route_matches(w, k, cur)) {
            continue;
        }
        let path = w.source.map_or_else(
            || "routes.config".to_string(),
            |i| format!("routes.config[{i}]"),
        );
        if let Some(k) = cur.routes.iter().find(|k| {
            !k.is_ours() && same_slot(w, k) && Family::of_net(&k.dst) == Family::of_net(&w.dst)
        }) {
            return Err(conflict(
                path,
                format!(
                    "route {w} conflicts with {} (protocol {}), which metalroute does not own",
                    describe_kroute(k, cur),
                    k.protocol
                ),
            ));
        }
        for (gw, dev, _) in &w.hops {
            if let Some(dev) = dev {
                if cur.link(dev).is_none() {
                    return Err(conflict(
                        format!("{path}.next-hop-interface"),
                        format!("interface {dev} does not exist"),
                    ));
                }
            }
            if gw.is_none() && dev.is_none() {
                return Err(conflict(path.clone(), "route without next hop"));
            }
        }
        adds.push(Op::AddRoute {
            desc: w.to_string(),
            msg: route_message(w, cur)?,
        });
    }
    for (i, s) in desired.absent_routes.iter().enumerate() {
        for k in cur.routes.iter().filter(|k| !k.is_ours()) {
            if crate::selectors::route_selector_matches_kernel(s, k, cur) && !is_kernel_route(k) {
                warnings.push(format!(
                    "routes.config (absent #{i}) matches {} (protocol {}), which metalroute does not own; left in place",
                    describe_kroute(k, cur),
                    k.protocol
                ));
            }
        }
    }
    dels.extend(adds);
    Ok((dels, warnings))
}

fn is_kernel_route(k: &KRoute) -> bool {
    k.protocol == 2
}

/// `ip route`-like description of a kernel route.
pub fn describe_kroute(k: &KRoute, cur: &KernelState) -> String {
    let w = WantRoute {
        source: None,
        table: k.table,
        dst: k.dst,
        metric: k.metric,
        kind: k.kind,
        hops: k
            .hops
            .iter()
            .map(|h| (h.gateway, h.oif.map(|i| cur.name_of(i)), h.weight))
            .collect(),
        prefsrc: k.prefsrc,
    };
    w.to_string()
}

/// A rule as metalroute wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct WantRule {
    /// Index in `route-rules.config` of the (first) entry.
    pub source: usize,
    /// The desired rule.
    pub rule: RouteRule,
}

fn want_mask(r: &RouteRule) -> Option<u32> {
    match (r.fwmark, r.fwmask) {
        (Some(_), None) => Some(u32::MAX),
        (_, m) => m,
    }
}

fn family_af(f: Family) -> AddressFamily {
    match f {
        Family::Ipv4 => AddressFamily::Inet,
        Family::Ipv6 => AddressFamily::Inet6,
    }
}

/// Whether kernel rule `k` is the wanted rule `r`.
pub fn rule_matches(r: &RouteRule, k: &KRule) -> bool {
    let action = match r.action {
        None => KRuleAction::ToTable,
        Some(RuleAction::Blackhole) => KRuleAction::Blackhole,
        Some(RuleAction::Unreachable) => KRuleAction::Unreachable,
        Some(RuleAction::Prohibit) => KRuleAction::Prohibit,
    };
    k.family == family_af(r.family)
        && r.priority.is_none_or(|p| p == k.priority)
        && k.action == action
        && (r.action.is_some() || r.table.map(RouteTableId::get) == Some(k.table))
        && k.src == r.ip_from
        && k.dst == r.ip_to
        && k.iif.as_deref() == r.iif.as_ref().map(|n| n.as_str())
        && k.oif.is_none()
        && k.fwmark == r.fwmark
        && k.fwmask == want_mask(r)
        && !k.l3mdev
        && !k.other_selectors
}

/// `ip rule`-like description of a desired rule.
pub fn describe_rule(r: &RouteRule) -> String {
    let mut s = String::new();
    if let Some(p) = r.priority {
        s.push_str(&format!("{p}: "));
    }
    s.push_str(&format!(
        "{} from {}",
        r.family.as_str(),
        r.ip_from.map_or("all".into(), |n| n.to_string())
    ));
    if let Some(t) = r.ip_to {
        s.push_str(&format!(" to {t}"));
    }
    if let Some(m) = r.fwmark {
        s.push_str(&format!(" fwmark {m:#x}"));
        if let Some(mask) = r.fwmask {
            s.push_str(&format!("/{mask:#x}"));
        }
    }
    if let Some(i) = &r.iif {
        s.push_str(&format!(" iif {i}"));
    }
    match (r.action, r.table) {
        (Some(a), _) => s.push_str(&format!(" {}", a.as_str())),
        (None, Some(t)) => s.push_str(&format!(" lookup {t}")),
        (None, None) => {}
    }
    s
}

/// `ip rule`-like description of a kernel rule.
pub fn describe_krule(k: &KRule) -> String {
    let fam = if k.family == AddressFamily::Inet6 {
        "ipv6"
    } else {
        "ipv4"
    };
    let mut s = format!(
        "{}: {fam} from {}",
        k.priority,
        k.src.map_or("all".into(), |n| n.to_string())
    );
    if let Some(t) = k.dst {
        s.push_str(&format!(" to {t}"));
    }
    if let Some(m) = k.fwmark {
        s.push_str(&format!(" fwmark {m:#x}"));
    }
    if let Some(i) = &k.iif {
        s.push_str(&format!(" iif {i}"));
    }
    if k.l3mdev {
        s.push_str(" lookup [l3mdev-table]");
    } else {
        match k.action {
            KRuleAction::ToTable => s.push_str(&format!(" lookup {}", k.table)),
            other => s.push_str(&format!(" {other:?}").to_lowercase()),
        }
    }
    s
}

/// Stage 5: rules. Owned rules the state does not want are deleted and missing ones added;
/// a wanted priority already used by a rule of another owner is refused.
pub fn plan_rules(desired: &DesiredState, cur: &KernelState) -> Result<(Vec<Op>, Vec<String>)> {
    let mut warnings = Vec::new();
    let mut wants: Vec<WantRule> = Vec::new();
    for (i, r) in desired.route_rules.iter().enumerate() {
        if !wants.iter().any(|w| w.rule == *r) {
            wants.push(WantRule {
                source: i,
                rule: r.clone(),
            });
        }
    }
    let mut dels = Vec::new();
    let mut adds = Vec::new();
    for k in cur.rules.iter().filter(|k| k.is_ours()) {
        if !wants.iter().any(|w| rule_matches(&w.rule, k)) {
            dels.push(Op::DelRule {
                desc: describe_krule(k),
                msg: k.msg.clone(),
            });
        }
    }
    for w in &wants {
        if cur.rules.iter().any(|k| rule_matches(&w.rule, k)) {
            continue;
        }
        if let Some(p) = w.rule.priority {
            if let Some(k) = cur.rules.iter().find(|k| {
                !k.is_ours()
                    && k.priority == p
                    && k.family == family_af(w.rule.family)
                    && !wants.iter().any(|w2| rule_matches(&w2.rule, k))
            }) {
                return Err(conflict(
                    format!("route-rules.config[{}].priority", w.source),
                    format!(
                        "priority {p} is already used by rule \"{}\" (protocol {}), which metalroute does not own",
                        describe_krule(k),
                        k.protocol
                    ),
                ));
            }
        }
        adds.push(Op::AddRule {
            desc: describe_rule(&w.rule),
            msg: crate::msg::rule(&w.rule),
        });
    }
    for (i, s) in desired.absent_route_rules.iter().enumerate() {
        for k in cur.rules.iter().filter(|k| !k.is_ours()) {
            if crate::selectors::rule_selector_matches_kernel(s, k) {
                warnings.push(format!(
                    "route-rules.config (absent #{i}) matches rule \"{}\" (protocol {}), which metalroute does not own; left in place",
                    describe_krule(k),
                    k.protocol
                ));
            }
        }
    }
    dels.extend(adds);
    Ok((dels, warnings))
}

/// Stage 6: sysctls whose current value differs (`current`: value read per key; `None` when
/// the file does not exist).
pub fn plan_sysctls(
    wanted: &[metalroute_crds::nmstate::SysctlSetting],
    current: &BTreeMap<SysctlKey, Option<String>>,
) -> Vec<Op> {
    wanted
        .iter()
        .filter(|s| {
            current
                .get(&s.key)
                .and_then(|v| v.as_deref())
                .map(str::trim)
                != Some(s.value.to_string().as_str())
        })
        .map(|s| Op::SetSysctl {
            key: s.key.clone(),
            value: s.value.to_string(),
        })
        .collect()
}

/// Whether the kernel holds exactly what the routes/rules stages want (used by drift detection
/// and tests): every stage plan is empty.
pub fn converged(desired: &DesiredState, cur: &KernelState, owned: &OwnedRecord) -> Result<bool> {
    Ok(plan_links(desired, cur, owned)?.is_empty()
        && plan_link_settings(desired, cur)?.is_empty()
        && plan_addresses(desired, cur)?.is_empty()
        && plan_routes(desired, cur)?.0.is_empty()
        && plan_rules(desired, cur)?.0.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{KNextHop, METALROUTE_PROTOCOL};
    use metalroute_crds::nmstate::parse_desired_state;
    use netlink_packet_route::rule::RuleMessage;

    fn desired(v: serde_json::Value) -> DesiredState {
        let (s, p) = parse_desired_state(&v);
        assert!(p.is_empty(), "{p:?}");
        s.unwrap()
    }

    fn link(index: u32, name: &str, kind: Option<&str>) -> KLink {
        KLink {
            index,
            name: name.into(),
            kind: kind.map(Into::into),
            vrf_table: None,
            vlan_id: None,
            link: None,
            stp: None,
            master: None,
            mtu: 1500,
            up: true,
            loopback: false,
            mac: None,
        }
    }

    fn kroute(table: u32, dst: &str, metric: u32, protocol: u8, hops: Vec<KNextHop>) -> KRoute {
        KRoute {
            table,
            dst: dst.parse().unwrap(),
            tos: 0,
            metric,
            protocol,
            kind: KRouteType::Unicast,
            hops,
            prefsrc: None,
            msg: RouteMessage::default(),
        }
    }

    fn hop(gw: &str, oif: u32, weight: u16) -> KNextHop {
        KNextHop {
            gateway: Some(gw.parse().unwrap()),
            oif: Some(oif),
            weight,
        }
    }

    #[test]
    fn multipath_groups_and_vrf_unreachable_defaults() {
        let d = desired(serde_json::json!({
            "interfaces": [{"name": "blue", "type": "vrf", "vrf": {"route-table-id": 10}}],
            "routes": {"config": [
                {"destination": "203.0.113.0/24", "next-hop-address": "192.0.2.2", "next-hop-interface": "e0", "table-id": 10},
                {"destination": "203.0.113.0/24", "next-hop-address": "192.0.2.3", "next-hop-interface": "e0", "table-id": 10, "weight": 2}
            ]}
        }));
        let w = wanted_routes(&d);
        assert_eq!(w.len(), 3, "{w:?}");
        assert_eq!(w[0].hops.len(), 2);
        assert!(w[1..].iter().all(|r| r.kind == KRouteType::Unreachable
            && r.metric == VRF_UNREACHABLE_METRIC
            && r.table == 10));
        // An absent entry for the VRF table's default removes the derived route.
        let d2 = desired(serde_json::json!({
            "interfaces": [{"name": "blue", "type": "vrf", "vrf": {"route-table-id": 10}}],
            "routes": {"config": [{"state": "absent", "destination": "0.0.0.0/0", "table-id": 10}]}
        }));
        let w2 = wanted_routes(&d2);
        assert_eq!(w2.len(), 1);
        assert_eq!(w2[0].dst.to_string(), "::/0");
    }

    #[test]
    fn converged_routes_plan_nothing_and_stale_owned_ones_go() {
        let d = desired(serde_json::json!({
            "routes": {"config": [
                {"destination": "203.0.113.0/24", "next-hop-address": "192.0.2.2", "next-hop-interface": "e0", "table-id": 10},
                {"destination": "203.0.113.0/24", "next-hop-address": "192.0.2.3", "next-hop-interface": "e0", "table-id": 10, "weight": 2}
            ]}
        }));
        let mut cur = KernelState {
            links: vec![link(2, "e0", None)],
            ..KernelState::default()
        };
        // Kernel hop order differs from the state's: still converged.
        cur.routes.push(kroute(
            10,
            "203.0.113.0/24",
            0,
            METALROUTE_PROTOCOL,
            vec![hop("192.0.2.3", 2, 2), hop("192.0.2.2", 2, 1)],
        ));
        let (ops, _) = plan_routes(&d, &cur).unwrap();
        assert!(ops.is_empty(), "{ops:?}");
        // An owned route the state does not want is deleted; a foreign one is not.
        cur.routes.push(kroute(
            10,
            "198.51.100.0/24",
            0,
            METALROUTE_PROTOCOL,
            vec![hop("192.0.2.2", 2, 1)],
        ));
        cur.routes.push(kroute(
            10,
            "198.51.100.128/25",
            0,
            4,
            vec![hop("192.0.2.2", 2, 1)],
        ));
        let (ops, _) = plan_routes(&d, &cur).unwrap();
        assert_eq!(ops.len(), 1);
        assert!(
            matches!(&ops[0], Op::DelRoute { desc, .. } if desc.starts_with("198.51.100.0/24"))
        );
    }

    #[test]
    fn a_foreign_route_in_the_same_slot_is_a_conflict() {
        let d = desired(serde_json::json!({
            "routes": {"config": [{"destination": "203.0.113.0/24", "next-hop-address": "192.0.2.2", "next-hop-interface": "e0", "table-id": 10}]}
        }));
        let cur = KernelState {
            links: vec![link(2, "e0", None)],
            routes: vec![kroute(
                10,
                "203.0.113.0/24",
                0,
                4,
                vec![hop("192.0.2.9", 2, 1)],
            )],
            ..KernelState::default()
        };
        let err = plan_routes(&d, &cur).unwrap_err();
        assert!(err.to_string().starts_with("routes.config[0]: "), "{err}");
        assert!(err.to_string().contains("does not own"), "{err}");
    }

    #[test]
    fn rule_priority_held_by_a_foreign_rule_is_refused() {
        let d = desired(serde_json::json!({
            "route-rules": {"config": [{"ip-to": "172.30.0.0/16", "priority": 998, "route-table": 254}]}
        }));
        let mut foreign = KRule::from_message(&RuleMessage::default());
        foreign.family = AddressFamily::Inet;
        foreign.priority = 998;
        foreign.table = 77;
        let cur = KernelState {
            rules: vec![foreign],
            ..KernelState::default()
        };
        let err = plan_rules(&d, &cur).unwrap_err();
        assert!(
            err.to_string().contains("route-rules.config[0].priority"),
            "{err}"
        );
        let (ops, _) = plan_rules(&d, &KernelState::default()).unwrap();
        assert!(
            matches!(&ops[..], [Op::AddRule { desc, .. }] if desc == "998: ipv4 from all to 172.30.0.0/16 lookup 254")
        );
    }

    #[test]
    fn links_are_created_once_per_veth_pair_and_foreign_ones_kept() {
        let d = desired(serde_json::json!({"interfaces": [
            {"name": "a0", "type": "veth", "veth": {"peer": "a1"}},
            {"name": "a1", "type": "veth", "veth": {"peer": "a0"}},
            {"name": "v5", "type": "vlan", "vlan": {"base-iface": "a0", "id": 5}}
        ]}));
        let ops = plan_links(&d, &KernelState::default(), &OwnedRecord::in_memory()).unwrap();
        let names: Vec<String> = ops.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            vec!["create veth a0 peer a1", "create vlan v5 on a0 id 5"]
        );
        // A foreign VRF with another table is not changed.
        let d = desired(serde_json::json!({"interfaces": [
            {"name": "blue", "type": "vrf", "vrf": {"route-table-id": 10}}
        ]}));
        let mut blue = link(3, "blue", Some("vrf"));
        blue.vrf_table = Some(11);
        let cur = KernelState {
            links: vec![blue],
            ..KernelState::default()
        };
        let err = plan_links(&d, &cur, &OwnedRecord::in_memory()).unwrap_err();
        assert!(err.to_string().contains("will not change it"), "{err}");
        let mut owned = OwnedRecord::in_memory();
        owned.insert("blue");
        let ops = plan_links(&d, &cur, &owned).unwrap();
        assert_eq!(ops.len(), 2, "{ops:?}");
    }
}
