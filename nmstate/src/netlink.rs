//! The rtnetlink connection: one place where requests go to the kernel, so every write is
//! counted (re-applying a converged state must make zero writes) and every refusal becomes an
//! [`Error::Kernel`] naming what was asked.

use crate::error::{Error, Result};
use crate::kernel::KernelState;
use futures_util::stream::{FuturesOrdered, StreamExt};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::rule::RuleMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How many write requests are in flight at once when a stage sends many (routes, rules).
const PIPELINE_DEPTH: usize = 256;

/// A write request: the message, its extra netlink flags and a description for errors/logs.
#[derive(Debug, Clone)]
pub struct Write {
    /// The rtnetlink message.
    pub msg: RouteNetlinkMessage,
    /// Flags besides REQUEST|ACK (e.g. CREATE|EXCL).
    pub flags: u16,
    /// Human description, e.g. `add route 192.0.2.0/24 dev eth0 table 254`.
    pub what: String,
}

impl Write {
    /// A creating request (NLM_F_CREATE | NLM_F_EXCL).
    pub fn create(msg: RouteNetlinkMessage, what: impl Into<String>) -> Self {
        Write {
            msg,
            flags: NLM_F_CREATE | NLM_F_EXCL,
            what: what.into(),
        }
    }

    /// A modifying or deleting request (no extra flags).
    pub fn plain(msg: RouteNetlinkMessage, what: impl Into<String>) -> Self {
        Write {
            msg,
            flags: 0,
            what: what.into(),
        }
    }
}

/// An rtnetlink connection in the network namespace of the thread that opened it.
pub struct Netlink {
    handle: rtnetlink::Handle,
    writes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Netlink {
    /// Opens a connection in the calling thread's network namespace. Must run inside a tokio
    /// runtime (the connection is driven by a spawned task).
    pub fn open() -> Result<Self> {
        let (conn, handle, _unsolicited) = rtnetlink::new_connection().map_err(Error::Socket)?;
        let task = tokio::spawn(conn);
        Ok(Netlink {
            handle,
            writes: Arc::new(AtomicU64::new(0)),
            task,
        })
    }

    /// Number of write requests sent so far (successful or not).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    async fn request(
        &self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        let req = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        let mut handle = self.handle.clone();
        let mut replies = handle.request(req).map_err(|e| Error::Protocol {
            what: what.to_string(),
            detail: e.to_string(),
        })?;
        let mut out = Vec::new();
        while let Some(reply) = replies.next().await {
            match reply.payload {
                NetlinkPayload::InnerMessage(m) => out.push(m),
                NetlinkPayload::Error(e) => {
                    if let Some(code) = e.code {
                        return Err(Error::Kernel {
                            what: what.to_string(),
                            errno: -code.get(),
                        });
                    }
                }
                NetlinkPayload::Overrun(_) => {
                    return Err(Error::Protocol {
                        what: what.to_string(),
                        detail: "overrun".into(),
                    })
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Sends one write and waits for the kernel's acknowledgement.
    pub async fn write(&self, w: &Write) -> Result<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(what = %w.what, "netlink write");
        self.request(w.msg.clone(), NLM_F_ACK | w.flags, &w.what)
            .await
            .map(|_| ())
    }

    /// Sends writes pipelined (up to [`PIPELINE_DEPTH`] in flight) and returns each result in
    /// order. Only for writes that do not depend on each other.
    pub async fn write_many(&self, writes: &[Write]) -> Vec<Result<()>> {
        let mut out = Vec::with_capacity(writes.len());
        for chunk in writes.chunks(PIPELINE_DEPTH) {
            let mut batch = FuturesOrdered::new();
            for w in chunk {
                batch.push_back(self.write(w));
            }
            while let Some(r) = batch.next().await {
                out.push(r);
            }
        }
        out
    }

    async fn dump(&self, msg: RouteNetlinkMessage, what: &str) -> Result<Vec<RouteNetlinkMessage>> {
        self.request(msg, NLM_F_DUMP, what).await
    }

    /// Dumps all links.
    pub async fn links(&self) -> Result<Vec<LinkMessage>> {
        let out = self
            .dump(
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                "dump links",
            )
            .await?;
        Ok(out
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })
            .collect())
    }

    /// Dumps all addresses (both families).
    pub async fn addresses(&self) -> Result<Vec<AddressMessage>> {
        let out = self
            .dump(
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                "dump addresses",
            )
            .await?;
        Ok(out
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => Some(a),
                _ => None,
            })
            .collect())
    }

    /// Dumps the routes of every table, IPv4 then IPv6.
    pub async fn routes(&self) -> Result<Vec<RouteMessage>> {
        let mut all = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut msg = RouteMessage::default();
            msg.header.address_family = family;
            let out = self
                .dump(RouteNetlinkMessage::GetRoute(msg), "dump routes")
                .await?;
            all.extend(out.into_iter().filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => Some(r),
                _ => None,
            }));
        }
        Ok(all)
    }

    /// Dumps the policy routing rules, IPv4 then IPv6.
    pub async fn rules(&self) -> Result<Vec<RuleMessage>> {
        let mut all = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut msg = RuleMessage::default();
            msg.header.family = family;
            let out = self
                .dump(RouteNetlinkMessage::GetRule(msg), "dump rules")
                .await?;
            all.extend(out.into_iter().filter_map(|m| match m {
                RouteNetlinkMessage::NewRule(r) => Some(r),
                _ => None,
            }));
        }
        Ok(all)
    }

    /// Reads links, addresses, routes and rules into one [`KernelState`].
    pub async fn state(&self) -> Result<KernelState> {
        let links = self.links().await?;
        let addresses = self.addresses().await?;
        let routes = self.routes().await?;
        let rules = self.rules().await?;
        Ok(KernelState::from_messages(links, addresses, routes, rules))
    }

    /// `ip route get ADDR`: whether the kernel has a route to `addr` (in the main lookup).
    pub async fn route_get(&self, addr: std::net::IpAddr) -> Result<Option<RouteMessage>> {
        use netlink_packet_route::route::{RouteAddress, RouteAttribute};
        let mut msg = RouteMessage::default();
        msg.header.address_family = match addr {
            std::net::IpAddr::V4(_) => AddressFamily::Inet,
            std::net::IpAddr::V6(_) => AddressFamily::Inet6,
        };
        msg.header.destination_prefix_length = if addr.is_ipv4() { 32 } else { 128 };
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(addr)));
        match self
            .request(RouteNetlinkMessage::GetRoute(msg), 0, "route get")
            .await
        {
            Ok(mut v) => Ok(v.pop().and_then(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => Some(r),
                _ => None,
            })),
            Err(Error::Kernel { errno, .. })
                if errno == libc::ENETUNREACH || errno == libc::EHOSTUNREACH =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
