//! One BFD session's state (RFC 5880 §6.8.1 variables) and its pure decisions: the receive state
//! table (§6.8.6) as one `match`, timer negotiation (§6.8.2–§6.8.4), jitter (§6.8.7), the
//! Poll/Final sequence (§6.5, §6.8.3), authentication sequence windows (§6.7) and the echo function
//! (§6.4). The engine owns many sessions and their timers; this module owns what one session
//! decides.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::config::is_link_local;

use super::packet::{AuthSection, ControlPacket, Diagnostic, State};
use super::params::SessionParams;

/// The RFC 5880 §6.8.3 floor on the transmit interval while the session is not Up.
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// How long a session is held Down (RFC 5880 §6.8.18) after its first echo failure; each
/// further echo failure without a returned echo in between doubles it, up to
/// [`ECHO_HOLD_DOWN_MAX`]. Control packets keep flowing meanwhile (we send Down with
/// diagnostic 2), but the session does not come back Up only to fail again a few echo intervals
/// later while the echo path stays broken.
pub const ECHO_HOLD_DOWN: Duration = Duration::from_secs(2);
/// Longest echo-failure hold-down.
pub const ECHO_HOLD_DOWN_MAX: Duration = Duration::from_secs(16);

/// The hold-down after the `failures`-th consecutive echo failure (1-based).
pub fn echo_hold_down(failures: u32) -> Duration {
    let doubling = failures.saturating_sub(1).min(8);
    (ECHO_HOLD_DOWN * (1u32 << doubling)).min(ECHO_HOLD_DOWN_MAX)
}

/// Single-hop (RFC 5881, UDP 3784, TTL 255) or multihop (RFC 5883, UDP 4784, minimum TTL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HopMode {
    /// Directly connected peer.
    SingleHop,
    /// Peer reached through routers.
    MultiHop,
}

/// What identifies a session: VRF (None = default VRF), peer address, local address, hop mode,
/// and for sessions over IPv6 link-local addresses the interface they live on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    /// VRF device name; `None` for the default VRF.
    pub vrf: Option<String>,
    /// The peer's address.
    pub peer: IpAddr,
    /// Our address (source of our packets, destination of the peer's).
    pub local: IpAddr,
    /// Single-hop or multihop.
    pub hop: HopMode,
    /// The interface of a single-hop session between IPv6 link-local addresses (an unnumbered
    /// BGP peer): its sockets are bound to it and its packets are accepted only from it. `None`
    /// for sessions between routable addresses. Required when either address is link-local.
    pub interface: Option<String>,
}

impl SessionKey {
    /// A single-hop key in the default VRF.
    pub fn single_hop(peer: IpAddr, local: IpAddr) -> Self {
        Self {
            vrf: None,
            peer,
            local,
            hop: HopMode::SingleHop,
            interface: None,
        }
    }
    /// A multihop key in the default VRF.
    pub fn multi_hop(peer: IpAddr, local: IpAddr) -> Self {
        Self {
            vrf: None,
            peer,
            local,
            hop: HopMode::MultiHop,
            interface: None,
        }
    }
    /// Whether the key can name a session: both addresses of one family, distinct and
    /// specified; link-local addresses only with an interface; an interface only single-hop.
    /// `Err` says why not.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.peer.is_ipv4() != self.local.is_ipv4() {
            return Err("peer and local address must be of the same family");
        }
        if self.peer.is_unspecified() || self.local.is_unspecified() || self.peer == self.local {
            return Err("peer and local address must be distinct unicast addresses");
        }
        if (is_link_local(self.peer) || is_link_local(self.local)) && self.interface.is_none() {
            return Err("a session on IPv6 link-local addresses needs its interface");
        }
        if self.interface.is_some() && self.hop != HopMode::SingleHop {
            return Err("a session bound to an interface is single-hop (RFC 5881)");
        }
        Ok(())
    }
    /// A single-hop key between IPv6 link-local addresses on `interface` (RFC 5881 over an
    /// unnumbered link), in the default VRF.
    pub fn link_local(interface: impl Into<String>, peer: Ipv6Addr, local: Ipv6Addr) -> Self {
        Self {
            vrf: None,
            peer: IpAddr::V6(peer),
            local: IpAddr::V6(local),
            hop: HopMode::SingleHop,
            interface: Some(interface.into()),
        }
    }
    /// The same key in VRF `vrf`.
    pub fn in_vrf(mut self, vrf: impl Into<String>) -> Self {
        self.vrf = Some(vrf.into());
        self
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "vrf {} peer {} local {} ",
            self.vrf.as_deref().unwrap_or("default"),
            self.peer,
            self.local,
        )?;
        if let Some(i) = &self.interface {
            write!(f, "interface {i} ")?;
        }
        f.write_str(match self.hop {
            HopMode::SingleHop => "single-hop",
            HopMode::MultiHop => "multihop",
        })
    }
}

