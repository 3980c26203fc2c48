//! The network actuator: applies the plan's merged nmstate desired state to the node's kernel
//! through [`metalroute_nmstate::Applier`] (checkpoint, apply, verify, roll back on failure).
//!
//! It runs as its own task fed through a `watch` channel, so a slow or failing apply never
//! holds up BGP: a failure is logged and shown in the status, and the speaker keeps running.
//! Only a desired state that differs from the last one applied is applied again; an empty
//! desired state (no NodeNetworkConfigurationPolicy selects the node) changes nothing.

use metalroute_crds::nmstate::DesiredState;
use metalroute_nmstate::{Applier, ApplyOptions};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::task::JoinHandle;

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

/// Handle to the network actuator task.
#[derive(Debug)]
pub struct NetworkActuator {
    tx: watch::Sender<DesiredState>,
    status: Arc<Mutex<NetworkStatus>>,
    task: JoinHandle<()>,
}

impl NetworkActuator {
    /// Starts the task; `record` is where the applier records the links it creates.
    pub fn start(record: Option<PathBuf>) -> NetworkActuator {
        let (tx, rx) = watch::channel(DesiredState::default());
        let status = Arc::new(Mutex::new(NetworkStatus::Idle));
        let task = tokio::spawn(tracing::Instrument::instrument(
            run(rx, record, status.clone()),
            tracing::info_span!("network"),
        ));
        NetworkActuator { tx, status, task }
    }

    /// Hands over a new desired state (applied when it differs from the previous one).
    pub fn set(&self, desired: &DesiredState) {
        self.tx.send_if_modified(|cur| {
            if cur == desired {
                false
            } else {
                *cur = desired.clone();
                true
            }
        });
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

fn set_status(status: &Mutex<NetworkStatus>, s: NetworkStatus) {
    *status.lock().unwrap_or_else(|p| p.into_inner()) = s;
}

async fn run(
    mut rx: watch::Receiver<DesiredState>,
    record: Option<PathBuf>,
    status: Arc<Mutex<NetworkStatus>>,
) {
    let mut applier: Option<Applier> = None;
    while rx.changed().await.is_ok() {
        let desired = rx.borrow_and_update().clone();
        if desired == DesiredState::default() {
            set_status(&status, NetworkStatus::Idle);
            continue;
        }
        if applier.is_none() {
            match Applier::open(record.as_deref()) {
                Ok(a) => applier = Some(a),
                Err(e) => {
                    tracing::error!(error = %e, "cannot open the network applier; network state not applied");
                    set_status(&status, NetworkStatus::Failed(e.to_string()));
                    continue;
                }
            }
        }
        let Some(a) = applier.as_mut() else { continue };
        set_status(&status, NetworkStatus::Applying);
        match a.apply(&desired, &ApplyOptions::default()).await {
            Ok(report) => {
                for c in &report.changes {
                    tracing::info!(change = %c, "network state changed");
                }
                for w in &report.warnings {
                    tracing::warn!(warning = %w, "network state");
                }
                set_status(&status, NetworkStatus::Applied(report.changes));
            }
            Err(e) => {
                tracing::error!(error = %e, "applying the network state failed; BGP is not affected");
                set_status(&status, NetworkStatus::Failed(e.to_string()));
            }
        }
    }
}
