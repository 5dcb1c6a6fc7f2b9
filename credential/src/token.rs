//! The token format and its signing key.
//!
//! ```text
//! kac1.<base64url(claims JSON)>.<base64url(HMAC-SHA256(key, "kac1." + claims part))>
//! ```
//!
//! HMAC rather than a signature scheme because only kac-proxy replicas
//! ever verify tokens (the agent treats them as opaque), and they all hold
//! the same key anyway. The MAC is checked (in constant time, by `ring`)
//! *before* the claims are parsed, so untrusted JSON is never parsed unless
//! a key holder wrote it.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::hmac;
use serde::{Deserialize, Serialize};

/// The format version tag every token starts with.
pub const PREFIX: &str = "kac1";

/// Longest token accepted; longer input is refused before any decoding.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Tokens issued in the future by more than this (clock skew between
/// replicas) are refused.
const MAX_SKEW_SECS: i64 = 300;

/// Shortest accepted signing key (HMAC-SHA256 wants ≥ 32 bytes).
const MIN_KEY_LEN: usize = 32;

/// What a token may be used for. An access token is a bearer credential for
/// cluster requests; a refresh token only buys new tokens at
/// `/kac/v1/refresh`. Neither is ever accepted in place of the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Access,
    Refresh,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Access => "access",
            Kind::Refresh => "refresh",
        })
    }
}

/// The signed content of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The KAC user name (looked up in the users file on every use).
    pub sub: String,
    pub kind: Kind,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds (the token is invalid from this second on).
    pub exp: i64,
    /// Unique id, for audit correlation.
    pub jti: String,
}

/// Why a token was refused. Callers show users only a generic message
/// (or "expired"); the detail goes to the audit event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a KAC credential: {0}")]
    Malformed(&'static str),
    #[error("credential signature does not verify (tampered, or signed with another key)")]
    BadSignature,
    #[error("credential claims are unreadable: {0}")]
    BadClaims(String),
    #[error("a {got} token was presented where a {expected} token is required")]
    WrongKind { expected: Kind, got: Kind },
    #[error("credential expired at {exp}")]
    Expired { exp: i64 },
    #[error("credential issued in the future (iat {iat}); check the clocks of the proxy replicas")]
    NotYetValid { iat: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("signing key file is not base64: {0}")]
    NotBase64(String),
    #[error("signing key is {0} bytes; at least 32 random bytes are required")]
    TooShort(usize),
}

/// The secret shared by every proxy replica.
pub struct SigningKey {
    key: hmac::Key,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// A key from raw bytes (at least 32).
    pub fn from_bytes(bytes: &[u8]) -> Result<SigningKey, KeyError> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort(bytes.len()));
        }
        Ok(SigningKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        })
    }

    /// Fresh random key bytes (32) from the OS generator.
    pub fn generate_bytes() -> [u8; 32] {
        use ring::rand::SecureRandom;
        let mut b = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut b)
            .expect("the OS random generator failed");
        b
    }

    /// The key file's form: one line of standard base64 (fits a Kubernetes
    /// Secret or a config-management template).
    pub fn encode_file(bytes: &[u8]) -> String {
        format!("{}\n", STANDARD.encode(bytes))
    }

    /// Parse a key file (base64, surrounding whitespace ignored).
    pub fn parse_file(text: &str) -> Result<SigningKey, KeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| KeyError::NotBase64(e.to_string()))?;
        SigningKey::from_bytes(&bytes)
    }

    /// Sign claims into a token.
    pub fn sign(&self, claims: &Claims) -> String {
        let json = serde_json::to_vec(claims).expect("claims serialize");
        self.sign_payload(&json)
    }

    fn sign_payload(&self, payload: &[u8]) -> String {
        let signed = format!("{PREFIX}.{}", URL_SAFE_NO_PAD.encode(payload));
        let tag = hmac::sign(&self.key, signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Check a presented token: format, MAC, kind, expiry (`now` in Unix
    /// seconds). Returns the claims; the caller still has to check that the
    /// user exists and is enabled.
    pub fn verify(&self, token: &str, expected: Kind, now: i64) -> Result<Claims, TokenError> {
        let claims = self.verify_mac(token)?;
        if claims.kind != expected {
            return Err(TokenError::WrongKind {
                expected,
                got: claims.kind,
            });
        }
        if now >= claims.exp {
            return Err(TokenError::Expired { exp: claims.exp });
        }
        if claims.iat > now + MAX_SKEW_SECS {
            return Err(TokenError::NotYetValid { iat: claims.iat });
        }
        Ok(claims)
    }

    /// Format and MAC only (no kind or time checks).
    fn verify_mac(&self, token: &str) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("too long"));
        }
        let mut parts = token.split('.');
        let (Some(prefix), Some(body), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("expected three dot-separated parts"));
        };
        if prefix != PREFIX {
            return Err(TokenError::Malformed("unknown version prefix"));
        }
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| TokenError::Malformed("signature is not base64url"))?;
        let signed = &token[..prefix.len() + 1 + body.len()];
        hmac::verify(&self.key, signed.as_bytes(), &mac).map_err(|_| TokenError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Malformed("claims are not base64url"))?;
        let claims: Claims =
            serde_json::from_slice(&payload).map_err(|e| TokenError::BadClaims(e.to_string()))?;
        if claims.sub.is_empty() {
            return Err(TokenError::BadClaims("empty subject".into()));
        }
        Ok(claims)
    }
}

