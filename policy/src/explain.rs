//! Explanations: the decision plus every rule that matched or nearly
//! matched, so a user (or an auditor) can see *why*.
//!
//! A rule "nearly matches" when exactly one of its criteria fails (verb,
//! resource, namespace, name, URL), or when it would match but its policy
//! does not apply here (cluster or condition). Rules further off are counted
//! but not shown.

use crate::decide::{
    coverage, inapplicable, is_assigned, is_discovery_path, kinds_match, ClusterContext, Coverage,
    Decision, Prepared, RequestAttributes, UserContext, BUILTIN_DISCOVERY,
};
use crate::model::{PolicySet, Rule, Target};
use crate::spec::Effect;
use std::fmt;

/// How one rule relates to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOutcome {
    /// Covers the whole request.
    Matched,
    /// Covers part of a list/watch (items are filtered) or, for other
    /// requests, some objects they may touch.
    PartlyMatched,
    /// Exactly one criterion fails; the text says which.
    NearMiss(String),
}

/// One rule worth showing.
#[derive(Debug, Clone)]
pub struct RuleTrace {
    pub policy: String,
    pub file: String,
    pub line: usize,
    pub index: usize,
    pub name: Option<String>,
    pub effect: Effect,
    pub summary: String,
    pub outcome: RuleOutcome,
    /// Why the rule's policy does not apply here, if it does not.
    pub policy_inapplicable: Option<String>,
}

/// The decision with its reasons. `Display` prints the report of
/// `kac policy explain`.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub user: String,
    pub cluster: String,
    pub request: String,
    pub decision: Decision,
    /// Applicable policies, in name order.
    pub applicable: Vec<String>,
    pub rules: Vec<RuleTrace>,
    /// Whether the built-in discovery allow covers the request.
    pub discovery_default: bool,
    /// Rules of assigned policies not shown because they are far off.
    pub hidden_rules: usize,
}

/// Text like `delete pods/nginx-1 -n default` for a request.
pub fn describe_request(req: &RequestAttributes) -> String {
    if let Some(p) = &req.non_resource_path {
        return format!("{} {p}", req.verb);
    }
    let mut s = format!("{} {}", req.verb, req.resource);
    if !req.api_group.is_empty() {
        s.push('.');
        s.push_str(&req.api_group);
    }
    if let Some(n) = &req.name {
        s.push('/');
        s.push_str(n);
    }
    if !req.subresource.is_empty() && req.subresource != req.verb {
        s.push('/');
        s.push_str(&req.subresource);
    }
    match &req.namespace {
        Some(ns) => s.push_str(&format!(" -n {ns}")),
        None if req.name.is_none() => s.push_str(" (all namespaces / cluster-scoped)"),
        None => s.push_str(" (cluster-scoped)"),
    }
    s
}

fn summarize(rule: &Rule) -> String {
    let verbs = rule.verbs.names().join(",");
    match &rule.target {
        Target::NonResource { urls } => format!("verbs [{verbs}] on nonResourceURLs {urls}"),
        Target::Resources {
            kinds,
            namespaces,
            names,
        } => {
            let kinds: Vec<String> = kinds.iter().map(ToString::to_string).collect();
            let mut s = format!("verbs [{verbs}] on [{}]", kinds.join(", "));
            if let Some(ns) = namespaces {
                s.push_str(&format!(" in namespaces {ns}"));
            }
            if let Some(n) = names {
                s.push_str(&format!(" named {n}"));
            }
            s
        }
    }
}

/// The criteria of `rule` that fail for `req`.
fn failures(rule: &Rule, p: &Prepared<'_>) -> Vec<String> {
    let req = p.req;
    let mut out = Vec::new();
    if !rule.verbs.contains(&req.verb) {
        out.push(format!(
            "verb {:?} not in [{}]",
            req.verb,
            rule.verbs.names().join(", ")
        ));
    }
    match (&rule.target, &req.non_resource_path) {
        (Target::NonResource { urls }, Some(p)) => {
            if !urls.matches(p) {
                out.push(format!("path {p:?} not in {urls}"));
            }
        }
        (Target::NonResource { .. }, None) => out.push("rule is for non-resource URLs".into()),
        (Target::Resources { .. }, Some(_)) => {
            out.push("rule is for resources, request is a non-resource URL".into())
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
                let shown: Vec<String> = kinds.iter().map(ToString::to_string).collect();
                let mut res = req.resource.clone();
                if !req.api_group.is_empty() {
                    res = format!("{res}.{}", req.api_group);
                }
                out.push(format!("resource {res:?} not in [{}]", shown.join(", ")));
            }
            if let Some(ns) = namespaces {
                match (&req.namespace, &req.name) {
                    (Some(n), _) if !ns.matches(n) => {
                        out.push(format!("namespace {n:?} not in {ns}"))
                    }
                    (None, Some(_)) => out.push(format!(
                        "cluster-scoped request, rule limited to namespaces {ns}"
                    )),
                    _ => {}
                }
            }
            if let (Some(names), Some(n)) = (names, &req.name) {
                if !names.matches(n) {
                    out.push(format!("name {n:?} not in {names}"));
                }
            }
        }
    }
    out
}

