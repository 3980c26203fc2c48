//! The agent's main loop in file mode: read the configuration directory, plan, hand the plan to
//! the actuators, publish it for the admin socket and the metrics, and do it again whenever a
//! file changes (inotify; only the files named by the watcher are read again) — plus a slow
//! periodic re-read of the whole directory as a safety net. When no object changed, the last
//! plan is kept without planning again. SIGTERM or SIGINT stops every BGP session with a
//! Cease.
//!
//! When the directory cannot be read at all the last plan stays in force: announced routes are
//! only withdrawn by a valid configuration that withdraws them.
//!
//! Order: the network goes first ([`crate::actuator::network::order`]). At start, and after each
//! change of the merged nmstate state, the speaker and BFD wait until the network actuator has
//! applied it (or failed, or [`NETWORK_WAIT`] passed); then they get the plan without the
//! sessions whose VRF device does not exist in the kernel. Those wait — shown by `metalroute
//! show` and logged once ("VRF red does not exist yet") — and start when the VRF appears (checked
//! after each network apply and every [`VRF_RECHECK`] while any session waits).

use crate::actuator::bfd::{BfdActuator, BfdEventCounts};
use crate::actuator::network::{
    order, without_vrfs, KernelVrfs, NetworkActuator, NetworkStatus, Order, NETWORK_WAIT,
};
use crate::actuator::speaker::{SessionProblem, SpeakerActuator};
use crate::error::AgentError;
use crate::planner::{self, decision_changes, NodePlan};
use crate::source::FileSource;
use crate::watch::{Changes, DirWatch};
use metalroute_bgp::bfd::{BfdHandle, SessionKey};
use metalroute_bgp::config::PeerKey;
use metalroute_bgp::speaker::{Speaker, SpeakerConfig};
use metalroute_crds::object::ReadOptions;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};

/// How often the directory is re-read even without a file event.
pub const RESYNC: Duration = Duration::from_secs(30);

/// How often the kernel is asked again whether a VRF that planned sessions wait for exists.
pub const VRF_RECHECK: Duration = Duration::from_secs(2);

/// Settings of `metalroute run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The node this agent runs on.
    pub node_name: String,
    /// The configuration directory.
    pub config_dir: PathBuf,
    /// MetalLB's namespace.
    pub metallb_namespace: String,
    /// The admin socket path (`None`: no admin socket).
    pub admin_socket: Option<PathBuf>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (`None`: nowhere).
    pub metrics_addr: Option<SocketAddr>,
    /// BGP identifier for sessions whose BGPPeer sets none (`None`: the node's highest IPv4).
    pub router_id: Option<Ipv4Addr>,
    /// TCP port the speaker listens on for passive peers (`None`: never listen).
    pub bgp_listen_port: Option<u16>,
    /// Where the nmstate applier records the links it creates.
    pub network_record: Option<PathBuf>,
    /// Withhold a BFD peer's advertisements until its BFD session is Up (default on).
    pub bfd_gate: bool,
}

/// What the agent knows right now, shared with the admin socket and the metrics endpoint.
#[derive(Debug)]
pub struct Shared {
    /// The node.
    pub node: String,
    /// The speaker (status queries).
    pub speaker: Speaker,
    /// The BFD transport, once a session needed it (status queries).
    pub bfd: Mutex<Option<BfdHandle>>,
    /// The network actuator's live outcome.
    network: Mutex<Option<Arc<Mutex<NetworkStatus>>>>,
    /// BFD Up/Down transition counts, live.
    bfd_events: Mutex<Option<BfdEventCounts>>,
    state: Mutex<Status>,
}

