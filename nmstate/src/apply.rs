//! The applier: checkpoint, apply stage by stage (links, ports/MTU/admin state, addresses,
//! routes, rules, sysctls), verify by read-back, probe, and restore the checkpoint when anything
//! fails before the deadline. This is the thin I/O shell around the pure planners in
//! [`crate::plan`], [`crate::verify`] and [`crate::checkpoint`].

use crate::checkpoint::{self, Checkpoint};
use crate::error::{Error, Result};
use crate::kernel::KernelState;
use crate::netlink::{Netlink, Write};
use crate::owned::OwnedRecord;
use crate::plan::{self, LinkSpec, Op};
use crate::probe::{self, Probe, ProbeConfig};
use crate::sysctl;
use crate::verify::verify;
use metalroute_crds::nmstate::{needed_sysctls, DesiredState, SysctlKey};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// How an apply behaves.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Time allowed for apply + verification + probes before rolling back (default 120 s).
    pub timeout: Duration,
    /// Restore the checkpoint when the apply fails (default true).
    pub rollback: bool,
    /// Probes run before and after.
    pub probes: ProbeConfig,
    /// Pause between verification/probe attempts.
    pub retry_interval: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            timeout: Duration::from_secs(120),
            rollback: true,
            probes: ProbeConfig::default(),
            retry_interval: Duration::from_millis(200),
        }
    }
}

/// What a successful apply did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplyReport {
    /// Each change made, in order (`ip`-like descriptions).
    pub changes: Vec<String>,
    /// Writes made (netlink requests plus sysctl writes).
    pub writes: u64,
    /// Things worth knowing that did not stop the apply (e.g. an absent entry matching a route
    /// of another owner, which is left in place).
    pub warnings: Vec<String>,
    /// Probes that passed before and after.
    pub probes_passed: Vec<String>,
    /// Probes that had not passed before the apply and were therefore not counted.
    pub probes_skipped: Vec<String>,
}

/// The stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Links,
    Settings,
    Addresses,
    Routes,
    Rules,
}

/// Applies desired states to the network namespace it was opened in.
pub struct Applier {
    nl: Netlink,
    owned: OwnedRecord,
    sysctl_writes: u64,
}

impl Applier {
    /// Opens an applier in the calling thread's network namespace. `record` is where the list
    /// of links metalroute created is kept (e.g. [`crate::owned::DEFAULT_RECORD_PATH`]); `None`
    /// keeps it in memory only. Must be called inside a tokio runtime.
    pub fn open(record: Option<&Path>) -> Result<Self> {
        let owned = match record {
            Some(p) => OwnedRecord::load(p)?,
            None => OwnedRecord::in_memory(),
        };
        Ok(Applier {
            nl: Netlink::open()?,
            owned,
            sysctl_writes: 0,
        })
    }

    /// Writes made so far by this applier (netlink requests and sysctl writes).
    pub fn writes(&self) -> u64 {
        self.nl.writes() + self.sysctl_writes
    }

    /// The links this applier owns.
    pub fn owned(&self) -> &OwnedRecord {
        &self.owned
    }

    /// The netlink connection (reads).
    pub fn netlink(&self) -> &Netlink {
        &self.nl
    }

    /// Reads the kernel state.
    pub async fn kernel_state(&self) -> Result<KernelState> {
        self.nl.state().await
    }

    /// Compares the kernel with `desired` (see [`crate::verify::verify`]).
    pub async fn verify(&self, desired: &DesiredState) -> Result<Vec<String>> {
        let cur = self.nl.state().await?;
        let keys: Vec<SysctlKey> = needed_sysctls(desired).into_iter().map(|s| s.key).collect();
        let values = sysctl::read_all(&keys)?;
        Ok(verify(desired, &cur, &values))
    }

