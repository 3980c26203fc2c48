//! Decodes BGP messages captured from real FRR and GoBGP sessions (tests/fixtures, see its
//! README) and checks their fields; re-encodes every message and decodes it again.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use ipnet::IpNet;
use metalroute_bgp::packet::{
    frame, Afi, Capability, CeaseSubcode, Community, DecodeContext, EncodeContext, ErrorCode,
    Family, LargeCommunity, Message, NextHop, Origin, Safi, Update,
};

fn load(name: &str) -> Vec<Vec<u8>> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).expect("hex"))
                .collect()
        })
        .collect()
}

fn ctx(family: Family) -> DecodeContext {
    DecodeContext {
        four_octet_as: true,
        families: vec![family],
        external: true,
    }
}

fn decode_all(name: &str, family: Family) -> Vec<Message> {
    load(name)
        .iter()
        .map(|m| {
            assert_eq!(frame(m), Ok(Some(m.len())), "{name}: frame");
            Message::decode(m, &ctx(family)).unwrap_or_else(|e| panic!("{name}: {e}"))
        })
        .collect()
}

fn updates(msgs: &[Message]) -> Vec<&Update> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Update(u) => Some(u),
            _ => None,
        })
        .collect()
}

fn find<'a>(ups: &[&'a Update], prefix: &str) -> &'a Update {
    let p: IpNet = prefix.parse().expect("prefix");
    ups.iter()
        .copied()
        .find(|u| u.reachable().contains(&p))
        .unwrap_or_else(|| panic!("no UPDATE announces {prefix}"))
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("ipv4")
}

#[test]
fn frr_ipv4_session() {
    let msgs = decode_all("frr_v4_session.hex", Family::IPV4_UNICAST);
    let Message::Open(open) = &msgs[0] else {
        panic!("first message is not OPEN: {:?}", msgs[0]);
    };
    assert_eq!(open.version, 4);
    assert_eq!(open.my_as, 4_200_000_001);
    assert_eq!(open.hold_time, 180);
    assert_eq!(open.router_id, v4("192.0.2.1"));
    assert_eq!(open.four_octet_as(), Some(4_200_000_001));
    assert!(open.capabilities.contains(&Capability::Multiprotocol {
        afi: Afi::Ipv4,
        safi: Safi::Unicast
    }));
    assert!(open.capabilities.contains(&Capability::RouteRefresh));
    assert!(open
        .capabilities
        .contains(&Capability::EnhancedRouteRefresh));
    assert!(open.graceful_restart().is_some());
    // FRR's hostname capability (73) is not interpreted but kept.
    assert!(open
        .capabilities
        .iter()
        .any(|c| matches!(c, Capability::Unknown { code: 73, value } if value.windows(8).any(|w| w == b"codecfrr"))));
    assert_eq!(open.families(), vec![Family::IPV4_UNICAST]);
    assert_eq!(msgs[1], Message::Keepalive);

    let ups = updates(&msgs);
    let u = find(&ups, "203.0.113.0/25");
    let a = u.attributes.as_ref().expect("attributes");
    assert!(!u.treat_as_withdraw && u.discarded.is_empty(), "{u:?}");
    assert_eq!(a.origin, Origin::Igp);
    assert_eq!(a.as_path.segments.len(), 1);
    assert_eq!(a.as_path.segments[0].asns, vec![4_200_000_001]);
    assert_eq!(a.next_hop, Some(v4("192.0.2.1")));
    assert_eq!(a.med, Some(10));
    assert_eq!(
        a.communities,
        vec![Community::new(4200, 1), Community::GRACEFUL_SHUTDOWN]
    );
    assert_eq!(
        a.large_communities,
        vec![LargeCommunity {
            global_admin: 4_200_000_001,
            local_data1: 1,
            local_data2: 2
        }]
    );

    let agg = find(&ups, "203.0.113.0/24");
    let a = agg.attributes.as_ref().expect("attributes");
    assert!(a.atomic_aggregate);
    let aggregator = a.aggregator.expect("aggregator");
    assert_eq!(aggregator.asn, 4_200_000_001);
    assert_eq!(aggregator.address, v4("192.0.2.1"));

    assert!(ups
        .iter()
        .any(|u| u.end_of_rib() == Some(Family::IPV4_UNICAST)));
    // FRR re-advertised GoBGP's routes and then withdrew 198.51.100.200/32.
    assert!(ups.iter().any(|u| u
        .unreachable()
        .contains(&"198.51.100.200/32".parse().unwrap())));
    let rr = msgs
        .iter()
        .find_map(|m| match m {
            Message::RouteRefresh(r) => Some(*r),
            _ => None,
        })
        .expect("ROUTE-REFRESH");
    assert_eq!(rr.family(), Family::IPV4_UNICAST);
    assert_eq!(rr.subtype, 0);
}

