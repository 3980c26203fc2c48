//! The async [`Speaker`] handle and the tokio shell around the sans-IO sessions.
//!
//! It owns the tasks and the sockets: one owner task per VRF holds every session of that VRF
//! (no locks on session state), its listening sockets, and one child task per TCP connection.
//! Children send one [`Input`] enum over a bounded channel; the owner feeds the sessions, fires
//! their timers and carries out their outputs (connect, write, close). Shutdown sends a Cease to
//! every peer (or, for a graceful restart, closes without one so peers keep our routes).

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::{Family, PeerConfig, PeerId, PeerKey};
use crate::fsm::{ConnId, Direction, SplitMix, State};
use crate::packet::{self, CeaseSubcode, Message, Notification};
pub use crate::routes::{RouteSet, RouteSetBuilder};
use crate::session::{ConnAddrs, PeerStatus, ReceivedRoute, Session, SessionOutput};
use crate::socket::{self, ConnectOptions, TtlPolicy};
use crate::unnumbered::{self, Learned};

/// Errors of the speaker API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpeakerError {
    /// A peer configuration is invalid.
    #[error("BGP peer {peer}: {field} {reason}")]
    InvalidConfig {
        /// The peer (address%vrf).
        peer: String,
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// No such peer is configured.
    #[error("BGP peer {0} is not configured")]
    UnknownPeer(String),
    /// The family is not one of the peer's configured families.
    #[error("BGP peer {peer}: family {family} is not configured for this session")]
    FamilyNotConfigured {
        /// The peer.
        peer: String,
        /// The family.
        family: String,
    },
    /// A prefix does not belong to the family it was given for.
    #[error("BGP peer {peer}: prefix {prefix} is not in family {family}")]
    PrefixFamilyMismatch {
        /// The peer.
        peer: String,
        /// The prefix.
        prefix: String,
        /// The family.
        family: String,
    },
    /// The speaker has shut down.
    #[error("the BGP speaker has shut down")]
    ShutDown,
}

/// Speaker-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerConfig {
    /// TCP port to listen on in every VRF that has peers (`None` = never listen; passive peers
    /// then never come up).
    pub listen_port: Option<u16>,
    /// How long a connect attempt may take before it counts as failed.
    pub connect_timeout: Duration,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        SpeakerConfig {
            listen_port: Some(179),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Something that happened to a session, for subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// The FSM changed state.
    StateChanged {
        /// The session.
        peer: PeerKey,
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// When leaving Established: why.
        reason: Option<String>,
    },
}

/// Per-connection write queue bound (encoded message batches).
const CONN_QUEUE: usize = 4096;
/// Bound of the channel from connection and listener tasks to the owner.
const INPUT_QUEUE: usize = 1024;
/// Bound of the command channel of a VRF task.
const COMMAND_QUEUE: usize = 256;
/// How long a closing connection may take to flush its last messages.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a VRF retries a listener that failed (e.g. VRF device not created yet).
const LISTEN_RETRY: Duration = Duration::from_secs(2);

enum Command {
    Upsert(Box<PeerConfig>, oneshot::Sender<()>),
    Remove(PeerId, oneshot::Sender<bool>),
    SetAdvertisements {
        peer: PeerId,
        family: Family,
        routes: RouteSet,
        reply: oneshot::Sender<Result<(), SpeakerError>>,
    },
    PeerDown {
        peer: PeerId,
        subcode: CeaseSubcode,
        reply: oneshot::Sender<bool>,
    },
    Status {
        peer: Option<PeerId>,
        reply: oneshot::Sender<Vec<PeerStatus>>,
    },
    Received {
        peer: PeerId,
        family: Family,
        reply: oneshot::Sender<Option<Vec<ReceivedRoute>>>,
    },
    Shutdown {
        graceful_restart: bool,
        reply: oneshot::Sender<()>,
    },
}

enum Input {
    Connected {
        peer: PeerId,
        conn: ConnId,
        local: SocketAddr,
        other: Option<IpAddr>,
    },
    ConnectFailed {
        peer: PeerId,
        conn: ConnId,
        error: String,
    },
    Received {
        peer: PeerId,
        conn: ConnId,
        msg: Bytes,
    },
    FrameError {
        peer: PeerId,
        conn: ConnId,
        notification: Notification,
    },
    Closed {
        peer: PeerId,
        conn: ConnId,
    },
    Accepted {
        stream: TcpStream,
        remote: SocketAddr,
        local: SocketAddr,
    },
}

type VrfMap = HashMap<Option<String>, (mpsc::Sender<Command>, JoinHandle<()>)>;

struct Inner {
    config: SpeakerConfig,
    vrfs: Mutex<VrfMap>,
    events: broadcast::Sender<PeerEvent>,
}

