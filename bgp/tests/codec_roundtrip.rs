//! Property tests: for every message type, decode(encode(m)) == m, toward 4-octet and 2-octet
//! speakers (the latter through AS_TRANS + AS4_PATH/AS4_AGGREGATOR).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use metalroute_bgp::error::EncodeError;
use metalroute_bgp::packet::attributes::type_code;
use metalroute_bgp::packet::open::KNOWN_CAPABILITY_CODES;
use metalroute_bgp::packet::{
    AddPathDirection, AddPathFamily, Afi, Aggregator, AsPath, AsSegment, Capability, Community,
    DecodeContext, EncodeContext, ErrorCode, ExtendedNextHopFamily, Family, GracefulRestartCap,
    GracefulRestartFamily, LargeCommunity, Message, MpReach, MpUnreach, NextHop, Notification,
    Open, Origin, PathAttributes, RawAttribute, RouteRefresh, Safi, SegmentType, Update,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

fn afi() -> impl Strategy<Value = Afi> {
    prop_oneof![
        Just(Afi::Ipv4),
        Just(Afi::Ipv6),
        any::<u16>().prop_map(Afi::from_u16)
    ]
}
fn safi() -> impl Strategy<Value = Safi> {
    prop_oneof![Just(Safi::Unicast), any::<u8>().prop_map(Safi::from_u8)]
}
fn family() -> impl Strategy<Value = Family> {
    (afi(), safi()).prop_map(|(a, s)| Family::new(a, s))
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        (afi(), safi()).prop_map(|(afi, safi)| Capability::Multiprotocol { afi, safi }),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        vec((family(), afi()), 0..5).prop_map(|l| Capability::ExtendedNextHop(
            l.into_iter()
                .map(|(family, next_hop_afi)| ExtendedNextHopFamily {
                    family,
                    next_hop_afi
                })
                .collect()
        )),
        (
            any::<bool>(),
            any::<bool>(),
            0u16..4096,
            vec((family(), any::<bool>()), 0..4)
        )
            .prop_map(
                |(r, n, t, f)| Capability::GracefulRestart(GracefulRestartCap {
                    restart_state: r,
                    notification: n,
                    restart_time_secs: t,
                    families: f
                        .into_iter()
                        .map(|(family, forwarding_preserved)| GracefulRestartFamily {
                            family,
                            forwarding_preserved
                        })
                        .collect(),
                })
            ),
        vec((family(), 1u8..4), 0..4).prop_map(|l| Capability::AddPath(
            l.into_iter()
                .map(|(family, d)| AddPathFamily {
                    family,
                    direction: match d {
                        1 => AddPathDirection::Receive,
                        2 => AddPathDirection::Send,
                        _ => AddPathDirection::Both,
                    },
                })
                .collect()
        )),
        (
            any::<u8>().prop_filter("unknown code", |c| !KNOWN_CAPABILITY_CODES.contains(c)),
            vec(any::<u8>(), 0..120)
        )
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    (
        prop_oneof![
            // AS 0 is refused on the wire (RFC 7607), so it never round-trips.
            (1u32..=65535).prop_map(|a| (a, false)),
            (1u32..).prop_map(|a| (a, true))
        ],
        prop_oneof![Just(0u16), 3u16..],
        1u32..,
        vec(capability(), 0..12),
    )
        .prop_map(|((my_as, four), hold_time, id, mut capabilities)| {
            if four || my_as > 65535 {
                capabilities.push(Capability::FourOctetAs(my_as));
            }
            Open {
                version: 4,
                my_as,
                hold_time,
                router_id: Ipv4Addr::from(id),
                capabilities,
            }
        })
}

fn notification() -> impl Strategy<Value = Notification> {
    (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..200))
        .prop_map(|(c, s, d)| Notification::new(ErrorCode::from_u8(c), s, d))
}

fn route_refresh() -> impl Strategy<Value = RouteRefresh> {
    (afi(), safi(), any::<u8>()).prop_map(|(afi, safi, subtype)| RouteRefresh {
        afi,
        safi,
        subtype,
    })
}

