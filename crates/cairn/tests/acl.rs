//! Users and ACL over real sockets: a permission matrix generated from the command table,
//! key patterns with read/write permissions, selectors, the ACL LOG, the aclfile, users across
//! kill -9 and restarts, AUTH/HELLO, requirepass, protected mode, bad input, and that a
//! password never reaches the data directory.

mod common;

use std::time::Duration;

use common::{Cairn, Client, Raw, Resp};

fn text(reply: Vec<u8>) -> String {
    String::from_utf8_lossy(&reply).into_owned()
}

fn ok(c: &mut Raw, args: &[&str]) {
    assert_eq!(text(c.cmd(args)), "+OK\r\n", "{args:?}");
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

/// A connection authenticated as `user`.
fn login(cairn: &Cairn, user: &str, password: &str) -> Raw {
    let mut c = cairn.conn();
    ok(&mut c, &["AUTH", user, password]);
    c
}

const NOPERM_KEYS: &str =
    "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n";
const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
const NOAUTH: &str = "-NOAUTH Authentication required.\r\n";

fn noperm_command(name: &str) -> String {
    format!("-NOPERM this user has no permissions to run the '{name}' command\r\n")
}

// ---------------------------------------------------------------------------------------------
// The matrix: every row of the command table, by its ACL categories
// ---------------------------------------------------------------------------------------------

/// One row of the command table, as COMMAND shows it.
struct Row {
    /// `get`, `client|id`.
    name: String,
    arity: i64,
    flags: Vec<String>,
    categories: Vec<String>,
}

fn strings(r: &Resp) -> Vec<String> {
    match r {
        Resp::Array(items) => items
            .iter()
            .map(|i| match i {
                Resp::Simple(s) => s.clone(),
                Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

fn rows_of(entry: &Resp, out: &mut Vec<Row>) {
    let Resp::Array(fields) = entry else {
        panic!("{entry:?}")
    };
    let (Resp::Bulk(name), Resp::Int(arity)) = (&fields[0], &fields[1]) else {
        panic!("{entry:?}")
    };
    let Resp::Array(subcommands) = &fields[9] else {
        panic!("{entry:?}")
    };
    if subcommands.is_empty() {
        out.push(Row {
            name: String::from_utf8_lossy(name).into_owned(),
            arity: *arity,
            flags: strings(&fields[2]),
            categories: strings(&fields[6]),
        });
    }
    for sub in subcommands {
        rows_of(sub, out);
    }
}

/// Every runnable row (subcommands, not their containers) from COMMAND.
fn table_rows(cairn: &Cairn) -> Vec<Row> {
    let mut c = cairn.client();
    let Resp::Array(entries) = c.must(&["COMMAND"]) else {
        panic!("COMMAND is an array")
    };
    let mut rows = Vec::new();
    for entry in &entries {
        rows_of(entry, &mut rows);
    }
    rows
}

/// The row's words, filled up to its arity with `0` (a key, a number, a value: enough to pass
/// the arity check, after which the gate decides).
fn argv_of(row: &Row) -> Vec<String> {
    let mut argv: Vec<String> = row.name.split('|').map(str::to_uppercase).collect();
    while (argv.len() as i64) < row.arity.abs() {
        argv.push("0".into());
    }
    argv
}

/// Rows not run for real when allowed (ACL DRYRUN answers for them): they would stop the
/// server, block the connection or change its mode.
fn disruptive(row: &Row) -> bool {
    row.flags.iter().any(|f| f == "blocking")
        || [
            "shutdown",
            "monitor",
            "subscribe",
            "psubscribe",
            "ssubscribe",
            "sync",
            "psync",
        ]
        .contains(&row.name.as_str())
}

fn runs_read_only_scripts(row: &Row) -> bool {
    ["eval_ro", "evalsha_ro", "fcall_ro"].contains(&row.name.as_str())
}

#[test]
fn matrix_every_row_by_its_categories() {
    let cairn = Cairn::start(&[]);
    let rows = table_rows(&cairn);
    assert!(rows.len() > 100, "only {} rows", rows.len());
    let mut admin = cairn.conn();
    for row in &rows {
        assert!(
            !row.categories.is_empty(),
            "{} has no ACL category",
            row.name
        );
        let argv = argv_of(row);
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        let no_auth = row.flags.iter().any(|f| f == "no_auth");

        // Allowed only the row's categories: it runs (whatever the command answers).
        let mut allow = vec![
            "ACL", "SETUSER", "matrix", "reset", "on", "nopass", "~*", "&*",
        ];
        let grants: Vec<String> = row.categories.iter().map(|c| format!("+{c}")).collect();
        allow.extend(grants.iter().map(String::as_str));
        ok(&mut admin, &allow);
        if disruptive(row) {
            let mut dry = vec!["ACL", "DRYRUN", "matrix"];
            dry.extend(&args);
            assert_eq!(text(admin.cmd(&dry)), "+OK\r\n", "{} allowed", row.name);
        } else if runs_read_only_scripts(row) {
            // Read-only scripts carry no user to check their calls against: refused to
            // restricted users.
            let reply = text(login(&cairn, "matrix", "x").cmd(&args));
            assert_eq!(
                reply,
                "-NOPERM read-only scripts and scripts inside MULTI are available only to users with no ACL restrictions\r\n",
                "{}",
                row.name
            );
        } else {
            let reply = text(login(&cairn, "matrix", "x").cmd(&args));
            assert!(
                !reply.starts_with("-NOPERM"),
                "{} allowed: {reply}",
                row.name
            );
        }

        // Denied those categories: NOPERM, and an ACL LOG entry (AUTH and HELLO need none).
        let mut deny = vec![
            "ACL", "SETUSER", "matrix", "reset", "on", "nopass", "~*", "&*", "+@all",
        ];
        let denials: Vec<String> = row.categories.iter().map(|c| format!("-{c}")).collect();
        deny.extend(denials.iter().map(String::as_str));
        ok(&mut admin, &deny);
        ok(&mut admin, &["ACL", "LOG", "RESET"]);
        let reply = text(login(&cairn, "matrix", "x").cmd(&args));
        if no_auth {
            assert!(!reply.starts_with("-NOPERM"), "{}: {reply}", row.name);
            continue;
        }
        assert_eq!(reply, noperm_command(&row.name), "{} denied", row.name);
        let log = text(admin.cmd(&["ACL", "LOG", "1"]));
        assert!(
            log.contains(&format!("$6\r\nobject\r\n{}", bulk(&row.name))),
            "{}: {log}",
            row.name
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Keys, selectors, subcommands
// ---------------------------------------------------------------------------------------------

#[test]
fn key_patterns_with_read_and_write_permissions() {
    let cairn = Cairn::start(&[]);
    let mut admin = cairn.conn();
    ok(&mut admin, &["SET", "read:1", "r"]);
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "rw",
            "on",
            ">pw",
            "+@all",
            "%R~read:*",
            "%W~write:*",
            "~both:*",
        ],
    );
    let mut c = login(&cairn, "rw", "pw");
    assert_eq!(text(c.cmd(&["GET", "read:1"])), bulk("r"));
    assert_eq!(text(c.cmd(&["GET", "write:1"])), NOPERM_KEYS);
    assert_eq!(text(c.cmd(&["GET", "other"])), NOPERM_KEYS);
    // SET overwrites (write permission); with GET it also reads.
    ok(&mut c, &["SET", "write:1", "w"]);
    assert_eq!(text(c.cmd(&["SET", "write:1", "w", "GET"])), NOPERM_KEYS);
    assert_eq!(text(c.cmd(&["SET", "read:1", "x"])), NOPERM_KEYS);
    ok(&mut c, &["SET", "both:1", "b"]);
    assert_eq!(text(c.cmd(&["SET", "both:1", "c", "GET"])), bulk("b"));
    // INCR reads and writes; APPEND only writes; EXISTS needs either.
    assert_eq!(text(c.cmd(&["INCR", "write:n"])), NOPERM_KEYS);
    assert_eq!(text(c.cmd(&["APPEND", "write:1", "!"])), ":2\r\n");
    assert_eq!(text(c.cmd(&["EXISTS", "read:1", "write:1"])), ":2\r\n");
    assert_eq!(text(c.cmd(&["EXISTS", "other"])), NOPERM_KEYS);
    // COPY reads its source and writes its destination.
    assert_eq!(text(c.cmd(&["COPY", "read:1", "write:2"])), ":1\r\n");
    assert_eq!(text(c.cmd(&["COPY", "write:1", "read:2"])), NOPERM_KEYS);
    // MSET: every key is checked.
    assert_eq!(
        text(c.cmd(&["MSET", "write:3", "a", "read:3", "b"])),
        NOPERM_KEYS
    );
    assert_eq!(text(admin.cmd(&["EXISTS", "write:3"])), ":0\r\n");
    // Commands without keys pass the key check.
    assert_eq!(text(c.cmd(&["DBSIZE"])), ":4\r\n");
}

#[test]
fn selectors_grant_alternatives_that_do_not_combine() {
    let cairn = Cairn::start(&[]);
    let mut admin = cairn.conn();
    ok(&mut admin, &["SET", "read::foo", "r"]);
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "sel",
            "on",
            "nopass",
            "-@all",
            "resetkeys",
            "(+@write ~write::*)",
            "(+@read ~read::*)",
        ],
    );
    let mut c = login(&cairn, "sel", "any");
    assert_eq!(text(c.cmd(&["PING"])), noperm_command("ping"));
    ok(&mut c, &["SET", "write::foo", "w"]);
    assert_eq!(text(c.cmd(&["GET", "read::foo"])), bulk("r"));
    assert_eq!(text(c.cmd(&["GET", "write::foo"])), NOPERM_KEYS);
    assert_eq!(text(c.cmd(&["SET", "read::foo", "x"])), NOPERM_KEYS);
    // A selector spread over several arguments, and one removed.
    ok(
        &mut admin,
        &["ACL", "SETUSER", "sel", "clearselectors", "(~k:*", "+get)"],
    );
    assert_eq!(
        text(c.cmd(&["SET", "write::foo", "w"])),
        noperm_command("set")
    );
    assert_eq!(text(c.cmd(&["GET", "k:1"])), "$-1\r\n");
}

#[test]
fn subcommands_and_first_args() {
    let cairn = Cairn::start(&[]);
    let mut admin = cairn.conn();
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "sub",
            "on",
            "nopass",
            "+@all",
            "-client",
            "+client|id",
            "-select",
            "+select|0",
        ],
    );
    let mut c = login(&cairn, "sub", "x");
    assert!(text(c.cmd(&["CLIENT", "ID"])).starts_with(':'));
    assert_eq!(
        text(c.cmd(&["CLIENT", "KILL", "ID", "999"])),
        noperm_command("client|kill")
    );
    ok(&mut c, &["SELECT", "0"]);
    assert_eq!(text(c.cmd(&["SELECT", "1"])), noperm_command("select"));
    let user = text(admin.cmd(&["ACL", "GETUSER", "sub"]));
    assert!(user.contains("+client|id"), "{user}");
    assert!(user.contains("+select|0"), "{user}");
}

#[test]
fn acl_log_records_denials_and_failed_auth() {
    let cairn = Cairn::start(&[]);
    let mut admin = cairn.conn();
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "antirez",
            ">foo",
            "on",
            "+set",
            "~object:1234",
        ],
    );
    let mut c = login(&cairn, "antirez", "foo");
    for _ in 0..3 {
        assert_eq!(text(c.cmd(&["GET", "foo"])), noperm_command("get"));
    }
    assert_eq!(text(c.cmd(&["SET", "somekeynotallowed", "1"])), NOPERM_KEYS);
    assert_eq!(
        text(cairn.conn().cmd(&["AUTH", "antirez", "wrong"])),
        WRONGPASS
    );
    let mut client = cairn.client();
    let Resp::Array(entries) = client.must(&["ACL", "LOG"]) else {
        panic!("ACL LOG is an array")
    };
    let field = |entry: &Resp, name: &str| -> Resp {
        let Resp::Array(kv) = entry else { panic!() };
        let at = kv
            .iter()
            .position(|k| *k == Resp::Bulk(name.into()))
            .unwrap();
        kv[at + 1].clone()
    };
    assert_eq!(entries.len(), 3);
    // Newest first: the failed AUTH, the key, the three GETs counted in one entry.
    assert_eq!(field(&entries[0], "reason"), Resp::Bulk(b"auth".to_vec()));
    assert_eq!(field(&entries[0], "object"), Resp::Bulk(b"AUTH".to_vec()));
    assert_eq!(
        field(&entries[0], "username"),
        Resp::Bulk(b"antirez".to_vec())
    );
    assert_eq!(field(&entries[1], "reason"), Resp::Bulk(b"key".to_vec()));
    assert_eq!(
        field(&entries[1], "object"),
        Resp::Bulk(b"somekeynotallowed".to_vec())
    );
    assert_eq!(
        field(&entries[2], "reason"),
        Resp::Bulk(b"command".to_vec())
    );
    assert_eq!(field(&entries[2], "count"), Resp::Int(3));
    assert_eq!(
        field(&entries[2], "context"),
        Resp::Bulk(b"toplevel".to_vec())
    );
    let Resp::Bulk(info) = field(&entries[2], "client-info") else {
        panic!()
    };
    let info = String::from_utf8(info).unwrap();
    assert!(
        info.contains("user=antirez") && info.contains("cmd=get"),
        "{info}"
    );
    assert!(matches!(field(&entries[2], "age-seconds"), Resp::Bulk(_)));
    // ACL LOG <count>, the limit, RESET.
    let Resp::Array(two) = client.must(&["ACL", "LOG", "2"]) else {
        panic!()
    };
    assert_eq!(two.len(), 2);
    assert_eq!(
        client.must(&["ACL", "LOG", "x"]),
        Resp::Error("ERR value is not an integer or out of range".into())
    );
    ok(&mut admin, &["CONFIG", "SET", "acllog-max-len", "5"]);
    for j in 0..10 {
        let key = format!("obj:{j}");
        assert_eq!(text(c.cmd(&["SET", &key, "1"])), NOPERM_KEYS);
    }
    let Resp::Array(five) = client.must(&["ACL", "LOG"]) else {
        panic!()
    };
    assert_eq!(five.len(), 5);
    ok(&mut admin, &["ACL", "LOG", "RESET"]);
    assert_eq!(client.must(&["ACL", "LOG"]), Resp::Array(vec![]));
}

