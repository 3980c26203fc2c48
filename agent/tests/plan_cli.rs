//! `metalroute plan` through the built binary: the seed 003 result in text and JSON, the
//! repository's examples completed with EndpointSlices, exit codes (0 planned, 1 invalid objects
//! with the plan of the valid ones still printed, 2 unreadable input), and no password in any
//! output.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_metalroute");
const SEED_06: &str = include_str!("plan_seeds/06-advertisement-advanced.yaml");

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p =
            std::env::temp_dir().join(format!("metalroute-plan-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    fn write(&self, file: &str, text: &str) -> PathBuf {
        let p = self.0.join(file);
        std::fs::write(&p, text).expect("write fixture");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the metalroute binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn examples(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(dir)
}

const PEERS: &str = "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: ibgp}
spec: {peerAddress: 192.0.2.1, peerASN: 64500, myASN: 64500}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: ebgp}
spec: {peerAddress: 192.0.2.2, peerASN: 64501, myASN: 64500}";

fn service(name: &str, ip: &str, node: &str) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata: {{namespace: default, name: {name}}}
spec: {{type: LoadBalancer, ports: [{{port: 80}}]}}
status: {{loadBalancer: {{ingress: [{{ip: {ip}}}]}}}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: default
  name: {name}-x
  labels: {{kubernetes.io/service-name: {name}}}
addressType: IPv4
endpoints: [{{addresses: [10.128.0.1], nodeName: {node}}}]"
    )
}

fn session<'a>(plan: &'a Value, peer: &str) -> &'a Value {
    plan["vrfs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["sessions"].as_array().unwrap())
        .find(|s| s["peer"] == peer)
        .unwrap_or_else(|| panic!("session {peer} in {plan}"))
}

fn advertisement<'a>(session: &'a Value, prefix: &str) -> &'a Value {
    session["advertisements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["prefix"] == prefix)
        .unwrap_or_else(|| panic!("{prefix} in {session}"))
}

#[test]
fn seed_003_result_in_text_and_json() {
    let dir = TempDir::new("seed003");
    let seed = dir.write("seed.yaml", SEED_06);
    let peers = dir.write("peers.yaml", PEERS);
    let svcs = dir.write(
        "services.yaml",
        &[
            service("a", "203.0.113.200", "n1"),
            service("b", "203.0.113.201", "n2"),
        ]
        .join("\n---\n"),
    );
    let paths: Vec<&str> = [&seed, &peers, &svcs]
        .iter()
        .map(|p| p.to_str().unwrap())
        .collect();

    let mut args = vec!["plan", "--node-name", "n1", "-f"];
    args.extend(&paths);
    let out = run(&args);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("203.0.113.200/32: local-pref 100, communities 65535:65282"),
        "{stdout}"
    );
    assert!(
        stdout.contains("203.0.113.200/30: communities 8000:800, services default/a default/b"),
        "{stdout}"
    );
    assert!(stdout.contains("default/a [203.0.113.200] pool doc-example-bgp-adv: announce"));

    args.push("--json");
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(plan["node"], "n1");
    let ibgp = session(&plan, "ibgp");
    assert_eq!(ibgp["type"], "iBGP");
    let host = advertisement(ibgp, "203.0.113.200/32");
    assert_eq!(host["localPref"], 100);
    assert_eq!(host["communities"], serde_json::json!(["65535:65282"]));
    let agg = advertisement(ibgp, "203.0.113.200/30");
    assert_eq!(agg["localPref"], Value::Null);
    assert_eq!(agg["communities"], serde_json::json!(["8000:800"]));
    assert_eq!(
        agg["services"],
        serde_json::json!(["default/a", "default/b"])
    );
    assert_eq!(ibgp["advertisements"].as_array().unwrap().len(), 3);
    let ebgp = session(&plan, "ebgp");
    assert_eq!(
        advertisement(ebgp, "203.0.113.200/32")["localPref"],
        Value::Null
    );
}

