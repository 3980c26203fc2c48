//! BGP sessions of a node: which BGPPeers apply (nodeSelectors, one session per (VRF, peer),
//! one myASN per VRF, one router ID), and everything the speaker needs to open each session —
//! ASNs, address or interface, port, source address, timers, multihop, graceful restart, address
//! families, the resolved TCP MD5 password and the BFD profile. Peers that apply but cannot run
//! yet (missing Secret, missing BFD profile) or that conflict on this node are "held" with a
//! reason; a held peer never gets a session, so a missing Secret never turns into a passwordless
//! session.

use super::{Vrf, VrfPlan};
use metalroute_crds::config::{BfdProfile, Peer};
use metalroute_crds::report::Outcome;
use metalroute_crds::selector::Labels;
use metalroute_crds::snapshot::Snapshot;
use metalroute_crds::validate::peer_conflict;
use metalroute_crds::values::{
    Asn, BgpTimers, ConnectTime, Family, Md5Password, PeerAsn, PeerTarget,
};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// Where a TCP MD5 password came from (shown instead of the password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// `spec.password`.
    Inline,
    /// `spec.passwordSecret`: the named Secret in MetalLB's namespace.
    Secret(String),
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Inline => f.write_str("spec.password"),
            PasswordSource::Secret(s) => write!(f, "Secret {s}"),
        }
    }
}

/// A resolved TCP MD5 password. `Debug` and `Display` never show it; only
/// [`Password::expose`] does, for the socket option.
#[derive(Clone, PartialEq, Eq)]
pub struct Password {
    source: PasswordSource,
    secret: String,
}

impl Password {
    /// Wraps a password and its source.
    pub fn new(source: PasswordSource, secret: String) -> Password {
        Password { source, secret }
    }

    /// Where the password came from.
    pub fn source(&self) -> &PasswordSource {
        &self.source
    }

    /// The password bytes, for `TCP_MD5SIG` only. Never log or print this.
    pub fn expose(&self) -> &str {
        &self.secret
    }
}

impl From<&Md5Password> for Password {
    fn from(p: &Md5Password) -> Password {
        match p {
            Md5Password::Inline(s) => Password::new(PasswordSource::Inline, s.clone()),
            Md5Password::Secret { name, password } => {
                Password::new(PasswordSource::Secret(name.clone()), password.clone())
            }
        }
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password({}, <redacted>)", self.source)
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted> (from {})", self.source)
    }
}

/// The address families a session carries (MetalLB/FRR semantics: the peer address's family;
/// both for an interface (unnumbered) peer or with `dualStackAddressFamily`; `disableMP` has no
/// effect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Families {
    /// IPv4 unicast.
    pub ipv4: bool,
    /// IPv6 unicast.
    pub ipv6: bool,
}

impl Families {
    /// True when prefixes of `family` go over the session.
    pub fn carries(&self, family: Family) -> bool {
        match family {
            Family::V4 => self.ipv4,
            Family::V6 => self.ipv6,
        }
    }

    fn of(peer: &Peer) -> Families {
        match (&peer.target, peer.dual_stack_address_family) {
            (PeerTarget::Interface(_), _) | (_, true) => Families {
                ipv4: true,
                ipv6: true,
            },
            (PeerTarget::Address(IpAddr::V4(_)), false) => Families {
                ipv4: true,
                ipv6: false,
            },
            (PeerTarget::Address(IpAddr::V6(_)), false) => Families {
                ipv4: false,
                ipv6: true,
            },
        }
    }
}

impl fmt::Display for Families {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.ipv4, self.ipv6) {
            (true, true) => f.write_str("ipv4+ipv6"),
            (true, false) => f.write_str("ipv4"),
            (false, true) => f.write_str("ipv6"),
            (false, false) => f.write_str("none"),
        }
    }
}

/// iBGP or eBGP, as far as the configuration tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionType {
    /// The peer's AS equals the AS we announce (or `dynamicASN: internal`).
    Ibgp,
    /// The peer's AS differs (or `dynamicASN: external`).
    Ebgp,
}

