//! Differential tests of the string and generic families (harness: `common/differential.rs`).
//!
//! Covered: the string and generic keyspace families (every command, its options and its
//! errors), connection commands (PING, ECHO, SELECT, CLIENT GETNAME/SETNAME, HELLO, AUTH
//! without a password, RESET), CONFIG GET/SET errors, COMMAND INFO/GETKEYS, and malformed
//! requests (protocol errors, compared up to the closed connection).
//!
//! Left out on purpose: what docs/COMPATIBILITY.md lists under "Known differences" (INFO,
//! OBJECT FREQ, CLIENT SETINFO, DEBUG, SAVE/BGSAVE), COMMAND COUNT/LIST/DOCS (Cairn has fewer
//! commands), and values that depend on the clock or on identity (TIME, LASTSAVE, CLIENT ID).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use common::differential::*;

// ---------------------------------------------------------------------------------------------
// Scripts: strings
// ---------------------------------------------------------------------------------------------

const SET_GET: &[&str] = &[
    "GET missing",
    "SET k v",
    "GET k",
    "SET k \"hello world\"",
    "GET k",
    "SET k \"\"",
    "GET k",
    "SET k \"\\x00\\xff\\r\\n\"",
    "GET k",
    "SET k v NX",
    "SET k2 v XX",
    "SET k2 v NX",
    "SET k2 w XX",
    "GET k2",
    "SET k2 x GET",
    "SET k3 y GET",
    "SET k3 z NX GET",
    "SET k3 z XX GET",
    "SET k v NX XX",
    "SET k v EX 10 PX 100",
    "SET k v EX 10 KEEPTTL",
    "SET k v EX 0",
    "SET k v EX -1",
    "SET k v PX 0",
    "SET k v EX abc",
    "SET k v EX 10 EX 10",
    "SET k v ex 10 nx",
    "SET k v GET GET",
    "SET k v PX 100 KEEPTTL",
    "SET k v EXAT 4102444800 PXAT 4102444800000",
    "SET k v EX 9999999999999999",
    "SET k v PX 9223372036854775807",
    "SET k v EXAT 0",
    "SET k v PXAT abc",
    "SET k v EX",
    "SET k v FOO",
    "set K lower",
    "GET K",
    "Get k",
    "SET",
    "SET k",
    "GET",
    "GET a b",
];

const SET_EXPIRY: &[&str] = &[
    "SET k v EX 100",
    "TTL k",
    "near 1500: PTTL k",
    "SET k v PX 100000",
    "TTL k",
    "SET k v EXAT 4102444800",
    "EXPIRETIME k",
    "PEXPIRETIME k",
    "SET k v PXAT 4102444800123",
    "PEXPIRETIME k",
    "EXPIRETIME k",
    "SET k w KEEPTTL",
    "PEXPIRETIME k",
    "SET k x",
    "TTL k",
    "SET k v EXAT 1",
    "EXISTS k",
    "SET k v PXAT 1",
    "GET k",
    "SET k v EX 100 GET",
    "SET k v2 KEEPTTL GET",
    "TTL k",
    "SETEX s 100 v",
    "TTL s",
    "GET s",
    "SETEX s 0 v",
    "SETEX s -5 v",
    "SETEX s abc v",
    "SETEX s 9999999999999999 v",
    "PSETEX p 100000 v",
    "TTL p",
    "PSETEX p 0 v",
    "PSETEX p abc v",
    "SETEX s 100",
];

const SETNX_MSET: &[&str] = &[
    "SETNX a 1",
    "SETNX a 2",
    "GET a",
    "MSET a 1 b 2 c 3",
    "MGET a b c missing",
    "MSET a",
    "MSET a 1 b",
    "MSETNX x 1 y 2",
    "MSETNX x 1 z 2",
    "MGET x y z",
    "MSETNX x",
    "MSETNX x 1 y",
    "MGET",
    "MGET missing",
    "MSET a \"\" b \"with space\"",
    "MGET a b",
    "GETSET a new",
    "GETSET fresh v",
    "GET a",
    "GETSET a",
    "GETDEL a",
    "GETDEL a",
    "EXISTS a",
    "GETDEL a b",
];