// ---------------------------------------------------------------------------------------------
// Users as replicated state: deletion, restarts, the aclfile
// ---------------------------------------------------------------------------------------------

#[test]
fn deleting_a_user_closes_its_connections_disabling_does_not() {
    let cairn = Cairn::start(&[]);
    let mut admin = cairn.conn();
    ok(
        &mut admin,
        &["ACL", "SETUSER", "temp", "on", ">pw", "+@all", "~*"],
    );
    let mut a = login(&cairn, "temp", "pw");
    let mut b = login(&cairn, "temp", "pw");
    // `off` stops new logins; connections already in keep working (as in Redis 7.0).
    ok(&mut admin, &["ACL", "SETUSER", "temp", "off"]);
    assert_eq!(text(cairn.conn().cmd(&["AUTH", "temp", "pw"])), WRONGPASS);
    assert_eq!(text(a.cmd(&["PING"])), "+PONG\r\n");
    // A permission change reaches them at once.
    ok(&mut admin, &["ACL", "SETUSER", "temp", "-ping"]);
    assert_eq!(text(a.cmd(&["PING"])), noperm_command("ping"));
    // Deleting closes them; the one that deleted its own user gets the reply first.
    assert_eq!(text(b.cmd(&["ACL", "DELUSER", "temp"])), ":1\r\n");
    assert!(b.is_closed());
    assert!(a.is_closed());
    assert_eq!(text(admin.cmd(&["PING"])), "+PONG\r\n");
}

