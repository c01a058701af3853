//! Differential tests of scripting against redis-server 7.0.15 (harness:
//! `common/differential.rs`): every command of the scripting transcripts (EVAL and the redis.*
//! API, the sandbox, cjson/cmsgpack/struct/bit, FUNCTION and FCALL), over RESP2 and RESP3,
//! plus a seeded random sequence of scripts compared reply by reply.
//!
//! Left out on purpose: math.random without a seed (Cairn seeds it from the log entry, Redis
//! continues one sequence for the process), and reading a cjson setting a previous script
//! changed (Cairn resets them per invocation: a setting that outlived the script would be
//! state the log does not carry).

mod common;

use common::differential::*;

/// The command lines (`> ...`) of a transcript.
fn transcript_commands(name: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../engine/tests/transcripts")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter_map(|l| l.strip_prefix("> "))
        .filter(|l| !l.contains("encode_max_depth()"))
        .map(str::to_owned)
        .collect()
}

fn check_owned(scripts: &[(&str, Vec<String>)]) {
    let lines: Vec<Vec<&str>> = scripts
        .iter()
        .map(|(_, l)| l.iter().map(String::as_str).collect())
        .collect();
    let named: Vec<(&str, &[&str])> = scripts
        .iter()
        .zip(&lines)
        .map(|((name, _), l)| (*name, l.as_slice()))
        .collect();
    check_both_protocols(&named);
}

/// Scripts and functions live outside the keyspace: every script starts from empty caches.
fn fresh(mut lines: Vec<String>) -> Vec<String> {
    lines.insert(0, "SCRIPT FLUSH".to_owned());
    lines.insert(1, "FUNCTION FLUSH".to_owned());
    lines
}

#[test]
fn eval_and_the_redis_api_match_redis() {
    check_owned(&[("script-eval", fresh(transcript_commands("script-eval.txt")))]);
}

#[test]
fn lua_libraries_match_redis() {
    check_owned(&[(
        "script-libraries",
        fresh(transcript_commands("script-libraries.txt")),
    )]);
}

#[test]
fn functions_match_redis() {
    check_owned(&[(
        "function-basic",
        fresh(transcript_commands("function-basic.txt")),
    )]);
}

const RESP3_REPLIES: &[&str] = &[
    "SCRIPT FLUSH",
    "HSET h a 1 b 2",
    "SADD s x",
    "ZADD z 1.5 m",
    "EVAL \"return true\" 0",
    "EVAL \"return false\" 0",
    "EVAL \"redis.setresp(3); return true\" 0",
    "EVAL \"redis.setresp(3); return false\" 0",
    "EVAL \"return {double=1.25}\" 0",
    "EVAL \"return {map={a=1}}\" 0",
    "EVAL \"return {set={x=true}}\" 0",
    "EVAL \"redis.setresp(3); return redis.call('hgetall','h')\" 0",
    "EVAL \"redis.setresp(3); return redis.call('smembers','s')\" 0",
    "EVAL \"redis.setresp(3); return redis.call('zscore','z','m')\" 0",
    "EVAL \"redis.setresp(3); return redis.call('get','nokey')\" 0",
    "EVAL \"redis.setresp(3); return redis.call('zrange','z',0,-1,'withscores')\" 0",
    "EVAL \"return redis.call('zrange','z',0,-1,'withscores')\" 0",
    "EVAL \"return redis.call('hgetall','h')\" 0",
    "EVAL \"return {verbatim_string={format='txt', string='hi'}}\" 0",
];

/// Past `maxmemory` (1 byte: both servers are always over it): scripts with flags are
/// refused unless `allow-oom` or `no-writes`; a script without flags may read, and may not
/// start writing with a command that can add data; XREAD BLOCK is refused in scripts.
const PAST_MAXMEMORY: &[&str] = &[
    "SCRIPT FLUSH",
    "FUNCTION FLUSH",
    "SET x 123",
    "FUNCTION LOAD \"#!lua name=oomlib\\nredis.register_function('f1', function() return redis.call('set', 'x', '1') end)\\nredis.register_function{function_name='f2', callback=function() return 'hello' end, flags={'no-writes'}}\\nredis.register_function{function_name='f3', callback=function() return redis.call('set', 'x', '3') end, flags={'allow-oom'}}\"",
    "CONFIG SET maxmemory 1",
    "FCALL f1 0",
    "FCALL f2 0",
    "FCALL_RO f2 0",
    "FCALL f3 0",
    "EVAL \"#!lua\\nreturn 1\" 0",
    "EVAL \"#!lua flags=allow-oom\\nreturn redis.call('set','x','4')\" 0",
    "EVAL \"#!lua flags=no-writes\\nreturn redis.call('get','x')\" 0",
    "EVAL \"return redis.call('set','x','5')\" 0",
    "EVAL \"return redis.pcall('set','x','5')\" 0",
    "EVAL \"local t = redis.pcall('set','x','6'); return t['err']\" 0",
    "EVAL \"return redis.call('get','x')\" 0",
    "EVAL \"redis.call('del','x'); return redis.call('set','x','7')\" 0",
    "GET x",
    "MULTI",
    "EVAL \"#!lua\\nreturn 1\" 0",
    "EXEC",
    "EVAL_RO \"return redis.call('get','x')\" 0",
    "CONFIG SET maxmemory 0",
    "XADD s 1-1 f v",
    "EVAL \"return redis.pcall('xread','BLOCK',0,'STREAMS','s','$')\" 0",
    "EVAL \"return redis.pcall('xread','COUNT',1,'STREAMS','s','0')\" 0",
    "XGROUP CREATE s g $",
    "EVAL \"return redis.pcall('xreadgroup','GROUP','g','c','BLOCK',0,'STREAMS','s','>')\" 0",
];

