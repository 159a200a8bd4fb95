//! The `/authorize` query parser and request validator (RFC 6749 §3.1, §4.1.1; OIDC Core
//! §3.1.2.1) on arbitrary bytes: the same `parse_parameters` → `client_id_param` →
//! `validate_authorization_request` path the handler runs, then the redirect it would build.
//! Nothing may panic, and an accepted request must only ever redirect to a registered URI.
#![no_main]

use std::sync::LazyLock;

use chrono::DateTime;
use ferrid::config::Issuer;
use ferrid::oauth::{
    Client, ClientId, ClientMetadata, ClientType, RedirectUri, build_redirect, client_id_param, parse_parameters,
    success_params, validate_authorization_request,
};
use libfuzzer_sys::fuzz_target;

const REDIRECTS: [&str; 3] = ["https://app.example/cb", "https://app.example:8443/cb2?tenant=1", "com.example.app:/cb"];

fn client(id: &str, client_type: ClientType) -> Client {
    let mut metadata = ClientMetadata::new("fuzz", client_type);
    metadata.redirect_uris = REDIRECTS.iter().filter_map(|uri| RedirectUri::parse(uri).ok()).collect();
    let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    Client {
        id: ClientId::parse(id).unwrap_or_else(|| unreachable!("a valid client id")),
        secret_digest: None,
        registration_token_digest: None,
        metadata,
        created_at: at,
        updated_at: at,
    }
}

static CLIENTS: LazyLock<[Client; 2]> =
    LazyLock::new(|| [client("client-1", ClientType::Confidential), client("spa", ClientType::Public)]);
static ISSUER: LazyLock<Issuer> =
    LazyLock::new(|| Issuer::parse("https://id.example").unwrap_or_else(|_| unreachable!("a valid issuer")));

fuzz_target!(|data: &[u8]| {
    let params = parse_parameters(data);
    let Ok(client_id) = client_id_param(&params) else { return };
    let Some(client) = CLIENTS.iter().find(|c| c.id == client_id) else { return };
    match validate_authorization_request(&params, client) {
        Ok(request) => {
            assert!(REDIRECTS.contains(&request.redirect_uri.as_str()), "redirect to an unregistered URI");
            let location =
                build_redirect(&request.redirect_uri, &success_params("code", request.state.as_deref(), &ISSUER));
            assert!(location.starts_with(request.redirect_uri.as_str()));
            assert!(!location.contains(['\r', '\n']), "header injection through the Location");
        }
        Err(error) => {
            if let Some(redirect) = &error.redirect {
                assert!(REDIRECTS.contains(&redirect.redirect_uri.as_str()), "error sent to an unregistered URI");
                let location = build_redirect(&redirect.redirect_uri, &error.error_response_params(&ISSUER));
                assert!(!location.contains(['\r', '\n']), "header injection through the Location");
            }
        }
    }
});
