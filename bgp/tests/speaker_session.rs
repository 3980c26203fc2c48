//! Session tests on a fake clock: Adj-RIB-Out sends only differences, End-of-RIB after the
//! initial table, ROUTE-REFRESH answers, attribute export (eBGP/iBGP), graceful-restart helper
//! (stale routes, End-of-RIB, restart time), RFC 7606 counters and input errors.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ipnet::IpNet;
use metalroute_bgp::config::{Asn, Family, GracefulRestart, HoldTime, PeerAsn, PeerConfig, Timers};
use metalroute_bgp::fsm::{ConnId, Direction, NoJitter, State};
use metalroute_bgp::packet::{
    encode_updates, end_of_rib, frame, Afi, AsPath, Capability, CeaseSubcode, DecodeContext,
    EncodeContext, GracefulRestartCap, GracefulRestartFamily, Message, NextHop, Notification, Open,
    PathAttributes, RouteRefresh, Safi, Update,
};
use metalroute_bgp::routes::RouteSet;
use metalroute_bgp::session::{Session, SessionOutput};
use metalroute_bgp::speaker::SpeakerError;

const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn config(peer_asn: u32, gr: bool) -> PeerConfig {
    let mut c = PeerConfig::new(
        Asn(65001),
        PeerAsn::Fixed(Asn(peer_asn)),
        IpAddr::V4(PEER),
        Ipv4Addr::new(192, 0, 2, 1),
    );
    c.timers = Timers {
        hold_time: HoldTime::from_secs(90).unwrap(),
        keepalive: None,
        connect_time: Duration::from_secs(10),
    };
    if gr {
        c.graceful_restart = Some(GracefulRestart {
            restart_time: Duration::from_secs(120),
            stale_routes_time: Duration::from_secs(300),
        });
    }
    c
}

fn enc(m: &Message) -> Bytes {
    let mut b = BytesMut::new();
    m.encode(
        &EncodeContext {
            four_octet_as: true,
            ipv4_via_mp: false,
        },
        &mut b,
    )
    .unwrap();
    b.freeze()
}

fn peer_open(asn: u32, gr: bool) -> Bytes {
    let mut caps = vec![
        Capability::Multiprotocol {
            afi: Afi::Ipv4,
            safi: Safi::Unicast,
        },
        Capability::RouteRefresh,
        Capability::FourOctetAs(asn),
    ];
    if gr {
        caps.push(Capability::GracefulRestart(GracefulRestartCap {
            restart_state: false,
            notification: false,
            restart_time_secs: 60,
            families: vec![GracefulRestartFamily {
                family: Family::IPV4_UNICAST,
                forwarding_preserved: true,
            }],
        }));
    }
    enc(&Message::Open(Open {
        version: 4,
        my_as: asn,
        hold_time: 90,
        router_id: PEER,
        capabilities: caps,
    }))
}

struct H {
    s: Session,
    now: Instant,
    conn: ConnId,
    peer_asn: u32,
    gr: bool,
}

