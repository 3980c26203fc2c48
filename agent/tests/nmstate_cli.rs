//! The `metalroute nmstate` CLI (`apply`, `show`) run as a program inside network namespaces
//! the tests create, with the kernel's state checked through `ip -j`: applying a
//! NodeNetworkConfigurationPolicy file (veth, bridge, MTU, addresses, a route in another table,
//! a rule), re-applying it with zero writes, `show` reporting it, shrinking the state (only
//! what metalroute created is removed; a foreign route stays), a probe failing after the apply
//! (rolled back, exit 1; kept with `--no-rollback`), and bad input (exit 1 naming the key, exit
//! 2 for unreadable input) leaving the kernel untouched.

#[allow(dead_code)]
mod common;

use common::{responder, BIN};
use metalroute_netns::{addr, ip_json, prerequisites, route, veth, Need, Netns};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The whole policy, as a cluster administrator writes it.
const POLICY: &str = r#"
apiVersion: nmstate.io/v1
kind: NodeNetworkConfigurationPolicy
metadata:
  name: uplink
spec:
  nodeSelector:
    kubernetes.io/hostname: worker-0
  desiredState:
    interfaces:
      - name: v0
        type: veth
        state: up
        mtu: 1400
        veth:
          peer: v0p
        ipv4:
          enabled: true
          dhcp: false
          address:
            - ip: 192.0.2.1
              prefix-length: 24
        ipv6:
          enabled: true
          dhcp: false
          autoconf: false
          address:
            - ip: 2001:db8:1::1
              prefix-length: 64
      - name: br0
        type: linux-bridge
        state: up
        bridge:
          options:
            stp:
              enabled: false
          port:
            - name: v0p
    routes:
      config:
        - destination: 203.0.113.0/24
          next-hop-address: 192.0.2.2
          next-hop-interface: v0
          metric: 50
          table-id: 100
    route-rules:
      config:
        - ip-from: 198.51.100.0/24
          priority: 1000
          route-table: 100
"#;

/// The same node with only the veth left (a bare desiredState document this time; its
/// `ipv6` section is left out, which in nmstate means "keep as is").
const SMALLER: &str = r#"
interfaces:
  - name: v0
    type: veth
    state: up
    mtu: 1400
    veth:
      peer: v0p
    ipv4:
      enabled: true
      dhcp: false
      address:
        - ip: 192.0.2.1
          prefix-length: 24
"#;

/// A scratch directory for input files and the ownership record, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("metalroute-nmcli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    fn record(&self) -> PathBuf {
        self.0.join("owned.json")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `metalroute nmstate ARGS` inside `ns`.
fn nmstate(ns: &Netns, args: &[&str]) -> Output {
    let mut argv = vec![BIN, "nmstate"];
    argv.extend_from_slice(args);
    ns.try_exec(&argv)
}