/// The BGP speaker: a cheap, cloneable handle to the per-VRF owner tasks. Create it inside a
/// tokio runtime.
#[derive(Clone)]
pub struct Speaker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speaker")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Speaker {
    /// A speaker with no peers.
    pub fn new(config: SpeakerConfig) -> Speaker {
        let (events, _) = broadcast::channel(1024);
        Speaker {
            inner: Arc::new(Inner {
                config,
                vrfs: Mutex::new(HashMap::new()),
                events,
            }),
        }
    }

    fn vrf(&self, vrf: &Option<String>, create: bool) -> Option<mpsc::Sender<Command>> {
        // The lock guards a map of channel handles only; no await happens while it is held, and
        // a poisoned lock only means another thread panicked while inserting: the map is intact.
        let mut vrfs = self.inner.vrfs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((tx, handle)) = vrfs.get(vrf) {
            if !handle.is_finished() {
                return Some(tx.clone());
            }
        }
        if !create {
            return None;
        }
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let (itx, irx) = mpsc::channel(INPUT_QUEUE);
        let (ltx, lrx) = mpsc::channel(COMMAND_QUEUE);
        let task = VrfTask {
            vrf: vrf.clone(),
            config: self.inner.config.clone(),
            sessions: HashMap::new(),
            conns: HashMap::new(),
            flushing: Vec::new(),
            listeners: Vec::new(),
            listen_retry: None,
            inputs: itx,
            events: self.inner.events.clone(),
            discovery: HashMap::new(),
            learned: ltx,
            md5_neighbors: HashMap::new(),
            foreign_refused: 0,
            foreign_logged: HashSet::new(),
        };
        let span = tracing::info_span!("bgp-vrf", vrf = vrf.as_deref().unwrap_or("default"));
        let handle = tokio::spawn(tracing::Instrument::instrument(
            task.run(rx, irx, lrx),
            span,
        ));
        vrfs.insert(vrf.clone(), (tx.clone(), handle));
        Some(tx)
    }

    async fn ask<T>(
        &self,
        vrf: &Option<String>,
        create: bool,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<Option<T>, SpeakerError> {
        let Some(tx) = self.vrf(vrf, create) else {
            return Ok(None);
        };
        let (rtx, rrx) = oneshot::channel();
        tx.send(make(rtx))
            .await
            .map_err(|_| SpeakerError::ShutDown)?;
        rrx.await.map(Some).map_err(|_| SpeakerError::ShutDown)
    }

    /// Adds a peer, or updates it if one with the same VRF and address exists. An unchanged
    /// configuration is a no-op; a changed one resets the session with Cease / Other
    /// Configuration Change (advertisements are kept).
    pub async fn add_peer(&self, config: PeerConfig) -> Result<(), SpeakerError> {
        config.validate()?;
        let vrf = config.vrf.clone();
        self.ask(&vrf, true, |r| Command::Upsert(Box::new(config), r))
            .await?;
        Ok(())
    }

    /// Same as [`Speaker::add_peer`] (level-triggered upsert).
    pub async fn update_peer(&self, config: PeerConfig) -> Result<(), SpeakerError> {
        self.add_peer(config).await
    }

    /// Removes a peer: Cease / Peer De-configured, then close. Returns whether it existed.
    pub async fn remove_peer(&self, peer: &PeerKey) -> Result<bool, SpeakerError> {
        let addr = peer.id.clone();
        Ok(self
            .ask(&peer.vrf, false, |r| Command::Remove(addr, r))
            .await?
            .unwrap_or(false))
    }

    /// Sets the complete set of routes to advertise to `peer` in `family`; only the difference
    /// from what the peer already has goes on the wire. Never resets the session.
    ///
    /// The speaker keeps the [`RouteSet`] by reference (and so does each session for what its
    /// peer was sent): to announce the same routes to several peers, build one set and pass a
    /// clone to each, and the routes are held once. A `HashMap`/`BTreeMap` of
    /// `IpNet → Arc<PathAttributes>` converts into a set.
    pub async fn set_advertisements(
        &self,
        peer: &PeerKey,
        family: Family,
        routes: impl Into<RouteSet>,
    ) -> Result<(), SpeakerError> {
        let routes = routes.into();
        let addr = peer.id.clone();
        match self
            .ask(&peer.vrf, false, |reply| Command::SetAdvertisements {
                peer: addr,
                family,
                routes,
                reply,
            })
            .await?
        {
            Some(r) => r,
            None => Err(SpeakerError::UnknownPeer(peer.to_string())),
        }
    }

    /// Takes the session down at once with NOTIFICATION Cease / `subcode` (BFD Down = 10); the
    /// FSM reconnects after its backoff. Returns whether the peer exists.
    pub async fn peer_down(
        &self,
        peer: &PeerKey,
        subcode: CeaseSubcode,
    ) -> Result<bool, SpeakerError> {
        let addr = peer.id.clone();
        Ok(self
            .ask(&peer.vrf, false, |reply| Command::PeerDown {
                peer: addr,
                subcode,
                reply,
            })
            .await?
            .unwrap_or(false))
    }

    /// State, timers, capabilities and counters of one peer.
    pub async fn peer_state(&self, peer: &PeerKey) -> Result<Option<PeerStatus>, SpeakerError> {
        let addr = peer.id.clone();
        let list = self
            .ask(&peer.vrf, false, |reply| Command::Status {
                peer: Some(addr),
                reply,
            })
            .await?;
        Ok(list.and_then(|mut l| l.pop()))
    }

    /// Status of every peer of every VRF, sorted by VRF and address.
    pub async fn peers(&self) -> Result<Vec<PeerStatus>, SpeakerError> {
        let vrfs: Vec<Option<String>> = {
            let map = self.inner.vrfs.lock().unwrap_or_else(|p| p.into_inner());
            map.keys().cloned().collect()
        };
        let mut all = Vec::new();
        for vrf in vrfs {
            if let Some(list) = self
                .ask(&vrf, false, |reply| Command::Status { peer: None, reply })
                .await?
            {
                all.extend(list);
            }
        }
        all.sort_by(|a, b| a.peer.cmp(&b.peer));
        Ok(all)
    }

    /// The routes the peer sent us in `family` (Adj-RIB-In, stale ones flagged); `None` if the
    /// peer is unknown.
    pub async fn received_routes(
        &self,
        peer: &PeerKey,
        family: Family,
    ) -> Result<Option<Vec<ReceivedRoute>>, SpeakerError> {
        let addr = peer.id.clone();
        Ok(self
            .ask(&peer.vrf, false, |reply| Command::Received {
                peer: addr,
                family,
                reply,
            })
            .await?
            .flatten())
    }

    /// A stream of session events (state changes). Slow receivers lose the oldest events.
    pub fn subscribe(&self) -> broadcast::Receiver<PeerEvent> {
        self.inner.events.subscribe()
    }

    /// Stops every session and task. With `graceful_restart` false every peer gets Cease /
    /// Administrative Shutdown; with true, connections are closed without a NOTIFICATION so
    /// peers that negotiated graceful restart keep our routes until we are back.
    pub async fn shutdown(&self, graceful_restart: bool) {
        let vrfs: Vec<(mpsc::Sender<Command>, JoinHandle<()>)> = {
            let mut map = self.inner.vrfs.lock().unwrap_or_else(|p| p.into_inner());
            map.drain().map(|(_, v)| v).collect()
        };
        for (tx, handle) in vrfs {
            let (rtx, rrx) = oneshot::channel();
            if tx
                .send(Command::Shutdown {
                    graceful_restart,
                    reply: rtx,
                })
                .await
                .is_ok()
            {
                let _ = rrx.await;
            }
            let _ = tokio::time::timeout(FLUSH_TIMEOUT, handle).await;
        }
    }
}

