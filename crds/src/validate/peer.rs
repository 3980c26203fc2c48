//! BGPPeer checks: every field of one peer ([`check_peer`]) and the rules between peers that can
//! reach the same node ([`peer_conflict`]): one router ID, one myASN per VRF, one session per
//! (address or interface, VRF).

use super::{check_interface_name, Ctx};
use crate::config::Peer;
use crate::duration::{parse_go_duration, GoDuration};
use crate::metallb::v1beta2::BGPPeerSpec;
use crate::report::Issues;
use crate::selector::parse_selectors;
use crate::values::{
    Asn, BgpTimers, ConnectTime, Family, HoldTime, Md5Password, PeerAsn, PeerTarget,
};
use std::net::IpAddr;
use std::time::Duration;

/// The kernel's limit on a TCP MD5 key (TCP_MD5SIG_MAXKEYLEN).
const MD5_MAX_KEY_LEN: usize = 80;

fn asn_field(v: i64, field: &str, issues: &mut Issues) -> Option<Asn> {
    match Asn::from_raw(v) {
        Ok(a) => Some(a),
        Err(e) => {
            issues.error(field, e);
            None
        }
    }
}

fn duration_field(
    v: &Option<String>,
    field: &str,
    issues: &mut Issues,
) -> Option<Option<Duration>> {
    match v {
        None => Some(None),
        Some(s) => match parse_go_duration(s) {
            Ok(d) => Some(Some(d)),
            Err(e) => {
                issues.error(field, e.to_string());
                None
            }
        },
    }
}

