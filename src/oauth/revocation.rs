//! The access-token deny-list: a revoked token's `jti` stays in the short-lived store until
//! the token would have expired anyway, and every node checks it (RFC 7009 §2, DESIGN §5).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::{ShortLivedStore, StoreError};

fn key(jti: &str) -> String {
    format!("denied-jti:{jti}")
}

/// Denies the access token `jti` until `expires_at`.
pub async fn deny_access_token(
    store: &dyn ShortLivedStore,
    jti: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let remaining = (expires_at - now).to_std().unwrap_or(Duration::ZERO);
    if remaining.is_zero() {
        return Ok(());
    }
    store.put(&key(jti), b"1", remaining).await
}

pub async fn is_denied(store: &dyn ShortLivedStore, jti: &str) -> Result<bool, StoreError> {
    Ok(store.get(&key(jti)).await?.is_some())
}
