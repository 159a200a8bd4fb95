//! The Redis short-lived store, shared by every node. Each operation is one atomic command
//! (`SET … PX`, `SET … NX PX`, `GETDEL`) or one Lua script, so take-once and counters hold
//! across nodes. Keys carry a configurable prefix so several deployments (or tests) can share
//! one Redis.

use std::time::Duration;

use async_trait::async_trait;
use redis::{
    AsyncCommands, Client, Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use super::{Counter, ShortLivedStore};
use crate::{config::Sensitive, store::StoreError};

/// Increments each counter in `KEYS` and opens its window (`ARGV`, same position) on the first
/// increment; also repairs a counter that somehow lost its expiry. One atomic script, so every
/// node sees one count (DESIGN §7.7). Returns `{count1, remaining_ms1, count2, …}`. (On a Redis
/// Cluster the keys of one call would have to share a hash slot; ferrid uses one Redis.)
const INCREMENT_SCRIPT: &str = r"
local result = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
    ttl = tonumber(ARGV[i])
  end
  result[#result + 1] = count
  result[#result + 1] = ttl
end
return result
";

pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
    increment: Script,
}

impl RedisStore {
    /// Prepares a connection without dialling: ferrid starts (and reports not-ready) while Redis
    /// is down, and the manager reconnects by itself when Redis returns.
    pub fn connect(url: &Sensitive, prefix: &str) -> Result<Self, StoreError> {
        let client = Client::open(url.expose()).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, config).map_err(unavailable)?;
        Ok(Self { connection, prefix: prefix.to_owned(), increment: Script::new(INCREMENT_SCRIPT) })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn connection(&self) -> ConnectionManager {
        // A clone is a cheap handle onto the same multiplexed connection.
        self.connection.clone()
    }
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable { backend: "redis", detail: error.to_string() }
}

/// Redis takes expiries in whole milliseconds and rejects zero.
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl ShortLivedStore for RedisStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let options = redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(millis(ttl)));
        self.connection().set_options::<_, _, ()>(self.key(key), value, options).await.map_err(unavailable)
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::PX(millis(ttl)));
        let stored: Option<String> =
            self.connection().set_options(self.key(key), value, options).await.map_err(unavailable)?;
        Ok(stored.is_some())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.connection().get(self.key(key)).await.map_err(unavailable)
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        // MGET always answers an array, whatever the number of keys.
        let keys: Vec<String> = keys.iter().map(|key| self.key(key)).collect();
        redis::cmd("MGET").arg(keys).query_async(&mut self.connection()).await.map_err(unavailable)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.connection().get_del(self.key(key)).await.map_err(unavailable)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.connection().del::<_, ()>(self.key(key)).await.map_err(unavailable)
    }

    async fn increment_many(&self, hits: &[(&str, Duration)]) -> Result<Vec<Counter>, StoreError> {
        if hits.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.increment.prepare_invoke();
        for (key, window) in hits {
            invocation.key(self.key(key)).arg(millis(*window));
        }
        let flat: Vec<u64> = invocation.invoke_async(&mut self.connection()).await.map_err(unavailable)?;
        if flat.len() != hits.len() * 2 {
            return Err(StoreError::Malformed("counter"));
        }
        Ok(flat
            .chunks_exact(2)
            .map(|pair| Counter { count: pair[0], resets_in: Duration::from_millis(pair[1]) })
            .collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        redis::cmd("PING").query_async::<()>(&mut self.connection()).await.map_err(unavailable)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
