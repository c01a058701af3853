//! ACL replies compared byte for byte with a real `redis-server` 7.0.15, over RESP2 and RESP3:
//! ACL SETUSER's errors, GETUSER, LIST, USERS, CAT, WHOAMI, DRYRUN, HELP, and the NOPERM,
//! WRONGPASS and NOAUTH texts.
//!
//! Users outlive a script (FLUSHALL keeps them), and each script runs twice (RESP2, then
//! RESP3), so scripts start by deleting the users they make. Where Redis's output depends on
//! its hash table's order (several single commands in one rule list), scripts keep to rules
//! whose description leaves no choice.

mod common;

use common::differential::*;

const SETUSER_ERRORS: &[&str] = &[
    "ACL DELUSER e1",
    "ACL SETUSER e1 +nosuchcommand",
    "ACL SETUSER e1 +@nosuchcategory",
    "ACL SETUSER e1 -@nosuchcategory",
    "ACL SETUSER e1 -get|key",
    "ACL SETUSER e1 +get|key1|key2",
    "ACL SETUSER e1 +config|get|appendonly",
    "ACL SETUSER e1 +config|asdf",
    "ACL SETUSER e1 -config|asdf",
    "ACL SETUSER e1 +config|",
    "ACL SETUSER e1 +|get",
    "ACL SETUSER e1 -select|0",
    "ACL SETUSER e1 %",
    "ACL SETUSER e1 %RR~x",
    "ACL SETUSER e1 %~z",
    "ACL SETUSER e1 %X~z",
    "ACL SETUSER e1 foo",
    "ACL SETUSER e1 \"~a b\"",
    "ACL SETUSER e1 #",
    "ACL SETUSER e1 !aaaa",
    "ACL SETUSER e1 #AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "ACL SETUSER e1 #34344e4d60c2b6d639b7bd22e18f2b0b91bc34bf0ac5f9952744435093cfb4e",
    "ACL SETUSER e1 allkeys ~a",
    "ACL SETUSER e1 allchannels &a",
    "ACL SETUSER e1 (",
    "ACL SETUSER e1 (+get",
    "ACL SETUSER e1 \"(~a\" \"&*\"",
    "ACL SETUSER e1 )",
    "ACL SETUSER e1 \" () \"",
    "ACL SETUSER e1 (this-is-invalid)",
    "ACL SETUSER e1 (allkeys ~a)",
    "ACL SETUSER e1 \"(&* &fail)\"",
    "ACL SETUSER e1 (<x)",
    "ACL SETUSER e1 on +nosuch >pw",
    "ACL GETUSER e1",
    "ACL SETUSER \"a b\"",
    "ACL SETUSER \"a\\x00b\"",
    "ACL SETUSER",
    "ACL DELUSER default",
    "ACL DELUSER e1 default",
    "ACL DELUSER",
    "ACL GETUSER",
    "ACL GETUSER a b",
    "ACL NOSUCH",
    "ACL",
    "ACL HELP x",
    "ACL LIST x",
    "ACL USERS x",
    "ACL WHOAMI x",
    "ACL CAT a b",
    "ACL GENPASS 0",
    "ACL GENPASS -236",
    "ACL GENPASS 5000",
    "ACL GENPASS abc",
    "ACL GENPASS 1 2",
    "ACL LOG abc",
    "ACL LOG 1 2",
    "ACL DRYRUN",
    "ACL DRYRUN default",
    "ACL DRYRUN default GET",
];

const USERS: &[&str] = &[
    "ACL DELUSER newuser u2 u3 u4 u5 u6",
    "ACL SETUSER newuser",
    "ACL GETUSER newuser",
    "ACL SETUSER newuser reset",
    "ACL GETUSER newuser",
    "ACL SETUSER u2 on >p1 >p1 ~a* %R~b* %W~c* %r~d* %RW~e* &ch &ch +get",
    "ACL GETUSER u2",
    "ACL SETUSER u2 <p1 #e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "ACL GETUSER u2",
    "ACL SETUSER u2 !e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "ACL SETUSER u2 !e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "ACL SETUSER u2 resetkeys %R~foo %W~foo %RW~bar ~ %R",
    "ACL GETUSER u2",
    "ACL SETUSER u3 on nopass skip-sanitize-payload +@all -@dangerous",
    "ACL GETUSER u3",
    "ACL SETUSER u3 sanitize-payload nocommands +@string +@keyspace",
    "ACL GETUSER u3",
    "ACL SETUSER u4 reset (+set ~w:*) \"(%R~r:*\" \"+get)\" \"( ~key2 +get )\" ()",
    "ACL GETUSER u4",
    "ACL SETUSER u4 clearselectors",
    "ACL GETUSER u4",
    "ACL SETUSER u5 off -@all +select|0",
    "ACL GETUSER u5",
    "ACL SETUSER u5 +select",
    "ACL GETUSER u5",
    "ACL SETUSER u6 +@all -client",
    "ACL GETUSER u6",
    "ACL SETUSER u6 allkeys resetkeys allchannels resetchannels",
    "ACL GETUSER u6",
    "ACL LIST",
    "ACL USERS",
    "ACL DELUSER newuser u2 u3 u4 u5 u6 nosuch",
    "ACL LIST",
    "ACL GETUSER default",
    "ACL GETUSER nosuch",
];

