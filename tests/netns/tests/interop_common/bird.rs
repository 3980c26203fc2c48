//! BIRD 2 as [`RouterUnderTest`]: one `protocol bgp peerN` per neighbor, originated prefixes
//! from `protocol static`, observations from `birdc show route … all`, `show protocols all`
//! and BIRD's log.

use super::router::{
    communities, paren_groups, parse_as_path, Feature, Neighbor, Reports, RibRoute, RouterConfig,
    RouterUnderTest, SessionInfo,
};
use metalroute_bgp::config::Family;
use metalroute_bgp::packet::CeaseSubcode;
use metalroute_netns::{Bird, Need, Netns};
use std::time::Duration;

/// BIRD with the configuration it was started with.
pub struct BirdRouter {
    /// The running daemon.
    pub bird: Bird,
}

/// BIRD's channel name of a family.
fn channel(f: Family) -> &'static str {
    if f == Family::IPV6_UNICAST {
        "ipv6"
    } else {
        "ipv4"
    }
}

/// The name of neighbor `n`'s BGP protocol.
fn protocol(n: usize) -> String {
    format!("peer{n}")
}

/// One `protocol bgp` block.
fn bgp_protocol(i: usize, n: &Neighbor, config: &RouterConfig) -> String {
    let local_port = if config.listen_port == 179 {
        String::new()
    } else {
        format!(" port {}", config.listen_port)
    };
    let remote_port = n
        .remote_port
        .map(|p| format!(" port {p}"))
        .unwrap_or_default();
    let mut opts = String::new();
    if let Some(h) = n.multihop {
        opts.push_str(&format!("    multihop {h};\n"));
    }
    if let Some(p) = n.password {
        opts.push_str(&format!("    password \"{p}\";\n"));
    }
    if n.gtsm {
        opts.push_str("    ttl security on;\n");
    }
    if n.graceful_restart {
        opts.push_str("    graceful restart on;\n");
    }
    if !n.four_octet_as {
        opts.push_str("    enable as4 off;\n");
    }
    if n.quick_restart_after_error {
        opts.push_str("    error wait time 1, 2;\n");
    }
    let mut channels = String::new();
    for f in &n.families {
        channels.push_str(&format!(
            "    {} {{ import all; export where source = RTS_STATIC; }};\n",
            channel(*f)
        ));
    }
    format!(
        "protocol bgp {name} {{\n    local {local}{local_port} as {asn};\n    neighbor {addr}{remote_port} as {remote_as};\n{opts}    connect delay time 0; connect retry time 1;\n    hold time 9;\n{channels}}}\n",
        name = protocol(i),
        local = n.local,
        asn = config.asn,
        addr = n.address,
        remote_as = n.remote_as,
    )
}

/// The whole bird.conf.
fn bird_conf(config: &RouterConfig) -> String {
    let mut c = format!(
        "router id {};\nprotocol device {{ }}\nprotocol direct {{ ipv4; ipv6; }}\n",
        config.router_id
    );
    if config.neighbors.iter().any(|n| n.multihop.is_some()) {
        // BIRD resolves a multihop next hop recursively: it learns the kernel route to us.
        c.push_str("protocol kernel { ipv4 { import all; export none; }; learn; }\n");
    }
    for f in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
        let routes: String = config
            .originate
            .iter()
            .filter(|p| p.contains(':') == (f == Family::IPV6_UNICAST))
            .map(|p| format!(" route {p} blackhole;"))
            .collect();
        if !routes.is_empty() {
            c.push_str(&format!(
                "protocol static st{} {{ {};{routes} }}\n",
                channel(f),
                channel(f)
            ));
        }
    }
    for (i, n) in config.neighbors.iter().enumerate() {
        c.push_str(&bgp_protocol(i, n, config));
    }
    c
}

/// The value after `key` on the first line (trimmed) that has it.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .map(str::trim)
}

impl BirdRouter {
    /// `show protocols all peerN`.
    pub fn protocol_text(&self, n: usize) -> String {
        self.bird
            .birdc(&format!("show protocols all {}", protocol(n)))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.bird.log_path())
            .unwrap_or_default()
            .to_ascii_lowercase()
    }
}

impl RouterUnderTest for BirdRouter {
    const NAME: &'static str = "BIRD";
    const TAG: &'static str = "b";
    const NEEDS: &'static [Need] = &[Need::Root, Need::Binary("bird"), Need::Binary("birdc")];
    const REPORTS: Reports = Reports {
        hold_time: true,
        families: true,
        remote_address: true,
        peer_gr_capable: true,
        peer_restarting: true,
        resolved_next_hop: true,
        ..Reports::NONE
    };

