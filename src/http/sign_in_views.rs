//! The wire shapes of a user's sign-ins, shared by the account API (`/api/me/...`) and the
//! admin API (`/api/admin/users/{user_id}/...`) so both describe sessions and grants alike.

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use crate::{
    oauth::sign_ins::{LoggedOutEverywhere, SignIns},
    store::sql::{GrantSummary, SessionSummary, SignInRecord},
};

/// A browser signed in at ferrid.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BrowserSession {
    /// The session id (also the ID tokens' `sid`).
    pub sid: String,
    pub created_at: DateTime<Utc>,
    /// Last use, to the minute.
    pub last_seen_at: DateTime<Utc>,
    pub auth_time: DateTime<Utc>,
    /// How the user signed in (RFC 8176), e.g. `pwd`.
    pub amr: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl From<SessionSummary> for BrowserSession {
    fn from(s: SessionSummary) -> Self {
        Self {
            sid: s.sid,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            auth_time: s.auth_time,
            amr: s.amr,
            ip: s.ip,
            user_agent: s.user_agent,
        }
    }
}

/// An application holding a refresh token for the user.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApplicationGrant {
    /// The refresh-token family: the `{id}` that revokes this application's access.
    pub id: String,
    pub client_id: String,
    pub scope: String,
    pub created_at: DateTime<Utc>,
    /// The last refresh.
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// How the user signed in for this grant (RFC 8176).
    pub amr: Vec<String>,
    /// Where the last refresh came from.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl From<GrantSummary> for ApplicationGrant {
    fn from(g: GrantSummary) -> Self {
        Self {
            id: g.family_id.as_str().to_owned(),
            client_id: g.client_id,
            scope: g.scope,
            created_at: g.created_at,
            last_used_at: g.last_used_at,
            expires_at: g.expires_at,
            amr: g.amr,
            ip: g.ip,
            user_agent: g.user_agent,
        }
    }
}

/// A past or present sign-in, for the user's history.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PastSignIn {
    pub signed_in_at: DateTime<Utc>,
    /// How the user signed in (RFC 8176).
    pub amr: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `active`, `ended` (signed out) or `expired`.
    pub status: String,
    pub ended_at: Option<DateTime<Utc>>,
}

impl PastSignIn {
    pub fn from_record(record: SignInRecord, now: DateTime<Utc>) -> Self {
        let status = match record.ended_at {
            Some(_) => "ended",
            None if record.expires_at <= now => "expired",
            None => "active",
        };
        Self {
            signed_in_at: record.signed_in_at,
            amr: record.amr,
            ip: record.ip,
            user_agent: record.user_agent,
            status: status.to_owned(),
            ended_at: record.ended_at,
        }
    }
}

/// Where a user is signed in, as an administrator sees it.
#[derive(Object)]
pub struct UserSignIns {
    pub sessions: Vec<BrowserSession>,
    pub applications: Vec<ApplicationGrant>,
    /// The latest sign-ins, newest first, live or not.
    pub recent_sign_ins: Vec<PastSignIn>,
}

impl UserSignIns {
    pub fn new(sign_ins: SignIns, now: DateTime<Utc>) -> Self {
        Self {
            sessions: sign_ins.sessions.into_iter().map(Into::into).collect(),
            applications: sign_ins.applications.into_iter().map(Into::into).collect(),
            recent_sign_ins: sign_ins.recent.into_iter().map(|r| PastSignIn::from_record(r, now)).collect(),
        }
    }
}

/// What "log out everywhere" ended.
#[derive(Object)]
#[oai(example = true)]
pub struct LoggedOut {
    pub sessions_ended: u64,
    pub applications_revoked: u64,
}

impl poem_openapi::types::Example for LoggedOut {
    fn example() -> Self {
        Self { sessions_ended: 2, applications_revoked: 3 }
    }
}

impl From<LoggedOutEverywhere> for LoggedOut {
    fn from(done: LoggedOutEverywhere) -> Self {
        Self { sessions_ended: done.sessions, applications_revoked: done.applications }
    }
}
