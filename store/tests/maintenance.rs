//! prune keeps the chain verifiable; the queue refuses when full (never
//! drops silently); health reflects a closed store; tail follows the log.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use kac_event::Event;
use kac_store::gen::Generator;
use kac_store::{Field, OnFull, Position, Query, Store, StoreError, StoreOptions};

fn id(e: &Event) -> String {
    match e {
        Event::Api(a) => a.id.clone(),
        Event::Session(s) => s.session_id().to_string(),
    }
}

#[test]
fn prune_drops_old_segments_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        fsync_interval: Duration::from_millis(1),
        block_max_events: 50,
        segment_max_bytes: 16 << 10,
        ..Default::default()
    };
    let now = Utc::now();
    let old_start = now - chrono::Duration::days(120);
    let st = Store::open(dir.path(), opts.clone()).unwrap();
    let w = st.writer();
    let mut old = Generator::new(1, old_start);
    let old_events: Vec<Event> = (0..1500).map(|_| old.api()).collect();
    let mut new = Generator::new(2, now - chrono::Duration::hours(1));
    let new_events: Vec<Event> = (0..1500).map(|_| new.api()).collect();
    for e in old_events.iter().chain(&new_events) {
        let s = w.append(e.clone()).unwrap();
        w.wait_durable(s).unwrap();
    }
    st.flush().unwrap();
    let before = st.stats().unwrap().streams[0].segments;
    let r = st.prune(now - chrono::Duration::days(90)).unwrap();
    assert!(!r.segments.is_empty(), "nothing pruned");
    assert!(r.events <= old_events.len() as u64);
    let v = st.verify().unwrap();
    assert!(v.ok(), "{:?}", v.errors);
    assert_eq!(
        v.streams[0].anchored_at_segment,
        Some(r.segments.len() as u64 + 1)
    );
    assert_eq!(
        st.stats().unwrap().streams[0].segments,
        before - r.segments.len() as u64
    );
    // Every new event is still found; pruned old ones are gone.
    st.flush().unwrap();
    for e in new_events.iter().step_by(97) {
        assert!(st.find(&id(e)).unwrap().is_some());
    }
    let first_old = st.find(&id(&old_events[0])).unwrap();
    assert!(first_old.is_none(), "pruned event still found");
    let remaining: usize = st.tail(Position::start()).count();
    assert_eq!(remaining as u64, 3000 - r.events);
    // The pruned segments' documents are gone from the index itself (not
    // only unreadable in the log): the index counts exactly what is left.
    let s = st.stats().unwrap();
    assert_eq!(
        (s.index_docs, s.api_events),
        (remaining as u64, remaining as u64)
    );
    st.close().unwrap();
    // Reopen and go on appending: the chain continues from the anchor.
    let st = Store::open(dir.path(), opts).unwrap();
    let s = st.writer().append(new.api()).unwrap();
    st.writer().wait_durable(s).unwrap();
    assert_eq!(s, 3001);
    let v = st.verify().unwrap();
    assert!(v.ok(), "{:?}", v.errors);
    // An old but unsealed or recent segment is never pruned.
    assert!(st
        .prune(now - chrono::Duration::days(90))
        .unwrap()
        .segments
        .is_empty());
}

#[test]
fn full_queue_refuses_instead_of_dropping() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        fsync_interval: Duration::from_secs(3600),
        queue_max_bytes: 1,
        on_full: OnFull::Refuse,
        index: false,
        ..Default::default()
    };
    let st = Store::open(dir.path(), opts).unwrap();
    let w = st.writer();
    let mut g = Generator::new(3, Utc::now());
    let s1 = w.append(g.api()).unwrap();
    // The first fsync happens at once; the next waits an hour.
    w.wait_durable(s1).unwrap();
    let s2 = w.append(g.api()).unwrap();
    assert_eq!(s2, s1 + 1);
    match w.append(g.api()) {
        Err(StoreError::QueueFull(_)) => {}
        other => panic!("expected QueueFull, got {other:?}"),
    }
    assert!(!w
        .wait_durable_timeout(s2, Duration::from_millis(50))
        .unwrap());
    assert!(w.healthy().is_ok());
    // Closing flushes what was accepted: s2 becomes durable, not dropped.
    st.close().unwrap();
    assert_eq!(w.durable(), s2);
    assert!(w.healthy().is_err());
    assert!(matches!(w.append(g.api()), Err(StoreError::Closed)));
    let st = Store::open_read_only(dir.path()).unwrap();
    assert_eq!(st.tail(Position::start()).count(), 2);
}

#[test]
fn tail_follows_new_blocks_and_second_writer_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let st = common::open(dir.path());
    assert!(matches!(
        Store::open(dir.path(), common::opts()),
        Err(StoreError::Locked { .. })
    ));
    let w = st.writer();
    let mut g = Generator::new(
        4,
        DateTime::<Utc>::from_timestamp(1_770_000_000, 0).unwrap(),
    );
    let reader = Store::open_read_only(dir.path()).unwrap();
    let mut t = reader.tail(Position::start());
    assert!(t.next().is_none());
    let a = g.api();
    w.append_durable(a.clone()).unwrap();
    let got = t.next().unwrap().unwrap().1;
    assert_eq!(got, a);
    assert!(t.next().is_none());
    let b = g.api();
    w.append_durable(b.clone()).unwrap();
    assert_eq!(t.next().unwrap().unwrap().1, b);
    // Read-only search sees committed index data after a flush.
    st.flush().unwrap();
    let q = Query::default().with(Field::Id, id(&b));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if reader.search(&q, 1).unwrap().len() == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reader never saw the commit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
