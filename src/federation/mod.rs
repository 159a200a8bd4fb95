//! Sign-in through upstream OpenID Connect providers (issue 9), Google first. ferrid is the
//! relying party here, with the `openidconnect` crate: it sends the browser to the upstream with
//! PKCE, `state` and `nonce` (kept server-side, single use), validates the ID token it gets back
//! (signature, `iss`, `aud`, `azp`, `nonce`, expiry), and signs the user in to ferrid — linking
//! the upstream identity to a ferrid account by the rules in [`linking`]. An app that already
//! holds a Google ID token exchanges it through the same validation ([`Federation::verify_id_token`]).

mod discovery;
mod error;
mod id_token;
pub mod linking;
mod relying_party;
mod upstream;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use error::FederationError;
pub use id_token::VerifiedIdentity;
pub use relying_party::{CallbackParams, Purpose, Started};
pub use upstream::{ClaimMapping, GOOGLE_ISSUER, RawUpstream, UpstreamConfig};

use crate::{
    accounts::UserId,
    clock::Clock,
    config::{Config, Issuer},
    store::{ShortLivedStore, sql::FederatedIdentityRepository},
};
use discovery::ProviderCache;

/// A user's identity at an upstream provider, linked to their ferrid account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederatedIdentity {
    pub id: Uuid,
    /// The provider's configured id, e.g. `google`.
    pub provider: String,
    /// The upstream `sub`: unique within the provider (OIDC Core §2).
    pub subject: String,
    pub user_id: UserId,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
}

/// The `amr` of a federated sign-in (RFC 8176): `fed`, then what the upstream reported.
pub fn federated_amr(upstream_amr: &[String]) -> Vec<String> {
    let mut amr = vec!["fed".to_owned()];
    amr.extend(upstream_amr.iter().filter(|m| m.as_str() != "fed").cloned());
    amr
}

/// The configured upstream providers and what talking to them needs. Cheap to clone.
#[derive(Clone)]
pub struct Federation {
    upstreams: Arc<Vec<UpstreamConfig>>,
    issuer: Issuer,
    cache: ProviderCache,
    short_lived: Arc<dyn ShortLivedStore>,
    identities: FederatedIdentityRepository,
    clock: Arc<dyn Clock>,
}

impl Federation {
    pub fn new(
        config: &Config,
        short_lived: Arc<dyn ShortLivedStore>,
        identities: FederatedIdentityRepository,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, FederationError> {
        Ok(Self {
            upstreams: Arc::new(config.upstreams.clone()),
            issuer: config.issuer.clone(),
            cache: ProviderCache::new(config.upstream_timeout)?,
            short_lived,
            identities,
            clock,
        })
    }

    /// The providers, in configuration order (the login page's buttons).
    pub fn upstreams(&self) -> &[UpstreamConfig] {
        &self.upstreams
    }

    pub fn upstream(&self, id: &str) -> Result<&UpstreamConfig, FederationError> {
        self.upstreams.iter().find(|u| u.id == id).ok_or(FederationError::UnknownProvider)
    }

    pub fn identities(&self) -> &FederatedIdentityRepository {
        &self.identities
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// How long a started upstream sign-in may take: as long as ferrid's own login page.
    const ATTEMPT_LIFETIME: Duration = crate::oauth::pending::PENDING_LIFETIME;
}
