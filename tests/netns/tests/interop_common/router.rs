//! The router under test, abstracted: what a scenario asks of FRR, BIRD or GoBGP (start with a
//! configuration, read its RIB and its view of a session, make it send a ROUTE-REFRESH…) and
//! the normalized answers ([`RibRoute`], [`SessionInfo`]), so each scenario is written once.
//!
//! Where the routers really differ, the difference is data: [`RouterUnderTest::supports`]
//! says which knobs and actions a router has, [`Reports`] which observations its CLI gives.

use metalroute_bgp::config::Family;
use metalroute_bgp::packet::CeaseSubcode;
use metalroute_netns::{Need, Netns};
use std::time::Duration;

/// One BGP neighbor in the router's configuration (the router's side of a session with us).
#[derive(Debug, Clone)]
pub struct Neighbor {
    /// Our address, as the router's neighbor address.
    pub address: &'static str,
    /// The router's own address for the session (BIRD's `local`).
    pub local: &'static str,
    /// Our AS number as the router expects it.
    pub remote_as: u32,
    /// Families of the session (default: the family of `address`).
    pub families: Vec<Family>,
    /// The router dials us on this port instead of 179.
    pub remote_port: Option<u16>,
    /// TCP MD5 password.
    pub password: Option<&'static str>,
    /// eBGP multihop TTL.
    pub multihop: Option<u8>,
    /// GTSM (RFC 5082): the router requires TTL 255 from us.
    pub gtsm: bool,
    /// Graceful restart (RFC 4724) on this session.
    pub graceful_restart: bool,
    /// The router announces the 4-octet AS capability (false: a 2-octet session).
    pub four_octet_as: bool,
    /// The router restarts the session at once after an error (BIRD waits 60 s by default).
    pub quick_restart_after_error: bool,
}

impl Neighbor {
    /// A neighbor toward our `address` with the router's `local` address, plain settings.
    pub fn new(address: &'static str, local: &'static str, remote_as: u32) -> Neighbor {
        let family = if address.contains(':') {
            Family::IPV6_UNICAST
        } else {
            Family::IPV4_UNICAST
        };
        Neighbor {
            address,
            local,
            remote_as,
            families: vec![family],
            remote_port: None,
            password: None,
            multihop: None,
            gtsm: false,
            graceful_restart: false,
            four_octet_as: true,
            quick_restart_after_error: false,
        }
    }
}

/// A router's whole configuration.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// The router's AS number.
    pub asn: u32,
    /// Its BGP identifier.
    pub router_id: &'static str,
    /// The port it listens on.
    pub listen_port: u16,
    /// Its neighbors (index = the `n` of [`RouterUnderTest`] methods).
    pub neighbors: Vec<Neighbor>,
    /// Prefixes it originates and announces to every neighbor of their family.
    pub originate: Vec<&'static str>,
}

impl RouterConfig {
    /// AS `asn`, router id 192.0.2.2, one IPv4 neighbor 192.0.2.1 (AS `remote_as`) over
    /// `two_ns_with_veth`'s link.
    pub fn v4(asn: u32, remote_as: u32) -> RouterConfig {
        RouterConfig {
            asn,
            router_id: "192.0.2.2",
            listen_port: 179,
            neighbors: vec![Neighbor::new("192.0.2.1", "192.0.2.2", remote_as)],
            originate: Vec::new(),
        }
    }

    /// Like [`RouterConfig::v4`] with one IPv6 neighbor 2001:db8::1 instead.
    pub fn v6(asn: u32, remote_as: u32) -> RouterConfig {
        RouterConfig {
            neighbors: vec![Neighbor::new("2001:db8::1", "2001:db8::2", remote_as)],
            ..RouterConfig::v4(asn, remote_as)
        }
    }

    /// Two neighbors toward us (AS 64511), 192.0.2.1 (IPv4) and 2001:db8::1 (IPv6), with
    /// optional MD5 passwords.
    pub fn two_sessions(pw4: Option<&'static str>, pw6: Option<&'static str>) -> RouterConfig {
        let mut c = RouterConfig::v4(64512, 64511);
        c.neighbors[0].password = pw4;
        let mut n6 = Neighbor::new("2001:db8::1", "2001:db8::2", 64511);
        n6.password = pw6;
        c.neighbors.push(n6);
        c
    }

