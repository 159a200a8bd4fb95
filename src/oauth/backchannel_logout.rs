//! OpenID Connect Back-Channel Logout 1.0: when a user's session at ferrid ends, every client
//! that signed the user in during it gets a signed Logout Token (§2.4), POSTed server to server
//! to its `backchannel_logout_uri` (§2.5), so it can end its own session too.
//!
//! Which clients are told. ID tokens are not stored, so ferrid keeps a small record per OP
//! session: the client ids that were issued a code in it (`session-clients:{sid}` in the
//! short-lived store, living as long as the session). A code is the only way to an ID token
//! with that `sid`, so the record names every client that could hold one; a client that never
//! redeemed its code gets a token it can ignore. The record is the fast path on one node or
//! many. Refresh families carry their `sid` in the database, so they cover the clients with
//! offline access even when the record is gone (Redis flushed, or a session older than this
//! feature); "log out everywhere" also tells the client of every family it revokes.
//!
//! Delivery runs on spawned tasks with retries and a timeout per attempt: a slow or broken
//! client never delays the user's logout, and a failure is only logged (client id and host).

use std::{collections::BTreeSet, sync::Arc, time::Duration as StdDuration};

use chrono::{DateTime, Duration, Utc};
use keys::{KeyError, KeyRing, SigningAlg};
use serde_json::{Map, Value, json};
use url::Url;

use super::{Client, ClientId, session::OpSession};
use crate::{
    accounts::UserId,
    app::AppState,
    config::Issuer,
    metrics::Metrics,
    store::{ShortLivedStore, StoreError},
};

/// The JWS `typ` of a Logout Token (§2.4 recommends explicit typing, RFC 8725 §3.11).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";

/// The event member that makes a JWT a Logout Token (§2.4 `events`).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Logout Tokens are used at once; a short life limits replay (§2.4 `exp`, "a few minutes").
pub const LOGOUT_TOKEN_LIFETIME: Duration = Duration::minutes(2);

/// Rounds of read–append–check when recording a client, for two codes issued at once in one
/// session (two tabs): the short-lived store has no set type, so a lost write is re-applied.
const RECORD_ROUNDS: usize = 4;

/// Who is being logged out, and from which session (§2.4: `sub` and/or `sid`).
#[derive(Clone, Copy, Debug)]
pub struct LogoutSubject<'a> {
    pub sub: Option<&'a str>,
    pub sid: Option<&'a str>,
}

/// The claims of a Logout Token for `client_id` (§2.4): `iss`, `aud`, `iat`, `exp`, `jti`,
/// `events`, and `sub` and/or `sid`. Never a `nonce`, so it cannot pass for an ID token.
pub fn logout_token_claims(
    issuer: &Issuer,
    client_id: &str,
    subject: LogoutSubject<'_>,
    jti: &str,
    now: DateTime<Utc>,
) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(issuer.as_str()));
    claims.insert("aud".into(), json!(client_id));
    claims.insert("iat".into(), json!(now.timestamp()));
    claims.insert("exp".into(), json!((now + LOGOUT_TOKEN_LIFETIME).timestamp()));
    claims.insert("jti".into(), json!(jti));
    claims.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
    if let Some(sub) = subject.sub {
        claims.insert("sub".into(), json!(sub));
    }
    if let Some(sid) = subject.sid {
        claims.insert("sid".into(), json!(sid));
    }
    claims
}

/// A signed Logout Token for `client`, with the key its ID tokens are signed with (§2.4: "the
/// same keys are used ... as are used for ID Tokens"). Not encrypted: §2.4 makes that optional.
pub fn issue_logout_token(
    ring: &KeyRing,
    issuer: &Issuer,
    client: &Client,
    subject: LogoutSubject<'_>,
    now: DateTime<Utc>,
) -> Result<String, KeyError> {
    let alg: SigningAlg = client.metadata.id_token_signed_response_alg.parse()?;
    let claims = logout_token_claims(issuer, client.id.as_str(), subject, &keys::random_id(16), now);
    keys::sign_jwt(ring.signing_key(alg)?, Some(LOGOUT_TOKEN_TYP), &claims)
}

fn record_key(sid: &str) -> String {
    format!("session-clients:{sid}")
}

async fn read_record(store: &dyn ShortLivedStore, key: &str) -> Result<Vec<String>, StoreError> {
    match store.get(key).await? {
        None => Ok(Vec::new()),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| StoreError::Malformed("session clients")),
    }
}

