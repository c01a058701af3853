//! The set family (Redis's `t_set.c`).

use crate::table::Spec;

pub static COMMANDS: &[Spec] = &[];
