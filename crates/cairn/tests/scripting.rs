//! Scripting end to end: scripts that draw random numbers, read the time and touch expiring
//! keys give the same results when a restarted node replays them from its log; the script
//! cache and FUNCTION libraries are replicated state that comes back with them; SCRIPT KILL
//! and FUNCTION KILL find nothing running between commands.
//!
//! Not here: -BUSY and killing a running script. The node runs scripts on the event loop that
//! also serves its sessions, so no other client is answered while a script runs (see
//! ARCHITECTURE.md); a runaway script is stopped by its instruction budget instead.

mod common;

use common::Cairn;

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// The values the setup left: three strings and a list.
fn state(c: &mut common::Raw) -> Vec<String> {
    let mut out: Vec<String> = ["r", "t", "c"]
        .iter()
        .map(|k| text(&c.cmd(&["GET", k])))
        .collect();
    out.push(text(&c.cmd(&["LRANGE", "l", "0", "-1"])));
    out
}

const SETUP: &[&[&str]] = &[
    &[
        "EVAL",
        "return redis.call('set', 'r', tostring(math.random()))",
        "0",
    ],
    &[
        "EVAL",
        "local t = redis.call('time'); return redis.call('set', 't', t[1] .. '.' .. t[2])",
        "0",
    ],
    &[
        "EVAL",
        "redis.call('set', 'e', 1, 'px', 1); local n = 0; for i = 1, 3000000 do n = n + i end; return redis.call('exists', 'e')",
        "0",
    ],
    &[
        "SCRIPT",
        "LOAD",
        "return redis.call('incrby', KEYS[1], math.random(1000))",
    ],
    &[
        "FUNCTION",
        "LOAD",
        "#!lua name=lib\nredis.register_function('push', function(k, a) return redis.call('rpush', k[1], math.random(100)) end)",
    ],
    &["FCALL", "push", "1", "l"],
    &["FCALL", "push", "1", "l"],
];

#[test]
fn a_restarted_node_replays_scripts_with_the_same_results() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let port = common::free_port();
    let mut node = Cairn::start_in(&dir, port, &[]);
    let mut c = node.conn();
    let mut replies = Vec::new();
    for argv in SETUP {
        replies.push(text(&c.cmd(argv)));
    }
    assert_eq!(
        replies[2], ":1\r\n",
        "time is frozen inside a script: 'e' had not expired"
    );
    let sha = replies[3].lines().nth(1).unwrap().to_owned();
    replies.push(text(&c.cmd(&["EVALSHA", &sha, "1", "c"])));
    // 'e' expired at once: whether a tick removed it before the kill is a race the digest
    // would see.
    c.cmd(&["DEL", "e"]);
    let before = state(&mut c);
    let digest = text(&c.cmd(&["DEBUG", "DIGEST"]));
    drop(c);
    node.kill9();

    let node = Cairn::start_in(&dir, port, &[]);
    let mut c = node.conn();
    assert_eq!(before, state(&mut c));
    assert_eq!(digest, text(&c.cmd(&["DEBUG", "DIGEST"])));
    // The cache and the library are replicated state: both came back from the log.
    assert_eq!(text(&c.cmd(&["SCRIPT", "EXISTS", &sha])), "*1\r\n:1\r\n");
    assert!(text(&c.cmd(&["EVALSHA", &sha, "1", "c"])).starts_with(':'));
    assert!(text(&c.cmd(&["FCALL", "push", "1", "l"])).starts_with(":3"));
}

#[test]
fn script_kill_finds_nothing_running_between_commands() {
    let node = Cairn::start(&[]);
    let mut c = node.conn();
    assert_eq!(
        text(&c.cmd(&["SCRIPT", "KILL"])),
        "-NOTBUSY No scripts in execution right now.\r\n"
    );
    assert_eq!(
        text(&c.cmd(&["FUNCTION", "KILL"])),
        "-NOTBUSY No scripts in execution right now.\r\n"
    );
}

#[test]
fn a_runaway_library_load_is_stopped_and_the_node_keeps_serving() {
    let node = Cairn::start(&[]);
    let mut c = node.conn();
    let reply = text(&c.cmd(&["FUNCTION", "LOAD", "#!lua name=x\nwhile 1 do end"]));
    assert!(reply.contains("FUNCTION LOAD timeout"), "{reply}");
    assert_eq!(text(&c.cmd(&["PING"])), "+PONG\r\n");
}

