//! Property tests: deny always wins, default is deny, decisions do not
//! depend on file order, list scopes agree with decisions, and the loader
//! never panics on arbitrary input (the same function the fuzz target runs).

use kac_policy::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

const VERBS: &[&str] = &["get", "list", "watch", "create", "delete", "exec", "log"];
const RESOURCES: &[&str] = &["pods", "*", "deployments.apps", "secrets"];
const NAMESPACES: &[&str] = &["ns0", "ns*", "^ns[0-9]$", "kube-system"];
const NAMES: &[&str] = &["a", "a*", "^b[0-9]$", "nginx*"];

#[derive(Debug, Clone)]
struct RuleGen {
    deny: bool,
    resource: usize,
    namespace: Option<usize>,
    name: Option<usize>,
    verbs: Vec<usize>,
}

#[derive(Debug, Clone)]
struct PolicyGen {
    priority: i32,
    users: Vec<usize>,
    everyone: bool,
    cluster_glob: bool,
    dev_only: bool,
    rules: Vec<RuleGen>,
}

fn rule_gen() -> impl Strategy<Value = RuleGen> {
    (
        any::<bool>(),
        0..RESOURCES.len(),
        proptest::option::of(0..NAMESPACES.len()),
        proptest::option::of(0..NAMES.len()),
        proptest::collection::vec(0..VERBS.len(), 1..3),
    )
        .prop_map(|(deny, resource, namespace, name, verbs)| RuleGen {
            deny,
            resource,
            namespace,
            name,
            verbs,
        })
}

fn policy_gen() -> impl Strategy<Value = PolicyGen> {
    (
        0..3i32,
        proptest::collection::vec(0..3usize, 0..2),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(rule_gen(), 1..4),
    )
        .prop_map(
            |(priority, users, everyone, cluster_glob, dev_only, rules)| PolicyGen {
                priority,
                everyone: everyone || users.is_empty(),
                users,
                cluster_glob,
                dev_only,
                rules,
            },
        )
}

fn yaml(i: usize, p: &PolicyGen) -> String {
    let mut s = format!(
        "apiVersion: kac.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: p{i}\nspec:\n  priority: {}\n  assignTo:\n",
        p.priority
    );
    if !p.users.is_empty() {
        let users: Vec<String> = p.users.iter().map(|u| format!("u{u}")).collect();
        s += &format!("    users: [{}]\n", users.join(", "));
    }
    if p.everyone {
        s += "    everyone: true\n";
    }
    s += &format!(
        "  resources:\n    clusters: [\"{}\"]\n",
        if p.cluster_glob { "c*" } else { "c0" }
    );
    s += &format!("  subjects:\n    groups: [g{i}]\n");
    if p.dev_only {
        s += "  conditions:\n  - clusterTag: ClusterType\n    equals: dev\n";
    }
    s += "  actions:\n";
    for r in &p.rules {
        s += &format!(
            "  - effect: {}\n    resources: [\"{}\"]\n",
            if r.deny { "deny" } else { "allow" },
            RESOURCES[r.resource]
        );
        if let Some(n) = r.namespace {
            s += &format!("    namespaces: [\"{}\"]\n", NAMESPACES[n]);
        }
        if let Some(n) = r.name {
            s += &format!("    names: [\"{}\"]\n", NAMES[n]);
        }
        let verbs: Vec<&str> = r.verbs.iter().map(|&v| VERBS[v]).collect();
        s += &format!("    verbs: [{}]\n", verbs.join(", "));
    }
    s
}

#[derive(Debug, Clone)]
struct Case {
    user: usize,
    cluster: usize,
    dev: bool,
    verb: usize,
    resource: &'static str,
    group: &'static str,
    namespace: Option<&'static str>,
    name: Option<&'static str>,
}

fn case_gen() -> impl Strategy<Value = Case> {
    (
        0..4usize,
        0..2usize,
        any::<bool>(),
        0..VERBS.len(),
        prop::sample::select(vec![
            ("pods", ""),
            ("deployments", "apps"),
            ("secrets", ""),
            ("nodes", ""),
        ]),
        proptest::option::of(prop::sample::select(vec![
            "ns0",
            "ns1",
            "kube-system",
            "other",
        ])),
        proptest::option::of(prop::sample::select(vec![
            "a", "a1", "b1", "b12", "nginx-1", "z",
        ])),
    )
        .prop_map(
            |(user, cluster, dev, verb, (resource, group), namespace, name)| Case {
                user,
                cluster,
                dev,
                verb,
                resource,
                group,
                namespace,
                name,
            },
        )
}

