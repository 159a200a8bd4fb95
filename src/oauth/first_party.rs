//! ferrid's own applications: the JSON login API for a first-party single-page app (issue 7
//! item 3) and the guard of the user's own API (`/api/users/me`).
//!
//! A login through the API is an OP session like one through the login page, and its refresh
//! token is a member of a refresh family of the built-in client `ferrid-app` like any client's:
//! rotation, reuse detection, revocation, "log out everywhere" and the session lists apply
//! unchanged. Only the transport differs: the HTTP layer keeps that refresh token in an HttpOnly
//! cookie instead of handing it to JavaScript.

use keys::OpaqueSecret;

use super::{
    Client, ClientId, FamilyId, OAuthError, RegistryError,
    access_token::verify_bearer_access_token,
    admin::BearerAuthError,
    grants::{TokenRequest, TokenResponse, exchange, issue_to_session, record_issue},
    revocation::revoke_family,
    scope::Scope,
    session::{OpSession, RequestOrigin},
    sign_ins::{LoggedOutEverywhere, end_session, log_out_everywhere},
};
use crate::{
    accounts::{AccountError, User, UserId},
    app::AppState,
    audit::Actor,
    store::StoreError,
};

/// The built-in client the login API issues to (migration 14).
pub const APP_CLIENT_ID: &str = migration::FIRST_PARTY_APP_CLIENT_ID;

/// What the login API's tokens may do: read and edit the user's own profile. Not `openid`, so
/// refreshing never spends an RSA signature on an ID token nobody asked for.
const APP_SCOPE: &str = "profile email";

async fn app_client(state: &AppState) -> Result<Client, OAuthError> {
    let id = ClientId::parse(APP_CLIENT_ID).ok_or_else(|| OAuthError::Internal(anyhow::anyhow!("bad client id")))?;
    state.clients.find(&id).await.map_err(|error| match error {
        RegistryError::Store(store) => OAuthError::from(store),
        other => OAuthError::Internal(anyhow::anyhow!("the built-in client {APP_CLIENT_ID} is missing: {other}")),
    })
}

/// Signs `user` in (they have just proved who they are with `amr`): a new OP session, an access
/// token and the first refresh token of a new family.
pub async fn sign_in(
    state: &AppState,
    user: &User,
    amr: Vec<String>,
    origin: &RequestOrigin,
) -> Result<TokenResponse, OAuthError> {
    let client = app_client(state).await?;
    let (_, session) = OpSession::start(user.id, amr, state.clock.now());
    state.sessions.insert(&session, origin).await?;
    let scope = Scope::parse(APP_SCOPE).map_err(|e| OAuthError::Internal(e.into()))?;
    let issued = issue_to_session(state, &client, user, &scope, &session, origin).await;
    record_issue(state, &client, "first_party_login", origin, &issued).await;
    issued
}

/// Rotates the cookie's refresh token (RFC 6749 §6 with RFC 9700 §4.14.2 reuse detection), as
/// /token would for `ferrid-app`.
pub async fn refresh(state: &AppState, presented: &str, origin: &RequestOrigin) -> Result<TokenResponse, OAuthError> {
    let client = app_client(state).await?;
    let request = TokenRequest::RefreshToken { refresh_token: OpaqueSecret::from_presented(presented), scope: None };
    exchange(state, &client, request, origin, None).await
}

/// Whose refresh token this is: the user and the session, if it is one of `ferrid-app`'s and not
/// revoked. A rotated token still names its family, so logging out with a stale cookie works.
async fn holder(state: &AppState, presented: &str) -> Result<Option<(UserId, FamilyId, Option<String>)>, StoreError> {
    let digest = OpaqueSecret::from_presented(presented).digest();
    Ok(state
        .refresh_tokens
        .find(&digest)
        .await?
        .filter(|record| record.grant.client_id.as_str() == APP_CLIENT_ID && record.revoked_at.is_none())
        .map(|record| (record.grant.user_id, record.family_id, record.grant.sid)))
}

/// Ends this sign-in: its refresh family and its session. Unknown tokens are ignored: logging
/// out is idempotent. Returns the user who was signed out, if any.
pub async fn log_out(state: &AppState, presented: &str) -> Result<Option<UserId>, StoreError> {
    let Some((user, family, sid)) = holder(state, presented).await? else { return Ok(None) };
    let (store, live_for) = (state.short_lived.as_ref(), state.longest_access_token());
    revoke_family(&state.refresh_tokens, store, &family, state.clock.now(), live_for).await?;
    if let Some(sid) = sid {
        end_session(state, user, &sid).await?;
    }
    Ok(Some(user))
}

/// "Log out everywhere" for the holder of the cookie; `None` if the cookie is not a live token.
pub async fn log_out_all(
    state: &AppState,
    presented: &str,
) -> Result<Option<(UserId, LoggedOutEverywhere)>, StoreError> {
    let Some((user, _, _)) = holder(state, presented).await? else { return Ok(None) };
    Ok(Some((user, log_out_everywhere(state, user).await?)))
}

/// The caller of the user's own API.
#[derive(Clone, Debug)]
pub struct AccountCaller {
    pub user: User,
    /// The sign-in session the token belongs to, to tell "this session" from the others.
    pub sid: Option<String>,
    pub client_id: String,
}

impl AccountCaller {
    pub fn actor(&self, origin: RequestOrigin) -> Actor {
        Actor { user: Some(self.user.id.to_string()), client_id: Some(self.client_id.clone()), origin }
    }
}

/// Verifies `bearer` as an access token for ferrid issued to a user through one of ferrid's own
/// applications (a first-party client, or the built-in Swagger UI client). A third-party
/// client's token, whatever its scope, may not change the user's password or address.
pub async fn authenticate_account_user(state: &AppState, bearer: &str) -> Result<AccountCaller, BearerAuthError> {
    let published = state.keys.current();
    let grant = verify_bearer_access_token(state.access_token_verifier(&published), bearer, state.clock.now()).await?;
    let client_id = ClientId::parse(&grant.client_id).ok_or(BearerAuthError::InvalidToken)?;
    let client = match state.clients.find(&client_id).await {
        Ok(client) => client,
        Err(RegistryError::NotFound) => return Err(BearerAuthError::InvalidToken),
        Err(error) => return Err(BearerAuthError::Internal(error.into())),
    };
    if !client.metadata.first_party && client.id.as_str() != migration::SWAGGER_CLIENT_ID {
        return Err(BearerAuthError::InsufficientScope);
    }
    let user = uuid::Uuid::parse_str(&grant.subject).map(UserId).map_err(|_| BearerAuthError::InvalidToken)?;
    let user = match state.accounts.find(user).await {
        Ok(found) if !found.disabled => found,
        Ok(_) | Err(AccountError::NotFound) => return Err(BearerAuthError::InvalidToken),
        Err(error) => return Err(BearerAuthError::Internal(error.into())),
    };
    Ok(AccountCaller { user, sid: grant.sid, client_id: grant.client_id })
}
