//! metalroute ↔ metalroute over real sockets in two namespaces: single-hop sessions (IPv4 and
//! IPv6) with the echo function on both sides, each namespace forwarding IP like a Kubernetes
//! node. RFC 5881 §4: each side's echoes are addressed to itself and sent to the other side's
//! MAC; the other side's KERNEL forwards them straight back (no BFD code reflects anything).
//! A capture on the reflecting side shows our echo with source = destination = our address going
//! in with TTL 255 and out with TTL 254. Dropping the forwarded echoes (nftables, forward hook,
//! on the reflecting side) takes the session Down with diagnostic 2 "echo function failed" while
//! control packets still flow; it is held Down, and comes back Up with echo running once the
//! rule is removed.

use std::net::IpAddr;
use std::time::Duration;

use metalroute_bgp::bfd::{
    BfdHandle, Diagnostic, EchoState, Interval, SessionKey, SessionParams, State,
};
use metalroute_netns::{
    prerequisites, sysctl, two_ns_with_veth, wait_for, wait_for_ok, Capture, Need,
};

#[test]
fn interop_metalroute_bfd_echo_reflection_and_failure() {
    if !prerequisites(
        "interop_metalroute_bfd_echo_reflection_and_failure",
        &[Need::Root, Need::Binary("nft"), Need::Binary("tcpdump")],
    ) {
        return;
    }
    let t = two_ns_with_veth("bfdmre");
    for ns in [&t.a, &t.b] {
        sysctl(ns, "net.ipv4.ip_forward", "1");
        sysctl(ns, "net.ipv6.conf.all.forwarding", "1");
    }
    let mut params = SessionParams::with_timers(300, 3).unwrap();
    params.echo_mode = true;
    // Generous echo timers (detection 3 × 200 ms): under a loaded CI machine a 150 ms detection
    // time can expire from scheduling delay alone, on either side, which is not what this tests.
    params.echo_interval = Interval::from_millis("echoInterval", 200).unwrap();
    let rt_a = t.a.runtime(1);
    let rt_b = t.b.runtime(1);
    let a = rt_a.block_on(async { BfdHandle::spawn() }).unwrap();
    let b = rt_b.block_on(async { BfdHandle::spawn() }).unwrap();
    let ka = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4));
    let kb = SessionKey::single_hop(IpAddr::V4(t.a_v4), IpAddr::V4(t.b_v4));
    let ka6 = SessionKey::single_hop(IpAddr::V6(t.b_v6), IpAddr::V6(t.a_v6));
    let kb6 = SessionKey::single_hop(IpAddr::V6(t.a_v6), IpAddr::V6(t.b_v6));
    let cap = Capture::start(&t.b, &t.b_if, "udp port 3785");
    rt_a.block_on(a.add(ka.clone(), params.clone())).unwrap();
    rt_b.block_on(b.add(kb.clone(), params.clone())).unwrap();
    rt_a.block_on(a.add(ka6.clone(), params.clone())).unwrap();
    rt_b.block_on(b.add(kb6.clone(), params)).unwrap();
    for (h, rt, k) in [
        (&a, &rt_a, &ka),
        (&b, &rt_b, &kb),
        (&a, &rt_a, &ka6),
        (&b, &rt_b, &kb6),
    ] {
        let s = wait_for(
            &format!("echoes returning for {k}"),
            Duration::from_secs(20),
            || {
                let s = rt.block_on(h.status(k.clone())).ok()??;
                (s.state == State::Up
                    && s.echo_state == EchoState::Active
                    && s.echo_rx_packets > 10)
                    .then_some(s)
            },
        );
        assert!(s.last_echo_rtt.is_some(), "{s:?}");
    }
    // On the wire at b: a's echo, from a to a, arrives with TTL 255 and leaves forwarded (254).
    wait_for_ok(
        "a's echo seen both ways at b",
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

    // Drop the echoes b forwards back to a (a's echoes only: b's own echoes, forwarded by a,
    // still pass).
    let mut events = a.subscribe();
    t.b.sh("nft add table inet cut && nft add chain inet cut echofwd '{ type filter hook forward priority 0; }' && nft add rule inet cut echofwd ip saddr 192.0.2.1 udp dport 3785 drop");
    let ev = rt_a
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    if let Ok(e) = events.recv().await {
                        if e.key == ka && e.from == State::Up {
                            return e;
                        }
                    }
                }
            })
            .await
        })
        .expect("Down after echo loss");
    assert_eq!(ev.diagnostic, Diagnostic::EchoFunctionFailed);
    assert!(ev.is_failure());
    // Held Down while control packets keep flowing both ways; b hears why.
    let s0 = rt_a.block_on(a.status(ka.clone())).unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let s1 = rt_a.block_on(a.status(ka.clone())).unwrap().unwrap();
    assert!(s1.held_down_until.is_some(), "{s1:?}");
    assert!(
        s1.rx_packets > s0.rx_packets && s1.tx_packets > s0.tx_packets,
        "control packets flow: {s0:?} {s1:?}"
    );
    let sb = rt_b.block_on(b.status(kb.clone())).unwrap().unwrap();
    assert_eq!(
        sb.remote_diagnostic,
        Diagnostic::EchoFunctionFailed,
        "{sb:?}"
    );
    // The IPv6 session is unaffected.
    let s6 = rt_a.block_on(a.status(ka6.clone())).unwrap().unwrap();
    assert_eq!(
        (s6.state, s6.echo_state),
        (State::Up, EchoState::Active),
        "{s6:?}"
    );

    // Rule removed: back Up once the hold-down ends, echoes return, and it stays Up.
    t.b.sh("nft delete table inet cut");
    let returned = s1.echo_rx_packets;
    wait_for("a Up with echoes again", Duration::from_secs(40), || {
        let s = rt_a.block_on(a.status(ka.clone())).ok()??;
        (s.state == State::Up && s.echo_rx_packets > returned + 10).then_some(())
    });
    while events.try_recv().is_ok() {}
    std::thread::sleep(Duration::from_secs(3));
    let s = rt_a.block_on(a.status(ka.clone())).unwrap().unwrap();
    assert_eq!(
        (s.state, s.echo_state),
        (State::Up, EchoState::Active),
        "{s:?}"
    );
    assert!(
        std::iter::from_fn(|| events.try_recv().ok()).all(|e| e.key != ka),
        "stable after the repair"
    );
}
