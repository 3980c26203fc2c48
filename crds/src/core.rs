//! The core Kubernetes kinds metalroute reads, re-exported from k8s-openapi so every crate uses
//! the same types: Service (IPs to announce), EndpointSlice (where endpoints run), Node (labels
//! for selectors), Secret (BGP passwords) and Namespace (labels for namespaceSelectors).

pub use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
pub use k8s_openapi::api::discovery::v1::EndpointSlice;
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
