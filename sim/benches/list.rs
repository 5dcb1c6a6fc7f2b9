//! Cost of serving a 10,000-pod list: store scan + JSON serialization (what
//! `GET /api/v1/pods` does), the server-side Table, and a selector-filtered scan.
//! Baseline in the same run: `serde_json::to_vec` of the same pods as one array.

use criterion::{criterion_group, criterion_main, Criterion};
use kac_sim::resources::lookup;
use kac_sim::selector::LabelSelector;
use kac_sim::store::Store;
use kac_sim::table::{table, IncludeObject};
use serde_json::{json, Value};

fn store_with(n: usize) -> Store {
    let store = Store::new(10_000);
    kac_sim::seed::load_pods(&store, n, "bench").expect("seeding pods");
    store
}

fn bench(c: &mut Criterion) {
    let pods = lookup("", "v1", "pods").unwrap();
    let store = store_with(10_000);
    let all: Vec<Value> = store
        .list(pods, None, None, 0, &|_| true)
        .items
        .iter()
        .map(|a| (**a).clone())
        .collect();
    let mut g = c.benchmark_group("list_10k_pods");
    g.sample_size(10);
    g.bench_function("baseline_serde_to_vec", |b| {
        b.iter(|| serde_json::to_vec(&all).unwrap().len())
    });
    g.bench_function("store_list_and_serialize", |b| {
        b.iter(|| {
            let page = store.list(pods, None, None, 0, &|_| true);
            let mut out = Vec::with_capacity(page.items.len() * 1024);
            for item in &page.items {
                serde_json::to_writer(&mut out, item.as_ref()).unwrap();
            }
            out.len()
        })
    });
    let sel = LabelSelector::parse("shard in (1,2)").unwrap();
    g.bench_function("store_list_label_selector", |b| {
        b.iter(|| {
            store
                .list(pods, None, None, 0, &|o| sel.matches_object(o))
                .items
                .len()
        })
    });
    g.bench_function("table_metadata", |b| {
        b.iter(|| {
            let page = store.list(pods, None, None, 0, &|_| true);
            let objs: Vec<&Value> = page.items.iter().map(|a| a.as_ref()).collect();
            table("Pod", &objs, IncludeObject::Metadata, json!({}), true)
                .to_string()
                .len()
        })
    });
    g.bench_function("paged_500", |b| {
        b.iter(|| {
            let mut after = None;
            let mut n = 0;
            loop {
                let page = store.list(pods, None, after.as_ref(), 500, &|_| true);
                n += page.items.len();
                match page.next {
                    Some(k) => after = Some(k),
                    None => break,
                }
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
