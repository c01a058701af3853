//! Set values, as Redis 7.0 keeps them (`t_set.c`, `intset.c`):
//! - `intset` while every member is an integer (`string2ll`: canonical decimal that fits an
//!   i64) and there are at most `set-max-intset-entries`: a sorted array in the narrowest of
//!   16, 32 or 64 bits that holds every member (the width only grows, as in Redis);
//! - `hashtable` beyond: a `Dict` of members, seeded from the log.
//!
//! Conversion is one-way: removing members never turns a hashtable back into an intset.
//!
//! The hashtable's layout (bucket count, chain order) is replicated state: SPOP chooses by
//! position, so a snapshot or a copy keeps the layout exactly (`Dict::with_buckets` +
//! `push_back` in iteration order) instead of re-inserting, and equality compares it.

use std::fmt;

use bytes::Bytes;

use crate::commands::parse_i64;
use crate::dict::Dict;
use crate::engine::Rng;
use crate::snapshot::{Reader, SnapshotError};

/// What decides the representation of a set as it grows: the replicated
/// `set-max-intset-entries` and the seed a new hashtable hashes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetParams {
    pub intset_max: u64,
    pub seed: u64,
}

/// Redis caps `set-max-intset-entries` at 2^30 ("limit to 1G entries due to intset internals").
const INTSET_MAX_CAP: u64 = 1 << 30;

/// The smallest table a converted intset starts with (Dict's own minimum).
const BUCKETS_MIN: usize = 4;

// ---------------------------------------------------------------------------------------------
// Members

/// One member as a set holds it: an intset's integer or a hashtable's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// The member as an integer, if it is one in Redis's sense.
    pub fn as_int(self) -> Option<i64> {
        match self {
            Member::Int(i) => Some(i),
            Member::Bytes(b) => parse_i64(b),
        }
    }

    /// Runs `f` on the member's bytes (an integer is formatted on the stack).
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(i) => f(itoa::Buffer::new().format(i).as_bytes()),
            Member::Bytes(b) => f(b),
        }
    }

    pub fn to_bytes(self) -> Bytes {
        self.with_bytes(Bytes::copy_from_slice)
    }
}

// ---------------------------------------------------------------------------------------------
// Intset: sorted integers in one of three widths

#[derive(Clone, Debug, PartialEq)]
enum IntSet {
    W16(Vec<i16>),
    W32(Vec<i32>),
    W64(Vec<i64>),
}

/// Runs `$body` with `$v` bound to the intset's vector, whatever its width.
macro_rules! each_width {
    ($ints:expr, $v:ident => $body:expr) => {
        match $ints {
            IntSet::W16($v) => $body,
            IntSet::W32($v) => $body,
            IntSet::W64($v) => $body,
        }
    };
}

fn widen_one<T: Into<i64>>(x: T) -> i64 {
    x.into()
}

/// Bytes per member needed to hold `x`.
fn width_of(x: i64) -> u8 {
    if i16::try_from(x).is_ok() {
        2
    } else if i32::try_from(x).is_ok() {
        4
    } else {
        8
    }
}

/// `x`'s position in `v`; `None` when `x` does not fit the width (so it is absent).
fn search<T: Copy + Ord + TryFrom<i64>>(v: &[T], x: i64) -> Option<Result<usize, usize>> {
    T::try_from(x).ok().map(|x| v.binary_search(&x))
}

fn insert_sorted<T: Copy + Ord + TryFrom<i64>>(v: &mut Vec<T>, x: i64) -> bool {
    let Ok(x) = T::try_from(x) else {
        unreachable!("the caller widened the intset first");
    };
    match v.binary_search(&x) {
        Ok(_) => false,
        Err(at) => {
            v.insert(at, x);
            true
        }
    }
}

impl IntSet {
    fn width(&self) -> u8 {
        match self {
            IntSet::W16(_) => 2,
            IntSet::W32(_) => 4,
            IntSet::W64(_) => 8,
        }
    }

    fn len(&self) -> usize {
        each_width!(self, v => v.len())
    }

    fn get(&self, at: usize) -> i64 {
        each_width!(self, v => widen_one(v[at]))
    }

    fn contains(&self, x: i64) -> bool {
        matches!(each_width!(self, v => search(v, x)), Some(Ok(_)))
    }