#[test]
fn client_list_shows_the_user_and_client_kill_user_works() {
    let cairn = Cairn::start(&[]);
    let mut admin = cairn.conn();
    ok(
        &mut admin,
        &["ACL", "SETUSER", "app", "on", ">pw", "+@all", "~*"],
    );
    let mut a = login(&cairn, "app", "pw");
    ok(&mut a, &["CLIENT", "SETNAME", "worker"]);
    let list = text(admin.cmd(&["CLIENT", "LIST"]));
    let line = list.lines().find(|l| l.contains("name=worker")).unwrap();
    assert!(line.contains(" user=app "), "{line}");
    assert_eq!(
        text(admin.cmd(&["CLIENT", "KILL", "USER", "nobody"])),
        "-ERR No such user 'nobody'\r\n"
    );
    assert_eq!(
        text(admin.cmd(&["CLIENT", "KILL", "USER", "app"])),
        ":1\r\n"
    );
    assert!(a.is_closed());
    assert_eq!(text(admin.cmd(&["ACL", "WHOAMI"])), bulk("default"));
}

#[test]
fn users_and_passwords_survive_kill_9_and_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let port = common::free_port();
    let mut cairn = Cairn::start_in(&dir, port, &[]);
    let mut admin = cairn.conn();
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "keep",
            "on",
            ">s3cret",
            "~k:*",
            "+get",
            "(+set ~w:*)",
        ],
    );
    ok(&mut admin, &["ACL", "SETUSER", "gone", "on", ">x"]);
    assert_eq!(text(admin.cmd(&["ACL", "DELUSER", "gone"])), ":1\r\n");
    let before = text(admin.cmd(&["ACL", "LIST"]));
    cairn.kill9();
    let mut cairn = Cairn::start_in(&dir, port, &[]);
    assert_eq!(text(cairn.conn().cmd(&["ACL", "LIST"])), before);
    let mut c = login(&cairn, "keep", "s3cret");
    ok(&mut c, &["SET", "w:1", "v"]);
    assert_eq!(text(c.cmd(&["SET", "k:1", "v"])), NOPERM_KEYS);
    // Through a snapshot (SAVE), then kill -9 again.
    ok(&mut cairn.conn(), &["SAVE"]);
    cairn.kill9();
    let cairn = Cairn::start_in(&dir, port, &[]);
    assert_eq!(text(cairn.conn().cmd(&["ACL", "LIST"])), before);
    assert_eq!(
        text(cairn.conn().cmd(&["AUTH", "keep", "wrong"])),
        WRONGPASS
    );
    let mut keep = login(&cairn, "keep", "s3cret");
    let mut admin = cairn.conn();
    ok(&mut admin, &["ACL", "SETUSER", "keep", "+get"]);
    assert_eq!(text(keep.cmd(&["GET", "k:1"])), "$-1\r\n");
    ok(&mut admin, &["DEBUG", "RELOAD"]);
    assert_eq!(text(admin.cmd(&["ACL", "LIST"])), before);
    // A change after the reload still reaches the connections opened before it.
    ok(&mut admin, &["ACL", "SETUSER", "keep", "-get"]);
    assert_eq!(text(keep.cmd(&["GET", "k:1"])), noperm_command("get"));
}

