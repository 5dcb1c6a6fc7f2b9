//! # kac-filter: response filtering for the proxy
//!
//! **Owns:** removing the objects a user may not see from Kubernetes list
//! responses (`*List`, `PartialObjectMetadataList`, `meta.k8s.io/v1`
//! `Table`), plain or gzip-encoded, and from watch streams (newline-delimited
//! events, including Table events), *streaming*: memory stays bounded by the
//! largest single item, not the body.
//!
//! **Must not touch:** policy (the caller passes a visibility closure over
//! [`ObjectRef`]; this crate does not depend on kac-policy), I/O, HTTP.
//!
//! **Fail closed:** anything that does not parse as the expected shape is an
//! error ([`FilterError`]); the proxy answers 502 with a `Status` and audits.
//! Nothing is ever passed through unfiltered. A Table without row objects
//! (`includeObject=None`) is [`FilterError::NeedsMetadata`]: the proxy must
//! re-ask upstream with `includeObject=Metadata`; rows are never guessed
//! from cells.

mod gzip;
mod item;
mod list;
mod scan;
mod watch;

pub use gzip::ListStream;
pub use list::ListFilter;
pub use watch::{WatchFilter, WatchStats};

/// The identity of one object in a response, as the visibility check sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectRef<'a> {
    pub api_group: &'a str,
    pub resource: &'a str,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<&'a str>,
    pub name: &'a str,
}

/// How the response body is encoded (its `Content-Encoding`). The output
/// has the same encoding, so the proxy keeps the header (and drops
/// `Content-Length`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Encoding {
    #[default]
    Identity,
    Gzip,
}

/// What the response is a list of: the request's group and resource (from
/// kac-request's attribution), and the body's encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListContext {
    pub api_group: String,
    pub resource: String,
    pub encoding: Encoding,
}

impl ListContext {
    pub fn new(api_group: &str, resource: &str) -> Self {
        ListContext {
            api_group: api_group.to_owned(),
            resource: resource.to_owned(),
            encoding: Encoding::Identity,
        }
    }

    pub fn gzip(mut self) -> Self {
        self.encoding = Encoding::Gzip;
        self
    }
}

/// A filtered whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    pub body: Vec<u8>,
    /// Items (or Table rows) removed.
    pub hidden: usize,
    /// Items (or Table rows) kept.
    pub kept: usize,
}

/// Why a body could not be filtered. Every variant means "do not forward
/// the body": the proxy answers 502 (or, for [`FilterError::NeedsMetadata`],
/// re-asks upstream for row objects).
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// A Table row has no `object` (the request used `includeObject=None`):
    /// rows carry no identity, so re-request with `includeObject=Metadata`.
    #[error(
        "Table rows carry no object (includeObject=None): re-request with includeObject=Metadata"
    )]
    NeedsMetadata,
    /// The body is not JSON of the expected shape.
    #[error("malformed response at byte {offset}: {reason}")]
    Malformed { offset: u64, reason: String },
    /// An item or row without `metadata.name`.
    #[error("item {index} of the response has no metadata.name")]
    MissingIdentity { index: usize },
    /// The body ended before the JSON value did.
    #[error("response body ended early ({context})")]
    Truncated { context: &'static str },
    /// The gzip stream is corrupt.
    #[error("gzip: {0}")]
    Gzip(#[from] std::io::Error),
    /// A watch event of a type KAC does not know.
    #[error("watch event of unknown type {0:?}")]
    UnknownEventType(String),
}

/// Filter a whole list body (any supported shape, any encoding).
pub fn filter_list<F>(body: &[u8], ctx: &ListContext, visible: F) -> Result<Filtered, FilterError>
where
    F: Fn(&ObjectRef<'_>) -> bool,
{
    let mut stream = ListStream::new(ctx.clone(), visible);
    let mut out = stream.feed(body)?;
    let (tail, hidden, kept) = stream.finish()?;
    out.extend_from_slice(&tail);
    Ok(Filtered {
        body: out,
        hidden,
        kept,
    })
}

/// Fuzz entry point for `filter_list`: must never panic; whatever it
/// accepts must parse as JSON and keep only visible items.
pub fn fuzz_list(data: &[u8]) {
    let ctx = ListContext::new("", "pods");
    // Hide every name with an odd length: deterministic and data-dependent.
    let visible = |o: &ObjectRef<'_>| o.name.len() & 1 == 0;
    if let Ok(f) = filter_list(data, &ctx, visible) {
        let v: serde_json::Value =
            serde_json::from_slice(&f.body).expect("filtered body must be JSON");
        let obj = v.as_object().expect("filtered body must be an object");
        for (k, arr) in obj {
            if !(k.eq_ignore_ascii_case("items") || k.eq_ignore_ascii_case("rows")) {
                continue;
            }
            for it in arr.as_array().into_iter().flatten() {
                let it = if k.eq_ignore_ascii_case("rows") {
                    &it["object"]
                } else {
                    it
                };
                let name = it["metadata"]["name"]
                    .as_str()
                    .expect("kept item has a name");
                assert!(name.len() & 1 == 0, "hidden item {name:?} passed");
            }
        }
        assert!(obj
            .get("metadata")
            .and_then(|m| m.get("remainingItemCount"))
            .is_none());
    }
}

/// Fuzz entry point for [`WatchFilter`]: chunked arbitrary input must never
/// panic, and every emitted line must be a JSON event of a visible object
/// (or a synthesized DELETED / BOOKMARK / ERROR).
pub fn fuzz_watch(data: &[u8]) {
    let visible = |o: &ObjectRef<'_>| o.name.len() & 1 == 0;
    let mut w = WatchFilter::new(ListContext::new("", "pods"), visible);
    let mut out = Vec::new();
    let split = data.first().map(|&b| b as usize).unwrap_or(0);
    let data = data.get(1..).unwrap_or_default();
    let (a, b) = data.split_at(split.min(data.len()));
    for chunk in [a, b] {
        match w.feed(chunk) {
            Ok(o) => out.extend_from_slice(&o),
            Err(_) => return,
        }
    }
    if let Ok(o) = w.finish() {
        out.extend_from_slice(&o);
    }
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let ev: serde_json::Value = serde_json::from_slice(line).expect("emitted line is JSON");
        let ty = ev["type"].as_str().expect("event has a type");
        if ty == "BOOKMARK" || ty == "ERROR" {
            continue;
        }
        let obj = &ev["object"];
        let meta = if obj["kind"] == "Table" {
            &obj["rows"][0]["object"]["metadata"]
        } else {
            &obj["metadata"]
        };
        if let Some(name) = meta["name"].as_str() {
            assert!(name.len() & 1 == 0, "hidden {name:?} emitted as {ty}");
        }
    }
}
