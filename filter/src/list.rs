//! The streaming list filter: walks the top-level object of a list or
//! Table body, passes every member through (dropping
//! `metadata.remainingItemCount`, which would count hidden items), and
//! filters the `items`/`rows` array element by element. Only the current
//! element is ever buffered.

use crate::item::{item_visible, validate};
use crate::scan::{skip_ws, ValueScan};
use crate::{FilterError, ListContext, ObjectRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    ObjStart,
    Key,
    Colon,
    Value,
    AfterValue,
    ArrStart,
    Elem,
    AfterElem,
    Done,
}

/// What the member being read is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    /// `items` (a list) or `rows` (a Table), in any letter case: the
    /// array to filter. Any case, because some decoders match keys
    /// case-insensitively; filtering a look-alike is always safe.
    Filtered {
        rows: bool,
    },
    /// The list's own `metadata`.
    Metadata,
    Other,
}

/// Incremental filter of one identity-encoded list body. Feed chunks with
/// [`ListFilter::feed`]; call [`ListFilter::finish`] at the end of the body.
pub struct ListFilter<F> {
    ctx: ListContext,
    visible: F,
    buf: Vec<u8>,
    /// Start of the unconsumed input in `buf`.
    pos: usize,
    /// Bytes dropped from the front of `buf` so far (for error offsets).
    dropped: u64,
    state: State,
    scan: ValueScan,
    member: Member,
    members_out: usize,
    elems_out: usize,
    index: usize,
    hidden: usize,
    kept: usize,
    saw_array: bool,
}

