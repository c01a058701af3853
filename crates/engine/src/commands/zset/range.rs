//! Ranges: ZRANGE (by rank, score or lex, REV, LIMIT, WITHSCORES) and its legacy forms,
//! ZRANGESTORE, ZCOUNT, ZLEXCOUNT and ZREMRANGEBYRANK/SCORE/LEX (Redis's
//! zrangeGenericCommand and friends). Every range argument is parsed before the key is looked
//! up, so every syntax error is caught by `check`.

use bytes::Bytes;
use cairn_resp::Reply;

use super::parse::{LexRange, is_word, score_range};
use super::{entries_reply, read_zset, reply_of, store_result, write_zset};
use crate::commands::{int_arg, syntax_error};
use crate::engine::{ReadCtx, WriteCtx};
use crate::types::zset::{ScoreRange, ZSet};

const LIMIT_NEEDS_BY: &str =
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
const WITHSCORES_BYLEX: &str =
    "ERR syntax error, WITHSCORES not supported in combination with BYLEX";

// ---------------------------------------------------------------------------------------------
// Range arithmetic

/// Redis's rank sanitizing: negative indexes count from the end; the result is the
/// ascending-rank interval, empty when the range is.
fn rank_range(len: usize, start: i64, end: i64) -> std::ops::Range<usize> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    start = start.max(0);
    if start > end || start >= len {
        return 0..0;
    }
    end = end.min(len - 1);
    start as usize..end as usize + 1
}

/// The first member in the lexicographic range, Redis's `zzlFirstInLexRange`: nothing when
/// the range is empty by its ends, or lies wholly after the last member or before the first.
pub(super) fn lex_first(z: &ZSet, range: &LexRange) -> Option<usize> {
    if !lex_may_hold(z, range) {
        return None;
    }
    let rank = z.first_where(|_, m| range.gte_min(m))?;
    range.lte_max(z.get(rank)?.0).then_some(rank)
}

/// The last member in the lexicographic range (`zzlLastInLexRange`).
fn lex_last(z: &ZSet, range: &LexRange) -> Option<usize> {
    if !lex_may_hold(z, range) {
        return None;
    }
    let rank = z.last_where(|_, m| range.lte_max(m))?;
    range.gte_min(z.get(rank)?.0).then_some(rank)
}

fn lex_may_hold(z: &ZSet, range: &LexRange) -> bool {
    let (Some(first), Some(last)) = (z.get(0), z.get(z.len().wrapping_sub(1))) else {
        return false;
    };
    !range.always_empty() && range.gte_min(last.0) && range.lte_max(first.0)
}

// ---------------------------------------------------------------------------------------------
// The generic range: ZRANGE's arguments and the entries they select

#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Auto,
    Rank,
    Score,
    Lex,
}

