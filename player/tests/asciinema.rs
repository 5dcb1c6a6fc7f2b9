//! `kac-play export` files are accepted by the real asciinema CLI, and
//! `asciinema cat` of an export equals `kac-play --cat` byte for byte.
//!
//! asciinema 2.x (PyPI) reads asciicast v2 only; 3.x (crates.io) reads v2
//! and v3. The test installs 2.x from PyPI when no asciinema is on PATH
//! (as scripts/install-test-deps does) and checks every format the
//! installed version supports.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../samples/sessions")
        .join(name)
}

fn asciinema_major() -> u32 {
    let version = || Command::new("asciinema").arg("--version").output();
    let out = match version() {
        Ok(o) if o.status.success() => o,
        _ => {
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
            version().expect("asciinema on PATH after pip install")
        }
    };
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let v = text
        .split_whitespace()
        .find_map(|w| {
            w.trim_start_matches('v')
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .unwrap_or_else(|| panic!("cannot read asciinema version from {text:?}"));
    assert!(v >= 2, "asciinema {text}");
    v
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

fn asciinema_cat(file: &Path) -> Vec<u8> {
    let out = Command::new("asciinema")
        .arg("cat")
        .arg(file)
        .output()
        .expect("run asciinema cat");
    assert!(
        out.status.success(),
        "asciinema cat {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn asciinema_cat_of_exports_equals_the_recorded_output() {
    let major = asciinema_major();
    let formats: &[&str] = if major >= 3 {
        &["asciicast-v2", "asciicast-v3"]
    } else {
        &["asciicast-v2"]
    };
    let dir = tempfile::tempdir().unwrap();
    for name in ["shell.jsonl", "exec.jsonl"] {
        let file = fixture(name);
        let file = file.to_str().unwrap();
        let raw = kac_play(&["--file", file, "--cat"]);
        assert!(raw.len() > 100, "{name}: {} bytes", raw.len());
        for format in formats {
            let cast = dir.path().join(format!("{name}.{format}.cast"));
            kac_play(&[
                "export",
                "--file",
                file,
                "--format",
                format,
                "-o",
                cast.to_str().unwrap(),
            ]);
            let shown = asciinema_cat(&cast);
            assert!(
                shown == raw,
                "{name} {format}: asciinema cat differs from --cat ({} vs {} bytes)",
                shown.len(),
                raw.len()
            );
        }
    }
}