#[test]
fn passwords_never_reach_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let port = common::free_port();
    let mut cairn = Cairn::start_in(&dir, port, &["--requirepass", "Plaintext-One"]);
    let mut admin = login(&cairn, "default", "Plaintext-One");
    ok(
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "u",
            "on",
            ">Plaintext-Two",
            "<Plaintext-Two",
            ">Plaintext-Three",
        ],
    );
    ok(
        &mut admin,
        &["CONFIG", "SET", "requirepass", "Plaintext-Four"],
    );
    // An error about a password to remove shows its hash, not the password.
    let err = text(admin.cmd(&["ACL", "SETUSER", "u", "<Plaintext-Five"]));
    assert!(
        err.starts_with("-ERR Error in ACL SETUSER modifier '!"),
        "{err}"
    );
    assert!(!err.contains("Plaintext"), "{err}");
    ok(&mut admin, &["SAVE"]);
    cairn.stop();
    let mut found = Vec::new();
    for entry in walk(&dir) {
        let bytes = std::fs::read(&entry).unwrap();
        if bytes.windows(9).any(|w| w == b"Plaintext") {
            found.push(entry.display().to_string());
        }
    }
    assert!(found.is_empty(), "a password is stored in {found:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

const USERS_ACL: &str = "user alice on allcommands allkeys &* >alice\nuser bob on -@all +@string +acl ~set* &* >bob\nuser default on nopass ~* &* +@all\n";

#[test]
fn aclfile_round_trip_through_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("users.acl"), USERS_ACL).unwrap();
    let port = common::free_port();
    let mut cairn = Cairn::start_in(&dir, port, &["--aclfile", "users.acl"]);
    // Imported at start.
    let mut alice = login(&cairn, "alice", "alice");
    ok(&mut alice, &["SET", "key", "value"]);
    let mut bob = login(&cairn, "bob", "bob");
    assert_eq!(text(bob.cmd(&["SET", "key", "value"])), NOPERM_KEYS);
    ok(&mut bob, &["SET", "set1", "v"]);
    // ACL SAVE writes the users; ACL LOAD reads them back and closes every connection but
    // the default user's.
    let mut admin = cairn.conn();
    ok(
        &mut admin,
        &["ACL", "SETUSER", "eve", "+get", "allkeys", ">eve", "on"],
    );
    ok(&mut admin, &["ACL", "SAVE"]);
    let saved = std::fs::read_to_string(dir.join("users.acl")).unwrap();
    assert!(saved.contains("user eve on #"), "{saved}");
    assert!(!saved.contains(">eve"), "{saved}");
    ok(&mut alice, &["ACL", "LOAD"]);
    assert!(alice.is_closed());
    assert!(bob.is_closed());
    assert_eq!(text(admin.cmd(&["PING"])), "+PONG\r\n");
    let mut eve = login(&cairn, "eve", "eve");
    assert_eq!(text(eve.cmd(&["GET", "key"])), bulk("value"));
    assert_eq!(text(eve.cmd(&["SET", "key", "v"])), noperm_command("set"));
    // A bad file changes nothing.
    std::fs::write(
        dir.join("users.acl"),
        format!("{USERS_ACL}user alice on nopass ~* -@all\nuser zed +nosuch\n"),
    )
    .unwrap();
    assert_eq!(
        text(admin.cmd(&["ACL", "LOAD"])),
        "-ERR WARNING: Duplicate user 'alice' found on line 4. users.acl:5: Error in applying operation '+nosuch': Unknown command or category name in ACL. WARNING: ACL errors detected, no change to the previously active ACL rules was performed\r\n"
    );
    login(&cairn, "eve", "eve");
    // Restarting with the file unchanged keeps what the log holds; a changed file is
    // imported.
    ok(&mut admin, &["ACL", "SETUSER", "late", "on", ">late"]);
    std::fs::write(dir.join("users.acl"), &saved).unwrap();
    ok(&mut admin, &["ACL", "LOAD"]);
    ok(&mut admin, &["ACL", "SETUSER", "late", "on", ">late"]);
    cairn.kill9();
    let mut cairn = Cairn::start_in(&dir, port, &["--aclfile", "users.acl"]);
    login(&cairn, "late", "late");
    std::fs::write(dir.join("users.acl"), USERS_ACL).unwrap();
    cairn.kill9();
    let cairn = Cairn::start_in(&dir, port, &["--aclfile", "users.acl"]);
    assert_eq!(text(cairn.conn().cmd(&["AUTH", "late", "late"])), WRONGPASS);
    assert_eq!(text(cairn.conn().cmd(&["AUTH", "eve", "eve"])), WRONGPASS);
    login(&cairn, "alice", "alice");
}

