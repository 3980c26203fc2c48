//! Rendering and checking OpenShift MachineConfigs (Ignition 3.2.0) that persist the sysctls a node
//! needs for metalroute: forwarding, reverse-path filtering and l3mdev acceptance.
//!
//! - [`SysctlPlan`] / [`required_sysctls`]: from what the configuration uses (interfaces that
//!   carry service traffic, rp_filter modes, VRFs) to the [`RequiredSysctl`]s, in a stable order.
//! - [`render`]: those sysctls as one `/etc/sysctl.d/<name>.conf` in a MachineConfig, byte-identical
//!   for the same input.
//! - [`check_machine_config`]: decode every file of a MachineConfig, list its sysctls, report
//!   defects ([`Finding`]s).
//! - [`check_host`] / [`ProcSys::check`]: whether a node's kernel has the required sysctls.

#![warn(missing_docs)]

pub mod catalog;
mod check;
pub mod dataurl;
mod error;
mod finding;
mod host;
mod ifname;
mod plan;
mod render;
mod sysctl;

pub use check::{
    check_machine_config, mode_string, octal_written_as_decimal, CheckOptions, CheckReport,
    CheckedFile, SYSCTL_DIRS,
};
pub use error::Error;
pub use finding::{Finding, FindingKind, Severity};
pub use host::{check_host, Observed, ProcSys};
pub use ifname::{IfName, IFNAMSIZ};
pub use plan::{required_sysctls, RequiredSysctl, SysctlPlan};
pub use render::{
    render, render_sysctl_conf, ObjectName, Rendered, Role, API_VERSION, IGNITION_VERSION,
    MODE_0644, ROLE_LABEL, SYSCTL_DIR,
};
pub use sysctl::{
    parse_sysctl_conf, BadLine, ConfTarget, Family, L3mdevProto, RpFilter, Setting, Sysctl,
    SysctlLine,
};