/// A copy of the agent's status.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// The plan in force.
    pub plan: Option<Arc<NodePlan>>,
    /// Sessions applied to the speaker: key → BGPPeer name.
    pub sessions: BTreeMap<PeerKey, String>,
    /// BFD sessions running: key → BGPPeer name.
    pub bfd_sessions: BTreeMap<SessionKey, String>,
    /// BFD Up and Down transitions per session.
    pub bfd_events: BTreeMap<SessionKey, (u64, u64)>,
    /// Planned sessions that do not run.
    pub session_problems: Vec<SessionProblem>,
    /// Configuration files that cannot be read or parsed now.
    pub file_problems: Vec<String>,
    /// The network actuator's last outcome.
    pub network: NetworkStatus,
    /// When the plan in force was made.
    pub planned_at: Option<Instant>,
    /// How many plans were made.
    pub plans: u64,
    /// True once a first plan has been applied.
    pub ready: bool,
    /// Why the last read of the directory failed, when it did (the last plan is kept).
    pub source_error: Option<String>,
}

impl Shared {
    /// A copy of the status.
    pub fn status(&self) -> Status {
        // Replaced whole under the lock: a poisoned lock still holds a consistent value.
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(n) = &*self.network.lock().unwrap_or_else(|p| p.into_inner()) {
            s.network = n.lock().unwrap_or_else(|p| p.into_inner()).clone();
        }
        if let Some(c) = &*self.bfd_events.lock().unwrap_or_else(|p| p.into_inner()) {
            s.bfd_events = c.lock().unwrap_or_else(|p| p.into_inner()).clone();
        }
        s
    }

