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
use crate::validate::{node_labels, peer_conflict, validate, validate_refs};
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

    /// Replaces the objects whose reports are `reports[range]` with `objects`, giving the same
    /// snapshot as validating the whole set again with `objects` in that place — without
    /// re-validating anything else. That holds only for a change of leaf objects, so the splice
    /// is done only when every object leaving or arriving is a Service or an EndpointSlice (or
    /// a document of a kind nothing reads), no key involved is defined twice, and no
    /// EgressService (whose report depends on the Services) is loaded. Otherwise it returns
    /// false and leaves the snapshot unchanged: the caller validates the whole set.
    ///
    /// `reports[i]` is the report of the i-th object given to validation, so a source that
    /// validated its objects in a known order can name a file's objects by their range.
    ///
    /// This builds a [`SpliceIndex`] of the whole snapshot (a pass over every report); a source
    /// splicing the same snapshot again and again keeps one and calls
    /// [`Snapshot::splice_leaf_objects_indexed`].
    pub fn splice_leaf_objects(&mut self, range: Range<usize>, objects: &[&LoadedObject]) -> bool {
        let mut index = SpliceIndex::of(self);
        crate::validate::splice_leaf(self, &mut index, range, objects)
    }

    /// [`Snapshot::splice_leaf_objects`] with an index of this snapshot kept by the caller
    /// ([`SpliceIndex::of`] this snapshot, then the same index for every splice; a refused
    /// splice leaves both unchanged). A change of k objects then costs O(k log n), not a pass
    /// over every report.
    pub fn splice_leaf_objects_indexed(
        &mut self,
        index: &mut SpliceIndex,
        range: Range<usize>,
        objects: &[&LoadedObject],
    ) -> bool {
        crate::validate::splice_leaf(self, index, range, objects)
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
