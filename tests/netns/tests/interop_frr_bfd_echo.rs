//! Interop: the echo function (RFC 5880 §6.4, RFC 5881 §4) with FRR bfdd as the router, both
//! sides configured with `echo-mode`, both namespaces forwarding IP. Our echoes are addressed to
//! ourselves and sent to the router's MAC: the router's forwarding plane sends them straight
//! back (FRR's BFD process never sees them as its own), and FRR's echoes come back through ours.
//! Checked: our echoes return (engine counters, and a capture on the router showing our
//! address→our address going in with TTL 255 and out with TTL 254), the session stays Up; an
//! nftables rule on the router dropping the forwarded echoes takes our session Down with
//! diagnostic 2 "Echo Function Failed" while control packets still flow both ways (FRR reports
//! our diagnostic), and it comes back Up, echo running, once the rule is removed.

use std::net::IpAddr;
use std::time::Duration;

use metalroute_bgp::bfd::{
    BfdHandle, Diagnostic, EchoState, Interval, SessionKey, SessionParams, State,
};
use metalroute_netns::{
    prerequisites, sysctl, two_ns_with_veth, wait_for, wait_for_ok, Capture, Frr, Need,
};
use serde_json::Value;

fn frr_peer(frr: &Frr, peer: &str) -> Option<Value> {
    let v = frr.bfd_peers();
    v.as_array()?
        .iter()
        .find(|p| p.get("peer").and_then(Value::as_str) == Some(peer))
        .cloned()
}

