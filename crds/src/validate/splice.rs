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
use std::collections::HashMap;
use std::sync::Arc;

/// Kinds whose reports depend on no object but themselves and the valid pools, and on which
/// only EgressServices depend: the kinds [`splice_leaf`] handles.
fn is_leaf_kind(kind: &str) -> bool {
    matches!(kind, "Service" | "EndpointSlice")
}

/// Position of a Service or EndpointSlice in the snapshot's name-ordered lists.
fn meta_key(m: &ObjectMeta) -> (Option<&str>, &str) {
    (m.namespace.as_deref(), m.name.as_deref().unwrap_or(""))
}

/// A 64-bit digest of an object key. Two keys with the same digest are treated as the same key
/// by [`SpliceIndex`]; a collision can only make a splice be refused (and the whole set be
/// validated), never make a wrong one.
fn key_digest(k: &ObjectKey) -> u64 {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: deterministic, and hard to collide on purpose.
    let mut h = std::hash::DefaultHasher::new();
    k.hash(&mut h);
    h.finish()
}

/// What [`Snapshot::splice_leaf_objects_indexed`] needs to know about the objects outside the
/// range it replaces, kept up to date splice by splice so that a change of k objects costs
/// O(k log n) instead of a pass over every report: how many reports carry each key (by
/// digest), and how many EgressServices are loaded.
///
/// Build it with [`SpliceIndex::of`] for a snapshot, and pass the same index to every splice of
/// that snapshot; build it again for a snapshot validated anew.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpliceIndex {
    /// Reports per key digest (named keys only).
    keys: HashMap<u64, u32>,
    /// Reports of checked EgressServices.
    egress: usize,
}

impl SpliceIndex {
    /// The index of `snap`.
    pub fn of(snap: &Snapshot) -> SpliceIndex {
        let mut index = SpliceIndex::default();
        for r in &snap.reports {
            if r.outcome == Outcome::Checked && r.key.kind == "EgressService" {
                index.egress += 1;
            }
            if !r.key.name.is_empty() {
                *index.keys.entry(key_digest(&r.key)).or_default() += 1;
            }
        }
        index
    }

    fn count(&self, digest: u64) -> u32 {
        self.keys.get(&digest).copied().unwrap_or(0)
    }

    fn remove(&mut self, digest: u64) {
        if let Some(n) = self.keys.get_mut(&digest) {
            *n -= 1;
            if *n == 0 {
                self.keys.remove(&digest);
            }
        }
    }
}

