//! RFC 4271 §8 table tests of the sans-IO FSM: every state × event the RFC lists, on a fake
//! clock (no sleeping), checking the next state, what goes on the wire and the timers.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use metalroute_bgp::config::{Asn, Family, GracefulRestart, HoldTime, PeerAsn, PeerConfig, Timers};
use metalroute_bgp::fsm::{
    ConnId, Direction, Event, Fsm, Jitter, NoJitter, Output, SplitMix, State, BACKOFF_BASE,
    IDLE_HOLD_TIME, OPEN_HOLD_TIME,
};
use metalroute_bgp::packet::{
    frame, Afi, Capability, CeaseSubcode, DecodeContext, ErrorCode, FsmSubcode, GracefulRestartCap,
    GracefulRestartFamily, Message, Notification, Open, OpenSubcode, RouteRefresh, Safi, Update,
};

const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn config() -> PeerConfig {
    let mut c = PeerConfig::new(
        Asn(65001),
        PeerAsn::Fixed(Asn(65002)),
        "192.0.2.2".parse().unwrap(),
        LOCAL_ID,
    );
    c.timers = Timers {
        hold_time: HoldTime::from_secs(90).unwrap(),
        keepalive: None,
        connect_time: Duration::from_secs(30),
    };
    c
}

fn peer_open(asn: u32, id: Ipv4Addr, hold: u16) -> Open {
    Open {
        version: 4,
        my_as: asn,
        hold_time: hold,
        router_id: id,
        capabilities: vec![
            Capability::Multiprotocol {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
            },
            Capability::RouteRefresh,
            Capability::FourOctetAs(asn),
        ],
    }
}

struct H {
    fsm: Fsm,
    t0: Instant,
    now: Instant,
}

impl H {
    fn new(config: PeerConfig) -> H {
        let t0 = Instant::now();
        H {
            fsm: Fsm::new(config, Box::new(NoJitter)),
            t0,
            now: t0,
        }
    }
    fn ev(&mut self, e: Event) -> Vec<Output> {
        self.fsm.handle_event(self.now, e);
        self.drain()
    }
    fn advance(&mut self, d: Duration) -> Vec<Output> {
        self.now += d;
        self.fsm.handle_timeout(self.now);
        self.drain()
    }
    /// Advances exactly to the next deadline.
    fn fire(&mut self) -> Vec<Output> {
        let t = self.fsm.poll_timeout().expect("a timer is armed");
        let d = t.saturating_duration_since(self.now);
        self.advance(d)
    }
    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.fsm.poll_output()).collect()
    }
    fn msg(&mut self, conn: ConnId, m: Message) -> Vec<Output> {
        self.ev(Event::Message { conn, message: m })
    }
    fn timeout_in(&self) -> Option<Duration> {
        self.fsm
            .poll_timeout()
            .map(|t| t.saturating_duration_since(self.now))
    }
    #[allow(dead_code)]
    fn elapsed(&self) -> Duration {
        self.now - self.t0
    }
}

fn connects(out: &[Output]) -> Vec<ConnId> {
    out.iter()
        .filter_map(|o| {
            if let Output::Connect(c) = o {
                Some(*c)
            } else {
                None
            }
        })
        .collect()
}

fn closes(out: &[Output]) -> Vec<ConnId> {
    out.iter()
        .filter_map(|o| {
            if let Output::Close(c) = o {
                Some(*c)
            } else {
                None
            }
        })
        .collect()
}

/// Every message written, decoded, with its connection.
fn sent(out: &[Output]) -> Vec<(ConnId, Message)> {
    let ctx = DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    };
    let mut v = Vec::new();
    for o in out {
        if let Output::Transmit { conn, data } = o {
            let mut buf = &data[..];
            while let Ok(Some(n)) = frame(buf) {
                v.push((
                    *conn,
                    Message::decode(&buf[..n], &ctx).expect("we send valid messages"),
                ));
                buf = &buf[n..];
            }
            assert!(buf.is_empty(), "partial message written");
        }
    }
    v
}

fn notifications(out: &[Output]) -> Vec<Notification> {
    sent(out)
        .into_iter()
        .filter_map(|(_, m)| {
            if let Message::Notification(n) = m {
                Some(n)
            } else {
                None
            }
        })
        .collect()
}

fn states(out: &[Output]) -> Vec<(State, State)> {
    out.iter()
        .filter_map(|o| {
            if let Output::StateChanged { from, to } = o {
                Some((*from, *to))
            } else {
                None
            }
        })
        .collect()
}

