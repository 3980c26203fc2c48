//! VRF tests. The host kernel has no VRF, so these are named `vrf_*` and skip there
//! (`Need::Vrf`); `scripts/test-vm` runs them in a VM with Debian's kernel, where a missing VRF
//! is a failure.

mod common;

use common::*;
use metalroute_netns::{addr, ip_json, link_up, prerequisites, read_sysctl, veth, Need, Netns};
use metalroute_nmstate::{Applier, Error, VRF_UNREACHABLE_METRIC};
use serde_json::Value;

/// The seed's NodeNetworkConfigurationPolicy (10-nncp-vrf-symmetric-routing.yaml), unchanged.
const SEED_NNCP: &str = r#"
apiVersion: nmstate.io/v1
kind: NodeNetworkConfigurationPolicy
metadata:
  name: vrfpolicy
spec:
  nodeSelector:
    vrf: "true"
  maxUnavailable: 3
  desiredState:
    interfaces:
    - name: ens4vrf
      type: vrf
      state: up
      vrf:
        port:
        - ens4
        route-table-id: 2
    - name: ens4
      type: ethernet
      state: up
      ipv4:
        address:
        - ip: 192.168.130.130
          prefix-length: 24
        dhcp: false
        enabled: true
    routes:
      config:
      - destination: 0.0.0.0/0
        metric: 150
        next-hop-address: 192.168.130.1
        next-hop-interface: ens4
        table-id: 2
    route-rules:
      config:
      - ip-to: 172.30.0.0/16
        priority: 998
        route-table: 254
      - ip-to: 10.128.0.0/14
        priority: 998
        route-table: 254
      - ip-to: 169.254.0.0/17
        priority: 998
        route-table: 254
"#;

fn link(ns: &Netns, name: &str) -> Option<Value> {
    ip_json(ns, &["-d", "link", "show"])
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ifname"] == name)
        .cloned()
}

