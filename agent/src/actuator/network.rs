//! The network actuator: applies the plan's merged nmstate desired state to the node's kernel
//! through [`metalroute_nmstate::Applier`] (checkpoint, apply, verify, roll back on failure),
//! and the ordering rule between the network and BGP ([`order`]).
//!
//! It runs as its own task fed through a `watch` channel, so a slow or failing apply never
//! blocks the agent's loop: a failure is logged and shown in the status. Only a desired state
//! that differs from the last one applied is applied again; an empty desired state (no
//! NodeNetworkConfigurationPolicy selects the node) changes nothing.
//!
//! Ordering: the network goes first. While a desired state handed over with a plan is being
//! applied (at start, and after each change of it) the speaker and BFD are left as they are, for
//! at most [`NETWORK_WAIT`]; then the plan goes to them, except the sessions whose VRF device
//! does not exist in the kernel, which wait for it (a session is never tried outside its VRF).

use crate::planner::{NodePlan, Vrf};
use metalroute_crds::nmstate::DesiredState;
use metalroute_nmstate::{Applier, ApplyOptions};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long the speaker and BFD wait for a network state being applied before they go on
/// without it (a policy that does not settle must not keep BGP down).
pub const NETWORK_WAIT: Duration = Duration::from_secs(30);

/// The outcome of the last apply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetworkStatus {
    /// Nothing to apply (no policy selects the node).
    #[default]
    Idle,
    /// An apply is running.
    Applying,
    /// The desired state is in the kernel; the changes the last apply made.
    Applied(Vec<String>),
    /// The last apply failed (and was rolled back when possible).
    Failed(String),
}

impl std::fmt::Display for NetworkStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetworkStatus::Idle => {
                f.write_str("idle (no NodeNetworkConfigurationPolicy selects this node)")
            }
            NetworkStatus::Applying => f.write_str("applying"),
            NetworkStatus::Applied(c) => write!(f, "applied ({} changes)", c.len()),
            NetworkStatus::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}

/// A desired state handed to the task: its generation and when it was handed over.
#[derive(Debug, Clone)]
struct Handed {
    generation: u64,
    at: Instant,
    state: DesiredState,
}

/// Handle to the network actuator task.
#[derive(Debug)]
pub struct NetworkActuator {
    tx: watch::Sender<Handed>,
    /// The generation of the last desired state the task finished with (applied, failed or
    /// nothing to do).
    done: watch::Receiver<u64>,
    status: Arc<Mutex<NetworkStatus>>,
    task: JoinHandle<()>,
}

impl NetworkActuator {
    /// Starts the task; `record` is where the applier records the links it creates.
    pub fn start(record: Option<PathBuf>) -> NetworkActuator {
        let (tx, rx) = watch::channel(Handed {
            generation: 0,
            at: Instant::now(),
            state: DesiredState::default(),
        });
        let (done_tx, done) = watch::channel(0);
        let status = Arc::new(Mutex::new(NetworkStatus::Idle));
        let task = tokio::spawn(tracing::Instrument::instrument(
            run(rx, record, status.clone(), done_tx),
            tracing::info_span!("network"),
        ));
        NetworkActuator {
            tx,
            done,
            status,
            task,
        }
    }

    /// Hands over a new desired state (applied when it differs from the previous one).
    /// Returns true when it differs, i.e. an apply follows.
    pub fn set(&self, desired: &DesiredState) -> bool {
        self.tx.send_if_modified(|cur| {
            if cur.state == *desired {
                false
            } else {
                cur.state = desired.clone();
                cur.generation += 1;
                cur.at = Instant::now();
                true
            }
        })
    }

    /// When the desired state being applied now was handed over; `None` when the task has
    /// finished with the last one handed over (applied, failed, or nothing to do).
    pub fn pending_since(&self) -> Option<Instant> {
        let handed = self.tx.borrow();
        (handed.generation > *self.done.borrow()).then_some(handed.at)
    }

