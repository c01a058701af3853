//! Unit tests of users, rules, descriptions, the permission check and the snapshot form.

use bytes::Bytes;

use super::*;
use crate::table;

fn args(line: &str) -> Vec<Bytes> {
    crate::testing::split_args(line).expect("valid line")
}

fn user(rules: &str) -> User {
    let mut users = Users::new();
    let name = Bytes::from_static(b"u");
    users.setuser(&name, &args(rules)).expect("valid rules");
    User::clone(users.get(b"u").unwrap())
}

fn line(u: &User) -> String {
    String::from_utf8(user_line(u)).unwrap()
}

fn check(u: &User, command: &str) -> Result<(), Denied> {
    let argv = args(command);
    let spec = table::resolve(&argv).map_err(|_| Denied::Command)?;
    u.check(spec, &argv)
}

#[test]
fn new_users_are_off_with_nothing_allowed() {
    assert_eq!(line(&user("")), "user u off resetchannels -@all");
    assert_eq!(
        line(&user("reset")),
        "user u off sanitize-payload resetchannels -@all"
    );
    assert_eq!(
        line(&Users::new().default_user().as_ref().clone()),
        "user default on nopass ~* &* +@all"
    );
}

#[test]
fn descriptions_rebuild_the_user() {
    for rules in [
        "on >p1 ~a* %R~b* %W~c &ch -@all +get +client|id +select|0 (+set ~x) (%R~y +@read)",
        "+@all -client|kill -@dangerous",
        "-@all +@string -get +config|get",
        "+@all ~* &* -@write +set",
        "on nopass %RW~k:* +@read +@write -keys",
        "off #aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa +debug|x +debug|y",
    ] {
        let u = user(rules);
        let text = user_line(&u);
        let rebuilt = user_from_line(&text).unwrap();
        assert_eq!(
            describe::describe_user(&rebuilt),
            describe::describe_user(&u),
            "{rules}"
        );
        for (a, b) in u.selectors.iter().zip(&rebuilt.selectors) {
            assert_eq!(a.commands, b.commands, "{rules}");
        }
    }
}

#[test]
fn descriptions_match_redis() {
    // Texts from Redis 7.0.15 for rules whose single commands leave no ordering choice.
    assert_eq!(
        line(&user("on >p1 ~a* %R~b* &ch +get (+set ~x)")),
        "user u on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~a* %R~b* resetchannels &ch -@all +get (~x resetchannels -@all +set)"
    );
    assert_eq!(
        line(&user("+@all -client|kill")),
        "user u off resetchannels +@all -client|kill"
    );
    assert_eq!(
        line(&user("%R~foo %W~foo %RW~bar")),
        "user u off ~foo ~bar resetchannels -@all"
    );
    assert_eq!(
        line(&user("-@all +@string")),
        "user u off resetchannels -@all +@string"
    );
    assert_eq!(
        line(&user("allkeys ~*")),
        "user u off ~* resetchannels -@all"
    );
}

#[test]
fn rule_errors_are_redis_texts() {
    let mut users = Users::new();
    let name = Bytes::from_static(b"u");
    let err = |users: &mut Users, rules: &str| match users.setuser(&name, &args(rules)) {
        Err(Reply::Error(text)) => String::from_utf8(text.to_vec()).unwrap(),
        other => panic!("{rules}: {other:?}"),
    };
    assert_eq!(
        err(&mut users, "+nosuch"),
        "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
    );
    assert_eq!(
        err(&mut users, "%RR~x"),
        "ERR Error in ACL SETUSER modifier '%RR~x': Syntax error"
    );
    assert_eq!(
        err(&mut users, "+config|get|x"),
        "ERR Error in ACL SETUSER modifier '+config|get|x': Allowing first-arg of a subcommand is not supported"
    );
    assert_eq!(
        err(&mut users, "+config|"),
        "ERR Error in ACL SETUSER modifier '+config|': Syntax error"
    );
    assert_eq!(
        err(&mut users, "-select|0"),
        "ERR Error in ACL SETUSER modifier '-select|0': Unknown command or category name in ACL"
    );
    assert_eq!(
        err(&mut users, "allkeys ~a"),
        "ERR Error in ACL SETUSER modifier '~a': Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
    );
    assert_eq!(
        err(&mut users, "(+get"),
        "ERR Unmatched parenthesis in acl selector starting at '(+get'."
    );
    assert_eq!(
        err(&mut users, "#abc"),
        "ERR Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
    );
    // A failed SETUSER changes nothing.
    assert!(users.get(b"u").is_none());
}

