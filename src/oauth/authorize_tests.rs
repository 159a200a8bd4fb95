//! Tests of the authorization-request validator, each citing the section it checks.
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
        registration_token_digest: None,
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