impl H {
    fn new(peer_asn: u32, gr: bool) -> H {
        let now = Instant::now();
        let mut s = Session::new(config(peer_asn, gr), Box::new(NoJitter));
        s.start(now);
        let mut h = H {
            s,
            now,
            conn: ConnId(0),
            peer_asn,
            gr,
        };
        h.conn = h.connect_out();
        h
    }
    fn connect_out(&mut self) -> ConnId {
        let out = self.drain();
        out.iter()
            .find_map(|o| {
                if let SessionOutput::Connect(c) = o {
                    Some(*c)
                } else {
                    None
                }
            })
            .expect("a connect request")
    }
    /// Connects and exchanges OPEN/KEEPALIVE; returns what we sent after Established.
    fn establish(&mut self) -> Vec<Message> {
        let local: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        self.s
            .connected(self.now, self.conn, Direction::Outbound, local, None);
        self.drain();
        self.s
            .received(self.now, self.conn, &peer_open(self.peer_asn, self.gr));
        self.drain();
        self.s
            .received(self.now, self.conn, &enc(&Message::Keepalive));
        assert_eq!(self.s.fsm().state(), State::Established);
        self.sent()
    }
    fn drain(&mut self) -> Vec<SessionOutput> {
        std::iter::from_fn(|| self.s.poll_output()).collect()
    }
    fn sent(&mut self) -> Vec<Message> {
        let ctx = DecodeContext {
            four_octet_as: true,
            ..DecodeContext::default()
        };
        let mut v = Vec::new();
        for o in self.drain() {
            if let SessionOutput::Transmit { data, .. } = o {
                let mut buf = &data[..];
                while let Ok(Some(n)) = frame(buf) {
                    v.push(Message::decode(&buf[..n], &ctx).unwrap());
                    buf = &buf[n..];
                }
            }
        }
        v
    }
    fn set(&mut self, routes: &[(&str, &Arc<PathAttributes>)]) -> Result<(), SpeakerError> {
        let map: HashMap<IpNet, Arc<PathAttributes>> = routes
            .iter()
            .map(|(p, a)| (p.parse().unwrap(), Arc::clone(a)))
            .collect();
        self.s
            .set_advertisements(self.now, Family::IPV4_UNICAST, map)
    }
    fn feed_update(&mut self, announce: &[&str], withdraw: &[&str]) {
        let attrs = Arc::new(PathAttributes {
            as_path: AsPath::from_sequence([self.peer_asn]),
            ..Default::default()
        });
        let a: Vec<(IpNet, Arc<PathAttributes>)> = announce
            .iter()
            .map(|p| (p.parse().unwrap(), attrs.clone()))
            .collect();
        let w: Vec<IpNet> = withdraw.iter().map(|p| p.parse().unwrap()).collect();
        let ctx = EncodeContext {
            four_octet_as: true,
            ipv4_via_mp: false,
        };
        for m in encode_updates(Family::IPV4_UNICAST, &a, &w, &NextHop::Ipv4(PEER), &ctx).unwrap() {
            self.s.received(self.now, self.conn, &m);
        }
    }
    /// Like `feed_update` with an AS_PATH of `path`.
    fn feed_with_path(&mut self, announce: &[&str], path: &[u32]) {
        let attrs = Arc::new(PathAttributes {
            as_path: AsPath::from_sequence(path.iter().copied()),
            ..Default::default()
        });
        let a: Vec<(IpNet, Arc<PathAttributes>)> = announce
            .iter()
            .map(|p| (p.parse().unwrap(), attrs.clone()))
            .collect();
        let ctx = EncodeContext {
            four_octet_as: true,
            ipv4_via_mp: false,
        };
        for m in encode_updates(Family::IPV4_UNICAST, &a, &[], &NextHop::Ipv4(PEER), &ctx).unwrap()
        {
            self.s.received(self.now, self.conn, &m);
        }
    }
    fn received(&self) -> Vec<(String, bool)> {
        self.s
            .received_routes(Family::IPV4_UNICAST)
            .iter()
            .map(|r| (r.prefix.to_string(), r.stale))
            .collect()
    }
}

fn updates(msgs: &[Message]) -> Vec<&Update> {
    msgs.iter()
        .filter_map(|m| {
            if let Message::Update(u) = m {
                Some(u)
            } else {
                None
            }
        })
        .collect()
}

fn announced(msgs: &[Message]) -> Vec<String> {
    let mut v: Vec<String> = updates(msgs)
        .iter()
        .flat_map(|u| u.reachable())
        .map(|p| p.to_string())
        .collect();
    v.sort();
    v
}

fn withdrawn(msgs: &[Message]) -> Vec<String> {
    let mut v: Vec<String> = updates(msgs)
        .iter()
        .flat_map(|u| u.unreachable())
        .map(|p| p.to_string())
        .collect();
    v.sort();
    v
}

fn attrs(communities: &[u32]) -> Arc<PathAttributes> {
    Arc::new(PathAttributes {
        communities: communities
            .iter()
            .map(|c| metalroute_bgp::packet::Community(*c))
            .collect(),
        ..Default::default()
    })
}

