//! The order of the large form: a B+tree of `(score, id)` entries ordered by (score, member),
//! where `id` indexes the element arena (`Elem`) that holds the member. Every inner node keeps,
//! per child, the size of the child's subtree (so rank and select are O(log n)) and the
//! child's first entry (so a search compares against keys without visiting the child).
//!
//! The tree never stores a member: comparisons that tie on the score look the member up in
//! the arena, which every method takes as `elems`. Scores are stored in the leaves so that
//! most comparisons stay inside one leaf's cache lines.
//!
//! Invariants: entries are strictly increasing; a child's `count` is its subtree's size and
//! its `score`/`id` its first entry; no node is empty except an empty root leaf; a non-root
//! node that underflows after a removal is merged with or refilled from a sibling.

use std::cmp::Ordering;

use super::Elem;

/// Entries per leaf: 63 × (8 + 4) bytes plus the length fill a 768-byte allocation.
const LEAF_CAP: usize = 63;
/// A leaf below this after a removal is merged with or refilled from a sibling.
const LEAF_MIN: usize = LEAF_CAP / 4;
/// Children per inner node.
const INNER_CAP: usize = 32;
const INNER_MIN: usize = INNER_CAP / 4;

/// Redis orders scores with `<` and `>`: -0 and 0 are equal. NaN is never stored.
pub fn cmp_score(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// A search key: a score and a member.
#[derive(Clone, Copy)]
pub(super) struct Key<'a> {
    pub score: f64,
    pub member: &'a [u8],
}

fn cmp_entry(elems: &[Elem], score: f64, id: u32, key: Key) -> Ordering {
    cmp_score(score, key.score).then_with(|| elems[id as usize].member[..].cmp(key.member))
}

#[derive(Clone)]
struct Leaf {
    len: u32,
    ids: [u32; LEAF_CAP],
    scores: [f64; LEAF_CAP],
}

impl Leaf {
    fn new() -> Box<Leaf> {
        Box::new(Leaf {
            len: 0,
            ids: [0; LEAF_CAP],
            scores: [0.0; LEAF_CAP],
        })
    }

    fn len(&self) -> usize {
        self.len as usize
    }

    /// The first position whose entry is not below `key`.
    fn lower_bound(&self, key: Key, elems: &[Elem]) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if cmp_entry(elems, self.scores[mid], self.ids[mid], key) == Ordering::Less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn insert_at(&mut self, pos: usize, score: f64, id: u32) {
        let len = self.len();
        debug_assert!(len < LEAF_CAP);
        self.scores.copy_within(pos..len, pos + 1);
        self.ids.copy_within(pos..len, pos + 1);
        self.scores[pos] = score;
        self.ids[pos] = id;
        self.len += 1;
    }

    fn remove_at(&mut self, pos: usize) -> u32 {
        let len = self.len();
        let id = self.ids[pos];
        self.scores.copy_within(pos + 1..len, pos);
        self.ids.copy_within(pos + 1..len, pos);
        self.len -= 1;
        id
    }

    /// Moves entries `from..` to the end of `other`.
    fn move_tail(&mut self, from: usize, other: &mut Leaf) {
        let (len, at) = (self.len(), other.len());
        let n = len - from;
        other.scores[at..at + n].copy_from_slice(&self.scores[from..len]);
        other.ids[at..at + n].copy_from_slice(&self.ids[from..len]);
        other.len += n as u32;
        self.len = from as u32;
    }

    /// Moves the first `n` entries of `right` to the end of `self`.
    fn take_front(&mut self, right: &mut Leaf, n: usize) {
        let (at, rlen) = (self.len(), right.len());
        self.scores[at..at + n].copy_from_slice(&right.scores[..n]);
        self.ids[at..at + n].copy_from_slice(&right.ids[..n]);
        self.len += n as u32;
        right.scores.copy_within(n..rlen, 0);
        right.ids.copy_within(n..rlen, 0);
        right.len -= n as u32;
    }

