//! `kac login` and `kac logout`: obtain credentials from the proxy, cache
//! them, and keep the user's kubeconfig in step (one `kac-CLUSTER` context
//! per cluster the user may reach).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine;
use chrono::Utc;

use crate::api::{normalize_proxy, Proxy, Secret};
use crate::cache::{kac_home, Cache, Login};
use crate::files::{atomic_write, KubeconfigLock};
use crate::kubeconfig_edit::{apply_login, apply_logout, LoginEntries, Restore};

/// How long kac waits for kubectl or another kac to release `FILE.lock`.
const KUBECONFIG_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// The proxy, `https://HOST:PORT`.
    #[arg(long)]
    pub proxy: String,
    /// Your KAC user name.
    #[arg(long)]
    pub user: String,
    /// Read the password from standard input (first line).
    #[arg(long, conflicts_with = "token_stdin")]
    pub password_stdin: bool,
    /// Log in with an existing token read from standard input.
    #[arg(long)]
    pub token_stdin: bool,
    /// PEM file of the CA that signs the proxy's certificate (`kac demo`
    /// writes DIR/ca.crt). Defaults to the one from your last login.
    #[arg(long, value_name = "FILE")]
    pub certificate_authority: Option<PathBuf>,
    /// Kubeconfig to write (default: first file of $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct LogoutArgs {
    /// Log out of this proxy only (default: every proxy you are logged in to).
    #[arg(long)]
    pub proxy: Option<String>,
    /// Kubeconfig to clean (default: the one `kac login` wrote).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

/// The kubeconfig kubectl would use: `--kubeconfig`, else the first file of
/// `$KUBECONFIG`, else `~/.kube/config`.
pub fn kubeconfig_path(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(list) = std::env::var_os("KUBECONFIG") {
        if let Some(first) = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty()) {
            return Ok(first);
        }
    }
    let home = std::env::var_os("HOME").context("HOME is not set; pass --kubeconfig")?;
    Ok(Path::new(&home).join(".kube").join("config"))
}

fn read_secret(args: &LoginArgs, proxy: &str) -> Result<Secret> {
    let from_stdin = || -> Result<String> {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        let s = s.lines().next().unwrap_or("").to_string();
        if s.is_empty() {
            bail!("standard input is empty");
        }
        Ok(s)
    };
    if args.token_stdin {
        return Ok(Secret::Token(from_stdin()?));
    }
    if args.password_stdin {
        return Ok(Secret::Password(from_stdin()?));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password: pass --password-stdin or --token-stdin");
    }
    let p = rpassword::prompt_password(format!("Password for {} at {proxy}: ", args.user))
        .context("reading the password from the terminal")?;
    Ok(Secret::Password(p))
}

