//! Prometheus metrics with MetalLB's names (so its dashboards keep working), plus `/healthz` and
//! `/readyz`, served by a minimal HTTP/1.1 responder (one request per connection, GET only).
//!
//! Values are read at scrape time from the speaker's session counters and the plan in force:
//! the exposition is rendered by [`render`], a pure function, so names, labels and types are
//! unit-tested. Labels follow MetalLB: `peer` (the peer address, or the interface of an
//! unnumbered peer) and `vrf` (empty for the default VRF) on session metrics; `ip`, `node`,
//! `protocol`, `service` on `metallb_speaker_announced`.

use crate::error::AgentError;
use crate::runtime::{Shared, Status};
use metalroute_bgp::bfd::SessionStatus;
use metalroute_bgp::fsm::State;
use metalroute_bgp::session::PeerStatus;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Starts serving on `addr`.
pub async fn serve(addr: SocketAddr, shared: Arc<Shared>) -> Result<JoinHandle<()>, AgentError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| AgentError::Listen {
            what: "metrics",
            address: addr.to_string(),
            source,
        })?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let _ =
                            tokio::time::timeout(Duration::from_secs(10), handle(stream, &shared))
                                .await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

async fn handle(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (code, ctype, body) = if method != "GET" && method != "HEAD" {
        (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        )
    } else {
        match path {
            "/metrics" => {
                let status = shared.status();
                let peers = shared.speaker.peers().await.unwrap_or_default();
                let bfd = match shared.bfd_handle() {
                    Some(h) => h.sessions().await.unwrap_or_default(),
                    None => Vec::new(),
                };
                (
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    render(&status, &peers, &bfd),
                )
            }
            "/healthz" => ("200 OK", "text/plain", "ok\n".to_string()),
            "/readyz" => {
                let s = shared.status();
                if s.ready {
                    ("200 OK", "text/plain", "ready\n".to_string())
                } else {
                    (
                        "503 Service Unavailable",
                        "text/plain",
                        "no plan applied yet\n".to_string(),
                    )
                }
            }
            _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
        }
    };
    let mut resp = format!(
        "HTTP/1.1 {code}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        resp.push_str(&body);
    }
    stream.write_all(resp.as_bytes()).await?;
    stream.shutdown().await
}

/// Escapes a label value (backslash, quote, newline).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

type PeerValue = fn(&PeerStatus) -> u64;

/// Session metrics: name, type, help, value.
const SESSION_METRICS: [(&str, &str, &str, PeerValue); 12] = [
    (
        "metallb_bgp_session_up",
        "gauge",
        "BGP session state (1 is up, 0 is down)",
        |p| u64::from(p.state == State::Established),
    ),
    (
        "metallb_bgp_updates_total",
        "counter",
        "Number of BGP UPDATE messages sent",
        |p| p.messages.updates_sent,
    ),
    (
        "metallb_bgp_announced_prefixes_total",
        "gauge",
        "Number of prefixes currently being advertised on the BGP session",
        |p| p.prefixes_sent.values().sum::<usize>() as u64,
    ),
    (
        "metallb_bgp_opens_sent",
        "counter",
        "Number of BGP open messages sent",
        |p| p.messages.opens_sent,
    ),
    (
        "metallb_bgp_opens_received",
        "counter",
        "Number of BGP open messages received",
        |p| p.messages.opens_received,
    ),
    (
        "metallb_bgp_notifications_sent",
        "counter",
        "Number of BGP notification messages sent",
        |p| p.messages.notifications_sent,
    ),
    (
        "metallb_bgp_updates_total_received",
        "counter",
        "Number of BGP UPDATE messages received",
        |p| p.messages.updates_received,
    ),
    (
        "metallb_bgp_keepalives_sent",
        "counter",
        "Number of BGP keepalive messages sent",
        |p| p.messages.keepalives_sent,
    ),
    (
        "metallb_bgp_keepalives_received",
        "counter",
        "Number of BGP keepalive messages received",
        |p| p.messages.keepalives_received,
    ),
    (
        "metallb_bgp_route_refresh_sent",
        "counter",
        "Number of BGP route refresh messages sent",
        |p| p.messages.route_refresh_sent,
    ),
    (
        "metallb_bgp_total_sent",
        "counter",
        "Number of total BGP messages sent",
        |p| p.messages.total_sent(),
    ),
    (
        "metallb_bgp_total_received",
        "counter",
        "Number of total BGP messages received",
        |p| p.messages.total_received(),
    ),
];

type BfdValue = Option<fn(&SessionStatus) -> u64>;

/// BFD metrics (MetalLB's names); the up/down event counters (no value function here) come
/// from the agent's own count of transitions, `Status::bfd_events`.
const BFD_METRICS: [(&str, &str, &str, BfdValue); 5] = [
    (
        "metallb_bfd_session_up",
        "gauge",
        "BFD session state (1 is up, 0 is down)",
        Some(|s| u64::from(s.state == metalroute_bgp::bfd::State::Up)),
    ),
    (
        "metallb_bfd_control_packet_input",
        "counter",
        "Number of received BFD control packets",
        Some(|s| s.rx_packets),
    ),
    (
        "metallb_bfd_control_packet_output",
        "counter",
        "Number of sent BFD control packets",
        Some(|s| s.tx_packets),
    ),
    (
        "metallb_bfd_session_up_events",
        "counter",
        "Number of BFD session up events",
        None,
    ),
    (
        "metallb_bfd_session_down_events",
        "counter",
        "Number of BFD session down events",
        None,
    ),
];

