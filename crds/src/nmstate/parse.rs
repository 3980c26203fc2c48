//! Turns a raw `desiredState` value into [`DesiredState`], collecting every unsupported key and
//! bad value with its path (relative to `desiredState`) instead of stopping at the first.

use super::types::*;
use ipnet::IpNet;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// One problem: (path relative to `desiredState`, reason).
pub(crate) type Problem = (String, String);

/// Collects problems while walking the document.
#[derive(Default)]
struct Ctx {
    problems: Vec<Problem>,
}

impl Ctx {
    fn err(&mut self, path: &str, reason: impl Into<String>) {
        self.problems.push((path.to_string(), reason.into()));
    }

    /// Reports every key of `map` not in `known`.
    fn unknown_keys(&mut self, path: &str, map: &Map<String, Value>, known: &[&str]) {
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                self.err(
                    &join(path, key),
                    format!(
                        "unsupported key (metalroute supports: {})",
                        known.join(", ")
                    ),
                );
            }
        }
    }

    fn object<'a>(&mut self, path: &str, v: &'a Value) -> Option<&'a Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.err(path, format!("must be a mapping, found {}", kind_of(other)));
                None
            }
        }
    }

    fn array<'a>(&mut self, path: &str, v: &'a Value) -> Option<&'a Vec<Value>> {
        match v {
            Value::Array(a) => Some(a),
            other => {
                self.err(path, format!("must be a list, found {}", kind_of(other)));
                None
            }
        }
    }

    fn string<'a>(&mut self, path: &str, v: &'a Value) -> Option<&'a str> {
        match v {
            Value::String(s) => Some(s),
            other => {
                self.err(path, format!("must be a string, found {}", kind_of(other)));
                None
            }
        }
    }

    fn bool(&mut self, path: &str, v: &Value) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            other => {
                self.err(
                    path,
                    format!("must be true or false, found {}", kind_of(other)),
                );
                None
            }
        }
    }

    /// An unsigned integer in `min..=max` (integers only; YAML strings of digits too).
    fn uint(&mut self, path: &str, v: &Value, min: u64, max: u64) -> Option<u64> {
        let n = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                self.err(path, format!("{n} is out of range {min}..={max}"));
                None
            }
            None => {
                self.err(
                    path,
                    format!("must be an integer in {min}..={max}, found {}", show(v)),
                );
                None
            }
        }
    }

    fn iface_name(&mut self, path: &str, v: &Value) -> Option<InterfaceName> {
        let s = self.string(path, v)?;
        match InterfaceName::new(s) {
            Ok(n) => Some(n),
            Err(e) => {
                self.err(path, e);
                None
            }
        }
    }

    fn ip(&mut self, path: &str, v: &Value) -> Option<IpAddr> {
        let s = self.string(path, v)?;
        match s.trim().parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(path, format!("{s:?} is not an IP address"));
                None
            }
        }
    }

    /// A prefix `A/L`; a bare address means a host route (/32 or /128). Host bits are cleared,
    /// as nmstate does.
    fn prefix(&mut self, path: &str, v: &Value) -> Option<IpNet> {
        let s = self.string(path, v)?.trim();
        let parsed = if s.contains('/') {
            s.parse::<IpNet>().ok()
        } else {
            s.parse::<IpAddr>().ok().map(IpNet::from)
        };
        match parsed {
            Some(n) => Some(n.trunc()),
            None => {
                self.err(path, format!("{s:?} is not an IP prefix (ADDRESS/LENGTH)"));
                None
            }
        }
    }

    /// A 32-bit mark: an integer or a hex string like `0x10`.
    fn mark(&mut self, path: &str, v: &Value) -> Option<u32> {
        let parsed = match v {
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(s) => {
                let s = s.trim();
                match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => s.parse::<u32>().ok(),
                }
            }
            _ => None,
        };
        if parsed.is_none() {
            self.err(
                path,
                format!(
                    "must be a 32-bit integer or hex string (0x...), found {}",
                    show(v)
                ),
            );
        }
        parsed
    }
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Whether `v` is an empty string (nmstate's "match entries without this field").
fn is_empty_string(v: &Value) -> bool {
    matches!(v, Value::String(s) if s.is_empty())
}

const TOP_KEYS: &[&str] = &["interfaces", "routes", "route-rules", "l3mdev-accept"];
const IFACE_KEYS: &[&str] = &[
    "name", "type", "state", "mtu", "ipv4", "ipv6", "vrf", "veth", "bridge", "vlan",
];
const IPV4_KEYS: &[&str] = &["enabled", "dhcp", "address", "forwarding", "rp-filter"];
const IPV6_KEYS: &[&str] = &["enabled", "dhcp", "autoconf", "address", "forwarding"];
const ROUTE_KEYS: &[&str] = &[
    "state",
    "destination",
    "next-hop-interface",
    "next-hop-address",
    "metric",
    "table-id",
    "weight",
    "route-type",
    "source",
];
const RULE_KEYS: &[&str] = &[
    "state",
    "family",
    "ip-from",
    "ip-to",
    "priority",
    "route-table",
    "fwmark",
    "fwmask",
    "iif",
    "action",
];

/// See [`super::parse_desired_state`].
pub(crate) fn parse(value: &Value) -> (Option<DesiredState>, Vec<Problem>) {
    let mut cx = Ctx::default();
    let mut state = DesiredState::default();
    match value {
        Value::Null => return (Some(state), Vec::new()),
        Value::Object(top) => {
            cx.unknown_keys("", top, TOP_KEYS);
            if let Some(v) = top.get("interfaces") {
                if let Some(list) = cx.array("interfaces", v) {
                    for (i, item) in list.iter().enumerate() {
                        if let Some(iface) =
                            parse_interface(&mut cx, &format!("interfaces[{i}]"), item)
                        {
                            state.interfaces.push(iface);
                        }
                    }
                }
            }
            if let Some(v) = top.get("routes") {
                parse_routes(&mut cx, v, &mut state);
            }
            if let Some(v) = top.get("route-rules") {
                parse_rules(&mut cx, v, &mut state);
            }
            if let Some(v) = top.get("l3mdev-accept") {
                state.l3mdev_accept = parse_l3mdev(&mut cx, v);
            }
        }
        other => cx.err("", format!("must be a mapping, found {}", kind_of(other))),
    }
    if cx.problems.is_empty() {
        cross_check(&mut cx, &state);
    }
    if cx.problems.is_empty() {
        (Some(state), Vec::new())
    } else {
        (None, cx.problems)
    }
}

fn parse_interface(cx: &mut Ctx, path: &str, v: &Value) -> Option<Interface> {
    let m = cx.object(path, v)?;
    cx.unknown_keys(path, m, IFACE_KEYS);
    let before = cx.problems.len();
    let name = match m.get("name") {
        Some(n) => cx.iface_name(&join(path, "name"), n),
        None => {
            cx.err(&join(path, "name"), "required");
            None
        }
    };
    let state = match m.get("state") {
        None => Some(InterfaceState::Up),
        Some(s) => match cx.string(&join(path, "state"), s) {
            Some("up") => Some(InterfaceState::Up),
            Some("down") => Some(InterfaceState::Down),
            Some("absent") => Some(InterfaceState::Absent),
            Some(other) => {
                cx.err(
                    &join(path, "state"),
                    format!("unsupported state {other:?} (supported: up, down, absent)"),
                );
                None
            }
            None => None,
        },
    };
    let type_name = match m.get("type") {
        None => None,
        Some(t) => cx.string(&join(path, "type"), t).map(str::to_string),
    };
    // Type-specific sections are only valid with their type.
    let sections = [
        ("vrf", "vrf"),
        ("veth", "veth"),
        ("bridge", "linux-bridge"),
        ("vlan", "vlan"),
    ];
    for (section, ty) in sections {
        if m.contains_key(section) && type_name.as_deref() != Some(ty) {
            cx.err(
                &join(path, section),
                format!("only valid for interfaces of type {ty}"),
            );
        }
    }
    // An absent interface needs no type-specific section: it is removed by name.
    let absent_without_section = state == Some(InterfaceState::Absent)
        && !["vrf", "vlan", "veth", "bridge"]
            .iter()
            .any(|k| m.contains_key(*k));
    let kind = match type_name.as_deref() {
        None => Some(InterfaceKind::Unknown),
        Some("vrf" | "vlan") if absent_without_section => Some(InterfaceKind::Unknown),
        Some("ethernet") => Some(InterfaceKind::Ethernet),
        Some("dummy") => Some(InterfaceKind::Dummy),
        Some("veth") => {
            let mut peer = None;
            if let Some(sec) = m.get("veth") {
                let p = join(path, "veth");
                if let Some(sm) = cx.object(&p, sec) {
                    cx.unknown_keys(&p, sm, &["peer"]);
                    if let Some(pv) = sm.get("peer") {
                        peer = cx.iface_name(&join(&p, "peer"), pv);
                    }
                }
            }
            Some(InterfaceKind::Veth { peer })
        }
        Some("linux-bridge") => {
            let mut ports = None;
            let mut stp = None;
            if let Some(sec) = m.get("bridge") {
                let p = join(path, "bridge");
                if let Some(sm) = cx.object(&p, sec) {
                    cx.unknown_keys(&p, sm, &["port", "options"]);
                    if let Some(pl) = sm.get("port") {
                        let pp = join(&p, "port");
                        if let Some(list) = cx.array(&pp, pl) {
                            let mut names = Vec::new();
                            for (i, item) in list.iter().enumerate() {
                                let ip = format!("{pp}[{i}]");
                                if let Some(pm) = cx.object(&ip, item) {
                                    cx.unknown_keys(&ip, pm, &["name"]);
                                    match pm.get("name") {
                                        Some(n) => {
                                            if let Some(n) = cx.iface_name(&join(&ip, "name"), n) {
                                                names.push(n);
                                            }
                                        }
                                        None => cx.err(&join(&ip, "name"), "required"),
                                    }
                                }
                            }
                            ports = Some(names);
                        }
                    }
                    if let Some(ov) = sm.get("options") {
                        let op = join(&p, "options");
                        if let Some(om) = cx.object(&op, ov) {
                            cx.unknown_keys(&op, om, &["stp"]);
                            if let Some(sv) = om.get("stp") {
                                let sp = join(&op, "stp");
                                if let Some(stpm) = cx.object(&sp, sv) {
                                    cx.unknown_keys(&sp, stpm, &["enabled"]);
                                    if let Some(e) = stpm.get("enabled") {
                                        stp = cx.bool(&join(&sp, "enabled"), e);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Some(InterfaceKind::LinuxBridge { ports, stp })
        }
        Some("vlan") => {
            let p = join(path, "vlan");
            match m.get("vlan") {
                None => {
                    cx.err(&p, "required for type vlan (base-iface and id)");
                    None
                }
                Some(sec) => {
                    let sm = cx.object(&p, sec)?;
                    cx.unknown_keys(&p, sm, &["base-iface", "id", "protocol"]);
                    let base = match sm.get("base-iface") {
                        Some(b) => cx.iface_name(&join(&p, "base-iface"), b),
                        None => {
                            cx.err(&join(&p, "base-iface"), "required");
                            None
                        }
                    };
                    let id = match sm.get("id") {
                        Some(i) => cx.uint(&join(&p, "id"), i, 0, 4094).and_then(VlanId::new),
                        None => {
                            cx.err(&join(&p, "id"), "required");
                            None
                        }
                    };
                    if let Some(pr) = sm.get("protocol") {
                        let pp = join(&p, "protocol");
                        if let Some(s) = cx.string(&pp, pr) {
                            if s != "802.1q" {
                                cx.err(
                                    &pp,
                                    format!("unsupported protocol {s:?} (supported: 802.1q)"),
                                );
                            }
                        }
                    }
                    match (base, id) {
                        (Some(base_iface), Some(id)) => {
                            Some(InterfaceKind::Vlan { base_iface, id })
                        }
                        _ => None,
                    }
                }
            }
        }
        Some("vrf") => {
            let p = join(path, "vrf");
            match m.get("vrf") {
                None => {
                    cx.err(&p, "required for type vrf (port and route-table-id)");
                    None
                }
                Some(sec) => {
                    let sm = cx.object(&p, sec)?;
                    cx.unknown_keys(&p, sm, &["port", "route-table-id"]);
                    let mut ports = None;
                    if let Some(pl) = sm.get("port") {
                        let pp = join(&p, "port");
                        if let Some(list) = cx.array(&pp, pl) {
                            let mut names = Vec::new();
                            for (i, item) in list.iter().enumerate() {
                                if let Some(n) = cx.iface_name(&format!("{pp}[{i}]"), item) {
                                    names.push(n);
                                }
                            }
                            ports = Some(names);
                        }
                    }
                    let tp = join(&p, "route-table-id");
                    let table = match sm.get("route-table-id") {
                        Some(t) => cx.uint(&tp, t, 1, u64::from(u32::MAX)).and_then(|t| {
                            let t = RouteTableId::new(t as u32);
                            if t.is_reserved() {
                                cx.err(
                                    &tp,
                                    format!(
                                        "table {t} is reserved by the kernel (253 default, 254 main, 255 local)"
                                    ),
                                );
                                None
                            } else {
                                Some(t)
                            }
                        }),
                        None => {
                            cx.err(&tp, "required");
                            None
                        }
                    };
                    table.map(|table| InterfaceKind::Vrf { ports, table })
                }
            }
        }
        Some(other) => {
            cx.err(
                &join(path, "type"),
                format!(
                    "unsupported interface type {other:?} (supported: ethernet, veth, dummy, linux-bridge, vlan, vrf)"
                ),
            );
            None
        }
    };
    let mtu = m
        .get("mtu")
        .and_then(|v| cx.uint(&join(path, "mtu"), v, 68, 65535))
        .map(|v| v as u32);
    let ipv4 = m
        .get("ipv4")
        .and_then(|v| parse_ip(cx, &join(path, "ipv4"), v, Family::Ipv4));
    let ipv6 = m
        .get("ipv6")
        .and_then(|v| parse_ip(cx, &join(path, "ipv6"), v, Family::Ipv6));
    if cx.problems.len() != before {
        return None;
    }
    Some(Interface {
        name: name?,
        kind: kind?,
        state: state?,
        mtu,
        ipv4,
        ipv6,
    })
}

fn parse_ip(cx: &mut Ctx, path: &str, v: &Value, family: Family) -> Option<IpConfig> {
    let m = cx.object(path, v)?;
    cx.unknown_keys(
        path,
        m,
        match family {
            Family::Ipv4 => IPV4_KEYS,
            Family::Ipv6 => IPV6_KEYS,
        },
    );
    let mut cfg = IpConfig::default();
    if let Some(e) = m.get("enabled") {
        cfg.enabled = cx.bool(&join(path, "enabled"), e);
    }
    for key in ["dhcp", "autoconf"] {
        if let Some(d) = m.get(key) {
            if cx.bool(&join(path, key), d) == Some(true) {
                cx.err(
                    &join(path, key),
                    format!(
                        "{key}: true is not supported; metalroute applies static addresses only"
                    ),
                );
            }
        }
    }
    if let Some(f) = m.get("forwarding") {
        cfg.forwarding = cx.bool(&join(path, "forwarding"), f);
    }
    if let Some(r) = m.get("rp-filter") {
        let rp = join(path, "rp-filter");
        cfg.rp_filter = match r {
            Value::String(s) => match s.as_str() {
                "disabled" => Some(RpFilter::Disabled),
                "strict" => Some(RpFilter::Strict),
                "loose" => Some(RpFilter::Loose),
                other => {
                    cx.err(
                        &rp,
                        format!("{other:?} is not a reverse-path filter mode (disabled, strict, loose or 0, 1, 2)"),
                    );
                    None
                }
            },
            other => cx.uint(&rp, other, 0, 2).and_then(RpFilter::from_value),
        };
    }
    if let Some(a) = m.get("address") {
        let ap = join(path, "address");
        if let Some(list) = cx.array(&ap, a) {
            let mut addrs = Vec::new();
            let mut seen = BTreeSet::new();
            for (i, item) in list.iter().enumerate() {
                let ip_path = format!("{ap}[{i}]");
                let Some(am) = cx.object(&ip_path, item) else {
                    continue;
                };
                cx.unknown_keys(&ip_path, am, &["ip", "prefix-length"]);
                let ip = match am.get("ip") {
                    Some(v) => cx.ip(&join(&ip_path, "ip"), v),
                    None => {
                        cx.err(&join(&ip_path, "ip"), "required");
                        None
                    }
                };
                let max = match family {
                    Family::Ipv4 => 32,
                    Family::Ipv6 => 128,
                };
                let len = match am.get("prefix-length") {
                    Some(v) => cx.uint(&join(&ip_path, "prefix-length"), v, 0, max),
                    None => {
                        cx.err(&join(&ip_path, "prefix-length"), "required");
                        None
                    }
                };
                if let (Some(ip), Some(len)) = (ip, len) {
                    if Family::of_addr(&ip) != family {
                        cx.err(
                            &join(&ip_path, "ip"),
                            format!("{ip} is not an {} address", family.as_str()),
                        );
                        continue;
                    }
                    // `len` was checked against the family's maximum above.
                    match IpNet::new(ip, len as u8) {
                        Ok(net) => {
                            if !seen.insert(ip) {
                                cx.err(&join(&ip_path, "ip"), format!("{ip} is listed twice"));
                            }
                            addrs.push(InterfaceAddress(net));
                        }
                        Err(e) => cx.err(&ip_path, e.to_string()),
                    }
                }
            }
            cfg.addresses = Some(addrs);
        }
    }
    if cfg.enabled == Some(false) && cfg.addresses.as_ref().is_some_and(|a| !a.is_empty()) {
        cx.err(
            &join(path, "address"),
            "addresses given while enabled is false",
        );
    }
    Some(cfg)
}

fn parse_routes(cx: &mut Ctx, v: &Value, state: &mut DesiredState) {
    let Some(m) = cx.object("routes", v) else {
        return;
    };
    cx.unknown_keys("routes", m, &["config"]);
    let Some(cfg) = m.get("config") else {
        return;
    };
    let Some(list) = cx.array("routes.config", cfg) else {
        return;
    };
    for (i, item) in list.iter().enumerate() {
        let path = format!("routes.config[{i}]");
        let Some(rm) = cx.object(&path, item) else {
            continue;
        };
        cx.unknown_keys(&path, rm, ROUTE_KEYS);
        let before = cx.problems.len();
        let absent = match rm.get("state") {
            None => false,
            Some(s) => match cx.string(&join(&path, "state"), s) {
                Some("absent") => true,
                Some(other) => {
                    cx.err(
                        &join(&path, "state"),
                        format!("{other:?} is not a route state (only absent)"),
                    );
                    false
                }
                None => false,
            },
        };
        let destination = rm
            .get("destination")
            .and_then(|d| cx.prefix(&join(&path, "destination"), d));
        let nh_iface = rm
            .get("next-hop-interface")
            .and_then(|n| cx.iface_name(&join(&path, "next-hop-interface"), n));
        let nh_addr: Match<IpAddr> = match rm.get("next-hop-address") {
            None => Match::Any,
            Some(v) if is_empty_string(v) => Match::Unset,
            Some(v) => match cx.ip(&join(&path, "next-hop-address"), v) {
                Some(a) => Match::Is(a),
                None => Match::Any,
            },
        };
        let metric = match rm.get("metric") {
            None => None,
            Some(Value::Number(n)) if n.as_i64() == Some(-1) => None,
            Some(v) => cx
                .uint(&join(&path, "metric"), v, 0, u64::from(u32::MAX))
                .map(|v| v as u32),
        };
        let table = rm.get("table-id").and_then(|t| {
            cx.uint(&join(&path, "table-id"), t, 0, u64::from(u32::MAX))
                .map(|t| RouteTableId::new(t as u32))
        });
        let weight = rm
            .get("weight")
            .and_then(|w| cx.uint(&join(&path, "weight"), w, 1, 256))
            .map(|w| w as u16);
        let route_type = match rm.get("route-type") {
            None => None,
            Some(t) => match cx.string(&join(&path, "route-type"), t) {
                Some("blackhole") => Some(RouteType::Blackhole),
                Some("unreachable") => Some(RouteType::Unreachable),
                Some("prohibit") => Some(RouteType::Prohibit),
                Some(other) => {
                    cx.err(
                        &join(&path, "route-type"),
                        format!("{other:?} is not a route type (blackhole, unreachable, prohibit)"),
                    );
                    None
                }
                None => None,
            },
        };
        let source = rm
            .get("source")
            .and_then(|s| cx.ip(&join(&path, "source"), s));
        if cx.problems.len() != before {
            continue;
        }
        if absent {
            state.absent_routes.push(RouteSelector {
                destination,
                next_hop_interface: nh_iface,
                next_hop_address: nh_addr,
                metric,
                table,
                route_type,
            });
            continue;
        }
        let Some(destination) = destination else {
            cx.err(
                &join(&path, "destination"),
                "required for a route that is not absent",
            );
            continue;
        };
        let next_hop_address = match nh_addr {
            Match::Is(a) => Some(a),
            Match::Unset | Match::Any => None,
        };
        let fam = Family::of_net(&destination);
        if let Some(a) = next_hop_address {
            if Family::of_addr(&a) != fam {
                cx.err(
                    &join(&path, "next-hop-address"),
                    format!("{a} is not of the destination's family ({destination})"),
                );
            }
        }
        if let Some(s) = source {
            if Family::of_addr(&s) != fam {
                cx.err(
                    &join(&path, "source"),
                    format!("{s} is not of the destination's family ({destination})"),
                );
            }
        }
        if route_type.is_some() {
            if next_hop_address.is_some() || nh_iface.is_some() {
                cx.err(
                    &join(&path, "route-type"),
                    "a blackhole/unreachable/prohibit route takes no next hop",
                );
            }
        } else if nh_iface.is_none() {
            cx.err(
                &join(&path, "next-hop-interface"),
                "required for a route that is not absent (unless route-type is set)",
            );
        }
        if weight.is_some() && next_hop_address.is_none() {
            cx.err(&join(&path, "weight"), "weight needs a next-hop-address");
        }
        state.routes.push(Route {
            destination,
            next_hop_interface: nh_iface,
            next_hop_address,
            metric,
            table: table.unwrap_or(RouteTableId::MAIN),
            weight,
            route_type,
            source,
        });
    }
}

fn parse_rules(cx: &mut Ctx, v: &Value, state: &mut DesiredState) {
    let Some(m) = cx.object("route-rules", v) else {
        return;
    };
    cx.unknown_keys("route-rules", m, &["config"]);
    let Some(cfg) = m.get("config") else {
        return;
    };
    let Some(list) = cx.array("route-rules.config", cfg) else {
        return;
    };
    for (i, item) in list.iter().enumerate() {
        let path = format!("route-rules.config[{i}]");
        let Some(rm) = cx.object(&path, item) else {
            continue;
        };
        cx.unknown_keys(&path, rm, RULE_KEYS);
        let before = cx.problems.len();
        let absent = match rm.get("state") {
            None => false,
            Some(s) => match cx.string(&join(&path, "state"), s) {
                Some("absent") => true,
                Some(other) => {
                    cx.err(
                        &join(&path, "state"),
                        format!("{other:?} is not a route rule state (only absent)"),
                    );
                    false
                }
                None => false,
            },
        };
        let family = match rm.get("family") {
            None => None,
            Some(f) => match cx.string(&join(&path, "family"), f) {
                Some("ipv4") => Some(Family::Ipv4),
                Some("ipv6") => Some(Family::Ipv6),
                Some(other) => {
                    cx.err(
                        &join(&path, "family"),
                        format!("{other:?} is not a family (ipv4, ipv6)"),
                    );
                    None
                }
                None => None,
            },
        };
        let prefix_match = |cx: &mut Ctx, key: &str| -> Match<IpNet> {
            match rm.get(key) {
                None => Match::Any,
                Some(v) if is_empty_string(v) => Match::Unset,
                Some(v) => cx
                    .prefix(&join(&path, key), v)
                    .map_or(Match::Any, Match::Is),
            }
        };
        let ip_from = prefix_match(cx, "ip-from");
        let ip_to = prefix_match(cx, "ip-to");
        let priority = rm
            .get("priority")
            .and_then(|p| cx.uint(&join(&path, "priority"), p, 0, u64::from(u32::MAX)))
            .map(|p| p as u32);
        let table = rm.get("route-table").and_then(|t| {
            cx.uint(&join(&path, "route-table"), t, 0, u64::from(u32::MAX))
                .map(|t| RouteTableId::new(t as u32))
        });
        let fwmark = rm
            .get("fwmark")
            .and_then(|f| cx.mark(&join(&path, "fwmark"), f));
        let fwmask = rm
            .get("fwmask")
            .and_then(|f| cx.mark(&join(&path, "fwmask"), f));
        let iif = rm
            .get("iif")
            .and_then(|f| cx.iface_name(&join(&path, "iif"), f));
        let action = match rm.get("action") {
            None => None,
            Some(a) => match cx.string(&join(&path, "action"), a) {
                Some("blackhole") => Some(RuleAction::Blackhole),
                Some("unreachable") => Some(RuleAction::Unreachable),
                Some("prohibit") => Some(RuleAction::Prohibit),
                Some(other) => {
                    cx.err(
                        &join(&path, "action"),
                        format!(
                            "{other:?} is not a rule action (blackhole, unreachable, prohibit)"
                        ),
                    );
                    None
                }
                None => None,
            },
        };
        if cx.problems.len() != before {
            continue;
        }
        if absent {
            state.absent_route_rules.push(RouteRuleSelector {
                family,
                ip_from,
                ip_to,
                priority,
                table,
                fwmark,
                fwmask,
                iif,
                action,
            });
            continue;
        }
        let ip_from = match ip_from {
            Match::Is(n) => Some(n),
            Match::Unset => {
                cx.err(
                    &join(&path, "ip-from"),
                    "empty string is only meaningful with state: absent",
                );
                None
            }
            Match::Any => None,
        };
        let ip_to = match ip_to {
            Match::Is(n) => Some(n),
            Match::Unset => {
                cx.err(
                    &join(&path, "ip-to"),
                    "empty string is only meaningful with state: absent",
                );
                None
            }
            Match::Any => None,
        };
        let fams: BTreeSet<Family> = ip_from
            .iter()
            .chain(ip_to.iter())
            .map(Family::of_net)
            .chain(family)
            .collect();
        if fams.len() > 1 {
            cx.err(
                &path,
                "ip-from, ip-to and family name different address families",
            );
            continue;
        }
        let family = fams.into_iter().next().unwrap_or(Family::Ipv4);
        if let Some(p) = priority {
            if RESERVED_RULE_PRIORITIES.contains(&p) {
                cx.err(
                    &join(&path, "priority"),
                    format!("priority {p} is reserved for OVN-Kubernetes (5000, 5999, 6000)"),
                );
            }
            if p == 0 || p >= 32766 {
                cx.err(
                    &join(&path, "priority"),
                    format!("priority {p} would collide with the kernel's default rules (0, 32766, 32767)"),
                );
            }
        }
        if action.is_some() && table.is_some() {
            cx.err(
                &join(&path, "action"),
                "a rule with an action takes no route-table",
            );
        }
        if fwmask.is_some() && fwmark.is_none() {
            cx.err(&join(&path, "fwmask"), "fwmask needs fwmark");
        }
        let table = if action.is_some() {
            None
        } else {
            Some(table.unwrap_or(RouteTableId::MAIN))
        };
        state.route_rules.push(RouteRule {
            family,
            ip_from,
            ip_to,
            priority,
            table,
            fwmark,
            fwmask,
            iif,
            action,
        });
    }
}

fn parse_l3mdev(cx: &mut Ctx, v: &Value) -> Option<L3mdevAccept> {
    match v {
        Value::Bool(b) => Some(L3mdevAccept {
            tcp: Some(*b),
            udp: Some(*b),
            raw: Some(*b),
        }),
        Value::Object(m) => {
            cx.unknown_keys("l3mdev-accept", m, &["tcp", "udp", "raw"]);
            let mut out = L3mdevAccept::default();
            if let Some(x) = m.get("tcp") {
                out.tcp = cx.bool("l3mdev-accept.tcp", x);
            }
            if let Some(x) = m.get("udp") {
                out.udp = cx.bool("l3mdev-accept.udp", x);
            }
            if let Some(x) = m.get("raw") {
                out.raw = cx.bool("l3mdev-accept.raw", x);
            }
            Some(out)
        }
        other => {
            cx.err(
                "l3mdev-accept",
                format!(
                    "must be true/false or a mapping of tcp/udp/raw, found {}",
                    kind_of(other)
                ),
            );
            None
        }
    }
}

/// A next hop of a route: (table, destination, metric, gateway, device).
type HopKey = (u32, String, u32, Option<IpAddr>, Option<String>);

/// Checks across entries: duplicate names, ports claimed twice, references to interfaces the
/// same state removes, multipath groups that disagree.
fn cross_check(cx: &mut Ctx, state: &DesiredState) {
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, iface) in state.interfaces.iter().enumerate() {
        if let Some(first) = index.insert(iface.name.as_str(), i) {
            cx.err(
                &format!("interfaces[{i}].name"),
                format!("{} is also interfaces[{first}]", iface.name),
            );
        }
    }
    let absent = |name: &str| {
        state
            .interface(name)
            .is_some_and(|i| i.state == InterfaceState::Absent)
    };
    let mut controller_of: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, iface) in state.interfaces.iter().enumerate() {
        if iface.state == InterfaceState::Absent {
            continue;
        }
        let sec = match iface.kind {
            InterfaceKind::Vrf { .. } => "vrf.port",
            _ => "bridge.port",
        };
        if let Some(ports) = iface.kind.ports() {
            for (j, port) in ports.iter().enumerate() {
                let p = format!("interfaces[{i}].{sec}[{j}]");
                if port == &iface.name {
                    cx.err(&p, "an interface cannot be its own port");
                }
                if absent(port.as_str()) {
                    cx.err(&p, format!("{port} is absent in this state"));
                }
                if let Some(other) = controller_of.insert(port.as_str(), iface.name.as_str()) {
                    cx.err(&p, format!("{port} is already a port of {other}"));
                }
            }
        }
        if let InterfaceKind::Vlan { base_iface, .. } = &iface.kind {
            if absent(base_iface.as_str()) {
                cx.err(
                    &format!("interfaces[{i}].vlan.base-iface"),
                    format!("{base_iface} is absent in this state"),
                );
            }
        }
        if let InterfaceKind::Veth { peer: Some(peer) } = &iface.kind {
            if peer == &iface.name {
                cx.err(
                    &format!("interfaces[{i}].veth.peer"),
                    "a veth cannot be its own peer",
                );
            }
        }
    }
    let mut tables: BTreeMap<u32, &str> = BTreeMap::new();
    for (i, iface) in state.interfaces.iter().enumerate() {
        if let InterfaceKind::Vrf { table, .. } = iface.kind {
            if iface.state == InterfaceState::Absent {
                continue;
            }
            if let Some(other) = tables.insert(table.get(), iface.name.as_str()) {
                cx.err(
                    &format!("interfaces[{i}].vrf.route-table-id"),
                    format!("table {table} is already used by VRF {other}"),
                );
            }
        }
    }
    // Multipath groups: same (table, destination, metric) must agree on being typed or not.
    let mut groups: BTreeMap<(u32, String, u32), (usize, Option<RouteType>)> = BTreeMap::new();
    let mut seen_hops: BTreeSet<HopKey> = BTreeSet::new();
    for (i, r) in state.routes.iter().enumerate() {
        let path = format!("routes.config[{i}]");
        if let Some(n) = &r.next_hop_interface {
            if absent(n.as_str()) {
                cx.err(
                    &join(&path, "next-hop-interface"),
                    format!("{n} is absent in this state"),
                );
            }
        }
        let key = (
            r.table.get(),
            r.destination.to_string(),
            r.effective_metric(),
        );
        match groups.get(&key) {
            Some((first, ty)) if *ty != r.route_type || r.route_type.is_some() => cx.err(
                &path,
                format!(
                    "same destination, table and metric as routes.config entry {first}; only gateway routes can form a multipath route"
                ),
            ),
            Some(_) => {}
            None => {
                groups.insert(key.clone(), (i, r.route_type));
            }
        }
        let hop = (
            key.0,
            key.1,
            key.2,
            r.next_hop_address,
            r.next_hop_interface.as_ref().map(|n| n.to_string()),
        );
        if !seen_hops.insert(hop) {
            cx.err(
                &path,
                "duplicate route (same destination, table, metric and next hop)",
            );
        }
    }
    for (i, r) in state.route_rules.iter().enumerate() {
        if let Some(n) = &r.iif {
            if absent(n.as_str()) {
                cx.err(
                    &format!("route-rules.config[{i}].iif"),
                    format!("{n} is absent in this state"),
                );
            }
        }
    }
}
