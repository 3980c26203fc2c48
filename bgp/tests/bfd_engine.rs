//! BFD engine tests on a fake clock: the RFC 5880 §6.8.6 receive table row by row, timer
//! negotiation, the 1 s slow rate while not Up, Poll/Final without flap, jitter bounds, passive
//! mode, detection, demand, echo, TTL rules, authentication and removal.

mod bfd_common;

use std::net::SocketAddr;
use std::time::Duration;

use bfd_common::*;
use metalroute_bgp::bfd::packet::PacketBuf;
use metalroute_bgp::bfd::session::{
    detection_time, jittered, negotiated_tx, receive_transition, sequence_acceptable, RxAction,
};
use metalroute_bgp::bfd::{
    AuthKey, AuthType, ControlPacket, Diagnostic, EchoState, EchoVerdict, Engine, Error, HopMode,
    RxMeta, SessionKey, SessionParams, SplitMix64, State, TransmitKind,
};

const MS: Duration = Duration::from_millis(1);

// ---- The receive table, as a pure function: all 16 rows of RFC 5880 §6.8.6. ----

#[test]
fn receive_table_every_row() {
    use Diagnostic::*;
    use State::*;
    let rows = [
        (AdminDown, AdminDown, RxAction::Discard),
        (AdminDown, Down, RxAction::Discard),
        (AdminDown, Init, RxAction::Discard),
        (AdminDown, Up, RxAction::Discard),
        (Down, AdminDown, RxAction::Stay),
        (Down, Down, RxAction::Goto(Init, NoDiagnostic)),
        (Down, Init, RxAction::Goto(Up, NoDiagnostic)),
        (Down, Up, RxAction::Stay),
        (
            Init,
            AdminDown,
            RxAction::Goto(Down, NeighborSignaledSessionDown),
        ),
        (Init, Down, RxAction::Stay),
        (Init, Init, RxAction::Goto(Up, NoDiagnostic)),
        (Init, Up, RxAction::Goto(Up, NoDiagnostic)),
        (
            Up,
            AdminDown,
            RxAction::Goto(Down, NeighborSignaledSessionDown),
        ),
        (Up, Down, RxAction::Goto(Down, NeighborSignaledSessionDown)),
        (Up, Init, RxAction::Stay),
        (Up, Up, RxAction::Stay),
    ];
    for (local, remote, want) in rows {
        assert_eq!(
            receive_transition(local, remote),
            want,
            "local {local} remote {remote}"
        );
    }
}

// ---- The same table through the engine: a session driven into each local state receives a
// packet in each remote state. ----

const PEER_DISC: u32 = 0xabcd;

fn lone_engine(params: SessionParams) -> (Engine, SessionKey, u32, std::time::Instant) {
    let now = std::time::Instant::now();
    let mut e = Engine::new(Box::new(SplitMix64::seeded(9)), now);
    let k = SessionKey::single_hop(B, A);
    e.add(now, k.clone(), params).unwrap();
    let disc = e.status(&k).unwrap().local_discriminator;
    (e, k, disc, now)
}

fn peer_packet(state: State, your: u32, poll: bool) -> Vec<u8> {
    let p = ControlPacket {
        diag: Diagnostic::NoDiagnostic,
        state,
        poll,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: PEER_DISC,
        your_discriminator: your,
        desired_min_tx: Duration::from_millis(100),
        required_min_rx: Duration::from_millis(100),
        required_min_echo_rx: Duration::ZERO,
        auth: None,
    };
    let mut b = PacketBuf::default();
    p.encode(&mut b);
    b.as_slice().to_vec()
}

fn rx_meta() -> RxMeta<'static> {
    RxMeta {
        vrf: None,
        src: SocketAddr::new(B, 49200),
        dst: A,
        ttl: 255,
        hop: HopMode::SingleHop,
        interface: None,
    }
}

/// Drives the lone session into `state` with valid peer packets.
fn drive_to(e: &mut Engine, k: &SessionKey, disc: u32, now: std::time::Instant, state: State) {
    let rx = rx_meta();
    match state {
        State::Down => {}
        State::AdminDown => e.set_admin_down(now, k, true).unwrap(),
        State::Init => e
            .handle_control(now, &rx, &peer_packet(State::Down, 0, false))
            .unwrap(),
        State::Up => e
            .handle_control(now, &rx, &peer_packet(State::Init, disc, false))
            .unwrap(),
    }
    assert_eq!(e.status(k).unwrap().state, state);
    while e.poll_event().is_some() {}
    while e.poll_transmit().is_some() {}
}

#[test]
fn receive_table_through_engine() {
    use State::*;
    for local in [AdminDown, Down, Init, Up] {
        for remote in [AdminDown, Down, Init, Up] {
            let (mut e, k, disc, now) = lone_engine(SessionParams::default());
            drive_to(&mut e, &k, disc, now, local);
            let your = if matches!(remote, Down | AdminDown) {
                0
            } else {
                disc
            };
            let r = e.handle_control(now, &rx_meta(), &peer_packet(remote, your, false));
            let st = e.status(&k).unwrap();
            match receive_transition(local, remote) {
                RxAction::Discard => {
                    assert!(
                        matches!(r, Err(Error::AdminDown)),
                        "{local}/{remote}: {r:?}"
                    );
                    assert_eq!(st.state, AdminDown);
                    assert!(e.poll_event().is_none());
                }
                RxAction::Stay => {
                    r.unwrap();
                    assert_eq!(st.state, local, "{local}/{remote}");
                    assert!(e.poll_event().is_none());
                }
                RxAction::Goto(to, diag) => {
                    r.unwrap();
                    assert_eq!(st.state, to, "{local}/{remote}");
                    assert_eq!(st.local_diagnostic, diag);
                    let ev = e.poll_event().expect("event");
                    assert_eq!((ev.from, ev.to, ev.diagnostic), (local, to, diag));
                    assert_eq!(ev.peer_admin_down, remote == AdminDown);
                    // A state change is announced to the peer at once.
                    let t = e.poll_transmit().expect("immediate packet");
                    let p = ControlPacket::decode(t.payload.as_slice()).unwrap();
                    assert_eq!(p.state, to);
                    assert_eq!(p.your_discriminator, PEER_DISC);
                }
            }
            // The peer's variables are recorded for every valid packet (even when discarded).
            assert_eq!(st.remote_discriminator, PEER_DISC);
            assert_eq!(st.remote_state, remote);
        }
    }
}

