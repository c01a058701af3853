//! Command ids for ACL bitmaps: every row of the command table (top-level commands and
//! subcommands) gets a number, in table order, each container followed by its subcommands.
//! Ids are node-local (they never reach the log or a snapshot: users are stored as rules).

use std::ops::Range;
use std::sync::LazyLock;

use crate::table::{self, Spec};

/// Bits in a selector's command bitmap: every row, plus the last bit reserved for `+@all`.
pub const COMMAND_BITS: usize = 1024;

pub struct Row {
    pub spec: &'static Spec,
    pub parent: Option<&'static Spec>,
    /// `get`, `client|id`: as ACL shows and takes it.
    pub name: String,
    /// From the row's flags and categories (`Spec::acl_categories`).
    pub categories: u32,
    /// The ids of a container's subcommands.
    pub subcommands: Range<usize>,
}

struct Rows {
    rows: Vec<Row>,
    /// Ids by the address of the row's `Spec`: an open-addressing table (linear probing) of
    /// `(address, id)`, `(0, 0)` when empty, for the gate's lookup in a probe or two.
    by_address: Vec<(usize, usize)>,
}

/// Slots in the address table: a power of two, at least four times the rows.
fn slots_for(rows: usize) -> usize {
    (rows * 4).next_power_of_two()
}

/// The first slot to probe for a `Spec` at `address`.
#[inline]
fn slot_of(address: usize, slots: usize) -> usize {
    // Fibonacci hashing of the address (Specs are at least 8 bytes apart).
    ((address as u64 >> 3).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & (slots - 1)
}

static ROWS: LazyLock<Rows> = LazyLock::new(|| {
    let mut rows = Vec::new();
    for spec in table::commands() {
        let first_sub = rows.len() + 1;
        rows.push(Row {
            spec,
            parent: None,
            name: spec.name.to_string(),
            categories: spec.acl_categories(),
            subcommands: first_sub..first_sub + spec.subcommands.len(),
        });
        for sub in spec.subcommands {
            rows.push(Row {
                spec: sub,
                parent: Some(spec),
                name: format!("{}|{}", spec.name, sub.name),
                categories: sub.acl_categories(),
                subcommands: 0..0,
            });
        }
    }
    assert!(
        rows.len() < COMMAND_BITS - 1,
        "the ACL command bitmap needs more than {COMMAND_BITS} bits"
    );
    let slots = slots_for(rows.len());
    let mut by_address = vec![(0, 0); slots];
    for (id, row) in rows.iter().enumerate() {
        let address = std::ptr::from_ref(row.spec) as usize;
        let mut slot = slot_of(address, slots);
        while by_address[slot].0 != 0 {
            slot = (slot + 1) & (slots - 1);
        }
        by_address[slot] = (address, id);
    }
    Rows { rows, by_address }
});

/// Every row, indexed by id.
pub fn rows() -> &'static [Row] {
    &ROWS.rows
}

/// The id of a row of the table (a `&'static Spec` from `table::resolve`).
#[inline]
pub fn id_of(spec: &'static Spec) -> usize {
    let address = std::ptr::from_ref(spec) as usize;
    let table = &ROWS.by_address;
    let mut slot = slot_of(address, table.len());
    loop {
        match table[slot] {
            (a, id) if a == address => return id,
            (0, _) => unreachable!("every Spec is a row of the command table"),
            _ => slot = (slot + 1) & (table.len() - 1),
        }
    }
}

/// A command by the name ACL rules use: `get`, `config|get` (case-insensitive). `None` for an
/// unknown name, a subcommand of a command without subcommands, or more than one `|`.
pub fn lookup(name: &[u8]) -> Option<usize> {
    let mut parts = name.split(|&c| c == b'|');
    let base = table::lookup(parts.next()?)?;
    let spec = match (parts.next(), parts.next()) {
        (None, _) => base,
        (Some(sub), None) if !base.subcommands.is_empty() => table::lookup_sub(base, sub)?,
        _ => return None,
    };
    Some(id_of(spec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_an_id_its_name_finds() {
        for (id, row) in rows().iter().enumerate() {
            assert_eq!(id_of(row.spec), id, "{}", row.name);
            assert_eq!(lookup(row.name.as_bytes()), Some(id), "{}", row.name);
            assert_eq!(
                lookup(row.name.to_uppercase().as_bytes()),
                Some(id),
                "{}",
                row.name
            );
        }
        assert_eq!(lookup(b"get|key"), None);
        assert_eq!(lookup(b"config|get|x"), None);
        assert_eq!(lookup(b"config|nosuch"), None);
        assert_eq!(lookup(b""), None);
        let config = lookup(b"config").unwrap();
        let get = lookup(b"config|get").unwrap();
        assert!(rows()[config].subcommands.contains(&get));
    }
}
