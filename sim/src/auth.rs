//! Authentication (bearer tokens, client certificates from the sim CA) and
//! impersonation, following `apiserver/pkg/endpoints/filters/impersonation.go`.

use std::collections::BTreeMap;

use hyper::HeaderMap;

use crate::api::{ApiError, GroupResource};
use crate::rbac::{Attributes, Rbac};
use crate::requestinfo::percent_decode;

/// `user.Info`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

pub const AUTHENTICATED: &str = "system:authenticated";

impl UserInfo {
    pub fn new(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }

    /// Adds `system:authenticated` as the apiserver does for every non-anonymous user.
    pub fn with_authenticated(mut self) -> UserInfo {
        if !self.groups.iter().any(|g| g == AUTHENTICATED) {
            self.groups.push(AUTHENTICATED.into());
        }
        self
    }
}

/// The bearer token of a request, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(hyper::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Parses the impersonation headers: (user, uid, groups, extra, any header present).
struct Requested {
    user: Option<String>,
    uid: Option<String>,
    groups: Vec<String>,
    extra: BTreeMap<String, Vec<String>>,
}

fn requested(headers: &HeaderMap) -> Requested {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let groups = headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix("impersonate-extra-") {
            let key = percent_decode(&key.to_ascii_lowercase(), false);
            if let Ok(v) = value.to_str() {
                extra.entry(key).or_default().push(v.to_string());
            }
        }
    }
    Requested {
        user: get("impersonate-user"),
        uid: get("impersonate-uid"),
        groups,
        extra,
    }
}

/// Whether a request carries any impersonation header.
pub fn wants_impersonation(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|k| k.as_str().starts_with("impersonate-"))
}

/// Applies impersonation: checks the `impersonate` verb for every requested
/// attribute against the authenticated user and returns the effective user.
pub fn impersonate(
    headers: &HeaderMap,
    requestor: &UserInfo,
    rbac: &Rbac,
    path: &str,
) -> Result<Option<UserInfo>, ApiError> {
    let req = requested(headers);
    let Some(user) = req.user.clone() else {
        if !req.groups.is_empty() || !req.extra.is_empty() || req.uid.is_some() {
            // Upstream answers this with responsewriters.InternalError.
            return Err(ApiError::internal(&format!(
                "requested impersonation of groups/extras/uid without impersonating a user (path {path})"
            )));
        }
        return Ok(None);
    };
    let check = |group: &str, resource: &str, sub: &str, ns: &str, name: &str| {
        let attrs = Attributes {
            verb: "impersonate".into(),
            is_resource: true,
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            name: name.into(),
            path: path.into(),
        };
        if rbac.authorize(requestor, &attrs) {
            Ok(())
        } else {
            Err(forbidden_impersonation(requestor, &attrs))
        }
    };
    let mut groups = Vec::new();
    if let Some(rest) = user.strip_prefix("system:serviceaccount:") {
        let (ns, name) = rest.split_once(':').unwrap_or(("", rest));
        check("", "serviceaccounts", "", ns, name)?;
        if req.groups.is_empty() {
            groups.push("system:serviceaccounts".to_string());
            groups.push(format!("system:serviceaccounts:{ns}"));
        }
    } else {
        check("", "users", "", "", &user)?;
    }
    for g in &req.groups {
        check("", "groups", "", "", g)?;
        groups.push(g.clone());
    }
    for (k, vs) in &req.extra {
        for v in vs {
            check("authentication.k8s.io", "userextras", k, "", v)?;
        }
    }
    if let Some(uid) = &req.uid {
        check("authentication.k8s.io", "uids", "", "", uid)?;
    }
    let mut out = UserInfo {
        name: user,
        uid: req.uid.unwrap_or_default(),
        groups,
        extra: req.extra,
    };
    if req.groups.is_empty() && out.name != "system:anonymous" {
        out = out.with_authenticated();
    }
    Ok(Some(out))
}

/// The 403 `responsewriters.Forbidden` writes for a failed impersonation check.
pub fn forbidden_impersonation(requestor: &UserInfo, a: &Attributes) -> ApiError {
    ApiError::forbidden(
        &GroupResource::new(&a.api_group, &a.resource),
        &a.name,
        &crate::rbac::forbidden_reason(&requestor.name, a),
    )
}

#[cfg(test)]
mod tests;
