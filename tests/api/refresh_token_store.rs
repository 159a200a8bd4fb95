//! The refresh_token grant against the real stores (RFC 6749 §6, RFC 9700 §4.14.2): rotation,
//! reuse detection that revokes the family, exactly-once redemption under concurrency
//! (DESIGN §7.1), client binding, idle and absolute expiry, and scope narrowing.

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::refresh_tokens;
use ferrid::{
    accounts::{Email, NewUser},
    audit::{Actor, AuditEvent, AuditQuery, kinds},
    oauth::{
        Client, ClientMetadata, ClientType, FamilyId, GrantType, OAuthError, RedirectUri, RefreshGrant,
        RefreshLifetimes, ReuseWatch, RotatedRefreshToken, Scope, issue_refresh_token, rotate_refresh_token,
        session::RequestOrigin,
    },
    store::sql::RefreshTokenRepository,
};
use keys::OpaqueSecret;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::helpers::{Backend, TestApp, spawn_app};

on_every_backend!(
    rotation_yields_a_new_token_and_the_old_one_fails_rfc_6749_6,
    reuse_of_a_rotated_token_revokes_the_whole_family_rfc_9700_4_14_2,
    parallel_rotations_of_one_token_succeed_exactly_once_design_7_1,
    a_token_is_bound_to_its_client_rfc_6749_6,
    idle_and_absolute_expiry_end_the_family_rfc_9700_4_14_2,
    scope_may_narrow_but_never_widen_rfc_6749_6,
    a_successor_a_racing_revocation_missed_is_revoked_after_all_rfc_9700_4_14_2,
    rotations_and_audit_records_made_together_each_get_their_own_answer_design_7_5,
    a_token_presented_by_two_clients_at_once_goes_to_its_own_rfc_6749_6,
);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn scope(value: &str) -> Scope {
    Scope::parse(value).unwrap()
}

struct Fixture {
    app: TestApp,
    repo: RefreshTokenRepository,
    client: Client,
    grant: RefreshGrant,
}

async fn register(app: &TestApp, grant_types: Vec<GrantType>) -> Client {
    let mut metadata = ClientMetadata::new("app", ClientType::Confidential);
    metadata.redirect_uris.push(RedirectUri::parse("https://app.example/cb").unwrap());
    metadata.grant_types = grant_types;
    app.state.clients.register(metadata).await.unwrap().0
}

async fn fixture(backend: Backend) -> Fixture {
    let app = spawn_app(backend).await;
    let user = app
        .state
        .accounts
        .create_user(NewUser { email: Email::parse("ada@example.com").unwrap(), name: None }, None)
        .await
        .unwrap();
    let client = register(&app, vec![GrantType::AuthorizationCode, GrantType::RefreshToken]).await;
    // The server's own: its rotations share the writer with the server's audit records.
    let repo = app.state.refresh_tokens.clone();
    let grant = RefreshGrant {
        client_id: client.id.clone(),
        user_id: user.id,
        scope: scope("openid profile offline_access"),
        sid: Some("session-1".to_owned()),
        auth_time: t0(),
        amr: vec!["pwd".to_owned()],
        dpop_jkt: None,
    };
    Fixture { app, repo, client, grant }
}

impl Fixture {
    /// Starts a family at `now`, as the authorization_code grant does.
    async fn issue(&self, now: DateTime<Utc>) -> (OpaqueSecret, FamilyId) {
        let (token, record) = issue_refresh_token(
            FamilyId::generate(),
            self.grant.clone(),
            now,
            RefreshLifetimes::default(),
            RequestOrigin::default(),
        );
        self.repo.insert(&record).await.unwrap();
        (token, record.family_id)
    }

