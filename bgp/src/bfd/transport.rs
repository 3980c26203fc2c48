//! The thin tokio shell around the [`Engine`]: UDP sockets with the socket options RFC 5881/5883
//! require, one reader task per receive socket, and ONE driver task that owns the engine (all
//! VRFs), sleeps once until `poll_timeout`, sends what the engine queued and publishes state
//! changes on a broadcast channel.
//!
//! Sockets: receive sockets per (VRF, address family, port) — 3784 single-hop control, 4784
//! multihop control — with IP_RECVTTL/IP_PKTINFO (IPV6_RECVHOPLIMIT/IPV6_RECVPKTINFO) so the
//! engine sees the TTL and the destination address; one transmit socket per session bound to the
//! local address and a unique source port in 49152–65535, TTL / hop limit 255. Sockets of
//! sessions in a VRF are bound to the VRF device (SO_BINDTODEVICE). A session between IPv6
//! link-local addresses ([`SessionKey::interface`], unnumbered BGP peers) gets a receive socket
//! bound to its interface (the kernel prefers it over the VRF-wide one for that interface's
//! packets, so the engine learns the interface from the socket) and a transmit socket bound to
//! the interface and to its link-local address with the interface's scope id.
//!
//! Receive wake-ups: with few packets a reader task per socket wakes on each datagram; when a
//! socket delivers more than 1,000 datagrams a second (hundreds of fast sessions) it is taken
//! out of epoll and the driver reads it on its own wake-ups, at least every 2 ms, until the rate
//! falls below 300 a second — per-datagram wake-ups were the largest CPU cost after the kernel's
//! UDP path (bench/bfd). Transmits within 2 ms of each other share a wake-up
//! ([`Engine::set_timer_slack`]).
//!
//! Echo (RFC 5881 §4): our echoes are addressed to ourselves and sent to the peer's link-layer
//! address on AF_PACKET sockets, and come back through the peer's forwarding plane
//! (`echo_io`). The peer's echoes are addressed to the peer itself: our kernel forwards
//! them back (the node must forward IP, as Kubernetes nodes do); no BFD code touches them.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::echo_io::{EchoIo, ReturnedEcho};
use super::engine::{Engine, Event, RxMeta, SessionStatus, TransmitKind};
use super::packet::{PORT_MULTI_HOP, PORT_SINGLE_HOP};
use super::params::{SessionParams, SplitMix64};
use super::session::{HopMode, SessionKey};
use super::Error;

/// Source ports for control packets (RFC 5881 §4).
const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
/// Datagrams larger than this are not BFD (control ≤ 52 bytes; echo is ours or the peer's).
const RX_BUF: usize = 128;
/// Receive mode switch (see [`RxIo`]): a control socket that delivered at least this many
/// datagrams in one [`RX_WINDOW`] is handed to the driver to be read on its wake-ups…
const POLL_ENTER: u32 = 100;
/// …and given back to a reader task when fewer than this arrive in a window.
const POLL_LEAVE: u32 = 30;
/// Rate measurement window of the receive mode switch.
const RX_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);
/// Longest the driver sleeps while it reads a socket itself: the extra receive latency bound.
const POLL_EVERY: std::time::Duration = std::time::Duration::from_millis(2);
/// Timer slack given to the engine (see [`Engine::set_timer_slack`]): a transmit due within
/// 2 ms (at most 1/20 of its interval) goes out with the current wake-up.
const TIMER_SLACK: std::time::Duration = std::time::Duration::from_millis(2);
/// Receive buffer of the shared receive sockets (bytes).
const RX_SOCKET_BUFFER: i32 = 4 << 20;

/// Which receive socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Port {
    SingleHop,
    MultiHop,
}