/// Everything that defines a session. When any field changes the session must be reset; when
/// none does, the actuator must leave the session alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionParams {
    /// The BGPPeer's name (advertisements refer to peers by name).
    pub peer: String,
    /// The host VRF the socket is bound to.
    pub vrf: Vrf,
    /// Peer address or interface (unnumbered).
    pub target: PeerTarget,
    /// TCP port of the peer (default 179).
    pub port: u16,
    /// `myASN`: the AS of this node's speaker in this VRF.
    pub my_asn: Asn,
    /// `localASN`: the AS announced to this peer instead of `myASN`, when set.
    pub local_asn: Option<Asn>,
    /// The remote AS, or dynamic internal/external.
    pub peer_asn: PeerAsn,
    /// Source address for the TCP connection.
    pub source_address: Option<IpAddr>,
    /// BGP identifier; `None`: the agent picks one for the node.
    pub router_id: Option<Ipv4Addr>,
    /// Hold/keepalive; `None`: the speaker's defaults.
    pub timers: Option<BgpTimers>,
    /// Connect retry time; `None`: the speaker's default.
    pub connect_time: Option<ConnectTime>,
    /// eBGP multi-hop (TTL 255 instead of 1).
    pub ebgp_multi_hop: bool,
    /// Graceful-restart capability.
    pub graceful_restart: bool,
    /// Address families carried.
    pub families: Families,
    /// `disableMP` as written (deprecated, no effect on [`SessionParams::families`]).
    pub disable_mp: bool,
    /// `dualStackAddressFamily` as written (reflected in [`SessionParams::families`]).
    pub dual_stack_address_family: bool,
    /// TCP MD5 password, resolved.
    pub password: Option<Password>,
    /// BFD profile, resolved with MetalLB's defaults.
    pub bfd: Option<BfdProfile>,
}

impl SessionParams {
    /// The AS this node announces in its OPEN to the peer (`localASN` else `myASN`).
    pub fn announced_asn(&self) -> Asn {
        self.local_asn.unwrap_or(self.my_asn)
    }

    /// iBGP or eBGP.
    pub fn session_type(&self) -> SessionType {
        let ibgp = match self.peer_asn {
            PeerAsn::Fixed(a) => a == self.announced_asn(),
            PeerAsn::Internal => true,
            PeerAsn::External => false,
        };
        if ibgp {
            SessionType::Ibgp
        } else {
            SessionType::Ebgp
        }
    }

    fn from_peer(peer: &Peer, bfd: Option<BfdProfile>) -> SessionParams {
        SessionParams {
            peer: peer.name.clone(),
            vrf: Vrf::from_option(&peer.vrf),
            target: peer.target.clone(),
            port: peer.port,
            my_asn: peer.my_asn,
            local_asn: peer.local_asn,
            peer_asn: peer.peer_asn,
            source_address: peer.source_address,
            router_id: peer.router_id,
            timers: peer.timers,
            connect_time: peer.connect_time,
            ebgp_multi_hop: peer.ebgp_multi_hop,
            graceful_restart: peer.graceful_restart,
            families: Families::of(peer),
            disable_mp: peer.disable_mp,
            dual_stack_address_family: peer.dual_stack_address_family,
            password: peer.password.as_ref().map(Password::from),
            bfd,
        }
    }
}

/// One session: its parameters and what it announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPlan {
    /// What defines the session (a change resets it).
    pub params: SessionParams,
    /// Prefixes to announce, by prefix (a change is an UPDATE, never a reset).
    pub advertisements: BTreeMap<ipnet::IpNet, super::Advertisement>,
}

/// Why a BGPPeer that applies runs no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeldReason {
    /// It refers to an object that does not exist (yet): its passwordSecret Secret or its BFD
    /// profile. The session starts once the object appears; it never starts without it.
    Pending,
    /// It conflicts with another peer that reaches this node (router ID, myASN in the VRF, or
    /// the same address in the same VRF); the earlier peer by name wins.
    ConflictOnNode,
}

