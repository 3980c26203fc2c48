//! GoBGP 3 (gobgpd) as [`RouterUnderTest`]: a TOML configuration, originated prefixes added
//! with `gobgp global rib add` after start, observations from `gobgp … -j` and gobgpd's log.

use super::pid_of;
use super::router::{
    communities, Feature, Neighbor, Reports, RibRoute, RouterConfig, RouterUnderTest, SessionInfo,
};
use metalroute_bgp::config::Family;
use metalroute_bgp::packet::CeaseSubcode;
use metalroute_netns::{Gobgp, Need, Netns};
use serde_json::Value;
use std::time::Duration;

/// gobgpd with the configuration it was started with.
pub struct GobgpRouter {
    /// The running daemon.
    pub gobgp: Gobgp,
    config: RouterConfig,
}

/// GoBGP's name of a family.
fn afi_safi(f: Family) -> &'static str {
    if f == Family::IPV6_UNICAST {
        "ipv6-unicast"
    } else {
        "ipv4-unicast"
    }
}

/// One `[[neighbors]]` table.
fn neighbor_toml(n: &Neighbor) -> String {
    assert!(n.four_octet_as, "GoBGP: no knob for a 2-octet-only session");
    let auth = n
        .password
        .map(|p| format!("    auth-password = \"{p}\"\n"))
        .unwrap_or_default();
    let mut c = format!(
        "\n[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = {}\n{auth}  [neighbors.timers.config]\n    connect-retry = 1\n    hold-time = 9\n    keepalive-interval = 3\n",
        n.address, n.remote_as
    );
    if let Some(p) = n.remote_port {
        c.push_str(&format!(
            "  [neighbors.transport.config]\n    remote-port = {p}\n"
        ));
    }
    if let Some(h) = n.multihop {
        c.push_str(&format!(
            "  [neighbors.ebgp-multihop.config]\n    enabled = true\n    multihop-ttl = {h}\n"
        ));
    }
    if n.gtsm {
        c.push_str("  [neighbors.ttl-security.config]\n    enabled = true\n    ttl-min = 255\n");
    }
    if n.graceful_restart {
        c.push_str(
            "  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 120\n",
        );
    }
    for f in &n.families {
        c.push_str(&format!(
            "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{}\"\n",
            afi_safi(*f)
        ));
        if n.graceful_restart {
            c.push_str(
                "    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n",
            );
        }
    }
    c
}

/// The whole gobgpd.toml.
fn gobgp_conf(config: &RouterConfig) -> String {
    let mut c = format!(
        "\n[global.config]\n  as = {}\n  router-id = \"{}\"\n  port = {}\n",
        config.asn, config.router_id, config.listen_port
    );
    for n in &config.neighbors {
        c.push_str(&neighbor_toml(n));
    }
    c
}

/// The path attribute of `type_code` among `attrs` (Null when absent).
fn attr(attrs: &[Value], type_code: u64) -> Value {
    attrs
        .iter()
        .find(|a| a["type"] == type_code)
        .cloned()
        .unwrap_or(Value::Null)
}

impl GobgpRouter {
    fn address(&self, n: usize) -> &'static str {
        self.config.neighbors[n].address
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.gobgp.log_path())
            .unwrap_or_default()
            .to_ascii_lowercase()
    }

    /// The first path of `prefix` in the global RIB (Null when absent).
    fn path(&self, prefix: &str) -> Value {
        let rib = if prefix.contains(':') {
            self.gobgp.rib_v6()
        } else {
            self.gobgp.rib_v4()
        };
        rib.get(prefix)
            .and_then(|paths| paths.get(0))
            .cloned()
            .unwrap_or(Value::Null)
    }
}

impl RouterUnderTest for GobgpRouter {
    const NAME: &'static str = "GoBGP";
    const TAG: &'static str = "g";
    const NEEDS: &'static [Need] = &[Need::Root, Need::Binary("gobgpd"), Need::Binary("gobgp")];
    const REPORTS: Reports = Reports {
        hold_time: true,
        route_stale: true,
        community_order: true,
        ..Reports::NONE
    };