/// Checks one BGPPeer spec; returns the typed peer when there is no error.
pub fn check_peer(name: &str, s: &BGPPeerSpec, ctx: &Ctx<'_>, issues: &mut Issues) -> Option<Peer> {
    let my_asn = match s.my_asn {
        0 => {
            issues.error("spec.myASN", "must be set to a non-zero AS number");
            None
        }
        v => asn_field(v, "spec.myASN", issues),
    };

    let peer_asn = match (s.peer_asn.filter(|a| *a != 0), s.dynamic_asn.as_deref()) {
        (Some(_), Some(_)) => {
            issues.error(
                "spec.dynamicASN",
                "spec.peerASN and spec.dynamicASN are mutually exclusive",
            );
            None
        }
        (None, None) => {
            issues.error(
                "spec.peerASN",
                "one of spec.peerASN or spec.dynamicASN must be set",
            );
            None
        }
        (Some(v), None) => asn_field(v, "spec.peerASN", issues).map(PeerAsn::Fixed),
        (None, Some("internal")) => Some(PeerAsn::Internal),
        (None, Some("external")) => Some(PeerAsn::External),
        (None, Some(other)) => {
            issues.error(
                "spec.dynamicASN",
                format!("{other:?} is not one of internal, external"),
            );
            None
        }
    };

    let local_asn = match s.local_asn {
        None => None,
        Some(v) if (1..=i64::from(u32::MAX)).contains(&v) => Some(Asn(v as u32)),
        Some(v) => {
            issues.error(
                "spec.localASN",
                format!("{v} is not an AS number in 1..4294967295"),
            );
            None
        }
    };

    let target = match (s.peer_address.as_deref(), s.interface.as_deref()) {
        (Some(_), Some(_)) => {
            issues.error(
                "spec.interface",
                "spec.peerAddress and spec.interface are mutually exclusive",
            );
            None
        }
        (None, None) => {
            issues.error(
                "spec.peerAddress",
                "one of spec.peerAddress or spec.interface must be set",
            );
            None
        }
        (Some(a), None) => match a.trim().parse::<IpAddr>() {
            Ok(ip) => Some(PeerTarget::Address(ip)),
            Err(_) => {
                issues.error("spec.peerAddress", format!("{a:?} is not an IP address"));
                None
            }
        },
        (None, Some(i)) => match check_interface_name(i) {
            Ok(()) => Some(PeerTarget::Interface(i.to_string())),
            Err(e) => {
                issues.error("spec.interface", e);
                None
            }
        },
    };

    let source_address = match s.source_address.as_deref() {
        None | Some("") => None,
        Some(a) => {
            match a.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    if let Some(PeerTarget::Address(peer)) = &target {
                        if Family::of(peer) != Family::of(&ip) {
                            issues.error(
                            "spec.sourceAddress",
                            format!("{ip} is not of the same IP family as spec.peerAddress ({peer})"),
                        );
                        }
                    }
                    Some(ip)
                }
                Err(_) => {
                    issues.error("spec.sourceAddress", format!("{a:?} is not an IP address"));
                    None
                }
            }
        }
    };

    let port = match s.peer_port {
        None => 179,
        Some(p) if (1..=16384).contains(&p) => p as u16,
        Some(p) => {
            issues.error("spec.peerPort", format!("{p} is out of range 1..16384"));
            179
        }
    };

    let hold = duration_field(&s.hold_time, "spec.holdTime", issues);
    let keepalive = duration_field(&s.keepalive_time, "spec.keepaliveTime", issues);
    let timers = match (hold, keepalive) {
        (Some(h), Some(k)) => check_timers(h, k, issues),
        _ => None,
    };

    let connect_time = match duration_field(&s.connect_time, "spec.connectTime", issues) {
        Some(Some(d)) => match ConnectTime::from_duration(d) {
            Ok(c) => Some(c),
            Err(e) => {
                issues.error("spec.connectTime", format!("{} {e}", GoDuration(d)));
                None
            }
        },
        _ => None,
    };

    let router_id = match s.router_id.as_deref() {
        None | Some("") => None,
        Some(r) => match r.trim().parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => Some(v4),
            Ok(IpAddr::V6(_)) => {
                issues.error(
                    "spec.routerID",
                    format!("{r:?} must be an IPv4 address (the BGP identifier is 32 bits)"),
                );
                None
            }
            Err(_) => {
                issues.error("spec.routerID", format!("{r:?} is not an IPv4 address"));
                None
            }
        },
    };

    let node_selector = parse_selectors(&s.node_selectors, "spec.nodeSelectors", issues);

    let password = check_password(s, ctx, issues);

    let bfd_profile = match s.bfd_profile.as_deref() {
        None | Some("") => None,
        Some(b) => {
            if ctx.config.bfd_profiles.contains_key(b) {
            } else if ctx.invalid_bfd_profiles.contains(b) {
                issues.transient("spec.bfdProfile", format!("BFDProfile {b} is invalid"));
            } else {
                issues.transient("spec.bfdProfile", format!("BFDProfile {b} does not exist"));
            }
            Some(b.to_string())
        }
    };

    let ebgp_multi_hop = s.ebgp_multi_hop.unwrap_or(false);
    if ebgp_multi_hop {
        let ibgp = match (peer_asn, my_asn) {
            (Some(PeerAsn::Fixed(p)), Some(m)) => p == m,
            (Some(PeerAsn::Internal), _) => true,
            _ => false,
        };
        if ibgp {
            issues.error(
                "spec.ebgpMultiHop",
                "must not be set for an iBGP peer (the peer's AS equals spec.myASN)",
            );
        }
    }

    let vrf = match s.vrf.as_deref() {
        None | Some("") => None,
        Some(v) => {
            if let Err(e) = check_interface_name(v) {
                issues.error("spec.vrf", e);
            }
            Some(v.to_string())
        }
    };

    let disable_mp = s.disable_mp.unwrap_or(false);
    if disable_mp {
        issues.warn(
            "spec.disableMP",
            "deprecated and has no effect: sessions carry only their own family unless spec.dualStackAddressFamily is set",
        );
    }

    if !issues.is_ok() {
        return None;
    }
    // Every Option below is Some when no error was recorded: each None path records one.
    Some(Peer {
        name: name.to_string(),
        my_asn: my_asn?,
        peer_asn: peer_asn?,
        local_asn,
        target: target?,
        source_address,
        port,
        timers,
        connect_time,
        router_id,
        node_selector: node_selector?,
        password,
        bfd_profile,
        graceful_restart: s.enable_graceful_restart.unwrap_or(false),
        ebgp_multi_hop,
        vrf,
        disable_mp,
        dual_stack_address_family: s.dual_stack_address_family.unwrap_or(false),
    })
}

