//! Ready-made topologies for the common cases.

use crate::link::{addr, veth};
use crate::netns::Netns;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Two namespaces joined by one veth, each end with an IPv4 and an IPv6 address.
///
/// | side | namespace | interface | IPv4 | IPv6 |
/// |---|---|---|---|---|
/// | a | `<prefix>a-<pid>-<n>` | `to-b` | 192.0.2.1/24 | 2001:db8::1/64 |
/// | b | `<prefix>b-<pid>-<n>` | `to-a` | 192.0.2.2/24 | 2001:db8::2/64 |
#[derive(Debug)]
pub struct TwoNs {
    /// Side a (usually the code under test).
    pub a: Netns,
    /// Side b (usually the peer router).
    pub b: Netns,
    /// Interface name in `a` (`to-b`).
    pub a_if: String,
    /// Interface name in `b` (`to-a`).
    pub b_if: String,
    /// IPv4 address of `a` (192.0.2.1, /24).
    pub a_v4: Ipv4Addr,
    /// IPv4 address of `b` (192.0.2.2, /24).
    pub b_v4: Ipv4Addr,
    /// IPv6 address of `a` (2001:db8::1, /64).
    pub a_v6: Ipv6Addr,
    /// IPv6 address of `b` (2001:db8::2, /64).
    pub b_v6: Ipv6Addr,
}

/// Builds a [`TwoNs`]: namespaces `<prefix>a-…` and `<prefix>b-…`, a veth `to-b`↔`to-a`,
/// addresses as in the table on [`TwoNs`]. Both namespaces are deleted when it drops.
pub fn two_ns_with_veth(prefix: &str) -> TwoNs {
    let a = Netns::new(&format!("{prefix}a"));
    let b = Netns::new(&format!("{prefix}b"));
    veth(&a, "to-b", &b, "to-a");
    let t = TwoNs {
        a,
        b,
        a_if: "to-b".into(),
        b_if: "to-a".into(),
        a_v4: Ipv4Addr::new(192, 0, 2, 1),
        b_v4: Ipv4Addr::new(192, 0, 2, 2),
        a_v6: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        b_v6: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
    };
    addr(&t.a, "to-b", "192.0.2.1/24");
    addr(&t.a, "to-b", "2001:db8::1/64");
    addr(&t.b, "to-a", "192.0.2.2/24");
    addr(&t.b, "to-a", "2001:db8::2/64");
    t
}