#[test]
fn unknown_discriminator_and_unconfigured_peer_are_discarded() {
    let (mut e, _k, disc, now) = lone_engine(SessionParams::default());
    let r = e.handle_control(now, &rx_meta(), &peer_packet(State::Up, disc ^ 1, false));
    assert!(matches!(r, Err(Error::UnknownDiscriminator(_))));
    let mut rx = rx_meta();
    rx.src = "192.0.2.77:49200".parse().unwrap();
    let r = e.handle_control(now, &rx, &peer_packet(State::Down, 0, false));
    assert!(matches!(r, Err(Error::NoSessionForPeer { .. })));
    // Right discriminator, wrong source address.
    let r = e.handle_control(now, &rx, &peer_packet(State::Up, disc, false));
    assert!(matches!(r, Err(Error::WrongSession { .. })));
    // Wrong VRF.
    let mut rx = rx_meta();
    rx.vrf = Some("red");
    let r = e.handle_control(now, &rx, &peer_packet(State::Down, 0, false));
    assert!(matches!(r, Err(Error::NoSessionForPeer { .. })));
}

#[test]
fn ttl_rules_single_and_multi_hop() {
    let (mut e, k, _disc, now) = lone_engine(SessionParams::default());
    let mut rx = rx_meta();
    rx.ttl = 254;
    let r = e.handle_control(now, &rx, &peer_packet(State::Down, 0, false));
    assert!(
        matches!(
            r,
            Err(Error::Ttl {
                ttl: 254,
                min: 255,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(e.status(&k).unwrap().state, State::Down);

    let mut e = Engine::new(Box::new(SplitMix64::seeded(3)), now);
    let k = SessionKey::multi_hop(B, A);
    let params = SessionParams {
        minimum_ttl: 250,
        ..SessionParams::default()
    };
    e.add(now, k.clone(), params).unwrap();
    let mut rx = rx_meta();
    rx.hop = HopMode::MultiHop;
    rx.ttl = 249;
    let r = e.handle_control(now, &rx, &peer_packet(State::Down, 0, false));
    assert!(matches!(
        r,
        Err(Error::Ttl {
            ttl: 249,
            min: 250,
            ..
        })
    ));
    rx.ttl = 250;
    e.handle_control(now, &rx, &peer_packet(State::Down, 0, false))
        .unwrap();
    assert_eq!(e.status(&k).unwrap().state, State::Init);
    // A single-hop packet does not match a multihop session.
    let r = e.handle_control(now, &rx_meta(), &peer_packet(State::Down, 0, false));
    assert!(r.is_err());
}

#[test]
fn add_rejects_bad_keys_and_duplicates() {
    let now = std::time::Instant::now();
    let mut e = Engine::new(Box::new(SplitMix64::seeded(3)), now);
    let k = SessionKey::single_hop(B, A);
    e.add(now, k.clone(), SessionParams::default()).unwrap();
    assert!(matches!(
        e.add(now, k, SessionParams::default()),
        Err(Error::SessionExists(_))
    ));
    let mixed = SessionKey::single_hop(B, "2001:db8::1".parse().unwrap());
    assert!(matches!(
        e.add(now, mixed, SessionParams::default()),
        Err(Error::Key { .. })
    ));
    let same = SessionKey::single_hop(A, A);
    assert!(e.add(now, same, SessionParams::default()).is_err());
    // Same addresses in another VRF, or multihop, are other sessions.
    e.add(
        now,
        SessionKey::single_hop(B, A).in_vrf("red"),
        SessionParams::default(),
    )
    .unwrap();
    e.add(now, SessionKey::multi_hop(B, A), SessionParams::default())
        .unwrap();
    assert_eq!(e.len(), 3);
    let discs: std::collections::HashSet<u32> =
        e.sessions().iter().map(|s| s.local_discriminator).collect();
    assert_eq!(discs.len(), 3);
    assert!(!discs.contains(&0));
}

/// Sessions between IPv6 link-local addresses (unnumbered BGP peers): the interface is part of
/// the key, required, single-hop only; packets are matched to the interface they came in on, so
/// the same router address on two interfaces makes two independent sessions.
#[test]
fn link_local_sessions_are_keyed_and_matched_by_interface() {
    let now = std::time::Instant::now();
    let mut e = Engine::new(Box::new(SplitMix64::seeded(5)), now);
    let peer: std::net::Ipv6Addr = "fe80::2".parse().unwrap();
    let local: std::net::Ipv6Addr = "fe80::1".parse().unwrap();
    // Link-local without an interface, or multihop on an interface: refused with a reason.
    let r = e.add(
        now,
        SessionKey::single_hop(peer.into(), local.into()),
        SessionParams::default(),
    );
    assert!(
        matches!(&r, Err(Error::Key { reason, .. }) if reason.contains("interface")),
        "{r:?}"
    );
    let mut multi = SessionKey::link_local("eth1", peer, local);
    multi.hop = HopMode::MultiHop;
    assert!(matches!(
        e.add(now, multi, SessionParams::default()),
        Err(Error::Key { .. })
    ));
    let k1 = SessionKey::link_local("eth1", peer, local);
    let k2 = SessionKey::link_local("eth2", peer, local);
    assert_eq!(
        k1.to_string(),
        "vrf default peer fe80::2 local fe80::1 interface eth1 single-hop"
    );
    e.add(now, k1.clone(), SessionParams::default()).unwrap();
    e.add(now, k2.clone(), SessionParams::default()).unwrap();
    let rx = |interface| RxMeta {
        vrf: None,
        src: SocketAddr::new(peer.into(), 49200),
        dst: local.into(),
        ttl: 255,
        hop: HopMode::SingleHop,
        interface,
    };
    // From a socket not bound to an interface: no session.
    let r = e.handle_control(now, &rx(None), &peer_packet(State::Down, 0, false));
    assert!(matches!(r, Err(Error::NoSessionForPeer { .. })), "{r:?}");
    // On eth2: only eth2's session moves.
    e.handle_control(now, &rx(Some("eth2")), &peer_packet(State::Down, 0, false))
        .unwrap();
    assert_eq!(e.status(&k2).unwrap().state, State::Init);
    assert_eq!(e.status(&k1).unwrap().state, State::Down);
    // eth1's discriminator arriving on eth2 is the wrong session.
    let d1 = e.status(&k1).unwrap().local_discriminator;
    let r = e.handle_control(now, &rx(Some("eth2")), &peer_packet(State::Init, d1, false));
    assert!(matches!(r, Err(Error::WrongSession { .. })), "{r:?}");
    e.handle_control(now, &rx(Some("eth1")), &peer_packet(State::Init, d1, false))
        .unwrap();
    assert_eq!(e.status(&k1).unwrap().state, State::Up);
    // RFC 5881 §5: single-hop packets need TTL 255 on interfaces too.
    let mut low = rx(Some("eth2"));
    low.ttl = 254;
    let d2 = e.status(&k2).unwrap().local_discriminator;
    let r = e.handle_control(now, &low, &peer_packet(State::Up, d2, false));
    assert!(matches!(r, Err(Error::Ttl { .. })), "{r:?}");
}

// ---- Timer negotiation. ----

#[test]
fn negotiation_formulas() {
    let ms = |v| Duration::from_millis(v);
    assert_eq!(negotiated_tx(ms(300), ms(50)), Some(ms(300)));
    assert_eq!(negotiated_tx(ms(50), ms(300)), Some(ms(300)));
    assert_eq!(negotiated_tx(ms(50), Duration::ZERO), None);
    assert_eq!(detection_time(3, ms(300), ms(50)), ms(900));
    assert_eq!(detection_time(5, ms(50), ms(200)), ms(1000));
    assert_eq!(detection_time(1, ms(10), ms(10)), ms(10));
}

#[test]
fn negotiated_timers_when_up() {
    // A wants 50/50×3, B wants 200 tx / 100 rx ×5.
    let pa = params(50, 3);
    let mut pb = params(100, 5);
    pb.transmit_interval =
        metalroute_bgp::bfd::Interval::from_millis("transmitInterval", 200).unwrap();
    let mut p = Pair::new(pa, pb);
    p.bring_up();
    p.run_for(Duration::from_secs(2)); // polls after Up complete
    let a = p.a.status(&p.ka).unwrap();
    let b = p.b.status(&p.kb).unwrap();
    assert!(!a.polling && !b.polling);
    // A sends at max(50, B's rx 100) = 100; detects B within 3(B's mult 5) × max(50, 200) = 1000.
    assert_eq!(a.tx_interval, Some(100 * MS));
    assert_eq!(a.detection_time, 1000 * MS);
    // B sends at max(200, A's rx 50) = 200; detects A within 3 × max(100, 50) = 300.
    assert_eq!(b.tx_interval, Some(200 * MS));
    assert_eq!(b.detection_time, 300 * MS);
}

#[test]
fn slow_rate_while_not_up() {
    // B never answers: A stays Down and sends no faster than 1 s less jitter.
    let mut p = Pair::new(params(50, 3), params(50, 3));
    p.drop_a_to_b = true;
    p.drop_b_to_a = true;
    p.run_for(Duration::from_secs(20));
    assert_eq!(p.state_a(), State::Down);
    let sent = p.sent_by(Side::A, p.start);
    assert!(sent.len() >= 15 && sent.len() <= 30, "{}", sent.len());
    for w in sent.windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(gap >= 750 * MS && gap <= 1000 * MS, "gap {gap:?}");
        assert_eq!(w[0].pkt.desired_min_tx, Duration::from_secs(1));
        assert_eq!(w[0].pkt.required_min_rx, 50 * MS);
    }
}

#[test]
fn comes_up_then_runs_at_configured_rate_without_flap() {
    let mut p = Pair::new(params(50, 3), params(50, 3));
    p.bring_up();
    let up_at = p.now;
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.events_a.len(), 2, "{:?}", p.events_a); // Down->Init? or Down->Up, then stays
    let sent: Vec<_> = p.sent_by(Side::A, up_at + Duration::from_secs(1));
    // 4 s at 50 ms with 75–100 % jitter: between 4000/50 and 4000/37.5 periodic packets.
    assert!(sent.len() >= 79 && sent.len() <= 108, "{}", sent.len());
    for w in sent.windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(gap >= 37 * MS && gap <= 50 * MS, "gap {gap:?}");
    }
    assert!(sent
        .iter()
        .all(|s| s.pkt.desired_min_tx == 50 * MS && s.pkt.state == State::Up));
}

#[test]
fn going_up_starts_a_poll_for_the_fast_rate() {
    let mut p = Pair::new(params(50, 3), params(50, 3));
    p.bring_up();
    // Right after Up, A advertises 50 ms with P set until B answers F.
    let polls: Vec<_> = p
        .sent_by(Side::A, p.start)
        .into_iter()
        .filter(|s| s.pkt.poll)
        .collect();
    assert!(!polls.is_empty());
    assert!(polls.iter().all(|s| s.pkt.desired_min_tx == 50 * MS));
    p.run_for(Duration::from_secs(1));
    assert!(p.sent_by(Side::B, p.start).iter().any(|s| s.pkt.final_));
    assert!(!p.a.status(&p.ka).unwrap().polling);
}

// ---- Poll / Final. ----

#[test]
fn poll_final_slower_tx_waits_for_final() {
    let mut p = Pair::new(params(50, 3), params(50, 3));
    p.bring_up();
    p.run_for(Duration::from_secs(2));
    // B does not answer for a while: A's tx increase must not take effect.
    p.drop_b_to_a = true;
    let mut slow = params(50, 3);
    slow.transmit_interval =
        metalroute_bgp::bfd::Interval::from_millis("transmitInterval", 200).unwrap();
    let t0 = p.now;
    p.a.set_params(p.now, &p.ka.clone(), slow).unwrap();
    p.deliver();
    let st = p.a.status(&p.ka).unwrap();
    assert!(st.polling);
    assert_eq!(st.desired_min_tx, 200 * MS);
    assert_eq!(
        st.tx_interval,
        Some(50 * MS),
        "increase deferred until Final"
    );
    p.run_for(100 * MS);
    let during: Vec<_> = p.sent_by(Side::A, t0);
    assert!(during.len() >= 2);
    assert!(during
        .iter()
        .all(|s| s.pkt.poll && s.pkt.desired_min_tx == 200 * MS));
    // B answers: Final ends the poll and the new rate applies, with no state change anywhere.
    p.drop_b_to_a = false;
    let ev_a = p.events_a.len();
    let ev_b = p.events_b.len();
    p.run_for(100 * MS);
    let st = p.a.status(&p.ka).unwrap();
    assert!(!st.polling);
    assert_eq!(st.tx_interval, Some(200 * MS));
    let t1 = p.now;
    p.run_for(Duration::from_secs(2));
    let after = p.sent_by(Side::A, t1);
    assert!(after.len() >= 9 && after.len() <= 14, "{}", after.len());
    assert!(after.iter().all(|s| !s.pkt.poll));
    assert_eq!(p.events_a.len(), ev_a);
    assert_eq!(p.events_b.len(), ev_b);
    // B's detection time follows A's new advertised rate: 3 × 200 ms.
    assert_eq!(p.b.status(&p.kb).unwrap().detection_time, 600 * MS);
}

#[test]
fn poll_final_faster_rx_waits_for_final_slower_rx_applies_now() {
    let mut p = Pair::new(params(300, 3), params(300, 3));
    p.bring_up();
    p.run_for(Duration::from_secs(3));
    assert_eq!(p.a.status(&p.ka).unwrap().detection_time, 900 * MS);
    // Decrease A's receive interval with B silent: detection must keep using 300 ms.
    p.drop_b_to_a = true;
    let mut fast = params(300, 3);
    fast.receive_interval =
        metalroute_bgp::bfd::Interval::from_millis("receiveInterval", 100).unwrap();
    p.a.set_params(p.now, &p.ka.clone(), fast.clone()).unwrap();
    let st = p.a.status(&p.ka).unwrap();
    assert_eq!(st.required_min_rx, 100 * MS);
    assert_eq!(st.detection_time, 900 * MS);
    p.drop_b_to_a = false;
    p.run_for(Duration::from_secs(1));
    let st = p.a.status(&p.ka).unwrap();
    assert!(!st.polling);
    assert_eq!(st.detection_time, 900 * MS, "B still sends at 300 ms");
    // B now sends at max(300, 100) = 300; if B speeds up, A's detection follows.
    p.b.set_params(p.now, &p.kb.clone(), params(100, 3))
        .unwrap();
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.a.status(&p.ka).unwrap().detection_time, 300 * MS);
    assert_eq!(p.state_a(), State::Up);
    assert_eq!(p.state_b(), State::Up);
    // An increase of the receive interval applies at once, before Final.
    p.drop_b_to_a = true;
    let mut slow = params(100, 3);
    slow.receive_interval =
        metalroute_bgp::bfd::Interval::from_millis("receiveInterval", 1000).unwrap();
    p.a.set_params(p.now, &p.ka.clone(), slow).unwrap();
    assert_eq!(p.a.status(&p.ka).unwrap().detection_time, 3000 * MS);
}

