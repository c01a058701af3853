//! Keyspace notifications (`notify-keyspace-events`): the classes, their flag letters, and the
//! events a write produces.
//!
//! Notifications are not replicated state: every node applies every entry, so each node
//! produces the events of every write for its own subscribers (none travel between nodes).
//! The engine records an event only for classes the node asked for (`Engine::set_notify`),
//! so a node without subscribers to notifications pays one comparison per event.

pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 13;
pub const NEW: u32 = 1 << 14;
/// What `A` stands for (not `m` and `n`, as in Redis).
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// One event of an applied entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub db: usize,
    pub class: u32,
    pub event: &'static str,
    pub key: Box<[u8]>,
}

/// Parses Redis's flag letters; `None` for an unknown letter.
pub fn parse(flags: &str) -> Option<u32> {
    let mut out = 0;
    for c in flags.chars() {
        out |= match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => return None,
        };
    }
    Some(out)
}

/// The canonical letters for `flags`, as CONFIG GET reports them.
pub fn format(flags: u32) -> String {
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
    } else {
        for (class, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
        ] {
            if flags & class != 0 {
                out.push(c);
            }
        }
    }
    for (class, c) in [
        (KEYSPACE, 'K'),
        (KEYEVENT, 'E'),
        (KEY_MISS, 'm'),
        (NEW, 'n'),
    ] {
        if flags & class != 0 {
            out.push(c);
        }
    }
    out
}

/// Whether `flags` produce anything: a class and at least one of K or E.
pub fn active(flags: u32) -> bool {
    flags & (KEYSPACE | KEYEVENT) != 0 && flags & !(KEYSPACE | KEYEVENT) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_format_as_redis() {
        assert_eq!(format(parse("KEA").unwrap()), "AKE");
        assert_eq!(format(parse("Ex$").unwrap()), "$xE");
        assert_eq!(format(parse("").unwrap()), "");
        assert_eq!(format(parse("Kgm").unwrap()), "gKm");
        assert_eq!(parse("Kq"), None);
        assert!(!active(parse("KE").unwrap()));
        assert!(!active(parse("A").unwrap()));
        assert!(active(parse("Kx").unwrap()));
    }
}
