//! List and watch visibility: what a list may show, and the per-object
//! test the proxy runs on each item of a filtered list or watch.

use crate::decide::{
    coverage, Applicable, ClusterContext, Coverage, RequestAttributes, UserContext,
};
use crate::model::{PolicySet, Target};
use crate::pattern::PatternSet;
use crate::spec::Effect;
use std::sync::Arc;

impl PolicySet {
    /// What a list or watch may show; see [`ListScope`].
    pub fn list_scope(
        &self,
        user: &UserContext,
        cluster: &ClusterContext,
        verb: &str,
        api_group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> ListScope {
        self.applicable(user, cluster)
            .list_scope(verb, api_group, resource, namespace)
    }
}

impl Applicable<'_> {
    /// What a list or watch of `resource` (in `namespace`, or across all
    /// namespaces when `None`) may show.
    pub fn list_scope(
        &self,
        verb: &str,
        api_group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> ListScope {
        let req = RequestAttributes {
            verb: verb.to_string(),
            api_group: api_group.to_string(),
            resource: resource.to_string(),
            namespace: namespace.map(str::to_string),
            ..RequestAttributes::default()
        };
        let prepared = self.set.prepare(&req);
        // The rules to look at: the index's candidates when that is cheaper
        // than every applicable rule (same result; order does not matter to
        // the filter, duplicates are removed).
        let mut lists = Vec::with_capacity(16);
        self.set.index.candidates(&prepared, &mut lists);
        let ids: Vec<u32> = if self.set.indexed_cost(&lists, &self.entry) < self.entry.rules {
            let mut ids: Vec<u32> = lists
                .iter()
                .flat_map(|(l, _)| l.deny.iter().chain(&l.allow).copied())
                .filter(|&id| self.entry.has(self.set.heads[id as usize].policy))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        } else {
            self.entry
                .policies
                .iter()
                .flat_map(|&i| {
                    let start = self.set.head_start[i as usize];
                    start..start + self.set.policies[i as usize].rules.len() as u32
                })
                .collect()
        };
        let mut filter = ObjectFilter::default();
        for id in ids {
            let r = self.set.rule(id).1;
            let cov = coverage(r, &prepared);
            if cov == Coverage::Miss {
                continue;
            }
            let Target::Resources {
                namespaces, names, ..
            } = &r.target
            else {
                continue;
            };
            let sel = ObjectSel {
                // Already satisfied when the list is in one namespace.
                namespaces: if namespace.is_some() {
                    None
                } else {
                    namespaces.clone()
                },
                names: names.clone(),
            };
            match (r.effect, cov) {
                (Effect::Deny, Coverage::Full) => return ListScope::None,
                (Effect::Deny, _) => filter.denies.push(sel),
                (Effect::Allow, Coverage::Full) => filter.allow_all = true,
                (Effect::Allow, _) => filter.allows.push(sel),
            }
        }
        if filter.allow_all {
            filter.allows.clear();
        }
        if !filter.allow_all && filter.allows.is_empty() {
            ListScope::None
        } else if filter.allow_all && filter.denies.is_empty() {
            ListScope::All
        } else {
            ListScope::Filter(filter)
        }
    }
}

/// What a list or watch may show.
#[derive(Debug, Clone)]
pub enum ListScope {
    /// Every object: the proxy can pass the response through undecoded.
    All,
    /// No object: the proxy answers 403 (or an empty list).
    None,
    /// Some objects: test each with [`ObjectFilter::visible`].
    Filter(ObjectFilter),
}

#[derive(Debug, Clone)]
struct ObjectSel {
    namespaces: Option<Arc<PatternSet>>,
    names: Option<Arc<PatternSet>>,
}

impl ObjectSel {
    #[inline]
    fn matches(&self, namespace: Option<&str>, name: &str) -> bool {
        if let Some(ns) = &self.namespaces {
            match namespace {
                Some(n) if ns.matches(n) => {}
                _ => return false,
            }
        }
        self.names.as_ref().is_none_or(|n| n.matches(name))
    }
}

/// A per-object visibility test for one (user, cluster, verb, resource,
/// namespace). Owns its data, so the proxy can keep it for a whole watch.
#[derive(Debug, Clone, Default)]
pub struct ObjectFilter {
    allow_all: bool,
    allows: Vec<ObjectSel>,
    denies: Vec<ObjectSel>,
}

impl ObjectFilter {
    /// Whether the object `namespace/name` may be shown. Deny wins.
    #[inline]
    pub fn visible(&self, namespace: Option<&str>, name: &str) -> bool {
        if self.denies.iter().any(|d| d.matches(namespace, name)) {
            return false;
        }
        self.allow_all || self.allows.iter().any(|a| a.matches(namespace, name))
    }
}
