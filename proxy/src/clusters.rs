//! The cluster registry and the upstream HTTP clients.
//!
//! Each cluster has a name, an API server URL, the CA that signs it, the
//! proxy's own credentials for it, and tags. Clusters come from the proxy
//! config and from an optional clusters file that `kac-proxy clusters
//! import|tag` edit; that file is re-read when it changes, so new tags take
//! effect for new requests without a restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use hyper::header::HeaderValue;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use crate::config::{validate_cluster, ClusterConfig};
use crate::http::Body;

/// A pooled HTTPS client towards one API server.
pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, Body>;

/// A cluster ready to be called.
pub struct Cluster {
    pub name: String,
    pub tags: BTreeMap<String, String>,
    /// `scheme://authority` of the API server.
    pub origin: String,
    /// Path prefix of the API server URL (usually empty).
    pub base_path: String,
    /// The proxy's own `Authorization` header value, if it uses a token.
    pub authorization: Option<HeaderValue>,
    /// Pooled HTTP/1.1 client for every upstream request: ordinary calls,
    /// watches and upgrades (WebSocket, SPDY). HTTP/1.1 rather than one
    /// multiplexed HTTP/2 connection: measured through the latency bench
    /// (BENCHMARKS.md, issue #3), a LIST of 100 pods at 1 client added
    /// 0.24–0.37 ms over HTTP/1.1 against 0.76–1.79 ms over HTTP/2 (window
    /// updates and frame-by-frame relaying), and at 64 clients the
    /// requests spread over connections served on both cores instead of
    /// one connection task; watches can't hang behind the server's
    /// concurrent-stream limit either. An idle pooled connection closes
    /// after 90 s.
    pub client: UpstreamClient,
    /// TLS settings towards this cluster with ALPN http/1.1 (for relays that
    /// open their own connections, e.g. session recording).
    pub tls_http1: Arc<rustls::ClientConfig>,
    config: ClusterConfig,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.name)
            .field("origin", &self.origin)
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    pub fn build(config: &ClusterConfig) -> Result<Cluster> {
        validate_cluster(config).map_err(|(f, m)| anyhow::anyhow!("{f}: {m}"))?;
        let ctx = || format!("cluster {:?}", config.name);
        let ca_pem = match &config.ca_file {
            Some(p) => read(p).with_context(ctx)?,
            None => bail!("cluster {:?}: caFile is required", config.name),
        };
        let client_cert = match (&config.client_cert_file, &config.client_key_file) {
            (Some(c), Some(k)) => Some(kac_pki::CertKey {
                cert_pem: read(c).with_context(ctx)?,
                key_pem: read(k).with_context(ctx)?,
            }),
            _ => None,
        };
        let authorization = match &config.token_file {
            Some(p) => {
                let token = read(p).with_context(ctx)?;
                let v = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                    .with_context(|| format!("{}: token is not a valid header", p.display()))?;
                let mut v = v;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        // hyper-rustls requires a config without ALPN (an HTTP/1-only
        // connector offers none, and the server answers in HTTP/1.1); our
        // own relays offer http/1.1 explicitly. One config, built once.
        let tls_pooled =
            kac_pki::client_config(&ca_pem, client_cert.as_ref(), &[]).with_context(ctx)?;
        let mut tls_http1 = tls_pooled.clone();
        tls_http1.alpn_protocols = vec![b"http/1.1".to_vec()];
        let (origin, base_path) = split_url(&config.server)?;
        Ok(Cluster {
            name: config.name.clone(),
            tags: config.tags.clone(),
            origin,
            base_path,
            authorization,
            client: client(tls_pooled),
            tls_http1: Arc::new(tls_http1),
            config: config.clone(),
        })
    }

    /// The upstream URI for a path (and query) under the cluster prefix.
    pub fn uri(&self, path_and_query: &str) -> Result<hyper::Uri> {
        format!("{}{}{}", self.origin, self.base_path, path_and_query)
            .parse()
            .context("building upstream URI")
    }
}

fn client(tls: rustls::ClientConfig) -> UpstreamClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only();
    let connector = builder.enable_http1().wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        .build(connector)
}

fn read(p: &Path) -> Result<String> {
    std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
}

/// `https://host:port/prefix` → (`https://host:port`, `/prefix`).
fn split_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("https://")
        .with_context(|| format!("{url:?} is not an https:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    Ok((format!("https://{authority}"), path.to_string()))
}

/// The clusters file written by `kac-proxy clusters import|tag`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClustersFile {
    pub clusters: Vec<ClusterFileEntry>,
}

