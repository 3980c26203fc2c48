//! End-to-end tests of `metalroute run` with VRFs (`vrf_*`, run in the VM stage).
//!
//! The first: the node's uplink goes into a VRF that a NodeNetworkConfigurationPolicy in the
//! configuration directory creates (the agent's nmstate actuator applies it through netlink),
//! and BGPPeers with `vrf: red` (IPv4 and IPv6) run their sessions inside that VRF. A second
//! router on a second uplink that stays in the default VRF has the SAME IPv4 address, so the
//! test also shows that sessions are keyed by (VRF, address) and that each VRF's speaker
//! announces only what its peers are given. A client behind router-red then reaches the
//! service IP, which lives in the VRF, through the route the agent announced, and the answer
//! leaves through the VRF's default route from the NNCP.
//!
//! ```text
//!  client 198.51.100.130/25
//!    │
//!  router-red  (FRR, AS 64501) 192.0.2.1/24    ── eth0 192.0.2.11/24    ┐ node
//!                              2001:db8::1/64     2001:db8::11/64       │ (metalroute,
//!                                                 in VRF red (table 100) │  AS 64500)
//!  router-main (FRR, AS 64502) 192.0.2.1/24    ── eth1 192.0.2.11/24    ┘ default VRF
//! ```
//!
//! The first also checks the start-up order: the agent applies the NNCP before it opens any BGP
//! session, so no session is tried before VRF red exists (no `No such device`) and router-red,
//! whose address is router-main's too, never meets the node's default-VRF session (no Bad Peer
//! AS at either router).
//!
//! The second runs examples/vrf unchanged. The third: a BGPPeer whose VRF no policy creates
//! waits for it — it is never tried in the default VRF, where its router is reachable — while a
//! policy that fails to apply does not hold up the default VRF's session; once an administrator
//! creates the VRF, the session starts in it.
//!
//! The host kernel has no VRF: the test is named `vrf_*` and runs in the VM stage
//! (`scripts/test-vm`), where a missing prerequisite fails it.

#[allow(dead_code)]
mod common;

use common::{next_hops, show, show_json, BIN};
use metalroute_netns::{
    addr, ip_json, prerequisites, read_sysctl, route, set_master, sysctl, terminate, veth, vrf,
    wait_for, Frr, Need, Netns,
};
use serde_json::Value;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Generous: the VM runs under software emulation, several times slower than the host.
const DEADLINE: Duration = Duration::from_secs(120);

/// The node's network: VRF `red` on routing table 100 with the uplink `eth0` in it, the
/// uplink's addresses (nmstate's complete address lists for the interface; the IPv6 one matters:
/// enslaving a link to a VRF cycles it, which flushes its IPv6 addresses), and the VRF's
/// default route via router-red (so replies to clients behind it leave through the VRF).
const NNCP: &str = r#"
apiVersion: nmstate.io/v1
kind: NodeNetworkConfigurationPolicy
metadata:
  name: red-vrf
spec:
  nodeSelector:
    kubernetes.io/hostname: node-1
  desiredState:
    interfaces:
      - name: red
        type: vrf
        state: up
        vrf:
          port: [eth0]
          route-table-id: 100
      - name: eth0
        type: ethernet
        state: up
        ipv4:
          enabled: true
          dhcp: false
          address:
            - ip: 192.0.2.11
              prefix-length: 24
        ipv6:
          enabled: true
          dhcp: false
          autoconf: false
          address:
            - ip: 2001:db8::11
              prefix-length: 64
    routes:
      config:
        - destination: 0.0.0.0/0
          next-hop-address: 192.0.2.1
          next-hop-interface: eth0
          table-id: 100
"#;

/// Two peers with the same address, one per VRF, and an IPv6 peer in the VRF; each pool is
/// advertised to one of them.
const METALLB: &str = r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: router-red-v6}
spec:
  peerAddress: "2001:db8::1"
  peerASN: 64501
  myASN: 64500
  vrf: red
  connectTime: 1s
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: red6}
spec:
  addresses: ["2001:db8:5::/120"]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: red6}
