//! End-to-end tests of `metalroute run` in file mode: a router namespace running FRR, two node
//! namespaces each running the built `metalroute` binary (found through `CARGO_BIN_EXE_metalroute`,
//! which cargo builds before this test), and a client namespace behind the router.
//!
//! ```text
//!  client 198.51.100.2 ── 198.51.100.1 router (FRR, AS 64501) br0 192.0.2.1/24
//!                                                  ├── node-1 192.0.2.11 (metalroute, AS 64500)
//!                                                  └── node-2 192.0.2.12 (metalroute, AS 64500)
//! ```
//!
//! Each node namespace holds the LoadBalancer IPs on `lo` (as kube-proxy would) and a tiny TCP
//! responder answering its node name, so a client request shows which node the router chose.

#[allow(dead_code)]
mod common;

use common::{who_answers, Node, BIN, DEADLINE};
use metalroute_netns::{
    addr, drop_packets, prerequisites, restore_packets, route, terminate, veth, wait_for, Frr,
    Need, Netns,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// The router of the eBGP scenarios: AS 64501, both nodes in AS 64500, ECMP.
const EBGP_ROUTER: &str = "router bgp 64501\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n neighbor 192.0.2.11 remote-as 64500\n neighbor 192.0.2.11 timers connect 1\n neighbor 192.0.2.12 remote-as 64500\n neighbor 192.0.2.12 timers connect 1\n address-family ipv4 unicast\n  maximum-paths 8\n exit-address-family\n";

const BASE: &str = r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: web}
spec:
  addresses: [203.0.113.0/28]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: web}
spec:
  ipAddressPools: [web]
  communities: ["8000:800"]
"#;

const PEER: &str = r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: router}
spec:
  peerAddress: 192.0.2.1
  peerASN: 64501
  myASN: 64500
  connectTime: 1s
"#;

/// A LoadBalancer Service with its IP and one EndpointSlice with an endpoint on `ep_node`.
fn service(name: &str, ip: &str, etp: &str, ep_node: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{namespace: default, name: {name}}}
spec:
  type: LoadBalancer
  externalTrafficPolicy: {etp}
  ports: [{{port: 8080, protocol: TCP}}]
