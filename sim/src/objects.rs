//! Pure object lifecycle rules: name validation, generateName, system-set metadata
//! (uid, creationTimestamp, generation), kind-specific defaults that make objects
//! look like a running cluster's (pods scheduled and Running, services with a
//! cluster IP, deployments fully rolled out), and update preconditions.

use rand::Rng;
use serde_json::{json, Map, Value};

use crate::api::{ApiError, ApiResult, Cause};
use crate::resources::ResourceType;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_label)
}

/// Validates `metadata.name` as the apiserver does for the type (namespaces are DNS
/// labels, everything else DNS subdomains); the error is a 422 Invalid.
pub fn validate_name(rt: &ResourceType, name: &str) -> ApiResult<()> {
    let (ok, msg) = if rt.kind == "Namespace" {
        (is_label(name), LABEL_MSG)
    } else {
        (is_subdomain(name), SUBDOMAIN_MSG)
    };
    if ok {
        return Ok(());
    }
    Err(ApiError::invalid(
        rt.kind,
        rt.group,
        name,
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: \"{name}\": {msg}"),
            field: "metadata.name".into(),
        }],
    ))
}

/// `generateName` + 5 random characters from the apiserver's alphabet.
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::thread_rng();
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{suffix}")
}

/// `2006-01-02T15:04:05Z` (metav1.Time, second precision).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

/// Checks `apiVersion`/`kind` of a request body against the endpoint (filling them
/// in when absent), as the decoder does.
pub fn check_type(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(&format!(
            "Object '{}' is invalid: the body is not a JSON object",
            rt.kind
        )));
    }
    let av = rt.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => obj["apiVersion"] = json!(av),
        Some(v) if v == av => {}
        Some(v) => {
            return Err(ApiError::bad_request(&format!(
                "the API version in the data ({v}) does not match the expected API version ({av})"
            )))
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = json!(rt.kind),
        Some(k) if k == rt.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(&format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                rt.kind
            )))
        }
    }
    Ok(())
}

/// Prepares a new object for storage: namespace/name checks, system metadata,
/// defaults. `seq` is a small number used to derive stable IPs.
pub fn prepare_create(rt: &ResourceType, mut obj: Value, ns: &str, seq: u64) -> ApiResult<Value> {
    check_type(rt, &mut obj)?;
    let meta = meta_mut(&mut obj);
    if rt.namespaced {
        match meta.get("namespace").and_then(Value::as_str) {
            Some(n) if !n.is_empty() && n != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => {
                meta.insert("namespace".into(), json!(ns));
            }
        }
    } else {
        meta.remove("namespace");
    }
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = if name.is_empty() {
        match meta.get("generateName").and_then(Value::as_str) {
            Some(g) if !g.is_empty() => generate_name(g),
            _ => {
                return Err(ApiError::invalid(
                    rt.kind,
                    rt.group,
                    "",
                    vec![Cause {
                        reason: "FieldValueRequired".into(),
                        message: "Required value: name or generateName is required".into(),
                        field: "metadata.name".into(),
                    }],
                ))
            }
        }
    } else {
        name
    };
    validate_name(rt, &name)?;
    meta.insert("name".into(), json!(name));
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
    meta.remove("resourceVersion");
    meta.remove("deletionTimestamp");
    if matches!(
        rt.kind,
        "Deployment" | "CronTab" | "CustomResourceDefinition"
    ) {
        meta.insert("generation".into(), json!(1));
    }
    apply_defaults(rt.kind, &mut obj, seq);
    Ok(obj)
}

