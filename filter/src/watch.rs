//! [`WatchFilter`]: filtering of newline-delimited watch events, including
//! Table watch events (`kubectl get -w`), chunk by chunk.
//!
//! Each complete line is one event. Visible ADDED/MODIFIED/DELETED events
//! are emitted unchanged at once; BOOKMARK and ERROR pass through; hidden
//! events are dropped. The filter remembers which objects it has sent: an
//! object that was sent and is now hidden (visibility changed while
//! watched) gets a *synthesized* DELETED carrying only its identity and
//! resourceVersion (never the hidden object's new content), so clients drop
//! their copy. Objects the client knew from a preceding list but that this
//! stream never sent are not tracked by the filter; the caller can name
//! them with [`WatchFilter::known_by_client`] (the proxy: objects visible
//! under a policy set the watch ran under before a reload). See
//! docs/filtering.md.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::json;

use crate::item::{identity, validate, Meta, Row};
use crate::{FilterError, ListContext, ObjectRef};

#[derive(Debug, Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(borrow, default)]
    object: Option<EventObject<'a>>,
}

#[derive(Debug, Deserialize)]
struct EventObject<'a> {
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "apiVersion")]
    api_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    metadata: Option<Meta<'a>>,
    #[serde(borrow, default)]
    rows: Option<Vec<Row<'a>>>,
    #[serde(default, rename = "columnDefinitions")]
    column_definitions: Option<Vec<IgnoredAny>>,
}

/// Counters of one watch stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchStats {
    pub events: u64,
    pub emitted: u64,
    pub hidden: u64,
    pub synthesized_deletes: u64,
}

