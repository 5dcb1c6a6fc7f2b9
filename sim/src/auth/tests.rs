use super::*;
use hyper::header::HeaderValue;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

#[test]
fn bearer_parsing() {
    assert_eq!(
        bearer_token(&headers(&[("authorization", "Bearer abc")])),
        Some("abc")
    );
    assert_eq!(
        bearer_token(&headers(&[("authorization", "bearer  abc ")])),
        Some("abc")
    );
    assert_eq!(
        bearer_token(&headers(&[("authorization", "Basic abc")])),
        None
    );
    assert_eq!(bearer_token(&headers(&[])), None);
}

#[test]
fn proxy_impersonates_with_groups_and_extras() {
    let rbac = Rbac::default_rules();
    let proxy = UserInfo::new("kac-proxy", &[]).with_authenticated();
    let h = headers(&[
        ("impersonate-user", "david"),
        ("impersonate-group", "kac:editors"),
        ("impersonate-group", "dev"),
        ("impersonate-extra-Kac-Session%2Fid", "s1"),
    ]);
    let u = impersonate(&h, &proxy, &rbac, "/api/v1/pods")
        .unwrap()
        .unwrap();
    assert_eq!(u.name, "david");
    // Groups given explicitly are the authority: no system:authenticated added.
    assert_eq!(u.groups, vec!["kac:editors", "dev"]);
    assert_eq!(
        u.extra.get("kac-session/id").unwrap(),
        &vec!["s1".to_string()]
    );
    let h = headers(&[("impersonate-user", "sam")]);
    let u = impersonate(&h, &proxy, &rbac, "/").unwrap().unwrap();
    assert_eq!(u.groups, vec![AUTHENTICATED]);
}

#[test]
fn others_may_not_impersonate() {
    let rbac = Rbac::default_rules();
    let editor = UserInfo::new("alice", &["kac:editors"]).with_authenticated();
    let h = headers(&[("impersonate-user", "david")]);
    let err = impersonate(&h, &editor, &rbac, "/api/v1/pods").unwrap_err();
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "users \"david\" is forbidden: User \"alice\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
    );
}

#[test]
fn groups_without_user_fail() {
    let rbac = Rbac::default_rules();
    let proxy = UserInfo::new("kac-proxy", &[]).with_authenticated();
    let h = headers(&[("impersonate-group", "x")]);
    assert_eq!(impersonate(&h, &proxy, &rbac, "/").unwrap_err().code, 500);
    assert!(impersonate(&headers(&[]), &proxy, &rbac, "/")
        .unwrap()
        .is_none());
}