    /// Applies `desired`: checkpoint, apply, verify, probe; on failure restore the checkpoint
    /// (unless `opts.rollback` is false) and return the reason.
    pub async fn apply(
        &mut self,
        desired: &DesiredState,
        opts: &ApplyOptions,
    ) -> Result<ApplyReport> {
        let start = Instant::now();
        let writes_before = self.writes();
        let cur = self.nl.state().await?;
        let scope = checkpoint::scope_of(desired, &cur, self.owned.link_set());
        // Sysctls the state sets, plus those of every existing interface in scope (a link
        // deleted and recreated by a rollback gets them back).
        let mut keys: Vec<SysctlKey> = needed_sysctls(desired).into_iter().map(|s| s.key).collect();
        keys.extend(
            metalroute_crds::nmstate::l3mdev_sysctls()
                .into_iter()
                .map(|s| s.key),
        );
        for name in &scope.links {
            if cur.link(name).is_none() {
                continue;
            }
            if let Ok(n) = metalroute_crds::nmstate::InterfaceName::new(name) {
                keys.push(SysctlKey::Ipv4Forwarding(n.clone()));
                keys.push(SysctlKey::Ipv4RpFilter(n.clone()));
                keys.push(SysctlKey::Ipv6Forwarding(n));
            }
        }
        keys.sort();
        keys.dedup();
        let cp = Checkpoint {
            sysctls: sysctl::read_all(&keys)?,
            owned: self.owned.link_set().clone(),
            scope,
            state: cur,
        };
        let mut report = ApplyReport::default();
        let mut counted: Vec<Probe> = Vec::new();
        for p in &opts.probes.probes {
            match probe::run(p, &self.nl, opts.probes.attempt_timeout).await {
                Ok(()) => counted.push(p.clone()),
                Err(e) => {
                    tracing::info!(probe = %p, reason = %e, "probe failing before apply; not counted");
                    report.probes_skipped.push(format!("{p}: {e}"));
                }
            }
        }
        let outcome = match self
            .converge_inner(desired, &mut report, Some(cp.state.clone()))
            .await
        {
            Ok(()) => self.settle(desired, &counted, opts, start).await,
            Err(e) => Err(e),
        };
        report.writes = self.writes() - writes_before;
        match outcome {
            Ok(()) => {
                report.probes_passed = counted.iter().map(ToString::to_string).collect();
                Ok(report)
            }
            // Nothing was written: nothing to restore, the state was simply rejected.
            Err(reason) if self.writes() == writes_before => Err(reason),
            Err(reason) if opts.rollback => {
                tracing::warn!(%reason, "apply failed; restoring the checkpoint");
                let problems = self.restore(&cp).await;
                if problems.is_empty() {
                    Err(Error::RolledBack {
                        reason: Box::new(reason),
                    })
                } else {
                    Err(Error::RollbackFailed {
                        reason: Box::new(reason),
                        restore: problems,
                    })
                }
            }
            Err(reason) => Err(reason),
        }
    }

    /// Verifies and probes until both pass or the deadline is reached.
    async fn settle(
        &self,
        desired: &DesiredState,
        counted: &[Probe],
        opts: &ApplyOptions,
        start: Instant,
    ) -> Result<()> {
        loop {
            let mismatches = self.verify(desired).await?;
            let failure = if !mismatches.is_empty() {
                Error::Verify(mismatches)
            } else {
                let mut failed = None;
                for p in counted {
                    if let Err(e) = probe::run(p, &self.nl, opts.probes.attempt_timeout).await {
                        failed = Some(Error::Probe(format!("{p}: {e}")));
                        break;
                    }
                }
                match failed {
                    None => return Ok(()),
                    Some(f) => f,
                }
            };
            if start.elapsed() + opts.retry_interval >= opts.timeout {
                return Err(failure);
            }
            tracing::debug!(%failure, "not settled yet; retrying");
            tokio::time::sleep(opts.retry_interval).await;
        }
    }

    /// Converges the kernel to `desired` without checkpoint, probes or rollback (drift repair).
    /// Returns the changes made.
    pub async fn converge(&mut self, desired: &DesiredState) -> Result<Vec<String>> {
        let mut report = ApplyReport::default();
        self.converge_inner(desired, &mut report, None).await?;
        Ok(report.changes)
    }

    /// Runs the stages; `fresh` is a kernel state read just before (saves one read).
    async fn converge_inner(
        &mut self,
        desired: &DesiredState,
        report: &mut ApplyReport,
        fresh: Option<KernelState>,
    ) -> Result<()> {
        let mut cur = match fresh {
            Some(c) => c,
            None => self.nl.state().await?,
        };
        for stage in [
            Stage::Links,
            Stage::Settings,
            Stage::Addresses,
            Stage::Routes,
            Stage::Rules,
        ] {
            let ops = match stage {
                Stage::Links => plan::plan_links(desired, &cur, &self.owned)?,
                Stage::Settings => plan::plan_link_settings(desired, &cur)?,
                Stage::Addresses => plan::plan_addresses(desired, &cur)?,
                Stage::Routes => {
                    let (ops, warnings) = plan::plan_routes(desired, &cur)?;
                    report.warnings.extend(warnings);
                    ops
                }
                Stage::Rules => {
                    let (ops, warnings) = plan::plan_rules(desired, &cur)?;
                    report.warnings.extend(warnings);
                    ops
                }
            };
            if ops.is_empty() {
                continue;
            }
            let pipelined = matches!(stage, Stage::Routes | Stage::Rules);
            let result = self.execute(&ops, &cur, pipelined).await;
            report.changes.extend(result.done.iter().cloned());
            if let Some(e) = result.error {
                return Err(e);
            }
            // Route writes change nothing the rules stage reads; nothing reads after rules.
            if !matches!(stage, Stage::Routes | Stage::Rules) {
                cur = self.nl.state().await?;
            }
        }
        let wanted = needed_sysctls(desired);
        let keys: Vec<SysctlKey> = wanted.iter().map(|s| s.key.clone()).collect();
        let values = sysctl::read_all(&keys)?;
        for op in plan::plan_sysctls(&wanted, &values) {
            if let Op::SetSysctl { key, value } = &op {
                self.sysctl_writes += 1;
                sysctl::write(key, value)?;
                report.changes.push(op.to_string());
            }
        }
        for c in &report.changes {
            tracing::info!(change = %c, "applied");
        }
        Ok(())
    }

