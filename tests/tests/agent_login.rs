//! `kac login`, `kac credentials`, `kac clusters`, `kac logout` against a
//! real `kac demo` (kac-proxy in front of two kac-sim clusters), with real
//! kubectl running the credential plugin from the kubeconfig kac wrote.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kac_e2e::{binary, run_with_timeout, Demo, Kubectl, Output};
use serde_json::Value;

/// One demo (default credential lifetime) for the tests that do not
/// change users or need short-lived tokens.
fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| Demo::start().expect("kac demo starts"))
}

/// A scratch dir with its own KAC_HOME and HOME (nothing touches ~/.kube).
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::Builder::new()
                .prefix("kac-home-")
                .tempdir()
                .unwrap(),
        }
    }

    fn kac_home(&self) -> PathBuf {
        self.dir.path().join("kac")
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn kac_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary("kac-agent", "kac").unwrap());
        cmd.args(args)
            .env("KAC_HOME", self.kac_home())
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG");
        cmd
    }

    fn kac(&self, args: &[&str], stdin: Option<&str>) -> Output {
        run_with_timeout(
            self.kac_cmd(args),
            stdin.map(str::as_bytes),
            Duration::from_secs(90),
        )
        .unwrap()
    }

    fn login(&self, demo: &Demo, proxy: &str, user: &str, how: &str, secret: &str) -> Output {
        let ca = demo.ca_file();
        let kc = self.kubeconfig();
        self.kac(
            &[
                "login",
                "--proxy",
                proxy,
                "--user",
                user,
                how,
                "--certificate-authority",
                ca.to_str().unwrap(),
                "--kubeconfig",
                kc.to_str().unwrap(),
            ],
            Some(&format!("{secret}\n")),
        )
    }

    fn cache(&self, proxy: &str) -> Value {
        let stem = proxy.trim_start_matches("https://").replace(':', "_");
        let p = self.kac_home().join("logins").join(format!("{stem}.json"));
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
    }

    fn kubectl(&self) -> Kubectl {
        Kubectl::new(&self.kubeconfig())
    }
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default()
}

fn pod_names(out: &Output) -> Vec<String> {
    let mut v: Vec<String> = out
        .ok()
        .unwrap()
        .lines()
        .map(|l| l.trim().trim_start_matches("pod/").to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// A kubeconfig a person wrote: comments, odd indentation, flow mappings,
/// an anchor, other contexts.
const HAND_WRITTEN: &str = "# my clusters -- do not reformat!\napiVersion: v1\nkind: Config\nclusters:\n  # laptop\n  - name: kind-laptop\n    cluster: { server: \"https://127.0.0.1:1\", insecure-skip-tls-verify: true }\n  - name: &eks eks-prod     # anchored\n    cluster:\n        server: https://eks.invalid:443\ncontexts:\n  - context: {cluster: kind-laptop, user: me}\n    name: laptop\n  - name: eks\n    context:\n      cluster: *eks\n      user: me\ncurrent-context: laptop   # keep\nusers:\n  - name: me\n    user:\n      token: 'not # a comment'\n# the end\n";

#[test]
fn token_login_then_kubectl_works_through_the_generated_kubeconfig() {
    let demo = demo();
    let home = Home::new();
    let proxy = demo.proxy_url();
    let out = home.login(demo, &proxy, "david", "--token-stdin", &demo.token("david"));
    assert!(out.success(), "{out:?}");
    assert!(
        out.stdout.contains("kac-dev") && out.stdout.contains("kac-prod"),
        "{}",
        out.stdout
    );
    // No current-context before: it is set, and said so.
    assert!(out.stdout.contains("current-context"), "{}", out.stdout);
    let k = home.kubectl();
    let pods = k
        .run(&[
            "--context",
            "kac-dev",
            "get",
            "pods",
            "-n",
            "david",
            "-o",
            "name",
        ])
        .unwrap();
    assert_eq!(pod_names(&pods), ["david-1", "david-2", "david-3"]);
    // The plugin's entry is what the issue asks for.
    let kc: Value = serde_yaml_value(&home.kubeconfig());
    let user = kc["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "kac-david@dev")
        .unwrap();
    let exec = &user["user"]["exec"];
    assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(exec["interactiveMode"], "Never");
    assert_eq!(exec["args"][0], "credentials");
    assert!(Path::new(exec["command"].as_str().unwrap()).is_absolute());
    // The cache is private.
    use std::os::unix::fs::PermissionsExt;
    let logins = home.kac_home().join("logins");
    for e in std::fs::read_dir(&logins).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o077,
            0,
            "{p:?}"
        );
    }
    // `kac clusters` lists both clusters with their tags.
    let t = home.kac(&["clusters"], None);
    let t = t.ok().unwrap();
    assert!(t.starts_with("NAME"), "{t}");
    assert!(
        t.contains("ClusterType=dev") && t.contains("ClusterType=prod"),
        "{t}"
    );
    let j = home.kac(&["clusters", "--proxy", &proxy, "-o", "json"], None);
    let j: Value = serde_json::from_str(j.ok().unwrap()).unwrap();
    let names: Vec<&str> = j["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dev", "prod"]);
}

