//! A linearizability checker for histories of a Redis key/value workload.
//!
//! An end-to-end test records, for every `SET`/`GET`/`INCR`/`DEL` a client
//! issues, the operation, its result (or that the result is unknown) and its
//! invocation and response times on one shared monotonic clock. [`check`]
//! then decides whether the history is *linearizable*: whether there is a
//! single total order of the operations that (a) respects real time — if
//! operation A returned before operation B was invoked, A comes first — and
//! (b) is a legal sequential execution of a Redis string register, producing
//! exactly the results the clients saw.
//!
//! # Model
//!
//! Each key is an independent register whose state is "absent" or a byte
//! string, initially absent:
//!
//! | operation  | effect                                   | result                               |
//! |------------|------------------------------------------|--------------------------------------|
//! | `SET v`    | state := `v`                             | [`Ret::Done`]                        |
//! | `GET`      | none                                     | [`Ret::Value`] of the state          |
//! | `INCR`     | absent counts as `0`; state := `n + 1`   | [`Ret::Int`]`(n + 1)`                |
//! | `INCR`     | none, if the state is not an integer or `n + 1` overflows | [`Ret::Error`]      |
//! | `DEL`      | state := absent                          | [`Ret::Int`] `1` if it existed, else `0` |
//!
//! "Is an integer" follows Redis exactly: the bytes must be the canonical
//! decimal formatting of an `i64` (no `+`, spaces or leading zeros, no `-0`),
//! i.e. they round-trip through `i64` parsing and formatting.
//!
//! [`Ret::Error`] on `SET`, `GET` or `DEL` means the server definitely
//! rejected the command without effect; such events constrain nothing and
//! are ignored. Only record `Ret::Error` for an `INCR` when the server
//! rejected it *because of the value* ("not an integer or out of range");
//! record any other failure (timeouts, dropped connections, redirections you
//! cannot classify) as [`Outcome::Unknown`].
//!
//! # Unknown outcomes
//!
//! An operation whose outcome is unknown ([`Outcome::Unknown`]: the client got
//! an error or timeout, or the connection dropped) may or may not have taken
//! effect. It is modelled as an operation that returns at +infinity with an
//! unconstrained result, and that is *optional*: the checker may place it
//! anywhere after its invocation, or leave it out entirely. Its
//! `returned_ns` is ignored. Unknown-outcome `GET`s impose no constraint and
//! are dropped.
//!
//! # Real time
//!
//! Operation A precedes operation B iff `A.returned_ns < B.invoked_ns`
//! (strictly). Operations whose response and invocation times are equal are
//! treated as concurrent, which can only make the checker more lenient.
//!
//! # Algorithm
//!
//! * **P-compositionality.** Linearizability is local: a history is
//!   linearizable iff the sub-history of every key is. Each key is checked
//!   separately (in lexicographic key order), which is what keeps the search
//!   tractable.
//! * **Wing & Gong / Lowe (WGL) search with memoization**, as in Lowe's
//!   "Testing for linearizability" and the Porcupine checker. A key's
//!   invocation and response entries are kept in a doubly-linked list sorted
//!   by time (invocations before responses at equal times). The search walks
//!   the list from its head: at an invocation entry it tries to linearize
//!   that operation next (the model must accept it in the current state with
//!   its recorded result); if it can, both of the operation's entries are
//!   unlinked (dancing-links style), the choice is pushed on an explicit
//!   stack and the walk restarts at the head. Reaching a response entry means
//!   that operation should already have taken effect but every candidate
//!   before it has been tried, so the search backtracks by popping the stack
//!   and re-linking. There is no recursion, so history length is not limited
//!   by the call stack.
//! * **Cache of visited configurations.** A configuration is the set of
//!   linearized operations together with the register state; reaching one
//!   already explored cannot succeed where the first visit failed, so it is
//!   pruned. The set is encoded exactly but compactly: every known-outcome
//!   operation below a "watermark" (the earliest-invoked unlinearized one) is
//!   linearized, and none invoked after the watermark operation's response
//!   is, so only the bitset words covering that concurrency window are
//!   stored, plus a bitset of the linearized unknown-outcome operations.
//!
//! On top of plain WGL, a few reductions — each one keeps at least one
//! linearization whenever any exists, so the verdict is exact — keep the
//! search close to linear on realistic histories:
//!
//! * **Stutter steps.** A read-only operation (a `GET`, an `INCR` rejected
//!   with an error, a `DEL` that found nothing) whose result matches the
//!   current state is linearized at once, without trying alternatives: it
//!   could be moved to that point in any linearization. This stops reads that
//!   overlap many writes from multiplying the configurations.
//! * **Indistinguishable values.** Values that no operation of the key can
//!   tell apart — non-integers no `GET` returned (and, on keys without
//!   `INCR`, unread integers too) — are merged into one state, so the order
//!   of concurrent writes of never-read values does not matter.
//! * **Unknown outcomes** have an invocation entry but no response entry, so
//!   they never force a backtrack; the search succeeds once every
//!   known-outcome operation is linearized. They are tried only after the
//!   known-outcome candidates, and a configuration is pruned if one with the
//!   same state and known operations but a *subset* of the unknown ones was
//!   visited (it can do at least as much). Identical unknown operations (for
//!   example all unknown `INCR`s) are used in invocation order; an unknown
//!   operation is only linearized where the next operation depends on it
//!   (otherwise leaving it out is equivalent), never where it would not
//!   change the state; and unknown operations invoked after the last known
//!   response are dropped up front.
//!
//! # Complexity and limits
//!
//! Checking linearizability is NP-complete in general. For the histories a
//! test produces — many clients, a few keys, a handful of operations in
//! flight per key — checking is close to linear in the history length:
//! 20,000 operations take tens of milliseconds in release mode, including with
//! a few percent of unknown outcomes. Violations are usually found as fast.
//! The expensive cases are very high concurrency on a single key (dozens of
//! overlapping writes) and *non*-linearizable keys with many unknown-outcome
//! writes, where proving that no way of including or omitting them works can
//! take exponential time. So the search is bounded: [`check_with_limit`]
//! gives up with [`Violation::Timeout`] once it has taken `max_steps` steps
//! in total over all keys (a step is one candidate considered or one
//! backtrack, each a small constant amount of work), reporting the furthest
//! dead end met so far — where the violation is, if there is one — and
//! [`check`] uses [`DEFAULT_MAX_STEPS`] (about a second or two). Memory is
//! one cache entry (a few words) per configuration visited.
//!
//! # Example
//!
//! ```
//! use cairn_lincheck::{check, Event, Op, Outcome, Ret, Violation};
//!
//! let ev = |client, op, outcome, invoked_ns, returned_ns| Event {
//!     client,
//!     key: b"k".to_vec(),
//!     op,
//!     outcome,
//!     invoked_ns,
//!     returned_ns,
//! };
//! let mut history = vec![
//!     ev(1, Op::Set(b"1".to_vec()), Outcome::Ok(Ret::Done), 0, 10),
//!     ev(2, Op::Get, Outcome::Ok(Ret::Value(Some(b"1".to_vec()))), 20, 30),
//! ];
//! assert!(check(&history).is_ok());
//!
//! // A stale read: nil, after the SET had completed.
//! history.push(ev(3, Op::Get, Outcome::Ok(Ret::Value(None)), 40, 50));
//! let err = check(&history).unwrap_err();
//! assert!(matches!(err, Violation::NotLinearizable(_)));
//! println!("{err}");
//! ```

