//! Validation: turns loaded objects into a [`Snapshot`] — every object's report (all errors and
//! warnings, by field path) and a [`Config`] of typed values built only from valid objects.
//!
//! Objects are checked kind by kind in dependency order (Secrets and Nodes first, then Community
//! aliases, BFD profiles, pools, peers, advertisements, EgressServices, nmstate policies). Rules
//! between objects of one kind are applied greedily in name order (MetalLB's list order): an
//! object that conflicts with an earlier valid one is reported invalid and left out, so the
//! earlier one keeps working. Conflicts that only exist on a node both objects select (peers,
//! localPref) are errors when Node objects are loaded and a node is selected by both; with no Node
//! objects loaded they are warnings, since no node is known on which they would meet.

mod advertisement;
mod other;
mod peer;
mod pool;
mod splice;

pub use peer::{peer_conflict, vrf_name};
pub use splice::SpliceIndex;
pub(crate) use splice::{lower_bound_from, splice_leaf};

use crate::config::Config;
use crate::core::{Node, Secret, Service};
use crate::object::{LoadedObject, Object, ReadOptions};
use crate::report::{Issues, ObjectKey, ObjectReport, Outcome};
use crate::selector::{AnySelector, Labels};
use crate::snapshot::Snapshot;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What per-object checks may consult: the namespace rule, Secrets, Nodes, and the part of the
/// configuration already validated.
pub struct Ctx<'a> {
    /// MetalLB's namespace.
    pub metallb_namespace: &'a str,
    /// Every Secret loaded.
    pub secrets: &'a [Secret],
    /// Every Node loaded.
    pub nodes: &'a [Node],
    /// Services loaded.
    pub services: &'a [Arc<Service>],
    /// Valid objects so far.
    pub config: &'a Config,
    /// BFD profiles that exist but are invalid.
    pub invalid_bfd_profiles: &'a BTreeSet<String>,
    /// Pools that exist but are invalid.
    pub invalid_pools: &'a BTreeSet<String>,
    /// Peers that exist (valid or not).
    pub peer_names: &'a BTreeSet<String>,
}

/// Checks an interface (or VRF) name as the kernel does: 1..15 bytes, no '/', ':' or whitespace.
pub fn check_interface_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 {
        return Err(format!(
            "{name:?} is not an interface name (1 to 15 characters)"
        ));
    }
    if name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(format!(
            "{name:?} is not an interface name (no '/', ':' or whitespace)"
        ));
    }
    Ok(())
}

/// The labels of a Node, with `kubernetes.io/hostname` set to the node's name when absent (the
/// kubelet always sets it; Node objects written by hand often omit it).
pub fn node_labels(node: &Node) -> Labels {
    let mut labels = node.metadata.labels.clone().unwrap_or_default();
    if let Some(name) = &node.metadata.name {
        labels
            .entry("kubernetes.io/hostname".to_string())
            .or_insert_with(|| name.clone());
    }
    labels
}

/// Whether two node selections meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlap {
    /// This loaded node is selected by both.
    Node(String),
    /// No Node objects are loaded and the selectors are not provably disjoint.
    Possible,
    /// They select no common node.
    Disjoint,
}

/// Decides whether two node selections meet, on the loaded nodes or symbolically.
pub fn node_overlap(a: &AnySelector, b: &AnySelector, nodes: &[Node]) -> Overlap {
    if nodes.is_empty() {
        return if a.provably_disjoint(b) {
            Overlap::Disjoint
        } else {
            Overlap::Possible
        };
    }
    for n in nodes {
        let labels = node_labels(n);
        if a.matches(&labels) && b.matches(&labels) {
            return Overlap::Node(n.metadata.name.clone().unwrap_or_default());
        }
    }
    Overlap::Disjoint
}

/// Records a node-scoped conflict: an error naming the node, or a warning when no node is known.
pub fn record_node_conflict(overlap: &Overlap, field: &str, reason: &str, issues: &mut Issues) {
    match overlap {
        Overlap::Node(n) => issues.error(field, format!("{reason} (both select node {n})")),
        Overlap::Possible => issues.warn(
            field,
            format!("{reason} — on any node both select; no Node objects are loaded to check, the agent uses the first (by name) there"),
        ),
        Overlap::Disjoint => {}
    }
}

/// One object in the work list.
struct Entry<'o> {
    report: usize,
    object: &'o Object,
    /// The object may be used (no load error).
    usable: bool,
}

/// Validates loaded objects and builds the snapshot.
pub fn validate(objects: Vec<LoadedObject>, opts: &ReadOptions) -> Snapshot {
    validate_refs(objects.iter(), opts)
}

