//! The Wing & Gong / Lowe (WGL) search over one key's sub-history.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::model::{Kind, Val, opaque_values};

/// Sentinel "no entry" index in the linked lists.
const NIL: u32 = u32::MAX;
/// Index of the head sentinel of the list of known-outcome operations.
const HEAD: u32 = 0;
/// How many of the most recently linearized operations a counterexample keeps.
const RECENT: usize = 8;

/// One operation of a key's sub-history.
pub(crate) struct KeyOp {
    /// Index of the event in the caller's history.
    pub(crate) index: usize,
    pub(crate) kind: Kind,
    pub(crate) call: u64,
    /// `None` for an unknown outcome (returns at +infinity).
    pub(crate) ret: Option<u64>,
}

/// The step budget shared by all keys of one check.
pub(crate) struct Budget {
    pub(crate) used: u64,
    pub(crate) max: u64,
}

/// The most informative dead end the search ran into, in terms of sub-history op ids.
pub(crate) struct Snapshot {
    /// The list entry of `stuck`'s response.
    ret_entry: u32,
    /// Number of known-outcome operations linearized at that point.
    pub(crate) linearized: usize,
    /// The register's state at that point.
    pub(crate) state: Val,
    /// If `state` is [`Val::Opaque`]: the `SET` that wrote it.
    pub(crate) writer: Option<u32>,
    /// The operation whose response could not be explained.
    pub(crate) stuck: u32,
    /// All operations invoked but not linearized before `stuck` returned.
    pub(crate) pending: Vec<u32>,
    /// The last few linearized operations, in linearization order.
    pub(crate) recent: Vec<u32>,
}

pub(crate) enum SearchResult {
    Linearizable,
    NotLinearizable(Snapshot),
    /// The budget ran out; carries the most informative dead end so far.
    Timeout(Option<Snapshot>),
}

/// A key's sub-history, prepared for the search.
///
/// Operation ids: `0..known` are the known-outcome operations in invocation
/// order, `known..ops.len()` the unknown-outcome ones.
pub(crate) struct KeyHistory {
    pub(crate) ops: Vec<KeyOp>,
    known: usize,
}

impl KeyHistory {
    /// Prepares a sub-history (in any order). Unknown-outcome operations
    /// invoked after every known operation has returned are dropped: no
    /// known result can depend on them.
    pub(crate) fn new(mut ops: Vec<KeyOp>) -> Self {
        opaque_values(&mut ops.iter_mut().map(|o| &mut o.kind).collect::<Vec<_>>());
        let (mut known, mut unknown): (Vec<_>, Vec<_>) =
            ops.into_iter().partition(|o| o.ret.is_some());
        let last_ret = known.iter().filter_map(|o| o.ret).max();
        unknown.retain(|o| last_ret.is_some_and(|r| o.call <= r));
        known.sort_by_key(|o| (o.call, o.index));
        unknown.sort_by_key(|o| (o.call, o.index));
        let n_known = known.len();
        known.extend(unknown);
        KeyHistory {
            ops: known,
            known: n_known,
        }
    }

    /// Number of operations the search considers.
    pub(crate) fn len(&self) -> usize {
        self.ops.len()
    }

    /// Number of known-outcome operations.
    pub(crate) fn known(&self) -> usize {
        self.known
    }

    /// Runs the search, charging every step to `budget`.
    pub(crate) fn search(&self, budget: &mut Budget) -> SearchResult {
        if self.known == 0 {
            return SearchResult::Linearizable;
        }
        Search::new(self).run(budget)
    }
}

/// A fast hasher for the `u64` words of cache keys (FxHash-style mixing with
/// a murmur3 finaliser).
#[derive(Default, Clone, Copy)]
struct WordHasher(u64);

impl WordHasher {
    #[inline]
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.add(x);
    }

    fn write_usize(&mut self, x: usize) {
        self.add(x as u64);
    }
}

/// Visited configurations. The key encodes the state and the linearized
/// known-outcome operations; the value holds the linearized sets of
/// unknown-outcome operations seen with it (bitsets of `unknown_bits.len()`
/// words each, concatenated; an antichain under inclusion).
type Cache = HashMap<Box<[u64]>, Vec<u64>, BuildHasherDefault<WordHasher>>;

/// One choice on the search stack.
struct Frame {
    /// The operation linearized.
    op: u32,
    /// The state before it.
    prev_state: Val,
    /// How the choice was made, i.e. where to resume at the parent.
    cursor: Cursor,
    /// Whether this was the only choice explored at its configuration (a
    /// stutter step, see [`Search::find_stutter`]).
    forced: bool,
}

