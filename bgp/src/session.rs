//! One BGP session, sans-IO: the [`Fsm`] plus what rides on an Established session.
//!
//! It owns the Adj-RIB-Out (the caller's desired routes per family, and what the peer was last
//! sent, so only differences go on the wire), the Adj-RIB-In (routes the peer sent, with RFC 7606
//! counters), graceful restart in both roles (RFC 4724: End-of-RIB after the initial table; the
//! peer's routes kept stale until its End-of-RIB or the restart time) and ROUTE-REFRESH answers.
//! Like the FSM it is driven with the current time and never touches a socket.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ipnet::IpNet;

use crate::config::{family_of, Asn, Family, HoldTime, PeerConfig, PeerKey};
use crate::error::EncodeError;
use crate::fsm::{
    ConnId, Direction, DownReason, Event, Fsm, Jitter, MessageCounters, Negotiated, Output, State,
};
use crate::packet::{
    self, Capability, CeaseSubcode, Message, NextHop, Notification, PathAttributes, Update,
    UpdateWriter,
};
use crate::routes::{for_each_change, ChangeSink, RouteSet};
use crate::speaker::SpeakerError;

/// What the shell must do, or report.
#[derive(Debug, Clone)]
pub enum SessionOutput {
    /// Open an outgoing connection (see [`Output::Connect`]).
    Connect(ConnId),
    /// Write these bytes on the connection.
    Transmit {
        /// Connection.
        conn: ConnId,
        /// Encoded messages.
        data: Bytes,
    },
    /// Close the connection after flushing.
    Close(ConnId),
    /// The FSM changed state.
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// When leaving Established: why.
        reason: Option<String>,
    },
}

/// A route in the Adj-RIB-In.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRoute {
    /// Prefix.
    pub prefix: IpNet,
    /// Its attributes.
    pub attributes: Arc<PathAttributes>,
    /// Next hop (NEXT_HOP for IPv4, the MP_REACH next hop otherwise).
    pub next_hop: Option<IpAddr>,
    /// Kept from a previous session of a restarting peer (RFC 4724), not yet refreshed.
    pub stale: bool,
}

#[derive(Debug, Clone)]
struct RibInEntry {
    attributes: Arc<PathAttributes>,
    next_hop: Option<IpAddr>,
    stale: bool,
}

/// Counters of RFC 7606 reactions to malformed UPDATEs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounters {
    /// UPDATEs handled as withdrawals because of a malformed attribute.
    pub treat_as_withdraw: u64,
    /// Attributes dropped because they were malformed.
    pub attributes_discarded: u64,
    /// Sessions reset because of a malformed message.
    pub session_resets: u64,
    /// UPDATEs whose routes were left out because their AS_PATH holds our own ASN (RFC 4271
    /// §9.1.2 loop detection).
    pub as_path_loops: u64,
}

/// Everything `show bgp neighbors` and the metrics need about one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The session.
    pub peer: PeerKey,
    /// Our ASN.
    pub local_asn: Asn,
    /// The peer's ASN as it announced it (when negotiated) or as configured.
    pub peer_asn: Option<Asn>,
    /// FSM state.
    pub state: State,
    /// Time in Established (None when not Established).
    pub uptime: Option<Duration>,
    /// The peer's BGP identifier (when negotiated).
    pub peer_router_id: Option<Ipv4Addr>,
    /// Negotiated hold time.
    pub hold_time: Option<HoldTime>,
    /// Keepalive interval in use.
    pub keepalive: Option<Duration>,
    /// Families negotiated.
    pub families: Vec<Family>,
    /// Capabilities we sent.
    pub local_capabilities: Vec<Capability>,
    /// Capabilities the peer sent (empty when not negotiated).
    pub peer_capabilities: Vec<Capability>,
    /// Prefixes the peer has from us (Adj-RIB-Out as sent), per family.
    pub prefixes_sent: BTreeMap<Family, usize>,
    /// Prefixes received and kept (Adj-RIB-In), per family.
    pub prefixes_received: BTreeMap<Family, usize>,
    /// Prefixes the caller wants advertised, per family.
    pub prefixes_desired: BTreeMap<Family, usize>,
    /// Message counters.
    pub messages: MessageCounters,
    /// RFC 7606 counters.
    pub errors: ErrorCounters,
    /// Why the session last went down.
    pub last_error: Option<String>,
    /// Local address of the established connection.
    pub local_address: Option<SocketAddr>,
    /// The interface of an unnumbered peer.
    pub interface: Option<String>,
    /// The link-local address of an unnumbered peer's neighbour, once learned.
    pub neighbor: Option<Ipv6Addr>,
    /// Families sent and accepted with an IPv6 next hop (RFC 8950), when Established.
    pub extended_next_hop: Vec<Family>,
}

