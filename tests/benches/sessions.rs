//! Session relay performance (issue #6), three ways in one run:
//! - **direct**: kubectl (or the WebSocket client) straight to kac-sim;
//! - **unrecorded**: through a kac-proxy that relays the session without
//!   recording it (a policy with `sessionRecording: optional` and
//!   `sessions.optionalRecording: skip`: same relay, no recorder, no
//!   `session.data` events, only start/end with byte counts);
//! - **recorded**: through the `kac demo` proxy, recording into kac-store
//!   (recording required, backpressure `wait`).
//!
//! Part 1, throughput: `kubectl exec POD -- cat FILE` of a random file
//! (default 256 MiB) with real kubectl 1.32 (WebSocket, v5.channel.k8s.io),
//! stdout counted by this process. The ways take turns each round so that
//! machine noise spreads evenly; medians are reported. After each recorded
//! run the bench also waits until the proxy's audit queue is empty, and
//! reports that time too (the store keeps ingesting after kubectl is done).
//!
//! Part 2, keystroke round trip: an interactive exec (`tty=true`, `stty raw
//! -echo; cat`) driven by a WebSocket client speaking v5.channel.k8s.io
//! (kubectl's own terminal handling would add noise): one byte on stdin,
//! time until it comes back on stdout. Percentiles per way and the added
//! latency of the proxy.
//!
//! Run: `cargo build --release --bins && cargo bench -p kac-e2e --bench sessions`.
//! Env: `KAC_BENCH_MIB` (file size, default 256), `KAC_BENCH_RUNS` (rounds,
//! default 5), `KAC_BENCH_KEYS` (keystrokes per way, default 2000),
//! `KAC_BENCH_PART` (`throughput`, `latency` or both by default).

