//! MetalLB's API (`metallb.io`): `v1beta1` (IPAddressPool, BGPAdvertisement, L2Advertisement,
//! BFDProfile, Community, the legacy BGPPeer and the status kinds) and `v1beta2` (BGPPeer).
//! Field names, optionality and defaults follow MetalLB's Go types; values stay as written
//! (strings, plain integers) so that validation can name a bad field instead of failing to parse.

pub mod v1beta1;
pub mod v1beta2;

/// The API group.
pub const GROUP: &str = "metallb.io";

/// The namespace MetalLB (and metalroute) reads its objects from unless configured otherwise.
pub const DEFAULT_NAMESPACE: &str = "metallb-system";
