//! BGP interop with FRR where our side of the session lives in a VRF: the connecting and the
//! listening sockets are bound to the VRF device (SO_BINDTODEVICE), with TCP MD5. The host
//! kernel has no VRF, so these tests are named `vrf_*` and run in the VM stage (scripts/test-vm).

mod interop_common;

use interop_common::*;
use metalroute_bgp::config::Family;
use metalroute_bgp::fsm::State;
use metalroute_netns::{prerequisites, set_master, two_ns_with_veth, vrf, wait_for, Frr, Need};

const NEEDS: &[Need] = &[
    Need::Root,
    Need::Vrf,
    Need::Binary("bgpd"),
    Need::Binary("zebra"),
];

#[test]
fn vrf_interop_frr_session_in_vrf_with_md5() {
    if !prerequisites("vrf_interop_frr_session_in_vrf_with_md5", NEEDS) {
        return;
    }
    let t = two_ns_with_veth("ivrf");
    vrf(&t.a, "vrf-red", 100);
    set_master(&t.a, "to-b", "vrf-red");
    let frr = Frr::start(
        &t.b,
        &frr_conf(
            64512,
            "192.0.2.2",
            &[("192.0.2.1", "64511", &["password vrf-Secret"])],
            &["203.0.113.0/24"],
        ),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.vrf = Some("vrf-red".into());
    cfg.password = Some("vrf-Secret".into());
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.1/32", plain())]);
    frr.wait_established("192.0.2.1", UP);
    ours.wait_state(&key, State::Established, UP);
    wait_for("FRR has the prefix from the VRF session", UP, || {
        frr.prefixes_v4()
            .iter()
            .any(|p| p == "198.51.100.1/32")
            .then_some(())
    });
    wait_for("our VRF session received FRR's route", UP, || {
        ours.received(&key, Family::IPV4_UNICAST)
            .iter()
            .any(|r| r.prefix.to_string() == "203.0.113.0/24")
            .then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn vrf_interop_frr_passive_listener_in_vrf() {
    if !prerequisites("vrf_interop_frr_passive_listener_in_vrf", NEEDS) {
        return;
    }
    let t = two_ns_with_veth("ivrp");
    vrf(&t.a, "vrf-blue", 200);
    set_master(&t.a, "to-b", "vrf-blue");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.vrf = Some("vrf-blue".into());
    cfg.passive = true;
    let key = cfg.key();
    ours.add_peer(cfg);
    frr.wait_established("192.0.2.1", UP);
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(
        st.local_address.map(|a| a.port()),
        Some(179),
        "FRR dialed our VRF listener: {st:?}"
    );
    ours.shutdown(false);
}
