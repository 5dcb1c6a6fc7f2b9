//! Real kubectl 1.32 against kac-sim: the outputs must look like a real cluster's.

use std::time::Duration;

use kac_e2e::{Kubectl, Sim};
use serde_json::Value;

fn admin(sim: &Sim) -> Kubectl {
    Kubectl::new(&sim.admin_kubeconfig())
}

#[test]
fn get_pods_all_namespaces_table() {
    let sim = Sim::start("dev").unwrap();
    let out = admin(&sim).run(&["get", "pods", "-A"]).unwrap();
    let text = out.ok().unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    let names: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(
        names,
        [
            ("andrew", "andrew-1"),
            ("david", "david-1"),
            ("david", "david-2"),
            ("david", "david-3"),
            ("default", "nginx-1"),
            ("default", "nginx-2"),
            ("default", "web-1"),
            ("kube-system", "coredns-1"),
            ("sam", "sam-1"),
        ]
    );
    for r in &rows {
        assert_eq!(&r[2..5], ["1/1", "Running", "0"], "{r:?}");
    }
}

#[test]
fn wide_json_name_and_sort_by() {
    let sim = Sim::start("prod").unwrap();
    let k = admin(&sim);
    let wide = k
        .run(&["get", "pods", "-n", "david", "-o", "wide"])
        .unwrap();
    let header: Vec<String> = wide
        .ok()
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().to_string())
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ]
    );
    let json = k
        .run(&["get", "pod", "david-1", "-n", "david", "-o", "json"])
        .unwrap();
    let pod: Value = serde_json::from_str(json.ok().unwrap()).unwrap();
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["labels"]["kac.dev/cluster"], "prod");
    assert_eq!(pod["spec"]["containers"][0]["name"], "main");
    assert_eq!(pod["status"]["phase"], "Running");
    let names = k
        .run(&["get", "pods", "-n", "default", "-o", "name"])
        .unwrap();
    assert_eq!(names.ok().unwrap(), "pod/nginx-1\npod/nginx-2\npod/web-1\n");
    let sorted = k
        .run(&[
            "get",
            "pods",
            "-A",
            "--sort-by=.metadata.name",
            "-o",
            "custom-columns=N:.metadata.name",
            "--no-headers",
        ])
        .unwrap();
    let got: Vec<&str> = sorted.ok().unwrap().lines().collect();
    let mut want = got.clone();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(got.len(), 9);
}

#[test]
fn selectors_chunking_all_and_crd() {
    let sim = Sim::start("dev").unwrap();
    let k = admin(&sim);
    let out = k
        .run(&[
            "get",
            "pods",
            "-A",
            "-l",
            "app in (nginx,web)",
            "-o",
            "name",
        ])
        .unwrap();
    assert_eq!(out.ok().unwrap(), "pod/nginx-1\npod/nginx-2\npod/web-1\n");
    let out = k
        .run(&[
            "get",
            "pods",
            "-n",
            "david",
            "-l",
            "app!=david",
            "-o",
            "name",
        ])
        .unwrap();
    assert_eq!(out.ok().unwrap(), "pod/david-3\n");
    let out = k
        .run(&[
            "get",
            "pods",
            "-A",
            "--field-selector",
            "metadata.namespace=sam",
            "-o",
            "name",
        ])
        .unwrap();
    assert_eq!(out.ok().unwrap(), "pod/sam-1\n");
    let chunked = k
        .run(&["get", "pods", "-A", "--chunk-size=2", "-o", "name"])
        .unwrap();
    assert_eq!(chunked.ok().unwrap().lines().count(), 9);
    let lists: Vec<Value> = sim
        .requests()
        .unwrap()
        .into_iter()
        .filter(|r| {
            r["verb"] == "list"
                && r["resource"] == "pods"
                && r["query"].as_str().unwrap_or("").contains("limit=2")
        })
        .collect();
    assert_eq!(lists.len(), 5, "9 pods in pages of 2");
    let all = k.run(&["get", "all", "-n", "default"]).unwrap();
    let text = all.ok().unwrap();
    for want in [
        "pod/nginx-1",
        "service/nginx",
        "deployment.apps/nginx",
        "crontab.stable.example.com/backup",
    ] {
        assert!(text.contains(want), "{want} missing in:\n{text}");
    }
    let crd = k.run(&["get", "crd"]).unwrap();
    assert!(crd.ok().unwrap().contains("crontabs.stable.example.com"));
    let ct = k.run(&["get", "ct", "-n", "default"]).unwrap();
    let header: Vec<&str> = ct
        .ok()
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "AGE"]);
}

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: e2e-pod
  namespace: david
  labels: {app: e2e}
