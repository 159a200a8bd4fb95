//! `ferrid client create` options for the tokens a client receives: format, encryption, lifetimes,
//! rotation, DPoP and the suspicious-refresh policy.

use anyhow::Context;
use clap::Args;

use crate::oauth::{ClientMetadata, client::AccessTokenFormat};

#[derive(Args, Debug, Default)]
pub struct TokenOptions {
    /// Access token format: jwt (RFC 9068, default), jwe (signed, then encrypted to the key in
    /// --jwks-file) or opaque (looked up at introspection).
    #[arg(long)]
    access_token_format: Option<String>,
    /// Key-management algorithm for jwe access tokens, e.g. RSA-OAEP-256 or ECDH-ES+A256KW.
    #[arg(long)]
    access_token_encryption_alg: Option<String>,
    /// Content encryption for jwe access tokens (default A128CBC-HS256).
    #[arg(long)]
    access_token_encryption_enc: Option<String>,
    /// A JSON Web Key Set file with the client's (or its resource server's) public keys.
    #[arg(long)]
    jwks_file: Option<std::path::PathBuf>,
    /// Access token lifetime in seconds (default: FERRID_ACCESS_TOKEN_LIFETIME_SECS).
    #[arg(long)]
    access_token_lifetime: Option<u32>,
    /// ID token lifetime in seconds (default: FERRID_ID_TOKEN_LIFETIME_SECS).
    #[arg(long)]
    id_token_lifetime: Option<u32>,
    /// Refresh token idle lifetime in seconds (default: FERRID_REFRESH_TOKEN_IDLE_SECS).
    #[arg(long)]
    refresh_token_idle_lifetime: Option<u32>,
    /// Refresh token absolute lifetime in seconds (default: FERRID_REFRESH_TOKEN_LIFETIME_SECS).
    #[arg(long)]
    refresh_token_lifetime: Option<u32>,
    /// Authorization code lifetime in seconds, at most 600 (default: FERRID_CODE_LIFETIME_SECS).
    #[arg(long)]
    code_lifetime: Option<u32>,
    /// Seconds a rotated refresh token stays usable (0, the default, is strict rotation).
    /// WEAKER: a stolen refresh token used within the window is not detected.
    #[arg(long)]
    refresh_token_reuse_grace: Option<u32>,
    /// Every token request must carry a DPoP proof (RFC 9449 §5.2), so every access token is
    /// bound to the client's key.
    #[arg(long)]
    dpop_bound_access_tokens: bool,
    /// What a refresh from a new network or user agent leads to besides an audit record: allow
    /// (default), notify (mail the user) or reauthenticate (refuse it, revoke the grant).
    #[arg(long)]
    refresh_origin_policy: Option<String>,
    /// Whether a refresh re-issues the ID token (default true; OIDC Core §12.2 allows omitting
    /// it, which saves a signature per refresh for clients that keep the first ID token).
    #[arg(long)]
    id_token_on_refresh: Option<bool>,
}

impl TokenOptions {
    /// Applies the options to `metadata`; [`ClientMetadata::validate`] judges the result.
    pub fn apply(self, metadata: &mut ClientMetadata) -> anyhow::Result<()> {
        if let Some(format) = self.access_token_format {
            metadata.access_token_format = format.parse::<AccessTokenFormat>().map_err(anyhow::Error::msg)?;
        }
        metadata.access_token_encrypted_response_alg = self.access_token_encryption_alg;
        metadata.access_token_encrypted_response_enc = self.access_token_encryption_enc;
        if let Some(path) = self.jwks_file {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let jwks: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
            keys::Jwks::from_json(&text).with_context(|| format!("{} is not a JWK Set", path.display()))?;
            metadata.jwks = Some(jwks);
        }
        let lifetimes = &mut metadata.lifetimes;
        lifetimes.access_token = self.access_token_lifetime;
        lifetimes.id_token = self.id_token_lifetime;
        lifetimes.refresh_idle = self.refresh_token_idle_lifetime;
        lifetimes.refresh_absolute = self.refresh_token_lifetime;
        lifetimes.code = self.code_lifetime;
        if let Some(grace) = self.refresh_token_reuse_grace {
            metadata.refresh_token_reuse_grace_secs = grace;
        }
        metadata.dpop_bound_access_tokens |= self.dpop_bound_access_tokens;
        if let Some(policy) = self.refresh_origin_policy {
            metadata.refresh_origin_policy = policy.parse().map_err(anyhow::Error::msg)?;
        }
        if let Some(id_token_on_refresh) = self.id_token_on_refresh {
            metadata.id_token_on_refresh = id_token_on_refresh;
        }
        Ok(())
    }
}