#[test]
fn speaker_session_initial_table_then_end_of_rib() {
    let mut h = H::new(65002, false);
    let a = attrs(&[]);
    h.set(&[("198.51.100.1/32", &a), ("198.51.100.2/32", &a)])
        .unwrap();
    let msgs = h.establish();
    assert_eq!(announced(&msgs), vec!["198.51.100.1/32", "198.51.100.2/32"]);
    let ups = updates(&msgs);
    assert_eq!(
        ups.len(),
        2,
        "one UPDATE with both prefixes, then End-of-RIB: {ups:?}"
    );
    assert_eq!(ups[1].end_of_rib(), Some(Family::IPV4_UNICAST));
    let u = ups[0];
    let at = u.attributes.as_ref().unwrap();
    assert_eq!(
        at.as_path,
        AsPath::from_sequence([65001]),
        "eBGP: our ASN prepended"
    );
    assert_eq!(at.local_pref, None, "no LOCAL_PREF toward eBGP");
    assert_eq!(
        at.next_hop,
        Some(Ipv4Addr::new(192, 0, 2, 1)),
        "next hop self"
    );
}

#[test]
fn speaker_session_sends_only_differences() {
    let mut h = H::new(65002, false);
    let a = attrs(&[1]);
    let b = attrs(&[2]);
    h.set(&[
        ("198.51.100.1/32", &a),
        ("198.51.100.2/32", &a),
        ("198.51.100.3/32", &a),
    ])
    .unwrap();
    h.establish();
    // .1 unchanged, .2 new attributes, .3 gone, .4 new.
    h.set(&[
        ("198.51.100.1/32", &a),
        ("198.51.100.2/32", &b),
        ("198.51.100.4/32", &a),
    ])
    .unwrap();
    let msgs = h.sent();
    assert_eq!(announced(&msgs), vec!["198.51.100.2/32", "198.51.100.4/32"]);
    assert_eq!(withdrawn(&msgs), vec!["198.51.100.3/32"]);
    // The same set again: nothing on the wire.
    let a2 = Arc::new((*a).clone());
    h.set(&[
        ("198.51.100.1/32", &a2),
        ("198.51.100.2/32", &b),
        ("198.51.100.4/32", &a),
    ])
    .unwrap();
    assert!(h.sent().is_empty());
    let st = h.s.status(h.now);
    assert_eq!(st.prefixes_sent.get(&Family::IPV4_UNICAST), Some(&3));
    assert_eq!(st.state, State::Established);
    assert_eq!(
        st.messages.opens_sent, 1,
        "advertisement changes never reset the session"
    );
}

#[test]
fn speaker_session_shared_route_set_is_held_once_and_diffed_per_session() {
    // Two sessions are given clones of one RouteSet: each announces it all, then a second
    // shared set sends each peer only the difference, and the same set again sends nothing.
    let a = attrs(&[1]);
    let b = attrs(&[2]);
    let set = |routes: &[(&str, &Arc<PathAttributes>)]| -> RouteSet {
        routes
            .iter()
            .map(|(p, a)| (p.parse::<IpNet>().unwrap(), Arc::clone(a)))
            .collect()
    };
    let first = set(&[
        ("198.51.100.1/32", &a),
        ("198.51.100.2/32", &a),
        ("198.51.100.3/32", &a),
    ]);
    let mut hs = [H::new(65002, false), H::new(65003, false)];
    for h in &mut hs {
        h.s.set_advertisements(h.now, Family::IPV4_UNICAST, first.clone())
            .unwrap();
        let msgs = h.establish();
        assert_eq!(announced(&msgs).len(), 3);
    }
    let second = set(&[
        ("198.51.100.1/32", &a),
        ("198.51.100.2/32", &b),
        ("198.51.100.4/32", &a),
    ]);
    for h in &mut hs {
        h.s.set_advertisements(h.now, Family::IPV4_UNICAST, second.clone())
            .unwrap();
        let msgs = h.sent();
        assert_eq!(announced(&msgs), vec!["198.51.100.2/32", "198.51.100.4/32"]);
        assert_eq!(withdrawn(&msgs), vec!["198.51.100.3/32"]);
        let st = h.s.status(h.now);
        assert_eq!(st.prefixes_sent.get(&Family::IPV4_UNICAST), Some(&3));
        assert_eq!(st.prefixes_desired.get(&Family::IPV4_UNICAST), Some(&3));
        h.s.set_advertisements(h.now, Family::IPV4_UNICAST, second.clone())
            .unwrap();
        assert!(h.sent().is_empty());
    }
    // A set holding the other family is refused for this one.
    let v6 = set(&[("2001:db8::1/128", &a)]);
    assert!(matches!(
        hs[0]
            .s
            .set_advertisements(hs[0].now, Family::IPV4_UNICAST, v6),
        Err(SpeakerError::PrefixFamilyMismatch { .. })
    ));
}

