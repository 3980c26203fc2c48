//! `metalroute run` drives the nmstate applier: a NodeNetworkConfigurationPolicy selecting the
//! node puts its routes and route rules into the node's kernel (inside a test namespace), an
//! edit changes them, and a policy for another node changes nothing.

use metalroute_netns::{addr, prerequisites, veth, wait_for, Need, Netns};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_metalroute");

fn policy(node: &str, table: u32, dest: &str) -> String {
    format!(
        r#"apiVersion: nmstate.io/v1
kind: NodeNetworkConfigurationPolicy
metadata: {{name: egress-table}}
spec:
  nodeSelector: {{kubernetes.io/hostname: {node}}}
  desiredState:
    routes:
      config:
        - destination: {dest}
          next-hop-address: 192.0.2.1
          next-hop-interface: eth0
          table-id: {table}
    route-rules:
      config:
        - ip-from: 203.0.113.0/28
          priority: 1000
          route-table: {table}
"#
    )
}

#[test]
fn run_network_policy_reaches_the_kernel_and_edits_apply() {
    if !prerequisites(
        "run_network_policy_reaches_the_kernel_and_edits_apply",
        &[Need::Root],
    ) {
        return;
    }
    let node = Netns::new("mrnet");
    let peer = Netns::new("mrnetp");
    veth(&node, "eth0", &peer, "eth0");
    addr(&node, "eth0", "192.0.2.11/24");
    addr(&peer, "eth0", "192.0.2.1/24");
    let dir = std::env::temp_dir().join(format!("metalroute-run-network-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.yaml"), policy("node-1", 100, "0.0.0.0/0")).unwrap();
    let log = dir.with_extension("log");
    let sock = dir.with_extension("sock");
    let mut agent = node.spawn_logged(
        &[
            BIN,
            "run",
            "--node-name",
            "node-1",
            "--config",
            dir.to_str().unwrap(),
            "--admin-socket",
            sock.to_str().unwrap(),
            "--bgp-port",
            "0",
            "--log-format",
            "json",
        ],
        &log,
    );
    let show = |args: &[&str]| String::from_utf8_lossy(&node.try_exec(args).stdout).into_owned();
    let deadline = Duration::from_secs(30);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for("rule and route of table 100", deadline, || {
            let rules = show(&["ip", "rule", "show"]);
            let routes = show(&["ip", "route", "show", "table", "100"]);
            (rules.contains("from 203.0.113.0/28 lookup 100")
                && routes.contains("default via 192.0.2.1"))
            .then_some(())
        });
        // Edit: the route of table 100 changes to a /24 destination.
        std::fs::write(
            dir.join("policy.yaml"),
            policy("node-1", 100, "198.51.100.0/24"),
        )
        .unwrap();
        wait_for("edited route in table 100", deadline, || {
            let routes = show(&["ip", "route", "show", "table", "100"]);
            routes
                .contains("198.51.100.0/24 via 192.0.2.1")
                .then_some(())
        });
        let plan = std::process::Command::new(BIN)
            .args(["show", "plan", "--admin-socket", sock.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&plan.stdout);
        assert!(text.contains("egress-table"), "{text}");
        assert!(text.contains("network state: applied"), "{text}");
        // A policy naming an interface the node lacks fails (and is rolled back); the agent
        // keeps running and says why.
        std::fs::write(
            dir.join("policy.yaml"),
            policy("node-1", 101, "0.0.0.0/0")
                .replace("next-hop-interface: eth0", "next-hop-interface: nope0"),
        )
        .unwrap();
        wait_for("failed apply reported", deadline, || {
            let out = std::process::Command::new(BIN)
                .args(["show", "plan", "--admin-socket", sock.to_str().unwrap()])
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.contains("network state: failed").then_some(())
        });
        assert!(
            agent.try_wait().is_none(),
            "agent exited after a failed apply"
        );
    }));
    agent.signal(15);
    let st = agent.wait_timeout(Duration::from_secs(20));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&log);
    if let Err(p) = r {
        eprintln!("--- agent log ---\n{text}");
        std::panic::resume_unwind(p);
    }
    assert!(
        st.is_some_and(|s| s.success()),
        "agent did not stop cleanly: {st:?}\n{text}"
    );
}
