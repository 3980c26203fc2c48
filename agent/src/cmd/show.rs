//! `metalroute show ...`: asks a running agent over its admin socket.

use clap::{Args, Subcommand};
use metalroute_agent::admin::{self, Output, Request, Topic};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `metalroute show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The agent's admin socket.
    #[arg(long, global = true, env = "METALROUTE_ADMIN_SOCKET", default_value = admin::DEFAULT_SOCKET)]
    pub admin_socket: PathBuf,
    /// JSON output for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to show.
    #[command(subcommand)]
    pub what: ShowWhat,
}

/// Things to show.
#[derive(Subcommand, Debug)]
pub enum ShowWhat {
    /// BGP sessions and advertisements.
    Bgp {
        /// Which BGP view.
        #[command(subcommand)]
        view: BgpView,
    },
    /// BFD sessions.
    Bfd {
        /// Which BFD view.
        #[command(subcommand)]
        view: BfdView,
    },
    /// The plan in force: sessions, advertisements, withheld Services with reasons.
    Plan,
}

/// `show bgp ...`.
#[derive(Subcommand, Debug)]
pub enum BgpView {
    /// One line per session, like `vtysh -c 'show bgp summary'`.
    Summary,
    /// Details and counters of every session, or one (BGPPeer name or address).
    Neighbors {
        /// BGPPeer name or peer address.
        peer: Option<String>,
    },
    /// Prefixes advertised with their attributes, per session or for one.
    Advertised {
        /// BGPPeer name or peer address.
        peer: Option<String>,
    },
}

/// `show bfd ...`.
#[derive(Subcommand, Debug)]
pub enum BfdView {
    /// BFD sessions of the BGP peers.
    Peers,
}

/// Sends the request and prints the answer.
pub fn run(args: ShowArgs) -> ExitCode {
    let (show, peer) = match args.what {
        ShowWhat::Bgp {
            view: BgpView::Summary,
        } => (Topic::BgpSummary, None),
        ShowWhat::Bgp {
            view: BgpView::Neighbors { peer },
        } => (Topic::BgpNeighbors, peer),
        ShowWhat::Bgp {
            view: BgpView::Advertised { peer },
        } => (Topic::BgpAdvertised, peer),
        ShowWhat::Bfd {
            view: BfdView::Peers,
        } => (Topic::BfdPeers, None),
        ShowWhat::Plan => (Topic::Plan, None),
    };
    let req = Request {
        show,
        peer,
        json: args.json,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("metalroute show: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(admin::query(&args.admin_socket, &req)) {
        Ok(Output::Text(t)) => {
            print!("{t}");
            ExitCode::SUCCESS
        }
        Ok(Output::Json(v)) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("metalroute show: {e}");
            ExitCode::from(1)
        }
    }
}
