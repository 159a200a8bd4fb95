//! Proving control of an email address: a 6-digit code and a signed link, mailed together,
//! either of which works once (issue 7 item 2).
//!
//! Codes live in the short-lived store for [`CODE_TTL`], only as a keyed digest (HMAC under a key
//! derived from the KEK): a million possible codes would make a plain digest worthless. A
//! challenge takes at most [`MAX_ATTEMPTS`] wrong guesses, counted atomically, then it is gone.
//! Redeeming `take`s the challenge, so of two concurrent redemptions only one succeeds (DESIGN
//! §7.1). The link carries the challenge's nonce and expiry under the same kind of MAC, so it
//! cannot be forged, outlive the code, or survive a newer code.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use keys::MacKey;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Email, UserId};
use crate::{
    clock::Clock,
    store::{ShortLivedStore, StoreError},
};

pub const CODE_TTL: Duration = Duration::from_secs(10 * 60);
pub const MAX_ATTEMPTS: u64 = 5;
const CODE_DIGITS: u32 = 6;

/// What an address is being proved for; challenges of one purpose never redeem another's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodePurpose {
    /// A new account's address; the subject is the normalised address.
    VerifyEmail,
    /// A signed-in user's new address; the subject is the user id.
    ChangeEmail,
}

impl CodePurpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify",
            Self::ChangeEmail => "change",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [Self::VerifyEmail, Self::ChangeEmail].into_iter().find(|purpose| purpose.as_str() == value)
    }
}

/// A fresh challenge, to mail. `Debug` hides the code and the link.
pub struct IssuedCode {
    pub code: String,
    pub link_token: String,
    pub valid_minutes: u32,
}

impl std::fmt::Debug for IssuedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCode").field("valid_minutes", &self.valid_minutes).finish_non_exhaustive()
    }
}

/// Whose address a redeemed challenge proved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeClaim {
    pub user: UserId,
    pub email: Email,
    pub subject: String,
}

#[derive(Serialize, Deserialize)]
struct Challenge {
    user: Uuid,
    email: String,
    /// HMAC of the code, bound to the purpose, subject and nonce.
    code_tag: String,
    nonce: String,
}

#[derive(Clone)]
pub struct EmailCodes {
    store: Arc<dyn ShortLivedStore>,
    mac: MacKey,
    clock: Arc<dyn Clock>,
}

fn challenge_key(purpose: CodePurpose, subject: &str) -> String {
    format!("email-code:{}:{subject}", purpose.as_str())
}

impl EmailCodes {
    pub fn new(store: Arc<dyn ShortLivedStore>, mac: MacKey, clock: Arc<dyn Clock>) -> Self {
        Self { store, mac, clock }
    }

    fn code_input(purpose: CodePurpose, subject: &str, nonce: &str, code: &str) -> Vec<u8> {
        format!("{}\n{subject}\n{nonce}\n{code}", purpose.as_str()).into_bytes()
    }

    /// A new challenge for `email`, replacing any earlier one for the same purpose and subject.
    pub async fn issue(
        &self,
        purpose: CodePurpose,
        subject: &str,
        user: UserId,
        email: &Email,
    ) -> Result<IssuedCode, StoreError> {
        let code = keys::random_digits(CODE_DIGITS);
        let nonce = keys::random_id(16);
        let challenge = Challenge {
            user: user.0,
            email: email.as_str().to_owned(),
            code_tag: self.mac.tag(&Self::code_input(purpose, subject, &nonce, &code)),
            nonce: nonce.clone(),
        };
        let value = serde_json::to_vec(&challenge).map_err(|_| StoreError::Malformed("email code challenge"))?;
        self.store.put(&challenge_key(purpose, subject), &value, CODE_TTL).await?;
        let expires = self.clock.now().timestamp() + CODE_TTL.as_secs() as i64;
        let payload = format!("{}.{}.{nonce}.{expires}", purpose.as_str(), URL_SAFE_NO_PAD.encode(subject));
        let link_token = format!("{payload}.{}", self.mac.tag(payload.as_bytes()));
        Ok(IssuedCode { code, link_token, valid_minutes: (CODE_TTL.as_secs() / 60) as u32 })
    }

    /// Whether another mail may go out for this subject now: at most one per `every`. Callers
    /// answer the same either way.
    pub async fn may_send(&self, purpose: CodePurpose, subject: &str, every: Duration) -> Result<bool, StoreError> {
        let key = format!("email-code-sent:{}:{subject}", purpose.as_str());
        self.store.put_if_absent(&key, b"1", every).await
    }

    async fn current(&self, purpose: CodePurpose, subject: &str) -> Result<Option<Challenge>, StoreError> {
        let Some(value) = self.store.get(&challenge_key(purpose, subject)).await? else { return Ok(None) };
        Ok(serde_json::from_slice(&value).ok())
    }

    /// Takes the challenge if it is still the one with `nonce`: only one redemption wins, and a
    /// superseded link leaves the newer challenge alone.
    async fn take(&self, purpose: CodePurpose, subject: &str, nonce: &str) -> Result<Option<CodeClaim>, StoreError> {
        if self.current(purpose, subject).await?.is_none_or(|current| current.nonce != nonce) {
            return Ok(None);
        }
        let Some(value) = self.store.take(&challenge_key(purpose, subject)).await? else { return Ok(None) };
        let Ok(challenge) = serde_json::from_slice::<Challenge>(&value) else { return Ok(None) };
        if challenge.nonce != nonce {
            return Ok(None);
        }
        let Ok(email) = Email::parse(&challenge.email) else { return Ok(None) };
        Ok(Some(CodeClaim { user: UserId(challenge.user), email, subject: subject.to_owned() }))
    }

