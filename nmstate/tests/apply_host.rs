//! Applying desired states in network namespaces on the host kernel (no VRF here): veth,
//! bridge, addresses, routes in several tables (incl. multipath and blackhole), rules,
//! sysctls; idempotence; ownership; drift repair; the NodeNetworkState report.

mod common;

use common::*;
use metalroute_netns::{ip_json, prerequisites, read_sysctl, Need, Netns};
use metalroute_nmstate::drift::{self, Repair};
use metalroute_nmstate::{report, Applier};
use std::time::{Duration, Instant};

const FULL: &str = r#"
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
    forwarding: true
    rp-filter: loose
  ipv6:
    enabled: true
    dhcp: false
    autoconf: false
    address:
    - ip: 2001:db8:1::1
      prefix-length: 64
    forwarding: true
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
  - destination: 198.51.100.0/24
    next-hop-address: 192.0.2.2
    next-hop-interface: v0
  - destination: 203.0.113.0/24
    next-hop-address: 192.0.2.2
    next-hop-interface: v0
    metric: 50
    table-id: 100
  - destination: 203.0.113.128/25
    next-hop-address: 192.0.2.2
    next-hop-interface: v0
    weight: 1
    table-id: 200
  - destination: 203.0.113.128/25
    next-hop-address: 192.0.2.3
    next-hop-interface: v0
    weight: 3
    table-id: 200
  - destination: 2001:db8:100::/48
    next-hop-address: 2001:db8:1::2
    next-hop-interface: v0
    table-id: 100
  - destination: 198.51.100.128/25
    route-type: blackhole
    table-id: 300
route-rules:
  config:
  - ip-from: 192.0.2.0/24
    priority: 100
    route-table: 100
  - fwmark: "0x10"
    priority: 101
    route-table: 200
  - iif: v0
    priority: 102
    route-table: 100
  - ip-to: 2001:db8:100::/48
    priority: 103
    route-table: 100
  - ip-to: 203.0.113.99/32
    priority: 104
    action: blackhole
"#;

#[test]
fn applies_links_addresses_routes_rules_and_sysctls() {
    if !prerequisites(
        "applies_links_addresses_routes_rules_and_sysctls",
        &[Need::Root],
    ) {
        return;
    }
    let ns = Netns::new("nmfull");
    let rec = record_path("full");
    let report = apply_in(&ns, &rec, &state(FULL), &opts(vec![])).expect("apply");
    assert!(report.writes > 10, "{report:?}");

    let links = ip_json(&ns, &["-d", "link", "show"]);
    let v0 = links
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ifname"] == "v0")
        .unwrap();
    assert_eq!(v0["mtu"], 1400);
    assert_eq!(v0["linkinfo"]["info_kind"], "veth");
    assert!(v0["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
    let v0p = links
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ifname"] == "v0p")
        .unwrap();
    assert_eq!(v0p["master"], "br0");
    let br0 = links
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ifname"] == "br0")
        .unwrap();
    assert_eq!(br0["linkinfo"]["info_data"]["stp_state"], 0);

    let addrs = ip_json(&ns, &["addr", "show", "dev", "v0"]);
    let infos: Vec<String> = addrs[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect();
    assert!(infos.contains(&"192.0.2.1/24".to_string()), "{infos:?}");
    assert!(infos.contains(&"2001:db8:1::1/64".to_string()), "{infos:?}");

    let routes = our_routes(&ns);
    let dsts: Vec<String> = routes
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["dst"].as_str().unwrap(),
                r["table"].as_str().unwrap_or("main")
            )
        })
        .collect();
    for want in [
        "198.51.100.0/24 main",
        "203.0.113.0/24 100",
        "203.0.113.128/25 200",
        "2001:db8:100::/48 100",
        "198.51.100.128/25 300",
    ] {
        assert!(dsts.iter().any(|d| d == want), "missing {want} in {dsts:?}");
    }
    let mp = routes
        .iter()
        .find(|r| r["dst"] == "203.0.113.128/25")
        .unwrap();
    let hops = mp["nexthops"].as_array().expect("multipath");
    assert_eq!(hops.len(), 2);
    assert!(hops
        .iter()
        .any(|h| h["gateway"] == "192.0.2.3" && h["weight"] == 3));
    let bh = routes
        .iter()
        .find(|r| r["dst"] == "198.51.100.128/25")
        .unwrap();
    assert_eq!(bh["type"], "blackhole");

    let rules = our_rules(&ns);
    let prios: Vec<u64> = rules
        .iter()
        .map(|r| r["priority"].as_u64().unwrap())
        .collect();
    assert_eq!(prios, vec![100, 101, 102, 104, 103], "{rules:?}");
    assert!(rules
        .iter()
        .any(|r| r["fwmark"] == "0x10" && r["table"] == "200"));
    assert!(rules
        .iter()
        .any(|r| r["iif"] == "v0" && r["table"] == "100"));
    assert!(rules
        .iter()
        .any(|r| r["priority"] == 104 && r["action"] == "blackhole"));

    assert_eq!(read_sysctl(&ns, "net.ipv4.conf.v0.forwarding"), "1");
    assert_eq!(read_sysctl(&ns, "net.ipv4.conf.v0.rp_filter"), "2");
    assert_eq!(read_sysctl(&ns, "net.ipv6.conf.v0.forwarding"), "1");
    let _ = std::fs::remove_dir_all(rec.parent().unwrap());
}

