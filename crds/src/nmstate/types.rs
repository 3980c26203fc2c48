//! The typed values of nmstate's `desiredState` subset: interfaces, routes, route rules and the
//! sysctls metalroute manages. Every type here is already valid: [`super::parse_desired_state`]
//! is the only way raw YAML/JSON becomes one of these, so appliers never re-check shapes.

use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;

/// The typed desired network state (nmstate's `desiredState`, restricted to the subset metalroute
/// applies). `routes`/`route-rules` hold nmstate's `config` lists, split by `state`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredState {
    /// `interfaces`, in document order.
    pub interfaces: Vec<Interface>,
    /// `routes.config` entries without `state: absent`.
    pub routes: Vec<Route>,
    /// `routes.config` entries with `state: absent` (wildcard selectors).
    pub absent_routes: Vec<RouteSelector>,
    /// `route-rules.config` entries without `state: absent`.
    pub route_rules: Vec<RouteRule>,
    /// `route-rules.config` entries with `state: absent` (wildcard selectors).
    pub absent_route_rules: Vec<RouteRuleSelector>,
    /// `l3mdev-accept` (metalroute extension): the namespace-wide `net.ipv4.*_l3mdev_accept`
    /// sysctls that let sockets in the default VRF accept traffic arriving through a VRF.
    pub l3mdev_accept: Option<L3mdevAccept>,
}

impl DesiredState {
    /// The interface called `name`, if the state mentions it.
    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.name.as_str() == name)
    }

    /// Whether the state contains at least one VRF that is not `absent`.
    pub fn has_vrf(&self) -> bool {
        self.interfaces.iter().any(|i| {
            matches!(i.kind, InterfaceKind::Vrf { .. }) && i.state != InterfaceState::Absent
        })
    }
}

/// A Linux interface name: 1..=15 bytes, not `.` or `..`, no `/`, `:` or whitespace (the
/// kernel's `dev_valid_name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceName(String);

impl InterfaceName {
    /// Longest name the kernel accepts (IFNAMSIZ - 1).
    pub const MAX_LEN: usize = 15;

    /// Checks `name` against the kernel's rules; the error says which rule failed.
    pub fn new(name: &str) -> Result<Self, String> {
        if name.is_empty() {
            return Err("interface name must not be empty".into());
        }
        if name.len() > Self::MAX_LEN {
            return Err(format!(
                "interface name {name:?} is {} bytes long; Linux allows at most {}",
                name.len(),
                Self::MAX_LEN
            ));
        }
        if name == "." || name == ".." {
            return Err(format!("interface name {name:?} is reserved"));
        }
        if let Some(c) = name
            .chars()
            .find(|c| *c == '/' || *c == ':' || c.is_whitespace())
        {
            return Err(format!(
                "interface name {name:?} contains {c:?}, which Linux does not allow"
            ));
        }
        Ok(Self(name.to_string()))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InterfaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A routing table id (`table-id`, `route-table`, `route-table-id`). nmstate's `0` means the main
/// table and is normalised to 254 while parsing, so a value of this type is never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteTableId(u32);

impl RouteTableId {
    /// The main table (254).
    pub const MAIN: RouteTableId = RouteTableId(254);
    /// The local table (255).
    pub const LOCAL: RouteTableId = RouteTableId(255);
    /// The `default` table (253).
    pub const DEFAULT: RouteTableId = RouteTableId(253);

    /// A table id; `0` means main (254), as in nmstate.
    pub fn new(id: u32) -> Self {
        if id == 0 {
            Self::MAIN
        } else {
            Self(id)
        }
    }

    /// The numeric id (never 0).
    pub fn get(self) -> u32 {
        self.0
    }

    /// Whether this is one of the kernel's reserved tables (253, 254, 255).
    pub fn is_reserved(self) -> bool {
        matches!(self.0, 253..=255)
    }
}

impl fmt::Display for RouteTableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// `state` of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InterfaceState {
    /// Exists (created if needed) and administratively up.
    #[default]
    Up,
    /// Exists (created if needed) and administratively down.
    Down,
    /// Removed (only links metalroute created are deleted; see the applier).
    Absent,
}

impl InterfaceState {
    /// nmstate's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            InterfaceState::Up => "up",
            InterfaceState::Down => "down",
            InterfaceState::Absent => "absent",
        }
    }
}

/// A VLAN id, 0..=4094.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanId(u16);

impl VlanId {
    /// A VLAN id if `id` <= 4094.
    pub fn new(id: u64) -> Option<Self> {
        u16::try_from(id).ok().filter(|v| *v <= 4094).map(Self)
    }

    /// The numeric id.
    pub fn get(self) -> u16 {
        self.0
    }
}

