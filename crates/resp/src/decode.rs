//! The streaming request decoder: what a Redis server reads from a client socket.
//!
//! A request is either a *multibulk* (`*N\r\n` followed by `N` bulk strings `$len\r\n<bytes>\r\n`)
//! or an *inline* command (one line split on whitespace, with quoting, as typed into telnet).
//! Behaviour and error texts follow Redis 7.0 (`processMultibulkBuffer`, `processInlineBuffer`,
//! `sdssplitargs`, `string2ll`), with two deliberate differences, both about NUL bytes in
//! headers: Redis searches lines with `strchr`, which stops at a NUL, so it waits for more
//! input (until a "too big ... string" error) where this decoder sees the line at once.
//!
//! Every result is independent of how the input was split into reads: feeding a pipeline byte
//! by byte gives the same commands and the same error as feeding it whole. The length limits
//! are therefore checked against the position of the line terminator, not against how much
//! happens to be buffered.
//!
//! After any [`ProtocolError`] the connection is unusable (its framing is lost): reply with
//! [`ProtocolError::to_reply`] and close it, as Redis does.
//!
//! Sections, low level to high level: limits and errors; integer and line scanning; inline
//! splitting; multibulk framing; the public entry points [`decode_command`] and [`Decoder`].

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr;
use thiserror::Error;

use crate::Reply;

// ---------------------------------------------------------------------------------------------
// Limits and errors
// ---------------------------------------------------------------------------------------------

/// Size limits enforced while decoding, before anything is allocated for a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted bulk string (Redis `proto-max-bulk-len`).
    pub bulk_len_max: usize,
    /// Largest accepted `*N` argument count. Counts above `i32::MAX` are always rejected, as
    /// Redis stores `argc` in an `int`.
    pub multibulk_len_max: usize,
    /// Longest inline line, and longest `*`/`$` header line (Redis `PROTO_INLINE_MAX_SIZE`).
    pub inline_len_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Redis's default proto-max-bulk-len: 512 MiB.
            bulk_len_max: 512 * 1024 * 1024,
            // Redis has no separate setting; its only bound is the `int` argc.
            multibulk_len_max: i32::MAX as usize,
            // Redis's PROTO_INLINE_MAX_SIZE: 64 KiB.
            inline_len_max: 64 * 1024,
        }
    }
}

/// A malformed request. `Display` is Redis's text without the `ERR ` prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// `*N` where `N` is not an integer or is over the limit.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// `$len` where `len` is not an integer, is negative, or is over the limit.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// A multibulk element did not start with `$`; holds the byte found instead. `Display`
    /// shows it as a Latin-1 character; [`ProtocolError::to_reply`] sends the raw byte.
    #[error("Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    /// An inline line longer than `inline_len_max`.
    #[error("Protocol error: too big inline request")]
    TooBigInlineRequest,
    /// A `*N` header line longer than `inline_len_max`.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// A `$len` header line longer than `inline_len_max`.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// An inline line with an unterminated quote, or a closing quote glued to more text.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// `*N` over [`UNAUTHENTICATED_MULTIBULK_LEN_MAX`] from a client that must authenticate.
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// `$len` over [`UNAUTHENTICATED_BULK_LEN_MAX`] from a client that must authenticate.
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
}

/// The most arguments a client that must still authenticate may send in one multibulk, and
/// the longest of them (Redis's limits: enough for AUTH and HELLO, too little to make an
/// anonymous client cost memory).
pub const UNAUTHENTICATED_MULTIBULK_LEN_MAX: u64 = 10;
pub const UNAUTHENTICATED_BULK_LEN_MAX: usize = 16 * 1024;

impl ProtocolError {
    /// The error reply Redis sends before closing the connection: `ERR ` plus the text, with
    /// the offending byte of [`ProtocolError::ExpectedDollar`] sent as is.
    pub fn to_reply(&self) -> Reply {
        let mut text = b"ERR ".to_vec();
        match self {
            ProtocolError::ExpectedDollar(byte) => {
                text.extend_from_slice(b"Protocol error: expected '$', got '");
                text.push(*byte);
                text.push(b'\'');
            }
            other => text.extend_from_slice(other.to_string().as_bytes()),
        }
        Reply::Error(Bytes::from(text))
    }
}

// ---------------------------------------------------------------------------------------------
// Integer and line scanning
// ---------------------------------------------------------------------------------------------

/// Redis's `LONG_STR_SIZE`: `string2ll` rejects inputs this long or longer without reading
/// them (the longest `long long` is 20 characters).
const LONG_STR_SIZE: usize = 21;

