//! Interop: metalroute's BFD engine against FRR bfdd, multihop (RFC 5883, UDP 4784) across a real
//! router namespace, so packets arrive with TTL 254: the session comes Up with FRR's default
//! minimum TTL (254) on both sides, and goes Down when we raise our `minimumTtl` to 255.
//!
//! Topology: a (198.51.100.1) — r (198.51.100.2 | 203.0.113.2, forwarding) — b (203.0.113.1).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use metalroute_bgp::bfd::{BfdHandle, Diagnostic, SessionKey, SessionParams, State};
use metalroute_netns::{addr, prerequisites, route, sysctl, veth, wait_for, Frr, Need, Netns};
use serde_json::Value;

fn frr_peer(frr: &Frr, peer: &str) -> Option<Value> {
    let v = frr.bfd_peers();
    v.as_array()?
        .iter()
        .find(|p| p.get("peer").and_then(Value::as_str) == Some(peer))
        .cloned()
}

fn field(p: &Value, name: &str) -> u64 {
    p.get(name).and_then(Value::as_u64).unwrap_or(u64::MAX)
}

#[test]
fn interop_frr_bfd_multihop_through_a_router_and_minimum_ttl() {
    let needs = [
        Need::Root,
        Need::Binary("zebra"),
        Need::Binary("bgpd"),
        Need::Binary("bfdd"),
    ];
    if !prerequisites(
        "interop_frr_bfd_multihop_through_a_router_and_minimum_ttl",
        &needs,
    ) {
        return;
    }
    let a = Netns::new("bfdmha");
    let r = Netns::new("bfdmhr");
    let b = Netns::new("bfdmhb");
    veth(&a, "to-r", &r, "to-a");
    veth(&r, "to-b", &b, "to-r");
    addr(&a, "to-r", "198.51.100.1/24");
    addr(&r, "to-a", "198.51.100.2/24");
    addr(&r, "to-b", "203.0.113.2/24");
    addr(&b, "to-r", "203.0.113.1/24");
    sysctl(&r, "net.ipv4.ip_forward", "1");
    route(&a, "203.0.113.0/24 via 198.51.100.2");
    route(&b, "198.51.100.0/24 via 203.0.113.2");

    let bfdd = "bfd\n peer 198.51.100.1 multihop local-address 203.0.113.1\n  receive-interval 150\n  transmit-interval 150\n  detect-multiplier 3\n  no shutdown\n !\n!\n";
    let frr = Frr::start(&b, "frr defaults traditional\n", Some(bfdd));

    let rt = a.runtime(1);
    let bfd = rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let mut events = bfd.subscribe();
    let k = SessionKey::multi_hop(
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)),
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
    );
    let params = SessionParams::with_timers(150, 3).unwrap();
    assert_eq!(params.minimum_ttl, 254);
    rt.block_on(bfd.add(k.clone(), params.clone())).unwrap();

    let p = wait_for(
        "FRR multihop peer up with our timers",
        Duration::from_secs(15),
        || {
            let p = frr_peer(&frr, "198.51.100.1")?;
            (p.get("status").and_then(Value::as_str) == Some("up")
                && field(&p, "remote-transmit-interval") == 150)
                .then_some(p)
        },
    );
    assert_eq!(
        p.get("multihop").and_then(Value::as_bool),
        Some(true),
        "{p}"
    );
    let s = rt.block_on(bfd.status(k.clone())).unwrap().unwrap();
    assert_eq!(s.state, State::Up);
    assert_eq!(s.detection_time, Duration::from_millis(450));
    while events.try_recv().is_ok() {}

    // FRR's packets cross one router (TTL 254): with minimumTtl 255 we must drop them.
    let strict = SessionParams {
        minimum_ttl: 255,
        ..params
    };
    rt.block_on(bfd.set_params(k.clone(), strict)).unwrap();
    let ev = rt
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    if let Ok(e) = events.recv().await {
                        if e.to == State::Down {
                            return e;
                        }
                    }
                }
            })
            .await
        })
        .expect("Down after minimumTtl 255");
    assert_eq!(ev.diagnostic, Diagnostic::ControlDetectionTimeExpired);
    std::thread::sleep(Duration::from_secs(2));
    let s = rt.block_on(bfd.status(k.clone())).unwrap().unwrap();
    assert_ne!(s.state, State::Up, "TTL-254 packets must keep it down");
}
