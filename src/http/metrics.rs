//! `GET /metrics`: this instance's metrics in the OpenMetrics text format, for Prometheus to
//! scrape. Counts only, labelled from closed sets: nothing secret and nothing per user. Not
//! access-controlled, so operators keep it off the public network (see the README).

use poem::web::Data;
use poem_openapi::{ApiResponse, OpenApi, payload::PlainText};

use super::tags::ApiTags;
use crate::app::AppState;

pub struct MetricsApi;

#[derive(ApiResponse)]
enum MetricsResponse {
    /// The exposition (OpenMetrics 1.0 text format); see the README for the metric names.
    #[oai(status = 200, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")]
    Ok(PlainText<String>),
    /// The metrics could not be encoded (a bug; the logs say why).
    #[oai(status = 500)]
    Internal,
}

#[OpenApi(tag = "ApiTags::Operations")]
impl MetricsApi {
    /// Metrics for Prometheus.
    ///
    /// HTTP requests by route template, method and status with latency histograms, sign-ins by
    /// outcome, tokens issued by grant, rate-limit refusals, store errors, database pool usage,
    /// key ring state, maintenance sweeps, mail and back-channel logout deliveries, for this
    /// instance since it started.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self, state: Data<&AppState>) -> MetricsResponse {
        // The pool is sampled now rather than tracked: it is only read here.
        state.metrics.database_pool(state.database.pool_usage());
        match state.metrics.encode() {
            Ok(text) => MetricsResponse::Ok(PlainText(text)),
            Err(error) => {
                tracing::error!(%error, "cannot encode the metrics");
                MetricsResponse::Internal
            }
        }
    }
}
