//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH. The session queues a transaction's
//! commands and turns EXEC into one log entry (`Body::Exec`); WATCH and UNWATCH are entries
//! too, so that whether a transaction commits is decided by the log alone (`crate::watch`).

use crate::commands::cmd;
use crate::table::{Group, Handler, Keys, SessionCmd as S, Spec, acl, flag::*, key};

const TX: u32 = acl::TRANSACTION;
const G: Group = Group::Transactions;

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("multi", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, TX, Keys::NONE, G, "1.2.0",
        "Starts a transaction.", Handler::Session(S::Multi)).complexity("O(1)"),
    cmd("exec", 1, NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG, TX, Keys::NONE, G, "1.2.0",
        "Executes all commands in a transaction.", Handler::Session(S::Exec))
        .complexity("Depends on commands in the transaction"),
    cmd("discard", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, TX, Keys::NONE, G, "2.0.0",
        "Discards a transaction.", Handler::Session(S::Discard))
        .complexity("O(N), when N is the number of queued commands"),
    cmd("watch", -2, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, TX, Keys::ALL, G, "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction.",
        Handler::Session(S::Watch))
        .key_flags(key::RO)
        .complexity("O(1) for every key."),
    cmd("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, TX, Keys::NONE, G, "2.2.0",
        "Forgets about watched keys of a transaction.", Handler::Session(S::Unwatch))
        .complexity("O(1)"),
];
