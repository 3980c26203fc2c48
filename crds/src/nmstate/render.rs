//! Renders a [`DesiredState`] back to nmstate's YAML/JSON shape (kebab-case keys), so that
//! `parse_desired_state(&render(s))` gives `s` again.

use super::types::*;
use serde_json::{json, Map, Value};

impl DesiredState {
    /// This state as an nmstate `desiredState` document.
    pub fn to_value(&self) -> Value {
        let mut top = Map::new();
        if !self.interfaces.is_empty() {
            top.insert(
                "interfaces".into(),
                Value::Array(self.interfaces.iter().map(Interface::to_value).collect()),
            );
        }
        if !self.routes.is_empty() || !self.absent_routes.is_empty() {
            let mut cfg: Vec<Value> = self
                .absent_routes
                .iter()
                .map(RouteSelector::to_value)
                .collect();
            cfg.extend(self.routes.iter().map(Route::to_value));
            top.insert("routes".into(), json!({ "config": cfg }));
        }
        if !self.route_rules.is_empty() || !self.absent_route_rules.is_empty() {
            let mut cfg: Vec<Value> = self
                .absent_route_rules
                .iter()
                .map(RouteRuleSelector::to_value)
                .collect();
            cfg.extend(self.route_rules.iter().map(RouteRule::to_value));
            top.insert("route-rules".into(), json!({ "config": cfg }));
        }
        if let Some(l) = &self.l3mdev_accept {
            let mut m = Map::new();
            for (k, v) in [("tcp", l.tcp), ("udp", l.udp), ("raw", l.raw)] {
                if let Some(v) = v {
                    m.insert(k.into(), Value::Bool(v));
                }
            }
            top.insert("l3mdev-accept".into(), Value::Object(m));
        }
        Value::Object(top)
    }
}

impl Interface {
    /// This interface as an nmstate `interfaces[]` entry.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::String(self.name.to_string()));
        if let Some(t) = self.kind.type_name() {
            m.insert("type".into(), Value::String(t.into()));
        }
        m.insert("state".into(), Value::String(self.state.as_str().into()));
        if let Some(mtu) = self.mtu {
            m.insert("mtu".into(), json!(mtu));
        }
        match &self.kind {
            InterfaceKind::Veth { peer: Some(p) } => {
                m.insert("veth".into(), json!({ "peer": p.as_str() }));
            }
            InterfaceKind::LinuxBridge { ports, stp } => {
                let mut b = Map::new();
                if let Some(ports) = ports {
                    b.insert(
                        "port".into(),
                        Value::Array(
                            ports
                                .iter()
                                .map(|p| json!({ "name": p.as_str() }))
                                .collect(),
                        ),
                    );
                }
                if let Some(stp) = stp {
                    b.insert("options".into(), json!({ "stp": { "enabled": stp } }));
                }
                if !b.is_empty() {
                    m.insert("bridge".into(), Value::Object(b));
                }
            }
            InterfaceKind::Vlan { base_iface, id } => {
                m.insert(
                    "vlan".into(),
                    json!({ "base-iface": base_iface.as_str(), "id": id.get() }),
                );
            }
            InterfaceKind::Vrf { ports, table } => {
                let mut v = Map::new();
                if let Some(ports) = ports {
                    v.insert(
                        "port".into(),
                        Value::Array(ports.iter().map(|p| Value::String(p.to_string())).collect()),
                    );
                }
                v.insert("route-table-id".into(), json!(table.get()));
                m.insert("vrf".into(), Value::Object(v));
            }
            _ => {}
        }
        if let Some(ip) = &self.ipv4 {
            m.insert("ipv4".into(), ip.to_value(Family::Ipv4));
        }
        if let Some(ip) = &self.ipv6 {
            m.insert("ipv6".into(), ip.to_value(Family::Ipv6));
        }
        Value::Object(m)
    }
}

impl IpConfig {
    /// This `ipv4`/`ipv6` section.
    pub fn to_value(&self, family: Family) -> Value {
        let mut m = Map::new();
        if let Some(e) = self.enabled {
            m.insert("enabled".into(), Value::Bool(e));
        }
        if let Some(addrs) = &self.addresses {
            m.insert(
                "address".into(),
                Value::Array(
                    addrs
                        .iter()
                        .map(|a| json!({ "ip": a.0.addr().to_string(), "prefix-length": a.0.prefix_len() }))
                        .collect(),
                ),
            );
        }
        if let Some(f) = self.forwarding {
            m.insert("forwarding".into(), Value::Bool(f));
        }
        if family == Family::Ipv4 {
            if let Some(r) = self.rp_filter {
                m.insert("rp-filter".into(), Value::String(r.as_str().into()));
            }
        }
        Value::Object(m)
    }
}

