//! Resource verbs: get, list, create, update, patch, delete, deletecollection (watch
//! is in `watch.rs`). Each handler returns the apiserver's status codes and bodies.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::api::{success_status, ApiError, ApiResult, GroupResource};
use crate::http::{self, Body};
use crate::negotiate::{Output, TABLE_CONTENT_TYPE};
use crate::objects;
use crate::patch::{self, PatchType};
use crate::requestinfo::Query;
use crate::resources::{lookup, ResourceType};
use crate::selector::{FieldSelector, LabelSelector};
use crate::state::Sim;
use crate::store::{Key, Mutation};
use crate::table::{self, IncludeObject};

/// Largest request body accepted (the apiserver's default is 3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// One resource request after routing.
pub struct Call<'a> {
    pub sim: &'a Arc<Sim>,
    pub rt: &'static ResourceType,
    /// The request namespace ("" = all namespaces / cluster scope).
    pub namespace: String,
    pub name: String,
    pub query: &'a Query,
    pub output: Output,
}

pub async fn read_body(req: Request<Incoming>) -> ApiResult<(HeaderMap, Bytes)> {
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| ApiError::new(413, "RequestEntityTooLarge", &format!("reading body: {e}")))?
        .to_bytes();
    Ok((parts.headers, bytes))
}

pub fn decode_object(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    let ct = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if ct.contains("protobuf") {
        return crate::proto::decode(body).map_err(|e| {
            let mut err = ApiError::unsupported_media_type(ct);
            err.message = e;
            err
        });
    }
    if ct.contains("yaml") {
        return serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(&format!("error decoding YAML: {e}")));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(&format!("couldn't get version/kind; json parse error: {e}"))
    })
}

fn is_dry_run(query: &Query) -> bool {
    query.all("dryRun").contains(&"All")
}

/// `fieldValidation`: Strict rejects unknown fields, Warn (the default) reports them
/// in `Warning` headers, Ignore drops them silently.
fn field_validation(rt: &ResourceType, query: &Query, obj: &Value) -> ApiResult<Vec<String>> {
    let unknown = crate::schema::unknown_fields(rt.kind, obj);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    match query.get("fieldValidation").unwrap_or("Warn") {
        "Strict" => Err(ApiError::bad_request(&format!(
            "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
            rt.kind,
            rt.version,
            rt.kind,
            unknown.join(", ")
        ))),
        "Ignore" => Ok(Vec::new()),
        "Warn" => Ok(unknown),
        other => Err(ApiError::bad_request(&format!(
            "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
        ))),
    }
}

/// Serializes one object in the negotiated output.
pub fn object_response(
    call: &Call<'_>,
    code: StatusCode,
    obj: &Value,
) -> ApiResult<Response<Body>> {
    Ok(match call.output {
        Output::Table => {
            let include = IncludeObject::parse(call.query.get("includeObject"))
                .map_err(|e| ApiError::bad_request(&e))?;
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(json!(""));
            let t = table::table(
                call.rt.kind,
                &[obj],
                include,
                json!({"resourceVersion": rv}),
                true,
            );
            http::response(code, TABLE_CONTENT_TYPE, t.to_string())
        }
        Output::PartialObjectMetadata | Output::PartialObjectMetadataList => http::response(
            code,
            "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
            table::partial_metadata(obj).to_string(),
        ),
        _ => http::response(
            code,
            "application/json",
            serde_json::to_vec(obj).unwrap_or_default(),
        ),
    })
}

fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(v) = text.parse() {
            resp.headers_mut().append(hyper::header::WARNING, v);
        }
    }
    resp
}

pub fn get(call: &Call<'_>) -> ApiResult<Response<Body>> {
    let obj = call
        .sim
        .store
        .get(call.rt, &call.namespace, &call.name)
        .ok_or_else(|| ApiError::not_found(&call.rt.group_resource(), &call.name))?;
    object_response(call, StatusCode::OK, &obj)
}

/// The opaque `continue` token: base64 of `{"rv":N,"ns":..,"name":..}`.
pub fn encode_continue(rv: u64, key: &Key) -> String {
    let raw = json!({"v": "meta.k8s.io/v1", "rv": rv, "ns": key.0, "name": key.1}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub fn decode_continue(token: &str) -> Result<(u64, Key), String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|e| format!("continue key is not valid: {e}"))?;
    let v: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("continue key is not valid: {e}"))?;
    let rv = v["rv"].as_u64().ok_or("continue key is not valid: no rv")?;
    let ns = v["ns"].as_str().ok_or("continue key is not valid: no ns")?;
    let name = v["name"]
        .as_str()
        .ok_or("continue key is not valid: no name")?;
    Ok((rv, (ns.to_string(), name.to_string())))
}

