//! The BFD actuator: runs one BFD session (RFC 5880/5881/5883) per BGP session whose BGPPeer has
//! a `bfdProfile`, keyed by (VRF, peer, local address, single/multi-hop), and couples BFD Down to
//! the speaker (Cease / BFD Down, `metalroute_bgp::bfd::couple_to_speaker`).
//!
//! The local address is the BGPPeer's `sourceAddress`, else the local address of the BGP
//! connection once it is up; sessions whose local address is not known yet are started on a
//! later pass (the agent loop calls [`BfdActuator::apply`] again on every BGP state change).
//!
//! An unnumbered BGPPeer (`interface`) gets a single-hop session (RFC 5881) between IPv6
//! link-local addresses on that interface, as FRR's `neighbor IF interface bfd`: the peer is the
//! router's link-local address the speaker learned from its Router Advertisements
//! ([`metalroute_bgp::session::PeerStatus::neighbor`]), ours the connection's local address or
//! else our link-local address on the interface. It starts once the neighbour is known and moves
//! (remove + add) when the neighbour's address changes.
//! A profile change is a `set_params` (a Poll sequence, no flap); removing `bfdProfile` from a
//! peer removes its BFD session without touching its BGP session.
//!
//! It also keeps the set of BGP sessions whose BFD session is Up ([`BfdActuator::up_peers`]) and
//! wakes the agent loop when it changes ([`BfdActuator::changed`]): the speaker actuator holds a
//! BFD peer's advertisements back until its BFD session is Up.

use crate::planner::NodePlan;
use metalroute_bgp::bfd::{
    couple_to_speaker, coupling::peer_key, BfdHandle, DetectMultiplier, HopMode, Interval,
    SessionKey, SessionParams,
};
use metalroute_bgp::config::{is_link_local, PeerKey};
use metalroute_bgp::speaker::Speaker;
use metalroute_crds::config::BfdProfile;
use metalroute_crds::values::PeerTarget;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The BGP sessions whose BFD session is Up, live.
pub type BfdUpPeers = Arc<Mutex<BTreeSet<PeerKey>>>;

/// BFD session parameters from a BFDProfile (MetalLB's defaults are already filled in).
pub fn bfd_params(p: &BfdProfile) -> Result<SessionParams, String> {
    let e = |err: metalroute_bgp::bfd::Error| format!("BFDProfile {}: {err}", p.name);
    Ok(SessionParams {
        receive_interval: Interval::new("receiveInterval", p.receive_interval).map_err(e)?,
        transmit_interval: Interval::new("transmitInterval", p.transmit_interval).map_err(e)?,
        detect_multiplier: DetectMultiplier::new(p.detect_multiplier).map_err(e)?,
        echo_interval: Interval::new("echoInterval", p.echo_interval).map_err(e)?,
        echo_mode: p.echo_mode,
        passive_mode: p.passive_mode,
        minimum_ttl: p.minimum_ttl,
        auth: None,
    })
}

/// Up and Down transitions seen per BFD session (for `metallb_bfd_session_up_events` /
/// `_down_events`).
pub type BfdEventCounts = Arc<Mutex<BTreeMap<SessionKey, (u64, u64)>>>;

/// Drives the BFD transport from the plan.
#[derive(Debug)]
pub struct BfdActuator {
    speaker: Speaker,
    handle: Option<BfdHandle>,
    coupling: Option<JoinHandle<()>>,
    applied: BTreeMap<SessionKey, (String, SessionParams)>,
    /// The last local address seen per BGP session: a BFD session keeps running while its BGP
    /// session is down (that is when BFD tells the link is back).
    locals: BTreeMap<PeerKey, std::net::IpAddr>,
    /// The last neighbour (router link-local address) learned per unnumbered BGP session.
    neighbors: BTreeMap<PeerKey, Ipv6Addr>,
    /// The interface index a link-local session's sockets were opened on: an interface deleted
    /// and created again (same name, new index) needs the session re-opened.
    ifindexes: BTreeMap<SessionKey, u32>,
    counts: BfdEventCounts,
    up: BfdUpPeers,
    changed: Arc<Notify>,
    counter: Option<JoinHandle<()>>,
}

