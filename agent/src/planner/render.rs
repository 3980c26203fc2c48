//! The plan as text (`Display`, for `metalroute plan` and `show plan`) and as JSON
//! ([`NodePlan::to_json`], for `--json`). Passwords are never rendered: only where they come
//! from.

use super::{
    Advertisement, BgpDecision, EgressPlan, L2Decision, NodePlan, SessionParams, SessionPlan,
    SessionType, Vrf,
};
use metalroute_crds::config::{BfdProfile, SourceIpBy};
use metalroute_crds::nmstate::{InterfaceKind, InterfaceName};
use metalroute_crds::values::{PeerAsn, PeerTarget};
use serde_json::{json, Value};
use std::fmt;

fn peer_asn(p: &PeerAsn) -> String {
    match p {
        PeerAsn::Fixed(a) => a.to_string(),
        PeerAsn::Internal => "internal".into(),
        PeerAsn::External => "external".into(),
    }
}

fn session_type(t: SessionType) -> &'static str {
    match t {
        SessionType::Ibgp => "iBGP",
        SessionType::Ebgp => "eBGP",
    }
}

fn ms(d: std::time::Duration) -> u128 {
    d.as_millis()
}

fn bfd_text(b: &BfdProfile) -> String {
    format!(
        "bfd {}: rx {}ms tx {}ms multiplier {} echo {} (interval {}ms) passive {} minimum-ttl {}",
        b.name,
        ms(b.receive_interval),
        ms(b.transmit_interval),
        b.detect_multiplier,
        if b.echo_mode { "on" } else { "off" },
        ms(b.echo_interval),
        if b.passive_mode { "on" } else { "off" },
        b.minimum_ttl
    )
}

fn bfd_json(b: &BfdProfile) -> Value {
    json!({
        "profile": b.name,
        "receiveIntervalMs": ms(b.receive_interval),
        "transmitIntervalMs": ms(b.transmit_interval),
        "detectMultiplier": b.detect_multiplier,
        "echoMode": b.echo_mode,
        "echoIntervalMs": ms(b.echo_interval),
        "passiveMode": b.passive_mode,
        "minimumTtl": b.minimum_ttl,
    })
}

fn target_json(t: &PeerTarget) -> Value {
    match t {
        PeerTarget::Address(a) => json!({"address": a.to_string()}),
        PeerTarget::Interface(i) => json!({"interface": i}),
    }
}

fn params_text(p: &SessionParams) -> String {
    let mut parts = vec![format!(
        "AS {} -> {} ({}), port {}, families {}",
        p.announced_asn(),
        peer_asn(&p.peer_asn),
        session_type(p.session_type()),
        p.port,
        p.families
    )];
    if let Some(l) = p.local_asn {
        parts.push(format!("myASN {} (localASN {l} announced)", p.my_asn));
    }
    if let Some(r) = p.router_id {
        parts.push(format!("router-id {r}"));
    }
    if let Some(s) = p.source_address {
        parts.push(format!("source {s}"));
    }
    match p.timers {
        Some(t) => parts.push(format!(
            "hold {}s keepalive {}s",
            t.hold.seconds(),
            t.keepalive.as_secs_f64()
        )),
        None => parts.push("timers default".into()),
    }
    if let Some(c) = p.connect_time {
        parts.push(format!("connect {}s", c.as_duration().as_secs()));
    }
    if p.ebgp_multi_hop {
        parts.push("ebgp-multihop".into());
    }
    if p.graceful_restart {
        parts.push("graceful-restart".into());
    }
    if let Some(pw) = &p.password {
        parts.push(format!("password {pw}"));
    }
    if let Some(b) = &p.bfd {
        parts.push(bfd_text(b));
    }
    parts.join(", ")
}

