//! Users, selectors and ACL SETUSER's rule language, with Redis 7.0's semantics and error
//! texts (`src/acl.c`: `ACLSetUser`, `ACLSetSelector`, `ACLMergeSelectorArguments`).
//!
//! A user has flags, a set of SHA-256 password hashes and selectors; the first selector is the
//! root (the rules written outside parentheses), the others were added with `(…)`. A selector
//! holds a bitmap of allowed commands (one bit per row of the command table, see
//! [`super::ids`]), first-arg exceptions (`+select|0`), key patterns with read/write
//! permissions and channel patterns.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::ids::{self, COMMAND_BITS};

// ---------------------------------------------------------------------------------------------
// Passwords

/// A SHA-256 digest: the only form in which a password is ever stored or logged.
pub type Hash = [u8; 32];

pub fn hash_password(password: &[u8]) -> Hash {
    Sha256::digest(password).into()
}

/// Lowercase hex, as ACL GETUSER and ACL LIST show a hash.
pub fn hex(hash: &Hash) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in hash {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// A hash as `#`/`!` take it: exactly 64 lowercase hex digits.
pub fn parse_hex(text: &[u8]) -> Option<Hash> {
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// Compares two hashes in time independent of where they differ.
pub fn hashes_equal(a: &Hash, b: &Hash) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---------------------------------------------------------------------------------------------
// Errors (Redis's `ACLSetUserStringError`)

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    /// ENOENT
    UnknownName,
    /// EINVAL
    Syntax,
    /// EEXIST
    KeyAfterAll,
    /// EISDIR
    ChannelAfterAll,
    /// ENODEV
    NoSuchPassword,
    /// EBADMSG
    BadHash,
    /// ECHILD
    FirstArgOfSubcommand,
}

impl RuleError {
    pub fn text(self) -> &'static str {
        match self {
            RuleError::UnknownName => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeyAfterAll => {
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
            }
            RuleError::ChannelAfterAll => {
                "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
            }
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            RuleError::BadHash => {
                "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
            }
            RuleError::FirstArgOfSubcommand => {
                "Allowing first-arg of a subcommand is not supported"
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The model

/// User flags, in the order ACL LIST and ACL GETUSER show them.
pub mod user_flag {
    pub const ON: u8 = 1 << 0;
    pub const OFF: u8 = 1 << 1;
    pub const NOPASS: u8 = 1 << 2;
    pub const SKIP_SANITIZE_PAYLOAD: u8 = 1 << 3;
    pub const SANITIZE_PAYLOAD: u8 = 1 << 4;

    pub const NAMES: &[(u8, &str)] = &[
        (ON, "on"),
        (OFF, "off"),
        (NOPASS, "nopass"),
        (SKIP_SANITIZE_PAYLOAD, "skip-sanitize-payload"),
        (SANITIZE_PAYLOAD, "sanitize-payload"),
    ];
}

/// Key pattern permissions.
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;
pub const READ_WRITE: u8 = READ | WRITE;

const ROOT: u8 = 1 << 0;
const ALL_KEYS: u8 = 1 << 1;
const ALL_CHANNELS: u8 = 1 << 2;
const ALL_COMMANDS: u8 = 1 << 3;

/// One bit per command-table row, and a last bit set only by `+@all`/`allcommands` (the user
/// may run commands a later version adds; ACL LIST then starts from `+@all`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandBits([u64; COMMAND_BITS / 64]);

impl CommandBits {
    pub const NONE: CommandBits = CommandBits([0; COMMAND_BITS / 64]);
    pub const ALL: CommandBits = CommandBits([u64::MAX; COMMAND_BITS / 64]);
    /// The reserved bit of `+@all`.
    pub const FUTURE: usize = COMMAND_BITS - 1;

    #[inline]
    pub fn get(&self, id: usize) -> bool {
        self.0[id / 64] & (1 << (id % 64)) != 0
    }

    pub fn set(&mut self, id: usize, on: bool) {
        if on {
            self.0[id / 64] |= 1 << (id % 64);
        } else {
            self.0[id / 64] &= !(1 << (id % 64));
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub perms: u8,
    pub pattern: Bytes,
    /// How the gate matches it: most patterns are a prefix or a whole name.
    pub(crate) shape: Shape,
}

/// A pattern's shape, found once when the rule is set, so that the gate runs the glob matcher
/// only for patterns that need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// No special character: the name itself.
    Exact,
    /// A literal prefix then only `*`s (`user:*`): names starting with it (`*` alone: every
    /// name but the empty one, as Redis's matcher has it).
    Prefix(usize),
    Glob,
}

/// `prefix == key[..prefix.len()]`, byte by byte: key prefixes are short, and a call to
/// memcmp costs more than the loop.
#[inline]
fn prefix_equal(prefix: &[u8], key: &[u8]) -> bool {
    prefix.iter().zip(key).all(|(a, b)| a == b)
}

impl KeyPattern {
    pub fn new(perms: u8, pattern: Bytes) -> KeyPattern {
        let special = |c: &u8| matches!(c, b'*' | b'?' | b'[' | b'\\');
        let literal = pattern.iter().position(special).unwrap_or(pattern.len());
        let shape = if literal == pattern.len() {
            Shape::Exact
        } else if pattern[literal..].iter().all(|&c| c == b'*') {
            Shape::Prefix(literal)
        } else {
            Shape::Glob
        };
        KeyPattern {
            perms,
            pattern,
            shape,
        }
    }

    /// Redis's `stringmatchlen(pattern, key)`, case-sensitive.
    #[inline]
    pub fn matches(&self, key: &[u8]) -> bool {
        match self.shape {
            Shape::Exact => *self.pattern == *key,
            Shape::Prefix(0) => !key.is_empty(),
            Shape::Prefix(n) => key.len() >= n && prefix_equal(&self.pattern[..n], key),
            Shape::Glob => crate::glob::matches(&self.pattern, key, false),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub(crate) flags: u8,
    pub(crate) commands: CommandBits,
    /// `+cmd|arg` exceptions of commands whose bit is off: (command id, allowed first args).
    pub(crate) first_args: Vec<(usize, Vec<Bytes>)>,
    pub(crate) patterns: Vec<KeyPattern>,
    pub(crate) channels: Vec<Bytes>,
}

impl Selector {
    /// A selector with no permissions. Channels start reset: Redis 7.0's default
    /// `acl-pubsub-default resetchannels`.
    pub fn new(root: bool) -> Selector {
        Selector {
            flags: if root { ROOT } else { 0 },
            commands: CommandBits::NONE,
            first_args: Vec::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
        }
    }

    pub fn all_keys(&self) -> bool {
        self.flags & ALL_KEYS != 0
    }

    pub fn all_channels(&self) -> bool {
        self.flags & ALL_CHANNELS != 0
    }

    pub fn all_commands(&self) -> bool {
        self.flags & ALL_COMMANDS != 0
    }

    pub fn is_root(&self) -> bool {
        self.flags & ROOT != 0
    }

    /// Whether the `+@all` bit is set (ACL LIST describes from `+@all` rather than `-@all`).
    pub fn future_commands(&self) -> bool {
        self.commands.get(CommandBits::FUTURE)
    }

    pub fn patterns(&self) -> &[KeyPattern] {
        &self.patterns
    }

    pub fn channels(&self) -> &[Bytes] {
        &self.channels
    }

    pub fn first_args(&self, id: usize) -> Option<&[Bytes]> {
        self.first_args
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, args)| args.as_slice())
    }

    pub(crate) fn set_command_bit(&mut self, id: usize, on: bool) {
        self.commands.set(id, on);
        if !on {
            self.flags &= !ALL_COMMANDS;
        }
    }

    /// Allows or denies a command and, for a container, each of its subcommands.
    pub(crate) fn change_command(&mut self, id: usize, allow: bool) {
        self.set_command_bit(id, allow);
        self.first_args.retain(|(i, _)| *i != id);
        for sub in ids::rows()[id].subcommands.clone() {
            self.set_command_bit(sub, allow);
        }
    }

    /// `+@category` / `-@category`.
    pub(crate) fn change_category(&mut self, category: u32, allow: bool) {
        for (id, row) in ids::rows().iter().enumerate() {
            if row.categories & category != 0 {
                self.change_command(id, allow);
            }
        }
    }

    fn set_all_commands(&mut self, allow: bool) {
        if allow {
            self.commands = CommandBits::ALL;
            self.flags |= ALL_COMMANDS;
        } else {
            self.commands = CommandBits::NONE;
            self.flags &= !ALL_COMMANDS;
        }
        self.first_args.clear();
    }

    fn add_first_arg(&mut self, id: usize, arg: &[u8]) {
        match self.first_args.iter_mut().find(|(i, _)| *i == id) {
            Some((_, args)) => {
                if !args.iter().any(|a| a.eq_ignore_ascii_case(arg)) {
                    args.push(Bytes::copy_from_slice(arg));
                }
            }
            None => {
                // Kept in id order: the order ACL LIST writes them, and a snapshot rebuilds.
                let at = self.first_args.partition_point(|(i, _)| *i < id);
                self.first_args
                    .insert(at, (id, vec![Bytes::copy_from_slice(arg)]));
            }
        }
    }

    /// One selector rule (Redis's `ACLSetSelector`).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if is("allkeys") || is("~*") {
            self.flags |= ALL_KEYS;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.flags &= !ALL_KEYS;
            self.patterns.clear();
        } else if is("allchannels") || is("&*") {
            self.flags |= ALL_CHANNELS;
            self.channels.clear();
        } else if is("resetchannels") {
            self.flags &= !ALL_CHANNELS;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.set_all_commands(true);
        } else if is("nocommands") || is("-@all") {
            self.set_all_commands(false);
        } else if op.first().is_some_and(|&c| c == b'~' || c == b'%') {
            self.add_key_pattern(op)?;
        } else if op.first() == Some(&b'&') {
            if self.all_channels() {
                return Err(RuleError::ChannelAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| **c == *pattern) {
                self.channels.push(Bytes::copy_from_slice(pattern));
            }
            self.flags &= !ALL_CHANNELS;
        } else if op.starts_with(b"+@") || op.starts_with(b"-@") {
            let category = super::category_by_name(&op[2..]).ok_or(RuleError::UnknownName)?;
            self.change_category(category, op[0] == b'+');
        } else if op.first() == Some(&b'+') {
            self.allow_command(&op[1..])?;
        } else if op.first() == Some(&b'-') {
            let id = ids::lookup(&op[1..]).ok_or(RuleError::UnknownName)?;
            self.change_command(id, false);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// `~pattern`, `%R~pattern`, `%W~pattern`, `%RW~pattern`.
    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.all_keys() {
            return Err(RuleError::KeyAfterAll);
        }
        let (perms, offset) = if op[0] == b'%' {
            let mut perms = 0;
            let mut offset = 1;
            while offset < op.len() {
                match op[offset].to_ascii_uppercase() {
                    b'R' if perms & READ == 0 => perms |= READ,
                    b'W' if perms & WRITE == 0 => perms |= WRITE,
                    b'~' => {
                        offset += 1;
                        break;
                    }
                    _ => return Err(RuleError::Syntax),
                }
                offset += 1;
            }
            // `%` and `%~x` grant nothing: refused (as redis-server 7.0.15 does).
            if perms == 0 {
                return Err(RuleError::Syntax);
            }
            (perms, offset)
        } else {
            (READ_WRITE, 1)
        };
        let pattern = &op[offset.min(op.len())..];
        if has_spaces(pattern) {
            return Err(RuleError::Syntax);
        }
        match self.patterns.iter_mut().find(|p| *p.pattern == *pattern) {
            Some(existing) => existing.perms |= perms,
            None => self
                .patterns
                .push(KeyPattern::new(perms, Bytes::copy_from_slice(pattern))),
        }
        self.flags &= !ALL_KEYS;
        Ok(())
    }

    /// `+command`, `+container|sub`, `+command|first-arg`.
    fn allow_command(&mut self, name: &[u8]) -> Result<(), RuleError> {
        let Some(bar) = name.iter().rposition(|&c| c == b'|') else {
            let id = ids::lookup(name).ok_or(RuleError::UnknownName)?;
            self.change_command(id, true);
            return Ok(());
        };
        let (base, sub) = (&name[..bar], &name[bar + 1..]);
        let id = ids::lookup(base).ok_or(RuleError::UnknownName)?;
        let row = &ids::rows()[id];
        if row.parent.is_some() {
            return Err(RuleError::FirstArgOfSubcommand);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if row.subcommands.is_empty() {
            // SELECT except `SELECT 0`: an allowed first argument (deprecated in Redis, kept).
            // When the command itself is allowed it can never matter (denying the command
            // forgets its first args), so it is not kept.
            if !self.commands.get(id) {
                self.add_first_arg(id, sub);
            }
        } else {
            let id = ids::lookup(name).ok_or(RuleError::UnknownName)?;
            self.change_command(id, true);
        }
        Ok(())
    }
}

/// Redis's `ACLStringHasSpaces`: C `isspace` or NUL.
pub fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub(crate) name: Bytes,
    pub(crate) flags: u8,
    pub(crate) passwords: Vec<Hash>,
    /// The root selector first.
    pub(crate) selectors: Vec<Selector>,
}

impl User {
    /// A new user: disabled, no passwords, no permissions.
    pub fn new(name: Bytes) -> User {
        User {
            name,
            flags: user_flag::OFF,
            passwords: Vec::new(),
            selectors: vec![Selector::new(true)],
        }
    }

    /// The `default` user of a new database: `on nopass ~* &* +@all`.
    pub fn default_user() -> User {
        let mut user = User::new(Bytes::from_static(b"default"));
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            user.apply(op.as_bytes()).expect("valid default rules");
        }
        user
    }

    pub fn name(&self) -> &Bytes {
        &self.name
    }

    pub fn enabled(&self) -> bool {
        self.flags & user_flag::OFF == 0
    }

    pub fn nopass(&self) -> bool {
        self.flags & user_flag::NOPASS != 0
    }

    pub fn passwords(&self) -> &[Hash] {
        &self.passwords
    }

    pub fn flags(&self) -> u8 {
        self.flags
    }

    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    pub fn selectors(&self) -> &[Selector] {
        &self.selectors
    }

    /// Whether `password` opens this user (Redis's `ACLCheckUserCredentials`): enabled, and
    /// `nopass` or one of its hashes matches, compared in constant time.
    pub fn accepts(&self, password: &[u8]) -> bool {
        if !self.enabled() {
            return false;
        }
        if self.nopass() {
            return true;
        }
        let hash = hash_password(password);
        // Every hash is compared, so the time does not tell which (if any) matched.
        self.passwords
            .iter()
            .fold(false, |found, h| hashes_equal(h, &hash) | found)
    }

    /// One rule (Redis's `ACLSetUser`); rules that are not about the user itself go to the
    /// root selector.
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        use user_flag::*;
        if is("on") {
            self.flags = (self.flags | ON) & !OFF;
        } else if is("off") {
            self.flags = (self.flags | OFF) & !ON;
        } else if is("skip-sanitize-payload") {
            self.flags = (self.flags | SKIP_SANITIZE_PAYLOAD) & !SANITIZE_PAYLOAD;
        } else if is("sanitize-payload") {
            self.flags = (self.flags | SANITIZE_PAYLOAD) & !SKIP_SANITIZE_PAYLOAD;
        } else if is("nopass") {
            self.flags |= NOPASS;
            self.passwords.clear();
        } else if is("resetpass") {
            self.flags &= !NOPASS;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else {
                parse_hex(&op[1..]).ok_or(RuleError::BadHash)?
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.flags &= !NOPASS;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else {
                parse_hex(&op[1..]).ok_or(RuleError::BadHash)?
            };
            let at = self.passwords.iter().position(|h| *h == hash);
            self.passwords.remove(at.ok_or(RuleError::NoSuchPassword)?);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut selector = Selector::new(false);
            for rule in split_args(&op[1..op.len() - 1]) {
                selector.apply(&rule)?;
            }
            self.selectors.push(selector);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            for rule in [
                "resetpass",
                "resetkeys",
                "resetchannels",
                "off",
                "sanitize-payload",
                "clearselectors",
                "-@all",
            ] {
                self.apply(rule.as_bytes()).expect("valid reset rules");
            }
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Argument handling

/// Redis's `ACLMergeSelectorArguments`: a selector may be spread over several arguments
/// (`"(~key1" "+get)"`); they are joined with spaces. `Err(i)`: the selector starting at
/// argument `i` is never closed.
pub fn merge_selectors(args: &[Bytes]) -> Result<Vec<Bytes>, usize> {
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, arg) in args.iter().enumerate() {
        let closes = arg.last() == Some(&b')');
        if let Some((_, selector)) = open.as_mut() {
            selector.push(b' ');
            selector.extend_from_slice(arg);
            if closes {
                let (_, selector) = open.take().expect("open selector");
                out.push(Bytes::from(selector));
            }
            continue;
        }
        if arg.first() == Some(&b'(') && !closes {
            open = Some((i, arg.to_vec()));
            continue;
        }
        out.push(arg.clone());
    }
    match open {
        Some((start, _)) => Err(start),
        None => Ok(out),
    }
}

/// Redis's `sdssplitargs` over the inside of a selector: words separated by spaces,
/// "double quotes" with escapes, 'single quotes'. Unbalanced quotes give no words at all, as
/// in Redis (the selector is then created empty).
pub fn split_args(text: &[u8]) -> Vec<Vec<u8>> {
    // A C string: Redis stops at the first NUL.
    let text = &text[..text.iter().position(|&c| c == 0).unwrap_or(text.len())];
    split_args_strict(text).unwrap_or_default()
}

fn split_args_strict(text: &[u8]) -> Option<Vec<Vec<u8>>> {
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < text.len() && space(text[i]) {
            i += 1;
        }
        if i == text.len() {
            return Some(out);
        }
        let mut word = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = text.get(i).copied();
            let next = text.get(i + 1).copied();
            if in_double {
                match c? {
                    b'\\'
                        if next == Some(b'x')
                            && text.get(i + 2).and_then(|&c| hex(c)).is_some()
                            && text.get(i + 3).and_then(|&c| hex(c)).is_some() =>
                    {
                        word.push(hex(text[i + 2])? * 16 + hex(text[i + 3])?);
                        i += 3;
                    }
                    b'\\' if next.is_some() => {
                        i += 1;
                        word.push(match text[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    b'"' => {
                        if next.is_some_and(|n| !space(n)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    other => word.push(other),
                }
            } else if in_single {
                match c? {
                    b'\\' if next == Some(b'\'') => {
                        i += 1;
                        word.push(b'\'');
                    }
                    b'\'' => {
                        if next.is_some_and(|n| !space(n)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    other => word.push(other),
                }
            } else {
                match c {
                    None => break,
                    Some(c) if space(c) => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(other) => word.push(other),
                }
            }
            i += 1;
        }
        out.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Option<Vec<String>> {
        split_args_strict(text.as_bytes()).map(|w| {
            w.into_iter()
                .map(|w| String::from_utf8(w).unwrap())
                .collect()
        })
    }

    #[test]
    fn selector_words_split_like_sdssplitargs() {
        assert_eq!(words(" ~a  +get "), Some(vec!["~a".into(), "+get".into()]));
        assert_eq!(
            words("\"a b\" 'c d'"),
            Some(vec!["a b".into(), "c d".into()])
        );
        assert_eq!(words("\"\\x41\\n\""), Some(vec!["A\n".into()]));
        assert_eq!(words("x\"y z\""), Some(vec!["xy z".into()]));
        assert_eq!(words("'it\\'s'"), Some(vec!["it's".into()]));
        assert_eq!(words("\"open"), None);
        assert_eq!(words("\"a\"b"), None);
        assert_eq!(words(""), Some(vec![]));
    }

    #[test]
    fn selectors_spread_over_arguments_are_merged() {
        let args = |a: &[&str]| -> Vec<Bytes> {
            a.iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect()
        };
        assert_eq!(
            merge_selectors(&args(&["on", "(~a", "+get", "x)", "(~b)"])),
            Ok(args(&["on", "(~a +get x)", "(~b)"]))
        );
        assert_eq!(merge_selectors(&args(&["on", "(", "+get"])), Err(1));
        assert_eq!(merge_selectors(&args(&[")", "()"])), Ok(args(&[")", "()"])));
    }

    #[test]
    fn hashes_round_trip_and_reject_uppercase() {
        let h = hash_password(b"");
        assert_eq!(
            hex(&h),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(parse_hex(hex(&h).as_bytes()), Some(h));
        assert_eq!(parse_hex(hex(&h).to_uppercase().as_bytes()), None);
        assert_eq!(parse_hex(b"abc"), None);
    }

    #[test]
    fn passwords_are_checked_against_their_hashes() {
        let mut u = User::new(Bytes::from_static(b"u"));
        u.apply(b">secret").unwrap();
        assert!(!u.accepts(b"secret"), "a new user is off");
        u.apply(b"on").unwrap();
        assert!(u.accepts(b"secret"));
        assert!(!u.accepts(b"other"));
        assert_eq!(u.apply(b"<other"), Err(RuleError::NoSuchPassword));
        u.apply(b"<secret").unwrap();
        assert!(!u.accepts(b"secret"));
        u.apply(b"nopass").unwrap();
        assert!(u.accepts(b"anything"));
    }
}
