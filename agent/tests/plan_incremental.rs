//! The incremental plan equals the full plan: random series of Service and EndpointSlice edits
//! (shared IPs, Services moving between pools and advertisements by annotation and label,
//! slices ready or not, on this node or another, moving between Services, ETP Local/Cluster,
//! non-LoadBalancer Services, deletions) applied to a fixed configuration; after every step the
//! previous plan patched by `replan_services` must equal `plan` of the new snapshot.
//!
//! Unchanged objects keep the previous snapshot's `Arc` as the file source's in-place splice
//! does, so only the edited objects count as changed (a patch that skipped the Services of
//! changed slices, or a prefix shared with an untouched Service, fails here).

use metalroute_agent::planner::{decision_changes, plan, replan_services, NodePlan, PlanBasis};
use metalroute_crds::loader::load_str;
use metalroute_crds::object::ReadOptions;
use metalroute_crds::snapshot::Snapshot;
use std::collections::BTreeMap;

const CONFIG: &str = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: a}
spec: {addresses: [203.0.113.0/26]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: b}
spec: {addresses: [203.0.113.64/26]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: c}
spec: {addresses: [198.51.100.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: a-host}
spec:
  ipAddressPools: [a]
  communities: [65000:1]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: a-gold}
spec:
  ipAddressPools: [a]
  aggregationLength: 30
  localPref: 100
  communities: [65000:2]
  serviceSelectors: [{matchLabels: {tier: gold}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: b-ebgp}
spec:
  ipAddressPools: [b]
  aggregationLength: 28
  peers: [ebgp]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {namespace: metallb-system, name: c-elsewhere}
spec:
  ipAddressPools: [c]
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node-b}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: ibgp}
spec: {peerAddress: 192.0.2.1, peerASN: 64500, myASN: 64500}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {namespace: metallb-system, name: ebgp}
spec: {peerAddress: 192.0.2.2, peerASN: 64501, myASN: 64500}";

const SERVICES: usize = 8;
const SLICES: usize = 10;

/// A small deterministic generator (splitmix64): each seed is a reproducible series.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// Few IPs, so Services share them and aggregates; some in no pool.
const IPS: [&str; 9] = [
    "203.0.113.1",
    "203.0.113.2",
    "203.0.113.5",
    "203.0.113.2",
    "203.0.113.65",
    "203.0.113.70",
    "198.51.100.1",
    "203.0.113.1",
    "192.0.2.200",
];

fn random_service(r: &mut Rng, i: usize) -> String {
    let mut ips = vec![r.pick(&IPS)];
    if r.below(4) == 0 {
        ips.push(r.pick(&IPS));
    }
    let ingress: Vec<String> = ips.iter().map(|ip| format!("{{ip: {ip}}}")).collect();
    let mut annotations = Vec::new();
    match r.below(4) {
        0 => annotations.push(format!(
            "metallb.io/address-pool: {}",
            r.pick(&["a", "b", "c"])
        )),
        1 => annotations.push("metallb.universe.tf/address-pool: a".to_string()),
        _ => {}
    }
    if r.below(3) != 0 {
        annotations.push("metallb.io/allow-shared-ip: k".to_string());
    }
    let labels = r.pick(&["{tier: gold}", "{tier: bronze}", "{}"]);
    let ty = if r.below(8) == 0 {
        "ClusterIP"
    } else {
        "LoadBalancer"
    };
    format!(
        "apiVersion: v1
kind: Service
metadata:
  namespace: default
  name: s{i}
  labels: {labels}
  annotations: {{{}}}
spec:
  type: {ty}
  externalTrafficPolicy: {}
  ports: [{{port: 80}}]
status:
  loadBalancer:
    ingress: [{}]",
        annotations.join(", "),
        r.pick(&["Local", "Cluster"]),
        ingress.join(", ")
    )
}

fn random_slice(r: &mut Rng, i: usize) -> String {
    let label = match r.below(8) {
        0 => String::new(),
        _ => format!(
            "  labels: {{kubernetes.io/service-name: s{}}}\n",
            r.below(SERVICES)
        ),
    };
    let mut eps = Vec::new();
    for n in 0..r.below(3) {
        let node = r.pick(&["node-a", "node-b"]);
        let cond = r.pick(&[
            "",
            ", conditions: {ready: true}",
            ", conditions: {ready: false}",
            ", conditions: {ready: false, serving: true}",
        ]);
        eps.push(format!(
            "{{addresses: [10.0.{i}.{n}], nodeName: {node}{cond}}}"
        ));
    }
    format!(
        "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: default
  name: sl{i}
{label}addressType: IPv4
endpoints: [{}]",
        eps.join(", ")
    )
}