impl HeldReason {
    /// A short name for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            HeldReason::Pending => "pending",
            HeldReason::ConflictOnNode => "conflictOnNode",
        }
    }
}

/// A BGPPeer held back, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPeer {
    /// Why.
    pub reason: HeldReason,
    /// Details naming the missing object or the conflicting peer.
    pub details: Vec<String>,
    /// Whether the peer's nodeSelectors select this node: `None` when the snapshot keeps no
    /// typed peer to evaluate (a peer invalid only for a missing reference).
    pub selects_node: Option<bool>,
}

/// Sessions grouped by VRF, and the peers held back.
pub(crate) fn plan_sessions(
    snapshot: &Snapshot,
    labels: &Labels,
) -> (BTreeMap<Vrf, VrfPlan>, BTreeMap<String, HeldPeer>) {
    let mut vrfs: BTreeMap<Vrf, VrfPlan> = BTreeMap::new();
    let mut held: BTreeMap<String, HeldPeer> = BTreeMap::new();
    let chosen = snapshot.peers_for_node(labels);
    for peer in snapshot.config.peers.values() {
        if !peer.node_selector.matches(labels) {
            continue;
        }
        if !chosen.iter().any(|c| c.name == peer.name) {
            let details = chosen
                .iter()
                .filter_map(|c| {
                    peer_conflict(c, peer).map(|(field, why)| format!("{field}: {why}"))
                })
                .collect();
            held.insert(
                peer.name.clone(),
                HeldPeer {
                    reason: HeldReason::ConflictOnNode,
                    details,
                    selects_node: Some(true),
                },
            );
            continue;
        }
        let bfd = match &peer.bfd_profile {
            None => None,
            Some(name) => match snapshot.config.bfd_profiles.get(name) {
                Some(p) => Some(p.clone()),
                None => {
                    held.insert(
                        peer.name.clone(),
                        HeldPeer {
                            reason: HeldReason::Pending,
                            details: vec![format!(
                                "spec.bfdProfile: BFDProfile {name} does not exist"
                            )],
                            selects_node: Some(true),
                        },
                    );
                    continue;
                }
            },
        };
        let params = SessionParams::from_peer(peer, bfd);
        vrfs.entry(params.vrf.clone()).or_default().sessions.insert(
            params.target.clone(),
            SessionPlan {
                params,
                advertisements: BTreeMap::new(),
            },
        );
    }
    // Peers that validation left out only because a referenced object is missing (Secret, BFD
    // profile): pending, never passwordless or BFD-less.
    for r in &snapshot.reports {
        if r.key.kind != "BGPPeer" || r.outcome != Outcome::Checked || !r.only_transient_errors() {
            continue;
        }
        held.entry(r.key.name.clone()).or_insert_with(|| HeldPeer {
            reason: HeldReason::Pending,
            details: r.errors.iter().map(ToString::to_string).collect(),
            selects_node: None,
        });
    }
    (vrfs, held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_redacted_everywhere_but_expose() {
        let p = Password::new(PasswordSource::Secret("s".into()), "hunter2".into());
        assert_eq!(p.expose(), "hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(!format!("{p}").contains("hunter2"));
        assert_eq!(format!("{p}"), "<redacted> (from Secret s)");
        let inline: Password = (&Md5Password::Inline("x1".into())).into();
        assert_eq!(inline.source(), &PasswordSource::Inline);
    }

    #[test]
    fn families_follow_metallb() {
        let f = |ipv4, ipv6| Families { ipv4, ipv6 };
        assert!(f(true, false).carries(Family::V4) && !f(true, false).carries(Family::V6));
        assert_eq!(f(true, true).to_string(), "ipv4+ipv6");
        assert_eq!(f(false, true).to_string(), "ipv6");
    }
}
