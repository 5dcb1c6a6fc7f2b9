//! The in-memory object store: one ordered map per resource type, a global
//! resourceVersion counter, and a bounded event history that backs watches.
//!
//! Objects are kept as `Arc<serde_json::Value>` so lists and watch fan-out share
//! them without copying. Keys are `(namespace, name)` and iterate in the same order as
//! etcd keys (`/registry/pods/NS/NAME`), so lists come out sorted like the apiserver's.
//! Every write happens under one mutex that also publishes the event, so a watcher that
//! subscribes under the same lock sees a gap-free sequence.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::api::{ApiError, ApiResult};
use crate::resources::{ResourceType, RESOURCES};

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub type Key = (String, String);

/// The kind of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    /// Index into [`RESOURCES`].
    pub resource: usize,
    pub namespace: String,
    pub object: Arc<Value>,
    /// The object before a modification (selectors need it to turn a
    /// "stops matching" change into DELETED for that watcher).
    pub prev: Option<Arc<Value>>,
}

/// What a mutation closure decides.
pub enum Mutation {
    /// Store this object (create or replace).
    Put(Value),
    /// Remove the object.
    Delete,
}

struct Inner {
    rv: u64,
    objects: Vec<BTreeMap<Key, Arc<Value>>>,
    history: VecDeque<Arc<Event>>,
    /// Events with rv <= compacted are gone from the history.
    compacted: u64,
}

/// The store. Cheap to share behind an `Arc`.
pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
    history_cap: usize,
}

/// The starting point of a watch.
pub struct WatchStart {
    /// Events to send before live ones (replayed history or synthetic ADDED).
    pub backlog: Vec<Arc<Event>>,
    pub rx: broadcast::Receiver<Arc<Event>>,
}

/// One page of a list.
pub struct Page {
    pub items: Vec<Arc<Value>>,
    pub rv: u64,
    /// The key of the last returned item when more matching items follow.
    pub next: Option<Key>,
    pub remaining: usize,
}

pub fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

impl Store {
    /// A store keeping at most `history_cap` events for watch replay.
    pub fn new(history_cap: usize) -> Store {
        let (tx, _) = broadcast::channel(65536);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: RESOURCES.iter().map(|_| BTreeMap::new()).collect(),
                history: VecDeque::new(),
                compacted: 0,
            }),
            tx,
            history_cap,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// Inserts an object at startup without recording history (seeding).
    pub fn seed(&self, rt: &ResourceType, mut obj: Value) {
        let mut inner = self.lock();
        inner.rv += 1;
        let rv = inner.rv;
        set_rv(&mut obj, rv);
        let key = key_of(&obj);
        inner.objects[rt.index()].insert(key, Arc::new(obj));
        // No history is lost by seeding: a watch from any seeded object's RV is
        // valid (nothing happened after it yet), so `compacted` stays put.
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.lock().objects[rt.index()]
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Lists objects of a type (in one namespace, or all with `None`) after `after`,
    /// keeping those `filter` accepts, at most `limit` (0 = no limit).
    pub fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        after: Option<&Key>,
        limit: usize,
        filter: &dyn Fn(&Value) -> bool,
    ) -> Page {
        let inner = self.lock();
        let map = &inner.objects[rt.index()];
        let range: Box<dyn Iterator<Item = (&Key, &Arc<Value>)>> = match (after, ns) {
            (Some(k), _) => Box::new(map.range((
                std::ops::Bound::Excluded(k.clone()),
                std::ops::Bound::Unbounded,
            ))),
            (None, Some(ns)) => Box::new(map.range((ns.to_string(), String::new())..)),
            (None, None) => Box::new(map.iter()),
        };
        let mut items = Vec::new();
        let mut next = None;
        let mut remaining = 0;
        for (key, obj) in range {
            if let Some(ns) = ns {
                if key.0 != ns {
                    if key.0.as_str() > ns {
                        break;
                    }
                    continue;
                }
            }
            if !filter(obj) {
                continue;
            }
            if limit == 0 || items.len() < limit {
                items.push(obj.clone());
                if limit != 0 && items.len() == limit {
                    next = Some(key.clone());
                }
            } else {
                remaining += 1;
            }
        }
        if remaining == 0 {
            next = None;
        }
        Page {
            items,
            rv: inner.rv,
            next,
            remaining,
        }
    }

    /// Atomically reads, decides and writes one object. The closure sees the current
    /// object (if any) and returns what to do; on success the new object (or, for a
    /// delete, the final state) is returned. With `dry_run` nothing is committed.
    pub fn mutate(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        dry_run: bool,
        f: impl FnOnce(Option<&Arc<Value>>) -> ApiResult<Mutation>,
    ) -> ApiResult<(Arc<Value>, EventType)> {
        let mut inner = self.lock();
        let key = (ns.to_string(), name.to_string());
        let current = inner.objects[rt.index()].get(&key).cloned();
        let mutation = f(current.as_ref())?;
        let next_rv = inner.rv + 1;
        let (obj, kind) = match mutation {
            Mutation::Put(mut obj) => {
                set_rv(&mut obj, next_rv);
                let kind = if current.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                (Arc::new(obj), kind)
            }
            Mutation::Delete => {
                let cur = current
                    .clone()
                    .ok_or_else(|| ApiError::not_found(&rt.group_resource(), name))?;
                let mut obj = (*cur).clone();
                set_rv(&mut obj, next_rv);
                (Arc::new(obj), EventType::Deleted)
            }
        };
        if dry_run {
            return Ok((obj, kind));
        }
        inner.rv = next_rv;
        if kind == EventType::Deleted {
            inner.objects[rt.index()].remove(&key);
        } else {
            inner.objects[rt.index()].insert(key, obj.clone());
        }
        let event = Arc::new(Event {
            rv: next_rv,
            kind,
            resource: rt.index(),
            namespace: ns.to_string(),
            object: obj.clone(),
            prev: current,
        });
        inner.history.push_back(event.clone());
        while inner.history.len() > self.history_cap {
            if let Some(old) = inner.history.pop_front() {
                inner.compacted = old.rv;
            }
        }
        // No receivers is fine.
        let _ = self.tx.send(event);
        Ok((obj, kind))
    }

    /// Starts a watch on one type. `from` = None or Some(0) means "current state as
    /// synthetic ADDED events, then live"; Some(rv) replays history after rv, or fails
    /// with 410 Expired when rv is older than the history window.
    pub fn watch(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        from: Option<u64>,
    ) -> ApiResult<WatchStart> {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let idx = rt.index();
        let backlog = match from {
            None | Some(0) => inner.objects[idx]
                .iter()
                .filter(|(k, _)| ns.is_none_or(|n| k.0 == n))
                .map(|(k, obj)| {
                    Arc::new(Event {
                        rv: inner.rv,
                        kind: EventType::Added,
                        resource: idx,
                        namespace: k.0.clone(),
                        object: obj.clone(),
                        prev: None,
                    })
                })
                .collect(),
            Some(rv) => {
                if rv < inner.compacted {
                    return Err(ApiError::expired(&format!(
                        "too old resource version: {} ({})",
                        rv,
                        inner.compacted + 1
                    )));
                }
                let start = inner.history.partition_point(|e| e.rv <= rv);
                inner
                    .history
                    .iter()
                    .skip(start)
                    .filter(|e| e.resource == idx && ns.is_none_or(|n| e.namespace == n))
                    .cloned()
                    .collect()
            }
        };
        Ok(WatchStart { backlog, rx })
    }

    /// Keys of every object of a type in a namespace (for namespace and collection deletes).
    pub fn keys(&self, rt: &ResourceType, ns: Option<&str>) -> Vec<Key> {
        let inner = self.lock();
        inner.objects[rt.index()]
            .keys()
            .filter(|k| ns.is_none_or(|n| k.0 == n))
            .cloned()
            .collect()
    }
}

