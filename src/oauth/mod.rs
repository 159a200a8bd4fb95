//! OAuth 2.0 / OpenID Connect domain: clients, scopes, PKCE and authorization requests; grants,
//! tokens and sessions as they land.
//! Nothing here knows about HTTP or SQL.

pub mod access_token;
pub mod admin;
pub mod authorize;
pub mod backchannel_logout;
pub mod claims;
pub mod client;
pub mod client_admin;
pub mod client_assertion;
pub mod client_auth;
pub mod client_jwks;
pub mod code;
pub mod consent;
pub mod discovery;
pub mod dpop;
pub mod email_hint;
pub mod error;
pub mod first_party;
pub mod flow;
pub mod grants;
pub mod interaction;
pub mod introspection;
pub mod lifetimes;
pub mod logout;
pub mod password_reset;
pub mod pending;
pub mod pkce;
pub mod profile;
pub mod refresh_origin;
pub mod refresh_token;
pub mod registration;
pub mod registry;
pub mod resource;
pub mod revocation;
pub mod revoke;
pub mod scope;
pub mod session;
pub mod sign_ins;
pub mod tokens;
pub mod user_admin;
pub mod userinfo;

pub use authorize::{
    AuthorizationRequest, AuthorizeError, AuthorizeErrorKind, ErrorRedirect, Prompt, PromptError, ResponseMode,
    build_redirect, client_id_param, parse_parameters, success_params, validate_authorization_request,
};
pub use claims::{SUPPORTED_CLAIMS, scope_claims, user_claims};
pub use client::{
    AccessTokenFormat, Client, ClientId, ClientMetadata, ClientType, GrantType, MetadataError, RedirectUri,
    RefreshOriginPolicy, TokenEndpointAuthMethod,
};
pub use client_auth::{ClientCredentials, authenticate_client, credentials_from_request, parse_basic_authorization};
pub use error::OAuthError;
pub use lifetimes::{LifetimeOverrides, Lifetimes};
pub use pkce::{CodeChallenge, CodeVerifier, PkceError, verify_pkce};
pub use refresh_token::{
    FamilyId, NewRefreshToken, RefreshGrant, RefreshLifetimes, RefreshTokenRecord, ReuseWatch, RotateOutcome,
    RotatedRefreshToken, RotationTerms, issue_refresh_token, rotate_refresh_token,
};
pub use registry::{ClientRegistry, RegistryError};
pub use scope::{Scope, ScopeError};
