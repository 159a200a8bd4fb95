//! Clients' JWK Sets fetched from their `jwks_uri` (RFC 7591 §2, OIDC Core §10.1.1), for
//! verifying `private_key_jwt` assertions: cached per client, refetched on key rotation.
//!
//! The URL is chosen by whoever registers a client, so fetching it must not become a way to
//! reach ferrid's own network (SSRF): the host is resolved once, every non-public address is
//! refused unless configured otherwise, and the connection is pinned to the checked address so
//! a second DNS answer cannot swap it (DNS rebinding). No redirects, a timeout, a size cap.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use keys::Jwks;
use url::Url;

use super::client::ClientId;
use crate::clock::Clock;

/// How long a fetched set is used before it is fetched again.
const CACHE_FOR: chrono::Duration = chrono::Duration::minutes(5);
/// At most one refetch per client in this interval for an unknown `kid`, so that assertions
/// naming made-up keys cannot turn ferrid into a request generator.
const MIN_REFETCH_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);
const TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("jwks_uri must use https")]
    NotHttps,
    #[error("jwks_uri has no host")]
    NoHost,
    #[error("cannot resolve the jwks_uri host: {0}")]
    Resolve(std::io::Error),
    #[error("the jwks_uri host resolves only to non-public addresses")]
    ForbiddenAddress,
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("unexpected status {0}")]
    Status(u16),
    #[error("the JWK Set is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("not a JWK Set: {0}")]
    Invalid(String),
}

struct Cached {
    uri: Url,
    jwks: Jwks,
    fetched_at: DateTime<Utc>,
    last_forced: Option<DateTime<Utc>>,
}

/// Fetches and caches client JWK Sets (in memory: each node keeps its own short cache).
#[derive(Clone)]
pub struct ClientJwksFetcher {
    allow_private: bool,
    clock: Arc<dyn Clock>,
    cache: Arc<Mutex<HashMap<ClientId, Cached>>>,
}

impl ClientJwksFetcher {
    /// `allow_private` also permits plain http, for development and tests on loopback.
    pub fn new(allow_private: bool, clock: Arc<dyn Clock>) -> Self {
        Self { allow_private, clock, cache: Arc::default() }
    }

    /// The client's key set: from the cache while fresh, else fetched. `refresh` asks for a
    /// fresh copy (the cached set lacks the assertion's key), granted once per
    /// [`MIN_REFETCH_INTERVAL`].
    pub async fn get(&self, client_id: &ClientId, uri: &Url, refresh: bool) -> Result<Jwks, FetchError> {
        let now = self.clock.now();
        let mut last_forced = None;
        if let Some(cached) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(client_id)
            && &cached.uri == uri
        {
            let fresh = now - cached.fetched_at < CACHE_FOR;
            let refetch_allowed = cached.last_forced.is_none_or(|at| now - at >= MIN_REFETCH_INTERVAL);
            if (!refresh && fresh) || (refresh && !refetch_allowed) {
                return Ok(cached.jwks.clone());
            }
            last_forced = cached.last_forced;
        }
        let jwks = self.fetch(uri).await?;
        let last_forced = if refresh { Some(now) } else { last_forced };
        let entry = Cached { uri: uri.clone(), jwks: jwks.clone(), fetched_at: now, last_forced };
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(client_id.clone(), entry);
        Ok(jwks)
    }

    async fn fetch(&self, uri: &Url) -> Result<Jwks, FetchError> {
        if uri.scheme() != "https" && !(self.allow_private && uri.scheme() == "http") {
            return Err(FetchError::NotHttps);
        }
        let host = uri.host_str().ok_or(FetchError::NoHost)?;
        let port = uri.port_or_known_default().ok_or(FetchError::NoHost)?;
        let lookup = host.trim_start_matches('[').trim_end_matches(']');
        let addr = tokio::net::lookup_host((lookup, port))
            .await
            .map_err(FetchError::Resolve)?
            .find(|addr| self.allow_private || is_public(addr.ip()))
            .ok_or(FetchError::ForbiddenAddress)?;
        let client = pinned_client(host, addr)?;
        let mut response = client.get(uri.clone()).header("Accept", "application/json").send().await?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(body).map_err(|_| FetchError::Invalid("not UTF-8".into()))?;
        Jwks::from_json(&text).map_err(|e| FetchError::Invalid(e.to_string()))
    }
}

/// A client that connects only to `addr` for `host` and follows no redirect.
fn pinned_client(host: &str, addr: SocketAddr) -> Result<reqwest::Client, FetchError> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .resolve(host, addr)
        .no_proxy()
        .build()?)
}

/// Whether `ip` is an ordinary public unicast address: not private, loopback, link-local,
/// unspecified, shared (CGNAT), documentation, multicast, broadcast or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments, RFC 6890
        || (a == 198 && (18..20).contains(&b)) // benchmarking, RFC 2544
        || a >= 240) // reserved, RFC 1112
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, RFC 4193
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation, RFC 3849
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64, may reach IPv4 internals
        || ip.to_ipv4().is_some()) // IPv4-compatible ::a.b.c.d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_are_fetched() {
        let public = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34"];
        for ip in public {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        let internal = [
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ];
        for ip in internal {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn loopback_and_plain_http_are_refused_by_default() {
        let fetcher = ClientJwksFetcher::new(false, Arc::new(crate::clock::SystemClock));
        let id = ClientId::generate();
        let http = Url::parse("http://127.0.0.1:9/jwks").unwrap();
        assert!(matches!(fetcher.get(&id, &http, false).await, Err(FetchError::NotHttps)));
        let loopback = Url::parse("https://127.0.0.1:9/jwks").unwrap();
        assert!(matches!(fetcher.get(&id, &loopback, false).await, Err(FetchError::ForbiddenAddress)));
        let localhost = Url::parse("https://localhost:9/jwks").unwrap();
        assert!(matches!(fetcher.get(&id, &localhost, false).await, Err(FetchError::ForbiddenAddress)));
    }
}
