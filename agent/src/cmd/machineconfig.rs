//! `metalroute machineconfig render|check`: the CLI over the `metalroute-machineconfig` crate.
//!
//! `render` prints a MachineConfig that persists the sysctls a node needs (from flags and/or the
//! agent's configuration directory); `check` decodes a MachineConfig and reports its defects.
//! Exit codes: 0 success (check: no error finding), 1 check found errors, 2 bad input (flags,
//! unreadable files, not YAML).

use clap::{Args, Subcommand};
use metalroute_machineconfig::{
    check_machine_config, render, CheckOptions, ConfTarget, ObjectName, ProcSys, Role, RpFilter,
    SysctlPlan,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// `metalroute machineconfig`: render and check OpenShift MachineConfigs carrying the sysctls
/// metalroute needs (forwarding, rp_filter, l3mdev accept).
#[derive(Args, Debug)]
pub struct MachineConfigArgs {
    #[command(subcommand)]
    command: McCommand,
}

#[derive(Subcommand, Debug)]
enum McCommand {
    /// Print a MachineConfig (Ignition 3.2.0) writing /etc/sysctl.d/NAME.conf with the sysctls.
    Render(RenderArgs),
    /// Decode every file of a MachineConfig, list its sysctls and report defects.
    Check(CheckArgs),
}

/// An `IFACE=MODE` rp_filter request.
#[derive(Debug, Clone)]
struct RpFilterArg {
    target: ConfTarget,
    mode: RpFilter,
}

fn parse_target(s: &str) -> Result<ConfTarget, String> {
    ConfTarget::parse(s).map_err(|e| e.to_string())
}

fn parse_rp_filter(s: &str) -> Result<RpFilterArg, String> {
    let Some((iface, mode)) = s.split_once('=') else {
        return Err(format!(
            "{s:?}: expected IFACE=MODE with MODE 0 (off), 1 (strict) or 2 (loose)"
        ));
    };
    let target = parse_target(iface)?;
    let mode = RpFilter::parse(mode).map_err(|e| format!("{s:?}: {e}"))?;
    Ok(RpFilterArg { target, mode })
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).map_err(|e| e.to_string())
}

fn parse_name(s: &str) -> Result<ObjectName, String> {
    ObjectName::parse(s).map_err(|e| e.to_string())
}

#[derive(Args, Debug)]
struct RenderArgs {
    /// MachineConfigPool role (label machineconfiguration.openshift.io/role), e.g. worker.
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// MachineConfig name; the file is /etc/sysctl.d/NAME.conf (e.g. 81-enable-forwarding).
    #[arg(long, value_parser = parse_name)]
    name: ObjectName,
    /// Enable IPv4 and IPv6 forwarding on IFACE (`all` for every interface). Repeatable.
    #[arg(long = "forwarding", value_name = "IFACE", value_parser = parse_target)]
    forwarding: Vec<ConfTarget>,
    /// Set IPv4 reverse-path filtering on IFACE: 0 off, 1 strict, 2 loose. Repeatable.
    #[arg(long = "rp-filter", value_name = "IFACE=0|1|2", value_parser = parse_rp_filter)]
    rp_filter: Vec<RpFilterArg>,
    /// Enable net.ipv4.{tcp,udp,raw}_l3mdev_accept (sockets outside a VRF accept VRF traffic).
    #[arg(long)]
    l3mdev_accept: bool,
    /// Derive the sysctls from the agent's configuration directory (NNCP VRF ports and
    /// L2Advertisement interfaces need forwarding; a VRF needs l3mdev accept).
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// The MachineConfig YAML file (`-` for standard input).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: PathBuf,
    /// This is the node the file is for: compare every value with the running kernel's and
    /// treat missing keys and interfaces as errors.
    #[arg(long)]
    host: bool,
    /// The /proc/sys tree to look keys up in (e.g. /host/proc/sys in a debug pod).
    #[arg(long, value_name = "DIR", default_value = "/proc/sys")]
    proc_sys: PathBuf,
}

/// Runs `metalroute machineconfig ...`.
pub fn run(args: MachineConfigArgs) -> ExitCode {
    match args.command {
        McCommand::Render(a) => run_render(a),
        McCommand::Check(a) => run_check(a),
    }
}

