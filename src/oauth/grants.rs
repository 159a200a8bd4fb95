//! The token endpoint's grants (RFC 6749 §4.1.3, §4.4, §6), each read as the RFC's steps: consume
//! the code or refresh token, check it belongs to this client, check PKCE, then mint tokens.

use keys::OpaqueSecret;
use serde_json::{Map, Value, json};

use super::{
    Client, ClientId, ClientType, GrantType, TokenEndpointAuthMethod, admin,
    claims::user_claims,
    code::{RedeemedCode, remember_redeemed, take_code, take_redeemed},
    dpop::{DpopProof, TOKEN_TYPE as DPOP_TOKEN_TYPE},
    error::OAuthError,
    pkce::{CodeChallenge, CodeVerifier, verify_pkce},
    refresh_token::{FamilyId, RefreshGrant, RefreshLifetimes, ReuseWatch, issue_refresh_token, rotate_refresh_token},
    resource::Resource,
    revocation::{deny_access_token, revoke_family},
    scope::Scope,
    session::{OpSession, RequestOrigin},
    tokens::{AccessTokenClaims, Authentication, IssuedAccessToken, issue_access_token, issue_id_token},
};
use crate::{
    accounts::{User, UserId},
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
    metrics::IssuedToken,
};

/// A token request after parsing (STYLE: one variant per grant, no bag of options).
#[derive(Debug)]
pub enum TokenRequest {
    AuthorizationCode {
        code: OpaqueSecret,
        redirect_uri: String,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: OpaqueSecret,
        scope: Option<Scope>,
    },
    /// RFC 6749 §4.4.2, with RFC 8707 §2 resource indicators.
    ClientCredentials {
        scope: Option<Scope>,
        resources: Vec<Resource>,
    },
}

/// The successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug)]
pub struct TokenResponse {
    pub access_token: String,
    /// `Bearer`, or `DPoP` for a token bound to the proof's key (RFC 9449 §5).
    pub token_type: &'static str,
    pub expires_in: i64,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: String,
    /// The user the tokens are for (none for `client_credentials`); for the audit log, not sent.
    pub user: Option<UserId>,
}

/// Redeems `request` for `client`, which has already authenticated. With a checked DPoP
/// `proof`, the access token is bound to the proof's key (RFC 9449 §5); a client registered with
/// `dpop_bound_access_tokens` must send one (§5.2).
pub async fn exchange(
    state: &AppState,
    client: &Client,
    request: TokenRequest,
    origin: &RequestOrigin,
    proof: Option<&DpopProof>,
) -> Result<TokenResponse, OAuthError> {
    if client.metadata.dpop_bound_access_tokens && proof.is_none() {
        return Err(OAuthError::InvalidDpopProof("this client must send a DPoP proof".into()));
    }
    let jkt = proof.map(|p| p.jkt.as_str());
    let grant_type = request.grant_type();
    let result = match request {
        TokenRequest::AuthorizationCode { code, redirect_uri, code_verifier } => {
            redeem_code(state, client, code, &redirect_uri, code_verifier.as_deref(), origin, jkt).await
        }
        TokenRequest::RefreshToken { refresh_token, scope } => {
            refresh(state, client, refresh_token, scope, origin, jkt).await
        }
        TokenRequest::ClientCredentials { scope, resources } => {
            client_credentials(state, client, scope, &resources, jkt).await
        }
    };
    record_issue(state, client, grant_type.as_str(), origin, &result).await;
    let response = result?;
    count_issued(state, grant_type, &response);
    Ok(response)
}

/// A failed client authentication at /token (RFC 6749 §2.3, `invalid_client`): the client id
/// it claimed and the method, never the secret or assertion.
pub async fn record_client_auth_failure(
    state: &AppState,
    claimed: &ClientId,
    method: TokenEndpointAuthMethod,
    origin: &RequestOrigin,
    error: &OAuthError,
) {
    let actor = Actor { user: None, client_id: Some(claimed.as_str().to_owned()), origin: origin.clone() };
    let event = AuditEvent::new(kinds::CLIENT_AUTHENTICATE, &actor)
        .client(claimed.as_str())
        .failed()
        .details(json!({ "method": method.as_str(), "error": error.code() }));
    state.audit.record(event).await;
}