#[test]
fn a_restricted_user_s_script_calls_are_checked_against_its_rules() {
    let node = Cairn::start(&[]);
    let mut admin = node.conn();
    assert_eq!(
        admin.cmd(&[
            "ACL",
            "SETUSER",
            "app",
            "on",
            ">pw",
            "~app:*",
            "+@all",
            "-flushall"
        ]),
        b"+OK\r\n"
    );
    admin.cmd(&["SET", "secret", "s"]);
    let mut app = node.conn();
    assert_eq!(app.cmd(&["AUTH", "app", "pw"]), b"+OK\r\n");
    assert_eq!(
        app.cmd(&[
            "EVAL",
            "return redis.call('set', KEYS[1], 'v')",
            "1",
            "app:1"
        ]),
        b"+OK\r\n"
    );
    let denied = text(&app.cmd(&["EVAL", "return redis.call('get', 'secret')", "0"]));
    assert!(
        denied.starts_with("-ERR ")
            && denied.contains(
                "The user executing the script can't access at least one of the keys mentioned in the command"
            ),
        "{denied}"
    );
    let denied = text(&app.cmd(&["EVAL", "return redis.call('flushall')", "0"]));
    assert!(
        denied.contains("The user executing the script can't run this command or subcommand"),
        "{denied}"
    );
    assert_eq!(admin.cmd(&["EXISTS", "secret"]), b":1\r\n");
    // redis.acl_check_cmd answers for the script's user: nil (false) when denied.
    let check = |c: &mut common::Raw, args: &str| {
        text(&c.cmd(&["EVAL", &format!("return redis.acl_check_cmd({args})"), "0"]))
    };
    assert_eq!(check(&mut app, "'set', 'app:2', 'v'"), ":1\r\n");
    assert_eq!(check(&mut app, "'get', 'secret'"), "$-1\r\n");
    assert_eq!(check(&mut app, "'flushall'"), "$-1\r\n");
    assert_eq!(check(&mut admin, "'get', 'secret'"), ":1\r\n");
    assert!(
        check(&mut app, "'nosuchcommand'")
            .contains("Invalid command passed to redis.acl_check_cmd()")
    );
    // Read-only scripts and scripts in MULTI carry no user: refused to restricted users.
    let refused = "-NOPERM read-only scripts and scripts inside MULTI are available only to users with no ACL restrictions\r\n";
    assert_eq!(text(&app.cmd(&["EVAL_RO", "return 1", "0"])), refused);
    assert_eq!(app.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(text(&app.cmd(&["EVAL", "return 1", "0"])), refused);
    assert!(text(&app.cmd(&["EXEC"])).starts_with("-EXECABORT"));
    assert_eq!(admin.cmd(&["EVAL", "return 1", "0"]), b":1\r\n");
}

/// Over `maxmemory`, a script entry carries the node's memory state: its first write of a
/// command that may add data is refused, and a restarted node replaying the log refuses it
/// again (whatever its memory then).
#[test]
fn a_script_refused_past_maxmemory_stays_refused_on_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let port = common::free_port();
    let mut node = Cairn::start_in(&dir, port, &[]);
    let mut c = node.conn();
    assert_eq!(c.cmd(&["SET", "x", "1"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "1"]), b"+OK\r\n");
    let refused = text(&c.cmd(&[
        "EVAL",
        "redis.pcall('set', 'x', '2'); return redis.call('get', 'x')",
        "0",
    ]));
    assert_eq!(refused, "$1\r\n1\r\n");
    // Once a script has written, it may go on (Redis cannot stop it half-way either).
    let written = text(&c.cmd(&[
        "EVAL",
        "redis.call('del', 'y'); return redis.call('set', 'y', '3')",
        "0",
    ]));
    assert_eq!(written, "+OK\r\n");
    // Declared flags: refused outright unless allow-oom or no-writes.
    assert!(
        text(&c.cmd(&["EVAL", "#!lua\nreturn 1", "0"])).starts_with("-OOM command not allowed")
    );
    assert_eq!(
        text(&c.cmd(&[
            "EVAL",
            "#!lua flags=allow-oom\nreturn redis.call('set', 'z', '4')",
            "0"
        ])),
        "+OK\r\n"
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "0"]), b"+OK\r\n");
    let state = |c: &mut common::Raw| ["x", "y", "z"].map(|k| text(&c.cmd(&["GET", k])));
    let before = state(&mut c);
    assert_eq!(before, ["$1\r\n1\r\n", "$1\r\n3\r\n", "$1\r\n4\r\n"]);
    drop(c);
    node.kill9();

    let node = Cairn::start_in(&dir, port, &[]);
    let mut c = node.conn();
    assert_eq!(state(&mut c), before);
}

/// The commands a script calls count in INFO commandstats as calls of their own; a refused
/// one counts as rejected, and an error the script passes on counts once.
#[test]
fn commands_called_by_scripts_count_in_commandstats() {
    let node = Cairn::start(&[]);
    let mut c = node.conn();
    c.cmd(&["CONFIG", "RESETSTAT"]);
    c.cmd(&["EVAL", "redis.call('set', KEYS[1], 0); redis.call('set', KEYS[1], 1); return redis.call('get', KEYS[1])", "1", "k"]);
    let stats = text(&c.cmd(&["INFO", "commandstats"]));
    assert!(stats.contains("cmdstat_set:calls=2,"), "{stats}");
    assert!(stats.contains("cmdstat_get:calls=1,"), "{stats}");
    assert!(stats.contains("cmdstat_eval:calls=1,"), "{stats}");

    c.cmd(&["CONFIG", "RESETSTAT"]);
    c.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
    let reply = text(&c.cmd(&["EVAL", "return redis.call('set', 'x', 'y')", "0"]));
    c.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    assert!(reply.starts_with("-OOM command not allowed"), "{reply}");
    let stats = text(&c.cmd(&["INFO", "commandstats"]));
    assert!(
        stats.contains(
            "cmdstat_set:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0"
        ),
        "{stats}"
    );
    assert!(stats.contains("rejected_calls=0,failed_calls=1"), "{stats}");
    let errors = text(&c.cmd(&["INFO", "errorstats"]));
    assert!(errors.contains("errorstat_OOM:count=1\r\n"), "{errors}");
    let info = text(&c.cmd(&["INFO", "stats"]));
    assert!(info.contains("total_error_replies:1\r\n"), "{info}");
}
