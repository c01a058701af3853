//! A linearizability checker for register histories (Wing–Gong search).