#[test]
fn change_during_poll_starts_another_poll() {
    let mut p = Pair::new(params(50, 3), params(50, 3));
    p.bring_up();
    p.run_for(Duration::from_secs(1));
    p.drop_b_to_a = true;
    p.a.set_params(p.now, &p.ka.clone(), params(100, 3))
        .unwrap();
    p.run_for(20 * MS);
    p.a.set_params(p.now, &p.ka.clone(), params(200, 3))
        .unwrap();
    p.drop_b_to_a = false;
    p.run_for(Duration::from_secs(2));
    let st = p.a.status(&p.ka).unwrap();
    assert!(!st.polling);
    assert_eq!(st.tx_interval, Some(200 * MS));
    assert_eq!(p.state_b(), State::Up);
    assert_eq!(p.b.status(&p.kb).unwrap().detection_time, 600 * MS);
}

#[test]
fn poll_is_answered_with_final_immediately() {
    let (mut e, k, disc, now) = lone_engine(SessionParams::default());
    drive_to(&mut e, &k, disc, now, State::Up);
    e.handle_control(now, &rx_meta(), &peer_packet(State::Up, disc, true))
        .unwrap();
    let t = e.poll_transmit().expect("final");
    let p = ControlPacket::decode(t.payload.as_slice()).unwrap();
    assert!(p.final_ && !p.poll);
}

