//! EgressService roles of this node: whether its nodeSelector makes the node eligible, and
//! whether OVN-Kubernetes chose it as the Service's egress host — OVN-Kubernetes marks the chosen
//! node with the label `egress-service.k8s.ovn.org/<namespace>-<name>: ""` (the label seed
//! BGPAdvertisements select on). The choice itself is OVN-Kubernetes' and is not made here;
//! programming the rules and SNAT is a later issue.

use super::core_view as cv;
use super::ServiceKey;
use metalroute_crds::config::SourceIpBy;
use metalroute_crds::selector::Labels;
use metalroute_crds::snapshot::Snapshot;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The prefix of the label OVN-Kubernetes puts on an EgressService's chosen node.
pub const HOST_LABEL_PREFIX: &str = "egress-service.k8s.ovn.org/";

/// One EgressService seen from this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPlan {
    /// `sourceIPBy`.
    pub source_ip_by: SourceIpBy,
    /// `network` (routing table id or name); `None` is the main table.
    pub network: Option<String>,
    /// The EgressService's nodeSelector selects this node.
    pub eligible: bool,
    /// This node carries the host label: OVN-Kubernetes chose it.
    pub selected: bool,
    /// The LB IPs of the Service of the same name (the SNAT source with LoadBalancerIP).
    pub lb_ips: Vec<IpAddr>,
    /// A LoadBalancer Service of that name exists.
    pub service_found: bool,
}

/// The host label key for a Service.
pub fn host_label(key: &ServiceKey) -> String {
    format!("{HOST_LABEL_PREFIX}{}-{}", key.namespace, key.name)
}

/// Every EgressService, with this node's role.
pub(crate) fn plan_egress(
    snapshot: &Snapshot,
    labels: &Labels,
) -> BTreeMap<ServiceKey, EgressPlan> {
    snapshot
        .config
        .egress_services
        .values()
        .map(|es| {
            let key = ServiceKey::new(&es.namespace, &es.name);
            let svc = snapshot
                .services
                .iter()
                .find(|s| cv::key(s) == key && cv::is_load_balancer(s));
            let plan = EgressPlan {
                source_ip_by: es.source_ip_by,
                network: es.network.clone(),
                eligible: es.node_selector.matches(labels),
                selected: labels.contains_key(&host_label(&key)),
                lb_ips: svc.map(|s| cv::ingress_ips(s)).unwrap_or_default(),
                service_found: svc.is_some(),
            };
            (key, plan)
        })
        .collect()
}
