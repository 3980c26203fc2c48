//! A connection that arrives through a VRF must never reach a session of another VRF.
//!
//! With `net.ipv4.tcp_l3mdev_accept=1` (which VRF nodes set) the default VRF's unbound listener
//! also accepts connections that came in through a VRF whose own listener is not open yet; the
//! kernel binds the accepted socket to that VRF's device. Two routers with the same address
//! (192.0.2.2), one behind VRF red and one in the default VRF, with different ASNs: the red one
//! dials us before we have a red peer, and the default session must not see its OPEN. The same
//! runs over IPv6 (2001:db8::2 behind both links; IPv6 shares the sysctl). Needs
//! VRFs, so it is named `vrf_*` and runs in the VM stage (scripts/test-vm).

mod interop_common;

use std::time::{Duration, Instant};

use interop_common::*;
use metalroute_bgp::config::Family;
use metalroute_bgp::fsm::State;
use metalroute_netns::{
    addr, prerequisites, set_master, sysctl, two_ns_with_veth, veth, vrf, wait_for, Frr, Need,
    Netns,
};

const NEEDS: &[Need] = &[
    Need::Root,
    Need::Vrf,
    Need::Binary("bgpd"),
    Need::Binary("zebra"),
];

/// TCP passive opens (connections accepted) so far in `ns`, from `/proc/net/snmp`.
fn passive_opens(ns: &Netns) -> u64 {
    let text = ns.exec_stdout(&["cat", "/proc/net/snmp"]);
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
        panic!("no Tcp lines in /proc/net/snmp:\n{text}");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "PassiveOpens")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no PassiveOpens in /proc/net/snmp:\n{text}"))
}

/// The addresses and prefixes of one run: IPv4 or IPv6 sessions.
struct Plan {
    /// Our address on both links (CIDR).
    node: &'static str,
    /// Both routers' address (CIDR).
    router: &'static str,
    /// Router B's network, announced to our default session.
    b_net: &'static str,
    /// Router C's network, announced to our red session.
    c_net: &'static str,
    /// What we announce to B and to C.
    ours_b: &'static str,
    ours_c: &'static str,
    family: Family,
}

const V4: Plan = Plan {
    node: "192.0.2.1/24",
    router: "192.0.2.2/24",
    b_net: "203.0.113.0/24",
    c_net: "198.51.100.0/24",
    ours_b: "198.51.100.1/32",
    ours_c: "198.51.100.2/32",
    family: Family::IPV4_UNICAST,
};

const V6: Plan = Plan {
    node: "2001:db8::1/64",
    router: "2001:db8::2/64",
    b_net: "2001:db8:b::/48",
    c_net: "2001:db8:c::/48",
    ours_b: "2001:db8:1::1/128",
    ours_c: "2001:db8:2::1/128",
    family: Family::IPV6_UNICAST,
};

#[test]
fn vrf_accept_connection_through_a_vrf_never_reaches_the_default_session() {
    if prerequisites(
        "vrf_accept_connection_through_a_vrf_never_reaches_the_default_session",
        NEEDS,
    ) {
        foreign_vrf_connection("vacc", &V4);
    }
}

#[test]
fn vrf_accept_ipv6_connection_through_a_vrf_never_reaches_the_default_session() {
    if prerequisites(
        "vrf_accept_ipv6_connection_through_a_vrf_never_reaches_the_default_session",
        NEEDS,
    ) {
        foreign_vrf_connection("vac6", &V6);
    }
}

