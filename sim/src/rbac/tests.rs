use super::*;

fn attrs(verb: &str, group: &str, res: &str, sub: &str, ns: &str) -> Attributes {
    Attributes {
        verb: verb.into(),
        is_resource: true,
        api_group: group.into(),
        resource: res.into(),
        subresource: sub.into(),
        namespace: ns.into(),
        ..Default::default()
    }
}

fn user(groups: &[&str]) -> UserInfo {
    UserInfo::new("u", groups).with_authenticated()
}

#[test]
fn default_groups() {
    let rbac = Rbac::default_rules();
    let admin = user(&["system:masters"]);
    assert!(rbac.authorize(&admin, &attrs("delete", "", "namespaces", "", "")));
    let editor = user(&["kac:editors"]);
    assert!(rbac.authorize(&editor, &attrs("create", "", "pods", "exec", "david")));
    assert!(rbac.authorize(&editor, &attrs("list", "", "pods", "", "")));
    assert!(rbac.authorize(&editor, &attrs("list", "", "namespaces", "", "")));
    assert!(!rbac.authorize(&editor, &attrs("delete", "", "namespaces", "", "david")));
    assert!(!rbac.authorize(
        &editor,
        &attrs(
            "list",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
            ""
        )
    ));
    let viewer = user(&["kac:viewers"]);
    assert!(rbac.authorize(&viewer, &attrs("get", "", "pods", "log", "david")));
    assert!(!rbac.authorize(&viewer, &attrs("get", "", "pods", "exec", "david")));
    assert!(!rbac.authorize(&viewer, &attrs("get", "", "secrets", "", "david")));
    assert!(!rbac.authorize(&viewer, &attrs("delete", "", "pods", "", "david")));
    let nobody = user(&[]);
    assert!(!rbac.authorize(&nobody, &attrs("get", "", "pods", "", "david")));
    let discovery = Attributes {
        verb: "get".into(),
        path: "/apis/apps/v1".into(),
        ..Default::default()
    };
    assert!(rbac.authorize(&nobody, &discovery));
    let debug = Attributes {
        verb: "get".into(),
        path: "/debug/requests".into(),
        ..Default::default()
    };
    assert!(!rbac.authorize(&nobody, &debug));
    assert!(rbac.authorize(&admin, &debug));
}

#[test]
fn proxy_may_only_impersonate() {
    let rbac = Rbac::default_rules();
    let proxy = UserInfo::new("kac-proxy", &[]).with_authenticated();
    assert!(rbac.authorize(&proxy, &attrs("impersonate", "", "users", "", "")));
    assert!(rbac.authorize(
        &proxy,
        &attrs(
            "impersonate",
            "authentication.k8s.io",
            "userextras",
            "scopes",
            ""
        )
    ));
    assert!(!rbac.authorize(&proxy, &attrs("get", "", "pods", "", "default")));
    assert!(!rbac.authorize(&proxy, &attrs("list", "", "pods", "", "")));
}

#[test]
fn namespaces_and_names() {
    let rbac = Rbac::parse(
        r#"
rules:
  - subjects: {users: [david]}
    verbs: [get]
    apiGroups: [""]
    resources: ["pods", "*/log"]
    namespaces: [david]
    resourceNames: [david-1]
"#,
    )
    .unwrap();
    let david = UserInfo::new("david", &[]);
    let mut a = attrs("get", "", "pods", "", "david");
    a.name = "david-1".into();
    assert!(rbac.authorize(&david, &a));
    a.subresource = "log".into();
    assert!(rbac.authorize(&david, &a));
    a.name = "david-2".into();
    assert!(!rbac.authorize(&david, &a));
    a.name = "david-1".into();
    a.namespace = "sam".into();
    assert!(!rbac.authorize(&david, &a));
    assert!(Rbac::parse("rules: [{subjects: {}, verbs: [get], bogus: 1}]").is_err());
}

#[test]
fn forbidden_wording() {
    let a = attrs("get", "", "pods", "exec", "ns");
    assert_eq!(
        forbidden_reason("u", &a),
        "User \"u\" cannot get resource \"pods/exec\" in API group \"\" in the namespace \"ns\""
    );
    let a = attrs("list", "apps", "deployments", "", "");
    assert_eq!(
        forbidden_reason("u", &a),
        "User \"u\" cannot list resource \"deployments\" in API group \"apps\" at the cluster scope"
    );
    let a = Attributes {
        verb: "get".into(),
        path: "/x".into(),
        ..Default::default()
    };
    assert_eq!(
        forbidden_reason("u", &a),
        "User \"u\" cannot get path \"/x\""
    );
}
