//! Extended next hop (RFC 8950) and unnumbered sessions, sans-IO: the capability on the wire and
//! its negotiation, IPv4 NLRI in MP_REACH_NLRI with an IPv6 next hop (encode and decode), two
//! sessions wired back to back over link-local addresses exchanging IPv4 and IPv6 routes, and the
//! FSM of an unnumbered peer (waits until its neighbour is known, follows a new address without a
//! reset).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ipnet::IpNet;
use metalroute_bgp::config::{Asn, Family, PeerAsn, PeerConfig, PeerId, PeerKey};
use metalroute_bgp::fsm::{extended_next_hop_families, local_capabilities, ConnId, Direction};
use metalroute_bgp::fsm::{NoJitter, State};
use metalroute_bgp::packet::{
    encode_updates, frame, Afi, Capability, DecodeContext, EncodeContext, ExtendedNextHopFamily,
    Message, NextHop, Open, PathAttributes, Update,
};
use metalroute_bgp::session::{ConnAddrs, Session, SessionOutput};

const OUR_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x1);
const ROUTER_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x2);

fn enhe_ipv4() -> Capability {
    Capability::ExtendedNextHop(vec![ExtendedNextHopFamily {
        family: Family::IPV4_UNICAST,
        next_hop_afi: Afi::Ipv6,
    }])
}

fn unnumbered(asn: u32, peer: PeerAsn, id: [u8; 4]) -> PeerConfig {
    let mut c = PeerConfig::unnumbered(Asn(asn), peer, "veth0", Ipv4Addr::from(id));
    c.timers.connect_time = Duration::from_secs(10);
    c
}

#[test]
fn capability_is_announced_for_unnumbered_peers_and_round_trips() {
    let cfg = unnumbered(64511, PeerAsn::DynamicExternal, [192, 0, 2, 1]);
    let caps = local_capabilities(&cfg);
    assert!(caps.contains(&enhe_ipv4()), "{caps:?}");
    let open = Message::Open(Open {
        version: 4,
        my_as: 64511,
        hold_time: 90,
        router_id: Ipv4Addr::new(192, 0, 2, 1),
        capabilities: caps.clone(),
    });
    let bytes = open.to_bytes(&EncodeContext::default()).unwrap();
    // Capability 5, length 6: AFI 1, SAFI 1 (2 octets), next hop AFI 2.
    let wire = [5u8, 6, 0, 1, 0, 1, 0, 2];
    assert!(
        bytes.windows(wire.len()).any(|w| w == wire),
        "capability 5 on the wire: {bytes:02x?}"
    );
    let back = Message::decode(&bytes, &DecodeContext::default()).unwrap();
    assert_eq!(back, open);

    // Numbered peers announce it only when asked.
    let mut numbered = PeerConfig::new(
        Asn(64511),
        PeerAsn::Fixed(Asn(64512)),
        "2001:db8::2".parse().unwrap(),
        Ipv4Addr::new(192, 0, 2, 1),
    );
    numbered.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    assert!(!local_capabilities(&numbered)
        .iter()
        .any(|c| matches!(c, Capability::ExtendedNextHop(_))));
    numbered.extended_next_hop = true;
    assert!(local_capabilities(&numbered).contains(&enhe_ipv4()));
    // Without IPv4 unicast there is nothing to announce it for.
    numbered.families = vec![Family::IPV6_UNICAST];
    assert!(!local_capabilities(&numbered)
        .iter()
        .any(|c| matches!(c, Capability::ExtendedNextHop(_))));
}

#[test]
fn negotiation_needs_both_sides_and_an_ipv6_next_hop() {
    let ours = vec![enhe_ipv4()];
    assert_eq!(
        extended_next_hop_families(&ours, &[enhe_ipv4()]),
        vec![Family::IPV4_UNICAST]
    );
    assert!(extended_next_hop_families(&ours, &[]).is_empty());
    assert!(extended_next_hop_families(&[], &[enhe_ipv4()]).is_empty());
    // The peer offers IPv4 next hops for IPv6 NLRI only (or VPN families): not what we use.
    let other = Capability::ExtendedNextHop(vec![
        ExtendedNextHopFamily {
            family: Family::IPV6_UNICAST,
            next_hop_afi: Afi::Ipv4,
        },
        ExtendedNextHopFamily {
            family: Family::new(Afi::Ipv4, metalroute_bgp::packet::Safi::Other(128)),
            next_hop_afi: Afi::Ipv6,
        },
    ]);
    assert!(extended_next_hop_families(&ours, &[other]).is_empty());
}

