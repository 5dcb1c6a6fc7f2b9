//! The proxy's YAML configuration (`kac-proxy --config FILE`).
//!
//! One file holds listen addresses, TLS, the cluster registry, the users
//! file, policy paths and the audit store. Relative paths are resolved
//! against the directory of the config file, so a config directory can be
//! moved as a whole. A bad config is an error that names the file, the line
//! and the field, and the proxy refuses to start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::audit::Backpressure;

pub use kac_config::ConfigError;
use kac_config::{duration as duration_str, find_line};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProxyConfig {
    /// Address of the HTTPS listener, e.g. `127.0.0.1:8443` (port 0 picks one).
    pub listen: String,
    /// Where the proxy keeps its CAs and generated certificates.
    pub data_dir: PathBuf,
    #[serde(default)]
    pub tls: TlsConfig,
    /// The users file (token hashes, password hashes, groups, attributes).
    pub users_file: PathBuf,
    /// Clusters inline; `clustersFile` may hold more (written by
    /// `kac-proxy clusters import|tag`, re-read on change).
    #[serde(default)]
    pub clusters: Vec<ClusterConfig>,
    #[serde(default)]
    pub clusters_file: Option<PathBuf>,
    /// Policy files or directories (every `*.yaml` in them).
    pub policies: Vec<PathBuf>,
    pub audit: AuditConfig,
    #[serde(default)]
    pub sessions: SessionConfig,
    #[serde(default)]
    pub credentials: CredentialConfig,
    /// On SIGTERM/SIGINT: how long in-flight requests may take to finish
    /// (watches and sessions are ended at once) before connections are cut.
    #[serde(default = "default_shutdown_grace", with = "duration_str")]
    pub shutdown_grace: Duration,
    /// SIEM forwarders reading `audit.store` (schema: docs/forwarding.md);
    /// cursors are kept in `DATA_DIR/forward/`.
    #[serde(default)]
    pub forwarders: Vec<kac_forward::ForwarderConfig>,
    /// The config file's directory: forwarders' relative paths resolve here.
    #[serde(skip)]
    pub config_dir: PathBuf,
}

