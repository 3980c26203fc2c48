//! The validated configuration the planner consumes: one typed value per valid object, with
//! MetalLB's defaults applied and references resolved (pool names of an advertisement, community
//! aliases, Secret passwords). Built by [`crate::validate`]; an invalid object has no entry here.

use crate::nmstate::DesiredState;
use crate::selector::{AnySelector, Labels, Selector};
use crate::values::{
    Asn, BgpTimers, Community, ConnectTime, Family, Md5Password, PeerAsn, PeerTarget, PoolRange,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// A validated BGPPeer.
#[derive(Debug, Clone, PartialEq)]
pub struct Peer {
    /// `metadata.name` (advertisements refer to peers by name).
    pub name: String,
    /// Local AS.
    pub my_asn: Asn,
    /// Remote AS or dynamic mode.
    pub peer_asn: PeerAsn,
    /// `localASN` override announced to this peer.
    pub local_asn: Option<Asn>,
    /// Address or interface.
    pub target: PeerTarget,
    /// Source address.
    pub source_address: Option<IpAddr>,
    /// TCP port (default 179).
    pub port: u16,
    /// Timers, when holdTime and/or keepaliveTime is set (else the speaker's defaults).
    pub timers: Option<BgpTimers>,
    /// Connect retry time, when set.
    pub connect_time: Option<ConnectTime>,
    /// Router ID, when set (else the agent picks one per node).
    pub router_id: Option<Ipv4Addr>,
    /// Nodes this peer applies to.
    pub node_selector: AnySelector,
    /// TCP MD5 password.
    pub password: Option<Md5Password>,
    /// BFD profile name (resolved in [`Config::bfd_profiles`]).
    pub bfd_profile: Option<String>,
    /// Graceful restart capability.
    pub graceful_restart: bool,
    /// eBGP multi-hop (TTL 255).
    pub ebgp_multi_hop: bool,
    /// Host VRF; `None` is the default VRF.
    pub vrf: Option<String>,
    /// Deprecated: separate sessions per family.
    pub disable_mp: bool,
    /// Both families over this session.
    pub dual_stack_address_family: bool,
}

impl Peer {
    /// True when the session is iBGP for sure (fixed peer AS equal to myASN, or dynamic internal).
    pub fn is_ibgp(&self) -> bool {
        match self.peer_asn {
            PeerAsn::Fixed(a) => a == self.my_asn,
            PeerAsn::Internal => true,
            PeerAsn::External => false,
        }
    }
}

/// A validated IPAddressPool.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// `metadata.name`.
    pub name: String,
    /// The pool's labels (for ipAddressPoolSelectors).
    pub labels: Labels,
    /// Address entries, non-overlapping within and across pools.
    pub ranges: Vec<PoolRange>,
    /// Automatic assignment (default true).
    pub auto_assign: bool,
    /// Skip .0 and .255 addresses (default false).
    pub avoid_buggy_ips: bool,
    /// Restrictions on which services may use the pool.
    pub service_allocation: Option<ServiceAllocation>,
}

impl Pool {
    /// True when an entry has this family.
    pub fn has_family(&self, f: Family) -> bool {
        self.ranges.iter().any(|r| r.family() == f)
    }

    /// True when `ip` belongs to the pool.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.ranges.iter().any(|r| r.contains(ip))
    }
}

/// A pool's `serviceAllocation`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceAllocation {
    /// Priority (lower first); `None` is used last.
    pub priority: Option<i64>,
    /// Namespaces listed by name.
    pub namespaces: BTreeSet<String>,
    /// Namespaces selected by label.
    pub namespace_selectors: Vec<Selector>,
    /// Services selected by label.
    pub service_selectors: Vec<Selector>,
}

