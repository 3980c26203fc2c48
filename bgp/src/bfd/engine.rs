//! The sans-IO BFD engine: many sessions, one timer heap, no sockets and no clock of its own
//! (quinn-proto style). The transport feeds it received datagrams (`handle_control`,
//! `handle_echo`) and wake-ups (`handle_timeout`), and drains what it decided (`poll_transmit`,
//! `poll_event`) until `poll_timeout` says when to call again.
//!
//! Timers: every session keeps its own deadlines (transmit, detection, echo transmit, echo
//! detection); the engine keeps ONE binary heap of (earliest deadline, session) entries with lazy
//! invalidation — an entry is live only if it still equals the session's `scheduled` deadline and
//! the session slot's generation. A received packet pushes a later detection deadline without
//! touching the heap; the old, earlier entry fires, finds nothing due and re-arms. Transmits and
//! events go through queues whose buffers are reused, so the steady state allocates nothing.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::packet::{
    verify_auth, ControlPacket, Diagnostic, EchoPacket, PacketBuf, State, PORT_ECHO,
    PORT_MULTI_HOP, PORT_SINGLE_HOP,
};
use super::params::{Entropy, SessionParams};
use super::session::{
    echo_hold_down, jittered, jittered_early, receive_transition, tx_slack, EchoState, HopMode,
    RxAction, Session, SessionKey,
};
use super::Error;

/// Handle of a session inside one engine (slot index and generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId {
    index: u32,
    generation: u32,
}

impl SessionId {
    /// The slot index (dense, reused after removal): handy for per-session tables in transports.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// What kind of datagram a [`Transmit`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransmitKind {
    /// A control packet, to UDP 3784 (single-hop) or 4784 (multihop).
    Control,
    /// One of our echo packets, to UDP 3785.
    Echo,
}

/// A datagram to send, from the session's own socket.
#[derive(Debug, Clone, Copy)]
pub struct Transmit {
    /// The session sending it (its socket has the session's source port and TTL 255).
    pub session: SessionId,
    /// Control or echo.
    pub kind: TransmitKind,
    /// Our source address.
    pub src: IpAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// The bytes.
    pub payload: PacketBuf,
}

/// A session changed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The session's key.
    pub key: SessionKey,
    /// Its id in the engine.
    pub id: SessionId,
    /// Previous state.
    pub from: State,
    /// New state.
    pub to: State,
    /// Our diagnostic for the change.
    pub diagnostic: Diagnostic,
    /// The peer told us it is administratively down (RFC 5882 §3.2: not a path failure).
    pub peer_admin_down: bool,
}

impl Event {
    /// The session became Up.
    pub fn is_up(&self) -> bool {
        self.to == State::Up && self.from != State::Up
    }
    /// The session left Up because the path failed (detection time or echo expired, or the peer
    /// signalled Down) — not because either side was administratively shut. This is what should
    /// take a BGP session down (RFC 5882 §3.2, RFC 9384 Cease subcode 10).
    pub fn is_failure(&self) -> bool {
        self.from == State::Up
            && self.to != State::Up
            && self.to != State::AdminDown
            && !self.peer_admin_down
    }
}