fn to_connect(h: &mut H) -> ConnId {
    let out = h.ev(Event::Start);
    assert_eq!(h.fsm.state(), State::Connect);
    connects(&out)[0]
}

fn to_open_sent(h: &mut H) -> ConnId {
    let c = to_connect(h);
    let out = h.ev(Event::Connected {
        conn: c,
        direction: Direction::Outbound,
    });
    assert_eq!(h.fsm.state(), State::OpenSent);
    assert!(matches!(sent(&out)[0].1, Message::Open(_)));
    c
}

fn to_open_confirm(h: &mut H) -> ConnId {
    let c = to_open_sent(h);
    let out = h.msg(c, Message::Open(peer_open(65002, PEER_ID, 90)));
    assert_eq!(h.fsm.state(), State::OpenConfirm);
    assert!(matches!(sent(&out)[0].1, Message::Keepalive));
    c
}

fn to_established(h: &mut H) -> ConnId {
    let c = to_open_confirm(h);
    let out = h.msg(c, Message::Keepalive);
    assert_eq!(h.fsm.state(), State::Established);
    assert!(out.iter().any(|o| matches!(o, Output::Established(_))));
    c
}

fn is_notification(n: &Notification, code: ErrorCode, sub: u8) -> bool {
    n.code == code && n.subcode == sub
}

// ----- Idle -----

#[test]
fn fsm_idle_manual_start_connects() {
    let mut h = H::new(config());
    let out = h.ev(Event::Start);
    assert_eq!(states(&out), vec![(State::Idle, State::Connect)]);
    assert_eq!(connects(&out).len(), 1);
    assert_eq!(
        h.timeout_in(),
        Some(BACKOFF_BASE),
        "ConnectRetry timer armed"
    );
}

#[test]
fn fsm_idle_passive_start_goes_active_without_connecting() {
    let mut c = config();
    c.passive = true;
    let mut h = H::new(c);
    let out = h.ev(Event::Start);
    assert_eq!(states(&out), vec![(State::Idle, State::Active)]);
    assert!(connects(&out).is_empty());
    assert_eq!(h.timeout_in(), None, "a passive speaker never dials");
}

#[test]
fn fsm_idle_refuses_connections() {
    let mut h = H::new(config());
    assert!(!h.fsm.accepts_connections());
    let c = h.fsm.next_conn_id();
    let out = h.ev(Event::Connected {
        conn: c,
        direction: Direction::Inbound,
    });
    assert_eq!(h.fsm.state(), State::Idle);
    let n = notifications(&out);
    assert!(is_notification(
        &n[0],
        ErrorCode::Cease,
        CeaseSubcode::ConnectionRejected as u8
    ));
    assert_eq!(closes(&out), vec![c]);
}

#[test]
fn fsm_idle_ignores_stop_and_messages() {
    let mut h = H::new(config());
    let out = h.ev(Event::Stop(CeaseSubcode::AdministrativeShutdown));
    assert!(out.is_empty());
    let out = h.msg(ConnId(999_999), Message::Keepalive);
    assert!(out.is_empty());
    assert_eq!(h.fsm.state(), State::Idle);
}

// ----- Connect -----

#[test]
fn fsm_connect_retry_expiry_retries_with_exponential_backoff_capped() {
    let mut c = config();
    c.timers.connect_time = Duration::from_secs(5);
    let mut h = H::new(c);
    let first = to_connect(&mut h);
    let mut waits = vec![h.timeout_in().unwrap()];
    let mut prev = first;
    for _ in 0..5 {
        let out = h.fire();
        assert_eq!(h.fsm.state(), State::Connect);
        assert_eq!(closes(&out), vec![prev], "the stale attempt is aborted");
        let next = connects(&out);
        assert_eq!(next.len(), 1);
        assert_ne!(next[0], prev);
        prev = next[0];
        waits.push(h.timeout_in().unwrap());
    }
    let secs: Vec<u64> = waits.iter().map(|d| d.as_secs()).collect();
    assert_eq!(
        secs,
        vec![1, 2, 4, 5, 5, 5],
        "1 s doubling, capped by connectTime"
    );
}

#[test]
fn fsm_connect_backoff_is_jittered_within_bounds() {
    let mut c = config();
    c.timers.connect_time = Duration::from_secs(64);
    let mut j = SplitMix(42);
    for _ in 0..1000 {
        let f = j.factor();
        assert!((0.75..=1.0).contains(&f), "{f}");
    }
    let t0 = Instant::now();
    let mut fsm = Fsm::new(c, Box::new(SplitMix(7)));
    fsm.handle_event(t0, Event::Start);
    let d = fsm.poll_timeout().unwrap() - t0;
    assert!(
        d >= Duration::from_millis(750) && d <= Duration::from_secs(1),
        "{d:?}"
    );
}

