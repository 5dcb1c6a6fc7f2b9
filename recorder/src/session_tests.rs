use super::*;
use crate::channel::{decode, MessageKind, Protocol};
use kac_event::UserInfo;

fn meta(command: &[&str], tty: bool) -> SessionStart {
    SessionStart {
        session_id: "s1".into(),
        time: "2026-01-01T00:00:00Z".parse().unwrap(),
        kind: SessionKind::Exec,
        user: UserInfo {
            name: "david".into(),
            ..Default::default()
        },
        cluster: "prod".into(),
        namespace: "ns".into(),
        pod: "p".into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        tty,
        stdin: true,
        ..Default::default()
    }
}

fn frame(bytes: &[u8]) -> Frame {
    decode(Protocol::V5, MessageKind::Binary, bytes).unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn interactive_tty_session() {
    let mut r = SessionRecorder::new(meta(&["sh"], true));
    let start = r.start_events();
    assert_eq!(start.len(), 1, "no argv command for a tty session");
    assert!(r.on_server(&frame(&[1]), ms(1)).is_empty(), "empty stdout");
    let ev = r.on_client(&frame(b"\x04{\"Width\":100,\"Height\":30}"), ms(2));
    match &ev[..] {
        [SessionEvent::Resize {
            width: 100,
            height: 30,
            offset_us: 2000,
            ..
        }] => {}
        other => panic!("{other:?}"),
    }
    let mut cmds = Vec::new();
    for (i, b) in b"ls\r".iter().enumerate() {
        for e in r.on_client(&frame(&[0, *b]), ms(10 + i as u64)) {
            if let SessionEvent::Command(c) = e {
                cmds.push(c);
            }
        }
    }
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0].text, "ls");
    assert_eq!(cmds[0].offset_us, 10_000);
    assert_eq!(cmds[0].time.to_rfc3339(), "2026-01-01T00:00:00.010+00:00");
    let out = r.on_server(&frame(b"\x01file1\r\n"), ms(20));
    match &out[..] {
        [SessionEvent::Data {
            stream: DataStream::Stdout,
            data,
            offset_us: 20_000,
            ..
        }] => assert_eq!(data, b"file1\r\n"),
        other => panic!("{other:?}"),
    }
    r.on_server(
        &frame(
            b"\x03{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"3\"}]}}",
        ),
        ms(30),
    );
    r.on_client(&frame(b"\x00exi"), ms(31));
    let end = r.finish(None, ms(40));
    assert_eq!(end.len(), 2, "unfinished line, then end: {end:?}");
    match &end[..] {
        [SessionEvent::Command(c), SessionEvent::End(e)] => {
            assert!(c.uncertain);
            assert_eq!(e.exit_code, Some(3));
            assert_eq!(e.error, None);
            assert_eq!(e.bytes_stdin, 6);
            assert_eq!(e.bytes_stdout, 7);
            assert_eq!(e.offset_us, 40_000);
            assert_eq!(e.user, "david");
        }
        other => panic!("{other:?}"),
    }
    assert!(r.finish(None, ms(50)).is_empty());
}

#[test]
fn non_tty_exec_records_argv_and_stderr() {
    let mut r = SessionRecorder::new(meta(&["sh", "-c", "echo hi; exit 0"], false));
    match &r.start_events()[..] {
        [SessionEvent::Start(s), SessionEvent::Command(c)] => {
            assert_eq!(s.session_id, "s1");
            assert_eq!(c.text, "sh -c 'echo hi; exit 0'");
        }
        other => panic!("{other:?}"),
    }
    r.on_server(&frame(b"\x02oops"), ms(1));
    r.on_server(
        &frame(b"\x03{\"metadata\":{},\"status\":\"Success\"}"),
        ms(2),
    );
    let end = r.finish(None, ms(3));
    match &end[..] {
        [SessionEvent::End(e)] => {
            assert_eq!(e.exit_code, Some(0));
            assert_eq!(e.bytes_stderr, 4);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn piped_shell_stdin_lines_are_commands() {
    let mut r = SessionRecorder::new(meta(&["sh"], false));
    let ev = r.on_client(&frame(b"\x00echo one\nech"), ms(1));
    let texts: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Command(c) => Some(c.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, vec!["echo one".to_string()]);
    // Not a shell: stdin is data only.
    let mut r = SessionRecorder::new(meta(&["cat"], false));
    let ev = r.on_client(&frame(b"\x00echo one\n"), ms(1));
    assert_eq!(ev.len(), 1);
}

#[test]
fn status_failure_becomes_error() {
    let mut r = SessionRecorder::new(meta(&["nope"], false));
    r.on_server(
        &frame(b"\x03{\"status\":\"Failure\",\"message\":\"executable not found\"}"),
        ms(1),
    );
    match &r.finish(None, ms(2))[..] {
        [SessionEvent::End(e)] => {
            assert_eq!(e.exit_code, None);
            assert_eq!(e.error.as_deref(), Some("executable not found"));
        }
        other => panic!("{other:?}"),
    }
    // An explicit relay error wins.
    let mut r = SessionRecorder::new(meta(&["x"], false));
    match &r.finish(Some("upstream reset".into()), ms(2))[..] {
        [SessionEvent::End(e)] => assert_eq!(e.error.as_deref(), Some("upstream reset")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn kubectl_cp_download_collects_names() {
    let mut b = ::tar::Builder::new(Vec::new());
    for name in ["tmp/a.txt", "tmp/b.txt"] {
        let mut h = ::tar::Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o644);
        b.append_data(&mut h, name, &b"data"[..]).unwrap();
    }
    let archive = b.into_inner().unwrap();
    let mut r = SessionRecorder::new(meta(&["tar", "cf", "-", "/tmp"], false));
    assert_eq!(
        r.meta().transfer.as_ref().map(|t| t.direction.as_str()),
        Some("download")
    );
    for chunk in archive.chunks(300) {
        let mut f = vec![1u8];
        f.extend_from_slice(chunk);
        r.on_server(&frame(&f), ms(1));
    }
    match &r.finish(None, ms(2))[..] {
        [SessionEvent::End(e)] => {
            let t = e.transfer.as_ref().unwrap();
            assert_eq!(t.files, vec!["tmp/a.txt", "tmp/b.txt"]);
            assert_eq!(e.bytes_stdout, archive.len() as u64);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn offsets_are_monotonic() {
    let mut r = SessionRecorder::new(meta(&["sh"], true));
    r.on_server(&frame(b"\x01a"), ms(10));
    let ev = r.on_server(&frame(b"\x01b"), ms(5));
    assert_eq!(ev[0].offset_us(), 10_000);
}

#[test]
fn shell_join_quotes() {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(shell_join(&v(&["ls", "-la", "/tmp"])), "ls -la /tmp");
    assert_eq!(shell_join(&v(&["echo", "it's"])), r"echo 'it'\''s'");
    assert_eq!(shell_join(&v(&[""])), "''");
}