/// The kubeconfig as JSON (kubectl prints it; no YAML parser needed here).
fn serde_yaml_value(path: &Path) -> Value {
    let k = Kubectl::new(path);
    let out = k.run(&["config", "view", "--raw", "-o", "json"]).unwrap();
    serde_json::from_str(out.ok().unwrap()).unwrap()
}

#[test]
fn password_login_and_a_wrong_password_is_refused_clearly() {
    let demo = demo();
    let home = Home::new();
    let proxy = demo.proxy_url();
    std::fs::write(home.kubeconfig(), HAND_WRITTEN).unwrap();
    let bad = home.login(demo, &proxy, "sam", "--password-stdin", "not-the-password");
    assert_ne!(bad.code, Some(0));
    assert!(
        bad.stderr.contains("invalid user name or password"),
        "{bad:?}"
    );
    assert_eq!(
        std::fs::read_to_string(home.kubeconfig()).unwrap(),
        HAND_WRITTEN
    );
    assert!(
        json_files(&home.kac_home().join("logins")).is_empty(),
        "nothing cached"
    );

    let ok = home.login(
        demo,
        &proxy,
        "sam",
        "--password-stdin",
        &demo.password("sam"),
    );
    assert!(ok.success(), "{ok:?}");
    let k = home.kubectl();
    let pods = k
        .run(&[
            "--context",
            "kac-dev",
            "get",
            "pods",
            "-n",
            "sam",
            "-o",
            "name",
        ])
        .unwrap();
    assert!(!pod_names(&pods).is_empty());
    // sam's policies reach dev only.
    let ctx = k.run(&["config", "get-contexts", "-o", "name"]).unwrap();
    let mut ctx: Vec<&str> = ctx.ok().unwrap().lines().collect();
    ctx.sort();
    assert_eq!(ctx, ["eks", "kac-dev", "laptop"]);

    // Logging in again into another kubeconfig moves the contexts there
    // (one login per proxy): the first file is the original again.
    let other = home.dir.path().join("other-kubeconfig");
    let mut cmd = home.kac_cmd(&[
        "login",
        "--proxy",
        &proxy,
        "--user",
        "sam",
        "--password-stdin",
    ]);
    cmd.arg("--kubeconfig").arg(&other);
    let pw = format!("{}\n", demo.password("sam"));
    let out = run_with_timeout(cmd, Some(pw.as_bytes()), Duration::from_secs(90)).unwrap();
    assert!(out.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(home.kubeconfig()).unwrap(),
        HAND_WRITTEN
    );
    assert!(std::fs::read_to_string(&other)
        .unwrap()
        .contains("kac-sam@dev"));
}

