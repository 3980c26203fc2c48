//! FRR 8.4 (zebra + bgpd) as [`RouterUnderTest`]: configuration rendered by
//! [`super::frr_conf`], observations from `vtysh ... json` and bgpd's log.

use super::frr_conf;
use super::router::{
    colon_groups, communities, parse_as_path, Feature, Neighbor, Reports, RibRoute, RouterConfig,
    RouterUnderTest, SessionInfo,
};
use metalroute_bgp::config::Family;
use metalroute_bgp::packet::CeaseSubcode;
use metalroute_netns::{Daemon, Frr, Need, Netns};
use serde_json::Value;
use std::time::Duration;

/// FRR with the configuration it was started with.
pub struct FrrRouter {
    /// The running daemons.
    pub frr: Frr,
    config: RouterConfig,
}

/// `neighbor X ...` lines for one neighbor's knobs.
fn neighbor_lines(n: &Neighbor) -> Vec<String> {
    assert!(n.four_octet_as, "FRR: no knob for a 2-octet-only session");
    let mut v = Vec::new();
    if let Some(p) = n.password {
        v.push(format!("password {p}"));
    }
    if let Some(h) = n.multihop {
        v.push(format!("ebgp-multihop {h}"));
    }
    if n.gtsm {
        v.push("ttl-security hops 1".into());
    }
    if let Some(p) = n.remote_port {
        v.push(format!("port {p}"));
    }
    v
}

/// The text FRR shows for a received Cease with `subcode`, in `show bgp neighbors X json`
/// (last notification / last reset, overwritten by the next one) and in bgpd's log
/// (`%NOTIFICATION: received from neighbor X 6/3 (Cease/Peer De-configured)`, kept).
fn cease_text(subcode: CeaseSubcode) -> &'static str {
    match subcode {
        CeaseSubcode::BfdDown => "BFD Down",
        CeaseSubcode::PeerDeconfigured => "De-configured",
        CeaseSubcode::OtherConfigurationChange => "Other Configuration Change",
        CeaseSubcode::ConnectionRejected => "Connection Rejected",
        other => panic!("FRR: no known text for Cease {other:?}"),
    }
}

impl FrrRouter {
    fn address(&self, n: usize) -> &'static str {
        self.config.neighbors[n].address
    }

    /// `show bgp neighbors X json` for neighbor `n` (Null when unknown).
    pub fn neighbor_json(&self, n: usize) -> Value {
        let a = self.address(n);
        let v = self.frr.vtysh_json(&format!("show bgp neighbors {a} json"));
        v.get(a).cloned().unwrap_or(Value::Null)
    }
}

impl RouterUnderTest for FrrRouter {
    const NAME: &'static str = "FRR";
    const TAG: &'static str = "f";
    const NEEDS: &'static [Need] = &[Need::Root, Need::Binary("bgpd"), Need::Binary("zebra")];
    const REPORTS: Reports = Reports {
        established_count: true,
        hold_time: true,
        route_stale: true,
        ..Reports::NONE
    };

    fn start(ns: &Netns, config: &RouterConfig) -> FrrRouter {
        assert!(
            config.listen_port == 179,
            "FRR: the tests run bgpd on port 179 only"
        );
        let remote: Vec<String> = config
            .neighbors
            .iter()
            .map(|n| n.remote_as.to_string())
            .collect();
        let lines: Vec<Vec<String>> = config.neighbors.iter().map(neighbor_lines).collect();
        let line_refs: Vec<Vec<&str>> = lines
            .iter()
            .map(|l| l.iter().map(String::as_str).collect())
            .collect();
        let neighbors: Vec<(&str, &str, &[&str])> = config
            .neighbors
            .iter()
            .zip(&remote)
            .zip(&line_refs)
            .map(|((n, r), l)| (n.address, r.as_str(), l.as_slice()))
            .collect();
        let conf = frr_conf(config.asn, config.router_id, &neighbors, &config.originate);
        FrrRouter {
            frr: Frr::start(ns, &conf, None),
            config: config.clone(),
        }
    }

    fn supports(feature: Feature) -> bool {
        match feature {
            Feature::SendRouteRefresh => true,
            // No bgpd knob turns off only the 4-octet AS capability.
            Feature::TwoOctetSession => false,
            // bgpd runs on port 179 here (the harness starts it without `-p`).
            Feature::ListenPort => false,
            Feature::Restart => true,
        }
    }

    fn bgp_pid(&self, _ns: &Netns) -> u32 {
        self.frr.pid(Daemon::Bgpd).expect("bgpd pid")
    }

    fn session(&self, n: usize) -> SessionInfo {
        let j = self.neighbor_json(n);
        SessionInfo {
            established: j["bgpState"] == "Established",
            established_count: j["connectionsEstablished"].as_u64(),
            hold_time: j["bgpTimerHoldTimeMsecs"].as_u64().map(|ms| ms / 1000),
            ..SessionInfo::default()
        }
    }

    fn wait_established(&self, n: usize, deadline: Duration) {
        self.frr.wait_established(self.address(n), deadline);
    }

    fn prefixes(&self, family: Family) -> Vec<String> {
        if family == Family::IPV6_UNICAST {
            self.frr.prefixes_v6()
        } else {
            self.frr.prefixes_v4()
        }
    }

    fn route(&self, prefix: &str) -> Option<RibRoute> {
        let d = self.frr.route_detail(prefix);
        let p = d.get("paths")?.as_array()?.first()?.clone();
        let split = |key: &str| colon_groups(p[key]["string"].as_str().unwrap_or(""));
        Some(RibRoute {
            as_path: parse_as_path(p["aspath"]["string"].as_str().unwrap_or("")),
            next_hop: p["nexthops"][0]["ip"].as_str().map(str::to_owned),
            local_pref: p["locPrf"].as_u64().map(|v| v as u32),
            communities: communities(split("community").iter().map(|c| (c[0], c[1]))),
            large_communities: {
                let mut l: Vec<(u32, u32, u32)> = split("largeCommunity")
                    .iter()
                    .map(|c| (c[0], c[1], c[2]))
                    .collect();
                l.sort_unstable();
                l
            },
            stale: Some(p["stale"] == true),
            resolved: None,
        })
    }

    fn saw_cease(&self, n: usize, subcode: CeaseSubcode) -> Result<(), String> {
        let needle = cease_text(subcode);
        let neighbor = self.neighbor_json(n).to_string();
        // The log keeps it when FRR's reconnect attempts have overwritten the neighbor's
        // last notification already (a loaded machine may poll that late).
        let log = std::fs::read_to_string(self.frr.log_path()).unwrap_or_default();
        if neighbor.contains(needle) || log.contains(needle) {
            Ok(())
        } else {
            Err(format!("no {needle:?} yet: {neighbor}"))
        }
    }

    fn send_route_refresh(&self, n: usize) {
        let a = self.address(n);
        let afi = if a.contains(':') { "ipv6" } else { "ipv4" };
        self.frr
            .vtysh(&format!("clear bgp {afi} unicast {a} soft in"));
    }
}
