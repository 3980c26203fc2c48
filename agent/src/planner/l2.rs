//! L2 (ARP/NDP) candidacy of this node per Service — the part of MetalLB's layer2
//! `ShouldAnnounce` that depends only on configuration: a serving endpoint exists, the Service's
//! L2Advertisements (by pool and serviceSelectors) include one selecting this node, a shared IP
//! is not combined with serviceSelectors, and with externalTrafficPolicy Local this node has a
//! serving endpoint. The election among candidate nodes (MetalLB hashes the node names of live
//! speakers) needs the set of live speakers, which a snapshot does not hold: it is NOT decided
//! here, and L2 announcing itself is a later issue.

use super::announce::NodeView;
use super::core_view as cv;
use super::ServiceKey;
use metalroute_crds::config::L2Advertisement;
use metalroute_crds::selector::Labels;
use metalroute_crds::snapshot::Snapshot;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Why this node is not an L2 candidate for a Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L2Reason {
    /// No serving endpoint anywhere (MetalLB reports `notOwner`).
    NoEndpoints,
    /// The Service shares its IP and an L2Advertisement for it has serviceSelectors.
    SharedIpWithServiceSelector,
    /// No L2Advertisement for the Service selects this node.
    NoMatchingAdvertisement,
    /// externalTrafficPolicy Local and no serving endpoint on this node (MetalLB: `notOwner`).
    NoLocalEndpoints,
}

impl L2Reason {
    /// A short name for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            L2Reason::NoEndpoints => "noEndpoints",
            L2Reason::SharedIpWithServiceSelector => "sharedIPWithServiceSelector",
            L2Reason::NoMatchingAdvertisement => "noMatchingAdvertisement",
            L2Reason::NoLocalEndpoints => "noLocalEndpoints",
        }
    }
}

impl fmt::Display for L2Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// L2 candidacy of this node for one Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L2Decision {
    /// This node may be elected to answer ARP/NDP for the Service's IPs.
    Candidate {
        /// L2Advertisements selecting this node and the Service.
        advertisements: BTreeSet<String>,
        /// Interfaces to answer on; empty means every interface.
        interfaces: BTreeSet<String>,
    },
    /// Not a candidate.
    NotCandidate(L2Reason),
}

fn l2_ads_for_service<'a>(
    snapshot: &'a Snapshot,
    pool: &str,
    svc_labels: &Labels,
) -> Vec<&'a L2Advertisement> {
    snapshot
        .config
        .l2_advertisements
        .values()
        .filter(|a| a.pools.contains(pool))
        .filter(|a| {
            a.service_selectors.is_empty()
                || a.service_selectors.iter().any(|s| s.matches(svc_labels))
        })
        .collect()
}

/// L2 candidacy of every LoadBalancer Service whose IPs are in a pool with an L2Advertisement.
pub(crate) fn plan_l2(view: &NodeView<'_>) -> BTreeMap<ServiceKey, L2Decision> {
    let (snapshot, node, labels) = (view.snapshot, view.node, view.labels);
    let mut out = BTreeMap::new();
    // Without L2Advertisements no Service is a candidate: skip the walk over every Service.
    if snapshot.config.l2_advertisements.is_empty() {
        return out;
    }
    for svc in &snapshot.services {
        if !cv::is_load_balancer(svc) || cv::load_balancer_class(svc).is_some() {
            continue;
        }
        let ips = cv::ingress_ips(svc);
        if ips.is_empty() {
            continue;
        }
        let Some(pool) = snapshot
            .config
            .pools
            .values()
            .find(|p| ips.iter().all(|ip| p.contains(ip)))
        else {
            continue;
        };
        let ads = l2_ads_for_service(snapshot, &pool.name, cv::labels_ref(svc));
        if ads.is_empty() {
            continue;
        }
        let key = cv::key(svc);
        let decision = if !view.endpoints.has_serving_endpoint(&key, None) {
            L2Decision::NotCandidate(L2Reason::NoEndpoints)
        } else if cv::annotation(svc, &cv::SHARED_IP_ANNOTATIONS).is_some()
            && ads.iter().any(|a| !a.service_selectors.is_empty())
        {
            L2Decision::NotCandidate(L2Reason::SharedIpWithServiceSelector)
        } else {
            let mine: Vec<&&L2Advertisement> = ads
                .iter()
                .filter(|a| a.node_selector.matches(labels))
                .collect();
            if mine.is_empty() {
                L2Decision::NotCandidate(L2Reason::NoMatchingAdvertisement)
            } else if cv::is_etp_local(svc)
                && !view.endpoints.has_serving_endpoint(&key, Some(node))
            {
                L2Decision::NotCandidate(L2Reason::NoLocalEndpoints)
            } else {
                let all_interfaces = mine.iter().any(|a| a.interfaces.is_empty());
                L2Decision::Candidate {
                    advertisements: mine.iter().map(|a| a.name.clone()).collect(),
                    interfaces: if all_interfaces {
                        BTreeSet::new()
                    } else {
                        mine.iter()
                            .flat_map(|a| a.interfaces.iter().cloned())
                            .collect()
                    },
                }
            }
        };
        out.insert(key, decision);
    }
    out
}
