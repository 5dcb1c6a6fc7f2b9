//! Graceful shutdown: what SIGTERM and Ctrl-C set in motion.
//!
//! Why a shared handle rather than dropping everything: an audit event is
//! emitted when its response body ends, and a watch or an exec session may
//! stream for hours. Dropping the runtime would lose those events, and
//! waiting for clients to hang up may never end. So the proxy, in order:
//! 1. stops accepting connections and reports not-ready;
//! 2. ends long streams itself — a watch's response body ends cleanly (the
//!    client sees the end of a chunked response or an HTTP/2 END_STREAM and
//!    re-watches, as after an apiserver restart), an exec or attach session
//!    gets a Status on its error channel and a WebSocket close frame;
//! 3. lets ordinary in-flight requests finish, HTTP/2 connections get a
//!    GOAWAY and idle HTTP/1.1 connections close — all within a bounded
//!    grace period, after which what is left is cut (and still audited);
//! 4. drains, flushes and fsyncs the audit queue (see `audit::AuditWriter`).
//!
//! [`Shutdown`] carries the signal (a cancellation token) and tracks the
//! tasks the proxy must wait for (connections, session pumps, tunnels).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

use crate::http::{Body, BodyError};

/// The proxy-wide shutdown signal and the tasks that must end before exit.
/// Cheap to clone; every clone sees the same signal and tracker.
#[derive(Clone, Default)]
pub struct Shutdown {
    /// Fired first: stop accepting, end streams, close sessions.
    graceful: CancellationToken,
    /// Fired when the grace period is over: cut whatever still runs.
    force: CancellationToken,
    tasks: TaskTracker,
}

impl Shutdown {
    /// Starts the graceful phase.
    pub fn begin(&self) {
        self.graceful.cancel();
    }

    /// Whether shutdown has begun (e.g. `/readyz` says so).
    pub fn is_shutting_down(&self) -> bool {
        self.graceful.is_cancelled()
    }

    /// Resolves when shutdown begins.
    pub fn started(&self) -> WaitForCancellationFutureOwned {
        self.graceful.clone().cancelled_owned()
    }

    /// Resolves when the grace period is over.
    pub fn forced(&self) -> WaitForCancellationFutureOwned {
        self.force.clone().cancelled_owned()
    }

    /// Spawns a task the proxy waits for before it exits.
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(task)
    }

    /// Tracked tasks still running.
    pub fn running(&self) -> usize {
        self.tasks.len()
    }

    /// Waits up to `grace` for the tracked tasks, then fires the force
    /// signal and waits up to `cut` more for them to wind down. Returns how
    /// many were still running at the end of the grace period (0: clean).
    pub async fn wait(&self, grace: Duration, cut: Duration) -> usize {
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_ok() {
            return 0;
        }
        let left = self.tasks.len();
        self.force.cancel();
        if tokio::time::timeout(cut, self.tasks.wait()).await.is_err() {
            tracing::error!(
                tasks = self.tasks.len(),
                "tasks did not stop after being cut"
            );
        }
        left
    }

    /// Wraps a long-running response body (a watch, `logs -f`) so that it
    /// ends cleanly when shutdown begins.
    pub fn end_stream_on_shutdown(&self, inner: Body) -> EndOnShutdown {
        EndOnShutdown {
            inner,
            signal: Box::pin(self.started()),
            ended: false,
        }
    }
}

/// A response body that ends when shutdown begins: whatever the upstream
/// already delivered is passed on first, then the body ends (for HTTP/1.1
/// the last chunk, for HTTP/2 END_STREAM), so the client sees a normal end
/// of a watch rather than a reset connection.
pub struct EndOnShutdown {
    inner: Body,
    signal: Pin<Box<WaitForCancellationFutureOwned>>,
    ended: bool,
}

impl HttpBody for EndOnShutdown {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Pending => {}
            ready => return ready,
        }
        // Nothing more buffered upstream: end here if shutdown has begun.
        if self.signal.as_mut().poll(cx).is_ready() {
            self.ended = true;
            return Poll::Ready(None);
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.ended {
            SizeHint::with_exact(0)
        } else {
            // The length is unknown once the body may end early.
            let mut h = SizeHint::new();
            h.set_lower(0);
            h
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_stream_ends_cleanly_after_passing_on_what_was_buffered() {
        let s = Shutdown::default();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BodyError>>(4);
        let inner = http_body_util::StreamBody::new(tokio_stream_from(rx)).boxed_unsync();
        let mut body = s.end_stream_on_shutdown(inner);
        tx.send(Ok(Frame::data(Bytes::from_static(
            b"{\"type\":\"ADDED\"}\n",
        ))))
        .await
        .unwrap();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], b"{\"type\":\"ADDED\"}\n");
        // Buffered before the signal: still delivered.
        tx.send(Ok(Frame::data(Bytes::from_static(
            b"{\"type\":\"MODIFIED\"}\n",
        ))))
        .await
        .unwrap();
        s.begin();
        let second = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&second[..], b"{\"type\":\"MODIFIED\"}\n");
        // Then the body ends even though the upstream is still open.
        let end = tokio::time::timeout(Duration::from_secs(5), body.frame()).await;
        assert!(matches!(end, Ok(None)), "the body should end");
        assert!(body.is_end_stream());
        drop(tx);
    }

    #[tokio::test]
    async fn wait_reports_tasks_cut_after_the_grace_period() {
        let s = Shutdown::default();
        let forced = s.forced();
        s.spawn(async {});
        s.spawn(async move {
            // Ignores the graceful signal, obeys the forced one.
            forced.await;
        });
        s.begin();
        let left = s
            .wait(Duration::from_millis(50), Duration::from_secs(5))
            .await;
        assert_eq!(left, 1);
        assert_eq!(s.running(), 0);
        let clean = Shutdown::default();
        clean.spawn(async {});
        assert_eq!(
            clean
                .wait(Duration::from_secs(5), Duration::from_secs(5))
                .await,
            0
        );
    }

    fn tokio_stream_from<T: Send + 'static>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
