//! The rule index: the rules that can match a request, found without
//! scanning every applicable rule.
//!
//! Why: a decision's cost was linear in the applicable rules, so a set where
//! 1,000 policies apply to everyone took tens of microseconds. The index is
//! built once per [`PolicySet`] (it depends only on the policies, never on
//! users or tags) and buckets every rule:
//! - by resource kind `(group, resource)`, wildcards under their own keys,
//!   so a request looks at four buckets at most;
//! - within a kind, for a request in a namespace: rules for any namespace,
//!   rules naming that literal namespace, rules whose namespace pattern has a
//!   literal prefix of the namespace (looked up once per distinct prefix
//!   length), and the rest (suffix globs, regexes without a literal prefix);
//! - for a collection across all namespaces, whose coverage follows from the
//!   rule alone: unrestricted rules (cover everything) and restricted ones
//!   (cover part);
//! - by effect, each list ascending by rule id (= policy name order, then
//!   rule order), so a scan stops as soon as nothing later can change the
//!   outcome.
//!
//! The decision is computed from the same four facts the linear evaluation
//! ([`crate::Applicable::decide_linear`]) gathers: the first deny that
//! decides, whether a deny covers part of a filterable list, the best allow
//! (highest priority, then lowest id), and whether an allow covers
//! everything. Lists may overlap (a rule with several kinds or namespace
//! patterns is in several); each fact is a minimum or an "exists", so
//! duplicates do not matter. The property test `indexed_equals_linear`
//! checks the equivalence.

use crate::cache::ApplicableEntry;
use crate::decide::{coverage, Coverage, Prepared};
use crate::model::{Policy, PolicySet, Target, ANY_ID};
use crate::pattern::Pattern;
use crate::spec::Effect;
use std::collections::HashMap;

/// Rule ids (positions in `PolicySet::heads`) by effect, ascending.
#[derive(Debug, Default, Clone)]
pub(crate) struct Ids {
    pub deny: Vec<u32>,
    pub allow: Vec<u32>,
}

impl Ids {
    fn push(&mut self, id: u32, effect: Effect) {
        let list = match effect {
            Effect::Deny => &mut self.deny,
            Effect::Allow => &mut self.allow,
        };
        if list.last() != Some(&id) {
            list.push(id);
        }
    }

    fn len(&self) -> usize {
        self.deny.len() + self.allow.len()
    }
}

/// The rules of one kind key.
#[derive(Debug, Default, Clone)]
struct KindBucket {
    /// For collections across all namespaces: `[unrestricted, restricted]`,
    /// i.e. coverage Full and Partial.
    wide: [Ids; 2],
    /// Rules without a namespace selector.
    any_ns: Ids,
    ns_literal: HashMap<Box<str>, Ids>,
    ns_prefix: HashMap<Box<str>, Ids>,
    /// Distinct key lengths (bytes) of `ns_prefix`, ascending.
    prefix_lens: Vec<usize>,
    /// Namespace patterns with no literal prefix: always candidates.
    ns_other: Ids,
}

/// See the module documentation.
#[derive(Debug, Default, Clone)]
pub(crate) struct RuleIndex {
    kinds: HashMap<(u32, u32), KindBucket>,
    non_resource: Ids,
    /// The highest policy priority in the set: an allow with it cannot be
    /// beaten by a later one.
    max_priority: i32,
}

/// A candidate list, and the coverage of its rules when it follows from the
/// list alone (collections across all namespaces).
pub(crate) type Candidate<'i> = (&'i Ids, Option<Coverage>);

impl RuleIndex {
    /// Builds the index of `policies` (in set order; ids as in `heads`).
    pub(crate) fn build(policies: &[Policy]) -> RuleIndex {
        let mut index = RuleIndex {
            max_priority: policies.iter().map(|p| p.priority).max().unwrap_or(0),
            ..RuleIndex::default()
        };
        let mut id = 0u32;
        for p in policies {
            for r in &p.rules {
                let e = r.effect;
                match &r.target {
                    Target::NonResource { .. } => index.non_resource.push(id, e),
                    Target::Resources {
                        kinds,
                        namespaces,
                        names,
                    } => {
                        let mut keys: Vec<(u32, u32)> =
                            kinds.iter().map(|k| (k.gid, k.rid)).collect();
                        keys.sort_unstable();
                        keys.dedup();
                        let restricted = namespaces.is_some() || names.is_some();
                        for key in keys {
                            let b = index.kinds.entry(key).or_default();
                            b.wide[usize::from(restricted)].push(id, e);
                            let Some(ns) = namespaces else {
                                b.any_ns.push(id, e);
                                continue;
                            };
                            if ns.is_any() {
                                b.ns_other.push(id, e);
                                continue;
                            }
                            for pat in ns.patterns() {
                                match pat {
                                    Pattern::Literal(l) => {
                                        b.ns_literal.entry(l.clone()).or_default().push(id, e)
                                    }
                                    Pattern::Prefix(x)
                                    | Pattern::Glob(_, _, x)
                                    | Pattern::Regex(_, x)
                                        if !x.is_empty() =>
                                    {
                                        if !b.prefix_lens.contains(&x.len()) {
                                            b.prefix_lens.push(x.len());
                                        }
                                        b.ns_prefix.entry(x.clone()).or_default().push(id, e)
                                    }
                                    _ => b.ns_other.push(id, e),
                                }
                            }
                        }
                    }
                }
                id += 1;
            }
        }
        for b in index.kinds.values_mut() {
            b.prefix_lens.sort_unstable();
        }
        index
    }

