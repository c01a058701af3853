//! ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD (Redis's
//! zunionInterDiffGenericCommand). Inputs may be sorted sets or plain sets (whose members
//! score 1). Redis reads `numkeys` first, then looks every key up (a wrong type answers at
//! once), and only then parses WEIGHTS/AGGREGATE/WITHSCORES/LIMIT; so `check` validates
//! `numkeys` and the rest is checked in apply.
//!
//! Results are sorted sets, so the order of the computation shows only through floating-point
//! sums: inputs are taken from the smallest to the largest (a stable sort, as glibc's qsort
//! is for these sizes), and each member's scores are aggregated in that order.

use std::collections::BTreeMap;

use bytes::Bytes;
use cairn_resp::Reply;

use super::parse::{float_arg, is_word, positive_long};
use super::{entries_reply, store_result};
use crate::commands::{int_arg, syntax_error, wrong_type};
use crate::db::Db;
use crate::engine::{ReadCtx, WriteCtx};
use crate::types::zset::{ZSet, compare_scores};
use crate::value::Value;

const WEIGHT_NOT_FLOAT: &str = "ERR weight value is not a float";
const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's zunionInterAggregate: a sum of +inf and -inf is 0.
    fn apply(self, target: &mut f64, value: f64) {
        match self {
            Aggregate::Sum => {
                *target += value;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if value < *target {
                    *target = value;
                }
            }
            Aggregate::Max => {
                if value > *target {
                    *target = value;
                }
            }
        }
    }
}

/// `weight × score`, with Redis's rule that NaN (0 × inf) counts as 0 (for every input of a
/// union, for the first input of an intersection).
fn weighted(weight: f64, score: f64) -> f64 {
    let v = weight * score;
    if v.is_nan() { 0.0 } else { v }
}

/// One input: a sorted set, a plain set (members sorted for lookups), or a missing key.
enum Source<'a> {
    Missing,
    ZSet(&'a ZSet),
    /// A set's members (an intset's integers as text), sorted.
    Set(Vec<Bytes>),
}

struct Input<'a> {
    source: Source<'a>,
    weight: f64,
}

impl<'a> Source<'a> {
    fn len(&self) -> usize {
        match self {
            Source::Missing => 0,
            Source::ZSet(z) => z.len(),
            Source::Set(sorted) => sorted.len(),
        }
    }

    fn entries(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            Source::Missing => Box::new(std::iter::empty()),
            Source::ZSet(z) => Box::new(z.iter()),
            Source::Set(sorted) => Box::new(sorted.iter().map(|m| (&m[..], 1.0))),
        }
    }

    fn find(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::ZSet(z) => z.score(member),
            Source::Set(sorted) => sorted
                .binary_search_by(|m| m[..].cmp(member))
                .is_ok()
                .then_some(1.0),
        }
    }
}

