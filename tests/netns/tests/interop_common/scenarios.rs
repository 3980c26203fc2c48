//! The interop scenarios, each written once for any [`RouterUnderTest`]: our speaker in
//! namespace `a`, the router in `b` (`two_ns_with_veth`: we are 192.0.2.1 / 2001:db8::1, it is
//! 192.0.2.2 / 2001:db8::2), every check made in the router's own RIB and session state.
//! The test files instantiate them per router with [`crate::interop_common::interop_tests`].

use super::router::{family_of, reported, Feature, Reports, RouterConfig, RouterUnderTest};
use super::{attrs, fixed, gr, md5_failures, peer, plain, signal, Cont, Ours, UP};
use metalroute_bgp::config::{Asn, Family, HoldTime, PeerAsn, PeerConfig, PeerKey};
use metalroute_bgp::fsm::State;
use metalroute_bgp::packet::{Capability, CeaseSubcode, PathAttributes};
use metalroute_bgp::speaker::PeerEvent;
use metalroute_netns::{
    addr, prerequisites, route, sysctl, two_ns_with_veth, veth, wait_for, wait_for_ok, Netns, TwoNs,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

const V4: Family = Family::IPV4_UNICAST;
const V6: Family = Family::IPV6_UNICAST;

/// Namespace prefix of scenario `code` with router `R` (`ife4`: FRR, eBGP IPv4).
fn ns<R: RouterUnderTest>(code: &str) -> String {
    format!("i{}{code}", R::TAG)
}

/// Our IPv4 session toward the router (AS 64511 → 64512).
fn our_v4() -> PeerConfig {
    peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1")
}

/// Our IPv6 session toward the router (AS 64511 → 64512).
fn our_v6() -> PeerConfig {
    peer(64511, fixed(64512), "2001:db8::2", "192.0.2.1")
}

/// `f` applied to `c`.
fn with(mut c: PeerConfig, f: impl FnOnce(&mut PeerConfig)) -> PeerConfig {
    f(&mut c);
    c
}

/// Panics unless router `R` has `feature` (a router's table should list only the scenarios
/// it can run; this catches a wrong row).
fn require<R: RouterUnderTest>(feature: Feature) {
    assert!(
        R::supports(feature),
        "{} does not support {feature:?}: remove the scenario from its table",
        R::NAME
    );
}

/// Advertises `prefixes` (plain attributes) on `key`, one call per family present.
fn advertise(ours: &Ours, key: &PeerKey, prefixes: &[&str]) {
    for family in [V4, V6] {
        let routes: Vec<(&str, Arc<PathAttributes>)> = prefixes
            .iter()
            .filter(|p| family_of(p) == family)
            .map(|p| (*p, plain()))
            .collect();
        if !routes.is_empty() {
            ours.advertise(key, family, &routes);
        }
    }
}

/// Waits until the router has all of `prefixes`.
fn wait_has<R: RouterUnderTest>(router: &R, prefixes: &[&str]) {
    wait_for(&format!("{} has {prefixes:?}", R::NAME), UP, || {
        prefixes.iter().all(|p| router.has(p)).then_some(())
    });
}

/// Waits until the router's RIB of `family` is exactly `want` (sorted).
fn wait_exactly<R: RouterUnderTest>(router: &R, family: Family, want: &[String]) {
    let mut want = want.to_vec();
    want.sort();
    wait_for_ok(
        &format!("{} has exactly {} {family:?} prefixes", R::NAME, want.len()),
        UP,
        || {
            let got = router.prefixes(family);
            if got == want {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        },
    );
}

/// Waits until the router saw a Cease with `subcode` from neighbor `n`.
fn wait_cease<R: RouterUnderTest>(router: &R, n: usize, subcode: CeaseSubcode) {
    wait_for_ok(
        &format!("{} saw Cease/{}", R::NAME, subcode.name()),
        UP,
        || router.saw_cease(n, subcode),
    );
}

/// Waits until our Adj-RIB-In of `key` has `prefix` with stale flag `stale`.
fn wait_received(ours: &Ours, key: &PeerKey, prefix: &str, stale: bool) {
    wait_for(
        &format!("our Adj-RIB-In has {prefix} (stale: {stale})"),
        UP,
        || received(ours, key, prefix, stale).then_some(()),
    );
}

/// True when our Adj-RIB-In of `key` has `prefix` with stale flag `stale`.
fn received(ours: &Ours, key: &PeerKey, prefix: &str, stale: bool) -> bool {
    ours.received(key, family_of(prefix))
        .iter()
        .any(|r| r.prefix.to_string() == prefix && r.stale == stale)
}

/// For `period`, checks every 250 ms that neither side reaches Established.
fn never_established<R: RouterUnderTest>(router: &R, ours: &Ours, key: &PeerKey, period: Duration) {
    let start = Instant::now();
    while start.elapsed() < period {
        assert!(!router.session(0).established, "{} Established", R::NAME);
        assert_ne!(ours.status(key).state, State::Established);
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Asserts that the router's `what` is `want`, when its table says it reports `what`
/// (`reports` picks the entry); panics when it should report it but `got` is None.
fn expect<R: RouterUnderTest, T: PartialEq + std::fmt::Debug>(
    what: &str,
    reports: fn(&Reports) -> bool,
    got: Option<T>,
    want: T,
) {
    if let Some(got) = reported(R::NAME, what, reports(&R::REPORTS), got) {
        assert_eq!(got, want, "{}: {what}", R::NAME);
    }
}

/// The router's BGP next hop of `prefix` is `next_hop`, and when it reports how it resolved
/// it, that resolution contains `resolved`.
fn assert_next_hop<R: RouterUnderTest>(router: &R, prefix: &str, next_hop: &str, resolved: &str) {
    let r = router.must_route(prefix);
    assert_eq!(r.next_hop.as_deref(), Some(next_hop), "{prefix}: {r:?}");
    let how = reported(
        R::NAME,
        "the resolved next hop",
        R::REPORTS.resolved_next_hop,
        r.resolved.clone(),
    );
    if let Some(how) = how {
        assert!(
            how.contains(resolved),
            "{prefix} resolved {how:?}, want {resolved:?}"
        );
    }
}

/// The usual lab: router `R` in `t.b` with `config`, our speaker in `t.a` (listening on
/// `listen`) with session `cfg` already added.
/// (Fields drop in this order: our speaker, the router, then the namespaces.)
struct Lab<R> {
    ours: Ours,
    key: PeerKey,
    router: R,
    t: TwoNs,
}

impl<R: RouterUnderTest> Lab<R> {
    /// A fresh `two_ns_with_veth` lab for scenario `code`.
    fn new(code: &str, config: &RouterConfig, listen: Option<u16>, cfg: PeerConfig) -> Lab<R> {
        Lab::on(two_ns_with_veth(&ns::<R>(code)), config, listen, cfg)
    }

    /// The lab on namespaces `t` already prepared.
    fn on(t: TwoNs, config: &RouterConfig, listen: Option<u16>, cfg: PeerConfig) -> Lab<R> {
        let router = R::start(&t.b, config);
        let ours = Ours::start(&t.a, listen);
        let key = cfg.key();
        ours.add_peer(cfg);
        Lab {
            ours,
            key,
            router,
            t,
        }
    }

    /// Advertises `prefixes`, waits until the router's session is Established and it has
    /// them all.
    fn announce(&self, prefixes: &[&str]) {
        advertise(&self.ours, &self.key, prefixes);
        self.router.wait_established(0, UP);
        wait_has(&self.router, prefixes);
    }

    /// Waits until both ends are Established.
    fn both_up(&self) {
        self.router.wait_established(0, UP);
        self.ours.wait_state(&self.key, State::Established, UP);
    }
}

/// Runs `body` in a fresh [`Lab`] (see [`Lab::new`]) unless prerequisites are missing; our
/// speaker shuts down (Cease to the router) afterwards.
fn in_lab<R: RouterUnderTest>(
    test: &str,
    code: &str,
    config: &RouterConfig,
    listen: Option<u16>,
    cfg: PeerConfig,
    body: impl FnOnce(&Lab<R>),
) {
    if !prerequisites(test, R::NEEDS) {
        return;
    }
    let lab = Lab::new(code, config, listen, cfg);
    body(&lab);
    lab.ours.shutdown(false);
}

/// eBGP over IPv4: our two prefixes reach the router with our AS and next hop, its prefix
/// reaches our Adj-RIB-In; counters and events on our side.
pub fn ebgp_ipv4<R: RouterUnderTest>(test: &str) {
    if !prerequisites(test, R::NEEDS) {
        return;
    }
    let mut config = RouterConfig::v4(64512, 64511);
    config.originate = vec!["203.0.113.0/24"];
    let t = two_ns_with_veth(&ns::<R>("e4"));
    let router = R::start(&t.b, &config);
    let ours = Ours::start(&t.a, Some(179));
    let cfg = our_v4();
    let key = cfg.key();
    let mut events = ours.speaker.subscribe();
    ours.add_peer(cfg);
    advertise(&ours, &key, &["198.51.100.0/24", "198.51.100.77/32"]);
    router.wait_established(0, UP);
    wait_has(&router, &["198.51.100.0/24", "198.51.100.77/32"]);
    let r = router.must_route("198.51.100.77/32");
    assert_eq!(r.as_path, vec![64511], "{r:?}");
    assert_eq!(r.next_hop.as_deref(), Some("192.0.2.1"), "{r:?}");
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(st.hold_time.map(|h| h.secs()), Some(9));
    // The router's prefix reaches our Adj-RIB-In.
    wait_received(&ours, &key, "203.0.113.0/24", false);
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
        let PeerEvent::StateChanged { peer, to, .. } = ev;
        saw |= peer == key && to == State::Established;
    }
    assert!(saw, "no StateChanged to Established event");
    ours.shutdown(false);
}

/// eBGP over IPv6, both directions, with our global IPv6 address as next hop.
pub fn ebgp_ipv6<R: RouterUnderTest>(test: &str) {
    let mut config = RouterConfig::v6(64512, 64511);
    config.originate = vec!["2001:db8:f::/48"];
    in_lab::<R>(test, "e6", &config, Some(179), our_v6(), |lab| {
        lab.announce(&["2001:db8:100::/48", "2001:db8:100:1::77/128"]);
        for p in ["2001:db8:100:1::77/128", "2001:db8:100::/48"] {
            let r = lab.router.must_route(p);
            assert_eq!(r.as_path, vec![64511], "{r:?}");
            assert_eq!(r.next_hop.as_deref(), Some("2001:db8::1"), "{r:?}");
        }
        wait_received(&lab.ours, &lab.key, "2001:db8:f::/48", false);
    });
}

/// IPv4 and IPv6 routes over one session of `session_family`; the other family's next hop
/// is our address of that family on the same link.
fn dual_stack_over<R: RouterUnderTest>(test: &str, session_family: Family) {
    if !prerequisites(test, R::NEEDS) {
        return;
    }
    let (config, cfg, code, v4, v6) = if session_family == V4 {
        let c = RouterConfig::v4(64512, 64511);
        (
            c,
            our_v4(),
            "ds",
            "198.51.100.10/32",
            "2001:db8:100::10/128",
        )
    } else {
        let c = RouterConfig::v6(64512, 64511);
        (
            c,
            our_v6(),
            "d6",
            "198.51.100.12/32",
            "2001:db8:100::12/128",
        )
    };
    let config = config.with(|n| n.families = vec![V4, V6]);
    let cfg = with(cfg, |c| c.families = vec![V4, V6]);
    let lab = Lab::<R>::new(code, &config, Some(179), cfg);
    lab.announce(&[v4, v6]);
    assert_next_hop(&lab.router, v4, "192.0.2.1", "192.0.2.1 on to-a");
    assert_next_hop(&lab.router, v6, "2001:db8::1", "2001:db8::1 on to-a");
    let r = lab.router.must_route(v6);
    assert_eq!(r.as_path, vec![64511], "{r:?}");
    let s = lab.router.session(0);
    expect::<R, _>("session families", |r| r.families, s.families, vec![V4, V6]);
    let st = lab.ours.wait_state(&lab.key, State::Established, UP);
    assert_eq!(st.families, vec![V4, V6]);
    lab.ours.shutdown(false);
}

/// IPv4 and IPv6 routes over one IPv4 session.
pub fn dual_stack<R: RouterUnderTest>(test: &str) {
    dual_stack_over::<R>(test, V4);
}

/// IPv4 and IPv6 routes over one IPv6 session.
pub fn dual_stack_ipv6_session<R: RouterUnderTest>(test: &str) {
    dual_stack_over::<R>(test, V6);
}

/// iBGP: our LOCAL_PREF reaches the router; without one we send 100; the AS path stays empty.
pub fn ibgp_local_pref<R: RouterUnderTest>(test: &str) {
    let cfg = peer(64512, fixed(64512), "192.0.2.2", "192.0.2.1");
    in_lab::<R>(
        test,
        "ib",
        &RouterConfig::v4(64512, 64512),
        Some(179),
        cfg,
        |lab| {
            lab.ours.advertise(
                &lab.key,
                V4,
                &[
                    ("198.51.100.20/32", attrs(&[], &[], Some(250))),
                    ("198.51.100.21/32", plain()),
                ],
            );
            lab.router.wait_established(0, UP);
            wait_has(&lab.router, &["198.51.100.20/32", "198.51.100.21/32"]);
            for (p, pref) in [("198.51.100.20/32", 250), ("198.51.100.21/32", 100)] {
                let r = lab.router.must_route(p);
                assert_eq!(r.local_pref, Some(pref), "{p}: {r:?}");
                assert!(r.as_path.is_empty(), "{p}: {r:?}");
            }
        },
    );
}

/// iBGP without a LOCAL_PREF from the caller: we send 100 and an empty AS path.
pub fn ibgp_default_local_pref<R: RouterUnderTest>(test: &str) {
    let cfg = peer(64512, fixed(64512), "192.0.2.2", "192.0.2.1");
    in_lab::<R>(
        test,
        "dl",
        &RouterConfig::v4(64512, 64512),
        Some(179),
        cfg,
        |lab| {
            lab.announce(&["198.51.100.21/32"]);
            let r = lab.router.must_route("198.51.100.21/32");
            assert_eq!(r.local_pref, Some(100), "{r:?}");
            assert!(r.as_path.is_empty(), "{r:?}");
        },
    );
}

/// Standard and large communities reach the router.
pub fn communities<R: RouterUnderTest>(test: &str) {
    in_lab::<R>(
        test,
        "co",
        &RouterConfig::v4(64512, 64511),
        Some(179),
        our_v4(),
        |lab| {
            lab.ours.advertise(
                &lab.key,
                V4,
                &[(
                    "198.51.100.30/32",
                    attrs(&[(64511, 100), (8000, 800)], &[(64511, 1, 2)], None),
                )],
            );
            lab.router.wait_established(0, UP);
            wait_has(&lab.router, &["198.51.100.30/32"]);
            let r = lab.router.must_route("198.51.100.30/32");
            // In the order we sent them, where the router keeps that order (FRR sorts them).
            let (mut got, mut want) = (r.communities.clone(), vec![(64511, 100), (8000, 800)]);
            if !R::REPORTS.community_order {
                got.sort_unstable();
                want.sort_unstable();
            }
            assert_eq!(got, want, "{r:?}");
            assert_eq!(r.large_communities, vec![(64511, 1, 2)], "{r:?}");
        },
    );
}

/// A 4-octet local AS reaches the router's AS path.
pub fn four_octet_asn<R: RouterUnderTest>(test: &str) {
    let cfg = peer(4_200_000_001, fixed(64512), "192.0.2.2", "192.0.2.1");
    let config = RouterConfig::v4(64512, 4_200_000_001);
    in_lab::<R>(test, "4o", &config, Some(179), cfg, |lab| {
        lab.announce(&["198.51.100.40/32"]);
        let r = lab.router.must_route("198.51.100.40/32");
        assert_eq!(r.as_path, vec![4_200_000_001], "{r:?}");
    });
}

/// The router announces no 4-octet AS capability: a 2-octet session, both directions work.
pub fn two_octet_session<R: RouterUnderTest>(test: &str) {
    require::<R>(Feature::TwoOctetSession);
    let mut config = RouterConfig::v4(64512, 64511).with(|n| n.four_octet_as = false);
    config.originate = vec!["203.0.113.0/24"];
    in_lab::<R>(test, "2o", &config, Some(179), our_v4(), |lab| {
        lab.announce(&["198.51.100.41/32"]);
        let r = lab.router.must_route("198.51.100.41/32");
        assert_eq!(r.as_path, vec![64511], "{r:?}");
        wait_received(&lab.ours, &lab.key, "203.0.113.0/24", false);
        let st = lab.ours.wait_state(&lab.key, State::Established, UP);
        assert_eq!(st.peer_asn, Some(Asn(64512)), "{st:?}");
        assert!(
            !st.peer_capabilities
                .iter()
                .any(|c| matches!(c, Capability::FourOctetAs(_))),
            "{} announced no 4-octet AS capability: {st:?}",
            R::NAME
        );
    });
}

/// 50 prefixes, then 40 withdrawn: the router keeps exactly the other 10, the session is
/// never reset.
pub fn withdraw<R: RouterUnderTest>(test: &str) {
    in_lab::<R>(
        test,
        "wd",
        &RouterConfig::v4(64512, 64511),
        Some(179),
        our_v4(),
        |lab| {
            let routes: Vec<String> = (0..50).map(|i| format!("198.51.100.{i}/32")).collect();
            let all: Vec<&str> = routes.iter().map(String::as_str).collect();
            advertise(&lab.ours, &lab.key, &all);
            lab.both_up();
            wait_exactly(&lab.router, V4, &routes);
            let opens = lab.ours.status(&lab.key).messages;
            // Keep the first 10 only.
            advertise(&lab.ours, &lab.key, &all[..10]);
            wait_exactly(&lab.router, V4, &routes[..10]);
            // Withdrawing never reset the session.
            let after = lab.router.session(0);
            assert!(after.established, "{after:?}");
            let count = after.established_count;
            expect::<R, _>("the established count", |r| r.established_count, count, 1);
            let st = lab.ours.status(&lab.key);
            assert_eq!(st.messages.opens_sent, opens.opens_sent);
            assert_eq!(st.messages.opens_received, opens.opens_received);
            assert_eq!(st.prefixes_sent.get(&V4), Some(&10));
        },
    );
}

/// TCP MD5 with the right password on both sides.
pub fn md5<R: RouterUnderTest>(test: &str) {
    let config = RouterConfig::v4(64512, 64511).with(|n| n.password = Some("s3cret-Pw"));
    let cfg = with(our_v4(), |c| c.password = Some("s3cret-Pw".into()));
    in_lab::<R>(test, "m5", &config, Some(179), cfg, |lab| {
        lab.announce(&["198.51.100.50/32"]);
    });
}

/// TCP MD5 with different passwords: never Established, and the router's kernel counts
/// segments dropped for their signature.
pub fn md5_wrong_password<R: RouterUnderTest>(test: &str) {
    let config = RouterConfig::v4(64512, 64511).with(|n| n.password = Some("right-one"));
    let cfg = with(our_v4(), |c| c.password = Some("wrong-one".into()));
    in_lab::<R>(test, "mw", &config, Some(179), cfg, |lab| {
        // Both sides keep trying for 15 s: never Established.
        never_established(&lab.router, &lab.ours, &lab.key, Duration::from_secs(15));
        assert!(
            md5_failures(&lab.t.b) > 0,
            "no TCP MD5 failures counted in {}'s namespace",
            R::NAME
        );
    });
}

/// The router stops (SIGSTOP): our hold timer expires and we send a NOTIFICATION; once it
/// runs again the session comes back.
pub fn hold_timer_expiry<R: RouterUnderTest>(test: &str) {
    let config = RouterConfig::v4(64512, 64511).with(|n| n.quick_restart_after_error = true);
    in_lab::<R>(test, "ht", &config, Some(179), our_v4(), |lab| {
        lab.both_up();
        let pid = lab.router.bgp_pid(&lab.t.b);
        let _cont = Cont(pid);
        signal(pid, "STOP");
        // Hold time 9 s: our receive hold timer fires and we send Hold Timer Expired.
        let st = wait_for_ok("our hold timer expires", Duration::from_secs(30), || {
            let s = lab.ours.status(&lab.key);
            match &s.last_error {
                Some(e) if s.state != State::Established && e.contains("Hold Timer Expired") => {
                    Ok(s)
                }
                _ => Err(format!("{} {:?}", s.state, s.last_error)),
            }
        });
        assert!(st.messages.notifications_sent >= 1, "{:?}", st.messages);
        signal(pid, "CONT");
        // Once the router runs again the session comes back.
        lab.ours.wait_state(&lab.key, State::Established, UP);
        lab.router.wait_established(0, UP);
    });
}

/// We are passive: the router dials our port 179.
pub fn passive<R: RouterUnderTest>(test: &str) {
    let cfg = with(our_v4(), |c| c.passive = true);
    in_lab::<R>(
        test,
        "pa",
        &RouterConfig::v4(64512, 64511),
        Some(179),
        cfg,
        |lab| {
            lab.announce(&["198.51.100.60/32"]);
            let st = lab.ours.wait_state(&lab.key, State::Established, UP);
            // The router dialed us: our end of the connection is port 179.
            assert_eq!(st.local_address.map(|a| a.port()), Some(179), "{st:?}");
        },
    );
}

/// We are passive on port 1790: the router dials us there.
pub fn port_router_dials<R: RouterUnderTest>(test: &str) {
    let config = RouterConfig::v4(64512, 64511).with(|n| n.remote_port = Some(1790));
    let cfg = with(our_v4(), |c| c.passive = true);
    in_lab::<R>(test, "po", &config, Some(1790), cfg, |lab| {
        lab.announce(&["198.51.100.61/32"]);
        let st = lab.ours.wait_state(&lab.key, State::Established, UP);
        assert_eq!(st.local_address.map(|a| a.port()), Some(1790), "{st:?}");
    });
}

/// The router listens on port 1790 and we dial it there; we do not listen, so only our
/// connection can make the session.
pub fn port_we_dial<R: RouterUnderTest>(test: &str) {
    require::<R>(Feature::ListenPort);
    let mut config = RouterConfig::v4(64512, 64511);
    config.listen_port = 1790;
    let cfg = with(our_v4(), |c| c.port = 1790);
    in_lab::<R>(test, "pv", &config, None, cfg, |lab| {
        lab.announce(&["198.51.100.62/32"]);
        lab.ours.wait_state(&lab.key, State::Established, UP);
        // The router's only BGP connection is the one we made to its port 1790.
        let conns = lab.t.b.exec_stdout(&["ss", "-tnH", "state", "established"]);
        let bgp: Vec<&str> = conns
            .lines()
            .filter(|l| l.contains("192.0.2.2:") && !l.contains("127.0.0.1"))
            .collect();
        assert_eq!(bgp.len(), 1, "{conns}");
        assert!(bgp[0].contains("192.0.2.2:1790 "), "{conns}");
    });
}

/// Our session uses a secondary address as source; the router knows only that one.
pub fn source_address<R: RouterUnderTest>(test: &str) {
    if !prerequisites(test, R::NEEDS) {
        return;
    }
    let t = two_ns_with_veth(&ns::<R>("sa"));
    addr(&t.a, "to-b", "192.0.2.11/24");
    let mut config = RouterConfig::v4(64512, 64511);
    config.neighbors[0].address = "192.0.2.11";
    let cfg = with(our_v4(), |c| {
        c.source_address = Some("192.0.2.11".parse().expect("addr"));
    });
    let lab = Lab::<R>::on(t, &config, Some(179), cfg);
    lab.announce(&["198.51.100.70/32"]);
    let r = lab.router.must_route("198.51.100.70/32");
    assert_eq!(r.next_hop.as_deref(), Some("192.0.2.11"), "{r:?}");
    let st = lab.ours.wait_state(&lab.key, State::Established, UP);
    assert_eq!(
        st.local_address.map(|a| a.ip().to_string()).as_deref(),
        Some("192.0.2.11"),
        "{st:?}"
    );
    lab.ours.shutdown(false);
}

/// eBGP multihop through a router in between.
pub fn ebgp_multihop<R: RouterUnderTest>(test: &str) {
    if !prerequisites(test, R::NEEDS) {
        return;
    }
    // us (192.0.2.1) -- router (192.0.2.254 | 198.51.100.254) -- R (198.51.100.2)
    let us = Netns::new(&ns::<R>("mhu"));
    let r = Netns::new(&ns::<R>("mhr"));
    let b = Netns::new(&ns::<R>("mhb"));
    veth(&us, "to-r", &r, "to-us");
    veth(&b, "to-r", &r, "to-b");
    addr(&us, "to-r", "192.0.2.1/24");
    addr(&r, "to-us", "192.0.2.254/24");
    addr(&r, "to-b", "198.51.100.254/24");
    addr(&b, "to-r", "198.51.100.2/24");
    route(&us, "198.51.100.0/24 via 192.0.2.254");
    route(&b, "192.0.2.0/24 via 198.51.100.254");
    sysctl(&r, "net.ipv4.ip_forward", "1");
    let mut config = RouterConfig::v4(64512, 64511).with(|n| {
        n.local = "198.51.100.2";
        n.multihop = Some(2);
    });
    config.router_id = "198.51.100.2";
    let router = R::start(&b, &config);
    let ours = Ours::start(&us, Some(179));
    let cfg = with(
        peer(64511, fixed(64512), "198.51.100.2", "192.0.2.1"),
        |c| {
            c.ebgp_multihop = Some(2);
        },
    );
    let key = cfg.key();
    ours.add_peer(cfg);
    advertise(&ours, &key, &["203.0.113.80/32"]);
    router.wait_established(0, UP);
    wait_has(&router, &["203.0.113.80/32"]);
    // The next hop two hops away resolves through the router in between.
    assert_next_hop(
        &router,
        "203.0.113.80/32",
        "192.0.2.1",
        "198.51.100.254 on to-r",
    );
    let p = router.must_route("203.0.113.80/32");
    assert_eq!(p.as_path, vec![64511], "{p:?}");
    let s = router.session(0);
    let remote = s.remote_address;
    expect::<R, _>(
        "the neighbor address",
        |r| r.remote_address,
        remote,
        "192.0.2.1".into(),
    );
    ours.shutdown(false);
}

/// We restart without a NOTIFICATION (graceful restart): the router keeps our route as stale
/// until our new session's End-of-RIB.
pub fn graceful_restart<R: RouterUnderTest>(test: &str) {
    assert!(
        R::REPORTS.route_stale || R::REPORTS.peer_restarting,
        "{} must show graceful restart somehow",
        R::NAME
    );
    if !prerequisites(test, R::NEEDS) {
        return;
    }
    let t = two_ns_with_veth(&ns::<R>("gr"));
    let config = RouterConfig::v4(64512, 64511).with(|n| n.graceful_restart = true);
    let router = R::start(&t.b, &config);
    let cfg = with(our_v4(), |c| c.graceful_restart = Some(gr()));
    let key = cfg.key();
    let prefix = "198.51.100.90/32";
    let ours = Ours::start(&t.a, Some(179));
    ours.add_peer(cfg.clone());
    advertise(&ours, &key, &[prefix]);
    router.wait_established(0, UP);
    wait_has(&router, &[prefix]);
    let s = router.session(0);
    expect::<R, _>(
        "our GR capability",
        |r| r.peer_gr_capable,
        s.peer_gr_capable,
        true,
    );
    // Our speaker "crashes": connections close without a NOTIFICATION.
    ours.shutdown(true);
    drop(ours);
    // `restarting`: the router keeps our route and marks it stale (or shows that it is
    // helping our restart).
    let gr_state = |restarting: bool| {
        let s = router.session(0);
        let stale = router.route(prefix).and_then(|r| r.stale);
        router.has(prefix)
            && (!R::REPORTS.route_stale || stale == Some(restarting))
            && (!R::REPORTS.peer_restarting || s.peer_restarting == Some(restarting))
            && (!restarting || !s.established)
    };
    wait_for(
        &format!("{} keeps the route, marked stale", R::NAME),
        UP,
        || gr_state(true).then_some(()),
    );
    // Back again: the new session's End-of-RIB clears the stale state.
    let ours = Ours::start(&t.a, Some(179));
    ours.add_peer(cfg);
    advertise(&ours, &key, &[prefix]);
    router.wait_established(0, UP);
    wait_for(
        &format!("{} refreshed the route (no longer stale)", R::NAME),
        UP,
        || gr_state(false).then_some(()),
    );
    ours.shutdown(false);
}

/// The router dies without a NOTIFICATION: as graceful-restart helper we keep its route as
/// stale, until it is back and its routes and End-of-RIB replace them.
pub fn graceful_restart_helper<R: RouterUnderTest>(test: &str) {
    require::<R>(Feature::Restart);
    if !prerequisites(test, R::NEEDS) {
        return;
    }
    let mut config = RouterConfig::v4(64512, 64511).with(|n| n.graceful_restart = true);
    config.originate = vec!["203.0.113.0/24"];
    let cfg = with(our_v4(), |c| c.graceful_restart = Some(gr()));
    let Lab {
        ours,
        key,
        router,
        t,
    } = Lab::<R>::new("gh", &config, Some(179), cfg);
    let prefix = "203.0.113.0/24";
    router.wait_established(0, UP);
    wait_received(&ours, &key, prefix, false);
    // The router dies without a NOTIFICATION: as GR helper we keep its route, marked stale.
    signal(router.bgp_pid(&t.b), "KILL");
    wait_for(
        &format!("our Adj-RIB-In keeps {}'s route as stale", R::NAME),
        UP,
        || {
            (received(&ours, &key, prefix, true) && ours.status(&key).state != State::Established)
                .then_some(())
        },
    );
    drop(router);
    // The router is back: its routes and End-of-RIB replace the stale ones.
    let router = R::start(&t.b, &config);
    router.wait_established(0, UP);
    wait_for(
        &format!("our Adj-RIB-In has {}'s route, fresh", R::NAME),
        UP,
        || {
            (received(&ours, &key, prefix, false) && !received(&ours, &key, prefix, true))
                .then_some(())
        },
    );
    ours.shutdown(false);
}

/// The router sends a ROUTE-REFRESH: we answer with our routes, without a session reset.
pub fn route_refresh<R: RouterUnderTest>(test: &str) {
    require::<R>(Feature::SendRouteRefresh);
    in_lab::<R>(
        test,
        "rr",
        &RouterConfig::v4(64512, 64511),
        Some(179),
        our_v4(),
        |lab| {
            lab.announce(&["198.51.100.95/32"]);
            let before = lab.ours.status(&lab.key).messages;
            lab.router.send_route_refresh(0);
            let after = wait_for("we answered the ROUTE-REFRESH", UP, || {
                let m = lab.ours.status(&lab.key).messages;
                (m.route_refresh_received > before.route_refresh_received
                    && m.updates_sent > before.updates_sent)
                    .then_some(m)
            });
            assert_eq!(after.opens_sent, before.opens_sent, "no session reset");
            assert!(lab.router.has("198.51.100.95/32"));
        },
    );
}

/// `peer_down(BfdDown)`: the router gets Cease/BFD Down, our FSM reconnects by itself.
pub fn peer_down_bfd_cease<R: RouterUnderTest>(test: &str) {
    in_lab::<R>(
        test,
        "pd",
        &RouterConfig::v4(64512, 64511),
        Some(179),
        our_v4(),
        |lab| {
            advertise(&lab.ours, &lab.key, &["198.51.100.96/32"]);
            lab.both_up();
            let down = lab
                .ours
                .rt
                .block_on(lab.ours.speaker.peer_down(&lab.key, CeaseSubcode::BfdDown))
                .expect("peer_down");
            assert!(down);
            wait_cease(&lab.router, 0, CeaseSubcode::BfdDown);
            // The FSM reconnects by itself.
            lab.both_up();
            wait_has(&lab.router, &["198.51.100.96/32"]);
        },
    );
}

/// Removing the peer withdraws everything with Cease/Peer De-configured; its connections
/// are refused afterwards.
pub fn remove_peer<R: RouterUnderTest>(test: &str) {
    in_lab::<R>(
        test,
        "rm",
        &RouterConfig::v4(64512, 64511),
        Some(179),
        our_v4(),
        |lab| {
            lab.announce(&["198.51.100.97/32"]);
            assert!(lab
                .ours
                .rt
                .block_on(lab.ours.speaker.remove_peer(&lab.key))
                .expect("remove"));
            wait_for_ok(
                &format!("{} dropped the route and saw Peer De-configured", R::NAME),
                UP,
                || {
                    if lab.router.has("198.51.100.97/32") {
                        return Err("route still there".to_owned());
                    }
                    lab.router.saw_cease(0, CeaseSubcode::PeerDeconfigured)
                },
            );
            // Connections from the removed peer are refused: the router never gets Established.
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(3) {
                assert!(
                    !lab.router.session(0).established,
                    "{} Established",
                    R::NAME
                );
                std::thread::sleep(Duration::from_millis(250));
            }
        },
    );
}

/// The same configuration again changes nothing; a new hold time resets the session with
/// Cease/Other Configuration Change and the new timers apply on both sides.
pub fn config_change_resets<R: RouterUnderTest>(test: &str) {
    let mut cfg = our_v4();
    in_lab::<R>(
        test,
        "cc",
        &RouterConfig::v4(64512, 64511),
        Some(179),
        cfg.clone(),
        |lab| {
            advertise(&lab.ours, &lab.key, &["198.51.100.98/32"]);
            lab.both_up();
            let opens = lab.ours.status(&lab.key).messages.opens_sent;
            let count = |want: u64| {
                let s = lab.router.session(0);
                let n = s.established_count;
                expect::<R, _>("the established count", |r| r.established_count, n, want);
            };
            // Same configuration again: nothing happens.
            lab.ours.add_peer(cfg.clone());
            std::thread::sleep(Duration::from_millis(500));
            assert_eq!(lab.ours.status(&lab.key).messages.opens_sent, opens);
            count(1);
            // A new hold time: Cease / Other Configuration Change, then back with the new timers.
            cfg.timers.hold_time = HoldTime::from_secs(6).expect("hold");
            lab.ours.add_peer(cfg);
            wait_cease(&lab.router, 0, CeaseSubcode::OtherConfigurationChange);
            lab.both_up();
            count(2);
            let st = lab.ours.wait_state(&lab.key, State::Established, UP);
            assert_eq!(st.hold_time.map(|h| h.secs()), Some(6));
            let s = lab.router.session(0);
            expect::<R, _>("the negotiated hold time", |r| r.hold_time, s.hold_time, 6);
            wait_has(&lab.router, &["198.51.100.98/32"]);
        },
    );
}

/// GTSM on both sides.
pub fn gtsm<R: RouterUnderTest>(test: &str) {
    let config = RouterConfig::v4(64512, 64511).with(|n| n.gtsm = true);
    let cfg = with(our_v4(), |c| c.gtsm = true);
    in_lab::<R>(test, "gt", &config, Some(179), cfg, |lab| {
        lab.announce(&["198.51.100.99/32"]);
    });
}

/// The router requires GTSM, we do not use it (passive, TTL 1): the router drops our
/// packets, the session never comes up.
pub fn gtsm_required_by_peer<R: RouterUnderTest>(test: &str) {
    let config = RouterConfig::v4(64512, 64511).with(|n| n.gtsm = true);
    let cfg = with(our_v4(), |c| c.passive = true);
    in_lab::<R>(test, "gn", &config, Some(179), cfg, |lab| {
        never_established(&lab.router, &lab.ours, &lab.key, Duration::from_secs(8));
    });
}

/// We listen (for another, passive peer) but the router's address is not configured: its
/// connections get Cease/Connection Rejected.
pub fn unconfigured_peer_rejected<R: RouterUnderTest>(test: &str) {
    let other = with(peer(64511, fixed(64512), "192.0.2.99", "192.0.2.1"), |c| {
        c.passive = true;
    });
    in_lab::<R>(
        test,
        "uc",
        &RouterConfig::v4(64512, 64511),
        Some(179),
        other,
        |lab| {
            wait_cease(&lab.router, 0, CeaseSubcode::ConnectionRejected);
            assert!(!lab.router.session(0).established);
        },
    );
}

/// `PeerAsn::DynamicExternal`: we learn the router's AS from its OPEN.
pub fn dynamic_asn<R: RouterUnderTest>(test: &str) {
    let cfg = peer(64511, PeerAsn::DynamicExternal, "192.0.2.2", "192.0.2.1");
    in_lab::<R>(
        test,
        "da",
        &RouterConfig::v4(64599, 64511),
        Some(179),
        cfg,
        |lab| {
            lab.router.wait_established(0, UP);
            let st = lab.ours.wait_state(&lab.key, State::Established, UP);
            assert_eq!(st.peer_asn, Some(Asn(64599)));
        },
    );
}

/// Two passive sessions (IPv4 and IPv6) to the same router on our listeners; `pw` gives
/// their MD5 passwords. Returns the namespaces, router, speaker and both keys, all
/// Established on both sides.
fn two_sessions<R: RouterUnderTest>(
    code: &str,
    pw: (Option<&'static str>, Option<&'static str>),
) -> (TwoNs, R, Ours, PeerKey, PeerKey) {
    let t = two_ns_with_veth(&ns::<R>(code));
    let router = R::start(&t.b, &RouterConfig::two_sessions(pw.0, pw.1));
    let ours = Ours::start(&t.a, Some(179));
    let v4 = with(our_v4(), |c| {
        c.passive = true;
        c.password = pw.0.map(Into::into);
    });
    let v6 = with(our_v6(), |c| {
        c.passive = true;
        c.password = pw.1.map(Into::into);
    });
    let (k4, k6) = (v4.key(), v6.key());
    ours.add_peer(v4);
    ours.add_peer(v6);
    router.wait_established(0, UP);
    router.wait_established(1, UP);
    (t, router, ours, k4, k6)
}

/// Two sessions (IPv4, IPv6): changes for one never touch the other.
pub fn two_sessions_independent<R: RouterUnderTest>(test: &str) {
    if !prerequisites(test, R::NEEDS) {
        return;
    }
    let (_t, router, ours, k4, k6) = two_sessions::<R>("2s", (None, None));
    ours.wait_state(&k4, State::Established, UP);
    ours.wait_state(&k6, State::Established, UP);
    let opens = |k: &PeerKey| ours.status(k).messages.opens_received;
    let before = (opens(&k4), opens(&k6));
    // Changes for one session never touch the other.
    for i in 0..20 {
        let p = format!("198.51.100.{i}/32");
        advertise(&ours, &k4, &[p.as_str()]);
    }
    advertise(&ours, &k6, &["2001:db8:100::/48"]);
    wait_exactly(&router, V4, &["198.51.100.19/32".to_owned()]);
    wait_exactly(&router, V6, &["2001:db8:100::/48".to_owned()]);
    assert_eq!((opens(&k4), opens(&k6)), before, "no session was reset");
    for n in 0..2 {
        let s = router.session(n);
        assert!(s.established, "{s:?}");
        let c = s.established_count;
        expect::<R, _>("the established count", |r| r.established_count, c, 1);
    }
    let peers = ours.rt.block_on(ours.speaker.peers()).expect("peers");
    assert_eq!(peers.len(), 2);
    assert!(peers.iter().all(|p| p.state == State::Established));
    ours.shutdown(false);
}

/// MD5 on two passive sessions: our listeners carry the keys of both peers.
pub fn md5_passive_listener<R: RouterUnderTest>(test: &str) {
    if !prerequisites(test, R::NEEDS) {
        return;
    }
    let (_t, _router, ours, k4, k6) = two_sessions::<R>("ml", (Some("L1sten"), Some("L1sten6")));
    for k in [&k4, &k6] {
        let st = ours.wait_state(k, State::Established, UP);
        assert_eq!(st.local_address.map(|a| a.port()), Some(179), "{st:?}");
    }
    ours.shutdown(false);
}
