//! The compiled policy set: patterns compiled, verbs as bitmasks, policies
//! sorted by name and indexed by assignment. Nothing here depends on cluster
//! tags or user attributes, which change at run time and are evaluated per
//! call (see `decide`).

use crate::cache::ApplicableCache;
use crate::index::RuleIndex;
use crate::pattern::PatternSet;
use crate::spec::{Effect, SessionRecording};
use crate::verbs::VerbSet;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The default impersonated user: the KAC user name with a `kac:` prefix, so
/// a KAC user can never be confused with a cluster-local user of that name.
pub const DEFAULT_SUBJECT_USER: &str = "kac:{user}";

/// A resource kind selector: `pods` (core group), `deployments.apps`,
/// `*.apps` (every resource of a group), `*` (everything, CRDs included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KindSel {
    /// `None` means any resource.
    pub resource: Option<Box<str>>,
    /// `None` means any group; `Some("")` is the core group.
    pub group: Option<Box<str>>,
    /// Interned ids of `resource` and `group` ([`ANY_ID`] for `None`), so the
    /// hot path compares integers, not strings. Set by [`PolicySet`].
    pub rid: u32,
    pub gid: u32,
}

/// Id of a wildcard resource or group.
pub(crate) const ANY_ID: u32 = u32::MAX;
/// Id of a request resource or group that no rule names.
pub(crate) const UNKNOWN_ID: u32 = u32::MAX - 1;

impl KindSel {
    /// String comparison; the decision path uses [`KindSel::matches_ids`].
    #[cfg(test)]
    pub fn matches(&self, group: &str, resource: &str) -> bool {
        self.resource.as_deref().is_none_or(|r| r == resource)
            && self.group.as_deref().is_none_or(|g| g == group)
    }

    /// Compares interned ids (see [`PolicySet::symbol`]).
    #[inline]
    pub fn matches_ids(&self, gid: u32, rid: u32) -> bool {
        (self.rid == ANY_ID || self.rid == rid) && (self.gid == ANY_ID || self.gid == gid)
    }
}

impl std::fmt::Display for KindSel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.resource, &self.group) {
            (None, None) => f.write_str("*"),
            (r, g) => {
                f.write_str(r.as_deref().unwrap_or("*"))?;
                match g.as_deref() {
                    Some("") => Ok(()),
                    Some(g) => write!(f, ".{g}"),
                    None => f.write_str(".*"),
                }
            }
        }
    }
}

/// What a rule applies to.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Resources {
        kinds: Vec<KindSel>,
        /// `None`: any namespace and cluster-scoped requests too.
        namespaces: Option<Arc<PatternSet>>,
        /// `None`: any name, and requests without a name (list, create).
        names: Option<Arc<PatternSet>>,
    },
    NonResource {
        urls: PatternSet,
    },
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub index: usize,
    pub name: Option<Arc<str>>,
    pub line: usize,
    pub effect: Effect,
    pub verbs: VerbSet,
    /// (gid, rid) of the first resource kind, copied out of `target` so the
    /// common one-kind rule is checked without following a pointer.
    pub kind_head: (u32, u32),
    pub target: Target,
}

/// Where a condition reads its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CondSource {
    ClusterTag,
    UserAttribute,
}

/// How a condition tests the value.
#[derive(Debug, Clone)]
pub(crate) enum CondTest {
    Equals(String),
    In(Vec<String>),
    Matches(crate::pattern::Pattern),
}

/// One condition of a policy.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub source: CondSource,
    pub key: String,
    pub test: CondTest,
}

impl Condition {
    #[inline]
    pub fn holds(&self, value: Option<&str>) -> bool {
        let Some(v) = value else { return false };
        match &self.test {
            CondTest::Equals(e) => e == v,
            CondTest::In(set) => set.iter().any(|e| e == v),
            CondTest::Matches(p) => p.matches(v),
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let src = match self.source {
            CondSource::ClusterTag => "cluster tag",
            CondSource::UserAttribute => "user attribute",
        };
        match &self.test {
            CondTest::Equals(e) => write!(f, "{src} {}={e}", self.key),
            CondTest::In(set) => write!(f, "{src} {} in [{}]", self.key, set.join(", ")),
            CondTest::Matches(p) => write!(f, "{src} {} matches {p}", self.key),
        }
    }
}

/// The part of a rule the decision loop tests first, packed in one array
/// for the whole set so that skipping a rule (wrong verb or kind, the
/// common case) touches 16 contiguous bytes instead of the whole rule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RuleHead {
    pub verbs: VerbSet,
    pub gid: u32,
    pub rid: u32,
    /// The rule has more kinds than the first, or is a non-resource rule:
    /// the head alone cannot rule it out on kind.
    pub check_full: bool,
    /// The rule restricts namespaces or names: for a list across all
    /// namespaces it covers part of the objects, otherwise all of them, so
    /// such lists are decided on heads alone.
    pub restricted: bool,
    pub effect: Effect,
    /// Index of the owning policy in [`PolicySet::policies`], so an indexed
    /// lookup can test applicability without a search.
    pub policy: u32,
}