    fn start(ns: &Netns, config: &RouterConfig) -> BirdRouter {
        BirdRouter {
            bird: Bird::start(ns, &bird_conf(config)),
        }
    }

    fn supports(feature: Feature) -> bool {
        match feature {
            Feature::SendRouteRefresh
            | Feature::TwoOctetSession
            | Feature::ListenPort
            | Feature::Restart => true,
        }
    }

    fn bgp_pid(&self, _ns: &Netns) -> u32 {
        let text = std::fs::read_to_string(self.bird.dir().join("bird.pid")).expect("bird.pid");
        text.trim().parse().expect("pid in bird.pid")
    }

    fn session(&self, n: usize) -> SessionInfo {
        let p = self.protocol_text(n);
        let mut families = Vec::new();
        if p.contains("Channel ipv4") {
            families.push(Family::IPV4_UNICAST);
        }
        if p.contains("Channel ipv6") {
            families.push(Family::IPV6_UNICAST);
        }
        SessionInfo {
            established: field(&p, "BGP state:") == Some("Established"),
            // "Hold timer: 6.123/9": remaining/negotiated.
            hold_time: field(&p, "Hold timer:")
                .and_then(|h| h.rsplit('/').next())
                .and_then(|h| h.trim().parse().ok()),
            families: Some(families),
            remote_address: field(&p, "Neighbor address:").map(str::to_owned),
            peer_gr_capable: Some(p.contains("Neighbor GR capabilities") || p.contains("Restart")),
            peer_restarting: Some(p.contains("Neighbor graceful restart active")),
            ..SessionInfo::default()
        }
    }

    fn wait_established(&self, n: usize, deadline: Duration) {
        self.bird.wait_established(&protocol(n), deadline);
    }

    fn prefixes(&self, family: Family) -> Vec<String> {
        // Only what BIRD learned over BGP (not its direct or static routes).
        let text = self.bird.birdc("show route where source = RTS_BGP");
        let mut v: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with([' ', '\t']))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| w.contains('/') && w.chars().next().is_some_and(|c| c.is_ascii_hexdigit()))
            .filter(|w| w.contains(':') == (family == Family::IPV6_UNICAST))
            .map(str::to_owned)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    fn route(&self, prefix: &str) -> Option<RibRoute> {
        let r = self.bird.birdc(&format!("show route {prefix} all"));
        if !r.lines().any(|l| l.starts_with(prefix)) {
            return None;
        }
        let mut large: Vec<(u32, u32, u32)> =
            paren_groups(field(&r, "BGP.large_community:").unwrap_or(""))
                .iter()
                .map(|g| (g[0], g[1], g[2]))
                .collect();
        large.sort_unstable();
        Some(RibRoute {
            as_path: parse_as_path(
                field(&r, "BGP.as_path:").unwrap_or_else(|| panic!("no BGP.as_path: {r}")),
            ),
            next_hop: field(&r, "BGP.next_hop:")
                .and_then(|n| n.split_whitespace().next())
                .map(str::to_owned),
            local_pref: field(&r, "BGP.local_pref:").and_then(|v| v.parse().ok()),
            communities: communities(
                paren_groups(field(&r, "BGP.community:").unwrap_or(""))
                    .iter()
                    .map(|g| (g[0], g[1])),
            ),
            large_communities: large,
            stale: None,
            resolved: field(&r, "via ").map(str::to_owned),
        })
    }

    fn saw_cease(&self, n: usize, subcode: CeaseSubcode) -> Result<(), String> {
        let protocols = self.protocol_text(n).to_ascii_lowercase();
        let seen = match subcode {
            // BIRD 2.0 has no name for Cease subcode 10: it logs "Unknown error 6.10".
            CeaseSubcode::BfdDown => self.log().lines().any(|l| {
                l.contains("received:") && (l.contains("error 6.10") || l.contains("bfd"))
            }),
            CeaseSubcode::PeerDeconfigured => protocols.contains("de-configured"),
            CeaseSubcode::OtherConfigurationChange => {
                self.log().contains("other configuration change")
            }
            CeaseSubcode::ConnectionRejected => protocols.contains("connection rejected"),
            other => panic!("BIRD: no known evidence for Cease {other:?}"),
        };
        if seen {
            Ok(())
        } else {
            Err(format!("not seen yet: {protocols}"))
        }
    }

    fn send_route_refresh(&self, n: usize) {
        self.bird.birdc(&format!("reload in {}", protocol(n)));
    }
}
