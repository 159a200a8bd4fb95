//! Rate limits (issue 8 item 1) and the per-account sign-in delays ([`lockout`], item 2).
//!
//! A limit is a fixed-window counter per scope and subject (an IP, an IP and an email address, a
//! client, a challenge), counted atomically in the short-lived store — one round trip for every
//! scope a request is limited by — so every node spends the same budget (DESIGN §7.7). Subjects
//! are keyed digests: neither addresses nor IPs appear in Redis keys. The counters live behind
//! [`FallbackStore`](crate::store::short_lived::FallbackStore): while Redis is out each node
//! counts on its own; limits never fail open and never answer 5xx.
//!
//! The answer is a [`Decision`] with what draft-ietf-httpapi-ratelimit-headers needs (limit,
//! remaining, reset); the HTTP layer turns it into headers and each route's 429.

mod limits;
pub mod lockout;

use std::{sync::Arc, time::Duration};

use keys::MacKey;

pub use self::limits::{Limit, RateLimits, Scope};
use crate::{
    metrics::Metrics,
    store::{ShortLivedStore, short_lived::Outage},
};

/// The outcome of counting one request against its budgets: the binding one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub scope: Scope,
    pub allowed: bool,
    /// The budget of the window (`RateLimit-Limit`).
    pub limit: u64,
    /// Requests left in the window after this one (`RateLimit-Remaining`).
    pub remaining: u64,
    /// Until the window closes (`RateLimit-Reset`; `Retry-After` when refused).
    pub reset: Duration,
    /// The window's length (`RateLimit-Policy`).
    pub window: Duration,
}

impl Decision {
    fn counted(scope: Scope, limit: Limit, count: u64, reset: Duration) -> Self {
        Self {
            scope,
            allowed: count <= limit.max,
            limit: limit.max,
            remaining: limit.max.saturating_sub(count),
            reset,
            window: limit.window,
        }
    }

    /// The decision a client must heed: any refusal over a permission (the longest wait among
    /// refusals), else the budget closest to running out.
    pub fn binding(self, other: Self) -> Self {
        match (self.allowed, other.allowed) {
            (true, false) => other,
            (false, true) => self,
            (false, false) if other.reset > self.reset => other,
            (true, true) if other.remaining < self.remaining => other,
            _ => self,
        }
    }

    /// Whole seconds until the window closes, rounded up (the headers' delta-seconds).
    pub fn reset_secs(&self) -> u64 {
        let secs = self.reset.as_secs();
        if self.reset.subsec_nanos() > 0 { secs + 1 } else { secs }
    }

    /// `Retry-After` for a refusal: at least one second.
    pub fn retry_after_secs(&self) -> u64 {
        self.reset_secs().max(1)
    }
}

/// Counts requests against the configured limits.
#[derive(Clone)]
pub struct RateLimiter {
    counters: Arc<dyn ShortLivedStore>,
    outage: Arc<Outage>,
    limits: RateLimits,
    /// Keys the subjects' digests, so a store dump reveals no address.
    subject_key: MacKey,
    metrics: Arc<Metrics>,
}

impl RateLimiter {
    /// `counters` is the store that falls back to this node (see the module header), and
    /// `outage` the flag it raises.
    pub fn new(
        counters: Arc<dyn ShortLivedStore>,
        outage: Arc<Outage>,
        limits: RateLimits,
        subject_key: MacKey,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { counters, outage, limits, subject_key, metrics }
    }

    pub fn limit(&self, scope: Scope) -> Limit {
        self.limits.get(scope)
    }

    /// The counter store (shared by [`lockout::SignInGuard`]).
    pub fn counters(&self) -> Arc<dyn ShortLivedStore> {
        self.counters.clone()
    }

    /// Whether the limits currently count on this node only (Redis unreachable).
    pub fn is_degraded(&self) -> bool {
        self.outage.is_degraded()
    }

    /// The store key of `scope` for `subject` (its parts joined; see [`email_subject`]).
    fn key(&self, scope: Scope, subject: &[&str]) -> String {
        format!("rl:{scope}:{}", self.subject_key.tag(subject.join("\0").as_bytes()))
    }

