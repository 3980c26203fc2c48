//! Test harness for the BFD engine: two engines joined by a virtual wire on a fake clock, with
//! switches to drop traffic in either direction. Nothing sleeps.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use metalroute_bgp::bfd::{
    ControlPacket, EchoVerdict, Engine, Event, HopMode, RxMeta, SessionKey, SessionParams,
    SplitMix64, State, TransmitKind,
};

pub const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
pub const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

/// Which engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// A packet seen on the wire.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub from: Side,
    pub pkt: ControlPacket,
    pub dropped: bool,
}

pub struct Pair {
    pub a: Engine,
    pub b: Engine,
    pub ka: SessionKey,
    pub kb: SessionKey,
    pub now: Instant,
    pub start: Instant,
    pub drop_a_to_b: bool,
    pub drop_b_to_a: bool,
    pub drop_echo: bool,
    pub wire: Vec<Seen>,
    pub events_a: Vec<(Instant, Event)>,
    pub events_b: Vec<(Instant, Event)>,
    pub ttl: u8,
}

impl Pair {
    pub fn new(pa: SessionParams, pb: SessionParams) -> Self {
        Self::with_hop(pa, pb, HopMode::SingleHop)
    }

    pub fn with_hop(pa: SessionParams, pb: SessionParams, hop: HopMode) -> Self {
        let now = Instant::now();
        let mut a = Engine::new(Box::new(SplitMix64::seeded(1)), now);
        let mut b = Engine::new(Box::new(SplitMix64::seeded(2)), now);
        let ka = SessionKey {
            vrf: None,
            peer: B,
            local: A,
            hop,
            interface: None,
        };
        let kb = SessionKey {
            vrf: None,
            peer: A,
            local: B,
            hop,
            interface: None,
        };
        a.add(now, ka.clone(), pa).unwrap();
        b.add(now, kb.clone(), pb).unwrap();
        Self {
            a,
            b,
            ka,
            kb,
            now,
            start: now,
            drop_a_to_b: false,
            drop_b_to_a: false,
            drop_echo: false,
            wire: Vec::new(),
            events_a: Vec::new(),
            events_b: Vec::new(),
            ttl: 255,
        }
    }

    pub fn state_a(&self) -> State {
        self.a.status(&self.ka).unwrap().state
    }
    pub fn state_b(&self) -> State {
        self.b.status(&self.kb).unwrap().state
    }

    /// Delivers everything queued, repeatedly, at the current time.
    pub fn deliver(&mut self) {
        loop {
            let mut any = false;
            while let Some(t) = self.a.poll_transmit() {
                any = true;
                self.carry(Side::A, t);
            }
            while let Some(t) = self.b.poll_transmit() {
                any = true;
                self.carry(Side::B, t);
            }
            while let Some(e) = self.a.poll_event() {
                self.events_a.push((self.now, e));
            }
            while let Some(e) = self.b.poll_event() {
                self.events_b.push((self.now, e));
            }
            if !any {
                break;
            }
        }
    }

    fn carry(&mut self, from: Side, t: metalroute_bgp::bfd::Transmit) {
        let (dst_engine, src_engine, drop, hop) = match from {
            Side::A => (&mut self.b, &mut self.a, self.drop_a_to_b, self.kb.hop),
            Side::B => (&mut self.a, &mut self.b, self.drop_b_to_a, self.ka.hop),
        };
        match t.kind {
            TransmitKind::Control => {
                let pkt = ControlPacket::decode(t.payload.as_slice()).unwrap();
                self.wire.push(Seen {
                    at: self.now,
                    from,
                    pkt,
                    dropped: drop,
                });
                if drop {
                    return;
                }
                let rx = RxMeta {
                    vrf: None,
                    src: std::net::SocketAddr::new(t.src, 49152),
                    dst: t.dst.ip(),
                    ttl: self.ttl,
                    hop,
                    interface: None,
                };
                let _ = dst_engine.handle_control(self.now, &rx, t.payload.as_slice());
            }
            TransmitKind::Echo => {
                if self.drop_echo || drop {
                    return;
                }
                // RFC 5881 §4: addressed to the sender itself; the peer's forwarding plane (not
                // its engine) sends it straight back.
                assert_eq!(t.src, t.dst.ip());
                assert_eq!(t.dst.port(), 3785);
                let v = src_engine.handle_echo(self.now, t.payload.as_slice());
                assert_eq!(v, EchoVerdict::Returned);
            }
        }
    }

    /// Advances to the next timer (at most `limit`), runs it and delivers.
    pub fn step(&mut self, limit: Instant) {
        self.deliver();
        let next = [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let to = match next {
            Some(n) if n <= limit => n,
            _ => limit,
        };
        assert!(to >= self.now, "time went backwards");
        self.now = to;
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.deliver();
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step(end);
        }
    }

    /// Runs until `cond` holds or `max` passes; returns whether it held.
    pub fn run_until(&mut self, max: Duration, mut cond: impl FnMut(&Self) -> bool) -> bool {
        let end = self.now + max;
        while !cond(self) {
            if self.now >= end {
                return false;
            }
            self.step(end);
        }
        true
    }

    pub fn bring_up(&mut self) {
        assert!(
            self.run_until(Duration::from_secs(10), |p| p.state_a() == State::Up
                && p.state_b() == State::Up),
            "sessions did not come up: {:?} {:?}",
            self.state_a(),
            self.state_b()
        );
    }

    /// Packets sent by `side` at or after `since`.
    pub fn sent_by(&self, side: Side, since: Instant) -> Vec<&Seen> {
        self.wire
            .iter()
            .filter(|s| s.from == side && s.at >= since)
            .collect()
    }
}

pub fn params(ms: u64, mult: u8) -> SessionParams {
    SessionParams::with_timers(ms, mult).unwrap()
}
