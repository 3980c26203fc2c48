//! The planner: a pure function from a validated [`Snapshot`] and a node name to that node's
//! [`NodePlan`] — the BGP sessions it runs (per VRF), what it announces to each peer with which
//! attributes, every LoadBalancer Service it withholds and why (MetalLB's reasons, in MetalLB's
//! order), its L2 candidacy and EgressService role, and the merged nmstate desired state.
//!
//! No I/O, no clock, no randomness: the same snapshot always gives the same plan, and every
//! collection is ordered (`BTreeMap`/`BTreeSet`), so successive plans can be compared field by
//! field. The actuators are level-triggered: they take a whole `NodePlan` and converge to it,
//! diffing per VRF and per session ([`SessionPlan::params`] decides whether a session must be
//! reset, [`SessionPlan::advertisements`] only what UPDATEs to send).
//!
//! Submodules: [`sessions`] (BGPPeers → session parameters), [`announce`] (per-Service
//! decisions), [`advertise`] (per-session prefixes and path attributes), [`l2`], [`egress`],
//! [`network`] (NNCP merge), [`changes`] (decision changes between two plans, for logging) and
//! [`render`] (text and JSON; passwords never appear).

pub mod advertise;
pub mod announce;
pub mod changes;
pub mod egress;
pub mod incremental;
pub mod l2;
pub mod network;
pub mod render;
pub mod sessions;

pub use advertise::{Advertisement, PathAttributes};
pub use announce::{BgpDecision, ServicePlan, WithheldReason};
pub use changes::{decision_changes, DecisionChange};
pub use egress::EgressPlan;
pub use incremental::{replan_services, Patch, PlanBasis};
pub use l2::{L2Decision, L2Reason};
pub use network::{NetworkConflict, NetworkPlan};
pub use sessions::{
    Families, HeldPeer, HeldReason, Password, PasswordSource, SessionParams, SessionPlan,
    SessionType,
};

use metalroute_crds::report::ObjectReport;
use metalroute_crds::selector::Labels;
use metalroute_crds::snapshot::Snapshot;
use metalroute_crds::values::PeerTarget;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

/// A host VRF: the default one, or a named VRF device.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Vrf {
    /// The default VRF (no `spec.vrf`).
    Default,
    /// A VRF device by name.
    Named(String),
}

impl Vrf {
    /// From a BGPPeer's `spec.vrf` (`None` is the default VRF).
    pub fn from_option(v: &Option<String>) -> Vrf {
        match v {
            Some(name) => Vrf::Named(name.clone()),
            None => Vrf::Default,
        }
    }

    /// The VRF device name, `None` for the default VRF.
    pub fn device(&self) -> Option<&str> {
        match self {
            Vrf::Default => None,
            Vrf::Named(n) => Some(n),
        }
    }
}

impl fmt::Display for Vrf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Vrf::Default => f.write_str("default"),
            Vrf::Named(n) => f.write_str(n),
        }
    }
}

/// A Service's identity: namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ServiceKey {
    /// Builds a key.
    pub fn new(namespace: &str, name: &str) -> ServiceKey {
        ServiceKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The sessions of one VRF, keyed by the peer's address or interface (one session per
/// (VRF, peer) on a node).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VrfPlan {
    /// Sessions by peer address / interface.
    pub sessions: BTreeMap<PeerTarget, SessionPlan>,
}

/// Everything one node must do, decided from one snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodePlan {
    /// The node planned for.
    pub node: String,
    /// The node's labels as selectors see them (the Node object's, or only
    /// `kubernetes.io/hostname` when no Node object is loaded).
    pub node_labels: Labels,
    /// BGP sessions per VRF, each with its advertisements.
    pub vrfs: BTreeMap<Vrf, VrfPlan>,
    /// BGPPeers that would apply but run no session (missing Secret or BFD profile, or a
    /// conflict with another peer on this node), by peer name.
    pub held_peers: BTreeMap<String, HeldPeer>,
    /// The BGP announce decision of every LoadBalancer Service (and of non-LoadBalancer
    /// Services that still carry ingress IPs).
    pub services: BTreeMap<ServiceKey, ServicePlan>,
    /// L2 candidacy of Services whose pool has an L2Advertisement.
    pub l2: BTreeMap<ServiceKey, L2Decision>,
    /// EgressServices and this node's role for each.
    pub egress: BTreeMap<ServiceKey, EgressPlan>,
    /// The merged nmstate desired state for this node.
    pub network: NetworkPlan,
    /// Reports of objects left out because they are invalid (errors name object and field).
    pub invalid_objects: Vec<ObjectReport>,
    /// Oddities that do not stop planning (e.g. two advertisements giving one prefix different
    /// localPrefs to one peer).
    pub warnings: Vec<String>,
}