#[test]
fn other_contexts_are_preserved_byte_for_byte_and_logout_restores_the_file() {
    use std::os::unix::fs::PermissionsExt;
    let demo = demo();
    let home = Home::new();
    let proxy = demo.proxy_url();
    let kc = home.kubeconfig();
    std::fs::write(&kc, HAND_WRITTEN).unwrap();
    std::fs::set_permissions(&kc, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = home.login(
        demo,
        &proxy,
        "andrew",
        "--password-stdin",
        &demo.password("andrew"),
    );
    assert!(out.success(), "{out:?}");
    let text = std::fs::read_to_string(&kc).unwrap();
    assert!(text.starts_with(&HAND_WRITTEN[..HAND_WRITTEN.find("contexts:").unwrap()]));
    assert!(
        text.contains("current-context: laptop   # keep\n"),
        "current-context kept"
    );
    assert!(text.contains("kac-andrew@dev"));
    let mode = std::fs::metadata(&kc).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let k = home.kubectl();
    let pods = k
        .run(&[
            "--context",
            "kac-dev",
            "get",
            "pods",
            "-n",
            "default",
            "-o",
            "name",
        ])
        .unwrap();
    assert!(pod_names(&pods).iter().all(|p| !p.starts_with("nginx")));

    let out = home.kac(&["logout", "--proxy", &proxy], None);
    assert!(out.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&kc).unwrap(), HAND_WRITTEN);
    assert!(json_files(&home.kac_home().join("logins")).is_empty());
}

#[test]
fn kac_waits_for_kubectls_lock_file() {
    let demo = demo();
    let home = Home::new();
    let kc = home.kubeconfig();
    std::fs::write(&kc, HAND_WRITTEN).unwrap();
    let lock = home.dir.path().join("kubeconfig.lock");
    std::fs::write(&lock, "").unwrap();
    let mut cmd = home.kac_cmd(&[
        "login",
        "--proxy",
        &demo.proxy_url(),
        "--user",
        "david",
        "--token-stdin",
        "--certificate-authority",
        demo.ca_file().to_str().unwrap(),
        "--kubeconfig",
        kc.to_str().unwrap(),
    ]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut si = child.stdin.take().unwrap();
        writeln!(si, "{}", demo.token("david")).unwrap();
    }
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        child.try_wait().unwrap().is_none(),
        "kac must wait for the lock"
    );
    assert_eq!(std::fs::read_to_string(&kc).unwrap(), HAND_WRITTEN);
    std::fs::remove_file(&lock).unwrap();
    let st = child.wait().unwrap();
    assert!(st.success());
    assert!(std::fs::read_to_string(&kc)
        .unwrap()
        .contains("kac-david@dev"));
    assert!(!lock.exists(), "kac removes its lock");
}

