//! kac-e2e: the harness every end-to-end test uses. It starts real binaries
//! (`kac-sim`, later `kac-proxy`) on free ports with temporary data dirs, and runs the
//! real clients (`/usr/bin/kubectl`, `python3` with the `kubernetes` package) against
//! them with timeouts. It owns process lifecycle and client invocation only; what a
//! test asserts lives in `tests/tests/*.rs`.

pub mod demo;
pub mod extra_proxy;
pub mod rsyslog;
pub use demo::Demo;
pub use extra_proxy::{ExtraConfig, ExtraProxy};

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// The workspace root (the parent of this crate's manifest dir).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The target profile dir holding the test executable (`target/debug`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/debug/deps/<test-binary>
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace_root().join("target/debug"))
}

static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Path of a workspace binary; builds it once with `cargo build -p PKG --bin BIN`
/// if it is missing (cargo only builds the binaries of the package under test).
pub fn binary(pkg: &str, bin: &str) -> Result<PathBuf> {
    let path = target_dir().join(bin);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if !path.exists() && !built.iter().any(|b| b == bin) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", pkg, "--bin", bin])
            .current_dir(workspace_root())
            .status()
            .with_context(|| format!("running cargo build for {bin}"))?;
        if !status.success() {
            bail!("cargo build -p {pkg} --bin {bin} failed: {status}");
        }
        built.push(bin.to_string());
    }
    if !path.exists() {
        bail!("binary {} not found after building", path.display());
    }
    Ok(path)
}

/// A client invocation's result.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code; None if killed by the timeout or a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Returns stdout, or an error that shows everything when the command failed.
    pub fn ok(&self) -> Result<&str> {
        if self.success() {
            Ok(&self.stdout)
        } else {
            Err(anyhow!(
                "command failed (code {:?})\nstdout:\n{}\nstderr:\n{}",
                self.code,
                self.stdout,
                self.stderr
            ))
        }
    }
}

/// Runs a child to completion with a timeout (killing it when exceeded), collecting
/// stdout and stderr.
pub fn run_with_timeout(
    mut cmd: Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
    if let Some(data) = stdin {
        use std::io::Write;
        let mut si = child.stdin.take().expect("piped stdin");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = si.write_all(&data);
        });
    }
    let mut so = child.stdout.take().expect("piped stdout");
    let mut se = child.stderr.take().expect("piped stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = so.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = se.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    Ok(Output {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
    })
}

/// A running kac-sim, killed on drop.
pub struct Sim {
    child: Child,
    dir: tempfile::TempDir,
    pub url: String,
    pub ca_file: PathBuf,
    pub admin_token: String,
    pub proxy_token: String,
    pub cluster: String,
    /// The whole ready.json (also has `userTokens`: viewer, editor, nobody).
    pub ready: Value,
}

impl Sim {
    /// Starts `kac-sim --cluster-name NAME` on a free port.
    pub fn start(cluster: &str) -> Result<Sim> {
        Sim::start_with(cluster, &[])
    }

