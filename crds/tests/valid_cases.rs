//! Valid configurations: every seed example validates; valid objects next to invalid ones stay
//! valid and usable; cross-object rules accept what MetalLB accepts; typed values carry the
//! defaults and resolved references the planner relies on.

mod common;
use common::*;
use metalroute_crds::config::SourceIpBy;
use metalroute_crds::object::ReadOptions;
use metalroute_crds::report::Outcome;
use metalroute_crds::snapshot::Snapshot;
use metalroute_crds::values::{Asn, Community, PeerAsn, PeerTarget, PoolRange};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/examples/seeds")
}

fn seed(name: &str) -> Snapshot {
    Snapshot::load(&[seeds_dir().join(name)], &ReadOptions::default()).expect("seed loads")
}

#[test]
fn every_seed_file_validates() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(seeds_dir())
        .expect("seeds directory (../shared/examples/seeds)")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 11, "{files:?}");
    for f in files {
        let snap = Snapshot::load(&[&f], &ReadOptions::default()).expect("loads");
        let bad: Vec<String> = snap.invalid().flat_map(|r| r.lines()).collect();
        assert!(snap.is_valid(), "{}: {bad:#?}", f.display());
    }
}

#[test]
fn seed_kinds_not_read_are_skipped() {
    let s = seed("09-machineconfig-forwarding.yaml");
    assert_eq!(s.reports.len(), 1);
    assert_eq!(s.reports[0].outcome, Outcome::Skipped);
    let s = seed("03-service-via-vrf.yaml");
    assert_eq!(report(&s, "Deployment", "server").outcome, Outcome::Skipped);
    assert!(report(&s, "Service", "server1").is_valid());
}

#[test]
fn seed_02_typed_peers_and_advertisements() {
    let s = seed("02-pools-peers-per-pool.yaml");
    let p1 = &s.config.peers["peer1"];
    assert_eq!(p1.my_asn, Asn(64500));
    assert_eq!(p1.peer_asn, PeerAsn::Fixed(Asn(64501)));
    assert_eq!(p1.target, PeerTarget::Address("10.0.0.1".parse().unwrap()));
    assert_eq!(p1.port, 179);
    assert_eq!(p1.router_id, Some("10.10.10.10".parse().unwrap()));
    assert!(p1.timers.is_none() && p1.vrf.is_none() && !p1.ebgp_multi_hop);
    let a1 = &s.config.bgp_advertisements["bgpadvertisement-1"];
    assert_eq!(a1.pools.iter().collect::<Vec<_>>(), ["pool1"]);
    assert_eq!(a1.peers.iter().collect::<Vec<_>>(), ["peer1"]);
    assert_eq!(a1.local_pref, Some(100));
    assert!(a1.communities.contains(&Community::Standard(0xFFFF_FF02)));
    let pool1 = &s.config.pools["pool1"];
    assert_eq!(
        pool1.ranges[0],
        PoolRange::Range {
            start: "4.4.4.100".parse().unwrap(),
            end: "4.4.4.200".parse().unwrap()
        }
    );
    assert!(pool1.auto_assign && !pool1.avoid_buggy_ips);
}

#[test]
fn seed_04_bfd_defaults_and_timers() {
    let s = seed("04-peer-examples.yaml");
    let b = &s.config.bfd_profiles["doc-example-bfd-profile-full"];
    assert_eq!(b.receive_interval, Duration::from_millis(300));
    assert_eq!(
        b.echo_interval,
        Duration::from_millis(50),
        "default echo interval"
    );
    assert!(b.echo_mode && b.passive_mode);
    assert_eq!(b.minimum_ttl, 254);
    let p = &s.config.peers["doc-example-peer-bfd"];
    let t = p.timers.expect("holdTime set");
    assert_eq!(t.hold.seconds(), 10);
    assert_eq!(
        t.keepalive,
        Duration::from_secs(10) / 3,
        "keepalive derived as hold/3"
    );
    assert!(s.config.peers["doc-example-dual-stack-ipv4"].is_ibgp());
    // Three peers dial 10.0.20.1 in the default VRF: with no Node loaded, that is a warning.
    let w = &report(&s, "BGPPeer", "doc-example-peer-bfd").warnings;
    assert!(
        w.iter()
            .any(|w| w.field == "spec.peerAddress"
                && w.reason.contains("no Node objects are loaded")),
        "{w:?}"
    );
    // On a node, only the first peer by name is used for 10.0.20.1.
    let labels = s.node_labels("compute-1.example.com");
    let names: Vec<&str> = s
        .peers_for_node(&labels)
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["doc-example-dual-stack-ipv4", "doc-example-dual-stack-ipv6"]
    );
}

