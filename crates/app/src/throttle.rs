//! Sign-in throttling: after [`PER_USERNAME`] failed sign-ins for one
//! username, or [`PER_ADDRESS`] from one client address, within
//! [`WINDOW`], further attempts are refused (429 `too-many-attempts`, with
//! `Retry-After`) before any password is hashed, so a guessing client costs
//! no CPU. A sliding window: each failure counts for 15 minutes after it.
//!
//! With Redis the failures are kept there (a sorted set per key, scored by
//! time), so every replica sees them; without it, or while it cannot be
//! reached, in this process. The answer is the same whether or not the
//! username exists.

use crate::redis::Redis;
use inventory_core::{Error, Result};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// How long a failed sign-in counts.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed sign-ins for one username within the window before refusing.
pub const PER_USERNAME: usize = 5;
/// Failed sign-ins from one client address within the window before refusing.
pub const PER_ADDRESS: usize = 20;

/// Keys kept in process before expired ones are swept out.
const SWEEP_ABOVE: usize = 10_000;

/// What one key (a username or an address) is throttled by.
pub(crate) struct Limit {
    pub key: String,
    pub max: usize,
}

/// The keys a sign-in attempt counts against.
pub(crate) fn limits(username: &str, addr: Option<&str>) -> Vec<Limit> {
    let mut limits = vec![Limit {
        key: format!("user:{}", username.trim().to_lowercase()),
        max: PER_USERNAME,
    }];
    if let Some(addr) = addr.filter(|a| !a.is_empty()) {
        limits.push(Limit {
            key: format!("addr:{addr}"),
            max: PER_ADDRESS,
        });
    }
    limits
}

/// Failed sign-ins kept in this process: per key, their times (ms since
/// the epoch), oldest first.
#[derive(Default)]
pub(crate) struct LocalFailures(Mutex<HashMap<String, VecDeque<i64>>>);

