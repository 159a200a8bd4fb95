//! Token revocation (RFC 7009): a client ends a grant it holds. Revoking a refresh token revokes
//! its family and the access tokens minted from it (§2.1); revoking an access token puts its
//! `jti` on the deny-list until it expires. Whatever the token — unknown, malformed, expired,
//! already revoked, or another client's (which is left alone) — the answer is the same 200
//! (§2.2), so revocation tells nothing about tokens a client does not hold.

use super::{
    client::Client,
    error::OAuthError,
    introspection::{Found, TokenTypeHint, find_token},
    revocation::{deny_access_token, revoke_family},
};
use serde_json::json;

use super::session::RequestOrigin;
use crate::{
    accounts::UserId,
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
};

/// RFC 7009 §2.1: revokes `token` if it is `client`'s. `hint` is the raw `token_type_hint`; a
/// value other than the two registered ones (§4.1.2) is `unsupported_token_type` (§2.2.1).
#[tracing::instrument(skip_all, fields(client_id = %client.id))]
pub async fn revoke_token(
    state: &AppState,
    client: &Client,
    token: &str,
    hint: Option<&str>,
    origin: &RequestOrigin,
) -> Result<(), OAuthError> {
    let hint = hint
        .map(|value| {
            TokenTypeHint::parse(value).ok_or_else(|| {
                OAuthError::UnsupportedTokenType("token_type_hint must be access_token or refresh_token".into())
            })
        })
        .transpose()?;
    let now = state.clock.now();
    let actor = Actor { user: None, client_id: Some(client.id.as_str().to_owned()), origin: origin.clone() };
    let event = AuditEvent::new(kinds::TOKEN_REVOKE, &actor).client(client.id.as_str());
    let Some(found) = find_token(state, token, hint, now).await? else {
        state.audit.record(event.failed().details(json!({ "reason": "unknown_token" }))).await;
        return Ok(());
    };
    if found.client_id() != client.id.as_str() {
        // §2.1: the server "verifies whether the token was issued to the client making the
        // revocation request"; if not, nothing happens and the answer does not say so.
        tracing::info!("revocation of another client's token ignored");
        state.audit.record(event.failed().details(json!({ "reason": "another_clients_token" }))).await;
        return Ok(());
    }
    let store = state.short_lived.as_ref();
    let event = match found {
        Found::Access(grant) => {
            deny_access_token(store, &grant.jti, grant.expires_at, now).await?;
            let event = event.details(json!({ "token_type": "access_token" }));
            match uuid::Uuid::parse_str(&grant.subject).map(UserId) {
                Ok(user) => event.user(user),
                Err(_) => event,
            }
        }
        // Even a rotated or expired token names the grant the client wants ended; its family may
        // still have live access tokens.
        Found::Refresh(record) => {
            let revoked = match record.revoked_at {
                None => {
                    let live_for = state.longest_access_token();
                    revoke_family(&state.refresh_tokens, store, &record.family_id, now, live_for).await?
                }
                Some(_) => 0,
            };
            tracing::info!(family_id = %record.family_id, revoked, "refresh token family revoked");
            let details =
                json!({ "token_type": "refresh_token", "family_id": record.family_id.as_str(), "revoked": revoked });
            event.user(record.grant.user_id).details(details)
        }
    };
    state.audit.record(event).await;
    Ok(())
}
