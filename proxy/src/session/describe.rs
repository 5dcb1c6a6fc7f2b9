//! Session metadata from the request: which pod, container, command, tty.
//!
//! kubectl puts the exec argv in repeated `command=` query parameters and the
//! stream options in `container`, `stdin`, `stdout`, `stderr`, `tty`;
//! port-forward (channel form) lists `ports=`.

use hyper::header::{self, HeaderMap};
use kac_event::{SessionKind, SessionStart};

/// Whether a pod subresource request is a session this module relays.
pub fn is_session_request(resource: &str, subresource: &str, headers: &HeaderMap) -> bool {
    resource == "pods"
        && matches!(subresource, "exec" | "attach" | "portforward")
        && headers.contains_key(header::UPGRADE)
}

/// Fills `kind`, `namespace`, `pod`, `container`, `command`, `tty`, `stdin`
/// and `ports` from the attributed request and its query string.
pub fn describe_request(
    start: &mut SessionStart,
    subresource: &str,
    namespace: &str,
    pod: &str,
    query: Option<&str>,
) {
    start.kind = match subresource {
        "attach" => SessionKind::Attach,
        "portforward" => SessionKind::Portforward,
        _ => SessionKind::Exec,
    };
    start.namespace = namespace.to_string();
    start.pod = pod.to_string();
    for pair in query.unwrap_or_default().split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "command" => start.command.push(v),
            "container" => start.container = v,
            "tty" => start.tty = truthy(&v),
            "stdin" => start.stdin = truthy(&v),
            "ports" | "port" => start
                .ports
                .extend(v.split(',').filter_map(|p| p.trim().parse::<u16>().ok())),
            _ => {}
        }
    }
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "")
}

/// Decodes `%XX` escapes and `+` (form encoding) in a query value.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_exec_query() {
        let mut s = SessionStart::default();
        describe_request(
            &mut s,
            "exec",
            "ns",
            "web-1",
            Some("command=sh&command=-c&command=echo+hi%3B+exit+3&container=app&stdin=true&stdout=true&tty=true"),
        );
        assert_eq!(s.kind, SessionKind::Exec);
        assert_eq!(s.command, vec!["sh", "-c", "echo hi; exit 3"]);
        assert_eq!(s.container, "app");
        assert!(s.tty && s.stdin);
        assert_eq!((s.namespace.as_str(), s.pod.as_str()), ("ns", "web-1"));
    }

    #[test]
    fn attach_and_portforward() {
        let mut s = SessionStart::default();
        describe_request(
            &mut s,
            "attach",
            "ns",
            "p",
            Some("container=c&stdin=false&tty=false"),
        );
        assert_eq!(s.kind, SessionKind::Attach);
        assert!(!s.stdin && !s.tty && s.command.is_empty());
        let mut s = SessionStart::default();
        describe_request(&mut s, "portforward", "ns", "p", Some("ports=80,8080"));
        assert_eq!(s.kind, SessionKind::Portforward);
        assert_eq!(s.ports, vec![80, 8080]);
    }

    #[test]
    fn percent_decoding_edge_cases() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn session_requests() {
        let mut h = HeaderMap::new();
        assert!(!is_session_request("pods", "exec", &h));
        h.insert(header::UPGRADE, "websocket".parse().unwrap());
        assert!(is_session_request("pods", "exec", &h));
        assert!(is_session_request("pods", "portforward", &h));
        assert!(!is_session_request("pods", "log", &h));
        assert!(!is_session_request("services", "proxy", &h));
    }
}
