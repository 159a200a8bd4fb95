//! Operational endpoints: liveness and readiness probes.

use std::collections::BTreeMap;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::tags::ApiTags;
use crate::app::{AppState, Readiness as AppReadiness};

pub struct OperationsApi;

#[derive(Debug, Object)]
struct Health {
    /// Always `ok` while the process serves requests.
    status: String,
}

#[derive(Debug, Object)]
struct Readiness {
    /// `ready` when every dependency answers; `degraded` while Redis does not (the node serves
    /// with its own rate limits; flows that need Redis fail until it returns); `unavailable`
    /// when the database does not answer.
    status: String,
    /// `shared` while rate limits count in Redis for every node; `local` during a Redis outage
    /// (each node counts its own traffic). Absent without Redis.
    #[oai(skip_serializing_if_is_none)]
    rate_limits: Option<String>,
    /// Each dependency (`database`, and `redis` when configured) with `ok` or what failed.
    checks: BTreeMap<String, String>,
}

#[derive(ApiResponse)]
enum HealthResponse {
    /// The process serves requests.
    #[oai(status = 200)]
    Ok(Json<Health>),
}

#[derive(ApiResponse)]
enum ReadyResponse {
    /// Every dependency answers (`ready`), or all but Redis (`degraded`; `checks` names it).
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// The database does not answer; `checks` names it.
    #[oai(status = 503)]
    Unavailable(Json<Readiness>),
}

#[OpenApi(tag = "ApiTags::Operations")]
impl OperationsApi {
    /// Liveness: the process is up and serving.
    ///
    /// Checks nothing else, so an orchestrator restarts the process only when it is stuck, not
    /// when the database is briefly away.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> HealthResponse {
        HealthResponse::Ok(Json(Health { status: "ok".to_owned() }))
    }

    /// Readiness: the database (and Redis, if configured) answer.
    ///
    /// A load balancer sends traffic only while this is 200. Without Redis the node still
    /// serves (`degraded`, 200): rate limits then count per node, and taking every node out
    /// because the shared Redis is down would turn its outage into a full one. `checks` names
    /// what failed.
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self, state: Data<&AppState>) -> ReadyResponse {
        let report = state.readiness().await;
        let readiness = report.readiness();
        let has_redis = report.checks.iter().any(|(name, _)| *name == "redis");
        let rate_limits = has_redis.then(|| if report.rate_limits_local { "local" } else { "shared" }.to_owned());
        let status = match readiness {
            AppReadiness::Ready => "ready",
            AppReadiness::Degraded => "degraded",
            AppReadiness::Unavailable => "unavailable",
        };
        let body = Readiness {
            status: status.to_owned(),
            rate_limits,
            checks: report.checks.into_iter().map(|(name, check)| (name.to_owned(), check)).collect(),
        };
        match readiness {
            AppReadiness::Unavailable => ReadyResponse::Unavailable(Json(body)),
            AppReadiness::Ready | AppReadiness::Degraded => ReadyResponse::Ready(Json(body)),
        }
    }
}
