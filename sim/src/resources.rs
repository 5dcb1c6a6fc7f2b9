//! The resource types the sim serves: names, kinds, scope, verbs, short names and
//! categories, as discovery (`/api`, `/apis`) advertises them.

/// One served resource type (a "REST mapping").
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    pub group: &'static str,
    pub version: &'static str,
    /// Plural resource name, e.g. `pods`.
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Subresources: (name, kind, verbs).
    pub subresources: &'static [(&'static str, &'static str, &'static [&'static str])],
}

/// The verbs of a plain CRUD resource.
pub const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

const POD_SUBRESOURCES: &[(&str, &str, &[&str])] = &[
    ("attach", "PodAttachOptions", &["create", "get"]),
    ("exec", "PodExecOptions", &["create", "get"]),
    ("log", "Pod", &["get"]),
    ("portforward", "PodPortForwardOptions", &["create", "get"]),
    ("status", "Pod", &["get", "patch", "update"]),
];

/// Everything the sim serves, in discovery order.
pub static RESOURCES: &[ResourceType] = &[
    ResourceType {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        subresources: &[],
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        subresources: &[],
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        subresources: &[
            ("finalize", "Namespace", &["update"]),
            ("status", "Namespace", &["get", "patch", "update"]),
        ],
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        subresources: POD_SUBRESOURCES,
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
    },
    ResourceType {
        group: "",
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        subresources: &[("status", "Service", &["get", "patch", "update"])],
    },
    ResourceType {
        group: "apps",
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        subresources: &[
            ("scale", "Scale", &["get", "patch", "update"]),
            ("status", "Deployment", &["get", "patch", "update"]),
        ],
    },
    ResourceType {
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        singular: "customresourcedefinition",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short_names: &["crd", "crds"],
        categories: &["api-extensions"],
        subresources: &[(
            "status",
            "CustomResourceDefinition",
            &["get", "patch", "update"],
        )],
    },
    ResourceType {
        group: "stable.example.com",
        version: "v1",
        plural: "crontabs",
        singular: "crontab",
        kind: "CronTab",
        namespaced: true,
        short_names: &["ct"],
        categories: &["all"],
        subresources: &[],
    },
];

impl ResourceType {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group-qualified resource used in error messages.
    pub fn group_resource(&self) -> crate::api::GroupResource {
        crate::api::GroupResource::new(self.group, self.plural)
    }

    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.iter().any(|(s, _, _)| *s == sub)
    }

    /// A stable index, used as the store's per-type key.
    pub fn index(&self) -> usize {
        RESOURCES
            .iter()
            .position(|r| std::ptr::eq(r, self))
            .unwrap_or(usize::MAX)
    }
}

/// Finds a served resource by group, version and plural name.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds a served resource by apiVersion and kind (used when seeding).
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}

/// The distinct API groups (excluding the core group), in discovery order.
pub fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in RESOURCES {
        if !r.group.is_empty() && !out.contains(&r.group) {
            out.push(r.group);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(lookup("", "v1", "pods").unwrap().kind, "Pod");
        assert_eq!(
            lookup("apps", "v1", "deployments").unwrap().api_version(),
            "apps/v1"
        );
        assert!(lookup("apps", "v1", "pods").is_none());
        assert_eq!(
            by_kind("stable.example.com/v1", "CronTab").unwrap().plural,
            "crontabs"
        );
        assert_eq!(RESOURCES[3].index(), 3);
        assert_eq!(
            groups(),
            vec!["apps", "apiextensions.k8s.io", "stable.example.com"]
        );
    }
}
