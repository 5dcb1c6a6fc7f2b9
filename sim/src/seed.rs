//! Loading the sample cluster state (embedded `samples/sim/state.yaml`, or a seed
//! directory's `state.yaml`) and the `--pods N` scale objects.

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::objects;
use crate::resources::{by_kind, lookup};
use crate::store::Store;

/// The default sample state.
pub const DEFAULT_STATE: &str = include_str!("../../samples/sim/state.yaml");

/// Parses a multi-document YAML state file for `cluster`.
pub fn parse_state(yaml: &str, cluster: &str) -> Result<Vec<Value>> {
    let text = yaml.replace("{{CLUSTER}}", cluster);
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = Value::deserialize(doc).context("parsing seed state YAML")?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// Stores seed objects, aging them a little so `AGE` columns look like a cluster's.
pub fn load(store: &Store, docs: Vec<Value>) -> Result<()> {
    let base = chrono::Utc::now() - chrono::Duration::days(3);
    for (i, doc) in docs.into_iter().enumerate() {
        let av = doc["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        let rt = by_kind(&av, &kind)
            .ok_or_else(|| anyhow!("seed object of unserved type {av} {kind}"))?;
        let ns = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        let mut obj = objects::prepare_create(rt, doc, &ns, i as u64 + 2)
            .map_err(|e| anyhow!("seed object {kind}: {e}"))?;
        let ts = (base + chrono::Duration::minutes(i as i64))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        obj["metadata"]["creationTimestamp"] = json!(ts);
        store.seed(rt, obj);
    }
    Ok(())
}

/// Adds `n` pods named `load-N` spread over the user namespaces.
pub fn load_pods(store: &Store, n: usize, cluster: &str) -> Result<()> {
    let pods = lookup("", "v1", "pods").expect("pods are served");
    let namespaces = ["default", "david", "andrew", "sam"];
    let created = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    for i in 0..n {
        let ns = namespaces[i % namespaces.len()];
        let doc = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("load-{i:05}"), "namespace": ns,
                         "labels": {"app": "load", "shard": (i % 10).to_string(), "kac.dev/cluster": cluster}},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]},
        });
        let mut obj = objects::prepare_create(pods, doc, ns, 1000 + i as u64)
            .map_err(|e| anyhow!("load pod {i}: {e}"))?;
        obj["metadata"]["creationTimestamp"] = json!(created);
        store.seed(pods, obj);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_state_loads() {
        let docs = parse_state(DEFAULT_STATE, "dev").unwrap();
        let store = Store::new(10);
        load(&store, docs).unwrap();
        let pods = lookup("", "v1", "pods").unwrap();
        let p = store.get(pods, "david", "david-1").unwrap();
        assert_eq!(p["metadata"]["labels"]["kac.dev/cluster"], "dev");
        assert_eq!(p["status"]["phase"], "Running");
        let all = store.list(pods, None, None, 0, &|_| true);
        assert_eq!(all.items.len(), 9);
        let ct = lookup("stable.example.com", "v1", "crontabs").unwrap();
        assert!(store.get(ct, "default", "backup").is_some());
        load_pods(&store, 100, "dev").unwrap();
        assert_eq!(
            store
                .list(pods, Some("sam"), None, 0, &|_| true)
                .items
                .len(),
            26
        );
    }

    #[test]
    fn unknown_kinds_are_rejected() {
        let docs = parse_state("apiVersion: v9\nkind: Nope\nmetadata: {name: x}\n", "dev").unwrap();
        assert!(load(&Store::new(1), docs).is_err());
    }
}
