//! Store benchmark on realistic generated API events (a recorded session
//! every ~500 events). Run: `taskset -c 0 cargo bench -p kac-store --bench
//! store_bench` (one core). `KAC_BENCH_EVENTS` sets the store size
//! (default 1,000,000). Prints a Markdown section for BENCHMARKS.md.
//! `KAC_BENCH_DIR=DIR` builds the big store in DIR and keeps it (a later run
//! with the same size reuses it: only search is measured again);
//! `KAC_BENCH_INGEST_ONLY=1` stops after the ingest rows;
//! `KAC_BENCH_STAGES=log,index` (any of `codec`, `log`, `index`) runs only
//! those ingest stages (for profiling and quicker A/B runs; skipped stages
//! print no row, or 0 in the full table); `KAC_BENCH_BACKLOG=N` sets
//! `index_backlog_events` of the ingest stores (0: the indexer always reads
//! blocks back from the log); `KAC_BENCH_JSONL=FILE` writes the sample as
//! JSON lines.

use std::io::Write;

// What kac-audit (reindex, forward) runs. kac-proxy, which embeds the
// store, uses glibc malloc since cadccce (idle-watch memory, issue #3), so
// the proxy's own ingest may be slower than these figures.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use kac_event::Event;
use kac_store::gen::Generator;
use kac_store::log::codec::{encode_block, encode_frame, RawEvent, ZERO_HASH};
use kac_store::{Field, Query, Store, StoreOptions};

mod common;
use common::cpu;

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_770_000_000, 0).unwrap()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    pct(&mut v, 0.5)
}