spec:
  ipAddressPools: [red6]
  peers: [router-red-v6]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: router-red}
spec:
  peerAddress: 192.0.2.1
  peerASN: 64501
  myASN: 64500
  vrf: red
  connectTime: 1s
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: router-main}
spec:
  peerAddress: 192.0.2.1
  peerASN: 64502
  myASN: 64500
  connectTime: 1s
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: red}
spec:
  addresses: [203.0.113.0/28]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: main}
spec:
  addresses: [198.51.100.0/28]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: red}
spec:
  ipAddressPools: [red]
  peers: [router-red]
  communities: ["8000:800"]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: main}
spec:
  ipAddressPools: [main]
  peers: [router-main]
"#;

/// A LoadBalancer Service holding `ip` with a ready endpoint on node-1.
fn service(name: &str, ip: &str) -> String {
    let (family, endpoint) = if ip.contains(':') {
        ("IPv6", "\"fd00:10:244::5\"")
    } else {
        ("IPv4", "10.244.0.5")
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
  - addresses: [{endpoint}]
    nodeName: node-1
    conditions: {{ready: true}}
ports: [{{port: 8080, protocol: TCP}}]
"#
    )
}

/// A router's bgpd.conf: the node's IPv4 address as neighbor, and its IPv6 one when `v6`.
fn router_conf(asn: u32, v6: bool) -> String {
    // log-neighbor-changes: bgpd logs every NOTIFICATION it sends or receives (the start-up
    // checks look for Bad Peer AS there).
    let mut c = format!("router bgp {asn}\n bgp router-id 192.0.2.1\n bgp log-neighbor-changes\n no bgp ebgp-requires-policy\n neighbor 192.0.2.11 remote-as 64500\n neighbor 192.0.2.11 timers connect 1\n");
    if v6 {
        c.push_str(" neighbor 2001:db8::11 remote-as 64500\n neighbor 2001:db8::11 timers connect 1\n address-family ipv6 unicast\n  neighbor 2001:db8::11 activate\n exit-address-family\n");
    }
    c
}

/// The configuration directory and the agent's files, removed on drop (the agent log is
/// printed when the test fails).
struct Files {
    dir: PathBuf,
}