impl Port {
    fn number(self) -> u16 {
        match self {
            Port::SingleHop => PORT_SINGLE_HOP,
            Port::MultiHop => PORT_MULTI_HOP,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RxSocketKey {
    vrf: Option<String>,
    /// Bound to this interface instead of the VRF (sessions on link-local addresses).
    interface: Option<String>,
    /// The interface's index when the socket was opened: an interface deleted and created
    /// again under the same name gets a new index and a new socket (the old one stays bound to
    /// the device that is gone).
    ifindex: u32,
    v6: bool,
    port: Port,
}

/// A datagram handed from a reader task to the driver (fixed buffer: no allocation).
struct Received {
    socket: usize,
    src: SocketAddr,
    dst: IpAddr,
    ttl: u8,
    len: usize,
    buf: [u8; RX_BUF],
}

enum Command {
    Add(
        SessionKey,
        SessionParams,
        oneshot::Sender<Result<(), Error>>,
    ),
    SetParams(
        SessionKey,
        SessionParams,
        oneshot::Sender<Result<(), Error>>,
    ),
    Remove(SessionKey, oneshot::Sender<Result<(), Error>>),
    AdminDown(SessionKey, bool, oneshot::Sender<Result<(), Error>>),
    Status(SessionKey, oneshot::Sender<Option<SessionStatus>>),
    Sessions(oneshot::Sender<Vec<SessionStatus>>),
    PolledSockets(oneshot::Sender<usize>),
    Shutdown(oneshot::Sender<()>),
}

/// Handle to the BFD driver task: add, change and remove sessions, read their status, subscribe
/// to state changes. Cheap to clone. The task stops (sending AdminDown to every peer) on
/// [`BfdHandle::shutdown`] or when every handle is dropped.
#[derive(Clone, Debug)]
pub struct BfdHandle {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
}

impl BfdHandle {
    /// Starts the driver task on the current tokio runtime (inside the network namespace the
    /// sockets must live in). Entropy comes from the operating system.
    pub fn spawn() -> Result<BfdHandle, Error> {
        let (ctx, crx) = mpsc::channel(256);
        let (etx, _) = broadcast::channel(1024);
        let (ptx, prx) = mpsc::channel(4096);
        let (echo_tx, echo_rx) = mpsc::channel(4096);
        let (handoff_tx, handoff_rx) = mpsc::channel(16);
        let mut port_rng = SplitMix64::from_os()?;
        let echo_port = {
            use super::params::Entropy;
            let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
            SOURCE_PORTS.start() + (port_rng.next_u32() % span) as u16 // < 65536
        };
        let driver = Driver {
            engine: {
                let mut e = Engine::new(Box::new(SplitMix64::from_os()?), Instant::now());
                e.set_timer_slack(TIMER_SLACK);
                e
            },
            rx_sockets: Vec::new(),
            handoff: handoff_tx,
            rx_index: HashMap::new(),
            tx_sockets: Vec::new(),
            used_ports: HashSet::new(),
            port_rng,
            echo: EchoIo::new(echo_port, echo_tx),
            packets: ptx,
            events: etx.clone(),
        };
        tokio::spawn(driver.run(crx, prx, echo_rx, handoff_rx));
        Ok(BfdHandle {
            commands: ctx,
            events: etx,
        })
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Adds a session (opens its sockets) and starts it.
    pub async fn add(&self, key: SessionKey, params: SessionParams) -> Result<(), Error> {
        self.call(|r| Command::Add(key, params, r)).await?
    }

    /// Changes a session's parameters through a Poll sequence (no flap).
    pub async fn set_params(&self, key: SessionKey, params: SessionParams) -> Result<(), Error> {
        self.call(|r| Command::SetParams(key, params, r)).await?
    }

    /// Removes a session, telling the peer AdminDown first (not a failure for the peer).
    pub async fn remove(&self, key: SessionKey) -> Result<(), Error> {
        self.call(|r| Command::Remove(key, r)).await?
    }

    /// Sets or clears administrative down.
    pub async fn set_admin_down(&self, key: SessionKey, down: bool) -> Result<(), Error> {
        self.call(|r| Command::AdminDown(key, down, r)).await?
    }

    /// Status of one session.
    pub async fn status(&self, key: SessionKey) -> Result<Option<SessionStatus>, Error> {
        self.call(|r| Command::Status(key, r)).await
    }

    /// Status of all sessions.
    pub async fn sessions(&self) -> Result<Vec<SessionStatus>, Error> {
        self.call(Command::Sessions).await
    }

    /// How many receive sockets the driver currently reads on its own wake-ups because their
    /// packet rate is high (see the module docs), for tests and metrics.
    pub async fn polled_receive_sockets(&self) -> Result<usize, Error> {
        self.call(Command::PolledSockets).await
    }

    /// State changes of every session, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Sends AdminDown for every session, closes the sockets and stops the task.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.call(Command::Shutdown).await
    }
}

/// How a receive socket is read. With few packets, a reader task wakes on each datagram
/// (lowest latency). With many — hundreds of fast sessions — every datagram would wake the
/// worker thread, and those wake-ups were the largest CPU cost after the kernel's own UDP path
/// (bench/bfd): the reader then hands the socket to the driver, which takes it out of epoll and
/// reads it on its own wake-ups (timers, which the engine coalesces), at least every
/// [`POLL_EVERY`] — adding at most that much receive latency while the rate stays high.
enum RxIo {
    /// A reader task owns the socket.
    Interrupt(tokio::task::JoinHandle<()>),
    /// The driver reads the socket; packets counted since `window_start`.
    Polled {
        sock: std::net::UdpSocket,
        window_start: Instant,
        count: u32,
    },
}

struct Driver {
    engine: Engine,
    rx_sockets: Vec<(RxSocketKey, RxIo)>,
    /// Sockets handed over by reader tasks whose packet rate got high.
    handoff: mpsc::Sender<(usize, std::net::UdpSocket)>,
    rx_index: HashMap<RxSocketKey, usize>,
    /// Per session slot index: the transmit socket, its source port and the scope id (interface
    /// index) its link-local destination needs (0 for routable addresses).
    tx_sockets: Vec<Option<(UdpSocket, u16, u32)>>,
    used_ports: HashSet<u16>,
    port_rng: SplitMix64,
    /// The echo datapath (AF_PACKET sockets, echo paths).
    echo: EchoIo,
    packets: mpsc::Sender<Received>,
    events: broadcast::Sender<Event>,
}

impl Driver {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut packets: mpsc::Receiver<Received>,
        mut echoes: mpsc::Receiver<ReturnedEcho>,
        mut handoff: mpsc::Receiver<(usize, std::net::UdpSocket)>,
    ) {
        let sleep = tokio::time::sleep(std::time::Duration::from_secs(3600));
        tokio::pin!(sleep);
        loop {
            let polling = self.poll_rx();
            self.flush();
            let mut deadline = self.engine.poll_timeout();
            if polling {
                let bound = Instant::now() + POLL_EVERY;
                deadline = Some(deadline.map_or(bound, |d| d.min(bound)));
            }
            if let Some(d) = deadline {
                sleep.as_mut().reset(tokio::time::Instant::from_std(d));
            }
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None => { self.stop(); return; }
                    Some(Command::Shutdown(reply)) => { self.stop(); let _ = reply.send(()); return; }
                    Some(c) => self.command(c),
                },
                Some(p) = packets.recv() => {
                    self.received(&p);
                    // Everything already queued, in one go; then timers due now (and
                    // transmits within the slack) share this wake-up.
                    while let Ok(p) = packets.try_recv() {
                        self.received(&p);
                    }
                    self.engine.handle_timeout(Instant::now());
                }
                Some((i, sock)) = handoff.recv() => {
                    if let Some((k, io)) = self.rx_sockets.get_mut(i) {
                        tracing::debug!(vrf = ?k.vrf, port = k.port.number(), "BFD receive socket polled (high packet rate)");
                        *io = RxIo::Polled { sock, window_start: Instant::now(), count: 0 };
                    }
                }
                Some(e) = echoes.recv() => {
                    let _ = self.engine.handle_echo(Instant::now(), &e.buf[..e.len]);
                }
                () = &mut sleep, if deadline.is_some() => self.engine.handle_timeout(Instant::now()),
            }
        }
    }