#[test]
fn seed_06_aggregation_and_communities() {
    let s = seed("06-advertisement-advanced.yaml");
    let a2 = &s.config.bgp_advertisements["bgpadvertisement-adv-2"];
    assert_eq!((a2.aggregation_length, a2.aggregation_length_v6), (30, 124));
    assert_eq!(a2.local_pref, None);
    assert_eq!(
        a2.communities
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>(),
        ["8000:800"]
    );
    let a1 = &s.config.bgp_advertisements["bgpadvertisement-adv-1"];
    assert_eq!((a1.aggregation_length, a1.aggregation_length_v6), (32, 128));
    assert!(!s.config.pools["doc-example-bgp-adv"].auto_assign);
}

#[test]
fn seed_07_and_11_read_node_selector_alias() {
    let s = seed("07-advertisement-node-subset.yaml");
    let adv = &s.config.bgp_advertisements["example"];
    let node_a = s.node_labels("NodeA");
    let node_c = s.node_labels("NodeC");
    assert!(adv.node_selector.matches(&node_a));
    assert!(!adv.node_selector.matches(&node_c));
    assert!(report(&s, "BGPAdvertisement", "example")
        .warnings
        .iter()
        .any(|w| w.field == "spec.nodeSelector"));
    let s = seed("11-egress-service.yaml");
    let es = &s.config.egress_services[&(
        "example-namespace".to_string(),
        "example-service".to_string(),
    )];
    assert_eq!(es.source_ip_by, SourceIpBy::LoadBalancerIp);
    assert!(report(&s, "EgressService", "example-service")
        .warnings
        .is_empty());
    let other = report(&s, "EgressService", "test-egress-service");
    assert!(other.is_valid());
    assert!(other.warnings.iter().any(|w| w
        .reason
        .contains("no Service test-namespace/test-egress-service")));
}

#[test]
fn seed_10_nncp_is_typed() {
    let s = seed("10-nncp-vrf-symmetric-routing.yaml");
    let p = &s.config.network_policies["vrfpolicy"];
    let vrf_node = [("vrf".to_string(), "true".to_string())]
        .into_iter()
        .collect();
    assert!(p.node_selector.matches(&vrf_node));
    assert!(!p.node_selector.matches(&Default::default()));
}

#[test]
fn valid_peer_next_to_invalid_peer_stays_valid() {
    let yaml = format!(
        "{}{}",
        peer("bad", &peer_ok("holdTime: 9s\nkeepaliveTime: 30s")),
        peer(
            "good",
            "myASN: 64500\npeerASN: 64501\npeerAddress: 192.0.2.2"
        )
    );
    let s = snapshot(&yaml);
    assert!(!report(&s, "BGPPeer", "bad").is_valid());
    assert!(report(&s, "BGPPeer", "good").is_valid());
    assert!(s.config.peers.contains_key("good") && !s.config.peers.contains_key("bad"));
    assert_eq!(
        report(&s, "BGPPeer", "bad").lines(),
        ["BGPPeer metallb-system/bad: spec.keepaliveTime: 30s must not exceed spec.holdTime (9s)"]
    );
}

#[test]
fn first_pool_keeps_working_when_a_later_one_overlaps() {
    let yaml = format!(
        "{}{}{}",
        pool("a", &["192.0.2.0/24"]),
        pool("b", &["192.0.2.128/25"]),
        bgp_adv("adv", "ipAddressPools: [a, b]")
    );
    let s = snapshot(&yaml);
    assert!(report(&s, "IPAddressPool", "a").is_valid());
    assert!(!report(&s, "IPAddressPool", "b").is_valid());
    let adv = report(&s, "BGPAdvertisement", "adv");
    assert!(
        adv.is_valid(),
        "an advertisement naming an invalid pool is still valid"
    );
    assert!(adv
        .warnings
        .iter()
        .any(|w| w.field == "spec.ipAddressPools[1]" && w.reason.contains("invalid")));
    assert_eq!(
        s.config.bgp_advertisements["adv"]
            .pools
            .iter()
            .collect::<Vec<_>>(),
        ["a"]
    );
}

#[test]
fn invalid_advertisement_does_not_touch_its_pool() {
    let yaml = format!(
        "{}{}",
        pool("p", &["203.0.113.0/28"]),
        bgp_adv("adv", "aggregationLength: 8")
    );
    let s = snapshot(&yaml);
    assert!(report(&s, "IPAddressPool", "p").is_valid());
    assert!(!report(&s, "BGPAdvertisement", "adv").is_valid());
    assert!(s.config.pools.contains_key("p"));
}