impl Files {
    /// `tag` keeps the directories of tests running in parallel apart.
    fn new(tag: &str) -> Files {
        let dir =
            std::env::temp_dir().join(format!("metalroute-vrf-e2e-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).unwrap();
        Files { dir }
    }
    fn config(&self) -> PathBuf {
        self.dir.join("config")
    }
    fn log(&self) -> PathBuf {
        self.dir.join("agent.log")
    }
    fn sock(&self) -> PathBuf {
        self.dir.join("admin.sock")
    }
    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.config().join(file), text).unwrap();
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- agent log ---\n{}",
                std::fs::read_to_string(self.log()).unwrap_or_default()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The link `name` in `ns` as `ip -j -d link show` reports it.
fn link(ns: &Netns, name: &str) -> Value {
    ip_json(ns, &["-d", "link", "show", "dev", name])[0].clone()
}

/// A TCP responder in `ns` on `0.0.0.0:8080` (the default VRF) answering `answer`, until the
/// returned flag is set. With `net.ipv4.tcp_l3mdev_accept=1` it also accepts connections that
/// arrive through a VRF, and its replies are routed in that VRF's table.
fn responder(ns: &Netns, answer: &str) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    common::responder(ns, "0.0.0.0:8080", answer, stop.clone());
    stop
}

/// One TCP request from `client` to `target`; the answer, or the error.
fn request(client: &Netns, target: &str) -> Result<String, String> {
    let target: SocketAddr = target.parse().unwrap();
    client.run(|| {
        let mut s = TcpStream::connect_timeout(&target, Duration::from_secs(3))
            .map_err(|e| format!("connect {target}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(|e| e.to_string())?;
        let mut body = String::new();
        s.read_to_string(&mut body)
            .map_err(|e| format!("read from {target}: {e}"))?;
        Ok(body.trim().to_string())
    })
}

/// The start-up order, from the agent's log and the routers' bgpd logs: every change of the
/// first network apply is logged before the first BGP session is added, no socket was bound to a
/// VRF device that did not exist, and no router sent or received a Bad Peer AS (a session that
/// landed in the wrong VRF).
fn assert_clean_start(agent_log: &Path, routers: &[&Frr]) {
    let log = std::fs::read_to_string(agent_log).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let first_session = lines
        .iter()
        .position(|l| l.contains("BGP session added"))
        .unwrap_or_else(|| panic!("no BGP session added in the agent log:\n{log}"));
    let last_change = lines
        .iter()
        .rposition(|l| l.contains("network state changed"))
        .unwrap_or_else(|| panic!("no network change in the agent log:\n{log}"));
    assert!(
        last_change < first_session,
        "a BGP session was added before the network state was applied:\n{log}"
    );
    assert!(
        !log.contains("No such device"),
        "a socket was bound to a VRF that did not exist yet:\n{log}"
    );
    for frr in routers {
        let bgpd = std::fs::read_to_string(frr.log_path()).unwrap_or_default();
        assert!(
            bgpd.contains("%ADJCHANGE"),
            "bgpd of {} does not log neighbour changes:\n{bgpd}",
            frr.pathspace()
        );
        assert!(
            !bgpd.contains("Bad Peer AS"),
            "{} saw a Bad Peer AS (a session in the wrong VRF):\n{bgpd}",
            frr.pathspace()
        );
    }
}

#[test]
fn vrf_run_e2e_nncp_creates_vrf_and_peer_session_runs_in_it() {
    if !prerequisites(
        "vrf_run_e2e_nncp_creates_vrf_and_peer_session_runs_in_it",
        &[
            Need::Root,
            Need::Vrf,
            Need::Binary("/usr/lib/frr/bgpd"),
            Need::Binary("/usr/lib/frr/zebra"),
        ],
    ) {
        return;
    }
    let node = Netns::new("mrvrfn");
    let red = Netns::new("mrvrfr");
    let main = Netns::new("mrvrfm");
    veth(&node, "eth0", &red, "n0");
    veth(&node, "eth1", &main, "n0");
    // The uplinks are addressed before the agent starts, as on a real node (the agent takes
    // its router ID from them); the NNCP moves eth0 into the VRF.
    addr(&node, "eth0", "192.0.2.11/24");
    addr(&node, "eth1", "192.0.2.11/24");
    addr(&node, "eth0", "2001:db8::11/64");
    addr(&red, "n0", "192.0.2.1/24");
    addr(&red, "n0", "2001:db8::1/64");
    addr(&main, "n0", "192.0.2.1/24");
    // A client behind router-red.
    let client = Netns::new("mrvrfc");
    veth(&client, "eth0", &red, "c0");
    addr(&client, "eth0", "198.51.100.130/25");
    addr(&red, "c0", "198.51.100.129/25");
    route(&client, "default via 198.51.100.129");
    sysctl(&red, "net.ipv4.ip_forward", "1");
    let frr_red = Frr::start(&red, &router_conf(64501, true), None);
    let frr_main = Frr::start(&main, &router_conf(64502, false), None);

    let files = Files::new("red");
    files.write("00-network.yaml", NNCP);
    files.write("01-metallb.yaml", METALLB);
    files.write("10-red.yaml", &service("red-web", "203.0.113.5"));
    files.write("11-main.yaml", &service("main-web", "198.51.100.5"));
    files.write("13-red6.yaml", &service("red6-web", "2001:db8:5::5"));
    let sock = files.sock();
    let mut agent = node.spawn_logged(
        &[
            BIN,
            "run",
            "--node-name",
            "node-1",
            "--config",
            files.config().to_str().unwrap(),
            "--admin-socket",
            sock.to_str().unwrap(),
        ],
        &files.log(),
    );

    // The agent's nmstate actuator created the VRF and moved the uplink into it.
    wait_for("VRF red with eth0 in it", DEADLINE, || {
        let links = ip_json(&node, &["-d", "link", "show"]);
        let red_up = links.as_array()?.iter().any(|l| {
            l["ifname"] == "red"
                && l["linkinfo"]["info_kind"] == "vrf"
                && l["linkinfo"]["info_data"]["table"] == 100
        });
        let enslaved = links
            .as_array()?
            .iter()
            .any(|l| l["ifname"] == "eth0" && l["master"] == "red");
        (red_up && enslaved).then_some(())
    });
    assert_eq!(
        link(&node, "eth1").get("master"),
        None,
        "eth1 stays in the default VRF"
    );
    let table: Value = ip_json(&node, &["route", "show", "table", "100"]);
    assert!(
        table
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["dst"] == "192.0.2.0/24" && r["dev"] == "eth0"),
        "connected route of eth0 in table 100: {table}"
    );

    assert!(
        table
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "192.0.2.1"),
        "the NNCP's default route in table 100: {table}"
    );
    // A state with a VRF turns on the l3mdev sysctls unless it says otherwise.
    assert_eq!(read_sysctl(&node, "net.ipv4.tcp_l3mdev_accept"), "1");

    // Both sessions come up, each in its own VRF, to the same address.
    frr_red.wait_established("192.0.2.11", DEADLINE);
    frr_main.wait_established("192.0.2.11", DEADLINE);
    frr_red.wait_established("2001:db8::11", DEADLINE);
    wait_for("router-red holds the red service prefix", DEADLINE, || {
        (next_hops(&frr_red, "203.0.113.5/32") == ["192.0.2.11"]).then_some(())
    });
    wait_for(
        "router-main holds the main service prefix",
        DEADLINE,
        || (next_hops(&frr_main, "198.51.100.5/32") == ["192.0.2.11"]).then_some(()),
    );
    assert_eq!(frr_red.prefixes_v4(), vec!["203.0.113.5/32"]);
    assert_eq!(frr_main.prefixes_v4(), vec!["198.51.100.5/32"]);
    assert_clean_start(&files.log(), &[&frr_red, &frr_main]);
    // The IPv6 session in the VRF: the /128 with the node's IPv6 address (re-added by the NNCP
    // after the VRF took the link) as next hop.
    wait_for("router-red holds the IPv6 service prefix", DEADLINE, || {
        let rib = frr_red.rib_v6();
        let hop = rib.get("2001:db8:5::5/128")?.as_array()?.first()?["nexthops"][0]["ip"].clone();
        (hop == "2001:db8::11").then_some(())
    });
    assert_eq!(frr_red.prefixes_v6(), vec!["2001:db8:5::5/128"]);
    assert!(frr_main.prefixes_v6().is_empty());
    let d = frr_red.route_detail("203.0.113.5/32");
    let p = &d["paths"][0];
    assert_eq!(p["aspath"]["string"].as_str(), Some("64500"), "{p}");
    assert_eq!(p["community"]["string"].as_str(), Some("8000:800"), "{p}");
    let d = frr_main.route_detail("198.51.100.5/32");
    assert_eq!(d["paths"][0]["community"], Value::Null, "{d}");

    // The data plane: the service IP lives in the VRF (an address on the VRF device, as a
    // node would hold a LoadBalancer IP); the client behind router-red reaches it through the
    // route the agent announced, and the answer returns through the VRF's default route.
    addr(&node, "red", "203.0.113.5/32");
    let stop = responder(&node, "node-1 in VRF red");
    wait_for(
        "router-red's FIB routes 203.0.113.5 to the node",
        DEADLINE,
        || {
            let r = red.exec_stdout(&["ip", "route", "show", "203.0.113.5"]);
            r.contains("via 192.0.2.11").then_some(())
        },
    );
    let mut last = Err(String::new());
    wait_for(
        "the client's request answered through the VRF",
        DEADLINE,
        || {
            last = request(&client, "203.0.113.5:8080");
            last.as_ref().ok().cloned()
        },
    );
    assert_eq!(last.as_deref(), Ok("node-1 in VRF red"));
    stop.store(true, Ordering::SeqCst);

    let js: Value = show_json(&sock, &["bgp", "summary"]);
    assert_eq!(
        js["vrfs"]["red"]["peers"]["192.0.2.1"]["state"], "Established",
        "{js}"
    );
    assert_eq!(
        js["vrfs"]["default"]["peers"]["192.0.2.1"]["state"], "Established",
        "{js}"
    );
    assert_eq!(
        js["vrfs"]["red"]["peers"]["2001:db8::1"]["state"], "Established",
        "{js}"
    );

    // A new Service in the red pool reaches router-red only.
    files.write("12-red2.yaml", &service("red-api", "203.0.113.6"));
    wait_for("router-red holds the new prefix", DEADLINE, || {
        (next_hops(&frr_red, "203.0.113.6/32") == ["192.0.2.11"]).then_some(())
    });
    assert_eq!(frr_main.prefixes_v4(), vec!["198.51.100.5/32"]);

    // SIGTERM: both VRFs' sessions close and the routers withdraw everything.
    let st = terminate(&mut agent, Duration::from_secs(30));
    assert!(st.success(), "agent exit status {st}");
    wait_for("both routers' RIBs empty", DEADLINE, || {
        (frr_red.prefixes_v4().is_empty()
            && frr_red.prefixes_v6().is_empty()
            && frr_main.prefixes_v4().is_empty())
        .then_some(())
    });
}

/// examples/vrf run unchanged (`metalroute run --config examples/vrf`): the node's `ens4`
/// faces a router at the example's 192.168.130.1 (AS 200). The agent applies the example's
/// NNCP — VRF ens4vrf on table 2 with ens4 in it, ens4's address, table 2's default route, the
/// three symmetric-routing rules at priority 998 — and runs the BGPPeer `frrviavrf` inside the
/// VRF; the router learns 192.169.10.0/32 from the node. The BGPPeer sets no routerID and ens4
/// has no address before the NNCP is applied, so the node's identifier comes from its primary
/// interface (eth0 here), as on a real node.
#[test]
fn vrf_run_e2e_example_vrf_unchanged() {
    if !prerequisites(
        "vrf_run_e2e_example_vrf_unchanged",
        &[
            Need::Root,
            Need::Vrf,
            Need::Binary("/usr/lib/frr/bgpd"),
            Need::Binary("/usr/lib/frr/zebra"),
        ],
    ) {
        return;
    }
    let node = Netns::new("mrvrxn");
    let router = Netns::new("mrvrxr");
    let cluster = Netns::new("mrvrxc");
    veth(&node, "ens4", &router, "eth0");
    addr(&router, "eth0", "192.168.130.1/24");
    // The node's primary (cluster) network.
    veth(&node, "eth0", &cluster, "eth0");
    addr(&node, "eth0", "192.0.2.10/24");
    let frr = Frr::start(
        &router,
        "router bgp 200\n bgp router-id 192.168.130.1\n no bgp ebgp-requires-policy\n neighbor 192.168.130.130 remote-as 100\n neighbor 192.168.130.130 timers connect 1\n",
        None,
    );
    let files = Files::new("example");
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/vrf");
    let sock = files.sock();
    let mut agent = node.spawn_logged(
        &[
            BIN,
            "run",
            "--node-name",
            "worker-0",
            "--config",
            config.to_str().unwrap(),
            "--admin-socket",
            sock.to_str().unwrap(),
        ],
        &files.log(),
    );
    wait_for("VRF ens4vrf (table 2) with ens4 in it", DEADLINE, || {
        let links = ip_json(&node, &["-d", "link", "show"]);
        let links = links.as_array()?;
        let vrf = links
            .iter()
            .any(|l| l["ifname"] == "ens4vrf" && l["linkinfo"]["info_data"]["table"] == 2);
        let port = links
            .iter()
            .any(|l| l["ifname"] == "ens4" && l["master"] == "ens4vrf");
        (vrf && port).then_some(())
    });
    frr.wait_established("192.168.130.130", DEADLINE);
    wait_for(
        "the router holds 192.169.10.0/32 from the node",
        DEADLINE,
        || (next_hops(&frr, "192.169.10.0/32") == ["192.168.130.130"]).then_some(()),
    );
    assert_eq!(frr.prefixes_v4(), vec!["192.169.10.0/32"]);
    let n = frr.vtysh_json("show bgp neighbors 192.168.130.130 json");
    assert_eq!(n["192.168.130.130"]["remoteRouterId"], "192.0.2.10", "{n}");

    // The rest of the example's network state.
    let t2 = ip_json(&node, &["route", "show", "table", "2"]);
    assert!(
        t2.as_array().unwrap().iter().any(|r| r["dst"] == "default"
            && r["gateway"] == "192.168.130.1"
            && r["metric"] == 150),
        "{t2}"
    );
    let rules: Vec<String> = ip_json(&node, &["rule", "show"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["priority"] == 998)
        .map(|r| {
            format!(
                "{}/{} {}",
                r["dst"].as_str().unwrap_or("?"),
                r["dstlen"],
                r["table"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let mut rules = rules;
    rules.sort();
    assert_eq!(
        rules,
        [
            "10.128.0.0/14 main",
            "169.254.0.0/17 main",
            "172.30.0.0/16 main"
        ],
        "{rules:?}"
    );
    let js: Value = show_json(&sock, &["bgp", "summary"]);
    assert_eq!(
        js["vrfs"]["ens4vrf"]["peers"]["192.168.130.1"]["state"], "Established",
        "{js}"
    );
    let st = terminate(&mut agent, Duration::from_secs(30));
    assert!(st.success(), "agent exit status {st}");
}

/// The peer's VRF does not exist: the session waits for it, never tried in the default VRF.
///
/// ```text
///  router-blue (FRR, AS 64501) 192.0.2.1/24    ── eth0 192.0.2.11/24     ┐ node (AS 64500)
///                                                 (default VRF until the │ BGPPeer router-blue
///                                                  test creates VRF blue) │ has vrf: blue
///  router-main (FRR, AS 64502) 198.51.100.1/24 ── eth1 198.51.100.11/24  ┘ default VRF
/// ```
///
/// The node's NNCP (a route through an interface that does not exist) fails to apply and is
/// rolled back. (It creates no VRF: the rollback of a VRF would also delete the kernel's l3mdev
/// rule, which the kernel adds only with a network namespace's first VRF, and VRF blue created
/// afterwards would not route.) Expected: the default VRF's session comes up anyway; router-blue's
/// session is not started (router-blue is reachable in the default VRF, so a session tried there
/// would come up) and `show` says "VRF blue does not exist yet", logged once; no socket is bound
/// to a missing device. When the administrator creates VRF blue and puts eth0 in it, the agent
/// notices and the session comes up inside the VRF. Last, one change brings a policy creating
/// VRF green (eth2, to router-green at 192.0.2.1 too) and a BGPPeer in it: the peer is added
/// after the policy is applied, without ever waiting for a missing VRF.
#[test]
fn vrf_run_e2e_peer_waits_for_its_vrf_and_a_failing_policy_does_not_hold_bgp() {
    if !prerequisites(
        "vrf_run_e2e_peer_waits_for_its_vrf_and_a_failing_policy_does_not_hold_bgp",
        &[
            Need::Root,
            Need::Vrf,
            Need::Binary("/usr/lib/frr/bgpd"),
            Need::Binary("/usr/lib/frr/zebra"),
        ],
    ) {
        return;
    }
    let node = Netns::new("mrvrwn");
    let blue = Netns::new("mrvrwb");
    let main = Netns::new("mrvrwm");
    veth(&node, "eth0", &blue, "n0");
    veth(&node, "eth1", &main, "n0");
    addr(&node, "eth0", "192.0.2.11/24");
    addr(&node, "eth1", "198.51.100.11/24");
    addr(&blue, "n0", "192.0.2.1/24");
    addr(&main, "n0", "198.51.100.1/24");
    let frr_blue = Frr::start(&blue, &router_conf(64501, false), None);
    let frr_main = Frr::start(
        &main,
        "router bgp 64502\n bgp router-id 198.51.100.1\n bgp log-neighbor-changes\n no bgp ebgp-requires-policy\n neighbor 198.51.100.11 remote-as 64500\n neighbor 198.51.100.11 timers connect 1\n",
        None,
    );
    let files = Files::new("wait");
    files.write(
        "00-network.yaml",
        r#"
apiVersion: nmstate.io/v1
kind: NodeNetworkConfigurationPolicy
metadata: {name: broken}
spec:
  desiredState:
    routes:
      config:
        - {destination: 0.0.0.0/0, next-hop-address: 192.0.2.254, next-hop-interface: nope0, table-id: 300}
"#,
    );
    files.write(
        "01-metallb.yaml",
        r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: router-blue}
spec: {peerAddress: 192.0.2.1, peerASN: 64501, myASN: 64500, vrf: blue, connectTime: 1s}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: router-main}
spec: {peerAddress: 198.51.100.1, peerASN: 64502, myASN: 64500, connectTime: 1s}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: web}
spec: {addresses: [203.0.113.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: web}
spec: {ipAddressPools: [web]}
"#,
    );
    files.write("10-web.yaml", &service("web", "203.0.113.5"));
    let sock = files.sock();
    let mut agent = node.spawn_logged(
        &[
            BIN,
            "run",
            "--node-name",
            "node-1",
            "--config",
            files.config().to_str().unwrap(),
            "--admin-socket",
            sock.to_str().unwrap(),
        ],
        &files.log(),
    );

    // The failing policy does not keep BGP down: the default VRF's session comes up and gets
    // the route.
    frr_main.wait_established("198.51.100.11", DEADLINE);
    wait_for("router-main holds the service prefix", DEADLINE, || {
        (next_hops(&frr_main, "203.0.113.5/32") == ["198.51.100.11"]).then_some(())
    });
    let plan = show(&sock, &["plan"]);
    assert!(plan.contains("network state: failed"), "{plan}");
    assert!(
        plan.contains("BGPPeer router-blue not running: VRF blue does not exist yet"),
        "{plan}"
    );
    let summary = show(&sock, &["bgp", "summary"]);
    assert!(
        summary.contains("% BGPPeer router-blue not running: VRF blue does not exist yet"),
        "{summary}"
    );
    let js: Value = show_json(&sock, &["bgp", "summary"]);
    assert_eq!(js["vrfs"].as_object().map(|m| m.len()), Some(1), "{js}");
    // Several re-checks of the kernel's VRFs (every 2 s) pass; absence is what is asserted, so
    // this is a bounded observation window, not a wait for a condition.
    std::thread::sleep(Duration::from_secs(5));
    let state = frr_blue.bgp_neighbor_state("192.0.2.11");
    assert_ne!(
        state.as_deref(),
        Some("Established"),
        "router-blue's session ran outside VRF blue"
    );
    assert!(frr_blue.prefixes_v4().is_empty());
    let log = std::fs::read_to_string(files.log()).unwrap_or_default();
    assert_eq!(
        log.matches("VRF blue does not exist yet").count(),
        1,
        "logged once:\n{log}"
    );
    assert!(!log.contains("No such device"), "{log}");

    // The administrator creates VRF blue and moves eth0 into it: the session starts inside it.
    vrf(&node, "blue", 200);
    set_master(&node, "eth0", "blue");
    frr_blue.wait_established("192.0.2.11", DEADLINE);
    wait_for("router-blue holds the service prefix", DEADLINE, || {
        (next_hops(&frr_blue, "203.0.113.5/32") == ["192.0.2.11"]).then_some(())
    });
    let js: Value = show_json(&sock, &["bgp", "summary"]);
    assert_eq!(
        js["vrfs"]["blue"]["peers"]["192.0.2.1"]["state"], "Established",
        "{js}"
    );
    assert!(
        !show(&sock, &["bgp", "summary"]).contains("does not exist yet"),
        "the problem is gone"
    );
    let log = std::fs::read_to_string(files.log()).unwrap_or_default();
    assert!(log.contains("VRF blue exists now"), "{log}");
    assert!(!log.contains("No such device"), "{log}");

    // A later change creates VRF green (a policy) and adds a BGPPeer in it, in one file
    // (renamed in, so the agent reads both at once); the broken policy goes. The network
    // goes first: the peer is added once VRF green exists, without ever waiting for it.
    let green = Netns::new("mrvrwg");
    veth(&node, "eth2", &green, "n0");
    addr(&green, "n0", "192.0.2.1/24");
    let frr_green = Frr::start(&green, &router_conf(64503, false), None);
    let before = std::fs::read_to_string(files.log()).unwrap_or_default();
    std::fs::remove_file(files.config().join("00-network.yaml")).unwrap();
    let tmp = files.config().join(".20-green.yaml");
    std::fs::write(
        &tmp,
        r#"
apiVersion: nmstate.io/v1
kind: NodeNetworkConfigurationPolicy
metadata: {name: green-vrf}
spec:
  desiredState:
    interfaces:
      - {name: green, type: vrf, state: up, vrf: {port: [eth2], route-table-id: 300}}
      - name: eth2
        type: ethernet
        state: up
        ipv4: {enabled: true, dhcp: false, address: [{ip: 192.0.2.11, prefix-length: 24}]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: router-green}
spec: {peerAddress: 192.0.2.1, peerASN: 64503, myASN: 64500, vrf: green, connectTime: 1s}
"#,
    )
    .unwrap();
    std::fs::rename(&tmp, files.config().join("20-green.yaml")).unwrap();
    frr_green.wait_established("192.0.2.11", DEADLINE);
    wait_for("router-green holds the service prefix", DEADLINE, || {
        (next_hops(&frr_green, "203.0.113.5/32") == ["192.0.2.11"]).then_some(())
    });
    let log = std::fs::read_to_string(files.log()).unwrap_or_default();
    let change: Vec<&str> = log[before.len()..].lines().collect();
    let added = change
        .iter()
        .position(|l| l.contains("BGP session added") && l.contains("router-green"))
        .unwrap_or_else(|| panic!("router-green not added:\n{log}"));
    let applied = change
        .iter()
        .rposition(|l| l.contains("network state changed"))
        .unwrap_or_else(|| panic!("VRF green not applied:\n{log}"));
    assert!(
        applied < added,
        "router-green was added before its VRF was applied:\n{log}"
    );
    assert!(!log.contains("VRF green does not exist yet"), "{log}");
    assert!(!log.contains("No such device"), "{log}");
    // The sessions that ran before the change still run.
    frr_main.wait_established("198.51.100.11", DEADLINE);
    frr_blue.wait_established("192.0.2.11", DEADLINE);

    for frr in [&frr_blue, &frr_main, &frr_green] {
        let bgpd = std::fs::read_to_string(frr.log_path()).unwrap_or_default();
        assert!(!bgpd.contains("Bad Peer AS"), "{bgpd}");
    }
    let st = terminate(&mut agent, Duration::from_secs(30));
    assert!(st.success(), "agent exit status {st}");
}
