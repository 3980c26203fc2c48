//! The planner on the seed scenarios (shared/examples/seeds, embedded here verbatim where the
//! seed is used as written) and on the repository's `examples/`, completed with EndpointSlices and
//! Nodes so the MetalLB announce rules have something to decide on.

use ipnet::IpNet;
use metalroute_agent::planner::{
    plan, Advertisement, BgpDecision, HeldReason, NodePlan, SessionType, Vrf, WithheldReason,
};
use metalroute_crds::loader::{load_paths, load_str};
use metalroute_crds::object::ReadOptions;
use metalroute_crds::snapshot::Snapshot;
use metalroute_crds::values::Community;
use std::collections::BTreeSet;
use std::path::PathBuf;

// ---------------------------------------------------------------- helpers

fn snapshot(docs: &[&str]) -> Snapshot {
    let opts = ReadOptions::default();
    let text = docs.join("\n---\n");
    let loaded = load_str(&text, None, &opts);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    Snapshot::from_objects(loaded.objects, &opts)
}

fn example(dir: &str, extra: &[&str]) -> Snapshot {
    let opts = ReadOptions::default();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(dir);
    let mut loaded = load_paths(&[path], &opts);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let more = load_str(&extra.join("\n---\n"), None, &opts);
    assert!(more.errors.is_empty(), "{:?}", more.errors);
    loaded.objects.extend(more.objects);
    Snapshot::from_objects(loaded.objects, &opts)
}

fn service(ns: &str, name: &str, ips: &[&str], etp: &str, extra_meta: &str) -> String {
    let ingress: String = ips.iter().map(|ip| format!("\n      - ip: {ip}")).collect();
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: {ns}\n  name: {name}\n{extra_meta}spec:\n  type: LoadBalancer\n  externalTrafficPolicy: {etp}\n  ports:\n    - port: 80\nstatus:\n  loadBalancer:\n    ingress:{ingress}\n"
    )
}

/// An EndpointSlice for a Service; each endpoint is (address, node, ready).
fn slice(ns: &str, svc: &str, eps: &[(&str, &str, bool)]) -> String {
    let mut s = format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  namespace: {ns}\n  name: {svc}-abc\n  labels:\n    kubernetes.io/service-name: {svc}\naddressType: IPv4\nendpoints:\n"
    );
    for (addr, node, ready) in eps {
        s.push_str(&format!(
            "  - addresses: [\"{addr}\"]\n    nodeName: {node}\n    conditions:\n      ready: {ready}\n"
        ));
    }
    if eps.is_empty() {
        s = s.replace("endpoints:\n", "endpoints: []\n");
    }
    s
}

fn node(name: &str, labels: &[(&str, &str)]) -> String {
    let mut s = format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}\n");
    for (k, v) in labels {
        s.push_str(&format!("    {k}: \"{v}\"\n"));
    }
    s
}

/// The seed without its documents of `kind` (to replace a Service by one carrying its IP).
fn without_kind(seed: &str, kind: &str) -> String {
    seed.split("\n---\n")
        .filter(|d| !d.contains(&format!("kind: {kind}\n")))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn prefixes(p: &NodePlan, peer: &str) -> Vec<String> {
    p.session(peer)
        .unwrap_or_else(|| panic!("session {peer} in {p}"))
        .advertisements
        .keys()
        .map(ToString::to_string)
        .collect()
}

fn adv<'a>(p: &'a NodePlan, peer: &str, prefix: &str) -> &'a Advertisement {
    p.session(peer)
        .unwrap_or_else(|| panic!("session {peer}"))
        .advertisements
        .get(&net(prefix))
        .unwrap_or_else(|| panic!("{prefix} to {peer} in\n{p}"))
}

fn communities(list: &[&str]) -> BTreeSet<Community> {
    list.iter().map(|c| Community::parse(c).unwrap()).collect()
}

fn reason(p: &NodePlan, ns: &str, name: &str) -> Option<WithheldReason> {
    p.services
        .iter()
        .find(|(k, _)| k.namespace == ns && k.name == name)
        .unwrap_or_else(|| panic!("service {ns}/{name} in\n{p}"))
        .1
        .bgp
        .reason()
}

// ---------------------------------------------------------------- seeds, verbatim

