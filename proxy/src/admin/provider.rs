//! Cloud sync: cluster providers and the merge of what they discover into
//! the clusters file (docs/registry.md).
//!
//! A provider only *lists*; [`merge`] is pure and decides what changes.
//! Entries a provider wrote carry `managedBy: ID`; a later sync with the
//! same ID updates them or removes those no longer discovered. Entries
//! without the marker (imported or written by hand) or with another
//! provider's marker are never touched: a discovered cluster with the same
//! name is reported as a conflict and skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use serde::Deserialize;

use super::kubeconfig::{cluster_name, PlannedFile};
use crate::clusters::{ClusterFileEntry, ClustersFile};

/// A cluster as a cloud API describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredCluster {
    /// The provider's cluster name (made a valid KAC name by [`merge`]).
    pub name: String,
    /// API server URL (`https://…`).
    pub server: String,
    /// The CA that signs the API server certificate (PEM).
    pub ca_pem: Vec<u8>,
    /// Cloud tags/labels, which become KAC cluster tags.
    pub tags: BTreeMap<String, String>,
    /// The provider's unique id (ARN, resource id), for reports.
    pub id: String,
}

/// Something that can list the clusters of one account/project/subscription.
///
/// Implementations do I/O and auth; they must return only clusters that are
/// ready to serve (e.g. EKS status `ACTIVE`), and fail as a whole rather
/// than return a partial list (a partial list would remove clusters).
pub trait ClusterProvider {
    /// A stable id for this provider instance, written as `managedBy`
    /// (e.g. `eks:123456789012:eu-west-1`).
    fn id(&self) -> String;
    fn list(&self) -> Result<Vec<DiscoveredCluster>>;
}

/// The fake provider: a local JSON file shaped like a list of EKS
/// `DescribeCluster` results, `{"clusters": [{"name", "arn", "endpoint",
/// "status", "certificateAuthority": {"data": BASE64-PEM}, "tags"}]}`.
pub struct FakeProvider {
    pub source: PathBuf,
    pub id: String,
}

#[derive(Deserialize)]
struct FakeDoc {
    clusters: Vec<EksCluster>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EksCluster {
    name: String,
    #[serde(default)]
    arn: String,
    endpoint: Option<String>,
    #[serde(default)]
    status: String,
    certificate_authority: Option<EksCa>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct EksCa {
    data: String,
}

impl ClusterProvider for FakeProvider {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn list(&self) -> Result<Vec<DiscoveredCluster>> {
        let text = std::fs::read_to_string(&self.source)
            .with_context(|| format!("reading {}", self.source.display()))?;
        let doc: FakeDoc = serde_json::from_str(&text)
            .with_context(|| format!("parsing {}", self.source.display()))?;
        parse_eks(doc)
    }
}

fn parse_eks(doc: FakeDoc) -> Result<Vec<DiscoveredCluster>> {
    let mut out = Vec::new();
    for c in doc.clusters {
        // CREATING, UPDATING, DELETING, FAILED: not (or no longer) usable.
        if c.status != "ACTIVE" {
            continue;
        }
        let ctx = || format!("cluster {:?}", c.name);
        let server = c
            .endpoint
            .clone()
            .with_context(|| format!("{}: no endpoint", ctx()))?;
        let ca = c
            .certificate_authority
            .as_ref()
            .with_context(|| format!("{}: no certificateAuthority", ctx()))?;
        let ca_pem = base64::engine::general_purpose::STANDARD
            .decode(ca.data.trim())
            .with_context(|| format!("{}: certificateAuthority.data is not base64", ctx()))?;
        out.push(DiscoveredCluster {
            name: c.name,
            server,
            ca_pem,
            tags: c.tags,
            id: c.arn,
        });
    }
    Ok(out)
}

/// The proxy's own credentials for every cluster a sync adds (cloud APIs
/// do not hand out long-lived cluster credentials; see docs/registry.md).
#[derive(Debug, Clone, Default)]
pub struct SyncCredentials {
    pub token_file: Option<PathBuf>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

/// What a sync changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
    /// `name: why` for discovered clusters that were skipped.
    pub conflicts: Vec<String>,
}

/// Merge `found` into `file` for provider `id` (pure). Returns the report,
/// the CA files to write and the files of removed entries to delete (paths
/// relative to the clusters file's directory).
pub fn merge(
    file: &mut ClustersFile,
    id: &str,
    found: &[DiscoveredCluster],
    creds: &SyncCredentials,
    extra_tags: &BTreeMap<String, String>,
) -> (SyncReport, Vec<PlannedFile>, Vec<PathBuf>) {
    let mut report = SyncReport::default();
    let mut files = Vec::new();
    let mut seen = BTreeSet::new();
    for d in found {
        let name = cluster_name(&d.name);
        if name.is_empty() || !seen.insert(name.clone()) {
            report.conflicts.push(format!(
                "{}: duplicate or empty name after cleaning",
                d.name
            ));
            continue;
        }
        let ca_path = Path::new("clusters").join(&name).join("ca.crt");
        let mut tags = d.tags.clone();
        tags.extend(extra_tags.clone());
        let entry = ClusterFileEntry {
            name: name.clone(),
            server: d.server.clone(),
            ca_file: Some(ca_path.clone()),
            token_file: creds.token_file.clone(),
            client_cert_file: creds.client_cert_file.clone(),
            client_key_file: creds.client_key_file.clone(),
            tags,
            managed_by: Some(id.to_owned()),
        };
        match file.clusters.iter_mut().find(|e| e.name == name) {
            Some(existing) if existing.managed_by.as_deref() != Some(id) => {
                let owner = existing
                    .managed_by
                    .as_deref()
                    .map_or("added by hand or by import".to_string(), |o| {
                        format!("managed by {o}")
                    });
                report.conflicts.push(format!(
                    "{name}: a cluster of that name exists ({owner}); left alone"
                ));
                continue;
            }
            Some(existing) => {
                if *existing == entry {
                    report.unchanged.push(name.clone());
                } else {
                    *existing = entry;
                    report.updated.push(name.clone());
                }
            }
            None => {
                file.clusters.push(entry);
                report.added.push(name.clone());
            }
        }
        files.push(PlannedFile {
            path: ca_path,
            bytes: d.ca_pem.clone(),
            mode: 0o644,
        });
    }
    let mut stale = Vec::new();
    file.clusters.retain(|e| {
        let gone = e.managed_by.as_deref() == Some(id) && !seen.contains(&e.name);
        if gone {
            report.removed.push(e.name.clone());
            stale.extend(e.ca_file.clone());
        }
        !gone
    });
    (report, files, stale)
}

#[cfg(test)]
#[path = "provider_tests.rs"]
mod tests;
