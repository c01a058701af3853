//! `Dict`: a chained hash table with power-of-two bucket counts, a fixed-seed hash, and
//! Redis's reverse-binary SCAN cursor.
//!
//! Why not `HashMap`: SCAN promises that an element present for the whole scan is returned at
//! least once, even when the table grows or shrinks between calls. That holds when an
//! element's bucket is a function of its hash alone and the cursor walks bucket indices with
//! their bits reversed: growing splits bucket `b` into `b` and `b | old_size`, which the
//! reversed walk visits right after each other. Open addressing (hashbrown) moves elements by
//! probing, so it cannot keep that promise. The hash is seeded from the log, never from the
//! OS, so every node iterates in the same order.
//!
//! Resizes happen at once (no incremental rehash): load factor 1 to grow, 1/8 to shrink.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

struct Node<V> {
    key: Box<[u8]>,
    value: V,
    next: Option<Box<Node<V>>>,
}

pub struct Dict<V> {
    buckets: Vec<Option<Box<Node<V>>>>,
    len: usize,
    hasher: FixedState,
    seed: u64,
}

/// The smallest table; also the size an empty dict shrinks back to.
const BUCKETS_MIN: usize = 4;

impl<V> Dict<V> {
    pub fn new(seed: u64) -> Dict<V> {
        Dict {
            buckets: Vec::new(),
            len: 0,
            hasher: FixedState::with_seed(seed),
            seed,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    fn bucket_of(&self, key: &[u8]) -> usize {
        (self.hash(key) as usize) & self.mask()
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut node = self.buckets[self.bucket_of(key)].as_deref();
        while let Some(n) = node {
            if &*n.key == key {
                return Some(&n.value);
            }
            node = n.next.as_deref();
        }
        None
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        if self.buckets.is_empty() {
            return None;
        }
        let b = self.bucket_of(key);
        let mut node = self.buckets[b].as_deref_mut();
        while let Some(n) = node {
            if &*n.key == key {
                return Some(&mut n.value);
            }
            node = n.next.as_deref_mut();
        }
        None
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        if let Some(slot) = self.get_mut(key) {
            return Some(std::mem::replace(slot, value));
        }
        if self.len >= self.buckets.len() {
            self.resize((self.buckets.len() * 2).max(BUCKETS_MIN));
        }
        let b = self.bucket_of(key);
        let next = self.buckets[b].take();
        self.buckets[b] = Some(Box::new(Node {
            key: key.into(),
            value,
            next,
        }));
        self.len += 1;
        None
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        if self.buckets.is_empty() {
            return None;
        }
        let b = self.bucket_of(key);
        let mut link = &mut self.buckets[b];
        loop {
            match link {
                None => return None,
                Some(n) if &*n.key == key => {
                    let mut node = link.take().expect("matched Some");
                    *link = node.next.take();
                    self.len -= 1;
                    self.maybe_shrink();
                    return Some(node.value);
                }
                Some(n) => link = &mut n.next,
            }
        }
    }

    pub fn clear(&mut self) {
        // Unlink chains iteratively: dropping a long chain recursively could overflow the stack.
        for bucket in &mut self.buckets {
            let mut next = bucket.take();
            while let Some(mut n) = next {
                next = n.next.take();
            }
        }
        self.buckets = Vec::new();
        self.len = 0;
    }

    fn maybe_shrink(&mut self) {
        // Shrink at 1/8 load so that alternating insert/remove near a boundary does not thrash.
        if self.buckets.len() > BUCKETS_MIN && self.len * 8 < self.buckets.len() {
            let target = (self.len.next_power_of_two() * 2).max(BUCKETS_MIN);
            self.resize(target);
        }
    }

    fn resize(&mut self, size: usize) {
        debug_assert!(size.is_power_of_two());
        let old = std::mem::replace(&mut self.buckets, (0..size).map(|_| None).collect());
        for mut bucket in old {
            while let Some(mut n) = bucket {
                bucket = n.next.take();
                let b = self.bucket_of(&n.key);
                n.next = self.buckets[b].take();
                self.buckets[b] = Some(n);
            }
        }
    }

    /// Visits every element of the buckets at `cursor` and returns the next cursor (0 = done).
    /// Call repeatedly until it returns 0; `visit` sees each bucket's elements.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], &V)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = self.mask() as u64;
        let mut node = self.buckets[(cursor & mask) as usize].as_deref();
        while let Some(n) = node {
            visit(&n.key, &n.value);
            node = n.next.as_deref();
        }
        // Increment the reversed cursor: set the bits above the mask, reverse, add one, reverse.
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.buckets.iter().flat_map(|bucket| {
            let mut node = bucket.as_deref();
            std::iter::from_fn(move || {
                let n = node?;
                node = n.next.as_deref();
                Some((&*n.key, &n.value))
            })
        })
    }

    /// A key chosen from `random` (drawn from a log entry's seed): a random non-empty bucket,
    /// then a random element of its chain, as Redis's dictGetFairRandomKey approximates.
    pub fn random_key(&self, mut random: impl FnMut() -> u64) -> Option<&[u8]> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask() as u64;
        loop {
            let b = (random() & mask) as usize;
            let Some(head) = self.buckets[b].as_deref() else {
                continue;
            };
            let mut chain_len = 0u64;
            let mut node = Some(head);
            while let Some(n) = node {
                chain_len += 1;
                node = n.next.as_deref();
            }
            let mut pick = random() % chain_len;
            let mut node = head;
            while pick > 0 {
                node = node.next.as_deref().expect("pick < chain length");
                pick -= 1;
            }
            return Some(&node.key);
        }
    }

