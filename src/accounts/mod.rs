//! End-user accounts: who they are, how their password is checked, and the administrative
//! operations on them (the CLI and the admin API call these; the public flows come later).

mod access_control;
mod email_codes;
pub mod mfa;
mod password;
mod password_policy;
mod profile;
pub mod registration;
pub mod totp;
mod user;

use std::{sync::Arc, time::Duration};

pub use access_control::{
    AccessChange, AccessControl, AccessControlError, AccessEntry, AccessKind, AccessName, GroupId, GroupName, Link,
    NameError, PermissionId, PermissionName, RoleId, RoleName, UserAuthorization,
};
pub use email_codes::{CodeClaim, CodePurpose, EmailCodes, IssuedCode};
pub use mfa::{MfaError, SecondFactorAnswer, SecondFactors};
pub use password::{Password, PasswordError, PasswordHasher};
pub use password_policy::{MIN_PASSWORD_CHARS, PasswordPolicyError, check_new_password};
pub use profile::{ProfileEdit, ProfileEditError};
pub use user::{
    Email, EmailError, NewUser, ProfileError, ProfileField, User, UserChanges, UserId, UserQuery, normalize_phone,
};

use crate::{
    clock::Clock,
    ratelimit::lockout::SignInGuard,
    store::{
        StoreError,
        sql::{MfaFactorRepository, UserRepository},
    },
    ttl_cache::TtlCache,
};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Only administrative callers may see this; public endpoints must answer identically for
    /// taken and new emails (DESIGN §7.2).
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("no such user")]
    NotFound,
    /// Wrong email or password, or a disabled account: deliberately one answer (DESIGN §7.2).
    #[error("wrong email or password")]
    InvalidCredentials,
    /// The address must wait after failed sign-ins (`ratelimit::lockout`); the password was not
    /// checked. Answered exactly as [`Self::InvalidCredentials`]; the difference is for the
    /// audit log only.
    #[error("wrong email or password")]
    SignInDelayed,
    /// The right password, but the address is unverified and the configuration requires it:
    /// said only to whoever knows the password.
    #[error("the email address is not verified yet")]
    EmailNotVerified,
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AccountError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(_) => Self::EmailTaken,
            other => Self::Store(other),
        }
    }
}

/// The result of checking an email and password (see [`Accounts::check_password`]).
#[derive(Debug)]
pub enum PasswordCheck {
    Accepted(User),
    /// No such account, no password on it, or the wrong password: the account, if any.
    WrongPassword(Option<UserId>),
    /// The right password for a disabled account.
    Disabled(UserId),
    /// The right password, but the address is unverified and the configuration requires it.
    Unverified(UserId),
    /// Too soon after failed attempts for this address: the password was not checked.
    Delayed,
}

/// Administrative operations on accounts.
#[derive(Clone)]
pub struct Accounts {
    users: UserRepository,
    mfa_factors: MfaFactorRepository,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
    /// `FERRID_ALLOW_UNVERIFIED_LOGIN`.
    allow_unverified_login: bool,
    /// Delays and locks after failed password checks (issue 8 item 2).
    guard: SignInGuard,
    /// Users read by the token paths ([`Accounts::find_recent`]); every change made here forgets
    /// the user at once, a change made on another node is seen within [`RECENT_USER_TTL`].
    recent: Arc<TtlCache<UserId, User>>,
}

/// The longest a node serves a user record it read for userinfo or a refresh: a disabled or
/// edited account is seen by every node within this bound.
pub const RECENT_USER_TTL: Duration = Duration::from_secs(2);
/// Beyond this many cached users the cache starts over.
const RECENT_USERS_MAX: usize = 16_384;

impl Accounts {
    pub fn new(
        users: UserRepository,
        mfa_factors: MfaFactorRepository,
        hasher: PasswordHasher,
        clock: Arc<dyn Clock>,
        allow_unverified_login: bool,
        guard: SignInGuard,
    ) -> Self {
        let recent = Arc::new(TtlCache::new(RECENT_USER_TTL, RECENT_USERS_MAX));
        Self { users, mfa_factors, hasher, clock, allow_unverified_login, guard, recent }
    }

