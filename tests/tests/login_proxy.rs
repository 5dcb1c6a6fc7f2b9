//! The proxy side of `kac login` over real HTTPS against a running
//! `kac demo`: /kac/v1/login, /kac/v1/refresh and /kac/v1/clusters, the
//! issued access token used by real kubectl, expiry, rotation, revocation
//! through the users file, and the audit of logins (docs/login.md).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kac_e2e::demo::Demo;
use kac_e2e::run_with_timeout;
use serde_json::{json, Value};

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| Demo::start().expect("kac demo starts"))
}

/// One HTTPS request to the proxy (Python's urllib, trusting only the
/// demo's CA): (status code, JSON body).
fn api(
    demo: &Demo,
    method: &str,
    path: &str,
    body: Option<Value>,
    bearer: Option<&str>,
) -> (u16, Value) {
    let script = r#"
import json, ssl, sys, urllib.request, urllib.error
method, url, ca, body, bearer = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=ca)
headers = {"Content-Type": "application/json"}
if bearer:
    headers["Authorization"] = "Bearer " + bearer
req = urllib.request.Request(url, data=body.encode() if body else None, headers=headers, method=method)
try:
    r = urllib.request.urlopen(req, context=ctx, timeout=30)
    print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"#;
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-c")
        .arg(script)
        .arg(method)
        .arg(format!("{}{path}", demo.proxy_url()))
        .arg(demo.ca_file())
        .arg(body.map(|b| b.to_string()).unwrap_or_default())
        .arg(bearer.unwrap_or_default());
    let out = run_with_timeout(cmd, None, Duration::from_secs(60)).unwrap();
    let (code, body) = out
        .stdout
        .split_once(' ')
        .unwrap_or_else(|| panic!("no HTTP answer: {}", out.stderr));
    (
        code.parse().unwrap(),
        serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

fn login(demo: &Demo, user: &str, password: &str) -> (u16, Value) {
    api(
        demo,
        "POST",
        "/kac/v1/login",
        Some(json!({"user": user, "password": password})),
        None,
    )
}

fn kubectl_with_token(demo: &Demo, cluster: &str, token: &str, args: &[&str]) -> kac_e2e::Output {
    demo.kubectl_with_token(cluster, token, args)
}

fn names(clusters: &Value) -> Vec<String> {
    clusters
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn password_login_gives_a_token_kubectl_can_use_and_is_audited() {
    let demo = demo();
    let password = demo.password("david");
    let (code, r) = login(demo, "david", &password);
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["apiVersion"], "kac.dev/v1alpha1");
    assert_eq!(r["kind"], "LoginResponse");
    assert_eq!(r["user"], "david");
    let access = r["accessToken"].as_str().unwrap();
    assert!(access.starts_with("kac1."), "{access}");
    assert_ne!(access, r["refreshToken"].as_str().unwrap());
    let exp =
        chrono::DateTime::parse_from_rfc3339(r["expirationTimestamp"].as_str().unwrap()).unwrap();
    let refresh_exp =
        chrono::DateTime::parse_from_rfc3339(r["refreshExpirationTimestamp"].as_str().unwrap())
            .unwrap();
    // The demo's defaults: 8 h access, 7 d refresh.
    let left = exp.timestamp() - chrono::Utc::now().timestamp();
    assert!((8 * 3600 - 300..=8 * 3600).contains(&left), "{left}");
    assert!(refresh_exp > exp);
    assert_eq!(names(&r["clusters"]), ["dev", "prod"]);
    assert_eq!(r["clusters"][1]["tags"]["ClusterType"], "prod");
    assert_eq!(
        r["clusters"][0]["server"],
        format!("{}/clusters/dev", demo.proxy_url())
    );

    // Real kubectl with the access token, filtered as usual.
    let out = kubectl_with_token(
        demo,
        "prod",
        access,
        &["get", "pods", "-n", "david", "-o", "name"],
    );
    assert!(out.ok().unwrap().contains("pod/david-1"), "{out:?}");

    // The login is audited (non-resource, allowed) and no secret is in it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let events = loop {
        let out = demo
            .kac_audit(&["search", "user=david", "--format", "json"])
            .unwrap();
        let text = out.ok().unwrap().to_string();
        if text.contains("/kac/v1/login") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let login_event: Value = events
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e.to_string().contains("/kac/v1/login"))
        .unwrap_or_else(|| panic!("no login event in:\n{events}"));
    let text = login_event.to_string();
    assert!(text.contains("allowed"), "{text}");
    assert!(!events.contains(&password), "the password is in the audit");
    assert!(!events.contains(access), "the access token is in the audit");
}