/// One compiled policy.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub name: Arc<str>,
    pub file: Arc<str>,
    pub line: usize,
    pub priority: i32,
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub everyone: bool,
    pub clusters: PatternSet,
    /// Impersonated user; `{user}` stands for the KAC user name.
    pub subject_user: String,
    pub subject_groups: Vec<String>,
    pub conditions: Vec<Condition>,
    /// Indexes of `conditions` in [`PolicySet::conditions`] (deduplicated
    /// across the set, so a shared condition is evaluated once per call).
    pub cond_ids: Vec<u32>,
    pub rules: Vec<Rule>,
    pub recording: SessionRecording,
}

/// A validated, compiled set of policies. Immutable: reloads build a new set
/// and swap it in whole (see [`crate::PolicyStore`]).
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    /// Sorted by name, so decisions never depend on file order.
    pub(crate) policies: Vec<Policy>,
    pub(crate) by_user: HashMap<String, Vec<u32>>,
    pub(crate) by_group: HashMap<String, Vec<u32>>,
    pub(crate) everyone: Vec<u32>,
    pub(crate) files: Vec<PathBuf>,
    /// Interned resource and group names of all rules.
    pub(crate) symbols: HashMap<Box<str>, u32>,
    /// The distinct conditions of all policies.
    pub(crate) conditions: Vec<Condition>,
    /// Rule heads of all policies; policy `i` owns `heads[head_start[i]..]`
    /// (as many as it has rules).
    pub(crate) heads: Vec<RuleHead>,
    pub(crate) head_start: Vec<u32>,
    /// Rules bucketed by kind and namespace (see [`crate::index`]).
    pub(crate) index: RuleIndex,
    /// Applicable policies per (user, cluster), memoised for this set only:
    /// a reload builds a new set, so the memo never outlives the policies it
    /// was computed from.
    pub(crate) cache: ApplicableCache,
}

impl PolicySet {
    /// A set with no policies: everything is denied except discovery.
    pub fn empty() -> PolicySet {
        PolicySet::default()
    }

    pub(crate) fn from_policies(mut policies: Vec<Policy>, files: Vec<PathBuf>) -> PolicySet {
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        let mut set = PolicySet {
            files,
            ..PolicySet::default()
        };
        let mut cond_index: HashMap<String, u32> = HashMap::new();
        for p in &mut policies {
            p.cond_ids = p
                .conditions
                .iter()
                .map(|c| {
                    let key = format!("{:?}|{}|{:?}", c.source, c.key, c.test);
                    *cond_index.entry(key).or_insert_with(|| {
                        set.conditions.push(c.clone());
                        (set.conditions.len() - 1) as u32
                    })
                })
                .collect();
            for r in &mut p.rules {
                if let Target::Resources { kinds, .. } = &mut r.target {
                    for k in kinds.iter_mut() {
                        k.rid = intern(&mut set.symbols, k.resource.as_deref());
                        k.gid = intern(&mut set.symbols, k.group.as_deref());
                    }
                    if let Some(k) = kinds.first() {
                        r.kind_head = (k.gid, k.rid);
                    }
                }
            }
        }
        for (pi, p) in policies.iter().enumerate() {
            set.head_start.push(set.heads.len() as u32);
            for r in &p.rules {
                let (gid, rid) = r.kind_head;
                let (check_full, restricted) = match &r.target {
                    Target::Resources {
                        kinds,
                        namespaces,
                        names,
                    } => (kinds.len() > 1, namespaces.is_some() || names.is_some()),
                    Target::NonResource { .. } => (true, true),
                };
                set.heads.push(RuleHead {
                    verbs: r.verbs,
                    gid,
                    rid,
                    check_full,
                    restricted,
                    effect: r.effect,
                    policy: pi as u32,
                });
            }
        }
        for (i, p) in policies.iter().enumerate() {
            let i = i as u32;
            for u in &p.users {
                set.by_user.entry(u.clone()).or_default().push(i);
            }
            for g in &p.groups {
                set.by_group.entry(g.clone()).or_default().push(i);
            }
            if p.everyone {
                set.everyone.push(i);
            }
        }
        set.index = RuleIndex::build(&policies);
        set.policies = policies;
        set
    }

    /// The rule behind a head id (a position in `heads`).
    #[inline]
    pub(crate) fn rule(&self, id: u32) -> (&Policy, &Rule) {
        let pi = self.heads[id as usize].policy as usize;
        let p = &self.policies[pi];
        (p, &p.rules[id as usize - self.head_start[pi] as usize])
    }

    /// The interned id of a request's resource or group name.
    #[inline]
    pub(crate) fn symbol(&self, name: &str) -> u32 {
        self.symbols.get(name).copied().unwrap_or(UNKNOWN_ID)
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Whether the set has no policies.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Policy names, sorted.
    pub fn policy_names(&self) -> impl Iterator<Item = &str> {
        self.policies.iter().map(|p| &*p.name)
    }

    /// Total number of rules.
    pub fn rule_count(&self) -> usize {
        self.policies.iter().map(|p| p.rules.len()).sum()
    }

    /// The files the set was loaded from (after expanding directories).
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

fn intern(symbols: &mut HashMap<Box<str>, u32>, name: Option<&str>) -> u32 {
    let Some(name) = name else { return ANY_ID };
    let next = symbols.len() as u32;
    *symbols.entry(name.into()).or_insert(next)
}