    fn widen(&mut self, width: u8) {
        let all = (0..self.len()).map(|i| self.get(i));
        *self = match width {
            4 => IntSet::W32(all.map(|x| x as i32).collect()),
            _ => IntSet::W64(all.collect()),
        };
    }

    fn insert(&mut self, x: i64) -> bool {
        let width = width_of(x);
        if width > self.width() {
            self.widen(width);
        }
        each_width!(self, v => insert_sorted(v, x))
    }

    fn remove_at(&mut self, at: usize) {
        each_width!(self, v => {
            v.remove(at);
        })
    }

    fn remove(&mut self, x: i64) -> bool {
        match each_width!(self, v => search(v, x)) {
            Some(Ok(at)) => {
                self.remove_at(at);
                true
            }
            _ => false,
        }
    }

    fn heap_bytes(&self) -> usize {
        each_width!(self, v => v.capacity()) * usize::from(self.width())
    }
}

// ---------------------------------------------------------------------------------------------
// The set

pub struct Set {
    repr: Repr,
}

enum Repr {
    Ints(IntSet),
    /// Boxed so that a small set (the common case) stays small.
    Table(Box<Dict<()>>),
}

impl Set {
    /// An empty intset: where SINTERSTORE, SUNION and SDIFF build their results.
    pub fn new_intset() -> Set {
        Set {
            repr: Repr::Ints(IntSet::W16(Vec::new())),
        }
    }

    /// An empty set fit to hold `first` (Redis's `setTypeCreate`): an intset for an integer,
    /// a hashtable otherwise.
    pub fn for_member(first: &[u8], params: SetParams) -> Set {
        if parse_i64(first).is_some() {
            Set::new_intset()
        } else {
            Set {
                repr: Repr::Table(Box::new(Dict::new(params.seed))),
            }
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(ints) => ints.len(),
            Repr::Table(table) => table.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Ints(_) => "intset",
            Repr::Table(_) => "hashtable",
        }
    }

    /// The hashtable, for SSCAN's cursor walk; `None` for an intset.
    pub fn as_table(&self) -> Option<&Dict<()>> {
        match &self.repr {
            Repr::Ints(_) => None,
            Repr::Table(table) => Some(table),
        }
    }

    /// Turns an intset into a hashtable sized for it (Redis presizes the same way).
    fn convert(&mut self, seed: u64) {
        let Repr::Ints(ints) = &self.repr else {
            return;
        };
        let buckets = ints.len().next_power_of_two().max(BUCKETS_MIN);
        let mut table = Dict::with_buckets(seed, buckets);
        let mut buf = itoa::Buffer::new();
        for i in 0..ints.len() {
            table.insert(buf.format(ints.get(i)).as_bytes(), ());
        }
        self.repr = Repr::Table(Box::new(table));
    }

    pub fn add(&mut self, member: &[u8], params: SetParams) -> bool {
        self.add_member(Member::Bytes(member), params)
    }

