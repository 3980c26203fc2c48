//! Hand-built malformed messages: RFC 4271 §6 header/OPEN errors map to the exact NOTIFICATION
//! (code, subcode, data), and RFC 7606 classifies every malformed UPDATE attribute as session
//! reset, treat-as-withdraw or attribute discard.

use std::net::Ipv4Addr;

use bytes::BytesMut;
use metalroute_bgp::error::DecodeError;
use metalroute_bgp::packet::{
    frame, AsPath, AsSegment, CeaseSubcode, DecodeContext, EncodeContext, ErrorCode, Family,
    FsmSubcode, Message, Notification, OpenSubcode, PathAttributes, SegmentType, Update,
    HEADER_LEN,
};

// ---------------------------------------------------------------- builders

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((HEADER_LEN + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, code];
    if flags & 0x10 != 0 {
        a.extend_from_slice(&(value.len() as u16).to_be_bytes());
    } else {
        a.push(value.len() as u8);
    }
    a.extend_from_slice(value);
    a
}

fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = (withdrawn.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    message(2, &b)
}

fn origin() -> Vec<u8> {
    attr(0x40, 1, &[0])
}
fn as_path4(asns: &[u32]) -> Vec<u8> {
    let mut v = vec![2, asns.len() as u8];
    for a in asns {
        v.extend_from_slice(&a.to_be_bytes());
    }
    attr(0x40, 2, &v)
}
fn next_hop() -> Vec<u8> {
    attr(0x40, 3, &[192, 0, 2, 1])
}
/// ORIGIN, AS_PATH 65001, NEXT_HOP 192.0.2.1 followed by `extra`.
fn with_mandatory(extra: &[&[u8]]) -> Vec<u8> {
    let mut v = origin();
    v.extend(as_path4(&[65001]));
    v.extend(next_hop());
    for e in extra {
        v.extend_from_slice(e);
    }
    v
}
/// NLRI 198.51.100.0/24.
const NLRI: [u8; 4] = [24, 198, 51, 100];

fn ctx4() -> DecodeContext {
    DecodeContext {
        four_octet_as: true,
        ..DecodeContext::default()
    }
}

fn decode_update(msg: &[u8], ctx: &DecodeContext) -> Update {
    match Message::decode(msg, ctx) {
        Ok(Message::Update(u)) => u,
        other => panic!("expected an UPDATE, got {other:?}"),
    }
}

fn reset(msg: &[u8], ctx: &DecodeContext) -> Notification {
    match Message::decode(msg, ctx) {
        Err(e) => e.to_notification(),
        Ok(m) => panic!("expected a session reset, decoded {m:?}"),
    }
}

fn assert_withdraw(u: &Update) {
    assert!(u.treat_as_withdraw, "expected treat-as-withdraw: {u:?}");
    assert!(u.reachable().is_empty());
    assert_eq!(
        u.unreachable(),
        vec!["198.51.100.0/24".parse::<ipnet::IpNet>().unwrap()]
    );
}

fn assert_discard(u: &Update, code: u8) {
    assert!(!u.treat_as_withdraw, "unexpected treat-as-withdraw: {u:?}");
    assert_eq!(u.discarded, vec![code], "{u:?}");
    assert_eq!(u.reachable().len(), 1);
}

fn open_body(version: u8, asn: u16, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&asn.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.push(params.len() as u8);
    b.extend_from_slice(params);
    b
}

// ---------------------------------------------------------------- header (RFC 4271 §6.1)

