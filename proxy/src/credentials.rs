//! Issuing and checking KAC's short-lived signed credentials (the token
//! format itself is `kac-credential`'s).
//!
//! Stateless on purpose: every replica holding the same signing key
//! accepts every other replica's tokens, and nothing is stored per token.
//! Revocation therefore goes through the users file, which the caller
//! consults on every use of a token (a removed or disabled user is refused
//! at once, whatever the token's expiry).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use kac_credential::{Claims, Kind, SigningKey, TokenError};

use crate::config::CredentialConfig;

/// The signing key and the lifetimes from `credentials:` in the config.
pub struct Credentials {
    key: SigningKey,
    pub ttl: Duration,
    pub refresh_ttl: Duration,
}

/// A freshly issued access/refresh pair.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub access_expires: DateTime<Utc>,
    pub refresh_token: String,
    pub refresh_expires: DateTime<Utc>,
}

/// RFC 3339 with second precision, as Kubernetes writes timestamps.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Credentials {
    pub fn new(key: SigningKey, cfg: &CredentialConfig) -> Credentials {
        Credentials {
            key,
            ttl: cfg.ttl,
            refresh_ttl: cfg.refresh_ttl,
        }
    }

    /// Load `credentials.signingKeyFile`, or the generated
    /// `DATA_DIR/credentials.key` (created with mode 0600 on first start).
    /// A configured key file that is missing is an error: generating one
    /// would silently split replicas that are meant to share it.
    pub fn open(cfg: &CredentialConfig, data_dir: &Path) -> Result<Credentials> {
        let key = match &cfg.signing_key_file {
            Some(p) => read_key(p).with_context(|| {
                format!(
                    "credentials.signingKeyFile {} (create it once and share it between replicas: head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE)",
                    p.display()
                )
            })?,
            None => load_or_generate(&data_dir.join("credentials.key"))?,
        };
        Ok(Credentials::new(key, cfg))
    }

    /// An access and a refresh token for `user`, valid from `now`.
    pub fn issue(&self, user: &str, now: DateTime<Utc>) -> Issued {
        let access_expires = now + chrono_dur(self.ttl);
        let refresh_expires = now + chrono_dur(self.refresh_ttl);
        let claims = |kind, exp: DateTime<Utc>| Claims {
            sub: user.to_owned(),
            kind,
            iat: now.timestamp(),
            exp: exp.timestamp(),
            jti: kac_event::new_id(),
        };
        Issued {
            access_token: self.key.sign(&claims(Kind::Access, access_expires)),
            access_expires,
            refresh_token: self.key.sign(&claims(Kind::Refresh, refresh_expires)),
            refresh_expires,
        }
    }

    /// Check a presented token of the given kind (the users-file check is
    /// the caller's).
    pub fn verify(
        &self,
        token: &str,
        kind: Kind,
        now: DateTime<Utc>,
    ) -> Result<Claims, TokenError> {
        self.key.verify(token, kind, now.timestamp())
    }
}

/// Whether a bearer token is in KAC's signed format (and not a users-file
/// token): it starts with `kac1.`.
pub fn is_signed_token(token: &str) -> bool {
    token
        .strip_prefix(kac_credential::PREFIX)
        .is_some_and(|r| r.starts_with('.'))
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn read_key(p: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    warn_if_readable_by_others(p);
    SigningKey::parse_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
}

fn warn_if_readable_by_others(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(p) {
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %p.display(), "credential signing key is readable by group or others; chmod 600 it");
        }
    }
}

/// Read the key at `path`, or create it (0600, exclusive create so two
/// processes starting at once cannot both write one).
fn load_or_generate(path: &Path) -> Result<SigningKey> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        return read_key(path);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let bytes = SigningKey::generate_bytes();
    let tmp: PathBuf = path.with_extension("key.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(SigningKey::encode_file(&bytes).as_bytes())?;
    f.sync_all()?;
    // hard_link fails if another process won the race: use its key.
    match std::fs::hard_link(&tmp, path) {
        Ok(()) => {
            let _ = std::fs::remove_file(&tmp);
            tracing::info!(file = %path.display(), "generated the credential signing key (replicas must share it: see docs/login.md)");
            Ok(SigningKey::from_bytes(&bytes)?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&tmp);
            read_key(path)
        }
        Err(e) => bail!("creating {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(ttl: u64) -> CredentialConfig {
        CredentialConfig {
            ttl: Duration::from_secs(ttl),
            refresh_ttl: Duration::from_secs(ttl * 10),
            signing_key_file: None,
        }
    }

    #[test]
    fn generated_key_is_private_persisted_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = Credentials::open(&cfg(60), dir.path()).unwrap();
        let key_file = dir.path().join("credentials.key");
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A second start (or another replica sharing the file) accepts the
        // first one's tokens.
        let b = Credentials::open(&cfg(60), dir.path()).unwrap();
        let now = Utc::now();
        let t = a.issue("david", now);
        assert_eq!(
            b.verify(&t.access_token, Kind::Access, now).unwrap().sub,
            "david"
        );
        // A proxy with another key does not.
        let other = tempfile::tempdir().unwrap();
        let c = Credentials::open(&cfg(60), other.path()).unwrap();
        assert_eq!(
            c.verify(&t.access_token, Kind::Access, now),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn configured_key_file_must_exist_and_be_strong() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(60);
        c.signing_key_file = Some(dir.path().join("missing.key"));
        let e = Credentials::open(&c, dir.path()).err().unwrap();
        assert!(format!("{e:#}").contains("head -c 32"), "{e:#}");
        let short = dir.path().join("short.key");
        std::fs::write(&short, "c2hvcnQ=\n").unwrap();
        c.signing_key_file = Some(short);
        let e = Credentials::open(&c, dir.path()).err().unwrap();
        assert!(format!("{e:#}").contains("at least 32"), "{e:#}");
    }

    #[test]
    fn issued_tokens_expire_after_their_ttls() {
        let dir = tempfile::tempdir().unwrap();
        let c = Credentials::open(&cfg(60), dir.path()).unwrap();
        let now = Utc::now();
        let t = c.issue("sam", now);
        assert_eq!((t.access_expires - now).num_seconds(), 60);
        assert_eq!((t.refresh_expires - now).num_seconds(), 600);
        let later = now + chrono::Duration::seconds(61);
        assert!(matches!(
            c.verify(&t.access_token, Kind::Access, later),
            Err(TokenError::Expired { .. })
        ));
        assert!(c.verify(&t.refresh_token, Kind::Refresh, later).is_ok());
        assert!(matches!(
            c.verify(&t.refresh_token, Kind::Access, now),
            Err(TokenError::WrongKind { .. })
        ));
        assert!(is_signed_token(&t.access_token));
        assert!(!is_signed_token("kac1-not"));
        assert!(rfc3339(now).ends_with('Z'));
    }
}