/// A read-only view of a session, for status and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStatus {
    /// Key.
    pub key: SessionKey,
    /// Id.
    pub id: SessionId,
    /// Local state.
    pub state: State,
    /// Peer's last reported state.
    pub remote_state: State,
    /// Our discriminator.
    pub local_discriminator: u32,
    /// Peer's discriminator (0 = not learnt).
    pub remote_discriminator: u32,
    /// Our diagnostic.
    pub local_diagnostic: Diagnostic,
    /// Peer's last diagnostic.
    pub remote_diagnostic: Diagnostic,
    /// Desired Min TX we advertise.
    pub desired_min_tx: Duration,
    /// Required Min RX we advertise.
    pub required_min_rx: Duration,
    /// Required Min Echo RX we advertise.
    pub required_min_echo_rx: Duration,
    /// Transmit interval in effect (before jitter); `None` if the peer wants no packets.
    pub tx_interval: Option<Duration>,
    /// Detection time in effect.
    pub detection_time: Duration,
    /// Peer's Desired Min TX.
    pub remote_desired_min_tx: Duration,
    /// Peer's Required Min RX.
    pub remote_min_rx: Duration,
    /// Peer's Required Min Echo RX.
    pub remote_min_echo_rx: Duration,
    /// Peer's Detect Mult.
    pub remote_detect_mult: u8,
    /// A Poll sequence is in progress.
    pub polling: bool,
    /// Where the echo function stands (see [`EchoState`]).
    pub echo_state: EchoState,
    /// Echo packets are being sent ([`EchoState::Probing`] or [`EchoState::Active`]).
    pub echo_active: bool,
    /// Echo was tried but this peer never returned one of our echoes; off until the session
    /// leaves Up ([`EchoState::NotReflected`]).
    pub echo_abandoned: bool,
    /// Since when the session is Up.
    pub up_since: Option<Instant>,
    /// Held Down until then after an echo failure (RFC 5880 §6.8.18).
    pub held_down_until: Option<Instant>,
    /// Control packets accepted.
    pub rx_packets: u64,
    /// Control packets sent.
    pub tx_packets: u64,
    /// Own echo packets returned.
    pub echo_rx_packets: u64,
    /// Echo packets sent.
    pub echo_tx_packets: u64,
    /// Round trip of the last returned echo.
    pub last_echo_rtt: Option<Duration>,
    /// The session's parameters.
    pub params: SessionParams,
}

/// Where a received datagram came from, as the transport saw it.
#[derive(Debug, Clone)]
pub struct RxMeta<'a> {
    /// VRF of the receiving socket (`None` = default).
    pub vrf: Option<&'a str>,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address (from IP_PKTINFO / IPV6_PKTINFO).
    pub dst: IpAddr,
    /// TTL / hop limit of the packet.
    pub ttl: u8,
    /// Which port it arrived on: single-hop (3784) or multihop (4784).
    pub hop: HopMode,
    /// The interface of the receiving socket when it is bound to one (sessions over IPv6
    /// link-local addresses, [`SessionKey::interface`]); `None` for the VRF-wide sockets.
    pub interface: Option<&'a str>,
}

/// What became of a received echo packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoVerdict {
    /// One of our own echoes came back and was counted.
    Returned,
    /// Not one of ours (another format, an unknown discriminator) or it arrived after the
    /// session's echo stopped: ignored. The peer's echoes never reach the engine: they are
    /// addressed to the peer itself and our forwarding plane loops them.
    Ignored,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    session: Option<Session>,
}

/// The engine: all sessions of one transport (any number of VRFs), one timer heap.
pub struct Engine {
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_key: HashMap<SessionKey, SessionId>,
    by_disc: HashMap<u32, SessionId>,
    heap: BinaryHeap<Reverse<(Instant, SessionId)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    rng: Box<dyn Entropy>,
    epoch: Instant,
    /// Timer slack: transmits due within this (at most 1/20 of their interval) run with the
    /// timers of the current wake-up. Zero = exact.
    slack: Duration,
    /// Sessions visited by the current `handle_timeout`, re-armed after it (reused buffer).
    rearm: Vec<SessionId>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("sessions", &self.by_key.len())
            .field("heap", &self.heap.len())
            .finish()
    }
}

