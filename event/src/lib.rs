//! # kac-event: the audit event model
//!
//! **Owns:** the plain data types that flow from the proxy and the recorder
//! into the store, the SIEM forwarders and the player: [`ApiEvent`] (one per
//! proxied request), [`SessionEvent`] (the timed frames of an exec, attach or
//! port-forward session) and the envelope [`Event`] that carries either.
//! Their JSON form is KAC's native wire and storage format, so field names are
//! part of the public contract: add fields, never rename them.
//!
//! **Must not touch:** I/O, policy evaluation, request parsing or storage.
//! These are data types and pure helpers only; every other crate depends on
//! this one, so it stays small and dependency-light.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod session;

pub use session::{
    CommandLine, DataStream, PortBytes, SessionEnd, SessionEvent, SessionKind, SessionStart,
    Transfer,
};

/// An event as it is appended to the store and forwarded to SIEMs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// One Kubernetes API request, with the decision and its outcome.
    Api(Box<ApiEvent>),
    /// One event of a recorded exec/attach/port-forward session.
    Session(SessionEvent),
}

impl Event {
    /// The wall-clock time the event happened.
    pub fn time(&self) -> DateTime<Utc> {
        match self {
            Event::Api(e) => e.time,
            Event::Session(s) => s.time(),
        }
    }

    /// The KAC user the event is about; session data frames carry only the
    /// session id (the user is on the session's start and end events).
    pub fn user(&self) -> Option<&str> {
        match self {
            Event::Api(e) => Some(&e.user.name),
            Event::Session(s) => s.user(),
        }
    }
}

/// The authenticated KAC user behind a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// KAC user name, e.g. `david`.
    pub name: String,
    /// KAC groups the user belongs to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Attributes from the users file, e.g. `team=platform`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// How the user authenticated: `token`, `x509`, `credential`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth_method: String,
}

/// The identity the proxy used towards the cluster (Kubernetes impersonation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Impersonation {
    pub user: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// What the policy engine decided, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// `allowed`, `denied`, or `error` (the proxy could not decide: refused).
    pub outcome: Outcome,
    /// Name of the policy that decided, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Rule identifier inside that policy (e.g. `actions[1]` or its name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Human readable reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allowed,
    #[default]
    Denied,
    /// The proxy refused without a policy decision (bad request, unknown
    /// cluster, unauthenticated, unfilterable body...).
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
}

/// One proxied Kubernetes API request. Exactly one is emitted per request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiEvent {
    /// Unique id (UUID v7, time ordered); also sent back as `Audit-Id`.
    pub id: String,
    /// When the request was received.
    pub time: DateTime<Utc>,
    pub user: UserInfo,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_ip: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    /// Cluster name from the registry (empty for proxy-level endpoints).
    #[serde(default)]
    pub cluster: String,
    /// The cluster's tags at the time of the request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cluster_tags: BTreeMap<String, String>,
    /// HTTP method as received.
    #[serde(default)]
    pub method: String,
    /// Request path and query, as the user sent it (after the cluster prefix).
    #[serde(default)]
    pub request_uri: String,
    /// Kubernetes verb (get, list, watch, create, ..., exec, attach, portforward, log).
    #[serde(default)]
    pub verb: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// True for non-resource URLs such as `/version` or `/apis`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub non_resource: bool,
    pub decision: DecisionRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonated: Option<Impersonation>,
    /// HTTP status code returned to the client.
    pub code: u16,
    /// Time from request received to response complete, in microseconds.
    pub duration_us: u64,
    #[serde(default)]
    pub bytes_in: u64,
    #[serde(default)]
    pub bytes_out: u64,
    /// Set when the request opened a recorded session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Items hidden by response filtering, if any.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub filtered_items: u64,
    /// Error detail when the proxy refused or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A new time-ordered event or session id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Serde helper: bytes as standard base64 in JSON.
pub mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_event_round_trips_through_json() {
        let ev = Event::Api(Box::new(ApiEvent {
            id: new_id(),
            time: Utc::now(),
            user: UserInfo {
                name: "david".into(),
                groups: vec!["dev".into()],
                ..Default::default()
            },
            cluster: "prod".into(),
            verb: "list".into(),
            resource: "pods".into(),
            namespace: "david".into(),
            decision: DecisionRecord {
                outcome: Outcome::Allowed,
                policy: Some("david".into()),
                rule: Some("actions[0]".into()),
                reason: String::new(),
            },
            code: 200,
            ..Default::default()
        }));
        let json = serde_json::to_string(&ev).unwrap();
        assert!(json.contains("\"type\":\"api\""), "{json}");
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
        assert_eq!(back.user(), Some("david"));
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id();
        assert!(a < b, "{a} !< {b}");
    }
}