/// Where the walk over candidates is.
#[derive(Clone, Copy)]
enum Cursor {
    /// At a configuration just entered: look for a stutter step first.
    Fresh,
    /// At this entry of the known-outcome list.
    Known(u32),
    /// At position `pos` of the configuration's unknown-outcome candidates,
    /// `candidates[start..]`, computed when the known ones were exhausted at
    /// the return entry `limit`.
    Unknown { pos: u32, start: u32, limit: u32 },
}

/// Which values an unknown-outcome `SET` could usefully write in the current
/// configuration: values that some pending known-outcome operation needs in
/// order to be linearized next, where the current state does not do.
#[derive(Default)]
struct Demand {
    /// Specific values (read by a `GET`, or one less than an `INCR` result).
    vals: Vec<Val>,
    /// A pending `DEL` returned 1 but the key is absent: any value will do.
    any: bool,
    /// A pending `INCR` was rejected: any non-integer (or `i64::MAX`) will do.
    incr_error: bool,
    /// An unknown-outcome `INCR` is available: any integer might be the
    /// start of a chain of increments.
    int_chain: bool,
}

impl Demand {
    fn wants(&self, v: Val) -> bool {
        self.any
            || self.vals.contains(&v)
            || (self.incr_error && Kind::Incr(None).step(v).is_some())
            || (self.int_chain && matches!(v, Val::Int(_)))
    }
}

/// Mutable search state for one key.
///
/// Entries (1-based; 0 is the sentinel of the known list, `entries + 1` the
/// sentinel of the unknown list) are numbered in time order, so comparing
/// entry numbers compares times. Known-outcome operations have a call and a
/// return entry in the *known list*, kept in time order. Unknown-outcome
/// operations only have a call entry; identical ones (same kind, e.g. all
/// unknown `INCR`s) are interchangeable once invoked, so only the first
/// unlinearized one of each kind is a candidate: the *unknown list* holds
/// just those heads, and linearizing one substitutes its successor in its
/// place.
///
/// Candidates are tried known-outcome ones first: then a configuration that
/// leaves an unknown-outcome operation out is explored before the ones that
/// use it, and the latter get pruned by dominance in the cache (see
/// [`Search::remember`]).
struct Search<'a> {
    h: &'a KeyHistory,
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Sentinel of the unknown list.
    unknown_head: u32,
    entry_op: Vec<u32>,
    is_ret: Vec<bool>,
    call_entry: Vec<u32>,
    ret_entry: Vec<u32>,
    /// For known op `i`: the number of known ops invoked before `i`'s return
    /// entry. While `i` is not linearized, no known op `>= win_end[i]` can be.
    win_end: Vec<u32>,
    /// For unknown op `known + u`: the next unknown op of an identical kind.
    next_same: Vec<u32>,
    /// The unknown `INCR`s in invocation order, and how many are linearized
    /// (always a prefix).
    incr_queue: Vec<u32>,
    incrs_done: usize,
    /// Linearized known ops (bit per id `0..known`).
    known_bits: Vec<u64>,
    /// Linearized unknown ops (bit per id `known..`, offset by `known`).
    unknown_bits: Vec<u64>,
    /// Smallest known op id that is not linearized.
    watermark: usize,
    /// Number of linearized known ops.
    done: usize,
    cache: Cache,
    key_buf: Vec<u64>,
    demand: Demand,
    /// Stack of unknown-outcome candidate lists, one per configuration in
    /// its unknown phase, along the current path.
    candidates: Vec<u32>,
    best: Option<Snapshot>,
}

