//! The async `Speaker` handle without the network: a passive peer with no listener opens no
//! socket, so these run anywhere. Checks the API contract the agent and BFD rely on.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use metalroute_bgp::config::{Asn, Family, PeerAsn, PeerConfig, PeerKey};
use metalroute_bgp::fsm::State;
use metalroute_bgp::packet::{CeaseSubcode, PathAttributes};
use metalroute_bgp::speaker::{PeerEvent, Speaker, SpeakerConfig, SpeakerError};

fn assert_send_sync<T: Send + Sync>(_: &T) {}
fn assert_send<T: Send>(_: T) {}

fn passive_peer(addr: &str) -> PeerConfig {
    let mut c = PeerConfig::new(
        Asn(64511),
        PeerAsn::Fixed(Asn(64512)),
        addr.parse().unwrap(),
        Ipv4Addr::new(192, 0, 2, 1),
    );
    c.passive = true;
    c
}

#[tokio::test]
async fn speaker_api_contract_without_network() {
    let speaker = Speaker::new(SpeakerConfig {
        listen_port: None,
        ..SpeakerConfig::default()
    });
    assert_send_sync(&speaker);
    assert_send(speaker.peers());
    let mut events = speaker.subscribe();
    let cfg = passive_peer("192.0.2.2");
    let key = cfg.key();
    speaker.add_peer(cfg.clone()).await.unwrap();
    let st = speaker.peer_state(&key).await.unwrap().unwrap();
    assert_eq!(st.state, State::Active);
    assert_eq!(st.peer_asn, Some(Asn(64512)));
    assert_eq!(st.uptime, None);
    match events.recv().await.unwrap() {
        PeerEvent::StateChanged { peer, from, to, .. } => {
            assert_eq!((peer, from, to), (key.clone(), State::Idle, State::Active));
        }
    }
    // Advertisements are kept while the session is down.
    let routes: HashMap<_, _> = [(
        "198.51.100.1/32".parse().unwrap(),
        Arc::new(PathAttributes::default()),
    )]
    .into();
    speaker
        .set_advertisements(&key, Family::IPV4_UNICAST, routes)
        .await
        .unwrap();
    let st = speaker.peer_state(&key).await.unwrap().unwrap();
    assert_eq!(st.prefixes_desired.get(&Family::IPV4_UNICAST), Some(&1));
    assert_eq!(st.prefixes_sent.get(&Family::IPV4_UNICAST), None);
    // Errors name the peer.
    let other = PeerKey::address(None, "192.0.2.9".parse().unwrap());
    let err = speaker
        .set_advertisements(&other, Family::IPV4_UNICAST, HashMap::new())
        .await
        .unwrap_err();
    assert!(matches!(err, SpeakerError::UnknownPeer(_)), "{err}");
    let mut bad = cfg.clone();
    bad.router_id = Ipv4Addr::UNSPECIFIED;
    let err = speaker.add_peer(bad).await.unwrap_err();
    assert!(err.to_string().contains("router_id"), "{err}");
    // BFD hook on a session that is not up: accepted, the peer stays configured.
    assert!(speaker
        .peer_down(&key, CeaseSubcode::BfdDown)
        .await
        .unwrap());
    assert!(!speaker
        .peer_down(&other, CeaseSubcode::BfdDown)
        .await
        .unwrap());
    // A second peer in a VRF: listed with the first.
    let mut vrf_peer = passive_peer("192.0.2.3");
    vrf_peer.vrf = Some("red".into());
    speaker.add_peer(vrf_peer).await.unwrap();
    let all = speaker.peers().await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(speaker.remove_peer(&key).await.unwrap());
    assert!(!speaker.remove_peer(&key).await.unwrap());
    assert_eq!(speaker.peers().await.unwrap().len(), 1);
    speaker.shutdown(false).await;
    assert!(speaker.peers().await.unwrap().is_empty());
}
