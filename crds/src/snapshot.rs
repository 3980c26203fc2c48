//! [`Snapshot`]: everything metalroute knows at one moment — every object's validation report and
//! the typed configuration built from the valid ones, plus the core objects (Services,
//! EndpointSlices, Nodes, Secrets, Namespaces) and status objects as loaded. The planner takes
//! `&Snapshot`; sources (files today, the Kubernetes API later) produce it through
//! [`Snapshot::from_objects`].

use crate::config::{Config, Peer};
use crate::core::{EndpointSlice, Namespace, Node, Secret, Service};
use crate::loader::{load_paths, LoadError};
use crate::metallb::v1beta1::{ConfigurationState, ServiceBGPStatus, ServiceL2Status};
use crate::nmstate_io::{NodeNetworkConfigurationEnactment, NodeNetworkState};
use crate::object::{LoadedObject, ReadOptions};
use crate::report::{ObjectKey, ObjectReport, Outcome};
use crate::selector::Labels;
pub use crate::validate::SpliceIndex;
use crate::validate::{lower_bound_from, node_labels, peer_conflict, validate, validate_refs};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// A validated view of a set of objects.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// MetalLB's namespace used while reading.
    pub metallb_namespace: String,
    /// One report per document, in load order (valid, invalid, skipped and unknown).
    pub reports: Vec<ObjectReport>,
    /// Typed values of every valid MetalLB, OVN-Kubernetes and nmstate object.
    pub config: Config,
    /// Valid Services, in (namespace, name) order; shared with the parsed objects.
    pub services: Vec<Arc<Service>>,
    /// EndpointSlices, in (namespace, name) order; shared with the parsed objects.
    pub endpoint_slices: Vec<Arc<EndpointSlice>>,
    /// Nodes.
    pub nodes: Vec<Node>,
    /// Secrets.
    pub secrets: Vec<Secret>,
    /// Namespaces.
    pub namespaces: Vec<Namespace>,
    /// nmstate NodeNetworkStates.
    pub node_network_states: Vec<NodeNetworkState>,
    /// nmstate NodeNetworkConfigurationEnactments.
    pub enactments: Vec<NodeNetworkConfigurationEnactment>,
    /// MetalLB ServiceBGPStatus objects.
    pub service_bgp_statuses: Vec<ServiceBGPStatus>,
    /// MetalLB ServiceL2Status objects.
    pub service_l2_statuses: Vec<ServiceL2Status>,
    /// MetalLB ConfigurationState objects.
    pub configuration_states: Vec<ConfigurationState>,
}

impl Snapshot {
    /// Validates already-parsed objects (from files or from the Kubernetes API).
    pub fn from_objects(objects: Vec<LoadedObject>, opts: &ReadOptions) -> Snapshot {
        validate(objects, opts)
    }

    /// Validates borrowed objects (see [`crate::validate::validate_refs`]).
    pub fn from_refs<'o, I>(objects: I, opts: &ReadOptions) -> Snapshot
    where
        I: IntoIterator<Item = &'o LoadedObject>,
    {
        validate_refs(objects, opts)
    }

    /// Replaces the objects whose reports are `reports[range]` — `old`, the objects validated
    /// there, in that order — with `objects`, giving the same snapshot as validating the whole
    /// set again with `objects` in that place, without re-validating anything else. That holds
    /// only for a change of leaf objects, so the splice is done only when every object leaving
    /// or arriving is a Service or an EndpointSlice (or a document of a kind nothing reads), no
    /// key involved is defined twice, and no EgressService (whose report depends on the
    /// Services) is loaded. Otherwise — or when `old` is not what was validated there — it
    /// returns false and leaves the snapshot unchanged: the caller validates the whole set.
    ///
    /// `reports[i]` is the report of the i-th object given to validation, so a source that
    /// validated its objects in a known order can name a file's objects by their range.
    ///
    /// This builds a [`SpliceIndex`] of the whole snapshot (a pass over every report); a source
    /// splicing the same snapshot again and again keeps one and calls
    /// [`Snapshot::splice_leaf_objects_indexed`].
    pub fn splice_leaf_objects(
        &mut self,
        range: Range<usize>,
        old: &[&LoadedObject],
        objects: &[&LoadedObject],
    ) -> bool {
        let mut index = SpliceIndex::of(self);
        crate::validate::splice_leaf(self, &mut index, range, old, objects)
    }

    /// [`Snapshot::splice_leaf_objects`] with an index of this snapshot kept by the caller
    /// ([`SpliceIndex::of`] this snapshot, then the same index for every splice; a refused
    /// splice leaves both unchanged). A change of k objects then costs O(k log n) reads of
    /// objects (and one pass over the pointers of the Service and EndpointSlice lists), not a
    /// pass over every report.
    pub fn splice_leaf_objects_indexed(
        &mut self,
        index: &mut SpliceIndex,
        range: Range<usize>,
        old: &[&LoadedObject],
        objects: &[&LoadedObject],
    ) -> bool {
        crate::validate::splice_leaf(self, index, range, old, objects)
    }