    async fn rotate(
        &self,
        token: &OpaqueSecret,
        requested: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RotatedRefreshToken, OAuthError> {
        self.rotate_as(&self.client, token, requested, now).await
    }

    async fn rotate_as(
        &self,
        client: &Client,
        token: &OpaqueSecret,
        requested: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RotatedRefreshToken, OAuthError> {
        let requested = requested.map(scope);
        let store = self.app.state.short_lived.as_ref();
        rotate_refresh_token(
            token.clone(),
            client,
            requested,
            now,
            &self.repo,
            store,
            &ReuseWatch {
                metrics: &self.app.state.metrics,
                audit: &self.app.state.audit,
                origin: &RequestOrigin::default(),
                access_tokens_live_for: self.app.state.longest_access_token(),
            },
            RefreshLifetimes::default(),
            None,
        )
        .await
    }

    /// Digests of the family's tokens that are neither rotated nor revoked.
    async fn live_tokens(&self, family_id: &FamilyId) -> Vec<String> {
        refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::FamilyId.eq(family_id.as_str()))
            .all(self.app.state.database.connection())
            .await
            .unwrap()
            .into_iter()
            .filter(|row| row.rotated_at.is_none() && row.revoked_at.is_none())
            .map(|row| row.id)
            .collect()
    }
}

fn code<T>(result: Result<T, OAuthError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.code(),
    }
}

async fn rotation_yields_a_new_token_and_the_old_one_fails_rfc_6749_6(backend: Backend) {
    let f = fixture(backend).await;
    let (first, family_id) = f.issue(t0()).await;
    let now = t0() + Duration::hours(1);

    let rotated = f.rotate(&first, None, now).await.unwrap();
    assert_ne!(rotated.token.expose(), first.expose());
    assert_eq!(rotated.family_id, family_id);
    assert_eq!(rotated.record.family_id, family_id);
    assert_eq!(rotated.record.grant, f.grant, "the grant carries over unchanged");
    assert_eq!(rotated.access_scope, f.grant.scope);
    assert_eq!(rotated.record.expires_at, now + Duration::days(7));
    assert_eq!(rotated.record.family_expires_at, t0() + Duration::days(30));
    assert_eq!(f.live_tokens(&family_id).await, [rotated.token.digest().as_str()], "only the digest is stored");

    // The successor works in turn; an unknown token never does.
    let again = f.rotate(&rotated.token, None, now + Duration::hours(1)).await.unwrap();
    assert_eq!(again.family_id, family_id);
    assert_eq!(code(f.rotate(&OpaqueSecret::generate(), None, now).await), "invalid_grant");
}

async fn reuse_of_a_rotated_token_revokes_the_whole_family_rfc_9700_4_14_2(backend: Backend) {
    let f = fixture(backend).await;
    let (first, family_id) = f.issue(t0()).await;
    let (unrelated, unrelated_family) = f.issue(t0()).await;
    let second = f.rotate(&first, None, t0() + Duration::hours(1)).await.unwrap().token;
    let newest = f.rotate(&second, None, t0() + Duration::hours(2)).await.unwrap().token;

    // An attacker (or the victim) replays the first token: the family dies.
    assert_eq!(code(f.rotate(&first, None, t0() + Duration::hours(3)).await), "invalid_grant");
    assert!(f.live_tokens(&family_id).await.is_empty());
    let metrics = f.app.state.metrics.encode().unwrap();
    assert_eq!(crate::metrics::value(&metrics, "ferrid_refresh_token_reuse_detected_total"), Some(1.0), "{metrics}");
    assert_eq!(code(f.rotate(&newest, None, t0() + Duration::hours(4)).await), "invalid_grant");
    assert_eq!(code(f.rotate(&second, None, t0() + Duration::hours(4)).await), "invalid_grant");

    // Other families of the same user and client are untouched.
    assert_eq!(f.live_tokens(&unrelated_family).await.len(), 1);
    assert!(f.rotate(&unrelated, None, t0() + Duration::hours(5)).await.is_ok());
}