    /// The only neighbor, changed by `f`.
    pub fn with(mut self, f: impl FnOnce(&mut Neighbor)) -> RouterConfig {
        f(&mut self.neighbors[0]);
        self
    }
}

/// Something a scenario needs from the router beyond a plain session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// It can be made to send a ROUTE-REFRESH (RFC 2918) on a live session.
    SendRouteRefresh,
    /// It can be configured not to announce the 4-octet AS capability.
    TwoOctetSession,
    /// It listens on a port other than 179.
    ListenPort,
    /// It can be killed and started again with the same configuration, resending its routes
    /// (graceful-restart helper tests on our side).
    Restart,
}

/// Which observations a router's CLI gives (None in [`SessionInfo`] / [`RibRoute`] fields
/// means "not reported"; a scenario fails if a field marked here is missing).
#[derive(Debug, Clone, Copy)]
pub struct Reports {
    /// [`SessionInfo::established_count`].
    pub established_count: bool,
    /// [`SessionInfo::hold_time`].
    pub hold_time: bool,
    /// [`SessionInfo::families`].
    pub families: bool,
    /// [`SessionInfo::remote_address`].
    pub remote_address: bool,
    /// [`SessionInfo::peer_gr_capable`].
    pub peer_gr_capable: bool,
    /// [`SessionInfo::peer_restarting`].
    pub peer_restarting: bool,
    /// [`RibRoute::stale`].
    pub route_stale: bool,
    /// [`RibRoute::resolved`].
    pub resolved_next_hop: bool,
    /// [`RibRoute::communities`] keep the order of the UPDATE (FRR, for one, sorts them).
    pub community_order: bool,
}

impl Reports {
    /// Reports nothing beyond session state and routes (each router's table starts here).
    pub const NONE: Reports = Reports {
        established_count: false,
        hold_time: false,
        families: false,
        remote_address: false,
        peer_gr_capable: false,
        peer_restarting: false,
        route_stale: false,
        resolved_next_hop: false,
        community_order: false,
    };
}

/// A route in the router's RIB, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RibRoute {
    /// AS numbers of the AS path, in order (empty for a locally originated or iBGP path).
    pub as_path: Vec<u32>,
    /// The BGP next hop (NEXT_HOP or MP_REACH's first, global, address).
    pub next_hop: Option<String>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// Communities, in the order the router lists them.
    pub communities: Vec<(u16, u16)>,
    /// Large communities, sorted.
    pub large_communities: Vec<(u32, u32, u32)>,
    /// Marked stale (graceful restart), if the router reports it per route.
    pub stale: Option<bool>,
    /// How the router resolved the next hop (`"192.0.2.1 on to-a"`), if it reports it.
    pub resolved: Option<String>,
}

/// The router's view of one session, normalized (default: not Established, nothing
/// reported).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// BGP state is Established.
    pub established: bool,
    /// How many times the session reached Established.
    pub established_count: Option<u64>,
    /// Negotiated hold time, seconds.
    pub hold_time: Option<u64>,
    /// Families on the session.
    pub families: Option<Vec<Family>>,
    /// The neighbor address the session runs with.
    pub remote_address: Option<String>,
    /// We announced graceful restart.
    pub peer_gr_capable: Option<bool>,
    /// The router holds our routes while we restart (it is GR helper right now).
    pub peer_restarting: Option<bool>,
}

/// FRR, BIRD or GoBGP as the other end of our sessions.
pub trait RouterUnderTest: Sized {
    /// Name in messages.
    const NAME: &'static str;
    /// One letter for namespace names (`i<tag><scenario>`).
    const TAG: &'static str;
    /// Prerequisites (root, binaries).
    const NEEDS: &'static [Need];
    /// What its CLI reports.
    const REPORTS: Reports;

    /// Starts the router in `ns`.
    fn start(ns: &Netns, config: &RouterConfig) -> Self;
    /// Whether the router has `feature`.
    fn supports(feature: Feature) -> bool;
    /// Its BGP daemon's pid (to stop or kill it).
    fn bgp_pid(&self, ns: &Netns) -> u32;