/// Our addresses on one TCP connection of the session: where our next hops come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnAddrs {
    /// Our end of the connection (the next hop for its family).
    pub local: SocketAddr,
    /// An address of the other family on the same interface (next hop for the other family of
    /// a dual-stack session).
    pub other_family: Option<IpAddr>,
    /// A global IPv6 address on the interface when `local` is link-local (the global half of a
    /// 32-octet next hop; without one the link-local address fills both halves, as FRR does).
    pub ipv6_global: Option<Ipv6Addr>,
}

/// One session: FSM, Adj-RIB-Out, Adj-RIB-In, graceful restart.
pub struct Session {
    fsm: Fsm,
    /// The routes the caller wants the peer to have, per family (shared with the caller and
    /// with other sessions given the same set).
    desired: BTreeMap<Family, RouteSet>,
    /// What the peer was last sent, per family: the desired set of the last synchronisation
    /// (another reference to it, not a copy).
    sent: BTreeMap<Family, RouteSet>,
    rib_in: BTreeMap<Family, HashMap<IpNet, RibInEntry>>,
    conn_local: HashMap<ConnId, ConnAddrs>,
    local_addr: Option<SocketAddr>,
    /// A global IPv6 address on the link of a link-local session.
    ipv6_global: Option<Ipv6Addr>,
    /// An address of the other family on the session's interface (dual-stack next hop).
    other_family_addr: Option<IpAddr>,
    negotiated: Option<Negotiated>,
    /// When stale routes of the peer are dropped if no End-of-RIB arrived.
    stale_deadline: Option<Instant>,
    errors: ErrorCounters,
    out: VecDeque<SessionOutput>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("fsm", &self.fsm).finish()
    }
}