    fn stop(&mut self) {
        for s in self.engine.sessions() {
            let _ = self.engine.remove(&s.key);
        }
        self.flush();
        for (_, io) in &self.rx_sockets {
            if let RxIo::Interrupt(task) = io {
                task.abort();
            }
        }
        self.echo.close();
    }

    fn command(&mut self, c: Command) {
        let now = Instant::now();
        match c {
            Command::Add(key, params, reply) => {
                let _ = reply.send(self.add(now, key, params));
            }
            Command::SetParams(key, params, reply) => {
                let r = self
                    .ensure_rx_sockets(&key)
                    .and_then(|()| self.engine.set_params(now, &key, params));
                let _ = reply.send(r);
            }
            Command::Remove(key, reply) => {
                let r = self.engine.id(&key).and_then(|id| {
                    self.engine.remove(&key)?;
                    Ok(id)
                });
                // Send the final AdminDown before the socket goes.
                self.flush();
                let r = r.map(|id| {
                    if let Some(slot) = self.tx_sockets.get_mut(id.index()) {
                        if let Some((_, port, _)) = slot.take() {
                            self.used_ports.remove(&port);
                        }
                    }
                    self.echo.remove(id.index());
                });
                let _ = reply.send(r);
            }
            Command::AdminDown(key, down, reply) => {
                let _ = reply.send(self.engine.set_admin_down(now, &key, down));
            }
            Command::Status(key, reply) => {
                let _ = reply.send(self.engine.status(&key));
            }
            Command::Sessions(reply) => {
                let _ = reply.send(self.engine.sessions());
            }
            Command::PolledSockets(reply) => {
                let n = self
                    .rx_sockets
                    .iter()
                    .filter(|(_, io)| matches!(io, RxIo::Polled { .. }))
                    .count();
                let _ = reply.send(n);
            }
            Command::Shutdown(_) => {}
        }
    }

