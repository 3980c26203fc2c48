//! The catalog of per-interface knobs covers every knob of the running kernel (read-only look at
//! this namespace's /proc/sys/net/ipv{4,6}/conf/all), so no real key is flagged `not-in-linux`.

use metalroute_machineconfig::catalog::{IPV4_DEVCONF, IPV6_DEVCONF};

fn knobs(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn catalog_covers_this_kernel() {
    for (dir, catalog) in [
        ("/proc/sys/net/ipv4/conf/all", IPV4_DEVCONF),
        ("/proc/sys/net/ipv6/conf/all", IPV6_DEVCONF),
    ] {
        if dir.contains("ipv6") && !std::path::Path::new(dir).exists() {
            continue; // kernel booted without IPv6
        }
        let missing: Vec<String> = knobs(dir)
            .into_iter()
            .filter(|k| !catalog.contains(&k.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{dir}: knobs missing from the catalog: {missing:?}"
        );
    }
}
