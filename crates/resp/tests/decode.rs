//! Request decoder tests: Redis's error texts and conditions, inline splitting, multibulk
//! framing, and independence from how the input is split into reads.

use bytes::{Bytes, BytesMut};
use cairn_resp::{Decoder, Limits, ProtocolError, Reply, decode_command, encode_command};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Everything decoding `input` in one buffer yields: the commands, the error that stopped it
/// (if any), and the unconsumed bytes.
#[derive(Debug, PartialEq)]
struct Outcome {
    commands: Vec<Vec<Bytes>>,
    error: Option<ProtocolError>,
    rest: Vec<u8>,
}

fn decode_whole(input: &[u8], limits: &Limits) -> Outcome {
    let mut buf = BytesMut::from(input);
    let mut commands = Vec::new();
    let error = loop {
        match decode_command(&mut buf, limits) {
            Ok(Some(args)) => commands.push(args),
            Ok(None) => break None,
            Err(err) => break Some(err),
        }
    };
    Outcome {
        commands,
        error,
        rest: buf.to_vec(),
    }
}

/// Feeds `input` in chunks of `chunk` bytes, decoding after each, with `decode_command` or
/// with a [`Decoder`]. Stops at the first error, as a server closes the connection; the
/// unconsumed bytes then include those not fed yet.
fn decode_chunked(input: &[u8], limits: &Limits, chunk: usize, stateful: bool) -> Outcome {
    let mut decoder = Decoder::new(limits.clone());
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    for (index, piece) in input.chunks(chunk).enumerate() {
        buf.extend_from_slice(piece);
        loop {
            let result = if stateful {
                decoder.decode(&mut buf)
            } else {
                decode_command(&mut buf, limits)
            };
            match result {
                Ok(Some(args)) => commands.push(args),
                Ok(None) => break,
                Err(err) => {
                    let fed = ((index + 1) * chunk).min(input.len());
                    buf.extend_from_slice(&input[fed..]);
                    return Outcome {
                        commands,
                        error: Some(err),
                        rest: buf.to_vec(),
                    };
                }
            }
        }
    }
    Outcome {
        commands,
        error: None,
        rest: buf.to_vec(),
    }
}

/// Decodes a single command from `input`, which must hold exactly one.
fn one(input: &[u8]) -> Vec<Bytes> {
    let outcome = decode_whole(input, &Limits::default());
    assert_eq!(outcome.error, None, "input {input:?}");
    assert_eq!(outcome.commands.len(), 1, "input {input:?}");
    assert!(outcome.rest.is_empty(), "input {input:?}");
    outcome.commands.into_iter().next().unwrap_or_default()
}

fn args(list: &[&str]) -> Vec<Bytes> {
    list.iter()
        .map(|arg| Bytes::copy_from_slice(arg.as_bytes()))
        .collect()
}

fn error_of(input: &[u8], limits: &Limits) -> ProtocolError {
    match decode_whole(input, limits).error {
        Some(err) => err,
        None => panic!("no error for {input:?}"),
    }
}

fn small_limits() -> Limits {
    Limits {
        bulk_len_max: 10,
        multibulk_len_max: 5,
        inline_len_max: 16,
    }
}

// ---------------------------------------------------------------------------------------------
// Error texts and conditions
// ---------------------------------------------------------------------------------------------

#[test]
fn error_texts_are_redis_texts() {
    let cases = [
        (
            ProtocolError::InvalidMultibulkLength,
            "Protocol error: invalid multibulk length",
        ),
        (
            ProtocolError::InvalidBulkLength,
            "Protocol error: invalid bulk length",
        ),
        (
            ProtocolError::ExpectedDollar(b'X'),
            "Protocol error: expected '$', got 'X'",
        ),
        (
            ProtocolError::TooBigInlineRequest,
            "Protocol error: too big inline request",
        ),
        (
            ProtocolError::TooBigMultibulkCount,
            "Protocol error: too big mbulk count string",
        ),
        (
            ProtocolError::TooBigBulkCount,
            "Protocol error: too big bulk count string",
        ),
        (
            ProtocolError::UnbalancedQuotes,
            "Protocol error: unbalanced quotes in request",
        ),
    ];
    for (err, text) in cases {
        assert_eq!(err.to_string(), text);
        assert_eq!(
            err.to_reply(),
            Reply::Error(Bytes::from(format!("ERR {text}")))
        );
    }
}

