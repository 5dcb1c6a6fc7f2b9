//! Splunk HTTP Event Collector sink.
//!
//! A batch is one `POST {url}/services/collector/event` whose body is the
//! events' HEC envelopes concatenated (`{"time":..,"host":..,"source":..,
//! "sourcetype":..,"index":..,"event":<rendered>}`), authenticated with
//! `Authorization: Splunk TOKEN`. Splunk answers `200 {"text":"Success",
//! "code":0}` once the whole batch is accepted; anything else is an error
//! (see [`super::http::classify`]). A 2xx that is not HEC's success answer
//! (a proxy's login page, say) is refused, never counted as delivered.
//!
//! With `indexerAck: true` (the token must have indexer acknowledgment
//! enabled) a batch is only acknowledged once Splunk reports it indexed,
//! polled on `/services/collector/ack`; without it, acknowledged means
//! accepted by HEC's queue. Every request carries an
//! `X-Splunk-Request-Channel` (one random UUID per sink), which Splunk
//! requires when acknowledgment is on and ignores otherwise.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderName, AUTHORIZATION};
use hyper::Uri;
use serde::Deserialize;

use super::http::{self, HttpClient};
use super::tls::TlsConfig;
use super::{Rendered, Sink, SinkError};

/// `hec:` in a forwarder's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HecConfig {
    /// Splunk's HEC address, e.g. `https://splunk:8088`. When the URL has
    /// no path, `/services/collector/event` is appended; a URL with a path
    /// is used as it is (for HEC behind a gateway).
    pub url: String,
    /// File holding the HEC token (relative to the config file). The token
    /// is never written in the config itself, so configs can be shared and
    /// committed; it is read at startup and again whenever the file
    /// changes (token rotation without a restart).
    pub token_file: PathBuf,
    /// Splunk index; the token's default index when absent.
    #[serde(default)]
    pub index: Option<String>,
    /// HEC `source`; default `kac`.
    #[serde(default)]
    pub source: Option<String>,
    /// HEC `sourcetype`; default `kac:audit`. Splunk extracts the JSON
    /// fields of any sourcetype (AUTO_KV_JSON).
    #[serde(default)]
    pub sourcetype: Option<String>,
    /// HEC `host`; default this machine's host name.
    #[serde(default)]
    pub host: Option<String>,
    /// Required for `https://` URLs: the CA that signs Splunk's certificate
    /// and an optional client certificate.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Allow an `http://` URL (token and events in clear text). Off by
    /// default.
    #[serde(default)]
    pub allow_plain_http: bool,
    /// Time allowed for one batch (e.g. `10s`, the default).
    #[serde(default, deserialize_with = "http::duration::deserialize")]
    pub timeout: Option<Duration>,
    /// Wait for Splunk's indexer acknowledgment before acking a batch.
    #[serde(default)]
    pub indexer_ack: bool,
}

/// Delivers batches to Splunk HEC.
pub struct HecSink {
    http: HttpClient,
    event_uri: Uri,
    ack_uri: Option<Uri>,
    timeout: Duration,
    host: String,
    source: String,
    sourcetype: String,
    index: Option<String>,
}

const CHANNEL_HEADER: &str = "x-splunk-request-channel";

impl HecSink {
    /// Checks the config and reads the token and TLS files now, so a
    /// mistake is reported at startup with the file's name.
    pub fn new(cfg: &HecConfig, base_dir: &Path) -> Result<HecSink, SinkError> {
        let timeout = cfg.timeout.unwrap_or(http::DEFAULT_TIMEOUT);
        let event_uri = endpoint(&cfg.url, "/services/collector/event")?;
        let ack_uri = if cfg.indexer_ack {
            Some(endpoint(&cfg.url, "/services/collector/ack")?)
        } else {
            None
        };
        let channel = uuid::Uuid::new_v4().to_string();
        let http = HttpClient::new(
            &cfg.url,
            cfg.tls.as_ref(),
            cfg.allow_plain_http,
            timeout,
            base_dir,
        )?
        .with_secret_header(
            AUTHORIZATION,
            "Splunk",
            base_dir,
            &cfg.token_file,
            "hec.tokenFile",
        )?
        .with_header(HeaderName::from_static(CHANNEL_HEADER), &channel)?;
        Ok(HecSink {
            http,
            event_uri,
            ack_uri,
            timeout,
            host: cfg.host.clone().unwrap_or_else(hostname),
            source: cfg.source.clone().unwrap_or_else(|| "kac".into()),
            sourcetype: cfg.sourcetype.clone().unwrap_or_else(|| "kac:audit".into()),
            index: cfg.index.clone(),
        })
    }

    /// The request body: one HEC envelope per event, concatenated.
    pub fn body(&self, batch: &[Rendered]) -> Vec<u8> {
        let mut out = Vec::with_capacity(batch.len() * 512);
        for r in batch {
            let mut env = serde_json::Map::new();
            env.insert("time".into(), epoch_seconds(r.time));
            env.insert("host".into(), self.host.clone().into());
            env.insert("source".into(), self.source.clone().into());
            env.insert("sourcetype".into(), self.sourcetype.clone().into());
            if let Some(i) = &self.index {
                env.insert("index".into(), i.clone().into());
            }
            env.insert("event".into(), r.value.to_value().into_owned());
            // Serializing a Value into a Vec cannot fail.
            serde_json::to_writer(&mut out, &env).expect("serialize HEC envelope");
            out.push(b'\n');
        }
        out
    }

