//! The incremental plan: when a snapshot differs from the previous one only in Services and
//! EndpointSlices (the file source splices them in place and says so), only the Services those
//! objects touch are decided again, and the previous plan is patched: their decisions, and in
//! every session the prefixes their old or new decisions map to (each such prefix is rebuilt
//! from every Service that maps to it, so aggregates shared with untouched Services stay
//! right). Everything else — sessions, held peers, network state — is the previous plan's;
//! L2 candidacy, EgressService roles and invalid objects are computed again.
//!
//! The plan is patched in place (no copy of it), and only once the patch is known to succeed.
//! The result equals [`super::plan`] of the new snapshot (`agent/tests/plan_incremental.rs`
//! checks it after every step of random edit series). When that cannot be shown cheaply — the
//! previous plan had warnings, the patch produces one, or an L2Advertisement exists — it answers
//! `None` and the caller plans from scratch.

use super::announce::{self, NodeView};
use super::core_view::{self as cv, EndpointIndex};
use super::{
    advertise, egress, DecisionChange, NodePlan, ServiceKey, ServicePlan, SessionPlan, Vrf, VrfPlan,
};
use ipnet::IpNet;
use metalroute_crds::core::{EndpointSlice, Service};
use metalroute_crds::snapshot::Snapshot;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// What an incremental plan needs of the snapshot the previous plan was made from: its Services
/// and EndpointSlices, shared (a clone of the `Arc`s, not of the objects), to tell by identity
/// which ones changed, and the slices of each Service (kept up to date change by change, so a
/// Service decided again finds its slices without a walk over every slice).
#[derive(Debug, Clone, Default)]
pub struct PlanBasis {
    services: Vec<Arc<Service>>,
    slices: Vec<Arc<EndpointSlice>>,
    by_service: HashMap<ServiceKey, Vec<Arc<EndpointSlice>>>,
}

impl PlanBasis {
    /// The basis of a plan made from `snapshot`.
    pub fn of(snapshot: &Snapshot) -> PlanBasis {
        let mut by_service: HashMap<ServiceKey, Vec<Arc<EndpointSlice>>> = HashMap::new();
        for s in &snapshot.endpoint_slices {
            if let Some(k) = slice_service(s) {
                by_service.entry(k).or_default().push(s.clone());
            }
        }
        PlanBasis {
            services: snapshot.services.clone(),
            slices: snapshot.endpoint_slices.clone(),
            by_service,
        }
    }

    /// Moves the basis to `snapshot` and returns the Services whose decision may differ:
    /// changed, added or removed Services, and the Services of changed, added or removed
    /// EndpointSlices (the old and the new version's Service, when a slice's label moved).
    pub fn advance(&mut self, snapshot: &Snapshot) -> BTreeSet<ServiceKey> {
        let mut keys = BTreeSet::new();
        changed(
            &self.services,
            &snapshot.services,
            |s: &Service| meta_key(&s.metadata),
            |a, b| {
                if let Some(s) = a.or(b) {
                    keys.insert(cv::key(s));
                }
            },
        );
        let by_service = &mut self.by_service;
        changed(
            &self.slices,
            &snapshot.endpoint_slices,
            |s: &EndpointSlice| meta_key(&s.metadata),
            |a, b| {
                if let Some((a, k)) = a.and_then(|a| slice_service(a).map(|k| (a, k))) {
                    if let Some(list) = by_service.get_mut(&k) {
                        list.retain(|x| !Arc::ptr_eq(x, a));
                        if list.is_empty() {
                            by_service.remove(&k);
                        }
                    }
                    keys.insert(k);
                }
                if let Some((b, k)) = b.and_then(|b| slice_service(b).map(|k| (b, k))) {
                    by_service.entry(k.clone()).or_default().push(b.clone());
                    keys.insert(k);
                }
            },
        );
        self.services = snapshot.services.clone();
        self.slices = snapshot.endpoint_slices.clone();
        keys
    }

