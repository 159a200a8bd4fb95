//! The audit log: one append-only record per change (and per refused attempt worth knowing
//! about), saying who did what to whom, from where, and how it ended. Records never hold
//! secrets: callers pass identifiers and the names of changed fields, never values like
//! passwords, client secrets or tokens.

use std::{
    fmt,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use uuid::{ContextV7, Uuid};

use crate::{
    accounts::UserId,
    clock::Clock,
    metrics::Metrics,
    oauth::session::RequestOrigin,
    store::{StoreError, sql::AuditRepository},
};

/// Every event kind ferrid writes: `<area>.<object>.<action>`, stable names to query by.
pub mod kinds {
    pub const ADMIN_CLIENT_CREATE: &str = "admin.client.create";
    pub const ADMIN_CLIENT_UPDATE: &str = "admin.client.update";
    pub const ADMIN_CLIENT_DELETE: &str = "admin.client.delete";
    pub const ADMIN_CLIENT_SECRET_ROTATE: &str = "admin.client.rotate_secret";
    pub const ADMIN_USER_CREATE: &str = "admin.user.create";
    pub const ADMIN_USER_UPDATE: &str = "admin.user.update";
    pub const ADMIN_USER_DISABLE: &str = "admin.user.disable";
    pub const ADMIN_USER_ENABLE: &str = "admin.user.enable";
    pub const ADMIN_USER_DELETE: &str = "admin.user.delete";
    pub const ADMIN_USER_PASSWORD_RESET: &str = "admin.user.reset_password";
    pub const ADMIN_USER_MFA_RESET: &str = "admin.user.reset_mfa";
    pub const ADMIN_SESSION_END: &str = "admin.session.end";
    pub const ADMIN_APPLICATION_REVOKE: &str = "admin.application.revoke";
    pub const ADMIN_LOGOUT_EVERYWHERE: &str = "admin.user.logout_everywhere";
    pub const ADMIN_ROLE_CREATE: &str = "admin.role.create";
    pub const ADMIN_ROLE_UPDATE: &str = "admin.role.update";
    pub const ADMIN_ROLE_DELETE: &str = "admin.role.delete";
    pub const ADMIN_ROLE_ASSIGN: &str = "admin.role.assign";
    pub const ADMIN_ROLE_UNASSIGN: &str = "admin.role.unassign";
    pub const ADMIN_GROUP_CREATE: &str = "admin.group.create";
    pub const ADMIN_GROUP_UPDATE: &str = "admin.group.update";
    pub const ADMIN_GROUP_DELETE: &str = "admin.group.delete";
    pub const ADMIN_GROUP_ADD_MEMBER: &str = "admin.group.add_member";
    pub const ADMIN_GROUP_REMOVE_MEMBER: &str = "admin.group.remove_member";
    pub const ADMIN_PERMISSION_CREATE: &str = "admin.permission.create";
    pub const ADMIN_PERMISSION_UPDATE: &str = "admin.permission.update";
    pub const ADMIN_PERMISSION_DELETE: &str = "admin.permission.delete";
    pub const ADMIN_PERMISSION_GRANT: &str = "admin.permission.grant";
    pub const ADMIN_PERMISSION_REVOKE: &str = "admin.permission.revoke";
    pub const ADMIN_KEY_ROTATE: &str = "admin.key.rotate";
    pub const ADMIN_KEY_REVOKE: &str = "admin.key.revoke";
    /// A key created, promoted or removed by the rotation schedule (ferrid itself).
    pub const KEY_ROTATE_SCHEDULED: &str = "key.rotate.scheduled";
    /// Dynamic client registration (RFC 7591) and management (RFC 7592), by the client itself.
    pub const CLIENT_REGISTER: &str = "client.register";
    pub const CLIENT_REGISTRATION_UPDATE: &str = "client.registration.update";
    pub const CLIENT_REGISTRATION_DELETE: &str = "client.registration.delete";
    /// Two-step verification by the user: enrolment, removal, new recovery codes, and each
    /// second-step answer (success or failure; never the code).
    pub const MFA_TOTP_ENROLLED: &str = "mfa.totp.enrolled";
    pub const MFA_TOTP_DISABLED: &str = "mfa.totp.disabled";
    pub const MFA_RECOVERY_CODES_REGENERATED: &str = "mfa.recovery_codes.regenerated";
    pub const MFA_VERIFY: &str = "mfa.verify";
    /// Password reset by mail and the "which email do I use" hint, by the account owner.
    pub const PASSWORD_RESET_REQUESTED: &str = "password.reset_requested";
    pub const PASSWORD_RESET: &str = "password.reset";
    pub const EMAIL_HINT_SENT: &str = "account.email_hint";
    /// The signed-in user's own changes (`/api/users/me`).
    pub const PROFILE_UPDATE: &str = "account.profile.update";
    pub const EMAIL_CHANGE_REQUESTED: &str = "account.email.change_requested";
    pub const EMAIL_CHANGE: &str = "account.email.change";
    pub const PASSWORD_CHANGE: &str = "password.change";
    /// The first administrator, created at start-up from the configuration.
    pub const BOOTSTRAP_ADMIN: &str = "bootstrap.admin.create";

    // Self-service accounts and the first-party login API (issue 7).
    pub const ACCOUNT_REGISTER: &str = "account.register";
    /// A registration with an address that already has an account (its owner is told by mail).
    pub const ACCOUNT_REGISTER_EXISTING: &str = "account.register.existing";
    pub const ACCOUNT_EMAIL_VERIFIED: &str = "account.email.verified";
    pub const AUTH_LOGIN: &str = "auth.login";
    pub const AUTH_LOGOUT: &str = "auth.logout";
    pub const AUTH_LOGOUT_ALL: &str = "auth.logout_all";
    /// A refresh token used from a new network or user agent (issue 8 item 6); a failure when
    /// the client's policy refused it and revoked the grant.
    pub const TOKEN_REFRESH_NEW_ORIGIN: &str = "token.refresh.new_origin";

    // Sign-in through upstream OpenID Connect providers (issue 9); failures carry the reason.
    pub const FEDERATION_LOGIN: &str = "federation.login";
    pub const FEDERATION_USER_CREATE: &str = "federation.user.create";
    pub const FEDERATION_LINK: &str = "federation.identity.link";
    pub const FEDERATION_UNLINK: &str = "federation.identity.unlink";

    // Tokens and sessions (issue 8 item 5).
    /// Tokens issued: at /token per grant (`details.grant_type`), or to the first-party app.
    pub const TOKEN_ISSUE: &str = "token.issue";
    /// A client that failed to authenticate at /token (`details.method`, `details.error`).
    pub const CLIENT_AUTHENTICATE: &str = "client.authenticate";
    /// RFC 7009 revocation by the client (`details.token_type`).
    pub const TOKEN_REVOKE: &str = "token.revoke";
    /// A spent refresh token presented again: its family is revoked (RFC 9700 §4.14.2).
    pub const TOKEN_REUSE_DETECTED: &str = "token.reuse_detected";
    /// RP-Initiated Logout (`/logout`): the OP session ended.
    pub const SESSION_LOGOUT: &str = "session.logout";
}

/// The most records one query returns.
pub const MAX_PAGE: u64 = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "success" => Some(Self::Success),
            "failure" => Some(Self::Failure),
            _ => None,
        }
    }
}

