use super::*;

#[test]
fn human_durations_match_upstream() {
    for (secs, want) in [
        (-5, "<invalid>"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (47 * 3600, "47h"),
        (50 * 3600, "2d2h"),
        (10 * 86400, "10d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
    ] {
        assert_eq!(human_duration(secs), want, "{secs}");
    }
}

#[test]
fn pod_row_and_columns() {
    let now = Utc::now();
    let created = (now - chrono::Duration::minutes(5)).to_rfc3339();
    let pod = json!({
        "metadata": {"name": "p", "creationTimestamp": created},
        "spec": {"nodeName": "node-1", "containers": [{"name": "main"}, {"name": "side"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.1", "containerStatuses": [
            {"name": "main", "ready": true, "restartCount": 2},
            {"name": "side", "ready": false, "restartCount": 1}
        ]}
    });
    let c = cells("Pod", &pod, now);
    assert_eq!(
        c,
        vec![
            json!("p"),
            json!("1/2"),
            json!("Running"),
            json!("3"),
            json!("5m"),
            json!("10.0.0.1"),
            json!("node-1"),
            json!("<none>"),
            json!("<none>")
        ]
    );
    let cols = columns("Pod");
    assert_eq!(cols.len(), c.len());
    let wide: Vec<&str> = cols
        .iter()
        .filter(|c| c["priority"] == 1)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        wide,
        vec!["IP", "Node", "Nominated Node", "Readiness Gates"]
    );
}

#[test]
fn every_kind_has_matching_cell_count() {
    let obj = json!({"metadata": {"name": "x"}});
    for kind in [
        "Pod",
        "Namespace",
        "Service",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Event",
        "CustomResourceDefinition",
        "CronTab",
    ] {
        assert_eq!(
            columns(kind).len(),
            cells(kind, &obj, Utc::now()).len(),
            "{kind}"
        );
    }
}

#[test]
fn table_include_object_modes() {
    let o = json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
    let t = table(
        "ConfigMap",
        &[&o],
        IncludeObject::Metadata,
        json!({"resourceVersion": "5"}),
        true,
    );
    assert_eq!(t["rows"][0]["cells"][1], 2);
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    let t = table("ConfigMap", &[&o], IncludeObject::None, json!({}), false);
    assert!(t["rows"][0].get("object").is_none());
    assert!(t["columnDefinitions"].is_null());
    let t = table("ConfigMap", &[&o], IncludeObject::Object, json!({}), true);
    assert_eq!(t["rows"][0]["object"]["data"]["b"], "2");
    assert!(IncludeObject::parse(Some("Bogus")).is_err());
}

#[test]
fn service_ports_and_selector() {
    let svc = json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort", "clusterIP": "10.96.0.10",
        "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
        "selector": {"app": "web"}}});
    let c = cells("Service", &svc, Utc::now());
    assert_eq!(c[4], "80:30080/TCP,53/UDP");
    assert_eq!(c[6], "app=web");
    assert_eq!(c[3], "<none>");
}