    /// Moves the last `n` entries of `left` to the front of `self`.
    fn take_back(&mut self, left: &mut Leaf, n: usize) {
        let (len, llen) = (self.len(), left.len());
        self.scores.copy_within(0..len, n);
        self.ids.copy_within(0..len, n);
        self.scores[..n].copy_from_slice(&left.scores[llen - n..llen]);
        self.ids[..n].copy_from_slice(&left.ids[llen - n..llen]);
        self.len += n as u32;
        left.len -= n as u32;
    }
}

#[derive(Clone)]
struct Child {
    /// Entries in the subtree.
    count: u32,
    /// The subtree's first entry.
    score: f64,
    id: u32,
    node: Node,
}

impl Child {
    fn of(node: Node) -> Child {
        let (score, id) = node.first();
        Child {
            count: node.count() as u32,
            score,
            id,
            node,
        }
    }

    /// Refreshes the count and first entry after the subtree changed.
    fn refresh(&mut self) {
        self.count = self.node.count() as u32;
        if self.count > 0 {
            (self.score, self.id) = self.node.first();
        }
    }
}

#[derive(Clone)]
enum Node {
    Leaf(Box<Leaf>),
    Inner(Vec<Child>),
}

impl Node {
    fn count(&self) -> usize {
        match self {
            Node::Leaf(leaf) => leaf.len(),
            Node::Inner(children) => children.iter().map(|c| c.count as usize).sum(),
        }
    }

    fn first(&self) -> (f64, u32) {
        match self {
            Node::Leaf(leaf) => (leaf.scores[0], leaf.ids[0]),
            Node::Inner(children) => (children[0].score, children[0].id),
        }
    }

    /// Whether a non-root node holds too little after a removal.
    fn underflows(&self) -> bool {
        match self {
            Node::Leaf(leaf) => leaf.len() < LEAF_MIN,
            Node::Inner(children) => children.len() < INNER_MIN,
        }
    }
}

fn new_inner(children: Vec<Child>) -> Node {
    let mut v = Vec::with_capacity(INNER_CAP + 1);
    v.extend(children);
    Node::Inner(v)
}

/// The child of an inner node whose range holds `key`: the last one whose first entry is not
/// above it (the first child when every first entry is above).
fn child_for(children: &[Child], key: Key, elems: &[Elem]) -> usize {
    children[1..].partition_point(|c| cmp_entry(elems, c.score, c.id, key) != Ordering::Greater)
}

#[derive(Clone)]
pub(super) struct Tree {
    root: Node,
    len: usize,
    /// Nodes allocated, for memory accounting: (leaves, inner nodes).
    nodes: (usize, usize),
}

