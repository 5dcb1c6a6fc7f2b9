use super::*;
use proptest::prelude::*;

const HAND_WRITTEN: &str = "# My kubeconfig. Keep this comment!\napiVersion: v1\nkind: Config\npreferences: {}\nclusters:\n  # the laptop cluster\n  - name: kind-dev\n    cluster:   { server: \"https://127.0.0.1:6443\", insecure-skip-tls-verify: true }\n  - name: &shared prod-eks   # anchored name\n    cluster:\n        server: https://eks.example:443\n        certificate-authority-data: |\n          not really base64\n          - name: looks-like-an-entry\n\ncontexts:\n  - context: {cluster: kind-dev, user: me}\n    name: kind-dev\n  - name: prod\n    context:\n      cluster: *shared\n      user: me\ncurrent-context: kind-dev   # mine\nusers:\n  - name: me\n    user:\n      token: 'abc # not a comment'\n# trailing comment\n";

fn login(proxy: &str, user: &str, clusters: &[&str]) -> LoginEntries {
    LoginEntries {
        proxy: proxy.into(),
        user: user.into(),
        command: "/usr/local/bin/kac".into(),
        interactive_mode: "Never".into(),
        ca_data: "Q0E=".into(),
        kac_home: None,
        clusters: clusters
            .iter()
            .map(|c| (c.to_string(), format!("{proxy}/clusters/{c}")))
            .collect(),
    }
}

const P1: &str = "https://127.0.0.1:18443";
const P2: &str = "https://localhost:18443";

/// Text outside kac's entries: remove each owned entry's lines.
fn without_kac(text: &str) -> String {
    apply_logout(text, P1, &Restore::default()).unwrap().text
}

#[test]
fn login_adds_entries_and_keeps_other_bytes() {
    let e = apply_login(
        HAND_WRITTEN,
        &login(P1, "david", &["dev", "prod"]),
        &Restore::default(),
    )
    .unwrap();
    assert_eq!(e.contexts, ["kac-dev", "kac-prod"]);
    assert_eq!(e.restore, Restore::default(), "current-context was set");
    let v: Value = serde_yaml::from_str(&e.text).unwrap();
    assert_eq!(v["contexts"].as_sequence().unwrap().len(), 4);
    assert_eq!(v["current-context"], "kind-dev");
    let user = &v["users"][1];
    assert_eq!(user["name"], "kac-david@dev");
    assert_eq!(
        user["user"]["exec"]["apiVersion"],
        "client.authentication.k8s.io/v1"
    );
    assert_eq!(user["user"]["exec"]["args"][4], "dev");
    assert_eq!(user["user"]["exec"]["interactiveMode"], "Never");
    assert_eq!(
        v["clusters"][2]["cluster"]["server"],
        format!("{P1}/clusters/dev")
    );
    assert_eq!(v["contexts"][3]["context"]["user"], "kac-david@prod");
    // Every original line is still there, in order, unchanged.
    let kept: Vec<&str> = e
        .text
        .lines()
        .filter(|l| HAND_WRITTEN.contains(l))
        .collect();
    assert!(kept.len() >= HAND_WRITTEN.lines().count());
    // Logout gives back the original, byte for byte.
    assert_eq!(without_kac(&e.text), HAND_WRITTEN);
}

#[test]
fn relogin_replaces_in_place_and_drops_unreachable_clusters() {
    let a = apply_login(
        HAND_WRITTEN,
        &login(P1, "david", &["dev", "prod"]),
        &Restore::default(),
    )
    .unwrap();
    let again = apply_login(
        &a.text,
        &login(P1, "david", &["dev", "prod"]),
        &Restore::default(),
    )
    .unwrap();
    assert_eq!(
        a.text, again.text,
        "a second identical login changes nothing"
    );
    let b = apply_login(&a.text, &login(P1, "david", &["dev"]), &Restore::default()).unwrap();
    assert!(!b.text.contains("kac-prod"));
    assert!(b.text.contains("kac-dev"));
    assert_eq!(without_kac(&b.text), HAND_WRITTEN);
    let c = apply_login(&b.text, &login(P1, "sam", &["dev"]), &Restore::default()).unwrap();
    assert!(!c.text.contains("kac-david@dev") && c.text.contains("kac-sam@dev"));
}

