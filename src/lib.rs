//! ferrid: a standalone OAuth 2.0 / OpenID Connect provider.
//!
//! Dependencies point one way: `http` → domain (`oauth`, `accounts`, `federation`) → `store` / `keys`.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod branding;
pub mod cli;
pub mod clock;
pub mod config;
pub mod federation;
pub mod forwarded;
pub mod http;
pub mod keyring;
pub mod locale;
pub mod loopback;
pub mod mail;
pub mod maintenance;
pub mod metrics;
pub mod oauth;
pub mod ratelimit;
pub mod store;
pub mod telemetry;
pub mod ttl_cache;