#[test]
fn malformed_capability_is_an_open_error() {
    // Capability 5 with a 4-octet value (not a multiple of 6).
    let body_caps = [2u8, 6, 5, 4, 0, 1, 0, 1];
    let mut open = vec![4u8, 0xfb, 0xff, 0, 90, 192, 0, 2, 2, body_caps.len() as u8];
    open.extend_from_slice(&body_caps);
    let mut msg = vec![0xffu8; 16];
    msg.extend_from_slice(&((19 + open.len()) as u16).to_be_bytes());
    msg.push(1);
    msg.extend_from_slice(&open);
    let err = Message::decode(&msg, &DecodeContext::default()).unwrap_err();
    assert_eq!(
        err.to_notification().code,
        metalroute_bgp::packet::ErrorCode::Open,
        "{err}"
    );
}

fn attrs() -> Arc<PathAttributes> {
    Arc::new(PathAttributes {
        as_path: metalroute_bgp::packet::AsPath::from_sequence([64511]),
        ..PathAttributes::default()
    })
}

#[test]
fn ipv4_nlri_with_ipv6_next_hop_encode_and_decode() {
    let nh = NextHop::Ipv6LinkLocal {
        global: OUR_LL,
        link_local: OUR_LL,
    };
    let p: IpNet = "198.51.100.7/32".parse().unwrap();
    let gone: IpNet = "198.51.100.8/32".parse().unwrap();
    let ctx = EncodeContext {
        four_octet_as: true,
        ipv4_via_mp: true,
    };
    let msgs = encode_updates(Family::IPV4_UNICAST, &[(p, attrs())], &[gone], &nh, &ctx).unwrap();
    assert_eq!(msgs.len(), 2, "one withdrawal, one announcement");
    let dctx = DecodeContext {
        four_octet_as: true,
        families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
        external: true,
    };
    let Message::Update(w) = Message::decode(&msgs[0], &dctx).unwrap() else {
        panic!("not an UPDATE")
    };
    assert!(w.withdrawn.is_empty(), "no classic withdrawn field");
    assert_eq!(w.unreachable(), vec![gone]);
    assert_eq!(w.mp_unreach.as_ref().unwrap().afi, Afi::Ipv4);
    let Message::Update(u) = Message::decode(&msgs[1], &dctx).unwrap() else {
        panic!("not an UPDATE")
    };
    assert!(u.nlri.is_empty(), "no classic NLRI");
    assert!(u.errors.is_empty(), "{:?}", u.errors);
    let mp = u.mp_reach.as_ref().unwrap();
    assert_eq!((mp.afi, mp.next_hop), (Afi::Ipv4, nh));
    assert_eq!(u.reachable(), vec![p]);
    assert!(
        u.attributes.as_ref().unwrap().next_hop.is_none(),
        "no NEXT_HOP attribute with MP_REACH only"
    );
    // MP_REACH header on the wire: AFI 1, SAFI 1, next hop length 32.
    let hdr = [0u8, 1, 1, 32];
    assert!(msgs[1].windows(4).any(|w| w == hdr), "{:02x?}", msgs[1]);

    // A 16-octet (link-local only) next hop for IPv4 NLRI decodes too.
    let nh16 = NextHop::Ipv6(ROUTER_LL);
    let one = encode_updates(Family::IPV4_UNICAST, &[(p, attrs())], &[], &nh16, &ctx).unwrap();
    let Message::Update(u) = Message::decode(&one[0], &dctx).unwrap() else {
        panic!("not an UPDATE")
    };
    assert_eq!(u.mp_reach.unwrap().next_hop, nh16);

    // Without ipv4_via_mp an IPv6 next hop cannot be used for classic IPv4 NLRI.
    let classic = EncodeContext {
        four_octet_as: true,
        ipv4_via_mp: false,
    };
    assert!(encode_updates(Family::IPV4_UNICAST, &[(p, attrs())], &[], &nh, &classic).is_err());
}

