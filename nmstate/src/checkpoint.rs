//! Checkpoints: before an apply, the kernel state of everything the desired state can touch is
//! saved; restoring plans the operations that bring the kernel back to it exactly (recreating
//! deleted links with their hardware address, putting addresses back in their order, re-adding
//! routes the kernel flushed as a side effect). Kernel-created objects — the l3mdev rule a first
//! VRF adds, routes with protocol kernel — are never deleted or re-added: they are not ours.
//! Planning is pure; the applier executes it stage by stage like an apply.

use crate::kernel::{normalize_address, normalize_route, normalize_rule, KLink, KernelState};
use crate::plan::{describe_kroute, describe_krule, LinkSpec, Op};
use metalroute_crds::nmstate::{DesiredState, InterfaceKind, SysctlKey};
use netlink_packet_route::route::{RouteAttribute, RouteMessage};
use netlink_packet_route::rule::RuleMessage;
use std::collections::{BTreeMap, BTreeSet};

/// What an apply may touch: interfaces by name and routing tables.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// Interface names.
    pub links: BTreeSet<String>,
    /// Table ids.
    pub tables: BTreeSet<u32>,
}

/// Everything needed to put the kernel back as it was.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The kernel state before the apply.
    pub state: KernelState,
    /// Sysctl values before the apply (`None`: did not exist).
    pub sysctls: BTreeMap<SysctlKey, Option<String>>,
    /// The ownership record before the apply.
    pub owned: BTreeSet<String>,
    /// What the apply may touch.
    pub scope: Scope,
}

/// The interfaces and tables an apply of `desired` can touch, given the current state and the
/// links metalroute owns (which it may delete).
pub fn scope_of(desired: &DesiredState, cur: &KernelState, owned: &BTreeSet<String>) -> Scope {
    let mut s = Scope::default();
    for iface in &desired.interfaces {
        s.links.insert(iface.name.to_string());
        match &iface.kind {
            InterfaceKind::Veth { peer: Some(p) } => {
                s.links.insert(p.to_string());
            }
            InterfaceKind::Vlan { base_iface, .. } => {
                s.links.insert(base_iface.to_string());
            }
            InterfaceKind::Vrf { table, .. } => {
                s.tables.insert(table.get());
            }
            _ => {}
        }
        if let Some(ports) = iface.kind.ports() {
            s.links.extend(ports.iter().map(|p| p.to_string()));
        }
        if let Some(l) = cur.link(iface.name.as_str()) {
            // Current ports may be released; a VRF's table may be flushed.
            s.links
                .extend(cur.ports_of(l.index).map(|p| p.name.clone()));
            if let Some(t) = l.vrf_table {
                s.tables.insert(t);
            }
            if let Some(peer) = l.link.and_then(|p| cur.link_by_index(p)) {
                if l.kind.as_deref() == Some("veth") {
                    s.links.insert(peer.name.clone());
                }
            }
        }
    }
    for name in owned {
        s.links.insert(name.clone());
        if let Some(l) = cur.link(name) {
            s.links
                .extend(cur.ports_of(l.index).map(|p| p.name.clone()));
            if let Some(t) = l.vrf_table {
                s.tables.insert(t);
            }
            if let Some(peer) = l.link.and_then(|p| cur.link_by_index(p)) {
                s.links.insert(peer.name.clone());
            }
        }
    }
    for r in &desired.routes {
        s.tables.insert(r.table.get());
        if let Some(n) = &r.next_hop_interface {
            s.links.insert(n.to_string());
        }
    }
    for r in &desired.absent_routes {
        if let Some(t) = r.table {
            s.tables.insert(t.get());
        }
    }
    for r in &desired.route_rules {
        if let Some(n) = &r.iif {
            s.links.insert(n.to_string());
        }
    }
    s
}

