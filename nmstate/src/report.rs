//! The kernel state reported in nmstate's shape (the content of a NodeNetworkState's
//! `status.currentState`): interfaces with their type sections and addresses, routes (`running`
//! and `config`), route rules.

use crate::kernel::{KLink, KernelState, METALROUTE_PROTOCOL};
use crate::plan::route_type_name;
use metalroute_crds::nmstate::{InterfaceName, SysctlKey};
use netlink_packet_route::route::RouteType;
use netlink_packet_route::rule::RuleAction;
use netlink_packet_route::AddressFamily;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Route protocols nmstate lists under `routes.config` (boot, static) plus metalroute's own.
fn is_config_protocol(p: u8) -> bool {
    matches!(p, 3 | 4) || p == METALROUTE_PROTOCOL
}

fn mac_string(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn type_of(l: &KLink) -> String {
    if l.loopback {
        return "loopback".into();
    }
    match l.kind.as_deref() {
        None => "ethernet".into(),
        Some("bridge") => "linux-bridge".into(),
        Some(k) => k.into(),
    }
}

/// Reads the per-interface sysctls nmstate-style sections show (IPv4 forwarding, rp_filter,
/// IPv6 forwarding) for the links of `state`.
pub fn interface_sysctls(state: &KernelState) -> BTreeMap<SysctlKey, Option<String>> {
    let mut keys = Vec::new();
    for l in &state.links {
        if let Ok(n) = InterfaceName::new(&l.name) {
            keys.push(SysctlKey::Ipv4Forwarding(n.clone()));
            keys.push(SysctlKey::Ipv4RpFilter(n.clone()));
            keys.push(SysctlKey::Ipv6Forwarding(n));
        }
    }
    keys.extend([
        SysctlKey::TcpL3mdevAccept,
        SysctlKey::UdpL3mdevAccept,
        SysctlKey::RawL3mdevAccept,
    ]);
    crate::sysctl::read_all(&keys).unwrap_or_default()
}

/// The state as an nmstate document (`interfaces`, `routes`, `route-rules`, `l3mdev-accept`).
pub fn current_state(state: &KernelState, sysctls: &BTreeMap<SysctlKey, Option<String>>) -> Value {
    let get = |k: SysctlKey| sysctls.get(&k).cloned().flatten();
    let mut ifaces = Vec::new();
    for l in &state.links {
        let mut m = Map::new();
        m.insert("name".into(), json!(l.name));
        m.insert("type".into(), json!(type_of(l)));
        m.insert("state".into(), json!(if l.up { "up" } else { "down" }));
        m.insert("mtu".into(), json!(l.mtu));
        if let Some(mac) = &l.mac {
            m.insert("mac-address".into(), json!(mac_string(mac)));
        }
        if let Some(ctrl) = l.master {
            m.insert("controller".into(), json!(state.name_of(ctrl)));
        }
        match l.kind.as_deref() {
            Some("vrf") => {
                let ports: Vec<String> = state.ports_of(l.index).map(|p| p.name.clone()).collect();
                m.insert(
                    "vrf".into(),
                    json!({"port": ports, "route-table-id": l.vrf_table.unwrap_or(0)}),
                );
            }
            Some("bridge") => {
                let ports: Vec<Value> = state
                    .ports_of(l.index)
                    .map(|p| json!({"name": p.name}))
                    .collect();
                let mut b = Map::new();
                b.insert("port".into(), Value::Array(ports));
                if let Some(stp) = l.stp {
                    b.insert("options".into(), json!({"stp": {"enabled": stp}}));
                }
                m.insert("bridge".into(), Value::Object(b));
            }
            Some("vlan") => {
                m.insert(
                    "vlan".into(),
                    json!({"base-iface": l.link.map(|b| state.name_of(b)).unwrap_or_default(),
                           "id": l.vlan_id.unwrap_or(0)}),
                );
            }
            Some("veth") => {
                if let Some(peer) = l.link.and_then(|p| state.link_by_index(p)) {
                    m.insert("veth".into(), json!({"peer": peer.name}));
                }
            }
            _ => {}
        }
        let name = InterfaceName::new(&l.name).ok();
        for (key, v6) in [("ipv4", false), ("ipv6", true)] {
            let addrs: Vec<Value> = state
                .addresses_of(l.index)
                .filter(|a| a.addr.addr().is_ipv6() == v6)
                .map(|a| json!({"ip": a.addr.addr().to_string(), "prefix-length": a.addr.prefix_len()}))
                .collect();
            let mut ip = Map::new();
            ip.insert("enabled".into(), json!(!addrs.is_empty()));
            if !addrs.is_empty() {
                ip.insert("dhcp".into(), json!(false));
                if v6 {
                    ip.insert("autoconf".into(), json!(false));
                }
                ip.insert("address".into(), Value::Array(addrs));
            }
            if let Some(n) = &name {
                let fwd = if v6 {
                    get(SysctlKey::Ipv6Forwarding(n.clone()))
                } else {
                    get(SysctlKey::Ipv4Forwarding(n.clone()))
                };
                if let Some(f) = fwd {
                    ip.insert("forwarding".into(), json!(f == "1"));
                }
                if !v6 {
                    if let Some(rp) = get(SysctlKey::Ipv4RpFilter(n.clone())) {
                        let name = match rp.as_str() {
                            "0" => "disabled",
                            "1" => "strict",
                            "2" => "loose",
                            other => other,
                        };
                        ip.insert("rp-filter".into(), json!(name));
                    }
                }
            }
            m.insert(key.into(), Value::Object(ip));
        }
        ifaces.push(Value::Object(m));
    }
    let mut running = Vec::new();
    let mut config = Vec::new();
    for r in &state.routes {
        if r.table == 255 || r.protocol == 2 || r.kind == RouteType::Local {
            continue;
        }
        if !matches!(
            r.kind,
            RouteType::Unicast
                | RouteType::BlackHole
                | RouteType::Unreachable
                | RouteType::Prohibit
        ) {
            continue;
        }
        let mut entries = Vec::new();
        let base = |m: &mut Map<String, Value>| {
            m.insert("destination".into(), json!(r.dst.to_string()));
            m.insert("metric".into(), json!(r.metric));
            m.insert("table-id".into(), json!(r.table));
            if r.kind != RouteType::Unicast {
                m.insert("route-type".into(), json!(route_type_name(r.kind)));
            }
            if let Some(s) = r.prefsrc {
                m.insert("source".into(), json!(s.to_string()));
            }
        };
        if r.kind != RouteType::Unicast || r.hops.is_empty() {
            let mut m = Map::new();
            base(&mut m);
            entries.push(Value::Object(m));
        } else {
            for h in &r.hops {
                let mut m = Map::new();
                base(&mut m);
                if let Some(oif) = h.oif {
                    m.insert("next-hop-interface".into(), json!(state.name_of(oif)));
                }
                if let Some(gw) = h.gateway {
                    m.insert("next-hop-address".into(), json!(gw.to_string()));
                }
                if r.hops.len() > 1 {
                    m.insert("weight".into(), json!(h.weight));
                }
                entries.push(Value::Object(m));
            }
        }
        if is_config_protocol(r.protocol) {
            config.extend(entries.iter().cloned());
        }
        running.extend(entries);
    }
    let mut rules = Vec::new();
    for k in &state.rules {
        if matches!(k.priority, 0 | 32766 | 32767) && !k.is_ours() {
            continue;
        }
        let mut m = Map::new();
        m.insert(
            "family".into(),
            json!(if k.family == AddressFamily::Inet6 {
                "ipv6"
            } else {
                "ipv4"
            }),
        );
        m.insert("priority".into(), json!(k.priority));
        if let Some(s) = k.src {
            m.insert("ip-from".into(), json!(s.to_string()));
        }
        if let Some(d) = k.dst {
            m.insert("ip-to".into(), json!(d.to_string()));
        }
        if let Some(i) = &k.iif {
            m.insert("iif".into(), json!(i));
        }
        if let Some(v) = k.fwmark {
            m.insert("fwmark".into(), json!(format!("{v:#x}")));
        }
        if let Some(v) = k.fwmask {
            m.insert("fwmask".into(), json!(format!("{v:#x}")));
        }
        match k.action {
            RuleAction::ToTable if !k.l3mdev => {
                m.insert("route-table".into(), json!(k.table));
            }
            RuleAction::Blackhole => {
                m.insert("action".into(), json!("blackhole"));
            }
            RuleAction::Unreachable => {
                m.insert("action".into(), json!("unreachable"));
            }
            RuleAction::Prohibit => {
                m.insert("action".into(), json!("prohibit"));
            }
            _ => {}
        }
        rules.push(Value::Object(m));
    }
    let mut top = Map::new();
    top.insert("interfaces".into(), Value::Array(ifaces));
    top.insert(
        "routes".into(),
        json!({"running": running, "config": config}),
    );
    top.insert("route-rules".into(), json!({"config": rules}));
    let mut l3 = Map::new();
    for (k, key) in [
        ("tcp", SysctlKey::TcpL3mdevAccept),
        ("udp", SysctlKey::UdpL3mdevAccept),
        ("raw", SysctlKey::RawL3mdevAccept),
    ] {
        if let Some(v) = get(key) {
            l3.insert(k.into(), json!(v == "1"));
        }
    }
    if !l3.is_empty() {
        top.insert("l3mdev-accept".into(), Value::Object(l3));
    }
    Value::Object(top)
}

/// The state as nmstate YAML.
pub fn to_yaml(v: &Value) -> String {
    serde_yaml_ng::to_string(v).unwrap_or_else(|e| format!("# cannot render YAML: {e}\n"))
}