/// Fuzz entry point (fuzz target `credential_token`, and proptest below).
///
/// The first byte selects the mode: even → the rest is a presented token,
/// which must never verify (nobody but the key holder can forge a MAC) and
/// never panic; odd → the rest is signed as a claims payload with the test
/// key (exercising the JSON claims parser behind a valid MAC), and a token
/// that verifies must re-sign to a token with identical claims.
pub fn fuzz_check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = SigningKey::from_bytes(&[7u8; 32]).expect("32 bytes");
    if mode % 2 == 0 {
        let token = String::from_utf8_lossy(rest);
        for kind in [Kind::Access, Kind::Refresh] {
            assert!(
                key.verify(&token, kind, 0).is_err(),
                "an unsigned input verified: {token:?}"
            );
        }
    } else {
        let token = key.sign_payload(rest);
        if let Ok(claims) = key.verify_mac(&token) {
            let again = key.sign(&claims);
            assert_eq!(key.verify_mac(&again).as_ref(), Ok(&claims));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SigningKey {
        SigningKey::from_bytes(&[b; 32]).unwrap()
    }

    fn claims(kind: Kind) -> Claims {
        Claims {
            sub: "david".into(),
            kind,
            iat: 1_000,
            exp: 2_000,
            jti: "j1".into(),
        }
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let k = key(1);
        let t = k.sign(&claims(Kind::Access));
        assert!(t.starts_with("kac1."));
        assert_eq!(t.split('.').count(), 3);
        assert_eq!(k.verify(&t, Kind::Access, 1_500), Ok(claims(Kind::Access)));
    }

    #[test]
    fn expiry_is_exclusive_and_future_tokens_are_refused() {
        let k = key(1);
        let t = k.sign(&claims(Kind::Access));
        assert!(k.verify(&t, Kind::Access, 1_999).is_ok());
        assert_eq!(
            k.verify(&t, Kind::Access, 2_000),
            Err(TokenError::Expired { exp: 2_000 })
        );
        assert_eq!(
            k.verify(&t, Kind::Access, 500),
            Err(TokenError::NotYetValid { iat: 1_000 })
        );
        // Within the allowed skew.
        assert!(k.verify(&t, Kind::Access, 1_000 - MAX_SKEW_SECS).is_ok());
    }

    #[test]
    fn refresh_and_access_tokens_are_never_confused() {
        let k = key(1);
        let refresh = k.sign(&claims(Kind::Refresh));
        let access = k.sign(&claims(Kind::Access));
        assert_eq!(
            k.verify(&refresh, Kind::Access, 1_500),
            Err(TokenError::WrongKind {
                expected: Kind::Access,
                got: Kind::Refresh
            })
        );
        assert!(matches!(
            k.verify(&access, Kind::Refresh, 1_500),
            Err(TokenError::WrongKind { .. })
        ));
    }

    #[test]
    fn another_key_or_any_tampering_is_refused() {
        let t = key(1).sign(&claims(Kind::Access));
        assert_eq!(
            key(2).verify(&t, Kind::Access, 1_500),
            Err(TokenError::BadSignature)
        );
        // Rewrite the claims (sub → admin, later exp) keeping the old MAC.
        let forged = Claims {
            sub: "admin".into(),
            exp: 9_999_999_999,
            ..claims(Kind::Access)
        };
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let mac = t.rsplit('.').next().unwrap();
        let tampered = format!("kac1.{body}.{mac}");
        assert_eq!(
            key(1).verify(&tampered, Kind::Access, 1_500),
            Err(TokenError::BadSignature)
        );
        // Flip every character of the token in turn: never accepted.
        let k = key(1);
        for i in 0..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let s = String::from_utf8(b).unwrap();
            if s != t {
                assert!(k.verify(&s, Kind::Access, 1_500).is_err(), "flip at {i}");
            }
        }
    }

    #[test]
    fn malformed_tokens_say_why() {
        let k = key(1);
        for (t, want) in [
            ("", "expected three dot-separated parts"),
            ("kac1.a", "expected three dot-separated parts"),
            ("kac1.a.b.c", "expected three dot-separated parts"),
            ("kac2.a.b", "unknown version prefix"),
            ("kac1.a.!!", "signature is not base64url"),
        ] {
            assert_eq!(
                k.verify(t, Kind::Access, 0),
                Err(TokenError::Malformed(want))
            );
        }
        let long = format!("kac1.{}.x", "a".repeat(MAX_TOKEN_LEN));
        assert_eq!(
            k.verify(&long, Kind::Access, 0),
            Err(TokenError::Malformed("too long"))
        );
        // A valid MAC over claims that are not ours.
        let t = k.sign_payload(br#"{"sub":"x"}"#);
        assert!(matches!(
            k.verify(&t, Kind::Access, 0),
            Err(TokenError::BadClaims(_))
        ));
        let t = k.sign_payload(br#"{"sub":"","kind":"access","iat":0,"exp":9,"jti":""}"#);
        assert!(matches!(
            k.verify(&t, Kind::Access, 0),
            Err(TokenError::BadClaims(_))
        ));
    }

    #[test]
    fn key_files_round_trip_and_short_keys_are_refused() {
        let bytes = SigningKey::generate_bytes();
        assert_ne!(bytes, SigningKey::generate_bytes());
        let text = SigningKey::encode_file(&bytes);
        let k = SigningKey::parse_file(&text).unwrap();
        let t = k.sign(&claims(Kind::Refresh));
        assert!(SigningKey::from_bytes(&bytes)
            .unwrap()
            .verify(&t, Kind::Refresh, 1_000)
            .is_ok());
        assert_eq!(
            SigningKey::parse_file(&STANDARD.encode([1u8; 16])).unwrap_err(),
            KeyError::TooShort(16)
        );
        assert!(matches!(
            SigningKey::parse_file("not base64!"),
            Err(KeyError::NotBase64(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn fuzz_check_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            fuzz_check(&data);
        }

        #[test]
        fn arbitrary_claims_round_trip(sub in "[a-z@.]{1,20}", iat in 0i64..1<<40, ttl in 1i64..1<<20, refresh: bool) {
            let kind = if refresh { Kind::Refresh } else { Kind::Access };
            let c = Claims { sub, kind, iat, exp: iat + ttl, jti: "j".into() };
            let k = key(3);
            proptest::prop_assert_eq!(k.verify(&k.sign(&c), kind, iat), Ok(c));
        }
    }

    #[test]
    fn fuzz_check_accepts_signed_claims_mode() {
        let mut d = vec![1u8];
        d.extend_from_slice(br#"{"sub":"a","kind":"access","iat":1,"exp":2,"jti":"x"}"#);
        fuzz_check(&d);
        fuzz_check(b"\x00kac1.e30.AAAA");
    }
}