    /// A receiver that changes each time the task finishes with a desired state.
    pub fn settled(&self) -> watch::Receiver<u64> {
        self.done.clone()
    }

    /// The outcome of the last apply.
    pub fn status(&self) -> NetworkStatus {
        // The lock only guards a value that is replaced whole: a poisoned lock still holds one.
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A live view of the outcome, for status readers.
    pub fn status_handle(&self) -> Arc<Mutex<NetworkStatus>> {
        self.status.clone()
    }

    /// Stops the task (the kernel state stays as applied).
    pub fn stop(self) {
        self.task.abort();
    }
}

/// What the speaker and BFD may be given now (see [`order`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// The network state handed over with the plan is still being applied: leave the speaker
    /// and BFD as they are until it settles, or until `until` at the latest.
    HoldForNetwork {
        /// When to go on without it.
        until: Instant,
    },
    /// Give the plan to the speaker and BFD, without the sessions of `missing_vrfs`.
    Apply {
        /// VRFs that planned sessions need and that do not exist in the kernel: their
        /// sessions wait (they are never tried in another VRF).
        missing_vrfs: BTreeSet<String>,
        /// Add the sessions of named VRFs before those of the default VRF (see [`order`]).
        vrfs_first: bool,
    },
}

/// The ordering decision between the network state and BGP.
///
/// - `pending_since`: when the network state being applied was handed over (`None`: the
///   network actuator is idle). Until it settles, and for at most [`NETWORK_WAIT`], the speaker
///   is held: at start no session opens before the policy's VRFs, addresses and routes are in
///   the kernel, and a change that creates a VRF and adds a peer in it adds the peer after the
///   VRF exists.
/// - `needed_vrfs`: the VRF devices planned sessions use; `existing_vrfs`: the VRF devices in
///   the kernel (`None`: unknown, e.g. netlink failed — then every VRF is assumed to exist and
///   the speaker's own retry applies). A needed VRF that does not exist is `missing`.
/// - `default_vrf_running`: the speaker already runs a default-VRF session. When it does not
///   and sessions of named VRFs start, those are added first: the default VRF's listener is
///   unbound and, with `tcp_l3mdev_accept=1`, would also take connections that arrive through
///   a VRF whose own (device-bound) listener is not open yet.
pub fn order(
    pending_since: Option<Instant>,
    now: Instant,
    needed_vrfs: &BTreeSet<String>,
    existing_vrfs: Option<&BTreeSet<String>>,
    default_vrf_running: bool,
) -> Order {
    if let Some(since) = pending_since {
        let until = since + NETWORK_WAIT;
        if now < until {
            return Order::HoldForNetwork { until };
        }
    }
    let missing_vrfs: BTreeSet<String> = match existing_vrfs {
        Some(existing) => needed_vrfs.difference(existing).cloned().collect(),
        None => BTreeSet::new(),
    };
    let starting = needed_vrfs.len() > missing_vrfs.len();
    Order::Apply {
        vrfs_first: starting && !default_vrf_running,
        missing_vrfs,
    }
}

/// Reads which VRF devices exist, over one netlink connection opened when first needed.
#[derive(Default)]
pub struct KernelVrfs {
    nl: Option<metalroute_nmstate::netlink::Netlink>,
    failing: bool,
}

impl std::fmt::Debug for KernelVrfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelVrfs")
            .field("open", &self.nl.is_some())
            .field("failing", &self.failing)
            .finish()
    }
}