#[test]
fn key_permissions_follow_key_specs() {
    let u = user("on +@all %R~read* %W~write* ~rw*");
    assert_eq!(check(&u, "GET read"), Ok(()));
    assert_eq!(check(&u, "GET write"), Err(Denied::Key(1)));
    // SET overwrites: write permission suffices, unless GET reads the old value.
    assert_eq!(check(&u, "SET write v"), Ok(()));
    assert_eq!(check(&u, "SET write v GET"), Err(Denied::Key(1)));
    assert_eq!(check(&u, "SET rw v GET"), Ok(()));
    assert_eq!(check(&u, "SET read v"), Err(Denied::Key(1)));
    // Existence checks need either permission; COPY reads its source, writes its target.
    assert_eq!(check(&u, "EXISTS read write"), Ok(()));
    assert_eq!(check(&u, "EXISTS nothing"), Err(Denied::Key(1)));
    assert_eq!(check(&u, "COPY read write"), Ok(()));
    assert_eq!(check(&u, "COPY write read"), Err(Denied::Key(1)));
    assert_eq!(check(&u, "MSET write 1 read 2"), Err(Denied::Key(3)));
    assert_eq!(check(&u, "DEL write rw"), Ok(()));
    assert_eq!(check(&u, "INCR write"), Err(Denied::Key(1)));
    assert_eq!(check(&u, "APPEND write x"), Ok(()));
}

#[test]
fn keys_that_move_with_the_arguments_are_checked() {
    let u = user("on +@all %R~read* %W~write* ~rw*");
    // Sources after a numkeys argument, destinations after STORE wherever it comes.
    assert_eq!(check(&u, "ZUNIONSTORE write 2 read1 read2"), Ok(()));
    assert_eq!(
        check(&u, "ZUNIONSTORE write 2 read1 secret"),
        Err(Denied::Key(4))
    );
    assert_eq!(check(&u, "ZINTERCARD 2 read1 secret"), Err(Denied::Key(3)));
    assert_eq!(check(&u, "SINTERCARD 1 secret"), Err(Denied::Key(2)));
    assert_eq!(check(&u, "LMPOP 2 rw1 read LEFT"), Err(Denied::Key(3)));
    assert_eq!(check(&u, "BLMPOP 0 1 rw1 LEFT"), Ok(()));
    assert_eq!(check(&u, "SORT read BY x LIMIT 0 1 STORE write"), Ok(()));
    assert_eq!(
        check(&u, "SORT read GET store STORE secret"),
        Err(Denied::Key(5))
    );
    assert_eq!(
        check(&u, "GEORADIUS read 0 0 1 km STORE secret"),
        Err(Denied::Key(7))
    );
    assert_eq!(
        check(&u, "GEORADIUSBYMEMBER read m 1 km STOREDIST write"),
        Ok(())
    );
}

#[test]
fn selectors_are_alternatives_and_the_worst_refusal_is_reported() {
    let u = user("on +mget ~key (+mget ~key ~otherkey)");
    assert_eq!(check(&u, "GET key"), Err(Denied::Command));
    assert_eq!(check(&u, "MGET key otherkey"), Ok(()));
    assert_eq!(check(&u, "MGET otherkey someotherkey"), Err(Denied::Key(2)));
    let u = user("on (+@write ~write::*) (+@read ~read::*)");
    assert_eq!(check(&u, "SET write::foo bar"), Ok(()));
    assert_eq!(check(&u, "GET read::foo"), Ok(()));
    assert_eq!(check(&u, "GET write::foo"), Err(Denied::Key(1)));
    assert_eq!(check(&u, "PING"), Err(Denied::Command));
}

