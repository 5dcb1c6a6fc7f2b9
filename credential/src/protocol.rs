//! The JSON bodies of the login protocol (docs/login.md).
//!
//! Errors are not here: every failure is a Kubernetes `metav1.Status`
//! object with the HTTP code, as for cluster requests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `apiVersion` of [`LoginResponse`].
pub const API_VERSION: &str = "kac.dev/v1alpha1";
/// `kind` of [`LoginResponse`].
pub const KIND_LOGIN_RESPONSE: &str = "LoginResponse";

/// `POST /kac/v1/login`: a password or a users-file token, never both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `POST /kac/v1/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// The answer to a successful login or refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    pub api_version: String,
    pub kind: String,
    pub user: String,
    /// Bearer token for cluster requests until `expiration_timestamp`.
    pub access_token: String,
    /// RFC 3339.
    pub expiration_timestamp: String,
    /// Buys new tokens at `/kac/v1/refresh` until
    /// `refresh_expiration_timestamp`; rotated on every refresh.
    pub refresh_token: String,
    pub refresh_expiration_timestamp: String,
    /// The clusters the user's policies reach now.
    pub clusters: Vec<ClusterInfo>,
}

/// One cluster a user may use, as the agent turns it into a context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub name: String,
    /// `https://PROXY/clusters/NAME`.
    pub server: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// `GET /kac/v1/clusters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterList {
    pub clusters: Vec<ClusterInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_the_protocol() {
        let r = LoginResponse {
            api_version: API_VERSION.into(),
            kind: KIND_LOGIN_RESPONSE.into(),
            user: "david".into(),
            access_token: "a".into(),
            expiration_timestamp: "2025-01-01T00:00:00Z".into(),
            refresh_token: "r".into(),
            refresh_expiration_timestamp: "2025-01-08T00:00:00Z".into(),
            clusters: vec![ClusterInfo {
                name: "dev".into(),
                server: "https://h:1/clusters/dev".into(),
                tags: [("ClusterType".into(), "dev".into())].into(),
            }],
        };
        let v = serde_json::to_value(&r).unwrap();
        for k in [
            "apiVersion",
            "kind",
            "user",
            "accessToken",
            "expirationTimestamp",
            "refreshToken",
            "refreshExpirationTimestamp",
            "clusters",
        ] {
            assert!(v.get(k).is_some(), "missing {k}: {v}");
        }
        assert_eq!(v["clusters"][0]["tags"]["ClusterType"], "dev");
        let req: RefreshRequest = serde_json::from_str(r#"{"refreshToken":"x"}"#).unwrap();
        assert_eq!(req.refresh_token, "x");
        let login: LoginRequest = serde_json::from_str(r#"{"user":"u","password":"p"}"#).unwrap();
        assert_eq!(login.password.as_deref(), Some("p"));
        assert!(serde_json::from_str::<LoginRequest>(r#"{"user":"u","pw":"p"}"#).is_err());
    }
}