/// What the receive table says to do with a packet (RFC 5880 §6.8.6, the state part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxAction {
    /// Local session is AdminDown: discard the packet.
    Discard,
    /// Keep the current state.
    Stay,
    /// Move to this state with this diagnostic.
    Goto(State, Diagnostic),
}

/// The RFC 5880 §6.8.6 state table: given our state and the state in the received packet, what to
/// do. Every pair appears exactly once.
pub fn receive_transition(local: State, remote: State) -> RxAction {
    use State::*;
    match (local, remote) {
        (AdminDown, _) => RxAction::Discard,
        (Down, AdminDown) => RxAction::Stay,
        (Init | Up, AdminDown) => RxAction::Goto(Down, Diagnostic::NeighborSignaledSessionDown),
        (Down, Down) => RxAction::Goto(Init, Diagnostic::NoDiagnostic),
        (Down, Init) => RxAction::Goto(Up, Diagnostic::NoDiagnostic),
        (Down, Up) => RxAction::Stay,
        (Init, Down) => RxAction::Stay,
        (Init, Init | Up) => RxAction::Goto(Up, Diagnostic::NoDiagnostic),
        (Up, Down) => RxAction::Goto(Down, Diagnostic::NeighborSignaledSessionDown),
        (Up, Init | Up) => RxAction::Stay,
    }
}

/// Negotiated transmit interval (§6.8.2, §6.8.7): the larger of our Desired Min TX and the peer's
/// Required Min RX; `None` when the peer asks for no packets (Required Min RX 0).
pub fn negotiated_tx(desired_min_tx: Duration, remote_min_rx: Duration) -> Option<Duration> {
    if remote_min_rx.is_zero() {
        None
    } else {
        Some(desired_min_tx.max(remote_min_rx))
    }
}

/// Detection time in asynchronous mode (§6.8.4): the peer's Detect Mult times the larger of our
/// Required Min RX and the peer's Desired Min TX.
pub fn detection_time(
    remote_detect_mult: u8,
    required_min_rx: Duration,
    remote_desired_min_tx: Duration,
) -> Duration {
    required_min_rx.max(remote_desired_min_tx) * u32::from(remote_detect_mult)
}

/// Applies transmit jitter (§6.8.7): the interval reduced by 0–25 %, or by 10–25 % when our
/// Detect Mult is 1. `r` is a uniform random value.
pub fn jittered(interval: Duration, detect_mult: u8, r: u32) -> Duration {
    jittered_early(interval, detect_mult, r, Duration::ZERO)
}

/// How early a transmit due in an `interval` cadence may be sent to share a wake-up with
/// others: the engine's timer slack, at most 1/20 of the interval.
pub fn tx_slack(slack: Duration, interval: Duration) -> Duration {
    slack.min(interval / 20)
}

/// [`jittered`] for a transmit that may be sent up to `early` before its deadline (timer
/// coalescing): the per-mille factor is drawn from [750 + early, 1000] (or [.., 900] when Detect
/// Mult is 1) so that the interval actually seen on the wire stays within §6.8.7's 75–100 %.
pub fn jittered_early(interval: Duration, detect_mult: u8, r: u32, early: Duration) -> Duration {
    let hi: u32 = if detect_mult == 1 { 900 } else { 1000 };
    let early_permille = if interval.is_zero() {
        0
    } else {
        // Rounded up; at most 50 per mille when early comes from tx_slack.
        u32::try_from(
            early
                .as_nanos()
                .saturating_mul(1000)
                .div_ceil(interval.as_nanos()),
        )
        .unwrap_or(u32::MAX)
    };
    let lo = 750u32.saturating_add(early_permille).min(hi);
    let permille = lo + r % (hi - lo + 1);
    interval * permille / 1000
}

/// Whether an authentication sequence number is acceptable (§6.7.3, §6.7.4): within
/// `[last, last + 3 × detect_mult]` for keyed, `(last, last + 3 × detect_mult]` for meticulous
/// (modulo 2³²); anything when no number is known yet.
pub fn sequence_acceptable(last: Option<u32>, got: u32, meticulous: bool, detect_mult: u8) -> bool {
    let Some(last) = last else { return true };
    let ahead = got.wrapping_sub(last);
    let window = 3 * u32::from(detect_mult);
    if meticulous {
        ahead >= 1 && ahead <= window
    } else {
        ahead <= window
    }
}