    /// Adds a member (Redis's `setTypeAdd`): true if it was new. An intset converts when the
    /// member is not an integer or the set outgrows `set-max-intset-entries`.
    pub fn add_member(&mut self, member: Member, params: SetParams) -> bool {
        match &mut self.repr {
            Repr::Ints(ints) => match member.as_int() {
                Some(x) => {
                    if !ints.insert(x) {
                        return false;
                    }
                    if ints.len() as u64 > params.intset_max.min(INTSET_MAX_CAP) {
                        self.convert(params.seed);
                    }
                    true
                }
                None => {
                    self.convert(params.seed);
                    self.add_member(member, params)
                }
            },
            Repr::Table(table) => member.with_bytes(|b| table.insert(b, ()).is_none()),
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        self.remove_member(Member::Bytes(member))
    }

    pub fn remove_member(&mut self, member: Member) -> bool {
        match &mut self.repr {
            Repr::Ints(ints) => member.as_int().is_some_and(|x| ints.remove(x)),
            Repr::Table(table) => member.with_bytes(|b| table.remove(b).is_some()),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.contains_member(Member::Bytes(member))
    }

    pub fn contains_member(&self, member: Member) -> bool {
        match &self.repr {
            Repr::Ints(ints) => member.as_int().is_some_and(|x| ints.contains(x)),
            Repr::Table(table) => member.with_bytes(|b| table.contains_key(b)),
        }
    }

    /// Every member: an intset in ascending order, a hashtable in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = Member<'_>> {
        let (ints, table) = match &self.repr {
            Repr::Ints(ints) => (Some(ints), None),
            Repr::Table(table) => (None, Some(table)),
        };
        let ints = ints
            .into_iter()
            .flat_map(|ints| (0..ints.len()).map(|i| Member::Int(ints.get(i))));
        let keys = table
            .into_iter()
            .flat_map(|table| table.iter().map(|(key, _)| Member::Bytes(key)));
        ints.chain(keys)
    }

    /// A member chosen with `rng` (Redis's `setTypeRandomElement`): uniform for an intset;
    /// for a hashtable, `Dict::sample_key` (uniform up to 16 members, close to it beyond).
    pub fn random(&self, rng: &mut Rng) -> Option<Member<'_>> {
        match &self.repr {
            Repr::Ints(ints) if ints.len() == 0 => None,
            Repr::Ints(ints) => {
                let at = rng.next_u64() % ints.len() as u64;
                Some(Member::Int(ints.get(at as usize)))
            }
            Repr::Table(table) => table.sample_key(|| rng.next_u64()).map(Member::Bytes),
        }
    }

    /// Removes a member chosen as `random` chooses, and returns it.
    pub fn pop_random(&mut self, rng: &mut Rng) -> Option<Bytes> {
        match &mut self.repr {
            Repr::Ints(ints) if ints.len() == 0 => None,
            Repr::Ints(ints) => {
                let at = (rng.next_u64() % ints.len() as u64) as usize;
                let member = Member::Int(ints.get(at)).to_bytes();
                ints.remove_at(at);
                Some(member)
            }
            Repr::Table(table) => {
                let member = Bytes::copy_from_slice(table.sample_key(|| rng.next_u64())?);
                table.remove(&member);
                Some(member)
            }
        }
    }

    /// Heap bytes held (DEBUG OBJECT): member storage, chain nodes and buckets.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Ints(ints) => ints.heap_bytes(),
            Repr::Table(table) => {
                // A chain node is a boxed key (16 bytes) and a next pointer (8).
                const NODE_BYTES: usize = 24;
                let keys: usize = table.iter().map(|(k, _)| k.len() + NODE_BYTES).sum();
                keys + table.bucket_count() * std::mem::size_of::<usize>()
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Snapshot form

    /// Snapshot form:
    /// ```text
    /// u8 0 (intset) | u8 width (2, 4 or 8) | u32 count | count x width bytes, ascending
    /// u8 1 (hashtable) | u64 seed | u64 buckets | u64 count | count x (u32 len, bytes),
    ///                    in iteration order (bucket by bucket, each chain in order)
    /// ```
    /// Integers are little-endian.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match &self.repr {
            Repr::Ints(ints) => {
                out.push(KIND_INTSET);
                out.push(ints.width());
                out.extend_from_slice(&(ints.len() as u32).to_le_bytes());
                each_width!(ints, v => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())));
            }
            Repr::Table(table) => {
                out.push(KIND_HASHTABLE);
                out.extend_from_slice(&table.seed().to_le_bytes());
                out.extend_from_slice(&(table.bucket_count() as u64).to_le_bytes());
                out.extend_from_slice(&(table.len() as u64).to_le_bytes());
                for (key, _) in table.iter() {
                    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
                    out.extend_from_slice(key);
                }
            }
        }
    }

    pub fn decode(r: &mut Reader) -> Result<Set, SnapshotError> {
        let set = match r.u8()? {
            KIND_INTSET => decode_intset(r)?,
            KIND_HASHTABLE => decode_table(r)?,
            _ => return Err(SnapshotError::Invalid("set encoding")),
        };
        if set.is_empty() {
            return Err(SnapshotError::Invalid("empty set"));
        }
        Ok(set)
    }
}

const KIND_INTSET: u8 = 0;
const KIND_HASHTABLE: u8 = 1;

