//! # kac-credential: signed, short-lived KAC credentials
//!
//! **Owns:** the token format `kac1.<claims>.<mac>` that `kac-proxy` issues
//! at `POST /kac/v1/login` and accepts as a bearer token, the signing key
//! (its file form and generation), and the JSON types of the login protocol
//! (`/kac/v1/login`, `/kac/v1/refresh`, `/kac/v1/clusters`) shared by the
//! proxy and the `kac` agent, so both sides agree on the wire by
//! construction. Reference: docs/login.md.
//!
//! **Must not touch:** users, passwords, HTTP, files or clocks. Everything
//! here is plain data and pure functions; the caller passes "now" and the
//! key bytes. Tokens are stateless on purpose: any proxy replica holding the
//! same key verifies any other replica's tokens, and revocation is done by
//! the caller consulting its users file on every use.

mod protocol;
mod token;

pub use protocol::{
    ClusterInfo, ClusterList, LoginRequest, LoginResponse, RefreshRequest, API_VERSION,
    KIND_LOGIN_RESPONSE,
};
pub use token::{
    fuzz_check, Claims, KeyError, Kind, SigningKey, TokenError, MAX_TOKEN_LEN, PREFIX,
};
