//! `kac-audit export --sessions QUERY --dir OUT` against a real store: the
//! right sessions are exported, each file is the asciicast `kac-play export`
//! makes of the same session (byte for byte), nothing is overwritten
//! without `--force`, and a search that matches nothing says so.

use std::path::Path;
use std::process::Command;

use chrono::{TimeZone, Utc};
use kac_event::{Event, SessionEvent, SessionKind, SessionStart, UserInfo};
use kac_player::samples::{self, SessionBuilder};
use kac_player::{export_cast, CastFormat};
use kac_store::gen::Generator;
use kac_store::{Store, StoreOptions};

fn kac_audit(store: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kac-audit"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("KAC_STORE")
        .output()
        .expect("run kac-audit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// andrew's session on another cluster, with a multi-byte character.
fn andrew_session() -> Vec<SessionEvent> {
    let start = SessionStart {
        time: Utc.with_ymd_and_hms(2026, 3, 15, 10, 0, 0).unwrap(),
        kind: SessionKind::Exec,
        user: UserInfo {
            name: "andrew".into(),
            groups: vec!["platform".into()],
            ..Default::default()
        },
        cluster: "dev".into(),
        namespace: "default".into(),
        pod: "web-1".into(),
        container: "app".into(),
        command: vec!["sh".into()],
        tty: true,
        stdin: true,
        width: Some(80),
        height: Some(24),
        ..Default::default()
    };
    let mut b = SessionBuilder::new("0194f1c4-1111-7222-8333-444455556666", start);
    b.wait(50_000).out(b"$ ");
    b.wait(900_000).type_command("uname -a");
    b.wait(5_000).out("Linux web-1 ✓\r\n$ ".as_bytes());
    b.wait(1_000_000).type_command("exit");
    b.end(Some(0))
}

fn cast(events: &[SessionEvent], f: CastFormat) -> Vec<u8> {
    let mut out = Vec::new();
    export_cast(events, f, &mut out).unwrap();
    out
}

fn cat(events: &[SessionEvent]) -> Vec<u8> {
    let tl = kac_player::Timeline::from_events(events, None);
    let mut out = Vec::new();
    kac_player::transcript::write_cat(&tl, &mut out).unwrap();
    out
}

/// Checks the asciicast structure: a JSON header, then `[time, code, data]`.
fn check_structure(text: &str, version: u64) {
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], version, "{header}");
    let mut n = 0;
    for l in lines {
        let (t, code, _): (f64, String, String) = serde_json::from_str(l).unwrap();
        assert!(t >= 0.0, "{l}");
        assert!(["o", "i", "m", "r", "x"].contains(&code.as_str()), "{l}");
        n += 1;
    }
    assert!(n >= 3, "{text}");
}

#[test]
fn exports_matching_sessions_as_asciicast_files() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = [
        samples::shell_session(),
        samples::exec_session(),
        andrew_session(),
    ];
    {
        let st = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let w = st.writer();
        let mut g = Generator::new(7, Utc.with_ymd_and_hms(2026, 3, 14, 9, 0, 0).unwrap());
        // Sessions interleaved with each other and with API events.
        let longest = sessions.iter().map(Vec::len).max().unwrap();
        for i in 0..longest {
            for s in &sessions {
                if let Some(e) = s.get(i) {
                    w.append(Event::Session(e.clone())).unwrap();
                }
            }
            w.append(g.api()).unwrap();
        }
        st.flush().unwrap();
        st.close().unwrap();
    }
    let store = dir.path().to_path_buf();
    let out = dir.path().join("casts");
    let out_s = out.to_str().unwrap();
    let id = |s: &[SessionEvent]| s[0].session_id().to_string();

    // david's two sessions, v2 by default; andrew's is not exported.
    let (code, stdout, err) = kac_audit(
        &store,
        &["export", "--sessions", "user=david", "--dir", out_s],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("exported 2 sessions"), "{err}");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want = vec![
        format!("{}.cast", id(&sessions[0])),
        format!("{}.cast", id(&sessions[1])),
    ];
    want.sort();
    assert_eq!(names, want);
    for s in &sessions[..2] {
        let path = out.join(format!("{}.cast", id(s)));
        assert!(stdout.contains(path.to_str().unwrap()), "{stdout}");
        let bytes = std::fs::read(&path).unwrap();
        // Exactly what `kac-play export` writes for the recorded events.
        assert_eq!(bytes, cast(s, CastFormat::V2));
        let text = String::from_utf8(bytes).unwrap();
        check_structure(&text, 2);
        assert_eq!(kac_player::cast::cast_output(&text).unwrap(), cat(s));
    }

    // v3, the query split over --sessions and further arguments.
    let out3 = dir.path().join("v3");
    let (code, _, err) = kac_audit(
        &store,
        &[
            "export",
            "--format",
            "asciicast-v3",
            "--sessions",
            "user=andrew",
            "cluster=dev",
            "--dir",
            out3.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let files: Vec<_> = std::fs::read_dir(&out3).unwrap().collect();
    assert_eq!(files.len(), 1);
    let bytes = std::fs::read(out3.join(format!("{}.cast", id(&sessions[2])))).unwrap();
    assert_eq!(bytes, cast(&sessions[2], CastFormat::V3));
    check_structure(std::str::from_utf8(&bytes).unwrap(), 3);

    // Free text over typed commands finds only the session that typed it.
    let outf = dir.path().join("free");
    let (code, _, err) = kac_audit(
        &store,
        &[
            "export",
            "--sessions",
            "\"cat /etc/hostname\"",
            "--dir",
            outf.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let files: Vec<_> = std::fs::read_dir(&outf).unwrap().collect();
    assert_eq!(files.len(), 1);
    assert!(outf.join(format!("{}.cast", id(&sessions[0]))).exists());

    // Existing files are not overwritten, and nothing else is written.
    let kept = out.join(format!("{}.cast", id(&sessions[1])));
    std::fs::write(&kept, "mine").unwrap();
    std::fs::remove_file(out.join(format!("{}.cast", id(&sessions[0])))).unwrap();
    let (code, _, err) = kac_audit(
        &store,
        &["export", "--sessions", "user=david", "--dir", out_s],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("already exist") && err.contains("--force"),
        "{err}"
    );
    assert!(err.contains(kept.to_str().unwrap()), "{err}");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "mine");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
    let (code, _, err) = kac_audit(
        &store,
        &[
            "export",
            "--sessions",
            "user=david",
            "--dir",
            out_s,
            "--force",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(&kept).unwrap(),
        cast(&sessions[1], CastFormat::V2)
    );
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        2,
        "no temporary files left"
    );

    // Nothing matches: a clear message, exit code 1, no directory created.
    let none = dir.path().join("none");
    let (code, _, err) = kac_audit(
        &store,
        &[
            "export",
            "--sessions",
            "user=nobody",
            "--dir",
            none.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no sessions match") && err.contains("user=nobody"),
        "{err}"
    );
    assert!(!none.exists());

    // Wrong combinations are refused.
    let (code, _, err) = kac_audit(&store, &["export", "--format", "asciicast-v2"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--sessions"), "{err}");
    let (code, _, err) = kac_audit(&store, &["export", "--sessions", "user=david"]);
    assert_ne!(code, 0);
    assert!(err.contains("--dir"), "{err}");
}
