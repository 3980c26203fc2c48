//! The in-place update of a snapshot for a change of Services and EndpointSlices
//! ([`crate::snapshot::Snapshot::splice_leaf_objects`]): their reports depend only on themselves
//! and the valid pools, and nothing but EgressServices depends on them, so such a change needs
//! no validation of the other objects. The result is the snapshot a full [`super::validate`]
//! would give (tested below against it over a series of edits).

use super::other;
use crate::core::ObjectMeta;
use crate::object::{LoadedObject, Object};
use crate::report::{Issues, ObjectKey, ObjectReport, Outcome};
use crate::snapshot::Snapshot;

/// Kinds whose reports depend on no object but themselves and the valid pools, and on which
/// only EgressServices depend: the kinds [`splice_leaf`] handles.
fn is_leaf_kind(kind: &str) -> bool {
    matches!(kind, "Service" | "EndpointSlice")
}

/// Below this many objects involved, duplicates are looked up by a scan instead of a set.
const SCAN_LIMIT: usize = 16;

/// Position of a Service or EndpointSlice in the snapshot's name-ordered lists.
fn meta_key(m: &ObjectMeta) -> (Option<&str>, &str) {
    (m.namespace.as_deref(), m.name.as_deref().unwrap_or(""))
}

/// See [`Snapshot::splice_leaf_objects`].
pub(crate) fn splice_leaf(
    snap: &mut Snapshot,
    range: std::ops::Range<usize>,
    objects: &[&LoadedObject],
) -> bool {
    if range.start > range.end || range.end > snap.reports.len() {
        return false;
    }
    let checked = |o: &Outcome| *o == Outcome::Checked;
    let named = |k: &ObjectKey| !k.name.is_empty();
    // Only Services and EndpointSlices (or documents nothing reads) may leave or arrive.
    if snap.reports[range.clone()]
        .iter()
        .any(|r| checked(&r.outcome) && !is_leaf_kind(&r.key.kind))
        || objects
            .iter()
            .any(|o| checked(&o.outcome) && !is_leaf_kind(&o.key.kind))
    {
        return false;
    }
    // No key involved may be defined twice (whatever the documents' outcomes): duplicates
    // decide which copy is used, and an object's last valid version replaces the first
    // document of its key.
    let old_keys = snap.reports[range.clone()]
        .iter()
        .map(|r| &r.key)
        .filter(|k| named(k));
    let new_keys: Vec<&ObjectKey> = objects
        .iter()
        .map(|o| &o.key)
        .filter(|k| named(k))
        .collect();
    for (i, k) in new_keys.iter().enumerate() {
        if new_keys[..i].contains(k) {
            return false;
        }
    }
    let involved: Vec<&ObjectKey> = old_keys.chain(new_keys.iter().copied()).collect();
    let outside = || {
        snap.reports[..range.start]
            .iter()
            .chain(&snap.reports[range.end..])
    };
    // EgressServices' reports depend on the Services loaded.
    if outside().any(|r| checked(&r.outcome) && r.key.kind == "EgressService") {
        return false;
    }
    let clash = if involved.len() <= SCAN_LIMIT {
        outside().any(|r| involved.contains(&&r.key))
    } else {
        let set: std::collections::HashSet<&ObjectKey> = involved.iter().copied().collect();
        outside().any(|r| set.contains(&r.key))
    };
    if clash {
        return false;
    }

    // The new reports, exactly as `validate` builds them.
    let mut reports = Vec::with_capacity(objects.len());
    let mut services = Vec::new();
    let mut slices = Vec::new();
    for lo in objects {
        let mut issues = lo.issues.clone();
        let usable = issues.is_ok();
        match &lo.object {
            Some(Object::Service(svc)) => {
                let mut more = Issues::default();
                other::check_service(svc, &snap.config.pools, &mut more);
                issues.extend(more);
                if usable && issues.is_ok() {
                    services.push(svc);
                }
            }
            Some(Object::EndpointSlice(s)) if usable => slices.push(s),
            Some(Object::EndpointSlice(_)) | None => {}
            // Unreachable: the kind was checked above and the parser builds the kind's type.
            Some(_) => return false,
        }
        reports.push(ObjectReport {
            key: lo.key.clone(),
            api_version: lo.api_version.clone(),
            source: lo.source.clone(),
            outcome: lo.outcome.clone(),
            errors: issues.errors,
            warnings: issues.warnings,
        });
    }
    // Take out what the old objects contributed, then put in the new ones, keeping the lists in
    // name order as `validate` does.
    let old: Vec<ObjectReport> = snap.reports.splice(range, reports).collect();
    for r in old.iter().filter(|r| checked(&r.outcome) && named(&r.key)) {
        let key = (r.key.namespace.as_deref(), r.key.name.as_str());
        match r.key.kind.as_str() {
            "Service" => {
                if let Ok(i) = snap
                    .services
                    .binary_search_by(|s| meta_key(&s.metadata).cmp(&key))
                {
                    snap.services.remove(i);
                }
            }
            _ => {
                if let Ok(i) = snap
                    .endpoint_slices
                    .binary_search_by(|s| meta_key(&s.metadata).cmp(&key))
                {
                    snap.endpoint_slices.remove(i);
                }
            }
        }
    }
    for svc in services {
        let key = meta_key(&svc.metadata);
        let i = snap
            .services
            .partition_point(|s| meta_key(&s.metadata) < key);
        snap.services.insert(i, svc.clone());
    }
    for slice in slices {
        let key = meta_key(&slice.metadata);
        let i = snap
            .endpoint_slices
            .partition_point(|s| meta_key(&s.metadata) < key);
        snap.endpoint_slices.insert(i, slice.clone());
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::load_str;
    use crate::object::ReadOptions;
    use crate::validate::validate_refs;
    use std::path::Path;

    const POOLS: &str = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p1, namespace: metallb-system}\nspec: {addresses: [192.0.2.0/24]}\n";
    const POOL2: &str = "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p2, namespace: metallb-system}\nspec: {addresses: [198.51.100.0/24]}\n";

    fn svc(name: &str, ip: &str, extra: &str) -> String {
        format!("apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default{extra}}}\nspec: {{type: LoadBalancer}}\nstatus: {{loadBalancer: {{ingress: [{{ip: \"{ip}\"}}]}}}}\n")
    }

    fn slice(name: &str, svc: &str, ready: bool) -> String {
        format!("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}, namespace: default, labels: {{kubernetes.io/service-name: {svc}}}}}\naddressType: IPv4\nendpoints: [{{addresses: [10.0.0.1], nodeName: n1, conditions: {{ready: {ready}}}}}]\n")
    }

    /// The text of service file `i` in variant `v`.
    fn service_file(i: usize, v: u64) -> String {
        let n = format!("svc-{i}");
        match v % 12 {
            0 => format!("{}---\n{}", svc(&n, &format!("192.0.2.{i}"), ""), slice(&format!("{n}-1"), &n, true)),
            1 => svc(&n, &format!("198.51.100.{i}"), ""),
            2 => svc(&n, "not-an-ip", ""),
            3 => svc(&n, &format!("192.0.2.{}", 100 + i), ""),
            4 => String::new(),
            5 => format!("{}---\n{}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{i}}}\n", svc(&n, &format!("192.0.2.{i}"), ""), slice(&format!("{n}-1"), &n, false)),
            // Defines the next file's Service too: a duplicate while that file has it.
            6 => format!("{}---\n{}", svc(&n, &format!("192.0.2.{i}"), ""), svc(&format!("svc-{}", i + 1), "192.0.2.200", "")),
            7 => format!("apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: peer{i}, namespace: metallb-system}}\nspec: {{peerAddress: 192.0.2.254, peerASN: 64501, myASN: 64500}}\n"),
            8 => svc(&n, "192.0.2.7", ", annotations: {metallb.io/address-pool: nope}"),
            9 => "apiVersion: v1\nkind: Service\nmetadata: {namespace: default}\nspec: {type: LoadBalancer}\n".to_string(),
            10 => format!("apiVersion: v1\nkind: List\nitems:\n- {{apiVersion: v1, kind: Service, metadata: {{name: {n}-a}}, spec: {{type: LoadBalancer}}}}\n- {{apiVersion: v1, kind: Service, metadata: {{name: {n}-b}}, spec: {{type: ClusterIP}}, status: {{loadBalancer: {{ingress: [{{ip: 192.0.2.9}}]}}}}}}\n"),
            _ => format!("{}---\n{}", svc(&n, &format!("192.0.2.{i}"), ", bogus: 1"), slice(&format!("{n}-1"), &n, false)),
        }
    }

    fn load(file: usize, text: &str) -> Vec<LoadedObject> {
        let name = format!("f{file:02}.yaml");
        load_str(text, Some(Path::new(&name)), &ReadOptions::default()).objects
    }

    fn full(files: &[Vec<LoadedObject>]) -> Snapshot {
        validate_refs(files.iter().flatten(), &ReadOptions::default())
    }

    fn dump(s: &Snapshot) -> String {
        format!("{s:#?}")
    }

    /// A small deterministic generator (no dependency needed for a fixed edit series).
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

    #[test]
    fn splicing_equals_validating_everything_over_an_edit_series() {
        const N: usize = 10;
        let mut files: Vec<Vec<LoadedObject>> = vec![load(0, POOLS)];
        for i in 1..=N {
            files.push(load(i, &service_file(i, 0)));
        }
        let mut snap = full(&files);
        let mut rng = Lcg(7);
        let (mut spliced, mut refused) = (0, 0);
        for step in 0..400 {
            let idx = if rng.next() % 15 == 0 {
                0
            } else {
                1 + (rng.next() as usize) % N
            };
            let text = if idx == 0 {
                if rng.next() % 2 == 0 {
                    POOLS.to_string()
                } else {
                    format!("{POOLS}{POOL2}")
                }
            } else {
                service_file(idx, rng.next())
            };
            let new = load(idx, &text);
            let start: usize = files[..idx].iter().map(Vec::len).sum();
            let range = start..start + files[idx].len();
            let refs: Vec<&LoadedObject> = new.iter().collect();
            let before = dump(&snap);
            let mut next = snap.clone();
            let ok = next.splice_leaf_objects(range, &refs);
            files[idx] = new;
            let want = full(&files);
            if ok {
                assert_eq!(
                    dump(&next),
                    dump(&want),
                    "step {step}: file {idx} <- {text}"
                );
                spliced += 1;
                snap = next;
            } else {
                assert_eq!(
                    dump(&next),
                    before,
                    "step {step}: a refused splice changed the snapshot"
                );
                refused += 1;
                snap = want;
            }
        }
        assert!(spliced > 200, "only {spliced} edits were spliced");
        assert!(refused > 20, "only {refused} edits were refused");
    }

    #[test]
    fn splices_that_need_a_full_validation_are_refused() {
        let opts = ReadOptions::default();
        let base = load(0, POOLS);
        let a = load(1, &service_file(1, 0));
        let files = [base.clone(), a.clone()];
        let snap = full(&files);
        let peer = load(1, &service_file(1, 7));
        let n = base.len();
        let check = |range: std::ops::Range<usize>, objects: &[LoadedObject]| {
            let mut s = snap.clone();
            let refs: Vec<&LoadedObject> = objects.iter().collect();
            s.splice_leaf_objects(range, &refs)
        };
        assert!(check(n..n + a.len(), &a), "the same objects again");
        assert!(!check(n..n + a.len(), &peer), "a BGPPeer arriving");
        assert!(!check(0..n, &[]), "a pool leaving");
        assert!(!check(n..n + a.len() + 1, &a), "a range past the end");
        // A Service already defined outside the range.
        assert!(!check(n + a.len()..n + a.len(), &a), "a duplicate");
        // Two copies of one Service arriving together.
        let twice: Vec<LoadedObject> = a.iter().chain(a.iter()).cloned().collect();
        assert!(
            !check(n..n + a.len(), &twice),
            "a duplicate among the new objects"
        );
        // An EgressService refers to Services: its report would change.
        let egress = load(2, "apiVersion: k8s.ovn.org/v1\nkind: EgressService\nmetadata: {name: svc-1, namespace: default}\nspec: {}\n");
        let with_egress = validate_refs(base.iter().chain(&a).chain(&egress), &opts);
        let mut s = with_egress.clone();
        let refs: Vec<&LoadedObject> = a.iter().collect();
        assert!(
            !s.splice_leaf_objects(n..n + a.len(), &refs),
            "an EgressService is loaded"
        );
    }
}
