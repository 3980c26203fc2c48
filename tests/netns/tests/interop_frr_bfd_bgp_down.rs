//! Interop: BFD Down takes BGP down. Our speaker + BFD (namespace a) peer with FRR bgpd + bfdd
//! (namespace b). FRR's bgpd is NOT told to use BFD, so the only way its BGP session can drop is
//! our NOTIFICATION: cutting UDP 3784 (BGP's TCP keeps flowing) must make our BFD go Down and the
//! coupling send Cease / BFD Down (RFC 9384 subcode 10) at once; FRR withdraws our prefix; the
//! FSM reconnects; restoring the path brings BFD back Up.

mod interop_common;

use std::net::IpAddr;
use std::time::Duration;

use interop_common::*;
use metalroute_bgp::bfd::{couple_to_speaker, BfdHandle, SessionKey, SessionParams, State};
use metalroute_bgp::config::Family;
use metalroute_netns::{prerequisites, two_ns_with_veth, wait_for, Need};
use serde_json::Value;

#[test]
fn interop_frr_bfd_bgp_down_cease_bfd_down_on_cut() {
    let needs = [
        Need::Root,
        Need::Binary("zebra"),
        Need::Binary("bgpd"),
        Need::Binary("bfdd"),
        Need::Binary("nft"),
    ];
    if !prerequisites("interop_frr_bfd_bgp_down_cease_bfd_down_on_cut", &needs) {
        return;
    }
    let t = two_ns_with_veth("bfdbgp");
    let bfdd = "bfd\n peer 192.0.2.1 local-address 192.0.2.2\n  receive-interval 100\n  transmit-interval 100\n  no shutdown\n !\n!\n";
    let frr = metalroute_netns::Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        Some(bfdd),
    );
    let ours = Ours::start(&t.a, Some(179));
    let bfd = ours
        .rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let coupling = {
        let _guard = ours.rt.enter();
        couple_to_speaker(&bfd, ours.speaker.clone())
    };
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.99/32", plain())]);
    let bk = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4));
    ours.rt
        .block_on(bfd.add(bk.clone(), SessionParams::with_timers(100, 3).unwrap()))
        .unwrap();
    frr.wait_established("192.0.2.1", UP);
    wait_for("FRR has our prefix and BFD is up", UP, || {
        let s = ours.rt.block_on(bfd.status(bk.clone())).ok()??;
        (s.state == State::Up && frr.prefixes_v4().iter().any(|p| p == "198.51.100.99/32"))
            .then_some(())
    });
    let established = frr
        .vtysh_json("show bgp neighbors 192.0.2.1 json")
        .get("192.0.2.1")
        .and_then(|n| n.get("connectionsEstablished"))
        .and_then(Value::as_u64)
        .unwrap_or(0);

    // Cut BFD only (BGP's TCP on port 179 keeps working).
    t.a.sh("nft add table inet cut && nft add chain inet cut in '{ type filter hook input priority 0; }' && nft add rule inet cut in udp dport 3784 drop");
    wait_for(
        "FRR received Cease/BFD Down",
        Duration::from_secs(10),
        || {
            let n = frr.vtysh_json("show bgp neighbors 192.0.2.1 json");
            n.to_string().contains("BFD Down").then_some(())
        },
    );
    // The FSM reconnects (TCP works): FRR counts one more established connection.
    wait_for("BGP re-established after the reset", UP, || {
        let n = frr.vtysh_json("show bgp neighbors 192.0.2.1 json");
        let c = n
            .get("192.0.2.1")?
            .get("connectionsEstablished")?
            .as_u64()?;
        (c > established).then_some(())
    });
    let s = ours.rt.block_on(bfd.status(bk.clone())).unwrap().unwrap();
    assert_ne!(s.state, State::Up, "BFD stays down while cut");

    t.a.sh("nft delete table inet cut");
    wait_for("BFD back up", UP, || {
        let s = ours.rt.block_on(bfd.status(bk.clone())).ok()??;
        (s.state == State::Up).then_some(())
    });
    wait_for("FRR has our prefix again", UP, || {
        frr.prefixes_v4()
            .iter()
            .any(|p| p == "198.51.100.99/32")
            .then_some(())
    });
    ours.rt.block_on(bfd.shutdown()).unwrap();
    coupling.abort();
    ours.shutdown(false);
}

/// Removing BFD from a peer (what dropping `bfdProfile` from a BGPPeer does) stops BFD with an
/// AdminDown to the router and must not reset the BGP session (unlike MetalLB, BZ#2050824).
#[test]
fn interop_frr_bfd_bgp_down_removing_bfd_keeps_bgp() {
    let needs = [
        Need::Root,
        Need::Binary("zebra"),
        Need::Binary("bgpd"),
        Need::Binary("bfdd"),
    ];
    if !prerequisites("interop_frr_bfd_bgp_down_removing_bfd_keeps_bgp", &needs) {
        return;
    }
    let t = two_ns_with_veth("bfdrm");
    let bfdd = "bfd\n peer 192.0.2.1 local-address 192.0.2.2\n  receive-interval 300\n  transmit-interval 300\n  no shutdown\n !\n!\n";
    let frr = metalroute_netns::Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        Some(bfdd),
    );
    let ours = Ours::start(&t.a, Some(179));
    let bfd = ours
        .rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let coupling = {
        let _guard = ours.rt.enter();
        couple_to_speaker(&bfd, ours.speaker.clone())
    };
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    ours.add_peer(cfg);
    let bk = SessionKey::single_hop(IpAddr::V4(t.b_v4), IpAddr::V4(t.a_v4));
    ours.rt
        .block_on(bfd.add(bk.clone(), SessionParams::with_timers(300, 3).unwrap()))
        .unwrap();
    frr.wait_established("192.0.2.1", UP);
    wait_for("BFD up", UP, || {
        let s = ours.rt.block_on(bfd.status(bk.clone())).ok()??;
        (s.state == State::Up).then_some(())
    });
    let established = |frr: &metalroute_netns::Frr| {
        frr.vtysh_json("show bgp neighbors 192.0.2.1 json")
            .get("192.0.2.1")
            .and_then(|n| n.get("connectionsEstablished"))
            .and_then(Value::as_u64)
    };
    let before = established(&frr);
    ours.rt.block_on(bfd.remove(bk.clone())).unwrap();
    // FRR's bfdd hears AdminDown (diagnostic "administratively down"), not a timeout.
    wait_for(
        "FRR's BFD peer saw our AdminDown",
        Duration::from_secs(10),
        || {
            let v = frr.bfd_peers();
            let p = v
                .as_array()?
                .iter()
                .find(|p| p["peer"] == "192.0.2.1")?
                .clone();
            (p["status"] != "up").then_some(())
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        frr.bgp_neighbor_state("192.0.2.1").as_deref(),
        Some("Established")
    );
    assert_eq!(established(&frr), before, "the BGP session was reset");
    let n = frr.vtysh_json("show bgp neighbors 192.0.2.1 json");
    assert!(!n.to_string().contains("BFD Down"), "{n}");
    ours.rt.block_on(bfd.shutdown()).unwrap();
    coupling.abort();
    ours.shutdown(false);
}