// ---- Jitter. ----

#[test]
fn jitter_bounds_over_many_samples() {
    use metalroute_bgp::bfd::Entropy;
    let mut rng = SplitMix64::seeded(77);
    let i = Duration::from_millis(1000);
    let (mut lo, mut hi) = (Duration::MAX, Duration::ZERO);
    for _ in 0..100_000 {
        let j = jittered(i, 3, rng.next_u32());
        assert!(j >= 750 * MS && j <= 1000 * MS, "{j:?}");
        lo = lo.min(j);
        hi = hi.max(j);
    }
    assert!(lo <= 752 * MS && hi >= 998 * MS, "spread {lo:?}..{hi:?}");
    let (mut lo, mut hi) = (Duration::MAX, Duration::ZERO);
    for _ in 0..100_000 {
        let j = jittered(i, 1, rng.next_u32());
        assert!(j >= 750 * MS && j <= 900 * MS, "{j:?}");
        lo = lo.min(j);
        hi = hi.max(j);
    }
    assert!(lo <= 752 * MS && hi >= 898 * MS);
}

#[test]
fn detect_mult_one_jitter_on_the_wire() {
    let mut p = Pair::new(params(100, 1), params(100, 3));
    p.bring_up();
    let t = p.now + Duration::from_secs(1);
    p.run_for(Duration::from_secs(20));
    let sent = p.sent_by(Side::A, t);
    for w in sent.windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(gap >= 75 * MS && gap <= 90 * MS, "gap {gap:?}");
    }
}

