//! `kac-sim`: runs the simulated Kubernetes API server (see the library docs).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// A simulated Kubernetes API server for KAC's tests and demo.
#[derive(Parser, Debug)]
#[command(name = "kac-sim", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port (see DIR/ready.json).
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Directory for the CA, tokens, ready.json, admin.kubeconfig, request log, pods.
    #[arg(long)]
    data_dir: PathBuf,
    /// Cluster name (ready.json, kubeconfig, sample labels).
    #[arg(long, default_value = "dev")]
    cluster_name: String,
    /// Extra pods to create (spread over namespaces), for scale tests.
    #[arg(long, default_value_t = 0)]
    pods: usize,
    /// Seed directory with state.yaml and/or rbac.yaml overriding the samples.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Watch events kept in memory for resuming watches; older resourceVersions
    /// get a 410 Expired ERROR event.
    #[arg(long, default_value_t = 10_000)]
    watch_history: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KAC_SIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let opts = kac_sim::server::Options {
        listen: args.listen,
        data_dir: args.data_dir,
        cluster: args.cluster_name,
        pods: args.pods,
        seed: args.seed,
        watch_history: args.watch_history,
    };
    let shutdown = async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("installing SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    kac_sim::server::run(opts, shutdown).await
}