    /// The lists holding every rule that can match `p` (and others).
    pub(crate) fn candidates<'i>(&'i self, p: &Prepared<'_>, out: &mut Vec<Candidate<'i>>) {
        let req = p.req;
        if req.non_resource_path.is_some() {
            out.push((&self.non_resource, None));
            return;
        }
        let keys = [
            (p.gid, p.rid),
            (p.gid, ANY_ID),
            (ANY_ID, p.rid),
            (ANY_ID, ANY_ID),
        ];
        for key in keys {
            let Some(b) = self.kinds.get(&key) else {
                continue;
            };
            match (req.namespace.as_deref(), &req.name) {
                (None, None) => {
                    out.push((&b.wide[0], Some(Coverage::Full)));
                    out.push((&b.wide[1], Some(Coverage::Partial)));
                }
                // A named cluster-scoped object: namespace selectors miss.
                (None, Some(_)) => out.push((&b.any_ns, None)),
                (Some(ns), _) => {
                    out.push((&b.any_ns, None));
                    out.push((&b.ns_other, None));
                    if let Some(ids) = b.ns_literal.get(ns) {
                        out.push((ids, None));
                    }
                    for &len in &b.prefix_lens {
                        if len > ns.len() {
                            break;
                        }
                        if let Some(ids) = ns.get(..len).and_then(|k| b.ns_prefix.get(k)) {
                            out.push((ids, None));
                        }
                    }
                }
            }
        }
    }
}

/// What a decision needs to know about the matching rules; see the module
/// documentation.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// The first (lowest id) deny that decides, and its coverage.
    pub first_deny: Option<(u32, Coverage)>,
    /// A deny covers part of a filterable list.
    pub partial_deny: bool,
    /// The best allow: (priority, id).
    pub best_allow: Option<(i32, u32)>,
    /// An allow covers everything the request touches.
    pub full_allow: bool,
}

impl PolicySet {
    /// Estimated rules an indexed decision looks at; compared with the
    /// applicable rule count to choose the cheaper evaluation.
    pub(crate) fn indexed_cost(&self, lists: &[Candidate<'_>], app: &ApplicableEntry) -> usize {
        // An early-exit scan of a "wide" list stops at the first applicable
        // rule, on average after (policies / applicable policies) entries.
        let stride = self.policies.len() / app.policies.len().max(1) + 1;
        lists
            .iter()
            .map(|(ids, known)| match known {
                Some(_) => ids.len().min(stride * 2),
                None => ids.len(),
            })
            .sum()
    }

    /// Gathers [`Facts`] from candidate lists, testing applicability with
    /// `app` and each rule in full unless its list fixes the coverage.
    pub(crate) fn facts(
        &self,
        lists: &[Candidate<'_>],
        app: &ApplicableEntry,
        p: &Prepared<'_>,
        filterable: bool,
    ) -> Facts {
        let mut f = Facts::default();
        let max_priority = self.index.max_priority;
        let cov_of = |id: u32, known: Option<Coverage>| -> Coverage {
            let h = &self.heads[id as usize];
            if !app.has(h.policy) || !h.verbs.contains_bit(p.verb_bit) {
                return Coverage::Miss;
            }
            known.unwrap_or_else(|| coverage(self.rule(id).1, p))
        };
        for &(ids, known) in lists {
            for &id in &ids.deny {
                if f.first_deny.is_some_and(|(d, _)| d < id) {
                    break;
                }
                match cov_of(id, known) {
                    Coverage::Miss => {}
                    Coverage::Partial if filterable => {
                        f.partial_deny = true;
                        if known.is_some() {
                            break; // the rest are partial too
                        }
                    }
                    cov => {
                        f.first_deny = Some((id, cov));
                        break;
                    }
                }
            }
        }
        if f.first_deny.is_some() {
            return f;
        }
        for &(ids, known) in lists {
            let no_full_here = known == Some(Coverage::Partial);
            for &id in &ids.allow {
                if let Some((prio, best)) = f.best_allow {
                    if prio == max_priority
                        && best < id
                        && (f.full_allow || !filterable || no_full_here)
                    {
                        break;
                    }
                }
                let cov = cov_of(id, known);
                match cov {
                    Coverage::Miss => continue,
                    Coverage::Full => f.full_allow = true,
                    Coverage::Partial if !filterable => continue,
                    Coverage::Partial => {}
                }
                let prio = self.rule(id).0.priority;
                if f.best_allow
                    .is_none_or(|(bp, bid)| prio > bp || (prio == bp && id < bid))
                {
                    f.best_allow = Some((prio, id));
                }
            }
        }
        f
    }
}