#[test]
fn interop_frr_bfd_echo_reflected_by_router_and_failure() {
    let needs = [
        Need::Root,
        Need::Binary("zebra"),
        Need::Binary("bgpd"),
        Need::Binary("bfdd"),
        Need::Binary("nft"),
        Need::Binary("tcpdump"),
    ];
    if !prerequisites(
        "interop_frr_bfd_echo_reflected_by_router_and_failure",
        &needs,
    ) {
        return;
    }
    let t = two_ns_with_veth("bfdecho");
    // The router forwards (it loops our echoes); so does the node (it loops FRR's).
    sysctl(&t.b, "net.ipv4.ip_forward", "1");
    sysctl(&t.a, "net.ipv4.ip_forward", "1");
    let bfdd = "bfd\n peer 192.0.2.1 local-address 192.0.2.2\n  receive-interval 300\n  transmit-interval 300\n  echo-mode\n  echo transmit-interval 200\n  echo receive-interval 200\n  no shutdown\n !\n!\n";
    let frr = Frr::start(&t.b, "frr defaults traditional\n", Some(bfdd));
    let cap = Capture::start(&t.b, &t.b_if, "udp port 3785");
    let rt = t.a.runtime(1);
    let bfd = rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let k = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4));
    let mut params = SessionParams::with_timers(300, 3).unwrap();
    params.echo_mode = true;
    // Detection 3 × 200 ms: generous for a loaded CI machine.
    params.echo_interval = Interval::from_millis("echoInterval", 200).unwrap();
    rt.block_on(bfd.add(k.clone(), params)).unwrap();
    let status = || rt.block_on(bfd.status(k.clone())).unwrap().unwrap();

    // FRR advertises a non-zero Required Min Echo RX, so we send echoes, and they come back.
    let s = wait_for_ok(
        "our echoes returned by the router",
        Duration::from_secs(20),
        || {
            let s = status();
            if s.state == State::Up && s.echo_state == EchoState::Active && s.echo_rx_packets > 10 {
                Ok(s)
            } else {
                Err(format!("ours {s:?} FRR {:?}", frr_peer(&frr, "192.0.2.1")))
            }
        },
    );
    assert_eq!(s.remote_min_echo_rx, Duration::from_millis(200), "{s:?}");
    assert!(s.last_echo_rtt.is_some());
    // The router's forwarding plane did it: our packet, from us to us, in with 255, out with 254.
    wait_for_ok(
        "our echo both ways at the router",
        Duration::from_secs(10),
        || {
            let text = cap.peek(&["src host 192.0.2.1 and dst host 192.0.2.1"]);
            let ttl = |v: &str| text.lines().any(|l| l.contains(&format!("ttl {v},")));
            if ttl("255") && ttl("254") && text.contains("> 192.0.2.1.3785: BFD, Echo") {
                Ok(())
            } else {
                Err(text.lines().take(8).collect::<Vec<_>>().join("\n"))
            }
        },
    );
    // Stable: no state change, FRR's session up and its uptime counting.
    let mut events = bfd.subscribe();
    let uptime0 = frr_peer(&frr, "192.0.2.1")
        .and_then(|p| p.get("uptime").and_then(Value::as_u64))
        .unwrap_or(0);
    std::thread::sleep(Duration::from_secs(3));
    let s2 = status();
    let p = frr_peer(&frr, "192.0.2.1").unwrap();
    assert_eq!((s2.state, s2.echo_state), (State::Up, EchoState::Active));
    assert!(s2.echo_rx_packets > s.echo_rx_packets + 5, "{s2:?}");
    assert!(events.try_recv().is_err(), "no flap with echo running");
    assert_eq!(p.get("status").and_then(Value::as_str), Some("up"), "{p}");
    let uptime1 = p.get("uptime").and_then(Value::as_u64).unwrap_or(0);
    assert!(
        uptime1 >= uptime0 + 2,
        "FRR restarted: {uptime0} -> {uptime1}"
    );

    // The router stops forwarding our echoes: Down, diagnostic 2, control packets still flowing.
    t.b.sh("nft add table inet cut && nft add chain inet cut echofwd '{ type filter hook forward priority 0; }' && nft add rule inet cut echofwd ip saddr 192.0.2.1 udp dport 3785 drop");
    let ev = rt
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    if let Ok(e) = events.recv().await {
                        if e.from == State::Up {
                            return e;
                        }
                    }
                }
            })
            .await
        })
        .expect("Down after the router drops our echoes");
    assert_eq!(ev.diagnostic, Diagnostic::EchoFunctionFailed);
    assert!(ev.is_failure());
    let s0 = status();
    std::thread::sleep(Duration::from_millis(1500));
    let s1 = status();
    assert_eq!(s1.state, State::Down, "held down: {s1:?}");
    assert!(
        s1.rx_packets > s0.rx_packets && s1.tx_packets > s0.tx_packets,
        "control packets flow: {s0:?} {s1:?}"
    );
    let p = frr_peer(&frr, "192.0.2.1").unwrap();
    eprintln!("FRR while our echoes are dropped: {p}");
    // FRR answers our Down with Init; we stay Down (held), so it cannot come Up.
    assert!(
        matches!(
            p.get("status").and_then(Value::as_str),
            Some("down" | "init")
        ),
        "{p}"
    );
    assert_eq!(
        p.get("remote-diagnostic").and_then(Value::as_str),
        Some("echo function failed"),
        "{p}"
    );

    // Rule removed: back Up with echo running, and it stays Up.
    t.b.sh("nft delete table inet cut");
    let returned = s1.echo_rx_packets;
    wait_for("Up with echoes again", Duration::from_secs(40), || {
        let s = status();
        (s.state == State::Up && s.echo_rx_packets > returned + 10).then_some(())
    });
    while events.try_recv().is_ok() {}
    std::thread::sleep(Duration::from_secs(3));
    let s = status();
    assert_eq!(
        (s.state, s.echo_state),
        (State::Up, EchoState::Active),
        "{s:?}"
    );
    assert!(events.try_recv().is_err(), "stable after the repair");
    let p = frr_peer(&frr, "192.0.2.1").unwrap();
    assert_eq!(p.get("status").and_then(Value::as_str), Some("up"), "{p}");
}
