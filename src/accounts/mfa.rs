//! Second factors: TOTP enrolment and confirmation, recovery codes, verification with replay
//! protection, and the short-lived challenge between a correct password and the second step.
//!
//! A code is accepted at most once, also under concurrent requests and across nodes (DESIGN
//! §7.1): the database accepts a TOTP time step only if it is later than the last accepted one,
//! and a recovery code only for the request whose delete removed it.

use std::{fmt, sync::Arc, time::Duration};

use keys::{Kek, MacKey, OpaqueSecret};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    User, UserId,
    totp::{self, TotpError, TotpSecret},
};
use crate::{
    clock::Clock,
    ratelimit::{RateLimiter, Scope},
    store::{ShortLivedStore, StoreError, sql::MfaFactorRepository},
};

/// Recovery codes handed out at confirmation and at each regeneration.
pub const RECOVERY_CODES: usize = 10;
/// How long the second step may take after the password.
pub const CHALLENGE_LIFETIME: Duration = Duration::from_secs(300);

/// Answers the account API checks per user in [`ATTEMPT_WINDOW`] (confirm, disable,
/// regenerate), so a stolen access token cannot guess codes: 3 valid codes in 10^6.
pub const ACCOUNT_ATTEMPTS: u64 = 10;
pub const ATTEMPT_WINDOW: Duration = Duration::from_secs(900);

/// Crockford's base32 alphabet: no i, l, o or u to misread.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const RECOVERY_LENGTH: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("two-step verification is already enabled")]
    AlreadyEnabled,
    #[error("two-step verification is not enabled")]
    NotEnabled,
    /// No enrolment waits for confirmation (never started, replaced, or already confirmed).
    #[error("there is no enrolment to confirm")]
    NoPendingEnrolment,
    #[error("the code is wrong or was already used")]
    WrongCode,
    #[error("too many attempts; try again later")]
    TooManyAttempts,
    #[error("the TOTP secret cannot be opened")]
    Key(#[from] keys::KeyError),
    #[error(transparent)]
    Totp(#[from] TotpError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the user presented as their second factor.
#[derive(Clone)]
pub enum SecondFactorAnswer {
    Code(String),
    RecoveryCode(String),
}

impl fmt::Debug for SecondFactorAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(_) => f.write_str("Code([redacted])"),
            Self::RecoveryCode(_) => f.write_str("RecoveryCode([redacted])"),
        }
    }
}

impl SecondFactorAnswer {
    /// From two optional form or JSON fields; a recovery code wins when both are filled.
    pub fn from_fields(code: Option<&str>, recovery_code: Option<&str>) -> Option<Self> {
        let filled = |value: Option<&str>| value.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        filled(recovery_code).map(Self::RecoveryCode).or_else(|| filled(code).map(Self::Code))
    }
}

/// Which factor an accepted answer used (RFC 8176 `amr` is `otp` for both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsedFactor {
    Totp,
    RecoveryCode,
}

impl UsedFactor {
    /// For audit details.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
        }
    }
}

/// A started enrolment: what the authenticator app needs. Shown once.
pub struct TotpEnrolment {
    pub otpauth_uri: String,
    pub qr_code: String,
    pub secret_base32: String,
}

impl fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpEnrolment([redacted])")
    }
}

/// Recovery codes in clear, `xxxx-xxxx-xx`; only their digests are stored.
pub struct RecoveryCodes(pub Vec<String>);

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodes([{} redacted])", self.0.len())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MfaStatus {
    pub totp_enabled: bool,
    pub recovery_codes_left: u64,
}

/// The users' second factors.
#[derive(Clone)]
pub struct SecondFactors {
    factors: MfaFactorRepository,
    store: Arc<dyn ShortLivedStore>,
    kek: Arc<Kek>,
    /// Keys the recovery codes' digests: 50 bits are too few for a plain hash to hide them.
    recovery_key: MacKey,
    clock: Arc<dyn Clock>,
    /// The issuer shown in authenticator apps.
    issuer_label: String,
    /// Counts the answers to each challenge (scope `otp_challenge`, 5 by default).
    limiter: RateLimiter,
}