status:
  loadBalancer:
    ingress: [{{ip: {ip}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: default
  name: {name}-1
  labels: {{kubernetes.io/service-name: {name}}}
addressType: IPv4
endpoints:
  - addresses: [10.244.0.5]
    nodeName: {ep_node}
    conditions: {{ready: true}}
ports: [{{port: 8080, protocol: TCP}}]
"#
    )
}

struct Lab {
    router: Netns,
    client: Netns,
    frr: Frr,
    nodes: Vec<Node>,
}

fn lab(prefix: &str, bgpd_conf: &str, bfdd_conf: Option<&str>) -> Lab {
    let router = Netns::new(&format!("{prefix}r"));
    let client = Netns::new(&format!("{prefix}c"));
    common::router_lan(&router, false);
    common::client_link(&router, &client);
    let mut nodes = Vec::new();
    for i in 1..=2 {
        let ns = common::lan_node(&router, prefix, i);
        let a = format!("192.0.2.1{i}");
        addr(&ns, "eth0", &format!("{a}/24"));
        route(&ns, "default via 192.0.2.1");
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        for ip in ["203.0.113.10/32", "203.0.113.11/32", "203.0.113.12/32"] {
            addr(&ns, "lo", ip);
        }
        let name = format!("node-{i}");
        nodes.push(Node::with_responder(
            ns,
            &name,
            &format!("e2e-{prefix}-{name}"),
            "0.0.0.0:8080",
        ));
    }
    let frr = Frr::start(&router, bgpd_conf, bfdd_conf);
    Lab {
        router,
        client,
        frr,
        nodes,
    }
}

/// Next hops of the router's paths for `prefix` (empty when absent).
fn next_hops(frr: &Frr, prefix: &str) -> BTreeSet<String> {
    common::next_hops(frr, prefix).into_iter().collect()
}

fn wait_next_hops(frr: &Frr, prefix: &str, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    wait_for(
        &format!("router paths for {prefix} via {want:?}"),
        DEADLINE,
        || (next_hops(frr, prefix) == want).then_some(()),
    );
}

fn neighbor(frr: &Frr, peer: &str) -> Value {
    let v = frr.vtysh_json(&format!("show bgp neighbors {peer} json"));
    v.get(peer).cloned().unwrap_or(Value::Null)
}

fn path_communities(frr: &Frr, prefix: &str) -> Vec<String> {
    let d = frr.route_detail(prefix);
    d["paths"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["community"]["string"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn run_e2e_two_nodes_cluster_local_edit_and_peer_removal() {
    if !prerequisites(
        "run_e2e_two_nodes_cluster_local_edit_and_peer_removal",
        common::FRR_BGP,
    ) {
        return;
    }
    let mut lab = lab("mre2e", EBGP_ROUTER, None);
    let files = [
        ("00-base.yaml", BASE.to_string()),
        ("01-peer.yaml", PEER.to_string()),
        (
            "10-cluster.yaml",
            service("web", "203.0.113.10", "Cluster", "node-1"),
        ),
        (
            "11-local.yaml",
            service("db", "203.0.113.11", "Local", "node-2"),
        ),
    ];
    for n in &mut lab.nodes {
        n.write_all(&files);
        n.start_agent();
    }
    let frr = &lab.frr;
    frr.wait_established("192.0.2.11", DEADLINE);
    frr.wait_established("192.0.2.12", DEADLINE);

    // Cluster: both nodes announce; Local: only the endpoint's node.
    wait_next_hops(frr, "203.0.113.10/32", &["192.0.2.11", "192.0.2.12"]);
    wait_next_hops(frr, "203.0.113.11/32", &["192.0.2.12"]);
    assert_eq!(
        frr.prefixes_v4(),
        vec!["203.0.113.10/32", "203.0.113.11/32"]
    );
    for c in path_communities(frr, "203.0.113.10/32") {
        assert_eq!(c, "8000:800");
    }
    let p = &frr.route_detail("203.0.113.10/32")["paths"][0];
    assert_eq!(p["aspath"]["string"].as_str(), Some("64500"), "{p}");

    // Traffic: ECMP over both nodes for Cluster, only node-2 for Local.
    wait_for(
        "router FIB has two next hops for 203.0.113.10",
        DEADLINE,
        || {
            let r = lab
                .router
                .exec_stdout(&["ip", "route", "show", "203.0.113.10"]);
            (r.matches("nexthop").count() == 2).then_some(())
        },
    );
    let seen = who_answers(&lab.client, "203.0.113.10", 40);
    assert_eq!(
        seen,
        ["node-1", "node-2"].iter().map(|s| s.to_string()).collect(),
        "ECMP over both nodes"
    );
    let seen = who_answers(&lab.client, "203.0.113.11", 10);
    assert_eq!(
        seen,
        BTreeSet::from(["node-2".to_string()]),
        "ETP Local only via node-2"
    );

    // The admin socket and metrics.
    let summary = lab.nodes[0].show(&["bgp", "summary"]);
    assert!(
        summary.contains("192.0.2.1") && summary.contains("router"),
        "{summary}"
    );
    let adv = lab.nodes[1].show(&["bgp", "advertised", "router"]);
    assert!(
        adv.contains("203.0.113.11/32") && adv.contains("8000:800"),
        "{adv}"
    );
    let js: Value = lab.nodes[0].show_json(&["bgp", "summary"]);
    assert_eq!(
        js["vrfs"]["default"]["peers"]["192.0.2.1"]["state"], "Established",
        "{js}"
    );
    let plan = lab.nodes[0].show(&["plan"]);
    assert!(plan.contains("noLocalEndpoints"), "{plan}");
    let m = lab.nodes[0].http_get("/metrics");
    assert!(m.starts_with("HTTP/1.1 200"), "{m}");
    assert!(
        m.contains("metallb_bgp_session_up{peer=\"192.0.2.1\",vrf=\"\"} 1"),
        "{m}"
    );
    assert!(m.contains("metallb_speaker_announced{ip=\"203.0.113.10\",node=\"node-1\",protocol=\"bgp\",service=\"default/web\"} 1"), "{m}");
    assert!(lab.nodes[0].http_get("/readyz").starts_with("HTTP/1.1 200"));

    // Editing a file: a new Service appears at the router; the sessions are not reset.
    let uptime_before = neighbor(frr, "192.0.2.11")["bgpTimerUpMsec"]
        .as_u64()
        .unwrap();
    for n in &lab.nodes {
        n.write(
            "12-new.yaml",
            &service("api", "203.0.113.12", "Cluster", "node-2"),
        );
    }
    wait_next_hops(frr, "203.0.113.12/32", &["192.0.2.11", "192.0.2.12"]);
    let after = neighbor(frr, "192.0.2.11");
    assert_eq!(after["bgpState"], "Established");
    assert!(
        after["bgpTimerUpMsec"].as_u64().unwrap() >= uptime_before,
        "session was reset: {after}"
    );

    // A YAML syntax error in one file drops nothing that is announced.
    lab.nodes[0].write("12-new.yaml", "apiVersion: v1\nkind: [unclosed\n");
    lab.nodes[0].write(
        "13-marker.yaml",
        &service("mark", "203.0.113.13", "Cluster", "node-1"),
    );
    wait_next_hops(frr, "203.0.113.13/32", &["192.0.2.11"]);
    assert_eq!(
        next_hops(frr, "203.0.113.12/32").len(),
        2,
        "a broken file withdrew its routes"
    );

    // Moving the Local endpoint to node-1 moves the announcement.
    for n in &lab.nodes {
        n.write(
            "11-local.yaml",
            &service("db", "203.0.113.11", "Local", "node-1"),
        );
    }
    wait_next_hops(frr, "203.0.113.11/32", &["192.0.2.11"]);

    // Shared IP: two ETP Local Services on 203.0.113.14 with endpoints on different nodes; the
    // IP is announced from both nodes, and stays on node-2 while its Service still qualifies.
    let shared = |name: &str, node: &str| {
        service(name, "203.0.113.14", "Local", node).replacen(
            &format!("metadata: {{namespace: default, name: {name}}}"),
            &format!("metadata: {{namespace: default, name: {name}, annotations: {{metallb.universe.tf/allow-shared-ip: k}}}}"),
            1,
        )
    };
    for n in &lab.nodes {
        n.write("14-s1.yaml", &shared("s1", "node-1"));
        n.write("15-s2.yaml", &shared("s2", "node-2"));
    }
    wait_next_hops(frr, "203.0.113.14/32", &["192.0.2.11", "192.0.2.12"]);
    for n in &lab.nodes {
        std::fs::remove_file(n.dir.join("14-s1.yaml")).unwrap();
    }
    wait_next_hops(frr, "203.0.113.14/32", &["192.0.2.12"]);

    // Removing the peer from node-1: Cease, and its routes are withdrawn at the router.
    std::fs::remove_file(lab.nodes[0].dir.join("01-peer.yaml")).unwrap();
    wait_for("node-1's session down at the router", DEADLINE, || {
        (neighbor(frr, "192.0.2.11")["bgpState"] != "Established").then_some(())
    });
    wait_next_hops(frr, "203.0.113.10/32", &["192.0.2.12"]);
    assert!(
        next_hops(frr, "203.0.113.11/32").is_empty(),
        "node-1's routes stayed"
    );
    let n = neighbor(frr, "192.0.2.11");
    let reason = format!("{} {}", n["lastNotificationReason"], n["lastResetDueTo"]);
    assert!(
        reason.to_lowercase().contains("cease"),
        "no Cease seen by the router: {n}"
    );

    // SIGTERM on node-2: Cease to the router, every route gone.
    let agent = lab.nodes[1].agent.as_mut().unwrap();
    let st = terminate(agent, Duration::from_secs(20));
    assert!(st.success(), "agent exit status {st}");
    wait_for("router RIB empty after SIGTERM", DEADLINE, || {
        frr.prefixes_v4().is_empty().then_some(())
    });
    let n = neighbor(frr, "192.0.2.12");
    let reason = format!("{} {}", n["lastNotificationReason"], n["lastResetDueTo"]);
    assert!(
        reason.to_lowercase().contains("cease"),
        "no Cease on SIGTERM: {n}"
    );
    let log = std::fs::read_to_string(lab.nodes[1].log()).unwrap();
    assert!(log.contains("default/db"), "no decision log line: {log}");
}

/// Seed 003 (examples/advanced-advertisement) over iBGP, plus a node subset: for
/// 203.0.113.200 and .201 each node announces the /32s with localPref 100 and NO_ADVERTISE and
/// one /30 aggregate with 8000:800; the pool `subset` is announced only from node-1.
#[test]
fn run_e2e_ibgp_aggregation_communities_and_node_subset() {
    if !prerequisites(
        "run_e2e_ibgp_aggregation_communities_and_node_subset",
        common::FRR_BGP,
    ) {
        return;
    }
    let router = "router bgp 64500\n bgp router-id 192.0.2.1\n neighbor 192.0.2.11 remote-as 64500\n neighbor 192.0.2.11 timers connect 1\n neighbor 192.0.2.12 remote-as 64500\n neighbor 192.0.2.12 timers connect 1\n";
    let mut lab = lab("mre2ea", router, None);
    // The example's objects, with the peer and services adapted to the test addresses.
    let config = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/advanced-advertisement/config.yaml"
    ))
    .unwrap();
    let config = config
        .replace("  routerID: 192.0.2.10\n", "")
        .replace("  dualStackAddressFamily: true\n", "  connectTime: 1s\n");
    let subset = r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: subset}
spec: {addresses: [203.0.113.64/28]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: subset}
spec:
  ipAddressPools: [subset]
  nodeSelectors:
    - matchLabels: {kubernetes.io/hostname: node-1}
"#;
    for n in &mut lab.nodes {
        n.write("00-config.yaml", &config);
        n.write("01-subset.yaml", subset);
        n.write(
            "10-web.yaml",
            &service("web", "203.0.113.200", "Cluster", "node-2"),
        );
        n.write(
            "11-api.yaml",
            &service("api", "203.0.113.201", "Cluster", "node-2"),
        );
        n.write(
            "12-edge.yaml",
            &service("edge", "203.0.113.65", "Cluster", "node-2"),
        );
        n.start_agent();
    }
    let frr = &lab.frr;
    frr.wait_established("192.0.2.11", DEADLINE);
    frr.wait_established("192.0.2.12", DEADLINE);
    let both = ["192.0.2.11", "192.0.2.12"];
    wait_next_hops(frr, "203.0.113.200/32", &both);
    wait_next_hops(frr, "203.0.113.201/32", &both);
    wait_next_hops(frr, "203.0.113.200/30", &both);
    wait_next_hops(frr, "203.0.113.65/32", &["192.0.2.11"]);
    assert_eq!(
        frr.prefixes_v4(),
        vec![
            "203.0.113.200/30",
            "203.0.113.200/32",
            "203.0.113.201/32",
            "203.0.113.65/32"
        ]
    );
    for prefix in ["203.0.113.200/32", "203.0.113.201/32"] {
        let d = frr.route_detail(prefix);
        for p in d["paths"].as_array().unwrap() {
            assert_eq!(p["locPrf"].as_u64(), Some(100), "{prefix}: {p}");
            assert_eq!(
                p["community"]["string"].as_str(),
                Some("no-advertise"),
                "{prefix}: {p}"
            );
        }
    }
    let d = frr.route_detail("203.0.113.200/30");
    for p in d["paths"].as_array().unwrap() {
        assert_eq!(p["community"]["string"].as_str(), Some("8000:800"), "{p}");
    }
    // The aggregate stays while any Service in it qualifies: remove one, then the other.
    for n in &lab.nodes {
        std::fs::remove_file(n.dir.join("10-web.yaml")).unwrap();
    }
    wait_next_hops(frr, "203.0.113.200/32", &[]);
    assert_eq!(
        next_hops(frr, "203.0.113.200/30").len(),
        2,
        "aggregate dropped while api still qualifies"
    );
    for n in &lab.nodes {
        std::fs::remove_file(n.dir.join("11-api.yaml")).unwrap();
    }
    wait_next_hops(frr, "203.0.113.200/30", &[]);
    assert_eq!(frr.prefixes_v4(), vec!["203.0.113.65/32"]);
}

/// BFD from a BFDProfile against FRR's bfdd: the sessions come up (router, `show bfd peers`,
/// metrics); cutting node-1's link takes the router's BGP session to node-1 down through BFD
/// long before the 90 s hold time, and its routes with it; restoring the link brings all back.
#[test]
fn run_e2e_bfd_profile_up_and_link_cut_withdraws() {
    if !prerequisites(
        "run_e2e_bfd_profile_up_and_link_cut_withdraws",
        &[
            Need::Root,
            Need::Binary("/usr/lib/frr/bgpd"),
            Need::Binary("/usr/lib/frr/zebra"),
            Need::Binary("/usr/lib/frr/bfdd"),
            Need::Binary("nft"),
        ],
    ) {
        return;
    }
    let router = EBGP_ROUTER.replace(
        " address-family ipv4 unicast",
        " neighbor 192.0.2.11 bfd\n neighbor 192.0.2.12 bfd\n address-family ipv4 unicast",
    );
    let bfdd = "bfd\n peer 192.0.2.11 local-address 192.0.2.1\n  receive-interval 300\n  transmit-interval 300\n  no shutdown\n !\n peer 192.0.2.12 local-address 192.0.2.1\n  receive-interval 300\n  transmit-interval 300\n  no shutdown\n !\n!\n";
    let mut lab = lab("mre2eb", &router, Some(bfdd));
    let profile = "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {namespace: metallb-system, name: fast}\nspec: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}\n";
    let peer = format!("{PEER}  bfdProfile: fast\n");
    for n in &mut lab.nodes {
        n.write("00-base.yaml", BASE);
        n.write("01-peer.yaml", &peer);
        n.write("02-bfd.yaml", profile);
        n.write(
            "10-cluster.yaml",
            &service("web", "203.0.113.10", "Cluster", "node-1"),
        );
        n.start_agent();
    }
    let frr = &lab.frr;
    frr.wait_established("192.0.2.11", DEADLINE);
    frr.wait_established("192.0.2.12", DEADLINE);
    wait_next_hops(frr, "203.0.113.10/32", &["192.0.2.11", "192.0.2.12"]);
    wait_for("router's BFD sessions up", DEADLINE, || {
        let peers = frr.bfd_peers();
        let up = peers
            .as_array()?
            .iter()
            .filter(|p| p["status"] == "up")
            .count();
        (up == 2).then_some(())
    });
    let js: Value = lab.nodes[0].show_json(&["bfd", "peers"]);
    assert_eq!(js["peers"][0]["status"], "up", "{js}");
    assert_eq!(js["peers"][0]["bgpPeer"], "router", "{js}");
    let m = lab.nodes[0].http_get("/metrics");
    assert!(
        m.contains("metallb_bfd_session_up{peer=\"192.0.2.1\",vrf=\"\"} 1"),
        "{m}"
    );

    // Cut node-1 off: BFD (0.9 s detection) takes BGP down, not the 90 s hold timer.
    drop_packets(&lab.nodes[0].ns, "192.0.2.1".parse().unwrap());
    wait_for(
        "node-1's routes withdrawn through BFD",
        Duration::from_secs(20),
        || {
            (next_hops(frr, "203.0.113.10/32") == BTreeSet::from(["192.0.2.12".to_string()]))
                .then_some(())
        },
    );
    // The BFD session stays configured while BGP is down (it is what tells the link is back).
    let js: Value = lab.nodes[0].show_json(&["bfd", "peers"]);
    assert_eq!(js["peers"].as_array().map(Vec::len), Some(1), "{js}");
    assert_ne!(js["peers"][0]["status"], "up", "{js}");
    restore_packets(&lab.nodes[0].ns);
    frr.wait_established("192.0.2.11", DEADLINE);
    wait_next_hops(frr, "203.0.113.10/32", &["192.0.2.11", "192.0.2.12"]);
    let m = lab.nodes[0].http_get("/metrics");
    assert!(
        m.contains("metallb_bfd_session_down_events{peer=\"192.0.2.1\",vrf=\"\"} 1"),
        "{m}"
    );
}

/// examples/per-pool-peers with two routers on the nodes' LAN (192.0.2.1 and 192.0.2.2): pool1's
/// IP goes only to peer1, pool2's only to peer2, each with NO_ADVERTISE (localPref is iBGP-only
/// and these sessions are eBGP, so the routers see none).
#[test]
fn run_e2e_per_pool_peers_two_routers() {
    if !prerequisites("run_e2e_per_pool_peers_two_routers", common::FRR_BGP) {
        return;
    }
    let mut lab = lab("mre2ep", EBGP_ROUTER, None);
    let rb = Netns::new("mre2epb");
    veth(&rb, "eth0", &lab.router, "rb");
    lab.router
        .exec(&["ip", "link", "set", "rb", "master", "br0"]);
    addr(&rb, "eth0", "192.0.2.2/24");
    let frr_b = Frr::start(
        &rb,
        &EBGP_ROUTER.replace("bgp router-id 192.0.2.1", "bgp router-id 192.0.2.2"),
        None,
    );
    let config = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/per-pool-peers/config.yaml"
    ))
    .unwrap();
    let config = config
        .replace("peerAddress: 10.0.0.1", "peerAddress: 192.0.2.1")
        .replace("peerAddress: 10.0.0.2", "peerAddress: 192.0.2.2")
        .replace("  routerID: 10.10.10.10\n", "  connectTime: 1s\n");
    for n in &mut lab.nodes {
        n.write("00-config.yaml", &config);
        n.write(
            "10-a.yaml",
            &service("svc-a", "4.4.4.100", "Cluster", "node-1"),
        );
        n.write(
            "11-b.yaml",
            &service("svc-b", "5.5.5.100", "Cluster", "node-2"),
        );
        n.start_agent();
    }
    let frr_a = &lab.frr;
    for f in [frr_a, &frr_b] {
        f.wait_established("192.0.2.11", DEADLINE);
        f.wait_established("192.0.2.12", DEADLINE);
    }
    let both = ["192.0.2.11", "192.0.2.12"];
    wait_next_hops(frr_a, "4.4.4.100/32", &both);
    wait_next_hops(&frr_b, "5.5.5.100/32", &both);
    assert_eq!(frr_a.prefixes_v4(), vec!["4.4.4.100/32"]);
    assert_eq!(frr_b.prefixes_v4(), vec!["5.5.5.100/32"]);
    for (f, prefix) in [(frr_a, "4.4.4.100/32"), (&frr_b, "5.5.5.100/32")] {
        assert_eq!(
            path_communities(f, prefix),
            vec!["no-advertise"; 2],
            "{prefix}"
        );
    }
    drop(frr_b);
}

