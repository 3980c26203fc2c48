//! BFD codec tests: golden bytes, round trips, every malformed-input rule of RFC 5880 §6.8.6,
//! authentication for all five types, echo format, and random inputs that must never panic.

use std::time::Duration;

use metalroute_bgp::bfd::packet::{
    verify_auth, AuthSection, EchoPacket, PacketBuf, ECHO_LEN, HEADER_LEN,
};
use metalroute_bgp::bfd::{
    AuthKey, AuthType, ControlPacket, Diagnostic, Entropy, Error, SplitMix64, State,
};

fn sample() -> ControlPacket {
    ControlPacket {
        diag: Diagnostic::ControlDetectionTimeExpired,
        state: State::Up,
        poll: true,
        final_: false,
        cpi: true,
        demand: true,
        detect_mult: 3,
        my_discriminator: 0x0102_0304,
        your_discriminator: 0x0a0b_0c0d,
        desired_min_tx: Duration::from_millis(300),
        required_min_rx: Duration::from_millis(50),
        required_min_echo_rx: Duration::from_micros(1),
        auth: None,
    }
}

#[test]
fn golden_bytes() {
    let mut buf = PacketBuf::default();
    sample().encode(&mut buf);
    let expect: [u8; 24] = [
        0x21, // version 1, diag 1
        0xea, // Up(3)<<6 | P | C | D = 0xc0|0x20|0x08|0x02
        3, 24, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0x00, 0x04, 0x93, 0xe0, // 300000
        0x00, 0x00, 0xc3, 0x50, // 50000
        0, 0, 0, 1,
    ];
    assert_eq!(buf.as_slice(), &expect);
    assert_eq!(ControlPacket::decode(&expect).unwrap(), sample());
}

/// A packet as FRR bfdd 8.4 sends it when starting (state Down, 1 s timers, echo 50 ms).
#[test]
fn decodes_frr_style_down_packet() {
    let bytes: [u8; 24] = [
        0x20, 0x40, 0x03, 0x18, 0x5e, 0x1d, 0x7a, 0x02, 0, 0, 0, 0, 0x00, 0x0f, 0x42, 0x40, 0x00,
        0x0f, 0x42, 0x40, 0x00, 0x00, 0xc3, 0x50,
    ];
    let p = ControlPacket::decode(&bytes).unwrap();
    assert_eq!(p.state, State::Down);
    assert_eq!(p.diag, Diagnostic::NoDiagnostic);
    assert_eq!(p.your_discriminator, 0);
    assert_eq!(p.desired_min_tx, Duration::from_secs(1));
    assert_eq!(p.required_min_echo_rx, Duration::from_millis(50));
}

#[test]
fn round_trip_all_flags_states_and_diags() {
    let states = [State::AdminDown, State::Down, State::Init, State::Up];
    for code in 0..32u8 {
        for (i, st) in states.iter().enumerate() {
            for flags in 0..16u8 {
                let (poll, final_) = match flags & 3 {
                    0 => (false, false),
                    1 => (true, false),
                    2 => (false, true),
                    _ => continue,
                };
                let p = ControlPacket {
                    diag: Diagnostic::from_code(code),
                    state: *st,
                    poll,
                    final_,
                    cpi: flags & 4 != 0,
                    demand: flags & 8 != 0,
                    detect_mult: 1 + code,
                    my_discriminator: 7 + i as u32,
                    your_discriminator: 99,
                    desired_min_tx: Duration::from_micros(u64::from(code) * 1000 + 1),
                    required_min_rx: Duration::from_micros(u32::MAX.into()),
                    required_min_echo_rx: Duration::ZERO,
                    auth: None,
                };
                let mut buf = PacketBuf::default();
                p.encode(&mut buf);
                let q = ControlPacket::decode(buf.as_slice()).unwrap();
                assert_eq!(p, q);
                assert_eq!(q.diag.code(), code);
            }
        }
    }
}

#[test]
fn diagnostic_names() {
    assert_eq!(
        Diagnostic::from_code(3),
        Diagnostic::NeighborSignaledSessionDown
    );
    assert_eq!(
        Diagnostic::from_code(8),
        Diagnostic::ReverseConcatenatedPathDown
    );
    assert_eq!(Diagnostic::from_code(9), Diagnostic::Reserved(9));
    assert_eq!(
        Diagnostic::from_code(7).to_string(),
        "administratively down"
    );
}

fn encoded(p: &ControlPacket) -> Vec<u8> {
    let mut buf = PacketBuf::default();
    p.encode(&mut buf);
    buf.as_slice().to_vec()
}