impl<'a> Search<'a> {
    fn new(h: &'a KeyHistory) -> Self {
        let n = h.ops.len();
        // (time, is_ret, op): at equal times calls sort before returns, so
        // operations whose response and invocation times coincide are
        // treated as concurrent.
        let mut events: Vec<(u64, bool, u32)> = Vec::with_capacity(n + h.known);
        for (id, op) in h.ops.iter().enumerate() {
            let id = id as u32;
            events.push((op.call, false, id));
            if let Some(r) = op.ret {
                events.push((r, true, id));
            }
        }
        events.sort_unstable();
        let unknown_head = events.len() as u32 + 1;
        let slots = events.len() + 2;
        let mut s = Search {
            h,
            next: vec![NIL; slots],
            prev: vec![NIL; slots],
            unknown_head,
            entry_op: vec![NIL; slots],
            is_ret: vec![false; slots],
            call_entry: vec![NIL; n],
            ret_entry: vec![NIL; n],
            win_end: Vec::with_capacity(h.known),
            next_same: vec![NIL; n - h.known],
            incr_queue: Vec::new(),
            incrs_done: 0,
            known_bits: vec![0; h.known.div_ceil(64)],
            unknown_bits: vec![0; (n - h.known).div_ceil(64)],
            watermark: 0,
            done: 0,
            cache: Cache::default(),
            key_buf: Vec::new(),
            demand: Demand::default(),
            candidates: Vec::new(),
            best: None,
        };
        let mut tail = HEAD;
        for (i, &(_, ret, op)) in events.iter().enumerate() {
            let e = i as u32 + 1;
            s.entry_op[e as usize] = op;
            s.is_ret[e as usize] = ret;
            if ret {
                s.ret_entry[op as usize] = e;
            } else {
                s.call_entry[op as usize] = e;
            }
            if (op as usize) < h.known {
                s.append(tail, e);
                tail = e;
            }
        }
        // Known ops are numbered in call order, and so are their call entries.
        let known_calls = &s.call_entry[..h.known];
        for i in 0..h.known {
            let r = s.ret_entry[i];
            s.win_end
                .push(known_calls.partition_point(|&c| c < r) as u32);
        }
        // Unknown ops are numbered in call order too: chain identical ones
        // and list the first of each kind.
        let mut last_of_kind: HashMap<Kind, u32> = HashMap::new();
        let mut tail = unknown_head;
        for id in h.known..n {
            let kind = h.ops[id].kind;
            if kind == Kind::IncrMaybe {
                s.incr_queue.push(id as u32);
            }
            match last_of_kind.insert(kind, id as u32) {
                Some(prev) => s.next_same[prev as usize - h.known] = id as u32,
                None => {
                    let e = s.call_entry[id];
                    s.append(tail, e);
                    tail = e;
                }
            }
        }
        s
    }

    /// Appends entry `e` after `tail` while building a list.
    fn append(&mut self, tail: u32, e: u32) {
        self.next[tail as usize] = e;
        self.prev[e as usize] = tail;
        self.next[e as usize] = NIL;
    }

    fn run(mut self, budget: &mut Budget) -> SearchResult {
        let mut state = Val::Absent;
        let mut stack: Vec<Frame> = Vec::new();
        let mut cursor = Cursor::Fresh;
        loop {
            if self.done == self.h.known {
                return SearchResult::Linearizable;
            }
            if budget.used >= budget.max {
                return SearchResult::Timeout(self.best.take());
            }
            budget.used += 1;
            let op = match cursor {
                Cursor::Fresh => {
                    let Some(op) = self.find_stutter(state, &stack, budget) else {
                        cursor = Cursor::Known(self.next[HEAD as usize]);
                        continue;
                    };
                    self.mark(op);
                    if self.remember(state) {
                        stack.push(Frame {
                            op,
                            prev_state: state,
                            cursor,
                            forced: true,
                        });
                        self.lift(op);
                        continue;
                    }
                    self.unmark(op);
                    // The only choice leads to a configuration that failed:
                    // so does this one.
                    match self.backtrack(&mut stack) {
                        Some((s, c)) => (state, cursor) = (s, c),
                        None => return self.fail(),
                    }
                    continue;
                }
                Cursor::Known(e) => {
                    // While a known op is pending its return entry is in the
                    // list, so the walk meets a return before the end.
                    debug_assert!(e != NIL);
                    if e == NIL || self.is_ret[e as usize] {
                        // Known candidates exhausted: try unknown ones.
                        let start = self.candidates.len() as u32;
                        self.collect_unknown_candidates(state, e, &stack, budget);
                        cursor = Cursor::Unknown {
                            pos: start,
                            start,
                            limit: e,
                        };
                        continue;
                    }
                    let op = self.entry_op[e as usize];
                    cursor = Cursor::Known(self.next[e as usize]);
                    let kind = self.h.ops[op as usize].kind;
                    if !self.allowed(kind, state, &stack) {
                        continue;
                    }
                    op
                }
                Cursor::Unknown { pos, start, limit } => {
                    let Some(&op) = self.candidates.get(pos as usize) else {
                        // Dead end: every candidate before the return entry
                        // `limit` has been tried from this configuration.
                        self.candidates.truncate(start as usize);
                        if limit != NIL {
                            self.record_dead_end(limit, state, &stack);
                        }
                        match self.backtrack(&mut stack) {
                            Some((s, c)) => (state, cursor) = (s, c),
                            None => return self.fail(),
                        }
                        continue;
                    };
                    cursor = Cursor::Unknown {
                        pos: pos + 1,
                        start,
                        limit,
                    };
                    op
                }
            };
            let Some(next_state) = self.h.ops[op as usize].kind.step(state) else {
                continue;
            };
            self.mark(op);
            if self.remember(next_state) {
                stack.push(Frame {
                    op,
                    prev_state: state,
                    cursor,
                    forced: false,
                });
                state = next_state;
                self.lift(op);
                cursor = Cursor::Fresh;
                continue;
            }
            self.unmark(op);
        }
    }

