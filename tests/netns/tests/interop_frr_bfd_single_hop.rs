//! Interop: metalroute's BFD engine (namespace a) against FRR bfdd 8.4 (namespace b), single-hop
//! sessions configured statically in bfdd.conf (no BGP). Covers IPv4 and IPv6 coming Up with the
//! negotiated timers, a parameter change through Poll/Final without a flap (FRR's uptime keeps
//! counting), and a packet cut by an nftables rule → Down, then restore → Up.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use metalroute_bgp::bfd::{BfdHandle, Diagnostic, SessionKey, SessionParams, State};
use metalroute_netns::{prerequisites, two_ns_with_veth, wait_for, Frr, Need};
use serde_json::Value;

const NEEDS: &[Need] = &[
    Need::Root,
    Need::Binary("zebra"),
    Need::Binary("bgpd"),
    Need::Binary("bfdd"),
    Need::Binary("nft"),
];

/// FRR's view of the session with `peer`, from `show bfd peers json`.
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

fn bfdd_conf(peers: &[(&str, &str)], ms: u32, extra: &str) -> String {
    let mut s = String::from("bfd\n");
    for (peer, local) in peers {
        s.push_str(&format!(
            " peer {peer} local-address {local}\n  receive-interval {ms}\n  transmit-interval {ms}\n  detect-multiplier 3\n{extra}  no shutdown\n !\n"
        ));
    }
    s.push_str("!\n");
    s
}

#[test]
fn interop_frr_bfd_single_hop_v4_v6_up_with_negotiated_timers() {
    if !prerequisites(
        "interop_frr_bfd_single_hop_v4_v6_up_with_negotiated_timers",
        NEEDS,
    ) {
        return;
    }
    let t = two_ns_with_veth("bfdsh");
    let (a4, b4, a6, b6) = (
        t.a_v4.to_string(),
        t.b_v4.to_string(),
        t.a_v6.to_string(),
        t.b_v6.to_string(),
    );
    // FRR: 200 ms both ways; we: 100 ms tx / 300 ms rx.
    let frr = Frr::start(
        &t.b,
        "frr defaults traditional\n",
        Some(&bfdd_conf(&[(&a4, &b4), (&a6, &b6)], 200, "")),
    );

    let rt = t.a.runtime(1);
    let bfd = rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let mut params = SessionParams::with_timers(100, 3).unwrap();
    params.receive_interval =
        metalroute_bgp::bfd::Interval::from_millis("receiveInterval", 300).unwrap();
    let k4 = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4));
    let k6 = SessionKey::single_hop(IpAddr::V6(t.b_v6), IpAddr::V6(t.a_v6));
    rt.block_on(bfd.add(k4.clone(), params.clone()))
        .expect("add v4");
    rt.block_on(bfd.add(k6.clone(), params.clone()))
        .expect("add v6");

    for (peer, key) in [(&a4, &k4), (&a6, &k6)] {
        wait_for(
            &format!("FRR sees BFD peer {peer} up"),
            Duration::from_secs(15),
            || {
                frr_peer(&frr, peer)
                    .filter(|p| p.get("status").and_then(Value::as_str) == Some("up"))
            },
        );
        // FRR reports what we advertise once our poll after Up completed.
        let p = wait_for("FRR sees our fast timers", Duration::from_secs(10), || {
            let p = frr_peer(&frr, peer)?;
            (field(&p, "remote-transmit-interval") == 100).then_some(p)
        });
        assert_eq!(field(&p, "remote-receive-interval"), 300, "{p}");
        assert_eq!(field(&p, "remote-detect-multiplier"), 3, "{p}");
        let s = wait_for(
            "our session up with negotiated timers",
            Duration::from_secs(10),
            || {
                let s = rt.block_on(bfd.status(key.clone())).ok()??;
                (s.state == State::Up && s.remote_desired_min_tx == Duration::from_millis(200))
                    .then_some(s)
            },
        );
        // tx = max(our 100, FRR's rx 200); detection = 3 × max(our rx 300, FRR's tx 200).
        assert_eq!(s.tx_interval, Some(Duration::from_millis(200)));
        assert_eq!(s.detection_time, Duration::from_millis(900));
        assert_eq!(s.remote_discriminator as u64, field(&p, "id"), "{p}");
        assert_eq!(s.local_discriminator as u64, field(&p, "remote-id"), "{p}");
    }
    rt.block_on(bfd.shutdown()).unwrap();
    // Our shutdown sends AdminDown: FRR goes down with diagnostic "neighbor-down"/admin, not a timeout.
    wait_for("FRR sees our AdminDown", Duration::from_secs(5), || {
        let p = frr_peer(&frr, &a4)?;
        (p.get("status").and_then(Value::as_str) == Some("down")).then_some(())
    });
}