#[test]
fn speaker_session_withdrawals_are_batched() {
    let mut h = H::new(65002, false);
    let a = attrs(&[]);
    let names: Vec<String> = (0..200)
        .map(|i| format!("198.51.{}.{}/32", 100 + i / 250, i % 250))
        .collect();
    let all: Vec<(&str, &Arc<PathAttributes>)> = names.iter().map(|n| (n.as_str(), &a)).collect();
    h.set(&all).unwrap();
    h.establish();
    h.set(&[]).unwrap();
    let msgs = h.sent();
    assert_eq!(withdrawn(&msgs).len(), 200);
    assert_eq!(updates(&msgs).len(), 1, "200 withdrawals fit one UPDATE");
}

#[test]
fn speaker_session_answers_route_refresh_with_the_whole_table() {
    let mut h = H::new(65002, false);
    let a = attrs(&[]);
    h.set(&[("198.51.100.1/32", &a), ("198.51.100.2/32", &a)])
        .unwrap();
    h.establish();
    h.s.received(
        h.now,
        h.conn,
        &enc(&Message::RouteRefresh(RouteRefresh::request(
            Family::IPV4_UNICAST,
        ))),
    );
    let msgs = h.sent();
    assert_eq!(announced(&msgs), vec!["198.51.100.1/32", "198.51.100.2/32"]);
    assert_eq!(h.s.status(h.now).messages.route_refresh_received, 1);
}

#[test]
fn speaker_session_ibgp_gets_local_pref() {
    let mut h = H::new(65001, false);
    let mut lp = (*attrs(&[])).clone();
    lp.local_pref = Some(250);
    let lp = Arc::new(lp);
    let plain = attrs(&[]);
    h.set(&[("198.51.100.1/32", &lp), ("198.51.100.2/32", &plain)])
        .unwrap();
    let msgs = h.establish();
    let mut prefs: Vec<(String, Option<u32>)> = updates(&msgs)
        .iter()
        .filter_map(|u| {
            u.attributes
                .as_ref()
                .map(|a| (u.reachable()[0].to_string(), a.local_pref))
        })
        .collect();
    prefs.sort();
    assert_eq!(
        prefs,
        vec![
            ("198.51.100.1/32".into(), Some(250)),
            ("198.51.100.2/32".into(), Some(100))
        ]
    );
    for u in updates(&msgs) {
        if let Some(a) = &u.attributes {
            assert!(a.as_path.segments.is_empty(), "iBGP: AS path unchanged");
        }
    }
}

#[test]
fn speaker_session_adj_rib_in_and_withdraw() {
    let mut h = H::new(65002, false);
    h.establish();
    h.feed_update(&["203.0.113.0/24", "203.0.113.128/25"], &[]);
    assert_eq!(
        h.received(),
        vec![
            ("203.0.113.0/24".into(), false),
            ("203.0.113.128/25".into(), false)
        ]
    );
    let r = h.s.received_routes(Family::IPV4_UNICAST);
    assert_eq!(r[0].next_hop, Some(IpAddr::V4(PEER)));
    h.feed_update(&[], &["203.0.113.0/24"]);
    assert_eq!(h.received(), vec![("203.0.113.128/25".into(), false)]);
    assert_eq!(
        h.s.status(h.now)
            .prefixes_received
            .get(&Family::IPV4_UNICAST),
        Some(&1)
    );
}

