//! kac-policy: the KAC policy spec (`kac.dev/v1alpha1`, kind `Policy`), its
//! loader and validator, the decision engine, explanations, the test-case
//! runner behind `kac policy test`, and hot reload.
//!
//! Owns: `policy/`. Must not touch: request attribution (the proxy maps
//! `kac_request::RequestInfo` into [`RequestAttributes`]; this crate does not
//! depend on kac-request), networking, signals, async runtimes, audit events.
//! Everything here is plain data and pure functions except file reading in
//! [`PolicySet::load`] and [`PolicyStore`].
//!
//! ```no_run
//! use kac_policy::*;
//! let set = PolicySet::load(&["samples/policies"]).unwrap();
//! let user = UserContext { name: "david".into(), ..Default::default() };
//! let cluster = ClusterContext { name: "prod".into(), ..Default::default() };
//! let req = RequestAttributes { verb: "get".into(), resource: "pods".into(),
//!     namespace: Some("david".into()), name: Some("web".into()), ..Default::default() };
//! println!("{}", set.decide(&user, &cluster, &req));
//! ```

mod cache;
pub mod cases;
mod compile;
mod decide;
mod error;
mod explain;
mod index;
mod load;
mod locate;
mod model;
mod pattern;
mod reach;
mod reqspec;
mod scope;
pub mod spec;
mod store;
mod verbs;

pub use decide::{
    is_discovery_path, Applicable, ClusterContext, Decision, DenyReason, RequestAttributes,
    RuleRef, Subjects, UserContext, AUTHENTICATED_GROUP, BUILTIN_DISCOVERY, DISCOVERY_PATHS,
};
pub use error::{Diagnostic, LoadError};
pub use explain::{describe_request, Explanation, RuleOutcome, RuleTrace};
pub use load::fuzz_load;
pub use model::{PolicySet, DEFAULT_SUBJECT_USER};
pub use pattern::{Pattern, PatternError, PatternSet};
pub use reqspec::{parse_request, parse_request_args};
pub use scope::{ListScope, ObjectFilter};
pub use spec::{Effect, SessionRecording, API_VERSION, KIND_POLICY, KIND_TEST_SUITE};
pub use store::{LiveSet, PolicyStore, ReloadReport};
pub use verbs::KNOWN_VERBS;
