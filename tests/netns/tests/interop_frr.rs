//! BGP interop with FRR 8.4: our speaker in one namespace, FRR's bgpd in another, each test one
//! feature, checked in FRR's own RIB and neighbor state (`vtysh ... json`).

mod interop_common;

use interop_common::*;
use metalroute_bgp::config::Family;
use metalroute_bgp::fsm::State;
use metalroute_bgp::packet::CeaseSubcode;
use metalroute_netns::{
    addr, prerequisites, route, sysctl, two_ns_with_veth, veth, wait_for, wait_for_ok, Daemon, Frr,
    Need, Netns,
};
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
    let mut events = ours.speaker.subscribe();
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
    // Subscribers saw the session reach Established.
    let mut saw = false;
    while let Ok(ev) = events.try_recv() {
        let metalroute_bgp::speaker::PeerEvent::StateChanged { peer, to, .. } = ev;
        saw |= peer == key && to == State::Established;
    }
    assert!(saw, "no StateChanged to Established event");
    ours.shutdown(false);
}

#[test]
fn interop_frr_ebgp_ipv6() {
    if !prerequisites("interop_frr_ebgp_ipv6", FRR) {
        return;
    }
    let t = two_ns_with_veth("ife6");
    let frr = Frr::start(
        &t.b,
        &frr_conf(
            64512,
            "192.0.2.2",
            &[("2001:db8::1", "64511", &[])],
            &["2001:db8:f::/48"],
        ),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "2001:db8::2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(
        &key,
        Family::IPV6_UNICAST,
        &[
            ("2001:db8:100::/48", plain()),
            ("2001:db8:100:1::77/128", plain()),
        ],
    );
    frr.wait_established("2001:db8::1", UP);
    wait_for("FRR has both IPv6 prefixes", UP, || {
        let p = frr.prefixes_v6();
        (has(&p, "2001:db8:100::/48") && has(&p, "2001:db8:100:1::77/128")).then_some(())
    });
    let path = best_path(&frr, "2001:db8:100:1::77/128");
    assert_eq!(path["aspath"]["string"], "64511", "{path}");
    assert_eq!(path["nexthops"][0]["ip"], "2001:db8::1", "{path}");
    wait_for("our Adj-RIB-In has FRR's IPv6 prefix", UP, || {
        ours.received(&key, Family::IPV6_UNICAST)
            .iter()
            .any(|r| r.prefix.to_string() == "2001:db8:f::/48")
            .then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_frr_dual_stack() {
    if !prerequisites("interop_frr_dual_stack", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifds");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.10/32", plain())]);
    ours.advertise(
        &key,
        Family::IPV6_UNICAST,
        &[("2001:db8:100::10/128", plain())],
    );
    frr.wait_established("192.0.2.1", UP);
    wait_for(
        "FRR has the IPv4 and the IPv6 prefix over one IPv4 session",
        UP,
        || {
            (has(&frr.prefixes_v4(), "198.51.100.10/32")
                && has(&frr.prefixes_v6(), "2001:db8:100::10/128"))
            .then_some(())
        },
    );
    let path = best_path(&frr, "2001:db8:100::10/128");
    // The IPv6 next hop is our global IPv6 address on the same link.
    assert_eq!(path["nexthops"][0]["ip"], "2001:db8::1", "{path}");
    let st = ours.status(&key);
    assert_eq!(
        st.families,
        vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
    );
    ours.shutdown(false);
}

#[test]
fn interop_frr_ibgp_local_pref() {
    if !prerequisites("interop_frr_ibgp_local_pref", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifib");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64512", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64512, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(
        &key,
        Family::IPV4_UNICAST,
        &[
            ("198.51.100.20/32", attrs(&[], &[], Some(250))),
            ("198.51.100.21/32", plain()),
        ],
    );
    frr.wait_established("192.0.2.1", UP);
    wait_for("FRR has the iBGP prefixes", UP, || {
        let p = frr.prefixes_v4();
        (has(&p, "198.51.100.20/32") && has(&p, "198.51.100.21/32")).then_some(())
    });
    let p = best_path(&frr, "198.51.100.20/32");
    assert_eq!(p["locPrf"], 250, "{p}");
    assert_eq!(p["aspath"]["string"], "Local", "{p}");
    let p = best_path(&frr, "198.51.100.21/32");
    assert_eq!(
        p["locPrf"], 100,
        "default local preference toward iBGP: {p}"
    );
    ours.shutdown(false);
}

#[test]
fn interop_frr_communities() {
    if !prerequisites("interop_frr_communities", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifco");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(
        &key,
        Family::IPV4_UNICAST,
        &[(
            "198.51.100.30/32",
            attrs(&[(64511, 100), (8000, 800)], &[(64511, 1, 2)], None),
        )],
    );
    frr.wait_established("192.0.2.1", UP);
    wait_for("FRR has the prefix", UP, || {
        has(&frr.prefixes_v4(), "198.51.100.30/32").then_some(())
    });
    let p = best_path(&frr, "198.51.100.30/32");
    // FRR lists communities sorted numerically.
    assert_eq!(p["community"]["string"], "8000:800 64511:100", "{p}");
    assert_eq!(p["largeCommunity"]["string"], "64511:1:2", "{p}");
    ours.shutdown(false);
}

#[test]
fn interop_frr_four_octet_asn() {
    if !prerequisites("interop_frr_four_octet_asn", FRR) {
        return;
    }
    let t = two_ns_with_veth("if4o");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "4200000001", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(4_200_000_001, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.40/32", plain())]);
    frr.wait_established("192.0.2.1", UP);
    wait_for("FRR has the prefix", UP, || {
        has(&frr.prefixes_v4(), "198.51.100.40/32").then_some(())
    });
    let p = best_path(&frr, "198.51.100.40/32");
    assert_eq!(p["aspath"]["string"], "4200000001", "{p}");
    ours.shutdown(false);
}

fn frr_neighbor(frr: &Frr, peer: &str) -> Value {
    let v = frr.vtysh_json(&format!("show bgp neighbors {peer} json"));
    v.get(peer).cloned().unwrap_or(Value::Null)
}

#[test]
fn interop_frr_withdraw() {
    if !prerequisites("interop_frr_withdraw", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifwd");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    let routes: Vec<String> = (0..50).map(|i| format!("198.51.100.{i}/32")).collect();
    let all: Vec<(&str, _)> = routes.iter().map(|r| (r.as_str(), plain())).collect();
    ours.advertise(&key, Family::IPV4_UNICAST, &all);
    frr.wait_established("192.0.2.1", UP);
    wait_for("FRR has 50 prefixes", UP, || {
        (frr.prefixes_v4().len() == 50).then_some(())
    });
    let established_before = frr_neighbor(&frr, "192.0.2.1")["connectionsEstablished"].clone();
    // Keep the first 10 only.
    ours.advertise(&key, Family::IPV4_UNICAST, &all[..10]);
    wait_for("FRR has 10 prefixes left", UP, || {
        (frr.prefixes_v4().len() == 10).then_some(())
    });
    assert!(has(&frr.prefixes_v4(), "198.51.100.9/32"));
    assert!(!has(&frr.prefixes_v4(), "198.51.100.10/32"));
    // Withdrawing never reset the session.
    assert_eq!(
        frr_neighbor(&frr, "192.0.2.1")["connectionsEstablished"],
        established_before
    );
    assert_eq!(
        ours.status(&key).prefixes_sent.get(&Family::IPV4_UNICAST),
        Some(&10)
    );
    ours.shutdown(false);
}

#[test]
fn interop_frr_md5_right_password() {
    if !prerequisites("interop_frr_md5_right_password", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifm5");
    let frr = Frr::start(
        &t.b,
        &frr_conf(
            64512,
            "192.0.2.2",
            &[("192.0.2.1", "64511", &["password s3cret-Pw"])],
            &[],
        ),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.password = Some("s3cret-Pw".into());
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.50/32", plain())]);
    frr.wait_established("192.0.2.1", UP);
    wait_for("FRR has the prefix", UP, || {
        has(&frr.prefixes_v4(), "198.51.100.50/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_frr_md5_wrong_password() {
    if !prerequisites("interop_frr_md5_wrong_password", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifmw");
    let frr = Frr::start(
        &t.b,
        &frr_conf(
            64512,
            "192.0.2.2",
            &[("192.0.2.1", "64511", &["password right-one"])],
            &[],
        ),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.password = Some("wrong-one".into());
    let key = cfg.key();
    ours.add_peer(cfg);
    // Both sides keep trying for 15 s (FRR dials every second, we back off): never Established.
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(15) {
        assert_ne!(
            frr.bgp_neighbor_state("192.0.2.1").as_deref(),
            Some("Established")
        );
        assert_ne!(ours.status(&key).state, State::Established);
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    // FRR's kernel dropped our segments for their wrong signature.
    assert!(
        md5_failures(&t.b) > 0,
        "no TCP MD5 failures counted in FRR's namespace"
    );
    ours.shutdown(false);
}

#[test]
fn interop_frr_hold_timer_expiry() {
    if !prerequisites("interop_frr_hold_timer_expiry", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifht");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    frr.wait_established("192.0.2.1", UP);
    ours.wait_state(&key, State::Established, UP);
    let pid = frr.pid(Daemon::Bgpd).expect("bgpd pid");
    let _cont = Cont(pid);
    signal(pid, "STOP");
    // Hold time 9 s: our receive hold timer fires and we send Hold Timer Expired.
    let st = wait_for_ok(
        "our hold timer expires",
        std::time::Duration::from_secs(30),
        || {
            let s = ours.status(&key);
            match (&s.state, &s.last_error) {
                (st, Some(e)) if *st != State::Established && e.contains("Hold Timer Expired") => {
                    Ok(s)
                }
                _ => Err(format!("{} {:?}", s.state, s.last_error)),
            }
        },
    );
    assert!(st.messages.notifications_sent >= 1, "{:?}", st.messages);
    signal(pid, "CONT");
    // Once FRR runs again the session comes back.
    ours.wait_state(&key, State::Established, UP);
    ours.shutdown(false);
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
    assert!(
        ok.map(|s| s.success()).unwrap_or(false),
        "kill -{sig} {pid}"
    );
}

/// Resumes a stopped process when dropped (so a failing test never leaves bgpd frozen).
struct Cont(u32);
impl Drop for Cont {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

#[test]
fn interop_frr_passive() {
    if !prerequisites("interop_frr_passive", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifpa");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.passive = true;
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.60/32", plain())]);
    frr.wait_established("192.0.2.1", UP);
    let st = ours.wait_state(&key, State::Established, UP);
    // FRR dialed us: our end of the connection is port 179.
    assert_eq!(st.local_address.map(|a| a.port()), Some(179), "{st:?}");
    wait_for("FRR has the prefix", UP, || {
        has(&frr.prefixes_v4(), "198.51.100.60/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_frr_port() {
    if !prerequisites("interop_frr_port", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifpo");
    // FRR dials our non-standard port 1790 (we are passive and listen there).
    let frr = Frr::start(
        &t.b,
        &frr_conf(
            64512,
            "192.0.2.2",
            &[("192.0.2.1", "64511", &["port 1790"])],
            &[],
        ),
        None,
    );
    let ours = Ours::start(&t.a, Some(1790));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.passive = true;
    let key = cfg.key();
    ours.add_peer(cfg);
    frr.wait_established("192.0.2.1", UP);
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(st.local_address.map(|a| a.port()), Some(1790), "{st:?}");
    ours.shutdown(false);
}

#[test]
fn interop_frr_source_address() {
    if !prerequisites("interop_frr_source_address", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifsa");
    metalroute_netns::addr(&t.a, "to-b", "192.0.2.11/24");
    // FRR knows only the secondary address as its neighbor.
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.11", "64511", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.source_address = Some("192.0.2.11".parse().expect("addr"));
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.70/32", plain())]);
    frr.wait_established("192.0.2.11", UP);
    wait_for("FRR has the prefix", UP, || {
        has(&frr.prefixes_v4(), "198.51.100.70/32").then_some(())
    });
    let p = best_path(&frr, "198.51.100.70/32");
    assert_eq!(p["nexthops"][0]["ip"], "192.0.2.11", "{p}");
    ours.shutdown(false);
}

#[test]
fn interop_frr_ebgp_multihop() {
    if !prerequisites("interop_frr_ebgp_multihop", FRR) {
        return;
    }
    // us (192.0.2.1) -- router (192.0.2.254 | 198.51.100.254) -- FRR (198.51.100.2)
    let us = Netns::new("ifmhu");
    let r = Netns::new("ifmhr");
    let b = Netns::new("ifmhb");
    veth(&us, "to-r", &r, "to-us");
    veth(&b, "to-r", &r, "to-b");
    addr(&us, "to-r", "192.0.2.1/24");
    addr(&r, "to-us", "192.0.2.254/24");
    addr(&r, "to-b", "198.51.100.254/24");
    addr(&b, "to-r", "198.51.100.2/24");
    route(&us, "198.51.100.0/24 via 192.0.2.254");
    route(&b, "192.0.2.0/24 via 198.51.100.254");
    sysctl(&r, "net.ipv4.ip_forward", "1");
    let frr = Frr::start(
        &b,
        &frr_conf(
            64512,
            "198.51.100.2",
            &[("192.0.2.1", "64511", &["ebgp-multihop 2"])],
            &[],
        ),
        None,
    );
    let ours = Ours::start(&us, Some(179));
    let mut cfg = peer(64511, fixed(64512), "198.51.100.2", "192.0.2.1");
    cfg.ebgp_multihop = Some(2);
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("203.0.113.80/32", plain())]);
    frr.wait_established("192.0.2.1", UP);
    wait_for("FRR has the prefix", UP, || {
        has(&frr.prefixes_v4(), "203.0.113.80/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_frr_graceful_restart() {
    if !prerequisites("interop_frr_graceful_restart", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifgr");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        None,
    );
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.graceful_restart = Some(gr());
    let key = cfg.key();
    let ours = Ours::start(&t.a, Some(179));
    ours.add_peer(cfg.clone());
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.90/32", plain())]);
    frr.wait_established("192.0.2.1", UP);
    wait_for("FRR has the prefix", UP, || {
        has(&frr.prefixes_v4(), "198.51.100.90/32").then_some(())
    });
    // Our speaker "crashes": connections close without a NOTIFICATION.
    ours.shutdown(true);
    drop(ours);
    wait_for("FRR keeps the route, marked stale", UP, || {
        let p = best_path(&frr, "198.51.100.90/32");
        (p["stale"] == true).then_some(())
    });
    // Back again: the new session's End-of-RIB clears the stale flag.
    let ours = Ours::start(&t.a, Some(179));
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.90/32", plain())]);
    frr.wait_established("192.0.2.1", UP);
    wait_for("FRR refreshed the route (no longer stale)", UP, || {
        let p = best_path(&frr, "198.51.100.90/32");
        (p.is_object() && p.get("stale").is_none()).then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_frr_route_refresh() {
    if !prerequisites("interop_frr_route_refresh", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifrr");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.95/32", plain())]);
    frr.wait_established("192.0.2.1", UP);
    wait_for("FRR has the prefix", UP, || {
        has(&frr.prefixes_v4(), "198.51.100.95/32").then_some(())
    });
    let before = ours.status(&key).messages;
    frr.vtysh("clear bgp ipv4 unicast 192.0.2.1 soft in");
    let after = wait_for("we answered the ROUTE-REFRESH", UP, || {
        let m = ours.status(&key).messages;
        (m.route_refresh_received > before.route_refresh_received
            && m.updates_sent > before.updates_sent)
            .then_some(m)
    });
    assert_eq!(after.opens_sent, before.opens_sent, "no session reset");
    assert!(has(&frr.prefixes_v4(), "198.51.100.95/32"));
    ours.shutdown(false);
}

#[test]
fn interop_frr_peer_down_bfd_cease() {
    if !prerequisites("interop_frr_peer_down_bfd_cease", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifpd");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.96/32", plain())]);
    frr.wait_established("192.0.2.1", UP);
    ours.wait_state(&key, State::Established, UP);
    let down = ours
        .rt
        .block_on(ours.speaker.peer_down(&key, CeaseSubcode::BfdDown))
        .expect("peer_down");
    assert!(down);
    wait_for("FRR saw Cease/BFD Down", UP, || {
        let n = frr_neighbor(&frr, "192.0.2.1");
        let text = n.to_string();
        text.contains("BFD Down").then_some(())
    });
    // The FSM reconnects by itself.
    frr.wait_established("192.0.2.1", UP);
    wait_for("FRR has the prefix again", UP, || {
        has(&frr.prefixes_v4(), "198.51.100.96/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_frr_remove_peer() {
    if !prerequisites("interop_frr_remove_peer", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifrm");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.97/32", plain())]);
    frr.wait_established("192.0.2.1", UP);
    wait_for("FRR has the prefix", UP, || {
        has(&frr.prefixes_v4(), "198.51.100.97/32").then_some(())
    });
    assert!(ours
        .rt
        .block_on(ours.speaker.remove_peer(&key))
        .expect("remove"));
    wait_for(
        "FRR withdrew the route and saw Peer De-configured",
        UP,
        || {
            let text = frr_neighbor(&frr, "192.0.2.1").to_string();
            (!has(&frr.prefixes_v4(), "198.51.100.97/32") && text.contains("De-configured"))
                .then_some(())
        },
    );
    // Connections from the removed peer are now refused: FRR never gets Established again.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_ne!(
        frr.bgp_neighbor_state("192.0.2.1").as_deref(),
        Some("Established")
    );
    ours.shutdown(false);
}

#[test]
fn interop_frr_config_change_resets() {
    if !prerequisites("interop_frr_config_change_resets", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifcc");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg.clone());
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.98/32", plain())]);
    frr.wait_established("192.0.2.1", UP);
    // Same configuration again: nothing happens.
    ours.add_peer(cfg.clone());
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(frr_neighbor(&frr, "192.0.2.1")["connectionsEstablished"], 1);
    // A new hold time: Cease / Other Configuration Change, then back with the new timers.
    cfg.timers.hold_time = metalroute_bgp::config::HoldTime::from_secs(6).expect("hold");
    ours.add_peer(cfg);
    wait_for_ok(
        "FRR saw Other Configuration Change and re-established",
        UP,
        || {
            let n = frr_neighbor(&frr, "192.0.2.1");
            let log = std::fs::read_to_string(frr.log_path()).unwrap_or_default();
            if n["connectionsEstablished"] == 2 && log.contains("Other Configuration Change") {
                Ok(())
            } else {
                Err(n.to_string())
            }
        },
    );
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(st.hold_time.map(|h| h.secs()), Some(6));
    wait_for("FRR has the prefix again", UP, || {
        has(&frr.prefixes_v4(), "198.51.100.98/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_frr_gtsm() {
    if !prerequisites("interop_frr_gtsm", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifgt");
    let frr = Frr::start(
        &t.b,
        &frr_conf(
            64512,
            "192.0.2.2",
            &[("192.0.2.1", "64511", &["ttl-security hops 1"])],
            &[],
        ),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.gtsm = true;
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.99/32", plain())]);
    frr.wait_established("192.0.2.1", UP);
    wait_for("FRR has the prefix", UP, || {
        has(&frr.prefixes_v4(), "198.51.100.99/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_frr_gtsm_required_by_peer() {
    if !prerequisites("interop_frr_gtsm_required_by_peer", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifgn");
    let frr = Frr::start(
        &t.b,
        &frr_conf(
            64512,
            "192.0.2.2",
            &[("192.0.2.1", "64511", &["ttl-security hops 1"])],
            &[],
        ),
        None,
    );
    // Passive with single-hop TTL 1: FRR requires TTL >= 254 and drops our packets, so our
    // answers to its connection attempts never arrive.
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.passive = true;
    let key = cfg.key();
    ours.add_peer(cfg);
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(8) {
        assert_ne!(
            frr.bgp_neighbor_state("192.0.2.1").as_deref(),
            Some("Established")
        );
        assert_ne!(ours.status(&key).state, State::Established);
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    ours.shutdown(false);
}

#[test]
fn interop_frr_unconfigured_peer_rejected() {
    if !prerequisites("interop_frr_unconfigured_peer_rejected", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifuc");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64512, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    // We listen (for another, passive peer) but FRR's address is not configured.
    let mut other = peer(64511, fixed(64512), "192.0.2.99", "192.0.2.1");
    other.passive = true;
    ours.add_peer(other);
    wait_for("FRR received Cease/Connection Rejected", UP, || {
        let log = std::fs::read_to_string(frr.log_path()).unwrap_or_default();
        log.contains("Connection Rejected").then_some(())
    });
    assert_ne!(
        frr.bgp_neighbor_state("192.0.2.1").as_deref(),
        Some("Established")
    );
    ours.shutdown(false);
}

#[test]
fn interop_frr_dynamic_asn() {
    if !prerequisites("interop_frr_dynamic_asn", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifda");
    let frr = Frr::start(
        &t.b,
        &frr_conf(64599, "192.0.2.2", &[("192.0.2.1", "64511", &[])], &[]),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(
        64511,
        metalroute_bgp::config::PeerAsn::DynamicExternal,
        "192.0.2.2",
        "192.0.2.1",
    );
    let key = cfg.key();
    ours.add_peer(cfg);
    frr.wait_established("192.0.2.1", UP);
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(st.peer_asn, Some(metalroute_bgp::config::Asn(64599)));
    ours.shutdown(false);
}

#[test]
fn interop_frr_two_sessions_independent() {
    if !prerequisites("interop_frr_two_sessions_independent", FRR) {
        return;
    }
    let t = two_ns_with_veth("if2s");
    let frr = Frr::start(
        &t.b,
        &frr_conf(
            64512,
            "192.0.2.2",
            &[("192.0.2.1", "64511", &[]), ("2001:db8::1", "64511", &[])],
            &[],
        ),
        None,
    );
    let ours = Ours::start(&t.a, Some(179));
    // Both passive: FRR dials our IPv4 and our IPv6 listener.
    let mut v4 = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    v4.passive = true;
    let mut v6 = peer(64511, fixed(64512), "2001:db8::2", "192.0.2.1");
    v6.passive = true;
    let (k4, k6) = (v4.key(), v6.key());
    ours.add_peer(v4);
    ours.add_peer(v6);
    frr.wait_established("192.0.2.1", UP);
    frr.wait_established("2001:db8::1", UP);
    ours.wait_state(&k4, State::Established, UP);
    ours.wait_state(&k6, State::Established, UP);
    // Changes for one session never touch the other.
    for i in 0..20 {
        let p = format!("198.51.100.{i}/32");
        ours.advertise(&k4, Family::IPV4_UNICAST, &[(p.as_str(), plain())]);
    }
    ours.advertise(&k6, Family::IPV6_UNICAST, &[("2001:db8:100::/48", plain())]);
    wait_for("FRR has the last IPv4 prefix and the IPv6 one", UP, || {
        (has(&frr.prefixes_v4(), "198.51.100.19/32")
            && has(&frr.prefixes_v6(), "2001:db8:100::/48"))
        .then_some(())
    });
    wait_for_ok("FRR ends with only the last IPv4 prefix", UP, || {
        let p = frr.prefixes_v4();
        if p == vec!["198.51.100.19/32".to_string()] {
            Ok(())
        } else {
            Err(format!("{p:?}"))
        }
    });
    assert_eq!(frr_neighbor(&frr, "192.0.2.1")["connectionsEstablished"], 1);
    assert_eq!(
        frr_neighbor(&frr, "2001:db8::1")["connectionsEstablished"],
        1
    );
    let peers = ours.rt.block_on(ours.speaker.peers()).expect("peers");
    assert_eq!(peers.len(), 2);
    assert!(peers.iter().all(|p| p.state == State::Established));
    ours.shutdown(false);
}

#[test]
fn interop_frr_md5_passive_listener() {
    if !prerequisites("interop_frr_md5_passive_listener", FRR) {
        return;
    }
    let t = two_ns_with_veth("ifml");
    let frr = Frr::start(
        &t.b,
        &frr_conf(
            64512,
            "192.0.2.2",
            &[
                ("192.0.2.1", "64511", &["password L1sten"]),
                ("2001:db8::1", "64511", &["password L1sten6"]),
            ],
            &[],
        ),
        None,
    );
    // Passive: FRR dials our listeners, which carry the MD5 keys of both peers.
    let ours = Ours::start(&t.a, Some(179));
    let mut v4 = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    v4.passive = true;
    v4.password = Some("L1sten".into());
    let mut v6 = peer(64511, fixed(64512), "2001:db8::2", "192.0.2.1");
    v6.passive = true;
    v6.password = Some("L1sten6".into());
    let (k4, k6) = (v4.key(), v6.key());
    ours.add_peer(v4);
    ours.add_peer(v6);
    frr.wait_established("192.0.2.1", UP);
    frr.wait_established("2001:db8::1", UP);
    assert_eq!(
        ours.wait_state(&k4, State::Established, UP)
            .local_address
            .map(|a| a.port()),
        Some(179)
    );
    assert_eq!(
        ours.wait_state(&k6, State::Established, UP)
            .local_address
            .map(|a| a.port()),
        Some(179)
    );
    ours.shutdown(false);
}