#[test]
fn scripts_past_maxmemory_match_redis() {
    check_both_protocols(&[("maxmemory", PAST_MAXMEMORY)]);
}

#[test]
fn resp3_conversions_match_redis() {
    check_both_protocols(&[("resp3", RESP3_REPLIES)]);
}

/// A seeded random sequence of scripts over a few keys: writes and reads through redis.call,
/// errors through redis.pcall, the libraries on random numbers and strings, EVALSHA of cached
/// scripts, and functions.
fn random_script(seed: u64, commands: usize) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut lines = vec![
        "SCRIPT FLUSH".to_owned(),
        "FUNCTION FLUSH".to_owned(),
        "SCRIPT LOAD \"return redis.call('incrby', KEYS[1], ARGV[1])\"".to_owned(),
        "FUNCTION LOAD \"#!lua name=rnd\\nredis.register_function('app', function(k, a) return redis.call('append', k[1], a[1]) end)\\nredis.register_function{function_name='len', callback=function(k) return redis.call('strlen', k[1]) end, flags={'no-writes'}}\"".to_owned(),
    ];
    // SHA-1 of the script SCRIPT LOAD caches above.
    let incr_sha = "65b45e1e1b8b36c8c3e885080b88ae484e64fde6";
    for _ in 0..commands {
        let key = format!("k{}", rng.u8(0..4));
        let n = rng.i64(-1000..1000);
        let m = rng.i64(-100_000..100_000);
        let line = match rng.u8(0..16) {
            0 => format!("EVAL \"return redis.call('set', KEYS[1], ARGV[1])\" 1 {key} {n}"),
            1 => format!("EVAL \"return redis.call('get', KEYS[1])\" 1 {key}"),
            2 => format!("EVAL \"return redis.pcall('incrby', KEYS[1], ARGV[1])\" 1 {key} {n}"),
            3 => format!("EVAL \"return redis.call('incrby', KEYS[1], ARGV[1])\" 1 {key} {n}"),
            4 => format!(
                "EVAL \"return redis.pcall('lpush', KEYS[1], ARGV[1], ARGV[2])\" 1 {key} {n} {m}"
            ),
            5 => format!("EVAL \"return redis.pcall('lrange', KEYS[1], 0, -1)\" 1 {key}"),
            6 => format!("EVAL \"return redis.call('del', KEYS[1])\" 1 {key}"),
            7 => format!(
                "EVAL \"return cjson.encode({{tonumber(ARGV[1]), ARGV[2], {{x=tonumber(ARGV[1])/7}}}})\" 0 {n} s{m}"
            ),
            8 => format!(
                "EVAL \"return cmsgpack.pack(tonumber(ARGV[1]), tonumber(ARGV[2]) / 3, ARGV[1])\" 0 {n} {m}"
            ),
            9 => format!(
                "EVAL \"return {{struct.unpack('>i4h', struct.pack('>i4h', tonumber(ARGV[1]), tonumber(ARGV[2]) % 30000))}}\" 0 {m} {n}"
            ),
            10 => format!(
                "EVAL \"return {{bit.band(ARGV[1], ARGV[2]), bit.bxor(ARGV[1], ARGV[2]), bit.tohex(ARGV[1]), bit.rol(ARGV[1], 7)}}\" 0 {m} {n}"
            ),
            11 => format!("EVALSHA {incr_sha} 1 {key} {n}"),
            12 => format!("FCALL app 1 {key} x{n}"),
            13 => format!("FCALL_RO len 1 {key}"),
            14 => format!("EVAL \"return cjson.decode(ARGV[1])\" 0 \"[{n}, {m}, [1, 2]]\""),
            _ => format!("EVAL_RO \"return redis.call('type', KEYS[1])\" 1 {key}"),
        };
        lines.push(line);
    }
    lines
}

#[test]
fn random_script_sequences_match_redis() {
    check_owned(&[("random-script", random_script(0x5c21, 2000))]);
}