impl BfdActuator {
    /// An actuator that starts the BFD transport the first time a session needs it.
    pub fn new(speaker: Speaker) -> BfdActuator {
        BfdActuator {
            speaker,
            handle: None,
            coupling: None,
            applied: BTreeMap::new(),
            locals: BTreeMap::new(),
            neighbors: BTreeMap::new(),
            ifindexes: BTreeMap::new(),
            counts: Arc::default(),
            up: Arc::default(),
            changed: Arc::new(Notify::new()),
            counter: None,
        }
    }

    /// The BGP sessions whose BFD session is Up now.
    pub fn up_peers(&self) -> BTreeSet<PeerKey> {
        // A set of keys: a poisoned lock still holds a usable set.
        self.up.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Notified whenever a BFD session comes Up or leaves Up.
    pub fn changed(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// The transport, once started (for status).
    pub fn handle(&self) -> Option<&BfdHandle> {
        self.handle.as_ref()
    }

    /// Up/Down transition counts per session, live.
    pub fn event_counts(&self) -> BfdEventCounts {
        self.counts.clone()
    }

    /// BGPPeer name of each running BFD session.
    pub fn names(&self) -> BTreeMap<SessionKey, String> {
        self.applied
            .iter()
            .map(|(k, (n, _))| (k.clone(), n.clone()))
            .collect()
    }

    /// Converges the BFD sessions to the plan.
    pub async fn apply(&mut self, plan: &NodePlan) {
        let mut desired: BTreeMap<SessionKey, (String, SessionParams)> = BTreeMap::new();
        for (vrf, s) in plan.sessions() {
            let p = &s.params;
            let Some(profile) = &p.bfd else { continue };
            let params = match bfd_params(profile) {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(peer = %p.peer, error = %e, "BFD session not started");
                    continue;
                }
            };
            let vrf = vrf.device().map(str::to_string);
            let key = match &p.target {
                PeerTarget::Address(peer) => {
                    let pk = PeerKey::address(vrf.clone(), *peer);
                    let local = match p.source_address {
                        Some(a) => Some(a),
                        None => self
                            .speaker
                            .peer_state(&pk)
                            .await
                            .ok()
                            .flatten()
                            .and_then(|st| st.local_address)
                            .map(|a| a.ip())
                            .or_else(|| self.locals.get(&pk).copied()),
                    };
                    let Some(local) = local else { continue };
                    self.locals.insert(pk, local);
                    SessionKey {
                        vrf,
                        peer: *peer,
                        local,
                        hop: if p.ebgp_multi_hop {
                            HopMode::MultiHop
                        } else {
                            HopMode::SingleHop
                        },
                        interface: None,
                    }
                }
                PeerTarget::Interface(ifname) => {
                    let pk = PeerKey::interface(vrf.clone(), ifname);
                    let Some((peer, local)) = self.unnumbered_endpoints(&pk, ifname).await else {
                        continue;
                    };
                    SessionKey {
                        vrf,
                        ..SessionKey::link_local(ifname, peer, local)
                    }
                }
            };
            desired.insert(key, (p.peer.clone(), params));
        }
        let wanted: std::collections::BTreeSet<PeerKey> = desired.keys().map(peer_key).collect();
        self.locals.retain(|k, _| wanted.contains(k));
        self.neighbors.retain(|k, _| wanted.contains(k));
        if desired.is_empty() && self.applied.is_empty() {
            return;
        }
        let handle = match &self.handle {
            Some(h) => h.clone(),
            None => match BfdHandle::spawn() {
                Ok(h) => {
                    self.coupling = Some(couple_to_speaker(&h, self.speaker.clone()));
                    self.counter = Some(count_events(
                        &h,
                        self.counts.clone(),
                        self.up.clone(),
                        self.changed.clone(),
                    ));
                    self.handle = Some(h.clone());
                    h
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot start BFD");
                    return;
                }
            },
        };
        // Sessions on an interface that was re-created (new index): re-open them (remove now,
        // added again below).
        let reopened: BTreeSet<SessionKey> = self
            .applied
            .keys()
            .filter(|k| desired.contains_key(*k))
            .filter(|k| {
                let now = k.interface.as_deref().and_then(interface_index);
                now.is_some() && now != self.ifindexes.get(*k).copied()
            })
            .cloned()
            .collect();
        let gone: Vec<SessionKey> = self
            .applied
            .keys()
            .filter(|k| !desired.contains_key(*k) || reopened.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            let name = self.applied.remove(&k).map(|(n, _)| n).unwrap_or_default();
            self.ifindexes.remove(&k);
            if reopened.contains(&k) {
                tracing::info!(peer = %name, bfd = %k, "interface re-created: BFD session re-opened");
            }
            // A removed session reports no event: it is no longer Up.
            if self
                .up
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&peer_key(&k))
            {
                self.changed.notify_one();
            }
            match handle.remove(k.clone()).await {
                Ok(()) => tracing::info!(peer = %name, bfd = %k, "BFD session removed"),
                Err(e) => tracing::warn!(peer = %name, error = %e, "removing BFD session failed"),
            }
        }
        for (k, (name, params)) in desired {
            let res = match self.applied.get(&k) {
                Some((_, old)) if *old == params => continue,
                Some(_) => handle.set_params(k.clone(), params.clone()).await,
                None => handle.add(k.clone(), params.clone()).await,
            };
            match res {
                Ok(()) => {
                    tracing::info!(peer = %name, bfd = %k, "BFD session configured");
                    if let Some(i) = k.interface.as_deref().and_then(interface_index) {
                        self.ifindexes.insert(k.clone(), i);
                    }
                    self.applied.insert(k, (name, params));
                }
                Err(e) => tracing::warn!(peer = %name, error = %e, "BFD session refused"),
            }
        }
    }