impl SecondFactors {
    pub fn new(
        factors: MfaFactorRepository,
        store: Arc<dyn ShortLivedStore>,
        kek: Arc<Kek>,
        clock: Arc<dyn Clock>,
        issuer_label: String,
        limiter: RateLimiter,
    ) -> Self {
        let recovery_key = kek.mac_key("mfa-recovery-code");
        Self { factors, store, kek, recovery_key, clock, issuer_label, limiter }
    }

    /// Answers a challenge survives; the last wrong one ends it (`otp_challenge` in
    /// `FERRID_RATE_LIMITS`).
    pub fn challenge_attempts(&self) -> u64 {
        self.limiter.limit(Scope::OtpChallenge).max
    }

    pub async fn status(&self, user: UserId) -> Result<MfaStatus, MfaError> {
        let totp_enabled = self.is_enabled(user).await?;
        let recovery_codes_left = if totp_enabled { self.factors.count_recovery_codes(user).await? } else { 0 };
        Ok(MfaStatus { totp_enabled, recovery_codes_left })
    }

    /// Whether sign-in needs a second step for `user`.
    pub async fn is_enabled(&self, user: UserId) -> Result<bool, MfaError> {
        Ok(self.factors.find_totp(user).await?.is_some_and(|factor| factor.confirmed))
    }

    /// Starts (or restarts) enrolment: a fresh secret, sealed, unconfirmed until
    /// [`Self::confirm_totp`]. Refused while a confirmed factor exists.
    #[tracing::instrument(skip_all, fields(user = %user.id))]
    pub async fn enrol_totp(&self, user: &User) -> Result<TotpEnrolment, MfaError> {
        if self.is_enabled(user.id).await? {
            return Err(MfaError::AlreadyEnabled);
        }
        let secret = TotpSecret::generate()?;
        let id = Uuid::now_v7();
        let sealed = keys::seal(&self.kek, secret.expose(), &aad(id))?;
        match self.factors.replace_unconfirmed_totp(user.id, id, sealed, self.clock.now()).await {
            Err(StoreError::Conflict(_)) => return Err(MfaError::AlreadyEnabled),
            other => other?,
        }
        let otpauth_uri = totp::provisioning_uri(&secret, &self.issuer_label, &user.email.to_string())?;
        let qr_code = totp::qr_code_data_url(&otpauth_uri)?;
        Ok(TotpEnrolment { otpauth_uri, qr_code, secret_base32: secret.base32() })
    }

    /// Confirms enrolment with a first valid code (proving the app holds the secret) and hands
    /// out the recovery codes.
    #[tracing::instrument(skip_all, fields(user = %user))]
    pub async fn confirm_totp(&self, user: UserId, code: &str) -> Result<RecoveryCodes, MfaError> {
        let factor = match self.factors.find_totp(user).await? {
            Some(factor) if !factor.confirmed => factor,
            _ => return Err(MfaError::NoPendingEnrolment),
        };
        self.count_attempt(user).await?;
        let secret = self.open(factor.id, &factor.sealed_secret)?;
        let step = secret.check(code, self.clock.now()).ok_or(MfaError::WrongCode)?;
        let codes = generate_recovery_codes()?;
        let digests: Vec<String> = codes.iter().map(|code| self.recovery_digest(user, code)).collect();
        let now = self.clock.now();
        if !self.factors.confirm_totp(user, factor.id, totp::step_start(step), &digests, now).await? {
            return Err(MfaError::NoPendingEnrolment);
        }
        Ok(RecoveryCodes(codes))
    }

    /// Checks a second-factor answer and spends it: `Ok(None)` for a wrong, replayed or spent
    /// answer, or when the user has no confirmed factor.
    #[tracing::instrument(skip_all, fields(user = %user))]
    pub async fn verify(&self, user: UserId, answer: &SecondFactorAnswer) -> Result<Option<UsedFactor>, MfaError> {
        let factor = match self.factors.find_totp(user).await? {
            Some(factor) if factor.confirmed => factor,
            _ => return Ok(None),
        };
        match answer {
            SecondFactorAnswer::Code(code) => {
                let secret = self.open(factor.id, &factor.sealed_secret)?;
                let Some(step) = secret.check(code, self.clock.now()) else { return Ok(None) };
                let fresh = self.factors.accept_totp_step(factor.id, totp::step_start(step)).await?;
                Ok(fresh.then_some(UsedFactor::Totp))
            }
            SecondFactorAnswer::RecoveryCode(code) => {
                let Some(normalized) = normalize_recovery_code(code) else { return Ok(None) };
                let spent = self.factors.spend_recovery_code(user, &self.recovery_digest(user, &normalized)).await?;
                Ok(spent.then_some(UsedFactor::RecoveryCode))
            }
        }
    }

