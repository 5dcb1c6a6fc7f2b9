//! Forwarder configuration: the `kac-audit forward --config FILE` file and
//! the entries of the proxy config's `forwarders:` list (same schema).
//!
//! The file is untrusted input in the sense that a typo must never start a
//! forwarder that silently sends nothing (or everything): unknown fields
//! are errors, every error names `file:line: field`, and the semantic checks
//! (names usable as file names, sane batch sizes, a format the sink can
//! carry) run before anything connects. [`fuzz_config`] is the fuzz entry.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::filter::FilterConfig;
use crate::format::Format;
use crate::sink::hec::HecConfig;
use crate::sink::syslog::SyslogConfig;
use crate::sink::webhook::{WebhookConfig, WebhookSink};

pub use kac_config::{parse_duration, ConfigError};

/// The standalone forwarder file (`kac-audit forward --config FILE`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ForwardFile {
    /// The kac-store directory to read (opened read-only; the proxy may be
    /// writing it). `--store`/`KAC_STORE` override it.
    #[serde(default)]
    pub store: Option<PathBuf>,
    /// Where each forwarder keeps its cursor (`NAME.cursor.json`).
    pub state_dir: PathBuf,
    pub forwarders: Vec<ForwarderConfig>,
}

/// One forwarder: which events, in which format, to which receiver, how
/// fast. Entries of the proxy config's `forwarders:` have this schema too.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ForwarderConfig {
    /// Unique; names the cursor file, the metrics' `forwarder` label and
    /// log lines. Letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// How each event is rendered (default `native`, KAC's own JSON).
    #[serde(default = "default_format")]
    pub format: Format,
    /// Which events are sent; all of them when absent. Events filtered out
    /// still advance the cursor.
    #[serde(default)]
    pub filter: FilterConfig,
    #[serde(default)]
    pub batch: BatchConfig,
    /// Upper bound on events per second sent (0 = unlimited).
    #[serde(default)]
    pub rate_limit: u32,
    #[serde(default)]
    pub retry: RetryConfig,
    pub sink: SinkConfig,
    /// Where to start when there is no cursor yet: `beginning` of the log
    /// (default: every event reaches the SIEM) or `end` (only new events).
    #[serde(default)]
    pub start_at: StartAt,
    /// How often the cursor is saved while events flow (default `1s`; `0s`
    /// saves after every acknowledged batch and waits for the save before
    /// sending on: the tightest crash bound, and much slower). Saving is an fsync'd atomic
    /// replace that costs milliseconds to tens of milliseconds, so it runs
    /// in the background, at most once per interval, never blocking a send;
    /// an orderly stop always saves. The price is the crash duplicate
    /// bound: a kill -9 may resend the events acknowledged during the last
    /// interval (see docs/forwarding.md, Delivery semantics).
    #[serde(default = "default_cursor_interval", deserialize_with = "duration")]
    pub cursor_interval: Duration,
}

fn default_cursor_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_format() -> Format {
    Format::Native
}

/// Where a forwarder without a cursor starts reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StartAt {
    #[default]
    Beginning,
    End,
}

/// A batch is sent when it holds `maxEvents` events or `maxBytes` bytes of
/// event JSON, when `maxWait` has passed since its first event, or as soon
/// as the forwarder has caught up with the log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BatchConfig {
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    #[serde(default = "default_max_bytes", deserialize_with = "bytes_size")]
    pub max_bytes: usize,
    #[serde(default = "default_max_wait", deserialize_with = "duration")]
    pub max_wait: Duration,
}

fn default_max_events() -> usize {
    1000
}
fn default_max_bytes() -> usize {
    1 << 20
}
fn default_max_wait() -> Duration {
    Duration::from_secs(1)
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_events: default_max_events(),
            max_bytes: default_max_bytes(),
            max_wait: default_max_wait(),
        }
    }
}

/// Exponential backoff with full jitter: attempt `n` waits a uniformly
/// random time in `[0, min(maxBackoff, initialBackoff * 2^n)]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RetryConfig {
    #[serde(default = "default_initial", deserialize_with = "duration")]
    pub initial_backoff: Duration,
    #[serde(default = "default_max_backoff", deserialize_with = "duration")]
    pub max_backoff: Duration,
}

fn default_initial() -> Duration {
    Duration::from_millis(100)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff: default_initial(),
            max_backoff: default_max_backoff(),
        }
    }
}

/// The receiver. `kind` selects the sink; the other keys are its settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SinkConfig {
    /// RFC 5424 over TCP (RFC 6587 octet counting), or TLS (RFC 5425).
    Syslog(SyslogConfig),
    /// Splunk HTTP Event Collector.
    SplunkHec(HecConfig),
    /// `audit.k8s.io/v1` `EventList` batches to a Kubernetes audit webhook.
    Webhook(WebhookConfig),
}

impl SinkConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Syslog(_) => "syslog",
            SinkConfig::SplunkHec(_) => "splunkHec",
            SinkConfig::Webhook(_) => "webhook",
        }
    }
}

