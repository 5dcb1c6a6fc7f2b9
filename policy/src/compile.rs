//! Validation and compilation of one parsed document into a [`Policy`].
//!
//! Every check records the field path; the loader turns paths into line
//! numbers. All problems of a document are reported, not just the first.

use crate::error::Diagnostic;
use crate::locate::{locate, FieldPath};
use crate::model::{
    CondSource, CondTest, Condition, KindSel, Policy, Rule, Target, ANY_ID, DEFAULT_SUBJECT_USER,
    UNKNOWN_ID,
};
use crate::pattern::{Pattern, PatternSet};
use crate::spec::{ActionSpec, ConditionSpec, PolicyDocument, API_VERSION};
use crate::verbs::{suggest, VerbSet};
use std::sync::Arc;

/// Collects diagnostics for one document.
pub(crate) struct Checker<'a> {
    pub file: &'a str,
    pub text: &'a str,
    /// Line offset of the document within its file.
    pub offset: usize,
    pub out: Vec<Diagnostic>,
}

impl Checker<'_> {
    pub fn line_of(&self, path: &FieldPath) -> usize {
        locate(self.text, path) + self.offset
    }

    pub fn error(&mut self, path: &FieldPath, message: impl Into<String>) {
        self.out.push(Diagnostic {
            file: self.file.to_string(),
            line: Some(self.line_of(path)),
            field: path.to_string(),
            message: message.into(),
        });
    }

    fn non_empty_list<'s>(
        &mut self,
        path: &FieldPath,
        list: &'s Option<Vec<String>>,
        what: &str,
    ) -> Option<&'s [String]> {
        match list {
            Some(l) if l.is_empty() => {
                self.error(
                    path,
                    format!("empty selector: list at least one {what}, or omit the field"),
                );
                None
            }
            Some(l) => Some(l),
            None => None,
        }
    }

    fn patterns(&mut self, path: &FieldPath, list: &[String]) -> Option<PatternSet> {
        let mut out = Vec::with_capacity(list.len());
        let mut ok = true;
        for (i, text) in list.iter().enumerate() {
            match Pattern::parse(text) {
                Ok(p) => out.push(p),
                Err(e) => {
                    self.error(&path.index(i), e.0);
                    ok = false;
                }
            }
        }
        ok.then(|| PatternSet::new(out))
    }

    fn literals(&mut self, path: &FieldPath, list: &[String], what: &str) -> Vec<String> {
        for (i, s) in list.iter().enumerate() {
            if s.trim().is_empty() {
                self.error(&path.index(i), format!("empty {what}"));
            }
        }
        list.to_vec()
    }
}

fn root() -> FieldPath {
    FieldPath(Vec::new())
}

/// Validates and compiles one document. `Err` holds every problem found.
pub(crate) fn compile(doc: &PolicyDocument, ck: &mut Checker<'_>) -> Option<Policy> {
    let before = ck.out.len();
    if doc.api_version != API_VERSION {
        ck.error(
            &root().key("apiVersion"),
            format!(
                "unsupported apiVersion {:?} (expected {API_VERSION:?})",
                doc.api_version
            ),
        );
    }
    let name = doc.metadata.name.trim();
    let name_path = root().key("metadata").key("name");
    if name.is_empty() {
        ck.error(&name_path, "policy name must not be empty");
    } else if name.starts_with("builtin:") {
        ck.error(
            &name_path,
            "names starting with \"builtin:\" are reserved for KAC's built-in rules",
        );
    } else if name.chars().any(char::is_whitespace) {
        ck.error(
            &name_path,
            format!("policy name {name:?} must not contain whitespace"),
        );
    }
    let spec = root().key("spec");
    let s = &doc.spec;

    let at = spec.key("assignTo");
    let users = ck
        .non_empty_list(&at.key("users"), &s.assign_to.users, "user")
        .map(|l| ck_literals(ck, &at.key("users"), l, "user name"))
        .unwrap_or_default();
    let groups = ck
        .non_empty_list(&at.key("groups"), &s.assign_to.groups, "group")
        .map(|l| ck_literals(ck, &at.key("groups"), l, "group name"))
        .unwrap_or_default();
    if s.assign_to.users.is_none() && s.assign_to.groups.is_none() && !s.assign_to.everyone {
        ck.error(&at, "assign the policy to users, groups, or everyone: true");
    }

    let cl = spec.key("resources").key("clusters");
    let clusters = if s.resources.clusters.is_empty() {
        ck.error(
            &cl,
            "empty selector: list at least one cluster (\"*\" for all)",
        );
        None
    } else {
        ck.patterns(&cl, &s.resources.clusters)
    };

    let sp = spec.key("subjects");
    let subject_user = match &s.subjects.user {
        Some(u) if u.trim().is_empty() => {
            ck.error(
                &sp.key("user"),
                "empty subject user (omit it for the default \"kac:{user}\")",
            );
            String::new()
        }
        Some(u) => u.clone(),
        None => DEFAULT_SUBJECT_USER.to_string(),
    };
    let subject_groups = ck.literals(&sp.key("groups"), &s.subjects.groups, "group");

    let cp = spec.key("conditions");
    let conditions: Vec<Condition> = s
        .conditions
        .iter()
        .enumerate()
        .filter_map(|(i, c)| condition(ck, &cp.index(i), c))
        .collect();

    let ap = spec.key("actions");
    if s.actions.is_empty() {
        ck.error(&ap, "empty selector: a policy needs at least one action");
    }
    let rules: Vec<Rule> = s
        .actions
        .iter()
        .enumerate()
        .filter_map(|(i, a)| rule(ck, &ap.index(i), i, a))
        .collect();

    if ck.out.len() > before {
        return None;
    }
    Some(Policy {
        name: Arc::from(name),
        file: Arc::from(ck.file),
        line: ck.line_of(&name_path),
        priority: s.priority,
        users,
        groups,
        everyone: s.assign_to.everyone,
        clusters: clusters?,
        subject_user,
        subject_groups,
        conditions,
        cond_ids: Vec::new(),
        rules,
        recording: s.session_recording.unwrap_or_default(),
    })
}

