//! Cursor persistence off the send path: the forwarder hands every settled
//! cursor (acknowledged, out of the replay window) to a [`CursorSaver`],
//! which writes it in the background at most every `cursorInterval`, one
//! save at a time. An fsync'd atomic replace costs milliseconds to tens of
//! milliseconds on a busy disk; waiting for one per batch capped the
//! forwarder at a few thousand events/s. The price is in the crash
//! duplicate bound (docs/forwarding.md): what was acknowledged after the
//! last completed save is resent after a kill -9. Nothing here decides
//! what is acknowledged; that is the forwarder's.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::cursor::{Cursor, CursorStore};

/// Persists the settled cursor in the background: at most one save in
/// flight, a new one started at most every `interval` (and only when the
/// settled cursor moved), so the sender never waits for an fsync. The file
/// only ever holds a cursor that was settled (acknowledged and out of the
/// replay window) before its save began, and saves land in order.
pub(crate) struct CursorSaver {
    store: Arc<CursorStore>,
    interval: Duration,
    /// The cursor in the file (or being written to it).
    saved: Cursor,
    /// The newest settled cursor, when it is ahead of `saved`.
    pending: Option<Cursor>,
    in_flight: Option<tokio::task::JoinHandle<Result<(), String>>>,
    /// When the last save started.
    last_start: Option<tokio::time::Instant>,
}

impl CursorSaver {
    pub(crate) fn new(store: Arc<CursorStore>, saved: Cursor, interval: Duration) -> CursorSaver {
        CursorSaver {
            store,
            interval,
            saved,
            pending: None,
            in_flight: None,
            last_start: None,
        }
    }

    /// A batch left the replay window: `c` may be saved. With an interval
    /// of 0 the save completes before this returns (the sender waits: the
    /// tightest crash bound, and the slowest forwarder).
    pub(crate) async fn settled(&mut self, c: Cursor) -> Result<(), String> {
        if c == self.saved {
            return Ok(());
        }
        if self.interval.is_zero() {
            if let Some(h) = self.in_flight.take() {
                h.await.map_err(|e| e.to_string())??;
            }
            self.saved = c.clone();
            self.pending = None;
            let s = self.store.clone();
            return tokio::task::spawn_blocking(move || s.save(&c))
                .await
                .map_err(|e| e.to_string())?;
        }
        self.pending = Some(c);
        self.reap()?;
        self.maybe_start();
        Ok(())
    }

    /// Collects a finished save's result without waiting.
    fn reap(&mut self) -> Result<(), String> {
        if self.in_flight.as_ref().is_some_and(|h| h.is_finished()) {
            let h = self.in_flight.take().expect("checked");
            futures_now(h)?;
        }
        Ok(())
    }

    /// When the next save may start (None: at once, nothing saved yet).
    fn due(&self) -> Option<tokio::time::Instant> {
        self.last_start.map(|t| t + self.interval)
    }

    fn maybe_start(&mut self) {
        if self.in_flight.is_some() || self.pending.is_none() {
            return;
        }
        let now = tokio::time::Instant::now();
        if self.due().is_some_and(|d| d > now) {
            return;
        }
        let c = self.pending.take().expect("checked");
        self.saved = c.clone();
        self.last_start = Some(now);
        let s = self.store.clone();
        self.in_flight = Some(tokio::task::spawn_blocking(move || s.save(&c)));
    }

    /// Resolves when the save in flight finishes or a pending save falls
    /// due (and starts it); pends forever when there is nothing to do.
    pub(crate) async fn tick(&mut self) -> Result<(), String> {
        if let Some(h) = self.in_flight.as_mut() {
            let r = h.await.map_err(|e| e.to_string());
            self.in_flight = None;
            r??;
        } else if self.pending.is_some() {
            if let Some(d) = self.due() {
                tokio::time::sleep_until(d).await;
            }
        } else {
            std::future::pending::<()>().await;
        }
        self.maybe_start();
        Ok(())
    }

