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
