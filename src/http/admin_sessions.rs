//! `/api/admin/users/{user_id}/...`: an administrator's view of a user's sessions and
//! application grants, with the same actions the user has under `/api/me/...`. Authenticated by
//! a `ferrid:admin` bearer token ([`AdminAuth`]); every action is logged with who took it.

use poem::web::Data;
use poem_openapi::{OpenApi, param::Path, payload::Json};

use super::{
    admin_auth::{AdminAuth, BearerDenied, admin_error, guarded_response, unavailable},
    error::ErrorBody,
    sign_in_views::{LoggedOut, UserSignIns},
    tags::ApiTags,
};
use crate::{
    accounts::{AccountError, UserId},
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
    oauth::sign_ins,
};

guarded_response! {
    enum ListResponse {
        /// The user's sessions, applications and recent sign-ins.
        #[oai(status = 200)]
        Ok(Json<UserSignIns>, #[oai(header = "Cache-Control")] String),
        /// No such user.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

guarded_response! {
    enum EndResponse {
        /// Ended.
        #[oai(status = 204)]
        Ended,
        /// No such user, or no such session or application of this user.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

guarded_response! {
    enum LogoutAllResponse {
        /// Every session of the user ended and every application's access revoked.
        #[oai(status = 200)]
        Ok(Json<LoggedOut>),
        /// No such user.
        #[oai(status = 404)]
        NotFound(Json<ErrorBody>),
    }
}

/// Why an admin request about one user ends before its action.
enum Refusal {
    Denied(BearerDenied),
    NoSuchUser,
}

/// Every response type of this API answers a refusal the same way.
macro_rules! refusals {
    ($($response:ident),+) => {$(
        impl From<Refusal> for $response {
            fn from(refusal: Refusal) -> Self {
                match refusal {
                    Refusal::Denied(denied) => denied.into(),
                    Refusal::NoSuchUser => Self::NotFound(admin_error("not_found", "no such user")),
                }
            }
        }
    )+};
}

refusals!(ListResponse, EndResponse, LogoutAllResponse);

/// The administrator and the user they act on; an unknown or malformed user id is "no such
/// user" either way. Disabled users are included: an administrator may well want to sign them out.
async fn admin_over(state: &AppState, auth: AdminAuth, user_id: &str) -> Result<(Actor, UserId), Refusal> {
    let AdminAuth(actor) = auth;
    let user = uuid::Uuid::parse_str(user_id).map(UserId).map_err(|_| Refusal::NoSuchUser)?;
    match state.accounts.find(user).await {
        Ok(_) => Ok((actor, user)),
        Err(AccountError::NotFound) => Err(Refusal::NoSuchUser),
        Err(cause) => Err(Refusal::Denied(unavailable(cause))),
    }
}

pub struct AdminSessionsApi;

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminSessionsApi {
    /// Where a user is signed in: browser sessions and applications with offline access.
    ///
    /// The administrator's view of what the user sees under `/api/me/sessions`. Needs a
    /// `ferrid:admin` access token.
    #[oai(path = "/api/admin/users/:user_id/sessions", method = "get", operation_id = "admin_list_user_sessions")]
    async fn list(&self, state: Data<&AppState>, auth: AdminAuth, user_id: Path<String>) -> ListResponse {
        let (_, user) = match admin_over(&state, auth, &user_id.0).await {
            Ok(found) => found,
            Err(refusal) => return refusal.into(),
        };
        let now = state.clock.now();
        match sign_ins::list(&state, user, now).await {
            Ok(sign_ins) => ListResponse::Ok(Json(UserSignIns::new(sign_ins, now)), "no-store".to_owned()),
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Sign one of the user's browsers out.
    ///
    /// Ends the user's session `sid`. Needs a `ferrid:admin` access token; the action is
    /// logged with the administrator's identity.
    #[oai(path = "/api/admin/users/:user_id/sessions/:sid", method = "delete", operation_id = "admin_end_user_session")]
    async fn end_session(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        user_id: Path<String>,
        sid: Path<String>,
    ) -> EndResponse {
        let (actor, user) = match admin_over(&state, auth, &user_id.0).await {
            Ok(found) => found,
            Err(refusal) => return refusal.into(),
        };
        match sign_ins::end_session(&state, user, &sid.0).await {
            Ok(true) => {
                state
                    .audit
                    .record(
                        AuditEvent::new(kinds::ADMIN_SESSION_END, &actor)
                            .user(user)
                            .target(format!("session:{}", sid.0)),
                    )
                    .await;
                EndResponse::Ended
            }
            Ok(false) => EndResponse::NotFound(admin_error("not_found", "no such session")),
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Revoke one application's access for the user.
    ///
    /// Revokes the user's refresh tokens for the client `id` and the access tokens issued from
    /// them. Needs a `ferrid:admin` access token; the action is logged.
    #[oai(
        path = "/api/admin/users/:user_id/applications/:id",
        method = "delete",
        operation_id = "admin_revoke_user_application"
    )]
    async fn revoke_application(
        &self,
        state: Data<&AppState>,
        auth: AdminAuth,
        user_id: Path<String>,
        id: Path<String>,
    ) -> EndResponse {
        let (actor, user) = match admin_over(&state, auth, &user_id.0).await {
            Ok(found) => found,
            Err(refusal) => return refusal.into(),
        };
        match sign_ins::revoke_application(&state, user, &id.0).await {
            Ok(true) => {
                let event = AuditEvent::new(kinds::ADMIN_APPLICATION_REVOKE, &actor)
                    .user(user)
                    .target(format!("refresh_family:{}", id.0));
                state.audit.record(event).await;
                EndResponse::Ended
            }
            Ok(false) => EndResponse::NotFound(admin_error("not_found", "no such application grant")),
            Err(cause) => unavailable(cause).into(),
        }
    }

    /// Log the user out everywhere.
    ///
    /// Ends every session of the user and revokes every application's access, e.g. after an
    /// account compromise. Needs a `ferrid:admin` access token; the action is logged.
    #[oai(
        path = "/api/admin/users/:user_id/logout-all",
        method = "post",
        operation_id = "admin_log_user_out_everywhere"
    )]
    async fn logout_all(&self, state: Data<&AppState>, auth: AdminAuth, user_id: Path<String>) -> LogoutAllResponse {
        let (actor, user) = match admin_over(&state, auth, &user_id.0).await {
            Ok(found) => found,
            Err(refusal) => return refusal.into(),
        };
        match sign_ins::log_out_everywhere(&state, user).await {
            Ok(done) => {
                state.audit.record(AuditEvent::new(kinds::ADMIN_LOGOUT_EVERYWHERE, &actor).user(user)).await;
                LogoutAllResponse::Ok(Json(done.into()))
            }
            Err(cause) => unavailable(cause).into(),
        }
    }
}