#[test]
fn fsm_connect_success_sends_open_and_arms_large_hold_timer() {
    let mut h = H::new(config());
    let c = to_connect(&mut h);
    let out = h.ev(Event::Connected {
        conn: c,
        direction: Direction::Outbound,
    });
    assert_eq!(states(&out), vec![(State::Connect, State::OpenSent)]);
    let msgs = sent(&out);
    let Message::Open(open) = &msgs[0].1 else {
        panic!("{msgs:?}")
    };
    assert_eq!(open.my_as, 65001);
    assert_eq!(open.hold_time, 90);
    assert_eq!(open.router_id, LOCAL_ID);
    assert!(open.capabilities.contains(&Capability::RouteRefresh));
    assert!(open.capabilities.contains(&Capability::FourOctetAs(65001)));
    assert!(open.capabilities.contains(&Capability::Multiprotocol {
        afi: Afi::Ipv4,
        safi: Safi::Unicast
    }));
    assert_eq!(h.timeout_in(), Some(OPEN_HOLD_TIME));
    assert_eq!(h.fsm.counters().opens_sent, 1);
}

#[test]
fn fsm_connect_failure_goes_active_then_retries() {
    let mut h = H::new(config());
    let c = to_connect(&mut h);
    let out = h.ev(Event::ConnectionFailed { conn: c });
    assert_eq!(states(&out), vec![(State::Connect, State::Active)]);
    assert_eq!(
        h.timeout_in(),
        Some(Duration::from_secs(2)),
        "backoff grew after the failure"
    );
    let out = h.fire();
    assert_eq!(states(&out), vec![(State::Active, State::Connect)]);
    assert_eq!(connects(&out).len(), 1);
}

#[test]
fn fsm_connect_stop_goes_idle_without_notification() {
    let mut h = H::new(config());
    let c = to_connect(&mut h);
    let out = h.ev(Event::Stop(CeaseSubcode::AdministrativeShutdown));
    assert_eq!(h.fsm.state(), State::Idle);
    assert!(
        notifications(&out).is_empty(),
        "no TCP connection yet: nothing to notify"
    );
    assert_eq!(closes(&out), vec![c]);
    assert_eq!(h.timeout_in(), None, "ManualStop does not restart");
}

#[test]
fn fsm_connect_incoming_connection_replaces_attempt() {
    let mut h = H::new(config());
    let outbound = to_connect(&mut h);
    let inbound = h.fsm.next_conn_id();
    let out = h.ev(Event::Connected {
        conn: inbound,
        direction: Direction::Inbound,
    });
    assert_eq!(h.fsm.state(), State::OpenSent);
    assert_eq!(closes(&out), vec![outbound]);
    assert_eq!(sent(&out)[0].0, inbound);
}

// ----- Active -----

#[test]
fn fsm_active_incoming_connection_sends_open() {
    let mut c = config();
    c.passive = true;
    let mut h = H::new(c);
    h.ev(Event::Start);
    let conn = h.fsm.next_conn_id();
    let out = h.ev(Event::Connected {
        conn,
        direction: Direction::Inbound,
    });
    assert_eq!(states(&out), vec![(State::Active, State::OpenSent)]);
    assert!(matches!(sent(&out)[0].1, Message::Open(_)));
}

#[test]
fn fsm_active_stop_goes_idle() {
    let mut c = config();
    c.passive = true;
    let mut h = H::new(c);
    h.ev(Event::Start);
    let out = h.ev(Event::Stop(CeaseSubcode::AdministrativeShutdown));
    assert_eq!(states(&out), vec![(State::Active, State::Idle)]);
}

// ----- OpenSent -----

#[test]
fn fsm_open_sent_valid_open_goes_open_confirm_with_negotiated_timers() {
    let mut h = H::new(config());
    let c = to_open_sent(&mut h);
    let out = h.msg(c, Message::Open(peer_open(65002, PEER_ID, 30)));
    assert_eq!(states(&out), vec![(State::OpenSent, State::OpenConfirm)]);
    let n = h.fsm.negotiated().unwrap();
    assert_eq!(n.hold_time.secs(), 30, "minimum of 90 and 30");
    assert_eq!(n.keepalive, Some(Duration::from_secs(10)), "hold / 3");
    assert_eq!(n.peer_asn, Asn(65002));
    assert!(n.four_octet_as && n.route_refresh);
    assert_eq!(n.families, vec![Family::IPV4_UNICAST]);
    assert_eq!(
        h.timeout_in(),
        Some(Duration::from_secs(10)),
        "keepalive timer first"
    );
}