const GETEX: &[&str] = &[
    "GETEX missing",
    "SET k v",
    "GETEX k",
    "GETEX k EX 100",
    "TTL k",
    "GETEX k PX 200000",
    "TTL k",
    "GETEX k EXAT 4102444800",
    "EXPIRETIME k",
    "GETEX k PXAT 4102444800555",
    "PEXPIRETIME k",
    "GETEX k PERSIST",
    "TTL k",
    "GETEX k EX 0",
    "GETEX k EX -1",
    "GETEX k PX 0",
    "GETEX k EX abc",
    "GETEX k EX 9999999999999999",
    "GETEX k EX 10 PX 10",
    "GETEX k EX 10 PERSIST",
    "GETEX k PERSIST EX 10",
    "GETEX k EX",
    "GETEX k FOO",
    "GETEX k EXAT 1",
    "EXISTS k",
    "GETEX missing EX 100",
];

const APPEND_RANGES: &[&str] = &[
    "APPEND k hello",
    "APPEND k \" world\"",
    "GET k",
    "STRLEN k",
    "STRLEN missing",
    "GETRANGE k 0 4",
    "GETRANGE k -5 -1",
    "GETRANGE k 0 -1",
    "GETRANGE k 5 3",
    "GETRANGE k -100 100",
    "GETRANGE k 100 200",
    "GETRANGE k -1 -5",
    "GETRANGE k 0 0",
    "GETRANGE missing 0 10",
    "GETRANGE k a 1",
    "GETRANGE k 0 b",
    "GETRANGE k 0",
    "SUBSTR k 0 4",
    "SUBSTR k -3 -1",
    "SUBSTR k x 1",
    "SETRANGE k 6 WORLD",
    "GET k",
    "SETRANGE k 20 !",
    "GET k",
    "SETRANGE k -1 x",
    "SETRANGE k 536870912 x",
    "SETRANGE k 536870911 \"\"",
    "SETRANGE k abc x",
    "SETRANGE new 0 \"\"",
    "EXISTS new",
    "SETRANGE new 3 abc",
    "GET new",
    "STRLEN new",
    "SET n 12",
    "APPEND n 34",
    "GET n",
    "INCR n",
    "APPEND k",
];

const COUNTERS: &[&str] = &[
    "INCR c",
    "INCR c",
    "DECR c",
    "DECR fresh",
    "INCRBY c 10",
    "INCRBY c -20",
    "DECRBY c 5",
    "DECRBY c -5",
    "GET c",
    "INCRBY c abc",
    "INCRBY c 1.5",
    "INCRBY c \" 1\"",
    "INCRBY c 99999999999999999999",
    "SET big 9223372036854775807",
    "INCR big",
    "INCRBY big 1",
    "INCRBY big -1",
    "SET small -9223372036854775808",
    "DECR small",
    "DECRBY small 1",
    "DECRBY c -9223372036854775808",
    "INCRBY c -9223372036854775808",
    "SET s abc",
    "INCR s",
    "DECR s",
    "SET s \" 12\"",
    "INCR s",
    "SET s \"12 \"",
    "INCR s",
    "SET s 012",
    "INCR s",
    "SET s +5",
    "INCR s",
    "SET s -0",
    "INCR s",
    "SET s 99999999999999999999",
    "INCR s",
    "SET s \"\"",
    "INCR s",
    "INCR",
    "INCRBY c",
    "DECRBY c 1 2",
];

const FLOATS: &[&str] = &[
    "INCRBYFLOAT f 10.5",
    "INCRBYFLOAT f 0.1",
    "INCRBYFLOAT f -5",
    "INCRBYFLOAT f 5.0e3",
    "INCRBYFLOAT f 2.0e-2",
    "GET f",
    "SET f 3",
    "INCRBYFLOAT f 1.5",
    "SET f 1e3",
    "INCRBYFLOAT f 1",
    "SET f 0.1",
    "INCRBYFLOAT f 0.2",
    "INCRBYFLOAT f 1e300",
    "INCRBYFLOAT f 1e308",
    "INCRBYFLOAT f 1e308",
    "INCRBYFLOAT f inf",
    "INCRBYFLOAT f -inf",
    "INCRBYFLOAT f nan",
    "INCRBYFLOAT f abc",
    "INCRBYFLOAT f \"\"",
    "INCRBYFLOAT f \" 1\"",
    "INCRBYFLOAT f 1e400",
    "SET f abc",
    "INCRBYFLOAT f 1",
    "SET f \"1 \"",
    "INCRBYFLOAT f 1",
    "SET f 10",
    "INCRBYFLOAT f -10",
    "SET f 17179869184",
    "INCRBYFLOAT f 0.5",
    "SET f 5.0e3",
    "INCRBYFLOAT f 0",
    "INCRBYFLOAT f",
];