fn adv_text(a: &Advertisement) -> String {
    let mut parts = Vec::new();
    if let Some(lp) = a.attributes.local_pref {
        parts.push(format!("local-pref {lp}"));
    }
    if !a.attributes.communities.is_empty() {
        let c: Vec<String> = a
            .attributes
            .communities
            .iter()
            .map(ToString::to_string)
            .collect();
        parts.push(format!("communities {}", c.join(" ")));
    }
    let svcs: Vec<String> = a.services.iter().map(ToString::to_string).collect();
    let via: Vec<&str> = a.via.iter().map(String::as_str).collect();
    parts.push(format!("services {}", svcs.join(" ")));
    parts.push(format!("via {}", via.join(" ")));
    parts.join(", ")
}

fn session_json(vrf: &Vrf, s: &SessionPlan) -> Value {
    let p = &s.params;
    json!({
        "peer": p.peer,
        "vrf": vrf.device(),
        "target": target_json(&p.target),
        "port": p.port,
        "myASN": p.my_asn.0,
        "localASN": p.local_asn.map(|a| a.0),
        "peerASN": match p.peer_asn { PeerAsn::Fixed(a) => json!(a.0), _ => Value::Null },
        "dynamicASN": match p.peer_asn { PeerAsn::Internal => json!("internal"), PeerAsn::External => json!("external"), PeerAsn::Fixed(_) => Value::Null },
        "type": session_type(p.session_type()),
        "sourceAddress": p.source_address.map(|a| a.to_string()),
        "routerID": p.router_id.map(|r| r.to_string()),
        "holdTimeSeconds": p.timers.map(|t| t.hold.seconds()),
        "keepaliveTimeSeconds": p.timers.map(|t| t.keepalive.as_secs_f64()),
        "connectTimeSeconds": p.connect_time.map(|c| c.as_duration().as_secs()),
        "ebgpMultiHop": p.ebgp_multi_hop,
        "gracefulRestart": p.graceful_restart,
        "families": {"ipv4": p.families.ipv4, "ipv6": p.families.ipv6},
        "disableMP": p.disable_mp,
        "dualStackAddressFamily": p.dual_stack_address_family,
        "password": p.password.as_ref().map(|pw| json!({"set": true, "source": pw.source().to_string()})),
        "bfd": p.bfd.as_ref().map(bfd_json),
        "advertisements": s.advertisements.iter().map(|(prefix, a)| json!({
            "prefix": prefix.to_string(),
            "localPref": a.attributes.local_pref,
            "communities": a.attributes.communities.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "services": a.services.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "via": a.via,
        })).collect::<Vec<_>>(),
    })
}

fn decision_json(d: &BgpDecision) -> Value {
    match d {
        BgpDecision::Announce { advertisements } => {
            json!({"announce": true, "advertisements": advertisements})
        }
        BgpDecision::Withhold { reason, detail } => {
            json!({"announce": false, "reason": reason.as_str(), "detail": detail})
        }
    }
}

fn l2_json(d: &L2Decision) -> Value {
    match d {
        L2Decision::Candidate {
            advertisements,
            interfaces,
        } => json!({"candidate": true, "advertisements": advertisements, "interfaces": interfaces}),
        L2Decision::NotCandidate(r) => json!({"candidate": false, "reason": r.as_str()}),
    }
}

fn source_ip_by(s: SourceIpBy) -> &'static str {
    match s {
        SourceIpBy::LoadBalancerIp => "LoadBalancerIP",
        SourceIpBy::Network => "Network",
    }
}

