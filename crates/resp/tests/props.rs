//! Property tests: encode/decode round trips, and arbitrary input never panics, never grows
//! the buffer, and decodes the same whatever the read boundaries.

use bytes::{Bytes, BytesMut};
use cairn_resp::{Decoder, Limits, ProtocolError, decode_command, encode_command};
use proptest::prelude::*;

/// Commands, the stopping error, and the unconsumed bytes of one decoding run.
type Outcome = (Vec<Vec<Bytes>>, Option<ProtocolError>, Vec<u8>);

/// Feeds `input` in pieces whose sizes cycle through `chunks` (all of it at once if empty).
fn decode_in_chunks(input: &[u8], limits: &Limits, chunks: &[usize], stateful: bool) -> Outcome {
    let mut decoder = Decoder::new(limits.clone());
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    let mut fed = 0;
    let mut sizes = chunks.iter().cycle();
    while fed < input.len() {
        let size = sizes.next().copied().unwrap_or(input.len()).max(1);
        let end = (fed + size).min(input.len());
        buf.extend_from_slice(&input[fed..end]);
        fed = end;
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
                    // Report the bytes not fed yet as unconsumed too.
                    buf.extend_from_slice(&input[fed..]);
                    return (commands, Some(err), buf.to_vec());
                }
            }
        }
    }
    (commands, None, buf.to_vec())
}

fn to_bytes(args: &[Vec<u8>]) -> Vec<Bytes> {
    args.iter().map(|arg| Bytes::copy_from_slice(arg)).collect()
}

fn encode_all(commands: &[Vec<Vec<u8>>]) -> BytesMut {
    let mut out = BytesMut::new();
    for command in commands {
        let refs: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
        encode_command(&refs, &mut out);
    }
    out
}

/// Bytes that favour the protocol's own characters, so that garbage often looks almost right.
fn protocol_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        any::<u8>(),
        prop::sample::select(b"*$\r\n\r\n0123456789-\"' \\x\0".to_vec()),
    ]
}

fn command() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..8)
}

proptest! {
    #[test]
    fn command_round_trip(args in command()) {
        let mut buf = encode_all(std::slice::from_ref(&args));
        let decoded = decode_command(&mut buf, &Limits::default());
        prop_assert_eq!(decoded, Ok(Some(to_bytes(&args))));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn pipeline_round_trip_in_any_chunks(
        commands in prop::collection::vec(command(), 0..6),
        chunks in prop::collection::vec(1usize..20, 0..8),
        stateful in any::<bool>(),
    ) {
        let input = encode_all(&commands);
        let (decoded, error, rest) = decode_in_chunks(&input, &Limits::default(), &chunks, stateful);
        let expected: Vec<Vec<Bytes>> = commands.iter().map(|c| to_bytes(c)).collect();
        prop_assert_eq!(decoded, expected);
        prop_assert_eq!(error, None);
        prop_assert!(rest.is_empty());
    }

    #[test]
    fn inline_hex_quoting_round_trip(args in command()) {
        // Any bytes survive as "\xHH..." inline arguments.
        let mut line = Vec::new();
        for arg in &args {
            line.push(b'"');
            for byte in arg {
                line.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
            }
            line.extend_from_slice(b"\" ");
        }
        line.extend_from_slice(b"\r\n");
        let mut buf = BytesMut::from(&line[..]);
        let limits = Limits { inline_len_max: usize::MAX, ..Limits::default() };
        prop_assert_eq!(decode_command(&mut buf, &limits), Ok(Some(to_bytes(&args))));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn garbage_is_chunking_independent_and_bounded(
        input in prop::collection::vec(protocol_byte(), 0..300),
        chunks in prop::collection::vec(1usize..10, 1..6),
        stateful in any::<bool>(),
    ) {
        let limits = Limits { bulk_len_max: 32, multibulk_len_max: 8, inline_len_max: 24 };
        let whole = decode_in_chunks(&input, &limits, &[], false);
        prop_assert_eq!(&decode_in_chunks(&input, &limits, &chunks, stateful), &whole);
        let (commands, _, rest) = whole;
        let decoded: usize = commands.iter().flatten().map(Bytes::len).sum();
        prop_assert!(decoded + rest.len() <= input.len());
        for command in &commands {
            prop_assert!(!command.is_empty() && command.len() <= input.len());
            prop_assert!(command.capacity() <= command.len().max(1024));
        }
    }

    #[test]
    fn huge_headers_wait_without_reserving(count in any::<u64>(), len in any::<u64>()) {
        let input = format!("*{count}\r\n${len}\r\nab");
        let mut buf = BytesMut::from(input.as_bytes());
        let capacity = buf.capacity();
        let limits = Limits { bulk_len_max: usize::MAX, ..Limits::default() };
        match decode_command(&mut buf, &limits) {
            Ok(None) | Err(_) => {}
            Ok(Some(args)) => prop_assert!(count == 1 && len <= 2, "{:?}", args),
        }
        prop_assert!(buf.capacity() <= capacity);
    }
}