fn v4net() -> impl Strategy<Value = Ipv4Net> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, l)| Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc())
}
fn v6net() -> impl Strategy<Value = Ipv6Net> {
    (any::<u128>(), 0u8..=128)
        .prop_map(|(a, l)| Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc())
}
fn valid_v4_next_hop() -> impl Strategy<Value = Ipv4Addr> {
    (1u8..224, any::<[u8; 3]>())
        .prop_filter("not loopback", |(a, _)| *a != 127)
        .prop_map(|(a, [b, c, d])| Ipv4Addr::new(a, b, c, d))
}

/// AS path; `two_octet` leaves out confederation segments (AS4_PATH cannot carry them).
fn as_path(two_octet: bool) -> impl Strategy<Value = AsPath> {
    let kind = if two_octet {
        prop_oneof![Just(SegmentType::Sequence), Just(SegmentType::Set)].boxed()
    } else {
        prop_oneof![
            Just(SegmentType::Sequence),
            Just(SegmentType::Set),
            Just(SegmentType::ConfedSequence),
            Just(SegmentType::ConfedSet)
        ]
        .boxed()
    };
    let asn = prop_oneof![1u32..=65535, any::<u32>()];
    vec((kind, vec(asn, 1..20)), 0..4).prop_map(|segs| AsPath {
        segments: segs
            .into_iter()
            .map(|(kind, asns)| AsSegment { kind, asns })
            .collect(),
    })
}

fn attributes(two_octet: bool, with_next_hop: bool) -> impl Strategy<Value = PathAttributes> {
    (
        (
            prop_oneof![
                Just(Origin::Igp),
                Just(Origin::Egp),
                Just(Origin::Incomplete)
            ],
            as_path(two_octet),
            valid_v4_next_hop(),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
            any::<bool>(),
            proptest::option::of((any::<u32>(), any::<u32>())),
        ),
        (
            vec(any::<u32>(), 0..10),
            proptest::option::of(any::<u32>()),
            vec(any::<u32>(), 0..4),
            vec(any::<(u32, u32, u32)>(), 0..5),
            btree_map(
                any::<u8>().prop_filter("unknown type", |t| !type_code::KNOWN.contains(t)),
                vec(any::<u8>(), 0..300),
                0..3,
            ),
        ),
    )
        .prop_map(
            move |(
                (origin, as_path, nh, med, local_pref, atomic_aggregate, agg),
                (comms, originator, clusters, large, unknown),
            )| PathAttributes {
                origin,
                as_path,
                next_hop: with_next_hop.then_some(nh),
                med,
                local_pref,
                atomic_aggregate,
                aggregator: agg.map(|(asn, a)| Aggregator {
                    asn,
                    address: Ipv4Addr::from(a),
                }),
                communities: comms.into_iter().map(Community).collect(),
                originator_id: originator.map(Ipv4Addr::from),
                cluster_list: clusters.into_iter().map(Ipv4Addr::from).collect(),
                large_communities: large
                    .into_iter()
                    .map(|(g, a, b)| LargeCommunity {
                        global_admin: g,
                        local_data1: a,
                        local_data2: b,
                    })
                    .collect(),
                unknown: unknown_attrs(unknown),
            },
        )
}

fn unknown_attrs(m: BTreeMap<u8, Vec<u8>>) -> Vec<RawAttribute> {
    m.into_iter()
        .map(|(type_code, value)| RawAttribute {
            flags: 0xe0,
            type_code,
            value,
        })
        .collect()
}

fn next_hop_for(afi: Afi) -> BoxedStrategy<NextHop> {
    let v6 = prop_oneof![
        any::<u128>().prop_map(|a| NextHop::Ipv6(Ipv6Addr::from(a))),
        (any::<u128>(), any::<u128>()).prop_map(|(g, l)| NextHop::Ipv6LinkLocal {
            global: Ipv6Addr::from(g),
            link_local: Ipv6Addr::from(l)
        }),
    ];
    match afi {
        Afi::Ipv4 => prop_oneof![
            any::<u32>().prop_map(|a| NextHop::Ipv4(Ipv4Addr::from(a))),
            v6
        ]
        .boxed(),
        _ => v6.boxed(),
    }
}

