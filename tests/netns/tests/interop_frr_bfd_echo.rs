//! Interop: echo mode (RFC 5880 §6.4, single-hop) configured on both sides with FRR bfdd. FRR's
//! echoes are looped back by our namespace's forwarding plane; FRR does not loop our UDP echoes,
//! so our engine must notice that none return and switch its echo off instead of flapping: the
//! session stays Up and FRR's uptime keeps counting.

use std::net::IpAddr;
use std::time::Duration;

use metalroute_bgp::bfd::{BfdHandle, Interval, SessionKey, SessionParams, State};
use metalroute_netns::{prerequisites, sysctl, two_ns_with_veth, wait_for_ok, Frr, Need};
use serde_json::Value;

fn frr_peer(frr: &Frr, peer: &str) -> Option<Value> {
    let v = frr.bfd_peers();
    v.as_array()?
        .iter()
        .find(|p| p.get("peer").and_then(Value::as_str) == Some(peer))
        .cloned()
}

#[test]
fn interop_frr_bfd_echo_both_sides() {
    let needs = [
        Need::Root,
        Need::Binary("zebra"),
        Need::Binary("bgpd"),
        Need::Binary("bfdd"),
    ];
    if !prerequisites("interop_frr_bfd_echo_both_sides", &needs) {
        return;
    }
    let t = two_ns_with_veth("bfdecho");
    let bfdd = "bfd\n peer 192.0.2.1 local-address 192.0.2.2\n  receive-interval 300\n  transmit-interval 300\n  echo-mode\n  echo transmit-interval 100\n  echo receive-interval 100\n  no shutdown\n !\n!\n";
    let frr = Frr::start(&t.b, "frr defaults traditional\n", Some(bfdd));
    let rt = t.a.runtime(1);
    let bfd = rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let mut events = bfd.subscribe();
    let k = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4));
    let mut params = SessionParams::with_timers(300, 3).unwrap();
    params.echo_mode = true;
    params.echo_interval = Interval::from_millis("echoInterval", 100).unwrap();
    rt.block_on(bfd.add(k.clone(), params)).unwrap();
    // FRR's echoes are addressed to FRR itself and come back through our forwarding plane.
    sysctl(&t.a, "net.ipv4.ip_forward", "1");
    let s = wait_for_ok("session up, echo settled", Duration::from_secs(20), || {
        let s = rt
            .block_on(bfd.status(k.clone()))
            .map_err(|e| e.to_string())?
            .ok_or("no session")?;
        if s.state == State::Up && (s.echo_abandoned || s.echo_rx_packets > 5) {
            Ok(s)
        } else {
            Err(format!("ours {s:?} FRR {:?}", frr_peer(&frr, "192.0.2.1")))
        }
    });
    while events.try_recv().is_ok() {}
    let uptime0 = frr_peer(&frr, "192.0.2.1")
        .and_then(|p| p.get("uptime").and_then(Value::as_u64))
        .unwrap_or(0);
    std::thread::sleep(Duration::from_secs(4));
    let s2 = rt.block_on(bfd.status(k.clone())).unwrap().unwrap();
    let p = frr_peer(&frr, "192.0.2.1").unwrap();
    eprintln!("ours {s2:?}\nFRR {p}");
    assert_eq!(s2.state, State::Up);
    assert!(
        events.try_recv().is_err(),
        "no flap while echo is configured"
    );
    assert_eq!(p.get("status").and_then(Value::as_str), Some("up"), "{p}");
    let uptime1 = p.get("uptime").and_then(Value::as_u64).unwrap_or(0);
    assert!(
        uptime1 >= uptime0 + 3,
        "FRR's session restarted: {uptime0} -> {uptime1}"
    );
    // FRR 8.4 expects echoes addressed to the sender itself and looped by the peer's forwarding
    // plane; it does not answer our UDP echoes sent to its port 3785, so we turn ours off.
    assert!(s.echo_abandoned && !s2.echo_active, "{s2:?}");
    // FRR's own echo function works through our forwarding plane (it measures round trips).
    assert!(
        p.get("rtt-max").and_then(Value::as_u64).unwrap_or(0) > 0,
        "{p}"
    );
}
