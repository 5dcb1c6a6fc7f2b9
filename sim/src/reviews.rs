//! `SelfSubjectAccessReview` (`kubectl auth can-i`) and `SelfSubjectReview`
//! (`kubectl auth whoami`), answered for the effective (impersonated) user.

use serde_json::{json, Value};

use crate::auth::UserInfo;
use crate::rbac::{Attributes, Rbac};

/// Whether a create request is one of the self-review endpoints.
pub fn is_review(group: &str, resource: &str) -> bool {
    matches!(
        (group, resource),
        ("authorization.k8s.io", "selfsubjectaccessreviews")
            | ("authentication.k8s.io", "selfsubjectreviews")
    )
}

/// Answers a SelfSubjectAccessReview body (decoded JSON) for `user`.
pub fn access_review(rbac: &Rbac, user: &UserInfo, review: &Value) -> Value {
    let spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
    let s = |p: &str| {
        spec.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let attrs = if spec.get("resourceAttributes").is_some() {
        Attributes {
            verb: s("/resourceAttributes/verb"),
            is_resource: true,
            api_group: s("/resourceAttributes/group"),
            resource: s("/resourceAttributes/resource"),
            subresource: s("/resourceAttributes/subresource"),
            namespace: s("/resourceAttributes/namespace"),
            name: s("/resourceAttributes/name"),
            path: String::new(),
        }
    } else {
        Attributes {
            verb: s("/nonResourceAttributes/verb"),
            path: s("/nonResourceAttributes/path"),
            ..Default::default()
        }
    };
    let allowed = rbac.authorize(user, &attrs);
    json!({
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": {"allowed": allowed},
    })
}

/// The SelfSubjectReview for `user`.
pub fn subject_review(user: &UserInfo) -> Value {
    let mut info = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        info["uid"] = json!(user.uid);
    }
    if !user.extra.is_empty() {
        info["extra"] = json!(user.extra);
    }
    json!({
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": info},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_i_uses_rbac() {
        let rbac = Rbac::default_rules();
        let viewer = UserInfo::new("v", &["kac:viewers"]).with_authenticated();
        let review = json!({"spec": {"resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "david"}}});
        assert_eq!(
            access_review(&rbac, &viewer, &review)["status"]["allowed"],
            true
        );
        let review = json!({"spec": {"resourceAttributes": {"verb": "delete", "resource": "pods", "namespace": "david"}}});
        assert_eq!(
            access_review(&rbac, &viewer, &review)["status"]["allowed"],
            false
        );
        let review = json!({"spec": {"nonResourceAttributes": {"verb": "get", "path": "/api"}}});
        assert_eq!(
            access_review(&rbac, &viewer, &review)["status"]["allowed"],
            true
        );
    }

    #[test]
    fn whoami_reports_effective_user() {
        let u = UserInfo::new("david", &["kac:editors"]);
        let r = subject_review(&u);
        assert_eq!(r["status"]["userInfo"]["username"], "david");
        assert_eq!(r["status"]["userInfo"]["groups"], json!(["kac:editors"]));
        assert!(is_review("authentication.k8s.io", "selfsubjectreviews"));
        assert!(!is_review("", "pods"));
    }
}
