//! `kac-proxy clusters list|import|tag|sync`: the admin side of the
//! cluster registry (docs/registry.md).
//!
//! These commands edit only the config's `clustersFile` (locked, validated,
//! atomically replaced) and the CA/credential files next to it; a running
//! proxy picks the new file up within a second, so tags and new clusters
//! take effect without a restart. The inline `clusters:` of the config are
//! never rewritten: `tag` on such a cluster copies it into the clusters
//! file, whose entries override inline ones of the same name.

pub mod file;
pub mod kubeconfig;
pub mod provider;
pub mod tags;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::clusters::{read_clusters_file, ClusterFileEntry};
use crate::config::{ClusterConfig, ProxyConfig};
use file::{write_atomic, Locked};
use provider::{ClusterProvider, FakeProvider, SyncCredentials};

#[derive(clap::Subcommand, Debug)]
pub enum ClustersCmd {
    /// List the clusters of the config and the clusters file, with tags.
    List {
        /// `table` or `json`.
        #[arg(short, long, default_value = "table")]
        output: String,
    },
    /// Register clusters from a kubeconfig (every context, or --context).
    Import {
        #[arg(long)]
        kubeconfig: PathBuf,
        /// A context to import (repeatable); default: all.
        #[arg(long = "context")]
        contexts: Vec<String>,
        /// KEY=VALUE tag for every imported cluster (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Show what would be imported, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Set (KEY=VALUE) or remove (KEY-) tags of a cluster.
    Tag {
        name: String,
        #[arg(required = true)]
        edits: Vec<String>,
    },
    /// Merge the clusters a cloud provider lists into the clusters file.
    Sync {
        /// Only `fake` is implemented (see docs/registry.md for EKS/GKE/AKS).
        #[arg(long)]
        provider: String,
        /// The fake provider's JSON file (EKS DescribeCluster shapes).
        #[arg(long)]
        source: PathBuf,
        /// The `managedBy` marker; default: `PROVIDER:SOURCE-FILE-NAME`.
        #[arg(long)]
        provider_id: Option<String>,
        /// The proxy's bearer token file for the discovered clusters.
        #[arg(long)]
        token_file: Option<PathBuf>,
        #[arg(long)]
        client_cert_file: Option<PathBuf>,
        #[arg(long)]
        client_key_file: Option<PathBuf>,
        /// KEY=VALUE tag added to every discovered cluster (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[arg(long)]
        dry_run: bool,
    },
}

/// Run one `clusters` subcommand against the loaded config.
pub fn run(cfg: &ProxyConfig, cmd: ClustersCmd) -> Result<()> {
    match cmd {
        ClustersCmd::List { output } => list(cfg, &output),
        ClustersCmd::Import {
            kubeconfig,
            contexts,
            tags,
            dry_run,
        } => import(cfg, &kubeconfig, &contexts, &parse_tags(&tags)?, dry_run),
        ClustersCmd::Tag { name, edits } => tag(cfg, &name, &edits),
        ClustersCmd::Sync {
            provider,
            source,
            provider_id,
            token_file,
            client_cert_file,
            client_key_file,
            tags,
            dry_run,
        } => {
            if provider != "fake" {
                bail!("provider {provider:?} is not implemented; only `fake` is (EKS, GKE and AKS are designed in docs/registry.md)");
            }
            let id = provider_id.unwrap_or_else(|| {
                format!(
                    "fake:{}",
                    source.file_name().unwrap_or_default().to_string_lossy()
                )
            });
            let p = FakeProvider { source, id };
            let creds = SyncCredentials {
                token_file: token_file.map(absolute),
                client_cert_file: client_cert_file.map(absolute),
                client_key_file: client_key_file.map(absolute),
            };
            sync(cfg, &p, &creds, &parse_tags(&tags)?, dry_run)
        }
    }
}

fn parse_tags(tags: &[String]) -> Result<BTreeMap<String, String>> {
    tags.iter().map(|t| tags::parse_tag(t)).collect()
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

fn clusters_file(cfg: &ProxyConfig) -> Result<&Path> {
    cfg.clusters_file.as_deref().context(
        "the config sets no clustersFile; add e.g. `clustersFile: clusters.yaml` (re-read by the running proxy)",
    )
}

/// One row of `clusters list`.
#[derive(Debug, serde::Serialize)]
struct Row {
    name: String,
    server: String,
    source: String,
    tags: BTreeMap<String, String>,
}

fn rows(cfg: &ProxyConfig) -> Result<Vec<Row>> {
    let mut rows: Vec<Row> = cfg
        .clusters
        .iter()
        .map(|c| Row {
            name: c.name.clone(),
            server: c.server.clone(),
            source: "config".into(),
            tags: c.tags.clone(),
        })
        .collect();
    if let Some(path) = &cfg.clusters_file {
        for e in read_clusters_file(path)?.clusters {
            let source = match &e.managed_by {
                Some(id) => format!("sync {id}"),
                None => "clustersFile".into(),
            };
            let row = Row {
                name: e.name.clone(),
                server: e.server,
                source,
                tags: e.tags,
            };
            match rows.iter_mut().find(|r| r.name == e.name) {
                Some(r) => {
                    *r = Row {
                        source: format!("{} (overrides config)", row.source),
                        ..row
                    }
                }
                None => rows.push(row),
            }
        }
    }
    Ok(rows)
}

fn list(cfg: &ProxyConfig, output: &str) -> Result<()> {
    let rows = rows(cfg)?;
    match output {
        "json" => println!("{}", serde_json::to_string_pretty(&rows)?),
        "table" => {
            let w = |f: &dyn Fn(&Row) -> usize, min: usize| {
                rows.iter().map(f).max().unwrap_or(0).max(min)
            };
            let (wn, ws, wo) = (
                w(&|r| r.name.len(), 4),
                w(&|r| r.server.len(), 6),
                w(&|r| r.source.len(), 6),
            );
            println!("{:wn$}  {:ws$}  {:wo$}  TAGS", "NAME", "SERVER", "SOURCE");
            for r in &rows {
                println!(
                    "{:wn$}  {:ws$}  {:wo$}  {}",
                    r.name,
                    r.server,
                    r.source,
                    tags::render(&r.tags)
                );
            }
        }
        other => bail!("unknown output {other:?}: table or json"),
    }
    Ok(())
}

/// Write planned files (relative to the clusters file's dir).
fn write_planned(base: &Path, files: &[kubeconfig::PlannedFile]) -> Result<()> {
    for f in files {
        write_atomic(&base.join(&f.path), &f.bytes, f.mode)?;
    }
    Ok(())
}

fn import(
    cfg: &ProxyConfig,
    kubeconfig_path: &Path,
    contexts: &[String],
    tags: &BTreeMap<String, String>,
    dry_run: bool,
) -> Result<()> {
    let text = std::fs::read_to_string(kubeconfig_path)
        .with_context(|| format!("reading {}", kubeconfig_path.display()))?;
    let dir = kubeconfig_path.parent().unwrap_or(Path::new("."));
    let plan = kubeconfig::plan(&text, dir, contexts, tags)
        .with_context(|| format!("importing {}", kubeconfig_path.display()))?;
    let mut locked = Locked::open(clusters_file(cfg)?)?;
    for e in &plan.entries {
        if let Some(owner) = locked
            .file
            .clusters
            .iter()
            .find(|x| x.name == e.name)
            .and_then(|x| x.managed_by.clone())
        {
            bail!("cluster {:?} is managed by the provider sync {owner:?}; import it under another context name", e.name);
        }
    }
    for (ctx, name) in &plan.imported {
        let verb = if locked.file.clusters.iter().any(|x| &x.name == name) {
            "update"
        } else {
            "add"
        };
        println!("{verb} cluster {name} (context {ctx})");
    }
    if dry_run {
        println!("dry run: nothing written");
        return Ok(());
    }
    write_planned(locked.base(), &plan.files)?;
    for e in plan.entries {
        match locked.file.clusters.iter_mut().find(|x| x.name == e.name) {
            Some(x) => *x = e,
            None => locked.file.clusters.push(e),
        }
    }
    locked.save_checked(&cfg.clusters)?;
    println!(
        "{} cluster(s) registered in {}",
        plan.imported.len(),
        locked.path.display()
    );
    Ok(())
}

fn tag(cfg: &ProxyConfig, name: &str, edits: &[String]) -> Result<()> {
    let edits: Vec<tags::TagEdit> = edits
        .iter()
        .map(|e| tags::parse_tag_edit(e))
        .collect::<Result<_>>()?;
    let mut locked = Locked::open(clusters_file(cfg)?)?;
    if !locked.file.clusters.iter().any(|e| e.name == name) {
        // An inline cluster: copy it (absolute paths) into the file.
        let inline: &ClusterConfig =
            cfg.clusters
                .iter()
                .find(|c| c.name == name)
                .with_context(|| {
                    let names: Vec<String> = rows(cfg)
                        .map(|r| r.into_iter().map(|r| r.name).collect())
                        .unwrap_or_default();
                    format!("no cluster {name:?} (clusters: {})", names.join(", "))
                })?;
        locked.file.clusters.push(ClusterFileEntry {
            name: inline.name.clone(),
            server: inline.server.clone(),
            ca_file: inline.ca_file.clone(),
            token_file: inline.token_file.clone(),
            client_cert_file: inline.client_cert_file.clone(),
            client_key_file: inline.client_key_file.clone(),
            tags: inline.tags.clone(),
            managed_by: None,
        });
    }
    let entry = locked
        .file
        .clusters
        .iter_mut()
        .find(|e| e.name == name)
        .expect("present");
    tags::apply(&mut entry.tags, &edits)?;
    if let Some(owner) = &entry.managed_by {
        eprintln!("note: {name} is managed by the provider sync {owner:?}; its next sync resets tags to the provider's (tag in the cloud, or pass --tag to sync)");
    }
    let shown = tags::render(&entry.tags);
    locked.save_checked(&cfg.clusters)?;
    println!("cluster {name} tags: {shown}");
    Ok(())
}

fn sync(
    cfg: &ProxyConfig,
    p: &dyn ClusterProvider,
    creds: &SyncCredentials,
    extra_tags: &BTreeMap<String, String>,
    dry_run: bool,
) -> Result<()> {
    if creds.token_file.is_none() && creds.client_cert_file.is_none() {
        bail!("sync needs the proxy's own credentials for the discovered clusters: --token-file or --client-cert-file/--client-key-file");
    }
    let found = p
        .list()
        .with_context(|| format!("listing clusters of {}", p.id()))?;
    let mut locked = Locked::open(clusters_file(cfg)?)?;
    let (report, files, stale) =
        provider::merge(&mut locked.file, &p.id(), &found, creds, extra_tags);
    for (what, names) in [
        ("added", &report.added),
        ("updated", &report.updated),
        ("unchanged", &report.unchanged),
        ("removed", &report.removed),
    ] {
        for n in names {
            println!("{what} {n}");
        }
    }
    for c in &report.conflicts {
        eprintln!("skipped {c}");
    }
    if dry_run {
        println!("dry run: nothing written");
        return Ok(());
    }
    write_planned(locked.base(), &files)?;
    locked.save_checked(&cfg.clusters)?;
    for f in stale {
        let _ = std::fs::remove_file(locked.base().join(f));
    }
    Ok(())
}
