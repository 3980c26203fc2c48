//! Helpers shared by the crds integration tests: YAML builders and report look-ups.
#![allow(dead_code)]

use metalroute_crds::loader::load_str;
use metalroute_crds::object::ReadOptions;
use metalroute_crds::report::ObjectReport;
use metalroute_crds::snapshot::Snapshot;

/// Indents every line by `n` spaces.
pub fn indent(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    s.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// A MetalLB object in metallb-system.
pub fn metallb(api: &str, kind: &str, name: &str, spec: &str) -> String {
    format!("apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: metallb-system\nspec:\n{}---\n", indent(spec, 2))
}

/// A metallb.io/v1beta2 BGPPeer.
pub fn peer(name: &str, spec: &str) -> String {
    metallb("metallb.io/v1beta2", "BGPPeer", name, spec)
}

/// A valid peer spec body (address 192.0.2.1, AS 64500 -> 64501) plus extra lines.
pub fn peer_ok(extra: &str) -> String {
    format!("myASN: 64500\npeerASN: 64501\npeerAddress: 192.0.2.1\n{extra}")
}

/// An IPAddressPool.
pub fn pool(name: &str, addresses: &[&str]) -> String {
    let list: String = addresses.iter().map(|a| format!("- {a}\n")).collect();
    metallb(
        "metallb.io/v1beta1",
        "IPAddressPool",
        name,
        &format!("addresses:\n{}", indent(&list, 2)),
    )
}

/// A BGPAdvertisement.
pub fn bgp_adv(name: &str, spec: &str) -> String {
    metallb("metallb.io/v1beta1", "BGPAdvertisement", name, spec)
}

/// A Node with labels.
pub fn node(name: &str, labels: &[(&str, &str)]) -> String {
    let l: String = labels
        .iter()
        .map(|(k, v)| format!("    {k}: \"{v}\"\n"))
        .collect();
    format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n{l}---\n")
}

/// Loads and validates YAML text.
pub fn snapshot(yaml: &str) -> Snapshot {
    let loaded = load_str(yaml, None, &ReadOptions::default());
    assert!(loaded.errors.is_empty(), "load errors: {:?}", loaded.errors);
    Snapshot::from_objects(loaded.objects, &ReadOptions::default())
}

/// The report of the object of this kind and name.
pub fn report<'a>(s: &'a Snapshot, kind: &str, name: &str) -> &'a ObjectReport {
    s.reports
        .iter()
        .find(|r| r.key.kind == kind && r.key.name == name)
        .unwrap_or_else(|| panic!("no report for {kind} {name}: {:#?}", s.reports))
}
