use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

/// The obvious model: a list oldest first, re-inserts moved to the end.
#[derive(Default)]
struct Reference {
    entries: Vec<(Hash, SeriesId)>,
}

impl Reference {
    fn insert_many(&mut self, capacity: usize, items: &[(Hash, SeriesId)]) {
        for &(h, id) in items {
            self.entries.retain(|&(k, _)| k != h);
            self.entries.push((h, id));
        }
        let inserted: HashSet<Hash> = items.iter().map(|&(h, _)| h).collect();
        if self.entries.len() > capacity {
            let target = capacity - capacity / 10;
            while self.entries.len() > target && !inserted.contains(&self.entries[0].0) {
                self.entries.remove(0);
            }
        }
    }

    fn get(&self, h: Hash) -> Option<SeriesId> {
        self.entries
            .iter()
            .find(|&&(k, _)| k == h)
            .map(|&(_, id)| id)
    }
}

#[test]
fn insert_get_len_clear() {
    let mut m = SeriesMap::new(10);
    assert!(m.is_empty());
    m.insert_many([(1, 10), (-2, 20), (i64::MIN, i32::MAX)]);
    assert_eq!(
        (m.len(), m.get(1), m.get(-2), m.get(i64::MIN)),
        (3, Some(10), Some(20), Some(i32::MAX))
    );
    assert_eq!(m.get(3), None);
    m.insert_many([(1, 11), (1, 12)]);
    assert_eq!((m.len(), m.get(1)), (3, Some(12)));
    m.clear();
    assert_eq!((m.len(), m.get(1), m.capacity()), (0, None, 10));
}

#[test]
fn overflow_drops_the_oldest_until_a_tenth_is_free() {
    let mut m = SeriesMap::new(100);
    m.insert_many((0..100).map(|h| (h, h as i32)));
    assert_eq!(m.len(), 100);
    m.insert_many([(1000, 1)]);
    // 101 > 100: down to 90, the oldest 11 (0..=10) gone, the new one kept.
    assert_eq!(m.len(), 90);
    assert!((0..=10).all(|h| !m.contains(h)));
    assert!((11..100).all(|h| m.contains(h)) && m.contains(1000));
}

#[test]
fn reinsert_makes_an_entry_the_newest() {
    let mut m = SeriesMap::new(10);
    m.insert_many((0..10).map(|h| (h, 0)));
    m.insert_many([(0, 7)]); // 0 is now the newest
    m.insert_many([(100, 1)]); // 11 > 10: down to 9, dropping 1 and 2
    assert_eq!(m.get(0), Some(7));
    assert!(!m.contains(1) && !m.contains(2) && m.contains(3));
    assert_eq!(m.len(), 9);
}

#[test]
fn an_insert_larger_than_the_capacity_keeps_all_it_inserts() {
    let mut m = SeriesMap::new(5);
    m.insert_many((0..3).map(|h| (h, 0)));
    m.insert_many((10..18).map(|h| (h, 1)));
    assert_eq!(m.len(), 8);
    assert!((10..18).all(|h| m.contains(h)) && !m.contains(0));
    m.insert_many([(99, 2)]); // the next insert trims to 5 - 0 = 5
    assert_eq!(m.len(), 5);
    assert!(m.contains(99) && (14..18).all(|h| m.contains(h)));
}

#[test]
fn reinserts_do_not_grow_the_order_queue_without_bound() {
    let mut m = SeriesMap::new(4);
    for i in 0..10_000 {
        m.insert_many([(1, i), (2, i)]);
    }
    assert_eq!((m.len(), m.get(1), m.get(2)), (2, Some(9_999), Some(9_999)));
    assert!(m.order.len() <= 2 * m.len() + 1024 + 2);
}

#[test]
#[should_panic(expected = "capacity of at least 1")]
fn zero_capacity_is_refused() {
    SeriesMap::new(0);
}

proptest! {
    #[test]
    fn matches_the_reference(
        capacity in 1usize..40,
        calls in prop::collection::vec(
            prop::collection::vec((0i64..60, any::<i32>()), 0..25), 1..30),
    ) {
        let mut m = SeriesMap::new(capacity);
        let mut r = Reference::default();
        for items in &calls {
            m.insert_many(items.iter().copied());
            r.insert_many(capacity, items);
            prop_assert_eq!(m.len(), r.entries.len());
            for h in 0..60 {
                prop_assert_eq!(m.get(h), r.get(h));
            }
            for &(h, _) in items {
                prop_assert!(m.contains(h), "an insert evicted its own item {}", h);
            }
        }
    }
}