#[test]
fn decodes_an_update_as_frr_sends_it_to_an_unnumbered_peer() {
    // Captured from FRR 8.4.4 (`neighbor to-a interface remote-as external`) on the link-local
    // veth of tests/netns/tests/interop_frr_unnumbered.rs: MP_REACH_NLRI first (AFI 1, SAFI 1,
    // 32-octet next hop with FRR's link-local address in both halves, NLRI 203.0.113.0/24),
    // then ORIGIN IGP, AS_PATH 64512 and MED 0. No NEXT_HOP attribute, no classic NLRI.
    const FRR_UPDATE: &str = "ffffffffffffffffffffffffffffffff00590200000042900e002900010120fe80000000000000c8953afffe2570f7fe80000000000000c8953afffe2570f70018cb0071400101005002000602010000fc0080040400000000";
    let msg: Vec<u8> = (0..FRR_UPDATE.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&FRR_UPDATE[i..i + 2], 16).unwrap())
        .collect();
    let frr_ll: Ipv6Addr = "fe80::c895:3aff:fe25:70f7".parse().unwrap();
    let ctx = DecodeContext {
        four_octet_as: true,
        families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
        external: true,
    };
    let Message::Update(u) = Message::decode(&msg, &ctx).unwrap() else {
        panic!("not an UPDATE")
    };
    assert!(
        u.errors.is_empty() && !u.treat_as_withdraw,
        "{:?}",
        u.errors
    );
    assert!(u.nlri.is_empty());
    assert_eq!(
        u.reachable(),
        vec!["203.0.113.0/24".parse::<IpNet>().unwrap()]
    );
    assert_eq!(
        u.mp_reach.as_ref().unwrap().next_hop,
        NextHop::Ipv6LinkLocal {
            global: frr_ll,
            link_local: frr_ll
        }
    );
    let a = u.attributes.unwrap();
    assert_eq!(a.as_path.to_string(), "64512");
    assert_eq!(a.med, Some(0));

    // Our encoding of the same route has the same MP_REACH value (FRR sends what we send).
    let nh = NextHop::Ipv6LinkLocal {
        global: frr_ll,
        link_local: frr_ll,
    };
    let ours = encode_updates(
        Family::IPV4_UNICAST,
        &[("203.0.113.0/24".parse().unwrap(), attrs())],
        &[],
        &nh,
        &EncodeContext {
            four_octet_as: true,
            ipv4_via_mp: true,
        },
    )
    .unwrap();
    let mp_value = &msg[27..27 + 0x29];
    assert!(
        ours[0].windows(mp_value.len()).any(|w| w == mp_value),
        "{:02x?}",
        ours[0]
    );
}

/// Two sessions wired back to back over link-local addresses.
struct Pair {
    a: Session,
    b: Session,
    ca: ConnId,
    cb: ConnId,
    now: Instant,
}

fn addrs(ll: Ipv6Addr, global: Option<Ipv6Addr>) -> ConnAddrs {
    ConnAddrs {
        local: SocketAddr::V6(SocketAddrV6::new(ll, 179, 0, 3)),
        other_family: None,
        ipv6_global: global,
    }
}

