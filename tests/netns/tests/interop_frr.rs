//! BGP interop with FRR 8.4: our speaker in one namespace, FRR's bgpd in another, each test one
//! feature, checked in FRR's own RIB and neighbor state (`vtysh ... json`).

mod interop_common;

use interop_common::*;
use metalroute_bgp::config::Family;
use metalroute_bgp::fsm::State;
use metalroute_netns::{prerequisites, two_ns_with_veth, wait_for, Frr, Need};
use serde_json::Value;

const FRR: &[Need] = &[Need::Root, Need::Binary("bgpd"), Need::Binary("zebra")];

fn has(prefixes: &[String], p: &str) -> bool {
    prefixes.iter().any(|x| x == p)
}

/// The best path of `prefix` in FRR's RIB.
fn best_path(frr: &Frr, prefix: &str) -> Value {
    let d = frr.route_detail(prefix);
    let paths = d
        .get("paths")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    paths.into_iter().next().unwrap_or(Value::Null)
}

#[test]
fn interop_frr_ebgp_ipv4() {
    if !prerequisites("interop_frr_ebgp_ipv4", FRR) {
        return;
    }
    let t = two_ns_with_veth("ife4");
    let frr = Frr::start(
        &t.b,
        &frr_conf(
            64512,
            "192.0.2.2",
            &[("192.0.2.1", "64511", &[])],
            &["203.0.113.0/24"],
        ),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(
        &key,
        Family::IPV4_UNICAST,
        &[("198.51.100.0/24", plain()), ("198.51.100.77/32", plain())],
    );
    frr.wait_established("192.0.2.1", UP);
    wait_for("FRR has both prefixes", UP, || {
        let p = frr.prefixes_v4();
        (has(&p, "198.51.100.0/24") && has(&p, "198.51.100.77/32")).then_some(())
    });
    let path = best_path(&frr, "198.51.100.77/32");
    assert_eq!(path["aspath"]["string"], "64511", "{path}");
    assert_eq!(path["nexthops"][0]["ip"], "192.0.2.1", "{path}");
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(st.hold_time.map(|h| h.secs()), Some(9));
    // FRR's network reaches our Adj-RIB-In.
    wait_for("our Adj-RIB-In has FRR's prefix", UP, || {
        ours.received(&key, Family::IPV4_UNICAST)
            .iter()
            .any(|r| r.prefix.to_string() == "203.0.113.0/24")
            .then_some(())
    });
    let st = ours.status(&key);
    assert!(
        st.messages.opens_sent >= 1 && st.messages.opens_received >= 1,
        "{:?}",
        st.messages
    );
    assert!(st.messages.updates_sent >= 1, "{:?}", st.messages);
    ours.shutdown(false);
}