#[test]
fn subcommands_and_first_args() {
    let u = user("on -@all +acl +select|0 +config|get ~*");
    assert_eq!(check(&u, "SELECT 0"), Ok(()));
    assert_eq!(check(&u, "SELECT 1"), Err(Denied::Command));
    assert_eq!(check(&u, "CONFIG GET x"), Ok(()));
    assert_eq!(check(&u, "CONFIG SET x y"), Err(Denied::Command));
    // AUTH and HELLO need no permission.
    assert_eq!(check(&u, "AUTH a b"), Ok(()));
    let u = user("on +@all -client|kill");
    assert_eq!(check(&u, "CLIENT ID"), Ok(()));
    assert_eq!(check(&u, "CLIENT KILL ID 1"), Err(Denied::Command));
}

#[test]
fn unrestricted_users_skip_the_check() {
    assert!(Users::new().default_user().unrestricted());
    assert!(!user("on +@all ~*").unrestricted(), "no channels");
    assert!(user("on +@all ~* &*").unrestricted());
    assert!(user("on (+@all ~* &*)").unrestricted());
}

#[test]
fn channel_patterns() {
    let mut s = rules::Selector::new(true);
    s.apply(b"&news.*").unwrap();
    s.apply(b"&exact").unwrap();
    assert!(s.channel_allowed(b"news.today", false));
    assert!(!s.channel_allowed(b"sports", false));
    // A pattern subscribed to must be one of the user's patterns, literally.
    assert!(s.channel_allowed(b"news.*", true));
    assert!(!s.channel_allowed(b"news.t*", true));
    assert_eq!(s.apply(b"&*"), Ok(()));
    assert_eq!(s.apply(b"&more"), Err(RuleError::ChannelAfterAll));
}

#[test]
fn deluser_and_load_close_connections() {
    let mut users = Users::new();
    for name in ["a", "b"] {
        users
            .setuser(&Bytes::copy_from_slice(name.as_bytes()), &args("on"))
            .unwrap();
    }
    let generation = users.generation();
    users.begin_entry();
    assert_eq!(users.deluser(&args("a nosuch")), 1);
    assert_eq!(users.closing(), &args("a")[..]);
    assert!(users.generation() > generation);
    users.begin_entry();
    users
        .load(&[Bytes::from_static(b"user c on nopass +@all ~*")])
        .unwrap();
    assert_eq!(users.closing(), &args("b default")[..1]);
    assert_eq!(
        users.lines(),
        [
            Bytes::from_static(b"user c on nopass ~* resetchannels +@all"),
            Bytes::from_static(b"user default on nopass ~* &* +@all"),
        ]
    );
}

#[test]
fn acl_files_parse_with_redis_errors() {
    let text = b"user alice on >alice ~* &* +@all\n\n  user bob on -@all +@set ~set* >bob\r\n";
    let lines = parse_acl_file("users.acl", text).unwrap();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with(b"user alice on #"));
    assert_eq!(&lines[2][..], b"user default on nopass ~* &* +@all");
    let err = parse_acl_file(
        "users.acl",
        b"user alice on\nuser alice off\nfoo bar\nuser x +nosuch %RR~x %XX~y\nuser y (+get",
    )
    .unwrap_err();
    assert_eq!(
        err,
        "WARNING: Duplicate user 'alice' found on line 2. users.acl:3 should start with user keyword followed by the username. users.acl:4: Error in applying operation '+nosuch': Unknown command or category name in ACL. users.acl:4: Syntax error. users.acl:5: Unmatched parenthesis in selector definition.WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
    );
}