#[test]
fn header_errors_map_to_message_header_notifications() {
    let mut bad_marker = message(4, &[]);
    bad_marker[3] = 0;
    assert_eq!(
        frame(&bad_marker),
        Err(DecodeError::ConnectionNotSynchronized)
    );
    let n = DecodeError::ConnectionNotSynchronized.to_notification();
    assert_eq!(
        (n.code, n.subcode, n.data.len()),
        (ErrorCode::MessageHeader, 1, 0)
    );

    for len in [0u16, 18, 4097, 65535] {
        let mut m = message(4, &[]);
        m[16..18].copy_from_slice(&len.to_be_bytes());
        let n = frame(&m).unwrap_err().to_notification();
        assert_eq!((n.code, n.subcode), (ErrorCode::MessageHeader, 2), "{len}");
        assert_eq!(n.data, len.to_be_bytes().to_vec(), "data is the bad length");
    }

    let n = frame(&message(6, &[])).unwrap_err().to_notification();
    assert_eq!(
        (n.code, n.subcode, n.data),
        (ErrorCode::MessageHeader, 3, vec![6])
    );

    // Per-type minimum/exact lengths.
    for (kind, body) in [
        (4u8, vec![0u8]),   // KEEPALIVE with a body
        (1, vec![0; 9]),    // OPEN shorter than 29
        (2, vec![0; 3]),    // UPDATE shorter than 23
        (3, vec![6]),       // NOTIFICATION shorter than 21
        (5, vec![0, 1, 0]), // ROUTE-REFRESH shorter than 23
    ] {
        let m = message(kind, &body);
        let e = frame(&m).unwrap_err();
        assert_eq!(
            e,
            DecodeError::BadMessageLength {
                length: m.len() as u16
            },
            "type {kind}"
        );
        assert_eq!(Message::decode(&m, &ctx4()).unwrap_err(), e);
    }
}

#[test]
fn frame_waits_for_whole_messages() {
    let ka = message(4, &[]);
    let mut stream = ka.clone();
    stream.extend(message(2, &[0, 0, 0, 0]));
    for cut in 0..HEADER_LEN {
        assert_eq!(frame(&stream[..cut]), Ok(None));
    }
    assert_eq!(frame(&stream), Ok(Some(19)));
    assert_eq!(frame(&stream[19..]), Ok(Some(23)));
    assert_eq!(frame(&stream[19..40]), Ok(None));
    // decode needs exactly one message
    assert!(Message::decode(&stream, &ctx4()).is_err());
    assert_eq!(Message::decode(&ka, &ctx4()), Ok(Message::Keepalive));
}

// ---------------------------------------------------------------- OPEN (RFC 4271 §6.2)

#[test]
fn open_errors_map_to_open_notifications() {
    let ok = open_body(4, 65001, 90, [192, 0, 2, 1], &[]);
    assert!(matches!(
        Message::decode(&message(1, &ok), &ctx4()),
        Ok(Message::Open(_))
    ));

    let n = reset(
        &message(1, &open_body(3, 65001, 90, [192, 0, 2, 1], &[])),
        &ctx4(),
    );
    assert_eq!(
        (n.code, n.subcode, n.data),
        (ErrorCode::Open, 1, vec![0, 4])
    );

    for hold in [1u16, 2] {
        let n = reset(
            &message(1, &open_body(4, 65001, hold, [192, 0, 2, 1], &[])),
            &ctx4(),
        );
        assert_eq!(
            (n.code, n.subcode),
            (ErrorCode::Open, OpenSubcode::UnacceptableHoldTime as u8)
        );
    }
    let n = reset(
        &message(1, &open_body(4, 65001, 0, [0, 0, 0, 0], &[])),
        &ctx4(),
    );
    assert_eq!((n.code, n.subcode), (ErrorCode::Open, 3));

    // Optional parameter type 1 (authentication, deprecated) is unsupported.
    let n = reset(
        &message(1, &open_body(4, 65001, 90, [192, 0, 2, 1], &[1, 1, 0])),
        &ctx4(),
    );
    assert_eq!((n.code, n.subcode), (ErrorCode::Open, 4));

    // A capability that overruns its parameter.
    let n = reset(
        &message(
            1,
            &open_body(4, 65001, 90, [192, 0, 2, 1], &[2, 3, 65, 4, 0]),
        ),
        &ctx4(),
    );
    assert_eq!((n.code, n.subcode), (ErrorCode::Open, 0));
    // Parameters length larger than the message.
    let mut body = open_body(4, 65001, 90, [192, 0, 2, 1], &[]);
    body[9] = 10;
    let n = reset(&message(1, &body), &ctx4());
    assert_eq!((n.code, n.subcode), (ErrorCode::Open, 0));
}