fn egress_json(e: &EgressPlan) -> Value {
    json!({
        "sourceIPBy": source_ip_by(e.source_ip_by),
        "network": e.network,
        "eligible": e.eligible,
        "selected": e.selected,
        "serviceFound": e.service_found,
        "lbIPs": e.lb_ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn names(v: &[InterfaceName]) -> String {
    v.iter()
        .map(InterfaceName::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

fn kind_text(k: &InterfaceKind) -> String {
    match k {
        InterfaceKind::Vrf { ports, table } => format!(
            "vrf table {table}{}",
            ports
                .as_ref()
                .map(|p| format!(" ports {}", names(p)))
                .unwrap_or_default()
        ),
        InterfaceKind::LinuxBridge { ports, .. } => format!(
            "linux-bridge{}",
            ports
                .as_ref()
                .map(|p| format!(" ports {}", names(p)))
                .unwrap_or_default()
        ),
        InterfaceKind::Vlan { base_iface, id } => format!("vlan {} on {base_iface}", id.get()),
        other => other.type_name().unwrap_or("existing").to_string(),
    }
}

impl NodePlan {
    /// The plan as JSON (no password, only where each comes from).
    pub fn to_json(&self) -> Value {
        let n = &self.network;
        json!({
            "node": self.node,
            "nodeLabels": self.node_labels,
            "vrfs": self.vrfs.iter().map(|(vrf, p)| json!({
                "vrf": vrf.device(),
                "sessions": p.sessions.values().map(|s| session_json(vrf, s)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "heldPeers": self.held_peers.iter().map(|(name, h)| json!({
                "peer": name,
                "reason": h.reason.as_str(),
                "details": h.details,
                "selectsNode": h.selects_node,
            })).collect::<Vec<_>>(),
            "services": self.services.iter().map(|(k, s)| {
                let mut v = decision_json(&s.bgp);
                v["service"] = json!(k.to_string());
                v["ips"] = json!(s.ips.iter().map(ToString::to_string).collect::<Vec<_>>());
                v["pool"] = json!(s.pool);
                v
            }).collect::<Vec<_>>(),
            "l2": self.l2.iter().map(|(k, d)| {
                let mut v = l2_json(d);
                v["service"] = json!(k.to_string());
                v
            }).collect::<Vec<_>>(),
            "egress": self.egress.iter().map(|(k, e)| {
                let mut v = egress_json(e);
                v["service"] = json!(k.to_string());
                v
            }).collect::<Vec<_>>(),
            "network": {
                "policies": n.policies,
                "interfaces": n.desired.interfaces.iter().map(|i| json!({
                    "name": i.name.as_str(),
                    "type": i.kind.type_name(),
                    "state": i.state.as_str(),
                })).collect::<Vec<_>>(),
                "routes": n.desired.routes.len(),
                "absentRoutes": n.desired.absent_routes.len(),
                "routeRules": n.desired.route_rules.len(),
                "absentRouteRules": n.desired.absent_route_rules.len(),
                "desiredState": n.desired.to_value(),
                "conflicts": n.conflicts.iter().map(|c| json!({
                    "kept": c.kept, "ignored": c.ignored, "detail": c.detail,
                })).collect::<Vec<_>>(),
            },
            "invalidObjects": self.invalid_objects.iter().map(|r| json!({
                "kind": r.key.kind,
                "namespace": r.key.namespace,
                "name": r.key.name,
                "errors": r.errors.iter().map(|e| json!({"field": e.field, "reason": e.reason, "transient": e.transient})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "warnings": self.warnings,
        })
    }
}

impl fmt::Display for NodePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "node {}", self.node)?;
        let labels: Vec<String> = self
            .node_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(f, "labels: {}", labels.join(", "))?;

        writeln!(f, "\nBGP sessions:")?;
        if self.vrfs.is_empty() {
            writeln!(f, "  (none)")?;
        }
        for (vrf, p) in &self.vrfs {
            writeln!(f, "  vrf {vrf}:")?;
            for s in p.sessions.values() {
                writeln!(
                    f,
                    "    peer {} {}: {}",
                    s.params.peer,
                    s.params.target,
                    params_text(&s.params)
                )?;
                if s.advertisements.is_empty() {
                    writeln!(f, "      (no advertisements)")?;
                }
                for (prefix, a) in &s.advertisements {
                    writeln!(f, "      {prefix}: {}", adv_text(a))?;
                }
            }
        }
        if !self.held_peers.is_empty() {
            writeln!(f, "\nHeld peers (no session):")?;
            for (name, h) in &self.held_peers {
                let sel = match h.selects_node {
                    Some(true) => "",
                    Some(false) => " (does not select this node)",
                    None => " (node selection unknown: the peer is invalid until then)",
                };
                writeln!(f, "  {name}: {}{sel}", h.reason.as_str())?;
                for d in &h.details {
                    writeln!(f, "    {d}")?;
                }
            }
        }

        writeln!(f, "\nServices:")?;
        if self.services.is_empty() {
            writeln!(f, "  (none)")?;
        }
        for (k, s) in &self.services {
            let ips: Vec<String> = s.ips.iter().map(ToString::to_string).collect();
            let pool = s
                .pool
                .as_deref()
                .map(|p| format!(" pool {p}"))
                .unwrap_or_default();
            writeln!(f, "  {k} [{}]{pool}: {}", ips.join(", "), s.bgp)?;
        }

        if !self.l2.is_empty() {
            writeln!(
                f,
                "\nL2 candidacy (the election among candidates is not planned here):"
            )?;
            for (k, d) in &self.l2 {
                match d {
                    L2Decision::Candidate {
                        advertisements,
                        interfaces,
                    } => {
                        let ifs = if interfaces.is_empty() {
                            "all interfaces".to_string()
                        } else {
                            interfaces.iter().cloned().collect::<Vec<_>>().join(", ")
                        };
                        let ads: Vec<&str> = advertisements.iter().map(String::as_str).collect();
                        writeln!(f, "  {k}: candidate on {ifs} (via {})", ads.join(", "))?;
                    }
                    L2Decision::NotCandidate(r) => writeln!(f, "  {k}: not a candidate: {r}")?,
                }
            }
        }

        if !self.egress.is_empty() {
            writeln!(f, "\nEgressServices:")?;
            for (k, e) in &self.egress {
                let ips: Vec<String> = e.lb_ips.iter().map(ToString::to_string).collect();
                writeln!(
                    f,
                    "  {k}: sourceIPBy {}, network {}, eligible {}, selected {}, LB IPs [{}]{}",
                    source_ip_by(e.source_ip_by),
                    e.network.as_deref().unwrap_or("main"),
                    e.eligible,
                    e.selected,
                    ips.join(", "),
                    if e.service_found {
                        ""
                    } else {
                        " (no LoadBalancer Service of that name)"
                    }
                )?;
            }
        }

        let n = &self.network;
        writeln!(f, "\nNetwork state:")?;
        if n.policies.is_empty() {
            writeln!(f, "  (no NodeNetworkConfigurationPolicy selects this node)")?;
        } else {
            writeln!(f, "  policies: {}", n.policies.join(", "))?;
            for i in &n.desired.interfaces {
                writeln!(
                    f,
                    "  interface {} ({}) {}",
                    i.name,
                    kind_text(&i.kind),
                    i.state.as_str()
                )?;
            }
            writeln!(
                f,
                "  routes {}, absent routes {}, route rules {}, absent route rules {}",
                n.desired.routes.len(),
                n.desired.absent_routes.len(),
                n.desired.route_rules.len(),
                n.desired.absent_route_rules.len()
            )?;
            for c in &n.conflicts {
                writeln!(f, "  conflict: {c}")?;
            }
        }

        if !self.invalid_objects.is_empty() {
            writeln!(f, "\nInvalid objects (left out):")?;
            for r in &self.invalid_objects {
                for e in &r.errors {
                    writeln!(f, "  {}: {e}", r.key)?;
                }
            }
        }
        if !self.warnings.is_empty() {
            writeln!(f, "\nWarnings:")?;
            for w in &self.warnings {
                writeln!(f, "  {w}")?;
            }
        }
        Ok(())
    }
}
