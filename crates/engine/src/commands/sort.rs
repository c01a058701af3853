//! SORT and SORT_RO with Redis 7.0.15's semantics (`src/sort.c`): the elements of a list, set
//! or sorted set, ordered by their numeric value, by bytes (ALPHA), or by values found
//! through a BY pattern (string keys, or hash fields with `->`); LIMIT, ASC/DESC, GET
//! patterns, and for SORT a STORE destination that receives a list.
//!
//! SORT's row is a write, as in Redis: with STORE it changes the keyspace; without it the
//! write path still answers exactly (it only reads), and one row keeps the command's flags,
//! ACL categories and key specs Redis's. SORT_RO is a read. Every option is parsed before the
//! key is looked up, so `check` rejects all syntax errors before the log.
//!
//! Orders a client can see follow Redis where Redis defines them. Two are not defined there
//! and differ: the elements of a set sorted `BY` a constant pattern without STORE (Redis
//! answers in its hash table's order), and ties among equal ALPHA `BY` values when LIMIT
//! selects part of the result (Redis's partial quicksort is not stable; Cairn's sort is).

use std::cmp::Ordering;

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::zset::parse::{c_str, is_word, strtod};
use crate::commands::{cmd, int_arg, syntax_error, wrong_type};
use crate::db::Db;
use crate::engine::{ReadCtx, WriteCtx};
use crate::notify;
use crate::table::{Group, Handler, KeySpec, Keys, Spec, acl, flag::*, key};

/// SORT's keys: the one sorted, those BY/GET patterns name (unknown until run), and the STORE
/// destination, which may come anywhere among the options (`sort_keys` finds it).
const SORT_KEYS: &[KeySpec] = &[
    KeySpec::at(1, key::RO | key::ACCESS),
    KeySpec::unknown(key::RO | key::ACCESS),
    KeySpec::unknown(key::OW | key::UPDATE),
];
const SORT_RO_KEYS: &[KeySpec] = &[
    KeySpec::at(1, key::RO | key::ACCESS),
    KeySpec::unknown(key::RO | key::ACCESS),
];

/// SORT's key and its STORE destination, as Redis's `sortGetKeys` finds them: options are
/// skipped with their arguments (LIMIT takes two, BY and GET one); the last STORE wins.
fn sort_keys(argv: &[Bytes], f: &mut dyn FnMut(usize, u32) -> bool) -> bool {
    if !f(1, key::RO | key::ACCESS) {
        return false;
    }
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        if is_word(&argv[i], "limit") {
            i += 2;
        } else if is_word(&argv[i], "by") || is_word(&argv[i], "get") {
            i += 1;
        } else if is_word(&argv[i], "store") && i + 1 < argv.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    store.is_none_or(|at| f(at, key::OW | key::UPDATE))
}
use crate::types::list::List;
use crate::value::Value;

const NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

// ---------------------------------------------------------------------------------------------
// Arguments

struct SortArgs {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    /// -1: to the end.
    limit_count: i64,
    store: Option<Bytes>,
    by: Option<Bytes>,
    /// BY names a pattern without `*`: the elements keep their stored order.
    dont_sort: bool,
    gets: Vec<Bytes>,
}

