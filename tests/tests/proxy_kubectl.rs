//! Real kubectl through kac-proxy to two kac-sim clusters (`kac demo`), with
//! the sample policies: authentication, impersonation, policy decisions,
//! list/watch filtering, streaming, exec, and the audit trail.
//!
//! One demo serves every test in this file, so the suite stays fast on a
//! 2-core CI machine; tests that create objects or assert exact listings
//! take `exclusive()`.

use std::sync::OnceLock;
use std::time::Duration;

use kac_e2e::{Demo, Kubectl};

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| Demo::start().expect("kac demo starts"))
}

fn names(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .map(|l| l.trim().trim_start_matches("pod/").to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

#[test]
fn david_sees_exactly_his_pods_across_namespaces_on_both_clusters() {
    let _state = kac_e2e::demo::exclusive();
    for cluster in ["dev", "prod"] {
        let k = demo().kubectl("david", cluster);
        let out = k.run(&["get", "pods", "-A", "-o", "name"]).unwrap();
        assert_eq!(
            names(out.ok().unwrap()),
            ["david-1", "david-2", "david-3"],
            "{cluster}"
        );
        // The default Table output, as kubectl prints it.
        let table = k.run(&["get", "pods", "-A"]).unwrap();
        let table = table.ok().unwrap();
        assert!(table.starts_with("NAMESPACE"), "{table}");
        assert!(
            !table.contains("nginx") && !table.contains("coredns"),
            "{table}"
        );
        assert_eq!(table.lines().count(), 4, "{table}");
    }
}

#[test]
fn andrew_sees_web_but_never_nginx_in_default() {
    let _state = kac_e2e::demo::exclusive();
    let k = demo().kubectl("andrew", "dev");
    for args in [
        &["get", "pods", "-n", "default"][..],
        &["get", "pods", "-n", "default", "-o", "wide"],
        &["get", "pods", "-n", "default", "-o", "json"],
        &[
            "get",
            "pods",
            "-n",
            "default",
            "--sort-by",
            ".metadata.name",
        ],
        &["get", "pods", "-n", "default", "--chunk-size", "1"],
    ] {
        let out = k.run(args).unwrap();
        let text = out.ok().unwrap();
        assert!(text.contains("web-1"), "{args:?}: {text}");
        assert!(!text.contains("nginx"), "{args:?} leaked nginx: {text}");
    }
    // A hidden object is Forbidden (not NotFound), and the message names the
    // policy and rule that denied it.
    let out = k.run(&["get", "pod", "nginx-1", "-n", "default"]).unwrap();
    assert!(!out.success());
    assert!(
        out.stderr.contains("Error from server (Forbidden)")
            && out.stderr.contains("policy \"andrew\"")
            && out.stderr.contains("except-nginx"),
        "{}",
        out.stderr
    );
}

#[test]
fn sam_reads_his_namespace_on_dev_and_nothing_on_prod() {
    let demo = demo();
    let k = demo.kubectl("sam", "dev");
    let out = k.run(&["get", "pods", "-n", "sam", "-o", "name"]).unwrap();
    assert_eq!(names(out.ok().unwrap()), ["sam-1"]);
    // Read-only: a delete is refused.
    let out = k
        .run(&["delete", "pod", "sam-1", "-n", "sam", "--wait=false"])
        .unwrap();
    assert!(out.stderr.contains("Forbidden"), "{}", out.stderr);
    // The demo gave sam no prod context; with his token by hand, prod says no.
    let kc = std::fs::read_to_string(demo.kubeconfig("sam")).unwrap();
    assert!(!kc.contains("kac-prod"), "{kc}");
    let prod = kc.replace("/clusters/dev", "/clusters/prod");
    let path = demo.dir().join("sam-prod-by-hand.kubeconfig");
    std::fs::write(&path, prod).unwrap();
    let out = Kubectl::new(&path)
        .run(&["get", "pods", "-n", "sam"])
        .unwrap();
    assert!(out.stderr.contains("Forbidden"), "{}", out.stderr);
}

#[test]
fn a_denied_delete_is_forbidden_and_names_user_cluster_and_reason() {
    let k = demo().kubectl("david", "prod");
    let out = k
        .run(&["delete", "pod", "nginx-1", "-n", "default"])
        .unwrap();
    assert!(!out.success());
    assert!(
        out.stderr.contains("Error from server (Forbidden): pods \"nginx-1\" is forbidden: User \"david\" cannot delete resource \"pods\"")
            && out.stderr.contains("in the namespace \"default\" on cluster \"prod\""),
        "{}",
        out.stderr
    );
}

#[test]
fn requests_without_credentials_get_401_and_impersonation_headers_403() {
    let demo = demo();
    // A bare request without credentials: a 401 Status.
    let data = demo.dir().join("proxy/data");
    let ready: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("ready.json")).unwrap()).unwrap();
    let script = format!(
        "import ssl,urllib.request,urllib.error\nctx=ssl.create_default_context(cafile='{}')\ntry:\n  urllib.request.urlopen('{}/clusters/dev/api/v1/pods', context=ctx)\nexcept urllib.error.HTTPError as e:\n  print(e.code, e.read().decode())\n",
        data.join("ca.crt").display(),
        ready["url"].as_str().unwrap()
    );
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", &script]);
    let out = kac_e2e::run_with_timeout(cmd, None, Duration::from_secs(30)).unwrap();
    let (code, body) = out.stdout.split_once(' ').expect("an HTTP error");
    assert_eq!(code, "401", "{}", out.stderr);
    let status: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Unauthorized");

    // A wrong token: kubectl reports that it must log in (401).
    let kc = std::fs::read_to_string(demo.kubeconfig("david")).unwrap();
    let bad = kc.replace(&demo.token("david"), "not-a-kac-token");
    let path = demo.dir().join("bad-token.kubeconfig");
    std::fs::write(&path, bad).unwrap();
    let out = Kubectl::new(&path)
        .run(&["get", "pods", "-n", "david"])
        .unwrap();
    assert!(
        out.stderr.contains("You must be logged in to the server"),
        "{}",
        out.stderr
    );

    // kubectl --as sends Impersonate-User: refused with 403.
    let k = demo.kubectl("david", "dev");
    let out = k
        .run(&["get", "pods", "-n", "david", "--as", "admin"])
        .unwrap();
    assert!(!out.success());
    assert!(out.stderr.contains("Forbidden"), "{}", out.stderr);
    // The Status says why.
    let script = format!(
        "import ssl,urllib.request,urllib.error\nctx=ssl.create_default_context(cafile='{}')\nreq=urllib.request.Request('{}/clusters/dev/api/v1/namespaces/david/pods', headers={{'Authorization':'Bearer {}','Impersonate-Group':'system:masters'}})\ntry:\n  urllib.request.urlopen(req, context=ctx)\nexcept urllib.error.HTTPError as e:\n  print(e.code, e.read().decode())\n",
        data.join("ca.crt").display(),
        ready["url"].as_str().unwrap(),
        demo.token("david"),
    );
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", &script]);
    let out = kac_e2e::run_with_timeout(cmd, None, Duration::from_secs(30)).unwrap();
    let (code, body) = out.stdout.split_once(' ').expect("an HTTP error");
    assert_eq!(code, "403", "{}", out.stderr);
    let status: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(status["reason"], "Forbidden");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("impersonate-group"),
        "{status}"
    );
}

