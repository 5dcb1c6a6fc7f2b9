//! The tantivy index over the log. It is a cache: every document points into
//! the log (`ptr`), and `reindex` rebuilds it from the log alone.
//!
//! The index commit lags the log (tantivy commits are expensive): the
//! indexer commits every second or every N documents, and each commit's
//! payload records the log position it covers, so recovery re-indexes from
//! exactly there.

pub mod doc;
pub mod search;
pub mod tdoc;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Instant;

use tantivy::indexer::UserOperation;
use tantivy::query::RangeQuery;
use tantivy::schema::{
    BytesOptions, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, TEXT,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Term};

use crate::error::{IoContext, Result, StoreError};
use crate::log::api_view::ApiView;
use crate::log::{BlockRef, Position};
use crate::query::Field;
use doc::{DocSpec, SessionContexts};
use tdoc::{DocBatch, IndexDoc, TagCache};

/// Tantivy field handles.
#[derive(Clone)]
pub struct Fields {
    /// Every exact-match term of a document, see [`term_code`].
    pub terms: tantivy::schema::Field,
    pub seg: tantivy::schema::Field,
    pub time: tantivy::schema::Field,
    pub text: tantivy::schema::Field,
    pub loc: tantivy::schema::Field,
    /// [`id_hash`] of the event id (fast field; see [`ID_HASH_FIELD`]).
    pub id_hash: tantivy::schema::Field,
}

impl Fields {
    /// The index term of `field=value` (`field` is not [`Field::Id`], which
    /// is a column, see [`ID_HASH_FIELD`]).
    pub fn term(&self, field: Field, value: &str) -> Term {
        self.term_with(term_code(field), value)
    }

    /// The index term of cluster tag `key=value`.
    pub fn tag_term(&self, key: &str, value: &str) -> Term {
        self.term_with(TAG_CODE, &tag_text(key, value))
    }

    fn term_with(&self, code: u8, value: &str) -> Term {
        let mut b = String::with_capacity(1 + value.len());
        push_term(&mut b, code, value);
        Term::from_field_bytes(self.terms, b.as_bytes())
    }
}

/// Appends the exact-match term `code ‖ value` (see [`term_code`]): the
/// one place that lays a term out, for documents and queries alike.
pub(crate) fn push_term(out: &mut String, code: u8, value: &str) {
    out.push(char::from(code));
    out.push_str(value);
}

/// The text of a cluster tag's term, `key=value` (after [`TAG_CODE`]).
pub fn tag_text(key: &str, value: &str) -> String {
    format!("{key}={value}")
}

/// The first byte of an exact-match term: which query field it belongs to.
///
/// Why one bytes field for every exact-match field instead of a text field
/// each: tantivy handles a document field by field (sort the values, group
/// them, look up the field's postings writer) and runs every text value
/// through a boxed token stream, even with the `raw` tokenizer. A bytes
/// value goes straight to the postings writer. With about twelve
/// exact-match values per API event, that per-field and per-value overhead
/// was a large share of tantivy's indexing time. A term is `code ‖ value`:
/// the code is one fixed byte, so distinct (field, value) pairs always give
/// distinct terms.
///
/// The codes are part of the schema: changing one means renaming
/// [`TERMS_FIELD`], so an old index is rebuilt rather than misread.
pub fn term_code(f: Field) -> u8 {
    match f {
        Field::Kind => b'k',
        Field::Id => unreachable!("event ids are the id-hash column, not terms"),
        Field::User => b'u',
        Field::Group => b'g',
        Field::Cluster => b'c',
        Field::Verb => b'v',
        Field::ApiGroup => b'a',
        Field::Resource => b'r',
        Field::Namespace => b'n',
        Field::Name => b'm',
        Field::Decision => b'd',
        Field::Code => b'h',
        Field::Session => b's',
    }
}

/// [`term_code`] of cluster tags (`tag:key=value`).
pub const TAG_CODE: u8 = b't';

/// Name of the field holding every exact-match term, see [`term_code`].
pub const TERMS_FIELD: &str = "terms_v1";

/// Name of the field holding [`id_hash`] of event ids. The hash function is
/// part of the name: changing the hash must change the name, so the schema
/// differs and an old index is rebuilt from the log instead of silently
/// answering nothing.
pub const ID_HASH_FIELD: &str = "id_fnv1a64";