#[test]
fn two_proxies_coexist_and_clashing_names_get_the_host() {
    let a = apply_login(
        HAND_WRITTEN,
        &login(P1, "david", &["dev"]),
        &Restore::default(),
    )
    .unwrap();
    let b = apply_login(
        &a.text,
        &login(P2, "andrew", &["dev", "kind-dev"]),
        &Restore::default(),
    )
    .unwrap();
    assert_eq!(b.contexts, ["kac-dev@localhost:18443", "kac-kind-dev"]);
    let after_p1_logout = apply_logout(&b.text, P1, &Restore::default()).unwrap().text;
    assert!(after_p1_logout.contains("kac-dev@localhost:18443"));
    assert!(!after_p1_logout.contains("kac-david@dev\""));
    let back = apply_logout(&after_p1_logout, P2, &Restore::default())
        .unwrap()
        .text;
    assert_eq!(back, HAND_WRITTEN);
}

#[test]
fn a_users_own_kac_named_context_is_never_touched() {
    let mine = "contexts:\n- name: kac-dev\n  context: {cluster: x, user: y}\n";
    let e = apply_login(mine, &login(P1, "david", &["dev"]), &Restore::default()).unwrap();
    assert_eq!(e.contexts, ["kac-dev@127.0.0.1:18443"]);
    assert!(e.text.starts_with(mine));
    assert_eq!(apply_logout(&e.text, P1, &e.restore).unwrap().text, mine);
}

#[test]
fn empty_and_missing_files_get_a_fresh_kubeconfig_with_current_context() {
    for text in [
        "",
        "\n",
        "apiVersion: v1\nclusters: []\ncontexts: null\nusers:\ncurrent-context: \"\"\n",
    ] {
        let e = apply_login(text, &login(P1, "sam", &["dev"]), &Restore::default()).unwrap();
        let v: Value = serde_yaml::from_str(&e.text).unwrap();
        assert_eq!(v["current-context"], "kac-dev", "{text:?} -> {}", e.text);
        assert_eq!(v["users"][0]["name"], "kac-sam@dev");
        assert!(!e.restore.lines.is_empty());
        let out = apply_logout(&e.text, P1, &e.restore).unwrap();
        let want = if text.trim().is_empty() {
            "apiVersion: v1\nkind: Config\n"
        } else {
            text
        };
        assert_eq!(out.text, want);
    }
}

#[test]
fn current_context_is_restored_on_logout() {
    let text = "apiVersion: v1\ncurrent-context: ''   # unset\ncontexts:\n- name: other\n  context: {cluster: a, user: b}\n";
    let e = apply_login(text, &login(P1, "sam", &["dev"]), &Restore::default()).unwrap();
    assert!(e.text.contains("current-context: \"kac-dev\""));
    let out = apply_logout(&e.text, P1, &e.restore).unwrap();
    assert_eq!(out.text, text);
}

#[test]
fn crlf_files_stay_crlf() {
    let text = "apiVersion: v1\r\ncontexts:\r\n- name: a\r\n  context: {cluster: a, user: a}\r\ncurrent-context: a\r\n";
    let e = apply_login(text, &login(P1, "sam", &["dev"]), &Restore::default()).unwrap();
    assert!(!e.text.replace("\r\n", "").contains('\n'), "{:?}", e.text);
    assert_eq!(apply_logout(&e.text, P1, &e.restore).unwrap().text, text);
}

#[test]
fn unsupported_layouts_are_refused_with_a_reason() {
    let cases = [
        ("{\"apiVersion\": \"v1\", \"contexts\": []}", "JSON"),
        ("contexts: [{name: a}]\n", "block sequence"),
        ("apiVersion: v1\n---\nkind: Config\n", "several"),
        ("contexts:\n\t- name: a\n", "tab"),
        ("clusters:\n- a\nclusters:\n- b\n", "twice"),
        ("contexts: &x\n- name: a\n", "block sequence"),
        ("- a\n- b\n", "mapping"),
        ("contexts:\n  - name: a\n - name: b\n", "indentation"),
    ];
    for (text, want) in cases {
        let e = apply_login(text, &login(P1, "sam", &["dev"]), &Restore::default()).unwrap_err();
        assert!(e.message.contains(want), "{text:?}: {e}");
    }
}

