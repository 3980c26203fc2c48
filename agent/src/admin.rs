//! The admin socket: a Unix stream socket (default `/run/metalroute/admin.sock`) through which
//! `metalroute show ...` asks the running agent for its state.
//!
//! Protocol: the client writes one JSON line `{"show": "bgp summary", "peer": null, "json":
//! false}` and reads one JSON document `{"ok": true, "text": "..."}` (or `"data": {...}` when
//! `json` is true, or `{"ok": false, "error": "..."}`), after which the server closes the
//! connection. Rendering is pure ([`render`]) so the output shapes are unit-tested; text is
//! shaped like vtysh's, JSON like FRR's `... json` where FRR has an equivalent.

use crate::error::AgentError;
use crate::runtime::{Shared, Status};
use metalroute_bgp::bfd::SessionStatus;
use metalroute_bgp::config::{Family, PeerId};
use metalroute_bgp::session::PeerStatus;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

/// The default socket path.
pub const DEFAULT_SOCKET: &str = "/run/metalroute/admin.sock";

/// Environment variable naming the socket path.
pub const SOCKET_ENV: &str = "METALROUTE_ADMIN_SOCKET";

/// Longest request line accepted.
const MAX_REQUEST: usize = 4096;

/// What to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Topic {
    /// `show bgp summary`.
    #[serde(rename = "bgp summary")]
    BgpSummary,
    /// `show bgp neighbors [PEER]`.
    #[serde(rename = "bgp neighbors")]
    BgpNeighbors,
    /// `show bgp advertised [PEER]`.
    #[serde(rename = "bgp advertised")]
    BgpAdvertised,
    /// `show bfd peers`.
    #[serde(rename = "bfd peers")]
    BfdPeers,
    /// `show plan`.
    #[serde(rename = "plan")]
    Plan,
}

/// One request over the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// What to show.
    pub show: Topic,
    /// Restrict to one peer: a BGPPeer name, a peer address, or an unnumbered peer's interface.
    #[serde(default)]
    pub peer: Option<String>,
    /// JSON instead of text.
    #[serde(default)]
    pub json: bool,
}

/// Starts serving on `path` (its directory is created; a stale socket file is replaced).
pub fn serve(path: &Path, shared: Arc<Shared>) -> Result<JoinHandle<()>, AgentError> {
    let err = |source| AgentError::Listen {
        what: "admin socket",
        address: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        if let Err(e) = handle(stream, &shared).await {
                            tracing::debug!(error = %e, "admin connection");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "admin socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

async fn handle(stream: UnixStream, shared: &Shared) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(r).take(MAX_REQUEST as u64);
    reader.read_line(&mut line).await?;
    let reply = match serde_json::from_str::<Request>(line.trim()) {
        Err(e) => json!({"ok": false, "error": format!("bad request: {e}")}),
        Ok(req) => answer(&req, shared).await,
    };
    w.write_all(reply.to_string().as_bytes()).await?;
    w.write_all(b"\n").await?;
    w.shutdown().await
}

async fn answer(req: &Request, shared: &Shared) -> Value {
    let status = shared.status();
    let peers = match shared.speaker.peers().await {
        Ok(p) => p,
        Err(e) => return json!({"ok": false, "error": e.to_string()}),
    };
    let bfd = match shared.bfd_handle() {
        Some(h) => h.sessions().await.unwrap_or_default(),
        None => Vec::new(),
    };
    match render(req, &status, &peers, &bfd) {
        Ok(Output::Text(t)) => json!({"ok": true, "text": t}),
        Ok(Output::Json(v)) => json!({"ok": true, "data": v}),
        Err(e) => json!({"ok": false, "error": e}),
    }
}

/// A rendered answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// vtysh-like text.
    Text(String),
    /// JSON for scripts.
    Json(Value),
}

/// Sends one request to the agent listening on `path` and returns its answer.
pub async fn query(path: &Path, req: &Request) -> Result<Output, AgentError> {
    let fail = |reason: String| AgentError::Admin {
        path: PathBuf::from(path),
        reason,
    };
    let stream = UnixStream::connect(path).await.map_err(|e| {
        fail(format!(
            "{e} (is `metalroute run` running with this --admin-socket?)"
        ))
    })?;
    let (r, mut w) = stream.into_split();
    let mut body = serde_json::to_string(req).map_err(|e| fail(e.to_string()))?;
    body.push('\n');
    w.write_all(body.as_bytes())
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut text = String::new();
    let mut reader = BufReader::new(r);
    tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut text))
        .await
        .map_err(|_| fail("no answer within 10s".into()))?
        .map_err(|e| fail(e.to_string()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| fail(format!("bad answer: {e}")))?;
    if v["ok"].as_bool() != Some(true) {
        return Err(fail(
            v["error"].as_str().unwrap_or("unknown error").to_string(),
        ));
    }
    match (v.get("text").and_then(Value::as_str), v.get("data")) {
        (Some(t), _) => Ok(Output::Text(t.to_string())),
        (None, Some(d)) => Ok(Output::Json(d.clone())),
        _ => Err(fail("answer has neither text nor data".into())),
    }
}

