//! End-to-end tests of `metalroute run` with IPv6: IPv6 BGP sessions, IPv6 and dual-stack
//! Services, and `dualStackAddressFamily` (IPv6 prefixes over an IPv4 session). A router
//! namespace runs FRR; two node namespaces run the built `metalroute` binary
//! (`CARGO_BIN_EXE_metalroute`); a client behind the router checks that traffic to the service
//! IPs reaches the nodes the router learned.
//!
//! ```text
//!  client 198.51.100.2     ── router (FRR, AS 64501) br0 192.0.2.1/24, 2001:db8::1/64
//!         2001:db8:c::2/64                    ├── node-1 192.0.2.11, 2001:db8::11 (metalroute, AS 64500)
//!                                             └── node-2 192.0.2.12, 2001:db8::12 (metalroute, AS 64500)
//! ```
//!
//! Each node holds the LoadBalancer IPs on `lo` (as kube-proxy would) and runs a TCP responder
//! on `[::]:8080` (IPv4 and IPv6) answering its node name.

#[allow(dead_code)]
mod common;

use common::{set, who_answers, Node, BIN, DEADLINE};
use metalroute_netns::{
    addr, drop_packets, prerequisites, restore_packets, route, terminate, veth, wait_for, Frr,
    Need, Netns,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// The prerequisites of every test here.
const NEEDS: &[Need] = common::FRR_BGP;

/// The nodes' addresses on the shared LAN: (IPv4, IPv6).
const NODES: [(&str, &str); 2] = [
    ("192.0.2.11", "2001:db8::11"),
    ("192.0.2.12", "2001:db8::12"),
];

/// The LoadBalancer IPs every node holds on `lo`.
const LB_IPS: &[&str] = &[
    "203.0.113.20/32",
    "2001:db8:5::10/128",
    "2001:db8:5::11/128",
    "2001:db8:5::90/128",
];

/// An IPv6-only pool, a dual-stack pool (as in MetalLB, a dual-stack Service takes both its
/// IPs from one pool: IPs from two pools are `ipNotAllowed`), and one advertisement with a
/// community for both.
const POOLS: &str = r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: v6}
spec:
  addresses: ["2001:db8:5::/121"]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: dual}
spec:
  addresses: [203.0.113.16/28, "2001:db8:5::80/121"]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: hosts}
spec:
  ipAddressPools: [v6, dual]
  communities: ["8000:800"]
"#;

/// A BGPPeer of the nodes.
fn peer(name: &str, address: &str, dual_stack: bool) -> String {
    format!(
        r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{namespace: metallb-system, name: {name}}}
spec:
  peerAddress: "{address}"
  peerASN: 64501
  myASN: 64500
  connectTime: 1s
  dualStackAddressFamily: {dual_stack}
"#
    )
}

/// A LoadBalancer Service holding `ips` with one EndpointSlice per address family, whose one
/// ready endpoint runs on `ep_node`.
fn service(name: &str, ips: &[&str], etp: &str, ep_node: &str) -> String {
    let v4: Vec<&str> = ips.iter().copied().filter(|i| !i.contains(':')).collect();
    let v6: Vec<&str> = ips.iter().copied().filter(|i| i.contains(':')).collect();
    let mut families = Vec::new();
    if !v4.is_empty() {
        families.push("IPv4");
    }
    if !v6.is_empty() {
        families.push("IPv6");
    }
    let policy = if families.len() == 2 {
        "RequireDualStack"
    } else {
        "SingleStack"
    };
    let ingress: Vec<String> = ips.iter().map(|ip| format!("{{ip: \"{ip}\"}}")).collect();
    let mut out = format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{namespace: default, name: {name}}}
spec:
  type: LoadBalancer
  externalTrafficPolicy: {etp}
  ipFamilyPolicy: {policy}
  ipFamilies: [{families}]
  ports: [{{port: 8080, protocol: TCP}}]
status:
  loadBalancer:
    ingress: [{ingress}]
"#,
        families = families.join(", "),
        ingress = ingress.join(", ")
    );
    for family in families {
        let (suffix, endpoint) = if family == "IPv4" {
            ("v4", "10.244.0.5")
        } else {
            ("v6", "fd00:10:244::5")
        };
        out.push_str(&format!(
            r#"---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: default
  name: {name}-{suffix}
  labels: {{kubernetes.io/service-name: {name}}}
addressType: {family}
endpoints:
  - addresses: ["{endpoint}"]
    nodeName: {ep_node}
    conditions: {{ready: true}}
ports: [{{port: 8080, protocol: TCP}}]
"#
        ));
    }
    out
}

