//! Query translation: a plain [`Query`] becomes a tantivy boolean query;
//! results come back newest first as log pointers.

use std::ops::Bound;

use tantivy::collector::TopDocs;
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{
    AllQuery, BooleanQuery, Occur, PhraseQuery, Query as TQuery, RangeQuery, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Order, Searcher, Term};

use super::doc::{KIND_API, KIND_CHUNK, KIND_COMMAND, KIND_END, KIND_START};
use super::{Fields, IndexHandle};
use crate::error::{Result, StoreError};
use crate::log::Pointer;
use crate::query::{Field, Query};

/// Which documents a search may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kinds {
    /// API events and session start/command/end (what `search` shows).
    Events,
    /// Session starts and commands (to find sessions).
    SessionsAndCommands,
    /// Everything, chunk documents included (to reassemble a session).
    All,
}

fn term(t: Term) -> Box<dyn TQuery> {
    Box::new(TermQuery::new(t, IndexRecordOption::Basic))
}

fn kind(f: &Fields, k: &str) -> Box<dyn TQuery> {
    term(f.term(Field::Kind, k))
}

/// `kind=api`: API documents are the ones without a `kind` term (see
/// [`super::tdoc`]), i.e. every document that has none of the other kinds.
fn not_kinds(f: &Fields) -> Box<dyn TQuery> {
    let mut q: Vec<(Occur, Box<dyn TQuery>)> = vec![(Occur::Must, Box::new(AllQuery))];
    for k in [KIND_START, KIND_COMMAND, KIND_END, KIND_CHUNK] {
        q.push((Occur::MustNot, kind(f, k)));
    }
    Box::new(BooleanQuery::new(q))
}

/// Tokenizes a free-text phrase the way the `text` field was indexed.
pub fn text_tokens(h: &IndexHandle, phrase: &str) -> Result<Vec<String>> {
    let mut tok = h.index.tokenizer_for_field(h.fields.text)?;
    let mut stream = tok.token_stream(phrase);
    let mut out = Vec::new();
    while let Some(t) = stream.next() {
        out.push(t.text.clone());
    }
    Ok(out)
}

/// Builds the tantivy query.
pub fn build(h: &IndexHandle, q: &Query, kinds: Kinds) -> Result<Box<dyn TQuery>> {
    let f = &h.fields;
    let mut must: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
    for (field, v) in &q.fields {
        let t = match field {
            // A hash: callers check the id of what they read back
            // (`crate::read::id_matches`).
            Field::Id => {
                let h = Term::from_field_u64(f.id_hash, super::id_hash(v));
                Box::new(RangeQuery::new(
                    Bound::Included(h.clone()),
                    Bound::Included(h),
                ))
            }
            Field::Kind if v == KIND_API => not_kinds(f),
            _ => term(f.term(*field, v)),
        };
        must.push((Occur::Must, t));
    }
    for (k, v) in &q.tags {
        must.push((Occur::Must, term(f.tag_term(k, v))));
    }
    if q.since.is_some() || q.until.is_some() {
        let lo = q.since.map_or(Bound::Unbounded, |t| {
            Bound::Included(Term::from_field_i64(f.time, t.timestamp_micros()))
        });
        let hi = q.until.map_or(Bound::Unbounded, |t| {
            Bound::Excluded(Term::from_field_i64(f.time, t.timestamp_micros()))
        });
        must.push((Occur::Must, Box::new(RangeQuery::new(lo, hi))));
    }
    for phrase in &q.text {
        let toks = text_tokens(h, phrase)?;
        let terms: Vec<Term> = toks
            .iter()
            .map(|t| Term::from_field_text(f.text, t))
            .collect();
        match terms.len() {
            0 => {}
            1 => must.push((
                Occur::Must,
                Box::new(TermQuery::new(terms[0].clone(), IndexRecordOption::Basic)),
            )),
            _ => must.push((Occur::Must, Box::new(PhraseQuery::new(terms)))),
        }
    }
    match kinds {
        Kinds::Events => must.push((Occur::MustNot, kind(f, KIND_CHUNK))),
        Kinds::SessionsAndCommands => {
            let either: Vec<(Occur, Box<dyn TQuery>)> = vec![
                (Occur::Should, kind(f, KIND_START)),
                (Occur::Should, kind(f, KIND_COMMAND)),
            ];
            must.push((Occur::Must, Box::new(BooleanQuery::new(either))));
        }
        Kinds::All => {}
    }
    if !must.iter().any(|(o, _)| *o == Occur::Must) {
        must.push((Occur::Must, Box::new(AllQuery)));
    }
    Ok(Box::new(BooleanQuery::new(must)))
}

/// Runs a query: up to `limit` (time in µs, pointer), newest first.
pub fn run(h: &IndexHandle, q: &Query, kinds: Kinds, limit: usize) -> Result<Vec<(i64, Pointer)>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let query = build(h, q, kinds)?;
    let searcher = h.reader.searcher();
    let top = TopDocs::with_limit(limit).order_by_fast_field::<i64>("time", Order::Desc);
    let hits = searcher.search(&query, &top)?;
    let mut out = Vec::with_capacity(hits.len());
    let mut ptrs = PointerReader::new(&searcher);
    for (t, addr) in hits {
        out.push((t, ptrs.pointer(addr)?));
    }
    Ok(out)
}

/// Reads where matching documents' events live (the `seg` and `loc` fast
/// fields), opening each index segment's columns once.
pub struct PointerReader<'a> {
    searcher: &'a Searcher,
    columns: Vec<Option<(StrColumn, Column<u64>)>>,
    buf: String,
}

impl<'a> PointerReader<'a> {
    pub fn new(searcher: &'a Searcher) -> Self {
        PointerReader {
            searcher,
            columns: vec![None; searcher.segment_readers().len()],
            buf: String::new(),
        }
    }

    /// Where in the log a matching document's event lives.
    pub fn pointer(&mut self, addr: DocAddress) -> Result<Pointer> {
        let slot = &mut self.columns[addr.segment_ord as usize];
        if slot.is_none() {
            let ff = self.searcher.segment_reader(addr.segment_ord).fast_fields();
            let seg = ff
                .str("seg")?
                .ok_or_else(|| StoreError::Index("index without seg column".into()))?;
            *slot = Some((seg, ff.u64("loc")?));
        }
        let (seg, loc) = slot.as_ref().expect("just filled");
        let missing = || StoreError::Index(format!("document {addr:?} without a log pointer"));
        let ord = seg.term_ords(addr.doc_id).next().ok_or_else(missing)?;
        self.buf.clear();
        let found = seg
            .ord_to_str(ord, &mut self.buf)
            .map_err(|e| StoreError::Index(format!("reading the seg column: {e}")))?;
        if !found {
            return Err(missing());
        }
        let loc = loc.first(addr.doc_id).ok_or_else(missing)?;
        super::pointer_from(&self.buf, loc)
    }
}

/// Number of documents matching (for stats and tests).
pub fn count(h: &IndexHandle, q: &Query, kinds: Kinds) -> Result<usize> {
    let query = build(h, q, kinds)?;
    Ok(h.reader
        .searcher()
        .search(&query, &tantivy::collector::Count)?)
}
