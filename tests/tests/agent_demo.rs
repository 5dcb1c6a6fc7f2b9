//! The README's main command: `kac demo` starts from a clean dir, and every
//! command it prints does what the banner says — the "Try" ones succeed,
//! the "Refused by policy" ones fail with Forbidden, and the interactive
//! ones work on a terminal (run here under `script`, which gives them one).

use std::process::Command;
use std::time::{Duration, Instant};

use kac_e2e::{binary, run_with_timeout, Demo, Output};

/// The banner's sections: (header, commands), in order.
fn sections(banner: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in banner.lines() {
        if let Some(cmd) = line.strip_prefix("  ") {
            if let Some((_, cmds)) = out.last_mut() {
                cmds.push(cmd.trim().to_string());
            }
        } else if line.ends_with(':') {
            out.push((line.to_string(), Vec::new()));
        }
    }
    out
}

fn section<'a>(all: &'a [(String, Vec<String>)], prefix: &str) -> &'a [String] {
    let s = all
        .iter()
        .find(|(h, _)| h.starts_with(prefix))
        .unwrap_or_else(|| panic!("no section {prefix:?} in {all:?}"));
    assert!(!s.1.is_empty(), "section {prefix:?} lists no command");
    &s.1
}

struct Shell {
    home: tempfile::TempDir,
}

impl Shell {
    fn command(&self, line: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(line)
            // kac login writes to KAC_HOME; keep the real home untouched.
            .env("KAC_HOME", self.home.path().join("kac"))
            .env("HOME", self.home.path())
            .env_remove("KUBECONFIG");
        cmd
    }

    fn run(&self, line: &str) -> Output {
        run_with_timeout(self.command(line), None, Duration::from_secs(90)).unwrap()
    }

    /// Under `script`, which gives the command a pseudo-terminal.
    fn run_on_tty(&self, line: &str, keys: &str) -> Output {
        let line = format!("script -qec {} /dev/null", shell_quote(line));
        run_with_timeout(
            self.command(&line),
            Some(keys.as_bytes()),
            Duration::from_secs(60),
        )
        .unwrap()
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A recorded session of david's, from `kac-audit sessions` (JSON lines
/// when piped), waiting for the store to have it.
fn david_session(demo: &Demo) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = demo.kac_audit(&["sessions", "user=david"]).unwrap();
        let id = out.ok().unwrap().lines().find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            ["sessionId", "session_id", "id"]
                .iter()
                .find_map(|k| v[k].as_str().map(str::to_owned))
        });
        if let Some(id) = id {
            return id;
        }
        assert!(Instant::now() < deadline, "no session of david's recorded");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn the_demo_starts_clean_and_every_printed_command_does_what_it_says() {
    binary("kac-audit", "kac-audit").unwrap();
    binary("kac-player", "kac-play").unwrap();
    let demo = Demo::start().expect("kac demo starts");
    let all = sections(&demo.banner);
    let shell = Shell {
        home: tempfile::Builder::new()
            .prefix("kac-demo-home-")
            .tempdir()
            .unwrap(),
    };

    let try_cmds = section(&all, "Try");
    assert!(
        try_cmds.iter().any(|c| c.contains(" login ")),
        "{try_cmds:?}"
    );
    for line in try_cmds {
        let line = if line.contains("SESSION-ID") {
            line.replace("SESSION-ID", &david_session(&demo))
        } else {
            line.clone()
        };
        let out = shell.run(&line);
        assert!(out.success(), "{line}\n{out:?}");
        if line.contains("exec ") {
            assert_eq!(out.stdout.trim(), "hello", "{line}");
        }
        if line.contains("--cat") {
            assert!(out.stdout.contains("hello"), "{line}: {out:?}");
        }
    }

    for line in section(&all, "Refused by policy") {
        let out = shell.run(line);
        assert_ne!(out.code, Some(0), "{line} should be refused");
        assert!(out.stderr.contains("Forbidden"), "{line}\n{out:?}");
    }

    let interactive = section(&all, "Interactive");
    for line in interactive {
        let line = line.replace("SESSION-ID", &david_session(&demo));
        let (keys, want) = if line.contains("exec -it") {
            ("echo tty-$((6*7))\nexit\n", "tty-42")
        } else {
            ("q", "")
        };
        let out = shell.run_on_tty(&line, keys);
        assert!(out.success(), "{line}\n{out:?}");
        assert!(out.stdout.contains(want), "{line}\n{out:?}");
    }
}
