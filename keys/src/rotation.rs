//! The rotation planner: pure decisions over key records and a given instant.
//!
//! Timeline per algorithm, with `R = rotate_every`, `P = publish_ahead`, `L = max_token_lifetime`:
//! at age `R − P` of the active key a `next` key is created and published; once it has been
//! published for `P` and the active key is `R` old, next becomes active and the old key
//! retires; `L` after retirement, when every token it signed has expired, it is removed.
//! Because `P` is at least one JWKS cache lifetime, relying parties already hold a key before
//! it signs anything (OIDC Core §10.1.1).

use chrono::{DateTime, Duration, Utc};

use crate::alg::{KeyAlg, SigningAlg};
use crate::record::{KeyRecord, KeyState};

/// When keys are created, promoted and removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationPolicy {
    /// The algorithms that must always have an active key.
    pub algs: Vec<KeyAlg>,
    /// Active-key lifetime. Default 30 days.
    pub rotate_every: Duration,
    /// How long a next key is published before it is used; at least one JWKS cache lifetime.
    /// Default 1 day.
    pub publish_ahead: Duration,
    /// The longest lifetime of any token a ring key signs (plus clock leeway): a retired key is
    /// kept this long. Default 1 day.
    pub max_token_lifetime: Duration,
}

impl Default for RotationPolicy {
    /// RS256 (OIDC's mandatory ID-token algorithm) and ES256 (access tokens), DESIGN §6.
    fn default() -> Self {
        Self {
            algs: vec![KeyAlg::Signing(SigningAlg::RS256), KeyAlg::Signing(SigningAlg::ES256)],
            rotate_every: Duration::days(30),
            publish_ahead: Duration::days(1),
            max_token_lifetime: Duration::days(1),
        }
    }
}

/// One step of a rotation plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Generate a key for `alg` in `state`: `Active` only when the algorithm has no usable key
    /// (first start), otherwise `Next`.
    Create { alg: KeyAlg, state: KeyState },
    /// Retire `retire` (when there is an active key) and make `next` active.
    Promote { alg: KeyAlg, next: String, retire: Option<String> },
    /// Delete a retired or revoked key whose `expires_at` has passed.
    Remove { kid: String },
}

/// Decides what rotation is due at `now`. Removals come first, then promotions and creations.
pub fn plan_rotation(records: &[KeyRecord], now: DateTime<Utc>, policy: &RotationPolicy) -> Vec<Change> {
    let mut plan: Vec<Change> = records
        .iter()
        .filter(|r| matches!(r.state, KeyState::Retired | KeyState::Revoked))
        .filter(|r| r.expires_at.is_some_and(|at| at <= now))
        .map(|r| Change::Remove { kid: r.kid.clone() })
        .collect();
    for &alg in &policy.algs {
        if let Some(change) = plan_alg(records, alg, now, policy) {
            plan.push(change);
        }
    }
    plan
}

fn plan_alg(records: &[KeyRecord], alg: KeyAlg, now: DateTime<Utc>, policy: &RotationPolicy) -> Option<Change> {
    let newest = |state: KeyState| {
        records.iter().filter(|r| r.alg == alg && r.state == state).max_by_key(|r| (r.active_since(), &r.kid))
    };
    let active = newest(KeyState::Active);
    let next = newest(KeyState::Next);
    match (active, next) {
        (None, None) => Some(Change::Create { alg, state: KeyState::Active }),
        // No active key (revoked, or a half-finished promotion): use next at once.
        (None, Some(next)) => Some(Change::Promote { alg, next: next.kid.clone(), retire: None }),
        (Some(active), None) => {
            let age = now - active.active_since();
            (age >= policy.rotate_every - policy.publish_ahead).then_some(Change::Create { alg, state: KeyState::Next })
        }
        (Some(active), Some(next)) => {
            let due = now - active.active_since() >= policy.rotate_every;
            let announced = now - next.created_at >= policy.publish_ahead;
            (due && announced).then(|| Change::Promote {
                alg,
                next: next.kid.clone(),
                retire: Some(active.kid.clone()),
            })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::jwk::PublicJwk;

    const ES256: KeyAlg = KeyAlg::Signing(SigningAlg::ES256);

    fn t(days: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::days(days)
    }

    fn rec(kid: &str, state: KeyState, created: i64) -> KeyRecord {
        let jwk = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        KeyRecord {
            kid: kid.into(),
            alg: ES256,
            key_use: crate::KeyUse::Sig,
            state,
            created_at: t(created),
            activated_at: (state != KeyState::Next).then(|| t(created)),
            retired_at: None,
            expires_at: None,
            sealed_private: vec![],
            public_jwk: PublicJwk::from_json(jwk).unwrap(),
        }
    }

    fn policy() -> RotationPolicy {
        RotationPolicy { algs: vec![ES256], ..RotationPolicy::default() }
    }

    #[test]
    fn first_start_creates_an_active_key_per_alg() {
        let p = RotationPolicy::default();
        let plan = plan_rotation(&[], t(0), &p);
        assert_eq!(plan.len(), 2);
        assert!(plan.iter().all(|c| matches!(c, Change::Create { state: KeyState::Active, .. })));
    }

    #[test]
    fn next_is_created_one_publish_ahead_before_rotation() {
        let records = [rec("a", KeyState::Active, 0)];
        assert!(plan_rotation(&records, t(28), &policy()).is_empty());
        assert_eq!(
            plan_rotation(&records, t(29), &policy()),
            vec![Change::Create { alg: ES256, state: KeyState::Next }]
        );
    }

    #[test]
    fn promotion_waits_for_both_age_and_publication() {
        let records = [rec("a", KeyState::Active, 0), rec("b", KeyState::Next, 29)];
        assert!(plan_rotation(&records, t(29), &policy()).is_empty(), "next not yet published long enough");
        let late_next = [rec("a", KeyState::Active, 0), rec("b", KeyState::Next, 30)];
        assert!(plan_rotation(&late_next, t(30), &policy()).is_empty(), "a late next still waits publish_ahead");
        let promote = Change::Promote { alg: ES256, next: "b".into(), retire: Some("a".into()) };
        assert_eq!(plan_rotation(&records, t(30), &policy()), vec![promote]);
    }

    #[test]
    fn missing_active_promotes_next_at_once() {
        let records = [rec("a", KeyState::Revoked, 0), rec("b", KeyState::Next, 10)];
        let plan = plan_rotation(&records, t(10), &policy());
        assert_eq!(plan, vec![Change::Promote { alg: ES256, next: "b".into(), retire: None }]);
    }

    #[test]
    fn expired_retired_and_revoked_keys_are_removed() {
        let mut retired = rec("old", KeyState::Retired, 0);
        retired.expires_at = Some(t(31));
        let mut revoked = rec("bad", KeyState::Revoked, 0);
        revoked.expires_at = Some(t(5));
        let records = [retired, revoked, rec("a", KeyState::Active, 30)];
        assert_eq!(plan_rotation(&records, t(30), &policy()), vec![Change::Remove { kid: "bad".into() }]);
        let plan = plan_rotation(&records, t(31), &policy());
        assert!(plan.contains(&Change::Remove { kid: "old".into() }));
        assert_eq!(plan.len(), 2);
    }
}
