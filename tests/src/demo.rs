//! A running `kac demo`: two kac-sim clusters (dev, prod) behind kac-proxy
//! with the sample policies and users. End-to-end tests of the proxy drive
//! real kubectl through it, and so also prove the README's main command.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::{binary, run_with_timeout, Kubectl, Output};

/// `kac demo --dir TMP --port 0`, stopped with SIGTERM on drop.
pub struct Demo {
    child: Child,
    dir: tempfile::TempDir,
    /// Everything the demo printed up to its `ready` line.
    pub banner: String,
}

impl Demo {
    pub fn start() -> Result<Demo> {
        Demo::start_with(&[])
    }

    /// `kac demo` with extra arguments (e.g. `["--credential-ttl", "3s"]`).
    pub fn start_with(extra: &[&str]) -> Result<Demo> {
        // The demo finds kac-sim and kac-proxy next to kac.
        binary("kac-sim", "kac-sim")?;
        binary("kac-proxy", "kac-proxy")?;
        let kac = binary("kac-agent", "kac")?;
        let dir = tempfile::Builder::new().prefix("kac-demo-").tempdir()?;
        let mut child = Command::new(kac)
            .args(["demo", "--port", "0", "--stop-on-stdin-close", "--dir"])
            .arg(dir.path())
            .args(extra)
            // The demo stops when this pipe closes: when the Demo is dropped,
            // or when the test process exits without dropping it (statics).
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("spawning kac demo")?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut banner = String::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                banner.push_str(&line);
                banner.push('\n');
                if line.contains("ready") {
                    let _ = tx.send(banner.clone());
                }
            }
        });
        let banner = match rx.recv_timeout(Duration::from_secs(90)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                bail!("kac demo did not print 'ready' within 90 s");
            }
        };
        Ok(Demo { child, dir, banner })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The proxy's URL (`https://127.0.0.1:PORT`).
    pub fn proxy_url(&self) -> String {
        let p = self.dir().join("proxy/data/ready.json");
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&p).expect("proxy ready.json"))
                .expect("ready.json is JSON");
        v["url"].as_str().expect("url").to_string()
    }

    /// The CA that signs the proxy's certificate (for `kac login`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir().join("ca.crt")
    }

    /// The password the demo gave `user` (for `kac login`).
    pub fn password(&self, user: &str) -> String {
        let p = self.dir().join(format!("{user}.password"));
        std::fs::read_to_string(p)
            .expect("password file")
            .trim()
            .to_string()
    }

    /// kubectl on one cluster with nothing but a bearer token (`--server`,
    /// `--certificate-authority`, `--token`; an empty kubeconfig), e.g. an
    /// access token from `/kac/v1/login` or a user's users-file token.
    pub fn kubectl_with_token(&self, cluster: &str, token: &str, args: &[&str]) -> Output {
        let empty = self.dir().join("empty.kubeconfig");
        std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").expect("writing kubeconfig");
        let server = format!("{}/clusters/{cluster}", self.proxy_url());
        let ca = self.dir().join("proxy/data/ca.crt").display().to_string();
        let mut full = vec![
            "--server",
            &server,
            "--certificate-authority",
            &ca,
            "--token",
            token,
        ];
        full.extend_from_slice(args);
        Kubectl::new(&empty).run(&full).expect("running kubectl")
    }

    /// The kubeconfig `kac demo` wrote for a user.
    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        self.dir().join(format!("{user}.kubeconfig"))
    }

    /// kubectl as `user` on `cluster` (a copy of the user's kubeconfig with
    /// that context current).
    pub fn kubectl(&self, user: &str, cluster: &str) -> Kubectl {
        let text = std::fs::read_to_string(self.kubeconfig(user)).expect("user kubeconfig");
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("current-context:") {
                    format!("current-context: kac-{cluster}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        let path = self.dir().join(format!("{user}-{cluster}.kubeconfig"));
        std::fs::write(&path, text).expect("writing kubeconfig");
        Kubectl::new(&path)
    }

    /// The bearer token the demo issued to `user` (read from its kubeconfig).
    pub fn token(&self, user: &str) -> String {
        let text = std::fs::read_to_string(self.kubeconfig(user)).expect("user kubeconfig");
        text.lines()
            .find_map(|l| l.trim().strip_prefix("token: "))
            .expect("token in kubeconfig")
            .to_string()
    }

    /// The request log of one of the demo's clusters.
    pub fn sim_requests(&self, cluster: &str) -> Result<Vec<Value>> {
        let p = self
            .dir()
            .join("clusters")
            .join(cluster)
            .join("requests.jsonl");
        let text = std::fs::read_to_string(&p).with_context(|| p.display().to_string())?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).context("request log line"))
            .collect()
    }

    pub fn store(&self) -> PathBuf {
        self.dir().join("store")
    }

    /// `kac-audit --store DIR ARGS…`
    pub fn kac_audit(&self, args: &[&str]) -> Result<Output> {
        let mut cmd = Command::new(binary("kac-audit", "kac-audit")?);
        cmd.arg("--store").arg(self.store()).args(args);
        run_with_timeout(cmd, None, Duration::from_secs(60))
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// SIGTERM, up to 5 s to exit, then SIGKILL.
pub(crate) fn stop(child: &mut Child) {
    let _ = nix_term(child.id());
    for _ in 0..100 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn nix_term(pid: u32) -> std::io::Result<()> {
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()?;
    if st.success() {
        Ok(())
    } else {
        Err(std::io::Error::other("kill failed"))
    }
}

/// Tests in one file share one demo (one test binary = one process, so this
/// lock is per file). Tests that create objects and tests that assert the
/// exact set of objects a user sees take it, so one test's objects never
/// show up in another's exact listing (a race CI hit).
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}