/// [`validate`] over borrowed objects: only what the snapshot keeps is copied, so a caller that
/// holds its objects (a source remembering each file's parse) needs no copy of the whole set.
pub fn validate_refs<'o, I>(objects: I, opts: &ReadOptions) -> Snapshot
where
    I: IntoIterator<Item = &'o LoadedObject>,
{
    let objects = objects.into_iter();
    let mut reports = Vec::with_capacity(objects.size_hint().0);
    let mut entries = Vec::new();
    let mut first_seen: BTreeMap<&ObjectKey, usize> = BTreeMap::new();
    for lo in objects {
        let mut issues = lo.issues.clone();
        if lo.outcome == Outcome::Checked && !lo.key.name.is_empty() {
            if let Some(&first) = first_seen.get(&lo.key) {
                let at: &ObjectReport = &reports[first];
                let where_ = at
                    .source
                    .as_ref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                issues.error(
                    "metadata.name",
                    format!(
                        "duplicate {}: the object defined first{where_} is used",
                        lo.key
                    ),
                );
            } else {
                first_seen.insert(&lo.key, reports.len());
            }
        }
        let idx = reports.len();
        let usable = issues.is_ok();
        reports.push(ObjectReport {
            key: lo.key.clone(),
            api_version: lo.api_version.clone(),
            source: lo.source.clone(),
            outcome: lo.outcome.clone(),
            errors: issues.errors,
            warnings: issues.warnings,
        });
        if let Some(object) = &lo.object {
            entries.push(Entry {
                report: idx,
                object,
                usable,
            });
        }
    }
    // Name order, as MetalLB lists objects from the API server.
    entries.sort_by(|a, b| reports[a.report].key.cmp(&reports[b.report].key));

    let mut snap = Snapshot {
        metallb_namespace: opts.metallb_namespace.clone(),
        ..Snapshot::default()
    };
    // Core and status kinds: used as loaded when usable.
    for e in &entries {
        if !e.usable {
            continue;
        }
        match e.object {
            Object::Secret(s) => snap.secrets.push((**s).clone()),
            Object::Node(n) => snap.nodes.push((**n).clone()),
            Object::Namespace(n) => snap.namespaces.push((**n).clone()),
            Object::EndpointSlice(s) => snap.endpoint_slices.push(s.clone()),
            Object::NodeNetworkState(s) => snap.node_network_states.push((**s).clone()),
            Object::NodeNetworkConfigurationEnactment(s) => snap.enactments.push((**s).clone()),
            Object::ServiceBGPStatus(s) => snap.service_bgp_statuses.push((**s).clone()),
            Object::ServiceL2Status(s) => snap.service_l2_statuses.push((**s).clone()),
            Object::ConfigurationState(s) => snap.configuration_states.push((**s).clone()),
            _ => {}
        }
    }
    let mut phase = Phase {
        reports: &mut reports,
        snap: &mut snap,
        invalid_bfd: BTreeSet::new(),
        invalid_pools: BTreeSet::new(),
        peer_names: BTreeSet::new(),
    };
    phase.communities(&entries);
    phase.bfd_profiles(&entries);
    phase.pools(&entries);
    phase.services(&entries);
    phase.peers(&entries);
    phase.bgp_advertisements(&entries);
    phase.bfd_echo(&entries);
    phase.l2_advertisements(&entries);
    phase.egress_services(&entries);
    phase.network_policies(&entries);
    snap.reports = reports;
    snap
}

/// Shared state of the validation phases.
struct Phase<'r> {
    reports: &'r mut Vec<ObjectReport>,
    snap: &'r mut Snapshot,
    invalid_bfd: BTreeSet<String>,
    invalid_pools: BTreeSet<String>,
    peer_names: BTreeSet<String>,
}

impl Phase<'_> {
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            metallb_namespace: &self.snap.metallb_namespace,
            secrets: &self.snap.secrets,
            nodes: &self.snap.nodes,
            services: &self.snap.services,
            config: &self.snap.config,
            invalid_bfd_profiles: &self.invalid_bfd,
            invalid_pools: &self.invalid_pools,
            peer_names: &self.peer_names,
        }
    }

    /// Adds issues to an object's report; true when the object is (still) valid.
    fn record(&mut self, e: &Entry<'_>, issues: Issues) -> bool {
        let r = &mut self.reports[e.report];
        r.errors.extend(issues.errors);
        r.warnings.extend(issues.warnings);
        e.usable && r.errors.is_empty()
    }

    fn name(&self, e: &Entry<'_>) -> String {
        self.reports[e.report].key.name.clone()
    }
}
