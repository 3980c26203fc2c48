//! Fault injection and observation on the wire inside a namespace: dropping packets with
//! nftables (link down is not packet loss: it takes the veth peer down too and routers react to
//! the interface event) and packet captures with tcpdump.

use crate::netns::{ChildGuard, Netns};
use crate::wait::wait_for_ok;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// nftables table the harness owns inside test namespaces.
const CUT_TABLE: &str = "metalroute_cut";

/// Drops every packet to and from `peer` in `ns` (nftables table `inet metalroute_cut`,
/// input and output hooks), so sessions to it time out like on a dead link while the
/// interface stays up. Call again for more peers; undo with [`restore_packets`].
pub fn drop_packets(ns: &Netns, peer: IpAddr) {
    let fam = if peer.is_ipv6() { "ip6" } else { "ip" };
    let peer = peer.to_string();
    ns.exec(&["nft", "add", "table", "inet", CUT_TABLE]);
    for (chain, hook) in [("in", "input"), ("out", "output")] {
        let spec = format!("{{ type filter hook {hook} priority 0 ; }}");
        ns.exec(&["nft", "add", "chain", "inet", CUT_TABLE, chain, &spec]);
    }
    ns.exec(&[
        "nft", "add", "rule", "inet", CUT_TABLE, "in", fam, "saddr", &peer, "drop",
    ]);
    ns.exec(&[
        "nft", "add", "rule", "inet", CUT_TABLE, "out", fam, "daddr", &peer, "drop",
    ]);
}

/// Removes every drop rule [`drop_packets`] added in `ns` (no-op if there are none).
pub fn restore_packets(ns: &Netns) {
    let _ = ns.try_exec(&["nft", "delete", "table", "inet", CUT_TABLE]);
}

/// Counter making capture file names unique within the process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A running `tcpdump` capture inside a namespace, written to a pcap file; stopped on drop.
#[derive(Debug)]
pub struct Capture {
    file: PathBuf,
    child: Option<ChildGuard>,
}

impl Capture {
    /// Starts `tcpdump -i ifname --immediate-mode -U -w FILE filter` in `ns` (filter may be
    /// empty) and waits until it is listening.
    ///
    /// # Panics
    /// If tcpdump exits or does not start listening within 10 s.
    pub fn start(ns: &Netns, ifname: &str, filter: &str) -> Capture {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let file = std::env::temp_dir().join(format!("metalroute-cap-{}-{n}.pcap", ns.name()));
        let log = file.with_extension("log");
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(&log);
        let mut argv = vec![
            "tcpdump".to_owned(),
            "-i".into(),
            ifname.into(),
            "-n".into(),
            "--immediate-mode".into(),
            "-U".into(),
            "-w".into(),
            file.display().to_string(),
        ];
        argv.extend(filter.split_whitespace().map(str::to_owned));
        let mut child = ns.spawn_logged(&argv, &log);
        wait_for_ok("tcpdump listening", Duration::from_secs(10), || {
            if let Some(st) = child.try_wait() {
                panic!(
                    "tcpdump exited ({st}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("listening on") {
                Ok(())
            } else {
                Err(text)
            }
        });
        Capture {
            file,
            child: Some(child),
        }
    }

    /// Stops the capture (SIGINT, so tcpdump flushes) and returns the pcap file's path.
    pub fn stop(&mut self) -> &Path {
        if let Some(mut c) = self.child.take() {
            c.signal(libc::SIGINT);
            let _ = c.wait_timeout(Duration::from_secs(5));
        }
        &self.file
    }

    /// Reads what the capture has written so far without stopping it: `tcpdump -r FILE -nn -v
    /// args…` output. tcpdump writes each packet as it sees it (`-U`), but a packet seen just
    /// before a stop can be lost, so wait for what must be on the wire with this before
    /// [`Capture::text`]. A partly written last record is ignored.
    pub fn peek(&self, args: &[&str]) -> String {
        let mut cmd = std::process::Command::new("tcpdump");
        cmd.arg("-r").arg(&self.file).args(["-nn", "-v"]);
        for a in args {
            cmd.args(a.split_whitespace());
        }
        cmd.output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Stops the capture and returns `tcpdump -r FILE -nn -v args…` output (one packet per
    /// line or two), e.g. `text(&["tcp port 179"])`.
    ///
    /// # Panics
    /// If tcpdump cannot read the file.
    pub fn text(&mut self, args: &[&str]) -> String {
        let file = self.stop().to_owned();
        let mut cmd = std::process::Command::new("tcpdump");
        cmd.arg("-r").arg(&file).args(["-nn", "-v"]);
        for a in args {
            cmd.args(a.split_whitespace());
        }
        crate::cmd::stdout_of(&mut cmd)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.file);
        let _ = std::fs::remove_file(self.file.with_extension("log"));
    }
}