    /// Orderly stop: waits for the save in flight, then saves `last` (the
    /// cursor after the last acknowledged batch, when the receiver
    /// confirmed the close) or else the newest settled cursor.
    pub(crate) async fn finish(mut self, last: Option<Cursor>) -> Result<(), String> {
        if let Some(h) = self.in_flight.take() {
            h.await.map_err(|e| e.to_string())??;
        }
        let Some(c) = last.or(self.pending.take()) else {
            return Ok(());
        };
        if c == self.saved {
            return Ok(());
        }
        let s = self.store.clone();
        tokio::task::spawn_blocking(move || s.save(&c))
            .await
            .map_err(|e| e.to_string())?
    }
}

/// Sleeps for `wait` (a retry backoff), starting due cursor saves
/// meanwhile so a long outage does not leave the cursor behind; false
/// when stopped.
pub(crate) async fn sleep_saving(
    wait: Duration,
    stop: &mut watch::Receiver<bool>,
    saver: &mut CursorSaver,
) -> Result<bool, String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Ok(true),
            _ = stop.wait_for(|s| *s) => return Ok(false),
            r = saver.tick() => r?,
        }
    }
}

/// The result of a finished blocking task.
fn futures_now(h: tokio::task::JoinHandle<Result<(), String>>) -> Result<(), String> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut h = std::pin::pin!(h);
    match std::future::Future::poll(h.as_mut(), &mut cx) {
        std::task::Poll::Ready(r) => r.map_err(|e| e.to_string())?,
        std::task::Poll::Pending => Err("cursor save reported finished but is pending".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kac_store::Pointer;

    fn cursor(seq: u64) -> Cursor {
        let mut c = Cursor::default();
        let p = Pointer {
            writer: "proxy".into(),
            segment: 1,
            offset: seq * 100,
            index: 0,
        };
        c.advance(&p, seq);
        c
    }

    #[tokio::test]
    async fn saves_in_the_background_at_most_once_per_interval_and_on_finish() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CursorStore::open(dir.path(), "f").unwrap());
        let mut s = CursorSaver::new(store.clone(), Cursor::default(), Duration::from_secs(3600));
        // The first settled cursor is saved at once (nothing saved yet)...
        s.settled(cursor(1)).await.unwrap();
        s.tick().await.unwrap();
        assert_eq!(store.load().unwrap(), Some(cursor(1)));
        // ...later ones wait for the interval: the file lags behind.
        s.settled(cursor(2)).await.unwrap();
        s.settled(cursor(3)).await.unwrap();
        assert_eq!(store.load().unwrap(), Some(cursor(1)));
        // An orderly stop saves the newest settled cursor...
        s.finish(None).await.unwrap();
        assert_eq!(store.load().unwrap(), Some(cursor(3)));
        // ...or the last acknowledged one when the receiver confirmed it.
        let mut s = CursorSaver::new(store.clone(), cursor(3), Duration::from_secs(3600));
        s.settled(cursor(4)).await.unwrap();
        s.finish(Some(cursor(9))).await.unwrap();
        assert_eq!(store.load().unwrap(), Some(cursor(9)));
    }

    #[tokio::test]
    async fn a_due_save_starts_without_new_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CursorStore::open(dir.path(), "f").unwrap());
        let mut s = CursorSaver::new(store.clone(), Cursor::default(), Duration::from_millis(50));
        s.settled(cursor(1)).await.unwrap();
        s.settled(cursor(2)).await.unwrap();
        // Idle forwarder: ticking alone saves the pending cursor once due
        // (first save done; second due after 50 ms; second save done).
        for _ in 0..3 {
            tokio::time::timeout(Duration::from_secs(30), s.tick())
                .await
                .expect("a tick resolves while a save is pending")
                .unwrap();
        }
        assert_eq!(store.load().unwrap(), Some(cursor(2)));
        // Nothing left to save: a tick pends.
        let idle = tokio::time::timeout(Duration::from_millis(200), s.tick()).await;
        assert!(idle.is_err(), "nothing to save, yet the saver woke up");
    }

    #[tokio::test]
    async fn interval_zero_saves_before_returning() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CursorStore::open(dir.path(), "f").unwrap());
        let mut s = CursorSaver::new(store.clone(), Cursor::default(), Duration::ZERO);
        for i in 1..4 {
            s.settled(cursor(i)).await.unwrap();
            assert_eq!(store.load().unwrap(), Some(cursor(i)));
        }
    }
}
