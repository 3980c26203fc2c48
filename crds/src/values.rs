//! Typed values that validation produces and the planner consumes: units and invariants are in
//! the types (an [`Asn`] is a 32-bit AS number, a [`HoldTime`] is 0 or 3..=65535 seconds, a
//! [`PoolRange`] is a CIDR or an ordered same-family range, a [`Community`] is a resolved value).
//! Nothing here can hold a value MetalLB would reject.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// A BGP autonomous system number (4-octet, RFC 6793).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Asn(pub u32);

impl Asn {
    /// Parses an ASN from the raw integer of a CRD field.
    pub fn from_raw(v: i64) -> Result<Asn, String> {
        u32::try_from(v)
            .map(Asn)
            .map_err(|_| format!("{v} is not an AS number (0..4294967295)"))
    }
}

impl fmt::Display for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The remote AS of a session: a fixed number or MetalLB's `dynamicASN` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerAsn {
    /// `peerASN`: the peer must announce exactly this AS.
    Fixed(Asn),
    /// `dynamicASN: internal`: the peer's AS must equal `myASN` (iBGP).
    Internal,
    /// `dynamicASN: external`: the peer's AS must differ from `myASN` (eBGP).
    External,
}

/// The BGP hold time: 0 (keepalives off) or 3..=65535 whole seconds (RFC 4271 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HoldTime(u16);

impl HoldTime {
    /// Builds a hold time from a duration, rounding down to whole seconds as MetalLB does.
    pub fn from_duration(d: Duration) -> Result<HoldTime, String> {
        let secs = d.as_secs();
        if secs == 0 && d.is_zero() {
            return Ok(HoldTime(0));
        }
        if secs < 3 {
            return Err("must be 0 or at least 3s".to_string());
        }
        u16::try_from(secs).map(HoldTime).map_err(|_| {
            "must be at most 65535s (the BGP hold time is a 16-bit count of seconds)".to_string()
        })
    }

    /// Seconds (0 = no keepalives, no hold timer).
    pub fn seconds(self) -> u16 {
        self.0
    }

    /// As a duration.
    pub fn as_duration(self) -> Duration {
        Duration::from_secs(u64::from(self.0))
    }
}

/// Hold and keepalive time of a session, after MetalLB's derivation (only one given: the other is
/// hold/3 or 3×keepalive) and with `keepalive <= hold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BgpTimers {
    /// Proposed hold time.
    pub hold: HoldTime,
    /// Keepalive interval.
    pub keepalive: Duration,
}

/// `connectTime`: whole seconds in 1..=65535 between connection attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectTime(u16);

impl ConnectTime {
    /// Validates a duration as a connect time.
    pub fn from_duration(d: Duration) -> Result<ConnectTime, String> {
        if d.subsec_nanos() != 0 {
            return Err("must be a whole number of seconds".to_string());
        }
        match u16::try_from(d.as_secs()) {
            Ok(s) if s >= 1 => Ok(ConnectTime(s)),
            _ => Err("must be between 1s and 65535s".to_string()),
        }
    }

    /// As a duration.
    pub fn as_duration(self) -> Duration {
        Duration::from_secs(u64::from(self.0))
    }
}

/// Where a session goes: an address, or a node interface for unnumbered peering.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerTarget {
    /// `peerAddress`.
    Address(IpAddr),
    /// `interface` (BGP unnumbered over the link-local neighbour on that interface).
    Interface(String),
}

impl fmt::Display for PeerTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerTarget::Address(a) => write!(f, "{a}"),
            PeerTarget::Interface(i) => write!(f, "interface {i}"),
        }
    }
}

/// A TCP MD5 password and where it came from.
#[derive(Clone, PartialEq, Eq)]
pub enum Md5Password {
    /// `spec.password`.
    Inline(String),
    /// `spec.passwordSecret`: the Secret's `password` key.
    Secret {
        /// The Secret's name.
        name: String,
        /// The password.
        password: String,
    },
}

impl Md5Password {
    /// The password bytes.
    pub fn as_str(&self) -> &str {
        match self {
            Md5Password::Inline(p) => p,
            Md5Password::Secret { password, .. } => password,
        }
    }
}

impl fmt::Debug for Md5Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Md5Password::Inline(_) => f.write_str("Md5Password::Inline(<redacted>)"),
            Md5Password::Secret { name, .. } => {
                write!(f, "Md5Password::Secret({name}, <redacted>)")
            }
        }
    }
}

/// A BGP community value: standard (RFC 1997) or large (RFC 8092).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Community {
    /// `A:B`, 16 bits each, as one 32-bit value `A<<16 | B`.
    Standard(u32),
    /// `large:A:B:C`, 32 bits each.
    Large(u32, u32, u32),
}

/// Well-known community names accepted in `communities` lists.
pub const WELL_KNOWN_COMMUNITIES: [(&str, u32); 5] = [
    ("no-export", 0xFFFF_FF01),
    ("no-advertise", 0xFFFF_FF02),
    ("no-export-subconfed", 0xFFFF_FF03),
    ("no-peer", 0xFFFF_FF04),
    ("blackhole", 0xFFFF_029A),
];