#[test]
fn examples_with_endpoints_and_withheld_services() {
    // The example as shipped: each pool's Service goes to its own peer only.
    let ex = examples("per-pool-peers");
    let out = run(&[
        "plan",
        "--node-name",
        "worker-0",
        "--json",
        "-f",
        ex.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let prefixes = |peer: &str| -> Vec<String> {
        session(&plan, peer)["advertisements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["prefix"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(prefixes("peer1"), ["4.4.4.100/32"]);
    assert_eq!(prefixes("peer2"), ["5.5.5.100/32"]);

    // The ETP Local Service of advanced-advertisement is withheld on the node its pod is not
    // on; the Cluster one is announced there.
    let ex = examples("advanced-advertisement");
    let out = run(&[
        "plan",
        "--node-name",
        "worker-0",
        "--json",
        "-f",
        ex.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let api = plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "default/api")
        .unwrap();
    assert_eq!(api["announce"], false, "{api}");
    assert_eq!(api["reason"], "noLocalEndpoints", "{api}");
    let web = plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "default/web")
        .unwrap();
    assert_eq!(web["announce"], true, "{web}");
}

#[test]
fn invalid_objects_exit_1_with_the_plan_of_the_valid_ones() {
    let dir = TempDir::new("invalid");
    let seed = dir.write("seed.yaml", SEED_06);
    let peers = dir.write("peers.yaml", PEERS);
    let bad = dir.write(
        "bad.yaml",
        "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: broken}
spec: {peerAddress: 192.0.2.3, peerASN: 64501, myASN: 0}",
    );
    let svcs = dir.write("services.yaml", &service("a", "203.0.113.200", "n1"));
    let out = run(&[
        "plan",
        "--node-name",
        "n1",
        "-f",
        seed.to_str().unwrap(),
        peers.to_str().unwrap(),
        bad.to_str().unwrap(),
        svcs.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("203.0.113.200/32"),
        "the valid part is planned: {stdout}"
    );
    assert!(
        stdout.contains("BGPPeer metallb-system/broken: spec.myASN"),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("1 invalid object"));
}

#[test]
fn passwords_never_printed_and_missing_secret_pending() {
    let dir = TempDir::new("password");
    let peer = dir.write(
        "peer.yaml",
        "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: secure}
spec:
  peerAddress: 192.0.2.9
  peerASN: 64501
  myASN: 64500
  passwordSecret: {name: bgp-pass}",
    );
    let out = run(&["plan", "--node-name", "n1", "-f", peer.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a missing Secret leaves the peer invalid: {stdout}"
    );
    assert!(stdout.contains("secure: pending"), "{stdout}");
    assert!(
        !stdout.contains("vrf default"),
        "no session without its password: {stdout}"
    );

    let secret = dir.write(
        "secret.yaml",
        "apiVersion: v1
kind: Secret
metadata: {namespace: metallb-system, name: bgp-pass}
type: kubernetes.io/basic-auth
stringData: {password: TopSecret-42}",
    );
    for json in [false, true] {
        let mut args = vec![
            "plan",
            "--node-name",
            "n1",
            "-f",
            peer.to_str().unwrap(),
            secret.to_str().unwrap(),
        ];
        if json {
            args.push("--json");
        }
        let out = run(&args);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{all}");
        assert!(!all.contains("TopSecret-42"), "password leaked: {all}");
        assert!(
            all.contains("bgp-pass"),
            "the password's source is shown: {all}"
        );
    }
}

#[test]
fn unreadable_input_exits_2() {
    let dir = TempDir::new("unreadable");
    let missing = dir.0.join("does-not-exist.yaml");
    let out = run(&["plan", "--node-name", "n1", "-f", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing planned");
    let broken = dir.write("broken.yaml", "apiVersion: v1\nkind: [unclosed\n");
    let out = run(&["plan", "--node-name", "n1", "-f", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // Missing --node-name is a usage error.
    let out = run(&["plan", "-f", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}