spec:
  containers:
  - name: main
    image: IMAGE
";

#[test]
fn create_strict_apply_delete() {
    let sim = Sim::start("dev").unwrap();
    let k = admin(&sim);
    let bad = POD.replace("image: IMAGE", "image: busybox\n    foo: bar");
    let out = k.run_stdin(&["create", "-f", "-"], &bad).unwrap();
    assert!(!out.success());
    assert!(
        out.stderr
            .contains("strict decoding error: unknown field \"spec.containers[0].foo\""),
        "{}",
        out.stderr
    );
    let out = k
        .run_stdin(&["create", "-f", "-"], &POD.replace("IMAGE", "busybox"))
        .unwrap();
    assert_eq!(out.ok().unwrap().trim(), "pod/e2e-pod created");
    let again = k
        .run_stdin(&["create", "-f", "-"], &POD.replace("IMAGE", "busybox"))
        .unwrap();
    assert!(
        again.stderr.contains("(AlreadyExists)")
            && again.stderr.contains("pods \"e2e-pod\" already exists"),
        "{}",
        again.stderr
    );
    // apply: the first apply on an object without the annotation patches it in.
    let out = k
        .run_stdin(&["apply", "-f", "-"], &POD.replace("IMAGE", "busybox"))
        .unwrap();
    assert_eq!(out.ok().unwrap().trim(), "pod/e2e-pod configured");
    let out = k
        .run_stdin(&["apply", "-f", "-"], &POD.replace("IMAGE", "busybox:1.36"))
        .unwrap();
    assert_eq!(out.ok().unwrap().trim(), "pod/e2e-pod configured");
    let patches: Vec<Value> = sim
        .requests()
        .unwrap()
        .into_iter()
        .filter(|r| r["method"] == "PATCH" && r["name"] == "e2e-pod")
        .collect();
    assert_eq!(patches.len(), 2);
    let img = k
        .run(&[
            "get",
            "pod",
            "e2e-pod",
            "-n",
            "david",
            "-o",
            "jsonpath={.spec.containers[*].image}",
        ])
        .unwrap();
    assert_eq!(
        img.ok().unwrap(),
        "busybox:1.36",
        "strategic merge kept one container, updated"
    );
    let out = k.run(&["delete", "pod", "e2e-pod", "-n", "david"]).unwrap();
    assert_eq!(out.ok().unwrap().trim(), "pod \"e2e-pod\" deleted");
    let gone = k.run(&["get", "pod", "e2e-pod", "-n", "david"]).unwrap();
    assert!(
        gone.stderr
            .contains("Error from server (NotFound): pods \"e2e-pod\" not found"),
        "{}",
        gone.stderr
    );
    let dry = k
        .run(&[
            "delete",
            "pod",
            "david-1",
            "-n",
            "david",
            "--dry-run=server",
        ])
        .unwrap();
    assert!(dry.success(), "{dry:?}");
    assert!(k
        .run(&["get", "pod", "david-1", "-n", "david"])
        .unwrap()
        .success());
    let bad_name =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name, namespace: david}\n";
    let invalid = k.run_stdin(&["create", "-f", "-"], bad_name).unwrap();
    assert!(invalid.stderr.contains("The ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"), "{}", invalid.stderr);
}

