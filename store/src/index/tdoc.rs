//! [`IndexDoc`]: the tantivy document type of the index, read straight from
//! the owned event.
//!
//! Why not `TantivyDocument`: building one meant copying every field into a
//! plain-data spec, then serializing each value into tantivy's compact doc
//! format, formatting `k=v` for every cluster tag and the response code into
//! fresh strings — ~6 µs per API event, as much as tantivy's own indexing.
//! Here the indexer moves the event it already owns into the document and
//! tantivy reads the fields in place: tag terms are shared per cluster
//! ([`TagCache`]), codes come from a static table, and the document is
//! dropped by tantivy's indexing thread after use.
//!
//! API documents carry no `kind` term (they are most documents; one term
//! less per event): `kind=api` is answered as "no kind term", see
//! `search::build`. Session documents (few) still go through the plain-data
//! [`super::doc::DocSpec`].

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use kac_event::ApiEvent;
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf, Value};
use tantivy::schema::Field as TField;
use tantivy::Document;

use super::doc::DocSpec;
use super::{id_hash, Fields};
use crate::query::Field;

/// One value of a document, borrowed from it.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    Str(&'a str),
    U64(u64),
    I64(i64),
}

impl<'a> Value<'a> for Val<'a> {
    type ArrayIter = std::iter::Empty<Self>;
    type ObjectIter = std::iter::Empty<(&'a str, Self)>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        ReferenceValue::Leaf(match *self {
            Val::Str(s) => ReferenceValueLeaf::Str(s),
            Val::U64(v) => ReferenceValueLeaf::U64(v),
            Val::I64(v) => ReferenceValueLeaf::I64(v),
        })
    }
}

/// An owned value of a session document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OwnedVal {
    Str(String),
    U64(u64),
}

#[derive(Debug)]
enum Body {
    Api {
        ev: Box<ApiEvent>,
        tags: Arc<[String]>,
        code: Cow<'static, str>,
        id_hash: Option<u64>,
    },
    /// Session start/command/end and chunk documents.
    Spec(Vec<(TField, OwnedVal)>),
}

/// A document as handed to tantivy's `IndexWriter`.
#[derive(Debug)]
pub struct IndexDoc {
    body: Body,
    /// [`super::seg_key`] of the event's segment, shared by its block.
    seg: Arc<str>,
    time_us: i64,
    loc: u64,
}

impl IndexDoc {
    /// The document of an API event (moved in, not copied).
    pub fn api(ev: Box<ApiEvent>, tags: Arc<[String]>, seg: Arc<str>, loc: u64) -> IndexDoc {
        let time_us = ev.time.timestamp_micros();
        let id_hash = (!ev.id.is_empty()).then(|| id_hash(&ev.id));
        let code = code_str(ev.code);
        IndexDoc {
            body: Body::Api {
                ev,
                tags,
                code,
                id_hash,
            },
            seg,
            time_us,
            loc,
        }
    }

    /// The document of a session event or chunk.
    pub fn spec(d: &DocSpec<'_>, f: &Fields, seg: Arc<str>, loc: u64) -> IndexDoc {
        let mut vals = Vec::with_capacity(d.fields.len() + d.tags.len() + d.text.len());
        for (k, v) in &d.fields {
            vals.push(match k {
                Field::Id => (f.id_hash, OwnedVal::U64(id_hash(v))),
                _ => (f.exact(*k), OwnedVal::Str(v.to_string())),
            });
        }
        for t in &d.tags {
            vals.push((f.tag, OwnedVal::Str(t.clone())));
        }
        for t in &d.text {
            vals.push((f.text, OwnedVal::Str(t.to_string())));
        }
        IndexDoc {
            body: Body::Spec(vals),
            seg,
            time_us: d.time_us,
            loc,
        }
    }
}

/// Field handles by name, resolved once (the schema is fixed per version).
struct Handles {
    user: TField,
    group: TField,
    cluster: TField,
    verb: TField,
    api_group: TField,
    resource: TField,
    namespace: TField,
    name: TField,
    decision: TField,
    code: TField,
    session: TField,
    tag: TField,
    seg: TField,
    time: TField,
    loc: TField,
    id_hash: TField,
}

static H: LazyLock<Handles> = LazyLock::new(|| {
    let f = &super::SCHEMA.1;
    Handles {
        user: f.exact(Field::User),
        group: f.exact(Field::Group),
        cluster: f.exact(Field::Cluster),
        verb: f.exact(Field::Verb),
        api_group: f.exact(Field::ApiGroup),
        resource: f.exact(Field::Resource),
        namespace: f.exact(Field::Namespace),
        name: f.exact(Field::Name),
        decision: f.exact(Field::Decision),
        code: f.exact(Field::Code),
        session: f.exact(Field::Session),
        tag: f.tag,
        seg: f.seg,
        time: f.time,
        loc: f.loc,
        id_hash: f.id_hash,
    }
});

/// `code.to_string()` without an allocation for every real HTTP status.
fn code_str(code: u16) -> Cow<'static, str> {
    static CODES: LazyLock<Vec<String>> =
        LazyLock::new(|| (0..1000).map(|c| c.to_string()).collect());
    match CODES.get(usize::from(code)) {
        Some(s) => Cow::Borrowed(s.as_str()),
        None => Cow::Owned(code.to_string()),
    }
}

/// Walks a document's values in field order (tantivy sorts them by field;
/// already sorted input keeps that cheap). Tantivy walks a document three
/// times (fast fields, postings, doc store), so this allocates nothing.
pub struct DocIter<'a> {
    doc: &'a IndexDoc,
    slot: u8,
    sub: usize,
}

