//! Forwarding throughput to a real rsyslogd over plain TCP (issue #9,
//! target >= 50,000 events/s), with two baselines measured in the same run:
//!
//! - `read`: the forwarder's source alone (read blocks, decompress, parse
//!   events), the floor of any forwarding;
//! - `raw`: rsyslogd's own ingest of the same framed messages written by a
//!   plain socket writer (pre-formatted, one `write_all`), the receiver's
//!   ceiling.
//!
//! `forward` is `Forwarder::run(Mode::Once)`: read, render native JSON,
//! format RFC 5424, octet-count, send, and an orderly close that returns
//! once rsyslogd has read everything; `forward+disk` also waits until
//! rsyslogd has written every message to its file. `forward` saves its
//! cursor in the background (default `cursorInterval: 1s`); `forward
//! sync-cursor` is the same with `cursorInterval: 0s`, which waits for an
//! fsync'd cursor save after every batch, as every forwarder did before
//! background saving (the comparison, in the same run).
//!
//!   cargo bench -p kac-forward --bench syslog_throughput [-- EVENTS RUNS]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::fill_store;
use kac_e2e::rsyslog::{rsyslogd, Rsyslog};
use kac_forward::cursor::Cursor;
use kac_forward::filter::Summary;
use kac_forward::sink::syslog::{frame_batch, Header};
use kac_forward::sink::Rendered;
use kac_forward::source::LogSource;
use kac_forward::{Context, ForwardFile, Forwarder, Mode};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Waits until rsyslogd has written `n` lines, reading only what is new.
fn wait_lines(rs: &Rsyslog, n: usize) {
    use std::io::Read;
    let t0 = Instant::now();
    let mut f = loop {
        if let Ok(f) = std::fs::File::open(&rs.out) {
            break f;
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "no output file");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut lines = 0;
    let mut buf = vec![0u8; 1 << 20];
    while lines < n {
        match f.read(&mut buf).unwrap() {
            0 => {
                assert!(
                    t0.elapsed() < Duration::from_secs(300),
                    "rsyslogd wrote {lines} of {n} lines"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            k => lines += buf[..k].iter().filter(|&&b| b == b'\n').count(),
        }
    }
}

fn read_only(store: &std::path::Path) -> (usize, Duration) {
    let t0 = Instant::now();
    let mut src = LogSource::new(store, &Cursor::default());
    let mut n = 0;
    loop {
        let (evs, _) = src.poll(4).unwrap();
        if evs.is_empty() {
            break;
        }
        n += evs.len();
    }
    (n, t0.elapsed())
}

/// All events framed exactly as the sink frames them.
fn framed(store: &std::path::Path) -> Vec<u8> {
    let mut src = LogSource::new(store, &Cursor::default());
    let h = Header {
        facility: 16,
        hostname: "bench".into(),
        app_name: "kac".into(),
        sd_id: "kac@32473".into(),
        bom: true,
    };
    let mut out = Vec::new();
    loop {
        let (evs, _) = src.poll(4).unwrap();
        if evs.is_empty() {
            break;
        }
        let r: Vec<Rendered> = evs
            .iter()
            .map(|e| Rendered {
                id: kac_forward::forwarder::event_id(&e.event, &e.pointer.writer, e.seq),
                time: e.event.time(),
                value: kac_forward::forwarder::stored_body(e.json.clone()).unwrap(),
            })
            .collect();
        let meta: Vec<Summary> = evs.iter().map(|e| Summary::of(&e.event)).collect();
        frame_batch(&h, &r, &meta, &mut out);
    }
    out
}

fn raw_ingest(dir: &std::path::Path, bytes: &[u8], n: usize) -> (Duration, Duration) {
    let rs = Rsyslog::start(dir, None);
    let t0 = Instant::now();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", rs.port)).unwrap();
    s.write_all(bytes).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut sink = [0u8; 64];
    while std::io::Read::read(&mut s, &mut sink).unwrap_or(0) > 0 {}
    let read = t0.elapsed();
    wait_lines(&rs, n);
    (read, t0.elapsed())
}

fn forward(
    dir: &std::path::Path,
    store: &std::path::Path,
    n: usize,
    cursor_interval: &str,
) -> (Duration, Duration) {
    let rs = Rsyslog::start(&dir.join("rsyslog"), None);
    let cfg = format!(
        "stateDir: {}\nforwarders:\n  - name: bench\n    batch: {{maxEvents: 1000}}\n    cursorInterval: {cursor_interval}\n    sink: {{kind: syslog, address: '127.0.0.1:{}'}}\n",
        dir.join("state").display(),
        rs.port
    );
    let file = ForwardFile::parse("bench.yaml", &cfg).unwrap();
    let ctx = Context {
        store_dir: store.to_path_buf(),
        state_dir: file.state_dir.clone(),
        base_dir: dir.to_path_buf(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fwd = Forwarder::new(file.forwarders[0].clone(), &ctx).unwrap();
    let m = fwd.metrics();
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let t0 = Instant::now();
    rt.block_on(fwd.run(stop, Mode::Once)).unwrap();
    let sent = t0.elapsed();
    wait_lines(&rs, n);
    let disk = t0.elapsed();
    assert_eq!(
        m.sent.load(std::sync::atomic::Ordering::Relaxed) as usize,
        n
    );
    (sent, disk)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(300_000);
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    if rsyslogd().is_none() {
        eprintln!("rsyslogd not installed (scripts/install-test-deps); skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let t0 = Instant::now();
    fill_store(&store, n, 600);
    println!(
        "store: {n} API events (~600 B JSON each) written in {:.1?}",
        t0.elapsed()
    );
    let bytes = framed(&store);
    println!(
        "framed RFC 5424 stream: {:.1} MiB, {:.0} B/message",
        bytes.len() as f64 / (1 << 20) as f64,
        bytes.len() as f64 / n as f64
    );
    let (mut read, mut raw, mut raw_disk, mut fwd, mut disk, mut sync) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for run in 0..runs {
        let (got, d) = read_only(&store);
        assert_eq!(got, n);
        read.push(n as f64 / d.as_secs_f64());
        let (d, dd) = raw_ingest(&dir.path().join(format!("raw{run}")), &bytes, n);
        raw.push(n as f64 / d.as_secs_f64());
        raw_disk.push(n as f64 / dd.as_secs_f64());
        let (s, w) = forward(&dir.path().join(format!("fwd{run}")), &store, n, "1s");
        fwd.push(n as f64 / s.as_secs_f64());
        disk.push(n as f64 / w.as_secs_f64());
        let (s, _) = forward(&dir.path().join(format!("sync{run}")), &store, n, "0s");
        sync.push(n as f64 / s.as_secs_f64());
        println!(
            "run {run}: read {:.0}/s, raw->rsyslog {:.0}/s (+disk {:.0}/s), forward {:.0}/s (+disk {:.0}/s), forward sync-cursor {:.0}/s",
            read[run], raw[run], raw_disk[run], fwd[run], disk[run], sync[run]
        );
    }
    let (r, w, wd, f, d, fs) = (
        median(read),
        median(raw),
        median(raw_disk),
        median(fwd),
        median(disk),
        median(sync),
    );
    println!("median over {runs} runs, {n} events:");
    println!("  read store only          {r:>10.0} events/s");
    println!("  raw writer -> rsyslogd   {w:>10.0} events/s (receiver ceiling; read by rsyslogd)");
    println!("  raw writer, on disk      {wd:>10.0} events/s");
    println!(
        "  forward -> rsyslogd      {f:>10.0} events/s ({:.2}x raw)",
        f / w
    );
    println!("  forward, on rsyslog disk {d:>10.0} events/s");
    println!(
        "  forward sync-cursor      {fs:>10.0} events/s ({:.2}x raw; background saving {:.1}x faster)",
        fs / w,
        f / fs
    );
}