#[test]
fn speaker_session_drops_routes_whose_as_path_holds_our_asn() {
    let mut h = H::new(65002, false);
    h.establish();
    h.feed_update(&["203.0.113.0/24", "198.51.100.0/24"], &[]);
    // The peer re-announces one prefix with a path through us (65001): a loop, RFC 4271 §9.1.2.
    // The route is not kept, and it replaces the earlier one; the other prefix stays.
    h.feed_with_path(&["203.0.113.0/24"], &[65002, 65001, 65003]);
    assert_eq!(h.received(), vec![("198.51.100.0/24".into(), false)]);
    assert_eq!(h.s.status(h.now).errors.as_path_loops, 1);
    assert_eq!(h.s.fsm().state(), State::Established, "no session reset");
    // A path without our ASN is kept again.
    h.feed_with_path(&["203.0.113.0/24"], &[65002, 65003]);
    assert_eq!(h.received().len(), 2);
    assert_eq!(h.s.status(h.now).errors.as_path_loops, 1);
}

#[test]
fn speaker_session_graceful_restart_helper_keeps_stale_until_end_of_rib() {
    let mut h = H::new(65002, true);
    h.establish();
    h.feed_update(&["203.0.113.0/24", "203.0.113.128/25"], &[]);
    // The peer's TCP connection drops without a NOTIFICATION: routes stay, stale.
    h.s.connection_failed(h.now, h.conn);
    assert_eq!(
        h.received(),
        vec![
            ("203.0.113.0/24".into(), true),
            ("203.0.113.128/25".into(), true)
        ]
    );
    // The peer comes back, re-announces one route, then End-of-RIB: the other goes.
    h.now += Duration::from_secs(1);
    h.s.handle_timeout(h.now);
    h.conn = h.connect_out();
    h.establish();
    h.feed_update(&["203.0.113.0/24"], &[]);
    assert_eq!(
        h.received(),
        vec![
            ("203.0.113.0/24".into(), false),
            ("203.0.113.128/25".into(), true)
        ]
    );
    let eor = end_of_rib(Family::IPV4_UNICAST, &EncodeContext::default());
    h.s.received(h.now, h.conn, &eor);
    assert_eq!(h.received(), vec![("203.0.113.0/24".into(), false)]);
}

#[test]
fn speaker_session_graceful_restart_helper_drops_stale_after_restart_time() {
    let mut h = H::new(65002, true);
    h.establish();
    h.feed_update(&["203.0.113.0/24"], &[]);
    h.s.connection_failed(h.now, h.conn);
    assert_eq!(h.received().len(), 1);
    // The peer's restart time is 60 s (ours 300 s): the minimum applies.
    h.now += Duration::from_secs(59);
    h.s.handle_timeout(h.now);
    assert_eq!(h.received().len(), 1);
    h.now += Duration::from_secs(2);
    h.s.handle_timeout(h.now);
    assert!(h.received().is_empty());
}

#[test]
fn speaker_session_notification_flushes_routes_even_with_graceful_restart() {
    let mut h = H::new(65002, true);
    h.establish();
    h.feed_update(&["203.0.113.0/24"], &[]);
    h.s.received(
        h.now,
        h.conn,
        &enc(&Message::Notification(Notification::cease(
            CeaseSubcode::AdministrativeReset,
            None,
        ))),
    );
    assert!(h.received().is_empty());
}

#[test]
fn speaker_session_without_graceful_restart_flushes_on_connection_loss() {
    let mut h = H::new(65002, false);
    h.establish();
    h.feed_update(&["203.0.113.0/24"], &[]);
    h.s.connection_failed(h.now, h.conn);
    assert!(h.received().is_empty());
}

