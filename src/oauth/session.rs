//! The OP session: a browser's sign-in at ferrid, so that a second /authorize needs no login
//! (SSO) while `max_age` and `prompt=login` can still demand a fresh one (OIDC Core §3.1.2.1).
//! The browser holds a random cookie; the database holds only its digest.

use chrono::{DateTime, Duration, Utc};
use keys::{OpaqueSecret, SecretDigest};

use crate::accounts::UserId;

/// How long a browser stays signed in at ferrid without signing in again.
pub const SESSION_LIFETIME: Duration = Duration::days(14);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpSession {
    /// Digest of the cookie value (the primary key).
    pub id: SecretDigest,
    /// The public session id: the ID token's `sid` (OIDC Front/Back-Channel Logout §2).
    pub sid: String,
    pub user_id: UserId,
    pub auth_time: DateTime<Utc>,
    /// Authentication methods (RFC 8176), e.g. `["pwd"]`.
    pub amr: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// When the browser last used the session, to within [`LAST_SEEN_GRANULARITY`].
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The session list shows last use to the minute: recording it more often would turn every SSO
/// request into a database write.
pub const LAST_SEEN_GRANULARITY: Duration = Duration::minutes(1);

/// Where a request came from (a session's start, a refresh token's issue), for the user's lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestOrigin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl OpSession {
    /// A session for `user_id` who just authenticated with `amr`; returns the cookie value.
    pub fn start(user_id: UserId, amr: Vec<String>, now: DateTime<Utc>) -> (OpaqueSecret, Self) {
        let cookie = OpaqueSecret::generate();
        let session = Self {
            id: cookie.digest(),
            sid: keys::random_id(16),
            user_id,
            auth_time: now,
            amr,
            created_at: now,
            last_seen_at: now,
            expires_at: now + SESSION_LIFETIME,
        };
        (cookie, session)
    }

    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }

    /// Whether a use at `now` should be recorded as the session's last use.
    pub fn last_seen_is_stale(&self, now: DateTime<Utc>) -> bool {
        now - self.last_seen_at >= LAST_SEEN_GRANULARITY
    }

    /// Whether the sign-in is recent enough for `max_age` seconds (OIDC Core §3.1.2.1).
    pub fn satisfies_max_age(&self, max_age: Option<u64>, now: DateTime<Utc>) -> bool {
        match max_age {
            None => true,
            Some(max_age) => {
                let age = now.signed_duration_since(self.auth_time).num_seconds();
                u64::try_from(age).map_or(true, |age| age <= max_age)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn max_age_compares_with_the_authentication_time_oidc_core_3_1_2_1() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let (_, session) = OpSession::start(UserId::generate(), vec!["pwd".into()], t0);
        let later = t0 + Duration::seconds(300);
        assert!(session.satisfies_max_age(None, later));
        assert!(session.satisfies_max_age(Some(300), later));
        assert!(!session.satisfies_max_age(Some(299), later));
        assert!(session.satisfies_max_age(Some(0), t0), "max_age=0 right after login");
        assert!(session.is_live(later) && !session.is_live(t0 + SESSION_LIFETIME));
    }
}