#[test]
fn open_extended_optional_parameters_rfc9072() {
    // 255, 255, 2-octet length, then (type, 2-octet length, value) parameters.
    let caps: Vec<u8> = [65u8, 4, 0xfa, 0x56, 0xea, 0x01].to_vec();
    let mut body = open_body(4, 23456, 90, [192, 0, 2, 1], &[]);
    body.pop();
    body.extend_from_slice(&[255, 255]);
    body.extend_from_slice(&((3 + caps.len()) as u16).to_be_bytes());
    body.push(2);
    body.extend_from_slice(&(caps.len() as u16).to_be_bytes());
    body.extend_from_slice(&caps);
    let Ok(Message::Open(open)) = Message::decode(&message(1, &body), &ctx4()) else {
        panic!("extended OPEN did not decode");
    };
    assert_eq!(open.my_as, 4_200_000_001);
}

// ---------------------------------------------------------------- UPDATE: session reset

#[test]
fn update_length_errors_reset_with_malformed_attribute_list() {
    // Withdrawn Routes Length beyond the message.
    let mut m = update(&[], &[], &[]);
    m[19..21].copy_from_slice(&10u16.to_be_bytes());
    let n = reset(&m, &ctx4());
    assert_eq!((n.code, n.subcode), (ErrorCode::Update, 1));
    // Total Path Attribute Length beyond the message.
    let mut m = update(&[], &[], &[]);
    m[21..23].copy_from_slice(&10u16.to_be_bytes());
    let n = reset(&m, &ctx4());
    assert_eq!((n.code, n.subcode), (ErrorCode::Update, 1));
}

#[test]
fn bad_nlri_resets_with_invalid_network_field() {
    // Prefix length 33.
    let m = update(&[], &with_mandatory(&[]), &[33, 198, 51, 100, 0, 1]);
    let n = reset(&m, &ctx4());
    assert_eq!((n.code, n.subcode), (ErrorCode::Update, 10));
    // Prefix overruns the NLRI field.
    let n = reset(&update(&[], &with_mandatory(&[]), &[24, 198, 51]), &ctx4());
    assert_eq!((n.code, n.subcode), (ErrorCode::Update, 10));
    // Same in withdrawn routes.
    let n = reset(&update(&[40, 1, 2, 3, 4, 5], &[], &[]), &ctx4());
    assert_eq!((n.code, n.subcode), (ErrorCode::Update, 10));
}

#[test]
fn unrecognized_well_known_attribute_resets_with_the_attribute_as_data() {
    let bad = attr(0x40, 99, &[1, 2]);
    let n = reset(&update(&[], &with_mandatory(&[&bad]), &NLRI), &ctx4());
    assert_eq!((n.code, n.subcode), (ErrorCode::Update, 2));
    assert_eq!(n.data, bad);
}

#[test]
fn duplicate_mp_attributes_reset_other_duplicates_are_dropped() {
    let mp = attr(0x80, 15, &[0, 2, 1]);
    let mut attrs = mp.clone();
    attrs.extend(&mp);
    let n = reset(&update(&[], &attrs, &[]), &ctx4());
    assert_eq!((n.code, n.subcode), (ErrorCode::Update, 1));

    let second_origin = attr(0x40, 1, &[2]);
    let u = decode_update(
        &update(&[], &with_mandatory(&[&second_origin]), &NLRI),
        &ctx4(),
    );
    assert_discard(&u, 1);
    assert_eq!(
        u.attributes.unwrap().origin,
        metalroute_bgp::packet::Origin::Igp
    );
}

#[test]
fn malformed_mp_reach_resets_with_optional_attribute_error() {
    // IPv6 family with a 5-octet next hop: the NLRI cannot be located (RFC 7606 §7.11).
    let mut v = vec![0, 2, 1, 5];
    v.extend_from_slice(&[0; 5]);
    v.push(0);
    let n = reset(
        &update(
            &[],
            &[origin(), as_path4(&[65001]), attr(0x80, 14, &v)].concat(),
            &[],
        ),
        &ctx4(),
    );
    assert_eq!((n.code, n.subcode), (ErrorCode::Update, 9));
    // IPv6 prefix length 129.
    let mut v = vec![0, 2, 1, 16];
    v.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    v.extend_from_slice(&[0, 129]);
    v.extend_from_slice(&[0x20; 17]);
    let n = reset(
        &update(
            &[],
            &[origin(), as_path4(&[65001]), attr(0x80, 14, &v)].concat(),
            &[],
        ),
        &ctx4(),
    );
    assert_eq!((n.code, n.subcode), (ErrorCode::Update, 9));
    // Flags conflict on MP_UNREACH (well-known) is a reset too.
    let n = reset(&update(&[], &attr(0x40, 15, &[0, 2, 1]), &[]), &ctx4());
    assert_eq!((n.code, n.subcode), (ErrorCode::Update, 4));
}

