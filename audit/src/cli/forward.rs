//! `kac-audit forward --config FILE`: runs the forwarders of a forwarder
//! file (see docs/forwarding.md) against the store until SIGINT/SIGTERM, or
//! with `--once` until the log is drained. The forwarding itself is
//! kac-forward's; this is process plumbing only.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use kac_forward::{Context, ForwardFile, Forwarder, Mode};

pub fn run(config: &Path, store: Option<PathBuf>, once: bool, out: &mut dyn Write) -> Result<i32> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KAC_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let file = ForwardFile::load(config)?;
    let store_dir = store.or(file.store.clone()).context(
        "no store: set `store:` in the forwarder file, pass --store DIR or set KAC_STORE",
    )?;
    // Fail early, with the store's own words, on a directory that is not one.
    kac_store::Store::open_read_only(&store_dir)
        .with_context(|| format!("opening {}", store_dir.display()))?;
    let ctx = Context {
        store_dir,
        state_dir: file.state_dir.clone(),
        base_dir: config.parent().unwrap_or(Path::new(".")).to_path_buf(),
    };
    let mode = if once { Mode::Once } else { Mode::Follow };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let results = rt.block_on(async {
        let mut fwds = Vec::new();
        for c in file.forwarders {
            fwds.push(Forwarder::new(c, &ctx).map_err(anyhow::Error::msg)?);
        }
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            let _ = stop_tx.send(true);
        });
        let mut running = Vec::new();
        for f in fwds {
            let name = f.name().to_string();
            let m = f.metrics();
            running.push((name, m, tokio::spawn(f.run(stop.clone(), mode))));
        }
        let mut results = Vec::new();
        for (name, m, h) in running {
            let r = h.await.map_err(|e| e.to_string()).and_then(|r| r);
            results.push((name, m, r));
        }
        Ok::<_, anyhow::Error>(results)
    })?;
    let mut failed = Vec::new();
    for (name, m, r) in results {
        use std::sync::atomic::Ordering::Relaxed;
        writeln!(
            out,
            "{name}: sent {} events in {} batches ({} filtered, {} failed attempts, {} resent), lag {}",
            m.sent.load(Relaxed),
            m.batches.load(Relaxed),
            m.filtered.load(Relaxed),
            m.failed.load(Relaxed),
            m.resent.load(Relaxed),
            m.lag()
        )?;
        if let Err(e) = r {
            failed.push(format!("{name}: {e}"));
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("\n"));
    }
    Ok(0)
}
