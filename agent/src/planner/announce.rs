//! The BGP announce decision per LoadBalancer Service on one node, with MetalLB's reasons.
//!
//! First the Service-level checks of MetalLB's speaker (`SetBalancer`): a LoadBalancer Service
//! without a `loadBalancerClass` (MetalLB's default filter), with ingress IPs, all inside one pool (and, here, the pool its address-pool annotation names).
//! Then MetalLB's `ShouldAnnounce` for BGP, in its order: `notOwner` (no BGPAdvertisement of the
//! pool selects this node), `noMatchingAdvertisement` (none of those selects the Service),
//! `conflictingAdvertisements` (two of them with incompatible localPref), `nodeNetworkUnavailable`
//! (Node condition NetworkUnavailable=True), `nodeLabeledExcludeBalancers` (label
//! `node.kubernetes.io/exclude-from-external-load-balancers`), `noLocalEndpoints`
//! (externalTrafficPolicy Local and no serving endpoint on this node), `noEndpoints` (no serving
//! endpoint at all). A Service without a selector is treated like any other: only its
//! EndpointSlices count.

use super::core_view as cv;
use super::ServiceKey;
use metalroute_crds::config::{BgpAdvertisement, Pool};
use metalroute_crds::core::Service;
use metalroute_crds::selector::Labels;
use metalroute_crds::snapshot::Snapshot;
use metalroute_crds::values::Family;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

/// The label that excludes a node from load balancers.
pub const EXCLUDE_BALANCERS_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// Why a Service is not announced over BGP by this node. The order of the variants is the order
/// in which they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WithheldReason {
    /// Not `type: LoadBalancer` (but still carries ingress IPs).
    NotLoadBalancer,
    /// `spec.loadBalancerClass` is set: another load-balancer implementation owns the Service
    /// (MetalLB without `--lb-class` ignores such Services).
    OtherLoadBalancerClass,
    /// No `status.loadBalancer.ingress[].ip`.
    NoIpAllocated,
    /// An ingress IP is in no valid pool, or the IPs are in different pools.
    IpNotAllowed,
    /// The address-pool annotation names another pool than the one holding the IPs.
    PoolAnnotationMismatch,
    /// No BGPAdvertisement of the IP's pool selects this node.
    NotOwner,
    /// None of the pool's advertisements that select this node selects the Service.
    NoMatchingAdvertisement,
    /// Two advertisements for the Service on this node disagree on localPref.
    ConflictingAdvertisements,
    /// The Node has condition NetworkUnavailable=True.
    NodeNetworkUnavailable,
    /// The Node has label `node.kubernetes.io/exclude-from-external-load-balancers`.
    NodeLabeledExcludeBalancers,
    /// externalTrafficPolicy Local and no serving endpoint on this node.
    NoLocalEndpoints,
    /// No serving endpoint anywhere.
    NoEndpoints,
}

impl WithheldReason {
    /// MetalLB's spelling (used in logs, events and JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            WithheldReason::NotLoadBalancer => "notLoadBalancer",
            WithheldReason::OtherLoadBalancerClass => "otherLoadBalancerClass",
            WithheldReason::NoIpAllocated => "noIPAllocated",
            WithheldReason::IpNotAllowed => "ipNotAllowed",
            WithheldReason::PoolAnnotationMismatch => "poolAnnotationMismatch",
            WithheldReason::NotOwner => "notOwner",
            WithheldReason::NoMatchingAdvertisement => "noMatchingAdvertisement",
            WithheldReason::ConflictingAdvertisements => "conflictingAdvertisements",
            WithheldReason::NodeNetworkUnavailable => "nodeNetworkUnavailable",
            WithheldReason::NodeLabeledExcludeBalancers => "nodeLabeledExcludeBalancers",
            WithheldReason::NoLocalEndpoints => "noLocalEndpoints",
            WithheldReason::NoEndpoints => "noEndpoints",
        }
    }
}

impl fmt::Display for WithheldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The BGP decision for one Service on this node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BgpDecision {
    /// Announce, through these BGPAdvertisements (they select this node and the Service).
    Announce {
        /// BGPAdvertisement names.
        advertisements: BTreeSet<String>,
    },
    /// Do not announce.
    Withhold {
        /// MetalLB's reason.
        reason: WithheldReason,
        /// Words naming what is missing or conflicting.
        detail: String,
    },
}

impl BgpDecision {
    /// True for [`BgpDecision::Announce`].
    pub fn is_announced(&self) -> bool {
        matches!(self, BgpDecision::Announce { .. })
    }

    /// The withheld reason, if withheld.
    pub fn reason(&self) -> Option<WithheldReason> {
        match self {
            BgpDecision::Withhold { reason, .. } => Some(*reason),
            BgpDecision::Announce { .. } => None,
        }
    }

    fn withhold(reason: WithheldReason, detail: impl Into<String>) -> BgpDecision {
        BgpDecision::Withhold {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for BgpDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BgpDecision::Announce { advertisements } => {
                let names: Vec<&str> = advertisements.iter().map(String::as_str).collect();
                write!(f, "announce (via {})", names.join(", "))
            }
            BgpDecision::Withhold { reason, detail } => write!(f, "withheld: {reason} ({detail})"),
        }
    }
}