impl PolicySet {
    /// Decides `req` and records every rule that matched or nearly matched.
    pub fn explain(
        &self,
        user: &UserContext,
        cluster: &ClusterContext,
        req: &RequestAttributes,
    ) -> Explanation {
        let app = self.applicable(user, cluster);
        let decision = app.decide(req);
        let prepared = self.prepare(req);
        let mut rules = Vec::new();
        let mut hidden = 0;
        for p in &self.policies {
            if !is_assigned(p, user) {
                continue;
            }
            let why_not = inapplicable(p, user, cluster);
            for r in &p.rules {
                let cov = coverage(r, &prepared);
                let outcome = match cov {
                    Coverage::Full => RuleOutcome::Matched,
                    Coverage::Partial => RuleOutcome::PartlyMatched,
                    Coverage::Miss => {
                        let f = failures(r, &prepared);
                        if f.len() == 1 && why_not.is_none() {
                            RuleOutcome::NearMiss(f.into_iter().next().unwrap_or_default())
                        } else {
                            hidden += 1;
                            continue;
                        }
                    }
                };
                rules.push(RuleTrace {
                    policy: p.name.to_string(),
                    file: p.file.to_string(),
                    line: r.line,
                    index: r.index,
                    name: r.name.as_deref().map(str::to_string),
                    effect: r.effect,
                    summary: summarize(r),
                    outcome,
                    policy_inapplicable: why_not.clone(),
                });
            }
        }
        let discovery_default = req
            .non_resource_path
            .as_deref()
            .is_some_and(is_discovery_path)
            && req.verb == "get";
        Explanation {
            user: user.name.clone(),
            cluster: cluster.name.clone(),
            request: describe_request(req),
            decision,
            applicable: app.policy_names().into_iter().map(str::to_string).collect(),
            rules,
            discovery_default,
            hidden_rules: hidden,
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "user {} on cluster {}: {}",
            self.user, self.cluster, self.request
        )?;
        writeln!(f, "decision: {}", self.decision)?;
        if self.applicable.is_empty() {
            writeln!(f, "applicable policies: none")?;
        } else {
            writeln!(f, "applicable policies: {}", self.applicable.join(", "))?;
        }
        if self.discovery_default {
            writeln!(
                f,
                "default: {BUILTIN_DISCOVERY} allows get on discovery paths for every authenticated user (a deny rule overrides it)"
            )?;
        }
        if self.rules.is_empty() {
            writeln!(f, "no rule matched or nearly matched")?;
        } else {
            writeln!(f, "rules:")?;
        }
        for r in &self.rules {
            let effect = match r.effect {
                Effect::Allow => "allow",
                Effect::Deny => "deny ",
            };
            let status = match (&r.outcome, &r.policy_inapplicable) {
                (RuleOutcome::Matched, None) => "MATCH  ".to_string(),
                (RuleOutcome::PartlyMatched, None) => "PARTIAL".to_string(),
                (RuleOutcome::NearMiss(_), _) => "near   ".to_string(),
                (_, Some(_)) => "inert  ".to_string(),
            };
            let name = r
                .name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            writeln!(
                f,
                "  {status} {effect} {}.actions[{}]{name} {}:{}: {}",
                r.policy, r.index, r.file, r.line, r.summary
            )?;
            match (&r.outcome, &r.policy_inapplicable) {
                (RuleOutcome::NearMiss(why), _) => writeln!(f, "          but {why}")?,
                (_, Some(why)) => writeln!(f, "          but policy does not apply: {why}")?,
                (RuleOutcome::PartlyMatched, None) => writeln!(
                    f,
                    "          covers only some objects (name/namespace patterns)"
                )?,
                _ => {}
            }
        }
        if self.hidden_rules > 0 {
            writeln!(
                f,
                "({} other rules of the user's policies are not close)",
                self.hidden_rules
            )?;
        }
        Ok(())
    }
}
