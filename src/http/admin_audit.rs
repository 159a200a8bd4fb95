//! `GET /api/admin/audit`: the audit log, newest first, filtered by user, client, kind and time,
//! paged by cursor.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Query, payload::Json};

use super::{
    admin_auth::{AdminAuth, admin_error, guarded_response, unavailable},
    admin_paging::{next_cursor, page_cursor, page_limit},
    error::ErrorBody,
    tags::ApiTags,
};
use crate::{
    accounts::UserId,
    app::AppState,
    audit::{AuditQuery, AuditRecord},
};

/// One recorded event.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditEntry {
    pub id: String,
    pub occurred_at: DateTime<Utc>,
    /// What happened, e.g. `admin.client.create` or `admin.user.disable`.
    pub kind: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// The user who acted, when a person did.
    pub actor_user_id: Option<String>,
    /// The client whose token was used, when one was.
    pub actor_client_id: Option<String>,
    /// The user the event is about.
    pub user_id: Option<String>,
    /// The client the event is about.
    pub client_id: Option<String>,
    /// Anything else acted on, e.g. `role:admin` or `key:<kid>`.
    pub target: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Non-secret detail, such as the names of changed fields.
    pub details: Option<serde_json::Value>,
}

impl From<AuditRecord> for AuditEntry {
    fn from(record: AuditRecord) -> Self {
        let event = record.event;
        Self {
            id: record.id.to_string(),
            occurred_at: record.occurred_at,
            kind: event.kind,
            outcome: event.outcome.as_str().to_owned(),
            actor_user_id: event.actor.user,
            actor_client_id: event.actor.client_id,
            user_id: event.subject_user.map(|user| user.to_string()),
            client_id: event.client_id,
            target: event.target,
            ip: event.actor.origin.ip,
            user_agent: event.actor.origin.user_agent,
            details: event.details,
        }
    }
}

/// A page of the audit log.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

guarded_response! {
    enum AuditResponse {
        /// A page of matching records, newest first.
        #[oai(status = 200)]
        Ok(Json<AuditPage>, #[oai(header = "Cache-Control")] String),
        /// A malformed filter (`invalid_request`).
        #[oai(status = 400)]
        BadRequest(Json<ErrorBody>),
    }
}

pub struct AdminAuditApi;

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminAuditApi {
    /// Query the audit log.
    ///
    /// Every change made through the admin API (and the first administrator's creation) is
    /// recorded with its time, actor, subject, client, IP, user agent and outcome; records never
    /// contain secrets. Results are newest first; every filter is optional and they combine with
    /// AND. Page with `limit` (1–200, default 50) and the previous page's `next_cursor`.
    #[oai(path = "/api/admin/audit", method = "get", operation_id = "admin_query_audit_log")]
    #[allow(clippy::too_many_arguments)]
    async fn query(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// Only events about this user (a user id).
        user_id: Query<Option<String>>,
        /// Only events about this client.
        client_id: Query<Option<String>>,
        /// Only events of this kind, e.g. `admin.user.disable`.
        kind: Query<Option<String>>,
        /// Only events at or after this time (RFC 3339).
        since: Query<Option<DateTime<Utc>>>,
        /// Only events before this time (RFC 3339).
        until: Query<Option<DateTime<Utc>>>,
        /// The previous page's `next_cursor`.
        cursor: Query<Option<String>>,
        /// The page size, 1–200 (default 50).
        limit: Query<Option<u64>>,
    ) -> AuditResponse {
        let user = match user_id.0.as_deref().map(uuid::Uuid::parse_str).transpose() {
            Ok(user) => user.map(UserId),
            Err(_) => return AuditResponse::BadRequest(admin_error("invalid_request", "user_id is not a user id")),
        };
        let (before, limit) = match (page_cursor(cursor.0.as_deref()), page_limit(limit.0)) {
            (Ok(before), Ok(limit)) => (before, limit),
            (Err(problem), _) | (_, Err(problem)) => {
                return AuditResponse::BadRequest(admin_error("invalid_request", problem));
            }
        };
        let query =
            AuditQuery { user, client_id: client_id.0, kind: kind.0, since: since.0, until: until.0, before, limit };
        match state.audit.query(&query).await {
            Ok(records) => {
                let next_cursor = next_cursor(&records, limit, |record| record.id.to_string());
                let items = records.into_iter().map(AuditEntry::from).collect();
                AuditResponse::Ok(Json(AuditPage { items, next_cursor }), "no-store".to_owned())
            }
            Err(cause) => unavailable(cause).into(),
        }
    }
}