impl KernelVrfs {
    /// The names of the VRF devices in this network namespace; `None` when netlink fails
    /// (logged once; the connection is opened again next time).
    pub async fn names(&mut self) -> Option<BTreeSet<String>> {
        use metalroute_nmstate::kernel::KLink;
        let result = match &self.nl {
            Some(nl) => nl.links().await,
            None => match metalroute_nmstate::netlink::Netlink::open() {
                Ok(nl) => {
                    let r = nl.links().await;
                    self.nl = Some(nl);
                    r
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(links) => {
                self.failing = false;
                Some(
                    links
                        .iter()
                        .filter_map(KLink::from_message)
                        .filter(|l| l.kind.as_deref() == Some("vrf"))
                        .map(|l| l.name)
                        .collect(),
                )
            }
            Err(e) => {
                if !self.failing {
                    tracing::warn!(error = %e, "cannot list the kernel's VRF devices; BGP sessions are started without checking that their VRF exists");
                }
                self.failing = true;
                self.nl = None;
                None
            }
        }
    }
}

/// `plan` without the sessions of the VRFs `drop` names (`default`: and without the default
/// VRF's). The same `Arc` when nothing is dropped.
pub fn without_vrfs(plan: &Arc<NodePlan>, drop: &BTreeSet<String>, default: bool) -> Arc<NodePlan> {
    let dropped = |v: &Vrf| match v.device() {
        Some(d) => drop.contains(d),
        None => default,
    };
    if !plan.vrfs.keys().any(dropped) {
        return plan.clone();
    }
    let mut p = NodePlan::clone(plan);
    p.vrfs.retain(|v, _| !dropped(v));
    Arc::new(p)
}

fn set_status(status: &Mutex<NetworkStatus>, s: NetworkStatus) {
    *status.lock().unwrap_or_else(|p| p.into_inner()) = s;
}

async fn run(
    mut rx: watch::Receiver<Handed>,
    record: Option<PathBuf>,
    status: Arc<Mutex<NetworkStatus>>,
    done: watch::Sender<u64>,
) {
    let mut applier: Option<Applier> = None;
    while rx.changed().await.is_ok() {
        let (generation, desired) = {
            let h = rx.borrow_and_update();
            (h.generation, h.state.clone())
        };
        let outcome = apply(&desired, &record, &mut applier, &status).await;
        set_status(&status, outcome);
        done.send_replace(generation);
    }
}

/// Applies one desired state; the outcome to show.
async fn apply(
    desired: &DesiredState,
    record: &Option<PathBuf>,
    applier: &mut Option<Applier>,
    status: &Mutex<NetworkStatus>,
) -> NetworkStatus {
    if *desired == DesiredState::default() {
        return NetworkStatus::Idle;
    }
    if applier.is_none() {
        match Applier::open(record.as_deref()) {
            Ok(a) => *applier = Some(a),
            Err(e) => {
                tracing::error!(error = %e, "cannot open the network applier; network state not applied");
                return NetworkStatus::Failed(e.to_string());
            }
        }
    }
    let Some(a) = applier.as_mut() else {
        // Set just above when it was None.
        return NetworkStatus::Failed("no network applier".into());
    };
    set_status(status, NetworkStatus::Applying);
    match a.apply(desired, &ApplyOptions::default()).await {
        Ok(report) => {
            for c in &report.changes {
                tracing::info!(change = %c, "network state changed");
            }
            for w in &report.warnings {
                tracing::warn!(warning = %w, "network state");
            }
            NetworkStatus::Applied(report.changes)
        }
        Err(e) => {
            tracing::error!(error = %e, "applying the network state failed; BGP sessions whose VRF does not exist wait for it");
            NetworkStatus::Failed(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn speaker_waits_for_a_network_state_being_applied_until_the_deadline() {
        let t0 = Instant::now();
        let red = set(&["red"]);
        // At start: the policy creating VRF red is being applied; nothing goes to the speaker,
        // not even the default VRF's sessions (the policy may move their links).
        for needed in [set(&[]), red.clone()] {
            assert_eq!(
                order(Some(t0), t0, &needed, Some(&set(&[])), false),
                Order::HoldForNetwork {
                    until: t0 + NETWORK_WAIT
                }
            );
        }
        let late = t0 + NETWORK_WAIT - Duration::from_millis(1);
        assert!(matches!(
            order(Some(t0), late, &red, Some(&set(&[])), true),
            Order::HoldForNetwork { .. }
        ));
        // The deadline passed and the policy still did not settle: go on, VRF red's sessions
        // wait for the VRF, the others start.
        assert_eq!(
            order(Some(t0), t0 + NETWORK_WAIT, &red, Some(&set(&[])), false),
            Order::Apply {
                missing_vrfs: red.clone(),
                vrfs_first: false
            }
        );
    }

    #[test]
    fn after_the_network_settled_sessions_run_only_in_vrfs_that_exist() {
        let t0 = Instant::now();
        // Applied: VRF red exists; its sessions start before the default VRF's.
        assert_eq!(
            order(
                None,
                t0,
                &set(&["red"]),
                Some(&set(&["red", "blue"])),
                false
            ),
            Order::Apply {
                missing_vrfs: set(&[]),
                vrfs_first: true
            }
        );
        // The policy failed (or no policy creates it): blue's sessions wait, red's run.
        assert_eq!(
            order(None, t0, &set(&["red", "blue"]), Some(&set(&["red"])), true),
            Order::Apply {
                missing_vrfs: set(&["blue"]),
                vrfs_first: false
            }
        );
        // No VRF starts: nothing to put first.
        assert_eq!(
            order(None, t0, &set(&["blue"]), Some(&set(&[])), false),
            Order::Apply {
                missing_vrfs: set(&["blue"]),
                vrfs_first: false
            }
        );
        // Only the default VRF.
        assert_eq!(
            order(None, t0, &set(&[]), Some(&set(&[])), false),
            Order::Apply {
                missing_vrfs: set(&[]),
                vrfs_first: false
            }
        );
    }

    #[test]
    fn sessions_of_waiting_vrfs_are_left_out_of_what_the_speaker_gets() {
        use metalroute_crds::loader::load_str;
        use metalroute_crds::object::ReadOptions;
        use metalroute_crds::snapshot::Snapshot;
        let peer = |name: &str, vrf: &str| {
            format!("---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{namespace: metallb-system, name: {name}}}\nspec: {{peerAddress: 192.0.2.1, peerASN: 64501, myASN: 64500, routerID: 192.0.2.11{vrf}}}\n")
        };
        let yaml = format!(
            "{}{}{}",
            peer("main", ""),
            peer("red", ", vrf: red"),
            peer("blue", ", vrf: blue")
        );
        let loaded = load_str(&yaml, None, &ReadOptions::default());
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let snap = Snapshot::from_objects(loaded.objects, &ReadOptions::default());
        let plan = Arc::new(crate::planner::plan(&snap, "n1"));
        let names = |p: &NodePlan| -> Vec<String> {
            p.sessions().map(|(_, s)| s.params.peer.clone()).collect()
        };
        assert_eq!(names(&plan).len(), 3);
        let kept = without_vrfs(&plan, &set(&["blue"]), false);
        assert_eq!(names(&kept), ["main", "red"]);
        let vrfs_only = without_vrfs(&kept, &set(&[]), true);
        assert_eq!(names(&vrfs_only), ["red"]);
        // Nothing to leave out: the same plan, not a copy.
        assert!(Arc::ptr_eq(
            &without_vrfs(&plan, &set(&["green"]), false),
            &plan
        ));
        // The rest of the plan (advertisements, network state) is untouched.
        assert_eq!(kept.network, plan.network);
    }

    #[test]
    fn unknown_kernel_vrfs_hold_nothing_back() {
        // Netlink could not list the links: the speaker gets every session (its own retry
        // covers a VRF device that is not there).
        assert_eq!(
            order(None, Instant::now(), &set(&["red"]), None, true),
            Order::Apply {
                missing_vrfs: set(&[]),
                vrfs_first: false
            }
        );
    }
}
