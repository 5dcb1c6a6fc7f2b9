//! `metav1.Status` errors worded exactly as the apiserver words them
//! (`staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go`), so kubectl prints
//! the same messages against the sim as against a real cluster.

use hyper::{Response, StatusCode};
use serde_json::{json, Map, Value};

use crate::http::Body;

/// A group-qualified resource, e.g. `pods` or `deployments.apps`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        GroupResource {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
}

impl std::fmt::Display for GroupResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// One `StatusCause`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// A failed request, rendered as a `metav1.Status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// `details.name`, `details.group`, `details.kind`; `None` omits `details`.
    pub details: Option<Box<(String, String, String)>>,
    pub causes: Vec<Cause>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Handler results.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: u16, reason: &str, message: &str) -> Self {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.to_string(),
            details: None,
            causes: Vec::new(),
        }
    }

    fn with_details(mut self, gr: &GroupResource, name: &str) -> Self {
        self.details = Some(Box::new((
            name.to_string(),
            gr.group.clone(),
            gr.resource.clone(),
        )));
        self
    }

    pub fn not_found(gr: &GroupResource, name: &str) -> Self {
        Self::new(404, "NotFound", &format!("{gr} \"{name}\" not found")).with_details(gr, name)
    }

    /// An unknown path or resource type.
    pub fn not_found_path() -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        e.details = Some(Box::default());
        e
    }

    pub fn already_exists(gr: &GroupResource, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            &format!("{gr} \"{name}\" already exists"),
        )
        .with_details(gr, name)
    }

    pub fn conflict(gr: &GroupResource, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            &format!("Operation cannot be fulfilled on {gr} \"{name}\": {why}"),
        )
        .with_details(gr, name)
    }

    /// The optimistic-concurrency conflict (`OptimisticLockErrorMsg`).
    pub fn stale(gr: &GroupResource, name: &str) -> Self {
        Self::conflict(
            gr,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 Invalid: `Kind "name" is invalid: field: Invalid value: ...`.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let list: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let joined = if list.len() == 1 {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        let mut e = Self::new(
            422,
            "Invalid",
            &format!("{kind} \"{name}\" is invalid: {joined}"),
        );
        e.details = Some(Box::new((
            name.to_string(),
            group.to_string(),
            kind.to_string(),
        )));
        e.causes = causes;
        e
    }

    pub fn bad_request(message: &str) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 as `responsewriters.Forbidden` + `errors.NewForbidden` word it.
    pub fn forbidden(gr: &GroupResource, name: &str, why: &str) -> Self {
        let message = if gr.resource.is_empty() && gr.group.is_empty() {
            format!("forbidden: {why}")
        } else if name.is_empty() {
            format!("{gr} is forbidden: {why}")
        } else {
            format!("{gr} \"{name}\" is forbidden: {why}")
        };
        Self::new(403, "Forbidden", &message).with_details(gr, name)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 410 Expired for a watch/list from a resourceVersion outside the history window.
    pub fn expired(message: &str) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            &format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml; got {content_type}"),
        )
    }

    pub fn internal(message: &str) -> Self {
        Self::new(
            500,
            "InternalError",
            &format!("Internal error occurred: {message}"),
        )
    }

    /// The `metav1.Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = Map::new();
        status.insert("kind".into(), json!("Status"));
        status.insert("apiVersion".into(), json!("v1"));
        status.insert("metadata".into(), json!({}));
        status.insert("status".into(), json!("Failure"));
        status.insert("message".into(), json!(self.message));
        status.insert("reason".into(), json!(self.reason));
        if let Some(d) = &self.details {
            let (name, group, kind) = &**d;
            let mut d = Map::new();
            if !name.is_empty() {
                d.insert("name".into(), json!(name));
            }
            if !group.is_empty() {
                d.insert("group".into(), json!(group));
            }
            if !kind.is_empty() {
                d.insert("kind".into(), json!(kind));
            }
            if !self.causes.is_empty() {
                let causes: Vec<Value> = self
                    .causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                d.insert("causes".into(), Value::Array(causes));
            }
            status.insert("details".into(), Value::Object(d));
        }
        status.insert("code".into(), json!(self.code));
        Value::Object(status)
    }

    pub fn into_response(self) -> Response<Body> {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        crate::http::json(code, &self.to_status())
    }
}

/// A `Status` with `status: Success` (returned by deletecollection-less deletes of
/// some kinds, and by the streaming channel protocol).
pub fn success_status(details: Option<(&str, &str, &str)>) -> Value {
    let mut v = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"});
    if let Some((name, group, kind)) = details {
        let mut d = Map::new();
        d.insert("name".into(), json!(name));
        if !group.is_empty() {
            d.insert("group".into(), json!(group));
        }
        d.insert("kind".into(), json!(kind));
        v["details"] = Value::Object(d);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_wording() {
        let s = ApiError::not_found(&GroupResource::new("", "pods"), "x").to_status();
        assert_eq!(s["message"], "pods \"x\" not found");
        assert_eq!(s["details"], json!({"name": "x", "kind": "pods"}));
        assert_eq!(s["code"], 404);
        let s = ApiError::not_found(&GroupResource::new("apps", "deployments"), "d").to_status();
        assert_eq!(s["message"], "deployments.apps \"d\" not found");
        assert_eq!(s["details"]["group"], "apps");
    }

    #[test]
    fn forbidden_wording() {
        let why =
            "User \"u\" cannot list resource \"pods\" in API group \"\" in the namespace \"ns\"";
        let s = ApiError::forbidden(&GroupResource::new("", "pods"), "", why).to_status();
        assert_eq!(s["message"], format!("pods is forbidden: {why}"));
        assert_eq!(s["reason"], "Forbidden");
        let s = ApiError::forbidden(&GroupResource::default(), "", "x").to_status();
        assert_eq!(s["message"], "forbidden: x");
    }

    #[test]
    fn invalid_wording() {
        let e = ApiError::invalid(
            "Pod",
            "",
            "A",
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: \"A\": bad".into(),
                field: "metadata.name".into(),
            }],
        );
        assert_eq!(
            e.message,
            "Pod \"A\" is invalid: metadata.name: Invalid value: \"A\": bad"
        );
        assert_eq!(
            e.to_status()["details"]["causes"][0]["field"],
            "metadata.name"
        );
    }
}
