//! Search results match a brute-force scan of generated data, and a
//! reindexed (or rebuilt-from-scratch) index answers exactly the same.

mod common;

use chrono::{DateTime, Duration, Utc};
use kac_event::{Event, SessionEvent};
use kac_store::gen::Generator;
use kac_store::{Field, Query};
use rand::{Rng, SeedableRng};

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-10T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn queries(events: &[Event], seed: u64) -> Vec<Query> {
    let now = start() + Duration::hours(2);
    let mut v: Vec<Query> = [
        "user=david",
        "user=alice verb=delete",
        "decision=denied",
        "code=404 resource=secrets",
        "tag:ClusterType=prod verb=exec",
        "tag:ClusterType=staging tag:Region=eu-west-1 decision=denied",
        "\"rm -rf\"",
        "user=david \"rm -rf\"",
        "kind=session.start",
        "kind=session.end",
        "apigroup=apps ns=payments",
        "group=ops verb=patch",
        "cat",
        "\"cat /etc/passwd\" tag:ClusterType=dev",
        "user=nobody-like-this",
        "since=2026-01-10T08:00:10Z until=2026-01-10T08:00:20Z",
        "verb=list since=2026-01-10T08:00:30Z",
        "name=does-not-exist",
    ]
    .iter()
    .map(|s| Query::parse(s, now).unwrap())
    .collect();
    // Random exact values taken from the data itself.
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for _ in 0..25 {
        let e = &events[rng.gen_range(0..events.len())];
        let mut q = Query::default();
        match e {
            Event::Api(a) => {
                q = q.with(Field::User, &a.user.name);
                if rng.gen_bool(0.5) {
                    q = q.with(Field::Cluster, &a.cluster);
                }
                if rng.gen_bool(0.3) {
                    q = q.with(Field::Namespace, &a.namespace);
                }
                if rng.gen_bool(0.2) {
                    q = q.with(Field::Id, &a.id);
                }
                if rng.gen_bool(0.3) {
                    q.since = Some(a.time - Duration::seconds(5));
                    q.until = Some(a.time + Duration::seconds(5));
                }
            }
            Event::Session(s) => q = q.with(Field::Session, s.session_id()),
        }
        v.push(q);
    }
    v
}

#[test]
fn search_matches_brute_force_and_reindex_answers_the_same() {
    brute_force_then_reindex(common::opts(), 30_000);
}

/// The indexer always behind: every block is indexed by reading it back
/// from the log instead of from the appended events.
#[test]
fn an_index_that_lags_reads_blocks_back_from_the_log() {
    let opts = kac_store::StoreOptions {
        index_backlog_events: 0,
        ..common::opts()
    };
    brute_force_then_reindex(opts, 8_000);
}

/// An index written with another schema (an older version) is rebuilt from
/// the log when the store is opened for writing.
#[test]
fn an_index_with_an_old_schema_is_rebuilt_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let events = Generator::new(9, start()).mixed(3_000, 100);
    {
        let st = common::open(dir.path());
        let w = st.writer();
        for e in &events {
            w.append(e.clone()).unwrap();
        }
        st.close().unwrap();
    }
    let idx = dir.path().join("index");
    std::fs::remove_dir_all(&idx).unwrap();
    std::fs::create_dir(&idx).unwrap();
    let mut b = tantivy::schema::Schema::builder();
    b.add_text_field("ptr", tantivy::schema::STORED);
    tantivy::Index::create_in_dir(&idx, b.build()).unwrap();
    let err = kac_store::Store::open_read_only(dir.path()).err().unwrap();
    assert!(err.to_string().contains("reindex"), "{err}");
    let st = common::open(dir.path());
    let docs = common::oracle_docs(&events);
    let q = Query::default().with(kac_store::Field::User, "david");
    let want = common::brute_force(&events, &docs, &q, 100_000);
    assert!(!want.is_empty());
    let got: Vec<Event> = st
        .search(&q, 100_000)
        .unwrap()
        .into_iter()
        .map(|h| h.event)
        .collect();
    assert!(got == want);
}