impl Route {
    /// This route as a `routes.config[]` entry.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "destination".into(),
            Value::String(self.destination.to_string()),
        );
        if let Some(n) = &self.next_hop_interface {
            m.insert("next-hop-interface".into(), Value::String(n.to_string()));
        }
        if let Some(a) = &self.next_hop_address {
            m.insert("next-hop-address".into(), Value::String(a.to_string()));
        }
        if let Some(x) = self.metric {
            m.insert("metric".into(), json!(x));
        }
        m.insert("table-id".into(), json!(self.table.get()));
        if let Some(w) = self.weight {
            m.insert("weight".into(), json!(w));
        }
        if let Some(t) = self.route_type {
            m.insert("route-type".into(), Value::String(t.as_str().into()));
        }
        if let Some(s) = &self.source {
            m.insert("source".into(), Value::String(s.to_string()));
        }
        Value::Object(m)
    }
}

fn match_value<T: ToString>(m: &mut Map<String, Value>, key: &str, v: &Match<T>) {
    match v {
        Match::Any => {}
        Match::Unset => {
            m.insert(key.into(), Value::String(String::new()));
        }
        Match::Is(x) => {
            m.insert(key.into(), Value::String(x.to_string()));
        }
    }
}

impl RouteSelector {
    /// This selector as a `routes.config[]` entry with `state: absent`.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("state".into(), Value::String("absent".into()));
        if let Some(d) = &self.destination {
            m.insert("destination".into(), Value::String(d.to_string()));
        }
        if let Some(n) = &self.next_hop_interface {
            m.insert("next-hop-interface".into(), Value::String(n.to_string()));
        }
        match_value(&mut m, "next-hop-address", &self.next_hop_address);
        if let Some(x) = self.metric {
            m.insert("metric".into(), json!(x));
        }
        if let Some(t) = self.table {
            m.insert("table-id".into(), json!(t.get()));
        }
        if let Some(t) = self.route_type {
            m.insert("route-type".into(), Value::String(t.as_str().into()));
        }
        Value::Object(m)
    }
}

impl RouteRule {
    /// This rule as a `route-rules.config[]` entry.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("family".into(), Value::String(self.family.as_str().into()));
        if let Some(n) = &self.ip_from {
            m.insert("ip-from".into(), Value::String(n.to_string()));
        }
        if let Some(n) = &self.ip_to {
            m.insert("ip-to".into(), Value::String(n.to_string()));
        }
        if let Some(p) = self.priority {
            m.insert("priority".into(), json!(p));
        }
        if let Some(t) = self.table {
            m.insert("route-table".into(), json!(t.get()));
        }
        if let Some(x) = self.fwmark {
            m.insert("fwmark".into(), Value::String(format!("{x:#x}")));
        }
        if let Some(x) = self.fwmask {
            m.insert("fwmask".into(), Value::String(format!("{x:#x}")));
        }
        if let Some(n) = &self.iif {
            m.insert("iif".into(), Value::String(n.to_string()));
        }
        if let Some(a) = self.action {
            m.insert("action".into(), Value::String(a.as_str().into()));
        }
        Value::Object(m)
    }
}

impl RouteRuleSelector {
    /// This selector as a `route-rules.config[]` entry with `state: absent`.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("state".into(), Value::String("absent".into()));
        if let Some(f) = self.family {
            m.insert("family".into(), Value::String(f.as_str().into()));
        }
        match_value(&mut m, "ip-from", &self.ip_from);
        match_value(&mut m, "ip-to", &self.ip_to);
        if let Some(p) = self.priority {
            m.insert("priority".into(), json!(p));
        }
        if let Some(t) = self.table {
            m.insert("route-table".into(), json!(t.get()));
        }
        if let Some(x) = self.fwmark {
            m.insert("fwmark".into(), Value::String(format!("{x:#x}")));
        }
        if let Some(x) = self.fwmask {
            m.insert("fwmask".into(), Value::String(format!("{x:#x}")));
        }
        if let Some(n) = &self.iif {
            m.insert("iif".into(), Value::String(n.to_string()));
        }
        if let Some(a) = self.action {
            m.insert("action".into(), Value::String(a.as_str().into()));
        }
        Value::Object(m)
    }
}
