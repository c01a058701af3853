//! Sorted set values: members (byte strings) with scores (f64, never NaN), ordered by score,
//! then by member bytes. Two forms, chosen as Redis 7.0 chooses its encodings:
//!
//! - `listpack` while the set has at most `zset-max-listpack-entries` members of at most
//!   `zset-max-listpack-value` bytes: every entry packed in one buffer (`pack.rs`), walked
//!   linearly.
//! - `skiplist` beyond (the name OBJECT ENCODING reports): an arena of elements (member and
//!   score), a member → element index (`index.rs`, open addressing, also what ZSCAN walks) and
//!   an order-statistic B+tree of (score, element) (`tree.rs`), so lookups by member are O(1)
//!   and insertion, removal, rank and select are O(log n).
//!
//! Conversion is one-way (listpack → skiplist), when an insertion would break a threshold.
//! A new set built whole (the STORE commands) takes the form its final contents allow.
//!
//! The public API (`insert`, `score`, `remove`, `rank`, `get`, `iter_from`, `score_ranks`,
//! `count_while`, `remove_ranks`, `scan`) is what the sorted-set and geo commands build on.

mod index;
mod pack;
mod tree;

use std::fmt;
use std::ops::Range;

use crate::snapshot::{Reader, SnapshotError};
use crate::types::Encodings;
use index::Index;
use pack::{Pack, PackIter};
use tree::{Key, Tree, TreeIter};

pub use tree::cmp_score as compare_scores;

/// The most members a sorted set may hold: element ids are `u32` (and `u32::MAX` marks an
/// empty index slot).
pub const LEN_MAX: usize = u32::MAX as usize - 1;

/// What decides a new or growing set's form, and the seed of its member index.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `zset-max-listpack-entries`.
    pub entries: u64,
    /// `zset-max-listpack-value`: the longest member the compact form takes.
    pub value: u64,
    /// Seeds the member hash of the large form (replicated: the engine's hash seed).
    pub seed: u64,
}

impl Limits {
    pub fn new(encodings: &Encodings, seed: u64) -> Limits {
        Limits {
            entries: encodings.zset_max_listpack_entries,
            value: encodings.zset_max_listpack_value,
            seed,
        }
    }

    fn fits_compact(&self, len: usize, member_len_max: usize) -> bool {
        len as u64 <= self.entries && member_len_max as u64 <= self.value
    }
}

/// A score interval, each end inclusive or exclusive (`(1.5` in Redis's syntax).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub min_ex: bool,
    pub max: f64,
    pub max_ex: bool,
}

impl ScoreRange {
    /// `score` is not below the range's start.
    pub fn above_min(&self, score: f64) -> bool {
        if self.min_ex {
            score > self.min
        } else {
            score >= self.min
        }
    }

    /// `score` is not beyond the range's end.
    pub fn below_max(&self, score: f64) -> bool {
        if self.max_ex {
            score < self.max
        } else {
            score <= self.max
        }
    }
}

/// One element of the large form's arena.
#[derive(Clone)]
struct Elem {
    member: Box<[u8]>,
    score: f64,
}

#[derive(Clone)]
struct Large {
    elems: Vec<Elem>,
    index: Index,
    tree: Tree,
    /// Sum of member lengths, for memory accounting.
    member_bytes: usize,
}

#[derive(Clone)]
enum Repr {
    Pack(Pack),
    Large(Box<Large>),
}

#[derive(Clone)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> ZSet {
        ZSet::new()
    }
}

// ---------------------------------------------------------------------------------------------
// The large form

impl Large {
    fn new(seed: u64) -> Large {
        Large {
            elems: Vec::new(),
            index: Index::new(seed),
            tree: Tree::new(),
            member_bytes: 0,
        }
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let pos = self.index.find(member, &self.elems)?;
        Some(self.index.id_at(pos))
    }

    /// Adds a member that is not present.
    fn add(&mut self, member: &[u8], score: f64) {
        assert!(self.elems.len() < LEN_MAX, "sorted set too large");
        let id = self.elems.len() as u32;
        let tag = self.index.tag(member);
        self.elems.push(Elem {
            member: member.into(),
            score,
        });
        self.index.insert(tag, id);
        self.tree.insert(score, id, &self.elems);
        self.member_bytes += member.len();
    }

    fn set_score(&mut self, id: u32, score: f64) {
        let elem = &self.elems[id as usize];
        let key = Key {
            score: elem.score,
            member: &elem.member,
        };
        let removed = self.tree.remove(key, &self.elems);
        debug_assert_eq!(removed, Some(id));
        self.elems[id as usize].score = score;
        self.tree.insert(score, id, &self.elems);
    }

