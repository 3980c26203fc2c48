//! `metallb.io/v1beta2` BGPPeer: one BGP session definition (the storage version).

use k8s_openapi::api::core::v1::SecretReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// BGPPeer spec, field for field as MetalLB defines it.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta2",
    kind = "BGPPeer",
    plural = "bgppeers",
    namespaced,
    status = "BGPPeerStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "BGPPeer is the Schema for the peers API: one BGP session per matching node."
)]
pub struct BGPPeerSpec {
    /// AS number to use for the local end of the session (required, non-zero).
    #[serde(rename = "myASN")]
    #[schemars(range(min = 0, max = 4294967295u32))]
    pub my_asn: i64,
    /// AS number to expect from the remote end. Exactly one of peerASN and dynamicASN.
    #[serde(rename = "peerASN", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 4294967295u32))]
    pub peer_asn: Option<i64>,
    /// Local AS advertised to this peer instead of myASN ("local-as ... no-prepend replace-as").
    #[serde(rename = "localASN", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4294967295u32))]
    pub local_asn: Option<i64>,
    /// Detect the remote AS: `internal` (must equal myASN) or `external` (must differ).
    #[serde(
        rename = "dynamicASN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("enum" = ["internal", "external"]))]
    pub dynamic_asn: Option<String>,
    /// Address to dial. Exactly one of peerAddress and interface.
    #[serde(
        rename = "peerAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub peer_address: Option<String>,
    /// Node interface for unnumbered BGP peering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Source address to use when establishing the session.
    #[serde(
        rename = "sourceAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_address: Option<String>,
    /// Port to dial (default 179).
    #[serde(rename = "peerPort", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16384), extend("default" = 179))]
    pub peer_port: Option<i64>,
    /// Requested BGP hold time (Go duration); 0 or at least 3s.
    #[serde(rename = "holdTime", default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<String>,
    /// Requested BGP keepalive time (Go duration); must not exceed holdTime.
    #[serde(
        rename = "keepaliveTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub keepalive_time: Option<String>,
    /// Time between connection attempts (Go duration, whole seconds 1..65535).
    #[serde(
        rename = "connectTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_time: Option<String>,
    /// BGP router ID to advertise (IPv4 address).
    #[serde(rename = "routerID", default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// Only connect to this peer on nodes matching one of these selectors (empty: all nodes).
    #[serde(
        rename = "nodeSelectors",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub node_selectors: Vec<LabelSelector>,
    /// TCP MD5 password (mutually exclusive with passwordSecret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A `kubernetes.io/basic-auth` Secret in MetalLB's namespace holding key `password`.
    #[serde(
        rename = "passwordSecret",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub password_secret: Option<SecretReference>,
    /// BFD profile for the session's BFD session (none: no BFD).
    #[serde(
        rename = "bfdProfile",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub bfd_profile: Option<String>,
    /// Advertise the graceful-restart capability.
    #[serde(
        rename = "enableGracefulRestart",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_graceful_restart: Option<bool>,
    /// The eBGP peer is several hops away (TTL 255 instead of 1).
    #[serde(
        rename = "ebgpMultiHop",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ebgp_multi_hop: Option<bool>,
    /// Host VRF the session runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    /// Deprecated in favour of dualStackAddressFamily: separate sessions per family.
    #[serde(rename = "disableMP", default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = false))]
    pub disable_mp: Option<bool>,
    /// Exchange both address families over this session.
    #[serde(
        rename = "dualStackAddressFamily",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("default" = false))]
    pub dual_stack_address_family: Option<bool>,
}

/// BGPPeer status (MetalLB defines none).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
pub struct BGPPeerStatus {}
