//! Export tests; the real asciinema CLI is exercised in `tests/asciinema.rs`.

use super::*;
use crate::samples;
use proptest::prelude::*;

fn export(events: &[SessionEvent], f: CastFormat) -> String {
    let mut buf = Vec::new();
    export_cast(events, f, &mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

fn cat(events: &[SessionEvent]) -> Vec<u8> {
    let tl = Timeline::from_events(events, None);
    let mut out = Vec::new();
    crate::transcript::write_cat(&tl, &mut out).unwrap();
    out
}

#[test]
fn v2_header_and_events() {
    let events = samples::shell_session();
    let text = export(&events, CastFormat::V2);
    let mut lines = text.lines();
    let h: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(h["version"], 2);
    assert_eq!(
        (h["width"].as_u64(), h["height"].as_u64()),
        (Some(100), Some(30))
    );
    assert_eq!(h["command"], "/bin/bash");
    assert_eq!(h["title"], "david@prod-eu/shop/web-7d9f6c-x2k4p/nginx");
    assert_eq!(h["timestamp"], 1773480413);
    let last_t = events.last().unwrap().offset_us() as f64 / 1e6;
    assert_eq!(h["duration"].as_f64(), Some(last_t));
    let evs: Vec<(f64, String, String)> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(evs.windows(2).all(|w| w[0].0 <= w[1].0), "absolute times");
    assert!(evs.iter().any(|e| e.1 == "r" && e.2 == "120x40"));
    assert!(evs.iter().any(|e| e.1 == "i" && e.2 == "q"));
    assert!(evs.iter().any(|e| e.1 == "m" && e.2 == "top"));
    assert!(!evs.iter().any(|e| e.1 == "x"));
    assert_eq!(cast_output(&text).unwrap(), cat(&events));
}

#[test]
fn v3_uses_intervals_and_ends_with_exit() {
    let events = samples::shell_session();
    let text = export(&events, CastFormat::V3);
    let mut lines = text.lines();
    let h: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(h["version"], 3);
    assert_eq!(h["term"]["cols"], 100);
    assert_eq!(h["term"]["rows"], 30);
    let evs: Vec<(f64, String, String)> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(evs.iter().all(|e| e.0 >= 0.0));
    let total: f64 = evs.iter().map(|e| e.0).sum();
    let end = events.last().unwrap().offset_us() as f64 / 1e6;
    assert!((total - end).abs() < 1e-3, "{total} vs {end}");
    assert_eq!(evs.last().unwrap().1, "x");
    assert_eq!(evs.last().unwrap().2, "3");
    assert_eq!(cast_output(&text).unwrap(), cat(&events));
}

#[test]
fn split_utf8_is_carried_and_invalid_bytes_become_replacement() {
    let mut b = samples::SessionBuilder::new("u", Default::default());
    b.out(&[0xe2, 0x9c])
        .wait(10)
        .out(&[0x93, b'!'])
        .wait(10)
        .out(b"a\xffb");
    b.wait(10).out(&[0xf0, 0x9f]);
    let events = b.end(Some(0));
    let text = export(&events, CastFormat::V2);
    let out = cast_output(&text).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "✓!a\u{fffd}b\u{fffd}");
    // The split character is written once, whole, at the frame completing it.
    assert!(text.contains(r#""o","✓!"]"#), "{text}");
}

#[test]
fn utf8_carry_keeps_streams_exact() {
    let mut c = Utf8Carry::default();
    let s = "añ✓🦀".as_bytes();
    let mut out = String::new();
    for b in s {
        out.push_str(&c.decode(std::slice::from_ref(b)));
    }
    out.push_str(&c.finish());
    assert_eq!(out, "añ✓🦀");
}

#[test]
fn format_names_parse() {
    assert_eq!(
        "asciicast-v2".parse::<CastFormat>().unwrap(),
        CastFormat::V2
    );
    assert_eq!(
        "asciicast-v3".parse::<CastFormat>().unwrap(),
        CastFormat::V3
    );
    assert!("mp4".parse::<CastFormat>().is_err());
}

proptest! {
    #[test]
    fn export_round_trips_any_output(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        fuzz_cast(&data);
    }

    #[test]
    fn export_round_trips_valid_utf8(s in "\\PC{0,80}") {
        fuzz_cast(s.as_bytes());
    }
}
