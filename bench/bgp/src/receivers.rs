//! The receivers (FRR and BIRD, each in its own namespace, AS 64501) and the namespaces and
//! links of the run: what the sender may peer with, how a session is switched on and off, and
//! how the receiver's RIB is counted cheaply while it fills.
//!
//! ```text
//!  recv-frr  to-snd 192.0.2.2/24   2001:db8:0:1::2/64 ── to-frr  192.0.2.1    2001:db8:0:1::1  sender
//!  recv-bird to-snd 198.51.100.2/24 2001:db8:0:2::2/64 ── to-bird 198.51.100.1 2001:db8:0:2::1  sender
//! ```
//!
//! Both receivers keep every session shut until a measurement switches one on, so exactly one
//! session carries routes at a time. Neither installs routes in a kernel (FRR's `table-map`
//! denies everything; BIRD has no kernel protocol), so the receivers' own work is BGP only.

use crate::ctl::{Birdc, Vty};
use metalroute_bench_bgp::Fam;
use metalroute_netns::{addr, veth, Bird, Frr, Netns};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One end of a sender–receiver link.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// The sender's IPv4 address on this link.
    pub sender_v4: &'static str,
    /// The receiver's IPv4 address.
    pub recv_v4: &'static str,
    /// The sender's IPv6 address.
    pub sender_v6: &'static str,
    /// The receiver's IPv6 address.
    pub recv_v6: &'static str,
}

impl Link {
    /// The sender's address of family `fam`.
    pub fn sender(&self, fam: Fam) -> &'static str {
        match fam {
            Fam::V4 => self.sender_v4,
            Fam::V6 => self.sender_v6,
        }
    }

    /// The receiver's address of family `fam`.
    pub fn recv(&self, fam: Fam) -> &'static str {
        match fam {
            Fam::V4 => self.recv_v4,
            Fam::V6 => self.recv_v6,
        }
    }
}

/// The link to the FRR receiver.
pub const FRR_LINK: Link = Link {
    sender_v4: "192.0.2.1",
    recv_v4: "192.0.2.2",
    sender_v6: "2001:db8:0:1::1",
    recv_v6: "2001:db8:0:1::2",
};

/// The link to the BIRD receiver.
pub const BIRD_LINK: Link = Link {
    sender_v4: "198.51.100.1",
    recv_v4: "198.51.100.2",
    sender_v6: "2001:db8:0:2::1",
    recv_v6: "2001:db8:0:2::2",
};

/// Both links, FRR first.
pub const LINKS: [Link; 2] = [FRR_LINK, BIRD_LINK];

/// The three namespaces; deleted (with everything in them) on drop.
pub struct Topo {
    /// The sender's namespace. Declared first so it is dropped (and its daemons killed) first.
    pub sender: Netns,
    /// The FRR receiver's namespace.
    pub recv_frr: Netns,
    /// The BIRD receiver's namespace.
    pub recv_bird: Netns,
}

impl Topo {
    /// Creates the namespaces, veths and addresses.
    pub fn new() -> Topo {
        let t = Topo {
            sender: Netns::new("mrbgp-s"),
            recv_frr: Netns::new("mrbgp-rf"),
            recv_bird: Netns::new("mrbgp-rb"),
        };
        for (ns, link, ifname) in [
            (&t.recv_frr, FRR_LINK, "to-frr"),
            (&t.recv_bird, BIRD_LINK, "to-bird"),
        ] {
            veth(&t.sender, ifname, ns, "to-snd");
            addr(&t.sender, ifname, &format!("{}/24", link.sender_v4));
            addr(&t.sender, ifname, &format!("{}/64", link.sender_v6));
            addr(ns, "to-snd", &format!("{}/24", link.recv_v4));
            addr(ns, "to-snd", &format!("{}/64", link.recv_v6));
        }
        t
    }
}

/// What a receiver reports about one session.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionState {
    /// The session is Established.
    pub established: bool,
    /// Prefixes received on it.
    pub received: u64,
}