/// `hh:mm:ss` like vtysh's Up/Down column (days as `NdHHhMMm` past a day).
pub fn uptime(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 86_400 {
        format!(
            "{}d{:02}h{:02}m",
            s / 86_400,
            (s % 86_400) / 3600,
            (s % 3600) / 60
        )
    } else {
        format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    }
}

fn name_of<'a>(status: &'a Status, p: &PeerStatus) -> &'a str {
    status
        .sessions
        .get(&p.peer)
        .map(String::as_str)
        .unwrap_or("")
}

fn matches(status: &Status, p: &PeerStatus, filter: &Option<String>) -> bool {
    match filter {
        None => true,
        Some(f) => name_of(status, p) == f || p.peer.label() == *f,
    }
}

fn family_counts(m: &std::collections::BTreeMap<Family, usize>) -> usize {
    m.values().sum()
}

/// One peer as JSON: a numbered peer has `address`, an unnumbered one `interface`.
fn peer_json(status: &Status, p: &PeerStatus) -> Value {
    let mut v = json!({
        "name": name_of(status, p),
        "vrf": p.peer.vrf.as_deref().unwrap_or("default"),
        "localAs": p.local_asn.0,
        "remoteAs": p.peer_asn.map(|a| a.0),
        "state": p.state.name(),
        "peerUptimeMsec": p.uptime.map(|u| u.as_millis() as u64),
        "remoteRouterId": p.peer_router_id.map(|r| r.to_string()),
        "holdTimeSecs": p.hold_time.map(|h| h.secs()),
        "keepaliveSecs": p.keepalive.map(|k| k.as_secs()),
        "families": p.families.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "pfxSnt": family_counts(&p.prefixes_sent),
        "pfxRcd": family_counts(&p.prefixes_received),
        "pfxDesired": family_counts(&p.prefixes_desired),
        "msgSent": p.messages.total_sent(),
        "msgRcvd": p.messages.total_received(),
        "messages": {
            "opensSent": p.messages.opens_sent, "opensReceived": p.messages.opens_received,
            "updatesSent": p.messages.updates_sent, "updatesReceived": p.messages.updates_received,
            "keepalivesSent": p.messages.keepalives_sent, "keepalivesReceived": p.messages.keepalives_received,
            "notificationsSent": p.messages.notifications_sent, "notificationsReceived": p.messages.notifications_received,
            "routeRefreshSent": p.messages.route_refresh_sent, "routeRefreshReceived": p.messages.route_refresh_received,
        },
        "lastError": p.last_error,
        "localAddress": p.local_address.map(|a| a.to_string()),
    });
    let (field, peer) = match &p.peer.id {
        PeerId::Address(a) => ("address", a.to_string()),
        PeerId::Interface(i) => ("interface", i.to_string()),
    };
    if let Value::Object(m) = &mut v {
        m.insert(field.to_string(), Value::String(peer));
    }
    v
}

