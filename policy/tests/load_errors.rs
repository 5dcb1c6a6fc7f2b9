//! Every validation error names the file, the line and the field, and a set
//! with any error is rejected whole.

use kac_policy::{LoadError, PolicySet};

const GOOD: &str = "\
apiVersion: kac.dev/v1alpha1
kind: Policy
metadata:
  name: david
spec:
  assignTo:
    users: [david]
  resources:
    clusters: [dev, prod]
  subjects:
    groups: [\"kac:editors\"]
  actions:
  - effect: allow
    resources: [\"*\"]
    namespaces: [david]
    verbs: [\"*\"]
  - effect: deny
    resources: [pods]
    names: [\"nginx*\"]
    verbs:
    - get
    - exec
";

fn errors(text: &str) -> Vec<String> {
    match PolicySet::from_yaml_str("samples/policies/david.yaml", text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.diagnostics().iter().map(ToString::to_string).collect(),
    }
}

fn one_error(text: &str) -> String {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    errs.into_iter().next().unwrap()
}

#[test]
fn the_good_document_loads() {
    let set = PolicySet::from_yaml_str("david.yaml", GOOD).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.rule_count(), 2);
}

#[test]
fn unknown_verb_names_file_line_field_and_suggests() {
    let e = one_error(&GOOD.replace("    - exec", "    - exce"));
    assert_eq!(
        e,
        "samples/policies/david.yaml:22: spec.actions[1].verbs[1]: unknown verb \"exce\" (did you mean \"exec\"?)"
    );
}

#[test]
fn unknown_verb_in_flow_sequence() {
    let e = one_error(&GOOD.replace("verbs: [\"*\"]", "verbs: [get, lsit]"));
    assert!(
        e.starts_with(
            "samples/policies/david.yaml:16: spec.actions[0].verbs[1]: unknown verb \"lsit\""
        ),
        "{e}"
    );
}

#[test]
fn unknown_field_is_an_error_with_its_line() {
    let e = one_error(&GOOD.replace("    names: [\"nginx*\"]", "    nmaes: [\"nginx*\"]"));
    assert!(
        e.starts_with("samples/policies/david.yaml:19: spec.actions[1]: unknown field `nmaes`"),
        "{e}"
    );
}

#[test]
fn misspelt_field_reports_its_line() {
    let e = one_error(&GOOD.replace("  subjects:", "  subject:"));
    assert!(
        e.starts_with("samples/policies/david.yaml:10: spec: unknown field `subject`"),
        "{e}"
    );
}

#[test]
fn bad_regex_names_the_pattern() {
    let e = one_error(&GOOD.replace("names: [\"nginx*\"]", "names: [\"^nginx-[0-9$\"]"));
    assert!(
        e.starts_with(
            "samples/policies/david.yaml:19: spec.actions[1].names[0]: bad regex \"^nginx-[0-9$\""
        ),
        "{e}"
    );
}

#[test]
fn unanchored_regex_is_refused() {
    let e = one_error(&GOOD.replace("namespaces: [david]", "namespaces: [\"^david-[0-9]+\"]"));
    assert!(e.contains(":15: spec.actions[0].namespaces[0]:"), "{e}");
    assert!(e.contains("anchored"), "{e}");
}

#[test]
fn empty_selectors_are_errors() {
    let e = one_error(&GOOD.replace("namespaces: [david]", "namespaces: []"));
    assert!(
        e.contains(":15: spec.actions[0].namespaces: empty selector"),
        "{e}"
    );
    let e = one_error(&GOOD.replace("clusters: [dev, prod]", "clusters: []"));
    assert!(
        e.contains(":9: spec.resources.clusters: empty selector"),
        "{e}"
    );
    let e = one_error(&GOOD.replace("users: [david]", "users: []"));
    assert!(e.contains(":7: spec.assignTo.users: empty selector"), "{e}");
    let e = one_error(&GOOD.replace("verbs: [\"*\"]", "verbs: []"));
    assert!(
        e.contains(":16: spec.actions[0].verbs: empty selector"),
        "{e}"
    );
}

#[test]
fn unassigned_policy_is_an_error() {
    let e = one_error(&GOOD.replace("    users: [david]\n", "    everyone: false\n"));
    assert!(e.contains(":6: spec.assignTo: assign the policy"), "{e}");
}

#[test]
fn bad_resource_and_kind_and_version() {
    let e = one_error(&GOOD.replace("resources: [pods]", "resources: [Pod]"));
    assert!(
        e.contains(":18: spec.actions[1].resources[0]:") && e.contains("did you mean \"pods\""),
        "{e}"
    );
    let e = one_error(&GOOD.replace("kind: Policy", "kind: Polcy"));
    assert!(e.contains(":2: kind: unknown kind \"Polcy\""), "{e}");
    let e = one_error(&GOOD.replace("kac.dev/v1alpha1", "kac.dev/v1"));
    assert!(e.contains(":1: apiVersion: unsupported apiVersion"), "{e}");
}

#[test]
fn bad_conditions() {
    let with = |c: &str| GOOD.replace("  subjects:", &format!("  conditions:\n{c}  subjects:"));
    let e = one_error(&with(
        "  - clusterTag: ClusterType\n    userAttribute: team\n    equals: dev\n",
    ));
    assert!(
        e.contains(":11: spec.conditions[0]: a condition tests exactly one"),
        "{e}"
    );
    let e = one_error(&with("  - clusterTag: ClusterType\n    in: []\n"));
    assert!(
        e.contains(":12: spec.conditions[0].in: empty selector"),
        "{e}"
    );
    let e = one_error(&with(
        "  - clusterTag: ClusterType\n    matches: \"^dev(\"\n",
    ));
    assert!(e.contains(":12: spec.conditions[0].matches: "), "{e}");
}

#[test]
fn all_errors_are_reported_and_nothing_loads() {
    let text = GOOD
        .replace("    - exec", "    - exce")
        .replace("namespaces: [david]", "namespaces: []");
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn syntax_errors_carry_a_line() {
    let e = one_error(&GOOD.replace("  assignTo:", "  assignTo: [unclosed"));
    assert!(e.starts_with("samples/policies/david.yaml:"), "{e}");
    let line: usize = e.split(':').nth(1).unwrap().parse().unwrap();
    assert!((6..=8).contains(&line), "{e}");
}

#[test]
fn multi_document_files_count_lines_from_the_file_start() {
    let second = GOOD
        .replace("name: david", "name: david2")
        .replace("    - exec", "    - exce");
    let text = format!("{GOOD}---\n{second}");
    let e = one_error(&text);
    let lines_in_good = GOOD.lines().count();
    assert!(
        e.starts_with(&format!(
            "samples/policies/david.yaml:{}: spec.actions[1].verbs[1]",
            lines_in_good + 1 + 22
        )),
        "{e}"
    );
}

#[test]
fn duplicate_names_across_files_are_rejected() {
    let sources = vec![
        ("a.yaml".to_string(), GOOD.to_string()),
        ("b.yaml".to_string(), GOOD.to_string()),
    ];
    let err = PolicySet::from_yaml_sources(&sources).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(
            "b.yaml:4: metadata.name: duplicate policy name \"david\" (first defined at a.yaml:4)"
        ),
        "{msg}"
    );
}

#[test]
fn test_suites_beside_policies_are_skipped() {
    let text =
        format!("{GOOD}---\napiVersion: kac.dev/v1alpha1\nkind: PolicyTestSuite\ncases: []\n");
    assert_eq!(PolicySet::from_yaml_str("x.yaml", &text).unwrap().len(), 1);
}

#[test]
fn missing_files_are_io_errors() {
    match PolicySet::load(&["/nonexistent/kac/policies.yaml"]) {
        Err(LoadError::Io { path, .. }) => assert!(path.ends_with("policies.yaml")),
        other => panic!("{other:?}"),
    }
}