struct ConnHandle {
    tx: mpsc::Sender<Bytes>,
    task: JoinHandle<()>,
}

struct Listener {
    socket: Arc<TcpListener>,
    task: JoinHandle<()>,
}

struct VrfTask {
    vrf: Option<String>,
    config: SpeakerConfig,
    sessions: HashMap<PeerId, Session>,
    conns: HashMap<ConnId, ConnHandle>,
    flushing: Vec<JoinHandle<()>>,
    listeners: Vec<Listener>,
    listen_retry: Option<Instant>,
    inputs: mpsc::Sender<Input>,
    events: broadcast::Sender<PeerEvent>,
    /// Neighbour discovery of each interface with an unnumbered peer.
    discovery: HashMap<String, JoinHandle<()>>,
    /// Where discovery tasks report neighbours.
    learned: mpsc::Sender<Learned>,
    /// The link-local address each unnumbered peer's MD5 key is installed for on the listeners.
    md5_neighbors: HashMap<PeerId, IpAddr>,
    /// Connections refused because they arrived through another VRF (see `accepted_in_vrf`).
    foreign_refused: u64,
    /// Remote addresses whose foreign-VRF connection was logged at info (bounded).
    foreign_logged: HashSet<IpAddr>,
}

/// How many remote addresses a VRF remembers having logged a foreign-VRF connection from;
/// beyond that they are logged at debug only.
const FOREIGN_LOG_ADDRESSES: usize = 256;

