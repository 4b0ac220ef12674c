//! The `experiment` command.

fn main() {}
