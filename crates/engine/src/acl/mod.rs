//! Users and Redis 7.0's ACL, as replicated state.
//!
//! Users live in the engine: every node must agree on who may do what, so they change only
//! through log entries (ACL SETUSER and DELUSER rows, and the `Users` entry that ACL LOAD and
//! an aclfile imported at start make) and travel in snapshots. Passwords exist here only as
//! SHA-256 hashes: the node turns `>password` into `#hash` before a rule reaches the log.
//!
//! - `rules`: the model (user, selectors, key and channel patterns) and the rule language.
//! - `ids`: a number per command-table row, for the selectors' command bitmaps.
//! - `check`: may this user run this command on these keys and channels (the gate, DRYRUN).
//! - `describe`: users as ACL LIST / ACL SAVE text and as ACL GETUSER's map.
//! - this file: the set of users, the ACL file format, snapshots.

pub mod check;
pub mod describe;
pub mod ids;
pub mod rules;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use cairn_resp::Reply;

use crate::snapshot::{Reader, SnapshotError};
use crate::table::acl as category;
pub use check::Denied;
pub use rules::{Hash, RuleError, User, hash_password, hex};

/// A category by name (`string`, `READ`), without the `@`.
pub fn category_by_name(name: &[u8]) -> Option<u32> {
    category::NAMES
        .iter()
        .find(|(_, n)| name.eq_ignore_ascii_case(n.as_bytes()))
        .map(|(bit, _)| *bit)
}

/// An error reply with client bytes in it, kept on one line (Redis's `addReplyErrorSdsSafe`).
pub fn error_text(text: &[u8]) -> Reply {
    let clean: Vec<u8> = text
        .iter()
        .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
        .collect();
    Reply::Error(Bytes::from(clean))
}

/// ACL SETUSER's error for one rule: `Error in ACL SETUSER modifier '<rule>': <why>`.
pub fn modifier_error(op: &[u8], error: RuleError) -> Reply {
    let mut text = b"ERR Error in ACL SETUSER modifier '".to_vec();
    text.extend_from_slice(op);
    text.extend_from_slice(b"': ");
    text.extend_from_slice(error.text().as_bytes());
    error_text(&text)
}

pub fn unmatched_parenthesis(arg: &[u8]) -> Reply {
    let mut text = b"ERR Unmatched parenthesis in acl selector starting at '".to_vec();
    text.extend_from_slice(arg);
    text.extend_from_slice(b"'.");
    error_text(&text)
}

/// Generations are unique in the process, not only within one `Users`: a session compares the
/// one it read with the current one, and an engine rebuilt from a snapshot (DEBUG RELOAD) must
/// never show a number a session already holds for other users.
static GENERATIONS: AtomicU64 = AtomicU64::new(0);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed) + 1
}

/// The users of a database, by name (byte order, as Redis lists them).
#[derive(Clone, Debug)]
pub struct Users {
    map: BTreeMap<Bytes, Arc<User>>,
    /// Node-local: renewed by every change, so that sessions know to look their user up again.
    generation: u64,
    /// Node-local: users whose connections must close after the last applied entry (deleted
    /// users; on ACL LOAD every user but `default`, as Redis frees them all).
    closing: Vec<Bytes>,
    /// The digest of the users last loaded from an ACL file ([`file_digest`]): a node starting
    /// with that file again leaves the users as the log has them.
    imported: Option<Hash>,
}