/// Parses a decimal `i64` with Redis's `string2ll` rules: optional `-`, no `+`, no spaces, no
/// leading zeros (except `0` itself, so `-0` is invalid), no overflow.
fn parse_i64(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() >= LONG_STR_SIZE {
        return None;
    }
    if text == b"0" {
        return Some(0);
    }
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(value)
    } else {
        i64::try_from(value).ok()
    }
}

/// Finds the header line (`*N` or `$len`) starting at `start`: returns the index of its `\r`.
///
/// Like Redis, the byte after `\r` is taken to be `\n` without looking at it, but it must have
/// arrived. `Ok(None)` means more input is needed; `too_big` is returned once more than
/// `max` bytes have arrived with no `\r` among them.
/// How far `header_line` scans byte by byte before handing the search to memchr.
const SHORT_LINE: usize = 24;

fn header_line(
    buf: &[u8],
    start: usize,
    max: usize,
    too_big: ProtocolError,
) -> Result<Option<usize>, ProtocolError> {
    let rest = &buf[start..];
    // A `\r` at index `max` is still acceptable: only `max + 1` bytes before it are too many.
    let window = &rest[..rest.len().min(max.saturating_add(1))];
    // Header lines are a few bytes (`$100`, `*3`): a plain scan finds their end sooner than
    // memchr's vector setup; memchr takes over for long lines (inline commands).
    let near = &window[..window.len().min(SHORT_LINE)];
    let found = match near.iter().position(|&b| b == b'\r') {
        Some(cr) => Some(cr),
        None if window.len() > SHORT_LINE => {
            memchr(b'\r', &window[SHORT_LINE..]).map(|cr| cr + SHORT_LINE)
        }
        None => None,
    };
    match found {
        Some(cr) if cr + 2 <= rest.len() => Ok(Some(start + cr)),
        Some(_) => Ok(None),
        None if rest.len() > max => Err(too_big),
        None => Ok(None),
    }
}

// ---------------------------------------------------------------------------------------------
// Inline commands (Redis `sdssplitargs`)
// ---------------------------------------------------------------------------------------------

