//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592): a client
//! registers its own metadata, receives a registration access token, and with it reads, replaces
//! or deletes its registration. Who may register is the operator's choice (DESIGN §5): anyone
//! (open, the default on a loopback issuer), holders of an initial access token, or nobody.

use keys::{OpaqueSecret, SecretDigest};

use super::{
    admin::ADMIN_SCOPE,
    client::{
        Client, ClientId, ClientMetadata, ClientType, GrantType, MetadataError, RedirectUri, TokenEndpointAuthMethod,
        parse_jwks_uri,
    },
    registry::RegistryError,
};
use crate::{app::AppState, store::StoreError};

/// Who may call `/register`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationPolicy {
    Open,
    /// RFC 7591 §3: the request carries this initial access token as a Bearer token.
    InitialAccessToken(SecretDigest),
    Off,
}

/// Client metadata as a client sends it (RFC 7591 §2, OIDC Registration §2, Back-Channel Logout
/// §2.2). Omitted values take RFC 7591's defaults; metadata ferrid does not understand is ignored
/// by the HTTP layer, as §2 requires.
#[derive(Clone, Debug, Default)]
pub struct RegistrationRequest {
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub client_name: Option<String>,
    pub scope: Option<String>,
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    pub id_token_signed_response_alg: Option<String>,
    pub id_token_encrypted_response_alg: Option<String>,
    pub id_token_encrypted_response_enc: Option<String>,
    pub userinfo_signed_response_alg: Option<String>,
    pub userinfo_encrypted_response_alg: Option<String>,
    pub userinfo_encrypted_response_enc: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: Option<bool>,
    /// RFC 9449 §5.2.
    pub dpop_bound_access_tokens: Option<bool>,
}

fn invalid(problem: impl Into<String>) -> MetadataError {
    MetadataError::InvalidClientMetadata(problem.into())
}

impl RegistrationRequest {
    /// The metadata to register, as [`Self::into_requested_metadata`]; `ferrid:admin` is never
    /// granted to a self-registered client.
    pub fn into_metadata(self) -> Result<ClientMetadata, MetadataError> {
        let m = self.into_requested_metadata()?;
        if m.allowed_scopes.iter().any(|s| s == ADMIN_SCOPE) {
            return Err(invalid(format!("{ADMIN_SCOPE} is granted only by an administrator")));
        }
        Ok(m)
    }

    /// The metadata as requested, with RFC 7591 §2's defaults: `client_secret_basic`, the
    /// `authorization_code` grant and the `code` response type. Grant and response types must
    /// agree (§2.1). Any known scope is accepted: callers decide who may hold which.
    pub(super) fn into_requested_metadata(self) -> Result<ClientMetadata, MetadataError> {
        let method = match self.token_endpoint_auth_method.as_deref() {
            None => TokenEndpointAuthMethod::ClientSecretBasic,
            Some(other) => other.parse().map_err(invalid)?,
        };
        let client_type =
            if method == TokenEndpointAuthMethod::None { ClientType::Public } else { ClientType::Confidential };
        let name = self.client_name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "Unnamed application".into());
        let mut m = ClientMetadata::new(name, client_type);
        m.token_endpoint_auth_method = method;
        m.grant_types = match self.grant_types {
            None => vec![GrantType::AuthorizationCode],
            Some(grants) => grants.iter().map(|g| g.parse()).collect::<Result<_, _>>().map_err(invalid)?,
        };
        let code_flow = m.grant_types.contains(&GrantType::AuthorizationCode);
        m.response_types = match self.response_types {
            None if code_flow => vec!["code".to_owned()],
            None => Vec::new(),
            Some(types) => types,
        };
        // RFC 7591 §2.1: the code response type goes with the authorization_code grant.
        if code_flow != m.response_types.iter().any(|t| t == "code") {
            return Err(invalid("response_types \"code\" and grant_types \"authorization_code\" go together"));
        }
        m.redirect_uris = self.redirect_uris.iter().map(|u| RedirectUri::parse(u)).collect::<Result<_, _>>()?;
        m.post_logout_redirect_uris =
            self.post_logout_redirect_uris.iter().map(|u| RedirectUri::parse(u)).collect::<Result<_, _>>()?;
        if let Some(scope) = self.scope {
            m.allowed_scopes = scope.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        }
        m.jwks = self.jwks;
        m.jwks_uri = self.jwks_uri.as_deref().map(parse_jwks_uri).transpose()?;
        if let Some(alg) = self.id_token_signed_response_alg {
            m.id_token_signed_response_alg = alg;
        }
        m.id_token_encrypted_response_alg = self.id_token_encrypted_response_alg;
        m.id_token_encrypted_response_enc = self.id_token_encrypted_response_enc;
        m.userinfo_signed_response_alg = self.userinfo_signed_response_alg;
        m.userinfo_encrypted_response_alg = self.userinfo_encrypted_response_alg;
        m.userinfo_encrypted_response_enc = self.userinfo_encrypted_response_enc;
        m.backchannel_logout_uri = self
            .backchannel_logout_uri
            .map(|u| url::Url::parse(&u))
            .transpose()
            .map_err(|_| invalid("backchannel_logout_uri is not a URL"))?;
        m.backchannel_logout_session_required = self.backchannel_logout_session_required.unwrap_or(false);
        m.dpop_bound_access_tokens = self.dpop_bound_access_tokens.unwrap_or(false);
        Ok(m)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// RFC 7591 §3 / RFC 6750 §3.1: the initial or registration access token is missing or wrong
    /// — or the client does not exist, which must look the same (RFC 7592 §2.1).
    #[error("the access token is missing or invalid")]
    InvalidToken,
    /// Registration is switched off.
    #[error("client registration is not enabled")]
    Disabled,
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// RFC 7592 §2.2: the update names another client, or a wrong secret.
    #[error("{0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RegistryError> for RegistrationError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Metadata(error) => Self::Metadata(error),
            RegistryError::NotFound => Self::InvalidToken,
            RegistryError::Store(error) => Self::Store(error),
        }
    }
}

