//! The planner's rules, table-driven on plain YAML data: MetalLB's withheld reasons in their
//! order, endpoint semantics, shared IPs, pool checks, passwords (resolved, pending, never
//! printed), BFD profiles, peer conflicts, L2 candidacy, NNCP merging and decision changes.

use metalroute_agent::planner::{
    decision_changes, plan, BgpDecision, HeldReason, L2Decision, L2Reason, NodePlan,
    PasswordSource, WithheldReason,
};
use metalroute_crds::loader::load_str;
use metalroute_crds::object::ReadOptions;
use metalroute_crds::snapshot::Snapshot;
use std::collections::BTreeSet;

fn snapshot(docs: &[&str]) -> Snapshot {
    let opts = ReadOptions::default();
    let loaded = load_str(&docs.join("\n---\n"), None, &opts);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    Snapshot::from_objects(loaded.objects, &opts)
}

fn valid(docs: &[&str]) -> Snapshot {
    let s = snapshot(docs);
    let bad: Vec<_> = s.invalid().collect();
    assert!(bad.is_empty(), "{bad:?}");
    s
}

fn decision<'a>(p: &'a NodePlan, name: &str) -> &'a BgpDecision {
    &p.services
        .iter()
        .find(|(k, _)| k.name == name)
        .unwrap_or_else(|| panic!("service {name} in\n{p}"))
        .1
        .bgp
}

fn prefixes(p: &NodePlan, peer: &str) -> Vec<String> {
    p.session(peer)
        .map(|s| s.advertisements.keys().map(ToString::to_string).collect())
        .unwrap_or_default()
}

const POOL: &str = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: pool}
spec:
  addresses: [203.0.113.0/24]";

const PEER: &str = "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: tor}
spec:
  peerAddress: 192.0.2.1
  peerASN: 64500
  myASN: 64500";

const ADV: &str = "apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: adv}
spec:
  ipAddressPools: [pool]";

fn svc(name: &str, ips: &[&str], etp: &str, meta: &str) -> String {
    let ingress: Vec<String> = ips.iter().map(|ip| format!("{{ip: {ip}}}")).collect();
    format!(
        "apiVersion: v1
kind: Service
metadata:
  namespace: default
  name: {name}
{meta}spec:
  type: LoadBalancer
  externalTrafficPolicy: {etp}
  ports: [{{port: 80}}]
status:
  loadBalancer:
    ingress: [{}]",
        ingress.join(", ")
    )
}

/// An EndpointSlice; `eps` lines are YAML flow mappings of endpoints.
fn slice(svc: &str, eps: &[&str]) -> String {
    format!(
        "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: default
  name: {svc}-x
  labels: {{kubernetes.io/service-name: {svc}}}
addressType: IPv4
endpoints: [{}]",
        eps.join(", ")
    )
}

fn node(name: &str, extra_labels: &str, unavailable: bool) -> String {
    let status = if unavailable {
        "status:\n  conditions:\n    - {type: NetworkUnavailable, status: \"True\"}\n    - {type: Ready, status: \"True\"}\n"
    } else {
        "status:\n  conditions:\n    - {type: NetworkUnavailable, status: \"False\"}\n"
    };
    format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}\n{extra_labels}{status}"
    )
}

// ---------------------------------------------------------------- reasons in order

