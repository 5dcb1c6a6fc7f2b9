//! A bounded memo of "which policies apply to this user on this cluster".
//!
//! Why: with many policies assigned to everyone, finding the applicable
//! ones (cluster patterns, conditions, a sort) costs more than the decision
//! itself, and the answer only changes when the user, the cluster's tags or
//! the policy set change.
//!
//! Safety of the memo:
//! - the key is the *whole* user (name, groups, attributes) and cluster
//!   (name, tags); a hit compares them in full, so a hash collision or a
//!   changed tag can never return another context's answer;
//! - it lives inside one [`crate::PolicySet`]: a reload builds a new set
//!   with an empty memo, so nothing computed from old policies survives;
//! - sets of at most [`MEMO_MIN_POLICIES`] policies skip the memo: finding
//!   their applicable policies costs less than a lookup;
//! - memory is bounded: two generations of at most [`GENERATION`] entries;
//!   when the current one fills up the previous one is dropped (a cheap
//!   approximation of LRU: entries used since the last turn survive one
//!   more, when they are copied forward on a hit).

use crate::decide::{ClusterContext, UserContext};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, RwLock};

/// Smaller sets compute applicable policies on every call.
pub(crate) const MEMO_MIN_POLICIES: usize = 64;

/// Entries per generation; at most twice this many are kept.
pub(crate) const GENERATION: usize = 1024;

/// The applicable policies of one (user, cluster).
#[derive(Debug)]
pub(crate) struct ApplicableEntry {
    /// Indexes into `PolicySet::policies`, ascending (= name order).
    pub policies: Vec<u32>,
    /// The same as a bitset, for the indexed decision path.
    pub bits: Vec<u64>,
    /// Total rules of those policies: the cost of a linear decision.
    pub rules: usize,
}

impl ApplicableEntry {
    pub fn new(policies: Vec<u32>, total_policies: usize, rules: usize) -> ApplicableEntry {
        let mut bits = vec![0u64; total_policies.div_ceil(64)];
        for &p in &policies {
            bits[p as usize / 64] |= 1 << (p % 64);
        }
        ApplicableEntry {
            policies,
            bits,
            rules,
        }
    }

    /// Whether policy `p` applies.
    #[inline]
    pub fn has(&self, p: u32) -> bool {
        self.bits[p as usize / 64] & (1 << (p % 64)) != 0
    }
}

/// Entries by key hash; each with the full context it was computed for.
type Generation = HashMap<u64, Vec<(UserContext, ClusterContext, Arc<ApplicableEntry>)>>;

#[derive(Default)]
struct Generations {
    current: Generation,
    current_len: usize,
    previous: Generation,
}

fn find(
    g: &Generation,
    h: u64,
    u: &UserContext,
    c: &ClusterContext,
) -> Option<Arc<ApplicableEntry>> {
    g.get(&h)?
        .iter()
        .find(|(eu, ec, _)| eu == u && ec == c)
        .map(|(_, _, e)| Arc::clone(e))
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct ApplicableCache {
    hasher: RandomState,
    inner: RwLock<Generations>,
}

impl ApplicableCache {
    fn key(&self, u: &UserContext, c: &ClusterContext) -> u64 {
        let mut h = self.hasher.build_hasher();
        u.name.hash(&mut h);
        u.groups.hash(&mut h);
        u.attributes.hash(&mut h);
        c.name.hash(&mut h);
        c.tags.hash(&mut h);
        h.finish()
    }

    /// The memoised entry, or `compute()`'s, remembered.
    pub fn get_or_insert(
        &self,
        u: &UserContext,
        c: &ClusterContext,
        compute: impl FnOnce() -> ApplicableEntry,
    ) -> Arc<ApplicableEntry> {
        let h = self.key(u, c);
        let old = {
            let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = find(&g.current, h, u, c) {
                return e;
            }
            find(&g.previous, h, u, c)
        };
        let entry = old.unwrap_or_else(|| Arc::new(compute()));
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = find(&g.current, h, u, c) {
            return e; // another thread got there first
        }
        if g.current_len >= GENERATION {
            g.previous = std::mem::take(&mut g.current);
            g.current_len = 0;
        }
        g.current
            .entry(h)
            .or_default()
            .push((u.clone(), c.clone(), Arc::clone(&entry)));
        g.current_len += 1;
        entry
    }

    /// Number of remembered entries (both generations; an entry copied
    /// forward counts twice).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        g.current_len + g.previous.values().map(Vec::len).sum::<usize>()
    }
}

/// A copy of a set starts with an empty memo.
impl Clone for ApplicableCache {
    fn clone(&self) -> Self {
        ApplicableCache::default()
    }
}

impl std::fmt::Debug for ApplicableCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApplicableCache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ctx(user: &str, tag: &str) -> (UserContext, ClusterContext) {
        (
            UserContext {
                name: user.into(),
                ..Default::default()
            },
            ClusterContext {
                name: "c".into(),
                tags: BTreeMap::from([("ClusterType".into(), tag.into())]),
            },
        )
    }

    #[test]
    fn hits_only_for_the_same_user_and_tags() {
        let cache = ApplicableCache::default();
        let (u, dev) = ctx("u", "dev");
        let (_, prod) = ctx("u", "prod");
        let a = cache.get_or_insert(&u, &dev, || ApplicableEntry::new(vec![1], 2, 1));
        let b = cache.get_or_insert(&u, &dev, || panic!("must hit"));
        assert!(Arc::ptr_eq(&a, &b));
        let c = cache.get_or_insert(&u, &prod, || ApplicableEntry::new(vec![0], 2, 1));
        assert_eq!(
            (c.policies.as_slice(), c.has(0), c.has(1)),
            (&[0u32][..], true, false)
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let cache = ApplicableCache::default();
        for i in 0..GENERATION * 5 + 7 {
            let (u, c) = ctx(&format!("user-{i}"), "dev");
            cache.get_or_insert(&u, &c, || ApplicableEntry::new(vec![], 0, 0));
            assert!(cache.len() <= 2 * GENERATION, "{} entries", cache.len());
        }
        // A recent entry is still remembered.
        let (u, c) = ctx(&format!("user-{}", GENERATION * 5 + 6), "dev");
        cache.get_or_insert(&u, &c, || panic!("recent entry evicted"));
    }
}
