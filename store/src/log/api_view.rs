//! Reading a binary API record (see [`super::api_record`] for the format):
//! [`ApiView`] borrows every field from the record, and [`decode_api`]
//! turns the view into an owned [`ApiEvent`].
//!
//! Why a borrowing view: the indexer reads every API record of every block
//! and needs a dozen short strings from each. Building an `ApiEvent` for
//! that meant ~20 allocations per event, all freed again at once; the view
//! allocates nothing. There is one parser, so the view and the owned
//! decode accept exactly the same records.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kac_event::{ApiEvent, DecisionRecord, Impersonation, Outcome, UserInfo};

use super::api_record::{canonical_uuid, ID_STR, ID_UUID, TAG_API};

/// Bounds-checked reader over a record.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let s = self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
            .ok_or_else(|| format!("{what}: {n} bytes past the record's end"))?;
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }
    #[inline]
    fn var(&mut self, what: &str) -> Result<u64, String> {
        // Most varints (every short string's length) are one byte.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.var_long(what)
    }
    #[cold]
    fn var_long(&mut self, what: &str) -> Result<u64, String> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.u8(what)?;
            let bits = u64::from(b & 0x7f);
            // The tenth byte holds bit 63 only; anything more overflows.
            if i == 9 && b > 1 {
                return Err(format!("{what}: varint overflows 64 bits"));
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                // A shortest encoding only: a padded varint would decode to
                // the same value but not re-encode to the same bytes.
                if b == 0 && i > 0 {
                    return Err(format!("{what}: varint not in shortest form"));
                }
                return Ok(v);
            }
        }
        Err(format!("{what}: varint longer than 10 bytes"))
    }
    fn len(&mut self, what: &str) -> Result<usize, String> {
        let n = self.var(what)?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.buf.len() - self.pos)
            .ok_or_else(|| format!("{what}: length {n} past the record's end"))
    }
    fn utf8(&mut self, n: usize, what: &str) -> Result<&'a str, String> {
        let b = self.take(n, what)?;
        std::str::from_utf8(b).map_err(|_| format!("{what}: not UTF-8"))
    }
    fn str(&mut self, what: &str) -> Result<&'a str, String> {
        let n = self.len(what)?;
        self.utf8(n, what)
    }
    fn opt(&mut self, what: &str) -> Result<Option<&'a str>, String> {
        match self.var(what)? {
            0 => Ok(None),
            n => {
                let n = usize::try_from(n - 1)
                    .ok()
                    .filter(|n| *n <= self.buf.len() - self.pos)
                    .ok_or_else(|| format!("{what}: length past the record's end"))?;
                self.utf8(n, what).map(Some)
            }
        }
    }
    fn strs(&mut self, what: &str) -> Result<StrList<'a>, String> {
        let n = self.len(what)?;
        let start = self.pos;
        for _ in 0..n {
            self.str(what)?;
        }
        Ok(StrList {
            n,
            bytes: &self.buf[start..self.pos],
        })
    }
    fn map(&mut self, what: &str) -> Result<StrMap<'a>, String> {
        let n = self.len(what)?;
        let start = self.pos;
        let mut last: Option<&str> = None;
        for _ in 0..n {
            let k = self.str(what)?;
            if last.is_some_and(|l| l >= k) {
                return Err(format!("{what}: keys not strictly increasing"));
            }
            self.str(what)?;
            last = Some(k);
        }
        Ok(StrMap {
            n,
            bytes: &self.buf[start..self.pos],
        })
    }
    fn bool(&mut self, what: &str) -> Result<bool, String> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(format!("{what}: {b} is not a boolean")),
        }
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        Ok(self.take(N, what)?.try_into().expect("N bytes"))
    }
}

/// The strings of a `strs` field, checked when the record was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrList<'a> {
    n: usize,
    bytes: &'a [u8],
}

impl<'a> StrList<'a> {
    pub fn len(&self) -> usize {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut r = Reader {
            buf: self.bytes,
            pos: 0,
        };
        (0..self.n).map(move |_| r.str("").expect("checked when the record was parsed"))
    }
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }
}

/// The entries of a `map` field, in key order, checked when the record was
/// parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrMap<'a> {
    n: usize,
    bytes: &'a [u8],
}

impl<'a> StrMap<'a> {
    pub fn len(&self) -> usize {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// The encoded entries: equal bytes are equal maps (the encoding is
    /// canonical), so this is a cheap cache key.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let mut r = Reader {
            buf: self.bytes,
            pos: 0,
        };
        (0..self.n).map(move |_| {
            let k = r.str("").expect("checked when the record was parsed");
            let v = r.str("").expect("checked when the record was parsed");
            (k, v)
        })
    }
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// An event id as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdRef<'a> {
    /// A canonical (lowercase, hyphenated) UUID, as its 16 bytes.
    Uuid([u8; 16]),
    /// Any other id.
    Str(&'a str),
}

impl IdRef<'_> {
    /// Calls `f` with the id as text; a UUID is formatted on the stack.
    pub fn with_str<T>(&self, f: impl FnOnce(&str) -> T) -> T {
        match self {
            IdRef::Uuid(b) => {
                let mut buf = [0u8; 36];
                f(uuid::Uuid::from_bytes(*b)
                    .hyphenated()
                    .encode_lower(&mut buf))
            }
            IdRef::Str(s) => f(s),
        }
    }
}