#[test]
fn peers_with_disjoint_node_selectors_do_not_conflict() {
    let nodes = format!(
        "{}{}",
        node("n1", &[("rack", "r1")]),
        node("n2", &[("rack", "r2")])
    );
    let yaml = format!(
        "{nodes}{}{}",
        peer("a", &peer_ok("routerID: 192.0.2.10\nnodeSelectors:\n- matchLabels: {rack: r1}")),
        peer("b", "myASN: 64999\npeerASN: 64501\npeerAddress: 192.0.2.1\nrouterID: 192.0.2.11\nnodeSelectors:\n- matchLabels: {rack: r2}")
    );
    let s = snapshot(&yaml);
    assert!(s.is_valid(), "{:#?}", s.reports);
    assert_eq!(s.peers_for_node(&s.node_labels("n1")).len(), 1);
    assert_eq!(s.peers_for_node(&s.node_labels("n2"))[0].name, "b");
}

#[test]
fn peers_in_different_vrfs_may_use_different_asns_and_the_same_address() {
    let yaml = format!(
        "{}{}{}",
        node("n1", &[]),
        peer("a", &peer_ok("")),
        peer(
            "b",
            "myASN: 65000\npeerASN: 64501\npeerAddress: 192.0.2.1\nvrf: red"
        )
    );
    let s = snapshot(&yaml);
    assert!(s.is_valid(), "{:#?}", s.reports);
}

#[test]
fn local_pref_may_differ_when_aggregation_peers_or_nodes_differ() {
    let p = pool("p", &["203.0.113.0/28"]);
    let n = format!(
        "{}{}",
        node("n1", &[("zone", "a")]),
        node("n2", &[("zone", "b")])
    );
    for (a, b) in [
        ("localPref: 100", "localPref: 200\naggregationLength: 30"),
        ("localPref: 100\npeers: [x]", "localPref: 200\npeers: [y]"),
        (
            "localPref: 100\nnodeSelectors:\n- matchLabels: {zone: a}",
            "localPref: 200\nnodeSelectors:\n- matchLabels: {zone: b}",
        ),
        (
            "localPref: 100",
            "localPref: 200\nserviceSelectors:\n- matchLabels: {app: x}",
        ),
    ] {
        let s = snapshot(&format!("{n}{p}{}{}", bgp_adv("a", a), bgp_adv("b", b)));
        let r = report(&s, "BGPAdvertisement", "b");
        assert!(r.is_valid(), "{a:?} vs {b:?}: {:#?}", r.errors);
    }
}

#[test]
fn community_aliases_resolve_and_transient_errors_clear() {
    let comm = metallb(
        "metallb.io/v1beta1",
        "Community",
        "c",
        "communities:\n- {name: gold, value: \"large:64500:1:2\"}",
    );
    let adv = format!(
        "{}{}",
        pool("p", &["203.0.113.0/28"]),
        bgp_adv("a", "communities: [gold, no-export]")
    );
    let without = snapshot(&adv);
    let r = report(&without, "BGPAdvertisement", "a");
    assert!(r.only_transient_errors());
    let with = snapshot(&format!("{comm}{adv}"));
    let a = &with.config.bgp_advertisements["a"];
    assert!(a.communities.contains(&Community::Large(64500, 1, 2)));
    assert!(a.communities.contains(&Community::Standard(0xFFFF_FF01)));
}

#[test]
fn password_secret_resolves() {
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bgp-pass\n  namespace: metallb-system\ntype: kubernetes.io/basic-auth\ndata:\n  password: czNjcmV0\n---\n";
    let s = snapshot(&format!(
        "{secret}{}",
        peer(
            "p",
            &peer_ok("passwordSecret:\n  name: bgp-pass\n  namespace: metallb-system")
        )
    ));
    let pw = s.config.peers["p"].password.as_ref().expect("password");
    assert_eq!(pw.as_str(), "s3cret");
    assert!(
        !format!("{pw:?}").contains("s3cret"),
        "Debug must not print the password"
    );
}

