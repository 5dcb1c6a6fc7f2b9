//! A minimal test-only API server in front of the streams handlers: just
//! enough discovery and `GET pod` for kubectl, no auth. The real router
//! lives elsewhere in the sim; this one lets the streams be tested alone.

use crate::streams::{self, full_body, Body, PodContext};
use bytes::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The pod every name resolves to: two containers, port 80 declared.
pub fn pod(ns: &str, name: &str) -> serde_json::Value {
    json!({"kind": "Pod", "apiVersion": "v1",
      "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}")},
      "spec": {"containers": [
          {"name": "main", "image": "busybox:1.36", "ports": [{"containerPort": 80}]},
          {"name": "side", "image": "busybox:1.36"}]},
      "status": {"phase": "Running"}})
}

fn json_resp(code: StatusCode, v: serde_json::Value) -> Response<Body> {
    let mut r = Response::new(full_body(Bytes::from(v.to_string())));
    *r.status_mut() = code;
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("static"));
    r
}

async fn route(req: Request<hyper::body::Incoming>, data: PathBuf) -> Response<Body> {
    let path = req.uri().path().to_string();
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ok = |v| json_resp(StatusCode::OK, v);
    match seg.as_slice() {
        ["version"] => ok(json!({"major": "1", "minor": "32", "gitVersion": "v1.32.4"})),
        ["api"] => ok(json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})),
        ["apis"] => ok(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})),
        ["api", "v1"] => ok(
            json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
             "verbs": ["get", "list"], "shortNames": ["po"]},
            {"name": "pods/exec", "singularName": "", "namespaced": true, "kind": "PodExecOptions", "verbs": ["create", "get"]},
            {"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}]}),
        ),
        ["api", "v1", "namespaces", ns, "pods", name] => ok(pod(ns, name)),
        ["api", "v1", "namespaces", ns, "pods", name, sub] => {
            let ctx = PodContext {
                namespace: ns.to_string(),
                pod: name.to_string(),
                pod_json: pod(ns, name),
                data_dir: data,
            };
            match *sub {
                "exec" => streams::exec(req, ctx).await,
                "attach" => streams::attach(req, ctx).await,
                "log" => streams::log(req, ctx).await,
                "portforward" => streams::portforward(req, ctx).await,
                _ => json_resp(
                    StatusCode::NOT_FOUND,
                    json!({"kind": "Status", "code": 404}),
                ),
            }
        }
        _ => json_resp(
            StatusCode::NOT_FOUND,
            json!({"kind": "Status", "status": "Failure", "code": 404, "reason": "NotFound"}),
        ),
    }
}

/// A running test server and a kubeconfig pointing at it.
pub struct TestServer {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub addr: std::net::SocketAddr,
}

impl TestServer {
    /// Starts the server on the current tokio runtime, with a fresh data dir.
    pub async fn start(name: &str) -> TestServer {
        let dir = std::env::temp_dir().join(format!(
            "kac-sim-streams-{name}-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).expect("test dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let data = dir.join("data");
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    return;
                };
                let data = data.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let d = data.clone();
                        async move { Ok::<_, std::convert::Infallible>(route(req, d).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(s), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {{server: \"http://{addr}\"}}\n  name: sim\n\
                 contexts:\n- context: {{cluster: sim, user: u, namespace: default}}\n  name: sim\n\
                 current-context: sim\nusers:\n- name: u\n  user: {{token: test}}\n"
            ),
        )
        .expect("kubeconfig");
        TestServer {
            dir,
            kubeconfig,
            addr,
        }
    }

    /// A kubectl command with this server's kubeconfig and a private cache.
    pub fn kubectl(&self) -> std::process::Command {
        let mut c = std::process::Command::new("kubectl");
        c.env("KUBECONFIG", &self.kubeconfig)
            .arg(format!("--cache-dir={}", self.dir.join("cache").display()));
        c
    }

    /// The pod's working directory inside the data dir.
    pub fn pod_root(&self, ns: &str, pod: &str) -> PathBuf {
        self.dir.join("data/pods").join(ns).join(pod).join("root")
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