/// Kind-specific defaults and simulated controller results.
pub fn apply_defaults(kind: &str, obj: &mut Value, seq: u64) {
    let a = (seq / 250 % 250) + 1;
    let b = seq % 250 + 1;
    match kind {
        "Namespace" => {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
            let name = obj["metadata"]["name"].clone();
            let labels = meta_mut(obj).entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), name);
            }
        }
        "Pod" => {
            if obj
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_none()
            {
                obj["spec"]["nodeName"] = json!(format!("node-{}", seq % 3 + 1));
            }
            if obj["spec"].get("restartPolicy").is_none() {
                obj["spec"]["restartPolicy"] = json!("Always");
            }
            let statuses: Vec<Value> = obj
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .map(|c| {
                            json!({
                                "name": c["name"], "image": c["image"], "imageID": "",
                                "ready": true, "started": true, "restartCount": 0,
                                "state": {"running": {"startedAt": now_rfc3339()}},
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let ip = format!("10.244.{a}.{b}");
            let phase = obj
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Running")
                .to_string();
            obj["status"] = json!({
                "phase": phase,
                "conditions": [
                    {"type": "Initialized", "status": "True"},
                    {"type": "Ready", "status": "True"},
                    {"type": "ContainersReady", "status": "True"},
                    {"type": "PodScheduled", "status": "True"}
                ],
                "hostIP": "172.18.0.2",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "startTime": now_rfc3339(),
                "containerStatuses": statuses,
                "qosClass": "BestEffort",
            });
        }
        "Service" => {
            if obj.pointer("/spec/type").is_none() {
                obj["spec"]["type"] = json!("ClusterIP");
            }
            if obj.pointer("/spec/clusterIP").is_none() {
                let ip = format!("10.96.{a}.{b}");
                obj["spec"]["clusterIP"] = json!(ip);
                obj["spec"]["clusterIPs"] = json!([ip]);
            }
            if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
                for p in ports {
                    if p.get("protocol").is_none() {
                        p["protocol"] = json!("TCP");
                    }
                    if p.get("targetPort").is_none() {
                        p["targetPort"] = p["port"].clone();
                    }
                }
            }
            obj["status"] = json!({"loadBalancer": {}});
        }
        "Deployment" => {
            let replicas = obj
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            obj["spec"]["replicas"] = json!(replicas);
            let generation = obj["metadata"]["generation"].clone();
            obj["status"] = json!({
                "observedGeneration": generation,
                "replicas": replicas, "updatedReplicas": replicas,
                "readyReplicas": replicas, "availableReplicas": replicas,
            });
        }
        "Secret" => {
            if obj.get("type").is_none() {
                obj["type"] = json!("Opaque");
            }
            if let Some(Value::Object(sd)) =
                obj.as_object_mut().and_then(|o| o.remove("stringData"))
            {
                use base64::Engine;
                for (k, v) in sd {
                    let enc = base64::engine::general_purpose::STANDARD
                        .encode(v.as_str().unwrap_or_default());
                    obj["data"][k] = json!(enc);
                }
            }
        }
        _ => {}
    }
}

/// Prepares a replacement (PUT or patched) object: same name, optimistic
/// concurrency on `metadata.resourceVersion`, system metadata carried over,
/// generation bumped when the spec changes.
pub fn prepare_update(
    rt: &ResourceType,
    current: &Value,
    mut obj: Value,
    name: &str,
) -> ApiResult<Value> {
    check_type(rt, &mut obj)?;
    let gr = rt.group_resource();
    let meta = meta_mut(&mut obj);
    match meta.get("name").and_then(Value::as_str) {
        Some(n) if n == name => {}
        None | Some("") => {
            meta.insert("name".into(), json!(name));
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ))
        }
    }
    let current_rv = current
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str);
    if let Some(rv) = meta.get("resourceVersion").and_then(Value::as_str) {
        if !rv.is_empty() && Some(rv) != current_rv {
            return Err(ApiError::stale(&gr, name));
        }
    }
    for k in ["uid", "creationTimestamp", "namespace", "generation"] {
        match current.pointer(&format!("/metadata/{k}")) {
            Some(v) => {
                meta.insert(k.into(), v.clone());
            }
            None => {
                meta.remove(k);
            }
        }
    }
    if obj.get("spec") != current.get("spec") {
        if let Some(g) = current
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
        {
            obj["metadata"]["generation"] = json!(g + 1);
        }
    }
    // Server-managed status follows the spec, as the simulated controllers would.
    match rt.kind {
        "Pod" | "Namespace" => {
            if let Some(s) = current.get("status") {
                obj["status"] = s.clone();
            }
        }
        "Deployment" => apply_defaults("Deployment", &mut obj, 0),
        _ => {}
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::lookup;

    #[test]
    fn names_and_generate_name() {
        let pods = lookup("", "v1", "pods").unwrap();
        let ns = lookup("", "v1", "namespaces").unwrap();
        assert!(validate_name(pods, "a.b-c").is_ok());
        let e = validate_name(pods, "Bad_Name").unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.starts_with("Pod \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
        assert!(validate_name(ns, "a.b").is_err());
        let o = prepare_create(pods, json!({"metadata": {"generateName": "web-"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}), "default", 1).unwrap();
        let name = o["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with("web-") && name.len() == 9, "{name}");
        assert_eq!(o["status"]["phase"], "Running");
        assert_eq!(o["status"]["containerStatuses"][0]["ready"], true);
        assert_eq!(o["metadata"]["namespace"], "default");
        let e = prepare_create(pods, json!({"metadata": {}}), "default", 1).unwrap_err();
        assert_eq!(e.code, 422);
        let e = prepare_create(
            pods,
            json!({"metadata": {"name": "x", "namespace": "other"}}),
            "default",
            1,
        )
        .unwrap_err();
        assert_eq!(e.code, 400);
        let e = prepare_create(
            pods,
            json!({"apiVersion": "apps/v1", "metadata": {"name": "x"}}),
            "default",
            1,
        )
        .unwrap_err();
        assert_eq!(e.code, 400);
    }

    #[test]
    fn update_preconditions() {
        let cms = lookup("", "v1", "configmaps").unwrap();
        let cur = json!({"metadata": {"name": "c", "namespace": "d", "uid": "u1", "resourceVersion": "5", "creationTimestamp": "t"}, "data": {"a": "1"}});
        let next = json!({"metadata": {"name": "c", "resourceVersion": "4"}, "data": {"a": "2"}});
        assert_eq!(prepare_update(cms, &cur, next, "c").unwrap_err().code, 409);
        let next = json!({"metadata": {"name": "c", "resourceVersion": "5"}, "data": {"a": "2"}});
        let o = prepare_update(cms, &cur, next, "c").unwrap();
        assert_eq!(o["metadata"]["uid"], "u1");
        assert_eq!(o["metadata"]["namespace"], "d");
        let next = json!({"metadata": {"name": "other"}});
        assert_eq!(prepare_update(cms, &cur, next, "c").unwrap_err().code, 400);
    }

    #[test]
    fn secret_string_data_is_encoded() {
        let secrets = lookup("", "v1", "secrets").unwrap();
        let o = prepare_create(
            secrets,
            json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}}),
            "d",
            1,
        )
        .unwrap();
        assert_eq!(o["data"]["k"], "dg==");
        assert_eq!(o["type"], "Opaque");
        assert!(o.get("stringData").is_none());
    }
}
