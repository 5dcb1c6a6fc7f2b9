//! The indexed decision path equals the straightforward linear evaluation
//! (`Applicable::decide_linear`, the test oracle) on generated sets that
//! exercise every index bucket: kinds with group and resource wildcards and
//! several kinds per rule, literal / prefix / glob / regex / suffix / `*`
//! namespace patterns (with and without a literal prefix), name patterns,
//! priorities, non-resource rules and assignment to users and groups.

use kac_policy::*;
use proptest::prelude::*;

const VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "delete",
    "deletecollection",
    "exec",
];
const KINDS: &[&str] = &[
    "pods",
    "*",
    "*.apps",
    "deployments.apps",
    "pods, secrets",
    "secrets",
    "crontabs.stable.example.com",
];
const NAMESPACES: &[&str] = &[
    "ns0",
    "ns*",
    "ns?",
    "^ns[0-9]$",
    "^(ns|kube)-[a-z]+$",
    "*-system",
    "kube-system",
    "*",
    "team-*, ns1",
    "^team-a[0-9]*$",
];
const NAMES: &[&str] = &["a", "a*", "^b[0-9]$", "nginx*", "*-canary"];
const URLS: &[&str] = &["/version", "/apis/*", "/healthz"];

fn rule_yaml() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        0..KINDS.len() + 1,
        proptest::option::of(0..NAMESPACES.len()),
        proptest::option::of(0..NAMES.len()),
        proptest::collection::vec(0..VERBS.len(), 1..4),
    )
        .prop_map(|(deny, kind, ns, name, verbs)| {
            let effect = if deny { "deny" } else { "allow" };
            if kind == KINDS.len() {
                let url = URLS[verbs[0] % URLS.len()];
                return format!(
                    "  - {{effect: {effect}, nonResourceURLs: [\"{url}\"], verbs: [get]}}\n"
                );
            }
            let list = |s: &str| {
                s.split(", ")
                    .map(|x| format!("\"{x}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut r = format!(
                "  - effect: {effect}\n    resources: [{}]\n",
                list(KINDS[kind])
            );
            if let Some(n) = ns {
                r += &format!("    namespaces: [{}]\n", list(NAMESPACES[n]));
            }
            if let Some(n) = name {
                r += &format!("    names: [\"{}\"]\n", NAMES[n]);
            }
            let verbs: Vec<&str> = verbs.iter().map(|&v| VERBS[v]).collect();
            r + &format!("    verbs: [{}]\n", verbs.join(", "))
        })
}

fn policy_yaml() -> impl Strategy<Value = (i32, u8, Vec<String>)> {
    (
        -1..2i32,
        0..4u8,
        proptest::collection::vec(rule_yaml(), 1..6),
    )
}

fn set_of(policies: &[(i32, u8, Vec<String>)]) -> PolicySet {
    let docs: Vec<String> = policies
        .iter()
        .enumerate()
        .map(|(i, (prio, assign, rules))| {
            let assign = match assign {
                0 => "{everyone: true}".to_string(),
                1 => "{users: [u0]}".to_string(),
                2 => "{groups: [g0]}".to_string(),
                _ => "{users: [u1]}".to_string(),
            };
            format!(
                "apiVersion: kac.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: p{i:02}\nspec:\n  priority: {prio}\n  assignTo: {assign}\n  resources: {{clusters: [\"*\"]}}\n  subjects: {{groups: [s{i}]}}\n  actions:\n{}",
                rules.concat()
            )
        })
        .collect();
    let text = docs.join("---\n");
    PolicySet::from_yaml_str("gen.yaml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn request() -> impl Strategy<Value = RequestAttributes> {
    (
        0..VERBS.len(),
        prop::sample::select(vec![
            ("pods", ""),
            ("deployments", "apps"),
            ("replicasets", "apps"),
            ("secrets", ""),
            ("nodes", ""),
            ("crontabs", "stable.example.com"),
            ("", ""),
        ]),
        proptest::option::of(prop::sample::select(vec![
            "ns0",
            "ns1",
            "ns12",
            "kube-system",
            "kube-public",
            "team-a",
            "team-a7",
            "n",
            "other",
        ])),
        proptest::option::of(prop::sample::select(vec![
            "a",
            "a1",
            "b1",
            "nginx-1",
            "web-canary",
            "z",
        ])),
    )
        .prop_map(|(verb, (resource, group), namespace, name)| {
            if resource.is_empty() {
                return RequestAttributes {
                    verb: "get".into(),
                    non_resource_path: Some(
                        ["/version", "/apis/apps", "/metrics"][verb % 3].into(),
                    ),
                    ..Default::default()
                };
            }
            RequestAttributes {
                verb: VERBS[verb].into(),
                api_group: group.into(),
                resource: resource.into(),
                namespace: namespace.map(str::to_string),
                name: name.filter(|_| VERBS[verb] != "create").map(str::to_string),
                ..Default::default()
            }
        })
}

fn users() -> Vec<UserContext> {
    vec![
        UserContext {
            name: "u0".into(),
            ..Default::default()
        },
        UserContext {
            name: "u1".into(),
            groups: vec!["g0".into()],
            ..Default::default()
        },
        UserContext {
            name: "stranger".into(),
            ..Default::default()
        },
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Indexed, linear and the chosen path agree on every decision.
    #[test]
    fn indexed_equals_linear(
        policies in proptest::collection::vec(policy_yaml(), 0..25),
        reqs in proptest::collection::vec(request(), 1..12),
    ) {
        let set = set_of(&policies);
        let cluster = ClusterContext { name: "c".into(), ..Default::default() };
        for user in users() {
            let app = set.applicable(&user, &cluster);
            for req in &reqs {
                let linear = app.decide_linear(req);
                prop_assert_eq!(&app.decide_indexed(req), &linear, "{:?} {:?}", user.name, req);
                prop_assert_eq!(&set.decide(&user, &cluster, req), &linear);
            }
        }
    }
}

/// The same on the shape of the benchmark (many policies, all applicable):
/// here the index is the path `decide` takes.
#[test]
fn indexed_equals_linear_on_a_large_set() {
    let policies: Vec<(i32, u8, Vec<String>)> = (0..300)
        .map(|i| {
            let rules = (0..6)
                .map(|r| {
                    format!(
                        "  - {{effect: {}, resources: [\"{}\"], namespaces: [\"{}\"], verbs: [get, list, watch]}}\n",
                        if r % 4 == 3 { "deny" } else { "allow" },
                        ["pods", "deployments.apps", "*"][r % 3],
                        [format!("ns-{i}"), format!("team-{i}-*"), format!("^app-{i}-[0-9]+$")][r % 3],
                    )
                })
                .collect();
            (i % 3, 0, rules)
        })
        .collect();
    let set = set_of(&policies);
    let user = UserContext::default();
    let cluster = ClusterContext::default();
    let app = set.applicable(&user, &cluster);
    let mut checked = 0;
    for verb in ["get", "list", "watch", "delete"] {
        for ns in [
            None,
            Some("ns-7"),
            Some("team-12-x"),
            Some("app-5-3"),
            Some("app-5-x"),
            Some("zzz"),
        ] {
            for (resource, group) in [("pods", ""), ("deployments", "apps"), ("secrets", "")] {
                for name in [None, Some("web")] {
                    let req = RequestAttributes {
                        verb: verb.into(),
                        api_group: group.into(),
                        resource: resource.into(),
                        namespace: ns.map(str::to_string),
                        name: name.map(str::to_string),
                        ..Default::default()
                    };
                    assert_eq!(app.decide_indexed(&req), app.decide_linear(&req), "{req:?}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 4 * 6 * 3 * 2);
}
