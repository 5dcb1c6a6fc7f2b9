//! kac-play performance: time to first frame and seek latency on a
//! one-hour, ~100 MB session (`cargo bench -p kac-player --bench player`).
//! Targets (issue #8): first frame < 200 ms, any seek < 50 ms. Baseline in
//! the same run: a seek that replays from the start (what players without
//! keyframes do). Results go to BENCHMARKS.md.

use std::time::{Duration, Instant};

use kac_player::loader::{Loader, FIRST_BATCH_BYTES};
use kac_player::samples;
use kac_player::screen::ScreenCache;
use kac_player::source::{FileSource, SessionSource};
use kac_player::Timeline;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    ms(sorted[i])
}

/// A small deterministic generator for seek targets.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

fn main() -> anyhow::Result<()> {
    let mb: usize = std::env::var("KAC_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("hour.jsonl");
    let t = Instant::now();
    let events = samples::big_session(3600, mb << 20);
    std::fs::write(&path, samples::to_jsonl(&events))?;
    let file_mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
    drop(events);
    println!(
        "session: 3600 s, {mb} MiB output, JSON-lines file {file_mb:.0} MB (generated in {:.1} s)",
        t.elapsed().as_secs_f64()
    );

    // 1. Open -> first frame on screen (the emulated screen ready to draw).
    let mut first = Vec::new();
    let mut kept = None;
    for _ in 0..7 {
        let t = Instant::now();
        let mut src = FileSource::new(&path, None);
        src.set_batch_bytes(FIRST_BATCH_BYTES);
        let evs = src.load()?;
        let tl = Timeline::from_events(&evs, None);
        let mut cache = ScreenCache::new(&tl);
        let first_frame = tl.applied_at(0).max(
            tl.frames()
                .iter()
                .position(|f| f.output().is_some())
                .map_or(0, |i| i + 1),
        );
        cache.sync(&tl, first_frame);
        assert!(!cache.screen().contents().is_empty());
        first.push(t.elapsed());
        kept = Some((src, evs, tl, cache));
    }
    first.sort();
    println!(
        "open -> first frame: median {:.2} ms, max {:.2} ms (7 runs)",
        pct(&first, 0.5),
        pct(&first, 1.0)
    );

    // 2. The rest loads in the background; how long until fully seekable.
    let (src, evs, mut tl, mut cache) = kept.expect("ran");
    let t = Instant::now();
    let mut loader = Loader::spawn(Box::new(src), evs, &tl, false);
    while loader.loading() {
        loader.poll(&mut tl, &mut cache)?;
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "background load + keyframing of the whole session: {:.2} s ({} frames, {} keyframes)",
        t.elapsed().as_secs_f64(),
        tl.len(),
        cache.keyframe_count()
    );

    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for key in ["VmRSS", "VmHWM"] {
        if let Some(l) = status.lines().find(|l| l.starts_with(key)) {
            println!(
                "memory after load: {}",
                l.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
    }

    // 3. Random absolute seeks, and ±5 s seeks from random positions.
    let mut rng = Lcg(42);
    let dur = tl.duration_us();
    let mut abs = Vec::new();
    for _ in 0..300 {
        let target = tl.applied_at(rng.next(dur));
        let t = Instant::now();
        cache.sync(&tl, target);
        abs.push(t.elapsed());
    }
    abs.sort();
    let mut rel = Vec::new();
    for _ in 0..300 {
        let from = rng.next(dur);
        cache.sync(&tl, tl.applied_at(from));
        let back = from.saturating_sub(5_000_000);
        let t = Instant::now();
        cache.sync(&tl, tl.applied_at(back));
        rel.push(t.elapsed());
    }
    rel.sort();
    println!(
        "random seek (300): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(&abs, 0.5),
        pct(&abs, 0.99),
        pct(&abs, 1.0)
    );
    println!(
        "seek -5 s (300):    p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(&rel, 0.5),
        pct(&rel, 0.99),
        pct(&rel, 1.0)
    );

    // Baseline: seeking by replaying from the start (no keyframes).
    let mut base = Vec::new();
    for _ in 0..5 {
        let target = tl.applied_at(rng.next(dur));
        let t = Instant::now();
        let mut fresh = ScreenCache::new(&tl);
        fresh.sync(&tl, target);
        base.push(t.elapsed());
    }
    base.sort();
    println!(
        "baseline, replay from start (5): median {:.1} ms, max {:.1} ms",
        pct(&base, 0.5),
        pct(&base, 1.0)
    );
    Ok(())
}