    fn add(&mut self, now: Instant, key: SessionKey, params: SessionParams) -> Result<(), Error> {
        if self.engine.id(&key).is_ok() {
            return Err(Error::SessionExists(key));
        }
        // Before any socket: a bad key must be refused with its reason, not a bind error.
        if let Err(reason) = key.check() {
            return Err(Error::Key { key, reason });
        }
        self.ensure_rx_sockets(&key)?;
        let (sock, port, scope) = self.tx_socket(&key)?;
        let echo_key = key.clone();
        let id = self.engine.add(now, key, params)?;
        if self.tx_sockets.len() <= id.index() {
            self.tx_sockets.resize_with(id.index() + 1, || None);
        }
        self.used_ports.insert(port);
        self.tx_sockets[id.index()] = Some((sock, port, scope));
        self.echo.add(id.index(), &echo_key, now);
        Ok(())
    }

    fn ensure_rx_sockets(&mut self, key: &SessionKey) -> Result<(), Error> {
        let v6 = key.peer.is_ipv6();
        let ifindex = match &key.interface {
            Some(i) => crate::socket::interface_index(i).map_err(sock_err("interface", i))?,
            None => 0,
        };
        let ports = [match key.hop {
            HopMode::SingleHop => Port::SingleHop,
            HopMode::MultiHop => Port::MultiHop,
        }];
        for port in ports {
            let k = RxSocketKey {
                vrf: key.vrf.clone(),
                interface: key.interface.clone(),
                ifindex,
                v6,
                port,
            };
            if self.rx_index.contains_key(&k) {
                continue;
            }
            self.close_stale_rx(&k);
            let sock = rx_socket(&k)?;
            let index = self.rx_sockets.len();
            let task = tokio::spawn(reader(
                index,
                sock,
                self.packets.clone(),
                self.handoff.clone(),
            ));
            self.rx_index.insert(k.clone(), index);
            self.rx_sockets.push((k, RxIo::Interrupt(task)));
        }
        Ok(())
    }

