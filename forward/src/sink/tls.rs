//! TLS settings shared by every sink: the receiver is verified against a
//! configured CA (never the system roots, never "insecure"), and a client
//! certificate is presented when configured.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::SinkError;

/// `tls:` in a forwarder's config. Relative paths resolve against the
/// config file's directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsConfig {
    /// PEM bundle of the CA(s) that sign the receiver's certificate.
    pub ca_file: PathBuf,
    /// Optional client certificate (PEM) presented to the receiver.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// Key for `cert_file` (PEM).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Name to verify in the receiver's certificate; defaults to the host
    /// of the receiver's address.
    #[serde(default)]
    pub server_name: Option<String>,
}

impl TlsConfig {
    /// Builds the rustls client config, reading the files now so that a
    /// bad path or PEM is reported at startup with the file's name.
    pub fn client_config(
        &self,
        base_dir: &Path,
        alpn: &[&[u8]],
    ) -> Result<Arc<rustls::ClientConfig>, SinkError> {
        let read = |p: &Path| {
            let p = base_dir.join(p);
            std::fs::read_to_string(&p)
                .map_err(|e| SinkError::Permanent(format!("reading {}: {e}", p.display())))
        };
        let ca = read(&self.ca_file)?;
        let client = match (&self.cert_file, &self.key_file) {
            (Some(c), Some(k)) => Some(kac_pki::CertKey {
                cert_pem: read(c)?,
                key_pem: read(k)?,
            }),
            (None, None) => None,
            _ => {
                return Err(SinkError::Permanent(
                    "tls: certFile and keyFile must be given together".into(),
                ))
            }
        };
        let cfg = kac_pki::client_config(&ca, client.as_ref(), alpn)
            .map_err(|e| SinkError::Permanent(format!("tls: {e:#}")))?;
        Ok(Arc::new(cfg))
    }
}