    /// Hashes a password the user chose (argon2id on the blocking pool).
    pub async fn hash_password(&self, password: Password) -> Result<String, AccountError> {
        Ok(self.hasher.hash(password).await?)
    }

    /// Creates a self-registered account: unverified, with an already hashed password.
    pub async fn insert_unverified(&self, new: &NewUser, password_hash: &str) -> Result<User, AccountError> {
        Ok(self.users.insert(new, Some(password_hash), false, self.clock.now()).await?)
    }

    /// Marks the address verified; `false` if it changed since the code was mailed (the proof was
    /// for the old one) or the account is gone.
    pub async fn mark_email_verified(&self, id: UserId, email: &Email) -> Result<bool, AccountError> {
        match self.users.find(id).await? {
            Some(user) if user.email.normalized() == email.normalized() => {
                let changes = UserChanges { email_verified: Some(true), ..UserChanges::default() };
                let updated = self.users.update(id, &changes, self.clock.now()).await?;
                self.recent.forget(&id);
                Ok(updated.is_some())
            }
            _ => Ok(false),
        }
    }

    /// Creates an account. An administrator vouches for the address, so it starts verified.
    pub async fn create_user(&self, new: NewUser, password: Option<Password>) -> Result<User, AccountError> {
        self.create_user_verified(new, password, true).await
    }

    /// Creates an account whose address is verified or not, as the administrator says.
    pub async fn create_user_verified(
        &self,
        new: NewUser,
        password: Option<Password>,
        email_verified: bool,
    ) -> Result<User, AccountError> {
        let password_hash = match password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        Ok(self.users.insert(&new, password_hash.as_deref(), email_verified, self.clock.now()).await?)
    }

    /// Checks an email and password. Takes the same time whether or not the account exists, is
    /// disabled, has a password or must wait after failed attempts, so the answer reveals
    /// nothing but "wrong email or password". Failures count per address (known or not) and
    /// delay further attempts; a success clears them.
    pub async fn authenticate(&self, email: &str, password: Password) -> Result<User, AccountError> {
        match self.check_password(email, password).await? {
            PasswordCheck::Accepted(user) => Ok(user),
            PasswordCheck::WrongPassword(_) | PasswordCheck::Disabled(_) => Err(AccountError::InvalidCredentials),
            PasswordCheck::Unverified(_) => Err(AccountError::EmailNotVerified),
            PasswordCheck::Delayed => Err(AccountError::SignInDelayed),
        }
    }

    /// Forgets failed sign-ins for `email` (after a password reset).
    pub async fn clear_sign_in_delays(&self, email: &Email) -> Result<(), AccountError> {
        Ok(self.guard.clear(email.normalized()).await?)
    }

    /// [`Accounts::authenticate`] with the refusal told apart, for the audit log only: a sign-in
    /// page answers `WrongPassword`, `Disabled` and `Delayed` alike (DESIGN §7.2). A disabled
    /// account is reported as such only with the right password.
    pub async fn check_password(&self, email: &str, password: Password) -> Result<PasswordCheck, AccountError> {
        let now = self.clock.now();
        if !self.guard.admits(email, now).await? {
            self.hasher.verify_decoy(password).await;
            return Ok(PasswordCheck::Delayed);
        }
        let check = self.verify_credentials(email, password).await?;
        match &check {
            // The password was right (an unverified address is told so, so this reveals nothing).
            PasswordCheck::Accepted(_) | PasswordCheck::Unverified(_) => self.guard.clear(email).await?,
            // A disabled account counts as a failure: its answer must not differ from a wrong one.
            PasswordCheck::WrongPassword(_) | PasswordCheck::Disabled(_) => {
                if let Some(not_before) = self.guard.failed(email, now).await? {
                    tracing::info!(%not_before, "sign-ins for an address wait after repeated failures");
                }
            }
            PasswordCheck::Delayed => {}
        }
        Ok(check)
    }