#[test]
fn v1beta1_peer_converts() {
    let yaml = "apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata:\n  name: old\n  namespace: metallb-system\nspec:\n  myASN: 64500\n  peerASN: 64501\n  peerAddress: 2001:db8::1\n  keepaliveTime: 5s\n  nodeSelectors:\n  - matchExpressions:\n    - {key: zone, operator: In, values: [a]}\n";
    let s = snapshot(yaml);
    let p = &s.config.peers["old"];
    assert_eq!(
        p.target,
        PeerTarget::Address("2001:db8::1".parse::<IpAddr>().unwrap())
    );
    let t = p.timers.expect("timers");
    assert_eq!(
        (t.hold.seconds(), t.keepalive),
        (15, Duration::from_secs(5))
    );
    let zone_a = [("zone".to_string(), "a".to_string())]
        .into_iter()
        .collect();
    assert!(p.node_selector.matches(&zone_a));
}

#[test]
fn unknown_fields_are_warnings_not_silent() {
    let s = snapshot(&peer("p", &peer_ok("holdtime: 9s")));
    let r = report(&s, "BGPPeer", "p");
    assert!(r.is_valid());
    assert_eq!(r.warnings[0].field, "spec.holdtime");
    assert_eq!(r.warnings[0].reason, "unknown field, ignored");
}

#[test]
fn metallb_objects_without_namespace_default_to_metallb_namespace() {
    let s = snapshot("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: {addresses: [192.0.2.0/28]}\n");
    let r = report(&s, "IPAddressPool", "p");
    assert_eq!(r.key.namespace.as_deref(), Some("metallb-system"));
    assert!(r.is_valid());
}

#[test]
fn documents_without_kind_or_name_are_named_by_their_place() {
    let loaded = metalroute_crds::loader::load_str(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n- just\n- a list\n",
        Some(std::path::Path::new("cfg.yaml")),
        &ReadOptions::default(),
    );
    let s = Snapshot::from_objects(loaded.objects, &ReadOptions::default());
    assert!(!s.is_valid());
    assert_eq!(
        s.reports[1].lines(),
        ["object at cfg.yaml document 1: document is not a mapping (expected a Kubernetes object)"]
    );
}

#[test]
fn snapshot_from_json_values() {
    let values = vec![
        serde_json::json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
            "metadata": {"name": "p", "namespace": "metallb-system"}, "spec": {"addresses": ["192.0.2.0/28"]}}),
        serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}),
    ];
    let s = Snapshot::from_values(values, &ReadOptions::default());
    assert!(s.is_valid());
    assert!(s.config.pools.contains_key("p"));
    assert_eq!(s.nodes.len(), 1);
}

#[test]
fn warnings_for_references_that_will_not_take_effect() {
    let yaml = format!(
        "{}{}{}apiVersion: v1\nkind: Service\nmetadata: {{name: s, namespace: web}}\nspec: {{type: ClusterIP}}\nstatus:\n  loadBalancer:\n    ingress:\n    - ip: 192.0.2.5\n",
        pool("p", &["192.0.2.0/28"]),
        peer("broken", "myASN: 0\npeerASN: 1\npeerAddress: 192.0.2.1"),
        bgp_adv("a", "peers: [broken, ghost]"),
    );
    let s = snapshot(&yaml);
    let adv = report(&s, "BGPAdvertisement", "a");
    assert!(adv.is_valid());
    let w: Vec<(&str, &str)> = adv
        .warnings
        .iter()
        .map(|w| (w.field.as_str(), w.reason.as_str()))
        .collect();
    assert_eq!(
        w,
        [
            (
                "spec.peers[0]",
                "BGPPeer broken is invalid; nothing is announced to it"
            ),
            ("spec.peers[1]", "BGPPeer ghost does not exist"),
        ]
    );
    let svc = report(&s, "Service", "s");
    assert!(svc.is_valid());
    assert_eq!(svc.warnings[0].field, "spec.type");
}

#[test]
fn yaml11_booleans_read_as_kubernetes_reads_them() {
    let s = snapshot(&format!(
        "{}{}",
        metallb(
            "metallb.io/v1beta1",
            "BFDProfile",
            "b",
            "echoMode: yes\npassiveMode: off"
        ),
        metallb(
            "metallb.io/v1beta1",
            "IPAddressPool",
            "p",
            "addresses: [192.0.2.0/28]\nautoAssign: \"maybe\""
        ),
    ));
    let b = &s.config.bfd_profiles["b"];
    assert!(b.echo_mode && !b.passive_mode);
    let w = &report(&s, "BFDProfile", "b").warnings;
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(w[0].field, "spec.echoMode");
    assert_eq!(
        w[0].reason,
        "\"yes\" read as true (a YAML 1.1 boolean, as Kubernetes reads it)"
    );
    let p = report(&s, "IPAddressPool", "p");
    assert_eq!(p.errors[0].field, "spec.autoAssign");
    assert!(p.errors[0].reason.contains("expected a boolean"));
}