#[test]
fn mp_reach_of_a_family_not_negotiated_is_ignored() {
    let v = [0, 25, 70, 4, 192, 0, 2, 1, 0]; // AFI 25 (L2VPN), SAFI 70 (EVPN)
    let u = decode_update(
        &update(
            &[],
            &[origin(), as_path4(&[65001]), attr(0x80, 14, &v)].concat(),
            &[],
        ),
        &ctx4(),
    );
    assert!(!u.treat_as_withdraw);
    assert_eq!(u.discarded, vec![14]);
    assert!(u.mp_reach.is_none());
    // IPv6 on a session that negotiated only IPv4.
    let ctx = DecodeContext {
        families: vec![Family::IPV4_UNICAST],
        ..ctx4()
    };
    let u = decode_update(&update(&[], &attr(0x80, 15, &[0, 2, 1]), &[]), &ctx);
    assert_eq!(u.discarded, vec![15]);
    assert_eq!(u.end_of_rib(), None);
}

// ---------------------------------------------------------------- UPDATE: treat-as-withdraw

#[test]
fn missing_mandatory_attributes_are_treat_as_withdraw_only_with_nlri() {
    for (skip, code) in [(0, 1u8), (1, 2), (2, 3)] {
        let parts = [origin(), as_path4(&[65001]), next_hop()];
        let attrs: Vec<u8> = parts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .flat_map(|(_, p)| p.clone())
            .collect();
        let u = decode_update(&update(&[], &attrs, &NLRI), &ctx4());
        assert_withdraw(&u);
        assert_eq!(
            u.errors,
            vec![DecodeError::MissingWellKnownAttribute { type_code: code }]
        );
        // Without NLRI there is nothing to withdraw and nothing is missing.
        let u = decode_update(&update(&[], &attrs, &[]), &ctx4());
        assert!(!u.treat_as_withdraw && u.errors.is_empty());
    }
    // NLRI without any attribute.
    assert_withdraw(&decode_update(&update(&[], &[], &NLRI), &ctx4()));
}

#[test]
fn malformed_well_known_attributes_are_treat_as_withdraw() {
    let cases: Vec<(Vec<u8>, Vec<u8>, u8)> = vec![
        // (attribute list, expected NOTIFICATION data if it were a reset, subcode)
        (
            [attr(0x40, 1, &[3]), as_path4(&[65001]), next_hop()].concat(),
            attr(0x40, 1, &[3]),
            6,
        ),
        (
            [attr(0x40, 1, &[0, 0]), as_path4(&[65001]), next_hop()].concat(),
            attr(0x40, 1, &[0, 0]),
            5,
        ),
        (
            [
                origin(),
                as_path4(&[65001]),
                attr(0x40, 3, &[192, 0, 2, 1, 0]),
            ]
            .concat(),
            attr(0x40, 3, &[192, 0, 2, 1, 0]),
            5,
        ),
        (
            [origin(), as_path4(&[65001]), attr(0x40, 3, &[0, 0, 0, 0])].concat(),
            attr(0x40, 3, &[0, 0, 0, 0]),
            8,
        ),
        (
            [origin(), as_path4(&[65001]), attr(0x40, 3, &[224, 0, 0, 5])].concat(),
            attr(0x40, 3, &[224, 0, 0, 5]),
            8,
        ),
        (
            with_mandatory(&[&attr(0x80, 4, &[0, 0, 1])]),
            attr(0x80, 4, &[0, 0, 1]),
            5,
        ),
        (
            with_mandatory(&[&attr(0x40, 5, &[0, 0, 1, 0, 0])]),
            attr(0x40, 5, &[0, 0, 1, 0, 0]),
            5,
        ),
        (
            with_mandatory(&[&attr(0xc0, 8, &[0, 1, 0, 2, 9])]),
            attr(0xc0, 8, &[0, 1, 0, 2, 9]),
            5,
        ),
        (
            with_mandatory(&[&attr(0xc0, 8, &[])]),
            attr(0xc0, 8, &[]),
            5,
        ),
        (
            with_mandatory(&[&attr(0xc0, 32, &[0; 13])]),
            attr(0xc0, 32, &[0; 13]),
            5,
        ),
        (
            with_mandatory(&[&attr(0x80, 10, &[1, 2, 3])]),
            attr(0x80, 10, &[1, 2, 3]),
            5,
        ),
        // Flags conflict with the type (RFC 7606 §3 (c)).
        (
            [attr(0xc0, 1, &[0]), as_path4(&[65001]), next_hop()].concat(),
            attr(0xc0, 1, &[0]),
            4,
        ),
        (
            with_mandatory(&[&attr(0x40, 8, &[0, 1, 0, 2])]),
            attr(0x40, 8, &[0, 1, 0, 2]),
            4,
        ),
    ];
    for (attrs, data, subcode) in cases {
        let u = decode_update(&update(&[], &attrs, &NLRI), &ctx4());
        assert_withdraw(&u);
        assert_eq!(u.errors.len(), 1, "{:?}", u.errors);
        let n = u.errors[0].to_notification();
        assert_eq!(
            (n.code, n.subcode, &n.data),
            (ErrorCode::Update, subcode, &data)
        );
    }
}