    /// Removes element `id`; the last element of the arena takes its id.
    fn remove_id(&mut self, id: u32) -> Elem {
        let Large {
            elems,
            index,
            tree,
            member_bytes,
        } = &mut *self;
        let elem = &elems[id as usize];
        let key = Key {
            score: elem.score,
            member: &elem.member,
        };
        let removed = tree.remove(key, elems);
        debug_assert_eq!(removed, Some(id));
        let pos = index.find(&elem.member, elems).expect("indexed member");
        index.remove_at(pos);
        let last = elems.len() - 1;
        if id as usize != last {
            let moved = &elems[last];
            let key = Key {
                score: moved.score,
                member: &moved.member,
            };
            tree.relabel(key, elems, id);
            let pos = index.find(&moved.member, elems).expect("indexed member");
            index.set_id_at(pos, id);
        }
        let elem = elems.swap_remove(id as usize);
        *member_bytes -= elem.member.len();
        elem
    }

    fn heap_bytes(&self) -> usize {
        self.elems.capacity() * std::mem::size_of::<Elem>()
            + self.member_bytes
            + self.index.heap_bytes()
            + self.tree.heap_bytes()
    }

    #[cfg(test)]
    fn check(&self) {
        self.tree.check(&self.elems);
        self.index.check(&self.elems);
        assert_eq!(self.tree.len(), self.elems.len());
        assert_eq!(
            self.member_bytes,
            self.elems.iter().map(|e| e.member.len()).sum::<usize>()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The public API

impl ZSet {
    /// An empty set in the compact form (it converts on the first insertion that needs it).
    pub fn new() -> ZSet {
        ZSet {
            repr: Repr::Pack(Pack::default()),
        }
    }

    /// A set built from entries in ascending (score, member) order with distinct members, in
    /// the form its contents allow (Redis converts a STORE result to listpack when it fits).
    pub fn from_sorted(entries: &[(&[u8], f64)], limits: &Limits) -> ZSet {
        let longest = entries.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        let mut zset = if limits.fits_compact(entries.len(), longest) {
            ZSet::new()
        } else {
            ZSet {
                repr: Repr::Large(Box::new(Large::new(limits.seed))),
            }
        };
        for &(member, score) in entries {
            zset.push_sorted(member, score);
        }
        if let Repr::Pack(p) = &mut zset.repr {
            p.shrink();
        }
        zset
    }

    /// Adds an entry that sorts after every present one, in the current form.
    fn push_sorted(&mut self, member: &[u8], score: f64) {
        match &mut self.repr {
            Repr::Pack(p) => {
                debug_assert!(p.iter().last().is_none_or(|e| {
                    compare_scores(e.score, score)
                        .then_with(|| e.member.cmp(member))
                        .is_lt()
                }));
                p.push(score, member);
            }
            Repr::Large(l) => l.add(member, score),
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.len(),
            Repr::Large(l) => l.elems.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Pack(_) => "listpack",
            Repr::Large(_) => "skiplist",
        }
    }

    /// Whether the set is in the compact form, where every positional access is a walk.
    pub fn is_compact(&self) -> bool {
        matches!(self.repr, Repr::Pack(_))
    }

    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.heap_bytes(),
            Repr::Large(l) => std::mem::size_of::<Large>() + l.heap_bytes(),
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Pack(p) => p.find(member).map(|e| e.score),
            Repr::Large(l) => l.find(member).map(|id| l.elems[id as usize].score),
        }
    }

    /// Sets `member`'s score, adding the member if absent; returns the previous score. A
    /// score equal to the present one (-0 equals 0) changes nothing. Converts to the large
    /// form when a new member breaks a threshold of `limits`. `score` must not be NaN.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &Limits) -> Option<f64> {
        debug_assert!(!score.is_nan(), "NaN score");
        if let Repr::Pack(p) = &mut self.repr {
            if let Some(e) = p.find(member) {
                let old = e.score;
                if old != score {
                    let (start, end) = (e.start, e.end);
                    p.remove_bytes(start, end, 1);
                    p.insert(score, member);
                }
                return Some(old);
            }
            if limits.fits_compact(p.len() + 1, member.len()) {
                p.insert(score, member);
                return None;
            }
            self.convert(limits.seed);
        }
        let Repr::Large(l) = &mut self.repr else {
            unreachable!("converted above")
        };
        match l.find(member) {
            Some(id) => {
                let old = l.elems[id as usize].score;
                if old != score {
                    l.set_score(id, score);
                }
                Some(old)
            }
            None => {
                l.add(member, score);
                None
            }
        }
    }