impl Pair {
    /// `a` is our unnumbered session (neighbour learned), `b` the router's.
    fn up(b_cfg: PeerConfig, a_global: Option<Ipv6Addr>) -> Pair {
        let now = Instant::now();
        let mut a_cfg = unnumbered(64511, PeerAsn::DynamicExternal, [192, 0, 2, 1]);
        a_cfg.address = IpAddr::V6(ROUTER_LL);
        let mut a = Session::new(a_cfg, Box::new(NoJitter));
        let mut b = Session::new(b_cfg, Box::new(NoJitter));
        a.start(now);
        b.start(now);
        let ca = drain(&mut a)
            .into_iter()
            .find_map(|o| match o {
                SessionOutput::Connect(c) => Some(c),
                _ => None,
            })
            .expect("a connects: its neighbour is known");
        drain(&mut b);
        let cb = b.next_conn_id();
        a.connected_with(now, ca, Direction::Outbound, addrs(OUR_LL, a_global));
        b.connected_with(now, cb, Direction::Inbound, addrs(ROUTER_LL, None));
        let mut p = Pair { a, b, ca, cb, now };
        p.pump();
        assert_eq!(p.a.fsm().state(), State::Established);
        assert_eq!(p.b.fsm().state(), State::Established);
        p
    }

    /// Moves bytes both ways until both sides are quiet.
    fn pump(&mut self) {
        for _ in 0..50 {
            let from_a = transmitted(&mut self.a);
            let from_b = transmitted(&mut self.b);
            if from_a.is_empty() && from_b.is_empty() {
                return;
            }
            for m in from_a {
                self.b.received(self.now, self.cb, &m);
            }
            for m in from_b {
                self.a.received(self.now, self.ca, &m);
            }
        }
        panic!("sessions never went quiet");
    }
}

fn drain(s: &mut Session) -> Vec<SessionOutput> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn transmitted(s: &mut Session) -> Vec<Bytes> {
    let mut out = Vec::new();
    for o in drain(s) {
        if let SessionOutput::Transmit { data, .. } = o {
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(n)) = frame(&buf) {
                out.push(buf.split_to(n).freeze());
            }
        }
    }
    out
}

fn router(enhe: bool) -> PeerConfig {
    let mut c = PeerConfig::new(
        Asn(64512),
        PeerAsn::Fixed(Asn(64511)),
        IpAddr::V6(OUR_LL),
        Ipv4Addr::new(192, 0, 2, 2),
    );
    c.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    c.extended_next_hop = enhe;
    c
}

fn routes(list: &[&str]) -> HashMap<IpNet, Arc<PathAttributes>> {
    list.iter()
        .map(|p| (p.parse().unwrap(), Arc::new(PathAttributes::default())))
        .collect()
}

#[test]
fn ipv4_and_ipv6_routes_cross_a_link_local_session_with_ipv6_next_hops() {
    let mut p = Pair::up(router(true), None);
    let st = p.a.status(p.now);
    assert_eq!(st.extended_next_hop, vec![Family::IPV4_UNICAST]);
    assert_eq!(st.interface.as_deref(), Some("veth0"));
    assert_eq!(st.neighbor, Some(ROUTER_LL));
    let now = p.now;
    p.a.set_advertisements(now, Family::IPV4_UNICAST, routes(&["198.51.100.1/32"]))
        .unwrap();
    p.a.set_advertisements(now, Family::IPV6_UNICAST, routes(&["2001:db8:1::1/128"]))
        .unwrap();
    p.b.set_advertisements(now, Family::IPV4_UNICAST, routes(&["203.0.113.0/24"]))
        .unwrap();
    p.pump();
    let v4 = p.b.received_routes(Family::IPV4_UNICAST);
    assert_eq!(v4.len(), 1, "{v4:?}");
    assert_eq!(v4[0].prefix.to_string(), "198.51.100.1/32");
    assert_eq!(
        v4[0].next_hop,
        Some(IpAddr::V6(OUR_LL)),
        "IPv4 route, IPv6 next hop"
    );
    assert!(v4[0].attributes.next_hop.is_none());
    let v6 = p.b.received_routes(Family::IPV6_UNICAST);
    assert_eq!(v6[0].next_hop, Some(IpAddr::V6(OUR_LL)));
    // The other way: the router's IPv4 route reaches our Adj-RIB-In with its IPv6 next hop.
    let ours = p.a.received_routes(Family::IPV4_UNICAST);
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(ours[0].next_hop, Some(IpAddr::V6(ROUTER_LL)));

    // Withdrawal goes through MP_UNREACH for IPv4 as well.
    p.a.set_advertisements(now, Family::IPV4_UNICAST, routes(&[]))
        .unwrap();
    p.pump();
    assert!(p.b.received_routes(Family::IPV4_UNICAST).is_empty());
    assert_eq!(p.b.received_routes(Family::IPV6_UNICAST).len(), 1);
}