/// Parses label and field selectors of a list/watch.
pub fn selectors(rt: &ResourceType, query: &Query) -> ApiResult<(LabelSelector, FieldSelector)> {
    let ls = LabelSelector::parse(query.get("labelSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(&e))?;
    let fs = FieldSelector::parse(query.get("fieldSelector").unwrap_or(""), rt.kind)
        .map_err(|e| ApiError::bad_request(&e))?;
    Ok((ls, fs))
}

pub fn list(call: &Call<'_>) -> ApiResult<Response<Body>> {
    let (ls, fs) = selectors(call.rt, call.query)?;
    let limit: usize = match call.query.get("limit") {
        None | Some("") => 0,
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(&format!("limit: Invalid value: \"{l}\"")))?
            .max(0) as usize,
    };
    let rv_param = call.query.get("resourceVersion").unwrap_or("");
    let rv_match = call.query.get("resourceVersionMatch").unwrap_or("");
    if !rv_match.is_empty() && rv_param.is_empty() {
        return Err(ApiError::bad_request(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        ));
    }
    let current = call.sim.store.current_rv();
    if !rv_param.is_empty() && rv_param != "0" {
        let want: u64 = rv_param.parse().map_err(|_| {
            ApiError::bad_request(&format!(
                "resourceVersion: Invalid value: \"{rv_param}\": must be a valid resourceVersion"
            ))
        })?;
        if want > current {
            return Err(ApiError::new(
                504,
                "Timeout",
                &format!("Too large resource version: {want}, current: {current}"),
            ));
        }
        if rv_match == "Exact" && want != current {
            return Err(ApiError::expired(&format!(
                "too old resource version: {want} ({current})"
            )));
        }
    }
    let after = match call.query.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => Some(decode_continue(token).map_err(|e| ApiError::bad_request(&e))?),
        None => None,
    };
    let ns = (!call.namespace.is_empty()).then_some(call.namespace.as_str());
    let filter = |o: &Value| ls.matches_object(o) && fs.matches_object(o);
    let page = call
        .sim
        .store
        .list(call.rt, ns, after.as_ref().map(|(_, k)| k), limit, &filter);
    let list_rv = after.as_ref().map_or(page.rv, |(rv, _)| *rv);
    let mut meta = json!({"resourceVersion": list_rv.to_string()});
    if let Some(next) = &page.next {
        meta["continue"] = json!(encode_continue(list_rv, next));
        meta["remainingItemCount"] = json!(page.remaining);
    }
    Ok(match call.output {
        Output::Table => {
            let include = IncludeObject::parse(call.query.get("includeObject"))
                .map_err(|e| ApiError::bad_request(&e))?;
            let objs: Vec<&Value> = page.items.iter().map(|a| a.as_ref()).collect();
            let t = table::table(call.rt.kind, &objs, include, meta, true);
            http::response(StatusCode::OK, TABLE_CONTENT_TYPE, t.to_string())
        }
        Output::PartialObjectMetadata | Output::PartialObjectMetadataList => {
            let items: Vec<Value> = page
                .items
                .iter()
                .map(|o| table::partial_metadata(o))
                .collect();
            let l = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items});
            http::response(
                StatusCode::OK,
                "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
                l.to_string(),
            )
        }
        _ => {
            // Written by hand so a 10,000-item list is serialized once, without
            // building an intermediate Value.
            let mut out = Vec::with_capacity(page.items.len() * 1024 + 256);
            out.extend_from_slice(
                format!(
                    "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
                    call.rt.kind,
                    call.rt.api_version(),
                    meta
                )
                .as_bytes(),
            );
            for (i, item) in page.items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, item.as_ref())
                    .map_err(|e| ApiError::internal(&e.to_string()))?;
            }
            out.extend_from_slice(b"]}");
            http::response(StatusCode::OK, "application/json", out)
        }
    })
}

fn namespace_must_exist(sim: &Sim, rt: &ResourceType, ns: &str) -> ApiResult<()> {
    if !rt.namespaced {
        return Ok(());
    }
    let nsrt = lookup("", "v1", "namespaces").expect("namespaces are served");
    if sim.store.get(nsrt, "", ns).is_none() {
        return Err(ApiError::not_found(
            &GroupResource::new("", "namespaces"),
            ns,
        ));
    }
    Ok(())
}