fn ck_literals(ck: &mut Checker<'_>, path: &FieldPath, list: &[String], what: &str) -> Vec<String> {
    ck.literals(path, list, what)
}

fn condition(ck: &mut Checker<'_>, path: &FieldPath, c: &ConditionSpec) -> Option<Condition> {
    let (source, key, key_field) = match (&c.cluster_tag, &c.user_attribute) {
        (Some(k), None) => (CondSource::ClusterTag, k, "clusterTag"),
        (None, Some(k)) => (CondSource::UserAttribute, k, "userAttribute"),
        _ => {
            ck.error(
                path,
                "a condition tests exactly one of clusterTag or userAttribute",
            );
            return None;
        }
    };
    if key.trim().is_empty() {
        ck.error(&path.key(key_field), "empty key");
        return None;
    }
    let test = match (&c.equals, &c.in_, &c.matches) {
        (Some(e), None, None) => CondTest::Equals(e.clone()),
        (None, Some(set), None) => {
            if set.is_empty() {
                ck.error(&path.key("in"), "empty selector: list at least one value");
                return None;
            }
            CondTest::In(set.clone())
        }
        (None, None, Some(p)) => match Pattern::parse(p) {
            Ok(p) => CondTest::Matches(p),
            Err(e) => {
                ck.error(&path.key("matches"), e.0);
                return None;
            }
        },
        _ => {
            ck.error(
                path,
                "a condition needs exactly one of equals, in or matches",
            );
            return None;
        }
    };
    Some(Condition {
        source,
        key: key.clone(),
        test,
    })
}

/// Parses `resource[.group]`: `pods`, `deployments.apps`, `*.apps`, `*`,
/// `widgets.example.com`. Resource names never contain dots, so the first
/// dot separates resource and group.
pub(crate) fn parse_kind(text: &str) -> Result<KindSel, String> {
    if text == "*" {
        return Ok(KindSel {
            resource: None,
            group: None,
            rid: ANY_ID,
            gid: ANY_ID,
        });
    }
    let (res, group) = match text.split_once('.') {
        Some((r, g)) => (r, Some(g)),
        None => (text, None),
    };
    let valid_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if res != "*" && !valid_name(res) {
        if res.chars().any(|c| c.is_ascii_uppercase()) {
            let mut hint = res.to_ascii_lowercase();
            if !hint.ends_with('s') {
                hint.push('s');
            }
            return Err(format!(
                "resources are lower-case plural names: {text:?} (did you mean {hint:?}?)"
            ));
        }
        return Err(format!(
            "bad resource {text:?}: expected resource[.group], e.g. pods or deployments.apps"
        ));
    }
    if res.contains('/') {
        return Err(format!(
            "bad resource {text:?}: subresources are selected by verb"
        ));
    }
    let group = match group {
        None => Some(""),
        Some("*") => None,
        Some(g) if !g.is_empty() && g.split('.').all(valid_name) => Some(g),
        Some(g) => return Err(format!("bad API group {g:?} in {text:?}")),
    };
    // Ids are assigned when the set is built (PolicySet::from_policies).
    Ok(KindSel {
        resource: (res != "*").then(|| res.into()),
        group: group.map(Into::into),
        rid: UNKNOWN_ID,
        gid: UNKNOWN_ID,
    })
}