#[test]
fn global_address_on_the_link_goes_first_in_the_next_hop() {
    let global: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let mut p = Pair::up(router(true), Some(global));
    let now = p.now;
    p.a.set_advertisements(now, Family::IPV6_UNICAST, routes(&["2001:db8:1::1/128"]))
        .unwrap();
    p.pump();
    let v6 = p.b.received_routes(Family::IPV6_UNICAST);
    assert_eq!(v6[0].next_hop, Some(IpAddr::V6(global)));
}

#[test]
fn without_the_peers_capability_ipv4_is_not_sent_over_a_link_local_session() {
    let mut p = Pair::up(router(false), None);
    assert!(p.a.status(p.now).extended_next_hop.is_empty());
    let now = p.now;
    p.a.set_advertisements(now, Family::IPV4_UNICAST, routes(&["198.51.100.1/32"]))
        .unwrap();
    p.a.set_advertisements(now, Family::IPV6_UNICAST, routes(&["2001:db8:1::1/128"]))
        .unwrap();
    p.pump();
    // No IPv4 next hop exists on the link and RFC 8950 was not agreed: IPv4 stays back.
    assert!(p.b.received_routes(Family::IPV4_UNICAST).is_empty());
    assert_eq!(p.b.received_routes(Family::IPV6_UNICAST).len(), 1);
}

#[test]
fn unnumbered_session_waits_for_its_neighbour_then_connects() {
    let now = Instant::now();
    let mut s = Session::new(
        unnumbered(64511, PeerAsn::DynamicExternal, [192, 0, 2, 1]),
        Box::new(NoJitter),
    );
    s.start(now);
    let out = drain(&mut s);
    assert!(
        !out.iter().any(|o| matches!(o, SessionOutput::Connect(_))),
        "{out:?}"
    );
    assert_eq!(s.fsm().state(), State::Active);
    // Timers never make it connect to nobody.
    let later = now + Duration::from_secs(300);
    s.handle_timeout(later);
    assert!(!drain(&mut s)
        .iter()
        .any(|o| matches!(o, SessionOutput::Connect(_))));

    // Learned from a Router Advertisement: connect at once.
    s.set_neighbor(later, ROUTER_LL);
    let out = drain(&mut s);
    let first = out
        .iter()
        .find_map(|o| match o {
            SessionOutput::Connect(c) => Some(*c),
            _ => None,
        })
        .expect("connects once the neighbour is known");
    assert_eq!(s.fsm().state(), State::Connect);
    assert_eq!(s.config().address, IpAddr::V6(ROUTER_LL));

    // The same address again changes nothing.
    s.set_neighbor(later, ROUTER_LL);
    assert!(drain(&mut s).is_empty());

    // A new address while connecting: the old attempt is abandoned, a new one starts.
    let other: Ipv6Addr = "fe80::3".parse().unwrap();
    s.set_neighbor(later, other);
    let out = drain(&mut s);
    assert!(
        out.iter()
            .any(|o| matches!(o, SessionOutput::Close(c) if *c == first)),
        "{out:?}"
    );
    assert!(out.iter().any(|o| matches!(o, SessionOutput::Connect(_))));
}

