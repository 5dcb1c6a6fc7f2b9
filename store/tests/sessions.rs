//! Recorded session output through the store: binary `session.data`
//! records (see `log::record`) come back byte for byte through every read
//! path, the log holds the bytes once (no base64), and verify passes.

mod common;

use chrono::{DateTime, Duration, Utc};
use kac_event::{ApiEvent, DataStream, Event, SessionEnd, SessionEvent, SessionStart};
use kac_store::{Position, Store};
use rand::RngCore;

fn t(i: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_770_000_000, 987_654_321).unwrap() + Duration::microseconds(i)
}

/// A session of `frames` frames of 32 KiB random bytes on stdout, with a
/// few small stdin frames, between its start and end.
fn session(id: &str, frames: usize) -> Vec<Event> {
    let mut rng = rand::thread_rng();
    let mut out = vec![Event::Session(SessionEvent::Start(Box::new(
        SessionStart {
            session_id: id.into(),
            time: t(0),
            pod: "p".into(),
            ..Default::default()
        },
    )))];
    for i in 0..frames {
        let mut data = vec![0u8; 32 << 10];
        rng.fill_bytes(&mut data);
        let (stream, data) = if i % 8 == 3 {
            (DataStream::Stdin, b"ls -l\r".to_vec())
        } else {
            (DataStream::Stdout, data)
        };
        out.push(Event::Session(SessionEvent::Data {
            session_id: id.into(),
            time: t(i as i64 * 37),
            offset_us: i as u64 * 37,
            stream,
            data,
        }));
    }
    out.push(Event::Session(SessionEvent::End(Box::new(SessionEnd {
        session_id: id.into(),
        time: t(frames as i64 * 37),
        offset_us: frames as u64 * 37,
        exit_code: Some(0),
        ..Default::default()
    }))));
    out
}

fn api(i: usize) -> Event {
    Event::Api(Box::new(ApiEvent {
        id: format!("api-{i}"),
        time: t(i as i64),
        code: 200,
        ..Default::default()
    }))
}

fn log_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn session_output_reads_back_byte_for_byte_and_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = session("0193-a", 64);
    let b = session("0193-b", 16);
    let mut all = Vec::new();
    {
        let st = common::open(dir.path());
        let w = st.writer();
        // Interleaved with API events and with each other, as a busy proxy
        // writes them.
        let (mut ai, mut bi) = (a.iter(), b.iter());
        for i in 0.. {
            let next: Vec<&Event> = [ai.next(), bi.next()].into_iter().flatten().collect();
            if next.is_empty() {
                break;
            }
            for e in next {
                w.append(e.clone()).unwrap();
                all.push(e.clone());
            }
            if i % 5 == 0 {
                w.append(api(i)).unwrap();
                all.push(api(i));
            }
        }
        st.flush().unwrap();
        for s in [&a, &b] {
            let want = common::session_events(s);
            assert_eq!(st.session(want[0].session_id()).unwrap(), want);
        }
        let report = st.verify().unwrap();
        assert!(report.ok(), "{:?}", report.errors);
        st.close().unwrap();
    }
    // 80 frames of which 70 are 32 KiB random: stored as is they take
    // ~2.2 MiB; base64 inside JSON would take a third more.
    let payload: usize = all
        .iter()
        .map(|e| match e {
            Event::Session(SessionEvent::Data { data, .. }) => data.len(),
            _ => 0,
        })
        .sum();
    let stored = log_bytes(dir.path());
    assert!(
        (stored as f64) < payload as f64 * 1.05,
        "log {stored} bytes for {payload} bytes of session output"
    );
    // Read-only, through the tail: every event, in order, unchanged.
    let st = Store::open_read_only(dir.path()).unwrap();
    let tailed: Vec<Event> = st.tail(Position::start()).map(|r| r.unwrap().1).collect();
    assert_eq!(tailed.len(), all.len());
    assert!(tailed == all, "tail differs from what was appended");
}

/// Log bytes after appending `evs` with the given zstd levels.
fn stored_size(evs: &[Event], zstd_level: i32, session_zstd_level: i32) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    // Blocks cut by size only (and at close), never by the group-commit
    // timer: with the tests' 2 ms interval, how events split into blocks
    // depended on how fast the writer compressed (level 19 is slow), and
    // small blocks compress worse, so the sizes compared different splits.
    let opts = kac_store::StoreOptions {
        zstd_level,
        session_zstd_level,
        fsync_interval: std::time::Duration::from_secs(3600),
        block_max_bytes: 16 << 20,
        block_max_events: 1 << 16,
        ..common::opts()
    };
    let st = Store::open(dir.path(), opts).unwrap();
    let w = st.writer();
    // The writer's first group commit is due at once, so how many events
    // the first block got depended on timing: make it exactly the first
    // event (the session start), and the rest one block at close.
    let first = w.append(evs[0].clone()).unwrap();
    w.wait_durable(first).unwrap();
    for e in &evs[1..] {
        w.append(e.clone()).unwrap();
    }
    st.close().unwrap();
    log_bytes(dir.path())
}