fn main() {
    let n: usize = std::env::var("KAC_BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let sample_n = 200_000.min(n);
    let mut g = Generator::new(1, start());
    let sample: Vec<Event> = g.mixed(sample_n, 500);

    // Baseline: JSON lines (serde_json) of the same events.
    let mut jsonl = Vec::new();
    let mut base_rates = Vec::new();
    for _ in 0..3 {
        jsonl.clear();
        let t = Instant::now();
        for e in &sample {
            serde_json::to_writer(&mut jsonl, e).unwrap();
            jsonl.push(b'\n');
        }
        base_rates.push(sample_n as f64 / t.elapsed().as_secs_f64());
    }
    if let Some(p) = std::env::var_os("KAC_BENCH_JSONL") {
        // The sample as JSON lines, for compression experiments outside.
        std::fs::write(p, &jsonl).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&jsonl).unwrap();
    let gz = gz.finish().unwrap();

    // Codec pipeline on this thread: records + zstd blocks + frames, in memory.
    let codec = |level: i32| -> (f64, f64, usize) {
        let mut rates = Vec::new();
        let mut cpu_rates = Vec::new();
        let mut log_bytes = 0;
        for _ in 0..3 {
            let (t, c) = (Instant::now(), cpu());
            let mut out = Vec::new();
            let mut prev = ZERO_HASH;
            let mut jsons: Vec<(Vec<u8>, i64)> = Vec::with_capacity(8192);
            let mut bytes = 0;
            let mut seq = 1;
            for (i, e) in sample.iter().enumerate() {
                // The store's record form (binary for API events).
                let mut j = Vec::new();
                kac_store::log::record::encode_record(e, &mut j).unwrap();
                bytes += j.len();
                jsons.push((j, e.time().timestamp_micros()));
                if jsons.len() == 8192 || bytes >= 1 << 20 || i + 1 == sample.len() {
                    let raw: Vec<RawEvent<'_>> = jsons
                        .iter()
                        .map(|(j, t)| RawEvent {
                            json: j,
                            time_us: *t,
                        })
                        .collect();
                    let p = encode_block(seq, &prev, &raw, level).unwrap();
                    prev = kac_store::log::codec::block_hash(&p);
                    seq += raw.len() as u64;
                    encode_frame(&p, &mut out);
                    jsons.clear();
                    bytes = 0;
                }
            }
            rates.push(sample_n as f64 / t.elapsed().as_secs_f64());
            cpu_rates.push(sample_n as f64 / (cpu() - c));
            log_bytes = out.len();
        }
        (median(rates), median(cpu_rates), log_bytes)
    };
    let stages = std::env::var("KAC_BENCH_STAGES").unwrap_or_else(|_| "codec,log,index".into());
    let stage = |s: &str| stages.split(',').any(|x| x.trim() == s);
    let skipped = (0.0, 0.0, 0);
    let codec = |l| if stage("codec") { codec(l) } else { skipped };
    // `KAC_BENCH_CODEC_LEVELS=1,2,3`: the zstd levels of the codec rows.
    let levels: Vec<i32> = std::env::var("KAC_BENCH_CODEC_LEVELS")
        .unwrap_or_else(|_| "1,3,6".into())
        .split(',')
        .map(|l| {
            l.trim()
                .parse()
                .expect("KAC_BENCH_CODEC_LEVELS: zstd levels")
        })
        .collect();
    let codecs: Vec<(i32, (f64, f64, usize))> = levels.iter().map(|&l| (l, codec(l))).collect();
    let codec_rows = || {
        // A stage left out of KAC_BENCH_STAGES prints no row (not a 0).
        for (l, c) in codecs.iter().filter(|_| stage("codec")) {
            let b = c.2 as f64 / sample_n as f64;
            println!(
                "| codec pipeline, zstd-{l}, 1 MiB blocks, 1 thread ({b:.1} B/event, {:.1}× smaller than JSON lines) | {:.0} events/s | {:.0} events/s |",
                jsonl.len() as f64 / c.2 as f64,
                c.0,
                c.1
            );
        }
    };

    // Through the Store (writer thread, fsync every 20 ms): wall-clock rate
    // and rate per CPU-second (all threads), i.e. what one core sustains.
    let ingest = |index: bool, events: &[Event]| -> (f64, f64) {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(
            dir.path(),
            StoreOptions {
                index,
                index_backlog_events: std::env::var("KAC_BENCH_BACKLOG")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(StoreOptions::default().index_backlog_events),
                ..Default::default()
            },
        )
        .unwrap();
        let w = st.writer();
        // Cloned before the clock starts: building the event is the
        // caller's cost (the proxy moves each event it built into
        // `append`), not the store's. `KAC_BENCH_CLONE_TIMED=1` times the
        // clones too, as runs before 2026-11-29 09:00 UTC did.
        let timed_clone = std::env::var_os("KAC_BENCH_CLONE_TIMED").is_some();
        let owned: Vec<Event> = if timed_clone {
            Vec::new()
        } else {
            events.to_vec()
        };
        let (t, c) = (Instant::now(), cpu());
        if timed_clone {
            for e in events {
                w.append(e.clone()).unwrap();
            }
        } else {
            for e in owned {
                w.append(e).unwrap();
            }
        }
        st.flush().unwrap();
        let r = (
            events.len() as f64 / t.elapsed().as_secs_f64(),
            events.len() as f64 / (cpu() - c),
        );
        st.close().unwrap();
        r
    };
    let stage_runs = |index: bool| -> Vec<(f64, f64)> {
        let on = stage(if index { "index" } else { "log" });
        (0..3)
            .map(|_| {
                if on {
                    ingest(index, &sample)
                } else {
                    (0.0, 0.0)
                }
            })
            .collect()
    };
    let runs: Vec<(f64, f64)> = stage_runs(false);
    let store_log = (
        median(runs.iter().map(|r| r.0).collect()),
        median(runs.iter().map(|r| r.1).collect()),
    );
    let runs: Vec<(f64, f64)> = stage_runs(true);
    let store_indexed = (
        median(runs.iter().map(|r| r.0).collect()),
        median(runs.iter().map(|r| r.1).collect()),
    );
    if std::env::var_os("KAC_BENCH_INGEST_ONLY").is_some() {
        println!(
            "| baseline: serde_json JSON lines only | {:.0} events/s | |",
            median(base_rates)
        );
        codec_rows();
        if stage("log") {
            println!(
                "| Store log only | {:.0} events/s | {:.0} events/s |",
                store_log.0, store_log.1
            );
        }
        if stage("index") {
            println!(
                "| Store + index | {:.0} events/s | {:.0} events/s |",
                store_indexed.0, store_indexed.1
            );
        }
        return;
    }

    // Build the big store for search latency (or reuse KAC_BENCH_DIR's).
    let tmp = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("KAC_BENCH_DIR").map(std::path::PathBuf::from);
    let path = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let built = keep.is_some() && path.join("index").exists();
    let st = if built {
        Store::open_read_only(&path).unwrap()
    } else {
        Store::open(&path, StoreOptions::default()).unwrap()
    };
    let t = Instant::now();
    if !built {
        let w = st.writer();
        let mut g = Generator::new(2, start());
        let mut left = n;
        while left > 0 {
            let k = left.min(100_000);
            for e in g.mixed(k, 500) {
                w.append(e).unwrap();
            }
            left -= k;
        }
        st.flush().unwrap();
    }
    let build = t.elapsed();
    let stats = st.stats().unwrap();
    assert!(
        stats.index_docs as f64 >= n as f64 * 0.95,
        "{} holds {} index docs, not ~{n}: use another KAC_BENCH_DIR",
        path.display(),
        stats.index_docs
    );
    let users: Vec<String> = (0..200)
        .map(|i| match i {
            0 => "david".to_string(),
            _ => {
                let first = ["alice", "bob", "carol", "erin", "frank"][i % 5];
                if i < 100 {
                    first.to_string()
                } else {
                    format!("{first}{}", i % 9 + 2)
                }
            }
        })
        .collect();
    let lat = |q: &dyn Fn(usize) -> Query| -> (f64, f64, usize) {
        let mut v = Vec::new();
        let mut hits = 0;
        for i in 0..300 {
            let q = q(i);
            let t = Instant::now();
            hits += st.search(&q, 20).unwrap().len();
            v.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        (pct(&mut v, 0.5), pct(&mut v, 0.99), hits / 300)
    };
    let user = lat(&|i| Query::default().with(Field::User, &users[i % users.len()]));
    let text = lat(&|i| Query {
        text: vec![["rm -rf", "cat /etc/passwd", "env", "curl"][i % 4].to_string()],
        ..Default::default()
    });
    let user_text = lat(&|i| {
        Query {
            text: vec!["rm -rf".to_string()],
            ..Default::default()
        }
        .with(Field::User, &users[i % 20])
    });
    // Baseline for search: a substring scan of the in-memory JSON lines.
    let t = Instant::now();
    let needle = b"\"name\":\"david\"";
    let c = jsonl.windows(needle.len()).filter(|w| w == needle).count();
    let scan_ms = t.elapsed().as_secs_f64() * 1000.0 * (n as f64 / sample_n as f64);

    let jb = jsonl.len() as f64 / sample_n as f64;
    let gb = gz.len() as f64 / sample_n as f64;
    let disk = stats.log_bytes as f64 / n as f64;
    let idx = stats.index_bytes as f64 / n as f64;
    println!(
        "### kac-store, {n} events ({} index docs)",
        stats.index_docs
    );
    println!();
    println!("| metric | wall clock | per CPU-second |");
    println!("|---|---|---|");
    println!(
        "| baseline: serde_json JSON lines only, 1 thread | {:.0} events/s | |",
        median(base_rates)
    );
    codec_rows();
    println!(
        "| Store append → durable, log only | {:.0} events/s | {:.0} events/s |",
        store_log.0, store_log.1
    );
    println!(
        "| Store append → durable + indexed | {:.0} events/s | {:.0} events/s |",
        store_indexed.0, store_indexed.1
    );
    println!();
    println!("| size | bytes/event | vs JSON lines |");
    println!("|---|---|---|");
    println!("| JSON lines | {jb:.0} | 1× |");
    println!("| gzip'd JSON lines | {gb:.1} | {:.1}× |", jb / gb);
    for (l, c) in &codecs {
        let b = c.2 as f64 / sample_n as f64;
        println!(
            "| log, zstd-{l} | {b:.1} | {:.1}× ({:.2}× smaller than gzip) |",
            jb / b,
            gb / b
        );
    }
    println!(
        "| log on disk at {n} events | {disk:.1} | {:.1}× |",
        jb / disk
    );
    println!("| index on disk at {n} events | {idx:.1} | |");
    println!();
    if built {
        println!("The {n}-event store was built by an earlier run (KAC_BENCH_DIR).");
    } else {
        println!(
            "Build of the {n}-event store (append + index + flush): {:.1} s.",
            build.as_secs_f64()
        );
    }
    println!();
    println!(
        "| search (limit 20, 300 queries, events read back from the log) | p50 | p99 | hits |"
    );
    println!("|---|---|---|---|");
    println!(
        "| `user=X` (200 users, Zipf-like) | {:.2} ms | {:.2} ms | {} |",
        user.0, user.1, user.2
    );
    println!("| free text (`\"rm -rf\"`, `\"cat /etc/passwd\"`, `env`, `curl`) | {:.2} ms | {:.2} ms | {} |", text.0, text.1, text.2);
    println!(
        "| `user=X \"rm -rf\"` | {:.2} ms | {:.2} ms | {} |",
        user_text.0, user_text.1, user_text.2
    );
    println!("| baseline: substring scan of JSON lines in RAM, extrapolated to {n} | {scan_ms:.0} ms | | {c} in sample |");
}