    async fn wait_for_ack(&self, ack_uri: &Uri, ack_id: u64) -> Result<(), SinkError> {
        let body = Bytes::from(format!("{{\"acks\":[{ack_id}]}}"));
        let deadline = tokio::time::Instant::now() + self.timeout.max(Duration::from_secs(30));
        let mut pause = Duration::from_millis(200);
        loop {
            let a = self.http.post_json(ack_uri, body.clone()).await?;
            http::classify("hec ack", &a)?;
            let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap_or_default();
            if v["acks"][ack_id.to_string()] == serde_json::Value::Bool(true) {
                return Ok(());
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(SinkError::Transient(format!(
                    "hec: batch (ackId {ack_id}) not indexed yet; resending it"
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }
}

impl Sink for HecSink {
    async fn send(&mut self, batch: &[Rendered]) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let answer = self
            .http
            .post_json(&self.event_uri, Bytes::from(self.body(batch)))
            .await?;
        http::classify("hec", &answer)?;
        let ack_id = check_success(&answer.body)?;
        match (&self.ack_uri, ack_id) {
            (Some(uri), Some(id)) => self.wait_for_ack(uri, id).await,
            (Some(_), None) => Err(SinkError::Permanent(
                "hec: indexerAck is set but Splunk returned no ackId; enable indexer \
                 acknowledgment on the token or turn indexerAck off"
                    .into(),
            )),
            (None, _) => Ok(()),
        }
    }

    fn describe(&self) -> String {
        format!("hec+{}", http::redact(&self.event_uri))
    }
}

/// HEC's success answer is `{"text":"Success","code":0}` (plus `ackId`
/// with indexer acknowledgment). Returns the ackId, if any.
fn check_success(body: &[u8]) -> Result<Option<u64>, SinkError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
        SinkError::Permanent(format!(
            "hec: the receiver answered 2xx but not with HEC's JSON: {}",
            http::quote_body(body)
        ))
    })?;
    if v["code"].as_i64() != Some(0) {
        return Err(SinkError::Permanent(format!(
            "hec: the receiver answered 2xx without success code 0: {}",
            http::quote_body(body)
        )));
    }
    Ok(v["ackId"].as_u64())
}

/// `{url}` + `path` when the URL has no path of its own.
fn endpoint(url: &str, path: &str) -> Result<Uri, SinkError> {
    let base = url.trim_end_matches('/');
    let uri: Uri = base
        .parse()
        .map_err(|e| SinkError::Permanent(format!("hec.url {url:?}: {e}")))?;
    let full = match uri.path() {
        "" | "/" => format!("{base}{path}"),
        p if path.ends_with("/ack") => {
            // An explicit event path: the ack endpoint is its sibling.
            base.replacen(p, &p.replace("/event", "/ack"), 1)
        }
        _ => base.to_string(),
    };
    full.parse()
        .map_err(|e| SinkError::Permanent(format!("hec.url {url:?}: {e}")))
}

/// HEC `time`: epoch seconds with a fraction, as a JSON number. An f64
/// keeps about a quarter of a microsecond at today's epoch, and the number
/// is printed in its shortest round-trip form, so microseconds survive.
fn epoch_seconds(t: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    let secs = t.timestamp();
    let text = if secs >= 0 {
        format!("{secs}.{:06}", t.timestamp_subsec_micros())
    } else {
        format!("{}", t.timestamp_micros() as f64 / 1e6)
    };
    serde_json::from_str(&text).unwrap_or_else(|_| secs.into())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kac".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_appends_the_collector_path_only_to_a_bare_url() {
        let e = |u: &str, p: &str| endpoint(u, p).unwrap().to_string();
        assert_eq!(
            e("https://splunk:8088", "/services/collector/event"),
            "https://splunk:8088/services/collector/event"
        );
        assert_eq!(
            e("https://splunk:8088/", "/services/collector/ack"),
            "https://splunk:8088/services/collector/ack"
        );
        assert_eq!(
            e(
                "https://gw/splunk/services/collector/event",
                "/services/collector/event"
            ),
            "https://gw/splunk/services/collector/event"
        );
        assert_eq!(
            e(
                "https://gw/splunk/services/collector/event",
                "/services/collector/ack"
            ),
            "https://gw/splunk/services/collector/ack"
        );
    }

    #[test]
    fn time_is_exact_epoch_seconds_with_micros() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-03-01T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let v = epoch_seconds(t);
        assert_eq!(v.to_string(), "1772359200.123456");
        let t0 = chrono::DateTime::from_timestamp(5, 0).unwrap();
        assert_eq!(epoch_seconds(t0).to_string(), "5.0");
    }

    #[test]
    fn only_hec_success_is_an_ack() {
        assert_eq!(
            check_success(br#"{"text":"Success","code":0}"#).unwrap(),
            None
        );
        assert_eq!(
            check_success(br#"{"text":"Success","code":0,"ackId":7}"#).unwrap(),
            Some(7)
        );
        for body in [
            &b"<html>login</html>"[..],
            br#"{"text":"Server is busy","code":9}"#,
            b"",
        ] {
            assert!(matches!(check_success(body), Err(SinkError::Permanent(_))));
        }
    }
}