/// Who acted: the token's subject (a user id, or the client itself for client_credentials) and
/// the client that obtained the token, plus where the request came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    /// The acting user, when a person acted (absent for service clients and for ferrid itself).
    pub user: Option<String>,
    pub client_id: Option<String>,
    pub origin: RequestOrigin,
}

impl Actor {
    /// ferrid itself (start-up bootstrap, the CLI, background work).
    pub fn system() -> Self {
        Self::default()
    }
}

/// One event, as recorded. `kind` is a dotted name such as `admin.client.create`.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub kind: &'static str,
    pub outcome: Outcome,
    pub actor: Actor,
    /// The user the event is about.
    pub subject_user: Option<UserId>,
    /// The client the event is about.
    pub client_id: Option<String>,
    /// Anything else acted on: `role:admin`, `key:<kid>`, `group:ops`.
    pub target: Option<String>,
    /// Non-secret detail: changed field names, reasons, counts.
    pub details: Option<serde_json::Value>,
}

impl AuditEvent {
    pub fn new(kind: &'static str, actor: &Actor) -> Self {
        Self {
            kind,
            outcome: Outcome::Success,
            actor: actor.clone(),
            subject_user: None,
            client_id: None,
            target: None,
            details: None,
        }
    }

    pub fn failed(mut self) -> Self {
        self.outcome = Outcome::Failure;
        self
    }

    pub fn user(mut self, user: UserId) -> Self {
        self.subject_user = Some(user);
        self
    }

    pub fn client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    pub fn target(mut self, target: impl fmt::Display) -> Self {
        self.target = Some(target.to_string());
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
}

/// A stored event.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub event: StoredEvent,
}

/// [`AuditEvent`] as read back: the kind is any string a past version wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub kind: String,
    pub outcome: Outcome,
    pub actor: Actor,
    pub subject_user: Option<UserId>,
    pub client_id: Option<String>,
    pub target: Option<String>,
    pub details: Option<serde_json::Value>,
}

/// A query: every filter is optional; results are newest first, `limit` at most [`MAX_PAGE`],
/// and `before` is the id of the last record of the previous page (keyset paging, stable while
/// new events arrive).
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub user: Option<UserId>,
    pub client_id: Option<String>,
    pub kind: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<Uuid>,
    pub limit: u64,
}

/// Why a sign-in failed, for the log; the person signing in is told less (no enumeration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInFailure {
    /// No such account, or the wrong password: deliberately one reason.
    UnknownOrWrongPassword,
    Disabled,
    Unverified,
    /// The password was right, the second step failed (wrong code, or out of attempts).
    MfaFailed,
    /// Too soon after failed attempts for this address (brute-force delay or lock).
    Locked,
    /// Over a sign-in rate limit (per IP, or per IP and address).
    RateLimited,
}