/// Where a session's echo function stands (RFC 5880 §6.4, RFC 5881 §4). Echo packets are
/// addressed to ourselves and handed to the peer's link-layer address, so the peer's forwarding
/// plane — not its BFD process — sends them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EchoState {
    /// Not running: `echoMode` off, a multihop session, the session not Up, or the peer advertises
    /// Required Min Echo RX Interval 0 (it does not want echoes).
    Off,
    /// Echo packets are sent but this peer has not returned one yet. If none returns within the
    /// echo detection time the echo function is switched off ([`EchoState::NotReflected`]) and
    /// the session stays Up: a peer whose forwarding plane never loops echoes is a configuration
    /// fact, not a path failure.
    Probing,
    /// This peer returns our echoes: losing them for the echo detection time (Detect Mult ×
    /// echo interval) takes the session Down with diagnostic 2 "Echo Function Failed".
    Active,
    /// This peer never returned a single echo: echo is off and the session runs on control
    /// packets alone until it leaves Up (then echo is tried again).
    NotReflected,
}

impl fmt::Display for EchoState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EchoState::Off => "off",
            EchoState::Probing => "probing",
            EchoState::Active => "active",
            EchoState::NotReflected => "not reflected by peer",
        })
    }
}

/// Snapshot of the advertised timer values when a Poll sequence started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Advertised {
    pub tx: Duration,
    pub rx: Duration,
    pub echo_rx: Duration,
    pub mult: u8,
}

/// One session: the RFC 5880 §6.8.1 state variables plus our timers.
#[derive(Debug)]
pub(crate) struct Session {
    pub key: SessionKey,
    pub params: SessionParams,
    pub state: State,
    pub remote_state: State,
    pub local_disc: u32,
    pub remote_disc: u32,
    pub local_diag: Diagnostic,
    pub remote_diag: Diagnostic,
    /// What we advertise (Desired Min TX is at least 1 s while not Up).
    pub adv: Advertised,
    /// Desired Min TX in effect for our transmit interval (§6.8.3 deferral on increase).
    pub act_tx: Duration,
    /// Required Min RX in effect for our detection time (§6.8.3 deferral on decrease).
    pub act_rx: Duration,
    pub remote_min_rx: Duration,
    pub remote_desired_min_tx: Duration,
    pub remote_min_echo_rx: Duration,
    pub remote_detect_mult: u8,
    pub remote_demand: bool,
    /// Poll sequence in progress: the values advertised when it started.
    pub poll: Option<Advertised>,
    pub rcv_auth_seq: Option<u32>,
    pub xmit_auth_seq: u32,
    pub echo_seq: u32,
    /// The peer (identified by its discriminator, so a restarted peer counts as new) has returned
    /// at least one of our echoes: from then on, lost echoes are a path failure.
    pub echo_returned_by: Option<u32>,
    /// Our echoes never came back from this peer: its forwarding plane does not loop them, so
    /// echo is off until the session leaves Up (rather than flapping a session whose control
    /// packets are fine).
    pub echo_abandoned: bool,
    /// Echo failures since an echo last returned (drives the hold-down length).
    pub echo_failures: u32,
    /// Held Down until then after an echo failure (RFC 5880 §6.8.18): received packets are
    /// processed but do not move the session out of Down.
    pub hold_until: Option<Instant>,
    pub tx_due: Option<Instant>,
    pub detect_due: Option<Instant>,
    pub echo_tx_due: Option<Instant>,
    pub echo_detect_due: Option<Instant>,
    /// Deadline of this session's entry in the engine's heap (lazy invalidation).
    pub scheduled: Option<Instant>,
    pub up_since: Option<Instant>,
    pub last_change: Instant,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub echo_rx_packets: u64,
    pub echo_tx_packets: u64,
    pub last_echo_rtt: Option<Duration>,
}

impl Session {
    pub fn new(
        key: SessionKey,
        params: SessionParams,
        local_disc: u32,
        seq: u32,
        now: Instant,
    ) -> Self {
        let mut s = Self {
            key,
            state: State::Down,
            remote_state: State::Down,
            local_disc,
            remote_disc: 0,
            local_diag: Diagnostic::NoDiagnostic,
            remote_diag: Diagnostic::NoDiagnostic,
            adv: Advertised {
                tx: SLOW_TX,
                rx: params.receive_interval.get(),
                echo_rx: Duration::ZERO,
                mult: params.detect_multiplier.get(),
            },
            act_tx: SLOW_TX,
            act_rx: params.receive_interval.get(),
            // §6.8.1: bfd.RemoteMinRxInterval starts at 1 µs.
            remote_min_rx: Duration::from_micros(1),
            remote_desired_min_tx: Duration::ZERO,
            remote_min_echo_rx: Duration::ZERO,
            remote_detect_mult: 0,
            remote_demand: false,
            poll: None,
            rcv_auth_seq: None,
            xmit_auth_seq: seq,
            echo_seq: 0,
            echo_returned_by: None,
            echo_abandoned: false,
            echo_failures: 0,
            hold_until: None,
            tx_due: None,
            detect_due: None,
            echo_tx_due: None,
            echo_detect_due: None,
            scheduled: None,
            up_since: None,
            last_change: now,
            rx_packets: 0,
            tx_packets: 0,
            echo_rx_packets: 0,
            echo_tx_packets: 0,
            last_echo_rtt: None,
            params,
        };
        s.adv = s.wanted_advertised();
        s.act_tx = s.adv.tx;
        s.act_rx = s.adv.rx;
        s
    }

