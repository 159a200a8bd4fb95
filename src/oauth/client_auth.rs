//! Client authentication at the token endpoint (RFC 6749 §2.3, OIDC Core §9): which credentials
//! a request carries, and whether they prove the client's identity by its registered method.

use base64::{
    Engine,
    alphabet::STANDARD,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use keys::OpaqueSecret;
use url::form_urlencoded;

use super::{
    client::{Client, ClientId, ClientType, TokenEndpointAuthMethod},
    client_assertion::{AssertionError, AssertionVerifier, JWT_BEARER, unverified_subject},
    error::OAuthError,
    registry::{ClientRegistry, RegistryError},
};

/// The one description for every failed authentication, so that a caller cannot tell an unknown
/// client from a wrong secret or a wrong method.
const AUTHENTICATION_FAILED: &str = "client authentication failed";

/// Base64 as in RFC 7617 §2, accepting values with or without padding.
const BASIC_BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The credentials a token request presents, by method (OIDC Core §9).
#[derive(Debug)]
pub enum ClientCredentials {
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    Basic { client_id: ClientId, secret: OpaqueSecret },
    /// `client_secret_post`: `client_id` and `client_secret` in the body (RFC 6749 §2.3.1).
    Post { client_id: ClientId, secret: OpaqueSecret },
    /// `none`: a public client names itself with `client_id` only (RFC 6749 §2.1, §3.2.1).
    None { client_id: ClientId },
    /// `private_key_jwt`: a signed JWT whose `sub` names the client (RFC 7523 §2.2, §3).
    Assertion { client_id: ClientId, assertion: ClientAssertion },
}

/// A client assertion as presented; `Debug` never prints it.
pub struct ClientAssertion(String);

impl ClientAssertion {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The form parameters of an assertion (RFC 7521 §4.2).
#[derive(Clone, Copy, Debug, Default)]
pub struct AssertionParams<'a> {
    pub client_assertion_type: Option<&'a str>,
    pub client_assertion: Option<&'a str>,
}

impl ClientCredentials {
    pub fn client_id(&self) -> &ClientId {
        match self {
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::None { client_id }
            | Self::Assertion { client_id, .. } => client_id,
        }
    }

    pub fn method(&self) -> TokenEndpointAuthMethod {
        match self {
            Self::Basic { .. } => TokenEndpointAuthMethod::ClientSecretBasic,
            Self::Post { .. } => TokenEndpointAuthMethod::ClientSecretPost,
            Self::None { .. } => TokenEndpointAuthMethod::None,
            Self::Assertion { .. } => TokenEndpointAuthMethod::PrivateKeyJwt,
        }
    }
}

fn authentication_failed() -> OAuthError {
    OAuthError::InvalidClient(AUTHENTICATION_FAILED.to_owned())
}

/// Decodes an `Authorization: Basic …` value into the client id and secret.
///
/// The scheme is case-insensitive (RFC 7235 §2.1). Both halves of `id:secret` are
/// `application/x-www-form-urlencoded` before base64 (RFC 6749 §2.3.1), so a `:` inside the id
/// arrives as `%3A` and the first literal `:` is the separator. A header that cannot be decoded
/// is a failed authentication (`invalid_client`, RFC 6749 §5.2).
pub fn parse_basic_authorization(header_value: &str) -> Result<(String, String), OAuthError> {
    let malformed = || OAuthError::InvalidClient("malformed Basic credentials".to_owned());
    let (scheme, encoded) = header_value.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::InvalidClient("unsupported authentication scheme".to_owned()));
    }
    let decoded = BASIC_BASE64.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = form_urldecode(id);
    if id.is_empty() {
        return Err(malformed());
    }
    Ok((id, form_urldecode(secret)))
}