fn spec_from_link(l: &KLink, state: &KernelState) -> Option<LinkSpec> {
    match l.kind.as_deref()? {
        "vrf" => Some(LinkSpec::Vrf {
            table: l.vrf_table?,
        }),
        "dummy" => Some(LinkSpec::Dummy),
        "bridge" => Some(LinkSpec::Bridge { stp: l.stp }),
        "vlan" => Some(LinkSpec::Vlan {
            base: state.name_of(l.link?),
            id: l.vlan_id?,
        }),
        "veth" => Some(LinkSpec::Veth {
            peer: state.name_of(l.link?),
        }),
        _ => None,
    }
}

fn same_link_identity(a: &KLink, b: &KLink, sa: &KernelState, sb: &KernelState) -> bool {
    a.kind == b.kind
        && a.vrf_table == b.vrf_table
        && a.vlan_id == b.vlan_id
        && (a.kind.as_deref() != Some("vlan")
            || a.link.map(|x| sa.name_of(x)) == b.link.map(|x| sb.name_of(x)))
}

/// Restore stage 1: delete links created since the checkpoint, recreate deleted ones.
/// Returns the operations and what cannot be restored.
pub fn restore_links(cp: &Checkpoint, cur: &KernelState) -> (Vec<Op>, Vec<String>) {
    let mut dels = Vec::new();
    let mut creates = Vec::new();
    let mut vlans = Vec::new();
    let mut problems = Vec::new();
    let mut gone: BTreeSet<String> = BTreeSet::new();
    for l in &cur.links {
        if !cp.scope.links.contains(&l.name) && !cp.owned.contains(&l.name) {
            continue;
        }
        let remove = match cp.state.link(&l.name) {
            // Created since the checkpoint (only names in scope can have been).
            None => true,
            // Recreated with other parameters.
            Some(b) => !same_link_identity(b, l, &cp.state, cur),
        };
        if remove && !gone.contains(&l.name) {
            gone.insert(l.name.clone());
            if l.kind.as_deref() == Some("veth") {
                if let Some(p) = l.link.and_then(|p| cur.link_by_index(p)) {
                    gone.insert(p.name.clone());
                }
            }
            dels.push(Op::DeleteLink {
                name: l.name.clone(),
            });
        }
    }
    let mut created: BTreeSet<String> = BTreeSet::new();
    for l in &cp.state.links {
        if !cp.scope.links.contains(&l.name) && !cp.owned.contains(&l.name) {
            continue;
        }
        let exists = cur.link(&l.name).is_some() && !gone.contains(&l.name);
        if exists || created.contains(&l.name) {
            continue;
        }
        match spec_from_link(l, &cp.state) {
            Some(spec) => {
                if let LinkSpec::Veth { peer } = &spec {
                    created.insert(peer.clone());
                }
                created.insert(l.name.clone());
                // Ask for the old ifindexes (free again, as the links are gone), so the
                // restored links sort and read exactly as before.
                let peer_index = match &spec {
                    LinkSpec::Veth { peer } => cp.state.link(peer).map(|p| p.index),
                    _ => None,
                };
                let op = Op::CreateLink {
                    name: l.name.clone(),
                    spec: spec.clone(),
                    mac: l.mac.clone(),
                    index: Some((l.index, peer_index)),
                };
                if matches!(spec, LinkSpec::Vlan { .. }) {
                    vlans.push(op);
                } else {
                    creates.push(op);
                }
            }
            None => problems.push(format!(
                "link {} ({}) is gone and cannot be recreated",
                l.name,
                l.kind.as_deref().unwrap_or("device")
            )),
        }
    }
    dels.extend(creates);
    dels.extend(vlans);
    (dels, problems)
}

