//! OpenAPI v3 schemas for the kinds the sim serves (the fields kubectl users write,
//! not every upstream field), and the strict field validation that walks them:
//! `fieldValidation=Strict` rejects unknown fields exactly as the apiserver's strict
//! decoder words it (`strict decoding error: unknown field "spec.foo"`).

use serde_json::{json, Map, Value};

fn obj(props: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    for (k, v) in props {
        m.insert((*k).to_string(), v.clone());
    }
    json!({"type": "object", "properties": m})
}
fn map_of(v: Value) -> Value {
    json!({"type": "object", "additionalProperties": v})
}
fn arr(v: Value) -> Value {
    json!({"type": "array", "items": v})
}
fn string() -> Value {
    json!({"type": "string"})
}
fn int() -> Value {
    json!({"type": "integer", "format": "int64"})
}
fn boolean() -> Value {
    json!({"type": "boolean"})
}
fn any() -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}
fn any_list() -> Value {
    arr(any())
}
fn int_or_string() -> Value {
    json!({"x-kubernetes-int-or-string": true})
}
fn keyed(list: Value, key: &str) -> Value {
    let mut l = list;
    l["x-kubernetes-patch-merge-key"] = json!(key);
    l["x-kubernetes-patch-strategy"] = json!("merge");
    l["x-kubernetes-list-type"] = json!("map");
    l["x-kubernetes-list-map-keys"] = json!([key]);
    l
}

/// `metav1.ObjectMeta`.
pub fn object_meta() -> Value {
    obj(&[
        ("name", string()),
        ("generateName", string()),
        ("namespace", string()),
        ("labels", map_of(string())),
        ("annotations", map_of(string())),
        ("uid", string()),
        ("resourceVersion", string()),
        ("generation", int()),
        ("creationTimestamp", string()),
        ("deletionTimestamp", string()),
        ("deletionGracePeriodSeconds", int()),
        ("finalizers", arr(string())),
        ("ownerReferences", any_list()),
        ("managedFields", any_list()),
        ("selfLink", string()),
    ])
}

fn container() -> Value {
    obj(&[
        ("name", string()),
        ("image", string()),
        ("command", arr(string())),
        ("args", arr(string())),
        ("workingDir", string()),
        (
            "ports",
            keyed(
                arr(obj(&[
                    ("name", string()),
                    ("containerPort", int()),
                    ("hostPort", int()),
                    ("hostIP", string()),
                    ("protocol", string()),
                ])),
                "containerPort",
            ),
        ),
        ("envFrom", any_list()),
        (
            "env",
            keyed(
                arr(obj(&[
                    ("name", string()),
                    ("value", string()),
                    ("valueFrom", any()),
                ])),
                "name",
            ),
        ),
        ("resources", any()),
        ("resizePolicy", any_list()),
        ("restartPolicy", string()),
        (
            "volumeMounts",
            keyed(
                arr(obj(&[
                    ("name", string()),
                    ("mountPath", string()),
                    ("readOnly", boolean()),
                    ("subPath", string()),
                    ("subPathExpr", string()),
                    ("mountPropagation", string()),
                    ("recursiveReadOnly", string()),
                ])),
                "mountPath",
            ),
        ),
        ("volumeDevices", any_list()),
        ("livenessProbe", any()),
        ("readinessProbe", any()),
        ("startupProbe", any()),
        ("lifecycle", any()),
        ("terminationMessagePath", string()),
        ("terminationMessagePolicy", string()),
        ("imagePullPolicy", string()),
        ("securityContext", any()),
        ("stdin", boolean()),
        ("stdinOnce", boolean()),
        ("tty", boolean()),
    ])
}

/// `core/v1.PodSpec`.
pub fn pod_spec() -> Value {
    let mut props = vec![
        ("containers", keyed(arr(container()), "name")),
        ("initContainers", keyed(arr(container()), "name")),
        ("ephemeralContainers", keyed(any_list(), "name")),
        ("volumes", keyed(any_list(), "name")),
        (
            "imagePullSecrets",
            keyed(arr(obj(&[("name", string())])), "name"),
        ),
        ("nodeSelector", map_of(string())),
    ];
    for s in [
        "restartPolicy",
        "dnsPolicy",
        "serviceAccountName",
        "serviceAccount",
        "nodeName",
        "hostname",
        "subdomain",
        "schedulerName",
        "priorityClassName",
        "runtimeClassName",
        "preemptionPolicy",
    ] {
        props.push((s, string()));
    }
    for i in [
        "terminationGracePeriodSeconds",
        "activeDeadlineSeconds",
        "priority",
    ] {
        props.push((i, int()));
    }
    for b in [
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "shareProcessNamespace",
        "automountServiceAccountToken",
        "enableServiceLinks",
        "setHostnameAsFQDN",
        "hostUsers",
    ] {
        props.push((b, boolean()));
    }
    for a in [
        "securityContext",
        "affinity",
        "dnsConfig",
        "overhead",
        "os",
        "resources",
    ] {
        props.push((a, any()));
    }
    for l in [
        "tolerations",
        "hostAliases",
        "readinessGates",
        "topologySpreadConstraints",
        "schedulingGates",
        "resourceClaims",
    ] {
        props.push((l, any_list()));
    }
    obj(&props)
}