/// Audits a token request's result (`token.issue`): the grant, the user and which tokens were
/// issued — never a token — or the error code it was refused with.
pub async fn record_issue(
    state: &AppState,
    client: &Client,
    grant: &str,
    origin: &RequestOrigin,
    result: &Result<TokenResponse, OAuthError>,
) {
    let actor = Actor { user: None, client_id: Some(client.id.as_str().to_owned()), origin: origin.clone() };
    let mut event = AuditEvent::new(kinds::TOKEN_ISSUE, &actor).client(client.id.as_str());
    let details = match result {
        Ok(response) => {
            event.subject_user = response.user;
            let issued: Vec<&str> = [
                Some("access_token"),
                response.refresh_token.as_ref().map(|_| "refresh_token"),
                response.id_token.as_ref().map(|_| "id_token"),
            ]
            .into_iter()
            .flatten()
            .collect();
            json!({ "grant_type": grant, "issued": issued })
        }
        Err(error) => {
            event = event.failed();
            json!({ "grant_type": grant, "error": error.code() })
        }
    };
    state.audit.record(event.details(details)).await;
}

impl TokenRequest {
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            Self::RefreshToken { .. } => GrantType::RefreshToken,
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
        }
    }
}

/// Counted from the response, the one place that holds every token the client gets.
fn count_issued(state: &AppState, grant_type: GrantType, response: &TokenResponse) {
    state.metrics.token_issued(grant_type, IssuedToken::Access);
    if response.refresh_token.is_some() {
        state.metrics.token_issued(grant_type, IssuedToken::Refresh);
    }
    if response.id_token.is_some() {
        state.metrics.token_issued(grant_type, IssuedToken::Id);
    }
}

fn internal(error: impl std::fmt::Display) -> OAuthError {
    OAuthError::Internal(anyhow::anyhow!("{error}"))
}

fn refresh_lifetimes(state: &AppState, client: &Client) -> RefreshLifetimes {
    let lifetimes = state.lifetimes_for(client);
    RefreshLifetimes { idle: lifetimes.refresh_idle, absolute: lifetimes.refresh_absolute }
}

/// The `token_type` of an access token bound to `jkt`, or not (RFC 9449 §5).
fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() { DPOP_TOKEN_TYPE } else { "Bearer" }
}

/// RFC 9449 §5: a public client's refresh tokens are bound to its DPoP key; a confidential
/// client's are already bound to its credentials.
fn refresh_binding(client: &Client, jkt: Option<&str>) -> Option<String> {
    (client.metadata.client_type == ClientType::Public).then(|| jkt.map(str::to_owned)).flatten()
}

