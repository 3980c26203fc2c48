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
use std::collections::HashSet;
use std::sync::Arc;

/// Kinds whose reports depend on no object but themselves and the valid pools, and on which
/// only EgressServices depend: the kinds [`splice_leaf`] handles.
fn is_leaf_kind(kind: &str) -> bool {
    matches!(kind, "Service" | "EndpointSlice")
}

/// Below this many objects involved, clashes with the other objects are looked up by a scan
/// instead of a set.
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
    let mut seen = HashSet::with_capacity(new_keys.len());
    if !new_keys.iter().all(|k| seen.insert(*k)) {
        return false;
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
        let set: HashSet<&ObjectKey> = involved.iter().copied().collect();
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
    // name order as `validate` does: one pass over each list (a removal or insertion per object
    // would move the whole tail each time — quadratic for a file of thousands of objects).
    let old: Vec<ObjectReport> = snap.reports.splice(range, reports).collect();
    let mut gone_services = HashSet::new();
    let mut gone_slices = HashSet::new();
    for r in old.iter().filter(|r| checked(&r.outcome) && named(&r.key)) {
        let key = (r.key.namespace.as_deref(), r.key.name.as_str());
        match r.key.kind.as_str() {
            "Service" => gone_services.insert(key),
            _ => gone_slices.insert(key),
        };
    }
    replace_sorted(&mut snap.services, &gone_services, services, |s| {
        meta_key(&s.metadata)
    });
    replace_sorted(&mut snap.endpoint_slices, &gone_slices, slices, |s| {
        meta_key(&s.metadata)
    });
    true
}

/// Removes from `list` (sorted by `key`, keys unique) the entries whose key is in `gone`, and
/// merges in `added` (keys unique, in no particular order), keeping `list` sorted: O(n + k log k)
/// for n entries and k added. An added entry lands before any kept entry with the same key, as a
/// binary-search insertion would (the splice refuses changes where that can happen).
fn replace_sorted<T, F>(
    list: &mut Vec<Arc<T>>,
    gone: &HashSet<(Option<&str>, &str)>,
    added: Vec<&Arc<T>>,
    key: F,
) where
    F: for<'t> Fn(&'t T) -> (Option<&'t str>, &'t str),
{
    if gone.is_empty() && added.is_empty() {
        return;
    }
    let mut added = added;
    added.sort_by(|a, b| key(a).cmp(&key(b)));
    let old = std::mem::take(list);
    let mut out = Vec::with_capacity(old.len() + added.len());
    let mut next = added.into_iter().peekable();
    for item in old {
        let k = key(&item);
        if gone.contains(&k) {
            continue;
        }
        while let Some(a) = next.next_if(|a| key(a) <= k) {
            out.push(Arc::clone(a));
        }
        out.push(item);
    }
    out.extend(next.map(Arc::clone));
    *list = out;
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
        match v % 13 {
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
            // Several Services and slices, named against file order: the merge must sort them.
            12 => ["c", "b", "a"]
                .iter()
                .map(|x| format!("{}---\n{}---\n", svc(&format!("{n}-{x}"), &format!("192.0.2.{}", 50 + i), ""), slice(&format!("{n}-{x}-1"), &format!("{n}-{x}"), true)))
                .collect(),
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
