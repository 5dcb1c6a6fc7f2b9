//! kac-filter benchmarks: a 10,000-pod list (JSON and Table form) against
//! the floor (serde_json parse + re-serialize of the same body, measured in
//! the same run), peak memory of streaming vs the DOM floor, and watch
//! events per second.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use kac_filter::{filter_list, ListContext, ListStream, ObjectRef, WatchFilter};
use serde_json::{json, Value};

/// Counts live and peak heap bytes, to report peak memory.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn pod(i: usize) -> Value {
    let name = format!("web-{i:05}-7d9f8c6b5-x2x{}", i % 7);
    json!({
        "metadata": {"name": name, "namespace": format!("team-{}", i % 20),
            "uid": format!("5b0e7f7a-0d2c-4c1e-9a51-{i:012}"), "resourceVersion": format!("{}", 1000 + i),
            "creationTimestamp": "2026-11-28T10:00:00Z", "generateName": "web-7d9f8c6b5-",
            "labels": {"app": "web", "pod-template-hash": "7d9f8c6b5", "tier": "frontend"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-28T09:59:00Z"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8c6b5",
                "uid": "0c6f4d8e-1111-2222-3333-444455556666", "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"containers": [{"name": "app", "image": "registry.example.com/web:1.27.3",
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "MODE", "value": "production"}, {"name": "LOG_LEVEL", "value": "info"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
            "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"}],
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
            "nodeName": format!("node-{}", i % 50), "schedulerName": "default-scheduler",
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]},
        "status": {"phase": "Running", "podIP": format!("10.0.{}.{}", i / 250, i % 250), "hostIP": "192.168.1.10",
            "startTime": "2026-11-28T10:00:01Z", "qosClass": "Burstable",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-28T10:00:05Z"},
                           {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-28T10:00:00Z"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "registry.example.com/web:1.27.3",
                "imageID": "registry.example.com/web@sha256:0123456789abcdef", "containerID": "containerd://abcdef0123456789",
                "state": {"running": {"startedAt": "2026-11-28T10:00:04Z"}}}]}
    })
}

fn list_body(n: usize) -> Vec<u8> {
    let items: Vec<Value> = (0..n).map(pod).collect();
    serde_json::to_vec(&json!({"kind": "PodList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "99999", "continue": "", "remainingItemCount": 0}, "items": items}))
    .unwrap()
}

fn table_body(n: usize) -> Vec<u8> {
    let rows: Vec<Value> = (0..n)
        .map(|i| {
            let p = pod(i);
            json!({"cells": [p["metadata"]["name"], "1/1", "Running", 0, "17h"],
                   "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": p["metadata"]}})
        })
        .collect();
    serde_json::to_vec(&json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "99999"},
        "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}],
        "rows": rows}))
    .unwrap()
}

/// Half the namespaces are visible.
fn half(o: &ObjectRef<'_>) -> bool {
    o.namespace.is_some_and(|ns| ns.len() % 2 == 0)
}

fn floor(body: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(body).unwrap();
    serde_json::to_vec(&v).unwrap()
}

fn peak_during(f: impl FnOnce()) -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed) - base
}

fn report_memory(list: &[u8], table: &[u8]) {
    for (what, body) in [("list", list), ("table", table)] {
        let stream = peak_during(|| {
            let mut s = ListStream::new(ListContext::new("", "pods"), half);
            let mut sent = 0;
            for chunk in body.chunks(16 * 1024) {
                sent += black_box(s.feed(chunk).unwrap()).len();
            }
            sent += s.finish().unwrap().0.len();
            black_box(sent);
        });
        let dom = peak_during(|| {
            black_box(floor(body));
        });
        println!(
            "peak heap, 10,000-pod {what} ({:.1} MiB body): streaming filter (16 KiB chunks) {:.1} KiB, serde_json DOM floor {:.1} MiB",
            body.len() as f64 / 1048576.0,
            stream as f64 / 1024.0,
            dom as f64 / 1048576.0
        );
    }
}

fn watch_stream(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let ty = if i % 3 == 0 { "ADDED" } else { "MODIFIED" };
        serde_json::to_writer(&mut out, &json!({"type": ty, "object": pod(i % 500)})).unwrap();
        out.push(b'\n');
    }
    out
}

fn bench(c: &mut Criterion) {
    let list = list_body(10_000);
    let table = table_body(10_000);
    report_memory(&list, &table);
    let ctx = ListContext::new("", "pods");

    let mut g = c.benchmark_group("list_10k");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(list.len() as u64));
    g.bench_function("json/filter_half_visible", |b| {
        b.iter(|| filter_list(&list, &ctx, half).unwrap())
    });
    g.bench_function("json/filter_all_visible", |b| {
        b.iter(|| filter_list(&list, &ctx, |_| true).unwrap())
    });
    g.bench_function("json/floor_parse_reserialize", |b| b.iter(|| floor(&list)));
    g.throughput(Throughput::Bytes(table.len() as u64));
    g.bench_function("table/filter_half_visible", |b| {
        b.iter(|| filter_list(&table, &ctx, half).unwrap())
    });
    g.bench_function("table/floor_parse_reserialize", |b| {
        b.iter(|| floor(&table))
    });
    g.finish();

    let events = 10_000;
    let stream = watch_stream(events);
    let mut g = c.benchmark_group("watch");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events as u64));
    g.bench_function("events_half_visible_64k_chunks", |b| {
        b.iter(|| {
            let mut w = WatchFilter::new(ListContext::new("", "pods"), half);
            let mut n = 0;
            for chunk in stream.chunks(64 * 1024) {
                n += w.feed(chunk).unwrap().len();
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
