//! Decisions: who may do what, on which cluster, and as whom the proxy acts.
//!
//! Semantics (see docs/policy.md):
//! - default deny; any matching deny beats any allow, whatever the priority;
//! - policies are evaluated in name order and the set is sorted by name at
//!   load, so results never depend on file order;
//! - cluster tags and user attributes change at run time: the applicable
//!   policies are memoised per whole (user, cluster) context, tags included,
//!   so a changed tag is a different key (see `cache`);
//! - the rules that can match are found through an index built at load
//!   (see `index`); the linear scan stays as the reference evaluation;
//! - list/watch without a name may be allowed partially: the proxy then
//!   filters items with [`crate::ObjectFilter::visible`].

use crate::cache::{ApplicableEntry, MEMO_MIN_POLICIES};
use crate::model::{CondSource, Condition, Policy, PolicySet, Rule, Target, ANY_ID};
use crate::spec::{Effect, SessionRecording};
use crate::verbs::VerbSet;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// An authenticated KAC user, from the proxy's users file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserContext {
    pub name: String,
    pub groups: Vec<String>,
    /// Attributes such as `team=platform`, tested by `userAttribute` conditions.
    pub attributes: BTreeMap<String, String>,
}

/// A cluster from the registry; its tags may change at any time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterContext {
    pub name: String,
    /// Tags such as `ClusterType=dev`, tested by `clusterTag` conditions.
    pub tags: BTreeMap<String, String>,
}

/// What a request asks for, as the proxy attributes it.
///
/// The proxy fills this from `kac_request::RequestInfo`:
/// - `verb` = `RequestInfo::kac_verb()`: the Kubernetes verb (get, list,
///   watch, create, update, patch, delete, deletecollection, …) except that
///   the pod subresources exec, attach, portforward, log and proxy become
///   those KAC verbs, so "read pods" never covers "exec into pods";
/// - `api_group` (`""` for the core group), `resource` (plural, e.g. `pods`),
///   `subresource` (`""` when none), `namespace` and `name` as attributed;
/// - for non-resource requests (`/version`, `/apis`, …) `non_resource_path`
///   is the URL path, `verb` the lower-case HTTP method (`get`), and the
///   resource fields are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestAttributes {
    pub verb: String,
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub non_resource_path: Option<String>,
}

/// The identity the proxy impersonates upstream (`Impersonate-User`,
/// `Impersonate-Group`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    pub user: String,
    pub groups: Vec<String>,
}

/// A rule of a policy: its position in `spec.actions` and its optional name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub index: usize,
    pub name: Option<Arc<str>>,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "actions[{}]", self.index)?;
        if let Some(n) = &self.name {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}

/// Why a request was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// A deny rule matches the request.
    ExplicitDeny,
    /// A deny rule matches some of the objects a request without a name
    /// (create, deletecollection) may touch; only list and watch can be
    /// filtered, so the request is denied whole.
    DenyMayApply,
    /// Policies apply to the user on this cluster, but none allows this.
    NoMatchingAllow,
    /// No policy applies to the user on this cluster.
    NoApplicablePolicy,
}

impl DenyReason {
    /// Stable identifier, used in test cases and audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::ExplicitDeny => "explicit-deny",
            DenyReason::DenyMayApply => "deny-may-apply",
            DenyReason::NoMatchingAllow => "no-matching-allow",
            DenyReason::NoApplicablePolicy => "no-applicable-policy",
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DenyReason::ExplicitDeny => "denied by a deny rule",
            DenyReason::DenyMayApply => {
                "a deny rule covers some objects this request may touch, and it cannot be filtered"
            }
            DenyReason::NoMatchingAllow => "no rule allows this request (default deny)",
            DenyReason::NoApplicablePolicy => {
                "no policy applies to this user on this cluster (default deny)"
            }
        })
    }
}

/// The name under which the built-in discovery rule appears.
pub const BUILTIN_DISCOVERY: &str = "builtin:discovery";

/// Paths every authenticated user may `get` unless a deny rule says
/// otherwise, like Kubernetes' system:discovery role.
pub const DISCOVERY_PATHS: &[&str] = &[
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/version",
    "/openapi/*",
    "/healthz",
    "/readyz",
    "/livez",
];

