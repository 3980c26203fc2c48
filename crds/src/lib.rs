//! API types for every kind metalroute reads — MetalLB (`metallb.io`), nmstate (`nmstate.io`),
//! OVN-Kubernetes EgressService (`k8s.ovn.org`) and the core kinds — with their defaults,
//! validation that reports every error by object and field path, and YAML loading.

pub mod nmstate;
