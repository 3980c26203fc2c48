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
    /// With --from: the namespace MetalLB objects must be in.
    #[arg(long, env = "METALLB_NAMESPACE", default_value = "metallb-system")]
    metallb_namespace: String,
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
        match from_dir::derive(dir, &a.metallb_namespace, &mut plan) {
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

pub mod from_dir {
    //! `--from DIR`: the sysctls the agent's configuration needs, from the objects
    //! `metalroute_crds`'s loader reads in DIR (its `.yaml`/`.yml`/`.json` files, sorted, not
    //! recursive — the same files `metalroute validate -f DIR` reads).
    //!
    //! - NodeNetworkConfigurationPolicy: ports of every VRF (`vrf.port`) receive service traffic
    //!   and forward it → IPv4/IPv6 forwarding; [`needed_sysctls`] adds what the state sets
    //!   itself (`ipv4.forwarding`, `ipv4.rp-filter`, `l3mdev-accept`) and the l3mdev accept
    //!   switches a VRF needs. A policy the loader finds invalid (for instance one with a bond,
    //!   outside metalroute's nmstate subset) is still read for its VRF ports, from its raw
    //!   desired state, with a note: the node will have those VRFs whoever applies the policy.
    //! - L2Advertisement `spec.interfaces[]`: interfaces that answer for service IPs and receive
    //!   their traffic → forwarding.
    //! - BGPPeer `spec.vrf`: the node has that VRF → l3mdev accept, unless a policy decides the
    //!   l3mdev switches explicitly.
    //!
    //! Other invalid objects are left out with a note, as the agent leaves them out.
    use super::*;
    use metalroute_crds::loader::load_paths;
    use metalroute_crds::nmstate::{
        needed_sysctls, DesiredState, InterfaceKind, InterfaceState, SysctlKey, SysctlSetting,
    };
    use metalroute_crds::object::{LoadedObject, Object, ReadOptions};
    use metalroute_crds::report::ObjectKey;
    use metalroute_crds::snapshot::Snapshot;
    use metalroute_machineconfig::{Family, L3mdevProto, Setting, Sysctl};
    use serde_json::Value;
    use std::path::Path;

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

    /// What one pass over the configuration collects.
    struct Derivation<'p> {
        plan: &'p mut SysctlPlan,
        said: Vec<String>,
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

        /// A valid NodeNetworkConfigurationPolicy's typed desired state.
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
                    SysctlKey::Ipv4Forwarding(i) => Setting::Forwarding {
                        family: Family::Ipv4,
                        target: iface_target(i)?,
                        enabled: value != 0,
                    },
                    SysctlKey::Ipv6Forwarding(i) => Setting::Forwarding {
                        family: Family::Ipv6,
                        target: iface_target(i)?,
                        enabled: value != 0,
                    },
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
                let why = if state.l3mdev_accept.is_some() || !is_l3mdev {
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

        /// An invalid NodeNetworkConfigurationPolicy: only the VRF ports of its raw desired state.
        fn raw_policy(&mut self, desired: &Value, policy: &str, obj: &str) -> Result<(), String> {
            let ifaces = match desired.get("interfaces") {
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
    }

    /// Adds what the configuration in `dir` needs to `plan`; returns one line per need or note
    /// (for standard error).
    pub(super) fn derive(
        dir: &Path,
        metallb_namespace: &str,
        plan: &mut SysctlPlan,
    ) -> Result<Vec<String>, String> {
        let opts = ReadOptions {
            metallb_namespace: metallb_namespace.to_string(),
        };
        let loaded = load_paths(&[dir], &opts);
        if !loaded.errors.is_empty() {
            let all: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
            return Err(all.join("; "));
        }
        let raw = loaded.objects.clone();
        let snapshot = Snapshot::from_objects(loaded.objects, &opts);
        sysctls_for_config(&snapshot, &raw, plan)
    }

    /// Adds what a loaded configuration needs to `plan`: `snapshot` is the validated view and
    /// `raw` the objects it was built from (invalid NodeNetworkConfigurationPolicies are still
    /// read for their VRF ports). Returns one line per need or note, for logs. The agent can
    /// call this with its own snapshot to report which sysctls the node needs.
    pub fn sysctls_for_config(
        snapshot: &Snapshot,
        raw: &[LoadedObject],
        plan: &mut SysctlPlan,
    ) -> Result<Vec<String>, String> {
        let metallb_namespace = snapshot.metallb_namespace.as_str();
        let mut d = Derivation {
            plan,
            said: Vec::new(),
        };
        let describe = |key: &ObjectKey| {
            let src = raw
                .iter()
                .find(|o| &o.key == key)
                .and_then(|o| o.source.as_ref())
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            format!("{key}{src}")
        };
        for (name, policy) in &snapshot.config.network_policies {
            let key = ObjectKey::new("NodeNetworkConfigurationPolicy", None, name);
            d.typed_policy(&policy.desired_state, name, &describe(&key))?;
        }
        for report in snapshot.invalid() {
            let obj = describe(&report.key);
            let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
            let policy = raw
                .iter()
                .find(|o| o.key == report.key)
                .and_then(|o| match &o.object {
                    Some(Object::NodeNetworkConfigurationPolicy(p)) => {
                        Some(p.spec.desired_state.clone().unwrap_or(Value::Null))
                    }
                    _ => None,
                });
            match policy {
                Some(desired) => {
                    d.said.push(format!(
                        "--from: note: {obj} is invalid for the agent ({}); only its VRF ports are read",
                        errors.join("; ")
                    ));
                    d.raw_policy(&desired, &report.key.name, &obj)?;
                }
                // Only kinds that bear on sysctls are worth a note here.
                None if matches!(report.key.kind.as_str(), "L2Advertisement" | "BGPPeer") => {
                    d.said.push(format!(
                        "--from: note: {obj} is left out: {}",
                        errors.join("; ")
                    ))
                }
                None => {}
            }
        }
        for (name, l2) in &snapshot.config.l2_advertisements {
            let obj = describe(&ObjectKey::new(
                "L2Advertisement",
                Some(metallb_namespace),
                name,
            ));
            for (j, iface) in l2.interfaces.iter().enumerate() {
                let t = target(iface, &format!("spec.interfaces[{j}]"), &obj)?;
                let why = format!(
                    "answers for service IPs (L2Advertisement {metallb_namespace}/{name} spec.interfaces)"
                );
                d.forward(t, why, &obj)?;
            }
        }
        // A VRF named by a BGPPeer exists on the node even when its policy is not in DIR.
        let decided = d
            .plan
            .get(&Sysctl::L3mdevAccept(L3mdevProto::Tcp))
            .is_some();
        if !decided {
            for (name, peer) in &snapshot.config.peers {
                if let Some(vrf) = peer.vrf.as_deref().filter(|v| !v.is_empty()) {
                    let why = format!("BGPPeer {metallb_namespace}/{name} peers in VRF {vrf}");
                    d.said.push(format!("--from: l3mdev accept: {why}"));
                    d.plan.l3mdev_accept(why).map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(d.said)
    }
}
