//! The maintenance sweep removes what can no longer be used, and nothing else.

use chrono::Duration;
use ferrid::{
    accounts::{Email, NewUser},
    maintenance::{SweepReport, sweep},
    oauth::{
        ClientType, FamilyId, RefreshGrant, RefreshLifetimes, Scope,
        access_token::{AccessGrant, AccessTokenRecord},
        issue_refresh_token,
        session::{OpSession, RequestOrigin},
    },
};
use keys::OpaqueSecret;

use crate::{
    helpers::{Backend, spawn_app},
    oidc::create_client,
};

on_every_backend!(expired_sessions_tokens_and_refresh_families_are_swept);

async fn expired_sessions_tokens_and_refresh_families_are_swept(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app
        .state
        .accounts
        .create_user(NewUser { email: Email::parse("ann@example.com").unwrap(), name: None }, None)
        .await
        .unwrap();
    let (client_id, _) = create_client(&app, ClientType::Confidential).await;
    let client = app.state.clients.find(&ferrid::oauth::ClientId::parse(&client_id).unwrap()).await.unwrap();
    let now = app.state.clock.now();

    let (_, expired) = OpSession::start(user.id, vec!["pwd".into()], now - Duration::days(20));
    let (_, live) = OpSession::start(user.id, vec!["pwd".into()], now);
    for session in [&expired, &live] {
        app.state.sessions.insert(session, &RequestOrigin::default()).await.unwrap();
    }

    let grant = RefreshGrant {
        client_id: client.id.clone(),
        user_id: user.id,
        scope: Scope::parse("openid offline_access").unwrap(),
        sid: None,
        auth_time: now,
        amr: vec!["pwd".into()],
        dpop_jkt: None,
    };
    let (_, old_family) = issue_refresh_token(
        FamilyId::generate(),
        grant.clone(),
        now - Duration::days(40),
        RefreshLifetimes::default(),
        Default::default(),
    );
    let (_, live_family) =
        issue_refresh_token(FamilyId::generate(), grant, now, RefreshLifetimes::default(), Default::default());
    for token in [&old_family, &live_family] {
        app.state.refresh_tokens.insert(token).await.unwrap();
    }

    let reference = |jti: &str, expires_at| AccessTokenRecord {
        digest: OpaqueSecret::generate().digest(),
        grant: AccessGrant {
            subject: user.id.to_string(),
            client_id: client_id.clone(),
            scope: Scope::parse("openid").unwrap(),
            jti: jti.to_owned(),
            issued_at: now - Duration::hours(1),
            expires_at,
            audience: vec![app.address.clone()],
            sid: None,
            jkt: None,
        },
    };
    let (expired_access, live_access) =
        (reference("old", now - Duration::minutes(1)), reference("new", now + Duration::minutes(5)));
    for token in [&expired_access, &live_access] {
        app.state.access_tokens.insert(token).await.unwrap();
    }

    assert_eq!(
        sweep(&app.state).await.unwrap(),
        SweepReport { refresh_tokens: 1, access_tokens: 1, sessions: 1, audit_events: 0, mail_outbox: 0 }
    );
    assert!(app.state.access_tokens.find(&expired_access.digest).await.unwrap().is_none());
    assert!(app.state.access_tokens.find(&live_access.digest).await.unwrap().is_some());
    assert!(app.state.sessions.find(&expired.id).await.unwrap().is_none());
    assert!(app.state.sessions.find(&live.id).await.unwrap().is_some());
    assert!(app.state.refresh_tokens.find(&old_family.digest).await.unwrap().is_none());
    assert!(app.state.refresh_tokens.find(&live_family.digest).await.unwrap().is_some());
    assert_eq!(sweep(&app.state).await.unwrap(), SweepReport::default(), "nothing left to sweep");
    app.stop().await;
}