    /// Moves every element into a new dict with `seed` (used when the log sets the hash seed).
    pub fn reseeded(mut self, seed: u64) -> Dict<V> {
        let mut out = Dict::new(seed);
        for bucket in std::mem::take(&mut self.buckets) {
            let mut next = bucket;
            while let Some(mut n) = next {
                next = n.next.take();
                out.insert(&n.key, n.value);
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Layouts and sampling for collection values. A set's SPOP picks by bucket position, so the
// exact layout (bucket count, chain order) is replicated state: snapshots and copies rebuild
// it with `with_buckets` + `push_back` in iteration order instead of re-inserting.

/// Keys `sample_key` gathers before choosing one (Redis's dictGetFairRandomKey samples 15).
const SAMPLE_KEYS: usize = 16;

impl<V> Dict<V> {
    /// Buckets in the table (0 before the first insert).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// An empty dict with `buckets` buckets (0 or a power of two), to be filled by `push_back`
    /// or `insert`.
    pub fn with_buckets(seed: u64, buckets: usize) -> Dict<V> {
        assert!(
            buckets == 0 || buckets.is_power_of_two(),
            "bucket count {buckets} is not a power of two"
        );
        let mut dict = Dict::new(seed);
        dict.buckets = (0..buckets).map(|_| None).collect();
        dict
    }

    /// Appends `key` at the end of its bucket's chain without resizing; false (and nothing
    /// stored) when the key is already present or the table has no buckets. Pushing a dict's
    /// keys in iteration order into `with_buckets(seed, bucket_count)` rebuilds its layout.
    pub fn push_back(&mut self, key: &[u8], value: V) -> bool {
        if self.buckets.is_empty() {
            return false;
        }
        let b = self.bucket_of(key);
        let mut link = &mut self.buckets[b];
        while let Some(node) = link {
            if &*node.key == key {
                return false;
            }
            link = &mut node.next;
        }
        *link = Some(Box::new(Node {
            key: key.into(),
            value,
            next: None,
        }));
        self.len += 1;
        true
    }

    /// A copy with the same seed, bucket count and chain order.
    pub fn clone_layout(&self) -> Dict<V>
    where
        V: Clone,
    {
        let mut out = Dict::with_buckets(self.seed, self.buckets.len());
        for (key, value) in self.iter() {
            out.push_back(key, value.clone());
        }
        out
    }

    /// A key chosen from `random` (two draws), close to uniformly: the keys of consecutive
    /// buckets from a random one, up to `SAMPLE_KEYS`, then one of them at random (Redis's
    /// dictGetFairRandomKey). A dict of at most `SAMPLE_KEYS` keys is sampled whole, so the
    /// choice is exactly uniform there; `random_key` favours keys alone in their bucket.
    pub fn sample_key(&self, mut random: impl FnMut() -> u64) -> Option<&[u8]> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let start = random() as usize & mask;
        let mut sample: [&[u8]; SAMPLE_KEYS] = [&[]; SAMPLE_KEYS];
        let mut taken = 0;
        'walk: for step in 0..self.buckets.len() {
            let mut node = self.buckets[(start + step) & mask].as_deref();
            while let Some(n) = node {
                sample[taken] = &n.key;
                taken += 1;
                if taken == SAMPLE_KEYS {
                    break 'walk;
                }
                node = n.next.as_deref();
            }
        }
        Some(sample[(random() % taken as u64) as usize])
    }

    /// Up to `count` elements from consecutive buckets starting at a random one, as Redis's
    /// dictGetSomeKeys gathers eviction samples: a run of empty buckets longer than
    /// `count` (and 5) jumps to another random bucket, and the walk gives up after
    /// `count * 10` buckets, so a sparse table yields fewer. An element may be visited twice.
    pub fn some_keys<'a>(
        &'a self,
        count: usize,
        mut random: impl FnMut() -> u64,
        mut visit: impl FnMut(&'a [u8], &'a V),
    ) {
        if self.len == 0 || count == 0 {
            return;
        }
        let mask = self.mask();
        let mut b = random() as usize & mask;
        let (mut taken, mut empty_run) = (0, 0);
        for _ in 0..count.saturating_mul(10) {
            match self.buckets[b].as_deref() {
                None => {
                    empty_run += 1;
                    // Redis's jump: a sparse region is left for a random bucket.
                    if empty_run >= 5 && empty_run > count {
                        b = random() as usize & mask;
                        empty_run = 0;
                        continue;
                    }
                }
                Some(mut node) => {
                    empty_run = 0;
                    loop {
                        visit(&node.key, &node.value);
                        taken += 1;
                        if taken == count {
                            return;
                        }
                        match node.next.as_deref() {
                            Some(next) => node = next,
                            None => break,
                        }
                    }
                }
            }
            b = (b + 1) & mask;
        }
    }
}

impl<V> Drop for Dict<V> {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn scan_all<V>(d: &Dict<V>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = d.scan(cursor, |k, _| out.push(k.to_vec()));
            if cursor == 0 {
                return out;
            }
        }
    }