// ---- Passive mode. ----

#[test]
fn passive_sends_nothing_until_peer_speaks() {
    let mut passive = params(100, 3);
    passive.passive_mode = true;
    let mut p = Pair::new(params(100, 3), passive);
    p.drop_a_to_b = true;
    p.run_for(Duration::from_secs(5));
    assert!(p.sent_by(Side::B, p.start).is_empty());
    p.drop_a_to_b = false;
    p.bring_up();
    assert!(!p.sent_by(Side::B, p.start).is_empty());
    // Both passive: nothing ever.
    let mut pa = params(100, 3);
    pa.passive_mode = true;
    let mut p = Pair::new(pa.clone(), pa);
    p.run_for(Duration::from_secs(5));
    assert!(p.wire.is_empty());
}

// ---- Detection. ----

#[test]
fn detection_time_expiry_goes_down_then_recovers() {
    let mut p = Pair::new(params(50, 3), params(50, 3));
    p.bring_up();
    p.run_for(Duration::from_secs(1));
    let cut = p.now;
    p.drop_b_to_a = true;
    assert!(p.run_until(Duration::from_secs(2), |p| p.state_a() == State::Down));
    let took = p.now - cut;
    assert!(took <= 150 * MS, "down after {took:?}");
    assert!(took >= 100 * MS, "down too early: {took:?}");
    let (_, ev) = p.events_a.last().unwrap();
    assert_eq!(ev.diagnostic, Diagnostic::ControlDetectionTimeExpired);
    assert!(ev.is_failure());
    assert_eq!(p.a.status(&p.ka).unwrap().remote_discriminator, 0);
    // B hears A say Down and follows with diag 3.
    p.deliver();
    assert_eq!(p.state_b(), State::Down);
    assert_eq!(
        p.events_b.last().unwrap().1.diagnostic,
        Diagnostic::NeighborSignaledSessionDown
    );
    p.drop_b_to_a = false;
    p.bring_up();
    assert!(p.events_a.last().unwrap().1.is_up());
}

#[test]
fn one_way_loss_brings_both_down() {
    let mut p = Pair::new(params(300, 3), params(300, 3));
    p.bring_up();
    p.run_for(Duration::from_secs(3));
    p.drop_a_to_b = true;
    assert!(p.run_until(Duration::from_secs(2), |p| p.state_b() == State::Down));
    assert!(p.run_until(Duration::from_secs(1), |p| p.state_a() == State::Down));
}

// ---- Demand from the peer. ----

#[test]
fn peer_demand_stops_our_periodic_packets() {
    let (mut e, k, disc, now) = lone_engine(params(100, 3));
    drive_to(&mut e, &k, disc, now, State::Up);
    let mut pk = ControlPacket::decode(&peer_packet(State::Up, disc, false)).unwrap();
    pk.demand = true;
    let mut b = PacketBuf::default();
    pk.encode(&mut b);
    e.handle_control(now, &rx_meta(), b.as_slice()).unwrap();
    while e.poll_transmit().is_some() {}
    // Our poll (started on Up) must still be sent until Final arrives, then nothing periodic.
    let mut pk_f = pk;
    pk_f.final_ = true;
    pk_f.encode(&mut b);
    e.handle_control(now, &rx_meta(), b.as_slice()).unwrap();
    while e.poll_transmit().is_some() {}
    let mut t = now;
    let mut sent = 0;
    for _ in 0..50 {
        t += 20 * MS;
        e.handle_timeout(t);
        while e.poll_transmit().is_some() {
            sent += 1;
        }
        // The peer keeps sending (with D set) so detection does not expire.
        if t.duration_since(now).as_millis() % 100 == 0 {
            e.handle_control(t, &rx_meta(), b.as_slice()).unwrap();
        }
    }
    assert_eq!(sent, 0);
    assert_eq!(e.status(&k).unwrap().state, State::Up);
}

// ---- Echo. ----

#[test]
fn echo_function_runs_and_detects_loss() {
    let mut pa = params(300, 3);
    pa.echo_mode = true;
    pa.echo_interval = metalroute_bgp::bfd::Interval::from_millis("echoInterval", 50).unwrap();
    let mut pb = pa.clone();
    pb.echo_interval = metalroute_bgp::bfd::Interval::from_millis("echoInterval", 100).unwrap();
    let mut p = Pair::new(pa, pb);
    p.bring_up();
    p.run_for(Duration::from_secs(2));
    let a = p.a.status(&p.ka).unwrap();
    assert!(a.echo_active);
    assert_eq!(a.required_min_echo_rx, 50 * MS);
    assert_eq!(a.remote_min_echo_rx, 100 * MS);
    assert!(a.echo_rx_packets > 10, "{}", a.echo_rx_packets);
    assert_eq!(a.last_echo_rtt, Some(Duration::ZERO));
    // Echoes lost while control packets flow: Down with diag 2 within 3 × max(50, 100) ms.
    let cut = p.now;
    p.drop_echo = true;

    // Control packets still flow, so the session comes back at once on the zero-latency wire:
    // look for the Down event rather than the state.
    let n = p.events_a.len();
    assert!(p.run_until(Duration::from_secs(2), |p| p.events_a.len() > n));
    let (at, ev) = &p.events_a[n];
    assert!(*at - cut <= 300 * MS, "{:?}", *at - cut);
    assert_eq!((ev.from, ev.to), (State::Up, State::Down));
    assert_eq!(ev.diagnostic, Diagnostic::EchoFunctionFailed);
    assert!(ev.is_failure());
}

#[test]
fn echo_never_returned_is_abandoned_without_flap() {
    let mut pa = params(300, 3);
    pa.echo_mode = true;
    let mut p = Pair::new(pa.clone(), pa);
    p.drop_echo = true;
    p.bring_up();
    let n = (p.events_a.len(), p.events_b.len());
    p.run_for(Duration::from_secs(5));
    assert_eq!((p.events_a.len(), p.events_b.len()), n, "no flap");
    let a = p.a.status(&p.ka).unwrap();
    assert!(a.echo_abandoned && !a.echo_active);
    assert_eq!(a.echo_state, EchoState::NotReflected);
    assert_eq!(a.echo_rx_packets, 0);
    // Echoes stop being sent once abandoned.
    let sent = a.echo_tx_packets;
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.a.status(&p.ka).unwrap().echo_tx_packets, sent);
}

