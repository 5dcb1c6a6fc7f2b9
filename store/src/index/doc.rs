//! Event → index document mapping, as plain data (no tantivy types), so the
//! mapping can be unit-tested and the brute-force test oracle can be checked
//! against it independently.
//!
//! One document per API event and per session start, command and end.
//! Session data and resize frames are far too many to index one by one: a
//! block gets one `chunk` document per session that has frames in it, so
//! `Store::session` finds all of a session's blocks with one term query.

use std::collections::{BTreeMap, HashMap};

use kac_event::{Event, SessionEvent, SessionKind};

use crate::log::Pointer;
use crate::query::Field;

pub const KIND_API: &str = "api";
pub const KIND_START: &str = "session.start";
pub const KIND_COMMAND: &str = "session.command";
pub const KIND_END: &str = "session.end";
pub const KIND_CHUNK: &str = "chunk";

/// What gets indexed for one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocSpec {
    pub kind: &'static str,
    pub fields: Vec<(Field, String)>,
    pub tags: Vec<String>,
    pub time_us: i64,
    /// Free text (typed commands).
    pub text: Vec<String>,
    pub ptr: Pointer,
}

/// The metadata of an open session, copied onto its command and end docs so
/// `user=david "rm -rf"` finds the command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionCtx {
    pub user: String,
    pub groups: Vec<String>,
    pub cluster: String,
    pub tags: BTreeMap<String, String>,
    pub namespace: String,
    pub pod: String,
    pub verb: String,
}

impl SessionCtx {
    pub fn from_start(s: &kac_event::SessionStart) -> Self {
        SessionCtx {
            user: s.user.name.clone(),
            groups: s.user.groups.clone(),
            cluster: s.cluster.clone(),
            tags: s.cluster_tags.clone(),
            namespace: s.namespace.clone(),
            pod: s.pod.clone(),
            verb: session_verb(s.kind).to_string(),
        }
    }
}

pub fn session_verb(k: SessionKind) -> &'static str {
    match k {
        SessionKind::Exec => "exec",
        SessionKind::Attach => "attach",
        SessionKind::Portforward => "portforward",
    }
}

/// Open sessions seen by the indexer; bounded so abandoned sessions (a
/// crashed proxy never writes their end) cannot grow it forever.
#[derive(Default)]
pub struct SessionContexts {
    map: HashMap<String, SessionCtx>,
}

const MAX_OPEN_SESSIONS: usize = 100_000;

impl SessionContexts {
    pub fn get(&self, id: &str) -> Option<&SessionCtx> {
        self.map.get(id)
    }
    pub fn insert(&mut self, id: String, ctx: SessionCtx) {
        if self.map.len() >= MAX_OPEN_SESSIONS {
            self.map.clear();
        }
        self.map.insert(id, ctx);
    }
    pub fn remove(&mut self, id: &str) {
        self.map.remove(id);
    }
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

fn push(fields: &mut Vec<(Field, String)>, f: Field, v: &str) {
    if !v.is_empty() {
        fields.push((f, v.to_string()));
    }
}

fn ctx_fields(fields: &mut Vec<(Field, String)>, tags: &mut Vec<String>, c: &SessionCtx) {
    push(fields, Field::User, &c.user);
    for g in &c.groups {
        push(fields, Field::Group, g);
    }
    push(fields, Field::Cluster, &c.cluster);
    push(fields, Field::Namespace, &c.namespace);
    push(fields, Field::Name, &c.pod);
    push(fields, Field::Verb, &c.verb);
    push(fields, Field::Resource, "pods");
    tags.extend(c.tags.iter().map(|(k, v)| format!("{k}={v}")));
}

/// Maps the events of one block to documents. `lookup` finds the context of
/// a session whose start is not in `ctx` (started before a restart).
pub fn docs_for_block(
    events: &[(Pointer, &Event)],
    ctx: &mut SessionContexts,
    lookup: &mut dyn FnMut(&str) -> Option<SessionCtx>,
) -> Vec<DocSpec> {
    let mut out = Vec::with_capacity(events.len());
    let mut chunked: Vec<&str> = Vec::new();
    for (ptr, ev) in events {
        let time_us = ev.time().timestamp_micros();
        let mut fields = Vec::with_capacity(16);
        let mut tags = Vec::new();
        let mut text = Vec::new();
        let kind = match ev {
            Event::Api(a) => {
                push(&mut fields, Field::Id, &a.id);
                push(&mut fields, Field::User, &a.user.name);
                for g in &a.user.groups {
                    push(&mut fields, Field::Group, g);
                }
                push(&mut fields, Field::Cluster, &a.cluster);
                tags.extend(a.cluster_tags.iter().map(|(k, v)| format!("{k}={v}")));
                push(&mut fields, Field::Verb, &a.verb);
                push(&mut fields, Field::ApiGroup, &a.api_group);
                push(&mut fields, Field::Resource, &a.resource);
                push(&mut fields, Field::Namespace, &a.namespace);
                push(&mut fields, Field::Name, &a.name);
                push(&mut fields, Field::Decision, a.decision.outcome.as_str());
                push(&mut fields, Field::Code, &a.code.to_string());
                if let Some(s) = &a.session_id {
                    push(&mut fields, Field::Session, s);
                }
                KIND_API
            }
            Event::Session(s) => {
                let sid = s.session_id();
                let k = match s {
                    SessionEvent::Start(st) => {
                        let c = SessionCtx::from_start(st);
                        ctx_fields(&mut fields, &mut tags, &c);
                        ctx.insert(sid.to_string(), c);
                        if !st.command.is_empty() {
                            text.push(st.command.join(" "));
                        }
                        push(&mut fields, Field::Id, sid);
                        KIND_START
                    }
                    SessionEvent::Command(c) => {
                        if let Some(c) = ctx.get(sid).cloned().or_else(|| lookup(sid)) {
                            ctx_fields(&mut fields, &mut tags, &c);
                            ctx.insert(sid.to_string(), c);
                        }
                        text.push(c.text.clone());
                        KIND_COMMAND
                    }
                    SessionEvent::End(e) => {
                        match ctx.get(sid).cloned().or_else(|| lookup(sid)) {
                            Some(c) => ctx_fields(&mut fields, &mut tags, &c),
                            None => {
                                push(&mut fields, Field::User, &e.user);
                                push(&mut fields, Field::Cluster, &e.cluster);
                            }
                        }
                        ctx.remove(sid);
                        KIND_END
                    }
                    SessionEvent::Data { .. } | SessionEvent::Resize { .. } => {
                        if !chunked.contains(&sid) {
                            chunked.push(sid);
                            out.push(DocSpec {
                                kind: KIND_CHUNK,
                                fields: vec![
                                    (Field::Session, sid.to_string()),
                                    (Field::Kind, KIND_CHUNK.to_string()),
                                ],
                                tags: Vec::new(),
                                time_us,
                                text: Vec::new(),
                                ptr: ptr.clone(),
                            });
                        }
                        continue;
                    }
                };
                push(&mut fields, Field::Session, sid);
                k
            }
        };
        fields.push((Field::Kind, kind.to_string()));
        out.push(DocSpec {
            kind,
            fields,
            tags,
            time_us,
            text,
            ptr: ptr.clone(),
        });
    }
    out
}