#[test]
fn aclfile_errors_and_missing_file() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.conn();
    let no_file = "-ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.\r\n";
    assert_eq!(text(c.cmd(&["ACL", "LOAD"])), no_file);
    assert_eq!(text(c.cmd(&["ACL", "SAVE"])), no_file);
    // A node whose aclfile is broken refuses to start, with Redis's reasons.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad.acl"), "user x on +nosuch\n").unwrap();
    let exited = common::run_expecting_exit(
        &dir,
        common::free_port(),
        &["--aclfile", "bad.acl"],
        Duration::from_secs(30),
    )
    .expect("a node with a broken aclfile must not start");
    assert!(!exited.status.success());
    assert!(
        exited
            .stderr
            .contains("bad.acl:1: Error in applying operation '+nosuch'"),
        "{}",
        exited.stderr
    );
    let exited = common::run_expecting_exit(
        &dir,
        common::free_port(),
        &["--aclfile", "missing.acl"],
        Duration::from_secs(30),
    )
    .expect("a node with a missing aclfile must not start");
    assert!(
        exited
            .stderr
            .contains("Error loading ACLs, opening file 'missing.acl': No such file or directory"),
        "{}",
        exited.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// AUTH, HELLO, requirepass
// ---------------------------------------------------------------------------------------------

#[test]
fn auth_and_hello_flows() {
    let cairn = Cairn::start(&[]);
    let mut admin = cairn.conn();
    assert_eq!(text(admin.cmd(&["ACL", "WHOAMI"])), bulk("default"));
    ok(&mut admin, &["ACL", "SETUSER", "newuser"]);
    // New users start disabled.
    ok(&mut admin, &["ACL", "SETUSER", "newuser", ">passwd1"]);
    assert_eq!(
        text(cairn.conn().cmd(&["AUTH", "newuser", "passwd1"])),
        WRONGPASS
    );
    ok(
        &mut admin,
        &["ACL", "SETUSER", "newuser", "on", "+acl", ">passwd2"],
    );
    let mut c = login(&cairn, "newuser", "passwd1");
    assert_eq!(text(c.cmd(&["ACL", "WHOAMI"])), bulk("newuser"));
    ok(&mut c, &["AUTH", "newuser", "passwd2"]);
    assert_eq!(text(c.cmd(&["AUTH", "newuser", "passwd3"])), WRONGPASS);
    // A failed AUTH keeps the connection's user.
    assert_eq!(text(c.cmd(&["ACL", "WHOAMI"])), bulk("newuser"));
    ok(&mut admin, &["ACL", "SETUSER", "newuser", "<passwd1"]);
    assert_eq!(
        text(cairn.conn().cmd(&["AUTH", "newuser", "passwd1"])),
        WRONGPASS
    );
    // HELLO AUTH and SETNAME.
    let mut h = cairn.conn();
    let hello = text(h.cmd(&["HELLO", "3", "AUTH", "newuser", "passwd2", "SETNAME", "n"]));
    assert!(hello.starts_with("%7\r\n"), "{hello}");
    assert_eq!(text(h.cmd(&["ACL", "WHOAMI"])), bulk("newuser"));
    assert_eq!(
        text(cairn.conn().cmd(&["HELLO", "2", "AUTH", "newuser", "nope"])),
        WRONGPASS
    );
    // RESET returns to the default user.
    assert_eq!(text(h.cmd(&["RESET"])), "+RESET\r\n");
    assert_eq!(text(h.cmd(&["ACL", "WHOAMI"])), bulk("default"));
    // When default is off, new connections are not authenticated; HELLO AUTH still works
    // for other users even when default may run nothing.
    ok(&mut admin, &["ACL", "SETUSER", "default", "off"]);
    assert_eq!(text(cairn.conn().cmd(&["PING"])), NOAUTH);
    ok(&mut admin, &["ACL", "SETUSER", "default", "on", "-@all"]);
    assert_eq!(
        text(admin.cmd(&["ACL", "SETUSER", "default", "+@all"])),
        noperm_command("acl|setuser")
    );
    let mut s = cairn.conn();
    assert!(text(s.cmd(&["HELLO", "2", "AUTH", "newuser", "passwd2"])).starts_with("*14\r\n"));
    ok(&mut s, &["ACL", "SETUSER", "default", "nopass", "+@all"]);
    assert_eq!(text(admin.cmd(&["PING"])), "+PONG\r\n");
}

#[test]
fn a_pipelined_setuser_applies_before_the_auth_behind_it() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.client();
    let cmd = |words: &[&str]| {
        words
            .iter()
            .map(|w| w.as_bytes().to_vec())
            .collect::<Vec<_>>()
    };
    let replies = c
        .pipeline(&[
            cmd(&["ACL", "SETUSER", "piped", "on", ">pw", "+@all", "~*"]),
            cmd(&["AUTH", "piped", "pw"]),
            cmd(&["ACL", "WHOAMI"]),
        ])
        .unwrap();
    assert_eq!(
        replies,
        [
            Resp::Simple("OK".into()),
            Resp::Simple("OK".into()),
            Resp::Bulk(b"piped".to_vec())
        ]
    );
}