/// C's `isspace`: what `sdssplitargs` skips between arguments and requires after a quote.
fn is_c_space(byte: u8) -> bool {
    // 0x0b and 0x0c are vertical tab and form feed.
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The value of an ASCII hex digit (the caller has checked it is one).
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// Whether the byte after a closing quote at `quote` allows the argument to end there.
fn quote_may_close(line: &[u8], quote: usize) -> bool {
    line.get(quote + 1).is_none_or(|&next| is_c_space(next))
}

/// Reads a `"..."` section whose first content byte is at `pos`; returns the index after the
/// closing quote. Escapes: `\xHH`, `\n \r \t \b \a`, and `\<any>` for that byte.
fn read_double_quoted(
    line: &[u8],
    mut pos: usize,
    arg: &mut Vec<u8>,
) -> Result<usize, ProtocolError> {
    loop {
        match (line.get(pos), line.get(pos + 1)) {
            (None, _) => return Err(ProtocolError::UnbalancedQuotes),
            (Some(b'\\'), Some(b'x'))
                if line.get(pos + 2).is_some_and(u8::is_ascii_hexdigit)
                    && line.get(pos + 3).is_some_and(u8::is_ascii_hexdigit) =>
            {
                arg.push(hex_value(line[pos + 2]) * 16 + hex_value(line[pos + 3]));
                pos += 4;
            }
            (Some(b'\\'), Some(&escaped)) => {
                arg.push(match escaped {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 0x08, // backspace
                    b'a' => 0x07, // bell
                    other => other,
                });
                pos += 2;
            }
            (Some(b'"'), _) if quote_may_close(line, pos) => return Ok(pos + 1),
            (Some(b'"'), _) => return Err(ProtocolError::UnbalancedQuotes),
            (Some(&byte), _) => {
                arg.push(byte);
                pos += 1;
            }
        }
    }
}

/// Reads a `'...'` section whose first content byte is at `pos`; returns the index after the
/// closing quote. The only escape is `\'`.
fn read_single_quoted(
    line: &[u8],
    mut pos: usize,
    arg: &mut Vec<u8>,
) -> Result<usize, ProtocolError> {
    loop {
        match (line.get(pos), line.get(pos + 1)) {
            (None, _) => return Err(ProtocolError::UnbalancedQuotes),
            (Some(b'\\'), Some(b'\'')) => {
                arg.push(b'\'');
                pos += 2;
            }
            (Some(b'\''), _) if quote_may_close(line, pos) => return Ok(pos + 1),
            (Some(b'\''), _) => return Err(ProtocolError::UnbalancedQuotes),
            (Some(&byte), _) => {
                arg.push(byte);
                pos += 1;
            }
        }
    }
}

/// Reads one argument starting at the non-blank `pos`; returns it and the index after it.
/// Unquoted text may run straight into a quoted section (`ab"c d"` is `abc d`), which then
/// ends the argument.
fn read_argument(line: &[u8], mut pos: usize) -> Result<(Vec<u8>, usize), ProtocolError> {
    let mut arg = Vec::new();
    loop {
        match line.get(pos) {
            // Only these end an unquoted argument; vertical tab and form feed do not.
            None | Some(b' ' | b'\n' | b'\r' | b'\t') => return Ok((arg, pos)),
            Some(b'"') => {
                let end = read_double_quoted(line, pos + 1, &mut arg)?;
                return Ok((arg, end));
            }
            Some(b'\'') => {
                let end = read_single_quoted(line, pos + 1, &mut arg)?;
                return Ok((arg, end));
            }
            Some(&byte) => {
                arg.push(byte);
                pos += 1;
            }
        }
    }
}

/// Splits an inline line (without its line ending) into arguments. Like Redis, which treats
/// the line as a C string, everything from the first NUL byte on is ignored.
fn split_inline(line: &[u8]) -> Result<Vec<Bytes>, ProtocolError> {
    let line = memchr(0, line).map_or(line, |nul| &line[..nul]);
    let mut args = Vec::new();
    let mut pos = 0;
    loop {
        while line.get(pos).is_some_and(|&byte| is_c_space(byte)) {
            pos += 1;
        }
        if pos == line.len() {
            return Ok(args);
        }
        let (arg, next) = read_argument(line, pos)?;
        args.push(Bytes::from(arg));
        pos = next;
    }
}

/// What one decoding step found at the front of the buffer.
enum Step {
    /// The request is not complete yet; nothing may be consumed.
    Incomplete,
    /// A request with no arguments (empty line, `*0`, `*-1`) ending at this offset.
    Skip(usize),
    /// A complete request ending at this offset.
    Complete(usize),
}

/// Decodes the inline command at the front of `buf` without consuming it. Lines end at `\n`;
/// a `\r` before it is dropped.
fn inline_step(buf: &[u8], limits: &Limits) -> Result<(Step, Vec<Bytes>), ProtocolError> {
    let window = &buf[..buf.len().min(limits.inline_len_max.saturating_add(1))];
    let Some(newline) = memchr(b'\n', window) else {
        if buf.len() > limits.inline_len_max {
            return Err(ProtocolError::TooBigInlineRequest);
        }
        return Ok((Step::Incomplete, Vec::new()));
    };
    let line = &buf[..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let args = split_inline(line)?;
    let step = if args.is_empty() {
        Step::Skip(newline + 1)
    } else {
        Step::Complete(newline + 1)
    };
    Ok((step, args))
}

// ---------------------------------------------------------------------------------------------
// Multibulk framing
// ---------------------------------------------------------------------------------------------

/// Initial argument-vector capacity for a multibulk, whatever count it announces, so that a
/// huge `*N` costs nothing until its elements arrive (Redis uses the same bound).
const ARGS_CAPACITY_MAX: usize = 1024;

/// How far a multibulk at the front of the buffer has been parsed. Offsets are relative to
/// the start of the request; they stay valid while the caller only appends to the buffer.
#[derive(Debug, Default)]
struct Frame {
    /// Offset just past the last complete element (or the `*N` header).
    pos: usize,
    /// Elements still expected; `None` until the `*N` header has been parsed.
    remaining: Option<usize>,
    /// Where each complete element's bytes are.
    args: Vec<Range<usize>>,
    /// The client must authenticate: the unauthenticated limits apply (kept across requests).
    unauthenticated: bool,
}

impl Frame {
    fn reset(&mut self) {
        self.pos = 0;
        self.remaining = None;
        self.args.clear();
        // A [`Decoder`] keeps this vector between commands; don't let one huge request pin
        // its memory for the life of the connection.
        if self.args.capacity() > ARGS_CAPACITY_MAX {
            self.args = Vec::new();
        }
    }

    /// Parses the `*N` header. Returns the step to take if the request is already decided
    /// (incomplete, or an empty multibulk to skip); otherwise records `N` and returns `None`.
    fn header(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<Step>, ProtocolError> {
        let max = limits.inline_len_max;
        let Some(cr) = header_line(buf, 0, max, ProtocolError::TooBigMultibulkCount)? else {
            return Ok(Some(Step::Incomplete));
        };
        let count = parse_i64(&buf[1..cr]).ok_or(ProtocolError::InvalidMultibulkLength)?;
        let end = cr + 2;
        if count <= 0 {
            return Ok(Some(Step::Skip(end)));
        }
        let count = u64::try_from(count).map_err(|_| ProtocolError::InvalidMultibulkLength)?;
        let limit = limits.multibulk_len_max.min(i32::MAX as usize) as u64;
        if count > limit {
            return Err(ProtocolError::InvalidMultibulkLength);
        }
        if self.unauthenticated && count > UNAUTHENTICATED_MULTIBULK_LEN_MAX {
            return Err(ProtocolError::UnauthenticatedMultibulkLength);
        }
        // `count` is at most i32::MAX here, so it fits a usize.
        let count = count as usize;
        self.pos = end;
        self.remaining = Some(count);
        self.args.reserve(count.min(ARGS_CAPACITY_MAX));
        Ok(None)
    }

    /// Parses the next `$len\r\n<bytes>\r\n` element; returns whether it was complete.
    /// Like Redis, the two bytes after the payload are skipped without being checked.
    fn element(&mut self, buf: &[u8], limits: &Limits) -> Result<bool, ProtocolError> {
        let max = limits.inline_len_max;
        let Some(cr) = header_line(buf, self.pos, max, ProtocolError::TooBigBulkCount)? else {
            return Ok(false);
        };
        if buf[self.pos] != b'$' {
            return Err(ProtocolError::ExpectedDollar(buf[self.pos]));
        }
        let len = parse_i64(&buf[self.pos + 1..cr]).ok_or(ProtocolError::InvalidBulkLength)?;
        let len = usize::try_from(len).map_err(|_| ProtocolError::InvalidBulkLength)?;
        if len > limits.bulk_len_max {
            return Err(ProtocolError::InvalidBulkLength);
        }
        if self.unauthenticated && len > UNAUTHENTICATED_BULK_LEN_MAX {
            return Err(ProtocolError::UnauthenticatedBulkLength);
        }
        let start = cr + 2;
        // Payload plus its two-byte terminator; saturating because bulk_len_max may be huge.
        if buf.len() - start < len.saturating_add(2) {
            return Ok(false);
        }
        self.args.push(start..start + len);
        self.pos = start + len + 2;
        Ok(true)
    }

    /// Continues parsing the multibulk at the front of `buf` from where it stopped.
    fn step(&mut self, buf: &[u8], limits: &Limits) -> Result<Step, ProtocolError> {
        if self.remaining.is_none()
            && let Some(step) = self.header(buf, limits)?
        {
            return Ok(step);
        }
        while let Some(remaining) = self.remaining.filter(|&n| n > 0) {
            if !self.element(buf, limits)? {
                return Ok(Step::Incomplete);
            }
            self.remaining = Some(remaining - 1);
        }
        Ok(Step::Complete(self.pos))
    }

    /// Consumes the complete request (`end` bytes) and returns its arguments as views into
    /// one frozen buffer.
    fn take(&self, buf: &mut BytesMut, end: usize) -> Vec<Bytes> {
        let frame = buf.split_to(end).freeze();
        self.args
            .iter()
            .map(|range| frame.slice(range.clone()))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------------------------

/// Decodes one command from the front of `buf`, consuming its bytes.
///
/// - `Ok(Some(args))`: a command with at least one argument; its bytes were consumed.
/// - `Ok(None)`: more input is needed; nothing of the partial command was consumed (requests
///   with no arguments before it, such as empty lines, `*0` and `*-1`, are consumed and
///   skipped, as Redis ignores them).
/// - `Err(_)`: the request is malformed; reply with [`ProtocolError::to_reply`] and close.
///
/// Multibulk arguments are zero-copy slices of `buf`'s storage: keeping even a small one alive
/// keeps the whole chunk it came from allocated, and stops `buf` from reusing that memory.
/// Callers that store arguments long-term should copy them.
///
/// A partial multibulk is parsed again from its start on every call; [`Decoder`] remembers
/// its progress instead, which matters for large requests arriving over many reads.
pub fn decode_command(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let mut frame = Frame::default();
    decode_with(buf, limits, &mut frame)
}

/// The decoding loop shared by [`decode_command`] and [`Decoder`]; `frame` holds the progress
/// of a partial multibulk at the front of `buf`, and is reset whenever a request is consumed.
fn decode_with(
    buf: &mut BytesMut,
    limits: &Limits,
    frame: &mut Frame,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    loop {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let (step, inline_args) = if first == b'*' {
            (frame.step(buf, limits)?, Vec::new())
        } else {
            inline_step(buf, limits)?
        };
        match step {
            Step::Incomplete => return Ok(None),
            Step::Skip(end) => {
                buf.advance(end);
                frame.reset();
            }
            Step::Complete(end) if first == b'*' => {
                let args = frame.take(buf, end);
                frame.reset();
                return Ok(Some(args));
            }
            Step::Complete(end) => {
                buf.advance(end);
                return Ok(Some(inline_args));
            }
        }
    }
}

/// A resumable version of [`decode_command`] for one connection: it remembers how much of a
/// partial multibulk it has already parsed, so a large request arriving over many reads is
/// parsed once rather than once per read.
///
/// Contract: after a call returns `Ok(None)`, the caller may only append to the buffer before
/// the next call (never consume, clear or replace its front). If the buffer is found shorter
/// than the saved progress, decoding starts over; it never panics either way.
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
    frame: Frame,
}

impl Decoder {
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            frame: Frame::default(),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the client must still authenticate: multibulks of more than 10 arguments and
    /// bulks over 16 KiB are then refused, as Redis refuses them.
    pub fn set_unauthenticated(&mut self, on: bool) {
        self.frame.unauthenticated = on;
    }

    /// Decodes one command from the front of `buf`, with the same results as
    /// [`decode_command`].
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if self.frame.pos > buf.len() || buf.first() != Some(&b'*') {
            self.frame.reset();
        }
        let result = decode_with(buf, &self.limits, &mut self.frame);
        if result.is_err() {
            self.frame.reset();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthenticated_clients_get_small_limits() {
        let mut d = Decoder::new(Limits::default());
        d.set_unauthenticated(true);
        let mut buf = BytesMut::from(&b"*100\r\n"[..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
        let mut buf = BytesMut::from(&b"*1\r\n$100000000\r\n"[..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(ProtocolError::UnauthenticatedBulkLength)
        );
        // An invalid length is still invalid first; a small command passes.
        let mut buf = BytesMut::from(&b"*-x\r\n"[..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        let mut buf = BytesMut::from(&b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"[..]);
        assert_eq!(d.decode(&mut buf).unwrap().unwrap().len(), 2);
        d.set_unauthenticated(false);
        let mut buf = BytesMut::from(&b"*100\r\n"[..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
    }

    #[test]
    fn parse_i64_follows_string2ll() {
        let valid: &[(&[u8], i64)] = &[
            (b"0", 0),
            (b"1", 1),
            (b"-1", -1),
            (b"9223372036854775807", i64::MAX),
            (b"-9223372036854775808", i64::MIN),
        ];
        for (text, value) in valid {
            assert_eq!(
                parse_i64(text),
                Some(*value),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        let invalid: &[&[u8]] = &[
            b"",
            b"-",
            b"-0",
            b"00",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"000000000000000000001",
            b"99999999999999999999",
        ];
        for text in invalid {
            assert_eq!(parse_i64(text), None, "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn header_line_limits_are_by_position() {
        let err = ProtocolError::TooBigBulkCount;
        assert_eq!(header_line(b"$12\r", 0, 8, err), Ok(None));
        assert_eq!(header_line(b"$12\r\n", 0, 8, err), Ok(Some(3)));
        assert_eq!(header_line(b"$1234", 0, 4, err), Err(err));
        assert_eq!(header_line(b"$123\r\n", 0, 4, err), Ok(Some(4)));
        assert_eq!(header_line(b"$1234\r\n", 0, 4, err), Err(err));
        assert_eq!(header_line(b"xx$1\r\n", 2, 2, err), Ok(Some(4)));
        // Around the end of the byte-by-byte scan.
        for cr in [SHORT_LINE - 1, SHORT_LINE, SHORT_LINE + 1, 3 * SHORT_LINE] {
            let mut line = vec![b'1'; cr];
            line.extend_from_slice(b"\r\n");
            assert_eq!(header_line(&line, 0, 1000, err), Ok(Some(cr)));
            assert_eq!(header_line(&line[..cr + 1], 0, 1000, err), Ok(None));
            assert_eq!(header_line(&line[..cr], 0, 1000, err), Ok(None));
            assert_eq!(header_line(&line[..cr], 0, cr - 1, err), Err(err));
        }
    }
}