    fn start(ns: &Netns, config: &RouterConfig) -> GobgpRouter {
        let gobgp = Gobgp::start(ns, &gobgp_conf(config));
        for p in &config.originate {
            let afi = if p.contains(':') { "ipv6" } else { "ipv4" };
            gobgp.gobgp(&["global", "rib", "add", p, "-a", afi]);
        }
        GobgpRouter {
            gobgp,
            config: config.clone(),
        }
    }

    fn supports(feature: Feature) -> bool {
        match feature {
            // The gobgp CLI has no command that sends a ROUTE-REFRESH.
            Feature::SendRouteRefresh => false,
            // gobgpd always announces the 4-octet AS capability.
            Feature::TwoOctetSession => false,
            Feature::ListenPort | Feature::Restart => true,
        }
    }

    fn bgp_pid(&self, ns: &Netns) -> u32 {
        pid_of(ns, "gobgpd").expect("gobgpd pid")
    }

    fn session(&self, n: usize) -> SessionInfo {
        let a = self.address(n);
        let j = self.gobgp.gobgp_json(&["neighbor", a]);
        SessionInfo {
            established: self.gobgp.neighbor_state(a).as_deref() == Some("established"),
            hold_time: j["timers"]["state"]["negotiated_hold_time"].as_u64(),
            ..SessionInfo::default()
        }
    }

    fn wait_established(&self, n: usize, deadline: Duration) {
        self.gobgp.wait_established(self.address(n), deadline);
    }

    fn prefixes(&self, family: Family) -> Vec<String> {
        self.gobgp.prefixes(family == Family::IPV6_UNICAST)
    }

    fn route(&self, prefix: &str) -> Option<RibRoute> {
        let p = self.path(prefix);
        let attrs = p.get("attrs")?.as_array()?.clone();
        let as_path = attr(&attrs, 2)["as_paths"]
            .as_array()
            .map(|segs| {
                segs.iter()
                    .flat_map(|s| s["asns"].as_array().cloned().unwrap_or_default())
                    .filter_map(|a| a.as_u64().map(|a| a as u32))
                    .collect()
            })
            .unwrap_or_default();
        // MP_REACH_NLRI's next hop when there is one, else NEXT_HOP.
        let next_hop = [14, 3]
            .iter()
            .find_map(|t| attr(&attrs, *t)["nexthop"].as_str().map(str::to_owned));
        let comms = attr(&attrs, 8)["communities"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(Value::as_u64)
                    .map(|c| ((c >> 16) as u32, (c & 0xffff) as u32))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let mut large: Vec<(u32, u32, u32)> = attr(&attrs, 32)["value"]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|l| {
                        let n = |k: &str| l[k].as_u64().unwrap_or_default() as u32;
                        (n("ASN"), n("LocalData1"), n("LocalData2"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        large.sort_unstable();
        Some(RibRoute {
            as_path,
            next_hop,
            local_pref: attr(&attrs, 5)["value"].as_u64().map(|v| v as u32),
            communities: communities(comms),
            large_communities: large,
            stale: Some(p["stale"] == true),
            resolved: None,
        })
    }

    fn saw_cease(&self, n: usize, subcode: CeaseSubcode) -> Result<(), String> {
        let code = match subcode {
            // gobgpd logs no reason for a NOTIFICATION before Established; its counters
            // show it.
            CeaseSubcode::ConnectionRejected => {
                let j = self.gobgp.gobgp_json(&["neighbor", self.address(n)]);
                let got = j["state"]["messages"]["received"]["notification"]
                    .as_u64()
                    .unwrap_or(0);
                return if got >= 1 {
                    Ok(())
                } else {
                    Err(j["state"]["messages"].to_string())
                };
            }
            CeaseSubcode::PeerDeconfigured => 3,
            CeaseSubcode::OtherConfigurationChange => 6,
            CeaseSubcode::BfdDown => 10,
            other => panic!("GoBGP: no known evidence for Cease {other:?}"),
        };
        let needle = format!("code 6(cease) subcode {code}");
        if self.log().contains(&needle) {
            Ok(())
        } else {
            Err(format!("no {needle:?} in gobgpd's log yet"))
        }
    }

    fn send_route_refresh(&self, _n: usize) {
        panic!("GoBGP cannot send a ROUTE-REFRESH (Feature::SendRouteRefresh)");
    }
}