#[test]
fn fsm_open_sent_bad_peer_as() {
    let mut h = H::new(config());
    let c = to_open_sent(&mut h);
    let out = h.msg(c, Message::Open(peer_open(65099, PEER_ID, 90)));
    assert_eq!(h.fsm.state(), State::Idle);
    assert!(is_notification(
        &notifications(&out)[0],
        ErrorCode::Open,
        OpenSubcode::BadPeerAs as u8
    ));
    assert_eq!(closes(&out), vec![c]);
    assert!(h.timeout_in().is_some(), "automatic restart after an error");
}

#[test]
fn fsm_open_sent_dynamic_asn() {
    let mut c = config();
    c.peer_asn = PeerAsn::DynamicExternal;
    let mut h = H::new(c.clone());
    let conn = to_open_sent(&mut h);
    h.msg(conn, Message::Open(peer_open(65001, PEER_ID, 90)));
    assert_eq!(
        h.fsm.state(),
        State::Idle,
        "external required, internal ASN refused"
    );
    let mut h = H::new(c.clone());
    let conn = to_open_sent(&mut h);
    h.msg(conn, Message::Open(peer_open(64999, PEER_ID, 90)));
    assert_eq!(h.fsm.state(), State::OpenConfirm);
    c.peer_asn = PeerAsn::DynamicInternal;
    let mut h = H::new(c);
    let conn = to_open_sent(&mut h);
    h.msg(conn, Message::Open(peer_open(65001, PEER_ID, 90)));
    assert_eq!(h.fsm.state(), State::OpenConfirm);
}

#[test]
fn fsm_open_sent_bad_bgp_identifier() {
    // Zero identifier.
    let mut h = H::new(config());
    let c = to_open_sent(&mut h);
    let out = h.msg(
        c,
        Message::Open(peer_open(65002, Ipv4Addr::UNSPECIFIED, 90)),
    );
    assert!(is_notification(
        &notifications(&out)[0],
        ErrorCode::Open,
        OpenSubcode::BadBgpIdentifier as u8
    ));
    // iBGP peer with our own identifier.
    let mut cfg = config();
    cfg.peer_asn = PeerAsn::Fixed(Asn(65001));
    let mut h = H::new(cfg);
    let c = to_open_sent(&mut h);
    let out = h.msg(c, Message::Open(peer_open(65001, LOCAL_ID, 90)));
    assert!(is_notification(
        &notifications(&out)[0],
        ErrorCode::Open,
        OpenSubcode::BadBgpIdentifier as u8
    ));
    // eBGP with the same identifier is allowed (RFC 6286).
    let mut h = H::new(config());
    let c = to_open_sent(&mut h);
    h.msg(c, Message::Open(peer_open(65002, LOCAL_ID, 90)));
    assert_eq!(h.fsm.state(), State::OpenConfirm);
}

#[test]
fn fsm_open_sent_unacceptable_hold_time() {
    for hold in [1u16, 2] {
        let mut h = H::new(config());
        let c = to_open_sent(&mut h);
        let out = h.msg(c, Message::Open(peer_open(65002, PEER_ID, hold)));
        assert_eq!(h.fsm.state(), State::Idle);
        assert!(is_notification(
            &notifications(&out)[0],
            ErrorCode::Open,
            OpenSubcode::UnacceptableHoldTime as u8
        ));
    }
}

#[test]
fn fsm_open_sent_hold_timer_expires() {
    let mut h = H::new(config());
    let c = to_open_sent(&mut h);
    let out = h.advance(OPEN_HOLD_TIME);
    assert_eq!(h.fsm.state(), State::Idle);
    assert!(is_notification(
        &notifications(&out)[0],
        ErrorCode::HoldTimerExpired,
        0
    ));
    assert_eq!(closes(&out), vec![c]);
}

#[test]
fn fsm_open_sent_connection_fails_goes_active() {
    let mut h = H::new(config());
    let c = to_open_sent(&mut h);
    let out = h.ev(Event::ConnectionFailed { conn: c });
    assert_eq!(states(&out), vec![(State::OpenSent, State::Active)]);
    assert!(h.timeout_in().is_some(), "ConnectRetry restarted");
}

#[test]
fn fsm_open_sent_notification_goes_idle() {
    let mut h = H::new(config());
    let c = to_open_sent(&mut h);
    let out = h.msg(
        c,
        Message::Notification(Notification::cease(
            CeaseSubcode::AdministrativeShutdown,
            None,
        )),
    );
    assert_eq!(h.fsm.state(), State::Idle);
    assert!(
        notifications(&out).is_empty(),
        "never answer a NOTIFICATION with one"
    );
    assert!(h
        .fsm
        .last_error()
        .unwrap()
        .to_string()
        .contains("Administrative Shutdown"));
}