const SEED_02: &str = include_str!("plan_seeds/02-pools-peers-per-pool.yaml");
const SEED_03: &str = include_str!("plan_seeds/03-service-via-vrf.yaml");
const SEED_06: &str = include_str!("plan_seeds/06-advertisement-advanced.yaml");
const SEED_07: &str = include_str!("plan_seeds/07-advertisement-node-subset.yaml");
const SEED_10: &str = include_str!("plan_seeds/10-nncp-vrf-symmetric-routing.yaml");
const SEED_11: &str = include_str!("plan_seeds/11-egress-service.yaml");

const IBGP_AND_EBGP_PEERS: &str = "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  namespace: metallb-system
  name: ebgp
spec:
  peerAddress: 192.0.2.2
  peerASN: 64501
  myASN: 64500
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  namespace: metallb-system
  name: ibgp
spec:
  peerAddress: 192.0.2.1
  peerASN: 64500
  myASN: 64500";

// ---------------------------------------------------------------- seed 003 advanced advertisement

#[test]
fn seed_06_advanced_advertisement_two_prefixes_with_their_attributes() {
    let a = service("default", "a", &["203.0.113.200"], "Cluster", "");
    let b = service("default", "b", &["203.0.113.201"], "Cluster", "");
    let ea = slice("default", "a", &[("10.128.0.5", "n1", true)]);
    let eb = slice("default", "b", &[("10.128.0.6", "n2", true)]);
    let s = snapshot(&[SEED_06, IBGP_AND_EBGP_PEERS, &a, &b, &ea, &eb]);
    assert!(s.is_valid(), "{:?}", s.invalid().collect::<Vec<_>>());
    let p = plan(&s, "n1");

    // iBGP peer: the /32 with localPref 100 and NO_ADVERTISE, the /30 with 8000:800.
    assert_eq!(
        prefixes(&p, "ibgp"),
        ["203.0.113.200/30", "203.0.113.200/32", "203.0.113.201/32"]
    );
    let host = adv(&p, "ibgp", "203.0.113.200/32");
    assert_eq!(host.attributes.local_pref, Some(100));
    assert_eq!(host.attributes.communities, communities(&["65535:65282"]));
    let agg = adv(&p, "ibgp", "203.0.113.200/30");
    assert_eq!(agg.attributes.local_pref, None);
    assert_eq!(agg.attributes.communities, communities(&["8000:800"]));
    // Deduplicated: one /30 for both services.
    assert_eq!(agg.services.len(), 2);
    assert_eq!(agg.via, ["bgpadvertisement-adv-2".to_string()]);

    // eBGP peer: same prefixes and communities, never localPref.
    assert_eq!(
        p.session("ebgp").unwrap().params.session_type(),
        SessionType::Ebgp
    );
    assert_eq!(
        p.session("ibgp").unwrap().params.session_type(),
        SessionType::Ibgp
    );
    let host = adv(&p, "ebgp", "203.0.113.200/32");
    assert_eq!(host.attributes.local_pref, None);
    assert_eq!(host.attributes.communities, communities(&["65535:65282"]));
    assert_eq!(
        adv(&p, "ebgp", "203.0.113.200/30").attributes.local_pref,
        None
    );
}

#[test]
fn aggregate_stays_while_one_service_still_qualifies() {
    let a = service("default", "a", &["203.0.113.200"], "Cluster", "");
    let b = service("default", "b", &["203.0.113.201"], "Cluster", "");
    let ea_up = slice("default", "a", &[("10.128.0.5", "n1", true)]);
    let ea_down = slice("default", "a", &[("10.128.0.5", "n1", false)]);
    let eb_up = slice("default", "b", &[("10.128.0.6", "n1", true)]);
    let eb_down = slice("default", "b", &[]);

    // (endpoints of a, endpoints of b, expected prefixes, services behind the /30)
    let rows: [(&str, &str, &[&str], &[&str]); 4] = [
        (
            &ea_up,
            &eb_up,
            &["203.0.113.200/30", "203.0.113.200/32", "203.0.113.201/32"],
            &["a", "b"],
        ),
        (
            &ea_down,
            &eb_up,
            &["203.0.113.200/30", "203.0.113.201/32"],
            &["b"],
        ),
        (
            &ea_up,
            &eb_down,
            &["203.0.113.200/30", "203.0.113.200/32"],
            &["a"],
        ),
        (&ea_down, &eb_down, &[], &[]),
    ];
    for (ea, eb, want, behind) in rows {
        let s = snapshot(&[SEED_06, IBGP_AND_EBGP_PEERS, &a, &b, ea, eb]);
        let p = plan(&s, "n1");
        assert_eq!(prefixes(&p, "ibgp"), want, "{p}");
        if !behind.is_empty() {
            let names: Vec<&str> = adv(&p, "ibgp", "203.0.113.200/30")
                .services
                .iter()
                .map(|k| k.name.as_str())
                .collect();
            assert_eq!(names, behind);
        }
    }
}