#[test]
fn rejects_malformed() {
    let good = encoded(&sample());
    // Truncated.
    for n in 0..HEADER_LEN {
        assert!(
            matches!(
                ControlPacket::decode(&good[..n]),
                Err(Error::Truncated { .. })
            ),
            "{n}"
        );
    }
    // Version.
    for v in [0u8, 2, 7] {
        let mut b = good.clone();
        b[0] = (v << 5) | (b[0] & 0x1f);
        assert!(matches!(ControlPacket::decode(&b), Err(Error::Version(x)) if x == v));
    }
    // Length field too small / larger than datagram.
    let mut b = good.clone();
    b[3] = 23;
    assert!(matches!(
        ControlPacket::decode(&b),
        Err(Error::Length { field: 23, .. })
    ));
    let mut b = good.clone();
    b[3] = 25;
    assert!(matches!(
        ControlPacket::decode(&b),
        Err(Error::Length {
            field: 25,
            datagram: 24,
            ..
        })
    ));
    // A bit set needs at least 26.
    let mut b = good.clone();
    b[1] |= 0x04;
    assert!(matches!(
        ControlPacket::decode(&b),
        Err(Error::Length { min: 26, .. })
    ));
    // Trailing bytes past Length are ignored.
    let mut b = good.clone();
    b.extend_from_slice(&[0xff; 8]);
    assert_eq!(ControlPacket::decode(&b).unwrap(), sample());
    // Detect mult zero.
    let mut b = good.clone();
    b[2] = 0;
    assert!(matches!(
        ControlPacket::decode(&b),
        Err(Error::ZeroDetectMult)
    ));
    // Multipoint.
    let mut b = good.clone();
    b[1] |= 0x01;
    assert!(matches!(ControlPacket::decode(&b), Err(Error::Multipoint)));
    // My discriminator zero.
    let mut b = good.clone();
    b[4..8].fill(0);
    assert!(matches!(
        ControlPacket::decode(&b),
        Err(Error::ZeroMyDiscriminator)
    ));
    // Your discriminator zero: only allowed from Down / AdminDown senders.
    for (st, ok) in [
        (State::AdminDown, true),
        (State::Down, true),
        (State::Init, false),
        (State::Up, false),
    ] {
        let mut p = sample();
        p.state = st;
        p.your_discriminator = 0;
        let r = ControlPacket::decode(&encoded(&p));
        assert_eq!(r.is_ok(), ok, "{st}: {r:?}");
    }
    // Poll and Final together.
    let mut b = good.clone();
    b[1] |= 0x30;
    assert!(matches!(
        ControlPacket::decode(&b),
        Err(Error::PollAndFinal)
    ));
}

fn with_auth(section: &[u8]) -> Vec<u8> {
    let mut b = encoded(&sample());
    b[1] |= 0x04;
    b.extend_from_slice(section);
    b[3] = b.len() as u8;
    b
}

#[test]
fn rejects_malformed_auth_sections() {
    // Reserved type.
    let b = with_auth(&[9, 4, 1, b'x']);
    assert!(matches!(
        ControlPacket::decode(&b),
        Err(Error::AuthMalformed { auth_type: 9, .. })
    ));
    // Auth Len disagreeing with Length.
    let b = with_auth(&[1, 9, 1, b'x', b'y']);
    assert!(matches!(
        ControlPacket::decode(&b),
        Err(Error::AuthMalformed { .. })
    ));
    // Password of 0 bytes, and of 17 bytes.
    let b = with_auth(&[1, 3, 1]);
    assert!(matches!(
        ControlPacket::decode(&b),
        Err(Error::AuthMalformed { .. })
    ));
    let mut sec = vec![1, 20, 1];
    sec.extend_from_slice(&[b'p'; 17]);
    assert!(matches!(
        ControlPacket::decode(&with_auth(&sec)),
        Err(Error::AuthMalformed { .. })
    ));
    // MD5 section of SHA1 length.
    let mut sec = vec![2, 28, 1, 0];
    sec.extend_from_slice(&[0; 24]);
    assert!(matches!(
        ControlPacket::decode(&with_auth(&sec)),
        Err(Error::AuthMalformed { .. })
    ));
    // A valid 1-byte password parses.
    let p = ControlPacket::decode(&with_auth(&[1, 4, 5, b'z'])).unwrap();
    assert_eq!(p.auth.unwrap().key_id(), 5);
}

