//! API types for every kind metalroute reads — MetalLB (`metallb.io`), nmstate (`nmstate.io`),
//! OVN-Kubernetes EgressService (`k8s.ovn.org`) and the core kinds — with their defaults,
//! validation that reports every error by object and field path, and YAML loading.

#![warn(missing_docs)]

pub mod config;
pub mod core;
pub mod duration;
pub mod error;
pub mod loader;
pub mod manifests;
pub mod metallb;
pub mod nmstate;
pub mod nmstate_io;
pub mod object;
pub mod ovn;
pub mod report;
pub mod selector;
pub mod snapshot;
pub mod validate;
pub mod values;
mod yaml_subset;