/// The Prometheus text exposition of a status and the speaker's peers. Pure.
pub fn render(status: &Status, peers: &[PeerStatus], bfd: &[SessionStatus]) -> String {
    let mut out = String::new();
    for (name, kind, help, value) in SESSION_METRICS {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for p in peers {
            let _ = writeln!(
                out,
                "{name}{{peer=\"{}\",vrf=\"{}\"}} {}",
                esc(&p.peer.label()),
                esc(p.peer.vrf.as_deref().unwrap_or("")),
                value(p)
            );
        }
    }
    for (name, kind, help, value) in BFD_METRICS {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        let Some(value) = value else {
            let up = name.ends_with("_up_events");
            for (k, (u, d)) in &status.bfd_events {
                let _ = writeln!(
                    out,
                    "{name}{{peer=\"{}\",vrf=\"{}\"}} {}",
                    k.peer,
                    esc(k.vrf.as_deref().unwrap_or("")),
                    if up { u } else { d }
                );
            }
            continue;
        };
        for s in bfd {
            let _ = writeln!(
                out,
                "{name}{{peer=\"{}\",vrf=\"{}\"}} {}",
                s.key.peer,
                esc(s.key.vrf.as_deref().unwrap_or("")),
                value(s)
            );
        }
    }
    let name = "metallb_speaker_announced";
    let _ = writeln!(out, "# HELP {name} Services being announced from this node. This is desired state, it does not guarantee that the routing protocols have converged.\n# TYPE {name} gauge");
    if let Some(plan) = &status.plan {
        for (ip, services) in plan.announced_ips() {
            for svc in services {
                let _ = writeln!(
                    out,
                    "{name}{{ip=\"{ip}\",node=\"{}\",protocol=\"bgp\",service=\"{}\"}} 1",
                    esc(&plan.node),
                    esc(&svc.to_string())
                );
            }
        }
    }
    let _ = writeln!(out, "# HELP metalroute_config_stale_files Configuration files that cannot be parsed now and objects whose new version is invalid (their last good version is used)\n# TYPE metalroute_config_stale_files gauge\nmetalroute_config_stale_files {}", status.file_problems.len());
    let invalid = status.plan.as_ref().map_or(0, |p| p.invalid_objects.len());
    let _ = writeln!(out, "# HELP metalroute_config_invalid_objects Objects left out because they are invalid\n# TYPE metalroute_config_invalid_objects gauge\nmetalroute_config_invalid_objects {invalid}");
    let _ = writeln!(out, "# HELP metalroute_plans_total Plans made since start\n# TYPE metalroute_plans_total counter\nmetalroute_plans_total {}", status.plans);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use metalroute_crds::loader::load_str;
    use metalroute_crds::object::ReadOptions;
    use metalroute_crds::snapshot::Snapshot;

    #[test]
    fn metallb_names_and_speaker_announced() {
        let yaml = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {namespace: metallb-system, name: web}\nspec: {addresses: [203.0.113.0/28]}\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {namespace: metallb-system, name: web}\nspec: {}\n---\napiVersion: v1\nkind: Service\nmetadata: {namespace: default, name: web}\nspec: {type: LoadBalancer}\nstatus: {loadBalancer: {ingress: [{ip: 203.0.113.1}]}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {namespace: default, name: web-1, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nendpoints: [{addresses: [10.0.0.1], nodeName: n1}]\n";
        let loaded = load_str(yaml, None, &ReadOptions::default());
        let snap = Snapshot::from_objects(loaded.objects, &ReadOptions::default());
        let status = Status {
            plan: Some(Arc::new(crate::planner::plan(&snap, "n1"))),
            ..Status::default()
        };
        let text = render(&status, &[], &[]);
        for name in [
            "metallb_bgp_session_up",
            "metallb_bgp_updates_total",
            "metallb_bgp_announced_prefixes_total",
            "metallb_bgp_opens_sent",
            "metallb_bgp_opens_received",
            "metallb_bgp_notifications_sent",
            "metallb_bgp_updates_total_received",
            "metallb_bgp_keepalives_sent",
            "metallb_bgp_keepalives_received",
            "metallb_bgp_route_refresh_sent",
            "metallb_bgp_total_sent",
            "metallb_bgp_total_received",
            "metallb_bfd_session_up",
            "metallb_bfd_control_packet_input",
            "metallb_bfd_control_packet_output",
            "metallb_bfd_session_up_events",
            "metallb_bfd_session_down_events",
            "metallb_speaker_announced",
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} missing:\n{text}"
            );
        }
        assert!(text.contains("metallb_speaker_announced{ip=\"203.0.113.1\",node=\"n1\",protocol=\"bgp\",service=\"default/web\"} 1"), "{text}");
    }

    #[test]
    fn unnumbered_peer_label_is_its_interface() {
        use metalroute_bgp::config::{Asn, PeerAsn, PeerConfig};
        let mut config = PeerConfig::unnumbered(
            Asn(64512),
            PeerAsn::DynamicExternal,
            "eth1",
            std::net::Ipv4Addr::new(192, 0, 2, 11),
        );
        config.vrf = Some("red".into());
        let s = metalroute_bgp::session::Session::new(
            config,
            Box::new(metalroute_bgp::fsm::SplitMix(1)),
        );
        let peers = [s.status(std::time::Instant::now())];
        let text = render(&Status::default(), &peers, &[]);
        assert!(
            text.contains("metallb_bgp_session_up{peer=\"eth1\",vrf=\"red\"} 0"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