enum Bounds {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

struct RangeArgs {
    bounds: Bounds,
    rev: bool,
    withscores: bool,
    offset: i64,
    /// Negative: no limit.
    limit: i64,
}

/// Parses `<min> <max> [options]` from argv[`at`] (the source key is argv[`at`]), for ZRANGE
/// (`by` and `rev` from the options) or a legacy form (`by` fixed, `rev` given).
fn parse_range(
    argv: &[Bytes],
    at: usize,
    store: bool,
    mut by: By,
    rev: Option<bool>,
) -> Result<RangeArgs, Reply> {
    let mut reverse = rev.unwrap_or(false);
    let mut withscores = false;
    let mut offset = 0;
    let mut limit = -1;
    let mut j = at + 3;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let arg = &argv[j];
        if !store && is_word(arg, "withscores") {
            withscores = true;
        } else if is_word(arg, "limit") && left >= 2 {
            offset = int_arg(&argv[j + 1])?;
            limit = int_arg(&argv[j + 2])?;
            j += 2;
        } else if rev.is_none() && is_word(arg, "rev") {
            reverse = true;
        } else if by == By::Auto && is_word(arg, "bylex") {
            by = By::Lex;
        } else if by == By::Auto && is_word(arg, "byscore") {
            by = By::Score;
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    if by == By::Auto {
        by = By::Rank;
    }
    if limit != -1 && by == By::Rank {
        return Err(Reply::error_static(LIMIT_NEEDS_BY));
    }
    if withscores && by == By::Lex {
        return Err(Reply::error_static(WITHSCORES_BYLEX));
    }
    // Score and lex ranges are given as <max> <min> in reverse.
    let (lo, hi) = if reverse && by != By::Rank {
        (&argv[at + 2], &argv[at + 1])
    } else {
        (&argv[at + 1], &argv[at + 2])
    };
    let bounds = match by {
        By::Rank | By::Auto => Bounds::Rank(int_arg(lo)?, int_arg(hi)?),
        By::Score => Bounds::Score(score_range(lo, hi)?),
        By::Lex => Bounds::Lex(LexRange::parse(lo, hi)?),
    };
    Ok(RangeArgs {
        bounds,
        rev: reverse,
        withscores: withscores || store,
        offset,
        limit,
    })
}

/// The entries a range selects, in reply order.
fn select<'a>(z: &'a ZSet, args: &RangeArgs) -> Vec<(&'a [u8], f64)> {
    let take = if args.limit < 0 {
        usize::MAX
    } else {
        args.limit as usize
    };
    // A negative offset skips everything (Redis's `while (ln && offset--)`).
    let skip = usize::try_from(args.offset).unwrap_or(usize::MAX);
    match &args.bounds {
        Bounds::Rank(start, end) => {
            let ranks = rank_range(z.len(), *start, *end);
            if args.rev {
                z.iter_from(z.len().wrapping_sub(1 + ranks.start), true)
                    .take(ranks.len())
                    .collect()
            } else {
                z.iter_from(ranks.start, false).take(ranks.len()).collect()
            }
        }
        Bounds::Score(range) => {
            let ranks = z.score_ranks(range);
            let n = ranks.len().saturating_sub(skip).min(take);
            if n == 0 {
                return Vec::new();
            }
            if args.rev {
                z.iter_from(ranks.end - 1 - skip, true).take(n).collect()
            } else {
                z.iter_from(ranks.start + skip, false).take(n).collect()
            }
        }
        Bounds::Lex(range) => {
            let start = if args.rev {
                lex_last(z, range)
            } else {
                lex_first(z, range)
            };
            let Some(start) = start else {
                return Vec::new();
            };
            z.iter_from(start, args.rev)
                .skip(skip)
                .take(take)
                .take_while(|(m, _)| {
                    if args.rev {
                        range.gte_min(m)
                    } else {
                        range.lte_max(m)
                    }
                })
                .collect()
        }
    }
}

/// ZRANGE and its legacy forms: parse, look up, select, reply.
fn range_read(ctx: &mut ReadCtx, argv: &[Bytes], by: By, rev: Option<bool>) -> Reply {
    let args = match parse_range(argv, 1, false, by, rev) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    match read_zset(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(Some(z)) => entries_reply(select(z, &args).into_iter(), args.withscores),
        Ok(None) => Reply::Array(Vec::new()),
        Err(reply) => reply,
    }
}

pub(super) fn zrange(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    range_read(ctx, argv, By::Auto, None)
}

pub(super) fn zrevrange(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    range_read(ctx, argv, By::Rank, Some(true))
}

pub(super) fn zrangebyscore(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    range_read(ctx, argv, By::Score, Some(false))
}

pub(super) fn zrevrangebyscore(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    range_read(ctx, argv, By::Score, Some(true))
}

pub(super) fn zrangebylex(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    range_read(ctx, argv, By::Lex, Some(false))
}

pub(super) fn zrevrangebylex(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    range_read(ctx, argv, By::Lex, Some(true))
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count].
pub(super) fn zrangestore_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_range(argv, 2, true, By::Auto, None).map(|_| ())
}

pub(super) fn zrangestore(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let args = match parse_range(argv, 2, true, By::Auto, None) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    let now_ms = ctx.now_ms;
    let mut entries: Vec<(Box<[u8]>, f64)> = match read_zset(ctx.db(), &argv[2], now_ms) {
        Ok(Some(z)) => select(z, &args)
            .into_iter()
            .map(|(m, s)| (Box::from(m), s))
            .collect(),
        Ok(None) => Vec::new(),
        Err(reply) => return reply,
    };
    if args.rev {
        entries.reverse();
    }
    let refs: Vec<(&[u8], f64)> = entries.iter().map(|(m, s)| (&m[..], *s)).collect();
    store_result(ctx, &argv[1], &refs, "zrangestore")
}

