//! Decision and visibility benchmarks (targets from issue #4):
//! - a decision with 1,000 policies of 10 rules each: p99 <= 5 µs;
//! - a per-object visibility check: <= 200 ns.
//!
//! Run: `cargo bench -p kac-policy --bench decide`. Besides criterion's
//! medians, the binary prints p50/p99 of single decisions timed one by one
//! (criterion reports means and medians, not tails).

use criterion::{black_box, criterion_group, Criterion};
use kac_policy::*;
use std::collections::BTreeMap;
use std::time::Instant;

/// 1,000 policies × 10 rules. Policy i is assigned to user `user-{i%200}`
/// (5 per user), every 4th also to group `team-{i%20}`, and every 20th to
/// everyone behind a tag + attribute condition, so a typical user has ~15
/// applicable policies (150 rules), as in a large organisation.
fn big_set(everyone_all: bool) -> PolicySet {
    let mut docs = Vec::with_capacity(1000);
    for i in 0..1000 {
        let mut assign = format!("    users: [user-{}]\n", i % 200);
        if i % 4 == 0 {
            assign += &format!("    groups: [team-{}]\n", i % 20);
        }
        if everyone_all || i % 20 == 0 {
            assign += "    everyone: true\n";
        }
        let conditions = if !everyone_all && i % 20 == 0 {
            "  conditions:\n  - {clusterTag: ClusterType, equals: dev}\n  - {userAttribute: team, in: [platform, sre]}\n"
        } else {
            ""
        };
        let mut actions = String::new();
        for r in 0..10 {
            let effect = if r % 4 == 3 { "deny" } else { "allow" };
            let res = ["pods", "deployments.apps", "*", "configmaps", "secrets"][r % 5];
            let ns = match r % 3 {
                0 => format!("[ns-{i}-{r}]"),
                1 => format!("[\"team-{i}-*\"]"),
                _ => format!("[\"^app-{i}-[0-9]+$\"]"),
            };
            let names = if r % 2 == 0 {
                format!("    names: [\"web-{r}-*\"]\n")
            } else {
                String::new()
            };
            actions += &format!(
                "  - effect: {effect}\n    resources: [\"{res}\"]\n    namespaces: {ns}\n{names}    verbs: [get, list, watch, exec]\n"
            );
        }
        docs.push(format!(
            "apiVersion: kac.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: p{i:04}\nspec:\n  assignTo:\n{assign}  resources:\n    clusters: [\"*\"]\n{conditions}  subjects:\n    groups: [g{i}]\n  actions:\n{actions}"
        ));
    }
    let set =
        PolicySet::from_yaml_str("bench.yaml", &docs.join("---\n")).expect("bench set is valid");
    assert_eq!((set.len(), set.rule_count()), (1000, 10_000));
    set
}

fn user() -> UserContext {
    UserContext {
        name: "user-7".into(),
        groups: vec!["team-7".into(), "team-3".into()],
        attributes: BTreeMap::from([("team".into(), "platform".into())]),
    }
}

fn dev() -> ClusterContext {
    ClusterContext {
        name: "dev-1".into(),
        tags: BTreeMap::from([("ClusterType".into(), "dev".into())]),
    }
}

fn requests() -> Vec<(&'static str, RequestAttributes)> {
    vec![
        // Allowed by p0007 rule 1 (team-7-* namespaces).
        (
            "allow",
            parse_request("get deployments.apps/api -n team-7-x").unwrap(),
        ),
        // Matches nothing: every applicable rule is scanned, default deny.
        (
            "default-deny",
            parse_request("delete pods/web-1 -n elsewhere").unwrap(),
        ),
        // A list across namespaces: partial matches, filtered.
        ("list-all-ns", parse_request("list pods -A").unwrap()),
    ]
}

/// How a decision is computed: `decide` (rule index + applicable-policy
/// memo) or the linear baseline (`decide_reference`: applicable policies
/// found afresh, every applicable rule scanned, as before the index).
#[derive(Clone, Copy)]
enum Path {
    Indexed,
    Linear,
}

fn decide_by(
    path: Path,
    set: &PolicySet,
    u: &UserContext,
    c: &ClusterContext,
    req: &RequestAttributes,
) -> Decision {
    match path {
        Path::Indexed => set.decide(u, c, req),
        Path::Linear => set.decide_reference(u, c, req),
    }
}

fn percentiles(set: &PolicySet, req: &RequestAttributes, path: Path) -> (u128, u128, u128) {
    let (u, c) = (user(), dev());
    for _ in 0..10_000 {
        black_box(decide_by(path, set, &u, &c, req));
    }
    let mut ns: Vec<u128> = (0..200_000)
        .map(|_| {
            let t = Instant::now();
            black_box(decide_by(path, set, black_box(&u), &c, black_box(req)));
            t.elapsed().as_nanos()
        })
        .collect();
    ns.sort_unstable();
    (
        ns[ns.len() / 2],
        ns[ns.len() * 99 / 100],
        ns[ns.len() * 999 / 1000],
    )
}

