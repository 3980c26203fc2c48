//! BGP interop with GoBGP 3: our speaker in one namespace, gobgpd in another; each test one
//! feature, checked in GoBGP's own RIB (`gobgp global rib -j`).

mod interop_common;

use interop_common::*;
use metalroute_bgp::config::Family;
use metalroute_bgp::fsm::State;
use metalroute_netns::{
    addr, prerequisites, route, sysctl, two_ns_with_veth, veth, wait_for, Gobgp, Need, Netns,
};
use serde_json::Value;

const GOBGP: &[Need] = &[Need::Root, Need::Binary("gobgpd"), Need::Binary("gobgp")];

fn gobgp_conf(asn: u32, neighbor: &str, peer_as: u32, family: &str, extra: &str) -> String {
    format!(
        r#"
[global.config]
  as = {asn}
  router-id = "192.0.2.2"
  port = 179

[[neighbors]]
  [neighbors.config]
    neighbor-address = "{neighbor}"
    peer-as = {peer_as}
    {extra}
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "{family}"
"#
    )
}

/// The path attributes of `prefix` in GoBGP's RIB.
fn attrs_of(gobgp: &Gobgp, v6: bool, prefix: &str) -> Vec<Value> {
    let rib = if v6 { gobgp.rib_v6() } else { gobgp.rib_v4() };
    rib.get(prefix)
        .and_then(|paths| paths.get(0))
        .and_then(|p| p.get("attrs"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn attr(attrs: &[Value], type_code: u64) -> Value {
    attrs
        .iter()
        .find(|a| a["type"] == type_code)
        .cloned()
        .unwrap_or(Value::Null)
}

fn has(v: &[String], p: &str) -> bool {
    v.iter().any(|x| x == p)
}

#[test]
fn interop_gobgp_ebgp_ipv4() {
    if !prerequisites("interop_gobgp_ebgp_ipv4", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("ige4");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64512, "192.0.2.1", 64511, "ipv4-unicast", ""),
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
    gobgp.wait_established("192.0.2.1", UP);
    wait_for("GoBGP has both prefixes", UP, || {
        let p = gobgp.prefixes(false);
        (has(&p, "198.51.100.0/24") && has(&p, "198.51.100.77/32")).then_some(())
    });
    let a = attrs_of(&gobgp, false, "198.51.100.77/32");
    let path = attr(&a, 2);
    assert_eq!(path["as_paths"][0]["asns"][0], 64511, "{a:?}");
    assert_eq!(attr(&a, 3)["nexthop"], "192.0.2.1", "{a:?}");
    assert_eq!(ours.status(&key).state, State::Established);
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_ebgp_ipv6() {
    if !prerequisites("interop_gobgp_ebgp_ipv6", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("ige6");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64512, "2001:db8::1", 64511, "ipv6-unicast", ""),
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
    gobgp.wait_established("2001:db8::1", UP);
    wait_for("GoBGP has the IPv6 prefix", UP, || {
        has(&gobgp.prefixes(true), "2001:db8:100::/48").then_some(())
    });
    let a = attrs_of(&gobgp, true, "2001:db8:100::/48");
    let mp = attr(&a, 14);
    assert_eq!(mp["nexthop"], "2001:db8::1", "{a:?}");
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_ibgp_local_pref() {
    if !prerequisites("interop_gobgp_ibgp_local_pref", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igib");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64512, "192.0.2.1", 64512, "ipv4-unicast", ""),
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64512, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(
        &key,
        Family::IPV4_UNICAST,
        &[("198.51.100.20/32", attrs(&[], &[], Some(250)))],
    );
    gobgp.wait_established("192.0.2.1", UP);
    wait_for("GoBGP has the prefix", UP, || {
        has(&gobgp.prefixes(false), "198.51.100.20/32").then_some(())
    });
    let a = attrs_of(&gobgp, false, "198.51.100.20/32");
    assert_eq!(attr(&a, 5)["value"], 250, "{a:?}");
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_communities() {
    if !prerequisites("interop_gobgp_communities", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igco");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64512, "192.0.2.1", 64511, "ipv4-unicast", ""),
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
    gobgp.wait_established("192.0.2.1", UP);
    wait_for("GoBGP has the prefix", UP, || {
        has(&gobgp.prefixes(false), "198.51.100.30/32").then_some(())
    });
    let a = attrs_of(&gobgp, false, "198.51.100.30/32");
    let c = attr(&a, 8)["communities"].clone();
    let want: Vec<u64> = vec![(64511u64 << 16) | 100, (8000u64 << 16) | 800];
    let got: Vec<u64> = c
        .as_array()
        .map(|v| v.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    assert_eq!(got, want, "{a:?}");
    let l = attr(&a, 32);
    assert_eq!(l["value"][0]["ASN"], 64511, "{a:?}");
    assert_eq!(l["value"][0]["LocalData1"], 1, "{a:?}");
    assert_eq!(l["value"][0]["LocalData2"], 2, "{a:?}");
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_md5() {
    if !prerequisites("interop_gobgp_md5", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igm5");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(
            64512,
            "192.0.2.1",
            64511,
            "ipv4-unicast",
            "auth-password = \"g0-secret\"",
        ),
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.password = Some("g0-secret".into());
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.50/32", plain())]);
    gobgp.wait_established("192.0.2.1", UP);
    wait_for("GoBGP has the prefix", UP, || {
        has(&gobgp.prefixes(false), "198.51.100.50/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_md5_wrong_password() {
    if !prerequisites("interop_gobgp_md5_wrong_password", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igmw");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(
            64512,
            "192.0.2.1",
            64511,
            "ipv4-unicast",
            "auth-password = \"right\"",
        ),
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.password = Some("wrong".into());
    let key = cfg.key();
    ours.add_peer(cfg);
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(12) {
        assert_ne!(
            gobgp.neighbor_state("192.0.2.1").as_deref(),
            Some("established")
        );
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
fn interop_gobgp_withdraw() {
    if !prerequisites("interop_gobgp_withdraw", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igwd");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64512, "192.0.2.1", 64511, "ipv4-unicast", ""),
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(
        &key,
        Family::IPV4_UNICAST,
        &[("198.51.100.1/32", plain()), ("198.51.100.2/32", plain())],
    );
    gobgp.wait_established("192.0.2.1", UP);
    wait_for("GoBGP has both", UP, || {
        (gobgp.prefixes(false).len() == 2).then_some(())
    });
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.1/32", plain())]);
    wait_for("GoBGP dropped the withdrawn prefix", UP, || {
        (gobgp.prefixes(false) == vec!["198.51.100.1/32".to_string()]).then_some(())
    });
    assert_eq!(
        gobgp.neighbor_state("192.0.2.1").as_deref(),
        Some("established")
    );
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_passive() {
    if !prerequisites("interop_gobgp_passive", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igpa");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64512, "192.0.2.1", 64511, "ipv4-unicast", ""),
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.passive = true;
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.60/32", plain())]);
    // GoBGP waits 5-10 s before its first connect.
    gobgp.wait_established("192.0.2.1", UP);
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(st.local_address.map(|a| a.port()), Some(179), "{st:?}");
    wait_for("GoBGP has the prefix", UP, || {
        has(&gobgp.prefixes(false), "198.51.100.60/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_four_octet_asn() {
    if !prerequisites("interop_gobgp_four_octet_asn", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("ig4o");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64512, "192.0.2.1", 4_200_000_001, "ipv4-unicast", ""),
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(4_200_000_001, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.40/32", plain())]);
    gobgp.wait_established("192.0.2.1", UP);
    wait_for("GoBGP has the prefix", UP, || {
        has(&gobgp.prefixes(false), "198.51.100.40/32").then_some(())
    });
    let a = attrs_of(&gobgp, false, "198.51.100.40/32");
    assert_eq!(
        attr(&a, 2)["as_paths"][0]["asns"][0],
        4_200_000_001u64,
        "{a:?}"
    );
    ours.shutdown(false);
}

/// A gobgpd configuration with one neighbor of several families; `neighbor_tables` are extra
/// `[neighbors.…]` tables (multihop, graceful restart…), `afi_extra` extra tables per family.
fn gobgp_conf_full(
    asn: u32,
    port: u16,
    neighbor: &str,
    peer_as: u32,
    families: &[&str],
    neighbor_tables: &str,
    afi_extra: &str,
) -> String {
    let mut c = format!(
        r#"
[global.config]
  as = {asn}
  router-id = "192.0.2.2"
  port = {port}

[[neighbors]]
  [neighbors.config]
    neighbor-address = "{neighbor}"
    peer-as = {peer_as}
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
{neighbor_tables}
"#
    );
    for f in families {
        c.push_str(&format!(
            "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{f}\"\n{afi_extra}\n"
        ));
    }
    c
}

/// The first path of `prefix` in GoBGP's RIB (with `stale`, `attrs`…).
fn path_of(gobgp: &Gobgp, v6: bool, prefix: &str) -> Value {
    let rib = if v6 { gobgp.rib_v6() } else { gobgp.rib_v4() };
    rib.get(prefix)
        .and_then(|paths| paths.get(0))
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn interop_gobgp_dual_stack() {
    if !prerequisites("interop_gobgp_dual_stack", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igds");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf_full(
            64512,
            179,
            "192.0.2.1",
            64511,
            &["ipv4-unicast", "ipv6-unicast"],
            "",
            "",
        ),
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
    gobgp.wait_established("192.0.2.1", UP);
    wait_for(
        "GoBGP has the IPv4 and the IPv6 prefix over one IPv4 session",
        UP,
        || {
            (has(&gobgp.prefixes(false), "198.51.100.10/32")
                && has(&gobgp.prefixes(true), "2001:db8:100::10/128"))
            .then_some(())
        },
    );
    let a = attrs_of(&gobgp, false, "198.51.100.10/32");
    assert_eq!(attr(&a, 3)["nexthop"], "192.0.2.1", "{a:?}");
    // The IPv6 next hop is our global IPv6 address on the same link.
    let a = attrs_of(&gobgp, true, "2001:db8:100::10/128");
    assert_eq!(attr(&a, 14)["nexthop"], "2001:db8::1", "{a:?}");
    assert_eq!(attr(&a, 2)["as_paths"][0]["asns"][0], 64511, "{a:?}");
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(
        st.families,
        vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]
    );
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_ebgp_multihop() {
    if !prerequisites("interop_gobgp_ebgp_multihop", GOBGP) {
        return;
    }
    // us (192.0.2.1) -- router (192.0.2.254 | 198.51.100.254) -- GoBGP (198.51.100.2)
    let us = Netns::new("igmhu");
    let r = Netns::new("igmhr");
    let b = Netns::new("igmhb");
    veth(&us, "to-r", &r, "to-us");
    veth(&b, "to-r", &r, "to-b");
    addr(&us, "to-r", "192.0.2.1/24");
    addr(&r, "to-us", "192.0.2.254/24");
    addr(&r, "to-b", "198.51.100.254/24");
    addr(&b, "to-r", "198.51.100.2/24");
    route(&us, "198.51.100.0/24 via 192.0.2.254");
    route(&b, "192.0.2.0/24 via 198.51.100.254");
    sysctl(&r, "net.ipv4.ip_forward", "1");
    let gobgp = Gobgp::start(
        &b,
        &gobgp_conf_full(
            64512,
            179,
            "192.0.2.1",
            64511,
            &["ipv4-unicast"],
            "  [neighbors.ebgp-multihop.config]\n    enabled = true\n    multihop-ttl = 2\n",
            "",
        ),
    );
    let ours = Ours::start(&us, Some(179));
    let mut cfg = peer(64511, fixed(64512), "198.51.100.2", "192.0.2.1");
    cfg.ebgp_multihop = Some(2);
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("203.0.113.80/32", plain())]);
    gobgp.wait_established("192.0.2.1", UP);
    wait_for("GoBGP has the prefix", UP, || {
        has(&gobgp.prefixes(false), "203.0.113.80/32").then_some(())
    });
    let a = attrs_of(&gobgp, false, "203.0.113.80/32");
    assert_eq!(attr(&a, 3)["nexthop"], "192.0.2.1", "{a:?}");
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_source_address() {
    if !prerequisites("interop_gobgp_source_address", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igsa");
    addr(&t.a, "to-b", "192.0.2.11/24");
    // GoBGP knows only the secondary address as its neighbor.
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64512, "192.0.2.11", 64511, "ipv4-unicast", ""),
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.source_address = Some("192.0.2.11".parse().expect("addr"));
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.70/32", plain())]);
    gobgp.wait_established("192.0.2.11", UP);
    wait_for("GoBGP has the prefix", UP, || {
        has(&gobgp.prefixes(false), "198.51.100.70/32").then_some(())
    });
    let a = attrs_of(&gobgp, false, "198.51.100.70/32");
    assert_eq!(attr(&a, 3)["nexthop"], "192.0.2.11", "{a:?}");
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(
        st.local_address.map(|a| a.ip().to_string()).as_deref(),
        Some("192.0.2.11"),
        "{st:?}"
    );
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_port() {
    if !prerequisites("interop_gobgp_port", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igpo");
    // GoBGP listens on the non-standard port 1790 and we dial it there; we do not listen, so
    // only our connection can make the session.
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf_full(64512, 1790, "192.0.2.1", 64511, &["ipv4-unicast"], "", ""),
    );
    let ours = Ours::start(&t.a, None);
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.port = 1790;
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.61/32", plain())]);
    gobgp.wait_established("192.0.2.1", UP);
    ours.wait_state(&key, State::Established, UP);
    // gobgpd's only BGP connection is the one we made to its port 1790.
    let conns = t.b.exec_stdout(&["ss", "-tnH", "state", "established"]);
    let bgp: Vec<&str> = conns
        .lines()
        .filter(|l| l.contains("192.0.2.2:") && !l.contains("127.0.0.1"))
        .collect();
    assert_eq!(bgp.len(), 1, "{conns}");
    assert!(bgp[0].contains("192.0.2.2:1790 "), "{conns}");
    wait_for("GoBGP has the prefix", UP, || {
        has(&gobgp.prefixes(false), "198.51.100.61/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_hold_timer_expiry() {
    if !prerequisites("interop_gobgp_hold_timer_expiry", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("ight");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64512, "192.0.2.1", 64511, "ipv4-unicast", ""),
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    gobgp.wait_established("192.0.2.1", UP);
    ours.wait_state(&key, State::Established, UP);
    let pid = pid_of(&t.b, "gobgpd").expect("gobgpd pid");
    let _cont = Cont(pid);
    signal(pid, "STOP");
    // Hold time 9 s: our receive hold timer fires and we send Hold Timer Expired.
    let st = metalroute_netns::wait_for_ok(
        "our hold timer expires",
        std::time::Duration::from_secs(30),
        || {
            let s = ours.status(&key);
            match &s.last_error {
                Some(e) if s.state != State::Established && e.contains("Hold Timer Expired") => {
                    Ok(s)
                }
                _ => Err(format!("{} {:?}", s.state, s.last_error)),
            }
        },
    );
    assert!(st.messages.notifications_sent >= 1, "{:?}", st.messages);
    signal(pid, "CONT");
    // Once gobgpd runs again the session comes back.
    ours.wait_state(&key, State::Established, UP);
    gobgp.wait_established("192.0.2.1", UP);
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

/// Resumes a stopped process when dropped (so a failing test never leaves gobgpd frozen).
struct Cont(u32);
impl Drop for Cont {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

#[test]
fn interop_gobgp_graceful_restart() {
    if !prerequisites("interop_gobgp_graceful_restart", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("iggr");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf_full(
            64512,
            179,
            "192.0.2.1",
            64511,
            &["ipv4-unicast"],
            "  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 120\n",
            "    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n",
        ),
    );
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.graceful_restart = Some(gr());
    let key = cfg.key();
    let ours = Ours::start(&t.a, Some(179));
    ours.add_peer(cfg.clone());
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.90/32", plain())]);
    gobgp.wait_established("192.0.2.1", UP);
    wait_for("GoBGP has the prefix", UP, || {
        has(&gobgp.prefixes(false), "198.51.100.90/32").then_some(())
    });
    // Our speaker "crashes": connections close without a NOTIFICATION.
    ours.shutdown(true);
    drop(ours);
    wait_for("GoBGP keeps the route, marked stale", UP, || {
        let p = path_of(&gobgp, false, "198.51.100.90/32");
        (p["stale"] == true).then_some(())
    });
    assert_ne!(
        gobgp.neighbor_state("192.0.2.1").as_deref(),
        Some("established")
    );
    // Back again: the new session's End-of-RIB clears the stale flag.
    let ours = Ours::start(&t.a, Some(179));
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.90/32", plain())]);
    gobgp.wait_established("192.0.2.1", UP);
    wait_for("GoBGP refreshed the route (no longer stale)", UP, || {
        let p = path_of(&gobgp, false, "198.51.100.90/32");
        (p.is_object() && p["stale"] != true).then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_graceful_restart_helper() {
    if !prerequisites("interop_gobgp_graceful_restart_helper", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("iggh");
    let conf = gobgp_conf_full(
        64512,
        179,
        "192.0.2.1",
        64511,
        &["ipv4-unicast"],
        "  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 120\n",
        "    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n",
    );
    let gobgp = Gobgp::start(&t.b, &conf);
    gobgp.gobgp(&["global", "rib", "add", "203.0.113.0/24", "-a", "ipv4"]);
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.graceful_restart = Some(gr());
    let key = cfg.key();
    let ours = Ours::start(&t.a, Some(179));
    ours.add_peer(cfg);
    gobgp.wait_established("192.0.2.1", UP);
    let fresh = |stale: bool| {
        ours.received(&key, Family::IPV4_UNICAST)
            .iter()
            .any(|r| r.prefix.to_string() == "203.0.113.0/24" && r.stale == stale)
    };
    wait_for("our Adj-RIB-In has GoBGP's route", UP, || {
        fresh(false).then_some(())
    });
    // gobgpd dies without a NOTIFICATION: as GR helper we keep its route, marked stale.
    let pid = pid_of(&t.b, "gobgpd").expect("gobgpd pid");
    signal(pid, "KILL");
    wait_for("our Adj-RIB-In keeps GoBGP's route as stale", UP, || {
        (fresh(true) && ours.status(&key).state != State::Established).then_some(())
    });
    drop(gobgp);
    // gobgpd is back: its route and End-of-RIB replace the stale one.
    let gobgp = Gobgp::start(&t.b, &conf);
    gobgp.gobgp(&["global", "rib", "add", "203.0.113.0/24", "-a", "ipv4"]);
    gobgp.wait_established("192.0.2.1", UP);
    wait_for("our Adj-RIB-In has GoBGP's route, fresh", UP, || {
        (fresh(false) && !fresh(true)).then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_remove_peer() {
    if !prerequisites("interop_gobgp_remove_peer", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igrm");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64512, "192.0.2.1", 64511, "ipv4-unicast", ""),
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.97/32", plain())]);
    gobgp.wait_established("192.0.2.1", UP);
    wait_for("GoBGP has the prefix", UP, || {
        has(&gobgp.prefixes(false), "198.51.100.97/32").then_some(())
    });
    assert!(ours
        .rt
        .block_on(ours.speaker.remove_peer(&key))
        .expect("remove"));
    wait_for(
        "GoBGP dropped the route and saw Cease/Peer De-configured",
        UP,
        || {
            let log = std::fs::read_to_string(gobgp.log_path())
                .unwrap_or_default()
                .to_ascii_lowercase();
            (!has(&gobgp.prefixes(false), "198.51.100.97/32")
                && log.contains("code 6(cease) subcode 3"))
            .then_some(())
        },
    );
    // Connections from the removed peer are refused: GoBGP never gets established again.
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(3) {
        assert_ne!(
            gobgp.neighbor_state("192.0.2.1").as_deref(),
            Some("established")
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_gtsm() {
    if !prerequisites("interop_gobgp_gtsm", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("iggt");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf_full(
            64512,
            179,
            "192.0.2.1",
            64511,
            &["ipv4-unicast"],
            "  [neighbors.ttl-security.config]\n    enabled = true\n    ttl-min = 255\n",
            "",
        ),
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.gtsm = true;
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.99/32", plain())]);
    gobgp.wait_established("192.0.2.1", UP);
    wait_for("GoBGP has the prefix", UP, || {
        has(&gobgp.prefixes(false), "198.51.100.99/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_dynamic_asn() {
    if !prerequisites("interop_gobgp_dynamic_asn", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igda");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64599, "192.0.2.1", 64511, "ipv4-unicast", ""),
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
    gobgp.wait_established("192.0.2.1", UP);
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(st.peer_asn, Some(metalroute_bgp::config::Asn(64599)));
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_config_change_resets() {
    if !prerequisites("interop_gobgp_config_change_resets", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igcc");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64512, "192.0.2.1", 64511, "ipv4-unicast", ""),
    );
    let ours = Ours::start(&t.a, Some(179));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg.clone());
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.98/32", plain())]);
    gobgp.wait_established("192.0.2.1", UP);
    ours.wait_state(&key, State::Established, UP);
    let opens = ours.status(&key).messages.opens_sent;
    // Same configuration again: nothing happens.
    ours.add_peer(cfg.clone());
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(ours.status(&key).messages.opens_sent, opens);
    // A new hold time: Cease / Other Configuration Change, then back with the new timers.
    cfg.timers.hold_time = metalroute_bgp::config::HoldTime::from_secs(6).expect("hold");
    ours.add_peer(cfg);
    wait_for("GoBGP saw Cease/Other Configuration Change", UP, || {
        let log = std::fs::read_to_string(gobgp.log_path())
            .unwrap_or_default()
            .to_ascii_lowercase();
        log.contains("code 6(cease) subcode 6").then_some(())
    });
    gobgp.wait_established("192.0.2.1", UP);
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(st.hold_time.map(|h| h.secs()), Some(6));
    let n = gobgp.gobgp_json(&["neighbor", "192.0.2.1"]);
    assert_eq!(n["timers"]["state"]["negotiated_hold_time"], 6, "{n}");
    wait_for("GoBGP has the prefix again", UP, || {
        has(&gobgp.prefixes(false), "198.51.100.98/32").then_some(())
    });
    ours.shutdown(false);
}

/// gobgpd with two neighbors toward us: 192.0.2.1 (IPv4 unicast) and 2001:db8::1 (IPv6
/// unicast), with optional MD5 passwords.
fn gobgp_conf_two(pw4: &str, pw6: &str) -> String {
    let mut c = String::from(
        "\n[global.config]\n  as = 64512\n  router-id = \"192.0.2.2\"\n  port = 179\n",
    );
    for (addr, family, pw) in [
        ("192.0.2.1", "ipv4-unicast", pw4),
        ("2001:db8::1", "ipv6-unicast", pw6),
    ] {
        let auth = if pw.is_empty() {
            String::new()
        } else {
            format!("    auth-password = \"{pw}\"\n")
        };
        c.push_str(&format!(
            r#"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{addr}"
    peer-as = 64511
{auth}  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "{family}"
"#
        ));
    }
    c
}

fn gobgp_log(gobgp: &Gobgp) -> String {
    std::fs::read_to_string(gobgp.log_path())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

#[test]
fn interop_gobgp_unconfigured_peer_rejected() {
    if !prerequisites("interop_gobgp_unconfigured_peer_rejected", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("iguc");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64512, "192.0.2.1", 64511, "ipv4-unicast", ""),
    );
    let ours = Ours::start(&t.a, Some(179));
    // We listen (for another, passive peer) but GoBGP's address is not configured.
    let mut other = peer(64511, fixed(64512), "192.0.2.99", "192.0.2.1");
    other.passive = true;
    ours.add_peer(other);
    // GoBGP waits 5-10 s before its first connect.
    // gobgpd logs no reason for a NOTIFICATION before Established; its counters show it.
    metalroute_netns::wait_for_ok("GoBGP received a NOTIFICATION from us", UP, || {
        let n = gobgp.gobgp_json(&["neighbor", "192.0.2.1"]);
        let got = n["state"]["messages"]["received"]["notification"]
            .as_u64()
            .unwrap_or(0);
        if got >= 1 {
            Ok(())
        } else {
            Err(n["state"]["messages"].to_string())
        }
    });
    assert_ne!(
        gobgp.neighbor_state("192.0.2.1").as_deref(),
        Some("established")
    );
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_peer_down_bfd_cease() {
    if !prerequisites("interop_gobgp_peer_down_bfd_cease", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igpd");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64512, "192.0.2.1", 64511, "ipv4-unicast", ""),
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.96/32", plain())]);
    gobgp.wait_established("192.0.2.1", UP);
    ours.wait_state(&key, State::Established, UP);
    let down = ours
        .rt
        .block_on(
            ours.speaker
                .peer_down(&key, metalroute_bgp::packet::CeaseSubcode::BfdDown),
        )
        .expect("peer_down");
    assert!(down);
    wait_for("GoBGP saw Cease/BFD Down (subcode 10)", UP, || {
        gobgp_log(&gobgp)
            .contains("code 6(cease) subcode 10")
            .then_some(())
    });
    // The FSM reconnects by itself.
    ours.wait_state(&key, State::Established, UP);
    gobgp.wait_established("192.0.2.1", UP);
    wait_for("GoBGP has the prefix again", UP, || {
        has(&gobgp.prefixes(false), "198.51.100.96/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_two_sessions_independent() {
    if !prerequisites("interop_gobgp_two_sessions_independent", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("ig2s");
    let gobgp = Gobgp::start(&t.b, &gobgp_conf_two("", ""));
    let ours = Ours::start(&t.a, Some(179));
    let v4 = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    let v6 = peer(64511, fixed(64512), "2001:db8::2", "192.0.2.1");
    let (k4, k6) = (v4.key(), v6.key());
    ours.add_peer(v4);
    ours.add_peer(v6);
    gobgp.wait_established("192.0.2.1", UP);
    gobgp.wait_established("2001:db8::1", UP);
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
        "GoBGP ends with only the last IPv4 prefix and the IPv6 one",
        UP,
        || {
            let (p4, p6) = (gobgp.prefixes(false), gobgp.prefixes(true));
            if p4 == vec!["198.51.100.19/32".to_string()]
                && p6 == vec!["2001:db8:100::/48".to_string()]
            {
                Ok(())
            } else {
                Err(format!("{p4:?} {p6:?}"))
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
    assert_eq!(
        gobgp.neighbor_state("192.0.2.1").as_deref(),
        Some("established")
    );
    assert_eq!(
        gobgp.neighbor_state("2001:db8::1").as_deref(),
        Some("established")
    );
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_md5_passive_listener() {
    if !prerequisites("interop_gobgp_md5_passive_listener", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igml");
    let gobgp = Gobgp::start(&t.b, &gobgp_conf_two("L1sten", "L1sten6"));
    // Passive: GoBGP dials our listeners (after its 5-10 s start delay), which carry the MD5
    // keys of both peers.
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
    gobgp.wait_established("192.0.2.1", UP);
    gobgp.wait_established("2001:db8::1", UP);
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
fn interop_gobgp_dual_stack_ipv6_session() {
    if !prerequisites("interop_gobgp_dual_stack_ipv6_session", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igd6");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf_full(
            64512,
            179,
            "2001:db8::1",
            64511,
            &["ipv4-unicast", "ipv6-unicast"],
            "",
            "",
        ),
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
    gobgp.wait_established("2001:db8::1", UP);
    wait_for(
        "GoBGP has the IPv4 and the IPv6 prefix over one IPv6 session",
        UP,
        || {
            (has(&gobgp.prefixes(false), "198.51.100.12/32")
                && has(&gobgp.prefixes(true), "2001:db8:100::12/128"))
            .then_some(())
        },
    );
    // The IPv4 routes carry our IPv4 address on the same link as next hop.
    let a = attrs_of(&gobgp, false, "198.51.100.12/32");
    assert_eq!(attr(&a, 3)["nexthop"], "192.0.2.1", "{a:?}");
    let a = attrs_of(&gobgp, true, "2001:db8:100::12/128");
    assert_eq!(attr(&a, 14)["nexthop"], "2001:db8::1", "{a:?}");
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_port_passive() {
    if !prerequisites("interop_gobgp_port_passive", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igpp");
    // GoBGP dials our non-standard port 1790 (we are passive and listen there).
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf_full(
            64512,
            179,
            "192.0.2.1",
            64511,
            &["ipv4-unicast"],
            "  [neighbors.transport.config]\n    remote-port = 1790\n",
            "",
        ),
    );
    let ours = Ours::start(&t.a, Some(1790));
    let mut cfg = peer(64511, fixed(64512), "192.0.2.2", "192.0.2.1");
    cfg.passive = true;
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.63/32", plain())]);
    // GoBGP waits 5-10 s before its first connect.
    gobgp.wait_established("192.0.2.1", UP);
    let st = ours.wait_state(&key, State::Established, UP);
    assert_eq!(st.local_address.map(|a| a.port()), Some(1790), "{st:?}");
    wait_for("GoBGP has the prefix", UP, || {
        has(&gobgp.prefixes(false), "198.51.100.63/32").then_some(())
    });
    ours.shutdown(false);
}

#[test]
fn interop_gobgp_ibgp_default_local_pref() {
    if !prerequisites("interop_gobgp_ibgp_default_local_pref", GOBGP) {
        return;
    }
    let t = two_ns_with_veth("igdl");
    let gobgp = Gobgp::start(
        &t.b,
        &gobgp_conf(64512, "192.0.2.1", 64512, "ipv4-unicast", ""),
    );
    let ours = Ours::start(&t.a, Some(179));
    let cfg = peer(64512, fixed(64512), "192.0.2.2", "192.0.2.1");
    let key = cfg.key();
    ours.add_peer(cfg);
    ours.advertise(&key, Family::IPV4_UNICAST, &[("198.51.100.21/32", plain())]);
    gobgp.wait_established("192.0.2.1", UP);
    wait_for("GoBGP has the prefix", UP, || {
        has(&gobgp.prefixes(false), "198.51.100.21/32").then_some(())
    });
    // Toward iBGP we send LOCAL_PREF 100 when the caller set none.
    let a = attrs_of(&gobgp, false, "198.51.100.21/32");
    assert_eq!(attr(&a, 5)["value"], 100, "{a:?}");
    ours.shutdown(false);
}