/// Scenario where every blocker from `level` on is present and none before it: the reported
/// reason must be the one of `level` (MetalLB checks them in this order).
fn blocked_from(level: usize) -> (Vec<String>, Option<WithheldReason>) {
    let on = |l: usize| level <= l;
    let adv_nodes = if on(1) {
        "  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: elsewhere}}]\n"
    } else {
        ""
    };
    let adv_svc = if on(2) { "nomatch" } else { "web" };
    let mut docs = vec![
        POOL.to_string(),
        PEER.to_string(),
        format!(
            "apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{namespace: metallb-system, name: adv-a}}
spec:
  ipAddressPools: [pool]
  localPref: 100
  serviceSelectors: [{{matchLabels: {{app: {adv_svc}}}}}]
{adv_nodes}"
        ),
    ];
    if on(3) {
        docs.push(format!(
            "apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{namespace: metallb-system, name: adv-b}}
spec:
  ipAddressPools: [pool]
  localPref: 200
  serviceSelectors: [{{matchLabels: {{app: {adv_svc}}}}}]
{adv_nodes}"
        ));
    }
    let exclude = if on(5) {
        "    node.kubernetes.io/exclude-from-external-load-balancers: \"\"\n"
    } else {
        ""
    };
    docs.push(node("n1", exclude, on(4)));
    let etp = if on(6) { "Local" } else { "Cluster" };
    docs.push(svc("web", &["203.0.113.10"], etp, "  labels: {app: web}\n"));
    if !on(7) {
        docs.push(slice("web", &["{addresses: [10.128.0.1], nodeName: n1}"]));
    }
    let reasons = [
        None,
        Some(WithheldReason::NotOwner),
        Some(WithheldReason::NoMatchingAdvertisement),
        Some(WithheldReason::ConflictingAdvertisements),
        Some(WithheldReason::NodeNetworkUnavailable),
        Some(WithheldReason::NodeLabeledExcludeBalancers),
        Some(WithheldReason::NoLocalEndpoints),
        Some(WithheldReason::NoEndpoints),
        None,
    ];
    (docs, reasons[level.min(8)])
}

#[test]
fn every_reason_in_metallb_order() {
    for level in 1..=8 {
        let (docs, want) = blocked_from(level);
        let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
        let s = valid(&refs);
        let p = plan(&s, "n1");
        let d = decision(&p, "web");
        assert_eq!(d.reason(), want, "level {level}: {d}\n{p}");
        assert_eq!(
            prefixes(&p, "tor").is_empty(),
            want.is_some(),
            "level {level}"
        );
        if let BgpDecision::Withhold { detail, .. } = d {
            assert!(!detail.is_empty());
        }
    }
    // The conflict names both advertisements.
    let (docs, _) = blocked_from(3);
    let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let p = plan(&valid(&refs), "n1");
    let BgpDecision::Withhold { detail, .. } = decision(&p, "web") else {
        panic!("withheld")
    };
    assert!(
        detail.contains("adv-a") && detail.contains("adv-b") && detail.contains("100 vs 200"),
        "{detail}"
    );
}

#[test]
fn conflicting_local_pref_is_compatible_when_peers_are_disjoint() {
    let (mut docs, _) = blocked_from(3);
    docs.push(
        "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: tor2}
spec: {peerAddress: 192.0.2.2, peerASN: 64500, myASN: 64500}"
            .to_string(),
    );
    let d = docs.clone();
    let fix = |s: &str, peer: &str| {
        s.replace("  localPref:", &format!("  peers: [{peer}]\n  localPref:"))
    };
    docs[2] = fix(&d[2], "tor");
    docs[3] = fix(&d[3], "tor2");
    // Remove the node blockers (levels 4 and 5) and the Local policy.
    docs[4] = node("n1", "", false);
    let i = docs
        .iter()
        .position(|d| d.contains("kind: Service"))
        .unwrap();
    docs[i] = svc(
        "web",
        &["203.0.113.10"],
        "Cluster",
        "  labels: {app: web}\n",
    );
    docs.push(slice("web", &["{addresses: [10.128.0.1], nodeName: n1}"]));
    let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let p = plan(&valid(&refs), "n1");
    assert!(decision(&p, "web").is_announced(), "{p}");
    let lp = |peer: &str| {
        p.session(peer)
            .unwrap()
            .advertisements
            .values()
            .next()
            .unwrap()
            .attributes
            .local_pref
    };
    assert_eq!(lp("tor"), Some(100));
    assert_eq!(lp("tor2"), Some(200));
}

// ---------------------------------------------------------------- endpoints

