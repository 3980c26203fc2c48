//! Test harness for integration tests: network namespaces created and removed by guards, veth
//! links between them, and real routers (FRR, BIRD, GoBGP, ExaBGP) started inside them.
//!
//! Everything here is test code: functions panic with a message naming what failed (the
//! command line and its stderr) instead of returning errors, so a test reads as a script.
//! Every wait has a deadline ([`wait_for`]), every namespace and daemon is removed by a guard
//! on drop, and nothing touches the host's own network namespace.
//!
//! A typical test:
//!
//! ```no_run
//! use metalroute_netns::{prerequisites, two_ns_with_veth, Frr, Need};
//! use std::time::Duration;
//!
//! if !prerequisites("my_test", &[Need::Root, Need::Binary("bgpd")]) {
//!     return;
//! }
//! let topo = two_ns_with_veth("mytest");
//! let frr = Frr::start(&topo.b, "router bgp 64512\n neighbor 192.0.2.1 remote-as 64511\n", None);
//! // ... run the code under test inside topo.a with topo.a.block_on(|| async { ... }) ...
//! frr.wait_established("192.0.2.1", Duration::from_secs(10));
//! ```

#![warn(missing_docs)]

mod bird;
mod cmd;
mod exabgp;
mod fault;
mod frr;
mod gobgp;
mod link;
mod netns;
mod prereq;
mod topology;
mod wait;

pub use bird::Bird;
pub use cmd::{run_checked, stdout_of};
pub use exabgp::Exabgp;
pub use fault::{drop_packets, restore_packets, Capture};
pub use frr::{Daemon, Frr};
pub use gobgp::Gobgp;
pub use link::{
    addr, ip_json, link_down, link_up, read_sysctl, route, set_master, sysctl, veth, vrf,
};
pub use netns::{enter_netns_path, ChildGuard, Netns};
pub use prereq::{find_binary, prerequisites, require_netns, require_vrf, Need};
pub use topology::{two_ns_with_veth, TwoNs};
pub use wait::{wait_for, wait_for_async, wait_for_log, wait_for_ok};