    #[test]
    fn behaves_like_a_map() {
        let mut d = Dict::new(7);
        let mut model = BTreeMap::new();
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..20_000 {
            let key = format!("k{}", rng.u32(0..500)).into_bytes();
            if rng.bool() {
                let v = rng.u32(..);
                assert_eq!(d.insert(&key, v), model.insert(key.clone(), v));
            } else {
                assert_eq!(d.remove(&key), model.remove(&key));
            }
            assert_eq!(d.len(), model.len());
        }
        for (k, v) in &model {
            assert_eq!(d.get(k), Some(v));
        }
        let mut seen = scan_all(&d);
        seen.sort();
        assert_eq!(seen, model.keys().cloned().collect::<Vec<_>>());
    }

    #[test]
    fn scan_returns_every_survivor_across_resizes() {
        let mut d = Dict::new(3);
        for i in 0..1000 {
            d.insert(format!("stay{i}").as_bytes(), ());
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = d.scan(cursor, |k, _| {
                seen.insert(k.to_vec());
            });
            // Grow and shrink the table between calls.
            step += 1;
            if step % 3 == 0 {
                for i in 0..400 {
                    d.insert(format!("tmp{step}-{i}").as_bytes(), ());
                }
            } else if step % 3 == 1 {
                let tmp: Vec<Vec<u8>> = d
                    .iter()
                    .filter(|(k, _)| k.starts_with(b"tmp"))
                    .map(|(k, _)| k.to_vec())
                    .collect();
                for k in tmp {
                    d.remove(&k);
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(
                seen.contains(format!("stay{i}").as_bytes()),
                "missed stay{i}"
            );
        }
    }

    #[test]
    fn same_seed_same_order() {
        let build = || {
            let mut d = Dict::new(42);
            for i in 0..300 {
                d.insert(format!("x{i}").as_bytes(), i);
            }
            scan_all(&d)
        };
        assert_eq!(build(), build());
    }

    #[test]
    fn random_key_is_a_member() {
        let mut d = Dict::new(5);
        assert!(d.random_key(|| 1).is_none());
        for i in 0..50 {
            d.insert(format!("r{i}").as_bytes(), ());
        }
        let mut rng = fastrand::Rng::with_seed(9);
        for _ in 0..100 {
            let k = d.random_key(|| rng.u64(..)).unwrap().to_vec();
            assert!(d.contains_key(&k));
        }
    }

    #[test]
    fn push_back_in_iteration_order_rebuilds_the_layout() {
        let mut d = Dict::new(13);
        for i in 0..500 {
            d.insert(format!("k{i}").as_bytes(), i);
        }
        for i in 0..440 {
            d.remove(format!("k{i}").as_bytes());
        }
        let mut copy = Dict::with_buckets(d.seed(), d.bucket_count());
        for (k, v) in d.iter() {
            assert!(copy.push_back(k, *v));
        }
        assert!(!copy.push_back(b"k499", 0), "already present");
        let order = |d: &Dict<i32>| d.iter().map(|(k, v)| (k.to_vec(), *v)).collect::<Vec<_>>();
        assert_eq!(order(&copy), order(&d));
        assert_eq!(copy.bucket_count(), d.bucket_count());
        let cloned = d.clone_layout();
        assert_eq!(order(&cloned), order(&d));
        assert_eq!(cloned.bucket_count(), d.bucket_count());
        // Both go on identically.
        let (mut a, mut b) = (d, copy);
        for i in 0..100 {
            a.insert(format!("n{i}").as_bytes(), i);
            b.insert(format!("n{i}").as_bytes(), i);
        }
        assert_eq!(order(&a), order(&b));
    }

    #[test]
    fn sample_key_is_uniform_on_small_dicts_and_reaches_every_key() {
        let mut d = Dict::new(21);
        for i in 0..12 {
            d.insert(format!("s{i}").as_bytes(), ());
        }
        let mut rng = fastrand::Rng::with_seed(4);
        let mut counts = BTreeMap::new();
        for _ in 0..12_000 {
            let k = d.sample_key(|| rng.u64(..)).unwrap().to_vec();
            *counts.entry(k).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 12);
        assert!(
            counts.values().all(|&n| (800..1200).contains(&n)),
            "{counts:?}"
        );
        let mut big = Dict::new(22);
        for i in 0..300 {
            big.insert(format!("b{i}").as_bytes(), ());
        }
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20_000 {
            seen.insert(big.sample_key(|| rng.u64(..)).unwrap().to_vec());
        }
        assert_eq!(seen.len(), 300);
        assert!(Dict::<()>::new(1).sample_key(|| 0).is_none());
    }

    #[test]
    fn some_keys_samples_members_and_reaches_every_key() {
        let mut d = Dict::new(23);
        let mut none = 0;
        d.some_keys(5, || 0, |_, _: &u32| none += 1);
        assert_eq!(none, 0, "an empty dict yields nothing");
        for i in 0..1000u32 {
            d.insert(format!("e{i}").as_bytes(), i);
        }
        let mut rng = fastrand::Rng::with_seed(8);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..3000 {
            let mut got = Vec::new();
            d.some_keys(5, || rng.u64(..), |k, v| got.push((k.to_vec(), *v)));
            assert_eq!(got.len(), 5, "a full table yields the count asked");
            for (k, v) in got {
                assert_eq!(d.get(&k), Some(&v));
                seen.insert(k);
            }
        }
        // Keys deep in a chain longer than the count are out of reach, as in Redis.
        assert!(seen.len() >= 990, "{}", seen.len());
        // A sparse table (after removals) still yields members, never more than asked.
        for i in 0..990u32 {
            d.remove(format!("e{i}").as_bytes());
        }
        for _ in 0..100 {
            let mut n = 0;
            d.some_keys(
                3,
                || rng.u64(..),
                |k, _| {
                    assert!(d.contains_key(k));
                    n += 1;
                },
            );
            assert!(n <= 3);
        }
    }
}