    /// Closes the receive socket of an interface that was deleted and created again under the
    /// same name (`k` is the new one's key): it is bound to the old device and reads nothing.
    fn close_stale_rx(&mut self, k: &RxSocketKey) {
        if k.interface.is_none() {
            return;
        }
        let stale: Vec<RxSocketKey> = self
            .rx_index
            .keys()
            .filter(|o| {
                o.interface == k.interface
                    && o.vrf == k.vrf
                    && o.v6 == k.v6
                    && o.port == k.port
                    && o.ifindex != k.ifindex
            })
            .cloned()
            .collect();
        for o in stale {
            let Some(i) = self.rx_index.remove(&o) else {
                continue;
            };
            if let Some((_, io)) = self.rx_sockets.get_mut(i) {
                if let RxIo::Interrupt(task) = io {
                    task.abort();
                }
                // Drops a polled socket (closing it); the slot keeps its index.
                *io = RxIo::Interrupt(tokio::spawn(async {}));
            }
            tracing::info!(interface = ?o.interface, "BFD receive socket of a re-created interface replaced");
        }
    }

    fn tx_socket(&mut self, key: &SessionKey) -> Result<(UdpSocket, u16, u32), Error> {
        use super::params::Entropy;
        let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
        let start = self.port_rng.next_u32() % span;
        for i in 0..span {
            let port = SOURCE_PORTS.start() + ((start + i) % span) as u16; // < 65536
            if self.used_ports.contains(&port) {
                continue;
            }
            match tx_socket(key, port) {
                Ok((s, scope)) => return Ok((s, port, scope)),
                Err(Error::Socket { source, .. }) if source.kind() == io::ErrorKind::AddrInUse => {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::NoSourcePort)
    }

    fn received(&mut self, p: &Received) {
        let Some((k, _)) = self.rx_sockets.get(p.socket) else {
            return;
        };
        let data = &p.buf[..p.len];
        let now = Instant::now();
        let rx = RxMeta {
            vrf: k.vrf.as_deref(),
            src: p.src,
            dst: p.dst,
            ttl: p.ttl,
            hop: match k.port {
                Port::SingleHop => HopMode::SingleHop,
                Port::MultiHop => HopMode::MultiHop,
            },
            interface: k.interface.as_deref(),
        };
        if let Err(e) = self.engine.handle_control(now, &rx, data) {
            tracing::trace!(peer = %p.src, error = %e, "BFD packet discarded");
        }
    }

    /// Reads every socket in polled mode until it would block, then runs the timers due (the
    /// received packets may have moved them); gives a socket back to a reader task when its rate
    /// dropped. Returns whether any socket is still polled.
    fn poll_rx(&mut self) -> bool {
        let mut any = false;
        let mut read_any = false;
        let now = Instant::now();
        for i in 0..self.rx_sockets.len() {
            let fd = match &self.rx_sockets[i].1 {
                RxIo::Polled { sock, .. } => sock.as_raw_fd(),
                RxIo::Interrupt(_) => continue,
            };
            let mut n = 0u32;
            loop {
                let mut p = Received::empty(i);
                match recv_meta(fd, &mut p) {
                    Ok(true) => {
                        n += 1;
                        self.received(&p);
                    }
                    Ok(false) => n += 1,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "BFD receive failed");
                        break;
                    }
                }
            }
            read_any |= n > 0;
            let RxIo::Polled {
                window_start,
                count,
                ..
            } = &mut self.rx_sockets[i].1
            else {
                continue;
            };
            *count = count.saturating_add(n);
            if now.duration_since(*window_start) < RX_WINDOW {
                any = true;
                continue;
            }
            if *count >= POLL_LEAVE {
                *window_start = now;
                *count = 0;
                any = true;
                continue;
            }
            // Rate dropped: back to a reader task that wakes on each datagram.
            tracing::debug!(vrf = ?self.rx_sockets[i].0.vrf, "BFD receive socket back to per-datagram wake-ups");
            let io = std::mem::replace(
                &mut self.rx_sockets[i].1,
                RxIo::Interrupt(tokio::spawn(async {})),
            );
            if let RxIo::Polled { sock, .. } = io {
                match UdpSocket::from_std(sock) {
                    Ok(sock) => {
                        let task = tokio::spawn(reader(
                            i,
                            sock,
                            self.packets.clone(),
                            self.handoff.clone(),
                        ));
                        self.rx_sockets[i].1 = RxIo::Interrupt(task);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "BFD receive socket lost: re-registering with tokio failed");
                    }
                }
            }
        }
        if read_any {
            self.engine.handle_timeout(now);
        }
        any
    }

    fn flush(&mut self) {
        let mut now = None;
        while let Some(t) = self.engine.poll_transmit() {
            match t.kind {
                TransmitKind::Control => {
                    let r = match self.tx_sockets.get(t.session.index()) {
                        Some(Some((s, _, scope))) => {
                            s.try_send_to(t.payload.as_slice(), scoped(t.dst, *scope))
                        }
                        _ => continue,
                    };
                    if let Err(e) = r {
                        tracing::debug!(dst = %t.dst, error = %e, "BFD send failed");
                    }
                }
                TransmitKind::Echo => {
                    let now = *now.get_or_insert_with(Instant::now);
                    if let Err(e) = self.echo.send(t.session.index(), t.payload.as_slice(), now) {
                        tracing::debug!(src = %t.src, error = %e, "BFD echo send failed");
                    }
                }
            }
        }
        while let Some(e) = self.engine.poll_event() {
            self.echo
                .state_changed(e.id.index(), *now.get_or_insert_with(Instant::now));
            tracing::info!(session = %e.key, from = %e.from, to = %e.to, diag = %e.diagnostic, "BFD session state change");
            let _ = self.events.send(e);
        }
    }
}