#[test]
fn users_survive_a_snapshot_exactly() {
    let mut users = Users::new();
    for (name, rules) in [
        (
            "a",
            "on >x #aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ~k* %R~r* &c +@all -keys +select|0",
        ),
        (
            "b",
            "off -@all +select|1 +select|0 +get (~x +set) ('~y\"z' +@read)",
        ),
        ("c", "on nopass +@all -get +get allkeys allchannels"),
    ] {
        users
            .setuser(&Bytes::copy_from_slice(name.as_bytes()), &args(rules))
            .unwrap();
    }
    let mut bytes = Vec::new();
    encode_users(&users, &mut bytes);
    let restored = decode_users(&mut Reader::new(&bytes)).unwrap();
    assert_eq!(restored.lines(), users.lines());
    for (a, b) in users.iter().zip(restored.iter()) {
        assert_eq!(a, b, "{:?}", a.name());
    }
}

#[test]
fn a_version_4_snapshot_has_the_default_user() {
    let engine = crate::Engine::new(1);
    let mut bytes = engine.snapshot();
    // Version 4 ended after 7 encoding thresholds; version 8 put two more (16 bytes) before
    // the users, which version 5 adds; then come empty counts: watchers (version 6), scripts
    // and function libraries (version 7).
    let mut users = Vec::new();
    encode_users(engine.users(), &mut users);
    bytes.truncate(bytes.len() - users.len() - 12 - 16);
    bytes[0] = 4;
    let restored = crate::Engine::restore(&bytes, 1).unwrap();
    assert_eq!(restored.users().lines(), engine.users().lines());
}

#[test]
fn setuser_rows_are_found_for_redaction() {
    let argv = args("ACL SETUSER x >pw");
    let spec = table::resolve(&argv).ok().unwrap();
    let out = crate::commands::acl::prepare_for_log(spec, argv);
    assert_eq!(
        &out[3][..],
        b"#30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"
    );
}

#[test]
fn pattern_shapes_match_as_the_glob_matcher_does() {
    let patterns = [
        "", "*", "**", "a", "abc", "abc*", "abc**", "a*c", "?", "a?", "[ab]*", "a\\*", "a\\*b*",
        "key:*", "*x", "k[",
    ];
    let keys = [
        "", "a", "ab", "abc", "abcd", "a*", "a*b", "key:", "key:1", "x", "kx", "k[",
    ];
    for p in patterns {
        let pattern = rules::KeyPattern::new(rules::READ, Bytes::copy_from_slice(p.as_bytes()));
        for k in keys {
            assert_eq!(
                pattern.matches(k.as_bytes()),
                crate::glob::matches(p.as_bytes(), k.as_bytes(), false),
                "{p:?} {k:?}"
            );
        }
    }
}

#[test]
fn key_specs_find_keys_after_a_numkeys_argument_and_a_keyword() {
    use crate::table::{Begin, Find, Group, Handler, KeySpec, Keys, key};
    fn noop(_: &mut crate::ReadCtx, _: &[Bytes]) -> Reply {
        Reply::ok()
    }
    // ZUNIONSTORE-like: a destination, then numkeys and the keys it counts.
    static UNION: &[KeySpec] = &[
        KeySpec::at(1, key::OW | key::UPDATE),
        KeySpec {
            flags: key::RO | key::ACCESS,
            begin: Begin::Index(2),
            find: Find::Keynum {
                index: 0,
                first: 1,
                step: 1,
            },
        },
    ];
    // SORT ... STORE dest-like: a key after a keyword.
    static STORE: &[KeySpec] = &[KeySpec {
        flags: key::OW | key::UPDATE,
        begin: Begin::Keyword {
            keyword: "STORE",
            start_from: 1,
        },
        find: Find::Range {
            last: 0,
            step: 1,
            limit: 0,
        },
    }];
    let row = |specs: &'static [KeySpec]| {
        crate::commands::cmd(
            "x",
            -2,
            0,
            0,
            Keys::NONE,
            Group::Generic,
            "",
            "",
            Handler::Read(noop),
        )
        .key_specs(specs)
    };
    let keys = |spec: &crate::Spec, line: &str| {
        let argv = args(line);
        let mut out = Vec::new();
        spec.keys_of(&argv, |i, flags| {
            out.push((
                String::from_utf8(argv[i].to_vec()).unwrap(),
                flags & key::ACCESS != 0,
            ));
            true
        });
        out
    };
    let union = row(UNION);
    assert_eq!(
        keys(&union, "X dest 2 a b WEIGHTS 1 2"),
        [
            ("dest".to_string(), false),
            ("a".into(), true),
            ("b".into(), true)
        ]
    );
    // A numkeys that is not a count, or runs past the arguments: no keys (the command's own
    // syntax error follows), as in Redis.
    assert!(keys(&union, "X dest -1 a").is_empty());
    assert!(keys(&union, "X dest 3 a b").is_empty());
    assert!(keys(&union, "X dest zz a").is_empty());
    let store = row(STORE);
    assert_eq!(
        keys(&store, "X src BY w STORE out"),
        [("out".to_string(), false)]
    );
    assert!(keys(&store, "X src BY w").is_empty());

    // The selector's side: keys after numkeys are read, the destination written.
    let u = user("on +@all %R~in:* %W~out:*");
    let selector = u.root();
    assert!(selector.key_allowed(b"in:1", key::RO | key::ACCESS));
    assert!(!selector.key_allowed(b"in:1", key::OW | key::UPDATE));
    assert!(selector.key_allowed(b"out:1", key::OW | key::UPDATE));
    // Existence checks (no access, no write) need either permission.
    assert!(selector.key_allowed(b"out:1", key::RO));
    assert!(!selector.key_allowed(b"other", key::RO));
}

