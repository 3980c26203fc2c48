//! OVN-Kubernetes' `k8s.ovn.org/v1` EgressService: pods behind a LoadBalancer service of the same
//! namespace/name leave the cluster with the service's IP as source (`sourceIPBy: LoadBalancerIP`)
//! or through the node's routing for a given network.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group.
pub const GROUP: &str = "k8s.ovn.org";

/// EgressService spec.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[kube(
    group = "k8s.ovn.org",
    version = "v1",
    kind = "EgressService",
    plural = "egressservices",
    namespaced,
    status = "EgressServiceStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "EgressService is a CRD that allows the user to request that the source IP of egress packets originating from all of the pods that are endpoints of the corresponding LoadBalancer Service would be its ingress IP."
)]
pub struct EgressServiceSpec {
    /// `LoadBalancerIP` (SNAT to the service's ingress IP) or `Network` (the network's own
    /// source IP).
    #[serde(
        rename = "sourceIPBy",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("enum" = ["LoadBalancerIP", "Network"]))]
    pub source_ip_by: Option<String>,
    /// Nodes that may handle the service's egress (one is chosen).
    #[serde(
        rename = "nodeSelector",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub node_selector: Option<LabelSelector>,
    /// The network egress traffic uses: a routing table id or name; empty for the main table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// EgressService status.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct EgressServiceStatus {
    /// The node handling the service's egress.
    #[serde(default)]
    pub host: String,
}