const LCS: &[&str] = &[
    "MSET key1 ohmytext key2 mynewtext",
    "LCS key1 key2",
    "LCS key1 key2 LEN",
    "LCS key1 key2 IDX",
    "LCS key1 key2 IDX MINMATCHLEN 4",
    "LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN",
    "LCS key1 key2 IDX WITHMATCHLEN",
    "LCS key1 missing",
    "LCS missing1 missing2 LEN",
    "LCS key1 key2 LEN IDX",
    "LCS key1 key2 MINMATCHLEN abc",
    "LCS key1 key2 FOO",
    "LCS key1 key2 MINMATCHLEN",
    "LCS key1",
    "MSET a ABCBDAB b BDCABA",
    "LCS a b",
    "LCS a b IDX",
    "LCS a b IDX MINMATCHLEN -1 WITHMATCHLEN",
];

const ENCODINGS: &[&str] = &[
    "SET i 12345",
    "OBJECT ENCODING i",
    "SET e abc",
    "SET r 01234567890123456789012345678901234567890123456789",
    "OBJECT ENCODING r",
    "SET b 12345678901234567890",
    "OBJECT ENCODING b",
    "SET n -42",
    "OBJECT ENCODING n",
    "SET z 007",
    "OBJECT ENCODING z",
    "SET x44 01234567890123456789012345678901234567890123",
    "OBJECT ENCODING x44",
    "SET x45 012345678901234567890123456789012345678901234",
    "OBJECT ENCODING x45",
    "OBJECT ENCODING e",
    "INCR i",
    "OBJECT ENCODING i",
    "INCRBYFLOAT fl 1.5",
    "OBJECT ENCODING fl",
    "OBJECT ENCODING missing",
    "OBJECT ENCODING e",
    "OBJECT REFCOUNT e",
    "OBJECT REFCOUNT missing",
    "near 1: OBJECT IDLETIME e",
    "OBJECT IDLETIME missing",
    "OBJECT ENCODING",
    "OBJECT FOO k",
    "OBJECT",
];

// ---------------------------------------------------------------------------------------------
// Scripts: generic keyspace
// ---------------------------------------------------------------------------------------------

const EXISTS_DEL: &[&str] = &[
    "MSET a 1 b 2 c 3",
    "EXISTS a",
    "EXISTS a b missing a",
    "EXISTS missing",
    "DBSIZE",
    "TYPE a",
    "TYPE missing",
    "TOUCH a b missing",
    "DEL a missing",
    "DEL a",
    "UNLINK b c missing",
    "DBSIZE",
    "DEL",
    "EXISTS",
    "TYPE",
    "DBSIZE x",
    "MSET k1 1 k2 2",
    "DEL k1 k2 k1",
];

const EXPIRE: &[&str] = &[
    "SET k v",
    "TTL k",
    "PTTL k",
    "EXPIRETIME k",
    "PEXPIRETIME k",
    "TTL missing",
    "PTTL missing",
    "EXPIRETIME missing",
    "PEXPIRETIME missing",
    "EXPIRE k 100",
    "TTL k",
    "near 1500: PTTL k",
    "EXPIRE missing 100",
    "EXPIRE k 200 NX",
    "EXPIRE k 200 XX",
    "TTL k",
    "EXPIRE k 100 GT",
    "EXPIRE k 300 GT",
    "TTL k",
    "EXPIRE k 400 LT",
    "EXPIRE k 150 LT",
    "TTL k",
    "EXPIRE k 100 NX XX",
    "EXPIRE k 100 GT LT",
    "EXPIRE k 100 NX GT",
    "EXPIRE k 100 FOO",
    "EXPIRE k abc",
    "EXPIRE k 1.5",
    "EXPIRE k 9223372036854775807",
    "EXPIRE k 9223370000000000",
    "EXPIRE k -9223372036854775808",
    "PERSIST k",
    "PERSIST k",
    "PERSIST missing",
    "TTL k",
    "SET nottl v",
    "EXPIRE nottl 100 XX",
    "EXPIRE nottl 100 GT",
    "EXPIRE nottl 100 LT",
    "TTL nottl",
    "EXPIRE nottl 100 NX",
    "EXPIRE nottl 0",
    "EXISTS nottl",
    "SET neg v",
    "EXPIRE neg -10",
    "GET neg",
    "EXPIRE k",
    "PERSIST",
    "TTL",
];

