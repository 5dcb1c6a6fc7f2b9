//! The admin side of the cluster registry against a running `kac demo`:
//! `kac-proxy clusters list|tag|import|sync` edit the clusters file, and the
//! running proxy follows within a second — a re-tagged cluster changes
//! policy decisions, imported and synced clusters serve requests, and a
//! cluster the provider no longer lists is gone. Real kubectl throughout.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kac_e2e::demo::Demo;
use kac_e2e::{binary, run_with_timeout, Output};
use serde_json::Value;

fn config(demo: &Demo) -> PathBuf {
    demo.dir().join("proxy/proxy.yaml")
}

/// `kac-proxy --config DEMO-CONFIG clusters ARGS…`
fn clusters(demo: &Demo, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(binary("kac-proxy", "kac-proxy").unwrap());
    cmd.arg("--config")
        .arg(config(demo))
        .arg("clusters")
        .args(args);
    run_with_timeout(cmd, None, Duration::from_secs(60)).unwrap()
}

/// kubectl as `user` (the demo's users-file token) on any cluster name.
fn kubectl_as(demo: &Demo, user: &str, cluster: &str, args: &[&str]) -> Output {
    demo.kubectl_with_token(cluster, &demo.token(user), args)
}

/// Retry `f` until it holds (the proxy polls its files every second).
fn eventually(what: &str, mut f: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match f() {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

fn sam_lists_pods(demo: &Demo, cluster: &str) -> Result<(), String> {
    let out = kubectl_as(
        demo,
        "sam",
        cluster,
        &["get", "pods", "-n", "sam", "-o", "name"],
    );
    if out.success() && out.stdout.contains("pod/sam-1") {
        Ok(())
    } else {
        Err(format!("{out:?}"))
    }
}

fn sam_is_forbidden(demo: &Demo, cluster: &str) -> Result<(), String> {
    let out = kubectl_as(demo, "sam", cluster, &["get", "pods", "-n", "sam"]);
    if !out.success() && out.stderr.contains("Forbidden") {
        Ok(())
    } else {
        Err(format!("{out:?}"))
    }
}

#[test]
fn tagging_a_cluster_changes_decisions_of_the_running_proxy() {
    let demo = Demo::start().unwrap();
    let out = clusters(&demo, &["list"]);
    let table = out.ok().unwrap();
    assert!(table.starts_with("NAME"), "{table}");
    let prod = table.lines().find(|l| l.starts_with("prod ")).unwrap();
    assert!(
        prod.contains("config") && prod.contains("ClusterType=prod"),
        "{prod}"
    );

    // sam's policy holds on clusters tagged ClusterType=dev*, so not on prod.
    sam_is_forbidden(&demo, "prod").unwrap();
    sam_lists_pods(&demo, "dev").unwrap();

    let out = clusters(
        &demo,
        &["tag", "prod", "ClusterType=dev-shadow", "team=data"],
    );
    assert!(
        out.ok()
            .unwrap()
            .contains("ClusterType=dev-shadow,team=data"),
        "{out:?}"
    );
    eventually("sam reaches prod after the tag", || {
        sam_lists_pods(&demo, "prod")
    });
    let out = clusters(&demo, &["list", "-o", "json"]);
    let rows: Value = serde_json::from_str(out.ok().unwrap()).unwrap();
    let prod = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "prod")
        .unwrap();
    assert_eq!(prod["tags"]["ClusterType"], "dev-shadow");
    assert_eq!(prod["source"], "clustersFile (overrides config)");

    // And back: removing tags works as in kubectl label.
    let out = clusters(&demo, &["tag", "prod", "ClusterType=prod", "team-"]);
    out.ok().unwrap();
    eventually("sam loses prod again", || sam_is_forbidden(&demo, "prod"));

    // Typos are errors that change nothing.
    let out = clusters(&demo, &["tag", "prod", "nosuch-"]);
    assert!(
        !out.success() && out.stderr.contains("\"nosuch\" is not set"),
        "{out:?}"
    );
    let out = clusters(&demo, &["tag", "stage", "a=b"]);
    assert!(
        !out.success() && out.stderr.contains("no cluster \"stage\""),
        "{out:?}"
    );
}

/// A kubeconfig for the demo's dev sim: one usable context and one with an
/// exec plugin.
fn write_kubeconfig(demo: &Demo, path: &Path) {
    let ready: Value = serde_json::from_str(
        &std::fs::read_to_string(demo.dir().join("clusters/dev/ready.json")).unwrap(),
    )
    .unwrap();
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: proxy\n  user:\n    token: {}\n- name: cloud\n  user:\n    exec: {{apiVersion: client.authentication.k8s.io/v1, command: aws}}\ncontexts:\n- name: imported-dev\n  context: {{cluster: sim, user: proxy}}\n- name: eks-shop\n  context: {{cluster: sim, user: cloud}}\ncurrent-context: imported-dev\n",
            ready["url"].as_str().unwrap(),
            ready["caFile"].as_str().unwrap(),
            ready["proxyToken"].as_str().unwrap(),
        ),
    )
    .unwrap();
}