/// One example directory run unchanged: the router's address(es) and AS as the example's
/// BGPPeer names them, the nodes (Node object name, IPv4 and optional IPv6 address on the
/// router's LAN) and what the router must end up with (prefix → next hops).
struct Example {
    dir: &'static str,
    router_asn: u32,
    router_v4: &'static str,
    router_v6: Option<&'static str>,
    nodes: &'static [(&'static str, &'static str, Option<&'static str>)],
    want_v4: &'static [(&'static str, &'static [&'static str])],
    want_v6: &'static [(&'static str, &'static [&'static str])],
}

/// Runs `metalroute run --config examples/DIR` on every node of the example, unchanged (the
/// test puts the nodes and the router at the addresses the example uses, on links between its
/// own namespaces), and checks the router's RIB against what examples/README.md documents.
fn run_example(prefix: &str, ex: &Example) {
    let router = Netns::new(&format!("{prefix}r"));
    router.exec(&["ip", "link", "add", "br0", "type", "bridge"]);
    router.exec(&["ip", "link", "set", "br0", "up"]);
    addr(&router, "br0", &format!("{}/24", ex.router_v4));
    if let Some(v6) = ex.router_v6 {
        addr(&router, "br0", &format!("{v6}/64"));
    }
    let ibgp = ex.router_asn == 64500;
    let mut conf = format!(
        "router bgp {}\n bgp router-id {}\n no bgp ebgp-requires-policy\n",
        ex.router_asn, ex.router_v4
    );
    for (_, v4, _) in ex.nodes {
        conf.push_str(&format!(
            " neighbor {v4} remote-as 64500\n neighbor {v4} timers connect 1\n"
        ));
    }
    conf.push_str(" address-family ipv4 unicast\n  maximum-paths 8\n  maximum-paths ibgp 8\n exit-address-family\n");
    if ex.router_v6.is_some() {
        conf.push_str(" address-family ipv6 unicast\n  maximum-paths 8\n");
        for (_, v4, _) in ex.nodes {
            conf.push_str(&format!("  neighbor {v4} activate\n"));
        }
        conf.push_str(" exit-address-family\n");
    }
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(ex.dir);
    let mut nodes = Vec::new();
    for (i, (name, v4, v6)) in ex.nodes.iter().enumerate() {
        let ns = Netns::new(&format!("{prefix}n{i}"));
        let port = format!("n{i}");
        veth(&ns, "eth0", &router, &port);
        router.exec(&["ip", "link", "set", &port, "master", "br0"]);
        addr(&ns, "eth0", &format!("{v4}/24"));
        if let Some(v6) = v6 {
            addr(&ns, "eth0", &format!("{v6}/64"));
        }
        let log = std::env::temp_dir().join(format!(
            "metalroute-e2e-{prefix}-{name}-{}.log",
            std::process::id()
        ));
        let sock = log.with_extension("sock");
        let agent = ns.spawn_logged(
            &[
                BIN,
                "run",
                "--node-name",
                name,
                "--config",
                config.to_str().unwrap(),
                "--admin-socket",
                sock.to_str().unwrap(),
            ],
            &log,
        );
        nodes.push((ns, agent, log));
    }
    let frr = Frr::start(&router, &conf, None);
    let check = || {
        for (_, v4, _) in ex.nodes {
            frr.wait_established(v4, DEADLINE);
        }
        for (prefix, hops) in ex.want_v4 {
            wait_next_hops(&frr, prefix, hops);
        }
        let mut want: Vec<&str> = ex.want_v4.iter().map(|(p, _)| *p).collect();
        want.sort_unstable();
        assert_eq!(frr.prefixes_v4(), want, "{}", ex.dir);
        for (prefix, hops) in ex.want_v6 {
            let want: BTreeSet<String> = hops.iter().map(|s| s.to_string()).collect();
            wait_for(
                &format!("{}: router IPv6 paths for {prefix} via {want:?}", ex.dir),
                DEADLINE,
                || {
                    let have: BTreeSet<String> = frr
                        .rib_v6()
                        .get(*prefix)
                        .and_then(Value::as_array)
                        .map(|ps| {
                            ps.iter()
                                .filter_map(|p| p["nexthops"][0]["ip"].as_str())
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    (have == want).then_some(())
                },
            );
        }
        if ibgp {
            for (prefix, _) in ex.want_v4 {
                for p in frr.route_detail(prefix)["paths"].as_array().unwrap() {
                    assert!(p["locPrf"].is_u64(), "{}: {prefix}: {p}", ex.dir);
                }
            }
        }
    };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check));
    for (_, mut agent, log) in nodes {
        agent.stop();
        if r.is_err() {
            eprintln!(
                "--- {} agent log {} ---\n{}",
                ex.dir,
                log.display(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        let _ = std::fs::remove_file(&log);
    }
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}

/// The BGP examples under examples/ run unchanged (`metalroute run --config examples/DIR`,
/// their own addresses, ASNs, Nodes, Services and EndpointSlices), each against an FRR router:
/// the router's RIB holds exactly what examples/README.md documents.
#[test]
fn run_e2e_examples_unchanged() {
    if !prerequisites("run_e2e_examples_unchanged", common::FRR_BGP) {
        return;
    }
    let examples = [
        Example {
            dir: "bgp-basic",
            router_asn: 64501,
            router_v4: "10.0.0.1",
            router_v6: Some("2001:db8::1"),
            nodes: &[("worker-0", "10.0.0.10", Some("2001:db8::10"))],
            want_v4: &[("203.0.113.200/32", &["10.0.0.10"])],
            // dualStackAddressFamily: over the IPv4 session, next hop the node's IPv6 address.
            want_v6: &[("fc00:f853:ccd:e799::1/128", &["2001:db8::10"])],
        },
        Example {
            dir: "advanced-advertisement",
            router_asn: 64500,
            router_v4: "192.0.2.1",
            router_v6: None,
            nodes: &[
                ("worker-0", "192.0.2.11", None),
                ("worker-1", "192.0.2.12", None),
            ],
            want_v4: &[
                ("203.0.113.200/30", &["192.0.2.11", "192.0.2.12"]),
                ("203.0.113.200/32", &["192.0.2.11", "192.0.2.12"]),
                ("203.0.113.201/32", &["192.0.2.12"]),
            ],
            want_v6: &[],
        },
        Example {
            dir: "node-subset",
            router_asn: 64501,
            router_v4: "192.0.2.1",
            router_v6: None,
            nodes: &[
                ("nodea", "192.0.2.11", None),
                ("nodeb", "192.0.2.12", None),
                ("nodec", "192.0.2.13", None),
            ],
            want_v4: &[("4.4.4.100/32", &["192.0.2.11", "192.0.2.12"])],
            want_v6: &[],
        },
        Example {
            dir: "egress-service",
            router_asn: 64501,
            router_v4: "192.0.2.1",
            router_v6: None,
            nodes: &[
                ("worker-0", "192.0.2.11", None),
                ("worker-1", "192.0.2.12", None),
            ],
            want_v4: &[("172.19.0.100/32", &["192.0.2.12"])],
            want_v6: &[],
        },
    ];
    for (i, ex) in examples.iter().enumerate() {
        run_example(&format!("mre2ex{i}"), ex);
    }
}

/// TcpExt TCPMD5Failure of `ns` (segments dropped for a wrong MD5 signature).
fn md5_failures(ns: &Netns) -> u64 {
    let text = ns.exec_stdout(&["cat", "/proc/net/netstat"]);
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        panic!("no TcpExt in /proc/net/netstat: {text}");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "TCPMD5Failure")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no TCPMD5Failure counter: {names}"))
}

/// A Secret of type kubernetes.io/basic-auth with key `password`, in MetalLB's namespace.
fn md5_secret(password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{namespace: metallb-system, name: bgp-md5}}\ntype: kubernetes.io/basic-auth\nstringData: {{password: \"{password}\"}}\n"
    )
}

/// TCP MD5 from `passwordSecret` against FRR's `neighbor X password`: with the Secret node-1's
/// session comes up and announces; node-2 has no Secret yet, so its BGPPeer is held (never a
/// session without the password) until the Secret appears; a changed password resets node-1's
/// session, which stays down while the router still has the old one (and its routes go); the
/// password never shows in logs or `metalroute show`.
#[test]
fn run_e2e_password_secret_md5() {
    if !prerequisites("run_e2e_password_secret_md5", common::FRR_BGP) {
        return;
    }
    const PASSWORD: &str = "md5-Secret-42";
    let router = EBGP_ROUTER
        .replace(
            " neighbor 192.0.2.11 timers connect 1\n",
            &format!(
                " neighbor 192.0.2.11 timers connect 1\n neighbor 192.0.2.11 password {PASSWORD}\n"
            ),
        )
        .replace(
            " neighbor 192.0.2.12 timers connect 1\n",
            &format!(
                " neighbor 192.0.2.12 timers connect 1\n neighbor 192.0.2.12 password {PASSWORD}\n"
            ),
        );
    let mut lab = lab("mre2em", &router, None);
    let peer = format!("{PEER}  passwordSecret: {{name: bgp-md5}}\n");
    for n in &mut lab.nodes {
        n.write("00-base.yaml", BASE);
        n.write("01-peer.yaml", &peer);
        n.write(
            "10-cluster.yaml",
            &service("web", "203.0.113.10", "Cluster", "node-1"),
        );
    }
    lab.nodes[0].write("02-secret.yaml", &md5_secret(PASSWORD));
    for n in &mut lab.nodes {
        n.start_agent();
    }
    let frr = &lab.frr;
    frr.wait_established("192.0.2.11", DEADLINE);
    wait_next_hops(frr, "203.0.113.10/32", &["192.0.2.11"]);
    // node-2: held, no session at all (not a passwordless one).
    let plan = lab.nodes[1].show(&["plan"]);
    assert!(plan.contains("bgp-md5"), "{plan}");
    let js: Value = lab.nodes[1].show_json(&["bgp", "summary"]);
    assert!(
        js["vrfs"]["default"]["peers"]["192.0.2.1"].is_null(),
        "a session without its Secret: {js}"
    );
    assert_ne!(
        frr.bgp_neighbor_state("192.0.2.12").as_deref(),
        Some("Established")
    );

    // The Secret appears on node-2: its session comes up with the password.
    lab.nodes[1].write("02-secret.yaml", &md5_secret(PASSWORD));
    frr.wait_established("192.0.2.12", DEADLINE);
    wait_next_hops(frr, "203.0.113.10/32", &["192.0.2.11", "192.0.2.12"]);

    // A new password on node-1 only: its session is reset and cannot come back.
    lab.nodes[0].write("02-secret.yaml", &md5_secret("another-Secret-7"));
    wait_next_hops(frr, "203.0.113.10/32", &["192.0.2.12"]);
    let before = md5_failures(&lab.router);
    wait_for(
        "the router's kernel drops node-1's segments for a bad MD5 signature",
        DEADLINE,
        || (md5_failures(&lab.router) > before).then_some(()),
    );
    assert_ne!(
        frr.bgp_neighbor_state("192.0.2.11").as_deref(),
        Some("Established"),
        "a session with the wrong MD5 password came up"
    );

    // The password never shows.
    for n in &lab.nodes {
        for args in [
            &["plan"][..],
            &["bgp", "neighbors"][..],
            &["bgp", "summary", "--json"][..],
            &["plan", "--json"][..],
        ] {
            let out = n.show(args);
            assert!(
                !out.contains(PASSWORD) && !out.contains("another-Secret-7"),
                "show {args:?} printed a password: {out}"
            );
        }
        let log = std::fs::read_to_string(n.log()).unwrap();
        assert!(
            !log.contains(PASSWORD) && !log.contains("another-Secret-7"),
            "the log has a password: {log}"
        );
    }
}