pub async fn create(call: &Call<'_>, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let (headers, body) = read_body(req).await?;
    let obj = decode_object(&headers, &body)?;
    let warnings = field_validation(call.rt, call.query, &obj)?;
    namespace_must_exist(call.sim, call.rt, &call.namespace)?;
    let obj = objects::prepare_create(call.rt, obj, &call.namespace, call.sim.next_seq())?;
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let gr = call.rt.group_resource();
    let (stored, _) = call.sim.store.mutate(
        call.rt,
        &call.namespace,
        &name,
        is_dry_run(call.query),
        |cur| match cur {
            Some(_) => Err(ApiError::already_exists(&gr, &name)),
            None => Ok(Mutation::Put(obj)),
        },
    )?;
    Ok(with_warnings(
        object_response(call, StatusCode::CREATED, &stored)?,
        &warnings,
    ))
}

pub async fn update(call: &Call<'_>, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let (headers, body) = read_body(req).await?;
    let obj = decode_object(&headers, &body)?;
    let warnings = field_validation(call.rt, call.query, &obj)?;
    let gr = call.rt.group_resource();
    let (stored, _) = call.sim.store.mutate(
        call.rt,
        &call.namespace,
        &call.name,
        is_dry_run(call.query),
        |cur| {
            let cur = cur.ok_or_else(|| ApiError::not_found(&gr, &call.name))?;
            Ok(Mutation::Put(objects::prepare_update(
                call.rt, cur, obj, &call.name,
            )?))
        },
    )?;
    Ok(with_warnings(
        object_response(call, StatusCode::OK, &stored)?,
        &warnings,
    ))
}

pub async fn patch(call: &Call<'_>, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let (headers, body) = read_body(req).await?;
    let ct = headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let ptype =
        PatchType::from_content_type(&ct).ok_or_else(|| ApiError::unsupported_media_type(&ct))?;
    let patch_doc: Value = if ptype == PatchType::Apply {
        serde_yaml::from_slice(&body)
            .map_err(|e| ApiError::bad_request(&format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(&format!("error decoding patch: {e}")))?
    };
    if ptype != PatchType::Json {
        // Strict validation applies to the fields a patch sets.
        field_validation(call.rt, call.query, &patch_doc)?;
    }
    let gr = call.rt.group_resource();
    let seq = call.sim.next_seq();
    if ptype == PatchType::Apply {
        namespace_must_exist(call.sim, call.rt, &call.namespace)?;
    }
    let (stored, kind) = call.sim.store.mutate(
        call.rt,
        &call.namespace,
        &call.name,
        is_dry_run(call.query),
        |cur| {
            let Some(cur) = cur else {
                if ptype == PatchType::Apply {
                    // Server-side apply creates missing objects.
                    let mut obj = patch_doc.clone();
                    obj["metadata"]["name"] = json!(call.name);
                    return Ok(Mutation::Put(objects::prepare_create(
                        call.rt,
                        obj,
                        &call.namespace,
                        seq,
                    )?));
                }
                return Err(ApiError::not_found(&gr, &call.name));
            };
            let patched = match ptype {
                PatchType::Merge | PatchType::Apply => patch::merge_patch(cur, &patch_doc),
                PatchType::Json => patch::json_patch(cur, &patch_doc).map_err(|e| {
                    ApiError::new(
                        422,
                        "Invalid",
                        &format!(
                            "the server rejected our request due to an error in our request: {e}"
                        ),
                    )
                })?,
                PatchType::Strategic => patch::strategic_merge_patch(cur, &patch_doc)
                    .map_err(|e| ApiError::bad_request(&e))?,
            };
            // The RV in a patch is a precondition only when the patch sets it.
            let mut next = patched;
            let patch_rv = patch_doc.pointer("/metadata/resourceVersion").cloned();
            match patch_rv {
                Some(rv) => next["metadata"]["resourceVersion"] = rv,
                None => {
                    if let Some(m) = next.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove("resourceVersion");
                    }
                }
            }
            Ok(Mutation::Put(objects::prepare_update(
                call.rt, cur, next, &call.name,
            )?))
        },
    )?;
    let code = if kind == crate::store::EventType::Added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    object_response(call, code, &stored)
}