/// Group given to the built-in discovery subject; kube-apiserver (and
/// kac-sim) grant discovery to it.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// Whether a non-resource path is covered by the built-in discovery allow.
pub fn is_discovery_path(path: &str) -> bool {
    DISCOVERY_PATHS.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == *p || path.strip_prefix(p) == Some("/"),
    })
}

/// The outcome of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow {
        /// Whom the proxy impersonates.
        subjects: Subjects,
        /// The allowing policy (`builtin:discovery` for the built-in rule).
        policy: Arc<str>,
        rule: RuleRef,
        /// The session (exec/attach) must be recorded.
        require_recording: bool,
        /// A list/watch allowed only in part: filter items with
        /// [`PolicySet::list_scope`].
        filtered: bool,
    },
    Deny {
        /// The denying policy and rule, for explicit denies.
        policy: Option<Arc<str>>,
        rule: Option<RuleRef>,
        reason: DenyReason,
    },
}

impl Decision {
    /// Whether the request is allowed.
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allow {
                subjects,
                policy,
                rule,
                require_recording,
                filtered,
            } => {
                write!(
                    f,
                    "ALLOW by policy {policy} {rule} as user {:?}",
                    subjects.user
                )?;
                if !subjects.groups.is_empty() {
                    write!(f, " groups [{}]", subjects.groups.join(", "))?;
                }
                if *filtered {
                    f.write_str(", list filtered per object")?;
                }
                if *require_recording {
                    f.write_str(", session recording required")?;
                }
                Ok(())
            }
            Decision::Deny {
                policy,
                rule,
                reason,
            } => {
                f.write_str("DENY")?;
                if let Some(p) = policy {
                    write!(f, " by policy {p}")?;
                }
                if let Some(r) = rule {
                    write!(f, " {r}")?;
                }
                write!(f, ": {reason}")
            }
        }
    }
}

/// How far a rule covers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coverage {
    /// Every object the request touches.
    Full,
    /// Some objects (a list across namespaces, or a name pattern on a
    /// request without a name).
    Partial,
    /// None.
    Miss,
}

/// A request with its verb and kind resolved to the set's interned ids, so
/// each rule check compares integers.
pub(crate) struct Prepared<'r> {
    pub req: &'r RequestAttributes,
    pub verb_bit: u32,
    pub rid: u32,
    pub gid: u32,
}

impl PolicySet {
    pub(crate) fn prepare<'r>(&self, req: &'r RequestAttributes) -> Prepared<'r> {
        Prepared {
            req,
            verb_bit: VerbSet::bit(&req.verb),
            rid: self.symbol(&req.resource),
            gid: self.symbol(&req.api_group),
        }
    }
}

/// Whether a rule's resource kinds cover the prepared request.
#[inline]
pub(crate) fn kinds_match(rule: &Rule, kinds: &[crate::model::KindSel], p: &Prepared<'_>) -> bool {
    let (gid, rid) = rule.kind_head;
    ((gid == ANY_ID || gid == p.gid) && (rid == ANY_ID || rid == p.rid))
        || (kinds.len() > 1 && kinds[1..].iter().any(|k| k.matches_ids(p.gid, p.rid)))
}

/// Coverage of a rule for a request.
#[inline]
pub(crate) fn coverage(rule: &Rule, p: &Prepared<'_>) -> Coverage {
    if !rule.verbs.contains_bit(p.verb_bit) {
        return Coverage::Miss;
    }
    let req = p.req;
    match (&rule.target, &req.non_resource_path) {
        (Target::NonResource { urls }, Some(path)) => {
            if urls.matches(path) {
                Coverage::Full
            } else {
                Coverage::Miss
            }
        }
        (
            Target::Resources {
                kinds,
                namespaces,
                names,
            },
            None,
        ) => {
            if !kinds_match(rule, kinds, p) {
                return Coverage::Miss;
            }
            let mut cov = Coverage::Full;
            if let Some(ns) = namespaces {
                match (&req.namespace, &req.name) {
                    (Some(n), _) if ns.matches(n) => {}
                    (Some(_), _) => return Coverage::Miss,
                    // A cluster-wide collection may include matching namespaces.
                    (None, None) => cov = Coverage::Partial,
                    // A named cluster-scoped object is in no namespace.
                    (None, Some(_)) => return Coverage::Miss,
                }
            }
            if let Some(names) = names {
                match &req.name {
                    Some(n) if names.matches(n) => {}
                    Some(_) => return Coverage::Miss,
                    None => cov = Coverage::Partial,
                }
            }
            cov
        }
        _ => Coverage::Miss,
    }
}

