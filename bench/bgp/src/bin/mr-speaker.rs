//! metalroute's speaker driven through its API only (no agent): the benchmark's "metalroute
//! (API)" sender. Runs inside the sender namespace as its own process, so its peak RSS and CPU
//! time are the speaker's.
//!
//! Usage: `mr-speaker --family v4|v6 --peer ADDR [--peer ADDR…] --set START:COUNT[,…]`.
//! Creates a `Speaker` (listening on port 179) with one passive eBGP peer per `--peer`
//! (AS 64500 → 64501), sets the route set as every peer's advertisements (one `RouteSet`, built
//! once and shared by every peer, as the speaker's API allows), prints `ready`, then
//! reads commands from stdin: `set START:COUNT[,…]` replaces the advertisements of every peer
//! and answers `ok` once the speaker has taken them; `quit` (or end of input) shuts down.

use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use metalroute_bench_bgp::{addr, indices, parse_set, Fam};
use metalroute_bgp::config::{Asn, Family, PeerAsn, PeerConfig, PeerKey};
use metalroute_bgp::packet::PathAttributes;
use metalroute_bgp::speaker::{RouteSet, RouteSetBuilder, Speaker, SpeakerConfig};

/// Settings from the command line.
struct Args {
    /// Family of every session and prefix.
    fam: Fam,
    /// Receiver addresses.
    peers: Vec<IpAddr>,
    /// The initial route set.
    set: Vec<(u32, u32)>,
}

/// Parses the command line; exits with status 2 on bad input.
fn args() -> Args {
    let usage =
        "usage: mr-speaker --family v4|v6 --peer ADDR [--peer ADDR...] --set START:COUNT[,...]";
    let fail = |m: &str| -> ! {
        eprintln!("{m}\n{usage}");
        std::process::exit(2)
    };
    let mut a = Args {
        fam: Fam::V4,
        peers: Vec::new(),
        set: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let Some(v) = it.next() else {
            fail(&format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--family" => a.fam = Fam::parse(&v).unwrap_or_else(|| fail("bad --family")),
            "--peer" => a
                .peers
                .push(v.parse().unwrap_or_else(|_| fail("bad --peer address"))),
            "--set" => a.set = parse_set(&v).unwrap_or_else(|| fail("bad --set")),
            _ => fail(&format!("unknown flag {flag}")),
        }
    }
    if a.peers.is_empty() {
        fail("no --peer");
    }
    a
}

/// The advertisements of a route set: every prefix shares one attribute set, as the agent
/// does for Services with the same advertisement.
fn routes(fam: Fam, family: Family, set: &[(u32, u32)]) -> RouteSet {
    let attrs = Arc::new(PathAttributes::default());
    let count = set.iter().map(|&(_, n)| n as usize).sum();
    let mut b = RouteSetBuilder::with_capacity(family, count);
    for i in indices(set) {
        // A host prefix of a valid address is always a valid IpNet.
        let net = IpNet::new(addr(fam, i), fam.host_len()).unwrap_or_else(|e| {
            eprintln!("prefix {i}: {e}");
            std::process::exit(1)
        });
        b.push(net, &attrs);
    }
    b.build()
}

/// Sets `set` as the advertisements of every peer.
async fn apply(speaker: &Speaker, keys: &[PeerKey], fam: Fam, set: &[(u32, u32)]) {
    let family = match fam {
        Fam::V4 => Family::IPV4_UNICAST,
        Fam::V6 => Family::IPV6_UNICAST,
    };
    let routes = routes(fam, family, set);
    for key in keys {
        // A clone of the set is a reference to it: every peer shares the one set.
        if let Err(e) = speaker
            .set_advertisements(key, family, routes.clone())
            .await
        {
            eprintln!("set_advertisements {key}: {e}");
            std::process::exit(1);
        }
    }
}

fn main() {
    let a = args();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            std::process::exit(1)
        }
    };
    rt.block_on(async move {
        let speaker = Speaker::new(SpeakerConfig {
            listen_port: Some(179),
            connect_timeout: Duration::from_secs(5),
        });
        let mut keys = Vec::new();
        for &peer in &a.peers {
            let mut c = PeerConfig::new(
                Asn(64500),
                PeerAsn::Fixed(Asn(64501)),
                peer,
                Ipv4Addr::new(192, 0, 2, 1),
            );
            c.passive = true;
            keys.push(c.key());
            if let Err(e) = speaker.add_peer(c).await {
                eprintln!("add_peer {peer}: {e}");
                std::process::exit(1);
            }
        }
        apply(&speaker, &keys, a.fam, &a.set).await;
        println!("ready");
        let _ = std::io::stdout().flush();
        // Commands arrive on a blocking thread; each is applied before the next is read.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = rx.recv().await {
            let line = line.trim();
            if line == "quit" {
                break;
            }
            let Some(set) = line.strip_prefix("set ").and_then(parse_set) else {
                eprintln!("bad command {line:?}");
                std::process::exit(2);
            };
            apply(&speaker, &keys, a.fam, &set).await;
            println!("ok");
            let _ = std::io::stdout().flush();
        }
        speaker.shutdown(false).await;
    });
}
