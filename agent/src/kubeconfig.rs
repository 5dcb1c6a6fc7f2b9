//! Rendering kubeconfig files that point at kac-proxy.

use base64::Engine;

/// A kubeconfig with one context `kac-CLUSTER` per cluster, authenticating
/// with a bearer token. The first cluster is the current context.
pub fn render_token_kubeconfig(
    proxy_url: &str,
    ca_pem: &[u8],
    user: &str,
    token: &str,
    clusters: &[&str],
) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let mut out = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for c in clusters {
        out.push_str(&format!(
            "- name: kac-{c}\n  cluster:\n    server: {proxy_url}/clusters/{c}\n    certificate-authority-data: {ca}\n"
        ));
    }
    out.push_str(&format!(
        "users:\n- name: kac-{user}\n  user:\n    token: {token}\ncontexts:\n"
    ));
    for c in clusters {
        out.push_str(&format!(
            "- name: kac-{c}\n  context:\n    cluster: kac-{c}\n    user: kac-{user}\n"
        ));
    }
    if let Some(first) = clusters.first() {
        out.push_str(&format!("current-context: kac-{first}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_has_a_context_per_cluster() {
        let k = render_token_kubeconfig("https://127.0.0.1:1", b"PEM", "sam", "tok", &["dev"]);
        let v: serde_yaml::Value = serde_yaml::from_str(&k).unwrap();
        assert_eq!(v["contexts"].as_sequence().unwrap().len(), 1);
        assert_eq!(v["current-context"], "kac-dev");
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:1/clusters/dev"
        );
        assert_eq!(v["users"][0]["user"]["token"], "tok");
    }
}
