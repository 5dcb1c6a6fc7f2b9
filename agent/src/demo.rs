//! `kac demo --dir DIR`: two simulated clusters behind kac-proxy, with the
//! sample policies and users, ready for kubectl.
//!
//! It starts `kac-sim` twice (`dev`, tagged `ClusterType=dev`, and `prod`,
//! tagged `ClusterType=prod`), writes a proxy config, a users file with fresh
//! random tokens, and the sample policies into DIR, starts `kac-proxy`, and
//! writes `DIR/USER.kubeconfig` for each sample user with one context per
//! cluster the user's policies reach. It prints what to try and a line with
//! `ready`, then runs until Ctrl-C or SIGTERM, when it stops its children.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine;
use rand::RngCore;

include!(concat!(env!("OUT_DIR"), "/samples.rs"));

/// A demo user: name, KAC groups, attributes.
type DemoUser = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

/// The demo's users.
const USERS: &[DemoUser] = &[
    ("admin", &["kac-admins"], &[]),
    ("david", &["developers"], &[("team", "apps")]),
    ("andrew", &["developers"], &[("team", "platform")]),
    ("sam", &["contractors"], &[("team", "data")]),
];

const CLUSTERS: &[(&str, &str)] = &[("dev", "dev"), ("prod", "prod")];

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Directory for the demo's state (clusters, proxy, store, kubeconfigs).
    #[arg(long, default_value = "kac-demo")]
    pub dir: PathBuf,
    /// Port of kac-proxy on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 18443)]
    pub port: u16,
    /// Stop when standard input closes (lets a test harness own the demo's
    /// lifetime even if it dies without cleaning up).
    #[arg(long, hide = true)]
    pub stop_on_stdin_close: bool,
    /// Lifetime of the access tokens `kac login` gets (e.g. `3s`, for tests
    /// of automatic refresh). Default: the proxy's.
    #[arg(long, hide = true, value_name = "DURATION")]
    pub credential_ttl: Option<String>,
    /// Lifetime of refresh tokens (proxy `credentials.refreshTtl`), for tests
    /// of sessions that end.
    #[arg(long, hide = true, value_name = "DURATION")]
    pub credential_refresh_ttl: Option<String>,
}

