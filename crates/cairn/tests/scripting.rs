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
    // Read-only scripts and scripts in MULTI carry no user: refused to restricted users.
    let refused = "-NOPERM read-only scripts and scripts inside MULTI are available only to users with no ACL restrictions\r\n";
    assert_eq!(text(&app.cmd(&["EVAL_RO", "return 1", "0"])), refused);
    assert_eq!(app.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(text(&app.cmd(&["EVAL", "return 1", "0"])), refused);
    assert!(text(&app.cmd(&["EXEC"])).starts_with("-EXECABORT"));
    assert_eq!(admin.cmd(&["EVAL", "return 1", "0"]), b":1\r\n");
}
