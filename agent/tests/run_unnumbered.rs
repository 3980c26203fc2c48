//! End-to-end test of an unnumbered BGPPeer (`spec.interface`) through `metalroute run` in file
//! mode: the node and the router share a veth with nothing but IPv6 link-local addresses; FRR
//! runs `neighbor to-node interface remote-as external` as a MetalLB user's router would.
//!
//! ```text
//!  client 198.51.100.2 ── 198.51.100.1 router (FRR, AS 64501) to-node ── fe80::/64 only ── to-router node (metalroute, AS 64500)
//! ```
//!
//! The router must learn the node's IPv4 and IPv6 service IPs with the node's link-local
//! address as next hop (IPv4 via extended next hop, RFC 8950), install them, and forward a
//! client's IPv4 connection to the node over the link that has no IPv4 address at all.

#[allow(dead_code)]
mod common;

use common::{ask, Node, DEADLINE};
use metalroute_netns::{
    addr, ip_json, prerequisites, sysctl, terminate, veth, wait_for, Frr, Netns,
};
use serde_json::Value;
use std::net::Ipv6Addr;
use std::time::Duration;

const ROUTER: &str = "frr defaults traditional\nhostname router\n!\nrouter bgp 64501\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n bgp log-neighbor-changes\n neighbor to-node interface remote-as external\n neighbor to-node timers connect 1\n address-family ipv6 unicast\n  neighbor to-node activate\n exit-address-family\n";

const CONFIG: &str = r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: web}
spec:
  addresses: [203.0.113.0/28, "2001:db8:100::/124"]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: web}
spec:
  ipAddressPools: [web]
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
"#;

/// A LoadBalancer Service with one IP and a ready endpoint on node-1.
fn service(name: &str, ip: &str) -> String {
    let family = if ip.contains(':') { "IPv6" } else { "IPv4" };
    let ep = if ip.contains(':') {
        "fd00::5"
    } else {
        "10.244.0.5"
    };
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{namespace: default, name: {name}}}
spec:
  type: LoadBalancer
  ports: [{{port: 8080, protocol: TCP}}]
status:
  loadBalancer:
    ingress: [{{ip: "{ip}"}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: default
  name: {name}-1
  labels: {{kubernetes.io/service-name: {name}}}
addressType: {family}
endpoints:
  - addresses: ["{ep}"]
    nodeName: node-1
    conditions: {{ready: true}}
ports: [{{port: 8080, protocol: TCP}}]
"#
    )
}

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

/// The router's best path for `prefix`, if any.
fn path(frr: &Frr, prefix: &str) -> Option<Value> {
    common::rib_paths(frr, prefix).into_iter().next()
}

/// Whether zebra installed `prefix`.
fn installed(frr: &Frr, prefix: &str) -> bool {
    frr.zebra_routes(prefix.contains(':'))
        .get(prefix)
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|e| e["installed"] == Value::Bool(true)))
}

#[test]
fn run_unnumbered_bgppeer_interface_announces_ipv4_and_ipv6_over_link_local() {
    if !prerequisites(
        "run_unnumbered_bgppeer_interface_announces_ipv4_and_ipv6_over_link_local",
        common::FRR_BGP,
    ) {
        return;
    }
    let router = Netns::new("munr");
    let client = Netns::new("munc");
    let ns = Netns::new("munn");
    sysctl(&router, "net.ipv4.ip_forward", "1");
    common::client_link(&router, &client);
    // The node's link to the router: link-local addresses only.
    veth(&ns, "to-router", &router, "to-node");
    ns.exec(&["ip", "link", "set", "lo", "up"]);
    addr(&ns, "lo", "203.0.113.1/32");
    addr(&ns, "lo", "2001:db8:100::1/128");
    let node_ll = link_local(&ns, "to-router");
    let router_ll = link_local(&router, "to-node");

    let mut node = Node::with_responder(ns, "node-1", "unnumbered", "0.0.0.0:8080");
    node.write("00-config.yaml", CONFIG);
    node.write("10-web.yaml", &service("web", "203.0.113.1"));
    node.write("11-web6.yaml", &service("web6", "2001:db8:100::1"));
    let frr = Frr::start(&router, ROUTER, None);
    node.start_agent();

    frr.wait_established("to-node", DEADLINE);
    for p in ["203.0.113.1/32", "2001:db8:100::1/128"] {
        let best = wait_for(&format!("router has {p}"), DEADLINE, || path(&frr, p));
        let hops = best["nexthops"].as_array().cloned().unwrap_or_default();
        assert!(
            hops.iter()
                .any(|h| h["ip"].as_str() == Some(&node_ll.to_string())),
            "{p} via our link-local {node_ll}: {best}"
        );
        assert_eq!(best["path"].as_str(), Some("64500"), "{best}");
        wait_for(&format!("zebra installed {p}"), DEADLINE, || {
            installed(&frr, p).then_some(())
        });
    }
    let n = frr.vtysh_json("show bgp neighbors to-node json");
    assert_eq!(
        n["to-node"]["neighborCapabilities"]["extendedNexthop"].as_str(),
        Some("advertisedAndReceived"),
        "{n}"
    );
    let summary: Value = node.show_json(&["bgp", "summary"]);
    let text = summary.to_string();
    assert!(
        text.contains("\"name\":\"tor\"") && text.contains("\"state\":\"Established\""),
        "{summary}"
    );
    // The peer is shown by its interface, never by an address standing for it.
    let tor = &summary["vrfs"]["default"]["peers"]["to-router"];
    assert_eq!(tor["interface"], "to-router", "{summary}");
    assert!(tor.get("address").is_none(), "{summary}");

    // The data plane: the router forwards the client's IPv4 connection to the node over the
    // link that has no IPv4 address (the node's way back is the same link).
    node.ns.exec(&[
        "ip",
        "route",
        "add",
        "198.51.100.0/24",
        "via",
        "inet6",
        &router_ll.to_string(),
        "dev",
        "to-router",
    ]);
    wait_for("the client reaches 203.0.113.1 on node-1", DEADLINE, || {
        (ask(&client, "203.0.113.1").as_deref() == Some("node-1")).then_some(())
    });

    // Deleting the IPv4 Service withdraws its /32; the IPv6 one stays, the session too.
    std::fs::remove_file(node.dir.join("10-web.yaml")).unwrap();
    wait_for("router withdrew 203.0.113.1/32", DEADLINE, || {
        path(&frr, "203.0.113.1/32").is_none().then_some(())
    });
    assert!(path(&frr, "2001:db8:100::1/128").is_some());
    assert_eq!(
        frr.bgp_neighbor_state("to-node").as_deref(),
        Some("Established")
    );

    // SIGTERM: Cease to the router, everything withdrawn there.
    if let Some(mut agent) = node.agent.take() {
        terminate(&mut agent, Duration::from_secs(10));
    }
    wait_for("router dropped the session", DEADLINE, || {
        path(&frr, "2001:db8:100::1/128").is_none().then_some(())
    });
}
