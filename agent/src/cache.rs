//! The credential cache: one file per proxy in `$KAC_HOME/logins/`
//! (default `~/.kac`), mode 0600, replaced atomically, with a `flock`ed
//! `.lock` next to it held by whoever refreshes or rewrites the login, so
//! that parallel kubectl runs refresh once and never see a torn file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{ClusterInfo, LoginResponse};
use crate::files::{atomic_write, FileLock};
use crate::kubeconfig_edit::Restore;

/// How long a process waits for another one's refresh or login.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// One proxy login as kac remembers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    /// Normalized proxy URL.
    pub proxy: String,
    pub user: String,
    /// `password` or `token`: how the user logged in.
    pub method: String,
    /// PEM of the proxy's CA.
    pub ca_pem: String,
    pub access_token: String,
    pub expiration_timestamp: DateTime<Utc>,
    pub refresh_token: String,
    pub refresh_expiration_timestamp: DateTime<Utc>,
    /// When the current access token was obtained (sizes the refresh margin).
    pub obtained_at: DateTime<Utc>,
    pub clusters: Vec<ClusterInfo>,
    /// The kubeconfig kac wrote the contexts into, and what to restore there
    /// on logout.
    pub kubeconfig: PathBuf,
    #[serde(default)]
    pub restore: Restore,
}

impl Login {
    /// Take over fresh tokens (and the cluster list) from the proxy.
    pub fn update(&mut self, r: LoginResponse, now: DateTime<Utc>) {
        self.user = r.user;
        self.access_token = r.access_token;
        self.expiration_timestamp = r.expiration_timestamp;
        self.refresh_token = r.refresh_token;
        self.refresh_expiration_timestamp = r.refresh_expiration_timestamp;
        self.obtained_at = now;
        if !r.clusters.is_empty() {
            self.clusters = r.clusters;
        }
    }

    /// Whether the access token should be refreshed before use: when it
    /// expires within 60 s, or within a third of its lifetime for short-lived
    /// tokens (so a 5 s token is not refreshed on every kubectl run).
    pub fn needs_refresh(&self, now: DateTime<Utc>) -> bool {
        let lifetime = self.expiration_timestamp - self.obtained_at;
        let margin = (lifetime / 3).min(chrono::Duration::seconds(60));
        self.expiration_timestamp - now <= margin
    }
}

/// `$KAC_HOME`, else `~/.kac`.
pub fn kac_home() -> Result<PathBuf> {
    if let Some(h) = std::env::var_os("KAC_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    let home = std::env::var_os("HOME").context("neither KAC_HOME nor HOME is set")?;
    Ok(Path::new(&home).join(".kac"))
}

/// The cache of one home directory.
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn open() -> Result<Cache> {
        Self::at(&kac_home()?)
    }

    /// The cache under `home`. Directories kac creates are 0700; an
    /// existing `home` keeps its mode (it may be shared, e.g. `/tmp`), but
    /// `logins/`, which only kac uses, is always made 0700.
    pub fn at(home: &Path) -> Result<Cache> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let dir = home.join("logins");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("chmod 700 {}", dir.display()))?;
        Ok(Cache { dir })
    }

    /// `https://host:port` → `host_port`, safe as a file name.
    fn stem(proxy: &str) -> String {
        proxy
            .trim_start_matches("https://")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    pub fn path(&self, proxy: &str) -> PathBuf {
        self.dir.join(format!("{}.json", Self::stem(proxy)))
    }

    /// Lock one proxy's login (refresh, login, logout hold it).
    pub fn lock(&self, proxy: &str) -> Result<FileLock> {
        FileLock::acquire(
            &self.dir.join(format!("{}.lock", Self::stem(proxy))),
            LOCK_TIMEOUT,
        )
    }

    pub fn load(&self, proxy: &str) -> Result<Option<Login>> {
        let p = self.path(proxy);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .with_context(|| format!("reading {}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
        }
    }

    pub fn store(&self, login: &Login) -> Result<()> {
        let data = serde_json::to_vec_pretty(login)?;
        atomic_write(&self.path(&login.proxy), &data, 0o600)
    }

    pub fn remove(&self, proxy: &str) -> Result<()> {
        match std::fs::remove_file(self.path(proxy)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Every cached login.
    pub fn all(&self) -> Result<Vec<Login>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "json") {
                let text = std::fs::read(&p)?;
                out.push(
                    serde_json::from_slice(&text)
                        .with_context(|| format!("reading {}", p.display()))?,
                );
            }
        }
        out.sort_by(|a: &Login, b| a.proxy.cmp(&b.proxy));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn login(ttl: i64) -> Login {
        let now = Utc::now();
        Login {
            proxy: "https://127.0.0.1:1".into(),
            user: "sam".into(),
            method: "token".into(),
            ca_pem: "PEM".into(),
            access_token: "a".into(),
            expiration_timestamp: now + chrono::Duration::seconds(ttl),
            refresh_token: "r".into(),
            refresh_expiration_timestamp: now + chrono::Duration::hours(8),
            obtained_at: now,
            clusters: vec![],
            kubeconfig: "/tmp/k".into(),
            restore: Restore::default(),
        }
    }

    #[test]
    fn refresh_margin_scales_with_lifetime() {
        let now = Utc::now();
        assert!(!login(3600).needs_refresh(now));
        assert!(login(3600).needs_refresh(now + chrono::Duration::seconds(3541)));
        assert!(!login(6).needs_refresh(now + chrono::Duration::seconds(3)));
        assert!(login(6).needs_refresh(now + chrono::Duration::seconds(5)));
        assert!(login(0).needs_refresh(Utc::now() + chrono::Duration::seconds(1)));
    }

    #[test]
    fn logins_are_private_files() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::at(dir.path()).unwrap();
        let l = login(60);
        cache.store(&l).unwrap();
        let p = cache.path(&l.proxy);
        assert!(p.ends_with("logins/127.0.0.1_1.json"));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(p.parent().unwrap()), 0o700);
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(cache.load(&l.proxy).unwrap().unwrap().access_token, "a");
        assert_eq!(cache.all().unwrap().len(), 1);
        cache.remove(&l.proxy).unwrap();
        assert!(cache.load(&l.proxy).unwrap().is_none());
    }
}