/// RFC 6749 §4.1.3 with RFC 7636 §4.6, and RFC 9449 §10 for a code bound with `dpop_jkt`.
async fn redeem_code(
    state: &AppState,
    client: &Client,
    code: OpaqueSecret,
    redirect_uri: &str,
    code_verifier: Option<&str>,
    origin: &RequestOrigin,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    if !client.metadata.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(OAuthError::UnauthorizedClient("the client may not use authorization_code".into()));
    }
    let store = state.short_lived.as_ref();
    let Some(grant) = take_code(store, &code).await? else {
        // RFC 6749 §4.1.2: a code used twice revokes what the first use produced.
        if let Some(redeemed) = take_redeemed(store, &code).await? {
            revoke_redeemed(state, &redeemed).await?;
            tracing::warn!(client_id = %client.id, "authorization code replayed; its tokens were revoked");
        }
        return Err(OAuthError::InvalidGrant("the code is invalid, expired or already used".into()));
    };
    if grant.client_id != client.id.as_str() {
        return Err(OAuthError::InvalidGrant("the code was issued to another client".into()));
    }
    if grant.redirect_uri != redirect_uri {
        return Err(OAuthError::InvalidGrant("redirect_uri does not match the authorization request".into()));
    }
    match (&grant.code_challenge, code_verifier) {
        (Some(challenge), Some(verifier)) => {
            let challenge = CodeChallenge::parse(challenge, Some("S256")).map_err(internal)?;
            let verifier = CodeVerifier::parse(verifier)
                .map_err(|_| OAuthError::InvalidGrant("code_verifier is malformed".into()))?;
            if !verify_pkce(&verifier, &challenge) {
                return Err(OAuthError::InvalidGrant("code_verifier does not match the code_challenge".into()));
            }
        }
        (Some(_), None) => return Err(OAuthError::InvalidGrant("code_verifier is required".into())),
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge signals an attack.
        (None, Some(_)) => return Err(OAuthError::InvalidGrant("no code_challenge was sent for this code".into())),
        (None, None) => {}
    }
    if let Some(bound) = grant.dpop_jkt.as_deref()
        && jkt != Some(bound)
    {
        return Err(OAuthError::InvalidDpopProof("the DPoP proof is not by the key dpop_jkt named".into()));
    }
    let user = active_user(state, UserId(grant.user_id)).await?;
    let scope = Scope::parse(&grant.scope).map_err(internal)?;
    let authentication = Authentication {
        auth_time: grant.auth_time,
        amr: &grant.amr,
        sid: Some(&grant.sid),
        nonce: grant.nonce.as_deref(),
    };
    let opens_family =
        scope.contains("offline_access") && client.metadata.grant_types.contains(&GrantType::RefreshToken);
    let family = opens_family.then(FamilyId::generate);
    let mut response =
        mint(state, client, &user, &scope, &authentication, jkt, family.as_ref(), IdToken::ForOpenId).await?;

    let mut refresh_family = None;
    if let Some(family) = family {
        let refresh_grant = RefreshGrant {
            client_id: client.id.clone(),
            user_id: user.id,
            scope: scope.clone(),
            sid: Some(grant.sid.clone()),
            auth_time: grant.auth_time,
            amr: grant.amr.clone(),
            dpop_jkt: refresh_binding(client, jkt),
        };
        let token = open_refresh_family(state, client, &family, refresh_grant, origin).await?;
        refresh_family = Some(family.as_str().to_owned());
        response.refresh_token = Some(token);
    }
    remember_redeemed(
        store,
        &code,
        &RedeemedCode {
            refresh_family,
            access_token_jti: response.access.jti.clone(),
            access_token_expires_at: response.access.expires_at,
        },
    )
    .await?;
    Ok(response.into_response())
}

/// Starts the refresh `family` for `grant` (the access token issued with it already names the
/// family, so revoking the family revokes that token too); returns the refresh token.
async fn open_refresh_family(
    state: &AppState,
    client: &Client,
    family: &FamilyId,
    grant: RefreshGrant,
    origin: &RequestOrigin,
) -> Result<String, OAuthError> {
    let now = state.clock.now();
    let lifetimes = refresh_lifetimes(state, client);
    let (token, record) = issue_refresh_token(family.clone(), grant, now, lifetimes, origin.clone());
    state.refresh_tokens.insert(&record).await?;
    Ok(token.expose().to_owned())
}

/// Tokens for a user who has just signed in through one of ferrid's own applications, with no
/// authorization code in between (the first-party login API): an access token for `scope` and a
/// refresh family bound to `session`, exactly as a code redemption with `offline_access` makes
/// them, so refresh, rotation, reuse detection and revocation treat both alike.
pub async fn issue_to_session(
    state: &AppState,
    client: &Client,
    user: &User,
    scope: &Scope,
    session: &OpSession,
    origin: &RequestOrigin,
) -> Result<TokenResponse, OAuthError> {
    let subject = user.id.to_string();
    let family = FamilyId::generate();
    let claims = AccessTokenClaims {
        subject: &subject,
        scope,
        audience: &[],
        auth_time: Some(session.auth_time),
        sid: Some(&session.sid),
        jkt: None,
        family: Some(&family),
    };
    let access = issue_access(state, client, &claims).await?;
    let grant = RefreshGrant {
        client_id: client.id.clone(),
        user_id: user.id,
        scope: scope.clone(),
        sid: Some(session.sid.clone()),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        dpop_jkt: None,
    };
    let refresh_token = open_refresh_family(state, client, &family, grant, origin).await?;
    Ok(TokenResponse {
        expires_in: (access.expires_at - state.clock.now()).num_seconds(),
        access_token: access.token,
        token_type: token_type(None),
        id_token: None,
        refresh_token: Some(refresh_token),
        scope: scope.to_string(),
        user: Some(user.id),
    })
}