fn decode_intset(r: &mut Reader) -> Result<Set, SnapshotError> {
    let width = r.u8()?;
    let count = r.u32()? as usize;
    let mut values = Vec::new();
    for _ in 0..count {
        let bytes = r.take(usize::from(width))?;
        let x = match width {
            2 => i64::from(i16::from_le_bytes(bytes.try_into().expect("2 bytes"))),
            4 => i64::from(i32::from_le_bytes(bytes.try_into().expect("4 bytes"))),
            8 => i64::from_le_bytes(bytes.try_into().expect("8 bytes")),
            _ => return Err(SnapshotError::Invalid("intset width")),
        };
        if values.last().is_some_and(|&last| last >= x) {
            return Err(SnapshotError::Invalid("intset order"));
        }
        values.push(x);
    }
    let ints = match width {
        2 => IntSet::W16(values.iter().map(|&x| x as i16).collect()),
        4 => IntSet::W32(values.iter().map(|&x| x as i32).collect()),
        _ => IntSet::W64(values),
    };
    Ok(Set {
        repr: Repr::Ints(ints),
    })
}

fn decode_table(r: &mut Reader) -> Result<Set, SnapshotError> {
    let seed = r.u64()?;
    let buckets = r.u64()?;
    let count = r.u64()?;
    // Read the members before sizing anything, so a corrupt count cannot allocate.
    let mut members = Vec::new();
    for _ in 0..count {
        members.push(r.bytes()?);
    }
    // A table holds at most one member per bucket before it grows, and shrinks below 1/8.
    let buckets_max = (members.len().saturating_mul(8))
        .next_power_of_two()
        .max(BUCKETS_MIN);
    let buckets = usize::try_from(buckets)
        .ok()
        .filter(|b| b.is_power_of_two() && *b <= buckets_max)
        .ok_or(SnapshotError::Invalid("set bucket count"))?;
    let mut table = Dict::with_buckets(seed, buckets);
    for member in members {
        if !table.push_back(member, ()) {
            return Err(SnapshotError::Invalid("duplicate set member"));
        }
    }
    Ok(Set {
        repr: Repr::Table(Box::new(table)),
    })
}

// ---------------------------------------------------------------------------------------------
// Copies, equality and debugging keep the exact representation

impl Clone for Set {
    fn clone(&self) -> Set {
        let repr = match &self.repr {
            Repr::Ints(ints) => Repr::Ints(ints.clone()),
            Repr::Table(table) => Repr::Table(Box::new(table.clone_layout())),
        };
        Set { repr }
    }
}

/// Equal representations: the same encoding, width or seed and bucket count, and the same
/// members in the same order (what a snapshot of each would hold).
impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        match (&self.repr, &other.repr) {
            (Repr::Ints(a), Repr::Ints(b)) => a == b,
            (Repr::Table(a), Repr::Table(b)) => {
                a.seed() == b.seed()
                    && a.bucket_count() == b.bucket_count()
                    && a.len() == b.len()
                    && a.iter().map(|(k, _)| k).eq(b.iter().map(|(k, _)| k))
            }
            _ => false,
        }
    }
}

impl fmt::Debug for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encoding())?;
        f.debug_list()
            .entries(self.iter().map(|m| m.to_bytes()))
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Read access for other families: ZUNION/ZINTER/ZDIFF take sets as inputs (members score 1).

