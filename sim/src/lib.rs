//! kac-sim: a simulated Kubernetes API server, faithful at the wire level, that real
//! kubectl 1.32 and the Python `kubernetes` client drive in KAC's tests and demo.
//!
//! It owns: the HTTP/TLS server, authentication (tokens, client certs), impersonation,
//! a small RBAC model, request attribution and the request log, discovery, OpenAPI,
//! the in-memory object store with list/watch/patch semantics, and Table output.
//! The streaming pod subresources live in `streams/` (another engineer's module);
//! this crate routes to them after auth. It must not depend on kac-request: the sim
//! is the independent reference the proxy's request attribution is tested against.

pub mod api;
pub mod auth;
pub mod discovery;
pub mod fuzz;
pub mod handlers;
pub mod http;
pub mod negotiate;
pub mod objects;
pub mod openapi;
pub mod patch;
pub mod proto;
pub mod rbac;
pub mod reqlog;
pub mod requestinfo;
pub mod resources;
pub mod reviews;
pub mod router;
pub mod schema;
pub mod seed;
pub mod selector;
pub mod server;
pub mod state;
pub mod store;
pub mod streams;
pub mod table;
pub mod watch;