/// Restore stage 2: masters, STP, MTU, hardware address of recreated links, admin state.
pub fn restore_link_settings(cp: &Checkpoint, cur: &KernelState) -> Vec<Op> {
    let mut release = Vec::new();
    let mut enslave = Vec::new();
    let mut rest = Vec::new();
    let mut ups = Vec::new();
    for b in &cp.state.links {
        if !cp.scope.links.contains(&b.name) && !cp.owned.contains(&b.name) {
            continue;
        }
        let Some(c) = cur.link(&b.name) else { continue };
        let want_master = b.master.map(|m| cp.state.name_of(m));
        let have_master = c.master.map(|m| cur.name_of(m));
        if want_master != have_master {
            let op = Op::SetMaster {
                name: b.name.clone(),
                master: want_master.clone(),
            };
            if want_master.is_none() {
                release.push(op);
            } else {
                enslave.push(op);
            }
        }
        if b.kind.as_deref() == Some("bridge") {
            if let Some(on) = b.stp {
                if c.stp != Some(on) {
                    rest.push(Op::SetStp {
                        name: b.name.clone(),
                        on,
                    });
                }
            }
        }
        let software = matches!(
            b.kind.as_deref(),
            Some("veth" | "dummy" | "bridge" | "vlan" | "vrf")
        );
        if software && b.mac.is_some() && b.mac != c.mac {
            if let Some(mac) = &b.mac {
                rest.push(Op::SetMac {
                    name: b.name.clone(),
                    mac: mac.clone(),
                });
            }
        }
        if b.mtu != c.mtu && b.mtu != 0 {
            rest.push(Op::SetMtu {
                name: b.name.clone(),
                mtu: b.mtu,
            });
        }
        if b.up != c.up {
            ups.push(Op::SetUp {
                name: b.name.clone(),
                up: b.up,
            });
        }
    }
    release.extend(enslave);
    release.extend(rest);
    release.extend(ups);
    release
}

/// Restore stage 3: addresses of interfaces in scope, in their original order.
pub fn restore_addresses(cp: &Checkpoint, cur: &KernelState) -> Vec<Op> {
    let mut dels = Vec::new();
    let mut adds = Vec::new();
    for b in &cp.state.links {
        if !cp.scope.links.contains(&b.name) && !cp.owned.contains(&b.name) {
            continue;
        }
        let Some(c) = cur.link(&b.name) else { continue };
        for v6 in [false, true] {
            let before: Vec<_> = cp
                .state
                .addresses_of(b.index)
                .filter(|a| a.addr.addr().is_ipv6() == v6 && !a.is_link_local())
                .collect();
            let now: Vec<_> = cur
                .addresses_of(c.index)
                .filter(|a| a.addr.addr().is_ipv6() == v6 && !a.is_link_local())
                .collect();
            let mut k = 0;
            while k < before.len()
                && k < now.len()
                && before[k].addr == now[k].addr
                && normalize_address(&before[k].msg).attributes
                    == normalize_address(&now[k].msg).attributes
            {
                k += 1;
            }
            for a in now[k..].iter().rev() {
                dels.push(Op::DelAddress {
                    name: b.name.clone(),
                    addr: a.addr,
                });
            }
            for a in &before[k..] {
                adds.push(Op::AddAddress {
                    name: b.name.clone(),
                    addr: a.addr,
                    msg: Some(normalize_address(&a.msg)),
                });
            }
        }
    }
    dels.extend(adds);
    dels
}

/// Rewrites interface indexes of a checkpointed route to the current ones (links may have been
/// recreated with new indexes). `None` when an interface no longer exists.
fn remap_route(m: &RouteMessage, cp: &KernelState, cur: &KernelState) -> Option<RouteMessage> {
    let map = |i: u32| -> Option<u32> {
        let name = cp.link_by_index(i)?.name.clone();
        cur.link(&name).map(|l| l.index)
    };
    let mut n = normalize_route(m);
    for a in &mut n.attributes {
        match a {
            RouteAttribute::Oif(i) | RouteAttribute::Iif(i) => *i = map(*i)?,
            RouteAttribute::MultiPath(hops) => {
                for h in hops {
                    h.interface_index = map(h.interface_index)?;
                }
            }
            _ => {}
        }
    }
    Some(n)
}

