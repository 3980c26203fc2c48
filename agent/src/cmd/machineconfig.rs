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
        if let Err(e) = plan.forward(t.clone(), "--forwarding") {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    for r in &a.rp_filter {
        if let Err(e) = plan.rp_filter(r.target.clone(), r.mode, "--rp-filter") {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    if a.l3mdev_accept {
        if let Err(e) = plan.l3mdev_accept("--l3mdev-accept") {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
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
    //! `metalroute run --config DIR` reads (recursively, `*.yaml`/`*.yml`/`*.json`, sorted).
    //!
    //! - NodeNetworkConfigurationPolicy: the desired state is parsed with
    //!   `metalroute_crds::nmstate`; ports of every VRF (`vrf.port`) receive service traffic and
    //!   forward it → IPv4/IPv6 forwarding; [`needed_sysctls`] adds what the state sets itself
    //!   (`ipv4.forwarding`, `ipv4.rp-filter`, `l3mdev-accept`) and the l3mdev accept switches a
    //!   VRF needs. A desired state outside metalroute's nmstate subset (a bond, OVS, DNS, ...)
    //!   is still read for its VRF ports, from the raw document, with a note.
    //! - L2Advertisement `spec.interfaces[]`: interfaces that answer for service IPs and receive
    //!   their traffic → forwarding.
    //! - BGPPeer `spec.vrf`: the node has that VRF → l3mdev accept, unless a policy decides the
    //!   l3mdev switches explicitly.
    //!
    //! The crds crate's multi-kind YAML loader is not available yet, so objects are picked out of
    //! the files here by `apiVersion`/`kind`.
    use super::*;
    use metalroute_crds::nmstate::{
        needed_sysctls, parse_desired_state, DesiredState, InterfaceKind, InterfaceState,
        SysctlKey, SysctlSetting,
    };
    use metalroute_machineconfig::{Family, L3mdevProto, Setting, Sysctl};
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

    /// What one pass over the directory collects.
    struct Derivation<'p> {
        plan: &'p mut SysctlPlan,
        said: Vec<String>,
        peer_vrfs: Vec<String>,
    }

    impl Derivation<'_> {
        fn forward(&mut self, t: ConfTarget, why: String, obj: &str) -> Result<(), String> {
            self.said.push(format!("--from: forwarding on {t}: {why}"));
            self.plan
                .forward(t, why)
                .map(|_| ())
                .map_err(|e| format!("{obj}: {e}"))
        }

        fn set(&mut self, s: Setting, why: String, obj: &str) -> Result<(), String> {
            self.said.push(format!("--from: {}: {why}", s.line()));
            self.plan
                .set(s, why)
                .map(|_| ())
                .map_err(|e| format!("{obj}: {e}"))
        }

        /// A NodeNetworkConfigurationPolicy's desired state, typed.
        fn typed_policy(
            &mut self,
            state: &DesiredState,
            policy: &str,
            obj: &str,
        ) -> Result<(), String> {
            let mut vrfs = Vec::new();
            for (i, iface) in state.interfaces.iter().enumerate() {
                if iface.state == InterfaceState::Absent {
                    continue;
                }
                if let InterfaceKind::Vrf { ports, .. } = &iface.kind {
                    vrfs.push(iface.name.as_str().to_string());
                    for (j, port) in ports.iter().flatten().enumerate() {
                        let field = format!("spec.desiredState.interfaces[{i}].vrf.port[{j}]");
                        let t = target(port.as_str(), &field, obj)?;
                        let why = format!(
                            "port of VRF {} (NodeNetworkConfigurationPolicy {policy})",
                            iface.name.as_str()
                        );
                        self.forward(t, why, obj)?;
                    }
                }
            }
            for SysctlSetting { key, value } in needed_sysctls(state) {
                let iface_target = |i: &metalroute_crds::nmstate::InterfaceName| {
                    target(i.as_str(), "spec.desiredState.interfaces[].name", obj)
                };
                let is_l3mdev = key.interface().is_none();
                let setting = match &key {
                    SysctlKey::Ipv4Forwarding(i) | SysctlKey::Ipv6Forwarding(i) => {
                        Setting::Forwarding {
                            family: if matches!(key, SysctlKey::Ipv4Forwarding(_)) {
                                Family::Ipv4
                            } else {
                                Family::Ipv6
                            },
                            target: iface_target(i)?,
                            enabled: value != 0,
                        }
                    }
                    SysctlKey::Ipv4RpFilter(i) => Setting::RpFilter {
                        target: iface_target(i)?,
                        mode: RpFilter::parse(&value.to_string())
                            .map_err(|e| format!("{obj}: {key}: {e}"))?,
                    },
                    SysctlKey::TcpL3mdevAccept => Setting::L3mdevAccept {
                        proto: L3mdevProto::Tcp,
                        enabled: value != 0,
                    },
                    SysctlKey::UdpL3mdevAccept => Setting::L3mdevAccept {
                        proto: L3mdevProto::Udp,
                        enabled: value != 0,
                    },
                    SysctlKey::RawL3mdevAccept => Setting::L3mdevAccept {
                        proto: L3mdevProto::Raw,
                        enabled: value != 0,
                    },
                };
                let explicit = state.l3mdev_accept.is_some() || !is_l3mdev;
                let why = if explicit {
                    format!("set in NodeNetworkConfigurationPolicy {policy} spec.desiredState")
                } else {
                    format!(
                        "VRF {} (NodeNetworkConfigurationPolicy {policy})",
                        vrfs.join(", ")
                    )
                };
                self.set(setting, why, obj)?;
            }
            Ok(())
        }

        /// A NodeNetworkConfigurationPolicy outside the typed subset: only its VRF ports.
        fn raw_policy(&mut self, doc: &Value, policy: &str, obj: &str) -> Result<(), String> {
            let ifaces = match doc.pointer("/spec/desiredState/interfaces") {
                None | Some(Value::Null) => return Ok(()),
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
                let why = format!("VRF {vrf} (NodeNetworkConfigurationPolicy {policy})");
                self.said.push(format!("--from: l3mdev accept: {why}"));
                self.plan
                    .l3mdev_accept(why.clone())
                    .map_err(|e| format!("{obj}: {e}"))?;
                let field = format!("spec.desiredState.interfaces[{i}].vrf.port");
                for (j, port) in strings(iface.pointer("/vrf/port"), &field, obj)?
                    .into_iter()
                    .enumerate()
                {
                    let t = target(port, &format!("{field}[{j}]"), obj)?;
                    self.forward(t, format!("port of {why}"), obj)?;
                }
            }
            Ok(())
        }

        fn document(&mut self, doc: &Value, obj: &str) -> Result<(), String> {
            let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
            let group = api.split('/').next().unwrap_or("");
            match (group, kind) {
                ("nmstate.io", "NodeNetworkConfigurationPolicy") => {
                    let policy = object_name(doc);
                    let raw = doc
                        .pointer("/spec/desiredState")
                        .cloned()
                        .unwrap_or(Value::Null);
                    match parse_desired_state(&raw) {
                        (Some(state), _) => self.typed_policy(&state, &policy, obj),
                        (None, problems) => {
                            let first = problems
                                .first()
                                .map(|(p, r)| format!("spec.desiredState.{p}: {r}"))
                                .unwrap_or_default();
                            self.said.push(format!(
                                "--from: note: {obj} is outside metalroute's nmstate subset ({} problem(s), first: {first}); only its VRF ports are read",
                                problems.len()
                            ));
                            self.raw_policy(doc, &policy, obj)
                        }
                    }
                }
                ("metallb.io", "L2Advertisement") => {
                    let names = strings(doc.pointer("/spec/interfaces"), "spec.interfaces", obj)?;
                    for (j, name) in names.into_iter().enumerate() {
                        let t = target(name, &format!("spec.interfaces[{j}]"), obj)?;
                        let why = format!(
                            "answers for service IPs (L2Advertisement {} spec.interfaces)",
                            object_name(doc)
                        );
                        self.forward(t, why, obj)?;
                    }
                    Ok(())
                }
                ("metallb.io", "BGPPeer") => {
                    if let Some(vrf) = doc.pointer("/spec/vrf").and_then(Value::as_str) {
                        if !vrf.is_empty() {
                            self.peer_vrfs
                                .push(format!("BGPPeer {} peers in VRF {vrf}", object_name(doc)));
                        }
                    }
                    Ok(())
                }
                _ => Ok(()),
            }
        }
    }

    /// Adds what the configuration in `dir` needs to `plan`; returns one line per need (for
    /// standard error), in file order.
    pub(super) fn derive(dir: &Path, plan: &mut SysctlPlan) -> Result<Vec<String>, String> {
        let mut d = Derivation {
            plan,
            said: Vec::new(),
            peer_vrfs: Vec::new(),
        };
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
                let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
                let obj = format!(
                    "{kind} {} ({}, document {index})",
                    object_name(&doc),
                    file.display()
                );
                d.document(&doc, &obj)?;
            }
        }
        // A VRF named by a BGPPeer exists on the node even when its policy is not in DIR.
        let decided = d
            .plan
            .get(&Sysctl::L3mdevAccept(L3mdevProto::Tcp))
            .is_some();
        if !decided {
            for why in std::mem::take(&mut d.peer_vrfs) {
                d.said.push(format!("--from: l3mdev accept: {why}"));
                d.plan.l3mdev_accept(why).map_err(|e| e.to_string())?;
            }
        }
        Ok(d.said)
    }
}