/// `(metadata.namespace, metadata.name)` of an object.
pub fn key_of(obj: &Value) -> Key {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::lookup;
    use serde_json::json;

    fn pod(ns: &str, name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": ns, "name": name}})
    }

    #[test]
    fn list_pages_in_key_order() {
        let s = Store::new(100);
        let pods = lookup("", "v1", "pods").unwrap();
        for (ns, n) in [("b", "2"), ("a", "1"), ("b", "1"), ("c", "1")] {
            s.seed(pods, pod(ns, n));
        }
        let all = |_: &Value| true;
        let p = s.list(pods, None, None, 2, &all);
        let keys: Vec<Key> = p.items.iter().map(|o| key_of(o)).collect();
        assert_eq!(
            keys,
            vec![("a".into(), "1".into()), ("b".into(), "1".into())]
        );
        assert_eq!(p.remaining, 2);
        let p2 = s.list(pods, None, p.next.as_ref(), 2, &all);
        assert_eq!(p2.items.len(), 2);
        assert!(p2.next.is_none());
        assert_eq!(p2.remaining, 0);
        let only_b = s.list(pods, Some("b"), None, 0, &all);
        assert_eq!(only_b.items.len(), 2);
    }

    #[test]
    fn watch_replays_history_and_expires() {
        let s = Store::new(2);
        let pods = lookup("", "v1", "pods").unwrap();
        let rv0 = s.current_rv();
        for n in ["a", "b", "c"] {
            s.mutate(pods, "ns", n, false, |_| Ok(Mutation::Put(pod("ns", n))))
                .unwrap();
        }
        // History holds the last two events only: watching from rv0 is too old.
        let err = s.watch(pods, None, Some(rv0)).err().unwrap();
        assert_eq!(err.code, 410);
        assert!(err.message.starts_with("too old resource version"));
        let w = s.watch(pods, None, Some(rv0 + 1)).unwrap();
        assert_eq!(w.backlog.len(), 2);
        assert_eq!(key_of(&w.backlog[0].object).1, "b");
        // A fresh watch gets synthetic ADDED for all three.
        assert_eq!(s.watch(pods, None, None).unwrap().backlog.len(), 3);
    }

    #[test]
    fn dry_run_commits_nothing() {
        let s = Store::new(10);
        let pods = lookup("", "v1", "pods").unwrap();
        let rv = s.current_rv();
        s.mutate(pods, "ns", "x", true, |_| Ok(Mutation::Put(pod("ns", "x"))))
            .unwrap();
        assert!(s.get(pods, "ns", "x").is_none());
        assert_eq!(s.current_rv(), rv);
    }
}
