//! `metallb.io/v1beta1`: IPAddressPool, BGPAdvertisement, L2Advertisement, BFDProfile, Community,
//! the legacy BGPPeer (converted to v1beta2 by [`BGPPeer::into_v1beta2`]), and the status kinds
//! ServiceBGPStatus, ServiceL2Status and ConfigurationState.

// kube's `printcolumn(...)` entries repeat `type_ = "string"`, which clippy mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// IPAddressPool spec: addresses MetalLB may hand out.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "IPAddressPool",
    plural = "ipaddresspools",
    namespaced,
    status = "IPAddressPoolStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "IPAddressPool represents a pool of IP addresses that can be allocated to LoadBalancer services."
)]
pub struct IPAddressPoolSpec {
    /// Ranges: each a CIDR prefix or an explicit `start-end` range of one family.
    pub addresses: Vec<String>,
    /// Whether addresses are assigned automatically (default true).
    #[serde(
        rename = "autoAssign",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("default" = true))]
    pub auto_assign: Option<bool>,
    /// Never hand out addresses ending in .0 or .255 (default false).
    #[serde(
        rename = "avoidBuggyIPs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("default" = false))]
    pub avoid_buggy_ips: Option<bool>,
    /// Restricts the pool to namespaces and/or services.
    #[serde(
        rename = "serviceAllocation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub service_allocation: Option<ServiceAllocation>,
}

/// Which services may get addresses from a pool.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct ServiceAllocation {
    /// Lower value wins among matching pools; unset pools are used last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Namespaces whose services may use the pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Namespaces selected by label.
    #[serde(
        rename = "namespaceSelectors",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub namespace_selectors: Vec<LabelSelector>,
    /// Services selected by label.
    #[serde(
        rename = "serviceSelectors",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub service_selectors: Vec<LabelSelector>,
}

/// IPAddressPool status: allocation counters.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct IPAddressPoolStatus {
    /// Assigned IPv4 addresses.
    #[serde(rename = "assignedIPv4", default)]
    pub assigned_ipv4: i64,
    /// Assigned IPv6 addresses.
    #[serde(rename = "assignedIPv6", default)]
    pub assigned_ipv6: i64,
    /// Available IPv4 addresses.
    #[serde(rename = "availableIPv4", default)]
    pub available_ipv4: i64,
    /// Available IPv6 addresses.
    #[serde(rename = "availableIPv6", default)]
    pub available_ipv6: i64,
}

/// BGPAdvertisement spec: how the IPs of selected pools are announced over BGP.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "BGPAdvertisement",
    plural = "bgpadvertisements",
    namespaced,
    status = "EmptyStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "BGPAdvertisement allows to advertise the IPs coming from the selected IPAddressPools via BGP."
)]
pub struct BGPAdvertisementSpec {
    /// Roll IPv4 service addresses up into prefixes of this length (1..32, default 32).
    #[serde(
        rename = "aggregationLength",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 1), extend("default" = 32))]
    pub aggregation_length: Option<i64>,
    /// Roll IPv6 service addresses up into prefixes of this length (0..128, default 128).
    #[serde(
        rename = "aggregationLengthV6",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("default" = 128))]
    pub aggregation_length_v6: Option<i64>,
    /// LOCAL_PREF (iBGP only); unset means not sent.
    #[serde(rename = "localPref", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 4294967295u32))]
    pub local_pref: Option<i64>,
    /// Communities: `A:B`, `large:A:B:C`, a well-known name or a Community alias.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<String>,
    /// Pools by name.
    #[serde(
        rename = "ipAddressPools",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ip_address_pools: Vec<String>,
    /// Pools by label; with ipAddressPools empty too, every pool is selected.
    #[serde(
        rename = "ipAddressPoolSelectors",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// Nodes announced as next hops (empty: all nodes). `nodeSelector` is read as an alias and
    /// reported with a warning.
    #[serde(
        rename = "nodeSelectors",
        alias = "nodeSelector",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub node_selectors: Vec<LabelSelector>,
    /// BGPPeer names to announce to (empty: all peers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    /// Services announced through this advertisement (empty: all of the selected pools').
    #[serde(
        rename = "serviceSelectors",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub service_selectors: Vec<LabelSelector>,
}

/// A status with no fields (MetalLB's advertisement kinds report none).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct EmptyStatus {}

/// L2Advertisement spec: which pools are announced with ARP/NDP, from where.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "L2Advertisement",
    plural = "l2advertisements",
    namespaced,
    status = "EmptyStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "L2Advertisement allows to advertise the LoadBalancer IPs provided by the selected pools via L2."
)]
pub struct L2AdvertisementSpec {
    /// Pools by name.
    #[serde(
        rename = "ipAddressPools",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ip_address_pools: Vec<String>,
    /// Pools by label; with ipAddressPools empty too, every pool is selected.
    #[serde(
        rename = "ipAddressPoolSelectors",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ip_address_pool_selectors: Vec<LabelSelector>,
    /// Nodes that may announce (empty: all).
    #[serde(
        rename = "nodeSelectors",
        alias = "nodeSelector",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub node_selectors: Vec<LabelSelector>,
    /// Interfaces to announce from (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<String>,
    /// Services announced through this advertisement (empty: all of the selected pools').
    #[serde(
        rename = "serviceSelectors",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub service_selectors: Vec<LabelSelector>,
    /// Soft preferences for the announcing node.
    #[serde(
        rename = "preferredNodeSelectors",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub preferred_node_selectors: Vec<PreferredNodeSelector>,
}