#[test]
fn the_cluster_sees_the_policy_subject_and_never_the_users_token() {
    let demo = demo();
    let k = demo.kubectl("david", "dev");
    k.run(&["get", "pods", "-n", "david"])
        .unwrap()
        .ok()
        .unwrap();
    let token = demo.token("david");
    let reqs = demo.sim_requests("dev").unwrap();
    let mine: Vec<_> = reqs
        .iter()
        .filter(|r| r["extra"]["kac-user"][0] == "david")
        .collect();
    assert!(!mine.is_empty(), "no request on behalf of david: {reqs:?}");
    for r in &reqs {
        assert_eq!(r["authenticatedUser"], "kac-proxy", "{r}");
        assert_eq!(r["impersonated"], true, "{r}");
        let line = r.to_string();
        assert!(
            !line.contains(&token),
            "user token reached the cluster: {line}"
        );
    }
    let list = mine
        .iter()
        .find(|r| r["path"] == "/api/v1/namespaces/david/pods")
        .expect("the list reached the cluster");
    assert_eq!(list["user"], "kac:david");
    assert!(list["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == "kac:editors"));
}

#[test]
fn create_apply_watch_logs_and_delete_in_own_namespace() {
    let _state = kac_e2e::demo::exclusive();
    let k = demo().kubectl("david", "dev");
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("cm.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: e2e-cm\n  namespace: david\ndata:\n  a: \"1\"\n",
    )
    .unwrap();
    let m = manifest.to_str().unwrap();
    k.run(&["create", "-f", m]).unwrap().ok().unwrap();
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: e2e-cm\n  namespace: david\ndata:\n  a: \"2\"\n",
    )
    .unwrap();
    let out = k.run(&["apply", "-f", m]).unwrap();
    assert!(out.ok().unwrap().contains("configured"), "{}", out.stderr);
    let out = k
        .run(&[
            "get",
            "cm",
            "e2e-cm",
            "-n",
            "david",
            "-o",
            "jsonpath={.data.a}",
        ])
        .unwrap();
    assert_eq!(out.ok().unwrap(), "2");

    // get -w sees the creation and deletion of a pod, through the proxy.
    let watcher = k.command(&["get", "pods", "-n", "david", "-w", "--output-watch-events"]);
    let handle = std::thread::spawn(move || {
        kac_e2e::run_with_timeout(watcher, None, Duration::from_secs(8)).unwrap()
    });
    std::thread::sleep(Duration::from_secs(2));
    let pod = dir.path().join("pod.yaml");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: david-watch\n  namespace: david\nspec:\n  containers:\n  - name: main\n    image: busybox\n",
    )
    .unwrap();
    k.run(&["create", "-f", pod.to_str().unwrap()])
        .unwrap()
        .ok()
        .unwrap();
    k.run(&[
        "delete",
        "pod",
        "david-watch",
        "-n",
        "david",
        "--wait=false",
    ])
    .unwrap()
    .ok()
    .unwrap();
    let out = handle.join().unwrap();
    assert!(
        out.stdout.contains("ADDED") && out.stdout.contains("david-watch"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("DELETED"), "{}", out.stdout);

    // logs, and logs -f streaming through the proxy.
    let out = k.run(&["logs", "david-1", "-n", "david"]).unwrap();
    assert!(!out.ok().unwrap().is_empty());
    let out = k
        .run_for(
            &["logs", "-f", "david-1", "-n", "david"],
            Duration::from_secs(4),
        )
        .unwrap();
    assert!(!out.stdout.is_empty(), "{}", out.stderr);

    k.run(&["delete", "-f", m]).unwrap().ok().unwrap();
}

#[test]
fn exec_through_the_proxy_keeps_exit_codes_and_stdin_and_is_recorded() {
    let demo = demo();
    let k = demo.kubectl("david", "dev");
    let out = k
        .run(&[
            "exec",
            "david-2",
            "-n",
            "david",
            "--",
            "sh",
            "-c",
            "echo e2e-out; exit 3",
        ])
        .unwrap();
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stdout.contains("e2e-out"));
    let out = k
        .run_stdin(
            &["exec", "-i", "david-2", "-n", "david", "--", "cat"],
            "piped-through\n",
        )
        .unwrap();
    assert_eq!(out.ok().unwrap(), "piped-through\n");

    // Both sessions are in the store, with exit codes.
    let mut found = String::new();
    for _ in 0..40 {
        let out = demo
            .kac_audit(&["sessions", "user=david", "--format", "json"])
            .unwrap();
        found = out.stdout.clone();
        if found.contains("echo e2e-out; exit 3") && found.contains("\"cat\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(found.contains("echo e2e-out; exit 3"), "{found}");
    assert!(found.contains("\"exit_code\":3"), "{found}");

    // kac-play --cat replays exactly what kubectl printed.
    let session = found
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["command"][2] == "echo e2e-out; exit 3")
        .expect("the exec session");
    let id = session["session_id"].as_str().unwrap();
    let mut cmd = std::process::Command::new(kac_e2e::binary("kac-player", "kac-play").unwrap());
    cmd.arg("--store").arg(demo.store()).args(["--cat", id]);
    let played = kac_e2e::run_with_timeout(cmd, None, Duration::from_secs(30)).unwrap();
    assert_eq!(played.ok().unwrap(), "e2e-out\n", "{}", played.stderr);
}

#[test]
fn audit_search_finds_calls_across_both_clusters() {
    let demo = demo();
    demo.kubectl("sam", "dev")
        .run(&["get", "pods", "-n", "sam"])
        .unwrap()
        .ok()
        .unwrap();
    demo.kubectl("david", "prod")
        .run(&["get", "pods", "-n", "david"])
        .unwrap()
        .ok()
        .unwrap();
    demo.kubectl("david", "dev")
        .run(&["get", "pods", "-n", "david"])
        .unwrap()
        .ok()
        .unwrap();
    let mut out = String::new();
    for _ in 0..40 {
        out = demo
            .kac_audit(&[
                "search",
                "user=david",
                "resource=pods",
                "--format",
                "json",
                "--limit",
                "1000",
            ])
            .unwrap()
            .stdout;
        if out.contains("\"cluster\":\"dev\"") && out.contains("\"cluster\":\"prod\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        out.contains("\"cluster\":\"dev\"") && out.contains("\"cluster\":\"prod\""),
        "{out}"
    );
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["user"]["name"], "david", "{line}");
    }
}