#[test]
fn endpoint_conditions_and_traffic_policy() {
    // (endpoints, ETP, expected reason on n1)
    let rows: [(&[&str], &str, Option<WithheldReason>); 11] = [
        (&["{addresses: [10.0.0.1], nodeName: n1}"], "Cluster", None),
        (&["{addresses: [10.0.0.1], nodeName: n1}"], "Local", None),
        (&["{addresses: [10.0.0.1], nodeName: n2}"], "Cluster", None),
        (&["{addresses: [10.0.0.1], nodeName: n2}"], "Local", Some(WithheldReason::NoLocalEndpoints)),
        (&["{addresses: [10.0.0.1]}"], "Local", Some(WithheldReason::NoLocalEndpoints)),
        (&["{addresses: [10.0.0.1], nodeName: n1, conditions: {ready: true}}"], "Local", None),
        (&["{addresses: [10.0.0.1], nodeName: n1, conditions: {ready: false}}"], "Local", Some(WithheldReason::NoLocalEndpoints)),
        (&["{addresses: [10.0.0.1], nodeName: n1, conditions: {ready: false}}"], "Cluster", Some(WithheldReason::NoEndpoints)),
        // Terminating but still serving counts (MetalLB's EndpointCanServe).
        (&["{addresses: [10.0.0.1], nodeName: n1, conditions: {ready: false, serving: true, terminating: true}}"], "Local", None),
        // An endpoint without an address never counts.
        (&["{addresses: [], nodeName: n1}"], "Cluster", Some(WithheldReason::NoEndpoints)),
        (&[], "Cluster", Some(WithheldReason::NoEndpoints)),
    ];
    for (eps, etp, want) in rows {
        let s = svc("web", &["203.0.113.10"], etp, "");
        let e = slice("web", eps);
        let p = plan(&valid(&[POOL, PEER, ADV, &s, &e]), "n1");
        assert_eq!(decision(&p, "web").reason(), want, "{eps:?} {etp}");
    }
    // A Service without a selector and without EndpointSlices: noEndpoints, like MetalLB.
    let s = svc("web", &["203.0.113.10"], "Cluster", "");
    let p = plan(&valid(&[POOL, PEER, ADV, &s]), "n1");
    assert_eq!(
        decision(&p, "web").reason(),
        Some(WithheldReason::NoEndpoints)
    );
    // A slice of another Service or namespace does not count.
    let other = slice("other", &["{addresses: [10.0.0.1], nodeName: n1}"]);
    let p = plan(&valid(&[POOL, PEER, ADV, &s, &other]), "n1");
    assert_eq!(
        decision(&p, "web").reason(),
        Some(WithheldReason::NoEndpoints)
    );
}

// ---------------------------------------------------------------- Service-level checks

#[test]
fn service_level_checks() {
    let pool2 = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: pool2}
spec:
  addresses: [198.51.100.0/24]";
    let ep = |n: &str| slice(n, &["{addresses: [10.0.0.1], nodeName: n1}"]);
    let no_ip = "apiVersion: v1
kind: Service
metadata: {namespace: default, name: noip}
spec: {type: LoadBalancer, ports: [{port: 80}]}";
    let cluster_ip = "apiVersion: v1
kind: Service
metadata: {namespace: default, name: cip}
spec: {type: ClusterIP, ports: [{port: 80}]}";
    let was_lb = "apiVersion: v1
kind: Service
metadata: {namespace: default, name: waslb}
spec: {type: ClusterIP, ports: [{port: 80}]}
status: {loadBalancer: {ingress: [{ip: 203.0.113.9}]}}";
    let outside = svc("outside", &["192.0.2.200"], "Cluster", "");
    let classed = svc("classed", &["203.0.113.14"], "Cluster", "").replace(
        "  type: LoadBalancer\n",
        "  type: LoadBalancer\n  loadBalancerClass: example.com/other\n",
    );
    let split = svc("split", &["203.0.113.11", "198.51.100.11"], "Cluster", "");
    let wrong_pool = svc(
        "wrongpool",
        &["203.0.113.12"],
        "Cluster",
        "  annotations: {metallb.universe.tf/address-pool: pool2}\n",
    );
    let right_pool = svc(
        "rightpool",
        &["203.0.113.13"],
        "Cluster",
        "  annotations: {metallb.io/address-pool: pool}\n",
    );
    let docs = [
        POOL,
        pool2,
        PEER,
        ADV,
        no_ip,
        cluster_ip,
        was_lb,
        &outside,
        &split,
        &wrong_pool,
        &right_pool,
        &classed,
    ];
    let eps: Vec<String> = [
        "noip",
        "waslb",
        "outside",
        "split",
        "wrongpool",
        "rightpool",
    ]
    .iter()
    .map(|n| ep(n))
    .collect();
    let mut all: Vec<&str> = docs.to_vec();
    all.extend(eps.iter().map(String::as_str));
    let s = snapshot(&all);
    let p = plan(&s, "n1");
    // A ClusterIP Service without ingress IPs is not part of the plan at all.
    assert!(!p.services.keys().any(|k| k.name == "cip"));
    let rows = [
        ("noip", Some(WithheldReason::NoIpAllocated)),
        ("waslb", Some(WithheldReason::NotLoadBalancer)),
        ("outside", Some(WithheldReason::IpNotAllowed)),
        ("split", Some(WithheldReason::IpNotAllowed)),
        ("wrongpool", Some(WithheldReason::PoolAnnotationMismatch)),
        ("rightpool", None),
        ("classed", Some(WithheldReason::OtherLoadBalancerClass)),
    ];
    for (name, want) in rows {
        assert_eq!(decision(&p, name).reason(), want, "{name}\n{p}");
    }
    assert_eq!(prefixes(&p, "tor"), ["203.0.113.13/32"]);
    let withheld: Vec<&str> = p.withheld().map(|(k, _, _)| k.name.as_str()).collect();
    assert_eq!(
        withheld,
        ["classed", "noip", "outside", "split", "waslb", "wrongpool"]
    );
}