/// A weighted node preference of an L2Advertisement.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct PreferredNodeSelector {
    /// 1..100; weights of matching preferences add up.
    #[schemars(range(min = 1, max = 100))]
    pub weight: i64,
    /// Nodes receiving the weight.
    pub preference: LabelSelector,
}

/// BFDProfile spec: BFD timers for the peers that name the profile.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "BFDProfile",
    plural = "bfdprofiles",
    namespaced,
    status = "EmptyStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "BFDProfile represents the settings of the bfd session that can be optionally associated with a BGP session."
)]
pub struct BFDProfileSpec {
    /// Minimum receive interval in ms (10..60000, default 300).
    #[serde(
        rename = "receiveInterval",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 10, max = 60000))]
    pub receive_interval: Option<i64>,
    /// Minimum transmit interval in ms (10..60000, default 300).
    #[serde(
        rename = "transmitInterval",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 10, max = 60000))]
    pub transmit_interval: Option<i64>,
    /// Detection multiplier (2..255, default 3).
    #[serde(
        rename = "detectMultiplier",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 2, max = 255))]
    pub detect_multiplier: Option<i64>,
    /// Minimum echo receive interval in ms (10..60000, default 50).
    #[serde(
        rename = "echoInterval",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 10, max = 60000))]
    pub echo_interval: Option<i64>,
    /// Echo mode (default false; IPv4 single-hop only).
    #[serde(rename = "echoMode", default, skip_serializing_if = "Option::is_none")]
    pub echo_mode: Option<bool>,
    /// Wait for the peer's control packets before sending (default false).
    #[serde(
        rename = "passiveMode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub passive_mode: Option<bool>,
    /// Multi-hop only: minimum TTL of received packets (1..254, default 254).
    #[serde(
        rename = "minimumTtl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 1, max = 254))]
    pub minimum_ttl: Option<i64>,
}

/// Community spec: named community values usable in BGPAdvertisement `communities`.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "Community",
    plural = "communities",
    namespaced,
    status = "EmptyStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "Community is a collection of aliases for communities."
)]
pub struct CommunitySpec {
    /// The aliases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub communities: Vec<CommunityAlias>,
}

/// One community alias.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct CommunityAlias {
    /// The alias, unique across all Community objects.
    #[serde(default)]
    pub name: String,
    /// `A:B` or `large:A:B:C`.
    #[serde(default)]
    pub value: String,
}

/// Legacy `v1beta1` BGPPeer spec (peerASN and peerAddress required; no VRF, interface, ...).
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "BGPPeer",
    plural = "bgppeers",
    namespaced,
    status = "EmptyStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "BGPPeer (v1beta1, served for compatibility; stored as v1beta2)."
)]
pub struct BGPPeerSpec {
    /// Local AS.
    #[serde(rename = "myASN")]
    #[schemars(range(min = 0, max = 4294967295u32))]
    pub my_asn: i64,
    /// Remote AS.
    #[serde(rename = "peerASN")]
    #[schemars(range(min = 0, max = 4294967295u32))]
    pub peer_asn: i64,
    /// Address to dial.
    #[serde(rename = "peerAddress")]
    pub peer_address: String,
    /// Source address.
    #[serde(
        rename = "sourceAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_address: Option<String>,
    /// Port (default 179).
    #[serde(rename = "peerPort", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 16384))]
    pub peer_port: Option<i64>,
    /// Hold time (Go duration).
    #[serde(rename = "holdTime", default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<String>,
    /// Keepalive time (Go duration).
    #[serde(
        rename = "keepaliveTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub keepalive_time: Option<String>,
    /// Router ID.
    #[serde(rename = "routerID", default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// Legacy node selectors (values required per expression).
    #[serde(
        rename = "nodeSelectors",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub node_selectors: Vec<LegacyNodeSelector>,
    /// TCP MD5 password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// BFD profile name.
    #[serde(
        rename = "bfdProfile",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub bfd_profile: Option<String>,
    /// eBGP multi-hop.
    #[serde(
        rename = "ebgpMultiHop",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ebgp_multi_hop: Option<bool>,
}

/// The v1beta1 BGPPeer node selector.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct LegacyNodeSelector {
    /// Labels that must match.
    #[serde(
        rename = "matchLabels",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub match_labels: BTreeMap<String, String>,
    /// Expressions that must match.
    #[serde(
        rename = "matchExpressions",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_expressions: Vec<LegacyMatchExpression>,
}

