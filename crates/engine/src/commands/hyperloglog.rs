//! HyperLogLog in Redis's own string format (Redis's `hyperloglog.c`).

use crate::table::Spec;

pub static COMMANDS: &[Spec] = &[];
