use super::*;
use kac_event::{ApiEvent, DecisionRecord, Event, Outcome, UserInfo};

fn header(bom: bool) -> Header {
    Header {
        facility: 16,
        hostname: "kac-host".into(),
        app_name: "kac".into(),
        sd_id: "kac@32473".into(),
        bom,
    }
}

fn api(user: &str, outcome: Outcome) -> Event {
    Event::Api(Box::new(ApiEvent {
        id: "0190-abc".into(),
        time: "2026-03-01T10:00:00.123456Z".parse().unwrap(),
        user: UserInfo {
            name: user.into(),
            ..Default::default()
        },
        cluster: "prod".into(),
        verb: "delete".into(),
        namespace: "web".into(),
        decision: DecisionRecord {
            outcome,
            ..Default::default()
        },
        code: 403,
        ..Default::default()
    }))
}

fn rendered(ev: &Event) -> Rendered {
    Rendered {
        id: match ev {
            Event::Api(a) => a.id.clone(),
            _ => "s".into(),
        },
        time: ev.time(),
        value: serde_json::json!({"k": "v"}).into(),
    }
}

fn message(h: &Header, ev: &Event) -> String {
    let mut out = Vec::new();
    format_message(h, &rendered(ev), &Summary::of(ev), &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn denied_request_is_a_warning_with_structured_data() {
    let ev = api("david", Outcome::Denied);
    assert_eq!(
        message(&header(false), &ev),
        "<132>1 2026-03-01T10:00:00.123456Z kac-host kac - api [kac@32473 id=\"0190-abc\" \
         user=\"david\" cluster=\"prod\" namespace=\"web\" verb=\"delete\" outcome=\"denied\"] \
         {\"k\":\"v\"}"
    );
}

#[test]
fn allowed_request_is_info_and_bom_precedes_msg() {
    let ev = api("david", Outcome::Allowed);
    let m = message(&header(true), &ev);
    // local0 (16) * 8 + info (6) = 134
    assert!(m.starts_with("<134>1 "), "{m}");
    assert!(m.ends_with("] \u{feff}{\"k\":\"v\"}"), "{m}");
}

#[test]
fn session_start_is_a_notice_and_data_frames_info() {
    let start: Event = serde_json::from_value(serde_json::json!({
        "type": "session", "event": "session.start", "session_id": "s1",
        "time": "2026-03-01T10:00:00Z", "kind": "exec",
        "user": {"name": "sam"}, "cluster": "dev", "namespace": "ns", "pod": "p"
    }))
    .unwrap();
    let m = message(&header(false), &start);
    assert!(m.starts_with("<133>1 2026-03-01T10:00:00.000000Z kac-host kac - session.start [kac@32473 id=\"s\" user=\"sam\" cluster=\"dev\" namespace=\"ns\" verb=\"exec\" session=\"s1\"]"), "{m}");
}

#[test]
fn param_values_escape_quote_backslash_and_bracket_only() {
    let mut out = Vec::new();
    escape_param_value(r#"a"b\c]d[e=f ü"#, &mut out);
    assert_eq!(String::from_utf8(out).unwrap(), r#"a\"b\\c\]d[e=f ü"#);
    // In a whole message: a hostile user name cannot end the SD element.
    let ev = api(r#"x"] [evil@1 a="b"#, Outcome::Denied);
    let m = message(&header(false), &ev);
    assert!(m.contains(r#"user="x\"\] [evil@1 a=\"b""#), "{m}");
}

#[test]
fn frames_are_octet_counted() {
    let evs = [api("a", Outcome::Allowed), api("bé", Outcome::Denied)];
    let r: Vec<Rendered> = evs.iter().map(rendered).collect();
    let meta: Vec<Summary> = evs.iter().map(Summary::of).collect();
    let mut out = Vec::new();
    frame_batch(&header(true), &r, &meta, &mut out);
    // Parse the framing back: LEN SP MSG, LEN counts octets.
    let mut rest = &out[..];
    let mut n = 0;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ').unwrap();
        let len: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().unwrap();
        let msg = &rest[sp + 1..sp + 1 + len];
        assert!(msg.starts_with(b"<13"));
        assert!(msg.ends_with(b"{\"k\":\"v\"}"));
        rest = &rest[sp + 1 + len..];
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn facilities_by_name_or_number() {
    assert_eq!(facility_code("local0"), Ok(16));
    assert_eq!(facility_code("audit"), Ok(13));
    assert_eq!(facility_code("23"), Ok(23));
    assert!(facility_code("24").is_err());
    assert!(facility_code("local8").is_err());
}

#[test]
fn config_checks_header_fields_and_address() {
    let base: SyslogConfig = serde_yaml::from_str("address: siem:6514").unwrap();
    assert!(base.validate().is_ok());
    assert_eq!(base.resend_window, 1000);
    assert!(base.bom);
    for (k, v) in [
        ("address", "siem"),
        ("address", "siem:0"),
        ("appName", "k a c"),
        ("hostname", "a b"),
        ("sdId", "kac=1"),
        ("facility", "nope"),
    ] {
        let mut c: serde_yaml::Value = serde_yaml::from_str("address: siem:6514").unwrap();
        c[k] = v.into();
        let c: SyslogConfig = serde_yaml::from_value(c).unwrap();
        assert!(c.validate().is_err(), "{k}={v} accepted");
    }
    assert_eq!(
        split_host_port("[::1]:514").unwrap(),
        ("::1".to_string(), 514)
    );
}

/// A receiver that dies is noticed, and the batch goes to the next one.
#[tokio::test]
async fn reconnects_after_the_receiver_closed() {
    use tokio::io::AsyncReadExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let cfg: SyslogConfig = serde_yaml::from_str(&format!("address: {addr}\nbom: false")).unwrap();
    let mut sink = SyslogSink::new(&cfg, Path::new(".")).unwrap();
    let ev = api("a", Outcome::Allowed);
    let r = [rendered(&ev)];
    let meta = [Summary::of(&ev)];
    sink.send_with(&r, &meta).await.unwrap();
    let (mut c1, _) = l.accept().await.unwrap();
    let mut got = vec![0u8; 64];
    let n = c1.read(&mut got).await.unwrap();
    assert!(n > 0);
    drop(c1); // the receiver goes away
    tokio::time::sleep(Duration::from_millis(50)).await;
    let e = sink.send_with(&r, &meta).await.unwrap_err();
    assert!(e.to_string().contains("closed"), "{e}");
    sink.send_with(&r, &meta).await.unwrap();
    let (mut c2, _) = l.accept().await.unwrap();
    let receiver = async move {
        let mut buf = Vec::new();
        c2.read_to_end(&mut buf).await.unwrap();
        buf // c2 dropped here: the receiver closes after reading all
    };
    let (closed, buf) = tokio::join!(sink.close(), receiver);
    closed.unwrap();
    assert!(String::from_utf8_lossy(&buf).contains("<134>1 "));
}