/// Notes that `client_id` was issued a code in `session`, for the session's remaining life.
pub async fn record_session_client(
    store: &dyn ShortLivedStore,
    session: &OpSession,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(ttl) = (session.expires_at - now).to_std().ok().filter(|ttl| !ttl.is_zero()) else { return Ok(()) };
    let key = record_key(&session.sid);
    for _ in 0..RECORD_ROUNDS {
        let mut clients = read_record(store, &key).await?;
        if clients.iter().any(|c| c == client_id) {
            return Ok(());
        }
        clients.push(client_id.to_owned());
        let value = serde_json::to_vec(&clients).map_err(|_| StoreError::Malformed("session clients"))?;
        store.put(&key, &value, ttl).await?;
    }
    tracing::warn!(client_id, "session client record kept changing; the refresh families remain");
    Ok(())
}

/// The clients recorded for `sid`, removing the record: a session is logged out once.
async fn take_session_clients(store: &dyn ShortLivedStore, sid: &str) -> Result<Vec<String>, StoreError> {
    match store.take(&record_key(sid)).await? {
        None => Ok(Vec::new()),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| StoreError::Malformed("session clients")),
    }
}

/// How Logout Tokens are delivered: the wait before each attempt (its length is the number of
/// attempts) and the time limit of each. §2.5 leaves retries to the OP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryPolicy {
    pub delays: Vec<StdDuration>,
    pub timeout: StdDuration,
}

impl Default for DeliveryPolicy {
    /// Now, then after 1 s and 4 s more; 5 s per attempt.
    fn default() -> Self {
        Self {
            delays: vec![StdDuration::ZERO, StdDuration::from_secs(1), StdDuration::from_secs(4)],
            timeout: StdDuration::from_secs(5),
        }
    }
}

/// Sends Logout Tokens; cheap to clone (one connection pool).
#[derive(Clone, Debug)]
pub struct BackchannelNotifier {
    http: reqwest::Client,
    policy: Arc<DeliveryPolicy>,
}

impl BackchannelNotifier {
    pub fn new(policy: DeliveryPolicy) -> Result<Self, reqwest::Error> {
        // A redirect is not success and is not followed: the token goes only to the registered URI.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(policy.timeout)
            .user_agent(concat!("ferrid/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, policy: Arc::new(policy) })
    }

    /// Delivers `token` on a task of its own; the task's result says whether it arrived.
    fn spawn_delivery(
        &self,
        client_id: String,
        uri: Url,
        token: String,
        metrics: Arc<Metrics>,
    ) -> tokio::task::JoinHandle<bool> {
        let notifier = self.clone();
        tokio::spawn(async move {
            let delivered = notifier.deliver(&client_id, &uri, &token).await;
            metrics.backchannel_logout_delivery(delivered);
            delivered
        })
    }

    /// POSTs `logout_token` as a form (§2.5) until the client answers 200 (or 204, which some
    /// frameworks send instead, §2.8). 5xx, 429 and network errors are retried; any other answer
    /// is the client's refusal (§2.8: 400) and is final.
    async fn deliver(&self, client_id: &str, uri: &Url, token: &str) -> bool {
        let host = uri.host_str().unwrap_or_default();
        let attempts = self.policy.delays.len();
        for (attempt, delay) in self.policy.delays.iter().enumerate() {
            tokio::time::sleep(*delay).await;
            let attempt = attempt + 1;
            let outcome = self.http.post(uri.clone()).form(&[("logout_token", token)]).send().await;
            let retry = match outcome {
                Ok(response) if matches!(response.status().as_u16(), 200 | 204) => {
                    tracing::info!(client_id, host, attempt, "back-channel logout delivered");
                    return true;
                }
                Ok(response) => {
                    let status = response.status();
                    tracing::warn!(
                        client_id,
                        host,
                        attempt,
                        attempts,
                        status = status.as_u16(),
                        "back-channel logout refused"
                    );
                    status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                }
                Err(error) => {
                    // The error's text may quote the URI; its kind is enough.
                    let kind = if error.is_timeout() {
                        "timeout"
                    } else if error.is_connect() {
                        "connect"
                    } else {
                        "transport"
                    };
                    tracing::warn!(client_id, host, attempt, attempts, kind, "back-channel logout failed");
                    true
                }
            };
            if !retry {
                break;
            }
        }
        tracing::error!(client_id, host, "back-channel logout not delivered; giving up");
        false
    }
}

/// A user's sign-ins that just ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndedSignIns {
    /// OP sessions that ended: their recorded clients and refresh families are told.
    pub sids: Vec<String>,
    /// Clients whose refresh families were revoked, with the session each family came from.
    pub families: Vec<(String, Option<String>)>,
}

/// Tells every client that signed `user` in during `ended` (§2.5), without waiting: the lookups,
/// signing and delivery run on a spawned task, so the caller's response is never held up. The one
/// entry point for RP-initiated logout, ending a session, "log out everywhere" and any later
/// caller. Returns the task, which yields the deliveries it started.
pub fn notify_logout(
    state: &AppState,
    user: UserId,
    ended: EndedSignIns,
) -> tokio::task::JoinHandle<Vec<tokio::task::JoinHandle<bool>>> {
    let state = state.clone();
    tokio::spawn(async move {
        match dispatch(&state, user, ended).await {
            Ok(deliveries) => deliveries,
            Err(error) => {
                tracing::error!(%user, %error, "back-channel logout: cannot find the clients to tell");
                Vec::new()
            }
        }
    })
}

async fn dispatch(
    state: &AppState,
    user: UserId,
    ended: EndedSignIns,
) -> Result<Vec<tokio::task::JoinHandle<bool>>, StoreError> {
    let mut targets: BTreeSet<(String, Option<String>)> = BTreeSet::new();
    for sid in &ended.sids {
        let clients = take_session_clients(state.short_lived.as_ref(), sid).await?;
        targets.extend(clients.into_iter().map(|client_id| (client_id, Some(sid.clone()))));
    }
    let in_sessions = state.refresh_tokens.clients_in_sessions(user, &ended.sids).await?;
    targets.extend(in_sessions.into_iter().map(|(client_id, sid)| (client_id, Some(sid))));
    targets.extend(ended.families);

    let now = state.clock.now();
    let published = state.keys.current();
    let sub = user.to_string();
    let mut deliveries = Vec::new();
    let mut client: Option<Client> = None;
    for (client_id, sid) in targets {
        // Targets are sorted by client: look each client up once.
        if client.as_ref().is_none_or(|c| c.id.as_str() != client_id) {
            let Some(id) = ClientId::parse(&client_id) else { continue };
            client = match state.clients.find(&id).await {
                Ok(found) => Some(found),
                Err(error) => {
                    tracing::debug!(client_id, %error, "back-channel logout: client not found");
                    continue;
                }
            };
        }
        let Some(client) = &client else { continue };
        let Some(uri) = client.metadata.backchannel_logout_uri.clone() else { continue };
        if sid.is_none() && client.metadata.backchannel_logout_session_required {
            // §2.4: such a client must get `sid`, which this old grant does not know.
            tracing::warn!(client_id, "back-channel logout skipped: the client requires sid");
            continue;
        }
        let subject = LogoutSubject { sub: Some(&sub), sid: sid.as_deref() };
        match issue_logout_token(&published.ring, &state.config.issuer, client, subject, now) {
            Ok(token) => {
                deliveries.push(state.backchannel.spawn_delivery(client_id, uri, token, state.metrics.clone()));
            }
            Err(error) => tracing::error!(client_id, %error, "back-channel logout: cannot sign the token"),
        }
    }
    Ok(deliveries)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::short_lived::MemoryStore;

    fn issuer() -> Issuer {
        Issuer::parse("https://id.example").unwrap()
    }

    #[test]
    fn a_logout_token_has_the_claims_of_backchannel_logout_2_4_and_no_nonce() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let subject = LogoutSubject { sub: Some("user-1"), sid: Some("sid-1") };
        let claims = logout_token_claims(&issuer(), "client-1", subject, "jti-1", now);
        assert_eq!(
            Value::Object(claims),
            json!({
                "iss": "https://id.example",
                "aud": "client-1",
                "iat": now.timestamp(),
                "exp": now.timestamp() + 120,
                "jti": "jti-1",
                "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
                "sub": "user-1",
                "sid": "sid-1",
            })
        );
    }