fn rule(ck: &mut Checker<'_>, path: &FieldPath, index: usize, a: &ActionSpec) -> Option<Rule> {
    let before = ck.out.len();
    let vp = path.key("verbs");
    let mut verbs = VerbSet::default();
    if a.verbs.is_empty() {
        ck.error(
            &vp,
            "empty selector: list at least one verb (\"*\" for all)",
        );
    }
    for (i, v) in a.verbs.iter().enumerate() {
        match VerbSet::parse_one(v) {
            Some(bits) => verbs = verbs.union(bits),
            None => {
                let hint = suggest(v)
                    .map(|s| format!(" (did you mean {s:?}?)"))
                    .unwrap_or_default();
                ck.error(&vp.index(i), format!("unknown verb {v:?}{hint}"));
            }
        }
    }
    let target = match (&a.resources, &a.non_resource_urls) {
        (Some(_), Some(_)) | (None, None) => {
            ck.error(
                path,
                "a rule names exactly one of resources or nonResourceURLs",
            );
            None
        }
        (Some(_), None) => {
            let rp = path.key("resources");
            let kinds = ck
                .non_empty_list(&rp, &a.resources, "resource (\"*\" for all)")
                .map(|list| {
                    let mut kinds = Vec::new();
                    for (i, k) in list.iter().enumerate() {
                        match parse_kind(k) {
                            Ok(k) => kinds.push(k),
                            Err(e) => ck.error(&rp.index(i), e),
                        }
                    }
                    kinds
                });
            let np = path.key("namespaces");
            let namespaces = ck
                .non_empty_list(&np, &a.namespaces, "namespace")
                .and_then(|l| ck.patterns(&np, l))
                .map(Arc::new);
            let mp = path.key("names");
            let names = ck
                .non_empty_list(&mp, &a.names, "name")
                .and_then(|l| ck.patterns(&mp, l))
                .map(Arc::new);
            kinds.map(|kinds| Target::Resources {
                kinds,
                namespaces,
                names,
            })
        }
        (None, Some(_)) => {
            for (field, set) in [("namespaces", &a.namespaces), ("names", &a.names)] {
                if set.is_some() {
                    let msg = format!("{field} do not apply to nonResourceURLs rules");
                    ck.error(
                        &path.key(if field == "names" {
                            "names"
                        } else {
                            "namespaces"
                        }),
                        msg,
                    );
                }
            }
            let up = path.key("nonResourceURLs");
            let list = ck.non_empty_list(&up, &a.non_resource_urls, "URL path")?;
            for (i, u) in list.iter().enumerate() {
                if u != "*" && !u.starts_with('/') {
                    ck.error(
                        &up.index(i),
                        format!("non-resource URL {u:?} must start with /"),
                    );
                }
            }
            ck.patterns(&up, list)
                .map(|urls| Target::NonResource { urls })
        }
    };
    if ck.out.len() > before {
        return None;
    }
    Some(Rule {
        index,
        name: a.name.as_deref().map(Arc::from),
        line: ck.line_of(path),
        effect: a.effect,
        verbs,
        kind_head: (UNKNOWN_ID, UNKNOWN_ID),
        target: target?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_with_groups() {
        let k = parse_kind("pods").unwrap();
        assert!(k.matches("", "pods"));
        assert!(!k.matches("apps", "pods"));
        assert!(!k.matches("", "services"));
        let k = parse_kind("deployments.apps").unwrap();
        assert!(k.matches("apps", "deployments"));
        assert!(!k.matches("", "deployments"));
        let k = parse_kind("*.apps").unwrap();
        assert!(k.matches("apps", "statefulsets"));
        assert!(!k.matches("batch", "jobs"));
        let k = parse_kind("widgets.example.com").unwrap();
        assert!(k.matches("example.com", "widgets"));
        let k = parse_kind("pods.*").unwrap();
        assert!(k.matches("metrics.k8s.io", "pods"));
        let k = parse_kind("*").unwrap();
        assert!(k.matches("anything.example.com", "crds"));
        assert_eq!(k.to_string(), "*");
        assert_eq!(
            parse_kind("deployments.apps").unwrap().to_string(),
            "deployments.apps"
        );
    }

    #[test]
    fn bad_kinds_are_rejected_with_hints() {
        assert!(parse_kind("Pod").unwrap_err().contains("\"pods\""));
        assert!(parse_kind("pods.").is_err());
        assert!(parse_kind("pods/log").is_err());
        assert!(parse_kind("").is_err());
        assert!(parse_kind("pods.Apps").is_err());
    }
}