/// A client as registered, with the credentials shown only now.
pub struct Registered {
    pub client: Client,
    pub secret: Option<OpaqueSecret>,
    pub registration_token: Option<OpaqueSecret>,
}

/// RFC 7591 §3.1: registers `request` if the policy lets the caller.
pub async fn register(
    state: &AppState,
    initial_token: Option<&str>,
    request: RegistrationRequest,
) -> Result<Registered, RegistrationError> {
    match (&state.config.registration, initial_token) {
        (RegistrationPolicy::Off, _) => return Err(RegistrationError::Disabled),
        (RegistrationPolicy::Open, _) => {}
        (RegistrationPolicy::InitialAccessToken(digest), Some(token))
            if digest.matches(&OpaqueSecret::from_presented(token)) => {}
        (RegistrationPolicy::InitialAccessToken(_), _) => return Err(RegistrationError::InvalidToken),
    }
    let (client, secret, token) = state.clients.register_dynamically(request.into_metadata()?).await?;
    tracing::info!(client_id = %client.id, "client registered dynamically");
    Ok(Registered { client, secret, registration_token: Some(token) })
}

/// The client `client_id` if `token` is its registration access token (RFC 7592 §2); an unknown
/// client and a wrong token are the same error.
async fn managed_client(state: &AppState, client_id: &str, token: Option<&str>) -> Result<Client, RegistrationError> {
    let (Some(id), Some(token)) = (ClientId::parse(client_id), token) else {
        return Err(RegistrationError::InvalidToken);
    };
    let client = state.clients.find(&id).await?;
    let presented = OpaqueSecret::from_presented(token);
    match &client.registration_token_digest {
        Some(digest) if digest.matches(&presented) => Ok(client),
        _ => Err(RegistrationError::InvalidToken),
    }
}

/// RFC 7592 §2.1.
pub async fn read(state: &AppState, client_id: &str, token: Option<&str>) -> Result<Client, RegistrationError> {
    managed_client(state, client_id, token).await
}

/// RFC 7592 §2.2: replaces the registration. The request names the client, and a secret in it
/// must be the client's; omitted metadata falls back to defaults, as in a new registration.
pub async fn update(
    state: &AppState,
    client_id: &str,
    token: Option<&str>,
    named_client: Option<&str>,
    presented_secret: Option<&str>,
    request: RegistrationRequest,
) -> Result<Registered, RegistrationError> {
    let client = managed_client(state, client_id, token).await?;
    if named_client != Some(client.id.as_str()) {
        return Err(RegistrationError::InvalidRequest("client_id must name the client being updated".into()));
    }
    if let Some(secret) = presented_secret {
        let matches = client.secret_digest.as_ref().is_some_and(|d| d.matches(&OpaqueSecret::from_presented(secret)));
        if !matches {
            return Err(RegistrationError::InvalidRequest("client_secret does not match".into()));
        }
    }
    let (client, secret) = state.clients.update(&client, request.into_metadata()?).await?;
    tracing::info!(client_id = %client.id, "client registration updated");
    Ok(Registered { client, secret, registration_token: None })
}

/// RFC 7592 §2.3: deletes the registration; its tokens stop working with it.
pub async fn delete(state: &AppState, client_id: &str, token: Option<&str>) -> Result<(), RegistrationError> {
    let client = managed_client(state, client_id, token).await?;
    state.clients.delete(&client.id).await?;
    tracing::info!(client_id = %client.id, "client registration deleted");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(redirect: &str) -> RegistrationRequest {
        RegistrationRequest { redirect_uris: vec![redirect.to_owned()], ..Default::default() }
    }

    #[test]
    fn defaults_follow_rfc_7591_2() {
        let m = request("https://app.example/cb").into_metadata().unwrap();
        assert_eq!(m.token_endpoint_auth_method, TokenEndpointAuthMethod::ClientSecretBasic);
        assert_eq!(m.client_type, ClientType::Confidential);
        assert_eq!(m.grant_types, vec![GrantType::AuthorizationCode]);
        assert_eq!(m.response_types, vec!["code".to_owned()]);
        assert!(!m.first_party, "a self-registered client never skips consent");
        assert_eq!(m.validate(), Ok(()));
    }

    #[test]
    fn inconsistent_or_privileged_metadata_is_refused() {
        let mut r = request("https://app.example/cb");
        r.response_types = Some(vec![]);
        assert!(r.into_metadata().is_err(), "RFC 7591 §2.1: authorization_code needs code");
        let mut r = request("https://app.example/cb");
        r.scope = Some("openid ferrid:admin".into());
        assert!(r.into_metadata().is_err());
        let mut r = request("https://app.example/cb");
        r.token_endpoint_auth_method = Some("private_key_jwt".into());
        assert!(r.into_metadata().and_then(|m| m.validate()).is_err(), "private_key_jwt needs keys");
        assert!(matches!(
            request("https://app.example/cb#f").into_metadata(),
            Err(MetadataError::InvalidRedirectUri(_))
        ));
        let service =
            RegistrationRequest { grant_types: Some(vec!["client_credentials".into()]), ..Default::default() };
        let m = service.into_metadata().unwrap();
        assert!(m.response_types.is_empty());
        assert_eq!(m.validate(), Ok(()));
    }
}