    /// Lists the unknown-outcome operations worth trying next from this
    /// configuration, whose first pending return is `limit`: the first
    /// unlinearized one of each kind, invoked before `limit`, valid in
    /// `state`, allowed after the previous choice, and — for a `SET` —
    /// writing a value some pending operation could need (see
    /// [`Self::compute_demand`]).
    fn collect_unknown_candidates(
        &mut self,
        state: Val,
        limit: u32,
        stack: &[Frame],
        budget: &mut Budget,
    ) {
        self.compute_demand(state, limit);
        let mut e = self.next[self.unknown_head as usize];
        while e != NIL {
            budget.used += 1;
            let op = self.entry_op[e as usize];
            let kind = self.h.ops[op as usize].kind;
            let useful = match kind {
                Kind::SetMaybe(v) => self.demand.wants(v),
                _ => true,
            };
            if e < limit && useful && kind.step(state).is_some() && self.allowed(kind, state, stack)
            {
                self.candidates.push(op);
            }
            e = self.next[e as usize];
        }
    }

    /// Finds a known-outcome candidate that is a *stutter* step: a read-only
    /// operation (`GET`, `INCR` rejected with an error, `DEL` that found
    /// nothing) whose result matches `state`.
    ///
    /// Such an operation can be linearized right now without loss: in any
    /// linearization of the rest, moving it to the front sees the same state,
    /// changes no other operation's view (it never changes the state), and
    /// breaks no real-time constraint (every operation that returned before
    /// it was invoked is already linearized). So the search commits to it,
    /// with no alternatives at this configuration. This is what keeps reads
    /// that overlap many writes from multiplying the configurations. (A
    /// `SET` of the current value does not qualify: at its later position it
    /// may well change the state.)
    fn find_stutter(&self, state: Val, stack: &[Frame], budget: &mut Budget) -> Option<u32> {
        let mut e = self.next[HEAD as usize];
        while e != NIL && !self.is_ret[e as usize] {
            budget.used += 1;
            let op = self.entry_op[e as usize];
            let kind = self.h.ops[op as usize].kind;
            if kind.is_read_only() && kind.step(state).is_some() && self.allowed(kind, state, stack)
            {
                return Some(op);
            }
            e = self.next[e as usize];
        }
        None
    }

    /// Pops choices until one with alternatives left; returns the state and
    /// the cursor to resume from, or `None` if the search space is exhausted.
    fn backtrack(&mut self, stack: &mut Vec<Frame>) -> Option<(Val, Cursor)> {
        while let Some(f) = stack.pop() {
            self.unlift(f.op);
            self.unmark(f.op);
            if !f.forced {
                return Some((f.prev_state, f.cursor));
            }
        }
        None
    }

    /// The verdict once the search space is exhausted.
    fn fail(&mut self) -> SearchResult {
        // Exhausting the space requires hitting at least one dead end, so
        // `best` is set; fall back to a bare report rather than panic.
        SearchResult::NotLinearizable(self.best.take().unwrap_or(Snapshot {
            ret_entry: NIL,
            linearized: 0,
            state: Val::Absent,
            writer: None,
            stuck: 0,
            pending: Vec::new(),
            recent: Vec::new(),
        }))
    }

    /// Right after an unknown-outcome operation `u` was linearized, only an
    /// operation whose step *depends* on `u` may follow: one that would be
    /// invalid, or lead to another state, without `u`. Otherwise `u`
    /// achieved nothing — the same sequence without it is valid and uses
    /// fewer optional operations — so that branch need not be explored.
    /// (For example, a `SET` never directly follows an unknown-outcome
    /// operation.)
    fn allowed(&self, kind: Kind, state: Val, stack: &[Frame]) -> bool {
        match stack.last() {
            Some(f) if f.op as usize >= self.h.known => kind.step(state) != kind.step(f.prev_state),
            _ => true,
        }
    }