type KnownFn = Box<dyn Fn(&ObjectRef<'_>) -> bool + Send>;

/// Stateful filter of one watch response body.
pub struct WatchFilter<F> {
    ctx: ListContext,
    visible: F,
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a newline.
    searched: usize,
    sent: HashSet<(Option<String>, String)>,
    /// Objects the client may know without this stream having sent them.
    known: Option<KnownFn>,
    /// Hidden objects already given a synthesized DELETED (not sent since).
    told: HashSet<(Option<String>, String)>,
    /// Column count of the Table stream (from the first event), to shape
    /// synthesized rows.
    columns: usize,
    stats: WatchStats,
}

impl<F> WatchFilter<F>
where
    F: Fn(&ObjectRef<'_>) -> bool,
{
    pub fn new(ctx: ListContext, visible: F) -> Self {
        WatchFilter {
            ctx,
            visible,
            buf: Vec::new(),
            searched: 0,
            sent: HashSet::new(),
            known: None,
            told: HashSet::new(),
            columns: 1,
            stats: WatchStats::default(),
        }
    }

    /// Objects the client may hold although this stream never sent them
    /// (from the list that preceded the watch). When such an object's event
    /// is hidden, the client gets one synthesized DELETED, as for objects
    /// the stream sent. `known` must only name objects the user was allowed
    /// to see, or the DELETED would leak a hidden name.
    pub fn known_by_client(
        mut self,
        known: impl Fn(&ObjectRef<'_>) -> bool + Send + 'static,
    ) -> Self {
        self.known = Some(Box::new(known));
        self
    }

    pub fn stats(&self) -> WatchStats {
        self.stats
    }

    /// Feed a chunk; returns the complete output lines it produced.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<u8>, FilterError> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        let mut from = self.searched;
        while let Some(nl) = self.buf[from..].iter().position(|&b| b == b'\n') {
            let end = from + nl;
            let line = std::mem::take(&mut self.buf);
            let res = self.event(&line[start..end], &mut out);
            self.buf = line;
            res?;
            start = end + 1;
            from = start;
        }
        self.buf.drain(..start);
        self.searched = self.buf.len();
        Ok(out)
    }

    /// End of the stream: a last event without its newline is still
    /// processed (and emitted with one).
    pub fn finish(mut self) -> Result<Vec<u8>, FilterError> {
        let mut out = Vec::new();
        let rest = std::mem::take(&mut self.buf);
        self.event(&rest, &mut out)?;
        Ok(out)
    }

    fn event(&mut self, line: &[u8], out: &mut Vec<u8>) -> Result<(), FilterError> {
        let trimmed = trim(line);
        if trimmed.is_empty() {
            return Ok(());
        }
        self.stats.events += 1;
        let n = self.stats.events;
        let malformed = move |reason: String| FilterError::Malformed {
            offset: 0,
            reason: format!("watch event {n}: {reason}"),
        };
        if trimmed[0] != b'{' {
            return Err(malformed("not a JSON object".to_owned()));
        }
        let ev: Event<'_> =
            serde_json::from_slice(trimmed).map_err(|e| malformed(e.to_string()))?;
        match ev.ty.as_ref() {
            "BOOKMARK" | "ERROR" => {
                self.stats.emitted += 1;
                forward(trimmed, out).map_err(|e| malformed(e.to_string()))?;
                return Ok(());
            }
            "ADDED" | "MODIFIED" | "DELETED" => {}
            other => return Err(FilterError::UnknownEventType(other.to_owned())),
        }
        let object = ev
            .object
            .as_ref()
            .ok_or_else(|| malformed("event without object".to_owned()))?;
        let table = object.kind.as_deref() == Some("Table");
        let meta = if table {
            if let Some(cols) = &object.column_definitions {
                self.columns = cols.len().max(1);
            }
            let rows = object
                .rows
                .as_ref()
                .ok_or_else(|| malformed("Table event without rows".to_owned()))?;
            match rows.as_slice() {
                // No row, no object: nothing to hide.
                [] => {
                    self.stats.emitted += 1;
                    forward(trimmed, out).map_err(|e| malformed(e.to_string()))?;
                    return Ok(());
                }
                [row] => row
                    .object
                    .as_ref()
                    .ok_or(FilterError::NeedsMetadata)?
                    .metadata
                    .as_ref(),
                _ => return Err(malformed("Table event with several rows".to_owned())),
            }
        } else {
            object.metadata.as_ref()
        };
        let (namespace, name) = identity(meta, self.stats.events as usize)?;
        let key = (namespace.map(str::to_owned), name.to_owned());
        let obj = ObjectRef {
            api_group: &self.ctx.api_group,
            resource: &self.ctx.resource,
            namespace,
            name,
        };
        if (self.visible)(&obj) {
            self.told.remove(&key);
            if ev.ty == "DELETED" {
                self.sent.remove(&key);
            } else {
                self.sent.insert(key);
            }
            self.stats.emitted += 1;
            forward(trimmed, out).map_err(|e| malformed(e.to_string()))?;
            return Ok(());
        }
        self.stats.hidden += 1;
        let client_has_it = self.sent.remove(&key)
            || (!self.told.contains(&key) && self.known.as_ref().is_some_and(|k| k(&obj)));
        if client_has_it {
            self.told.insert(key);
            let rv = meta
                .and_then(|m| m.resource_version.as_deref())
                .unwrap_or("");
            let synthesized = if table {
                let table_rv = object
                    .metadata
                    .as_ref()
                    .and_then(|m| m.resource_version.as_deref())
                    .unwrap_or(rv);
                let mut cells = vec![json!(name)];
                cells.resize(self.columns, json!(""));
                json!({"type": "DELETED", "object": {
                    "kind": "Table", "apiVersion": object.api_version.as_deref().unwrap_or("meta.k8s.io/v1"),
                    "metadata": {"resourceVersion": table_rv},
                    "columnDefinitions": null,
                    "rows": [{"cells": cells, "object": {
                        "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                        "metadata": identity_meta(namespace, name, rv)}}]}})
            } else {
                json!({"type": "DELETED", "object": {
                    "kind": object.kind.as_deref().unwrap_or(""),
                    "apiVersion": object.api_version.as_deref().unwrap_or(""),
                    "metadata": identity_meta(namespace, name, rv)}})
            };
            serde_json::to_writer(&mut *out, &synthesized).map_err(|e| malformed(e.to_string()))?;
            out.push(b'\n');
            self.stats.synthesized_deletes += 1;
            self.stats.emitted += 1;
        }
        Ok(())
    }
}

/// Forward a line verbatim, after full validation: serde_json does not
/// check strings inside the fields it skipped while reading the identity.
fn forward(line: &[u8], out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    validate(line)?;
    out.extend_from_slice(line);
    out.push(b'\n');
    Ok(())
}

fn identity_meta(namespace: Option<&str>, name: &str, rv: &str) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(name));
    if let Some(ns) = namespace {
        m.insert("namespace".into(), json!(ns));
    }
    if !rv.is_empty() {
        m.insert("resourceVersion".into(), json!(rv));
    }
    serde_json::Value::Object(m)
}

fn trim(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &line[start..end]
}