/// Whether a connection accepted by the listener of VRF `vrf` (`None` = the default VRF) arrived
/// through that VRF.
///
/// `bound` is the device the kernel bound the accepted socket to ([`socket::bound_device`]):
/// the listener's own VRF device for a listener bound to a VRF; nothing for an unbound listener,
/// except that with `net.ipv4.tcp_l3mdev_accept=1` a connection that came in through a VRF is
/// bound to that VRF's device. A connection from an IPv6 link-local address is bound to the
/// interface it arrived on (`arrival`, from the address's scope), which is where an unnumbered
/// peer lives: that one belongs here too (its session is looked up by interface).
fn accepted_in_vrf(vrf: Option<&str>, bound: Option<&str>, arrival: Option<&str>) -> bool {
    match bound {
        None => vrf.is_none(),
        Some(dev) => vrf == Some(dev) || arrival == Some(dev),
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl VrfTask {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut inputs: mpsc::Receiver<Input>,
        mut learned: mpsc::Receiver<Learned>,
    ) {
        loop {
            let deadline = self.next_deadline();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Shutdown { graceful_restart, reply }) => {
                        self.shutdown(graceful_restart).await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(cmd) => self.command(cmd),
                    None => {
                        self.shutdown(false).await;
                        return;
                    }
                },
                Some(input) = inputs.recv() => self.input(input),
                Some(l) = learned.recv() => self.neighbor_learned(l),
                _ = sleep => self.timeout(),
            }
            self.flushing.retain(|h| !h.is_finished());
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.sessions
            .values()
            .filter_map(|s| s.poll_timeout())
            .chain(self.listen_retry)
            .min()
    }

    fn timeout(&mut self) {
        let now = Instant::now();
        if self.listen_retry.is_some_and(|t| t <= now) {
            self.listen_retry = None;
            self.ensure_listeners();
        }
        let peers: Vec<PeerId> = self.sessions.keys().cloned().collect();
        for peer in peers {
            if let Some(s) = self.sessions.get_mut(&peer) {
                if s.poll_timeout().is_some_and(|t| t <= now) {
                    s.handle_timeout(now);
                    self.drive(&peer);
                }
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Upsert(config, reply) => {
                let peer = config.key().id;
                if let Some(i) = &config.interface {
                    self.ensure_discovery(i);
                }
                match self.sessions.get_mut(&peer) {
                    Some(s) => {
                        let password_changed = s.config().password != config.password;
                        s.reconfigure(now, *config);
                        if password_changed {
                            self.set_listener_keys(&peer);
                        }
                    }
                    None => {
                        let clock = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_nanos() as u64)
                            .unwrap_or(0);
                        let seed = u64::from(std::process::id()) ^ clock ^ hash_peer(&peer);
                        let mut s = Session::new(*config, Box::new(SplitMix(seed)));
                        s.start(now);
                        self.sessions.insert(peer.clone(), s);
                        self.ensure_listeners();
                        self.set_listener_keys(&peer);
                    }
                }
                self.drive(&peer);
                let _ = reply.send(());
            }
            Command::Remove(peer, reply) => {
                let existed = match self.sessions.get_mut(&peer) {
                    Some(s) => {
                        s.stop(now, CeaseSubcode::PeerDeconfigured);
                        self.drive(&peer);
                        true
                    }
                    None => false,
                };
                if let Some(ll) = self.md5_neighbors.remove(&peer) {
                    for l in &self.listeners {
                        let _ = socket::set_md5_key(l.socket.as_raw_fd(), ll, None);
                    }
                }
                if let Some(s) = self.sessions.remove(&peer) {
                    if let Some(i) = &s.config().interface {
                        if let Some(task) = self.discovery.remove(i) {
                            task.abort();
                        }
                    }
                    if let (PeerId::Address(a), Some(_)) = (&peer, &s.config().password) {
                        for l in &self.listeners {
                            let _ = socket::set_md5_key(l.socket.as_raw_fd(), *a, None);
                        }
                    }
                }
                let _ = reply.send(existed);
            }
            Command::SetAdvertisements {
                peer,
                family,
                routes,
                reply,
            } => {
                let r = match self.sessions.get_mut(&peer) {
                    Some(s) => s.set_advertisements(now, family, routes),
                    None => Err(SpeakerError::UnknownPeer(self.key_of(&peer).to_string())),
                };
                self.drive(&peer);
                let _ = reply.send(r);
            }
            Command::PeerDown {
                peer,
                subcode,
                reply,
            } => {
                let existed = match self.sessions.get_mut(&peer) {
                    Some(s) => {
                        s.reset(now, subcode);
                        true
                    }
                    None => false,
                };
                self.drive(&peer);
                let _ = reply.send(existed);
            }
            Command::Status { peer, reply } => {
                let mut list: Vec<PeerStatus> = match peer {
                    Some(p) => self
                        .sessions
                        .get(&p)
                        .map(|s| s.status(now))
                        .into_iter()
                        .collect(),
                    None => self.sessions.values().map(|s| s.status(now)).collect(),
                };
                list.sort_by(|a, b| a.peer.cmp(&b.peer));
                let _ = reply.send(list);
            }
            Command::Received {
                peer,
                family,
                reply,
            } => {
                let _ = reply.send(self.sessions.get(&peer).map(|s| s.received_routes(family)));
            }
            Command::Shutdown { .. } => {}
        }
    }

    fn input(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Connected {
                peer,
                conn,
                local,
                other,
            } => {
                if !self.conns.contains_key(&conn) {
                    // The session gave up on this attempt while it was completing.
                    return;
                }
                if let Some(s) = self.sessions.get_mut(&peer) {
                    let addrs = conn_addrs(s.config().interface.as_deref(), local, other);
                    s.connected_with(now, conn, Direction::Outbound, addrs);
                    self.drive(&peer);
                }
            }
            Input::ConnectFailed { peer, conn, error } => {
                tracing::debug!(peer = %self.key_of(&peer), %error, "connect failed");
                if let Some(s) = self.sessions.get_mut(&peer) {
                    s.connection_failed(now, conn);
                    self.drive(&peer);
                }
                self.conns.remove(&conn);
            }
            Input::Received { peer, conn, msg } => {
                if let Some(s) = self.sessions.get_mut(&peer) {
                    s.received(now, conn, &msg);
                    self.drive(&peer);
                }
            }
            Input::FrameError {
                peer,
                conn,
                notification,
            } => {
                if let Some(s) = self.sessions.get_mut(&peer) {
                    s.malformed(now, conn, notification);
                    self.drive(&peer);
                }
            }
            Input::Closed { peer, conn } => {
                if let Some(s) = self.sessions.get_mut(&peer) {
                    s.connection_failed(now, conn);
                    self.drive(&peer);
                }
                if let Some(c) = self.conns.remove(&conn) {
                    self.flushing.push(c.task);
                }
            }
            Input::Accepted {
                stream,
                remote,
                local,
            } => {
                if !self.accepted_here(&stream, &remote) {
                    self.flushing.push(tokio::spawn(reject(stream)));
                    return;
                }
                let (peer, neighbor) = match self.interface_peer_of(&remote) {
                    Some((key, ll)) => (key, Some(ll)),
                    None => (PeerId::Address(canonical(remote.ip())), None),
                };
                let Some(s) = self.sessions.get_mut(&peer) else {
                    tracing::info!(%remote, "connection from an unconfigured peer rejected");
                    self.flushing.push(tokio::spawn(reject(stream)));
                    return;
                };
                let cfg = s.config();
                let ttl = TtlPolicy::for_session(cfg.is_ebgp(), cfg.ebgp_multihop, cfg.gtsm);
                if let Err(e) = socket::configure_accepted(&stream, remote.ip(), ttl) {
                    tracing::warn!(%remote, error = %e, "socket options on accepted connection");
                }
                let conn = s.next_conn_id();
                let (tx, rx) = mpsc::channel(CONN_QUEUE);
                let task = tokio::spawn(run_conn(
                    peer.clone(),
                    conn,
                    Target::Inbound(stream),
                    rx,
                    self.inputs.clone(),
                ));
                self.conns.insert(conn, ConnHandle { tx, task });
                let other = match s.config().interface {
                    Some(_) => None,
                    None => socket::other_family_address(canonical(local.ip())),
                };
                let addrs = conn_addrs(s.config().interface.as_deref(), local, other);
                s.connected_with(now, conn, Direction::Inbound, addrs);
                if let Some(ll) = neighbor {
                    // The router found us first: remember where it is for reconnects.
                    s.set_neighbor(now, ll);
                }
                self.drive(&peer);
            }
        }
    }

    /// Carries out everything the session wants done.
    fn drive(&mut self, peer: &PeerId) {
        let Some(s) = self.sessions.get_mut(peer) else {
            return;
        };
        let now = Instant::now();
        let mut failed = Vec::new();
        while let Some(out) = s.poll_output() {
            match out {
                SessionOutput::Connect(conn) => {
                    let cfg = s.config();
                    let target = match (&cfg.interface, cfg.neighbor()) {
                        (Some(i), Some(ll)) => socket::interface_index(i)
                            .map(|idx| SocketAddr::V6(SocketAddrV6::new(ll, cfg.port, 0, idx))),
                        (Some(i), None) => Err(io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("the neighbour on {i} is not known yet"),
                        )),
                        (None, _) => Ok(SocketAddr::new(cfg.address, cfg.port)),
                    };
                    let target = match target {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::debug!(peer = %cfg.key(), error = %e, "cannot connect");
                            failed.push(conn);
                            continue;
                        }
                    };
                    let opts = ConnectOptions {
                        peer: target,
                        source: cfg.source_address,
                        device: cfg.interface.clone().or_else(|| cfg.vrf.clone()),
                        password: cfg.password.clone(),
                        ttl: TtlPolicy::for_session(cfg.is_ebgp(), cfg.ebgp_multihop, cfg.gtsm),
                    };
                    let (tx, rx) = mpsc::channel(CONN_QUEUE);
                    let target = Target::Outbound(opts, self.config.connect_timeout);
                    let task = tokio::spawn(run_conn(
                        peer.clone(),
                        conn,
                        target,
                        rx,
                        self.inputs.clone(),
                    ));
                    self.conns.insert(conn, ConnHandle { tx, task });
                }
                SessionOutput::Transmit { conn, data } => {
                    if let Some(c) = self.conns.get(&conn) {
                        if c.tx.try_send(data).is_err() {
                            tracing::warn!(peer = %s.config().key(), "write queue full: the peer does not read; closing");
                            failed.push(conn);
                        }
                    }
                }
                SessionOutput::Close(conn) => {
                    if let Some(c) = self.conns.remove(&conn) {
                        // Dropping the sender makes the task flush what is queued and close.
                        drop(c.tx);
                        self.flushing.push(c.task);
                    }
                }
                SessionOutput::StateChanged { from, to, reason } => {
                    tracing::info!(peer = %s.config().key(), %from, %to, reason = reason.as_deref().unwrap_or(""), "BGP state change");
                    let _ = self.events.send(PeerEvent::StateChanged {
                        peer: PeerKey {
                            vrf: self.vrf.clone(),
                            id: peer.clone(),
                        },
                        from,
                        to,
                        reason,
                    });
                }
            }
        }
        for conn in failed {
            s.connection_failed(now, conn);
        }
        if s.has_output() {
            self.drive(peer);
        }
        self.sync_link_md5(peer);
    }

    /// Keeps the TCP MD5 key of an unnumbered peer on the listeners in step with its
    /// neighbour's link-local address (the kernel keys MD5 by peer address; it cannot scope a
    /// key to a non-VRF interface), so the router's own connections are signed-checked too.
    fn sync_link_md5(&mut self, peer: &PeerId) {
        let want = self.sessions.get(peer).and_then(|s| {
            let cfg = s.config();
            cfg.password.as_ref()?;
            cfg.neighbor().map(IpAddr::V6)
        });
        let have = self.md5_neighbors.get(peer).copied();
        if want == have {
            return;
        }
        if let Some(old) = have {
            for l in &self.listeners {
                let _ = socket::set_md5_key(l.socket.as_raw_fd(), old, None);
            }
            self.md5_neighbors.remove(peer);
        }
        if want.is_some() {
            self.set_listener_keys(peer);
        }
    }

    /// Makes sure a listener exists for every address family that has peers in this VRF;
    /// a family whose listener cannot be made yet (VRF device missing) is retried later.
    fn ensure_listeners(&mut self) {
        let Some(port) = self.config.listen_port else {
            return;
        };
        let mut failed = false;
        for v6 in [false, true] {
            let wanted = self.sessions.keys().any(|a| a.is_ipv6() == v6);
            let present = self
                .listeners
                .iter()
                .any(|l| l.socket.local_addr().map(|a| a.is_ipv6()).unwrap_or(false) == v6);
            if !wanted || present {
                continue;
            }
            let ip = if v6 {
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
            };
            let addr = SocketAddr::new(ip, port);
            match socket::listening_socket(addr, self.vrf.as_deref())
                .and_then(|s| TcpListener::from_std(s.into()))
            {
                Ok(l) => {
                    let socket = Arc::new(l);
                    let task = tokio::spawn(run_listener(socket.clone(), self.inputs.clone()));
                    self.listeners.push(Listener { socket, task });
                    let peers: Vec<PeerId> = self
                        .sessions
                        .keys()
                        .filter(|a| a.is_ipv6() == v6)
                        .cloned()
                        .collect();
                    for p in peers {
                        self.set_listener_keys(&p);
                    }
                }
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "cannot listen; retrying");
                    failed = true;
                }
            }
        }
        if failed && self.listen_retry.is_none() {
            self.listen_retry = Some(Instant::now() + LISTEN_RETRY);
        }
    }

    /// Whether a connection this VRF's listener accepted arrived through this VRF. An unbound
    /// (default-VRF) listener also accepts connections that came in through a VRF without a
    /// listener of its own when `net.ipv4.tcp_l3mdev_accept` is 1; the kernel then binds the
    /// accepted socket to that VRF's device. Such a connection must not reach a session of this
    /// VRF that has the same peer address: it is logged (once per address) and refused.
    fn accepted_here(&mut self, stream: &TcpStream, remote: &SocketAddr) -> bool {
        let bound = match socket::bound_device(stream) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(%remote, error = %e, "cannot tell which VRF an accepted connection belongs to; refused");
                return false;
            }
        };
        let arrival = unnumbered::link_local_scope(remote).and_then(socket::interface_name);
        if accepted_in_vrf(self.vrf.as_deref(), bound.as_deref(), arrival.as_deref()) {
            return true;
        }
        self.foreign_refused = self.foreign_refused.saturating_add(1);
        let device = bound.as_deref().unwrap_or("none");
        let first = self.foreign_logged.len() < FOREIGN_LOG_ADDRESSES
            && self.foreign_logged.insert(remote.ip());
        if first {
            tracing::info!(%remote, device, refused = self.foreign_refused, "connection that arrived through another VRF refused (its VRF has no listener or peer here); further ones from this address are logged at debug");
        } else {
            tracing::debug!(%remote, device, refused = self.foreign_refused, "connection from another VRF refused");
        }
        false
    }

    /// The public key of the session stored under `peer` in this VRF.
    fn key_of(&self, peer: &PeerId) -> PeerKey {
        PeerKey {
            vrf: self.vrf.clone(),
            id: peer.clone(),
        }
    }

    /// Starts neighbour discovery on `interface` unless it runs already.
    fn ensure_discovery(&mut self, interface: &str) {
        if self
            .discovery
            .get(interface)
            .is_some_and(|t| !t.is_finished())
        {
            return;
        }
        let span = tracing::info_span!("bgp-unnumbered", interface);
        let task = tokio::spawn(tracing::Instrument::instrument(
            unnumbered::run(interface.to_string(), self.learned.clone()),
            span,
        ));
        self.discovery.insert(interface.to_string(), task);
    }

    /// A Router Advertisement named the router on an interface: point its session there.
    fn neighbor_learned(&mut self, l: Learned) {
        let peer = PeerId::Interface(l.interface.into());
        if let Some(s) = self.sessions.get_mut(&peer) {
            s.set_neighbor(Instant::now(), l.address);
            self.drive(&peer);
        }
    }

    /// The session key and link-local address of a connection from a link-local address: the
    /// unnumbered peer of the interface the connection arrived on.
    fn interface_peer_of(&self, remote: &SocketAddr) -> Option<(PeerId, Ipv6Addr)> {
        let scope = unnumbered::link_local_scope(remote)?;
        let IpAddr::V6(ll) = remote.ip() else {
            return None;
        };
        let name = socket::interface_name(scope)?;
        let key = PeerId::Interface(name.into());
        self.sessions.contains_key(&key).then_some((key, ll))
    }

    fn set_listener_keys(&mut self, peer: &PeerId) {
        let Some(s) = self.sessions.get(peer) else {
            return;
        };
        let key = s.config().password.clone();
        // An unnumbered peer's key goes on its neighbour's link-local address once known.
        let (addr, name) = match s.config().interface {
            Some(_) => match (s.config().neighbor(), &key) {
                (Some(ll), Some(_)) => (IpAddr::V6(ll), s.config().key()),
                _ => return,
            },
            None => match peer {
                PeerId::Address(a) => (*a, self.key_of(peer)),
                PeerId::Interface(_) => return,
            },
        };
        for l in &self.listeners {
            let is_v6 = l.socket.local_addr().map(|a| a.is_ipv6()).unwrap_or(false);
            if is_v6 != addr.is_ipv6() {
                continue;
            }
            if let Err(e) = socket::set_md5_key(
                l.socket.as_raw_fd(),
                addr,
                key.as_deref().map(str::as_bytes),
            ) {
                tracing::warn!(peer = %name, error = %e, "TCP MD5 key on listener");
            }
        }
        if matches!(peer, PeerId::Interface(_)) {
            self.md5_neighbors.insert(peer.clone(), addr);
        }
    }

    async fn shutdown(&mut self, graceful_restart: bool) {
        let now = Instant::now();
        let peers: Vec<PeerId> = self.sessions.keys().cloned().collect();
        for peer in peers {
            if let Some(s) = self.sessions.get_mut(&peer) {
                if graceful_restart {
                    s.abandon(now);
                } else {
                    s.stop(now, CeaseSubcode::AdministrativeShutdown);
                }
            }
            self.drive(&peer);
        }
        for (_, c) in self.conns.drain() {
            drop(c.tx);
            self.flushing.push(c.task);
        }
        for l in self.listeners.drain(..) {
            l.task.abort();
        }
        for (_, t) in self.discovery.drain() {
            t.abort();
        }
        let flushing: Vec<JoinHandle<()>> = self.flushing.drain(..).collect();
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, async {
            for h in flushing {
                let _ = h.await;
            }
        })
        .await;
    }
}