#[test]
fn echo_failure_holds_down_until_the_path_returns_echoes_again() {
    // A peer that returned echoes and then stops (a filter on its forwarding plane): Down with
    // diagnostic 2 although control packets flow, held Down (§6.8.18) 2 s, then 4 s... while the
    // echo path stays broken — the echo function is NOT abandoned for a peer known to reflect.
    // Once echoes return, the session comes back and stays Up.
    let mut pa = params(300, 3);
    pa.echo_mode = true;
    let mut p = Pair::new(pa.clone(), pa);
    p.bring_up();
    p.run_for(Duration::from_secs(1));
    assert_eq!(
        p.a.status(&p.ka).unwrap().echo_state,
        EchoState::Active,
        "echoes returned"
    );
    p.drop_echo = true;
    let cut = p.now;
    let n = p.events_a.len();
    p.run_for(Duration::from_secs(10));
    let evs: Vec<_> = p.events_a[n..].to_vec();
    let downs: Vec<_> = evs.iter().filter(|(_, e)| e.from == State::Up).collect();
    assert!(downs.len() >= 2, "repeated echo failures: {evs:?}");
    assert!(
        downs
            .iter()
            .all(|(_, e)| e.diagnostic == Diagnostic::EchoFunctionFailed && e.is_failure()),
        "{downs:?}"
    );
    // First failure within the echo detection time (3 x 300 ms: the peer's echo RX equals ours).
    assert!(downs[0].0 - cut <= 1000 * MS, "{:?}", downs[0].0 - cut);
    // Held Down: the next Up comes no sooner than 2 s after the first failure, the one after no
    // sooner than 4 s after the second.
    let ups: Vec<_> = evs.iter().filter(|(_, e)| e.to == State::Up).collect();
    assert!(ups[0].0 - downs[0].0 >= 2000 * MS, "{evs:?}");
    assert!(ups[1].0 - downs[1].0 >= 4000 * MS, "{evs:?}");
    // Meanwhile A kept sending control packets saying Down, diagnostic 2.
    let held: Vec<_> = p
        .sent_by(Side::A, downs[0].0)
        .into_iter()
        .filter(|s| s.at < ups[0].0)
        .collect();
    assert!(held.len() >= 2, "{held:?}");
    assert!(held
        .iter()
        .all(|s| s.pkt.state == State::Down && s.pkt.diag == Diagnostic::EchoFunctionFailed));
    assert!(!p.a.status(&p.ka).unwrap().echo_abandoned);
    // Path repaired: Up again after the current hold-down, echoes return, no more changes.
    p.drop_echo = false;
    let returned = p.a.status(&p.ka).unwrap().echo_rx_packets;
    assert!(
        p.run_until(Duration::from_secs(20), |p| p.state_a() == State::Up
            && p.a.status(&p.ka).unwrap().echo_rx_packets > returned + 5)
    );
    let n = p.events_a.len();
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.events_a.len(), n, "stable once echoes return");
    let a = p.a.status(&p.ka).unwrap();
    assert_eq!(a.echo_state, EchoState::Active);
    assert_eq!(a.held_down_until.filter(|h| *h > p.now), None);
}

#[test]
fn echo_hold_down_doubles_to_a_cap() {
    use metalroute_bgp::bfd::session::echo_hold_down;
    let s: Vec<_> = (1..=7).map(|n| echo_hold_down(n).as_secs()).collect();
    assert_eq!(s, [2, 4, 8, 16, 16, 16, 16]);
    assert_eq!(echo_hold_down(u32::MAX).as_secs(), 16);
}

#[test]
fn echo_states_and_addressing() {
    let mut pa = params(300, 3);
    pa.echo_mode = true;
    let mut p = Pair::new(pa.clone(), pa.clone());
    assert_eq!(p.a.status(&p.ka).unwrap().echo_state, EchoState::Off);
    p.bring_up();
    // Up and the peer invites echoes: the first echo leaves at once, none returned yet.
    p.a.handle_timeout(p.now);
    let mut echo = None;
    while let Some(t) = p.a.poll_transmit() {
        if t.kind == TransmitKind::Echo {
            echo = Some(t);
        }
    }
    let t = echo.expect("an echo is sent once Up");
    // RFC 5881 §4: from and to our own address, UDP 3785 (the transport sends it to the peer's
    // link-layer address).
    assert_eq!(t.src, p.ka.local);
    assert_eq!(t.dst, std::net::SocketAddr::new(p.ka.local, 3785));
    assert_eq!(p.a.status(&p.ka).unwrap().echo_state, EchoState::Probing);
    assert_eq!(
        p.a.handle_echo(p.now, t.payload.as_slice()),
        EchoVerdict::Returned
    );
    assert_eq!(p.a.status(&p.ka).unwrap().echo_state, EchoState::Active);
    // Foreign or garbled payloads are ignored.
    assert_eq!(p.a.handle_echo(p.now, b"not ours"), EchoVerdict::Ignored);
    assert_eq!(
        p.b.handle_echo(p.now, t.payload.as_slice()),
        EchoVerdict::Ignored,
        "another engine's echo"
    );
    // Switching echoMode off stops echo; on again probes anew.
    let mut off = pa.clone();
    off.echo_mode = false;
    p.a.set_params(p.now, &p.ka, off).unwrap();
    p.run_for(Duration::from_secs(1));
    let s = p.a.status(&p.ka).unwrap();
    assert_eq!(
        (s.echo_state, s.required_min_echo_rx),
        (EchoState::Off, Duration::ZERO)
    );
    p.a.set_params(p.now, &p.ka, pa).unwrap();
    p.drop_echo = true;
    let n = p.events_a.len();
    p.run_for(Duration::from_secs(3));
    assert_eq!(p.events_a.len(), n, "a fresh probe never fails the session");
    assert_eq!(
        p.a.status(&p.ka).unwrap().echo_state,
        EchoState::NotReflected
    );
}

