//! Drives the real `kac-play` TUI in tmux: send keys, capture the pane,
//! assert on what is shown. Needs tmux (scripts/install-test-deps).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../samples/sessions")
        .join(name)
}

struct Tmux {
    name: String,
}

impl Tmux {
    fn start(args: &str) -> Tmux {
        let name = format!("kacplay-{}-{}", std::process::id(), rand_suffix());
        let cmd = format!(
            "{} {args}; echo KAC-PLAY-EXITED $?; sleep 30",
            env!("CARGO_BIN_EXE_kac-play")
        );
        let st = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                "130",
                "-y",
                "45",
                &cmd,
            ])
            .env_remove("TMUX")
            .status()
            .expect("tmux must be installed (scripts/install-test-deps)");
        assert!(st.success(), "tmux new-session failed");
        Tmux { name }
    }

    fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let st = Command::new("tmux")
                .args(["send-keys", "-t", &self.name, k])
                .status()
                .expect("tmux send-keys");
            assert!(st.success());
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Waits until the pane satisfies `pred`, or fails with the pane shown.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let pane = self.capture();
            if pred(&pane) {
                return pane;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; pane:\n{pane}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

/// The line of the timeline bar: `MM:SS.mmm / MM:SS.mmm`.
fn position(pane: &str) -> String {
    pane.lines()
        .find_map(|l| {
            let i = l.find(" / ")?;
            Some(l[i.saturating_sub(9)..i].trim().to_string())
        })
        .unwrap_or_else(|| panic!("no timeline in pane:\n{pane}"))
}

#[test]
fn header_screen_markers_seek_search_and_quit() {
    let t = Tmux::start(&format!(
        "--file {} --paused",
        fixture("shell.jsonl").display()
    ));
    // The whole first frame, header to status line: tmux can capture the
    // pane while the terminal is still drawing it (a CI run saw only the
    // header rows).
    let pane = t.wait_for("the first frame", |p| {
        p.contains("pod web-7d9f6c-x2k4p") && p.contains("paused")
    });
    for want in [
        "user david",
        "cluster prod-eu",
        "namespace shop",
        "container nginx",
        "command /bin/bash",
        "start 2026-03-14 09:26:53 UTC",
        "exit 3",
        "paused",
        "100×30",
    ] {
        assert!(pane.contains(want), "missing {want:?}:\n{pane}");
    }
    assert_eq!(position(&pane), "00:00.000");
    assert!(!pane.contains("ls --color"), "nothing played yet:\n{pane}");

    // `]` jumps to the first typed command: it is on screen, still paused.
    t.keys(&["]"]);
    let pane = t.wait_for("first command", |p| p.contains("# ls --color=auto"));
    assert!(pane.contains("paused"), "{pane}");
    assert!(
        !pane.contains("entrypoint.sh"),
        "output not yet shown:\n{pane}"
    );
    assert_eq!(position(&pane), "00:03.316");

    // `.` steps one frame at a time until the ls output appears.
    for _ in 0..3 {
        t.keys(&["."]);
    }
    let pane = t.wait_for("ls output", |p| p.contains("entrypoint.sh"));
    assert!(pane.contains("paused"), "{pane}");

    // Seek forward 5 s twice, then back: screen content follows.
    t.keys(&["Right", "Right"]);
    let pane = t.wait_for("echo output", |p| {
        p.contains("héllo wörld ✓\n") || p.contains("# cat /etc/hostname")
    });
    let pos = position(&pane);
    t.keys(&["Left", "Left", "Left"]);
    let pane = t.wait_for("seek back", |p| position(p) != pos);
    assert!(
        !pane.contains("entrypoint.sh"),
        "seeking back restores the screen:\n{pane}"
    );

    // Search jumps to the match.
    t.keys(&["/", "nonexistent: No", "Enter"]);
    let pane = t.wait_for("search hit", |p| p.contains("No such file or directory"));
    assert!(pane.contains("found"), "{pane}");

    // Input overlay.
    t.keys(&["i"]);
    let pane = t.wait_for("input overlay", |p| p.contains("typed input"));
    assert!(pane.contains("$ cat /etc/hostname /nonexistent"), "{pane}");

    // `]` into `top`, which runs on the alternate screen.
    t.keys(&["i", "]", "Right"]);
    let pane = t.wait_for("top", |p| p.contains("PID USER"));
    assert!(!pane.contains("entrypoint.sh"), "alternate screen:\n{pane}");

    t.keys(&["q"]);
    t.wait_for("exit", |p| p.contains("KAC-PLAY-EXITED 0"));
}

#[test]
fn plays_to_the_end_with_idle_limit_and_speed() {
    let t = Tmux::start(&format!(
        "--file {} -i 0.5 --speed 16",
        fixture("shell.jsonl").display()
    ));
    let pane = t.wait_for("the end", |p| p.contains("ended"));
    assert!(pane.contains("16×"), "{pane}");
    assert!(pane.contains("idle limit 0.5s"), "{pane}");
    // The final screen after `top` exits and the resize: the shell again.
    assert!(pane.contains("# exit 3"), "{pane}");
    assert!(pane.contains("120×40"), "{pane}");
    t.keys(&["q"]);
    t.wait_for("exit", |p| p.contains("KAC-PLAY-EXITED 0"));
}

#[test]
fn follow_shows_a_live_session_as_it_is_appended() {
    let text = std::fs::read_to_string(fixture("shell.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Cut right after the `cat` command's stderr line was recorded.
    let cut = lines
        .iter()
        .position(|l| l.contains("\"stream\":\"stderr\""))
        .expect("fixture has stderr")
        + 1;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.jsonl");
    std::fs::write(&path, lines[..cut].join("\n") + "\n").unwrap();
    let t = Tmux::start(&format!("--file {} --follow --speed 16", path.display()));
    let pane = t.wait_for("live output", |p| p.contains("No such file or directory"));
    assert!(pane.contains("(live)"), "{pane}");
    assert!(pane.contains("exit running"), "{pane}");
    assert!(!pane.contains("# exit 3"), "{pane}");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let pane = t.wait_for("the rest", |p| {
        p.contains("# exit 3") && p.contains("exit 3 ")
    });
    assert!(pane.contains("(live: ended)"), "{pane}");
    t.keys(&["q"]);
    t.wait_for("exit", |p| p.contains("KAC-PLAY-EXITED 0"));
}