/// Restore stage 4: routes. Routes added since the checkpoint that are ours or go through an
/// interface/table in scope are deleted; checkpointed routes of that kind that are missing are
/// added back exactly (protocol, scope, type, metric, ...).
pub fn restore_routes(cp: &Checkpoint, cur: &KernelState) -> (Vec<Op>, Vec<String>) {
    // Routes the kernel generates (for addresses and links) come back by themselves once
    // links and addresses are restored, possibly a moment later: never add or delete them.
    let in_scope_idx = |st: &KernelState, r: &crate::kernel::KRoute| {
        !crate::kernel::is_kernel_generated(r)
            && (r.is_ours()
                || cp.scope.tables.contains(&r.table)
                || r.hops.iter().any(|h| {
                    h.oif.and_then(|i| st.link_by_index(i)).is_some_and(|l| {
                        cp.scope.links.contains(&l.name) || cp.owned.contains(&l.name)
                    })
                }))
    };
    let mut problems = Vec::new();
    let before: Vec<(RouteMessage, String)> = cp
        .state
        .routes
        .iter()
        .filter(|r| in_scope_idx(&cp.state, r))
        .filter_map(|r| match remap_route(&r.msg, &cp.state, cur) {
            Some(m) => Some((m, describe_kroute(r, &cp.state))),
            None => {
                problems.push(format!(
                    "route {} cannot be restored: its interface is gone",
                    describe_kroute(r, &cp.state)
                ));
                None
            }
        })
        .collect();
    let now: Vec<(RouteMessage, &crate::kernel::KRoute)> = cur
        .routes
        .iter()
        .map(|r| (normalize_route(&r.msg), r))
        .collect();
    let mut ops = Vec::new();
    for (m, r) in &now {
        if in_scope_idx(cur, r) && !before.iter().any(|(b, _)| b == m) {
            ops.push(Op::DelRoute {
                desc: describe_kroute(r, cur),
                msg: r.msg.clone(),
            });
        }
    }
    for (b, desc) in &before {
        if !now.iter().any(|(m, _)| m == b) {
            ops.push(Op::AddRoute {
                desc: desc.clone(),
                msg: b.clone(),
            });
        }
    }
    (ops, problems)
}

/// Restore stage 5: rules. Within each (family, priority) the checkpointed order is restored;
/// rules of ours added since are deleted. Rules the kernel created itself
/// ([`crate::kernel::KRule::is_kernel_created`], the l3mdev rule the first VRF of a namespace
/// adds) are left out on both sides: the kernel adds that rule only once per namespace, so
/// deleting it on rollback would leave every VRF created later without routing.
pub fn restore_rules(cp: &Checkpoint, cur: &KernelState) -> Vec<Op> {
    let mut groups: BTreeMap<(u8, u32), (Vec<RuleMessage>, Vec<RuleMessage>)> = BTreeMap::new();
    for r in cp.state.rules.iter().filter(|r| !r.is_kernel_created()) {
        groups
            .entry((u8::from(r.family), r.priority))
            .or_default()
            .0
            .push(normalize_rule(&r.msg));
    }
    for r in cur.rules.iter().filter(|r| !r.is_kernel_created()) {
        let n = normalize_rule(&r.msg);
        let entry = groups.entry((u8::from(r.family), r.priority)).or_default();
        let known = entry.0.contains(&n);
        if known || r.is_ours() {
            entry.1.push(n);
        }
    }
    let mut dels = Vec::new();
    let mut adds = Vec::new();
    for (before, now) in groups.values() {
        let mut k = 0;
        while k < before.len() && k < now.len() && before[k] == now[k] {
            k += 1;
        }
        for m in now[k..].iter().rev() {
            dels.push(Op::DelRule {
                desc: describe_krule(&crate::kernel::KRule::from_message(m)),
                msg: m.clone(),
            });
        }
        for m in &before[k..] {
            adds.push(Op::AddRule {
                desc: describe_krule(&crate::kernel::KRule::from_message(m)),
                msg: m.clone(),
            });
        }
    }
    dels.extend(adds);
    dels
}