const PEXPIRE_AT: &[&str] = &[
    "SET k v",
    "PEXPIRE k 100000",
    "TTL k",
    "PEXPIRE k 200000 NX",
    "PEXPIRE k 300000 GT",
    "TTL k",
    "PEXPIRE k abc",
    "PEXPIRE k 9223372036854775807",
    "PEXPIRE k -1",
    "EXISTS k",
    "SET k v",
    "EXPIREAT k 4102444800",
    "EXPIRETIME k",
    "PEXPIRETIME k",
    "EXPIREAT k 4102444801 NX",
    "EXPIREAT k 4102444801 XX",
    "EXPIRETIME k",
    "EXPIREAT k 4102444700 GT",
    "EXPIREAT k 4102444700 LT",
    "EXPIRETIME k",
    "EXPIREAT k abc",
    "EXPIREAT k 9223372036854775807",
    "EXPIREAT k 1",
    "EXISTS k",
    "SET k v",
    "PEXPIREAT k 4102444800999",
    "PEXPIRETIME k",
    "EXPIRETIME k",
    "PEXPIREAT k 4102444801000 GT",
    "PEXPIRETIME k",
    "PEXPIREAT k 9223372036854775807",
    "PEXPIRETIME k",
    "PEXPIREAT k -1",
    "EXISTS k",
    "PEXPIREAT missing 4102444800000",
    "EXPIREAT missing 4102444800",
    "PEXPIREAT k",
];

/// Keys whose time has passed are gone for every command, before any background removal.
const EXPIRED_KEYS: &[&str] = &[
    "SET a 1 PX 30",
    "SET b 2 PX 30",
    "SET c 3 PX 30",
    "SET d 4 PX 30",
    "SET e 5 PX 30",
    "SET f 6 PX 30",
    "SET g 7 PX 30",
    "SET h 8 PX 30",
    "SET keep v",
    "DEBUG SET-ACTIVE-EXPIRE 0",
    "sleep 150",
    "GET a",
    "EXISTS a b",
    "TTL b",
    "PTTL b",
    "TYPE b",
    "STRLEN c",
    "GETRANGE c 0 -1",
    "sort: KEYS *",
    "sort: SCAN 0 COUNT 100",
    "RANDOMKEY",
    "APPEND c x",
    "GET c",
    "TTL c",
    "INCR d",
    "TTL d",
    "SETNX e new",
    "GET e",
    "RENAME f g2",
    "COPY g g3",
    "EXPIRE h 100",
    "PERSIST h",
    "GETDEL h",
    "GETEX h",
    "SET a again NX GET",
    "MGET a b c d e",
    "DEBUG SET-ACTIVE-EXPIRE 1",
];

const RENAME_COPY: &[&str] = &[
    "SET a 1",
    "EXPIRE a 100",
    "RENAME a b",
    "GET a",
    "GET b",
    "TTL b",
    "RENAME missing x",
    "RENAME b b",
    "GET b",
    "RENAME missing missing",
    "SET c 3",
    "RENAMENX b c",
    "RENAMENX b d",
    "RENAMENX b d",
    "RENAMENX missing e",
    "RENAMENX d d",
    "GET d",
    "TTL d",
    "COPY d e",
    "GET e",
    "TTL e",
    "COPY d e",
    "COPY d e REPLACE",
    "COPY d d",
    "COPY missing e",
    "COPY d f DB 1",
    "COPY d f DB 99",
    "COPY d f DB -1",
    "COPY d f DB abc",
    "COPY d f FOO",
    "COPY d f DB",
    "COPY d f REPLACE REPLACE",
    "COPY d d DB 0",
    "COPY d d DB 1",
    "COPY d d DB 1 REPLACE",
    "SELECT 1",
    "GET f",
    "TTL f",
    "GET d",
    "FLUSHDB",
    "SELECT 0",
    "RENAME a",
    "COPY d",
];

