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

/// A request's matched route template (never its raw path), method and status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpRequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpRouteLabels {
    route: String,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignInLabels {
    channel: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreErrorLabels {
    store: &'static str,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolStateLabel {
    state: &'static str,
}

/// The route label of a request no route matched: one value, however many paths are probed.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// A backend of the store layer, for `ferrid_store_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Database,
    ShortLived,
}

impl StoreKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::ShortLived => "short_lived",
        }
    }
}

/// The connections of the database pool at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolUsage {
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

/// 2 ms to about 16 s: from a cached discovery document to a slow argon2 sign-in.
fn request_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.002, 2.0, 14))
}

/// The method label: the methods ferrid serves, anything else as one value.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
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
    oldest_active_key_since: Gauge,
    http_requests: Family<HttpRequestLabels, Counter>,
    http_request_duration: Family<HttpRouteLabels, Histogram, fn() -> Histogram>,
    sign_ins: Family<SignInLabels, Counter>,
    store_errors: Family<StoreErrorLabels, Counter>,
    pool_connections: Family<PoolStateLabel, Gauge>,
    pool_max_connections: Gauge,
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
        let oldest_active_key_since = Gauge::default();
        registry.register_with_unit(
            "key_ring_oldest_active_key_since_timestamp",
            "When the longest-serving active key started signing (Unix time); its age is time() minus this",
            Unit::Seconds,
            oldest_active_key_since.clone(),
        );
        let http_requests = Family::<HttpRequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status code",
            http_requests.clone(),
        );
        let http_request_duration =
            Family::<HttpRouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(request_duration_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from receiving a request to its answer, by route template and method",
            Unit::Seconds,
            http_request_duration.clone(),
        );
        let sign_ins = Family::<SignInLabels, Counter>::default();
        registry.register(
            "sign_ins",
            "Password sign-in attempts (login page and login API), by outcome",
            sign_ins.clone(),
        );
        let store_errors = Family::<StoreErrorLabels, Counter>::default();
        registry.register(
            "store_errors",
            "Failed store operations, by store (database, short_lived) and operation class",
            store_errors.clone(),
        );
        let pool_connections = Family::<PoolStateLabel, Gauge>::default();
        registry.register(
            "database_pool_connections",
            "Open database connections of this node, by state (in_use, idle), at scrape time",
            pool_connections.clone(),
        );
        let pool_max_connections = Gauge::default();
        registry.register(
            "database_pool_max_connections",
            "The most database connections this node opens (FERRID_DATABASE_MAX_CONNECTIONS, plus the SQLite writer's)",
            pool_max_connections.clone(),
        );
        Self {
            oldest_active_key_since,
            http_requests,
            http_request_duration,
            sign_ins,
            store_errors,
            pool_connections,
            pool_max_connections,
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

    /// One answered request. `route` is the matched route template (`None`: no route matched);
    /// the raw path never becomes a label, so a scan of random paths adds no series.
    pub fn http_request(&self, route: Option<&str>, method: &str, status: u16, took: Duration) {
        let route = route.unwrap_or(UNMATCHED_ROUTE).to_owned();
        let method = method_label(method);
        self.http_requests.get_or_create(&HttpRequestLabels { route: route.clone(), method, status }).inc();
        self.http_request_duration.get_or_create(&HttpRouteLabels { route, method }).observe(took.as_secs_f64());
    }

    /// A password sign-in attempt: `outcome` is `success` or the audit log's failure reason.
    pub fn sign_in(&self, channel: &'static str, outcome: &'static str) {
        self.sign_ins.get_or_create(&SignInLabels { channel, outcome }).inc();
    }

    /// A store operation that failed; `operation` is a class from a closed set (`read`, `write`…).
    pub fn store_error(&self, store: StoreKind, operation: &'static str) {
        self.store_errors.get_or_create(&StoreErrorLabels { store: store.as_str(), operation }).inc();
    }

    /// The database pool as sampled when /metrics is scraped.
    pub fn database_pool(&self, usage: PoolUsage) {
        self.pool_connections.get_or_create(&PoolStateLabel { state: "in_use" }).set(usage.in_use.into());
        self.pool_connections.get_or_create(&PoolStateLabel { state: "idle" }).set(usage.idle.into());
        self.pool_max_connections.set(usage.max.into());
    }

    /// Sets the key counts from the ring just loaded (each key's state and when it started
    /// counting towards rotation); revoked keys are not counted.
    pub fn key_ring_loaded(&self, keys: impl IntoIterator<Item = (KeyState, DateTime<Utc>)>) {
        let (mut next, mut active, mut retired) = (0, 0, 0);
        let mut oldest_active: Option<DateTime<Utc>> = None;
        for (state, since) in keys {
            match state {
                KeyState::Next => next += 1,
                KeyState::Active => {
                    active += 1;
                    oldest_active = Some(oldest_active.map_or(since, |oldest| oldest.min(since)));
                }
                KeyState::Retired => retired += 1,
                KeyState::Revoked => {}
            }
        }
        for (state, count) in [("next", next), ("active", active), ("retired", retired)] {
            self.key_ring_keys.get_or_create(&KeyStateLabel { state }).set(count);
        }
        if let Some(since) = oldest_active {
            self.oldest_active_key_since.set(since.timestamp());
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

    #[test]
    fn requests_are_labelled_by_route_template_and_a_closed_set_of_methods() {
        let metrics = Metrics::new();
        metrics.http_request(Some("/api/admin/users/:id"), "GET", 200, Duration::from_millis(3));
        metrics.http_request(None, "GET", 404, Duration::from_millis(1));
        metrics.http_request(None, "BREW", 404, Duration::from_millis(1));
        let text = metrics.encode().unwrap();
        assert!(
            text.contains(
                "ferrid_http_requests_total{route=\"/api/admin/users/:id\",method=\"GET\",status=\"200\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains("ferrid_http_requests_total{route=\"unmatched\",method=\"other\",status=\"404\"} 1\n"));
        assert!(text.contains(
            "ferrid_http_request_duration_seconds_bucket{le=\"0.004\",route=\"/api/admin/users/:id\",method=\"GET\"} 1\n"
        ));
    }

    #[test]
    fn the_oldest_active_key_is_reported() {
        let metrics = Metrics::new();
        let at = |seconds| DateTime::from_timestamp(seconds, 0).unwrap();
        metrics.key_ring_loaded([
            (KeyState::Active, at(2_000)),
            (KeyState::Active, at(1_000)),
            (KeyState::Next, at(500)),
            (KeyState::Retired, at(100)),
        ]);
        let text = metrics.encode().unwrap();
        assert!(text.contains("ferrid_key_ring_oldest_active_key_since_timestamp_seconds 1000\n"), "{text}");
        assert!(text.contains("ferrid_key_ring_keys{state=\"active\"} 2\n"), "{text}");
    }
}
