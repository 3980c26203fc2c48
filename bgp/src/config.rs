//! Configuration of BGP sessions as the speaker receives it: typed values with units, so that an
//! invalid session (hold time 1 s, keepalive above hold time, an empty family list) cannot be
//! built. The agent maps MetalLB's BGPPeer objects to [`PeerConfig`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use crate::speaker::SpeakerError;

/// An autonomous system number (4-octet, RFC 6793).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Asn(pub u32);

impl fmt::Display for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The peer's ASN: fixed, or any internal/external ASN (MetalLB's `dynamicASN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerAsn {
    /// The peer must announce exactly this ASN.
    Fixed(Asn),
    /// The peer must announce our own ASN (iBGP).
    DynamicInternal,
    /// The peer must announce an ASN different from ours (eBGP).
    DynamicExternal,
}

impl PeerAsn {
    /// Whether `announced` is acceptable from a peer when our ASN is `local`.
    pub fn accepts(self, local: Asn, announced: Asn) -> bool {
        match self {
            PeerAsn::Fixed(a) => a == announced,
            PeerAsn::DynamicInternal => announced == local,
            PeerAsn::DynamicExternal => announced != local,
        }
    }

    /// Whether the session is eBGP (known before the OPEN arrives).
    pub fn is_ebgp(self, local: Asn) -> bool {
        match self {
            PeerAsn::Fixed(a) => a != local,
            PeerAsn::DynamicInternal => false,
            PeerAsn::DynamicExternal => true,
        }
    }
}

/// A BGP hold time: 0 (no keepalives, no hold timer) or at least 3 seconds (RFC 4271 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HoldTime(u16);

impl HoldTime {
    /// No hold timer and no keepalives.
    pub const ZERO: HoldTime = HoldTime(0);
    /// The RFC's suggested default, 90 s.
    pub const DEFAULT: HoldTime = HoldTime(90);

    /// A hold time of `secs` seconds; 1 and 2 are refused (RFC 4271 §4.2).
    pub fn from_secs(secs: u16) -> Option<HoldTime> {
        if secs == 1 || secs == 2 {
            None
        } else {
            Some(HoldTime(secs))
        }
    }

    /// Seconds.
    pub fn secs(self) -> u16 {
        self.0
    }

    /// As a duration; `None` for 0 (no hold timer).
    pub fn duration(self) -> Option<Duration> {
        (self.0 != 0).then(|| Duration::from_secs(u64::from(self.0)))
    }
}

impl fmt::Display for HoldTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

pub use crate::packet::Family;

/// The family of a prefix (IPv4 or IPv6 unicast).
pub fn family_of(net: &ipnet::IpNet) -> Family {
    match net {
        ipnet::IpNet::V4(_) => Family::IPV4_UNICAST,
        ipnet::IpNet::V6(_) => Family::IPV6_UNICAST,
    }
}

/// Graceful restart (RFC 4724) settings of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GracefulRestart {
    /// Restart time we announce: how long the peer keeps our routes after the session drops.
    pub restart_time: Duration,
    /// How long we keep the peer's routes as stale after its session drops if the peer's
    /// capability gives no restart time (capped by it otherwise).
    pub stale_routes_time: Duration,
}

impl Default for GracefulRestart {
    fn default() -> Self {
        GracefulRestart {
            restart_time: Duration::from_secs(120),
            stale_routes_time: Duration::from_secs(360),
        }
    }
}

/// Session timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timers {
    /// Hold time we propose (the session uses the minimum of both sides').
    pub hold_time: HoldTime,
    /// Keepalive interval; `None` = negotiated hold time / 3.
    pub keepalive: Option<Duration>,
    /// Upper bound of the jittered exponential reconnect backoff (MetalLB's connectTime).
    pub connect_time: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            hold_time: HoldTime::DEFAULT,
            keepalive: None,
            connect_time: Duration::from_secs(120),
        }
    }
}

/// Who the peer of a session is, within its VRF.
///
/// An unnumbered peer (BGP over an interface's IPv6 link-local addresses) is identified by its
/// interface, not by the neighbour's address: that address is learned at run time, may change,
/// and two interfaces may see the same `fe80::` address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerId {
    /// A numbered peer: its address.
    Address(IpAddr),
    /// An unnumbered peer: the interface it is reached over (shared: the key is cloned into
    /// every event of the session, so cloning must not allocate).
    Interface(Arc<str>),
}

impl PeerId {
    /// Whether the session runs over IPv6 (an unnumbered peer always does: link-local).
    pub fn is_ipv6(&self) -> bool {
        match self {
            PeerId::Address(a) => a.is_ipv6(),
            PeerId::Interface(_) => true,
        }
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerId::Address(a) => write!(f, "{a}"),
            PeerId::Interface(i) => f.write_str(i),
        }
    }
}

/// Where a session lives: the VRF device (None = the default VRF) and the peer (its address,
/// or its interface for an unnumbered peer, see [`PeerId`]).
///
/// `Display` prints `192.0.2.1`, `eth1`, or with a VRF `192.0.2.1%red`, `eth1%red`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey {
    /// VRF device name, `None` for the default VRF.
    pub vrf: Option<String>,
    /// The peer within the VRF.
    pub id: PeerId,
}

/// Longest interface name Linux accepts (`IFNAMSIZ` - 1).
pub const MAX_INTERFACE_NAME_LEN: usize = 15;

impl PeerKey {
    /// The key of the numbered peer at `address` in `vrf`.
    pub fn address(vrf: Option<String>, address: IpAddr) -> PeerKey {
        PeerKey {
            vrf,
            id: PeerId::Address(address),
        }
    }

    /// The key of the unnumbered peer on interface `name` in `vrf`.
    pub fn interface(vrf: Option<String>, name: &str) -> PeerKey {
        PeerKey {
            vrf,
            id: PeerId::Interface(Arc::from(name)),
        }
    }

    /// What to show users for the peer, without the VRF: the interface of an unnumbered peer,
    /// else the address (use this in tables and labels).
    pub fn label(&self) -> String {
        self.id.to_string()
    }

    /// The address of a numbered peer; `None` for an unnumbered one.
    pub fn peer_address(&self) -> Option<IpAddr> {
        match &self.id {
            PeerId::Address(a) => Some(*a),
            PeerId::Interface(_) => None,
        }
    }

    /// The interface of an unnumbered peer; `None` for a peer with an address.
    pub fn interface_name(&self) -> Option<&str> {
        match &self.id {
            PeerId::Address(_) => None,
            PeerId::Interface(i) => Some(&**i),
        }
    }
}

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.vrf {
            Some(v) => write!(f, "{}%{v}", self.id),
            None => write!(f, "{}", self.id),
        }
    }
}

/// Whether `ip` is an IPv6 link-local unicast address (`fe80::/10`).
pub fn is_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

/// Everything that defines one BGP session. Changing any field except advertisements resets the
/// session (Cease / Other Configuration Change).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerConfig {
    /// Our ASN for this session.
    pub local_asn: Asn,
    /// The peer's ASN (fixed or dynamic internal/external).
    pub peer_asn: PeerAsn,
    /// The peer's address.
    pub address: IpAddr,
    /// The peer's TCP port (179 by default).
    pub port: u16,
    /// VRF device of the session (`None` = default VRF).
    pub vrf: Option<String>,
    /// Source address to bind the connecting socket to.
    pub source_address: Option<IpAddr>,
    /// TCP MD5 password (at most 80 bytes).
    pub password: Option<String>,
    /// Timers.
    pub timers: Timers,
    /// eBGP multihop: the peer is this many hops away (TTL); `None` = directly connected.
    pub ebgp_multihop: Option<u8>,
    /// Never connect; wait for the peer to connect.
    pub passive: bool,
    /// Families to negotiate (both = dual-stack over one session).
    pub families: Vec<Family>,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Graceful restart; `None` = capability not announced.
    pub graceful_restart: Option<GracefulRestart>,
    /// GTSM (RFC 5082): send TTL 255 and require at least 254 from the peer.
    pub gtsm: bool,
    /// Unnumbered peering (MetalLB's `spec.interface`, FRR's `neighbor IF interface`): the
    /// session runs between the IPv6 link-local addresses of this interface and of the router
    /// on it. `address` is then the router's link-local address, or `::` while it is not known
    /// yet (the speaker learns it from the router's Router Advertisements or its connection,
    /// and waits for it instead of connecting). The socket is bound to the interface. A
    /// `password` is keyed by the neighbour's link-local address once it is learned.
    pub interface: Option<String>,
    /// Announce the extended next hop capability (RFC 8950) for IPv4 unicast with an IPv6 next
    /// hop; when the peer announces it too, IPv4 routes are sent in MP_REACH_NLRI with our IPv6
    /// next hop. On by default for unnumbered peers (which have no IPv4 address to use).
    pub extended_next_hop: bool,
}

impl PeerConfig {
    /// A configuration with defaults: port 179, default VRF, timers 90 s / hold/3 / 120 s, the
    /// family of the peer's address, no GR, no password.
    pub fn new(local_asn: Asn, peer_asn: PeerAsn, address: IpAddr, router_id: Ipv4Addr) -> Self {
        let family = match address {
            IpAddr::V4(_) => Family::IPV4_UNICAST,
            IpAddr::V6(_) => Family::IPV6_UNICAST,
        };
        PeerConfig {
            local_asn,
            peer_asn,
            address,
            port: 179,
            vrf: None,
            source_address: None,
            password: None,
            timers: Timers::default(),
            ebgp_multihop: None,
            passive: false,
            families: vec![family],
            router_id,
            graceful_restart: None,
            gtsm: false,
            interface: None,
            extended_next_hop: false,
        }
    }

    /// An unnumbered session over `interface` (IPv6 link-local, neighbour address learned at
    /// run time) with IPv4 and IPv6 unicast and the extended next hop capability: what FRR's
    /// `neighbor IF interface remote-as ...` runs. Other fields have [`PeerConfig::new`]'s
    /// defaults.
    pub fn unnumbered(
        local_asn: Asn,
        peer_asn: PeerAsn,
        interface: &str,
        router_id: Ipv4Addr,
    ) -> Self {
        let mut c = PeerConfig::new(
            local_asn,
            peer_asn,
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            router_id,
        );
        c.interface = Some(interface.to_string());
        c.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
        c.extended_next_hop = true;
        c
    }

    /// The session's key: (VRF, address), or (VRF, interface) for an unnumbered peer.
    pub fn key(&self) -> PeerKey {
        match &self.interface {
            Some(i) => PeerKey::interface(self.vrf.clone(), i),
            None => PeerKey::address(self.vrf.clone(), self.address),
        }
    }

    /// The neighbour's link-local address of an unnumbered peer, once known.
    pub fn neighbor(&self) -> Option<Ipv6Addr> {
        match self.address {
            IpAddr::V6(v6) if self.interface.is_some() && !v6.is_unspecified() => Some(v6),
            _ => None,
        }
    }

    /// Whether the session must wait for the peer to connect: configured passive, or an
    /// unnumbered peer whose address is not known yet.
    pub fn waits_for_peer(&self) -> bool {
        self.passive || (self.interface.is_some() && self.address.is_unspecified())
    }

    /// Whether the session is eBGP.
    pub fn is_ebgp(&self) -> bool {
        self.peer_asn.is_ebgp(self.local_asn)
    }

    /// Checks the combination of fields; the error names the peer, the field and the reason.
    pub fn validate(&self) -> Result<(), SpeakerError> {
        let bad = |field: &str, reason: String| SpeakerError::InvalidConfig {
            peer: self.key().to_string(),
            field: field.to_string(),
            reason,
        };
        if self.router_id.is_unspecified() {
            return Err(bad("router_id", "must not be 0.0.0.0".into()));
        }
        if self.local_asn.0 == 0 {
            return Err(bad("local_asn", "must not be 0".into()));
        }
        if let PeerAsn::Fixed(Asn(0)) = self.peer_asn {
            return Err(bad("peer_asn", "must not be 0".into()));
        }
        if self.families.is_empty() {
            return Err(bad(
                "families",
                "at least one address family is required".into(),
            ));
        }
        if let Some(f) = self.families.iter().find(|f| !f.is_supported()) {
            return Err(bad(
                "families",
                format!("{f} is not supported (only ipv4-unicast and ipv6-unicast)"),
            ));
        }
        if self.port == 0 {
            return Err(bad("port", "must not be 0".into()));
        }
        if let Some(pw) = &self.password {
            if pw.len() > crate::socket::MD5_MAX_KEY_LEN {
                return Err(bad(
                    "password",
                    format!(
                        "is {} bytes; TCP MD5 keys are at most {}",
                        pw.len(),
                        crate::socket::MD5_MAX_KEY_LEN
                    ),
                ));
            }
        }
        if let (Some(ka), Some(hold)) = (self.timers.keepalive, self.timers.hold_time.duration()) {
            if ka > hold {
                return Err(bad(
                    "timers.keepalive",
                    format!(
                        "({}s) must not exceed the hold time ({})",
                        ka.as_secs(),
                        self.timers.hold_time
                    ),
                ));
            }
        }
        if self.timers.connect_time.is_zero() {
            return Err(bad("timers.connect_time", "must be at least 1s".into()));
        }
        match &self.interface {
            Some(name) => {
                let valid_name = !name.is_empty()
                    && name.len() <= MAX_INTERFACE_NAME_LEN
                    && name != "."
                    && name != ".."
                    && !name
                        .bytes()
                        .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace());
                if !valid_name {
                    return Err(bad(
                        "interface",
                        format!(
                            "{name:?} is not a valid interface name (1 to {MAX_INTERFACE_NAME_LEN} octets, no '/', ':' or whitespace)"
                        ),
                    ));
                }
                if !self.address.is_unspecified() && !is_link_local(self.address) {
                    return Err(bad(
                        "address",
                        format!(
                            "{} is not an IPv6 link-local address (fe80::/10); an unnumbered peer on {name} is reached at its link-local address",
                            self.address
                        ),
                    ));
                }
                if self.source_address.is_some() {
                    return Err(bad(
                        "source_address",
                        "cannot be set for an unnumbered peer: the session uses the interface's link-local address".into(),
                    ));
                }
                if self.ebgp_multihop.is_some() {
                    return Err(bad(
                        "ebgp_multihop",
                        "cannot be set for an unnumbered peer: it is directly connected on its interface".into(),
                    ));
                }
            }
            None => {
                if self.address.is_unspecified() {
                    return Err(bad("address", "must not be unspecified".into()));
                }
                if is_link_local(self.address) {
                    return Err(bad(
                        "address",
                        format!(
                            "{} is link-local: give the interface (unnumbered peer) so the session knows where it is",
                            self.address
                        ),
                    ));
                }
            }
        }
        if let Some(src) = self.source_address {
            if src.is_ipv4() != self.address.is_ipv4() {
                return Err(bad(
                    "source_address",
                    format!(
                        "{src} is not of the same address family as the peer address {}",
                        self.address
                    ),
                ));
            }
        }
        Ok(())
    }
}
