//! Interop: BFD authentication against BIRD 2 — simple password, keyed MD5, meticulous keyed MD5,
//! keyed SHA1 and meticulous keyed SHA1 (RFC 5880 §6.7). The session comes Up only when both sides
//! compute the same digests; a wrong secret keeps it Down on both sides.

use std::net::IpAddr;
use std::time::Duration;

use metalroute_bgp::bfd::{AuthKey, AuthType, BfdHandle, SessionKey, SessionParams, State};
use metalroute_netns::{prerequisites, two_ns_with_veth, wait_for, Bird, Need};

fn bird_state(bird: &Bird, ip: &str) -> Option<String> {
    let out = bird.birdc("show bfd sessions");
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(ip))
        .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
}

fn bird_conf(auth: &str) -> String {
    format!(
        "router id 192.0.2.2;\nprotocol device {{}}\nprotocol bfd {{\n  interface \"to-a\" {{\n    min rx interval 100 ms;\n    min tx interval 100 ms;\n    multiplier 3;\n    authentication {auth};\n    password \"s3cret-key\" {{ id 5; }};\n  }};\n  neighbor 192.0.2.1 dev \"to-a\" local 192.0.2.2;\n}}\n"
    )
}

fn case(prefix: &str, bird_auth: &str, ours: AuthType, secret: &[u8], expect_up: bool) {
    let t = two_ns_with_veth(prefix);
    let bird = Bird::start(&t.b, &bird_conf(bird_auth));
    let rt = t.a.runtime(1);
    let bfd = rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let k = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4));
    let mut params = SessionParams::with_timers(100, 3).unwrap();
    params.auth = Some(AuthKey::new(ours, 5, secret).unwrap());
    rt.block_on(bfd.add(k.clone(), params)).unwrap();
    if expect_up {
        wait_for(
            &format!("{bird_auth}: both sides Up"),
            Duration::from_secs(15),
            || {
                let s = rt.block_on(bfd.status(k.clone())).ok()??;
                (s.state == State::Up && bird_state(&bird, "192.0.2.1").as_deref() == Some("Up"))
                    .then_some(())
            },
        );
        // Stays up over many authenticated packets (sequence numbers advance correctly).
        std::thread::sleep(Duration::from_secs(2));
        let s = rt.block_on(bfd.status(k.clone())).unwrap().unwrap();
        assert_eq!(s.state, State::Up, "{bird_auth}");
        assert!(s.rx_packets > 10, "{bird_auth}: {}", s.rx_packets);
        assert_eq!(bird_state(&bird, "192.0.2.1").as_deref(), Some("Up"));
    } else {
        std::thread::sleep(Duration::from_secs(4));
        let s = rt.block_on(bfd.status(k.clone())).unwrap().unwrap();
        assert_ne!(s.state, State::Up, "{bird_auth} with a wrong secret");
        assert_eq!(s.rx_packets, 0, "no packet should pass authentication");
        assert_ne!(bird_state(&bird, "192.0.2.1").as_deref(), Some("Up"));
    }
}

const NEEDS: &[Need] = &[Need::Root, Need::Binary("bird"), Need::Binary("birdc")];

#[test]
fn interop_bird_bfd_auth_all_types() {
    if !prerequisites("interop_bird_bfd_auth_all_types", NEEDS) {
        return;
    }
    let cases = [
        ("simple", AuthType::SimplePassword),
        ("keyed md5", AuthType::KeyedMd5),
        ("meticulous keyed md5", AuthType::MeticulousKeyedMd5),
        ("keyed sha1", AuthType::KeyedSha1),
        ("meticulous keyed sha1", AuthType::MeticulousKeyedSha1),
    ];
    for (i, (bird_auth, ours)) in cases.into_iter().enumerate() {
        case(&format!("bfdau{i}"), bird_auth, ours, b"s3cret-key", true);
    }
}

#[test]
fn interop_bird_bfd_auth_wrong_secret_stays_down() {
    if !prerequisites("interop_bird_bfd_auth_wrong_secret_stays_down", NEEDS) {
        return;
    }
    case(
        "bfdauw",
        "keyed sha1",
        AuthType::KeyedSha1,
        b"wrong-key",
        false,
    );
}