#[test]
fn second_apply_makes_no_writes() {
    if !prerequisites("second_apply_makes_no_writes", &[Need::Root]) {
        return;
    }
    let ns = Netns::new("nmidem");
    let rec = record_path("idem");
    let desired = state(FULL);
    let (first, second, verify) = ns.block_on(|| async {
        let mut a = Applier::open(Some(&rec)).unwrap();
        let first = a.apply(&desired, &opts(vec![])).await.unwrap();
        let before = a.writes();
        let second = a.apply(&desired, &opts(vec![])).await.unwrap();
        assert_eq!(a.writes(), before);
        // A new applier (a restarted agent) reads the record back and still writes nothing.
        let mut b = Applier::open(Some(&rec)).unwrap();
        let third = b.apply(&desired, &opts(vec![])).await.unwrap();
        assert_eq!(third.writes, 0, "{third:?}");
        (first, second, a.verify(&desired).await.unwrap())
    });
    assert!(first.writes > 0);
    assert_eq!(second.writes, 0, "second apply wrote: {:?}", second.changes);
    assert!(second.changes.is_empty());
    assert!(verify.is_empty(), "{verify:?}");
    let _ = std::fs::remove_dir_all(rec.parent().unwrap());
}

#[test]
fn foreign_route_and_rule_survive_every_operation() {
    if !prerequisites(
        "foreign_route_and_rule_survive_every_operation",
        &[Need::Root],
    ) {
        return;
    }
    let ns = Netns::new("nmown");
    let rec = record_path("own");
    ns.sh(
        "ip link add f0 type veth peer name f0p && ip link set f0 up && ip link set f0p up \
           && ip addr add 192.0.2.10/24 dev f0 \
           && ip route add 203.0.113.0/24 via 192.0.2.20 table 100 proto static \
           && ip route add 198.51.100.0/24 via 192.0.2.20 proto boot \
           && ip rule add from 192.0.2.0/24 lookup 100 pref 200",
    );
    let foreign = |ns: &Netns| {
        let r4 = ip_json(ns, &["-4", "route", "show", "table", "all"]);
        let rules = ip_json(ns, &["-d", "rule", "show"]);
        let route_ok = r4.as_array().unwrap().iter().any(|r| {
            r["dst"] == "203.0.113.0/24" && r["table"] == "100" && r["protocol"] == "static"
        }) && r4
            .as_array()
            .unwrap()
            .iter()
            // `ip -j` leaves out protocol boot (the default).
            .any(|r| r["dst"] == "198.51.100.0/24" && r.get("protocol").is_none());
        let rule_ok = rules
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["priority"] == 200 && r["table"] == "100");
        route_ok && rule_ok
    };
    // Our routes beside theirs in the same tables, an absent entry matching theirs, then a
    // state without anything: theirs stay every time.
    let with_ours = state(
        r#"
interfaces:
- name: f0
  type: ethernet
  state: up
routes:
  config:
  - destination: 203.0.113.0/24
    next-hop-address: 192.0.2.20
    next-hop-interface: f0
    table-id: 100
    metric: 10
  - destination: 198.51.100.0/24
    state: absent
route-rules:
  config:
  - ip-from: 192.0.2.0/24
    priority: 201
    route-table: 100
  - ip-from: 192.0.2.0/24
    state: absent
"#,
    );
    let report = apply_in(&ns, &rec, &with_ours, &opts(vec![])).expect("apply with ours");
    assert!(foreign(&ns));
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("198.51.100.0/24") && w.contains("left in place")),
        "{:?}",
        report.warnings
    );
    assert_eq!(our_routes(&ns).len(), 1);
    assert_eq!(our_rules(&ns).len(), 1);
    apply_in(&ns, &rec, &state("interfaces: []\n"), &opts(vec![])).expect("apply empty");
    assert!(foreign(&ns));
    assert!(our_routes(&ns).is_empty());
    assert!(our_rules(&ns).is_empty());
    // A state that would replace their route is refused and leaves everything as it was.
    let before = dump(&ns);
    let err = apply_in(
        &ns,
        &rec,
        &state(
            "routes:\n  config:\n  - {destination: 203.0.113.0/24, next-hop-address: 192.0.2.30, next-hop-interface: f0, table-id: 100}\n",
        ),
        &opts(vec![]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not own"), "{err}");
    assert_dump_eq(&ns, &before, "refused conflicting route");
    assert!(foreign(&ns));
    // Deleting a link metalroute did not create is refused too.
    let err = apply_in(
        &ns,
        &rec,
        &state("interfaces:\n- {name: f0, type: ethernet, state: absent}\n"),
        &opts(vec![]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("did not create"), "{err}");
    assert!(foreign(&ns));
    let _ = std::fs::remove_dir_all(rec.parent().unwrap());
}

#[test]
fn owned_links_are_removed_when_no_longer_desired() {
    if !prerequisites(
        "owned_links_are_removed_when_no_longer_desired",
        &[Need::Root],
    ) {
        return;
    }
    let ns = Netns::new("nmpurge");
    let rec = record_path("purge");
    apply_in(
        &ns,
        &rec,
        &state("interfaces:\n- {name: pv0, type: veth, veth: {peer: pv1}}\n- {name: pbr, type: linux-bridge}\n"),
        &opts(vec![]),
    )
    .unwrap();
    let saved = std::fs::read_to_string(&rec).unwrap();
    assert!(
        saved.contains("pv0") && saved.contains("pv1") && saved.contains("pbr"),
        "{saved}"
    );
    // Explicit absent, and the bridge simply no longer mentioned.
    apply_in(
        &ns,
        &rec,
        &state("interfaces:\n- {name: pv0, type: veth, state: absent}\n"),
        &opts(vec![]),
    )
    .unwrap();
    let links = ip_json(&ns, &["link", "show"]);
    let names: Vec<&str> = links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["lo"]);
    let saved = std::fs::read_to_string(&rec).unwrap();
    assert!(!saved.contains("pv0") && !saved.contains("pbr"), "{saved}");
    let _ = std::fs::remove_dir_all(rec.parent().unwrap());
}

#[test]
fn drift_is_repaired_within_a_second() {
    if !prerequisites("drift_is_repaired_within_a_second", &[Need::Root]) {
        return;
    }
    let ns = Netns::new("nmdrift");
    let rec = record_path("drift");
    let desired = state(FULL);
    let name = ns.name().to_string();
    let (repairs_tx, mut repairs_rx) = tokio::sync::mpsc::unbounded_channel::<Repair>();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (_desired_tx, desired_rx) = tokio::sync::watch::channel(desired.clone());
    let timings = ns.block_on(move || async move {
        let mut a = Applier::open(Some(&rec)).unwrap();
        a.apply(&desired, &opts(vec![])).await.unwrap();
        let guard = tokio::spawn(async move {
            let mut a = a;
            drift::guard(&mut a, desired_rx, repairs_tx, stop_rx).await
        });
        let mut timings = Vec::new();
        // Each change is made by `ip` (another process), the way an admin or another agent
        // would, and must be undone by the guard.
        for cmd in [
            "ip route del 203.0.113.0/24 table 100",
            "ip rule del pref 101",
            "ip link set v0 down",
            "ip addr del 192.0.2.1/24 dev v0",
            "ip route add 192.0.2.128/25 via 192.0.2.9 table 100 proto 233",
            "ip link set v0 mtu 1300",
        ] {
            // Let the previous repair's own notifications pass.
            tokio::time::sleep(Duration::from_millis(100)).await;
            while repairs_rx.try_recv().is_ok() {}
            let start = Instant::now();
            let out = tokio::process::Command::new("ip")
                .args(["netns", "exec", &name, "sh", "-c", cmd])
                .output()
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "{cmd}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let repair = tokio::time::timeout(Duration::from_secs(1), repairs_rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no repair within 1 s after `{cmd}`"))
                .unwrap();
            timings.push((cmd.to_string(), start.elapsed(), repair.changes));
        }
        stop_tx.send(true).unwrap();
        guard.await.unwrap().unwrap();
        timings
    });
    for (cmd, t, changes) in &timings {
        assert!(*t < Duration::from_secs(1), "{cmd}: {t:?}");
        assert!(!changes.is_empty(), "{cmd}");
    }
    assert!(
        timings[0]
            .2
            .iter()
            .any(|c| c.contains("add route 203.0.113.0/24")),
        "{:?}",
        timings[0].2
    );
    assert!(
        timings[4]
            .2
            .iter()
            .any(|c| c.contains("delete route 192.0.2.128/25")),
        "{:?}",
        timings[4].2
    );
    assert!(
        timings[5].2.iter().any(|c| c.contains("mtu 1400")),
        "{:?}",
        timings[5].2
    );
    let mtu = ip_json(&ns, &["link", "show", "v0"])[0]["mtu"].clone();
    assert_eq!(mtu, 1400);
}