/// One Service's view from this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    /// Its LB IPs (`status.loadBalancer.ingress[].ip`), sorted.
    pub ips: Vec<IpAddr>,
    /// The pool holding the IPs, when there is one.
    pub pool: Option<String>,
    /// The BGP decision.
    pub bgp: BgpDecision,
}

/// The pool holding every IP (MetalLB's `poolFor`), or why there is none.
fn pool_for<'a>(snapshot: &'a Snapshot, ips: &[IpAddr]) -> Result<&'a Pool, String> {
    if let Some(p) = snapshot
        .config
        .pools
        .values()
        .find(|p| ips.iter().all(|ip| p.contains(ip)))
    {
        return Ok(p);
    }
    let mut parts = Vec::new();
    for ip in ips {
        match snapshot.config.pools.values().find(|p| p.contains(ip)) {
            Some(p) => parts.push(format!("{ip} is in IPAddressPool {}", p.name)),
            None => parts.push(format!("{ip} is in no valid IPAddressPool")),
        }
    }
    Err(parts.join("; "))
}

/// The BGPAdvertisements of `pool` that select the node.
pub(crate) fn node_ads<'a>(
    snapshot: &'a Snapshot,
    pool: &str,
    labels: &Labels,
) -> Vec<&'a BgpAdvertisement> {
    snapshot
        .config
        .bgp_advertisements
        .values()
        .filter(|a| a.pools.contains(pool) && a.node_selector.matches(labels))
        .collect()
}

/// Of `ads`, those whose serviceSelectors select the Service (none = all Services).
pub(crate) fn ads_for_service<'a>(
    ads: &[&'a BgpAdvertisement],
    svc_labels: &Labels,
) -> Vec<&'a BgpAdvertisement> {
    ads.iter()
        .copied()
        .filter(|a| {
            a.service_selectors.is_empty()
                || a.service_selectors.iter().any(|s| s.matches(svc_labels))
        })
        .collect()
}

/// MetalLB's `BGPAdvertisementsHaveCompatibleLocalPref` for two advertisements that both select
/// this node: compatible when localPref is equal, aggregation lengths differ for every family of
/// the pool, or both name peers and share none.
fn compatible_local_pref(a: &BgpAdvertisement, b: &BgpAdvertisement, pool: &Pool) -> bool {
    if a.local_pref == b.local_pref {
        return true;
    }
    let (v4, v6) = (pool.has_family(Family::V4), pool.has_family(Family::V6));
    let d4 = a.aggregation_length != b.aggregation_length;
    let d6 = a.aggregation_length_v6 != b.aggregation_length_v6;
    let aggr_differs = match (v4, v6) {
        (false, false) => true,
        (true, false) => d4,
        (false, true) => d6,
        (true, true) => d4 && d6,
    };
    if aggr_differs {
        return true;
    }
    !a.peers.is_empty() && !b.peers.is_empty() && a.peers.is_disjoint(&b.peers)
}

/// What deciding a Service needs besides the Service itself: the snapshot, the node, and what
/// is computed once per plan (the EndpointSlice index, the node's conditions and labels).
#[derive(Debug)]
pub(crate) struct NodeView<'a> {
    /// The snapshot planned from.
    pub snapshot: &'a Snapshot,
    /// The node planned for.
    pub node: &'a str,
    /// The node's labels.
    pub labels: &'a Labels,
    /// EndpointSlices by Service.
    pub endpoints: cv::EndpointIndex<'a>,
    network_unavailable: bool,
    excluded: bool,
}

impl<'a> NodeView<'a> {
    /// Computes the per-plan facts.
    pub fn new(snapshot: &'a Snapshot, node: &'a str, labels: &'a Labels) -> NodeView<'a> {
        NodeView {
            snapshot,
            node,
            labels,
            endpoints: cv::EndpointIndex::new(snapshot),
            network_unavailable: node_network_unavailable(snapshot, node),
            excluded: node_excluded(snapshot, node),
        }
    }

    /// The same facts with a given EndpointSlice index (an incremental plan indexes only the
    /// slices of the Services it decides again).
    pub fn with_endpoints(
        snapshot: &'a Snapshot,
        node: &'a str,
        labels: &'a Labels,
        endpoints: cv::EndpointIndex<'a>,
    ) -> NodeView<'a> {
        NodeView {
            snapshot,
            node,
            labels,
            endpoints,
            network_unavailable: node_network_unavailable(snapshot, node),
            excluded: node_excluded(snapshot, node),
        }
    }
}

fn node_network_unavailable(snapshot: &Snapshot, node: &str) -> bool {
    snapshot
        .node(node)
        .and_then(|n| n.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "NetworkUnavailable" && c.status == "True")
}

fn node_excluded(snapshot: &Snapshot, node: &str) -> bool {
    snapshot
        .node(node)
        .and_then(|n| n.metadata.labels.as_ref())
        .is_some_and(|l| l.contains_key(EXCLUDE_BALANCERS_LABEL))
}

