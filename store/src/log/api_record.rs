//! The binary record of an API event (tag 0x02; pure, no I/O).
//!
//! Why: API events are ~97% of a store's records, and their JSON form made
//! the writer the store's bottleneck twice over — serde_json spent ~2.7 µs
//! per event writing key names, and zstd needed level 6's lazy match finder
//! (~10 µs per event) to squeeze the repeated keys and values down to 10x
//! smaller than JSON lines; the fast levels stopped near 9.3x (issue #7,
//! BENCHMARKS.md). Without key names and with the event id as 16 bytes
//! instead of 36 characters, a fast zstd level does better than level 6 did
//! on JSON, at a fraction of the cost.
//!
//! ```text
//! api     = 0x02 user-name:str groups:strs attributes:map auth-method:str
//!           source-ip:str user-agent:str cluster:str cluster-tags:map
//!           method:str verb:str api-group:str api-version:str
//!           resource:str subresource:str namespace:str non-resource:u8
//!           outcome:u8 policy:opt rule:opt reason:str
//!           impersonated:u8 [user:str groups:strs]   (0 none, 1 present)
//!           code:u16le session-id:opt filtered-items:var error:opt
//!           name:str request-uri:str
//!           secs:i64le nanos:u32le id duration-us:var bytes-in:var
//!           bytes-out:var
//! id      = 0x00 str | 0x01 uuid[16]        (0x01 only when the id is a
//!                                            canonical lowercase UUID)
//! str     = len:var utf8[len]
//! opt     = 0:var (None) | len+1:var utf8[len]
//! strs    = count:var str*
//! map     = count:var (key:str value:str)*   keys strictly increasing
//! var     = unsigned LEB128, at most 10 bytes
//! ```
//!
//! Fields that repeat from one event to the next (who, where, what) come
//! first and the ones that are new in every event (time, id, sizes) last,
//! so the repeated part is one long run for zstd to match.
//!
//! The JSON form stays the contract: decoding gives back the same
//! [`ApiEvent`] value, and serde_json's output for a value is deterministic,
//! so `record::record_json` renders exactly the JSON the writer used to
//! store. Every field is encoded: the encoder destructures the event types
//! without `..`, so a field added to kac-event fails to compile here
//! instead of being silently dropped from the audit log.

use std::collections::BTreeMap;

use chrono::DateTime;
use kac_event::{ApiEvent, DecisionRecord, Impersonation, Outcome, UserInfo};

/// First byte of a binary API record (a control character, which no JSON
/// text starts with).
pub const TAG_API: u8 = 0x02;

const ID_STR: u8 = 0;
const ID_UUID: u8 = 1;