#[test]
fn reapplying_the_configuration_keeps_the_learned_neighbour_and_the_session() {
    let mut p = Pair::up(router(true), None);
    let now = p.now;
    // The agent re-applies the configuration it has (neighbour unknown to it): no reset.
    p.a.reconfigure(
        now,
        unnumbered(64511, PeerAsn::DynamicExternal, [192, 0, 2, 1]),
    );
    assert!(drain(&mut p.a)
        .iter()
        .all(|o| !matches!(o, SessionOutput::Close(_))));
    assert_eq!(p.a.fsm().state(), State::Established);
    assert_eq!(p.a.config().address, IpAddr::V6(ROUTER_LL));
    // A new neighbour address alone does not reset an established session either.
    let mut moved = unnumbered(64511, PeerAsn::DynamicExternal, [192, 0, 2, 1]);
    moved.address = "fe80::9".parse().unwrap();
    p.a.reconfigure(now, moved);
    assert_eq!(p.a.fsm().state(), State::Established);
    // A real parameter change does reset it.
    let mut changed = unnumbered(64511, PeerAsn::Fixed(Asn(64512)), [192, 0, 2, 1]);
    changed.timers.hold_time = metalroute_bgp::config::HoldTime::from_secs(30).unwrap();
    p.a.reconfigure(now, changed);
    assert_ne!(p.a.fsm().state(), State::Established);
}

#[test]
fn interface_keys_are_unambiguous_and_print_the_interface() {
    let a = PeerKey::interface(None, "veth0");
    let b = PeerKey::interface(None, "veth1");
    let c = PeerKey::interface(Some("red".into()), "veth0");
    assert_ne!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.interface_name(), Some("veth0"));
    assert_eq!(a.peer_address(), None);
    assert_eq!(a.id, PeerId::Interface("veth0".into()));
    assert_eq!(a.to_string(), "veth0");
    assert_eq!(c.to_string(), "veth0%red");
    assert_eq!(c.label(), "veth0");
    let numbered = PeerKey::address(Some("red".into()), "192.0.2.1".parse().unwrap());
    assert_eq!(numbered.label(), "192.0.2.1");
    assert_eq!(numbered.to_string(), "192.0.2.1%red");
    assert_eq!(numbered.interface_name(), None);
    // No address is ever taken for an interface, whatever range it is in.
    for ip in [
        "::1",
        "::",
        "::ffff:192.0.2.1",
        "192.0.2.1",
        "fe80::1",
        "2001:db8::1",
    ] {
        let k = PeerKey::address(None, ip.parse().unwrap());
        assert_eq!(k.interface_name(), None, "{ip}");
        assert_eq!(k.label(), ip, "{ip}");
    }
    // The key of an unnumbered config does not change when its neighbour is learned.
    let mut cfg = unnumbered(64511, PeerAsn::DynamicExternal, [192, 0, 2, 1]);
    let before = cfg.key();
    cfg.address = IpAddr::V6(ROUTER_LL);
    assert_eq!(cfg.key(), before);
    assert_eq!(before, a);
}

#[test]
fn invalid_unnumbered_configurations_name_the_field() {
    let base = unnumbered(64511, PeerAsn::DynamicExternal, [192, 0, 2, 1]);
    base.validate().unwrap();
    // TCP MD5 is keyed by the neighbour's link-local address once learned: allowed.
    let mut with_password = base.clone();
    with_password.password = Some("s3cret".into());
    with_password.validate().unwrap();
    let check = |f: &dyn Fn(&mut PeerConfig), field: &str| {
        let mut c = base.clone();
        f(&mut c);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(field), "{field}: {e}");
    };
    check(
        &|c| c.interface = Some("a-very-long-interface".into()),
        "interface",
    );
    check(&|c| c.interface = Some("eth/0".into()), "interface");
    check(&|c| c.interface = Some(String::new()), "interface");
    check(&|c| c.address = "2001:db8::2".parse().unwrap(), "address");
    check(&|c| c.ebgp_multihop = Some(2), "ebgp_multihop");
    check(
        &|c| c.source_address = Some("fe80::1".parse().unwrap()),
        "source_address",
    );
    // Numbered peers: link-local without an interface is refused; the IETF-reserved 0000::/8
    // range is an ordinary (if odd) address and does not collide with interface keys.
    let mut n = base.clone();
    n.interface = None;
    n.address = "fe80::2".parse().unwrap();
    assert!(n.validate().unwrap_err().to_string().contains("link-local"));
    n.address = "76:6574:6830::".parse().unwrap();
    n.validate().unwrap();
    assert_ne!(n.key(), PeerKey::interface(None, "veth0"));
    let _ = Update::default();
}