/// A revocation that runs alongside a rotation can miss its successor: on PostgreSQL the
/// revocation's UPDATE does not see a row committed after it began. Here the revocation has
/// already run when the family's live token is stored, as if it had missed it; the rotation of
/// that token finds the family's mark after its commit and revokes the family again, so the
/// successor it hands out is dead on arrival.
async fn a_successor_a_racing_revocation_missed_is_revoked_after_all_rfc_9700_4_14_2(backend: Backend) {
    let f = fixture(backend).await;
    let family = FamilyId::generate();
    let store = f.app.state.short_lived.as_ref();
    ferrid::oauth::revocation::revoke_family(&f.repo, store, &family, t0(), f.app.state.longest_access_token())
        .await
        .unwrap();
    let (missed, record) = issue_refresh_token(
        family.clone(),
        f.grant.clone(),
        t0(),
        RefreshLifetimes::default(),
        RequestOrigin::default(),
    );
    f.repo.insert(&record).await.unwrap();

    let successor = f.rotate(&missed, None, t0() + Duration::hours(1)).await.unwrap().token;
    assert!(f.live_tokens(&family).await.is_empty(), "the successor of that rotation is revoked too");
    assert_eq!(code(f.rotate(&successor, None, t0() + Duration::hours(2)).await), "invalid_grant");
}

async fn parallel_rotations_of_one_token_succeed_exactly_once_design_7_1(backend: Backend) {
    let f = std::sync::Arc::new(fixture(backend).await);
    let (token, family_id) = f.issue(t0()).await;
    let now = t0() + Duration::hours(1);

    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let (f, token) = (f.clone(), token.clone());
            tokio::spawn(async move { f.rotate(&token, None, now).await })
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(rotated) => winners.push(rotated),
            Err(error) => assert_eq!(error.code(), "invalid_grant", "{error}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation succeeds");

    // Either the winner's token is the family's only live one, or a loser's replay was detected
    // and the family is revoked; never two live tokens.
    let live = f.live_tokens(&family_id).await;
    assert!(live.is_empty() || live == [winners[0].token.digest().as_str()], "{live:?}");
    let rows = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::FamilyId.eq(family_id.as_str()))
        .all(f.app.state.database.connection())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "one successor, not one per attempt");
}

/// The writer commits the rotations and audit records waiting together in one transaction
/// (`store::sql::Writer`), yet each caller gets its own answer, and every write is durable when
/// its caller hears back (DESIGN §7.5).
async fn rotations_and_audit_records_made_together_each_get_their_own_answer_design_7_5(backend: Backend) {
    const EACH: i64 = 24;
    let f = &fixture(backend).await;
    let now = t0() + Duration::minutes(1);
    let mut families = Vec::new();
    for _ in 0..EACH {
        families.push(f.issue(t0()).await);
    }
    let target = uuid::Uuid::new_v4().to_string();
    let rotations = families.iter().map(|(token, family)| async move {
        let rotated = f.rotate(token, None, now).await.unwrap();
        assert_eq!(&rotated.family_id, family, "the answer is this rotation's");
        // Durable on return: the successor is stored and the presented token consumed.
        assert_eq!(f.live_tokens(family).await, [rotated.token.digest().as_str()]);
    });
    let records = (0..EACH).map(|n| {
        let (audit, target) = (&f.app.state.audit, target.clone());
        async move {
            let mut event = AuditEvent::new(kinds::ADMIN_USER_DISABLE, &Actor::system());
            event.target = Some(target);
            event.details = Some(serde_json::json!({ "n": n }));
            audit.record(event).await;
        }
    });
    tokio::join!(futures::future::join_all(rotations), futures::future::join_all(records));
    let query = AuditQuery { limit: 200, ..Default::default() };
    let mut numbers: Vec<i64> = (f.app.state.audit.query(&query).await.unwrap().into_iter())
        .filter(|r| r.event.target.as_deref() == Some(target.as_str()))
        .map(|r| r.event.details.unwrap()["n"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..EACH).collect::<Vec<_>>(), "every record once");
}

