//! Verification by read-back, the way nmstate does it: every key present in the desired state
//! must match the kernel; extra current state is allowed. Each mismatch names the path in the
//! desired state and both values.

use crate::kernel::KernelState;
use crate::plan::{describe_rule, kind_matches, route_matches, rule_matches, wanted_routes};
use crate::selectors::{route_selector_matches_kernel, rule_selector_matches_kernel};
use ipnet::IpNet;
use metalroute_crds::nmstate::{
    needed_sysctls, DesiredState, Family, InterfaceKind, InterfaceState, SysctlKey,
};
use std::collections::BTreeMap;

fn list<T: ToString>(v: &[T]) -> String {
    format!(
        "[{}]",
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Compares the kernel with the desired state; returns one line per mismatch (empty: verified).
pub fn verify(
    desired: &DesiredState,
    cur: &KernelState,
    sysctls: &BTreeMap<SysctlKey, Option<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, iface) in desired.interfaces.iter().enumerate() {
        let p = format!("interfaces[{i}]");
        let name = iface.name.as_str();
        let link = cur.link(name);
        if iface.state == InterfaceState::Absent {
            if link.is_some() {
                out.push(format!("{p}.state: desired absent, current {name} exists"));
            }
            continue;
        }
        let Some(link) = link else {
            out.push(format!("{p}: desired {name} present, current missing"));
            continue;
        };
        if !kind_matches(&iface.kind, link) {
            out.push(format!(
                "{p}.type: desired {}, current {}",
                iface.kind.type_name().unwrap_or("any"),
                link.kind.as_deref().unwrap_or("device")
            ));
        }
        let want_up = iface.state == InterfaceState::Up;
        if link.up != want_up {
            out.push(format!(
                "{p}.state: desired {}, current {}",
                iface.state.as_str(),
                if link.up { "up" } else { "down" }
            ));
        }
        if let Some(mtu) = iface.mtu {
            if link.mtu != mtu {
                out.push(format!("{p}.mtu: desired {mtu}, current {}", link.mtu));
            }
        }
        match &iface.kind {
            InterfaceKind::Vrf { table, .. } if link.vrf_table != Some(table.get()) => {
                out.push(format!(
                    "{p}.vrf.route-table-id: desired {table}, current {}",
                    link.vrf_table.map_or("none".to_string(), |t| t.to_string())
                ));
            }
            InterfaceKind::Vlan { base_iface, id } => {
                if link.vlan_id != Some(id.get()) {
                    out.push(format!(
                        "{p}.vlan.id: desired {}, current {}",
                        id.get(),
                        link.vlan_id.map_or("none".to_string(), |t| t.to_string())
                    ));
                }
                let base = link.link.map(|b| cur.name_of(b));
                if base.as_deref() != Some(base_iface.as_str()) {
                    out.push(format!(
                        "{p}.vlan.base-iface: desired {base_iface}, current {}",
                        base.unwrap_or_else(|| "none".into())
                    ));
                }
            }
            InterfaceKind::LinuxBridge { stp: Some(on), .. } if link.stp != Some(*on) => {
                out.push(format!(
                    "{p}.bridge.options.stp.enabled: desired {on}, current {}",
                    link.stp.map_or("unknown".to_string(), |s| s.to_string())
                ));
            }
            _ => {}
        }
        if let Some(ports) = iface.kind.ports() {
            let mut want: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
            want.sort();
            let mut have: Vec<String> = cur.ports_of(link.index).map(|l| l.name.clone()).collect();
            have.sort();
            if want != have {
                let sec = if matches!(iface.kind, InterfaceKind::Vrf { .. }) {
                    "vrf.port"
                } else {
                    "bridge.port"
                };
                out.push(format!(
                    "{p}.{sec}: desired {}, current {}",
                    list(&want),
                    list(&have)
                ));
            }
        }
        for (fam, key, cfg) in [
            (Family::Ipv4, "ipv4", &iface.ipv4),
            (Family::Ipv6, "ipv6", &iface.ipv6),
        ] {
            let Some(cfg) = cfg else { continue };
            let want: Option<Vec<IpNet>> = if cfg.enabled == Some(false) {
                Some(Vec::new())
            } else {
                cfg.addresses
                    .as_ref()
                    .map(|l| l.iter().map(|a| a.0).collect())
            };
            let Some(mut want) = want else { continue };
            let mut have: Vec<IpNet> = cur
                .addresses_of(link.index)
                .filter(|a| !a.is_link_local() && Family::of_net(&a.addr) == fam)
                .map(|a| a.addr)
                .collect();
            want.sort();
            have.sort();
            if want != have {
                out.push(format!(
                    "{p}.{key}.address: desired {}, current {}",
                    list(&want),
                    list(&have)
                ));
            }
        }
    }
    for w in wanted_routes(desired) {
        if !cur.routes.iter().any(|k| route_matches(&w, k, cur)) {
            let path = w.source.map_or_else(
                || format!("routes (unreachable default of VRF table {})", w.table),
                |i| format!("routes.config[{i}]"),
            );
            let similar: Vec<String> = cur
                .routes
                .iter()
                .filter(|k| k.table == w.table && k.dst == w.dst)
                .map(|k| crate::plan::describe_kroute(k, cur))
                .collect();
            out.push(format!(
                "{path}: desired {w}, current {}",
                if similar.is_empty() {
                    "missing".to_string()
                } else {
                    list(&similar)
                }
            ));
        }
    }
    for (i, s) in desired.absent_routes.iter().enumerate() {
        for k in cur.routes.iter().filter(|k| k.is_ours()) {
            if route_selector_matches_kernel(s, k, cur) {
                // An absent entry that also matches a wanted route is overridden by it.
                let wanted = wanted_routes(desired)
                    .iter()
                    .any(|w| route_matches(w, k, cur));
                if !wanted {
                    out.push(format!(
                        "routes.config (absent #{i}): desired absent, current {}",
                        crate::plan::describe_kroute(k, cur)
                    ));
                }
            }
        }
    }
    for (i, r) in desired.route_rules.iter().enumerate() {
        if !cur.rules.iter().any(|k| rule_matches(r, k)) {
            out.push(format!(
                "route-rules.config[{i}]: desired {}, current missing",
                describe_rule(r)
            ));
        }
    }
    for (i, s) in desired.absent_route_rules.iter().enumerate() {
        for k in cur.rules.iter().filter(|k| k.is_ours()) {
            if rule_selector_matches_kernel(s, k)
                && !desired.route_rules.iter().any(|r| rule_matches(r, k))
            {
                out.push(format!(
                    "route-rules.config (absent #{i}): desired absent, current {}",
                    crate::plan::describe_krule(k)
                ));
            }
        }
    }
    for s in needed_sysctls(desired) {
        let have = sysctls.get(&s.key).cloned().flatten();
        if have.as_deref() != Some(s.value.to_string().as_str()) {
            out.push(format!(
                "sysctl {}: desired {}, current {}",
                s.key,
                s.value,
                have.unwrap_or_else(|| "missing".into())
            ));
        }
    }
    out
}