/// Renders one request from a status copy and the speaker's peers. Pure.
pub fn render(
    req: &Request,
    status: &Status,
    peers: &[PeerStatus],
    bfd_sessions: &[SessionStatus],
) -> Result<Output, String> {
    let selected: Vec<&PeerStatus> = peers
        .iter()
        .filter(|p| matches(status, p, &req.peer))
        .collect();
    if req.peer.is_some()
        && selected.is_empty()
        && req.show != Topic::Plan
        && req.show != Topic::BfdPeers
    {
        return Err(format!(
            "no BGP session for peer {} (give a BGPPeer name or a peer address)",
            req.peer.as_deref().unwrap_or("")
        ));
    }
    match req.show {
        Topic::BgpSummary => Ok(summary(status, &selected, req.json)),
        Topic::BgpNeighbors => Ok(neighbors(status, &selected, req.json)),
        Topic::BgpAdvertised => Ok(advertised(status, &selected, req.json)),
        Topic::BfdPeers => Ok(bfd(status, req, bfd_sessions)),
        Topic::Plan => Ok(match &status.plan {
            None => Output::Text("no plan yet\n".into()),
            Some(p) if req.json => Output::Json(p.to_json()),
            Some(p) => {
                let mut t = p.to_string();
                let _ = writeln!(t, "\nAgent:\n  network state: {}", status.network);
                for f in &status.file_problems {
                    let _ = writeln!(t, "  configuration problem: {f}");
                }
                for sp in &status.session_problems {
                    let _ = writeln!(t, "  BGPPeer {} not running: {}", sp.peer, sp.reason);
                }
                if let Some(e) = &status.source_error {
                    let _ = writeln!(t, "  configuration unreadable, last plan kept: {e}");
                }
                Output::Text(t)
            }
        }),
    }
}

fn summary(status: &Status, peers: &[&PeerStatus], as_json: bool) -> Output {
    let mut by_vrf: std::collections::BTreeMap<String, Vec<&PeerStatus>> = Default::default();
    for p in peers {
        by_vrf
            .entry(p.peer.vrf.clone().unwrap_or_else(|| "default".into()))
            .or_default()
            .push(p);
    }
    if as_json {
        let v: serde_json::Map<String, Value> = by_vrf
            .iter()
            .map(|(vrf, ps)| {
                let first = ps[0];
                let peers: serde_json::Map<String, Value> = ps
                    .iter()
                    .map(|p| (p.peer.label(), peer_json(status, p)))
                    .collect();
                (
                    vrf.clone(),
                    json!({"localAs": first.local_asn.0, "peers": peers, "peerCount": ps.len()}),
                )
            })
            .collect();
        return Output::Json(json!({"node": node_name(status), "vrfs": v}));
    }
    let mut out = String::new();
    if by_vrf.is_empty() {
        out.push_str("No BGP sessions.\n");
    }
    for (vrf, ps) in &by_vrf {
        let _ = writeln!(out, "BGP summary for VRF {vrf}, node {}", node_name(status));
        let _ = writeln!(out, "Local AS number {}", ps[0].local_asn);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<26} {:>10} {:>9} {:>9} {:>10} {:>13} {:>8} Desc",
            "Neighbor", "AS", "MsgRcvd", "MsgSent", "Up/Down", "State/PfxRcd", "PfxSnt"
        );
        for p in ps {
            let updown = p.uptime.map(uptime).unwrap_or_else(|| "never".into());
            let state = if p.state == metalroute_bgp::fsm::State::Established {
                family_counts(&p.prefixes_received).to_string()
            } else {
                p.state.name().to_string()
            };
            let asn = p
                .peer_asn
                .map(|a| a.to_string())
                .unwrap_or_else(|| "?".into());
            let _ = writeln!(
                out,
                "{:<26} {:>10} {:>9} {:>9} {:>10} {:>13} {:>8} {}",
                p.peer.label(),
                asn,
                p.messages.total_received(),
                p.messages.total_sent(),
                updown,
                state,
                family_counts(&p.prefixes_sent),
                name_of(status, p)
            );
        }
        let _ = writeln!(out, "\nTotal number of neighbors {}\n", ps.len());
    }
    for prob in &status.session_problems {
        let _ = writeln!(out, "% BGPPeer {} not running: {}", prob.peer, prob.reason);
    }
    Output::Text(out)
}

fn node_name(status: &Status) -> &str {
    status.plan.as_ref().map(|p| p.node.as_str()).unwrap_or("")
}