fn sock_err(what: &'static str, addr: impl ToString) -> impl FnOnce(io::Error) -> Error {
    let addr = addr.to_string();
    move |source| Error::Socket { what, addr, source }
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: passes a pointer to a live c_int and its size, as setsockopt(2) expects.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn rx_socket(k: &RxSocketKey) -> Result<UdpSocket, Error> {
    let port = k.port.number();
    let addr: SocketAddr = if k.v6 {
        (Ipv6Addr::UNSPECIFIED, port).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, port).into()
    };
    let domain = if k.v6 { Domain::IPV6 } else { Domain::IPV4 };
    let s =
        Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(sock_err("socket", addr))?;
    s.set_reuse_address(true)
        .map_err(sock_err("SO_REUSEADDR", addr))?;
    // A link-local session's socket is bound to its interface (which may itself be in the
    // VRF); the kernel prefers it over the VRF-wide socket for packets from that interface.
    if let Some(dev) = k.interface.as_ref().or(k.vrf.as_ref()) {
        s.bind_device(Some(dev.as_bytes()))
            .map_err(sock_err("SO_BINDTODEVICE", dev))?;
    }
    let fd = s.as_raw_fd();
    if k.v6 {
        s.set_only_v6(true).map_err(sock_err("IPV6_V6ONLY", addr))?;
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)
            .map_err(sock_err("IPV6_RECVHOPLIMIT", addr))?;
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
            .map_err(sock_err("IPV6_RECVPKTINFO", addr))?;
        s.set_unicast_hops_v6(255)
            .map_err(sock_err("IPV6_UNICAST_HOPS", addr))?;
    } else {
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_RECVTTL, 1)
            .map_err(sock_err("IP_RECVTTL", addr))?;
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
            .map_err(sock_err("IP_PKTINFO", addr))?;
        s.set_ttl_v4(255).map_err(sock_err("IP_TTL", addr))?;
    }
    // Hundreds of sessions share this socket: a short scheduling delay must not overflow the
    // default ~200 KiB buffer (that drops packets and expires detection timers). Raise it past
    // net.core.rmem_max when we may (SO_RCVBUFFORCE, CAP_NET_ADMIN), else as far as allowed.
    if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RX_SOCKET_BUFFER).is_err() {
        let _ = s.set_recv_buffer_size(RX_SOCKET_BUFFER as usize);
    }
    s.set_nonblocking(true)
        .map_err(sock_err("O_NONBLOCK", addr))?;
    s.bind(&addr.into()).map_err(sock_err("bind", addr))?;
    UdpSocket::from_std(s.into()).map_err(sock_err("register with tokio", addr))
}

