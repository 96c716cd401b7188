//! A bounded map from series hash to `series_id`: the in-memory cache of the
//! `metric_series` dictionary that an ingest worker keeps.
//!
//! Pure Rust; the Python binding is `crate::py::series_map`. When an insert
//! would take the map past its capacity, the oldest entries are dropped until
//! a tenth of it is free (so evictions come in batches, not one per insert);
//! dropped series are looked up again in PostgreSQL on demand, which holds the
//! truth. "Oldest" is by insertion: re-inserting a hash makes it the newest.
//! An insert never evicts the entries it inserts, so a caller that inserts the
//! ids it is about to use finds them afterwards.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;

use crate::ingest::IdentityHasher;

/// A series hash (signed XXH64, see [`crate::series`]).
pub type Hash = i64;
/// A `metric_series.series_id` (PostgreSQL `serial`).
pub type SeriesId = i32;

#[derive(Debug, Clone, Copy)]
struct Entry {
    id: SeriesId,
    /// The insertion stamp of the live entry in `order`; entries of `order`
    /// with another stamp are leftovers of a re-insert, skipped on eviction.
    stamp: u64,
}

/// Bounded hash → `series_id` map with insertion-order eviction.
#[derive(Debug, Clone)]
pub struct SeriesMap {
    capacity: usize,
    ids: HashMap<Hash, Entry, BuildHasherDefault<IdentityHasher>>,
    /// `(hash, stamp)` oldest first; one live element per entry of `ids`.
    order: VecDeque<(Hash, u64)>,
    next_stamp: u64,
}

impl SeriesMap {
    /// An empty map holding at most `capacity` (≥ 1) entries between inserts.
    ///
    /// # Panics
    /// If `capacity` is 0.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "a SeriesMap needs a capacity of at least 1");
        SeriesMap {
            capacity,
            ids: HashMap::default(),
            order: VecDeque::new(),
            next_stamp: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn get(&self, hash: Hash) -> Option<SeriesId> {
        self.ids.get(&hash).map(|e| e.id)
    }

    pub fn contains(&self, hash: Hash) -> bool {
        self.ids.contains_key(&hash)
    }

    pub fn clear(&mut self) {
        self.ids.clear();
        self.order.clear();
    }

    /// Insert or replace each `(hash, id)` (a later duplicate wins), each
    /// becoming the newest entry. If the map then holds more than its
    /// capacity, the oldest entries *not inserted by this call* are dropped
    /// until a tenth of the capacity is free; a call inserting more distinct
    /// hashes than the capacity keeps them all (the next insert trims).
    pub fn insert_many(&mut self, items: impl IntoIterator<Item = (Hash, SeriesId)>) {
        let first_new = self.next_stamp;
        for (hash, id) in items {
            let stamp = self.next_stamp;
            self.next_stamp += 1;
            self.ids.insert(hash, Entry { id, stamp });
            self.order.push_back((hash, stamp));
        }
        if self.ids.len() > self.capacity {
            self.evict_down_to(self.capacity - self.capacity / 10, first_new);
        }
        // Re-inserts leave dead elements in `order`; keep it proportional to the map.
        if self.order.len() > 2 * self.ids.len() + 1024 {
            let ids = &self.ids;
            self.order
                .retain(|(h, s)| ids.get(h).is_some_and(|e| e.stamp == *s));
        }
    }

    /// Drop the oldest entries until `target` remain, stopping at the first
    /// one stamped `keep_from` or later.
    fn evict_down_to(&mut self, target: usize, keep_from: u64) {
        while self.ids.len() > target {
            match self.order.front() {
                Some(&(hash, stamp)) if stamp < keep_from => {
                    self.order.pop_front();
                    if self.ids.get(&hash).is_some_and(|e| e.stamp == stamp) {
                        self.ids.remove(&hash);
                    }
                }
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests;