#[test]
fn requirepass_is_the_default_user_s_password_on_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let port = common::free_port();
    let mut cairn = Cairn::start_in(&dir, port, &["--requirepass", "first"]);
    assert_eq!(text(cairn.conn().cmd(&["GET", "k"])), NOAUTH);
    let mut admin = login(&cairn, "default", "first");
    let user = text(admin.cmd(&["ACL", "GETUSER", "default"]));
    let hash = "a7937b64b8caa58f03721bb6bacf5c78cb235febe0e70b1b84cd99541461a08e";
    assert!(user.contains(hash), "{user}");
    ok(&mut admin, &["CONFIG", "SET", "requirepass", "second"]);
    assert_eq!(text(cairn.conn().cmd(&["AUTH", "first"])), WRONGPASS);
    login(&cairn, "default", "second");
    // Restarting with the same requirepass as the log's changes nothing; another one is
    // applied (the configuration wins at start, as in Redis).
    cairn.kill9();
    let mut cairn = Cairn::start_in(&dir, port, &["--requirepass", "second"]);
    login(&cairn, "default", "second");
    cairn.kill9();
    let mut cairn = Cairn::start_in(&dir, port, &["--requirepass", "third"]);
    assert_eq!(text(cairn.conn().cmd(&["AUTH", "second"])), WRONGPASS);
    let mut admin = login(&cairn, "default", "third");
    // Without requirepass the log's password stays.
    ok(&mut admin, &["CONFIG", "SET", "requirepass", ""]);
    assert_eq!(text(cairn.conn().cmd(&["PING"])), "+PONG\r\n");
    ok(&mut admin, &["CONFIG", "SET", "requirepass", "fourth"]);
    cairn.kill9();
    let cairn = Cairn::start_in(&dir, port, &[]);
    assert_eq!(text(cairn.conn().cmd(&["PING"])), NOAUTH);
    login(&cairn, "default", "fourth");
}