use std::collections::HashMap;
use std::fmt;

mod model;
mod search;

use model::{Kind, Values};
use search::{Budget, KeyHistory, KeyOp, SearchResult, Snapshot};

/// The step budget [`check`] uses: enough for any reasonable test history,
/// small enough (a few seconds in release mode) that a test cannot hang.
pub const DEFAULT_MAX_STEPS: u64 = 50_000_000;

/// A command issued against one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `SET key value`. Expected result: [`Ret::Done`].
    Set(Vec<u8>),
    /// `GET key`. Expected result: [`Ret::Value`].
    Get,
    /// `INCR key`. Expected result: [`Ret::Int`] (the new value) or
    /// [`Ret::Error`] (the value is not an integer, or would overflow).
    Incr,
    /// `DEL key`. Expected result: [`Ret::Int`] (number of keys removed).
    Del,
}

/// The server's reply to a command that definitely completed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `OK` (for [`Op::Set`]).
    Done,
    /// The value read, `None` for nil (for [`Op::Get`]).
    Value(Option<Vec<u8>>),
    /// An integer reply (for [`Op::Incr`] and [`Op::Del`]).
    Int(i64),
    /// The command was rejected without effect. For [`Op::Incr`] this means
    /// the value is not an integer (or would overflow) and is checked against
    /// the model; for the other commands such events are ignored.
    Error,
}