fn service_spec() -> Value {
    obj(&[
        ("type", string()),
        ("clusterIP", string()),
        ("clusterIPs", arr(string())),
        (
            "ports",
            keyed(
                arr(obj(&[
                    ("name", string()),
                    ("protocol", string()),
                    ("appProtocol", string()),
                    ("port", int()),
                    ("targetPort", int_or_string()),
                    ("nodePort", int()),
                ])),
                "port",
            ),
        ),
        ("selector", map_of(string())),
        ("externalIPs", arr(string())),
        ("sessionAffinity", string()),
        ("sessionAffinityConfig", any()),
        ("loadBalancerIP", string()),
        ("loadBalancerSourceRanges", arr(string())),
        ("loadBalancerClass", string()),
        ("externalName", string()),
        ("externalTrafficPolicy", string()),
        ("internalTrafficPolicy", string()),
        ("healthCheckNodePort", int()),
        ("publishNotReadyAddresses", boolean()),
        ("ipFamilies", arr(string())),
        ("ipFamilyPolicy", string()),
        ("allocateLoadBalancerNodePorts", boolean()),
        ("trafficDistribution", string()),
    ])
}

fn deployment_spec() -> Value {
    obj(&[
        ("replicas", int()),
        ("selector", any()),
        (
            "template",
            obj(&[("metadata", object_meta()), ("spec", pod_spec())]),
        ),
        ("strategy", any()),
        ("minReadySeconds", int()),
        ("revisionHistoryLimit", int()),
        ("paused", boolean()),
        ("progressDeadlineSeconds", int()),
    ])
}

/// The full schema of a kind (None for kinds the sim doesn't know).
pub fn kind_schema(kind: &str) -> Option<Value> {
    let base = |extra: &[(&str, Value)]| {
        let mut props = vec![
            ("apiVersion", string()),
            ("kind", string()),
            ("metadata", object_meta()),
        ];
        props.extend(extra.iter().cloned());
        obj(&props)
    };
    Some(match kind {
        "Pod" => base(&[("spec", pod_spec()), ("status", any())]),
        "Service" => base(&[("spec", service_spec()), ("status", any())]),
        "Deployment" => base(&[("spec", deployment_spec()), ("status", any())]),
        "Namespace" => base(&[
            ("spec", obj(&[("finalizers", arr(string()))])),
            ("status", any()),
        ]),
        "ConfigMap" => base(&[
            ("data", map_of(string())),
            ("binaryData", map_of(string())),
            ("immutable", boolean()),
        ]),
        "Secret" => base(&[
            ("data", map_of(string())),
            ("stringData", map_of(string())),
            ("type", string()),
            ("immutable", boolean()),
        ]),
        "CronTab" => base(&[(
            "spec",
            obj(&[
                ("cronSpec", string()),
                ("image", string()),
                ("replicas", int()),
            ]),
        )]),
        "Event" | "CustomResourceDefinition" => {
            let mut s = base(&[("spec", any()), ("status", any())]);
            s["x-kubernetes-preserve-unknown-fields"] = json!(true);
            s
        }
        _ => return None,
    })
}

fn walk(value: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    if schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
        && schema.get("properties").is_none()
    {
        return;
    }
    match value {
        Value::Object(m) => {
            let join = |k: &str| {
                if path.is_empty() {
                    k.to_string()
                } else {
                    format!("{path}.{k}")
                }
            };
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                let preserve = schema
                    .get("x-kubernetes-preserve-unknown-fields")
                    .and_then(Value::as_bool)
                    == Some(true);
                // `$patch`, `$setElementOrder/..` etc. are strategic-merge directives.
                for (k, v) in m.iter().filter(|(k, _)| !k.starts_with('$')) {
                    match props.get(k) {
                        Some(s) => walk(v, s, &join(k), out),
                        None if preserve => {}
                        None => out.push(format!("unknown field \"{}\"", join(k))),
                    }
                }
            } else if let Some(ap) = schema.get("additionalProperties") {
                for (k, v) in m {
                    walk(v, ap, &join(k), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(v, item_schema, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Unknown fields of an object under the schema of `kind`, as the strict decoder
/// lists them (`unknown field "spec.foo"`), in document order.
pub fn unknown_fields(kind: &str, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(schema) = kind_schema(kind) {
        walk(obj, &schema, "", &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_unknown_fields_with_paths() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"a": "b"}, "bogus": 1},
            "spec": {"foo": 1, "containers": [{"name": "main", "image": "busybox", "imagee": "x"}]}
        });
        assert_eq!(
            unknown_fields("Pod", &pod),
            vec![
                "unknown field \"metadata.bogus\"",
                "unknown field \"spec.containers[0].imagee\"",
                "unknown field \"spec.foo\"",
            ]
        );
    }

    #[test]
    fn known_and_preserved_fields_pass() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "x"}},
                     "template": {"metadata": {"labels": {"app": "x"}},
                                  "spec": {"containers": [{"name": "c", "image": "i",
                                           "resources": {"limits": {"cpu": "1"}}}]}}}});
        assert!(unknown_fields("Deployment", &d).is_empty());
        let ev = json!({"kind": "Event", "anything": {"goes": 1}});
        assert!(unknown_fields("Event", &ev).is_empty());
        assert!(unknown_fields("Unknown", &ev).is_empty());
        let cm = json!({"kind": "ConfigMap", "data": {"k": "v"}, "extra": 1});
        assert_eq!(
            unknown_fields("ConfigMap", &cm),
            vec!["unknown field \"extra\""]
        );
    }
}
