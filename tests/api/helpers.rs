//! `spawn_app()` and friends: a fresh database (SQLite file, or a PostgreSQL schema), a fresh
//! Redis key prefix, the real server on 127.0.0.1:0, and cleanup when the test ends.

use std::{net::SocketAddr, path::PathBuf};

use std::sync::Arc;

use ferrid::{
    app::{AppState, BoundServer, listen},
    clock::{Clock, SystemClock},
    config::{Config, RawConfig},
};
use poem::listener::Acceptor;
use sea_orm::{ConnectionTrait, Database};
use tokio::sync::oneshot;

/// Which backends a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in a temporary folder and the in-process short-lived store.
    Embedded,
    /// PostgreSQL (a fresh schema) and Redis (a fresh key prefix) from the environment.
    External,
}

pub const TEST_DATABASE_URL: &str = "FERRID_TEST_DATABASE_URL";
pub const TEST_REDIS_URL: &str = "FERRID_TEST_REDIS_URL";

/// Generates, for each named `async fn(Backend)`, a module with one test per backend.
macro_rules! on_every_backend {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() {
                    super::$name(crate::helpers::Backend::Embedded).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    if crate::helpers::external_backend_configured() {
                        super::$name(crate::helpers::Backend::External).await;
                    } else {
                        eprintln!("skipped: set FERRID_TEST_DATABASE_URL and FERRID_TEST_REDIS_URL to run on PostgreSQL + Redis");
                    }
                }
            }
        )+
    };
}

pub fn external_backend_configured() -> bool {
    std::env::var(TEST_DATABASE_URL).is_ok() && std::env::var(TEST_REDIS_URL).is_ok()
}

fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A database (and Redis prefix) that exists for one test and is removed afterwards.
pub struct TestResources {
    pub database_url: String,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub data_dir: PathBuf,
    postgres: Option<(String, String)>,
    /// Only the original removes the database and keys; shared copies do not.
    owner: bool,
    _dir: Option<tempfile::TempDir>,
}

impl TestResources {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Embedded => {
                let dir = tempfile::tempdir().unwrap();
                let data_dir = dir.path().to_path_buf();
                Self {
                    database_url: format!("sqlite://{}?mode=rwc", data_dir.join("ferrid.db").display()),
                    redis_url: None,
                    redis_prefix: format!("ferrid-test:{}:", unique_suffix()),
                    data_dir,
                    postgres: None,
                    owner: true,
                    _dir: Some(dir),
                }
            }
            Backend::External => {
                let base = std::env::var(TEST_DATABASE_URL).unwrap();
                let redis = std::env::var(TEST_REDIS_URL).unwrap();
                Self::create_external_on(&base, &redis).await
            }
        }
    }

    /// A fresh schema in the PostgreSQL at `database_base` and a fresh key prefix in the Redis
    /// at `redis_url` (the shared ones, or a fault test's private instances).
    pub async fn create_external_on(database_base: &str, redis_url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_path_buf();
        let redis_prefix = format!("ferrid-test:{}:", unique_suffix());
        let schema = format!("t_{}", unique_suffix());
        let admin = Database::connect(database_base).await.unwrap();
        admin.execute_unprepared(&format!("CREATE SCHEMA \"{schema}\"")).await.unwrap();
        admin.close().await.unwrap();
        let separator = if database_base.contains('?') { '&' } else { '?' };
        Self {
            database_url: format!("{database_base}{separator}options=-c%20search_path%3D{schema}"),
            redis_url: Some(redis_url.to_owned()),
            redis_prefix,
            data_dir,
            postgres: Some((database_base.to_owned(), schema)),
            owner: true,
            _dir: Some(dir),
        }
    }

    /// The `FERRID_*` variables that point ferrid at these resources.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("FERRID_DATABASE_URL", self.database_url.clone()),
            ("FERRID_DATA_DIR", self.data_dir.display().to_string()),
            ("FERRID_REDIS_PREFIX", self.redis_prefix.clone()),
            // Light argon2 parameters keep tests fast; production defaults are OWASP's.
            ("FERRID_ARGON2_MEMORY_KIB", "64".to_owned()),
            ("FERRID_ARGON2_ITERATIONS", "1".to_owned()),
            ("FERRID_SHUTDOWN_GRACE_SECS", "2".to_owned()),
            // Some tests register more accounts (or ask for more resets) from 127.0.0.1 than the
            // default budgets allow; tests of the limits set their own.
            ("FERRID_RATE_LIMITS", "register_ip=100/1h,reset_request_ip_email=100/1m".to_owned()),
        ];
        if let Some(url) = &self.redis_url {
            env.push(("FERRID_REDIS_URL", url.clone()));
        }
        env
    }
}

