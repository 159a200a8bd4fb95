//! Wiring: builds the services from the configuration and runs the HTTP server with graceful
//! shutdown. Both `ferrid serve` and the test harness start ferrid through here.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use poem::{
    Server,
    listener::{Listener, TcpAcceptor, TcpListener},
};

use crate::{
    accounts::{AccessControl, Accounts, EmailCodes, PasswordHasher, SecondFactors},
    audit::AuditLog,
    clock::{Clock, SystemClock},
    config::Config,
    federation::Federation,
    http,
    keyring::{KeyRingService, load_kek},
    mail::{MailSender, Outbox, SendPolicy, Transport},
    metrics::Metrics,
    oauth::{
        ClientRegistry,
        backchannel_logout::{BackchannelNotifier, DeliveryPolicy},
        client_assertion::AssertionVerifier,
        client_jwks::ClientJwksFetcher,
    },
    ratelimit::{
        RateLimiter,
        lockout::{LockoutPolicy, SignInGuard},
    },
    store::{
        self, Database, ShortLivedStore,
        sql::{
            AccessControlRepository, AccessTokenRepository, AuditRepository, ClientRepository, ConsentRepository,
            FederatedIdentityRepository, MailOutboxRepository, MfaFactorRepository, RefreshTokenRepository,
            SessionRepository, SqlKeyStore, UserRepository, Writer,
        },
    },
};

/// How often expired rows are swept (see `maintenance`).
const MAINTENANCE_EVERY: Duration = Duration::from_secs(300);

/// Readiness probes give up after this long, so /ready answers even when a backend hangs.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything a request (or a CLI command) needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub database: Database,
    pub short_lived: Arc<dyn ShortLivedStore>,
    pub accounts: Accounts,
    pub access_control: AccessControl,
    pub clients: ClientRegistry,
    pub keys: Arc<KeyRingService>,
    /// JWT access tokens already verified, so a resource server's repeats skip the signature.
    pub verified_tokens: Arc<crate::oauth::access_token::VerifiedTokens>,
    pub sessions: SessionRepository,
    pub consents: ConsentRepository,
    pub refresh_tokens: RefreshTokenRepository,
    /// Opaque and JWE access tokens, by digest.
    pub access_tokens: AccessTokenRepository,
    pub clock: Arc<dyn Clock>,
    /// Sends Back-Channel Logout tokens; tests replace it to shorten the retry delays.
    pub backchannel: BackchannelNotifier,
    /// This instance's own registry, served at /metrics.
    pub metrics: Arc<Metrics>,
    /// Verifies `private_key_jwt` client assertions (RFC 7523 §3).
    pub client_assertions: AssertionVerifier,
    pub audit: AuditLog,
    /// Requests enqueue mails here and return; the sender delivers them.
    pub outbox: Outbox,
    /// The background mail sender's settings; tests shorten its retry delays.
    pub mail_sender: MailSender,
    /// The key-encryption key: seals second-factor secrets, keys one-time-code digests.
    pub kek: Arc<keys::Kek>,
    /// Codes and links that prove control of an email address.
    pub email_codes: EmailCodes,
    /// TOTP and recovery codes, and the sign-in challenge between password and second step.
    pub second_factors: SecondFactors,
    /// Checks DPoP proofs (RFC 9449) and issues their nonces.
    pub dpop: crate::oauth::dpop::DpopVerifier,
    /// Upstream OpenID Connect providers (Google sign-in) and the identities linked to users.
    pub federation: Federation,
    /// Request budgets per scope (issue 8 item 1), shared across nodes through Redis.
    pub rate_limits: RateLimiter,
}

/// The issuer name authenticator apps show next to the code: the issuer's host, so two
/// deployments are told apart, or the product name on a development machine.
fn authenticator_issuer(issuer: &crate::config::Issuer) -> String {
    match url::Url::parse(issuer.as_str()) {
        Ok(url) if !issuer.is_loopback() => url.host_str().unwrap_or("ferrid").to_owned(),
        _ => "ferrid".to_owned(),
    }
}

/// Each dependency's probe result: `ok` or a short reason.
pub struct ReadinessReport {
    pub checks: Vec<(&'static str, String)>,
    /// Whether rate limits count on this node only because Redis stopped answering.
    pub rate_limits_local: bool,
}

/// What /ready says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Serving, without Redis: rate limits count per node, flows that need the shared store
    /// (codes, challenges) fail until it returns. Still ready, so a Redis outage does not take
    /// every node out of the load balancer.
    Degraded,
    /// The database does not answer: nothing can be served.
    Unavailable,
}

impl ReadinessReport {
    pub fn readiness(&self) -> Readiness {
        let failing = |name: &str| self.checks.iter().any(|(check, result)| *check == name && result != "ok");
        if failing("database") {
            Readiness::Unavailable
        } else if failing("redis") || self.rate_limits_local {
            Readiness::Degraded
        } else {
            Readiness::Ready
        }
    }

    pub fn is_ready(&self) -> bool {
        self.readiness() == Readiness::Ready
    }
}