#[test]
fn echo_not_used_multihop_or_when_peer_declines() {
    let mut pa = params(300, 3);
    pa.echo_mode = true;
    let mut p = Pair::new(pa.clone(), params(300, 3));
    p.bring_up();
    p.run_for(Duration::from_secs(1));
    assert!(
        !p.a.status(&p.ka).unwrap().echo_active,
        "peer advertises echo rx 0"
    );
    let mut p = Pair::with_hop(pa.clone(), pa, HopMode::MultiHop);
    p.bring_up();
    p.run_for(Duration::from_secs(1));
    let a = p.a.status(&p.ka).unwrap();
    assert!(!a.echo_active);
    assert_eq!(a.required_min_echo_rx, Duration::ZERO);
}

// ---- Authentication. ----

#[test]
fn authenticated_sessions_come_up_and_mismatch_does_not() {
    for t in [
        AuthType::SimplePassword,
        AuthType::KeyedMd5,
        AuthType::MeticulousKeyedSha1,
    ] {
        let mut pa = params(100, 3);
        pa.auth = Some(AuthKey::new(t, 1, b"secret").unwrap());
        let mut p = Pair::new(pa.clone(), pa.clone());
        p.bring_up();
        let mut pb = pa.clone();
        pb.auth = Some(AuthKey::new(t, 1, b"Secret").unwrap());
        let mut p = Pair::new(pa.clone(), pb);
        p.run_for(Duration::from_secs(5));
        assert_eq!(p.state_a(), State::Down, "{t:?}");
        // One side without authentication.
        let mut p = Pair::new(pa, params(100, 3));
        p.run_for(Duration::from_secs(5));
        assert_eq!(p.state_a(), State::Down);
        assert_eq!(p.state_b(), State::Down);
    }
}

#[test]
fn meticulous_replay_rejected() {
    assert!(sequence_acceptable(None, 5, true, 3));
    assert!(!sequence_acceptable(Some(5), 5, true, 3));
    assert!(sequence_acceptable(Some(5), 5, false, 3));
    assert!(sequence_acceptable(Some(5), 14, true, 3));
    assert!(!sequence_acceptable(Some(5), 15, true, 3));
    assert!(sequence_acceptable(Some(u32::MAX), 2, true, 3), "wraps");
    assert!(!sequence_acceptable(Some(5), 4, false, 3));

    let mut pa = params(100, 3);
    pa.auth = Some(AuthKey::new(AuthType::MeticulousKeyedMd5, 1, b"k").unwrap());
    let (mut e, k, disc, now) = lone_engine(pa.clone());
    let key = pa.auth.unwrap();
    let pk = ControlPacket::decode(&peer_packet(State::Down, 0, false)).unwrap();
    let mut b = PacketBuf::default();
    pk.encode_signed(&key, 10, &mut b);
    e.handle_control(now, &rx_meta(), b.as_slice()).unwrap();
    assert_eq!(e.status(&k).unwrap().state, State::Init);
    let r = e.handle_control(now, &rx_meta(), b.as_slice());
    assert!(
        matches!(r, Err(Error::AuthSequence { got: 10, .. })),
        "{r:?}"
    );
    let mut up = ControlPacket::decode(&peer_packet(State::Init, disc, false)).unwrap();
    up.auth = None;
    up.encode_signed(&key, 11, &mut b);
    e.handle_control(now, &rx_meta(), b.as_slice()).unwrap();
    assert_eq!(e.status(&k).unwrap().state, State::Up);
}

// ---- Admin down and removal. ----

#[test]
fn admin_down_and_removal_are_not_failures_for_the_peer() {
    let mut p = Pair::new(params(50, 3), params(50, 3));
    p.bring_up();
    p.a.set_admin_down(p.now, &p.ka.clone(), true).unwrap();
    p.deliver();
    assert_eq!(p.state_a(), State::AdminDown);
    assert_eq!(p.state_b(), State::Down);
    let ev = &p.events_b.last().unwrap().1;
    assert!(ev.peer_admin_down && !ev.is_failure());
    assert!(!p.events_a.last().unwrap().1.is_failure());
    p.a.set_admin_down(p.now, &p.ka.clone(), false).unwrap();
    p.bring_up();

    let n = p.events_b.len();
    p.a.remove(&p.ka.clone()).unwrap();
    p.deliver();
    assert_eq!(p.state_b(), State::Down);
    let ev = &p.events_b[n].1;
    assert!(ev.peer_admin_down && !ev.is_failure());
    assert!(p.a.is_empty());
    assert!(p.a.status(&p.ka).is_none());
    assert!(matches!(
        p.a.remove(&p.ka.clone()),
        Err(Error::NoSuchSession(_))
    ));
    assert!(
        p.a.poll_timeout().is_none(),
        "timers of the removed session are gone"
    );
}

// ---- Many sessions, one heap. ----

