use super::*;
use proptest::prelude::*;
use serde_json::json;

fn labels<'a>(pairs: &[(&'a str, &'a str)]) -> BTreeMap<&'a str, &'a str> {
    pairs.iter().copied().collect()
}

#[test]
fn equality_forms() {
    let l = labels(&[("app", "nginx"), ("tier", "web")]);
    for s in [
        "app=nginx",
        "app==nginx",
        "app = nginx",
        "app=nginx,tier=web",
    ] {
        assert!(LabelSelector::parse(s).unwrap().matches(&l), "{s}");
    }
    assert!(!LabelSelector::parse("app!=nginx").unwrap().matches(&l));
    assert!(LabelSelector::parse("app!=web").unwrap().matches(&l));
    // != also matches objects without the label, as upstream.
    assert!(LabelSelector::parse("missing!=x").unwrap().matches(&l));
}

#[test]
fn set_forms() {
    let l = labels(&[("app", "nginx")]);
    assert!(LabelSelector::parse("app in (web, nginx)")
        .unwrap()
        .matches(&l));
    assert!(!LabelSelector::parse("app notin (web,nginx)")
        .unwrap()
        .matches(&l));
    assert!(LabelSelector::parse("app notin (web)").unwrap().matches(&l));
    assert!(LabelSelector::parse("app").unwrap().matches(&l));
    assert!(!LabelSelector::parse("!app").unwrap().matches(&l));
    assert!(LabelSelector::parse("!other,app in (nginx)")
        .unwrap()
        .matches(&l));
    let n = labels(&[("n", "5")]);
    assert!(LabelSelector::parse("n>3").unwrap().matches(&n));
    assert!(!LabelSelector::parse("n<3").unwrap().matches(&n));
}

#[test]
fn parse_errors() {
    for s in [
        "app in nginx",
        "app in (nginx",
        "=x",
        "app=~x",
        "Bad Key=x",
        "app=(",
        "app>x",
    ] {
        assert!(LabelSelector::parse(s).is_err(), "{s} should fail");
    }
    assert!(LabelSelector::parse("").unwrap().is_empty());
}

#[test]
fn object_matching() {
    let pod = json!({"metadata": {"name": "p", "namespace": "d", "labels": {"app": "web"}},
                     "spec": {"nodeName": "node-1"}, "status": {"phase": "Running"}});
    assert!(LabelSelector::parse("app=web")
        .unwrap()
        .matches_object(&pod));
    let fs = FieldSelector::parse("status.phase=Running,spec.nodeName!=node-2", "Pod").unwrap();
    assert!(fs.matches_object(&pod));
    let fs = FieldSelector::parse("metadata.name=q", "Pod").unwrap();
    assert!(!fs.matches_object(&pod));
    assert_eq!(fs.pinned_name(), Some("q"));
    let err = FieldSelector::parse("spec.foo=1", "Pod").unwrap_err();
    assert_eq!(err, "field label not supported: spec.foo");
    let err = FieldSelector::parse("spec.foo=1", "CronTab").unwrap_err();
    assert!(err.contains("not a known field selector"), "{err}");
    assert!(FieldSelector::parse("status.phase=Running", "ConfigMap").is_err());
}

proptest! {
    #[test]
    fn label_parser_never_panics(s in ".{0,64}") {
        let _ = LabelSelector::parse(&s);
        let _ = FieldSelector::parse(&s, "Pod");
    }

    #[test]
    fn equality_selector_roundtrip(k in "[a-z][a-z0-9]{0,8}", v in "[a-z0-9]{1,8}") {
        let sel = LabelSelector::parse(&format!("{k}={v}")).unwrap();
        let l = labels(&[(k.as_str(), v.as_str())]);
        prop_assert!(sel.matches(&l));
        let sel = LabelSelector::parse(&format!("{k}!={v}")).unwrap();
        prop_assert!(!sel.matches(&l));
    }
}
