//! Fuzz target: BFD datagrams as a peer (or anyone on the link) can send them — control packets
//! with every kind of authentication section, and echo packets. The input is one datagram.
//!
//! Checks, beyond "never panics":
//! - a control packet that decodes re-encodes to the same bytes (up to its Length field; the
//!   digest section's reserved octet is written as zero; without the A bit only the 24-octet
//!   header counts) and decodes again to the same value;
//! - `verify_auth` runs against a key of every type; a decoded packet signed with each key
//!   decodes to the same header and verifies;
//! - an echo packet that decodes re-encodes to the same 24 bytes (reserved octets zeroed) and
//!   decodes to the same value;
//! - the datagram, fed to an engine with one session (authentication of the packet's type), is
//!   accepted or discarded with an error, and every packet the engine sends in reaction or on its
//!   timers decodes and verifies with the session's key.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use metalroute_bgp::bfd::packet::{
    verify_auth, AuthSection, EchoPacket, PacketBuf, ECHO_LEN, HEADER_LEN, PORT_SINGLE_HOP,
};
use metalroute_bgp::bfd::{
    AuthKey, AuthType, ControlPacket, Engine, HopMode, RxMeta, SessionKey, SessionParams,
    SplitMix64, State, TransmitKind,
};

const ALL_AUTH: [AuthType; 5] = [
    AuthType::SimplePassword,
    AuthType::KeyedMd5,
    AuthType::MeticulousKeyedMd5,
    AuthType::KeyedSha1,
    AuthType::MeticulousKeyedSha1,
];

/// The secret every fuzz key uses (a seed with this password reaches the accept path).
const SECRET: &[u8] = b"metalroute-fuzz";

fn key(t: AuthType, key_id: u8) -> AuthKey {
    AuthKey::new(t, key_id, SECRET).expect("15-byte secret is valid for every type")
}

fn encode(p: &ControlPacket) -> PacketBuf {
    let mut buf = PacketBuf::default();
    p.encode(&mut buf);
    buf
}

fn check_control(data: &[u8]) -> Option<ControlPacket> {
    let pkt = ControlPacket::decode(data).ok()?;
    // Re-encoding gives the received bytes back (canonical form).
    let buf = encode(&pkt);
    let out = buf.as_slice();
    let mut want = match pkt.auth {
        // Without the A bit, octets past the header (inside Length) carry nothing: RFC 5880
        // allows a longer Length, we ignore them and write Length 24.
        None => {
            let mut h = data[..HEADER_LEN].to_vec();
            h[3] = HEADER_LEN as u8;
            h
        }
        Some(_) => data[..usize::from(data[3])].to_vec(),
    };
    if matches!(pkt.auth, Some(AuthSection::Digest { .. })) {
        want[HEADER_LEN + 3] = 0; // reserved octet of the digest section
    }
    assert_eq!(out, &want[..], "re-encoded control packet differs: {pkt:?}");
    let again = ControlPacket::decode(out).expect("re-encoded control packet decodes");
    assert_eq!(again, pkt, "control packet round trip changed the value");

    // Verification against keys of every type and two key ids never panics; signing with each
    // key gives a packet that decodes to the same header and verifies.
    for t in ALL_AUTH {
        for id in [0u8, pkt.auth.map_or(1, |a| a.key_id())] {
            let k = key(t, id);
            let _ = verify_auth(&pkt, data, &k);
            let seq = pkt.auth.and_then(|a| a.sequence()).unwrap_or(7);
            let mut signed = PacketBuf::default();
            pkt.encode_signed(&k, seq, &mut signed);
            let s = ControlPacket::decode(signed.as_slice()).expect("signed packet decodes");
            assert_eq!(
                ControlPacket { auth: None, ..s },
                ControlPacket { auth: None, ..pkt },
                "signing changed the header"
            );
            let sec = s.auth.expect("signed packet has an auth section");
            assert_eq!((sec.auth_type(), sec.key_id()), (t, id));
            verify_auth(&s, signed.as_slice(), &k).expect("our own signature verifies");
        }
    }
    Some(pkt)
}

