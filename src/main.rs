//! The `crosswalk` binary (being wired).

fn main() {}
