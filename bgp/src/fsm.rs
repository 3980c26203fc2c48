//! The BGP finite state machine of one peer (RFC 4271 §8), sans-IO.
//!
//! It owns the session state (Idle, Connect, Active, OpenSent, OpenConfirm, Established), its
//! timers (ConnectRetry with jittered exponential backoff, hold, keepalive), OPEN validation and
//! capability negotiation, connection collision resolution (§6.8) and the NOTIFICATION sent before
//! every close. It never touches a socket or a clock: the caller feeds events with the current
//! time ([`Fsm::handle_event`], [`Fsm::handle_timeout`]), asks when to wake up next
//! ([`Fsm::poll_timeout`]) and drains what to do ([`Fsm::poll_output`]): open a connection, write
//! bytes, close a connection, report a state change or a received UPDATE.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::config::{Asn, Family, HoldTime, PeerConfig};
use crate::packet::{
    Afi, Capability, CeaseSubcode, DecodeContext, EncodeContext, ExtendedNextHopFamily, FsmSubcode,
    GracefulRestartCap, GracefulRestartFamily, Message, Notification, Open, OpenSubcode,
    RouteRefresh, Update, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN,
};

/// Identifies one TCP connection of a peer; chosen by the FSM for outgoing connections
/// ([`Output::Connect`]) and by the caller for accepted ones ([`Fsm::next_conn_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Who opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We connected to the peer.
    Outbound,
    /// The peer connected to us.
    Inbound,
}

/// The six states of RFC 4271 §8.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Refusing connections; waiting to start (or to restart after the backoff).
    Idle,
    /// Trying to connect to the peer.
    Connect,
    /// Waiting for the peer to connect (or for the next connect attempt).
    Active,
    /// OPEN sent, waiting for the peer's OPEN.
    OpenSent,
    /// OPENs exchanged, waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// Session up: UPDATEs flow.
    Established,
}

impl State {
    /// The name FRR and the RFC use.
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Input events (RFC 4271 §8.1, grouped).
#[derive(Debug, Clone)]
pub enum Event {
    /// ManualStart / ManualStart_with_PassiveTcpEstablishment (passive comes from the config).
    Start,
    /// ManualStop: send Cease with this subcode, close, stay Idle until the next Start.
    Stop(CeaseSubcode),
    /// An automatic stop that reconnects afterwards (BFD Down, configuration change): send Cease
    /// with this subcode, close, go Idle, restart after the backoff.
    Reset(CeaseSubcode),
    /// A TCP connection is up (Tcp_CR_Acked / TcpConnectionConfirmed).
    Connected {
        /// Connection.
        conn: ConnId,
        /// Who opened it.
        direction: Direction,
    },
    /// An outgoing connection attempt failed, or an established connection closed or failed
    /// (TcpConnectionFails).
    ConnectionFailed {
        /// Connection.
        conn: ConnId,
    },
    /// A whole message arrived and decoded.
    Message {
        /// Connection.
        conn: ConnId,
        /// The message.
        message: Message,
    },
    /// A message arrived that does not decode (BGPHeaderErr / BGPOpenMsgErr / UpdateMsgErr):
    /// the FSM sends this NOTIFICATION and closes.
    Malformed {
        /// Connection.
        conn: ConnId,
        /// The NOTIFICATION the error maps to.
        notification: Notification,
    },
}

/// What the caller must do or learn.
#[derive(Debug, Clone)]
pub enum Output {
    /// Open an outgoing TCP connection to the peer and report [`Event::Connected`] or
    /// [`Event::ConnectionFailed`] with this id.
    Connect(ConnId),
    /// Write these bytes (one or more encoded messages) on the connection.
    Transmit {
        /// Connection.
        conn: ConnId,
        /// Encoded messages.
        data: Bytes,
    },
    /// Close the connection after writing what was queued on it (or abort the connect attempt).
    Close(ConnId),
    /// The session state changed.
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
    },
    /// The session reached Established with these negotiated parameters.
    Established(Box<Negotiated>),
    /// The session left Established (its routes are gone, or stale under graceful restart).
    Down {
        /// Why.
        reason: DownReason,
    },
    /// An UPDATE arrived in Established.
    Update(Box<Update>),
    /// A ROUTE-REFRESH arrived in Established.
    RouteRefresh(RouteRefresh),
}

/// Why a session went down; kept as the peer's last error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// We sent this NOTIFICATION.
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The TCP connection closed or failed without a NOTIFICATION.
    ConnectionLost,
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownReason::NotificationSent(n) => write!(f, "sent NOTIFICATION {n}"),
            DownReason::NotificationReceived(n) => write!(f, "received NOTIFICATION {n}"),
            DownReason::ConnectionLost => f.write_str("TCP connection closed"),
        }
    }
}

