//! Unit tests of the family's rows and parsers; behaviour is covered by the transcripts in
//! tests/transcripts/zset-*.txt.

use super::*;
use crate::testing::split_args;

fn args(line: &str) -> Vec<Bytes> {
    split_args(line).expect("valid line")
}

#[test]
fn syntax_errors_stop_before_the_log() {
    assert_eq!(
        zadd_check(&args("ZADD k nx xx 1 a")),
        Err(Reply::error_static(XX_AND_NX))
    );
    assert_eq!(zadd_check(&args("ZADD k 1 a 2")), Err(syntax_error()));
    assert!(zadd_check(&args("ZADD k 1 a")).is_ok());
    assert_eq!(zincrby_check(&args("ZINCRBY k nx a")), Err(syntax_error()));
    assert_eq!(zpop_check(&args("ZPOPMIN k 1 2")), Err(syntax_error()));
    assert_eq!(zmpop_check(&args("ZMPOP 2 k MIN")), Err(syntax_error()));
    assert_eq!(
        zmpop_check(&args("ZMPOP 9223372036854775807 k MIN")),
        Err(syntax_error())
    );
    assert_eq!(
        bzmpop_check(&args("BZMPOP x 1 k MIN")),
        Err(Reply::error_static(parse::TIMEOUT_NOT_FLOAT))
    );
    // Redis parses these after the lookup, so a wrong type answers first.
    assert!(setops::zunionstore_check(&args("ZUNIONSTORE d 1 k WEIGHTS x")).is_ok());
}

#[test]
fn cursors_parse_like_strtoul() {
    assert_eq!(parse_cursor(b""), Some(0));
    assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
    assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_cursor(b"18446744073709551616"), None);
    assert_eq!(parse_cursor(b" 1"), None);
}

#[test]
fn rows_carry_redis_metadata() {
    let row = |name: &str| COMMANDS.iter().find(|s| s.name == name).expect("row");
    assert_eq!(
        row("zadd").acl_categories(),
        acl::WRITE | acl::SORTEDSET | acl::FAST
    );
    assert_eq!(
        row("bzpopmin").acl_categories(),
        acl::WRITE | acl::SORTEDSET | acl::FAST | acl::BLOCKING
    );
    assert_eq!(
        row("zrange").acl_categories(),
        acl::READ | acl::SORTEDSET | acl::SLOW
    );
    assert_eq!(row("bzpopmax").key_indices(4).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        row("zrangestore").key_indices(5).collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(
        COMMANDS
            .iter()
            .all(|s| s.group == Group::SortedSet && !s.complexity.is_empty())
    );
}

fn ready(h: &crate::testing::Harness) -> Vec<&[u8]> {
    h.engine.ready_keys().iter().map(|(_, k)| &k[..]).collect()
}

#[test]
fn additions_signal_their_keys() {
    let mut h = crate::testing::Harness::new();
    h.cmd("ZADD k 1 a");
    assert_eq!(ready(&h), [b"k"]);
    h.cmd("ZADD k XX 2 a");
    assert!(ready(&h).is_empty(), "an update adds nothing");
    h.cmd("ZINCRBY j 1 a");
    assert_eq!(ready(&h), [b"j"]);
    h.cmd("ZUNIONSTORE u 2 k j");
    assert_eq!(ready(&h), [b"u"]);
    h.cmd("ZRANGESTORE r k 0 -1");
    assert_eq!(ready(&h), [b"r"]);
    h.cmd("ZINTERSTORE empty 2 k missing");
    assert!(ready(&h).is_empty(), "an empty result stores nothing");
    h.cmd("ZREM k a");
    assert!(ready(&h).is_empty());
}

/// The members of a flat ZRANDMEMBER reply.
fn members_of(reply: Reply) -> Vec<Bytes> {
    let Reply::Array(items) = reply else {
        panic!("array reply: {reply:?}")
    };
    items
        .into_iter()
        .map(|r| match r {
            Reply::Bulk(b) => b,
            other => panic!("bulk: {other:?}"),
        })
        .collect()
}

#[test]
fn randmember_draws_distinct_members_or_repeats_as_asked() {
    let mut h = crate::testing::Harness::new();
    let members: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    let mut line = String::from("ZADD big");
    for m in &members {
        line.push_str(&format!(" 1 {m}"));
    }
    h.cmd(&line);
    h.cmd("ZADD small 1 a 2 b 3 c 4 d 5 e");
    for (key, count, n) in [
        ("small", 3, 5),
        ("small", 4, 5),
        ("big", 10, 200),
        ("big", 150, 200),
    ] {
        for _ in 0..20 {
            let got = members_of(h.cmd(&format!("ZRANDMEMBER {key} {count}")));
            let distinct: std::collections::BTreeSet<_> = got.iter().collect();
            assert_eq!(
                (got.len(), distinct.len()),
                (count, count),
                "{key} {count} of {n}"
            );
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let got = members_of(h.cmd("ZRANDMEMBER small -20"));
        assert_eq!(got.len(), 20);
        seen.extend(got);
    }
    assert_eq!(seen.len(), 5, "every member comes up");
    let Reply::Bulk(one) = h.cmd("ZRANDMEMBER big") else {
        panic!("a member")
    };
    assert!(members.iter().any(|m| m.as_bytes() == &one[..]));
}

#[test]
fn bzmpop_keys_follow_numkeys() {
    assert_eq!(bzmpop_key_range(&args("BZMPOP 0 2 a b MIN")), Some(3..5));
    assert_eq!(bzmpop_key_range(&args("BZMPOP 0 3 a b MIN")), None);
}