/// Decides one Service.
pub(crate) fn decide(view: &NodeView<'_>, svc: &Service) -> Option<ServicePlan> {
    let (snapshot, node, labels) = (view.snapshot, view.node, view.labels);
    let key = cv::key(svc);
    let ips = cv::ingress_ips(svc);
    let plan = |pool: Option<&str>, bgp: BgpDecision| ServicePlan {
        ips: ips.clone(),
        pool: pool.map(str::to_string),
        bgp,
    };
    if !cv::is_load_balancer(svc) {
        if ips.is_empty() {
            return None;
        }
        return Some(plan(
            None,
            BgpDecision::withhold(
                WithheldReason::NotLoadBalancer,
                "spec.type is not LoadBalancer",
            ),
        ));
    }
    if let Some(class) = cv::load_balancer_class(svc) {
        return Some(plan(
            None,
            BgpDecision::withhold(
                WithheldReason::OtherLoadBalancerClass,
                format!("spec.loadBalancerClass is {class:?}: another load balancer owns it"),
            ),
        ));
    }
    if ips.is_empty() {
        return Some(plan(
            None,
            BgpDecision::withhold(
                WithheldReason::NoIpAllocated,
                "no status.loadBalancer.ingress[].ip",
            ),
        ));
    }
    let pool = match pool_for(snapshot, &ips) {
        Ok(p) => p,
        Err(why) => {
            return Some(plan(
                None,
                BgpDecision::withhold(WithheldReason::IpNotAllowed, why),
            ))
        }
    };
    if let Some(wanted) = cv::annotation(svc, &cv::POOL_ANNOTATIONS) {
        if wanted != pool.name {
            return Some(plan(
                Some(&pool.name),
                BgpDecision::withhold(
                    WithheldReason::PoolAnnotationMismatch,
                    format!(
                        "the address-pool annotation names IPAddressPool {wanted}, but the IPs are in IPAddressPool {}",
                        pool.name
                    ),
                ),
            ));
        }
    }
    let p = Some(pool.name.as_str());
    let on_node = node_ads(snapshot, &pool.name, labels);
    if on_node.is_empty() {
        return Some(plan(
            p,
            BgpDecision::withhold(
                WithheldReason::NotOwner,
                format!(
                    "no BGPAdvertisement of IPAddressPool {} selects node {node}",
                    pool.name
                ),
            ),
        ));
    }
    let for_svc = ads_for_service(&on_node, cv::labels_ref(svc));
    if for_svc.is_empty() {
        let names: Vec<&str> = on_node.iter().map(|a| a.name.as_str()).collect();
        return Some(plan(
            p,
            BgpDecision::withhold(
                WithheldReason::NoMatchingAdvertisement,
                format!(
                    "the serviceSelectors of BGPAdvertisement {} do not select {key}",
                    names.join(", ")
                ),
            ),
        ));
    }
    for (i, a) in for_svc.iter().enumerate() {
        for b in &for_svc[i + 1..] {
            if !compatible_local_pref(a, b, pool) {
                let show =
                    |lp: Option<u32>| lp.map_or_else(|| "unset".to_string(), |v| v.to_string());
                return Some(plan(
                    p,
                    BgpDecision::withhold(
                        WithheldReason::ConflictingAdvertisements,
                        format!(
                            "BGPAdvertisements {} and {} have conflicting localPref ({} vs {})",
                            a.name,
                            b.name,
                            show(a.local_pref),
                            show(b.local_pref)
                        ),
                    ),
                ));
            }
        }
    }
    if view.network_unavailable {
        return Some(plan(
            p,
            BgpDecision::withhold(
                WithheldReason::NodeNetworkUnavailable,
                format!("node {node} has condition NetworkUnavailable=True"),
            ),
        ));
    }
    if view.excluded {
        return Some(plan(
            p,
            BgpDecision::withhold(
                WithheldReason::NodeLabeledExcludeBalancers,
                format!("node {node} has label {EXCLUDE_BALANCERS_LABEL}"),
            ),
        ));
    }
    if cv::is_etp_local(svc) && !view.endpoints.has_serving_endpoint(&key, Some(node)) {
        return Some(plan(
            p,
            BgpDecision::withhold(
                WithheldReason::NoLocalEndpoints,
                format!("externalTrafficPolicy is Local and no serving endpoint of {key} runs on node {node}"),
            ),
        ));
    }
    if !view.endpoints.has_serving_endpoint(&key, None) {
        return Some(plan(
            p,
            BgpDecision::withhold(
                WithheldReason::NoEndpoints,
                format!("{key} has no serving endpoint"),
            ),
        ));
    }
    Some(plan(
        p,
        BgpDecision::Announce {
            advertisements: for_svc.iter().map(|a| a.name.clone()).collect(),
        },
    ))
}

/// Decides every Service of the snapshot.
pub(crate) fn plan_services(view: &NodeView<'_>) -> BTreeMap<ServiceKey, ServicePlan> {
    view.snapshot
        .services
        .iter()
        .filter_map(|svc| decide(view, svc).map(|p| (cv::key(svc), p)))
        .collect()
}
