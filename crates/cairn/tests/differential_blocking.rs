//! Differential tests of blocked clients against redis-server 7.0.15 (harness:
//! `common/differential.rs`): several connections per scenario, clients parked in BLMOVE,
//! BRPOPLPUSH, BLMPOP, BLPOP and BZPOPMIN, then a push; every reply (the pusher's, each
//! waiter's, and reads sent right after the push, pipelined with it or from another
//! connection) must be what Redis answers. Redis serves every client a command made
//! servable, chains of BLMOVEs included, before it runs the next command from anyone.

mod common;

use common::Raw;
use common::differential::*;

/// One step of a scenario, run on both servers.
enum Step {
    /// Connection `n` sends the command and reads its reply.
    Run(usize, &'static str),
    /// Connection `n` sends a blocking command; the step ends when `blocked` clients are
    /// blocked (INFO, on connection 0).
    Block(usize, &'static str, usize),
    /// Connection `n` reads the reply of the command it left blocked.
    Read(usize),
    /// Connection `n` sends the commands in one write, then reads all their replies.
    Pipeline(usize, &'static [&'static str]),
    /// Connection `n` switches to RESP3 (HELLO 3; its reply, which names the connection, is
    /// not compared).
    Hello3(usize),
}

use Step::*;

/// Connections each scenario opens (connection 0 runs the pushes and the checks).
const CONNECTIONS: usize = 6;

fn run_steps(conns: &mut [Raw], steps: &[Step]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for step in steps {
        match step {
            Run(n, line) => {
                let reply = conns[*n].cmd_bytes(&parse_line(line).1);
                out.push((format!("[{n}] {line}"), reply));
            }
            Block(n, line, blocked) => {
                conns[*n].send(&encode(&parse_line(line).1));
                conns[0].wait_blocked(*blocked);
            }
            Read(n) => out.push((format!("[{n}] reply"), conns[*n].read_reply())),
            Hello3(n) => {
                conns[*n].cmd(&["HELLO", "3"]);
            }
            Pipeline(n, lines) => {
                let mut request = Vec::new();
                for line in *lines {
                    request.extend(encode(&parse_line(line).1));
                }
                conns[*n].send(&request);
                for line in *lines {
                    out.push((format!("[{n}] {line} (pipelined)"), conns[*n].read_reply()));
                }
            }
        }
    }
    out
}

fn check(scenarios: &[(&str, &[Step])]) {
    let pair = Pair::start();
    let mut failures = Vec::new();
    for (name, steps) in scenarios {
        let mut redis: Vec<Raw> = (0..CONNECTIONS)
            .map(|_| Raw::connect(&pair.oracle.addr()))
            .collect();
        let mut cairn: Vec<Raw> = (0..CONNECTIONS).map(|_| pair.cairn.conn()).collect();
        redis[0].cmd(&["FLUSHALL"]);
        cairn[0].cmd(&["FLUSHALL"]);
        let expected = run_steps(&mut redis, steps);
        let actual = run_steps(&mut cairn, steps);
        for ((label, expected), (_, actual)) in expected.iter().zip(&actual) {
            if expected != actual {
                failures.push(format!(
                    "{name}: {label}\n    redis: {}\n    cairn: {}",
                    show(expected),
                    show(actual)
                ));
            }
        }
    }
    assert_none("RESP2", failures);
}

trait CmdBytes {
    fn cmd_bytes(&mut self, argv: &[Vec<u8>]) -> Vec<u8>;
}

impl CmdBytes for Raw {
    fn cmd_bytes(&mut self, argv: &[Vec<u8>]) -> Vec<u8> {
        self.send(&encode(argv));
        self.read_reply()
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// unit/type/list "Linked LMOVEs": the push's reply comes after the whole chain has run.
const LINKED_LMOVES: &[Step] = &[
    Block(1, "BLMOVE list1 list2 RIGHT LEFT 0", 1),
    Block(2, "BLMOVE list2 list3 LEFT RIGHT 0", 2),
    Run(0, "RPUSH list1 foo"),
    Run(0, "LRANGE list1 0 -1"),
    Run(0, "LRANGE list2 0 -1"),
    Run(0, "LRANGE list3 0 -1"),
    Read(1),
    Read(2),
];

/// The same chain, read by another connection right after the push's reply, and by the
/// pusher in the same write as the push.
const LINKED_LMOVES_READERS: &[Step] = &[
    Block(1, "BLMOVE list1 list2 RIGHT LEFT 0", 1),
    Block(2, "BLMOVE list2 list3 LEFT RIGHT 0", 2),
    Block(3, "BRPOPLPUSH list3 list4 0", 3),
    Pipeline(
        0,
        &["RPUSH list1 foo", "LRANGE list2 0 -1", "LRANGE list4 0 -1"],
    ),
    Run(4, "LRANGE list1 0 -1"),
    Run(4, "LRANGE list4 0 -1"),
    Read(1),
    Read(2),
    Read(3),
    Block(1, "BLMOVE list1 list2 RIGHT LEFT 0", 1),
    Block(2, "BLMOVE list2 list3 LEFT RIGHT 0", 2),
    Run(0, "RPUSH list1 a b c"),
    Run(5, "LRANGE list1 0 -1"),
    Run(5, "LRANGE list2 0 -1"),
    Run(5, "LRANGE list3 0 -1"),
    Read(1),
    Read(2),
];

/// unit/type/list "Circular BRPOPLPUSH".
const CIRCULAR: &[Step] = &[
    Block(1, "BRPOPLPUSH list1 list2 0", 1),
    Block(2, "BRPOPLPUSH list2 list1 0", 2),
    Run(0, "RPUSH list1 foo"),
    Run(0, "LRANGE list1 0 -1"),
    Run(0, "LRANGE list2 0 -1"),
    Read(1),
    Read(2),
];

/// unit/type/list "BLMPOP with multiple blocked clients": two keys made ready by one EXEC;
/// each key's clients are served in the order they blocked, the first key first.
const BLMPOP_MULTIPLE: &[Step] = &[
    Block(1, "BLMPOP 0 2 blist blist2 LEFT COUNT 1", 1),
    Block(2, "BLMPOP 0 2 blist blist2 RIGHT COUNT 10", 2),
    Block(3, "BLMPOP 0 2 blist blist2 LEFT COUNT 10", 3),
    Block(4, "BLMPOP 0 2 blist blist2 RIGHT COUNT 1", 4),
    Run(0, "MULTI"),
    Run(0, "LPUSH blist a b c d e"),
    Run(0, "LPUSH blist2 1 2 3 4 5"),
    Run(0, "EXEC"),
    Read(1),
    Read(2),
    Read(3),
    Run(0, "LPUSH blist2 1 2 3"),
    Read(4),
    Run(0, "LRANGE blist2 0 -1"),
];

/// Fewer elements than waiters: the first ones get them, in order; the rest wait on.
const FEWER_ELEMENTS: &[Step] = &[
    Block(1, "BLPOP q 0", 1),
    Block(2, "BRPOP q other 0", 2),
    Block(3, "BLPOP other q 0", 3),
    Block(4, "BLMOVE q dst LEFT LEFT 0", 4),
    Run(0, "RPUSH q a b"),
    Read(1),
    Read(2),
    Run(0, "LLEN q"),
    Run(0, "RPUSH other x"),
    Read(3),
    Run(0, "RPUSH q c"),
    Read(4),
    Run(0, "LRANGE dst 0 -1"),
];

/// unit/type/list "BRPOPLPUSH with multiple blocked clients": the first client's
/// destination holds a string (an error for it); the second takes the element.
const WRONG_DESTINATION: &[Step] = &[
    Run(0, "SET target1 nolist"),
    Block(1, "BRPOPLPUSH blist target1 0", 1),
    Block(2, "BRPOPLPUSH blist target2 0", 2),
    Run(0, "LPUSH blist foo"),
    Read(1),
    Read(2),
    Run(0, "LRANGE target2 0 -1"),
    Run(0, "EXISTS blist"),
];

/// Sorted-set and list waiters made ready by one transaction, and a BLMOVE chain that ends
/// in a key a BLPOP waits on.
const MIXED: &[Step] = &[
    Block(1, "BZPOPMIN z 0", 1),
    Block(2, "BLMOVE a b LEFT RIGHT 0", 2),
    Block(3, "BLPOP b 0", 3),
    Block(4, "BZPOPMAX z 0", 4),
    Run(0, "MULTI"),
    Run(0, "ZADD z 1 one 2 two 3 three"),
    Run(0, "RPUSH a x y"),
    Run(0, "EXEC"),
    Run(0, "ZRANGE z 0 -1"),
    Run(0, "LRANGE a 0 -1"),
    Run(0, "LRANGE b 0 -1"),
    Read(1),
    Read(2),
    Read(3),
    Read(4),
];

/// Blocked XREAD and XREADGROUP answer a map (stream → entries) in RESP3, an array of
/// [stream, entries] pairs in RESP2, as when they do not block.
const XREAD_PROTOCOLS: &[Step] = &[
    Hello3(1),
    Hello3(3),
    Run(0, "XGROUP CREATE s2 g $ MKSTREAM"),
    Block(1, "XREAD BLOCK 0 STREAMS s1 s2 $ $", 1),
    Block(2, "XREAD BLOCK 0 STREAMS s1 s2 $ $", 2),
    Block(3, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s2 >", 3),
    Block(4, "XREADGROUP GROUP g bob BLOCK 0 STREAMS s2 >", 4),
    Run(0, "XADD s2 1-1 f v"),
    Read(1),
    Read(2),
    Read(3),
    Run(0, "XADD s2 1-2 f w"),
    Read(4),
    Run(1, "XREAD STREAMS s1 s2 0 0"),
    Run(1, "XREADGROUP GROUP g alice STREAMS s2 0"),
    Run(1, "XREAD STREAMS s2 9"),
    Run(2, "XREAD STREAMS s1 s2 0 0"),
    Run(1, "XREAD BLOCK 1 STREAMS s2 $"),
    Run(2, "XREAD BLOCK 1 STREAMS s2 $"),
];

#[test]
fn blocked_clients_are_served_as_redis_serves_them() {
    check(&[
        ("linked-lmoves", LINKED_LMOVES),
        ("linked-lmoves-readers", LINKED_LMOVES_READERS),
        ("circular", CIRCULAR),
        ("blmpop-multiple", BLMPOP_MULTIPLE),
        ("fewer-elements", FEWER_ELEMENTS),
        ("wrong-destination", WRONG_DESTINATION),
        ("mixed", MIXED),
        ("xread-protocols", XREAD_PROTOCOLS),
    ]);
}
