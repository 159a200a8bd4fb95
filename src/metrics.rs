//! The metrics ferrid exposes at /metrics (OpenMetrics text). Each `AppState` owns its own
//! registry rather than a process-wide recorder, so many ferrid instances in one process (the
//! test suite) keep their counts apart. The domain calls the named methods below and never sees
//! a prometheus type; every label value comes from a closed set, never from a user or a client.

use std::time::Duration;

use chrono::{DateTime, Utc};
use keys::KeyState;
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

use crate::oauth::GrantType;

/// The content type of [`Metrics::encode`]'s output (OpenMetrics 1.0 text format).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A table the maintenance sweep deletes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweptTable {
    RefreshTokens,
    AccessTokens,
    Sessions,
    AuditEvents,
    MailOutbox,
}

impl SweptTable {
    fn as_str(self) -> &'static str {
        match self {
            Self::RefreshTokens => "refresh_tokens",
            Self::AccessTokens => "access_tokens",
            Self::Sessions => "sessions",
            Self::AuditEvents => "audit_events",
            Self::MailOutbox => "mail_outbox",
        }
    }
}

/// A token the token endpoint hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuedToken {
    Access,
    Refresh,
    Id,
}

impl IssuedToken {
    fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
            Self::Id => "id",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabel {
    table: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuedLabels {
    grant_type: &'static str,
    token: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabel {
    scope: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyStateLabel {
    state: &'static str,
}

/// The registry and the metric families in it; shared as `Arc<Metrics>`.
pub struct Metrics {
    registry: Registry,
    rows_deleted: Family<TableLabel, Counter>,
    sweeps: Family<OutcomeLabel, Counter>,
    sweep_duration: Histogram,
    last_sweep_success: Gauge,
    backchannel_deliveries: Family<OutcomeLabel, Counter>,
    tokens_issued: Family<IssuedLabels, Counter>,
    refresh_token_reuse: Counter,
    key_ring_keys: Family<KeyStateLabel, Gauge>,
    mails_sent: Counter,
    mails_failed: Family<OutcomeLabel, Counter>,
    rate_limited: Family<ScopeLabel, Counter>,
    rate_limit_fallback: Counter,
    rate_limit_degraded: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry. Counters are registered without `_total` and seconds as a unit: the
    /// encoder appends both, as OpenMetrics requires.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ferrid");
        let rows_deleted = Family::<TableLabel, Counter>::default();
        registry.register(
            "maintenance_rows_deleted",
            "Expired rows deleted by the maintenance sweep",
            rows_deleted.clone(),
        );
        let sweeps = Family::<OutcomeLabel, Counter>::default();
        registry.register("maintenance_sweeps", "Maintenance sweeps, by outcome", sweeps.clone());
        // 10 ms to about 40 s: a sweep is a few bounded batches per table.
        let sweep_duration = Histogram::new(exponential_buckets(0.01, 2.0, 13));
        registry.register_with_unit(
            "maintenance_sweep_duration",
            "How long a maintenance sweep took",
            Unit::Seconds,
            sweep_duration.clone(),
        );
        let last_sweep_success = Gauge::default();
        registry.register_with_unit(
            "maintenance_last_success_timestamp",
            "When the last maintenance sweep succeeded (Unix time)",
            Unit::Seconds,
            last_sweep_success.clone(),
        );
        let backchannel_deliveries = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "backchannel_logout_deliveries",
            "Back-channel logout deliveries, by final outcome after retries",
            backchannel_deliveries.clone(),
        );
        let tokens_issued = Family::<IssuedLabels, Counter>::default();
        registry.register(
            "tokens_issued",
            "Tokens issued by the token endpoint, by grant type and token",
            tokens_issued.clone(),
        );
        let refresh_token_reuse = Counter::default();
        registry.register(
            "refresh_token_reuse_detected",
            "Rotated refresh tokens presented again (each revokes its family)",
            refresh_token_reuse.clone(),
        );
        let key_ring_keys = Family::<KeyStateLabel, Gauge>::default();
        registry.register("key_ring_keys", "Keys in the loaded key ring, by state", key_ring_keys.clone());
        let mails_sent = Counter::default();
        registry.register("mail_sent", "Mails handed to the SMTP relay (or written to files)", mails_sent.clone());
        let mails_failed = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "mail_failed",
            "Failed mail attempts: retry (rescheduled) or dead (given up)",
            mails_failed.clone(),
        );
        let rate_limited = Family::<ScopeLabel, Counter>::default();
        registry.register("rate_limited", "Requests refused by a rate limit, by scope", rate_limited.clone());
        let rate_limit_fallback = Counter::default();
        registry.register(
            "rate_limit_fallback",
            "Rate-limit and sign-in-delay operations counted on this node because Redis did not answer",
            rate_limit_fallback.clone(),
        );
        let rate_limit_degraded = Gauge::default();
        registry.register(
            "rate_limit_degraded",
            "1 while rate limits count on this node because Redis is unreachable, else 0",
            rate_limit_degraded.clone(),
        );
        Self {
            rate_limited,
            rate_limit_fallback,
            rate_limit_degraded,
            registry,
            rows_deleted,
            sweeps,
            sweep_duration,
            last_sweep_success,
            backchannel_deliveries,
            tokens_issued,
            refresh_token_reuse,
            key_ring_keys,
            mails_sent,
            mails_failed,
        }
    }

    /// The exposition in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }

    pub fn maintenance_swept(&self, table: SweptTable, rows: u64) {
        self.rows_deleted.get_or_create(&TableLabel { table: table.as_str() }).inc_by(rows);
    }

    pub fn maintenance_sweep_succeeded(&self, took: Duration, now: DateTime<Utc>) {
        self.sweeps.get_or_create(&OutcomeLabel { outcome: "ok" }).inc();
        self.sweep_duration.observe(took.as_secs_f64());
        self.last_sweep_success.set(now.timestamp());
    }

    pub fn maintenance_sweep_failed(&self, took: Duration) {
        self.sweeps.get_or_create(&OutcomeLabel { outcome: "error" }).inc();
        self.sweep_duration.observe(took.as_secs_f64());
    }

    /// The final outcome of one Logout Token's delivery, retries included.
    pub fn backchannel_logout_delivery(&self, delivered: bool) {
        let outcome = if delivered { "delivered" } else { "failed" };
        self.backchannel_deliveries.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    pub fn token_issued(&self, grant_type: GrantType, token: IssuedToken) {
        self.tokens_issued
            .get_or_create(&IssuedLabels { grant_type: grant_type.as_str(), token: token.as_str() })
            .inc();
    }

    pub fn refresh_token_reuse_detected(&self) {
        self.refresh_token_reuse.inc();
    }

    pub fn mail_sent(&self) {
        self.mails_sent.inc();
    }

    /// A failed attempt: `dead` when it was the last one.
    pub fn mail_failed(&self, dead: bool) {
        let outcome = if dead { "dead" } else { "retry" };
        self.mails_failed.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// A request refused by the limit of `scope` (a name from a closed set).
    pub fn rate_limited(&self, scope: &'static str) {
        self.rate_limited.get_or_create(&ScopeLabel { scope }).inc();
    }

    /// One counter operation served by the in-process store during a Redis outage.
    pub fn rate_limit_fallback(&self) {
        self.rate_limit_fallback.inc();
    }

    pub fn rate_limit_degraded(&self, degraded: bool) {
        self.rate_limit_degraded.set(i64::from(degraded));
    }

    /// Sets the key counts from the states of the ring just loaded; revoked keys are not counted.
    pub fn key_ring_loaded(&self, states: impl IntoIterator<Item = KeyState>) {
        let (mut next, mut active, mut retired) = (0, 0, 0);
        for state in states {
            match state {
                KeyState::Next => next += 1,
                KeyState::Active => active += 1,
                KeyState::Retired => retired += 1,
                KeyState::Revoked => {}
            }
        }
        for (state, count) in [("next", next), ("active", active), ("retired", retired)] {
            self.key_ring_keys.get_or_create(&KeyStateLabel { state }).set(count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_is_encoded_with_its_total_suffix_help_and_type() {
        let metrics = Metrics::new();
        metrics.maintenance_swept(SweptTable::Sessions, 3);
        metrics.maintenance_swept(SweptTable::Sessions, 2);
        let text = metrics.encode().unwrap();
        assert!(
            text.contains(
                "# HELP ferrid_maintenance_rows_deleted Expired rows deleted by the maintenance sweep.\n\
                 # TYPE ferrid_maintenance_rows_deleted counter\n\
                 ferrid_maintenance_rows_deleted_total{table=\"sessions\"} 5\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn units_are_part_of_the_name() {
        let metrics = Metrics::new();
        metrics.maintenance_sweep_succeeded(
            Duration::from_millis(20),
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        );
        let text = metrics.encode().unwrap();
        assert!(text.contains("ferrid_maintenance_last_success_timestamp_seconds 1700000000\n"), "{text}");
        assert!(text.contains("ferrid_maintenance_sweep_duration_seconds_count 1\n"), "{text}");
        assert!(text.contains("ferrid_maintenance_sweeps_total{outcome=\"ok\"} 1\n"), "{text}");
    }
}