    /// Starts kac-sim with extra arguments (e.g. `["--pods", "10000"]`).
    pub fn start_with(cluster: &str, extra: &[&str]) -> Result<Sim> {
        let bin = binary("kac-sim", "kac-sim")?;
        let dir = tempfile::Builder::new().prefix("kac-sim-").tempdir()?;
        let child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(["--cluster-name", cluster])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("spawning kac-sim")?;
        let mut sim = Sim {
            child,
            dir,
            url: String::new(),
            ca_file: PathBuf::new(),
            admin_token: String::new(),
            proxy_token: String::new(),
            cluster: cluster.to_string(),
            ready: Value::Null,
        };
        let ready_path = sim.dir.path().join("ready.json");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready_path) {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    sim.url = v["url"].as_str().unwrap_or_default().to_string();
                    sim.ca_file = PathBuf::from(v["caFile"].as_str().unwrap_or_default());
                    sim.admin_token = v["adminToken"].as_str().unwrap_or_default().to_string();
                    sim.proxy_token = v["proxyToken"].as_str().unwrap_or_default().to_string();
                    sim.ready = v;
                    return Ok(sim);
                }
            }
            if let Some(st) = sim.child.try_wait()? {
                bail!("kac-sim exited before becoming ready: {st}");
            }
            if Instant::now() > deadline {
                bail!("kac-sim not ready after 60s");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The admin kubeconfig the sim wrote.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    /// A token of a built-in identity: `admin`, `kac-proxy`, `viewer`, `editor`, `nobody`.
    pub fn user_token(&self, user: &str) -> Result<String> {
        self.ready["userTokens"][user]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no token for {user}"))
    }

    /// Writes a kubeconfig for this sim with the given bearer token (None: no
    /// credentials) and returns its path.
    pub fn kubeconfig_with(&self, name: &str, token: Option<&str>) -> Result<PathBuf> {
        let ca = std::fs::read_to_string(&self.ca_file)?;
        let ca_b64 = base64_encode(ca.as_bytes());
        let user = match token {
            Some(t) => format!("    token: {t}\n"),
            None => "    {}\n".to_string(),
        };
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority-data: {ca_b64}\nusers:\n- name: u\n  user:\n{user}contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: default\ncurrent-context: c\n",
            self.url
        );
        let path = self.dir.path().join(format!("{name}.kubeconfig"));
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// The request log (`requests.jsonl`), oldest first.
    pub fn requests(&self) -> Result<Vec<Value>> {
        let text = std::fs::read_to_string(self.dir.path().join("requests.jsonl"))?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).context("parsing request log line"))
            .collect()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Standard base64 (kubeconfig `certificate-authority-data`).
pub fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Real kubectl with its own discovery cache dir.
pub struct Kubectl {
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
    pub timeout: Duration,
    pub envs: Vec<(String, String)>,
}

impl Kubectl {
    pub fn new(kubeconfig: &Path) -> Kubectl {
        Kubectl {
            kubeconfig: kubeconfig.to_path_buf(),
            cache: tempfile::Builder::new()
                .prefix("kubectl-cache-")
                .tempdir()
                .expect("creating kubectl cache dir"),
            timeout: Duration::from_secs(60),
            envs: Vec::new(),
        }
    }

    /// The command line, ready to run or spawn.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("/usr/bin/kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .env_remove("KUBECONFIG");
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Result<Output> {
        run_with_timeout(self.command(args), None, self.timeout)
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Result<Output> {
        run_with_timeout(self.command(args), Some(stdin.as_bytes()), self.timeout)
    }

    /// Runs for at most `duration` (for `get -w`), returning what it printed.
    pub fn run_for(&self, args: &[&str], duration: Duration) -> Result<Output> {
        run_with_timeout(self.command(args), None, duration)
    }
}

/// Runs a Python script from `tests/py/` with arguments.
pub fn python(script: &str, args: &[&str], timeout: Duration) -> Result<Output> {
    let mut cmd = Command::new("python3");
    cmd.arg(workspace_root().join("tests/py").join(script))
        .args(args);
    run_with_timeout(cmd, None, timeout)
}

impl Sim {
    /// Issues a client certificate from the sim's CA (CN = user, O = groups, at most
    /// two) and writes a kubeconfig using it; returns the kubeconfig path.
    pub fn kubeconfig_with_cert(&self, name: &str, user: &str, groups: &[&str]) -> Result<PathBuf> {
        let ca = kac_pki::Ca::load_or_create(self.dir.path(), "ca")?;
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        let ck = ca.issue_client(user, &groups, Duration::from_secs(3600))?;
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: u\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: default\ncurrent-context: c\n",
            self.url,
            base64_encode(ca.cert_pem().as_bytes()),
            base64_encode(ck.cert_pem.as_bytes()),
            base64_encode(ck.key_pem.as_bytes()),
        );
        let path = self.dir.path().join(format!("{name}.kubeconfig"));
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn timeout_kills_and_reports() {
        let mut cmd = Command::new("sleep");
        cmd.arg("5");
        let out = run_with_timeout(cmd, None, Duration::from_millis(200)).unwrap();
        assert_eq!(out.code, None);
        let out = run_with_timeout(Command::new("true"), None, Duration::from_secs(5)).unwrap();
        assert!(out.success());
    }
}