/// The `type` of an interface and its type-specific section.
#[derive(Debug, Clone, PartialEq)]
pub enum InterfaceKind {
    /// `type` omitted: an interface that must already exist, of any kind.
    Unknown,
    /// `ethernet`: an existing device (a physical NIC, or a veth standing in for one). Never
    /// created or deleted.
    Ethernet,
    /// `veth`, with `veth.peer` (needed only to create the pair).
    Veth {
        /// The peer's name.
        peer: Option<InterfaceName>,
    },
    /// `dummy`.
    Dummy,
    /// `linux-bridge`, with `bridge.port[].name` and `bridge.options.stp.enabled`.
    LinuxBridge {
        /// The complete port list, when given.
        ports: Option<Vec<InterfaceName>>,
        /// Spanning tree on/off, when given.
        stp: Option<bool>,
    },
    /// `vlan`, with `vlan.base-iface` and `vlan.id` (802.1q).
    Vlan {
        /// The parent interface.
        base_iface: InterfaceName,
        /// The VLAN id.
        id: VlanId,
    },
    /// `vrf`, with `vrf.port` and `vrf.route-table-id`.
    Vrf {
        /// The complete port list, when given.
        ports: Option<Vec<InterfaceName>>,
        /// The VRF's routing table.
        table: RouteTableId,
    },
}

impl InterfaceKind {
    /// nmstate's `type` string (`None` when the type was omitted).
    pub fn type_name(&self) -> Option<&'static str> {
        Some(match self {
            InterfaceKind::Unknown => return None,
            InterfaceKind::Ethernet => "ethernet",
            InterfaceKind::Veth { .. } => "veth",
            InterfaceKind::Dummy => "dummy",
            InterfaceKind::LinuxBridge { .. } => "linux-bridge",
            InterfaceKind::Vlan { .. } => "vlan",
            InterfaceKind::Vrf { .. } => "vrf",
        })
    }

    /// The ports of a controller (VRF or bridge), when its port list is given.
    pub fn ports(&self) -> Option<&[InterfaceName]> {
        match self {
            InterfaceKind::LinuxBridge { ports, .. } | InterfaceKind::Vrf { ports, .. } => {
                ports.as_deref()
            }
            _ => None,
        }
    }
}

/// One interface of `interfaces`.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    /// `name`.
    pub name: InterfaceName,
    /// `type` and its section.
    pub kind: InterfaceKind,
    /// `state` (default `up`).
    pub state: InterfaceState,
    /// `mtu`.
    pub mtu: Option<u32>,
    /// `ipv4`.
    pub ipv4: Option<IpConfig>,
    /// `ipv6`.
    pub ipv6: Option<IpConfig>,
}

/// An interface address (`ip` + `prefix-length`); the address keeps its host bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceAddress(pub IpNet);

/// `ipv4` / `ipv6` of an interface. Static configuration only: `dhcp` and `autoconf` may only be
/// `false`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IpConfig {
    /// `enabled`: `false` removes every (non link-local) address of the family.
    pub enabled: Option<bool>,
    /// `address`: the complete static address list (addresses not listed are removed).
    pub addresses: Option<Vec<InterfaceAddress>>,
    /// `forwarding` (`net.ipv{4,6}.conf.IFACE.forwarding`). nmstate spells the IPv4 one this
    /// way; the IPv6 one is a metalroute extension in the same style.
    pub forwarding: Option<bool>,
    /// `rp-filter` (`net.ipv4.conf.IFACE.rp_filter`, IPv4 only; metalroute extension).
    pub rp_filter: Option<RpFilter>,
}

/// Reverse-path filtering mode (`net.ipv4.conf.IFACE.rp_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpFilter {
    /// 0: no source validation.
    Disabled,
    /// 1: strict mode (RFC 3704 strict reverse path).
    Strict,
    /// 2: loose mode.
    Loose,
}

impl RpFilter {
    /// The sysctl value.
    pub fn value(self) -> u8 {
        match self {
            RpFilter::Disabled => 0,
            RpFilter::Strict => 1,
            RpFilter::Loose => 2,
        }
    }

    /// The YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RpFilter::Disabled => "disabled",
            RpFilter::Strict => "strict",
            RpFilter::Loose => "loose",
        }
    }

    /// From the sysctl value.
    pub fn from_value(v: u64) -> Option<Self> {
        match v {
            0 => Some(RpFilter::Disabled),
            1 => Some(RpFilter::Strict),
            2 => Some(RpFilter::Loose),
            _ => None,
        }
    }
}

/// `l3mdev-accept`: the namespace-wide sysctls that let unbound sockets accept connections that
/// arrive through a VRF port (metalroute extension; nmstate has no key for them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct L3mdevAccept {
    /// `net.ipv4.tcp_l3mdev_accept`.
    pub tcp: Option<bool>,
    /// `net.ipv4.udp_l3mdev_accept`.
    pub udp: Option<bool>,
    /// `net.ipv4.raw_l3mdev_accept`.
    pub raw: Option<bool>,
}

/// Kernel route types nmstate names in `route-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteType {
    /// Silently drop.
    Blackhole,
    /// Drop with ICMP unreachable.
    Unreachable,
    /// Drop with ICMP prohibited.
    Prohibit,
}

impl RouteType {
    /// nmstate's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
        }
    }
}