    /// The BFD transport, when running.
    pub fn bfd_handle(&self) -> Option<BfdHandle> {
        self.bfd.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The node's BGP identifier when a BGPPeer sets none: the highest IPv4 address of a subnet
/// (prefix shorter than /32) on an interface other than `lo`, read by netlink. Host routes on
/// `lo` or dummy devices are left out because they are often LoadBalancer IPs that every node
/// holds (kube-proxy), which would give every node the same identifier.
pub async fn node_router_id() -> Option<Ipv4Addr> {
    let nl = metalroute_nmstate::netlink::Netlink::open().ok()?;
    let state = nl.state().await.ok()?;
    let lo: BTreeSet<u32> = state
        .links
        .iter()
        .filter(|l| l.name == "lo")
        .map(|l| l.index)
        .collect();
    state
        .addresses
        .iter()
        .filter(|a| !lo.contains(&a.index) && a.addr.prefix_len() < 32)
        .filter_map(|a| match a.addr.addr() {
            IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_unspecified() => Some(v4),
            _ => None,
        })
        .max()
}

/// Runs the agent until SIGTERM/SIGINT.
pub async fn run(opts: RunOptions) -> Result<(), AgentError> {
    let router_id = match opts.router_id {
        Some(r) => Some(r),
        None => node_router_id().await,
    };
    tracing::info!(node = %opts.node_name, config = %opts.config_dir.display(), router_id = ?router_id, "metalroute agent starting");
    let speaker = Speaker::new(SpeakerConfig {
        listen_port: opts.bgp_listen_port,
        ..SpeakerConfig::default()
    });
    let shared = Arc::new(Shared {
        node: opts.node_name.clone(),
        speaker: speaker.clone(),
        bfd: Mutex::new(None),
        network: Mutex::new(None),
        bfd_events: Mutex::new(None),
        state: Mutex::new(Status::default()),
    });
    let admin = match &opts.admin_socket {
        Some(p) => Some(crate::admin::serve(p, shared.clone())?),
        None => None,
    };
    let metrics = match opts.metrics_addr {
        Some(a) => Some(crate::metrics::serve(a, shared.clone()).await?),
        None => None,
    };
    let mut source = FileSource::new(
        &opts.config_dir,
        ReadOptions {
            metallb_namespace: opts.metallb_namespace.clone(),
        },
    );
    let mut watch = DirWatch::start(&opts.config_dir)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| AgentError::Listen {
        what: "signal",
        address: "SIGTERM".into(),
        source: e,
    })?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| AgentError::Listen {
        what: "signal",
        address: "SIGINT".into(),
        source: e,
    })?;
    let mut bgp_events = speaker.subscribe();
    let mut bfd = BfdActuator::new(speaker.clone());
    *shared.bfd_events.lock().unwrap_or_else(|p| p.into_inner()) = Some(bfd.event_counts());
    let mut actuator = SpeakerActuator::new(speaker, router_id);
    let network = NetworkActuator::start(opts.network_record.clone());
    *shared.network.lock().unwrap_or_else(|p| p.into_inner()) = Some(network.status_handle());
    let mut loop_state = LoopState::default();
    let mut network_settled = network.settled();
    let bfd_changed = bfd.changed();
    let mut replan = true;
    // Without a new plan: hand the plan in force to the speaker again (the network settled, a
    // waiting VRF may exist now, or the wait for the network is over).
    let mut reorder = false;
    // What the watcher saw since the last reconciliation; `None`: read the whole directory.
    let mut changes: Option<Changes> = None;
    // The safety re-read runs RESYNC after the previous one, however busy the loop is (a
    // `sleep(RESYNC)` re-created on every turn would never fire while BGP events keep coming).
    let mut resync_at = tokio::time::Instant::now() + RESYNC;
    loop {
        if opts.bfd_gate {
            actuator.set_bfd_up(bfd.up_peers());
        }
        if replan {
            reconcile(
                &opts,
                changes.take(),
                &mut source,
                &mut actuator,
                &network,
                &shared,
                &mut loop_state,
            )
            .await;
        } else if reorder {
            converge(&mut actuator, &network, &shared, &mut loop_state).await;
        }
        replan = true;
        reorder = false;
        apply_bfd(&mut bfd, &shared, &loop_state).await;
        let recheck_at = loop_state.recheck_at;
        tokio::select! {
            ev = bgp_events.recv() => {
                // A session came up or went down: BFD sessions may now know their local address.
                // Drain the burst, then re-apply only BFD (the plan did not change).
                let mut alive = !matches!(ev, Err(tokio::sync::broadcast::error::RecvError::Closed));
                while alive {
                    match bgp_events.try_recv() {
                        Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
                        Err(tokio::sync::broadcast::error::TryRecvError::Closed) => alive = false,
                    }
                }
                if !alive {
                    bgp_events = shared.speaker.subscribe();
                }
                replan = false;
            }
            _ = bfd_changed.notified(), if opts.bfd_gate => {
                // A BFD session came Up or left Up: only the gate's routes change.
                actuator.set_bfd_up(bfd.up_peers());
                if let Some(plan) = loop_state.applied_plan.clone() {
                    actuator.apply(&plan).await;
                }
                replan = false;
            }
            Ok(()) = network_settled.changed() => {
                // The network actuator finished with a desired state: what waited for it goes.
                replan = false;
                reorder = true;
            }
            _ = tokio::time::sleep_until(recheck_at.unwrap_or(resync_at)), if recheck_at.is_some() => {
                // Sessions wait for a VRF, or the wait for the network state is over.
                replan = false;
                reorder = true;
            }
            changed = watch.changed() => {
                match changed {
                    Some(c) => match &mut changes {
                        Some(old) => old.merge(c),
                        None => changes = Some(c),
                    },
                    None => {
                        tracing::warn!("the configuration watcher stopped; restarting it and re-reading the directory");
                        watch = DirWatch::start(&opts.config_dir)?;
                        changes = None;
                    }
                }
            }
            _ = tokio::time::sleep_until(resync_at) => {
                changes = None;
                resync_at = tokio::time::Instant::now() + RESYNC;
            }
            _ = sigterm.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = sigint.recv() => { tracing::info!("SIGINT: stopping"); break; }
        }
    }
    bfd.shutdown().await;
    actuator.shutdown().await;
    network.stop();
    if let Some(a) = admin {
        a.abort();
    }
    if let Some(m) = metrics {
        m.abort();
    }
    if let Some(p) = &opts.admin_socket {
        let _ = std::fs::remove_file(p);
    }
    tracing::info!("metalroute agent stopped; every BGP peer was sent a Cease");
    Ok(())
}

