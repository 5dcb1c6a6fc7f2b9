//! A private rsyslogd for tests and benches (never the system service):
//! the Debian package's binary with an imtcp input, plain or TLS
//! (rsyslog-gnutls), writing every message it receives, raw, one per line.
//! Shared by kac-forward's rsyslog tests and bench and by the end-to-end
//! test of forwarders configured in kac-proxy.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Test CA, server cert and key for rsyslog's gtls driver.
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    pub fn generate(dir: &Path) -> TlsFiles {
        let ca = kac_pki::Ca::load_or_create(dir, "test-ca").expect("test CA");
        let server = ca
            .issue_server(&["localhost".into()], &["127.0.0.1".parse().unwrap()])
            .expect("server cert");
        let files = TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        };
        std::fs::write(&files.ca, ca.cert_pem()).unwrap();
        std::fs::write(&files.cert, &server.cert_pem).unwrap();
        std::fs::write(&files.key, &server.key_pem).unwrap();
        files
    }
}

/// A private rsyslogd writing every message it receives, raw, one per
/// line, to `out`. Killed on drop, even when the test fails.
pub struct Rsyslog {
    child: Option<Child>,
    dir: PathBuf,
    pub port: u16,
    pub out: PathBuf,
    conf: PathBuf,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// rsyslogd, or None when it is not installed (scripts/install-test-deps
/// installs it; a test then fails with that hint).
pub fn rsyslogd() -> Option<PathBuf> {
    ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

impl Rsyslog {
    pub fn start(dir: &Path, tls: Option<&TlsFiles>) -> Rsyslog {
        std::fs::create_dir_all(dir.join("work")).unwrap();
        let port = free_port();
        let out = dir.join("received.log");
        let conf = dir.join("rsyslog.conf");
        let tls_global = tls
            .map(|t| {
                format!(
                    "global(DefaultNetstreamDriverCAFile=\"{}\" DefaultNetstreamDriverCertFile=\"{}\" DefaultNetstreamDriverKeyFile=\"{}\")\n",
                    t.ca.display(),
                    t.cert.display(),
                    t.key.display()
                )
            })
            .unwrap_or_default();
        let driver = if tls.is_some() {
            " StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\""
        } else {
            ""
        };
        // maxMessageSize: rsyslog's default (8k) would truncate large events.
        let text = format!(
            "global(workDirectory=\"{work}\" maxMessageSize=\"64k\")\n\
             {tls_global}\
             module(load=\"imtcp\"{driver})\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\")\n\
             template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
             *.* action(type=\"omfile\" file=\"{out}\" template=\"raw\")\n",
            work = dir.join("work").display(),
            out = out.display(),
        );
        std::fs::write(&conf, text).unwrap();
        let mut r = Rsyslog {
            child: None,
            dir: dir.to_path_buf(),
            port,
            out,
            conf,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let bin = rsyslogd().expect("rsyslogd not found: run scripts/install-test-deps (Debian packages rsyslog, rsyslog-gnutls)");
        let pid = self.dir.join("rsyslogd.pid");
        let _ = std::fs::remove_file(&pid);
        let log = std::fs::File::create(self.dir.join("rsyslogd.stderr")).unwrap();
        let child = Command::new(bin)
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(&pid)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning rsyslogd");
        self.child = Some(child);
        // Ready when the port accepts.
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!(
                        "rsyslogd exited ({st}): {}",
                        std::fs::read_to_string(self.dir.join("rsyslogd.stderr"))
                            .unwrap_or_default()
                    );
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "rsyslogd did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: whatever rsyslogd had accepted but not written is lost.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait: rsyslogd drains its queue to the file first.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// The raw messages received so far (complete lines only: rsyslogd
    /// may be in the middle of writing one).
    pub fn received(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let complete = text.rfind('\n').map(|i| &text[..i]).unwrap_or("");
        complete.lines().map(str::to_string).collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.kill();
    }
}