    /// Moves a compact set to the large form.
    fn convert(&mut self, seed: u64) {
        let Repr::Pack(p) = &self.repr else {
            return;
        };
        let mut large = Large::new(seed);
        for e in p.iter() {
            large.add(e.member, e.score);
        }
        self.repr = Repr::Large(Box::new(large));
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Pack(p) => {
                let e = p.find(member)?;
                let (start, end, score) = (e.start, e.end, e.score);
                p.remove_bytes(start, end, 1);
                Some(score)
            }
            Repr::Large(l) => {
                let id = l.find(member)?;
                Some(l.remove_id(id).score)
            }
        }
    }

    /// The 0-based rank of `member` in ascending order, and its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Pack(p) => p
                .iter()
                .enumerate()
                .find(|(_, e)| e.member == member)
                .map(|(rank, e)| (rank, e.score)),
            Repr::Large(l) => {
                let id = l.find(member)?;
                let elem = &l.elems[id as usize];
                let key = Key {
                    score: elem.score,
                    member: &elem.member,
                };
                let rank = l
                    .tree
                    .rank(key, &l.elems)
                    .expect("indexed member is ordered");
                Some((rank, elem.score))
            }
        }
    }

    /// The entry at ascending rank `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Pack(p) => p.nth(rank).map(|e| (e.member, e.score)),
            Repr::Large(l) => {
                let (score, id) = l.tree.select(rank)?;
                Some((&l.elems[id as usize].member[..], score))
            }
        }
    }

    /// Every entry in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0, false)
    }

    /// Entries from ascending rank `rank` on, ascending, or descending when `rev` (from `rank`
    /// down to rank 0). Empty when `rank >= len`.
    pub fn iter_from(&self, rank: usize, rev: bool) -> Iter<'_> {
        Iter(match &self.repr {
            Repr::Pack(p) if rev => {
                let mut entries: Vec<_> = p
                    .iter()
                    .take(rank.saturating_add(1))
                    .map(|e| (e.member, e.score))
                    .collect();
                if rank >= p.len() {
                    entries.clear();
                }
                entries.reverse();
                IterInner::Buffered(entries.into_iter())
            }
            Repr::Pack(p) => {
                let mut it = p.iter();
                if rank > 0 {
                    it.nth(rank - 1);
                }
                IterInner::Pack(it)
            }
            Repr::Large(l) => IterInner::Tree(l.tree.iter_from(rank, rev), &l.elems),
        })
    }

    /// How many leading entries (in ascending order) satisfy `pred`, for a predicate that
    /// holds for a prefix of the order. The compact form walks to the first entry that fails;
    /// the large form searches (for other predicates it finds some place where `pred` changes).
    pub fn count_while(&self, mut pred: impl FnMut(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.iter().take_while(|e| pred(e.score, e.member)).count(),
            Repr::Large(l) => {
                let elems = &l.elems;
                l.tree
                    .partition_point(|score, id| pred(score, &elems[id as usize].member))
            }
        }
    }

    /// The first rank whose entry satisfies `pred`, for a predicate that turns true along the
    /// order and stays true. The compact form walks from the front (as a listpack does, so on
    /// other predicates it finds the first entry that satisfies it); the large form searches.
    pub fn first_where(&self, mut pred: impl FnMut(f64, &[u8]) -> bool) -> Option<usize> {
        let rank = match &self.repr {
            Repr::Pack(p) => p.iter().position(|e| pred(e.score, e.member))?,
            Repr::Large(_) => self.count_while(|s, m| !pred(s, m)),
        };
        (rank < self.len()).then_some(rank)
    }

    /// The last rank whose entry satisfies `pred`, for a predicate that holds for a prefix of
    /// the order. The compact form walks from the back (on other predicates it finds the last
    /// entry that satisfies it); the large form searches.
    pub fn last_where(&self, mut pred: impl FnMut(f64, &[u8]) -> bool) -> Option<usize> {
        match &self.repr {
            Repr::Pack(p) => {
                let mut last = None;
                for (rank, e) in p.iter().enumerate() {
                    if pred(e.score, e.member) {
                        last = Some(rank);
                    }
                }
                last
            }
            Repr::Large(_) => self.count_while(pred).checked_sub(1),
        }
    }

    /// The ranks of the entries whose scores are in `range` (empty when none are).
    pub fn score_ranks(&self, range: &ScoreRange) -> Range<usize> {
        let start = self.count_while(|score, _| !range.above_min(score));
        let end = self.count_while(|score, _| range.below_max(score));
        start..end.max(start)
    }

    /// Removes the entries with ascending ranks in `ranks`; returns how many.
    pub fn remove_ranks(&mut self, ranks: Range<usize>) -> usize {
        let end = ranks.end.min(self.len());
        if ranks.start >= end {
            return 0;
        }
        let n = end - ranks.start;
        match &mut self.repr {
            Repr::Pack(p) => {
                let (start, stop) = (p.offset_of(ranks.start), p.offset_of(end));
                p.remove_bytes(start, stop, n);
            }
            Repr::Large(l) => {
                for _ in 0..n {
                    let (_, id) = l.tree.select(ranks.start).expect("rank in range");
                    l.remove_id(id);
                }
            }
        }
        n
    }

    /// Removes and returns the entry at ascending rank `rank`.
    pub fn remove_rank(&mut self, rank: usize) -> Option<(Box<[u8]>, f64)> {
        match &mut self.repr {
            Repr::Pack(p) => {
                let e = p.nth(rank)?;
                let out = (Box::from(e.member), e.score);
                let (start, end) = (e.start, e.end);
                p.remove_bytes(start, end, 1);
                Some(out)
            }
            Repr::Large(l) => {
                let (_, id) = l.tree.select(rank)?;
                let elem = l.remove_id(id);
                Some((elem.member, elem.score))
            }
        }
    }

    /// One ZSCAN step: the compact form returns everything and cursor 0; the large form
    /// visits home buckets of its member index from `cursor` until it has `count` entries
    /// (or has visited 10 × `count` buckets) and returns the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], f64)) -> u64 {
        match &self.repr {
            Repr::Pack(p) => {
                p.iter().for_each(|e| visit(e.member, e.score));
                0
            }
            Repr::Large(l) => {
                let mut cursor = cursor;
                let mut found = 0;
                let mut buckets_left = count.saturating_mul(10);
                loop {
                    cursor = l.index.scan(cursor, |id| {
                        let elem = &l.elems[id as usize];
                        visit(&elem.member, elem.score);
                        found += 1;
                    });
                    if cursor == 0 || buckets_left == 0 || found >= count {
                        return cursor;
                    }
                    buckets_left -= 1;
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Snapshot form

    /// Snapshot form: u8 form (0 listpack, 1 skiplist), for the skiplist form u64 hash seed,
    /// then u64 count and per entry, in ascending order: u64 score bits, u32 len, member.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match &self.repr {
            Repr::Pack(_) => out.push(0),
            Repr::Large(l) => {
                out.push(1);
                out.extend_from_slice(&l.index.seed().to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for (member, score) in self.iter() {
            out.extend_from_slice(&score.to_bits().to_le_bytes());
            out.extend_from_slice(&(member.len() as u32).to_le_bytes());
            out.extend_from_slice(member);
        }
    }

    pub fn decode(r: &mut Reader) -> Result<ZSet, SnapshotError> {
        let mut zset = match r.u8()? {
            0 => ZSet::new(),
            1 => ZSet {
                repr: Repr::Large(Box::new(Large::new(r.u64()?))),
            },
            other => return Err(SnapshotError::Type(other)),
        };
        let n = r.u64()?;
        // Limits that keep the recorded form: no conversion happens while loading.
        let keep = Limits {
            entries: u64::MAX,
            value: u64::MAX,
            seed: 0,
        };
        // Entries arrive in order; anything else (a damaged snapshot) still loads correctly
        // through the ordinary insertion, and NaN is never stored.
        let mut last: Option<(&[u8], f64)> = None;
        for _ in 0..n {
            let score = f64::from_bits(r.u64()?);
            let member = r.bytes()?;
            if score.is_nan() {
                continue;
            }
            let in_order = last
                .is_none_or(|(m, s)| compare_scores(s, score).then_with(|| m.cmp(member)).is_lt());
            if in_order {
                zset.push_sorted(member, score);
                last = Some((member, score));
            } else {
                zset.insert(member, score, &keep);
            }
        }
        if let Repr::Pack(p) = &mut zset.repr {
            p.shrink();
        }
        Ok(zset)
    }

    #[cfg(test)]
    fn check(&self) {
        if let Repr::Large(l) = &self.repr {
            l.check();
        }
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &ZSet) -> bool {
        self.encoding() == other.encoding()
            && self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|((m1, s1), (m2, s2))| m1 == m2 && s1.to_bits() == s2.to_bits())
    }
}

impl fmt::Debug for ZSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ZSet({}) ", self.encoding())?;
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), s)),
            )
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Iteration

/// Entries as (member, score), in the order `iter_from` chose.
pub struct Iter<'a>(IterInner<'a>);

enum IterInner<'a> {
    Pack(PackIter<'a>),
    Buffered(std::vec::IntoIter<(&'a [u8], f64)>),
    Tree(TreeIter<'a>, &'a [Elem]),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<(&'a [u8], f64)> {
        match &mut self.0 {
            IterInner::Pack(it) => it.next().map(|e| (e.member, e.score)),
            IterInner::Buffered(it) => it.next(),
            IterInner::Tree(it, elems) => it
                .next()
                .map(|(score, id)| (&elems[id as usize].member[..], score)),
        }
    }
}

#[cfg(test)]
mod tests;
