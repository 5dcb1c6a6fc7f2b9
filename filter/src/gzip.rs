//! [`ListStream`]: the list filter behind an optional gzip decoder and
//! encoder, so the proxy can filter a `Content-Encoding: gzip` body chunk
//! by chunk and forward gzip again.

use std::io::Write;

use flate2::write::{GzDecoder, GzEncoder};
use flate2::Compression;

use crate::list::ListFilter;
use crate::{Encoding, FilterError, ListContext, ObjectRef};

/// Streaming list filter for a hyper body: feed each incoming chunk, send
/// each returned chunk (possibly empty), then send what `finish` returns.
pub struct ListStream<F> {
    inner: ListFilter<F>,
    gunzip: Option<GzDecoder<Vec<u8>>>,
    gzip: Option<GzEncoder<Vec<u8>>>,
}

impl<F> ListStream<F>
where
    F: Fn(&ObjectRef<'_>) -> bool,
{
    pub fn new(ctx: ListContext, visible: F) -> Self {
        let gz = ctx.encoding == Encoding::Gzip;
        ListStream {
            inner: ListFilter::new(ctx, visible),
            gunzip: gz.then(|| GzDecoder::new(Vec::new())),
            // Fast level: the proxy's bottleneck is latency, not bytes.
            gzip: gz.then(|| GzEncoder::new(Vec::new(), Compression::fast())),
        }
    }

    /// Items hidden so far.
    pub fn hidden(&self) -> usize {
        self.inner.hidden()
    }

    fn encode(&mut self, plain: Vec<u8>) -> Result<Vec<u8>, FilterError> {
        match &mut self.gzip {
            None => Ok(plain),
            Some(enc) => {
                enc.write_all(&plain)?;
                Ok(std::mem::take(enc.get_mut()))
            }
        }
    }

    /// Feed one chunk of the (encoded) body; returns encoded output.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<u8>, FilterError> {
        let plain = match &mut self.gunzip {
            None => self.inner.feed(chunk)?,
            Some(dec) => {
                dec.write_all(chunk)?;
                let decoded = std::mem::take(dec.get_mut());
                self.inner.feed(&decoded)?
            }
        };
        self.encode(plain)
    }

    /// End of the body: the remaining output, and (hidden, kept) counts.
    pub fn finish(mut self) -> Result<(Vec<u8>, usize, usize), FilterError> {
        let mut plain = Vec::new();
        if let Some(mut dec) = self.gunzip.take() {
            dec.try_finish()?;
            let rest = std::mem::take(dec.get_mut());
            plain = self.inner.feed(&rest)?;
        }
        let (tail, hidden, kept) = self.inner.finish()?;
        plain.extend_from_slice(&tail);
        let out = match self.gzip.take() {
            None => plain,
            Some(mut enc) => {
                enc.write_all(&plain)?;
                enc.finish()?
            }
        };
        Ok((out, hidden, kept))
    }
}
