//! BGP interop with BIRD 2: our speaker in one namespace, BIRD in another; each test one
//! feature, checked in BIRD's own tables (`birdc show route all`, `show protocols all`).

mod interop_common;

use interop_common::*;
use metalroute_bgp::config::Family;
use metalroute_bgp::fsm::State;
use metalroute_netns::{
    addr, prerequisites, route, sysctl, two_ns_with_veth, veth, wait_for, Bird, Need, Netns,
};

const BIRD: &[Need] = &[Need::Root, Need::Binary("bird"), Need::Binary("birdc")];

/// A BIRD configuration with one BGP protocol `metal` toward our speaker.
fn bird_conf(local: &str, local_as: u32, neighbor: &str, neighbor_as: u32, extra: &str) -> String {
    let channel = if neighbor.contains(':') {
        "ipv6"
    } else {
        "ipv4"
    };
    format!(
        r#"
router id 192.0.2.2;
protocol device {{ }}
protocol direct {{ ipv4; ipv6; }}
protocol static st {{ {channel}; route {route} blackhole; }}
protocol bgp metal {{
    local {local} as {local_as};
    neighbor {neighbor} as {neighbor_as};
    connect delay time 0; connect retry time 1;
    hold time 9;
    {extra}
    {channel} {{ import all; export where source = RTS_STATIC; }};
}}
"#,
        route = if channel == "ipv6" {
            "2001:db8:b::/48"
        } else {
            "203.0.113.0/24"
        }
    )
}

fn route_all(bird: &Bird, prefix: &str) -> String {
    bird.birdc(&format!("show route {prefix} all"))
}

fn has(v: &[String], p: &str) -> bool {
    v.iter().any(|x| x == p)
}