/// See [`Snapshot::splice_leaf_objects_indexed`].
pub(crate) fn splice_leaf(
    snap: &mut Snapshot,
    index: &mut SpliceIndex,
    range: std::ops::Range<usize>,
    old_objects: &[&LoadedObject],
    objects: &[&LoadedObject],
) -> bool {
    if range.start > range.end || range.end > snap.reports.len() {
        return false;
    }
    // The objects leaving must be the ones validated there.
    if old_objects.len() != range.len()
        || snap.reports[range.clone()]
            .iter()
            .zip(old_objects)
            .any(|(r, o)| r.key != o.key)
    {
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
    // EgressServices' reports depend on the Services loaded (none is in the range: checked
    // above, so every one counted is outside it).
    if index.egress > 0 {
        return false;
    }
    // No key involved may be defined twice (whatever the documents' outcomes): duplicates
    // decide which copy is used, and an object's last valid version replaces the first
    // document of its key. Keys are compared by digest: a collision refuses the splice.
    let old_digests: Vec<u64> = snap.reports[range.clone()]
        .iter()
        .filter(|r| named(&r.key))
        .map(|r| key_digest(&r.key))
        .collect();
    let new_digests: Vec<u64> = objects
        .iter()
        .filter(|o| named(&o.key))
        .map(|o| key_digest(&o.key))
        .collect();
    let mut sorted = new_digests.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return false;
    }
    // In the range, per digest: a key is outside the range when the whole snapshot has more
    // reports of it than the range.
    let mut in_range: HashMap<u64, u32> = HashMap::with_capacity(old_digests.len());
    for d in &old_digests {
        *in_range.entry(*d).or_default() += 1;
    }
    let outside = |d: &u64| index.count(*d) > in_range.get(d).copied().unwrap_or(0);
    if old_digests.iter().chain(&new_digests).any(outside) {
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
    // What the old objects put in the name-ordered lists: exactly the Services whose report
    // is clean and the EndpointSlices read without errors (as `validate` builds them). They are
    // found by identity, a pass over pointers that reads none of the other objects.
    let in_lists = |r: &ObjectReport, o: &LoadedObject| {
        checked(&r.outcome) && named(&r.key) && r.errors.is_empty() && o.object.is_some()
    };
    let mut gone_services = Vec::new();
    let mut gone_slices = Vec::new();
    for (r, o) in snap.reports[range.clone()].iter().zip(old_objects) {
        if !in_lists(r, o) {
            continue;
        }
        match &o.object {
            Some(Object::Service(s)) => gone_services.push(Arc::as_ptr(s) as usize),
            Some(Object::EndpointSlice(s)) => gone_slices.push(Arc::as_ptr(s) as usize),
            _ => {}
        }
    }
    let Some(drop_services) = positions_of(&snap.services, gone_services) else {
        return false;
    };
    let Some(drop_slices) = positions_of(&snap.endpoint_slices, gone_slices) else {
        return false;
    };
    // Commit: nothing below can fail.
    for d in old_digests {
        index.remove(d);
    }
    for d in new_digests {
        *index.keys.entry(d).or_default() += 1;
    }
    snap.reports.splice(range, reports);
    replace_sorted(&mut snap.services, &drop_services, services, |s| {
        meta_key(&s.metadata)
    });
    replace_sorted(&mut snap.endpoint_slices, &drop_slices, slices, |s| {
        meta_key(&s.metadata)
    });
    true
}

/// The positions in `list` of the entries `gone` names (by address), ascending; `None` when
/// one of them is not there (the caller then refuses the splice). One pass over the pointers:
/// no entry is read.
fn positions_of<T>(list: &[Arc<T>], mut gone: Vec<usize>) -> Option<Vec<usize>> {
    if gone.is_empty() {
        return Some(Vec::new());
    }
    gone.sort_unstable();
    let positions: Vec<usize> = list
        .iter()
        .enumerate()
        .filter(|(_, x)| gone.binary_search(&(Arc::as_ptr(x) as usize)).is_ok())
        .map(|(i, _)| i)
        .collect();
    (positions.len() == gone.len()).then_some(positions)
}

/// Removes from `list` (sorted by `key`, keys unique) the entries at positions `removed`
/// (ascending), and merges in `added` (keys unique, in no particular order), keeping `list`
/// sorted. The added entries' places are found by galloping searches in key order, and the list
/// is rebuilt in one pass that moves the kept entries without reading them: O(n) pointer moves
/// and O(k log(n/k)) entries read for n entries and k added (with 10,000 Services, reading each
/// one's key costs more than the rest of a change of a thousand). An added entry lands before
/// any kept entry with the same key, as a binary-search insertion would (the splice refuses
/// changes where that can happen).
fn replace_sorted<T, F>(list: &mut Vec<Arc<T>>, removed: &[usize], added: Vec<&Arc<T>>, key: F)
where
    F: for<'t> Fn(&'t T) -> (Option<&'t str>, &'t str),
{
    if removed.is_empty() && added.is_empty() {
        return;
    }
    let mut added = added;
    added.sort_by(|a, b| key(a).cmp(&key(b)));
    // Where each added entry goes: before the first old entry whose key is not smaller; each
    // search starts where the previous one ended (consecutive keys are usually near).
    let mut from = 0;
    let at: Vec<usize> = added
        .iter()
        .map(|a| {
            let k = key(a);
            from = lower_bound_from(list, from, |x| key(x) < k);
            from
        })
        .collect();
    let old = std::mem::take(list);
    let mut out = Vec::with_capacity(old.len() - removed.len() + added.len());
    let mut next = added.into_iter().zip(at).peekable();
    let mut drop = removed.iter().copied().peekable();
    for (i, item) in old.into_iter().enumerate() {
        while let Some((a, _)) = next.next_if(|(_, p)| *p <= i) {
            out.push(Arc::clone(a));
        }
        if drop.next_if_eq(&i).is_some() {
            continue;
        }
        out.push(item);
    }
    out.extend(next.map(|(a, _)| Arc::clone(a)));
    *list = out;
}