#[test]
fn expected_dollar_reply_carries_the_raw_byte() {
    let reply = ProtocolError::ExpectedDollar(0xff).to_reply();
    let mut expected = b"ERR Protocol error: expected '$', got '".to_vec();
    expected.extend_from_slice(b"\xff'");
    assert_eq!(reply, Reply::Error(Bytes::from(expected)));
}

#[test]
fn invalid_multibulk_length() {
    let limits = Limits::default();
    for input in [
        &b"*x\r\n"[..],
        b"*\r\n",
        b"*1x\r\n",
        b"*01\r\n",
        b"*-0\r\n",
        b"*+1\r\n",
        b"* 1\r\n",
        b"*2147483648\r\n",
        b"*99999999999999999999\r\n",
        b"*\x001\r\n",
    ] {
        assert_eq!(
            error_of(input, &limits),
            ProtocolError::InvalidMultibulkLength,
            "{input:?}"
        );
    }
    assert_eq!(
        error_of(b"*6\r\n", &small_limits()),
        ProtocolError::InvalidMultibulkLength
    );
    // At the limit is fine: it just waits for the elements.
    assert_eq!(decode_whole(b"*5\r\n", &small_limits()).error, None);
    assert_eq!(decode_whole(b"*2147483647\r\n", &limits).error, None);
}

#[test]
fn invalid_bulk_length() {
    let limits = Limits::default();
    for input in [
        &b"*1\r\n$x\r\n"[..],
        b"*1\r\n$\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$-5\r\n",
        b"*1\r\n$01\r\n",
        b"*1\r\n$1 \r\n",
        b"*1\r\n$536870913\r\n",
    ] {
        assert_eq!(
            error_of(input, &limits),
            ProtocolError::InvalidBulkLength,
            "{input:?}"
        );
    }
    assert_eq!(
        error_of(b"*1\r\n$11\r\n", &small_limits()),
        ProtocolError::InvalidBulkLength
    );
    assert_eq!(decode_whole(b"*1\r\n$10\r\n", &small_limits()).error, None);
    assert_eq!(decode_whole(b"*1\r\n$536870912\r\n", &limits).error, None);
}

#[test]
fn expected_dollar() {
    let limits = Limits::default();
    assert_eq!(
        error_of(b"*1\r\nX\r\n", &limits),
        ProtocolError::ExpectedDollar(b'X')
    );
    assert_eq!(
        error_of(b"*2\r\n$1\r\na\r\n:1\r\n", &limits),
        ProtocolError::ExpectedDollar(b':')
    );
    // The check waits for the whole header line, like Redis.
    assert_eq!(decode_whole(b"*1\r\nX", &limits).error, None);
    assert_eq!(decode_whole(b"*1\r\nX\r", &limits).error, None);
}

#[test]
fn too_big_inline_request() {
    let limits = small_limits();
    assert_eq!(
        error_of(&[b'a'; 17], &limits),
        ProtocolError::TooBigInlineRequest
    );
    assert_eq!(decode_whole(&[b'a'; 16], &limits).error, None);
    // With the newline present, the line length still decides (the error does not depend on
    // how the bytes arrived).
    let mut long_line = vec![b'a'; 17];
    long_line.push(b'\n');
    assert_eq!(
        error_of(&long_line, &limits),
        ProtocolError::TooBigInlineRequest
    );
    let mut ok_line = vec![b'a'; 16];
    ok_line.push(b'\n');
    assert_eq!(decode_whole(&ok_line, &limits).commands.len(), 1);
    // The default limit is Redis's 64 KiB.
    assert_eq!(
        error_of(&vec![b'a'; 64 * 1024 + 1], &Limits::default()),
        ProtocolError::TooBigInlineRequest
    );
}

