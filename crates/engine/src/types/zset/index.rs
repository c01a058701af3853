//! The member index of the large form: an open-addressing hash table (linear probing,
//! backward-shift deletion) of element ids, each slot 8 bytes: the low 32 bits of the
//! member's hash (the tag) and the id.
//!
//! ZSCAN walks it with Redis's reverse-binary cursor over *home buckets* (`tag & mask`): with
//! linear probing, every element whose home is bucket `b` lies in the run of occupied slots
//! that starts at `b`, so visiting a bucket means walking that run and keeping the elements at
//! home there. An element's home bucket depends only on its hash and the table size, exactly
//! as in a chained table, so the cursor keeps Redis's guarantee across resizes: an element
//! present for the whole scan is returned at least once.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use super::Elem;

const EMPTY: u64 = u64::MAX;
/// The smallest table.
const SLOTS_MIN: usize = 8;

fn tag_of(slot: u64) -> u32 {
    slot as u32
}

fn id_of(slot: u64) -> u32 {
    (slot >> 32) as u32
}

fn slot(tag: u32, id: u32) -> u64 {
    (u64::from(id) << 32) | u64::from(tag)
}

#[derive(Clone)]
pub(super) struct Index {
    slots: Vec<u64>,
    len: usize,
    seed: u64,
    hasher: FixedState,
}

impl Index {
    pub fn new(seed: u64) -> Index {
        Index {
            slots: Vec::new(),
            len: 0,
            seed,
            hasher: FixedState::with_seed(seed),
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * 8
    }

    pub fn tag(&self, member: &[u8]) -> u32 {
        self.hasher.hash_one(member) as u32
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The slot holding `member`, if present.
    pub fn find(&self, member: &[u8], elems: &[Elem]) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let tag = self.tag(member);
        let mask = self.mask();
        let mut pos = tag as usize & mask;
        loop {
            let s = self.slots[pos];
            if s == EMPTY {
                return None;
            }
            if tag_of(s) == tag && elems[id_of(s) as usize].member[..] == *member {
                return Some(pos);
            }
            pos = (pos + 1) & mask;
        }
    }

    pub fn id_at(&self, pos: usize) -> u32 {
        id_of(self.slots[pos])
    }

    pub fn set_id_at(&mut self, pos: usize, id: u32) {
        self.slots[pos] = slot(tag_of(self.slots[pos]), id);
    }

    /// Adds an id whose member is not in the table yet.
    pub fn insert(&mut self, tag: u32, id: u32) {
        // Grow past a load of 3/4: linear probing slows sharply beyond it.
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.resize((self.slots.len() * 2).max(SLOTS_MIN));
        }
        self.place(slot(tag, id));
        self.len += 1;
    }

    fn place(&mut self, s: u64) {
        let mask = self.mask();
        let mut pos = tag_of(s) as usize & mask;
        while self.slots[pos] != EMPTY {
            pos = (pos + 1) & mask;
        }
        self.slots[pos] = s;
    }

    /// Removes the slot at `pos`, shifting back the run behind it so no element is separated
    /// from its home bucket by an empty slot.
    pub fn remove_at(&mut self, pos: usize) {
        let mask = self.mask();
        let mut hole = pos;
        let mut next = (hole + 1) & mask;
        loop {
            let s = self.slots[next];
            if s == EMPTY {
                break;
            }
            let home = tag_of(s) as usize & mask;
            // The element may fill the hole unless its home lies in (hole, next].
            if (next.wrapping_sub(home) & mask) >= (next.wrapping_sub(hole) & mask) {
                self.slots[hole] = s;
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
        // Shrink below a load of 1/8, as Redis shrinks its dicts.
        if self.slots.len() > SLOTS_MIN && self.len * 8 < self.slots.len() {
            self.resize((self.len * 2).next_power_of_two().max(SLOTS_MIN));
        }
    }

    fn resize(&mut self, size: usize) {
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; size]);
        for s in old.into_iter().filter(|&s| s != EMPTY) {
            self.place(s);
        }
    }

    /// Visits the home bucket `cursor & mask` (every id whose home it is) and returns the next
    /// cursor (0 once the walk is complete), with Redis's `dictScan` arithmetic.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(u32)) -> u64 {
        if self.slots.is_empty() {
            return 0;
        }
        let mask = self.mask();
        let bucket = cursor as usize & mask;
        let mut pos = bucket;
        loop {
            let s = self.slots[pos];
            if s == EMPTY {
                break;
            }
            if tag_of(s) as usize & mask == bucket {
                visit(id_of(s));
            }
            pos = (pos + 1) & mask;
        }
        // Increment the reversed cursor over the bits of the mask.
        let mut v = cursor | !(mask as u64);
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    #[cfg(test)]
    pub fn check(&self, elems: &[Elem]) {
        assert_eq!(self.len, elems.len());
        let mask = self.mask();
        let mut seen = vec![false; elems.len()];
        for (pos, &s) in self.slots.iter().enumerate() {
            if s == EMPTY {
                continue;
            }
            let id = id_of(s) as usize;
            assert!(!seen[id], "id twice");
            seen[id] = true;
            assert_eq!(tag_of(s), self.tag(&elems[id].member), "tag");
            // No empty slot between the home bucket and the slot.
            let mut p = tag_of(s) as usize & mask;
            while p != pos {
                assert_ne!(self.slots[p], EMPTY, "hole in a probe run");
                p = (p + 1) & mask;
            }
        }
        assert!(seen.iter().all(|&s| s));
    }
}
