//! The conformance suite for the short-lived store: the in-process and Redis implementations
//! must behave identically (STYLE: one storage suite, every backend).

use std::{sync::Arc, time::Duration};

use ferrid::{
    config::Sensitive,
    store::{
        ShortLivedStore,
        short_lived::{MemoryStore, RedisStore},
    },
};

use crate::helpers::{Backend, TestResources};

on_every_backend!(
    put_get_and_take_once,
    concurrent_takes_yield_exactly_one_value,
    values_expire_after_their_ttl,
    put_if_absent_accepts_only_the_first,
    counters_count_within_a_window_and_reset_after_it,
    delete_removes_a_value,
    get_many_reads_values_in_key_order,
);

/// The store under test, with resources that are cleaned up when the test ends.
async fn store(backend: Backend) -> (Arc<dyn ShortLivedStore>, TestResources) {
    let resources = TestResources::create(backend).await;
    let store: Arc<dyn ShortLivedStore> = match &resources.redis_url {
        Some(url) => Arc::new(RedisStore::connect(&Sensitive::new(url.clone()), &resources.redis_prefix).unwrap()),
        None => Arc::new(MemoryStore::new()),
    };
    (store, resources)
}

const MINUTE: Duration = Duration::from_secs(60);

async fn put_get_and_take_once(backend: Backend) {
    let (store, _resources) = store(backend).await;
    store.ping().await.unwrap();
    assert_eq!(store.get("code:a").await.unwrap(), None);
    store.put("code:a", b"grant-1", MINUTE).await.unwrap();
    assert_eq!(store.get("code:a").await.unwrap().as_deref(), Some(&b"grant-1"[..]));
    store.put("code:a", b"grant-2", MINUTE).await.unwrap();
    assert_eq!(store.take("code:a").await.unwrap().as_deref(), Some(&b"grant-2"[..]));
    assert_eq!(store.take("code:a").await.unwrap(), None, "a taken value is gone");
    assert_eq!(store.get("code:a").await.unwrap(), None);
}

async fn concurrent_takes_yield_exactly_one_value(backend: Backend) {
    // DESIGN §7.1: a single-use value is redeemed at most once, also under concurrency.
    let (store, _resources) = store(backend).await;
    for round in 0..5 {
        let key = format!("code:race:{round}");
        store.put(&key, b"once", MINUTE).await.unwrap();
        let takers = (0..32).map(|_| {
            let store = store.clone();
            let key = key.clone();
            tokio::spawn(async move { store.take(&key).await.unwrap() })
        });
        let results = futures::future::join_all(takers).await;
        let winners = results.into_iter().filter(|r| r.as_ref().unwrap().is_some()).count();
        assert_eq!(winners, 1, "round {round}");
    }
}

async fn values_expire_after_their_ttl(backend: Backend) {
    let (store, _resources) = store(backend).await;
    store.put("otp:x", b"123456", Duration::from_millis(800)).await.unwrap();
    assert!(store.get("otp:x").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(store.get("otp:x").await.unwrap(), None);
    assert_eq!(store.take("otp:x").await.unwrap(), None);
}

async fn put_if_absent_accepts_only_the_first(backend: Backend) {
    let (store, _resources) = store(backend).await;
    assert!(store.put_if_absent("jti:1", b"a", MINUTE).await.unwrap());
    assert!(!store.put_if_absent("jti:1", b"b", MINUTE).await.unwrap());
    assert_eq!(store.get("jti:1").await.unwrap().as_deref(), Some(&b"a"[..]));

    let racers = (0..16).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.put_if_absent("jti:2", format!("{i}").as_bytes(), MINUTE).await.unwrap() })
    });
    let accepted = futures::future::join_all(racers).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(accepted, 1);

    store.put_if_absent("jti:3", b"short", Duration::from_millis(800)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(store.put_if_absent("jti:3", b"again", MINUTE).await.unwrap(), "an expired value frees its key");
}

async fn counters_count_within_a_window_and_reset_after_it(backend: Backend) {
    let (store, _resources) = store(backend).await;
    let window = Duration::from_millis(2000);
    let first = store.increment("rl:ip", window).await.unwrap();
    assert_eq!(first.count, 1);
    assert!(first.resets_in <= window && first.resets_in > Duration::ZERO);
    let increments = (0..20).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.increment("rl:ip", window).await.unwrap().count })
    });
    let mut counts: Vec<u64> = futures::future::join_all(increments).await.into_iter().map(Result::unwrap).collect();
    counts.sort_unstable();
    assert_eq!(counts, (2..=21).collect::<Vec<_>>(), "every increment is counted exactly once");

    tokio::time::sleep(Duration::from_millis(2400)).await;
    assert_eq!(store.increment("rl:ip", window).await.unwrap().count, 1, "a new window starts from zero");
}

async fn delete_removes_a_value(backend: Backend) {
    let (store, _resources) = store(backend).await;
    store.put("reset:1", b"v", MINUTE).await.unwrap();
    store.delete("reset:1").await.unwrap();
    assert_eq!(store.get("reset:1").await.unwrap(), None);
    store.delete("reset:never-existed").await.unwrap();
}

async fn get_many_reads_values_in_key_order(backend: Backend) {
    let (store, _resources) = store(backend).await;
    store.put("deny:a", b"1", MINUTE).await.unwrap();
    store.put("deny:c", b"3", MINUTE).await.unwrap();
    let values = store.get_many(&["deny:c", "deny:b", "deny:a"]).await.unwrap();
    assert_eq!(values, [Some(b"3".to_vec()), None, Some(b"1".to_vec())]);
    assert_eq!(store.get_many(&["deny:b"]).await.unwrap(), [None], "one key is still a list");
}
