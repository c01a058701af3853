//! The hash family (Redis's `t_hash.c`).

use crate::table::Spec;

pub static COMMANDS: &[Spec] = &[];