    /// Redeems a typed code; `None` for a wrong, expired, used or exhausted one, all alike.
    pub async fn redeem_code(
        &self,
        purpose: CodePurpose,
        subject: &str,
        code: &str,
    ) -> Result<Option<CodeClaim>, StoreError> {
        let Some(challenge) = self.current(purpose, subject).await? else { return Ok(None) };
        let attempts_key = format!("email-code-attempts:{}:{subject}:{}", purpose.as_str(), challenge.nonce);
        let attempts = self.store.increment(&attempts_key, CODE_TTL).await?;
        if attempts.count > MAX_ATTEMPTS {
            self.store.delete(&challenge_key(purpose, subject)).await?;
            return Ok(None);
        }
        let code = code.trim();
        if !self.mac.verify(&Self::code_input(purpose, subject, &challenge.nonce, code), &challenge.code_tag) {
            return Ok(None);
        }
        self.take(purpose, subject, &challenge.nonce).await
    }

    /// Redeems the link's token; `None` for a forged, expired, superseded or used one.
    pub async fn redeem_link(&self, purpose: CodePurpose, token: &str) -> Result<Option<CodeClaim>, StoreError> {
        let Some((payload, tag)) = token.rsplit_once('.') else { return Ok(None) };
        if !self.mac.verify(payload.as_bytes(), tag) {
            return Ok(None);
        }
        let parts: Vec<&str> = payload.split('.').collect();
        let [token_purpose, subject, nonce, expires] = parts.as_slice() else { return Ok(None) };
        let subject = URL_SAFE_NO_PAD.decode(subject).ok().and_then(|bytes| String::from_utf8(bytes).ok());
        let (Some(subject), Ok(expires)) = (subject, expires.parse::<i64>()) else { return Ok(None) };
        if CodePurpose::parse(token_purpose) != Some(purpose) || self.clock.now().timestamp() >= expires {
            return Ok(None);
        }
        self.take(purpose, &subject, nonce).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::store::short_lived::MemoryStore;

    struct Fixed(DateTime<Utc>);
    impl Clock for Fixed {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    fn codes() -> (EmailCodes, UserId, Email) {
        let kek = keys::Kek::generate().unwrap();
        let clock = Arc::new(Fixed(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
        let codes = EmailCodes::new(Arc::new(MemoryStore::new()), kek.mac_key("email-code"), clock);
        (codes, UserId::generate(), Email::parse("Ann@Example.com").unwrap())
    }

    #[tokio::test]
    async fn a_code_redeems_once_for_its_purpose_and_subject() {
        let (codes, user, email) = codes();
        let issued = codes.issue(CodePurpose::VerifyEmail, email.normalized(), user, &email).await.unwrap();
        assert_eq!(issued.code.len(), 6);
        assert!(!format!("{issued:?}").contains(&issued.code));
        assert_eq!(codes.redeem_code(CodePurpose::ChangeEmail, email.normalized(), &issued.code).await.unwrap(), None);
        let claim = codes.redeem_code(CodePurpose::VerifyEmail, email.normalized(), &issued.code).await.unwrap();
        assert_eq!(claim, Some(CodeClaim { user, email: email.clone(), subject: email.normalized().to_owned() }));
        assert_eq!(codes.redeem_code(CodePurpose::VerifyEmail, email.normalized(), &issued.code).await.unwrap(), None);
        assert_eq!(codes.redeem_link(CodePurpose::VerifyEmail, &issued.link_token).await.unwrap(), None);
    }

    #[tokio::test]
    async fn five_wrong_guesses_burn_the_challenge() {
        let (codes, user, email) = codes();
        let issued = codes.issue(CodePurpose::VerifyEmail, "s", user, &email).await.unwrap();
        let wrong = if issued.code == "000000" { "000001" } else { "000000" };
        for _ in 0..MAX_ATTEMPTS {
            assert_eq!(codes.redeem_code(CodePurpose::VerifyEmail, "s", wrong).await.unwrap(), None);
        }
        assert_eq!(codes.redeem_code(CodePurpose::VerifyEmail, "s", &issued.code).await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_link_works_instead_of_the_code_and_cannot_be_forged_or_outlived() {
        let (codes, user, email) = codes();
        let first = codes.issue(CodePurpose::VerifyEmail, "s", user, &email).await.unwrap();
        let second = codes.issue(CodePurpose::VerifyEmail, "s", user, &email).await.unwrap();
        assert_eq!(codes.redeem_link(CodePurpose::VerifyEmail, &first.link_token).await.unwrap(), None, "superseded");
        let forged = format!("{}x", second.link_token);
        assert_eq!(codes.redeem_link(CodePurpose::VerifyEmail, &forged).await.unwrap(), None);
        assert_eq!(codes.redeem_link(CodePurpose::ChangeEmail, &second.link_token).await.unwrap(), None);
        let claim = codes.redeem_link(CodePurpose::VerifyEmail, &second.link_token).await.unwrap().unwrap();
        assert_eq!(claim.user, user);
        assert_eq!(codes.redeem_code(CodePurpose::VerifyEmail, "s", &second.code).await.unwrap(), None);
    }
}