/// MetalLB's timer rules: hold 0 or >= 3s, keepalive <= hold, one given derives the other.
fn check_timers(
    hold: Option<Duration>,
    keepalive: Option<Duration>,
    issues: &mut Issues,
) -> Option<BgpTimers> {
    let (h, k) = match (hold, keepalive) {
        (None, None) => return None,
        (Some(h), Some(k)) => (h, k),
        (Some(h), None) => (h, h / 3),
        (None, Some(k)) => (k * 3, k),
    };
    let hold_field = if hold.is_some() {
        "spec.holdTime"
    } else {
        "spec.keepaliveTime"
    };
    let hold_time = match HoldTime::from_duration(h) {
        Ok(ht) => ht,
        Err(e) => {
            if hold.is_some() {
                issues.error(hold_field, format!("{} {e}", GoDuration(h)));
            } else {
                issues.error(
                    hold_field,
                    format!(
                        "{} gives a derived spec.holdTime of {} (3 × keepalive), which {e}",
                        GoDuration(k),
                        GoDuration(h)
                    ),
                );
            }
            return None;
        }
    };
    if k > h {
        issues.error(
            "spec.keepaliveTime",
            format!(
                "{} must not exceed spec.holdTime ({})",
                GoDuration(k),
                GoDuration(h)
            ),
        );
        return None;
    }
    Some(BgpTimers {
        hold: hold_time,
        keepalive: k,
    })
}

fn check_password(s: &BGPPeerSpec, ctx: &Ctx<'_>, issues: &mut Issues) -> Option<Md5Password> {
    let inline = s.password.as_deref().filter(|p| !p.is_empty());
    let secret_ref = s
        .password_secret
        .as_ref()
        .filter(|r| r.name.as_deref().is_some_and(|n| !n.is_empty()) || r.namespace.is_some());
    let check_len = |p: &str, field: &str, issues: &mut Issues| {
        if p.len() > MD5_MAX_KEY_LEN {
            issues.error(
                field,
                format!(
                    "password is {} bytes; TCP MD5 keys are at most {MD5_MAX_KEY_LEN} bytes",
                    p.len()
                ),
            );
        }
    };
    match (inline, secret_ref) {
        (Some(_), Some(_)) => {
            issues.error(
                "spec.passwordSecret",
                "spec.password and spec.passwordSecret are mutually exclusive",
            );
            None
        }
        (Some(p), None) => {
            check_len(p, "spec.password", issues);
            Some(Md5Password::Inline(p.to_string()))
        }
        (None, None) => None,
        (None, Some(r)) => {
            let Some(name) = r.name.as_deref().filter(|n| !n.is_empty()) else {
                issues.error("spec.passwordSecret.name", "required");
                return None;
            };
            if let Some(ns) = r.namespace.as_deref().filter(|n| !n.is_empty()) {
                if ns != ctx.metallb_namespace {
                    issues.error(
                        "spec.passwordSecret.namespace",
                        format!(
                            "the Secret must be in MetalLB's namespace {} (got {ns})",
                            ctx.metallb_namespace
                        ),
                    );
                    return None;
                }
            }
            let secret = ctx.secrets.iter().find(|sec| {
                sec.metadata.name.as_deref() == Some(name)
                    && sec.metadata.namespace.as_deref() == Some(ctx.metallb_namespace)
            });
            let Some(secret) = secret else {
                issues.transient(
                    "spec.passwordSecret",
                    format!("Secret {}/{name} does not exist", ctx.metallb_namespace),
                );
                return None;
            };
            if secret.type_.as_deref() != Some("kubernetes.io/basic-auth") {
                issues.error(
                    "spec.passwordSecret",
                    format!(
                        "Secret {}/{name} has type {:?}; it must be of type kubernetes.io/basic-auth",
                        ctx.metallb_namespace,
                        secret.type_.as_deref().unwrap_or("Opaque")
                    ),
                );
                return None;
            }
            let from_data = secret
                .data
                .as_ref()
                .and_then(|d| d.get("password"))
                .map(|b| String::from_utf8_lossy(&b.0).into_owned());
            let from_string = secret
                .string_data
                .as_ref()
                .and_then(|d| d.get("password"))
                .cloned();
            let Some(password) = from_string.or(from_data) else {
                issues.error(
                    "spec.passwordSecret",
                    format!(
                        "Secret {}/{name} has no key \"password\"",
                        ctx.metallb_namespace
                    ),
                );
                return None;
            };
            check_len(&password, "spec.passwordSecret", issues);
            Some(Md5Password::Secret {
                name: name.to_string(),
                password,
            })
        }
    }
}

