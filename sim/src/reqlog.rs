//! The request log: one JSON line per request in `DIR/requests.jsonl` plus an
//! in-memory ring served at `GET /debug/requests`. KAC's proxy tests read it to prove
//! the proxy impersonated and never forwarded the end user's token.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// One logged request.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    pub time: String,
    pub method: String,
    pub path: String,
    pub query: String,
    /// Who authenticated (token or client certificate), empty if nobody.
    pub authenticated_user: String,
    /// The effective user after impersonation.
    pub user: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
    pub impersonated: bool,
    pub verb: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub code: u16,
    pub had_authorization: bool,
    /// `Bearer sha256:<12 hex>` for bearer tokens, `<redacted>` for other schemes.
    pub authorization_header: Option<String>,
    /// `x509` when the client presented a certificate.
    pub auth_method: String,
}

/// A fingerprint of an Authorization header that identifies a token without
/// revealing it.
pub fn fingerprint_authorization(value: &str) -> String {
    match value.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let digest = Sha256::digest(token.trim().as_bytes());
            format!("Bearer sha256:{}", &hex::encode(digest)[..12])
        }
        _ => "<redacted>".into(),
    }
}

/// The log sink.
pub struct RequestLog {
    file: Mutex<Option<std::fs::File>>,
    ring: Mutex<VecDeque<RequestRecord>>,
    cap: usize,
}

impl RequestLog {
    pub fn open(dir: &Path, cap: usize) -> anyhow::Result<RequestLog> {
        use anyhow::Context;
        let path = dir.join("requests.jsonl");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(RequestLog {
            file: Mutex::new(Some(file)),
            ring: Mutex::new(VecDeque::new()),
            cap,
        })
    }

    /// A log that only keeps the ring (unit tests).
    pub fn memory(cap: usize) -> RequestLog {
        RequestLog {
            file: Mutex::new(None),
            ring: Mutex::new(VecDeque::new()),
            cap,
        }
    }

    pub fn record(&self, rec: RequestRecord) {
        if let Ok(mut line) = serde_json::to_vec(&rec) {
            line.push(b'\n');
            let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(f) = f.as_mut() {
                if let Err(e) = f.write_all(&line) {
                    tracing::warn!("writing request log: {e}");
                }
            }
        }
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.push_back(rec);
        while ring.len() > self.cap {
            ring.pop_front();
        }
    }

    /// The ring, oldest first.
    pub fn snapshot(&self) -> Vec<RequestRecord> {
        self.ring
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_hide_tokens() {
        let f = fingerprint_authorization("Bearer secret-token");
        assert!(f.starts_with("Bearer sha256:"));
        assert!(!f.contains("secret"));
        assert_eq!(f.len(), "Bearer sha256:".len() + 12);
        assert_eq!(f, fingerprint_authorization("bearer secret-token"));
        assert_eq!(fingerprint_authorization("Basic dXNlcg=="), "<redacted>");
    }

    #[test]
    fn ring_is_bounded_and_file_appended() {
        let dir = tempfile::tempdir().unwrap();
        let log = RequestLog::open(dir.path(), 2).unwrap();
        for i in 0..3 {
            log.record(RequestRecord {
                path: format!("/p{i}"),
                ..Default::default()
            });
        }
        let snap = log.snapshot();
        assert_eq!(snap.len(), 2);
        assert_eq!(snap[0].path, "/p1");
        let text = std::fs::read_to_string(dir.path().join("requests.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 3);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["path"], "/p0");
        assert!(first.get("authenticatedUser").is_some());
    }
}
