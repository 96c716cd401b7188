//! Go 1.19's `sort.Sort` (pattern-defeating quicksort), step for step, so
//! that `sort()` and `sort_desc()` leave samples with equal values (and
//! NaNs) in the order Prometheus 2.42 (built with Go 1.19) leaves them. The
//! algorithm is not stable; a stable sort would order ties differently once
//! a vector has more than 12 samples.

/// Sorts `v` by `less` exactly as Go's `sort.Sort` with that `Less` does.
pub(crate) fn go_sort_by<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let mut s = Sorter { v, less };
    let limit = bit_len(n);
    s.pdqsort(0, n, limit);
}

/// The number of bits needed to represent `n` (Go's `bits.Len`).
fn bit_len(n: usize) -> u32 {
    usize::BITS - n.leading_zeros()
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Hint {
    Unknown,
    Increasing,
    Decreasing,
}

struct Sorter<'a, T, F> {
    v: &'a mut [T],
    less: F,
}

impl<T, F: Fn(&T, &T) -> bool> Sorter<'_, T, F> {
    fn less(&self, i: usize, j: usize) -> bool {
        (self.less)(&self.v[i], &self.v[j])
    }

    fn swap(&mut self, i: usize, j: usize) {
        self.v.swap(i, j);
    }

    fn insertion_sort(&mut self, a: usize, b: usize) {
        for i in a + 1..b {
            let mut j = i;
            while j > a && self.less(j, j - 1) {
                self.swap(j, j - 1);
                j -= 1;
            }
        }
    }

    fn sift_down(&mut self, lo: usize, hi: usize, first: usize) {
        let mut root = lo;
        loop {
            let mut child = 2 * root + 1;
            if child >= hi {
                return;
            }
            if child + 1 < hi && self.less(first + child, first + child + 1) {
                child += 1;
            }
            if !self.less(first + root, first + child) {
                return;
            }
            self.swap(first + root, first + child);
            root = child;
        }
    }

    fn heap_sort(&mut self, a: usize, b: usize) {
        let first = a;
        let hi = b - a;
        for i in (0..=(hi - 1) / 2).rev() {
            self.sift_down(i, hi, first);
        }
        for i in (0..hi).rev() {
            self.swap(first, first + i);
            self.sift_down(0, i, first);
        }
    }

    fn pdqsort(&mut self, mut a: usize, mut b: usize, mut limit: u32) {
        const MAX_INSERTION: usize = 12;
        let mut was_balanced = true;
        let mut was_partitioned = true;
        loop {
            let length = b - a;
            if length <= MAX_INSERTION {
                self.insertion_sort(a, b);
                return;
            }
            if limit == 0 {
                self.heap_sort(a, b);
                return;
            }
            if !was_balanced {
                self.break_patterns(a, b);
                limit -= 1;
            }
            let (mut pivot, mut hint) = self.choose_pivot(a, b);
            if hint == Hint::Decreasing {
                self.reverse_range(a, b);
                pivot = (b - 1) - (pivot - a);
                hint = Hint::Increasing;
            }
            if was_balanced
                && was_partitioned
                && hint == Hint::Increasing
                && self.partial_insertion_sort(a, b)
            {
                return;
            }
            // Many elements equal to the one before this range: put those
            // equal to the pivot first and sort only what is greater.
            if a > 0 && !self.less(a - 1, pivot) {
                a = self.partition_equal(a, b, pivot);
                continue;
            }
            let (mid, already_partitioned) = self.partition(a, b, pivot);
            was_partitioned = already_partitioned;
            let (left, right) = (mid - a, b - mid);
            let balance_threshold = length / 8;
            if left < right {
                was_balanced = left >= balance_threshold;
                self.pdqsort(a, mid, limit);
                a = mid + 1;
            } else {
                was_balanced = right >= balance_threshold;
                self.pdqsort(mid + 1, b, limit);
                b = mid;
            }
        }
    }

    fn partition(&mut self, a: usize, b: usize, pivot: usize) -> (usize, bool) {
        self.swap(a, pivot);
        // i and j are inclusive bounds of what is left to partition; j may
        // step below a + 1 (to a), so it is kept signed.
        let (mut i, mut j) = (a as isize + 1, b as isize - 1);
        let ok = |i: isize| i as usize;
        while i <= j && self.less(ok(i), a) {
            i += 1;
        }
        while i <= j && !self.less(ok(j), a) {
            j -= 1;
        }
        if i > j {
            self.swap(ok(j), a);
            return (ok(j), true);
        }
        self.swap(ok(i), ok(j));
        i += 1;
        j -= 1;
        loop {
            while i <= j && self.less(ok(i), a) {
                i += 1;
            }
            while i <= j && !self.less(ok(j), a) {
                j -= 1;
            }
            if i > j {
                break;
            }
            self.swap(ok(i), ok(j));
            i += 1;
            j -= 1;
        }
        self.swap(ok(j), a);
        (ok(j), false)
    }

    fn partition_equal(&mut self, a: usize, b: usize, pivot: usize) -> usize {
        self.swap(a, pivot);
        let (mut i, mut j) = (a as isize + 1, b as isize - 1);
        let ok = |i: isize| i as usize;
        loop {
            while i <= j && !self.less(a, ok(i)) {
                i += 1;
            }
            while i <= j && self.less(a, ok(j)) {
                j -= 1;
            }
            if i > j {
                break;
            }
            self.swap(ok(i), ok(j));
            i += 1;
            j -= 1;
        }
        ok(i)
    }

    fn partial_insertion_sort(&mut self, a: usize, b: usize) -> bool {
        const MAX_STEPS: usize = 5;
        const SHORTEST_SHIFTING: usize = 50;
        let mut i = a + 1;
        for _ in 0..MAX_STEPS {
            while i < b && !self.less(i, i - 1) {
                i += 1;
            }
            if i == b {
                return true;
            }
            if b - a < SHORTEST_SHIFTING {
                return false;
            }
            self.swap(i, i - 1);
            if i - a >= 2 {
                let mut j = i - 1;
                while j >= 1 {
                    if !self.less(j, j - 1) {
                        break;
                    }
                    self.swap(j, j - 1);
                    j -= 1;
                }
            }
            if b - i >= 2 {
                for j in i + 1..b {
                    if !self.less(j, j - 1) {
                        break;
                    }
                    self.swap(j, j - 1);
                }
            }
        }
        false
    }

    fn break_patterns(&mut self, a: usize, b: usize) {
        let length = b - a;
        if length >= 8 {
            // Go 1.19's xorshift (shifts 13, 17, 5), seeded with the length.
            let mut random = length as u64;
            let modulus = 1usize << bit_len(length);
            let mid = a + (length / 4) * 2;
            for idx in mid - 1..=mid + 1 {
                random ^= random << 13;
                random ^= random >> 17;
                random ^= random << 5;
                let mut other = (random as usize) & (modulus - 1);
                if other >= length {
                    other -= length;
                }
                self.swap(idx, a + other);
            }
        }
    }

    fn choose_pivot(&mut self, a: usize, b: usize) -> (usize, Hint) {
        const SHORTEST_NINTHER: usize = 50;
        const MAX_SWAPS: usize = 4 * 3;
        let l = b - a;
        let mut swaps = 0;
        let mut i = a + l / 4;
        let mut j = a + l / 4 * 2;
        let mut k = a + l / 4 * 3;
        if l >= 8 {
            if l >= SHORTEST_NINTHER {
                i = self.median(i - 1, i, i + 1, &mut swaps);
                j = self.median(j - 1, j, j + 1, &mut swaps);
                k = self.median(k - 1, k, k + 1, &mut swaps);
            }
            j = self.median(i, j, k, &mut swaps);
        }
        match swaps {
            0 => (j, Hint::Increasing),
            MAX_SWAPS => (j, Hint::Decreasing),
            _ => (j, Hint::Unknown),
        }
    }

    fn order2(&self, a: usize, b: usize, swaps: &mut usize) -> (usize, usize) {
        if self.less(b, a) {
            *swaps += 1;
            (b, a)
        } else {
            (a, b)
        }
    }

    fn median(&self, a: usize, b: usize, c: usize, swaps: &mut usize) -> usize {
        let (a, b) = self.order2(a, b, swaps);
        let (b, c) = self.order2(b, c, swaps);
        let _ = c;
        let (_, b) = self.order2(a, b, swaps);
        b
    }

    fn reverse_range(&mut self, a: usize, b: usize) {
        let (mut i, mut j) = (a, b - 1);
        while i < j {
            self.swap(i, j);
            i += 1;
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator for test inputs.
    fn values(n: usize, seed: u64, distinct: u64) -> Vec<(u64, usize)> {
        let mut x = seed | 1;
        (0..n)
            .map(|i| {
                x ^= x << 7;
                x ^= x >> 9;
                (x % distinct, i)
            })
            .collect()
    }

    #[test]
    fn sorts_every_shape() {
        for n in [0, 1, 2, 5, 12, 13, 20, 49, 50, 51, 100, 257, 1000, 5000] {
            for (seed, distinct) in [(1, 3), (7, 1000), (99, 1), (5, 50)] {
                let mut v = values(n, seed, distinct);
                go_sort_by(&mut v, |a, b| a.0 < b.0);
                assert!(v.windows(2).all(|w| w[0].0 <= w[1].0), "n={n}");
                let mut idx: Vec<_> = v.iter().map(|p| p.1).collect();
                idx.sort();
                assert_eq!(idx, (0..n).collect::<Vec<_>>());
            }
            // Sorted, reversed and organ-pipe inputs.
            let mut asc: Vec<usize> = (0..n).collect();
            go_sort_by(&mut asc, |a, b| a < b);
            assert!(asc.windows(2).all(|w| w[0] <= w[1]));
            let mut desc: Vec<usize> = (0..n).rev().collect();
            go_sort_by(&mut desc, |a, b| a < b);
            assert!(desc.windows(2).all(|w| w[0] <= w[1]));
            let mut pipe: Vec<usize> = (0..n / 2).chain((0..n - n / 2).rev()).collect();
            go_sort_by(&mut pipe, |a, b| a < b);
            assert!(pipe.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    #[test]
    fn small_inputs_sort_stably_as_go_insertion_sort() {
        let mut v = vec![(2, 'a'), (1, 'b'), (2, 'c'), (1, 'd')];
        go_sort_by(&mut v, |a, b| a.0 < b.0);
        assert_eq!(v, vec![(1, 'b'), (1, 'd'), (2, 'a'), (2, 'c')]);
    }

    /// The order of the original indices after sorting, hashed.
    fn order_hash(keys: &[u64]) -> (Vec<usize>, u64) {
        let mut v: Vec<(u64, usize)> = keys.iter().copied().zip(0..).collect();
        go_sort_by(&mut v, |a, b| a.0 < b.0);
        let idx: Vec<usize> = v.iter().map(|p| p.1).collect();
        let h = idx.iter().fold(0u64, |h, &i| {
            h.wrapping_mul(1_000_003).wrapping_add(i as u64)
        });
        (idx, h)
    }

    #[test]
    fn ties_land_where_go_1_19_puts_them() {
        // Expected orders from Go's sort.Sort (its pdqsort with Go 1.19's
        // xorshift) run on the same keys, each original index in the
        // second field.
        let keys: Vec<u64> = (0..20).map(|i| [3, 1, 2][i % 3]).collect();
        let (idx, h) = order_hash(&keys);
        assert_eq!(
            idx,
            [7, 1, 19, 16, 4, 13, 10, 5, 8, 11, 14, 17, 2, 9, 6, 12, 0, 15, 3, 18]
        );
        assert_eq!(h, 9363453316624948704);
        // 200 keys with 5 distinct values (partition_equal at work).
        let mut x: u64 = 12345;
        let keys: Vec<u64> = (0..200)
            .map(|_| {
                x ^= x << 7;
                x ^= x >> 9;
                x % 5
            })
            .collect();
        assert_eq!(order_hash(&keys).1, 7574296560543913130);
        // An organ pipe of 300 with ties (unbalanced partitions, patterns broken).
        let keys: Vec<u64> = (0..300)
            .map(|i| if i < 150 { i / 3 } else { (299 - i) / 3 })
            .collect();
        assert_eq!(order_hash(&keys).1, 16088554289696785962);
    }
}
