//! `metalroute nmstate`: apply an nmstate desired state (or a whole
//! NodeNetworkConfigurationPolicy) to the current network namespace, or show the current state
//! in nmstate's shape. Exit codes: 0 applied and verified, 1 rejected or rolled back (reason on
//! stderr), 2 unreadable input.

use clap::{Args, Subcommand};
use metalroute_nmstate::input::{desired_state_from_yaml, InputError};
use metalroute_nmstate::owned::DEFAULT_RECORD_PATH;
use metalroute_nmstate::{report, Applier, ApplyOptions, Probe, ProbeConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `metalroute nmstate`.
#[derive(Args, Debug)]
pub struct NmstateArgs {
    #[command(subcommand)]
    command: NmstateCommand,
}

#[derive(Subcommand, Debug)]
enum NmstateCommand {
    /// Apply a desired state, verify it, probe connectivity; roll back on failure. The file is
    /// the whole state metalroute owns in this namespace: links, routes and rules metalroute
    /// created earlier that the file no longer mentions are removed.
    Apply(ApplyArgs),
    /// Print the current network state as nmstate YAML (NodeNetworkState content).
    Show(ShowArgs),
}

#[derive(Args, Debug)]
struct ApplyArgs {
    /// A desiredState document or a NodeNetworkConfigurationPolicy (YAML).
    #[arg(short = 'f', long = "filename")]
    file: PathBuf,
    /// Seconds allowed for apply, verification and probes before rolling back.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Keep a failed apply instead of restoring the previous state.
    #[arg(long)]
    no_rollback: bool,
    /// Where the names of links metalroute created are kept.
    #[arg(long, default_value = DEFAULT_RECORD_PATH)]
    record: PathBuf,
    /// Do not probe the default gateway of the main table.
    #[arg(long)]
    no_gateway_probe: bool,
    /// Probe a TCP connection to HOST:PORT (e.g. the API server); repeatable.
    #[arg(long = "probe-tcp", value_name = "ADDR:PORT")]
    probe_tcp: Vec<SocketAddr>,
    /// Probe DNS resolution of NAME (through the first nameserver of /etc/resolv.conf, or
    /// NAME@SERVER).
    #[arg(long = "probe-dns", value_name = "NAME[@SERVER]")]
    probe_dns: Vec<String>,
}

#[derive(Args, Debug)]
struct ShowArgs {
    /// Print JSON instead of YAML.
    #[arg(long)]
    json: bool,
}

/// Runs `metalroute nmstate`.
pub fn run(args: NmstateArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("metalroute nmstate: cannot start runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match args.command {
        NmstateCommand::Apply(a) => rt.block_on(apply(a)),
        NmstateCommand::Show(s) => rt.block_on(show(s)),
    }
}

fn probes(a: &ApplyArgs) -> Result<Vec<Probe>, String> {
    let mut probes = Vec::new();
    if !a.no_gateway_probe {
        probes.push(Probe::Gateway);
    }
    probes.extend(a.probe_tcp.iter().copied().map(Probe::Tcp));
    for spec in &a.probe_dns {
        let (name, server) = match spec.split_once('@') {
            Some((n, s)) => {
                let server = s
                    .parse::<SocketAddr>()
                    .or_else(|_| {
                        s.parse::<std::net::IpAddr>()
                            .map(|ip| SocketAddr::new(ip, 53))
                    })
                    .map_err(|_| format!("--probe-dns {spec}: {s} is not an address"))?;
                (n.to_string(), server)
            }
            None => match metalroute_nmstate::probe::system_nameserver() {
                Some(s) => (spec.clone(), s),
                None => {
                    return Err(format!(
                        "--probe-dns {spec}: no nameserver in /etc/resolv.conf; use NAME@SERVER"
                    ))
                }
            },
        };
        probes.push(Probe::Dns { name, server });
    }
    Ok(probes)
}

async fn apply(a: ApplyArgs) -> ExitCode {
    let text = match std::fs::read_to_string(&a.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", a.file.display());
            return ExitCode::from(2);
        }
    };
    let desired = match desired_state_from_yaml(&text) {
        Ok(d) => d,
        Err(InputError::Unreadable(why)) => {
            eprintln!("{}: {why}", a.file.display());
            return ExitCode::from(2);
        }
        Err(InputError::Invalid(problems)) => {
            for (path, reason) in problems {
                eprintln!("{}: desiredState.{path}: {reason}", a.file.display());
            }
            return ExitCode::from(1);
        }
    };
    let probes = match probes(&a) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let opts = ApplyOptions {
        timeout: Duration::from_secs(a.timeout),
        rollback: !a.no_rollback,
        probes: ProbeConfig {
            probes,
            ..ProbeConfig::default()
        },
        ..ApplyOptions::default()
    };
    let mut applier = match Applier::open(Some(&a.record)) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("metalroute nmstate apply: {e}");
            return ExitCode::from(1);
        }
    };
    match applier.apply(&desired, &opts).await {
        Ok(report) => {
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            for s in &report.probes_skipped {
                eprintln!("probe not counted (failing before the apply): {s}");
            }
            for c in &report.changes {
                println!("{c}");
            }
            println!(
                "applied and verified: {} changes, {} writes",
                report.changes.len(),
                report.writes
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("metalroute nmstate apply: {e}");
            ExitCode::from(1)
        }
    }
}

async fn show(s: ShowArgs) -> ExitCode {
    let applier = match Applier::open(None) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("metalroute nmstate show: {e}");
            return ExitCode::from(1);
        }
    };
    let state = match applier.kernel_state().await {
        Ok(st) => st,
        Err(e) => {
            eprintln!("metalroute nmstate show: {e}");
            return ExitCode::from(1);
        }
    };
    let value = report::current_state(&state, &report::interface_sysctls(&state));
    if s.json {
        match serde_json::to_string_pretty(&value) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("metalroute nmstate show: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", report::to_yaml(&value));
    }
    ExitCode::SUCCESS
}
