//! syslog sink: RFC 5424 messages, octet-counting framing (RFC 6587
//! §3.4.1: `LEN SP MSG`), over TCP or TLS (RFC 5425).
//!
//! Plain TCP syslog has no application-level acknowledgment: a batch is
//! "delivered" once written and flushed into the socket. What the receiver
//! had accepted but not yet processed when it died is lost on its side, so
//! the forwarder keeps a replay window of the last `resendWindow` events
//! sent and resends it on every new connection after a failure (see
//! docs/forwarding.md for the exact bound). Before each batch the sink
//! checks whether the receiver closed the connection (a syslog receiver
//! never sends anything, so readable means closed), so a receiver restart
//! is noticed before a batch is written into a dead socket.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::tls::TlsConfig;
use super::{Rendered, Sink, SinkError};
use crate::filter::{Kind, Summary};

/// `sink: {kind: syslog, ...}` in a forwarder's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SyslogConfig {
    /// `host:port` of the receiver (514 is customary for TCP, 6514 for TLS).
    pub address: String,
    /// Use TLS (RFC 5425), verifying the receiver against `tls.caFile`.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Facility name (`local0`..`local7`, `auth`, `authpriv`, `audit`, ...)
    /// or number 0-23. Default `local0`.
    #[serde(default = "default_facility")]
    pub facility: String,
    /// HOSTNAME field; default this machine's host name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// APP-NAME field; default `kac`.
    #[serde(default = "default_app")]
    pub app_name: String,
    /// SD-ID of the structured data element; default `kac@32473` (32473 is
    /// the example enterprise number of RFC 5612; use your own if you have
    /// one).
    #[serde(default = "default_sd_id")]
    pub sd_id: String,
    /// Prefix MSG with the UTF-8 BOM, as RFC 5424 §6.4 asks for UTF-8
    /// messages. Default true; some receivers show the BOM as garbage.
    #[serde(default = "yes")]
    pub bom: bool,
    /// Events kept after being written and resent on a new connection
    /// after a failure; the forwarder's cursor trails them. Default 1000.
    #[serde(default = "default_window")]
    pub resend_window: usize,
    /// Default `10s`.
    #[serde(
        default = "default_connect",
        deserialize_with = "crate::config::duration"
    )]
    pub connect_timeout: Duration,
    /// Time allowed to write one batch; default `30s`.
    #[serde(
        default = "default_write",
        deserialize_with = "crate::config::duration"
    )]
    pub write_timeout: Duration,
}

fn default_facility() -> String {
    "local0".into()
}
fn default_app() -> String {
    "kac".into()
}
fn default_sd_id() -> String {
    "kac@32473".into()
}
fn yes() -> bool {
    true
}
fn default_window() -> usize {
    1000
}
fn default_connect() -> Duration {
    Duration::from_secs(10)
}
fn default_write() -> Duration {
    Duration::from_secs(30)
}

const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("ntp", 12),
    ("audit", 13),
    ("alert", 14),
    ("clock", 15),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// A facility by name or number.
pub fn facility_code(s: &str) -> Result<u8, String> {
    if let Ok(n) = s.parse::<u8>() {
        if n <= 23 {
            return Ok(n);
        }
    }
    FACILITIES
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, c)| *c)
        .ok_or_else(|| {
            format!(
                "facility {s:?}: use a name (local0..local7, auth, authpriv, audit, ...) or 0-23"
            )
        })
}

fn is_header_ascii(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (33..=126).contains(&b))
}

impl SyslogConfig {
    pub fn validate(&self) -> Result<(), String> {
        facility_code(&self.facility)?;
        split_host_port(&self.address)?;
        if !is_header_ascii(&self.app_name) || self.app_name.len() > 48 {
            return Err("appName: 1-48 printable ASCII characters, no spaces".into());
        }
        if let Some(h) = &self.hostname {
            if !is_header_ascii(h) || h.len() > 255 {
                return Err("hostname: 1-255 printable ASCII characters, no spaces".into());
            }
        }
        if !is_header_ascii(&self.sd_id)
            || self.sd_id.len() > 32
            || self.sd_id.contains(['=', ']', '"'])
        {
            return Err("sdId: 1-32 printable ASCII characters except = ] \" and space".into());
        }
        if self.resend_window > 1_000_000 {
            return Err("resendWindow: at most 1000000 events".into());
        }
        Ok(())
    }
}

fn split_host_port(addr: &str) -> Result<(String, u16), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("address {addr:?}: expected host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("address {addr:?}: bad port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 {
        return Err(format!("address {addr:?}: expected host:port"));
    }
    Ok((host.to_string(), port))
}