/// Whether a command's reply was received.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The command completed with this reply at `returned_ns`.
    Ok(Ret),
    /// The command may or may not have taken effect (timeout, I/O error,
    /// dropped connection, ...). It may take effect at any time after its
    /// invocation, or never.
    Unknown,
}

/// One operation of a history.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    /// The client (connection) that issued the operation; informational.
    pub client: u64,
    /// The key operated on. Keys are independent registers.
    pub key: Vec<u8>,
    /// The command.
    pub op: Op,
    /// Its reply, or [`Outcome::Unknown`].
    pub outcome: Outcome,
    /// When the command was sent, on a monotonic clock shared by all clients
    /// (e.g. nanoseconds since the test started).
    pub invoked_ns: u64,
    /// When the reply was received, on the same clock; must not be before
    /// `invoked_ns`. Ignored when the outcome is [`Outcome::Unknown`].
    pub returned_ns: u64,
}

/// One event of a history, as it appears in a [`Counterexample`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryOp {
    /// The event's index in the history passed to [`check`].
    pub index: usize,
    /// The event itself.
    pub event: Event,
}

/// Where the search for a linearization of one key got stuck.
///
/// Its `Display` is the body of a report (key, window, state); the
/// [`Violation`] display adds the verdict.
///
/// The search explains every response up to some point in time, in some
/// way, but can get no further: starting from `state` (after linearizing
/// `recent` and everything before it), no order of the `pending` operations
/// explains the result of `stuck`, which must take effect before it
/// returned. Of all such dead ends, this is the one at the latest response
/// and, among those, the one with the widest window of pending operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterexample {
    /// The key whose sub-history is not linearizable.
    pub key: Vec<u8>,
    /// Number of known-outcome operations on this key linearized at the dead end.
    pub linearized: usize,
    /// Number of known-outcome operations on this key.
    pub total: usize,
    /// The register's value at the dead end (`None` = absent).
    pub state: Option<Vec<u8>>,
    /// The operation whose response could not be explained.
    pub stuck: HistoryOp,
    /// The operations invoked but not yet linearized when `stuck` returned
    /// (the failing window; includes `stuck`), by invocation time.
    pub pending: Vec<HistoryOp>,
    /// The last few operations linearized before the dead end, in
    /// linearization order.
    pub recent: Vec<HistoryOp>,
}

/// Why [`check`] rejected a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The history is not linearizable.
    NotLinearizable(Box<Counterexample>),
    /// The search exceeded its step budget on `key`; the history may or may
    /// not be linearizable.
    Timeout {
        /// The key being checked when the budget ran out.
        key: Vec<u8>,
        /// Steps taken in total, over all keys checked so far.
        steps: u64,
        /// Number of operations on `key` the checker considered.
        ops: usize,
        /// The most informative dead end met so far, if any: where the
        /// violation probably is, if there is one.
        furthest: Option<Box<Counterexample>>,
    },
    /// An event is malformed (responds before its invocation, or has a reply
    /// of the wrong type for its command).
    InvalidEvent {
        /// The event's index in the history.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
}

impl Violation {
    /// Whether this is a [`Violation::Timeout`] (an inconclusive result).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Violation::Timeout { .. })
    }
}

