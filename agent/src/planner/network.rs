//! The node's desired kernel state: the `desiredState` of every NodeNetworkConfigurationPolicy
//! whose nodeSelector matches the node, merged in policy-name order. Interfaces merge by name,
//! field by field (a field one policy leaves out is taken from the other); routes, route rules
//! and their `absent` selectors merge as sets. Two policies giving one field different values is a
//! conflict naming both policies; the earlier policy's value is kept. Across policies, one route
//! table used by two VRFs and one port claimed by two controllers are conflicts too.

use metalroute_crds::nmstate::{
    DesiredState, Interface, InterfaceKind, InterfaceName, IpConfig, L3mdevAccept,
};
use metalroute_crds::selector::Labels;
use metalroute_crds::snapshot::Snapshot;
use std::collections::BTreeMap;
use std::fmt;

/// Two policies that disagree for this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConflict {
    /// The policy whose value is kept (earlier by name).
    pub kept: String,
    /// The policy whose value is ignored.
    pub ignored: String,
    /// What they disagree on, with both values.
    pub detail: String,
}

impl fmt::Display for NetworkConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NodeNetworkConfigurationPolicy {} conflicts with {}: {} (the value of {} is used)",
            self.ignored, self.kept, self.detail, self.kept
        )
    }
}

/// The merged desired network state of one node.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetworkPlan {
    /// Names of the policies selecting this node, in merge order.
    pub policies: Vec<String>,
    /// The merged desired state.
    pub desired: DesiredState,
    /// Disagreements between policies.
    pub conflicts: Vec<NetworkConflict>,
}

/// Merges `new` into `cur` when `cur` is unset; reports differing values.
fn merge_opt<T: PartialEq + Clone + fmt::Debug>(
    cur: &mut Option<T>,
    new: &Option<T>,
    field: &str,
    out: &mut Vec<String>,
) {
    match (cur.as_ref(), new) {
        (_, None) => {}
        (None, Some(v)) => *cur = Some(v.clone()),
        (Some(a), Some(b)) if a == b => {}
        (Some(a), Some(b)) => out.push(format!("{field}: {a:?} vs {b:?}")),
    }
}