impl AppState {
    /// Connects to the database (migrating it), prepares the short-lived store and loads the
    /// key ring.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        Self::start_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`AppState::start`] with a given clock (tests drive rotation and expiry with a fixed one).
    pub async fn start_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::new());
        let mut database = Database::connect(&config.database_url, config.database_max_connections)
            .await
            .context("FERRID_DATABASE_URL: cannot open the database")?;
        database.report_failures_to(metrics.clone());
        database.migrate_up(None).await.context("database migration failed")?;
        let short_lived = store::short_lived::InstrumentedStore::wrap(
            store::short_lived::connect(config.redis_url.as_ref(), &config.redis_prefix)
                .context("FERRID_REDIS_URL: cannot prepare the Redis client")?,
            metrics.clone(),
        );
        let hasher = PasswordHasher::new(config.password_hashing).context("invalid argon2 parameters")?;
        hasher.prepare_decoy();
        let connection = database.connection().clone();
        let writer = Writer::new(database.writer().clone());
        let kek = load_kek(config.key_ring.kek.as_ref(), &config.data_dir)?;
        let signing_algs: Vec<keys::SigningAlg> = config
            .key_ring
            .algs
            .iter()
            .filter_map(|alg| match alg {
                keys::KeyAlg::Signing(alg) => Some(*alg),
                keys::KeyAlg::Encryption(_) => None,
            })
            .collect();
        let key_store = Arc::new(SqlKeyStore::new(connection.clone()));
        let keys = KeyRingService::start(key_store, kek, &config.key_ring, clock.clone(), metrics.clone()).await?;
        let client_assertions = AssertionVerifier::new(
            config.issuer.as_str(),
            clock.clone(),
            short_lived.clone(),
            ClientJwksFetcher::new(config.jwks_uri_allow_private, clock.clone()),
        );
        let outbox = Outbox::new(MailOutboxRepository::new(connection.clone()), clock.clone());
        let mail_sender = MailSender {
            outbox: outbox.clone(),
            transport: Transport::new(config.mail_from.clone(), config.smtp_url.as_ref(), &config.data_dir)
                .context("FERRID_SMTP_URL: cannot prepare the SMTP transport")?,
            policy: SendPolicy::new(config.mail_max_attempts),
            metrics: metrics.clone(),
        };
        let kek = keys.kek();
        let counters = store::short_lived::FallbackStore::new(short_lived.clone(), metrics.clone());
        let outage = counters.outage();
        let counters: Arc<dyn ShortLivedStore> = Arc::new(counters);
        let rate_limits = RateLimiter::new(
            counters.clone(),
            outage,
            config.rate_limits.clone(),
            kek.mac_key("rate-limit-subject"),
            metrics.clone(),
        );
        let sign_in_guard = SignInGuard::new(counters, kek.mac_key("sign-in-lockout"), LockoutPolicy::default());
        let email_codes = EmailCodes::new(short_lived.clone(), kek.mac_key("email-code"), clock.clone());
        let second_factors = SecondFactors::new(
            MfaFactorRepository::new(connection.clone()),
            short_lived.clone(),
            kek.clone(),
            clock.clone(),
            authenticator_issuer(&config.issuer),
            rate_limits.clone(),
        );
        let dpop = crate::oauth::dpop::DpopVerifier::new(config.dpop, kek.mac_key("dpop-nonce"), short_lived.clone());
        let federation = Federation::new(
            &config,
            short_lived.clone(),
            FederatedIdentityRepository::new(connection.clone()),
            clock.clone(),
        )
        .context("cannot prepare the HTTP client for upstream providers")?;
        let state = Self {
            dpop,
            federation,
            rate_limits,
            kek,
            email_codes,
            second_factors,
            outbox,
            mail_sender,
            client_assertions,
            accounts: Accounts::new(
                UserRepository::new(connection.clone()),
                MfaFactorRepository::new(connection.clone()),
                hasher,
                clock.clone(),
                config.allow_unverified_login,
                sign_in_guard,
            ),
            access_control: AccessControl::new(AccessControlRepository::new(connection.clone()), clock.clone()),
            clients: ClientRegistry::new(
                ClientRepository::new(connection.clone(), config.issuer.clone()),
                clock.clone(),
                &signing_algs,
                u32::try_from(config.key_ring.retain_retired.as_secs()).unwrap_or(u32::MAX),
            ),
            sessions: SessionRepository::new(connection.clone()),
            consents: ConsentRepository::new(connection.clone()),
            refresh_tokens: RefreshTokenRepository::new(connection.clone(), writer.clone()),
            access_tokens: AccessTokenRepository::new(connection.clone()),
            audit: AuditLog::new(AuditRepository::new(connection, writer), clock.clone(), metrics.clone()),
            keys: Arc::new(keys),
            verified_tokens: Arc::default(),
            config: Arc::new(config),
            database,
            short_lived,
            clock,
            backchannel: BackchannelNotifier::new(DeliveryPolicy::default())
                .context("cannot prepare the HTTP client for back-channel logout")?,
            metrics,
        };
        crate::oauth::admin::bootstrap_administrator(&state)
            .await
            .context("FERRID_ADMIN_EMAIL: cannot create the first administrator")?;
        Ok(state)
    }

    /// The longest an access token signed by this node's ring can live: the configuration makes
    /// retired keys stay published at least that long (`KEY_RETAIN_RETIRED_SECS`).
    pub fn longest_access_token(&self) -> std::time::Duration {
        self.config.key_ring.retain_retired
    }

    /// The lifetimes that apply to `client`: its own overrides over the configured defaults.
    pub fn lifetimes_for(&self, client: &crate::oauth::Client) -> crate::oauth::Lifetimes {
        self.config.lifetimes.for_client(&client.metadata.lifetimes)
    }

    /// What checking an access token needs, with the ring the caller took for this request.
    pub fn access_token_verifier<'a>(
        &'a self,
        published: &'a crate::keyring::PublishedRing,
    ) -> crate::oauth::access_token::Verifier<'a> {
        crate::oauth::access_token::Verifier {
            published,
            verified: &self.verified_tokens,
            issuer: &self.config.issuer,
            store: self.short_lived.as_ref(),
            references: &self.access_tokens,
        }
    }

    /// Probes the database and, when configured, Redis — concurrently and with a timeout.
    pub async fn readiness(&self) -> ReadinessReport {
        let probe = |result: Result<Result<(), store::StoreError>, tokio::time::error::Elapsed>| match result {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(error)) => {
                tracing::warn!(%error, "readiness probe failed");
                "unreachable".to_owned()
            }
            Err(_) => "timed out".to_owned(),
        };
        // Through the rate limiter's store: a ping that reaches Redis also ends its fallback.
        let counters = self.rate_limits.counters();
        let (database, short_lived) = tokio::join!(
            tokio::time::timeout(PROBE_TIMEOUT, self.database.ping()),
            tokio::time::timeout(PROBE_TIMEOUT, counters.ping()),
        );
        let mut checks = vec![("database", probe(database))];
        if self.short_lived.backend() == "redis" {
            checks.push(("redis", probe(short_lived)));
        }
        ReadinessReport { checks, rate_limits_local: self.rate_limits.is_degraded() }
    }
}

