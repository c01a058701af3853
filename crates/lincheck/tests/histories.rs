//! Hand-written histories with known verdicts.

mod common;

use cairn_lincheck::{Counterexample, Event, Op, Violation, check, check_with_limit};
use common::*;

fn assert_ok(h: &[Event]) {
    if let Err(v) = check(h) {
        panic!("expected linearizable, got:\n{v}");
    }
}

/// Asserts the history is not linearizable and returns the counterexample.
fn assert_violation(h: &[Event]) -> Counterexample {
    match check(h) {
        Err(v @ Violation::NotLinearizable(_)) => {
            // The report must always be printable and name the key.
            let text = v.to_string();
            assert!(
                text.starts_with("history is not linearizable on key"),
                "{text}"
            );
            let Violation::NotLinearizable(c) = v else {
                unreachable!()
            };
            assert!(c.pending.iter().any(|p| p.index == c.stuck.index), "{text}");
            *c
        }
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn empty_history_is_linearizable() {
    assert_ok(&[]);
}

#[test]
fn sequential_history_is_linearizable() {
    assert_ok(&[
        get(1, "k", None, 0, 10),
        set(1, "k", "a", 20, 30),
        get(2, "k", Some("a"), 40, 50),
        set(3, "k", "7", 60, 70),
        incr(1, "k", 8, 80, 90),
        get(2, "k", Some("8"), 100, 110),
        del(3, "k", 1, 120, 130),
        del(3, "k", 0, 140, 150),
        get(1, "k", None, 160, 170),
        incr(2, "k", 1, 180, 190),
    ]);
}

#[test]
fn events_may_be_given_in_any_order() {
    let mut h = vec![
        set(1, "k", "a", 0, 10),
        get(2, "k", Some("a"), 20, 30),
        set(1, "k", "b", 40, 50),
        get(2, "k", Some("b"), 60, 70),
    ];
    h.reverse();
    assert_ok(&h);
}

#[test]
fn stale_read_is_a_violation() {
    let c = assert_violation(&[
        set(1, "k", "1", 0, 10),
        set(1, "k", "2", 20, 30),
        get(2, "k", Some("1"), 40, 50),
    ]);
    assert_eq!(c.key, b"k");
    assert_eq!(c.stuck.index, 2);
    assert_eq!(c.state.as_deref(), Some(&b"2"[..]));
}

#[test]
fn read_of_initial_absent_value_after_write_is_a_violation() {
    let c = assert_violation(&[set(1, "k", "1", 0, 10), get(2, "k", None, 11, 20)]);
    assert_eq!(c.stuck.index, 1);
}

#[test]
fn read_before_any_write_must_be_nil() {
    assert_ok(&[get(1, "k", None, 0, 10), set(2, "k", "x", 20, 30)]);
    assert_violation(&[get(1, "k", Some("x"), 0, 10), set(2, "k", "x", 20, 30)]);
}

#[test]
fn concurrent_write_and_read_may_see_either_value() {
    for seen in [Some("old"), Some("new")] {
        assert_ok(&[
            set(1, "k", "old", 0, 10),
            set(1, "k", "new", 20, 60),
            get(2, "k", seen, 30, 50),
        ]);
    }
    // But not a value nobody wrote.
    assert_violation(&[
        set(1, "k", "old", 0, 10),
        set(1, "k", "new", 20, 60),
        get(2, "k", Some("other"), 30, 50),
    ]);
}

#[test]
fn new_then_old_read_inversion_is_a_violation() {
    // Two reads concurrent with a write, one after the other: once a read has
    // seen the new value, a later read must not see the old one.
    assert_ok(&[
        set(1, "k", "old", 0, 10),
        set(1, "k", "new", 20, 100),
        get(2, "k", Some("old"), 30, 40),
        get(3, "k", Some("new"), 50, 60),
    ]);
    let c = assert_violation(&[
        set(1, "k", "old", 0, 10),
        set(1, "k", "new", 20, 100),
        get(2, "k", Some("new"), 30, 40),
        get(3, "k", Some("old"), 50, 60),
    ]);
    assert_eq!(c.stuck.index, 3);
}

#[test]
fn touching_intervals_are_concurrent() {
    // The read is invoked at the very nanosecond the write returns.
    assert_ok(&[set(1, "k", "a", 0, 10), get(2, "k", None, 10, 20)]);
    // One nanosecond later it is not.
    assert_violation(&[set(1, "k", "a", 0, 10), get(2, "k", None, 11, 20)]);
}

#[test]
fn concurrent_increments_are_linearizable() {
    assert_ok(&[
        incr(1, "c", 2, 0, 100),
        incr(2, "c", 1, 10, 90),
        incr(3, "c", 3, 20, 110),
        get(1, "c", Some("3"), 120, 130),
    ]);
}

#[test]
fn duplicate_increment_results_are_a_lost_update() {
    let c = assert_violation(&[incr(1, "c", 1, 0, 100), incr(2, "c", 1, 10, 90)]);
    assert_eq!(c.key, b"c");
    // Also when the duplicates are far apart in time.
    assert_violation(&[
        set(1, "c", "10", 0, 5),
        incr(1, "c", 11, 10, 20),
        incr(2, "c", 12, 30, 40),
        incr(3, "c", 12, 50, 60),
    ]);
}

#[test]
fn incr_error_requires_a_non_integer_value() {
    assert_ok(&[
        set(1, "k", "abc", 0, 10),
        incr_err(2, "k", 20, 30),
        get(1, "k", Some("abc"), 40, 50),
    ]);
    // "Integers" Redis does not accept.
    for s in ["+1", "01", "-0", " 1", "1.5", "99999999999999999999"] {
        assert_ok(&[set(1, "k", s, 0, 10), incr_err(2, "k", 20, 30)]);
    }
    assert_ok(&[
        set(1, "k", "9223372036854775807", 0, 10),
        incr_err(2, "k", 20, 30),
    ]);
    assert_violation(&[set(1, "k", "41", 0, 10), incr_err(2, "k", 20, 30)]);
    assert_violation(&[incr_err(2, "k", 20, 30)]);
    assert_violation(&[set(1, "k", "x", 0, 10), incr(2, "k", 1, 20, 30)]);
    // A concurrent SET of a non-integer explains the error.
    assert_ok(&[
        set(1, "k", "41", 0, 10),
        set(3, "k", "x", 15, 50),
        incr_err(2, "k", 20, 30),
        set(1, "k", "5", 60, 70),
        incr(2, "k", 6, 80, 90),
    ]);
}

#[test]
fn del_returns_whether_the_key_existed() {
    assert_ok(&[
        del(1, "k", 0, 0, 10),
        set(1, "k", "v", 20, 30),
        del(2, "k", 1, 40, 50),
        get(1, "k", None, 60, 70),
    ]);
    assert_violation(&[del(1, "k", 1, 0, 10)]);
    assert_violation(&[set(1, "k", "v", 0, 10), del(1, "k", 0, 20, 30)]);
    assert_violation(&[set(1, "k", "v", 0, 10), del(1, "k", 2, 20, 30)]);
    // Two concurrent DELs can't both remove the key.
    assert_violation(&[
        set(1, "k", "v", 0, 10),
        del(2, "k", 1, 20, 40),
        del(3, "k", 1, 25, 45),
    ]);
}

#[test]
fn unknown_write_observed_later_is_linearizable() {
    assert_ok(&[
        set(1, "k", "a", 0, 10),
        unknown(2, "k", Op::Set(b"b".to_vec()), 20),
        get(1, "k", Some("a"), 30, 40),
        // Takes effect long after the client gave up on it.
        get(1, "k", Some("b"), 1_000, 1_010),
        get(3, "k", Some("b"), 2_000, 2_010),
    ]);
}

#[test]
fn unknown_write_never_observed_is_linearizable() {
    assert_ok(&[
        set(1, "k", "a", 0, 10),
        unknown(2, "k", Op::Set(b"b".to_vec()), 20),
        get(1, "k", Some("a"), 30, 40),
        get(1, "k", Some("a"), 1_000, 1_010),
    ]);
}

#[test]
fn unknown_write_observed_before_its_invocation_is_a_violation() {
    let c = assert_violation(&[
        set(1, "k", "a", 0, 10),
        get(1, "k", Some("b"), 20, 30),
        unknown(2, "k", Op::Set(b"b".to_vec()), 40),
    ]);
    assert_eq!(c.stuck.index, 1);
}

#[test]
fn unknown_write_cannot_take_effect_twice() {
    // Once overwritten, the unknown write's value cannot reappear.
    assert_violation(&[
        unknown(2, "k", Op::Set(b"b".to_vec()), 0),
        get(1, "k", Some("b"), 20, 30),
        set(1, "k", "a", 40, 50),
        get(1, "k", Some("b"), 60, 70),
    ]);
}

#[test]
fn unknown_increments_and_deletes_are_optional() {
    let h = [
        set(1, "c", "5", 0, 10),
        unknown(2, "c", Op::Incr, 20),
        unknown(3, "c", Op::Incr, 25),
        get(1, "c", Some("5"), 30, 40),
        get(1, "c", Some("6"), 50, 60),
        get(1, "c", Some("7"), 70, 80),
    ];
    assert_ok(&h);
    // Three increments would need a third unknown INCR.
    let mut bad = h.to_vec();
    bad.push(get(1, "c", Some("8"), 90, 100));
    assert_violation(&bad);
    assert_ok(&[
        set(1, "k", "v", 0, 10),
        unknown(2, "k", Op::Del, 20),
        get(1, "k", Some("v"), 30, 40),
        get(1, "k", None, 50, 60),
    ]);
}

#[test]
fn unknown_reads_and_rejected_commands_are_ignored() {
    assert_ok(&[
        set(1, "k", "a", 0, 10),
        unknown(2, "k", Op::Get, 5),
        ev(
            3,
            "k",
            Op::Set(b"zzz".to_vec()),
            cairn_lincheck::Ret::Error,
            20,
            30,
        ),
        get(1, "k", Some("a"), 40, 50),
    ]);
}

#[test]
fn keys_are_independent() {
    let c = assert_violation(&[
        set(1, "a", "1", 0, 10),
        set(2, "b", "1", 0, 10),
        get(1, "a", Some("1"), 20, 30),
        get(2, "b", None, 20, 30),
        // Would be fine for key "a"-only reasoning but not across keys:
        // each key is its own register.
        get(3, "c", Some("1"), 40, 50),
    ]);
    assert_eq!(c.key, b"b");
    assert_ok(&[
        set(1, "a", "1", 0, 10),
        set(2, "b", "2", 0, 10),
        get(1, "a", Some("1"), 20, 30),
        get(2, "b", Some("2"), 20, 30),
    ]);
}

#[test]
fn counterexample_describes_the_failing_window() {
    let h = [
        set(1, "k", "a", 0, 10),
        set(2, "k", "b", 20, 30),
        set(3, "k", "c", 40, 100),
        get(4, "k", Some("a"), 50, 60),
    ];
    let c = assert_violation(&h);
    assert_eq!(c.stuck.index, 3);
    assert_eq!(c.stuck.event, h[3]);
    let pending: Vec<usize> = c.pending.iter().map(|p| p.index).collect();
    assert_eq!(pending, [2, 3]);
    let text = c.to_string();
    for needle in [
        "key \"k\"",
        "#3 client 4 [50, 60] GET -> \"a\" <-",
        "#2 client 3 [40, 100] SET \"c\" -> OK",
        "#1 client 2 [20, 30] SET \"b\" -> OK",
        "register value then: \"b\"",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let u = unknown(7, "k", Op::Set(b"x".to_vec()), 5);
    assert_eq!(
        u.to_string(),
        "key \"k\": client 7 [5, +inf) SET \"x\" -> ?"
    );
}

#[test]
fn malformed_events_are_rejected() {
    let bad_times = [set(1, "k", "a", 10, 5)];
    assert!(matches!(
        check(&bad_times),
        Err(Violation::InvalidEvent { index: 0, .. })
    ));
    let bad_reply = [
        set(1, "k", "a", 0, 5),
        ev(1, "k", Op::Get, cairn_lincheck::Ret::Int(3), 10, 20),
    ];
    let err = check(&bad_reply).unwrap_err();
    assert!(
        matches!(err, Violation::InvalidEvent { index: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("wrong type"), "{err}");
}

#[test]
fn step_limit_turns_into_a_timeout() {
    let h: Vec<Event> = (0..100)
        .map(|i| set(1, "k", &format!("v{i}"), i * 10, i * 10 + 5))
        .collect();
    let err = check_with_limit(&h, 10).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains("gave up"), "{err}");
    assert!(check_with_limit(&h, 1_000).is_ok());
}

#[test]
fn many_concurrent_unknown_writes_with_a_bad_read_stay_bounded() {
    // Exponentially many subsets of unknown writes; the budget bounds the work
    // whatever the verdict.
    let mut h = vec![set(0, "k", "init", 0, 1)];
    for c in 1..=40 {
        h.push(unknown(
            c,
            "k",
            Op::Set(format!("{}", c % 3).into_bytes()),
            2,
        ));
    }
    for t in 0..40 {
        h.push(get(
            100,
            "k",
            Some(&format!("{}", t % 3)),
            10 + t * 10,
            15 + t * 10,
        ));
    }
    h.push(get(100, "k", Some("never"), 1_000, 1_010));
    let err = check_with_limit(&h, 200_000).unwrap_err();
    assert!(
        matches!(
            err,
            Violation::Timeout { .. } | Violation::NotLinearizable(_)
        ),
        "{err}"
    );
}
