//! The file source keeps the last version of an object deleted while another object names it,
//! and reports it: a passwordSecret Secret named by a BGPPeer (the session keeps its password
//! instead of turning pending and being removed) and a Community whose alias a
//! BGPAdvertisement uses (the routes stay, with their communities, instead of being
//! withdrawn). The kept object goes away once nothing names it, and a recreated object replaces
//! it.

use metalroute_agent::planner::plan;
use metalroute_agent::source::FileSource;
use metalroute_crds::object::ReadOptions;
use std::path::{Path, PathBuf};

/// A temporary configuration directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!(
            "metalroute-source-keep-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.0.join(file), text).unwrap();
    }

    fn remove(&self, file: &str) {
        std::fs::remove_file(self.0.join(file)).unwrap();
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn peer(extra: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {{namespace: metallb-system, name: tor}}
spec:
  peerAddress: 192.0.2.1
  peerASN: 64501
  myASN: 64500
  routerID: 192.0.2.11
{extra}"
    )
}

fn secret(password: &str) -> String {
    format!(
        "apiVersion: v1
kind: Secret
metadata: {{namespace: metallb-system, name: bgp-pass}}
type: kubernetes.io/basic-auth
stringData: {{password: {password}}}
"
    )
}

const SERVICE: &str = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {namespace: metallb-system, name: pool}
spec: {addresses: [203.0.113.0/24]}
---
apiVersion: v1
kind: Service
metadata: {namespace: default, name: web}
spec: {type: LoadBalancer}
status: {loadBalancer: {ingress: [{ip: 203.0.113.10}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {namespace: default, name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1], nodeName: n1}]
";

const COMMUNITY: &str = "apiVersion: metallb.io/v1beta1
kind: Community
metadata: {namespace: metallb-system, name: aliases}
spec:
  communities:
    - {name: no-adv, value: \"65535:65282\"}
";

fn advertisement(communities: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {{namespace: metallb-system, name: adv}}
spec:
  ipAddressPools: [pool]
  communities: [{communities}]
"
    )
}

fn password(src: &mut FileSource) -> Option<String> {
    let r = src.read().unwrap();
    let p = plan(r.snapshot, "n1");
    p.session("tor")
        .and_then(|s| s.params.password.as_ref())
        .map(|p| p.expose().to_string())
}

#[test]
fn deleted_password_secret_in_use_keeps_its_last_version_until_no_peer_names_it() {
    let d = Dir::new("secret");
    d.write(
        "peer.yaml",
        &peer("  passwordSecret: {name: bgp-pass, namespace: metallb-system}\n"),
    );
    d.write("secret.yaml", &secret("s3cret"));
    let mut src = FileSource::new(d.path(), ReadOptions::default());
    assert_eq!(password(&mut src).as_deref(), Some("s3cret"));

    d.remove("secret.yaml");
    let r = src.read().unwrap();
    assert_eq!(r.snapshot.config.peers.len(), 1, "the peer stays valid");
    assert_eq!(r.snapshot.secrets.len(), 1, "with the last Secret");
    assert!(
        r.file_problems.iter().any(|p| p.contains(
            "Secret metallb-system/bgp-pass was deleted while BGPPeer metallb-system/tor uses it"
        )),
        "{:?}",
        r.file_problems
    );
    let p = plan(r.snapshot, "n1");
    assert!(p.held_peers.is_empty(), "{:?}", p.held_peers);
    assert_eq!(
        p.session("tor")
            .and_then(|s| s.params.password.as_ref())
            .map(|p| p.expose()),
        Some("s3cret"),
        "the session keeps its password"
    );
    // Kept across further reads while the peer names it.
    assert_eq!(password(&mut src).as_deref(), Some("s3cret"));

    // A recreated Secret replaces the kept one, and nothing is reported any more.
    d.write("secret2.yaml", &secret("n3w"));
    assert_eq!(password(&mut src).as_deref(), Some("n3w"));
    assert!(src.read().unwrap().file_problems.is_empty());

    // Deleted again, then the peer stops naming it: gone.
    d.remove("secret2.yaml");
    assert_eq!(password(&mut src).as_deref(), Some("n3w"));
    d.write("peer.yaml", &peer(""));
    let r = src.read().unwrap();
    assert!(r.snapshot.secrets.is_empty(), "no peer names it: gone");
    assert!(r.file_problems.is_empty(), "{:?}", r.file_problems);
    assert_eq!(password(&mut src), None);
}

#[test]
fn a_secret_never_seen_valid_is_not_invented() {
    let d = Dir::new("nosecret");
    d.write(
        "peer.yaml",
        &peer("  passwordSecret: {name: bgp-pass, namespace: metallb-system}\n"),
    );
    let mut src = FileSource::new(d.path(), ReadOptions::default());
    let r = src.read().unwrap();
    assert!(r.snapshot.secrets.is_empty());
    let p = plan(r.snapshot, "n1");
    assert!(p.session("tor").is_none(), "pending, never passwordless");
    assert!(p.held_peers.contains_key("tor"));
}

#[test]
fn deleted_community_in_use_keeps_its_last_version_and_the_routes_stay() {
    let d = Dir::new("community");
    d.write("peer.yaml", &peer(""));
    d.write("service.yaml", SERVICE);
    d.write("adv.yaml", &advertisement("no-adv"));
    d.write("community.yaml", COMMUNITY);
    let mut src = FileSource::new(d.path(), ReadOptions::default());
    let communities = |src: &mut FileSource| {
        let r = src.read().unwrap();
        let p = plan(r.snapshot, "n1");
        p.session("tor").and_then(|s| {
            s.advertisements
                .get(&"203.0.113.10/32".parse().unwrap())
                .map(|a| {
                    a.attributes
                        .communities
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                })
        })
    };
    let before = communities(&mut src).expect("announced with the alias");
    assert_eq!(before.len(), 1, "{before:?}");

    d.remove("community.yaml");
    let r = src.read().unwrap();
    assert_eq!(
        r.snapshot.config.bgp_advertisements.len(),
        1,
        "the advertisement stays valid"
    );
    assert!(
        r.file_problems.iter().any(|p| p.contains(
            "Community metallb-system/aliases was deleted while BGPAdvertisement metallb-system/adv uses it"
        )),
        "{:?}",
        r.file_problems
    );
    assert_eq!(
        communities(&mut src),
        Some(before.clone()),
        "the route stays, with its community"
    );

    // Another Community defining the alias takes over: the deleted one is no longer kept.
    d.write(
        "other.yaml",
        &COMMUNITY.replace("name: aliases", "name: other"),
    );
    let r = src.read().unwrap();
    assert!(r.file_problems.is_empty(), "{:?}", r.file_problems);
    assert_eq!(communities(&mut src), Some(before));

    // Deleted too, then the advertisement stops using the alias: nothing is kept.
    d.remove("other.yaml");
    assert!(communities(&mut src).is_some());
    d.write("adv.yaml", &advertisement(""));
    let r = src.read().unwrap();
    assert!(r.file_problems.is_empty(), "{:?}", r.file_problems);
    assert!(r.snapshot.config.communities.is_empty());
    assert_eq!(communities(&mut src), Some(vec![]));
}

#[test]
fn a_deleted_community_nobody_uses_is_dropped() {
    let d = Dir::new("community-unused");
    d.write("peer.yaml", &peer(""));
    d.write("service.yaml", SERVICE);
    d.write("adv.yaml", &advertisement("\"65535:65281\""));
    d.write("community.yaml", COMMUNITY);
    let mut src = FileSource::new(d.path(), ReadOptions::default());
    assert_eq!(src.read().unwrap().snapshot.config.communities.len(), 1);
    d.remove("community.yaml");
    let r = src.read().unwrap();
    assert!(r.snapshot.config.communities.is_empty());
    assert!(r.file_problems.is_empty(), "{:?}", r.file_problems);
}