#[test]
fn example_advanced_advertisement_as_shipped() {
    // The example's EndpointSlices: web (Cluster) runs on worker-0, api (Local) on worker-1.
    let s = example("advanced-advertisement", &[]);
    assert!(s.is_valid());
    let p = plan(&s, "worker-0");
    let host = adv(&p, "ibgp-router", "203.0.113.200/32");
    assert_eq!(host.attributes.local_pref, Some(100));
    assert_eq!(host.attributes.communities, communities(&["65535:65282"]));
    let agg = adv(&p, "ibgp-router", "203.0.113.200/30");
    assert_eq!(agg.attributes.communities, communities(&["8000:800"]));
    // On worker-0 only web keeps the aggregate; api has no local endpoint there.
    assert_eq!(agg.services.len(), 1);
    assert_eq!(
        reason(&p, "default", "api"),
        Some(WithheldReason::NoLocalEndpoints)
    );
    assert_eq!(
        prefixes(&p, "ibgp-router"),
        ["203.0.113.200/30", "203.0.113.200/32"]
    );
    let p = plan(&s, "worker-1");
    assert_eq!(
        prefixes(&p, "ibgp-router"),
        ["203.0.113.200/30", "203.0.113.200/32", "203.0.113.201/32"]
    );
    assert_eq!(adv(&p, "ibgp-router", "203.0.113.200/30").services.len(), 2);
    // Without its EndpointSlices nothing qualifies: noEndpoints.
    let opts = ReadOptions::default();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/advanced-advertisement");
    let loaded = load_paths(&[dir.join("config.yaml"), dir.join("cluster.yaml")], &opts);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let bare = Snapshot::from_objects(loaded.objects, &opts);
    let p = plan(&bare, "worker-1");
    assert_eq!(
        reason(&p, "default", "web"),
        Some(WithheldReason::NoEndpoints)
    );
    assert!(prefixes(&p, "ibgp-router").is_empty());
}

// ---------------------------------------------------------------- seed 02 per-pool peers, dual stack

#[test]
fn seed_02_each_pool_only_to_its_peer() {
    let s1 = service("default", "s1", &["4.4.4.100"], "Cluster", "");
    let s2 = service("default", "s2", &["5.5.5.100"], "Cluster", "");
    let s3 = service("default", "s3", &["2001:100:4::200"], "Cluster", "");
    let e: Vec<String> = ["s1", "s2", "s3"]
        .iter()
        .map(|n| slice("default", n, &[("10.128.0.9", "other", true)]))
        .collect();
    let s = snapshot(&[SEED_02, &s1, &s2, &s3, &e[0], &e[1], &e[2]]);
    assert!(s.is_valid());
    let p = plan(&s, "n1");
    // IPv4 sessions: the IPv6 service IP is not sent.
    assert_eq!(prefixes(&p, "peer1"), ["4.4.4.100/32"]);
    assert_eq!(prefixes(&p, "peer2"), ["5.5.5.100/32"]);
    let a = adv(&p, "peer1", "4.4.4.100/32");
    assert_eq!(a.attributes.communities, communities(&["65535:65282"]));
    // eBGP peers: the localPref 100 of the advertisement is not sent.
    assert_eq!(a.attributes.local_pref, None);
    assert!(p
        .announced_ips()
        .contains_key(&"2001:100:4::200".parse().unwrap()));

    // dualStackAddressFamily on peer1: the IPv6 /128 goes over the same session.
    let dual = SEED_02.replacen(
        "  routerID: 10.10.10.10\n",
        "  routerID: 10.10.10.10\n  dualStackAddressFamily: true\n",
        1,
    );
    let s = snapshot(&[&dual, &s1, &s2, &s3, &e[0], &e[1], &e[2]]);
    let p = plan(&s, "n1");
    assert!(p.session("peer1").unwrap().params.families.ipv6);
    assert_eq!(
        prefixes(&p, "peer1"),
        ["4.4.4.100/32", "2001:100:4::200/128"]
    );
    assert_eq!(prefixes(&p, "peer2"), ["5.5.5.100/32"]);
}

