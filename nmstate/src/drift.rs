//! Drift repair: subscribes to rtnetlink's link, address, route and rule multicast groups
//! (before the first read, so no change can slip between the read and the subscription), and
//! whenever the kernel reports a change, converges back to the desired state and reports what
//! it repaired. A receive-buffer overflow (ENOBUFS) loses events, so it is answered by a full
//! re-read, which converging does anyway.

use crate::apply::Applier;
use crate::error::{Error, Result};
use metalroute_crds::nmstate::DesiredState;
use netlink_sys::{protocols::NETLINK_ROUTE, AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
use tokio::sync::{mpsc, watch};

/// rtnetlink multicast groups watched (RTNLGRP_*): link, IPv4/IPv6 addresses, routes, rules.
const GROUPS: [u32; 7] = [1, 5, 7, 8, 9, 11, 19];

/// Events arriving this close together are handled by one convergence.
const DEBOUNCE: Duration = Duration::from_millis(20);

/// What one repair did.
#[derive(Debug, Clone, PartialEq)]
pub struct Repair {
    /// The changes made (`ip`-like descriptions).
    pub changes: Vec<String>,
    /// Whether it was triggered by a lost-events overflow (ENOBUFS).
    pub after_overflow: bool,
}

/// A subscription to rtnetlink change notifications in the calling thread's namespace.
pub struct Monitor {
    sock: TokioSocket,
}

impl Monitor {
    /// Subscribes. Must be called inside a tokio runtime.
    pub fn subscribe() -> Result<Self> {
        let mut sock = TokioSocket::new(NETLINK_ROUTE).map_err(Error::Socket)?;
        sock.socket_mut()
            .bind(&SocketAddr::new(0, 0))
            .map_err(Error::Socket)?;
        for g in GROUPS {
            sock.socket_ref().add_membership(g).map_err(Error::Socket)?;
        }
        // A large buffer makes overflows rare; they are still handled.
        let _ = sock.socket_ref().set_rx_buf_sz(4 * 1024 * 1024);
        Ok(Monitor { sock })
    }

    /// Sets the socket's receive buffer (bytes; the kernel doubles it and enforces a minimum).
    /// A small buffer makes overflows (ENOBUFS) easy to provoke in tests.
    pub fn set_receive_buffer(&self, bytes: usize) -> Result<()> {
        self.sock
            .socket_ref()
            .set_rx_buf_sz(bytes)
            .map_err(Error::Socket)
    }

    /// Waits for the next batch of notifications. `Ok(true)` means events were lost (ENOBUFS).
    pub async fn next(&mut self) -> Result<bool> {
        let overflow = self.recv().await?;
        // Drain what arrives shortly after, so a burst is one convergence.
        let mut lost = overflow;
        loop {
            match tokio::time::timeout(DEBOUNCE, self.recv()).await {
                Ok(Ok(o)) => lost |= o,
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(lost),
            }
        }
    }

    async fn recv(&mut self) -> Result<bool> {
        match self.sock.recv_from_full().await {
            Ok(_) => Ok(false),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(true),
            Err(e) => Err(Error::Socket(e)),
        }
    }
}

/// Keeps the kernel at the desired state until `stop` changes to true: converges once, then
/// after every change notification. Each repair that changed something is logged and sent to
/// `repairs`. The desired state can be replaced through `desired`.
pub async fn guard(
    applier: &mut Applier,
    mut desired: watch::Receiver<DesiredState>,
    repairs: mpsc::UnboundedSender<Repair>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut monitor = Monitor::subscribe()?;
    let mut overflow = false;
    loop {
        let state = desired.borrow_and_update().clone();
        // Boxed as `dyn Send` so the guard future stays `Send` (spawnable) despite the borrow.
        let converge: BoxFuture<'_, Result<Vec<String>>> = Box::pin(applier.converge(&state));
        match converge.await {
            Ok(changes) if !changes.is_empty() => {
                tracing::info!(?changes, after_overflow = overflow, "repaired drift");
                let _ = repairs.send(Repair {
                    changes,
                    after_overflow: overflow,
                });
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "drift repair failed; will retry on the next change")
            }
        }
        if overflow {
            tracing::warn!("netlink notifications were lost (ENOBUFS); state was re-read");
        }
        let next: BoxFuture<'_, Result<bool>> = Box::pin(monitor.next());
        tokio::select! {
            r = next => overflow = r?,
            r = desired.changed() => {
                if r.is_err() {
                    return Ok(());
                }
                overflow = false;
            }
            _ = stop.changed() => return Ok(()),
        }
        if *stop.borrow() {
            return Ok(());
        }
    }
}
