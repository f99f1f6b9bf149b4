//! parse (stub)