async fn a_token_is_bound_to_its_client_rfc_6749_6(backend: Backend) {
    let f = fixture(backend).await;
    let (token, family_id) = f.issue(t0()).await;
    let now = t0() + Duration::hours(1);

    let other = register(&f.app, vec![GrantType::AuthorizationCode, GrantType::RefreshToken]).await;
    assert_eq!(code(f.rotate_as(&other, &token, None, now).await), "invalid_grant");
    // A client without the grant is refused before the token is even looked at (RFC 6749 §5.2).
    let no_refresh = register(&f.app, vec![GrantType::AuthorizationCode]).await;
    assert_eq!(code(f.rotate_as(&no_refresh, &token, None, now).await), "unauthorized_client");

    // Neither attempt consumed the token: it still works for its own client.
    assert_eq!(f.live_tokens(&family_id).await.len(), 1);
    assert!(f.rotate(&token, None, now).await.is_ok());
}

/// Rotations waiting together are consumed by one statement (`store::sql::refresh_tokens`): a
/// token presented at the same moment by another client and by its own goes to its own client,
/// whichever came first, and the other client's attempt revokes nothing (RFC 6749 §6).
async fn a_token_presented_by_two_clients_at_once_goes_to_its_own_rfc_6749_6(backend: Backend) {
    let f = fixture(backend).await;
    let other = register(&f.app, vec![GrantType::AuthorizationCode, GrantType::RefreshToken]).await;
    let now = t0() + Duration::hours(1);
    for other_first in [true, false] {
        let (token, family_id) = f.issue(t0()).await;
        let (stolen, own) = if other_first {
            tokio::join!(f.rotate_as(&other, &token, None, now), f.rotate(&token, None, now))
        } else {
            let (own, stolen) = tokio::join!(f.rotate(&token, None, now), f.rotate_as(&other, &token, None, now));
            (stolen, own)
        };
        assert_eq!(code(stolen), "invalid_grant");
        let own = own.expect("the token's own client rotates it");
        assert_eq!(f.live_tokens(&family_id).await, [own.token.digest().as_str()], "the family lives on");
    }
}

async fn idle_and_absolute_expiry_end_the_family_rfc_9700_4_14_2(backend: Backend) {
    let f = fixture(backend).await;

    // Idle: unused for the idle lifetime (7 days).
    let (idle, _) = f.issue(t0()).await;
    let just_before = f.rotate(&f.issue(t0()).await.0, None, t0() + Duration::days(7) - Duration::seconds(1)).await;
    assert!(just_before.is_ok());
    assert_eq!(code(f.rotate(&idle, None, t0() + Duration::days(7)).await), "invalid_grant");

    // Absolute: rotating every 6 days keeps the family alive only until day 30.
    let (mut token, _) = f.issue(t0()).await;
    for day in [6, 12, 18, 24] {
        let rotated = f.rotate(&token, None, t0() + Duration::days(day)).await.unwrap();
        assert_eq!(rotated.record.expires_at, (t0() + Duration::days(day + 7)).min(t0() + Duration::days(30)));
        token = rotated.token;
    }
    assert_eq!(code(f.rotate(&token, None, t0() + Duration::days(30)).await), "invalid_grant");
}

async fn scope_may_narrow_but_never_widen_rfc_6749_6(backend: Backend) {
    let f = fixture(backend).await;
    let (token, _) = f.issue(t0()).await;
    let now = t0() + Duration::hours(1);

    // Narrowing applies to the access token; the refresh token keeps the original scope.
    let narrowed = f.rotate(&token, Some("openid"), now).await.unwrap();
    assert_eq!(narrowed.access_scope, scope("openid"));
    assert_eq!(narrowed.record.grant.scope, f.grant.scope);
    // So a later refresh may ask for more than the previous access token had, within the grant.
    let wider_again = f.rotate(&narrowed.token, Some("openid profile"), now).await.unwrap();
    assert_eq!(wider_again.access_scope, scope("openid profile"));

    // Beyond the original grant: invalid_scope, and the token is not consumed.
    assert_eq!(code(f.rotate(&wider_again.token, Some("openid email"), now).await), "invalid_scope");
    assert!(f.rotate(&wider_again.token, None, now).await.is_ok());
}