impl LocalFailures {
    /// Per limit: failures within the window, and the oldest one's time.
    fn recent(&self, limits: &[Limit], now: i64) -> Vec<(usize, Option<i64>)> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        limits
            .iter()
            .map(|limit| match map.get_mut(&limit.key) {
                Some(times) => {
                    prune(times, now);
                    (times.len(), times.front().copied())
                }
                None => (0, None),
            })
            .collect()
    }

    fn add(&self, limits: &[Limit], now: i64) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, times| {
                prune(times, now);
                !times.is_empty()
            });
        }
        for limit in limits {
            let times = map.entry(limit.key.clone()).or_default();
            prune(times, now);
            times.push_back(now);
            // More than the limit never changes the answer.
            while times.len() > limit.max {
                times.pop_front();
            }
        }
    }

    fn clear(&self, key: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

fn keys(limits: &[Limit]) -> Vec<&str> {
    limits.iter().map(|l| l.key.as_str()).collect()
}

fn window_ms() -> i64 {
    WINDOW.as_millis() as i64
}

fn prune(times: &mut VecDeque<i64>, now: i64) {
    while times.front().is_some_and(|t| *t <= now - window_ms()) {
        times.pop_front();
    }
}

/// The refusal when any limit is reached: seconds until its oldest
/// failure leaves the window (at least 1).
fn verdict(limits: &[Limit], recent: &[(usize, Option<i64>)], now: i64) -> Result<()> {
    let wait_ms = limits
        .iter()
        .zip(recent)
        .filter(|(limit, (count, _))| *count >= limit.max)
        .filter_map(|(_, (_, oldest))| *oldest)
        .map(|oldest| oldest + window_ms() - now)
        .max();
    match wait_ms {
        Some(ms) => Err(Error::TooManyAttempts {
            retry_after: (ms.max(0) as u64).div_ceil(1000).max(1),
        }),
        None => Ok(()),
    }
}

/// The throttle: Redis when configured and reachable, this process
/// otherwise.
#[derive(Default)]
pub(crate) struct SignInThrottle {
    local: LocalFailures,
}

impl SignInThrottle {
    /// Refuses (429) when the username or the address has too many recent
    /// failures.
    pub async fn check(&self, redis: Option<&Redis>, limits: &[Limit]) -> Result<()> {
        let now = chrono::Utc::now().timestamp_millis();
        let recent = match redis {
            Some(redis) => match redis.recent_failures(&keys(limits), now, window_ms()).await {
                Ok(recent) => recent,
                Err(e) => {
                    redis_unreachable(&e);
                    self.local.recent(limits, now)
                }
            },
            None => self.local.recent(limits, now),
        };
        verdict(limits, &recent, now)
    }

    /// Counts a failed sign-in against each limit.
    pub async fn failed(&self, redis: Option<&Redis>, limits: &[Limit]) {
        let now = chrono::Utc::now().timestamp_millis();
        metrics::counter!("inventory_sign_in_failures_total").increment(1);
        if let Some(redis) = redis {
            match redis.add_failure(&keys(limits), now, window_ms()).await {
                Ok(()) => return,
                Err(e) => redis_unreachable(&e),
            }
        }
        self.local.add(limits, now);
    }

    /// A successful sign-in forgets the username's failures (not the
    /// address's: one right password does not excuse a spray).
    pub async fn succeeded(&self, redis: Option<&Redis>, limits: &[Limit]) {
        let Some(user) = limits.first() else { return };
        self.local.clear(&user.key);
        if let Some(redis) = redis {
            if let Err(e) = redis.clear_failures(&user.key).await {
                redis_unreachable(&e);
            }
        }
    }
}

fn redis_unreachable(e: &str) {
    metrics::counter!("inventory_errors_total", "type" => "cache").increment(1);
    tracing::warn!(error = %e, "sign-in throttle: Redis unavailable; counting in this process");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_failure_for_a_username_closes_it_until_the_first_ages_out() {
        let local = LocalFailures::default();
        let limits = limits("Alice", Some("10.0.0.1"));
        let t0 = 1_000_000_000;
        for n in 0..PER_USERNAME as i64 {
            let now = t0 + n * 1000;
            assert!(verdict(&limits, &local.recent(&limits, now), now).is_ok());
            local.add(&limits, now);
        }
        let now = t0 + 10_000;
        match verdict(&limits, &local.recent(&limits, now), now) {
            Err(Error::TooManyAttempts { retry_after }) => {
                assert_eq!(retry_after, WINDOW.as_secs() - 10)
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // The same name in other case is the same user.
        let upper = super::limits("ALICE", None);
        assert!(verdict(&upper, &local.recent(&upper, now), now).is_err());
        // Once the first failure is 15 minutes old, one more attempt is allowed.
        let later = t0 + window_ms() + 1;
        assert!(verdict(&limits, &local.recent(&limits, later), later).is_ok());
    }

    #[test]
    fn an_address_is_closed_after_twenty_failures_over_any_usernames() {
        let local = LocalFailures::default();
        let now = 5_000_000;
        for n in 0..PER_ADDRESS {
            let limits = limits(&format!("user{n}"), Some("10.0.0.2"));
            assert!(verdict(&limits, &local.recent(&limits, now), now).is_ok());
            local.add(&limits, now);
        }
        let fresh_name = limits("nobody-tried-me", Some("10.0.0.2"));
        assert!(verdict(&fresh_name, &local.recent(&fresh_name, now), now).is_err());
        let elsewhere = limits("nobody-tried-me", Some("10.0.0.3"));
        assert!(verdict(&elsewhere, &local.recent(&elsewhere, now), now).is_ok());
    }

    #[test]
    fn forgetting_a_username_keeps_its_address_counted() {
        let local = LocalFailures::default();
        let limits = limits("bob", Some("10.0.0.4"));
        for _ in 0..PER_USERNAME {
            local.add(&limits, 1);
        }
        local.clear(&limits[0].key);
        let recent = local.recent(&limits, 2);
        assert_eq!(recent[0].0, 0);
        assert_eq!(recent[1].0, PER_USERNAME);
    }
}