    /// Removes TOTP and the recovery codes, after a current code (or a recovery code).
    pub async fn disable_totp(&self, user: UserId, answer: &SecondFactorAnswer) -> Result<(), MfaError> {
        self.require(user, answer).await?;
        self.factors.delete_for_user(user).await?;
        Ok(())
    }

    /// Replaces the recovery codes, after a current code.
    pub async fn regenerate_recovery_codes(
        &self,
        user: UserId,
        answer: &SecondFactorAnswer,
    ) -> Result<RecoveryCodes, MfaError> {
        self.require(user, answer).await?;
        let codes = generate_recovery_codes()?;
        let digests: Vec<String> = codes.iter().map(|code| self.recovery_digest(user, code)).collect();
        self.factors.replace_recovery_codes(user, &digests, self.clock.now()).await?;
        Ok(RecoveryCodes(codes))
    }

    async fn require(&self, user: UserId, answer: &SecondFactorAnswer) -> Result<UsedFactor, MfaError> {
        if !self.is_enabled(user).await? {
            return Err(MfaError::NotEnabled);
        }
        self.count_attempt(user).await?;
        self.verify(user, answer).await?.ok_or(MfaError::WrongCode)
    }

    async fn count_attempt(&self, user: UserId) -> Result<(), MfaError> {
        let counter = self.store.increment(&format!("mfa-attempts:{user}"), ATTEMPT_WINDOW).await?;
        if counter.count > ACCOUNT_ATTEMPTS { Err(MfaError::TooManyAttempts) } else { Ok(()) }
    }

    /// A recovery code's at-rest form: keyed (the database alone cannot reverse it) and bound
    /// to its user, so equal codes of two users differ.
    fn recovery_digest(&self, user: UserId, code: &str) -> String {
        self.recovery_key.tag(format!("{user}\0{code}").as_bytes())
    }

    fn open(&self, id: Uuid, sealed: &[u8]) -> Result<TotpSecret, MfaError> {
        Ok(TotpSecret::from_bytes(keys::open(&self.kek, sealed, &aad(id))?))
    }

    /// After a correct password: for a user with two-step verification, opens the challenge
    /// the second step answers (the password alone signs nothing in); `None` for everyone else.
    pub async fn challenge_after_password(&self, pending: PendingSecondStep) -> Result<Option<OpaqueSecret>, MfaError> {
        if !self.is_enabled(pending.user()).await? {
            return Ok(None);
        }
        self.start_challenge(pending).await.map(Some)
    }

    /// Starts the second step after a correct password.
    pub async fn start_challenge(&self, pending: PendingSecondStep) -> Result<OpaqueSecret, MfaError> {
        let token = OpaqueSecret::generate();
        let value = serde_json::to_vec(&pending).map_err(|_| StoreError::Malformed("mfa challenge"))?;
        self.store.put(&challenge_key(&token), &value, CHALLENGE_LIFETIME).await?;
        Ok(token)
    }

    /// Answers the challenge behind `token` for what it was opened to resume: a login page's
    /// challenge does not complete an API login, nor another authorization request, and the
    /// reverse. Every attempt counts before it is checked, so concurrent guesses cannot exceed
    /// [`Self::challenge_attempts`]; the last wrong one ends the challenge, and success takes it (one
    /// request completes a challenge).
    #[tracing::instrument(skip_all)]
    pub async fn answer_challenge(
        &self,
        token: &str,
        resume: &Resume,
        answer: &SecondFactorAnswer,
    ) -> Result<ChallengeOutcome, MfaError> {
        let token = OpaqueSecret::from_presented(token);
        let key = challenge_key(&token);
        let pending = self.store.get(&key).await?.and_then(|v| serde_json::from_slice::<PendingSecondStep>(&v).ok());
        let Some(pending) = pending.filter(|pending| pending.resume == *resume) else {
            return Ok(ChallengeOutcome::Expired);
        };
        let counted = self.limiter.check(&[(Scope::OtpChallenge, &[token.digest().as_str()])]).await;
        if !counted.allowed {
            self.store.delete(&key).await?;
            return Ok(ChallengeOutcome::Expired);
        }
        match self.verify(pending.user(), answer).await? {
            Some(factor) => match self.store.take(&key).await? {
                Some(_) => Ok(ChallengeOutcome::Passed { pending, factor }),
                None => Ok(ChallengeOutcome::Expired),
            },
            None if counted.remaining == 0 => {
                self.store.delete(&key).await?;
                Ok(ChallengeOutcome::Exhausted { pending })
            }
            None => Ok(ChallengeOutcome::Wrong { pending, attempts_left: counted.remaining }),
        }
    }
}

