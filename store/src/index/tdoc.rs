//! [`IndexDoc`]: the tantivy document type of the index.
//!
//! Why not `TantivyDocument`: building one meant copying every field into a
//! plain-data spec first, then serializing each value into tantivy's compact
//! doc format, formatting `k=v` for every cluster tag and the response code
//! into fresh strings — ~6 µs per API event, as much as tantivy's own
//! indexing. An `IndexDoc` is one string buffer with the values laid end to
//! end and a list of (field, value) entries into it: built with one pass
//! over the event, tag terms shared per cluster ([`TagCache`]), codes from
//! a static table. Tantivy walks a document three times (fast fields,
//! postings, doc store); walking this one is a slice walk. API documents
//! are built from the stored record itself ([`ApiView`]), not from an
//! `ApiEvent`.
//!
//! Every exact-match value is a term `code ‖ value` of the one bytes field
//! [`super::TERMS_FIELD`] (see [`super::term_code`] for why).
//!
//! A first version moved the owned event into the document and read its
//! fields in place; walking the event's fields through a state machine
//! three times cost more than copying the ~200 bytes of values once.
//!
//! API documents carry no `kind` term (they are most documents; one term
//! less per event): `kind=api` is answered as "no kind term", see
//! `search::build`. Session documents (few) still go through the plain-data
//! [`super::doc::DocSpec`].

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use crate::log::api_view::{ApiView, StrMap};
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf, Value};
use tantivy::schema::Field as TField;
use tantivy::Document;

use super::doc::DocSpec;
use super::{id_hash, push_term, tag_text, term_code, TAG_CODE};
use crate::query::Field;

/// One value of a document, borrowed from it.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    Str(&'a str),
    Bytes(&'a [u8]),
    U64(u64),
    I64(i64),
}

impl<'a> Value<'a> for Val<'a> {
    type ArrayIter = std::iter::Empty<Self>;
    type ObjectIter = std::iter::Empty<(&'a str, Self)>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        ReferenceValue::Leaf(match *self {
            Val::Str(s) => ReferenceValueLeaf::Str(s),
            Val::Bytes(b) => ReferenceValueLeaf::Bytes(b),
            Val::U64(v) => ReferenceValueLeaf::U64(v),
            Val::I64(v) => ReferenceValueLeaf::I64(v),
        })
    }
}

/// A value of an [`IndexDoc`]: strings and terms are ranges of its buffer.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Str(usize, usize),
    Term(usize, usize),
    U64(u64),
    I64(i64),
}

/// The values of a batch of documents (one block's), laid end to end.
#[derive(Debug, Default)]
pub struct DocValues {
    buf: String,
    vals: Vec<(TField, Slot)>,
}

/// A document as handed to tantivy's `IndexWriter`: a range of the values
/// of its batch, which its documents share.
///
/// Why shared: tantivy frees each document on its indexing thread. With a
/// buffer and a value list per document that was two allocations per
/// event, each freed on another thread than the one that made it (the
/// allocator's slow path); now a document is a reference count and a
/// range, and a batch frees its two buffers once.
#[derive(Debug)]
pub struct IndexDoc {
    values: Arc<DocValues>,
    start: usize,
    end: usize,
}

/// Documents being built for one batch: their values, and where each
/// document's values end.
#[derive(Debug, Default)]
pub struct DocBatch {
    values: DocValues,
    ends: Vec<usize>,
}

impl DocBatch {
    /// Adds the document of an API event (see [`DocValues::api`]).
    pub fn api(&mut self, ev: &ApiView<'_>, tags: &[String], seg: &str, loc: u64) {
        self.values.api(ev, tags, seg, loc);
        self.ends.push(self.values.vals.len());
    }