#[test]
fn malformed_as_path_is_treat_as_withdraw() {
    for value in [
        vec![5u8, 1, 0, 0, 0xfd, 0xe9],  // unknown segment type
        vec![2, 0],                      // zero-length segment
        vec![2, 2, 0, 0, 0xfd, 0xe9],    // overruns
        vec![2, 1, 0, 0, 0xfd, 0xe9, 2], // lone trailing octet
    ] {
        let attrs = [origin(), attr(0x40, 2, &value), next_hop()].concat();
        let u = decode_update(&update(&[], &attrs, &NLRI), &ctx4());
        assert_withdraw(&u);
        assert_eq!(u.errors[0].to_notification().subcode, 11, "{value:?}");
    }
    // AS_CONFED_SEQUENCE from an external peer.
    let attrs = [
        origin(),
        attr(0x40, 2, &[3, 1, 0, 0, 0xfd, 0xe9]),
        next_hop(),
    ]
    .concat();
    let ext = DecodeContext {
        external: true,
        ..ctx4()
    };
    assert_withdraw(&decode_update(&update(&[], &attrs, &NLRI), &ext));
    // ... but fine from an internal one.
    assert!(!decode_update(&update(&[], &attrs, &NLRI), &ctx4()).treat_as_withdraw);
}

#[test]
fn attribute_overrunning_the_attribute_field_is_treat_as_withdraw() {
    // Last attribute claims 10 octets, 2 are there: NLRI is still found via the total length.
    let mut attrs = with_mandatory(&[]);
    attrs.extend_from_slice(&[0xc0, 8, 10, 0, 1]);
    let u = decode_update(&update(&[], &attrs, &NLRI), &ctx4());
    assert_withdraw(&u);
    // Fewer than three octets left for an attribute header.
    let mut attrs = with_mandatory(&[]);
    attrs.extend_from_slice(&[0xc0, 8]);
    assert_withdraw(&decode_update(&update(&[], &attrs, &NLRI), &ctx4()));
}

// ---------------------------------------------------------------- UPDATE: attribute discard

#[test]
fn malformed_aggregation_attributes_are_discarded() {
    for (a, code) in [
        (attr(0x40, 6, &[1]), 6u8), // ATOMIC_AGGREGATE with a value
        (attr(0xc0, 7, &[0, 0, 0xfd, 0xe9, 192, 0, 2]), 7), // AGGREGATOR of 7 octets
        (attr(0x40, 7, &[0, 0, 0xfd, 0xe9, 192, 0, 2, 1]), 7), // AGGREGATOR flags conflict
    ] {
        let u = decode_update(&update(&[], &with_mandatory(&[&a]), &NLRI), &ctx4());
        assert_discard(&u, code);
        let attrs = u.attributes.unwrap();
        assert!(!attrs.atomic_aggregate && attrs.aggregator.is_none());
    }
}