#[test]
fn too_big_count_strings() {
    let limits = small_limits();
    let mut mbulk = b"*".to_vec();
    mbulk.extend_from_slice(&[b'1'; 16]);
    assert_eq!(
        error_of(&mbulk, &limits),
        ProtocolError::TooBigMultibulkCount
    );
    assert_eq!(decode_whole(&mbulk[..16], &limits).error, None);
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend_from_slice(&[b'1'; 16]);
    assert_eq!(error_of(&bulk, &limits), ProtocolError::TooBigBulkCount);
    assert_eq!(decode_whole(&bulk[..bulk.len() - 1], &limits).error, None);
    // A `\r` within the limit turns it into a length error instead.
    assert_eq!(
        error_of(b"*1111111111111\r\n", &limits),
        ProtocolError::InvalidMultibulkLength
    );
}

#[test]
fn unbalanced_quotes() {
    let limits = Limits::default();
    for input in [
        &b"SET \"abc\n"[..],
        b"SET 'abc\n",
        b"SET \"abc\"def\n",
        b"SET 'abc'def\n",
        b"SET \"abc\\\n",
        b"SET \"a\" \"b\n",
        b"\"\n",
        b"SET \"a\0\"\n",
    ] {
        assert_eq!(
            error_of(input, &limits),
            ProtocolError::UnbalancedQuotes,
            "{input:?}"
        );
    }
}

#[test]
fn errors_consume_nothing_of_the_bad_request() {
    let outcome = decode_whole(b"*1\r\n$1\r\na\r\n*1\r\nX\r\n", &Limits::default());
    assert_eq!(outcome.commands, vec![args(&["a"])]);
    assert_eq!(outcome.rest, b"*1\r\nX\r\n");
}

// ---------------------------------------------------------------------------------------------
// Inline commands
// ---------------------------------------------------------------------------------------------

#[test]
fn inline_splits_on_whitespace() {
    assert_eq!(one(b"PING\r\n"), args(&["PING"]));
    assert_eq!(one(b"PING\n"), args(&["PING"]));
    assert_eq!(
        one(b"  SET\tkey   value \r\n"),
        args(&["SET", "key", "value"])
    );
    // A `\r` inside the line separates arguments too.
    assert_eq!(one(b"a\rb\n"), args(&["a", "b"]));
    // Vertical tab and form feed are skipped between arguments but kept inside one.
    assert_eq!(one(b"\x0ba\x0bb\x0c\n"), args(&["a\x0bb\x0c"]));
    // Only the last `\r` before `\n` is the line ending.
    assert_eq!(one(b"a\r\r\n"), args(&["a"]));
}

#[test]
fn inline_double_quotes_and_escapes() {
    assert_eq!(
        one(b"SET k \"hello world\"\n"),
        args(&["SET", "k", "hello world"])
    );
    assert_eq!(one(b"\"\"\n"), args(&[""]));
    assert_eq!(
        one(b"\"a\\n\\r\\t\\b\\a\\\\\\\"\"\n"),
        args(&["a\n\r\t\x08\x07\\\""])
    );
    assert_eq!(one(b"\"\\x41\\x6a\\x6A\"\n"), args(&["Ajj"]));
    // `\x` without two hex digits is just `x`; an unknown escape is the character itself.
    assert_eq!(
        one(b"\"\\x4\" \"\\xg1\" \"\\q\"\n"),
        args(&["x4", "xg1", "q"])
    );
    assert_eq!(one(b"\"\\x00\\xff\"\n")[0], Bytes::from_static(b"\x00\xff"));
    // Text may run into a quoted section, which ends the argument.
    assert_eq!(one(b"ab\"c d\" e\n"), args(&["abc d", "e"]));
    // A closing quote may be followed by any whitespace.
    assert_eq!(one(b"\"a\"\tb\n"), args(&["a", "b"]));
    assert_eq!(one(b"\"a\"\x0bb\n"), args(&["a", "b"]));
}

