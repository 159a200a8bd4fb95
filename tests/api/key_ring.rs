//! The key ring through the running server: /jwks (RFC 7517 §5, kids per RFC 7638), sealing at
//! rest under the KEK, restarts, scheduled rotation (next → active → retired → removed), and
//! several nodes sharing one ring (DESIGN §7.6).

use std::{sync::Arc, time::Duration};

use chrono::{TimeZone, Utc};
use ferrid::{
    clock::{Clock, FixedClock},
    keyring::KeyRingService,
    store::{Database, sql::SqlKeyStore},
};
use keys::{Kek, KeyAlg, KeyRing, KeyState, KeyStore, PublicJwk, SigningAlg};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestResources, start_app};

on_every_backend!(
    jwks_publishes_every_configured_key_and_supports_conditional_requests,
    keys_survive_a_restart_and_a_wrong_kek_stops_start_up,
    rotation_walks_next_active_retired_removed_on_schedule,
    nodes_racing_to_create_or_rotate_keys_make_exactly_one,
    another_node_sees_a_rotation_within_the_refresh_interval,
    the_schedule_s_key_changes_are_audited,
);

const DAY: chrono::Duration = chrono::Duration::days(1);

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

async fn jwks(app: &crate::helpers::TestApp) -> Vec<Value> {
    let body: Value = app.get("/jwks").await.json().await.unwrap();
    body["keys"].as_array().unwrap().clone()
}

fn kids(keys: &[Value]) -> Vec<String> {
    let mut kids: Vec<String> = keys.iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
    kids.sort();
    kids
}

fn signing_kid(app: &crate::helpers::TestApp, alg: SigningAlg) -> String {
    app.state.keys.current().ring.signing_key(alg).unwrap().kid().to_owned()
}

async fn jwks_publishes_every_configured_key_and_supports_conditional_requests(backend: Backend) {
    let app = start_app(TestResources::create(backend).await, &[], Arc::new(ferrid::clock::SystemClock)).await.unwrap();
    let response = app.get("/jwks").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let keys = body["keys"].as_array().unwrap();

    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ECDH-ES", "ECDH-ES+A256KW", "ES256", "EdDSA", "PS256", "RS256", "RSA-OAEP-256"]);
    for key in keys {
        // RFC 7638 §3: the kid is the key's SHA-256 thumbprint.
        let jwk = PublicJwk::from_value(key.clone()).unwrap();
        assert_eq!(key["kid"].as_str().unwrap(), jwk.thumbprint().unwrap());
        let expected_use =
            if ["RS256", "PS256", "ES256", "EdDSA"].contains(&key["alg"].as_str().unwrap()) { "sig" } else { "enc" };
        assert_eq!(key["use"], expected_use);
        // DESIGN §7.3: no private member ever leaves (RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2).
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "{private} published for {}", key["kid"]);
        }
    }

    // RFC 9110 §13.1.2: a current If-None-Match gets 304 with the same validators.
    let not_modified = app.http.get(app.url("/jwks")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(not_modified.headers()["etag"], etag.as_str());
    let stale = app.http.get(app.url("/jwks")).header("if-none-match", "\"stale\"").send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    app.stop().await;
}

