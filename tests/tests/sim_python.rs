//! The Python `kubernetes` client against kac-sim: list (plain and paged) and watch.

use std::time::Duration;

use kac_e2e::{python, Sim};
use serde_json::{json, Value};

#[test]
fn python_client_lists_and_watches_pods() {
    let sim = Sim::start("dev").unwrap();
    let kubeconfig = sim.admin_kubeconfig();
    let out = python(
        "sim_list_watch.py",
        &[kubeconfig.to_str().unwrap()],
        Duration::from_secs(60),
    )
    .unwrap();
    let stdout = out.ok().unwrap();
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", out.stderr));
    let pods: Vec<&str> = v["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(pods.len(), 9);
    assert!(pods.contains(&"david/david-1") && pods.contains(&"kube-system/coredns-1"));
    assert_eq!(v["paged"], 9);
    let events = v["events"].as_array().unwrap();
    assert_eq!(
        events[0],
        json!(["ADDED", "sam-1"]),
        "initial state as ADDED: {events:?}"
    );
    assert!(events.contains(&json!(["ADDED", "py-pod"])), "{events:?}");
    assert_eq!(events.last().unwrap(), &json!(["DELETED", "py-pod"]));
    // The Python client sends `watch=True`; the sim must have attributed it as a watch.
    let watches = sim
        .requests()
        .unwrap()
        .into_iter()
        .filter(|r| r["verb"] == "watch" && r["namespace"] == "sam")
        .count();
    assert!(watches >= 1);
}

#[test]
fn python_client_watch_expiry_bookmarks_and_tables() {
    let sim = Sim::start_with("dev", &["--watch-history", "2"]).unwrap();
    let kubeconfig = sim.admin_kubeconfig();
    let out = python(
        "sim_watch_edges.py",
        &[kubeconfig.to_str().unwrap()],
        Duration::from_secs(60),
    )
    .unwrap();
    let stdout = out.ok().unwrap();
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", out.stderr));
    assert_eq!(
        v["expired"], 410,
        "a too-old resourceVersion is a 410 ERROR event"
    );
    assert_eq!(v["bookmarks"], 1);
    assert_eq!(v["table_rows"], 3);
    assert_eq!(
        v["columns"],
        json!([
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ])
    );
}