fn table_routes(ns: &Netns, fam: &str, table: &str) -> Vec<Value> {
    ip_json(ns, &[fam, "route", "show", "table", table])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A TCP connection from a socket bound to VRF `vrf` (SO_BINDTODEVICE) must succeed.
fn connect_in_vrf(ns: &Netns, vrf: &str, to: &str) {
    let to: std::net::SocketAddr = to.parse().unwrap();
    let r = ns.run(|| {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        s.bind_device(Some(vrf.as_bytes()))?;
        s.connect_timeout(&to.into(), std::time::Duration::from_secs(3))
    });
    if let Err(e) = r {
        panic!("TCP connect to {to} through VRF {vrf}: {e}");
    }
}

fn has_l3mdev_rule(ns: &Netns) -> bool {
    ip_json(ns, &["rule", "show"])
        .as_array()
        .unwrap()
        .iter()
        // iproute2 prints the l3mdev rule as `"l3mdev": null` (a flag).
        .any(|r| r["priority"] == 1000 && r.as_object().is_some_and(|o| o.contains_key("l3mdev")))
}

#[test]
fn vrf_create_enslave_delete() {
    if !prerequisites("vrf_create_enslave_delete", &[Need::Root, Need::Vrf]) {
        return;
    }
    let ns = Netns::new("vrfced");
    let rec = record_path("vrfced");
    ns.sh("ip link add p0 type veth peer name p0r && ip link set p0r up");
    let desired = state(
        r#"
interfaces:
- name: blue
  type: vrf
  state: up
  vrf: {port: [p0], route-table-id: 10}
- {name: p0, type: ethernet, state: up, ipv4: {address: [{ip: 192.0.2.1, prefix-length: 24}]}}
"#,
    );
    let report = apply_in(&ns, &rec, &desired, &opts(vec![])).expect("apply");
    assert!(
        report
            .changes
            .iter()
            .any(|c| c == "create vrf blue table 10"),
        "{report:?}"
    );
    let blue = link(&ns, "blue").expect("vrf exists");
    assert_eq!(blue["linkinfo"]["info_kind"], "vrf");
    assert_eq!(blue["linkinfo"]["info_data"]["table"], 10);
    assert_eq!(link(&ns, "p0").unwrap()["master"], "blue");
    assert!(
        has_l3mdev_rule(&ns),
        "the kernel adds the l3mdev rule with the first VRF"
    );
    // The unreachable default in both families, metric 4278198272, ours.
    for fam in ["-4", "-6"] {
        let routes = table_routes(&ns, fam, "10");
        assert!(
            routes.iter().any(|r| r["type"] == "unreachable"
                && r["dst"] == "default"
                && r["metric"] == VRF_UNREACHABLE_METRIC
                && r["protocol"] == "233"),
            "{fam}: {routes:?}"
        );
    }
    // The port's connected route moved into the VRF table.
    assert!(table_routes(&ns, "-4", "10")
        .iter()
        .any(|r| r["dst"] == "192.0.2.0/24"));
    // Idempotent.
    let again = apply_in(&ns, &rec, &desired, &opts(vec![])).unwrap();
    assert_eq!(again.writes, 0, "{:?}", again.changes);
    // Delete: the VRF goes, the port is released and keeps its address.
    apply_in(
        &ns,
        &rec,
        &state("interfaces:\n- {name: blue, type: vrf, state: absent}\n- {name: p0, type: ethernet, state: up}\n"),
        &opts(vec![]),
    )
    .expect("delete");
    assert!(link(&ns, "blue").is_none());
    assert!(link(&ns, "p0").unwrap().get("master").is_none());
    assert!(table_routes(&ns, "-4", "main")
        .iter()
        .any(|r| r["dst"] == "192.0.2.0/24"));
}

#[test]
fn vrf_routes_in_vrf_table_and_l3mdev_rule() {
    if !prerequisites(
        "vrf_routes_in_vrf_table_and_l3mdev_rule",
        &[Need::Root, Need::Vrf],
    ) {
        return;
    }
    let a = Netns::new("vrfrta");
    let b = Netns::new("vrfrtb");
    let rec = record_path("vrfrt");
    veth(&a, "p1", &b, "p1r");
    addr(&b, "p1r", "198.51.100.2/24");
    addr(&b, "p1r", "2001:db8:7::2/64");
    link_up(&b, "p1r");
    let desired = state(
        r#"
interfaces:
- {name: red, type: vrf, state: up, vrf: {port: [p1], route-table-id: 20}}
- name: p1
  type: ethernet
  state: up
  ipv4: {address: [{ip: 198.51.100.1, prefix-length: 24}], forwarding: true}
  ipv6: {address: [{ip: 2001:db8:7::1, prefix-length: 64}], forwarding: true}
routes:
  config:
  - {destination: 203.0.113.0/24, next-hop-address: 198.51.100.2, next-hop-interface: p1, table-id: 20}
  - {destination: 2001:db8:8::/48, next-hop-address: 2001:db8:7::2, next-hop-interface: p1, table-id: 20}
route-rules:
  config:
  - {ip-to: 10.128.0.0/14, priority: 998, route-table: 254}
"#,
    );
    let verify = a.block_on(|| {
        let rec = rec.clone();
        let desired = desired.clone();
        async move {
            let mut ap = Applier::open(Some(&rec)).unwrap();
            ap.apply(&desired, &opts(vec![])).await.unwrap();
            ap.verify(&desired).await.unwrap()
        }
    });
    assert!(verify.is_empty(), "{verify:?}");
    assert!(table_routes(&a, "-4", "20")
        .iter()
        .any(|r| r["dst"] == "203.0.113.0/24"
            && r["gateway"] == "198.51.100.2"
            && r["protocol"] == "233"));
    assert!(table_routes(&a, "-6", "20")
        .iter()
        .any(|r| r["dst"] == "2001:db8:8::/48" && r["protocol"] == "233"));
    assert!(has_l3mdev_rule(&a));
    let rules = ip_json(&a, &["rule", "show"]);
    let prios: Vec<u64> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["priority"].as_u64().unwrap())
        .collect();
    let p998 = prios.iter().position(|p| *p == 998).unwrap();
    let p1000 = prios.iter().position(|p| *p == 1000).unwrap();
    assert!(
        p998 < p1000,
        "our rule is evaluated before the l3mdev rule: {prios:?}"
    );
    // l3mdev sysctls are set for VRF use.
    for key in [
        "tcp_l3mdev_accept",
        "udp_l3mdev_accept",
        "raw_l3mdev_accept",
    ] {
        assert_eq!(read_sysctl(&a, &format!("net.ipv4.{key}")), "1", "{key}");
    }
    // Traffic in the VRF reaches the router.
    let _listener = b.run(|| std::net::TcpListener::bind("198.51.100.2:8080").unwrap());
    connect_in_vrf(&a, "red", "198.51.100.2:8080");
}