impl Engine {
    /// A new engine; `now` is the epoch for echo timestamps; `rng` gives discriminators, initial
    /// authentication sequence numbers and jitter.
    pub fn new(rng: Box<dyn Entropy>, now: Instant) -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
            by_disc: HashMap::new(),
            heap: BinaryHeap::new(),
            transmits: VecDeque::with_capacity(64),
            events: VecDeque::with_capacity(16),
            rng,
            epoch: now,
            slack: Duration::ZERO,
            rearm: Vec::with_capacity(64),
        }
    }

    /// Sets the timer slack: transmits (control and echo) due within `slack` after a wake-up —
    /// at most 1/20 of their interval — are sent with the timers of that wake-up instead of
    /// waking the transport again. Their jitter is drawn so the interval on the wire stays within
    /// RFC 5880 §6.8.7's 75–100 %. Detection timers are never run early. Fewer wake-ups is most
    /// of the CPU saved with many fast sessions; zero (the default) keeps every timer exact.
    pub fn set_timer_slack(&mut self, slack: Duration) {
        self.slack = slack;
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Entries in the timer heap, stale ones included (bounded by a small multiple of the number
    /// of sessions; exposed for tests and metrics).
    pub fn timer_entries(&self) -> usize {
        self.heap.len()
    }

    /// No sessions.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Adds a session in state Down; it starts sending (unless passive) at the slow 1 s rate.
    pub fn add(
        &mut self,
        now: Instant,
        key: SessionKey,
        params: SessionParams,
    ) -> Result<SessionId, Error> {
        if self.by_key.contains_key(&key) {
            return Err(Error::SessionExists(key));
        }
        if let Err(reason) = key.check() {
            return Err(Error::Key { key, reason });
        }
        let disc = loop {
            let d = self.rng.next_u32();
            if d != 0 && !self.by_disc.contains_key(&d) {
                break d;
            }
        };
        let seq = self.rng.next_u32();
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    session: None,
                });
                // More than 4 billion sessions cannot be allocated in memory first.
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        let id = SessionId {
            index,
            generation: slot.generation,
        };
        let mut s = Session::new(key.clone(), params, disc, seq, now);
        if !s.params.passive_mode {
            // First packet soon, jittered, so many sessions added together spread out.
            let r = self.rng.next_u32();
            s.tx_due = Some(now + jittered(Duration::from_millis(10), 1, r));
        }
        slot.session = Some(s);
        self.by_key.insert(key, id);
        self.by_disc.insert(disc, id);
        self.reschedule(id);
        Ok(id)
    }

    /// Changes a session's parameters. When the session is Up, the change goes through a Poll
    /// sequence (§6.8.3): a faster transmit interval and a slower receive interval apply at once,
    /// the others when the peer answers with Final — so timers change without a flap.
    pub fn set_params(
        &mut self,
        now: Instant,
        key: &SessionKey,
        params: SessionParams,
    ) -> Result<(), Error> {
        let id = self.id(key)?;
        let Some(s) = self.session_mut(id) else {
            return Err(Error::NoSuchSession(key.clone()));
        };
        if s.params.auth != params.auth {
            s.rcv_auth_seq = None;
        }
        if s.params.echo_mode != params.echo_mode {
            // Switching echo off and on again starts over: probe whether this peer loops echoes.
            s.echo_returned_by = None;
            s.echo_abandoned = false;
        }
        s.params = params;
        self.update_advertised(now, id);
        if let Some(s) = self.session_mut(id) {
            if !s.echo_active() {
                s.echo_tx_due = None;
                s.echo_detect_due = None;
            } else if s.echo_tx_due.is_none() {
                s.echo_tx_due = Some(now);
            }
            if s.params.passive_mode && s.remote_disc == 0 {
                s.tx_due = None;
            } else if s.tx_due.is_none() {
                s.tx_due = Some(now);
            }
        }
        self.reschedule(id);
        Ok(())
    }

    /// Sets or clears administrative down (§6.8.16). Going down sends AdminDown at once.
    pub fn set_admin_down(
        &mut self,
        now: Instant,
        key: &SessionKey,
        down: bool,
    ) -> Result<(), Error> {
        let id = self.id(key)?;
        let Some(s) = self.session_mut(id) else {
            return Err(Error::NoSuchSession(key.clone()));
        };
        match (down, s.state) {
            (true, State::AdminDown) | (false, State::Down | State::Init | State::Up) => {}
            (true, _) => {
                self.transition(
                    now,
                    id,
                    State::AdminDown,
                    Diagnostic::AdministrativelyDown,
                    false,
                );
                self.send_control(id, false);
            }
            (false, State::AdminDown) => {
                self.transition(now, id, State::Down, Diagnostic::NoDiagnostic, false);
            }
        }
        self.reschedule(id);
        Ok(())
    }

    /// Removes a session. A final AdminDown packet is queued so the peer does not see a failure
    /// (RFC 5882 §3.2); no event is emitted for the removal itself.
    pub fn remove(&mut self, key: &SessionKey) -> Result<(), Error> {
        let id = self.id(key)?;
        let Some(mut s) = self.slots[id.index()].session.take() else {
            return Err(Error::NoSuchSession(key.clone()));
        };
        if s.remote_disc != 0 {
            s.state = State::AdminDown;
            s.local_diag = Diagnostic::AdministrativelyDown;
            s.poll = None;
            let pkt = s.control_packet(false);
            let mut payload = PacketBuf::default();
            encode(&mut s, &pkt, &mut payload);
            self.transmits.push_back(Transmit {
                session: id,
                kind: TransmitKind::Control,
                src: s.key.local,
                dst: control_dst(&s.key),
                payload,
            });
        }
        self.by_key.remove(key);
        self.by_disc.remove(&s.local_disc);
        let slot = &mut self.slots[id.index()];
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        Ok(())
    }

    /// The id of a session.
    pub fn id(&self, key: &SessionKey) -> Result<SessionId, Error> {
        self.by_key
            .get(key)
            .copied()
            .ok_or_else(|| Error::NoSuchSession(key.clone()))
    }

    /// The key of a session id (None if removed).
    pub fn key(&self, id: SessionId) -> Option<&SessionKey> {
        self.session(id).map(|s| &s.key)
    }

    /// Status of one session.
    pub fn status(&self, key: &SessionKey) -> Option<SessionStatus> {
        let id = self.by_key.get(key)?;
        self.session(*id).map(|s| status_of(*id, s))
    }

    /// Status of every session.
    pub fn sessions(&self) -> Vec<SessionStatus> {
        let mut v: Vec<_> = self
            .by_key
            .values()
            .filter_map(|id| self.session(*id).map(|s| status_of(*id, s)))
            .collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    fn session(&self, id: SessionId) -> Option<&Session> {
        let slot = self.slots.get(id.index())?;
        if slot.generation != id.generation {
            return None;
        }
        slot.session.as_ref()
    }

    fn session_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        let slot = self.slots.get_mut(id.index())?;
        if slot.generation != id.generation {
            return None;
        }
        slot.session.as_mut()
    }

    /// Processes a received control datagram: stateless checks, session lookup, TTL rules
    /// (RFC 5881 §5, RFC 5883 §5), authentication, then the §6.8.6 procedure. An `Err` means the
    /// packet was discarded and says why.
    pub fn handle_control(
        &mut self,
        now: Instant,
        rx: &RxMeta<'_>,
        data: &[u8],
    ) -> Result<(), Error> {
        let pkt = ControlPacket::decode(data)?;
        let id = if pkt.your_discriminator != 0 {
            *self
                .by_disc
                .get(&pkt.your_discriminator)
                .ok_or(Error::UnknownDiscriminator(pkt.your_discriminator))?
        } else {
            // Rare path (session bring-up): building the lookup key allocates the VRF name.
            let key = SessionKey {
                vrf: rx.vrf.map(str::to_owned),
                peer: rx.src.ip(),
                local: rx.dst,
                hop: rx.hop,
                interface: rx.interface.map(str::to_owned),
            };
            *self.by_key.get(&key).ok_or(Error::NoSessionForPeer {
                peer: rx.src,
                local: rx.dst,
            })?
        };
        let Some(s) = self.session_mut(id) else {
            return Err(Error::UnknownDiscriminator(pkt.your_discriminator));
        };
        if s.key.peer != rx.src.ip()
            || s.key.local != rx.dst
            || s.key.hop != rx.hop
            || s.key.vrf.as_deref() != rx.vrf
            || s.key.interface.as_deref() != rx.interface
        {
            return Err(Error::WrongSession { peer: rx.src });
        }
        let min_ttl = match s.key.hop {
            HopMode::SingleHop => 255,
            HopMode::MultiHop => s.params.minimum_ttl,
        };
        if rx.ttl < min_ttl {
            return Err(Error::Ttl {
                peer: rx.src,
                ttl: rx.ttl,
                min: min_ttl,
            });
        }
        match (&s.params.auth, &pkt.auth) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(Error::AuthMismatch(
                    "A bit set but no authentication configured",
                ))
            }
            (Some(key), _) => {
                verify_auth(&pkt, data, key)?;
                if let Some(sec) = &pkt.auth {
                    s.accept_sequence(sec)?;
                }
            }
        }

        // The packet is valid for this session: record the peer's variables (§6.8.6).
        s.rx_packets += 1;
        s.remote_disc = pkt.my_discriminator;
        s.remote_state = pkt.state;
        s.remote_diag = pkt.diag;
        s.remote_demand = pkt.demand;
        s.remote_detect_mult = pkt.detect_mult;
        s.remote_desired_min_tx = pkt.desired_min_tx;
        let old_interval = s.tx_interval();
        s.remote_min_rx = pkt.required_min_rx;
        s.remote_min_echo_rx = pkt.required_min_echo_rx;
        if pkt.final_ {
            if let Some(snap) = s.poll.take() {
                // §6.8.3: the peer has seen at least the values advertised when the poll started.
                s.act_tx = snap.tx.min(s.adv.tx);
                s.act_rx = snap.rx.max(s.adv.rx);
                if s.adv != snap {
                    s.poll = Some(s.adv);
                    self.send_control(id, false);
                }
            }
        }
        let Some(s) = self.session_mut(id) else {
            return Ok(());
        };
        // Transmit interval may have shrunk: bring the next packet forward (§6.8.7).
        let new_interval = s.tx_interval();
        if let (Some(new), Some(due)) = (new_interval, s.tx_due) {
            if old_interval.is_none_or(|old| new < old) && due > now + new {
                s.tx_due = Some(now + new);
            }
        }
        if s.tx_due.is_none() && s.periodic_allowed() {
            s.tx_due = Some(now);
        }
        if s.state != State::AdminDown {
            s.detect_due = Some(now + s.detection_time());
        }

        if s.hold_until.is_some_and(|h| now >= h) {
            s.hold_until = None;
        }
        // §6.8.18: a session held Down after an echo failure stays Down (and keeps telling the
        // peer so) until the hold-down ends.
        let action = if s.state == State::Down && s.hold_until.is_some() {
            RxAction::Stay
        } else {
            receive_transition(s.state, pkt.state)
        };
        let changed = match action {
            RxAction::Discard => {
                self.reschedule(id);
                return Err(Error::AdminDown);
            }
            RxAction::Stay => false,
            RxAction::Goto(to, diag) => {
                let peer_admin_down = pkt.state == State::AdminDown;
                self.transition(now, id, to, diag, peer_admin_down);
                true
            }
        };
        let Some(s) = self.session_mut(id) else {
            return Ok(());
        };
        if s.echo_active() && s.echo_tx_due.is_none() {
            s.echo_tx_due = Some(now);
        } else if !s.echo_active() {
            s.echo_tx_due = None;
            s.echo_detect_due = None;
        }
        if pkt.poll {
            // §6.8.6: answer a Poll with Final at once, whatever the transmit timer says.
            self.send_control(id, true);
        } else if changed {
            self.send_control(id, false);
        }
        self.reschedule(id);
        Ok(())
    }

    /// Processes one of our echo packets that came back (the UDP payload of a packet addressed
    /// from and to our own address, port 3785): it counts as returned and pushes the echo
    /// detection deadline. Anything else is ignored.
    pub fn handle_echo(&mut self, now: Instant, data: &[u8]) -> EchoVerdict {
        let Ok(echo) = EchoPacket::decode(data) else {
            return EchoVerdict::Ignored;
        };
        let Some(&id) = self.by_disc.get(&echo.discriminator) else {
            return EchoVerdict::Ignored;
        };
        let epoch = self.epoch;
        let Some(s) = self.session_mut(id) else {
            return EchoVerdict::Ignored;
        };
        if !s.echo_active() {
            return EchoVerdict::Ignored;
        }
        s.echo_rx_packets += 1;
        s.echo_returned_by = Some(s.remote_disc);
        s.echo_failures = 0;
        let sent = epoch + Duration::from_nanos(echo.timestamp_ns);
        s.last_echo_rtt = now.checked_duration_since(sent);
        s.echo_detect_due = Some(now + s.echo_detection_time());
        self.reschedule(id);
        EchoVerdict::Returned
    }

    /// Runs every timer due at `now`: detection expiry, echo detection expiry, periodic control
    /// and echo transmission.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Entries up to the slack horizon are visited (their transmits may go now); each visited
        // session is re-armed after the loop, so one whose due timer is not runnable yet (a
        // detection inside the horizon) is not popped again and again.
        let horizon = now + self.slack;
        let mut rearm = std::mem::take(&mut self.rearm);
        while let Some(Reverse((deadline, id))) = self.heap.peek().copied() {
            if deadline > horizon {
                break;
            }
            self.heap.pop();
            match self.session_mut(id) {
                Some(s) if s.scheduled == Some(deadline) => s.scheduled = None,
                _ => continue, // stale entry
            }
            self.run_timers(now, id);
            rearm.push(id);
        }
        for id in rearm.drain(..) {
            self.reschedule(id);
        }
        self.rearm = rearm;
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, id))) = self.heap.peek().copied() {
            match self.session(id) {
                Some(s) if s.scheduled == Some(deadline) => return Some(deadline),
                _ => {
                    self.heap.pop();
                }
            }
        }
        None
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next state change.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn run_timers(&mut self, now: Instant, id: SessionId) {
        let Some(s) = self.session_mut(id) else {
            return;
        };
        if s.detect_due.is_some_and(|d| d <= now) {
            s.detect_due = None;
            // §6.8.1 / §6.8.4: forget the peer; Init/Up go Down with diagnostic 1.
            s.remote_disc = 0;
            s.remote_state = State::Down;
            s.remote_demand = false;
            s.remote_min_echo_rx = Duration::ZERO;
            s.rcv_auth_seq = None;
            if matches!(s.state, State::Init | State::Up) {
                self.transition(
                    now,
                    id,
                    State::Down,
                    Diagnostic::ControlDetectionTimeExpired,
                    false,
                );
                self.send_control(id, false);
            }
        }
        let Some(s) = self.session_mut(id) else {
            return;
        };
        if s.echo_detect_due.is_some_and(|d| d <= now) {
            s.echo_detect_due = None;
            if s.state == State::Up && s.echo_active() && !s.echo_peer_reflects() {
                // This peer never returned one echo: its forwarding plane does not loop them
                // (forwarding off, a filter, an implementation that drops them). That is a
                // configuration fact, not a path failure: stop echo, keep the session Up.
                s.echo_abandoned = true;
                s.echo_tx_due = None;
                tracing::warn!(session = %s.key, "BFD echo packets are not returned by the peer; echo function off until the session leaves Up");
            } else if s.state == State::Up && s.echo_active() {
                // RFC 5880 §6.8.5 / §6.4: echoes stopped returning from a peer that returned
                // them before: the forwarding path failed. Hold Down (§6.8.18) so the session
                // does not come back Up only to fail again while the echo path stays broken.
                s.echo_failures = s.echo_failures.saturating_add(1);
                let hold = echo_hold_down(s.echo_failures);
                s.hold_until = Some(now + hold);
                tracing::warn!(session = %s.key, hold_ms = hold.as_millis() as u64, "BFD echo function failed; session Down and held down");
                self.transition(now, id, State::Down, Diagnostic::EchoFunctionFailed, false);
                self.send_control(id, false);
            }
        }
        let slack = self.slack;
        let Some(s) = self.session_mut(id) else {
            return;
        };
        let early = s
            .tx_interval()
            .map_or(Duration::ZERO, |i| tx_slack(slack, i));
        if s.tx_due.is_some_and(|d| d <= now + early) {
            s.tx_due = None;
            if s.periodic_allowed() {
                if let Some(interval) = s.tx_interval() {
                    let mult = s.adv.mult;
                    let r = self.rng.next_u32();
                    self.send_control(id, false);
                    if let Some(s) = self.session_mut(id) {
                        s.tx_due = Some(now + jittered_early(interval, mult, r, early));
                    }
                }
            }
        }
        let epoch = self.epoch;
        let r = self.rng.next_u32();
        let Some(slot) = self.slots.get_mut(id.index()) else {
            return;
        };
        if slot.generation != id.generation {
            return;
        }
        let Some(s) = slot.session.as_mut() else {
            return;
        };
        let early = tx_slack(slack, s.echo_tx_interval());
        if s.echo_tx_due.is_some_and(|d| d <= now + early) {
            s.echo_tx_due = None;
            if s.echo_active() {
                let interval = s.echo_tx_interval();
                s.echo_seq = s.echo_seq.wrapping_add(1);
                s.echo_tx_packets += 1;
                let echo = EchoPacket {
                    discriminator: s.local_disc,
                    sequence: s.echo_seq,
                    timestamp_ns: u64::try_from(now.saturating_duration_since(epoch).as_nanos())
                        .unwrap_or(u64::MAX),
                };
                if s.echo_detect_due.is_none() {
                    s.echo_detect_due = Some(now + s.echo_detection_time());
                }
                s.echo_tx_due = Some(now + jittered_early(interval, 2, r, early));
                let mut payload = PacketBuf::default();
                echo.encode(&mut payload);
                // RFC 5881 §4: addressed to ourselves, handed to the peer's link layer.
                self.transmits.push_back(Transmit {
                    session: id,
                    kind: TransmitKind::Echo,
                    src: s.key.local,
                    dst: SocketAddr::new(s.key.local, PORT_ECHO),
                    payload,
                });
            }
        }
    }

    /// Changes state, records the diagnostic, emits the event, and fixes up everything that
    /// depends on the state (advertised timers, poll, echo).
    fn transition(
        &mut self,
        now: Instant,
        id: SessionId,
        to: State,
        diag: Diagnostic,
        peer_admin_down: bool,
    ) {
        let Some(s) = self.session_mut(id) else {
            return;
        };
        let from = s.state;
        if from == to {
            return;
        }
        s.state = to;
        s.local_diag = diag;
        s.last_change = now;
        s.up_since = if to == State::Up { Some(now) } else { None };
        s.echo_abandoned = false;
        if to != State::Up {
            s.poll = None;
            s.echo_tx_due = None;
            s.echo_detect_due = None;
        }
        if to == State::AdminDown {
            s.detect_due = None;
        }
        let ev = Event {
            key: s.key.clone(),
            id,
            from,
            to,
            diagnostic: diag,
            peer_admin_down,
        };
        self.events.push_back(ev);
        self.update_advertised(now, id);
    }

    /// Recomputes what we advertise; while Up, a change starts a Poll sequence (§6.8.3).
    fn update_advertised(&mut self, now: Instant, id: SessionId) {
        let Some(s) = self.session_mut(id) else {
            return;
        };
        let want = s.wanted_advertised();
        if want == s.adv {
            return;
        }
        let old_interval = s.tx_interval();
        s.adv = want;
        if s.state != State::Up {
            s.act_tx = want.tx;
            s.act_rx = want.rx;
            s.poll = None;
        } else {
            // Faster transmit and slower receive are safe at once; the rest waits for Final.
            s.act_tx = s.act_tx.min(want.tx);
            s.act_rx = s.act_rx.max(want.rx);
            if s.poll.is_none() {
                s.poll = Some(want);
                self.send_control(id, false);
            }
        }
        let Some(s) = self.session_mut(id) else {
            return;
        };
        if let (Some(new), Some(old)) = (s.tx_interval(), old_interval) {
            if new < old {
                if let Some(due) = s.tx_due {
                    s.tx_due = Some(due.min(now + new));
                }
            }
        }
    }

    /// Queues a control packet now (state change, Poll start or Final answer).
    fn send_control(&mut self, id: SessionId, final_: bool) {
        let Some(s) = self.session_mut(id) else {
            return;
        };
        if s.params.passive_mode && s.remote_disc == 0 {
            return;
        }
        let pkt = s.control_packet(final_);
        let mut payload = PacketBuf::default();
        encode(s, &pkt, &mut payload);
        s.tx_packets += 1;
        let t = Transmit {
            session: id,
            kind: TransmitKind::Control,
            src: s.key.local,
            dst: control_dst(&s.key),
            payload,
        };
        self.transmits.push_back(t);
    }

    /// Pushes a heap entry if the session's earliest deadline moved earlier (lazy invalidation).
    fn reschedule(&mut self, id: SessionId) {
        let Some(s) = self.session_mut(id) else {
            return;
        };
        let next = [s.tx_due, s.detect_due, s.echo_tx_due, s.echo_detect_due]
            .into_iter()
            .flatten()
            .min();
        match (next, s.scheduled) {
            (Some(n), Some(cur)) if n >= cur => {}
            (Some(n), _) => {
                s.scheduled = Some(n);
                self.heap.push(Reverse((n, id)));
            }
            (None, _) => {}
        }
    }
}

