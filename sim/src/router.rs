//! The request pipeline: authenticate, impersonate, attribute, authorize, dispatch,
//! and append the request-log record.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use crate::api::{ApiError, ApiResult, GroupResource};
use crate::auth::{self, UserInfo};
use crate::discovery;
use crate::handlers::{self, Call};
use crate::http::{self, Body};
use crate::negotiate::{negotiate, Output};
use crate::rbac::{forbidden_reason, Attributes};
use crate::reqlog::{fingerprint_authorization, RequestRecord};
use crate::requestinfo::{attribute, Query, RequestInfo};
use crate::resources::lookup;
use crate::state::Sim;

/// What the TLS layer learned about the client.
#[derive(Clone, Debug, Default)]
pub struct Peer {
    /// (CN, O) of a verified client certificate.
    pub cert_identity: Option<(String, Vec<String>)>,
}

/// Paths anonymous clients may read (system:public-info-viewer).
fn public_path(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/livez" | "/readyz" | "/version" | "/version/"
    )
}

/// Serves one request end to end.
pub async fn handle(sim: Arc<Sim>, peer: Peer, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let query = Query::parse(Some(&raw_query));
    let info = attribute(&method, &path, &query);
    let authz = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(fingerprint_authorization);
    let mut rec = RequestRecord {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        method: method.clone(),
        path: path.clone(),
        query: raw_query.clone(),
        verb: info.verb.clone(),
        resource: info.resource.clone(),
        subresource: info.subresource.clone(),
        namespace: info.namespace.clone(),
        name: info.name.clone(),
        had_authorization: authz.is_some(),
        authorization_header: authz,
        ..Default::default()
    };
    let resp = match pipeline(&sim, &peer, req, &info, &query, &mut rec).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    rec.code = resp.status().as_u16();
    sim.log.record(rec);
    resp
}

fn authenticate(
    sim: &Sim,
    peer: &Peer,
    req: &Request<Incoming>,
    rec: &mut RequestRecord,
) -> ApiResult<Option<UserInfo>> {
    if let Some((cn, orgs)) = &peer.cert_identity {
        rec.auth_method = "x509".into();
        let groups: Vec<&str> = orgs.iter().map(String::as_str).collect();
        return Ok(Some(UserInfo::new(cn, &groups).with_authenticated()));
    }
    match auth::bearer_token(req.headers()) {
        Some(token) => match sim.tokens.get(token) {
            Some(u) => {
                rec.auth_method = "token".into();
                Ok(Some(u.clone().with_authenticated()))
            }
            None => Err(ApiError::unauthorized()),
        },
        None if req.headers().contains_key(hyper::header::AUTHORIZATION) => {
            Err(ApiError::unauthorized())
        }
        None => Ok(None),
    }
}

async fn pipeline(
    sim: &Arc<Sim>,
    peer: &Peer,
    req: Request<Incoming>,
    info: &RequestInfo,
    query: &Query,
    rec: &mut RequestRecord,
) -> ApiResult<Response<Body>> {
    let user = match authenticate(sim, peer, &req, rec)? {
        Some(u) => u,
        None if public_path(&info.path) && !auth::wants_impersonation(req.headers()) => {
            rec.user = "system:anonymous".into();
            return non_resource(sim, &req, info);
        }
        None => return Err(ApiError::unauthorized()),
    };
    rec.authenticated_user = user.name.clone();
    let effective = match auth::impersonate(req.headers(), &user, &sim.rbac, &info.path)? {
        Some(u) => {
            rec.impersonated = true;
            u
        }
        None => user,
    };
    rec.user = effective.name.clone();
    rec.groups = effective.groups.clone();
    rec.extra = effective.extra.clone();
    let attrs = Attributes {
        verb: info.verb.clone(),
        is_resource: info.is_resource,
        api_group: info.group.clone(),
        resource: info.resource.clone(),
        subresource: info.subresource.clone(),
        namespace: info.namespace.clone(),
        name: info.name.clone(),
        path: info.path.clone(),
    };
    if !sim.rbac.authorize(&effective, &attrs) {
        let gr = if info.is_resource {
            GroupResource::new(&info.group, &info.resource)
        } else {
            GroupResource::default()
        };
        return Err(ApiError::forbidden(
            &gr,
            &info.name,
            &forbidden_reason(&effective.name, &attrs),
        ));
    }
    if info.is_resource
        && info.verb == "create"
        && crate::reviews::is_review(&info.group, &info.resource)
    {
        return review(sim, req, info, &effective).await;
    }
    if info.is_resource {
        resource(sim, req, info, query).await
    } else {
        non_resource(sim, &req, info)
    }
}

async fn review(
    sim: &Arc<Sim>,
    req: Request<Incoming>,
    info: &RequestInfo,
    user: &UserInfo,
) -> ApiResult<Response<Body>> {
    let (headers, body) = handlers::read_body(req).await?;
    let doc = handlers::decode_object(&headers, &body)?;
    let out = if info.resource == "selfsubjectreviews" {
        crate::reviews::subject_review(user)
    } else {
        crate::reviews::access_review(&sim.rbac, user, &doc)
    };
    Ok(http::json(StatusCode::CREATED, &out))
}