    async fn verify_credentials(&self, email: &str, password: Password) -> Result<PasswordCheck, AccountError> {
        let found = match Email::parse(email) {
            Ok(email) => self.users.find_credentials(&email).await?,
            Err(_) => None,
        };
        Ok(match found {
            Some((user, Some(hash))) => {
                if !self.hasher.verify(password, hash).await {
                    PasswordCheck::WrongPassword(Some(user.id))
                } else if user.disabled {
                    PasswordCheck::Disabled(user.id)
                } else if !user.email_verified && !self.allow_unverified_login {
                    PasswordCheck::Unverified(user.id)
                } else {
                    PasswordCheck::Accepted(user)
                }
            }
            Some((user, None)) => {
                self.hasher.verify_decoy(password).await;
                PasswordCheck::WrongPassword(Some(user.id))
            }
            None => {
                self.hasher.verify_decoy(password).await;
                PasswordCheck::WrongPassword(None)
            }
        })
    }

    pub async fn find(&self, id: UserId) -> Result<User, AccountError> {
        self.users.find(id).await?.ok_or(AccountError::NotFound)
    }

    /// [`Accounts::find`], served from memory for up to [`RECENT_USER_TTL`]: for the paths every
    /// token use takes (userinfo, refresh), which read the user and change nothing.
    pub async fn find_recent(&self, id: UserId) -> Result<User, AccountError> {
        if let Some(user) = self.recent.get(&id) {
            return Ok(user);
        }
        let user = self.find(id).await?;
        self.recent.put(id, user.clone());
        Ok(user)
    }

    pub async fn list_users(&self, offset: u64, limit: u64) -> Result<Vec<User>, AccountError> {
        Ok(self.users.list(offset, limit).await?)
    }

    /// One page of users by id; see [`UserQuery`].
    pub async fn search_users(&self, query: &UserQuery) -> Result<Vec<User>, AccountError> {
        Ok(self.users.search(query).await?)
    }

    /// Edits the profile; a new email must not belong to another account.
    /// Applies `changes`. A new address is unverified unless the change says otherwise: relying
    /// parties trust `email_verified`, and the old address's proof says nothing about the new one.
    pub async fn update_user(&self, id: UserId, changes: &UserChanges) -> Result<User, AccountError> {
        let current = self.find(id).await?;
        let mut changes = changes.clone();
        let address_changes =
            changes.email.as_ref().is_some_and(|email| email.normalized() != current.email.normalized());
        if address_changes && changes.email_verified.is_none() {
            changes.email_verified = Some(false);
        }
        let updated = self.users.update(id, &changes, self.clock.now()).await?;
        self.recent.forget(&id);
        updated.ok_or(AccountError::NotFound)
    }

    /// Deletes the account with everything that hangs off it. Signing the user out first (and
    /// telling relying parties) is the caller's business: see `oauth::user_admin`.
    pub async fn delete_user(&self, id: UserId) -> Result<(), AccountError> {
        let deleted = self.users.delete(id).await?;
        self.recent.forget(&id);
        if deleted { Ok(()) } else { Err(AccountError::NotFound) }
    }

    /// How many second factors (TOTP secrets, recovery codes) the user has.
    pub async fn second_factors(&self, id: UserId) -> Result<u64, AccountError> {
        Ok(self.mfa_factors.count_for_user(id).await?)
    }

    /// Removes every second factor of the user; returns how many there were.
    pub async fn reset_second_factors(&self, id: UserId) -> Result<u64, AccountError> {
        Ok(self.mfa_factors.delete_for_user(id).await?)
    }

    pub async fn find_by_email(&self, email: &Email) -> Result<User, AccountError> {
        self.users.find_by_email(email).await?.ok_or(AccountError::NotFound)
    }

    /// Enabled, verified users with this phone number (see [`normalize_phone`]); at most `limit`.
    pub async fn find_verified_by_phone(&self, phone: &str, limit: u64) -> Result<Vec<User>, AccountError> {
        Ok(self.users.find_verified_by_phone(phone, limit).await?)
    }

    pub async fn set_disabled(&self, id: UserId, disabled: bool) -> Result<(), AccountError> {
        let changed = self.users.set_disabled(id, disabled, self.clock.now()).await?;
        self.recent.forget(&id);
        if changed { Ok(()) } else { Err(AccountError::NotFound) }
    }

    pub async fn set_password(&self, id: UserId, password: Password) -> Result<(), AccountError> {
        let hash = self.hasher.hash(password).await?;
        let changed = self.users.set_password_hash(id, &hash, self.clock.now()).await?;
        self.recent.forget(&id);
        if changed { Ok(()) } else { Err(AccountError::NotFound) }
    }
}