async fn apply_bfd(bfd: &mut BfdActuator, shared: &Shared, st: &LoopState) {
    let Some(plan) = &st.applied_plan else { return };
    bfd.apply(plan).await;
    let names = bfd.names();
    if let Some(h) = bfd.handle() {
        *shared.bfd.lock().unwrap_or_else(|p| p.into_inner()) = Some(h.clone());
    }
    shared.update(|s| s.bfd_sessions = names);
}

/// What the loop remembers between reconciliations.
#[derive(Debug, Default)]
struct LoopState {
    /// The plan in force (shown by `metalroute show plan`).
    last_plan: Option<Arc<NodePlan>>,
    /// The Services and EndpointSlices `last_plan` was made from (for incremental plans).
    basis: Option<planner::PlanBasis>,
    /// What the speaker and BFD were given: the plan in force without the sessions that wait
    /// for their VRF (`None` until the first network state settled).
    applied_plan: Option<Arc<NodePlan>>,
    /// When to hand the plan to the speaker again without a file change.
    recheck_at: Option<tokio::time::Instant>,
    /// The speaker is held until the network state being applied settles.
    holding: bool,
    /// VRFs that planned sessions wait for (logged once when they start waiting).
    missing_vrfs: BTreeSet<String>,
    kernel: KernelVrfs,
    logged_invalid: BTreeSet<String>,
    logged_files: BTreeSet<String>,
}

/// Hands the plan in force to the speaker and BFD in the network-first order (see the module
/// comment), and publishes the sessions and their problems.
async fn converge(
    actuator: &mut SpeakerActuator,
    network: &NetworkActuator,
    shared: &Shared,
    st: &mut LoopState,
) {
    let Some(plan) = st.last_plan.clone() else {
        return;
    };
    let needed: BTreeSet<String> = plan
        .vrfs
        .keys()
        .filter_map(|v| v.device().map(str::to_string))
        .collect();
    let existing = if needed.is_empty() {
        Some(BTreeSet::new())
    } else {
        st.kernel.names().await
    };
    let default_running = actuator.applied().keys().any(|k| k.vrf.is_none());
    let pending = network.pending_since();
    let decision = order(
        pending,
        Instant::now(),
        &needed,
        existing.as_ref(),
        default_running,
    );
    let (missing, vrfs_first) = match decision {
        Order::HoldForNetwork { until } => {
            if !st.holding {
                if actuator.applied().is_empty() {
                    tracing::info!(
                        wait = ?NETWORK_WAIT,
                        "applying the network state before starting BGP sessions"
                    );
                } else {
                    tracing::debug!("network state changed; BGP changes wait until it is applied");
                }
            }
            st.holding = true;
            st.recheck_at = Some(tokio::time::Instant::from_std(until));
            let running: BTreeSet<&str> = actuator
                .applied()
                .values()
                .map(|d| d.name.as_str())
                .collect();
            let mut problems = actuator.problems().to_vec();
            problems.extend(
                plan.sessions()
                    .filter(|(_, s)| !running.contains(s.params.peer.as_str()))
                    .map(|(_, s)| SessionProblem {
                        peer: s.params.peer.clone(),
                        reason: "waiting for the network state (NodeNetworkConfigurationPolicy) to be applied first".into(),
                    }),
            );
            shared.update(|s| s.session_problems = problems);
            return;
        }
        Order::Apply {
            missing_vrfs,
            vrfs_first,
        } => (missing_vrfs, vrfs_first),
    };
    if st.holding && pending.is_some() {
        tracing::warn!(
            wait = ?NETWORK_WAIT,
            "the network state is still not applied; starting BGP sessions without waiting longer"
        );
    }
    st.holding = false;
    for vrf in missing.difference(&st.missing_vrfs) {
        let peers: Vec<&str> = plan
            .sessions()
            .filter(|(v, _)| v.device() == Some(vrf.as_str()))
            .map(|(_, s)| s.params.peer.as_str())
            .collect();
        tracing::warn!(%vrf, peers = %peers.join(","), "VRF {vrf} does not exist yet; its BGP sessions wait for it");
    }
    for vrf in st.missing_vrfs.difference(&missing) {
        if needed.contains(vrf) && existing.as_ref().is_some_and(|e| e.contains(vrf)) {
            tracing::info!(%vrf, "VRF {vrf} exists now; starting its BGP sessions");
        }
    }
    let applied_plan = without_vrfs(&plan, &missing, false);
    if vrfs_first {
        // The VRFs' device-bound listeners open before the default VRF's unbound one.
        actuator
            .apply(&without_vrfs(&applied_plan, &BTreeSet::new(), true))
            .await;
    }
    let calls = actuator.apply(&applied_plan).await;
    if calls > 0 {
        tracing::debug!(calls, "speaker converged");
    }
    st.recheck_at = (!missing.is_empty()).then(|| tokio::time::Instant::now() + VRF_RECHECK);
    let sessions = actuator
        .applied()
        .iter()
        .map(|(k, d)| (k.clone(), d.name.clone()))
        .collect();
    let mut problems = actuator.problems().to_vec();
    for (vrf, s) in plan.sessions() {
        if let Some(d) = vrf.device().filter(|d| missing.contains(*d)) {
            problems.push(SessionProblem {
                peer: s.params.peer.clone(),
                reason: format!("VRF {d} does not exist yet; the session starts when it does"),
            });
        }
    }
    st.missing_vrfs = missing;
    st.applied_plan = Some(applied_plan);
    let net = network.status();
    shared.update(|s| {
        s.sessions = sessions;
        s.session_problems = problems;
        s.network = net;
        s.ready = true;
    });
}

