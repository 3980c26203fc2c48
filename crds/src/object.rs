//! One parsed Kubernetes object of any kind metalroute reads ([`Object`]), the dispatch from
//! `apiVersion`/`kind` to its Rust type ([`classify`], [`parse_object`]), and the per-object
//! facts the loader records before validation ([`LoadedObject`]): identity, source, and problems
//! found while parsing (type errors with field paths, unknown fields, MetalLB's namespace rule).

use crate::core::{EndpointSlice, Namespace, Node, Secret, Service};
use crate::metallb::{v1beta1, v1beta2};
use crate::nmstate_io::{
    NodeNetworkConfigurationEnactment, NodeNetworkConfigurationPolicy, NodeNetworkState,
};
use crate::ovn::EgressService;
use crate::report::{Issues, ObjectKey, Outcome, Source};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// A parsed object of a kind metalroute reads.
///
/// Every variant holds its value behind a pointer, so an `Object` is two words whatever its
/// kind (the largest kind, Node, is over 1.5 KiB inline; a directory of 100,000 Services holds
/// 200,000 objects). Services and EndpointSlices — the kinds that come by the thousand — are
/// shared (`Arc`) with the [`crate::snapshot::Snapshot`] built from them instead of copied.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// metallb.io/v1beta1 IPAddressPool.
    IPAddressPool(Box<v1beta1::IPAddressPool>),
    /// metallb.io BGPPeer (v1beta1 input is converted to v1beta2).
    BGPPeer(Box<v1beta2::BGPPeer>),
    /// metallb.io/v1beta1 BGPAdvertisement.
    BGPAdvertisement(Box<v1beta1::BGPAdvertisement>),
    /// metallb.io/v1beta1 L2Advertisement.
    L2Advertisement(Box<v1beta1::L2Advertisement>),
    /// metallb.io/v1beta1 BFDProfile.
    BFDProfile(Box<v1beta1::BFDProfile>),
    /// metallb.io/v1beta1 Community.
    Community(Box<v1beta1::Community>),
    /// metallb.io/v1beta1 ServiceBGPStatus (written by the agent; read back for cleanup).
    ServiceBGPStatus(Box<v1beta1::ServiceBGPStatus>),
    /// metallb.io/v1beta1 ServiceL2Status.
    ServiceL2Status(Box<v1beta1::ServiceL2Status>),
    /// metallb.io/v1beta1 ConfigurationState.
    ConfigurationState(Box<v1beta1::ConfigurationState>),
    /// k8s.ovn.org/v1 EgressService.
    EgressService(Box<EgressService>),
    /// nmstate.io/v1 NodeNetworkConfigurationPolicy.
    NodeNetworkConfigurationPolicy(Box<NodeNetworkConfigurationPolicy>),
    /// nmstate.io/v1beta1 NodeNetworkConfigurationEnactment.
    NodeNetworkConfigurationEnactment(Box<NodeNetworkConfigurationEnactment>),
    /// nmstate.io/v1beta1 NodeNetworkState.
    NodeNetworkState(Box<NodeNetworkState>),
    /// v1 Service.
    Service(Arc<Service>),
    /// discovery.k8s.io/v1 EndpointSlice.
    EndpointSlice(Arc<EndpointSlice>),
    /// v1 Node.
    Node(Box<Node>),
    /// v1 Secret.
    Secret(Box<Secret>),
    /// v1 Namespace.
    Namespace(Box<Namespace>),
}