/// How a community string failed to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommunityParseError {
    /// Has the shape of a value (`A:B` or `large:A:B:C`) but a part is out of range or not a
    /// number: a hard error.
    InvalidValue(String),
    /// Not shaped like a value: may be an alias of a Community object.
    NotAValue,
}

impl Community {
    /// Parses `A:B`, `large:A:B:C` or a well-known name.
    pub fn parse(s: &str) -> Result<Community, CommunityParseError> {
        if let Some((_, v)) = WELL_KNOWN_COMMUNITIES.iter().find(|(n, _)| *n == s) {
            return Ok(Community::Standard(*v));
        }
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            [a, b] => {
                let part = |p: &str| {
                    p.parse::<u16>().map_err(|_| {
                        CommunityParseError::InvalidValue(format!(
                            "invalid community {s:?}: {p:?} is not a 16-bit number (0..65535)"
                        ))
                    })
                };
                Ok(Community::Standard(
                    (u32::from(part(a)?) << 16) | u32::from(part(b)?),
                ))
            }
            ["large", a, b, c] => {
                let part = |p: &str| {
                    p.parse::<u32>().map_err(|_| {
                        CommunityParseError::InvalidValue(format!(
                            "invalid large community {s:?}: {p:?} is not a 32-bit number (0..4294967295)"
                        ))
                    })
                };
                Ok(Community::Large(part(a)?, part(b)?, part(c)?))
            }
            [_, _, _, _] => Err(CommunityParseError::InvalidValue(format!(
                "invalid large community {s:?}: expected large:<uint32>:<uint32>:<uint32>"
            ))),
            _ => Err(CommunityParseError::NotAValue),
        }
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Community::Standard(v) => write!(f, "{}:{}", v >> 16, v & 0xFFFF),
            Community::Large(a, b, c) => write!(f, "large:{a}:{b}:{c}"),
        }
    }
}

/// An IP family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// One `addresses` entry of an IPAddressPool: a CIDR or an inclusive `start-end` range of one
/// family with `start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolRange {
    /// A prefix (host bits are cleared, as Go's `net.ParseCIDR` does).
    Cidr(IpNet),
    /// An inclusive range.
    Range {
        /// First address.
        start: IpAddr,
        /// Last address.
        end: IpAddr,
    },
}

impl PoolRange {
    /// Parses an entry; the error is the reason.
    pub fn parse(s: &str) -> Result<PoolRange, String> {
        if let Some((a, b)) = s.split_once('-') {
            let start: IpAddr = a.trim().parse().map_err(|_| {
                format!(
                    "invalid IP range {s:?}: start {:?} is not an IP address",
                    a.trim()
                )
            })?;
            let end: IpAddr = b.trim().parse().map_err(|_| {
                format!(
                    "invalid IP range {s:?}: end {:?} is not an IP address",
                    b.trim()
                )
            })?;
            if Family::of(&start) != Family::of(&end) {
                return Err(format!(
                    "invalid IP range {s:?}: start and end are of different IP families"
                ));
            }
            if start > end {
                return Err(format!(
                    "invalid IP range {s:?}: start {start} is after end {end}"
                ));
            }
            return Ok(PoolRange::Range { start, end });
        }
        let net: IpNet = s
            .trim()
            .parse()
            .map_err(|_| format!("invalid CIDR {s:?}: expected a prefix such as 192.0.2.0/24 or a range such as 192.0.2.10-192.0.2.20"))?;
        Ok(PoolRange::Cidr(net.trunc()))
    }

    /// The family of the entry.
    pub fn family(&self) -> Family {
        Family::of(&self.first())
    }

    /// First address.
    pub fn first(&self) -> IpAddr {
        match self {
            PoolRange::Cidr(n) => n.network(),
            PoolRange::Range { start, .. } => *start,
        }
    }

    /// Last address.
    pub fn last(&self) -> IpAddr {
        match self {
            PoolRange::Cidr(n) => n.broadcast(),
            PoolRange::Range { end, .. } => *end,
        }
    }

    /// True when `ip` is in the entry.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        Family::of(ip) == self.family() && *ip >= self.first() && *ip <= self.last()
    }

    /// True when the two entries share an address.
    pub fn overlaps(&self, other: &PoolRange) -> bool {
        self.family() == other.family()
            && self.first() <= other.last()
            && other.first() <= self.last()
    }

    /// The smallest set of prefixes covering the entry exactly (a range is summarised).
    pub fn prefixes(&self) -> Vec<IpNet> {
        match self {
            PoolRange::Cidr(n) => vec![*n],
            PoolRange::Range { start, end } => summarize(*start, *end),
        }
    }

    /// The shortest prefix length among [`PoolRange::prefixes`] (the widest prefix).
    pub fn widest_prefix_len(&self) -> u8 {
        self.prefixes()
            .iter()
            .map(IpNet::prefix_len)
            .min()
            .unwrap_or(0)
    }
}

