//! `kac credentials` (the ExecCredential plugin kubectl runs) and
//! `kac clusters`.
//!
//! client-go runs the plugin when it has no credential or the one it has is
//! past `status.expirationTimestamp` (and again after a 401), once per
//! process. So the plugin must be fast when the cached token is good, and
//! must refresh exactly once when many kubectl processes find it stale:
//! the refresh happens under the proxy's cache lock, and whoever gets the
//! lock second re-reads the cache and finds a fresh token.

use anyhow::{bail, Context, Result};
use chrono::{SecondsFormat, Utc};

use std::io::IsTerminal;

use crate::api::{normalize_proxy, ApiError, ClusterInfo, Proxy, Secret};
use crate::cache::{Cache, Login};

#[derive(clap::Args, Debug)]
pub struct CredentialsArgs {
    /// The proxy, `https://HOST:PORT`.
    #[arg(long)]
    pub proxy: String,
    /// The cluster kubectl is talking to.
    #[arg(long)]
    pub cluster: String,
}

#[derive(clap::Args, Debug)]
pub struct ClustersArgs {
    /// Only this proxy (default: every proxy you are logged in to).
    #[arg(long)]
    pub proxy: Option<String>,
    /// `table` or `json`.
    #[arg(short = 'o', long, default_value = "table")]
    pub output: String,
}

fn relogin_hint(l: &Login) -> String {
    format!("run `kac login --proxy {} --user {}`", l.proxy, l.user)
}

/// Asks the user for their password again when the session has ended.
pub type Reprompt<'a> = &'a dyn Fn(&Login) -> Result<String>;

/// A login whose access token is good for a while, refreshing it (once,
/// under the lock) when it is about to expire. When the session can no
/// longer be refreshed (expired, revoked) and `reprompt` is given, a user
/// who logged in with a password is asked for it and logged in again.
pub fn fresh_login(cache: &Cache, proxy: &str, reprompt: Option<Reprompt>) -> Result<Login> {
    let not_logged_in =
        || anyhow::anyhow!("not logged in to {proxy}: run `kac login --proxy {proxy} --user NAME`");
    let login = cache.load(proxy)?.ok_or_else(not_logged_in)?;
    if !login.needs_refresh(Utc::now()) {
        return Ok(login);
    }
    let _lock = cache.lock(proxy)?;
    // Another process may have refreshed while we waited for the lock.
    let mut login = cache.load(proxy)?.ok_or_else(not_logged_in)?;
    let now = Utc::now();
    if !login.needs_refresh(now) {
        return Ok(login);
    }
    let api = Proxy::new(&login.proxy, &login.ca_pem)?;
    let ended = if login.refresh_expiration_timestamp <= now {
        format!(
            "your KAC session at {} expired at {}",
            login.proxy,
            login
                .refresh_expiration_timestamp
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    } else {
        match api.refresh(&login.refresh_token) {
            Ok(r) => {
                login.update(r, now);
                cache.store(&login)?;
                return Ok(login);
            }
            Err(e) => match e.downcast_ref::<ApiError>() {
                Some(a) if a.code == 401 || a.code == 403 => format!(
                    "the proxy {} refused to refresh your credentials ({})",
                    login.proxy, a.message
                ),
                _ => return Err(e).context(format!("refreshing credentials at {}", login.proxy)),
            },
        }
    };
    match reprompt {
        Some(ask) if login.method == "password" => {
            eprintln!("kac: {ended}; log in again as {}.", login.user);
            let password = ask(&login)?;
            let r = api
                .login(&login.user, &Secret::Password(password))
                .with_context(|| format!("logging in to {} as {}", login.proxy, login.user))?;
            let before: Vec<String> = login.clusters.iter().map(|c| c.name.clone()).collect();
            login.update(r, Utc::now());
            if login.clusters.iter().map(|c| &c.name).ne(before.iter()) {
                eprintln!(
                    "kac: your clusters changed; {} to update your contexts.",
                    relogin_hint(&login)
                );
            }
            cache.store(&login)?;
            Ok(login)
        }
        _ => bail!("{ended}: {}", relogin_hint(&login)),
    }
}

/// Ask for the password on the terminal (`/dev/tty`).
fn ask_password(login: &Login) -> Result<String> {
    rpassword::prompt_password(format!("Password for {} at {}: ", login.user, login.proxy))
        .context("reading the password from the terminal")
}

/// The ExecCredential kubectl reads. `expirationTimestamp` is brought
/// forward by the refresh margin so client-go asks again exactly when the
/// plugin would refresh, not when the token is already being refused.
pub fn exec_credential(login: &Login) -> serde_json::Value {
    let lifetime = login.expiration_timestamp - login.obtained_at;
    let margin = (lifetime / 3).min(chrono::Duration::seconds(60));
    let expires = (login.expiration_timestamp - margin).max(Utc::now());
    serde_json::json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {
            "token": login.access_token,
            "expirationTimestamp": expires.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    })
}