/// Up to this many decision changes of one plan are logged one line each at info; beyond, one
/// summary line at info and the per-Service lines at debug (a churn of thousands of Services
/// would otherwise write thousands of lines).
const DECISION_LINES: usize = 20;

/// Logs decision changes: one line per Service (`service`, `node`, `reason` fields), or a
/// summary when there are more than [`DECISION_LINES`].
fn log_decision_changes(changes: &[planner::DecisionChange]) {
    let reason = |c: &planner::DecisionChange| {
        c.after
            .as_ref()
            .and_then(|d| d.reason())
            .map(|r| r.as_str())
            .unwrap_or(if c.after.is_some() {
                "announced"
            } else {
                "removed"
            })
    };
    if changes.len() <= DECISION_LINES {
        for c in changes {
            tracing::info!(service = %c.service, node = %c.node, reason = reason(c), "{c}");
        }
        return;
    }
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for c in changes {
        *by_reason.entry(reason(c)).or_default() += 1;
    }
    let counts: Vec<String> = by_reason.iter().map(|(r, n)| format!("{r} {n}")).collect();
    let first: Vec<String> = changes
        .iter()
        .take(3)
        .map(|c| c.service.to_string())
        .collect();
    tracing::info!(
        changes = changes.len(),
        node = %changes[0].node,
        "{} Services changed decision ({}), e.g. {}, ...; each one is logged at debug",
        changes.len(),
        counts.join(", "),
        first.join(", ")
    );
    if tracing::enabled!(tracing::Level::DEBUG) {
        for c in changes {
            tracing::debug!(service = %c.service, node = %c.node, reason = reason(c), "{c}");
        }
    }
}