/// The users part of a snapshot, frozen: a change here needs a new snapshot version.
#[test]
fn golden_users_in_a_version_5_snapshot() {
    let mut users = Users::new();
    let hash = "ab".repeat(32);
    users
        .setuser(
            &Bytes::from_static(b"g"),
            &args(&format!("on #{hash} ~k %R~r &c +get")),
        )
        .unwrap();
    let mut actual = Vec::new();
    encode_users(&users, &mut actual);

    let mut expected = Vec::new();
    let u32_ = |out: &mut Vec<u8>, n: u32| out.extend_from_slice(&n.to_le_bytes());
    let bytes = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    u32_(&mut expected, 2); // users, by name
    // default: flags on|nopass, no hashes, one selector: root|allkeys|allchannels|allcommands
    bytes(&mut expected, b"default");
    expected.push(0b101);
    u32_(&mut expected, 0);
    u32_(&mut expected, 1);
    expected.push(0b1111);
    u32_(&mut expected, 0);
    u32_(&mut expected, 0);
    u32_(&mut expected, 1);
    bytes(&mut expected, b"+@all");
    // g: flags on, one hash, the root selector with two patterns, a channel, two rules
    bytes(&mut expected, b"g");
    expected.push(0b1);
    u32_(&mut expected, 1);
    expected.extend_from_slice(&[0xab; 32]);
    u32_(&mut expected, 1);
    expected.push(0b1);
    u32_(&mut expected, 2);
    expected.push(3);
    bytes(&mut expected, b"k");
    expected.push(1);
    bytes(&mut expected, b"r");
    u32_(&mut expected, 1);
    bytes(&mut expected, b"c");
    u32_(&mut expected, 2);
    bytes(&mut expected, b"-@all");
    bytes(&mut expected, b"+get");
    expected.push(0); // no ACL file loaded
    assert_eq!(actual, expected);
}

/// The gate's cost per command for a restricted user (`bench/acl.sh` measures it end to end):
/// `cargo test --release -p cairn-engine --lib -- --ignored check_cost --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
#[expect(
    clippy::disallowed_methods,
    reason = "measures wall time; the engine under test never reads it"
)]
fn check_cost() {
    let u = user("on >pw +@read +@write ~key:*");
    for line in ["GET key:000000012345", "SET key:000000012345 value"] {
        let argv = args(line);
        let spec = table::resolve(&argv).ok().unwrap();
        let rounds = 5_000_000;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            let allowed = std::hint::black_box(&u).check(spec, std::hint::black_box(&argv));
            assert!(allowed.is_ok());
        }
        let ns = started.elapsed().as_nanos() as f64 / f64::from(rounds);
        eprintln!("{line}: {ns:.1} ns per check");
    }
}