/// A `routes.config` entry to install.
///
/// Several entries with the same destination, table and metric (and no `route-type`) form one
/// multipath route, one next hop each (with an optional `weight`).
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// `destination` (host bits cleared).
    pub destination: IpNet,
    /// `next-hop-interface`.
    pub next_hop_interface: Option<InterfaceName>,
    /// `next-hop-address`.
    pub next_hop_address: Option<IpAddr>,
    /// `metric` (`-1` or omitted: the kernel's default, 0 for IPv4 and 1024 for IPv6).
    pub metric: Option<u32>,
    /// `table-id` (default main).
    pub table: RouteTableId,
    /// `weight` of this next hop in a multipath route, 1..=256.
    pub weight: Option<u16>,
    /// `route-type`.
    pub route_type: Option<RouteType>,
    /// `source`: the preferred source address.
    pub source: Option<IpAddr>,
}

impl Route {
    /// The metric as the kernel stores it (IPv6 routes default to 1024, IPv4 to 0).
    pub fn effective_metric(&self) -> u32 {
        match (self.metric, self.destination) {
            (Some(m), _) => m,
            (None, IpNet::V4(_)) => 0,
            (None, IpNet::V6(_)) => 1024,
        }
    }
}

/// A field of an absent selector: not given (matches anything), given as empty string (matches
/// only entries without it), or a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Match<T> {
    /// Key not present: matches any value.
    #[default]
    Any,
    /// Empty string: matches only entries without this field.
    Unset,
    /// Matches entries with exactly this value.
    Is(T),
}

impl<T: PartialEq> Match<T> {
    /// Whether `value` satisfies this selector field.
    pub fn matches(&self, value: Option<&T>) -> bool {
        match self {
            Match::Any => true,
            Match::Unset => value.is_none(),
            Match::Is(v) => value == Some(v),
        }
    }
}

/// A `routes.config` entry with `state: absent`: removes every matching route that metalroute
/// owns (nmstate's wildcard semantics: omitted fields match anything).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteSelector {
    /// `destination`.
    pub destination: Option<IpNet>,
    /// `next-hop-interface`.
    pub next_hop_interface: Option<InterfaceName>,
    /// `next-hop-address` (empty string: routes without a gateway).
    pub next_hop_address: Match<IpAddr>,
    /// `metric`.
    pub metric: Option<u32>,
    /// `table-id`.
    pub table: Option<RouteTableId>,
    /// `route-type`.
    pub route_type: Option<RouteType>,
}

/// Address family (`family` of a route rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl Family {
    /// nmstate's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }

    /// The family of a prefix.
    pub fn of_net(net: &IpNet) -> Self {
        match net {
            IpNet::V4(_) => Family::Ipv4,
            IpNet::V6(_) => Family::Ipv6,
        }
    }

    /// The family of an address.
    pub fn of_addr(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

/// `action` of a route rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleAction {
    /// Drop silently.
    Blackhole,
    /// Drop with ICMP unreachable.
    Unreachable,
    /// Drop with ICMP prohibited.
    Prohibit,
}

impl RuleAction {
    /// nmstate's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleAction::Blackhole => "blackhole",
            RuleAction::Unreachable => "unreachable",
            RuleAction::Prohibit => "prohibit",
        }
    }
}

/// Rule priorities that belong to OVN-Kubernetes; metalroute refuses to install rules there.
pub const RESERVED_RULE_PRIORITIES: [u32; 3] = [5000, 5999, 6000];

/// A `route-rules.config` entry to install.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteRule {
    /// `family` (derived from `ip-from`/`ip-to` when they are given).
    pub family: Family,
    /// `ip-from` (host bits cleared).
    pub ip_from: Option<IpNet>,
    /// `ip-to` (host bits cleared).
    pub ip_to: Option<IpNet>,
    /// `priority` (omitted: the kernel picks one, and any priority matches on re-apply).
    pub priority: Option<u32>,
    /// `route-table` (default main; `None` only with an `action`).
    pub table: Option<RouteTableId>,
    /// `fwmark`.
    pub fwmark: Option<u32>,
    /// `fwmask`.
    pub fwmask: Option<u32>,
    /// `iif`.
    pub iif: Option<InterfaceName>,
    /// `action`.
    pub action: Option<RuleAction>,
}

/// A `route-rules.config` entry with `state: absent`: removes every matching rule metalroute
/// owns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteRuleSelector {
    /// `family`.
    pub family: Option<Family>,
    /// `ip-from` (empty string: rules without a source selector).
    pub ip_from: Match<IpNet>,
    /// `ip-to` (empty string: rules without a destination selector).
    pub ip_to: Match<IpNet>,
    /// `priority`.
    pub priority: Option<u32>,
    /// `route-table`.
    pub table: Option<RouteTableId>,
    /// `fwmark`.
    pub fwmark: Option<u32>,
    /// `fwmask`.
    pub fwmask: Option<u32>,
    /// `iif`.
    pub iif: Option<InterfaceName>,
    /// `action`.
    pub action: Option<RuleAction>,
}