/// Decodes one form-urlencoded component (`+` is a space, `%XX` a byte). A literal `&` or `=`
/// has no special meaning inside a single component, so it is escaped before handing the value
/// to the pair parser.
fn form_urldecode(component: &str) -> String {
    let escaped = component.replace('&', "%26").replace('=', "%3D");
    form_urlencoded::parse(escaped.as_bytes()).next().map(|(name, _)| name.into_owned()).unwrap_or_default()
}

/// Determines which authentication method a token request uses (RFC 6749 §2.3.1, OIDC Core §9).
///
/// A client must use exactly one method (RFC 6749 §2.3): Basic together with a body secret is
/// `invalid_request`, and so is a body `client_id` that contradicts the Basic one. A request
/// with neither a secret nor a `client_id` carries no client authentication (`invalid_client`,
/// RFC 6749 §5.2). An assertion (RFC 7521 §4.2) excludes Basic and a body secret alike.
pub fn credentials_from_request(
    authorization: Option<&str>,
    form_client_id: Option<&str>,
    form_client_secret: Option<&str>,
    assertion: AssertionParams<'_>,
) -> Result<ClientCredentials, OAuthError> {
    if assertion.client_assertion_type.is_some() || assertion.client_assertion.is_some() {
        if authorization.is_some() || form_client_secret.is_some() {
            return Err(OAuthError::InvalidRequest(
                "use only one client authentication method (RFC 6749 §2.3)".to_owned(),
            ));
        }
        return assertion_credentials(form_client_id, assertion);
    }
    let basic = authorization.map(parse_basic_authorization).transpose()?;
    match (basic, form_client_secret) {
        (Some(_), Some(_)) => {
            Err(OAuthError::InvalidRequest("use only one client authentication method (RFC 6749 §2.3)".to_owned()))
        }
        (Some((client_id, secret)), None) => {
            if form_client_id.is_some_and(|form_id| form_id != client_id) {
                return Err(OAuthError::InvalidRequest(
                    "client_id does not match the client in the Authorization header".to_owned(),
                ));
            }
            Ok(ClientCredentials::Basic { client_id: client_id_of(&client_id)?, secret: secret_of(secret) })
        }
        (None, Some(secret)) => {
            let client_id = form_client_id
                .ok_or_else(|| OAuthError::InvalidRequest("client_secret requires client_id".to_owned()))?;
            Ok(ClientCredentials::Post { client_id: client_id_of(client_id)?, secret: secret_of(secret.to_owned()) })
        }
        (None, None) => match form_client_id {
            Some(client_id) => Ok(ClientCredentials::None { client_id: client_id_of(client_id)? }),
            None => Err(authentication_failed()),
        },
    }
}

/// RFC 7521 §4.2: both parameters, the JWT type (RFC 7523 §2.2), and a `client_id`, if sent,
/// naming the same client as the assertion.
fn assertion_credentials(
    form_client_id: Option<&str>,
    params: AssertionParams<'_>,
) -> Result<ClientCredentials, OAuthError> {
    let (Some(assertion_type), Some(assertion)) = (params.client_assertion_type, params.client_assertion) else {
        return Err(OAuthError::InvalidRequest(
            "client_assertion and client_assertion_type go together (RFC 7521 §4.2)".to_owned(),
        ));
    };
    if assertion_type != JWT_BEARER {
        return Err(OAuthError::InvalidRequest("unsupported client_assertion_type".to_owned()));
    }
    let subject = unverified_subject(assertion).ok_or_else(|| {
        tracing::info!(reason = "no sub equal to iss", "client assertion refused");
        authentication_failed()
    })?;
    if form_client_id.is_some_and(|form_id| form_id != subject) {
        return Err(OAuthError::InvalidRequest("client_id does not match the client assertion".to_owned()));
    }
    Ok(ClientCredentials::Assertion {
        client_id: client_id_of(&subject)?,
        assertion: ClientAssertion(assertion.to_owned()),
    })
}

/// An id that is not even well-formed cannot belong to a client: the same failure as an unknown one.
fn client_id_of(value: &str) -> Result<ClientId, OAuthError> {
    ClientId::parse(value).ok_or_else(authentication_failed)
}