/// A binary API record, every field borrowed from it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiView<'a> {
    pub user: &'a str,
    pub groups: StrList<'a>,
    pub attributes: StrMap<'a>,
    pub auth_method: &'a str,
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    pub cluster: &'a str,
    pub cluster_tags: StrMap<'a>,
    pub method: &'a str,
    pub verb: &'a str,
    pub api_group: &'a str,
    pub api_version: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub namespace: &'a str,
    pub non_resource: bool,
    pub outcome: Outcome,
    pub policy: Option<&'a str>,
    pub rule: Option<&'a str>,
    pub reason: &'a str,
    /// The impersonated user and groups, if any.
    pub impersonated: Option<(&'a str, StrList<'a>)>,
    pub code: u16,
    pub session_id: Option<&'a str>,
    pub filtered_items: u64,
    pub error: Option<&'a str>,
    pub name: &'a str,
    pub request_uri: &'a str,
    pub time: DateTime<Utc>,
    pub id: IdRef<'a>,
    pub duration_us: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl<'a> ApiView<'a> {
    /// Parses a binary API record (starting with [`TAG_API`]); checks every
    /// length, and refuses trailing bytes and non-canonical encodings, so a
    /// record that parses re-encodes to the same bytes.
    pub fn parse(rec: &'a [u8]) -> Result<Self, String> {
        let mut r = Reader { buf: rec, pos: 0 };
        if r.u8("tag")? != TAG_API {
            return Err("not an API record".into());
        }
        let user = r.str("user")?;
        let groups = r.strs("groups")?;
        let attributes = r.map("attributes")?;
        let auth_method = r.str("authMethod")?;
        let source_ip = r.str("sourceIP")?;
        let user_agent = r.str("userAgent")?;
        let cluster = r.str("cluster")?;
        let cluster_tags = r.map("clusterTags")?;
        let method = r.str("method")?;
        let verb = r.str("verb")?;
        let api_group = r.str("apiGroup")?;
        let api_version = r.str("apiVersion")?;
        let resource = r.str("resource")?;
        let subresource = r.str("subresource")?;
        let namespace = r.str("namespace")?;
        let non_resource = r.bool("nonResource")?;
        let outcome = match r.u8("outcome")? {
            0 => Outcome::Allowed,
            1 => Outcome::Denied,
            2 => Outcome::Error,
            b => return Err(format!("outcome: unknown code {b}")),
        };
        let policy = r.opt("policy")?;
        let rule = r.opt("rule")?;
        let reason = r.str("reason")?;
        let impersonated = match r.bool("impersonated")? {
            false => None,
            true => Some((r.str("impersonated user")?, r.strs("impersonated groups")?)),
        };
        let code = u16::from_le_bytes(r.array("code")?);
        let session_id = r.opt("sessionID")?;
        let filtered_items = r.var("filteredItems")?;
        let error = r.opt("error")?;
        let name = r.str("name")?;
        let request_uri = r.str("requestURI")?;
        let secs = i64::from_le_bytes(r.array("time")?);
        let nanos = u32::from_le_bytes(r.array("time")?);
        let time = DateTime::from_timestamp(secs, nanos)
            .ok_or_else(|| format!("time {secs}.{nanos:09} out of range"))?;
        let id = match r.u8("id")? {
            ID_UUID => IdRef::Uuid(r.array("id")?),
            ID_STR => {
                let s = r.str("id")?;
                if canonical_uuid(s).is_some() {
                    return Err("id: a canonical UUID stored as a string".into());
                }
                IdRef::Str(s)
            }
            b => return Err(format!("id: unknown form {b}")),
        };
        let view = ApiView {
            user,
            groups,
            attributes,
            auth_method,
            source_ip,
            user_agent,
            cluster,
            cluster_tags,
            method,
            verb,
            api_group,
            api_version,
            resource,
            subresource,
            namespace,
            non_resource,
            outcome,
            policy,
            rule,
            reason,
            impersonated,
            code,
            session_id,
            filtered_items,
            error,
            name,
            request_uri,
            time,
            id,
            duration_us: r.var("durationUs")?,
            bytes_in: r.var("bytesIn")?,
            bytes_out: r.var("bytesOut")?,
        };
        if r.pos != rec.len() {
            return Err(format!(
                "{} trailing bytes after the API record",
                rec.len() - r.pos
            ));
        }
        Ok(view)
    }

    /// The owned event.
    pub fn to_event(&self) -> ApiEvent {
        let s = |v: &str| v.to_string();
        let o = |v: Option<&str>| v.map(str::to_string);
        ApiEvent {
            id: self.id.with_str(s),
            time: self.time,
            user: UserInfo {
                name: s(self.user),
                groups: self.groups.to_vec(),
                attributes: self.attributes.to_map(),
                auth_method: s(self.auth_method),
            },
            source_ip: s(self.source_ip),
            user_agent: s(self.user_agent),
            cluster: s(self.cluster),
            cluster_tags: self.cluster_tags.to_map(),
            method: s(self.method),
            request_uri: s(self.request_uri),
            verb: s(self.verb),
            api_group: s(self.api_group),
            api_version: s(self.api_version),
            resource: s(self.resource),
            subresource: s(self.subresource),
            namespace: s(self.namespace),
            name: s(self.name),
            non_resource: self.non_resource,
            decision: DecisionRecord {
                outcome: self.outcome,
                policy: o(self.policy),
                rule: o(self.rule),
                reason: s(self.reason),
            },
            impersonated: self.impersonated.map(|(user, groups)| Impersonation {
                user: s(user),
                groups: groups.to_vec(),
            }),
            code: self.code,
            duration_us: self.duration_us,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            session_id: o(self.session_id),
            filtered_items: self.filtered_items,
            error: o(self.error),
        }
    }
}

/// Decodes a binary API record into an owned event (see [`ApiView::parse`]
/// for what is checked).
pub fn decode_api(rec: &[u8]) -> Result<ApiEvent, String> {
    ApiView::parse(rec).map(|v| v.to_event())
}
