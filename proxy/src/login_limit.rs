//! Failed-login throttling per client address.
//!
//! Argon2 makes each guess slow; this bounds how many guesses one address
//! gets: after [`MAX_FAILURES`] failed logins within [`WINDOW`], that
//! address gets 429 until the window passes. Keyed by address, not by user
//! name, so nobody can lock a user out by failing on their name from
//! elsewhere. Per replica and in memory (the proxy keeps no shared state);
//! a successful login clears the address's count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins allowed per address within [`WINDOW`].
pub const MAX_FAILURES: u32 = 10;
/// The counting window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; beyond it, expired entries are dropped and
/// then the oldest (bounded memory under a spray of addresses).
const MAX_TRACKED: usize = 10_000;

#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginLimiter {
    /// `Err(wait)` when `addr` must wait before trying again.
    pub fn check(&self, addr: IpAddr, now: Instant) -> Result<(), Duration> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&addr) {
            Some(&(n, since)) if n >= MAX_FAILURES && now < since + WINDOW => {
                Err(since + WINDOW - now)
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, addr: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&addr) {
            map.retain(|_, (_, since)| now < *since + WINDOW);
            if map.len() >= MAX_TRACKED {
                if let Some(oldest) = map.iter().min_by_key(|(_, (_, s))| *s).map(|(a, _)| *a) {
                    map.remove(&oldest);
                }
            }
        }
        let e = map.entry(addr).or_insert((0, now));
        if now >= e.1 + WINDOW {
            *e = (0, now);
        }
        e.0 += 1;
    }

    pub fn succeeded(&self, addr: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_throttled_after_repeated_failures_then_released() {
        let l = LoginLimiter::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(l.check(a, t0).is_ok());
            l.failed(a, t0);
        }
        let wait = l.check(a, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(l.check(b, t0).is_ok(), "other addresses are not affected");
        assert!(l.check(a, t0 + WINDOW).is_ok(), "the window passes");
        // A success clears the count.
        l.failed(a, t0 + WINDOW);
        l.succeeded(a);
        assert!(l.check(a, t0 + WINDOW).is_ok());
    }

    #[test]
    fn memory_stays_bounded() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 50) {
            l.failed(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert!(l.failures.lock().unwrap().len() <= MAX_TRACKED);
    }
}
