//! nmstate's desired-state schema (the subset metalroute supports, typed in
//! `metalroute_crds::nmstate`) applied to the kernel through rtnetlink, with read-back
//! verification, checkpoints, probes, rollback, drift repair and a NodeNetworkState report.
//!
//! The entry point is [`Applier`]: `Applier::open(record)` in the target network namespace,
//! then [`Applier::apply`] with the merged desired state. [`drift::guard`] keeps it applied.
//! The sysctls a state needs (for MachineConfigs) come from
//! [`metalroute_crds::nmstate::needed_sysctls`].
//!
//! Layout: `plan` (pure: desired × kernel → operations), `verify` (pure read-back check),
//! `checkpoint` (pure: snapshot × kernel → restore operations), `msg` (netlink messages),
//! `netlink` (the socket, counting writes), `apply` (the I/O shell), `probe`, `drift`,
//! `report`, `owned` (record of created links), `input` (YAML files).

pub mod apply;
pub mod checkpoint;
pub mod drift;
pub mod error;
pub mod input;
pub mod kernel;
pub mod msg;
pub mod netlink;
pub mod owned;
pub mod plan;
pub mod probe;
pub mod report;
pub mod selectors;
pub mod sysctl;
pub mod verify;

pub use apply::{Applier, ApplyOptions, ApplyReport};
pub use error::{Error, Result};
pub use kernel::{METALROUTE_PROTOCOL, VRF_UNREACHABLE_METRIC};
pub use metalroute_crds::nmstate::{l3mdev_sysctls, needed_sysctls, DesiredState, SysctlSetting};
pub use probe::{Probe, ProbeConfig};