fn contexts(c: &Case) -> (UserContext, ClusterContext, RequestAttributes) {
    let user = UserContext {
        name: format!("u{}", c.user),
        ..Default::default()
    };
    let cluster = ClusterContext {
        name: format!("c{}", c.cluster),
        tags: BTreeMap::from([(
            "ClusterType".to_string(),
            if c.dev { "dev" } else { "prod" }.to_string(),
        )]),
    };
    let mut name = c.name.map(str::to_string);
    if VERBS[c.verb] == "create" {
        name = None;
    }
    let req = RequestAttributes {
        verb: VERBS[c.verb].to_string(),
        api_group: c.group.to_string(),
        resource: c.resource.to_string(),
        subresource: String::new(),
        namespace: c.namespace.map(str::to_string),
        name,
        non_resource_path: None,
    };
    (user, cluster, req)
}

fn build(policies: &[PolicyGen]) -> PolicySet {
    let docs: Vec<String> = policies
        .iter()
        .enumerate()
        .map(|(i, p)| yaml(i, p))
        .collect();
    PolicySet::from_yaml_str("gen.yaml", &docs.join("---\n"))
        .unwrap_or_else(|e| panic!("{e}\n{}", docs.join("---\n")))
}

const OBJECTS: &[(Option<&str>, &str)] = &[
    (Some("ns0"), "a"),
    (Some("ns1"), "b1"),
    (Some("kube-system"), "nginx-1"),
    (Some("other"), "z"),
    (None, "a"),
];