// Slots of an API document, in schema field order.
const S_USER: u8 = 0;
const S_GROUP: u8 = 1;
const S_CLUSTER: u8 = 2;
const S_VERB: u8 = 3;
const S_API_GROUP: u8 = 4;
const S_RESOURCE: u8 = 5;
const S_NAMESPACE: u8 = 6;
const S_NAME: u8 = 7;
const S_DECISION: u8 = 8;
const S_CODE: u8 = 9;
const S_SESSION: u8 = 10;
const S_TAG: u8 = 11;
// Common to every document: after an API document's slots, or after a
// session document's values.
const S_SEG: u8 = 12;
const S_TIME: u8 = 13;
const S_LOC: u8 = 14;
const S_ID_HASH: u8 = 15;

impl<'a> DocIter<'a> {
    /// The `sub`-th element of a multi-valued slot, or moves to the next slot.
    fn multi(&mut self, field: TField, vals: &'a [String]) -> Option<(TField, Val<'a>)> {
        match vals.get(self.sub) {
            Some(v) => {
                self.sub += 1;
                Some((field, Val::Str(v)))
            }
            None => {
                self.sub = 0;
                self.slot += 1;
                None
            }
        }
    }
}

impl<'a> Iterator for DocIter<'a> {
    type Item = (TField, Val<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let h = &*H;
        let d = self.doc;
        if let Body::Spec(vals) = &d.body {
            if self.slot < S_SEG {
                if let Some((f, v)) = vals.get(self.sub) {
                    self.sub += 1;
                    return Some((
                        *f,
                        match v {
                            OwnedVal::Str(s) => Val::Str(s),
                            OwnedVal::U64(u) => Val::U64(*u),
                        },
                    ));
                }
                self.slot = S_SEG;
            }
        }
        loop {
            let item = match (&d.body, self.slot) {
                (_, S_SEG) => (h.seg, Val::Str(&d.seg)),
                (_, S_TIME) => (h.time, Val::I64(d.time_us)),
                (_, S_LOC) => (h.loc, Val::U64(d.loc)),
                (Body::Api { id_hash, .. }, S_ID_HASH) => match id_hash {
                    Some(x) => (h.id_hash, Val::U64(*x)),
                    None => return None,
                },
                (Body::Spec(_), _) => return None,
                (Body::Api { ev, tags, code, .. }, slot) => match slot {
                    S_USER => (h.user, Val::Str(&ev.user.name)),
                    S_GROUP => match self.multi(h.group, &ev.user.groups) {
                        Some(it) => it,
                        None => continue,
                    },
                    S_CLUSTER => (h.cluster, Val::Str(&ev.cluster)),
                    S_VERB => (h.verb, Val::Str(&ev.verb)),
                    S_API_GROUP => (h.api_group, Val::Str(&ev.api_group)),
                    S_RESOURCE => (h.resource, Val::Str(&ev.resource)),
                    S_NAMESPACE => (h.namespace, Val::Str(&ev.namespace)),
                    S_NAME => (h.name, Val::Str(&ev.name)),
                    S_DECISION => (h.decision, Val::Str(ev.decision.outcome.as_str())),
                    // The code is indexed even when 0, as it always was.
                    S_CODE => {
                        self.slot += 1;
                        return Some((h.code, Val::Str(code)));
                    }
                    S_SESSION => (h.session, Val::Str(ev.session_id.as_deref().unwrap_or(""))),
                    S_TAG => match self.multi(h.tag, tags) {
                        Some(it) => it,
                        None => continue,
                    },
                    _ => return None,
                },
            };
            if !matches!(self.slot, S_GROUP | S_TAG) {
                self.slot += 1;
            }
            // Empty strings are not indexed (no `namespace=` term for a
            // cluster-scoped request).
            if matches!(item.1, Val::Str("")) {
                continue;
            }
            return Some(item);
        }
    }
}

impl Document for IndexDoc {
    type Value<'a> = Val<'a>;
    type FieldsValuesIter<'a> = DocIter<'a>;

    fn iter_fields_and_values(&self) -> DocIter<'_> {
        DocIter {
            doc: self,
            slot: 0,
            sub: 0,
        }
    }
}

/// The `tag` terms (`key=value`) of each cluster's tag map, built once per
/// distinct map instead of formatted for every event. Keyed by cluster name
/// and checked against the event's map, so a cluster whose tags changed
/// gets new terms.
#[derive(Default)]
pub struct TagCache {
    by_cluster: HashMap<String, CachedTags>,
    empty: Option<Arc<[String]>>,
}

/// A cluster's tag map and its terms.
type CachedTags = (BTreeMap<String, String>, Arc<[String]>);

/// Bound on cached clusters (a registry has tens; this only caps a
/// pathological stream of distinct cluster names).
const MAX_CACHED_CLUSTERS: usize = 4096;

impl TagCache {
    pub fn terms(&mut self, cluster: &str, tags: &BTreeMap<String, String>) -> Arc<[String]> {
        if tags.is_empty() {
            return self
                .empty
                .get_or_insert_with(|| Arc::from(Vec::new()))
                .clone();
        }
        if let Some((m, t)) = self.by_cluster.get(cluster) {
            if m == tags {
                return t.clone();
            }
        }
        let terms: Arc<[String]> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if self.by_cluster.len() >= MAX_CACHED_CLUSTERS {
            self.by_cluster.clear();
        }
        self.by_cluster
            .insert(cluster.to_string(), (tags.clone(), terms.clone()));
        terms
    }
}

#[cfg(test)]
#[path = "tdoc_tests.rs"]
mod tests;