/// Children that are killed when the demo stops, however it stops.
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            // SIGTERM first so the proxy flushes its audit events.
            let _ = nix_kill(c.id());
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (_, c) in &mut self.0 {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn nix_kill(pid: u32) -> nix::Result<()> {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
}

/// A binary next to this one (all KAC binaries are built into one dir).
pub fn sibling_binary(name: &str) -> Result<PathBuf> {
    let me = std::env::current_exe().context("locating the kac binary")?;
    let p = me.with_file_name(name);
    if p.exists() {
        return Ok(p);
    }
    bail!(
        "{} not found next to {}; build the workspace first (cargo build --release --workspace --bins)",
        name,
        me.display()
    )
}

fn random_token() -> String {
    let mut b = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Wait for a JSON file a child writes once it serves.
fn wait_ready(path: &Path, child: &mut Child, what: &str) -> Result<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(v) = serde_json::from_str(&text) {
                return Ok(v);
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited before it was ready ({status}); see its log");
        }
        if Instant::now() > deadline {
            bail!("{what} did not become ready within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn_logged(bin: &Path, args: &[&str], log: &Path) -> Result<Child> {
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))
}

/// What a started demo environment offers (also used by the tests).
pub struct Demo {
    pub dir: PathBuf,
    pub proxy_url: String,
    children: Children,
}

impl Demo {
    /// Start the clusters and the proxy and write every file.
    pub fn start(dir: &Path, port: u16, ttls: (Option<&str>, Option<&str>)) -> Result<Demo> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        let mut children = Children(Vec::new());

        // 1. Clusters.
        let sim = sibling_binary("kac-sim")?;
        let mut cluster_entries = String::new();
        for (name, tag) in CLUSTERS {
            let data = dir.join("clusters").join(name);
            std::fs::create_dir_all(&data)?;
            let _ = std::fs::remove_file(data.join("ready.json"));
            let child = spawn_logged(
                &sim,
                &[
                    "--listen",
                    "127.0.0.1:0",
                    "--data-dir",
                    data.to_str().unwrap(),
                    "--cluster-name",
                    name,
                ],
                &logs.join(format!("kac-sim-{name}.log")),
            )?;
            children.0.push((format!("kac-sim {name}"), child));
            let ready = wait_ready(
                &data.join("ready.json"),
                &mut children.0.last_mut().unwrap().1,
                &format!("kac-sim {name}"),
            )?;
            let field = |k: &str| {
                ready[k]
                    .as_str()
                    .map(str::to_owned)
                    .with_context(|| format!("kac-sim {name}: ready.json lacks {k}"))
            };
            let token_file = data.join("proxy.token");
            std::fs::write(&token_file, field("proxyToken")?)?;
            cluster_entries.push_str(&format!(
                "  - name: {name}\n    server: {}\n    caFile: {}\n    tokenFile: {}\n    tags: {{ClusterType: {tag}}}\n",
                field("url")?,
                field("caFile")?,
                token_file.display()
            ));
        }

        // 2. Policies, users, proxy config.
        let proxy_dir = dir.join("proxy");
        let policy_dir = proxy_dir.join("policies");
        std::fs::create_dir_all(&policy_dir)?;
        for (name, text) in SAMPLE_POLICIES {
            if *name == "cases.yaml" {
                continue;
            }
            std::fs::write(policy_dir.join(name), text)?;
        }
        let mut tokens = BTreeMap::new();
        let mut users_yaml = String::from(
            "# Written by `kac demo`: fresh random tokens and passwords, stored as hashes.\nusers:\n",
        );
        for (name, groups, attrs) in USERS {
            let token = random_token();
            // A password for `kac login`, readable only by the demo's user.
            let password = random_token();
            let pw_file = dir.join(format!("{name}.password"));
            std::fs::write(&pw_file, format!("{password}\n"))?;
            std::fs::set_permissions(
                &pw_file,
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            )?;
            users_yaml.push_str(&format!(
                "  - name: {name}\n    groups: [{}]\n    attributes: {{{}}}\n    passwordHash: '{}'\n    tokens: [{}]\n",
                groups.join(", "),
                attrs
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                kac_proxy::users::hash_password(&password),
                kac_proxy::users::token_hash(&token)
            ));
            tokens.insert(name.to_string(), token);
        }
        std::fs::write(proxy_dir.join("users.yaml"), users_yaml)?;
        let mut config = format!(
            "# Written by `kac demo`.\nlisten: 127.0.0.1:{port}\ndataDir: data\nusersFile: users.yaml\nclustersFile: clusters.yaml\nclusters:\n{cluster_entries}policies: [policies]\naudit:\n  store: {}\n  fsyncInterval: 100ms\n",
            dir.join("store").display()
        );
        if ttls.0.is_some() || ttls.1.is_some() {
            config.push_str("credentials:\n");
            for (key, v) in [("ttl", ttls.0), ("refreshTtl", ttls.1)] {
                if let Some(v) = v {
                    config.push_str(&format!("  {key}: {v}\n"));
                }
            }
        }
        let config_path = proxy_dir.join("proxy.yaml");
        std::fs::write(&config_path, config)?;

        // 3. The proxy.
        let proxy_data = proxy_dir.join("data");
        let _ = std::fs::remove_file(proxy_data.join("ready.json"));
        let child = spawn_logged(
            &sibling_binary("kac-proxy")?,
            &["--config", config_path.to_str().unwrap()],
            &logs.join("kac-proxy.log"),
        )?;
        children.0.push(("kac-proxy".into(), child));
        let ready = wait_ready(
            &proxy_data.join("ready.json"),
            &mut children.0.last_mut().unwrap().1,
            "kac-proxy",
        )?;
        let proxy_url = ready["url"]
            .as_str()
            .context("proxy ready.json: url")?
            .to_owned();
        let ca_pem = std::fs::read(proxy_data.join("ca.crt"))?;
        // The CA users pass to `kac login --certificate-authority`.
        std::fs::write(dir.join("ca.crt"), &ca_pem)?;

        // 4. Kubeconfigs, one context per reachable cluster.
        let policies = kac_policy::PolicySet::load(&[&policy_dir])
            .map_err(|e| anyhow::anyhow!("sample policies: {e}"))?;
        for (name, groups, attrs) in USERS {
            let user = kac_policy::UserContext {
                name: name.to_string(),
                groups: groups.iter().map(|g| g.to_string()).collect(),
                attributes: attrs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            };
            let clusters: Vec<kac_policy::ClusterContext> = CLUSTERS
                .iter()
                .map(|(c, tag)| kac_policy::ClusterContext {
                    name: c.to_string(),
                    tags: [("ClusterType".to_string(), tag.to_string())].into(),
                })
                .collect();
            // The same rule as the proxy's /kac/v1/clusters (docs/login.md).
            let reachable: Vec<&str> = policies
                .reachable_clusters(&user, &clusters)
                .into_iter()
                .map(|c| c.name.as_str())
                .collect();
            let kubeconfig = crate::kubeconfig::render_token_kubeconfig(
                &proxy_url,
                &ca_pem,
                name,
                &tokens[*name],
                &reachable,
            );
            std::fs::write(dir.join(format!("{name}.kubeconfig")), kubeconfig)?;
        }
        Ok(Demo {
            dir,
            proxy_url,
            children,
        })
    }

    /// Whether every child is still running.
    pub fn check_children(&mut self) -> Result<()> {
        for (name, c) in &mut self.children.0 {
            if let Some(status) = c.try_wait()? {
                bail!("{name} exited ({status}); see {}/logs", self.dir.display());
            }
        }
        Ok(())
    }
}

