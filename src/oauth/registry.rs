//! The client registry: registering, reading and removing clients. A confidential client's
//! secret is generated here, returned once, and stored only as a digest (DESIGN §6).
//!
//! Every token, introspection and revocation request reads its client, so reads are served from
//! memory for [`CLIENT_CACHE_TTL`]: a change made through this node (every change the API and
//! registration make goes through here) takes effect as soon as it is stored; one made on another
//! node or by the CLI, within that bound.

use std::{
    collections::HashSet,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use keys::{OpaqueSecret, SigningAlg};

use super::client::{Client, ClientId, ClientMetadata, ClientType, MetadataError, TokenEndpointAuthMethod};
use crate::{
    clock::Clock,
    store::{StoreError, sql::ClientRepository},
    ttl_cache::TtlCache,
};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("no such client")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a node trusts a client record it read: the longest a deleted client, a rotated secret
/// or new metadata go unnoticed by a node that did not make the change.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(2);
/// Beyond this many cached clients the cache starts over, so it never grows without bound.
const CLIENT_CACHE_MAX: usize = 10_000;

/// The web origins of all clients' redirect URIs, with when they were collected.
#[derive(Default)]
struct OriginCache(RwLock<Option<(Instant, Arc<HashSet<String>>)>>);

impl OriginCache {
    fn get(&self) -> Option<Arc<HashSet<String>>> {
        let entry = self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        entry.as_ref().filter(|(read_at, _)| read_at.elapsed() < CLIENT_CACHE_TTL).map(|(_, origins)| origins.clone())
    }

    fn put(&self, origins: Arc<HashSet<String>>) {
        *self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((Instant::now(), origins));
    }

    fn forget(&self) {
        *self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }
}

/// Clients read per page while collecting web origins.
const ORIGIN_PAGE: u64 = 500;

#[derive(Clone)]
pub struct ClientRegistry {
    clients: ClientRepository,
    /// Recently read clients, by id.
    cache: Arc<TtlCache<String, Client>>,
    origins: Arc<OriginCache>,
    clock: Arc<dyn Clock>,
    /// The signing algorithms the key ring keeps active keys for: a client may only choose these.
    signing_algs: Arc<[SigningAlg]>,
    /// How long retired keys stay published: no signed token may live longer, or it would
    /// outlive the key that verifies it (DESIGN §7.6).
    longest_signed_lifetime_secs: u32,
}

impl ClientRegistry {
    pub fn new(
        clients: ClientRepository,
        clock: Arc<dyn Clock>,
        signing_algs: &[SigningAlg],
        longest_signed_lifetime_secs: u32,
    ) -> Self {
        Self {
            clients,
            cache: Arc::new(TtlCache::new(CLIENT_CACHE_TTL, CLIENT_CACHE_MAX)),
            origins: Arc::default(),
            clock,
            signing_algs: signing_algs.into(),
            longest_signed_lifetime_secs,
        }
    }

    /// A client's access and ID tokens must not outlive the keys that sign them.
    fn check_lifetimes(&self, metadata: &ClientMetadata) -> Result<(), MetadataError> {
        let lifetimes = &metadata.lifetimes;
        for (name, secs) in
            [("access_token_lifetime", lifetimes.access_token), ("id_token_lifetime", lifetimes.id_token)]
        {
            if secs.is_some_and(|secs| secs > self.longest_signed_lifetime_secs) {
                return Err(MetadataError::InvalidClientMetadata(format!(
                    "{name} must be at most {} seconds (FERRID_KEY_RETAIN_RETIRED_SECS)",
                    self.longest_signed_lifetime_secs
                )));
            }
        }
        Ok(())
    }

    /// Every algorithm the client would have ferrid sign with must have a key in the ring, or its
    /// token requests would fail later instead of its registration now.
    fn check_algorithms(&self, metadata: &ClientMetadata) -> Result<(), MetadataError> {
        let m = metadata;
        for alg in [&m.id_token_signed_response_alg, &m.access_token_signed_response_alg]
            .into_iter()
            .chain(m.userinfo_signed_response_alg.as_ref())
        {
            let enabled = alg.parse::<SigningAlg>().is_ok_and(|alg| self.signing_algs.contains(&alg));
            if !enabled {
                return Err(MetadataError::InvalidClientMetadata(format!(
                    "{alg} is not enabled on this server (FERRID_KEY_ALGS)"
                )));
            }
        }
        Ok(())
    }

    /// Registers a client. Returns it with its secret for confidential clients: the only moment
    /// the clear secret exists outside the client's hands.
    pub async fn register(&self, metadata: ClientMetadata) -> Result<(Client, Option<OpaqueSecret>), RegistryError> {
        let (client, secret, _) = self.create(metadata, false).await?;
        Ok((client, secret))
    }

    /// Registers a client that manages itself (RFC 7591 §3.2.1): also returns the registration
    /// access token for RFC 7592, shown this once.
    pub async fn register_dynamically(
        &self,
        metadata: ClientMetadata,
    ) -> Result<(Client, Option<OpaqueSecret>, OpaqueSecret), RegistryError> {
        let (client, secret, token) = self.create(metadata, true).await?;
        let token = token.ok_or_else(|| RegistryError::Store(StoreError::Malformed("registration token")))?;
        Ok((client, secret, token))
    }

    async fn create(
        &self,
        metadata: ClientMetadata,
        with_registration_token: bool,
    ) -> Result<(Client, Option<OpaqueSecret>, Option<OpaqueSecret>), RegistryError> {
        self.check(&metadata)?;
        let secret = uses_secret(&metadata).then(OpaqueSecret::generate);
        let registration_token = with_registration_token.then(OpaqueSecret::generate);
        let now = self.clock.now();
        let client = Client {
            id: ClientId::generate(),
            secret_digest: secret.as_ref().map(OpaqueSecret::digest),
            registration_token_digest: registration_token.as_ref().map(OpaqueSecret::digest),
            metadata,
            created_at: now,
            updated_at: now,
        };
        self.clients.insert(&client).await?;
        self.origins.forget();
        Ok((client, secret, registration_token))
    }

    fn check(&self, metadata: &ClientMetadata) -> Result<(), MetadataError> {
        metadata.validate()?;
        self.check_algorithms(metadata)?;
        self.check_lifetimes(metadata)
    }

    /// Replaces a client's metadata (RFC 7592 §2.2). A client that starts authenticating with a
    /// secret gets one, returned this once; one that stops (public, `private_key_jwt`) loses it.
    pub async fn update(
        &self,
        client: &Client,
        metadata: ClientMetadata,
    ) -> Result<(Client, Option<OpaqueSecret>), RegistryError> {
        self.check(&metadata)?;
        let confidential = uses_secret(&metadata);
        let secret = (confidential && client.secret_digest.is_none()).then(OpaqueSecret::generate);
        let secret_digest = match &secret {
            Some(new) => Some(new.digest()),
            None if confidential => client.secret_digest.clone(),
            None => None,
        };
        let updated = Client { secret_digest, metadata, updated_at: self.clock.now(), ..client.clone() };
        let stored = self.clients.update(&updated).await;
        self.cache.forget(client.id.as_str());
        self.origins.forget();
        if !stored? {
            return Err(RegistryError::NotFound);
        }
        Ok((updated, secret))
    }

    pub async fn find(&self, id: &ClientId) -> Result<Client, RegistryError> {
        if let Some(client) = self.cache.get(id.as_str()) {
            return Ok(client);
        }
        let client = self.clients.find(id).await?.ok_or(RegistryError::NotFound)?;
        self.cache.put(client.id.as_str().to_owned(), client.clone());
        Ok(client)
    }

    /// The web origins of every registered client's http(s) redirect URIs: the browsers that may
    /// call the token, userinfo and first-party endpoints cross-origin (CORS). Collected at most
    /// once per [`CLIENT_CACHE_TTL`], like the clients themselves; at most [`CLIENT_CACHE_MAX`].
    pub async fn web_origins(&self) -> Result<Arc<HashSet<String>>, RegistryError> {
        if let Some(origins) = self.origins.get() {
            return Ok(origins);
        }
        let mut origins = HashSet::new();
        let mut after: Option<ClientId> = None;
        loop {
            let page = self.clients.list_after(after.as_ref(), ORIGIN_PAGE).await?;
            origins.extend(
                page.iter().flat_map(|client| &client.metadata.redirect_uris).filter_map(|uri| uri.web_origin()),
            );
            match page.last() {
                Some(last) if (page.len() as u64) == ORIGIN_PAGE && origins.len() < CLIENT_CACHE_MAX => {
                    after = Some(last.id.clone());
                }
                _ => break,
            }
        }
        let origins = Arc::new(origins);
        self.origins.put(origins.clone());
        Ok(origins)
    }

    /// Up to `limit` clients in client_id order, after the client `after`.
    pub async fn list_after(&self, after: Option<&ClientId>, limit: u64) -> Result<Vec<Client>, RegistryError> {
        Ok(self.clients.list_after(after, limit).await?)
    }

    /// Gives a client that authenticates with a secret a new one, returned this once; the old
    /// one stops working at once, since only the new digest is kept. `None`: the client has no
    /// secret to rotate (public, `private_key_jwt`).
    pub async fn rotate_secret(&self, client: &Client) -> Result<Option<OpaqueSecret>, RegistryError> {
        if !uses_secret(&client.metadata) {
            return Ok(None);
        }
        let secret = OpaqueSecret::generate();
        let rotated = Client { secret_digest: Some(secret.digest()), updated_at: self.clock.now(), ..client.clone() };
        let stored = self.clients.update(&rotated).await;
        self.cache.forget(client.id.as_str());
        if !stored? {
            return Err(RegistryError::NotFound);
        }
        Ok(Some(secret))
    }

    pub async fn delete(&self, id: &ClientId) -> Result<(), RegistryError> {
        let deleted = self.clients.delete(id).await;
        self.cache.forget(id.as_str());
        self.origins.forget();
        if deleted? { Ok(()) } else { Err(RegistryError::NotFound) }
    }
}

/// Only the secret methods get a secret: a `private_key_jwt` client proves itself with its keys
/// (RFC 7523 §2.2), and a secret it never uses would be one more credential to leak.
fn uses_secret(metadata: &ClientMetadata) -> bool {
    metadata.client_type == ClientType::Confidential
        && matches!(
            metadata.token_endpoint_auth_method,
            TokenEndpointAuthMethod::ClientSecretBasic | TokenEndpointAuthMethod::ClientSecretPost
        )
}
