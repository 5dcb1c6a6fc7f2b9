//! Session recording ingest (issue #6): what kac-store costs per byte of a
//! recorded `kubectl exec cat`. Appends `session.data` events of 32 KiB
//! (the frame size kac-sim and the kubelet send) through [`Store`] with the
//! index on and default options, as kac-proxy does, and reports wall time,
//! CPU seconds (all threads) and MiB per CPU-second, plus the stored size.
//! Two payloads: random bytes (incompressible, the worst case for zstd and
//! what the end-to-end bench in tests/benches/sessions.rs cats) and text
//! (this workspace's sources and docs with CRLF line ends, as `cat` on a
//! TTY shows them), each at several `session_zstd_level`s.
//!
//! Run: `cargo bench -p kac-store --bench session_bench`.
//! Env: `KAC_BENCH_MIB` (per run, default 128), `KAC_BENCH_RUNS` (default 3),
//! `KAC_BENCH_LEVELS` (default `1,3,6`), `KAC_BENCH_PAYLOADS` (default
//! `random,text`).

// What the kac-proxy and kac-audit binaries run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use chrono::{DateTime, Duration};
use kac_event::{DataStream, Event, SessionEvent, SessionStart};
use kac_store::{Store, StoreOptions};
use rand::RngCore;

mod common;
use common::cpu;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const FRAME: usize = 32 << 10;

/// A session: start, `frames` data events cut from `payload`, end.
fn session(id: &str, payload: &[u8], frames: usize) -> Vec<Event> {
    let t0 = DateTime::from_timestamp(1_770_000_000, 123_456_789).unwrap();
    let mut evs = vec![Event::Session(SessionEvent::Start(Box::new(
        SessionStart {
            session_id: id.into(),
            time: t0,
            pod: "david-1".into(),
            namespace: "david".into(),
            cluster: "dev".into(),
            command: vec!["cat".into(), "kac-bench.bin".into()],
            ..Default::default()
        },
    )))];
    for i in 0..frames {
        let off = (i * FRAME) % (payload.len() - FRAME);
        evs.push(Event::Session(SessionEvent::Data {
            session_id: id.into(),
            time: t0 + Duration::microseconds(i as i64 * 120),
            offset_us: i as u64 * 120,
            stream: DataStream::Stdout,
            data: payload[off..off + FRAME].to_vec(),
        }));
    }
    evs
}

fn dir_size(p: &std::path::Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(p).unwrap().flatten() {
        let m = e.metadata().unwrap();
        n += if m.is_dir() {
            dir_size(&e.path())
        } else {
            m.len()
        };
    }
    n
}

/// One ingest run; returns (wall s, CPU s, log bytes).
fn ingest(events: &[Event], session_zstd_level: i32) -> (f64, f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        session_zstd_level,
        ..Default::default()
    };
    let st = Store::open(dir.path(), opts).unwrap();
    let w = st.writer();
    let batch = events.to_vec();
    let (t, c) = (Instant::now(), cpu());
    for e in batch {
        w.append(e).unwrap();
    }
    st.flush().unwrap();
    let r = (t.elapsed().as_secs_f64(), cpu() - c);
    st.close().unwrap();
    let log = dir_size(&dir.path().join("segments"));
    (r.0, r.1, log)
}

/// Real text for the compressible case: the workspace's own sources and
/// docs (what `cat`, `less` or a log tail of a code base shows).
fn workspace_text() -> Vec<u8> {
    fn walk(dir: &std::path::Path, out: &mut Vec<u8>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p.is_dir() && name != "target" && !name.starts_with('.') {
                walk(&p, out);
            } else if name.ends_with(".rs") || name.ends_with(".md") {
                out.extend_from_slice(&std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    let mut out = Vec::new();
    walk(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap(),
        &mut out,
    );
    // Terminal line endings, as a TTY shows them.
    let text = String::from_utf8_lossy(&out).replace('\n', "\r\n");
    text.into_bytes()
}

fn main() {
    let mib = env_num("KAC_BENCH_MIB", 128);
    let runs = env_num("KAC_BENCH_RUNS", 3);
    let frames = (mib << 20) / FRAME;
    let mut random = vec![0u8; 8 << 20];
    rand::thread_rng().fill_bytes(&mut random);
    let text = workspace_text();
    let levels: Vec<i32> = std::env::var("KAC_BENCH_LEVELS")
        .unwrap_or_else(|_| "1,3,6".into())
        .split(',')
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    println!("## kac-store session ingest: {mib} MiB of 32 KiB session.data events per run, {runs} runs, index on");
    println!(
        "| payload | session_zstd_level | wall s | CPU s | MiB/CPU-s | log bytes / payload bytes |"
    );
    println!("|---|---|---|---|---|---|");
    let payloads = std::env::var("KAC_BENCH_PAYLOADS").unwrap_or_else(|_| "random,text".into());
    for (name, payload) in [("random", &random), ("source text", &text)] {
        if !payloads.split(',').any(|p| name.contains(p.trim())) {
            continue;
        }
        let evs = session("s-bench", payload, frames);
        for &level in &levels {
            let (mut w, mut c, mut sz) = (vec![], vec![], 0);
            for _ in 0..runs {
                let (a, b, s) = ingest(&evs, level);
                eprintln!("{name} level {level}: wall {a:.2} s, CPU {b:.2} s, log {s} bytes");
                w.push(a);
                c.push(b);
                sz = s;
            }
            let (mw, mc) = (median(w), median(c));
            println!(
                "| {name} | {level} | {mw:.2} | {mc:.2} | {:.0} | {:.3} |",
                mib as f64 / mc,
                sz as f64 / (frames * FRAME) as f64
            );
        }
    }
}
