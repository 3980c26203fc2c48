//! End-to-end test of BFD on an unnumbered BGPPeer (`spec.interface` + `spec.bfdProfile`)
//! through `metalroute run`: the node and the router share a veth with nothing but IPv6
//! link-local addresses; FRR runs `neighbor to-node interface remote-as external` with
//! `neighbor to-node bfd profile fast`, as a MetalLB user's router would for FRR's
//! `neighbor eth0 interface bfd`.
//!
//! The agent must run a single-hop BFD session between the two link-local addresses once the
//! router is discovered, show it in `show bfd peers` and the metrics, hold the peer's routes
//! back until BFD is Up, and when BFD fails (nftables drops UDP 3784 on the node; BGP's TCP
//! keeps flowing) close the BGP session with Cease / BFD Down and keep the routes withdrawn while
//! BFD stays down; restoring the link brings BFD and the routes back. When the router's
//! link-local address changes, the BFD session moves to the new one.

#[allow(dead_code)]
mod common;

use common::{Node, DEADLINE};
use metalroute_netns::{ip_json, prerequisites, wait_for, Frr, Need, Netns};
use serde_json::Value;
use std::net::Ipv6Addr;
use std::time::Duration;

const ROUTER: &str = "frr defaults traditional\nhostname router\n!\nrouter bgp 64501\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n bgp log-neighbor-changes\n neighbor to-node interface remote-as external\n neighbor to-node timers connect 1\n neighbor to-node bfd profile fast\n address-family ipv6 unicast\n  neighbor to-node activate\n exit-address-family\n";
/// The router's BFD profile: 100 ms, multiplier 3 (the node detects a cut after 300 ms).
const ROUTER_BFDD: &str = "bfd\n profile fast\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n !\n!\n";

/// The node's BFDProfile: 100 ms with multiplier 10, so the router's own detection takes ~1 s
/// and the node's Cease / BFD Down is what closes the session.
const CONFIG: &str = r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: web}
spec:
  addresses: ["2001:db8:100::/124"]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: web}
spec:
  ipAddressPools: [web]
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {namespace: metallb-system, name: fast}
spec: {receiveInterval: 100, transmitInterval: 100, detectMultiplier: 10}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: tor}
spec:
  interface: to-router
  peerASN: 64501
  myASN: 64500
  routerID: 192.0.2.11
  connectTime: 1s
  bfdProfile: fast
---
apiVersion: v1
kind: Service
metadata: {namespace: default, name: web6}
spec:
  type: LoadBalancer
  ports: [{port: 8080, protocol: TCP}]
