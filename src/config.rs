//! ferrid's configuration: read once in `main` from a `.env` file, an optional TOML file
//! (`FERRID_CONFIG`) and `FERRID_*` environment variables (later sources win), then validated
//! into typed values. An invalid value stops start-up with one line naming the variable.

use std::{
    collections::BTreeMap,
    fmt,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use keys::{KeyAlg, KeyEncryptionAlg, SigningAlg};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::{
    branding::{Branding, Logo, Rgb},
    federation::{ClaimMapping, GOOGLE_ISSUER, RawUpstream, UpstreamConfig},
    loopback::has_loopback_host,
    oauth::{
        lifetimes::{Lifetimes, MAX_CODE_LIFETIME_SECS},
        registration::RegistrationPolicy,
    },
};
use keys::OpaqueSecret;

/// The validated configuration, passed to everything that needs it (never a global).
#[derive(Clone, Debug)]
pub struct Config {
    pub issuer: Issuer,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Sensitive,
    pub redis_url: Option<Sensitive>,
    /// Prepended to every Redis key, so deployments (or test runs) can share one Redis.
    pub redis_prefix: String,
    pub smtp_url: Option<Sensitive>,
    /// `FERRID_MAIL_FROM`: the sender of every mail (default `<brand name> <no-reply@<issuer host>>`).
    pub mail_from: lettre::message::Mailbox,
    /// `FERRID_MAIL_MAX_ATTEMPTS`: delivery attempts before a mail is given up (default 8).
    pub mail_max_attempts: u32,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub password_hashing: PasswordHashing,
    pub shutdown_grace: Duration,
    pub database_max_connections: u32,
    pub key_ring: KeyRingSettings,
    /// Token and code lifetimes for clients that do not set their own.
    pub lifetimes: Lifetimes,
    /// Who may register clients at `/register` (RFC 7591).
    pub registration: RegistrationPolicy,
    /// `FERRID_JWKS_URI_ALLOW_PRIVATE`: whether clients' `jwks_uri` may point at private,
    /// loopback or link-local addresses (and use plain http) — for development only.
    pub jwks_uri_allow_private: bool,
    /// The first administrator, created on a database without users.
    pub bootstrap_admin: Option<BootstrapAdmin>,
    /// `FERRID_AUDIT_RETENTION_DAYS`: audit records older than this are swept (default 365).
    pub audit_retention: chrono::Duration,
    /// `FERRID_ALLOW_UNVERIFIED_LOGIN`: whether users who have not verified their email address
    /// may sign in (default false).
    pub allow_unverified_login: bool,
    /// `FERRID_FIRST_PARTY_ORIGINS`: web origins (besides the issuer's) of the first-party app
    /// allowed to call the cookie-authenticated `/api/auth` endpoints; the first is also where
    /// mails send people to sign in.
    pub first_party_origins: Vec<String>,
    /// `FERRID_DPOP_PROOF_WINDOW_SECS` and `FERRID_DPOP_NONCE`: how DPoP proofs are judged.
    pub dpop: crate::oauth::dpop::DpopSettings,
    /// Upstream OpenID Connect providers users may sign in with: the Google preset
    /// (`FERRID_GOOGLE_*`) and the list in `FERRID_UPSTREAMS`.
    pub upstreams: Vec<UpstreamConfig>,
    /// `FERRID_UPSTREAM_TIMEOUT_SECS`: the longest any call to an upstream provider may take
    /// (default 10).
    pub upstream_timeout: Duration,
    /// `FERRID_RATE_LIMITS`: per-scope overrides of the default rate limits, e.g.
    /// `login_ip=20/1m,register_ip=10/1h` (see `ratelimit::Scope`).
    pub rate_limits: crate::ratelimit::RateLimits,
    /// `FERRID_CORS_ORIGINS`: web origins allowed to call the protocol endpoints and the
    /// bearer-token first-party API from a browser, besides the origins of registered clients'
    /// redirect URIs.
    pub cors_origins: Vec<String>,
    /// `FERRID_ADMIN_CORS_ORIGINS`: web origins allowed to call `/api/admin` from a browser (none
    /// by default).
    pub admin_cors_origins: Vec<String>,
    /// `FERRID_REQUEST_TIMEOUT_SECS`: a request (reading its body included) that takes longer is
    /// answered 503 (default 30).
    pub request_timeout: Duration,
    /// `FERRID_IDLE_TIMEOUT_SECS`: a connection that sends nothing for this long is closed, which
    /// also bounds how long a client may take to send its headers (default 30).
    pub idle_timeout: Duration,
    /// `FERRID_TRUSTED_PROXIES` and `FERRID_FORWARDED_HEADER`: the reverse proxies whose
    /// forwarding header names the client's address (none by default).
    pub trusted_proxies: crate::forwarded::TrustedProxies,
    /// `FERRID_BRAND_NAME`, `FERRID_BRAND_LOGO_URL`, `FERRID_BRAND_COLOR`: how the pages present
    /// the product.
    pub brand: Branding,
}

/// `FERRID_ADMIN_EMAIL` + `FERRID_ADMIN_PASSWORD`.
#[derive(Clone, Debug)]
pub struct BootstrapAdmin {
    pub email: crate::accounts::Email,
    pub password: Sensitive,
}

/// How the key ring is protected and rotated (DESIGN §6, §7.6).
#[derive(Clone, Debug)]
pub struct KeyRingSettings {
    /// `FERRID_KEK`; when absent the embedded default keeps a generated KEK in the data folder.
    pub kek: Option<Sensitive>,
    /// Algorithms that always have an active key.
    pub algs: Vec<KeyAlg>,
    pub rotate_every: Duration,
    /// How long a new key is published before it signs; never shorter than `jwks_max_age`.
    pub publish_ahead: Duration,
    /// How long a retired key stays published: the longest lifetime of a token it signed.
    pub retain_retired: Duration,
    /// How often every node re-reads the ring (and rotates when due).
    pub refresh_every: Duration,
    /// `Cache-Control: max-age` of /jwks.
    pub jwks_max_age: Duration,
}

/// The issuer identifier (OIDC Core §2, `iss`): an absolute https URL — or http on a loopback
/// host for development — without query or fragment, kept without a trailing slash so that
/// `{issuer}/path` joins cleanly and `iss` compares exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(value: &str) -> Result<Self, String> {
        let url = Url::parse(value).map_err(|_| "must be an absolute URL".to_owned())?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or fragment".to_owned());
        }
        match url.scheme() {
            "https" => {}
            "http" if has_loopback_host(&url) => {}
            "http" => return Err("must use https unless the host is loopback".to_owned()),
            _ => return Err("must be an http(s) URL".to_owned()),
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// A development issuer on this machine (`Issuer::parse` allows http only there).
    pub fn is_loopback(&self) -> bool {
        Url::parse(&self.0).is_ok_and(|url| has_loopback_host(&url))
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value that may carry credentials (a database URL with a password): never printed.
#[derive(Clone)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// argon2id cost parameters (defaults: OWASP's m=19 MiB, t=2, p=1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordHashing {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

/// The configuration as read, before validation: every field is text so that a bad value is
/// reported by our own validation, which names the variable.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RawConfig {
    pub issuer: Option<String>,
    pub bind: Option<String>,
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    pub redis_prefix: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub mail_max_attempts: Option<String>,
    pub log_format: Option<String>,
    pub log: Option<String>,
    pub argon2_memory_kib: Option<String>,
    pub argon2_iterations: Option<String>,
    pub argon2_parallelism: Option<String>,
    pub shutdown_grace_secs: Option<String>,
    pub database_max_connections: Option<String>,
    pub kek: Option<String>,
    pub key_algs: Option<String>,
    pub key_rotation_days: Option<String>,
    pub key_publish_ahead_secs: Option<String>,
    pub key_retain_retired_secs: Option<String>,
    pub key_refresh_secs: Option<String>,
    pub jwks_max_age_secs: Option<String>,
    pub access_token_lifetime_secs: Option<String>,
    pub id_token_lifetime_secs: Option<String>,
    pub refresh_token_idle_secs: Option<String>,
    pub refresh_token_lifetime_secs: Option<String>,
    pub code_lifetime_secs: Option<String>,
    pub registration: Option<String>,
    pub registration_token: Option<String>,
    pub jwks_uri_allow_private: Option<String>,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    pub audit_retention_days: Option<String>,
    pub allow_unverified_login: Option<String>,
    pub first_party_origins: Option<String>,
    pub dpop_proof_window_secs: Option<String>,
    pub dpop_nonce: Option<String>,
    pub google_client_id: Option<String>,
    pub google_client_secret: Option<String>,
    pub google_issuer: Option<String>,
    pub google_audiences: Option<String>,
    pub google_link_by_email: Option<String>,
    pub upstreams: Option<String>,
    pub upstream_timeout_secs: Option<String>,
    pub rate_limits: Option<String>,
    pub cors_origins: Option<String>,
    pub admin_cors_origins: Option<String>,
    pub request_timeout_secs: Option<String>,
    pub idle_timeout_secs: Option<String>,
    pub trusted_proxies: Option<String>,
    pub forwarded_header: Option<String>,
    pub brand_name: Option<String>,
    pub brand_logo_url: Option<String>,
    pub brand_color: Option<String>,
}

/// A configuration error: the variable and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("FERRID_{variable}: {problem}")]
    Invalid { variable: &'static str, problem: String },
    #[error("configuration could not be read: {0}")]
    Unreadable(String),
}

impl Config {
    /// Reads `.env` (if present), `FERRID_CONFIG` (if set) and the `FERRID_*` variables.
    pub fn load() -> Result<Self, ConfigError> {
        // `.env` fills only variables that are not already set; a missing file is normal.
        let _ = dotenvy::dotenv();
        let mut figment = Figment::new();
        if let Ok(path) = std::env::var("FERRID_CONFIG") {
            if !Path::new(&path).is_file() {
                return Err(ConfigError::Invalid { variable: "CONFIG", problem: format!("no such file: {path}") });
            }
            figment = figment.merge(Toml::file(path));
        }
        // Env and TOML values arrive typed (`1` is a number); take every value as text so that
        // our validation, which names the variable, is the one that judges it.
        let values: BTreeMap<String, serde_json::Value> = figment
            .merge(Env::prefixed("FERRID_").only(&RawConfig::KEYS))
            .extract()
            .map_err(|e| ConfigError::Unreadable(e.to_string()))?;
        let text = values.into_iter().filter(|(_, v)| !v.is_null()).map(|(key, value)| match value {
            serde_json::Value::String(text) => (key, text),
            other => (key, other.to_string()),
        });
        let mut text: BTreeMap<String, String> = text.collect();
        // Figment reads env values as TOML-like data, which a JSON list is not: take it verbatim.
        if let Ok(upstreams) = std::env::var("FERRID_UPSTREAMS") {
            text.insert("upstreams".to_owned(), upstreams);
        }
        read_value_files(&mut text, |variable| std::env::var(variable).ok())?;
        RawConfig::from_map(text).validate()
    }
}

/// `FERRID_<NAME>_FILE=/path`: the value of `FERRID_<NAME>` is the file's content, without its
/// trailing newline — how Docker and Kubernetes hand out secrets (the KEK, database, Redis and
/// SMTP URLs, the Google client secret) without putting them in the environment. Setting both
/// forms is refused rather than silently picking one.
fn read_value_files(
    values: &mut BTreeMap<String, String>,
    variable: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for key in RawConfig::KEYS {
        let name = format!("FERRID_{}", key.to_ascii_uppercase());
        let Some(path) = variable(&format!("{name}_FILE")) else { continue };
        if variable(&name).is_some() {
            return Err(ConfigError::Unreadable(format!("set {name} or {name}_FILE, not both")));
        }
        let content = std::fs::read_to_string(&path)
            .map_err(|error| ConfigError::Unreadable(format!("{name}_FILE: cannot read {path}: {error}")))?;
        values.insert(key.to_owned(), content.trim_end_matches(['\r', '\n']).to_owned());
    }
    Ok(())
}

impl RawConfig {
    const KEYS: [&'static str; 55] = [
        "issuer",
        "bind",
        "data_dir",
        "database_url",
        "redis_url",
        "redis_prefix",
        "smtp_url",
        "mail_from",
        "mail_max_attempts",
        "log_format",
        "log",
        "argon2_memory_kib",
        "argon2_iterations",
        "argon2_parallelism",
        "shutdown_grace_secs",
        "database_max_connections",
        "kek",
        "key_algs",
        "key_rotation_days",
        "key_publish_ahead_secs",
        "key_retain_retired_secs",
        "key_refresh_secs",
        "jwks_max_age_secs",
        "access_token_lifetime_secs",
        "id_token_lifetime_secs",
        "refresh_token_idle_secs",
        "refresh_token_lifetime_secs",
        "code_lifetime_secs",
        "registration",
        "registration_token",
        "admin_email",
        "admin_password",
        "jwks_uri_allow_private",
        "audit_retention_days",
        "allow_unverified_login",
        "first_party_origins",
        "dpop_proof_window_secs",
        "dpop_nonce",
        "google_client_id",
        "google_client_secret",
        "google_issuer",
        "google_audiences",
        "google_link_by_email",
        "upstreams",
        "upstream_timeout_secs",
        "rate_limits",
        "cors_origins",
        "admin_cors_origins",
        "request_timeout_secs",
        "idle_timeout_secs",
        "trusted_proxies",
        "forwarded_header",
        "brand_name",
        "brand_logo_url",
        "brand_color",
    ];

    /// Builds a raw configuration from `(VARIABLE, value)` pairs without touching the process
    /// environment (for tests and embedding).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self::from_map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.trim_start_matches("FERRID_").to_ascii_lowercase(), v.to_owned()))
                .collect(),
        )
    }

    fn from_map(map: BTreeMap<String, String>) -> Self {
        serde_json::to_value(map).and_then(serde_json::from_value).unwrap_or_default()
    }

    pub fn validate(self) -> Result<Config, ConfigError> {
        let brand = self.branding()?;
        let key_ring = self.key_ring_settings()?;
        let lifetimes = self.lifetimes()?;
        let longest_signed = lifetimes.access_token.max(lifetimes.id_token);
        if key_ring.retain_retired.as_secs() < longest_signed.num_seconds().unsigned_abs() {
            return Err(invalid(
                "KEY_RETAIN_RETIRED_SECS",
                "must be at least the access and ID token lifetimes, so retired keys verify every token they signed",
            ));
        }
        let issuer = Issuer::parse(self.issuer.as_deref().unwrap_or("http://localhost:8080"))
            .map_err(|problem| invalid("ISSUER", problem))?;
        let registration = self.registration_policy(&issuer)?;
        let bootstrap_admin = self.bootstrap_admin()?;
        let upstreams = self.upstreams()?;
        let upstream_timeout = Duration::from_secs(
            number("UPSTREAM_TIMEOUT_SECS", self.upstream_timeout_secs.clone(), 10, 1..=120)?.into(),
        );
        let bind =
            parse_bind(self.bind.as_deref().unwrap_or("127.0.0.1:8080")).map_err(|problem| invalid("BIND", problem))?;
        let data_dir = PathBuf::from(self.data_dir.as_deref().unwrap_or("./data"));
        let database_url = match self.database_url.filter(|v| !v.is_empty()) {
            Some(url) => validate_database_url(&url).map(|()| url),
            None => Ok(format!("sqlite://{}?mode=rwc", data_dir.join("ferrid.db").display())),
        }
        .map_err(|problem| invalid("DATABASE_URL", problem))?;
        let redis_url =
            optional_url(self.redis_url, &["redis", "rediss"]).map_err(|problem| invalid("REDIS_URL", problem))?;
        let smtp_url =
            optional_url(self.smtp_url, &["smtp", "smtps"]).map_err(|problem| invalid("SMTP_URL", problem))?;
        let mail_from = mail_from(self.mail_from.as_deref(), &issuer, &brand.name)
            .map_err(|problem| invalid("MAIL_FROM", problem))?;
        let mail_max_attempts = number("MAIL_MAX_ATTEMPTS", self.mail_max_attempts, 8, 1..=100)?;
        let log_format = match self.log_format.as_deref().unwrap_or("text") {
            "text" | "pretty" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(invalid("LOG_FORMAT", format!("must be text or json, not {other:?}"))),
        };
        let password_hashing = PasswordHashing {
            memory_kib: number("ARGON2_MEMORY_KIB", self.argon2_memory_kib, 19_456, 8..=4_194_304)?,
            iterations: number("ARGON2_ITERATIONS", self.argon2_iterations, 2, 1..=100)?,
            parallelism: number("ARGON2_PARALLELISM", self.argon2_parallelism, 1, 1..=64)?,
        };
        let shutdown_grace =
            Duration::from_secs(number("SHUTDOWN_GRACE_SECS", self.shutdown_grace_secs, 30, 0..=3600)?.into());
        // SQLite has one writer, and each connection is a thread with its own statements and
        // malloc arena (about 2 MiB apiece): four are as fast as ten on the embedded default.
        let default_connections = if database_url.starts_with("sqlite:") { 4 } else { 10 };
        let database_max_connections =
            number("DATABASE_MAX_CONNECTIONS", self.database_max_connections, default_connections, 1..=1000)?;
        let jwks_uri_allow_private = flag("JWKS_URI_ALLOW_PRIVATE", self.jwks_uri_allow_private.as_deref())?;
        let allow_unverified_login = flag("ALLOW_UNVERIFIED_LOGIN", self.allow_unverified_login.as_deref())?;
        let first_party_origins =
            origins(self.first_party_origins.as_deref()).map_err(|problem| invalid("FIRST_PARTY_ORIGINS", problem))?;
        let cors_origins = origins(self.cors_origins.as_deref()).map_err(|problem| invalid("CORS_ORIGINS", problem))?;
        let admin_cors_origins =
            origins(self.admin_cors_origins.as_deref()).map_err(|problem| invalid("ADMIN_CORS_ORIGINS", problem))?;
        let request_timeout =
            Duration::from_secs(number("REQUEST_TIMEOUT_SECS", self.request_timeout_secs, 30, 1..=3600)?.into());
        let idle_timeout =
            Duration::from_secs(number("IDLE_TIMEOUT_SECS", self.idle_timeout_secs, 30, 1..=3600)?.into());
        let forwarded_header = self
            .forwarded_header
            .as_deref()
            .filter(|value| !value.is_empty())
            .map_or(Ok(Default::default()), str::parse)
            .map_err(|problem| invalid("FORWARDED_HEADER", problem))?;
        let trusted_proxies =
            crate::forwarded::TrustedProxies::parse(self.trusted_proxies.as_deref().unwrap_or(""), forwarded_header)
                .map_err(|problem| invalid("TRUSTED_PROXIES", problem))?;
        let audit_retention =
            chrono::Duration::days(number("AUDIT_RETENTION_DAYS", self.audit_retention_days, 365, 1..=36_500)?.into());
        let dpop = crate::oauth::dpop::DpopSettings {
            proof_window: chrono::Duration::seconds(
                number("DPOP_PROOF_WINDOW_SECS", self.dpop_proof_window_secs, 60, 1..=600)?.into(),
            ),
            require_nonce: flag("DPOP_NONCE", self.dpop_nonce.as_deref())?,
        };
        let rate_limits = crate::ratelimit::RateLimits::parse(self.rate_limits.as_deref().unwrap_or_default())
            .map_err(|problem| invalid("RATE_LIMITS", problem))?;
        Ok(Config {
            brand,
            dpop,
            upstreams,
            upstream_timeout,
            rate_limits,
            audit_retention,
            allow_unverified_login,
            first_party_origins,
            cors_origins,
            admin_cors_origins,
            request_timeout,
            idle_timeout,
            trusted_proxies,
            issuer,
            bind,
            data_dir,
            database_url: Sensitive::new(database_url),
            redis_url,
            redis_prefix: self.redis_prefix.unwrap_or_else(|| "ferrid:".to_owned()),
            smtp_url,
            mail_from,
            mail_max_attempts,
            log_format,
            log_filter: self.log.unwrap_or_else(|| "info".to_owned()),
            password_hashing,
            shutdown_grace,
            database_max_connections,
            key_ring,
            registration,
            bootstrap_admin,
            lifetimes,
            jwks_uri_allow_private,
        })
    }

    fn branding(&self) -> Result<Branding, ConfigError> {
        let name = self.brand_name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        let name = name.unwrap_or(crate::branding::DEFAULT_NAME);
        if name.chars().count() > 60 || name.chars().any(char::is_control) {
            return Err(invalid("BRAND_NAME", "must be at most 60 characters, without control characters"));
        }
        let logo = match self.brand_logo_url.as_deref().filter(|v| !v.is_empty()) {
            Some(url) => Some(Logo::parse(url).map_err(|problem| invalid("BRAND_LOGO_URL", problem))?),
            None => None,
        };
        let color = match self.brand_color.as_deref().filter(|v| !v.is_empty()) {
            Some(color) => Rgb::parse(color.trim()).map_err(|problem| invalid("BRAND_COLOR", problem))?,
            None => crate::branding::DEFAULT_COLOR,
        };
        Ok(Branding::new(name.to_owned(), logo, color))
    }

    /// The Google preset (when `FERRID_GOOGLE_CLIENT_ID` and `FERRID_GOOGLE_CLIENT_SECRET` are
    /// set), then the providers of `FERRID_UPSTREAMS` (a JSON array, see [`RawUpstream`]).
    fn upstreams(&self) -> Result<Vec<UpstreamConfig>, ConfigError> {
        let mut upstreams = Vec::new();
        let id = self.google_client_id.clone().filter(|v| !v.is_empty());
        let secret = self.google_client_secret.clone().filter(|v| !v.is_empty());
        match (id, secret) {
            (None, None) => {}
            (Some(client_id), Some(client_secret)) => {
                let issuer = self.google_issuer.as_deref().filter(|v| !v.is_empty()).unwrap_or(GOOGLE_ISSUER);
                let raw = RawUpstream {
                    id: "google".to_owned(),
                    name: "Google".to_owned(),
                    issuer: issuer.to_owned(),
                    client_id,
                    client_secret,
                    scopes: None,
                    claims: ClaimMapping::default(),
                    link_by_email: flag("GOOGLE_LINK_BY_EMAIL", self.google_link_by_email.as_deref().or(Some("true")))?,
                    audiences: self
                        .google_audiences
                        .as_deref()
                        .unwrap_or_default()
                        .split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                        .collect(),
                };
                upstreams.push(raw.validate().map_err(|problem| invalid("GOOGLE_ISSUER", problem))?);
            }
            (Some(_), None) => return Err(invalid("GOOGLE_CLIENT_SECRET", "is required with FERRID_GOOGLE_CLIENT_ID")),
            (None, Some(_)) => return Err(invalid("GOOGLE_CLIENT_ID", "is required with FERRID_GOOGLE_CLIENT_SECRET")),
        }
        if let Some(list) = self.upstreams.as_deref().filter(|v| !v.trim().is_empty()) {
            let raws: Vec<RawUpstream> = serde_json::from_str(list)
                .map_err(|e| invalid("UPSTREAMS", format!("not a JSON list of providers: {e}")))?;
            for raw in raws {
                let upstream = raw.validate().map_err(|problem| invalid("UPSTREAMS", problem))?;
                if upstreams.iter().any(|u: &UpstreamConfig| u.id == upstream.id) {
                    return Err(invalid("UPSTREAMS", format!("provider id {:?} appears twice", upstream.id)));
                }
                upstreams.push(upstream);
            }
        }
        Ok(upstreams)
    }

    /// Both or neither of `FERRID_ADMIN_EMAIL` and `FERRID_ADMIN_PASSWORD`.
    fn bootstrap_admin(&self) -> Result<Option<BootstrapAdmin>, ConfigError> {
        let email = self.admin_email.as_deref().filter(|v| !v.is_empty());
        let password = self.admin_password.as_deref().filter(|v| !v.is_empty());
        match (email, password) {
            (None, None) => Ok(None),
            (Some(email), Some(password)) => {
                let email = crate::accounts::Email::parse(email)
                    .map_err(|_| invalid("ADMIN_EMAIL", "must be an email address"))?;
                if password.chars().count() < 10 {
                    return Err(invalid("ADMIN_PASSWORD", "must be at least 10 characters"));
                }
                Ok(Some(BootstrapAdmin { email, password: Sensitive::new(password) }))
            }
            (Some(_), None) => Err(invalid("ADMIN_PASSWORD", "is required with FERRID_ADMIN_EMAIL")),
            (None, Some(_)) => Err(invalid("ADMIN_EMAIL", "is required with FERRID_ADMIN_PASSWORD")),
        }
    }

    /// `FERRID_REGISTRATION`: `open`, `token` (requires `FERRID_REGISTRATION_TOKEN`) or `off`. By
    /// default: `token` when a token is configured, else `open` for a loopback issuer (a developer's
    /// machine) and `off` otherwise.
    fn registration_policy(&self, issuer: &Issuer) -> Result<RegistrationPolicy, ConfigError> {
        let token = self.registration_token.as_deref().filter(|t| !t.is_empty());
        if token.is_some_and(|t| t.len() < 32) {
            return Err(invalid("REGISTRATION_TOKEN", "must be at least 32 characters"));
        }
        let with_token =
            || token.map(|t| RegistrationPolicy::InitialAccessToken(OpaqueSecret::from_presented(t).digest()));
        match self.registration.as_deref() {
            None if token.is_some() => Ok(with_token().unwrap_or(RegistrationPolicy::Off)),
            None if issuer.is_loopback() => Ok(RegistrationPolicy::Open),
            None | Some("off") => Ok(RegistrationPolicy::Off),
            Some("open") => Ok(RegistrationPolicy::Open),
            Some("token") => {
                with_token().ok_or_else(|| invalid("REGISTRATION", "token needs FERRID_REGISTRATION_TOKEN"))
            }
            Some(other) => Err(invalid("REGISTRATION", format!("must be open, token or off, not {other:?}"))),
        }
    }

    fn lifetimes(&self) -> Result<Lifetimes, ConfigError> {
        let defaults = Lifetimes::default();
        let secs = |variable, value: &Option<String>, default: chrono::Duration, max: u32| {
            let default = u32::try_from(default.num_seconds()).unwrap_or(max);
            number(variable, value.clone(), default, 1..=max).map(|n| chrono::Duration::seconds(n.into()))
        };
        const YEAR: u32 = 365 * 86_400;
        Ok(Lifetimes {
            access_token: secs(
                "ACCESS_TOKEN_LIFETIME_SECS",
                &self.access_token_lifetime_secs,
                defaults.access_token,
                86_400,
            )?,
            id_token: secs("ID_TOKEN_LIFETIME_SECS", &self.id_token_lifetime_secs, defaults.id_token, 86_400)?,
            refresh_idle: secs("REFRESH_TOKEN_IDLE_SECS", &self.refresh_token_idle_secs, defaults.refresh_idle, YEAR)?,
            refresh_absolute: secs(
                "REFRESH_TOKEN_LIFETIME_SECS",
                &self.refresh_token_lifetime_secs,
                defaults.refresh_absolute,
                YEAR,
            )?,
            code: secs("CODE_LIFETIME_SECS", &self.code_lifetime_secs, defaults.code, MAX_CODE_LIFETIME_SECS)?,
        })
    }

    fn key_ring_settings(&self) -> Result<KeyRingSettings, ConfigError> {
        let algs = match self.key_algs.as_deref() {
            None => SigningAlg::ALL
                .into_iter()
                .map(KeyAlg::Signing)
                .chain(KeyEncryptionAlg::ALL.into_iter().map(KeyAlg::Encryption))
                .collect(),
            Some(list) => list
                .split([',', ' '])
                .filter(|alg| !alg.is_empty())
                .map(|alg| {
                    alg.parse::<KeyAlg>().map_err(|_| invalid("KEY_ALGS", format!("unsupported algorithm {alg:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        if !algs.contains(&KeyAlg::Signing(SigningAlg::RS256)) {
            return Err(invalid("KEY_ALGS", "must include RS256, the algorithm every OIDC client accepts"));
        }
        let secs = |variable, value: &Option<String>, default, max| {
            number(variable, value.clone(), default, 1..=max).map(|n| Duration::from_secs(n.into()))
        };
        let settings = KeyRingSettings {
            kek: self.kek.clone().filter(|k| !k.is_empty()).map(Sensitive::new),
            algs,
            rotate_every: Duration::from_secs(
                u64::from(number("KEY_ROTATION_DAYS", self.key_rotation_days.clone(), 30, 1..=3650)?) * 86_400,
            ),
            publish_ahead: secs("KEY_PUBLISH_AHEAD_SECS", &self.key_publish_ahead_secs, 86_400, 30 * 86_400)?,
            retain_retired: secs("KEY_RETAIN_RETIRED_SECS", &self.key_retain_retired_secs, 86_400, 365 * 86_400)?,
            refresh_every: secs("KEY_REFRESH_SECS", &self.key_refresh_secs, 60, 3_600)?,
            jwks_max_age: secs("JWKS_MAX_AGE_SECS", &self.jwks_max_age_secs, 3_600, 86_400)?,
        };
        if settings.publish_ahead < settings.jwks_max_age {
            return Err(invalid(
                "KEY_PUBLISH_AHEAD_SECS",
                "must be at least FERRID_JWKS_MAX_AGE_SECS, so caches hold a key before it signs",
            ));
        }
        if settings.publish_ahead >= settings.rotate_every {
            return Err(invalid("KEY_PUBLISH_AHEAD_SECS", "must be shorter than the rotation period"));
        }
        Ok(settings)
    }
}

/// A `true`/`false` variable, false when unset.
fn flag(variable: &'static str, value: Option<&str>) -> Result<bool, ConfigError> {
    match value.unwrap_or("false") {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(invalid(variable, format!("must be true or false, not {other:?}"))),
    }
}

/// A comma-separated list of web origins (`https://app.example.com`, no path), kept in their
/// serialised form so that an `Origin` header compares exactly.
fn origins(value: Option<&str>) -> Result<Vec<String>, String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let url = url::Url::parse(origin).map_err(|_| format!("{origin:?} is not a URL"))?;
            let serialised = url.origin().ascii_serialization();
            if !matches!(url.scheme(), "http" | "https") || url.path() != "/" || serialised != origin {
                return Err(format!("{origin:?} must be an origin like https://app.example.com"));
            }
            Ok(serialised)
        })
        .collect()
}

fn invalid(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { variable, problem: problem.into() }
}

fn parse_bind(value: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = value.parse() {
        return Ok(addr);
    }
    // Allow "localhost:8080" as a convenience; anything else must be an IP address and port.
    match value.rsplit_once(':') {
        Some(("localhost", port)) => port
            .parse()
            .map(|port| SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port))
            .map_err(|_| format!("{value:?} has an invalid port")),
        _ => Err(format!("{value:?} is not an address:port such as 127.0.0.1:8080")),
    }
}