    /// The slices of each Service, as sets of objects (to compare an advanced basis with a new
    /// one in tests).
    pub fn slices_by_service(&self) -> BTreeMap<ServiceKey, BTreeSet<usize>> {
        self.by_service
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.iter().map(|s| Arc::as_ptr(s) as usize).collect(),
                )
            })
            .collect()
    }
}

/// `(namespace, name)` of an object's metadata, as the snapshot orders them.
fn meta_key(m: &metalroute_crds::core::ObjectMeta) -> (&str, &str) {
    (
        m.namespace.as_deref().unwrap_or("default"),
        m.name.as_deref().unwrap_or(""),
    )
}

/// The Service an EndpointSlice belongs to (same namespace, `kubernetes.io/service-name`).
fn slice_service(s: &EndpointSlice) -> Option<ServiceKey> {
    let ns = s.metadata.namespace.as_deref()?;
    let name = s.metadata.labels.as_ref()?.get(cv::SERVICE_NAME_LABEL)?;
    Some(ServiceKey::new(ns, name))
}

/// Walks two lists sorted by strictly increasing key (the snapshot keeps Services and slices
/// in (namespace, name) order, without duplicates) and calls `f(old, new)` for every key whose
/// objects are not the same `Arc` (`None` on the side where it is absent). Objects that are the
/// same `Arc` on both sides are passed without reading them: with 10,000 Services, reading each
/// one's name costs more (a cache miss per object) than the rest of a small change.
fn changed<T>(
    old: &[Arc<T>],
    new: &[Arc<T>],
    key: impl Fn(&T) -> (&str, &str),
    mut f: impl FnMut(Option<&Arc<T>>, Option<&Arc<T>>),
) {
    // The walk is right only on strictly increasing keys (checked in debug builds: the check
    // reads every object, which the walk exists to avoid).
    debug_assert!(
        old.windows(2).all(|w| key(&w[0]) < key(&w[1])),
        "old list not in strictly increasing key order"
    );
    debug_assert!(
        new.windows(2).all(|w| key(&w[0]) < key(&w[1])),
        "new list not in strictly increasing key order"
    );
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        let order = match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) => {
                i += 1;
                j += 1;
                continue;
            }
            (Some(a), Some(b)) => key(a).cmp(&key(b)),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                f(Some(&old[i]), None);
                i += 1;
            }
            Ordering::Greater => {
                f(None, Some(&new[j]));
                j += 1;
            }
            Ordering::Equal => {
                f(Some(&old[i]), Some(&new[j]));
                i += 1;
                j += 1;
            }
        }
    }
}

/// What [`replan_services`] changed in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// The decision changes, as [`super::decision_changes`] of the old and new plan gives them.
    pub changes: Vec<DecisionChange>,
    /// False when the patched plan equals the plan before (no decision, advertisement, invalid
    /// object or EgressService role changed).
    pub changed: bool,
}