    /// Computes which values an unknown `SET` could usefully write next, in
    /// a configuration with `state` whose first pending return is `limit`.
    ///
    /// An unknown `SET` of value `v` must be directly followed by an
    /// operation that depends on it (see [`Self::allowed`]). A known-outcome
    /// one must be a pending candidate that is valid after `v` but not (with
    /// the same effect) after `state`: a `GET` of `v`, an `INCR` returning
    /// `v + 1` or rejected because `v` is not an integer, or a `DEL`
    /// returning 1 while the key is absent. An unknown `DEL` or `SET` never
    /// depends on it usefully (the pair is equivalent to less), and an
    /// unknown `INCR` may start a chain if `v` is an integer.
    fn compute_demand(&mut self, state: Val, limit: u32) {
        let d = &mut self.demand;
        d.vals.clear();
        d.any = false;
        d.incr_error = false;
        let mut e = self.next[HEAD as usize];
        while e != NIL && e < limit {
            match self.h.ops[self.entry_op[e as usize] as usize].kind {
                Kind::Get(v) => d.vals.push(v),
                Kind::Incr(Some(r)) => {
                    if let Some(n) = r.checked_sub(1) {
                        d.vals.push(Val::Int(n));
                    }
                }
                Kind::Incr(None) => d.incr_error = true,
                Kind::Del(1) => d.any |= state == Val::Absent,
                _ => {}
            }
            e = self.next[e as usize];
        }
        d.int_chain = self
            .incr_queue
            .get(self.incrs_done)
            .is_some_and(|&u| self.call_entry[u as usize] < limit);
    }

    fn mark(&mut self, op: u32) {
        let op = op as usize;
        if op < self.h.known {
            self.known_bits[op / 64] |= 1 << (op % 64);
            self.done += 1;
            if op == self.watermark {
                self.advance_watermark();
            }
        } else {
            let u = op - self.h.known;
            self.unknown_bits[u / 64] |= 1 << (u % 64);
            if self.h.ops[op].kind == Kind::IncrMaybe {
                self.incrs_done += 1;
            }
        }
    }

    fn unmark(&mut self, op: u32) {
        let op = op as usize;
        if op < self.h.known {
            self.known_bits[op / 64] &= !(1 << (op % 64));
            self.done -= 1;
            self.watermark = self.watermark.min(op);
        } else {
            let u = op - self.h.known;
            self.unknown_bits[u / 64] &= !(1 << (u % 64));
            if self.h.ops[op].kind == Kind::IncrMaybe {
                self.incrs_done -= 1;
            }
        }
    }

    fn advance_watermark(&mut self) {
        let mut w = self.watermark;
        while w < self.h.known {
            let unset = !self.known_bits[w / 64] >> (w % 64);
            if unset != 0 {
                w += unset.trailing_zeros() as usize;
                break;
            }
            w = (w / 64 + 1) * 64;
        }
        self.watermark = w.min(self.h.known);
    }

    /// Records the current configuration (linearized set + `state`) in the
    /// cache; returns `false` if it need not be explored: it, or a
    /// configuration that dominates it, was visited before.
    ///
    /// The known-outcome part of the linearized set is encoded exactly but
    /// compactly: all known ops below the watermark are linearized and none
    /// at or past `win_end[watermark]` is (they were invoked after the
    /// watermark op's return, which is still in the list), so only the
    /// bitset words covering that window are stored.
    ///
    /// Dominance: with the same state and the same known ops linearized, a
    /// configuration that has used a *subset* of the unknown-outcome ops can
    /// do anything this one can (unknown ops are optional and constrain
    /// nothing after them), so if it was visited, this one is pruned.
    fn remember(&mut self, state: Val) -> bool {
        let w = self.watermark;
        if w >= self.h.known {
            // Everything known is linearized: the search is about to succeed.
            return true;
        }
        let end = self.win_end[w] as usize;
        debug_assert!(
            (end..self.h.known).all(|i| self.known_bits[i / 64] & (1 << (i % 64)) == 0),
            "linearized known op past the watermark's window"
        );
        self.key_buf.clear();
        self.key_buf.extend(state.words());
        self.key_buf.push(w as u64);
        self.key_buf
            .extend_from_slice(&self.known_bits[w / 64..=(end - 1) / 64]);
        let cur = &self.unknown_bits;
        let Some(sets) = self.cache.get_mut(self.key_buf.as_slice()) else {
            self.cache
                .insert(self.key_buf.as_slice().into(), cur.clone());
            return true;
        };
        let words = cur.len();
        if words == 0 {
            return false;
        }
        let subset = |a: &[u64], b: &[u64]| a.iter().zip(b).all(|(a, b)| a & !b == 0);
        if sets.chunks_exact(words).any(|s| subset(s, cur)) {
            return false;
        }
        // Drop the sets this one dominates, then add it.
        let mut kept = 0;
        for i in 0..sets.len() / words {
            if !subset(cur, &sets[i * words..(i + 1) * words]) {
                sets.copy_within(i * words..(i + 1) * words, kept * words);
                kept += 1;
            }
        }
        sets.truncate(kept * words);
        sets.extend_from_slice(cur);
        true
    }

