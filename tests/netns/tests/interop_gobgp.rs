//! BGP interop with GoBGP 3: our speaker in one namespace, gobgpd in another; each test one
//! feature, checked in GoBGP's own RIB (`gobgp global rib -j`).

mod interop_common;

use interop_common::*;
use metalroute_bgp::config::Family;
use metalroute_bgp::fsm::State;
use metalroute_netns::{prerequisites, two_ns_with_veth, wait_for, Gobgp, Need};
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