// ---------------------------------------------------------------------------------------------
// ZCOUNT, ZLEXCOUNT

pub(super) fn zcount(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let range = match score_range(&argv[2], &argv[3]) {
        Ok(range) => range,
        Err(reply) => return reply,
    };
    match read_zset(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(z) => Reply::Int(z.map_or(0, |z| z.score_ranks(&range).len() as i64)),
        Err(reply) => reply,
    }
}

pub(super) fn zlexcount(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let range = match LexRange::parse(&argv[2], &argv[3]) {
        Ok(range) => range,
        Err(reply) => return reply,
    };
    match read_zset(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(z) => Reply::Int(z.map_or(0, |z| lex_count(z, &range)) as i64),
        Err(reply) => reply,
    }
}

/// Members from the first in range on while they stay within the maximum.
fn lex_count(z: &ZSet, range: &LexRange) -> usize {
    lex_first(z, range).map_or(0, |start| {
        z.iter_from(start, false)
            .take_while(|(m, _)| range.lte_max(m))
            .count()
    })
}

// ---------------------------------------------------------------------------------------------
// ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX

enum Removal {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

fn parse_removal(argv: &[Bytes], kind: By) -> Result<Removal, Reply> {
    Ok(match kind {
        By::Score => Removal::Score(score_range(&argv[2], &argv[3])?),
        By::Lex => Removal::Lex(LexRange::parse(&argv[2], &argv[3])?),
        By::Rank | By::Auto => Removal::Rank(int_arg(&argv[2])?, int_arg(&argv[3])?),
    })
}

fn zremrange_generic(ctx: &mut WriteCtx, argv: &[Bytes], kind: By) -> Reply {
    let removal = match parse_removal(argv, kind) {
        Ok(removal) => removal,
        Err(reply) => return reply,
    };
    let now_ms = ctx.now_ms;
    let removed = write_zset(ctx.db(), &argv[1], now_ms, false, |z| {
        let ranks = match &removal {
            Removal::Rank(start, end) => rank_range(z.len(), *start, *end),
            Removal::Score(range) => z.score_ranks(range),
            Removal::Lex(range) => {
                lex_first(z, range).map_or(0..0, |start| start..start + lex_count(z, range))
            }
        };
        z.remove_ranks(ranks) as i64
    });
    if let Ok(Some(n)) = removed
        && n > 0
    {
        let event = match kind {
            By::Score => "zremrangebyscore",
            By::Lex => "zremrangebylex",
            By::Rank | By::Auto => "zremrangebyrank",
        };
        super::removal_events(ctx, &argv[1], event);
    }
    reply_of(removed.map(|n| Reply::Int(n.unwrap_or(0))))
}

pub(super) fn zremrangebyrank_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_removal(argv, By::Rank).map(|_| ())
}

pub(super) fn zremrangebyscore_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_removal(argv, By::Score).map(|_| ())
}

pub(super) fn zremrangebylex_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_removal(argv, By::Lex).map(|_| ())
}

pub(super) fn zremrangebyrank(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    zremrange_generic(ctx, argv, By::Rank)
}

pub(super) fn zremrangebyscore(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    zremrange_generic(ctx, argv, By::Score)
}

pub(super) fn zremrangebylex(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    zremrange_generic(ctx, argv, By::Lex)
}

#[cfg(test)]
mod tests {
    use super::rank_range;

    #[test]
    fn ranks_sanitize_like_redis() {
        assert_eq!(rank_range(5, 0, -1), 0..5);
        assert_eq!(rank_range(5, -2, -1), 3..5);
        assert_eq!(rank_range(5, -100, 1), 0..2);
        assert_eq!(rank_range(5, 3, 100), 3..5);
        assert_eq!(rank_range(5, 3, 2), 0..0);
        assert_eq!(rank_range(5, 5, 10), 0..0);
        assert_eq!(rank_range(5, i64::MIN, i64::MAX), 0..5);
        assert_eq!(rank_range(0, 0, -1), 0..0);
    }
}
