//! User authentication: bearer tokens from the users file, and client
//! certificates signed by the proxy's user CA.
//!
//! The result is a [`User`] with the groups and attributes policies test.
//! Credentials are only ever *checked* here; the forwarding code strips
//! them, so they never reach a cluster.

use hyper::header::{self, HeaderMap};

use kac_credential::{Kind, TokenError};

use crate::credentials::{is_signed_token, Credentials};
use crate::handler::ConnInfo;
use crate::users::{User, UserDirectory};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthnError {
    #[error("no credentials: send a bearer token or a client certificate")]
    NoCredentials,
    #[error("invalid bearer token")]
    InvalidToken,
    #[error("malformed Authorization header")]
    Malformed,
    #[error("client certificate user {0:?} is unknown or disabled")]
    UnknownCertUser(String),
    /// A KAC credential past its expiry: the client should refresh it.
    #[error("KAC credential expired")]
    CredentialExpired,
    /// A signed credential that does not verify (detail for the audit event).
    #[error("invalid KAC credential: {0}")]
    InvalidCredential(String),
    /// A valid credential of a user since removed from or disabled in the
    /// users file.
    #[error("KAC credential of user {0:?}, who is no longer in the users file or is disabled")]
    Revoked(String),
}

impl AuthnError {
    /// The message of the 401 Status the client sees. Only expiry is
    /// spelled out (clients act on it); everything else stays generic.
    pub fn client_message(&self) -> &'static str {
        match self {
            AuthnError::CredentialExpired => {
                "credential expired; run kac login (or let the kac credential plugin refresh it)"
            }
            _ => "Unauthorized",
        }
    }
}

pub struct Authenticator {
    pub users: UserDirectory,
    /// Signed credentials issued at `/kac/v1/login`; `None` accepts only
    /// users-file tokens and client certificates.
    pub credentials: Option<std::sync::Arc<Credentials>>,
}

impl Authenticator {
    pub fn authenticate(&self, headers: &HeaderMap, conn: &ConnInfo) -> Result<User, AuthnError> {
        let users = self.users.current();
        if let Some(v) = headers.get(header::AUTHORIZATION) {
            let v = v.to_str().map_err(|_| AuthnError::Malformed)?;
            let token = v
                .strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or(AuthnError::Malformed)?;
            if let (Some(creds), true) = (&self.credentials, is_signed_token(token)) {
                match creds.verify(token, Kind::Access, chrono::Utc::now()) {
                    // The users file decides on every use (revocation).
                    Ok(claims) => {
                        return users
                            .by_name(&claims.sub, "credential")
                            .ok_or(AuthnError::Revoked(claims.sub));
                    }
                    Err(TokenError::Expired { .. }) => return Err(AuthnError::CredentialExpired),
                    Err(e) => {
                        // A users-file token could in theory look signed.
                        return users
                            .by_token(token)
                            .ok_or_else(|| AuthnError::InvalidCredential(e.to_string()));
                    }
                }
            }
            return users.by_token(token).ok_or(AuthnError::InvalidToken);
        }
        if let Some(name) = &conn.client_cert_user {
            return users
                .by_name(name, "x509")
                .ok_or_else(|| AuthnError::UnknownCertUser(name.clone()));
        }
        Err(AuthnError::NoCredentials)
    }
}

/// The user a verified client certificate names (its CN).
pub fn peer_user(certs: Option<&[rustls::pki_types::CertificateDer<'_>]>) -> Option<String> {
    let cert = certs?.first()?;
    kac_pki::peer_identity(cert.as_ref()).ok().map(|(cn, _)| cn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::token_hash;

    fn authn(dir: &std::path::Path) -> Authenticator {
        let p = dir.join("users.yaml");
        std::fs::write(
            &p,
            format!(
                "users:\n  - name: david\n    tokens: [{}]\n  - name: sam\n",
                token_hash("t-david")
            ),
        )
        .unwrap();
        let creds = crate::config::CredentialConfig {
            ttl: std::time::Duration::from_secs(60),
            ..Default::default()
        };
        Authenticator {
            users: UserDirectory::open(&p).unwrap(),
            credentials: Some(std::sync::Arc::new(Credentials::open(&creds, dir).unwrap())),
        }
    }

    fn conn(cert_user: Option<&str>) -> ConnInfo {
        ConnInfo {
            remote: "127.0.0.1:1".parse().unwrap(),
            client_cert_user: cert_user.map(str::to_owned),
        }
    }

    #[test]
    fn tokens_certs_and_missing_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let a = authn(dir.path());
        let mut h = HeaderMap::new();
        assert_eq!(
            a.authenticate(&h, &conn(None)),
            Err(AuthnError::NoCredentials)
        );
        assert_eq!(
            a.authenticate(&h, &conn(Some("sam"))).unwrap().auth_method,
            "x509"
        );
        assert_eq!(
            a.authenticate(&h, &conn(Some("mallory"))),
            Err(AuthnError::UnknownCertUser("mallory".into()))
        );
        h.insert(header::AUTHORIZATION, "Bearer t-david".parse().unwrap());
        assert_eq!(a.authenticate(&h, &conn(None)).unwrap().name, "david");
        h.insert(header::AUTHORIZATION, "Bearer nope".parse().unwrap());
        assert_eq!(
            a.authenticate(&h, &conn(Some("sam"))),
            Err(AuthnError::InvalidToken)
        );
        h.insert(header::AUTHORIZATION, "Basic Zm9v".parse().unwrap());
        assert_eq!(a.authenticate(&h, &conn(None)), Err(AuthnError::Malformed));
    }

    #[test]
    fn signed_credentials_expire_are_kind_checked_and_revocable() {
        let dir = tempfile::tempdir().unwrap();
        let a = authn(dir.path());
        let creds = a.credentials.clone().unwrap();
        let bearer = |t: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::AUTHORIZATION,
                format!("Bearer {t}").parse().unwrap(),
            );
            h
        };
        let now = chrono::Utc::now();
        let t = creds.issue("sam", now);
        let u = a
            .authenticate(&bearer(&t.access_token), &conn(None))
            .unwrap();
        assert_eq!((u.name.as_str(), u.auth_method), ("sam", "credential"));
        // A refresh token is not an access token.
        assert!(matches!(
            a.authenticate(&bearer(&t.refresh_token), &conn(None)),
            Err(AuthnError::InvalidCredential(_))
        ));
        // Expired.
        let old = creds.issue("sam", now - chrono::Duration::seconds(120));
        let e = a
            .authenticate(&bearer(&old.access_token), &conn(None))
            .unwrap_err();
        assert_eq!(e, AuthnError::CredentialExpired);
        assert!(e.client_message().contains("run kac login"));
        // Tampered: generic message.
        let mut bad = t.access_token.clone();
        bad.push('A');
        let e = a.authenticate(&bearer(&bad), &conn(None)).unwrap_err();
        assert_eq!(e.client_message(), "Unauthorized");
        // A token for a user not in the users file.
        let ghost = creds.issue("mallory", now);
        assert_eq!(
            a.authenticate(&bearer(&ghost.access_token), &conn(None)),
            Err(AuthnError::Revoked("mallory".into()))
        );
        // Revocation: sam disabled in the users file → refused at once.
        let p = dir.path().join("users.yaml");
        std::fs::write(&p, "users:\n  - name: sam\n    disabled: true\n").unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(matches!(a.users.poll_changes(), Some(Ok(()))));
        assert_eq!(
            a.authenticate(&bearer(&t.access_token), &conn(None)),
            Err(AuthnError::Revoked("sam".into()))
        );
    }
}