#[test]
fn parallel_logins_into_one_kubeconfig_keep_every_context() {
    let demo = demo();
    let home = Home::new();
    std::fs::write(home.kubeconfig(), HAND_WRITTEN).unwrap();
    let url = demo.proxy_url();
    let port = url.rsplit(':').next().unwrap().to_string();
    // Two proxy addresses (the proxy's certificate names both), four users
    // each: eight concurrent logins, two proxies' worth of entries.
    let proxies = [
        format!("https://127.0.0.1:{port}"),
        format!("https://localhost:{port}"),
    ];
    let users = ["admin", "david", "andrew", "sam"];
    let handles: Vec<_> = proxies
        .iter()
        .flat_map(|p| users.iter().map(move |u| (p.clone(), u.to_string())))
        .map(|(p, u)| {
            let (kac_home, home_dir, kc) = (
                home.kac_home(),
                home.dir.path().to_path_buf(),
                home.kubeconfig(),
            );
            let (ca, pw) = (demo.ca_file(), demo.password(&u));
            std::thread::spawn(move || {
                let mut cmd = Command::new(binary("kac-agent", "kac").unwrap());
                cmd.args([
                    "login",
                    "--proxy",
                    &p,
                    "--user",
                    &u,
                    "--password-stdin",
                    "--certificate-authority",
                ])
                .arg(&ca)
                .arg("--kubeconfig")
                .arg(&kc)
                .env("KAC_HOME", &kac_home)
                .env("HOME", &home_dir);
                run_with_timeout(
                    cmd,
                    Some(format!("{pw}\n").as_bytes()),
                    Duration::from_secs(120),
                )
                .unwrap()
            })
        })
        .collect();
    for h in handles {
        let out = h.join().unwrap();
        assert!(out.success(), "{out:?}");
    }
    let kc = serde_yaml_value(&home.kubeconfig());
    let contexts: Vec<&str> = kc["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        contexts.contains(&"laptop") && contexts.contains(&"eks"),
        "{contexts:?}"
    );
    for p in &proxies {
        // The last login to each proxy won; the kubeconfig agrees with its cache.
        let user = home.cache(p)["user"].as_str().unwrap().to_string();
        let owned: Vec<&Value> = kc["contexts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["context"]["extensions"][0]["extension"]["proxy"] == p.as_str())
            .collect();
        assert!(!owned.is_empty(), "{p}: {contexts:?}");
        for c in owned {
            let u = c["context"]["user"].as_str().unwrap();
            assert!(
                u.starts_with(&format!("kac-{user}@")),
                "{p}: {u} vs cached {user}"
            );
        }
    }
    // Both proxies' entries come out again, leaving the original bytes.
    let out = home.kac(&["logout"], None);
    assert!(out.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(home.kubeconfig()).unwrap(),
        HAND_WRITTEN
    );
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn expired_credentials_refresh_once_and_a_revoked_user_is_denied() {
    let demo = Demo::start_with(&["--credential-ttl", "3s"]).expect("kac demo starts");
    let home = Home::new();
    let proxy = demo.proxy_url();
    let out = home.login(
        &demo,
        &proxy,
        "david",
        "--password-stdin",
        &demo.password("david"),
    );
    assert!(out.success(), "{out:?}");
    let k = home.kubectl();
    let get = || {
        k.run(&[
            "--context",
            "kac-dev",
            "get",
            "pods",
            "-n",
            "david",
            "-o",
            "name",
        ])
        .unwrap()
    };
    assert_eq!(pod_names(&get()).len(), 3);
    let first = home.cache(&proxy)["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_secs(4));
    // The token has expired: kubectl runs the plugin, which refreshes.
    assert_eq!(pod_names(&get()).len(), 3);
    let second = home.cache(&proxy)["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(first, second, "the cache holds a new token");

    // Eight plugins at once with an expired token: one refresh, one token.
    std::thread::sleep(Duration::from_secs(4));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let cmd = home.kac_cmd(&["credentials", "--proxy", &proxy, "--cluster", "dev"]);
            std::thread::spawn(move || {
                run_with_timeout(cmd, None, Duration::from_secs(90)).unwrap()
            })
        })
        .collect();
    let tokens: Vec<String> = handles
        .into_iter()
        .map(|h| {
            let out = h.join().unwrap();
            let v: Value = serde_json::from_str(out.ok().unwrap()).unwrap();
            assert_eq!(v["kind"], "ExecCredential");
            v["status"]["token"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "refreshed once: {tokens:?}"
    );
    assert_ne!(tokens[0], second);
    assert_eq!(home.cache(&proxy)["accessToken"], tokens[0].as_str());

    // Revoke david: remove him from the users file (the proxy re-reads it).
    let users = demo.dir().join("proxy/users.yaml");
    let text = std::fs::read_to_string(&users).unwrap();
    let mut kept = String::new();
    let mut skipping = false;
    for l in text.lines() {
        if l.starts_with("  - name: ") {
            skipping = l == "  - name: david";
        }
        if !skipping {
            kept.push_str(l);
            kept.push('\n');
        }
    }
    assert_ne!(kept, text);
    std::fs::write(&users, kept).unwrap();
    wait_until(
        "david's requests to be refused",
        Duration::from_secs(30),
        || {
            let out = get();
            !out.success()
                && (out.stderr.contains("Unauthorized") || out.stderr.contains("kac login"))
        },
    );
    // Once the access token expires, refresh is refused with a clear message.
    std::thread::sleep(Duration::from_secs(4));
    let out = home.kac(
        &["credentials", "--proxy", &proxy, "--cluster", "dev"],
        None,
    );
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("run `kac login"), "{out:?}");
}