/// A receiver the benchmark can switch sessions on and poll.
pub trait Receiver {
    /// `frr` or `bird`.
    fn name(&self) -> &'static str;
    /// Lets the session of family `fam` come up (`true`) or shuts it (`false`).
    fn set_enabled(&mut self, fam: Fam, on: bool) -> Result<(), String>;
    /// The session of family `fam`.
    fn state(&mut self, fam: Fam) -> Result<SessionState, String>;
    /// Routes of family `fam` in the receiver's table (0 once a shut session's routes are gone).
    fn table_count(&mut self, fam: Fam) -> Result<u64, String>;
    /// IPv4 routes inside `prefix` (e.g. `198.19.0.0/22`), for the churn check.
    fn count_within(&mut self, prefix: &str) -> Result<u64, String>;
    /// When the session of `fam` last became Established, from the receiver's own log when it
    /// has sub-second timestamps (FRR `%ADJCHANGE … Up`, BIRD `State changed to up`): a poll
    /// cannot see Established before the first UPDATEs are in, and single-threaded BIRD does not
    /// answer while it imports. `None` = use the first poll that saw it.
    fn established_at(&self, fam: Fam) -> Option<SystemTime>;
}

/// Parses `YYYY/MM/DD HH:MM:SS.ffffff` or `YYYY-MM-DD HH:MM:SS.ffffff` (UTC, as the daemons
/// log on this machine) at the start of `line`.
fn log_time(line: &str) -> Option<SystemTime> {
    let mut it = line.split_whitespace();
    let date = it.next()?.replace('/', "-");
    let time = it.next()?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    // Without a fraction the time is too coarse to use.
    let (hms, frac) = time.split_once('.')?;
    let mut t = hms.split(':').map(|x| x.parse::<i64>());
    let (hh, mm, ss) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let micros: u64 = format!("{frac:0<6}")[..6].parse().ok()?;
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros))
}

/// The timestamp of the last line of the log at `path` that contains every one of `needles`.
fn last_log_time(path: &Path, needles: &[&str]) -> Option<SystemTime> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .and_then(log_time)
}

/// The FRR receiver.
pub struct FrrRecv {
    /// The daemons (kept alive).
    frr: Frr,
    /// bgpd's vty, for polling and configuration.
    vty: Vty,
}

impl FrrRecv {
    /// Starts zebra + bgpd in `ns` with both sessions shut.
    pub fn start(ns: &Netns) -> Result<FrrRecv, String> {
        let (v4, v6) = (FRR_LINK.sender_v4, FRR_LINK.sender_v6);
        let conf = format!(
            "frr defaults traditional
hostname recv-frr
router bgp 64501
 bgp router-id {rid}
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor {v4} remote-as 64500
 neighbor {v4} timers connect 1
 neighbor {v4} shutdown
 neighbor {v6} remote-as 64500
 neighbor {v6} timers connect 1
 neighbor {v6} shutdown
 address-family ipv4 unicast
  table-map NOTHING
  neighbor {v4} activate
  neighbor {v4} route-map NOTHING out
 exit-address-family
 address-family ipv6 unicast
  table-map NOTHING
  neighbor {v6} activate
  neighbor {v6} route-map NOTHING out
 exit-address-family
!
route-map NOTHING deny 10
",
            rid = FRR_LINK.recv_v4
        );
        let frr = Frr::start(ns, &conf, None);
        let vty = Vty::connect(
            &Path::new("/var/run/frr")
                .join(frr.pathspace())
                .join("bgpd.vty"),
        )?;
        let mut r = FrrRecv { frr, vty };
        // Microsecond log timestamps and %ADJCHANGE lines: the Established time comes from
        // the log (a poll cannot see it before the first UPDATEs are already in).
        // (bgpd's `--log file:` target from the harness ignores the precision; a `log file`
        // target configured here honours it.)
        let adj = r.frr.dir().join("adj.log");
        r.vty.configure(&[
            format!("log file {} informational", adj.display()),
            "log timestamp precision 6".to_owned(),
            "router bgp 64501".to_owned(),
            "bgp log-neighbor-changes".to_owned(),
        ])?;
        Ok(r)
    }
}

/// `ipv4` or `ipv6`.
fn afi(fam: Fam) -> &'static str {
    match fam {
        Fam::V4 => "ipv4",
        Fam::V6 => "ipv6",
    }
}