/// The 64-bit FNV-1a hash of an event or session id, as indexed.
///
/// Why a hash and not the id itself: every id is unique, so as a text term
/// each event added one term to the term dictionary — measured at ~15% of
/// indexing time. A u64 fast field is one column value per document. A hash
/// can collide, so every id match is checked against the event read back
/// from the log (the source of truth) before it is returned. FNV-1a because
/// it is stable across Rust versions and platforms (std's hasher is not
/// promised to be), and adversarial collisions cost nothing but a filtered
/// false match.
pub fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `TEXT` (default tokenizer, positions for phrase queries such as
/// `"rm -rf"`) without field norms: they only feed BM25 scoring, and
/// results are ordered by time, never scored.
fn text_opts() -> TextOptions {
    TEXT.set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("default")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions)
            .set_fieldnorms(false),
    )
}

/// The schema, built once: [`tdoc`] resolves its field handles from it.
pub(crate) static SCHEMA: LazyLock<(Schema, Fields)> = LazyLock::new(schema);

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // Indexed (doc ids only, no positions), without field norms (see
    // `text_opts`).
    let terms = b.add_bytes_field(TERMS_FIELD, BytesOptions::default().set_indexed());
    // Where a document's event lives is read from fast fields (columns), not
    // from stored documents: `seg` ("writer/segment") and `loc` (block
    // offset << 20 | index in block). No field is STORED, so indexing
    // compresses no document store and a search decompresses none. `seg` is
    // a column only, not indexed: `prune` deletes a segment's documents with
    // a range query over the column, which saves a posting per document.
    let seg = b.add_text_field("seg", FAST);
    // FAST only: `since=`/`until=` run as fast-field range queries, and
    // results are ordered by it. Indexing it too would add one unique term
    // per event to the term dictionary, for nothing.
    let time = b.add_i64_field("time", FAST);
    let text = b.add_text_field("text", text_opts());
    let loc = b.add_u64_field("loc", FAST);
    // FAST only, like `time`: `id=` runs as a one-value range over the
    // column (a scan, ~ms per million documents — `show ID` is rare), and
    // ingest pays no term per event.
    let id_hash = b.add_u64_field(ID_HASH_FIELD, FAST);
    let fields = Fields {
        terms,
        seg,
        time,
        text,
        loc,
        id_hash,
    };
    (b.build(), fields)
}

/// Key of a segment in the `seg` field (used to delete a pruned segment).
pub fn seg_key(writer: &str, segment: u64) -> String {
    format!("{writer}/{segment}")
}

/// Bits of `loc` holding the event's index inside its block.
pub const LOC_INDEX_BITS: u32 = 20;

/// Packs a block offset and an index in the block into the `loc` field.
pub fn loc(offset: u64, index: u32) -> Result<u64> {
    if index >= 1 << LOC_INDEX_BITS || offset >= 1 << (64 - LOC_INDEX_BITS) {
        return Err(StoreError::Index(format!(
            "log position offset {offset} index {index} does not fit the index's loc field"
        )));
    }
    Ok(offset << LOC_INDEX_BITS | u64::from(index))
}

/// The inverse of [`seg_key`] and [`loc`].
pub fn pointer_from(seg: &str, loc: u64) -> Result<crate::log::Pointer> {
    let (writer, segment) = seg
        .rsplit_once('/')
        .and_then(|(w, s)| Some((w, s.parse().ok()?)))
        .ok_or_else(|| StoreError::Index(format!("bad seg key {seg:?} in the index")))?;
    Ok(crate::log::Pointer {
        writer: writer.to_string(),
        segment,
        offset: loc >> LOC_INDEX_BITS,
        index: (loc & ((1 << LOC_INDEX_BITS) - 1)) as u32,
    })
}

/// An open index with a reader.
pub struct IndexHandle {
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Fields,
    pub dir: PathBuf,
}