async fn revoke_redeemed(state: &AppState, redeemed: &RedeemedCode) -> Result<(), OAuthError> {
    let now = state.clock.now();
    if let Some(family) = &redeemed.refresh_family {
        let family = FamilyId::from_stored(family.as_str());
        let live_for = state.longest_access_token();
        revoke_family(&state.refresh_tokens, state.short_lived.as_ref(), &family, now, live_for).await?;
    }
    deny_access_token(state.short_lived.as_ref(), &redeemed.access_token_jti, redeemed.access_token_expires_at, now)
        .await?;
    Ok(())
}

/// RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2), a DPoP-bound family
/// refreshed only by its key (RFC 9449 §5), and the client's policy for a refresh from a new
/// network or user agent.
async fn refresh(
    state: &AppState,
    client: &Client,
    presented: OpaqueSecret,
    scope: Option<Scope>,
    origin: &RequestOrigin,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let now = state.clock.now();
    let store = state.short_lived.as_ref();
    let repo = &state.refresh_tokens;
    let lifetimes = refresh_lifetimes(state, client);
    let watch = ReuseWatch {
        metrics: state.metrics.as_ref(),
        audit: &state.audit,
        origin,
        access_tokens_live_for: state.longest_access_token(),
    };
    let rotated = rotate_refresh_token(presented, client, scope, now, repo, store, &watch, lifetimes, jkt).await?;
    super::refresh_origin::apply_policy(state, client, &rotated, origin).await?;
    let grant = &rotated.record.grant;
    let user = active_user(state, grant.user_id).await?;
    let authentication =
        Authentication { auth_time: grant.auth_time, amr: &grant.amr, sid: grant.sid.as_deref(), nonce: None };
    // An administrator who lost the `admin` role keeps the refresh token, but not `ferrid:admin`.
    let access_scope =
        admin::grantable_scope(&state.access_control, user.id, &rotated.access_scope).await.map_err(internal)?;
    // OIDC Core §12.2: the refresh response "might not contain an id_token"; the client chooses.
    let id_token = if client.metadata.id_token_on_refresh { IdToken::ForOpenId } else { IdToken::Omit };
    let family = Some(&rotated.family_id);
    let mut response = mint(state, client, &user, &access_scope, &authentication, jkt, family, id_token).await?;
    response.refresh_token = Some(rotated.token.expose().to_owned());
    Ok(response.into_response())
}

/// RFC 6749 §4.4: a confidential client acting on its own behalf. The token's `sub` is the
/// client (RFC 9068 §2.2); there is no user, so neither an ID token nor a refresh token
/// (§4.4.3), and `openid` / `offline_access` cannot be granted.
#[tracing::instrument(skip_all, fields(client_id = %client.id, grant_type = "client_credentials"))]
async fn client_credentials(
    state: &AppState,
    client: &Client,
    requested: Option<Scope>,
    resources: &[Resource],
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    // RFC 6749 §4.4: "MUST only be used by confidential clients".
    if client.metadata.client_type != ClientType::Confidential
        || !client.metadata.grant_types.contains(&GrantType::ClientCredentials)
    {
        return Err(OAuthError::UnauthorizedClient("the client may not use client_credentials".into()));
    }
    let scope = client_credentials_scope(client, requested)?;
    let audience: Vec<String> = resources.iter().map(|r| r.as_str().to_owned()).collect();
    let now = state.clock.now();
    let claims = AccessTokenClaims {
        subject: client.id.as_str(),
        scope: &scope,
        audience: &audience,
        auth_time: None,
        sid: None,
        jkt,
        family: None,
    };
    let access = issue_access(state, client, &claims).await?;
    Ok(TokenResponse {
        expires_in: (access.expires_at - now).num_seconds(),
        access_token: access.token,
        token_type: token_type(jkt),
        id_token: None,
        refresh_token: None,
        scope: scope.to_string(),
        user: None,
    })
}

/// Scopes that only mean something when a user is present.
const USER_SCOPES: &[&str] = &["openid", "offline_access"];