/// Whether a list/watch response can be filtered per object.
pub(crate) fn is_filterable(req: &RequestAttributes) -> bool {
    req.non_resource_path.is_none()
        && req.name.is_none()
        && (req.verb == "list" || req.verb == "watch")
}

pub(crate) fn subjects_for(policy: &Policy, user: &UserContext) -> Subjects {
    Subjects {
        user: policy.subject_user.replace("{user}", &user.name),
        groups: policy.subject_groups.clone(),
    }
}

pub(crate) fn builtin_subjects(user: &UserContext) -> Subjects {
    Subjects {
        user: crate::model::DEFAULT_SUBJECT_USER.replace("{user}", &user.name),
        groups: vec![AUTHENTICATED_GROUP.to_string()],
    }
}

/// An allow by rule `r` of policy `p`; `partly` when the allows cover only
/// part of the objects or a deny covers some (filtered if filterable).
fn allow(
    p: &Policy,
    r: &Rule,
    user: &UserContext,
    req: &RequestAttributes,
    partly: bool,
) -> Decision {
    Decision::Allow {
        subjects: subjects_for(p, user),
        policy: p.name.clone(),
        rule: RuleRef {
            index: r.index,
            name: r.name.clone(),
        },
        require_recording: wants_recording(p, &req.verb),
        filtered: is_filterable(req) && partly,
    }
}

fn wants_recording(policy: &Policy, verb: &str) -> bool {
    policy.recording == SessionRecording::Required && (verb == "exec" || verb == "attach")
}

fn condition_holds(c: &Condition, user: &UserContext, cluster: &ClusterContext) -> bool {
    let value = match c.source {
        CondSource::ClusterTag => cluster.tags.get(&c.key),
        CondSource::UserAttribute => user.attributes.get(&c.key),
    };
    c.holds(value.map(String::as_str))
}

/// Why a policy does not apply, or `None` when it does (for explain; the
/// decision path uses the memoised check in [`PolicySet::applicable`]).
pub(crate) fn inapplicable(
    policy: &Policy,
    user: &UserContext,
    cluster: &ClusterContext,
) -> Option<String> {
    if !policy.clusters.matches(&cluster.name) {
        return Some(format!(
            "cluster {:?} not in {}",
            cluster.name, policy.clusters
        ));
    }
    for c in &policy.conditions {
        let value = match c.source {
            CondSource::ClusterTag => cluster.tags.get(&c.key),
            CondSource::UserAttribute => user.attributes.get(&c.key),
        };
        if !c.holds(value.map(String::as_str)) {
            let shown = value.map_or("unset".to_string(), |v| format!("{v:?}"));
            return Some(format!("condition {c} is false ({} is {shown})", c.key));
        }
    }
    None
}

/// Whether a policy is assigned to the user (before cluster and conditions).
pub(crate) fn is_assigned(policy: &Policy, user: &UserContext) -> bool {
    policy.everyone
        || policy.users.contains(&user.name)
        || policy.groups.iter().any(|g| user.groups.contains(g))
}

/// The policies that apply to one user on one cluster, computed once and
/// reused, e.g. for every item of a list.
pub struct Applicable<'a> {
    pub(crate) set: &'a PolicySet,
    pub(crate) user: &'a UserContext,
    /// Memoised per set (see `cache`).
    pub(crate) entry: Arc<ApplicableEntry>,
}