/// Sizes as `65536`, `64KiB`, `1MiB` (also `k`/`KB`/`M`/`MB`, all powers of 2).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("size {s:?} does not start with a number"))?;
    let mult: usize = match unit.trim() {
        "" | "B" => 1,
        "k" | "K" | "KB" | "KiB" => 1 << 10,
        "M" | "MB" | "MiB" => 1 << 20,
        _ => return Err(format!("size {s:?} has unknown unit {unit:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

pub(crate) use kac_config::duration::deserialize as duration;

fn bytes_size<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        N(usize),
        S(String),
    }
    match NumOrStr::deserialize(d)? {
        NumOrStr::N(n) => Ok(n),
        NumOrStr::S(s) => parse_bytes(&s).map_err(serde::de::Error::custom),
    }
}

impl ForwardFile {
    /// Reads, parses and validates a forwarder file; relative paths (store,
    /// state dir) become relative to the file's directory.
    pub fn load(path: &Path) -> Result<ForwardFile, ConfigError> {
        let text = kac_config::read(path)?;
        let mut f = Self::parse(&path.display().to_string(), &text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in f.store.iter_mut().chain(std::iter::once(&mut f.state_dir)) {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(f)
    }

    /// Parses and validates config text (no path resolution).
    pub fn parse(file: &str, text: &str) -> Result<ForwardFile, ConfigError> {
        let f: ForwardFile = serde_yaml::from_str(text).map_err(|e| yaml_error(file, text, &e))?;
        if f.forwarders.is_empty() {
            return Err(ConfigError {
                file: file.into(),
                line: find_line(text, "forwarders"),
                field: "forwarders".into(),
                message: "at least one forwarder is required".into(),
            });
        }
        validate_all(&f.forwarders, file, text, "forwarders")?;
        Ok(f)
    }
}

/// Checks a list of forwarders (the file's, or the proxy config's
/// `forwarders:`): each one alone, and that names are unique (they name
/// the cursor files).
pub fn validate_all(
    list: &[ForwarderConfig],
    file: &str,
    text: &str,
    path: &str,
) -> Result<(), ConfigError> {
    let mut names = BTreeSet::new();
    for (i, f) in list.iter().enumerate() {
        let at = |field: &str, message: String| ConfigError {
            file: file.into(),
            line: field_line(text, &f.name, field),
            field: format!("{path}[{i}].{field}"),
            message,
        };
        if let Err((field, message)) = f.validate() {
            return Err(at(field, message));
        }
        if !names.insert(f.name.as_str()) {
            return Err(at("name", format!("duplicate forwarder name {:?}", f.name)));
        }
    }
    Ok(())
}

impl ForwarderConfig {
    /// Semantic checks; `Err((field, message))`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let n = &self.name;
        if n.is_empty()
            || n.len() > 64
            || n.starts_with('.')
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err((
                "name",
                format!(
                    "{n:?}: use 1-64 letters, digits, '-', '_' or '.' (it names the cursor file)"
                ),
            ));
        }
        if self.batch.max_events == 0 || self.batch.max_events > 100_000 {
            return Err(("batch", "maxEvents must be between 1 and 100000".into()));
        }
        if self.cursor_interval > Duration::from_secs(3600) {
            return Err((
                "cursorInterval",
                "at most 1h (a crash resends what was acknowledged since the last save)".into(),
            ));
        }
        if self.batch.max_bytes < 1024 {
            return Err(("batch", "maxBytes must be at least 1KiB".into()));
        }
        if self.retry.initial_backoff.is_zero()
            || self.retry.max_backoff < self.retry.initial_backoff
        {
            return Err((
                "retry",
                "initialBackoff must be > 0 and <= maxBackoff".into(),
            ));
        }
        self.filter.validate().map_err(|m| ("filter", m))?;
        match &self.sink {
            SinkConfig::Syslog(s) => s.validate().map_err(|m| ("sink", m))?,
            SinkConfig::SplunkHec(_) => {}
            SinkConfig::Webhook(_) => {
                WebhookSink::check_format(self.format).map_err(|m| ("format", m))?
            }
        }
        Ok(())
    }
}

/// A YAML error in a forwarder file; one inside `sink:` (an internally
/// tagged enum, which serde reports without a location) points at `sink:`.
fn yaml_error(file: &str, text: &str, e: &serde_yaml::Error) -> ConfigError {
    let mut err = kac_config::yaml_error(file, text, e);
    if err.line == 0 {
        err.line = find_line(text, "sink:");
    }
    err
}

/// Line of `key:` inside the forwarder entry named `name` (or the line of
/// the name itself).
fn field_line(text: &str, name: &str, key: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let Some(s) = lines
        .iter()
        .position(|l| l.trim_start_matches([' ', '-']).trim_end() == format!("name: {name}"))
    else {
        return find_line(text, name);
    };
    for (i, l) in lines.iter().enumerate().skip(s + 1) {
        if l.trim_start().starts_with("- name:") {
            break;
        }
        if l.trim_start().starts_with(&format!("{key}:")) {
            return i + 1;
        }
    }
    s + 1
}

use kac_config::find_line;

/// Fuzz entry: parsing arbitrary bytes as a forwarder file never panics,
/// and an accepted file holds only valid, uniquely named forwarders.
pub fn fuzz_config(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    match ForwardFile::parse("fuzz.yaml", text) {
        Ok(f) => {
            let names: BTreeSet<&str> = f.forwarders.iter().map(|x| x.name.as_str()).collect();
            assert_eq!(names.len(), f.forwarders.len(), "duplicate names accepted");
            for x in &f.forwarders {
                assert!(x.validate().is_ok(), "invalid forwarder accepted");
            }
            true
        }
        Err(e) => {
            assert!(!e.message.is_empty());
            false
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