fn neighbors(status: &Status, peers: &[&PeerStatus], as_json: bool) -> Output {
    if as_json {
        let v: serde_json::Map<String, Value> = peers
            .iter()
            .map(|p| (p.peer.to_string(), peer_json(status, p)))
            .collect();
        return Output::Json(Value::Object(v));
    }
    let mut out = String::new();
    for p in peers {
        let m = &p.messages;
        let _ = writeln!(
            out,
            "BGP neighbor is {}, remote AS {}, local AS {}, {} link",
            p.peer.label(),
            p.peer_asn
                .map(|a| a.to_string())
                .unwrap_or_else(|| "?".into()),
            p.local_asn,
            if p.peer_asn == Some(p.local_asn) {
                "internal"
            } else {
                "external"
            }
        );
        let _ = writeln!(
            out,
            "  BGPPeer {}, VRF {}",
            name_of(status, p),
            p.peer.vrf.as_deref().unwrap_or("default")
        );
        let _ = writeln!(
            out,
            "  BGP version 4, remote router ID {}",
            p.peer_router_id
                .map(|r| r.to_string())
                .unwrap_or_else(|| "0.0.0.0".into())
        );
        let _ = write!(out, "  BGP state = {}", p.state);
        if let Some(u) = p.uptime {
            let _ = write!(out, ", up for {}", uptime(u));
        }
        let _ = writeln!(out);
        if let (Some(h), Some(k)) = (p.hold_time, p.keepalive) {
            let _ = writeln!(
                out,
                "  Hold time is {} seconds, keepalive interval is {} seconds",
                h.secs(),
                k.as_secs()
            );
        }
        if !p.families.is_empty() {
            let f: Vec<String> = p.families.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "  Address families negotiated: {}", f.join(", "));
        }
        let _ = writeln!(out, "  Message statistics:");
        let _ = writeln!(out, "{:>24} {:>10} {:>10}", "", "Sent", "Rcvd");
        for (n, s, r) in [
            ("Opens:", m.opens_sent, m.opens_received),
            (
                "Notifications:",
                m.notifications_sent,
                m.notifications_received,
            ),
            ("Updates:", m.updates_sent, m.updates_received),
            ("Keepalives:", m.keepalives_sent, m.keepalives_received),
            (
                "Route Refresh:",
                m.route_refresh_sent,
                m.route_refresh_received,
            ),
            ("Total:", m.total_sent(), m.total_received()),
        ] {
            let _ = writeln!(out, "    {n:<20} {s:>10} {r:>10}");
        }
        let _ = writeln!(
            out,
            "  Prefixes: {} sent, {} received, {} desired",
            family_counts(&p.prefixes_sent),
            family_counts(&p.prefixes_received),
            family_counts(&p.prefixes_desired)
        );
        if let Some(a) = p.local_address {
            let _ = writeln!(out, "  Local host: {a}");
        }
        if let Some(e) = &p.last_error {
            let _ = writeln!(out, "  Last reset: {e}");
        }
        let _ = writeln!(out);
    }
    if out.is_empty() {
        out.push_str("No BGP sessions.\n");
    }
    Output::Text(out)
}

fn advertised(status: &Status, peers: &[&PeerStatus], as_json: bool) -> Output {
    let plan = status.plan.as_deref();
    let mut json_out = serde_json::Map::new();
    let mut out = String::new();
    for p in peers {
        let name = name_of(status, p);
        let session = plan.and_then(|pl| pl.session(name));
        let ads = session.map(|s| &s.advertisements);
        if as_json {
            let routes: serde_json::Map<String, Value> = ads
                .into_iter()
                .flatten()
                .map(|(prefix, ad)| {
                    (
                        prefix.to_string(),
                        json!({
                            "localPref": ad.attributes.local_pref,
                            "communities": ad.attributes.communities.iter().map(ToString::to_string).collect::<Vec<_>>(),
                            "services": ad.services.iter().map(ToString::to_string).collect::<Vec<_>>(),
                            "advertisements": ad.via,
                        }),
                    )
                })
                .collect();
            json_out.insert(
                p.peer.to_string(),
                json!({"name": name, "state": p.state.name(), "pfxSnt": family_counts(&p.prefixes_sent), "advertisedRoutes": routes}),
            );
            continue;
        }
        let _ = writeln!(out, "BGP neighbor {} ({name}), state {}", p.peer, p.state);
        let _ = writeln!(
            out,
            "   {:<43} {:>9}  {:<30} Services",
            "Network", "LocPrf", "Communities"
        );
        let mut n = 0;
        for (prefix, ad) in ads.into_iter().flatten() {
            n += 1;
            let comms: Vec<String> = ad
                .attributes
                .communities
                .iter()
                .map(ToString::to_string)
                .collect();
            let svcs: Vec<String> = ad.services.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "*> {:<43} {:>9}  {:<30} {}",
                prefix.to_string(),
                ad.attributes
                    .local_pref
                    .map(|l| l.to_string())
                    .unwrap_or_default(),
                comms.join(" "),
                svcs.join(",")
            );
        }
        let _ = writeln!(
            out,
            "\nTotal number of prefixes {n} ({} on the wire)\n",
            family_counts(&p.prefixes_sent)
        );
    }
    if as_json {
        return Output::Json(Value::Object(json_out));
    }
    if out.is_empty() {
        out.push_str("No BGP sessions.\n");
    }
    Output::Text(out)
}