#[test]
fn authentication_all_types_sign_verify_and_tamper() {
    let types = [
        AuthType::SimplePassword,
        AuthType::KeyedMd5,
        AuthType::MeticulousKeyedMd5,
        AuthType::KeyedSha1,
        AuthType::MeticulousKeyedSha1,
    ];
    for t in types {
        let key = AuthKey::new(t, 7, b"s3cret").unwrap();
        let mut buf = PacketBuf::default();
        sample().encode_signed(&key, 0xdead_beef, &mut buf);
        let raw = buf.as_slice().to_vec();
        let expect_len = match t {
            AuthType::SimplePassword => 24 + 3 + 6,
            AuthType::KeyedMd5 | AuthType::MeticulousKeyedMd5 => 48,
            _ => 52,
        };
        assert_eq!(raw.len(), expect_len, "{t:?}");
        let p = ControlPacket::decode(&raw).unwrap();
        assert_eq!(p.auth.unwrap().auth_type(), t);
        if t != AuthType::SimplePassword {
            assert_eq!(p.auth.unwrap().sequence(), Some(0xdead_beef));
        }
        verify_auth(&p, &raw, &key).unwrap();

        // Wrong secret.
        let other = AuthKey::new(t, 7, b"s3creT").unwrap();
        assert!(
            matches!(verify_auth(&p, &raw, &other), Err(Error::AuthFailed(_))),
            "{t:?}"
        );
        // Wrong key id.
        let other = AuthKey::new(t, 8, b"s3cret").unwrap();
        assert!(matches!(
            verify_auth(&p, &raw, &other),
            Err(Error::AuthMismatch(_))
        ));
        // Tampered header (digest types only: a password does not cover the header).
        if t != AuthType::SimplePassword {
            let mut bad = raw.clone();
            bad[2] = 9; // detect mult
            let q = ControlPacket::decode(&bad).unwrap();
            assert!(matches!(
                verify_auth(&q, &bad, &key),
                Err(Error::AuthFailed(_))
            ));
        }
        // Unauthenticated packet against a configured key.
        let plain = encoded(&sample());
        let q = ControlPacket::decode(&plain).unwrap();
        assert!(matches!(
            verify_auth(&q, &plain, &key),
            Err(Error::AuthMismatch(_))
        ));
    }
    // Another type than configured.
    let md5 = AuthKey::new(AuthType::KeyedMd5, 1, b"k").unwrap();
    let sha = AuthKey::new(AuthType::KeyedSha1, 1, b"k").unwrap();
    let mut buf = PacketBuf::default();
    sample().encode_signed(&md5, 1, &mut buf);
    let p = ControlPacket::decode(buf.as_slice()).unwrap();
    assert!(matches!(
        verify_auth(&p, buf.as_slice(), &sha),
        Err(Error::AuthMismatch(_))
    ));
}

/// Keyed MD5 digest checked against an independent computation of RFC 5880 §6.7.3: MD5 over the
/// packet with the key, zero-padded to 16 bytes, in the digest field.
#[test]
fn md5_digest_matches_rfc_construction() {
    use md5::{Digest, Md5};
    let key = AuthKey::new(AuthType::KeyedMd5, 2, b"abc").unwrap();
    let mut buf = PacketBuf::default();
    sample().encode_signed(&key, 5, &mut buf);
    let raw = buf.as_slice();
    let mut copy = raw.to_vec();
    copy[32..48].fill(0);
    copy[32..35].copy_from_slice(b"abc");
    let d = Md5::digest(&copy);
    assert_eq!(&raw[32..48], d.as_slice());
    assert_eq!(&raw[24..32], &[2, 24, 2, 0, 0, 0, 0, 5]);
}

#[test]
fn auth_key_secret_lengths() {
    assert!(AuthKey::new(AuthType::KeyedMd5, 1, b"").is_err());
    assert!(AuthKey::new(AuthType::KeyedMd5, 1, &[1; 17]).is_err());
    assert!(AuthKey::new(AuthType::KeyedSha1, 1, &[1; 20]).is_ok());
    assert!(AuthKey::new(AuthType::SimplePassword, 1, &[1; 16]).is_ok());
    let dbg = format!(
        "{:?}",
        AuthKey::new(AuthType::KeyedSha1, 1, b"topsecret").unwrap()
    );
    assert!(!dbg.contains("topsecret"));
}

#[test]
fn echo_round_trip_and_foreign_echo() {
    let e = EchoPacket {
        discriminator: 42,
        sequence: 7,
        timestamp_ns: 123_456_789,
    };
    let mut buf = PacketBuf::default();
    e.encode(&mut buf);
    assert_eq!(buf.as_slice().len(), ECHO_LEN);
    assert_eq!(EchoPacket::decode(buf.as_slice()).unwrap(), e);
    assert!(matches!(
        EchoPacket::decode(&[0u8; 24]),
        Err(Error::EchoFormat)
    ));
    assert!(matches!(
        EchoPacket::decode(&buf.as_slice()[..10]),
        Err(Error::Truncated { .. })
    ));
}

/// Random datagrams and random mutations of valid ones: decoding and verification never panic.
#[test]
fn random_inputs_never_panic() {
    let mut rng = SplitMix64::seeded(0x5eed);
    let key = AuthKey::new(AuthType::MeticulousKeyedSha1, 1, b"key").unwrap();
    let mut signed = PacketBuf::default();
    sample().encode_signed(&key, 1, &mut signed);
    let base = signed.as_slice().to_vec();
    let mut ok = 0;
    for i in 0..200_000u32 {
        let len = (rng.next_u32() % 80) as usize;
        let mut b: Vec<u8> = if i % 2 == 0 {
            (0..len).map(|_| rng.next_u32() as u8).collect()
        } else {
            let mut b = base.clone();
            for _ in 0..1 + rng.next_u32() % 3 {
                let at = (rng.next_u32() as usize) % b.len();
                b[at] ^= 1 << (rng.next_u32() % 8);
            }
            b
        };
        if i % 7 == 0 {
            b.truncate(len.min(b.len()));
        }
        if let Ok(p) = ControlPacket::decode(&b) {
            ok += 1;
            let _ = verify_auth(&p, &b, &key);
            if let Some(AuthSection::Password { len, .. }) = p.auth {
                assert!((1..=16).contains(&len));
            }
        }
        let _ = EchoPacket::decode(&b);
    }
    assert!(ok > 0, "some mutations should still decode");
}