#[test]
fn interop_bird_ebgp_ipv4() {
    if !prerequisites("interop_bird_ebgp_ipv4", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibe4");
    let bird = Bird::start(&t.b, &bird_conf("192.0.2.2", 64512, "192.0.2.1", 64511, ""));
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(
        &key,
        Family::IPV4_UNICAST,
        &[("198.51.100.0/24", plain()), ("198.51.100.77/32", plain())],
    );
    bird.wait_established("metal", UP);
    wait_for("BIRD has both prefixes", UP, || {
        let p = bird.prefixes();
        (has(&p, "198.51.100.0/24") && has(&p, "198.51.100.77/32")).then_some(())
    });
    let r = route_all(&bird, "198.51.100.77/32");
    assert!(r.contains("BGP.as_path: 64511"), "{r}");
    assert!(r.contains("BGP.next_hop: 192.0.2.1"), "{r}");
    wait_for("our Adj-RIB-In has BIRD's static route", UP, || {
        ours.received(&key, Family::IPV4_UNICAST)
            .iter()
            .any(|r| r.prefix.to_string() == "203.0.113.0/24")
            .then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_bird_ebgp_ipv6() {
    if !prerequisites("interop_bird_ebgp_ipv6", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibe6");
    let bird = Bird::start(
        &t.b,
        &bird_conf("2001:db8::2", 64512, "2001:db8::1", 64511, ""),
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "2001:db8::2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(
        &key,
        Family::IPV6_UNICAST,
        &[("2001:db8:100::/48", plain())],
    );
    bird.wait_established("metal", UP);
    wait_for("BIRD has the IPv6 prefix", UP, || {
        has(&bird.prefixes(), "2001:db8:100::/48").then_some(())
    });
    let r = route_all(&bird, "2001:db8:100::/48");
    assert!(r.contains("BGP.next_hop: 2001:db8::1"), "{r}");
    wait_for("our Adj-RIB-In has BIRD's IPv6 route", UP, || {
        ours.received(&key, Family::IPV6_UNICAST)
            .iter()
            .any(|r| r.prefix.to_string() == "2001:db8:b::/48")
            .then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_bird_ibgp_local_pref() {
    if !prerequisites("interop_bird_ibgp_local_pref", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibib");
    let bird = Bird::start(&t.b, &bird_conf("192.0.2.2", 64512, "192.0.2.1", 64512, ""));
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64512, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(
        &key,
        Family::IPV4_UNICAST,
        &[("198.51.100.20/32", attrs(&[], &[], Some(250)))],
    );
    bird.wait_established("metal", UP);
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "198.51.100.20/32").then_some(())
    });
    let r = route_all(&bird, "198.51.100.20/32");
    assert!(r.contains("BGP.local_pref: 250"), "{r}");
    ours.shutdown(false);
}

#[test]
fn interop_bird_communities() {
    if !prerequisites("interop_bird_communities", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibco");
    let bird = Bird::start(&t.b, &bird_conf("192.0.2.2", 64512, "192.0.2.1", 64511, ""));
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
    bird.wait_established("metal", UP);
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "198.51.100.30/32").then_some(())
    });
    let r = route_all(&bird, "198.51.100.30/32");
    assert!(r.contains("(64511,100)") && r.contains("(8000,800)"), "{r}");
    assert!(r.contains("(64511, 1, 2)"), "{r}");
    ours.shutdown(false);
}

#[test]
fn interop_bird_md5() {
    if !prerequisites("interop_bird_md5", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibm5");
    let bird = Bird::start(
        &t.b,
        &bird_conf(
            "192.0.2.2",
            64512,
            "192.0.2.1",
            64511,
            "password \"b1rd-secret\";",
        ),
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.password = Some("b1rd-secret".into());
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.50/32", plain())]);
    bird.wait_established("metal", UP);
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "198.51.100.50/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_bird_md5_wrong_password() {
    if !prerequisites("interop_bird_md5_wrong_password", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibmw");
    let bird = Bird::start(
        &t.b,
        &bird_conf(
            "192.0.2.2",
            64512,
            "192.0.2.1",
            64511,
            "password \"right\";",
        ),
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.password = Some("wrong".into());
    let key = cfg.key();
    ours.add_peer(cfg);
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(12) {
        assert_ne!(bird.protocol_state("metal").as_deref(), Some("Established"));
        assert_ne!(ours.status(&key).state, State::Established);
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(
        md5_failures(&t.b) + md5_failures(&t.a) > 0,
        "no TCP MD5 failures counted"
    );
    ours.shutdown(false);
}

#[test]
fn interop_bird_withdraw() {
    if !prerequisites("interop_bird_withdraw", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibwd");
    let bird = Bird::start(&t.b, &bird_conf("192.0.2.2", 64512, "192.0.2.1", 64511, ""));
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(
        &key,
        Family::IPV4_UNICAST,
        &[("198.51.100.1/32", plain()), ("198.51.100.2/32", plain())],
    );
    bird.wait_established("metal", UP);
    wait_for("BIRD has both", UP, || {
        let p = bird.prefixes();
        (has(&p, "198.51.100.1/32") && has(&p, "198.51.100.2/32")).then_some(())
    });
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.1/32", plain())]);
    wait_for("BIRD dropped the withdrawn prefix", UP, || {
        (!has(&bird.prefixes(), "198.51.100.2/32")).then_some(())
    });
    assert!(has(&bird.prefixes(), "198.51.100.1/32"));
    assert_eq!(bird.protocol_state("metal").as_deref(), Some("Established"));
    ours.shutdown(false);
}

#[test]
fn interop_bird_passive() {
    if !prerequisites("interop_bird_passive", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibpa");
    let bird = Bird::start(&t.b, &bird_conf("192.0.2.2", 64512, "192.0.2.1", 64511, ""));
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.passive = true;
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.60/32", plain())]);
    bird.wait_established("metal", UP);
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(st.local_address.map(|a| a.port()), Some(179), "{st:?}");
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "198.51.100.60/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_bird_four_octet_asn() {
    if !prerequisites("interop_bird_four_octet_asn", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ib4o");
    let bird = Bird::start(
        &t.b,
        &bird_conf("192.0.2.2", 64512, "192.0.2.1", 4_200_000_001, ""),
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(4_200_000_001, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.40/32", plain())]);
    bird.wait_established("metal", UP);
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "198.51.100.40/32").then_some(())
    });
    let r = route_all(&bird, "198.51.100.40/32");
    assert!(r.contains("BGP.as_path: 4200000001"), "{r}");
    ours.shutdown(false);
}

#[test]
fn interop_bird_route_refresh() {
    if !prerequisites("interop_bird_route_refresh", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibrr");
    let bird = Bird::start(&t.b, &bird_conf("192.0.2.2", 64512, "192.0.2.1", 64511, ""));
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.95/32", plain())]);
    bird.wait_established("metal", UP);
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "198.51.100.95/32").then_some(())
    });
    let before = ours.status(&key).messages;
    bird.birdc("reload in metal");
    let after = wait_for("we answered BIRD's ROUTE-REFRESH", UP, || {
        let m = ours.status(&key).messages;
        (m.route_refresh_received > before.route_refresh_received
            && m.updates_sent > before.updates_sent)
            .then_some(m)
    });
    assert_eq!(after.opens_sent, before.opens_sent, "no session reset");
    ours.shutdown(false);
}

#[test]
fn interop_bird_hold_timer_expiry() {
    if !prerequisites("interop_bird_hold_timer_expiry", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibht");
    let bird = Bird::start(
        &t.b,
        &bird_conf(
            "192.0.2.2",
            64512,
            "192.0.2.1",
            64511,
            "error wait time 1, 2;",
        ),
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    bird.wait_established("metal", UP);
    ours.wait_state(&key, State::Established, UP);
    let pid: u32 = std::fs::read_to_string(bird.dir().join("bird.pid"))
        .expect("bird.pid")
        .trim()
        .parse()
        .expect("pid");
    let _cont = Cont(pid);
    signal(pid, "STOP");
    metalroute_netns::wait_for_ok(
        "our hold timer expires",
        std::time::Duration::from_secs(30),
        || {
            let s = ours.status(&key);
            match &s.last_error {
                Some(e) if s.state != State::Established && e.contains("Hold Timer Expired") => {
                    Ok(())
                }
                _ => Err(format!("{} {:?}", s.state, s.last_error)),
            }
        },
    );
    signal(pid, "CONT");
    // BIRD restarts the protocol after its error wait time (1-2 s here).
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

/// Resumes a stopped process when dropped.
struct Cont(u32);
impl Drop for Cont {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

#[test]
fn interop_bird_dual_stack() {
    if !prerequisites("interop_bird_dual_stack", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibds");
    // One IPv4 session carrying both families: BIRD needs an ipv4 and an ipv6 channel on the
    // same protocol.
    let bird = Bird::start(
        &t.b,
        r#"
router id 192.0.2.2;
protocol device { }
protocol direct { ipv4; ipv6; }
protocol bgp metal {
    local 192.0.2.2 as 64512;
    neighbor 192.0.2.1 as 64511;
    connect delay time 0; connect retry time 1;
    hold time 9;
    ipv4 { import all; export none; };
    ipv6 { import all; export none; };
}
"#,
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
    bird.wait_established("metal", UP);
    wait_for(
        "BIRD has the IPv4 and the IPv6 prefix over one IPv4 session",
        UP,
        || {
            let p = bird.prefixes();
            (has(&p, "198.51.100.10/32") && has(&p, "2001:db8:100::10/128")).then_some(())
        },
    );
    let r = route_all(&bird, "198.51.100.10/32");
    assert!(r.contains("BGP.next_hop: 192.0.2.1"), "{r}");
    // The IPv6 next hop is our global IPv6 address on the same link.
    let r = route_all(&bird, "2001:db8:100::10/128");
    assert!(r.contains("BGP.next_hop: 2001:db8::1"), "{r}");
    // BIRD resolved it to a usable route through the link, not an unreachable one.
    assert!(r.contains("via 2001:db8::1 on to-a"), "{r}");
    assert!(r.contains("BGP.as_path: 64511"), "{r}");
    let protocols = bird.birdc("show protocols all metal");
    assert!(
        protocols.contains("Channel ipv4") && protocols.contains("Channel ipv6"),
        "{protocols}"
    );
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(
        st.families,
        vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
    );
    ours.shutdown(false);
}

#[test]
fn interop_bird_ebgp_multihop() {
    if !prerequisites("interop_bird_ebgp_multihop", BIRD) {
        return;
    }
    // us (192.0.2.1) -- router (192.0.2.254 | 198.51.100.254) -- BIRD (198.51.100.2)
    let us = Netns::new("ibmhu");
    let r = Netns::new("ibmhr");
    let b = Netns::new("ibmhb");
    veth(&us, "to-r", &r, "to-us");
    veth(&b, "to-r", &r, "to-b");
    addr(&us, "to-r", "192.0.2.1/24");
    addr(&r, "to-us", "192.0.2.254/24");
    addr(&r, "to-b", "198.51.100.254/24");
    addr(&b, "to-r", "198.51.100.2/24");
    route(&us, "198.51.100.0/24 via 192.0.2.254");
    route(&b, "192.0.2.0/24 via 198.51.100.254");
    sysctl(&r, "net.ipv4.ip_forward", "1");
    // BIRD resolves the multihop next hop recursively: it learns the kernel route to us.
    let bird = Bird::start(
        &b,
        r#"
router id 198.51.100.2;
protocol device { }
protocol direct { ipv4; }
protocol kernel { ipv4 { import all; export none; }; learn; }
protocol bgp metal {
    local 198.51.100.2 as 64512;
    neighbor 192.0.2.1 as 64511;
    multihop 2;
    connect delay time 0; connect retry time 1;
    hold time 9;
    ipv4 { import all; export none; };
}
"#,
    );
    let ours = Ours::start(&us, Some(179));
    let mut cfg = peer(64511, fixed(64512), "198.51.100.2", "192.0.2.1");
    cfg.ebgp_multihop = Some(2);
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("203.0.113.80/32", plain())]);
    bird.wait_established("metal", UP);
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "203.0.113.80/32").then_some(())
    });
    let r = route_all(&bird, "203.0.113.80/32");
    assert!(r.contains("BGP.next_hop: 192.0.2.1"), "{r}");
    // The next hop two hops away resolves through the router.
    assert!(r.contains("via 198.51.100.254 on to-r"), "{r}");
    assert!(r.contains("BGP.as_path: 64511"), "{r}");
    let protocols = bird.birdc("show protocols all metal");
    assert!(
        protocols.contains("Neighbor address: 192.0.2.1"),
        "{protocols}"
    );
    ours.shutdown(false);
}

#[test]
fn interop_bird_source_address() {
    if !prerequisites("interop_bird_source_address", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibsa");
    addr(&t.a, "to-b", "192.0.2.11/24");
    // BIRD knows only the secondary address as its neighbor.
    let bird = Bird::start(
        &t.b,
        &bird_conf("192.0.2.2", 64512, "192.0.2.11", 64511, ""),
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.source_address = Some("192.0.2.11".parse().expect("addr"));
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.70/32", plain())]);
    bird.wait_established("metal", UP);
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "198.51.100.70/32").then_some(())
    });
    let r = route_all(&bird, "198.51.100.70/32");
    assert!(r.contains("BGP.next_hop: 192.0.2.11"), "{r}");
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(
        st.local_address.map(|a| a.ip().to_string()).as_deref(),
        Some("192.0.2.11"),
        "{st:?}"
    );
    ours.shutdown(false);
}

#[test]
fn interop_bird_port() {
    if !prerequisites("interop_bird_port", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibpo");
    // BIRD dials our non-standard port 1790 (we are passive and listen there).
    let bird = Bird::start(
        &t.b,
        &bird_conf("192.0.2.2", 64512, "192.0.2.1 port 1790", 64511, ""),
    );
    let ours = Ours::start(&t.a, Some(1790));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.passive = true;
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.61/32", plain())]);
    bird.wait_established("metal", UP);
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(st.local_address.map(|a| a.port()), Some(1790), "{st:?}");
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "198.51.100.61/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_bird_graceful_restart() {
    if !prerequisites("interop_bird_graceful_restart", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibgr");
    let bird = Bird::start(
        &t.b,
        &bird_conf(
            "192.0.2.2",
            64512,
            "192.0.2.1",
            64511,
            "graceful restart on;",
        ),
    );
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.graceful_restart = Some(gr());
    let key = cfg.key();
    let ours = Ours::start(&t.a, Some(179));
    ours.add_peer(cfg.clone());
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.90/32", plain())]);
    bird.wait_established("metal", UP);
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "198.51.100.90/32").then_some(())
    });
    let p = bird.birdc("show protocols all metal");
    assert!(
        p.contains("Neighbor GR capabilities") || p.contains("Restart"),
        "{p}"
    );
    // Our speaker "crashes": connections close without a NOTIFICATION.
    ours.shutdown(true);
    drop(ours);
    wait_for(
        "BIRD keeps the route while its neighbor graceful restart is active",
        UP,
        || {
            let p = bird.birdc("show protocols all metal");
            (p.contains("Neighbor graceful restart active")
                && bird.protocol_state("metal").as_deref() != Some("Established")
                && has(&bird.prefixes(), "198.51.100.90/32"))
            .then_some(())
        },
    );
    // Back again: the new session's End-of-RIB ends BIRD's graceful restart.
    let ours = Ours::start(&t.a, Some(179));
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.90/32", plain())]);
    bird.wait_established("metal", UP);
    wait_for("BIRD ended graceful restart and kept the route", UP, || {
        let p = bird.birdc("show protocols all metal");
        (!p.contains("graceful restart active") && has(&bird.prefixes(), "198.51.100.90/32"))
            .then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_bird_graceful_restart_helper() {
    if !prerequisites("interop_bird_graceful_restart_helper", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibgh");
    let conf = bird_conf(
        "192.0.2.2",
        64512,
        "192.0.2.1",
        64511,
        "graceful restart on;",
    );
    let bird = Bird::start(&t.b, &conf);
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.graceful_restart = Some(gr());
    let key = cfg.key();
    let ours = Ours::start(&t.a, Some(179));
    ours.add_peer(cfg);
    bird.wait_established("metal", UP);
    let fresh = |stale: bool| {
        ours.received(&key, Family::IPV4_UNICAST)
            .iter()
            .any(|r| r.prefix.to_string() == "203.0.113.0/24" && r.stale == stale)
    };
    wait_for("our Adj-RIB-In has BIRD's route", UP, || {
        fresh(false).then_some(())
    });
    // BIRD dies without a NOTIFICATION: as GR helper we keep its route, marked stale.
    let pid = pid_of(&t.b, "bird").expect("bird pid");
    signal(pid, "KILL");
    wait_for("our Adj-RIB-In keeps BIRD's route as stale", UP, || {
        (fresh(true) && ours.status(&key).state != State::Established).then_some(())
    });
    drop(bird);
    // BIRD is back: its routes and End-of-RIB replace the stale ones.
    let bird = Bird::start(&t.b, &conf);
    bird.wait_established("metal", UP);
    wait_for("our Adj-RIB-In has BIRD's route, fresh", UP, || {
        (fresh(false) && !fresh(true)).then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_bird_remove_peer() {
    if !prerequisites("interop_bird_remove_peer", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibrm");
    let bird = Bird::start(&t.b, &bird_conf("192.0.2.2", 64512, "192.0.2.1", 64511, ""));
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.97/32", plain())]);
    bird.wait_established("metal", UP);
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "198.51.100.97/32").then_some(())
    });
    assert!(ours
        .rt
        .block_on(ours.speaker.remove_peer(&key))
        .expect("remove"));
    wait_for(
        "BIRD dropped the route and saw Cease/Peer De-configured",
        UP,
        || {
            let p = bird.birdc("show protocols all metal").to_ascii_lowercase();
            (!has(&bird.prefixes(), "198.51.100.97/32") && p.contains("de-configured"))
                .then_some(())
        },
    );
    // Connections from the removed peer are refused: BIRD never gets Established again.
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(3) {
        assert_ne!(bird.protocol_state("metal").as_deref(), Some("Established"));
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    ours.shutdown(false);
}

#[test]
fn interop_bird_gtsm() {
    if !prerequisites("interop_bird_gtsm", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibgt");
    let bird = Bird::start(
        &t.b,
        &bird_conf("192.0.2.2", 64512, "192.0.2.1", 64511, "ttl security on;"),
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.gtsm = true;
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.99/32", plain())]);
    bird.wait_established("metal", UP);
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "198.51.100.99/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_bird_dynamic_asn() {
    if !prerequisites("interop_bird_dynamic_asn", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibda");
    let bird = Bird::start(&t.b, &bird_conf("192.0.2.2", 64599, "192.0.2.1", 64511, ""));
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(
        64511,
        metalroute_bgp::config::PeerAsn::DynamicExternal,
        "192.0.2.2",
        "192.0.2.1",
    );
    let key = cfg.key();
    ours.add_peer(cfg);
    bird.wait_established("metal", UP);
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(st.peer_asn, Some(metalroute_bgp::config::Asn(64599)));
    ours.shutdown(false);
}

#[test]
fn interop_bird_config_change_resets() {
    if !prerequisites("interop_bird_config_change_resets", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibcc");
    let bird = Bird::start(&t.b, &bird_conf("192.0.2.2", 64512, "192.0.2.1", 64511, ""));
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg.clone());
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.98/32", plain())]);
    bird.wait_established("metal", UP);
    ours.wait_state(&key, State::Established, UP);
    let opens = ours.status(&key).messages.opens_sent;
    // Same configuration again: nothing happens.
    ours.add_peer(cfg.clone());
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(ours.status(&key).messages.opens_sent, opens);
    // A new hold time: Cease / Other Configuration Change, then back with the new timers.
    cfg.timers.hold_time = metalroute_bgp::config::HoldTime::from_secs(6).expect("hold");
    ours.add_peer(cfg);
    wait_for("BIRD saw Other Configuration Change", UP, || {
        let log = std::fs::read_to_string(bird.log_path())
            .unwrap_or_default()
            .to_ascii_lowercase();
        log.contains("other configuration change").then_some(())
    });
    bird.wait_established("metal", UP);
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(st.hold_time.map(|h| h.secs()), Some(6));
    let p = bird.birdc("show protocols all metal");
    let hold = p
        .lines()
        .find_map(|l| l.trim().strip_prefix("Hold timer:"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert!(hold.ends_with("/6"), "BIRD's negotiated hold time: {p}");
    wait_for("BIRD has the prefix again", UP, || {
        has(&bird.prefixes(), "198.51.100.98/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_bird_unconfigured_peer_rejected() {
    if !prerequisites("interop_bird_unconfigured_peer_rejected", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibuc");
    let bird = Bird::start(&t.b, &bird_conf("192.0.2.2", 64512, "192.0.2.1", 64511, ""));
    let ours = Ours::start(&t.a, Some(179));
    // We listen (for another, passive peer) but BIRD's address is not configured.
    let mut other = peer(64511, fixed(64512), "192.0.2.99", "192.0.2.1");
    other.passive = true;
    ours.add_peer(other);
    wait_for("BIRD received Cease/Connection Rejected", UP, || {
        let p = bird.birdc("show protocols all metal").to_ascii_lowercase();
        p.contains("connection rejected").then_some(())
    });
    assert_ne!(bird.protocol_state("metal").as_deref(), Some("Established"));
    ours.shutdown(false);
}

#[test]
fn interop_bird_peer_down_bfd_cease() {
    if !prerequisites("interop_bird_peer_down_bfd_cease", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibpd");
    let bird = Bird::start(&t.b, &bird_conf("192.0.2.2", 64512, "192.0.2.1", 64511, ""));
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.96/32", plain())]);
    bird.wait_established("metal", UP);
    ours.wait_state(&key, State::Established, UP);
    let down = ours
        .rt
        .block_on(
            ours.speaker
                .peer_down(&key, metalroute_bgp::packet::CeaseSubcode::BfdDown),
        )
        .expect("peer_down");
    assert!(down);
    wait_for("BIRD saw a Cease with subcode BFD Down", UP, || {
        let log = std::fs::read_to_string(bird.log_path())
            .unwrap_or_default()
            .to_ascii_lowercase();
        // BIRD 2.0 has no name for Cease subcode 10: it logs "Unknown error 6.10".
        log.lines()
            .any(|l| l.contains("received:") && (l.contains("error 6.10") || l.contains("bfd")))
            .then_some(())
    });
    // The FSM reconnects by itself.
    bird.wait_established("metal", UP);
    wait_for("BIRD has the prefix again", UP, || {
        has(&bird.prefixes(), "198.51.100.96/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_bird_two_sessions_independent() {
    if !prerequisites("interop_bird_two_sessions_independent", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ib2s");
    let bird = Bird::start(
        &t.b,
        r#"
router id 192.0.2.2;
protocol device { }
protocol bgp m4 {
    local 192.0.2.2 as 64512;
    neighbor 192.0.2.1 as 64511;
    connect delay time 0; connect retry time 1;
    hold time 9;
    ipv4 { import all; export none; };
}
protocol bgp m6 {
    local 2001:db8::2 as 64512;
    neighbor 2001:db8::1 as 64511;
    connect delay time 0; connect retry time 1;
    hold time 9;
    ipv6 { import all; export none; };
}
"#,
    );
    let ours = Ours::start(&t.a, Some(179));
    // Both passive: BIRD dials our IPv4 and our IPv6 listener.
    let mut v4 = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    v4.passive = true;
    let mut v6 = peer(64511, fixed(64512), "2001:db8::2", "192.0.2.1");
    v6.passive = true;
    let (k4, k6) = (v4.key(), v6.key());
    ours.add_peer(v4);
    ours.add_peer(v6);
    bird.wait_established("m4", UP);
    bird.wait_established("m6", UP);
    ours.wait_state(&k4, State::Established, UP);
    ours.wait_state(&k6, State::Established, UP);
    let opens = (
        ours.status(&k4).messages.opens_received,
        ours.status(&k6).messages.opens_received,
    );
    // Changes for one session never touch the other.
    for i in 0..20 {
        let p = format!("198.51.100.{i}/32");
        ours.advertise(&k4, Family::IPV4_UNICAST, &[(p.as_str(), plain())]);
    }
    ours.advertise(&k6, Family::IPV6_UNICAST, &[("2001:db8:100::/48", plain())]);
    metalroute_netns::wait_for_ok(
        "BIRD ends with only the last IPv4 prefix and the IPv6 one",
        UP,
        || {
            let p = bird.prefixes();
            if p == vec![
                "198.51.100.19/32".to_string(),
                "2001:db8:100::/48".to_string(),
            ] {
                Ok(())
            } else {
                Err(format!("{p:?}"))
            }
        },
    );
    assert_eq!(
        (
            ours.status(&k4).messages.opens_received,
            ours.status(&k6).messages.opens_received,
        ),
        opens,
        "no session was reset"
    );
    assert_eq!(bird.protocol_state("m4").as_deref(), Some("Established"));
    assert_eq!(bird.protocol_state("m6").as_deref(), Some("Established"));
    ours.shutdown(false);
}

#[test]
fn interop_bird_md5_passive_listener() {
    if !prerequisites("interop_bird_md5_passive_listener", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibml");
    let bird = Bird::start(
        &t.b,
        r#"
router id 192.0.2.2;
protocol device { }
protocol bgp m4 {
    local 192.0.2.2 as 64512;
    neighbor 192.0.2.1 as 64511;
    password "L1sten";
    connect delay time 0; connect retry time 1;
    hold time 9;
    ipv4 { import all; export none; };
}
protocol bgp m6 {
    local 2001:db8::2 as 64512;
    neighbor 2001:db8::1 as 64511;
    password "L1sten6";
    connect delay time 0; connect retry time 1;
    hold time 9;
    ipv6 { import all; export none; };
}
"#,
    );
    // Passive: BIRD dials our listeners, which carry the MD5 keys of both peers.
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
    bird.wait_established("m4", UP);
    bird.wait_established("m6", UP);
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

#[test]
fn interop_bird_dual_stack_ipv6_session() {
    if !prerequisites("interop_bird_dual_stack_ipv6_session", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibd6");
    // One IPv6 session carrying both families: the IPv4 routes need an IPv4 next hop, our
    // IPv4 address on the same link.
    let bird = Bird::start(
        &t.b,
        r#"
router id 192.0.2.2;
protocol device { }
protocol direct { ipv4; ipv6; }
protocol bgp metal {
    local 2001:db8::2 as 64512;
    neighbor 2001:db8::1 as 64511;
    connect delay time 0; connect retry time 1;
    hold time 9;
    ipv4 { import all; export none; };
    ipv6 { import all; export none; };
}
"#,
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "2001:db8::2", "192.0.2.1");
    cfg.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.12/32", plain())]);
    ours.advertise(
        &key,
        Family::IPV6_UNICAST,
        &[("2001:db8:100::12/128", plain())],
    );
    bird.wait_established("metal", UP);
    wait_for(
        "BIRD has the IPv4 and the IPv6 prefix over one IPv6 session",
        UP,
        || {
            let p = bird.prefixes();
            (has(&p, "198.51.100.12/32") && has(&p, "2001:db8:100::12/128")).then_some(())
        },
    );
    let r = route_all(&bird, "198.51.100.12/32");
    assert!(r.contains("BGP.next_hop: 192.0.2.1"), "{r}");
    assert!(r.contains("via 192.0.2.1 on to-a"), "{r}");
    let r = route_all(&bird, "2001:db8:100::12/128");
    assert!(r.contains("BGP.next_hop: 2001:db8::1"), "{r}");
    ours.shutdown(false);
}

#[test]
fn interop_bird_port_active() {
    if !prerequisites("interop_bird_port_active", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibpv");
    // BIRD listens on port 1790; we dial it there and do not listen ourselves.
    let bird = Bird::start(
        &t.b,
        &bird_conf("192.0.2.2 port 1790", 64512, "192.0.2.1", 64511, ""),
    );
    let ours = Ours::start(&t.a, None);
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.port = 1790;
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.62/32", plain())]);
    bird.wait_established("metal", UP);
    ours.wait_state(&key, State::Established, UP);
    let conns = t.b.exec_stdout(&["ss", "-tnH", "state", "established"]);
    assert!(conns.contains("192.0.2.2:1790 "), "{conns}");
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "198.51.100.62/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_bird_ibgp_default_local_pref() {
    if !prerequisites("interop_bird_ibgp_default_local_pref", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ibdl");
    let bird = Bird::start(&t.b, &bird_conf("192.0.2.2", 64512, "192.0.2.1", 64512, ""));
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64512, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.21/32", plain())]);
    bird.wait_established("metal", UP);
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "198.51.100.21/32").then_some(())
    });
    // Toward iBGP we send LOCAL_PREF 100 when the caller set none; the AS path stays empty.
    let r = route_all(&bird, "198.51.100.21/32");
    assert!(r.contains("BGP.local_pref: 100"), "{r}");
    assert!(
        r.lines().any(|l| l
            .trim()
            .strip_prefix("BGP.as_path:")
            .is_some_and(|v| v.trim().is_empty())),
        "{r}"
    );
    ours.shutdown(false);
}

#[test]
fn interop_bird_two_octet_session() {
    if !prerequisites("interop_bird_two_octet_session", BIRD) {
        return;
    }
    let t = two_ns_with_veth("ib2o");
    // BIRD does not announce the 4-octet AS capability (`enable as4 off`): the session is
    // 2-octet, so our AS_PATH must go out with 2-octet AS numbers.
    let bird = Bird::start(
        &t.b,
        &bird_conf("192.0.2.2", 64512, "192.0.2.1", 64511, "enable as4 off;"),
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.41/32", plain())]);
    bird.wait_established("metal", UP);
    wait_for("BIRD has the prefix", UP, || {
        has(&bird.prefixes(), "198.51.100.41/32").then_some(())
    });
    let r = route_all(&bird, "198.51.100.41/32");
    assert!(r.contains("BGP.as_path: 64511"), "{r}");
    wait_for("our Adj-RIB-In has BIRD's route with its AS", UP, || {
        ours.received(&key, Family::IPV4_UNICAST)
            .iter()
            .any(|r| r.prefix.to_string() == "203.0.113.0/24")
            .then_some(())
    });
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(
        st.peer_asn,
        Some(metalroute_bgp::config::Asn(64512)),
        "{st:?}"
    );
    assert!(
        !st.peer_capabilities
            .iter()
            .any(|c| matches!(c, metalroute_bgp::packet::Capability::FourOctetAs(_))),
        "BIRD announced no 4-octet AS capability: {st:?}"
    );
    ours.shutdown(false);
}