fn snapshot(objects: &BTreeMap<String, String>) -> Snapshot {
    let opts = ReadOptions::default();
    let mut docs = vec![CONFIG.to_string()];
    docs.extend(objects.values().cloned());
    let loaded = load_str(&docs.join("\n---\n"), None, &opts);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    Snapshot::from_objects(loaded.objects, &opts)
}

/// `new` with every Service and slice equal to one of `old` replaced by `old`'s `Arc`, as the
/// source's in-place splice leaves unchanged objects.
fn share(old: &Snapshot, mut new: Snapshot) -> Snapshot {
    for s in &mut new.services {
        if let Some(o) = old.services.iter().find(|o| o == &s) {
            *s = o.clone();
        }
    }
    for s in &mut new.endpoint_slices {
        if let Some(o) = old.endpoint_slices.iter().find(|o| o == &s) {
            *s = o.clone();
        }
    }
    new
}

/// Runs one random series; returns how many steps were patched (not planned from scratch).
fn series(seed: u64, steps: usize) -> usize {
    let mut r = Rng(seed);
    let mut objects = BTreeMap::new();
    for i in 0..SERVICES {
        if r.below(4) != 0 {
            objects.insert(format!("s{i}"), random_service(&mut r, i));
        }
    }
    for i in 0..SLICES {
        if r.below(3) != 0 {
            objects.insert(format!("sl{i:02}"), random_slice(&mut r, i));
        }
    }
    let mut snap = snapshot(&objects);
    let mut prev: NodePlan = plan(&snap, "node-a");
    let mut basis = PlanBasis::of(&snap);
    let mut patched = 0;
    for step in 0..steps {
        for _ in 0..1 + r.below(3) {
            let (key, text) = if r.below(2) == 0 {
                let i = r.below(SERVICES);
                (format!("s{i}"), random_service(&mut r, i))
            } else {
                let i = r.below(SLICES);
                (format!("sl{i:02}"), random_slice(&mut r, i))
            };
            if r.below(5) == 0 {
                objects.remove(&key);
            } else {
                objects.insert(key, text);
            }
        }
        let next = share(&snap, snapshot(&objects));
        let full = plan(&next, "node-a");
        let mut inc = prev.clone();
        // One basis for the whole series: advanced step by step, as the agent keeps it.
        let patch = replan_services(&mut inc, &mut basis, &next);
        assert_eq!(
            basis.slices_by_service(),
            PlanBasis::of(&next).slices_by_service(),
            "seed {seed} step {step}: advanced basis"
        );
        match patch {
            Some(patch) => {
                assert_eq!(
                    inc, full,
                    "seed {seed} step {step}: incremental plan\n{inc}\ndiffers from the full plan\n{full}"
                );
                assert_eq!(
                    patch.changes,
                    decision_changes(&prev, &full),
                    "seed {seed} step {step}"
                );
                assert_eq!(patch.changed, prev != full, "seed {seed} step {step}");
                patched += 1;
            }
            // Not patched: the plan is left as it was.
            None => assert_eq!(inc, prev, "seed {seed} step {step}"),
        }
        snap = next;
        prev = full;
    }
    patched
}

#[test]
fn incremental_plan_equals_full_plan_after_every_random_edit() {
    let (mut patched, mut steps) = (0, 0);
    for seed in 0..200 {
        patched += series(seed, 25);
        steps += 25;
    }
    // Most steps must really be patched, or the comparison above proves nothing.
    assert!(
        patched * 10 >= steps * 8,
        "only {patched} of {steps} steps were patched"
    );
}

#[test]
fn an_unchanged_snapshot_patches_to_the_same_plan() {
    let mut r = Rng(7);
    let mut objects = BTreeMap::new();
    for i in 0..SERVICES {
        objects.insert(format!("s{i}"), random_service(&mut r, i));
        objects.insert(format!("sl{i:02}"), random_slice(&mut r, i));
    }
    let snap = snapshot(&objects);
    let full = plan(&snap, "node-a");
    let mut inc = full.clone();
    let patch = replan_services(&mut inc, &mut PlanBasis::of(&snap), &snap).expect("patched");
    assert!(patch.changes.is_empty() && !patch.changed);
    assert_eq!(inc, full);
}