/// The digest of a set of users as ACL LIST lines (what a `Users` entry carries).
pub fn file_digest(lines: &[Bytes]) -> Hash {
    let mut text = Vec::new();
    for line in lines {
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    hash_password(&text)
}

impl Default for Users {
    fn default() -> Self {
        Users::new()
    }
}

impl Users {
    /// A new database's users: `default` alone, `on nopass ~* &* +@all`.
    pub fn new() -> Users {
        let default = User::default_user();
        Users {
            map: BTreeMap::from([(default.name.clone(), Arc::new(default))]),
            generation: next_generation(),
            closing: Vec::new(),
            imported: None,
        }
    }

    pub fn get(&self, name: &[u8]) -> Option<&Arc<User>> {
        self.map.get(name)
    }

    pub fn default_user(&self) -> &Arc<User> {
        self.map
            .get(&b"default"[..])
            .expect("the default user exists")
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<User>> {
        self.map.values()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Users whose connections the last applied entry closes.
    pub fn closing(&self) -> &[Bytes] {
        &self.closing
    }

    /// The digest of the users last loaded from an ACL file.
    pub fn imported(&self) -> Option<&Hash> {
        self.imported.as_ref()
    }

    /// Called before each entry is applied.
    pub(crate) fn begin_entry(&mut self) {
        self.closing.clear();
    }

    fn changed(&mut self) {
        self.generation = next_generation();
    }

    /// ACL SETUSER: every rule applies to a copy, which replaces the user only if all of them
    /// succeeded (Redis's `ACLStringSetUser`).
    pub fn setuser(&mut self, name: &Bytes, args: &[Bytes]) -> Result<(), Reply> {
        let ops = rules::merge_selectors(args).map_err(|i| unmatched_parenthesis(&args[i]))?;
        let mut user = match self.map.get(name) {
            Some(existing) => User::clone(existing),
            None => User::new(name.clone()),
        };
        for op in &ops {
            user.apply(op).map_err(|e| modifier_error(op, e))?;
        }
        self.map.insert(name.clone(), Arc::new(user));
        self.changed();
        Ok(())
    }

    /// ACL DELUSER: how many of `names` existed. Their connections close.
    pub fn deluser(&mut self, names: &[Bytes]) -> usize {
        let mut deleted = 0;
        for name in names {
            if self.map.remove(name).is_some() {
                self.closing.push(name.clone());
                deleted += 1;
            }
        }
        if deleted > 0 {
            self.changed();
        }
        deleted
    }

    /// ACL LOAD: replaces every user by those of `lines` (`user <name> <rules>`, as ACL LIST
    /// writes them; the node checked them). A missing `default` is created as new. Every
    /// connection but those of `default` closes, as in Redis.
    pub fn load(&mut self, lines: &[Bytes]) -> Result<(), Reply> {
        let mut map = BTreeMap::new();
        for line in lines {
            let user = user_from_line(line)?;
            map.insert(user.name.clone(), Arc::new(user));
        }
        if !map.contains_key(&b"default"[..]) {
            let default = User::default_user();
            map.insert(default.name.clone(), Arc::new(default));
        }
        let old = std::mem::replace(&mut self.map, map);
        self.closing
            .extend(old.into_keys().filter(|name| name != "default"));
        self.imported = Some(file_digest(lines));
        self.changed();
        Ok(())
    }

    /// Every user as ACL LIST shows it: `user <name> <rules>`.
    pub fn lines(&self) -> Vec<Bytes> {
        self.map
            .values()
            .map(|u| Bytes::from(user_line(u)))
            .collect()
    }

    /// Whether `users` (as ACL LIST lines) are exactly these users.
    pub fn same_as(&self, lines: &[Bytes]) -> bool {
        self.lines() == lines
    }
}

/// `user <name> <rules>`.
pub fn user_line(user: &User) -> Vec<u8> {
    let mut out = b"user ".to_vec();
    out.extend_from_slice(&user.name);
    out.push(b' ');
    out.extend_from_slice(&describe::describe_user(user));
    out
}

/// Splits on single spaces, keeping empty words (Redis's `sdssplitlen`).
fn split_spaces(line: &[u8]) -> Vec<Bytes> {
    line.split(|&c| c == b' ')
        .map(Bytes::copy_from_slice)
        .collect()
}

fn user_from_line(line: &[u8]) -> Result<User, Reply> {
    let words = split_spaces(line);
    let [keyword, name, args @ ..] = words.as_slice() else {
        return Err(Reply::error_static("ERR malformed user line"));
    };
    if keyword != "user" || rules::has_spaces(name) {
        return Err(Reply::error_static("ERR malformed user line"));
    }
    let ops = rules::merge_selectors(args).map_err(|i| unmatched_parenthesis(&args[i]))?;
    let mut user = User::new(name.clone());
    for op in &ops {
        user.apply(op).map_err(|e| modifier_error(op, e))?;
    }
    Ok(user)
}

// ---------------------------------------------------------------------------------------------
// The ACL file (ACL LOAD, aclfile at start)

/// Parses an ACL file's text as Redis's `ACLLoadFromFile` does, with its error texts (without
/// the `ERR ` prefix); `filename` is named in them. On success: the users, as ACL LIST lines
/// (passwords hashed), `default` included.
pub fn parse_acl_file(filename: &str, text: &[u8]) -> Result<Vec<Bytes>, String> {
    let mut errors = String::new();
    let mut users: BTreeMap<Bytes, User> = BTreeMap::new();
    for (i, raw) in text.split(|&c| c == b'\n').enumerate() {
        let line_no = i + 1;
        let line = trim(raw, b" \t\r\n");
        if line.is_empty() {
            continue;
        }
        let words = split_spaces(line);
        if words[0] != "user" || words.len() < 2 {
            errors.push_str(&format!(
                "{filename}:{line_no} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = &words[1];
        let shown = String::from_utf8_lossy(name);
        if rules::has_spaces(name) {
            errors.push_str(&format!(
                "'{filename}:{line_no}: username '{shown}' contains invalid characters. "
            ));
            continue;
        }
        if users.contains_key(name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{shown}' found on line {line_no}. "
            ));
            continue;
        }
        let user = users
            .entry(name.clone())
            .or_insert_with(|| User::new(name.clone()));
        let Ok(ops) = rules::merge_selectors(&words[2..]) else {
            errors.push_str(&format!(
                "{filename}:{line_no}: Unmatched parenthesis in selector definition."
            ));
            continue;
        };
        let mut syntax_error = false;
        for op in &ops {
            let op = trim(op, b"\t\r\n");
            match user.apply(op) {
                Ok(()) => {}
                Err(RuleError::UnknownName) => errors.push_str(&format!(
                    "{filename}:{line_no}: Error in applying operation '{}': {}. ",
                    String::from_utf8_lossy(op),
                    RuleError::UnknownName.text()
                )),
                Err(e) if !syntax_error => {
                    errors.push_str(&format!("{filename}:{line_no}: {}. ", e.text()));
                    syntax_error = true;
                }
                Err(_) => {}
            }
        }
    }
    if !errors.is_empty() {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        return Err(errors);
    }
    users
        .entry(Bytes::from_static(b"default"))
        .or_insert_with(User::default_user);
    Ok(users.values().map(|u| Bytes::from(user_line(u))).collect())
}

/// Redis's `sdstrim`: drops any of `chars` from both ends.
fn trim<'a>(s: &'a [u8], chars: &[u8]) -> &'a [u8] {
    let start = s.iter().position(|c| !chars.contains(c)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|c| !chars.contains(c))
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

// ---------------------------------------------------------------------------------------------
// Snapshots

/// Users in a snapshot (from version 5), losslessly: per user its name, flags and hashes, and
/// per selector its flags, key patterns, channels and command rules (as names and categories,
/// so that a binary with a different command table reads them):
/// ```text
/// u32 users, per user: bytes name, u8 flags, u32 hashes × 32 bytes,
///   u32 selectors, per selector: u8 flags, u32 patterns × (u8 perms, bytes),
///   u32 channels × bytes, u32 rules × bytes
/// u8 imported (0 or 1), then if 1: 32 bytes, the digest of the last ACL file loaded
/// ```
/// `bytes` is a u32 length and the bytes; integers little-endian.
pub fn encode_users(users: &Users, out: &mut Vec<u8>) {
    let put_bytes = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    out.extend_from_slice(&(users.map.len() as u32).to_le_bytes());
    for user in users.map.values() {
        put_bytes(out, &user.name);
        out.push(user.flags);
        out.extend_from_slice(&(user.passwords.len() as u32).to_le_bytes());
        for hash in &user.passwords {
            out.extend_from_slice(hash);
        }
        out.extend_from_slice(&(user.selectors.len() as u32).to_le_bytes());
        for s in &user.selectors {
            out.push(s.flags);
            out.extend_from_slice(&(s.patterns.len() as u32).to_le_bytes());
            for p in &s.patterns {
                out.push(p.perms);
                put_bytes(out, &p.pattern);
            }
            out.extend_from_slice(&(s.channels.len() as u32).to_le_bytes());
            for c in &s.channels {
                put_bytes(out, c);
            }
            let rules = describe::describe_commands(s);
            let rules: Vec<&[u8]> = command_rules(&rules);
            out.extend_from_slice(&(rules.len() as u32).to_le_bytes());
            for rule in rules {
                put_bytes(out, rule);
            }
        }
    }
    match &users.imported {
        Some(digest) => {
            out.push(1);
            out.extend_from_slice(digest);
        }
        None => out.push(0),
    }
}

/// The rules of a command description, one per word; a first arg may hold spaces, so a word
/// that starts with neither `+` nor `-` continues the previous one.
fn command_rules(text: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    for (i, &c) in text.iter().enumerate() {
        let next = text.get(i + 1).copied();
        if c == b' ' && matches!(next, Some(b'+') | Some(b'-')) {
            out.push(&text[start..i]);
            start = i + 1;
        }
    }
    out.push(&text[start..]);
    out
}

pub fn decode_users(r: &mut Reader) -> Result<Users, SnapshotError> {
    let mut users = Users::new();
    users.map.clear();
    for _ in 0..r.u32()? {
        let name = Bytes::copy_from_slice(r.bytes()?);
        let mut user = User::new(name.clone());
        user.flags = r.u8()?;
        for _ in 0..r.u32()? {
            let hash: Hash = r.take(32)?.try_into().expect("32 bytes");
            user.passwords.push(hash);
        }
        user.selectors.clear();
        for _ in 0..r.u32()? {
            let flags = r.u8()?;
            let mut s = rules::Selector::new(false);
            for _ in 0..r.u32()? {
                let perms = r.u8()?;
                let pattern = Bytes::copy_from_slice(r.bytes()?);
                s.patterns.push(rules::KeyPattern::new(perms, pattern));
            }
            for _ in 0..r.u32()? {
                s.channels.push(Bytes::copy_from_slice(r.bytes()?));
            }
            for _ in 0..r.u32()? {
                // Rules of a command no longer in the table are dropped (as Redis refuses to
                // load them); the rest rebuild the bitmap.
                let _ = s.apply(r.bytes()?);
            }
            s.flags = flags;
            user.selectors.push(s);
        }
        if user.selectors.first().is_none_or(|s| !s.is_root()) {
            return Err(SnapshotError::Users);
        }
        users.map.insert(name, Arc::new(user));
    }
    if !users.map.contains_key(&b"default"[..]) {
        return Err(SnapshotError::Users);
    }
    users.imported = match r.u8()? {
        0 => None,
        _ => Some(r.take(32)?.try_into().expect("32 bytes")),
    };
    Ok(users)
}

#[cfg(test)]
mod tests;