/// A cluster entry in the clusters file (same fields as the config).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterFileEntry {
    pub name: String,
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Set on entries written by `kac-proxy clusters sync` (the provider
    /// id): a later sync of the same provider updates or removes them, and
    /// never touches entries without it (docs/registry.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
}

impl From<ClusterFileEntry> for ClusterConfig {
    fn from(e: ClusterFileEntry) -> Self {
        ClusterConfig {
            name: e.name,
            server: e.server,
            ca_file: e.ca_file,
            token_file: e.token_file,
            client_cert_file: e.client_cert_file,
            client_key_file: e.client_key_file,
            tags: e.tags,
        }
    }
}

type ClusterMap = BTreeMap<String, Arc<Cluster>>;

/// All clusters the proxy fronts, swapped atomically on change.
pub struct Registry {
    inline: Vec<ClusterConfig>,
    file: Option<PathBuf>,
    current: RwLock<(Arc<ClusterMap>, Option<SystemTime>)>,
}

impl Registry {
    pub fn open(inline: Vec<ClusterConfig>, file: Option<PathBuf>) -> Result<Registry> {
        let mtime = file.as_deref().and_then(mtime_of);
        let map = build_map(&inline, file.as_deref(), None)?;
        Ok(Registry {
            inline,
            file,
            current: RwLock::new((Arc::new(map), mtime)),
        })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Cluster>> {
        self.current.read().expect("poisoned").0.get(name).cloned()
    }

    pub fn all(&self) -> Arc<ClusterMap> {
        self.current.read().expect("poisoned").0.clone()
    }

    /// Re-read the clusters file if it changed; a broken file keeps the old
    /// registry in force.
    pub fn poll_changes(&self) -> Option<Result<()>> {
        let file = self.file.as_deref()?;
        let mtime = mtime_of(file);
        let (old, old_mtime) = self.current.read().expect("poisoned").clone();
        if mtime == old_mtime {
            return None;
        }
        Some(build_map(&self.inline, Some(file), Some(&old)).map(|map| {
            *self.current.write().expect("poisoned") = (Arc::new(map), mtime);
        }))
    }
}

fn mtime_of(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Reads the clusters file (paths relative to it).
pub fn read_clusters_file(path: &Path) -> Result<ClustersFile> {
    if !path.exists() {
        return Ok(ClustersFile::default());
    }
    let text = read(path)?;
    serde_yaml::from_str(&text).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(0);
        anyhow::anyhow!("{}:{line}: {e}", path.display())
    })
}

fn build_map(
    inline: &[ClusterConfig],
    file: Option<&Path>,
    old: Option<&ClusterMap>,
) -> Result<ClusterMap> {
    let mut configs: Vec<ClusterConfig> = inline.to_vec();
    if let Some(file) = file {
        let base = file.parent().unwrap_or(Path::new("."));
        for entry in read_clusters_file(file)?.clusters {
            let mut c: ClusterConfig = entry.into();
            c.resolve_paths(base);
            if let Some(existing) = configs.iter_mut().find(|x| x.name == c.name) {
                // The clusters file overrides inline entries (e.g. new tags).
                *existing = c;
            } else {
                configs.push(c);
            }
        }
    }
    let mut map = ClusterMap::new();
    for c in configs {
        // Reuse clients (and their connection pools) when only tags changed.
        let reuse = old
            .and_then(|o| o.get(&c.name))
            .filter(|o| same_connection(&o.config, &c));
        let cluster = match reuse {
            Some(o) => Arc::new(Cluster {
                name: o.name.clone(),
                tags: c.tags.clone(),
                origin: o.origin.clone(),
                base_path: o.base_path.clone(),
                authorization: o.authorization.clone(),
                client: o.client.clone(),
                tls_http1: o.tls_http1.clone(),
                config: c.clone(),
            }),
            None => Arc::new(Cluster::build(&c)?),
        };
        map.insert(c.name.clone(), cluster);
    }
    Ok(map)
}

fn same_connection(a: &ClusterConfig, b: &ClusterConfig) -> bool {
    a.server == b.server
        && a.ca_file == b.ca_file
        && a.token_file == b.token_file
        && a.client_cert_file == b.client_cert_file
        && a.client_key_file == b.client_key_file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_origin_and_base_path() {
        assert_eq!(
            split_url("https://10.0.0.1:6443").unwrap(),
            ("https://10.0.0.1:6443".into(), "".into())
        );
        assert_eq!(
            split_url("https://h/k8s/clusters/x/").unwrap(),
            ("https://h".into(), "/k8s/clusters/x".into())
        );
        assert!(split_url("http://h").is_err());
    }
}