#[test]
fn fsm_open_sent_unexpected_message_is_fsm_error() {
    for m in [Message::Keepalive, Message::Update(Update::default())] {
        let mut h = H::new(config());
        let c = to_open_sent(&mut h);
        let out = h.msg(c, m);
        assert_eq!(h.fsm.state(), State::Idle);
        assert!(is_notification(
            &notifications(&out)[0],
            ErrorCode::Fsm,
            FsmSubcode::UnexpectedMessageInOpenSent as u8
        ));
    }
}

#[test]
fn fsm_open_sent_stop_sends_cease() {
    let mut h = H::new(config());
    let c = to_open_sent(&mut h);
    let out = h.ev(Event::Stop(CeaseSubcode::PeerDeconfigured));
    assert!(is_notification(
        &notifications(&out)[0],
        ErrorCode::Cease,
        CeaseSubcode::PeerDeconfigured as u8
    ));
    assert_eq!(closes(&out), vec![c]);
}

// ----- OpenConfirm -----

#[test]
fn fsm_open_confirm_keepalive_establishes() {
    let mut h = H::new(config());
    let c = to_open_confirm(&mut h);
    let out = h.msg(c, Message::Keepalive);
    assert_eq!(states(&out), vec![(State::OpenConfirm, State::Established)]);
    assert_eq!(h.fsm.established_conn(), Some(c));
    assert!(h.fsm.established_at().is_some());
}

#[test]
fn fsm_open_confirm_hold_timer_expires() {
    let mut h = H::new(config());
    let c = to_open_confirm(&mut h);
    // Keepalives go out every 30 s; the peer never answers; hold 90 s.
    let mut out = Vec::new();
    for _ in 0..3 {
        out.extend(h.fire());
    }
    assert_eq!(h.fsm.state(), State::Idle);
    let n = notifications(&out);
    assert!(is_notification(
        n.last().unwrap(),
        ErrorCode::HoldTimerExpired,
        0
    ));
    assert_eq!(
        sent(&out)
            .iter()
            .filter(|(_, m)| matches!(m, Message::Keepalive))
            .count(),
        2
    );
    assert!(closes(&out).contains(&c));
}

#[test]
fn fsm_open_confirm_unexpected_update_is_fsm_error() {
    let mut h = H::new(config());
    let c = to_open_confirm(&mut h);
    let out = h.msg(c, Message::Update(Update::default()));
    assert!(is_notification(
        &notifications(&out)[0],
        ErrorCode::Fsm,
        FsmSubcode::UnexpectedMessageInOpenConfirm as u8
    ));
    assert_eq!(h.fsm.state(), State::Idle);
}

#[test]
fn fsm_open_confirm_notification_and_connection_loss_go_idle() {
    let mut h = H::new(config());
    let c = to_open_confirm(&mut h);
    h.msg(c, Message::Notification(Notification::hold_timer_expired()));
    assert_eq!(h.fsm.state(), State::Idle);
    let mut h = H::new(config());
    let c = to_open_confirm(&mut h);
    h.ev(Event::ConnectionFailed { conn: c });
    assert_eq!(h.fsm.state(), State::Idle);
}

#[test]
fn fsm_open_confirm_stop_sends_cease() {
    let mut h = H::new(config());
    to_open_confirm(&mut h);
    let out = h.ev(Event::Stop(CeaseSubcode::AdministrativeShutdown));
    assert!(is_notification(
        &notifications(&out)[0],
        ErrorCode::Cease,
        CeaseSubcode::AdministrativeShutdown as u8
    ));
}

// ----- Established -----

#[test]
fn fsm_established_keepalives_restart_hold_timer() {
    let mut h = H::new(config());
    let c = to_established(&mut h);
    // 85 s, a KEEPALIVE from the peer, 85 s again: no expiry.
    h.advance(Duration::from_secs(85));
    h.msg(c, Message::Keepalive);
    let out = h.advance(Duration::from_secs(85));
    assert_eq!(h.fsm.state(), State::Established);
    assert!(notifications(&out).is_empty());
    // Then silence: expiry 90 s after the last message.
    let out = h.advance(Duration::from_secs(5));
    assert_eq!(h.fsm.state(), State::Idle);
    assert!(is_notification(
        &notifications(&out)[0],
        ErrorCode::HoldTimerExpired,
        0
    ));
    assert!(out.iter().any(|o| matches!(o, Output::Down { .. })));
}

