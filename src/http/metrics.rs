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
    /// Maintenance sweeps, tokens issued, refresh token reuse, back-channel logout deliveries
    /// and key ring keys, for this instance since it started.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self, state: Data<&AppState>) -> MetricsResponse {
        match state.metrics.encode() {
            Ok(text) => MetricsResponse::Ok(PlainText(text)),
            Err(error) => {
                tracing::error!(%error, "cannot encode the metrics");
                MetricsResponse::Internal
            }
        }
    }
}