fn validate_database_url(url: &str) -> Result<(), String> {
    match url.split_once("://").map(|(scheme, _)| scheme) {
        Some("sqlite" | "postgres" | "postgresql") => Ok(()),
        _ => Err("must start with sqlite:// or postgres://".to_owned()),
    }
}

fn optional_url(value: Option<String>, schemes: &[&str]) -> Result<Option<Sensitive>, String> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let url = Url::parse(&value).map_err(|_| "must be an absolute URL".to_owned())?;
    if !schemes.contains(&url.scheme()) {
        return Err(format!("must use one of the schemes {}", schemes.join(", ")));
    }
    Ok(Some(Sensitive::new(value)))
}

/// The configured sender, or `<brand name> <no-reply@<issuer host>>`.
fn mail_from(value: Option<&str>, issuer: &Issuer, brand_name: &str) -> Result<lettre::message::Mailbox, String> {
    match value.filter(|v| !v.is_empty()) {
        Some(value) => {
            value.parse().map_err(|_| "must be an address such as \"ferrid <no-reply@example.com>\"".to_owned())
        }
        None => {
            let host = Url::parse(issuer.as_str()).ok().and_then(|url| url.host_str().map(str::to_owned));
            let address = lettre::Address::new("no-reply", host.unwrap_or_default())
                .map_err(|_| "is required: the issuer's host makes no mail address".to_owned())?;
            Ok(lettre::message::Mailbox::new(Some(brand_name.to_owned()), address))
        }
    }
}