#[test]
fn fsm_established_sends_keepalives_at_interval() {
    let mut h = H::new(config());
    let c = to_established(&mut h);
    let mut count = 0;
    for _ in 0..10 {
        h.msg(c, Message::Keepalive);
        let out = h.advance(Duration::from_secs(30));
        count += sent(&out)
            .iter()
            .filter(|(_, m)| matches!(m, Message::Keepalive))
            .count();
    }
    assert_eq!(count, 10);
    assert_eq!(h.fsm.state(), State::Established);
}

#[test]
fn fsm_established_update_and_route_refresh_are_delivered() {
    let mut h = H::new(config());
    let c = to_established(&mut h);
    let out = h.msg(c, Message::Update(Update::default()));
    assert!(matches!(out[0], Output::Update(_)));
    let out = h.msg(
        c,
        Message::RouteRefresh(RouteRefresh::request(Family::IPV4_UNICAST)),
    );
    assert!(matches!(out[0], Output::RouteRefresh(_)));
    assert_eq!(h.fsm.counters().updates_received, 1);
    assert_eq!(h.fsm.counters().route_refresh_received, 1);
}

#[test]
fn fsm_established_open_is_fsm_error() {
    let mut h = H::new(config());
    let c = to_established(&mut h);
    let out = h.msg(c, Message::Open(peer_open(65002, PEER_ID, 90)));
    assert!(is_notification(
        &notifications(&out)[0],
        ErrorCode::Fsm,
        FsmSubcode::UnexpectedMessageInEstablished as u8
    ));
    assert_eq!(h.fsm.state(), State::Idle);
}

#[test]
fn fsm_established_rejects_second_connection() {
    let mut h = H::new(config());
    let c = to_established(&mut h);
    let other = h.fsm.next_conn_id();
    let out = h.ev(Event::Connected {
        conn: other,
        direction: Direction::Inbound,
    });
    assert_eq!(h.fsm.state(), State::Established);
    assert_eq!(h.fsm.established_conn(), Some(c));
    assert!(is_notification(
        &notifications(&out)[0],
        ErrorCode::Cease,
        CeaseSubcode::ConnectionCollisionResolution as u8
    ));
    assert_eq!(closes(&out), vec![other]);
}

#[test]
fn fsm_established_reset_with_bfd_down_reconnects() {
    let mut h = H::new(config());
    let c = to_established(&mut h);
    let out = h.ev(Event::Reset(CeaseSubcode::BfdDown));
    assert_eq!(h.fsm.state(), State::Idle);
    assert!(is_notification(
        &notifications(&out)[0],
        ErrorCode::Cease,
        10
    ));
    assert_eq!(closes(&out), vec![c]);
    assert!(out.iter().any(|o| matches!(o, Output::Down { .. })));
    assert_eq!(h.timeout_in(), Some(IDLE_HOLD_TIME));
    let out = h.fire();
    assert_eq!(states(&out), vec![(State::Idle, State::Connect)]);
}

#[test]
fn fsm_established_stop_does_not_reconnect() {
    let mut h = H::new(config());
    to_established(&mut h);
    let out = h.ev(Event::Stop(CeaseSubcode::AdministrativeShutdown));
    assert!(is_notification(
        &notifications(&out)[0],
        ErrorCode::Cease,
        2
    ));
    assert_eq!(h.timeout_in(), None);
}

#[test]
fn fsm_established_connection_loss_goes_idle_and_restarts() {
    let mut h = H::new(config());
    let c = to_established(&mut h);
    let out = h.ev(Event::ConnectionFailed { conn: c });
    assert_eq!(states(&out), vec![(State::Established, State::Idle)]);
    assert!(notifications(&out).is_empty());
    assert!(h.timeout_in().is_some());
}

#[test]
fn fsm_established_malformed_message_sends_its_notification() {
    let mut h = H::new(config());
    let c = to_established(&mut h);
    let n = Notification::new(ErrorCode::Update, 1, vec![]);
    let out = h.ev(Event::Malformed {
        conn: c,
        notification: n.clone(),
    });
    assert_eq!(notifications(&out), vec![n]);
    assert_eq!(h.fsm.state(), State::Idle);
}

// ----- timers negotiation -----

#[test]
fn fsm_hold_time_zero_disables_timers() {
    let mut h = H::new(config());
    let c = to_open_sent(&mut h);
    h.msg(c, Message::Open(peer_open(65002, PEER_ID, 0)));
    let n = h.fsm.negotiated().unwrap();
    assert_eq!(n.hold_time, HoldTime::ZERO);
    assert_eq!(n.keepalive, None);
    h.msg(c, Message::Keepalive);
    assert_eq!(h.fsm.state(), State::Established);
    assert_eq!(h.timeout_in(), None, "no hold and no keepalive timer");
}