// ---------------------------------------------------------------------------------------------
// Protected mode
// ---------------------------------------------------------------------------------------------

/// A connection from 127.0.0.2: a loopback address, but not one of the two Redis admits.
fn connect_from_127_0_0_2(port: u16) -> std::net::TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        socket.connect(addr).await.unwrap().into_std().unwrap()
    })
}

fn blocking_raw(stream: std::net::TcpStream) -> Raw {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    Raw { stream }
}

fn read_all(mut stream: std::net::TcpStream) -> String {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (bytes, closed) = common::read_to_close(&mut stream);
    assert!(closed, "the connection stayed open");
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn protected_mode_refuses_non_loopback_clients_without_a_password() {
    let cairn = Cairn::start(&[]);
    let refused = read_all(connect_from_127_0_0_2(cairn.port));
    assert!(
        refused.starts_with("-DENIED Redis is running in protected mode"),
        "{refused}"
    );
    assert!(refused.ends_with("accepting connections from the outside.\r\n"));
    let mut admin = cairn.conn();
    // With a password for default, anyone may connect (and must authenticate).
    ok(&mut admin, &["CONFIG", "SET", "requirepass", "pw"]);
    let mut remote = connect_from_127_0_0_2(cairn.port);
    std::io::Write::write_all(&mut remote, b"PING\r\n").unwrap();
    let mut raw = blocking_raw(remote);
    assert_eq!(text(raw.read_reply()), NOAUTH);
    // protected-mode no admits everyone.
    ok(&mut admin, &["CONFIG", "SET", "requirepass", ""]);
    ok(&mut admin, &["CONFIG", "SET", "protected-mode", "no"]);
    let mut raw = blocking_raw(connect_from_127_0_0_2(cairn.port));
    assert_eq!(text(raw.cmd(&["PING"])), "+PONG\r\n");
    assert_eq!(
        text(admin.cmd(&["CONFIG", "GET", "protected-mode"])),
        format!("*2\r\n{}{}", bulk("protected-mode"), bulk("no"))
    );
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_rules_get_redis_s_errors_and_change_nothing() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.conn();
    let modifier =
        |rule: &str, why: &str| format!("-ERR Error in ACL SETUSER modifier '{rule}': {why}\r\n");
    let unknown = "Unknown command or category name in ACL";
    let cases: &[(&[&str], String)] = &[
        (&["+nosuchcommand"], modifier("+nosuchcommand", unknown)),
        (&["+@nosuchcategory"], modifier("+@nosuchcategory", unknown)),
        (&["-get|key"], modifier("-get|key", unknown)),
        (
            &["+config|get|x"],
            modifier(
                "+config|get|x",
                "Allowing first-arg of a subcommand is not supported",
            ),
        ),
        (&["+config|"], modifier("+config|", "Syntax error")),
        (&["%RX~k"], modifier("%RX~k", "Syntax error")),
        (&["nonsense"], modifier("nonsense", "Syntax error")),
        (
            &["#tooshort"],
            modifier(
                "#tooshort",
                "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            ),
        ),
        (
            &["allkeys", "~k"],
            modifier(
                "~k",
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            ),
        ),
        (
            &["(~a", "+get"],
            "-ERR Unmatched parenthesis in acl selector starting at '(~a'.\r\n".into(),
        ),
        (
            &["(this-is-invalid)"],
            modifier("(this-is-invalid)", "Syntax error"),
        ),
        (&[")"], modifier(")", "Syntax error")),
    ];
    for (rules, expected) in cases {
        let mut argv = vec!["ACL", "SETUSER", "bad"];
        argv.extend(*rules);
        assert_eq!(text(c.cmd(&argv)), *expected, "{rules:?}");
    }
    assert_eq!(text(c.cmd(&["ACL", "GETUSER", "bad"])), "$-1\r\n");
    assert_eq!(
        text(c.cmd(&["ACL", "SETUSER", "a b"])),
        "-ERR Usernames can't contain spaces or null characters\r\n"
    );
    assert_eq!(
        text(c.cmd(&["ACL", "CAT", "nosuch"])),
        "-ERR Unknown category 'nosuch'\r\n"
    );
    assert_eq!(
        text(c.cmd(&["ACL", "GENPASS", "5000"])),
        "-ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096\r\n"
    );
    assert_eq!(
        text(c.cmd(&["ACL", "HELP", "x"])),
        "-ERR wrong number of arguments for 'acl|help' command\r\n"
    );
    assert_eq!(
        text(c.cmd(&["ACL", "NOSUCH"])),
        "-ERR unknown subcommand 'NOSUCH'. Try ACL HELP.\r\n"
    );
    assert_eq!(
        text(c.cmd(&["ACL", "DELUSER", "default"])),
        "-ERR The 'default' user cannot be removed\r\n"
    );
}

#[test]
fn a_10_mb_password_is_hashed_like_any_other() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.conn();
    let password = "p".repeat(10 * 1024 * 1024);
    let rule = format!(">{password}");
    ok(&mut c, &["ACL", "SETUSER", "big", "on", &rule, "+ping"]);
    let user = text(c.cmd(&["ACL", "GETUSER", "big"]));
    assert!(user.len() < 1024, "the password is not stored as given");
    let mut b = cairn.conn();
    ok(&mut b, &["AUTH", "big", &password]);
    assert_eq!(text(b.cmd(&["PING"])), "+PONG\r\n");
    let wrong = format!("{password}x");
    assert_eq!(text(cairn.conn().cmd(&["AUTH", "big", &wrong])), WRONGPASS);
}

#[test]
fn the_client_crates_authenticate_as_users() {
    let cairn = Cairn::start(&[]);
    ok(
        &mut cairn.conn(),
        &[
            "ACL",
            "SETUSER",
            "app",
            "on",
            ">app-pw",
            "+@read",
            "+@write",
            "+@connection",
            "~app:*",
        ],
    );
    let mut c = Client::connect(&cairn.addr()).unwrap();
    assert_eq!(
        c.must(&["AUTH", "app", "app-pw"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(c.must(&["SET", "app:1", "v"]), Resp::Simple("OK".into()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for query in ["", "?protocol=resp3"] {
            let url = format!("redis://app:app-pw@127.0.0.1:{}/{query}", cairn.port);
            let client = redis::Client::open(url).unwrap();
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            let value: String = redis::cmd("GET")
                .arg("app:1")
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(value, "v");
            let denied: redis::RedisResult<String> =
                redis::cmd("GET").arg("other").query_async(&mut con).await;
            assert_eq!(denied.unwrap_err().code(), Some("NOPERM"), "{query}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Nodes sharing one log agree on users
// ---------------------------------------------------------------------------------------------

/// Waits until `node` has applied everything acknowledged before now: a linearizable read
/// waits for a log barrier.
fn caught_up(node: &Cairn) {
    assert_eq!(text(node.conn().cmd(&["EXISTS", "barrier"])), ":0\r\n");
}

#[test]
fn nodes_sharing_a_log_agree_on_users() {
    let nats = common::nats::NatsCluster::start(3);
    let a = nats.node(&[]);
    let b = nats.node(&[]);
    let mut admin = a.conn();
    ok(
        &mut admin,
        &["ACL", "SETUSER", "shared", "on", ">pw", "+@all", "~*"],
    );
    caught_up(&b);
    let mut on_b = login(&b, "shared", "pw");
    assert_eq!(text(on_b.cmd(&["ACL", "WHOAMI"])), bulk("shared"));
    // A permission change through one node reaches connections on the other.
    ok(&mut admin, &["ACL", "SETUSER", "shared", "-ping"]);
    caught_up(&b);
    assert_eq!(text(on_b.cmd(&["PING"])), noperm_command("ping"));
    // requirepass set through one node is the default user's password on every node.
    ok(&mut admin, &["CONFIG", "SET", "requirepass", "cluster-pw"]);
    assert_eq!(text(on_b.cmd(&["EXISTS", "barrier"])), ":0\r\n");
    assert_eq!(text(b.conn().cmd(&["GET", "k"])), NOAUTH);
    login(&b, "default", "cluster-pw");
    // Deleting the user through one node closes its connections on the other.
    assert_eq!(text(admin.cmd(&["ACL", "DELUSER", "shared"])), ":1\r\n");
    assert!(on_b.is_closed());
    assert_eq!(
        text(login(&b, "default", "cluster-pw").cmd(&["ACL", "USERS"])),
        "*1\r\n$7\r\ndefault\r\n"
    );
}
