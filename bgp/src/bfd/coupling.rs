//! BFD drives BGP (RFC 5882 §4.3, RFC 9384): a task that listens to BFD state changes and, when
//! a session fails (Up → Down by detection-time or echo expiry, or the peer signalling Down — but
//! not AdminDown on either side), takes the BGP session to the same peer in the same VRF down at
//! once with NOTIFICATION Cease / BFD Down (subcode 10). The BGP FSM then reconnects normally.

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::engine::Event;
use super::session::SessionKey;
use super::transport::BfdHandle;
use crate::config::PeerKey;
use crate::packet::CeaseSubcode;
use crate::speaker::Speaker;

/// The BGP peer a BFD session protects: same VRF, same peer address — or, for a session on an
/// interface's link-local addresses, the unnumbered peer of that interface.
pub fn peer_key(key: &SessionKey) -> PeerKey {
    match &key.interface {
        Some(i) => PeerKey::interface(key.vrf.clone(), i),
        None => PeerKey::address(key.vrf.clone(), key.peer),
    }
}

/// Whether this BFD event must take the BGP session down.
pub fn takes_bgp_down(event: &Event) -> bool {
    event.is_failure()
}

/// Spawns the coupling task on the current runtime. It ends when the BFD task stops.
pub fn couple_to_speaker(bfd: &BfdHandle, speaker: Speaker) -> JoinHandle<()> {
    let mut events = bfd.subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) if takes_bgp_down(&e) => {
                    let peer = peer_key(&e.key);
                    match speaker.peer_down(&peer, CeaseSubcode::BfdDown).await {
                        Ok(true) => {
                            tracing::warn!(%peer, diag = %e.diagnostic, "BFD down: BGP session reset with Cease/BFD Down")
                        }
                        Ok(false) => {
                            tracing::debug!(%peer, "BFD down for a peer without BGP session")
                        }
                        Err(err) => {
                            tracing::warn!(%peer, error = %err, "BFD down: BGP speaker unavailable");
                            return;
                        }
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "BFD events lost by the BGP coupling")
                }
                Err(RecvError::Closed) => return,
            }
        }
    })
}
