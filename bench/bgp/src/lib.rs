//! Shared by the benchmark driver and the `mr-speaker` helper: which prefixes a route set holds.
//!
//! Prefix `i` of the IPv4 family is the /32 at 198.18.0.0 + i (RFC 2544 benchmarking range,
//! 131,072 addresses); of the IPv6 family the /128 at 2001:db8:100:: + i (documentation range).
//! A route set is a list of `(first index, count)` ranges.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// First IPv4 prefix: 198.18.0.0.
const V4_BASE: u32 = 0xC612_0000;
/// First IPv6 prefix: 2001:db8:100::.
const V6_BASE: u128 = 0x2001_0db8_0100_0000_0000_0000_0000_0000;
/// How many IPv4 prefixes the range holds (198.18.0.0/15).
pub const V4_CAPACITY: u32 = 1 << 17;

/// An address family of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fam {
    /// IPv4 unicast, /32 prefixes.
    V4,
    /// IPv6 unicast, /128 prefixes.
    V6,
}

impl Fam {
    /// `v4` or `v6`.
    pub fn name(self) -> &'static str {
        match self {
            Fam::V4 => "v4",
            Fam::V6 => "v6",
        }
    }

    /// Parses `v4` / `v6`.
    pub fn parse(s: &str) -> Option<Fam> {
        match s {
            "v4" => Some(Fam::V4),
            "v6" => Some(Fam::V6),
            _ => None,
        }
    }

    /// The host prefix length (32 or 128).
    pub fn host_len(self) -> u8 {
        match self {
            Fam::V4 => 32,
            Fam::V6 => 128,
        }
    }
}

/// The address of prefix `i` of family `fam`.
pub fn addr(fam: Fam, i: u32) -> IpAddr {
    match fam {
        Fam::V4 => IpAddr::V4(Ipv4Addr::from(V4_BASE + i)),
        Fam::V6 => IpAddr::V6(Ipv6Addr::from(V6_BASE + u128::from(i))),
    }
}

/// Prefix `i` as text (`198.18.0.5/32`, `2001:db8:100::5/128`).
pub fn prefix(fam: Fam, i: u32) -> String {
    format!("{}/{}", addr(fam, i), fam.host_len())
}

/// Every index of a route set, in order.
pub fn indices(set: &[(u32, u32)]) -> impl Iterator<Item = u32> + '_ {
    set.iter().flat_map(|&(start, count)| start..start + count)
}

/// Parses `START:COUNT,START:COUNT…` (the helper's command syntax); `None` on bad input.
pub fn parse_set(s: &str) -> Option<Vec<(u32, u32)>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split(',')
        .map(|r| {
            let (a, b) = r.split_once(':')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

/// Formats a route set in the syntax [`parse_set`] reads.
pub fn format_set(set: &[(u32, u32)]) -> String {
    set.iter()
        .map(|(a, b)| format!("{a}:{b}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_sets() {
        assert_eq!(prefix(Fam::V4, 0), "198.18.0.0/32");
        assert_eq!(prefix(Fam::V4, 65536), "198.19.0.0/32");
        assert_eq!(prefix(Fam::V6, 17), "2001:db8:100::11/128");
        let set = parse_set("1000:9000,65536:1000").unwrap();
        assert_eq!(set, vec![(1000, 9000), (65536, 1000)]);
        assert_eq!(format_set(&set), "1000:9000,65536:1000");
        assert_eq!(indices(&set).count(), 10_000);
        assert_eq!(parse_set("1:x"), None);
    }
}