#[test]
fn ibgp_only_attributes_from_external_peers_are_discarded() {
    let ext = DecodeContext {
        external: true,
        ..ctx4()
    };
    let lp = attr(0x40, 5, &100u32.to_be_bytes());
    let u = decode_update(&update(&[], &with_mandatory(&[&lp]), &NLRI), &ext);
    assert_discard(&u, 5);
    assert_eq!(u.attributes.as_ref().unwrap().local_pref, None);
    let u = decode_update(&update(&[], &with_mandatory(&[&lp]), &NLRI), &ctx4());
    assert!(u.discarded.is_empty());
    assert_eq!(u.attributes.as_ref().unwrap().local_pref, Some(100));
    let oid = attr(0x80, 9, &[192, 0, 2, 9]);
    assert_discard(
        &decode_update(&update(&[], &with_mandatory(&[&oid]), &NLRI), &ext),
        9,
    );
}

#[test]
fn strongest_action_wins() {
    let bad_aa = attr(0x40, 6, &[1]);
    let bad_comm = attr(0xc0, 8, &[1]);
    let u = decode_update(
        &update(&[], &with_mandatory(&[&bad_aa, &bad_comm]), &NLRI),
        &ctx4(),
    );
    assert_withdraw(&u);
    assert_eq!(u.discarded, vec![6]);
    assert_eq!(u.errors.len(), 2);
    // ... and a reset beats both.
    let bad_wk = attr(0x40, 200, &[]);
    assert!(Message::decode(
        &update(&[], &with_mandatory(&[&bad_aa, &bad_comm, &bad_wk]), &NLRI),
        &ctx4()
    )
    .is_err());
}

// ---------------------------------------------------------------- unknown attributes

#[test]
fn unknown_optional_attributes() {
    // Transitive: kept, re-sent with Partial; extended length used above 255 octets.
    let big = vec![7u8; 300];
    let trans = attr(0xd0, 99, &big);
    let nontrans = attr(0x80, 98, &[1, 2, 3]);
    let u = decode_update(
        &update(&[], &with_mandatory(&[&trans, &nontrans]), &NLRI),
        &ctx4(),
    );
    assert!(!u.treat_as_withdraw && u.discarded.is_empty());
    let a = u.attributes.clone().unwrap();
    assert_eq!(a.unknown.len(), 1, "non-transitive unknown is dropped");
    assert_eq!(a.unknown[0].type_code, 99);
    assert_eq!(a.unknown[0].flags, 0xe0);
    assert_eq!(a.unknown[0].value, big);
    let ectx = EncodeContext {
        four_octet_as: true,
        ..EncodeContext::default()
    };
    let mut out = BytesMut::new();
    Message::Update(u).encode(&ectx, &mut out).unwrap();
    let pos = out
        .windows(4)
        .position(|w| w == [0xf0, 99, 0x01, 0x2c])
        .expect("attribute 99 re-sent with O|T|P|E flags and length 300");
    assert_eq!(&out[pos + 4..pos + 304], big.as_slice());
}

// ---------------------------------------------------------------- RFC 6793

#[test]
fn as4_path_and_as4_aggregator_are_merged_from_two_octet_speakers() {
    let two = DecodeContext::default(); // 2-octet session
    let as_path = attr(0x40, 2, &[2, 3, 0xfd, 0xe9, 0x5b, 0xa0, 0x5b, 0xa0]); // 65001 23456 23456
    let mut as4 = vec![2, 2];
    as4.extend_from_slice(&4_200_000_001u32.to_be_bytes());
    as4.extend_from_slice(&4_200_000_002u32.to_be_bytes());
    let aggregator = attr(0xc0, 7, &[0x5b, 0xa0, 192, 0, 2, 7]);
    let mut as4agg = 4_200_000_002u32.to_be_bytes().to_vec();
    as4agg.extend_from_slice(&[192, 0, 2, 7]);
    let attrs = [
        origin(),
        as_path,
        next_hop(),
        aggregator,
        attr(0xc0, 17, &as4),
        attr(0xc0, 18, &as4agg),
    ]
    .concat();
    let u = decode_update(&update(&[], &attrs, &NLRI), &two);
    let a = u.attributes.unwrap();
    assert_eq!(
        a.as_path,
        AsPath::from_sequence([65001, 4_200_000_001, 4_200_000_002])
    );
    assert_eq!(a.aggregator.unwrap().asn, 4_200_000_002);

    // From a 4-octet speaker the AS4 attributes are discarded.
    let attrs = [
        origin(),
        as_path4(&[65001]),
        next_hop(),
        attr(0xc0, 17, &as4),
    ]
    .concat();
    let u = decode_update(&update(&[], &attrs, &NLRI), &ctx4());
    assert_discard(&u, 17);
    assert_eq!(
        u.attributes.unwrap().as_path,
        AsPath::from_sequence([65001])
    );

    // Malformed AS4_PATH is discarded, the route stays (RFC 6793 §6).
    let attrs = [
        origin(),
        attr(0x40, 2, &[2, 1, 0xfd, 0xe9]),
        next_hop(),
        attr(0xc0, 17, &[2, 5, 0, 0]),
    ]
    .concat();
    assert_discard(&decode_update(&update(&[], &attrs, &NLRI), &two), 17);
}