#[test]
fn vrf_seed_symmetric_routing_policy_applies_and_verifies() {
    if !prerequisites(
        "vrf_seed_symmetric_routing_policy_applies_and_verifies",
        &[Need::Root, Need::Vrf],
    ) {
        return;
    }
    // A veth called ens4 stands in for the node's NIC; B is the router 192.168.130.1.
    let node = Netns::new("vrfseedn");
    let router = Netns::new("vrfseedr");
    let rec = record_path("vrfseed");
    veth(&node, "ens4", &router, "ens4r");
    addr(&router, "ens4r", "192.168.130.1/24");
    link_up(&router, "ens4r");
    let desired = state(SEED_NNCP);
    let (first, second, verify) = node.block_on(|| {
        let rec = rec.clone();
        let desired = desired.clone();
        async move {
            let mut ap = Applier::open(Some(&rec)).unwrap();
            let first = ap.apply(&desired, &opts(vec![])).await.unwrap();
            let second = ap.apply(&desired, &opts(vec![])).await.unwrap();
            (first, second, ap.verify(&desired).await.unwrap())
        }
    });
    assert!(first.writes > 0);
    assert_eq!(second.writes, 0, "{:?}", second.changes);
    assert!(verify.is_empty(), "{verify:?}");
    assert_eq!(link(&node, "ens4").unwrap()["master"], "ens4vrf");
    let t2 = table_routes(&node, "-4", "2");
    assert!(
        t2.iter().any(|r| r["dst"] == "default"
            && r["gateway"] == "192.168.130.1"
            && r["metric"] == 150
            && r["protocol"] == "233"),
        "{t2:?}"
    );
    assert!(t2
        .iter()
        .any(|r| r["type"] == "unreachable" && r["metric"] == VRF_UNREACHABLE_METRIC));
    let rules = ip_json(&node, &["rule", "show"]);
    let to_main: Vec<&str> = rules
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["priority"] == 998 && r["table"] == "main")
        .map(|r| r["dst"].as_str().unwrap())
        .collect();
    assert_eq!(to_main, vec!["172.30.0.0", "10.128.0.0", "169.254.0.0"]);
    assert!(has_l3mdev_rule(&node));
    let _listener = router.run(|| std::net::TcpListener::bind("192.168.130.1:8080").unwrap());
    connect_in_vrf(&node, "ens4vrf", "192.168.130.1:8080");
}

#[test]
fn vrf_rollback_missing_port_restores_exactly() {
    if !prerequisites(
        "vrf_rollback_missing_port_restores_exactly",
        &[Need::Root, Need::Vrf],
    ) {
        return;
    }
    let ns = Netns::new("vrfrb");
    let rec = record_path("vrfrb");
    ns.sh("ip link add q0 type veth peer name q0r && ip addr add 203.0.113.1/24 dev q0 && ip link set q0 up && ip link set q0r up");
    assert!(!has_l3mdev_rule(&ns));
    let before = dump(&ns);
    let err = apply_in(
        &ns,
        &rec,
        &state(
            r#"
interfaces:
- {name: green, type: vrf, state: up, vrf: {port: [q0, missing0], route-table-id: 30}}
"#,
        ),
        &opts(vec![]),
    )
    .unwrap_err();
    let Error::RolledBack { reason } = err else {
        panic!("expected rollback: {err}")
    };
    assert!(reason.to_string().contains("missing0"), "{reason}");
    // The VRF and the unreachable defaults are gone; the l3mdev rule the kernel added for the
    // namespace's first VRF stays (it is the kernel's, added only once per namespace). With it
    // deleted by hand, everything else equals the state before.
    assert!(
        has_l3mdev_rule(&ns),
        "rollback deleted the kernel's l3mdev rule"
    );
    ns.sh("ip -4 rule del pref 1000 l3mdev && ip -6 rule del pref 1000 l3mdev");
    assert_dump_eq(&ns, &before, "VRF rollback");
}

