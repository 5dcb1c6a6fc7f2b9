//! Kubernetes audit webhook sink: POSTs `audit.k8s.io/v1` `EventList`
//! batches over HTTPS, the way kube-apiserver's webhook audit backend does,
//! so any consumer of Kubernetes audit webhooks (Falco's k8saudit plugin,
//! SIEM collectors) takes KAC's events without a KAC-specific parser.
//!
//! The items are events rendered in [`Format::K8sAudit`]; a forwarder with
//! a webhook sink must use that format (checked by [`WebhookSink::check_format`]
//! at config time, and again per batch so a wrong item is never posted).
//! Any 2xx acknowledges the batch.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use hyper::header::AUTHORIZATION;
use serde::Deserialize;

use super::http::{self, HttpClient};
use super::tls::TlsConfig;
use super::{Rendered, Sink, SinkError};
use crate::format::Format;

/// `webhook:` in a forwarder's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookConfig {
    /// The receiver, e.g. `https://falco:9765/k8s-audit`.
    pub url: String,
    /// Required for `https://` URLs: the CA that signs the receiver's
    /// certificate and an optional client certificate (the apiserver's
    /// webhook backend authenticates the same way).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Allow an `http://` URL (events in clear text). Off by default.
    #[serde(default)]
    pub allow_plain_http: bool,
    /// Optional file holding a bearer token sent as
    /// `Authorization: Bearer TOKEN` (relative to the config file); re-read
    /// when the file changes.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Time allowed for one batch (e.g. `10s`, the default).
    #[serde(default, deserialize_with = "http::duration::deserialize")]
    pub timeout: Option<Duration>,
}

/// Delivers `EventList` batches to an audit webhook.
pub struct WebhookSink {
    http: HttpClient,
}

impl WebhookSink {
    /// The only format a webhook receiver understands.
    pub const FORMAT: Format = Format::K8sAudit;

    /// Checks the config and reads the token and TLS files now.
    pub fn new(cfg: &WebhookConfig, base_dir: &Path) -> Result<WebhookSink, SinkError> {
        let mut http = HttpClient::new(
            &cfg.url,
            cfg.tls.as_ref(),
            cfg.allow_plain_http,
            cfg.timeout.unwrap_or(http::DEFAULT_TIMEOUT),
            base_dir,
        )?;
        if let Some(f) = &cfg.token_file {
            http =
                http.with_secret_header(AUTHORIZATION, "Bearer", base_dir, f, "webhook.tokenFile")?;
        }
        Ok(WebhookSink { http })
    }

    /// For the forwarder's config check: a webhook needs the `k8s-audit`
    /// format, because its receivers parse `audit.k8s.io/v1` Events only.
    pub fn check_format(format: Format) -> Result<(), String> {
        if format == Self::FORMAT {
            Ok(())
        } else {
            Err(format!(
                "a webhook sink sends audit.k8s.io/v1 EventLists: set `format: k8s-audit` \
                 (got {})",
                serde_json::to_value(format)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ))
        }
    }
}

/// The request body: `{"kind":"EventList","apiVersion":"audit.k8s.io/v1",
/// "metadata":{},"items":[...]}`. Fails if an item is not an audit Event.
pub fn event_list(batch: &[Rendered]) -> Result<Vec<u8>, SinkError> {
    let values: Vec<std::borrow::Cow<'_, serde_json::Value>> =
        batch.iter().map(|r| r.value.to_value()).collect();
    for (r, v) in batch.iter().zip(&values) {
        if v["kind"] != "Event" || v["apiVersion"] != "audit.k8s.io/v1" {
            return Err(SinkError::Permanent(format!(
                "webhook: event {} is not an audit.k8s.io/v1 Event; the forwarder must use \
                 `format: k8s-audit`",
                r.id
            )));
        }
    }
    let items: Vec<&serde_json::Value> = values.iter().map(|v| v.as_ref()).collect();
    let list = serde_json::json!({
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "metadata": {},
        "items": items,
    });
    Ok(serde_json::to_vec(&list).expect("serialize EventList"))
}

impl Sink for WebhookSink {
    async fn send(&mut self, batch: &[Rendered]) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let body = Bytes::from(event_list(batch)?);
        let uri = self.http.uri().clone();
        let answer = self.http.post_json(&uri, body).await?;
        http::classify("webhook", &answer)
    }

    fn describe(&self) -> String {
        format!("webhook+{}", http::redact(self.http.uri()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(value: serde_json::Value) -> Rendered {
        Rendered {
            id: "e1".into(),
            time: chrono::Utc::now(),
            value: value.into(),
        }
    }

    #[test]
    fn only_k8s_audit_is_accepted() {
        assert!(WebhookSink::check_format(Format::K8sAudit).is_ok());
        let e = WebhookSink::check_format(Format::Ecs).unwrap_err();
        assert!(e.contains("k8s-audit") && e.contains("ecs"), "{e}");
        let bad = [rendered(serde_json::json!({"@timestamp": "x"}))];
        assert!(matches!(event_list(&bad), Err(SinkError::Permanent(m)) if m.contains("e1")));
    }

    #[test]
    fn body_is_an_event_list() {
        let ev = serde_json::json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a"});
        let body = event_list(&[rendered(ev.clone()), rendered(ev)]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["kind"], "EventList");
        assert_eq!(v["apiVersion"], "audit.k8s.io/v1");
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        assert_eq!(v["items"][1]["auditID"], "a");
    }
}
