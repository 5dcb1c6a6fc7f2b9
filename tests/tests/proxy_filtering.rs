//! Response filtering end to end (issue #5): real kubectl through kac-proxy
//! to kac-sim (`kac demo`) shows only what the policies allow in `get all`,
//! label- and field-selected lists, CRD lists, and watches, including a
//! watch whose object a policy reload hides while it runs; the audit trail
//! counts what was hidden.
//!
//! Besides the sample policies, the tests write policy files into the
//! demo's policy directory; the proxy polls it every second and the tests
//! wait until a change shows before going on. One demo serves every test
//! here; each test uses its own policy file and objects.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kac_e2e::{Demo, Kubectl};

/// Sam (read-only in namespace sam on dev) may also read objects of every
/// kind named web-* or backup* in namespace default on dev.
const SAM_DEFAULT: &str = "apiVersion: kac.dev/v1alpha1
kind: Policy
metadata: {name: e2e-sam-default}
spec:
  assignTo: {users: [sam]}
  resources: {clusters: [dev]}
  subjects: {groups: [\"kac:viewers\"]}
  actions:
  - name: web-and-backup
    effect: allow
    resources: [\"*\"]
    namespaces: [default]
    names: [\"web-*\", \"backup*\"]
    verbs: [get, list, watch]
";

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let demo = Demo::start().expect("kac demo starts");
        let admin = demo.kubectl("admin", "dev");
        apply(
            &admin,
            "apiVersion: v1\nkind: Service\nmetadata: {name: web-svc, namespace: default, labels: {app: web}}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, protocol: TCP}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web-deploy, namespace: default, labels: {app: web}}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: main, image: busybox}]}\n---\napiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: nightly, namespace: default}\nspec: {cronSpec: \"0 0 * * *\", image: busybox, replicas: 1}\n---\napiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: backup-db, namespace: default}\nspec: {cronSpec: \"0 1 * * *\", image: busybox, replicas: 1}\n",
        );
        write_policy(&demo, "e2e-sam-default.yaml", SAM_DEFAULT);
        let sam = demo.kubectl("sam", "dev");
        wait_for("sam's extra policy to load", || {
            sam.run(&["get", "pods", "-n", "default", "-o", "name"])
                .is_ok_and(|o| o.success() && o.stdout.contains("pod/web-1"))
        });
        demo
    })
}

fn apply(k: &Kubectl, manifest: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("objects.yaml");
    std::fs::write(&path, manifest).unwrap();
    run_ok(k, &["apply", "-f", path.to_str().unwrap()]);
}

/// Runs kubectl and insists that it succeeds.
fn run_ok(k: &Kubectl, args: &[&str]) -> String {
    k.run(args).unwrap().ok().unwrap().to_string()
}

/// The sorted non-empty lines kubectl prints (for `-o name`); it must succeed.
fn lines_of(k: &Kubectl, args: &[&str]) -> Vec<String> {
    sorted_lines(&run_ok(k, args))
}

/// `kubectl ARGS` (a `get -w`) in the background for `secs` seconds.
fn watch_for(k: &Kubectl, args: &[&str], secs: u64) -> std::thread::JoinHandle<kac_e2e::Output> {
    let cmd = k.command(args);
    std::thread::spawn(move || {
        kac_e2e::run_with_timeout(cmd, None, Duration::from_secs(secs)).unwrap()
    })
}

fn policy_path(demo: &Demo, file: &str) -> PathBuf {
    demo.dir().join("proxy/policies").join(file)
}

/// Writes a policy file (atomically, so the proxy never reads half of it).
fn write_policy(demo: &Demo, file: &str, text: &str) {
    let path = policy_path(demo, file);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

/// Polls `cond` for up to 30 s (a policy reload takes about a second).
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn sorted_lines(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

#[test]
fn get_all_shows_only_allowed_objects_of_every_kind() {
    let _state = kac_e2e::demo::exclusive();
    let demo = demo();
    // Sam may list every kind in default, and sees only web-* / backup*.
    let out = demo
        .kubectl("sam", "dev")
        .run(&["get", "all", "-n", "default", "-o", "name"])
        .unwrap();
    assert_eq!(
        sorted_lines(out.ok().unwrap()),
        [
            "crontab.stable.example.com/backup",
            "crontab.stable.example.com/backup-db",
            "deployment.apps/web-deploy",
            "pod/web-1",
            "service/web-svc",
        ]
    );
    // The default Table output too: rows of every kind, nothing hidden.
    let out = demo
        .kubectl("sam", "dev")
        .run(&["get", "all", "-n", "default"])
        .unwrap();
    let text = out.ok().unwrap();
    for shown in ["pod/web-1", "service/web-svc", "deployment.apps/web-deploy"] {
        assert!(text.contains(shown), "{shown} missing: {text}");
    }
    assert!(
        !text.contains("nginx") && !text.contains("nightly"),
        "{text}"
    );

    // Andrew may list only pods in default: kubectl prints the pods he may
    // see, one Forbidden error per other kind of the "all" category, and
    // exits 1, as it does against a real API server with partial RBAC.
    // (On prod: the watch test below adds pods to default on dev.)
    let out = demo
        .kubectl("andrew", "prod")
        .run(&["get", "all", "-n", "default", "-o", "name"])
        .unwrap();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(sorted_lines(&out.stdout), ["pod/web-1"], "{}", out.stderr);
    for (resource, group) in [
        ("services", ""),
        ("deployments", "apps"),
        ("crontabs", "stable.example.com"),
    ] {
        let line = format!(
            "Error from server (Forbidden): {resource} is forbidden: User \"andrew\" cannot list resource \"{resource}\" in API group \"{group}\" in the namespace \"default\" on cluster \"prod\""
        );
        assert!(out.stderr.contains(&line), "{line}\n--\n{}", out.stderr);
    }
    assert!(
        !out.stderr.contains("nginx") && !out.stdout.contains("nginx"),
        "{out:?}"
    );
}

#[test]
fn label_and_field_selected_lists_are_filtered() {
    let _state = kac_e2e::demo::exclusive();
    let demo = demo();
    // On prod: the watch test below adds pods to default on dev.
    let andrew = demo.kubectl("andrew", "prod");
    // Only hidden objects match: an empty list, not an error.
    let out = andrew
        .run(&["get", "pods", "-n", "default", "-l", "app=nginx"])
        .unwrap();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .contains("No resources found in default namespace."),
        "{}",
        out.stderr
    );
    for selector in ["app=web", "app in (web,nginx)", "app!=nope"] {
        assert_eq!(
            lines_of(
                &andrew,
                &["get", "pods", "-n", "default", "-l", selector, "-o", "name"]
            ),
            ["pod/web-1"],
            "{selector}"
        );
    }
    // Across namespaces, for david: a label picks among his visible pods.
    let david = demo.kubectl("david", "prod");
    assert_eq!(
        lines_of(
            &david,
            &["get", "pods", "-A", "-l", "app=david-db", "-o", "name"]
        ),
        ["pod/david-3"]
    );
    assert_eq!(
        lines_of(
            &david,
            &[
                "get",
                "pods",
                "-A",
                "-l",
                "kac.dev/cluster=prod",
                "-o",
                "name",
            ]
        ),
        ["pod/david-1", "pod/david-2", "pod/david-3"]
    );

    // A metadata.name field selector names the object, as kube-apiserver's
    // request attribution does: on a hidden object the list is Forbidden
    // (naming the policy and rule), on a visible one it shows just that.
    let out = andrew
        .run(&[
            "get",
            "pods",
            "-n",
            "default",
            "--field-selector",
            "metadata.name=nginx-1",
        ])
        .unwrap();
    assert!(!out.success());
    assert!(
        out.stderr
            .contains("Error from server (Forbidden): pods \"nginx-1\" is forbidden")
            && out.stderr.contains("except-nginx"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("nginx"), "{}", out.stdout);
    assert_eq!(
        lines_of(
            &andrew,
            &[
                "get",
                "pods",
                "-n",
                "default",
                "--field-selector",
                "metadata.name=web-1",
                "-o",
                "name",
            ]
        ),
        ["pod/web-1"]
    );
    // Any other field selector is a plain list, filtered.
    assert_eq!(
        lines_of(
            &andrew,
            &[
                "get",
                "pods",
                "-n",
                "default",
                "--field-selector",
                "metadata.namespace=default",
                "-o",
                "name",
            ]
        ),
        ["pod/web-1"]
    );
}

#[test]
fn crd_lists_are_filtered_by_name_pattern() {
    let _state = kac_e2e::demo::exclusive();
    let demo = demo();
    let sam = demo.kubectl("sam", "dev");
    let visible = [
        "crontab.stable.example.com/backup",
        "crontab.stable.example.com/backup-db",
    ];
    for args in [
        &["get", "crontabs", "-n", "default", "-o", "name"][..],
        &["get", "crontabs.stable.example.com", "-A", "-o", "name"],
        &[
            "get",
            "ct",
            "-n",
            "default",
            "-o",
            "name",
            "--chunk-size",
            "1",
        ],
    ] {
        let out = sam.run(args).unwrap();
        assert_eq!(sorted_lines(out.ok().unwrap()), visible, "{args:?}");
    }
    // Table (server-side, includeObject) and JSON forms.
    let out = sam.run(&["get", "crontabs", "-A"]).unwrap();
    let table = out.ok().unwrap();
    assert!(table.starts_with("NAMESPACE"), "{table}");
    assert!(
        table.contains("backup-db") && !table.contains("nightly"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 3, "{table}");
    let out = sam
        .run(&["get", "crontabs", "-n", "default", "-o", "json"])
        .unwrap();
    let list: serde_json::Value = serde_json::from_str(out.ok().unwrap()).unwrap();
    let mut names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["backup", "backup-db"]);
    // The admin sees the hidden one, so it is really there.
    let out = demo
        .kubectl("admin", "dev")
        .run(&["get", "crontabs", "-n", "default", "-o", "name"])
        .unwrap();
    assert!(out
        .ok()
        .unwrap()
        .contains("crontab.stable.example.com/nightly"));
    // A get on the hidden CRD object is Forbidden, not NotFound.
    let out = sam
        .run(&["get", "crontab", "nightly", "-n", "default"])
        .unwrap();
    assert!(
        out.stderr.contains("Error from server (Forbidden)"),
        "{}",
        out.stderr
    );
}

/// Lines of `kubectl get -w --output-watch-events` output about `name`:
/// (event type, name).
fn watch_lines<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    out.lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(name))
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect()
}

#[test]
fn a_watched_pod_hidden_by_a_policy_reload_is_deleted_and_then_silent() {
    let _state = kac_e2e::demo::exclusive();
    let demo = demo();
    let admin = demo.kubectl("admin", "dev");
    let david = demo.kubectl("david", "dev");
    let policy = |names: &str| {
        format!(
            "apiVersion: kac.dev/v1alpha1\nkind: Policy\nmetadata: {{name: e2e-watch}}\nspec:\n  assignTo: {{users: [david]}}\n  resources: {{clusters: [dev]}}\n  subjects: {{groups: [\"kac:editors\"]}}\n  actions:\n  - {{effect: allow, resources: [pods], namespaces: [default], names: [{names}], verbs: [get, list, watch]}}\n"
        )
    };
    write_policy(demo, "e2e-watch.yaml", &policy("\"watched-*\""));
    for name in ["watched-a", "watched-b"] {
        run_ok(&admin, &["run", name, "-n", "default", "--image=busybox"]);
    }
    let list = || {
        david
            .run(&["get", "pods", "-n", "default", "-o", "name"])
            .map(|o| o.stdout)
            .unwrap_or_default()
    };
    wait_for("david to see watched-a and watched-b", || {
        let l = list();
        l.contains("pod/watched-a") && l.contains("pod/watched-b")
    });

    let handle = watch_for(
        &david,
        &[
            "get",
            "pods",
            "-n",
            "default",
            "-w",
            "--output-watch-events",
        ],
        25,
    );
    std::thread::sleep(Duration::from_secs(2));
    // The reload hides watched-b (names are all policies select on, so a
    // reload is how a watched object becomes hidden).
    write_policy(demo, "e2e-watch.yaml", &policy("watched-a"));
    wait_for("the reload to hide watched-b", || {
        let l = list();
        l.contains("pod/watched-a") && !l.contains("watched-b")
    });
    // Relabel both: watched-a's update shows; watched-b's is replaced by one
    // DELETED, and its later updates and its deletion never show.
    for (name, label) in [("watched-b", "step=1"), ("watched-a", "step=1")] {
        run_ok(&admin, &["label", "pod", name, "-n", "default", label]);
    }
    for (name, label) in [("watched-b", "step=2"), ("watched-a", "step=2")] {
        run_ok(
            &admin,
            &["label", "pod", name, "-n", "default", label, "--overwrite"],
        );
    }
    run_ok(
        &admin,
        &[
            "delete",
            "pod",
            "watched-b",
            "-n",
            "default",
            "--wait=false",
        ],
    );
    // The last event the watch should show.
    run_ok(
        &admin,
        &[
            "delete",
            "pod",
            "watched-a",
            "-n",
            "default",
            "--wait=false",
        ],
    );
    // A filtered watch goes on after a reload: kubectl runs until killed.
    let out = handle.join().unwrap();
    assert_eq!(out.code, None, "{out:?}");
    let a = watch_lines(&out.stdout, "watched-a");
    let b = watch_lines(&out.stdout, "watched-b");
    assert!(
        a.first() == Some(&"ADDED")
            && a.iter().filter(|t| **t == "MODIFIED").count() >= 2
            && a.last() == Some(&"DELETED"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(b, ["ADDED", "DELETED"], "{}\n{}", out.stdout, out.stderr);
    std::fs::remove_file(policy_path(demo, "e2e-watch.yaml")).unwrap();
}

#[test]
fn filtered_lists_and_watches_count_hidden_items_in_their_audit_events() {
    let _state = kac_e2e::demo::exclusive();
    let demo = demo();
    let andrew = demo.kubectl("andrew", "prod");
    let admin = demo.kubectl("admin", "prod");
    // A list hides nginx-1 and nginx-2.
    run_ok(&andrew, &["get", "pods", "-n", "default", "-o", "name"]);
    // A watch hides the events about a new nginx pod.
    let handle = watch_for(
        &andrew,
        &["get", "pods", "-n", "default", "-w", "-o", "name"],
        8,
    );
    std::thread::sleep(Duration::from_secs(2));
    run_ok(
        &admin,
        &["run", "nginx-audited", "-n", "default", "--image=nginx"],
    );
    run_ok(
        &admin,
        &[
            "delete",
            "pod",
            "nginx-audited",
            "-n",
            "default",
            "--wait=false",
        ],
    );
    let out = handle.join().unwrap();
    assert!(!out.stdout.contains("nginx"), "{}", out.stdout);

    // The watch's event is written when its stream ends (kubectl was
    // stopped by the timeout above).
    let events = |verb: &str| -> Vec<serde_json::Value> {
        let out = demo
            .kac_audit(&[
                "search",
                "user=andrew",
                "cluster=prod",
                &format!("verb={verb}"),
                "--format",
                "json",
                "--limit",
                "100",
            ])
            .unwrap();
        out.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let mut found = (Vec::new(), Vec::new());
    wait_for("the list and watch audit events", || {
        found = (events("list"), events("watch"));
        !found.0.is_empty() && !found.1.is_empty()
    });
    let (lists, watches) = found;
    let list = lists
        .iter()
        .find(|e| {
            e["request_uri"]
                .as_str()
                .unwrap_or("")
                .starts_with("/api/v1/namespaces/default/pods")
        })
        .expect("the list's event");
    assert_eq!(list["filtered_items"], 2, "{list}");
    // ADDED and DELETED at least (kac-sim may add MODIFIED for its status).
    let watch = &watches[0];
    assert!(
        watch["filtered_items"].as_u64().unwrap_or(0) >= 2,
        "{watch}"
    );
}

#[test]
fn an_unfiltered_watch_ends_when_a_reload_no_longer_allows_it_whole() {
    let _state = kac_e2e::demo::exclusive();
    let demo = demo();
    let admin = demo.kubectl("admin", "dev");
    let sam = demo.kubectl("sam", "dev");
    // Sam may read all of namespace sam: his watch there is not filtered
    // (passed on undecoded).
    let handle = watch_for(
        &sam,
        &["get", "pods", "-n", "sam", "-w", "--output-watch-events"],
        25,
    );
    std::thread::sleep(Duration::from_secs(2));
    write_policy(
        demo,
        "e2e-sam-deny.yaml",
        "apiVersion: kac.dev/v1alpha1\nkind: Policy\nmetadata: {name: e2e-sam-deny}\nspec:\n  assignTo: {users: [sam]}\n  resources: {clusters: [dev]}\n  subjects: {}\n  actions:\n  - {effect: deny, resources: [pods], namespaces: [sam], names: [\"sam-hidden*\"], verbs: [\"*\"]}\n",
    );
    wait_for("the deny to load", || {
        sam.run(&["get", "pod", "sam-hidden-1", "-n", "sam"])
            .is_ok_and(|o| o.stderr.contains("e2e-sam-deny"))
    });
    run_ok(
        &admin,
        &["run", "sam-hidden-1", "-n", "sam", "--image=busybox"],
    );
    let out = handle.join().unwrap();
    // The proxy ended the watch at the first event after the reload, so
    // kubectl exited by itself (code 0) instead of being killed at the
    // timeout, and never printed the now-denied pod.
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("sam-1"), "{}", out.stdout);
    assert!(!out.stdout.contains("sam-hidden"), "{}", out.stdout);
    run_ok(
        &admin,
        &["delete", "pod", "sam-hidden-1", "-n", "sam", "--wait=false"],
    );
    std::fs::remove_file(policy_path(demo, "e2e-sam-deny.yaml")).unwrap();
}

#[test]
fn a_python_watch_gets_deleted_for_a_pod_a_reload_hides() {
    let _state = kac_e2e::demo::exclusive();
    let demo = demo();
    let admin = demo.kubectl("admin", "prod");
    let david = demo.kubectl("david", "prod");
    let policy = |names: &str| {
        format!(
            "apiVersion: kac.dev/v1alpha1\nkind: Policy\nmetadata: {{name: e2e-py-watch}}\nspec:\n  assignTo: {{users: [david]}}\n  resources: {{clusters: [prod]}}\n  subjects: {{groups: [\"kac:editors\"]}}\n  actions:\n  - {{effect: allow, resources: [pods], namespaces: [default], names: [{names}], verbs: [get, list, watch]}}\n"
        )
    };
    write_policy(demo, "e2e-py-watch.yaml", &policy("\"py-watched-*\""));
    for name in ["py-watched-a", "py-watched-b"] {
        run_ok(&admin, &["run", name, "-n", "default", "--image=busybox"]);
    }
    let visible = || lines_of(&david, &["get", "pods", "-n", "default", "-o", "name"]);
    wait_for("david to see both py-watched pods", || {
        visible() == ["pod/py-watched-a", "pod/py-watched-b"]
    });
    // The Python client lists, then watches from the list's version.
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let kubeconfig = demo.dir().join("david-prod.kubeconfig");
    let args: Vec<String> = vec![
        kubeconfig.to_str().unwrap().into(),
        "default".into(),
        ready.to_str().unwrap().into(),
        "15".into(),
    ];
    let handle = std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kac_e2e::python("proxy_watch_hidden.py", &args, Duration::from_secs(60)).unwrap()
    });
    wait_for("the Python watch to open", || ready.exists());
    write_policy(demo, "e2e-py-watch.yaml", &policy("py-watched-a"));
    wait_for("the reload to hide py-watched-b", || {
        visible() == ["pod/py-watched-a"]
    });
    for name in ["py-watched-b", "py-watched-a"] {
        run_ok(&admin, &["label", "pod", name, "-n", "default", "step=1"]);
    }
    let out = handle.join().unwrap();
    let stdout = out.ok().unwrap();
    let v: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", out.stderr));
    assert_eq!(
        v["listed"],
        serde_json::json!(["py-watched-a", "py-watched-b"])
    );
    let events = v["events"].as_array().unwrap();
    let of = |name: &str| -> Vec<&str> {
        events
            .iter()
            .filter(|e| e[1] == name)
            .map(|e| e[0].as_str().unwrap())
            .collect()
    };
    assert_eq!(of("py-watched-b"), ["DELETED"], "{events:?}");
    assert!(of("py-watched-a").contains(&"MODIFIED"), "{events:?}");
    for name in ["py-watched-a", "py-watched-b"] {
        run_ok(
            &admin,
            &["delete", "pod", name, "-n", "default", "--wait=false"],
        );
    }
    std::fs::remove_file(policy_path(demo, "e2e-py-watch.yaml")).unwrap();
}
