//! Shared helpers of the BGP interop tests: our speaker running inside a test namespace, route
//! builders, FRR configuration snippets and waits with deadlines; and the table-driven interop
//! suite: [`router::RouterUnderTest`] (implemented for FRR, BIRD and GoBGP in [`frr`],
//! [`bird`], [`gobgp`]), the scenarios written once in [`scenarios`], and [`interop_tests`],
//! which instantiates them per router as `#[test] fn interop_<router>_<feature>`.
#![allow(dead_code, unused_macros)]

pub mod bird;
pub mod frr;
pub mod gobgp;
pub mod router;
pub mod scenarios;

use metalroute_bgp::config::{
    Asn, Family, GracefulRestart, HoldTime, PeerAsn, PeerConfig, PeerKey, Timers,
};
use metalroute_bgp::fsm::State;
use metalroute_bgp::packet::{AsPath, Community, LargeCommunity, Origin, PathAttributes};
use metalroute_bgp::session::{PeerStatus, ReceivedRoute};
use metalroute_bgp::speaker::{Speaker, SpeakerConfig};
use metalroute_netns::{wait_for_ok, Netns};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// Generous deadline for a session to come up.
pub const UP: Duration = Duration::from_secs(40);

/// Our speaker in a namespace: a multi-thread runtime whose workers live in the namespace.
pub struct Ours {
    pub rt: tokio::runtime::Runtime,
    pub speaker: Speaker,
}

impl Ours {
    /// Starts a speaker in `ns` listening on `listen_port` (None = no listener).
    pub fn start(ns: &Netns, listen_port: Option<u16>) -> Ours {
        let rt = ns.runtime(1);
        let config = SpeakerConfig {
            listen_port,
            connect_timeout: Duration::from_secs(3),
        };
        let speaker = rt.block_on(async { Speaker::new(config) });
        Ours { rt, speaker }
    }

    pub fn add_peer(&self, config: PeerConfig) {
        let r = self.rt.block_on(self.speaker.add_peer(config));
        if let Err(e) = r {
            panic!("add_peer: {e}");
        }
    }

    pub fn advertise(
        &self,
        peer: &PeerKey,
        family: Family,
        routes: &[(&str, Arc<PathAttributes>)],
    ) {
        let map: HashMap<_, Arc<PathAttributes>> = routes
            .iter()
            .map(|(p, a)| (p.parse().expect("prefix"), a.clone()))
            .collect();
        if let Err(e) = self
            .rt
            .block_on(self.speaker.set_advertisements(peer, family, map))
        {
            panic!("set_advertisements: {e}");
        }
    }

    pub fn status(&self, peer: &PeerKey) -> PeerStatus {
        match self.rt.block_on(self.speaker.peer_state(peer)) {
            Ok(Some(s)) => s,
            other => panic!("peer_state({peer}): {other:?}"),
        }
    }