fn run_render(a: RenderArgs) -> ExitCode {
    let mut plan = SysctlPlan::new();
    if let Some(dir) = &a.from {
        match from_dir::derive(dir, &mut plan) {
            Ok(derived) => {
                for line in derived {
                    eprintln!("{line}");
                }
            }
            Err(e) => {
                eprintln!("error: --from {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        }
    }
    for t in &a.forwarding {
        plan.forward(t.clone(), "--forwarding");
    }
    for r in &a.rp_filter {
        if let Err(e) = plan.rp_filter(r.target.clone(), r.mode, "--rp-filter") {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    if a.l3mdev_accept {
        plan.l3mdev_accept("--l3mdev-accept");
    }
    match render(&a.name, &a.role, &plan.required()) {
        Ok(r) => {
            print!("{}", r.yaml);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_check(a: CheckArgs) -> ExitCode {
    let (text, name) = if a.file.as_os_str() == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
            eprintln!("error: reading standard input: {e}");
            return ExitCode::from(2);
        }
        (s, "-".to_string())
    } else {
        match std::fs::read_to_string(&a.file) {
            Ok(s) => (s, a.file.display().to_string()),
            Err(e) => {
                eprintln!("error: {}: {e}", a.file.display());
                return ExitCode::from(2);
            }
        }
    };
    let opts = CheckOptions {
        proc_sys: ProcSys::at(&a.proc_sys),
        host: a.host,
    };
    match check_machine_config(&text, &name, &opts) {
        Ok(report) => {
            print!("{}", report.to_text());
            if report.has_errors() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

mod from_dir {
    //! `--from DIR`: the sysctls the agent's configuration needs, read from the same YAML files
    //! `metalroute run --config DIR` reads. The YAML loader of `metalroute-crds` is not available
    //! yet, so this walks the few fields it needs as plain JSON values:
    //! - NodeNetworkConfigurationPolicy `spec.desiredState.interfaces[type=vrf].vrf.port[]`:
    //!   ports of a VRF receive service traffic and forward it → IPv4/IPv6 forwarding; a VRF
    //!   (there, or named by a BGPPeer's `spec.vrf`) → l3mdev accept;
    //! - L2Advertisement `spec.interfaces[]`: interfaces that announce and receive service
    //!   traffic → forwarding.
    use super::*;
    use serde::Deserialize as _;
    use serde_json::Value;
    use std::path::Path;

    /// Lists the YAML/JSON files under `dir` (recursively), sorted, so the result is stable.
    fn files(dir: &Path) -> Result<Vec<PathBuf>, String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
            for entry in entries {
                let entry = entry.map_err(|e| format!("{}: {e}", d.display()))?;
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                ) {
                    out.push(p);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn object_name(doc: &Value) -> String {
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>");
        match doc.pointer("/metadata/namespace").and_then(Value::as_str) {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_string(),
        }
    }

    fn strings<'a>(v: Option<&'a Value>, field: &str, obj: &str) -> Result<Vec<&'a str>, String> {
        match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    x.as_str()
                        .ok_or_else(|| format!("{obj}: {field}[{i}]: must be a string, not {x}"))
                })
                .collect(),
            Some(other) => Err(format!("{obj}: {field}: must be a list, not {other}")),
        }
    }

    fn target(name: &str, field: &str, obj: &str) -> Result<ConfTarget, String> {
        ConfTarget::parse(name).map_err(|e| format!("{obj}: {field}: {e}"))
    }

    /// Adds what the configuration in `dir` needs to `plan`; returns one line per need (for
    /// standard error), in file order.
    pub(super) fn derive(dir: &Path, plan: &mut SysctlPlan) -> Result<Vec<String>, String> {
        let mut said = Vec::new();
        for file in files(dir)? {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            for (index, de) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
                let doc = Value::deserialize(de).map_err(|e| {
                    format!(
                        "{}: document {index}: not readable as YAML: {e}",
                        file.display()
                    )
                })?;
                let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
                let group = api.split('/').next().unwrap_or("");
                let obj = format!(
                    "{kind} {} ({}, document {index})",
                    object_name(&doc),
                    file.display()
                );
                match (group, kind) {
                    ("nmstate.io", "NodeNetworkConfigurationPolicy") => {
                        let ifaces = match doc.pointer("/spec/desiredState/interfaces") {
                            None | Some(Value::Null) => continue,
                            Some(Value::Array(a)) => a,
                            Some(_) => {
                                return Err(format!(
                                    "{obj}: spec.desiredState.interfaces: must be a list"
                                ))
                            }
                        };
                        for (i, iface) in ifaces.iter().enumerate() {
                            if iface.get("type").and_then(Value::as_str) != Some("vrf")
                                || iface.get("state").and_then(Value::as_str) == Some("absent")
                            {
                                continue;
                            }
                            let vrf = iface
                                .get("name")
                                .and_then(Value::as_str)
                                .unwrap_or("<unnamed>");
                            let why = format!(
                                "VRF {vrf} (NodeNetworkConfigurationPolicy {})",
                                object_name(&doc)
                            );
                            plan.l3mdev_accept(why.clone());
                            said.push(format!("--from: l3mdev accept: {why}"));
                            let field = format!("spec.desiredState.interfaces[{i}].vrf.port");
                            for (j, port) in strings(iface.pointer("/vrf/port"), &field, &obj)?
                                .into_iter()
                                .enumerate()
                            {
                                let t = target(port, &format!("{field}[{j}]"), &obj)?;
                                let why = format!("port of {why}");
                                said.push(format!("--from: forwarding on {t}: {why}"));
                                plan.forward(t, why);
                            }
                        }
                    }
                    ("metallb.io", "L2Advertisement") => {
                        for (j, name) in
                            strings(doc.pointer("/spec/interfaces"), "spec.interfaces", &obj)?
                                .into_iter()
                                .enumerate()
                        {
                            let t = target(name, &format!("spec.interfaces[{j}]"), &obj)?;
                            let why = format!(
                                "announces services (L2Advertisement {} spec.interfaces)",
                                object_name(&doc)
                            );
                            said.push(format!("--from: forwarding on {t}: {why}"));
                            plan.forward(t, why);
                        }
                    }
                    ("metallb.io", "BGPPeer") => {
                        if let Some(vrf) = doc.pointer("/spec/vrf").and_then(Value::as_str) {
                            if !vrf.is_empty() {
                                let why =
                                    format!("BGPPeer {} peers in VRF {vrf}", object_name(&doc));
                                said.push(format!("--from: l3mdev accept: {why}"));
                                plan.l3mdev_accept(why);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(said)
    }
}
