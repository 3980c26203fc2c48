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

use metalroute_netns::{
    addr, ip_json, prerequisites, route, sysctl, terminate, veth, wait_for, ChildGuard, Frr, Need,
    Netns,
};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);
const BIN: &str = env!("CARGO_BIN_EXE_metalroute");

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

/// The node namespace, its agent and its configuration directory.
struct Node {
    ns: Netns,
    dir: PathBuf,
    sock: PathBuf,
    agent: Option<ChildGuard>,
    stop: Arc<AtomicBool>,
}

impl Node {
    fn log(&self) -> PathBuf {
        self.dir.with_extension("log")
    }

    fn write(&self, file: &str, text: &str) {
        let tmp = self.dir.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.dir.join(file)).unwrap();
    }

    fn show(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .arg("show")
            .args(args)
            .arg("--admin-socket")
            .arg(&self.sock)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "metalroute show {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if std::thread::panicking() {
            eprintln!(
                "--- agent log ---\n{}",
                std::fs::read_to_string(self.log()).unwrap_or_default()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.log());
    }
}

/// A TCP responder in `ns` answering `name` on port 8080 until `stop`.
fn responder(ns: &Netns, name: &str, stop: Arc<AtomicBool>) {
    let path = ns.path();
    let name = name.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        metalroute_netns::enter_netns_path(&path);
        let l = TcpListener::bind("0.0.0.0:8080").unwrap();
        l.set_nonblocking(true).unwrap();
        tx.send(()).unwrap();
        while !stop.load(Ordering::SeqCst) {
            match l.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.write_all(format!("{name}\n").as_bytes());
                    let _ = s.shutdown(Shutdown::Both);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
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
    let rib = if prefix.contains(':') {
        frr.rib_v6()
    } else {
        frr.rib_v4()
    };
    rib.get(prefix)?.as_array()?.first().cloned()
}

/// Whether zebra installed `prefix`.
fn installed(frr: &Frr, prefix: &str) -> bool {
    frr.zebra_routes(prefix.contains(':'))
        .get(prefix)
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|e| e["installed"] == Value::Bool(true)))
}

/// Connects from the client to `ip:8080` and returns what answered.
fn ask(client: &Netns, ip: &str) -> Option<String> {
    let target: SocketAddr = format!("{ip}:8080").parse().unwrap();
    client.run(|| {
        let mut s = TcpStream::connect_timeout(&target, Duration::from_secs(2)).ok()?;
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body.trim().to_string())
    })
}

#[test]
fn run_unnumbered_bgppeer_interface_announces_ipv4_and_ipv6_over_link_local() {
    if !prerequisites(
        "run_unnumbered_bgppeer_interface_announces_ipv4_and_ipv6_over_link_local",
        &[
            Need::Root,
            Need::Binary("/usr/lib/frr/bgpd"),
            Need::Binary("/usr/lib/frr/zebra"),
        ],
    ) {
        return;
    }
    let router = Netns::new("munr");
    let client = Netns::new("munc");
    let ns = Netns::new("munn");
    sysctl(&router, "net.ipv4.ip_forward", "1");
    veth(&client, "eth0", &router, "c0");
    addr(&client, "eth0", "198.51.100.2/24");
    addr(&router, "c0", "198.51.100.1/24");
    route(&client, "default via 198.51.100.1");
    // The node's link to the router: link-local addresses only.
    veth(&ns, "to-router", &router, "to-node");
    ns.exec(&["ip", "link", "set", "lo", "up"]);
    addr(&ns, "lo", "203.0.113.1/32");
    addr(&ns, "lo", "2001:db8:100::1/128");
    let node_ll = link_local(&ns, "to-router");
    let router_ll = link_local(&router, "to-node");

    let dir = std::env::temp_dir().join(format!("metalroute-unnumbered-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    responder(&ns, "node-1", stop.clone());
    let mut node = Node {
        sock: dir.with_extension("sock"),
        ns,
        dir,
        agent: None,
        stop,
    };
    node.write("00-config.yaml", CONFIG);
    node.write("10-web.yaml", &service("web", "203.0.113.1"));
    node.write("11-web6.yaml", &service("web6", "2001:db8:100::1"));
    let frr = Frr::start(&router, ROUTER, None);
    let argv = [
        BIN,
        "run",
        "--node-name",
        "node-1",
        "--config",
        node.dir.to_str().unwrap(),
        "--admin-socket",
        node.sock.to_str().unwrap(),
        "--metrics-addr",
        "127.0.0.1:7472",
    ];
    node.agent = Some(node.ns.spawn_logged(&argv, &node.log()));

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
    let summary: Value = serde_json::from_str(&node.show(&["--json", "bgp", "summary"])).unwrap();
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
