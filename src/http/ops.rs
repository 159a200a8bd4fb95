//! Operational endpoints: liveness and readiness probes.

use std::collections::BTreeMap;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::tags::ApiTags;
use crate::app::AppState;

pub struct OperationsApi;

#[derive(Debug, Object)]
struct Health {
    /// Always `ok` while the process serves requests.
    status: String,
}

#[derive(Debug, Object)]
struct Readiness {
    /// `ready` when every dependency answers, else `unavailable`.
    status: String,
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
    /// Every dependency answers.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// At least one dependency does not answer; `checks` names it.
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
    /// A load balancer sends traffic only while this is 200; `checks` names what failed.
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self, state: Data<&AppState>) -> ReadyResponse {
        let report = state.readiness().await;
        let body = Readiness {
            status: if report.is_ready() { "ready" } else { "unavailable" }.to_owned(),
            checks: report.checks.into_iter().map(|(name, check)| (name.to_owned(), check)).collect(),
        };
        if body.status == "ready" { ReadyResponse::Ready(Json(body)) } else { ReadyResponse::Unavailable(Json(body)) }
    }
}
