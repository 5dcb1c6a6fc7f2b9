//! kac-agent: the user side of KAC. It owns the user's local state: the
//! kubeconfig entries `kac login` writes (edited byte-preservingly), the
//! credential cache in `$KAC_HOME`, and the ExecCredential plugin that
//! kubectl runs. It talks to kac-proxy only over its `/kac/v1` HTTPS API.
//!
//! Must not touch: kubeconfig entries kac did not write, policy semantics
//! (kac-policy), proxy behaviour.

pub mod api;
pub mod cache;
pub mod credentials;
pub mod files;
pub mod kubeconfig_edit;
pub mod login;