    /// Executes operations planned against `cur`. Link operations update the ownership
    /// record. Pipelined execution sends deletions, then additions, many at a time.
    async fn execute(&mut self, ops: &[Op], cur: &KernelState, pipelined: bool) -> Exec {
        let mut exec = Exec::default();
        let mut writes: Vec<(Op, Write)> = Vec::new();
        for op in ops {
            match crate::msg::write_for(op, cur) {
                Ok(Some(w)) => writes.push((op.clone(), w)),
                Ok(None) => {
                    if let Op::SetSysctl { key, value } = op {
                        self.sysctl_writes += 1;
                        match sysctl::write(key, value) {
                            Ok(()) => exec.done.push(op.to_string()),
                            Err(e) => exec.fail(e),
                        }
                    }
                }
                Err(e) => {
                    exec.fail(e);
                    return exec;
                }
            }
        }
        if pipelined {
            let (dels, adds): (Vec<_>, Vec<_>) = writes
                .into_iter()
                .partition(|(op, _)| matches!(op, Op::DelRoute { .. } | Op::DelRule { .. }));
            for batch in [dels, adds] {
                let ws: Vec<Write> = batch.iter().map(|(_, w)| w.clone()).collect();
                let results = self.nl.write_many(&ws).await;
                for ((op, _), r) in batch.iter().zip(results) {
                    match r {
                        Ok(()) => exec.done.push(op.to_string()),
                        Err(e) => exec.fail(e),
                    }
                }
                if exec.error.is_some() {
                    return exec;
                }
            }
        } else {
            for (op, w) in writes {
                match self.nl.write(&w).await {
                    Ok(()) => {
                        exec.done.push(op.to_string());
                        self.record(&op);
                        if let Err(e) = self.owned.save() {
                            exec.fail(e);
                            return exec;
                        }
                    }
                    Err(e) => {
                        exec.fail(e);
                        return exec;
                    }
                }
            }
        }
        exec
    }

    fn record(&mut self, op: &Op) {
        match op {
            Op::CreateLink { name, spec, .. } => {
                self.owned.insert(name);
                if let LinkSpec::Veth { peer } = spec {
                    self.owned.insert(peer);
                }
            }
            Op::DeleteLink { name } => self.owned.remove(name),
            _ => {}
        }
    }

    /// Restores a checkpoint; returns what could not be restored (empty: exact restore).
    pub async fn restore(&mut self, cp: &Checkpoint) -> Vec<String> {
        let mut problems = Vec::new();
        // Each stage is re-planned from a fresh read; routes get a few passes because one
        // route may need another (a gateway reachable only through a restored route).
        for stage in 0..5 {
            let passes = if stage == 3 { 3 } else { 1 };
            let mut last_errors = Vec::new();
            for _ in 0..passes {
                let cur = match self.nl.state().await {
                    Ok(c) => c,
                    Err(e) => {
                        problems.push(e.to_string());
                        return problems;
                    }
                };
                let (ops, mut found) = match stage {
                    0 => checkpoint::restore_links(cp, &cur),
                    1 => (checkpoint::restore_link_settings(cp, &cur), Vec::new()),
                    2 => (checkpoint::restore_addresses(cp, &cur), Vec::new()),
                    3 => checkpoint::restore_routes(cp, &cur),
                    _ => (checkpoint::restore_rules(cp, &cur), Vec::new()),
                };
                if ops.is_empty() {
                    last_errors = found;
                    break;
                }
                last_errors.clear();
                last_errors.append(&mut found);
                for op in &ops {
                    tracing::info!(change = %op, "restoring");
                    match crate::msg::write_for(op, &cur) {
                        Ok(Some(w)) => {
                            if let Err(e) = self.nl.write(&w).await {
                                last_errors.push(e.to_string());
                            }
                        }
                        Ok(None) => {}
                        Err(e) => last_errors.push(e.to_string()),
                    }
                }
            }
            problems.extend(last_errors);
        }
        let keys: Vec<SysctlKey> = cp.sysctls.keys().cloned().collect();
        match sysctl::read_all(&keys) {
            Ok(values) => {
                for op in checkpoint::restore_sysctls(cp, &values) {
                    if let Op::SetSysctl { key, value } = &op {
                        self.sysctl_writes += 1;
                        if let Err(e) = sysctl::write(key, value) {
                            problems.push(e.to_string());
                        }
                    }
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
        self.owned.set_links(cp.owned.clone());
        if let Err(e) = self.owned.save() {
            problems.push(e.to_string());
        }
        problems
    }

    /// Current sysctl values for `keys`.
    pub fn sysctls(&self, keys: &[SysctlKey]) -> Result<BTreeMap<SysctlKey, Option<String>>> {
        sysctl::read_all(keys)
    }
}

#[derive(Default)]
struct Exec {
    done: Vec<String>,
    error: Option<Error>,
}

impl Exec {
    fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }
}