status:
  loadBalancer:
    ingress: [{ip: "2001:db8:100::1"}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: default
  name: web6-1
  labels: {kubernetes.io/service-name: web6}
addressType: IPv6
endpoints:
  - addresses: ["fd00::5"]
    nodeName: node-1
    conditions: {ready: true}
ports: [{port: 8080, protocol: TCP}]
"#;

const PREFIX: &str = "2001:db8:100::1/128";

/// The IPv6 link-local address of `ifname` in `ns`.
fn link_local(ns: &Netns, ifname: &str) -> Ipv6Addr {
    wait_for(&format!("{ifname} link-local address"), DEADLINE, || {
        let v = ip_json(ns, &["-6", "addr", "show", "dev", ifname, "scope", "link"]);
        v.as_array()?
            .iter()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .find_map(|a| a["local"].as_str()?.parse().ok())
    })
}

fn router_has(frr: &Frr, prefix: &str) -> bool {
    !common::rib_paths(frr, prefix).is_empty()
}

/// The router's BFD session with the node's link-local address, if bfdd has one.
fn router_bfd_peer(frr: &Frr, node_ll: Ipv6Addr) -> Option<Value> {
    frr.bfd_peers()
        .as_array()?
        .iter()
        .find(|p| p["peer"].as_str() == Some(&node_ll.to_string()))
        .cloned()
}

#[test]
fn run_unnumbered_bfd_link_local_session_gates_routes_and_resets_bgp() {
    if !prerequisites(
        "run_unnumbered_bfd_link_local_session_gates_routes_and_resets_bgp",
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
    let router = Netns::new("munbr");
    let ns = Netns::new("munbn");
    metalroute_netns::veth(&ns, "to-router", &router, "to-node");
    ns.exec(&["ip", "link", "set", "lo", "up"]);
    metalroute_netns::addr(&ns, "lo", "2001:db8:100::1/128");
    let node_ll = link_local(&ns, "to-router");
    let router_ll = link_local(&router, "to-node");

    let mut node = Node::new(ns, "node-1", "unnumbered-bfd");
    node.write("00-config.yaml", CONFIG);
    let frr = Frr::start(&router, ROUTER, Some(ROUTER_BFDD));
    node.start_agent();

    frr.wait_established("to-node", DEADLINE);
    let p = wait_for(
        "the router's BFD session with the node is up",
        DEADLINE,
        || router_bfd_peer(&frr, node_ll).filter(|p| p["status"] == "up"),
    );
    assert_eq!(p["interface"].as_str(), Some("to-node"), "router: {p}");
    wait_for("the router has the Service's /128", DEADLINE, || {
        router_has(&frr, PREFIX).then_some(())
    });

    // `show bfd peers`: one session between the link-local addresses, for BGPPeer tor.
    let js = node.show_json(&["bfd", "peers"]);
    let s = &js["peers"][0];
    assert_eq!(js["peers"].as_array().map(Vec::len), Some(1), "{js}");
    assert_eq!(s["status"], "up", "{js}");
    assert_eq!(s["bgpPeer"], "tor", "{js}");
    assert_eq!(s["peer"], router_ll.to_string(), "{js}");
    assert_eq!(s["local"], node_ll.to_string(), "{js}");
    assert_eq!(s["multihop"], false, "{js}");
    assert_eq!(s["interface"], "to-router", "{js}");
    assert_eq!(s["echo"], "off", "no echoMode in the profile: {js}");
    let text = node.show(&["bfd", "peers"]);
    assert!(
        text.contains(&format!(
            "peer {router_ll} local-address {node_ll} interface to-router"
        )),
        "{text}"
    );
    let m = node.http_get("/metrics");
    assert!(
        m.contains(&format!(
            "metallb_bfd_session_up{{peer=\"{router_ll}\",vrf=\"\"}} 1"
        )),
        "{m}"
    );
    let established = |frr: &Frr| {
        frr.vtysh_json("show bgp neighbors to-node json")["to-node"]["connectionsEstablished"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = established(&frr);

    // Cut BFD only (both directions on the node); BGP's TCP keeps flowing.
    node.ns.sh("nft add table inet bfdcut && nft add chain inet bfdcut in '{ type filter hook input priority 0; }' && nft add chain inet bfdcut out '{ type filter hook output priority 0; }' && nft add rule inet bfdcut in udp dport 3784 drop && nft add rule inet bfdcut out udp dport 3784 drop");
    let n = wait_for(
        "the router received the node's Cease/BFD Down",
        Duration::from_secs(15),
        || {
            let n = frr.vtysh_json("show bgp neighbors to-node json");
            (n["to-node"]["lastNotificationReason"] == "Cease/BFD Down").then_some(n)
        },
    );
    assert_eq!(
        n["to-node"]["lastResetDueTo"].as_str(),
        Some("BGP Notification received"),
        "the node's NOTIFICATION closed the session: {n}"
    );
    wait_for(
        "the router withdrew the /128",
        Duration::from_secs(15),
        || (!router_has(&frr, PREFIX)).then_some(()),
    );
    // BGP comes back over the working TCP path, but the gate keeps the routes away while BFD
    // is down.
    wait_for("BGP re-established after the reset", DEADLINE, || {
        (established(&frr) > before).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !router_has(&frr, PREFIX),
        "no routes while the node's BFD session is down"
    );
    let js = node.show_json(&["bfd", "peers"]);
    assert_eq!(js["peers"].as_array().map(Vec::len), Some(1), "{js}");
    assert_ne!(js["peers"][0]["status"], "up", "{js}");

    node.ns.sh("nft delete table inet bfdcut");
    wait_for("BFD back up on the node", DEADLINE, || {
        (node.show_json(&["bfd", "peers"])["peers"][0]["status"] == "up").then_some(())
    });
    wait_for("the router has the /128 again", DEADLINE, || {
        router_has(&frr, PREFIX).then_some(())
    });
    let m = node.http_get("/metrics");
    assert!(
        m.contains(&format!(
            "metallb_bfd_session_down_events{{peer=\"{router_ll}\",vrf=\"\"}} 1"
        )),
        "{m}"
    );

    // The router's link-local address changes (new address, old one removed): the speaker
    // learns the new one from the router's Router Advertisements and the BFD session moves to
    // it — one session, to the new address, Up, and the route back at the router.
    let moved: Ipv6Addr = "fe80::99".parse().unwrap();
    router.exec(&["ip", "-6", "addr", "add", "fe80::99/64", "dev", "to-node"]);
    router.exec(&[
        "ip",
        "-6",
        "addr",
        "del",
        &format!("{router_ll}/64"),
        "dev",
        "to-node",
    ]);
    wait_for(
        "the BFD session moved to the router's new address and is Up",
        DEADLINE,
        || {
            let js = node.show_json(&["bfd", "peers"]);
            let peers = js["peers"].as_array()?;
            (peers.len() == 1
                && peers[0]["peer"] == moved.to_string()
                && peers[0]["status"] == "up")
                .then_some(())
        },
    );
    wait_for("the router has the /128 after the move", DEADLINE, || {
        router_has(&frr, PREFIX).then_some(())
    });
}
