//! nmstate's `desiredState` document (the subset metalroute applies), as typed values.
//!
//! The NodeNetworkConfigurationPolicy keeps `spec.desiredState` as raw JSON so that no key is lost;
//! [`parse_desired_state`] turns it into [`DesiredState`] and lists every key outside the subset.

use serde::{Deserialize, Serialize};

/// The typed desired network state. The supported subset grows with the nmstate crate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DesiredState {}

/// Parses a `desiredState` value. Returns the typed state (when it could be built) and every
/// problem found, each as (path relative to `desiredState`, reason).
pub fn parse_desired_state(
    value: &serde_json::Value,
) -> (Option<DesiredState>, Vec<(String, String)>) {
    let mut problems = Vec::new();
    match value {
        serde_json::Value::Object(map) => {
            for key in map.keys() {
                problems.push((key.clone(), "unsupported key".to_string()));
            }
        }
        serde_json::Value::Null => {}
        _ => problems.push((String::new(), "must be a mapping".to_string())),
    }
    if problems.is_empty() {
        (Some(DesiredState::default()), problems)
    } else {
        (None, problems)
    }
}