#[test]
fn report_shows_nmstate_shaped_state() {
    if !prerequisites("report_shows_nmstate_shaped_state", &[Need::Root]) {
        return;
    }
    let ns = Netns::new("nmshow");
    let rec = record_path("show");
    apply_in(&ns, &rec, &state(FULL), &opts(vec![])).unwrap();
    let (yaml, value) = ns.block_on(|| async {
        let a = Applier::open(None).unwrap();
        let st = a.kernel_state().await.unwrap();
        let v = report::current_state(&st, &report::interface_sysctls(&st));
        (report::to_yaml(&v), v)
    });
    let ifaces = value["interfaces"].as_array().unwrap();
    let v0 = ifaces.iter().find(|i| i["name"] == "v0").unwrap();
    assert_eq!(v0["type"], "veth");
    assert_eq!(v0["mtu"], 1400);
    assert_eq!(v0["ipv4"]["forwarding"], true);
    assert_eq!(v0["ipv4"]["rp-filter"], "loose");
    assert_eq!(v0["veth"]["peer"], "v0p");
    let br = ifaces.iter().find(|i| i["name"] == "br0").unwrap();
    assert_eq!(br["type"], "linux-bridge");
    assert_eq!(br["bridge"]["port"][0]["name"], "v0p");
    let config = value["routes"]["config"].as_array().unwrap();
    assert!(config.iter().any(|r| r["destination"] == "203.0.113.0/24"
        && r["table-id"] == 100
        && r["metric"] == 50));
    assert_eq!(
        config
            .iter()
            .filter(|r| r["destination"] == "203.0.113.128/25")
            .count(),
        2,
        "multipath shown as one entry per next hop"
    );
    let rules = value["route-rules"]["config"].as_array().unwrap();
    assert!(rules
        .iter()
        .any(|r| r["priority"] == 101 && r["fwmark"] == "0x10"));
    assert!(
        yaml.contains("route-table-id") || yaml.contains("next-hop-interface: v0"),
        "{yaml}"
    );
    let _ = std::fs::remove_dir_all(rec.parent().unwrap());
}