fn brute_force_then_reindex(opts: kac_store::StoreOptions, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = Generator::new(7, start());
    let events = g.mixed(n, 60);
    let st = kac_store::Store::open(dir.path(), opts).unwrap();
    let w = st.writer();
    for e in &events {
        w.append(e.clone()).unwrap();
    }
    st.flush().unwrap();
    let docs = common::oracle_docs(&events);
    let qs = queries(&events, 3);
    let mut answers = Vec::new();
    let mut nonempty = 0;
    for q in &qs {
        for limit in [10, 100_000] {
            let got: Vec<Event> = st
                .search(q, limit)
                .unwrap()
                .into_iter()
                .map(|h| h.event)
                .collect();
            let want = common::brute_force(&events, &docs, q, limit);
            if got.len() != want.len() {
                for e in got.iter().filter(|e| !want.contains(e)).take(3) {
                    eprintln!("extra: {}", serde_json::to_string(e).unwrap());
                }
                for e in want.iter().filter(|e| !got.contains(e)).take(3) {
                    eprintln!("missing: {}", serde_json::to_string(e).unwrap());
                }
            }
            assert_eq!(got.len(), want.len(), "{q:?} limit {limit}");
            if got != want {
                for (a, b) in got.iter().zip(&want) {
                    eprintln!(
                        "got {} {:?} want {} {:?}",
                        a.time(),
                        a.user(),
                        b.time(),
                        b.user()
                    );
                }
            }
            assert!(got == want, "{q:?} limit {limit}: results differ");
            if !got.is_empty() {
                nonempty += 1;
            }
            answers.push(got);
        }
    }
    assert!(
        nonempty >= 30,
        "queries too selective to test anything: {nonempty}"
    );

    // Reindex in place.
    let n = st.reindex(&|_, _| {}).unwrap();
    assert_eq!(n, events.len() as u64);
    let mut i = 0;
    for q in &qs {
        for limit in [10, 100_000] {
            let got: Vec<Event> = st
                .search(q, limit)
                .unwrap()
                .into_iter()
                .map(|h| h.event)
                .collect();
            assert!(got == answers[i], "after reindex: {q:?}");
            i += 1;
        }
    }
    st.close().unwrap();

    // Rebuilt from scratch by recovery (index directory deleted).
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let st = common::open(dir.path());
    let mut i = 0;
    for q in &qs {
        for limit in [10, 100_000] {
            let got: Vec<Event> = st
                .search(q, limit)
                .unwrap()
                .into_iter()
                .map(|h| h.event)
                .collect();
            assert!(got == answers[i], "after rebuild: {q:?}");
            i += 1;
        }
    }
}

#[test]
fn sessions_are_reassembled_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = Generator::new(11, start());
    let st = common::open(dir.path());
    let w = st.writer();
    let mut sessions = Vec::new();
    for i in 0..40 {
        for _ in 0..300 {
            w.append(g.api()).unwrap();
        }
        let s = g.session(1 + i % 4);
        sessions.push(s.clone());
        for e in s {
            w.append(e).unwrap();
        }
    }
    st.flush().unwrap();
    for s in &sessions {
        let Event::Session(first) = &s[0] else {
            panic!()
        };
        let got = st.session(first.session_id()).unwrap();
        assert_eq!(got, common::session_events(s));
    }
    // `sessions user=X` lists exactly that user's sessions, newest first.
    let Event::Session(SessionEvent::Start(st0)) = &sessions[5][0] else {
        panic!()
    };
    let user = st0.user.name.clone();
    let q = Query::default().with(Field::User, &user);
    let listed = st.sessions(&q, 100).unwrap();
    let want: Vec<String> = sessions
        .iter()
        .rev()
        .filter_map(|s| match &s[0] {
            Event::Session(SessionEvent::Start(x)) if x.user.name == user => {
                Some(x.session_id.clone())
            }
            _ => None,
        })
        .collect();
    let got: Vec<String> = listed.iter().map(|s| s.session_id.clone()).collect();
    assert_eq!(got, want);
    assert!(listed
        .iter()
        .all(|s| s.exit_code.is_some() && s.end.is_some()));
    // Show by id: an API event.
    let hit = st.search(&Query::default(), 1).unwrap();
    assert_eq!(hit.len(), 1);
}
