//! Server-side printing: `meta.k8s.io/v1` Table responses with the columns upstream's
//! `pkg/printers/internalversion/printers.go` defines for each kind (priority-1
//! columns are the `-o wide` ones), and `PartialObjectMetadata` projections.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// `includeObject` of a Table request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: Option<&str>) -> Result<IncludeObject, String> {
        match s {
            None | Some("") | Some("Metadata") => Ok(IncludeObject::Metadata),
            Some("None") => Ok(IncludeObject::None),
            Some("Object") => Ok(IncludeObject::Object),
            Some(other) => Err(format!(
                "includeObject: Unsupported value: \"{other}\": supported values: \"Metadata\", \"None\", \"Object\""
            )),
        }
    }
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

fn col(name: &str, ty: &str, format: &str, desc: &str, priority: i32) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": desc, "priority": priority})
}

/// The column definitions for a kind.
pub fn columns(kind: &str) -> Vec<Value> {
    let name = col("Name", "string", "name", NAME_DESC, 0);
    let age = col("Age", "string", "", AGE_DESC, 0);
    match kind {
        "Pod" => vec![
            name,
            col("Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0),
            col("Status", "string", "", "The aggregate status of the containers in this pod.", 0),
            col("Restarts", "string", "", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", 0),
            age,
            col("IP", "string", "", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", 1),
            col("Node", "string", "", "NodeName indicates in which node this pod is scheduled.", 1),
            col("Nominated Node", "string", "", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.", 1),
            col("Readiness Gates", "string", "", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
        ],
        "Namespace" => vec![
            name,
            col("Status", "string", "", "The status of the namespace", 0),
            age,
        ],
        "Service" => vec![
            name,
            col("Type", "string", "", "type determines how the Service is exposed.", 0),
            col("Cluster-IP", "string", "", "clusterIP is the IP address of the service and is usually assigned randomly.", 0),
            col("External-IP", "string", "", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.", 0),
            col("Port(s)", "string", "", "The list of ports that are exposed by this service.", 0),
            age,
            col("Selector", "string", "", "Route service traffic to pods with label keys and values matching this selector.", 1),
        ],
        "ConfigMap" => vec![
            name,
            col("Data", "integer", "", "Data contains the configuration data.", 0),
            age,
        ],
        "Secret" => vec![
            name,
            col("Type", "string", "", "The type of the secret.", 0),
            col("Data", "integer", "", "Data contains the secret data.", 0),
            age,
        ],
        "Deployment" => vec![
            name,
            col("Ready", "string", "", "Number of the pod with ready state", 0),
            col("Up-to-date", "integer", "", "Total number of non-terminated pods targeted by this deployment that have the desired template spec.", 0),
            col("Available", "integer", "", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.", 0),
            age,
            col("Containers", "string", "", "Names of each container in the template.", 1),
            col("Images", "string", "", "Images referenced by each container in the template.", 1),
            col("Selector", "string", "", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.", 1),
        ],
        "Event" => vec![
            col("Last Seen", "string", "", "The last time that this event occurred.", 0),
            col("Type", "string", "", "Type of this event (Normal, Warning), new types could be added in the future.", 0),
            col("Reason", "string", "", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.", 0),
            col("Object", "string", "", "The object that this event is about.", 0),
            col("Subobject", "string", "", "The subobject that this event is about.", 1),
            col("Source", "string", "", "The component reporting this event.", 1),
            col("Message", "string", "", "A human-readable description of the status of this operation.", 0),
            col("First Seen", "string", "", "The time at which the event was first recorded.", 1),
            col("Count", "string", "", "The number of times this event has occurred.", 1),
            col("Name", "string", "name", NAME_DESC, 1),
        ],
        // The apiserver's default table convertor (no printer registered).
        "CustomResourceDefinition" => vec![
            name,
            col("Created At", "date", "", AGE_DESC, 0),
        ],
        // Custom resources without additionalPrinterColumns get NAME and AGE.
        _ => vec![name, col("Age", "date", "", AGE_DESC, 0)],
    }
}

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{}h", hours / 24, h)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{}d", hours / 24 / 365, dy)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn age(ts: Option<&str>, now: DateTime<Utc>) -> String {
    match ts.and_then(|t| DateTime::parse_from_rfc3339(t).ok()) {
        Some(t) => human_duration((now - t.with_timezone(&Utc)).num_seconds()),
        None => "<unknown>".into(),
    }
}

fn s<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn or_none(v: &str) -> String {
    if v.is_empty() {
        "<none>".into()
    } else {
        v.to_string()
    }
}

fn count(obj: &Value, ptr: &str) -> usize {
    obj.pointer(ptr)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

fn format_selector(sel: Option<&Value>) -> String {
    let pairs: Vec<String> = sel
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

fn pod_cells(p: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let empty = vec![];
    let containers = p
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let statuses = p
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let ready = statuses.iter().filter(|c| c["ready"] == true).count();
    let restarts: i64 = statuses
        .iter()
        .filter_map(|c| c["restartCount"].as_i64())
        .sum();
    let mut reason = s(p, "/status/reason").to_string();
    if reason.is_empty() {
        reason = s(p, "/status/phase").to_string();
    }
    for c in statuses {
        if let Some(r) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
            reason = r.to_string();
        } else if let Some(r) = c
            .pointer("/state/terminated/reason")
            .and_then(Value::as_str)
        {
            reason = r.to_string();
        }
    }
    if p.pointer("/metadata/deletionTimestamp").is_some() {
        reason = "Terminating".into();
    }
    let ip = p
        .pointer("/status/podIPs/0/ip")
        .and_then(Value::as_str)
        .unwrap_or_else(|| s(p, "/status/podIP"));
    let gates = p
        .pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .filter(|g| !g.is_empty())
        .map(|g| format!("0/{}", g.len()))
        .unwrap_or_else(|| "<none>".into());
    vec![
        json!(s(p, "/metadata/name")),
        json!(format!("{ready}/{}", containers.len())),
        json!(reason),
        json!(restarts.to_string()),
        json!(age(
            p.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str),
            now
        )),
        json!(or_none(ip)),
        json!(or_none(s(p, "/spec/nodeName"))),
        json!(or_none(s(p, "/status/nominatedNodeName"))),
        json!(gates),
    ]
}

fn service_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ty = match s(o, "/spec/type") {
        "" => "ClusterIP",
        t => t,
    };
    let external = match o.pointer("/spec/externalIPs").and_then(Value::as_array) {
        Some(ips) if !ips.is_empty() => ips
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        _ if ty == "LoadBalancer" => "<pending>".into(),
        _ => "<none>".into(),
    };
    let ports: Vec<String> = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let proto = p["protocol"].as_str().unwrap_or("TCP");
                    match p["nodePort"].as_i64() {
                        Some(np) => format!("{}:{np}/{proto}", p["port"]),
                        None => format!("{}/{proto}", p["port"]),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    vec![
        json!(s(o, "/metadata/name")),
        json!(ty),
        json!(or_none(s(o, "/spec/clusterIP"))),
        json!(external),
        json!(if ports.is_empty() {
            "<none>".to_string()
        } else {
            ports.join(",")
        }),
        json!(age(
            o.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str),
            now
        )),
        json!(format_selector(o.pointer("/spec/selector"))),
    ]
}

fn deployment_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let empty = vec![];
    let containers = o
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let images: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["image"].as_str())
        .collect();
    let n = |p: &str| o.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let desired = o
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    vec![
        json!(s(o, "/metadata/name")),
        json!(format!("{}/{desired}", n("/status/readyReplicas"))),
        json!(n("/status/updatedReplicas")),
        json!(n("/status/availableReplicas")),
        json!(age(
            o.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str),
            now
        )),
        json!(names.join(",")),
        json!(images.join(",")),
        json!(format_selector(o.pointer("/spec/selector/matchLabels"))),
    ]
}

fn event_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let last = o
        .pointer("/lastTimestamp")
        .and_then(Value::as_str)
        .or_else(|| o.pointer("/eventTime").and_then(Value::as_str));
    let object = format!(
        "{}/{}",
        s(o, "/involvedObject/kind").to_lowercase(),
        s(o, "/involvedObject/name")
    );
    vec![
        json!(age(last, now)),
        json!(s(o, "/type")),
        json!(s(o, "/reason")),
        json!(object),
        json!(s(o, "/involvedObject/fieldPath")),
        json!(s(o, "/source/component")),
        json!(s(o, "/message")),
        json!(age(
            o.pointer("/firstTimestamp").and_then(Value::as_str),
            now
        )),
        json!(o["count"].as_i64().unwrap_or(1).to_string()),
        json!(s(o, "/metadata/name")),
    ]
}

/// The cells of one row.
pub fn cells(kind: &str, o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let created = o
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str);
    match kind {
        "Pod" => pod_cells(o, now),
        "Namespace" => vec![
            json!(s(o, "/metadata/name")),
            json!(s(o, "/status/phase")),
            json!(age(created, now)),
        ],
        "Service" => service_cells(o, now),
        "ConfigMap" => vec![
            json!(s(o, "/metadata/name")),
            json!(count(o, "/data") + count(o, "/binaryData")),
            json!(age(created, now)),
        ],
        "Secret" => vec![
            json!(s(o, "/metadata/name")),
            json!(s(o, "/type")),
            json!(count(o, "/data")),
            json!(age(created, now)),
        ],
        "Deployment" => deployment_cells(o, now),
        "Event" => event_cells(o, now),
        "CustomResourceDefinition" => vec![json!(s(o, "/metadata/name")), json!(created)],
        // Custom resources: the apiextensions table convertor renders `date`
        // columns as a human-readable age.
        _ => vec![json!(s(o, "/metadata/name")), json!(age(created, now))],
    }
}

/// `PartialObjectMetadata` for an object.
pub fn partial_metadata(o: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// One Table row.
pub fn row(kind: &str, o: &Value, include: IncludeObject, now: DateTime<Utc>) -> Value {
    let mut r = json!({"cells": cells(kind, o, now)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => r["object"] = partial_metadata(o),
        IncludeObject::Object => r["object"] = o.clone(),
    }
    r
}

/// A whole Table; `with_columns = false` gives `columnDefinitions: null` (watch events
/// after the first).
pub fn table(
    kind: &str,
    objs: &[&Value],
    include: IncludeObject,
    list_meta: Value,
    with_columns: bool,
) -> Value {
    let now = Utc::now();
    let rows: Vec<Value> = objs.iter().map(|o| row(kind, o, include, now)).collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": if with_columns { Value::Array(columns(kind)) } else { Value::Null },
        "rows": rows,
    })
}

#[cfg(test)]
mod tests;