/// Edit a kubeconfig under client-go's lock; returns what the edit reported.
fn edit_kubeconfig<T>(path: &Path, edit: impl FnOnce(&str) -> Result<(String, T)>) -> Result<T> {
    let _lock = KubeconfigLock::acquire(path, KUBECONFIG_LOCK_TIMEOUT)?;
    let text = match std::fs::read(path) {
        Ok(b) => {
            String::from_utf8(b).with_context(|| format!("{} is not UTF-8", path.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let (new, out) = edit(&text).with_context(|| format!("editing {}", path.display()))?;
    if new != text {
        atomic_write(path, new.as_bytes(), 0o600)?;
    }
    Ok(out)
}

pub fn login(args: LoginArgs) -> Result<()> {
    let proxy_url = normalize_proxy(&args.proxy)?;
    let cache = Cache::open()?;
    let previous = cache.load(&proxy_url)?;
    let ca_pem = match (&args.certificate_authority, &previous) {
        (Some(f), _) => std::fs::read_to_string(f)
            .with_context(|| format!("reading --certificate-authority {}", f.display()))?,
        (None, Some(p)) => p.ca_pem.clone(),
        (None, None) => bail!(
            "kac needs the proxy's CA certificate to trust it: pass --certificate-authority FILE \
             (kac demo writes DIR/ca.crt)"
        ),
    };
    kac_pki::pem_certs(&ca_pem).context("--certificate-authority holds no PEM certificate")?;
    let secret = read_secret(&args, &proxy_url)?;
    let kubeconfig = kubeconfig_path(args.kubeconfig.as_deref())?;
    let kubeconfig = std::path::absolute(&kubeconfig).unwrap_or(kubeconfig);

    // Hold the proxy's login lock throughout, so a parallel login to the
    // same proxy cannot leave the cache and the kubeconfig disagreeing.
    let _lock = cache.lock(&proxy_url)?;
    let proxy = Proxy::new(&proxy_url, &ca_pem)?;
    let method = match secret {
        Secret::Password(_) => "password",
        Secret::Token(_) => "token",
    };
    let resp = proxy
        .login(&args.user, &secret)
        .with_context(|| format!("logging in to {proxy_url} as {}", args.user))?;
    let now = Utc::now();
    let command = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("locating the kac binary")?;
    let kac_home = match std::env::var_os("KAC_HOME") {
        Some(_) => Some(std::path::absolute(kac_home()?)?.display().to_string()),
        None => None,
    };
    let entries = LoginEntries {
        proxy: proxy_url.clone(),
        user: resp.user.clone(),
        command: command.display().to_string(),
        // A password login may be renewed by asking for the password again
        // when kubectl has a terminal; a token login never prompts.
        interactive_mode: if method == "password" {
            "IfAvailable"
        } else {
            "Never"
        }
        .into(),
        ca_data: base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes()),
        kac_home,
        clusters: resp
            .clusters
            .iter()
            .map(|c| (c.name.clone(), c.server.clone()))
            .collect(),
    };
    // What to restore on logout: what the first login on this file found.
    let restore = previous
        .as_ref()
        .filter(|p| p.kubeconfig == kubeconfig)
        .map(|p| p.restore.clone())
        .unwrap_or_default();
    let restore_before = restore.clone();
    // The last login to this proxy wrote another kubeconfig: take its
    // entries out of there (one login per proxy).
    if let Some(p) = previous
        .as_ref()
        .filter(|p| p.kubeconfig != kubeconfig && p.kubeconfig.exists())
    {
        edit_kubeconfig(&p.kubeconfig, |text| {
            Ok((apply_logout(text, &proxy_url, &p.restore)?.text, ()))
        })?;
        println!(
            "Removed this proxy's contexts from {}.",
            p.kubeconfig.display()
        );
    }
    let edited = edit_kubeconfig(&kubeconfig, |text| {
        let e = apply_login(text, &entries, &restore)?;
        Ok((e.text.clone(), e))
    })?;
    let restore = edited.restore.clone();
    let mut login = Login {
        proxy: proxy_url.clone(),
        user: String::new(),
        method: method.into(),
        ca_pem,
        access_token: String::new(),
        expiration_timestamp: now,
        refresh_token: String::new(),
        refresh_expiration_timestamp: now,
        obtained_at: now,
        clusters: Vec::new(),
        kubeconfig: kubeconfig.clone(),
        restore,
    };
    login.update(resp, now);
    cache.store(&login)?;

    println!(
        "Logged in to {proxy_url} as {} (credentials refresh automatically until {}).",
        login.user,
        login
            .refresh_expiration_timestamp
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    if edited.contexts.is_empty() {
        println!(
            "No cluster is open to you; no context was written to {}.",
            kubeconfig.display()
        );
    } else {
        println!(
            "Contexts in {}: {}",
            kubeconfig.display(),
            edited.contexts.join(", ")
        );
    }
    let had = |r: &Restore| r.lines.iter().any(|(k, _)| k == "current-context");
    if had(&edited.restore) && !had(&restore_before) {
        println!(
            "current-context was not set; it is now {}.",
            edited.contexts[0]
        );
    } else if let Some(c) = edited.contexts.first() {
        println!("Use one with: kubectl --context {c} get pods");
    }
    Ok(())
}

pub fn logout(args: LogoutArgs) -> Result<()> {
    let cache = Cache::open()?;
    let proxies = match &args.proxy {
        Some(p) => vec![normalize_proxy(p)?],
        None => cache.all()?.into_iter().map(|l| l.proxy).collect(),
    };
    if proxies.is_empty() {
        println!("Not logged in to any proxy.");
        return Ok(());
    }
    for proxy in proxies {
        let _lock = cache.lock(&proxy)?;
        let login = cache.load(&proxy)?;
        let path = match (&args.kubeconfig, &login) {
            (Some(p), _) => p.clone(),
            (None, Some(l)) => l.kubeconfig.clone(),
            (None, None) => kubeconfig_path(None)?,
        };
        let restore = login
            .as_ref()
            .map(|l| l.restore.clone())
            .unwrap_or_default();
        let changed = if path.exists() {
            edit_kubeconfig(&path, |text| {
                let e = apply_logout(text, &proxy, &restore)?;
                let changed = e.text != text;
                Ok((e.text, changed))
            })?
        } else {
            false
        };
        cache.remove(&proxy)?;
        match (login.is_some(), changed) {
            (false, false) => println!("Not logged in to {proxy}."),
            (_, true) => println!(
                "Logged out of {proxy}: removed its contexts from {}.",
                path.display()
            ),
            (true, false) => println!("Logged out of {proxy}."),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubeconfig_is_the_flag_then_kubeconfig_then_home() {
        // One test owns these variables (tests run in threads).
        let flag = Path::new("/x/flag");
        assert_eq!(kubeconfig_path(Some(flag)).unwrap(), flag);
        std::env::set_var("KUBECONFIG", ":/a/first:/b/second");
        assert_eq!(kubeconfig_path(None).unwrap(), Path::new("/a/first"));
        std::env::remove_var("KUBECONFIG");
        std::env::set_var("HOME", "/home/u");
        assert_eq!(
            kubeconfig_path(None).unwrap(),
            Path::new("/home/u/.kube/config")
        );
    }
}