impl IndexHandle {
    /// Opens (or, if `create`, creates) the index under `store/index`.
    pub fn open(store: &Path, create: bool) -> Result<Self> {
        let dir = store.join("index");
        let (schema, fields) = SCHEMA.clone();
        let mut exists = dir.join("meta.json").exists();
        if exists && create && Index::open_in_dir(&dir)?.schema() != schema {
            // An index written by an older version. It is a cache of the
            // log: a writable open drops it and rebuilds it from the log.
            tracing::warn!(dir = %dir.display(), "index schema changed; rebuilding the index from the log");
            std::fs::remove_dir_all(&dir).ctx(|| format!("removing {}", dir.display()))?;
            exists = false;
        }
        let index = if exists {
            Index::open_in_dir(&dir)?
        } else if create {
            std::fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
            Index::create_in_dir(&dir, schema.clone())?
        } else {
            return Err(StoreError::NotFound(format!(
                "no index in {} (run `kac-audit reindex`)",
                dir.display()
            )));
        };
        if index.schema() != schema {
            return Err(StoreError::Index(format!(
                "{}: schema differs from this version; run `kac-audit reindex`",
                dir.display()
            )));
        }
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()?;
        Ok(IndexHandle {
            index,
            reader,
            fields,
            dir,
        })
    }

    /// The log position covered by the last commit.
    pub fn committed_position(&self) -> Result<Position> {
        let metas = self.index.load_metas()?;
        Ok(match metas.payload {
            Some(p) => serde_json::from_str(&p)
                .map_err(|e| StoreError::Index(format!("commit payload: {e}")))?,
            None => Position::start(),
        })
    }
}

/// Commits every this many documents (besides the time-based commit).
pub const COMMIT_DOCS: usize = 200_000;

/// The single index writer of a store process.
pub struct Indexer {
    pub writer: IndexWriter<IndexDoc>,
    pub fields: Fields,
    /// Log position after the last block added.
    pub position: Position,
    pub uncommitted: usize,
    pub last_commit: Instant,
    pub sessions: SessionContexts,
    pub tags: TagCache,
    /// Documents of the block being added, see [`Indexer::add_pending`].
    pending: DocBatch,
}

impl Indexer {
    pub fn new(h: &IndexHandle) -> Result<Self> {
        let writer = h
            .index
            .writer_with_num_threads(1, 64 << 20)
            .map_err(|e| StoreError::Index(format!("opening index writer: {e}")))?;
        Ok(Indexer {
            writer,
            fields: h.fields.clone(),
            position: h.committed_position()?,
            uncommitted: 0,
            last_commit: Instant::now(),
            sessions: SessionContexts::default(),
            tags: TagCache::default(),
            pending: DocBatch::default(),
        })
    }

    /// Queues the document of an API event. `seg` is [`seg_key`] of its
    /// segment (built once per block by the caller).
    pub fn add_api(&mut self, ev: &ApiView<'_>, seg: &str, loc: u64) {
        let tags = self.tags.terms(ev.cluster, ev.cluster_tags);
        self.pending.api(ev, &tags, seg, loc);
    }

    /// Queues a session or chunk document.
    pub fn add_spec(&mut self, d: &DocSpec<'_>, seg: &str, loc: u64) {
        self.pending.spec(d, seg, loc);
    }

    /// Hands the queued documents (one block's) to tantivy as one batch:
    /// one message to its indexing thread instead of one per document.
    pub fn add_pending(&mut self) -> Result<()> {
        let n = self.pending.len();
        self.writer
            .run(self.pending.take().map(UserOperation::Add))?;
        self.uncommitted += n;
        Ok(())
    }

    /// Drops the queued documents (their block failed).
    pub fn discard_pending(&mut self) {
        self.pending.clear();
    }

    /// True when this block was already indexed.
    pub fn covers(&self, b: &BlockRef) -> bool {
        self.position.covers(b)
    }

    /// Commits with the covered log position as payload.
    pub fn commit(&mut self, reader: &IndexReader) -> Result<()> {
        let payload = serde_json::to_string(&self.position).expect("position serializes");
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        reader.reload()?;
        self.uncommitted = 0;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Drops every document of a segment (after `prune`).
    pub fn delete_segment(&mut self, writer: &str, segment: u64) -> Result<()> {
        // `seg` is a column, not indexed: a one-value range over it (exact,
        // through the column's dictionary).
        let t = Term::from_field_text(self.fields.seg, &seg_key(writer, segment));
        let q = RangeQuery::new(Bound::Included(t.clone()), Bound::Included(t));
        self.writer.delete_query(Box::new(q))?;
        self.uncommitted += 1;
        Ok(())
    }

    /// Empties the index (before `reindex`).
    pub fn clear(&mut self) -> Result<()> {
        self.writer.delete_all_documents()?;
        self.position = Position::start();
        self.sessions.clear();
        Ok(())
    }
}
