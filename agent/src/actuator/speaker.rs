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
use metalroute_bgp::config::{
    family_of, Asn, Family, GracefulRestart, HoldTime, PeerAsn, PeerConfig, PeerKey, Timers,
};
use metalroute_bgp::packet::{Community, LargeCommunity, PathAttributes};
use metalroute_bgp::speaker::{RouteSet, RouteSetBuilder, Speaker};
use metalroute_crds::values::{Community as CrdCommunity, PeerAsn as CrdPeerAsn, PeerTarget};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Routes of one family: prefix → attributes (the speaker adds ORIGIN, AS_PATH and NEXT_HOP),
/// as the speaker's compact, shared [`RouteSet`]: the set built here is the set the speaker
/// keeps (handing it over copies a pointer), and 100,000 routes with one set of attributes hold
/// one copy of them.
pub type FamilyRoutes = RouteSet;

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
/// none. Fails for an invalid combination (the reason names the field).
///
/// A BGPPeer with `spec.interface` becomes an unnumbered session
/// ([`PeerConfig::unnumbered`]): IPv6 link-local on that interface, the router's address
/// learned by the speaker from its Router Advertisements (or its connection), IPv4 routes
/// carried with our IPv6 next hop (extended next hop, RFC 8950) — what MetalLB's FRR mode
/// renders as `neighbor IF interface remote-as ...`.
pub fn peer_config(p: &SessionParams, router_id: Option<Ipv4Addr>) -> Result<PeerConfig, String> {
    let router_id = p.router_id.or(router_id).ok_or_else(|| {
        "no router ID: set spec.routerID or give the agent --router-id (the node has no IPv4 address to take one from)".to_string()
    })?;
    let peer_asn = match p.peer_asn {
        CrdPeerAsn::Fixed(a) => PeerAsn::Fixed(Asn(a.0)),
        CrdPeerAsn::Internal => PeerAsn::DynamicInternal,
        CrdPeerAsn::External => PeerAsn::DynamicExternal,
    };
    let local_asn = Asn(p.announced_asn().0);
    let mut cfg = match &p.target {
        PeerTarget::Address(a) => PeerConfig::new(local_asn, peer_asn, *a, router_id),
        PeerTarget::Interface(i) => PeerConfig::unnumbered(local_asn, peer_asn, i, router_id),
    };
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
    cfg.validate().map_err(|e| match &p.target {
        PeerTarget::Interface(i) => format!("spec.interface ({i}): {e}"),
        PeerTarget::Address(_) => e.to_string(),
    })?;
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
    // One Arc per distinct set of planned attributes (a plan has a handful).
    let mut interned: HashMap<&crate::planner::PathAttributes, Arc<PathAttributes>> =
        HashMap::new();
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
        let mut builders: BTreeMap<Family, RouteSetBuilder> = config
            .families
            .iter()
            .map(|f| (*f, RouteSetBuilder::new()))
            .collect();
        // The advertisements come in ascending prefix order, which the builder takes fastest;
        // neighbours mostly have equal attributes, so the last converted set is tried first.
        let mut last: Option<(&crate::planner::PathAttributes, Arc<PathAttributes>)> = None;
        for (prefix, ad) in &s.advertisements {
            if let Some(b) = builders.get_mut(&family_of(prefix)) {
                let a = match &last {
                    Some((planned, a)) if *planned == &ad.attributes => Arc::clone(a),
                    _ => {
                        let a = Arc::clone(
                            interned
                                .entry(&ad.attributes)
                                .or_insert_with(|| Arc::new(attributes(&ad.attributes))),
                        );
                        last = Some((&ad.attributes, Arc::clone(&a)));
                        a
                    }
                };
                b.push(*prefix, &a);
            }
        }
        let routes: BTreeMap<Family, FamilyRoutes> =
            builders.into_iter().map(|(f, b)| (f, b.build())).collect();
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

/// Holds back the advertisements of every session whose BGPPeer has a BFD profile and whose BFD
/// session is not Up (`bfd_up`): such a session is not usable for traffic until BFD confirms the
/// path, so it gets no routes until then (and loses them when BFD leaves Up).
pub fn gate_on_bfd(
    desired: &mut BTreeMap<PeerKey, DesiredPeer>,
    plan: &NodePlan,
    bfd_up: &BTreeSet<PeerKey>,
) {
    for (vrf, s) in plan.sessions() {
        if s.params.bfd.is_none() {
            continue;
        }
        let vrf = vrf.device().map(str::to_string);
        let key = match &s.params.target {
            PeerTarget::Address(address) => PeerKey::address(vrf, *address),
            PeerTarget::Interface(name) => PeerKey::interface(vrf, name),
        };
        if bfd_up.contains(&key) {
            continue;
        }
        if let Some(d) = desired.get_mut(&key) {
            for routes in d.routes.values_mut() {
                *routes = RouteSet::new();
            }
        }
    }
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
    /// With the BFD gate on: the sessions whose BFD session is Up (see [`gate_on_bfd`]).
    bfd_up: Option<BTreeSet<PeerKey>>,
}

impl SpeakerActuator {
    /// An actuator over `speaker`; `router_id` is the node's default BGP identifier.
    pub fn new(speaker: Speaker, router_id: Option<Ipv4Addr>) -> SpeakerActuator {
        SpeakerActuator {
            speaker,
            router_id,
            applied: BTreeMap::new(),
            problems: Vec::new(),
            bfd_up: None,
        }
    }

    /// Turns the BFD gate on with the sessions whose BFD session is Up now; the next
    /// [`SpeakerActuator::apply`] withholds routes from BFD peers that are not in `up`.
    pub fn set_bfd_up(&mut self, up: BTreeSet<PeerKey>) {
        self.bfd_up = Some(up);
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
        let (mut desired, problems) = desired_peers(plan, self.router_id);
        if let Some(up) = &self.bfd_up {
            gate_on_bfd(&mut desired, plan, up);
        }
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
                    // The speaker keeps this compact set by reference (no copy per peer).
                    match self
                        .speaker
                        .set_advertisements(&key, family, routes.clone())
                        .await
                    {
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

#[cfg(test)]
mod tests {
    use super::*;
    use metalroute_crds::loader::load_str;
    use metalroute_crds::object::ReadOptions;
    use metalroute_crds::snapshot::Snapshot;

    const BASE: &str = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {namespace: metallb-system, name: web}\nspec: {addresses: [203.0.113.0/28]}\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {namespace: metallb-system, name: web}\nspec: {ipAddressPools: [web], communities: [\"8000:800\", \"large:1:2:3\"]}\n";

    fn peer(name: &str, addr: &str, hold: &str) -> String {
        format!("---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{namespace: metallb-system, name: {name}}}\nspec: {{peerAddress: {addr}, peerASN: 64501, myASN: 64500, holdTime: {hold}, password: s3cret}}\n")
    }

    fn service(name: &str, ip: &str) -> String {
        format!("---\napiVersion: v1\nkind: Service\nmetadata: {{namespace: default, name: {name}}}\nspec: {{type: LoadBalancer}}\nstatus: {{loadBalancer: {{ingress: [{{ip: {ip}}}]}}}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{namespace: default, name: {name}-1, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nendpoints: [{{addresses: [10.0.0.1], nodeName: n1}}]\n")
    }

    fn desired(yaml: &str) -> BTreeMap<PeerKey, DesiredPeer> {
        let loaded = load_str(yaml, None, &ReadOptions::default());
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let snap = Snapshot::from_objects(loaded.objects, &ReadOptions::default());
        let plan = crate::planner::plan(&snap, "n1");
        let (d, problems) = desired_peers(&plan, Some(Ipv4Addr::new(192, 0, 2, 11)));
        assert!(problems.is_empty(), "{problems:?}");
        d
    }

    fn key(a: &str) -> PeerKey {
        PeerKey::address(None, a.parse().unwrap())
    }

    #[test]
    fn bfd_gate_withholds_routes_of_bfd_peers_until_bfd_is_up() {
        // r1 has a BFD profile, r2 has none: only r1's routes wait for BFD.
        let yaml = format!(
            "{BASE}{}{}---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{namespace: metallb-system, name: fast}}\nspec: {{receiveInterval: 50, transmitInterval: 50}}\n{}",
            peer("r1", "192.0.2.1", "9s").replace("password: s3cret", "password: s3cret, bfdProfile: fast"),
            peer("r2", "192.0.2.2", "9s"),
            service("web", "203.0.113.1")
        );
        let loaded = load_str(&yaml, None, &ReadOptions::default());
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let snap = Snapshot::from_objects(loaded.objects, &ReadOptions::default());
        let plan = crate::planner::plan(&snap, "n1");
        let (all, problems) = desired_peers(&plan, Some(Ipv4Addr::new(192, 0, 2, 11)));
        assert!(problems.is_empty(), "{problems:?}");
        let count = |d: &BTreeMap<PeerKey, DesiredPeer>, k: &str| {
            d[&key(k)].routes.values().map(RouteSet::len).sum::<usize>()
        };
        assert_eq!(count(&all, "192.0.2.1"), 1);

        let mut gated = all.clone();
        gate_on_bfd(&mut gated, &plan, &BTreeSet::new());
        assert_eq!(count(&gated, "192.0.2.1"), 0, "BFD not Up: no routes");
        assert_eq!(count(&gated, "192.0.2.2"), 1, "no BFD profile: not gated");
        // The session itself is still wanted (BGP runs; BFD needs it for its local address).
        assert_eq!(
            gated[&key("192.0.2.1")].config,
            all[&key("192.0.2.1")].config
        );
        // Withholding is a route change only, never a session reset.
        let ops = diff(&all, &gated);
        assert!(
            ops.iter().all(
                |o| matches!(o, Op::SetRoutes(k, _, r) if *k == key("192.0.2.1") && r.is_empty())
            ),
            "{ops:?}"
        );

        let mut up = all.clone();
        gate_on_bfd(&mut up, &plan, &BTreeSet::from([key("192.0.2.1")]));
        assert_eq!(up, all, "BFD Up: every route");
    }

    #[test]
    fn bfd_gate_holds_back_an_unnumbered_peers_routes_until_bfd_is_up() {
        // An interface BGPPeer with a BFD profile is gated like a numbered one, under its
        // PeerKey::interface (the key coupling::peer_key gives its link-local BFD session).
        let yaml = format!(
            "{BASE}---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{namespace: metallb-system, name: tor}}\nspec: {{interface: eth1, peerASN: 64501, myASN: 64500, bfdProfile: fast}}\n---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {{namespace: metallb-system, name: fast}}\nspec: {{receiveInterval: 50, transmitInterval: 50}}\n{}",
            service("web", "203.0.113.1")
        );
        let loaded = load_str(&yaml, None, &ReadOptions::default());
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let snap = Snapshot::from_objects(loaded.objects, &ReadOptions::default());
        let plan = crate::planner::plan(&snap, "n1");
        let (all, problems) = desired_peers(&plan, Some(Ipv4Addr::new(192, 0, 2, 11)));
        assert!(problems.is_empty(), "{problems:?}");
        let k = PeerKey::interface(None, "eth1");
        let count = |d: &BTreeMap<PeerKey, DesiredPeer>| {
            d[&k].routes.values().map(RouteSet::len).sum::<usize>()
        };
        assert_eq!(count(&all), 1, "{all:?}");
        let mut gated = all.clone();
        gate_on_bfd(&mut gated, &plan, &BTreeSet::new());
        assert_eq!(count(&gated), 0, "BFD not Up: no routes");
        let mut up = all.clone();
        gate_on_bfd(&mut up, &plan, &BTreeSet::from([k.clone()]));
        assert_eq!(up, all, "BFD Up: every route");
    }

    #[test]
    fn maps_session_parameters_and_attributes() {
        let d = desired(&format!(
            "{BASE}{}{}",
            peer("r1", "192.0.2.1", "9s"),
            service("web", "203.0.113.1")
        ));
        let p = &d[&key("192.0.2.1")];
        assert_eq!(p.name, "r1");
        assert_eq!(p.config.local_asn, Asn(64500));
        assert_eq!(p.config.peer_asn, PeerAsn::Fixed(Asn(64501)));
        assert_eq!(p.config.timers.hold_time.secs(), 9);
        assert_eq!(p.config.password.as_deref(), Some("s3cret"));
        assert_eq!(p.config.router_id, Ipv4Addr::new(192, 0, 2, 11));
        assert_eq!(p.config.families, vec![Family::IPV4_UNICAST]);
        let routes = &p.routes[&Family::IPV4_UNICAST];
        let a = routes
            .get(&"203.0.113.1/32".parse::<ipnet::IpNet>().unwrap())
            .unwrap();
        assert_eq!(a.communities, vec![Community((8000 << 16) | 800)]);
        assert_eq!(a.large_communities.len(), 1);
        assert_eq!(a.local_pref, None);
    }

    #[test]
    fn unchanged_plan_makes_no_call_and_a_service_change_touches_only_routes() {
        let base = format!(
            "{BASE}{}{}",
            peer("r1", "192.0.2.1", "9s"),
            peer("r2", "192.0.2.2", "9s")
        );
        let one = desired(&format!("{base}{}", service("web", "203.0.113.1")));
        let ops = diff(&BTreeMap::new(), &one);
        assert_eq!(ops.iter().filter(|o| matches!(o, Op::Add(_))).count(), 2);
        assert_eq!(
            ops.iter()
                .filter(|o| matches!(o, Op::SetRoutes(..)))
                .count(),
            2
        );
        assert!(diff(&one, &one).is_empty(), "same plan, no call");
        let two = desired(&format!(
            "{base}{}{}",
            service("web", "203.0.113.1"),
            service("api", "203.0.113.2")
        ));
        let ops = diff(&one, &two);
        assert_eq!(ops.len(), 2, "{ops:?}");
        for op in &ops {
            match op {
                Op::SetRoutes(_, f, r) => {
                    assert_eq!(*f, Family::IPV4_UNICAST);
                    assert_eq!(r.len(), 2);
                }
                other => panic!("a Service change must not touch sessions: {other:?}"),
            }
        }
    }

    #[test]
    fn changed_session_is_updated_and_removed_peer_is_removed() {
        let a = desired(&format!(
            "{BASE}{}{}",
            peer("r1", "192.0.2.1", "9s"),
            peer("r2", "192.0.2.2", "9s")
        ));
        let b = desired(&format!("{BASE}{}", peer("r1", "192.0.2.1", "30s")));
        let ops = diff(&a, &b);
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert_eq!(ops[0], Op::Remove(key("192.0.2.2")));
        assert!(matches!(&ops[1], Op::Update(c) if c.timers.hold_time.secs() == 30));
    }

    fn interface_peer(name: &str, iface: &str, extra: &str) -> String {
        format!("---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{namespace: metallb-system, name: {name}}}\nspec: {{interface: {iface}, peerASN: 64501, myASN: 64500{extra}}}\n")
    }

    #[test]
    fn missing_router_id_is_a_problem_not_a_panic() {
        let yaml = format!(
            "{BASE}{}{}",
            interface_peer("u", "eth1", ""),
            peer("r1", "192.0.2.1", "9s")
        );
        let loaded = load_str(&yaml, None, &ReadOptions::default());
        let snap = Snapshot::from_objects(loaded.objects, &ReadOptions::default());
        let plan = crate::planner::plan(&snap, "n1");
        let (d, problems) = desired_peers(&plan, None);
        assert!(d.is_empty());
        let text: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.peer, p.reason))
            .collect();
        for name in ["u", "r1"] {
            assert!(
                text.iter()
                    .any(|t| t.starts_with(&format!("{name}: no router ID"))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn interface_peer_is_an_unnumbered_session_keyed_by_its_interface() {
        let d = desired(&format!(
            "{BASE}{}{}{}",
            interface_peer("u1", "eth1", ""),
            interface_peer("u2", "eth2", ""),
            service("web", "203.0.113.1")
        ));
        let k1 = PeerKey::interface(None, "eth1");
        let p = &d[&k1];
        assert_eq!(p.name, "u1");
        assert_eq!(p.config.interface.as_deref(), Some("eth1"));
        assert!(p.config.address.is_unspecified(), "learned by the speaker");
        assert!(p.config.extended_next_hop);
        assert_eq!(
            p.config.families,
            vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
        );
        assert_eq!(p.routes[&Family::IPV4_UNICAST].len(), 1);
        assert!(d.contains_key(&PeerKey::interface(None, "eth2")));
        assert_eq!(d.len(), 2, "one session per interface");
        // Re-planning gives the same configuration: no speaker call, no reset.
        assert!(diff(&d, &d).is_empty());
    }

    #[test]
    fn unnumbered_peer_options_it_cannot_have_are_problems_naming_the_interface() {
        let yaml = format!(
            "{BASE}{}{}",
            interface_peer("mh", "eth1", ", ebgpMultiHop: true"),
            interface_peer("long", "an-interface-name-too-long", "")
        );
        let loaded = load_str(&yaml, None, &ReadOptions::default());
        let snap = Snapshot::from_objects(loaded.objects, &ReadOptions::default());
        let plan = crate::planner::plan(&snap, "n1");
        let (d, problems) = desired_peers(&plan, Some(Ipv4Addr::new(192, 0, 2, 11)));
        let text: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.peer, p.reason))
            .collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("mh: spec.interface (eth1)") && t.contains("ebgp_multihop")),
            "{text:?}"
        );
        // Either the planner or the speaker refuses an impossible interface name; never a panic.
        assert!(
            !d.contains_key(&PeerKey::interface(None, "an-interface-name-too-long")),
            "{d:?}"
        );
    }
}