impl NodePlan {
    /// Every session of every VRF, with its VRF.
    pub fn sessions(&self) -> impl Iterator<Item = (&Vrf, &SessionPlan)> {
        self.vrfs
            .iter()
            .flat_map(|(v, p)| p.sessions.values().map(move |s| (v, s)))
    }

    /// The session of the BGPPeer with this name.
    pub fn session(&self, peer: &str) -> Option<&SessionPlan> {
        self.sessions()
            .map(|(_, s)| s)
            .find(|s| s.params.peer == peer)
    }

    /// The announce decision per (Service, LB IP): every IP of a Service shares its decision.
    pub fn decisions(&self) -> impl Iterator<Item = (&ServiceKey, IpAddr, &BgpDecision)> {
        self.services
            .iter()
            .flat_map(|(k, s)| s.ips.iter().map(move |ip| (k, *ip, &s.bgp)))
    }

    /// LB IPs this node announces over BGP, each with the Services that qualify it (a shared IP
    /// is announced once while any of its Services qualifies).
    pub fn announced_ips(&self) -> BTreeMap<IpAddr, BTreeSet<ServiceKey>> {
        let mut out: BTreeMap<IpAddr, BTreeSet<ServiceKey>> = BTreeMap::new();
        for (k, ip, d) in self.decisions() {
            if d.is_announced() {
                out.entry(ip).or_default().insert(k.clone());
            }
        }
        out
    }

    /// Services withheld from BGP, with their reason.
    pub fn withheld(&self) -> impl Iterator<Item = (&ServiceKey, WithheldReason, &str)> {
        self.services.iter().filter_map(|(k, s)| match &s.bgp {
            BgpDecision::Withhold { reason, detail } => Some((k, *reason, detail.as_str())),
            BgpDecision::Announce { .. } => None,
        })
    }

    /// True when at least one object of the snapshot was invalid.
    pub fn had_invalid_objects(&self) -> bool {
        !self.invalid_objects.is_empty()
    }
}

/// Plans one node: pure, deterministic, no I/O.
pub fn plan(snapshot: &Snapshot, node_name: &str) -> NodePlan {
    let node_labels = snapshot.node_labels(node_name);
    let mut warnings = Vec::new();
    let (mut vrfs, held_peers) = sessions::plan_sessions(snapshot, &node_labels);
    let view = announce::NodeView::new(snapshot, node_name, &node_labels);
    let services = announce::plan_services(&view);
    advertise::fill_advertisements(snapshot, &services, &mut vrfs, &mut warnings);
    let l2 = l2::plan_l2(&view);
    let egress = egress::plan_egress(snapshot, &node_labels);
    let network = network::plan_network(snapshot, &node_labels);
    NodePlan {
        node: node_name.to_string(),
        node_labels,
        vrfs,
        held_peers,
        services,
        l2,
        egress,
        network,
        invalid_objects: snapshot.invalid().cloned().collect(),
        warnings,
    }
}

/// Helpers shared by the submodules to read core objects.
pub(crate) mod core_view {
    use metalroute_crds::core::{EndpointSlice, Service};
    use metalroute_crds::snapshot::Snapshot;
    use std::collections::HashMap;
    use std::net::IpAddr;

    /// The label EndpointSlices carry to name their Service.
    pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

    /// The annotations that let Services share an IP.
    pub const SHARED_IP_ANNOTATIONS: [&str; 2] = [
        "metallb.universe.tf/allow-shared-ip",
        "metallb.io/allow-shared-ip",
    ];

    /// The annotations naming the pool a Service wants.
    pub const POOL_ANNOTATIONS: [&str; 2] = [
        "metallb.universe.tf/address-pool",
        "metallb.io/address-pool",
    ];

    /// `namespace`, `name` of a Service (namespace defaulted by the loader).
    pub fn key(svc: &Service) -> super::ServiceKey {
        super::ServiceKey::new(
            svc.metadata.namespace.as_deref().unwrap_or("default"),
            svc.metadata.name.as_deref().unwrap_or(""),
        )
    }

    /// True for `spec.type: LoadBalancer`.
    pub fn is_load_balancer(svc: &Service) -> bool {
        svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
    }

    /// `spec.loadBalancerClass`, when set and not empty.
    pub fn load_balancer_class(svc: &Service) -> Option<&str> {
        svc.spec
            .as_ref()
            .and_then(|s| s.load_balancer_class.as_deref())
            .filter(|c| !c.is_empty())
    }

    /// True for `spec.externalTrafficPolicy: Local`.
    pub fn is_etp_local(svc: &Service) -> bool {
        svc.spec
            .as_ref()
            .and_then(|s| s.external_traffic_policy.as_deref())
            == Some("Local")
    }

