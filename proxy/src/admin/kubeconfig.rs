//! `kac-proxy clusters import --kubeconfig FILE`: turn kubeconfig contexts
//! into clusters-file entries.
//!
//! The proxy needs, per cluster, a CA it can pin and credentials it can
//! present itself, at any time, without a human. So a context imports only
//! if its cluster has a CA (file or data) and an https server, and its user
//! has a static token or a client certificate. Exec plugins, auth
//! providers, basic auth, `insecure-skip-tls-verify` and proxies are
//! refused with the context named, never half-imported.
//!
//! [`plan`] is pure (kubeconfig text in, entries and files to write out);
//! the caller writes the files and the clusters file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde::Deserialize;

use crate::clusters::ClusterFileEntry;
use crate::config::{validate_cluster, ClusterConfig};

#[derive(Debug, Deserialize)]
struct Kubeconfig {
    #[serde(default)]
    clusters: Vec<Named<KCluster>>,
    #[serde(default)]
    users: Vec<Named<KUser>>,
    #[serde(default)]
    contexts: Vec<Named<KContext>>,
}

#[derive(Debug, Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    item: Option<T>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct KCluster {
    server: Option<String>,
    certificate_authority: Option<String>,
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
    proxy_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct KUser {
    token: Option<String>,
    token_file: Option<String>,
    client_certificate: Option<String>,
    client_certificate_data: Option<String>,
    client_key: Option<String>,
    client_key_data: Option<String>,
    exec: Option<serde_yaml::Value>,
    auth_provider: Option<serde_yaml::Value>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct KContext {
    cluster: Option<String>,
    user: Option<String>,
}

/// A file the import writes next to the clusters file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Relative to the clusters file's directory.
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// 0600 for secrets (token, client key), 0644 otherwise.
    pub mode: u32,
}

/// What an import would do.
#[derive(Debug, Default)]
pub struct Plan {
    pub entries: Vec<ClusterFileEntry>,
    pub files: Vec<PlannedFile>,
    /// (context, cluster name) pairs, for the report.
    pub imported: Vec<(String, String)>,
}

