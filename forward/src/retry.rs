//! Retry pacing and rate limiting, as small pure-ish state machines.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::config::RetryConfig;

/// Exponential backoff with full jitter (AWS's "full jitter"): attempt `n`
/// (0-based) waits uniformly in `[0, min(max, initial * 2^n)]`. Jitter
/// keeps many forwarders that lost the same receiver from reconnecting in
/// lockstep when it comes back.
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempts: u32,
}

impl Backoff {
    pub fn new(cfg: &RetryConfig) -> Backoff {
        Backoff {
            initial: cfg.initial_backoff,
            max: cfg.max_backoff,
            attempts: 0,
        }
    }

    /// The ceiling of the next wait (before jitter).
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempts.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The next wait; counts an attempt.
    pub fn next_wait(&mut self) -> Duration {
        let cap = self.ceiling();
        self.attempts += 1;
        let ms = cap.as_millis().min(u128::from(u64::MAX)) as u64;
        Duration::from_millis(rand::thread_rng().gen_range(0..=ms))
    }

    /// Failed attempts so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// Token bucket on events per second; 0 means unlimited. A batch larger
/// than a second's worth is let through and paid for by waiting after it.
pub struct RateLimit {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    pub fn new(per_sec: u32) -> RateLimit {
        RateLimit {
            rate: f64::from(per_sec),
            tokens: f64::from(per_sec),
            last: Instant::now(),
        }
    }

    /// How long to wait before sending `n` events, and takes them.
    pub fn reserve(&mut self, n: usize, now: Instant) -> Duration {
        if self.rate <= 0.0 {
            return Duration::ZERO;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }

    pub async fn take(&mut self, n: usize) {
        let wait = self.reserve(n, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_with_jitter_below_it() {
        let cfg = RetryConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        };
        let mut b = Backoff::new(&cfg);
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            let c = b.ceiling();
            let w = b.next_wait();
            assert!(w <= c, "{w:?} > {c:?}");
            ceilings.push(c.as_millis());
        }
        assert_eq!(ceilings, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        assert_eq!(b.attempts(), 8);
        // Full jitter: waits spread over [0, cap], not clustered at the cap.
        let waits: Vec<u128> = (0..200).map(|_| b.next_wait().as_millis()).collect();
        assert!(waits.iter().any(|&w| w < 1000) && waits.iter().any(|&w| w > 1000));
    }

    #[test]
    fn rate_limit_paces_to_the_rate() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(1000);
        // A full bucket lets a second's worth through at once...
        assert_eq!(r.reserve(1000, t0), Duration::ZERO);
        // ...then 500 more cost half a second.
        let w = r.reserve(500, t0);
        assert!((w.as_secs_f64() - 0.5).abs() < 1e-6, "{w:?}");
        // After 1.5 s the debt is paid and 1000 tokens are back (capped).
        let w = r.reserve(1000, t0 + Duration::from_millis(1500));
        assert_eq!(w, Duration::ZERO);
        assert_eq!(RateLimit::new(0).reserve(1_000_000, t0), Duration::ZERO);
    }
}