impl Tree {
    pub fn new() -> Tree {
        Tree {
            root: Node::Leaf(Leaf::new()),
            len: 0,
            nodes: (1, 0),
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn heap_bytes(&self) -> usize {
        self.nodes.0 * std::mem::size_of::<Leaf>()
            + self.nodes.1 * (INNER_CAP + 1) * std::mem::size_of::<Child>()
    }

    // -----------------------------------------------------------------------------------------
    // Insertion

    /// Inserts an entry; the caller guarantees no entry with the same member exists.
    pub fn insert(&mut self, score: f64, id: u32, elems: &[Elem]) {
        let key = Key {
            score,
            member: &elems[id as usize].member,
        };
        if let Some(right) = insert_rec(&mut self.root, key, id, elems, &mut self.nodes) {
            let left = std::mem::replace(&mut self.root, Node::Leaf(Leaf::new()));
            self.root = new_inner(vec![Child::of(left), Child::of(right)]);
            self.nodes.1 += 1;
        }
        self.len += 1;
    }

    // -----------------------------------------------------------------------------------------
    // Removal

    /// Removes the entry for (score, member); returns its id.
    pub fn remove(&mut self, key: Key, elems: &[Elem]) -> Option<u32> {
        let id = remove_rec(&mut self.root, key, elems, &mut self.nodes)?;
        self.len -= 1;
        // Collapse a root left with one child, or an empty inner root.
        loop {
            match &mut self.root {
                Node::Inner(children) if children.len() == 1 => {
                    let child = children.pop().expect("one child");
                    self.root = child.node;
                    self.nodes.1 -= 1;
                }
                Node::Inner(children) if children.is_empty() => {
                    self.root = Node::Leaf(Leaf::new());
                    self.nodes = (1, 0);
                }
                _ => break,
            }
        }
        Some(id)
    }

    /// Changes the id of the entry for (score, member) (the arena moved its element).
    pub fn relabel(&mut self, key: Key, elems: &[Elem], id: u32) {
        let found = relabel_rec(&mut self.root, key, elems, id);
        debug_assert!(found, "relabel of an entry the tree does not hold");
    }

    // -----------------------------------------------------------------------------------------
    // Positions

    /// The 0-based rank of (score, member), if present.
    pub fn rank(&self, key: Key, elems: &[Elem]) -> Option<usize> {
        let mut node = &self.root;
        let mut before = 0;
        loop {
            match node {
                Node::Leaf(leaf) => {
                    let pos = leaf.lower_bound(key, elems);
                    let hit = pos < leaf.len()
                        && cmp_entry(elems, leaf.scores[pos], leaf.ids[pos], key)
                            == Ordering::Equal;
                    return hit.then_some(before + pos);
                }
                Node::Inner(children) => {
                    let i = child_for(children, key, elems);
                    before += children[..i]
                        .iter()
                        .map(|c| c.count as usize)
                        .sum::<usize>();
                    node = &children[i].node;
                }
            }
        }
    }

    /// The entry at `rank` (0-based), if `rank < len`.
    pub fn select(&self, rank: usize) -> Option<(f64, u32)> {
        if rank >= self.len {
            return None;
        }
        let mut node = &self.root;
        let mut rank = rank;
        loop {
            match node {
                Node::Leaf(leaf) => return Some((leaf.scores[rank], leaf.ids[rank])),
                Node::Inner(children) => {
                    let mut i = 0;
                    while rank >= children[i].count as usize {
                        rank -= children[i].count as usize;
                        i += 1;
                    }
                    node = &children[i].node;
                }
            }
        }
    }

    /// How many leading entries satisfy `pred`, for a `pred` that holds for a prefix of the
    /// order (for example "score < min"). For other predicates the answer is some position
    /// where `pred` changes, found by binary search.
    pub fn partition_point(&self, mut pred: impl FnMut(f64, u32) -> bool) -> usize {
        let mut node = &self.root;
        let mut before = 0;
        loop {
            match node {
                Node::Leaf(leaf) => {
                    let n = leaf.len();
                    let (mut lo, mut hi) = (0, n);
                    while lo < hi {
                        let mid = (lo + hi) / 2;
                        if pred(leaf.scores[mid], leaf.ids[mid]) {
                            lo = mid + 1;
                        } else {
                            hi = mid;
                        }
                    }
                    return before + lo;
                }
                Node::Inner(children) => {
                    let after = children[1..].partition_point(|c| pred(c.score, c.id));
                    before += children[..after]
                        .iter()
                        .map(|c| c.count as usize)
                        .sum::<usize>();
                    node = &children[after].node;
                }
            }
        }
    }

    /// Entries from forward rank `rank`, walking forward or backward.
    pub fn iter_from(&self, rank: usize, rev: bool) -> TreeIter<'_> {
        let mut it = TreeIter {
            stack: Vec::new(),
            leaf: None,
            pos: 0,
            rev,
        };
        if rank >= self.len {
            return it;
        }
        let mut node = &self.root;
        let mut rank = rank;
        loop {
            match node {
                Node::Leaf(leaf) => {
                    it.leaf = Some(leaf);
                    it.pos = rank;
                    return it;
                }
                Node::Inner(children) => {
                    let mut i = 0;
                    while rank >= children[i].count as usize {
                        rank -= children[i].count as usize;
                        i += 1;
                    }
                    it.stack.push((children, i));
                    node = &children[i].node;
                }
            }
        }
    }

    #[cfg(test)]
    pub fn leaves(&self) -> usize {
        self.nodes.0
    }

    /// Checks every invariant (tests).
    #[cfg(test)]
    pub fn check(&self, elems: &[Elem]) {
        fn walk(node: &Node, root: bool, out: &mut Vec<(f64, u32)>) -> usize {
            match node {
                Node::Leaf(leaf) => {
                    assert!(root || leaf.len() > 0, "empty non-root leaf");
                    for i in 0..leaf.len() {
                        out.push((leaf.scores[i], leaf.ids[i]));
                    }
                    leaf.len()
                }
                Node::Inner(children) => {
                    assert!(!children.is_empty() && children.len() <= INNER_CAP);
                    assert!(!root || children.len() >= 2, "root with one child");
                    let mut total = 0;
                    for c in children.iter() {
                        let start = out.len();
                        let n = walk(&c.node, false, out);
                        assert_eq!(n, c.count as usize, "child count");
                        assert_eq!(out[start], (c.score, c.id), "child first entry");
                        total += n;
                    }
                    total
                }
            }
        }
        let mut entries = Vec::new();
        let n = walk(&self.root, true, &mut entries);
        assert_eq!(n, self.len);
        for pair in entries.windows(2) {
            let (s, id) = pair[1];
            let key = Key {
                score: s,
                member: &elems[id as usize].member,
            };
            assert_eq!(
                cmp_entry(elems, pair[0].0, pair[0].1, key),
                Ordering::Less,
                "entries in order"
            );
        }
        for (s, id) in entries {
            assert_eq!(
                elems[id as usize].score.to_bits(),
                s.to_bits(),
                "score copy"
            );
        }
    }
}

fn insert_rec(
    node: &mut Node,
    key: Key,
    id: u32,
    elems: &[Elem],
    nodes: &mut (usize, usize),
) -> Option<Node> {
    match node {
        Node::Leaf(leaf) => {
            let pos = leaf.lower_bound(key, elems);
            if leaf.len() < LEAF_CAP {
                leaf.insert_at(pos, key.score, id);
                return None;
            }
            nodes.0 += 1;
            let mut right = Leaf::new();
            if pos == LEAF_CAP {
                // Appending (ordered loads): keep this leaf full.
                right.insert_at(0, key.score, id);
            } else {
                let mid = LEAF_CAP / 2;
                leaf.move_tail(mid, &mut right);
                if pos <= mid {
                    leaf.insert_at(pos, key.score, id);
                } else {
                    right.insert_at(pos - mid, key.score, id);
                }
            }
            Some(Node::Leaf(right))
        }
        Node::Inner(children) => {
            let i = child_for(children, key, elems);
            let split = insert_rec(&mut children[i].node, key, id, elems, nodes);
            children[i].refresh();
            let right = split?;
            children.insert(i + 1, Child::of(right));
            if children.len() <= INNER_CAP {
                return None;
            }
            nodes.1 += 1;
            // Appending keeps this node full, as for leaves.
            let at = if i + 1 == INNER_CAP {
                INNER_CAP
            } else {
                INNER_CAP / 2
            };
            let tail: Vec<Child> = children.drain(at..).collect();
            Some(new_inner(tail))
        }
    }
}

fn remove_rec(
    node: &mut Node,
    key: Key,
    elems: &[Elem],
    nodes: &mut (usize, usize),
) -> Option<u32> {
    match node {
        Node::Leaf(leaf) => {
            let pos = leaf.lower_bound(key, elems);
            let hit = pos < leaf.len()
                && cmp_entry(elems, leaf.scores[pos], leaf.ids[pos], key) == Ordering::Equal;
            hit.then(|| leaf.remove_at(pos))
        }
        Node::Inner(children) => {
            let i = child_for(children, key, elems);
            let id = remove_rec(&mut children[i].node, key, elems, nodes)?;
            children[i].refresh();
            if children[i].count == 0 {
                match children.remove(i).node {
                    Node::Leaf(_) => nodes.0 -= 1,
                    Node::Inner(_) => nodes.1 -= 1,
                }
            } else if children[i].node.underflows() && children.len() > 1 {
                rebalance(children, i, nodes);
            }
            Some(id)
        }
    }
}

/// Merges child `i` with a neighbour, or moves entries from the neighbour so both are at
/// least half full.
fn rebalance(children: &mut Vec<Child>, i: usize, nodes: &mut (usize, usize)) {
    let l = if i > 0 { i - 1 } else { i };
    let (left, right) = children.split_at_mut(l + 1);
    let (left, right) = (&mut left[l], &mut right[0]);
    let merged = match (&mut left.node, &mut right.node) {
        (Node::Leaf(a), Node::Leaf(b)) => {
            let total = a.len() + b.len();
            if total <= LEAF_CAP {
                b.move_tail(0, a);
                nodes.0 -= 1;
                true
            } else {
                let want = total / 2;
                if a.len() < want {
                    a.take_front(b, want - a.len());
                } else {
                    b.take_back(a, a.len() - want);
                }
                false
            }
        }
        (Node::Inner(a), Node::Inner(b)) => {
            let total = a.len() + b.len();
            if total <= INNER_CAP {
                a.append(b);
                nodes.1 -= 1;
                true
            } else {
                let want = total / 2;
                if a.len() < want {
                    let n = want - a.len();
                    a.extend(b.drain(..n));
                } else {
                    let tail: Vec<Child> = a.drain(want..).collect();
                    b.splice(0..0, tail);
                }
                false
            }
        }
        _ => unreachable!("siblings are at the same height"),
    };
    left.refresh();
    if merged {
        children.remove(l + 1);
    } else {
        right.refresh();
    }
}

fn relabel_rec(node: &mut Node, key: Key, elems: &[Elem], id: u32) -> bool {
    match node {
        Node::Leaf(leaf) => {
            let pos = leaf.lower_bound(key, elems);
            let hit = pos < leaf.len()
                && cmp_entry(elems, leaf.scores[pos], leaf.ids[pos], key) == Ordering::Equal;
            if hit {
                leaf.ids[pos] = id;
            }
            hit
        }
        Node::Inner(children) => {
            let i = child_for(children, key, elems);
            let found = relabel_rec(&mut children[i].node, key, elems, id);
            if found {
                children[i].refresh();
            }
            found
        }
    }
}

/// Walks entries in order (or in reverse) from a starting rank.
pub(super) struct TreeIter<'a> {
    /// The inner nodes above the current leaf, each with the index of the child taken.
    stack: Vec<(&'a [Child], usize)>,
    leaf: Option<&'a Leaf>,
    pos: usize,
    rev: bool,
}

impl<'a> TreeIter<'a> {
    /// Descends from `node` to its first (or last, in reverse) leaf.
    fn descend(&mut self, mut node: &'a Node) {
        loop {
            match node {
                Node::Leaf(leaf) => {
                    self.pos = if self.rev { leaf.len() - 1 } else { 0 };
                    self.leaf = Some(leaf);
                    return;
                }
                Node::Inner(children) => {
                    let i = if self.rev { children.len() - 1 } else { 0 };
                    self.stack.push((children, i));
                    node = &children[i].node;
                }
            }
        }
    }

    /// Moves to the next leaf in the walk's direction, or ends the walk.
    fn next_leaf(&mut self) {
        self.leaf = None;
        while let Some((children, i)) = self.stack.pop() {
            let next = if self.rev {
                i.checked_sub(1)
            } else {
                Some(i + 1).filter(|&n| n < children.len())
            };
            if let Some(n) = next {
                self.stack.push((children, n));
                self.descend(&children[n].node);
                return;
            }
        }
    }
}

impl Iterator for TreeIter<'_> {
    type Item = (f64, u32);

    fn next(&mut self) -> Option<(f64, u32)> {
        let leaf = self.leaf?;
        let item = (leaf.scores[self.pos], leaf.ids[self.pos]);
        if self.rev {
            if self.pos == 0 {
                self.next_leaf();
            } else {
                self.pos -= 1;
            }
        } else if self.pos + 1 == leaf.len() {
            self.next_leaf();
        } else {
            self.pos += 1;
        }
        Some(item)
    }
}