    pub fn received(&self, peer: &PeerKey, family: Family) -> Vec<ReceivedRoute> {
        self.rt
            .block_on(self.speaker.received_routes(peer, family))
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    pub fn wait_state(&self, peer: &PeerKey, want: State, deadline: Duration) -> PeerStatus {
        wait_for_ok(&format!("our session {peer} {want}"), deadline, || {
            let s = self.status(peer);
            if s.state == want {
                Ok(s)
            } else {
                Err(format!("state {} last error {:?}", s.state, s.last_error))
            }
        })
    }

    pub fn shutdown(&self, graceful_restart: bool) {
        self.rt.block_on(self.speaker.shutdown(graceful_restart));
    }
}

/// A peer config with test-friendly timers (hold 9 s, connect 2 s).
pub fn peer(local: u32, remote: PeerAsn, addr: &str, router_id: &str) -> PeerConfig {
    let address: IpAddr = addr.parse().expect("peer address");
    let rid: Ipv4Addr = router_id.parse().expect("router id");
    let mut c = PeerConfig::new(Asn(local), remote, address, rid);
    c.timers = Timers {
        hold_time: HoldTime::from_secs(9).expect("hold"),
        keepalive: None,
        connect_time: Duration::from_secs(2),
    };
    c
}

pub fn fixed(asn: u32) -> PeerAsn {
    PeerAsn::Fixed(Asn(asn))
}

pub fn gr() -> GracefulRestart {
    GracefulRestart {
        restart_time: Duration::from_secs(120),
        stale_routes_time: Duration::from_secs(360),
    }
}

/// Attributes as the agent builds them: origin IGP, empty AS path, optional communities.
pub fn attrs(
    communities: &[(u16, u16)],
    large: &[(u32, u32, u32)],
    local_pref: Option<u32>,
) -> Arc<PathAttributes> {
    Arc::new(PathAttributes {
        origin: Origin::Igp,
        as_path: AsPath::default(),
        communities: communities
            .iter()
            .map(|(a, v)| Community::new(*a, *v))
            .collect(),
        large_communities: large
            .iter()
            .map(|(g, l1, l2)| LargeCommunity {
                global_admin: *g,
                local_data1: *l1,
                local_data2: *l2,
            })
            .collect(),
        local_pref,
        ..PathAttributes::default()
    })
}

pub fn plain() -> Arc<PathAttributes> {
    attrs(&[], &[], None)
}

/// FRR bgpd.conf for one router with neighbors `(address, remote-as, extra lines)`.
pub fn frr_conf(
    asn: u32,
    router_id: &str,
    neighbors: &[(&str, &str, &[&str])],
    networks: &[&str],
) -> String {
    let mut c = format!(
        "frr defaults traditional\nhostname r{asn}\n!\nrouter bgp {asn}\n bgp router-id {router_id}\n no bgp ebgp-requires-policy\n no bgp network import-check\n bgp graceful-restart\n bgp log-neighbor-changes\n"
    );
    for (n, remote, extra) in neighbors {
        c.push_str(&format!(" neighbor {n} remote-as {remote}\n neighbor {n} timers 3 9\n neighbor {n} timers connect 1\n"));
        for e in *extra {
            c.push_str(&format!(" neighbor {n} {e}\n"));
        }
    }
    let (v4, v6): (Vec<&&str>, Vec<&&str>) = networks.iter().partition(|p| !p.contains(':'));
    c.push_str(" address-family ipv4 unicast\n");
    for (n, _, _) in neighbors {
        c.push_str(&format!("  neighbor {n} activate\n"));
    }
    for p in v4 {
        c.push_str(&format!("  network {p}\n"));
    }
    c.push_str(" exit-address-family\n address-family ipv6 unicast\n");
    for (n, _, _) in neighbors {
        c.push_str(&format!("  neighbor {n} activate\n"));
    }
    for p in v6 {
        c.push_str(&format!("  network {p}\n"));
    }
    c.push_str(" exit-address-family\n!\n");
    c
}

/// Sum of the kernel's TCP MD5 failure counters (TcpExt TCPMD5NotFound, TCPMD5Unexpected,
/// TCPMD5Failure) in namespace `ns`.
pub fn md5_failures(ns: &Netns) -> u64 {
    let text = ns.exec_stdout(&["cat", "/proc/net/netstat"]);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    if lines.len() < 2 {
        return 0;
    }
    let names: Vec<&str> = lines[0].split_whitespace().collect();
    let values: Vec<&str> = lines[1].split_whitespace().collect();
    names
        .iter()
        .zip(values.iter())
        .filter(|(n, _)| matches!(**n, "TCPMD5NotFound" | "TCPMD5Unexpected" | "TCPMD5Failure"))
        .map(|(_, v)| v.parse::<u64>().unwrap_or(0))
        .sum()
}

/// The pid of the process named `comm` (as in `/proc/PID/comm`) inside namespace `ns`.
pub fn pid_of(ns: &Netns, comm: &str) -> Option<u32> {
    ns.pids().into_iter().find(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim() == comm)
            .unwrap_or(false)
    })
}

/// Sends signal `sig` (`"STOP"`, `"CONT"`, `"KILL"`) to `pid`.
pub fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
    assert!(
        ok.map(|s| s.success()).unwrap_or(false),
        "kill -{sig} {pid}"
    );
}

/// Resumes a stopped process when dropped (so a failing test never leaves a router frozen).
pub struct Cont(pub u32);

impl Drop for Cont {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

/// One `#[test]` per row: `interop_tests! { FrrRouter; interop_frr_md5 => md5, ... }` makes
/// `fn interop_frr_md5()` run [`scenarios::md5`] against FRR. The rows of a router are its
/// table: the scenarios it runs (those it cannot run are left out, with the reason).
macro_rules! interop_tests {
    ($router:ty; $($test:ident => $scenario:ident),+ $(,)?) => {
        $(
            #[test]
            fn $test() {
                $crate::interop_common::scenarios::$scenario::<$router>(stringify!($test));
            }
        )+
    };
}
#[allow(unused_imports)]
pub(crate) use interop_tests;