fn var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn str(out: &mut Vec<u8>, s: &str) {
    var(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn opt(out: &mut Vec<u8>, s: &Option<String>) {
    match s {
        None => var(out, 0),
        Some(s) => {
            var(out, s.len() as u64 + 1);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn strs(out: &mut Vec<u8>, v: &[String]) {
    var(out, v.len() as u64);
    for s in v {
        str(out, s);
    }
}

fn map(out: &mut Vec<u8>, m: &BTreeMap<String, String>) {
    var(out, m.len() as u64);
    for (k, v) in m {
        str(out, k);
        str(out, v);
    }
}

fn outcome_code(o: Outcome) -> u8 {
    match o {
        Outcome::Allowed => 0,
        Outcome::Denied => 1,
        Outcome::Error => 2,
    }
}

/// The 16 bytes of `id` when it is a UUID in canonical form (lowercase,
/// hyphenated), the form every id kac-proxy makes has. Anything else is
/// stored as a string, so the id always comes back byte for byte.
fn canonical_uuid(id: &str) -> Option<[u8; 16]> {
    if id.len() != 36 {
        return None;
    }
    let u = uuid::Uuid::try_parse(id).ok()?;
    let mut buf = [0u8; 36];
    (u.hyphenated().encode_lower(&mut buf) == id).then(|| *u.as_bytes())
}

/// Appends the binary record of `a` to `out`.
pub fn encode_api(a: &ApiEvent, out: &mut Vec<u8>) {
    let ApiEvent {
        id,
        time,
        user,
        source_ip,
        user_agent,
        cluster,
        cluster_tags,
        method,
        request_uri,
        verb,
        api_group,
        api_version,
        resource,
        subresource,
        namespace,
        name,
        non_resource,
        decision,
        impersonated,
        code,
        duration_us,
        bytes_in,
        bytes_out,
        session_id,
        filtered_items,
        error,
    } = a;
    let UserInfo {
        name: user_name,
        groups,
        attributes,
        auth_method,
    } = user;
    let DecisionRecord {
        outcome,
        policy,
        rule,
        reason,
    } = decision;
    out.reserve(256 + request_uri.len());
    out.push(TAG_API);
    str(out, user_name);
    strs(out, groups);
    map(out, attributes);
    str(out, auth_method);
    str(out, source_ip);
    str(out, user_agent);
    str(out, cluster);
    map(out, cluster_tags);
    for s in [method, verb, api_group, api_version, resource, subresource] {
        str(out, s);
    }
    str(out, namespace);
    out.push(u8::from(*non_resource));
    out.push(outcome_code(*outcome));
    opt(out, policy);
    opt(out, rule);
    str(out, reason);
    match impersonated {
        None => out.push(0),
        Some(Impersonation { user, groups }) => {
            out.push(1);
            str(out, user);
            strs(out, groups);
        }
    }
    out.extend_from_slice(&code.to_le_bytes());
    opt(out, session_id);
    var(out, *filtered_items);
    opt(out, error);
    str(out, name);
    str(out, request_uri);
    out.extend_from_slice(&time.timestamp().to_le_bytes());
    out.extend_from_slice(&time.timestamp_subsec_nanos().to_le_bytes());
    match canonical_uuid(id) {
        Some(b) => {
            out.push(ID_UUID);
            out.extend_from_slice(&b);
        }
        None => {
            out.push(ID_STR);
            str(out, id);
        }
    }
    var(out, *duration_us);
    var(out, *bytes_in);
    var(out, *bytes_out);
}

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
    fn var(&mut self, what: &str) -> Result<u64, String> {
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
    fn utf8(&mut self, n: usize, what: &str) -> Result<String, String> {
        let b = self.take(n, what)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| format!("{what}: not UTF-8"))
    }
    fn str(&mut self, what: &str) -> Result<String, String> {
        let n = self.len(what)?;
        self.utf8(n, what)
    }
    fn opt(&mut self, what: &str) -> Result<Option<String>, String> {
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
    fn strs(&mut self, what: &str) -> Result<Vec<String>, String> {
        // Every string takes at least its length byte: bound the count by
        // what is left, not by the untrusted count.
        let n = self.len(what)?;
        let mut v = Vec::with_capacity(n.min(16));
        for _ in 0..n {
            v.push(self.str(what)?);
        }
        Ok(v)
    }
    fn map(&mut self, what: &str) -> Result<BTreeMap<String, String>, String> {
        let n = self.len(what)?;
        let mut m = BTreeMap::new();
        let mut last: Option<String> = None;
        for _ in 0..n {
            let k = self.str(what)?;
            if last.as_ref().is_some_and(|l| *l >= k) {
                return Err(format!("{what}: keys not strictly increasing"));
            }
            let v = self.str(what)?;
            last = Some(k.clone());
            m.insert(k, v);
        }
        Ok(m)
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

/// Decodes a binary API record (starting with [`TAG_API`]); checks every
/// length, and refuses trailing bytes and non-canonical encodings, so a
/// record that decodes re-encodes to the same bytes.
pub fn decode_api(rec: &[u8]) -> Result<ApiEvent, String> {
    let mut r = Reader { buf: rec, pos: 0 };
    if r.u8("tag")? != TAG_API {
        return Err("not an API record".into());
    }
    let user = UserInfo {
        name: r.str("user")?,
        groups: r.strs("groups")?,
        attributes: r.map("attributes")?,
        auth_method: r.str("authMethod")?,
    };
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
    let decision = DecisionRecord {
        outcome,
        policy: r.opt("policy")?,
        rule: r.opt("rule")?,
        reason: r.str("reason")?,
    };
    let impersonated = match r.bool("impersonated")? {
        false => None,
        true => Some(Impersonation {
            user: r.str("impersonated user")?,
            groups: r.strs("impersonated groups")?,
        }),
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
        ID_UUID => {
            let b: [u8; 16] = r.array("id")?;
            uuid::Uuid::from_bytes(b).hyphenated().to_string()
        }
        ID_STR => {
            let s = r.str("id")?;
            if canonical_uuid(&s).is_some() {
                return Err("id: a canonical UUID stored as a string".into());
            }
            s
        }
        b => return Err(format!("id: unknown form {b}")),
    };
    let ev = ApiEvent {
        id,
        time,
        user,
        source_ip,
        user_agent,
        cluster,
        cluster_tags,
        method,
        request_uri,
        verb,
        api_group,
        api_version,
        resource,
        subresource,
        namespace,
        name,
        non_resource,
        decision,
        impersonated,
        code,
        duration_us: r.var("durationUs")?,
        bytes_in: r.var("bytesIn")?,
        bytes_out: r.var("bytesOut")?,
        session_id,
        filtered_items,
        error,
    };
    if r.pos != rec.len() {
        return Err(format!(
            "{} trailing bytes after the API record",
            rec.len() - r.pos
        ));
    }
    Ok(ev)
}

#[cfg(test)]
#[path = "api_record_tests.rs"]
mod tests;
