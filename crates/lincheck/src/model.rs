//! The sequential specification of one key: a Redis string register.
//!
//! Values are normalised once, up front, so the search only ever copies and
//! compares small `Copy` states: a value that is a canonical decimal `i64`
//! (Redis' `string2ll` rule, i.e. it round-trips through `i64` formatting) is
//! stored as [`Val::Int`], any other byte string is interned to a
//! [`Val::Bytes`] id. Because canonical integer strings and `i64`s are in
//! bijection, comparing normalised values is the same as comparing the bytes.
//!
//! Per key, values that no operation can tell apart are further merged into
//! [`Val::Opaque`] (see [`opaque_values`]).

use std::collections::{HashMap, HashSet};

/// The state of one register, or a value observed by / written to it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Val {
    /// The key does not exist.
    Absent,
    /// The key holds the canonical decimal representation of this integer.
    Int(i64),
    /// The key holds a non-integer byte string (an id into [`Values`]).
    Bytes(u32),
    /// The key holds one of the values no operation of this key's history
    /// can distinguish from each other (see [`opaque_values`]).
    Opaque,
}

impl Val {
    /// Two `u64` words identifying this value, for the visited-configuration cache.
    pub(crate) fn words(self) -> [u64; 2] {
        match self {
            Val::Absent => [0, 0],
            Val::Int(n) => [1, n as u64],
            Val::Bytes(id) => [2, u64::from(id)],
            Val::Opaque => [3, 0],
        }
    }
}

/// Parses `v` as Redis does for `INCR`: the bytes must be exactly the decimal
/// formatting of an `i64` (no `+`, no spaces, no leading zeros, no `-0`).
pub(crate) fn parse_int(v: &[u8]) -> Option<i64> {
    if v.is_empty() || v.len() > 20 {
        return None;
    }
    let n: i64 = std::str::from_utf8(v).ok()?.parse().ok()?;
    (n.to_string().as_bytes() == v).then_some(n)
}

/// Interner for non-integer values.
#[derive(Default)]
pub(crate) struct Values {
    ids: HashMap<Vec<u8>, u32>,
    bytes: Vec<Vec<u8>>,
}

impl Values {
    /// Normalises a present value.
    pub(crate) fn of(&mut self, v: &[u8]) -> Val {
        if let Some(n) = parse_int(v) {
            return Val::Int(n);
        }
        if let Some(&id) = self.ids.get(v) {
            return Val::Bytes(id);
        }
        let id = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        self.ids.insert(v.to_vec(), id);
        self.bytes.push(v.to_vec());
        Val::Bytes(id)
    }

    /// Normalises an optional value (`None` = absent key).
    pub(crate) fn of_opt(&mut self, v: Option<&[u8]>) -> Val {
        v.map_or(Val::Absent, |v| self.of(v))
    }

    /// The bytes a state stands for (`None` = absent key, or
    /// [`Val::Opaque`], which stands for several).
    pub(crate) fn bytes(&self, v: Val) -> Option<Vec<u8>> {
        match v {
            Val::Absent | Val::Opaque => None,
            Val::Int(n) => Some(n.to_string().into_bytes()),
            Val::Bytes(id) => Some(self.bytes[id as usize].clone()),
        }
    }
}

/// One operation of a per-key sub-history, with its recorded result folded in.
///
/// The `Maybe*` variants are operations whose outcome is unknown: they are
/// optional (the search may never linearize them) and their result is
/// unconstrained. Unknown-outcome `GET`s impose nothing and are dropped
/// before the search, so there is no `GetMaybe`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Kind {
    /// `SET v` that returned OK.
    Set(Val),
    /// `GET` that returned this value ([`Val::Absent`] = nil).
    Get(Val),
    /// `INCR` that returned `Some(n)`, or `None` if it was rejected with an
    /// error (the value is not an integer, or incrementing would overflow).
    Incr(Option<i64>),
    /// `DEL` that returned this count.
    Del(i64),
    /// `SET v` with unknown outcome.
    SetMaybe(Val),
    /// `INCR` with unknown outcome.
    IncrMaybe,
    /// `DEL` with unknown outcome.
    DelMaybe,
}

