//! metalroute ↔ metalroute over real sockets in two namespaces: single-hop sessions with the echo
//! function on both sides. Each side's echoes leave from its UDP 3785 socket with TTL 255, the
//! other side reflects them with TTL 254 (sendmsg with a TTL control message), and they count as
//! returned. Dropping our reflected echoes (nftables: UDP 3785 with TTL 254, so the peer's own
//! echoes still pass — which also proves the reflection carries TTL 254) takes the session Down
//! with diagnostic "echo function failed" while control packets still flow.

use std::net::IpAddr;
use std::time::Duration;

use metalroute_bgp::bfd::{BfdHandle, Diagnostic, Interval, SessionKey, SessionParams, State};
use metalroute_netns::{prerequisites, two_ns_with_veth, wait_for, Need};

#[test]
fn interop_metalroute_bfd_echo_reflection_and_failure() {
    if !prerequisites(
        "interop_metalroute_bfd_echo_reflection_and_failure",
        &[Need::Root, Need::Binary("nft")],
    ) {
        return;
    }
    let t = two_ns_with_veth("bfdmre");
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
    rt_a.block_on(a.add(ka.clone(), params.clone())).unwrap();
    rt_b.block_on(b.add(kb.clone(), params)).unwrap();
    let s = wait_for("echo returning on side a", Duration::from_secs(15), || {
        let s = rt_a.block_on(a.status(ka.clone())).ok()??;
        (s.state == State::Up && s.echo_active && s.echo_rx_packets > 20).then_some(s)
    });
    assert!(s.last_echo_rtt.is_some());
    wait_for("echo returning on side b", Duration::from_secs(15), || {
        let s = rt_b.block_on(b.status(kb.clone())).ok()??;
        (s.echo_active && s.echo_rx_packets > 20).then_some(())
    });

    let mut events = a.subscribe();
    t.a.sh("nft add table inet cut && nft add chain inet cut in '{ type filter hook input priority 0; }' && nft add rule inet cut in udp dport 3785 ip ttl 254 drop");
    let ev = rt_a
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(5), async {
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
        .expect("Down after echo loss");
    assert_eq!(ev.diagnostic, Diagnostic::EchoFunctionFailed);
    assert!(ev.is_failure());
}
