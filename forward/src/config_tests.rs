use super::*;

const GOOD: &str = r#"
store: ../audit
stateDir: state
forwarders:
  - name: siem-syslog
    format: native
    filter:
      outcomes: [denied]
    batch: {maxEvents: 200, maxBytes: 256KiB, maxWait: 500ms}
    rateLimit: 5000
    cursorInterval: 250ms
    retry: {initialBackoff: 50ms, maxBackoff: 10s}
    sink:
      kind: syslog
      address: 127.0.0.1:6514
      facility: audit
      tls:
        caFile: ca.pem
  - name: all
    sink: {kind: syslog, address: "siem:514"}
"#;

fn err(text: &str) -> ConfigError {
    ForwardFile::parse("f.yaml", text).unwrap_err()
}

#[test]
fn parses_a_good_file_with_defaults() {
    let f = ForwardFile::parse("f.yaml", GOOD).unwrap();
    assert_eq!(f.forwarders.len(), 2);
    let a = &f.forwarders[0];
    assert_eq!(a.batch.max_events, 200);
    assert_eq!(a.batch.max_bytes, 256 << 10);
    assert_eq!(a.batch.max_wait, Duration::from_millis(500));
    assert_eq!(a.rate_limit, 5000);
    assert_eq!(a.retry.initial_backoff, Duration::from_millis(50));
    let SinkConfig::Syslog(s) = &a.sink else {
        panic!("syslog")
    };
    assert_eq!(s.facility, "audit");
    assert!(s.tls.is_some());
    let b = &f.forwarders[1];
    assert_eq!(b.format, Format::Native);
    assert_eq!(b.batch.max_events, 1000);
    assert_eq!(b.cursor_interval, Duration::from_secs(1));
    assert_eq!(a.cursor_interval, Duration::from_millis(250));
    assert_eq!(b.rate_limit, 0);
    assert_eq!(b.start_at, StartAt::Beginning);
}

#[test]
fn load_resolves_paths_against_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("forward.yaml");
    std::fs::write(&p, GOOD).unwrap();
    let f = ForwardFile::load(&p).unwrap();
    assert_eq!(f.state_dir, dir.path().join("state"));
    assert_eq!(f.store.unwrap(), dir.path().join("../audit"));
}

#[test]
fn unknown_fields_name_file_line_and_field() {
    let e = err("stateDir: s\nforwarders:\n  - name: a\n    sink: {kind: syslog, address: 'h:1'}\n    bacth: {}\n");
    assert_eq!(e.file, "f.yaml");
    assert_eq!(e.line, 5, "{e}");
    assert!(e.message.contains("bacth"), "{e}");
    // Inside the internally tagged sink too.
    let e = err("stateDir: s\nforwarders:\n  - name: a\n    sink:\n      kind: syslog\n      address: 'h:1'\n      adress: x\n");
    assert!(e.message.contains("adress"), "{e}");
    assert_eq!(e.line, 7, "{e}");
    let e = err("stateDir: s\nforwarders:\n  - name: a\n    sink: {kind: kafka}\n");
    assert!(e.message.contains("kafka"), "{e}");
    // A webhook needs the k8s-audit format.
    let e = err("stateDir: s\nforwarders:\n  - name: a\n    format: ecs\n    sink: {kind: webhook, url: 'https://h/x'}\n");
    assert_eq!(
        (e.field.as_str(), e.line),
        ("forwarders[0].format", 4),
        "{e}"
    );
}

#[test]
fn semantic_errors_name_the_forwarder_field() {
    let e = err("stateDir: s\nforwarders:\n  - name: a\n    sink: {kind: syslog, address: 'h:1'}\n  - name: a\n    sink: {kind: syslog, address: 'h:2'}\n");
    assert_eq!(e.field, "forwarders[1].name");
    assert!(e.message.contains("duplicate"), "{e}");
    let e =
        err("stateDir: s\nforwarders:\n  - name: ../x\n    sink: {kind: syslog, address: 'h:1'}\n");
    assert_eq!(e.field, "forwarders[0].name");
    assert_eq!(e.line, 3);
    let e = err("stateDir: s\nforwarders:\n  - name: a\n    batch: {maxEvents: 0}\n    sink: {kind: syslog, address: 'h:1'}\n");
    assert_eq!(
        (e.field.as_str(), e.line),
        ("forwarders[0].batch", 4),
        "{e}"
    );
    let e =
        err("stateDir: s\nforwarders:\n  - name: a\n    sink: {kind: syslog, address: 'nohost'}\n");
    assert_eq!(e.field, "forwarders[0].sink");
    let e = err("stateDir: s\nforwarders: []\n");
    assert!(e.message.contains("at least one"));
    let e = err("stateDir: s\nforwarders:\n  - name: a\n    batch: {maxWait: 5}\n    sink: {kind: syslog, address: 'h:1'}\n");
    assert!(e.message.contains("unit"), "{e}");
}

#[test]
fn durations_and_sizes() {
    // Durations are kac-config's (tested there); the same units as the
    // proxy config, days included.
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
    assert!(parse_duration("1w").is_err());
    assert_eq!(parse_bytes("64KiB"), Ok(65536));
    assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
    assert_eq!(parse_bytes("123"), Ok(123));
    assert!(parse_bytes("1GiB").is_err());
    assert!(parse_bytes(&format!("{}M", usize::MAX)).is_err());
}

#[test]
fn the_sample_file_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/forward.yaml");
    let f = ForwardFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!f.forwarders.is_empty());
}

#[test]
fn fuzz_entry_never_panics_on_odd_input() {
    for t in [
        &b""[..],
        b"\xff\xfe",
        b"forwarders: [{name: a, sink: {kind: syslog, address: ':'}}]\nstateDir: x",
        b"stateDir: [1]\n",
        b"forwarders:\n  - name: \"\\u0000\"\n    sink: {kind: syslog, address: 'h:1'}\nstateDir: s",
        GOOD.as_bytes(),
    ] {
        fuzz_config(t);
    }
    assert!(fuzz_config(GOOD.as_bytes()));
}
