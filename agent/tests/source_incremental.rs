//! The file source's in-place updates give exactly what validating everything again gives.
//!
//! Two sources read the same directory through a deterministic series of edits (Services and
//! EndpointSlices written, broken, duplicated, renamed in, deleted; files with syntax errors;
//! pool, peer, BFD profile, Secret and Community edits and deletions): one reads only the files
//! each edit touched and updates its snapshot in place where it can, the other reads the whole
//! directory and validates every object each time. After every edit both snapshots, both
//! problem lists and both nodes' plans must be equal.

use metalroute_agent::planner::{plan, replan_services, NodePlan, PlanBasis};
use metalroute_agent::source::FileSource;
use metalroute_crds::object::ReadOptions;
use std::path::{Path, PathBuf};

/// A temporary directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!(
            "metalroute-source-incr-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("config")).unwrap();
        std::fs::create_dir_all(d.join("staging")).unwrap();
        Dir(d)
    }

    fn config(&self) -> PathBuf {
        self.0.join("config")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small deterministic generator (a fixed edit series needs no dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

const BASE: &str = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: pool}
spec: {addresses: [203.0.113.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: adv}
spec:
  ipAddressPools: [pool]
  communities: [no-adv]
---
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {rack: a}}
";

fn peer(variant: u64) -> String {
    let extra = match variant % 4 {
        0 => "  bfdProfile: fast\n  passwordSecret: {name: bgp-pass}\n",
        1 => "  bfdProfile: fast\n",
        2 => "  holdTime: 1s\n",
        _ => "",
    };
    format!(
        "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{namespace: metallb-system, name: tor}}
spec:
  peerAddress: 192.0.2.1
  peerASN: 64501
  myASN: 64500
{extra}"
    )
}

const REFERENCED: &str = "apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {namespace: metallb-system, name: fast}
spec: {receiveInterval: 50}
---
apiVersion: v1
kind: Secret
metadata: {namespace: metallb-system, name: bgp-pass}
type: kubernetes.io/basic-auth
stringData: {password: pw}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {namespace: metallb-system, name: aliases}
spec:
  communities: [{name: no-adv, value: \"65535:65282\"}]
";

fn service(name: &str, ip: &str, etp: &str) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata: {{namespace: default, name: {name}}}
spec: {{type: LoadBalancer, externalTrafficPolicy: {etp}}}
status: {{loadBalancer: {{ingress: [{{ip: \"{ip}\"}}]}}}}
"
    )
}

fn slice(service: &str, node: &str, ready: bool) -> String {
    format!(
        "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{namespace: default, name: {service}-x, labels: {{kubernetes.io/service-name: {service}}}}}
addressType: IPv4
endpoints: [{{addresses: [10.0.0.1], nodeName: {node}, conditions: {{ready: {ready}}}}}]
"
    )
}

/// Service file `i` in variant `v`.
fn service_file(i: u64, v: u64) -> String {
    let n = format!("svc-{i}");
    let ip = format!("203.0.113.{i}");
    match v % 10 {
        0 => format!(
            "{}---\n{}",
            service(&n, &ip, "Cluster"),
            slice(&n, "n1", true)
        ),
        1 => format!(
            "{}---\n{}",
            service(&n, &ip, "Local"),
            slice(&n, "n2", true)
        ),
        2 => format!(
            "{}---\n{}",
            service(&n, &ip, "Local"),
            slice(&n, "n1", false)
        ),
        3 => service(&n, "not-an-ip", "Cluster"),
        4 => service(&n, "198.51.100.1", "Cluster"),
        // Also defines the next Service: a duplicate while that file exists.
        5 => format!(
            "{}---\n{}",
            service(&n, &ip, "Cluster"),
            service(&format!("svc-{}", i + 1), "203.0.113.250", "Cluster")
        ),
        // A shared IP.
        6 => format!(
            "{}---\n{}",
            service(&n, "203.0.113.200", "Cluster"),
            slice(&n, "n1", true)
        ),
        7 => "kind: [unclosed\n".to_string(),
        8 => slice(&n, "n1", true),
        _ => format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{i}}}\n---\n{}",
            service(&n, &ip, "Cluster")
        ),
    }
}

/// The previous step's basis and plans (for nodes n1, n2), and how many steps were patched.
#[derive(Default)]
struct Previous {
    plans: Option<(PlanBasis, Vec<NodePlan>)>,
    patched: usize,
}

/// Reads both sources and compares everything they give; when the in-place source says only
/// Services and EndpointSlices changed, the previous plans patched by the incremental planner
/// must equal the full plans.
fn compare(
    step: usize,
    what: &str,
    a: &mut FileSource,
    touched: &[PathBuf],
    b: &mut FileSource,
    prev: &mut Previous,
) {
    let ra = a.read_paths(touched.iter().map(PathBuf::as_path)).unwrap();
    let rb = b.read().unwrap();
    let (da, db) = (format!("{:#?}", ra.snapshot), format!("{:#?}", rb.snapshot));
    if da != db {
        // Show where they part (the whole dumps are long).
        let (la, lb): (Vec<&str>, Vec<&str>) = (da.lines().collect(), db.lines().collect());
        let at = la.iter().zip(&lb).take_while(|(x, y)| x == y).count();
        let from = at.saturating_sub(30);
        panic!(
            "step {step} ({what}): snapshots differ at line {at}\nin place:\n{}\nfull:\n{}",
            la[from..(at + 10).min(la.len())].join("\n"),
            lb[from..(at + 10).min(lb.len())].join("\n")
        );
    }
    assert_eq!(
        ra.file_problems, rb.file_problems,
        "step {step} ({what}): problems differ"
    );
    let mut full = Vec::new();
    for node in ["n1", "n2"] {
        let p = plan(rb.snapshot, node);
        assert_eq!(
            plan(ra.snapshot, node),
            p,
            "step {step} ({what}): plans for {node} differ"
        );
        full.push(p);
    }
    if let (true, Some((basis, plans))) = (ra.leaf_only, &prev.plans) {
        for (old, want) in plans.iter().zip(&full) {
            let mut p = old.clone();
            if replan_services(&mut p, &mut basis.clone(), ra.snapshot).is_some() {
                assert_eq!(&p, want, "step {step} ({what}): patched plan differs");
                prev.patched += 1;
            }
        }
    }
    prev.plans = Some((PlanBasis::of(ra.snapshot), full));
}

#[test]
fn in_place_updates_equal_full_validation_over_an_edit_series() {
    const SERVICES: u64 = 12;
    let d = Dir::new("series");
    let cfg = d.config();
    std::fs::write(cfg.join("00-base.yaml"), BASE).unwrap();
    std::fs::write(cfg.join("01-peer.yaml"), peer(0)).unwrap();
    std::fs::write(cfg.join("02-referenced.yaml"), REFERENCED).unwrap();
    for i in 1..=SERVICES {
        std::fs::write(cfg.join(format!("svc-{i:02}.yaml")), service_file(i, 0)).unwrap();
    }
    let mut a = FileSource::new(&cfg, ReadOptions::default());
    let mut b = FileSource::new(&cfg, ReadOptions::default());
    b.set_incremental(false);
    let mut prev = Previous::default();
    compare(0, "first read", &mut a, &[], &mut b, &mut prev);
    let mut rng = Lcg(42);
    for step in 1..=300 {
        let r = rng.next();
        let (what, touched): (String, Vec<PathBuf>) = match r % 20 {
            0 => {
                let v = rng.next();
                std::fs::write(cfg.join("01-peer.yaml"), peer(v)).unwrap();
                (
                    format!("peer variant {}", v % 4),
                    vec![cfg.join("01-peer.yaml")],
                )
            }
            1 => {
                let p = cfg.join("02-referenced.yaml");
                if p.exists() {
                    std::fs::remove_file(&p).unwrap();
                    ("referenced objects deleted".into(), vec![p])
                } else {
                    std::fs::write(&p, REFERENCED).unwrap();
                    ("referenced objects back".into(), vec![p])
                }
            }
            2 => {
                // A new Service renamed in from a staging directory.
                let i = 100 + rng.next() % 20;
                let staged = d.0.join("staging").join(format!("new-{i}.yaml"));
                std::fs::write(&staged, service_file(i % 50, 0)).unwrap();
                let target = cfg.join(format!("new-{i}.yaml"));
                std::fs::rename(&staged, &target).unwrap();
                (format!("renamed in new-{i}"), vec![target])
            }
            3 => {
                let i = 1 + rng.next() % SERVICES;
                let p = cfg.join(format!("svc-{i:02}.yaml"));
                let _ = std::fs::remove_file(&p);
                (format!("deleted svc-{i}"), vec![p])
            }
            4 => {
                // A hidden editor file: never read.
                let p = cfg.join(".svc-01.yaml.swp");
                std::fs::write(&p, service_file(1, 3)).unwrap();
                ("hidden file".into(), vec![p])
            }
            _ => {
                let i = 1 + rng.next() % SERVICES;
                let v = rng.next();
                let p = cfg.join(format!("svc-{i:02}.yaml"));
                std::fs::write(&p, service_file(i, v)).unwrap();
                (format!("svc-{i} variant {}", v % 10), vec![p])
            }
        };
        compare(step, &what, &mut a, &touched, &mut b, &mut prev);
    }
    let stats = a.stats();
    // Both ways were exercised many times (duplicates and non-Service edits refuse in place).
    assert!(
        stats.incremental >= 100,
        "too few in-place updates: {stats:?}"
    );
    assert!(stats.full >= 20, "too few full validations: {stats:?}");
    assert_eq!(b.stats().incremental, 0);
    assert!(
        prev.patched >= 100,
        "too few patched plans: {}",
        prev.patched
    );
}

#[test]
fn service_changes_never_validate_everything_again() {
    let d = Dir::new("leaf");
    let cfg = d.config();
    std::fs::write(cfg.join("00-base.yaml"), BASE).unwrap();
    std::fs::write(cfg.join("01-peer.yaml"), peer(3)).unwrap();
    std::fs::write(cfg.join("02-referenced.yaml"), REFERENCED).unwrap();
    for i in 1..=50 {
        std::fs::write(cfg.join(format!("svc-{i:02}.yaml")), service_file(i, 0)).unwrap();
    }
    let mut src = FileSource::new(&cfg, ReadOptions::default());
    let r = src.read().unwrap();
    assert_eq!(r.snapshot.services.len(), 50);
    assert!(!r.leaf_only, "the first read validates everything");
    for i in 51..=80 {
        let staged = d.0.join("staging").join(format!("svc-{i}.yaml"));
        std::fs::write(&staged, service_file(i, 0)).unwrap();
        let target = cfg.join(format!("svc-{i}.yaml"));
        std::fs::rename(&staged, &target).unwrap();
        let r = src.read_paths([target.as_path()]).unwrap();
        assert!(r.changed && r.leaf_only);
        let p = plan(r.snapshot, "n1");
        let prefix = format!("203.0.113.{i}/32").parse().unwrap();
        assert!(
            p.session("tor")
                .is_some_and(|s| s.advertisements.contains_key(&prefix)),
            "svc-{i} announced"
        );
    }
    // An edit that breaks a Service keeps its last valid version, still in place.
    let p = cfg.join("svc-60.yaml");
    std::fs::write(&p, service_file(60, 3)).unwrap();
    let r = src.read_paths([p.as_path()]).unwrap();
    assert!(
        r.file_problems
            .iter()
            .any(|l| l.contains("Service default/svc-60: the new version is invalid")),
        "{:?}",
        r.file_problems
    );
    assert_eq!(r.snapshot.services.len(), 80);
    // Nothing changed: nothing to do.
    let r = src.read_paths([p.as_path()]).unwrap();
    assert!(!r.changed);
    let r = src.read().unwrap();
    assert!(!r.changed);
    let stats = src.stats();
    assert_eq!(stats.full, 1, "{stats:?}");
    assert_eq!(stats.incremental, 31, "{stats:?}");
    // Paths outside the directory or of other kinds are ignored.
    let r = src
        .read_paths([Path::new("/etc/hostname"), cfg.join("x.txt").as_path()])
        .unwrap();
    assert!(!r.changed);
}
