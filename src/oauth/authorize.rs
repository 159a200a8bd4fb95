//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1): validating it in the
//! order that decides *where* an error may go, and shaping the response parameters.
//!
//! Until the client and its redirect URI are known, an error is shown to the user and never
//! redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.11: no open redirector). After that, errors go
//! back to the client with `iss` (RFC 9207 §2) in the response mode it asked for.

use std::collections::BTreeMap;

use url::form_urlencoded;

use AuthorizeErrorKind::*;

use super::{
    client::{Client, ClientId, ClientType, GrantType, RedirectUri},
    pkce::CodeChallenge,
    scope::Scope,
};
use crate::config::Issuer;

/// Longest `nonce` we store with a code and echo in the ID token.
pub const MAX_NONCE_LEN: usize = 512;
/// Longest value we accept for any other parameter we read (`state`, `login_hint`, …).
pub const MAX_VALUE_LEN: usize = 2048;

/// Parameters ferrid reads from an authorization request; others are ignored (RFC 6749 §3.1).
const KNOWN_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "ui_locales",
    "request",
    "request_uri",
    "registration",
];

/// How the authorization response is returned (OAuth 2.0 Multiple Response Type Encoding
/// Practices §2.1; OAuth 2.0 Form Post Response Mode §2). `fragment` is not offered: the code
/// flow's default is `query`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResponseMode {
    #[default]
    Query,
    FormPost,
}

impl ResponseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::FormPost => "form_post",
        }
    }
}

/// The `prompt` parameter (OIDC Core §3.1.2.1) as a set. `select_account` is treated as
/// `login`: ferrid has one account per browser session, so choosing one means signing in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
}

/// Why a `prompt` value was rejected (`invalid_request`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    #[error("prompt values are none, login, consent and select_account")]
    Unsupported,
    /// OIDC Core §3.1.2.1: "If this parameter contains none with any other value, an error is returned."
    #[error("prompt=none cannot be combined with other values")]
    NoneWithOthers,
}

impl Prompt {
    /// Parses the space-delimited, case-sensitive list (OIDC Core §3.1.2.1).
    pub fn parse(value: &str) -> Result<Self, PromptError> {
        let mut prompt = Prompt::default();
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            match token {
                "none" => prompt.none = true,
                "login" | "select_account" => prompt.login = true,
                "consent" => prompt.consent = true,
                _ => return Err(PromptError::Unsupported),
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(PromptError::NoneWithOthers);
        }
        Ok(prompt)
    }

    /// `prompt=none`: no page may be shown; answer `login_required` / `consent_required` instead
    /// (OIDC Core §3.1.2.6).
    pub fn is_none(&self) -> bool {
        self.none
    }

    /// `prompt=login` (or `select_account`): re-authenticate even with a live session.
    pub fn requires_login(&self) -> bool {
        self.login
    }

    /// `prompt=consent`: ask for consent even if it was given before.
    pub fn requires_consent(&self) -> bool {
        self.consent
    }
}

/// A validated authorization request: everything later steps (login, consent, issuing the
/// code) need, in domain types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub scope: Scope,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<CodeChallenge>,
    pub prompt: Prompt,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
    pub ui_locales: Vec<String>,
    pub response_mode: ResponseMode,
}

impl AuthorizationRequest {
    /// An OpenID Connect request rather than plain OAuth 2.0 (OIDC Core §3.1.2.1: `openid` in scope).
    pub fn is_openid(&self) -> bool {
        self.scope.contains("openid")
    }

    /// An error that goes back to this request's client, e.g. `login_required` for
    /// `prompt=none` or `access_denied` when the user declines (RFC 6749 §4.1.2.1).
    pub fn error(&self, kind: AuthorizeErrorKind, description: impl Into<String>) -> AuthorizeError {
        AuthorizeError {
            kind,
            description: description.into(),
            redirect: Some(ErrorRedirect {
                redirect_uri: self.redirect_uri.clone(),
                state: self.state.clone(),
                response_mode: self.response_mode,
            }),
        }
    }
}

/// Authorization endpoint error codes: RFC 6749 §4.1.2.1 and OIDC Core §3.1.2.6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthorizeErrorKind {
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    RegistrationNotSupported,
}

