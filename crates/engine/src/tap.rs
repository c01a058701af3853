//! The commands run inside an entry or a read, as MONITOR shows them: an EXEC's commands and
//! the commands scripts call. Node-local and never replicated: the node turns it on around an
//! entry it made (or a read it runs) while a client monitors, and takes what it recorded
//! afterwards. Off, it costs one flag check per command run inside an entry.

use std::cell::{Cell, RefCell};

use bytes::Bytes;

/// One command run inside an entry or a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The database it ran in (after it ran: a SELECT shows the database it selected).
    pub db: usize,
    /// Called by a script (`redis.call`), not by the client (an EXEC's command).
    pub lua: bool,
    pub argv: Vec<Bytes>,
}

#[derive(Debug, Default)]
pub struct Tap {
    on: Cell<bool>,
    calls: RefCell<Vec<Call>>,
}

impl Tap {
    /// Starts or stops recording.
    pub fn set(&self, on: bool) {
        self.on.set(on);
    }

    pub fn is_on(&self) -> bool {
        self.on.get()
    }

    /// Records a command when recording is on.
    pub fn record(&self, db: usize, lua: bool, argv: &[Bytes]) {
        if self.on.get() {
            self.calls.borrow_mut().push(Call {
                db,
                lua,
                argv: argv.to_vec(),
            });
        }
    }

    /// What was recorded since the last call, in the order the commands ran.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.borrow_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Body;
    use crate::testing::{Harness, split_args};

    fn shown(calls: &[Call]) -> Vec<String> {
        calls
            .iter()
            .map(|c| {
                let words: Vec<String> = c
                    .argv
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                format!(
                    "{} {} {}",
                    c.db,
                    if c.lua { "lua" } else { "client" },
                    words.join(" ")
                )
            })
            .collect()
    }

    #[test]
    fn records_nothing_while_off() {
        let mut h = Harness::new();
        h.cmd("EVAL \"redis.call('set', 'k', 'v')\" 0");
        assert!(h.engine.tap().take().is_empty());
    }

    #[test]
    fn records_an_execs_commands_and_the_calls_of_scripts_in_the_order_they_ran() {
        let mut h = Harness::new();
        h.engine.tap().set(true);
        let commands = [
            "SET a 1",
            "EVAL \"redis.call('incr', 'a') redis.call('select', '4') return redis.call('get', 'a')\" 0",
            "SELECT 2",
            "GET a",
        ]
        .iter()
        .map(|c| split_args(c).unwrap())
        .collect();
        h.apply(Body::Exec {
            client: 1,
            watching: false,
            commands,
        });
        assert_eq!(
            shown(&h.engine.tap().take()),
            [
                "0 client SET a 1",
                "0 client EVAL redis.call('incr', 'a') redis.call('select', '4') return redis.call('get', 'a') 0",
                "0 lua incr a",
                "4 lua select 4",
                "4 lua get a",
                "2 client SELECT 2",
                "2 client GET a",
            ]
        );
        // A read-only script run on the read path is recorded too.
        h.cmd("EVAL_RO \"return redis.call('get', KEYS[1])\" 1 a");
        assert_eq!(shown(&h.engine.tap().take()), ["0 lua get a"]);
        h.engine.tap().set(false);
        h.cmd("EVAL_RO \"return redis.call('get', KEYS[1])\" 1 a");
        assert!(h.engine.tap().take().is_empty());
    }
}