#[test]
fn inline_single_quotes() {
    assert_eq!(one(b"'hello world'\n"), args(&["hello world"]));
    assert_eq!(one(b"'it\\'s'\n"), args(&["it's"]));
    // Other backslashes are literal in single quotes.
    assert_eq!(one(b"'a\\nb\\ c'\n"), args(&["a\\nb\\ c"]));
    // So `\\'` is a backslash then an escaped quote, leaving the quote open.
    assert_eq!(
        error_of(b"'a\\\\'\n", &Limits::default()),
        ProtocolError::UnbalancedQuotes
    );
    assert_eq!(one(b"'say \"hi\"'\n"), args(&["say \"hi\""]));
    assert_eq!(one(b"''\n"), args(&[""]));
}

#[test]
fn inline_empty_lines_are_skipped() {
    let outcome = decode_whole(b"\r\n\n   \r\n\t\nPING\r\n\n", &Limits::default());
    assert_eq!(outcome.commands, vec![args(&["PING"])]);
    assert_eq!(outcome.error, None);
    assert!(outcome.rest.is_empty());
}

#[test]
fn inline_ignores_everything_after_a_nul() {
    assert_eq!(one(b"SET a b\0c d\n"), args(&["SET", "a", "b"]));
    let outcome = decode_whole(b"\0PING\nECHO\n", &Limits::default());
    assert_eq!(outcome.commands, vec![args(&["ECHO"])]);
}

#[test]
fn inline_waits_for_newline() {
    let outcome = decode_whole(b"PING\r", &Limits::default());
    assert_eq!(outcome.commands, Vec::<Vec<Bytes>>::new());
    assert_eq!(outcome.rest, b"PING\r");
}

// ---------------------------------------------------------------------------------------------
// Multibulk framing
// ---------------------------------------------------------------------------------------------