const DATABASES: &[&str] = &[
    "SET a 1",
    "MOVE a 1",
    "EXISTS a",
    "MOVE a 1",
    "SELECT 1",
    "GET a",
    "SET a 2",
    "SELECT 0",
    "SET a 0",
    "MOVE a 1",
    "MOVE a 0",
    "MOVE missing 1",
    "MOVE a 16",
    "SET t 1 EX 100",
    "MOVE t 1",
    "SELECT 1",
    "TTL t",
    "SELECT 0",
    "MOVE a -1",
    "MOVE a abc",
    "SELECT 16",
    "SELECT -1",
    "SELECT abc",
    "SELECT 1.5",
    "SELECT",
    "SWAPDB 0 1",
    "GET a",
    "SELECT 1",
    "GET a",
    "SELECT 0",
    "SWAPDB 0 0",
    "SWAPDB 0 16",
    "SWAPDB -1 0",
    "SWAPDB a 0",
    "SWAPDB 0 b",
    "SWAPDB 0",
    "DBSIZE",
    "FLUSHDB",
    "DBSIZE",
    "SELECT 1",
    "DBSIZE",
    "FLUSHDB ASYNC",
    "FLUSHDB SYNC",
    "FLUSHDB FOO",
    "FLUSHDB SYNC ASYNC",
    "SET x 1",
    "SELECT 2",
    "SET y 1",
    "FLUSHALL SYNC",
    "DBSIZE",
    "SELECT 1",
    "DBSIZE",
    "FLUSHALL ASYNC",
    "FLUSHALL FOO",
    "FLUSHALL SYNC SYNC",
];

const KEYS_SCAN: &[&str] = &[
    "MSET user:1 a user:2 b user:10 c other x \"h\\x00llo\" y",
    "sort: KEYS *",
    "sort: KEYS user:*",
    "sort: KEYS user:?",
    "sort: KEYS user:[12]",
    "sort: KEYS user:[^1]",
    "sort: KEYS *1*",
    "sort: KEYS \"\"",
    "sort: KEYS nomatch*",
    "sort: KEYS [a-o]*",
    "sort: KEYS \\\\*",
    "sort: SCAN 0 COUNT 1000",
    "sort: SCAN 0 MATCH user:* COUNT 1000",
    "sort: SCAN 0 COUNT 1000 TYPE string",
    "sort: SCAN 0 COUNT 1000 TYPE list",
    "sort: SCAN 0 COUNT 1000 TYPE nosuchtype",
    "SCAN abc",
    "SCAN 0 COUNT 0",
    "SCAN 0 COUNT -1",
    "SCAN 0 COUNT abc",
    "SCAN 0 MATCH",
    "SCAN 0 FOO bar",
    "SCAN 0 COUNT",
    "SCAN",
    "KEYS",
    "KEYS a b",
    "FLUSHALL",
    "RANDOMKEY",
    "SET only 1",
    "RANDOMKEY",
    "RANDOMKEY x",
    "SCAN 0",
];

// ---------------------------------------------------------------------------------------------
// Scripts: connection, server, errors
// ---------------------------------------------------------------------------------------------

const CONNECTION: &[&str] = &[
    "PING",
    "PING hello",
    "PING \"\"",
    "PING a b",
    "ping",
    "ECHO hi",
    "ECHO \"\"",
    "ECHO",
    "ECHO a b",
    "CLIENT GETNAME",
    "CLIENT SETNAME conn-1",
    "CLIENT GETNAME",
    "CLIENT SETNAME \"with space\"",
    "CLIENT SETNAME \"new\\nline\"",
    "CLIENT GETNAME",
    "CLIENT SETNAME \"\"",
    "CLIENT GETNAME",
    "CLIENT SETNAME",
    "CLIENT SETNAME a b",
    "CLIENT GETNAME x",
    "CLIENT FOO",
    "CLIENT",
    "CLIENT NO-EVICT on",
    "CLIENT NO-EVICT maybe",
    "CLIENT REPLY ON",
    "CLIENT REPLY FOO",
    "CLIENT KILL 1.2.3.4:5",
    "CLIENT KILL ID 0",
    "CLIENT KILL ID abc",
    "CLIENT KILL FOO bar",
    "CLIENT LIST TYPE foo",
    "CLIENT LIST ID abc",
    "CLIENT LIST FOO",
    "shape: HELLO",
    "shape: HELLO 2",
    "HELLO 4",
    "HELLO 1",
    "HELLO abc",
    "HELLO 2 FOO",
    "HELLO 2 AUTH default",
    "HELLO 2 AUTH nobody pw",
    "shape: HELLO 2 AUTH default anything",
    "shape: HELLO 2 SETNAME hello-name",
    "CLIENT GETNAME",
    "HELLO 2 SETNAME \"bad name\"",
    "AUTH pw",
    "AUTH default pw",
    "AUTH nobody pw",
    "AUTH a b c",
    "SELECT 3",
    "SET in3 v",
    "RESET",
    "GET in3",
    "CLIENT GETNAME",
];