impl Object {
    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::IPAddressPool(o) => &o.metadata,
            Object::BGPPeer(o) => &o.metadata,
            Object::BGPAdvertisement(o) => &o.metadata,
            Object::L2Advertisement(o) => &o.metadata,
            Object::BFDProfile(o) => &o.metadata,
            Object::Community(o) => &o.metadata,
            Object::ServiceBGPStatus(o) => &o.metadata,
            Object::ServiceL2Status(o) => &o.metadata,
            Object::ConfigurationState(o) => &o.metadata,
            Object::EgressService(o) => &o.metadata,
            Object::NodeNetworkConfigurationPolicy(o) => &o.metadata,
            Object::NodeNetworkConfigurationEnactment(o) => &o.metadata,
            Object::NodeNetworkState(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::EndpointSlice(o) => &o.metadata,
            Object::Node(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
            Object::Namespace(o) => &o.metadata,
        }
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::IPAddressPool(o) => &mut o.metadata,
            Object::BGPPeer(o) => &mut o.metadata,
            Object::BGPAdvertisement(o) => &mut o.metadata,
            Object::L2Advertisement(o) => &mut o.metadata,
            Object::BFDProfile(o) => &mut o.metadata,
            Object::Community(o) => &mut o.metadata,
            Object::ServiceBGPStatus(o) => &mut o.metadata,
            Object::ServiceL2Status(o) => &mut o.metadata,
            Object::ConfigurationState(o) => &mut o.metadata,
            Object::EgressService(o) => &mut o.metadata,
            Object::NodeNetworkConfigurationPolicy(o) => &mut o.metadata,
            Object::NodeNetworkConfigurationEnactment(o) => &mut o.metadata,
            Object::NodeNetworkState(o) => &mut o.metadata,
            // Called right after parsing, while the Arc is not shared yet: no copy is made.
            Object::Service(o) => &mut Arc::make_mut(o).metadata,
            Object::EndpointSlice(o) => &mut Arc::make_mut(o).metadata,
            Object::Node(o) => &mut o.metadata,
            Object::Secret(o) => &mut o.metadata,
            Object::Namespace(o) => &mut o.metadata,
        }
    }
}

/// How a parsed object's kind is scoped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A MetalLB kind: namespaced, read only from MetalLB's namespace.
    MetalLb,
    /// Namespaced (missing namespace means `default`).
    Namespaced,
    /// Cluster-scoped (no namespace).
    Cluster,
}

/// What metalroute does with an `apiVersion`/`kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindClass {
    /// Read, with this scope.
    Read(Scope),
    /// A kind metalroute knows of but does not read.
    Skipped,
    /// Not a kind metalroute knows.
    Unknown,
}

/// Groups whose kinds metalroute reads; any other kind in them is unknown (a typo or an
/// unsupported version), not skipped.
const OWN_GROUPS: [&str; 3] = ["metallb.io", "nmstate.io", "k8s.ovn.org"];

/// Core `v1` kinds that exist but that metalroute does not read.
const CORE_SKIPPED: [&str; 16] = [
    "ConfigMap",
    "Pod",
    "ServiceAccount",
    "Endpoints",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "LimitRange",
    "ResourceQuota",
    "Event",
    "ReplicationController",
    "PodTemplate",
    "Binding",
    "ComponentStatus",
    "List",
    "RangeAllocation",
    "SecretList",
];

/// Classifies an `apiVersion`/`kind` pair.
pub fn classify(api_version: &str, kind: &str) -> KindClass {
    use KindClass::*;
    match (api_version, kind) {
        (
            "metallb.io/v1beta1",
            "IPAddressPool" | "BGPPeer" | "BGPAdvertisement" | "L2Advertisement" | "BFDProfile"
            | "Community" | "ServiceBGPStatus" | "ServiceL2Status" | "ConfigurationState",
        )
        | ("metallb.io/v1beta2", "BGPPeer") => Read(Scope::MetalLb),
        ("k8s.ovn.org/v1", "EgressService") => Read(Scope::Namespaced),
        ("nmstate.io/v1", "NodeNetworkConfigurationPolicy")
        | ("nmstate.io/v1beta1", "NodeNetworkConfigurationEnactment" | "NodeNetworkState") => {
            Read(Scope::Cluster)
        }
        ("v1", "Service" | "Secret") | ("discovery.k8s.io/v1", "EndpointSlice") => {
            Read(Scope::Namespaced)
        }
        ("v1", "Node" | "Namespace") => Read(Scope::Cluster),
        ("v1", k) if CORE_SKIPPED.contains(&k) => Skipped,
        ("v1", _) => Unknown,
        (av, _) => {
            let group = av.split_once('/').map(|(g, _)| g).unwrap_or("");
            if group.is_empty() || OWN_GROUPS.contains(&group) {
                Unknown
            } else {
                Skipped
            }
        }
    }
}

