//! The authorization code flow end to end (OIDC Core §3.1), driven by the `openidconnect` crate
//! as relying party: discovery, authorize + PKCE, login, consent, token, ID token verification,
//! userinfo, refresh, and SSO on a second authorization.

use ferrid::{
    accounts::{Email, NewUser, Password},
    oauth::{ClientMetadata, ClientType, GrantType, RedirectUri},
};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse,
    core::{CoreClient, CoreProviderMetadata, CoreResponseType, CoreTokenResponse, CoreUserInfoClaims},
    reqwest::Client as HttpClient,
};

use crate::{
    browser::{Browser, Landing},
    helpers::{Backend, TestApp, spawn_app},
};

on_every_backend!(
    confidential_client_signs_in_refreshes_and_gets_sso,
    public_client_signs_in_with_pkce_only,
    refresh_omits_the_id_token_for_a_client_that_keeps_its_first
);

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub const PASSWORD: &str = "correct horse battery staple";

pub async fn create_user(app: &TestApp, email: &str) {
    let new = NewUser { email: Email::parse(email).unwrap(), name: Some("Ann Lee".to_owned()) };
    app.state.accounts.create_user(new, Some(Password::new(PASSWORD))).await.unwrap();
}

/// Registers a client; returns its id and secret (None for public clients).
pub async fn create_client(app: &TestApp, client_type: ClientType) -> (String, Option<String>) {
    register(app, test_client_metadata(client_type)).await
}

fn test_client_metadata(client_type: ClientType) -> ClientMetadata {
    let mut metadata = ClientMetadata::new("Test RP", client_type);
    metadata.redirect_uris.push(RedirectUri::parse(REDIRECT).unwrap());
    metadata.grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    metadata
}

async fn register(app: &TestApp, metadata: ClientMetadata) -> (String, Option<String>) {
    let (client, secret) = app.state.clients.register(metadata).await.unwrap();
    (client.id.as_str().to_owned(), secret.map(|s| s.expose().to_owned()))
}

/// A hand-built authorization request with PKCE, `state=xyz` and `nonce=n1`; returns the URL
/// and the PKCE verifier.
pub fn authorize_url(app: &TestApp, client_id: &str, scope: &str, extra: &[(&str, &str)]) -> (String, String) {
    authorize_url_at(&app.url(""), client_id, scope, extra)
}

/// [`authorize_url`] for the ferrid at `base` (e.g. a node of a cluster).
pub fn authorize_url_at(base: &str, client_id: &str, scope: &str, extra: &[(&str, &str)]) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", scope)
        .append_pair("state", "xyz")
        .append_pair("nonce", "n1")
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    (url.to_string(), verifier.secret().to_owned())
}

fn http() -> HttpClient {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The crate's client as discovery configures it.
type RelyingParty =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// The relying party `client_id`, configured from ferrid's discovery document (OIDC Discovery
/// §4: the crate checks that `issuer` equals the URL it discovered).
async fn discover(app: &TestApp, http: &HttpClient, client_id: String, secret: Option<String>) -> RelyingParty {
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.address.clone()).unwrap(), http).await.unwrap();
    CoreClient::from_provider_metadata(metadata, ClientId::new(client_id), secret.map(ClientSecret::new))
        .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap())
}

/// One sign-in as the crate makes it: an authorization request with PKCE for `openid` and
/// `scopes`, the login in `browser`, and the code redeemed.
struct SignedIn {
    landing: Landing,
    state: CsrfToken,
    nonce: Nonce,
    tokens: CoreTokenResponse,
}