    #[test]
    fn sub_or_sid_may_be_left_out_backchannel_logout_2_4() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let only_sub = logout_token_claims(&issuer(), "c", LogoutSubject { sub: Some("u"), sid: None }, "j", now);
        assert!(only_sub.contains_key("sub") && !only_sub.contains_key("sid"));
        let only_sid = logout_token_claims(&issuer(), "c", LogoutSubject { sub: None, sid: Some("s") }, "j", now);
        assert!(only_sid.contains_key("sid") && !only_sid.contains_key("sub"));
        assert!(!only_sid.contains_key("nonce"));
    }

    #[tokio::test]
    async fn a_session_records_each_client_once_and_is_taken_once() {
        let store = MemoryStore::new();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let (_, session) = OpSession::start(UserId::generate(), vec!["pwd".into()], now);
        for client in ["a", "b", "a"] {
            record_session_client(&store, &session, client, now).await.unwrap();
        }
        assert_eq!(take_session_clients(&store, &session.sid).await.unwrap(), ["a", "b"]);
        assert!(take_session_clients(&store, &session.sid).await.unwrap().is_empty());
        // An expired session records nothing.
        record_session_client(&store, &session, "c", session.expires_at).await.unwrap();
        assert!(take_session_clients(&store, &session.sid).await.unwrap().is_empty());
    }

    #[test]
    fn the_default_delivery_tries_three_times_with_backoff() {
        let policy = DeliveryPolicy::default();
        assert_eq!(policy.delays, [0, 1, 4].map(StdDuration::from_secs));
        assert_eq!(policy.timeout, StdDuration::from_secs(5));
    }
}