fn check_echo(data: &[u8]) {
    let Ok(echo) = EchoPacket::decode(data) else {
        return;
    };
    let mut buf = PacketBuf::default();
    echo.encode(&mut buf);
    let mut want = data[..ECHO_LEN].to_vec();
    want[5..8].fill(0); // reserved octets
    assert_eq!(buf.as_slice(), &want[..], "re-encoded echo differs");
    assert_eq!(
        EchoPacket::decode(buf.as_slice()).expect("echo decodes"),
        echo
    );
}

/// Checks every datagram the engine wants to send.
fn drain(engine: &mut Engine, auth: Option<&AuthKey>) {
    while let Some(t) = engine.poll_transmit() {
        let bytes = t.payload.as_slice();
        match t.kind {
            TransmitKind::Control => {
                let p = ControlPacket::decode(bytes).expect("our control packet decodes");
                match auth {
                    Some(k) => verify_auth(&p, bytes, k).expect("our control packet verifies"),
                    None => assert!(p.auth.is_none(), "unauthenticated session signs"),
                }
            }
            TransmitKind::Echo => {
                EchoPacket::decode(bytes).expect("our echo decodes");
            }
        }
    }
    while engine.poll_event().is_some() {}
}

/// Feeds the datagram to an engine: once as received, then (if it is a control packet) addressed
/// to our discriminator and correctly signed, in every peer state, so the session's receive path
/// and timers run on the peer's values.
fn check_engine(data: &[u8], pkt: Option<ControlPacket>) {
    let t0 = Instant::now();
    let mut engine = Engine::new(Box::new(SplitMix64::seeded(1)), t0);
    let peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let local = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let skey = SessionKey::single_hop(peer, local);
    let auth = pkt
        .and_then(|p| p.auth)
        .map(|a| key(a.auth_type(), a.key_id()));
    let params = SessionParams {
        echo_mode: data.len() % 2 == 1,
        auth: auth.clone(),
        ..SessionParams::with_timers(10, 3).expect("10 ms x 3 is valid")
    };
    engine
        .add(t0, skey.clone(), params)
        .expect("fresh engine accepts the session");
    let our_disc = engine
        .status(&skey)
        .expect("session exists")
        .local_discriminator;
    let rx = RxMeta {
        vrf: None,
        src: SocketAddr::new(peer, PORT_SINGLE_HOP),
        dst: local,
        ttl: 255,
        hop: HopMode::SingleHop,
        interface: None,
    };
    let mut now = t0;
    let _ = engine.handle_control(now, &rx, data);
    drain(&mut engine, auth.as_ref());
    let _ = engine.handle_echo(now, data);
    drain(&mut engine, auth.as_ref());

    if let Some(p) = pkt {
        let mut seq = p.auth.and_then(|a| a.sequence()).unwrap_or(0);
        for state in [
            State::Down,
            State::Init,
            State::Up,
            p.state,
            State::AdminDown,
        ] {
            let q = ControlPacket {
                state,
                your_discriminator: our_disc,
                ..p
            };
            let mut buf = PacketBuf::default();
            match &auth {
                Some(k) => q.encode_signed(k, seq, &mut buf),
                None => q.encode(&mut buf),
            }
            seq = seq.wrapping_add(1);
            let _ = engine.handle_control(now, &rx, buf.as_slice());
            drain(&mut engine, auth.as_ref());
            // Let timers run: a few transmit intervals, then past any detection time.
            for step in [Duration::from_millis(5), Duration::from_millis(40)] {
                now += step;
                engine.handle_timeout(now);
                drain(&mut engine, auth.as_ref());
            }
            if let Some(next) = engine.poll_timeout() {
                now = now.max(next);
                engine.handle_timeout(now);
                drain(&mut engine, auth.as_ref());
            }
        }
    }
    // The engine's view stays consistent.
    let st = engine.status(&skey).expect("session still exists");
    assert!(
        st.state != State::AdminDown,
        "only we can put a session AdminDown"
    );
}

fuzz_target!(|data: &[u8]| {
    let pkt = check_control(data);
    check_echo(data);
    check_engine(data, pkt);
});