// ---------------------------------------------------------------- shared IP

#[test]
fn shared_ip_announced_once_while_any_service_qualifies() {
    let shared = "  annotations: {metallb.universe.tf/allow-shared-ip: key1}\n";
    let tcp = svc("tcp", &["203.0.113.50"], "Local", shared);
    let udp = svc("udp", &["203.0.113.50"], "Local", shared);
    let here = |s: &str| slice(s, &["{addresses: [10.0.0.1], nodeName: n1}"]);
    let away = |s: &str| slice(s, &["{addresses: [10.0.0.1], nodeName: n2}"]);
    // (tcp endpoints, udp endpoints, announced, services behind the prefix)
    let rows: [(String, String, bool, &[&str]); 4] = [
        (here("tcp"), here("udp"), true, &["tcp", "udp"]),
        (here("tcp"), away("udp"), true, &["tcp"]),
        (away("tcp"), here("udp"), true, &["udp"]),
        (away("tcp"), away("udp"), false, &[]),
    ];
    for (et, eu, announced, behind) in rows {
        let p = plan(&valid(&[POOL, PEER, ADV, &tcp, &udp, &et, &eu]), "n1");
        let session = p.session("tor").unwrap();
        assert_eq!(session.advertisements.len(), usize::from(announced), "{p}");
        if announced {
            let a = session.advertisements.values().next().unwrap();
            let names: Vec<&str> = a.services.iter().map(|k| k.name.as_str()).collect();
            assert_eq!(names, behind);
            let ips = p.announced_ips();
            assert_eq!(ips.len(), 1);
            assert_eq!(ips.values().next().unwrap().len(), behind.len());
        } else {
            assert!(p.announced_ips().is_empty());
        }
        assert_eq!(p.decisions().count(), 2);
    }
}

// ---------------------------------------------------------------- passwords

const SECRET: &str = "apiVersion: v1
kind: Secret
metadata: {namespace: metallb-system, name: bgp-pass}
type: kubernetes.io/basic-auth
stringData: {password: s3cr3t-from-secret}";

fn peer_with(extra: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{namespace: metallb-system, name: secure}}
spec:
  peerAddress: 192.0.2.9
  peerASN: 64501
  myASN: 64500
{extra}"
    )
}

