//! Helpers shared by the integration tests, including the brute-force
//! search oracle: an independent, naive implementation of the search
//! semantics over the generated events.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use kac_event::{Event, SessionEvent, SessionStart};
use kac_store::{Field, Query, Store, StoreOptions};

pub fn opts() -> StoreOptions {
    StoreOptions {
        fsync_interval: Duration::from_millis(2),
        block_max_events: 256,
        ..Default::default()
    }
}

pub fn open(dir: &Path) -> Store {
    Store::open(dir, opts()).expect("open store")
}

/// The session events of `evs` (all of them must be session events).
pub fn session_events(evs: &[Event]) -> Vec<SessionEvent> {
    evs.iter()
        .map(|e| match e {
            Event::Session(x) => x.clone(),
            _ => panic!("not a session event: {e:?}"),
        })
        .collect()
}

/// Lowercased alphanumeric tokens, like tantivy's default tokenizer.
pub fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty() && t.len() < 40)
        .map(|t| t.to_lowercase())
        .collect()
}

fn contains_phrase(hay: &[String], needle: &[String]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// What the oracle knows about an event: its kind, exact fields, text.
pub struct OracleDoc {
    pub kind: &'static str,
    pub fields: Vec<(Field, String)>,
    pub tags: Vec<(String, String)>,
    pub texts: Vec<Vec<String>>,
    pub time_us: i64,
}

fn from_start(st: &SessionStart, f: &mut Vec<(Field, String)>, tags: &mut Vec<(String, String)>) {
    f.push((Field::User, st.user.name.clone()));
    for g in &st.user.groups {
        f.push((Field::Group, g.clone()));
    }
    f.push((Field::Cluster, st.cluster.clone()));
    f.push((Field::Namespace, st.namespace.clone()));
    f.push((Field::Name, st.pod.clone()));
    f.push((Field::Verb, "exec".into()));
    f.push((Field::Resource, "pods".into()));
    tags.extend(st.cluster_tags.iter().map(|(k, v)| (k.clone(), v.clone())));
}

/// Oracle documents for a stream of events (None for data/resize frames).
pub fn oracle_docs(events: &[Event]) -> Vec<Option<OracleDoc>> {
    let mut starts: HashMap<String, SessionStart> = HashMap::new();
    events
        .iter()
        .map(|e| {
            let mut f = Vec::new();
            let mut tags = Vec::new();
            let mut texts = Vec::new();
            let kind = match e {
                Event::Api(a) => {
                    f.push((Field::Id, a.id.clone()));
                    f.push((Field::User, a.user.name.clone()));
                    for g in &a.user.groups {
                        f.push((Field::Group, g.clone()));
                    }
                    f.push((Field::Cluster, a.cluster.clone()));
                    f.push((Field::Verb, a.verb.clone()));
                    f.push((Field::ApiGroup, a.api_group.clone()));
                    f.push((Field::Resource, a.resource.clone()));
                    f.push((Field::Namespace, a.namespace.clone()));
                    f.push((Field::Name, a.name.clone()));
                    f.push((Field::Decision, a.decision.outcome.as_str().into()));
                    f.push((Field::Code, a.code.to_string()));
                    tags.extend(a.cluster_tags.iter().map(|(k, v)| (k.clone(), v.clone())));
                    "api"
                }
                Event::Session(s) => {
                    let sid = s.session_id().to_string();
                    f.push((Field::Session, sid.clone()));
                    match s {
                        SessionEvent::Start(st) => {
                            starts.insert(sid.clone(), (**st).clone());
                            from_start(st, &mut f, &mut tags);
                            f.push((Field::Id, sid));
                            texts.push(tokens(&st.command.join(" ")));
                            "session.start"
                        }
                        SessionEvent::Command(c) => {
                            if let Some(st) = starts.get(&sid) {
                                from_start(st, &mut f, &mut tags);
                            }
                            texts.push(tokens(&c.text));
                            "session.command"
                        }
                        SessionEvent::End(_) => {
                            if let Some(st) = starts.get(&sid) {
                                from_start(st, &mut f, &mut tags);
                            }
                            "session.end"
                        }
                        _ => return None,
                    }
                }
            };
            f.push((Field::Kind, kind.to_string()));
            Some(OracleDoc {
                kind,
                fields: f,
                tags,
                texts,
                time_us: e.time().timestamp_micros(),
            })
        })
        .collect()
}

pub fn oracle_matches(d: &OracleDoc, q: &Query) -> bool {
    q.fields
        .iter()
        .all(|(f, v)| d.fields.iter().any(|(g, w)| g == f && w == v))
        && q.tags.iter().all(|t| d.tags.contains(t))
        && q.since.is_none_or(|s| d.time_us >= s.timestamp_micros())
        && q.until.is_none_or(|u| d.time_us < u.timestamp_micros())
        && q.text.iter().all(|p| {
            let needle = tokens(p);
            d.texts.iter().any(|h| contains_phrase(h, &needle))
        })
}

/// Brute force: matching events, newest first, at most `limit`.
pub fn brute_force(
    events: &[Event],
    docs: &[Option<OracleDoc>],
    q: &Query,
    limit: usize,
) -> Vec<Event> {
    let mut m: Vec<(i64, &Event)> = events
        .iter()
        .zip(docs)
        .filter_map(|(e, d)| {
            d.as_ref()
                .filter(|d| oracle_matches(d, q))
                .map(|d| (d.time_us, e))
        })
        .collect();
    m.sort_by_key(|b| std::cmp::Reverse(b.0));
    m.into_iter().take(limit).map(|(_, e)| e.clone()).collect()
}