impl Drop for TestResources {
    fn drop(&mut self) {
        if !self.owner {
            return;
        }
        let postgres = self.postgres.take();
        let redis = self.redis_url.clone().map(|url| (url, self.redis_prefix.clone()));
        if postgres.is_none() && redis.is_none() {
            return;
        }
        // Drop runs inside the test's runtime, which cannot be blocked on: clean up on a thread
        // with its own small runtime and wait for it.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                if let Some((base, schema)) = postgres
                    && let Ok(db) = Database::connect(&base).await
                {
                    let _ = db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await;
                    let _ = db.close().await;
                }
                if let Some((url, prefix)) = redis {
                    delete_redis_prefix(&url, &prefix).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

async fn delete_redis_prefix(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else { return };
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else { return };
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut connection).await.unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut connection).await;
    }
}

/// A running ferrid and the handles a test drives it with.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub http: reqwest::Client,
    /// The admin handle: the same services the CLI uses.
    pub state: AppState,
    /// Kept alive for the test; dropping it removes the database and Redis keys.
    resources: Option<TestResources>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// Starts ferrid with extra `FERRID_*` settings on top of fresh test resources.
pub async fn spawn_app_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    start_app(TestResources::create(backend).await, extra, Arc::new(SystemClock)).await.unwrap()
}

/// Starts ferrid on existing resources (a restart, or a second node on the same stores) with a
/// given clock; fails the way start-up fails (e.g. a wrong KEK).
pub async fn start_app(
    resources: TestResources,
    extra: &[(&str, &str)],
    clock: Arc<dyn Clock>,
) -> anyhow::Result<TestApp> {
    start_app_adjusted(resources, extra, clock, |_| {}).await
}

/// [`start_app`], with `adjust` applied to the services before the server starts (e.g. shorter
/// back-channel logout retries).
pub async fn start_app_adjusted(
    resources: TestResources,
    extra: &[(&str, &str)],
    clock: Arc<dyn Clock>,
    adjust: impl FnOnce(&mut AppState),
) -> anyhow::Result<TestApp> {
    start_app_at("127.0.0.1", resources, extra, clock, adjust).await
}

/// A second site for a real browser: ferrid with the issuer `http://localhost:<port>`, so that
/// its cookies stay apart from those of an app at 127.0.0.1 (cookies ignore ports, RFC 6265 §8.5).
pub async fn spawn_app_on_localhost(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let resources = TestResources::create(backend).await;
    start_app_at("localhost", resources, extra, Arc::new(SystemClock), |_| {}).await.unwrap()
}

/// Starts ferrid on 127.0.0.1 with the issuer `http://<host>:<port>` (`host` resolves to it).
async fn start_app_at(
    host: &str,
    resources: TestResources,
    extra: &[(&str, &str)],
    clock: Arc<dyn Clock>,
    adjust: impl FnOnce(&mut AppState),
) -> anyhow::Result<TestApp> {
    // Bind first: the issuer must be the address clients really use (OIDC Discovery §4.3).
    let acceptor = listen(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    let address = format!("http://{host}:{port}");
    let mut settings = vec![("FERRID_ISSUER", address.as_str())];
    settings.extend_from_slice(extra);
    let config = resources.config(&settings);
    let mut state = AppState::start_with_clock(config, clock).await?;
    adjust(&mut state);
    let server = BoundServer::on(state.clone(), acceptor);
    let (shutdown, stop) = oneshot::channel::<()>();
    let server = tokio::spawn(server.run(async move {
        let _ = stop.await;
    }));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Ok(TestApp { address, http, state, resources: Some(resources), shutdown: Some(shutdown), server: Some(server) })
}

impl TestResources {
    /// The configuration ferrid gets on these resources, plus `extra` settings.
    pub fn config(&self, extra: &[(&str, &str)]) -> Config {
        let env = self.env();
        let pairs = env
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain([("FERRID_BIND", "127.0.0.1:0")])
            .chain(extra.iter().copied());
        RawConfig::from_pairs(pairs).validate().unwrap()
    }

    /// A copy that points at the same database and Redis keys but does not remove them.
    pub fn share(&self) -> TestResources {
        TestResources {
            database_url: self.database_url.clone(),
            redis_url: self.redis_url.clone(),
            redis_prefix: self.redis_prefix.clone(),
            data_dir: self.data_dir.clone(),
            postgres: None,
            owner: false,
            _dir: None,
        }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// Stops the server gracefully and hands back its resources (for a restart).
    pub async fn stop(mut self) -> TestResources {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        self.state.database.clone().close().await;
        self.resources.take().unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