    /// Counts this request against each `(scope, subject)` in one step and returns the binding
    /// decision. Every request counts, refused ones too, so hammering does not refill a budget.
    /// `hits` must not be empty.
    #[tracing::instrument(skip_all)]
    pub async fn check(&self, hits: &[(Scope, &[&str])]) -> Decision {
        let keys: Vec<(String, Limit)> =
            hits.iter().map(|(scope, subject)| (self.key(*scope, subject), self.limits.get(*scope))).collect();
        let windows: Vec<(&str, Duration)> = keys.iter().map(|(key, limit)| (key.as_str(), limit.window)).collect();
        let counters = match self.counters.increment_many(&windows).await {
            Ok(counters) if counters.len() == hits.len() => counters,
            other => {
                // The counters fall back to this node's memory, which always answers: this is a
                // bug, refused rather than let through (limits never fail open).
                tracing::error!(error = ?other.err(), "rate limit could not be counted");
                Vec::new()
            }
        };
        let counted = hits.iter().zip(&counters).map(|((scope, _), counter)| {
            Decision::counted(*scope, self.limits.get(*scope), counter.count, counter.resets_in)
        });
        let decision = counted.reduce(Decision::binding).unwrap_or_else(|| {
            let scope = hits.first().map_or(Scope::LoginIp, |(scope, _)| *scope);
            let limit = self.limits.get(scope);
            Decision::counted(scope, limit, limit.max.saturating_add(1), limit.window)
        });
        if !decision.allowed {
            self.metrics.rate_limited(decision.scope.as_str());
            tracing::info!(scope = %decision.scope, "rate limited");
        }
        decision
    }
}

/// An email address as one subject: its normalised form when it parses, so `Ann@Example.com`
/// and `ann@example.com` share a budget, else the trimmed text.
pub fn email_subject(email: &str) -> String {
    crate::accounts::Email::parse(email)
        .map_or_else(|_| email.trim().to_lowercase(), |email| email.normalized().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::short_lived::MemoryStore;

    fn limiter(limits: &str) -> RateLimiter {
        let kek = keys::Kek::generate().unwrap();
        RateLimiter::new(
            Arc::new(MemoryStore::new()),
            Arc::new(Outage::default()),
            RateLimits::parse(limits).unwrap(),
            kek.mac_key("rate-limit"),
            Arc::new(Metrics::new()),
        )
    }

    #[tokio::test]
    async fn the_tightest_budget_binds_and_refusals_are_counted() {
        let limiter = limiter("login_ip=5/1m,login_ip_email=2/1m");
        let ip = "192.0.2.1";
        let hits = |email: &'static str| [(Scope::LoginIp, vec![ip]), (Scope::LoginIpEmail, vec![ip, email])];
        let check = |email: &'static str| {
            let limiter = limiter.clone();
            async move {
                let hits = hits(email);
                let hits: Vec<(Scope, &[&str])> = hits.iter().map(|(s, v)| (*s, v.as_slice())).collect();
                limiter.check(&hits).await
            }
        };
        let first = check("ann@example.com").await;
        assert_eq!((first.allowed, first.scope, first.limit, first.remaining), (true, Scope::LoginIpEmail, 2, 1));
        assert!(first.reset_secs() <= 60 && first.reset_secs() >= 59);
        assert!(check("ann@example.com").await.allowed);
        let refused = check("ann@example.com").await;
        assert_eq!((refused.allowed, refused.scope, refused.remaining), (false, Scope::LoginIpEmail, 0));
        assert!(refused.retry_after_secs() >= 1);
        // Another address from the same IP has its own budget, until the IP's runs out.
        assert!(check("bo@example.com").await.allowed);
        let by_ip = check("bo@example.com").await;
        assert_eq!((by_ip.allowed, by_ip.scope, by_ip.remaining), (true, Scope::LoginIp, 0));
        let refused = check("cy@example.com").await;
        assert_eq!((refused.allowed, refused.scope), (false, Scope::LoginIp));
    }

    #[test]
    fn subjects_are_digests_and_emails_are_normalised() {
        let limiter = limiter("");
        let key = limiter.key(Scope::LoginIpEmail, &["192.0.2.1", &email_subject("Ann@Example.com")]);
        assert!(key.starts_with("rl:login_ip_email:"));
        assert!(!key.contains("192.0.2.1") && !key.to_lowercase().contains("ann"), "{key}");
        assert_eq!(key, limiter.key(Scope::LoginIpEmail, &["192.0.2.1", &email_subject(" ann@example.com ")]));
    }
}