/// Run the demo until interrupted.
pub fn run(args: DemoArgs) -> Result<()> {
    let ttls = (
        args.credential_ttl.as_deref(),
        args.credential_refresh_ttl.as_deref(),
    );
    let mut demo = Demo::start(&args.dir, args.port, ttls)?;
    let d = demo.dir.display().to_string();
    let audit = sibling_binary("kac-audit")?.display().to_string();
    let play = sibling_binary("kac-play")?.display().to_string();
    let kac = std::env::current_exe()?.display().to_string();
    let url = &demo.proxy_url;
    println!("KAC demo: clusters dev (ClusterType=dev) and prod (ClusterType=prod) behind kac-proxy at {url}");
    println!("Users: admin, david, andrew (team=platform), sam. Kubeconfigs, passwords (USER.password) and logs are in {d}.");
    println!();
    // Each section's commands are run by the demo test (tests/tests/agent_login.rs).
    println!("Try (each of these succeeds):");
    println!("  kubectl --kubeconfig {d}/david.kubeconfig --context kac-prod get pods -A");
    println!("  kubectl --kubeconfig {d}/andrew.kubeconfig --context kac-dev get pods -n default");
    println!("  kubectl --kubeconfig {d}/sam.kubeconfig --context kac-dev get pods -n sam");
    println!("  kubectl --kubeconfig {d}/david.kubeconfig --context kac-dev exec david-1 -n david -- echo hello");
    println!("  {kac} login --proxy {url} --user david --certificate-authority {d}/ca.crt --kubeconfig {d}/kac.kubeconfig --password-stdin < {d}/david.password");
    println!("  {kac} clusters --proxy {url}");
    println!("  kubectl --kubeconfig {d}/kac.kubeconfig --context kac-dev get pods -n david");
    println!("  {audit} --store {d}/store search user=david");
    println!("  {audit} --store {d}/store sessions user=david");
    println!("  {play} --store {d}/store --cat SESSION-ID");
    println!();
    println!("Refused by policy (each fails with Forbidden, and is audited):");
    println!("  kubectl --kubeconfig {d}/david.kubeconfig --context kac-prod delete pod nginx-1 -n default");
    println!("  kubectl --kubeconfig {d}/sam.kubeconfig --context kac-dev get pods -n david");
    println!();
    println!("Interactive (need a terminal):");
    println!("  kubectl --kubeconfig {d}/david.kubeconfig --context kac-dev exec -it david-1 -n david -- sh");
    println!("  {play} --store {d}/store SESSION-ID");
    println!();
    println!("kac demo ready (Ctrl-C to stop)");
    use std::io::Write;
    std::io::stdout().flush()?;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [2, 15] {
        signal_flag(sig, stop.clone())?;
    }
    if args.stop_on_stdin_close {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        demo.check_children()?;
        std::thread::sleep(Duration::from_millis(200));
    }
    // Whoever started us may be gone (closed stdout): never panic on it.
    let _ = writeln!(std::io::stdout(), "kac demo: stopping");
    drop(demo);
    Ok(())
}

fn signal_flag(sig: i32, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        rt.block_on(async move {
            let kind = tokio::signal::unix::SignalKind::from_raw(sig);
            if let Ok(mut s) = tokio::signal::unix::signal(kind) {
                s.recv().await;
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        })
    });
    Ok(())
}