#[test]
fn wrong_passwords_unknown_users_and_others_tokens_get_one_clear_401() {
    let demo = demo();
    let right = demo.password("david");
    for body in [
        json!({"user": "david", "password": format!("{right}x")}),
        json!({"user": "nobody", "password": right}),
        json!({"user": "david", "token": demo.token("sam")}),
    ] {
        let (code, st) = api(demo, "POST", "/kac/v1/login", Some(body.clone()), None);
        assert_eq!(code, 401, "{body}: {st}");
        assert_eq!(st["kind"], "Status");
        assert_eq!(st["reason"], "Unauthorized");
        assert_eq!(st["message"], "invalid user name or password");
    }
    // A malformed body is a 400 Status, not a login attempt.
    let (code, st) = api(
        demo,
        "POST",
        "/kac/v1/login",
        Some(json!({"usr": "david"})),
        None,
    );
    assert_eq!(code, 400, "{st}");
    // Wrong method.
    let (code, _) = api(demo, "GET", "/kac/v1/login", None, None);
    assert_eq!(code, 405);
}

#[test]
fn token_login_and_cluster_list_follow_the_users_policies() {
    let demo = demo();
    let (code, r) = api(
        demo,
        "POST",
        "/kac/v1/login",
        Some(json!({"user": "sam", "token": demo.token("sam")})),
        None,
    );
    assert_eq!(code, 200, "{r}");
    // sam's policy applies only to dev-tagged clusters.
    assert_eq!(names(&r["clusters"]), ["dev"]);
    let access = r["accessToken"].as_str().unwrap();
    let (code, list) = api(demo, "GET", "/kac/v1/clusters", None, Some(access));
    assert_eq!(code, 200, "{list}");
    assert_eq!(names(&list["clusters"]), ["dev"]);
    assert_eq!(list["clusters"][0]["tags"]["ClusterType"], "dev");
    // A users-file token works there too; no credentials → 401.
    let (code, list) = api(
        demo,
        "GET",
        "/kac/v1/clusters",
        None,
        Some(&demo.token("admin")),
    );
    assert_eq!(
        (code, names(&list["clusters"])),
        (200, vec!["dev".into(), "prod".into()])
    );
    let (code, _) = api(demo, "GET", "/kac/v1/clusters", None, None);
    assert_eq!(code, 401);
}

#[test]
fn refresh_rotates_and_tokens_never_stand_in_for_each_other() {
    let demo = demo();
    let (_, first) = login(demo, "david", &demo.password("david"));
    let refresh = first["refreshToken"].as_str().unwrap();
    let access = first["accessToken"].as_str().unwrap();
    let (code, second) = api(
        demo,
        "POST",
        "/kac/v1/refresh",
        Some(json!({"refreshToken": refresh})),
        None,
    );
    assert_eq!(code, 200, "{second}");
    assert_eq!(second["user"], "david");
    assert_ne!(second["accessToken"], first["accessToken"]);
    assert_ne!(second["refreshToken"], first["refreshToken"]);
    let out = kubectl_with_token(
        demo,
        "dev",
        second["accessToken"].as_str().unwrap(),
        &["get", "pods", "-n", "david", "-o", "name"],
    );
    assert!(out.ok().unwrap().contains("pod/david-1"));

    // A refresh token is not a bearer credential, an access token does not refresh.
    let out = kubectl_with_token(demo, "dev", refresh, &["get", "pods", "-n", "david"]);
    assert!(out.stderr.contains("You must be logged in"), "{out:?}");
    let (code, st) = api(
        demo,
        "POST",
        "/kac/v1/refresh",
        Some(json!({"refreshToken": access})),
        None,
    );
    assert_eq!(code, 401);
    assert_eq!(st["message"], "refresh token expired; run kac login");
}