use std::io::Read;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use kac_e2e::{Demo, ExtraConfig, ExtraProxy, Kubectl};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const POD: &str = "david-1";
const NS: &str = "david";

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One `kubectl exec POD -- cat FILE`; returns the wall time after checking
/// that exactly `size` bytes arrived.
fn cat_once(k: &Kubectl, file: &str, size: u64) -> Result<Duration> {
    let mut cmd = k.command(&["exec", POD, "-n", NS, "--", "cat", file]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let began = Instant::now();
    let mut child = cmd.spawn().context("spawning kubectl")?;
    let mut out = child.stdout.take().expect("piped");
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    loop {
        let n = out.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    let status = child.wait()?;
    let took = began.elapsed();
    if !status.success() || got != size {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        bail!("kubectl exec cat: {status}, {got} of {size} bytes: {err}");
    }
    Ok(took)
}

/// The proxy's audit queue depth, from its /metrics.
fn queue_depth(proxy_url: &str, ca_file: &std::path::Path) -> Result<f64> {
    let out = std::process::Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(ca_file)
        .arg(format!("{proxy_url}/metrics"))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("kac_audit_queue_depth "))
        .and_then(|v| v.trim().parse().ok())
        .context("kac_audit_queue_depth in /metrics")
}

fn wait_drained(proxy_url: &str, ca_file: &std::path::Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while queue_depth(proxy_url, ca_file)? > 0.0 {
        if Instant::now() > deadline {
            bail!("audit queue did not drain in 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

struct Ways {
    direct: Kubectl,
    unrecorded: Kubectl,
    recorded: Kubectl,
}

fn throughput(ways: &Ways, demo: &Demo, proxy_url: &str) -> Result<()> {
    let mib = env_num("KAC_BENCH_MIB", 256);
    let runs = env_num("KAC_BENCH_RUNS", 5);
    let size = (mib as u64) << 20;
    let file = format!("kac-bench-{mib}m.bin");
    // A random (incompressible) file in the pod's root, written directly.
    ways.direct
        .run(&[
            "exec",
            POD,
            "-n",
            NS,
            "--",
            "sh",
            "-c",
            &format!("head -c {size} /dev/urandom > {file}"),
        ])?
        .ok()?;
    let ca = demo.dir().join("proxy/data/ca.crt");
    // Warm-up, one each (also checks all three ways work).
    for k in [&ways.direct, &ways.unrecorded, &ways.recorded] {
        cat_once(k, &file, size)?;
    }
    wait_drained(proxy_url, &ca)?;
    let (mut d, mut u, mut r, mut drained) = (vec![], vec![], vec![], vec![]);
    for round in 0..runs {
        // Rotate the order each round.
        for i in 0..3 {
            match (round + i) % 3 {
                0 => d.push(cat_once(&ways.direct, &file, size)?.as_secs_f64()),
                1 => u.push(cat_once(&ways.unrecorded, &file, size)?.as_secs_f64()),
                _ => {
                    let began = Instant::now();
                    r.push(cat_once(&ways.recorded, &file, size)?.as_secs_f64());
                    wait_drained(proxy_url, &ca)?;
                    drained.push(began.elapsed().as_secs_f64());
                }
            }
        }
        eprintln!(
            "round {round}: direct {:.2} s, unrecorded {:.2} s, recorded {:.2} s (queue drained at {:.2} s)",
            d.last().unwrap(),
            u.last().unwrap(),
            r.last().unwrap(),
            drained.last().unwrap()
        );
    }
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!("\n## throughput: kubectl exec {POD} -- cat {file} ({mib} MiB random), {runs} rounds");
    println!(
        "runs (s): direct {}; unrecorded {}; recorded {}; recorded until audit queue drained {}",
        fmt(&d),
        fmt(&u),
        fmt(&r),
        fmt(&drained)
    );
    let (md, mu, mr, mq) = (
        median(&mut d),
        median(&mut u),
        median(&mut r),
        median(&mut drained),
    );
    let rate = |s: f64| mib as f64 / s;
    println!("| way | median time | MiB/s |");
    println!("|---|---|---|");
    println!(
        "| direct (kubectl → kac-sim) | {md:.2} s | {:.0} |",
        rate(md)
    );
    println!("| kac-proxy, unrecorded | {mu:.2} s | {:.0} |", rate(mu));
    println!(
        "| kac-proxy, recorded into kac-store | {mr:.2} s | {:.0} |",
        rate(mr)
    );
    println!(
        "| recorded, until the audit queue is empty | {mq:.2} s | {:.0} |",
        rate(mq)
    );
    println!(
        "ratios (throughput): recorded/unrecorded {:.2}, recorded/direct {:.2}, unrecorded/direct {:.2}",
        mu / mr,
        md / mr,
        md / mu
    );
    Ok(())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// Opens `stty raw -echo; cat` under a TTY over v5.channel.k8s.io.
async fn open_echo(base: &str, token: &str, ca_pem: &str) -> Result<Ws> {
    let url = format!(
        "{base}/api/v1/namespaces/{NS}/pods/{POD}/exec?command=sh&command=-c&command=stty%20raw%20-echo%3B%20exec%20cat&stdin=true&stdout=true&tty=true"
    );
    let uri: hyper::Uri = url.parse()?;
    let host = uri.host().context("host")?.to_string();
    let port = uri.port_u16().context("port")?;
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    let cfg = kac_pki::client_config(ca_pem, None, &[])?;
    let name = rustls::pki_types::ServerName::try_from(host.clone())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await?;
    let mut req = url
        .replacen("https://", "wss://", 1)
        .into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    req.headers_mut()
        .insert("sec-websocket-protocol", "v5.channel.k8s.io".parse()?);
    let (mut ws, _) = tokio_tungstenite::client_async(req, tls).await?;
    // Wait until stty has run: a byte comes back unchanged.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if Instant::now() > deadline {
            bail!("{base}: no echo from the pod");
        }
        if round_trip(&mut ws, b'!').await.is_ok() {
            return Ok(ws);
        }
    }
}

/// Sends one byte on stdin and waits until it comes back on stdout.
async fn round_trip(ws: &mut Ws, byte: u8) -> Result<Duration> {
    let began = Instant::now();
    ws.send(Message::Binary(vec![0u8, byte].into())).await?;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(2), ws.next())
            .await
            .context("echo timed out")?
            .context("connection closed")??;
        if let Message::Binary(b) = msg {
            if b.first() == Some(&1) && b[1..].contains(&byte) {
                return Ok(began.elapsed());
            }
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e6
}

async fn latency(targets: Vec<(&'static str, String, String, String)>) -> Result<()> {
    let keys = env_num("KAC_BENCH_KEYS", 2000);
    let mut conns = Vec::new();
    for (name, base, token, ca) in &targets {
        conns.push((*name, open_echo(base, token, ca).await?, Vec::new()));
    }
    // Warm-up, then rounds of 100 keystrokes per way, ways taking turns.
    for (_, ws, _) in conns.iter_mut() {
        for i in 0..100u32 {
            round_trip(ws, b'a' + (i % 26) as u8).await?;
        }
    }
    let mut sent = 0;
    while sent < keys {
        for (_, ws, lat) in conns.iter_mut() {
            for i in 0..100usize {
                lat.push(round_trip(ws, b'a' + ((sent + i) % 26) as u8).await?);
            }
        }
        sent += 100;
    }
    println!("\n## keystroke round trip (µs), {keys} single-byte stdin frames per way, tty, v5.channel.k8s.io");
    println!("| way | p50 | p90 | p99 | p99.9 | added p50 | added p99 |");
    println!("|---|---|---|---|---|---|---|");
    let mut base = (0.0, 0.0);
    for (i, (name, _, lat)) in conns.iter_mut().enumerate() {
        lat.sort();
        let (p50, p99) = (pct(lat, 0.5), pct(lat, 0.99));
        if i == 0 {
            base = (p50, p99);
        }
        println!(
            "| {name} | {p50:.0} | {:.0} | {p99:.0} | {:.0} | {:+.0} | {:+.0} |",
            pct(lat, 0.9),
            pct(lat, 0.999),
            p50 - base.0,
            p99 - base.1
        );
    }
    for (_, mut ws, _) in conns {
        let _ = ws.send(Message::Binary(vec![255u8, 0].into())).await;
        let _ = ws.close(None).await;
    }
    Ok(())
}

fn main() -> Result<()> {
    let part = std::env::var("KAC_BENCH_PART").unwrap_or_default();
    let demo = Demo::start()?;
    let dir = demo.dir().to_path_buf();
    // The unrecorded way: the same proxy build and config, plus a policy
    // making david's sessions optional to record and `optionalRecording: skip`.
    let david = std::fs::read_to_string(dir.join("proxy/policies/david.yaml"))?;
    let optional = david.replacen("spec:\n", "spec:\n  sessionRecording: optional\n", 1);
    if optional == david {
        bail!("david.yaml has no `spec:` line");
    }
    let extra = ExtraConfig {
        yaml: "sessions:\n  optionalRecording: skip\n".into(),
        policies: vec![("david.yaml".into(), optional)],
        replace_policies: false,
    };
    let unrecorded = ExtraProxy::start(&demo, "unrecorded-proxy", &extra)?;
    let sim_ready: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        dir.join("clusters/dev/ready.json"),
    )?)?;
    let proxy_ready: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("proxy/data/ready.json"))?)?;
    let proxy_url = proxy_ready["url"]
        .as_str()
        .context("proxy url")?
        .to_string();
    let ways = Ways {
        direct: Kubectl::new(&dir.join("clusters/dev/admin.kubeconfig")),
        unrecorded: unrecorded.kubectl(&demo, "david", "dev"),
        recorded: demo.kubectl("david", "dev"),
    };
    for k in [&ways.direct, &ways.unrecorded, &ways.recorded] {
        k.run(&["get", "pod", POD, "-n", NS])?.ok()?;
    }
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism()?.get(),
        std::fs::read_to_string("/proc/loadavg")?.trim()
    );
    if part.is_empty() || part == "throughput" {
        throughput(&ways, &demo, &proxy_url)?;
    }
    if part.is_empty() || part == "latency" {
        let sim_ca = std::fs::read_to_string(sim_ready["caFile"].as_str().context("caFile")?)?;
        let proxy_ca = std::fs::read_to_string(dir.join("proxy/data/ca.crt"))?;
        let token = demo.token("david");
        let targets = vec![
            (
                "direct",
                sim_ready["url"].as_str().context("url")?.to_string(),
                sim_ready["adminToken"]
                    .as_str()
                    .context("token")?
                    .to_string(),
                sim_ca,
            ),
            (
                "kac-proxy, unrecorded",
                format!("{}/clusters/dev", unrecorded.url()),
                token.clone(),
                proxy_ca.clone(),
            ),
            (
                "kac-proxy, recorded",
                format!("{proxy_url}/clusters/dev"),
                token,
                proxy_ca,
            ),
        ];
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(latency(targets))?;
    }
    println!(
        "load after: {}",
        std::fs::read_to_string("/proc/loadavg")?.trim()
    );
    Ok(())
}
