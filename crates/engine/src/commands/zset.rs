//! The sorted-set family (Redis's `t_zset.c`).

use crate::table::Spec;

pub static COMMANDS: &[Spec] = &[];