/// The transmit socket of a session and the scope id of its destination (the interface index
/// of a link-local session, else 0).
fn tx_socket(key: &SessionKey, port: u16) -> Result<(UdpSocket, u32), Error> {
    let scope = match &key.interface {
        Some(i) => crate::socket::interface_index(i).map_err(sock_err("interface", i))?,
        None => 0,
    };
    let addr = match key.local {
        IpAddr::V6(v6) if scope != 0 => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, scope)),
        ip => SocketAddr::new(ip, port),
    };
    let domain = if key.local.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s =
        Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(sock_err("socket", addr))?;
    if let Some(dev) = key.interface.as_ref().or(key.vrf.as_ref()) {
        s.bind_device(Some(dev.as_bytes()))
            .map_err(sock_err("SO_BINDTODEVICE", dev))?;
    }
    if key.local.is_ipv6() {
        s.set_only_v6(true).map_err(sock_err("IPV6_V6ONLY", addr))?;
        s.set_unicast_hops_v6(255)
            .map_err(sock_err("IPV6_UNICAST_HOPS", addr))?;
    } else {
        s.set_ttl_v4(255).map_err(sock_err("IP_TTL", addr))?;
    }
    // We never read from it: keep its receive buffer minimal.
    let _ = s.set_recv_buffer_size(1024);
    s.set_nonblocking(true)
        .map_err(sock_err("O_NONBLOCK", addr))?;
    s.bind(&addr.into()).map_err(sock_err("bind", addr))?;
    let sock = UdpSocket::from_std(s.into()).map_err(sock_err("register with tokio", addr))?;
    Ok((sock, scope))
}

/// `dst` with the scope id a link-local destination needs (`scope` 0: unchanged).
fn scoped(dst: SocketAddr, scope: u32) -> SocketAddr {
    match dst {
        SocketAddr::V6(v6) if scope != 0 => {
            SocketAddr::V6(SocketAddrV6::new(*v6.ip(), v6.port(), 0, scope))
        }
        other => other,
    }
}

impl Received {
    fn empty(socket: usize) -> Self {
        Received {
            socket,
            src: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ttl: 0,
            len: 0,
            buf: [0; RX_BUF],
        }
    }
}

/// Reads datagrams with their TTL and destination address and hands them to the driver; hands
/// the socket itself to the driver when the rate gets high (see [`RxIo`]).
async fn reader(
    index: usize,
    sock: UdpSocket,
    out: mpsc::Sender<Received>,
    handoff: mpsc::Sender<(usize, std::net::UdpSocket)>,
) {
    let (mut window_start, mut count) = (Instant::now(), 0u32);
    loop {
        if sock.readable().await.is_err() {
            return;
        }
        let mut p = Received::empty(index);
        let r = sock.try_io(Interest::READABLE, || recv_meta(sock.as_raw_fd(), &mut p));
        match r {
            Ok(usable) => {
                if usable && out.send(p).await.is_err() {
                    return;
                }
                count += 1;
                if count >= POLL_ENTER {
                    let now = Instant::now();
                    if now.duration_since(window_start) <= RX_WINDOW {
                        match sock.into_std() {
                            Ok(std_sock) => {
                                let _ = handoff.send((index, std_sock)).await;
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "BFD receive socket lost: leaving tokio failed");
                            }
                        }
                        return;
                    }
                    (window_start, count) = (now, 0);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                tracing::warn!(error = %e, "BFD receive failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// One recvmsg(2) ([`crate::socket::recv_msg`], no allocation): fills `p` and returns whether
/// the datagram is usable (not truncated, with source, TTL and destination address known).
fn recv_meta(fd: RawFd, p: &mut Received) -> io::Result<bool> {
    let m = crate::socket::recv_msg(fd, &mut p.buf)?;
    if m.truncated {
        return Ok(false);
    }
    let (Some(src), Some(ttl), Some(dst)) = (m.source, m.hop_limit, m.destination) else {
        return Ok(false);
    };
    p.len = m.len;
    p.src = src;
    p.ttl = ttl;
    p.dst = dst;
    Ok(true)
}
