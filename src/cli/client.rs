use anyhow::Context;
use clap::Subcommand;

use super::client_tokens::TokenOptions;
use crate::{
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
    oauth::{
        Client, ClientId, ClientMetadata, ClientType, GrantType, RedirectUri, TokenEndpointAuthMethod,
        client::parse_jwks_uri,
    },
};

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is printed once and never again.
    Create {
        #[arg(long)]
        name: String,
        /// A redirect URI (repeatable), matched exactly at /authorize.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A post-logout redirect URI (repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (SPA, mobile, CLI): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// Grant types (repeatable; default authorization_code and refresh_token).
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// Allowed scopes (repeatable; default openid profile email offline_access).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// client_secret_basic (default), client_secret_post or private_key_jwt.
        #[arg(long)]
        auth_method: Option<String>,
        /// Where ferrid fetches the client's public keys (a JWK Set), e.g. for private_key_jwt:
        /// an absolute http(s) URL. Instead of --jwks-file.
        #[arg(long, value_name = "URL", conflicts_with = "jwks_file")]
        jwks_uri: Option<String>,
        /// The operator's own application: its users are not asked to consent.
        #[arg(long)]
        first_party: bool,
        #[command(flatten)]
        tokens: Box<TokenOptions>,
        /// Where Logout Tokens are POSTed when a user's session ends (OIDC Back-Channel Logout
        /// §2.2): https, or http on a loopback host.
        #[arg(long, value_name = "URL")]
        backchannel_logout_uri: Option<String>,
        /// Logout Tokens must carry the session id `sid` (§2.2; ferrid always sends it).
        #[arg(long, requires = "backchannel_logout_uri")]
        backchannel_logout_session_required: bool,
    },
    /// List clients in client_id order.
    List {
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// Start after this client_id (the last one of the previous listing).
        #[arg(long, allow_hyphen_values = true)]
        after: Option<String>,
    },
    /// Show a client's metadata (never its secret).
    Show {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    /// Delete a client.
    Delete {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
}

fn client_id(value: &str) -> anyhow::Result<ClientId> {
    ClientId::parse(value).with_context(|| format!("{value:?} is not a client_id"))
}

fn redirect_uris(values: &[String]) -> anyhow::Result<Vec<RedirectUri>> {
    values.iter().map(|v| RedirectUri::parse(v).map_err(anyhow::Error::from)).collect()
}

pub async fn run(command: ClientCommand, state: AppState) -> anyhow::Result<()> {
    let registry = &state.clients;
    match command {
        ClientCommand::Create {
            name,
            redirect_uris: redirects,
            post_logout_redirect_uris,
            public,
            grant_types,
            scopes,
            auth_method,
            jwks_uri,
            first_party,
            tokens,
            backchannel_logout_uri,
            backchannel_logout_session_required,
        } => {
            let client_type = if public { ClientType::Public } else { ClientType::Confidential };
            let mut metadata = ClientMetadata::new(name, client_type);
            metadata.first_party = first_party;
            metadata.redirect_uris = redirect_uris(&redirects)?;
            metadata.post_logout_redirect_uris = redirect_uris(&post_logout_redirect_uris)?;
            if !grant_types.is_empty() {
                metadata.grant_types = grant_types
                    .iter()
                    .map(|g| g.parse::<GrantType>())
                    .collect::<Result<_, _>>()
                    .map_err(anyhow::Error::msg)?;
            }
            if !scopes.is_empty() {
                metadata.allowed_scopes = scopes;
            }
            if let Some(uri) = backchannel_logout_uri {
                metadata.backchannel_logout_uri =
                    Some(url::Url::parse(&uri).with_context(|| format!("--backchannel-logout-uri {uri:?}"))?);
            }
            metadata.backchannel_logout_session_required = backchannel_logout_session_required;
            if let Some(method) = auth_method {
                metadata.token_endpoint_auth_method =
                    method.parse::<TokenEndpointAuthMethod>().map_err(anyhow::Error::msg)?;
            }
            metadata.jwks_uri = jwks_uri.as_deref().map(parse_jwks_uri).transpose()?;
            (*tokens).apply(&mut metadata)?;
            let (client, secret) = registry.register(metadata).await?;
            let event = AuditEvent::new(kinds::ADMIN_CLIENT_CREATE, &Actor::system()).client(client.id.as_str());
            super::audit(&state, event).await;
            print_client(&client);
            if let Some(secret) = secret {
                println!("client_secret: {}", secret.expose());
                eprintln!("Store the client_secret now: ferrid keeps only its digest and cannot show it again.");
            }
        }
        ClientCommand::List { limit, after } => {
            let after = after.as_deref().map(client_id).transpose()?;
            for client in registry.list_after(after.as_ref(), limit).await? {
                println!("{}  {:12}  {}", client.id, client.metadata.client_type, client.metadata.name);
            }
        }
        ClientCommand::Show { client_id: id } => print_client(&registry.find(&client_id(&id)?).await?),
        ClientCommand::Delete { client_id: id } => {
            registry.delete(&client_id(&id)?).await?;
            super::audit(&state, AuditEvent::new(kinds::ADMIN_CLIENT_DELETE, &Actor::system()).client(id.as_str()))
                .await;
            println!("deleted {id}");
        }
    }
    Ok(())
}

fn print_client(client: &Client) {
    let m = &client.metadata;
    let join = |values: Vec<&str>| values.join(" ");
    println!("client_id: {}", client.id);
    println!("client_name: {}", m.name);
    println!("client_type: {}", m.client_type);
    println!("token_endpoint_auth_method: {}", m.token_endpoint_auth_method);
    println!("jwks_uri: {}", m.jwks_uri.as_ref().map_or("", url::Url::as_str));
    println!("redirect_uris: {}", join(m.redirect_uris.iter().map(RedirectUri::as_str).collect()));
    println!(
        "post_logout_redirect_uris: {}",
        join(m.post_logout_redirect_uris.iter().map(RedirectUri::as_str).collect())
    );
    println!("grant_types: {}", join(m.grant_types.iter().map(|g| g.as_str()).collect()));
    println!("scope: {}", m.allowed_scopes.join(" "));
    println!("require_pkce: {}", m.require_pkce);
    println!("first_party: {}", m.first_party);
    println!("id_token_signed_response_alg: {}", m.id_token_signed_response_alg);
    println!("access_token_format: {}", m.access_token_format);
    if let Some(alg) = &m.access_token_encrypted_response_alg {
        println!("access_token_encrypted_response_alg: {alg}");
    }
    for (name, secs) in m.lifetimes.named() {
        println!("{name}: {}", secs.map_or_else(|| "default".to_owned(), |secs| format!("{secs}s")));
    }
    println!("refresh_token_reuse_grace: {}s", m.refresh_token_reuse_grace_secs);
    println!("refresh_origin_policy: {}", m.refresh_origin_policy);
    println!("dpop_bound_access_tokens: {}", m.dpop_bound_access_tokens);
    println!("id_token_on_refresh: {}", m.id_token_on_refresh);
    println!("backchannel_logout_uri: {}", m.backchannel_logout_uri.as_ref().map_or("", url::Url::as_str));
    println!("backchannel_logout_session_required: {}", m.backchannel_logout_session_required);
    println!("created_at: {}", client.created_at.to_rfc3339());
}
