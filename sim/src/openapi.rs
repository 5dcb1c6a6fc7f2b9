//! `/openapi/v3` and `/openapi/v3/{api/v1|apis/G/V}` documents: enough for kubectl's
//! `--validate=strict` (which looks for a PATCH operation carrying
//! `x-kubernetes-group-version-kind` and a `fieldValidation` parameter, then lets the
//! server validate) and for `kubectl explain`-style schema lookups.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::resources::{ResourceType, RESOURCES};

/// The OpenAPI component name upstream uses for a kind.
pub fn schema_name(r: &ResourceType) -> String {
    match r.group {
        "" => format!("io.k8s.api.core.v1.{}", r.kind),
        "apps" => format!("io.k8s.api.apps.v1.{}", r.kind),
        "apiextensions.k8s.io" => format!(
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.{}",
            r.kind
        ),
        g => {
            let rev: Vec<&str> = g.split('.').rev().collect();
            format!("{}.{}.{}", rev.join("."), r.version, r.kind)
        }
    }
}

/// The group-version paths served, e.g. `api/v1`, `apis/apps/v1`.
pub fn gv_paths() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in RESOURCES {
        let p = if r.group.is_empty() {
            format!("api/{}", r.version)
        } else {
            format!("apis/{}/{}", r.group, r.version)
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn param(name: &str, location: &str) -> Value {
    json!({"name": name, "in": location, "schema": {"type": "string", "uniqueItems": true}})
}

fn operation(r: &ResourceType, action: &str, op_id: &str, body: bool, query: &[&str]) -> Value {
    let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let reference = json!({"$ref": format!("#/components/schemas/{}", schema_name(r))});
    let mut params: Vec<Value> = query.iter().map(|q| param(q, "query")).collect();
    params.push(param("pretty", "query"));
    let mut op = json!({
        "operationId": op_id,
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    });
    if body {
        let types: &[&str] = if action == "patch" {
            &[
                "application/apply-patch+yaml",
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
            ]
        } else {
            &["*/*"]
        };
        let mut content = Map::new();
        for t in types {
            content.insert((*t).into(), json!({"schema": {"type": "object"}}));
        }
        op["requestBody"] = json!({"content": content, "required": true});
    }
    op
}

/// The OpenAPI v3 document of one group-version path (`api/v1`, `apis/apps/v1`).
pub fn document(gv_path: &str) -> Option<Value> {
    let rs: Vec<&ResourceType> = RESOURCES
        .iter()
        .filter(|r| {
            let p = if r.group.is_empty() {
                format!("api/{}", r.version)
            } else {
                format!("apis/{}/{}", r.group, r.version)
            };
            p == gv_path
        })
        .collect();
    if rs.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for r in rs {
        let base = format!("/{gv_path}");
        let (collection, item) = if r.namespaced {
            (
                format!("{base}/namespaces/{{namespace}}/{}", r.plural),
                format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural),
            )
        } else {
            (
                format!("{base}/{}", r.plural),
                format!("{base}/{}/{{name}}", r.plural),
            )
        };
        let k = r.kind;
        let write_q = ["dryRun", "fieldManager", "fieldValidation"];
        paths.insert(
            collection,
            json!({
                "get": operation(r, "list", &format!("list{k}"), false,
                    &["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch"]),
                "post": operation(r, "post", &format!("create{k}"), true, &write_q),
                "delete": operation(r, "deletecollection", &format!("deleteCollection{k}"), true, &["labelSelector"]),
            }),
        );
        paths.insert(
            item,
            json!({
                "get": operation(r, "get", &format!("read{k}"), false, &[]),
                "put": operation(r, "put", &format!("replace{k}"), true, &write_q),
                "patch": operation(r, "patch", &format!("patch{k}"), true,
                    &["dryRun", "fieldManager", "fieldValidation", "force"]),
                "delete": operation(r, "delete", &format!("delete{k}"), true, &["dryRun", "propagationPolicy"]),
            }),
        );
        if let Some(mut schema) = crate::schema::kind_schema(r.kind) {
            schema["x-kubernetes-group-version-kind"] =
                json!([{"group": r.group, "version": r.version, "kind": r.kind}]);
            schemas.insert(schema_name(r), schema);
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.4"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// `/openapi/v3`: the index of group-version documents with content hashes.
pub fn index() -> Value {
    let mut paths = Map::new();
    for p in gv_paths() {
        let doc = document(&p).unwrap_or_default();
        let hash = hex::encode_upper(Sha256::digest(doc.to_string().as_bytes()));
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_ops_carry_gvk_and_field_validation() {
        let doc = document("api/v1").unwrap();
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert!(patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        assert!(doc["components"]["schemas"]["io.k8s.api.core.v1.Pod"].is_object());
        let crd = document("apis/stable.example.com/v1").unwrap();
        assert!(crd["components"]["schemas"]["com.example.stable.v1.CronTab"].is_object());
        assert!(document("apis/nope/v1").is_none());
        let idx = index();
        assert!(idx["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .starts_with("/openapi/v3/apis/apps/v1?hash="));
    }
}