/// `ip route get vrf VRF ADDR` in `ns` (None when the kernel finds no route).
fn route_get_vrf(ns: &Netns, vrf: &str, to: &str) -> Option<String> {
    let out = ns.try_exec(&["ip", "route", "get", "vrf", vrf, to]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn vrf_rollback_and_removal_keep_the_kernels_l3mdev_rule() {
    if !prerequisites(
        "vrf_rollback_and_removal_keep_the_kernels_l3mdev_rule",
        &[Need::Root, Need::Vrf],
    ) {
        return;
    }
    let ns = Netns::new("vrfl3m");
    let rec = record_path("vrfl3m");
    ns.sh("ip link add q0 type veth peer name q0r && ip addr add 203.0.113.1/24 dev q0 && ip link set q0 up && ip link set q0r up");
    assert!(!has_l3mdev_rule(&ns));

    // 1. Rollback: the first VRF of the namespace (the kernel adds the l3mdev rule), then the
    //    apply fails (a port that does not exist) and is rolled back.
    let err = apply_in(
        &ns,
        &rec,
        &state(
            r#"
interfaces:
- {name: red, type: vrf, state: up, vrf: {port: [missing0], route-table-id: 30}}
"#,
        ),
        &opts(vec![]),
    )
    .unwrap_err();
    assert!(matches!(err, Error::RolledBack { .. }), "{err}");
    assert!(link(&ns, "red").is_none(), "red survived the rollback");
    assert!(
        has_l3mdev_rule(&ns),
        "rollback deleted the kernel's l3mdev rule"
    );

    // 2. Removal: a VRF created by a policy, then the policy says absent.
    apply_in(
        &ns,
        &rec,
        &state(
            "interfaces:
- {name: red, type: vrf, state: up, vrf: {port: [], route-table-id: 30}}
",
        ),
        &opts(vec![]),
    )
    .unwrap();
    apply_in(
        &ns,
        &rec,
        &state(
            "interfaces:
- {name: red, state: absent}
",
        ),
        &opts(vec![]),
    )
    .unwrap();
    assert!(link(&ns, "red").is_none(), "red survived state: absent");
    assert!(
        has_l3mdev_rule(&ns),
        "removing the VRF deleted the kernel's l3mdev rule"
    );

    // 3. A VRF created later (by hand: not the first, so the kernel adds no rule) routes
    //    through its table.
    ns.sh(
        "ip link add blue type vrf table 40 && ip link set blue up && ip link set q0 master blue",
    );
    let got = route_get_vrf(&ns, "blue", "203.0.113.2").unwrap_or_else(|| {
        panic!(
            "no route through VRF blue: {:?}",
            ip_json(&ns, &["rule", "show"])
        )
    });
    assert!(got.contains("dev q0") && got.contains("table 40"), "{got}");
}

#[test]
fn vrf_vlan_and_dummy_interfaces() {
    // Named vrf_ because VLAN and dummy devices, like VRFs, exist only in the VM's kernel.
    if !prerequisites("vrf_vlan_and_dummy_interfaces", &[Need::Root, Need::Vrf]) {
        return;
    }
    let ns = Netns::new("vrfvlan");
    let rec = record_path("vrfvlan");
    ns.sh("ip link add t0 type veth peer name t0r && ip link set t0r up");
    let desired = state(
        r#"
interfaces:
- {name: t0, type: ethernet, state: up, mtu: 1600}
- name: t0.100
  type: vlan
  state: up
  mtu: 1500
  vlan: {base-iface: t0, id: 100}
  ipv4: {address: [{ip: 192.0.2.1, prefix-length: 24}]}
  ipv6: {address: [{ip: 2001:db8:100::1, prefix-length: 64}], forwarding: true}
- name: d0
  type: dummy
  state: up
  ipv4: {address: [{ip: 203.0.113.1, prefix-length: 32}], forwarding: true}
routes:
  config:
  - {destination: 198.51.100.0/24, next-hop-address: 192.0.2.2, next-hop-interface: t0.100, table-id: 40}
  - {destination: 2001:db8:200::/48, next-hop-address: 2001:db8:100::2, next-hop-interface: t0.100, weight: 1, table-id: 40}
  - {destination: 2001:db8:200::/48, next-hop-address: 2001:db8:100::3, next-hop-interface: t0.100, weight: 2, table-id: 40}
"#,
    );
    let report = apply_in(&ns, &rec, &desired, &opts(vec![])).expect("apply");
    assert!(
        report
            .changes
            .iter()
            .any(|c| c == "create vlan t0.100 on t0 id 100"),
        "{report:?}"
    );
    let vlan = link(&ns, "t0.100").unwrap();
    assert_eq!(vlan["linkinfo"]["info_data"]["id"], 100);
    assert_eq!(vlan["link"], "t0");
    assert_eq!(link(&ns, "d0").unwrap()["linkinfo"]["info_kind"], "dummy");
    assert_eq!(read_sysctl(&ns, "net/ipv6/conf/t0.100/forwarding"), "1");
    let v6 = table_routes(&ns, "-6", "40");
    let mp = v6
        .iter()
        .find(|r| r["dst"] == "2001:db8:200::/48")
        .expect("v6 multipath");
    assert_eq!(mp["nexthops"].as_array().map(Vec::len), Some(2), "{mp}");
    let again = apply_in(&ns, &rec, &desired, &opts(vec![])).unwrap();
    assert_eq!(again.writes, 0, "{:?}", again.changes);
    // Removing them: recorded, so metalroute deletes its VLAN and dummy, not t0.
    apply_in(
        &ns,
        &rec,
        &state("interfaces:\n- {name: t0, type: ethernet, state: up}\n"),
        &opts(vec![]),
    )
    .unwrap();
    assert!(link(&ns, "t0.100").is_none());
    assert!(link(&ns, "d0").is_none());
    assert!(link(&ns, "t0").is_some());
}