impl Set {
    /// Every member as bytes (an intset's integers as text), in iteration order.
    pub fn members(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.iter().map(Member::to_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const PARAMS: SetParams = SetParams {
        intset_max: 512,
        seed: 7,
    };

    fn round_trip(set: &Set) -> Set {
        let mut bytes = Vec::new();
        set.encode(&mut bytes);
        let mut r = Reader::new(&bytes);
        let back = Set::decode(&mut r).unwrap();
        assert!(r.take(1).is_err(), "decode read everything");
        back
    }

    #[test]
    fn intset_widens_and_stays_sorted() {
        let mut s = Set::new_intset();
        for x in [5, -3, 70_000, 1, i64::MIN, 5] {
            s.add(x.to_string().as_bytes(), PARAMS);
        }
        assert_eq!(s.encoding(), "intset");
        let got: Vec<Member> = s.iter().collect();
        let want: Vec<Member> = [i64::MIN, -3, 1, 5, 70_000]
            .into_iter()
            .map(Member::Int)
            .collect();
        assert_eq!(got, want);
        assert!(matches!(s.repr, Repr::Ints(IntSet::W64(_))));
        // Removing the wide member keeps the width, as Redis does.
        assert!(s.remove(i64::MIN.to_string().as_bytes()));
        assert!(matches!(s.repr, Repr::Ints(IntSet::W64(_))));
        assert!(!s.contains(b"70001"));
        assert!(s.contains(b"70000"));
        assert!(!s.contains(b"070000"), "not canonical, so not an integer");
        assert_eq!(round_trip(&s), s);
    }

    #[test]
    fn converts_one_way() {
        let params = SetParams {
            intset_max: 3,
            seed: 1,
        };
        let mut s = Set::for_member(b"1", params);
        for m in ["1", "2", "3"] {
            assert!(s.add(m.as_bytes(), params));
        }
        assert_eq!(s.encoding(), "intset");
        assert!(s.add(b"4", params));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.remove(b"4"));
        assert_eq!(s.encoding(), "hashtable");
        let mut t = Set::for_member(b"1", params);
        t.add(b"1", params);
        assert!(t.add(b"x", params));
        assert_eq!(t.encoding(), "hashtable");
        assert!(t.contains_member(Member::Int(1)));
        assert!(t.contains(b"x"));
    }

    #[test]
    fn round_trip_keeps_the_layout() {
        let mut s = Set::for_member(b"a", PARAMS);
        for i in 0..2000 {
            s.add(format!("m{i}").as_bytes(), PARAMS);
        }
        // Shrink partly: the table keeps more buckets than a fresh build would have.
        for i in 0..1700 {
            s.remove(format!("m{i}").as_bytes());
        }
        let back = round_trip(&s);
        assert_eq!(back, s);
        assert_eq!(
            back.as_table().unwrap().bucket_count(),
            s.as_table().unwrap().bucket_count()
        );
        assert_eq!(s.clone(), s);
        let (mut r1, mut r2) = (Rng::new(3), Rng::new(3));
        let (mut a, mut b) = (s.clone(), back);
        for _ in 0..100 {
            assert_eq!(a.pop_random(&mut r1), b.pop_random(&mut r2));
        }
    }

    #[test]
    fn corrupt_snapshots_are_refused() {
        let mut s = Set::for_member(b"a", PARAMS);
        s.add(b"a", PARAMS);
        let mut bytes = Vec::new();
        s.encode(&mut bytes);
        // The bucket count is at bytes 9..17.
        let mut huge = bytes.clone();
        huge[9..17].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(Set::decode(&mut Reader::new(&huge)).is_err());
        let mut odd = bytes.clone();
        odd[9..17].copy_from_slice(&3u64.to_le_bytes());
        assert!(Set::decode(&mut Reader::new(&odd)).is_err());
        let mut unsorted = vec![KIND_INTSET, 2, 2, 0, 0, 0];
        unsorted.extend_from_slice(&[5, 0, 1, 0]);
        assert!(Set::decode(&mut Reader::new(&unsorted)).is_err());
        let empty = vec![KIND_INTSET, 2, 0, 0, 0, 0];
        assert!(Set::decode(&mut Reader::new(&empty)).is_err());
    }

    #[test]
    fn random_members_cover_small_sets_uniformly() {
        let mut s = Set::for_member(b"a", PARAMS);
        for m in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"] {
            s.add(m.as_bytes(), PARAMS);
        }
        let mut rng = Rng::new(11);
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..10_000 {
            *counts
                .entry(s.random(&mut rng).unwrap().to_bytes())
                .or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 10);
        for (m, n) in counts {
            assert!((800..1200).contains(&n), "{m:?} drawn {n} times");
        }
    }

    #[test]
    fn pop_random_empties_the_set() {
        let mut rng = Rng::new(5);
        for first in ["1", "x"] {
            let mut s = Set::for_member(first.as_bytes(), PARAMS);
            let mut model = BTreeSet::new();
            for i in 0..300 {
                let m = if first == "1" {
                    i.to_string()
                } else {
                    format!("x{i}")
                };
                s.add(m.as_bytes(), PARAMS);
                model.insert(m.into_bytes());
            }
            while let Some(m) = s.pop_random(&mut rng) {
                assert!(model.remove(&m[..]));
            }
            assert!(model.is_empty() && s.is_empty());
        }
    }
}