impl PolicySet {
    /// The policies assigned to `user` whose clusters and conditions hold on
    /// `cluster`. Memoised per (user, tags, cluster, tags) within this set,
    /// so a tag change is seen at once and a reload starts afresh.
    pub fn applicable<'a>(
        &'a self,
        user: &'a UserContext,
        cluster: &ClusterContext,
    ) -> Applicable<'a> {
        let entry = if self.policies.len() <= MEMO_MIN_POLICIES {
            Arc::new(self.compute_applicable(user, cluster))
        } else {
            self.cache
                .get_or_insert(user, cluster, || self.compute_applicable(user, cluster))
        };
        Applicable {
            set: self,
            user,
            entry,
        }
    }

    fn compute_applicable(&self, user: &UserContext, cluster: &ClusterContext) -> ApplicableEntry {
        let mut idx: Vec<u32> = Vec::new();
        if let Some(v) = self.by_user.get(&user.name) {
            idx.extend_from_slice(v);
        }
        for g in &user.groups {
            if let Some(v) = self.by_group.get(g) {
                idx.extend_from_slice(v);
            }
        }
        idx.extend_from_slice(&self.everyone);
        idx.sort_unstable();
        idx.dedup();
        // Each distinct condition is evaluated at most once per call:
        // 0 = not yet, 1 = holds, 2 = fails.
        let mut memo = vec![0u8; self.conditions.len()];
        idx.retain(|&i| {
            let p = &self.policies[i as usize];
            p.clusters.matches(&cluster.name)
                && p.cond_ids.iter().all(|&c| {
                    let slot = &mut memo[c as usize];
                    if *slot == 0 {
                        *slot = if condition_holds(&self.conditions[c as usize], user, cluster) {
                            1
                        } else {
                            2
                        };
                    }
                    *slot == 1
                })
        });
        let rules = idx
            .iter()
            .map(|&i| self.policies[i as usize].rules.len())
            .sum();
        ApplicableEntry::new(idx, self.policies.len(), rules)
    }

    /// The decision as computed before the index and the memo: applicable
    /// policies found afresh, every applicable rule scanned. The baseline
    /// of the `decide` benchmark and a test oracle; not for production use.
    #[doc(hidden)]
    pub fn decide_reference(
        &self,
        user: &UserContext,
        cluster: &ClusterContext,
        req: &RequestAttributes,
    ) -> Decision {
        let entry = Arc::new(self.compute_applicable(user, cluster));
        Applicable {
            set: self,
            user,
            entry,
        }
        .decide_linear(req)
    }

    /// Decides one request. Shorthand for `applicable(..).decide(..)`.
    pub fn decide(
        &self,
        user: &UserContext,
        cluster: &ClusterContext,
        req: &RequestAttributes,
    ) -> Decision {
        self.applicable(user, cluster).decide(req)
    }
}

