//! `kac-play export` files are accepted by the real asciinema CLI, and the
//! output asciinema replays from an export equals `kac-play --cat` byte for
//! byte.
//!
//! asciinema 2.x (PyPI) reads asciicast v2 only; 3.x (crates.io) reads v2
//! and v3. The test installs 2.x from PyPI when no asciinema is on PATH
//! (as scripts/install-test-deps does) and checks every format each
//! available version supports; set `KAC_ASCIINEMA` to a 3.x binary to check
//! v3 with the real tool too.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../samples/sessions")
        .join(name)
}

/// The asciinema binaries to check: `asciinema` on PATH (2.x installed
/// from PyPI when there is none) and `$KAC_ASCIINEMA` if set (e.g. a 3.x
/// from `cargo install asciinema`).
fn asciinema_bins() -> Vec<(String, u32)> {
    let version = |bin: &str| {
        let out = Command::new(bin).arg("--version").output().ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        text.split_whitespace().find_map(|w| {
            w.trim_start_matches('v')
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        })
    };
    if version("asciinema").is_none() {
        let st = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("asciinema>=2.4,<3")
            .status()
            .expect("python3 -m pip");
        assert!(st.success(), "installing asciinema from PyPI failed");
    }
    let mut bins = vec![(
        "asciinema".to_string(),
        version("asciinema").expect("asciinema on PATH after pip install"),
    )];
    if let Ok(extra) = std::env::var("KAC_ASCIINEMA") {
        let v = version(&extra).unwrap_or_else(|| panic!("KAC_ASCIINEMA={extra} does not run"));
        bins.push((extra, v));
    }
    for (bin, v) in &bins {
        assert!(*v >= 2, "{bin} version {v}");
    }
    bins
}

fn kac_play(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_kac-play"))
        .args(args)
        .output()
        .expect("run kac-play");
    assert!(
        out.status.success(),
        "kac-play {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The terminal output asciinema replays from a file: `asciinema cat` in
/// 2.x; in 3.x `cat` concatenates recordings and `convert -f raw` prints
/// the output, prefixed with the initial size as `ESC [ 8 ; rows ; cols t`.
fn asciinema_output(bin: &str, major: u32, file: &Path) -> Vec<u8> {
    let mut cmd = Command::new(bin);
    if major >= 3 {
        cmd.args(["convert", "-f", "raw"]).arg(file).arg("-");
    } else {
        cmd.arg("cat").arg(file);
    }
    let out = cmd.output().expect("run asciinema");
    assert!(
        out.status.success(),
        "{bin} on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn asciinema_replays_exports_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    for (bin, major) in asciinema_bins() {
        let formats: &[&str] = if major >= 3 {
            &["asciicast-v2", "asciicast-v3"]
        } else {
            &["asciicast-v2"]
        };
        for (name, size) in [("shell.jsonl", "30;100"), ("exec.jsonl", "24;80")] {
            let file = fixture(name);
            let file = file.to_str().unwrap();
            let raw = kac_play(&["--file", file, "--cat"]);
            assert!(raw.len() > 100, "{name}: {} bytes", raw.len());
            let mut expected = Vec::new();
            if major >= 3 {
                expected.extend_from_slice(format!("\x1b[8;{size}t").as_bytes());
            }
            expected.extend_from_slice(&raw);
            for format in formats {
                let cast = dir.path().join(format!("{name}.{major}.{format}.cast"));
                kac_play(&[
                    "export",
                    "--file",
                    file,
                    "--format",
                    format,
                    "-o",
                    cast.to_str().unwrap(),
                ]);
                let shown = asciinema_output(&bin, major, &cast);
                assert!(
                    shown == expected,
                    "{bin} ({major}.x) {name} {format}: replayed output differs from --cat \
                     ({} vs {} bytes)",
                    shown.len(),
                    expected.len()
                );
            }
        }
    }
}