fn bfd(status: &Status, req: &Request, sessions: &[SessionStatus]) -> Output {
    let name = |s: &SessionStatus| status.bfd_sessions.get(&s.key).cloned().unwrap_or_default();
    let selected: Vec<&SessionStatus> = sessions
        .iter()
        .filter(|s| match &req.peer {
            None => true,
            Some(f) => name(s) == *f || s.key.peer.to_string() == *f,
        })
        .collect();
    // Sessions the plan wants that do not run yet (their BGP session's local address is unknown).
    let running: std::collections::BTreeSet<String> = selected.iter().map(|s| name(s)).collect();
    let waiting: Vec<String> = status
        .plan
        .iter()
        .flat_map(|p| p.sessions())
        .filter(|(_, s)| s.params.bfd.is_some() && !running.contains(&s.params.peer))
        .filter(|(_, s)| {
            req.peer
                .as_ref()
                .is_none_or(|f| s.params.peer == *f || s.params.target.to_string() == *f)
        })
        .map(|(_, s)| s.params.peer.clone())
        .collect();
    if req.json {
        let v: Vec<Value> = selected
            .iter()
            .map(|s| {
                json!({
                    "peer": s.key.peer.to_string(),
                    "local": s.key.local.to_string(),
                    "vrf": s.key.vrf.as_deref().unwrap_or("default"),
                    "multihop": s.key.hop == metalroute_bgp::bfd::HopMode::MultiHop,
                    "interface": s.key.interface.as_deref(),
                    "bgpPeer": name(s),
                    "echo": s.echo_state.to_string(),
                    "echoPacketsReceived": s.echo_rx_packets,
                    "echoPacketsSent": s.echo_tx_packets,
                    "echoRttUsec": s.last_echo_rtt.map(|d| d.as_micros() as u64),
                    "status": s.state.to_string().to_lowercase(),
                    "remoteStatus": s.remote_state.to_string().to_lowercase(),
                    "uptimeMsec": s.up_since.map(|t| t.elapsed().as_millis() as u64),
                    "localDiscriminator": s.local_discriminator,
                    "remoteDiscriminator": s.remote_discriminator,
                    "diagnostic": s.local_diagnostic.to_string(),
                    "remoteDiagnostic": s.remote_diagnostic.to_string(),
                    "receiveIntervalMsec": s.required_min_rx.as_millis() as u64,
                    "transmitIntervalMsec": s.desired_min_tx.as_millis() as u64,
                    "detectionTimeMsec": s.detection_time.as_millis() as u64,
                    "remoteReceiveIntervalMsec": s.remote_min_rx.as_millis() as u64,
                    "remoteTransmitIntervalMsec": s.remote_desired_min_tx.as_millis() as u64,
                    "remoteDetectMultiplier": s.remote_detect_mult,
                    "controlPacketsReceived": s.rx_packets,
                    "controlPacketsSent": s.tx_packets,
                })
            })
            .collect();
        return Output::Json(json!({"peers": v, "waiting": waiting}));
    }
    let mut out = String::from("BFD Peers:\n");
    for s in &selected {
        let _ = writeln!(
            out,
            "\tpeer {} {}local-address {}{} vrf {} (BGPPeer {})",
            s.key.peer,
            if s.key.hop == metalroute_bgp::bfd::HopMode::MultiHop {
                "multihop "
            } else {
                ""
            },
            s.key.local,
            s.key
                .interface
                .as_deref()
                .map(|i| format!(" interface {i}"))
                .unwrap_or_default(),
            s.key.vrf.as_deref().unwrap_or("default"),
            name(s)
        );
        let _ = writeln!(
            out,
            "\t\tID: {}\n\t\tRemote ID: {}",
            s.local_discriminator, s.remote_discriminator
        );
        let up = s
            .up_since
            .map(|t| format!(", up {}", uptime(t.elapsed())))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\t\tStatus: {}{up}",
            s.state.to_string().to_lowercase()
        );
        let _ = writeln!(
            out,
            "\t\tDiagnostics: {}\n\t\tRemote diagnostics: {}",
            s.local_diagnostic, s.remote_diagnostic
        );
        if s.echo_state != metalroute_bgp::bfd::EchoState::Off || s.echo_tx_packets > 0 {
            let rtt = s
                .last_echo_rtt
                .map(|d| format!(", last round trip {} us", d.as_micros()))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "\t\tEcho: {} (sent {}, received {}{rtt})",
                s.echo_state, s.echo_tx_packets, s.echo_rx_packets
            );
        }
        let _ = writeln!(
            out,
            "\t\tLocal timers:\n\t\t\tDetect-multiplier: {}\n\t\t\tReceive interval: {}ms\n\t\t\tTransmission interval: {}ms",
            s.params.detect_multiplier.get(),
            s.required_min_rx.as_millis(),
            s.desired_min_tx.as_millis()
        );
        let _ = writeln!(
            out,
            "\t\tRemote timers:\n\t\t\tDetect-multiplier: {}\n\t\t\tReceive interval: {}ms\n\t\t\tTransmission interval: {}ms\n",
            s.remote_detect_mult,
            s.remote_min_rx.as_millis(),
            s.remote_desired_min_tx.as_millis()
        );
    }
    for w in &waiting {
        let _ = writeln!(
            out,
            "\tBGPPeer {w}: BFD waits for its BGP session's local address (no sourceAddress)"
        );
    }
    if selected.is_empty() && waiting.is_empty() {
        out.push_str("\t(no session has a BFD profile)\n");
    }
    Output::Text(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(show: Topic, peer: Option<&str>, json: bool) -> Request {
        Request {
            show,
            peer: peer.map(str::to_string),
            json,
        }
    }

    #[test]
    fn request_wire_format() {
        let r: Request =
            serde_json::from_str(r#"{"show":"bgp neighbors","peer":"router"}"#).unwrap();
        assert_eq!(r, req(Topic::BgpNeighbors, Some("router"), false));
        assert!(serde_json::from_str::<Request>(r#"{"show":"bgp everything"}"#).is_err());
    }

    #[test]
    fn empty_agent_renders_and_unknown_peer_is_an_error() {
        let st = Status::default();
        assert_eq!(
            render(&req(Topic::BgpSummary, None, false), &st, &[], &[]),
            Ok(Output::Text("No BGP sessions.\n".into()))
        );
        assert_eq!(
            render(&req(Topic::Plan, None, false), &st, &[], &[]),
            Ok(Output::Text("no plan yet\n".into()))
        );
        let e = render(
            &req(Topic::BgpNeighbors, Some("nope"), false),
            &st,
            &[],
            &[],
        )
        .unwrap_err();
        assert!(e.contains("nope"), "{e}");
        let Ok(Output::Json(v)) = render(&req(Topic::BfdPeers, None, true), &st, &[], &[]) else {
            panic!("json expected");
        };
        assert_eq!(v["peers"], serde_json::json!([]));
    }

    #[test]
    fn bfd_peers_show_interface_and_echo() {
        use metalroute_bgp::bfd::{EchoState, Engine, SessionKey, SessionParams, SplitMix64};
        let now = std::time::Instant::now();
        let mut engine = Engine::new(Box::new(SplitMix64::seeded(7)), now);
        let peer: std::net::Ipv6Addr = "fe80::2".parse().unwrap();
        let local: std::net::Ipv6Addr = "fe80::1".parse().unwrap();
        let key = SessionKey::link_local("to-router", peer, local);
        engine.add(now, key, SessionParams::default()).unwrap();
        let mut sessions = engine.sessions();
        // A session echoing (as after the peer reflected our echoes).
        sessions[0].echo_state = EchoState::Active;
        sessions[0].echo_tx_packets = 40;
        sessions[0].echo_rx_packets = 39;
        sessions[0].last_echo_rtt = Some(Duration::from_micros(85));
        let st = Status::default();
        let Ok(Output::Text(text)) =
            render(&req(Topic::BfdPeers, None, false), &st, &[], &sessions)
        else {
            panic!("text expected");
        };
        assert!(
            text.contains("peer fe80::2 local-address fe80::1 interface to-router vrf default"),
            "{text}"
        );
        assert!(
            text.contains("Echo: active (sent 40, received 39, last round trip 85 us)"),
            "{text}"
        );
        let Ok(Output::Json(v)) = render(&req(Topic::BfdPeers, None, true), &st, &[], &sessions)
        else {
            panic!("json expected");
        };
        let p = &v["peers"][0];
        assert_eq!(p["interface"], "to-router", "{v}");
        assert_eq!(p["echo"], "active", "{v}");
        assert_eq!(p["echoRttUsec"], 85, "{v}");
        // Echo off and never sent: no echo line.
        sessions[0].echo_state = EchoState::Off;
        sessions[0].echo_tx_packets = 0;
        let Ok(Output::Text(text)) =
            render(&req(Topic::BfdPeers, None, false), &st, &[], &sessions)
        else {
            panic!("text expected");
        };
        assert!(!text.contains("Echo:"), "{text}");
    }

    /// The status of a fresh session with `config` (not connected yet).
    fn peer_status(config: metalroute_bgp::config::PeerConfig) -> PeerStatus {
        let s = metalroute_bgp::session::Session::new(
            config,
            Box::new(metalroute_bgp::fsm::SplitMix(1)),
        );
        s.status(std::time::Instant::now())
    }

    #[test]
    fn unnumbered_peers_show_their_interface_numbered_their_address() {
        use metalroute_bgp::config::{Asn, PeerAsn, PeerConfig};
        let router_id = std::net::Ipv4Addr::new(192, 0, 2, 11);
        let unnumbered = peer_status(PeerConfig::unnumbered(
            Asn(64512),
            PeerAsn::DynamicExternal,
            "eth1",
            router_id,
        ));
        let numbered = peer_status(PeerConfig::new(
            Asn(64512),
            PeerAsn::Fixed(Asn(64501)),
            "192.0.2.1".parse().unwrap(),
            router_id,
        ));
        let peers = [unnumbered, numbered];
        let st = Status::default();
        let Ok(Output::Json(v)) = render(&req(Topic::BgpSummary, None, true), &st, &peers, &[])
        else {
            panic!("json expected");
        };
        let eth1 = &v["vrfs"]["default"]["peers"]["eth1"];
        assert_eq!(eth1["interface"], "eth1", "{v}");
        assert!(eth1.get("address").is_none(), "{v}");
        let numbered = &v["vrfs"]["default"]["peers"]["192.0.2.1"];
        assert_eq!(numbered["address"], "192.0.2.1", "{v}");
        assert!(numbered.get("interface").is_none(), "{v}");
        let Ok(Output::Text(t)) = render(&req(Topic::BgpSummary, None, false), &st, &peers, &[])
        else {
            panic!("text expected");
        };
        assert!(t.lines().any(|l| l.starts_with("eth1 ")), "{t}");
        assert!(!t.contains("::"), "no encoded address: {t}");
        let Ok(Output::Text(t)) = render(
            &req(Topic::BgpNeighbors, Some("eth1"), false),
            &st,
            &peers,
            &[],
        ) else {
            panic!("text expected");
        };
        assert!(t.starts_with("BGP neighbor is eth1,"), "{t}");
    }

    #[test]
    fn uptime_like_vtysh() {
        assert_eq!(uptime(Duration::from_secs(3725)), "01:02:05");
        assert_eq!(uptime(Duration::from_secs(90_061)), "1d01h01m");
    }
}
