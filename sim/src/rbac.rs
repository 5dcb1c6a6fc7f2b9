//! A small RBAC model: YAML rules naming users/groups, verbs, API groups, resources
//! (with `res/sub` subresources), namespaces, resource names and non-resource URLs.
//! The default policy is `samples/sim/rbac.yaml`, embedded at build time.

use serde::Deserialize;

use crate::auth::UserInfo;

/// The default RBAC policy.
pub const DEFAULT_RBAC: &str = include_str!("../../samples/sim/rbac.yaml");

/// Who a rule applies to.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Subjects {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// One rule. Empty `namespaces` means all namespaces and cluster scope; `scope:
/// Namespaced` restricts a rule to namespaced resource types.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub subjects: Subjects,
    pub verbs: Vec<String>,
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub resource_names: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rbac {
    pub rules: Vec<Rule>,
}

/// `authorizer.Attributes`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub is_resource: bool,
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub path: String,
}

fn any_or(list: &[String], v: &str) -> bool {
    list.iter().any(|x| x == "*" || x == v)
}

fn resource_matches(rules: &[String], resource: &str, sub: &str) -> bool {
    rules.iter().any(|r| {
        if r == "*" {
            return true;
        }
        if sub.is_empty() {
            return r == resource;
        }
        match r.split_once('/') {
            Some((res, s)) => (res == resource || res == "*") && (s == sub || s == "*"),
            None => false,
        }
    })
}

fn url_matches(rules: &[String], path: &str) -> bool {
    rules.iter().any(|r| {
        r == "*"
            || r == path
            || r.strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    })
}

impl Rbac {
    pub fn parse(yaml: &str) -> anyhow::Result<Rbac> {
        use anyhow::Context;
        serde_yaml::from_str(yaml).context("parsing RBAC rules")
    }

    pub fn default_rules() -> Rbac {
        Rbac::parse(DEFAULT_RBAC).expect("embedded samples/sim/rbac.yaml is valid")
    }

    fn applies(rule: &Rule, user: &UserInfo) -> bool {
        rule.subjects.users.iter().any(|u| u == &user.name)
            || rule
                .subjects
                .groups
                .iter()
                .any(|g| user.groups.iter().any(|ug| ug == g))
    }

    /// Whether `user` may do `a`.
    pub fn authorize(&self, user: &UserInfo, a: &Attributes) -> bool {
        self.rules.iter().any(|rule| {
            if !Self::applies(rule, user) || !any_or(&rule.verbs, &a.verb) {
                return false;
            }
            if !a.is_resource {
                return url_matches(&rule.non_resource_urls, &a.path);
            }
            if rule.resources.is_empty()
                || !any_or(&rule.api_groups, &a.api_group)
                || !resource_matches(&rule.resources, &a.resource, &a.subresource)
            {
                return false;
            }
            if !rule.namespaces.is_empty()
                && !rule
                    .namespaces
                    .iter()
                    .any(|n| n == "*" || *n == a.namespace)
            {
                return false;
            }
            if rule.scope.as_deref() == Some("Namespaced") {
                let namespaced = crate::resources::RESOURCES
                    .iter()
                    .any(|r| r.plural == a.resource && r.group == a.api_group && r.namespaced);
                if !namespaced {
                    return false;
                }
            }
            rule.resource_names.is_empty() || rule.resource_names.contains(&a.name)
        })
    }
}

/// `forbiddenMessage` of `responsewriters`: the part after "is forbidden: ".
pub fn forbidden_reason(user: &str, a: &Attributes) -> String {
    if !a.is_resource {
        return format!("User \"{user}\" cannot {} path \"{}\"", a.verb, a.path);
    }
    let mut resource = a.resource.clone();
    if !a.subresource.is_empty() {
        resource = format!("{resource}/{}", a.subresource);
    }
    if !a.namespace.is_empty() {
        format!(
            "User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" in the namespace \"{}\"",
            a.verb, a.api_group, a.namespace
        )
    } else {
        format!(
            "User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" at the cluster scope",
            a.verb, a.api_group
        )
    }
}

#[cfg(test)]
mod tests;
