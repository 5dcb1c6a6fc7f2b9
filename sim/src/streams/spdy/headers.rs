//! SPDY/3 name/value header blocks: the uncompressed layout, and the two
//! stateful zlib contexts (one per direction per session) primed with the
//! SPDY/3 dictionary.

use super::{be32, SpdyError, MAX_HEADER_BLOCK};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::sync::OnceLock;

/// Encodes an uncompressed SPDY/3 name/value block. Names are lower-cased as
/// the protocol requires; several values of one name are joined with NUL.
pub fn encode_header_pairs(pairs: &[(String, String)]) -> Vec<u8> {
    let mut merged: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        let k = k.to_ascii_lowercase();
        match merged.iter_mut().find(|(mk, _)| *mk == k) {
            Some((_, mv)) => {
                mv.push('\0');
                mv.push_str(v);
            }
            None => merged.push((k, v.clone())),
        }
    }
    let mut out = (merged.len() as u32).to_be_bytes().to_vec();
    for (k, v) in &merged {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// Decodes an uncompressed name/value block into pairs; NUL-separated values
/// become several pairs with the same name.
pub fn decode_header_pairs(block: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
    let mut rest = block;
    let mut take = |n: usize| -> Result<&[u8], SpdyError> {
        if rest.len() < n {
            return Err(SpdyError::HeaderBlock("truncated"));
        }
        let (a, b) = rest.split_at(n);
        rest = b;
        Ok(a)
    };
    let count = be32(take(4)?) as usize;
    let mut out = Vec::new();
    for _ in 0..count {
        let klen = be32(take(4)?) as usize;
        let k = std::str::from_utf8(take(klen)?)
            .map_err(|_| SpdyError::HeaderBlock("name is not UTF-8"))?
            .to_string();
        if k.is_empty() {
            return Err(SpdyError::HeaderBlock("empty name"));
        }
        let vlen = be32(take(4)?) as usize;
        let v = String::from_utf8_lossy(take(vlen)?).into_owned();
        for part in v.split('\0') {
            out.push((k.clone(), part.to_string()));
        }
    }
    Ok(out)
}

/// Looks up a header (names are lower case on the wire).
pub fn header<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1):
/// length-prefixed common header names and values, then a run of status
/// codes, phrases, dates and media types.
pub fn dictionary() -> &'static [u8] {
    static DICT: OnceLock<Vec<u8>> = OnceLock::new();
    DICT.get_or_init(|| {
        const WORDS: &[&str] = &[
            "options",
            "head",
            "post",
            "put",
            "delete",
            "trace",
            "accept",
            "accept-charset",
            "accept-encoding",
            "accept-language",
            "accept-ranges",
            "age",
            "allow",
            "authorization",
            "cache-control",
            "connection",
            "content-base",
            "content-encoding",
            "content-language",
            "content-length",
            "content-location",
            "content-md5",
            "content-range",
            "content-type",
            "date",
            "etag",
            "expect",
            "expires",
            "from",
            "host",
            "if-match",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "last-modified",
            "location",
            "max-forwards",
            "pragma",
            "proxy-authenticate",
            "proxy-authorization",
            "range",
            "referer",
            "retry-after",
            "server",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "user-agent",
            "vary",
            "via",
            "warning",
            "www-authenticate",
            "method",
            "get",
            "status",
            "200 OK",
            "version",
            "HTTP/1.1",
            "url",
            "public",
            "set-cookie",
            "keep-alive",
            "origin",
        ];
        const TAIL: &str = concat!(
            "100101201202205206300302303304305306307402405406407408409410411412413414415416417",
            "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently",
            "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error",
            "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct ",
            "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,",
            "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,",
            "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=",
            "iso-8859-1,utf-,*,enq=0."
        );
        let mut d = Vec::with_capacity(1424);
        for w in WORDS {
            d.extend_from_slice(&(w.len() as u32).to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        d.extend_from_slice(TAIL.as_bytes());
        d
    })
}

/// Adler-32 as zlib computes it (the DICTID of a preset dictionary).
pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// Inflates the peer's header blocks: one zlib stream per session direction.
///
/// flate2's pure-Rust backend cannot take a preset dictionary, so the zlib
/// header is parsed here and the raw inflater is primed by feeding it a
/// non-final stored deflate block holding the dictionary (whose output is
/// discarded): later back-references then reach into the dictionary exactly
/// as with `inflateSetDictionary`.
pub struct HeaderDecompressor {
    inflater: Decompress,
    header: Vec<u8>,
    started: bool,
}

impl Default for HeaderDecompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecompressor {
    pub fn new() -> Self {
        HeaderDecompressor {
            inflater: Decompress::new(false),
            header: Vec::new(),
            started: false,
        }
    }

    /// Inflates one compressed header block and decodes its pairs.
    pub fn decode(&mut self, block: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
        let raw = self.inflate(block)?;
        decode_header_pairs(&raw)
    }

    /// Inflates one compressed header block (continuing the session's stream).
    pub fn inflate(&mut self, mut block: &[u8]) -> Result<Vec<u8>, SpdyError> {
        if !self.started {
            let missing = 2usize.saturating_sub(self.header.len());
            let n = missing.min(block.len());
            self.header.extend_from_slice(&block[..n]);
            block = &block[n..];
            if self.header.len() < 2 {
                return Ok(Vec::new());
            }
            let (cmf, flg) = (self.header[0], self.header[1]);
            if cmf & 0x0f != 8 || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
                return Err(SpdyError::Zlib("bad zlib header".into()));
            }
            if flg & 0x20 != 0 {
                let want = 6 - self.header.len();
                let n = want.min(block.len());
                self.header.extend_from_slice(&block[..n]);
                block = &block[n..];
                if self.header.len() < 6 {
                    return Ok(Vec::new());
                }
                let dict = dictionary();
                if be32(&self.header[2..6]) != adler32(dict) {
                    return Err(SpdyError::Zlib("unknown preset dictionary".into()));
                }
                let len = dict.len() as u16;
                let mut stored = vec![0x00];
                stored.extend_from_slice(&len.to_le_bytes());
                stored.extend_from_slice(&(!len).to_le_bytes());
                stored.extend_from_slice(dict);
                self.run(&stored)?;
            }
            self.started = true;
        }
        self.run(block)
    }

    fn run(&mut self, mut input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        loop {
            if out.len() > MAX_HEADER_BLOCK {
                return Err(SpdyError::HeaderBlock("header block too large"));
            }
            out.reserve(4096);
            let before_in = self.inflater.total_in();
            let before_out = self.inflater.total_out();
            let status = self
                .inflater
                .decompress_vec(input, &mut out, FlushDecompress::Sync)
                .map_err(|e| SpdyError::Zlib(e.to_string()))?;
            let consumed = (self.inflater.total_in() - before_in) as usize;
            let produced = self.inflater.total_out() - before_out;
            input = &input[consumed..];
            if status == Status::StreamEnd {
                return Ok(out);
            }
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
            if consumed == 0 && produced == 0 && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// Deflates our header blocks: one zlib stream for the session, each block
/// ended with a sync flush. We do not use the preset dictionary (a zlib
/// stream without FDICT is valid for Go's `zlib.NewReaderDict`).
pub struct HeaderCompressor {
    deflater: Compress,
}

impl Default for HeaderCompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderCompressor {
    pub fn new() -> Self {
        HeaderCompressor {
            deflater: Compress::new(Compression::default(), true),
        }
    }

    /// Compresses one name/value block.
    pub fn encode(&mut self, pairs: &[(String, String)]) -> Vec<u8> {
        self.deflate(&encode_header_pairs(pairs))
    }

    /// Compresses raw bytes as the next header block of the stream.
    pub fn deflate(&mut self, mut input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len() + 64);
        loop {
            out.reserve(256);
            let before = self.deflater.total_in();
            // Compressing into a Vec cannot fail except on misuse.
            let _ = self
                .deflater
                .compress_vec(input, &mut out, FlushCompress::Sync);
            input = &input[(self.deflater.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                return out;
            }
        }
    }
}