/// Checks that `history` is linearizable, with a budget of
/// [`DEFAULT_MAX_STEPS`] search steps. See [`check_with_limit`].
pub fn check(history: &[Event]) -> Result<(), Violation> {
    check_with_limit(history, DEFAULT_MAX_STEPS)
}

/// Checks that `history` (events in any order) is linearizable with respect
/// to the register model described in the [crate documentation](crate).
///
/// Returns [`Violation::NotLinearizable`] with a counterexample for the first
/// key (in lexicographic order) that is not linearizable,
/// [`Violation::InvalidEvent`] for malformed input, and
/// [`Violation::Timeout`] if the search takes more than `max_steps` steps in
/// total.
pub fn check_with_limit(history: &[Event], max_steps: u64) -> Result<(), Violation> {
    let mut values = Values::default();
    let mut by_key: HashMap<&[u8], Vec<KeyOp>> = HashMap::new();
    for (index, e) in history.iter().enumerate() {
        let Some(kind) =
            classify(e, &mut values).map_err(|reason| Violation::InvalidEvent { index, reason })?
        else {
            continue;
        };
        by_key.entry(&e.key).or_default().push(KeyOp {
            index,
            kind,
            call: e.invoked_ns,
            ret: (!kind.is_maybe()).then_some(e.returned_ns),
        });
    }
    let mut keys: Vec<_> = by_key.into_iter().collect();
    keys.sort_unstable_by(|a, b| a.0.cmp(b.0));

    let mut budget = Budget {
        used: 0,
        max: max_steps,
    };
    for (key, ops) in keys {
        let sub = KeyHistory::new(ops);
        let explain = |s| Box::new(counterexample(history, &values, key, &sub, s));
        match sub.search(&mut budget) {
            SearchResult::Linearizable => {}
            SearchResult::Timeout(furthest) => {
                return Err(Violation::Timeout {
                    key: key.to_vec(),
                    steps: budget.used,
                    ops: sub.len(),
                    furthest: furthest.map(explain),
                });
            }
            SearchResult::NotLinearizable(s) => return Err(Violation::NotLinearizable(explain(s))),
        }
    }
    Ok(())
}

/// Turns a search snapshot of `key`'s sub-history back into history terms.
fn counterexample(
    history: &[Event],
    values: &Values,
    key: &[u8],
    sub: &KeyHistory,
    s: Snapshot,
) -> Counterexample {
    let op = |id: u32| {
        let index = sub.ops[id as usize].index;
        HistoryOp {
            index,
            event: history[index].clone(),
        }
    };
    // An opaque state stands for several values: report the one written.
    let state = match s.writer.map(|w| &history[sub.ops[w as usize].index].op) {
        Some(Op::Set(v)) => Some(v.clone()),
        _ => values.bytes(s.state),
    };
    Counterexample {
        key: key.to_vec(),
        linearized: s.linearized,
        total: sub.known(),
        state,
        stuck: op(s.stuck),
        pending: s.pending.into_iter().map(op).collect(),
        recent: s.recent.into_iter().map(op).collect(),
    }
}

/// Validates an event and folds its result into a model operation.
/// `Ok(None)` means the event constrains nothing and is dropped.
fn classify(e: &Event, values: &mut Values) -> Result<Option<Kind>, String> {
    let ret = match &e.outcome {
        Outcome::Unknown => {
            return Ok(match &e.op {
                Op::Set(v) => Some(Kind::SetMaybe(values.of(v))),
                Op::Get => None,
                Op::Incr => Some(Kind::IncrMaybe),
                Op::Del => Some(Kind::DelMaybe),
            });
        }
        Outcome::Ok(ret) => ret,
    };
    if e.returned_ns < e.invoked_ns {
        return Err(format!("returned before it was invoked: {e}"));
    }
    Ok(Some(match (&e.op, ret) {
        (Op::Set(_) | Op::Get | Op::Del, Ret::Error) => return Ok(None),
        (Op::Set(v), Ret::Done) => Kind::Set(values.of(v)),
        (Op::Get, Ret::Value(v)) => Kind::Get(values.of_opt(v.as_deref())),
        (Op::Incr, Ret::Int(n)) => Kind::Incr(Some(*n)),
        (Op::Incr, Ret::Error) => Kind::Incr(None),
        (Op::Del, Ret::Int(n)) => Kind::Del(*n),
        _ => return Err(format!("reply of the wrong type for the command: {e}")),
    }))
}