impl Applicable<'_> {
    /// Whether no policy applies.
    pub fn is_empty(&self) -> bool {
        self.entry.policies.is_empty()
    }

    /// Names of the applicable policies, in name order.
    pub fn policy_names(&self) -> Vec<&str> {
        self.entry
            .policies
            .iter()
            .map(|&i| &*self.set.policies[i as usize].name)
            .collect()
    }

    /// Decides one request, through the rule index unless scanning the
    /// applicable rules is cheaper (few applicable rules, big candidate
    /// lists). Both give the same decision.
    pub fn decide(&self, req: &RequestAttributes) -> Decision {
        let prepared = self.set.prepare(req);
        let mut lists = Vec::with_capacity(16);
        self.set.index.candidates(&prepared, &mut lists);
        if self.set.indexed_cost(&lists, &self.entry) < self.entry.rules {
            self.decide_from(req, &lists, &prepared)
        } else {
            self.decide_linear(req)
        }
    }

    /// Decides one request through the rule index only (tests compare it
    /// with [`Applicable::decide_linear`]).
    #[doc(hidden)]
    pub fn decide_indexed(&self, req: &RequestAttributes) -> Decision {
        let prepared = self.set.prepare(req);
        let mut lists = Vec::with_capacity(16);
        self.set.index.candidates(&prepared, &mut lists);
        self.decide_from(req, &lists, &prepared)
    }

    fn decide_from(
        &self,
        req: &RequestAttributes,
        lists: &[crate::index::Candidate<'_>],
        prepared: &Prepared<'_>,
    ) -> Decision {
        let filterable = is_filterable(req);
        let f = self.set.facts(lists, &self.entry, prepared, filterable);
        if let Some((id, cov)) = f.first_deny {
            let (p, r) = self.set.rule(id);
            return Decision::Deny {
                policy: Some(p.name.clone()),
                rule: Some(RuleRef {
                    index: r.index,
                    name: r.name.clone(),
                }),
                reason: if cov == Coverage::Full {
                    DenyReason::ExplicitDeny
                } else {
                    DenyReason::DenyMayApply
                },
            };
        }
        if let Some((_, id)) = f.best_allow {
            let (p, r) = self.set.rule(id);
            return allow(p, r, self.user, req, f.partial_deny || !f.full_allow);
        }
        self.no_allow(req)
    }

    /// Decides one request by scanning every applicable rule in order: the
    /// straightforward evaluation, kept as the reference the indexed path
    /// is tested against, and used when few rules apply.
    #[doc(hidden)]
    pub fn decide_linear(&self, req: &RequestAttributes) -> Decision {
        let prepared = self.set.prepare(req);
        let filterable = is_filterable(req);
        let mut full_allow = false;
        // Best allow: highest priority, then first policy by name, then first rule.
        let mut best: Option<(&Policy, &Rule)> = None;
        let mut partial_deny = false;
        let resource_request = req.non_resource_path.is_none();
        // A collection across all namespaces: coverage follows from the head.
        let cluster_wide_collection =
            resource_request && req.namespace.is_none() && req.name.is_none();
        for &i in &self.entry.policies {
            let p = &self.set.policies[i as usize];
            let start = self.set.head_start[i as usize] as usize;
            let heads = &self.set.heads[start..start + p.rules.len()];
            for (h, r) in heads.iter().zip(&p.rules) {
                // Cheap rejection on the packed head before touching the rule.
                if !h.verbs.contains_bit(prepared.verb_bit)
                    || (resource_request
                        && !h.check_full
                        && !((h.gid == ANY_ID || h.gid == prepared.gid)
                            && (h.rid == ANY_ID || h.rid == prepared.rid)))
                {
                    continue;
                }
                let cov = if cluster_wide_collection && !h.check_full {
                    if h.restricted {
                        Coverage::Partial
                    } else {
                        Coverage::Full
                    }
                } else {
                    coverage(r, &prepared)
                };
                if cov == Coverage::Miss {
                    continue;
                }
                match h.effect {
                    Effect::Deny => {
                        if cov == Coverage::Full || !filterable {
                            let reason = if cov == Coverage::Full {
                                DenyReason::ExplicitDeny
                            } else {
                                DenyReason::DenyMayApply
                            };
                            return Decision::Deny {
                                policy: Some(p.name.clone()),
                                rule: Some(RuleRef {
                                    index: r.index,
                                    name: r.name.clone(),
                                }),
                                reason,
                            };
                        }
                        partial_deny = true;
                    }
                    Effect::Allow => {
                        if cov == Coverage::Full {
                            full_allow = true;
                        } else if !filterable {
                            continue;
                        }
                        let better = match best {
                            None => true,
                            Some((bp, _)) => p.priority > bp.priority,
                        };
                        if better {
                            best = Some((p, r));
                        }
                    }
                }
            }
        }
        if let Some((p, r)) = best {
            // Filtered unless some allow covers everything and no deny covers part.
            return allow(p, r, self.user, req, partial_deny || !full_allow);
        }
        self.no_allow(req)
    }

    /// The decision when no allow rule matches: the built-in discovery
    /// allow, or default deny.
    fn no_allow(&self, req: &RequestAttributes) -> Decision {
        if let Some(path) = &req.non_resource_path {
            if req.verb == "get" && is_discovery_path(path) {
                return Decision::Allow {
                    subjects: builtin_subjects(self.user),
                    policy: Arc::from(BUILTIN_DISCOVERY),
                    rule: RuleRef {
                        index: 0,
                        name: Some(Arc::from("discovery")),
                    },
                    require_recording: false,
                    filtered: false,
                };
            }
        }
        Decision::Deny {
            policy: None,
            rule: None,
            reason: if self.entry.policies.is_empty() {
                DenyReason::NoApplicablePolicy
            } else {
                DenyReason::NoMatchingAllow
            },
        }
    }
}