/// Our addresses on a connection; for an unnumbered session also the interface's global IPv6
/// and IPv4 addresses (looked up by interface, since a link-local address may be on several).
fn conn_addrs(interface: Option<&str>, local: SocketAddr, other: Option<IpAddr>) -> ConnAddrs {
    match interface {
        Some(i) => {
            let (v6, v4) = socket::link_addresses(i);
            ConnAddrs {
                local,
                other_family: v4.map(IpAddr::V4),
                ipv6_global: v6,
            }
        }
        None => ConnAddrs {
            local,
            other_family: other,
            ipv6_global: None,
        },
    }
}

/// A seed contribution from the peer's identity (so sessions started together jitter apart).
fn hash_peer(peer: &PeerId) -> u64 {
    match peer {
        PeerId::Address(IpAddr::V4(v4)) => u64::from(u32::from(*v4)),
        PeerId::Address(IpAddr::V6(v6)) => {
            let x = u128::from(*v6);
            (x as u64) ^ ((x >> 64) as u64)
        }
        // FNV-1a over the interface name.
        PeerId::Interface(name) => name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        }),
    }
}

/// Sends Cease / Connection Rejected on a connection from an unconfigured peer and closes it.
async fn reject(mut stream: TcpStream) {
    let n = Message::Notification(Notification::cease(CeaseSubcode::ConnectionRejected, None));
    if let Ok(bytes) = n.to_bytes(&packet::EncodeContext::default()) {
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, stream.write_all(&bytes)).await;
    }
    let _ = stream.shutdown().await;
}