/// The peer's graceful-restart capability as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerGracefulRestart {
    /// The peer restarted (R bit).
    pub restarting: bool,
    /// How long we may keep its routes.
    pub restart_time: Duration,
    /// Families it preserves, with the F (forwarding state preserved) bit.
    pub families: Vec<(Family, bool)>,
}

/// What both sides agreed on in the OPEN exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's ASN (from the 4-octet capability when present).
    pub peer_asn: Asn,
    /// The peer's BGP identifier.
    pub peer_router_id: Ipv4Addr,
    /// Negotiated hold time (minimum of both; 0 = none).
    pub hold_time: HoldTime,
    /// Keepalive interval in use (`None` when the hold time is 0).
    pub keepalive: Option<Duration>,
    /// Families both sides announced.
    pub families: Vec<Family>,
    /// Both sides support 4-octet ASNs.
    pub four_octet_as: bool,
    /// The peer supports ROUTE-REFRESH.
    pub route_refresh: bool,
    /// The peer's graceful-restart capability, if it announced one (and we announced ours).
    pub graceful_restart: Option<PeerGracefulRestart>,
    /// Families whose NLRI both sides agreed to carry with an IPv6 next hop (RFC 8950: we
    /// announced the extended next hop capability for them and so did the peer). We send IPv4
    /// unicast routes in MP_REACH_NLRI with our IPv6 next hop when it holds IPv4 unicast.
    pub extended_next_hop: Vec<Family>,
    /// Both sides announced Extended Message (RFC 8654): UPDATE, NOTIFICATION and
    /// ROUTE-REFRESH may be up to 65,535 octets in both directions.
    pub extended_message: bool,
    /// Capabilities we sent.
    pub local_capabilities: Vec<Capability>,
    /// Capabilities the peer sent.
    pub peer_capabilities: Vec<Capability>,
}

/// Message counters per type and direction (MetalLB's metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageCounters {
    /// OPENs sent.
    pub opens_sent: u64,
    /// OPENs received.
    pub opens_received: u64,
    /// UPDATEs sent.
    pub updates_sent: u64,
    /// UPDATEs received.
    pub updates_received: u64,
    /// KEEPALIVEs sent.
    pub keepalives_sent: u64,
    /// KEEPALIVEs received.
    pub keepalives_received: u64,
    /// NOTIFICATIONs sent.
    pub notifications_sent: u64,
    /// NOTIFICATIONs received.
    pub notifications_received: u64,
    /// ROUTE-REFRESHes sent.
    pub route_refresh_sent: u64,
    /// ROUTE-REFRESHes received.
    pub route_refresh_received: u64,
}

impl MessageCounters {
    /// All messages sent.
    pub fn total_sent(&self) -> u64 {
        self.opens_sent
            + self.updates_sent
            + self.keepalives_sent
            + self.notifications_sent
            + self.route_refresh_sent
    }
    /// All messages received.
    pub fn total_received(&self) -> u64 {
        self.opens_received
            + self.updates_received
            + self.keepalives_received
            + self.notifications_received
            + self.route_refresh_received
    }
}

/// Source of jitter for the reconnect backoff: returns a factor in [0.75, 1.0]. Injected so tests
/// are deterministic.
pub trait Jitter: Send {
    /// The next factor, in [0.75, 1.0].
    fn factor(&mut self) -> f64;
}

/// A small deterministic generator (splitmix64) for the backoff jitter.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl Jitter for SplitMix {
    fn factor(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        0.75 + 0.25 * ((z >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// No jitter (factor 1.0): for tests that check exact backoff values.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoJitter;

impl Jitter for NoJitter {
    fn factor(&mut self) -> f64 {
        1.0
    }
}

/// First reconnect delay of the exponential backoff.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Hold timer while waiting for the peer's OPEN (RFC 4271 §8.2.2: "a large value", 4 minutes).
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);
/// Restart delay after a session went down from Established (then backoff grows per failure).
pub const IDLE_HOLD_TIME: Duration = Duration::from_millis(500);

static NEXT_CONN_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

#[derive(Debug, Clone)]
struct Conn {
    id: ConnId,
    direction: Direction,
    /// TCP is up (for outbound: connected; inbound: always).
    up: bool,
    /// The OPEN the peer sent on this connection.
    open: Option<Open>,
}

/// The state machine of one peer.
pub struct Fsm {
    config: PeerConfig,
    state: State,
    jitter: Box<dyn Jitter>,
    /// The connection the state refers to.
    conn: Option<Conn>,
    /// A second connection during a collision (OpenSent/OpenConfirm), until resolved.
    other: Option<Conn>,
    other_deadline: Option<Instant>,
    connect_retry: Option<Instant>,
    hold: Option<Instant>,
    keepalive: Option<Instant>,
    /// When Idle after an automatic stop: when to start again.
    restart: Option<Instant>,
    /// Consecutive failures (drives the backoff); reset when Established.
    failures: u32,
    negotiated: Option<Negotiated>,
    hold_time: Option<Duration>,
    keepalive_time: Option<Duration>,
    counters: MessageCounters,
    established_at: Option<Instant>,
    last_error: Option<DownReason>,
    out: VecDeque<Output>,
    local_caps: Vec<Capability>,
}

impl std::fmt::Debug for Fsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fsm")
            .field("peer", &self.config.key())
            .field("state", &self.state)
            .finish()
    }
}

