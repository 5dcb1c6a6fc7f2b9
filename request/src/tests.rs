//! Table-driven tests. The success/non-resource/fieldSelector cases port the
//! *expectations* of upstream's `requestinfo_test.go`; the refusal cases
//! cover every KAC rule in docs/attribution.md.

use super::*;
use crate::reference::reference_attribute;
use proptest::prelude::*;

fn m(s: &str) -> Method {
    Method::from_bytes(s.as_bytes()).unwrap()
}

fn split(url: &str) -> (&str, Option<&str>) {
    match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    }
}

fn attr(method: &str, url: &str) -> Result<RequestInfo, AttributionError> {
    let (p, q) = split(url);
    attribute(&m(method), p, q)
}

#[allow(clippy::type_complexity)]
#[rustfmt::skip]
const UPSTREAM_SUCCESS: &[(&str, &str, &str, &str, &str, &str, &str, &str, &str, &[&str])] = &[
    // method, url, verb, group, version, namespace, resource, subresource, name, parts
    ("GET", "/api/v1/namespaces", "list", "", "v1", "", "namespaces", "", "", &["namespaces"]),
    ("GET", "/api/v1/namespaces/other", "get", "", "v1", "other", "namespaces", "", "other", &["namespaces", "other"]),
    ("GET", "/api/v1/namespaces/other/pods", "list", "", "v1", "other", "pods", "", "", &["pods"]),
    ("GET", "/api/v1/namespaces/other/pods/foo", "get", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    ("HEAD", "/api/v1/namespaces/other/pods/foo", "get", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    ("GET", "/api/v1/pods", "list", "", "v1", "", "pods", "", "", &["pods"]),
    ("HEAD", "/api/v1/pods", "list", "", "v1", "", "pods", "", "", &["pods"]),
    ("PATCH", "/api/v1/namespaces/new-namespace", "patch", "", "v1", "new-namespace", "namespaces", "", "new-namespace", &["namespaces", "new-namespace"]),
    // special verbs
    ("GET", "/api/v1/proxy/namespaces/other/pods/foo", "proxy", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    ("GET", "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource", "proxy", "", "v1", "other", "pods", "", "foo", &["pods", "foo", "subpath", "not", "a", "subresource"]),
    ("GET", "/api/v1/watch/pods", "watch", "", "v1", "", "pods", "", "", &["pods"]),
    ("GET", "/api/v1/pods?watch=true", "watch", "", "v1", "", "pods", "", "", &["pods"]),
    ("GET", "/api/v1/pods?watch=false", "list", "", "v1", "", "pods", "", "", &["pods"]),
    ("GET", "/api/v1/watch/namespaces/other/pods", "watch", "", "v1", "other", "pods", "", "", &["pods"]),
    ("GET", "/api/v1/namespaces/other/pods?watch=1", "watch", "", "v1", "other", "pods", "", "", &["pods"]),
    ("GET", "/api/v1/namespaces/other/pods?watch=0", "list", "", "v1", "other", "pods", "", "", &["pods"]),
    // subresource identification
    ("GET", "/api/v1/namespaces/other/pods/foo/status", "get", "", "v1", "other", "pods", "status", "foo", &["pods", "foo", "status"]),
    ("GET", "/api/v1/namespaces/other/pods/foo/proxy/subpath", "get", "", "v1", "other", "pods", "proxy", "foo", &["pods", "foo", "proxy", "subpath"]),
    ("PUT", "/api/v1/namespaces/other/finalize", "update", "", "v1", "other", "namespaces", "finalize", "other", &["namespaces", "other", "finalize"]),
    ("PUT", "/api/v1/namespaces/other/status", "update", "", "v1", "other", "namespaces", "status", "other", &["namespaces", "other", "status"]),
    // verb identification
    ("PATCH", "/api/v1/namespaces/other/pods/foo", "patch", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    ("DELETE", "/api/v1/namespaces/other/pods/foo", "delete", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    ("POST", "/api/v1/namespaces/other/pods", "create", "", "v1", "other", "pods", "", "", &["pods"]),
    // deletecollection
    ("DELETE", "/api/v1/nodes", "deletecollection", "", "v1", "", "nodes", "", "", &["nodes"]),
    ("DELETE", "/api/v1/namespaces", "deletecollection", "", "v1", "", "namespaces", "", "", &["namespaces"]),
    ("DELETE", "/api/v1/namespaces/other/pods", "deletecollection", "", "v1", "other", "pods", "", "", &["pods"]),
    ("DELETE", "/apis/extensions/v1/namespaces/other/pods", "deletecollection", "extensions", "v1", "other", "pods", "", "", &["pods"]),
    // api group and version identification
    ("POST", "/apis/extensions/v1/namespaces/other/pods", "create", "extensions", "v1", "other", "pods", "", "", &["pods"]),
    ("POST", "/apis/extensions/v1beta3/namespaces/other/pods", "create", "extensions", "v1beta3", "other", "pods", "", "", &["pods"]),
    // KAC additions: legacy watch of one object, cluster-scoped, trailing slash.
    ("GET", "/api/v1/watch/namespaces/other/pods/foo", "watch", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:controller:foo", "get", "rbac.authorization.k8s.io", "v1", "", "clusterroles", "", "system:controller:foo", &["clusterroles", "system:controller:foo"]),
    ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Acontroller%3Afoo", "get", "rbac.authorization.k8s.io", "v1", "", "clusterroles", "", "system:controller:foo", &["clusterroles", "system:controller:foo"]),
    ("GET", "/api/v1/pods/", "list", "", "v1", "", "pods", "", "", &["pods"]),
    ("GET", "/api/v1/namespaces/n/services/s/proxy/", "get", "", "v1", "n", "services", "proxy", "s", &["services", "s", "proxy"]),
    ("POST", "/api/v1/proxy/namespaces/n/services/s/a/b", "proxy", "", "v1", "n", "services", "", "s", &["services", "s", "a", "b"]),
];

#[test]
fn upstream_success_cases() {
    for &(method, url, verb, group, version, ns, res, sub, name, parts) in UPSTREAM_SUCCESS {
        let info = attr(method, url).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        assert!(info.is_resource_request, "{url}");
        let prefix = if group.is_empty() { "api" } else { "apis" };
        assert_eq!(
            (
                info.verb.as_str(),
                info.api_prefix.as_str(),
                info.api_group.as_str(),
                info.api_version.as_str(),
                info.namespace.as_str(),
                info.resource.as_str(),
                info.subresource.as_str(),
                info.name.as_str()
            ),
            (verb, prefix, group, version, ns, res, sub, name),
            "{method} {url}"
        );
        assert_eq!(info.parts, parts, "{method} {url}");
        // The reference model agrees on every accepted case.
        let (p, q) = split(url);
        assert_eq!(
            Some(info),
            reference_attribute(method, p, q.unwrap_or("")),
            "{url}"
        );
    }
}

#[test]
#[rustfmt::skip]
fn upstream_non_resource_cases() {
    // From upstream's error cases and TestGetNonAPIRequestInfo.
    let cases: &[(&str, bool)] = &[
        ("/", false),
        ("/api/version/", false),
        ("/apis/group/version/", false),
        ("/badprefix/version/resource", false),
        ("/apis/version/resource", false),
        ("/api/version/resource", true),
        ("/apis/group/version/resource/name/subresource", true),
        ("/api/version/resource/name/subresource", true),
        ("/apis/batch/v1/job", true),
        ("/apis/batch/v1/job/foo", true),
        ("/apis/batch/v1/job/foo/scale", true),
        ("/not-api/version/resource", false),
        ("/apis/extensions/v1beta1", false),
        ("/apis/extensions/v1beta1/", false),
        ("/api/version", false),
        ("/api", false),
        ("/apis", false),
        ("/version", false),
        ("/healthz", false),
        ("/openapi/v3/apis/apps/v1", false),
    ];
    for &(url, resource) in cases {
        let info = attr("GET", url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(info.is_resource_request, resource, "{url}");
        if !resource {
            assert_eq!(info.verb, "get", "{url}");
            assert!(info.resource.is_empty() && info.parts.is_empty(), "{url}");
        }
    }
    // Upstream quirk, mirrored: discovery of a group version keeps the prefix.
    assert_eq!(attr("GET", "/apis/apps/v1").unwrap().api_prefix, "apis");
    assert_eq!(attr("GET", "/api/v1").unwrap().api_prefix, "");
    assert_eq!(attr("POST", "/apis").unwrap().verb, "post");
    assert_eq!(attr("HEAD", "/version").unwrap().verb, "head");
    assert_eq!(attr("OPTIONS", "/openapi/v3").unwrap().verb, "options");
    assert_eq!(attr("GET", "/version?timeout=5s").unwrap().path, "/version");
}

#[test]
#[rustfmt::skip]
fn upstream_field_selector_cases() {
    let ok: &[(&str, &str, &str)] = &[
        ("/apis/group/version/resource", "", "list"),
        ("/apis/group/version/resource?fieldSelector=metadata.name=name1", "name1", "list"),
        ("/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1", "name1", "watch"),
        ("/apis/group/version/resource?fieldSelector=foo=bar", "", "list"),
        // KAC additions: kubectl's encoding, `==`, other terms, escapes.
        ("/api/v1/namespaces/d/pods?fieldSelector=metadata.name%3Dweb", "web", "list"),
        ("/api/v1/namespaces/d/pods?fieldSelector=metadata.name%3D%3Dweb&watch=True", "web", "watch"),
        ("/api/v1/pods?fieldSelector=status.phase%3DRunning%2Cmetadata.name%3Dweb", "web", "list"),
        ("/api/v1/pods?fieldSelector=spec.x%3Da%5C%2Cmetadata.name%5C%3Db", "", "list"),
        ("/api/v1/pods?fieldSelector=", "", "list"),
        ("/api/v1/pods?fieldSelector=metadata.name%3Dweb&limit=500", "web", "list"),
        // fieldSelector names only matter for get-without-name.
        ("/api/v1/watch/pods?fieldSelector=metadata.name%21%3Dx", "", "watch"),
    ];
    for &(url, name, verb) in ok {
        let info = attr("GET", url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!((info.name.as_str(), info.verb.as_str()), (name, verb), "{url}");
        let (p, q) = split(url);
        assert_eq!(Some(info), reference_attribute("GET", p, q.unwrap_or("")), "{url}");
    }
    // Upstream's "invalid selector with metadata.name" cases: upstream
    // attributes them without a name; KAC refuses them.
    for url in [
        "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo",
        "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=true",
        "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=false",
    ] {
        assert!(
            matches!(attr("GET", url), Err(AttributionError::FieldSelector { .. })),
            "{url}"
        );
    }
}

#[test]
#[rustfmt::skip]
fn kac_refusals() {
    use AttributionError as E;
    type Check = fn(&AttributionError) -> bool;
    let cases: &[(&str, &str, Check)] = &[
        ("GET", "api/v1/pods", |e| matches!(e, E::NotAbsolutePath { .. })),
        ("GET", "", |e| matches!(e, E::NotAbsolutePath { .. })),
        ("GET", "/api/v1//pods", |e| matches!(e, E::EmptySegment { .. })),
        ("GET", "//api/v1/pods", |e| matches!(e, E::EmptySegment { .. })),
        ("GET", "/api/v1/pods//", |e| matches!(e, E::EmptySegment { .. })),
        ("GET", "//", |e| matches!(e, E::EmptySegment { .. })),
        ("GET", "/api/v1/namespaces/a/../b/pods", |e| matches!(e, E::DotSegment { .. })),
        ("GET", "/api/v1/./pods", |e| matches!(e, E::DotSegment { .. })),
        ("GET", "/api/v1/pods/a..b", |e| matches!(e, E::DotSegment { .. })),
        ("GET", "/api/v1/namespaces/a%2Fb/pods", |e| matches!(e, E::ForbiddenEscape { .. })),
        ("GET", "/api/v1/namespaces/a%2fb/pods", |e| matches!(e, E::ForbiddenEscape { .. })),
        ("GET", "/api/v1/namespaces/%2e%2e/pods", |e| matches!(e, E::ForbiddenEscape { .. })),
        ("GET", "/api/v1/pods/x%2Ey", |e| matches!(e, E::ForbiddenEscape { .. })),
        ("GET", "/api/v1/pods/x%252F", |e| matches!(e, E::ForbiddenEscape { .. })),
        ("GET", "/api/v1/pods/x%5Cy", |e| matches!(e, E::ForbiddenEscape { .. })),
        ("GET", "/api/v1/pods/x%3By", |e| matches!(e, E::ForbiddenEscape { .. })),
        ("GET", "/api/v1/pods/x%00", |e| matches!(e, E::ForbiddenEscape { .. })),
        ("GET", "/api/v1/pods/x%0A", |e| matches!(e, E::ForbiddenEscape { .. })),
        ("GET", "/api/v1/pods/x%7F", |e| matches!(e, E::ForbiddenEscape { .. })),
        ("GET", "/api/v1/pods/x%zz", |e| matches!(e, E::MalformedEscape { .. })),
        ("GET", "/api/v1/pods/x%4", |e| matches!(e, E::MalformedEscape { .. })),
        ("GET", "/api/v1/pods/x%ff", |e| matches!(e, E::NotUtf8)),
        ("GET", "/api/v1/pods/x\\y", |e| matches!(e, E::ForbiddenCharacter { character: '\\', .. })),
        ("GET", "/api/v1/pods/x;y=1", |e| matches!(e, E::ForbiddenCharacter { character: ';', .. })),
        ("GET", "/api/v1/pods/x y", |e| matches!(e, E::ForbiddenCharacter { .. })),
        ("GET", "/api/v1/pods/x\u{0}", |e| matches!(e, E::ForbiddenCharacter { .. })),
        ("GET", "/api/v1/pods/é", |e| matches!(e, E::ForbiddenCharacter { .. })),
        ("GET", "/api/v1/watch", |e| matches!(e, E::MissingResource { .. })),
        ("GET", "/apis/apps/v1/proxy", |e| matches!(e, E::MissingResource { .. })),
        ("OPTIONS", "/api/v1/pods", |e| matches!(e, E::UnsupportedMethod { .. })),
        ("CONNECT", "/version", |e| matches!(e, E::UnsupportedMethod { .. })),
        ("get", "/api/v1/pods", |e| matches!(e, E::UnsupportedMethod { .. })),
        // Query tricks.
        ("GET", "/api/v1/pods?watch=true&watch=false", |e| matches!(e, E::RepeatedParameter { .. })),
        ("GET", "/api/v1/pods?watch=yes", |e| matches!(e, E::InvalidWatch { .. })),
        ("GET", "/api/v1/pods?watch=", |e| matches!(e, E::InvalidWatch { .. })),
        ("GET", "/api/v1/pods?watch", |e| matches!(e, E::InvalidWatch { .. })),
        ("GET", "/api/v1/pods?watch=fal%C5%BFe", |e| matches!(e, E::InvalidWatch { .. })),
        ("GET", "/api/v1/pods?w%61tch=true", |e| matches!(e, E::EncodedParameterName { .. })),
        ("GET", "/api/v1/pods?watch+=true", |e| matches!(e, E::EncodedParameterName { .. })),
        ("GET", "/api/v1/pods?=true", |e| matches!(e, E::EncodedParameterName { .. })),
        ("GET", "/api/v1/pods?watch=true;x=1", |e| matches!(e, E::QuerySemicolon)),
        ("GET", "/api/v1/pods?watch=%zz", |e| matches!(e, E::MalformedEscape { .. })),
        ("GET", "/api/v1/pods?labelSelector=%ff", |e| matches!(e, E::NotUtf8)),
        ("GET", "/api/v1/pods?a=b c", |e| matches!(e, E::ForbiddenQueryCharacter { .. })),
        ("GET", "/api/v1/pods?a=b#c", |e| matches!(e, E::ForbiddenQueryCharacter { .. })),
        ("GET", "/api/v1/pods?fieldSelector=a%3Db&fieldSelector=metadata.name%3Dx", |e| matches!(e, E::RepeatedParameter { .. })),
        ("GET", "/api/v1/pods?fieldSelector=metadata.name%21%3Dx", |e| matches!(e, E::FieldSelector { .. })),
        ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Da%2Cmetadata.name%3Db", |e| matches!(e, E::FieldSelector { .. })),
        ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Da%2Cmetadata.name%21%3Db", |e| matches!(e, E::FieldSelector { .. })),
        ("GET", "/api/v1/pods?fieldSelector=metadata.name%3D", |e| matches!(e, E::FieldSelector { .. })),
        ("GET", "/api/v1/pods?fieldSelector=metadata.name%3D..", |e| matches!(e, E::FieldSelector { .. })),
        ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Da%2Fb", |e| matches!(e, E::FieldSelector { .. })),
        ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Da%25b", |e| matches!(e, E::FieldSelector { .. })),
        ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Da%3Db", |e| matches!(e, E::FieldSelector { .. })),
        ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Da%5C", |e| matches!(e, E::FieldSelector { .. })),
        ("GET", "/api/v1/pods?fieldSelector=nonsense", |e| matches!(e, E::FieldSelector { .. })),
        ("GET", "/api/v1/pods?fieldSelector=spec.x%3Da%5C%2Cmetadata.name%3Db", |e| matches!(e, E::FieldSelector { .. })),
        ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Dx&limit=ten", |e| matches!(e, E::InvalidListOption { .. })),
        ("GET", "/api/v1/pods?fieldSelector=metadata.name%3Dx&timeoutSeconds=", |e| matches!(e, E::InvalidListOption { .. })),
    ];
    for &(method, url, check) in cases {
        match attr(method, url) {
            Ok(info) => panic!("{method} {url:?} accepted as {info:?}"),
            Err(e) => {
                assert!(check(&e), "{method} {url:?}: unexpected error {e:?}");
                assert_eq!(e.status_code(), http::StatusCode::BAD_REQUEST);
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

#[test]
fn accepted_encodings_decode_like_go() {
    let info = attr("GET", "/api/v1/namespaces/d%65fault/pods/a%20b").unwrap();
    assert_eq!(
        (info.namespace.as_str(), info.name.as_str()),
        ("default", "a b")
    );
    assert_eq!(info.path, "/api/v1/namespaces/default/pods/a b");
    let info = attr("GET", "/api/v1/pods/%C3%A9").unwrap();
    assert_eq!(info.name, "é");
    // `+` is literal in a path, a space in a query value.
    assert_eq!(attr("GET", "/api/v1/pods/a+b").unwrap().name, "a+b");
    let info = attr("GET", "/api/v1/pods?fieldSelector=metadata.name%3Da+b").unwrap();
    assert_eq!(info.name, "a b");
    // Empty pieces are skipped, as Go does.
    assert_eq!(
        attr("GET", "/api/v1/pods?&&watch=1&").unwrap().verb,
        "watch"
    );
    // Parameter names are case-sensitive, as in Go: `Watch` is not `watch`.
    assert_eq!(attr("GET", "/api/v1/pods?Watch=true").unwrap().verb, "list");
}

#[test]
fn watch_values_any_case() {
    for (v, verb) in [
        ("true", "watch"),
        ("True", "watch"),
        ("TRUE", "watch"),
        ("1", "watch"),
        ("false", "list"),
        ("False", "list"),
        ("0", "list"),
    ] {
        assert_eq!(
            attr("GET", &format!("/api/v1/pods?watch={v}"))
                .unwrap()
                .verb,
            verb,
            "{v}"
        );
    }
    // watch on a named get does not change the verb (upstream ignores it).
    assert_eq!(
        attr("GET", "/api/v1/namespaces/d/pods/p?watch=true")
            .unwrap()
            .verb,
        "get"
    );
}

#[test]
#[rustfmt::skip]
fn kac_verbs() {
    let cases = [
        ("GET", "/api/v1/namespaces/d/pods/p/exec?command=sh", "get", "exec"),
        ("POST", "/api/v1/namespaces/d/pods/p/exec?command=sh", "create", "exec"),
        ("GET", "/api/v1/namespaces/d/pods/p/attach", "get", "attach"),
        ("POST", "/api/v1/namespaces/d/pods/p/attach", "create", "attach"),
        ("GET", "/api/v1/namespaces/d/pods/p/portforward", "get", "portforward"),
        ("POST", "/api/v1/namespaces/d/pods/p/portforward", "create", "portforward"),
        ("GET", "/api/v1/namespaces/d/pods/p/log", "get", "log"),
        ("GET", "/api/v1/namespaces/d/pods/p/proxy/x", "get", "proxy"),
        ("GET", "/api/v1/namespaces/d/services/s:80/proxy/", "get", "proxy"),
        ("GET", "/api/v1/nodes/n/proxy/metrics", "get", "proxy"),
        ("PUT", "/api/v1/proxy/nodes/n/x", "proxy", "proxy"),
        ("GET", "/api/v1/namespaces/d/pods/p/status", "get", "get"),
        ("GET", "/api/v1/namespaces/d/pods", "list", "list"),
        // exec is a pods subresource only: a CRD "exec" subresource is not.
        ("GET", "/apis/x.io/v1/namespaces/d/pods/p/exec", "get", "get"),
        ("GET", "/version", "get", "get"),
    ];
    for (method, url, verb, kac) in cases {
        let info = attr(method, url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!((info.verb.as_str(), info.kac_verb()), (verb, kac), "{method} {url}");
    }
}

#[test]
fn namespace_forms() {
    let info = attr("GET", "/api/v1/namespaces/status/finalize").unwrap();
    assert_eq!(
        (
            info.namespace.as_str(),
            info.resource.as_str(),
            info.name.as_str(),
            info.subresource.as_str()
        ),
        ("status", "namespaces", "status", "finalize")
    );
    let info = attr("GET", "/api/v1/namespaces/x/namespaces/y").unwrap();
    assert_eq!((info.namespace.as_str(), info.name.as_str()), ("x", "y"));
    let info = attr("GET", "/apis/apps/v1/namespaces/x/deployments/d/scale").unwrap();
    assert_eq!(
        (info.api_group.as_str(), info.subresource.as_str()),
        ("apps", "scale")
    );
}

#[test]
fn canonical_requests_reattribute() {
    for &(method, url, ..) in UPSTREAM_SUCCESS {
        let info = attr(method, url).unwrap();
        let (m2, p2, q2) = canonical_request(&info);
        let mut again = attribute(&m2, &p2, q2.as_deref()).unwrap();
        again.path = info.path.clone();
        assert_eq!(again, info, "{url} -> {p2}?{q2:?}");
    }
}

#[test]
fn fuzz_check_on_known_inputs() {
    // Inputs that exercise each branch of fuzz_check; none may panic.
    for (mb, target) in [
        (0u8, "/api/v1/namespaces/x/namespaces/x/pods?watch=1"),
        (0, "/api/v1/namespaces/x/namespaces/x/status"),
        (0, "/api/v1/watch/namespaces/n/pods/p/status"),
        (
            0,
            "/api/v1/pods?fieldSelector=metadata.name%3Da%5C%2Cb&watch=1",
        ),
        (1, "/healthz/"),
        (3, "/api/status/watch/watch/"),
        (5, "/apis/g/v/namespaces/n/r"),
        (6, "/api/v1/proxy/nodes/n"),
        (7, "/version"),
    ] {
        let mut data = vec![mb];
        data.extend_from_slice(target.as_bytes());
        fuzz_check(&data);
    }
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("api".to_owned()),
        Just("apis".to_owned()),
        Just("v1".to_owned()),
        Just("apps".to_owned()),
        Just("namespaces".to_owned()),
        Just("watch".to_owned()),
        Just("proxy".to_owned()),
        Just("status".to_owned()),
        Just("finalize".to_owned()),
        Just("pods".to_owned()),
        Just("exec".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("".to_owned()),
        Just("%2F".to_owned()),
        Just("%2e".to_owned()),
        Just("a%20b".to_owned()),
        Just("%C3%A9".to_owned()),
        Just("system:x".to_owned()),
        "[a-z0-9.%:+-]{1,6}",
    ]
}

fn query_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("watch=true".to_owned()),
        Just("watch=0".to_owned()),
        Just("watch=True".to_owned()),
        Just("watch=x".to_owned()),
        Just("fieldSelector=metadata.name%3Dfoo".to_owned()),
        Just("fieldSelector=metadata.name%3D%3Dfoo%2Ca%3Db".to_owned()),
        Just("fieldSelector=metadata.name%21%3Dfoo".to_owned()),
        Just("fieldSelector=a%3Db%5C%2Cmetadata.name%3Dc".to_owned()),
        Just("limit=5".to_owned()),
        Just("limit=x".to_owned()),
        Just("labelSelector=app%3Dweb".to_owned()),
        Just("".to_owned()),
        "[a-zA-Z%=+;&]{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn structured_requests_hold_invariants(
        method in 0u8..8,
        segments in proptest::collection::vec(segment(), 0..8),
        trailing in any::<bool>(),
        query in proptest::collection::vec(query_piece(), 0..4),
    ) {
        let mut target = String::new();
        for s in &segments {
            target.push('/');
            target.push_str(s);
        }
        if trailing || target.is_empty() {
            target.push('/');
        }
        if !query.is_empty() {
            target.push('?');
            target.push_str(&query.join("&"));
        }
        let mut data = vec![method];
        data.extend_from_slice(target.as_bytes());
        fuzz_check(&data);
    }

    #[test]
    fn arbitrary_bytes_hold_invariants(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        fuzz_check(&data);
    }
}