impl Kind {
    /// Applies the operation to `s`. Returns the new state if the operation is
    /// allowed in state `s` with its recorded result, or `None` if it is not.
    ///
    /// For optional (unknown-outcome) operations, `None` is also returned when
    /// the operation would not change the state: linearizing such an
    /// operation is equivalent to (and never better than) leaving it out, so
    /// the search need not consider it.
    pub(crate) fn step(self, s: Val) -> Option<Val> {
        match self {
            Kind::Set(v) => Some(v),
            Kind::Get(v) => (s == v).then_some(s),
            Kind::Incr(Some(r)) => (incr(s) == Some(r)).then_some(Val::Int(r)),
            Kind::Incr(None) => incr(s).is_none().then_some(s),
            Kind::Del(1) => (s != Val::Absent).then_some(Val::Absent),
            Kind::Del(0) => (s == Val::Absent).then_some(s),
            Kind::Del(_) => None,
            Kind::SetMaybe(v) => (s != v).then_some(v),
            Kind::IncrMaybe => incr(s).map(Val::Int),
            Kind::DelMaybe => (s != Val::Absent).then_some(Val::Absent),
        }
    }

    /// Whether the operation is optional (its outcome is unknown).
    pub(crate) fn is_maybe(self) -> bool {
        matches!(self, Kind::SetMaybe(_) | Kind::IncrMaybe | Kind::DelMaybe)
    }

    /// Whether the operation never changes the state, whatever the state
    /// (a `GET`, an `INCR` rejected with an error, a `DEL` that found nothing).
    pub(crate) fn is_read_only(self) -> bool {
        matches!(self, Kind::Get(_) | Kind::Incr(None) | Kind::Del(0))
    }
}

/// The value `INCR` would produce from `s`, or `None` if Redis would reply
/// with an error (not an integer, or overflow).
fn incr(s: Val) -> Option<i64> {
    match s {
        Val::Absent => Some(1),
        Val::Int(n) => n.checked_add(1),
        Val::Bytes(_) | Val::Opaque => None,
    }
}

/// Merges the values written to one key that no operation of its history
/// can tell apart into [`Val::Opaque`], in place.
///
/// A value that no `GET` returned can only be observed through `DEL`
/// (returns 1 for any value), `INCR` (whose result depends on the value if
/// it is an integer, and which fails the same way for every non-integer) and
/// `SET` (overwrites any value). So all non-integer values that no `GET`
/// returned behave identically in every operation; if the key has no `INCR`
/// at all, so do all unread integers. Replacing them by one state is a
/// bisimulation of the model — the verdict is unchanged — and it collapses
/// the configurations that differ only in which of those values the key
/// holds (typically, the order of concurrent writes of values never read),
/// and makes unknown-outcome `SET`s of such values interchangeable.
pub(crate) fn opaque_values(kinds: &mut [&mut Kind]) {
    let read: HashSet<Val> = kinds
        .iter()
        .filter_map(|k| match **k {
            Kind::Get(v) => Some(v),
            _ => None,
        })
        .collect();
    let has_incr = kinds
        .iter()
        .any(|k| matches!(**k, Kind::Incr(_) | Kind::IncrMaybe));
    for k in kinds {
        if let Kind::Set(v) | Kind::SetMaybe(v) = &mut **k
            && !read.contains(v)
            && (matches!(v, Val::Bytes(_)) || !has_incr)
        {
            *v = Val::Opaque;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_int_follows_redis_rules() {
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"17"), Some(17));
        assert_eq!(parse_int(b"-17"), Some(-17));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-0",
            b"+1",
            b"01",
            b" 1",
            b"1 ",
            b"1.0",
            b"9223372036854775808",
            b"abc",
            b"-",
        ] {
            assert_eq!(parse_int(bad), None, "{:?}", bad.escape_ascii().to_string());
        }
    }

    #[test]
    fn incr_model() {
        let mut vals = Values::default();
        let s = vals.of(b"x");
        assert_eq!(Kind::Incr(Some(1)).step(Val::Absent), Some(Val::Int(1)));
        assert_eq!(Kind::Incr(Some(6)).step(Val::Int(5)), Some(Val::Int(6)));
        assert_eq!(Kind::Incr(Some(5)).step(Val::Int(5)), None);
        assert_eq!(Kind::Incr(None).step(s), Some(s));
        assert_eq!(
            Kind::Incr(None).step(Val::Int(i64::MAX)),
            Some(Val::Int(i64::MAX))
        );
        assert_eq!(Kind::Incr(None).step(Val::Int(3)), None);
        assert_eq!(Kind::Incr(None).step(Val::Absent), None);
        assert_eq!(Kind::IncrMaybe.step(s), None);
        assert_eq!(vals.of(b"12"), Val::Int(12));
        assert_eq!(vals.of(b"x"), s);
        assert_eq!(vals.bytes(Val::Int(-3)), Some(b"-3".to_vec()));
    }
}