#[test]
fn password_secret_is_resolved_and_never_printed() {
    let peer = peer_with("  passwordSecret: {name: bgp-pass, namespace: metallb-system}\n");
    let s = valid(&[SECRET, &peer]);
    let p = plan(&s, "n1");
    let pw = p
        .session("secure")
        .unwrap()
        .params
        .password
        .as_ref()
        .unwrap();
    assert_eq!(pw.expose(), "s3cr3t-from-secret");
    assert_eq!(pw.source(), &PasswordSource::Secret("bgp-pass".into()));
    // Base64 `data` works the same.
    let b64 = SECRET.replace(
        "stringData: {password: s3cr3t-from-secret}",
        "data: {password: czNjcjN0LWZyb20tc2VjcmV0}",
    );
    let p2 = plan(&valid(&[&b64, &peer]), "n1");
    assert_eq!(
        p2.session("secure")
            .unwrap()
            .params
            .password
            .as_ref()
            .unwrap()
            .expose(),
        "s3cr3t-from-secret"
    );

    let inline = peer_with("  password: inline-s3cr3t\n");
    let p3 = plan(&valid(&[&inline]), "n1");
    assert_eq!(
        p3.session("secure")
            .unwrap()
            .params
            .password
            .as_ref()
            .unwrap()
            .expose(),
        "inline-s3cr3t"
    );

    for (plan, secret) in [(&p, "s3cr3t-from-secret"), (&p3, "inline-s3cr3t")] {
        let renders = [
            format!("{plan}"),
            format!("{plan:?}"),
            plan.to_json().to_string(),
        ];
        for r in renders {
            assert!(!r.contains(secret), "password leaked: {r}");
            assert!(r.contains("redacted") || r.contains("\"set\":true"), "{r}");
        }
    }
}

#[test]
fn missing_secret_makes_the_session_pending_not_passwordless() {
    let peer = peer_with("  passwordSecret: {name: bgp-pass, namespace: metallb-system}\n");
    let s = snapshot(&[&peer]);
    let p = plan(&s, "n1");
    assert!(
        p.session("secure").is_none(),
        "no passwordless session: {p}"
    );
    let held = &p.held_peers["secure"];
    assert_eq!(held.reason, HeldReason::Pending);
    assert!(
        held.details.iter().any(|d| d.contains("bgp-pass")),
        "{held:?}"
    );
    assert!(p.had_invalid_objects());
    assert!(format!("{p}").contains("secure: pending"));
    // Once the Secret appears, the session is planned with it.
    let p = plan(&valid(&[SECRET, &peer]), "n1");
    assert!(p.held_peers.is_empty());
    assert!(p.session("secure").unwrap().params.password.is_some());
}

// ---------------------------------------------------------------- BFD and session parameters

#[test]
fn session_parameters_and_bfd_profile() {
    let bfd = "apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {namespace: metallb-system, name: fast}
spec: {receiveInterval: 50, transmitInterval: 60, detectMultiplier: 4}";
    let peer = peer_with(
        "  bfdProfile: fast
  holdTime: 9s
  keepaliveTime: 3s
  connectTime: 5s
  routerID: 10.0.0.9
  sourceAddress: 192.0.2.100
  peerPort: 1179
  ebgpMultiHop: true
  enableGracefulRestart: true
  vrf: red
  localASN: 64999
",
    );
    let p = plan(&valid(&[bfd, &peer]), "n1");
    let params = &p.session("secure").unwrap().params;
    let b = params.bfd.as_ref().unwrap();
    assert_eq!(b.receive_interval.as_millis(), 50);
    assert_eq!(b.transmit_interval.as_millis(), 60);
    assert_eq!(b.detect_multiplier, 4);
    assert_eq!(b.echo_interval.as_millis(), 50, "MetalLB default");
    let t = params.timers.unwrap();
    assert_eq!((t.hold.seconds(), t.keepalive.as_secs()), (9, 3));
    assert_eq!(params.connect_time.unwrap().as_duration().as_secs(), 5);
    assert_eq!(params.router_id.unwrap().to_string(), "10.0.0.9");
    assert_eq!(params.source_address.unwrap().to_string(), "192.0.2.100");
    assert_eq!(params.port, 1179);
    assert!(params.ebgp_multi_hop && params.graceful_restart);
    assert_eq!(params.vrf.device(), Some("red"));
    assert_eq!(params.announced_asn().0, 64999);
    let json = p.to_json();
    assert_eq!(json["vrfs"][0]["vrf"], "red");
    assert_eq!(json["vrfs"][0]["sessions"][0]["bfd"]["detectMultiplier"], 4);
    assert_eq!(json["vrfs"][0]["sessions"][0]["holdTimeSeconds"], 9);
}

#[test]
fn missing_bfd_profile_holds_the_peer() {
    let peer = peer_with("  bfdProfile: nope\n");
    let p = plan(&snapshot(&[&peer]), "n1");
    assert!(p.session("secure").is_none());
    assert_eq!(p.held_peers["secure"].reason, HeldReason::Pending);
    assert!(p.held_peers["secure"]
        .details
        .iter()
        .any(|d| d.contains("nope")));
}