fn default_shutdown_grace() -> Duration {
    Duration::from_secs(10)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsConfig {
    /// Serving certificate; generated from the proxy CA when absent.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Extra DNS names for the generated certificate.
    #[serde(default)]
    pub hostnames: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterConfig {
    pub name: String,
    /// API server URL, e.g. `https://10.0.0.1:6443`.
    pub server: String,
    /// CA bundle that signs the API server's certificate.
    pub ca_file: Option<PathBuf>,
    /// The proxy's own credentials for this cluster: a bearer token...
    pub token_file: Option<PathBuf>,
    /// ...or a client certificate.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuditConfig {
    /// The kac-store directory.
    pub store: Option<PathBuf>,
    /// A JSON-lines file instead of (or before) the store.
    pub json_lines: Option<PathBuf>,
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
    #[serde(default)]
    pub backpressure: Backpressure,
    /// This proxy's segment stream in the store (one writer per stream).
    #[serde(default = "default_writer_id")]
    pub writer_id: String,
    /// Group-commit interval: a crash loses at most this much.
    #[serde(default = "default_fsync", with = "duration_str")]
    pub fsync_interval: Duration,
}

fn default_queue() -> usize {
    16_384
}

fn default_writer_id() -> String {
    "proxy".into()
}

fn default_fsync() -> Duration {
    Duration::from_millis(100)
}

/// What to do with exec/attach/port-forward over plain SPDY/3.1
/// (`KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`, older clients).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SpdyMode {
    /// Refuse with a Status telling the user to use WebSocket (default).
    #[default]
    Refuse,
    /// Decode and record SPDY sessions like WebSocket ones.
    Record,
    /// Let it through unrecorded; the audit event says so.
    PassThroughUnrecorded,
}

/// What to do with exec/attach sessions whose allowing policy says
/// `sessionRecording: optional`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OptionalRecording {
    /// Record them anyway; only the fail-closed rule is relaxed (default).
    #[default]
    Record,
    /// Relay them without recording the payload. Never silently: the
    /// session's start and end are still audited, with byte counts, and the
    /// end says `not recorded (sessionRecording: optional)`.
    Skip,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SessionConfig {
    #[serde(default)]
    pub spdy: SpdyMode,
    #[serde(default)]
    pub optional_recording: OptionalRecording,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialConfig {
    /// Lifetime of access tokens issued by `kac login` (docs/login.md).
    #[serde(default = "default_ttl", with = "duration_str")]
    pub ttl: Duration,
    /// Lifetime of refresh tokens: how long `kac` may renew access tokens
    /// without asking for the password again.
    #[serde(default = "default_refresh_ttl", with = "duration_str")]
    pub refresh_ttl: Duration,
    /// The HMAC key that signs credentials. Replicas behind one load
    /// balancer must share it; when absent, `DATA_DIR/credentials.key` is
    /// generated on first start (0600) and reused.
    #[serde(default)]
    pub signing_key_file: Option<PathBuf>,
}

impl Default for CredentialConfig {
    fn default() -> Self {
        Self {
            ttl: default_ttl(),
            refresh_ttl: default_refresh_ttl(),
            signing_key_file: None,
        }
    }
}

fn default_ttl() -> Duration {
    Duration::from_secs(8 * 3600)
}

fn default_refresh_ttl() -> Duration {
    Duration::from_secs(7 * 86400)
}

impl ProxyConfig {
    /// Read, parse and validate a config file; relative paths become
    /// relative to the file's directory.
    pub fn load(path: &Path) -> Result<ProxyConfig, ConfigError> {
        let text = kac_config::read(path)?;
        let mut cfg = Self::parse(&path.display().to_string(), &text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve_paths(base);
        cfg.config_dir = base.to_path_buf();
        Ok(cfg)
    }

    /// Parse and validate config text (no path resolution).
    pub fn parse(file: &str, text: &str) -> Result<ProxyConfig, ConfigError> {
        let cfg: ProxyConfig =
            serde_yaml::from_str(text).map_err(|e| kac_config::yaml_error(file, text, &e))?;
        cfg.validate(file, text)?;
        Ok(cfg)
    }

    fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        let err = |field: &str, key: &str, message: String| ConfigError {
            file: file.into(),
            line: find_line(text, key),
            field: field.into(),
            message,
        };
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(err(
                "listen",
                "listen",
                format!("{:?} is not an address like 127.0.0.1:8443", self.listen),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in self.clusters.iter().enumerate() {
            let field = |f: &str| format!("clusters[{i}].{f}");
            validate_cluster(c).map_err(|(f, m)| ConfigError {
                file: file.into(),
                line: find_field_line(text, &format!("name: {}", c.name), f),
                field: field(f),
                message: m,
            })?;
            if !seen.insert(c.name.clone()) {
                return Err(err(
                    &field("name"),
                    &c.name,
                    format!("duplicate cluster {:?}", c.name),
                ));
            }
        }
        if self.policies.is_empty() {
            return Err(err(
                "policies",
                "policies",
                "at least one policy file or directory is required".into(),
            ));
        }
        if self.audit.store.is_none() && self.audit.json_lines.is_none() {
            return Err(err(
                "audit",
                "audit",
                "set audit.store (a kac-store directory) or audit.jsonLines".into(),
            ));
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(err("tls", "tls", "certFile and keyFile go together".into()));
        }
        crate::siem::validate(self, file, text)?;
        let creds = &self.credentials;
        for (field, key, d) in [
            ("credentials.ttl", "ttl:", creds.ttl),
            ("credentials.refreshTtl", "refreshTtl:", creds.refresh_ttl),
        ] {
            if d < Duration::from_secs(1) {
                return Err(err(field, key, "must be at least 1s".into()));
            }
        }
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        fix(&mut self.users_file);
        self.policies.iter_mut().for_each(fix);
        if let Some(p) = self.clusters_file.as_mut() {
            fix(p);
        }
        for p in [
            &mut self.tls.cert_file,
            &mut self.tls.key_file,
            &mut self.credentials.signing_key_file,
        ] {
            if let Some(p) = p.as_mut() {
                fix(p);
            }
        }
        for c in &mut self.clusters {
            c.resolve_paths(base);
        }
        for p in [&mut self.audit.store, &mut self.audit.json_lines] {
            if let Some(p) = p.as_mut() {
                fix(p);
            }
        }
    }
}

impl ClusterConfig {
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        for p in [
            &mut self.ca_file,
            &mut self.token_file,
            &mut self.client_cert_file,
            &mut self.client_key_file,
        ] {
            if let Some(p) = p.as_mut() {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
    }
}

/// Checks one cluster entry; returns (field, message) on error.
pub(crate) fn validate_cluster(c: &ClusterConfig) -> Result<(), (&'static str, String)> {
    if c.name.is_empty()
        || !c
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.')
    {
        return Err((
            "name",
            format!(
                "cluster name {:?} must be non-empty letters, digits, '-', '_' or '.'",
                c.name
            ),
        ));
    }
    match c.server.strip_prefix("https://") {
        Some(rest) if !rest.is_empty() => {}
        _ => return Err(("server", format!("{:?} must be an https:// URL", c.server))),
    }
    if c.token_file.is_none() && c.client_cert_file.is_none() {
        return Err((
            "tokenFile",
            "the proxy needs its own credentials for the cluster: tokenFile or clientCertFile/clientKeyFile".into(),
        ));
    }
    if c.client_cert_file.is_some() != c.client_key_file.is_some() {
        return Err((
            "clientKeyFile",
            "clientCertFile and clientKeyFile go together".into(),
        ));
    }
    Ok(())
}

/// Line of `key:` in the block that starts at the line containing `start`
/// (falls back to the start line).
fn find_field_line(text: &str, start: &str, key: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let Some(s) = lines.iter().position(|l| l.contains(start)) else {
        return 0;
    };
    let indent = |l: &str| l.len() - l.trim_start_matches([' ', '-']).len();
    let block_indent = indent(lines[s]);
    for (i, l) in lines.iter().enumerate().skip(s) {
        if i > s && !l.trim().is_empty() && indent(l) < block_indent {
            break;
        }
        if l.trim_start_matches([' ', '-'])
            .starts_with(&format!("{key}:"))
        {
            return i + 1;
        }
    }
    s + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
listen: 127.0.0.1:8443
dataDir: data
usersFile: users.yaml
clusters:
  - name: dev
    server: https://127.0.0.1:6443
    caFile: dev/ca.crt
    tokenFile: dev/proxy.token
    tags: {ClusterType: dev}
policies: [policies]
audit:
  store: store
  fsyncInterval: 50ms
"#;

    #[test]
    fn parses_a_good_config_and_resolves_paths() {
        let mut cfg = ProxyConfig::parse("p.yaml", GOOD).unwrap();
        cfg.resolve_paths(Path::new("/etc/kac"));
        assert_eq!(cfg.clusters[0].tags["ClusterType"], "dev");
        assert_eq!(
            cfg.clusters[0].ca_file.as_deref(),
            Some(Path::new("/etc/kac/dev/ca.crt"))
        );
        assert_eq!(cfg.audit.fsync_interval, Duration::from_millis(50));
        assert_eq!(cfg.audit.backpressure, Backpressure::Wait);
        assert_eq!(cfg.sessions.spdy, SpdyMode::Refuse);
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let bad = GOOD.replace("    caFile:", "    caFiel:");
        let e = ProxyConfig::parse("p.yaml", &bad).unwrap_err();
        assert_eq!(e.file, "p.yaml");
        assert_eq!(e.line, 8, "{e}");
        assert!(e.field.starts_with("clusters[0]"), "{e}");
        assert!(e.message.contains("caFiel"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_field_and_line() {
        let bad = GOOD.replace("https://127.0.0.1:6443", "http://127.0.0.1:6443");
        let e = ProxyConfig::parse("p.yaml", &bad).unwrap_err();
        assert_eq!(e.field, "clusters[0].server");
        assert!(e.message.contains("https://"), "{e}");
        assert_eq!(e.line, 7);

        let bad = GOOD.replace("listen: 127.0.0.1:8443", "listen: nowhere");
        let e = ProxyConfig::parse("p.yaml", &bad).unwrap_err();
        assert_eq!((e.field.as_str(), e.line), ("listen", 2));
    }

    #[test]
    fn the_sample_config_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/proxy.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let cfg = ProxyConfig::parse("samples/proxy.yaml", &text).unwrap();
        assert_eq!(cfg.clusters.len(), 2);
        assert_eq!(cfg.clusters[1].tags["ClusterType"], "prod");
        assert_eq!(cfg.credentials.ttl, Duration::from_secs(8 * 3600));
        assert_eq!(cfg.credentials.refresh_ttl, Duration::from_secs(7 * 86400));
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(
            kac_config::parse_duration("250ms"),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(
            kac_config::parse_duration("2d"),
            Ok(Duration::from_secs(2 * 86400))
        );
        assert!(kac_config::parse_duration("10").is_err());
        assert!(kac_config::parse_duration("10y").is_err());
    }
}