impl Receiver for FrrRecv {
    fn name(&self) -> &'static str {
        "frr"
    }

    fn set_enabled(&mut self, fam: Fam, on: bool) -> Result<(), String> {
        let peer = FRR_LINK.sender(fam);
        let no = if on { "no " } else { "" };
        self.vty.configure(&[
            "router bgp 64501".to_owned(),
            format!("{no}neighbor {peer} shutdown"),
        ])
    }

    fn state(&mut self, fam: Fam) -> Result<SessionState, String> {
        let v = self
            .vty
            .json(&format!("show bgp {} unicast summary json", afi(fam)))?;
        let p = &v["peers"][FRR_LINK.sender(fam)];
        Ok(SessionState {
            established: p["state"].as_str() == Some("Established"),
            received: p["pfxRcd"].as_u64().unwrap_or(0),
        })
    }

    fn table_count(&mut self, fam: Fam) -> Result<u64, String> {
        let v = self
            .vty
            .json(&format!("show bgp {} unicast summary json", afi(fam)))?;
        Ok(v["ribCount"].as_u64().unwrap_or(0))
    }

    fn count_within(&mut self, prefix: &str) -> Result<u64, String> {
        let text = self
            .vty
            .cmd(&format!("show bgp ipv4 unicast {prefix} longer-prefixes"))?;
        // "Displayed  24 routes and 24 total paths"; nothing displayed when there are none.
        Ok(text
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("Displayed"))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    fn established_at(&self, fam: Fam) -> Option<SystemTime> {
        let peer = format!("%ADJCHANGE: neighbor {}(", FRR_LINK.sender(fam));
        last_log_time(&self.frr.dir().join("adj.log"), &[&peer, " Up"])
    }
}

/// The BIRD receiver.
pub struct BirdRecv {
    /// The daemon.
    bird: Bird,
    /// Its control socket.
    ctl: Birdc,
}

impl BirdRecv {
    /// Starts BIRD in `ns` with both sessions disabled.
    pub fn start(ns: &Netns) -> Result<BirdRecv, String> {
        let l = BIRD_LINK;
        let conf = format!(
            "timeformat log iso long us;
router id {rid};
protocol device {{ }}
protocol bgp s4 {{
  local {r4} as 64501;
  neighbor {s4} as 64500;
  connect delay time 0;
  connect retry time 1;
  disabled;
  debug {{ states }};
  ipv4 {{ import all; export none; }};
}}
protocol bgp s6 {{
  local {r6} as 64501;
  neighbor {s6} as 64500;
  connect delay time 0;
  connect retry time 1;
  disabled;
  debug {{ states }};
  ipv6 {{ import all; export none; }};
}}
",
            rid = l.recv_v4,
            r4 = l.recv_v4,
            s4 = l.sender_v4,
            r6 = l.recv_v6,
            s6 = l.sender_v6
        );
        let bird = Bird::start(ns, &conf);
        let ctl = Birdc::connect(&bird.socket())?;
        Ok(BirdRecv { bird, ctl })
    }
}

/// BIRD's protocol name for the session of `fam`.
fn proto(fam: Fam) -> &'static str {
    match fam {
        Fam::V4 => "s4",
        Fam::V6 => "s6",
    }
}

/// The first number in `lines` that precedes `word` (e.g. `10000 imported`).
fn number_before(lines: &[String], word: &str) -> Option<u64> {
    lines.iter().find_map(|l| {
        let toks: Vec<&str> = l.split_whitespace().collect();
        toks.windows(2)
            .find(|w| w[1].trim_end_matches(',') == word)
            .and_then(|w| w[0].parse().ok())
    })
}

impl Receiver for BirdRecv {
    fn name(&self) -> &'static str {
        "bird"
    }

    fn set_enabled(&mut self, fam: Fam, on: bool) -> Result<(), String> {
        let verb = if on { "enable" } else { "disable" };
        self.ctl.cmd(&format!("{verb} {}", proto(fam))).map(|_| ())
    }

    fn state(&mut self, fam: Fam) -> Result<SessionState, String> {
        let lines = self
            .ctl
            .cmd(&format!("show protocols all {}", proto(fam)))?;
        let established = lines
            .iter()
            .any(|l| l.trim_start().starts_with("BGP state:") && l.contains("Established"));
        Ok(SessionState {
            established,
            received: number_before(&lines, "imported").unwrap_or(0),
        })
    }

    fn table_count(&mut self, fam: Fam) -> Result<u64, String> {
        let table = match fam {
            Fam::V4 => "master4",
            Fam::V6 => "master6",
        };
        let lines = self.ctl.cmd(&format!("show route table {table} count"))?;
        // "0 of 0 routes for 0 networks in table master4"
        Ok(number_before(&lines, "of").unwrap_or(0))
    }

    fn count_within(&mut self, prefix: &str) -> Result<u64, String> {
        let lines = self
            .ctl
            .cmd(&format!("show route where net ~ [ {prefix}+ ] count"))?;
        Ok(number_before(&lines, "of").unwrap_or(0))
    }

    fn established_at(&self, fam: Fam) -> Option<SystemTime> {
        let needle = format!("{}: State changed to up", proto(fam));
        last_log_time(&self.bird.log_path(), &[&needle])
    }
}