#[test]
fn dynamic_asn_and_local_asn_decide_ibgp() {
    let peers = "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: dyn-int}
spec: {peerAddress: 192.0.2.1, dynamicASN: internal, myASN: 64500}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: dyn-ext}
spec: {peerAddress: 192.0.2.2, dynamicASN: external, myASN: 64500}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: local-as}
spec: {peerAddress: 192.0.2.3, peerASN: 65001, myASN: 64500, localASN: 65001}";
    let adv = "apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: adv}
spec: {ipAddressPools: [pool], localPref: 150}";
    let s = svc("web", &["203.0.113.10"], "Cluster", "");
    let e = slice("web", &["{addresses: [10.0.0.1], nodeName: n1}"]);
    let p = plan(&valid(&[POOL, peers, adv, &s, &e]), "n1");
    let lp = |peer: &str| {
        p.session(peer)
            .unwrap()
            .advertisements
            .values()
            .next()
            .unwrap()
            .attributes
            .local_pref
    };
    assert_eq!(lp("dyn-int"), Some(150));
    assert_eq!(lp("dyn-ext"), None);
    assert_eq!(
        lp("local-as"),
        Some(150),
        "localASN equal to the peer AS makes it iBGP"
    );
}

#[test]
fn peers_conflicting_on_the_node_are_held_by_name_order() {
    let peers = "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: a-first}
spec: {peerAddress: 192.0.2.1, peerASN: 64501, myASN: 64500, nodeSelectors: [{matchLabels: {kubernetes.io/hostname: n1}}]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: b-second}
spec:
  peerAddress: 192.0.2.1
  peerASN: 64502
  myASN: 64500
  nodeSelectors: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [n1, n2]}]}]";
    // With no Node objects the crds layer only warns; on n1 both apply and the planner holds
    // the later one by name, on n2 only b-second applies.
    let s = valid(&[peers]);
    let p = plan(&s, "n1");
    assert!(p.session("a-first").is_some() && p.session("b-second").is_none());
    let held = &p.held_peers["b-second"];
    assert_eq!(held.reason, HeldReason::ConflictOnNode);
    assert!(
        held.details.iter().any(|d| d.contains("a-first")),
        "{held:?}"
    );
    let p = plan(&s, "n2");
    assert!(p.session("b-second").is_some() && p.held_peers.is_empty());
    // With the Node objects loaded the crds layer rejects b-second: only a-first is planned.
    let nodes = "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n2}";
    let s = snapshot(&[peers, nodes]);
    let p = plan(&s, "n1");
    assert!(p.session("a-first").is_some() && p.session("b-second").is_none());
    assert!(p.had_invalid_objects());
}

// ---------------------------------------------------------------- L2

#[test]
fn l2_candidacy() {
    let l2 = "apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {namespace: metallb-system, name: l2}
spec:
  ipAddressPools: [pool]
  interfaces: [eth1, eth2]
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: n1}}]";
    let s = svc("web", &["203.0.113.10"], "Local", "");
    let here = slice("web", &["{addresses: [10.0.0.1], nodeName: n1}"]);
    let away = slice("web", &["{addresses: [10.0.0.1], nodeName: n2}"]);
    let key = |p: &NodePlan| p.l2.values().next().cloned().unwrap();
    let p = plan(&valid(&[POOL, l2, &s, &here]), "n1");
    assert_eq!(
        key(&p),
        L2Decision::Candidate {
            advertisements: BTreeSet::from(["l2".to_string()]),
            interfaces: BTreeSet::from(["eth1".to_string(), "eth2".to_string()]),
        }
    );
    // No BGP advertisement: BGP says notOwner, independently of L2.
    assert_eq!(decision(&p, "web").reason(), Some(WithheldReason::NotOwner));
    let rows = [
        (&away, "n1", L2Reason::NoLocalEndpoints),
        (&here, "n2", L2Reason::NoMatchingAdvertisement),
    ];
    for (e, n, want) in rows {
        let p = plan(&valid(&[POOL, l2, &s, e]), n);
        assert_eq!(key(&p), L2Decision::NotCandidate(want));
    }
    let p = plan(&valid(&[POOL, l2, &s]), "n1");
    assert_eq!(key(&p), L2Decision::NotCandidate(L2Reason::NoEndpoints));
    // Without any L2Advertisement for its pool, a Service has no L2 entry.
    let p = plan(&valid(&[POOL, PEER, ADV, &s, &here]), "n1");
    assert!(p.l2.is_empty());
}

