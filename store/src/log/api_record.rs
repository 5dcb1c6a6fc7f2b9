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

use kac_event::{ApiEvent, DecisionRecord, Impersonation, Outcome, UserInfo};

pub use super::api_view::{decode_api, ApiView, IdRef, StrList, StrMap};

/// First byte of a binary API record (a control character, which no JSON
/// text starts with).
pub const TAG_API: u8 = 0x02;

pub(super) const ID_STR: u8 = 0;
pub(super) const ID_UUID: u8 = 1;

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

pub(super) fn outcome_code(o: Outcome) -> u8 {
    match o {
        Outcome::Allowed => 0,
        Outcome::Denied => 1,
        Outcome::Error => 2,
    }
}

/// The 16 bytes of `id` when it is a UUID in canonical form (lowercase,
/// hyphenated), the form every id kac-proxy makes has. Anything else is
/// stored as a string, so the id always comes back byte for byte.
pub(super) fn canonical_uuid(id: &str) -> Option<[u8; 16]> {
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

#[cfg(test)]
#[path = "api_record_tests.rs"]
mod tests;