#[test]
fn speaker_session_treat_as_withdraw_is_counted() {
    let mut h = H::new(65002, false);
    h.establish();
    h.feed_update(&["198.51.100.0/24"], &[]);
    // UPDATE re-announcing 198.51.100.0/24 with ORIGIN 5 (invalid): RFC 7606 treat-as-withdraw.
    let body: Vec<u8> = {
        let attrs = [
            0x40, 1, 1, 5, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xea, 0x40, 3, 4, 192, 0, 2, 2,
        ];
        let mut b = vec![0, 0, 0, attrs.len() as u8];
        b.extend_from_slice(&attrs);
        b.extend_from_slice(&[24, 198, 51, 100]);
        b
    };
    let mut msg = vec![0xff; 16];
    msg.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    msg.push(2);
    msg.extend_from_slice(&body);
    h.s.received(h.now, h.conn, &msg);
    assert_eq!(h.s.fsm().state(), State::Established, "no session reset");
    assert!(h.received().is_empty(), "the route was withdrawn");
    assert_eq!(h.s.status(h.now).errors.treat_as_withdraw, 1);
}

#[test]
fn speaker_session_malformed_message_resets_with_its_notification() {
    let mut h = H::new(65002, false);
    h.establish();
    // A KEEPALIVE with a body: bad message length.
    let mut msg = vec![0xff; 16];
    msg.extend_from_slice(&20u16.to_be_bytes());
    msg.push(4);
    msg.push(0);
    h.s.received(h.now, h.conn, &msg);
    let sent = h.sent();
    assert!(
        matches!(&sent[0], Message::Notification(n) if n.code == metalroute_bgp::packet::ErrorCode::MessageHeader)
    );
    assert_eq!(h.s.fsm().state(), State::Idle);
    assert_eq!(h.s.status(h.now).errors.session_resets, 1);
}

#[test]
fn speaker_session_rejects_bad_advertisements() {
    let mut h = H::new(65002, false);
    let a = attrs(&[]);
    let err = h.set(&[("2001:db8::/32", &a)]).unwrap_err();
    assert!(
        matches!(err, SpeakerError::PrefixFamilyMismatch { .. }),
        "{err}"
    );
    let err =
        h.s.set_advertisements(h.now, Family::IPV6_UNICAST, HashMap::new())
            .unwrap_err();
    assert!(
        matches!(err, SpeakerError::FamilyNotConfigured { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("192.0.2.2"), "{err}");
}

#[test]
fn speaker_session_reconfigure_resets_only_on_change() {
    let mut h = H::new(65002, false);
    h.establish();
    h.s.reconfigure(h.now, config(65002, false));
    assert!(h.sent().is_empty());
    assert_eq!(h.s.fsm().state(), State::Established);
    let mut changed = config(65002, false);
    changed.timers.hold_time = HoldTime::from_secs(30).unwrap();
    h.s.reconfigure(h.now, changed);
    let sent = h.sent();
    assert!(
        matches!(&sent[0], Message::Notification(n) if n.cease_subcode() == Some(CeaseSubcode::OtherConfigurationChange))
    );
    assert_eq!(h.s.fsm().state(), State::Idle);
    assert_eq!(h.s.config().timers.hold_time.secs(), 30);
}

#[test]
fn speaker_config_validation_names_field() {
    let mut c = config(65002, false);
    c.timers.keepalive = Some(Duration::from_secs(100));
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.contains("192.0.2.2") && e.contains("timers.keepalive"),
        "{e}"
    );
    let mut c = config(65002, false);
    c.password = Some("x".repeat(81));
    assert!(c.validate().unwrap_err().to_string().contains("password"));
    let mut c = config(65002, false);
    c.families.clear();
    assert!(c.validate().unwrap_err().to_string().contains("families"));
    let mut c = config(65002, false);
    c.source_address = Some("2001:db8::1".parse().unwrap());
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("source_address"));
    assert!(HoldTime::from_secs(1).is_none() && HoldTime::from_secs(2).is_none());
    assert!(config(65002, false).validate().is_ok());
}
