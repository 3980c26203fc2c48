//! `metalroute run`: the agent in file mode (see [`metalroute_agent::runtime`]).

use clap::Args;
use metalroute_agent::logging::{self, LogFormat};
use metalroute_agent::runtime::{self, RunOptions};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `metalroute run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The node this agent runs on (selects peers, advertisements, policies).
    #[arg(long, env = "METALROUTE_NODE_NAME")]
    pub node_name: String,
    /// Directory of YAML/JSON objects (MetalLB, nmstate, EgressService, Services, EndpointSlices,
    /// Nodes, Secrets); watched for changes.
    #[arg(long)]
    pub config: PathBuf,
    /// Admin socket for `metalroute show`.
    #[arg(long, env = "METALROUTE_ADMIN_SOCKET", default_value = metalroute_agent::admin::DEFAULT_SOCKET)]
    pub admin_socket: PathBuf,
    /// Serve /metrics, /healthz and /readyz on this address (e.g. 127.0.0.1:7472).
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// MetalLB's namespace (MetalLB objects elsewhere are reported and ignored).
    #[arg(long, default_value = "metallb-system")]
    pub metallb_namespace: String,
    /// BGP router ID for peers whose BGPPeer sets none (default: the node's highest IPv4 address).
    #[arg(long)]
    pub router_id: Option<Ipv4Addr>,
    /// TCP port to accept BGP connections on (0 = do not listen).
    #[arg(long, default_value_t = 179)]
    pub bgp_port: u16,
    /// File recording the network links the agent created (default: kept in memory).
    #[arg(long)]
    pub network_record: Option<PathBuf>,
    /// Announce to a BGPPeer with a `bfdProfile` as soon as BGP is Established, without waiting
    /// for its BFD session to be Up (by default routes wait for BFD Up).
    #[arg(long)]
    pub no_bfd_gate: bool,
}

/// Runs the agent until SIGTERM/SIGINT.
pub fn run(args: RunArgs) -> ExitCode {
    if let Err(e) = logging::init(args.log_format) {
        eprintln!("metalroute run: {e}");
        return ExitCode::from(2);
    }
    let opts = RunOptions {
        node_name: args.node_name,
        config_dir: args.config,
        metallb_namespace: args.metallb_namespace,
        admin_socket: Some(args.admin_socket),
        metrics_addr: args.metrics_addr,
        router_id: args.router_id,
        bgp_listen_port: (args.bgp_port != 0).then_some(args.bgp_port),
        network_record: args.network_record,
        bfd_gate: !args.no_bfd_gate,
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("metalroute run: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(runtime::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "metalroute run failed");
            eprintln!("metalroute run: {e}");
            ExitCode::from(1)
        }
    }
}
