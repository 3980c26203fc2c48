//! nmstate's Kubernetes kinds (`nmstate.io`): NodeNetworkConfigurationPolicy (`v1`, the desired
//! state a set of nodes must reach), NodeNetworkConfigurationEnactment and NodeNetworkState
//! (`v1beta1`, per-node reports). `desiredState`/`currentState` stay raw JSON
//! (`x-kubernetes-preserve-unknown-fields`, as in nmstate's CRDs) so no key is lost; the typed
//! subset lives in [`crate::nmstate`].

use k8s_openapi::api::core::v1::Toleration;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The API group.
pub const GROUP: &str = "nmstate.io";

fn preserve_unknown_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// NodeNetworkConfigurationPolicy spec.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[kube(
    group = "nmstate.io",
    version = "v1",
    kind = "NodeNetworkConfigurationPolicy",
    plural = "nodenetworkconfigurationpolicies",
    shortname = "nncp",
    status = "NodeNetworkConfigurationPolicyStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "NodeNetworkConfigurationPolicy is the Schema for the nodenetworkconfigurationpolicies API."
)]
pub struct NodeNetworkConfigurationPolicySpec {
    /// Nodes the policy applies to: every label must match (empty: all nodes).
    #[serde(
        rename = "nodeSelector",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Tolerations of the policy's handler pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// How many (or what percentage of) matching nodes may apply the policy at once.
    #[serde(
        rename = "maxUnavailable",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_unavailable: Option<IntOrString>,
    /// The desired network state in nmstate's schema.
    #[serde(
        rename = "desiredState",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub desired_state: Option<serde_json::Value>,
}

/// A condition as nmstate reports it.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct NmstateCondition {
    /// Condition type, e.g. `Available`, `Degraded`, `Progressing`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Last time the condition was probed (RFC 3339).
    #[serde(
        rename = "lastHeartbeatTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_heartbeat_time: Option<String>,
    /// Last time the status changed (RFC 3339).
    #[serde(
        rename = "lastTransitionTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_transition_time: Option<String>,
}

/// NodeNetworkConfigurationPolicy status.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct NodeNetworkConfigurationPolicyStatus {
    /// Aggregated conditions of the enactments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NmstateCondition>,
    /// Nodes currently applying the policy.
    #[serde(
        rename = "unavailableNodeCount",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub unavailable_node_count: Option<i64>,
    /// When unavailableNodeCount last changed.
    #[serde(
        rename = "lastUnavailableNodeCountUpdate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_unavailable_node_count_update: Option<String>,
}

/// NodeNetworkConfigurationEnactment: the outcome of one policy on one node (status only).
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[kube(
    group = "nmstate.io",
    version = "v1beta1",
    kind = "NodeNetworkConfigurationEnactment",
    plural = "nodenetworkconfigurationenactments",
    shortname = "nnce",
    no_spec,
    status = "NodeNetworkConfigurationEnactmentStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "NodeNetworkConfigurationEnactment is the Schema for the nodenetworkconfigurationenactments API."
)]
pub struct NodeNetworkConfigurationEnactmentFields {}

/// Enactment status.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct NodeNetworkConfigurationEnactmentStatus {
    /// The desired state rendered for this node.
    #[serde(
        rename = "desiredState",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub desired_state: Option<serde_json::Value>,
    /// Version and time of the desired state.
    #[serde(
        rename = "desiredStateMetaInfo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub desired_state_meta_info: Option<DesiredStateMetaInfo>,
    /// The policy generation this enactment reflects.
    #[serde(
        rename = "policyGeneration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub policy_generation: Option<i64>,
    /// `Available`, `Failing`, `Progressing`, `Pending`, `Aborted`, `MatchingNode`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NmstateCondition>,
    /// nmstate features the desired state uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// When and from which version a desired state was rendered.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct DesiredStateMetaInfo {
    /// RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Version string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// NodeNetworkState: the current network state of one node (status only).
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[kube(
    group = "nmstate.io",
    version = "v1beta1",
    kind = "NodeNetworkState",
    plural = "nodenetworkstates",
    shortname = "nns",
    no_spec,
    status = "NodeNetworkStateStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "NodeNetworkState is the Schema for the nodenetworkstates API."
)]
pub struct NodeNetworkStateFields {}

/// NodeNetworkState status.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct NodeNetworkStateStatus {
    /// The node's current state in nmstate's schema.
    #[serde(
        rename = "currentState",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub current_state: Option<serde_json::Value>,
    /// When currentState was last refreshed.
    #[serde(
        rename = "lastSuccessfulUpdateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_successful_update_time: Option<String>,
    /// Version of the reporting handler's nmstate.
    #[serde(
        rename = "handlerNmstateVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub handler_nmstate_version: Option<String>,
    /// NetworkManager version of the handler.
    #[serde(
        rename = "handlerNetworkManagerVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub handler_network_manager_version: Option<String>,
    /// NetworkManager version of the host.
    #[serde(
        rename = "hostNetworkManagerVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub host_network_manager_version: Option<String>,
    /// Conditions (`Available`, `Failing`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NmstateCondition>,
    /// nmstate features the node supports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}
