//! Decision semantics, one test per form of matching.

use kac_policy::*;
use std::collections::BTreeMap;

fn policy(name: &str, extra_spec: &str, actions: &str) -> String {
    format!(
        "apiVersion: kac.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: {name}\nspec:\n{extra_spec}  actions:\n{actions}"
    )
}

fn assigned_to_u(name: &str, actions: &str) -> String {
    policy(
        name,
        "  assignTo: {users: [u]}\n  resources: {clusters: [\"*\"]}\n  subjects: {groups: [g]}\n",
        actions,
    )
}

fn set(docs: &[String]) -> PolicySet {
    PolicySet::from_yaml_str("t.yaml", &docs.join("---\n")).unwrap_or_else(|e| panic!("{e}"))
}

fn user(name: &str) -> UserContext {
    UserContext {
        name: name.into(),
        ..Default::default()
    }
}

fn cluster(name: &str, tags: &[(&str, &str)]) -> ClusterContext {
    ClusterContext {
        name: name.into(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn req(line: &str) -> RequestAttributes {
    parse_request(line).unwrap()
}

fn allows(s: &PolicySet, u: &UserContext, c: &ClusterContext, r: &str) -> bool {
    s.decide(u, c, &req(r)).is_allow()
}

#[test]
fn default_is_deny() {
    let s = PolicySet::empty();
    let d = s.decide(&user("u"), &cluster("c", &[]), &req("get pods/a -n x"));
    assert_eq!(
        d,
        Decision::Deny {
            policy: None,
            rule: None,
            reason: DenyReason::NoApplicablePolicy
        }
    );
}

#[test]
fn names_match_by_literal_glob_and_regex() {
    let s = set(&[assigned_to_u(
        "p",
        "  - {effect: allow, resources: [pods], names: [exact, \"web-*\", \"^db-[0-9]+$\", \"cache-?\"], verbs: [get]}\n",
    )]);
    let (u, c) = (user("u"), cluster("c", &[]));
    for ok in ["exact", "web-1", "web-", "db-12", "cache-a"] {
        assert!(allows(&s, &u, &c, &format!("get pods/{ok} -n ns")), "{ok}");
    }
    for no in ["exac", "exactly", "xweb-1", "db-x", "db-12a", "cache-ab"] {
        assert!(!allows(&s, &u, &c, &format!("get pods/{no} -n ns")), "{no}");
    }
}

#[test]
fn namespaces_match_by_literal_glob_and_regex() {
    let s = set(&[assigned_to_u(
        "p",
        "  - {effect: allow, resources: [\"*\"], namespaces: [david, \"team-*\", \"^ci-[0-9]+$\"], verbs: [\"*\"]}\n",
    )]);
    let (u, c) = (user("u"), cluster("c", &[]));
    assert!(allows(&s, &u, &c, "delete secrets/x -n david"));
    assert!(allows(&s, &u, &c, "create configmaps -n team-a"));
    assert!(allows(&s, &u, &c, "get pods/p -n ci-7"));
    assert!(!allows(&s, &u, &c, "get pods/p -n ci-7x"));
    assert!(!allows(&s, &u, &c, "get pods/p -n davidx"));
    // Cluster-scoped objects are in no namespace.
    assert!(!allows(&s, &u, &c, "get nodes/n1"));
}

#[test]
fn resources_match_with_groups_and_wildcards() {
    let s = set(&[assigned_to_u(
        "p",
        "  - {effect: allow, resources: [pods, deployments.apps, \"*.batch\", widgets.example.com], verbs: [get]}\n",
    )]);
    let (u, c) = (user("u"), cluster("c", &[]));
    assert!(allows(&s, &u, &c, "get pods/a -n x"));
    assert!(allows(&s, &u, &c, "get deployments.apps/a -n x"));
    assert!(
        !allows(&s, &u, &c, "get deployments/a -n x"),
        "core group has no deployments rule"
    );
    assert!(allows(&s, &u, &c, "get cronjobs.batch/a -n x"));
    assert!(allows(&s, &u, &c, "get widgets.example.com/a -n x"));
    assert!(!allows(&s, &u, &c, "get gadgets.example.com/a -n x"));
    let all = set(&[assigned_to_u(
        "p",
        "  - {effect: allow, resources: [\"*\"], verbs: [get]}\n",
    )]);
    assert!(
        allows(&all, &u, &c, "get gadgets.example.com/a -n x"),
        "* covers CRDs"
    );
    assert!(
        allows(&all, &u, &c, "get nodes/n1"),
        "no namespaces field covers cluster scope"
    );
}

#[test]
fn session_verbs_are_distinct_from_get() {
    let s = set(&[assigned_to_u(
        "p",
        "  - {effect: allow, resources: [pods], verbs: [get, list, watch]}\n",
    )]);
    let (u, c) = (user("u"), cluster("c", &[]));
    assert!(allows(&s, &u, &c, "get pods/a -n x"));
    for v in ["exec", "attach", "portforward", "log", "proxy"] {
        assert!(!allows(&s, &u, &c, &format!("{v} pods/a -n x")), "{v}");
    }
}

#[test]
fn deny_beats_allow_whatever_the_priority() {
    let allow = assigned_to_u(
        "a",
        "  - {effect: allow, resources: [\"*\"], verbs: [\"*\"]}\n",
    )
    .replace("spec:\n", "spec:\n  priority: 1000\n");
    let deny = assigned_to_u("z", "  - {name: no-nginx, effect: deny, resources: [pods], names: [\"nginx*\"], verbs: [exec]}\n");
    let s = set(&[allow, deny]);
    let (u, c) = (user("u"), cluster("c", &[]));
    let d = s.decide(&u, &c, &req("exec pods/nginx-1 -n default"));
    match d {
        Decision::Deny {
            policy,
            rule,
            reason,
        } => {
            assert_eq!(policy.as_deref(), Some("z"));
            assert_eq!(rule.unwrap().name.as_deref(), Some("no-nginx"));
            assert_eq!(reason, DenyReason::ExplicitDeny);
        }
        other => panic!("{other}"),
    }
    assert!(allows(&s, &u, &c, "exec pods/web-1 -n default"));
}

#[test]
fn clusters_match_by_pattern() {
    let s = set(&[policy(
        "p",
        "  assignTo: {users: [u]}\n  resources: {clusters: [\"eu-*\", \"^us-[0-9]+$\", lab]}\n  subjects: {groups: [g]}\n",
        "  - {effect: allow, resources: [\"*\"], verbs: [get]}\n",
    )]);
    let u = user("u");
    for (c, ok) in [
        ("eu-west", true),
        ("us-1", true),
        ("lab", true),
        ("us-x", false),
        ("prod", false),
    ] {
        assert_eq!(
            allows(&s, &u, &cluster(c, &[]), "get pods/a -n x"),
            ok,
            "{c}"
        );
    }
}

#[test]
fn conditions_test_tags_and_attributes_by_equality_membership_and_pattern() {
    let s = set(&[policy(
        "p",
        "  assignTo: {everyone: true}\n  resources: {clusters: [\"*\"]}\n  subjects: {groups: [g]}\n  conditions:\n  - {clusterTag: ClusterType, equals: dev}\n  - {userAttribute: team, in: [platform, sre]}\n  - {userAttribute: email, matches: \"*@example.com\"}\n",
        "  - {effect: allow, resources: [\"*\"], verbs: [get]}\n",
    )]);
    let mut u = user("anyone");
    u.attributes = BTreeMap::from([
        ("team".to_string(), "sre".to_string()),
        ("email".to_string(), "a@example.com".to_string()),
    ]);
    let dev = cluster("c1", &[("ClusterType", "dev")]);
    assert!(allows(&s, &u, &dev, "get pods/a -n x"));
    assert!(!allows(
        &s,
        &u,
        &cluster("c1", &[("ClusterType", "prod")]),
        "get pods/a -n x"
    ));
    assert!(
        !allows(&s, &u, &cluster("c1", &[]), "get pods/a -n x"),
        "missing tag is false"
    );
    let mut v = u.clone();
    v.attributes.insert("team".into(), "sales".into());
    assert!(!allows(&s, &v, &dev, "get pods/a -n x"));
    let mut w = u.clone();
    w.attributes.insert("email".into(), "a@evil.com".into());
    assert!(!allows(&s, &w, &dev, "get pods/a -n x"));
}

#[test]
fn tag_changes_take_effect_on_the_next_call() {
    let s = set(&[policy(
        "p",
        "  assignTo: {users: [u]}\n  resources: {clusters: [\"*\"]}\n  subjects: {groups: [g]}\n  conditions: [{clusterTag: ClusterType, equals: dev}]\n",
        "  - {effect: allow, resources: [\"*\"], verbs: [get]}\n",
    )]);
    let u = user("u");
    let mut c = cluster("c", &[("ClusterType", "dev")]);
    assert!(allows(&s, &u, &c, "get pods/a -n x"));
    c.tags.insert("ClusterType".into(), "prod".into());
    assert!(!allows(&s, &u, &c, "get pods/a -n x"));
}

#[test]
fn assignment_by_user_group_and_everyone() {
    let s = set(&[policy(
        "p",
        "  assignTo: {users: [alice], groups: [ops]}\n  resources: {clusters: [\"*\"]}\n  subjects: {groups: [g]}\n",
        "  - {effect: allow, resources: [\"*\"], verbs: [get]}\n",
    )]);
    let c = cluster("c", &[]);
    assert!(allows(&s, &user("alice"), &c, "get pods/a -n x"));
    assert!(!allows(&s, &user("bob"), &c, "get pods/a -n x"));
    let mut bob = user("bob");
    bob.groups.push("ops".into());
    assert!(allows(&s, &bob, &c, "get pods/a -n x"));
}

#[test]
fn subject_is_chosen_by_priority_then_name() {
    let mk = |name: &str, prio: i32, group: &str| {
        policy(
            name,
            &format!("  priority: {prio}\n  assignTo: {{users: [u]}}\n  resources: {{clusters: [\"*\"]}}\n  subjects: {{user: \"sa:{{user}}\", groups: [{group}]}}\n"),
            "  - {effect: allow, resources: [\"*\"], verbs: [get]}\n",
        )
    };
    let (u, c) = (user("u"), cluster("c", &[]));
    let subject = |s: &PolicySet| match s.decide(&u, &c, &req("get pods/a -n x")) {
        Decision::Allow {
            subjects, policy, ..
        } => (subjects, policy.to_string()),
        d => panic!("{d}"),
    };
    let (subj, pol) = subject(&set(&[mk("b", 5, "viewers"), mk("a", 1, "editors")]));
    assert_eq!(
        (subj.user.as_str(), subj.groups.as_slice(), pol.as_str()),
        ("sa:u", &["viewers".to_string()][..], "b")
    );
    let (_, pol) = subject(&set(&[mk("b", 1, "viewers"), mk("a", 1, "editors")]));
    assert_eq!(pol, "a", "equal priority: first by name");
}

#[test]
fn discovery_is_allowed_by_default_and_a_deny_overrides_it() {
    let (u, c) = (user("u"), cluster("c", &[]));
    let s = PolicySet::empty();
    for p in [
        "/api",
        "/api/v1",
        "/apis",
        "/apis/apps/v1",
        "/version",
        "/openapi/v3",
        "/healthz",
        "/readyz",
        "/livez",
    ] {
        match s.decide(&u, &c, &req(&format!("get {p}"))) {
            Decision::Allow {
                policy, subjects, ..
            } => {
                assert_eq!(&*policy, BUILTIN_DISCOVERY);
                assert_eq!(subjects.groups, vec![AUTHENTICATED_GROUP.to_string()]);
            }
            d => panic!("{p}: {d}"),
        }
    }
    assert!(!allows(&s, &u, &c, "get /metrics"));
    assert!(!allows(&s, &u, &c, "get /apiss"));
    assert!(!allows(&s, &u, &c, "create /api"));
    let deny = set(&[assigned_to_u(
        "p",
        "  - {effect: deny, nonResourceURLs: [\"/openapi/*\"], verbs: [get]}\n",
    )]);
    assert!(!allows(&deny, &u, &c, "get /openapi/v2"));
    assert!(allows(&deny, &u, &c, "get /version"));
    let e = deny.explain(&u, &c, &req("get /openapi/v2")).to_string();
    assert!(
        e.contains(BUILTIN_DISCOVERY) && e.contains("DENY by policy p"),
        "{e}"
    );
}

#[test]
fn recording_is_required_for_exec_and_attach_unless_optional() {
    let act = "  - {effect: allow, resources: [pods], verbs: [exec, attach, portforward]}\n";
    let req_set = set(&[assigned_to_u("p", act)]);
    let opt_set =
        set(&[assigned_to_u("p", act).replace("spec:\n", "spec:\n  sessionRecording: optional\n")]);
    let (u, c) = (user("u"), cluster("c", &[]));
    let rec = |s: &PolicySet, r: &str| match s.decide(&u, &c, &req(r)) {
        Decision::Allow {
            require_recording, ..
        } => require_recording,
        d => panic!("{d}"),
    };
    assert!(rec(&req_set, "exec pods/a -n x"));
    assert!(rec(&req_set, "attach pods/a -n x"));
    assert!(!rec(&req_set, "portforward pods/a -n x"));
    assert!(!rec(&opt_set, "exec pods/a -n x"));
}

#[test]
fn partial_rules_filter_lists_but_deny_unfilterable_requests() {
    let s = set(&[assigned_to_u(
        "p",
        "  - {effect: allow, resources: [pods], verbs: [\"*\"]}\n  - {effect: deny, resources: [pods], names: [\"nginx*\"], verbs: [\"*\"]}\n",
    )]);
    let (u, c) = (user("u"), cluster("c", &[]));
    match s.decide(&u, &c, &req("list pods -n default")) {
        Decision::Allow { filtered, .. } => assert!(filtered),
        d => panic!("{d}"),
    }
    match s.decide(&u, &c, &req("deletecollection pods -n default")) {
        Decision::Deny { reason, .. } => assert_eq!(reason, DenyReason::DenyMayApply),
        d => panic!("{d}"),
    }
    match s.list_scope(&u, &c, "list", "", "pods", Some("default")) {
        ListScope::Filter(f) => {
            assert!(f.visible(Some("default"), "web"));
            assert!(!f.visible(Some("default"), "nginx-1"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.list_scope(&u, &c, "list", "", "services", None),
        ListScope::None
    ));
}

#[test]
fn explain_shows_matches_and_near_misses() {
    let s =
        PolicySet::load(&[concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/policies")]).unwrap();
    let e = s.explain(
        &user("david"),
        &cluster("prod", &[("ClusterType", "prod")]),
        &req("delete pods/nginx-1 -n default"),
    );
    let text = e.to_string();
    assert!(
        text.contains("decision: DENY: no rule allows this request"),
        "{text}"
    );
    assert!(
        text.contains("near    allow david.actions[0] (own-namespace)"),
        "{text}"
    );
    assert!(
        text.contains("but namespace \"default\" not in [david]"),
        "{text}"
    );
    assert!(
        text.contains("david.actions[2] (no-exec-into-nginx)")
            && text.contains("verb \"delete\" not in [exec]"),
        "{text}"
    );
    assert!(!e.rules.is_empty());
    let e = s.explain(
        &user("sam"),
        &cluster("prod", &[("ClusterType", "prod")]),
        &req("list pods -n sam"),
    );
    let text = e.to_string();
    assert!(
        text.contains(
            "policy does not apply: condition cluster tag ClusterType matches dev* is false"
        ),
        "{text}"
    );
}