/// Patches `plan`, made from the snapshot `basis` was taken of, into the plan of `snapshot`
/// (equal to [`super::plan`] of it), and advances `basis` to `snapshot` (also when it answers
/// `None`). The caller vouches that the two snapshots differ only in
/// Services and EndpointSlices (the file source's [`crate::source::Reading::leaf_only`]).
/// `None` leaves `plan` untouched: the patch cannot be shown to equal a full plan (see the
/// module comment), plan from scratch then. Patching in place needs no copy of the plan.
pub fn replan_services(
    plan: &mut NodePlan,
    basis: &mut PlanBasis,
    snapshot: &Snapshot,
) -> Option<Patch> {
    let touched = basis.advance(snapshot);
    if !plan.warnings.is_empty() || !snapshot.config.l2_advertisements.is_empty() {
        return None;
    }
    let basis = &*basis;
    let endpoints = EndpointIndex::from_slices(touched.iter().flat_map(|k| {
        basis
            .by_service
            .get(k)
            .into_iter()
            .flatten()
            .map(move |s| (k.namespace.as_str(), k.name.as_str(), &**s))
    }));
    let view = NodeView::with_endpoints(snapshot, &plan.node, &plan.node_labels, endpoints);
    // The touched Services decided again, and the prefixes they map to, before and after.
    let mut decided: Vec<(&ServiceKey, Option<ServicePlan>)> = Vec::with_capacity(touched.len());
    let mut prefixes: BTreeSet<IpNet> = BTreeSet::new();
    // `touched` is in key order, the snapshot's Services too: each search starts where the
    // previous one ended.
    let mut from = 0;
    for key in &touched {
        if let Some(old) = plan.services.get(key) {
            advertise::service_prefixes(snapshot, old, &mut prefixes)?;
        }
        let found = snapshot.find_service_from(from, &key.namespace, &key.name);
        from = found.unwrap_or_else(|at| at);
        let svc = found.ok().map(|i| &snapshot.services[i]);
        let new = svc.and_then(|s| announce::decide(&view, s));
        if let Some(p) = &new {
            advertise::service_prefixes(snapshot, p, &mut prefixes)?;
        }
        decided.push((key, new));
    }
    let now = |k: &ServiceKey| -> Option<&ServicePlan> {
        match decided.binary_search_by(|(d, _)| (*d).cmp(k)) {
            Ok(i) => decided[i].1.as_ref(),
            Err(_) => plan.services.get(k),
        }
    };
    // Every Service mapping to those prefixes: the untouched ones the plan lists there, and the
    // touched ones as decided now. The prefixes' entries are rebuilt from them, aside first:
    // a warning (localPref conflict) leaves the plan as it was.
    let mut contributors: BTreeSet<&ServiceKey> = BTreeSet::new();
    for session in plan.vrfs.values().flat_map(|v| v.sessions.values()) {
        for p in &prefixes {
            if let Some(old) = session.advertisements.get(p) {
                contributors.extend(old.services.iter().filter(|k| !touched.contains(*k)));
            }
        }
    }
    contributors.extend(touched.iter());
    let mut rebuilt: BTreeMap<Vrf, VrfPlan> = plan
        .vrfs
        .iter()
        .map(|(v, p)| {
            let sessions = p
                .sessions
                .iter()
                .map(|(t, s)| {
                    let empty = SessionPlan {
                        params: s.params.clone(),
                        advertisements: BTreeMap::new(),
                    };
                    (t.clone(), empty)
                })
                .collect();
            (v.clone(), VrfPlan { sessions })
        })
        .collect();
    let mut warnings = Vec::new();
    for key in contributors {
        if let Some(p) = now(key) {
            advertise::add_service(snapshot, key, p, &mut rebuilt, &mut warnings, |x| {
                prefixes.contains(x)
            });
        }
    }
    if !warnings.is_empty() {
        return None;
    }
    // Commit: nothing below can fail.
    let mut changed = false;
    let mut changes = Vec::new();
    for (key, new) in decided {
        let old = match &new {
            Some(p) => plan.services.insert(key.clone(), p.clone()),
            None => plan.services.remove(key),
        };
        if old == new {
            continue;
        }
        changed = true;
        changes.push(DecisionChange {
            node: plan.node.clone(),
            service: key.clone(),
            ips: new
                .as_ref()
                .or(old.as_ref())
                .map(|s| s.ips.clone())
                .unwrap_or_default(),
            before: old.map(|s| s.bgp),
            after: new.map(|s| s.bgp),
        });
    }
    for (vrf, vp) in plan.vrfs.iter_mut() {
        for (target, session) in vp.sessions.iter_mut() {
            let mut fresh = rebuilt
                .get_mut(vrf)
                .and_then(|v| v.sessions.get_mut(target))
                .map(|s| std::mem::take(&mut s.advertisements))
                .unwrap_or_default();
            for p in &prefixes {
                let old = session.advertisements.remove(p);
                let new = fresh.remove(p);
                changed |= old != new;
                if let Some(a) = new {
                    session.advertisements.insert(*p, a);
                }
            }
        }
    }
    let egress = egress::plan_egress(snapshot, &plan.node_labels);
    changed |= egress != plan.egress;
    plan.egress = egress;
    let invalid: Vec<_> = snapshot.invalid().cloned().collect();
    changed |= invalid != plan.invalid_objects;
    plan.invalid_objects = invalid;
    Some(Patch { changes, changed })
}
