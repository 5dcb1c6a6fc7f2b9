//! SPDY/3 header blocks: a count and length-prefixed name/value pairs,
//! compressed with one zlib stream per direction for the whole connection,
//! primed with the fixed SPDY/3 dictionary and flushed with SYNC_FLUSH after
//! every block.

use std::sync::OnceLock;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::SpdyError;

/// Largest decompressed header block accepted (kubectl's are < 1 KiB).
pub const MAX_HEADER_BLOCK: usize = 256 * 1024;

/// Header name/value pairs, in wire order. Names are lower case on the wire;
/// a value may hold several values separated by NUL.
pub type Headers = Vec<(String, String)>;

/// The SPDY/3 compression dictionary (draft-mbelshe-httpbis-spdy-00,
/// section 2.6.10.1), built from its definition: 4-byte big-endian
/// length-prefixed header words, then a run of common header values.
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
        const TAIL: &[&str] = &[
            "100101201202205206300302303304305306307402405406407408409410",
            "411412413414415416417502504505",
            "203 Non-Authoritative Information",
            "204 No Content",
            "301 Moved Permanently",
            "400 Bad Request",
            "401 Unauthorized",
            "403 Forbidden",
            "404 Not Found",
            "500 Internal Server Error",
            "501 Not Implemented",
            "503 Service Unavailable",
            "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec",
            " 00:00:00",
            " Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT",
            "chunked,text/html,image/png,image/jpg,image/gif,",
            "application/xml,application/xhtml+xml,text/plain,",
            "text/javascript,publicprivatemax-age=gzip,deflate,sdch",
            "charset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
        ];
        let mut d = Vec::with_capacity(1424);
        for w in WORDS {
            d.extend_from_slice(&(w.len() as u32).to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        for t in TAIL {
            d.extend_from_slice(t.as_bytes());
        }
        d
    })
}

/// Serialises headers into an uncompressed block.
pub fn encode_block(headers: &Headers) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    for (n, v) in headers {
        out.extend_from_slice(&(n.len() as u32).to_be_bytes());
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// Parses an uncompressed header block.
pub fn decode_block(block: &[u8]) -> Result<Headers, SpdyError> {
    let mut r = block;
    let mut take = |n: usize| -> Result<&[u8], SpdyError> {
        if r.len() < n {
            return Err(SpdyError::BadHeaderBlock("truncated"));
        }
        let (a, b) = r.split_at(n);
        r = b;
        Ok(a)
    };
    let count = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes"));
    // Each pair needs at least 8 bytes: reject absurd counts before allocating.
    if count as usize > block.len() / 8 {
        return Err(SpdyError::BadHeaderBlock("pair count exceeds block"));
    }
    let mut headers = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let nl = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        let name = String::from_utf8_lossy(take(nl)?).into_owned();
        let vl = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        let value = String::from_utf8_lossy(take(vl)?).into_owned();
        headers.push((name, value));
    }
    Ok(headers)
}

/// One direction's header decompressor.
pub struct HeaderInflater {
    z: Decompress,
}

impl Default for HeaderInflater {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for HeaderInflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderInflater").finish_non_exhaustive()
    }
}

impl HeaderInflater {
    pub fn new() -> Self {
        HeaderInflater {
            z: Decompress::new(true),
        }
    }

    /// Inflates one compressed header block and parses it.
    pub fn inflate(&mut self, compressed: &[u8]) -> Result<Headers, SpdyError> {
        let mut out: Vec<u8> = Vec::with_capacity(1024);
        let mut input = compressed;
        loop {
            if out.len() == out.capacity() {
                if out.len() >= MAX_HEADER_BLOCK {
                    return Err(SpdyError::BadHeaderBlock("header block too large"));
                }
                out.reserve(out.len().max(1024));
            }
            let before_in = self.z.total_in();
            let before_out = out.len();
            let res = self
                .z
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = (self.z.total_in() - before_in) as usize;
            input = &input[used.min(input.len())..];
            match res {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {
                    // Done when all input is consumed and the output
                    // buffer was not the limit.
                    if input.is_empty() && out.len() < out.capacity() {
                        break;
                    }
                    if used == 0 && out.len() == before_out && out.len() < out.capacity() {
                        return Err(SpdyError::BadHeaderBlock("zlib made no progress"));
                    }
                }
                Err(e) => match e.needs_dictionary() {
                    Some(_) => {
                        self.z
                            .set_dictionary(dictionary())
                            .map_err(|e| SpdyError::Zlib(e.to_string()))?;
                    }
                    None => return Err(SpdyError::Zlib(e.to_string())),
                },
            }
        }
        decode_block(&out)
    }
}

/// One direction's header compressor.
pub struct HeaderDeflater {
    z: Compress,
}

impl std::fmt::Debug for HeaderDeflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderDeflater").finish_non_exhaustive()
    }
}

impl Default for HeaderDeflater {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDeflater {
    pub fn new() -> Self {
        let mut z = Compress::new(Compression::default(), true);
        z.set_dictionary(dictionary())
            .expect("setting a dictionary on a fresh compressor cannot fail");
        HeaderDeflater { z }
    }

    /// Compresses one header block (ending with a sync flush).
    pub fn deflate(&mut self, headers: &Headers) -> Vec<u8> {
        let block = encode_block(headers);
        let mut out = Vec::with_capacity(block.len() + 64);
        let mut input = &block[..];
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(256);
            }
            let before = self.z.total_in();
            self.z
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .expect("deflate into a growing buffer cannot fail");
            let used = (self.z.total_in() - before) as usize;
            input = &input[used..];
            // A sync flush is complete when input is consumed and spare
            // output room remained.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        out
    }
}