/// Why two peers cannot be configured on one node, as (field of the later peer, reason).
pub fn peer_conflict(earlier: &Peer, later: &Peer) -> Option<(&'static str, String)> {
    if earlier.router_id != later.router_id {
        let show = |r: Option<std::net::Ipv4Addr>| {
            r.map(|r| r.to_string()).unwrap_or_else(|| "unset".into())
        };
        return Some((
            "spec.routerID",
            format!(
                "{} differs from BGPPeer {} ({}); peers reaching the same node must use one router ID",
                show(later.router_id),
                earlier.name,
                show(earlier.router_id)
            ),
        ));
    }
    if earlier.target == later.target && earlier.vrf == later.vrf {
        let field = match later.target {
            PeerTarget::Address(_) => "spec.peerAddress",
            PeerTarget::Interface(_) => "spec.interface",
        };
        return Some((
            field,
            format!(
                "{} in {} is already the peer of BGPPeer {}; one session per address and VRF on a node",
                later.target,
                vrf_name(&later.vrf),
                earlier.name
            ),
        ));
    }
    if earlier.vrf == later.vrf && earlier.my_asn != later.my_asn {
        return Some((
            "spec.myASN",
            format!(
                "{} differs from BGPPeer {} ({}) in {}; peers reaching the same node must use one myASN per VRF",
                later.my_asn,
                earlier.name,
                earlier.my_asn,
                vrf_name(&later.vrf)
            ),
        ));
    }
    None
}

/// "VRF x" or "the default VRF".
pub fn vrf_name(vrf: &Option<String>) -> String {
    match vrf {
        Some(v) => format!("VRF {v}"),
        None => "the default VRF".to_string(),
    }
}

impl super::Phase<'_> {
    /// BGPPeers: per-peer checks, then the node-scoped rules against earlier valid peers.
    pub(super) fn peers(&mut self, entries: &[super::Entry<'_>]) {
        for e in entries {
            if let crate::object::Object::BGPPeer(_) = &e.object {
                let name = self.name(e);
                self.peer_names.insert(name);
            }
        }
        for e in entries {
            let crate::object::Object::BGPPeer(p) = &e.object else {
                continue;
            };
            let name = self.name(e);
            let mut issues = Issues::default();
            let typed = check_peer(&name, &p.spec, &self.ctx(), &mut issues);
            if let Some(peer) = &typed {
                for earlier in self.snap.config.peers.values() {
                    if let Some((field, reason)) = peer_conflict(earlier, peer) {
                        let overlap = super::node_overlap(
                            &earlier.node_selector,
                            &peer.node_selector,
                            &self.snap.nodes,
                        );
                        super::record_node_conflict(&overlap, field, &reason, &mut issues);
                    }
                }
            }
            if self.record(e, issues) {
                if let Some(peer) = typed {
                    self.snap.config.peers.insert(name, peer);
                }
            }
        }
    }
}