#[test]
fn monitor_reports_lost_notifications_as_overflow() {
    if !prerequisites(
        "monitor_reports_lost_notifications_as_overflow",
        &[Need::Root],
    ) {
        return;
    }
    let ns = Netns::new("nmenobufs");
    ns.sh("ip link add o0 type veth peer name o0p && ip link set o0 up && ip addr add 192.0.2.1/24 dev o0");
    let batch = std::env::temp_dir().join(format!("nm-enobufs-{}.batch", std::process::id()));
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!(
            "route add 203.0.113.{}/32 via 192.0.2.2 table {}\n",
            i % 256,
            100 + i / 256
        ));
    }
    std::fs::write(&batch, text).unwrap();
    let name = ns.name().to_string();
    let overflowed = ns.block_on(move || async move {
        let mut m = drift::Monitor::subscribe().unwrap();
        m.set_receive_buffer(1024).unwrap();
        // 2,000 notifications while nobody reads: the buffer overflows.
        let out = tokio::process::Command::new("ip")
            .args(["-n", &name, "-batch"])
            .arg(&batch)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lost = false;
        for _ in 0..100 {
            match tokio::time::timeout(Duration::from_millis(500), m.next()).await {
                Ok(Ok(true)) => {
                    lost = true;
                    break;
                }
                Ok(Ok(false)) => continue,
                Ok(Err(e)) => panic!("monitor: {e}"),
                Err(_) => break,
            }
        }
        let _ = std::fs::remove_file(&batch);
        lost
    });
    assert!(overflowed, "ENOBUFS was not reported");
}