/// RFC 5424 severities used.
const WARNING: u8 = 4;
const NOTICE: u8 = 5;
const INFO: u8 = 6;

/// Severity from the event: a denied or refused request is a warning, a
/// session starting is a notice, everything else is informational.
pub fn severity(s: &Summary<'_>) -> u8 {
    match (s.kind, s.outcome) {
        (_, Some(kac_event::Outcome::Denied | kac_event::Outcome::Error)) => WARNING,
        (Kind::Session, _) if s.name == "session.start" => NOTICE,
        _ => INFO,
    }
}

/// The fixed part of every message this sink writes.
#[derive(Debug, Clone)]
pub struct Header {
    pub facility: u8,
    pub hostname: String,
    pub app_name: String,
    pub sd_id: String,
    pub bom: bool,
}

/// Appends a PARAM-VALUE escaped per RFC 5424 §6.3.3 (`"`, `\` and `]`
/// get a backslash); the value is UTF-8, control characters are kept.
pub fn escape_param_value(v: &str, out: &mut Vec<u8>) {
    for b in v.bytes() {
        if matches!(b, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// RFC 3339 with microseconds, in UTC (`2026-03-01T10:00:00.123456Z`).
fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Formats one RFC 5424 message (without framing):
/// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [SD] BOM MSG`.
pub fn format_message(h: &Header, r: &Rendered, s: &Summary<'_>, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let pri = u16::from(h.facility) * 8 + u16::from(severity(s));
    let _ = write!(
        out,
        "<{pri}>1 {} {} {} - {} [{}",
        timestamp(r.time),
        h.hostname,
        h.app_name,
        s.name,
        h.sd_id
    );
    let outcome = s.outcome.map(|o| o.as_str());
    let params: [(&str, Option<&str>); 7] = [
        ("id", Some(r.id.as_str())),
        ("user", s.user),
        ("cluster", s.cluster),
        ("namespace", s.namespace),
        ("verb", s.verb),
        ("outcome", outcome),
        ("session", s.session_id),
    ];
    for (k, v) in params {
        if let Some(v) = v {
            out.push(b' ');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"=\"");
            escape_param_value(v, out);
            out.push(b'"');
        }
    }
    out.extend_from_slice(b"] ");
    if h.bom {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    r.value.write_json(out);
}

/// Appends `LEN SP MSG` for each event (RFC 6587 octet counting).
pub fn frame_batch(h: &Header, batch: &[Rendered], meta: &[Summary<'_>], out: &mut Vec<u8>) {
    use std::io::Write as _;
    let mut msg = Vec::with_capacity(1024);
    out.reserve(batch.len() * 900);
    for (r, s) in batch.iter().zip(meta) {
        msg.clear();
        format_message(h, r, s, &mut msg);
        let _ = write!(out, "{} ", msg.len());
        out.extend_from_slice(&msg);
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

/// Sends batches to one syslog receiver over one connection at a time.
pub struct SyslogSink {
    host: String,
    port: u16,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    header: Header,
    connect_timeout: Duration,
    write_timeout: Duration,
    resend_window: usize,
    conn: Option<Box<dyn Stream>>,
    buf: Vec<u8>,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| is_header_ascii(h))
        .unwrap_or_else(|| "-".into())
}

impl SyslogSink {
    /// Checks the config and reads the TLS files now.
    pub fn new(cfg: &SyslogConfig, base_dir: &Path) -> Result<SyslogSink, SinkError> {
        cfg.validate().map_err(SinkError::Permanent)?;
        let (host, port) = split_host_port(&cfg.address).map_err(SinkError::Permanent)?;
        let tls = match &cfg.tls {
            Some(t) => {
                let client = t.client_config(base_dir, &[])?;
                let name = t.server_name.clone().unwrap_or_else(|| host.clone());
                let name = rustls::pki_types::ServerName::try_from(name.clone())
                    .map_err(|e| SinkError::Permanent(format!("tls.serverName {name:?}: {e}")))?;
                Some((tokio_rustls::TlsConnector::from(client), name))
            }
            None => None,
        };
        Ok(SyslogSink {
            host,
            port,
            tls,
            header: Header {
                facility: facility_code(&cfg.facility).map_err(SinkError::Permanent)?,
                hostname: cfg.hostname.clone().unwrap_or_else(hostname),
                app_name: cfg.app_name.clone(),
                sd_id: cfg.sd_id.clone(),
                bom: cfg.bom,
            },
            connect_timeout: cfg.connect_timeout,
            write_timeout: cfg.write_timeout,
            resend_window: cfg.resend_window,
            conn: None,
            buf: Vec::new(),
        })
    }

    pub fn resend_window(&self) -> usize {
        self.resend_window
    }

    async fn connect(&self) -> Result<Box<dyn Stream>, SinkError> {
        let target = format!("{}:{}", self.host, self.port);
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(&target))
            .await
            .map_err(|_| {
                SinkError::Transient(format!("syslog: connecting to {target}: timed out"))
            })?
            .map_err(|e| SinkError::Transient(format!("syslog: connecting to {target}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some((connector, name)) => {
                let tls = tokio::time::timeout(
                    self.connect_timeout,
                    connector.connect(name.clone(), tcp),
                )
                .await
                .map_err(|_| {
                    SinkError::Transient(format!("syslog: TLS handshake with {target}: timed out"))
                })?
                .map_err(|e| tls_error(&target, e))?;
                Ok(Box::new(tls))
            }
        }
    }

    /// Sends a batch; `meta[i]` is the summary of `batch[i]`.
    pub async fn send_with(
        &mut self,
        batch: &[Rendered],
        meta: &[Summary<'_>],
    ) -> Result<(), SinkError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        frame_batch(&self.header, batch, meta, &mut buf);
        let r = self.write(&buf).await;
        self.buf = buf;
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        if let Some(c) = self.conn.as_mut() {
            if peer_closed(c).await {
                tracing::info!(receiver = %self.describe(), "syslog receiver closed the connection");
                self.conn = None;
                return Err(SinkError::Transient(
                    "syslog: the receiver closed the connection".into(),
                ));
            }
        }
        if self.conn.is_none() {
            self.conn = Some(self.connect().await?);
        }
        let c = self.conn.as_mut().expect("connected");
        let w = async {
            c.write_all(bytes).await?;
            c.flush().await
        };
        tokio::time::timeout(self.write_timeout, w)
            .await
            .map_err(|_| SinkError::Transient("syslog: write timed out".into()))?
            .map_err(|e| {
                SinkError::Transient(format!("syslog: writing to {}: {e}", self.describe()))
            })
    }

    /// Closes the connection in order (TLS close_notify, then FIN) and
    /// waits until the receiver closes its side, which it does only after
    /// reading everything sent. Ok means every batch written reached the
    /// receiver's process (not necessarily its disk).
    pub async fn close(&mut self) -> Result<(), SinkError> {
        let Some(mut c) = self.conn.take() else {
            return Ok(());
        };
        let done = async {
            c.shutdown().await?;
            let mut b = [0u8; 512];
            while c.read(&mut b).await? > 0 {}
            Ok::<(), std::io::Error>(())
        };
        match tokio::time::timeout(Duration::from_secs(10), done).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SinkError::Transient(format!("syslog: closing: {e}"))),
            Err(_) => Err(SinkError::Transient(
                "syslog: the receiver did not close the connection within 10s".into(),
            )),
        }
    }
}

fn tls_error(target: &str, e: std::io::Error) -> SinkError {
    let msg = format!("syslog: TLS handshake with {target}: {e}");
    // A certificate the configured CA does not sign will not sign on retry
    // either; it is still retried (slowly), but reported as permanent.
    if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) {
        SinkError::Permanent(msg)
    } else {
        SinkError::Transient(msg)
    }
}

/// True when the receiver closed (or reset) the connection. Polls a read
/// once without waiting: a syslog receiver never sends application data,
/// so EOF or an error is the only thing there is to read.
async fn peer_closed(c: &mut Box<dyn Stream>) -> bool {
    let mut b = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::ZERO, c.read(&mut b)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

impl Sink for SyslogSink {
    /// Without the events' summaries every message is `info` with MSGID
    /// `-`; the forwarder uses [`SyslogSink::send_with`] instead.
    async fn send(&mut self, batch: &[Rendered]) -> Result<(), SinkError> {
        let none = Summary {
            kind: Kind::Api,
            name: "-",
            outcome: None,
            verb: None,
            cluster: None,
            user: None,
            namespace: None,
            session_id: None,
        };
        let meta = vec![none; batch.len()];
        self.send_with(batch, &meta).await
    }

    fn describe(&self) -> String {
        let scheme = if self.tls.is_some() {
            "syslog+tls"
        } else {
            "syslog+tcp"
        };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
#[path = "syslog_tests.rs"]
mod tests;
