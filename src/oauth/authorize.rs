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
    "dpop_jkt",
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
    /// The thumbprint of the key the code is bound to (RFC 9449 §10): the token request must
    /// carry a DPoP proof by that key.
    pub dpop_jkt: Option<String>,
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

/// The parameters of an urlencoded query or form body (RFC 6749 Appendix B), in order and with
/// duplicates kept, so that [`validate_authorization_request`] can refuse repeats (RFC 6749 §3.1).
pub fn parse_parameters(encoded: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(encoded).into_owned().collect()
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
        state: state.filter(|s| within(s, MAX_VALUE_LEN) && is_vschar(s)).map(str::to_owned),
        response_mode: ResponseMode::Query,
    };
    to_client.response_mode = response_mode(&params).map_err(|p| to_client.reject(p))?;
    let reject = |problem: Problem| to_client.reject(problem);

    check_value_lengths(&params).map_err(reject)?;
    check_state_syntax(&params).map_err(reject)?;
    check_unsupported_features(&params).map_err(reject)?;
    check_response_type(&params, client).map_err(reject)?;
    let scope = requested_scope(&params, client).map_err(reject)?;
    let code_challenge = code_challenge(&params, client).map_err(reject)?;
    let dpop_jkt = dpop_jkt(&params).map_err(reject)?;
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
        dpop_jkt,
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

/// RFC 6749 Appendix A.5: `state = 1*VSCHAR` (printable ASCII, %x20-7E). Anything else — a CR/LF
/// aimed at the redirect's headers, say — is refused and not echoed.
fn is_vschar(value: &str) -> bool {
    value.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

fn check_state_syntax(params: &Params<'_>) -> Result<(), Problem> {
    match params.get("state") {
        Some(state) if !is_vschar(state) => {
            Err(invalid_request("state must be printable ASCII (RFC 6749 Appendix A.5)"))
        }
        _ => Ok(()),
    }
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
/// RFC 9449 §10: `dpop_jkt` is a JWK SHA-256 thumbprint, 32 bytes in base64url (43 characters).
fn dpop_jkt(params: &Params<'_>) -> Result<Option<String>, Problem> {
    match params.get("dpop_jkt") {
        None => Ok(None),
        Some(jkt) if jkt.len() == 43 && jkt.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
            Ok(Some(jkt.to_owned()))
        }
        Some(_) => Err(invalid_request("dpop_jkt must be a base64url SHA-256 JWK thumbprint")),
    }
}

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
#[path = "authorize_tests.rs"]
mod tests;