    /// Its view of the session with neighbor `n`.
    fn session(&self, n: usize) -> SessionInfo;
    /// Waits until the session with neighbor `n` is Established.
    fn wait_established(&self, n: usize, deadline: Duration);
    /// Prefixes of `family` in its BGP RIB, sorted (FRR and GoBGP list the ones they
    /// originate too, BIRD only what it learned over BGP).
    fn prefixes(&self, family: Family) -> Vec<String>;
    /// The best path of `prefix`, normalized, or None when it has none.
    fn route(&self, prefix: &str) -> Option<RibRoute>;
    /// Ok when it has seen a NOTIFICATION Cease with `subcode` from neighbor `n`; Err says
    /// what it shows instead.
    fn saw_cease(&self, n: usize, subcode: CeaseSubcode) -> Result<(), String>;
    /// Makes it send a ROUTE-REFRESH to neighbor `n` ([`Feature::SendRouteRefresh`]).
    fn send_route_refresh(&self, n: usize);

    /// True when it has `prefix` in its RIB.
    fn has(&self, prefix: &str) -> bool {
        self.prefixes(family_of(prefix)).iter().any(|p| p == prefix)
    }

    /// The best path of `prefix`; panics when there is none.
    fn must_route(&self, prefix: &str) -> RibRoute {
        match self.route(prefix) {
            Some(r) => r,
            None => panic!("{} has no route for {prefix}", Self::NAME),
        }
    }
}

/// `field` when the router reports it (per [`Reports`]), None when it does not; panics when
/// it should report it but did not.
pub fn reported<T: std::fmt::Debug>(
    router: &str,
    what: &str,
    reports: bool,
    field: Option<T>,
) -> Option<T> {
    match (reports, field) {
        (true, Some(v)) => Some(v),
        (true, None) => panic!("{router} should report {what} but did not"),
        (false, _) => None,
    }
}

/// Parses whitespace-separated AS numbers (`"64511 64512"`); `"Local"` (FRR's empty path)
/// gives an empty path.
pub fn parse_as_path(text: &str) -> Vec<u32> {
    text.split_whitespace()
        .filter(|t| *t != "Local")
        .map(|t| match t.parse() {
            Ok(n) => n,
            Err(_) => panic!("AS path {text:?}: {t:?} is not an AS number"),
        })
        .collect()
}

/// The number groups in parentheses, `"(64511,100) (8000, 800)"` → `[[64511,100],[8000,800]]`.
pub fn paren_groups(text: &str) -> Vec<Vec<u32>> {
    text.split('(')
        .skip(1)
        .filter_map(|g| g.split(')').next())
        .map(|g| {
            g.split(',')
                .map(|n| match n.trim().parse() {
                    Ok(v) => v,
                    Err(_) => panic!("{text:?}: {n:?} is not a number"),
                })
                .collect()
        })
        .collect()
}

/// Whitespace-separated `a:b[:c]` groups, `"8000:800 64511:100"` → `[[8000,800],[64511,100]]`.
pub fn colon_groups(text: &str) -> Vec<Vec<u32>> {
    text.split_whitespace()
        .map(|g| {
            g.split(':')
                .map(|n| match n.parse() {
                    Ok(v) => v,
                    Err(_) => panic!("{text:?}: {n:?} is not a number"),
                })
                .collect()
        })
        .collect()
}

/// Communities from `a:b` pairs, in order.
pub fn communities(pairs: impl IntoIterator<Item = (u32, u32)>) -> Vec<(u16, u16)> {
    pairs
        .into_iter()
        .map(|(a, b)| match (u16::try_from(a), u16::try_from(b)) {
            (Ok(a), Ok(b)) => (a, b),
            _ => panic!("community {a}:{b} out of range"),
        })
        .collect()
}

/// The family of a prefix or address.
pub fn family_of(prefix: &str) -> Family {
    if prefix.contains(':') {
        Family::IPV6_UNICAST
    } else {
        Family::IPV4_UNICAST
    }
}