fn control_dst(key: &SessionKey) -> SocketAddr {
    let port = match key.hop {
        HopMode::SingleHop => PORT_SINGLE_HOP,
        HopMode::MultiHop => PORT_MULTI_HOP,
    };
    SocketAddr::new(key.peer, port)
}

fn encode(s: &mut Session, pkt: &ControlPacket, payload: &mut PacketBuf) {
    match &s.params.auth {
        Some(key) => {
            // Keyed variants may keep the number; we advance it on every packet for all types.
            s.xmit_auth_seq = s.xmit_auth_seq.wrapping_add(1);
            pkt.encode_signed(key, s.xmit_auth_seq, payload);
        }
        None => pkt.encode(payload),
    }
}

fn status_of(id: SessionId, s: &Session) -> SessionStatus {
    SessionStatus {
        key: s.key.clone(),
        id,
        state: s.state,
        remote_state: s.remote_state,
        local_discriminator: s.local_disc,
        remote_discriminator: s.remote_disc,
        local_diagnostic: s.local_diag,
        remote_diagnostic: s.remote_diag,
        desired_min_tx: s.adv.tx,
        required_min_rx: s.adv.rx,
        required_min_echo_rx: s.adv.echo_rx,
        tx_interval: s.tx_interval(),
        detection_time: s.detection_time(),
        remote_desired_min_tx: s.remote_desired_min_tx,
        remote_min_rx: s.remote_min_rx,
        remote_min_echo_rx: s.remote_min_echo_rx,
        remote_detect_mult: s.remote_detect_mult,
        polling: s.poll.is_some(),
        echo_state: s.echo_state(),
        echo_active: s.echo_active(),
        echo_abandoned: s.echo_abandoned,
        up_since: s.up_since,
        held_down_until: s.hold_until,
        rx_packets: s.rx_packets,
        tx_packets: s.tx_packets,
        echo_rx_packets: s.echo_rx_packets,
        echo_tx_packets: s.echo_tx_packets,
        last_echo_rtt: s.last_echo_rtt,
        params: s.params.clone(),
    }
}