/// A v1beta1 match expression.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct LegacyMatchExpression {
    /// Label key.
    pub key: String,
    /// In, NotIn, Exists or DoesNotExist.
    pub operator: String,
    /// Values.
    #[serde(default)]
    pub values: Vec<String>,
}

impl BGPPeer {
    /// Converts to the v1beta2 storage version. Unlike MetalLB's conversion webhook, an absent
    /// holdTime/keepaliveTime stays absent (MetalLB turns it into an explicit 0s).
    pub fn into_v1beta2(self) -> super::v1beta2::BGPPeer {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
        let s = self.spec;
        let node_selectors = s
            .node_selectors
            .into_iter()
            .map(|ns| LabelSelector {
                match_labels: (!ns.match_labels.is_empty()).then_some(ns.match_labels),
                match_expressions: (!ns.match_expressions.is_empty()).then(|| {
                    ns.match_expressions
                        .into_iter()
                        .map(|e| LabelSelectorRequirement {
                            key: e.key,
                            operator: e.operator,
                            values: (!e.values.is_empty()).then_some(e.values),
                        })
                        .collect()
                }),
            })
            .collect();
        super::v1beta2::BGPPeer {
            metadata: self.metadata,
            spec: super::v1beta2::BGPPeerSpec {
                my_asn: s.my_asn,
                peer_asn: Some(s.peer_asn),
                peer_address: Some(s.peer_address),
                source_address: s.source_address,
                peer_port: s.peer_port.filter(|p| *p != 0),
                hold_time: s.hold_time,
                keepalive_time: s.keepalive_time,
                router_id: s.router_id,
                node_selectors,
                password: s.password,
                bfd_profile: s.bfd_profile,
                ebgp_multi_hop: s.ebgp_multi_hop,
                ..Default::default()
            },
            status: None,
        }
    }
}

/// ServiceBGPStatus spec (empty; everything is in status).
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "ServiceBGPStatus",
    plural = "servicebgpstatuses",
    namespaced,
    status = "ServiceBGPStatusStatus",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Node", type_ = "string", json_path = ".status.node"),
    printcolumn(
        name = "Service Name",
        type_ = "string",
        json_path = ".status.serviceName"
    ),
    printcolumn(
        name = "Service Namespace",
        type_ = "string",
        json_path = ".status.serviceNamespace"
    ),
    doc = "ServiceBGPStatus exposes the BGP peers a service is configured to be advertised to, per relevant node."
)]
pub struct ServiceBGPStatusSpec {}

/// Which node announces a service to which peers.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct ServiceBGPStatusStatus {
    /// The announcing node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The service's name.
    #[serde(
        rename = "serviceName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub service_name: Option<String>,
    /// The service's namespace.
    #[serde(
        rename = "serviceNamespace",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub service_namespace: Option<String>,
    /// BGPPeer names the service is configured to be advertised to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
}

/// ServiceL2Status spec (empty; everything is in status).
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "ServiceL2Status",
    plural = "servicel2statuses",
    namespaced,
    status = "ServiceL2StatusStatus",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Allocated Node", type_ = "string", json_path = ".status.node"),
    printcolumn(
        name = "Service Name",
        type_ = "string",
        json_path = ".status.serviceName"
    ),
    printcolumn(
        name = "Service Namespace",
        type_ = "string",
        json_path = ".status.serviceNamespace"
    ),
    doc = "ServiceL2Status reveals the actual traffic status of loadbalancer services in layer2 mode."
)]
pub struct ServiceL2StatusSpec {}

/// Which node receives a layer-2 service's traffic, on which interfaces.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct ServiceL2StatusStatus {
    /// The node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The service's name.
    #[serde(
        rename = "serviceName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub service_name: Option<String>,
    /// The service's namespace.
    #[serde(
        rename = "serviceNamespace",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub service_namespace: Option<String>,
    /// Interfaces receiving the traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceInfo>,
}

/// An interface of a ServiceL2Status.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct InterfaceInfo {
    /// Interface name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// ConfigurationState has no spec: it is a status-only object.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "ConfigurationState",
    plural = "configurationstates",
    namespaced,
    no_spec,
    status = "ConfigurationStateStatus",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Result", type_ = "string", json_path = ".status.result"),
    printcolumn(
        name = "ErrorSummary",
        type_ = "string",
        json_path = ".status.errorSummary"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    doc = "ConfigurationState is a status-only object reporting configuration validation results of a component."
)]
pub struct ConfigurationStateFields {}

/// The validation result a component reports.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct ConfigurationStateStatus {
    /// `Valid`, `Invalid` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Valid", "Invalid", "Unknown"]))]
    pub result: Option<String>,
    /// Aggregated error messages; empty when valid.
    #[serde(
        rename = "errorSummary",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error_summary: Option<String>,
    /// Conditions of the component's reconcilers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