#[test]
fn many_sessions_one_heap_stays_bounded() {
    let now = std::time::Instant::now();
    let mut a = Engine::new(Box::new(SplitMix64::seeded(11)), now);
    let mut b = Engine::new(Box::new(SplitMix64::seeded(12)), now);
    let n = 200u32;
    let mut keys = Vec::new();
    for i in 0..n {
        let la: std::net::IpAddr = std::net::Ipv4Addr::from(0xc633_6400u32 + i).into(); // 198.51.100.x..
        let lb: std::net::IpAddr = std::net::Ipv4Addr::from(0xcb00_7100u32 + i).into(); // 203.0.113.x..
        a.add(now, SessionKey::multi_hop(lb, la), params(50, 3))
            .unwrap();
        b.add(now, SessionKey::multi_hop(la, lb), params(50, 3))
            .unwrap();
        keys.push(SessionKey::multi_hop(lb, la));
    }
    let mut t = now;
    let end = now + Duration::from_secs(10);
    let mut wakeups = 0;
    let mut late_events = Vec::new();
    while t < end {
        loop {
            let mut any = false;
            for dir in 0..2 {
                let (from, to) = if dir == 0 {
                    (&mut a, &mut b)
                } else {
                    (&mut b, &mut a)
                };
                while let Some(tx) = from.poll_transmit() {
                    any = true;
                    let rx = RxMeta {
                        vrf: None,
                        src: SocketAddr::new(tx.src, 50000),
                        dst: tx.dst.ip(),
                        ttl: 255,
                        hop: HopMode::MultiHop,
                        interface: None,
                    };
                    to.handle_control(t, &rx, tx.payload.as_slice()).unwrap();
                }
            }
            if !any {
                break;
            }
        }
        // Both engines may have queued answers; loop again before advancing.
        let next = [a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        t = next.max(t);
        a.handle_timeout(t);
        b.handle_timeout(t);
        while let Some(e) = a.poll_event() {
            if t > now + Duration::from_secs(3) {
                late_events.push(e);
            }
        }
        while b.poll_event().is_some() {}
        wakeups += 1;
        assert!(wakeups < 1_000_000);
    }
    assert!(
        late_events.is_empty(),
        "flaps once up: {:?}",
        late_events.first()
    );
    let up = a.sessions().iter().filter(|s| s.state == State::Up).count();
    assert_eq!(up, n as usize);
    assert!(
        a.timer_entries() <= 3 * n as usize,
        "heap {} for {n} sessions",
        a.timer_entries()
    );
    assert!(keys
        .iter()
        .all(|k| a.status(k).unwrap().tx_interval == Some(50 * MS)));
}

/// 100 sessions at 50 ms between two engines on a virtual clock for 10 s: how many wake-ups the
/// transport needs, the on-the-wire intervals of A's periodic packets per session once settled,
/// and state changes after the first 3 s.
fn simulate_wakeups(slack: Duration) -> (u32, Vec<Duration>, usize) {
    let now = std::time::Instant::now();
    let mut a = Engine::new(Box::new(SplitMix64::seeded(21)), now);
    let mut b = Engine::new(Box::new(SplitMix64::seeded(22)), now);
    a.set_timer_slack(slack);
    b.set_timer_slack(slack);
    let n = 100u32;
    for i in 0..n {
        let la: std::net::IpAddr = std::net::Ipv4Addr::from(0xc633_6400u32 + i).into();
        let lb: std::net::IpAddr = std::net::Ipv4Addr::from(0xcb00_7100u32 + i).into();
        a.add(now, SessionKey::multi_hop(lb, la), params(50, 3))
            .unwrap();
        b.add(now, SessionKey::multi_hop(la, lb), params(50, 3))
            .unwrap();
    }
    let settled = now + Duration::from_secs(3);
    let end = now + Duration::from_secs(10);
    let mut last_sent = std::collections::HashMap::new();
    let mut intervals = Vec::new();
    let (mut t, mut wakeups, mut late_events) = (now, 0u32, 0usize);
    while t < end {
        loop {
            let mut any = false;
            for dir in 0..2 {
                let (from, to) = if dir == 0 {
                    (&mut a, &mut b)
                } else {
                    (&mut b, &mut a)
                };
                while let Some(tx) = from.poll_transmit() {
                    any = true;
                    if dir == 0 && t >= settled {
                        if let Some(prev) = last_sent.insert(tx.src, t) {
                            intervals.push(t - prev);
                        }
                    }
                    let rx = RxMeta {
                        vrf: None,
                        src: SocketAddr::new(tx.src, 50000),
                        dst: tx.dst.ip(),
                        ttl: 255,
                        hop: HopMode::MultiHop,
                        interface: None,
                    };
                    to.handle_control(t, &rx, tx.payload.as_slice()).unwrap();
                }
            }
            if !any {
                break;
            }
        }
        let next = [a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        t = next.max(t);
        a.handle_timeout(t);
        b.handle_timeout(t);
        while a.poll_event().is_some() || b.poll_event().is_some() {
            if t > settled {
                late_events += 1;
            }
        }
        wakeups += 1;
    }
    (wakeups, intervals, late_events)
}

#[test]
fn timer_slack_coalesces_wakeups_and_keeps_rfc_intervals() {
    let (exact, _, flaps) = simulate_wakeups(Duration::ZERO);
    assert_eq!(flaps, 0);
    let (coalesced, intervals, flaps) = simulate_wakeups(2 * MS);
    assert_eq!(flaps, 0, "no flap with slack");
    // 2 ms slack at 50 ms: far fewer wake-ups for the same packets.
    assert!(
        f64::from(coalesced) < 0.6 * f64::from(exact),
        "wake-ups {coalesced} with slack vs {exact} exact"
    );
    // §6.8.7 on the wire: every periodic interval within 75-100 % of 50 ms, and spread.
    assert!(intervals.len() > 10_000, "{}", intervals.len());
    let (lo, hi) = (
        intervals.iter().min().unwrap(),
        intervals.iter().max().unwrap(),
    );
    assert!(*lo >= 37_500 * Duration::from_micros(1), "{lo:?}");
    assert!(*hi <= 50 * MS, "{hi:?}");
    assert!(*lo <= 39 * MS && *hi >= 48 * MS, "spread {lo:?}..{hi:?}");
}

#[test]
fn jitter_with_early_floor() {
    use metalroute_bgp::bfd::session::{jittered_early, tx_slack};
    use metalroute_bgp::bfd::Entropy;
    let mut rng = SplitMix64::seeded(5);
    let i = 50 * MS;
    let early = tx_slack(2 * MS, i);
    assert_eq!(early, 2 * MS);
    assert_eq!(tx_slack(2 * MS, 10 * MS), Duration::from_micros(500));
    for _ in 0..100_000 {
        let j = jittered_early(i, 3, rng.next_u32(), early);
        // Sent up to `early` before the deadline, the interval still is >= 75 %.
        assert!(
            j - early >= 37_500 * Duration::from_micros(1) && j <= i,
            "{j:?}"
        );
        let j = jittered_early(i, 1, rng.next_u32(), early);
        assert!(
            j - early >= 37_500 * Duration::from_micros(1) && j <= 45 * MS,
            "{j:?}"
        );
    }
}