/// What a correct password leaves for the second step: who, how far (`amr`), and what to resume.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingSecondStep {
    user: Uuid,
    pub amr: Vec<String>,
    pub resume: Resume,
}

impl PendingSecondStep {
    pub fn new(user: UserId, amr: Vec<String>, resume: Resume) -> Self {
        Self { user: user.0, amr, resume }
    }

    pub fn user(&self) -> UserId {
        UserId(self.user)
    }

    /// The methods after the second step: RFC 8176 `otp` added.
    pub fn amr_with_otp(&self) -> Vec<String> {
        let mut amr = self.amr.clone();
        if !amr.iter().any(|m| m == "otp") {
            amr.push("otp".to_owned());
        }
        amr
    }
}

/// Where sign-in continues after the second step.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resume {
    /// The login page of a pending /authorize request.
    Authorize { request: String },
    /// The first-party login API.
    Api,
}

#[derive(Debug)]
pub enum ChallengeOutcome {
    Passed {
        pending: PendingSecondStep,
        factor: UsedFactor,
    },
    Wrong {
        pending: PendingSecondStep,
        attempts_left: u64,
    },
    /// That was the last attempt: the challenge is gone.
    Exhausted {
        pending: PendingSecondStep,
    },
    /// Unknown, expired, exhausted or already completed.
    Expired,
}

fn aad(id: Uuid) -> String {
    format!("totp:{id}")
}

fn challenge_key(token: &OpaqueSecret) -> String {
    format!("mfa-challenge:{}", token.digest().as_str())
}

fn generate_recovery_codes() -> Result<Vec<String>, MfaError> {
    let random = SystemRandom::new();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; RECOVERY_LENGTH];
            random.fill(&mut bytes).map_err(|_| TotpError::Random)?;
            // 32 symbols divide 256, so masking keeps every symbol equally likely (50 bits).
            let chars: String = bytes.iter().map(|b| char::from(RECOVERY_ALPHABET[usize::from(b & 31)])).collect();
            Ok(format!("{}-{}-{}", &chars[..4], &chars[4..8], &chars[8..]))
        })
        .collect()
}

