//! The signed-in user's view of where they are signed in: browser sessions at ferrid and the
//! applications holding refresh tokens; ending one, or all ("log out everywhere").

use chrono::{DateTime, Utc};

use super::{
    backchannel_logout::{EndedSignIns, notify_logout},
    refresh_token::FamilyId,
    revocation::{revoke_family, revoke_tokens_issued_before},
};
use crate::{
    accounts::UserId,
    app::AppState,
    store::{
        StoreError,
        sql::{GrantSummary, SessionSummary, SignInRecord},
    },
};

/// How many past sign-ins the history shows.
pub const RECENT_SIGN_INS: u64 = 20;

pub struct SignIns {
    pub sessions: Vec<SessionSummary>,
    pub applications: Vec<GrantSummary>,
    /// The latest sign-ins, live or not (ended sessions are kept 30 days), newest first.
    pub recent: Vec<SignInRecord>,
}

pub async fn list(state: &AppState, user: UserId, now: DateTime<Utc>) -> Result<SignIns, StoreError> {
    Ok(SignIns {
        sessions: state.sessions.live_for_user(user, now).await?,
        applications: state.refresh_tokens.live_for_user(user, now).await?,
        recent: state.sessions.recent_for_user(user, RECENT_SIGN_INS).await?,
    })
}

/// Signs one of the user's browsers out and tells the clients signed in there (Back-Channel
/// Logout §2.5); `false` if the user has no such session.
pub async fn end_session(state: &AppState, user: UserId, sid: &str) -> Result<bool, StoreError> {
    let ended = state.sessions.end_by_sid(user, sid, state.clock.now()).await?;
    if ended {
        notify_logout(state, user, EndedSignIns { sids: vec![sid.to_owned()], families: Vec::new() });
    }
    Ok(ended)
}

/// Revokes one application's access (its refresh family and live access tokens); `false` if the
/// family is not one of the user's live grants.
pub async fn revoke_application(state: &AppState, user: UserId, family: &str) -> Result<bool, StoreError> {
    let now = state.clock.now();
    let owned =
        state.refresh_tokens.live_for_user(user, now).await?.into_iter().any(|g| g.family_id.as_str() == family);
    if owned {
        let family = FamilyId::from_stored(family);
        revoke_family(&state.refresh_tokens, state.short_lived.as_ref(), &family, now, state.longest_access_token())
            .await?;
    }
    Ok(owned)
}

#[derive(Debug, PartialEq, Eq)]
pub struct LoggedOutEverywhere {
    pub sessions: u64,
    pub applications: u64,
}

/// Ends every browser session of the user and revokes every refresh family with the access
/// tokens issued from it — on every node, since both live in the shared stores. Every client of
/// every ended session and revoked family is told over the back channel (§2.5).
pub async fn log_out_everywhere(state: &AppState, user: UserId) -> Result<LoggedOutEverywhere, StoreError> {
    log_out_all_but(state, user, None).await
}

/// [`log_out_everywhere`], except the session `keep_sid` and the refresh families born in it:
/// the device that changed the password stays signed in.
pub async fn log_out_everywhere_except(
    state: &AppState,
    user: UserId,
    keep_sid: &str,
) -> Result<LoggedOutEverywhere, StoreError> {
    log_out_all_but(state, user, Some(keep_sid)).await
}

async fn log_out_all_but(
    state: &AppState,
    user: UserId,
    keep_sid: Option<&str>,
) -> Result<LoggedOutEverywhere, StoreError> {
    let now = state.clock.now();
    // First, so that no access token issued before this moment outlives it, tracked or not. The
    // marker has whole seconds; a kept session must be able to refresh at once, so its cut-off
    // is the second before (its current access token may go too: the refresh replaces it).
    let cutoff = if keep_sid.is_some() { now - chrono::Duration::seconds(1) } else { now };
    let longest_access_token = state.longest_access_token();
    revoke_tokens_issued_before(state.short_lived.as_ref(), &user.to_string(), cutoff, longest_access_token).await?;
    let sids = state.sessions.end_all_for_user(user, keep_sid, now).await?;
    let families: Vec<_> = state
        .refresh_tokens
        .unrevoked_families_of(user)
        .await?
        .into_iter()
        .filter(|family| keep_sid.is_none() || family.sid.as_deref() != keep_sid)
        .collect();
    for family in &families {
        revoke_family(&state.refresh_tokens, state.short_lived.as_ref(), &family.family_id, now, longest_access_token)
            .await?;
    }
    let (sessions, applications) = (sids.len() as u64, families.len() as u64);
    tracing::info!(%user, sessions, applications, kept_one = keep_sid.is_some(), "logged out everywhere");
    let families = families.into_iter().map(|f| (f.client_id, f.sid)).collect();
    notify_logout(state, user, EndedSignIns { sids, families });
    Ok(LoggedOutEverywhere { sessions, applications })
}