// ---------------------------------------------------------------- NNCP merge

fn nncp(name: &str, selector: &str, state: &str) -> String {
    format!(
        "apiVersion: nmstate.io/v1
kind: NodeNetworkConfigurationPolicy
metadata: {{name: {name}}}
spec:
  nodeSelector: {{{selector}}}
  desiredState:
{state}"
    )
}

#[test]
fn nncp_merge_and_conflicts() {
    let a = nncp(
        "a-base",
        "",
        "    interfaces:
    - {name: eth1, type: ethernet, mtu: 1500, ipv4: {enabled: true, address: [{ip: 192.0.2.10, prefix-length: 24}]}}
    - {name: vrf1, type: vrf, vrf: {port: [eth1], route-table-id: 10}}
    routes:
      config:
      - {destination: 0.0.0.0/0, next-hop-address: 192.0.2.1, next-hop-interface: eth1, table-id: 10}
    route-rules:
      config:
      - {ip-to: 10.128.0.0/14, priority: 998, route-table: 254}
",
    );
    let b = nncp(
        "b-extra",
        "",
        "    interfaces:
    - {name: eth1, mtu: 9000, ipv4: {forwarding: true}}
    - {name: vrf2, type: vrf, vrf: {port: [eth2], route-table-id: 10}}
    routes:
      config:
      - {destination: 0.0.0.0/0, next-hop-address: 192.0.2.1, next-hop-interface: eth1, table-id: 10}
      - {destination: 198.51.100.0/24, next-hop-address: 192.0.2.1, next-hop-interface: eth1, table-id: 10}
    route-rules:
      config:
      - {ip-to: 10.128.0.0/14, priority: 998, route-table: 254}
      - {ip-to: 172.30.0.0/16, priority: 998, route-table: 254}
",
    );
    let c = nncp(
        "c-other-nodes",
        "role: edge",
        "    interfaces:\n    - {name: eth9, type: ethernet}\n",
    );
    let p = plan(&valid(&[&a, &b, &c]), "n1");
    let n = &p.network;
    assert_eq!(n.policies, ["a-base", "b-extra"]);
    // Routes and rules merge as sets.
    assert_eq!(n.desired.routes.len(), 2);
    assert_eq!(n.desired.route_rules.len(), 2);
    // eth1: fields left out by one policy come from the other; mtu conflicts.
    let eth1 = n.desired.interface("eth1").unwrap();
    assert_eq!(eth1.mtu, Some(1500));
    let v4 = eth1.ipv4.as_ref().unwrap();
    assert_eq!(v4.forwarding, Some(true));
    assert_eq!(v4.addresses.as_ref().unwrap().len(), 1);
    assert!(n.desired.interface("eth9").is_none());
    let texts: Vec<String> = n.conflicts.iter().map(ToString::to_string).collect();
    assert_eq!(n.conflicts.len(), 2, "{texts:#?}");
    assert!(texts
        .iter()
        .any(|t| t.contains("interface eth1: mtu: 1500 vs 9000")
            && t.contains("b-extra")
            && t.contains("a-base")));
    assert!(
        texts
            .iter()
            .any(|t| t.contains("VRF vrf2 uses route table 10")),
        "{texts:#?}"
    );
    // Identical policies never conflict.
    let a2 = a.replace("name: a-base", "name: a-copy");
    let p = plan(&valid(&[&a, &a2]), "n1");
    assert!(p.network.conflicts.is_empty());
    assert_eq!(p.network.desired.interfaces.len(), 2);
    // A policy for other nodes only.
    let p = plan(&valid(&[&c]), "n1");
    assert!(p.network.policies.is_empty());
}

// ---------------------------------------------------------------- decision changes