async fn keys_survive_a_restart_and_a_wrong_kek_stops_start_up(backend: Backend) {
    let kek = Kek::generate().unwrap().expose_base64();
    let with_kek = [("FERRID_KEK", kek.as_str())];
    let clock: Arc<dyn Clock> = Arc::new(ferrid::clock::SystemClock);
    let app = start_app(TestResources::create(backend).await, &with_kek, clock.clone()).await.unwrap();
    let before = kids(&jwks(&app).await);
    let resources = app.stop().await;

    let app = start_app(resources, &with_kek, clock.clone()).await.unwrap();
    assert_eq!(kids(&jwks(&app).await), before, "a restart keeps every key");
    let resources = app.stop().await;

    let wrong = Kek::generate().unwrap().expose_base64();
    let error = match start_app(resources.share(), &[("FERRID_KEK", wrong.as_str())], clock.clone()).await {
        Ok(_) => panic!("started with the wrong KEK"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("key-encryption key does not open the stored keys"), "{error}");

    // Nothing was generated over the old keys.
    let app = start_app(resources, &with_kek, clock).await.unwrap();
    assert_eq!(kids(&jwks(&app).await), before);
    // At rest the private parts are sealed: no stored column holds a JWK private member.
    let store = SqlKeyStore::new(app.state.database.connection().clone());
    for record in store.load_all().await.unwrap() {
        let sealed = String::from_utf8_lossy(&record.sealed_private);
        assert!(!sealed.contains("\"d\""), "{} stored in clear", record.kid);
    }
    app.stop().await;
}

async fn rotation_walks_next_active_retired_removed_on_schedule(backend: Backend) {
    let clock = FixedClock::at(t0());
    let settings = [("FERRID_KEY_ALGS", "RS256")];
    let app = start_app(TestResources::create(backend).await, &settings, Arc::new(clock.clone())).await.unwrap();
    let first = signing_kid(&app, SigningAlg::RS256);
    assert_eq!(kids(&jwks(&app).await), vec![first.clone()]);

    // Day 29 (rotation every 30 days, published 1 day ahead): a next key appears in the JWKS
    // but does not sign yet.
    clock.advance(DAY * 29);
    assert!(app.state.keys.refresh().await.unwrap());
    let published = kids(&jwks(&app).await);
    assert_eq!(published.len(), 2);
    assert_eq!(signing_kid(&app, SigningAlg::RS256), first);
    let next = published.into_iter().find(|kid| *kid != first).unwrap();

    // Day 30: next becomes active; the old key retires but stays published.
    clock.advance(DAY);
    assert!(app.state.keys.refresh().await.unwrap());
    assert_eq!(signing_kid(&app, SigningAlg::RS256), next);
    let mut both = vec![first.clone(), next.clone()];
    both.sort();
    assert_eq!(kids(&jwks(&app).await), both);
    let states: Vec<(String, KeyState)> =
        app.state.keys.current().ring.records().iter().map(|r| (r.kid.clone(), r.state)).collect();
    assert!(states.contains(&(first.clone(), KeyState::Retired)));

    // After the longest token lifetime (1 day by default) the retired key is removed.
    clock.advance(DAY + chrono::Duration::seconds(1));
    assert!(app.state.keys.refresh().await.unwrap());
    assert_eq!(kids(&jwks(&app).await), vec![next]);
    app.stop().await;
}

async fn nodes_racing_to_create_or_rotate_keys_make_exactly_one(backend: Backend) {
    let resources = TestResources::create(backend).await;
    let config = resources.config(&[("FERRID_KEY_ALGS", "RS256,ES256")]);
    let database = Database::connect(&config.database_url, 4).await.unwrap();
    database.migrate_up(None).await.unwrap();
    let kek = Kek::generate().unwrap();
    let clock = FixedClock::at(t0());
    let store = || -> Arc<dyn KeyStore> { Arc::new(SqlKeyStore::new(database.connection().clone())) };
    let node = |store: Arc<dyn KeyStore>| {
        let kek = Kek::from_base64(&kek.expose_base64()).unwrap();
        let settings = config.key_ring.clone();
        let clock: Arc<dyn Clock> = Arc::new(clock.clone());
        async move { KeyRingService::start(store, kek, &settings, clock, Default::default()).await.unwrap() }
    };

    // First start on an empty ring, four nodes at once: one active key per algorithm.
    let nodes = futures::future::join_all((0..4).map(|_| node(store()))).await;
    let records = store().load_all().await.unwrap();
    for alg in [KeyAlg::Signing(SigningAlg::RS256), KeyAlg::Signing(SigningAlg::ES256)] {
        let of_alg: Vec<_> = records.iter().filter(|r| r.alg == alg).collect();
        assert_eq!(of_alg.len(), 1, "{alg}: {of_alg:?}");
        assert_eq!(of_alg[0].state, KeyState::Active);
    }

    // Day 29: every node finds a next key due; exactly one is created per algorithm.
    clock.advance(DAY * 29);
    futures::future::join_all(nodes.iter().map(|n| n.refresh())).await.into_iter().for_each(|r| {
        r.unwrap();
    });
    let records = store().load_all().await.unwrap();
    assert_eq!(records.iter().filter(|r| r.state == KeyState::Next).count(), 2, "{records:?}");

    // Day 30: every node promotes; exactly one promotion per algorithm.
    clock.advance(DAY);
    futures::future::join_all(nodes.iter().map(|n| n.refresh())).await.into_iter().for_each(|r| {
        r.unwrap();
    });
    let records = store().load_all().await.unwrap();
    assert_eq!(records.iter().filter(|r| r.state == KeyState::Active).count(), 2);
    assert_eq!(records.iter().filter(|r| r.state == KeyState::Retired).count(), 2);
    assert_eq!(records.len(), 4);
    // Every node signs with the same, new key.
    let ring = KeyRing::from_store(store().as_ref(), &kek).await.unwrap();
    let active = ring.signing_key(SigningAlg::RS256).unwrap().kid().to_owned();
    for node in &nodes {
        assert_eq!(node.current().ring.signing_key(SigningAlg::RS256).unwrap().kid(), active);
    }
    database.close().await;
}

async fn another_node_sees_a_rotation_within_the_refresh_interval(backend: Backend) {
    let resources = TestResources::create(backend).await;
    let settings = [("FERRID_KEY_ALGS", "RS256"), ("FERRID_KEY_REFRESH_SECS", "1")];
    let clock: Arc<dyn Clock> = Arc::new(ferrid::clock::SystemClock);
    let node_b = start_app(resources.share(), &settings, clock.clone()).await.unwrap();
    let node_a = start_app(resources, &settings, clock).await.unwrap();
    let old = signing_kid(&node_b, SigningAlg::RS256);

    node_a.state.keys.rotate(KeyAlg::Signing(SigningAlg::RS256)).await.unwrap();
    let new = signing_kid(&node_a, SigningAlg::RS256);
    assert_ne!(new, old);

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while signing_kid(&node_b, SigningAlg::RS256) != new {
        assert!(std::time::Instant::now() < deadline, "node B still signs with {old}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let published = kids(&jwks(&node_b).await);
    assert!(published.contains(&new) && published.contains(&old), "the retired key stays published");
    node_b.stop().await;
    node_a.stop().await;
}

/// Issue 8 item 5: a key change made by the rotation schedule (no operator involved) is in the
/// audit log, with ferrid as the actor and kids only.
async fn the_schedule_s_key_changes_are_audited(backend: Backend) {
    let clock = FixedClock::at(t0());
    let settings = [("FERRID_KEY_ALGS", "RS256"), ("FERRID_KEY_REFRESH_SECS", "1")];
    let app = start_app(TestResources::create(backend).await, &settings, Arc::new(clock.clone())).await.unwrap();
    clock.advance(DAY * 29);

    let query =
        ferrid::audit::AuditQuery { kind: Some("key.rotate.scheduled".into()), limit: 10, ..Default::default() };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let records = loop {
        let records = app.state.audit.query(&query).await.unwrap();
        if !records.is_empty() {
            break records;
        }
        assert!(std::time::Instant::now() < deadline, "the refresher recorded no scheduled change");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let event = &records[0].event;
    assert_eq!(event.actor.user, None, "ferrid itself acted");
    let details = event.details.clone().unwrap();
    assert_eq!((details["change"].as_str(), details["alg"].as_str()), (Some("create"), Some("RS256")));
    assert_eq!(details["state"], "next");
    assert!(!details.to_string().contains("\"d\""), "no key material: {details}");
    app.stop().await;
}