    /// The (router, our) link-local addresses of the unnumbered session `pk` on `ifname`:
    /// the neighbour the speaker learned (the last one seen if the session has no neighbour
    /// now), and the BGP connection's local address, else our link-local address on the
    /// interface. `None` until both are known.
    async fn unnumbered_endpoints(
        &mut self,
        pk: &PeerKey,
        ifname: &str,
    ) -> Option<(Ipv6Addr, Ipv6Addr)> {
        let st = self.speaker.peer_state(pk).await.ok().flatten();
        let neighbor = st
            .as_ref()
            .and_then(|s| s.neighbor)
            .or_else(|| self.neighbors.get(pk).copied())?;
        self.neighbors.insert(pk.clone(), neighbor);
        let connected = st.and_then(|s| s.local_address).and_then(|a| match a.ip() {
            IpAddr::V6(v6) if is_link_local(a.ip()) => Some(v6),
            _ => None,
        });
        let local = connected.or_else(|| our_link_local(ifname))?;
        Some((neighbor, local))
    }

    /// Stops every BFD session.
    pub async fn shutdown(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.shutdown().await;
        }
        for t in [self.coupling.take(), self.counter.take()]
            .into_iter()
            .flatten()
        {
            t.abort();
        }
        self.applied.clear();
        self.ifindexes.clear();
        self.up.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// The index of interface `name`, if it exists.
fn interface_index(name: &str) -> Option<u32> {
    metalroute_bgp::socket::interface_index(name).ok()
}

/// Our IPv6 link-local address on `ifname`, if it has one (the lowest, for a stable choice).
fn our_link_local(ifname: &str) -> Option<Ipv6Addr> {
    metalroute_bgp::socket::addresses_of(ifname)
        .ok()?
        .into_iter()
        .filter_map(|a| match a {
            IpAddr::V6(v6) if is_link_local(a) => Some(v6),
            _ => None,
        })
        .min()
}

/// Counts Up and Down transitions of every session and keeps the set of Up sessions, until the
/// transport stops; `changed` is notified on every Up or Down.
fn count_events(
    h: &BfdHandle,
    counts: BfdEventCounts,
    up_peers: BfdUpPeers,
    changed: Arc<Notify>,
) -> JoinHandle<()> {
    let mut events = h.subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => {
                    let up = e.to == metalroute_bgp::bfd::State::Up;
                    let down = e.from == metalroute_bgp::bfd::State::Up && !up;
                    if up || down {
                        // Plain counters: a poisoned lock still holds usable numbers.
                        let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
                        let entry = c.entry(e.key.clone()).or_default();
                        if up {
                            entry.0 += 1;
                        } else {
                            entry.1 += 1;
                        }
                        drop(c);
                        let mut set = up_peers.lock().unwrap_or_else(|p| p.into_inner());
                        if up {
                            set.insert(peer_key(&e.key));
                        } else {
                            set.remove(&peer_key(&e.key));
                        }
                        drop(set);
                        changed.notify_one();
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}