#[test]
fn andrews_watch_shows_new_web_pods_but_never_nginx_ones() {
    let _state = kac_e2e::demo::exclusive();
    let demo = demo();
    let andrew = demo.kubectl("andrew", "dev");
    let admin = demo.kubectl("admin", "dev");
    let watcher = andrew.command(&[
        "get",
        "pods",
        "-n",
        "default",
        "-w",
        "--output-watch-events",
    ]);
    let handle = std::thread::spawn(move || {
        kac_e2e::run_with_timeout(watcher, None, Duration::from_secs(8)).unwrap()
    });
    std::thread::sleep(Duration::from_secs(2));
    let dir = tempfile::tempdir().unwrap();
    for name in ["web-watch", "nginx-watch"] {
        let pod = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &pod,
            format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  containers:\n  - name: main\n    image: busybox\n"),
        )
        .unwrap();
        admin
            .run(&["create", "-f", pod.to_str().unwrap()])
            .unwrap()
            .ok()
            .unwrap();
    }
    for name in ["web-watch", "nginx-watch"] {
        admin
            .run(&["delete", "pod", name, "-n", "default", "--wait=false"])
            .unwrap()
            .ok()
            .unwrap();
    }
    let out = handle.join().unwrap();
    assert!(
        out.stdout.contains("web-watch"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("DELETED"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("nginx"),
        "watch leaked a hidden pod: {}",
        out.stdout
    );
}

#[test]
fn python_client_lists_and_watches_through_the_proxy() {
    let _state = kac_e2e::demo::exclusive();
    let demo = demo();
    // Through the proxy, the Python client's watch=True is a watch, and its
    // all-namespace list is filtered like kubectl's.
    let k = demo.kubectl("david", "dev");
    let kubeconfig = demo.dir().join("david-dev.kubeconfig");
    drop(k);
    let out = kac_e2e::python(
        "proxy_list_watch.py",
        &[kubeconfig.to_str().unwrap(), "david"],
        Duration::from_secs(60),
    )
    .unwrap();
    let stdout = out.ok().unwrap();
    let v: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", out.stderr));
    let pods: Vec<&str> = v["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(pods, ["david/david-1", "david/david-2", "david/david-3"]);
    let events = v["events"].as_array().unwrap();
    assert!(
        events.contains(&serde_json::json!(["ADDED", "py-proxy-pod"])),
        "{events:?}"
    );
    assert_eq!(
        events.last().unwrap(),
        &serde_json::json!(["DELETED", "py-proxy-pod"])
    );
}
