//! The speaker actuator: turns the sessions and advertisements of a [`NodePlan`] into calls on
//! the BGP [`Speaker`], changing only what differs from what it applied last.
//!
//! - A session whose [`PeerConfig`] is unchanged is never touched (no reset).
//! - A changed configuration is an `update_peer` (the speaker resets that session alone, with
//!   Cease / Other Configuration Change); a session that left the plan is removed (Cease / Peer
//!   De-configured), which withdraws its routes at the router.
//! - Advertisements are set per (session, family) only when that family's set changed; the
//!   speaker then sends only the difference, so one Service's change touches only its prefixes.

use crate::planner::{NodePlan, SessionParams};
use ipnet::IpNet;
use metalroute_bgp::config::{
    family_of, Asn, Family, GracefulRestart, HoldTime, PeerAsn, PeerConfig, PeerKey, Timers,
};
use metalroute_bgp::packet::{Community, LargeCommunity, PathAttributes};
use metalroute_bgp::speaker::Speaker;
use metalroute_crds::values::{Community as CrdCommunity, PeerAsn as CrdPeerAsn, PeerTarget};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Routes of one family: prefix → attributes (the speaker adds ORIGIN, AS_PATH and NEXT_HOP).
pub type FamilyRoutes = BTreeMap<IpNet, PathAttributes>;

/// One session as the speaker must run it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredPeer {
    /// The BGPPeer's name.
    pub name: String,
    /// The speaker's configuration of the session.
    pub config: PeerConfig,
    /// Routes per configured family (every configured family present, possibly empty).
    pub routes: BTreeMap<Family, FamilyRoutes>,
}

/// A planned session that cannot run, with the reason (logged and shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionProblem {
    /// The BGPPeer's name.
    pub peer: String,
    /// Why it does not run.
    pub reason: String,
}

/// One call to make on the speaker.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Add a new session.
    Add(Box<PeerConfig>),
    /// Replace a session's configuration (the speaker resets it).
    Update(Box<PeerConfig>),
    /// Remove a session (Cease, routes withdrawn at the peer).
    Remove(PeerKey),
    /// Set the complete routes of one family of a session.
    SetRoutes(PeerKey, Family, FamilyRoutes),
}

/// The speaker's path attributes for a planned advertisement.
fn attributes(a: &crate::planner::PathAttributes) -> PathAttributes {
    let mut out = PathAttributes {
        local_pref: a.local_pref,
        ..PathAttributes::default()
    };
    for c in &a.communities {
        match *c {
            CrdCommunity::Standard(v) => out.communities.push(Community(v)),
            CrdCommunity::Large(g, l1, l2) => out.large_communities.push(LargeCommunity {
                global_admin: g,
                local_data1: l1,
                local_data2: l2,
            }),
        }
    }
    out
}

/// The speaker configuration of a planned session; `router_id` is used when the BGPPeer sets
/// none. Fails for what this speaker cannot run (unnumbered peers) or an invalid combination.
pub fn peer_config(p: &SessionParams, router_id: Option<Ipv4Addr>) -> Result<PeerConfig, String> {
    let address = match &p.target {
        PeerTarget::Address(a) => *a,
        PeerTarget::Interface(i) => {
            return Err(format!(
                "spec.interface ({i}): unnumbered BGP peering is not supported by this agent yet"
            ))
        }
    };
    let router_id = p.router_id.or(router_id).ok_or_else(|| {
        "no router ID: set spec.routerID or give the agent --router-id (the node has no IPv4 address to take one from)".to_string()
    })?;
    let peer_asn = match p.peer_asn {
        CrdPeerAsn::Fixed(a) => PeerAsn::Fixed(Asn(a.0)),
        CrdPeerAsn::Internal => PeerAsn::DynamicInternal,
        CrdPeerAsn::External => PeerAsn::DynamicExternal,
    };
    let mut cfg = PeerConfig::new(Asn(p.announced_asn().0), peer_asn, address, router_id);
    cfg.port = p.port;
    cfg.vrf = p.vrf.device().map(str::to_string);
    cfg.source_address = p.source_address;
    cfg.password = p.password.as_ref().map(|pw| pw.expose().to_string());
    let mut timers = Timers::default();
    if let Some(t) = p.timers {
        timers.hold_time = HoldTime::from_secs(t.hold.seconds()).ok_or_else(|| {
            format!(
                "spec.holdTime ({}s) is not a valid hold time",
                t.hold.seconds()
            )
        })?;
        timers.keepalive = Some(t.keepalive);
    }
    if let Some(c) = p.connect_time {
        timers.connect_time = c.as_duration();
    }
    cfg.timers = timers;
    cfg.ebgp_multihop = p.ebgp_multi_hop.then_some(255);
    cfg.families = Vec::new();
    if p.families.ipv4 {
        cfg.families.push(Family::IPV4_UNICAST);
    }
    if p.families.ipv6 {
        cfg.families.push(Family::IPV6_UNICAST);
    }
    cfg.graceful_restart = p.graceful_restart.then(GracefulRestart::default);
    cfg.validate().map_err(|e| e.to_string())?;
    Ok(cfg)
}

/// Every session the plan wants, keyed by (VRF, peer address), and the planned sessions that
/// cannot run.
pub fn desired_peers(
    plan: &NodePlan,
    router_id: Option<Ipv4Addr>,
) -> (BTreeMap<PeerKey, DesiredPeer>, Vec<SessionProblem>) {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for (_, s) in plan.sessions() {
        let config = match peer_config(&s.params, router_id) {
            Ok(c) => c,
            Err(reason) => {
                problems.push(SessionProblem {
                    peer: s.params.peer.clone(),
                    reason,
                });
                continue;
            }
        };
        let mut routes: BTreeMap<Family, FamilyRoutes> = config
            .families
            .iter()
            .map(|f| (*f, FamilyRoutes::new()))
            .collect();
        for (prefix, ad) in &s.advertisements {
            if let Some(r) = routes.get_mut(&family_of(prefix)) {
                r.insert(*prefix, attributes(&ad.attributes));
            }
        }
        out.insert(
            config.key(),
            DesiredPeer {
                name: s.params.peer.clone(),
                config,
                routes,
            },
        );
    }
    (out, problems)
}

