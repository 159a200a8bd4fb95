//! Clients as an administrator manages them: the RFC 7591 metadata a client could register for
//! itself, plus what only an administrator may grant — `ferrid:admin`, skipping consent, the
//! access token format and per-client lifetimes. Validation is the registry's, as for `/register`.

use keys::OpaqueSecret;

use super::{
    client::{AccessTokenFormat, Client, ClientId, ClientMetadata, MetadataError},
    lifetimes::LifetimeOverrides,
    registration::RegistrationRequest,
    registry::RegistryError,
};
use crate::app::AppState;

/// Settings a client cannot choose through `/register`. Omitted values take the defaults of a
/// new client, so a replacement that leaves them out resets them.
#[derive(Clone, Debug, Default)]
pub struct AdminSettings {
    pub first_party: bool,
    pub require_pkce: Option<bool>,
    pub access_token_format: Option<String>,
    pub access_token_signed_response_alg: Option<String>,
    pub access_token_encrypted_response_alg: Option<String>,
    pub access_token_encrypted_response_enc: Option<String>,
    pub lifetimes: LifetimeOverrides,
    pub refresh_token_reuse_grace_secs: Option<u32>,
    /// `allow` (the default), `notify` or `reauthenticate`.
    pub refresh_origin_policy: Option<String>,
    /// Whether a refresh re-issues the ID token (OIDC Core §12.2); absent: yes.
    pub id_token_on_refresh: Option<bool>,
}

impl AdminSettings {
    /// The settings of `metadata`, as an administrator would send them back.
    pub fn of(metadata: &ClientMetadata) -> Self {
        Self {
            first_party: metadata.first_party,
            require_pkce: Some(metadata.require_pkce),
            access_token_format: Some(metadata.access_token_format.as_str().to_owned()),
            access_token_signed_response_alg: Some(metadata.access_token_signed_response_alg.clone()),
            access_token_encrypted_response_alg: metadata.access_token_encrypted_response_alg.clone(),
            access_token_encrypted_response_enc: metadata.access_token_encrypted_response_enc.clone(),
            lifetimes: metadata.lifetimes,
            refresh_token_reuse_grace_secs: Some(metadata.refresh_token_reuse_grace_secs),
            refresh_origin_policy: Some(metadata.refresh_origin_policy.as_str().to_owned()),
            id_token_on_refresh: Some(metadata.id_token_on_refresh),
        }
    }
}

/// A client's complete metadata as an administrator sends it.
#[derive(Clone, Debug, Default)]
pub struct AdminClientRequest {
    pub registration: RegistrationRequest,
    pub settings: AdminSettings,
}

impl AdminClientRequest {
    /// The metadata, read like a registration (same defaults and checks) with the administrator's
    /// settings applied; the registry validates the whole.
    pub fn into_metadata(self) -> Result<ClientMetadata, MetadataError> {
        let mut m = self.registration.into_requested_metadata()?;
        let s = self.settings;
        m.first_party = s.first_party;
        if let Some(require_pkce) = s.require_pkce {
            m.require_pkce = require_pkce;
        }
        if let Some(format) = s.access_token_format {
            m.access_token_format =
                format.parse::<AccessTokenFormat>().map_err(MetadataError::InvalidClientMetadata)?;
        }
        if let Some(alg) = s.access_token_signed_response_alg {
            m.access_token_signed_response_alg = alg;
        }
        m.access_token_encrypted_response_alg = s.access_token_encrypted_response_alg;
        m.access_token_encrypted_response_enc = s.access_token_encrypted_response_enc;
        m.lifetimes = s.lifetimes;
        m.refresh_token_reuse_grace_secs = s.refresh_token_reuse_grace_secs.unwrap_or_default();
        if let Some(policy) = s.refresh_origin_policy {
            m.refresh_origin_policy = policy.parse().map_err(MetadataError::InvalidClientMetadata)?;
        }
        if let Some(id_token_on_refresh) = s.id_token_on_refresh {
            m.id_token_on_refresh = id_token_on_refresh;
        }
        Ok(m)
    }
}

/// The client `client_id`; a malformed id is simply not found.
pub async fn find(state: &AppState, client_id: &str) -> Result<Client, RegistryError> {
    let id = ClientId::parse(client_id).ok_or(RegistryError::NotFound)?;
    state.clients.find(&id).await
}

/// One page of clients in client_id order after the client `after` (keyset paging), and the
/// cursor of the next page when there is one.
pub async fn page(
    state: &AppState,
    after: Option<&ClientId>,
    limit: u64,
) -> Result<(Vec<Client>, Option<ClientId>), RegistryError> {
    // One more than asked tells whether another page follows, so the last one says so.
    let mut clients = state.clients.list_after(after, limit.saturating_add(1)).await?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = clients.len() > limit;
    clients.truncate(limit);
    let next = more.then(|| clients.last().map(|c| c.id.clone())).flatten();
    Ok((clients, next))
}

