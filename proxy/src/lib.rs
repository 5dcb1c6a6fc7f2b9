//! # kac-proxy: the authenticating, policy-enforcing, auditing proxy
//!
//! **Owns:** the listener (TLS, HTTP/1.1 and HTTP/2), user authentication,
//! the cluster registry, the request flow (attribute → decide → impersonate →
//! forward → audit), the audit pipeline into the store, and the wiring of
//! response filtering and session recording into that flow.
//!
//! **Must not touch:** policy semantics (kac-policy), request attribution
//! rules (kac-request), frame decoding and session modelling (kac-recorder),
//! storage formats (kac-store). The proxy keeps no state of its own besides
//! the store, so many replicas can run behind a load balancer.

pub mod admin;
pub mod audit;
pub mod audited;
pub mod authn;
pub mod clusters;
pub mod config;
pub mod credentials;
pub mod filtering;
pub mod forward;
pub mod handler;
pub mod http;
pub mod login;
pub mod login_limit;
pub mod metrics;
pub mod run;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod siem;
pub mod users;