/// A validated BGPAdvertisement.
#[derive(Debug, Clone, PartialEq)]
pub struct BgpAdvertisement {
    /// `metadata.name`.
    pub name: String,
    /// IPv4 aggregation prefix length (1..=32).
    pub aggregation_length: u8,
    /// IPv6 aggregation prefix length (0..=128).
    pub aggregation_length_v6: u8,
    /// LOCAL_PREF; `None` when unset (0).
    pub local_pref: Option<u32>,
    /// Communities, aliases resolved, without duplicates.
    pub communities: BTreeSet<Community>,
    /// Names of the valid pools this advertisement selects.
    pub pools: BTreeSet<String>,
    /// Peer names (empty: all peers).
    pub peers: BTreeSet<String>,
    /// Nodes announced as next hops.
    pub node_selector: AnySelector,
    /// Services advertised (empty: all of the pools').
    pub service_selectors: Vec<Selector>,
}

/// A validated L2Advertisement.
#[derive(Debug, Clone, PartialEq)]
pub struct L2Advertisement {
    /// `metadata.name`.
    pub name: String,
    /// Names of the valid pools this advertisement selects.
    pub pools: BTreeSet<String>,
    /// Nodes that may announce.
    pub node_selector: AnySelector,
    /// Interfaces (empty: all).
    pub interfaces: Vec<String>,
    /// Services advertised (empty: all of the pools').
    pub service_selectors: Vec<Selector>,
    /// Weighted node preferences.
    pub preferred_nodes: Vec<(u8, Selector)>,
}

/// A validated BFDProfile with MetalLB's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdProfile {
    /// `metadata.name`.
    pub name: String,
    /// Required minimum receive interval (default 300 ms).
    pub receive_interval: Duration,
    /// Desired minimum transmit interval (default 300 ms).
    pub transmit_interval: Duration,
    /// Detection multiplier (default 3).
    pub detect_multiplier: u8,
    /// Echo receive interval (default 50 ms).
    pub echo_interval: Duration,
    /// Echo mode (default off).
    pub echo_mode: bool,
    /// Passive mode (default off).
    pub passive_mode: bool,
    /// Minimum TTL for multi-hop sessions (default 254).
    pub minimum_ttl: u8,
}

/// `sourceIPBy` of an EgressService.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceIpBy {
    /// SNAT to the service's LoadBalancer ingress IP.
    LoadBalancerIp,
    /// Use the network's own source address.
    Network,
}

/// A validated EgressService.
#[derive(Debug, Clone, PartialEq)]
pub struct EgressService {
    /// Namespace (same as its Service).
    pub namespace: String,
    /// Name (same as its Service).
    pub name: String,
    /// Source address choice (default LoadBalancerIP).
    pub source_ip_by: SourceIpBy,
    /// Nodes eligible to handle the egress.
    pub node_selector: Selector,
    /// Routing table / network; `None` is the main table.
    pub network: Option<String>,
}

/// A validated NodeNetworkConfigurationPolicy.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkPolicy {
    /// `metadata.name`.
    pub name: String,
    /// Nodes the policy applies to.
    pub node_selector: Selector,
    /// Parallelism bound, as written (absent: nmstate's default of 50%).
    pub max_unavailable: Option<IntOrString>,
    /// The typed desired state.
    pub desired_state: DesiredState,
}

/// Every valid object, typed, keyed by name (MetalLB kinds live in one namespace).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Pools by name.
    pub pools: BTreeMap<String, Pool>,
    /// Peers by name.
    pub peers: BTreeMap<String, Peer>,
    /// BGP advertisements by name.
    pub bgp_advertisements: BTreeMap<String, BgpAdvertisement>,
    /// L2 advertisements by name.
    pub l2_advertisements: BTreeMap<String, L2Advertisement>,
    /// BFD profiles by name.
    pub bfd_profiles: BTreeMap<String, BfdProfile>,
    /// Community aliases (alias → value).
    pub communities: BTreeMap<String, Community>,
    /// EgressServices by (namespace, name).
    pub egress_services: BTreeMap<(String, String), EgressService>,
    /// nmstate policies by name.
    pub network_policies: BTreeMap<String, NetworkPolicy>,
}