/// Restore stage 6: sysctls back to their checkpointed values.
pub fn restore_sysctls(cp: &Checkpoint, current: &BTreeMap<SysctlKey, Option<String>>) -> Vec<Op> {
    cp.sysctls
        .iter()
        .filter_map(|(k, v)| {
            let v = v.as_ref()?;
            (current.get(k).cloned().flatten().as_ref() != Some(v)).then(|| Op::SetSysctl {
                key: k.clone(),
                value: v.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{KRule, METALROUTE_PROTOCOL};
    use netlink_packet_route::rule::{RuleAction, RuleAttribute};
    use netlink_packet_route::AddressFamily;

    /// A rule as the kernel dumps it: priority, protocol, l3mdev flag, table.
    fn krule(
        family: AddressFamily,
        priority: u32,
        protocol: u8,
        l3mdev: bool,
        table: u32,
    ) -> KRule {
        let mut m = RuleMessage::default();
        m.header.family = family;
        m.header.action = RuleAction::ToTable;
        m.attributes.push(RuleAttribute::Priority(priority));
        m.attributes.push(RuleAttribute::Protocol(protocol.into()));
        if l3mdev {
            m.attributes.push(RuleAttribute::L3MDev(true));
        } else {
            m.attributes.push(RuleAttribute::Table(table));
        }
        KRule::from_message(&m)
    }

    fn l3mdev_rule(family: AddressFamily) -> KRule {
        // Protocol 2 (kernel), as the kernel adds it when the first VRF is created.
        krule(family, 1000, 2, true, 0)
    }

    fn checkpoint(rules: Vec<KRule>) -> Checkpoint {
        Checkpoint {
            state: KernelState {
                rules,
                ..KernelState::default()
            },
            sysctls: BTreeMap::new(),
            owned: BTreeSet::new(),
            scope: Scope::default(),
        }
    }

    fn now(rules: Vec<KRule>) -> KernelState {
        KernelState {
            rules,
            ..KernelState::default()
        }
    }

    #[test]
    fn l3mdev_rule_is_kernel_created_unless_tagged_ours() {
        assert!(l3mdev_rule(AddressFamily::Inet).is_kernel_created());
        assert!(
            !krule(AddressFamily::Inet, 1000, METALROUTE_PROTOCOL, true, 0).is_kernel_created()
        );
        assert!(!krule(AddressFamily::Inet, 1000, 2, false, 10).is_kernel_created());
    }

    #[test]
    fn rollback_keeps_the_l3mdev_rule_a_first_vrf_added() {
        // Before: no rule at 1000. After the apply: the kernel's l3mdev rules (IPv4 and IPv6)
        // and one rule of ours. Only ours is deleted.
        let cp = checkpoint(vec![]);
        let ours = krule(AddressFamily::Inet, 998, METALROUTE_PROTOCOL, false, 254);
        let cur = now(vec![
            ours.clone(),
            l3mdev_rule(AddressFamily::Inet),
            l3mdev_rule(AddressFamily::Inet6),
        ]);
        let ops = restore_rules(&cp, &cur);
        assert_eq!(ops.len(), 1, "{ops:?}");
        let Op::DelRule { msg, .. } = &ops[0] else {
            panic!("expected a rule deletion: {ops:?}")
        };
        assert_eq!(*msg, normalize_rule(&ours.msg));
    }

    #[test]
    fn rollback_never_readds_a_kernel_created_rule() {
        // The l3mdev rule existed before and is gone now (someone else deleted it): it is not
        // ours to put back, and a foreign rule at the same priority keeps its place.
        let foreign = krule(AddressFamily::Inet, 1000, 4, false, 7);
        let cp = checkpoint(vec![l3mdev_rule(AddressFamily::Inet), foreign.clone()]);
        assert!(restore_rules(&cp, &now(vec![foreign.clone()])).is_empty());
        // And present on both sides, next to a foreign rule, nothing is done.
        let cp = checkpoint(vec![l3mdev_rule(AddressFamily::Inet), foreign.clone()]);
        let cur = now(vec![l3mdev_rule(AddressFamily::Inet), foreign]);
        assert!(restore_rules(&cp, &cur).is_empty());
    }
}