impl SignInFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownOrWrongPassword => "unknown_or_wrong_password",
            Self::Disabled => "disabled",
            Self::Unverified => "unverified",
            Self::MfaFailed => "mfa_failed",
            Self::Locked => "locked",
            Self::RateLimited => "rate_limited",
        }
    }

    /// Why a password check refused, with the account it identified; `None` when it passed.
    pub fn of(check: &crate::accounts::PasswordCheck) -> Option<(Self, Option<UserId>)> {
        use crate::accounts::PasswordCheck;
        match check {
            PasswordCheck::Accepted(_) => None,
            PasswordCheck::WrongPassword(user) => Some((Self::UnknownOrWrongPassword, *user)),
            PasswordCheck::Disabled(user) => Some((Self::Disabled, Some(*user))),
            PasswordCheck::Unverified(user) => Some((Self::Unverified, Some(*user))),
            PasswordCheck::Delayed => Some((Self::Locked, None)),
        }
    }
}

/// Where someone signed in: the OP's login page (for a relying party) or the first-party API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInChannel {
    LoginPage,
    LoginApi,
}

/// One sign-in attempt as [`AuditLog::sign_in`] records it.
#[derive(Clone, Debug)]
pub struct SignInAttempt {
    pub channel: SignInChannel,
    /// The client the person signs in to.
    pub client_id: String,
    /// The account, when one was identified (even on failure; never told to the caller).
    pub user: Option<UserId>,
    pub origin: RequestOrigin,
    pub result: Result<(), SignInFailure>,
}

#[derive(Clone)]
pub struct AuditLog {
    repository: AuditRepository,
    clock: Arc<dyn Clock>,
    /// Sign-in attempts are also counted, by outcome, for /metrics.
    metrics: Arc<Metrics>,
    /// Keeps this node's ids strictly increasing within one millisecond, so "newest first"
    /// holds for events recorded in quick succession.
    ids: Arc<Mutex<ContextV7>>,
}

/// One record as written: its id, when it happened, and the event.
pub type AuditRow = (Uuid, DateTime<Utc>, AuditEvent);

impl AuditLog {
    pub fn new(repository: AuditRepository, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Self {
        let ids = Arc::new(Mutex::new(ContextV7::new().with_additional_precision()));
        Self { repository, clock, metrics, ids }
    }

    /// Appends `event` and returns once it is committed: records made at the same time share one
    /// commit, with the refresh-token rotations of the moment (`store::sql::Writer`). A change
    /// that happened is not undone when its record cannot be written; the failure is logged
    /// loudly (with the event, which holds no secrets) instead.
    pub async fn record(&self, event: AuditEvent) {
        let now = self.clock.now();
        // UUIDv7 from the log's clock, so ids sort like `occurred_at` even under a test clock.
        self.repository.append((uuid_v7_at(&self.ids, now), now, event)).await;
    }

    /// Every sign-in attempt, on every channel, is recorded here (`auth.login`): one place decides
    /// its fields, so a new refusal reason is added once. The actor is the user only on success.
    pub async fn sign_in(&self, attempt: SignInAttempt) {
        let channel = match attempt.channel {
            SignInChannel::LoginPage => "login_page",
            SignInChannel::LoginApi => "login_api",
        };
        let succeeded = attempt.result.is_ok();
        self.metrics.sign_in(channel, attempt.result.map_or_else(SignInFailure::as_str, |()| "success"));
        let actor = Actor {
            user: attempt.user.filter(|_| succeeded).map(|user| user.to_string()),
            client_id: Some(attempt.client_id.clone()),
            origin: attempt.origin,
        };
        let mut event = AuditEvent::new(kinds::AUTH_LOGIN, &actor).client(attempt.client_id);
        event.subject_user = attempt.user;
        let details = match attempt.result {
            Ok(()) => serde_json::json!({ "channel": channel }),
            Err(reason) => {
                event = event.failed();
                serde_json::json!({ "channel": channel, "reason": reason.as_str() })
            }
        };
        self.record(event.details(details)).await;
    }

    pub async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let limit = query.limit.clamp(1, MAX_PAGE);
        self.repository.query(query, limit).await
    }

    /// Deletes up to `limit` records older than `cutoff`; returns how many.
    pub async fn delete_older_than(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        self.repository.delete_older_than(cutoff, limit).await
    }
}

fn uuid_v7_at(context: &Mutex<ContextV7>, at: DateTime<Utc>) -> Uuid {
    let seconds = u64::try_from(at.timestamp()).unwrap_or(0);
    Uuid::new_v7(uuid::Timestamp::from_unix(context, seconds, at.timestamp_subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_with_time_even_within_one_millisecond() {
        let context = Mutex::new(ContextV7::new().with_additional_precision());
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let ids: Vec<Uuid> = (0..100).map(|_| uuid_v7_at(&context, at)).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(ids[99] < uuid_v7_at(&context, at + chrono::Duration::milliseconds(1)));
    }
}