#[test]
fn watch_sees_added_and_deleted() {
    let sim = Sim::start("dev").unwrap();
    let k = admin(&sim);
    let watcher = Kubectl::new(&sim.admin_kubeconfig());
    let handle = std::thread::spawn(move || {
        watcher
            .run_for(
                &["get", "pods", "-n", "sam", "-w", "--output-watch-events"],
                Duration::from_secs(8),
            )
            .unwrap()
    });
    // Wait until the watch request is registered in the request log.
    let deadline = std::time::Instant::now() + Duration::from_secs(6);
    while !sim
        .requests()
        .unwrap()
        .iter()
        .any(|r| r["verb"] == "watch" && r["namespace"] == "sam")
    {
        assert!(std::time::Instant::now() < deadline, "watch never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    k.run(&["run", "w1", "-n", "sam", "--image=busybox"])
        .unwrap()
        .ok()
        .unwrap();
    k.run(&["delete", "pod", "w1", "-n", "sam"])
        .unwrap()
        .ok()
        .unwrap();
    let out = handle.join().unwrap();
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{}",
        out.stdout
    );
    assert!(
        lines.iter().any(|l| l[0] == "ADDED" && l[1] == "sam-1"),
        "{}",
        out.stdout
    );
    assert!(
        lines.iter().any(|l| l[0] == "ADDED" && l[1] == "w1"),
        "{}",
        out.stdout
    );
    assert!(
        lines.iter().any(|l| l[0] == "DELETED" && l[1] == "w1"),
        "{}",
        out.stdout
    );
}

#[test]
fn authentication_and_rbac() {
    let sim = Sim::start("dev").unwrap();
    let anon = Kubectl::new(&sim.kubeconfig_with("anon", None).unwrap());
    // Without credentials kubectl wants to prompt for a password (stdin is closed).
    assert!(!anon.run(&["get", "pods"]).unwrap().success());
    // A bare request without credentials gets the 401 Status.
    let script = format!(
        "import ssl,urllib.request,urllib.error\nctx=ssl.create_default_context(cafile='{}')\ntry:\n  urllib.request.urlopen('{}/api/v1/pods', context=ctx)\nexcept urllib.error.HTTPError as e:\n  print(e.code, e.read().decode())\n",
        sim.ca_file.display(),
        sim.url
    );
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", &script]);
    let out = kac_e2e::run_with_timeout(cmd, None, Duration::from_secs(30)).unwrap();
    let (code, body) = out.stdout.split_once(' ').expect("an HTTP error");
    assert_eq!(code, "401");
    let status: Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(status["reason"], "Unauthorized");
    assert_eq!(status["kind"], "Status");
    let unauth = sim
        .requests()
        .unwrap()
        .into_iter()
        .find(|r| r["code"] == 401)
        .expect("a 401 in the request log");
    assert_eq!(unauth["hadAuthorization"], false);
    let bad = Kubectl::new(&sim.kubeconfig_with("bad", Some("not-a-token")).unwrap());
    let out = bad.run(&["get", "--raw", "/api/v1/pods"]).unwrap();
    assert!(out.stderr.contains("Unauthorized"), "{}", out.stderr);
    let nobody = Kubectl::new(
        &sim.kubeconfig_with("nobody", Some(&sim.user_token("nobody").unwrap()))
            .unwrap(),
    );
    let out = nobody.run(&["get", "pods", "-n", "david"]).unwrap();
    assert!(
        out.stderr.contains("Error from server (Forbidden): pods is forbidden: User \"nobody\" cannot list resource \"pods\" in API group \"\" in the namespace \"david\""),
        "{}",
        out.stderr
    );
    let viewer = Kubectl::new(
        &sim.kubeconfig_with("viewer", Some(&sim.user_token("viewer").unwrap()))
            .unwrap(),
    );
    assert!(viewer.run(&["get", "pods", "-A"]).unwrap().success());
    let out = viewer
        .run(&["delete", "pod", "david-1", "-n", "david"])
        .unwrap();
    assert!(
        out.stderr.contains(
            "pods \"david-1\" is forbidden: User \"viewer\" cannot delete resource \"pods\""
        ),
        "{}",
        out.stderr
    );
    let out = viewer.run(&["get", "secrets", "-n", "david"]).unwrap();
    assert!(out.stderr.contains("(Forbidden)"), "{}", out.stderr);
    let codes: Vec<u64> = sim
        .requests()
        .unwrap()
        .iter()
        .filter_map(|r| r["code"].as_u64())
        .collect();
    assert!(codes.contains(&401) && codes.contains(&403));
}

#[test]
fn impersonation_only_for_the_proxy_identity() {
    let sim = Sim::start("dev").unwrap();
    let proxy = Kubectl::new(
        &sim.kubeconfig_with("proxy", Some(&sim.proxy_token))
            .unwrap(),
    );
    // kac-proxy itself may do nothing but impersonate.
    let out = proxy.run(&["get", "pods", "-n", "david"]).unwrap();
    assert!(
        out.stderr
            .contains("User \"kac-proxy\" cannot list resource \"pods\""),
        "{}",
        out.stderr
    );
    let out = proxy
        .run(&[
            "get",
            "pods",
            "-n",
            "david",
            "--as",
            "david",
            "--as-group",
            "kac:editors",
            "-o",
            "name",
        ])
        .unwrap();
    assert_eq!(out.ok().unwrap(), "pod/david-1\npod/david-2\npod/david-3\n");
    let out = proxy
        .run(&["get", "pods", "-n", "david", "--as", "david"])
        .unwrap();
    assert!(
        out.stderr
            .contains("User \"david\" cannot list resource \"pods\""),
        "RBAC uses the impersonated user: {}",
        out.stderr
    );
    let editor = Kubectl::new(
        &sim.kubeconfig_with("editor", Some(&sim.user_token("editor").unwrap()))
            .unwrap(),
    );
    let out = editor
        .run(&[
            "get",
            "--raw",
            "/api/v1/namespaces/david/pods",
            "--as",
            "admin",
        ])
        .unwrap();
    assert!(
        out.stderr.contains("users \"admin\" is forbidden: User \"editor\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"),
        "{}",
        out.stderr
    );
    let reqs = sim.requests().unwrap();
    let imp = reqs
        .iter()
        .find(|r| r["impersonated"] == true && r["code"] == 200 && r["resource"] == "pods")
        .expect("an impersonated pods request");
    assert_eq!(imp["authenticatedUser"], "kac-proxy");
    assert_eq!(imp["user"], "david");
    assert_eq!(imp["groups"], serde_json::json!(["kac:editors"]));
    let fp = imp["authorizationHeader"].as_str().unwrap();
    assert!(fp.starts_with("Bearer sha256:") && !fp.contains(&sim.proxy_token));
}

#[test]
fn generators_can_i_and_whoami() {
    let sim = Sim::start("dev").unwrap();
    let k = admin(&sim);
    // kubectl's generators post protobuf bodies.
    assert_eq!(
        k.run(&["create", "namespace", "team"])
            .unwrap()
            .ok()
            .unwrap()
            .trim(),
        "namespace/team created"
    );
    k.run(&[
        "create",
        "configmap",
        "cm1",
        "-n",
        "team",
        "--from-literal=a=b",
    ])
    .unwrap()
    .ok()
    .unwrap();
    let data = k
        .run(&["get", "cm", "cm1", "-n", "team", "-o", "jsonpath={.data.a}"])
        .unwrap();
    assert_eq!(data.ok().unwrap(), "b");
    let proxy = Kubectl::new(
        &sim.kubeconfig_with("proxy", Some(&sim.proxy_token))
            .unwrap(),
    );
    let who = proxy
        .run(&[
            "auth",
            "whoami",
            "--as",
            "david",
            "--as-group",
            "kac:viewers",
        ])
        .unwrap();
    let text = who.ok().unwrap();
    assert!(
        text.contains("david") && text.contains("[kac:viewers]"),
        "{text}"
    );
    let can = proxy
        .run(&[
            "auth",
            "can-i",
            "delete",
            "pods",
            "-n",
            "david",
            "--as",
            "david",
            "--as-group",
            "kac:viewers",
        ])
        .unwrap();
    assert_eq!(can.stdout.trim(), "no");
    let can = proxy
        .run(&[
            "auth",
            "can-i",
            "list",
            "pods",
            "-n",
            "david",
            "--as",
            "david",
            "--as-group",
            "kac:viewers",
        ])
        .unwrap();
    assert_eq!(can.stdout.trim(), "yes");
    // Deleting a namespace removes what is in it.
    k.run(&["delete", "namespace", "team"])
        .unwrap()
        .ok()
        .unwrap();
    let left = k.run(&["get", "cm", "-n", "team", "-o", "name"]).unwrap();
    assert_eq!(left.ok().unwrap(), "");
}

#[test]
fn client_certificates_authenticate() {
    let sim = Sim::start("dev").unwrap();
    let k = Kubectl::new(
        &sim.kubeconfig_with_cert("alice", "alice", &["kac:viewers"])
            .unwrap(),
    );
    let who = k.run(&["auth", "whoami"]).unwrap();
    let text = who.ok().unwrap();
    assert!(
        text.contains("alice")
            && text.contains("kac:viewers")
            && text.contains("system:authenticated"),
        "{text}"
    );
    assert!(k.run(&["get", "pods", "-n", "david"]).unwrap().success());
    let out = k.run(&["delete", "pod", "david-1", "-n", "david"]).unwrap();
    assert!(
        out.stderr
            .contains("User \"alice\" cannot delete resource \"pods\""),
        "{}",
        out.stderr
    );
    let rec = sim
        .requests()
        .unwrap()
        .into_iter()
        .find(|r| r["authenticatedUser"] == "alice")
        .expect("alice in the request log");
    assert_eq!(rec["authMethod"], "x509");
    assert_eq!(rec["hadAuthorization"], false);
}
