//! Fuzz target: the YAML loaders every configuration goes through — `metalroute validate`, the
//! file-mode agent and (later) the Kubernetes source. The input bytes, as (lossy) UTF-8, are one
//! multi-document YAML text. Nothing here may panic: a bad file gets a report, not a crash.
//!
//! Path: `loader::load_str` (YAML, and JSON when the text looks like JSON) → `Snapshot::from_objects`
//! (validation of every MetalLB, nmstate, EgressService and core object; typed configuration) →
//! every report line and load error rendered as the CLI prints them → the per-node peer choice.
//! Separately, every document (and every `spec.desiredState`) goes through nmstate's
//! `parse_desired_state`, and a state that parses must render back to a document that parses to
//! the same state (the contract of `nmstate/render.rs`), with its sysctls derived.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use metalroute_crds::loader::load_str;
use metalroute_crds::nmstate::{explicit_sysctls, needed_sysctls, parse_desired_state};
use metalroute_crds::object::ReadOptions;
use metalroute_crds::snapshot::Snapshot;
use serde::Deserialize;

fn load_and_validate(text: &str, file: &Path, opts: &ReadOptions) {
    let loaded = load_str(text, Some(file), opts);
    for e in &loaded.errors {
        let _ = e.to_string();
    }
    let snap = Snapshot::from_objects(loaded.objects, opts);
    for r in &snap.reports {
        let _ = r.lines();
        let _ = r.label();
        let _ = r.only_transient_errors();
    }
    let _ = snap.is_valid();
    for n in &snap.nodes {
        if let Some(name) = n.metadata.name.as_deref() {
            let labels = snap.node_labels(name);
            let _ = snap.peers_for_node(&labels);
        }
    }
    let _ = snap.peers_for_node(&snap.node_labels("fuzz-node"));
}

fn desired_state(value: &serde_json::Value) {
    let (state, problems) = parse_desired_state(value);
    for (path, reason) in &problems {
        let _ = format!("{path}: {reason}");
    }
    let Some(state) = state else {
        return;
    };
    let rendered = state.to_value();
    let (again, problems) = parse_desired_state(&rendered);
    assert!(
        problems.is_empty(),
        "rendered desiredState has problems {problems:?}: {rendered}"
    );
    assert_eq!(
        again.as_ref(),
        Some(&state),
        "desiredState render/parse round trip changed the state: {rendered}"
    );
    let _ = explicit_sysctls(&state);
    let _ = needed_sysctls(&state);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let opts = ReadOptions::default();
    load_and_validate(&text, Path::new("fuzz.yaml"), &opts);
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        load_and_validate(&text, Path::new("fuzz.json"), &opts);
    }

    // nmstate's own entry point, on every document and on every NNCP-shaped spec.desiredState.
    for de in serde_yaml_ng::Deserializer::from_str(&text) {
        let Ok(value) = serde_json::Value::deserialize(de) else {
            break;
        };
        desired_state(&value);
        if let Some(ds) = value.pointer("/spec/desiredState") {
            desired_state(ds);
        }
    }
});
