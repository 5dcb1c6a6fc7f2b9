//! Attribution cost of typical kubectl requests (target: sub-microsecond).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::Method;

fn bench(c: &mut Criterion) {
    let cases: [(&str, Method, &str, Option<&str>); 4] = [
        ("get_pod", Method::GET, "/api/v1/namespaces/default/pods/web-7d9f8", None),
        (
            "list_table",
            Method::GET,
            "/apis/apps/v1/namespaces/kube-system/deployments",
            Some("limit=500"),
        ),
        (
            "watch_by_name",
            Method::GET,
            "/api/v1/namespaces/default/pods",
            Some("fieldSelector=metadata.name%3Dweb-7d9f8&resourceVersion=123&watch=true"),
        ),
        (
            "exec",
            Method::GET,
            "/api/v1/namespaces/default/pods/web-7d9f8/exec",
            Some("command=sh&command=-c&command=echo+hi&container=app&stdin=true&stdout=true&tty=true"),
        ),
    ];
    for (name, method, path, query) in cases {
        c.bench_function(&format!("attribute/{name}"), |b| {
            b.iter(|| kac_request::attribute(black_box(&method), black_box(path), black_box(query)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
