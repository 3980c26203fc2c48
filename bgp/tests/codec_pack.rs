//! The UPDATE packer: identical attributes share UPDATEs, each filled to the 4096-octet limit;
//! withdrawals are batched; End-of-RIB markers decode as such.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bytes::Bytes;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use metalroute_bgp::error::EncodeError;
use metalroute_bgp::packet::{
    encode_updates, end_of_rib, AsPath, Community, DecodeContext, EncodeContext, Family,
    LargeCommunity, Message, NextHop, PathAttributes, Update, MAX_MESSAGE_LEN,
};

fn attrs(tag: u16) -> Arc<PathAttributes> {
    Arc::new(PathAttributes {
        as_path: AsPath::from_sequence([4_200_000_001]),
        communities: vec![Community::new(65000, tag), Community::NO_EXPORT],
        large_communities: vec![LargeCommunity {
            global_admin: 4_200_000_001,
            local_data1: 1,
            local_data2: u32::from(tag),
        }],
        med: Some(10),
        ..PathAttributes::default()
    })
}

fn host_v4(i: u32) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0xC633_0000 + i), 32).unwrap())
}

fn host_v6(i: u32) -> IpNet {
    IpNet::V6(Ipv6Net::new(Ipv6Addr::from((0x2001_0db8u128 << 96) | u128::from(i)), 128).unwrap())
}

fn ectx() -> EncodeContext {
    EncodeContext {
        four_octet_as: true,
        ipv4_via_mp: false,
    }
}