#[test]
fn imported_and_synced_clusters_serve_without_a_restart_and_unsynced_ones_go() {
    let demo = Demo::start().unwrap();
    let kc = demo.dir().join("import.kubeconfig");
    write_kubeconfig(&demo, &kc);
    let kc_arg = kc.display().to_string();

    // All contexts: refused as a whole, naming the exec-plugin context.
    let out = clusters(&demo, &["import", "--kubeconfig", &kc_arg]);
    assert!(!out.success());
    assert!(
        out.stderr
            .contains("context \"eks-shop\": user \"cloud\" gets credentials from an exec plugin"),
        "{out:?}"
    );
    assert!(!demo.dir().join("proxy/clusters.yaml").exists());

    let out = clusters(
        &demo,
        &[
            "import",
            "--kubeconfig",
            &kc_arg,
            "--context",
            "imported-dev",
            "--tag",
            "ClusterType=dev",
        ],
    );
    assert!(
        out.ok().unwrap().contains("add cluster imported-dev"),
        "{out:?}"
    );
    let token = demo.dir().join("proxy/clusters/imported-dev/token");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&token).unwrap().permissions().mode() & 0o777,
        0o600
    );
    eventually("the imported cluster serves", || {
        sam_lists_pods(&demo, "imported-dev")
    });

    // Cloud sync with the fake provider: EKS DescribeCluster shapes that
    // point at the demo's prod sim.
    let prod: Value = serde_json::from_str(
        &std::fs::read_to_string(demo.dir().join("clusters/prod/ready.json")).unwrap(),
    )
    .unwrap();
    let ca = std::fs::read(prod["caFile"].as_str().unwrap()).unwrap();
    let source = demo.dir().join("eks.json");
    let write_source = |clusters: Value| {
        std::fs::write(
            &source,
            serde_json::json!({ "clusters": clusters }).to_string(),
        )
        .unwrap()
    };
    write_source(serde_json::json!([
        {"name": "shop", "arn": "arn:aws:eks:eu-west-1:1:cluster/shop", "status": "ACTIVE",
         "endpoint": prod["url"], "certificateAuthority": {"data": kac_e2e::base64_encode(&ca)},
         "tags": {"ClusterType": "dev-eks"}},
        {"name": "imported-dev", "status": "ACTIVE", "endpoint": prod["url"],
         "certificateAuthority": {"data": kac_e2e::base64_encode(&ca)}},
        {"name": "later", "status": "CREATING"}
    ]));
    let proxy_token = demo.dir().join("clusters/prod/proxy.token");
    let sync = |demo: &Demo| {
        clusters(
            demo,
            &[
                "sync",
                "--provider",
                "fake",
                "--source",
                source.to_str().unwrap(),
                "--token-file",
                proxy_token.to_str().unwrap(),
                "--tag",
                "cloud=eks",
            ],
        )
    };
    let out = sync(&demo);
    assert!(out.ok().unwrap().contains("added shop"), "{out:?}");
    // The imported cluster of the same name is not the provider's: left alone.
    assert!(out.stderr.contains("skipped imported-dev"), "{out:?}");
    eventually("the synced cluster serves", || {
        sam_lists_pods(&demo, "shop")
    });
    let list = clusters(&demo, &["list"]);
    let shop = list
        .stdout
        .lines()
        .find(|l| l.starts_with("shop "))
        .unwrap()
        .to_string();
    assert!(
        shop.contains("sync fake:eks.json") && shop.contains("cloud=eks"),
        "{shop}"
    );

    // The provider no longer lists shop: removed; the imported one stays.
    write_source(serde_json::json!([]));
    let out = sync(&demo);
    assert!(out.ok().unwrap().contains("removed shop"), "{out:?}");
    eventually("the removed cluster is gone", || {
        let out = kubectl_as(&demo, "sam", "shop", &["get", "pods", "-n", "sam"]);
        if out.stderr.contains("not found in the kac-proxy registry")
            || out.stderr.contains("NotFound")
            || out.stderr.contains("could not find the requested resource")
        {
            Ok(())
        } else {
            Err(format!("{out:?}"))
        }
    });
    sam_lists_pods(&demo, "imported-dev").unwrap();
}
