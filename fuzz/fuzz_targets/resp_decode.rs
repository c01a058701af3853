//! Fuzzes the RESP request decoder: arbitrary bytes, fed in pseudo-random chunk sizes, must
//! never panic, must decode exactly as when fed whole, and every decoded command must survive
//! a re-encode/decode round trip.
//!
//! Input layout: the first byte seeds the chunk sizes (and picks `decode_command` or the
//! stateful `Decoder`); the rest is the byte stream a client would send.

#![no_main]

use bytes::{Bytes, BytesMut};
use cairn_resp::{Decoder, Limits, ProtocolError, decode_command, encode_command};
use libfuzzer_sys::fuzz_target;

/// Commands, the error that stopped decoding, and every byte not consumed.
type Outcome = (Vec<Vec<Bytes>>, Option<ProtocolError>, Vec<u8>);

/// Small limits, so that the fuzzer reaches every limit error quickly.
fn small_limits() -> Limits {
    Limits {
        bulk_len_max: 64,
        multibulk_len_max: 16,
        inline_len_max: 48,
    }
}

/// Next chunk size in 1..=16 from a xorshift state (16 keeps many reads per input).
fn next_chunk(state: &mut u32) -> usize {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    (*state % 16) as usize + 1
}

/// Decodes `input` fed in chunks (all at once when `seed` is `None`).
fn run(input: &[u8], limits: &Limits, seed: Option<u8>, stateful: bool) -> Outcome {
    // Any nonzero xorshift state works; the seed only varies it.
    let mut state = 0x9e37_79b9 ^ u32::from(seed.unwrap_or(0));
    let mut decoder = Decoder::new(limits.clone());
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    let mut fed = 0;
    while fed < input.len() {
        let size = if seed.is_some() {
            next_chunk(&mut state)
        } else {
            input.len()
        };
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
                    buf.extend_from_slice(&input[fed..]);
                    return (commands, Some(err), buf.to_vec());
                }
            }
        }
    }
    (commands, None, buf.to_vec())
}

/// Re-encodes `command` as a multibulk and checks it decodes to itself, consuming everything.
fn check_round_trip(command: &[Bytes]) {
    assert!(!command.is_empty(), "decoder returned an empty command");
    let args: Vec<&[u8]> = command.iter().map(|arg| &arg[..]).collect();
    let mut buf = BytesMut::new();
    encode_command(&args, &mut buf);
    // Inline arguments may exceed the small limits once re-encoded, so use the defaults.
    let decoded = decode_command(&mut buf, &Limits::default());
    assert_eq!(decoded, Ok(Some(command.to_vec())));
    assert!(buf.is_empty());
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let limits = small_limits();
    let whole = run(input, &limits, None, false);
    let chunked = run(input, &limits, Some(seed), seed & 1 == 1);
    assert_eq!(whole, chunked, "chunked decoding differs");
    let consumed: usize = whole.0.iter().flatten().map(Bytes::len).sum();
    assert!(consumed + whole.2.len() <= input.len());
    for command in &whole.0 {
        check_round_trip(command);
    }
});