#[test]
fn fsm_configured_keepalive_is_used_when_not_above_a_third() {
    let mut cfg = config();
    cfg.timers.keepalive = Some(Duration::from_secs(7));
    let mut h = H::new(cfg.clone());
    let c = to_open_sent(&mut h);
    h.msg(c, Message::Open(peer_open(65002, PEER_ID, 90)));
    assert_eq!(
        h.fsm.negotiated().unwrap().keepalive,
        Some(Duration::from_secs(7))
    );
    // Peer proposes 9 s: a third is 3 s, less than the configured 7 s.
    let mut h = H::new(cfg);
    let c = to_open_sent(&mut h);
    h.msg(c, Message::Open(peer_open(65002, PEER_ID, 9)));
    assert_eq!(
        h.fsm.negotiated().unwrap().keepalive,
        Some(Duration::from_secs(3))
    );
}

#[test]
fn fsm_capabilities_negotiation() {
    let mut cfg = config();
    cfg.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    cfg.graceful_restart = Some(GracefulRestart::default());
    let mut h = H::new(cfg);
    let c = to_open_sent(&mut h);
    let mut open = peer_open(65002, PEER_ID, 90);
    open.capabilities.push(Capability::Multiprotocol {
        afi: Afi::Ipv6,
        safi: Safi::Unicast,
    });
    open.capabilities
        .push(Capability::GracefulRestart(GracefulRestartCap {
            restart_state: true,
            notification: false,
            restart_time_secs: 120,
            families: vec![GracefulRestartFamily {
                family: Family::IPV4_UNICAST,
                forwarding_preserved: true,
            }],
        }));
    h.msg(c, Message::Open(open));
    let n = h.fsm.negotiated().unwrap();
    assert_eq!(n.families, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
    let gr = n.graceful_restart.as_ref().unwrap();
    assert!(gr.restarting);
    assert_eq!(gr.restart_time, Duration::from_secs(120));
    assert_eq!(gr.families, vec![(Family::IPV4_UNICAST, true)]);
    assert!(n
        .local_capabilities
        .iter()
        .any(|c| matches!(c, Capability::GracefulRestart(_))));
}

#[test]
fn fsm_peer_without_multiprotocol_capability_is_ipv4_only() {
    let mut cfg = config();
    cfg.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    let mut h = H::new(cfg);
    let c = to_open_sent(&mut h);
    let mut open = peer_open(65002, PEER_ID, 90);
    open.capabilities.clear();
    h.msg(c, Message::Open(open));
    let n = h.fsm.negotiated().unwrap();
    assert_eq!(n.families, vec![Family::IPV4_UNICAST]);
    assert!(!n.four_octet_as && !n.route_refresh);
}

// ----- collision detection (§6.8) -----

/// Outbound in OpenSent, then the peer connects too; both OPENs arrive.
fn collide(local_id: Ipv4Addr, peer_id: Ipv4Addr) -> (H, ConnId, ConnId, Vec<Output>) {
    let mut cfg = config();
    cfg.router_id = local_id;
    let mut h = H::new(cfg);
    let outbound = to_open_sent(&mut h);
    let inbound = h.fsm.next_conn_id();
    let out = h.ev(Event::Connected {
        conn: inbound,
        direction: Direction::Inbound,
    });
    assert_eq!(
        sent(&out)[0].0,
        inbound,
        "we send our OPEN on the new connection too"
    );
    let mut all = h.msg(outbound, Message::Open(peer_open(65002, peer_id, 90)));
    all.extend(h.msg(inbound, Message::Open(peer_open(65002, peer_id, 90))));
    (h, outbound, inbound, all)
}

#[test]
fn fsm_collision_higher_remote_id_keeps_inbound() {
    let (mut h, outbound, inbound, out) =
        collide(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 9));
    let n: Vec<(ConnId, Message)> = sent(&out)
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Notification(_)))
        .collect();
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].0, outbound);
    let Message::Notification(notif) = &n[0].1 else {
        unreachable!()
    };
    assert!(is_notification(
        notif,
        ErrorCode::Cease,
        CeaseSubcode::ConnectionCollisionResolution as u8
    ));
    assert!(closes(&out).contains(&outbound));
    assert_eq!(h.fsm.state(), State::OpenConfirm);
    h.msg(inbound, Message::Keepalive);
    assert_eq!(h.fsm.established_conn(), Some(inbound));
}