fn tail_report() {
    let t = Instant::now();
    let typical = big_set(false);
    let load_ms = t.elapsed().as_millis();
    let worst = big_set(true);
    let empty = PolicySet::empty();
    println!("kac-policy decide: single-call latency (ns, Instant per call, includes ~20-40 ns timer overhead)");
    println!("  load+compile 1000 policies / 10000 rules: {load_ms} ms");
    for (label, req) in requests() {
        // Same decision on both paths, or the comparison is meaningless.
        for set in [&typical, &worst] {
            assert_eq!(
                set.decide(&user(), &dev(), &req),
                set.decide_reference(&user(), &dev(), &req)
            );
        }
        let rows = [
            ("baseline empty set  ", &empty, Path::Indexed),
            ("1000x10 typical      linear ", &typical, Path::Linear),
            ("1000x10 typical      indexed", &typical, Path::Indexed),
            ("1000x10 all-everyone linear ", &worst, Path::Linear),
            ("1000x10 all-everyone indexed", &worst, Path::Indexed),
        ];
        for (name, set, path) in rows {
            let (p50, p99, p999) = percentiles(set, &req, path);
            println!("  {name:<28} {label:<13} p50 {p50:>6}  p99 {p99:>6}  p99.9 {p999:>6}");
        }
    }
}

fn bench_decide(c: &mut Criterion) {
    let typical = big_set(false);
    let worst = big_set(true);
    let empty = PolicySet::empty();
    let (u, cl) = (user(), dev());
    let mut g = c.benchmark_group("decide");
    for (label, req) in requests() {
        g.bench_function(format!("baseline-empty-set/{label}"), |b| {
            b.iter(|| empty.decide(&u, &cl, black_box(&req)))
        });
        g.bench_function(format!("1000x10-typical/{label}"), |b| {
            b.iter(|| typical.decide(&u, &cl, black_box(&req)))
        });
        g.bench_function(format!("1000x10-typical-linear/{label}"), |b| {
            b.iter(|| typical.decide_reference(&u, &cl, black_box(&req)))
        });
        g.bench_function(format!("1000x10-all-everyone/{label}"), |b| {
            b.iter(|| worst.decide(&u, &cl, black_box(&req)))
        });
        g.bench_function(format!("1000x10-all-everyone-linear/{label}"), |b| {
            b.iter(|| worst.decide_reference(&u, &cl, black_box(&req)))
        });
    }
    g.finish();
}

fn bench_visible(c: &mut Criterion) {
    // The andrew sample shape (allow pods in default, deny nginx*) plus a
    // regex allow, listed across namespaces so every selector is tested.
    let text = "apiVersion: kac.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  assignTo: {users: [u]}\n  resources: {clusters: [\"*\"]}\n  subjects: {}\n  actions:\n  - {effect: allow, resources: [pods], namespaces: [default, \"team-*\"], verbs: [list]}\n  - {effect: allow, resources: [pods], names: [\"^david-[0-9]+$\"], verbs: [list]}\n  - {effect: deny, resources: [pods], names: [\"nginx*\", \"*-canary\"], verbs: [list]}\n";
    let set = PolicySet::from_yaml_str("v.yaml", text).unwrap();
    let u = UserContext {
        name: "u".into(),
        ..Default::default()
    };
    let filter = match set.list_scope(&u, &dev(), "list", "", "pods", None) {
        ListScope::Filter(f) => f,
        other => panic!("expected a filter, got {other:?}"),
    };
    let objects = [
        (Some("default"), "web-7d9f8c-abcde"),
        (Some("default"), "nginx-1"),
        (Some("kube-system"), "coredns-1"),
        (Some("other"), "david-42"),
        (Some("team-a"), "api-canary"),
    ];
    assert_eq!(
        objects
            .iter()
            .map(|(ns, n)| filter.visible(*ns, n))
            .collect::<Vec<_>>(),
        [true, false, false, true, false]
    );
    let mut g = c.benchmark_group("visible");
    g.bench_function("baseline-starts_with", |b| {
        b.iter(|| {
            objects
                .iter()
                .filter(|(_, n)| black_box(*n).starts_with("nginx"))
                .count()
        })
    });
    g.bench_function("5-objects", |b| {
        b.iter(|| {
            objects
                .iter()
                .filter(|(ns, n)| filter.visible(black_box(*ns), black_box(n)))
                .count()
        })
    });
    g.bench_function("list_scope-then-1-object", |b| {
        b.iter(
            || match set.list_scope(&u, &dev(), "list", "", "pods", Some("default")) {
                ListScope::Filter(f) => f.visible(Some("default"), black_box("web-1")),
                _ => true,
            },
        )
    });
    g.finish();
}

criterion_group!(benches, bench_decide, bench_visible);

fn main() {
    // Profiling aid: `KAC_POLICY_PROFILE=list-all-ns perf record … --bench`
    // times one request kind on the typical set and exits.
    if let Ok(which) = std::env::var("KAC_POLICY_PROFILE") {
        let set = big_set(false);
        for (label, req) in requests().into_iter().filter(|(l, _)| *l == which) {
            println!("{label}: {:?}", percentiles(&set, &req, Path::Indexed));
        }
        return;
    }
    // `cargo test --benches` runs this binary with --bench absent: keep it quick.
    if std::env::args().any(|a| a == "--bench") {
        tail_report();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
