use super::*;

fn found(name: &str, server: &str, tags: &[(&str, &str)]) -> DiscoveredCluster {
    DiscoveredCluster {
        name: name.into(),
        server: server.into(),
        ca_pem: format!("CA of {name}").into_bytes(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        id: format!("arn:{name}"),
    }
}

fn manual(name: &str) -> ClusterFileEntry {
    ClusterFileEntry {
        name: name.into(),
        server: "https://manual:6443".into(),
        ca_file: Some("manual/ca.crt".into()),
        token_file: Some("manual/token".into()),
        client_cert_file: None,
        client_key_file: None,
        tags: Default::default(),
        managed_by: None,
    }
}

fn creds() -> SyncCredentials {
    SyncCredentials {
        token_file: Some("/etc/kac/cloud.token".into()),
        ..Default::default()
    }
}

#[test]
fn sync_adds_updates_removes_its_own_and_never_touches_others() {
    let mut file = ClustersFile {
        clusters: vec![manual("hand"), manual("shop")],
    };
    let extra = BTreeMap::from([("cloud".to_string(), "eks".to_string())]);
    let first = [
        found("a", "https://a", &[("ClusterType", "dev")]),
        found("b", "https://b", &[]),
        found("shop", "https://shop", &[]),
    ];
    let (r, files, stale) = merge(&mut file, "fake:acct", &first, &creds(), &extra);
    assert_eq!(r.added, ["a", "b"]);
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    assert!(r.conflicts[0].starts_with("shop: "), "{r:?}");
    assert!(stale.is_empty());
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].path, Path::new("clusters/a/ca.crt"));
    let a = file.clusters.iter().find(|e| e.name == "a").unwrap();
    assert_eq!(a.managed_by.as_deref(), Some("fake:acct"));
    assert_eq!(a.tags["ClusterType"], "dev");
    assert_eq!(a.tags["cloud"], "eks");
    assert_eq!(
        a.token_file.as_deref(),
        Some(Path::new("/etc/kac/cloud.token"))
    );
    // The manual "shop" entry is intact.
    assert_eq!(file.clusters[1], manual("shop"));

    // Second sync: a retagged, b gone, c new; a different provider's
    // entries and manual ones survive.
    file.clusters.push(ClusterFileEntry {
        managed_by: Some("fake:other".into()),
        ..manual("z")
    });
    let second = [
        found("a", "https://a", &[("ClusterType", "prod")]),
        found("c", "https://c", &[]),
    ];
    let (r, _, stale) = merge(&mut file, "fake:acct", &second, &creds(), &extra);
    assert_eq!(r.updated, ["a"]);
    assert_eq!(r.added, ["c"]);
    assert_eq!(r.removed, ["b"]);
    assert_eq!(stale, [PathBuf::from("clusters/b/ca.crt")]);
    let names: Vec<&str> = file.clusters.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["hand", "shop", "a", "z", "c"]);

    // Same input again: nothing changes.
    let (r, _, _) = merge(&mut file, "fake:acct", &second, &creds(), &extra);
    assert_eq!(r.unchanged, ["a", "c"]);
    assert!(r.added.is_empty() && r.updated.is_empty() && r.removed.is_empty());

    // An empty list removes all of this provider's clusters, nothing else.
    let (r, _, _) = merge(&mut file, "fake:acct", &[], &creds(), &extra);
    assert_eq!(r.removed, ["a", "c"]);
    assert_eq!(file.clusters.len(), 3);
}

#[test]
fn the_fake_provider_reads_eks_describe_cluster_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("eks.json");
    let ca = base64::engine::general_purpose::STANDARD.encode("PEM");
    std::fs::write(
        &p,
        format!(
            r#"{{"clusters": [
  {{"name": "shop", "arn": "arn:aws:eks:eu-west-1:1:cluster/shop", "status": "ACTIVE",
    "endpoint": "https://ABC.eks.amazonaws.com", "certificateAuthority": {{"data": "{ca}"}},
    "tags": {{"ClusterType": "prod"}}, "version": "1.32"}},
  {{"name": "new", "status": "CREATING"}}
]}}"#
        ),
    )
    .unwrap();
    let fake = FakeProvider {
        source: p.clone(),
        id: "fake".into(),
    };
    let list = fake.list().unwrap();
    assert_eq!(list.len(), 1, "CREATING clusters are skipped");
    assert_eq!(list[0].server, "https://ABC.eks.amazonaws.com");
    assert_eq!(list[0].ca_pem, b"PEM");
    assert_eq!(list[0].tags["ClusterType"], "prod");
    // A broken source fails as a whole (never a partial list).
    std::fs::write(&p, r#"{"clusters": [{"name": "x", "status": "ACTIVE"}]}"#).unwrap();
    let e = fake.list().unwrap_err();
    assert!(format!("{e:#}").contains("no endpoint"), "{e:#}");
}