/// Everything known about one document before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedObject {
    /// Identity (kind, namespace after defaulting, name).
    pub key: ObjectKey,
    /// `apiVersion` as written.
    pub api_version: String,
    /// Where it was read from.
    pub source: Option<Source>,
    /// The parsed object; `None` when skipped, unknown or unparsable.
    pub object: Option<Object>,
    /// Checked, skipped or unknown.
    pub outcome: Outcome,
    /// Problems found while parsing (errors make the object invalid).
    pub issues: Issues,
}

/// Options that affect how objects are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// The namespace MetalLB objects must live in (MetalLB's own deployment namespace).
    pub metallb_namespace: String,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            metallb_namespace: crate::metallb::DEFAULT_NAMESPACE.to_string(),
        }
    }
}

fn format_ignored_path(path: &serde_ignored::Path<'_>) -> String {
    fn walk(p: &serde_ignored::Path<'_>, out: &mut String) {
        match p {
            serde_ignored::Path::Root => {}
            serde_ignored::Path::Seq { parent, index } => {
                walk(parent, out);
                out.push_str(&format!("[{index}]"));
            }
            serde_ignored::Path::Map { parent, key } => {
                walk(parent, out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => walk(parent, out),
        }
    }
    let mut s = String::new();
    walk(path, &mut s);
    s
}

/// Deserializes `value` into `T`, recording a type error (with its field path) as an error and
/// every field `T` does not have as a warning.
/// YAML 1.1 spellings of booleans, which Kubernetes' YAML reader (go-yaml v2) accepts unquoted.
fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "True" | "TRUE" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Warns of each field the type does not have.
fn warn_unknown(unknown: Vec<String>, issues: &mut Issues) {
    // kube's derived root types read apiVersion/kind through their own impl.
    for f in unknown
        .into_iter()
        .filter(|f| f != "apiVersion" && f != "kind")
    {
        issues.warn(f, "unknown field, ignored");
    }
}

/// The value at a serde path, for in-place correction.
fn value_at_mut<'v>(
    mut v: &'v mut serde_json::Value,
    path: &serde_path_to_error::Path,
) -> Option<&'v mut serde_json::Value> {
    for seg in path.iter() {
        v = match seg {
            serde_path_to_error::Segment::Map { key } => v.get_mut(key.as_str())?,
            serde_path_to_error::Segment::Seq { index } => v.get_mut(*index)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Deserializes `value` into `T`, recording a type error (with its field path) as an error and
/// every field `T` does not have as a warning. A YAML 1.1 boolean spelling (`yes`, `on`, ...)
/// where a boolean is expected is read as Kubernetes reads it, with a warning.
fn typed<T: DeserializeOwned>(value: &serde_json::Value, issues: &mut Issues) -> Option<T> {
    // Most objects are valid: read them without tracking the path (which copies every key it
    // passes); only a failure is read again with the path, for the error's field.
    let mut unknown = Vec::new();
    if let Ok(v) =
        serde_ignored::deserialize::<_, _, T>(value, |p| unknown.push(format_ignored_path(&p)))
    {
        warn_unknown(unknown, issues);
        return Some(v);
    }
    let mut value = std::borrow::Cow::Borrowed(value);
    // Each retry fixes one more boolean; bounded by the document's size in practice.
    for _ in 0..64 {
        let mut unknown = Vec::new();
        let mut track = serde_path_to_error::Track::new();
        let de = serde_path_to_error::Deserializer::new(value.as_ref(), &mut track);
        let result: Result<T, _> =
            serde_ignored::deserialize(de, |p| unknown.push(format_ignored_path(&p)));
        let e = match result {
            Ok(v) => {
                warn_unknown(unknown, issues);
                return Some(v);
            }
            Err(e) => e,
        };
        let path = track.path();
        let mut field = path.to_string();
        if field == "." {
            field = String::new();
        }
        let mut reason = e.to_string();
        if reason.contains("expected a boolean") {
            let fixed = value_at_mut(value.to_mut(), &path).and_then(|slot| {
                let b = yaml11_bool(slot.as_str()?)?;
                let was = slot.as_str()?.to_string();
                *slot = serde_json::Value::Bool(b);
                Some((was, b))
            });
            if let Some((was, b)) = fixed {
                issues.warn(
                    &field,
                    format!("{was:?} read as {b} (a YAML 1.1 boolean, as Kubernetes reads it)"),
                );
                continue;
            }
        }
        // serde names a missing field in its message; make it the field path instead.
        if let Some(missing) = reason
            .strip_prefix("missing field `")
            .and_then(|r| r.strip_suffix('`'))
            .map(str::to_string)
        {
            field = if field.is_empty() {
                missing
            } else {
                format!("{field}.{missing}")
            };
            reason = "required".to_string();
        }
        issues.error(field, reason);
        return None;
    }
    issues.error("", "too many YAML 1.1 boolean spellings to correct");
    None
}

fn typed_object<T: DeserializeOwned>(
    value: &serde_json::Value,
    issues: &mut Issues,
    wrap: impl FnOnce(T) -> Object,
) -> Option<Object> {
    typed::<T>(value, issues).map(wrap)
}

fn str_at<'a>(v: &'a serde_json::Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(serde_json::Value::as_str)
}

/// Parses one document (already turned into JSON) into a [`LoadedObject`].
pub fn parse_object(
    value: &serde_json::Value,
    source: Option<Source>,
    opts: &ReadOptions,
) -> LoadedObject {
    let mut issues = Issues::default();
    let api_version = str_at(value, "/apiVersion").unwrap_or("").to_string();
    let kind = str_at(value, "/kind").unwrap_or("").to_string();
    let name = str_at(value, "/metadata/name").unwrap_or("").to_string();
    let written_ns = str_at(value, "/metadata/namespace").map(str::to_string);
    let mut loaded = LoadedObject {
        key: ObjectKey::new(&kind, written_ns.as_deref(), &name),
        api_version: api_version.clone(),
        source,
        object: None,
        outcome: Outcome::Checked,
        issues: Issues::default(),
    };
    if !value.is_object() {
        issues.error(
            "",
            "document is not a mapping (expected a Kubernetes object)",
        );
        loaded.outcome = Outcome::Unknown;
        loaded.issues = issues;
        return loaded;
    }
    if api_version.is_empty() {
        issues.error("apiVersion", "required");
    }
    if kind.is_empty() {
        issues.error("kind", "required");
    }
    if !issues.is_ok() {
        loaded.outcome = Outcome::Unknown;
        loaded.issues = issues;
        return loaded;
    }
    let scope = match classify(&api_version, &kind) {
        KindClass::Read(scope) => scope,
        KindClass::Skipped => {
            loaded.outcome = Outcome::Skipped;
            return loaded;
        }
        KindClass::Unknown => {
            issues.error(
                "kind",
                format!("unknown kind {kind} in {api_version}: not a kind metalroute reads"),
            );
            loaded.outcome = Outcome::Unknown;
            loaded.issues = issues;
            return loaded;
        }
    };
    if name.is_empty() {
        issues.error("metadata.name", "required");
    }
    let namespace = match scope {
        Scope::Cluster => {
            if written_ns.is_some() {
                issues.warn(
                    "metadata.namespace",
                    format!("{kind} is cluster-scoped; namespace ignored"),
                );
            }
            None
        }
        Scope::Namespaced => Some(written_ns.clone().unwrap_or_else(|| "default".to_string())),
        Scope::MetalLb => {
            let ns = written_ns
                .clone()
                .unwrap_or_else(|| opts.metallb_namespace.clone());
            if ns != opts.metallb_namespace {
                issues.error(
                    "metadata.namespace",
                    format!(
                        "MetalLB reads {kind} objects only from namespace {} (got {ns})",
                        opts.metallb_namespace
                    ),
                );
            }
            Some(ns)
        }
    };
    loaded.key = ObjectKey::new(&kind, namespace.as_deref(), &name);
    for (alias, real) in [("nodeSelector", "nodeSelectors")] {
        if matches!(kind.as_str(), "BGPAdvertisement" | "L2Advertisement")
            && value.pointer(&format!("/spec/{alias}")).is_some()
        {
            issues.warn(
                format!("spec.{alias}"),
                format!("not a MetalLB field (MetalLB's is spec.{real}); read as spec.{real}, but kubectl and the API server would drop or reject it"),
            );
        }
    }
    let object = match (api_version.as_str(), kind.as_str()) {
        (_, "IPAddressPool") => {
            typed_object(value, &mut issues, |v| Object::IPAddressPool(Box::new(v)))
        }
        ("metallb.io/v1beta2", "BGPPeer") => {
            typed_object(value, &mut issues, |v| Object::BGPPeer(Box::new(v)))
        }
        ("metallb.io/v1beta1", "BGPPeer") => {
            typed_object(value, &mut issues, |p: v1beta1::BGPPeer| {
                Object::BGPPeer(Box::new(p.into_v1beta2()))
            })
        }
        (_, "BGPAdvertisement") => typed_object(value, &mut issues, |v| {
            Object::BGPAdvertisement(Box::new(v))
        }),
        (_, "L2Advertisement") => {
            typed_object(value, &mut issues, |v| Object::L2Advertisement(Box::new(v)))
        }
        (_, "BFDProfile") => typed_object(value, &mut issues, |v| Object::BFDProfile(Box::new(v))),
        (_, "Community") => typed_object(value, &mut issues, |v| Object::Community(Box::new(v))),
        (_, "ServiceBGPStatus") => typed_object(value, &mut issues, |v| {
            Object::ServiceBGPStatus(Box::new(v))
        }),
        (_, "ServiceL2Status") => {
            typed_object(value, &mut issues, |v| Object::ServiceL2Status(Box::new(v)))
        }
        (_, "ConfigurationState") => typed_object(value, &mut issues, |v| {
            Object::ConfigurationState(Box::new(v))
        }),
        (_, "EgressService") => {
            typed_object(value, &mut issues, |v| Object::EgressService(Box::new(v)))
        }
        (_, "NodeNetworkConfigurationPolicy") => typed_object(value, &mut issues, |v| {
            Object::NodeNetworkConfigurationPolicy(Box::new(v))
        }),
        (_, "NodeNetworkConfigurationEnactment") => typed_object(value, &mut issues, |v| {
            Object::NodeNetworkConfigurationEnactment(Box::new(v))
        }),
        (_, "NodeNetworkState") => typed_object(value, &mut issues, |v| {
            Object::NodeNetworkState(Box::new(v))
        }),
        (_, "Service") => typed_object(value, &mut issues, |v| Object::Service(Arc::new(v))),
        (_, "EndpointSlice") => {
            typed_object(value, &mut issues, |v| Object::EndpointSlice(Arc::new(v)))
        }
        (_, "Node") => typed_object(value, &mut issues, |v| Object::Node(Box::new(v))),
        (_, "Secret") => typed_object(value, &mut issues, |v| Object::Secret(Box::new(v))),
        (_, "Namespace") => typed_object(value, &mut issues, |v| Object::Namespace(Box::new(v))),
        _ => None,
    };
    loaded.object = object.map(|mut o| {
        o.metadata_mut().namespace = namespace.clone();
        o
    });
    loaded.issues = issues;
    loaded
}