const CAT_AND_HELP: &[&str] = &[
    "ACL CAT",
    "ACL CAT nosuch",
    "sort: ACL CAT string",
    "sort: ACL CAT STRING",
    "ACL HELP",
    "ACL WHOAMI",
];

const DRYRUN: &[&str] = &[
    "ACL DELUSER dr",
    "ACL SETUSER dr on nopass +@all %R~read* %W~write* %RW~rw*",
    "ACL DRYRUN dr GET read",
    "ACL DRYRUN dr GET write",
    "ACL DRYRUN dr SET write v",
    "ACL DRYRUN dr SET write v GET",
    "ACL DRYRUN dr SET rw v GET",
    "ACL DRYRUN dr SET read v",
    "ACL DRYRUN dr SET get write",
    "ACL DRYRUN dr SET writestr bar ex get",
    "ACL DRYRUN dr COPY read write",
    "ACL DRYRUN dr COPY write read",
    "ACL DRYRUN dr RENAME rw write",
    "ACL DRYRUN dr RENAME write rw",
    "ACL DRYRUN dr EXISTS read write rw",
    "ACL DRYRUN dr EXISTS nothing",
    "ACL DRYRUN dr TOUCH write",
    "ACL DRYRUN dr TYPE read",
    "ACL DRYRUN dr STRLEN write",
    "ACL DRYRUN dr DEL write rw",
    "ACL DRYRUN dr DEL read",
    "ACL DRYRUN dr MSET write a rw b read c",
    "ACL DRYRUN dr MGET read rw write",
    "ACL DRYRUN dr APPEND write x",
    "ACL DRYRUN dr INCR write",
    "ACL DRYRUN dr GETDEL rw",
    "ACL DRYRUN dr OBJECT ENCODING write",
    "ACL DRYRUN dr LCS read rw",
    "ACL DRYRUN dr EXPIRE write 1",
    "ACL DRYRUN dr TTL write",
    "ACL DRYRUN dr KEYS *",
    "ACL DRYRUN dr PING",
    "ACL SETUSER dr -@all +get +config|get +select|0",
    "ACL DRYRUN dr SET somekey somevalue",
    "ACL DRYRUN dr GET somekey",
    "ACL DRYRUN dr CONFIG GET x",
    "ACL DRYRUN dr CONFIG SET x y",
    "ACL DRYRUN dr SELECT 0",
    "ACL DRYRUN dr SELECT 1",
    "ACL DRYRUN dr CLIENT ID",
    "ACL DRYRUN dr AUTH a b",
    "ACL DRYRUN dr HELLO",
    "ACL DRYRUN nosuch GET x",
    "ACL DRYRUN dr nosuch x",
    "ACL DRYRUN dr CONFIG NOSUCH",
    "ACL DRYRUN dr CONFIG",
    "ACL DRYRUN dr SET v",
    "ACL DRYRUN dr SET",
    "ACL DRYRUN dr GET a b",
    "ACL DELUSER dr",
];

const GATE: &[&str] = &[
    "ACL DELUSER np sel",
    "ACL SETUSER np on >pw +get +set +auth ~k:*",
    "ACL SETUSER sel on nopass resetkeys (+@write ~write::*) (+@read ~read::*)",
    "AUTH np wrong",
    "AUTH nosuch pw",
    "AUTH np pw",
    "GET k:1",
    "GET other",
    "SET k:1 v",
    "SET k:1 v GET",
    "MSET k:2 v",
    "CLIENT ID",
    "ACL WHOAMI",
    "CONFIG GET maxclients",
    "OBJECT ENCODING k:1",
    "PING",
    "NOSUCHCOMMAND",
    "GET",
    "AUTH sel anything",
    "SET write::foo bar",
    "GET read::foo",
    "GET write::foo",
    "SET read::foo bar",
    "PING",
    "AUTH default whatever",
    "ACL WHOAMI",
    "ACL DELUSER np sel",
];

const REQUIREPASS: &[&str] = &[
    "AUTH pw",
    "CONFIG SET requirepass s3cret",
    "AUTH wrong",
    "AUTH default wrong",
    "AUTH s3cret",
    "AUTH default s3cret",
    "ACL WHOAMI",
    "CONFIG SET requirepass \"\"",
    "AUTH s3cret",
];

#[test]
fn acl_replies_match_redis() {
    check_both_protocols(&[
        ("setuser errors", SETUSER_ERRORS),
        ("users", USERS),
        ("cat and help", CAT_AND_HELP),
        ("dryrun", DRYRUN),
        ("gate", GATE),
        ("requirepass", REQUIREPASS),
    ]);
}

/// A connection that never authenticated, once `default` has a password.
#[test]
fn noauth_matches_redis() {
    let pair = Pair::start();
    let mut failures = Vec::new();
    let (mut redis, mut cairn) = pair.connect(false, &mut failures);
    for line in ["ACL SETUSER default resetpass >pw", "ACL WHOAMI"] {
        exchange(
            &mut redis,
            &mut cairn,
            line,
            &parse_line(line),
            &mut failures,
        );
    }
    let (mut redis, mut cairn) = pair.connect(false, &mut failures);
    for line in [
        "GET k",
        "ACL WHOAMI",
        "HELLO 3",
        "AUTH default nope",
        "AUTH pw",
        "ACL WHOAMI",
        "ACL SETUSER default nopass",
    ] {
        exchange(
            &mut redis,
            &mut cairn,
            line,
            &parse_line(line),
            &mut failures,
        );
    }
    assert_none("RESP2", failures);
}