pub fn credentials(args: CredentialsArgs) -> Result<()> {
    // client-go says which version it expects; we only speak v1.
    if let Ok(info) = std::env::var("KUBERNETES_EXEC_INFO") {
        let v: serde_json::Value =
            serde_json::from_str(&info).context("KUBERNETES_EXEC_INFO is not JSON")?;
        if let Some(api) = v["apiVersion"].as_str() {
            if api != "client.authentication.k8s.io/v1" {
                bail!("kubectl asked for {api}; kac speaks client.authentication.k8s.io/v1 (set it in the kubeconfig's exec.apiVersion)");
            }
        }
    }
    let proxy = normalize_proxy(&args.proxy)?;
    let cache = Cache::open()?;
    // kubectl tells the plugin whether it gave it the terminal
    // (interactiveMode IfAvailable, set for password logins).
    let interactive = std::env::var("KUBERNETES_EXEC_INFO")
        .ok()
        .and_then(|i| serde_json::from_str::<serde_json::Value>(&i).ok())
        .is_some_and(|v| v["spec"]["interactive"] == true);
    let reprompt: Option<Reprompt> = if interactive {
        Some(&ask_password)
    } else {
        None
    };
    let login = fresh_login(&cache, &proxy, reprompt)
        .with_context(|| format!("kac credentials for cluster {}", args.cluster))?;
    println!("{}", exec_credential(&login));
    Ok(())
}

pub fn clusters(args: ClustersArgs) -> Result<()> {
    let cache = Cache::open()?;
    let proxies: Vec<String> = match &args.proxy {
        Some(p) => vec![normalize_proxy(p)?],
        None => cache.all()?.into_iter().map(|l| l.proxy).collect(),
    };
    if proxies.is_empty() {
        bail!("not logged in to any proxy: run `kac login --proxy URL --user NAME`");
    }
    let mut rows: Vec<(String, ClusterInfo)> = Vec::new();
    for proxy in &proxies {
        let reprompt: Option<Reprompt> = if std::io::stdin().is_terminal() {
            Some(&ask_password)
        } else {
            None
        };
        let login = fresh_login(&cache, proxy, reprompt)?;
        let api = Proxy::new(proxy, &login.ca_pem)?;
        let list =
            api.clusters(&login.access_token)
                .map_err(|e| match e.downcast_ref::<ApiError>() {
                    Some(a) if a.code == 401 => {
                        anyhow::anyhow!("{proxy}: {}: {}", a.message, relogin_hint(&login))
                    }
                    _ => e.context(format!("listing clusters at {proxy}")),
                })?;
        rows.extend(list.into_iter().map(|c| (proxy.clone(), c)));
    }
    match args.output.as_str() {
        "json" => {
            let v: Vec<_> = rows
                .iter()
                .map(|(p, c)| serde_json::json!({"proxy": p, "name": c.name, "server": c.server, "tags": c.tags}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"clusters": v}))?
            );
        }
        "table" => print!("{}", table(&rows)),
        o => bail!("unknown output format {o:?} (table or json)"),
    }
    Ok(())
}

fn table(rows: &[(String, ClusterInfo)]) -> String {
    let cells: Vec<[String; 3]> = rows
        .iter()
        .map(|(_, c)| {
            let tags = c
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            [
                c.name.clone(),
                c.server.clone(),
                if tags.is_empty() {
                    "<none>".into()
                } else {
                    tags
                },
            ]
        })
        .collect();
    let head = ["NAME".to_string(), "SERVER".into(), "TAGS".into()];
    let w = |i: usize| {
        cells
            .iter()
            .chain([&head])
            .map(|r| r[i].len())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (w(0), w(1));
    let mut out = String::new();
    for r in std::iter::once(&head).chain(&cells) {
        out.push_str(&format!("{:w0$}   {:w1$}   {}\n", r[0], r[1], r[2]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeconfig_edit::Restore;

    #[test]
    fn exec_credential_is_v1_and_expires_before_the_token() {
        let now = Utc::now();
        let l = Login {
            proxy: "https://p:1".into(),
            user: "sam".into(),
            method: "token".into(),
            ca_pem: String::new(),
            access_token: "tok".into(),
            expiration_timestamp: now + chrono::Duration::seconds(900),
            refresh_token: "r".into(),
            refresh_expiration_timestamp: now + chrono::Duration::hours(1),
            obtained_at: now,
            clusters: vec![],
            kubeconfig: "/k".into(),
            restore: Restore::default(),
        };
        let v = exec_credential(&l);
        assert_eq!(v["apiVersion"], "client.authentication.k8s.io/v1");
        assert_eq!(v["kind"], "ExecCredential");
        assert_eq!(v["status"]["token"], "tok");
        let exp: chrono::DateTime<Utc> = v["status"]["expirationTimestamp"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(exp < l.expiration_timestamp && exp > now + chrono::Duration::seconds(800));
    }

    #[test]
    fn table_aligns_and_lists_tags() {
        let c = |n: &str, t: &[(&str, &str)]| {
            (
                "p".to_string(),
                ClusterInfo {
                    name: n.into(),
                    server: format!("https://h/clusters/{n}"),
                    tags: t
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                },
            )
        };
        let t = table(&[
            c("dev", &[("ClusterType", "dev"), ("a", "b")]),
            c("production", &[]),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0].find("SERVER"), lines[1].find("https"));
        assert!(lines[1].ends_with("ClusterType=dev,a=b"));
        assert!(lines[2].ends_with("<none>"));
    }
}
