//! `/api/me/...`: the signed-in user's sessions and application grants, with "log out
//! everywhere". Authenticated by ferrid's session cookie (HttpOnly, SameSite=Lax, so another
//! site can neither read these responses nor send the cookie with a cross-site POST or DELETE).

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{
    cookies::{self, SESSION_COOKIE},
    error::{ErrorBody, temporarily_unavailable},
    session_auth::SignedIn,
    sign_in_views::{ApplicationGrant, BrowserSession, LoggedOut, PastSignIn},
    tags::ApiTags,
};
use crate::{app::AppState, oauth::sign_ins};

/// A browser signed in at ferrid, and whether it is the one asking.
#[derive(Object)]
struct MyBrowserSession {
    #[oai(flatten)]
    session: BrowserSession,
    /// This is the session making the request.
    current: bool,
}

#[derive(Object)]
struct SignIns {
    sessions: Vec<MyBrowserSession>,
    applications: Vec<ApplicationGrant>,
    /// The latest sign-ins, newest first, live or not.
    recent_sign_ins: Vec<PastSignIn>,
}

#[derive(ApiResponse)]
enum ListResponse {
    /// This user's sessions, applications and recent sign-ins.
    #[oai(status = 200)]
    Ok(Json<SignIns>, #[oai(header = "Cache-Control")] String),
    /// Not signed in.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

#[derive(ApiResponse)]
enum EndResponse {
    /// Ended.
    #[oai(status = 204)]
    Ended,
    /// Not signed in.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such session or application of this user.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

#[derive(ApiResponse)]
enum LogoutAllResponse {
    /// Every session ended and every application's access revoked; this browser is signed out.
    #[oai(status = 200)]
    Ok(Json<LoggedOut>, #[oai(header = "Set-Cookie")] String),
    /// Not signed in.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// A backing store is unreachable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn error(code: &str, description: &str) -> Json<ErrorBody> {
    Json(ErrorBody { error: code.to_owned(), error_description: Some(description.to_owned()), request_id: None })
}

fn unauthorized() -> Json<ErrorBody> {
    error("unauthorized", "sign in at ferrid first")
}

pub struct MeApi;

#[OpenApi(tag = "ApiTags::Account")]
impl MeApi {
    /// Where you are signed in: browser sessions and applications with offline access.
    ///
    /// Lists the live browser sessions (marking the one asking), the applications holding
    /// refresh tokens, and the latest sign-ins. Needs ferrid's session cookie.
    #[oai(path = "/api/me/sessions", method = "get", operation_id = "list_my_sessions")]
    async fn list(&self, state: Data<&AppState>, signed_in: SignedIn) -> ListResponse {
        let session = match signed_in.0 {
            Ok(Some(session)) => session,
            Ok(None) => return ListResponse::Unauthorized(unauthorized()),
            Err(cause) => return ListResponse::Unavailable(temporarily_unavailable(cause)),
        };
        let now = state.clock.now();
        let sign_ins = match sign_ins::list(&state, session.user_id, now).await {
            Ok(sign_ins) => sign_ins,
            Err(cause) => return ListResponse::Unavailable(temporarily_unavailable(cause)),
        };
        let body = SignIns {
            sessions: sign_ins
                .sessions
                .into_iter()
                .map(|s| MyBrowserSession { current: s.sid == session.sid, session: s.into() })
                .collect(),
            applications: sign_ins.applications.into_iter().map(Into::into).collect(),
            recent_sign_ins: sign_ins.recent.into_iter().map(|r| PastSignIn::from_record(r, now)).collect(),
        };
        ListResponse::Ok(Json(body), "no-store".to_owned())
    }

    /// Sign one browser out.
    ///
    /// Ends the session `sid` of the signed-in user; the applications it signed in keep their
    /// refresh tokens. Needs ferrid's session cookie.
    #[oai(path = "/api/me/sessions/:sid", method = "delete", operation_id = "end_my_session")]
    async fn end_session(&self, state: Data<&AppState>, signed_in: SignedIn, sid: Path<String>) -> EndResponse {
        let session = match signed_in.0 {
            Ok(Some(session)) => session,
            Ok(None) => return EndResponse::Unauthorized(unauthorized()),
            Err(cause) => return EndResponse::Unavailable(temporarily_unavailable(cause)),
        };
        match sign_ins::end_session(&state, session.user_id, &sid.0).await {
            Ok(true) => EndResponse::Ended,
            Ok(false) => EndResponse::NotFound(error("not_found", "no such session")),
            Err(cause) => EndResponse::Unavailable(temporarily_unavailable(cause)),
        }
    }

    /// Revoke one application's access.
    ///
    /// Revokes the signed-in user's refresh tokens for the client `id` and the access tokens
    /// issued from them (RFC 7009 §2.1 semantics). Needs ferrid's session cookie.
    #[oai(path = "/api/me/applications/:id", method = "delete", operation_id = "revoke_my_application")]
    async fn revoke_application(&self, state: Data<&AppState>, signed_in: SignedIn, id: Path<String>) -> EndResponse {
        let session = match signed_in.0 {
            Ok(Some(session)) => session,
            Ok(None) => return EndResponse::Unauthorized(unauthorized()),
            Err(cause) => return EndResponse::Unavailable(temporarily_unavailable(cause)),
        };
        match sign_ins::revoke_application(&state, session.user_id, &id.0).await {
            Ok(true) => EndResponse::Ended,
            Ok(false) => EndResponse::NotFound(error("not_found", "no such application grant")),
            Err(cause) => EndResponse::Unavailable(temporarily_unavailable(cause)),
        }
    }

    /// Log out everywhere.
    ///
    /// Ends every session of the signed-in user, this one included, and revokes every
    /// application's access. Needs ferrid's session cookie, which the answer clears.
    #[oai(path = "/api/me/logout-all", method = "post", operation_id = "log_out_everywhere")]
    async fn logout_all(&self, state: Data<&AppState>, signed_in: SignedIn) -> LogoutAllResponse {
        let session = match signed_in.0 {
            Ok(Some(session)) => session,
            Ok(None) => return LogoutAllResponse::Unauthorized(unauthorized()),
            Err(cause) => return LogoutAllResponse::Unavailable(temporarily_unavailable(cause)),
        };
        match sign_ins::log_out_everywhere(&state, session.user_id).await {
            Ok(done) => LogoutAllResponse::Ok(
                Json(done.into()),
                cookies::set(SESSION_COOKIE, "", Some(0), state.config.issuer.is_https()),
            ),
            Err(cause) => LogoutAllResponse::Unavailable(temporarily_unavailable(cause)),
        }
    }
}