#[test]
fn fsm_collision_higher_local_id_keeps_outbound() {
    let (mut h, outbound, inbound, out) =
        collide(Ipv4Addr::new(192, 0, 2, 9), Ipv4Addr::new(192, 0, 2, 1));
    let n: Vec<(ConnId, Message)> = sent(&out)
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Notification(_)))
        .collect();
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].0, inbound);
    assert!(closes(&out).contains(&inbound));
    h.msg(outbound, Message::Keepalive);
    assert_eq!(h.fsm.established_conn(), Some(outbound));
}

#[test]
fn fsm_collision_losing_connection_closing_early_leaves_the_other() {
    let mut h = H::new(config());
    let outbound = to_open_sent(&mut h);
    let inbound = h.fsm.next_conn_id();
    h.ev(Event::Connected {
        conn: inbound,
        direction: Direction::Inbound,
    });
    h.ev(Event::ConnectionFailed { conn: outbound });
    assert_eq!(h.fsm.state(), State::OpenSent);
    h.msg(inbound, Message::Open(peer_open(65002, PEER_ID, 90)));
    h.msg(inbound, Message::Keepalive);
    assert_eq!(h.fsm.established_conn(), Some(inbound));
}

#[test]
fn fsm_notification_counters() {
    let mut h = H::new(config());
    let c = to_established(&mut h);
    h.msg(
        c,
        Message::Notification(Notification::cease(CeaseSubcode::AdministrativeReset, None)),
    );
    let k = h.fsm.counters();
    assert_eq!(k.opens_sent, 1);
    assert_eq!(k.opens_received, 1);
    assert_eq!(k.keepalives_sent, 1);
    assert_eq!(k.keepalives_received, 1);
    assert_eq!(k.notifications_received, 1);
    assert_eq!(k.total_sent(), 2);
    assert_eq!(k.total_received(), 3);
}

#[test]
fn fsm_connect_stale_outbound_connection_is_closed() {
    let mut h = H::new(config());
    let first = to_connect(&mut h);
    let out = h.fire();
    let second = connects(&out)[0];
    // The first attempt completes late: it is closed, the FSM keeps waiting for the second.
    let out = h.ev(Event::Connected {
        conn: first,
        direction: Direction::Outbound,
    });
    assert_eq!(closes(&out), vec![first]);
    assert!(sent(&out).is_empty());
    assert_eq!(h.fsm.state(), State::Connect);
    h.ev(Event::Connected {
        conn: second,
        direction: Direction::Outbound,
    });
    assert_eq!(h.fsm.state(), State::OpenSent);
}

#[test]
fn fsm_collision_open_on_new_connection_while_first_waits() {
    // Our outbound connection never gets the peer's OPEN; the peer's own connection does.
    let mut h = H::new(config());
    let outbound = to_open_sent(&mut h);
    let inbound = h.fsm.next_conn_id();
    h.ev(Event::Connected {
        conn: inbound,
        direction: Direction::Inbound,
    });
    let out = h.msg(inbound, Message::Open(peer_open(65002, PEER_ID, 90)));
    // Peer 192.0.2.2 > us 192.0.2.1: its connection wins; ours gets Cease 7.
    assert!(closes(&out).contains(&outbound));
    let msgs = sent(&out);
    assert!(msgs
        .iter()
        .any(|(c, m)| *c == outbound && matches!(m, Message::Notification(_))));
    assert!(msgs
        .iter()
        .any(|(c, m)| *c == inbound && matches!(m, Message::Keepalive)));
    assert_eq!(h.fsm.state(), State::OpenConfirm);
    h.msg(inbound, Message::Keepalive);
    assert_eq!(h.fsm.established_conn(), Some(inbound));
}

#[test]
fn fsm_collision_open_on_new_connection_loses_to_ours() {
    let mut cfg = config();
    cfg.router_id = Ipv4Addr::new(192, 0, 2, 200);
    let mut h = H::new(cfg);
    let outbound = to_open_sent(&mut h);
    let inbound = h.fsm.next_conn_id();
    h.ev(Event::Connected {
        conn: inbound,
        direction: Direction::Inbound,
    });
    let out = h.msg(inbound, Message::Open(peer_open(65002, PEER_ID, 90)));
    assert_eq!(closes(&out), vec![inbound]);
    assert_eq!(
        h.fsm.state(),
        State::OpenSent,
        "ours still waits for the OPEN on our connection"
    );
    h.msg(outbound, Message::Open(peer_open(65002, PEER_ID, 90)));
    h.msg(outbound, Message::Keepalive);
    assert_eq!(h.fsm.established_conn(), Some(outbound));
}