/// The first index at or after `from` whose entry is not `less` (`list[from..]` is partitioned:
/// every `less` entry before every other), found by doubling steps from `from` and then a binary
/// search in the last step: O(log d) reads for an answer d entries after `from`.
pub(crate) fn lower_bound_from<T>(list: &[T], from: usize, less: impl Fn(&T) -> bool) -> usize {
    let mut lo = from.min(list.len());
    let mut step = 1;
    // Invariant: every entry before `lo` is `less`.
    loop {
        let probe = lo + step - 1;
        match list.get(probe) {
            Some(x) if less(x) => {
                lo = probe + 1;
                step *= 2;
            }
            _ => {
                let hi = probe.min(list.len());
                return lo + list[lo..hi].partition_point(&less);
            }
        }
    }
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
        let mut index = SpliceIndex::of(&snap);
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
            let mut next_index = index.clone();
            let old: Vec<&LoadedObject> = files[idx].iter().collect();
            let ok = next.splice_leaf_objects_indexed(&mut next_index, range.clone(), &old, &refs);
            // The unindexed splice decides the same.
            let mut plain = snap.clone();
            assert_eq!(
                plain.splice_leaf_objects(range, &old, &refs),
                ok,
                "step {step}"
            );
            files[idx] = new;
            let want = full(&files);
            if ok {
                assert_eq!(
                    dump(&next),
                    dump(&want),
                    "step {step}: file {idx} <- {text}"
                );
                assert_eq!(dump(&plain), dump(&want), "step {step}: unindexed");
                assert_eq!(
                    next_index,
                    SpliceIndex::of(&next),
                    "step {step}: the index kept is the index of the new snapshot"
                );
                spliced += 1;
                snap = next;
                index = next_index;
            } else {
                assert_eq!(
                    dump(&next),
                    before,
                    "step {step}: a refused splice changed the snapshot"
                );
                assert_eq!(
                    next_index, index,
                    "step {step}: a refused splice changed the index"
                );
                refused += 1;
                snap = want;
                index = SpliceIndex::of(&snap);
            }
        }
        assert!(spliced > 200, "only {spliced} edits were spliced");
        assert!(refused > 20, "only {refused} edits were refused");
    }

    #[test]
    fn lower_bound_from_equals_partition_point() {
        let mut rng = Lcg(5);
        for _ in 0..2000 {
            let n = (rng.next() % 70) as usize;
            let mut v: Vec<u64> = (0..n).map(|_| rng.next() % 50).collect();
            v.sort_unstable();
            let k = rng.next() % 55;
            let want = v.partition_point(|x| *x < k);
            // Any start at or before the answer finds it.
            let from = (rng.next() as usize) % (want + 1);
            assert_eq!(
                lower_bound_from(&v, from, |x| *x < k),
                want,
                "{v:?} {k} from {from}"
            );
        }
        assert_eq!(
            lower_bound_from(&[1u8, 2], 5, |x| *x < 9),
            2,
            "a start past the end"
        );
    }

    #[test]
    fn replace_sorted_equals_filtering_and_sorting() {
        let mut rng = Lcg(11);
        let name = |i: u64| format!("s{i}");
        for round in 0..300 {
            let n = (rng.next() % 40) as usize;
            // Unique keys, some in a second namespace.
            let mut keys: Vec<(Option<String>, String)> = (0..n as u64)
                .map(|i| {
                    let ns = (rng.next() % 3 == 0).then(|| "b".to_string());
                    (ns, name(i * 2))
                })
                .collect();
            keys.sort();
            keys.dedup();
            let mut list: Vec<Arc<(Option<String>, String)>> =
                keys.iter().cloned().map(Arc::new).collect();
            let gone: Vec<(Option<&str>, &str)> = keys
                .iter()
                .filter(|_| rng.next() % 3 == 0)
                .map(|(ns, n)| (ns.as_deref(), n.as_str()))
                .collect();
            // New keys: odd names (never kept), or a gone key coming back.
            let mut fresh: Vec<Arc<(Option<String>, String)>> = (0..rng.next() % 12)
                .map(|_| Arc::new((None, name(rng.next() % 90 * 2 + 1))))
                .collect();
            fresh.extend(
                gone.iter()
                    .filter(|_| rng.next() % 2 == 0)
                    .map(|(ns, n)| Arc::new((ns.map(str::to_string), n.to_string()))),
            );
            fresh.sort();
            fresh.dedup();
            let mut shuffled: Vec<&Arc<(Option<String>, String)>> = fresh.iter().collect();
            shuffled.reverse();
            let mut want: Vec<(Option<String>, String)> = keys
                .iter()
                .filter(|(ns, n)| !gone.contains(&(ns.as_deref(), n.as_str())))
                .cloned()
                .chain(fresh.iter().map(|a| (**a).clone()))
                .collect();
            want.sort();
            let positions: Vec<usize> = keys
                .iter()
                .enumerate()
                .filter(|(_, (ns, n))| gone.contains(&(ns.as_deref(), n.as_str())))
                .map(|(i, _)| i)
                .collect();
            let pointers: Vec<usize> = positions
                .iter()
                .map(|i| Arc::as_ptr(&list[*i]) as usize)
                .collect();
            assert_eq!(positions_of(&list, pointers).as_ref(), Some(&positions));
            replace_sorted(&mut list, &positions, shuffled, |k| {
                (k.0.as_deref(), k.1.as_str())
            });
            let got: Vec<(Option<String>, String)> = list.iter().map(|a| (**a).clone()).collect();
            assert_eq!(got, want, "round {round}");
        }
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
        let all: Vec<&LoadedObject> = base.iter().chain(&a).collect();
        let check = |range: std::ops::Range<usize>, objects: &[LoadedObject]| {
            let mut s = snap.clone();
            let refs: Vec<&LoadedObject> = objects.iter().collect();
            let old = all.get(range.clone()).unwrap_or_default();
            s.splice_leaf_objects(range, old, &refs)
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
        // Old objects that are not the ones validated there.
        let mut s = snap.clone();
        let new: Vec<&LoadedObject> = a.iter().collect();
        let wrong_keys: Vec<&LoadedObject> = peer.iter().take(a.len()).collect();
        if wrong_keys.len() == a.len() {
            assert!(!s.splice_leaf_objects(n..n + a.len(), &wrong_keys, &new));
        }
        assert!(
            !s.splice_leaf_objects(n..n + a.len(), &all[n..n + a.len() - 1], &new),
            "fewer old objects than the range"
        );
        // Same keys, other objects (a copy parsed again): not the Services in the lists.
        let copy = load(1, &service_file(1, 0));
        let copy_refs: Vec<&LoadedObject> = copy.iter().collect();
        assert!(
            !s.splice_leaf_objects(n..n + a.len(), &copy_refs, &new),
            "old objects that were not validated there"
        );
        // An EgressService refers to Services: its report would change.
        let egress = load(2, "apiVersion: k8s.ovn.org/v1\nkind: EgressService\nmetadata: {name: svc-1, namespace: default}\nspec: {}\n");
        let with_egress = validate_refs(base.iter().chain(&a).chain(&egress), &opts);
        let mut s = with_egress.clone();
        let refs: Vec<&LoadedObject> = a.iter().collect();
        assert!(
            !s.splice_leaf_objects(n..n + a.len(), &refs, &refs),
            "an EgressService is loaded"
        );
    }
}