impl AuthorizeErrorKind {
    /// The `error` value on the wire.
    pub fn code(self) -> &'static str {
        match self {
            InvalidRequest => "invalid_request",
            UnauthorizedClient => "unauthorized_client",
            AccessDenied => "access_denied",
            UnsupportedResponseType => "unsupported_response_type",
            InvalidScope => "invalid_scope",
            ServerError => "server_error",
            TemporarilyUnavailable => "temporarily_unavailable",
            LoginRequired => "login_required",
            ConsentRequired => "consent_required",
            InteractionRequired => "interaction_required",
            RequestNotSupported => "request_not_supported",
            RequestUriNotSupported => "request_uri_not_supported",
            RegistrationNotSupported => "registration_not_supported",
        }
    }
}

/// Where a redirectable error goes: the verified redirect URI, the client's `state`, and the
/// response mode it asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorRedirect {
    pub redirect_uri: RedirectUri,
    pub state: Option<String>,
    pub response_mode: ResponseMode,
}

/// A rejected authorization request. Without `redirect` it is shown on an error page: the
/// client or its redirect URI could not be trusted (RFC 6749 §4.1.2.1, first paragraph).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", kind.code())]
pub struct AuthorizeError {
    pub kind: AuthorizeErrorKind,
    pub description: String,
    pub redirect: Option<ErrorRedirect>,
}

impl AuthorizeError {
    fn page(kind: AuthorizeErrorKind, description: impl Into<String>) -> Self {
        Self { kind, description: description.into(), redirect: None }
    }

    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    pub fn is_redirectable(&self) -> bool {
        self.redirect.is_some()
    }

    /// The error response parameters (RFC 6749 §4.1.2.1): `error`, `error_description`, and for
    /// a redirect also `state` when the request had one and `iss` (RFC 9207 §2).
    pub fn error_response_params(&self, issuer: &Issuer) -> Vec<(&'static str, String)> {
        let mut params =
            vec![("error", self.code().to_owned()), ("error_description", description_chars(&self.description))];
        if let Some(redirect) = &self.redirect {
            if let Some(state) = &redirect.state {
                params.push(("state", state.clone()));
            }
            params.push(("iss", issuer.as_str().to_owned()));
        }
        params
    }
}

/// The success response parameters (RFC 6749 §4.1.2, RFC 9207 §2): `code`, `state` exactly as
/// received, and `iss` so the client can tell which server answered (mix-up defence).
pub fn success_params(code: &str, state: Option<&str>, issuer: &Issuer) -> Vec<(&'static str, String)> {
    let mut params = vec![("code", code.to_owned())];
    if let Some(state) = state {
        params.push(("state", state.to_owned()));
    }
    params.push(("iss", issuer.as_str().to_owned()));
    params
}

