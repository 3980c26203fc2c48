//! `metalroute validate -f PATH... [--output text|json]`: loads objects from files and
//! directories, validates them as the agent would, and prints one line per object (`ok`, or each
//! error; warnings after) or a JSON array. Exit status: 0 when every object is valid, 1 when any
//! is invalid (or of an unknown kind), 2 when input is unreadable or not YAML.

use clap::{Args, ValueEnum};
use metalroute_crds::loader::load_paths;
use metalroute_crds::object::ReadOptions;
use metalroute_crds::report::{Issue, ObjectReport, Outcome};
use metalroute_crds::snapshot::Snapshot;
use std::path::PathBuf;
use std::process::ExitCode;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One line per object (or per error / warning).
    Text,
    /// A JSON array of `{kind, namespace, name, valid, errors, warnings}`.
    Json,
}

/// Arguments of `metalroute validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files or directories (a directory's .yaml/.yml/.json files, sorted), or - for standard input; repeatable.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// The namespace MetalLB objects must be in.
    #[arg(long, env = "METALLB_NAMESPACE", default_value = "metallb-system")]
    pub metallb_namespace: String,
}

fn issue_json(i: &Issue) -> serde_json::Value {
    serde_json::json!({ "field": i.field, "reason": i.reason, "transient": i.transient })
}

/// One report as the JSON object `--output json` prints.
pub fn report_json(r: &ObjectReport) -> serde_json::Value {
    serde_json::json!({
        "kind": r.key.kind,
        "apiVersion": r.api_version,
        "namespace": r.key.namespace,
        "name": r.key.name,
        "valid": r.outcome == Outcome::Skipped || r.is_valid(),
        "skipped": r.outcome == Outcome::Skipped,
        "source": r.source.as_ref().map(|s| serde_json::json!({
            "file": s.file.as_ref().map(|f| f.display().to_string()),
            "document": s.document,
        })),
        "errors": r.errors.iter().map(issue_json).collect::<Vec<_>>(),
        "warnings": r.warnings.iter().map(issue_json).collect::<Vec<_>>(),
    })
}

/// Runs the subcommand.
pub fn run(args: ValidateArgs) -> ExitCode {
    let opts = ReadOptions {
        metallb_namespace: args.metallb_namespace,
    };
    let loaded = load_paths(&args.paths, &opts);
    for e in &loaded.errors {
        eprintln!("error: {e}");
    }
    let snapshot = Snapshot::from_objects(loaded.objects, &opts);
    match args.output {
        OutputFormat::Text => {
            for r in &snapshot.reports {
                for line in r.lines() {
                    println!("{line}");
                }
            }
        }
        OutputFormat::Json => {
            let all: Vec<serde_json::Value> = snapshot.reports.iter().map(report_json).collect();
            match serde_json::to_string_pretty(&all) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("error: cannot render JSON: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    }
    if !loaded.errors.is_empty() {
        ExitCode::from(2)
    } else if snapshot.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
