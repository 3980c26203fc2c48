//! Interop (VM stage, needs VRF): a BFD session whose key is in VRF `vrf-red`. Our sockets are
//! bound to the VRF device (SO_BINDTODEVICE); the link to FRR is a port of the VRF, so nothing in
//! the default VRF can reach FRR. The session comes Up on both sides, and a default-VRF session
//! with the same addresses stays Down.

use std::net::IpAddr;
use std::time::Duration;

use metalroute_bgp::bfd::{BfdHandle, SessionKey, SessionParams, State};
use metalroute_netns::{prerequisites, set_master, two_ns_with_veth, vrf, wait_for, Frr, Need};
use serde_json::Value;

#[test]
fn vrf_interop_frr_bfd_session_in_a_vrf() {
    let needs = [
        Need::Root,
        Need::Vrf,
        Need::Binary("zebra"),
        Need::Binary("bgpd"),
        Need::Binary("bfdd"),
    ];
    if !prerequisites("vrf_interop_frr_bfd_session_in_a_vrf", &needs) {
        return;
    }
    let t = two_ns_with_veth("bfdvrf");
    vrf(&t.a, "vrf-red", 100);
    set_master(&t.a, "to-b", "vrf-red");
    let bfdd = "bfd\n peer 192.0.2.1 local-address 192.0.2.2\n  receive-interval 100\n  transmit-interval 100\n  no shutdown\n !\n!\n";
    let frr = Frr::start(&t.b, "frr defaults traditional\n", Some(bfdd));
    let rt = t.a.runtime(1);
    let bfd = rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let red = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4)).in_vrf("vrf-red");
    let default = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4));
    rt.block_on(bfd.add(red.clone(), SessionParams::with_timers(100, 3).unwrap()))
        .expect("add the VRF session");
    // The default VRF may not even own the address any more (its local route moved to table
    // 100): then adding fails; otherwise the session must stay Down.
    let default_added = rt
        .block_on(bfd.add(default.clone(), SessionParams::with_timers(100, 3).unwrap()))
        .map_err(|e| eprintln!("default-VRF session not added: {e}"))
        .is_ok();
    wait_for(
        "VRF session up on both sides",
        Duration::from_secs(20),
        || {
            let s = rt.block_on(bfd.status(red.clone())).ok()??;
            let p = frr.bfd_peers();
            let up = p.as_array()?.iter().any(|p| {
                p.get("peer").and_then(Value::as_str) == Some("192.0.2.1")
                    && p.get("status").and_then(Value::as_str) == Some("up")
            });
            (s.state == State::Up && up).then_some(())
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    if default_added {
        let d = rt.block_on(bfd.status(default.clone())).unwrap().unwrap();
        assert_eq!(
            d.state,
            State::Down,
            "the default VRF has no path to FRR: {d:?}"
        );
        assert_eq!(d.rx_packets, 0);
    }
    let r = rt.block_on(bfd.status(red.clone())).unwrap().unwrap();
    assert_eq!(r.state, State::Up);
}
