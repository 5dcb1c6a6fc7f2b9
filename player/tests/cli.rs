//! The `kac-play` binary's non-interactive modes, from a file and from the
//! audit store (what the proxy end-to-end test relies on: `--store` + `--cat`).

use std::path::PathBuf;
use std::process::Command;

use kac_event::Event;
use kac_player::samples;
use kac_store::{Store, StoreOptions};

fn kac_play(args: &[&str]) -> (bool, Vec<u8>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kac-play"))
        .args(args)
        .env_remove("KAC_STORE")
        .output()
        .expect("run kac-play");
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn recorded_output(events: &[kac_event::SessionEvent]) -> Vec<u8> {
    let tl = kac_player::Timeline::from_events(events, None);
    let mut out = Vec::new();
    kac_player::transcript::write_cat(&tl, &mut out).unwrap();
    out
}

#[test]
fn cat_text_stdin_and_export_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let events = samples::shell_session();
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let w = store.writer();
        for (a, b) in events.iter().zip(samples::exec_session().iter().cycle()) {
            w.append(Event::Session(a.clone())).unwrap();
            w.append(Event::Session(b.clone())).unwrap();
        }
        store.flush().unwrap();
        store.close().unwrap();
    }
    let store = dir.path().to_str().unwrap();
    let id = events[0].session_id();

    let (ok, out, err) = kac_play(&[id, "--store", store, "--cat"]);
    assert!(ok, "{err}");
    assert_eq!(out, recorded_output(&events));

    let (ok, out, err) = kac_play(&[id, "--store", store, "--text"]);
    assert!(ok, "{err}");
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("# cat /etc/hostname /nonexistent\nweb-7d9f6c-x2k4p\n"),
        "{text}"
    );
    assert!(!text.contains('\x1b'));

    let (ok, out, err) = kac_play(&[id, "--store", store, "--stdin"]);
    assert!(ok, "{err}");
    assert!(String::from_utf8(out).unwrap().contains("] $ exit 3\n"));

    let cast = dir.path().join("s.cast");
    let (ok, _, err) = kac_play(&[
        "export",
        id,
        "--store",
        store,
        "--format",
        "asciicast-v3",
        "-o",
        cast.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&cast).unwrap();
    assert_eq!(
        kac_player::cast::cast_output(&text).unwrap(),
        recorded_output(&events)
    );

    let (ok, _, err) = kac_play(&["no-such-session", "--store", store, "--cat"]);
    assert!(!ok);
    assert!(err.contains("no-such-session"), "{err}");
}

#[test]
fn file_source_and_argument_errors() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/sessions/exec.jsonl");
    let (ok, out, err) = kac_play(&["--file", file.to_str().unwrap(), "--cat"]);
    assert!(ok, "{err}");
    assert_eq!(out, recorded_output(&samples::exec_session()));
    let (ok, _, err) = kac_play(&["--cat"]);
    assert!(!ok);
    assert!(err.contains("--store"), "{err}");
    let (ok, _, err) = kac_play(&["--file", file.to_str().unwrap(), "-i", "-1", "--cat"]);
    assert!(!ok, "{err}");
}
