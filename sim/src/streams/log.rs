//! `GET pods/{name}/log`: the pod's log file as plain text, with the
//! kubelet's options (`tailLines`, `timestamps`, `sinceSeconds`, `sinceTime`,
//! `limitBytes`, `previous`, `follow`). Selection is pure; following polls
//! the file for appended lines.

use super::pod::{LogStream, PodRuntime};
use super::query::Query;
use super::{bad_request, channel_body, Body, PodContext};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

/// How often a following reader looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// One log file line: `RFC3339NANO STREAM F TEXT\n`.
pub fn format_entry(ts: DateTime<Utc>, stream: LogStream, text: &[u8]) -> String {
    format!(
        "{} {} F {}\n",
        ts.to_rfc3339_opts(SecondsFormat::Nanos, true),
        stream.as_str(),
        String::from_utf8_lossy(text)
    )
}

/// A parsed log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ts: DateTime<Utc>,
    pub text: String,
}

/// Parses one stored line (without its newline); `None` if malformed.
pub fn parse_entry(line: &str) -> Option<Entry> {
    let mut it = line.splitn(4, ' ');
    let ts = DateTime::parse_from_rfc3339(it.next()?)
        .ok()?
        .with_timezone(&Utc);
    let _stream = it.next()?;
    let _tag = it.next()?;
    Some(Entry {
        ts,
        text: it.next().unwrap_or("").to_string(),
    })
}

/// The log options of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub timestamps: bool,
    pub tail_lines: Option<usize>,
    pub limit_bytes: Option<usize>,
    pub since: Option<DateTime<Utc>>,
}

impl LogOptions {
    /// Reads and validates the query (negative numbers are a 400, as in
    /// the apiserver's validation).
    pub fn from_query(q: &Query, now: DateTime<Utc>) -> Result<Self, String> {
        let nonneg = |k: &str| -> Result<Option<i64>, String> {
            match q.int(k) {
                Ok(Some(v)) if v < 0 => Err(format!(
                    "{k}: Invalid value: {v}: must be greater than or equal to 0"
                )),
                Ok(Some(0)) if k != "tailLines" => {
                    Err(format!("{k}: Invalid value: 0: must be greater than 0"))
                }
                Ok(v) => Ok(v),
                Err(v) => Err(format!("{k}: Invalid value: \"{v}\": must be an integer")),
            }
        };
        let since_seconds = nonneg("sinceSeconds")?;
        let since_time = match q.get("sinceTime") {
            Some(t) if !t.is_empty() => Some(
                DateTime::parse_from_rfc3339(t)
                    .map_err(|_| format!("sinceTime: Invalid value: \"{t}\": must be RFC 3339"))?
                    .with_timezone(&Utc),
            ),
            _ => None,
        };
        if since_seconds.is_some() && since_time.is_some() {
            return Err("at most one of `sinceTime` or `sinceSeconds` may be specified".into());
        }
        Ok(LogOptions {
            follow: q.flag("follow"),
            timestamps: q.flag("timestamps"),
            tail_lines: nonneg("tailLines")?.map(|v| v as usize),
            limit_bytes: nonneg("limitBytes")?.map(|v| v as usize),
            since: since_time.or(since_seconds.map(|s| {
                chrono::Duration::try_seconds(s)
                    .and_then(|d| now.checked_sub_signed(d))
                    .unwrap_or(DateTime::<Utc>::MIN_UTC)
            })),
        })
    }
}

/// Renders one entry for the client.
pub fn render(e: &Entry, timestamps: bool) -> String {
    if timestamps {
        format!(
            "{} {}\n",
            e.ts.to_rfc3339_opts(SecondsFormat::Nanos, true),
            e.text
        )
    } else {
        format!("{}\n", e.text)
    }
}

/// Selects and renders the initial output from the whole file content.
/// Returns the text (already cut to `limit_bytes`).
pub fn select(content: &str, opts: &LogOptions) -> String {
    let entries: Vec<Entry> = content
        .lines()
        .filter_map(parse_entry)
        .filter(|e| opts.since.is_none_or(|s| e.ts >= s))
        .collect();
    let start = match opts.tail_lines {
        Some(n) => entries.len().saturating_sub(n),
        None => 0,
    };
    let mut out: String = entries[start..]
        .iter()
        .map(|e| render(e, opts.timestamps))
        .collect();
    if let Some(limit) = opts.limit_bytes {
        truncate_bytes(&mut out, limit);
    }
    out
}