/// Registers a client; a secret client's secret is returned this once.
pub async fn create(
    state: &AppState,
    request: AdminClientRequest,
) -> Result<(Client, Option<OpaqueSecret>), RegistryError> {
    let (client, secret) = state.clients.register(request.into_metadata()?).await?;
    tracing::info!(client_id = %client.id, "client created by an administrator");
    Ok((client, secret))
}

/// Replaces every piece of metadata of `client_id`; the secret is kept (a client that starts
/// using one gets one, returned this once). Returns the client before and after.
pub async fn replace(
    state: &AppState,
    client_id: &str,
    request: AdminClientRequest,
) -> Result<(Client, Client, Option<OpaqueSecret>), RegistryError> {
    let metadata = request.into_metadata()?;
    let before = find(state, client_id).await?;
    let (after, secret) = state.clients.update(&before, metadata).await?;
    tracing::info!(client_id = %after.id, "client replaced by an administrator");
    Ok((before, after, secret))
}

/// Deletes `client_id` as RFC 7592 §2.3 deletion does: with the client go its refresh-token
/// families and consents (the store cascades), and its access tokens stop passing
/// introspection, /userinfo and the admin guard, which all require the client to exist.
pub async fn delete(state: &AppState, client_id: &str) -> Result<Client, RegistryError> {
    let client = find(state, client_id).await?;
    state.clients.delete(&client.id).await?;
    tracing::info!(client_id = %client.id, "client deleted by an administrator");
    Ok(client)
}

/// Why a secret could not be rotated.
#[derive(Debug, thiserror::Error)]
pub enum RotateSecretError {
    #[error("the client does not authenticate with a client secret")]
    NoSecret,
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Gives `client_id` a new secret, returned this once; the old one stops working at once.
pub async fn rotate_secret(state: &AppState, client_id: &str) -> Result<(Client, OpaqueSecret), RotateSecretError> {
    let client = find(state, client_id).await?;
    let secret = state.clients.rotate_secret(&client).await?.ok_or(RotateSecretError::NoSecret)?;
    tracing::info!(client_id = %client.id, "client secret rotated by an administrator");
    Ok((client, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::admin::ADMIN_SCOPE;

    fn request() -> AdminClientRequest {
        AdminClientRequest {
            registration: RegistrationRequest {
                redirect_uris: vec!["https://console.example/cb".into()],
                scope: Some(format!("openid {ADMIN_SCOPE}")),
                ..Default::default()
            },
            settings: AdminSettings::default(),
        }
    }

    #[test]
    fn an_administrator_may_grant_what_registration_refuses() {
        let mut r = request();
        r.settings.first_party = true;
        r.settings.access_token_format = Some("opaque".into());
        r.settings.lifetimes.access_token = Some(120);
        let m = r.into_metadata().unwrap();
        assert!(m.allowed_scopes.iter().any(|s| s == ADMIN_SCOPE));
        assert!(m.first_party);
        assert_eq!(m.access_token_format, AccessTokenFormat::Opaque);
        assert_eq!(m.lifetimes.access_token, Some(120));
        assert_eq!(m.validate(), Ok(()));
        assert!(request().registration.into_metadata().is_err(), "never through /register");
    }

    #[test]
    fn settings_round_trip_through_the_metadata() {
        let mut r = request();
        r.settings.refresh_token_reuse_grace_secs = Some(5);
        r.settings.refresh_origin_policy = Some("reauthenticate".into());
        r.settings.id_token_on_refresh = Some(false);
        let m = r.clone().into_metadata().unwrap();
        assert_eq!(m.refresh_origin_policy, super::super::client::RefreshOriginPolicy::Reauthenticate);
        assert!(!m.id_token_on_refresh);
        assert!(request().into_metadata().unwrap().id_token_on_refresh, "re-issued unless turned off");
        let again = AdminClientRequest { registration: r.registration, settings: AdminSettings::of(&m) };
        assert_eq!(again.into_metadata().unwrap(), m);
        let mut bad = request();
        bad.settings.access_token_format = Some("paseto".into());
        assert!(matches!(bad.into_metadata(), Err(MetadataError::InvalidClientMetadata(_))));
        let mut bad = request();
        bad.settings.refresh_origin_policy = Some("ignore".into());
        assert!(matches!(bad.into_metadata(), Err(MetadataError::InvalidClientMetadata(_))));
    }
}