/// The canonical form of a typed recovery code: lower case, no separators, the misreadable
/// letters mapped as Crockford's base32 does. `None` when it cannot be one.
fn normalize_recovery_code(code: &str) -> Option<String> {
    let chars: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_lowercase() {
            'i' | 'l' => '1',
            'o' => '0',
            other => other,
        })
        .collect();
    let valid = chars.len() == RECOVERY_LENGTH && chars.bytes().all(|b| RECOVERY_ALPHABET.contains(&b));
    valid.then(|| format!("{}-{}-{}", &chars[..4], &chars[4..8], &chars[8..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        accounts::{Email, NewUser},
        clock::FixedClock,
        config::Sensitive,
        store::{Database, short_lived::MemoryStore, sql::UserRepository},
    };

    struct Rig {
        factors: SecondFactors,
        clock: FixedClock,
        user: User,
        _dir: tempfile::TempDir,
    }

    async fn rig() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("ferrid.db").display());
        let database = Database::connect(&Sensitive::new(url), 1).await.unwrap();
        database.migrate_up(None).await.unwrap();
        let connection = database.connection().clone();
        let clock = FixedClock::at(chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap());
        let new = NewUser { email: Email::parse("ann@example.com").unwrap(), name: None };
        let user = UserRepository::new(connection.clone()).insert(&new, None, true, clock.now()).await.unwrap();
        let factors = SecondFactors::new(
            MfaFactorRepository::new(connection),
            Arc::new(MemoryStore::new()),
            Arc::new(Kek::generate().unwrap()),
            Arc::new(clock.clone()),
            "ferrid".to_owned(),
            crate::ratelimit::RateLimiter::new(
                Arc::new(MemoryStore::new()),
                Arc::default(),
                crate::ratelimit::RateLimits::default(),
                Kek::generate().unwrap().mac_key("rate-limit"),
                Arc::default(),
            ),
        );
        Rig { factors, clock, user, _dir: dir }
    }

    fn secret_of(enrolment: &TotpEnrolment) -> TotpSecret {
        let bytes = totp_rs::Secret::try_from_base32(&enrolment.secret_base32).unwrap().as_bytes().to_vec();
        TotpSecret::from_bytes(bytes)
    }

    fn code(rig: &Rig, secret: &TotpSecret, steps: i64) -> SecondFactorAnswer {
        let at = rig.clock.now() + chrono::Duration::seconds(30 * steps);
        SecondFactorAnswer::Code(secret.code_at(at).unwrap())
    }

    /// RFC 6238 §5.2: a code is accepted once, and no step at or before the last accepted one.
    #[tokio::test]
    async fn a_time_step_is_accepted_once_rfc_6238_5_2() {
        let rig = rig().await;
        let secret = secret_of(&rig.factors.enrol_totp(&rig.user).await.unwrap());
        let SecondFactorAnswer::Code(first) = code(&rig, &secret, 0) else { unreachable!() };
        rig.factors.confirm_totp(rig.user.id, &first).await.unwrap();
        // The confirming code is spent.
        assert_eq!(rig.factors.verify(rig.user.id, &code(&rig, &secret, 0)).await.unwrap(), None);
        assert_eq!(rig.factors.verify(rig.user.id, &code(&rig, &secret, -1)).await.unwrap(), None);
        let next = code(&rig, &secret, 1);
        assert_eq!(rig.factors.verify(rig.user.id, &next).await.unwrap(), Some(UsedFactor::Totp));
        assert_eq!(rig.factors.verify(rig.user.id, &next).await.unwrap(), None);
        rig.clock.advance(chrono::Duration::seconds(60));
        assert_eq!(rig.factors.verify(rig.user.id, &code(&rig, &secret, 0)).await.unwrap(), Some(UsedFactor::Totp));
    }

    #[tokio::test]
    async fn the_secret_is_sealed_to_its_factor() {
        let rig = rig().await;
        let enrolment = rig.factors.enrol_totp(&rig.user).await.unwrap();
        let stored = rig.factors.factors.find_totp(rig.user.id).await.unwrap().unwrap();
        let secret = secret_of(&enrolment);
        assert!(!stored.sealed_secret.windows(secret.expose().len()).any(|w| w == secret.expose()));
        assert!(keys::open(&rig.factors.kek, &stored.sealed_secret, &aad(Uuid::now_v7())).is_err());
        assert!(rig.factors.open(stored.id, &stored.sealed_secret).is_ok());
    }

    /// Five wrong answers end a challenge; the right one after that finds nothing.
    #[tokio::test]
    async fn a_challenge_survives_four_wrong_answers_not_five() {
        let rig = rig().await;
        let secret = secret_of(&rig.factors.enrol_totp(&rig.user).await.unwrap());
        let SecondFactorAnswer::Code(first) = code(&rig, &secret, 0) else { unreachable!() };
        rig.factors.confirm_totp(rig.user.id, &first).await.unwrap();
        let pending = PendingSecondStep::new(rig.user.id, vec!["pwd".into()], Resume::Api);
        let wrong = SecondFactorAnswer::RecoveryCode("0000-0000-00".into());

        let token = rig.factors.start_challenge(pending.clone()).await.unwrap();
        for left in (1..rig.factors.challenge_attempts()).rev() {
            let outcome = rig.factors.answer_challenge(token.expose(), &Resume::Api, &wrong).await.unwrap();
            assert!(matches!(outcome, ChallengeOutcome::Wrong { attempts_left, .. } if attempts_left == left));
        }
        let outcome =
            rig.factors.answer_challenge(token.expose(), &Resume::Api, &code(&rig, &secret, 1)).await.unwrap();
        assert!(matches!(outcome, ChallengeOutcome::Passed { factor: UsedFactor::Totp, .. }), "{outcome:?}");
        // Taken: a second success is impossible.
        let outcome =
            rig.factors.answer_challenge(token.expose(), &Resume::Api, &code(&rig, &secret, 1)).await.unwrap();
        assert!(matches!(outcome, ChallengeOutcome::Expired));

        let token = rig.factors.start_challenge(pending).await.unwrap();
        for _ in 1..rig.factors.challenge_attempts() {
            rig.factors.answer_challenge(token.expose(), &Resume::Api, &wrong).await.unwrap();
        }
        let outcome = rig.factors.answer_challenge(token.expose(), &Resume::Api, &wrong).await.unwrap();
        assert!(matches!(outcome, ChallengeOutcome::Exhausted { .. }), "{outcome:?}");
        rig.clock.advance(chrono::Duration::seconds(30));
        let outcome =
            rig.factors.answer_challenge(token.expose(), &Resume::Api, &code(&rig, &secret, 1)).await.unwrap();
        assert!(matches!(outcome, ChallengeOutcome::Expired));
        assert!(rig.factors.store.get(&challenge_key(&token)).await.unwrap().is_none());
    }

    #[test]
    fn recovery_codes_are_ten_distinct_human_friendly_codes() {
        let codes = generate_recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        for code in &codes {
            assert_eq!(code.len(), 12, "{code}");
            let parts: Vec<&str> = code.split('-').collect();
            assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [4, 4, 2], "{code}");
            assert!(parts.concat().bytes().all(|b| RECOVERY_ALPHABET.contains(&b)), "{code}");
            assert_eq!(normalize_recovery_code(code).as_deref(), Some(code.as_str()));
        }
    }

    #[test]
    fn typed_recovery_codes_are_normalized_before_digesting() {
        assert_eq!(normalize_recovery_code("ABCD-EFGH-JK").as_deref(), Some("abcd-efgh-jk"));
        assert_eq!(normalize_recovery_code("abcdefghjk").as_deref(), Some("abcd-efgh-jk"));
        assert_eq!(normalize_recovery_code("oIL0 1234 56").as_deref(), Some("0110-1234-56"));
        for wrong in ["", "abcd-efgh-j", "abcd-efgh-jkm", "abcd-efgh-j!", "uuuu-uuuu-uu"] {
            assert_eq!(normalize_recovery_code(wrong), None, "{wrong}");
        }
    }

    /// DESIGN §7.3: stored as keyed digests only, and a digest is per user and per KEK.
    #[tokio::test]
    async fn recovery_digests_hide_the_code_and_differ_per_user() {
        let (rig, other) = (rig().await, rig().await);
        let (a, b) = (UserId::generate(), UserId::generate());
        let digest = rig.factors.recovery_digest(a, "abcd-efgh-jk");
        assert!(!digest.contains("abcd"));
        assert_eq!(digest, rig.factors.recovery_digest(a, "abcd-efgh-jk"));
        assert_ne!(digest, rig.factors.recovery_digest(b, "abcd-efgh-jk"));
        assert_ne!(digest, other.factors.recovery_digest(a, "abcd-efgh-jk"));
    }

    #[test]
    fn answers_and_codes_never_debug_print() {
        let answer = SecondFactorAnswer::from_fields(Some("123456"), None).unwrap();
        assert_eq!(format!("{answer:?}"), "Code([redacted])");
        let answer = SecondFactorAnswer::from_fields(Some("123456"), Some(" abcd-efgh-jk ")).unwrap();
        assert!(matches!(&answer, SecondFactorAnswer::RecoveryCode(code) if code == "abcd-efgh-jk"));
        assert!(SecondFactorAnswer::from_fields(Some(" "), None).is_none());
        assert_eq!(format!("{:?}", RecoveryCodes(vec!["x".into()])), "RecoveryCodes([1 redacted])");
    }

    #[test]
    fn the_second_step_adds_otp_to_amr_once() {
        let pending = PendingSecondStep::new(UserId::generate(), vec!["pwd".into()], Resume::Api);
        assert_eq!(pending.amr_with_otp(), ["pwd", "otp"]);
        let json = serde_json::to_string(&pending).unwrap();
        assert_eq!(serde_json::from_str::<PendingSecondStep>(&json).unwrap(), pending);
    }
}