const ERRORS: &[&str] = &[
    "NOSUCHCOMMAND",
    "NOSUCHCOMMAND a b",
    "nosuch \"arg with space\" \"\"",
    "\"\"",
    "OBJECT HELP",
    "CONFIG FOO",
    "CONFIG",
    "CONFIG GET",
    "CONFIG GET maxclients",
    "CONFIG GET timeout",
    "CONFIG GET proto-max-bulk-len",
    "CONFIG GET client-query-buffer-limit",
    "CONFIG GET databases",
    "CONFIG GET nosuchoption",
    "CONFIG SET",
    "CONFIG SET timeout",
    "CONFIG SET nosuchoption 1",
    "CONFIG SET databases 4",
    "CONFIG SET timeout abc",
    "CONFIG SET timeout 0",
    "CONFIG SET maxclients abc",
    "CONFIG SET proto-max-bulk-len 1000",
    "CONFIG SET proto-max-bulk-len abc",
    "CONFIG SET proto-max-bulk-len 512mb",
    "CONFIG GET proto-max-bulk-len",
    "CONFIG SET client-query-buffer-limit 1000",
    "CONFIG SET client-query-buffer-limit 1gb",
    "CONFIG GET client-query-buffer-limit",
    "COMMAND INFO nosuchcommand",
    "COMMAND GETKEYS SET a b",
    "COMMAND GETKEYS MSET a 1 b 2",
    "COMMAND GETKEYS COPY a b",
    "COMMAND GETKEYS nosuch a",
    "COMMAND FOO",
];

// ---------------------------------------------------------------------------------------------
// Scripts that found Cairn bugs (kept apart so that each failure names one bug)
// ---------------------------------------------------------------------------------------------

/// CONFIG SET's argument checks (crates/server/src/admin.rs `config_set`, `set_option`).
/// The collection encoding thresholds (kept in the engine, set through the log).
const ENCODING_CONFIG: &[&str] = &[
    "sort: CONFIG GET *listpack*",
    "sort: CONFIG GET *ziplist*",
    "CONFIG GET set-max-intset-entries",
    "CONFIG GET hll-sparse-max-bytes",
    "CONFIG SET hash-max-ziplist-entries 5 zset-max-listpack-value 1kb",
    "sort: CONFIG GET *listpack*",
    "CONFIG SET set-max-intset-entries -1",
    "CONFIG SET set-max-intset-entries abc",
    "CONFIG SET list-max-listpack-size -2147483649",
    "CONFIG SET list-max-listpack-size -3",
    "CONFIG GET list-max-ziplist-size",
    "CONFIG SET hll-sparse-max-bytes 100 hll-sparse-max-bytes 200",
    "CONFIG SET hll-sparse-max-bytes 100",
    "CONFIG GET hll-sparse-max-bytes",
];

const CONFIG_SET_VALIDATION: &[&str] = &[
    "CONFIG SET timeout 0 maxclients",
    "CONFIG SET timeout -1",
    "CONFIG SET timeout 0 timeout 0",
    "CONFIG SET maxclients 0",
    // Undoes a wrongly accepted `maxclients 0`, which would lock out the next connections.
    "CONFIG SET maxclients 10000",
];

/// client-output-buffer-limit in Redis's form: classes with hard, soft limits and seconds.
const OUTPUT_LIMIT_CONFIG: &[&str] = &[
    "CONFIG GET client-output-buffer-limit",
    "CONFIG SET client-output-buffer-limit \"normal 1mb 2mb 10\"",
    "CONFIG GET client-output-buffer-limit",
    "CONFIG SET client-output-buffer-limit \"normal 1mb\"",
    "CONFIG SET client-output-buffer-limit \"nosuchclass 1mb 0 0\"",
    "CONFIG SET client-output-buffer-limit \"normal x 0 0\"",
    "CONFIG SET client-output-buffer-limit \"normal 0 0 0\"",
    "CONFIG GET client-output-buffer-limit",
];

