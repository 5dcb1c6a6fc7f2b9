//! Body wrappers that count bytes and emit the request's audit event exactly
//! once, when the response body ends (or the client goes away).
//!
//! Emitting at the end, not at the start, lets one event carry the response
//! code, the duration and the bytes of a long watch or log stream.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use kac_event::{ApiEvent, Event};

use crate::audit::AuditTx;
use crate::http::{Body, BodyError};
use crate::metrics::{GaugeGuard, Metrics};

/// Counts the bytes of a request body as it streams upstream.
pub struct CountingBody {
    inner: Body,
    count: Arc<AtomicU64>,
}

impl CountingBody {
    pub fn new(inner: Body, count: Arc<AtomicU64>) -> Self {
        Self { inner, count }
    }
}

impl HttpBody for CountingBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &poll {
            if let Some(d) = frame.data_ref() {
                self.count.fetch_add(d.len() as u64, Ordering::Relaxed);
            }
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What the audited body needs to finish the event.
pub struct Finish {
    pub event: ApiEvent,
    pub start: Instant,
    pub bytes_in: Arc<AtomicU64>,
    pub audit: AuditTx,
    pub metrics: Arc<Metrics>,
    /// Keeps the open-watches gauge up while a watch streams.
    pub watch: Option<GaugeGuard>,
    /// Items a filtered stream hid, counted while it ran.
    pub hidden: Option<Arc<AtomicU64>>,
}

/// Wraps a response body; emits the audit event when it ends or is dropped.
pub struct AuditedBody {
    inner: Body,
    bytes_out: u64,
    error: Option<String>,
    finish: Option<Finish>,
}

impl AuditedBody {
    pub fn new(inner: Body, finish: Finish) -> Self {
        Self {
            inner,
            bytes_out: 0,
            error: None,
            finish: Some(finish),
        }
    }

    fn complete(&mut self) {
        let Some(mut f) = self.finish.take() else {
            return;
        };
        let elapsed = f.start.elapsed();
        f.event.duration_us = elapsed.as_micros() as u64;
        f.event.bytes_out = self.bytes_out;
        f.event.bytes_in = f.bytes_in.load(Ordering::Relaxed);
        if let Some(h) = &f.hidden {
            f.event.filtered_items = h.load(Ordering::Relaxed);
        }
        if let Some(e) = self.error.take() {
            f.event.error.get_or_insert(e);
        }
        f.metrics.observe(
            &f.event.cluster,
            &f.event.verb,
            f.event.code,
            f.event.decision.outcome.as_str(),
            elapsed,
        );
        drop(f.watch.take());
        f.audit.emit_detached(Event::Api(Box::new(f.event)));
    }
}

impl HttpBody for AuditedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    self.bytes_out += d.len() as u64;
                }
            }
            Poll::Ready(Some(Err(e))) => {
                self.error = Some(format!("response stream failed: {e}"));
                self.complete();
            }
            Poll::Ready(None) => self.complete(),
            Poll::Pending => {}
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for AuditedBody {
    fn drop(&mut self) {
        // The client went away before the body ended (e.g. Ctrl-C on a
        // watch, which is how watches normally end): still exactly one event.
        self.complete();
    }
}
