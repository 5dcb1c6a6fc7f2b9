//! User authentication: bearer tokens from the users file, and client
//! certificates signed by the proxy's user CA.
//!
//! The result is a [`User`] with the groups and attributes policies test.
//! Credentials are only ever *checked* here; the forwarding code strips
//! them, so they never reach a cluster.

use hyper::header::{self, HeaderMap};

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
}

pub struct Authenticator {
    pub users: UserDirectory,
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
        Authenticator {
            users: UserDirectory::open(&p).unwrap(),
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
}
