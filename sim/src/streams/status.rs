//! metav1.Status documents used by the streaming subresources: the exit
//! status sent on the error channel, and the HTTP error replies.

use serde_json::{json, Value};

/// The Status for a command that exited 0.
pub fn success() -> Value {
    json!({"metadata": {}, "status": "Success"})
}

/// The Status kubelet writes for a non-zero exit: reason `NonZeroExitCode`,
/// the code as the message of cause `ExitCode` (clients parse it from there).
pub fn non_zero_exit(command: &[String], code: i32) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: command '{}' exited with {}: ",
            command.join(" "),
            code
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
    })
}

/// A failure that is not an exit code (the process could not start, ...):
/// what apierrors.NewInternalError builds from `err`.
pub fn internal_error(err: &str) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {err}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": err}]},
        "code": 500
    })
}

/// An HTTP-level error Status (`kind: Status`), e.g. 400 BadRequest.
pub fn http_error(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code
    })
}

/// The exit code a client reads back from an exit Status, if any
/// (what kubectl and the Python client do with `causes[0]`).
pub fn exit_code_of(status: &Value) -> Option<i32> {
    if status.get("status")?.as_str()? == "Success" {
        return Some(0);
    }
    status
        .pointer("/details/causes")?
        .as_array()?
        .iter()
        .find(|c| c.get("reason").and_then(Value::as_str) == Some("ExitCode"))?
        .get("message")?
        .as_str()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_shapes() {
        assert_eq!(
            serde_json::to_string(&success()).unwrap(),
            r#"{"metadata":{},"status":"Success"}"#
        );
        let s = non_zero_exit(&["sh".into(), "-c".into(), "exit 3".into()], 3);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        assert!(s["message"]
            .as_str()
            .unwrap()
            .starts_with("command terminated with non-zero exit code: "));
        assert_eq!(exit_code_of(&s), Some(3));
        assert_eq!(exit_code_of(&success()), Some(0));
        let ie = internal_error("boom");
        assert_eq!(ie["message"], "Internal error occurred: boom");
        assert_eq!(ie["details"]["causes"][0]["message"], "boom");
        assert_eq!(exit_code_of(&ie), None);
    }
}