    /// The IPs of `status.loadBalancer.ingress[].ip`, sorted and deduplicated (validation
    /// already rejected Services whose ingress IPs do not parse).
    pub fn ingress_ips(svc: &Service) -> Vec<IpAddr> {
        let mut ips: Vec<IpAddr> = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|i| i.ip.as_deref())
            .filter_map(|ip| ip.trim().parse().ok())
            .collect();
        ips.sort();
        ips.dedup();
        ips
    }

    /// The value of the first of `keys` present in the Service's annotations.
    pub fn annotation<'a>(svc: &'a Service, keys: &[&str]) -> Option<&'a str> {
        let a = svc.metadata.annotations.as_ref()?;
        keys.iter().find_map(|k| a.get(*k).map(String::as_str))
    }

    /// The labels of an object without labels.
    static NO_LABELS: metalroute_crds::selector::Labels = std::collections::BTreeMap::new();

    /// The Service's labels, borrowed (no labels: an empty set).
    pub fn labels_ref(svc: &Service) -> &metalroute_crds::selector::Labels {
        svc.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
    }

    /// EndpointSlices grouped by the Service they belong to (same namespace,
    /// `kubernetes.io/service-name` label), built once per plan so that a Service's endpoints
    /// are found without scanning every slice (one scan per Service was quadratic).
    #[derive(Debug, Default)]
    pub struct EndpointIndex<'a> {
        /// namespace → Service name → slices, borrowed from the slices: no copy per slice.
        by_service: HashMap<&'a str, HashMap<&'a str, Vec<&'a EndpointSlice>>>,
    }

    impl<'a> EndpointIndex<'a> {
        /// Indexes every EndpointSlice of the snapshot (slices without a namespace or without
        /// the service-name label belong to no Service).
        pub fn new(snapshot: &'a Snapshot) -> EndpointIndex<'a> {
            EndpointIndex::filtered(snapshot, |_, _| true)
        }

        /// Indexes the given slices, each with its Service's namespace and name (an
        /// incremental plan knows the slices of the few Services it decides again).
        pub fn from_slices(
            slices: impl IntoIterator<Item = (&'a str, &'a str, &'a EndpointSlice)>,
        ) -> EndpointIndex<'a> {
            let mut by_service: HashMap<&str, HashMap<&str, Vec<&EndpointSlice>>> = HashMap::new();
            for (ns, svc, s) in slices {
                by_service
                    .entry(ns)
                    .or_default()
                    .entry(svc)
                    .or_default()
                    .push(s);
            }
            EndpointIndex { by_service }
        }

        /// Indexes only the EndpointSlices of the Services `wanted(namespace, name)` accepts
        /// (an incremental plan decides a few Services and needs only their slices).
        pub fn filtered(
            snapshot: &'a Snapshot,
            wanted: impl Fn(&str, &str) -> bool,
        ) -> EndpointIndex<'a> {
            let mut by_service: HashMap<&str, HashMap<&str, Vec<&EndpointSlice>>> = HashMap::new();
            for s in &snapshot.endpoint_slices {
                let ns = s.metadata.namespace.as_deref();
                let svc = s
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(SERVICE_NAME_LABEL))
                    .map(String::as_str);
                if let (Some(ns), Some(svc)) = (ns, svc) {
                    if !wanted(ns, svc) {
                        continue;
                    }
                    by_service
                        .entry(ns)
                        .or_default()
                        .entry(svc)
                        .or_default()
                        .push(s);
                }
            }
            EndpointIndex { by_service }
        }

        /// The EndpointSlices of a Service, in snapshot order.
        pub fn slices_of(&self, key: &super::ServiceKey) -> &[&'a EndpointSlice] {
            self.by_service
                .get(key.namespace.as_str())
                .and_then(|m| m.get(key.name.as_str()))
                .map(Vec::as_slice)
                .unwrap_or(&[])
        }

        /// MetalLB's "healthy endpoint": the Service has an endpoint with an address whose
        /// conditions say it can serve (`ready` unset or true, or `serving` true). `on_node`
        /// restricts to endpoints whose `nodeName` is that node.
        pub fn has_serving_endpoint(&self, key: &super::ServiceKey, on_node: Option<&str>) -> bool {
            self.slices_of(key).iter().any(|slice| {
                slice.endpoints.iter().flatten().any(|ep| {
                    if on_node.is_some_and(|n| ep.node_name.as_deref() != Some(n)) {
                        return false;
                    }
                    let can_serve = match &ep.conditions {
                        None => true,
                        Some(c) => c.ready.is_none_or(|r| r) || c.serving == Some(true),
                    };
                    !ep.addresses.is_empty() && can_serve
                })
            })
        }
    }
}