async fn run_listener(listener: Arc<TcpListener>, inputs: mpsc::Sender<Input>) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let local = stream.local_addr().unwrap_or(remote);
                if inputs
                    .send(Input::Accepted {
                        stream,
                        remote,
                        local,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

enum Target {
    Outbound(ConnectOptions, Duration),
    Inbound(TcpStream),
}

async fn connect(opts: &ConnectOptions) -> io::Result<TcpStream> {
    let sock = socket::connecting_socket(opts)?;
    let std_stream: std::net::TcpStream = sock.into();
    TcpSocket::from_std_stream(std_stream)
        .connect(opts.peer)
        .await
}

/// One TCP connection: connects (outbound), then frames what it reads and writes what the owner
/// queues. Dropping the queue's sender flushes and closes.
async fn run_conn(
    peer: PeerId,
    conn: ConnId,
    target: Target,
    mut rx: mpsc::Receiver<Bytes>,
    inputs: mpsc::Sender<Input>,
) {
    let stream = match target {
        Target::Inbound(s) => s,
        Target::Outbound(opts, timeout) => {
            let attempt = tokio::time::timeout(timeout, connect(&opts));
            tokio::pin!(attempt);
            // Leave when the owner gives up on this attempt (drops the sender).
            let result = loop {
                tokio::select! {
                    r = &mut attempt => break r,
                    m = rx.recv() => if m.is_none() { return },
                }
            };
            match result {
                Ok(Ok(s)) => {
                    let local = s.local_addr().unwrap_or(opts.peer);
                    let other = socket::other_family_address(canonical(local.ip()));
                    if inputs
                        .send(Input::Connected {
                            peer: peer.clone(),
                            conn,
                            local,
                            other,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                    s
                }
                Ok(Err(e)) => {
                    let _ = inputs
                        .send(Input::ConnectFailed {
                            peer: peer.clone(),
                            conn,
                            error: e.to_string(),
                        })
                        .await;
                    return;
                }
                Err(_) => {
                    let _ = inputs
                        .send(Input::ConnectFailed {
                            peer: peer.clone(),
                            conn,
                            error: "connect timed out".into(),
                        })
                        .await;
                    return;
                }
            }
        }
    };
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = BytesMut::with_capacity(8192);
    let mut reading = true;
    loop {
        tokio::select! {
            r = rd.read_buf(&mut buf), if reading => {
                match r {
                    Ok(0) | Err(_) => {
                        reading = false;
                        let _ = inputs.send(Input::Closed { peer: peer.clone(), conn }).await;
                    }
                    Ok(_) => loop {
                        // Up to the RFC 8654 size: the session applies the negotiated limit
                        // when it decodes (the peer's OPEN may not be processed yet here).
                        match packet::frame_up_to(&buf, packet::MAX_EXTENDED_MESSAGE_LEN) {
                            Ok(Some(n)) => {
                                let msg = buf.split_to(n).freeze();
                                if inputs.send(Input::Received { peer: peer.clone(), conn, msg }).await.is_err() {
                                    return;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                reading = false;
                                let _ = inputs.send(Input::FrameError { peer: peer.clone(), conn, notification: e.to_notification() }).await;
                                break;
                            }
                        }
                    },
                }
            }
            m = rx.recv() => match m {
                Some(data) => {
                    match tokio::time::timeout(FLUSH_TIMEOUT * 6, wr.write_all(&data)).await {
                        Ok(Ok(())) => {}
                        _ => {
                            let _ = inputs.send(Input::Closed { peer: peer.clone(), conn }).await;
                            return;
                        }
                    }
                }
                None => {
                    let _ = tokio::time::timeout(FLUSH_TIMEOUT, wr.shutdown()).await;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::accepted_in_vrf;

    #[test]
    fn default_listener_keeps_unbound_connections() {
        assert!(accepted_in_vrf(None, None, None));
    }

    #[test]
    fn default_listener_refuses_a_connection_that_came_through_a_vrf() {
        // tcp_l3mdev_accept=1: the unbound listener accepted a connection from VRF red.
        assert!(!accepted_in_vrf(None, Some("red"), None));
    }

    #[test]
    fn vrf_listener_keeps_its_own_connections() {
        assert!(accepted_in_vrf(Some("red"), Some("red"), None));
    }

    #[test]
    fn vrf_listener_refuses_other_vrfs_and_unbound_sockets() {
        assert!(!accepted_in_vrf(Some("red"), Some("blue"), None));
        assert!(!accepted_in_vrf(Some("red"), None, None));
    }

    #[test]
    fn link_local_connections_are_bound_to_their_interface() {
        // Unnumbered peers: the kernel binds a link-local connection to its arrival interface,
        // in the default VRF and inside a VRF alike.
        assert!(accepted_in_vrf(None, Some("eth1"), Some("eth1")));
        assert!(accepted_in_vrf(Some("red"), Some("eth1"), Some("eth1")));
        // ... but a link-local connection bound to a VRF device is judged by the VRF.
        assert!(!accepted_in_vrf(None, Some("red"), Some("eth1")));
        assert!(accepted_in_vrf(Some("red"), Some("red"), Some("eth1")));
    }
}
