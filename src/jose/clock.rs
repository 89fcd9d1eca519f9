//! Injected time. Nothing in jagspec reads the wall clock directly, so every expiry, skew
//! and lifetime check can be driven deterministically by a test.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch: the JWT `NumericDate` (RFC 7519 §2), at the whole-second
/// precision the protocols use.
pub type UnixTime = i64;

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> UnixTime;

    /// The current time in Unix milliseconds, for records that order events finer than a
    /// second (audit times and ids). By default `now()` in milliseconds.
    fn now_millis(&self) -> i64 {
        self.now().saturating_mul(1000)
    }
}

/// The system's wall clock: the default outside tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        // Before 1970 is not a time this program runs at; clamp rather than panic.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }

    fn now_millis(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that stands still until told to move: tests set it and advance it.
///
/// ```
/// use jagspec::{Clock, FixedClock};
/// let clock = FixedClock::at(1_000);
/// clock.advance(301);
/// assert_eq!(clock.now(), 1_301);
/// ```
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock showing `t`.
    pub fn at(t: UnixTime) -> Self {
        Self(AtomicI64::new(t))
    }

    /// Sets the time.
    pub fn set(&self, t: UnixTime) {
        self.0.store(t, Ordering::SeqCst);
    }

    /// Moves the time forward (or back, with a negative value) by `secs`.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }
}
