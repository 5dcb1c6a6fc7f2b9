use super::*;

fn attr(method: &str, url: &str) -> RequestInfo {
    let (path, q) = url.split_once('?').unwrap_or((url, ""));
    attribute(method, path, &Query::parse(Some(q)))
}

#[test]
fn resource_requests() {
    let i = attr("GET", "/api/v1/namespaces/david/pods/david-1");
    assert_eq!(
        (
            i.is_resource,
            i.verb.as_str(),
            i.namespace.as_str(),
            i.resource.as_str(),
            i.name.as_str()
        ),
        (true, "get", "david", "pods", "david-1")
    );
    let i = attr("GET", "/api/v1/pods?watch=True");
    assert_eq!((i.verb.as_str(), i.namespace.as_str()), ("watch", ""));
    assert_eq!(attr("GET", "/api/v1/pods?watch=0").verb, "list");
    assert_eq!(attr("GET", "/api/v1/pods?watch=FALSE").verb, "list");
    let i = attr("GET", "/api/v1/watch/namespaces/d/pods");
    assert_eq!(
        (i.verb.as_str(), i.resource.as_str(), i.namespace.as_str()),
        ("watch", "pods", "d")
    );
    let i = attr("DELETE", "/apis/apps/v1/namespaces/default/deployments");
    assert_eq!(
        (i.verb.as_str(), i.group.as_str()),
        ("deletecollection", "apps")
    );
    let i = attr("POST", "/api/v1/namespaces/d/pods/p/exec?command=sh");
    assert_eq!(
        (i.verb.as_str(), i.subresource.as_str()),
        ("create", "exec")
    );
    let i = attr("GET", "/api/v1/namespaces/d/pods/p/exec?command=sh");
    assert_eq!(i.verb, "get");
    let i = attr(
        "GET",
        "/api/v1/namespaces/d/pods?fieldSelector=metadata.name%3Dp",
    );
    assert_eq!((i.verb.as_str(), i.name.as_str()), ("list", "p"));
}

#[test]
fn namespace_objects() {
    let i = attr("GET", "/api/v1/namespaces/foo");
    assert_eq!(
        (i.namespace.as_str(), i.resource.as_str(), i.name.as_str()),
        ("foo", "namespaces", "foo")
    );
    let i = attr("PUT", "/api/v1/namespaces/foo/finalize");
    assert_eq!(
        (i.resource.as_str(), i.subresource.as_str(), i.verb.as_str()),
        ("namespaces", "finalize", "update")
    );
    let i = attr("GET", "/api/v1/namespaces");
    assert_eq!((i.verb.as_str(), i.namespace.as_str()), ("list", ""));
}

#[test]
fn non_resource_requests() {
    for p in [
        "/version",
        "/api",
        "/apis",
        "/apis/apps",
        "/apis/apps/v1",
        "/openapi/v3/api/v1",
        "/healthz",
    ] {
        let i = attr("GET", p);
        assert!(!i.is_resource, "{p}");
        assert_eq!(i.verb, "get");
    }
    assert!(!attr("GET", "/api/v1").is_resource);
}

#[test]
fn query_decoding() {
    let q = Query::parse(Some(
        "labelSelector=app+in+%28a%2Cb%29&command=ls&command=-l&bad=%zz",
    ));
    assert_eq!(q.get("labelSelector"), Some("app in (a,b)"));
    assert_eq!(q.all("command"), vec!["ls", "-l"]);
    assert_eq!(q.get("bad"), Some("%zz"));
    assert_eq!(percent_decode("%", false), "%");
    assert_eq!(percent_decode("a%2", false), "a%2");
}
