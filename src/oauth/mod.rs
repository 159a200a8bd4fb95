//! OAuth 2.0 / OpenID Connect domain: clients today; grants, tokens and sessions as they land.
//! Nothing here knows about HTTP or SQL.

pub mod client;
pub mod registry;

pub use client::{
    AccessTokenFormat, Client, ClientId, ClientMetadata, ClientType, GrantType, MetadataError, RedirectUri,
    TokenEndpointAuthMethod,
};
pub use registry::{ClientRegistry, RegistryError};