#[test]
fn decision_changes_name_service_node_and_reason() {
    let s = svc("web", &["203.0.113.10"], "Local", "");
    let here = slice("web", &["{addresses: [10.0.0.1], nodeName: n1}"]);
    let away = slice("web", &["{addresses: [10.0.0.1], nodeName: n2}"]);
    let before = plan(&valid(&[POOL, PEER, ADV, &s, &here]), "n1");
    let after = plan(&valid(&[POOL, PEER, ADV, &s, &away]), "n1");
    assert!(decision_changes(&before, &before).is_empty());
    let changes = decision_changes(&before, &after);
    assert_eq!(changes.len(), 1);
    let line = changes[0].to_string();
    assert!(
        line.contains("default/web") && line.contains("n1") && line.contains("noLocalEndpoints"),
        "{line}"
    );
    let gone = plan(&valid(&[POOL, PEER, ADV]), "n1");
    let changes = decision_changes(&after, &gone);
    assert_eq!(changes[0].after, None);
}

#[test]
fn plan_is_independent_of_document_order() {
    let s = svc("web", &["203.0.113.10"], "Cluster", "");
    let e = slice("web", &["{addresses: [10.0.0.1], nodeName: n1}"]);
    let docs = [POOL, PEER, ADV, SECRET, s.as_str(), e.as_str()];
    let a = plan(&valid(&docs), "n1");
    let mut rev = docs;
    rev.reverse();
    let b = plan(&valid(&rev), "n1");
    assert_eq!(a.vrfs, b.vrfs);
    assert_eq!(a.services, b.services);
    assert_eq!(a.to_json(), b.to_json());
}

// ---------------------------------------------------------------- communities

#[test]
fn communities_merge_per_prefix_with_aliases_and_large_values() {
    let alias = "apiVersion: metallb.io/v1beta1
kind: Community
metadata: {namespace: metallb-system, name: aliases}
spec:
  communities:
    - {name: my-alias, value: \"64500:1234\"}
    - {name: big, value: \"large:64500:1:2\"}";
    let ads = "apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: adv-x}
spec:
  ipAddressPools: [pool]
  communities: [my-alias, \"large:1:2:3\"]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: adv-y}
spec:
  ipAddressPools: [pool]
  communities: [no-export, big]
  aggregationLength: 32
  peers: [tor]";
    let s = svc("web", &["203.0.113.10"], "Cluster", "");
    let e = slice("web", &["{addresses: [10.0.0.1], nodeName: n1}"]);
    let p = plan(&valid(&[POOL, PEER, alias, ads, &s, &e]), "n1");
    let a = p
        .session("tor")
        .unwrap()
        .advertisements
        .get(&"203.0.113.10/32".parse().unwrap())
        .unwrap();
    let got: Vec<String> = a
        .attributes
        .communities
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [
            "64500:1234",
            "65535:65281",
            "large:1:2:3",
            "large:64500:1:2"
        ]
    );
    assert_eq!(a.via.len(), 2);
    let json = p.to_json();
    assert_eq!(
        json["vrfs"][0]["sessions"][0]["advertisements"][0]["communities"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn shared_ip_with_two_local_prefs_sends_the_higher_and_warns() {
    let ads = "apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: adv-tcp}
spec:
  ipAddressPools: [pool]
  localPref: 100
  serviceSelectors: [{matchLabels: {proto: tcp}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: adv-udp}
spec:
  ipAddressPools: [pool]
  localPref: 200
  serviceSelectors: [{matchLabels: {proto: udp}}]";
    let meta = |proto: &str| {
        format!("  labels: {{proto: {proto}}}\n  annotations: {{metallb.io/allow-shared-ip: k}}\n")
    };
    let tcp = svc("tcp", &["203.0.113.50"], "Cluster", &meta("tcp"));
    let udp = svc("udp", &["203.0.113.50"], "Cluster", &meta("udp"));
    let et = slice("tcp", &["{addresses: [10.0.0.1], nodeName: n1}"]);
    let eu = slice("udp", &["{addresses: [10.0.0.1], nodeName: n1}"]);
    let p = plan(&valid(&[POOL, PEER, ads, &tcp, &udp, &et, &eu]), "n1");
    let a = p
        .session("tor")
        .unwrap()
        .advertisements
        .values()
        .next()
        .unwrap();
    assert_eq!(a.attributes.local_pref, Some(200));
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].contains("203.0.113.50/32"));
}