fn foreign_vrf_connection(prefix: &str, p: &Plan) {
    let node = p.node.split('/').next().unwrap_or(p.node);
    let router = p.router.split('/').next().unwrap_or(p.router);
    // Node `a`: to-b in the default VRF (router B, AS 64512), to-c in VRF red (router C,
    // AS 64513). Both routers have the same address, and so do both our links.
    let t = two_ns_with_veth(prefix);
    let c = Netns::new(&format!("{prefix}c"));
    veth(&t.a, "to-c", &c, "to-a");
    vrf(&t.a, "vrf-red", 100);
    set_master(&t.a, "to-c", "vrf-red");
    addr(&t.a, "to-c", p.node);
    addr(&c, "to-a", p.router);
    sysctl(&t.a, "net.ipv4.tcp_l3mdev_accept", "1");

    // B never dials (passive), so every connection our node accepts comes from C.
    let frr_b = Frr::start(
        &t.b,
        &frr_conf(
            64512,
            "192.0.2.2",
            &[(node, "64511", &["passive"])],
            &[p.b_net],
        ),
        None,
    );
    let frr_c = Frr::start(
        &c,
        &frr_conf(64513, "192.0.2.3", &[(node, "64511", &[])], &[p.c_net]),
        None,
    );

    // Only the default-VRF peer: our only listener is the default VRF's, unbound.
    let ours = Ours::start(&t.a, Some(179));
    let def = peer(64511, fixed(64512), router, "192.0.2.1");
    let def_key = def.key();
    ours.add_peer(def);
    ours.advertise(&def_key, p.family, &[(p.ours_b, plain())]);
    frr_b.wait_established(node, UP);
    ours.wait_state(&def_key, State::Established, UP);

    // C dials our address through red: the kernel hands those connections to our default
    // listener. Watch until it has done so three times; C must never get a session, and the
    // default session must never see C's OPEN (no Bad Peer AS, no collision Cease).
    let before = passive_opens(&t.a);
    let deadline = Instant::now() + UP;
    loop {
        let accepted = passive_opens(&t.a) - before;
        let c_state = frr_c.bgp_neighbor_state(node);
        assert_ne!(
            c_state.as_deref(),
            Some("Established"),
            "router C (VRF red) got a session before any red peer exists"
        );
        let st = ours.status(&def_key);
        assert_eq!(
            st.state,
            State::Established,
            "default session left Established: {st:?}"
        );
        assert_eq!(
            (st.messages.opens_received, st.messages.notifications_sent),
            (1, 0),
            "the default session saw a connection from VRF red ({accepted} accepted): {st:?}"
        );
        if accepted >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "router C did not dial our node 3 times within {UP:?} ({accepted} accepted)"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Now a red peer: its listener and its connections are bound to vrf-red and C comes up
    // there, while the default session stays with B.
    let mut red = peer(64511, fixed(64513), router, "192.0.2.1");
    red.vrf = Some("vrf-red".into());
    let red_key = red.key();
    ours.add_peer(red);
    ours.advertise(&red_key, p.family, &[(p.ours_c, plain())]);
    frr_c.wait_established(node, UP);
    let st = ours.wait_state(&red_key, State::Established, UP);
    assert_eq!(st.peer_asn.map(|a| a.0), Some(64513), "{st:?}");
    wait_for("the red session received C's route", UP, || {
        ours.received(&red_key, p.family)
            .iter()
            .any(|r| r.prefix.to_string() == p.c_net)
            .then_some(())
    });
    wait_for("C has the red advertisement only", UP, || {
        let have = match p.family {
            Family::IPV4_UNICAST => frr_c.prefixes_v4(),
            _ => frr_c.prefixes_v6(),
        };
        (have.iter().any(|x| x == p.ours_c) && !have.iter().any(|x| x == p.ours_b)).then_some(())
    });
    let st = ours.status(&def_key);
    assert_eq!(st.state, State::Established, "{st:?}");
    assert_eq!(st.peer_asn.map(|a| a.0), Some(64512), "{st:?}");
    assert_eq!(
        (st.messages.opens_received, st.messages.notifications_sent),
        (1, 0),
        "{st:?}"
    );
    let default_routes = ours.received(&def_key, p.family);
    assert!(
        default_routes
            .iter()
            .any(|r| r.prefix.to_string() == p.b_net)
            && !default_routes
                .iter()
                .any(|r| r.prefix.to_string() == p.c_net),
        "the default session has C's route or lacks B's: {default_routes:?}"
    );
    ours.shutdown(false);
}

/// The other side of the same check, on the host (no VRF): a connection from an IPv6
/// link-local address is bound by the kernel to the interface it arrived on, not to a VRF, and
/// must still reach the unnumbered peer of that interface. Our peer is passive, so the session
/// can only come up through our (unbound) listener.
#[test]
fn accept_link_local_connection_for_a_passive_unnumbered_peer() {
    if !prerequisites(
        "accept_link_local_connection_for_a_passive_unnumbered_peer",
        &[Need::Root, Need::Binary("bgpd"), Need::Binary("zebra")],
    ) {
        return;
    }
    let a = Netns::new("vaclla");
    let b = Netns::new("vacllb");
    veth(&a, "to-b", &b, "to-a");
    let frr = Frr::start(
        &b,
        "frr defaults traditional\nhostname r64512\n!\nrouter bgp 64512\n bgp router-id 192.0.2.2\n no bgp ebgp-requires-policy\n no bgp network import-check\n neighbor to-a interface remote-as external\n neighbor to-a timers 3 9\n neighbor to-a timers connect 1\n address-family ipv6 unicast\n  neighbor to-a activate\n  network 2001:db8:ff::/48\n exit-address-family\n!\n",
        None,
    );
    let ours = Ours::start(&a, Some(179));
    let mut cfg = metalroute_bgp::config::PeerConfig::unnumbered(
        metalroute_bgp::config::Asn(64511),
        metalroute_bgp::config::PeerAsn::DynamicExternal,
        "to-b",
        std::net::Ipv4Addr::new(192, 0, 2, 1),
    );
    cfg.timers = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1").timers;
    cfg.passive = true;
    let key = cfg.key();
    ours.add_peer(cfg);
    frr.wait_established("to-a", UP);
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(
        st.local_address.map(|l| l.port()),
        Some(179),
        "FRR dialed our listener: {st:?}"
    );
    wait_for("our unnumbered session received FRR's route", UP, || {
        ours.received(&key, Family::IPV6_UNICAST)
            .iter()
            .any(|r| r.prefix.to_string() == "2001:db8:ff::/48")
            .then_some(())
    });
    ours.shutdown(false);
}