async fn reconcile(
    opts: &RunOptions,
    changes: Option<Changes>,
    source: &mut FileSource,
    actuator: &mut SpeakerActuator,
    network: &NetworkActuator,
    shared: &Shared,
    st: &mut LoopState,
) {
    let read = match &changes {
        Some(c) if !c.rescan => source.read_paths(c.paths.iter().map(PathBuf::as_path)),
        _ => source.read(),
    };
    let reading = match read {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the configuration; keeping the last plan");
            shared.update(|s| s.source_error = Some(e.to_string()));
            return;
        }
    };
    let files: BTreeSet<String> = reading.file_problems.iter().cloned().collect();
    for f in files.difference(&st.logged_files) {
        tracing::warn!(problem = %f, "configuration problem; the last good version is used");
    }
    st.logged_files = files;
    let empty = NodePlan::default();
    // The decision changes and whether the plan changed: an incremental plan knows them; else
    // the old and new plans are compared.
    let mut known: Option<planner::Patch> = None;
    let mut old_plan = st.last_plan.clone();
    let mut advanced = false;
    let plan = match (&st.last_plan, &st.basis) {
        // No object changed: the plan cannot have changed either.
        (Some(last), _) if !reading.changed => last.clone(),
        // Only Services and EndpointSlices changed: decide only the Services they touch, in
        // the plan in force itself when nothing else holds it (no copy of a large plan).
        (Some(_), Some(_)) if reading.leaf_only => {
            // Advanced to the new snapshot by `replan_services`, whatever it answers.
            let mut basis = st.basis.take().unwrap_or_default();
            advanced = true;
            let mut status = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            // `show` waits for the lock while the plan is patched; the speaker's copy is only
            // needed while it waits for the network state.
            status.plan = None;
            old_plan = None;
            if network.pending_since().is_none()
                && st
                    .applied_plan
                    .as_ref()
                    .zip(st.last_plan.as_ref())
                    .is_some_and(|(a, l)| Arc::ptr_eq(a, l))
            {
                st.applied_plan = None;
            }
            let last = st.last_plan.take().unwrap_or_default();
            let mut owned = Arc::unwrap_or_clone(last);
            let patched = planner::replan_services(&mut owned, &mut basis, reading.snapshot);
            st.basis = Some(basis);
            let plan = match patched {
                Some(patch) => {
                    known = Some(patch);
                    Arc::new(owned)
                }
                None => {
                    let full = Arc::new(planner::plan(reading.snapshot, &opts.node_name));
                    old_plan = Some(Arc::new(owned));
                    full
                }
            };
            status.plan = Some(plan.clone());
            plan
        }
        _ => Arc::new(planner::plan(reading.snapshot, &opts.node_name)),
    };
    if st.basis.is_none() || (reading.changed && !advanced) {
        st.basis = Some(planner::PlanBasis::of(reading.snapshot));
    }
    let invalid: BTreeSet<String> = plan
        .invalid_objects
        .iter()
        .flat_map(|r| r.errors.iter().map(move |e| format!("{}: {e}", r.key)))
        .collect();
    for i in invalid.difference(&st.logged_invalid) {
        tracing::warn!(object = %i, "invalid object left out");
    }
    st.logged_invalid = invalid;
    let old = old_plan.as_deref().unwrap_or(&empty);
    let (changes, fresh) = match known {
        Some(p) => (p.changes, p.changed),
        None => {
            let same = old_plan
                .as_ref()
                .is_some_and(|o| Arc::ptr_eq(o, &plan) || **o == *plan);
            (decision_changes(old, &plan), !same)
        }
    };
    log_decision_changes(&changes);
    for w in &plan.warnings {
        if !old.warnings.contains(w) {
            tracing::warn!(warning = %w, "plan");
        }
    }
    // The network first: the speaker gets the plan once this state is applied (`converge`).
    network.set(&plan.network.desired);
    let net = network.status();
    let file_problems = reading.file_problems;
    shared.update(|s| {
        if fresh {
            s.plans += 1;
            s.planned_at = Some(Instant::now());
        }
        s.plan = Some(plan.clone());
        s.file_problems = file_problems;
        s.network = net;
        s.source_error = None;
    });
    st.last_plan = Some(plan);
    converge(actuator, network, shared, st).await;
}