    /// Finds the Service `namespace`/`name` in [`Snapshot::services`], searching from position
    /// `from` on: `Ok(position)`, or `Err(position)` where it would be. Looking up keys in
    /// ascending order, each from the position the previous answer gave, reads few Services
    /// (a galloping search): a thousand lookups among 10,000 Services read a few thousand
    /// instead of 14,000. A key before `from` is not found (its answer is `Err(from)`).
    pub fn find_service_from(
        &self,
        from: usize,
        namespace: &str,
        name: &str,
    ) -> Result<usize, usize> {
        fn key(s: &Arc<Service>) -> (&str, &str) {
            (
                s.metadata.namespace.as_deref().unwrap_or(""),
                s.metadata.name.as_deref().unwrap_or(""),
            )
        }
        let at = lower_bound_from(&self.services, from, |s| key(s) < (namespace, name));
        match self.services.get(at) {
            Some(s) if key(s) == (namespace, name) => Ok(at),
            _ => Err(at),
        }
    }

    /// Parses and validates objects given as JSON values (e.g. objects listed from the
    /// Kubernetes API and turned into JSON); each value must carry `apiVersion` and `kind`.
    pub fn from_values<I: IntoIterator<Item = serde_json::Value>>(
        values: I,
        opts: &ReadOptions,
    ) -> Snapshot {
        let objects = values
            .into_iter()
            .map(|v| crate::object::parse_object(&v, None, opts))
            .collect();
        validate(objects, opts)
    }

    /// Loads files and directories and validates them. Unreadable or non-YAML input is returned
    /// as errors (together with nothing else: a partial configuration is never used).
    pub fn load<P: AsRef<Path>>(
        paths: &[P],
        opts: &ReadOptions,
    ) -> Result<Snapshot, Vec<LoadError>> {
        let loaded = load_paths(paths, opts);
        if !loaded.errors.is_empty() {
            return Err(loaded.errors);
        }
        Ok(validate(loaded.objects, opts))
    }

    /// True when every checked object is valid and no document is of an unknown kind.
    pub fn is_valid(&self) -> bool {
        self.reports
            .iter()
            .all(|r| r.outcome == Outcome::Skipped || r.is_valid())
    }

    /// Reports with at least one error (including unknown kinds).
    pub fn invalid(&self) -> impl Iterator<Item = &ObjectReport> {
        self.reports.iter().filter(|r| !r.errors.is_empty())
    }

    /// The report of one object.
    pub fn report(&self, key: &ObjectKey) -> Option<&ObjectReport> {
        self.reports.iter().find(|r| &r.key == key)
    }

    /// A loaded Node by name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(name))
    }

    /// The labels of a node: the Node object's labels when loaded (with
    /// `kubernetes.io/hostname`), else only `kubernetes.io/hostname=<name>`.
    pub fn node_labels(&self, name: &str) -> Labels {
        match self.node(name) {
            Some(n) => node_labels(n),
            None => Labels::from([("kubernetes.io/hostname".to_string(), name.to_string())]),
        }
    }

    /// The peers a node with these labels uses: valid peers whose nodeSelectors match, in name
    /// order, leaving out any peer that conflicts with an earlier one on this node (another
    /// router ID, another myASN in the same VRF, or the same address/interface and VRF).
    pub fn peers_for_node(&self, labels: &Labels) -> Vec<&Peer> {
        let mut chosen: Vec<&Peer> = Vec::new();
        for p in self.config.peers.values() {
            if !p.node_selector.matches(labels) {
                continue;
            }
            if chosen.iter().all(|c| peer_conflict(c, p).is_none()) {
                chosen.push(p);
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::load_str;

    #[test]
    fn find_service_from_equals_a_binary_search() {
        let mut text = String::new();
        for ns in ["a", "default", "z"] {
            for i in [3, 1, 4, 15, 9, 2, 6] {
                text.push_str(&format!("---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: {ns}}}\nspec: {{type: ClusterIP}}\n"));
            }
        }
        let opts = ReadOptions::default();
        let snap = Snapshot::from_objects(load_str(&text, None, &opts).objects, &opts);
        assert_eq!(snap.services.len(), 21);
        let mut keys = Vec::new();
        for ns in ["", "a", "b", "default", "z", "zz"] {
            for i in 0..17 {
                keys.push((ns.to_string(), format!("s{i}")));
            }
        }
        keys.sort();
        let mut from = 0;
        for (ns, name) in &keys {
            let want = snap.services.binary_search_by(|s| {
                (
                    s.metadata.namespace.as_deref().unwrap_or(""),
                    s.metadata.name.as_deref().unwrap_or(""),
                )
                    .cmp(&(ns.as_str(), name.as_str()))
            });
            let got = snap.find_service_from(from, ns, name);
            assert_eq!(got, want, "{ns}/{name} from {from}");
            from = got.unwrap_or_else(|at| at);
            // From the start, too.
            assert_eq!(snap.find_service_from(0, ns, name), want);
        }
    }
}