async fn sign_in(rp: &RelyingParty, http: &HttpClient, browser: &Browser, email: &str, scopes: &[&str]) -> SignedIn {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scopes(scopes.iter().map(|scope| Scope::new((*scope).to_owned())))
        .set_pkce_challenge(challenge)
        .url();
    let landing = browser.sign_in(url.as_str(), email, PASSWORD).await;
    let tokens = rp
        .exchange_code(AuthorizationCode::new(landing.code()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(http)
        .await
        .unwrap();
    SignedIn { landing, state, nonce, tokens }
}

async fn confidential_client_signs_in_refreshes_and_gets_sso(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "ann@example.com").await;
    let (client_id, secret) = create_client(&app, ClientType::Confidential).await;
    let http = http();
    let client = discover(&app, &http, client_id, secret).await;
    let browser = Browser::new(&app.address);
    let SignedIn { landing, state, nonce, tokens } =
        sign_in(&client, &http, &browser, "ann@example.com", &["email", "profile", "offline_access"]).await;
    // RFC 6749 §4.1.2 + RFC 9207 §2: code, the client's state, and our issuer.
    assert_eq!(landing.param("state").as_deref(), Some(state.secret().as_str()), "{landing:?}");
    assert_eq!(landing.param("iss").as_deref(), Some(app.address.as_str()));

    let id_token = tokens.id_token().expect("an ID token for scope openid");
    let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("the crate verifies our ID token");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ann@example.com"));
    assert_eq!(claims.email_verified(), Some(true));
    assert!(claims.auth_time().is_some());
    // OIDC Core §3.1.3.6: at_hash binds the access token to the ID token.
    let expected = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&client.id_token_verifier()).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));

    let userinfo: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(userinfo.email().map(|e| e.as_str()), Some("ann@example.com"));
    assert_eq!(userinfo.subject(), claims.subject(), "OIDC Core §5.3.2: sub matches the ID token");

    // RFC 6749 §6: refresh, with rotation.
    let refresh_token = tokens.refresh_token().expect("offline_access gives a refresh token").clone();
    let refreshed = client.exchange_refresh_token(&refresh_token).unwrap().request_async(&http).await.unwrap();
    let rotated = refreshed.refresh_token().expect("rotation returns a new refresh token");
    assert_ne!(rotated.secret(), refresh_token.secret());
    let refreshed_id = refreshed.id_token().expect("an ID token on refresh");
    let refreshed_claims = refreshed_id.claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(())).unwrap();
    assert_eq!(refreshed_claims.subject(), claims.subject());

    // SSO: a second authorization with the same browser needs neither login nor consent.
    let (challenge, _verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, _) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let landing = browser.follow(url.to_string()).await;
    assert!(matches!(landing, Landing::Redirect { .. }), "{landing:?}");
    landing.code();
    app.stop().await;
}

async fn public_client_signs_in_with_pkce_only(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "bo@example.com").await;
    let (client_id, _) = create_client(&app, ClientType::Public).await;
    let http = http();
    let client = discover(&app, &http, client_id, None).await;
    let SignedIn { nonce, tokens, .. } =
        sign_in(&client, &http, &Browser::new(&app.address), "bo@example.com", &[]).await;
    let claims = tokens.id_token().unwrap().claims(&client.id_token_verifier(), &nonce).unwrap();
    assert!(claims.email().is_none(), "no email claim without the email scope");
    assert!(tokens.refresh_token().is_none(), "no refresh token without offline_access");
    app.stop().await;
}

/// OIDC Core §12.2: a refresh response "might not contain an id_token". A client registered with
/// `id_token_on_refresh: false` gets none, and a stock relying party library accepts that.
async fn refresh_omits_the_id_token_for_a_client_that_keeps_its_first(backend: Backend) {
    let app = spawn_app(backend).await;
    create_user(&app, "cy@example.com").await;
    let mut metadata = test_client_metadata(ClientType::Confidential);
    metadata.id_token_on_refresh = false;
    let (client_id, secret) = register(&app, metadata).await;
    let http = http();
    let client = discover(&app, &http, client_id, secret).await;
    let SignedIn { nonce, tokens, .. } =
        sign_in(&client, &http, &Browser::new(&app.address), "cy@example.com", &["offline_access"]).await;
    let id_token = tokens.id_token().expect("the code exchange still returns one");
    let subject = id_token.claims(&client.id_token_verifier(), &nonce).unwrap().subject().clone();

    let refresh_token = tokens.refresh_token().unwrap();
    let refreshed = client.exchange_refresh_token(refresh_token).unwrap().request_async(&http).await.unwrap();
    assert!(refreshed.id_token().is_none(), "no ID token re-issued on refresh");
    assert!(refreshed.refresh_token().is_some_and(|rotated| rotated.secret() != refresh_token.secret()));
    let userinfo: CoreUserInfoClaims = client
        .user_info(refreshed.access_token().clone(), Some(subject.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(userinfo.subject(), &subject, "the refreshed access token is the same user's");
    app.stop().await;
}
