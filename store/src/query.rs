//! The search language of `kac-audit`: `user=david since=1h "rm -rf"`.
//!
//! A parser of untrusted input (it also serves the proxy's audit API later),
//! so it is pure, total, fuzzed and property-tested. It produces a plain
//! [`Query`]; translating that into a tantivy query is the index's job.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

/// An exact-match field of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// `api`, `session.start`, `session.command`, `session.end`.
    Kind,
    /// Event id (API events) or session id (session events).
    Id,
    User,
    Group,
    Cluster,
    Verb,
    ApiGroup,
    Resource,
    Namespace,
    Name,
    Decision,
    Code,
    Session,
}

impl Field {
    pub const ALL: [Field; 13] = [
        Field::Kind,
        Field::Id,
        Field::User,
        Field::Group,
        Field::Cluster,
        Field::Verb,
        Field::ApiGroup,
        Field::Resource,
        Field::Namespace,
        Field::Name,
        Field::Decision,
        Field::Code,
        Field::Session,
    ];

    /// The index field name.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Kind => "kind",
            Field::Id => "id",
            Field::User => "user",
            Field::Group => "group",
            Field::Cluster => "cluster",
            Field::Verb => "verb",
            Field::ApiGroup => "apigroup",
            Field::Resource => "resource",
            Field::Namespace => "namespace",
            Field::Name => "name",
            Field::Decision => "decision",
            Field::Code => "code",
            Field::Session => "session",
        }
    }

    /// The key as typed by users, with its aliases.
    pub fn from_key(key: &str) -> Option<Field> {
        Some(match key {
            "kind" | "type" => Field::Kind,
            "id" => Field::Id,
            "user" => Field::User,
            "group" | "groups" => Field::Group,
            "cluster" => Field::Cluster,
            "verb" => Field::Verb,
            "apigroup" | "api_group" | "api-group" => Field::ApiGroup,
            "resource" => Field::Resource,
            "ns" | "namespace" => Field::Namespace,
            "name" | "pod" => Field::Name,
            "decision" => Field::Decision,
            "code" => Field::Code,
            "session" | "session_id" | "sid" => Field::Session,
            _ => return None,
        })
    }
}

/// A parsed search: every condition must hold (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Query {
    /// Exact matches.
    pub fields: Vec<(Field, String)>,
    /// Cluster tags: `tag:ClusterType=prod`.
    pub tags: Vec<(String, String)>,
    /// Inclusive lower bound on the event time.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive upper bound on the event time.
    pub until: Option<DateTime<Utc>>,
    /// Free-text phrases, matched against typed session commands.
    pub text: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("unterminated quote starting at byte {0}")]
    UnterminatedQuote(usize),
    #[error("unknown search key {0:?} (known: user, group, cluster, tag:K, verb, apigroup, resource, ns, name, decision, code, session, id, kind, since, until)")]
    UnknownKey(String),
    #[error("empty value for {0}")]
    EmptyValue(String),
    #[error("{key}={value}: {reason}")]
    BadValue {
        key: String,
        value: String,
        reason: String,
    },
}

impl Query {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
            && self.tags.is_empty()
            && self.since.is_none()
            && self.until.is_none()
            && self.text.is_empty()
    }

    /// Adds an exact-match condition.
    pub fn with(mut self, f: Field, v: impl Into<String>) -> Self {
        self.fields.push((f, v.into()));
        self
    }

    /// Parses one command line string, shell-like quotes included.
    pub fn parse(input: &str, now: DateTime<Utc>) -> Result<Query, QueryError> {
        let words = split_words(input)?;
        Self::from_words(words.iter().map(|(w, quoted)| (w.as_str(), *quoted)), now)
    }

    /// Parses already split arguments (what a shell hands to the CLI): an
    /// argument with whitespace, or without a `key=`, is free text.
    pub fn from_args<S: AsRef<str>>(args: &[S], now: DateTime<Utc>) -> Result<Query, QueryError> {
        Self::from_words(
            args.iter()
                .map(|a| (a.as_ref(), a.as_ref().contains(char::is_whitespace))),
            now,
        )
    }

    fn from_words<'a>(
        words: impl Iterator<Item = (&'a str, bool)>,
        now: DateTime<Utc>,
    ) -> Result<Query, QueryError> {
        let mut q = Query::default();
        for (word, quoted) in words {
            let kv = if quoted { None } else { word.split_once('=') };
            let Some((key, value)) = kv else {
                if !word.trim().is_empty() {
                    q.text.push(word.to_string());
                }
                continue;
            };
            if value.is_empty() {
                return Err(QueryError::EmptyValue(key.to_string()));
            }
            let bad = |reason: String| QueryError::BadValue {
                key: key.to_string(),
                value: value.to_string(),
                reason,
            };
            if let Some(tag) = key.strip_prefix("tag:") {
                if tag.is_empty() {
                    return Err(QueryError::EmptyValue(key.to_string()));
                }
                q.tags.push((tag.to_string(), value.to_string()));
                continue;
            }
            match key {
                "since" => q.since = Some(parse_time(value, now).map_err(bad)?),
                "until" => q.until = Some(parse_time(value, now).map_err(bad)?),
                _ => {
                    let f =
                        Field::from_key(key).ok_or_else(|| QueryError::UnknownKey(key.into()))?;
                    match f {
                        Field::Code => {
                            value
                                .parse::<u16>()
                                .map_err(|_| bad("not an HTTP status code".into()))?;
                        }
                        Field::Decision if !matches!(value, "allowed" | "denied" | "error") => {
                            return Err(bad("use allowed, denied or error".into()));
                        }
                        _ => {}
                    }
                    q.fields.push((f, value.to_string()));
                }
            }
        }
        Ok(q)
    }
}