fn prefixes(afi: Afi) -> BoxedStrategy<Vec<IpNet>> {
    match afi {
        Afi::Ipv4 => vec(v4net().prop_map(IpNet::V4), 0..40).boxed(),
        _ => vec(v6net().prop_map(IpNet::V6), 0..40).boxed(),
    }
}

fn mp_reach() -> impl Strategy<Value = MpReach> {
    prop_oneof![Just(Afi::Ipv4), Just(Afi::Ipv6)].prop_flat_map(|afi| {
        (next_hop_for(afi), prefixes(afi)).prop_map(move |(next_hop, nlri)| MpReach {
            afi,
            safi: Safi::Unicast,
            next_hop,
            nlri,
        })
    })
}

fn mp_unreach() -> impl Strategy<Value = MpUnreach> {
    prop_oneof![Just(Afi::Ipv4), Just(Afi::Ipv6)].prop_flat_map(|afi| {
        prefixes(afi).prop_map(move |withdrawn| MpUnreach {
            afi,
            safi: Safi::Unicast,
            withdrawn,
        })
    })
}

fn update(two_octet: bool) -> impl Strategy<Value = Update> {
    (
        vec(v4net(), 0..40),
        vec(v4net(), 0..40),
        proptest::option::of(mp_reach()),
        proptest::option::of(mp_unreach()),
        any::<bool>(),
    )
        .prop_flat_map(move |(withdrawn, nlri, mp_reach, mp_unreach, want_attrs)| {
            let needs_attrs =
                !nlri.is_empty() || mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
            let attrs = if needs_attrs || want_attrs {
                proptest::option::of(attributes(two_octet, !nlri.is_empty()))
                    .prop_filter("attributes needed", move |a| a.is_some() || !needs_attrs)
                    .boxed()
            } else {
                Just(None).boxed()
            };
            attrs.prop_map(move |attributes| Update {
                withdrawn: withdrawn.clone(),
                attributes: attributes.map(Arc::new),
                nlri: nlri.clone(),
                mp_reach: mp_reach.clone(),
                mp_unreach: mp_unreach.clone(),
                treat_as_withdraw: false,
                discarded: Vec::new(),
                errors: Vec::new(),
            })
        })
}

fn message(two_octet: bool) -> impl Strategy<Value = Message> {
    prop_oneof![
        open().prop_map(Message::Open),
        update(two_octet).prop_map(Message::Update),
        notification().prop_map(Message::Notification),
        Just(Message::Keepalive),
        route_refresh().prop_map(Message::RouteRefresh),
    ]
}

/// Encodes and decodes; messages too large for 4096 octets are skipped (and must be reported
/// as too long, not mangled).
fn round_trip(msg: &Message, four_octet_as: bool) -> Result<(), TestCaseError> {
    let ectx = EncodeContext {
        four_octet_as,
        ipv4_via_mp: false,
    };
    let dctx = DecodeContext {
        four_octet_as,
        ..DecodeContext::default()
    };
    let wire = match msg.to_bytes(&ectx) {
        Ok(w) => w,
        Err(EncodeError::MessageTooLong { .. }) => return Err(TestCaseError::reject("too long")),
        Err(e) => return Err(TestCaseError::fail(format!("encode: {e}"))),
    };
    prop_assert!(wire.len() <= 4096);
    prop_assert_eq!(metalroute_bgp::packet::frame(&wire), Ok(Some(wire.len())));
    let back = Message::decode(&wire, &dctx).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, msg);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, max_global_rejects: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn every_message_round_trips_four_octet(msg in message(false)) {
        round_trip(&msg, true)?;
    }

    #[test]
    fn every_message_round_trips_toward_two_octet_speakers(msg in message(true)) {
        round_trip(&msg, false)?;
    }

    #[test]
    fn open_round_trips(o in open()) {
        round_trip(&Message::Open(o), true)?;
    }

    #[test]
    fn update_round_trips(u in update(false)) {
        round_trip(&Message::Update(u), true)?;
    }
}