#[test]
fn frr_ipv6_session_link_local_next_hop() {
    let msgs = decode_all("frr_v6_session.hex", Family::IPV6_UNICAST);
    let Message::Open(open) = &msgs[0] else {
        panic!("not OPEN");
    };
    assert_eq!(open.families(), vec![Family::IPV6_UNICAST]);
    let ups = updates(&msgs);
    let u = find(&ups, "2001:db8:aa::/48");
    let mp = u.mp_reach.as_ref().expect("MP_REACH");
    assert_eq!(mp.family(), Family::IPV6_UNICAST);
    match mp.next_hop {
        NextHop::Ipv6LinkLocal { global, link_local } => {
            assert_eq!(global, "2001:db8::1".parse::<Ipv6Addr>().unwrap());
            assert_eq!(link_local.segments()[0], 0xfe80);
        }
        other => panic!("expected global + link-local next hop, got {other:?}"),
    }
    let a = u.attributes.as_ref().expect("attributes");
    assert_eq!(a.next_hop, None);
    assert_eq!(a.communities, vec![Community::new(4200, 6)]);
    assert_eq!(a.large_communities[0].local_data1, 6);
    let w = ups
        .iter()
        .find(|u| u.mp_unreach.is_some())
        .expect("MP_UNREACH");
    assert_eq!(
        w.unreachable(),
        vec!["2001:db8:101::/64".parse::<IpNet>().unwrap()]
    );
}

#[test]
fn gobgp_ipv4_session() {
    let msgs = decode_all("gobgp_v4_session.hex", Family::IPV4_UNICAST);
    let Message::Open(open) = &msgs[0] else {
        panic!("not OPEN");
    };
    assert_eq!(open.my_as, 65002);
    assert_eq!(open.hold_time, 90);
    assert_eq!(open.router_id, v4("192.0.2.2"));
    let gr = open
        .graceful_restart()
        .expect("graceful restart capability");
    assert_eq!(gr.restart_time_secs, 120);
    assert_eq!(gr.families.len(), 1);
    assert_eq!(gr.families[0].family, Family::IPV4_UNICAST);

    let ups = updates(&msgs);
    let u = find(&ups, "198.51.100.0/24");
    let a = u.attributes.as_ref().expect("attributes");
    assert_eq!(a.origin, Origin::Incomplete);
    assert_eq!(a.as_path.first_asn(), Some(65002));
    assert_eq!(a.med, Some(50));
    assert_eq!(
        a.communities,
        vec![Community::new(65002, 100), Community::NO_ADVERTISE]
    );
    assert_eq!(
        a.large_communities,
        vec![LargeCommunity {
            global_admin: 65002,
            local_data1: 7,
            local_data2: 8
        }]
    );
    let egp = find(&ups, "198.51.100.128/25");
    assert_eq!(egp.attributes.as_ref().unwrap().origin, Origin::Egp);
    assert!(ups
        .iter()
        .any(|u| u.withdrawn == vec!["198.51.100.200/32".parse().unwrap()]));

    let Some(Message::Notification(n)) = msgs.last() else {
        panic!("last message is not a NOTIFICATION");
    };
    assert_eq!(n.code, ErrorCode::Cease);
    assert_eq!(
        n.cease_subcode(),
        Some(CeaseSubcode::AdministrativeShutdown)
    );
    assert_eq!(
        n.shutdown_communication().as_deref(),
        Some("codec fixture: maintenance")
    );
}

#[test]
fn gobgp_ipv6_session_global_next_hop() {
    let msgs = decode_all("gobgp_v6_session.hex", Family::IPV6_UNICAST);
    let ups = updates(&msgs);
    let u = find(&ups, "2001:db8:100::/48");
    let mp = u.mp_reach.as_ref().expect("MP_REACH");
    assert_eq!(mp.next_hop, NextHop::Ipv6("2001:db8::2".parse().unwrap()));
    let a = u.attributes.as_ref().unwrap();
    assert_eq!(a.communities, vec![Community::new(65002, 600)]);
    assert_eq!(a.large_communities[0].local_data2, 1);
}

/// Every captured message survives decode -> encode -> decode unchanged; GoBGP's messages are
/// also re-encoded byte for byte (FRR always sets Extended Length on MP_REACH, we only when
/// needed, so its UPDATEs differ in that bit).
#[test]
fn captured_messages_reencode() {
    for (name, family) in [
        ("frr_v4_session.hex", Family::IPV4_UNICAST),
        ("frr_v6_session.hex", Family::IPV6_UNICAST),
        ("gobgp_v4_session.hex", Family::IPV4_UNICAST),
        ("gobgp_v6_session.hex", Family::IPV6_UNICAST),
    ] {
        let dctx = ctx(family);
        let ectx = EncodeContext {
            four_octet_as: true,
            ipv4_via_mp: false,
        };
        for raw in load(name) {
            let msg = Message::decode(&raw, &dctx).unwrap();
            let mut out = BytesMut::new();
            msg.encode(&ectx, &mut out).unwrap();
            let again = Message::decode(&out, &dctx).unwrap();
            assert_eq!(again, msg, "{name}");
            if name.starts_with("gobgp") {
                assert_eq!(out.as_ref(), raw.as_slice(), "{name}: {msg:?}");
            }
        }
    }
}