/// Reads DeleteOptions (body or query) for dryRun and preconditions.
fn delete_options(body: &[u8], query: &Query) -> ApiResult<(bool, Option<String>, Option<String>)> {
    let opts: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(&format!("error decoding DeleteOptions: {e}")))?
    };
    let dry = is_dry_run(query)
        || opts["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    if let Some(p) = opts["propagationPolicy"]
        .as_str()
        .or(query.get("propagationPolicy"))
    {
        if !matches!(p, "Orphan" | "Background" | "Foreground") {
            return Err(ApiError::bad_request(&format!(
                "propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            )));
        }
    }
    let uid = opts
        .pointer("/preconditions/uid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let rv = opts
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok((dry, uid, rv))
}

/// Deletes every namespaced object in a deleted namespace (done at once; a real
/// cluster goes through Terminating first).
fn cascade_namespace(sim: &Sim, ns: &str) {
    for rt in crate::resources::RESOURCES.iter().filter(|r| r.namespaced) {
        for (k_ns, name) in sim.store.keys(rt, Some(ns)) {
            let _ = sim
                .store
                .mutate(rt, &k_ns, &name, false, |_| Ok(Mutation::Delete));
        }
    }
}

pub async fn delete(call: &Call<'_>, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let (_, body) = read_body(req).await?;
    let (dry, uid, rv) = delete_options(&body, call.query)?;
    let gr = call.rt.group_resource();
    let (deleted, _) = call.sim.store.mutate(call.rt, &call.namespace, &call.name, dry, |cur| {
        let cur = cur.ok_or_else(|| ApiError::not_found(&gr, &call.name))?;
        let cur_uid = cur.pointer("/metadata/uid").and_then(Value::as_str);
        if let Some(u) = &uid {
            if Some(u.as_str()) != cur_uid {
                return Err(ApiError::conflict(&gr, &call.name, &format!(
                    "Precondition failed: UID in precondition: {u}, UID in object meta: {}",
                    cur_uid.unwrap_or("")
                )));
            }
        }
        let cur_rv = cur.pointer("/metadata/resourceVersion").and_then(Value::as_str);
        if let Some(r) = &rv {
            if Some(r.as_str()) != cur_rv {
                return Err(ApiError::conflict(&gr, &call.name, &format!(
                    "Precondition failed: ResourceVersion in precondition: {r}, ResourceVersion in object meta: {}",
                    cur_rv.unwrap_or("")
                )));
            }
        }
        Ok(Mutation::Delete)
    })?;
    if call.rt.kind == "Namespace" && !dry {
        cascade_namespace(call.sim, &call.name);
    }
    if call.rt.kind == "Pod" && !dry {
        // Stop the pod's main process and heartbeat, and drop its files.
        crate::streams::pod_deleted(&call.sim.data_dir, &call.namespace, &call.name);
    }
    let uid = deleted
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut status = success_status(Some((&call.name, call.rt.group, call.rt.plural)));
    status["details"]["uid"] = json!(uid);
    Ok(http::json(StatusCode::OK, &status))
}

pub async fn delete_collection(
    call: &Call<'_>,
    req: Request<Incoming>,
) -> ApiResult<Response<Body>> {
    let (_, body) = read_body(req).await?;
    let (dry, _, _) = delete_options(&body, call.query)?;
    let (ls, fs) = selectors(call.rt, call.query)?;
    let ns = (!call.namespace.is_empty()).then_some(call.namespace.as_str());
    let filter = |o: &Value| ls.matches_object(o) && fs.matches_object(o);
    let page = call.sim.store.list(call.rt, ns, None, 0, &filter);
    let mut items = Vec::new();
    for obj in &page.items {
        let (k_ns, name) = crate::store::key_of(obj);
        if let Ok((d, _)) = call.sim.store.mutate(call.rt, &k_ns, &name, dry, |c| {
            c.map(|_| Mutation::Delete)
                .ok_or_else(|| ApiError::not_found(&call.rt.group_resource(), &name))
        }) {
            if call.rt.kind == "Namespace" && !dry {
                cascade_namespace(call.sim, &name);
            }
            if call.rt.kind == "Pod" && !dry {
                crate::streams::pod_deleted(&call.sim.data_dir, &k_ns, &name);
            }
            items.push((*d).clone());
        }
    }
    let list = json!({
        "kind": format!("{}List", call.rt.kind),
        "apiVersion": call.rt.api_version(),
        "metadata": {"resourceVersion": call.sim.store.current_rv().to_string()},
        "items": items,
    });
    Ok(http::json(StatusCode::OK, &list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_roundtrip_and_reject_garbage() {
        let key = ("david".to_string(), "david-2".to_string());
        let t = encode_continue(42, &key);
        assert_eq!(decode_continue(&t).unwrap(), (42, key));
        assert!(decode_continue("!!!").is_err());
        let not_json = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("x");
        assert!(decode_continue(&not_json).is_err());
        let no_rv =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"ns":"a","name":"b"}"#);
        assert!(decode_continue(&no_rv).is_err());
    }
}