fn visibility(
    s: &PolicySet,
    u: &UserContext,
    c: &ClusterContext,
    r: &RequestAttributes,
) -> Vec<bool> {
    match s.list_scope(
        u,
        c,
        &r.verb,
        &r.api_group,
        &r.resource,
        r.namespace.as_deref(),
    ) {
        ListScope::All => vec![true; OBJECTS.len()],
        ListScope::None => vec![false; OBJECTS.len()],
        ListScope::Filter(f) => OBJECTS.iter().map(|(ns, n)| f.visible(*ns, n)).collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Adding a deny rule that covers exactly the request always denies it,
    /// whatever else the set allows and whatever the priorities.
    #[test]
    fn deny_always_wins(policies in proptest::collection::vec(policy_gen(), 0..6), case in case_gen()) {
        let (user, cluster, req) = contexts(&case);
        let mut docs: Vec<String> = policies.iter().enumerate().map(|(i, p)| yaml(i, p)).collect();
        let mut deny = format!(
            "apiVersion: kac.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: zz-deny\nspec:\n  priority: -5\n  assignTo: {{users: [{}]}}\n  resources: {{clusters: [\"{}\"]}}\n  subjects: {{}}\n  actions:\n  - effect: deny\n    resources: [\"{}{}\"]\n    verbs: [{}]\n",
            user.name, cluster.name, req.resource,
            if req.api_group.is_empty() { String::new() } else { format!(".{}", req.api_group) },
            req.verb,
        );
        if let Some(ns) = &req.namespace {
            deny += &format!("    namespaces: [{ns}]\n");
        }
        if let Some(n) = &req.name {
            deny += &format!("    names: [{n}]\n");
        }
        docs.push(deny);
        let set = PolicySet::from_yaml_str("gen.yaml", &docs.join("---\n")).unwrap();
        let d = set.decide(&user, &cluster, &req);
        match d {
            Decision::Deny { reason, .. } => prop_assert!(matches!(reason, DenyReason::ExplicitDeny | DenyReason::DenyMayApply), "{reason:?}"),
            other => prop_assert!(false, "expected deny, got {other}"),
        }
    }

    /// With only deny rules, or with nothing assigned to the user, every
    /// resource request is denied.
    #[test]
    fn default_is_deny(policies in proptest::collection::vec(policy_gen(), 0..6), case in case_gen()) {
        let (user, cluster, req) = contexts(&case);
        let only_denies: Vec<PolicyGen> = policies.iter().cloned().map(|mut p| {
            for r in &mut p.rules { r.deny = true; }
            p
        }).collect();
        prop_assert!(!build(&only_denies).decide(&user, &cluster, &req).is_allow());
        let stranger = UserContext { name: "stranger".into(), ..Default::default() };
        let not_everyone: Vec<PolicyGen> = policies.iter().cloned().map(|mut p| { p.everyone = false; p.users = vec![0]; p }).collect();
        let d = build(&not_everyone).decide(&stranger, &cluster, &req);
        prop_assert_eq!(d, Decision::Deny { policy: None, rule: None, reason: DenyReason::NoApplicablePolicy });
    }

    /// Shuffling documents, or splitting them over files, changes nothing.
    #[test]
    fn decisions_do_not_depend_on_file_order(
        policies in proptest::collection::vec(policy_gen(), 1..7),
        cases in proptest::collection::vec(case_gen(), 1..8),
        perm in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
    ) {
        let docs: Vec<String> = policies.iter().enumerate().map(|(i, p)| yaml(i, p)).collect();
        let a = PolicySet::from_yaml_str("one.yaml", &docs.join("---\n")).unwrap();
        let mut shuffled: Vec<(String, String)> = docs.iter().enumerate().map(|(i, d)| (format!("f{i}.yaml"), d.clone())).collect();
        // Deterministic shuffle from the generated seed.
        let mut seed = perm;
        for i in (1..shuffled.len()).rev() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let b = PolicySet::from_yaml_sources(&shuffled).unwrap();
        for c in &cases {
            let (user, cluster, req) = contexts(c);
            prop_assert_eq!(a.decide(&user, &cluster, &req), b.decide(&user, &cluster, &req));
            prop_assert_eq!(visibility(&a, &user, &cluster, &req), visibility(&b, &user, &cluster, &req));
        }
    }

    /// A list/watch is allowed exactly when its scope is not None, a full
    /// scope means no filtering, and explain agrees with decide.
    #[test]
    fn list_scope_agrees_with_decide(policies in proptest::collection::vec(policy_gen(), 0..6), case in case_gen(), watch in any::<bool>()) {
        let set = build(&policies);
        let (user, cluster, mut req) = contexts(&case);
        req.verb = if watch { "watch" } else { "list" }.to_string();
        req.name = None;
        let d = set.decide(&user, &cluster, &req);
        let scope = set.list_scope(&user, &cluster, &req.verb, &req.api_group, &req.resource, req.namespace.as_deref());
        match (&d, &scope) {
            (Decision::Deny { .. }, ListScope::None) => {}
            (Decision::Allow { filtered: false, .. }, ListScope::All) => {}
            (Decision::Allow { filtered: true, .. }, ListScope::Filter(_)) => {}
            _ => prop_assert!(false, "decision {d} but scope {scope:?}"),
        }
        prop_assert_eq!(set.explain(&user, &cluster, &req).decision, d);
    }

    /// An object visible in a filtered list is one the user may get by name.
    #[test]
    fn visible_objects_are_gettable(policies in proptest::collection::vec(policy_gen(), 0..6), case in case_gen()) {
        let set = build(&policies);
        let (user, cluster, req) = contexts(&case);
        if let ListScope::Filter(f) = set.list_scope(&user, &cluster, "list", &req.api_group, &req.resource, None) {
            for (ns, name) in OBJECTS {
                let get = RequestAttributes {
                    verb: "list".into(),
                    namespace: ns.map(str::to_string),
                    name: Some(name.to_string()),
                    ..req.clone()
                };
                prop_assert_eq!(f.visible(*ns, name), set.decide(&user, &cluster, &get).is_allow(), "{:?}/{}", ns, name);
            }
        }
    }

    /// The loader never panics and every error line lies within the input.
    #[test]
    fn loader_survives_arbitrary_text(text in "(?s).{0,400}") {
        fuzz_load(text.as_bytes());
    }

    /// Nor on valid documents with random damage.
    #[test]
    fn loader_survives_damaged_documents(p in policy_gen(), cut in 0usize..2000, junk in "[ -~\n]{0,8}") {
        let doc = yaml(0, &p);
        let at = cut % (doc.len() + 1);
        let at = (0..=at).rev().find(|&i| doc.is_char_boundary(i)).unwrap_or(0);
        let damaged = format!("{}{}{}", &doc[..at], junk, &doc[at..]);
        fuzz_load(damaged.as_bytes());
    }
}
