//! The CRD manifests in `crds/manifests/` must equal what the Rust types generate.
//! Regenerate with `METALROUTE_UPDATE_CRDS=1 cargo test -p metalroute-crds --test manifests`.

use metalroute_crds::manifests::manifest_files;
use std::path::PathBuf;

#[test]
fn crd_manifests_are_up_to_date() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("manifests");
    let files = manifest_files().expect("manifests render");
    assert_eq!(files.len(), 13, "one manifest per CRD");
    if std::env::var("METALROUTE_UPDATE_CRDS").as_deref() == Ok("1") {
        std::fs::create_dir_all(&dir).expect("create manifests dir");
        for (name, text) in &files {
            std::fs::write(dir.join(name), text).expect("write manifest");
        }
    }
    let mut stale = Vec::new();
    for (name, text) in &files {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(on_disk) if &on_disk == text => {}
            Ok(_) => stale.push(format!("{name} differs")),
            Err(e) => stale.push(format!("{name}: {e}")),
        }
    }
    let mut extra: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !files.iter().any(|(f, _)| f == n))
                .collect()
        })
        .unwrap_or_default();
    extra.sort();
    for n in extra {
        stale.push(format!("{n} is not generated any more"));
    }
    assert!(
        stale.is_empty(),
        "CRD manifests in crds/manifests are stale: {stale:?}\nRegenerate with: METALROUTE_UPDATE_CRDS=1 cargo test -p metalroute-crds --test manifests"
    );
}

#[test]
fn bgppeer_crd_serves_both_versions_and_stores_v1beta2() {
    let files = manifest_files().expect("manifests render");
    let (_, text) = files
        .iter()
        .find(|(n, _)| n == "metallb.io_bgppeers.yaml")
        .expect("bgppeers manifest");
    let crd: serde_json::Value = serde_yaml_ng::from_str(text).expect("yaml");
    let versions = crd["spec"]["versions"].as_array().expect("versions");
    let names: Vec<&str> = versions.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(names, ["v1beta2", "v1beta1"]);
    let stored: Vec<&str> = versions
        .iter()
        .filter(|v| v["storage"] == true)
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(stored, ["v1beta2"]);
    let spec = &versions[0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    assert_eq!(spec["peerPort"]["maximum"], 16384.0);
    assert_eq!(spec["peerPort"]["default"], 179);
    assert!(
        spec["myASN"].is_object()
            && spec["vrf"].is_object()
            && spec["dualStackAddressFamily"].is_object()
    );
}

#[test]
fn nncp_desired_state_preserves_unknown_fields() {
    let files = manifest_files().expect("manifests render");
    let (_, text) = files
        .iter()
        .find(|(n, _)| n == "nmstate.io_nodenetworkconfigurationpolicies.yaml")
        .expect("nncp manifest");
    let crd: serde_json::Value = serde_yaml_ng::from_str(text).expect("yaml");
    assert_eq!(crd["spec"]["scope"], "Cluster");
    let ds = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        ["properties"]["desiredState"];
    assert_eq!(ds["x-kubernetes-preserve-unknown-fields"], true);
}