fn secret_of(value: String) -> OpaqueSecret {
    OpaqueSecret::from_presented(value)
}

/// Authenticates the client by its registered `token_endpoint_auth_method` (OIDC Core §9).
///
/// Every failure — unknown client, wrong secret, a method other than the registered one — is
/// the same `invalid_client` with the same description, so nothing about registered clients
/// can be learned from the answer (RFC 6749 §5.2). Secrets are compared only through
/// [`keys::SecretDigest::matches`], in constant time; assertions by [`AssertionVerifier`].
#[tracing::instrument(skip_all, fields(client_id = %credentials.client_id(), method = %credentials.method()))]
pub async fn authenticate_client(
    credentials: ClientCredentials,
    registry: &ClientRegistry,
    assertions: &AssertionVerifier,
) -> Result<Client, OAuthError> {
    let client = match registry.find(credentials.client_id()).await {
        Ok(client) => client,
        Err(RegistryError::NotFound) => return Err(authentication_failed()),
        Err(RegistryError::Store(error)) => return Err(error.into()),
        Err(error @ RegistryError::Metadata(_)) => return Err(OAuthError::Internal(error.into())),
    };
    if client.metadata.token_endpoint_auth_method != credentials.method() {
        return Err(authentication_failed());
    }
    let authenticated = match &credentials {
        ClientCredentials::Basic { secret, .. } | ClientCredentials::Post { secret, .. } => {
            client.secret_digest.as_ref().is_some_and(|digest| digest.matches(secret))
        }
        // A public client has no secret to present (RFC 6749 §2.1); registration allows `none`
        // only for public clients, checked again here.
        ClientCredentials::None { .. } => client.metadata.client_type == ClientType::Public,
        ClientCredentials::Assertion { assertion, .. } => match assertions.verify(&client, assertion.expose()).await {
            Ok(()) => true,
            Err(AssertionError::Store(error)) => return Err(error.into()),
            Err(reason) => {
                tracing::info!(%reason, "client assertion refused");
                false
            }
        },
    };
    if authenticated { Ok(client) } else { Err(authentication_failed()) }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        clock::SystemClock,
        config::Sensitive,
        oauth::{ClientMetadata, RedirectUri},
        store::{Database, sql::ClientRepository},
    };

    fn from_request(
        authorization: Option<&str>,
        client_id: Option<&str>,
        secret: Option<&str>,
    ) -> Result<ClientCredentials, OAuthError> {
        credentials_from_request(authorization, client_id, secret, AssertionParams::default())
    }

    fn verifier() -> AssertionVerifier {
        let clock: Arc<dyn crate::clock::Clock> = Arc::new(SystemClock);
        let fetcher = crate::oauth::client_jwks::ClientJwksFetcher::new(false, clock.clone());
        AssertionVerifier::new(
            "https://op.example",
            clock,
            Arc::new(crate::store::short_lived::MemoryStore::new()),
            fetcher,
        )
    }

    // RFC 6749 §2.3 / RFC 7521 §4.2: an assertion is the one method of its request.
    #[test]
    fn an_assertion_excludes_other_methods_rfc_7521_4_2() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = URL_SAFE_NO_PAD.encode(r#"{"iss":"c1","sub":"c1"}"#);
        let jwt = format!("e30.{payload}.c2ln");
        let params = AssertionParams { client_assertion_type: Some(JWT_BEARER), client_assertion: Some(jwt.as_str()) };
        let credentials = credentials_from_request(None, None, None, params).unwrap();
        assert_eq!(credentials.method(), TokenEndpointAuthMethod::PrivateKeyJwt);
        assert_eq!(credentials.client_id().as_str(), "c1");
        assert!(!format!("{credentials:?}").contains(&payload));
        assert!(credentials_from_request(None, Some("c1"), None, params).is_ok());
        assert_eq!(code(credentials_from_request(None, Some("c2"), None, params)), "invalid_request");
        assert_eq!(code(credentials_from_request(None, Some("c1"), Some("s"), params)), "invalid_request");
        assert_eq!(code(credentials_from_request(Some(&basic("c1:s")), None, None, params)), "invalid_request");
        let only_type = AssertionParams { client_assertion: None, ..params };
        assert_eq!(code(credentials_from_request(None, None, None, only_type)), "invalid_request");
        let wrong_type = AssertionParams { client_assertion_type: Some("urn:x"), ..params };
        assert_eq!(code(credentials_from_request(None, None, None, wrong_type)), "invalid_request");
        let not_jwt = AssertionParams { client_assertion: Some("abc"), ..params };
        assert_eq!(code(credentials_from_request(None, None, None, not_jwt)), "invalid_client");
    }

    fn basic(raw: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }

    fn code(result: Result<impl std::fmt::Debug, OAuthError>) -> &'static str {
        result.err().map(|e| e.code()).unwrap_or("ok")
    }

    #[test]
    fn basic_credentials_decode_rfc_6749_2_3_1() {
        assert_eq!(parse_basic_authorization(&basic("client:secret")).unwrap(), ("client".into(), "secret".into()));
        // The scheme is case-insensitive (RFC 7235 §2.1); padding may be left off.
        let header = basic("client:secret").replacen("Basic", "bAsIc", 1);
        assert_eq!(parse_basic_authorization(&header).unwrap().0, "client");
        assert_eq!(parse_basic_authorization("Basic Y2xpZW50OnNlY3JldA").unwrap().1, "secret");
    }

    #[test]
    fn basic_credentials_are_form_urldecoded_rfc_6749_2_3_1() {
        // The id's own colon is escaped; `+` is a space; `%2B` a plus.
        let (id, secret) = parse_basic_authorization(&basic("id%3Awith+colon:p%2Bss+word%25")).unwrap();
        assert_eq!(id, "id:with colon");
        assert_eq!(secret, "p+ss word%");
        // Only the first literal colon separates; `=` and `&` have no meaning inside a component.
        let (id, secret) = parse_basic_authorization(&basic("client:a:b==&c")).unwrap();
        assert_eq!((id.as_str(), secret.as_str()), ("client", "a:b==&c"));
        // An empty secret is still a (wrong) secret, not a missing one.
        assert_eq!(parse_basic_authorization(&basic("client:")).unwrap().1, "");
    }

    #[test]
    fn undecodable_basic_credentials_are_invalid_client_rfc_6749_5_2() {
        for header in [
            "Bearer abc".to_owned(),
            "Basic".to_owned(),
            "Basic !!!".to_owned(),
            basic("no-colon"),
            basic(":secret"),
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode([0xff, b':', b'x'])),
        ] {
            assert_eq!(code(parse_basic_authorization(&header)), "invalid_client", "{header}");
        }
    }

    #[test]
    fn one_authentication_method_per_request_rfc_6749_2_3() {
        let header = basic("client:secret");
        assert!(matches!(
            from_request(Some(&header), None, None),
            Ok(ClientCredentials::Basic { ref client_id, .. }) if client_id.as_str() == "client"
        ));
        // A body client_id that repeats the Basic one is harmless; one that differs is not.
        assert!(from_request(Some(&header), Some("client"), None).is_ok());
        assert_eq!(code(from_request(Some(&header), Some("other"), None)), "invalid_request");
        assert_eq!(code(from_request(Some(&header), Some("client"), Some("secret"))), "invalid_request");

        let post = from_request(None, Some("client"), Some("secret")).unwrap();
        assert_eq!(post.method(), TokenEndpointAuthMethod::ClientSecretPost);
        assert_eq!(post.client_id().as_str(), "client");
        assert_eq!(code(from_request(None, None, Some("secret"))), "invalid_request");

        let none = from_request(None, Some("spa"), None).unwrap();
        assert_eq!(none.method(), TokenEndpointAuthMethod::None);
        // No client authentication at all (RFC 6749 §5.2).
        assert_eq!(code(from_request(None, None, None)), "invalid_client");
        // An id that no client can have fails like an unknown client.
        assert_eq!(code(from_request(Some(&basic("id%3Ax:s")), None, None)), "invalid_client");
    }

    #[test]
    fn credentials_never_print_the_secret() {
        let credentials = from_request(None, Some("client"), Some("hunter2-secret")).unwrap();
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }

    async fn registry() -> (ClientRegistry, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("ferrid.db").display());
        let database = Database::connect(&Sensitive::new(url), 1).await.unwrap();
        database.migrate_up(None).await.unwrap();
        let issuer = crate::config::Issuer::parse("https://auth.example").unwrap();
        let repository = ClientRepository::new(database.connection().clone(), issuer);
        (ClientRegistry::new(repository, Arc::new(SystemClock), &keys::SigningAlg::ALL, 86_400), dir)
    }

    fn metadata(client_type: ClientType, method: TokenEndpointAuthMethod) -> ClientMetadata {
        let mut metadata = ClientMetadata::new("app", client_type);
        metadata.redirect_uris.push(RedirectUri::parse("https://app.example/cb").unwrap());
        metadata.token_endpoint_auth_method = method;
        metadata
    }

    fn credentials(method: TokenEndpointAuthMethod, id: &ClientId, secret: &str) -> ClientCredentials {
        let (client_id, secret) = (id.clone(), OpaqueSecret::from_presented(secret));
        match method {
            TokenEndpointAuthMethod::ClientSecretBasic => ClientCredentials::Basic { client_id, secret },
            TokenEndpointAuthMethod::ClientSecretPost => ClientCredentials::Post { client_id, secret },
            _ => ClientCredentials::None { client_id },
        }
    }

    // OIDC Core §9: the registered method is the only one accepted; RFC 6749 §5.2: every failure
    // is the same invalid_client.
    #[tokio::test]
    async fn clients_authenticate_only_by_their_registered_method_oidc_core_9() {
        use TokenEndpointAuthMethod::{ClientSecretBasic, ClientSecretPost, None as NoAuth};
        let (registry, _dir) = registry().await;
        let (basic_client, basic_secret) =
            registry.register(metadata(ClientType::Confidential, ClientSecretBasic)).await.unwrap();
        let basic_secret = basic_secret.unwrap();
        let (post_client, post_secret) =
            registry.register(metadata(ClientType::Confidential, ClientSecretPost)).await.unwrap();
        let post_secret = post_secret.unwrap();
        let (public_client, _) = registry.register(metadata(ClientType::Public, NoAuth)).await.unwrap();

        let ok = [
            (ClientSecretBasic, &basic_client.id, basic_secret.expose()),
            (ClientSecretPost, &post_client.id, post_secret.expose()),
            (NoAuth, &public_client.id, ""),
        ];
        for (method, id, secret) in ok {
            let client = authenticate_client(credentials(method, id, secret), &registry, &verifier()).await.unwrap();
            assert_eq!(&client.id, id);
        }

        let unknown = ClientId::generate();
        let failures = [
            (ClientSecretBasic, &unknown, basic_secret.expose()),
            (ClientSecretBasic, &basic_client.id, post_secret.expose()),
            (ClientSecretBasic, &basic_client.id, ""),
            (ClientSecretPost, &basic_client.id, basic_secret.expose()),
            (ClientSecretBasic, &post_client.id, post_secret.expose()),
            (NoAuth, &basic_client.id, ""),
            (ClientSecretBasic, &public_client.id, "anything"),
            (NoAuth, &unknown, ""),
        ];
        for (method, id, secret) in failures {
            let error = authenticate_client(credentials(method, id, secret), &registry, &verifier()).await.unwrap_err();
            assert_eq!(error.code(), "invalid_client", "{method} {id}");
            assert_eq!(error.description(), Some(AUTHENTICATION_FAILED), "{method} {id}");
        }
    }
}