/// COMMAND INFO (for commands whose single range key spec and empty tips are Redis's too:
/// docs/COMPATIBILITY.md lists the simplification), COMMAND GETKEYS's arity.
const COMMAND_INTROSPECTION: &[&str] = &[
    "COMMAND INFO get incrbyfloat lcs",
    "COMMAND GETKEYS PING",
    "COMMAND GETKEYS GET",
    "COMMAND GETKEYS EVAL \"return 1\" 0",
    "COMMAND GETKEYS EVAL \"return 1\" 2 a b",
    "COMMAND GETKEYS FCALL f 0",
    "COMMAND GETKEYS ZUNIONSTORE d 0 a",
    "COMMAND GETKEYSANDFLAGS SET k1 v1",
    "COMMAND GETKEYSANDFLAGS MSET k1 v1 k2 v2",
    "COMMAND GETKEYSANDFLAGS LMOVE k1 k2 left right",
    "COMMAND GETKEYSANDFLAGS SORT k1 STORE k2",
    "COMMAND GETKEYSANDFLAGS EVAL \"return 1\" 1 k",
    "COMMAND GETKEYSANDFLAGS PING",
    "COMMAND GETKEYSANDFLAGS GET",
    "COMMAND GETKEYSANDFLAGS nosuch a",
];

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn string_family_matches_redis() {
    check_both_protocols(&[
        ("set-get", SET_GET),
        ("set-expiry", SET_EXPIRY),
        ("setnx-mset", SETNX_MSET),
        ("getex", GETEX),
        ("append-ranges", APPEND_RANGES),
        ("counters", COUNTERS),
        ("floats", FLOATS),
        ("lcs", LCS),
        ("encodings", ENCODINGS),
    ]);
}

#[test]
fn keyspace_family_matches_redis() {
    check_both_protocols(&[
        ("exists-del", EXISTS_DEL),
        ("expire", EXPIRE),
        ("pexpire-at", PEXPIRE_AT),
        ("expired-keys", EXPIRED_KEYS),
        ("rename-copy", RENAME_COPY),
        ("databases", DATABASES),
        ("keys-scan", KEYS_SCAN),
    ]);
}

#[test]
fn connection_and_server_commands_match_redis() {
    check_both_protocols(&[("connection", CONNECTION), ("errors", ERRORS)]);
}

#[test]
fn config_set_validation_matches_redis() {
    check_both_protocols(&[
        ("config-set", CONFIG_SET_VALIDATION),
        ("encoding-config", ENCODING_CONFIG),
    ]);
}

#[test]
fn client_output_buffer_limit_config_matches_redis() {
    check_both_protocols(&[("output-limit", OUTPUT_LIMIT_CONFIG)]);
}

#[test]
fn command_introspection_matches_redis() {
    check_both_protocols(&[("command", COMMAND_INTROSPECTION)]);
}

#[test]
fn binary_values_match_redis() {
    let pair = Pair::start();
    let mut failures = Vec::new();
    let (mut redis, mut cairn) = pair.connect(false, &mut failures);
    let all: Vec<u8> = (0..=255).collect();
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let script: Vec<Vec<Vec<u8>>> = vec![
        vec![b"SET".to_vec(), all.clone(), all.clone()],
        vec![b"GET".to_vec(), all.clone()],
        vec![b"STRLEN".to_vec(), all.clone()],
        vec![b"APPEND".to_vec(), all.clone(), all.clone()],
        vec![
            b"GETRANGE".to_vec(),
            all.clone(),
            b"250".to_vec(),
            b"260".to_vec(),
        ],
        vec![b"SET".to_vec(), b"big".to_vec(), big.clone()],
        vec![b"GET".to_vec(), b"big".to_vec()],
        vec![b"STRLEN".to_vec(), b"big".to_vec()],
        vec![b"LCS".to_vec(), all.clone(), all.clone(), b"LEN".to_vec()],
        vec![b"KEYS".to_vec(), b"*".to_vec()],
    ];
    for argv in script {
        let label = format!("binary: {}", show(&argv[0]));
        exchange(
            &mut redis,
            &mut cairn,
            &label,
            &(Mode::Sorted, argv),
            &mut failures,
        );
    }
    assert_none("RESP2", failures);
}

// ---------------------------------------------------------------------------------------------
// Malformed requests: everything the server sends until it closes the connection
// ---------------------------------------------------------------------------------------------

/// Sends `bytes` on a fresh connection, half-closes nothing, and reads until the server
/// closes (every case ends in a protocol error or QUIT). Errors on write or read count as the
/// end: the server may close while the request is still arriving.
fn transcript(addr: &str, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                out.extend_from_slice(b"<still open after 20 s>");
                break;
            }
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    out
}