/// RFC 6749 §3.3 / §4.4.2: the requested scope must lie within the client's allowed scopes minus
/// the user scopes; omitted, it is all of those (the pre-defined default §3.3 permits).
fn client_credentials_scope(client: &Client, requested: Option<Scope>) -> Result<Scope, OAuthError> {
    let allowed: Vec<String> =
        client.metadata.allowed_scopes.iter().filter(|s| !USER_SCOPES.contains(&s.as_str())).cloned().collect();
    let allowed = Scope::from_allowed(&allowed);
    match requested {
        None => Ok(allowed),
        Some(requested) if USER_SCOPES.iter().any(|s| requested.contains(s)) => Err(OAuthError::InvalidScope(
            "openid and offline_access need a user; use the authorization code flow".into(),
        )),
        Some(requested) if requested.is_subset_of(&allowed) => Ok(requested),
        Some(_) => Err(OAuthError::InvalidScope("the requested scope exceeds the client's allowed scopes".into())),
    }
}

async fn active_user(state: &AppState, id: UserId) -> Result<User, OAuthError> {
    match state.accounts.find_recent(id).await {
        Ok(user) if !user.disabled => Ok(user),
        Ok(_) | Err(crate::accounts::AccountError::NotFound) => {
            Err(OAuthError::InvalidGrant("the user is no longer active".into()))
        }
        Err(error) => Err(internal(error)),
    }
}

struct Minted {
    user: UserId,
    access: IssuedAccessToken,
    token_type: &'static str,
    expires_in: i64,
    id_token: Option<String>,
    refresh_token: Option<String>,
    scope: String,
}

impl Minted {
    fn into_response(self) -> TokenResponse {
        TokenResponse {
            access_token: self.access.token,
            token_type: self.token_type,
            expires_in: self.expires_in,
            id_token: self.id_token,
            refresh_token: self.refresh_token,
            scope: self.scope,
            user: Some(self.user),
        }
    }
}

/// Mints an access token and, for formats ferrid must look up, stores its record first, so the
/// token works the moment the client has it (DESIGN §7.5).
async fn issue_access(
    state: &AppState,
    client: &Client,
    claims: &AccessTokenClaims<'_>,
) -> Result<IssuedAccessToken, OAuthError> {
    let lifetime = state.lifetimes_for(client).access_token;
    let published = state.keys.current();
    let access = issue_access_token(&published.ring, &state.config.issuer, client, claims, lifetime, state.clock.now())
        .map_err(internal)?;
    if let Some(reference) = &access.reference {
        state.access_tokens.insert(reference).await?;
    }
    Ok(access)
}

/// Whether [`mint`] adds an ID token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IdToken {
    /// When the scope has `openid` (OIDC Core §3.1.3.3).
    ForOpenId,
    Omit,
}

/// The access token, and for OpenID requests the ID token unless `id_token` omits it.
#[allow(clippy::too_many_arguments)]
async fn mint(
    state: &AppState,
    client: &Client,
    user: &User,
    scope: &Scope,
    authentication: &Authentication<'_>,
    jkt: Option<&str>,
    family: Option<&FamilyId>,
    id_token: IdToken,
) -> Result<Minted, OAuthError> {
    let now = state.clock.now();
    let published = state.keys.current();
    let subject = user.id.to_string();
    let claims = AccessTokenClaims {
        subject: &subject,
        scope,
        audience: &[],
        auth_time: Some(authentication.auth_time),
        sid: authentication.sid,
        jkt,
        family,
    };
    let access = issue_access(state, client, &claims).await?;
    let id_token = if id_token == IdToken::ForOpenId && scope.contains("openid") {
        let authorization = if scope.contains("roles") {
            Some(state.access_control.authorization_of(user.id).await.map_err(internal)?)
        } else {
            None
        };
        let claims: Map<String, Value> = user_claims(user, authorization.as_ref(), scope);
        Some(
            issue_id_token(
                &published.ring,
                &state.config.issuer,
                client,
                claims,
                authentication,
                Some(&access.token),
                state.lifetimes_for(client).id_token,
                now,
            )
            .map_err(internal)?,
        )
    } else {
        None
    };
    Ok(Minted {
        token_type: token_type(jkt),
        user: user.id,
        expires_in: (access.expires_at - now).num_seconds(),
        access,
        id_token,
        refresh_token: None,
        scope: scope.to_string(),
    })
}