    /// The values we should advertise now, from the parameters and the state.
    pub fn wanted_advertised(&self) -> Advertised {
        let cfg_tx = self.params.transmit_interval.get();
        Advertised {
            tx: if self.state == State::Up {
                cfg_tx
            } else {
                cfg_tx.max(SLOW_TX)
            },
            rx: self.params.receive_interval.get(),
            echo_rx: if self.echo_configured() {
                self.params.echo_interval.get()
            } else {
                Duration::ZERO
            },
            mult: self.params.detect_multiplier.get(),
        }
    }

    /// Echo is configured and possible (single-hop only).
    pub fn echo_configured(&self) -> bool {
        self.params.echo_mode && self.key.hop == HopMode::SingleHop
    }

    /// Echo packets should flow now.
    pub fn echo_active(&self) -> bool {
        self.echo_configured()
            && self.state == State::Up
            && !self.remote_min_echo_rx.is_zero()
            && !self.echo_abandoned
    }

    /// Where the echo function stands.
    pub fn echo_state(&self) -> EchoState {
        let running =
            self.echo_configured() && self.state == State::Up && !self.remote_min_echo_rx.is_zero();
        if !running {
            EchoState::Off
        } else if self.echo_abandoned {
            EchoState::NotReflected
        } else if self.echo_peer_reflects() {
            EchoState::Active
        } else {
            EchoState::Probing
        }
    }

    /// The current peer has returned our echoes before (so losing them now is a failure).
    pub fn echo_peer_reflects(&self) -> bool {
        self.remote_disc != 0 && self.echo_returned_by == Some(self.remote_disc)
    }

    /// Echo detection time: our Detect Mult times the echo transmit interval.
    pub fn echo_detection_time(&self) -> Duration {
        self.echo_tx_interval() * u32::from(self.params.detect_multiplier.get())
    }

    /// Echo transmit interval.
    pub fn echo_tx_interval(&self) -> Duration {
        self.params.echo_interval.get().max(self.remote_min_echo_rx)
    }

    /// The transmit interval in effect, `None` if the peer wants no packets.
    pub fn tx_interval(&self) -> Option<Duration> {
        negotiated_tx(self.act_tx, self.remote_min_rx)
    }

    /// The detection time in effect.
    pub fn detection_time(&self) -> Duration {
        detection_time(
            self.remote_detect_mult.max(1),
            self.act_rx,
            self.remote_desired_min_tx,
        )
    }

    /// Whether periodic control packets should be sent now (§6.8.7).
    pub fn periodic_allowed(&self) -> bool {
        if self.params.passive_mode && self.remote_disc == 0 {
            return false;
        }
        if self.remote_min_rx.is_zero() {
            return false;
        }
        !(self.remote_demand
            && self.state == State::Up
            && self.remote_state == State::Up
            && self.poll.is_none())
    }

    /// The control packet we would send now, with the given Final bit.
    pub fn control_packet(&self, final_: bool) -> ControlPacket {
        ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll: self.poll.is_some() && !final_,
            final_,
            cpi: false,
            demand: false,
            detect_mult: self.adv.mult,
            my_discriminator: self.local_disc,
            your_discriminator: self.remote_disc,
            desired_min_tx: self.adv.tx,
            required_min_rx: self.adv.rx,
            required_min_echo_rx: self.adv.echo_rx,
            auth: None,
        }
    }

    /// Checks the authentication sequence window and records the number (§6.7).
    pub fn accept_sequence(&mut self, sec: &AuthSection) -> Result<(), super::Error> {
        if let Some(seq) = sec.sequence() {
            let meticulous = sec.auth_type().is_meticulous();
            if !sequence_acceptable(self.rcv_auth_seq, seq, meticulous, self.adv.mult) {
                let from = self
                    .rcv_auth_seq
                    .map(|l| l.wrapping_add(u32::from(meticulous)))
                    .unwrap_or(0);
                return Err(super::Error::AuthSequence {
                    got: seq,
                    expected_from: from,
                });
            }
            self.rcv_auth_seq = Some(seq);
        }
        Ok(())
    }
}