/// Blocks that are mostly session output are compressed at
/// `session_zstd_level`. (The API-block half of this check compared zstd
/// levels on near-identical generated API events, ~4 bytes per event at any
/// level, where block boundaries decided the outcome: flaky, removed.)
#[test]
fn session_blocks_use_the_session_zstd_level() {
    let text: Vec<u8> = (0..40_000)
        .flat_map(|i| format!("line {i}: {} and so on\r\n", i % 977).into_bytes())
        .collect();
    let mut text_session = session("0193-t", 0);
    let end = text_session.pop().unwrap();
    for (i, chunk) in text.chunks(32 << 10).enumerate() {
        text_session.push(Event::Session(SessionEvent::Data {
            session_id: "0193-t".into(),
            time: t(i as i64),
            offset_us: i as u64,
            stream: DataStream::Stdout,
            data: chunk.to_vec(),
        }));
    }
    text_session.push(end);
    // Level 6, not higher: zstd's levels 9-19 store this synthetic text
    // *larger* than level 1 (found here once the block split above was
    // fixed; the comparison used level 19 and was flaky only because the
    // split varied). It is zstd on this data, not the codec's minimum match
    // of 6: without it level 19 is still larger.
    let fast = stored_size(&text_session, 6, 1);
    let slow = stored_size(&text_session, 1, 6);
    assert!(
        (slow as f64) < fast as f64 * 0.9,
        "session level 6 {slow} bytes vs level 1 {fast} bytes"
    );
}

/// A refused append gives the event back whole — session bytes included,
/// though the writer moves them out of the event before it takes the queue
/// lock — so kac-proxy can log it as lost instead of losing it. Refused
/// here for each reason: queue full (`OnFull::Refuse`) and store closed.
#[test]
fn a_refused_append_gives_the_event_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let st = Store::open(
        dir.path(),
        kac_store::StoreOptions {
            index: false,
            queue_max_bytes: 1,
            on_full: kac_store::OnFull::Refuse,
            fsync_interval: std::time::Duration::from_secs(3600),
            ..Default::default()
        },
    )
    .unwrap();
    let w = st.writer();
    let evs = session("s-refused", 3);
    // The first event always fits an empty queue; the next is refused while
    // the writer, waiting for its fsync interval, holds it.
    let mut refused = Vec::new();
    for ev in evs.iter().cloned() {
        if let Err(r) = w.try_append(ev) {
            assert!(
                matches!(r.error, kac_store::StoreError::QueueFull(_)),
                "{:?}",
                r.error
            );
            refused.push(r.event);
        }
    }
    assert!(!refused.is_empty(), "nothing was refused");
    assert_eq!(refused[..], evs[evs.len() - refused.len()..]);
    assert!(refused.iter().any(|e| matches!(
        e,
        Event::Session(SessionEvent::Data { data, .. }) if !data.is_empty()
    )));
    st.close().unwrap();
    for ev in evs {
        let r = w.try_append(ev.clone()).unwrap_err();
        assert!(
            matches!(r.error, kac_store::StoreError::Closed),
            "{:?}",
            r.error
        );
        assert_eq!(r.event, ev);
    }
}

/// A block bigger than the writer keeps buffers for (one outsized session
/// frame) still reaches the indexer whole: the writer frees its oversized
/// buffer only after handing the body over, so the session's chunk
/// document and the API events of the same block are all indexed.
#[test]
fn an_outsized_block_is_indexed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let st = Store::open(
        dir.path(),
        kac_store::StoreOptions {
            block_max_bytes: 64 << 10,
            ..common::opts()
        },
    )
    .unwrap();
    let w = st.writer();
    let mut evs = session("0193-big", 0);
    let end = evs.pop().unwrap();
    let mut data = vec![0u8; 5 << 20]; // > 4 × max(block_max_bytes, 1 MiB)
    rand::thread_rng().fill_bytes(&mut data);
    evs.push(Event::Session(SessionEvent::Data {
        session_id: "0193-big".into(),
        time: t(1),
        offset_us: 1,
        stream: DataStream::Stdout,
        data,
    }));
    evs.push(end);
    for e in &evs {
        w.append(e.clone()).unwrap();
    }
    for i in 0..3 {
        w.append(api(i)).unwrap();
    }
    st.flush().unwrap();
    assert_eq!(
        st.session("0193-big").unwrap(),
        common::session_events(&evs),
        "the outsized frame's block was not indexed"
    );
    let ids = kac_store::Query::default().with(kac_store::Field::Id, "api-2");
    assert_eq!(st.search(&ids, 10).unwrap().len(), 1);
    st.close().unwrap();
}