#[test]
fn four_octet_path_toward_a_two_octet_peer_uses_as_trans() {
    let attrs = PathAttributes {
        as_path: AsPath {
            segments: vec![
                AsSegment {
                    kind: SegmentType::Sequence,
                    asns: vec![4_200_000_001, 65001],
                },
                AsSegment {
                    kind: SegmentType::Set,
                    asns: vec![65010, 4_200_000_010],
                },
            ],
        },
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        aggregator: Some(metalroute_bgp::packet::Aggregator {
            asn: 4_200_000_001,
            address: Ipv4Addr::new(192, 0, 2, 1),
        }),
        ..PathAttributes::default()
    };
    let msg = Message::Update(Update {
        attributes: Some(std::sync::Arc::new(attrs)),
        nlri: vec!["198.51.100.0/24".parse().unwrap()],
        ..Update::default()
    });
    let old = EncodeContext::default();
    let wire = msg.to_bytes(&old).unwrap();
    // AS_PATH in 2 octets with AS_TRANS, then AS4_PATH and AS4_AGGREGATOR.
    assert!(wire
        .windows(7)
        .any(|w| w == [0x40, 2, 12, 2, 2, 0x5b, 0xa0]));
    assert!(wire.windows(2).any(|w| w == [0xc0, 17]));
    assert!(wire.windows(3).any(|w| w == [0xc0, 18, 8]));
    let back = Message::decode(&wire, &DecodeContext::default()).unwrap();
    assert_eq!(back, msg);
}

// ---------------------------------------------------------------- NOTIFICATION, ROUTE-REFRESH

#[test]
fn notifications_round_trip_with_every_constructor() {
    let ctx = EncodeContext::default();
    let all = [
        Notification::hold_timer_expired(),
        Notification::send_hold_timer_expired(),
        Notification::fsm_error(FsmSubcode::UnexpectedMessageInOpenConfirm),
        Notification::open_error(OpenSubcode::BadPeerAs, vec![]),
        Notification::cease(CeaseSubcode::AdministrativeShutdown, Some("bye ✓")),
        Notification::cease(CeaseSubcode::BfdDown, None),
        Notification::new(ErrorCode::Other(42), 7, vec![1, 2, 3]),
    ];
    for n in all {
        let wire = Message::Notification(n.clone()).to_bytes(&ctx).unwrap();
        assert_eq!(
            Message::decode(&wire, &DecodeContext::default()),
            Ok(Message::Notification(n))
        );
    }
    let n = Notification::fsm_error(FsmSubcode::UnexpectedMessageInOpenConfirm);
    assert_eq!(
        n.to_string(),
        "Finite State Machine Error/Receive Unexpected Message in OpenConfirm State"
    );
}

#[test]
fn route_refresh_length_errors() {
    // Subtype 1 (BoRR) with a body longer than 4 octets: ROUTE-REFRESH Message Error 7/1.
    let m = message(5, &[0, 1, 1, 1, 0]);
    let n = reset(&m, &ctx4());
    assert_eq!(
        (n.code, n.subcode, &n.data),
        (ErrorCode::RouteRefresh, 1, &m)
    );
    // A normal request may carry ORF data, which is ignored.
    assert!(Message::decode(&message(5, &[0, 1, 0, 1, 9, 9]), &ctx4()).is_ok());
}
