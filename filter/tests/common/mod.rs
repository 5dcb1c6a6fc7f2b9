//! Builders of realistic list, Table and watch bodies for the tests and
//! the bench (shapes as kube-apiserver emits them).
#![allow(dead_code)]

use serde_json::{json, Value};

pub fn pod(ns: &str, name: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
                     "resourceVersion": "42", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
        "status": {"phase": "Running"}
    })
}

pub fn pod_list(items: &[Value]) -> Value {
    json!({"kind": "PodList", "apiVersion": "v1",
           "metadata": {"resourceVersion": "100", "continue": "tok", "remainingItemCount": 7},
           "items": items})
}

pub fn table(items: &[Value]) -> Value {
    let rows: Vec<Value> = items
        .iter()
        .map(|p| {
            json!({"cells": [p["metadata"]["name"], "1/1", "Running", 0, "5m"],
                        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                   "metadata": p["metadata"]}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1",
           "metadata": {"resourceVersion": "100"},
           "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0},
                                 {"name": "Ready", "type": "string", "format": "", "description": "", "priority": 0},
                                 {"name": "Status", "type": "string", "format": "", "description": "", "priority": 0},
                                 {"name": "Restarts", "type": "integer", "format": "", "description": "", "priority": 0},
                                 {"name": "Age", "type": "string", "format": "", "description": "", "priority": 0}],
           "rows": rows})
}

pub fn names_in(body: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(body).expect("output is JSON");
    let (arr, rows) = match v.get("items") {
        Some(a) => (a, false),
        None => (&v["rows"], true),
    };
    arr.as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let i = if rows { &i["object"] } else { i };
            i["metadata"]["name"].as_str().unwrap().to_owned()
        })
        .collect()
}
