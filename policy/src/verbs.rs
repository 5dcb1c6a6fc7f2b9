//! Verbs: the Kubernetes API verbs plus KAC's session verbs.
//!
//! KAC adds `exec`, `attach`, `portforward`, `log` and `proxy`: Kubernetes
//! reaches those through subresources with the verbs get/create, which makes
//! "read pods but never exec" impossible to say in RBAC. The proxy passes the
//! KAC verb (`kac_request::RequestInfo::kac_verb()`), so a rule on `get`
//! never covers an exec. Verbs are kept as a bitmask so matching is one AND.

/// Every verb a rule may name (besides `*`).
pub const KNOWN_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "exec",
    "attach",
    "portforward",
    "log",
    "proxy",
    "impersonate",
    "bind",
    "escalate",
    "use",
    "approve",
    "sign",
];

/// Bit for request verbs that are not in [`KNOWN_VERBS`]: only `*` covers them.
const OTHER_BIT: u32 = 1 << 31;

/// A set of verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VerbSet(u32);

impl VerbSet {
    /// All verbs, including ones KAC does not know.
    pub const ALL: VerbSet = VerbSet(u32::MAX);

    /// The bit of one request verb (unknown verbs share one bit).
    #[inline]
    pub fn bit(verb: &str) -> u32 {
        match KNOWN_VERBS.iter().position(|v| *v == verb) {
            Some(i) => 1 << i,
            None => OTHER_BIT,
        }
    }

    /// Parses one verb of a rule; `None` when it is not a known verb.
    pub fn parse_one(verb: &str) -> Option<VerbSet> {
        if verb == "*" {
            return Some(VerbSet::ALL);
        }
        KNOWN_VERBS
            .iter()
            .position(|v| *v == verb)
            .map(|i| VerbSet(1 << i))
    }

    /// Union.
    pub fn union(self, other: VerbSet) -> VerbSet {
        VerbSet(self.0 | other.0)
    }

    /// Whether the set holds the verb whose bit is `bit`.
    #[inline]
    pub fn contains_bit(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    /// Whether the set holds `verb`.
    pub fn contains(self, verb: &str) -> bool {
        self.contains_bit(VerbSet::bit(verb))
    }

    /// The verbs in the set, `*` for all.
    pub fn names(self) -> Vec<&'static str> {
        if self == VerbSet::ALL {
            return vec!["*"];
        }
        KNOWN_VERBS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, v)| *v)
            .collect()
    }
}

/// The known verb closest to a misspelt one, for "did you mean" hints.
pub fn suggest(verb: &str) -> Option<&'static str> {
    let lower = verb.to_ascii_lowercase();
    KNOWN_VERBS
        .iter()
        .map(|v| (edit_distance(&lower, v), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// Damerau-free Levenshtein distance; strings here are a few bytes long.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_verbs_and_star() {
        let s = VerbSet::parse_one("get")
            .unwrap()
            .union(VerbSet::parse_one("exec").unwrap());
        assert!(s.contains("get"));
        assert!(s.contains("exec"));
        assert!(!s.contains("list"));
        assert!(!s.contains("frobnicate"));
        assert_eq!(s.names(), vec!["get", "exec"]);
        assert!(VerbSet::ALL.contains("frobnicate"));
        assert!(VerbSet::parse_one("exce").is_none());
    }

    #[test]
    fn suggests_close_verbs_only() {
        assert_eq!(suggest("exce"), Some("exec"));
        assert_eq!(suggest("lsit"), Some("list"));
        assert_eq!(suggest("port-forward"), Some("portforward"));
        assert_eq!(suggest("Get"), Some("get"));
        assert_eq!(suggest("xyzzyplugh"), None);
    }
}
