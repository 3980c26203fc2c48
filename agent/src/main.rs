//! `metalroute`: the node agent and its command-line interface.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;

/// metalroute: routes a bare-metal Kubernetes node with the kernel, announcing LoadBalancer IPs
/// over its own BGP and BFD speaker.
#[derive(Parser, Debug)]
#[command(name = "metalroute", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands; each lives in its own module under `cmd/`.
#[derive(Subcommand, Debug)]
enum Command {
    /// Render or check OpenShift MachineConfigs carrying the sysctls a node needs.
    #[command(name = "machineconfig")]
    MachineConfig(cmd::machineconfig::MachineConfigArgs),
    /// Apply an nmstate desired state to this network namespace, or show the current one.
    Nmstate(cmd::nmstate::NmstateArgs),
    /// Validate MetalLB, nmstate and EgressService YAML as the agent reads it.
    Validate(cmd::validate::ValidateArgs),
    /// Plan one node offline: sessions, advertisements, withheld Services, network state.
    Plan(cmd::plan::PlanArgs),
    /// Run the agent in file mode: read and watch a directory, drive the BGP speaker and the
    /// kernel, serve the admin socket and metrics.
    Run(cmd::run::RunArgs),
    /// Show the state of a running agent (over its admin socket).
    Show(cmd::show::ShowArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::MachineConfig(args) => cmd::machineconfig::run(args),
        Command::Nmstate(args) => cmd::nmstate::run(args),
        Command::Validate(args) => cmd::validate::run(args),
        Command::Plan(args) => cmd::plan::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Show(args) => cmd::show::run(args),
    }
}