impl Session {
    /// A session in Idle; call [`Session::start`].
    pub fn new(config: PeerConfig, jitter: Box<dyn Jitter>) -> Self {
        Session {
            fsm: Fsm::new(config, jitter),
            desired: BTreeMap::new(),
            sent: BTreeMap::new(),
            rib_in: BTreeMap::new(),
            conn_local: HashMap::new(),
            local_addr: None,
            ipv6_global: None,
            other_family_addr: None,
            negotiated: None,
            stale_deadline: None,
            errors: ErrorCounters::default(),
            out: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PeerConfig {
        self.fsm.config()
    }

    /// The FSM (read-only).
    pub fn fsm(&self) -> &Fsm {
        &self.fsm
    }

    /// ManualStart.
    pub fn start(&mut self, now: Instant) {
        self.fsm.handle_event(now, Event::Start);
        self.pump(now);
    }

    /// ManualStop with a Cease subcode: the session stays down.
    pub fn stop(&mut self, now: Instant, subcode: CeaseSubcode) {
        self.fsm.handle_event(now, Event::Stop(subcode));
        self.pump(now);
    }

    /// Takes the session down with a Cease subcode (e.g. BFD Down) and lets it reconnect.
    pub fn reset(&mut self, now: Instant, subcode: CeaseSubcode) {
        self.fsm.handle_event(now, Event::Reset(subcode));
        self.pump(now);
    }

    /// Closes every connection without a NOTIFICATION (our own graceful restart: the peer keeps
    /// our routes as stale); the session stays down.
    pub fn abandon(&mut self, now: Instant) {
        for conn in self.conn_local.keys().copied().collect::<Vec<_>>() {
            self.out.push_back(SessionOutput::Close(conn));
        }
        self.conn_local.clear();
        // The FSM's own Close outputs for these connections are harmless duplicates.
        self.fsm
            .handle_event(now, Event::Stop(CeaseSubcode::AdministrativeShutdown));
        while let Some(o) = self.fsm.poll_output() {
            if let Output::StateChanged { from, to } = o {
                self.out.push_back(SessionOutput::StateChanged {
                    from,
                    to,
                    reason: Some("speaker restarting".into()),
                });
            }
        }
    }

    /// Applies a new configuration. Unchanged: nothing happens. Changed: the session is reset
    /// with Cease / Other Configuration Change and comes back with the new parameters.
    ///
    /// For an unnumbered peer the neighbour's address is not a session parameter: a
    /// configuration that leaves it unspecified keeps the address learned so far, and one that
    /// only changes it is applied through [`Session::set_neighbor`] without a reset.
    pub fn reconfigure(&mut self, now: Instant, mut config: PeerConfig) {
        let current = self.fsm.config();
        if config.interface.is_some() && current.interface == config.interface {
            if config.address.is_unspecified() {
                config.address = current.address;
            }
            let same_but_address = PeerConfig {
                address: current.address,
                ..config.clone()
            };
            if *current == same_but_address && current.address != config.address {
                self.fsm.set_neighbor(now, config.address);
                self.pump(now);
                return;
            }
        }
        if *self.fsm.config() == config {
            return;
        }
        let removed: Vec<Family> = self
            .fsm
            .config()
            .families
            .iter()
            .filter(|f| !config.families.contains(f))
            .copied()
            .collect();
        for f in removed {
            self.desired.remove(&f);
        }
        let was_idle = self.fsm.state() == State::Idle;
        self.fsm
            .handle_event(now, Event::Reset(CeaseSubcode::OtherConfigurationChange));
        self.fsm.set_config(config);
        if was_idle {
            self.fsm.handle_event(now, Event::Start);
        }
        self.pump(now);
    }

    /// Tells an unnumbered session its neighbour's link-local address (learned from a Router
    /// Advertisement or an accepted connection); see [`Fsm::set_neighbor`]. Ignored for peers
    /// with a configured address.
    pub fn set_neighbor(&mut self, now: Instant, address: Ipv6Addr) {
        if self.config().interface.is_none() {
            return;
        }
        self.fsm.set_neighbor(now, IpAddr::V6(address));
        self.pump(now);
    }

    /// A fresh connection id for an accepted connection.
    pub fn next_conn_id(&mut self) -> ConnId {
        self.fsm.next_conn_id()
    }

    /// A TCP connection is up; `local` is our end of it (the next hop we announce for its
    /// family) and `other_family` an address of the other family on the same interface (the
    /// next hop for the other family of a dual-stack session).
    pub fn connected(
        &mut self,
        now: Instant,
        conn: ConnId,
        direction: Direction,
        local: SocketAddr,
        other_family: Option<IpAddr>,
    ) {
        self.connected_with(
            now,
            conn,
            direction,
            ConnAddrs {
                local,
                other_family,
                ipv6_global: None,
            },
        );
    }

    /// [`Session::connected`] with every local address of the connection.
    pub fn connected_with(
        &mut self,
        now: Instant,
        conn: ConnId,
        direction: Direction,
        addrs: ConnAddrs,
    ) {
        self.conn_local.insert(conn, addrs);
        self.fsm
            .handle_event(now, Event::Connected { conn, direction });
        self.pump(now);
    }

    /// A connection attempt failed or a connection closed.
    pub fn connection_failed(&mut self, now: Instant, conn: ConnId) {
        self.conn_local.remove(&conn);
        self.fsm.handle_event(now, Event::ConnectionFailed { conn });
        self.pump(now);
    }

    /// One whole framed message arrived on `conn`.
    pub fn received(&mut self, now: Instant, conn: ConnId, msg: &[u8]) {
        match Message::decode_up_to(msg, &self.fsm.decode_context(), self.fsm.max_message_len()) {
            Ok(message) => self.fsm.handle_event(now, Event::Message { conn, message }),
            Err(e) => {
                tracing::warn!(peer = %self.config().key(), error = %e, "malformed message");
                self.errors.session_resets += 1;
                self.fsm.handle_event(
                    now,
                    Event::Malformed {
                        conn,
                        notification: e.to_notification(),
                    },
                );
            }
        }
        self.pump(now);
    }

    /// A framing error on `conn` (bad header): send this NOTIFICATION and close.
    pub fn malformed(&mut self, now: Instant, conn: ConnId, notification: Notification) {
        self.errors.session_resets += 1;
        self.fsm
            .handle_event(now, Event::Malformed { conn, notification });
        self.pump(now);
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stale_deadline.is_some_and(|t| t <= now) {
            self.stale_deadline = None;
            self.flush_stale(None);
        }
        self.fsm.handle_timeout(now);
        self.pump(now);
    }

    /// The earliest deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.fsm.poll_timeout(), self.stale_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// Next output.
    pub fn poll_output(&mut self) -> Option<SessionOutput> {
        self.out.pop_front()
    }

    /// Whether outputs are waiting.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Sets the complete desired route set of `family`. When Established, sends only the
    /// difference from what the peer has. The set is kept by reference: give several sessions
    /// clones of one [`RouteSet`] and its routes are held once.
    pub fn set_advertisements(
        &mut self,
        now: Instant,
        family: Family,
        routes: impl Into<RouteSet>,
    ) -> Result<(), SpeakerError> {
        let routes = routes.into();
        let peer = self.config().key().to_string();
        if !self.config().families.contains(&family) {
            return Err(SpeakerError::FamilyNotConfigured {
                peer,
                family: family.to_string(),
            });
        }
        if let Some(p) = routes.first_outside(family) {
            return Err(SpeakerError::PrefixFamilyMismatch {
                peer,
                prefix: p.to_string(),
                family: family.to_string(),
            });
        }
        self.desired.insert(family, routes);
        self.sync(now, family, false);
        // Move the UPDATEs from the FSM to the shell at once.
        self.pump(now);
        Ok(())
    }

    /// Requests the peer to resend its routes of `family` (ROUTE-REFRESH); false if the peer
    /// does not support it or the session is not Established.
    pub fn request_refresh(&mut self, now: Instant, family: Family) -> bool {
        let sent = self.fsm.send_route_refresh(now, family);
        self.pump(now);
        sent
    }

    /// The Adj-RIB-In of `family`, sorted by prefix.
    pub fn received_routes(&self, family: Family) -> Vec<ReceivedRoute> {
        let mut v: Vec<ReceivedRoute> = self
            .rib_in
            .get(&family)
            .map(|m| {
                m.iter()
                    .map(|(p, e)| ReceivedRoute {
                        prefix: *p,
                        attributes: e.attributes.clone(),
                        next_hop: e.next_hop,
                        stale: e.stale,
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by_key(|r| r.prefix);
        v
    }

    /// The status snapshot.
    pub fn status(&self, now: Instant) -> PeerStatus {
        let cfg = self.config();
        let neg = self.fsm.negotiated();
        let count = |m: &BTreeMap<Family, usize>| m.clone();
        let sent: BTreeMap<Family, usize> = self
            .sent
            .iter()
            .map(|(f, r)| (*f, r.family_len(*f)))
            .collect();
        let recv: BTreeMap<Family, usize> =
            self.rib_in.iter().map(|(f, r)| (*f, r.len())).collect();
        let desired: BTreeMap<Family, usize> = self
            .desired
            .iter()
            .map(|(f, r)| (*f, r.family_len(*f)))
            .collect();
        PeerStatus {
            peer: cfg.key(),
            local_asn: cfg.local_asn,
            peer_asn: neg.map(|n| n.peer_asn).or(match cfg.peer_asn {
                crate::config::PeerAsn::Fixed(a) => Some(a),
                crate::config::PeerAsn::DynamicInternal => Some(cfg.local_asn),
                crate::config::PeerAsn::DynamicExternal => None,
            }),
            state: self.fsm.state(),
            uptime: self
                .fsm
                .established_at()
                .map(|t| now.saturating_duration_since(t)),
            peer_router_id: neg.map(|n| n.peer_router_id),
            hold_time: neg.map(|n| n.hold_time),
            keepalive: neg.and_then(|n| n.keepalive),
            families: neg.map(|n| n.families.clone()).unwrap_or_default(),
            local_capabilities: self.fsm.local_capabilities().to_vec(),
            peer_capabilities: neg.map(|n| n.peer_capabilities.clone()).unwrap_or_default(),
            prefixes_sent: count(&sent),
            prefixes_received: recv,
            prefixes_desired: desired,
            messages: self.fsm.counters(),
            errors: self.errors,
            last_error: self.fsm.last_error().map(|e| e.to_string()),
            local_address: self.local_addr,
            interface: cfg.interface.clone(),
            neighbor: cfg.neighbor(),
            extended_next_hop: neg.map(|n| n.extended_next_hop.clone()).unwrap_or_default(),
        }
    }

    // ----- internals -----

    fn pump(&mut self, now: Instant) {
        while let Some(o) = self.fsm.poll_output() {
            match o {
                Output::Connect(c) => self.out.push_back(SessionOutput::Connect(c)),
                Output::Transmit { conn, data } => {
                    self.out.push_back(SessionOutput::Transmit { conn, data })
                }
                Output::Close(c) => {
                    self.conn_local.remove(&c);
                    self.out.push_back(SessionOutput::Close(c));
                }
                Output::StateChanged { from, to } => {
                    let reason = (from == State::Established).then(|| {
                        self.fsm
                            .last_error()
                            .map(|e| e.to_string())
                            .unwrap_or_else(|| "connection closed".into())
                    });
                    self.out
                        .push_back(SessionOutput::StateChanged { from, to, reason });
                }
                Output::Established(n) => self.on_established(now, *n),
                Output::Down { reason } => self.on_down(now, reason),
                Output::Update(u) => self.on_update(now, *u),
                Output::RouteRefresh(rr) => {
                    let family = rr.family();
                    if rr.subtype == packet::RouteRefresh::REQUEST
                        && self.sent.contains_key(&family)
                    {
                        self.sync(now, family, true);
                    }
                }
            }
        }
    }

    fn on_established(&mut self, now: Instant, n: Negotiated) {
        let addrs = self
            .fsm
            .established_conn()
            .and_then(|c| self.conn_local.get(&c).copied());
        self.local_addr = addrs.map(|a| a.local);
        self.other_family_addr = addrs.and_then(|a| a.other_family);
        self.ipv6_global = addrs.and_then(|a| a.ipv6_global);
        // Graceful restart helper: families the restarted peer no longer preserves lose their
        // stale routes at once (RFC 4724 §4.2).
        let keep: BTreeSet<Family> = match &n.graceful_restart {
            Some(gr) => gr
                .families
                .iter()
                .filter(|(_, f)| *f)
                .map(|(fam, _)| *fam)
                .collect(),
            None => BTreeSet::new(),
        };
        let drop_now: Vec<Family> = self
            .rib_in
            .keys()
            .filter(|f| !keep.contains(f))
            .copied()
            .collect();
        for f in drop_now {
            self.flush_stale(Some(f));
        }
        if self.rib_in.values().any(|m| m.values().any(|e| e.stale)) {
            let limit = self
                .config()
                .graceful_restart
                .map(|g| g.stale_routes_time)
                .unwrap_or(Duration::ZERO);
            self.stale_deadline = Some(now + limit);
        } else {
            self.stale_deadline = None;
        }
        self.negotiated = Some(n.clone());
        self.sent.clear();
        for family in n.families.clone() {
            self.sync(now, family, false);
            // End-of-RIB after the initial table (RFC 4724 §2), sent to every peer: receivers
            // without graceful restart treat it as an empty UPDATE.
            let ctx = self.fsm.encode_context();
            let eor = packet::end_of_rib(family, &ctx);
            self.fsm.send_updates(now, eor, 1);
        }
    }

    fn on_down(&mut self, now: Instant, reason: DownReason) {
        self.sent.clear();
        let helper = self.config().graceful_restart.is_some()
            && self
                .negotiated
                .as_ref()
                .and_then(|n| n.graceful_restart.as_ref())
                .is_some()
            && reason == DownReason::ConnectionLost;
        let preserved: BTreeSet<Family> = self
            .negotiated
            .as_ref()
            .and_then(|n| n.graceful_restart.as_ref())
            .map(|g| g.families.iter().map(|(f, _)| *f).collect())
            .unwrap_or_default();
        if helper {
            let peer_time = self
                .negotiated
                .as_ref()
                .and_then(|n| n.graceful_restart.as_ref())
                .map(|g| g.restart_time)
                .unwrap_or(Duration::ZERO);
            let ours = self
                .config()
                .graceful_restart
                .map(|g| g.stale_routes_time)
                .unwrap_or(Duration::ZERO);
            self.rib_in.retain(|f, _| preserved.contains(f));
            for m in self.rib_in.values_mut() {
                for e in m.values_mut() {
                    e.stale = true;
                }
            }
            self.stale_deadline = Some(now + peer_time.min(ours));
        } else {
            self.rib_in.clear();
            self.stale_deadline = None;
        }
        self.negotiated = None;
        self.local_addr = None;
        self.ipv6_global = None;
        self.other_family_addr = None;
    }

    fn flush_stale(&mut self, family: Option<Family>) {
        for (f, m) in self.rib_in.iter_mut() {
            if family.is_none_or(|x| x == *f) {
                m.retain(|_, e| !e.stale);
            }
        }
        self.rib_in.retain(|_, m| !m.is_empty());
    }

    fn on_update(&mut self, _now: Instant, u: Update) {
        if u.treat_as_withdraw {
            self.errors.treat_as_withdraw += 1;
        }
        self.errors.attributes_discarded += u.discarded.len() as u64;
        if !u.errors.is_empty() {
            tracing::info!(peer = %self.config().key(), errors = ?u.errors, "RFC 7606 error handling applied");
        }
        if let Some(family) = u.end_of_rib() {
            self.flush_stale(Some(family));
            if self.rib_in.values().all(|m| m.values().all(|e| !e.stale)) {
                self.stale_deadline = None;
            }
            return;
        }
        for p in u.unreachable() {
            let f = family_of(&p);
            if let Some(m) = self.rib_in.get_mut(&f) {
                m.remove(&p);
            }
        }
        if let Some(attrs) = &u.attributes {
            let own = self.config().local_asn.0;
            if attrs.as_path.segments.iter().any(|s| s.asns.contains(&own)) {
                // RFC 4271 §9.1.2: a route whose AS_PATH holds our own ASN is a loop; it is
                // not kept, and it replaces what the peer said before about these prefixes.
                self.errors.as_path_loops += 1;
                tracing::debug!(peer = %self.config().key(), asn = own, "routes ignored: AS_PATH holds our ASN");
                for p in u.reachable() {
                    if let Some(m) = self.rib_in.get_mut(&family_of(&p)) {
                        m.remove(&p);
                    }
                }
                self.rib_in.retain(|_, m| !m.is_empty());
                return;
            }
            let mp_nh = u.mp_reach.as_ref().map(|m| match m.next_hop {
                NextHop::Ipv4(a) => IpAddr::V4(a),
                NextHop::Ipv6(g) => IpAddr::V6(g),
                // A link-local-only next hop may come with an unspecified global half.
                NextHop::Ipv6LinkLocal { global, link_local } if global.is_unspecified() => {
                    IpAddr::V6(link_local)
                }
                NextHop::Ipv6LinkLocal { global, .. } => IpAddr::V6(global),
            });
            for p in u.reachable() {
                let next_hop = match p {
                    IpNet::V4(_) if u.nlri.iter().any(|n| IpNet::V4(*n) == p) => {
                        attrs.next_hop.map(IpAddr::V4)
                    }
                    _ => mp_nh,
                };
                if next_hop.is_some() && next_hop == self.own_address(next_hop) {
                    // RFC 4271 §6.3: a route whose next hop is the receiving speaker's own
                    // address is ignored (no NOTIFICATION). It replaces what the peer said
                    // before about this prefix, so the earlier route goes too.
                    tracing::info!(peer = %self.config().key(), prefix = %p, "route ignored: next hop is our own address");
                    if let Some(m) = self.rib_in.get_mut(&family_of(&p)) {
                        m.remove(&p);
                    }
                    continue;
                }
                self.rib_in.entry(family_of(&p)).or_default().insert(
                    p,
                    RibInEntry {
                        attributes: attrs.clone(),
                        next_hop,
                        stale: false,
                    },
                );
            }
        }
        self.rib_in.retain(|_, m| !m.is_empty());
    }

    /// Our own address on this session of the same family as `addr` (the session's local
    /// address, or the other-family address found on its interface).
    fn own_address(&self, addr: Option<IpAddr>) -> Option<IpAddr> {
        let addr = addr?;
        let local = self.local_addr.map(|l| l.ip());
        [local, self.other_family_addr]
            .into_iter()
            .flatten()
            .find(|a| *a == addr)
    }

    /// Our next hop for `family`: the local address of the session when it is of that family;
    /// otherwise an address of that family on the session's interface; failing that, for IPv6
    /// routes over an IPv4 session, the IPv4-mapped IPv6 address.
    ///
    /// With an IPv6 link-local session (unnumbered peer) the IPv6 next hop is 32 octets: the
    /// interface's global IPv6 address (or the link-local one again when there is none, as FRR
    /// sends it) and the link-local address. IPv4 routes get that IPv6 next hop when the
    /// extended next hop capability was negotiated for IPv4 (RFC 8950).
    fn next_hop(&self, family: Family) -> Option<NextHop> {
        let ipv6_session = self.local_addr.is_some_and(|l| match l.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().is_none(),
            IpAddr::V4(_) => false,
        });
        let extended = self
            .negotiated
            .as_ref()
            .is_some_and(|n| n.extended_next_hop.contains(&family));
        if let Some(IpAddr::V6(local)) = self.local_addr.map(|l| l.ip()) {
            if crate::config::is_link_local(IpAddr::V6(local))
                && (family == Family::IPV6_UNICAST || extended)
            {
                return Some(NextHop::Ipv6LinkLocal {
                    global: self.ipv6_global.unwrap_or(local),
                    link_local: local,
                });
            }
        }
        if family == Family::IPV4_UNICAST && extended && ipv6_session {
            let local = self.local_addr?.ip();
            if let IpAddr::V6(a) = local {
                return Some(NextHop::Ipv6(a));
            }
        }
        match (family == Family::IPV4_UNICAST, self.other_family_addr) {
            (true, Some(IpAddr::V4(a))) if self.local_addr.is_some_and(|l| l.is_ipv6()) => {
                return Some(NextHop::Ipv4(a))
            }
            (false, Some(IpAddr::V6(a))) if self.local_addr.is_some_and(|l| l.is_ipv4()) => {
                return Some(NextHop::Ipv6(a))
            }
            _ => {}
        }
        let local = self.local_addr?.ip();
        let local = match local {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(local),
            v4 => v4,
        };
        match (family == Family::IPV4_UNICAST, local) {
            (true, IpAddr::V4(a)) => Some(NextHop::Ipv4(a)),
            (false, IpAddr::V6(a)) => Some(NextHop::Ipv6(a)),
            (false, IpAddr::V4(a)) => Some(NextHop::Ipv6(a.to_ipv6_mapped())),
            (true, IpAddr::V6(_)) => None,
        }
    }

    /// Whether routes to this peer are exported as eBGP (the ASN it announced, or the
    /// configured one before the OPEN).
    fn is_ebgp(&self) -> bool {
        let cfg = self.config();
        self.negotiated
            .as_ref()
            .map(|n| n.peer_asn != cfg.local_asn)
            .unwrap_or_else(|| cfg.is_ebgp())
    }

    /// Sends the difference between the desired set and what the peer has (`full`: everything
    /// again, for a ROUTE-REFRESH). The UPDATEs are written straight from the two sets into one
    /// buffer; afterwards the peer's set is the desired one (a reference, not a copy).
    fn sync(&mut self, now: Instant, family: Family, full: bool) {
        if self.fsm.state() != State::Established {
            return;
        }
        if !self
            .negotiated
            .as_ref()
            .is_some_and(|n| n.families.contains(&family))
        {
            return;
        }
        let Some(next_hop) = self.next_hop(family) else {
            tracing::warn!(peer = %self.config().key(), %family, "no next hop of this family on the session; not announcing");
            return;
        };
        let desired = self.desired.get(&family).cloned().unwrap_or_default();
        let sent = self.sent.get(&family).cloned().unwrap_or_default();
        if !full && RouteSet::ptr_eq(&desired, &sent) {
            return;
        }
        let ctx = self.fsm.encode_context();
        let max_len = self.fsm.max_message_len();
        let result = UpdateWriter::new(family, next_hop, &ctx, max_len).and_then(|mut writer| {
            if full || sent.family_len(family) == 0 {
                writer.reserve_prefixes(desired.family_len(family));
            }
            let mut sink = Export {
                writer,
                ebgp: self.is_ebgp(),
                local_asn: self.config().local_asn,
            };
            for_each_change(&desired, &sent, family, full, &mut sink)?;
            Ok(sink.writer.finish())
        });
        match result {
            Ok((data, count)) => {
                if count > 0 {
                    self.fsm.send_updates(now, data, count);
                }
                self.sent.insert(family, desired);
            }
            Err(e) => {
                tracing::error!(peer = %self.config().key(), %family, error = %e, "UPDATEs do not encode; nothing sent");
            }
        }
    }
}

/// Turns the changes of a route set into UPDATEs for one peer, exporting each attribute set
/// once: our ASN prepended and no LOCAL_PREF for eBGP; LOCAL_PREF (default 100) for iBGP. The
/// writer fills NEXT_HOP (IPv4) or the MP_REACH next hop from the session's address.
struct Export {
    writer: UpdateWriter,
    ebgp: bool,
    local_asn: Asn,
}

impl ChangeSink for Export {
    type Error = EncodeError;

    fn withdraw(&mut self, prefix: IpNet) -> Result<(), EncodeError> {
        self.writer.withdraw(prefix)
    }

    fn group(&mut self, attrs: &Arc<PathAttributes>) -> Result<(), EncodeError> {
        let mut a = (**attrs).clone();
        if self.ebgp {
            a.as_path = a.as_path.prepend(self.local_asn.0);
            a.local_pref = None;
        } else {
            a.local_pref = Some(a.local_pref.unwrap_or(100));
        }
        self.writer.attributes(&a)
    }

    fn announce(&mut self, prefix: IpNet) -> Result<(), EncodeError> {
        self.writer.announce(prefix)
    }
}
