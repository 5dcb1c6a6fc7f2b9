//! Added latency of kac-proxy (authentication + policy + audit) against
//! direct access to kac-sim and against `kubectl proxy` (a Go reverse proxy
//! with none of that), all in one run; and the proxy's memory per idle watch.
//!
//! Run: `cargo build --release --bins && cargo bench -p kac-e2e --bench proxy_latency`.
//! Env: `KAC_BENCH_REQUESTS` (per client, default 200; 4× that at 1 client),
//! `KAC_BENCH_RUNS` (default 3: each case is measured that many times,
//! targets interleaved, and the median of the runs is reported),
//! `KAC_BENCH_WATCHES` (default 10000; 0 skips the watch part),
//! `KAC_BENCH_ONLY` (a target name, e.g. `kac-proxy`, to load only that one,
//! for profiling), `KAC_BENCH_CASES` (e.g. `get1,list64`).
//!
//! The client sets TCP_NODELAY, as kubectl (Go) does: without it, the
//! client's small HTTP/2 frames (WINDOW_UPDATE after a large response) wait
//! for the peer's delayed ACK, which showed up as a 44 ms LIST p99 on every
//! path.
//!
//! 10,000 watches need about 10,200 descriptors in kac-proxy and 10,100 in
//! kac-sim; the bench raises its soft `nofile` limit to the hard one (the
//! children inherit it) and says so if that is too low.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use kac_e2e::Demo;

type Https = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

struct Target {
    name: &'static str,
    base: String,
    token: Option<String>,
    client: Https,
}

fn client(ca_pem: &str) -> Result<Https> {
    let tls = kac_pki::client_config(ca_pem, None, &[])?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let conn = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(conn))
}

