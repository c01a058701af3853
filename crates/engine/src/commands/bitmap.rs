//! Bit operations on strings (Redis's `bitops.c`).

use crate::table::Spec;

pub static COMMANDS: &[Spec] = &[];