struct Lab {
    router: Netns,
    client: Netns,
    frr: Frr,
    nodes: Vec<Node>,
}

/// The router (bridge with both families, forwarding on, ECMP hashing on ports), the client
/// and two nodes with their LB IPs and responders; FRR started with `bgpd_conf`.
fn lab(prefix: &str, bgpd_conf: &str) -> Lab {
    lab_inner(prefix, bgpd_conf, None)
}

/// [`lab`] with FRR's bfdd started with `bfdd_conf`.
fn lab_with_bfd(prefix: &str, bgpd_conf: &str, bfdd_conf: &str) -> Lab {
    lab_inner(prefix, bgpd_conf, Some(bfdd_conf))
}

fn lab_inner(prefix: &str, bgpd_conf: &str, bfdd_conf: Option<&str>) -> Lab {
    let router = Netns::new(&format!("{prefix}r"));
    let client = Netns::new(&format!("{prefix}c"));
    common::router_lan(&router, true);
    common::client_link(&router, &client);
    addr(&client, "eth0", "2001:db8:c::2/64");
    addr(&router, "c0", "2001:db8:c::1/64");
    route(&client, "default via 2001:db8:c::1");
    let mut nodes = Vec::new();
    for (i, (v4, v6)) in NODES.iter().enumerate() {
        let i = i + 1;
        let ns = common::lan_node(&router, prefix, i);
        addr(&ns, "eth0", &format!("{v4}/24"));
        addr(&ns, "eth0", &format!("{v6}/64"));
        route(&ns, "default via 192.0.2.1");
        route(&ns, "default via 2001:db8::1");
        for ip in LB_IPS {
            addr(&ns, "lo", ip);
        }
        let name = format!("node-{i}");
        nodes.push(Node::with_responder(
            ns,
            &name,
            &format!("e2e6-{prefix}-{name}"),
            "[::]:8080",
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

/// The paths the router holds for `prefix`: (next hop, peer the path was learned from).
fn paths(frr: &Frr, prefix: &str) -> BTreeSet<(String, String)> {
    common::rib_paths(frr, prefix)
        .iter()
        .map(|p| {
            (
                p["nexthops"][0]["ip"].as_str().unwrap_or("?").to_string(),
                p["peerId"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

/// Waits until the router's paths for `prefix` are exactly `want` (next hop, learned from).
fn wait_paths(frr: &Frr, prefix: &str, want: &[(&str, &str)]) {
    let want: BTreeSet<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    wait_for(
        &format!("router paths for {prefix}: {want:?}"),
        DEADLINE,
        || (paths(frr, prefix) == want).then_some(()),
    );
}

/// Checks every path of `prefix` at the router: AS_PATH `64500`, community 8000:800, origin
/// IGP, valid.
fn assert_attributes(frr: &Frr, prefix: &str) {
    let d = frr.route_detail(prefix);
    let ps = d["paths"].as_array().cloned().unwrap_or_default();
    assert!(!ps.is_empty(), "{prefix}: no paths: {d}");
    for p in ps {
        assert_eq!(
            p["aspath"]["string"].as_str(),
            Some("64500"),
            "{prefix}: {p}"
        );
        assert_eq!(
            p["community"]["string"].as_str(),
            Some("8000:800"),
            "{prefix}: {p}"
        );
        assert_eq!(p["origin"].as_str(), Some("IGP"), "{prefix}: {p}");
        assert_eq!(p["valid"], true, "{prefix}: {p}");
    }
}

/// Waits until the router's kernel FIB holds `n` next hops for `ip` (ECMP installed).
fn wait_fib(router: &Netns, ip: &str, n: usize) {
    let family = if ip.contains(':') { "-6" } else { "-4" };
    wait_for(
        &format!("router FIB has {n} next hop(s) for {ip}"),
        DEADLINE,
        || {
            let r = router.exec_stdout(&["ip", family, "route", "show", ip]);
            let hops = if n == 1 {
                usize::from(r.contains(" via "))
            } else {
                r.matches("nexthop").count()
            };
            (hops == n).then_some(())
        },
    );
}

/// The router's configuration: every node address (IPv4 and IPv6) is a neighbor, and every
/// neighbor is activated for BOTH address families, so a prefix sent over the wrong session
/// would show up at the router (as a path learned from that session).
fn router_all_families() -> String {
    let mut c = String::from(
        "router bgp 64501\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n",
    );
    let all: Vec<&str> = NODES.iter().flat_map(|(a, b)| [*a, *b]).collect();
    for n in &all {
        c.push_str(&format!(
            " neighbor {n} remote-as 64500\n neighbor {n} timers connect 1\n"
        ));
    }
    for af in ["ipv4", "ipv6"] {
        c.push_str(&format!(
            " address-family {af} unicast\n  maximum-paths 8\n"
        ));
        for n in &all {
            c.push_str(&format!("  neighbor {n} activate\n"));
        }
        c.push_str(" exit-address-family\n");
    }
    c
}

/// An IPv4 and an IPv6 BGPPeer per node (no dualStackAddressFamily): a single-stack IPv6
/// Service (Cluster) is announced over the IPv6 sessions only, as a /128 with the nodes' IPv6
/// next hops and the advertisement's community; a dual-stack Service (Local, endpoint on
/// node-2) gets its IPv4 IP over node-2's IPv4 session and its IPv6 IP over node-2's IPv6
/// session; the client reaches both over IPv6 through the router (ECMP for Cluster); moving
/// the endpoint moves both announcements; SIGTERM withdraws everything from both families.
#[test]
fn run_e2e_ipv6_sessions_single_and_dual_stack_services() {
    if !prerequisites(
        "run_e2e_ipv6_sessions_single_and_dual_stack_services",
        NEEDS,
    ) {
        return;
    }
    let mut lab = lab("mre6s", &router_all_families());
    for n in &mut lab.nodes {
        n.write("00-pools.yaml", POOLS);
        n.write("01-peer-v4.yaml", &peer("router-v4", "192.0.2.1", false));
        n.write("02-peer-v6.yaml", &peer("router-v6", "2001:db8::1", false));
        n.write(
            "10-v6only.yaml",
            &service("v6only", &["2001:db8:5::10"], "Cluster", "node-1"),
        );
        n.write(
            "11-dual.yaml",
            &service(
                "dual",
                &["203.0.113.20", "2001:db8:5::90"],
                "Local",
                "node-2",
            ),
        );
        n.start_agent();
    }
    let frr = &lab.frr;
    for (v4, v6) in NODES {
        frr.wait_established(v4, DEADLINE);
        frr.wait_established(v6, DEADLINE);
    }
    // The single-stack IPv6 Service: both nodes, over their IPv6 sessions only.
    wait_paths(
        frr,
        "2001:db8:5::10/128",
        &[
            ("2001:db8::11", "2001:db8::11"),
            ("2001:db8::12", "2001:db8::12"),
        ],
    );
    // The dual-stack Local Service: node-2 only, each IP over its own family's session.
    wait_paths(
        frr,
        "2001:db8:5::90/128",
        &[("2001:db8::12", "2001:db8::12")],
    );
    wait_paths(frr, "203.0.113.20/32", &[("192.0.2.12", "192.0.2.12")]);
    assert_eq!(
        frr.prefixes_v6(),
        vec!["2001:db8:5::10/128", "2001:db8:5::90/128"]
    );
    assert_eq!(frr.prefixes_v4(), vec!["203.0.113.20/32"]);
    for p in [
        "2001:db8:5::10/128",
        "2001:db8:5::90/128",
        "203.0.113.20/32",
    ] {
        assert_attributes(frr, p);
    }

    // What the agents say.
    let adv = lab.nodes[1].show(&["bgp", "advertised", "router-v6"]);
    assert!(
        adv.contains("2001:db8:5::10/128") && adv.contains("2001:db8:5::90/128"),
        "{adv}"
    );
    assert!(!adv.contains("203.0.113.20"), "{adv}");
    let plan = lab.nodes[0].show(&["plan"]);
    assert!(plan.contains("noLocalEndpoints"), "{plan}");
    let m = lab.nodes[0].http_get("/metrics");
    assert!(
        m.contains("metallb_bgp_session_up{peer=\"2001:db8::1\",vrf=\"\"} 1"),
        "{m}"
    );

    // Traffic over IPv6 through the router: ECMP for Cluster, node-2 only for Local.
    wait_fib(&lab.router, "2001:db8:5::10", 2);
    assert_eq!(
        who_answers(&lab.client, "2001:db8:5::10", 40),
        set(&["node-1", "node-2"]),
        "ECMP over both nodes for the IPv6 Cluster service"
    );
    wait_fib(&lab.router, "2001:db8:5::90", 1);
    assert_eq!(
        who_answers(&lab.client, "2001:db8:5::90", 10),
        set(&["node-2"]),
        "IPv6 of the dual-stack Local service only via node-2"
    );
    assert_eq!(
        who_answers(&lab.client, "203.0.113.20", 10),
        set(&["node-2"]),
        "IPv4 of the dual-stack Local service only via node-2"
    );

    // Moving the dual-stack Service's endpoint to node-1 moves both families' announcements.
    for n in &lab.nodes {
        n.write(
            "11-dual.yaml",
            &service(
                "dual",
                &["203.0.113.20", "2001:db8:5::90"],
                "Local",
                "node-1",
            ),
        );
    }
    wait_paths(
        frr,
        "2001:db8:5::90/128",
        &[("2001:db8::11", "2001:db8::11")],
    );
    wait_paths(frr, "203.0.113.20/32", &[("192.0.2.11", "192.0.2.11")]);

    // SIGTERM on node-1: both of its sessions close and its routes of both families go.
    let agent = lab.nodes[0].agent.as_mut().unwrap();
    let st = terminate(agent, Duration::from_secs(20));
    assert!(st.success(), "agent exit status {st}");
    wait_paths(
        frr,
        "2001:db8:5::10/128",
        &[("2001:db8::12", "2001:db8::12")],
    );
    wait_paths(frr, "2001:db8:5::90/128", &[]);
    wait_paths(frr, "203.0.113.20/32", &[]);
}

/// `dualStackAddressFamily: true` on the only BGPPeer, an IPv4 one: the IPv4 session carries
/// the IPv6 prefixes too (multiprotocol, RFC 4760), with the node's global IPv6 address on the
/// session's interface as next hop, so the router can forward to it. Both host routes and an
/// aggregationLength / aggregationLengthV6 aggregate arrive with their communities; the client
/// reaches the IPv6 service IP through the router; removing the IPv6 Service withdraws its /128
/// and the aggregate only when no Service in it is left.
#[test]
fn run_e2e_dual_stack_address_family_over_one_ipv4_session() {
    if !prerequisites(
        "run_e2e_dual_stack_address_family_over_one_ipv4_session",
        NEEDS,
    ) {
        return;
    }
    // The router knows only the IPv4 addresses, activated for both families.
    let mut router =
        String::from("router bgp 64501\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n");
    for (v4, _) in NODES {
        router.push_str(&format!(
            " neighbor {v4} remote-as 64500\n neighbor {v4} timers connect 1\n"
        ));
    }
    for af in ["ipv4", "ipv6"] {
        router.push_str(&format!(
            " address-family {af} unicast\n  maximum-paths 8\n"
        ));
        for (v4, _) in NODES {
            router.push_str(&format!("  neighbor {v4} activate\n"));
        }
        router.push_str(" exit-address-family\n");
    }
    let mut lab = lab("mre6d", &router);
    let aggregate = r#"
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: aggregate}
spec:
  ipAddressPools: [v6, dual]
  communities: ["8000:801"]
  aggregationLength: 30
  aggregationLengthV6: 124
"#;
    for n in &mut lab.nodes {
        n.write("00-pools.yaml", POOLS);
        n.write("01-aggregate.yaml", aggregate);
        n.write("02-peer.yaml", &peer("router", "192.0.2.1", true));
        n.write(
            "10-v6only.yaml",
            &service("v6only", &["2001:db8:5::10"], "Cluster", "node-1"),
        );
        n.write(
            "11-v6b.yaml",
            &service("v6b", &["2001:db8:5::11"], "Cluster", "node-2"),
        );
        n.write(
            "12-dual.yaml",
            &service(
                "dual",
                &["203.0.113.20", "2001:db8:5::90"],
                "Cluster",
                "node-2",
            ),
        );
        n.start_agent();
    }
    let frr = &lab.frr;
    for (v4, _) in NODES {
        frr.wait_established(v4, DEADLINE);
    }
    let both_v6 = [
        ("2001:db8::11", "192.0.2.11"),
        ("2001:db8::12", "192.0.2.12"),
    ];
    let both_v4 = [("192.0.2.11", "192.0.2.11"), ("192.0.2.12", "192.0.2.12")];
    for p in [
        "2001:db8:5::10/128",
        "2001:db8:5::11/128",
        "2001:db8:5::90/128",
        "2001:db8:5::10/124",
        "2001:db8:5::90/124",
    ] {
        wait_paths(frr, p, &both_v6);
    }
    wait_paths(frr, "203.0.113.20/32", &both_v4);
    wait_paths(frr, "203.0.113.20/30", &both_v4);
    assert_eq!(
        frr.prefixes_v6(),
        vec![
            "2001:db8:5::10/124",
            "2001:db8:5::10/128",
            "2001:db8:5::11/128",
            "2001:db8:5::90/124",
            "2001:db8:5::90/128"
        ]
    );
    assert_eq!(
        frr.prefixes_v4(),
        vec!["203.0.113.20/30", "203.0.113.20/32"]
    );
    for p in [
        "2001:db8:5::10/128",
        "2001:db8:5::90/128",
        "203.0.113.20/32",
    ] {
        assert_attributes(frr, p);
    }
    for p in [
        "2001:db8:5::10/124",
        "2001:db8:5::90/124",
        "203.0.113.20/30",
    ] {
        let d = frr.route_detail(p);
        for path in d["paths"].as_array().unwrap() {
            assert_eq!(
                path["community"]["string"].as_str(),
                Some("8000:801"),
                "{p}: {path}"
            );
        }
    }
    // One session per node carries both families.
    let js: Value = lab.nodes[0].show_json(&["bgp", "summary"]);
    assert_eq!(
        js["vrfs"]["default"]["peers"]["192.0.2.1"]["state"], "Established",
        "{js}"
    );
    let n = frr.vtysh_json("show bgp neighbors 192.0.2.11 json");
    let afs = &n["192.0.2.11"]["neighborCapabilities"]["multiprotocolExtensions"];
    assert_eq!(afs["ipv4Unicast"]["advertisedAndReceived"], true, "{n}");
    assert_eq!(afs["ipv6Unicast"]["advertisedAndReceived"], true, "{n}");

    // Traffic to the IPv6 service IP learned over IPv4 sessions.
    wait_fib(&lab.router, "2001:db8:5::10", 2);
    assert_eq!(
        who_answers(&lab.client, "2001:db8:5::10", 40),
        set(&["node-1", "node-2"]),
        "ECMP over both nodes for an IPv6 prefix learned over IPv4 sessions"
    );

    // The /124 aggregate stays while a Service in it still qualifies.
    for n in &lab.nodes {
        std::fs::remove_file(n.dir.join("10-v6only.yaml")).unwrap();
    }
    wait_paths(frr, "2001:db8:5::10/128", &[]);
    assert_eq!(paths(frr, "2001:db8:5::10/124").len(), 2);
    for n in &lab.nodes {
        std::fs::remove_file(n.dir.join("11-v6b.yaml")).unwrap();
    }
    wait_paths(frr, "2001:db8:5::10/124", &[]);
    assert_eq!(
        frr.prefixes_v6(),
        vec!["2001:db8:5::90/124", "2001:db8:5::90/128"]
    );
}

/// An IPv6-only node has no IPv4 address to take a BGP identifier from: the BGPPeer is
/// reported as not running (`metalroute show bgp summary` says why) and nothing reaches the
/// router; setting `routerID` in the BGPPeer brings the session up with that identifier and
/// the /128 is announced over IPv6.
#[test]
fn run_e2e_ipv6_only_node_needs_a_router_id() {
    if !prerequisites("run_e2e_ipv6_only_node_needs_a_router_id", NEEDS) {
        return;
    }
    let router = Netns::new("mre6or");
    let ns = Netns::new("mre6on");
    veth(&ns, "eth0", &router, "n1");
    addr(&router, "n1", "2001:db8::1/64");
    addr(&ns, "eth0", "2001:db8::11/64");
    addr(&ns, "lo", "2001:db8:5::10/128");
    let frr = Frr::start(
        &router,
        "router bgp 64501\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n neighbor 2001:db8::11 remote-as 64500\n neighbor 2001:db8::11 timers connect 1\n address-family ipv6 unicast\n  neighbor 2001:db8::11 activate\n exit-address-family\n",
        None,
    );
    let mut node = Node::new(ns, "node-1", "e2e6-only");
    node.write("00-pools.yaml", POOLS);
    node.write("01-peer.yaml", &peer("router-v6", "2001:db8::1", false));
    node.write(
        "10-v6only.yaml",
        &service("v6only", &["2001:db8:5::10"], "Cluster", "node-1"),
    );
    node.start_agent();
    wait_for("the agent reports the peer it cannot run", DEADLINE, || {
        let out = std::process::Command::new(BIN)
            .args(["show", "bgp", "summary", "--admin-socket"])
            .arg(&node.sock)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("% BGPPeer router-v6 not running: no router ID")
            .then_some(())
    });
    assert_ne!(
        frr.bgp_neighbor_state("2001:db8::11").as_deref(),
        Some("Established")
    );
    assert!(frr.prefixes_v6().is_empty());

    node.write(
        "01-peer.yaml",
        &format!(
            "{}  routerID: 192.0.2.11\n",
            peer("router-v6", "2001:db8::1", false)
        ),
    );
    frr.wait_established("2001:db8::11", DEADLINE);
    wait_paths(
        &frr,
        "2001:db8:5::10/128",
        &[("2001:db8::11", "2001:db8::11")],
    );
    let n = frr.vtysh_json("show bgp neighbors 2001:db8::11 json");
    assert_eq!(n["2001:db8::11"]["remoteRouterId"], "192.0.2.11", "{n}");
    let summary = node.show(&["bgp", "summary"]);
    assert!(!summary.contains("not running"), "{summary}");
}

/// BFD over IPv6: a BGPPeer to the router's IPv6 address with a BFDProfile, against FRR's
/// bfdd. The /128 reaches the router once BFD is Up on both sides; dropping node-1's IPv6
/// packets to the router takes its BGP session down through BFD (0.9 s detection, not the
/// 90 s hold time) and its path with it; restoring them brings everything back.
#[test]
fn run_e2e_ipv6_bfd_profile_link_cut_withdraws() {
    if !prerequisites(
        "run_e2e_ipv6_bfd_profile_link_cut_withdraws",
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
    let mut router = String::from(
        "router bgp 64501\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n",
    );
    let mut bfdd = String::from("bfd\n");
    for (_, v6) in NODES {
        router.push_str(&format!(
            " neighbor {v6} remote-as 64500\n neighbor {v6} timers connect 1\n neighbor {v6} bfd\n"
        ));
        bfdd.push_str(&format!(
            " peer {v6} local-address 2001:db8::1\n  receive-interval 300\n  transmit-interval 300\n  no shutdown\n !\n"
        ));
    }
    router.push_str(" address-family ipv6 unicast\n  maximum-paths 8\n");
    for (_, v6) in NODES {
        router.push_str(&format!("  neighbor {v6} activate\n"));
    }
    router.push_str(" exit-address-family\n");
    bfdd.push_str("!\n");
    let mut lab = lab_with_bfd("mre6b", &router, &bfdd);
    let profile = "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {namespace: metallb-system, name: fast}\nspec: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}\n";
    let peer = format!(
        "{}  bfdProfile: fast\n",
        peer("router-v6", "2001:db8::1", false)
    );
    for n in &mut lab.nodes {
        n.write("00-pools.yaml", POOLS);
        n.write("01-peer.yaml", &peer);
        n.write("02-bfd.yaml", profile);
        n.write(
            "10-v6only.yaml",
            &service("v6only", &["2001:db8:5::10"], "Cluster", "node-1"),
        );
        n.start_agent();
    }
    let frr = &lab.frr;
    let both = [
        ("2001:db8::11", "2001:db8::11"),
        ("2001:db8::12", "2001:db8::12"),
    ];
    wait_paths(frr, "2001:db8:5::10/128", &both);
    wait_for("router's IPv6 BFD sessions up", DEADLINE, || {
        let peers = frr.bfd_peers();
        let up = peers
            .as_array()?
            .iter()
            .filter(|p| p["status"] == "up" && p["peer"].as_str().is_some_and(|a| a.contains(':')))
            .count();
        (up == 2).then_some(())
    });
    let js: Value = lab.nodes[0].show_json(&["bfd", "peers"]);
    assert_eq!(js["peers"][0]["status"], "up", "{js}");
    assert_eq!(js["peers"][0]["bgpPeer"], "router-v6", "{js}");

    drop_packets(&lab.nodes[0].ns, "2001:db8::1".parse().unwrap());
    wait_for(
        "node-1's IPv6 path withdrawn through BFD",
        Duration::from_secs(20),
        || (paths(frr, "2001:db8:5::10/128") == set_of(&both[1..])).then_some(()),
    );
    restore_packets(&lab.nodes[0].ns);
    frr.wait_established("2001:db8::11", DEADLINE);
    wait_paths(frr, "2001:db8:5::10/128", &both);
}

fn set_of(v: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}