fn truncate_bytes(s: &mut String, limit: usize) {
    if s.len() > limit {
        let mut cut = limit;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// Serves the log request.
pub async fn handle(req: Request<Incoming>, ctx: PodContext) -> Response<Body> {
    let q = Query::parse(req.uri().query());
    let container = match ctx.resolve_container(q.get("container")) {
        Ok(c) => c,
        Err(msg) => return bad_request(&msg),
    };
    if q.flag("previous") {
        return bad_request(&format!(
            "previous terminated container \"{container}\" in pod \"{}\" not found",
            ctx.pod
        ));
    }
    let opts = match LogOptions::from_query(&q, Utc::now()) {
        Ok(o) => o,
        Err(m) => return bad_request(&m),
    };
    let rt = PodRuntime::get(&ctx);
    let path = rt.log_path();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let _keep = rt;
        let Ok(mut file) = std::fs::File::open(&path) else {
            return;
        };
        let mut content = String::new();
        if file.read_to_string(&mut content).is_err() {
            return;
        }
        // Only complete lines count; a partial last line is read again later.
        let complete = content.rfind('\n').map_or(0, |i| i + 1);
        let mut offset = complete as u64;
        let first = select(&content[..complete], &opts);
        let mut budget = opts.limit_bytes.map(|l| l.saturating_sub(first.len()));
        if !first.is_empty() && tx.send(Bytes::from(first)).await.is_err() {
            return;
        }
        if !opts.follow {
            return;
        }
        loop {
            if budget == Some(0) {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_POLL) => {}
                _ = tx.closed() => return,
            }
            let mut more = String::new();
            if file.seek(SeekFrom::Start(offset)).is_err()
                || file.read_to_string(&mut more).is_err()
            {
                return;
            }
            let Some(end) = more.rfind('\n') else {
                continue;
            };
            offset += (end + 1) as u64;
            let mut text: String = more[..=end]
                .lines()
                .filter_map(parse_entry)
                .map(|e| render(&e, opts.timestamps))
                .collect();
            if let Some(b) = budget.as_mut() {
                truncate_bytes(&mut text, *b);
                *b -= text.len();
            }
            if !text.is_empty() && tx.send(Bytes::from(text)).await.is_err() {
                return;
            }
        }
    });
    let mut resp = Response::new(channel_body(rx));
    resp.headers_mut()
        .insert("content-type", "text/plain".parse().expect("static header"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn sample() -> String {
        [
            format_entry(ts("2026-01-01T00:00:00Z"), LogStream::Stdout, b"one"),
            format_entry(ts("2026-01-01T00:00:10Z"), LogStream::Stderr, b"two words"),
            format_entry(ts("2026-01-01T00:00:20Z"), LogStream::Stdout, b""),
            "garbage line\n".to_string(),
            format_entry(ts("2026-01-01T00:00:30Z"), LogStream::Stdout, b"four"),
        ]
        .concat()
    }

    #[test]
    fn entries_roundtrip() {
        let line = format_entry(ts("2026-01-01T00:00:00.5Z"), LogStream::Stderr, b"a b");
        assert_eq!(line, "2026-01-01T00:00:00.500000000Z stderr F a b\n");
        let e = parse_entry(line.trim_end()).unwrap();
        assert_eq!(e.text, "a b");
        assert_eq!(parse_entry("nope"), None);
    }

    #[test]
    fn select_tail_since_limit_timestamps() {
        let all = select(&sample(), &LogOptions::default());
        assert_eq!(all, "one\ntwo words\n\nfour\n");
        let tail = LogOptions {
            tail_lines: Some(2),
            ..Default::default()
        };
        assert_eq!(select(&sample(), &tail), "\nfour\n");
        let since = LogOptions {
            since: Some(ts("2026-01-01T00:00:10Z")),
            timestamps: true,
            ..Default::default()
        };
        assert_eq!(
            select(&sample(), &since),
            "2026-01-01T00:00:10.000000000Z two words\n2026-01-01T00:00:20.000000000Z \n2026-01-01T00:00:30.000000000Z four\n"
        );
        let limit = LogOptions {
            limit_bytes: Some(6),
            ..Default::default()
        };
        assert_eq!(select(&sample(), &limit), "one\ntw");
    }

    #[test]
    fn options_validation() {
        let now = ts("2026-01-01T01:00:00Z");
        let o = LogOptions::from_query(
            &Query::parse(Some("follow=true&tailLines=3&sinceSeconds=60")),
            now,
        )
        .unwrap();
        assert!(o.follow);
        assert_eq!(o.tail_lines, Some(3));
        assert_eq!(o.since, Some(ts("2026-01-01T00:59:00Z")));
        assert!(LogOptions::from_query(&Query::parse(Some("tailLines=-1")), now).is_err());
        let huge =
            LogOptions::from_query(&Query::parse(Some("sinceSeconds=9223372036854775807")), now)
                .unwrap();
        assert_eq!(huge.since, Some(DateTime::<Utc>::MIN_UTC));
        assert!(LogOptions::from_query(&Query::parse(Some("limitBytes=0")), now).is_err());
        assert!(LogOptions::from_query(
            &Query::parse(Some("sinceSeconds=1&sinceTime=2026-01-01T00:00:00Z")),
            now
        )
        .is_err());
    }
}
