//! Session event → index document mapping, as plain data (no tantivy
//! types). API events, the bulk of the log, are read in place instead
//! (`super::tdoc`).
//!
//! One document per API event and per session start, command and end.
//! Session data and resize frames are far too many to index one by one: a
//! block gets one `chunk` document per session that has frames in it, so
//! `Store::session` finds all of a session's blocks with one term query.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use kac_event::{SessionEvent, SessionKind};

use crate::query::Field;

/// The kind of API event documents. They carry no `kind` term (one term
/// less for most documents): `kind=api` matches documents without one.
pub const KIND_API: &str = "api";
pub const KIND_START: &str = "session.start";
pub const KIND_COMMAND: &str = "session.command";
pub const KIND_END: &str = "session.end";
pub const KIND_CHUNK: &str = "chunk";

/// What gets indexed for one document. Values borrow from the event where
/// they can: the indexer runs once per event, and copying every field into
/// fresh strings first was a measurable share of its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocSpec<'a> {
    pub kind: &'static str,
    pub fields: Vec<(Field, Cow<'a, str>)>,
    pub tags: Vec<String>,
    pub time_us: i64,
    /// Free text (typed commands).
    pub text: Vec<Cow<'a, str>>,
}

type Fields<'a> = Vec<(Field, Cow<'a, str>)>;

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

fn push<'a>(fields: &mut Fields<'a>, f: Field, v: &'a str) {
    if !v.is_empty() {
        fields.push((f, Cow::Borrowed(v)));
    }
}

fn push_owned(fields: &mut Fields<'_>, f: Field, v: &str) {
    if !v.is_empty() {
        fields.push((f, Cow::Owned(v.to_string())));
    }
}

fn ctx_fields(fields: &mut Fields<'_>, tags: &mut Vec<String>, c: &SessionCtx) {
    push_owned(fields, Field::User, &c.user);
    for g in &c.groups {
        push_owned(fields, Field::Group, g);
    }
    push_owned(fields, Field::Cluster, &c.cluster);
    push_owned(fields, Field::Namespace, &c.namespace);
    push_owned(fields, Field::Name, &c.pod);
    push_owned(fields, Field::Verb, &c.verb);
    push(fields, Field::Resource, "pods");
    tags.extend(c.tags.iter().map(|(k, v)| super::tag_text(k, v)));
}

/// Maps one session event to its document, if it gets one. `chunked`
/// holds the sessions that already have a chunk document in this block
/// (one per session per block). `lookup` finds the context of a session
/// whose start is not in `ctx` (started before a restart).
///
/// API events do not come here: they are read in place by
/// [`super::tdoc::IndexDoc::api`].
pub fn session_doc<'a>(
    s: &'a SessionEvent,
    time_us: i64,
    ctx: &mut SessionContexts,
    lookup: &mut dyn FnMut(&str) -> Option<SessionCtx>,
    chunked: &mut Vec<String>,
) -> Option<DocSpec<'a>> {
    let mut fields = Vec::with_capacity(16);
    let mut tags = Vec::new();
    let mut text = Vec::new();
    let sid = s.session_id();
    let kind = match s {
        SessionEvent::Start(st) => {
            let c = SessionCtx::from_start(st);
            ctx_fields(&mut fields, &mut tags, &c);
            ctx.insert(sid.to_string(), c);
            if !st.command.is_empty() {
                text.push(Cow::Owned(st.command.join(" ")));
            }
            push(&mut fields, Field::Id, sid);
            KIND_START
        }
        SessionEvent::Command(c) => {
            if let Some(c) = ctx.get(sid).cloned().or_else(|| lookup(sid)) {
                ctx_fields(&mut fields, &mut tags, &c);
                ctx.insert(sid.to_string(), c);
            }
            text.push(Cow::Borrowed(c.text.as_str()));
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
            return chunk_doc(sid, time_us, chunked);
        }
    };
    push(&mut fields, Field::Session, sid);
    fields.push((Field::Kind, Cow::Borrowed(kind)));
    Some(DocSpec {
        kind,
        fields,
        tags,
        time_us,
        text,
    })
}

/// The `chunk` document of a session's frames in a block: one per session
/// per block, so None when `chunked` already has the session.
pub fn chunk_doc<'a>(sid: &'a str, time_us: i64, chunked: &mut Vec<String>) -> Option<DocSpec<'a>> {
    if chunked.iter().any(|c| c == sid) {
        return None;
    }
    chunked.push(sid.to_string());
    Some(DocSpec {
        kind: KIND_CHUNK,
        fields: vec![
            (Field::Session, Cow::Borrowed(sid)),
            (Field::Kind, Cow::Borrowed(KIND_CHUNK)),
        ],
        tags: Vec::new(),
        time_us,
        text: Vec::new(),
    })
}
