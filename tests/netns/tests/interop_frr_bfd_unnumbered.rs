//! Interop: BFD on an unnumbered BGP peer (RFC 5881 over IPv6 link-local addresses), against FRR
//! 8.4 bgpd + bfdd configured as a MetalLB user's router would be for `neighbor IF interface`
//! with BFD: `neighbor to-a interface remote-as external` and `neighbor to-a bfd profile fast`.
//!
//! The link carries only link-local addresses. Our speaker learns FRR's address from its Router
//! Advertisements; the BFD session runs between the two link-local addresses, its sockets bound
//! to the interface (scope id). Cutting BFD on the link (nftables drops UDP 3784 both ways on our
//! side; BGP's TCP keeps flowing) must take our BFD session Down first (FRR's detection time is
//! made longer than ours) and our coupling must close the BGP session with Cease / BFD Down
//! (RFC 9384 subcode 10), which FRR records as received; restoring the link brings BFD and the
//! routes back.

mod interop_common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use interop_common::*;
use metalroute_bgp::bfd::{
    couple_to_speaker, BfdHandle, DetectMultiplier, Error as BfdError, SessionKey, SessionParams,
    State,
};
use metalroute_bgp::config::{Asn, Family, HoldTime, PeerAsn, PeerConfig, Timers};
use metalroute_netns::{ip_json, prerequisites, veth, wait_for, Frr, Need, Netns};
use serde_json::Value;

/// The IPv6 link-local address of `ifname` in `ns`.
fn link_local(ns: &Netns, ifname: &str) -> Ipv6Addr {
    wait_for(&format!("{ifname} link-local address"), UP, || {
        let v = ip_json(ns, &["-6", "addr", "show", "dev", ifname, "scope", "link"]);
        v.as_array()?
            .iter()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .find_map(|a| a["local"].as_str()?.parse().ok())
    })
}

/// FRR: an unnumbered neighbour on `to-a` with BFD (profile `fast`: 100 ms, multiplier 3).
const FRR_BGPD: &str = "frr defaults traditional\nhostname r64512\n!\nrouter bgp 64512\n bgp router-id 192.0.2.2\n no bgp ebgp-requires-policy\n no bgp network import-check\n bgp log-neighbor-changes\n neighbor to-a interface remote-as external\n neighbor to-a timers 3 9\n neighbor to-a timers connect 1\n neighbor to-a bfd profile fast\n address-family ipv6 unicast\n  neighbor to-a activate\n exit-address-family\n!\n";
const FRR_BFDD: &str = "bfd\n profile fast\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n !\n!\n";

/// Our BFD timers: 100 ms with multiplier 10, so FRR detects a cut after ~1 s while we detect
/// it after ~300 ms (FRR's multiplier): our Cease / BFD Down is the one that closes the session.
fn our_bfd_params() -> SessionParams {
    let mut p = SessionParams::with_timers(100, 3).expect("100 ms x 3 is valid");
    p.detect_multiplier = DetectMultiplier::new(10).expect("10 is a valid multiplier");
    p
}