/// The `Location` for `response_mode=query`: `params` added to the redirect URI's query with
/// `application/x-www-form-urlencoded` encoding, keeping any query it already has (RFC 6749
/// §3.1.2: "MUST retain the query component"; §4.1.2). The registered URI is otherwise left as
/// registered, byte for byte; it never has a fragment (`RedirectUri::parse`).
pub fn build_redirect(redirect_uri: &RedirectUri, params: &[(&str, String)]) -> String {
    let base = redirect_uri.as_str();
    let mut location = String::from(base);
    match base.find('?') {
        None => location.push('?'),
        Some(at) if at + 1 == base.len() || base.ends_with('&') => {}
        Some(_) => location.push('&'),
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    location.push_str(&query.finish());
    location
}

/// `error_description` may hold only %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §4.1.2.1).
fn description_chars(description: &str) -> String {
    description
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

/// Step a: the `client_id` the caller must look up before validating the rest (RFC 6749
/// §4.1.1). Repeated parameters are refused here already (RFC 6749 §3.1), and both errors are
/// for the error page: without a known client there is nowhere safe to redirect.
pub fn client_id_param(params: &[(String, String)]) -> Result<ClientId, AuthorizeError> {
    client_id_param_from(&Params::collect(params)?)
}

/// Validates an authorization request for `client`, already looked up from
/// [`client_id_param`]. The steps follow OIDC Core §3.1.2.2 and RFC 6749 §4.1.1; the first two
/// decide whether later errors may be redirected (RFC 6749 §4.1.2.1).
pub fn validate_authorization_request(
    params: &[(String, String)],
    client: &Client,
) -> Result<AuthorizationRequest, AuthorizeError> {
    // a. One value per parameter, and the client the caller looked up.
    let params = Params::collect(params)?;
    let client_id = client_id_param_from(&params)?;
    if client_id != client.id {
        return Err(AuthorizeError::page(InvalidRequest, "client_id does not match the client"));
    }

    // b. A redirect URI we may send the user to.
    let redirect_uri = registered_redirect_uri(&params, client)?;

    // c. Everything else goes back to the client: first settle how, so that the error arrives
    // the way the client expects it.
    let state = params.get("state");
    let mut to_client = ErrorRedirect {
        redirect_uri: redirect_uri.clone(),
        state: state.filter(|s| within(s, MAX_VALUE_LEN)).map(str::to_owned),
        response_mode: ResponseMode::Query,
    };
    to_client.response_mode = response_mode(&params).map_err(|p| to_client.reject(p))?;
    let reject = |problem: Problem| to_client.reject(problem);

    check_value_lengths(&params).map_err(reject)?;
    check_unsupported_features(&params).map_err(reject)?;
    check_response_type(&params, client).map_err(reject)?;
    let scope = requested_scope(&params, client).map_err(reject)?;
    let code_challenge = code_challenge(&params, client).map_err(reject)?;
    let prompt = match params.get("prompt") {
        Some(value) => Prompt::parse(value).map_err(|e| reject(invalid_request(e)))?,
        None => Prompt::default(),
    };
    let max_age = params.get("max_age").map(parse_max_age).transpose().map_err(reject)?;

    Ok(AuthorizationRequest {
        client_id,
        redirect_uri,
        scope,
        state: state.map(str::to_owned),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge,
        prompt,
        max_age,
        login_hint: params.get("login_hint").map(str::to_owned),
        ui_locales: params
            .get("ui_locales")
            .map(|v| v.split(' ').filter(|t| !t.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default(),
        response_mode: to_client.response_mode,
    })
}

/// An error found after the redirect URI was verified: sent back to the client.
struct Problem {
    kind: AuthorizeErrorKind,
    description: String,
}

fn problem(kind: AuthorizeErrorKind, description: impl Into<String>) -> Problem {
    Problem { kind, description: description.into() }
}

fn invalid_request(description: impl ToString) -> Problem {
    problem(InvalidRequest, description.to_string())
}

impl ErrorRedirect {
    fn reject(&self, problem: Problem) -> AuthorizeError {
        AuthorizeError { kind: problem.kind, description: problem.description, redirect: Some(self.clone()) }
    }
}

/// The request's parameters by name, each at most once.
struct Params<'a>(BTreeMap<&'a str, &'a str>);

impl<'a> Params<'a> {
    /// RFC 6749 §3.1: parameters "MUST NOT be included more than once", and ones "sent without a
    /// value MUST be treated as if they were omitted".
    fn collect(raw: &'a [(String, String)]) -> Result<Self, AuthorizeError> {
        let mut params = BTreeMap::new();
        for (name, value) in raw {
            if params.insert(name.as_str(), value.as_str()).is_some() {
                let description = match KNOWN_PARAMS.iter().find(|known| **known == name) {
                    Some(known) => format!("{known} is included more than once"),
                    None => "a parameter is included more than once".to_owned(),
                };
                return Err(AuthorizeError::page(InvalidRequest, description));
            }
        }
        params.retain(|_, value| !value.is_empty());
        Ok(Self(params))
    }

    fn get(&self, name: &str) -> Option<&'a str> {
        self.0.get(name).copied()
    }
}

fn client_id_param_from(params: &Params<'_>) -> Result<ClientId, AuthorizeError> {
    let value = params.get("client_id").ok_or_else(|| AuthorizeError::page(InvalidRequest, "client_id is required"))?;
    ClientId::parse(value).ok_or_else(|| AuthorizeError::page(InvalidRequest, "client_id is malformed"))
}

/// OIDC Core §3.1.2.1: `redirect_uri` is REQUIRED and "MUST exactly match one of the Redirection
/// URI values for the Client pre-registered"; RFC 9700 §4.1.3: simple string comparison.
fn registered_redirect_uri(params: &Params<'_>, client: &Client) -> Result<RedirectUri, AuthorizeError> {
    let value =
        params.get("redirect_uri").ok_or_else(|| AuthorizeError::page(InvalidRequest, "redirect_uri is required"))?;
    client.metadata.redirect_uris.iter().find(|registered| registered.as_str() == value).cloned().ok_or_else(|| {
        AuthorizeError::page(InvalidRequest, "redirect_uri does not match any redirect URI registered for this client")
    })
}

/// OAuth 2.0 Multiple Response Type Encoding Practices §2.1 (default `query` for `code`) and
/// Form Post Response Mode §2.
fn response_mode(params: &Params<'_>) -> Result<ResponseMode, Problem> {
    match params.get("response_mode") {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(_) => Err(invalid_request("response_mode must be query or form_post")),
    }
}

fn check_value_lengths(params: &Params<'_>) -> Result<(), Problem> {
    for name in KNOWN_PARAMS {
        let limit = if *name == "nonce" { MAX_NONCE_LEN } else { MAX_VALUE_LEN };
        if params.get(name).is_some_and(|value| !within(value, limit)) {
            return Err(invalid_request(format!("{name} is longer than {limit} characters")));
        }
    }
    Ok(())
}

fn within(value: &str, limit: usize) -> bool {
    value.chars().count() <= limit
}

/// OIDC Core §6: request objects are optional and ferrid does not support them; nor dynamic
/// client registration through the `registration` parameter (OIDC Core §7.2.1).
fn check_unsupported_features(params: &Params<'_>) -> Result<(), Problem> {
    if params.get("request").is_some() {
        return Err(problem(RequestNotSupported, "request objects are not supported"));
    }
    if params.get("request_uri").is_some() {
        return Err(problem(RequestUriNotSupported, "request_uri is not supported"));
    }
    if params.get("registration").is_some() {
        return Err(problem(RegistrationNotSupported, "the registration parameter is not supported"));
    }
    Ok(())
}

/// RFC 6749 §4.1.1: `response_type` is REQUIRED and is `code`; ferrid offers no other (DESIGN §5).
/// The client must also be registered for the code flow (RFC 6749 §4.1.2.1 `unauthorized_client`).
fn check_response_type(params: &Params<'_>, client: &Client) -> Result<(), Problem> {
    match params.get("response_type") {
        None => return Err(invalid_request("response_type is required")),
        Some("code") => {}
        Some(_) => return Err(problem(UnsupportedResponseType, "only response_type=code is supported")),
    }
    let metadata = &client.metadata;
    if !metadata.grant_types.contains(&GrantType::AuthorizationCode)
        || !metadata.response_types.iter().any(|t| t == "code")
    {
        return Err(problem(UnauthorizedClient, "this client may not use the authorization code flow"));
    }
    Ok(())
}

/// RFC 6749 §3.3: ferrid has no default scope, so a missing scope "fails the request"; every
/// requested token must be one the client is allowed. Without `openid` the request is plain
/// OAuth 2.0 and no ID token is issued (OIDC Core §3.1.2.1).
fn requested_scope(params: &Params<'_>, client: &Client) -> Result<Scope, Problem> {
    let value = params.get("scope").ok_or_else(|| problem(InvalidScope, "scope is required"))?;
    let scope = Scope::parse(value).map_err(|e| problem(InvalidScope, e.to_string()))?;
    if !scope.is_subset_of(&Scope::from_allowed(&client.metadata.allowed_scopes)) {
        return Err(problem(InvalidScope, "scope includes a value this client is not allowed"));
    }
    Ok(scope)
}

/// RFC 7636 §4.3–§4.4.1 with RFC 9700 §2.1.1: a challenge is required from public clients and
/// from clients registered with `require_pkce`, and it must use S256.
fn code_challenge(params: &Params<'_>, client: &Client) -> Result<Option<CodeChallenge>, Problem> {
    let method = params.get("code_challenge_method");
    match params.get("code_challenge") {
        Some(challenge) => CodeChallenge::parse(challenge, method).map(Some).map_err(invalid_request),
        None if method.is_some() => Err(invalid_request("code_challenge_method without code_challenge")),
        None if client.metadata.client_type == ClientType::Public || client.metadata.require_pkce => {
            Err(invalid_request("code_challenge required"))
        }
        None => Ok(None),
    }
}

/// OIDC Core §3.1.2.1: `max_age` is a non-negative integer number of seconds.
fn parse_max_age(value: &str) -> Result<u64, Problem> {
    let digits = value.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| value.parse().ok())
        .flatten()
        .ok_or_else(|| invalid_request("max_age must be a non-negative integer"))
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::oauth::client::ClientMetadata;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const CB: &str = "https://app.example/cb";

    fn client(client_type: ClientType) -> Client {
        let mut metadata = ClientMetadata::new("app", client_type);
        metadata.redirect_uris = vec![
            RedirectUri::parse(CB).unwrap(),
            RedirectUri::parse("https://app.example:8443/cb2?tenant=1").unwrap(),
            RedirectUri::parse("com.example.app:/oauth2redirect").unwrap(),
        ];
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Client {
            id: ClientId::parse("client-1").unwrap(),
            secret_digest: None,
            metadata,
            created_at: at,
            updated_at: at,
        }
    }

    fn confidential() -> Client {
        client(ClientType::Confidential)
    }

    fn issuer() -> Issuer {
        Issuer::parse("https://id.example").unwrap()
    }

    fn base() -> Vec<(String, String)> {
        [
            ("client_id", "client-1"),
            ("redirect_uri", CB),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("state", "af0ifjsldkj"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .to_vec()
    }

    /// The base request with `name` set to `value` (added if absent).
    fn with(name: &str, value: &str) -> Vec<(String, String)> {
        let mut params = base();
        match params.iter_mut().find(|(n, _)| n == name) {
            Some(param) => param.1 = value.to_owned(),
            None => params.push((name.to_owned(), value.to_owned())),
        }
        params
    }

    fn without(name: &str) -> Vec<(String, String)> {
        base().into_iter().filter(|(n, _)| n != name).collect()
    }

    fn validate(params: &[(String, String)]) -> Result<AuthorizationRequest, AuthorizeError> {
        validate_authorization_request(params, &confidential())
    }

    #[track_caller]
    fn on_page(result: Result<AuthorizationRequest, AuthorizeError>, kind: AuthorizeErrorKind) -> AuthorizeError {
        let error = result.unwrap_err();
        assert_eq!(error.kind, kind, "{error}");
        assert!(!error.is_redirectable(), "{error} would be redirected");
        error
    }

    #[track_caller]
    fn redirected(result: Result<AuthorizationRequest, AuthorizeError>, kind: AuthorizeErrorKind) -> AuthorizeError {
        let error = result.unwrap_err();
        assert_eq!(error.kind, kind, "{error}");
        let redirect = error.redirect.as_ref().unwrap();
        assert_eq!(redirect.redirect_uri.as_str(), CB);
        error
    }

    #[test]
    fn full_valid_request_oidc_core_3_1_2_1() {
        let mut params = base();
        for (n, v) in [("prompt", "login consent"), ("max_age", "600"), ("login_hint", "ann@example.com")] {
            params.push((n.to_owned(), v.to_owned()));
        }
        params.push(("ui_locales".to_owned(), "fr-CA fr en".to_owned()));
        params.push(("unknown_extension".to_owned(), "ignored".to_owned()));
        let request = validate(&params).unwrap();
        assert_eq!(request.client_id.as_str(), "client-1");
        assert_eq!(request.redirect_uri.as_str(), CB);
        assert_eq!(request.scope.to_string(), "openid profile");
        assert!(request.is_openid());
        assert_eq!(request.state.as_deref(), Some("af0ifjsldkj"));
        assert_eq!(request.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
        assert_eq!(request.code_challenge.as_ref().map(CodeChallenge::as_str), Some(CHALLENGE));
        assert!(request.prompt.requires_login() && request.prompt.requires_consent() && !request.prompt.is_none());
        assert_eq!(request.max_age, Some(600));
        assert_eq!(request.login_hint.as_deref(), Some("ann@example.com"));
        assert_eq!(request.ui_locales, ["fr-CA", "fr", "en"]);
        assert_eq!(request.response_mode, ResponseMode::Query);
    }

    #[test]
    fn client_id_is_read_first_rfc_6749_4_1_1() {
        assert_eq!(client_id_param(&base()).unwrap().as_str(), "client-1");
        let missing = client_id_param(&without("client_id")).unwrap_err();
        assert_eq!((missing.kind, missing.redirect), (InvalidRequest, None));
        let malformed = client_id_param(&with("client_id", "no spaces allowed")).unwrap_err();
        assert_eq!((malformed.kind, malformed.redirect), (InvalidRequest, None));
    }

    #[test]
    fn duplicated_parameters_are_not_redirected_rfc_6749_3_1() {
        let mut params = base();
        params.push(("state".to_owned(), "second".to_owned()));
        assert!(client_id_param(&params).is_err());
        let error = on_page(validate(&params), InvalidRequest);
        assert!(error.description.contains("state"));
        // Repeated even when one copy is empty.
        let mut params = base();
        params.push(("scope".to_owned(), String::new()));
        on_page(validate(&params), InvalidRequest);
    }

    #[test]
    fn client_id_must_be_the_looked_up_client() {
        on_page(validate(&with("client_id", "someone-else")), InvalidRequest);
        on_page(validate(&without("client_id")), InvalidRequest);
    }

    #[test]
    fn redirect_uri_is_required_oidc_core_3_1_2_1() {
        on_page(validate(&without("redirect_uri")), InvalidRequest);
    }

    #[test]
    fn redirect_uri_must_match_exactly_rfc_9700_4_1_3() {
        for near_miss in [
            "https://app.example/cb/",      // extra slash
            "https://app.example:443/cb",   // explicit (even default) port
            "https://app.example:8443/cb2", // registered query dropped
            "https://app.example/cb?x=1",   // added query
            "https://app.example:8443/cb2?tenant=1&x=1",
            "https://APP.example/cb", // case change in host
            "https://app.example/CB", // case change in path
            "HTTPS://app.example/cb", // case change in scheme
            "https://app.example/cb#frag",
            "https://evil.example/cb",
            "https://app.example/%63b", // percent-encoded equivalent
        ] {
            let error = on_page(validate(&with("redirect_uri", near_miss)), InvalidRequest);
            assert!(error.description.contains("redirect_uri"), "{near_miss}");
        }
        // Any registered URI matches, including one with a query and a native-app scheme.
        for registered in ["https://app.example:8443/cb2?tenant=1", "com.example.app:/oauth2redirect"] {
            assert_eq!(validate(&with("redirect_uri", registered)).unwrap().redirect_uri.as_str(), registered);
        }
    }

    #[test]
    fn unsupported_response_mode_is_redirected_as_query_multiple_response_types_2_1() {
        let error = redirected(validate(&with("response_mode", "fragment")), InvalidRequest);
        let redirect = error.redirect.unwrap();
        assert_eq!(redirect.response_mode, ResponseMode::Query);
        assert_eq!(redirect.state.as_deref(), Some("af0ifjsldkj"));
    }

    #[test]
    fn errors_use_the_requested_form_post_mode_form_post_2() {
        let mut params = with("response_mode", "form_post");
        params.retain(|(n, _)| n != "response_type");
        let error = redirected(validate(&params), InvalidRequest);
        assert_eq!(error.redirect.unwrap().response_mode, ResponseMode::FormPost);
        assert_eq!(validate(&with("response_mode", "form_post")).unwrap().response_mode, ResponseMode::FormPost);
    }

    #[test]
    fn response_type_is_required_rfc_6749_4_1_1() {
        redirected(validate(&without("response_type")), InvalidRequest);
    }

    #[test]
    fn only_code_is_supported_rfc_6749_4_1_2_1() {
        for other in ["token", "id_token", "code id_token", "Code", "code "] {
            redirected(validate(&with("response_type", other)), UnsupportedResponseType);
        }
    }

    #[test]
    fn client_without_code_grant_is_unauthorized_rfc_6749_4_1_2_1() {
        let mut client = confidential();
        client.metadata.grant_types = vec![GrantType::ClientCredentials];
        let error = validate_authorization_request(&base(), &client).unwrap_err();
        assert_eq!(error.kind, UnauthorizedClient);
        assert!(error.is_redirectable());
    }

    #[test]
    fn scope_is_required_rfc_6749_3_3() {
        redirected(validate(&without("scope")), InvalidScope);
    }

    #[test]
    fn malformed_scope_is_invalid_scope_rfc_6749_3_3() {
        redirected(validate(&with("scope", "openid  profile")), InvalidScope);
        redirected(validate(&with("scope", "openid \"x\"")), InvalidScope);
    }

    #[test]
    fn scope_outside_the_allowed_set_is_invalid_scope_rfc_6749_4_1_2_1() {
        redirected(validate(&with("scope", "openid phone")), InvalidScope);
        redirected(validate(&with("scope", "admin")), InvalidScope);
    }

    #[test]
    fn plain_oauth_without_openid_is_allowed_oidc_core_3_1_2_1() {
        let request = validate(&with("scope", "profile email")).unwrap();
        assert!(!request.is_openid());
    }

    #[test]
    fn public_client_without_challenge_is_rejected_rfc_9700_2_1_1() {
        let mut params = without("code_challenge");
        params.retain(|(n, _)| n != "code_challenge_method");
        let error = validate_authorization_request(&params, &client(ClientType::Public)).unwrap_err();
        assert_eq!((error.kind, error.description.as_str()), (InvalidRequest, "code_challenge required"));
        assert!(error.is_redirectable());
    }

    #[test]
    fn confidential_client_with_require_pkce_needs_a_challenge_rfc_7636_4_4_1() {
        let mut params = without("code_challenge");
        params.retain(|(n, _)| n != "code_challenge_method");
        redirected(validate(&params), InvalidRequest);
    }

    #[test]
    fn confidential_client_without_require_pkce_may_omit_it_rfc_7636_4_4_1() {
        let mut params = without("code_challenge");
        params.retain(|(n, _)| n != "code_challenge_method");
        let mut client = confidential();
        client.metadata.require_pkce = false;
        let request = validate_authorization_request(&params, &client).unwrap();
        assert_eq!(request.code_challenge, None);
    }

    #[test]
    fn plain_pkce_is_rejected_rfc_9700_2_1_1() {
        let mut params = with("code_challenge_method", "plain");
        params.iter_mut().filter(|(n, _)| n == "code_challenge").for_each(|p| p.1 = "a".repeat(43));
        redirected(validate(&params), InvalidRequest);
        // Absent method means plain (RFC 7636 §4.3).
        redirected(validate(&without("code_challenge_method")), InvalidRequest);
    }

    #[test]
    fn malformed_challenge_or_lone_method_is_rejected_rfc_7636_4_4_1() {
        redirected(validate(&with("code_challenge", "too-short")), InvalidRequest);
        let mut client = confidential();
        client.metadata.require_pkce = false;
        let error = validate_authorization_request(&without("code_challenge"), &client).unwrap_err();
        assert_eq!(error.kind, InvalidRequest);
    }

    #[test]
    fn prompt_none_with_another_value_is_rejected_oidc_core_3_1_2_1() {
        for combined in ["none login", "consent none", "none select_account"] {
            redirected(validate(&with("prompt", combined)), InvalidRequest);
        }
        assert!(validate(&with("prompt", "none")).unwrap().prompt.is_none());
    }

    #[test]
    fn prompt_values_oidc_core_3_1_2_1() {
        assert!(validate(&with("prompt", "select_account")).unwrap().prompt.requires_login());
        assert_eq!(validate(&base()).unwrap().prompt, Prompt::default());
        redirected(validate(&with("prompt", "create")), InvalidRequest);
        redirected(validate(&with("prompt", "Login")), InvalidRequest);
    }

    #[test]
    fn max_age_is_a_non_negative_integer_oidc_core_3_1_2_1() {
        assert_eq!(validate(&with("max_age", "0")).unwrap().max_age, Some(0));
        for bad in ["-1", "+5", "1.5", "ten", " 5", "99999999999999999999999"] {
            redirected(validate(&with("max_age", bad)), InvalidRequest);
        }
    }

    #[test]
    fn request_objects_are_not_supported_oidc_core_6() {
        redirected(validate(&with("request", "eyJhbGciOiJub25lIn0.e30.")), RequestNotSupported);
        redirected(validate(&with("request_uri", "https://app.example/req.jwt")), RequestUriNotSupported);
    }

    #[test]
    fn registration_parameter_is_not_supported_oidc_core_7_2_1() {
        redirected(validate(&with("registration", "{}")), RegistrationNotSupported);
    }

    #[test]
    fn nonce_is_at_most_512_characters() {
        assert!(validate(&with("nonce", &"n".repeat(MAX_NONCE_LEN))).is_ok());
        redirected(validate(&with("nonce", &"n".repeat(MAX_NONCE_LEN + 1))), InvalidRequest);
    }

    #[test]
    fn overlong_values_are_rejected() {
        assert!(validate(&with("state", &"s".repeat(MAX_VALUE_LEN))).is_ok());
        let error = redirected(validate(&with("state", &"s".repeat(MAX_VALUE_LEN + 1))), InvalidRequest);
        // An overlong state is not echoed back.
        assert_eq!(error.redirect.unwrap().state, None);
        let error = redirected(validate(&with("login_hint", &"h".repeat(MAX_VALUE_LEN + 1))), InvalidRequest);
        assert_eq!(error.redirect.unwrap().state.as_deref(), Some("af0ifjsldkj"));
    }

    #[test]
    fn empty_values_count_as_omitted_rfc_6749_3_1() {
        let request = validate(&with("state", "")).unwrap();
        assert_eq!(request.state, None);
        redirected(validate(&with("scope", "")), InvalidScope);
        assert_eq!(validate(&with("prompt", "")).unwrap().prompt, Prompt::default());
    }

    #[test]
    fn error_params_carry_state_and_iss_rfc_6749_4_1_2_1_rfc_9207_2() {
        let error = redirected(validate(&with("scope", "admin")), InvalidScope);
        let params = error.error_response_params(&issuer());
        let names: Vec<_> = params.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["error", "error_description", "state", "iss"]);
        assert_eq!(params[0].1, "invalid_scope");
        assert_eq!(params[2].1, "af0ifjsldkj");
        assert_eq!(params[3].1, "https://id.example");

        let mut params = with("scope", "admin");
        params.retain(|(n, _)| n != "state");
        let without_state = redirected(validate(&params), InvalidScope);
        assert!(without_state.error_response_params(&issuer()).iter().all(|(n, _)| *n != "state"));
    }

    #[test]
    fn page_errors_have_no_state_or_iss() {
        let error = on_page(validate(&without("redirect_uri")), InvalidRequest);
        let names: Vec<_> = error.error_response_params(&issuer()).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["error", "error_description"]);
    }

    #[test]
    fn error_description_stays_in_its_character_set_rfc_6749_4_1_2_1() {
        let error = AuthorizeError::page(InvalidRequest, "bad \"value\" \\ é\n");
        let description = &error.error_response_params(&issuer())[1].1;
        assert_eq!(description, "bad 'value' / ??");
    }

    #[test]
    fn request_errors_after_validation_go_back_to_the_client_oidc_core_3_1_2_6() {
        let request = validate(&with("prompt", "none")).unwrap();
        let error = request.error(LoginRequired, "no session");
        assert_eq!(error.code(), "login_required");
        assert_eq!(error.redirect.unwrap().state.as_deref(), Some("af0ifjsldkj"));
    }

    #[test]
    fn success_params_rfc_6749_4_1_2_rfc_9207_2() {
        let params = success_params("c0de", Some("xyz"), &issuer());
        assert_eq!(
            params,
            [("code", "c0de".to_owned()), ("state", "xyz".to_owned()), ("iss", "https://id.example".to_owned())]
        );
        assert_eq!(success_params("c0de", None, &issuer()).len(), 2);
    }

    #[test]
    fn redirect_keeps_the_existing_query_rfc_6749_3_1_2() {
        let uri = RedirectUri::parse("https://app.example:8443/cb2?tenant=1").unwrap();
        let location = build_redirect(&uri, &success_params("c0de", Some("a b&c=d/é"), &issuer()));
        assert_eq!(
            location,
            "https://app.example:8443/cb2?tenant=1&code=c0de&state=a+b%26c%3Dd%2F%C3%A9&iss=https%3A%2F%2Fid.example"
        );
        let parsed = url::Url::parse(&location).unwrap();
        let pairs: Vec<_> = parsed.query_pairs().map(|(n, v)| (n.into_owned(), v.into_owned())).collect();
        assert_eq!(pairs[0], ("tenant".to_owned(), "1".to_owned()));
        assert_eq!(pairs[2], ("state".to_owned(), "a b&c=d/é".to_owned()));
    }

    #[test]
    fn redirect_without_a_query_gets_one_rfc_6749_4_1_2() {
        let params = [("code", "c0de".to_owned())];
        assert_eq!(build_redirect(&RedirectUri::parse(CB).unwrap(), &params), "https://app.example/cb?code=c0de");
        assert_eq!(
            build_redirect(&RedirectUri::parse("https://app.example/cb?").unwrap(), &params),
            "https://app.example/cb?code=c0de"
        );
        assert_eq!(
            build_redirect(&RedirectUri::parse("com.example.app:/oauth2redirect").unwrap(), &params),
            "com.example.app:/oauth2redirect?code=c0de"
        );
    }

    #[test]
    fn error_codes_are_the_rfc_strings() {
        let all = [
            (InvalidRequest, "invalid_request"),
            (UnauthorizedClient, "unauthorized_client"),
            (AccessDenied, "access_denied"),
            (UnsupportedResponseType, "unsupported_response_type"),
            (InvalidScope, "invalid_scope"),
            (ServerError, "server_error"),
            (TemporarilyUnavailable, "temporarily_unavailable"),
            (LoginRequired, "login_required"),
            (ConsentRequired, "consent_required"),
            (InteractionRequired, "interaction_required"),
            (RequestNotSupported, "request_not_supported"),
            (RequestUriNotSupported, "request_uri_not_supported"),
            (RegistrationNotSupported, "registration_not_supported"),
        ];
        for (kind, code) in all {
            assert_eq!(kind.code(), code);
        }
    }
}
