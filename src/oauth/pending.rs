//! An authorization request waiting for the user (login, consent). The validated request is not
//! stored; its original parameters are, and are validated again when the flow resumes, so a
//! client changed in the meantime is judged by its current registration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{ShortLivedStore, StoreError};

/// How long a user may take on the login and consent pages.
pub const PENDING_LIFETIME: Duration = Duration::from_secs(600);

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub params: Vec<(String, String)>,
    /// The `sid` of a session started on ferrid's login page for this request: the fresh login
    /// that `prompt=login` or `max_age` asked for.
    pub fresh_login_sid: Option<String>,
    /// The user answered the consent page for this request.
    pub consented: bool,
}

fn key(id: &str) -> String {
    format!("authz:{id}")
}

fn malformed(_: serde_json::Error) -> StoreError {
    StoreError::Malformed("pending authorization")
}

/// Saves a new pending request; returns its unguessable id.
pub async fn save_pending(store: &dyn ShortLivedStore, pending: &PendingAuthorization) -> Result<String, StoreError> {
    let id = keys::random_id(24);
    update_pending(store, &id, pending).await?;
    Ok(id)
}

pub async fn update_pending(
    store: &dyn ShortLivedStore,
    id: &str,
    pending: &PendingAuthorization,
) -> Result<(), StoreError> {
    let value = serde_json::to_vec(pending).map_err(malformed)?;
    store.put(&key(id), &value, PENDING_LIFETIME).await
}

pub async fn find_pending(store: &dyn ShortLivedStore, id: &str) -> Result<Option<PendingAuthorization>, StoreError> {
    store.get(&key(id)).await?.map(|bytes| serde_json::from_slice(&bytes).map_err(malformed)).transpose()
}

/// Ends a pending request (its code was issued or it failed), so it cannot be replayed.
pub async fn finish_pending(store: &dyn ShortLivedStore, id: &str) -> Result<(), StoreError> {
    store.delete(&key(id)).await
}