/// The operations that take the speaker from `applied` to `desired`: removals first, then
/// additions and updates, then routes that changed (all routes of a new session).
pub fn diff(
    applied: &BTreeMap<PeerKey, DesiredPeer>,
    desired: &BTreeMap<PeerKey, DesiredPeer>,
) -> Vec<Op> {
    let mut ops = Vec::new();
    for key in applied.keys() {
        if !desired.contains_key(key) {
            ops.push(Op::Remove(key.clone()));
        }
    }
    let mut routes = Vec::new();
    for (key, want) in desired {
        let had = applied.get(key);
        match had {
            None => ops.push(Op::Add(Box::new(want.config.clone()))),
            Some(h) if h.config != want.config => {
                ops.push(Op::Update(Box::new(want.config.clone())))
            }
            Some(_) => {}
        }
        for (family, r) in &want.routes {
            let before = had.and_then(|h| h.routes.get(family));
            // A new session starts with nothing; an empty set needs no call then.
            let changed = match before {
                Some(b) => b != r,
                None => !r.is_empty() || had.is_some(),
            };
            if changed {
                routes.push(Op::SetRoutes(key.clone(), *family, r.clone()));
            }
        }
    }
    ops.extend(routes);
    ops
}

/// Drives the speaker: remembers what it applied and sends only differences.
#[derive(Debug)]
pub struct SpeakerActuator {
    speaker: Speaker,
    router_id: Option<Ipv4Addr>,
    applied: BTreeMap<PeerKey, DesiredPeer>,
    problems: Vec<SessionProblem>,
}

impl SpeakerActuator {
    /// An actuator over `speaker`; `router_id` is the node's default BGP identifier.
    pub fn new(speaker: Speaker, router_id: Option<Ipv4Addr>) -> SpeakerActuator {
        SpeakerActuator {
            speaker,
            router_id,
            applied: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    /// The sessions applied, by key.
    pub fn applied(&self) -> &BTreeMap<PeerKey, DesiredPeer> {
        &self.applied
    }

    /// Planned sessions that do not run, with the reason.
    pub fn problems(&self) -> &[SessionProblem] {
        &self.problems
    }

    /// Converges the speaker to `plan`. Problems with single sessions are logged and kept for
    /// `show`; they never stop the other sessions. Returns the number of speaker calls made.
    pub async fn apply(&mut self, plan: &NodePlan) -> usize {
        let (desired, problems) = desired_peers(plan, self.router_id);
        for p in &problems {
            if !self.problems.contains(p) {
                tracing::warn!(peer = %p.peer, reason = %p.reason, "BGP session not started");
            }
        }
        self.problems = problems;
        let ops = diff(&self.applied, &desired);
        let count = ops.len();
        for op in ops {
            match op {
                Op::Remove(key) => {
                    let name = self
                        .applied
                        .get(&key)
                        .map(|d| d.name.clone())
                        .unwrap_or_default();
                    match self.speaker.remove_peer(&key).await {
                        Ok(_) => {
                            tracing::info!(peer = %name, session = %key, "BGP session removed")
                        }
                        Err(e) => {
                            tracing::warn!(peer = %name, session = %key, error = %e, "removing BGP session failed")
                        }
                    }
                    self.applied.remove(&key);
                }
                Op::Add(cfg) | Op::Update(cfg) => {
                    let key = cfg.key();
                    let Some(want) = desired.get(&key) else {
                        continue;
                    };
                    let existed = self.applied.contains_key(&key);
                    match self.speaker.add_peer(*cfg).await {
                        Ok(()) => {
                            tracing::info!(peer = %want.name, session = %key, "BGP session {}", if existed { "reconfigured" } else { "added" });
                            let routes = self
                                .applied
                                .remove(&key)
                                .map(|d| d.routes)
                                .unwrap_or_default();
                            self.applied.insert(
                                key,
                                DesiredPeer {
                                    routes,
                                    ..want.clone()
                                },
                            );
                        }
                        Err(e) => {
                            tracing::warn!(peer = %want.name, session = %key, error = %e, "BGP session refused by the speaker");
                            self.problems.push(SessionProblem {
                                peer: want.name.clone(),
                                reason: e.to_string(),
                            });
                        }
                    }
                }
                Op::SetRoutes(key, family, routes) => {
                    let Some(entry) = self.applied.get_mut(&key) else {
                        continue;
                    };
                    let map: HashMap<IpNet, Arc<PathAttributes>> = routes
                        .iter()
                        .map(|(p, a)| (*p, Arc::new(a.clone())))
                        .collect();
                    match self.speaker.set_advertisements(&key, family, map).await {
                        Ok(()) => {
                            tracing::debug!(peer = %entry.name, session = %key, %family, prefixes = routes.len(), "advertisements set");
                            entry.routes.insert(family, routes);
                        }
                        Err(e) => {
                            tracing::warn!(peer = %entry.name, session = %key, %family, error = %e, "setting advertisements failed")
                        }
                    }
                }
            }
        }
        count
    }

    /// Stops every session: Cease / Administrative Shutdown to every peer.
    pub async fn shutdown(&mut self) {
        self.speaker.shutdown(false).await;
        self.applied.clear();
    }
}