    /// Adds the document of a session event or chunk.
    pub fn spec(&mut self, d: &DocSpec<'_>, seg: &str, loc: u64) {
        self.values.spec(d, seg, loc);
        self.ends.push(self.values.vals.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Drops the documents built so far.
    pub fn clear(&mut self) {
        self.values.buf.clear();
        self.values.vals.clear();
        self.ends.clear();
    }

    /// The documents built so far; the batch starts over, with room for as
    /// many values as this one had.
    pub fn take(&mut self) -> impl ExactSizeIterator<Item = IndexDoc> {
        let next = DocValues {
            buf: String::with_capacity(self.values.buf.len()),
            vals: Vec::with_capacity(self.values.vals.len()),
        };
        let values = Arc::new(std::mem::replace(&mut self.values, next));
        let ends = std::mem::take(&mut self.ends);
        let mut start = 0;
        ends.into_iter().map(move |end| {
            let d = IndexDoc {
                values: values.clone(),
                start,
                end,
            };
            start = end;
            d
        })
    }
}

impl DocValues {
    /// Adds the exact-match term `code ‖ s` (see [`super::term_code`]);
    /// empty values are not indexed (no `namespace=` term for a
    /// cluster-scoped request).
    fn term(&mut self, code: u8, s: &str) {
        if !s.is_empty() {
            let a = self.buf.len();
            push_term(&mut self.buf, code, s);
            self.vals.push((H.terms, Slot::Term(a, self.buf.len())));
        }
    }

    fn field(&mut self, f: Field, s: &str) {
        self.term(term_code(f), s);
    }

    /// Adds a string value of a text or string-column field.
    fn str(&mut self, f: TField, s: &str) {
        if !s.is_empty() {
            let a = self.buf.len();
            self.buf.push_str(s);
            self.vals.push((f, Slot::Str(a, self.buf.len())));
        }
    }

    /// Where the event lives and when it happened: every document has these.
    fn common(&mut self, seg: &str, time_us: i64, loc: u64) {
        let h = &*H;
        self.str(h.seg, seg);
        self.vals.push((h.time, Slot::I64(time_us)));
        self.vals.push((h.loc, Slot::U64(loc)));
    }

    /// The values of an API event's document, in schema field order
    /// (tantivy sorts them by field; sorted input keeps that cheap). `tags`
    /// are the event's tag terms from [`TagCache`].
    fn api(&mut self, ev: &ApiView<'_>, tags: &[String], seg: &str, loc: u64) {
        let h = &*H;
        self.field(Field::User, ev.user);
        for g in ev.groups.iter() {
            self.field(Field::Group, g);
        }
        self.field(Field::Cluster, ev.cluster);
        self.field(Field::Verb, ev.verb);
        self.field(Field::ApiGroup, ev.api_group);
        self.field(Field::Resource, ev.resource);
        self.field(Field::Namespace, ev.namespace);
        self.field(Field::Name, ev.name);
        self.field(Field::Decision, ev.outcome.as_str());
        // Indexed even when 0, as it always was.
        self.field(Field::Code, code_str(ev.code).as_ref());
        if let Some(s) = ev.session_id {
            self.field(Field::Session, s);
        }
        for t in tags {
            self.term(TAG_CODE, t);
        }
        self.common(seg, ev.time.timestamp_micros(), loc);
        let id = ev.id.with_str(|id| (!id.is_empty()).then(|| id_hash(id)));
        if let Some(id) = id {
            self.vals.push((h.id_hash, Slot::U64(id)));
        }
    }

    /// The values of a session event's or chunk's document.
    fn spec(&mut self, d: &DocSpec<'_>, seg: &str, loc: u64) {
        let h = &*H;
        let mut id = None;
        for (k, v) in &d.fields {
            match k {
                Field::Id => id = Some(id_hash(v)),
                _ => self.field(*k, v),
            }
        }
        for t in &d.tags {
            self.term(TAG_CODE, t);
        }
        self.common(seg, d.time_us, loc);
        for t in &d.text {
            self.str(h.text, t);
        }
        if let Some(id) = id {
            self.vals.push((h.id_hash, Slot::U64(id)));
        }
    }
}

/// Field handles by name, resolved once (the schema is fixed per version).
struct Handles {
    terms: TField,
    seg: TField,
    time: TField,
    text: TField,
    loc: TField,
    id_hash: TField,
}

static H: LazyLock<Handles> = LazyLock::new(|| {
    let f = &super::SCHEMA.1;
    Handles {
        terms: f.terms,
        seg: f.seg,
        time: f.time,
        text: f.text,
        loc: f.loc,
        id_hash: f.id_hash,
    }
});

/// `code.to_string()` without an allocation for every real HTTP status.
fn code_str(code: u16) -> std::borrow::Cow<'static, str> {
    static CODES: LazyLock<Vec<String>> =
        LazyLock::new(|| (0..1000).map(|c| c.to_string()).collect());
    match CODES.get(usize::from(code)) {
        Some(s) => s.as_str().into(),
        None => code.to_string().into(),
    }
}

/// Walks a document's values.
pub struct DocIter<'a> {
    values: &'a DocValues,
    i: usize,
    end: usize,
}

impl<'a> Iterator for DocIter<'a> {
    type Item = (TField, Val<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.i >= self.end {
            return None;
        }
        let (f, slot) = self.values.vals[self.i];
        self.i += 1;
        Some((
            f,
            match slot {
                Slot::Str(a, b) => Val::Str(&self.values.buf[a..b]),
                Slot::Term(a, b) => Val::Bytes(&self.values.buf.as_bytes()[a..b]),
                Slot::U64(v) => Val::U64(v),
                Slot::I64(v) => Val::I64(v),
            },
        ))
    }
}

impl Document for IndexDoc {
    type Value<'a> = Val<'a>;
    type FieldsValuesIter<'a> = DocIter<'a>;

    fn iter_fields_and_values(&self) -> DocIter<'_> {
        DocIter {
            values: &self.values,
            i: self.start,
            end: self.end,
        }
    }
}

/// The `tag` terms (`key=value`) of each cluster's tag map, built once per
/// distinct map instead of formatted for every event. Keyed by cluster name
/// and checked against the event's map (its encoded bytes: the encoding is
/// canonical), so a cluster whose tags changed gets new terms.
#[derive(Default)]
pub struct TagCache {
    by_cluster: HashMap<String, CachedTags>,
    empty: Option<Arc<[String]>>,
}

/// A cluster's encoded tag map and its terms.
type CachedTags = (Vec<u8>, Arc<[String]>);

/// Bound on cached clusters (a registry has tens; this only caps a
/// pathological stream of distinct cluster names).
const MAX_CACHED_CLUSTERS: usize = 4096;

impl TagCache {
    pub fn terms(&mut self, cluster: &str, tags: StrMap<'_>) -> Arc<[String]> {
        if tags.is_empty() {
            return self
                .empty
                .get_or_insert_with(|| Arc::from(Vec::new()))
                .clone();
        }
        if let Some((m, t)) = self.by_cluster.get(cluster) {
            if m == tags.bytes() {
                return t.clone();
            }
        }
        let terms: Arc<[String]> = tags.iter().map(|(k, v)| tag_text(k, v)).collect();
        if self.by_cluster.len() >= MAX_CACHED_CLUSTERS {
            self.by_cluster.clear();
        }
        self.by_cluster
            .insert(cluster.to_string(), (tags.bytes().to_vec(), terms.clone()));
        terms
    }
}

#[cfg(test)]
#[path = "tdoc_tests.rs"]
mod tests;