/// Splits on whitespace, honouring '…' and "…" (with \" and \\ escapes in
/// double quotes); a quote may start mid-word (`user="a b"`). Returns each
/// word and whether it contained quotes.
pub fn split_words(input: &str) -> Result<Vec<(String, bool)>, QueryError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_word = false;
    let mut chars = input.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' | '\'' => {
                in_word = true;
                quoted = true;
                let mut closed = false;
                while let Some((_, d)) = chars.next() {
                    if d == c {
                        closed = true;
                        break;
                    }
                    if c == '"' && d == '\\' {
                        if let Some(&(_, e)) = chars.peek() {
                            if e == '"' || e == '\\' {
                                cur.push(e);
                                chars.next();
                                continue;
                            }
                        }
                    }
                    cur.push(d);
                }
                if !closed {
                    return Err(QueryError::UnterminatedQuote(i));
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push((std::mem::take(&mut cur), quoted));
                }
                in_word = false;
                quoted = false;
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push((cur, quoted));
    }
    // `user="a b"` is a key=value even though it has quotes.
    for (w, q) in out.iter_mut() {
        if *q {
            if let Some((k, _)) = w.split_once('=') {
                if !k.is_empty() && !k.contains(char::is_whitespace) && is_key(k) {
                    *q = false;
                }
            }
        }
    }
    Ok(out)
}

fn is_key(k: &str) -> bool {
    k.starts_with("tag:") || k == "since" || k == "until" || Field::from_key(k).is_some()
}

/// `90s`, `15m`, `1h`, `7d`, `2w`, or combinations like `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let mut total: i64 = 0;
    let mut num = String::new();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit: i64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(format!("unknown unit {c:?} (use s, m, h, d, w)")),
        };
        let n: i64 = num.parse().map_err(|_| format!("no number before {c:?}"))?;
        num.clear();
        total = n
            .checked_mul(unit)
            .and_then(|x| total.checked_add(x))
            .filter(|t| *t <= 100 * 365 * 86_400)
            .ok_or("duration too large")?;
    }
    if !num.is_empty() {
        return Err("a duration needs a unit (s, m, h, d, w)".into());
    }
    Ok(Duration::seconds(total))
}

/// A duration ago (`1h`), an RFC 3339 time, or a date (`2026-03-01`, UTC).
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let t = d.and_hms_opt(0, 0, 0).ok_or("bad date")?;
        return Ok(t.and_utc());
    }
    let d = parse_duration(s).map_err(|e| format!("not a duration or RFC 3339 time: {e}"))?;
    now.checked_sub_signed(d)
        .ok_or_else(|| "out of range".into())
}

/// Fuzz entry point: parsing never panics, and a parsed query's fields are
/// never empty.
pub fn fuzz_parse_query(input: &str) {
    let now = DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
    if let Ok(q) = Query::parse(input, now) {
        for (_, v) in &q.fields {
            assert!(!v.is_empty());
        }
        for (k, v) in &q.tags {
            assert!(!k.is_empty() && !v.is_empty());
        }
    }
    let args: Vec<&str> = input.split('\u{1f}').collect();
    let _ = Query::from_args(&args, now);
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