#[test]
fn multibulk_basic() {
    assert_eq!(one(b"*1\r\n$4\r\nPING\r\n"), args(&["PING"]));
    assert_eq!(
        one(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"),
        args(&["SET", "k", ""])
    );
    assert_eq!(
        one(b"*1\r\n$4\r\na\r\nb\r\n")[0],
        Bytes::from_static(b"a\r\nb")
    );
}

#[test]
fn multibulk_empty_and_negative_counts_are_skipped() {
    let outcome = decode_whole(b"*0\r\n*-1\r\n*-7\r\n*1\r\n$1\r\nx\r\n", &Limits::default());
    assert_eq!(outcome.commands, vec![args(&["x"])]);
    assert!(outcome.rest.is_empty());
}

#[test]
fn multibulk_terminators_are_not_checked() {
    // Redis skips the byte after a header's `\r` and the two bytes after a payload unseen.
    assert_eq!(one(b"*1\rX$1\r\na__"), args(&["a"]));
}

#[test]
fn multibulk_mixed_with_inline() {
    let outcome = decode_whole(
        b"PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nECHO 'x y'\n",
        &Limits::default(),
    );
    assert_eq!(
        outcome.commands,
        vec![
            args(&["PING"]),
            args(&["ECHO", "hi"]),
            args(&["ECHO", "x y"])
        ]
    );
}

#[test]
fn huge_announcements_allocate_nothing() {
    // If either allocated what it announces, these loops would exhaust memory at once.
    let limits = Limits {
        bulk_len_max: usize::MAX,
        ..Limits::default()
    };
    for _ in 0..10_000 {
        let mut buf = BytesMut::from(&b"*2147483647\r\n$1000000000\r\nabc"[..]);
        let capacity = buf.capacity();
        assert_eq!(decode_command(&mut buf, &limits), Ok(None));
        assert_eq!(buf.len(), 29);
        assert_eq!(buf.capacity(), capacity);
        let mut buf = BytesMut::from(&b"*1\r\n$9223372036854775807\r\n"[..]);
        assert_eq!(decode_command(&mut buf, &limits), Ok(None));
    }
}

#[test]
fn arguments_share_the_input_buffer() {
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"[..]);
    let start = buf.as_ptr() as usize;
    let command = decode_command(&mut buf, &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(command[0].as_ptr() as usize, start + 8);
    assert_eq!(command[1].as_ptr() as usize, start + 17);
}

// ---------------------------------------------------------------------------------------------
// Independence from read boundaries
// ---------------------------------------------------------------------------------------------

/// A pipeline exercising every request shape, ending in a partial request.
fn pipeline() -> Vec<u8> {
    let mut input = BytesMut::new();
    encode_command(&[b"SET", b"key", b"value with\r\nCRLF"], &mut input);
    input.extend_from_slice(b"PING\r\n\r\n  \nECHO \"a b\" 'c d' \\x41\n");
    input.extend_from_slice(b"*0\r\n*-1\r\n");
    encode_command(&[b"GET", b""], &mut input);
    encode_command(&[b"MSET", b"a", b"1", b"b", b"2"], &mut input);
    input.extend_from_slice(b"PING\n*2\r\n$4\r\nECHO\r\n$5\r\nhel");
    input.to_vec()
}

#[test]
fn every_chunk_size_gives_the_same_result() {
    let input = pipeline();
    let limits = Limits::default();
    let whole = decode_whole(&input, &limits);
    assert_eq!(whole.commands.len(), 6);
    assert_eq!(whole.rest, b"*2\r\n$4\r\nECHO\r\n$5\r\nhel");
    for chunk in 1..=input.len() {
        for stateful in [false, true] {
            let chunked = decode_chunked(&input, &limits, chunk, stateful);
            assert_eq!(chunked, whole, "chunk {chunk}, stateful {stateful}");
        }
    }
}

#[test]
fn every_split_point_gives_the_same_result() {
    let input = pipeline();
    let limits = Limits::default();
    let whole = decode_whole(&input, &limits);
    for split in 0..=input.len() {
        let mut buf = BytesMut::new();
        let mut commands = Vec::new();
        for part in [&input[..split], &input[split..]] {
            buf.extend_from_slice(part);
            while let Some(command) = decode_command(&mut buf, &limits).unwrap() {
                commands.push(command);
            }
        }
        assert_eq!(commands, whole.commands, "split at {split}");
        assert_eq!(&buf[..], &whole.rest[..]);
    }
}

#[test]
fn errors_do_not_depend_on_chunking() {
    let limits = small_limits();
    let inputs: [&[u8]; 6] = [
        b"PING\n*1\r\n$1111111111111111111",
        b"*1\r\n$1\r\na\r\n*11111111111111111",
        b"PING\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
        b"*1\r\n$3\r\nabc\r\n*1\r\n@",
        b"*1\r\n$3\r\nabc\r\n*1\r\n@\r\n",
        b"ECHO 'a\n",
    ];
    for input in inputs {
        let whole = decode_whole(input, &limits);
        for chunk in 1..=input.len() {
            for stateful in [false, true] {
                assert_eq!(
                    decode_chunked(input, &limits, chunk, stateful),
                    whole,
                    "{input:?}"
                );
            }
        }
    }
}

#[test]
fn decoder_starts_over_if_the_buffer_shrinks() {
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    // Contract broken: the front is replaced. The decoder must not panic.
    let mut other = BytesMut::from(&b"*1\r\n$1"[..]);
    assert_eq!(decoder.decode(&mut other), Ok(None));
    other.extend_from_slice(b"\r\nx\r\n");
    assert_eq!(decoder.decode(&mut other), Ok(Some(args(&["x"]))));
}
