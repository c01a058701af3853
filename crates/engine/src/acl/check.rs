//! The permission check of the gate and ACL DRYRUN (Redis's `ACLCheckAllUserCommandPerm`):
//! a command runs when one selector of its user allows the command (its bit, or an allowed
//! first argument), every key it names (with the read/write permission its key specs call
//! for) and every channel. No allocation: it runs before every command of a restricted user.

use bytes::Bytes;

use super::ids;
use super::rules::{READ, Selector, User, WRITE};
use crate::glob;
use crate::table::{self, Channels, KeyAccess, Spec, flag, key};

/// Why a command was refused; keys and channels carry their argument's index. Ordered as
/// Redis ranks them when selectors disagree (the last of the worst wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    Command,
    Key(usize),
    Channel(usize),
}

impl Denied {
    fn rank(self) -> (u8, usize) {
        match self {
            Denied::Command => (1, 0),
            Denied::Key(i) => (2, i),
            Denied::Channel(i) => (4, i),
        }
    }
}

impl User {
    /// Whether a selector allows everything: the gate then has nothing to check.
    pub fn unrestricted(&self) -> bool {
        self.selectors
            .iter()
            .any(|s| s.all_commands() && s.all_keys() && s.all_channels())
    }

    /// May this user run `argv` (resolved to `spec`, arity checked)?
    pub fn check(&self, spec: &'static Spec, argv: &[Bytes]) -> Result<(), Denied> {
        let spec = acl_row(spec, argv);
        let id = ids::id_of(spec);
        if let [root] = self.selectors.as_slice() {
            return root.check(spec, id, argv);
        }
        let mut worst: Option<Denied> = None;
        for selector in &self.selectors {
            match selector.check(spec, id, argv) {
                Ok(()) => return Ok(()),
                Err(denied) => {
                    if worst.is_none_or(|w| denied.rank() >= w.rank()) {
                        worst = Some(denied);
                    }
                }
            }
        }
        Err(worst.unwrap_or(Denied::Command))
    }
}

/// The row ACL judges `argv` by: the subcommand's, also for a command that parses its own
/// subcommands (COMMAND COUNT is `command|count`, as in Redis).
#[inline]
pub fn acl_row(spec: &'static Spec, argv: &[Bytes]) -> &'static Spec {
    if spec.subcommands.is_empty() {
        return spec;
    }
    argv.get(1)
        .and_then(|sub| table::lookup_sub(spec, sub))
        .unwrap_or(spec)
}

impl Selector {
    #[inline]
    fn check(&self, spec: &'static Spec, id: usize, argv: &[Bytes]) -> Result<(), Denied> {
        if !self.all_commands() && spec.flags & flag::NO_AUTH == 0 && !self.commands.get(id) {
            let index = if ids::rows()[id].parent.is_some() {
                2
            } else {
                1
            };
            let allowed = match (self.first_args(id), argv.get(index)) {
                (Some(args), Some(arg)) => args.iter().any(|a| a.eq_ignore_ascii_case(arg)),
                _ => false,
            };
            if !allowed {
                return Err(Denied::Command);
            }
        }
        if !self.all_keys() {
            if let KeyAccess::Specs(_) | KeyAccess::Movable(..) = spec.key_access {
                let mut refused = 0;
                let all = spec.keys_of(argv, |i, flags| {
                    refused = i;
                    self.key_allowed(&argv[i], flags)
                });
                if !all {
                    return Err(Denied::Key(refused));
                }
            } else if let Some(keys) = spec.triple_keys(argv) {
                let mut i = keys.first;
                while i <= keys.last {
                    if !self.key_allowed(&argv[i], keys.flags) {
                        return Err(Denied::Key(i));
                    }
                    i += keys.step;
                }
            }
        }
        if !self.all_channels() {
            let (from, pattern) = match spec.channels {
                Channels::None => return Ok(()),
                Channels::Publish => (1..argv.len().min(2), false),
                Channels::Subscribe => (1..argv.len(), false),
                Channels::PatternSubscribe => (1..argv.len(), true),
            };
            for i in from {
                if !self.channel_allowed(&argv[i], pattern) {
                    return Err(Denied::Channel(i));
                }
            }
        }
        Ok(())
    }

    /// A key with a spec's flags: reading needs `%R`, inserting, deleting or updating `%W`.
    #[inline]
    pub fn key_allowed(&self, key_name: &[u8], spec_flags: u32) -> bool {
        if self.all_keys() {
            return true;
        }
        let read = if spec_flags & key::ACCESS != 0 {
            READ
        } else {
            0
        };
        let write = if spec_flags & (key::INSERT | key::DELETE | key::UPDATE) != 0 {
            WRITE
        } else {
            0
        };
        let needed = read | write;
        self.patterns
            .iter()
            .any(|p| p.perms & needed == needed && p.matches(key_name))
    }

    /// A channel published or subscribed to is matched against the patterns; a pattern
    /// subscribed to (PSUBSCRIBE) must equal one of them.
    pub fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.all_channels()
            || self.channels.iter().any(|p| {
                if is_pattern {
                    **p == *channel
                } else {
                    glob::matches(p, channel, false)
                }
            })
    }
}
