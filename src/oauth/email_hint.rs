//! "Which email address does my account use?" (issue 7 item 5): given a phone number, each
//! verified account with that number gets a mail naming its own address. The caller always gets
//! the same answer, and the lookup runs in the background so its timing says nothing either
//! (DESIGN §7.2). One hint per phone number per throttle window, so the endpoint cannot be used
//! to flood someone's inbox.

use std::time::Duration;

use keys::OpaqueSecret;

use crate::{
    accounts::normalize_phone,
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
    mail::{Mail, MailError, issuer_link, mailbox},
    oauth::session::RequestOrigin,
    store::StoreError,
};

/// At most this many accounts get a hint for one number.
const MAX_HINTS: u64 = 5;
const THROTTLE: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, thiserror::Error)]
enum HintError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("{0}")]
    Accounts(String),
}

/// Mails the hint if `phone` belongs to verified accounts. Returns at once.
pub fn request(state: &AppState, phone: &str, origin: RequestOrigin) {
    let Some(phone) = normalize_phone(phone) else { return };
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(error) = send_hints(&state, &phone, origin).await {
            tracing::error!(%error, "email hint request failed");
        }
    });
}

async fn send_hints(state: &AppState, phone: &str, origin: RequestOrigin) -> Result<(), HintError> {
    // The number is personal data: the throttle key holds its digest only.
    let key = format!("email-hint:{}", OpaqueSecret::from_presented(phone).digest().as_str());
    if !state.short_lived.put_if_absent(&key, b"1", THROTTLE).await? {
        return Ok(());
    }
    let users = state
        .accounts
        .find_verified_by_phone(phone, MAX_HINTS)
        .await
        .map_err(|e| HintError::Accounts(e.to_string()))?;
    let reset_link = issuer_link(&state.config.issuer, "/password/forgot", None)?;
    for user in users {
        state.outbox.enqueue(Mail::email_hint(mailbox(user.name.as_deref(), &user.email)?, &reset_link)?).await?;
        let actor = Actor { user: None, client_id: None, origin: origin.clone() };
        state.audit.record(AuditEvent::new(kinds::EMAIL_HINT_SENT, &actor).user(user.id)).await;
    }
    Ok(())
}
