//! Test harness for integration tests: network namespaces created and removed by guards, veth
//! links between them, and real routers (FRR, BIRD, GoBGP, ExaBGP) started inside them.
//!
//! Everything here is test code: functions panic with a message naming what failed (the
//! command line and its stderr) instead of returning errors, so a test reads as a script.
//! Every wait has a deadline ([`wait_for`]), every namespace and daemon is removed by a guard
//! on drop, and nothing touches the host's own network namespace.
//!
//! | piece | what |
//! |---|---|
//! | [`prerequisites`], [`Need`] | skip (laptop) or fail (`METALROUTE_REQUIRE_NETNS=1`, `METALROUTE_REQUIRE_VRF=1`) when root, a program or VRF support is missing |
//! | [`Netns`], [`ChildGuard`] | namespaces (`exec`, `sh`, `spawn`, `run`, `block_on`, `runtime`, `enter_thread`) and processes killed on drop |
//! | [`veth`], [`addr`], [`route`], [`sysctl`], [`vrf`], [`set_master`], [`ip_json`] | links, addresses, routes, sysctls, VRFs; `ip -j` queries |
//! | [`two_ns_with_veth`] | the common two-namespace topology (192.0.2.1/.2, 2001:db8::1/::2) |
//! | [`wait_for`], [`wait_for_ok`], [`wait_for_async`], [`wait_for_log`] | bounded polling |
//! | [`Frr`], [`Bird`], [`Gobgp`], [`Exabgp`] | real peers with private files, queried over their control sockets |
//! | [`drop_packets`], [`restore_packets`], [`Capture`] | packet loss with nftables, tcpdump captures |
//!
//! Tests that need VRF/dummy/VLAN/netem are named `vrf_*` and declare [`Need::Vrf`]; on the host
//! they skip, and `scripts/test-vm` runs them in a VM with Debian's kernel.
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
//! let frr = Frr::start(
//!     &topo.b,
//!     "router bgp 64512\n no bgp ebgp-requires-policy\n neighbor 192.0.2.1 remote-as 64511\n",
//!     None,
//! );
//! // The code under test runs inside namespace a, its sockets live there:
//! topo.a.block_on(|| async {
//!     // let speaker = metalroute_bgp::...; speaker.run().await ...
//! });
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
mod process;
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
pub use process::{terminate, SIGCONT, SIGHUP, SIGINT, SIGKILL, SIGSTOP, SIGTERM};
pub use topology::{two_ns_with_veth, TwoNs};
pub use wait::{wait_for, wait_for_async, wait_for_log, wait_for_ok};