fn show_ports(p: &Option<Vec<InterfaceName>>) -> String {
    match p {
        None => "unset".into(),
        Some(v) => format!(
            "[{}]",
            v.iter()
                .map(InterfaceName::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn merge_kind(cur: &mut InterfaceKind, new: &InterfaceKind, out: &mut Vec<String>) {
    if cur == new || matches!(new, InterfaceKind::Unknown) {
        return;
    }
    if matches!(cur, InterfaceKind::Unknown) {
        *cur = new.clone();
        return;
    }
    match (cur, new) {
        (
            InterfaceKind::Vrf {
                ports: pa,
                table: ta,
            },
            InterfaceKind::Vrf {
                ports: pb,
                table: tb,
            },
        ) => {
            if ta != tb {
                out.push(format!("vrf.route-table-id: {ta} vs {tb}"));
            }
            if pa.is_some() && pb.is_some() && pa != pb {
                out.push(format!(
                    "vrf.port: {} vs {}",
                    show_ports(pa),
                    show_ports(pb)
                ));
            } else if pa.is_none() {
                pa.clone_from(pb);
            }
        }
        (
            InterfaceKind::LinuxBridge { ports: pa, stp: sa },
            InterfaceKind::LinuxBridge { ports: pb, stp: sb },
        ) => {
            if pa.is_some() && pb.is_some() && pa != pb {
                out.push(format!(
                    "bridge.port: {} vs {}",
                    show_ports(pa),
                    show_ports(pb)
                ));
            } else if pa.is_none() {
                pa.clone_from(pb);
            }
            merge_opt(sa, sb, "bridge.options.stp.enabled", out);
        }
        (InterfaceKind::Veth { peer: a }, InterfaceKind::Veth { peer: b }) => {
            merge_opt(a, b, "veth.peer", out);
        }
        (cur, new) => out.push(format!(
            "type: {} vs {}",
            cur.type_name().unwrap_or("unset"),
            new.type_name().unwrap_or("unset")
        )),
    }
}

fn merge_ip(
    cur: &mut Option<IpConfig>,
    new: &Option<IpConfig>,
    family: &str,
    out: &mut Vec<String>,
) {
    let Some(b) = new else { return };
    let Some(a) = cur else {
        *cur = Some(b.clone());
        return;
    };
    merge_opt(
        &mut a.enabled,
        &b.enabled,
        &format!("{family}.enabled"),
        out,
    );
    match (&a.addresses, &b.addresses) {
        (_, None) => {}
        (None, Some(v)) => a.addresses = Some(v.clone()),
        (Some(x), Some(y)) => {
            let (mut xs, mut ys) = (x.clone(), y.clone());
            xs.sort();
            ys.sort();
            if xs != ys {
                let show = |v: &[metalroute_crds::nmstate::InterfaceAddress]| {
                    v.iter()
                        .map(|a| a.0.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                out.push(format!("{family}.address: [{}] vs [{}]", show(x), show(y)));
            }
        }
    }
    merge_opt(
        &mut a.forwarding,
        &b.forwarding,
        &format!("{family}.forwarding"),
        out,
    );
    merge_opt(
        &mut a.rp_filter,
        &b.rp_filter,
        &format!("{family}.rp-filter"),
        out,
    );
}

fn merge_interface(cur: &mut Interface, new: &Interface) -> Vec<String> {
    let mut out = Vec::new();
    merge_kind(&mut cur.kind, &new.kind, &mut out);
    if cur.state != new.state {
        out.push(format!(
            "state: {} vs {}",
            cur.state.as_str(),
            new.state.as_str()
        ));
    }
    merge_opt(&mut cur.mtu, &new.mtu, "mtu", &mut out);
    merge_ip(&mut cur.ipv4, &new.ipv4, "ipv4", &mut out);
    merge_ip(&mut cur.ipv6, &new.ipv6, "ipv6", &mut out);
    out.into_iter()
        .map(|d| format!("interface {}: {d}", cur.name))
        .collect()
}

fn union<T: PartialEq + Clone>(into: &mut Vec<T>, from: &[T]) {
    for x in from {
        if !into.contains(x) {
            into.push(x.clone());
        }
    }
}

/// Merges the policies selecting the node.
pub(crate) fn plan_network(snapshot: &Snapshot, labels: &Labels) -> NetworkPlan {
    let mut plan = NetworkPlan::default();
    // Which policy first defined each interface.
    let mut origin: BTreeMap<InterfaceName, String> = BTreeMap::new();
    let mut l3mdev_origin: Option<String> = None;
    for (name, policy) in &snapshot.config.network_policies {
        if !policy.node_selector.matches(labels) {
            continue;
        }
        plan.policies.push(name.clone());
        let ds = &policy.desired_state;
        for iface in &ds.interfaces {
            match plan
                .desired
                .interfaces
                .iter_mut()
                .find(|i| i.name == iface.name)
            {
                None => {
                    origin.insert(iface.name.clone(), name.clone());
                    plan.desired.interfaces.push(iface.clone());
                }
                Some(cur) => {
                    let kept = origin.get(&iface.name).cloned().unwrap_or_default();
                    for detail in merge_interface(cur, iface) {
                        plan.conflicts.push(NetworkConflict {
                            kept: kept.clone(),
                            ignored: name.clone(),
                            detail,
                        });
                    }
                }
            }
        }
        union(&mut plan.desired.routes, &ds.routes);
        union(&mut plan.desired.absent_routes, &ds.absent_routes);
        union(&mut plan.desired.route_rules, &ds.route_rules);
        union(&mut plan.desired.absent_route_rules, &ds.absent_route_rules);
        if let Some(new) = &ds.l3mdev_accept {
            let cur = plan
                .desired
                .l3mdev_accept
                .get_or_insert_with(L3mdevAccept::default);
            let mut out = Vec::new();
            merge_opt(&mut cur.tcp, &new.tcp, "l3mdev-accept.tcp", &mut out);
            merge_opt(&mut cur.udp, &new.udp, "l3mdev-accept.udp", &mut out);
            merge_opt(&mut cur.raw, &new.raw, "l3mdev-accept.raw", &mut out);
            let kept = l3mdev_origin.get_or_insert_with(|| name.clone()).clone();
            for detail in out {
                plan.conflicts.push(NetworkConflict {
                    kept: kept.clone(),
                    ignored: name.clone(),
                    detail,
                });
            }
        }
    }
    cross_checks(&mut plan, &origin);
    plan
}

/// Conflicts only visible after merging: one table for two VRFs, one port for two controllers.
fn cross_checks(plan: &mut NetworkPlan, origin: &BTreeMap<InterfaceName, String>) {
    let of = |n: &InterfaceName| origin.get(n).cloned().unwrap_or_default();
    let mut tables: BTreeMap<u32, &InterfaceName> = BTreeMap::new();
    let mut ports: BTreeMap<&InterfaceName, &InterfaceName> = BTreeMap::new();
    let mut found = Vec::new();
    for iface in &plan.desired.interfaces {
        if let InterfaceKind::Vrf { table, .. } = &iface.kind {
            if let Some(other) = tables.get(&table.get()) {
                if of(other) != of(&iface.name) {
                    found.push(NetworkConflict {
                        kept: of(other),
                        ignored: of(&iface.name),
                        detail: format!(
                            "VRF {} uses route table {table}, already the table of VRF {other}",
                            iface.name
                        ),
                    });
                }
            } else {
                tables.insert(table.get(), &iface.name);
            }
        }
        for port in iface.kind.ports().unwrap_or_default() {
            if let Some(other) = ports.get(port) {
                if of(other) != of(&iface.name) {
                    found.push(NetworkConflict {
                        kept: of(other),
                        ignored: of(&iface.name),
                        detail: format!("{port} is a port of both {other} and {}", iface.name),
                    });
                }
            } else {
                ports.insert(port, &iface.name);
            }
        }
    }
    plan.conflicts.extend(found);
}