/// `numkeys` at argv[`at`], as Redis checks it before any lookup.
fn numkeys(argv: &[Bytes], at: usize, name: &str) -> Result<usize, Reply> {
    let n = int_arg(&argv[at])?;
    if n < 1 {
        return Err(Reply::error(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if n as u64 > (argv.len() - at - 1) as u64 {
        return Err(syntax_error());
    }
    Ok(n as usize)
}

/// Looks every input key up, in order.
fn sources<'a>(db: &'a Db, keys: &[Bytes], now_ms: u64) -> Result<Vec<Source<'a>>, Reply> {
    keys.iter()
        .map(|key| match db.lookup(key, now_ms) {
            None => Ok(Source::Missing),
            Some(slot) => match &slot.value {
                Value::ZSet(z) => Ok(Source::ZSet(z)),
                Value::Set(s) => {
                    let mut sorted: Vec<Bytes> = s.members().collect();
                    sorted.sort_unstable();
                    Ok(Source::Set(sorted))
                }
                _ => Err(wrong_type()),
            },
        })
        .collect()
}

struct Options {
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    /// ZINTERCARD's LIMIT; 0 = none.
    limit: usize,
}

/// The options after the keys, parsed as Redis does once the keys are known.
fn parse_options(
    argv: &[Bytes],
    mut j: usize,
    setnum: usize,
    op: Op,
    store: bool,
    card: bool,
) -> Result<Options, Reply> {
    let mut opts = Options {
        weights: vec![1.0; setnum],
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    while j < argv.len() {
        let remaining = argv.len() - j;
        let arg = &argv[j];
        if op != Op::Diff && !card && remaining > setnum && is_word(arg, "weights") {
            for (i, weight) in opts.weights.iter_mut().enumerate() {
                *weight = float_arg(&argv[j + 1 + i], WEIGHT_NOT_FLOAT)?;
            }
            j += 1 + setnum;
        } else if op != Op::Diff && !card && remaining >= 2 && is_word(arg, "aggregate") {
            let word = &argv[j + 1];
            opts.aggregate = if is_word(word, "sum") {
                Aggregate::Sum
            } else if is_word(word, "min") {
                Aggregate::Min
            } else if is_word(word, "max") {
                Aggregate::Max
            } else {
                return Err(syntax_error());
            };
            j += 2;
        } else if !store && !card && is_word(arg, "withscores") {
            opts.withscores = true;
            j += 1;
        } else if card && remaining >= 2 && is_word(arg, "limit") {
            opts.limit = positive_long(&argv[j + 1], Some(LIMIT_NEGATIVE))? as usize;
            j += 2;
        } else {
            return Err(syntax_error());
        }
    }
    Ok(opts)
}

/// The result of an operation: ascending entries, or a count.
enum Outcome {
    Entries(Vec<(Bytes, f64)>),
    Count(usize),
}

fn owned(entries: Vec<(&[u8], f64)>) -> Outcome {
    Outcome::Entries(
        entries
            .into_iter()
            .map(|(m, s)| (Bytes::copy_from_slice(m), s))
            .collect(),
    )
}

fn compute(inputs: &mut [Input<'_>], op: Op, opts: &Options, card: bool) -> Outcome {
    let mut out: Vec<(&[u8], f64)> = Vec::new();
    match op {
        Op::Inter => {
            inputs.sort_by_key(|input| input.source.len());
            if inputs[0].source.len() == 0 {
                return if card { Outcome::Count(0) } else { owned(out) };
            }
            let mut count = 0;
            for (member, score) in inputs[0].source.entries() {
                let mut total = weighted(inputs[0].weight, score);
                // The other inputs' products are not cleaned of NaN: a sum turns it into 0,
                // MIN and MAX ignore it (their comparisons fail).
                let in_all = inputs[1..]
                    .iter()
                    .all(|input| match input.source.find(member) {
                        Some(value) => {
                            opts.aggregate.apply(&mut total, value * input.weight);
                            true
                        }
                        None => false,
                    });
                if !in_all {
                    continue;
                }
                if card {
                    count += 1;
                    if opts.limit > 0 && count >= opts.limit {
                        break;
                    }
                } else {
                    out.push((member, total));
                }
            }
            if card {
                return Outcome::Count(count);
            }
        }
        Op::Union => {
            inputs.sort_by_key(|input| input.source.len());
            let mut acc: BTreeMap<&[u8], f64> = BTreeMap::new();
            for input in inputs.iter() {
                for (member, score) in input.source.entries() {
                    let value = weighted(input.weight, score);
                    acc.entry(member)
                        .and_modify(|total| opts.aggregate.apply(total, value))
                        .or_insert(value);
                }
            }
            out.extend(acc);
        }
        Op::Diff => {
            if inputs[0].source.len() > 0 {
                for (member, score) in inputs[0].source.entries() {
                    if inputs[1..].iter().all(|i| i.source.find(member).is_none()) {
                        out.push((member, score));
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| compare_scores(a.1, b.1).then_with(|| a.0.cmp(b.0)));
    owned(out)
}

/// Which command runs: its operation, form and name.
#[derive(Clone, Copy)]
struct Kind {
    op: Op,
    /// A STORE form (argv[1] is the destination, numkeys is argv[2]).
    store: bool,
    /// ZINTERCARD.
    card: bool,
    name: &'static str,
}

impl Kind {
    const fn read(op: Op, name: &'static str) -> Kind {
        Kind {
            op,
            store: false,
            card: false,
            name,
        }
    }

    const fn store(op: Op, name: &'static str) -> Kind {
        Kind {
            op,
            store: true,
            card: false,
            name,
        }
    }
}

/// Parses, looks up and computes; also returns WITHSCORES.
fn run(db: &Db, now_ms: u64, argv: &[Bytes], kind: Kind) -> Result<(Outcome, bool), Reply> {
    let Kind {
        op,
        store,
        card,
        name,
    } = kind;
    let at = if store { 2 } else { 1 };
    let setnum = numkeys(argv, at, name)?;
    let keys = &argv[at + 1..at + 1 + setnum];
    let found = sources(db, keys, now_ms)?;
    let opts = parse_options(argv, at + 1 + setnum, setnum, op, store, card)?;
    let mut inputs: Vec<Input> = found
        .into_iter()
        .zip(&opts.weights)
        .map(|(source, &weight)| Input { source, weight })
        .collect();
    Ok((compute(&mut inputs, op, &opts, card), opts.withscores))
}

fn read_generic(ctx: &mut ReadCtx, argv: &[Bytes], kind: Kind) -> Reply {
    match run(ctx.db(), ctx.now_ms, argv, kind) {
        Ok((Outcome::Count(n), _)) => Reply::Int(n as i64),
        Ok((Outcome::Entries(entries), withscores)) => {
            entries_reply(entries.iter().map(|(m, s)| (&m[..], *s)), withscores)
        }
        Err(reply) => reply,
    }
}

pub(super) fn zunion(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    read_generic(ctx, argv, Kind::read(Op::Union, "zunion"))
}

pub(super) fn zinter(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    read_generic(ctx, argv, Kind::read(Op::Inter, "zinter"))
}

pub(super) fn zdiff(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    read_generic(ctx, argv, Kind::read(Op::Diff, "zdiff"))
}

pub(super) fn zintercard(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    read_generic(
        ctx,
        argv,
        Kind {
            card: true,
            ..Kind::read(Op::Inter, "zintercard")
        },
    )
}

fn store_generic(ctx: &mut WriteCtx, argv: &[Bytes], op: Op, name: &'static str) -> Reply {
    let now_ms = ctx.now_ms;
    let entries: Vec<(Box<[u8]>, f64)> = match run(ctx.db(), now_ms, argv, Kind::store(op, name)) {
        Ok((Outcome::Entries(entries), _)) => entries
            .into_iter()
            .map(|(m, s)| (Box::from(&m[..]), s))
            .collect(),
        Ok((Outcome::Count(_), _)) => unreachable!("STORE forms produce entries"),
        Err(reply) => return reply,
    };
    let refs: Vec<(&[u8], f64)> = entries.iter().map(|(m, s)| (&m[..], *s)).collect();
    store_result(ctx, &argv[1], &refs, name)
}

pub(super) fn zunionstore_check(argv: &[Bytes]) -> Result<(), Reply> {
    numkeys(argv, 2, "zunionstore").map(|_| ())
}

pub(super) fn zinterstore_check(argv: &[Bytes]) -> Result<(), Reply> {
    numkeys(argv, 2, "zinterstore").map(|_| ())
}

pub(super) fn zdiffstore_check(argv: &[Bytes]) -> Result<(), Reply> {
    numkeys(argv, 2, "zdiffstore").map(|_| ())
}

pub(super) fn zunionstore(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    store_generic(ctx, argv, Op::Union, "zunionstore")
}

pub(super) fn zinterstore(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    store_generic(ctx, argv, Op::Inter, "zinterstore")
}

pub(super) fn zdiffstore(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    store_generic(ctx, argv, Op::Diff, "zdiffstore")
}