fn non_resource(
    sim: &Arc<Sim>,
    req: &Request<Incoming>,
    info: &RequestInfo,
) -> ApiResult<Response<Body>> {
    if info.verb != "get" && info.verb != "head" {
        return Err(ApiError::method_not_allowed());
    }
    let accept = req
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let path = info.path.trim_end_matches('/');
    let ok = |v: serde_json::Value| Ok(http::json(StatusCode::OK, &v));
    match path {
        "/healthz" | "/livez" | "/readyz" => Ok(http::response(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ok",
        )),
        "/version" => ok(json!({
            "major": "1", "minor": "32", "gitVersion": "v1.32.4",
            "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335", "gitTreeState": "clean",
            "buildDate": "2025-04-22T16:02:27Z", "goVersion": "go1.23.6", "compiler": "gc",
            "platform": "linux/amd64",
        })),
        "/api" | "/apis" => match negotiate(accept) {
            Output::Aggregated(av) => {
                let ct = if av.ends_with("v2") {
                    discovery::AGGREGATED_V2
                } else {
                    discovery::AGGREGATED_V2BETA1
                };
                Ok(http::response(
                    StatusCode::OK,
                    ct,
                    discovery::aggregated(path == "/api", av).to_string(),
                ))
            }
            _ if path == "/api" => ok(discovery::api_versions(&sim.server_address)),
            _ => ok(discovery::api_group_list()),
        },
        "/api/v1" => ok(discovery::resource_list("", "v1").ok_or_else(ApiError::not_found_path)?),
        "/openapi/v3" => ok(crate::openapi::index()),
        "/debug/requests" => ok(serde_json::to_value(sim.log.snapshot()).unwrap_or_default()),
        _ => {
            if let Some(rest) = path.strip_prefix("/openapi/v3/") {
                return ok(crate::openapi::document(rest).ok_or_else(ApiError::not_found_path)?);
            }
            if let Some(rest) = path.strip_prefix("/apis/") {
                let segs: Vec<&str> = rest.split('/').collect();
                let doc = match segs.as_slice() {
                    [g] => discovery::api_group_doc(g),
                    [g, v] => discovery::resource_list(g, v),
                    _ => None,
                };
                return ok(doc.ok_or_else(ApiError::not_found_path)?);
            }
            Ok(http::response(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "404 page not found\n",
            ))
        }
    }
}

async fn resource(
    sim: &Arc<Sim>,
    req: Request<Incoming>,
    info: &RequestInfo,
    query: &Query,
) -> ApiResult<Response<Body>> {
    let rt =
        lookup(&info.group, &info.version, &info.resource).ok_or_else(ApiError::not_found_path)?;
    let accept = req
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let namespace = if rt.namespaced {
        info.namespace.clone()
    } else {
        String::new()
    };
    let call = Call {
        sim,
        rt,
        namespace,
        name: info.name.clone(),
        query,
        output: negotiate(accept),
    };
    if !info.subresource.is_empty() {
        return subresource(&call, req, info).await;
    }
    if info.parts.len() > 2 {
        return Err(ApiError::not_found_path());
    }
    // For list/watch the name may come from a fieldSelector; the path name decides.
    let has_name = info.parts.len() == 2;
    let call = Call {
        name: if has_name {
            info.name.clone()
        } else {
            String::new()
        },
        ..call
    };
    match (info.verb.as_str(), has_name) {
        ("get", true) => handlers::get(&call),
        ("list", false) => handlers::list(&call),
        ("watch", _) => crate::watch::watch(&call),
        ("create", false) => handlers::create(&call, req).await,
        ("update", true) => handlers::update(&call, req).await,
        ("patch", true) => handlers::patch(&call, req).await,
        ("delete", true) => handlers::delete(&call, req).await,
        ("deletecollection", false) => handlers::delete_collection(&call, req).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

async fn subresource(
    call: &Call<'_>,
    req: Request<Incoming>,
    info: &RequestInfo,
) -> ApiResult<Response<Body>> {
    let sub = info.subresource.as_str();
    if !call.rt.has_subresource(sub) {
        return Err(ApiError::not_found_path());
    }
    let obj = call
        .sim
        .store
        .get(call.rt, &call.namespace, &call.name)
        .ok_or_else(|| ApiError::not_found(&call.rt.group_resource(), &call.name))?;
    if call.rt.kind == "Pod" && matches!(sub, "exec" | "attach" | "portforward" | "log") {
        let ctx = crate::streams::PodContext {
            namespace: call.namespace.clone(),
            pod: call.name.clone(),
            pod_json: (*obj).clone(),
            data_dir: call.sim.data_dir.clone(),
        };
        return Ok(match sub {
            "exec" => crate::streams::exec(req, ctx).await,
            "attach" => crate::streams::attach(req, ctx).await,
            "portforward" => crate::streams::portforward(req, ctx).await,
            _ => crate::streams::log(req, ctx).await,
        });
    }
    match (sub, info.verb.as_str()) {
        ("status", "get") => handlers::get(call),
        ("status", "update") => handlers::update(call, req).await,
        ("status", "patch") => handlers::patch(call, req).await,
        ("scale", "get") => {
            let replicas = obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1));
            let scale = json!({
                "kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": call.name, "namespace": call.namespace,
                             "uid": obj["metadata"]["uid"], "resourceVersion": obj["metadata"]["resourceVersion"],
                             "creationTimestamp": obj["metadata"]["creationTimestamp"]},
                "spec": {"replicas": replicas},
                "status": {"replicas": replicas, "selector": ""},
            });
            Ok(http::json(StatusCode::OK, &scale))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}