    fn unlink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    /// Undoes [`Self::unlink`] (or puts `e` back where [`Self::replace`]
    /// put another entry), in reverse order of the changes.
    fn relink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = e;
        if n != NIL {
            self.prev[n as usize] = e;
        }
    }

    /// Puts entry `new` in `old`'s place in its list.
    fn replace(&mut self, old: u32, new: u32) {
        let (p, n) = (self.prev[old as usize], self.next[old as usize]);
        self.prev[new as usize] = p;
        self.next[new as usize] = n;
        self.next[p as usize] = new;
        if n != NIL {
            self.prev[n as usize] = new;
        }
    }

    /// Removes a linearized operation's entries from its list (for an
    /// unknown-outcome op, its successor of the same kind takes its place).
    fn lift(&mut self, op: u32) {
        let c = self.call_entry[op as usize];
        if (op as usize) < self.h.known {
            self.unlink(c);
            self.unlink(self.ret_entry[op as usize]);
            return;
        }
        match self.next_same[op as usize - self.h.known] {
            NIL => self.unlink(c),
            succ => self.replace(c, self.call_entry[succ as usize]),
        }
    }

    /// Undoes [`Self::lift`] (must be called in reverse lifting order).
    fn unlift(&mut self, op: u32) {
        let c = self.call_entry[op as usize];
        if (op as usize) < self.h.known {
            self.relink(self.ret_entry[op as usize]);
        }
        self.relink(c);
    }

    /// Keeps a description of the most informative dead end seen so far: the
    /// one at the latest return entry (the furthest the search got in time)
    /// and, among those, the one with the fewest operations linearized (the
    /// widest window of pending operations, none of them chosen yet).
    ///
    /// Every dead end is exhaustive: each candidate before `ret` was tried
    /// from this configuration and failed (or was pruned as equivalent to or
    /// dominated by one that failed).
    fn record_dead_end(&mut self, ret: u32, state: Val, stack: &[Frame]) {
        let rank = |r: u32, done: usize| (r, std::cmp::Reverse(done));
        if let Some(b) = &self.best
            && rank(b.ret_entry, b.linearized) >= rank(ret, self.done)
        {
            return;
        }
        let mut pending = Vec::new();
        let mut e = self.next[HEAD as usize];
        while e != NIL && e < ret {
            pending.push(e);
            e = self.next[e as usize];
        }
        for id in self.h.known..self.h.ops.len() {
            let u = id - self.h.known;
            let c = self.call_entry[id];
            if c < ret && self.unknown_bits[u / 64] & (1 << (u % 64)) == 0 {
                pending.push(c);
            }
        }
        pending.sort_unstable();
        self.best = Some(Snapshot {
            ret_entry: ret,
            linearized: self.done,
            state,
            // Only a SET writes an opaque value; reads may follow it.
            writer: (state == Val::Opaque)
                .then(|| {
                    stack.iter().rev().map(|f| f.op).find(|&op| {
                        matches!(
                            self.h.ops[op as usize].kind,
                            Kind::Set(_) | Kind::SetMaybe(_)
                        )
                    })
                })
                .flatten(),
            stuck: self.entry_op[ret as usize],
            pending: pending.iter().map(|&e| self.entry_op[e as usize]).collect(),
            recent: stack[stack.len().saturating_sub(RECENT)..]
                .iter()
                .map(|f| f.op)
                .collect(),
        });
    }
}