fn protocol_cases() -> Vec<(&'static str, Vec<u8>)> {
    let mut cases: Vec<(&'static str, Vec<u8>)> = vec![
        ("negative bulk length", b"*1\r\n$-2\r\n".to_vec()),
        ("bulk length -1", b"*2\r\n$3\r\nGET\r\n$-1\r\n".to_vec()),
        ("multibulk over i32", b"*2147483648\r\n".to_vec()),
        ("multibulk not a number", b"*abc\r\n".to_vec()),
        ("multibulk with plus", b"*+1\r\n$4\r\nPING\r\n".to_vec()),
        ("bulk not a number", b"*1\r\n$abc\r\n".to_vec()),
        ("bulk over the limit", b"*1\r\n$536870913\r\n".to_vec()),
        ("expected dollar", b"*1\r\nx\r\n".to_vec()),
        ("expected dollar, colon", b"*2\r\n$4\r\nECHO\r\n:1\r\n".to_vec()),
        ("unbalanced double quote", b"SET k \"abc\r\n".to_vec()),
        ("unbalanced single quote", b"SET k 'abc\r\n".to_vec()),
        ("quote glued to text", b"SET k \"a\"b\r\n".to_vec()),
        ("negative multibulk ignored", b"*-5\r\nPING\r\nQUIT\r\n".to_vec()),
        ("empty multibulk ignored", b"*0\r\n*1\r\n$4\r\nPING\r\nQUIT\r\n".to_vec()),
        ("empty lines ignored", b"\r\n\n  \r\nPING\nQUIT\r\n".to_vec()),
        (
            "inline quoting",
            b"SET k \"a\\x41\\tb\" \r\nGET k\r\nSET k 'it\\'s'\r\nGET k\r\nQUIT\r\n".to_vec(),
        ),
        ("inline unknown command", b"FOO bar\r\nQUIT\r\n".to_vec()),
        ("inline wrong arity", b"GET\r\nQUIT\r\n".to_vec()),
        (
            "payload terminator not checked",
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nvXX*2\r\n$3\r\nGET\r\n$1\r\nk\r\nQUIT\r\n".to_vec(),
        ),
        ("pipeline then error", b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n".to_vec()),
        ("quit with arguments", b"QUIT now\r\n".to_vec()),
        (
            "client reply modes",
            b"CLIENT REPLY SKIP\r\nPING a\r\nPING b\r\nCLIENT REPLY OFF\r\nPING c\r\nSET k v\r\nCLIENT REPLY ON\r\nGET k\r\nQUIT\r\n".to_vec(),
        ),
    ];
    // Longest lines: one byte over 64 KiB and nothing after it (see `transcript`).
    let limit = 64 * 1024;
    cases.push(("inline too big", vec![b'a'; limit + 1]));
    let mut mbulk = b"*".to_vec();
    mbulk.extend(std::iter::repeat_n(b'1', limit + 1));
    cases.push(("mbulk count too big", mbulk));
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend(std::iter::repeat_n(b'1', limit + 1));
    cases.push(("bulk count too big", bulk));
    cases
}

#[test]
fn protocol_errors_match_redis() {
    let pair = Pair::start();
    let mut failures = Vec::new();
    for (name, bytes) in protocol_cases() {
        let expected = transcript(&pair.oracle.addr(), &bytes);
        let actual = transcript(&pair.cairn.addr(), &bytes);
        if expected != actual {
            failures.push(format!(
                "{name}\n    redis: {}\n    cairn: {}",
                show(&expected),
                show(&actual)
            ));
        }
    }
    assert_none("raw RESP2", failures);
}

#[test]
fn script_words_and_relaxed_comparisons() {
    assert_eq!(
        words("SET \"a b\" \"\\x00\\\"\" c"),
        [
            b"SET".to_vec(),
            b"a b".to_vec(),
            b"\x00\"".to_vec(),
            b"c".to_vec()
        ]
    );
    assert!(agree(
        Mode::Sorted,
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
        b"*2\r\n$1\r\nb\r\n$1\r\na\r\n"
    ));
    assert!(!agree(
        Mode::Sorted,
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
        b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"
    ));
    assert!(agree(Mode::Near(2), b":100\r\n", b":98\r\n"));
    assert!(!agree(Mode::Near(2), b":100\r\n", b":97\r\n"));
    assert!(agree(
        Mode::Shape,
        b"%1\r\n$2\r\nid\r\n:5\r\n",
        b"%1\r\n$2\r\nid\r\n:7\r\n"
    ));
    assert!(!agree(Mode::Exact, b"$-1\r\n", b"_\r\n"));
}