fn connections_established(frr: &Frr) -> u64 {
    frr.vtysh_json("show bgp neighbors to-a json")
        .get("to-a")
        .and_then(|n| n.get("connectionsEstablished"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// FRR's BFD session with `peer` (our link-local address), if bfdd has one.
fn frr_bfd_peer(frr: &Frr, peer: Ipv6Addr) -> Option<Value> {
    frr.bfd_peers()
        .as_array()?
        .iter()
        .find(|p| p["peer"].as_str() == Some(&peer.to_string()))
        .cloned()
}

#[test]
fn interop_frr_bfd_unnumbered_link_local_session_and_cease_bfd_down_on_cut() {
    let needs = [
        Need::Root,
        Need::Binary("zebra"),
        Need::Binary("bgpd"),
        Need::Binary("bfdd"),
        Need::Binary("nft"),
    ];
    if !prerequisites(
        "interop_frr_bfd_unnumbered_link_local_session_and_cease_bfd_down_on_cut",
        &needs,
    ) {
        return;
    }
    let a = Netns::new("bfdunna");
    let b = Netns::new("bfdunnb");
    veth(&a, "to-b", &b, "to-a");
    let our_ll = link_local(&a, "to-b");
    let frr_ll = link_local(&b, "to-a");
    let frr = Frr::start(&b, FRR_BGPD, Some(FRR_BFDD));
    let ours = Ours::start(&a, Some(179));
    let bfd = ours
        .rt
        .block_on(async { BfdHandle::spawn() })
        .expect("spawn BFD");
    let coupling = {
        let _guard = ours.rt.enter();
        couple_to_speaker(&bfd, ours.speaker.clone())
    };
    let mut cfg = PeerConfig::unnumbered(
        Asn(64511),
        PeerAsn::DynamicExternal,
        "to-b",
        Ipv4Addr::new(192, 0, 2, 1),
    );
    cfg.timers = Timers {
        hold_time: HoldTime::from_secs(9).expect("hold"),
        keepalive: None,
        connect_time: Duration::from_secs(2),
    };
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(
        &key,
        Family::IPV6_UNICAST,
        &[("2001:db8:100::10/128", plain())],
    );

    // A link-local session without its interface is refused with a reason.
    let err = ours
        .rt
        .block_on(bfd.add(
            SessionKey::single_hop(IpAddr::V6(frr_ll), IpAddr::V6(our_ll)),
            our_bfd_params(),
        ))
        .unwrap_err();
    assert!(matches!(err, BfdError::Key { .. }), "{err}");

    // The neighbour's address comes from discovery, as the agent's BFD actuator takes it.
    let neighbor = wait_for("our speaker learned FRR's link-local address", UP, || {
        ours.status(&key).neighbor
    });
    assert_eq!(neighbor, frr_ll);
    let bk = SessionKey::link_local("to-b", neighbor, our_ll);
    assert_eq!(
        metalroute_bgp::bfd::coupling::peer_key(&bk),
        key,
        "the BFD session protects the unnumbered BGP session"
    );
    ours.rt
        .block_on(bfd.add(bk.clone(), our_bfd_params()))
        .expect("add the link-local BFD session");

    frr.wait_established("to-a", UP);
    wait_for("our BFD session Up and FRR has our prefix", UP, || {
        let s = ours.rt.block_on(bfd.status(bk.clone())).ok()??;
        (s.state == State::Up
            && frr
                .prefixes_v6()
                .iter()
                .any(|p| p == "2001:db8:100::10/128"))
        .then_some(())
    });
    let p = wait_for(
        "FRR's BFD session with our link-local address is up",
        UP,
        || frr_bfd_peer(&frr, our_ll).filter(|p| p["status"] == "up"),
    );
    assert_eq!(p["interface"].as_str(), Some("to-a"), "FRR: {p}");
    assert_eq!(
        p["local"].as_str(),
        Some(frr_ll.to_string().as_str()),
        "FRR: {p}"
    );
    let established = connections_established(&frr);

    // Cut BFD on the link (both directions on our side); BGP's TCP keeps working.
    a.sh("nft add table inet cut && nft add chain inet cut in '{ type filter hook input priority 0; }' && nft add chain inet cut out '{ type filter hook output priority 0; }' && nft add rule inet cut in udp dport 3784 drop && nft add rule inet cut out udp dport 3784 drop");
    let n = wait_for(
        "FRR received our Cease/BFD Down",
        Duration::from_secs(10),
        || {
            let n = frr.vtysh_json("show bgp neighbors to-a json");
            n.to_string().contains("BFD Down").then_some(n)
        },
    );
    let to_a = &n["to-a"];
    assert_eq!(
        to_a["lastNotificationReason"].as_str(),
        Some("Cease/BFD Down"),
        "{n}"
    );
    assert_eq!(
        to_a["lastResetDueTo"].as_str(),
        Some("BGP Notification received"),
        "our NOTIFICATION closed the session, not FRR's own BFD: {n}"
    );
    let s = ours.rt.block_on(bfd.status(bk.clone())).unwrap().unwrap();
    assert_ne!(s.state, State::Up, "our BFD is down while cut");
    // The FSM reconnects (TCP works); the routes wait for nothing here (no gate in this test).
    wait_for("BGP re-established after the reset", UP, || {
        (connections_established(&frr) > established).then_some(())
    });

    a.sh("nft delete table inet cut");
    wait_for("our BFD session back Up", UP, || {
        let s = ours.rt.block_on(bfd.status(bk.clone())).ok()??;
        (s.state == State::Up).then_some(())
    });
    wait_for("FRR's BFD session back up", UP, || {
        frr_bfd_peer(&frr, our_ll).filter(|p| p["status"] == "up")
    });
    wait_for("FRR has our prefix again", UP, || {
        frr.prefixes_v6()
            .iter()
            .any(|p| p == "2001:db8:100::10/128")
            .then_some(())
    });
    ours.rt.block_on(bfd.shutdown()).unwrap();
    coupling.abort();
    ours.shutdown(false);
}
