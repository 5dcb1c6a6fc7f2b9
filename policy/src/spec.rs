//! The policy document as written in YAML (`kac.dev/v1alpha1`, kind `Policy`).
//!
//! These types mirror the file one to one and reject unknown fields, so a typo
//! such as `verb:` for `verbs:` is an error rather than a silently ignored
//! line. Meaning (patterns, verbs, defaults) is given by `compile`; see
//! `docs/policy.md` for the reference.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The only apiVersion this crate reads.
pub const API_VERSION: &str = "kac.dev/v1alpha1";
/// Kind of a policy document.
pub const KIND_POLICY: &str = "Policy";
/// Kind of a test-suite document; the policy loader skips these so cases can
/// live beside the policies they test.
pub const KIND_TEST_SUITE: &str = "PolicyTestSuite";

/// One `kind: Policy` document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyDocument {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: PolicySpec,
}

/// Kubernetes-style metadata; only `name` has meaning to KAC.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The body of a policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicySpec {
    #[serde(default)]
    pub description: Option<String>,
    /// Picks the impersonation subject when several policies allow a request:
    /// highest priority wins, then the policy name. Never affects allow/deny.
    #[serde(default)]
    pub priority: i32,
    pub assign_to: AssignToSpec,
    pub resources: ResourcesSpec,
    pub subjects: SubjectsSpec,
    #[serde(default)]
    pub conditions: Vec<ConditionSpec>,
    pub actions: Vec<ActionSpec>,
    #[serde(default)]
    pub session_recording: Option<SessionRecording>,
}

/// Whom the policy is assigned to. At least one of the three must be set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AssignToSpec {
    #[serde(default)]
    pub users: Option<Vec<String>>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// Everyone who meets the conditions.
    #[serde(default)]
    pub everyone: bool,
}

/// The clusters the policy covers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourcesSpec {
    pub clusters: Vec<String>,
}

/// The identity the proxy impersonates for requests this policy allows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubjectsSpec {
    /// `{user}` is replaced by the KAC user name; default `kac:{user}`.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// One condition; all conditions of a policy must hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConditionSpec {
    #[serde(default)]
    pub cluster_tag: Option<String>,
    #[serde(default)]
    pub user_attribute: Option<String>,
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default, rename = "in")]
    pub in_: Option<Vec<String>>,
    #[serde(default)]
    pub matches: Option<String>,
}

/// `allow` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
}

/// One rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ActionSpec {
    /// Optional label shown in decisions and explain output.
    #[serde(default)]
    pub name: Option<String>,
    pub effect: Effect,
    /// `resource[.group]` entries: `pods`, `deployments.apps`, `*.apps`, `*`.
    #[serde(default)]
    pub resources: Option<Vec<String>>,
    /// Paths such as `/version`, `/apis/*`, for non-resource requests.
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Option<Vec<String>>,
    #[serde(default)]
    pub namespaces: Option<Vec<String>>,
    #[serde(default)]
    pub names: Option<Vec<String>>,
    pub verbs: Vec<String>,
}

/// Whether exec/attach sessions allowed by this policy must be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SessionRecording {
    /// The proxy must record the session, and refuse it if it cannot.
    #[default]
    Required,
    /// The proxy may skip recording.
    Optional,
}