impl fmt::Display for PoolRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolRange::Cidr(n) => write!(f, "{n}"),
            PoolRange::Range { start, end } => write!(f, "{start}-{end}"),
        }
    }
}

fn summarize(start: IpAddr, end: IpAddr) -> Vec<IpNet> {
    match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => {
            summarize_bits(u128::from(u32::from(s)), u128::from(u32::from(e)), 32)
                .into_iter()
                .filter_map(|(a, l)| {
                    let a = u32::try_from(a).ok()?;
                    Ipv4Net::new(Ipv4Addr::from(a), l).ok().map(IpNet::V4)
                })
                .collect()
        }
        (IpAddr::V6(s), IpAddr::V6(e)) => summarize_bits(u128::from(s), u128::from(e), 128)
            .into_iter()
            .filter_map(|(a, l)| Ipv6Net::new(Ipv6Addr::from(a), l).ok().map(IpNet::V6))
            .collect(),
        _ => Vec::new(),
    }
}

/// Splits `[start, end]` into aligned blocks: (first address, prefix length).
fn summarize_bits(mut start: u128, end: u128, width: u8) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    loop {
        // Largest block aligned at `start` that does not pass `end`.
        let mut size_bits: u32 = if start == 0 {
            u32::from(width)
        } else {
            start.trailing_zeros().min(u32::from(width))
        };
        while size_bits > 0 {
            let last = if size_bits >= 128 {
                u128::MAX
            } else {
                start + ((1u128 << size_bits) - 1)
            };
            if last <= end {
                break;
            }
            size_bits -= 1;
        }
        out.push((start, width - size_bits as u8));
        let last = if size_bits >= 128 {
            u128::MAX
        } else {
            start + ((1u128 << size_bits) - 1)
        };
        if last >= end {
            break;
        }
        start = last + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_summarise_like_metallb() {
        let r = PoolRange::parse("4.4.4.100-4.4.4.200").unwrap();
        let p: Vec<String> = r.prefixes().iter().map(|n| n.to_string()).collect();
        assert_eq!(
            p,
            [
                "4.4.4.100/30",
                "4.4.4.104/29",
                "4.4.4.112/28",
                "4.4.4.128/26",
                "4.4.4.192/29",
                "4.4.4.200/32"
            ]
        );
        assert_eq!(r.widest_prefix_len(), 26);
        let all = PoolRange::parse("0.0.0.0-255.255.255.255").unwrap();
        assert_eq!(all.prefixes(), vec!["0.0.0.0/0".parse::<IpNet>().unwrap()]);
        let v6 = PoolRange::parse("2001:db8::200-2001:db8::400").unwrap();
        assert_eq!(v6.widest_prefix_len(), 119);
    }

    #[test]
    fn pool_entries_validate() {
        assert_eq!(
            PoolRange::parse("192.0.2.7/24").unwrap(),
            PoolRange::Cidr("192.0.2.0/24".parse().unwrap())
        );
        assert!(PoolRange::parse("192.0.2.20-192.0.2.10")
            .unwrap_err()
            .contains("is after end"));
        assert!(PoolRange::parse("192.0.2.1-2001:db8::1")
            .unwrap_err()
            .contains("different IP families"));
        assert!(PoolRange::parse("192.0.2.0/33")
            .unwrap_err()
            .contains("invalid CIDR"));
        let a = PoolRange::parse("192.0.2.0/25").unwrap();
        let b = PoolRange::parse("192.0.2.100-192.0.2.200").unwrap();
        let c = PoolRange::parse("192.0.2.128/25").unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&c) && !a.overlaps(&c));
    }

    #[test]
    fn communities_parse() {
        assert_eq!(
            Community::parse("65535:65282"),
            Ok(Community::Standard(0xFFFF_FF02))
        );
        assert_eq!(
            Community::parse("no-advertise"),
            Ok(Community::Standard(0xFFFF_FF02))
        );
        assert_eq!(
            Community::parse("large:1:2:3"),
            Ok(Community::Large(1, 2, 3))
        );
        assert!(matches!(
            Community::parse("65536:1"),
            Err(CommunityParseError::InvalidValue(_))
        ));
        assert!(matches!(
            Community::parse("big:1:2:3"),
            Err(CommunityParseError::InvalidValue(_))
        ));
        assert_eq!(
            Community::parse("my-alias"),
            Err(CommunityParseError::NotAValue)
        );
        assert_eq!(Community::Standard(0xFFFF_FF02).to_string(), "65535:65282");
    }

    #[test]
    fn hold_time_rules() {
        assert_eq!(
            HoldTime::from_duration(Duration::ZERO).unwrap().seconds(),
            0
        );
        assert!(HoldTime::from_duration(Duration::from_secs(2)).is_err());
        assert_eq!(
            HoldTime::from_duration(Duration::from_millis(3500))
                .unwrap()
                .seconds(),
            3
        );
        assert!(HoldTime::from_duration(Duration::from_secs(70000)).is_err());
        assert!(ConnectTime::from_duration(Duration::from_millis(1500)).is_err());
        assert!(ConnectTime::from_duration(Duration::ZERO).is_err());
    }
}