/// Plan the import of `contexts` (all when empty) from kubeconfig text.
/// `kubeconfig_dir` resolves relative file references in the kubeconfig.
/// All or nothing: every refused context is listed in the error.
pub fn plan(
    text: &str,
    kubeconfig_dir: &Path,
    contexts: &[String],
    tags: &BTreeMap<String, String>,
) -> Result<Plan> {
    let kc: Kubeconfig = serde_yaml::from_str(text).context("parsing the kubeconfig")?;
    let wanted: Vec<&Named<KContext>> = if contexts.is_empty() {
        kc.contexts.iter().collect()
    } else {
        let mut v = Vec::new();
        for c in contexts {
            match kc.contexts.iter().find(|x| &x.name == c) {
                Some(x) => v.push(x),
                None => bail!(
                    "context {c:?} is not in the kubeconfig (it has: {})",
                    kc.contexts
                        .iter()
                        .map(|x| x.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        v
    };
    if wanted.is_empty() {
        bail!("the kubeconfig has no contexts");
    }
    let mut plan = Plan::default();
    let mut errors = Vec::new();
    for ctx in wanted {
        match plan_context(&kc, ctx, kubeconfig_dir, tags) {
            Ok((entry, files)) => {
                if plan.entries.iter().any(|e| e.name == entry.name) {
                    errors.push(format!(
                        "context {:?}: cluster name {:?} is used by another imported context",
                        ctx.name, entry.name
                    ));
                    continue;
                }
                plan.imported.push((ctx.name.clone(), entry.name.clone()));
                plan.entries.push(entry);
                plan.files.extend(files);
            }
            Err(e) => errors.push(format!("context {:?}: {e:#}", ctx.name)),
        }
    }
    if !errors.is_empty() {
        bail!(
            "nothing imported; {} context(s) cannot be imported:\n  {}",
            errors.len(),
            errors.join("\n  ")
        );
    }
    Ok(plan)
}

/// A KAC cluster name from a context name: characters outside
/// `[A-Za-z0-9._-]` (e.g. the `:` and `/` of an EKS ARN) become `-`.
pub fn cluster_name(context: &str) -> String {
    let s: String = context
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.trim_matches('-').to_string()
}

fn plan_context(
    kc: &Kubeconfig,
    ctx: &Named<KContext>,
    dir: &Path,
    tags: &BTreeMap<String, String>,
) -> Result<(ClusterFileEntry, Vec<PlannedFile>)> {
    let c = ctx.item.as_ref().context("the context has no body")?;
    let cname = c
        .cluster
        .as_deref()
        .context("the context names no cluster")?;
    let uname = c.user.as_deref().context("the context names no user")?;
    let cluster = kc
        .clusters
        .iter()
        .find(|x| x.name == cname)
        .and_then(|x| x.item.as_ref())
        .with_context(|| format!("cluster {cname:?} is not in the kubeconfig"))?;
    let user = kc
        .users
        .iter()
        .find(|x| x.name == uname)
        .and_then(|x| x.item.as_ref())
        .with_context(|| format!("user {uname:?} is not in the kubeconfig"))?;

    if user.exec.is_some() {
        bail!("user {uname:?} gets credentials from an exec plugin; kac-proxy needs a static token or client certificate of its own for the cluster (create a service account token for kac-proxy, see docs/registry.md)");
    }
    if user.auth_provider.is_some() {
        bail!("user {uname:?} uses an auth-provider; kac-proxy needs a static token or client certificate");
    }
    if user.username.is_some() || user.password.is_some() {
        bail!("user {uname:?} uses basic auth, which kac-proxy does not support");
    }
    if cluster.insecure_skip_tls_verify {
        bail!("cluster {cname:?} sets insecure-skip-tls-verify; kac-proxy always verifies the API server against a CA");
    }
    if cluster.proxy_url.is_some() {
        bail!("cluster {cname:?} sets proxy-url, which kac-proxy does not support");
    }
    let server = cluster
        .server
        .clone()
        .with_context(|| format!("cluster {cname:?} has no server"))?;

    let name = cluster_name(&ctx.name);
    let base = PathBuf::from("clusters").join(&name);
    let mut files = Vec::new();
    let mut add = |file: &str, bytes: Vec<u8>, mode: u32| {
        let path = base.join(file);
        files.push(PlannedFile {
            path: path.clone(),
            bytes,
            mode,
        });
        Some(path)
    };
    let ca = material(
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
        dir,
        "certificate-authority",
    )?
    .with_context(|| {
        format!("cluster {cname:?} has no certificate-authority(-data); kac-proxy pins a CA per cluster")
    })?;
    let ca_file = add("ca.crt", ca, 0o644);
    let token = match (&user.token, &user.token_file) {
        (Some(t), _) => Some(t.trim().as_bytes().to_vec()),
        (None, Some(f)) => {
            Some(std::fs::read(resolve(dir, f)).with_context(|| format!("reading tokenFile {f}"))?)
        }
        (None, None) => None,
    };
    let token_file = token.and_then(|t| add("token", t, 0o600));
    let cert = material(
        &user.client_certificate_data,
        &user.client_certificate,
        dir,
        "client-certificate",
    )?;
    let key = material(&user.client_key_data, &user.client_key, dir, "client-key")?;
    let (client_cert_file, client_key_file) = match (cert, key) {
        (Some(c), Some(k)) => (add("client.crt", c, 0o644), add("client.key", k, 0o600)),
        (None, None) => (None, None),
        _ => bail!("user {uname:?} has a client certificate without its key, or a key without its certificate"),
    };
    let entry = ClusterFileEntry {
        name,
        server,
        ca_file,
        token_file,
        client_cert_file,
        client_key_file,
        tags: tags.clone(),
        managed_by: None,
    };
    let config: ClusterConfig = entry.clone().into();
    validate_cluster(&config).map_err(|(f, m)| anyhow::anyhow!("{f}: {m}"))?;
    Ok((entry, files))
}

/// Inline base64 data, or a file (relative to the kubeconfig's dir).
fn material(
    data: &Option<String>,
    file: &Option<String>,
    dir: &Path,
    what: &str,
) -> Result<Option<Vec<u8>>> {
    if let Some(d) = data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .with_context(|| format!("{what}-data is not base64"))?;
        return Ok(Some(bytes));
    }
    if let Some(f) = file {
        let p = resolve(dir, f);
        return std::fs::read(&p)
            .map(Some)
            .with_context(|| format!("reading {what} {}", p.display()));
    }
    Ok(None)
}

fn resolve(dir: &Path, f: &str) -> PathBuf {
    let p = PathBuf::from(f);
    if p.is_absolute() {
        p
    } else {
        dir.join(p)
    }
}

#[cfg(test)]
#[path = "kubeconfig_tests.rs"]
mod tests;
