//! Store benchmark on realistic generated API events (a recorded session
//! every ~500 events). Run: `taskset -c 0 cargo bench -p kac-store --bench
//! store_bench` (one core). `KAC_BENCH_EVENTS` sets the store size
//! (default 1,000,000). Prints a Markdown section for BENCHMARKS.md.

use std::io::Write;
use std::time::Instant;

use chrono::{DateTime, Utc};
use kac_event::Event;
use kac_store::gen::Generator;
use kac_store::log::codec::{encode_block, encode_frame, RawEvent, ZERO_HASH};
use kac_store::{Field, Query, Store, StoreOptions};

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
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&jsonl).unwrap();
    let gz = gz.finish().unwrap();

    // Codec pipeline on this thread: JSON + zstd blocks + frames, in memory.
    let mut codec_rates = Vec::new();
    let mut log_bytes = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let mut out = Vec::new();
        let mut prev = ZERO_HASH;
        let mut jsons: Vec<(Vec<u8>, i64)> = Vec::with_capacity(4096);
        let mut bytes = 0;
        let mut seq = 1;
        for (i, e) in sample.iter().enumerate() {
            let j = serde_json::to_vec(e).unwrap();
            bytes += j.len();
            jsons.push((j, e.time().timestamp_micros()));
            if jsons.len() == 4096 || bytes >= 512 << 10 || i + 1 == sample.len() {
                let raw: Vec<RawEvent<'_>> = jsons
                    .iter()
                    .map(|(j, t)| RawEvent {
                        json: j,
                        time_us: *t,
                    })
                    .collect();
                let p = encode_block(seq, &prev, &raw, 3).unwrap();
                prev = kac_store::log::codec::block_hash(&p);
                seq += raw.len() as u64;
                encode_frame(&p, &mut out);
                jsons.clear();
                bytes = 0;
            }
        }
        codec_rates.push(sample_n as f64 / t.elapsed().as_secs_f64());
        log_bytes = out.len();
    }

    // Through the Store (writer thread, fsync every 20 ms), log only.
    let ingest = |index: bool, events: &[Event]| -> f64 {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(
            dir.path(),
            StoreOptions {
                index,
                ..Default::default()
            },
        )
        .unwrap();
        let w = st.writer();
        let t = Instant::now();
        for e in events {
            w.append(e.clone()).unwrap();
        }
        st.flush().unwrap();
        let r = events.len() as f64 / t.elapsed().as_secs_f64();
        st.close().unwrap();
        r
    };
    let store_log = median((0..3).map(|_| ingest(false, &sample)).collect());
    let store_indexed = median((0..3).map(|_| ingest(true, &sample)).collect());

    // Build the big store for search latency.
    let dir = tempfile::tempdir().unwrap();
    let st = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let w = st.writer();
    let t = Instant::now();
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
    let build = t.elapsed();
    let stats = st.stats().unwrap();
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
    let lb = log_bytes as f64 / sample_n as f64;
    let disk = stats.log_bytes as f64 / n as f64;
    let idx = stats.index_bytes as f64 / n as f64;
    println!(
        "### kac-store, {n} events ({} index docs)",
        stats.index_docs
    );
    println!();
    println!("| metric | value |");
    println!("|---|---|");
    println!(
        "| baseline: serde_json JSON lines only, 1 thread | {:.0} events/s |",
        median(base_rates)
    );
    println!(
        "| codec pipeline (JSON + zstd-3 blocks + frames + chain), 1 thread | {:.0} events/s |",
        median(codec_rates)
    );
    println!("| Store append → durable, log only | {store_log:.0} events/s |");
    println!("| Store append → durable + indexed | {store_indexed:.0} events/s |");
    println!("| JSON lines | {jb:.0} B/event |");
    println!("| gzip'd JSON lines | {gb:.1} B/event |");
    println!(
        "| log (zstd blocks) | {lb:.1} B/event → {:.1}× smaller than JSON lines, {:.2}× vs gzip |",
        jb / lb,
        gb / lb
    );
    println!("| log on disk at {n} | {disk:.1} B/event |");
    println!("| index on disk at {n} | {idx:.1} B/event |");
    println!(
        "| build {n} events (append+index+flush) | {:.1} s |",
        build.as_secs_f64()
    );
    println!(
        "| search `user=X` limit 20 | p50 {:.2} ms, p99 {:.2} ms ({} hits avg) |",
        user.0, user.1, user.2
    );
    println!(
        "| search free text limit 20 | p50 {:.2} ms, p99 {:.2} ms ({} hits avg) |",
        text.0, text.1, text.2
    );
    println!(
        "| search `user=X \"rm -rf\"` limit 20 | p50 {:.2} ms, p99 {:.2} ms ({} hits avg) |",
        user_text.0, user_text.1, user_text.2
    );
    println!("| baseline: substring scan of JSON lines in RAM, extrapolated to {n} | {scan_ms:.0} ms ({c} hits in sample) |");
}
