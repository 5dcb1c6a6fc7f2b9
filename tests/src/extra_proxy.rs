//! A second kac-proxy next to a running [`Demo`], with its own settings.
//!
//! Some behaviour depends on proxy configuration the demo does not use
//! (`sessions.spdy: record`, `sessions.optionalRecording: skip`, a policy
//! with `sessionRecording: optional`). Rather than give the demo hidden
//! flags, tests start another kac-proxy on the demo's clusters and users,
//! with the demo's CA and server certificate (so the demo's kubeconfigs
//! work with only the server URL changed), its own store and the extra YAML
//! they need.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{binary, run_with_timeout, Demo, Kubectl, Output};

/// A kac-proxy sharing a demo's clusters, users and CA; stopped on drop.
pub struct ExtraProxy {
    child: Child,
    dir: PathBuf,
    demo_url: String,
    url: String,
}

/// What differs from the demo's proxy.
#[derive(Debug, Clone, Default)]
pub struct ExtraConfig {
    /// Appended to the config verbatim, e.g. `"sessions:\n  spdy: record\n"`.
    pub yaml: String,
    /// Extra policy files `(file name, text)`, loaded after the demo's.
    pub policies: Vec<(String, String)>,
    /// Replace the demo's policies instead of adding to them.
    pub replace_policies: bool,
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let name = e.file_name();
        if name == "ready.json" {
            continue;
        }
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to.join(&name))?;
        } else {
            std::fs::copy(e.path(), to.join(&name))?;
        }
    }
    Ok(())
}

fn ready_url(data: &Path) -> Result<String> {
    let ready: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("ready.json"))?)?;
    Ok(ready["url"]
        .as_str()
        .context("ready.json: url")?
        .to_string())
}

impl ExtraProxy {
    /// Starts the proxy in `DEMO_DIR/NAME` and waits until it listens.
    pub fn start(demo: &Demo, name: &str, extra: &ExtraConfig) -> Result<ExtraProxy> {
        let demo_proxy = demo.dir().join("proxy");
        let dir = demo.dir().join(name);
        if dir.exists() {
            bail!("{} exists: one extra proxy per name", dir.display());
        }
        copy_dir(&demo_proxy.join("data"), &dir.join("data"))?;
        let policies = dir.join("policies");
        if extra.replace_policies {
            std::fs::create_dir_all(&policies)?;
        } else {
            copy_dir(&demo_proxy.join("policies"), &policies)?;
        }
        for (file, text) in &extra.policies {
            std::fs::write(policies.join(file), text)?;
        }
        let demo_config = std::fs::read_to_string(demo_proxy.join("proxy.yaml"))?;
        let abs = |p: &Path| p.display().to_string();
        let mut config = String::new();
        for line in demo_config.lines() {
            let line = if line.starts_with("listen:") {
                "listen: 127.0.0.1:0".to_string()
            } else if line.starts_with("dataDir:") {
                format!("dataDir: {}", abs(&dir.join("data")))
            } else if line.starts_with("usersFile:") {
                format!("usersFile: {}", abs(&demo_proxy.join("users.yaml")))
            } else if line.starts_with("clustersFile:") {
                format!("clustersFile: {}", abs(&dir.join("clusters.yaml")))
            } else if line.starts_with("policies:") {
                format!("policies: [{}]", abs(&policies))
            } else if line.trim_start().starts_with("store:") {
                format!("  store: {}", abs(&dir.join("store")))
            } else {
                line.to_string()
            };
            config.push_str(&line);
            config.push('\n');
        }
        config.push_str(&extra.yaml);
        let config_path = dir.join("proxy.yaml");
        std::fs::write(&config_path, &config)?;
        let log = std::fs::File::create(dir.join("kac-proxy.log"))?;
        let mut child = Command::new(binary("kac-proxy", "kac-proxy")?)
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawning kac-proxy")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            if let Ok(url) = ready_url(&dir.join("data")) {
                break url;
            }
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(dir.join("kac-proxy.log")).unwrap_or_default();
                bail!("kac-proxy exited ({status}):\n{log}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("kac-proxy did not write ready.json within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Ok(ExtraProxy {
            child,
            dir,
            demo_url: ready_url(&demo_proxy.join("data"))?,
            url,
        })
    }

    /// Where this proxy listens (`https://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// This proxy's store.
    pub fn store(&self) -> PathBuf {
        self.dir.join("store")
    }

    /// kubectl as `user` on `cluster` through this proxy: the demo's
    /// kubeconfig for them with the server URL replaced.
    pub fn kubectl(&self, demo: &Demo, user: &str, cluster: &str) -> Kubectl {
        let _ = demo.kubectl(user, cluster);
        let from = demo.dir().join(format!("{user}-{cluster}.kubeconfig"));
        let text = std::fs::read_to_string(from).expect("demo kubeconfig");
        let path = self.dir.join(format!("{user}-{cluster}.kubeconfig"));
        std::fs::write(&path, text.replace(&self.demo_url, &self.url)).expect("kubeconfig");
        Kubectl::new(&path)
    }

    /// The CA that signs this proxy's serving certificate (the demo's).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("data/ca.crt")
    }

    /// What the proxy printed (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kac-proxy.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits up to `timeout` for the proxy to exit; kills
    /// it and fails if it does not.
    pub fn terminate(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!(
                    "kac-proxy did not exit within {timeout:?} of SIGTERM:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kac-audit --store THIS_STORE ARGS…`
    pub fn kac_audit(&self, args: &[&str]) -> Result<Output> {
        let mut cmd = Command::new(binary("kac-audit", "kac-audit")?);
        cmd.arg("--store").arg(self.store()).args(args);
        run_with_timeout(cmd, None, Duration::from_secs(60))
    }
}

impl Drop for ExtraProxy {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return; // already stopped (see `terminate`)
        }
        crate::demo::stop(&mut self.child);
    }
}