fn number(
    variable: &'static str,
    value: Option<String>,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    value
        .trim()
        .parse()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| invalid(variable, format!("must be a whole number in {range:?}, not {value:?}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_value_can_come_from_a_file_named_by_its_file_variable() {
        let dir = tempfile::tempdir().unwrap();
        let kek = dir.path().join("kek");
        std::fs::write(&kek, "c2VjcmV0LWtlay1ieXRlcy0zMi1sb25nLi4uLi4uLi4=\n").unwrap();
        let kek_path = kek.display().to_string();
        let environment = |pairs: Vec<(&'static str, String)>| {
            move |variable: &str| pairs.iter().find(|(name, _)| *name == variable).map(|(_, value)| value.clone())
        };

        let mut values = BTreeMap::new();
        super::read_value_files(&mut values, environment(vec![("FERRID_KEK_FILE", kek_path.clone())])).unwrap();
        assert_eq!(values["kek"], "c2VjcmV0LWtlay1ieXRlcy0zMi1sb25nLi4uLi4uLi4=");

        let both = environment(vec![("FERRID_KEK_FILE", kek_path), ("FERRID_KEK", "x".to_owned())]);
        let error = super::read_value_files(&mut BTreeMap::new(), both).unwrap_err().to_string();
        assert!(error.contains("set FERRID_KEK or FERRID_KEK_FILE, not both"), "{error}");

        let missing = environment(vec![("FERRID_SMTP_URL_FILE", "/nonexistent/smtp".to_owned())]);
        let error = super::read_value_files(&mut BTreeMap::new(), missing).unwrap_err().to_string();
        assert!(error.contains("FERRID_SMTP_URL_FILE: cannot read /nonexistent/smtp"), "{error}");
    }

    use super::*;

    fn validate(pairs: &[(&str, &str)]) -> Result<Config, String> {
        RawConfig::from_pairs(pairs.iter().copied()).validate().map_err(|e| e.to_string())
    }

    #[test]
    fn branding_is_validated_at_startup() {
        let brand = validate(&[]).unwrap().brand;
        assert_eq!((brand.name.as_str(), brand.logo, brand.accent), ("ferrid", None, crate::branding::DEFAULT_COLOR));
        let pairs = [
            ("FERRID_BRAND_NAME", "Acme ID"),
            ("FERRID_BRAND_LOGO_URL", "https://cdn.acme.test/logo.svg"),
            ("FERRID_BRAND_COLOR", "#ffdd00"),
        ];
        let brand = validate(&pairs).unwrap().brand;
        assert_eq!(brand.name, "Acme ID");
        assert_eq!(brand.logo.unwrap().origin.as_deref(), Some("https://cdn.acme.test"));
        assert_eq!(brand.configured_color, Rgb(0xff, 0xdd, 0x00));
        assert_ne!(brand.accent, brand.configured_color, "a light colour is darkened");
        for (variable, value) in [("FERRID_BRAND_COLOR", "yellow"), ("FERRID_BRAND_LOGO_URL", "http://acme.test/l.png")]
        {
            let error = validate(&[(variable, value)]).unwrap_err();
            assert!(error.starts_with(&format!("{variable}: ")), "{error}");
        }
        assert!(validate(&[("FERRID_BRAND_COLOR", "#12345")]).unwrap_err().contains("#rrggbb"));
        let sender = validate(&[("FERRID_BRAND_NAME", "Acme ID"), ("FERRID_ISSUER", "https://id.acme.test")]).unwrap();
        assert_eq!(sender.mail_from.to_string(), "Acme ID <no-reply@id.acme.test>", "the default sender's name");
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let config = validate(&[]).unwrap();
        assert_eq!(config.issuer.as_str(), "http://localhost:8080");
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url.expose(), "sqlite://./data/ferrid.db?mode=rwc");
        assert!(config.redis_url.is_none());
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.password_hashing.memory_kib, 19_456);
        assert_eq!(config.database_max_connections, 4, "SQLite: one writer, a thread per connection");
        let postgres = validate(&[("FERRID_DATABASE_URL", "postgres://db.internal/ferrid")]).unwrap();
        assert_eq!(postgres.database_max_connections, 10);
    }

    #[test]
    fn issuer_must_be_absolute_and_https_off_loopback() {
        assert_eq!(
            validate(&[("FERRID_ISSUER", "auth.example.com")]).unwrap_err(),
            "FERRID_ISSUER: must be an absolute URL"
        );
        assert_eq!(
            validate(&[("FERRID_ISSUER", "http://auth.example.com")]).unwrap_err(),
            "FERRID_ISSUER: must use https unless the host is loopback"
        );
        assert!(validate(&[("FERRID_ISSUER", "http://127.0.0.1:9000")]).is_ok());
        assert!(validate(&[("FERRID_ISSUER", "https://auth.example.com/?x=1")]).is_err());
        let config = validate(&[("FERRID_ISSUER", "https://auth.example.com/tenant/")]).unwrap();
        assert_eq!(config.issuer.as_str(), "https://auth.example.com/tenant");
    }

    #[test]
    fn every_bad_value_names_its_variable() {
        for (variable, value) in [
            ("FERRID_BIND", "nowhere"),
            ("FERRID_DATABASE_URL", "mysql://x"),
            ("FERRID_REDIS_URL", "http://x"),
            ("FERRID_SMTP_URL", "not a url"),
            ("FERRID_MAIL_FROM", "no address"),
            ("FERRID_MAIL_MAX_ATTEMPTS", "0"),
            ("FERRID_LOG_FORMAT", "xml"),
            ("FERRID_ARGON2_MEMORY_KIB", "lots"),
            ("FERRID_SHUTDOWN_GRACE_SECS", "-1"),
        ] {
            let error = validate(&[(variable, value)]).unwrap_err();
            assert!(error.starts_with(&format!("{variable}: ")), "{error}");
            assert!(!error.contains('\n'));
        }
    }

    #[test]
    fn key_ring_settings_are_consistent() {
        let config = validate(&[]).unwrap();
        assert_eq!(config.key_ring.algs.len(), 7, "every signing and encryption algorithm by default");
        assert!(config.key_ring.publish_ahead >= config.key_ring.jwks_max_age);
        let config = validate(&[("FERRID_KEY_ALGS", "RS256, ES256")]).unwrap();
        assert_eq!(config.key_ring.algs.len(), 2);
        assert!(validate(&[("FERRID_KEY_ALGS", "ES256")]).unwrap_err().starts_with("FERRID_KEY_ALGS: "));
        assert!(validate(&[("FERRID_KEY_ALGS", "RS256,HS256")]).unwrap_err().starts_with("FERRID_KEY_ALGS: "));
        assert!(
            validate(&[("FERRID_KEY_PUBLISH_AHEAD_SECS", "60")])
                .unwrap_err()
                .starts_with("FERRID_KEY_PUBLISH_AHEAD_SECS: ")
        );
    }

    #[test]
    fn lifetimes_default_to_design_values_and_stay_within_key_retention() {
        let config = validate(&[]).unwrap();
        assert_eq!(config.lifetimes, Lifetimes::default());
        let config =
            validate(&[("FERRID_ACCESS_TOKEN_LIFETIME_SECS", "300"), ("FERRID_CODE_LIFETIME_SECS", "30")]).unwrap();
        assert_eq!(config.lifetimes.access_token, chrono::Duration::seconds(300));
        assert_eq!(config.lifetimes.code, chrono::Duration::seconds(30));
        // RFC 6749 §4.1.2: codes live at most 10 minutes.
        assert!(
            validate(&[("FERRID_CODE_LIFETIME_SECS", "601")]).unwrap_err().starts_with("FERRID_CODE_LIFETIME_SECS: ")
        );
        // A token must not outlive the retired key that verifies it.
        let error = validate(&[("FERRID_KEY_RETAIN_RETIRED_SECS", "600"), ("FERRID_ID_TOKEN_LIFETIME_SECS", "3600")])
            .unwrap_err();
        assert!(error.starts_with("FERRID_KEY_RETAIN_RETIRED_SECS: "), "{error}");
    }

    #[test]
    fn registration_is_open_only_on_a_developer_machine_by_default() {
        assert_eq!(validate(&[]).unwrap().registration, RegistrationPolicy::Open);
        let production = [("FERRID_ISSUER", "https://id.example.com")];
        assert_eq!(validate(&production).unwrap().registration, RegistrationPolicy::Off);
        let token = "0123456789abcdef0123456789abcdef";
        let with_token = validate(&[production[0], ("FERRID_REGISTRATION_TOKEN", token)]).unwrap();
        assert!(matches!(with_token.registration, RegistrationPolicy::InitialAccessToken(_)));
        assert!(validate(&[("FERRID_REGISTRATION", "token")]).unwrap_err().starts_with("FERRID_REGISTRATION: "));
        assert!(
            validate(&[("FERRID_REGISTRATION_TOKEN", "short")]).unwrap_err().starts_with("FERRID_REGISTRATION_TOKEN: ")
        );
        assert_eq!(
            validate(&[production[0], ("FERRID_REGISTRATION", "open")]).unwrap().registration,
            RegistrationPolicy::Open
        );
    }

    #[test]
    fn the_bootstrap_administrator_needs_both_settings() {
        assert!(validate(&[]).unwrap().bootstrap_admin.is_none());
        let both = [("FERRID_ADMIN_EMAIL", "root@example.com"), ("FERRID_ADMIN_PASSWORD", "long enough password")];
        let config = validate(&both).unwrap();
        assert!(!format!("{config:?}").contains("long enough password"), "the password is redacted");
        assert!(validate(&both[..1]).unwrap_err().starts_with("FERRID_ADMIN_PASSWORD: "));
        assert!(validate(&both[1..]).unwrap_err().starts_with("FERRID_ADMIN_EMAIL: "));
        let short = [both[0], ("FERRID_ADMIN_PASSWORD", "short")];
        assert!(validate(&short).unwrap_err().starts_with("FERRID_ADMIN_PASSWORD: "));
    }

    #[test]
    fn the_mail_sender_defaults_to_the_issuer_host() {
        assert_eq!(validate(&[]).unwrap().mail_from.to_string(), "ferrid <no-reply@localhost>");
        let config = validate(&[("FERRID_ISSUER", "https://id.example.com/tenant")]).unwrap();
        assert_eq!(config.mail_from.to_string(), "ferrid <no-reply@id.example.com>");
        assert_eq!(config.mail_max_attempts, 8);
        let config = validate(&[("FERRID_ISSUER", "http://127.0.0.1:8080")]).unwrap();
        assert_eq!(config.mail_from.email.domain(), "127.0.0.1");
        let config = validate(&[("FERRID_MAIL_FROM", "Example ID <id@example.com>")]).unwrap();
        assert_eq!(config.mail_from.email.to_string(), "id@example.com");
    }

    #[test]
    fn upstreams_come_from_the_google_preset_and_the_json_list() {
        assert!(validate(&[]).unwrap().upstreams.is_empty(), "federation is off by default");
        let google = [("FERRID_GOOGLE_CLIENT_ID", "id.apps"), ("FERRID_GOOGLE_CLIENT_SECRET", "hunter4")];
        let config = validate(&google).unwrap();
        assert_eq!(config.upstreams[0].issuer.as_str(), "https://accounts.google.com");
        assert!(config.upstreams[0].link_by_email);
        assert!(!format!("{config:?}").contains("hunter4"), "the client secret is redacted");
        assert!(validate(&google[..1]).unwrap_err().starts_with("FERRID_GOOGLE_CLIENT_SECRET: "));
        let list =
            r#"[{"id":"corp","name":"Corp","issuer":"https://sso.corp.example","client_id":"c","client_secret":"s"}]"#;
        let config = validate(&[
            google[0],
            google[1],
            ("FERRID_GOOGLE_ISSUER", "http://127.0.0.1:9"),
            ("FERRID_UPSTREAMS", list),
        ])
        .unwrap();
        assert_eq!(config.upstreams.len(), 2);
        assert_eq!(config.upstreams[0].issuer.as_str(), "http://127.0.0.1:9");
        assert_eq!(config.upstreams[1].scopes, ["openid", "email", "profile"]);
        assert!(!config.upstreams[1].link_by_email, "linking by email is opt-in for other providers");
        assert!(validate(&[("FERRID_UPSTREAMS", "[{\"id\":\"x\"}]")]).unwrap_err().starts_with("FERRID_UPSTREAMS: "));
        assert!(
            validate(&[("FERRID_UPSTREAM_TIMEOUT_SECS", "0")])
                .unwrap_err()
                .starts_with("FERRID_UPSTREAM_TIMEOUT_SECS: ")
        );
    }

    #[test]
    fn secrets_in_urls_are_not_printed() {
        let config =
            validate(&[("FERRID_DATABASE_URL", "postgres://u:hunter2@db/ferrid"), ("FERRID_KEK", "hunter3")]).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(!format!("{config:?}").contains("hunter3"));
    }
}