fn decode(msgs: &[Bytes]) -> Vec<Update> {
    let ctx = DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    };
    msgs.iter()
        .map(|m| {
            assert!(m.len() <= MAX_MESSAGE_LEN, "{} octets", m.len());
            match Message::decode(m, &ctx) {
                Ok(Message::Update(u)) => {
                    assert!(!u.treat_as_withdraw && u.errors.is_empty(), "{u:?}");
                    u
                }
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

const NH4: NextHop = NextHop::Ipv4(Ipv4Addr::new(192, 0, 2, 1));

#[test]
fn ten_thousand_host_routes_fill_the_minimum_number_of_updates() {
    let a = attrs(1);
    let routes: Vec<_> = (0..10_000).map(|i| (host_v4(i), Arc::clone(&a))).collect();
    let msgs = encode_updates(Family::IPV4_UNICAST, &routes, &[], &NH4, &ectx()).unwrap();

    // The attribute block is the same in every message: measure it from a one-route UPDATE.
    let one = encode_updates(Family::IPV4_UNICAST, &routes[..1], &[], &NH4, &ectx()).unwrap();
    let attr_len = one[0].len() - 23 - 5;
    let per_msg = (MAX_MESSAGE_LEN - 23 - attr_len) / 5;
    let minimum = 10_000usize.div_ceil(per_msg);
    assert_eq!(msgs.len(), minimum, "{per_msg} /32 fit in one UPDATE");
    // All but the last are full to within one prefix of 4096 octets.
    for m in &msgs[..msgs.len() - 1] {
        assert!(m.len() > MAX_MESSAGE_LEN - 5, "{}", m.len());
    }

    let ups = decode(&msgs);
    let mut seen = BTreeSet::new();
    for u in &ups {
        assert_eq!(
            u.attributes.as_deref().map(|p| p.next_hop),
            Some(Some(Ipv4Addr::new(192, 0, 2, 1)))
        );
        let mut expected = (*a).clone();
        expected.next_hop = Some(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(u.attributes.as_deref(), Some(&expected));
        seen.extend(u.reachable());
    }
    let want: BTreeSet<IpNet> = routes.iter().map(|(p, _)| *p).collect();
    assert_eq!(seen, want);
}

#[test]
fn ipv6_routes_pack_into_mp_reach_with_extended_length() {
    let a = attrs(2);
    let routes: Vec<_> = (0..10_000).map(|i| (host_v6(i), Arc::clone(&a))).collect();
    let nh = NextHop::Ipv6LinkLocal {
        global: "2001:db8::1".parse().unwrap(),
        link_local: "fe80::1".parse().unwrap(),
    };
    let msgs = encode_updates(Family::IPV6_UNICAST, &routes, &[], &nh, &ectx()).unwrap();
    // Fixed part per message: header 19 + 4 length octets + attributes + MP_REACH header
    // (4 with extended length) + AFI/SAFI/NH len/NH/reserved (5 + 32).
    let one = encode_updates(Family::IPV6_UNICAST, &routes[..1], &[], &nh, &ectx()).unwrap();
    let fixed_one = one[0].len() - 17; // MP_REACH there is short: 3-octet attribute header
    let per_msg = (MAX_MESSAGE_LEN - (fixed_one + 1)) / 17;
    assert_eq!(msgs.len(), 10_000usize.div_ceil(per_msg));
    let ups = decode(&msgs);
    let mut seen = BTreeSet::new();
    for u in &ups {
        let mp = u.mp_reach.as_ref().unwrap();
        assert_eq!(mp.next_hop, nh);
        assert!(u.nlri.is_empty());
        assert_eq!(u.attributes.as_deref().unwrap().next_hop, None);
        seen.extend(u.reachable());
    }
    assert_eq!(seen.len(), 10_000);
}

#[test]
fn routes_are_grouped_by_identical_attributes() {
    // Three attribute sets, interleaved, some as distinct Arcs with equal values.
    let sets = [attrs(1), attrs(2), attrs(3)];
    let routes: Vec<_> = (0..3_000)
        .map(|i| {
            let a = if i % 7 == 0 {
                Arc::new((*sets[(i % 3) as usize]).clone())
            } else {
                Arc::clone(&sets[(i % 3) as usize])
            };
            (host_v4(i), a)
        })
        .collect();
    let msgs = encode_updates(Family::IPV4_UNICAST, &routes, &[], &NH4, &ectx()).unwrap();
    let one = encode_updates(Family::IPV4_UNICAST, &routes[..1], &[], &NH4, &ectx()).unwrap();
    let per_msg = (MAX_MESSAGE_LEN - (one[0].len() - 5)) / 5;
    assert_eq!(msgs.len(), 3 * 1_000usize.div_ceil(per_msg));
    let ups = decode(&msgs);
    for u in &ups {
        let tag = u.attributes.as_ref().unwrap().communities[0].value();
        for p in u.reachable() {
            let IpNet::V4(p) = p else { panic!() };
            let i = u32::from(p.addr()) - 0xC633_0000;
            assert_eq!(u16::try_from(i % 3 + 1).unwrap(), tag);
        }
    }
}

#[test]
fn withdrawals_are_batched() {
    let w: Vec<IpNet> = (0..10_000).map(host_v4).collect();
    let msgs = encode_updates(Family::IPV4_UNICAST, &[], &w, &NH4, &ectx()).unwrap();
    assert_eq!(msgs.len(), 50_000usize.div_ceil(MAX_MESSAGE_LEN - 23));
    let ups = decode(&msgs);
    let n: usize = ups.iter().map(|u| u.withdrawn.len()).sum();
    assert_eq!(n, 10_000);
    assert!(ups.iter().all(|u| u.attributes.is_none()));

    let w6: Vec<IpNet> = (0..1_000).map(host_v6).collect();
    let nh = NextHop::Ipv6("2001:db8::1".parse().unwrap());
    let msgs = encode_updates(Family::IPV6_UNICAST, &[], &w6, &nh, &ectx()).unwrap();
    let ups = decode(&msgs);
    let got: Vec<IpNet> = ups.iter().flat_map(|u| u.unreachable()).collect();
    assert_eq!(got, w6);
}

#[test]
fn ipv4_via_mp_reach_when_asked() {
    let a = attrs(4);
    let routes = vec![(host_v4(1), a)];
    let ctx = EncodeContext {
        ipv4_via_mp: true,
        ..ectx()
    };
    let nh = NextHop::Ipv6("2001:db8::1".parse().unwrap());
    let msgs = encode_updates(Family::IPV4_UNICAST, &routes, &[], &nh, &ctx).unwrap();
    let ups = decode(&msgs);
    let mp = ups[0].mp_reach.as_ref().unwrap();
    assert_eq!(mp.family(), Family::IPV4_UNICAST);
    assert_eq!(mp.next_hop, nh);
    assert_eq!(ups[0].reachable(), vec![host_v4(1)]);
}

#[test]
fn wrong_family_is_an_error() {
    let routes = vec![(host_v6(1), attrs(1))];
    let err = encode_updates(Family::IPV4_UNICAST, &routes, &[], &NH4, &ectx()).unwrap_err();
    assert!(matches!(err, EncodeError::FamilyMismatch { .. }), "{err}");
    // An IPv6 family with an IPv4 next hop.
    let routes = vec![(host_v6(1), attrs(1))];
    assert!(encode_updates(Family::IPV6_UNICAST, &routes, &[], &NH4, &ectx()).is_err());
}

#[test]
fn end_of_rib_markers() {
    for family in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
        let m = end_of_rib(family, &ectx());
        let ups = decode(&[m]);
        assert_eq!(ups[0].end_of_rib(), Some(family));
    }
    assert_eq!(end_of_rib(Family::IPV4_UNICAST, &ectx()).len(), 23);
}
