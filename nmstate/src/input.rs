//! Reading a desired state from a file: either a bare `desiredState` document or a whole
//! NodeNetworkConfigurationPolicy (its `spec.desiredState` is used).

use metalroute_crds::nmstate::{parse_desired_state, DesiredState};
use serde_json::Value;

/// Why a document could not be turned into a desired state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    /// Not YAML, not a mapping, or a kind other than NodeNetworkConfigurationPolicy.
    #[error("{0}")]
    Unreadable(String),
    /// A readable desired state with unsupported keys or bad values: (path, reason) each,
    /// paths relative to `desiredState`.
    #[error("invalid desired state: {}", .0.iter().map(|(p, r)| format!("{p}: {r}")).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<(String, String)>),
}

/// Parses YAML text holding a desired state or a NodeNetworkConfigurationPolicy (the first
/// document of a multi-document stream).
pub fn desired_state_from_yaml(text: &str) -> Result<DesiredState, InputError> {
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let v: Value = serde::Deserialize::deserialize(doc)
            .map_err(|e| InputError::Unreadable(format!("not valid YAML: {e}")))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    let doc = match docs.len() {
        0 => return Err(InputError::Unreadable("the file holds no document".into())),
        1 => docs.remove(0),
        n => {
            // Several documents: take the one NodeNetworkConfigurationPolicy.
            let mut nncps: Vec<Value> = docs
                .into_iter()
                .filter(|d| {
                    d.get("kind").and_then(Value::as_str) == Some("NodeNetworkConfigurationPolicy")
                })
                .collect();
            if nncps.len() != 1 {
                return Err(InputError::Unreadable(format!(
                    "{n} documents, of which {} NodeNetworkConfigurationPolicy; expected exactly one",
                    nncps.len()
                )));
            }
            nncps.remove(0)
        }
    };
    let state = match doc.get("kind").and_then(Value::as_str) {
        Some("NodeNetworkConfigurationPolicy") => doc
            .get("spec")
            .and_then(|s| s.get("desiredState"))
            .cloned()
            .unwrap_or(Value::Null),
        Some(other) => {
            return Err(InputError::Unreadable(format!(
                "kind {other} is not a NodeNetworkConfigurationPolicy"
            )))
        }
        None if doc.is_object() => doc,
        None => {
            return Err(InputError::Unreadable(
                "the document is not a mapping".into(),
            ))
        }
    };
    let (state, problems) = parse_desired_state(&state);
    match state {
        Some(s) if problems.is_empty() => Ok(s),
        _ => Err(InputError::Invalid(problems)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_nncp_and_bare_state() {
        let nncp = "apiVersion: nmstate.io/v1\nkind: NodeNetworkConfigurationPolicy\nmetadata: {name: x}\nspec:\n  desiredState:\n    interfaces:\n    - {name: d0, type: dummy, state: up}\n";
        assert_eq!(desired_state_from_yaml(nncp).unwrap().interfaces.len(), 1);
        let bare = "interfaces:\n- {name: d0, type: dummy}\n";
        assert_eq!(desired_state_from_yaml(bare).unwrap().interfaces.len(), 1);
    }

    #[test]
    fn errors_are_classified() {
        assert!(matches!(
            desired_state_from_yaml("a: [1,"),
            Err(InputError::Unreadable(_))
        ));
        assert!(matches!(
            desired_state_from_yaml("- 1\n"),
            Err(InputError::Unreadable(_))
        ));
        assert!(matches!(
            desired_state_from_yaml("kind: Deployment\n"),
            Err(InputError::Unreadable(_))
        ));
        match desired_state_from_yaml("interfaces:\n- {name: d0, type: bond}\n") {
            Err(InputError::Invalid(p)) => assert_eq!(p[0].0, "interfaces[0].type"),
            other => panic!("{other:?}"),
        }
    }
}
