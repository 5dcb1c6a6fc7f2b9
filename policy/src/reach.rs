//! Which clusters a user can reach at all: the clusters the user gets a
//! kubeconfig context for (`kac demo`, `kac login`) and the answer of the
//! proxy's `GET /kac/v1/clusters`.
//!
//! One definition for all of them, so a context is offered exactly where
//! some request could be allowed: a cluster is reachable when at least one
//! policy that applies to the user there (assignment, cluster selector and
//! conditions, with the cluster's *current* tags) has an allow rule. A
//! policy with only deny rules grants nothing, so it opens no context.

use crate::decide::{ClusterContext, UserContext};
use crate::model::PolicySet;
use crate::spec::Effect;

impl PolicySet {
    /// Whether some policy could allow `user` something on `cluster`.
    pub fn reaches(&self, user: &UserContext, cluster: &ClusterContext) -> bool {
        // Through the public view of `applicable`, so this stays correct
        // however applicability is computed or cached.
        let applicable = self.applicable(user, cluster);
        applicable.policy_names().into_iter().any(|name| {
            self.policies
                .binary_search_by(|p| (*p.name).cmp(name))
                .is_ok_and(|i| {
                    self.policies[i]
                        .rules
                        .iter()
                        .any(|r| r.effect == Effect::Allow)
                })
        })
    }

    /// The clusters of `clusters` that `user` can reach, in input order.
    pub fn reachable_clusters<'c>(
        &self,
        user: &UserContext,
        clusters: &'c [ClusterContext],
    ) -> Vec<&'c ClusterContext> {
        clusters.iter().filter(|c| self.reaches(user, c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> PolicySet {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/policies");
        PolicySet::load(&[dir]).unwrap()
    }

    fn user(name: &str, groups: &[&str], team: &str) -> UserContext {
        UserContext {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            attributes: [("team".to_string(), team.to_string())].into(),
        }
    }

    fn cluster(name: &str, kind: &str) -> ClusterContext {
        ClusterContext {
            name: name.into(),
            tags: [("ClusterType".to_string(), kind.to_string())].into(),
        }
    }

    #[test]
    fn sample_users_reach_what_their_policies_allow() {
        let s = set();
        let clusters = [cluster("dev", "dev"), cluster("prod", "prod")];
        let names = |u: &UserContext| -> Vec<String> {
            s.reachable_clusters(u, &clusters)
                .iter()
                .map(|c| c.name.clone())
                .collect()
        };
        assert_eq!(
            names(&user("david", &["developers"], "apps")),
            ["dev", "prod"]
        );
        assert_eq!(names(&user("sam", &["contractors"], "data")), ["dev"]);
        assert!(names(&user("mallory", &[], "")).is_empty());
    }

    #[test]
    fn retagging_a_cluster_changes_reach() {
        let s = set();
        let sam = user("sam", &["contractors"], "data");
        assert!(!s.reaches(&sam, &cluster("prod", "prod")));
        // sam's policy applies where ClusterType matches dev*.
        assert!(s.reaches(&sam, &cluster("prod", "dev-like")));
    }
}
