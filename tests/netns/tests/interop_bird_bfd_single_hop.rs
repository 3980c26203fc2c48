//! Interop: metalroute's BFD engine against BIRD 2's BFD protocol, single-hop session configured
//! with a static `neighbor` (no BGP): Up on both sides, then a cut (nftables drop in BIRD's
//! namespace) brings it Down on our side, and it returns when the rule is removed.

use std::net::IpAddr;
use std::time::Duration;

use metalroute_bgp::bfd::{BfdHandle, Diagnostic, SessionKey, SessionParams, State};
use metalroute_netns::{prerequisites, two_ns_with_veth, wait_for, Bird, Need};

/// BIRD's state for neighbour `ip` from `show bfd sessions` ("Up", "Down", "Init", ...).
fn bird_state(bird: &Bird, ip: &str) -> Option<String> {
    let out = bird.birdc("show bfd sessions");
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(ip))
        .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
}

#[test]
fn interop_bird_bfd_single_hop_up_cut_restore() {
    let needs = [
        Need::Root,
        Need::Binary("bird"),
        Need::Binary("birdc"),
        Need::Binary("nft"),
    ];
    if !prerequisites("interop_bird_bfd_single_hop_up_cut_restore", &needs) {
        return;
    }
    let t = two_ns_with_veth("bfdbird");
    let conf = "router id 192.0.2.2;\nprotocol device {}\nprotocol bfd {\n  interface \"to-a\" {\n    min rx interval 100 ms;\n    min tx interval 100 ms;\n    multiplier 3;\n  };\n  neighbor 192.0.2.1 dev \"to-a\" local 192.0.2.2;\n}\n";
    let bird = Bird::start(&t.b, conf);
    let rt = t.a.runtime(1);
    let bfd = rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let mut events = bfd.subscribe();
    let k = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4));
    rt.block_on(bfd.add(k.clone(), SessionParams::with_timers(100, 3).unwrap()))
        .unwrap();
    wait_for("BIRD and metalroute up", Duration::from_secs(15), || {
        let s = rt.block_on(bfd.status(k.clone())).ok()??;
        (s.state == State::Up
            && s.remote_desired_min_tx == Duration::from_millis(100)
            && bird_state(&bird, "192.0.2.1").as_deref() == Some("Up"))
        .then_some(())
    });
    let s = rt.block_on(bfd.status(k.clone())).unwrap().unwrap();
    assert_eq!(s.tx_interval, Some(Duration::from_millis(100)));
    assert_eq!(s.detection_time, Duration::from_millis(300));
    while events.try_recv().is_ok() {}

    // BIRD's packets stop leaving its namespace.
    t.b.sh("nft add table inet cut && nft add chain inet cut out '{ type filter hook output priority 0; }' && nft add rule inet cut out udp dport 3784 drop");
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
        .expect("Down within 5 s of the cut");
    assert_eq!(ev.diagnostic, Diagnostic::ControlDetectionTimeExpired);
    t.b.sh("nft delete table inet cut");
    wait_for("back up after restore", Duration::from_secs(15), || {
        let s = rt.block_on(bfd.status(k.clone())).ok()??;
        (s.state == State::Up && bird_state(&bird, "192.0.2.1").as_deref() == Some("Up"))
            .then_some(())
    });
}
