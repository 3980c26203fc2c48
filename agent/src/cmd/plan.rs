//! `metalroute plan --node-name NAME -f PATH... [--json]`: loads objects from files and
//! directories, plans the node offline and prints the NodePlan — sessions per VRF (never a
//! password), per-peer advertisements with their attributes, every withheld Service with its
//! reason, L2 and EgressService roles, the merged network state, and the validation errors of the
//! objects left out. Exit status: 0 when planned (withheld Services included), 1 when some input
//! object is invalid (the plan of the valid ones is still printed), 2 when input is unreadable or
//! not YAML (nothing is planned).

use clap::Args;
use metalroute_agent::planner::plan;
use metalroute_crds::object::ReadOptions;
use metalroute_crds::snapshot::Snapshot;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `metalroute plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The node to plan for (its labels come from its Node object when one is loaded, else
    /// `kubernetes.io/hostname=NAME`).
    #[arg(long = "node-name", env = "METALROUTE_NODE_NAME")]
    pub node_name: String,
    /// Files or directories (a directory's .yaml/.yml/.json files, sorted); repeatable.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The namespace MetalLB objects (and BGP password Secrets) must be in.
    #[arg(long, env = "METALLB_NAMESPACE", default_value = "metallb-system")]
    pub metallb_namespace: String,
}

/// Runs the subcommand.
pub fn run(args: PlanArgs) -> ExitCode {
    let opts = ReadOptions {
        metallb_namespace: args.metallb_namespace,
    };
    let snapshot = match Snapshot::load(&args.paths, &opts) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!("error: input unreadable; nothing planned");
            return ExitCode::from(2);
        }
    };
    let node_plan = plan(&snapshot, &args.node_name);
    if args.json {
        match serde_json::to_string_pretty(&node_plan.to_json()) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: cannot render JSON: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{node_plan}");
    }
    if snapshot.is_valid() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: {} invalid object(s) left out of the plan (listed above)",
            snapshot.invalid().count()
        );
        ExitCode::from(1)
    }
}