/// Formats a byte string as a quoted, escaped literal.
fn quoted(v: &[u8]) -> impl fmt::Display + '_ {
    struct Q<'a>(&'a [u8]);
    impl fmt::Display for Q<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "\"{}\"", self.0.escape_ascii())
        }
    }
    Q(v)
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Set(v) => write!(f, "SET {}", quoted(v)),
            Op::Get => f.write_str("GET"),
            Op::Incr => f.write_str("INCR"),
            Op::Del => f.write_str("DEL"),
        }
    }
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ret::Done => f.write_str("OK"),
            Ret::Value(Some(v)) => write!(f, "{}", quoted(v)),
            Ret::Value(None) => f.write_str("nil"),
            Ret::Int(n) => write!(f, "{n}"),
            Ret::Error => f.write_str("ERR"),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok(r) => write!(f, "{r}"),
            Outcome::Unknown => f.write_str("?"),
        }
    }
}

/// Writes `client C [invoked, returned] OP -> RESULT` (no key).
fn fmt_op(e: &Event, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "client {} [{}, ", e.client, e.invoked_ns)?;
    match e.outcome {
        Outcome::Ok(_) => write!(f, "{}]", e.returned_ns)?,
        Outcome::Unknown => f.write_str("+inf)")?,
    }
    write!(f, " {} -> {}", e.op, e.outcome)
}

impl fmt::Display for Event {
    /// `key K: client C [invoked, returned] OP -> RESULT`; unknown outcomes
    /// print as `[invoked, +inf) OP -> ?`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {}: ", quoted(&self.key))?;
        fmt_op(self, f)
    }
}

impl fmt::Display for HistoryOp {
    /// `#INDEX client C [invoked, returned] OP -> RESULT` (no key).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} ", self.index)?;
        fmt_op(&self.event, f)
    }
}

/// At most this many pending operations are printed.
const MAX_PRINTED: usize = 40;

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "on key {}, stuck after linearizing {} of its {} operations with a known outcome:",
            quoted(&self.key),
            self.linearized,
            self.total
        )?;
        if !self.recent.is_empty() {
            writeln!(f, "  last operations linearized, in order:")?;
            for op in &self.recent {
                writeln!(f, "    {op}")?;
            }
        }
        match &self.state {
            Some(v) => writeln!(f, "  register value then: {}", quoted(v))?,
            None => writeln!(f, "  register value then: absent")?,
        }
        writeln!(
            f,
            "  no order of these pending operations explains the result of #{}:",
            self.stuck.index
        )?;
        for op in self.pending.iter().take(MAX_PRINTED) {
            let mark = if op.index == self.stuck.index {
                " <-"
            } else {
                ""
            };
            writeln!(f, "    {op}{mark}")?;
        }
        if self.pending.len() > MAX_PRINTED {
            writeln!(f, "    ... and {} more", self.pending.len() - MAX_PRINTED)?;
        }
        Ok(())
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::NotLinearizable(c) => write!(f, "history is not linearizable {c}"),
            Violation::Timeout {
                key,
                steps,
                ops,
                furthest,
            } => {
                write!(
                    f,
                    "linearizability check gave up after {steps} steps on key {} \
                     ({ops} operations); the history may or may not be linearizable",
                    quoted(key)
                )?;
                match furthest {
                    Some(c) => write!(f, "; the search was furthest from succeeding {c}"),
                    None => Ok(()),
                }
            }
            Violation::InvalidEvent { index, reason } => {
                write!(f, "invalid event #{index}: {reason}")
            }
        }
    }
}

impl std::error::Error for Violation {}