#[test]
fn a_user_disabled_in_the_users_file_loses_access_and_refresh_at_once() {
    let demo = demo();
    // andrew is used by no other test of this file.
    let (code, r) = login(demo, "andrew", &demo.password("andrew"));
    assert_eq!(code, 200, "{r}");
    let access = r["accessToken"].as_str().unwrap();
    let refresh = r["refreshToken"].as_str().unwrap();
    let out = kubectl_with_token(
        demo,
        "dev",
        access,
        &["get", "pods", "-n", "default", "-o", "name"],
    );
    out.ok().unwrap();

    let users = demo.dir().join("proxy/users.yaml");
    let text = std::fs::read_to_string(&users).unwrap();
    let revoked = text.replace(
        "  - name: andrew\n",
        "  - name: andrew\n    disabled: true\n",
    );
    assert_ne!(text, revoked);
    std::fs::write(&users, revoked).unwrap();

    // The proxy re-reads the users file within a second or so.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, _) = api(demo, "GET", "/kac/v1/clusters", None, Some(access));
        if code == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "andrew still accepted");
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = kubectl_with_token(demo, "dev", access, &["get", "pods", "-n", "default"]);
    assert!(out.stderr.contains("You must be logged in"), "{out:?}");
    let (code, _) = api(
        demo,
        "POST",
        "/kac/v1/refresh",
        Some(json!({"refreshToken": refresh})),
        None,
    );
    assert_eq!(code, 401);
    let (code, _) = login(demo, "andrew", &demo.password("andrew"));
    assert_eq!(code, 401);
}

#[test]
fn an_expired_access_token_gets_a_401_that_says_so_and_refresh_renews_it() {
    let demo = Demo::start_with(&["--credential-ttl", "2s"]).unwrap();
    let (code, r) = login(&demo, "sam", &demo.password("sam"));
    assert_eq!(code, 200, "{r}");
    let exp =
        chrono::DateTime::parse_from_rfc3339(r["expirationTimestamp"].as_str().unwrap()).unwrap();
    // Wait until the token is certainly past its expiry.
    while chrono::Utc::now().timestamp() <= exp.timestamp() {
        std::thread::sleep(Duration::from_millis(200));
    }
    let access = r["accessToken"].as_str().unwrap();
    let (code, st) = api(&demo, "GET", "/kac/v1/clusters", None, Some(access));
    assert_eq!(code, 401, "{st}");
    assert_eq!(
        st["message"],
        "credential expired; run kac login (or let the kac credential plugin refresh it)"
    );
    let out = kubectl_with_token(&demo, "dev", access, &["get", "pods", "-n", "sam"]);
    assert!(out.stderr.contains("You must be logged in"), "{out:?}");
    // The refresh token outlives it.
    let (code, renewed) = api(
        &demo,
        "POST",
        "/kac/v1/refresh",
        Some(json!({"refreshToken": r["refreshToken"]})),
        None,
    );
    assert_eq!(code, 200, "{renewed}");
    let new_exp =
        chrono::DateTime::parse_from_rfc3339(renewed["expirationTimestamp"].as_str().unwrap())
            .unwrap();
    assert!(new_exp > exp);
}

#[test]
fn repeated_failed_logins_from_one_address_are_throttled() {
    // Its own proxy: the throttle would otherwise slow the other tests down.
    let demo = Demo::start().unwrap();
    for i in 0..10 {
        let (code, st) = login(&demo, "david", &format!("guess-{i}"));
        assert_eq!(code, 401, "{st}");
    }
    // Even the right password now waits; the Status says for how long.
    let (code, st) = login(&demo, "david", &demo.password("david"));
    assert_eq!(code, 429, "{st}");
    assert_eq!(st["reason"], "TooManyRequests");
    let msg = st["message"].as_str().unwrap();
    assert!(
        msg.starts_with("too many failed logins from this address; retry in "),
        "{msg}"
    );
    // Bearer tokens are not affected.
    let (code, _) = api(
        &demo,
        "GET",
        "/kac/v1/clusters",
        None,
        Some(&demo.token("david")),
    );
    assert_eq!(code, 200);
}