impl Fsm {
    /// A new FSM in Idle. Nothing happens until [`Event::Start`].
    pub fn new(config: PeerConfig, jitter: Box<dyn Jitter>) -> Self {
        let local_caps = local_capabilities(&config);
        Fsm {
            config,
            state: State::Idle,
            jitter,
            conn: None,
            other: None,
            other_deadline: None,
            connect_retry: None,
            hold: None,
            keepalive: None,
            restart: None,
            failures: 0,
            negotiated: None,
            hold_time: None,
            keepalive_time: None,
            counters: MessageCounters::default(),
            established_at: None,
            last_error: None,
            out: VecDeque::new(),
            local_caps,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    /// Replaces the configuration. Takes effect at the next OPEN: reset the session first
    /// ([`Event::Reset`]) when session parameters change.
    pub fn set_config(&mut self, config: PeerConfig) {
        self.local_caps = local_capabilities(&config);
        self.config = config;
    }

    /// Points an unnumbered session at its neighbour's (new) link-local address without a
    /// reset: the address is where the next connection goes, not part of the session's
    /// parameters. A connect attempt to the old address is abandoned and one to the new
    /// address starts at once; a session waiting in Active starts connecting; an open or
    /// established session is left alone (the peer connected to us or we to it already).
    pub fn set_neighbor(&mut self, now: Instant, address: std::net::IpAddr) {
        if self.config.address == address {
            return;
        }
        self.config.address = address;
        match self.state {
            State::Connect => {
                if let Some(c) = self.conn.take() {
                    self.out.push_back(Output::Close(c.id));
                }
                self.initiate(now);
            }
            State::Active if self.conn.is_none() && !self.config.waits_for_peer() => {
                self.initiate(now)
            }
            _ => {}
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Negotiated parameters while OpenConfirm or Established.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Message counters (kept across session resets).
    pub fn counters(&self) -> MessageCounters {
        self.counters
    }

    /// When the session reached Established, if it is.
    pub fn established_at(&self) -> Option<Instant> {
        self.established_at
    }

    /// Why the session last went down.
    pub fn last_error(&self) -> Option<&DownReason> {
        self.last_error.as_ref()
    }

    /// The connection of an Established session.
    pub fn established_conn(&self) -> Option<ConnId> {
        if self.state == State::Established {
            self.conn.as_ref().map(|c| c.id)
        } else {
            None
        }
    }

    /// The capabilities we announce.
    pub fn local_capabilities(&self) -> &[Capability] {
        &self.local_caps
    }

    /// A fresh id for a connection the caller accepted (then report [`Event::Connected`]).
    pub fn next_conn_id(&mut self) -> ConnId {
        // Process-wide unique, so a late event from a closed connection of an earlier session of
        // the same peer can never be taken for one of a newer session.
        ConnId(NEXT_CONN_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    /// Whether the caller should accept an incoming connection now (RFC 4271: Idle refuses).
    pub fn accepts_connections(&self) -> bool {
        self.state != State::Idle
    }

    /// The encoding context of the current session.
    pub fn encode_context(&self) -> EncodeContext {
        let four = self
            .negotiated
            .as_ref()
            .map(|n| n.four_octet_as)
            .unwrap_or(false);
        let ipv4_via_mp = self
            .negotiated
            .as_ref()
            .is_some_and(|n| n.extended_next_hop.contains(&Family::IPV4_UNICAST));
        EncodeContext {
            four_octet_as: four,
            ipv4_via_mp,
        }
    }

    /// The largest message the current session may carry: [`MAX_EXTENDED_MESSAGE_LEN`] once
    /// both sides announced Extended Message (RFC 8654), else [`MAX_MESSAGE_LEN`].
    pub fn max_message_len(&self) -> usize {
        if self.negotiated.as_ref().is_some_and(|n| n.extended_message) {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    /// The decoding context of the current session.
    pub fn decode_context(&self) -> DecodeContext {
        match &self.negotiated {
            Some(n) => DecodeContext {
                four_octet_as: n.four_octet_as,
                families: n.families.clone(),
                external: n.peer_asn != self.config.local_asn,
            },
            None => DecodeContext::default(),
        }
    }

    /// Next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The earliest time [`Fsm::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.connect_retry,
            self.hold,
            self.keepalive,
            self.restart,
            self.other_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Sends already-encoded UPDATE messages (`count` of them) on the Established connection and
    /// restarts the keepalive timer. Ignored unless Established.
    pub fn send_updates(&mut self, now: Instant, data: Bytes, count: u64) {
        if let Some(conn) = self.established_conn() {
            self.counters.updates_sent += count;
            self.out.push_back(Output::Transmit { conn, data });
            self.restart_keepalive(now);
        }
    }

    /// Sends a ROUTE-REFRESH for `family` if the peer supports it; returns whether it was sent.
    pub fn send_route_refresh(&mut self, now: Instant, family: Family) -> bool {
        let supported = self
            .negotiated
            .as_ref()
            .map(|n| n.route_refresh)
            .unwrap_or(false);
        match self.established_conn() {
            Some(conn) if supported => {
                let msg = Message::RouteRefresh(RouteRefresh::request(family));
                self.counters.route_refresh_sent += 1;
                let data = self.encode(&msg);
                self.out.push_back(Output::Transmit { conn, data });
                self.restart_keepalive(now);
                true
            }
            _ => false,
        }
    }

    /// Feeds one event.
    pub fn handle_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Start => self.start(now),
            Event::Stop(sub) => {
                self.shutdown(now, sub, false);
            }
            Event::Reset(sub) => {
                self.shutdown(now, sub, true);
            }
            Event::Connected { conn, direction } => self.connected(now, conn, direction),
            Event::ConnectionFailed { conn } => self.connection_failed(now, conn),
            Event::Message { conn, message } => self.message(now, conn, message),
            Event::Malformed { conn, notification } => {
                if self.other.as_ref().map(|c| c.id) == Some(conn) {
                    self.drop_other(Some(notification));
                } else if self.conn.as_ref().map(|c| c.id) == Some(conn) {
                    self.fail(now, Some(notification));
                }
            }
        }
    }

    /// Fires every timer whose deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.restart.is_some_and(|t| t <= now) {
            self.restart = None;
            self.start(now);
        }
        if self.other_deadline.is_some_and(|t| t <= now) {
            self.other_deadline = None;
            self.drop_other(Some(Notification::hold_timer_expired()));
        }
        if self.hold.is_some_and(|t| t <= now) {
            self.hold = None;
            if matches!(
                self.state,
                State::OpenSent | State::OpenConfirm | State::Established
            ) {
                self.fail(now, Some(Notification::hold_timer_expired()));
            }
        }
        if self.keepalive.is_some_and(|t| t <= now) {
            self.keepalive = None;
            if let (State::OpenConfirm | State::Established, Some(c)) =
                (self.state, self.conn.as_ref())
            {
                let id = c.id;
                self.send(id, &Message::Keepalive);
                self.restart_keepalive(now);
            }
        }
        if self.connect_retry.is_some_and(|t| t <= now) {
            self.connect_retry = None;
            self.connect_retry_expired(now);
        }
    }

    // ----- transitions -----

    fn set_state(&mut self, to: State) {
        if to != self.state {
            let from = self.state;
            self.state = to;
            self.out.push_back(Output::StateChanged { from, to });
        }
    }

    fn backoff(&mut self) -> Duration {
        let cap = self.config.timers.connect_time.max(BACKOFF_BASE);
        let exp = self.failures.min(16);
        let raw = BACKOFF_BASE.saturating_mul(1u32 << exp).min(cap);
        raw.mul_f64(self.jitter.factor())
    }

    fn start(&mut self, now: Instant) {
        if self.state != State::Idle {
            return;
        }
        self.restart = None;
        if self.config.waits_for_peer() {
            self.set_state(State::Active);
        } else {
            self.initiate(now);
        }
    }

    fn initiate(&mut self, now: Instant) {
        let id = self.next_conn_id();
        self.conn = Some(Conn {
            id,
            direction: Direction::Outbound,
            up: false,
            open: None,
        });
        self.out.push_back(Output::Connect(id));
        // Give the attempt as long as the current backoff step (at least 1 s) before retrying.
        let delay = self.backoff().max(BACKOFF_BASE);
        self.connect_retry = Some(now + delay);
        self.set_state(State::Connect);
    }

    fn connect_retry_expired(&mut self, now: Instant) {
        match self.state {
            State::Connect => {
                // Abort the attempt in progress and try again.
                if let Some(c) = self.conn.take() {
                    self.out.push_back(Output::Close(c.id));
                }
                self.failures = self.failures.saturating_add(1);
                self.initiate(now);
            }
            State::Active if !self.config.waits_for_peer() => self.initiate(now),
            _ => {}
        }
    }

    fn connected(&mut self, now: Instant, id: ConnId, direction: Direction) {
        // An outgoing connection that is not our current attempt was given up on (its
        // ConnectRetry fired before it completed): close it.
        let current = self.conn.as_ref().is_some_and(|c| c.id == id);
        if direction == Direction::Outbound && !current {
            self.out.push_back(Output::Close(id));
            return;
        }
        match self.state {
            State::Idle => self.reject(id, CeaseSubcode::ConnectionRejected),
            State::Connect | State::Active => {
                if let Some(c) = self.conn.take() {
                    if c.id != id {
                        // An incoming connection wins over our pending connect attempt.
                        self.out.push_back(Output::Close(c.id));
                    }
                }
                self.conn = Some(Conn {
                    id,
                    direction,
                    up: true,
                    open: None,
                });
                self.connect_retry = None;
                self.send_open(id);
                self.hold = Some(now + OPEN_HOLD_TIME);
                self.set_state(State::OpenSent);
            }
            State::OpenSent | State::OpenConfirm => {
                if self.other.is_none()
                    && self.conn.as_ref().map(|c| c.direction) != Some(direction)
                {
                    self.other = Some(Conn {
                        id,
                        direction,
                        up: true,
                        open: None,
                    });
                    self.other_deadline = Some(now + OPEN_HOLD_TIME);
                    self.send_open(id);
                } else {
                    self.reject(id, CeaseSubcode::ConnectionRejected);
                }
            }
            State::Established => self.reject(id, CeaseSubcode::ConnectionCollisionResolution),
        }
    }

    fn reject(&mut self, id: ConnId, sub: CeaseSubcode) {
        self.send(id, &Message::Notification(Notification::cease(sub, None)));
        self.out.push_back(Output::Close(id));
    }

    fn connection_failed(&mut self, now: Instant, id: ConnId) {
        if self.other.as_ref().map(|c| c.id) == Some(id) {
            self.other = None;
            self.other_deadline = None;
            return;
        }
        if self.conn.as_ref().map(|c| c.id) != Some(id) {
            return;
        }
        match self.state {
            State::Connect => {
                // Connect attempt failed: wait for the retry timer in Active.
                self.conn = None;
                self.failures = self.failures.saturating_add(1);
                let delay = self.backoff();
                self.connect_retry = Some(now + delay);
                self.set_state(State::Active);
            }
            State::Active => {
                self.conn = None;
            }
            State::OpenSent if self.other.is_none() => {
                // RFC 4271: TcpConnectionFails in OpenSent goes to Active.
                self.conn = None;
                self.hold = None;
                self.out.push_back(Output::Close(id));
                self.failures = self.failures.saturating_add(1);
                let delay = self.backoff();
                self.connect_retry = Some(now + delay);
                self.set_state(State::Active);
            }
            State::OpenSent | State::OpenConfirm if self.other.is_some() => {
                // The collision partner takes over.
                self.out.push_back(Output::Close(id));
                self.promote_other(now);
            }
            _ => {
                self.last_error = Some(DownReason::ConnectionLost);
                self.go_idle(now, None, true);
            }
        }
    }

    fn promote_other(&mut self, now: Instant) {
        let Some(other) = self.other.take() else {
            return;
        };
        self.other_deadline = None;
        let has_open = other.open.clone();
        self.conn = Some(other);
        self.negotiated = None;
        self.keepalive = None;
        match has_open {
            Some(open) => {
                let id = self.conn.as_ref().map(|c| c.id).unwrap_or(ConnId(0));
                self.accept_open(now, id, open);
            }
            None => {
                self.hold = Some(now + OPEN_HOLD_TIME);
                self.set_state(State::OpenSent);
            }
        }
    }

    fn message(&mut self, now: Instant, id: ConnId, msg: Message) {
        self.count_received(&msg);
        if self.other.as_ref().map(|c| c.id) == Some(id) {
            self.other_message(now, msg);
            return;
        }
        if self.conn.as_ref().map(|c| c.id) != Some(id) {
            return;
        }
        if let Message::Notification(n) = msg {
            self.last_error = Some(DownReason::NotificationReceived(n.clone()));
            self.go_idle(now, None, true);
            return;
        }
        match (self.state, msg) {
            (State::OpenSent, Message::Open(open)) => {
                if let Some(c) = self.conn.as_mut() {
                    c.open = Some(open.clone());
                }
                if let Err(n) = self.check_open(&open) {
                    self.fail(now, Some(n));
                    return;
                }
                if self.resolve_collision(now) {
                    return;
                }
                self.accept_open(now, id, open);
            }
            (State::OpenSent, _) => self.fail(
                now,
                Some(Notification::fsm_error(
                    FsmSubcode::UnexpectedMessageInOpenSent,
                )),
            ),
            (State::OpenConfirm, Message::Keepalive) => {
                self.restart_hold(now);
                self.other_deadline = None;
                if let Some(other) = self.other.take() {
                    // Not resolved yet (no OPEN on the other): it loses to the confirmed one.
                    self.reject(other.id, CeaseSubcode::ConnectionCollisionResolution);
                }
                self.failures = 0;
                self.established_at = Some(now);
                self.set_state(State::Established);
                if let Some(n) = self.negotiated.clone() {
                    self.out.push_back(Output::Established(Box::new(n)));
                }
            }
            (State::OpenConfirm, _) => self.fail(
                now,
                Some(Notification::fsm_error(
                    FsmSubcode::UnexpectedMessageInOpenConfirm,
                )),
            ),
            (State::Established, Message::Keepalive) => self.restart_hold(now),
            (State::Established, Message::Update(u)) => {
                self.restart_hold(now);
                self.out.push_back(Output::Update(Box::new(u)));
            }
            (State::Established, Message::RouteRefresh(r)) => {
                self.restart_hold(now);
                self.out.push_back(Output::RouteRefresh(r));
            }
            (State::Established, Message::Open(_)) => self.fail(
                now,
                Some(Notification::fsm_error(
                    FsmSubcode::UnexpectedMessageInEstablished,
                )),
            ),
            // Idle/Connect/Active have no open connection to receive on.
            _ => {}
        }
    }

    fn other_message(&mut self, now: Instant, msg: Message) {
        match msg {
            Message::Open(open) => {
                if let Err(n) = self.check_open(&open) {
                    self.drop_other(Some(n));
                    return;
                }
                if let Some(o) = self.other.as_mut() {
                    o.open = Some(open);
                }
                self.resolve_collision(now);
            }
            Message::Notification(_) => {
                if let Some(o) = self.other.take() {
                    self.out.push_back(Output::Close(o.id));
                }
                self.other_deadline = None;
            }
            _ => self.drop_other(Some(Notification::fsm_error(
                FsmSubcode::UnexpectedMessageInOpenSent,
            ))),
        }
    }

    /// §6.8: when both connections carry the peer's OPEN, keep the one opened by the side with
    /// the higher BGP identifier. Returns true if the current connection was replaced.
    fn resolve_collision(&mut self, now: Instant) -> bool {
        let (Some(conn), Some(other)) = (self.conn.as_ref(), self.other.as_ref()) else {
            return false;
        };
        // The peer's identifier from whichever connection carried its OPEN (both lead to the
        // same peer, so one OPEN is enough to decide, as §6.8 allows).
        let Some(remote_id) = conn
            .open
            .as_ref()
            .or(other.open.as_ref())
            .map(|o| o.router_id)
        else {
            return false;
        };
        let local = u32::from(self.config.router_id);
        let remote = u32::from(remote_id);
        // Keep the connection initiated by the higher identifier.
        let keep_direction = if local < remote {
            Direction::Inbound
        } else {
            Direction::Outbound
        };
        if conn.direction == keep_direction {
            self.drop_other(Some(Notification::cease(
                CeaseSubcode::ConnectionCollisionResolution,
                None,
            )));
            false
        } else {
            let loser = conn.id;
            self.send(
                loser,
                &Message::Notification(Notification::cease(
                    CeaseSubcode::ConnectionCollisionResolution,
                    None,
                )),
            );
            self.out.push_back(Output::Close(loser));
            self.conn = None;
            self.promote_other(now);
            true
        }
    }

    fn drop_other(&mut self, notification: Option<Notification>) {
        if let Some(o) = self.other.take() {
            if let Some(n) = notification {
                self.send(o.id, &Message::Notification(n));
            }
            self.out.push_back(Output::Close(o.id));
        }
        self.other_deadline = None;
    }

    /// Validates the peer's OPEN (RFC 4271 §6.2, RFC 6793, RFC 6286).
    fn check_open(&self, open: &Open) -> Result<(), Notification> {
        if open.version != 4 {
            return Err(Notification::open_error(
                OpenSubcode::UnsupportedVersionNumber,
                4u16.to_be_bytes().to_vec(),
            ));
        }
        let asn = peer_asn_of(open);
        if !self.config.peer_asn.accepts(self.config.local_asn, asn) {
            return Err(Notification::open_error(OpenSubcode::BadPeerAs, Vec::new()));
        }
        if open.hold_time == 1 || open.hold_time == 2 {
            return Err(Notification::open_error(
                OpenSubcode::UnacceptableHoldTime,
                Vec::new(),
            ));
        }
        let ibgp = asn == self.config.local_asn;
        if open.router_id.is_unspecified() || (ibgp && open.router_id == self.config.router_id) {
            return Err(Notification::open_error(
                OpenSubcode::BadBgpIdentifier,
                Vec::new(),
            ));
        }
        Ok(())
    }

    fn accept_open(&mut self, now: Instant, id: ConnId, open: Open) {
        let negotiated = negotiate(&self.config, &self.local_caps, &open);
        self.hold_time = negotiated.hold_time.duration();
        self.keepalive_time = negotiated.keepalive;
        self.negotiated = Some(negotiated);
        self.send(id, &Message::Keepalive);
        self.restart_keepalive(now);
        self.restart_hold(now);
        self.set_state(State::OpenConfirm);
    }

    /// Sends `notification` (if any) on the current connection, closes everything and goes Idle,
    /// restarting after the backoff.
    fn fail(&mut self, now: Instant, notification: Option<Notification>) {
        if let Some(n) = &notification {
            self.last_error = Some(DownReason::NotificationSent(n.clone()));
        }
        self.go_idle(now, notification, true);
    }

    fn shutdown(&mut self, now: Instant, sub: CeaseSubcode, restart: bool) {
        let n = Notification::cease(sub, None);
        let has_tcp = self.conn.as_ref().is_some_and(|c| c.up);
        if has_tcp || self.state != State::Idle {
            self.last_error = Some(DownReason::NotificationSent(n.clone()));
        }
        self.drop_other(Some(n.clone()));
        self.go_idle(now, Some(n), restart);
        if !restart {
            self.restart = None;
        }
    }

    fn go_idle(&mut self, now: Instant, notification: Option<Notification>, restart: bool) {
        let was_established = self.state == State::Established;
        if let Some(c) = self.conn.take() {
            if c.up {
                if let Some(n) = &notification {
                    self.send(c.id, &Message::Notification(n.clone()));
                }
            }
            self.out.push_back(Output::Close(c.id));
        }
        self.drop_other(notification.clone());
        self.connect_retry = None;
        self.hold = None;
        self.keepalive = None;
        self.negotiated = None;
        self.established_at = None;
        if self.state != State::Idle {
            self.failures = self.failures.saturating_add(1);
        }
        self.set_state(State::Idle);
        if was_established {
            let reason = self
                .last_error
                .clone()
                .unwrap_or(DownReason::ConnectionLost);
            self.out.push_back(Output::Down { reason });
        }
        self.restart = if restart {
            let delay = if was_established {
                IDLE_HOLD_TIME
            } else {
                self.backoff()
            };
            Some(now + delay)
        } else {
            None
        };
    }

    fn restart_hold(&mut self, now: Instant) {
        self.hold = self.hold_time.map(|h| now + h);
    }

    fn restart_keepalive(&mut self, now: Instant) {
        self.keepalive = self.keepalive_time.map(|k| now + k);
    }

    fn send_open(&mut self, id: ConnId) {
        let open = Open {
            version: 4,
            my_as: self.config.local_asn.0,
            hold_time: self.config.timers.hold_time.secs(),
            router_id: self.config.router_id,
            capabilities: self.local_caps.clone(),
        };
        self.send(id, &Message::Open(open));
    }

    fn encode(&self, msg: &Message) -> Bytes {
        let mut buf = BytesMut::with_capacity(64);
        if let Err(e) = msg.encode(&self.encode_context(), &mut buf) {
            // Only an oversized NOTIFICATION data field can fail here; send it without data.
            tracing::warn!(peer = %self.config.key(), error = %e, "message does not encode");
            if let Message::Notification(n) = msg {
                let bare = Notification::new(n.code, n.subcode, Vec::new());
                let _ = Message::Notification(bare).encode(&self.encode_context(), &mut buf);
            }
        }
        buf.freeze()
    }

    fn send(&mut self, id: ConnId, msg: &Message) {
        match msg {
            Message::Open(_) => self.counters.opens_sent += 1,
            Message::Update(_) => self.counters.updates_sent += 1,
            Message::Keepalive => self.counters.keepalives_sent += 1,
            Message::Notification(_) => self.counters.notifications_sent += 1,
            Message::RouteRefresh(_) => self.counters.route_refresh_sent += 1,
        }
        let data = self.encode(msg);
        self.out.push_back(Output::Transmit { conn: id, data });
    }

    fn count_received(&mut self, msg: &Message) {
        let c = &mut self.counters;
        match msg {
            Message::Open(_) => c.opens_received += 1,
            Message::Update(_) => c.updates_received += 1,
            Message::Keepalive => c.keepalives_received += 1,
            Message::Notification(_) => c.notifications_received += 1,
            Message::RouteRefresh(_) => c.route_refresh_received += 1,
        }
    }
}

/// The peer's real ASN (the codec already takes it from the 4-octet capability when present).
pub fn peer_asn_of(open: &Open) -> Asn {
    Asn(open.my_as)
}

/// The capabilities we announce for `config`.
pub fn local_capabilities(config: &PeerConfig) -> Vec<Capability> {
    let mut caps = Vec::new();
    for f in &config.families {
        caps.push(Capability::Multiprotocol {
            afi: f.afi,
            safi: f.safi,
        });
    }
    if config.extended_next_hop && config.families.contains(&Family::IPV4_UNICAST) {
        caps.push(Capability::ExtendedNextHop(vec![ExtendedNextHopFamily {
            family: Family::IPV4_UNICAST,
            next_hop_afi: Afi::Ipv6,
        }]));
    }
    caps.push(Capability::RouteRefresh);
    // RFC 8654: lets a peer that supports it (FRR) take a full table in a few large UPDATEs;
    // we accept such messages too (`Session` decodes with the negotiated limit).
    caps.push(Capability::ExtendedMessage);
    caps.push(Capability::FourOctetAs(config.local_asn.0));
    if let Some(gr) = &config.graceful_restart {
        // 12 bits on the wire: at most 4095 s.
        let secs = gr.restart_time.as_secs().min(4095) as u16;
        caps.push(Capability::GracefulRestart(GracefulRestartCap {
            restart_state: false,
            notification: false,
            restart_time_secs: secs,
            families: config
                .families
                .iter()
                .map(|&family| GracefulRestartFamily {
                    family,
                    forwarding_preserved: true,
                })
                .collect(),
        }));
    }
    caps
}

/// Negotiates the session parameters from our configuration and the peer's (valid) OPEN.
pub fn negotiate(config: &PeerConfig, local_caps: &[Capability], open: &Open) -> Negotiated {
    let hold = config.timers.hold_time.secs().min(open.hold_time);
    let hold_time = HoldTime::from_secs(hold).unwrap_or(HoldTime::ZERO);
    let keepalive = hold_time.duration().map(|h| match config.timers.keepalive {
        // A configured keepalive is used unless it exceeds a third of the negotiated hold time.
        Some(k) if !k.is_zero() && k <= h / 3 => k,
        _ => h / 3,
    });
    // RFC 4760: a speaker without the multiprotocol capability carries IPv4 unicast only
    // (`Open::families` implies it).
    let peer_families = open.families();
    let four = open.four_octet_as().is_some();
    let rr = open.capabilities.iter().any(|c| {
        matches!(
            c,
            Capability::RouteRefresh | Capability::EnhancedRouteRefresh
        )
    });
    let gr = open.graceful_restart().map(|g| PeerGracefulRestart {
        restarting: g.restart_state,
        restart_time: Duration::from_secs(u64::from(g.restart_time_secs)),
        families: g
            .families
            .iter()
            .map(|f| (f.family, f.forwarding_preserved))
            .collect(),
    });
    let families: Vec<Family> = config
        .families
        .iter()
        .copied()
        .filter(|f| peer_families.contains(f))
        .collect();
    let graceful_restart = if config.graceful_restart.is_some() {
        gr
    } else {
        None
    };
    let extended_next_hop = extended_next_hop_families(local_caps, &open.capabilities)
        .into_iter()
        .filter(|f| families.contains(f))
        .collect();
    Negotiated {
        peer_asn: peer_asn_of(open),
        peer_router_id: open.router_id,
        hold_time,
        keepalive,
        families,
        four_octet_as: four,
        route_refresh: rr,
        graceful_restart,
        extended_next_hop,
        extended_message: local_caps.contains(&Capability::ExtendedMessage)
            && open.capabilities.contains(&Capability::ExtendedMessage),
        local_capabilities: local_caps.to_vec(),
        peer_capabilities: open.capabilities.clone(),
    }
}

/// The families both capability lists allow with an IPv6 next hop (RFC 8950 §3: a speaker
/// sends such routes only when the receiver announced the capability for them; we send them
/// only when we announced it too, so both directions use the same encoding).
pub fn extended_next_hop_families(local: &[Capability], peer: &[Capability]) -> Vec<Family> {
    let ipv6_nh = |caps: &[Capability]| -> Vec<Family> {
        caps.iter()
            .filter_map(|c| match c {
                Capability::ExtendedNextHop(list) => Some(list),
                _ => None,
            })
            .flatten()
            .filter(|e| e.next_hop_afi == Afi::Ipv6)
            .map(|e| e.family)
            .collect()
    };
    let theirs = ipv6_nh(peer);
    let mut out: Vec<Family> = ipv6_nh(local)
        .into_iter()
        .filter(|f| theirs.contains(f))
        .collect();
    out.sort();
    out.dedup();
    out
}