#[test]
fn ipv6_peer_gets_only_ipv6_and_interface_peer_gets_both() {
    let peers = "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  namespace: metallb-system
  name: v6
spec:
  peerAddress: 2001:db8::1
  peerASN: 64501
  myASN: 64500
  routerID: 10.10.10.10
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  namespace: metallb-system
  name: unnumbered
spec:
  interface: eth1
  peerASN: 64501
  myASN: 64500
  routerID: 10.10.10.10
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  namespace: metallb-system
  name: v4mp
spec:
  peerAddress: 192.0.2.7
  peerASN: 64501
  myASN: 64500
  routerID: 10.10.10.10
  disableMP: true";
    let svc = service(
        "default",
        "ds",
        &["4.4.4.100", "2001:100:4::200"],
        "Cluster",
        "",
    );
    let e = slice("default", "ds", &[("10.128.0.9", "n1", true)]);
    let s = snapshot(&[SEED_02, peers, &svc, &e]);
    let p = plan(&s, "n1");
    // The seed's advertisements name peer1/peer2 only; none of these gets anything from them.
    assert!(prefixes(&p, "v6").is_empty());
    // An advertisement without peers reaches all of them, by family.
    let open = "apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  namespace: metallb-system
  name: all-peers
spec:
  ipAddressPools: [pool1]
  localPref: 100
  communities: [\"65535:65282\"]
  aggregationLength: 32
  aggregationLengthV6: 128";
    let s = snapshot(&[SEED_02, peers, open, &svc, &e]);
    assert!(s.is_valid(), "{:?}", s.invalid().collect::<Vec<_>>());
    let p = plan(&s, "n1");
    assert_eq!(prefixes(&p, "v6"), ["2001:100:4::200/128"]);
    assert_eq!(
        prefixes(&p, "unnumbered"),
        ["4.4.4.100/32", "2001:100:4::200/128"]
    );
    // disableMP has no effect: an IPv4 session carries IPv4 only.
    assert_eq!(prefixes(&p, "v4mp"), ["4.4.4.100/32"]);
    assert_eq!(prefixes(&p, "peer1"), ["4.4.4.100/32"]);
}

// ---------------------------------------------------------------- seed 07 node subset

#[test]
fn seed_07_node_subset() {
    let peer = "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  namespace: metallb-system
  name: tor
spec:
  peerAddress: 192.0.2.1
  peerASN: 64501
  myASN: 64500";
    let svc = service("default", "web", &["4.4.4.100"], "Cluster", "");
    let e = slice("default", "web", &[("10.128.0.9", "NodeC", true)]);
    let nodes = [node("NodeA", &[]), node("NodeB", &[]), node("NodeC", &[])];
    let s = snapshot(&[SEED_07, peer, &svc, &e, &nodes[0], &nodes[1], &nodes[2]]);
    for (n, announced) in [("NodeA", true), ("NodeB", true), ("NodeC", false)] {
        let p = plan(&s, n);
        if announced {
            assert_eq!(prefixes(&p, "tor"), ["4.4.4.100/32"], "{n}");
            assert!(reason(&p, "default", "web").is_none());
        } else {
            assert!(prefixes(&p, "tor").is_empty());
            assert_eq!(reason(&p, "default", "web"), Some(WithheldReason::NotOwner));
        }
    }
    // The repository's example: Node names differ from their hostname labels.
    // Its only endpoint runs on nodec (examples/node-subset/endpoints.yaml).
    let ex = example("node-subset", &[]);
    assert_eq!(reason(&plan(&ex, "nodea"), "default", "web"), None);
    assert_eq!(
        reason(&plan(&ex, "nodec"), "default", "web"),
        Some(WithheldReason::NotOwner)
    );
}

// ---------------------------------------------------------------- seeds 03 + 10: VRF, NNCP, egress

#[test]
fn seeds_03_and_10_vrf_sessions_network_state_and_egress() {
    let default_peer = "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  namespace: metallb-system
  name: tor
spec:
  peerAddress: 192.0.2.1
  peerASN: 200
  myASN: 100";
    let svc = "apiVersion: v1
kind: Service
metadata:
  name: server1
  namespace: test
spec:
  type: LoadBalancer
  selector: {app: server}
  ports: [{port: 30100}]
status:
  loadBalancer:
    ingress: [{ip: 192.169.10.0}]";
    let e = slice("test", "server1", &[("10.128.0.9", "worker-0", true)]);
    let egress_node = node(
        "worker-0",
        &[
            ("vrf", "true"),
            ("egress-service.k8s.ovn.org/test-server1", ""),
        ],
    );
    let other = node("worker-1", &[("vrf", "true")]);
    let plain = node("worker-2", &[]);
    let seed_03 = without_kind(SEED_03, "Service");
    let s = snapshot(&[
        &seed_03,
        SEED_10,
        default_peer,
        svc,
        &e,
        &egress_node,
        &other,
        &plain,
    ]);
    let errors: Vec<_> = s.invalid().collect();
    assert!(errors.is_empty(), "{errors:?}");

    let p = plan(&s, "worker-0");
    // Two VRFs: the default one (tor) and ens4vrf (frrviavrf).
    assert_eq!(
        p.vrfs.keys().cloned().collect::<Vec<_>>(),
        [Vrf::Default, Vrf::Named("ens4vrf".into())]
    );
    let vrf_session = p.session("frrviavrf").unwrap();
    assert_eq!(vrf_session.params.vrf, Vrf::Named("ens4vrf".into()));
    assert_eq!(prefixes(&p, "frrviavrf"), ["192.169.10.0/32"]);
    // Both advertisements name only frrviavrf.
    assert!(prefixes(&p, "tor").is_empty());
    assert_eq!(
        adv(&p, "frrviavrf", "192.169.10.0/32").via,
        ["first-adv".to_string(), "first-adv-egress".to_string()]
    );
    // The NNCP selects nodes labelled vrf=true.
    assert_eq!(p.network.policies, ["vrfpolicy"]);
    assert!(p.network.desired.has_vrf());
    assert_eq!(p.network.desired.route_rules.len(), 3);
    assert!(p.network.conflicts.is_empty());
    // Egress: eligible and selected (carries the OVN-Kubernetes host label).
    let eg = &p.egress.values().next().unwrap();
    assert!(eg.eligible && eg.selected && eg.service_found);
    assert_eq!(eg.network.as_deref(), Some("2"));

    let p1 = plan(&s, "worker-1");
    let eg = p1.egress.values().next().unwrap();
    assert!(eg.eligible && !eg.selected);
    assert_eq!(p1.network.policies, ["vrfpolicy"]);

    let p2 = plan(&s, "worker-2");
    assert!(p2.network.policies.is_empty());
    assert!(!p2.egress.values().next().unwrap().eligible);
}

#[test]
fn seed_11_only_the_egress_node_announces() {
    let svc = "apiVersion: v1
kind: Service
metadata:
  name: example-service
  namespace: example-namespace
  annotations:
    metallb.universe.tf/address-pool: example-pool
spec:
  selector: {app: example}
  ports: [{name: http, protocol: TCP, port: 8080, targetPort: 8080}]
  type: LoadBalancer
status:
  loadBalancer:
    ingress: [{ip: 172.19.0.100}]";
    // The seed's own Service has no status; replace it with the one carrying its IP.
    let seed = without_kind(SEED_11, "Service");
    let peer = "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  namespace: metallb-system
  name: tor
spec:
  peerAddress: 192.0.2.1
  peerASN: 64501
  myASN: 64500";
    let e = slice(
        "example-namespace",
        "example-service",
        &[("10.128.0.9", "w2", true)],
    );
    let w1 = node(
        "w1",
        &[
            ("node-role.kubernetes.io/worker", ""),
            (
                "egress-service.k8s.ovn.org/example-namespace-example-service",
                "",
            ),
        ],
    );
    let w2 = node("w2", &[("node-role.kubernetes.io/worker", "")]);
    let s = snapshot(&[&seed, svc, peer, &e, &w1, &w2]);
    let p1 = plan(&s, "w1");
    assert_eq!(prefixes(&p1, "tor"), ["172.19.0.100/32"]);
    let eg = p1.egress.values().find(|e| e.service_found).unwrap();
    assert!(eg.eligible && eg.selected);
    assert_eq!(
        eg.lb_ips,
        ["172.19.0.100".parse::<std::net::IpAddr>().unwrap()]
    );
    let p2 = plan(&s, "w2");
    assert_eq!(
        reason(&p2, "example-namespace", "example-service"),
        Some(WithheldReason::NotOwner)
    );
}

// ---------------------------------------------------------------- every example plans cleanly

/// The BGP sessions (peer name) and announced prefixes of each example's nodes, as
/// examples/README.md documents them.
fn documented_announcements(dir: &str, node: &str) -> Vec<(&'static str, Vec<&'static str>)> {
    match (dir, node) {
        ("advanced-advertisement", "worker-0") => {
            vec![("ibgp-router", vec!["203.0.113.200/30", "203.0.113.200/32"])]
        }
        ("advanced-advertisement", "worker-1") => vec![(
            "ibgp-router",
            vec!["203.0.113.200/30", "203.0.113.200/32", "203.0.113.201/32"],
        )],
        ("bgp-basic", "worker-0") => vec![(
            "doc-example-peer",
            vec!["203.0.113.200/32", "fc00:f853:ccd:e799::1/128"],
        )],
        ("egress-service", "worker-0") => vec![("tor", vec![])],
        ("egress-service", "worker-1") => vec![("tor", vec!["172.19.0.100/32"])],
        ("l2", "worker-0") => vec![],
        ("node-subset", "nodea" | "nodeb") => vec![("tor", vec!["4.4.4.100/32"])],
        ("node-subset", "nodec") => vec![("tor", vec![])],
        ("per-pool-peers", "worker-0") => vec![
            ("peer1", vec!["4.4.4.100/32"]),
            ("peer2", vec!["5.5.5.100/32"]),
        ],
        ("vrf", "worker-0") => vec![("frrviavrf", vec!["192.169.10.0/32"])],
        other => panic!("no documented announcements for {other:?}"),
    }
}

#[test]
fn every_example_is_valid_plans_deterministically_and_announces_as_documented() {
    for dir in [
        "advanced-advertisement",
        "bgp-basic",
        "egress-service",
        "l2",
        "node-subset",
        "per-pool-peers",
        "vrf",
    ] {
        let s = example(dir, &[]);
        let bad: Vec<_> = s.invalid().collect();
        assert!(bad.is_empty(), "{dir}: {bad:?}");
        for n in s.nodes.iter().filter_map(|n| n.metadata.name.clone()) {
            let a = plan(&s, &n);
            let b = plan(&s, &n);
            assert_eq!(a, b, "{dir} {n}");
            assert_eq!(a.to_json(), b.to_json());
            // What examples/README.md says each node announces, per peer.
            let announced: Vec<(String, Vec<String>)> = a
                .sessions()
                .map(|(_, sp)| {
                    let prefixes = sp.advertisements.keys().map(ToString::to_string).collect();
                    (sp.params.peer.clone(), prefixes)
                })
                .collect();
            let want: Vec<(String, Vec<String>)> = documented_announcements(dir, &n)
                .iter()
                .map(|(peer, ps)| (peer.to_string(), ps.iter().map(|p| p.to_string()).collect()))
                .collect();
            assert_eq!(announced, want, "{dir} node {n}:\n{a}");
            // A Service is announced exactly when some session carries its IP.
            assert!(
                a.services
                    .values()
                    .any(|sp| matches!(sp.bgp, BgpDecision::Announce { .. }))
                    == want.iter().any(|(_, ps)| !ps.is_empty()),
                "{dir} {n}"
            );
            assert!(
                a.held_peers
                    .values()
                    .all(|h| h.reason != HeldReason::Pending),
                "{dir}"
            );
        }
    }
}
