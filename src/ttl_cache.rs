//! A small read-through cache for records every request reads and few requests change: an entry
//! is served for at most `ttl` after it was read, so a change made on another node is seen within
//! `ttl`; a change made on this node forgets the entry at once. Bounded: past `most` entries the
//! cache starts over.

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    sync::RwLock,
    time::{Duration, Instant},
};

pub struct TtlCache<K, V> {
    entries: RwLock<HashMap<K, (Instant, V)>>,
    ttl: Duration,
    most: usize,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, most: usize) -> Self {
        Self { entries: RwLock::default(), ttl, most }
    }

    pub fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let entries = self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (read_at, value) = entries.get(key)?;
        (read_at.elapsed() < self.ttl).then(|| value.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= self.most {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn forget<Q: Eq + Hash + ?Sized>(&self, key: &Q)
    where
        K: Borrow<Q>,
    {
        self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_served_until_forgotten_or_stale() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        assert_eq!(cache.get("app"), None);
        cache.put("app".to_owned(), 1);
        assert_eq!(cache.get("app"), Some(1));
        cache.forget("app");
        assert_eq!(cache.get("app"), None);

        cache.put("app".to_owned(), 1);
        let stale = Instant::now().checked_sub(Duration::from_secs(60)).unwrap();
        cache.entries.write().unwrap().get_mut("app").unwrap().0 = stale;
        assert_eq!(cache.get("app"), None, "an entry older than the TTL is not served");
    }

    #[test]
    fn the_cache_never_grows_past_its_bound() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        for n in 0..=10 {
            cache.put(n, n);
        }
        assert!(cache.entries.read().unwrap().len() <= 10);
    }
}