/// A server bound to its address but not yet serving.
pub struct BoundServer {
    state: AppState,
    acceptor: TcpAcceptor,
}

impl BoundServer {
    /// Serves `state` on an acceptor bound earlier (see [`listen`]).
    pub fn on(state: AppState, acceptor: TcpAcceptor) -> Self {
        Self { state, acceptor }
    }

    /// Serves until `shutdown` resolves, then drains: the listening socket closes at once (new
    /// connections are refused, so a load balancer moves on), requests in flight finish, and
    /// whatever is still running when the grace period (`FERRID_SHUTDOWN_GRACE_SECS`) ends is
    /// cut off. The drain's start and end are logged.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let grace = self.state.config.shutdown_grace;
        let drain_started = Arc::new(std::sync::OnceLock::new());
        let shutdown = {
            let drain_started = drain_started.clone();
            async move {
                shutdown.await;
                let _ = drain_started.set(std::time::Instant::now());
                tracing::info!(grace_secs = grace.as_secs(), "drain started: refusing new connections");
            }
        };
        let refresher =
            self.state.keys.clone().spawn_refresher(self.state.config.key_ring.refresh_every, self.state.audit.clone());
        let sweeper = crate::maintenance::spawn_sweeper(self.state.clone(), MAINTENANCE_EVERY);
        let mail_sender = crate::mail::spawn_sender(self.state.mail_sender.clone());
        let served = Server::new_with_acceptor(self.acceptor)
            .idle_timeout(self.state.config.idle_timeout)
            .run_with_graceful_shutdown(http::endpoint(self.state), shutdown, Some(grace))
            .await
            .context("the HTTP server stopped with an error");
        if let Some(started) = drain_started.get() {
            let took = started.elapsed();
            let drained_in_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
            if took >= grace {
                tracing::warn!(drained_in_ms, "drain ended at the deadline: requests still in flight were cut off");
            } else {
                tracing::info!(drained_in_ms, "drain finished: every in-flight request was answered");
            }
        }
        refresher.abort();
        sweeper.abort();
        mail_sender.abort();
        served
    }
}

/// Binds the listening socket.
pub async fn listen(address: SocketAddr) -> anyhow::Result<TcpAcceptor> {
    TcpListener::bind(address).into_acceptor().await.with_context(|| format!("FERRID_BIND: cannot listen on {address}"))
}

/// `ferrid serve`: migrate, bind, serve until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let bind = config.bind;
    let issuer = config.issuer.clone();
    // Bind first: a taken port is reported before any work (migrations, key generation).
    let acceptor = listen(bind).await?;
    let state = AppState::start(config).await?;
    let database = state.database.clone();
    let server = BoundServer::on(state, acceptor);
    tracing::info!(address = %bind, %issuer, "ferrid is listening");
    server.run(shutdown_signal()).await?;
    database.close().await;
    tracing::info!("ferrid stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        // If the handler cannot be installed we still stop on SIGTERM.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
