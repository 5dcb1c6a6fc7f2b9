//! The HTTPS listener: rustls (CA kept in the data dir), HTTP/2 and HTTP/1.1 with
//! upgrades, credentials and `ready.json`/`admin.kubeconfig` for clients.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use base64::Engine;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::Rng;
use serde_json::{json, Value};

use crate::auth::UserInfo;
use crate::rbac::Rbac;
use crate::reqlog::RequestLog;
use crate::router::{handle, Peer};
use crate::state::Sim;
use crate::store::Store;

/// Command-line options.
#[derive(Clone, Debug)]
pub struct Options {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub cluster: String,
    pub pods: usize,
    pub seed: Option<PathBuf>,
    /// Watch events kept for resuming watches (older RVs get 410 Expired).
    pub watch_history: usize,
}

fn random_token() -> String {
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| {
            let c = rng.gen_range(0..36u8);
            (if c < 10 { b'0' + c } else { b'a' + c - 10 }) as char
        })
        .collect()
}

/// The built-in identities: name -> (user, groups). Tokens persist in `tokens.json`.
const IDENTITIES: &[(&str, &str, &[&str])] = &[
    ("admin", "admin", &["system:masters"]),
    ("proxy", "kac-proxy", &[]),
    ("viewer", "viewer", &["kac:viewers"]),
    ("editor", "editor", &["kac:editors"]),
    ("nobody", "nobody", &[]),
];

fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

/// Loads or creates the identity tokens.
fn load_tokens(dir: &Path) -> Result<HashMap<String, String>> {
    let path = dir.join("tokens.json");
    let mut tokens: HashMap<String, String> = match std::fs::read(&path) {
        Ok(b) => {
            serde_json::from_slice(&b).with_context(|| format!("parsing {}", path.display()))?
        }
        Err(_) => HashMap::new(),
    };
    let mut changed = false;
    for (key, _, _) in IDENTITIES {
        tokens.entry(key.to_string()).or_insert_with(|| {
            changed = true;
            random_token()
        });
    }
    if changed {
        use std::os::unix::fs::PermissionsExt;
        write_atomic(&path, serde_json::to_string_pretty(&tokens)?.as_bytes())?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).ok();
    }
    Ok(tokens)
}

fn kubeconfig(cluster: &str, url: &str, ca_pem: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster}\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\nusers:\n- name: admin\n  user:\n    token: {token}\ncontexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: admin\n    namespace: default\ncurrent-context: {cluster}\n"
    )
}

/// Runs the sim until `shutdown` resolves. Prints the ready line once serving.
pub async fn run(opts: Options, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
    let dir = &opts.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca = kac_pki::Ca::load_or_create(dir, "ca")?;
    let server_cert = ca.issue_server(&["kac-sim".to_string()], &[opts.listen.ip()])?;
    let tls = kac_pki::server_config(&server_cert, Some(ca.cert_pem()), &[b"h2", b"http/1.1"])?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

    let token_map = load_tokens(dir)?;
    let mut tokens = HashMap::new();
    for (key, user, groups) in IDENTITIES {
        tokens.insert(token_map[*key].clone(), UserInfo::new(user, groups));
    }
    let rbac = match opts
        .seed
        .as_ref()
        .map(|s| s.join("rbac.yaml"))
        .filter(|p| p.exists())
    {
        Some(p) => Rbac::parse(
            &std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?,
        )?,
        None => Rbac::default_rules(),
    };
    let state_yaml = match opts
        .seed
        .as_ref()
        .map(|s| s.join("state.yaml"))
        .filter(|p| p.exists())
    {
        Some(p) => {
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?
        }
        None => crate::seed::DEFAULT_STATE.to_string(),
    };
    let store = Store::new(opts.watch_history.max(1));
    crate::seed::load(
        &store,
        crate::seed::parse_state(&state_yaml, &opts.cluster)?,
    )?;
    crate::seed::load_pods(&store, opts.pods, &opts.cluster)?;

    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("binding {}", opts.listen))?;
    let addr = listener.local_addr()?;
    let url = format!("https://{addr}");
    let sim = Arc::new(Sim::new(
        store,
        rbac,
        tokens,
        dir.clone(),
        opts.cluster.clone(),
        RequestLog::open(dir, 10_000)?,
        addr.to_string(),
    ));

    let ca_file = dir.join("ca.crt");
    let mut user_tokens = serde_json::Map::new();
    for (key, user, _) in IDENTITIES {
        user_tokens.insert(user.to_string(), json!(token_map[*key]));
    }
    let ready: Value = json!({
        "url": url,
        "caFile": ca_file,
        "adminToken": token_map["admin"],
        "proxyToken": token_map["proxy"],
        "cluster": opts.cluster,
        "userTokens": user_tokens,
    });
    write_atomic(
        &dir.join("admin.kubeconfig"),
        kubeconfig(&opts.cluster, &url, ca.cert_pem(), &token_map["admin"]).as_bytes(),
    )?;
    write_atomic(
        &dir.join("ready.json"),
        serde_json::to_string_pretty(&ready)?.as_bytes(),
    )?;
    println!("kac-sim ready on {url}");

    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let sim = sim.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!("TLS handshake with {remote}: {e}");
                    return;
                }
            };
            let cert_identity = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| kac_pki::peer_identity(c).ok());
            let peer = Peer { cert_identity };
            let svc = service_fn(move |req| {
                let sim = sim.clone();
                let peer = peer.clone();
                async move { Ok::<_, Infallible>(handle(sim, peer, req).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), svc)
                .await
            {
                tracing::debug!("connection from {remote}: {e}");
            }
        });
    }
    Ok(())
}