/// `metalroute nmstate apply -f FILE --record RECORD EXTRA...` inside `ns`.
fn apply(ns: &Netns, dir: &Dir, file: &Path, extra: &[&str]) -> Output {
    let (f, r) = (file.to_str().unwrap(), dir.record());
    let mut args = vec!["apply", "-f", f, "--record", r.to_str().unwrap()];
    args.extend_from_slice(extra);
    nmstate(ns, &args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn describe(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// The link `name` as `ip -j -d link show` reports it, or `None`.
fn link(ns: &Netns, name: &str) -> Option<Value> {
    ip_json(ns, &["-d", "link", "show"])
        .as_array()?
        .iter()
        .find(|l| l["ifname"] == name)
        .cloned()
}

/// The addresses of `ifname` other than IPv6 link-local, as `ip/len`, sorted.
fn addresses(ns: &Netns, ifname: &str) -> Vec<String> {
    let v = ip_json(ns, &["addr", "show", "dev", ifname]);
    let mut out: Vec<String> = v[0]["addr_info"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| i["scope"] != "link")
                .map(|i| format!("{}/{}", i["local"].as_str().unwrap_or("?"), i["prefixlen"]))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The routes of table `table` (IPv4), as `ip -j route show table N` reports them.
fn table(ns: &Netns, table: &str) -> Vec<Value> {
    ip_json(ns, &["route", "show", "table", table])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The rules at priority `prio` (IPv4).
fn rules_at(ns: &Netns, prio: u64) -> Vec<Value> {
    ip_json(ns, &["rule", "show"])
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["priority"] == prio)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

const NEEDS: &[Need] = &[Need::Root];

#[test]
fn nmstate_cli_apply_show_reapply_and_shrink() {
    if !prerequisites("nmstate_cli_apply_show_reapply_and_shrink", NEEDS) {
        return;
    }
    let ns = Netns::new("mrnmca");
    let dir = Dir::new("a");
    let policy = dir.file("policy.yaml", POLICY);

    let o = apply(&ns, &dir, &policy, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let out = text(&o.stdout);
    assert!(out.contains("applied and verified:"), "{}", describe(&o));
    assert!(
        out.contains("br0"),
        "the changes name what was created: {out}"
    );

    // The kernel, as `ip` sees it.
    let v0 = link(&ns, "v0").expect("v0 created");
    assert_eq!(v0["linkinfo"]["info_kind"], "veth", "{v0}");
    assert_eq!(v0["mtu"], 1400, "{v0}");
    assert_eq!(v0["operstate"], "UP", "{v0}");
    let br0 = link(&ns, "br0").expect("br0 created");
    assert_eq!(br0["linkinfo"]["info_kind"], "bridge", "{br0}");
    assert_eq!(br0["linkinfo"]["info_data"]["stp_state"], 0, "{br0}");
    let v0p = link(&ns, "v0p").expect("veth peer created");
    assert_eq!(v0p["master"], "br0", "{v0p}");
    assert_eq!(
        addresses(&ns, "v0"),
        vec!["192.0.2.1/24", "2001:db8:1::1/64"]
    );
    let t100 = table(&ns, "100");
    let r = t100
        .iter()
        .find(|r| r["dst"] == "203.0.113.0/24")
        .unwrap_or_else(|| panic!("route in table 100: {t100:?}"));
    assert_eq!(r["gateway"], "192.0.2.2", "{r}");
    assert_eq!(r["dev"], "v0", "{r}");
    assert_eq!(r["metric"], 50, "{r}");
    // Routing protocol 233 marks metalroute's routes (iproute2 shows an unnamed number).
    assert_eq!(r["protocol"].to_string().trim_matches('"'), "233", "{r}");
    let rules = rules_at(&ns, 1000);
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0]["src"], "198.51.100.0", "{rules:?}");
    assert_eq!(rules[0]["srclen"], 24, "{rules:?}");
    assert_eq!(rules[0]["table"], "100", "{rules:?}");
    // The links it created are recorded.
    let record = std::fs::read_to_string(dir.record()).expect("ownership record written");
    assert!(record.contains("br0") && record.contains("v0"), "{record}");

    // `show` reports the same state in nmstate's shape.
    let o = nmstate(&ns, &["show", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let shown: Value = serde_json::from_slice(&o.stdout).expect("show --json prints JSON");
    let ifaces = shown["interfaces"].as_array().expect("interfaces");
    let v0 = ifaces.iter().find(|i| i["name"] == "v0").expect("v0 shown");
    assert_eq!(v0["type"], "veth", "{v0}");
    assert_eq!(v0["mtu"], 1400, "{v0}");
    assert_eq!(v0["veth"]["peer"], "v0p", "{v0}");
    assert_eq!(
        v0["ipv4"]["address"][0],
        serde_json::json!({"ip": "192.0.2.1", "prefix-length": 24}),
        "{v0}"
    );
    let br = ifaces
        .iter()
        .find(|i| i["name"] == "br0")
        .expect("br0 shown");
    assert_eq!(br["type"], "linux-bridge", "{br}");
    assert_eq!(br["bridge"]["port"][0]["name"], "v0p", "{br}");
    let config = shown["routes"]["config"].as_array().expect("routes.config");
    assert!(
        config.iter().any(|r| r["destination"] == "203.0.113.0/24"
            && r["table-id"] == 100
            && r["next-hop-address"] == "192.0.2.2"),
        "{config:?}"
    );
    let o = nmstate(&ns, &["show"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let yaml = text(&o.stdout);
    assert!(
        yaml.contains("name: br0") && yaml.contains("type: linux-bridge"),
        "{yaml}"
    );

    // Applying the same file again changes nothing.
    let o = apply(&ns, &dir, &policy, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(
        text(&o.stdout).contains("applied and verified: 0 changes, 0 writes"),
        "{}",
        describe(&o)
    );

    // A route another owner put in table 100 is not metalroute's to remove.
    route(
        &ns,
        "198.51.100.0/24 via 192.0.2.3 dev v0 table 100 proto static",
    );
    // The smaller state: the bridge, the route and the rule go; the veth and the foreign
    // route stay.
    let smaller = dir.file("smaller.yaml", SMALLER);
    let o = apply(&ns, &dir, &smaller, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(link(&ns, "br0").is_none(), "br0 removed");
    let v0p = link(&ns, "v0p").expect("veth peer stays");
    assert_eq!(v0p.get("master"), None, "{v0p}");
    // nmstate semantics: the omitted `ipv6` section leaves v0's IPv6 addresses as they are.
    assert_eq!(
        addresses(&ns, "v0"),
        vec!["192.0.2.1/24", "2001:db8:1::1/64"]
    );
    let t100 = table(&ns, "100");
    assert!(
        !t100.iter().any(|r| r["dst"] == "203.0.113.0/24"),
        "{t100:?}"
    );
    assert!(
        t100.iter().any(|r| r["dst"] == "198.51.100.0/24"),
        "the foreign route was removed: {t100:?}"
    );
    assert!(rules_at(&ns, 1000).is_empty());
}

/// A TCP probe that passes before the apply and fails after it (the state takes away the
/// address the probe's target is reached through): the CLI rolls back and exits 1; with
/// `--no-rollback` the failed state is kept, still with exit 1.
#[test]
fn nmstate_cli_probe_failure_rolls_back() {
    if !prerequisites("nmstate_cli_probe_failure_rolls_back", NEEDS) {
        return;
    }
    let ns = Netns::new("mrnmcp");
    let far = Netns::new("mrnmcf");
    veth(&ns, "x0", &far, "x1");
    addr(&ns, "x0", "198.51.100.1/24");
    addr(&far, "x1", "198.51.100.2/24");
    let stop = Arc::new(AtomicBool::new(false));
    responder(&far, "198.51.100.2:8080", "far", stop.clone());
    let dir = Dir::new("p");
    // x0 is not created by metalroute (no type): its address list is replaced, and a bridge
    // is created.
    let state = dir.file(
        "state.yaml",
        r#"
interfaces:
  - name: x0
    ipv4:
      enabled: true
      dhcp: false
      address:
        - ip: 192.0.2.1
          prefix-length: 24
  - name: br9
    type: linux-bridge
    state: up
"#,
    );
    let links_before: Vec<String> = ip_json(&ns, &["link", "show"])
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap().to_string())
        .collect();

    let o = apply(
        &ns,
        &dir,
        &state,
        &["--probe-tcp", "198.51.100.2:8080", "--timeout", "5"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let err = text(&o.stderr);
    assert!(
        err.contains("198.51.100.2:8080") && err.contains("rolled back"),
        "{}",
        describe(&o)
    );
    assert_eq!(
        addresses(&ns, "x0"),
        vec!["198.51.100.1/24"],
        "address restored"
    );
    assert!(link(&ns, "br9").is_none(), "bridge removed by the rollback");
    let links_after: Vec<String> = ip_json(&ns, &["link", "show"])
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(links_before, links_after);

    // --no-rollback: the same failure, but the new state stays for inspection.
    let o = apply(
        &ns,
        &dir,
        &state,
        &[
            "--probe-tcp",
            "198.51.100.2:8080",
            "--timeout",
            "5",
            "--no-rollback",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert_eq!(addresses(&ns, "x0"), vec!["192.0.2.1/24"]);
    assert!(link(&ns, "br9").is_some());
    stop.store(true, Ordering::SeqCst);
}

/// Invalid input is refused before anything is touched: an unsupported key exits 1 naming its
/// path, unreadable YAML and a missing file exit 2, a bad `--probe-dns` exits 2.
#[test]
fn nmstate_cli_bad_input_changes_nothing() {
    if !prerequisites("nmstate_cli_bad_input_changes_nothing", NEEDS) {
        return;
    }
    let ns = Netns::new("mrnmcb");
    let dir = Dir::new("b");
    let before = ip_json(&ns, &["-d", "link", "show"]);

    let unsupported = dir.file(
        "unsupported.yaml",
        "interfaces:\n  - name: br1\n    type: linux-bridge\n    lldp:\n      enabled: true\n",
    );
    let o = apply(&ns, &dir, &unsupported, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(
        text(&o.stderr).contains("desiredState.interfaces[0].lldp"),
        "{}",
        describe(&o)
    );

    let bad_type = dir.file(
        "bad-type.yaml",
        "interfaces:\n  - name: t0\n    type: tunnel\n",
    );
    let o = apply(&ns, &dir, &bad_type, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(
        text(&o.stderr).contains("interfaces[0]") && text(&o.stderr).contains("tunnel"),
        "{}",
        describe(&o)
    );

    let broken = dir.file("broken.yaml", "interfaces: [unclosed\n");
    let o = apply(&ns, &dir, &broken, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(text(&o.stderr).contains("broken.yaml"), "{}", describe(&o));

    let missing = dir.0.join("does-not-exist.yaml");
    let o = apply(&ns, &dir, &missing, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(
        text(&o.stderr).contains("does-not-exist.yaml"),
        "{}",
        describe(&o)
    );

    let ok = dir.file(
        "ok.yaml",
        "interfaces:\n  - name: br1\n    type: linux-bridge\n",
    );
    let o = apply(
        &ns,
        &dir,
        &ok,
        &["--probe-dns", "example.org@not-an-address"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(
        text(&o.stderr).contains("not-an-address"),
        "{}",
        describe(&o)
    );

    assert_eq!(ip_json(&ns, &["-d", "link", "show"]), before);
    assert!(!dir.record().exists(), "no ownership record written");
}