async fn get(t: &Target, path: &str) -> Result<usize> {
    let mut req = hyper::Request::get(format!("{}{}", t.base, path));
    if let Some(tok) = &t.token {
        req = req.header("authorization", format!("Bearer {tok}"));
    }
    let resp = t.client.request(req.body(Empty::new())?).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!(
            "{} {path}: {status}: {}",
            t.name,
            String::from_utf8_lossy(&body)
        );
    }
    Ok(body.len())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(
    t: Arc<Target>,
    path: &'static str,
    clients: usize,
    per: usize,
) -> Result<(Duration, Duration)> {
    for _ in 0..20 {
        get(&t, path).await?; // warm up connections
    }
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for _ in 0..per {
                let start = Instant::now();
                get(&t, path).await?;
                lat.push(start.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    all.sort();
    Ok((pct(&all, 0.5), pct(&all, 0.99)))
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS")
}

fn pid_of(pattern: &str) -> Result<u32> {
    for e in std::fs::read_dir("/proc")? {
        let e = e?;
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(pattern) && !cmd.contains("proxy_latency") {
                return Ok(pid);
            }
        }
    }
    bail!("no process matching {pattern}")
}

/// Raises the soft open-files limit to the hard one (children inherit it).
fn raise_nofile() -> Option<u64> {
    let pid = std::process::id().to_string();
    let hard = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &pid,
            "--nofile",
            "--raw",
            "--noheadings",
            "-o",
            "HARD",
        ])
        .output()
        .ok()?;
    let hard = String::from_utf8_lossy(&hard.stdout).trim().to_string();
    std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={hard}:")])
        .status()
        .ok()?;
    hard.parse().ok()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let per: usize = std::env::var("KAC_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let watches: usize = std::env::var("KAC_BENCH_WATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runs: usize = std::env::var("KAC_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let only = std::env::var("KAC_BENCH_ONLY").ok();
    let cases = std::env::var("KAC_BENCH_CASES").ok();
    if watches > 0 {
        let limit = raise_nofile().unwrap_or(0);
        if limit < (watches as u64 + 1000) {
            eprintln!("warning: open-files hard limit {limit} is low for {watches} watches (needs ~{}); raise it with `ulimit -Hn`", watches + 1000);
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let demo = Demo::start()?;
    let dir = demo.dir().to_path_buf();
    let sim_ready: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        dir.join("clusters/dev/ready.json"),
    )?)?;
    let proxy_ready: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("proxy/data/ready.json"))?)?;
    let sim_ca = std::fs::read_to_string(sim_ready["caFile"].as_str().unwrap())?;
    let proxy_ca = std::fs::read_to_string(dir.join("proxy/data/ca.crt"))?;
    let admin_sim = sim_ready["adminToken"].as_str().unwrap().to_string();

    // `kubectl proxy` in front of the same sim, on a free port.
    let mut kp = std::process::Command::new("/usr/bin/kubectl")
        .arg("--kubeconfig")
        .arg(dir.join("clusters/dev/admin.kubeconfig"))
        .args(["proxy", "--port=0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("kubectl proxy")?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(kp.stdout.take().unwrap()),
        &mut line,
    )?;
    let kp_addr = line
        .trim()
        .rsplit(' ')
        .next()
        .context("kubectl proxy address")?
        .to_string();

    let targets = [
        Target {
            name: "direct (kac-sim)",
            base: sim_ready["url"].as_str().unwrap().into(),
            token: Some(admin_sim.clone()),
            client: client(&sim_ca)?,
        },
        Target {
            name: "kubectl proxy",
            base: format!("http://{kp_addr}"),
            token: None,
            client: client(&sim_ca)?,
        },
        Target {
            name: "kac-proxy",
            base: format!("{}/clusters/dev", proxy_ready["url"].as_str().unwrap()),
            token: Some(demo.token("admin")),
            client: client(&proxy_ca)?,
        },
    ];
    let targets: Vec<Arc<Target>> = targets.into_iter().map(Arc::new).collect();

    rt.block_on(async {
        // 100 pods in their own namespace for the LIST case.
        let direct = &targets[0];
        let c: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(kac_pki::client_config(&sim_ca, None, &[])?)
                .https_only()
                .enable_http1()
                .build(),
        );
        let post = |path: String, body: String| {
            let req = hyper::Request::post(format!("{}{}", direct.base, path))
                .header("authorization", format!("Bearer {admin_sim}"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            c.request(req)
        };
        post("/api/v1/namespaces".into(), r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}}"#.into()).await?;
        for i in 0..100 {
            post("/api/v1/namespaces/bench/pods".into(), format!(r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"bench-{i}","namespace":"bench"}},"spec":{{"containers":[{{"name":"main","image":"busybox"}}]}}}}"#)).await?;
        }
        println!("Median of {runs} runs (targets interleaved within each run).\n");
        println!("| request | clients | direct p50 / p99 | kubectl proxy p50 / p99 | kac-proxy p50 / p99 | added p50: kubectl proxy | added p50: kac-proxy | kac-proxy added / kubectl proxy added |");
        println!("|---|---|---|---|---|---|---|---|");
        for (label, key, path) in [("GET pod", "get", "/api/v1/namespaces/default/pods/web-1"), ("LIST 100 pods", "list", "/api/v1/namespaces/bench/pods")] {
            for clients in [1usize, 64] {
                if cases.as_deref().is_some_and(|c| !c.split(',').any(|c| c == format!("{key}{clients}"))) {
                    continue;
                }
                let n = if clients == 1 { per * 4 } else { per };
                // p50s and p99s per target, one entry per run.
                let mut p50 = vec![Vec::new(); targets.len()];
                let mut p99 = vec![Vec::new(); targets.len()];
                for _ in 0..runs {
                    for (i, t) in targets.iter().enumerate() {
                        if only.as_deref().is_some_and(|o| o != t.name) {
                            continue;
                        }
                        let (a, b) = measure(t.clone(), path, clients, n).await?;
                        p50[i].push(a);
                        p99[i].push(b);
                    }
                }
                if only.is_some() {
                    for (i, t) in targets.iter().enumerate() {
                        if !p50[i].is_empty() {
                            println!("{label} x{clients} {}: p50 {:?} p99 {:?}", t.name, median(p50[i].clone()), median(p99[i].clone()));
                        }
                    }
                    continue;
                }
                let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                let r: Vec<(f64, f64)> = (0..targets.len())
                    .map(|i| (ms(median(p50[i].clone())), ms(median(p99[i].clone()))))
                    .collect();
                let (kp, kac) = (r[1].0 - r[0].0, r[2].0 - r[0].0);
                println!(
                    "| {label} | {clients} | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {kp:+.2} ms | {kac:+.2} ms | {:.2} |",
                    r[0].0, r[0].1, r[1].0, r[1].1, r[2].0, r[2].1, kac / kp
                );
            }
        }
        if watches == 0 {
            return Ok(());
        }

        // Memory per idle watch through kac-proxy.
        let pid = pid_of(&format!("{}/proxy/proxy.yaml", dir.display()))?;
        let before = rss_kib(pid)?;
        let per_conn = 100;
        let mut bodies = Vec::new();
        let t = &targets[2];
        for chunk in 0..watches.div_ceil(per_conn) {
            let c = client(&proxy_ca)?;
            for _ in 0..per_conn.min(watches - chunk * per_conn) {
                let req = hyper::Request::get(format!("{}/api/v1/namespaces/bench/pods?watch=true&resourceVersion=0&timeoutSeconds=3600", t.base))
                    .header("authorization", format!("Bearer {}", t.token.as_ref().unwrap()))
                    .body(Empty::new())?;
                bodies.push(c.request(req));
            }
        }
        let mut open = Vec::new();
        for b in bodies {
            open.push(b.await?);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = rss_kib(pid)?;
        // The proxy's own count, as a check that every watch is open.
        let metrics_url = format!("{}/metrics", proxy_ready["url"].as_str().unwrap());
        let m = t.client.request(hyper::Request::get(metrics_url).body(Empty::new())?).await?;
        let m = String::from_utf8_lossy(&m.into_body().collect().await?.to_bytes()).into_owned();
        let gauge = m.lines().find(|l| l.starts_with("kac_open_watches ")).unwrap_or("kac_open_watches ?").to_string();
        println!(
            "\nidle watches through kac-proxy: {} open, proxy RSS {} MiB → {} MiB, {:.1} KiB per watch (target: 10,000 in < 1 GiB, i.e. < 104.9 KiB each); proxy says {gauge}",
            open.len(),
            before / 1024,
            after / 1024,
            (after.saturating_sub(before)) as f64 / open.len() as f64
        );
        Ok::<_, anyhow::Error>(())
    })?;
    let _ = kp.kill();
    Ok(())
}