fn arb_entry(section: usize) -> impl Strategy<Value = String> {
    let name = "[a-z][a-z0-9-]{0,8}";
    let comment = prop_oneof![Just(String::new()), Just("  # note".to_string())];
    let blank = prop_oneof![
        Just(String::new()),
        Just("\n".to_string()),
        Just("# between\n".to_string())
    ];
    (name, comment, blank, 0..3usize).prop_map(move |(n, c, b, style)| {
        let kind = SECTIONS[section].1;
        let body = match style {
            0 => format!("- name: {n}{c}\n  {kind}:\n    server: https://{n}.example\n"),
            1 => format!("- {kind}: {{cluster: {n}, user: {n}}}\n  name: \"{n}\"\n"),
            _ => format!("-   name: '{n}'\n    {kind}:\n      token: |\n        - name: kac-x\n        line two\n"),
        };
        format!("{b}{body}")
    })
}

fn arb_kubeconfig() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(arb_entry(0), 0..4),
        prop::collection::vec(arb_entry(1), 0..4),
        prop::collection::vec(arb_entry(2), 0..4),
        prop::option::of("[a-z]{1,6}"),
        prop::sample::select(vec!["", "  "]),
    )
        .prop_map(|(c, u, x, cur, ind)| {
            let indent = |v: Vec<String>| -> String {
                v.concat()
                    .lines()
                    .map(|l| {
                        if l.is_empty() {
                            "\n".to_string()
                        } else {
                            format!("{ind}{l}\n")
                        }
                    })
                    .collect()
            };
            let mut s = String::from("# hand written\napiVersion: v1\nkind: Config\n");
            s.push_str(&format!(
                "clusters:{}\n{}",
                if c.is_empty() { " []" } else { "" },
                indent(c)
            ));
            s.push_str(&format!("users:\n{}", indent(u)));
            if let Some(cur) = cur {
                s.push_str(&format!("current-context: {cur}\n"));
            }
            s.push_str(&format!("contexts:\n{}", indent(x)));
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn other_entries_are_preserved_byte_for_byte(
        text in arb_kubeconfig(),
        clusters in prop::sample::subsequence(vec!["dev", "prod", "staging"], 0..3),
        later in prop::sample::subsequence(vec!["dev", "prod", "qa"], 0..3),
    ) {
        let first = apply_login(&text, &login(P1, "david", &clusters), &Restore::default()).unwrap();
        let second = apply_login(&first.text, &login(P1, "david", &later), &first.restore).unwrap();
        let other = apply_login(&second.text, &login(P2, "sam", &["dev"]), &Restore::default()).unwrap();
        let out = apply_logout(&other.text, P2, &other.restore).unwrap();
        let out = apply_logout(&out.text, P1, &second.restore).unwrap();
        // Logging out in the reverse order of logins restores the original.
        prop_assert_eq!(&out.text, &text);
        // Whatever happened, the original's lines survive in order.
        let mut rest = out.text.as_str();
        for l in text.lines().filter(|l| !l.starts_with("clusters")) {
            let at = rest.find(l);
            prop_assert!(at.is_some(), "lost line {:?} in\n{}", l, out.text);
            rest = &rest[at.unwrap() + l.len()..];
        }
    }
}

fn fragment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "clusters:",
        "users:",
        "contexts:",
        "contexts: []",
        "users: null",
        "current-context: a",
        "current-context: \"\"",
        "current-context: kac-dev",
        "- name: a",
        "- name: kac-dev",
        "  - name: b",
        "  cluster: {server: x}",
        "  user:",
        "    token: t",
        "  context: {cluster: a, user: a}",
        "  # c",
        "# top",
        "",
        "---",
        "...",
        "[]",
        "{}",
        "\t- x",
        "- - x",
        "a: &x 1",
        "b: *x",
        "  |",
        "key: |",
        "  block",
        "\"clusters\":",
        "clusters: [a]",
        "apiVersion: v1",
        "\r",
        " ",
        ":",
        "- ",
        "  extensions:",
        "  - name: kac.dev/login",
        "    extension: {proxy: \"https://127.0.0.1:1\"}",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    #[test]
    fn the_fuzz_entry_point_holds_on_kubeconfig_like_text(
        lines in prop::collection::vec(fragment(), 0..14),
        last_nl in any::<bool>(),
    ) {
        let mut text = lines.join("\n");
        if last_nl {
            text.push('\n');
        }
        fuzz_edit(text.as_bytes());
    }
}
