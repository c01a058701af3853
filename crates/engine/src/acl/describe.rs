//! Users as text (ACL LIST, ACL SAVE, snapshots) and as ACL GETUSER's map, as Redis 7.0 writes
//! them (`ACLDescribeUser`, `ACLDescribeSelectorCommandRules`, `aclAddReplySelectorDescription`).
//!
//! A description reproduces the user exactly when applied to a new user: the command rules
//! start from `+@all` or `-@all`, add the categories that fit best, then single commands and
//! first args until the bitmap is the user's (checked; a mismatch is a bug and panics, as in
//! Redis, rather than writing rules that grant something else).

use bytes::Bytes;
use cairn_resp::Reply;

use super::ids;
use super::rules::{CommandBits, READ, READ_WRITE, Selector, User, WRITE, hex, user_flag};
use crate::table::acl as category;

/// ACL LIST's line for a user, without the leading `user <name> `. Bytes: patterns may hold
/// any byte but spaces.
pub fn describe_user(user: &User) -> Vec<u8> {
    let mut out = Vec::new();
    for (bit, name) in user_flag::NAMES {
        if user.flags & bit != 0 {
            out.extend_from_slice(name.as_bytes());
            out.push(b' ');
        }
    }
    for hash in &user.passwords {
        out.push(b'#');
        out.extend_from_slice(hex(hash).as_bytes());
        out.push(b' ');
    }
    for selector in &user.selectors {
        let text = describe_selector(selector);
        if selector.is_root() {
            out.extend_from_slice(&text);
        } else {
            out.extend_from_slice(b" (");
            out.extend_from_slice(&text);
            out.push(b')');
        }
    }
    out
}

fn push_pattern(out: &mut Vec<u8>, perms: u8, pattern: &[u8]) {
    let prefix: &[u8] = match perms {
        READ_WRITE => b"~",
        READ => b"%R~",
        WRITE => b"%W~",
        _ => unreachable!("a key pattern grants read, write or both"),
    };
    out.extend_from_slice(prefix);
    out.extend_from_slice(pattern);
}

/// Keys, channels and command rules of one selector.
fn describe_selector(s: &Selector) -> Vec<u8> {
    let mut out = Vec::new();
    if s.all_keys() {
        out.extend_from_slice(b"~* ");
    } else {
        for p in &s.patterns {
            push_pattern(&mut out, p.perms, &p.pattern);
            out.push(b' ');
        }
    }
    if s.all_channels() {
        out.extend_from_slice(b"&* ");
    } else {
        out.extend_from_slice(b"resetchannels ");
        for c in &s.channels {
            out.push(b'&');
            out.extend_from_slice(c);
            out.push(b' ');
        }
    }
    out.extend_from_slice(&describe_commands(s));
    out
}

/// The shortest rules Redis finds for a selector's command bitmap.
pub fn describe_commands(s: &Selector) -> Vec<u8> {
    let mut rules: Vec<Vec<u8>> = Vec::new();
    let additive = !s.future_commands();
    // `fake` is the selector the emitted rules build; `temp` the user's, with each chosen
    // category undone, so the next choice looks only at what is left.
    let mut fake = Selector::new(false);
    if additive {
        rules.push(b"-@all".to_vec());
    } else {
        rules.push(b"+@all".to_vec());
        fake.apply(b"+@all").expect("valid rule");
    }
    let mut temp = s.clone();
    let mut applied = [false; 32];
    loop {
        let mut best: Option<(usize, u32)> = None;
        let (mut min_diff, mut max_same) = (u64::MAX, 0);
        for (j, &(bit, _)) in category::NAMES.iter().enumerate() {
            if applied[j] {
                continue;
            }
            let (on, off) = count_category(&temp.commands, bit);
            let (diff, same) = if additive { (off, on) } else { (on, off) };
            if same > diff && (diff < min_diff || (diff == min_diff && same > max_same)) {
                best = Some((j, bit));
                min_diff = diff;
                max_same = same;
            }
        }
        let Some((j, bit)) = best else {
            break;
        };
        fake.change_category(bit, additive);
        temp.change_category(bit, !additive);
        let sign = if additive { '+' } else { '-' };
        rules.push(format!("{sign}@{}", category::NAMES[j].1).into_bytes());
        applied[j] = true;
    }
    single_commands(s, &mut fake, &mut rules);
    let rules = rules.join(&b' ');
    assert!(
        fake.commands == s.commands,
        "ACL rules {:?} do not rebuild the selector's command bitmap",
        String::from_utf8_lossy(&rules)
    );
    rules
}

fn count_category(bits: &CommandBits, cat: u32) -> (u64, u64) {
    let (mut on, mut off) = (0, 0);
    for (id, row) in ids::rows().iter().enumerate() {
        if row.categories & cat != 0 {
            if bits.get(id) {
                on += 1;
            } else {
                off += 1;
            }
        }
    }
    (on, off)
}

/// The final pass: single commands whose bit still differs, and first args.
fn single_commands(s: &Selector, fake: &mut Selector, rules: &mut Vec<Vec<u8>>) {
    for (id, row) in ids::rows().iter().enumerate() {
        let user_bit = s.commands.get(id);
        if user_bit != fake.commands.get(id) {
            let sign = if user_bit { '+' } else { '-' };
            rules.push(format!("{sign}{}", row.name).into_bytes());
            fake.change_command(id, user_bit);
        }
        if !user_bit && let Some(args) = s.first_args(id) {
            for arg in args {
                let mut rule = format!("+{}|", row.name).into_bytes();
                rule.extend_from_slice(arg);
                rules.push(rule);
            }
        }
    }
}

fn bulk(text: impl Into<Bytes>) -> Reply {
    Reply::Bulk(text.into())
}

fn bulk_str(text: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(text.as_bytes()))
}

/// ACL GETUSER's map: flags, passwords, the root selector's commands/keys/channels, then the
/// other selectors.
pub fn getuser_reply(user: &User) -> Reply {
    let flags = user_flag::NAMES
        .iter()
        .filter(|(bit, _)| user.flags & bit != 0)
        .map(|(_, name)| bulk_str(name))
        .collect();
    let passwords = user.passwords.iter().map(|h| bulk(hex(h))).collect();
    let mut fields = vec![
        (bulk_str("flags"), Reply::Set(flags)),
        (bulk_str("passwords"), Reply::Array(passwords)),
    ];
    fields.extend(selector_fields(user.root()));
    let selectors = user.selectors[1..]
        .iter()
        .map(|s| Reply::Map(selector_fields(s)))
        .collect();
    fields.push((bulk_str("selectors"), Reply::Array(selectors)));
    Reply::Map(fields)
}

fn selector_fields(s: &Selector) -> Vec<(Reply, Reply)> {
    let mut keys = Vec::new();
    if s.all_keys() {
        keys.extend_from_slice(b"~*");
    } else {
        for (i, p) in s.patterns.iter().enumerate() {
            if i > 0 {
                keys.push(b' ');
            }
            push_pattern(&mut keys, p.perms, &p.pattern);
        }
    }
    let mut channels = Vec::new();
    if s.all_channels() {
        channels.extend_from_slice(b"&*");
    } else {
        for (i, c) in s.channels.iter().enumerate() {
            if i > 0 {
                channels.push(b' ');
            }
            channels.push(b'&');
            channels.extend_from_slice(c);
        }
    }
    vec![
        (bulk_str("commands"), bulk(describe_commands(s))),
        (bulk_str("keys"), bulk(keys)),
        (bulk_str("channels"), bulk(channels)),
    ]
}
