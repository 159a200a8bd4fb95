//! Brute-force defence per account (issue 8 item 2): failed password sign-ins are counted per
//! normalised email address — a keyed digest, and whether or not an account has it, so an
//! unknown address behaves exactly like a known one. After a few free failures each further
//! attempt must wait for a not-before time that doubles with every failure; past a threshold the
//! address is locked for a while. A successful sign-in or a password reset clears it; time
//! clears it too.
//!
//! An attempt that comes too early is refused *without* checking the password, with the same
//! answer and about the same cost as a wrong password (the caller runs the decoy hash), so the
//! response reveals neither the account nor the lock (DESIGN §7.2). Time is a parameter: the
//! not-before is a timestamp compared with `now`; store expiries only clear records away.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use keys::MacKey;

use super::email_subject;
use crate::store::{ShortLivedStore, StoreError};

/// When failures start to cost time and when they lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures that cost nothing (typos).
    pub free_failures: u64,
    /// The wait after the first failure past the free ones; each further one doubles it.
    pub first_delay: Duration,
    /// From this many failures on, each failure locks the address for [`Self::lock_for`].
    pub lock_after: u64,
    pub lock_for: Duration,
    /// Failures are counted in windows of this length from the first one.
    pub failure_window: Duration,
}

impl Default for LockoutPolicy {
    /// 3 free failures; waits of 1, 2, 4 … 32 s after failures 4 to 9; from the 10th failure
    /// within an hour, 15 minutes locked after each.
    fn default() -> Self {
        Self {
            free_failures: 3,
            first_delay: Duration::from_secs(1),
            lock_after: 10,
            lock_for: Duration::from_secs(15 * 60),
            failure_window: Duration::from_secs(3600),
        }
    }
}

impl LockoutPolicy {
    /// How long the address must wait after its `failures`-th failure.
    pub fn wait_after(&self, failures: u64) -> Option<Duration> {
        if failures >= self.lock_after {
            return Some(self.lock_for);
        }
        let past_free = failures.checked_sub(self.free_failures).filter(|past| *past > 0)?;
        let doubling = u32::try_from(past_free - 1).unwrap_or(u32::MAX).min(20);
        Some(self.first_delay.saturating_mul(1 << doubling).min(self.lock_for))
    }
}

/// The sign-in guard of every password check.
#[derive(Clone)]
pub struct SignInGuard {
    store: Arc<dyn ShortLivedStore>,
    subject_key: MacKey,
    policy: LockoutPolicy,
}

impl SignInGuard {
    pub fn new(store: Arc<dyn ShortLivedStore>, subject_key: MacKey, policy: LockoutPolicy) -> Self {
        Self { store, subject_key, policy }
    }

    fn subject(&self, email: &str) -> String {
        self.subject_key.tag(email_subject(email).as_bytes())
    }

    fn failures_key(subject: &str) -> String {
        format!("signin-failures:{subject}")
    }

    fn not_before_key(subject: &str) -> String {
        format!("signin-not-before:{subject}")
    }

    /// Whether `email` may try a password at `now`; `false` while it waits or is locked.
    pub async fn admits(&self, email: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let stored = self.store.get(&Self::not_before_key(&self.subject(email))).await?;
        let not_before = stored
            .and_then(|value| String::from_utf8(value).ok())
            .and_then(|value| value.parse::<i64>().ok())
            .and_then(DateTime::from_timestamp_millis);
        Ok(not_before.is_none_or(|not_before| now >= not_before))
    }

    /// Records a failed attempt; returns the not-before it sets, if any.
    pub async fn failed(&self, email: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
        let subject = self.subject(email);
        let failures = self.store.increment(&Self::failures_key(&subject), self.policy.failure_window).await?.count;
        let Some(wait) = self.policy.wait_after(failures) else { return Ok(None) };
        let not_before = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
        let value = not_before.timestamp_millis().to_string();
        self.store.put(&Self::not_before_key(&subject), value.as_bytes(), wait + Duration::from_secs(1)).await?;
        Ok(Some(not_before))
    }

    /// Forgets the failures of `email`: after a successful sign-in or a password reset.
    pub async fn clear(&self, email: &str) -> Result<(), StoreError> {
        let subject = self.subject(email);
        self.store.delete(&Self::not_before_key(&subject)).await?;
        self.store.delete(&Self::failures_key(&subject)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::short_lived::MemoryStore;

    fn guard() -> SignInGuard {
        let kek = keys::Kek::generate().unwrap();
        SignInGuard::new(Arc::new(MemoryStore::new()), kek.mac_key("sign-in-lockout"), LockoutPolicy::default())
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn waits_double_after_the_free_failures_then_lock() {
        let policy = LockoutPolicy::default();
        let waits: Vec<Option<u64>> = (1..=11).map(|n| policy.wait_after(n).map(|d| d.as_secs())).collect();
        assert_eq!(
            waits,
            [None, None, None, Some(1), Some(2), Some(4), Some(8), Some(16), Some(32), Some(900), Some(900)]
        );
    }

    #[tokio::test]
    async fn an_address_waits_after_failures_and_time_or_a_clear_lets_it_in() {
        let guard = guard();
        let email = "ann@example.com";
        for n in 1..=3 {
            assert!(guard.admits(email, at(0)).await.unwrap(), "attempt {n} is free");
            assert_eq!(guard.failed(email, at(0)).await.unwrap(), None);
        }
        assert_eq!(guard.failed(email, at(0)).await.unwrap(), Some(at(1)));
        assert!(!guard.admits("ANN@example.com", at(0)).await.unwrap(), "the same address, normalised");
        assert!(guard.admits("bo@example.com", at(0)).await.unwrap(), "another address is not affected");
        assert!(guard.admits(email, at(1)).await.unwrap(), "the wait is over");

        for _ in 5..=10 {
            guard.failed(email, at(1)).await.unwrap();
        }
        assert!(!guard.admits(email, at(1 + 899)).await.unwrap(), "locked for 15 minutes");
        assert!(guard.admits(email, at(1 + 900)).await.unwrap(), "unlocked by time");

        guard.failed(email, at(901)).await.unwrap();
        assert!(!guard.admits(email, at(902)).await.unwrap());
        guard.clear(email).await.unwrap();
        assert!(guard.admits(email, at(902)).await.unwrap(), "unlocked by a reset or a sign-in");
        assert_eq!(guard.failed(email, at(902)).await.unwrap(), None, "the count starts again");
    }
}
