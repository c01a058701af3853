//! Differential tests of the stream family (harness: `common/differential.rs`): scripted
//! commands with their options and errors (the command lists of the `stream-*` transcripts),
//! then a seeded random sequence over a few keys with explicit IDs, compared reply by reply
//! with redis-server 7.0.15.
//!
//! Normalised on purpose: idle times and delivery/seen times (XPENDING's extended form,
//! XINFO CONSUMERS, XINFO STREAM FULL) are compared by shape, since the two servers' clocks
//! differ. Left out: auto IDs (`*`, time-based) and reads that would actually block
//! (`blocking_stream.rs` and `differential_blocking.rs` cover those).

mod common;

use common::differential::*;

/// One step of a script: a line, or `XADD`s for IDs `first..=last` (`{}` is the number).
enum Step {
    Line(&'static str),
    Fill(u64, u64, &'static str),
}

use Step::{Fill, Line};

fn expand(steps: &[Step]) -> Vec<String> {
    let mut out = Vec::new();
    for step in steps {
        match step {
            Line(line) => out.push(line.to_string()),
            Fill(first, last, format) => {
                out.extend((*first..=*last).map(|i| format.replace("{}", &i.to_string())));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Scripts (the transcripts' commands)
// ---------------------------------------------------------------------------------------------

const XADD: &[Step] = &[
    Line("XADD s 1-1 a 1"),
    Line("XADD s 1-2 b 2 c 3"),
    Line("XADD s 1-* d 4"),
    Line("XADD s 5-* e 5"),
    Line("XADD s 5 f 6"),
    Line("XADD s 5-0 f 6"),
    Line("XADD s 4-9 f 6"),
    Line("XADD s 0-0 f 6"),
    Line("XADD s 0 f 6"),
    Line("XADD new 0-* f v"),
    Line("XADD new 0-* f v"),
    Line("XLEN s"),
    Line("XRANGE s - +"),
    Line("TYPE s"),
    Line("OBJECT ENCODING s"),
    Line("XADD s NOMKSTREAM 6-0 g 7"),
    Line("XADD missing NOMKSTREAM 6-0 g 7"),
    Line("EXISTS missing"),
    Line("XADD s * f"),
    Line("XADD s 7-0 f"),
    Line("XADD s"),
    Line("XADD s 7-0"),
    Line("XADD s abc f v"),
    Line("XADD s 1-2-3 f v"),
    Line("XADD s - f v"),
    Line("XADD s + f v"),
    Line("XADD s 18446744073709551616-0 f v"),
    Line("XADD s -1 f v"),
    Line("XADD s 10-18446744073709551615 f v"),
    Line("XADD s 10-* f v"),
    Line("XADD s 18446744073709551615-18446744073709551615 f v"),
    Line("XADD s * f v"),
    Line("XADD s 18446744073709551615-* f v"),
    Line("SET str v"),
    Line("XADD str 1-1 f v"),
    Line("XADD str NOMKSTREAM 1-1 f v"),
    Line("DEL t"),
    Line("XADD t 1 f v"),
    Line("XADD t 2 f v"),
    Line("XADD t 3 f v"),
    Line("XADD t MAXLEN 2 4 f v"),
    Line("XRANGE t - +"),
    Line("XADD t MAXLEN = 1 5 f v"),
    Line("XRANGE t - +"),
    Line("XADD t MINID 6 6 f v"),
    Line("XRANGE t - +"),
    Line("XADD t MINID = 5 7 f v"),
    Line("XLEN t"),
    Line("XADD t MAXLEN ~ 1 8 f v"),
    Line("XLEN t"),
    Line("XADD t MAXLEN ~ 1 LIMIT 10 9 f v"),
    Line("XADD t MAXLEN 1 LIMIT 10 10 f v"),
    Line("XADD t LIMIT 10 10 f v"),
    Line("XADD t MAXLEN 1 MINID 1 10 f v"),
    Line("XADD t MAXLEN -1 10 f v"),
    Line("XADD t MAXLEN x 10 f v"),
    Line("XADD t MAXLEN ~ 1 LIMIT -1 10 f v"),
    Line("XADD t MINID abc 10 f v"),
    Line("XADD t MINID - 10 f v"),
    Line("XADD t MAXLEN 1 NOMKSTREAM 10 f v"),
    Line("XADD t maxlen 0 11 f v"),
    Line("XLEN t"),
    Line("EXISTS t"),
    Line("XADD t NOMKSTREAM MAXLEN 5 12 f v"),
    Line("XRANGE t - +"),
    Line("XADD t MAXLEN"),
    Line("XADD t MAXLEN 1"),
    Line("DEL big"),
    Fill(1, 250, "XADD big {}-0 field value{}"),
    Line("XLEN big"),
    Line("XADD big MAXLEN ~ 200 251 field v"),
    Line("XLEN big"),
    Line("XADD big MAXLEN ~ 100 252 field v"),
    Line("XLEN big"),
    Line("XADD big MAXLEN ~ 100 LIMIT 50 253 field v"),
    Line("XLEN big"),
    Line("XADD big MINID ~ 200 254 field v"),
    Line("XLEN big"),
    Line("XRANGE big - + COUNT 2"),
    Line("XADD big MINID 240 255 field v"),
    Line("XRANGE big - + COUNT 2"),
];

const RANGE_DEL_TRIM: &[Step] = &[
    Line("XADD s 1-0 a 1"),
    Line("XADD s 1-1 b 2"),
    Line("XADD s 2-0 c 3"),
    Line("XADD s 3-5 d 4"),
    Line("XADD s 3-6 e 5"),
    Line("XRANGE s - +"),
    Line("XRANGE s 1 1"),
    Line("XRANGE s 1-1 3"),
    Line("XRANGE s (1-0 (3-6"),
    Line("XRANGE s (1 +"),
    Line("XRANGE s - (3"),
    Line("XRANGE s 3 -"),
    Line("XRANGE s - + COUNT 2"),
    Line("XRANGE s - + COUNT 0"),
    Line("XRANGE s - + COUNT -1"),
    Line("XRANGE s - + COUNT 1 COUNT 3"),
    Line("XRANGE s - + COUNT"),
    Line("XRANGE s - + LIMIT 1"),
    Line("XRANGE s - + COUNT x"),
    Line("XRANGE s (- +"),
    Line("XRANGE s - (+"),
    Line("XRANGE s (18446744073709551615-18446744073709551615 +"),
    Line("XRANGE s - (0-0"),
    Line("XRANGE s ( +"),
    Line("XRANGE s abc +"),
    Line("XRANGE s - 1-x"),
    Line("XRANGE missing - +"),
    Line("XRANGE missing - + COUNT 0"),
    Line("XREVRANGE s + -"),
    Line("XREVRANGE s + - COUNT 2"),
    Line("XREVRANGE s (3-6 (1-0"),
    Line("XREVRANGE s 2 1"),
    Line("XREVRANGE s - +"),
    Line("XREVRANGE s + - COUNT 0"),
    Line("XREVRANGE missing + -"),
    Line("XLEN s"),
    Line("XLEN missing"),
    Line("SET str v"),
    Line("XRANGE str - +"),
    Line("XRANGE str - + COUNT 0"),
    Line("XREVRANGE str + -"),
    Line("XLEN str"),
    Line("XDEL s 1-1 9-9 2-0"),
    Line("XDEL s 1-1"),
    Line("XRANGE s - +"),
    Line("XDEL s abc"),
    Line("XDEL missing abc"),
    Line("XDEL s 3-5 x"),
    Line("XLEN s"),
    Line("XDEL str 1-0"),
    Line("XDEL s 1-0 3-5 3-6"),
    Line("XLEN s"),
    Line("EXISTS s"),
    Line("XADD s 4 f v"),
    Line("XADD s 3-7 f v"),
    Line("DEL t"),
    Line("XADD t 1 f v"),
    Line("XADD t 2 f v"),
    Line("XADD t 3 f v"),
    Line("XADD t 4 f v"),
    Line("XTRIM t MAXLEN 3"),
    Line("XTRIM t MAXLEN = 3"),
    Line("XTRIM t MINID 3"),
    Line("XRANGE t - +"),
    Line("XTRIM t MINID = 4-1"),
    Line("XLEN t"),
    Line("XTRIM t MAXLEN ~ 0"),
    Line("XTRIM t MAXLEN ~ 0 LIMIT 0"),
    Line("XTRIM missing MAXLEN 0"),
    Line("XTRIM str MAXLEN 0"),
    Line("XTRIM t"),
    Line("XTRIM t LIMIT 2"),
    Line("XTRIM t MAXLEN 1 LIMIT 2"),
    Line("XTRIM t NOMKSTREAM MAXLEN 1"),
    Line("XTRIM t MAXLEN 1 MINID 0"),
    Line("XTRIM t MAXLEN -5"),
    Line("XTRIM t MINID (5"),
    Line("XTRIM t MAXLEN 0 extra"),
    Line("XTRIM t MAXLEN"),
    Fill(1, 230, "XADD big {}-0 f v"),
    Line("XDEL big 5-0 150-0"),
    Line("XTRIM big MAXLEN ~ 150"),
    Line("XTRIM big MAXLEN ~ 10 LIMIT 99"),
    Line("XTRIM big MAXLEN ~ 10 LIMIT 100"),
    Line("XLEN big"),
    Line("XTRIM big MINID ~ 230"),
    Line("XLEN big"),
    Line("XTRIM big MINID 229"),
    Line("XRANGE big - +"),
    Line("XDEL big 229-0 230-0"),
    Line("XLEN big"),
    Line("EXISTS big"),
    Line("XRANGE big - +"),
];

const XREAD: &[Step] = &[
    Line("XADD a 1-0 f 1"),
    Line("XADD a 2-0 f 2"),
    Line("XADD b 1-5 g 1"),
    Line("XREAD STREAMS a 0"),
    Line("XREAD STREAMS a 1"),
    Line("XREAD COUNT 1 STREAMS a b 0 0"),
    Line("XREAD STREAMS a b 1-0 1-4"),
    Line("XREAD STREAMS a b $ $"),
    Line("XREAD STREAMS a 2"),
    Line("XREAD STREAMS missing 0"),
    Line("XREAD STREAMS a missing 0 0"),
    Line("XREAD COUNT 0 STREAMS a 0"),
    Line("XREAD COUNT -3 STREAMS a 0"),
    Line("xread count 1 count 2 streams a 0"),
    Line("XREAD STREAMS a b 0"),
    Line("XREAD STREAMS a >"),
    Line("XREAD STREAMS a abc"),
    Line("XREAD STREAMS a +"),
    Line("XREAD STREAMS a -"),
    Line("XREAD STREAMS a 18446744073709551615-18446744073709551615"),
    Line("XREAD COUNT x STREAMS a 0"),
    Line("XREAD BLOCK x STREAMS a 0"),
    Line("XREAD BLOCK -1 STREAMS a 0"),
    Line("XREAD BLOCK 1.5 STREAMS a 0"),
    Line("XREAD GROUP g c STREAMS a 0"),
    Line("XREAD NOACK STREAMS a 0"),
    Line("XREAD FOO STREAMS a 0"),
    Line("XREAD COUNT 1 a 0"),
    Line("XREAD BLOCK 0 STREAMS a 0"),
    Line("EVAL \"return redis.call('XREAD', 'STREAMS', 'a', 'b', '0', '0')\" 0"),
    Line("EVAL \"redis.setresp(3) return redis.call('XREAD', 'STREAMS', 'a', 'b', '0', '0')\" 0"),
    Line("EVAL \"redis.setresp(3) return redis.call('XREAD', 'STREAMS', 'a', '9')\" 0"),
    Line("SET str v"),
    Line("XREAD STREAMS str 0"),
    Line("XREAD STREAMS a str 0 0"),
    Line("XREAD STREAMS missing str $ 0"),
    Line("XDEL a 1-0 2-0"),
    Line("XREAD STREAMS a 0"),
    Line("XLEN a"),
];

const GROUPS: &[Step] = &[
    Line("XGROUP CREATE s g $"),
    Line("XGROUP CREATE s g $ MKSTREAM"),
    Line("XGROUP CREATE s g $ MKSTREAM"),
    Line("EXISTS s"),
    Line("XLEN s"),
    Line("XADD s 1-0 a 1"),
    Line("XADD s 2-0 b 2"),
    Line("XADD s 3-0 c 3"),
    Line("XGROUP CREATE s g2 0"),
    Line("XGROUP CREATE s g3 2-0 ENTRIESREAD 2"),
    Line("XGROUP CREATE s g4 0 ENTRIESREAD -2"),
    Line("XGROUP CREATE s g4 0 ENTRIESREAD x"),
    Line("XGROUP CREATE s g4 0 FOO"),
    Line("XGROUP CREATE s g4 abc"),
    Line("XGROUP CREATE s g4 -"),
    Line("XGROUP CREATE missing g 0"),
    Line("XGROUP CREATE s g4 0 MKSTREAM ENTRIESREAD 1 MKSTREAM"),
    Line("XGROUP CREATE s g5 0 MKSTREAM ENTRIESREAD 1 MKSTREAM MKSTREAM"),
    Line("SET str v"),
    Line("XGROUP CREATE str g 0"),
    Line("XGROUP CREATE str g 0 MKSTREAM"),
    Line("XGROUP FOO s g"),
    Line("XGROUP CREATE s"),
    Line("XGROUP DESTROY s g4"),
    Line("XGROUP DESTROY s nope"),
    Line("XGROUP DESTROY missing g"),
    Line("XGROUP DESTROY s g4 extra"),
    Line("XGROUP SETID s nope 0"),
    Line("XGROUP SETID missing g 0"),
    Line("XGROUP SETID s g5 0 ENTRIESREAD"),
    Line("XGROUP SETID s g5 0 ENTRIESREAD 3 MKSTREAM"),
    Line("XGROUP SETID s g5 0 MKSTREAM"),
    Line("XGROUP HELP"),
    Line("XGROUP HELP extra"),
    Line("XREADGROUP GROUP g2 alice COUNT 1 STREAMS s >"),
    Line("XREADGROUP GROUP g2 alice STREAMS s >"),
    Line("XREADGROUP GROUP g2 alice STREAMS s >"),
    Line("XREADGROUP GROUP g2 bob STREAMS s 0"),
    Line("XREADGROUP GROUP g2 alice STREAMS s 0"),
    Line("XREADGROUP GROUP g2 alice COUNT 2 STREAMS s 1"),
    Line("XREADGROUP GROUP g2 alice STREAMS s 3"),
    Line("XPENDING s g2"),
    Line("XINFO GROUPS s"),
    Line("shape: XINFO CONSUMERS s g2 extra"),
    Line("XACK s g2 1-0 1-0 9-0"),
    Line("XACK s g2 2-0 abc"),
    Line("XACK s g2 abc"),
    Line("XACK s nope abc"),
    Line("XACK missing g abc"),
    Line("XACK str g 1-0"),
    Line("XPENDING s g2"),
    Line("XDEL s 3-0"),
    Line("XREADGROUP GROUP g2 alice STREAMS s 0"),
    Line("XPENDING s g2"),
    Line("XACK s g2 3-0"),
    Line("XPENDING s g2"),
    Line("XREADGROUP GROUP g3 carol NOACK STREAMS s >"),
    Line("XPENDING s g3"),
    Line("XINFO GROUPS s"),
    Line("XGROUP SETID s g3 0"),
    Line("XINFO GROUPS s"),
    Line("XGROUP SETID s g3 $ ENTRIESREAD 3"),
    Line("XINFO GROUPS s"),
    Line("XGROUP SETID s g3 + ENTRIESREAD -1"),
    Line("XGROUP SETID s g3 -"),
    Line("XINFO GROUPS s"),
    Line("XGROUP CREATECONSUMER s g3 dave"),
    Line("XGROUP CREATECONSUMER s g3 dave"),
    Line("XGROUP CREATECONSUMER s nope dave"),
    Line("XGROUP CREATECONSUMER missing g dave"),
    Line("XGROUP DELCONSUMER s g3 dave"),
    Line("XGROUP DELCONSUMER s g3 dave"),
    Line("XGROUP DELCONSUMER s nope dave"),
    Line("XADD s 4-0 d 4"),
    Line("XREADGROUP GROUP g2 erin STREAMS s >"),
    Line("XREADGROUP GROUP g2 erin STREAMS s >"),
    Line("XGROUP DELCONSUMER s g2 erin"),
    Line("XPENDING s g2"),
    Line("XREADGROUP GROUP g2 erin STREAMS s s > >"),
    Line("XREADGROUP GROUP nope erin STREAMS s >"),
    Line("XREADGROUP GROUP g2 erin STREAMS missing >"),
    Line("XREADGROUP GROUP g2 erin STREAMS s $"),
    Line("XREADGROUP GROUP g2 erin STREAMS str >"),
    Line("XREADGROUP GROUP g2 erin STREAMS s abc"),
    Line("XREADGROUP GROUP g2 erin STREAMS s -"),
    Line("XREADGROUP g2 erin STREAMS s >"),
    Line("XREADGROUP COUNT 1 STREAMS s >"),
    Line("XREADGROUP GROUP g2 STREAMS s >"),
    Line("XREADGROUP GROUP g2 erin BLOCK -5 STREAMS s >"),
    Line("XREADGROUP GROUP g2 erin NOACK COUNT 1 STREAMS s 0"),
    Line("XGROUP DESTROY s g2"),
    Line("XINFO GROUPS s"),
    Line("DEL lag"),
    Line("XADD lag 1-0 f v"),
    Line("XADD lag 2-0 f v"),
    Line("XADD lag 3-0 f v"),
    Line("XADD lag 4-0 f v"),
    Line("XGROUP CREATE lag g 0"),
    Line("XINFO GROUPS lag"),
    Line("XDEL lag 2-0"),
    Line("XINFO GROUPS lag"),
    Line("XREADGROUP GROUP g c COUNT 1 STREAMS lag >"),
    Line("XINFO GROUPS lag"),
    Line("XREADGROUP GROUP g c COUNT 1 STREAMS lag >"),
    Line("XINFO GROUPS lag"),
    Line("XREADGROUP GROUP g c STREAMS lag >"),
    Line("XINFO GROUPS lag"),
    Line("XADD lag 5-0 f v"),
    Line("XINFO GROUPS lag"),
    Line("XTRIM lag MAXLEN 0"),
    Line("XINFO GROUPS lag"),
    Line("XSETID lag 9-0 ENTRIESADDED 20 MAXDELETEDID 8-0"),
    Line("XINFO GROUPS lag"),
];

const PENDING_CLAIM: &[Step] = &[
    Line("XADD s 1-0 a 1"),
    Line("XADD s 2-0 b 2"),
    Line("XADD s 3-0 c 3"),
    Line("XADD s 4-0 d 4"),
    Line("XGROUP CREATE s g 0"),
    Line("XREADGROUP GROUP g alice COUNT 2 STREAMS s >"),
    Line("XREADGROUP GROUP g bob STREAMS s >"),
    Line("shape: XPENDING s g - + 10"),
    Line("shape: XPENDING s g - + 10 alice"),
    Line("shape: XPENDING s g - + 10 nobody"),
    Line("shape: XPENDING s g (1-0 (4-0 10"),
    Line("shape: XPENDING s g - + 1"),
    Line("shape: XPENDING s g - + 0"),
    Line("shape: XPENDING s g - + -1"),
    Line("shape: XPENDING s g 3 + 10 bob extra"),
    Line("shape: XPENDING s g IDLE 0 - + 10"),
    Line("shape: XPENDING s g IDLE 99999999 - + 10"),
    Line("shape: XPENDING s g IDLE 5 - +"),
    Line("shape: XPENDING s g IDLE x - + 10"),
    Line("shape: XPENDING s g - + x"),
    Line("shape: XPENDING s g x + 10"),
    Line("shape: XPENDING s g - (0-0 10"),
    Line("shape: XPENDING s g - +"),
    Line("shape: XPENDING s g -"),
    Line("shape: XPENDING s g - + 10 a b c d"),
    Line("XPENDING s nope"),
    Line("XPENDING missing g"),
    Line("SET str v"),
    Line("XPENDING str g"),
    Line("shape: XPENDING str g - + x"),
    Line("XCLAIM s g carol 0 1-0"),
    Line("shape: XPENDING s g - + 10"),
    Line("XCLAIM s g carol 0 1-0 2-0 JUSTID"),
    Line("shape: XPENDING s g - + 10"),
    Line("XCLAIM s g carol 0 3-0 RETRYCOUNT 7 JUSTID"),
    Line("shape: XPENDING s g - + 10 carol"),
    Line("XCLAIM s g carol 0 9-0 FORCE"),
    Line("XADD s 5-0 e 5"),
    Line("XCLAIM s g dave 0 5-0"),
    Line("XCLAIM s g dave 0 5-0 FORCE"),
    Line("shape: XPENDING s g 5 5 10"),
    Line("XCLAIM s g dave 0 5-0 FORCE JUSTID"),
    Line("XCLAIM s g dave 0 1-0 LASTID 7-0 JUSTID"),
    Line("XINFO GROUPS s"),
    Line("XCLAIM s g dave 0 1-0 LASTID 6-0"),
    Line("XINFO GROUPS s"),
    Line("XCLAIM s g dave 0 1-0 LASTID abc"),
    Line("XCLAIM s g dave 0 1-0 IDLE x"),
    Line("XCLAIM s g dave 0 1-0 TIME x"),
    Line("XCLAIM s g dave 0 1-0 RETRYCOUNT x"),
    Line("XCLAIM s g dave 0 1-0 BOGUS"),
    Line("XCLAIM s g dave 0 1-0 IDLE"),
    Line("XCLAIM s g dave x 1-0"),
    Line("XCLAIM s g dave -5 1-0 JUSTID"),
    Line("XCLAIM s g dave 0 abc"),
    Line("XCLAIM s nope dave 0 1-0"),
    Line("XCLAIM missing g dave 0 1-0"),
    Line("XCLAIM str g dave 0 1-0"),
    Line("XCLAIM s g dave 100000000 1-0"),
    Line("XDEL s 2-0"),
    Line("XCLAIM s g dave 0 2-0 3-0 JUSTID"),
    Line("XPENDING s g"),
    Line("XGROUP DELCONSUMER s g dave"),
    Line("XPENDING s g"),
    Line("DEL a"),
    Line("XADD a 1-0 f 1"),
    Line("XADD a 2-0 f 2"),
    Line("XADD a 3-0 f 3"),
    Line("XADD a 4-0 f 4"),
    Line("XADD a 5-0 f 5"),
    Line("XGROUP CREATE a g 0"),
    Line("XREADGROUP GROUP g alice STREAMS a >"),
    Line("XAUTOCLAIM a g bob 0 0 COUNT 2"),
    Line("XAUTOCLAIM a g bob 0 3-0 COUNT 1 JUSTID"),
    Line("XDEL a 4-0"),
    Line("XAUTOCLAIM a g carol 0 (3-0"),
    Line("XAUTOCLAIM a g carol 0 - JUSTID"),
    Line("shape: XPENDING a g - + 10"),
    Line("XAUTOCLAIM a g carol 9999999999 0"),
    Line("XAUTOCLAIM a g carol 0 0 COUNT 0"),
    Line("XAUTOCLAIM a g carol 0 0 COUNT -1"),
    Line("XAUTOCLAIM a g carol 0 0 COUNT x"),
    Line("XAUTOCLAIM a g carol 0 0 COUNT 9223372036854775807"),
    Line("XAUTOCLAIM a g carol 0 0 FOO"),
    Line("XAUTOCLAIM a g carol x 0"),
    Line("XAUTOCLAIM a g carol 0 abc"),
    Line("XAUTOCLAIM a g carol 0 (18446744073709551615-18446744073709551615"),
    Line("XAUTOCLAIM a nope carol 0 0"),
    Line("XAUTOCLAIM missing g carol 0 0"),
    Line("XAUTOCLAIM missing g carol 0 0 FOO"),
    Line("XAUTOCLAIM str g carol 0 0"),
];

const INFO_SETID: &[Step] = &[
    Line("XINFO STREAM missing"),
    Line("XINFO GROUPS missing"),
    Line("shape: XINFO CONSUMERS missing g"),
    Line("SET str v"),
    Line("XINFO STREAM str"),
    Line("XINFO HELP"),
    Line("XINFO HELP extra"),
    Line("XINFO FOO s"),
    Line("XINFO STREAM"),
    Line("XGROUP CREATE e g $ MKSTREAM"),
    Line("XINFO STREAM e"),
    Line("shape: XINFO STREAM e FULL"),
    Line("XINFO GROUPS e"),
    Line("shape: XINFO CONSUMERS e g"),
    Line("shape: XINFO CONSUMERS e nope"),
    Line("XADD s 1-0 a 1"),
    Line("XADD s 2-0 b 2 c 3"),
    Line("XADD s 3-0 a 4"),
    Line("XINFO STREAM s"),
    Line("shape: XINFO STREAM s FULL"),
    Line("shape: XINFO STREAM s FULL COUNT 1"),
    Line("shape: XINFO STREAM s FULL COUNT 0"),
    Line("shape: XINFO STREAM s FULL COUNT -1"),
    Line("shape: XINFO STREAM s FULL COUNT x"),
    Line("shape: XINFO STREAM s FULL COUNT"),
    Line("XINFO STREAM s FOO"),
    Line("shape: XINFO STREAM s FULL FOO 1"),
    Line("shape: XINFO STREAM s FULL COUNT 1 extra"),
    Line("XDEL s 1-0"),
    Line("XINFO STREAM s"),
    Line("XDEL s 3-0"),
    Line("XINFO STREAM s"),
    Line("XDEL s 2-0"),
    Line("XINFO STREAM s"),
    Fill(1, 450, "XADD big {}-0 f {}"),
    Line("XINFO STREAM big"),
    Line("XDEL big 1-0 250-0"),
    Line("XTRIM big MAXLEN 120"),
    Line("XINFO STREAM big"),
    Line("XSETID big 500-0"),
    Line("XINFO STREAM big"),
    Line("XSETID missing 1-0"),
    Line("XSETID str 1-0"),
    Line("XSETID big 449-0"),
    Line("XSETID big 450"),
    Line("XSETID big 600-0 ENTRIESADDED 10"),
    Line("XSETID big 600-0 ENTRIESADDED 1000 MAXDELETEDID 700-0"),
    Line("XSETID big 600-0 ENTRIESADDED -1"),
    Line("XSETID big 600-0 ENTRIESADDED x"),
    Line("XSETID big 600-0 MAXDELETEDID abc"),
    Line("XSETID big 600-0 FOO 1"),
    Line("XSETID big 600-0 ENTRIESADDED"),
    Line("XSETID big abc"),
    Line("XSETID big -"),
    Line("XSETID big 600-0 ENTRIESADDED 1000 MAXDELETEDID 599-0"),
    Line("XINFO STREAM big"),
    Line("XTRIM big MAXLEN 0"),
    Line("XSETID big 1-0"),
    Line("XSETID big 1-0 ENTRIESADDED 0 MAXDELETEDID 0-0"),
    Line("XINFO STREAM big"),
];

// ---------------------------------------------------------------------------------------------
// The seeded random sequence
// ---------------------------------------------------------------------------------------------

/// Two stream keys, and `str`, which SET turns into a string now and then (WRONGTYPE).
fn key(rng: &mut fastrand::Rng) -> &'static str {
    ["s1", "s2", "s1", "s2", "str"][rng.usize(..5)]
}

/// IDs from a small space, so adds collide with and fall behind the last ID.
fn id(rng: &mut fastrand::Rng) -> String {
    match rng.u8(..10) {
        0 => "-".into(),
        1 => "+".into(),
        2 => format!("({}-{}", rng.u64(..60), rng.u64(..3)),
        3 => format!("{}", rng.u64(..60)),
        _ => format!("{}-{}", rng.u64(..60), rng.u64(..3)),
    }
}

fn strict_id(rng: &mut fastrand::Rng) -> String {
    format!("{}-{}", rng.u64(..60), rng.u64(..3))
}

fn group(rng: &mut fastrand::Rng) -> &'static str {
    ["g1", "g2", "g1", "nope"][rng.usize(..4)]
}

fn consumer(rng: &mut fastrand::Rng) -> &'static str {
    ["alice", "bob", "carol"][rng.usize(..3)]
}

fn random_line(rng: &mut fastrand::Rng, next_ms: &mut u64) -> String {
    let k = key(rng);
    let fields = |rng: &mut fastrand::Rng| -> String {
        let n = 1 + rng.usize(..3);
        (0..n)
            .map(|i| {
                let field = ["f", "g", "h"][if rng.bool() { 0 } else { i }];
                format!("{field} {}", rng.u32(..1000))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let trim = |rng: &mut fastrand::Rng| -> String {
        let approx = ["", "~ ", "= "][rng.usize(..3)];
        if rng.bool() {
            format!("MAXLEN {approx}{}", rng.u32(..12))
        } else {
            format!("MINID {approx}{}", strict_id(rng))
        }
    };
    match rng.u8(..30) {
        0..=7 => {
            // Mostly growing IDs, sometimes behind or partial.
            *next_ms += u64::from(rng.u8(..3));
            let id = match rng.u8(..6) {
                0 => format!("{}-*", *next_ms),
                1 => strict_id(rng),
                _ => format!("{}-{}", *next_ms, rng.u8(..3)),
            };
            let opts = match rng.u8(..5) {
                0 => format!("{} ", trim(rng)),
                1 => "NOMKSTREAM ".into(),
                2 => format!("MAXLEN ~ {} LIMIT {} ", rng.u32(..10), rng.u32(..5)),
                _ => String::new(),
            };
            format!("XADD {k} {opts}{id} {}", fields(rng))
        }
        8 => format!("XRANGE {k} {} {} COUNT {}", id(rng), id(rng), rng.u8(..5)),
        9 => format!("XREVRANGE {k} {} {}", id(rng), id(rng)),
        10 => format!("XLEN {k}"),
        11 => format!("XDEL {k} {} {}", strict_id(rng), strict_id(rng)),
        12 => format!("XTRIM {k} {}", trim(rng)),
        13 => format!(
            "XGROUP CREATE {k} {} {} {}",
            group(rng),
            if rng.bool() {
                "$".to_string()
            } else {
                strict_id(rng)
            },
            if rng.u8(..3) == 0 { "MKSTREAM" } else { "" }
        ),
        14 => format!("XGROUP SETID {k} {} {}", group(rng), strict_id(rng)),
        15 => format!("XGROUP DESTROY {k} {}", group(rng)),
        16 => format!("XGROUP CREATECONSUMER {k} {} {}", group(rng), consumer(rng)),
        17 => format!("XGROUP DELCONSUMER {k} {} {}", group(rng), consumer(rng)),
        18..=20 => format!(
            "XREADGROUP GROUP {} {} COUNT {} {}STREAMS {k} {}",
            group(rng),
            consumer(rng),
            rng.u8(..4),
            if rng.u8(..4) == 0 { "NOACK " } else { "" },
            if rng.u8(..3) == 0 { "0" } else { ">" }
        ),
        21 => format!(
            "XREAD COUNT {} STREAMS s1 s2 {} {}",
            rng.u8(..4),
            strict_id(rng),
            strict_id(rng)
        ),
        22 => format!(
            "XACK {k} {} {} {}",
            group(rng),
            strict_id(rng),
            strict_id(rng)
        ),
        23 => format!("XPENDING {k} {}", group(rng)),
        24 => format!("shape: XPENDING {k} {} - + 10", group(rng)),
        25 => format!(
            "XCLAIM {k} {} {} 0 {} {} JUSTID",
            group(rng),
            consumer(rng),
            strict_id(rng),
            strict_id(rng)
        ),
        26 => format!(
            "XAUTOCLAIM {k} {} {} 0 {} COUNT {}",
            group(rng),
            consumer(rng),
            strict_id(rng),
            1 + rng.u8(..3)
        ),
        27 => format!("XINFO STREAM {k}"),
        28 => format!("XINFO GROUPS {k}"),
        _ => match rng.u8(..8) {
            0 => "SET str v".into(),
            1 => format!("DEL {k}"),
            2 => format!(
                "XSETID {k} {} ENTRIESADDED {}",
                strict_id(rng),
                rng.u8(..40)
            ),
            _ => format!("XINFO GROUPS {k}"),
        },
    }
}

fn random_sequence(pair: &Pair, resp3: bool, seed: u64, commands: usize) -> Vec<String> {
    let mut failures = Vec::new();
    let (mut redis, mut cairn) = pair.connect(resp3, &mut failures);
    let mut rng = fastrand::Rng::with_seed(seed);
    exchange(
        &mut redis,
        &mut cairn,
        "FLUSHALL",
        &parse_line("FLUSHALL"),
        &mut failures,
    );
    let mut next_ms = 1;
    for _ in 0..commands {
        let line = random_line(&mut rng, &mut next_ms);
        let label = format!("seed {seed}: {line}");
        if !exchange(
            &mut redis,
            &mut cairn,
            &label,
            &parse_line(&line),
            &mut failures,
        ) {
            break;
        }
        if failures.len() > 20 {
            break;
        }
    }
    failures
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

const SCRIPTS: &[(&str, &[Step])] = &[
    ("xadd", XADD),
    ("range-del-trim", RANGE_DEL_TRIM),
    ("xread", XREAD),
    ("groups", GROUPS),
    ("pending-claim", PENDING_CLAIM),
    ("info-setid", INFO_SETID),
];

#[test]
fn stream_family_matches_redis() {
    let pair = Pair::start();
    let mut failures = Vec::new();
    for resp3 in [false, true] {
        let expanded: Vec<(&str, Vec<String>)> = SCRIPTS
            .iter()
            .map(|(name, steps)| (*name, expand(steps)))
            .collect();
        let lines: Vec<Vec<&str>> = expanded
            .iter()
            .map(|(_, l)| l.iter().map(String::as_str).collect())
            .collect();
        let scripts: Vec<(&str, &[&str])> = expanded
            .iter()
            .zip(&lines)
            .map(|((name, _), l)| (*name, l.as_slice()))
            .collect();
        let tag = if resp3 { "[RESP3] " } else { "" };
        failures.extend(
            pair.run(resp3, &scripts)
                .into_iter()
                .map(|f| format!("{tag}{f}")),
        );
    }
    assert_none("RESP2/RESP3", failures);
}

#[test]
fn random_stream_sequences_match_redis() {
    let pair = Pair::start();
    let mut failures = random_sequence(&pair, false, 0x7374_7265, 3000);
    failures.extend(
        random_sequence(&pair, true, 0x7374_7266, 1000)
            .into_iter()
            .map(|f| format!("[RESP3] {f}")),
    );
    assert_none("RESP2/RESP3", failures);
}
