//! Upstream discovery documents and key sets (OIDC Discovery §4, RFC 7517), fetched on first
//! use, kept for an hour, and the key set fetched again when a token names a key it lacks (the
//! upstream rotated: OIDC Core §10.1.1) — at most once per [`JWKS_REFETCH_GAP`], so tokens
//! with made-up `kid`s cannot make ferrid hammer the upstream. Every call has the configured
//! timeout and follows no redirects.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use openidconnect::{
    IssuerUrl, JsonWebKeySet,
    core::{CoreJsonWebKeySet, CoreProviderMetadata},
    reqwest,
};

use super::{FederationError, UpstreamConfig};

/// How long a discovery document is trusted before it is fetched again.
const METADATA_TTL: chrono::Duration = chrono::Duration::hours(1);
/// The shortest time between two fetches of one provider's key set.
const JWKS_REFETCH_GAP: chrono::Duration = chrono::Duration::seconds(30);

#[derive(Clone)]
struct Cached {
    metadata: CoreProviderMetadata,
    fetched_at: DateTime<Utc>,
    jwks_fetched_at: DateTime<Utc>,
}

#[derive(Clone)]
pub(super) struct ProviderCache {
    http: reqwest::Client,
    entries: Arc<Mutex<HashMap<String, Cached>>>,
}

fn unavailable(error: impl std::fmt::Display) -> FederationError {
    FederationError::UpstreamUnavailable(error.to_string())
}

impl ProviderCache {
    pub fn new(timeout: Duration) -> Result<Self, FederationError> {
        // No redirects: an upstream's endpoints are the ones its discovery names (and SSRF
        // through a redirect is not possible).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| FederationError::Internal(format!("cannot build the upstream HTTP client: {e}")))?;
        Ok(Self { http, entries: Arc::new(Mutex::new(HashMap::new())) })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn cached(&self, id: &str) -> Option<Cached> {
        self.entries.lock().ok().and_then(|entries| entries.get(id).cloned())
    }

    fn store(&self, id: &str, entry: Cached) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(id.to_owned(), entry);
        }
    }

    /// The provider's metadata with its key set. `discover_async` checks that the document's
    /// `issuer` is exactly the configured one (OIDC Discovery §4.3). A stale copy is served when
    /// the upstream cannot be reached to refresh it.
    pub async fn metadata(
        &self,
        upstream: &UpstreamConfig,
        now: DateTime<Utc>,
    ) -> Result<CoreProviderMetadata, FederationError> {
        let cached = self.cached(&upstream.id);
        if let Some(entry) = &cached
            && now - entry.fetched_at < METADATA_TTL
        {
            return Ok(entry.metadata.clone());
        }
        let issuer = IssuerUrl::new(upstream.issuer.as_str().to_owned()).map_err(unavailable)?;
        match CoreProviderMetadata::discover_async(issuer, &self.http).await {
            Ok(metadata) => {
                self.store(&upstream.id, Cached { metadata: metadata.clone(), fetched_at: now, jwks_fetched_at: now });
                Ok(metadata)
            }
            Err(error) => match cached {
                Some(entry) => {
                    tracing::warn!(provider = %upstream.id, %error, "upstream discovery failed; using the cached copy");
                    Ok(entry.metadata)
                }
                None => Err(unavailable(error)),
            },
        }
    }

    /// Fetches the provider's key set again, unless it was fetched moments ago; returns the new
    /// set, or `None` when nothing changed.
    pub async fn refetch_jwks(
        &self,
        upstream: &UpstreamConfig,
        now: DateTime<Utc>,
    ) -> Result<Option<CoreJsonWebKeySet>, FederationError> {
        let Some(mut entry) = self.cached(&upstream.id) else { return Ok(None) };
        if now - entry.jwks_fetched_at < JWKS_REFETCH_GAP {
            return Ok(None);
        }
        let jwks: CoreJsonWebKeySet =
            JsonWebKeySet::fetch_async(entry.metadata.jwks_uri(), &self.http).await.map_err(unavailable)?;
        entry.metadata = entry.metadata.set_jwks(jwks.clone());
        entry.jwks_fetched_at = now;
        self.store(&upstream.id, entry);
        Ok(Some(jwks))
    }
}
