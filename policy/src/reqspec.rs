//! The short request notation of `kac policy explain` and of test cases:
//! `VERB TARGET [-n NAMESPACE]`, where TARGET is a non-resource path
//! (`/version`) or `RESOURCE[.GROUP][/NAME[/SUBRESOURCE]]`, as kubectl
//! writes resources (`pods/nginx-1`, `deployments.apps/web`).
//!
//! `get RESOURCE` without a name means list, as kube-apiserver attributes
//! `GET` on a collection. The session verbs exec, attach, portforward, log and proxy set the
//! subresource of the same name, as the proxy's attribution would.

use crate::decide::RequestAttributes;

const SESSION_VERBS: &[&str] = &["exec", "attach", "portforward", "log", "proxy"];

/// Parses tokens such as `["delete", "pods/nginx-1", "-n", "default"]`.
pub fn parse_request_args<S: AsRef<str>>(args: &[S]) -> Result<RequestAttributes, String> {
    let mut positional = Vec::new();
    let mut namespace = None;
    let mut it = args.iter().map(AsRef::as_ref);
    while let Some(a) = it.next() {
        match a {
            "-n" | "--namespace" => {
                let ns = it.next().ok_or_else(|| format!("{a} needs a namespace"))?;
                namespace = Some(ns.to_string());
            }
            "-A" | "--all-namespaces" => namespace = None,
            _ => {
                if let Some(ns) = a
                    .strip_prefix("--namespace=")
                    .or_else(|| a.strip_prefix("-n="))
                {
                    namespace = Some(ns.to_string());
                } else if a.starts_with('-') && a.len() > 1 {
                    return Err(format!("unknown flag {a:?}"));
                } else {
                    positional.push(a);
                }
            }
        }
    }
    let (verb, target) = match positional.as_slice() {
        [verb, target] => (*verb, *target),
        [verb] if *verb == "list" || *verb == "watch" => {
            return Err(format!(
                "{verb} needs a resource, e.g. `{verb} pods -n default`"
            ))
        }
        _ => {
            return Err(
                "expected VERB TARGET [-n NAMESPACE], e.g. `get pods/web-1 -n default`".into(),
            )
        }
    };
    if verb.is_empty() || !verb.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(format!(
            "bad verb {verb:?}: verbs are lower-case words such as get or exec"
        ));
    }
    let mut req = RequestAttributes {
        verb: verb.to_string(),
        ..RequestAttributes::default()
    };
    if target.starts_with('/') {
        if namespace.is_some() {
            return Err("a non-resource path has no namespace".into());
        }
        req.non_resource_path = Some(target.to_string());
        return Ok(req);
    }
    let mut parts = target.split('/');
    let kind = parts.next().unwrap_or_default();
    let name = parts.next();
    let sub = parts.next();
    if parts.next().is_some() {
        return Err(format!(
            "bad target {target:?}: expected RESOURCE[.GROUP][/NAME[/SUBRESOURCE]]"
        ));
    }
    let (resource, group) = kind.split_once('.').unwrap_or((kind, ""));
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    };
    if !ok(resource) || (!group.is_empty() && !ok(group)) {
        return Err(format!("bad resource {kind:?}"));
    }
    req.resource = resource.to_string();
    req.api_group = group.to_string();
    match name {
        Some("") => return Err(format!("empty name in {target:?}")),
        Some(n) => req.name = Some(n.to_string()),
        // As kube-apiserver attributes it: a get without a name is a list.
        None if req.verb == "get" => req.verb = "list".to_string(),
        None => {}
    }
    if let Some(s) = sub {
        if s.is_empty() {
            return Err(format!("empty subresource in {target:?}"));
        }
        req.subresource = s.to_string();
    } else if SESSION_VERBS.contains(&verb) {
        req.subresource = verb.to_string();
    }
    req.namespace = namespace;
    Ok(req)
}

/// Parses the one-line form, e.g. `"exec pods/nginx-1 -n default"`.
pub fn parse_request(line: &str) -> Result<RequestAttributes, String> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    parse_request_args(&tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_named_namespaced_requests() {
        let r = parse_request("delete pods/nginx-1 -n default").unwrap();
        assert_eq!(r.verb, "delete");
        assert_eq!(r.resource, "pods");
        assert_eq!(r.api_group, "");
        assert_eq!(r.name.as_deref(), Some("nginx-1"));
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.non_resource_path, None);
    }

    #[test]
    fn parses_groups_subresources_and_session_verbs() {
        let r = parse_request("get deployments.apps/web/scale --namespace=shop").unwrap();
        assert_eq!(
            (r.resource.as_str(), r.api_group.as_str()),
            ("deployments", "apps")
        );
        assert_eq!(r.subresource, "scale");
        assert_eq!(r.namespace.as_deref(), Some("shop"));
        let r = parse_request("exec pods/nginx-1 -n default").unwrap();
        assert_eq!(r.subresource, "exec");
        let r = parse_request("get pods -n x").unwrap();
        assert_eq!(r.verb, "list");
        let r = parse_request("list pods -A").unwrap();
        assert_eq!((r.name.clone(), r.namespace.clone()), (None, None));
    }

    #[test]
    fn parses_non_resource_paths() {
        let r = parse_request("get /version").unwrap();
        assert_eq!(r.non_resource_path.as_deref(), Some("/version"));
        assert!(r.resource.is_empty());
        assert!(parse_request("get /version -n x").is_err());
    }

    #[test]
    fn rejects_malformed_requests() {
        for bad in [
            "",
            "get",
            "list",
            "GET pods",
            "get pods/",
            "get pods/a/b/c",
            "get pods -n",
            "get pods --bogus",
            "get po!ds",
            "get pods extra",
        ] {
            assert!(parse_request(bad).is_err(), "{bad:?} should fail");
        }
    }
}
