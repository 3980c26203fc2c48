//! Interop: passive mode against FRR bfdd. Our passive session sends nothing until FRR speaks and
//! then comes Up; FRR in passive mode comes Up with our active session; and both passive stay
//! silent (nothing received on FRR's side).

use std::net::IpAddr;
use std::time::Duration;

use metalroute_bgp::bfd::{BfdHandle, SessionKey, SessionParams, State};
use metalroute_netns::{prerequisites, two_ns_with_veth, wait_for, Frr, Need};
use serde_json::Value;

const NEEDS: &[Need] = &[
    Need::Root,
    Need::Binary("zebra"),
    Need::Binary("bgpd"),
    Need::Binary("bfdd"),
];

fn frr_peer(frr: &Frr, peer: &str) -> Option<Value> {
    let v = frr.bfd_peers();
    v.as_array()?
        .iter()
        .find(|p| p.get("peer").and_then(Value::as_str) == Some(peer))
        .cloned()
}

fn conf(passive: bool) -> String {
    format!(
        "bfd\n peer 192.0.2.1 local-address 192.0.2.2\n  receive-interval 100\n  transmit-interval 100\n{}  no shutdown\n !\n!\n",
        if passive { "  passive-mode\n" } else { "" }
    )
}

fn run_case(name: &str, frr_passive: bool, ours_passive: bool) {
    let t = two_ns_with_veth(name);
    let frr = Frr::start(&t.b, "frr defaults traditional\n", Some(&conf(frr_passive)));
    let rt = t.a.runtime(1);
    let bfd = rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let k = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4));
    let mut params = SessionParams::with_timers(100, 3).unwrap();
    params.passive_mode = ours_passive;
    rt.block_on(bfd.add(k.clone(), params)).unwrap();
    if frr_passive && ours_passive {
        std::thread::sleep(Duration::from_secs(3));
        let s = rt.block_on(bfd.status(k.clone())).unwrap().unwrap();
        assert_eq!(s.state, State::Down);
        assert_eq!(
            (s.tx_packets, s.rx_packets),
            (0, 0),
            "both passive: silence"
        );
        let p = frr_peer(&frr, "192.0.2.1").expect("FRR peer");
        assert_eq!(p.get("remote-id").and_then(Value::as_u64), Some(0), "{p}");
        return;
    }
    wait_for("both sides up", Duration::from_secs(15), || {
        let s = rt.block_on(bfd.status(k.clone())).ok()??;
        let p = frr_peer(&frr, "192.0.2.1")?;
        (s.state == State::Up && p.get("status").and_then(Value::as_str) == Some("up"))
            .then_some(())
    });
    if frr_passive {
        let p = frr_peer(&frr, "192.0.2.1").unwrap();
        assert_eq!(
            p.get("passive-mode").and_then(Value::as_bool),
            Some(true),
            "{p}"
        );
    }
}

#[test]
fn interop_frr_bfd_passive_ours_passive_frr_active() {
    if prerequisites("interop_frr_bfd_passive_ours_passive_frr_active", NEEDS) {
        run_case("bfdpa", false, true);
    }
}

#[test]
fn interop_frr_bfd_passive_frr_passive_ours_active() {
    if prerequisites("interop_frr_bfd_passive_frr_passive_ours_active", NEEDS) {
        run_case("bfdpb", true, false);
    }
}

#[test]
fn interop_frr_bfd_passive_both_passive_stay_silent() {
    if prerequisites("interop_frr_bfd_passive_both_passive_stay_silent", NEEDS) {
        run_case("bfdpc", true, true);
    }
}
