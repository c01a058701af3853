//! The list family (Redis's `t_list.c`).

use crate::table::Spec;

pub static COMMANDS: &[Spec] = &[];
