//! The provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414 §2): everything advertised
//! here works — no endpoint, algorithm or method is listed before it is implemented.

use keys::{ContentEncryptionAlg, KeyAlg, KeyEncryptionAlg, SigningAlg};
use serde_json::{Value, json};

use super::{claims::SUPPORTED_CLAIMS, client::KNOWN_SCOPES, registration::RegistrationPolicy};
use crate::config::Config;

pub fn provider_metadata(config: &Config) -> Value {
    let issuer = config.issuer.as_str();
    let signing: Vec<&str> = config
        .key_ring
        .algs
        .iter()
        .filter_map(|alg| match alg {
            KeyAlg::Signing(alg) => Some(alg.as_str()),
            KeyAlg::Encryption(_) => None,
        })
        .collect();
    let key_encryption: Vec<&str> = KeyEncryptionAlg::ALL.iter().map(|alg| alg.as_str()).collect();
    // Client assertions (RFC 7523) may use any algorithm ferrid verifies, whatever it signs with.
    let assertion_algs: Vec<&str> = SigningAlg::ALL.iter().map(|alg| alg.as_str()).collect();
    let content_encryption: Vec<&str> = ContentEncryptionAlg::ALL.iter().map(|enc| enc.as_str()).collect();
    // The user claims of the scopes, plus what every ID token says about the authentication.
    let claims: Vec<&str> = SUPPORTED_CLAIMS
        .iter()
        .copied()
        .chain(["iss", "aud", "azp", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash"])
        .collect();
    debug_assert!(signing.contains(&SigningAlg::RS256.as_str()), "RS256 is mandatory (OIDC Core §15.1)");
    let mut metadata = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "jwks_uri": format!("{issuer}/jwks"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "scopes_supported": KNOWN_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": signing,
        "id_token_encryption_alg_values_supported": key_encryption,
        "id_token_encryption_enc_values_supported": content_encryption,
        "userinfo_signing_alg_values_supported": signing,
        "userinfo_encryption_alg_values_supported": key_encryption,
        "userinfo_encryption_enc_values_supported": content_encryption,
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        // RFC 8414 §2: introspection only for confidential clients (RFC 7662 §4); public clients
        // may revoke their own tokens (RFC 7009 §5).
        "introspection_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "claims_supported": claims,
        "acr_values_supported": super::tokens::ACR_VALUES,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        // OIDC Discovery §3: the languages the login, consent and second-step pages speak.
        "ui_locales_supported": crate::locale::Locale::ALL.map(crate::locale::Locale::tag),
        // Back-Channel Logout 1.0 §2.1: logout tokens always carry `sid` (and `sub`).
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        // RFC 9449 §5.1: every asymmetric algorithm ferrid verifies may sign a DPoP proof.
        "dpop_signing_alg_values_supported": assertion_algs,
    });
    // Advertised only when someone may use it (OIDC Discovery §3 `registration_endpoint`).
    if config.registration != RegistrationPolicy::Off {
        metadata["registration_endpoint"] = json!(format!("{issuer}/register"));
    }
    metadata
}
