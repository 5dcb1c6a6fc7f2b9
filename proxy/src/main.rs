//! `kac-proxy`: run the proxy, or administer its files.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

// No custom global allocator: with mimalloc, 10,000 idle watches took
// 1,164 MiB of RSS (108.8 KiB each) against 708 MiB (70.3 KiB) with glibc
// malloc in the same bench (BENCHMARKS.md, issue #3); mimalloc keeps freed
// pages per thread, and a proxy holding many idle connections is the case
// where that hurts. kac-audit, a short-lived batch tool, keeps mimalloc.

#[derive(Parser)]
#[command(
    name = "kac-proxy",
    version,
    about = "KAC: authenticating, policy-enforcing, auditing Kubernetes proxy"
)]
struct Cli {
    /// The proxy config file (see samples/proxy.yaml).
    #[arg(long, env = "KAC_PROXY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check the config, users, clusters and policies, then exit.
    Check,
    /// Print the users-file form of a token (sha256:HEX); reads the token from stdin.
    HashToken,
    /// Print an argon2 hash of a password for the users file; reads it from stdin.
    HashPassword,
    /// The cluster registry: list, import from a kubeconfig, tag, cloud sync.
    #[command(subcommand)]
    Clusters(kac_proxy::admin::ClustersCmd),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KAC_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("kac-proxy: {e:#}");
        std::process::exit(1);
    }
}

fn read_stdin_line() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin().read_line(&mut s)?;
    let s = s.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!s.is_empty(), "nothing on stdin");
    Ok(s)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Some(Cmd::HashToken) => {
            println!("{}", kac_proxy::users::token_hash(&read_stdin_line()?));
            return Ok(());
        }
        Some(Cmd::HashPassword) => {
            println!("{}", kac_proxy::users::hash_password(&read_stdin_line()?));
            return Ok(());
        }
        _ => {}
    }
    let path = cli
        .config
        .ok_or_else(|| anyhow::anyhow!("--config FILE is required"))?;
    let cfg = kac_proxy::config::ProxyConfig::load(&path)?;
    if let Some(Cmd::Clusters(cmd)) = cli.cmd {
        return kac_proxy::admin::run(&cfg, cmd);
    }
    if let Some(Cmd::Check) = cli.cmd {
        kac_proxy::users::UserDirectory::open(&cfg.users_file)?;
        kac_proxy::clusters::Registry::open(cfg.clusters.clone(), cfg.clusters_file.clone())?;
        if cfg.credentials.signing_key_file.is_some() {
            // A generated key is created at start; a configured one must exist.
            kac_proxy::credentials::Credentials::open(&cfg.credentials, &cfg.data_dir)?;
        }
        kac_policy::PolicySet::load(&cfg.policies).map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("{}: ok", path.display());
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(kac_proxy::run::run(cfg))
}