impl<F> ListFilter<F>
where
    F: Fn(&ObjectRef<'_>) -> bool,
{
    pub fn new(ctx: ListContext, visible: F) -> Self {
        ListFilter {
            ctx,
            visible,
            buf: Vec::new(),
            pos: 0,
            dropped: 0,
            state: State::Start,
            scan: ValueScan::default(),
            member: Member::Other,
            members_out: 0,
            elems_out: 0,
            index: 0,
            hidden: 0,
            kept: 0,
            saw_array: false,
        }
    }

    /// Items (or rows) hidden so far.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// Items (or rows) kept so far.
    pub fn kept(&self) -> usize {
        self.kept
    }

    fn malformed(&self, at: usize, reason: impl Into<String>) -> FilterError {
        FilterError::Malformed {
            offset: self.dropped + at as u64,
            reason: reason.into(),
        }
    }

    /// Feed the next chunk of the body; returns the filtered output so far.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<u8>, FilterError> {
        let mut out = Vec::with_capacity(chunk.len());
        self.buf.extend_from_slice(chunk);
        self.run(&mut out)?;
        // Drop what is consumed; keep only the token in progress.
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.dropped += self.pos as u64;
            self.pos = 0;
        }
        Ok(out)
    }

    /// End of body: returns the last output and (hidden, kept) counts.
    pub fn finish(mut self) -> Result<(Vec<u8>, usize, usize), FilterError> {
        let mut out = Vec::new();
        self.run(&mut out)?;
        if self.state != State::Done {
            return Err(FilterError::Truncated {
                context: "list body",
            });
        }
        if !self.saw_array {
            return Err(self.malformed(0, "no items or rows array in the response"));
        }
        Ok((out, self.hidden, self.kept))
    }

    fn emit_member_sep(&mut self, out: &mut Vec<u8>) {
        if self.members_out > 0 {
            out.push(b',');
        }
        self.members_out += 1;
    }

    /// Advance as far as the buffered input allows.
    fn run(&mut self, out: &mut Vec<u8>) -> Result<(), FilterError> {
        loop {
            let Some(i) = skip_ws(&self.buf, self.pos) else {
                self.pos = self.buf.len();
                return Ok(());
            };
            // The token starts at `i` (whitespace between tokens is dropped).
            self.pos = i;
            let b = self.buf[i];
            match self.state {
                State::Start => {
                    if b != b'{' {
                        return Err(self.malformed(i, "response is not a JSON object"));
                    }
                    out.push(b'{');
                    self.pos = i + 1;
                    self.state = State::ObjStart;
                }
                State::ObjStart if b == b'}' => {
                    out.push(b'}');
                    self.pos = i + 1;
                    self.state = State::Done;
                }
                State::ObjStart | State::Key => {
                    if b != b'"' {
                        return Err(self.malformed(i, "expected a member name"));
                    }
                    let Some(len) = self.scan.scan(&self.buf[i..]) else {
                        return Ok(());
                    };
                    self.scan = ValueScan::default();
                    let raw = &self.buf[i..i + len];
                    let key: String = serde_json::from_slice(raw)
                        .map_err(|e| self.malformed(i, format!("member name: {e}")))?;
                    self.member = if key.eq_ignore_ascii_case("items") {
                        Member::Filtered { rows: false }
                    } else if key.eq_ignore_ascii_case("rows") {
                        Member::Filtered { rows: true }
                    } else if key.eq_ignore_ascii_case("metadata") {
                        Member::Metadata
                    } else {
                        Member::Other
                    };
                    self.emit_member_sep(out);
                    out.extend_from_slice(&self.buf[i..i + len]);
                    self.pos = i + len;
                    self.state = State::Colon;
                }
                State::Colon => {
                    if b != b':' {
                        return Err(self.malformed(i, "expected ':'"));
                    }
                    out.push(b':');
                    self.pos = i + 1;
                    self.state = State::Value;
                }
                State::Value if b == b'[' && matches!(self.member, Member::Filtered { .. }) => {
                    out.push(b'[');
                    self.saw_array = true;
                    self.elems_out = 0;
                    self.pos = i + 1;
                    self.state = State::ArrStart;
                }
                State::Value => {
                    let Some(len) = self.scan.scan(&self.buf[i..]) else {
                        return Ok(());
                    };
                    self.scan = ValueScan::default();
                    let raw = &self.buf[i..i + len];
                    match self.member {
                        Member::Filtered { .. } => {
                            // Only `null` stands in for an empty array.
                            if raw != b"null" {
                                return Err(self.malformed(i, "items/rows is not an array"));
                            }
                            self.saw_array = true;
                            out.extend_from_slice(raw);
                        }
                        Member::Metadata => {
                            let mut meta: serde_json::Value = serde_json::from_slice(raw)
                                .map_err(|e| self.malformed(i, format!("metadata: {e}")))?;
                            if let Some(m) = meta.as_object_mut() {
                                // It counts items after this page, hidden
                                // ones included: drop it. `continue` stays.
                                m.retain(|k, _| !k.eq_ignore_ascii_case("remainingItemCount"));
                            }
                            serde_json::to_writer(&mut *out, &meta)
                                .map_err(|e| self.malformed(i, e.to_string()))?;
                        }
                        Member::Other => {
                            validate(raw).map_err(|e| self.malformed(i, e.to_string()))?;
                            out.extend_from_slice(raw);
                        }
                    }
                    self.pos = i + len;
                    self.state = State::AfterValue;
                }
                State::AfterValue => {
                    self.pos = i + 1;
                    match b {
                        b',' => self.state = State::Key,
                        b'}' => {
                            out.push(b'}');
                            self.state = State::Done;
                        }
                        _ => return Err(self.malformed(i, "expected ',' or '}'")),
                    }
                }
                State::ArrStart if b == b']' => {
                    out.push(b']');
                    self.pos = i + 1;
                    self.state = State::AfterValue;
                }
                State::ArrStart | State::Elem => {
                    if b != b'{' {
                        return Err(self.malformed(i, "list item is not an object"));
                    }
                    let Some(len) = self.scan.scan(&self.buf[i..]) else {
                        return Ok(());
                    };
                    self.scan = ValueScan::default();
                    let rows = matches!(self.member, Member::Filtered { rows: true });
                    let raw = &self.buf[i..i + len];
                    let keep = item_visible(
                        raw,
                        rows,
                        self.index,
                        &self.ctx.api_group,
                        &self.ctx.resource,
                        &self.visible,
                    )
                    .map_err(|e| match e {
                        FilterError::Malformed { reason, .. } => self.malformed(i, reason),
                        e => e,
                    })?;
                    self.index += 1;
                    if keep {
                        if self.elems_out > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(raw);
                        self.elems_out += 1;
                        self.kept += 1;
                    } else {
                        self.hidden += 1;
                    }
                    self.pos = i + len;
                    self.state = State::AfterElem;
                }
                State::AfterElem => {
                    self.pos = i + 1;
                    match b {
                        b',' => self.state = State::Elem,
                        b']' => {
                            out.push(b']');
                            self.state = State::AfterValue;
                        }
                        _ => return Err(self.malformed(i, "expected ',' or ']'")),
                    }
                }
                State::Done => {
                    return Err(self.malformed(i, "data after the end of the response"));
                }
            }
        }
    }
}
