use super::*;

const CA: &str = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn kubeconfig() -> String {
    format!(
        r#"apiVersion: v1
kind: Config
clusters:
- name: c-dev
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: {ca}
- name: c-prod
  cluster:
    server: https://10.0.0.2:6443
    certificate-authority: prod-ca.crt
- name: c-eks
  cluster:
    server: https://ABC.gr7.eu-west-1.eks.amazonaws.com
    certificate-authority-data: {ca}
- name: c-insecure
  cluster:
    server: https://10.0.0.3:6443
    insecure-skip-tls-verify: true
users:
- name: u-token
  user:
    token: sa-token-dev
- name: u-cert
  user:
    client-certificate-data: {cert}
    client-key: prod.key
- name: u-exec
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token]
contexts:
- name: dev
  context: {{cluster: c-dev, user: u-token, namespace: default}}
- name: prod
  context: {{cluster: c-prod, user: u-cert}}
- name: arn:aws:eks:eu-west-1:123:cluster/shop
  context: {{cluster: c-eks, user: u-exec}}
- name: insecure
  context: {{cluster: c-insecure, user: u-token}}
current-context: dev
"#,
        ca = b64(CA),
        cert = b64("CERT"),
    )
}

fn dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("prod-ca.crt"), CA).unwrap();
    std::fs::write(d.path().join("prod.key"), "KEY").unwrap();
    d
}

#[test]
fn token_and_cert_contexts_import_with_files_and_tags() {
    let d = dir();
    let tags = BTreeMap::from([("ClusterType".to_string(), "dev".to_string())]);
    let p = plan(
        &kubeconfig(),
        d.path(),
        &["dev".into(), "prod".into()],
        &tags,
    )
    .unwrap();
    assert_eq!(
        p.imported,
        [("dev".into(), "dev".into()), ("prod".into(), "prod".into())]
    );
    let dev = &p.entries[0];
    assert_eq!(dev.server, "https://10.0.0.1:6443");
    assert_eq!(
        dev.ca_file.as_deref(),
        Some(Path::new("clusters/dev/ca.crt"))
    );
    assert_eq!(
        dev.token_file.as_deref(),
        Some(Path::new("clusters/dev/token"))
    );
    assert_eq!(dev.tags["ClusterType"], "dev");
    let prod = &p.entries[1];
    assert_eq!(
        prod.client_key_file.as_deref(),
        Some(Path::new("clusters/prod/client.key"))
    );
    assert!(prod.token_file.is_none());
    let file = |path: &str| p.files.iter().find(|f| f.path == Path::new(path)).unwrap();
    assert_eq!(file("clusters/dev/ca.crt").bytes, CA.as_bytes());
    assert_eq!(file("clusters/dev/token").bytes, b"sa-token-dev");
    assert_eq!(file("clusters/dev/token").mode, 0o600);
    assert_eq!(file("clusters/prod/ca.crt").bytes, CA.as_bytes());
    assert_eq!(file("clusters/prod/client.crt").bytes, b"CERT");
    assert_eq!(file("clusters/prod/client.key").mode, 0o600);
}

#[test]
fn exec_plugins_and_insecure_clusters_are_refused_naming_the_context() {
    let d = dir();
    let e = plan(&kubeconfig(), d.path(), &[], &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("nothing imported; 2 context(s)"), "{e}");
    assert!(
        e.contains("context \"arn:aws:eks:eu-west-1:123:cluster/shop\": user \"u-exec\" gets credentials from an exec plugin"),
        "{e}"
    );
    assert!(
        e.contains("context \"insecure\": cluster \"c-insecure\" sets insecure-skip-tls-verify"),
        "{e}"
    );
    let e = plan(&kubeconfig(), d.path(), &["nope".into()], &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("context \"nope\" is not in the kubeconfig"),
        "{e}"
    );
}

#[test]
fn context_names_become_valid_cluster_names() {
    assert_eq!(
        cluster_name("arn:aws:eks:eu-west-1:123:cluster/shop"),
        "arn-aws-eks-eu-west-1-123-cluster-shop"
    );
    assert_eq!(cluster_name("kind-dev"), "kind-dev");
    assert_eq!(
        cluster_name("gke_proj_europe-west1_main"),
        "gke_proj_europe-west1_main"
    );
}

#[test]
fn a_cluster_without_a_ca_or_credentials_is_refused() {
    let kc = "clusters:\n- name: c\n  cluster: {server: 'https://h:1'}\nusers:\n- name: u\n  user: {token: t}\n- name: none\n  user: {}\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n";
    let e = plan(kc, Path::new("."), &[], &BTreeMap::new()).unwrap_err();
    assert!(
        format!("{e:#}").contains("no certificate-authority"),
        "{e:#}"
    );
    let kc = format!(
        "clusters:\n- name: c\n  cluster: {{server: 'https://h:1', certificate-authority-data: {}}}\nusers:\n- name: none\n  user: {{}}\ncontexts:\n- name: a\n  context: {{cluster: c, user: none}}\n",
        b64(CA)
    );
    let e = plan(&kc, Path::new("."), &[], &BTreeMap::new()).unwrap_err();
    assert!(format!("{e:#}").contains("tokenFile"), "{e:#}");
    assert!(plan("{{{", Path::new("."), &[], &BTreeMap::new()).is_err());
}

#[test]
fn damaged_kubeconfigs_are_errors_never_panics() {
    // Every truncation and a byte flip at every position of a real
    // kubeconfig: plan() answers Ok or Err, and never panics.
    let d = dir();
    let text = kubeconfig();
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        let cut = String::from_utf8_lossy(&bytes[..i]);
        let _ = plan(&cut, d.path(), &[], &BTreeMap::new());
        let mut flipped = bytes.to_vec();
        flipped[i] = match flipped[i] {
            b':' => b' ',
            b'-' => b':',
            _ => b'{',
        };
        let _ = plan(
            &String::from_utf8_lossy(&flipped),
            d.path(),
            &["dev".into()],
            &BTreeMap::new(),
        );
    }
}