#[test]
fn interop_frr_bfd_single_hop_param_change_without_flap() {
    if !prerequisites(
        "interop_frr_bfd_single_hop_param_change_without_flap",
        NEEDS,
    ) {
        return;
    }
    let t = two_ns_with_veth("bfdpc");
    let (a4, b4) = (t.a_v4.to_string(), t.b_v4.to_string());
    let frr = Frr::start(
        &t.b,
        "frr defaults traditional\n",
        Some(&bfdd_conf(&[(&a4, &b4)], 300, "")),
    );
    let rt = t.a.runtime(1);
    let bfd = rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let mut events = bfd.subscribe();
    let k = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4));
    rt.block_on(bfd.add(k.clone(), SessionParams::with_timers(300, 3).unwrap()))
        .unwrap();
    wait_for("FRR up with our 300 ms", Duration::from_secs(15), || {
        let p = frr_peer(&frr, &a4)?;
        (p.get("status").and_then(Value::as_str) == Some("up")
            && field(&p, "remote-transmit-interval") == 300)
            .then_some(())
    });
    // Let FRR's uptime pass 2 s, then change both intervals.
    std::thread::sleep(Duration::from_millis(2100));
    let before = field(&frr_peer(&frr, &a4).unwrap(), "uptime");
    assert!(before >= 2 && before != u64::MAX);
    rt.block_on(bfd.set_params(k.clone(), SessionParams::with_timers(500, 5).unwrap()))
        .unwrap();
    let p = wait_for("FRR sees 500 ms × 5", Duration::from_secs(10), || {
        let p = frr_peer(&frr, &a4)?;
        (field(&p, "remote-transmit-interval") == 500
            && field(&p, "remote-receive-interval") == 500)
            .then_some(p)
    });
    assert_eq!(field(&p, "remote-detect-multiplier"), 5, "{p}");
    assert_eq!(p.get("status").and_then(Value::as_str), Some("up"));
    std::thread::sleep(Duration::from_millis(1100));
    let after = field(&frr_peer(&frr, &a4).unwrap(), "uptime");
    assert!(
        after > before,
        "FRR's uptime restarted: {before} -> {after}"
    );
    let s = rt.block_on(bfd.status(k.clone())).unwrap().unwrap();
    assert_eq!(s.state, State::Up);
    assert!(!s.polling);
    assert_eq!(s.tx_interval, Some(Duration::from_millis(500)));
    // Exactly one event on our side: Init/Down -> Up at the start; no Down since.
    let mut downs = 0;
    while let Ok(e) = events.try_recv() {
        if e.to != State::Up {
            downs += usize::from(e.from == State::Up);
        }
    }
    assert_eq!(downs, 0);
}

#[test]
fn interop_frr_bfd_single_hop_cut_and_restore() {
    if !prerequisites("interop_frr_bfd_single_hop_cut_and_restore", NEEDS) {
        return;
    }
    let t = two_ns_with_veth("bfdcut");
    let (a4, b4) = (t.a_v4.to_string(), t.b_v4.to_string());
    let frr = Frr::start(
        &t.b,
        "frr defaults traditional\n",
        Some(&bfdd_conf(&[(&a4, &b4)], 100, "")),
    );
    let rt = t.a.runtime(1);
    let bfd = rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let mut events = bfd.subscribe();
    let k = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4));
    rt.block_on(bfd.add(k.clone(), SessionParams::with_timers(100, 3).unwrap()))
        .unwrap();
    wait_for("session up at 100 ms", Duration::from_secs(15), || {
        let s = rt.block_on(bfd.status(k.clone())).ok()??;
        (s.state == State::Up && s.detection_time == Duration::from_millis(300)).then_some(())
    });
    while events.try_recv().is_ok() {}

    // Drop FRR's packets as they enter namespace a.
    t.a.sh("nft add table inet cut && nft add chain inet cut in '{ type filter hook input priority 0; }' && nft add rule inet cut in udp dport 3784 drop");
    let cut = Instant::now();
    let ev = rt
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    match events.recv().await {
                        Ok(e) if e.to == State::Down => return e,
                        Ok(_) => {}
                        Err(e) => panic!("event stream: {e}"),
                    }
                }
            })
            .await
        })
        .expect("BFD Down within 5 s of the cut");
    let took = cut.elapsed();
    assert_eq!(ev.diagnostic, Diagnostic::ControlDetectionTimeExpired);
    assert!(ev.is_failure());
    eprintln!("metalroute detected the cut after {took:?} (detection time 300 ms)");
    // FRR also goes down: our Down packets still reach it.
    wait_for("FRR sees the session down", Duration::from_secs(5), || {
        let p = frr_peer(&frr, &a4)?;
        (p.get("status").and_then(Value::as_str) != Some("up")).then_some(())
    });

    t.a.sh("nft delete table inet cut");
    wait_for(
        "session back up after restore",
        Duration::from_secs(15),
        || {
            let s = rt.block_on(bfd.status(k.clone())).ok()??;
            let p = frr_peer(&frr, &a4)?;
            (s.state == State::Up && p.get("status").and_then(Value::as_str) == Some("up"))
                .then_some(())
        },
    );
}