fn parse_sort(argv: &[Bytes], readonly: bool) -> Result<SortArgs, Reply> {
    let mut a = SortArgs {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        store: None,
        by: None,
        dont_sort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let arg = &argv[j];
        if is_word(arg, "asc") {
            a.desc = false;
        } else if is_word(arg, "desc") {
            a.desc = true;
        } else if is_word(arg, "alpha") {
            a.alpha = true;
        } else if is_word(arg, "limit") && left >= 2 {
            a.limit_start = int_arg(&argv[j + 1])?;
            a.limit_count = int_arg(&argv[j + 2])?;
            j += 2;
        } else if !readonly && is_word(arg, "store") && left >= 1 {
            a.store = Some(argv[j + 1].clone());
            j += 1;
        } else if is_word(arg, "by") && left >= 1 {
            let pattern = &argv[j + 1];
            // Once a constant pattern has been given, nothing sorts (Redis never clears it).
            if !c_str(pattern).contains(&b'*') {
                a.dont_sort = true;
            }
            a.by = Some(pattern.clone());
            j += 1;
        } else if is_word(arg, "get") && left >= 1 {
            a.gets.push(argv[j + 1].clone());
            j += 1;
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    Ok(a)
}

// ---------------------------------------------------------------------------------------------
// Patterns

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the first `*` takes the
/// element, and `key->field` reads a hash field. A pattern without `*`, a missing key or one
/// of the wrong type gives `None`.
fn lookup(db: &Db, now_ms: u64, pattern: &[u8], subst: &[u8]) -> Option<Bytes> {
    let text = c_str(pattern);
    if text == b"#" {
        return Some(Bytes::copy_from_slice(subst));
    }
    let star = text.iter().position(|&b| b == b'*')?;
    let field = text[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|at| star + 1 + at)
        .filter(|&arrow| arrow + 2 < text.len());
    let key_end = field.unwrap_or(pattern.len());
    let mut key = Vec::with_capacity(key_end + subst.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(subst);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let slot = db.get(&key, now_ms)?;
    match (&slot.value, field) {
        (Value::Str(s), None) => Some(Bytes::copy_from_slice(s)),
        (Value::Hash(h), Some(arrow)) => h
            .get_live(&pattern[arrow + 2..], now_ms)
            .map(|f| Bytes::copy_from_slice(f.value)),
        _ => None,
    }
}

/// A sort weight as SORT reads it with `strtod`: leading space allowed, the rest of the C
/// string consumed, no overflow or underflow, not NaN.
fn weight(bytes: &[u8]) -> Option<f64> {
    let text = c_str(bytes);
    let r = strtod(text);
    let whole = r.len == text.len() || (r.len == 0 && text.is_empty());
    (whole && !r.erange && !r.value.is_nan()).then_some(r.value)
}

// ---------------------------------------------------------------------------------------------
// The sort

struct Item {
    elem: Bytes,
    score: f64,
    /// The ALPHA value found through BY.
    by: Option<Bytes>,
}

impl Item {
    fn new(elem: Bytes) -> Item {
        Item {
            elem,
            score: 0.0,
            by: None,
        }
    }
}

/// C's `strcoll` in the C locale: bytes up to the first NUL.
fn collate(a: &[u8], b: &[u8]) -> Ordering {
    c_str(a).cmp(c_str(b))
}

/// Redis's `sortCompare` (ascending; the caller reverses for DESC).
fn compare(a: &Item, b: &Item, args: &SortArgs, store: bool) -> Ordering {
    if !args.alpha {
        return a
            .score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.elem.cmp(&b.elem));
    }
    let texts = if args.by.is_some() {
        match (&a.by, &b.by) {
            (Some(x), Some(y)) => (x, y),
            (x, y) => return x.is_some().cmp(&y.is_some()),
        }
    } else {
        (&a.elem, &b.elem)
    };
    // With STORE Redis compares binary-safe; otherwise with strcoll.
    if store {
        texts.0.cmp(texts.1)
    } else {
        collate(texts.0, texts.1)
    }
}

/// The elements of the source the sort reads, and the output window (start, end inclusive;
/// `end < start` when empty) over the vector the load leaves.
fn load(db: &Db, now_ms: u64, key: &[u8], args: &SortArgs) -> Result<(Vec<Item>, i64, i64), Reply> {
    let value = db.lookup(key, now_ms).map(|slot| &slot.value);
    let len = match value {
        None => 0,
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.len(),
        Some(_) => return Err(wrong_type()),
    } as i64;
    // Redis's LIMIT arithmetic, clamped to the source's size.
    let mut start = args.limit_start.max(0).min(len);
    let count = args.limit_count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    let window = (end - start + 1).max(0) as usize;
    let ranged = args.dont_sort && (start != 0 || end != len - 1);
    let take = if ranged { window } else { len as usize };
    let items: Vec<Item> = match value {
        None => Vec::new(),
        Some(Value::List(l)) if args.dont_sort => {
            if end < start {
                Vec::new()
            } else {
                let first = if args.desc { len - start - 1 } else { start } as usize;
                let v = l.iter_from(first, !args.desc).take(take);
                let v = v.map(|e| Item::new(e.to_bytes())).collect();
                (start, end) = (0, end - start);
                v
            }
        }
        Some(Value::List(l)) => l.iter().map(|e| Item::new(e.to_bytes())).collect(),
        Some(Value::Set(s)) => s.iter().map(|m| Item::new(m.to_bytes())).collect(),
        Some(Value::ZSet(z)) if args.dont_sort => {
            let first = if args.desc { len - 1 - start } else { start } as usize;
            let v = z.iter_from(first, args.desc).take(take);
            let v = v
                .map(|(m, _)| Item::new(Bytes::copy_from_slice(m)))
                .collect();
            (start, end) = (0, end - start);
            v
        }
        Some(Value::ZSet(z)) => z
            .iter()
            .map(|(m, _)| Item::new(Bytes::copy_from_slice(m)))
            .collect(),
        Some(_) => unreachable!("type checked above"),
    };
    Ok((items, start, end))
}

/// Runs the sort; the output is the elements (or GET results, `None` where a pattern found
/// nothing) in order.
fn sort_generic(
    db: &Db,
    now_ms: u64,
    argv: &[Bytes],
    mut args: SortArgs,
) -> Result<Vec<Option<Bytes>>, Reply> {
    let store = args.store.is_some();
    let is_set = matches!(db.get_value(&argv[1], now_ms), Some(Value::Set(_)));
    // A set has no order of its own: sorted by bytes when its result is stored.
    if args.dont_sort && is_set && store {
        args.dont_sort = false;
        args.alpha = true;
        args.by = None;
    }
    let (mut items, start, end) = load(db, now_ms, &argv[1], &args)?;
    if !args.dont_sort {
        let mut bad_weight = false;
        for item in &mut items {
            let by = match &args.by {
                Some(pattern) => match lookup(db, now_ms, pattern, &item.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => item.elem.clone(),
            };
            if args.alpha {
                if args.by.is_some() {
                    item.by = Some(by);
                }
            } else {
                match weight(&by) {
                    Some(score) => item.score = score,
                    None => bad_weight = true,
                }
            }
        }
        let desc = args.desc;
        items.sort_by(|a, b| {
            let order = compare(a, b, &args, store);
            if desc { order.reverse() } else { order }
        });
        if bad_weight {
            return Err(Reply::error_static(NOT_DOUBLE));
        }
    }
    let mut out = Vec::new();
    if end < start {
        return Ok(out);
    }
    for item in &items[start as usize..=end as usize] {
        if args.gets.is_empty() {
            out.push(Some(item.elem.clone()));
        }
        for pattern in &args.gets {
            out.push(lookup(db, now_ms, pattern, &item.elem));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Commands

fn output_reply(out: Vec<Option<Bytes>>) -> Reply {
    Reply::Array(
        out.into_iter()
            .map(|v| v.map_or(Reply::Nil, Reply::Bulk))
            .collect(),
    )
}

fn sort_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_sort(argv, false).map(|_| ())
}

fn sort(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let args = match parse_sort(argv, false) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    let store = args.store.clone();
    let now_ms = ctx.now_ms;
    let out = match sort_generic(ctx.db(), now_ms, argv, args) {
        Ok(out) => out,
        Err(reply) => return reply,
    };
    let Some(key) = store else {
        return output_reply(out);
    };
    let n = out.len() as i64;
    if out.is_empty() {
        if ctx.db().remove(&key).is_some() {
            ctx.notify(notify::GENERIC, "del", &key);
        }
        return Reply::Int(0);
    }
    let mut list = List::with_fill(ctx.engine.encodings().list_max_listpack_size);
    for v in &out {
        // A GET that found nothing stores an empty string.
        list.push_back(v.as_deref().unwrap_or_default());
    }
    ctx.db()
        .set(&key, Value::List(Box::new(list)), None, now_ms);
    ctx.notify(notify::LIST, "sortstore", &key);
    ctx.signal_ready(&key);
    Reply::Int(n)
}

fn sort_ro(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let args = match parse_sort(argv, true) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    match sort_generic(ctx.db(), ctx.now_ms, argv, args) {
        Ok(out) => output_reply(out),
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------------
// The table

const SORT_ACL: u32 = acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS;
const COMPLEXITY: &str = "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).";

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("sort", -2, WRITE | DENYOOM, SORT_ACL, Keys::ONE, Group::Generic, "1.0.0", "Sort the elements in a list, set or sorted set", Handler::Write(sort_check, sort)).movable_keys(SORT_KEYS, sort_keys).complexity(COMPLEXITY),
    cmd("sort_ro", -2, READONLY, SORT_ACL, Keys::ONE, Group::Generic, "7.0.0", "Sort the elements in a list, set or sorted set. Read-only variant of SORT.", Handler::Read(sort_ro)).key_specs(SORT_RO_KEYS).complexity(COMPLEXITY),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_read_like_strtod() {
        assert_eq!(weight(b"1.5"), Some(1.5));
        assert_eq!(weight(b" 2"), Some(2.0));
        assert_eq!(weight(b""), Some(0.0));
        assert_eq!(weight(b"0x10"), Some(16.0));
        assert_eq!(weight(b"3\0junk"), Some(3.0));
        assert_eq!(weight(b"abc"), None);
        assert_eq!(weight(b"1e400"), None);
        assert_eq!(weight(b"nan"), None);
    }
}
